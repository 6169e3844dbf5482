//! Pagination tokens: the last key of a page, base64-encoded (opaque to clients).

use base64::Engine;
use skyport_wire::ApiError;

use crate::api::invalid;

/// The token continuing after `key`.
pub fn encode(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

/// The key a token continues after, or `InvalidParameter: NextToken`.
pub fn decode(token: &str) -> Result<String, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| invalid("NextToken"))
}

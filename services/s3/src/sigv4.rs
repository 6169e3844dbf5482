//! Strict mode (`SKYPORT_VERIFY_SIGV4=1`): verifies AWS Signature Version 4 on every S3 request, in the
//! `Authorization` header or a presigned URL, against configured access keys, and rejects with AWS's
//! errors: `AccessDenied` (unsigned, expired presign), `InvalidAccessKeyId`, `SignatureDoesNotMatch`,
//! `RequestTimeTooSkewed`, `AuthorizationQueryParametersError`. The seed signature covers the headers and
//! the declared payload hash; for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` bodies the verifier hands
//! a [`ChunkSigner`] to the aws-chunked decoder, which checks every chunk (and the trailer) as it streams.
//! CORS preflights (`OPTIONS`) are exempt, as in AWS.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use http::StatusCode;
use http::request::Parts;
use sha2::{Digest, Sha256};
use skyport_core::{AwsError, RequestContext};

use crate::chunked::ChunkSigner;

/// Largest clock difference accepted (15 minutes).
const MAX_SKEW_SECS: i64 = 15 * 60;

/// The verifier and its keys.
#[derive(Debug, Clone)]
pub struct SigV4Verifier {
    keys: BTreeMap<String, String>,
}

/// HMAC-SHA256.
pub(crate) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The SigV4 signing key for a secret and a credential scope (`<date>/<region>/<service>/aws4_request`).
pub(crate) fn signing_key(secret: &str, scope: &str) -> [u8; 32] {
    let mut key = format!("AWS4{secret}").into_bytes();
    let mut out = [0u8; 32];
    for part in scope.split('/').take(4) {
        out = hmac(&key, part.as_bytes());
        key = out.to_vec();
    }
    out
}

fn sha_hex(data: &[u8]) -> String {
    skyport_core::ids::hex(&Sha256::digest(data))
}

/// SigV4's URI encoding: unreserved characters stay, everything else is `%XX`.
fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Seconds since the epoch of `YYYYMMDDTHHMMSSZ`.
fn parse_amz_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

fn fmt_amz(secs: i64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    skyport_core::timefmt::iso8601_seconds(t)
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn forbidden(code: &'static str, message: &str) -> AwsError {
    AwsError::new(StatusCode::FORBIDDEN, code, message)
}

/// The checks S3 applies to every presigned URL, signatures verified or not: the query-string
/// parameters of SigV4 (`X-Amz-Expires` a number of at most a week, `X-Amz-Date` well formed, the URL
/// not expired) or of SigV2 (`Expires`, in epoch seconds, not past).
pub fn check_presigned(parts: &Parts) -> Result<(), AwsError> {
    let Some(q) = parts.uri.query() else {
        return Ok(());
    };
    if !q.contains("X-Amz-Algorithm=") && !q.contains("Expires=") {
        return Ok(());
    }
    let query: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let qget = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let now = now_secs();
    if qget("X-Amz-Algorithm").is_some() {
        return presigned_window(&qget, now);
    }
    // SigV2 query authentication: `AWSAccessKeyId`, `Signature` and `Expires`.
    if let (Some(_), Some(_), Some(expires)) =
        (qget("AWSAccessKeyId"), qget("Signature"), qget("Expires"))
    {
        let Ok(expires) = expires.trim().parse::<i64>() else {
            return Err(forbidden(
                "AccessDenied",
                "Invalid date (should be seconds since epoch)",
            ));
        };
        if now > expires {
            return Err(forbidden("AccessDenied", "Request has expired")
                .with_field("Expires", fmt_amz(expires))
                .with_field("ServerTime", fmt_amz(now)));
        }
    }
    Ok(())
}

/// The validity window of a SigV4 presigned URL: its parameters well formed and `now` inside it.
fn presigned_window<'a>(qget: &dyn Fn(&str) -> Option<&'a str>, now: i64) -> Result<(), AwsError> {
    let param_error = |m: &str| AwsError::bad_request("AuthorizationQueryParametersError", m);
    let missing = || {
        param_error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
        )
    };
    if qget("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
        return Err(param_error(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
        ));
    }
    let date = qget("X-Amz-Date").ok_or_else(missing)?;
    let expires: i64 = qget("X-Amz-Expires")
        .ok_or_else(missing)?
        .parse()
        .map_err(|_| param_error("X-Amz-Expires should be a number"))?;
    if expires < 0 {
        return Err(param_error("X-Amz-Expires must be non-negative"));
    }
    if expires > 604_800 {
        return Err(param_error(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        ));
    }
    let start = parse_amz_date(date).ok_or_else(|| {
        param_error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    })?;
    if now > start + expires {
        return Err(forbidden("AccessDenied", "Request has expired")
            .with_field("X-Amz-Expires", expires.to_string())
            .with_field("Expires", fmt_amz(start + expires))
            .with_field("ServerTime", fmt_amz(now)));
    }
    Ok(())
}

struct Signed {
    access_key: String,
    date: String,
    scope: String,
    signed_headers: Vec<String>,
    signature: String,
    payload_hash: String,
    presigned: bool,
}

impl SigV4Verifier {
    /// A verifier for `keys` (access key id → secret).
    pub fn new(keys: impl IntoIterator<Item = (String, String)>) -> SigV4Verifier {
        SigV4Verifier {
            keys: keys.into_iter().collect(),
        }
    }

    /// Checks the request's signature.
    pub fn verify(
        &self,
        ctx: &RequestContext,
        parts: &Parts,
    ) -> Result<Option<ChunkSigner>, AwsError> {
        self.verify_at(ctx, parts, now_secs())
    }

    /// Checks the request's signature as if the time were `now` (seconds since the epoch).
    /// Returns the chunk signer for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` bodies.
    pub fn verify_at(
        &self,
        ctx: &RequestContext,
        parts: &Parts,
        now: i64,
    ) -> Result<Option<ChunkSigner>, AwsError> {
        if parts.method == http::Method::OPTIONS {
            return Ok(None);
        }
        let query: Vec<(String, String)> = parts
            .uri
            .query()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let qget = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let signed = if let Some(auth) = header("authorization") {
            let rest = auth
                .trim()
                .strip_prefix("AWS4-HMAC-SHA256")
                .ok_or_else(|| {
                    AwsError::bad_request(
                        "InvalidRequest",
                        "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
                    )
                })?;
            let mut fields = BTreeMap::new();
            for part in rest.split(',') {
                if let Some((k, v)) = part.trim().split_once('=') {
                    fields.insert(k.trim().to_owned(), v.trim().to_owned());
                }
            }
            let malformed = || {
                AwsError::bad_request(
                    "AuthorizationHeaderMalformed",
                    "The authorization header is malformed; the authorization component is incomplete.",
                )
            };
            let credential = fields.get("Credential").ok_or_else(malformed)?;
            let (access_key, scope) = credential.split_once('/').ok_or_else(malformed)?;
            let payload_hash = header("x-amz-content-sha256").ok_or_else(|| {
                AwsError::bad_request(
                    "InvalidRequest",
                    "Missing required header for this request: x-amz-content-sha256",
                )
            })?;
            Signed {
                access_key: access_key.to_owned(),
                date: header("x-amz-date").map(str::to_owned).ok_or_else(|| {
                    forbidden(
                        "AccessDenied",
                        "AWS authentication requires a valid Date or x-amz-date header",
                    )
                })?,
                scope: scope.to_owned(),
                signed_headers: fields
                    .get("SignedHeaders")
                    .ok_or_else(malformed)?
                    .split(';')
                    .map(str::to_owned)
                    .collect(),
                signature: fields.get("Signature").ok_or_else(malformed)?.clone(),
                payload_hash: payload_hash.to_owned(),
                presigned: false,
            }
        } else if qget("X-Amz-Algorithm").is_some() {
            let missing = || {
                AwsError::bad_request(
                    "AuthorizationQueryParametersError",
                    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
                )
            };
            presigned_window(&qget, now)?;
            let credential = qget("X-Amz-Credential").ok_or_else(missing)?;
            let (access_key, scope) = credential.split_once('/').ok_or_else(missing)?;
            let date = qget("X-Amz-Date").ok_or_else(missing)?;
            Signed {
                access_key: access_key.to_owned(),
                date: date.to_owned(),
                scope: scope.to_owned(),
                signed_headers: qget("X-Amz-SignedHeaders")
                    .ok_or_else(missing)?
                    .split(';')
                    .map(str::to_owned)
                    .collect(),
                signature: qget("X-Amz-Signature").ok_or_else(missing)?.to_owned(),
                payload_hash: header("x-amz-content-sha256")
                    .unwrap_or("UNSIGNED-PAYLOAD")
                    .to_owned(),
                presigned: true,
            }
        } else {
            return Err(forbidden("AccessDenied", "Access Denied"));
        };

        let Some(secret) = self.keys.get(&signed.access_key) else {
            return Err(forbidden(
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            )
            .with_field("AWSAccessKeyId", signed.access_key));
        };
        let request_time = parse_amz_date(&signed.date).ok_or_else(|| {
            forbidden(
                "AccessDenied",
                "AWS authentication requires a valid Date or x-amz-date header",
            )
        })?;
        if !signed.presigned && (now - request_time).abs() > MAX_SKEW_SECS {
            return Err(forbidden(
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            )
            .with_field("RequestTime", signed.date.clone())
            .with_field("ServerTime", fmt_amz(now))
            .with_field("MaxAllowedSkewMilliseconds", "900000"));
        }

        // The canonical request.
        let mut pairs: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| !(signed.presigned && k == "X-Amz-Signature"))
            .map(|(k, v)| (uri_encode(k), uri_encode(v)))
            .collect();
        pairs.sort();
        let canonical_query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut canonical_headers = String::new();
        for name in &signed.signed_headers {
            let value = if name == "host" {
                parts
                    .headers
                    .get("host")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .unwrap_or_else(|| ctx.host.clone())
            } else {
                parts
                    .headers
                    .get_all(name.as_str())
                    .iter()
                    .map(|v| {
                        String::from_utf8_lossy(v.as_bytes())
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            };
            canonical_headers.push_str(&format!("{name}:{value}\n"));
        }
        let canonical_request = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            parts.method,
            parts.uri.path(),
            canonical_query,
            canonical_headers,
            signed.signed_headers.join(";"),
            signed.payload_hash
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{}\n{}\n{}",
            signed.date,
            signed.scope,
            sha_hex(canonical_request.as_bytes())
        );
        let key = signing_key(secret, &signed.scope);
        let expected = skyport_core::ids::hex(&hmac(&key, string_to_sign.as_bytes()));
        if expected != signed.signature.to_ascii_lowercase() {
            return Err(forbidden(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            )
            .with_field("AWSAccessKeyId", signed.access_key)
            .with_field("StringToSign", string_to_sign)
            .with_field("SignatureProvided", signed.signature)
            .with_field("CanonicalRequest", canonical_request));
        }
        let streaming = signed
            .payload_hash
            .starts_with("STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
        Ok(streaming.then_some(ChunkSigner {
            key,
            date: signed.date,
            scope: signed.scope,
            prev: expected,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_and_dates() {
        // RFC 4231 test case 2.
        assert_eq!(
            skyport_core::ids::hex(&hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(parse_amz_date("20130524T000000Z"), Some(1_369_353_600));
        assert_eq!(parse_amz_date("2013-05-24"), None);
        assert_eq!(uri_encode("a b/~"), "a%20b%2F~");
    }

    #[test]
    fn aws_documentation_example_get_object() {
        // The GET Object example of the S3 SigV4 documentation.
        let v = SigV4Verifier::new([(
            "AKIAIOSFODNN7EXAMPLE".to_owned(),
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
        )]);
        let req = http::Request::builder()
            .method("GET")
            .uri("/test.txt")
            .header("host", "examplebucket.s3.amazonaws.com")
            .header("range", "bytes=0-9")
            .header(
                "x-amz-content-sha256",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            )
            .header("x-amz-date", "20130524T000000Z")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
                 SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
                 Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            )
            .body(())
            .unwrap();
        let (parts, _) = req.into_parts();
        let ctx = RequestContext::new("s3", skyport_core::Protocol::RestXml);
        v.verify_at(&ctx, &parts, 1_369_353_600).unwrap();
        // Today the example is far too old.
        let err = v.verify(&ctx, &parts).unwrap_err();
        assert_eq!(err.code, "RequestTimeTooSkewed");
        let wrong = SigV4Verifier::new([("AKIAIOSFODNN7EXAMPLE".to_owned(), "other".to_owned())]);
        let err = wrong.verify_at(&ctx, &parts, 1_369_353_600).unwrap_err();
        assert_eq!(err.code, "SignatureDoesNotMatch");
        assert_eq!(err.status, 403);
    }
}

//! skyport-sigv4: AWS Signature Version 4, as the receiving side checks it.
//!
//! [`parse`] reads who signed a request and how (the `Authorization` header or the `X-Amz-*` query
//! parameters of a presigned URL); [`Signature::check_time`] applies the clock-skew limit (headers) or
//! the validity window (presigned URLs); [`Signature::verify`] rebuilds the canonical request and the
//! string to sign, and compares with the secret of the access key. Services differ only in their error
//! codes, so every failure is a typed [`SigError`] that S3 (`InvalidAccessKeyId`, `RequestTimeTooSkewed`)
//! and the gateway (`InvalidClientTokenId`, `UnrecognizedClientException`, ...) each map in one place.
//! The canonical URI is S3's (the path as sent) or every other service's (each segment encoded once more,
//! [`UriStyle`]).
#![forbid(unsafe_code)]

use http::request::Parts;
use sha2::{Digest, Sha256};

pub mod v2;

/// Largest clock difference accepted for header-signed requests (15 minutes for S3 and most services).
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// The longest a presigned URL may be valid (a week).
pub const MAX_PRESIGN_SECS: i64 = 604_800;

/// Why a signature was refused. Each service turns these into its own error codes and messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// An `Authorization` header of another scheme than `AWS4-HMAC-SHA256`.
    #[error("the authorization mechanism is not AWS4-HMAC-SHA256")]
    UnsupportedAlgorithm,
    /// An `Authorization` header without `Credential`, `SignedHeaders` or `Signature`.
    #[error("the authorization header is malformed")]
    MalformedHeader,
    /// No `X-Amz-Date` (or `Date`) header, or one that is not `YYYYMMDDTHHMMSSZ`.
    #[error("no valid x-amz-date")]
    MissingDate,
    /// A presigned URL's parameters are missing or malformed (AWS's message).
    #[error("{0}")]
    QueryParameters(String),
    /// A presigned URL past its expiry.
    #[error("the presigned URL expired at {expires}")]
    Expired {
        /// When it expired (seconds since the epoch).
        expires: i64,
        /// `X-Amz-Expires`.
        lifetime: i64,
    },
    /// A header-signed request outside the allowed clock skew.
    #[error("the request time {request_time} is too far from the server time")]
    Skewed {
        /// The request's `X-Amz-Date`.
        request_time: String,
        /// Its seconds since the epoch.
        request_secs: i64,
    },
    /// The signature differs from the one computed with the key's secret.
    #[error("the signature does not match")]
    Mismatch {
        /// The string to sign Skyport computed.
        string_to_sign: String,
        /// The canonical request it was made from.
        canonical_request: String,
    },
}

/// How the path enters the canonical request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriStyle {
    /// S3: the path exactly as sent.
    AsSent,
    /// Every other service: each segment of the (already encoded) path encoded again.
    DoubleEncoded,
}

/// The signature of a request, as read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The access key id.
    pub access_key: String,
    /// `X-Amz-Date` as sent (`YYYYMMDDTHHMMSSZ`).
    pub date: String,
    /// The credential scope (`<date>/<region>/<service>/aws4_request`).
    pub scope: String,
    /// The signed header names, lower case, in the order signed.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
    /// `x-amz-content-sha256` when sent (S3 requires it on header-signed requests).
    pub content_sha256: Option<String>,
    /// The session token (`X-Amz-Security-Token` header or query parameter) of temporary credentials.
    pub session_token: Option<String>,
    /// Signed in the query string (a presigned URL) rather than the `Authorization` header.
    pub presigned: bool,
    /// `X-Amz-Expires` of a presigned URL.
    pub expires: Option<i64>,
}

/// The signature of `parts`, `None` when it carries no SigV4 signature at all.
pub fn parse(parts: &Parts) -> Result<Option<Signature>, SigError> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let query = query_pairs(parts);
    let qget = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(auth) = header("authorization") {
        let Some(rest) = auth.trim().strip_prefix("AWS4-HMAC-SHA256") else {
            return Err(SigError::UnsupportedAlgorithm);
        };
        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for part in rest.split(',') {
            match part.trim().split_once('=') {
                Some(("Credential", v)) => credential = Some(v.trim()),
                Some(("SignedHeaders", v)) => signed_headers = Some(v.trim()),
                Some(("Signature", v)) => signature = Some(v.trim()),
                _ => {}
            }
        }
        let (Some(credential), Some(signed_headers), Some(signature)) =
            (credential, signed_headers, signature)
        else {
            return Err(SigError::MalformedHeader);
        };
        let (access_key, scope) = credential
            .split_once('/')
            .ok_or(SigError::MalformedHeader)?;
        let date = header("x-amz-date").ok_or(SigError::MissingDate)?;
        return Ok(Some(Signature {
            access_key: access_key.to_owned(),
            date: date.to_owned(),
            scope: scope.to_owned(),
            signed_headers: split_headers(signed_headers),
            signature: signature.to_owned(),
            content_sha256: header("x-amz-content-sha256").map(str::to_owned),
            session_token: header("x-amz-security-token").map(str::to_owned),
            presigned: false,
            expires: None,
        }));
    }
    if qget("X-Amz-Algorithm").is_none() {
        return Ok(None);
    }
    let param = |m: &str| SigError::QueryParameters(m.to_owned());
    let missing = || {
        param(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, \
             X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
        )
    };
    if qget("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
        return Err(param("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\""));
    }
    let date = qget("X-Amz-Date").ok_or_else(missing)?;
    let expires: i64 = qget("X-Amz-Expires")
        .ok_or_else(missing)?
        .parse()
        .map_err(|_| param("X-Amz-Expires should be a number"))?;
    if expires < 0 {
        return Err(param("X-Amz-Expires must be non-negative"));
    }
    if expires > MAX_PRESIGN_SECS {
        return Err(param(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        ));
    }
    if parse_amz_date(date).is_none() {
        return Err(param(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
        ));
    }
    let credential = qget("X-Amz-Credential").ok_or_else(missing)?;
    let (access_key, scope) = credential.split_once('/').ok_or_else(missing)?;
    Ok(Some(Signature {
        access_key: access_key.to_owned(),
        date: date.to_owned(),
        scope: scope.to_owned(),
        signed_headers: split_headers(qget("X-Amz-SignedHeaders").ok_or_else(missing)?),
        signature: qget("X-Amz-Signature").ok_or_else(missing)?.to_owned(),
        content_sha256: header("x-amz-content-sha256").map(str::to_owned),
        session_token: qget("X-Amz-Security-Token")
            .or_else(|| header("x-amz-security-token"))
            .map(str::to_owned),
        presigned: true,
        expires: Some(expires),
    }))
}

fn split_headers(list: &str) -> Vec<String> {
    list.split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect()
}

fn query_pairs(parts: &Parts) -> Vec<(String, String)> {
    parts
        .uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

impl Signature {
    /// The region of the credential scope.
    pub fn region(&self) -> Option<&str> {
        self.scope.split('/').nth(1)
    }

    /// The signing name (service) of the credential scope.
    pub fn service(&self) -> Option<&str> {
        self.scope.split('/').nth(2)
    }

    /// The request time, in seconds since the epoch.
    pub fn time(&self) -> Result<i64, SigError> {
        parse_amz_date(&self.date).ok_or(SigError::MissingDate)
    }

    /// A header-signed request must be within [`MAX_SKEW_SECS`] of `now`; a presigned URL must not
    /// have expired.
    pub fn check_time(&self, now: i64) -> Result<(), SigError> {
        let request_secs = self.time()?;
        match self.expires {
            Some(lifetime) if self.presigned => {
                if now > request_secs + lifetime {
                    return Err(SigError::Expired {
                        expires: request_secs + lifetime,
                        lifetime,
                    });
                }
            }
            _ => {
                if (now - request_secs).abs() > MAX_SKEW_SECS {
                    return Err(SigError::Skewed {
                        request_time: self.date.clone(),
                        request_secs,
                    });
                }
            }
        }
        Ok(())
    }

    /// Compares the signature with the one `secret` gives for `parts`, whose payload hashes to
    /// `payload_hash` (hex SHA-256, or `UNSIGNED-PAYLOAD`/`STREAMING-...` as the client declared).
    /// `host` stands in for a missing `Host` header (HTTP/2's `:authority`). Returns the signing key and
    /// the signature, which chunk signatures of `aws-chunked` bodies chain from.
    pub fn verify(
        &self,
        parts: &Parts,
        secret: &str,
        payload_hash: &str,
        uri: UriStyle,
        host: &str,
    ) -> Result<([u8; 32], String), SigError> {
        let canonical_request = self.canonical_request(parts, payload_hash, uri, host);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{}\n{}\n{}",
            self.date,
            self.scope,
            hex(&Sha256::digest(canonical_request.as_bytes()))
        );
        let key = signing_key(secret, &self.scope);
        let expected = hex(&hmac(&key, string_to_sign.as_bytes()));
        if !constant_time_eq(
            expected.as_bytes(),
            self.signature.to_ascii_lowercase().as_bytes(),
        ) {
            return Err(SigError::Mismatch {
                string_to_sign,
                canonical_request,
            });
        }
        Ok((key, expected))
    }

    /// The canonical request of `parts` as SigV4 defines it.
    pub fn canonical_request(
        &self,
        parts: &Parts,
        payload_hash: &str,
        uri: UriStyle,
        host: &str,
    ) -> String {
        let mut pairs: Vec<(String, String)> = query_pairs(parts)
            .iter()
            .filter(|(k, _)| !(self.presigned && k == "X-Amz-Signature"))
            .map(|(k, v)| (uri_encode(k), uri_encode(v)))
            .collect();
        pairs.sort();
        let canonical_query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut canonical_headers = String::new();
        for name in &self.signed_headers {
            let value = if name == "host" {
                parts
                    .headers
                    .get("host")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .or_else(|| parts.uri.authority().map(|a| a.to_string()))
                    .unwrap_or_else(|| host.to_owned())
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
            canonical_headers.push_str(name);
            canonical_headers.push(':');
            canonical_headers.push_str(&value);
            canonical_headers.push('\n');
        }
        let path = parts.uri.path();
        let path = match uri {
            UriStyle::AsSent => path.to_owned(),
            UriStyle::DoubleEncoded => double_encoded_path(path),
        };
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            parts.method,
            if path.is_empty() { "/" } else { &path },
            canonical_query,
            canonical_headers,
            self.signed_headers.join(";"),
            payload_hash
        )
    }
}

/// The path of non-S3 services in the canonical request: normalized (`.` and `..` segments resolved)
/// and each segment URI-encoded once more than sent.
fn double_encoded_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/').skip(1) {
        match segment {
            "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 8);
    for segment in &segments {
        out.push('/');
        out.push_str(&uri_encode(segment));
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The current time in seconds since the epoch, as signatures are checked against it.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Lower-case hex SHA-256 of `data` (the payload hash of a body).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// HMAC-SHA256.
pub fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
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
pub fn signing_key(secret: &str, scope: &str) -> [u8; 32] {
    let mut key = format!("AWS4{secret}").into_bytes();
    let mut out = [0u8; 32];
    for part in scope.split('/').take(4) {
        out = hmac(&key, part.as_bytes());
        key = out.to_vec();
    }
    out
}

/// SigV4's URI encoding: unreserved characters stay, everything else is `%XX`.
pub fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    out
}

/// Seconds since the epoch of `YYYYMMDDTHHMMSSZ`.
pub fn parse_amz_date(text: &str) -> Option<i64> {
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

/// `YYYYMMDDTHHMMSSZ` of seconds since the epoch (the inverse of [`parse_amz_date`]).
pub fn format_amz_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(req: http::request::Builder) -> Parts {
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn hmac_dates_and_encoding() {
        // RFC 4231 test case 2.
        assert_eq!(
            hex(&hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(parse_amz_date("20130524T000000Z"), Some(1_369_353_600));
        assert_eq!(format_amz_date(1_369_353_600), "20130524T000000Z");
        assert_eq!(format_amz_date(1_709_251_199), "20240229T235959Z");
        assert_eq!(parse_amz_date("2013-05-24"), None);
        assert_eq!(uri_encode("a b/~"), "a%20b%2F~");
        assert_eq!(double_encoded_path("/a/./b/../c%3Ad"), "/a/c%253Ad");
        assert_eq!(double_encoded_path(""), "/");
    }

    #[test]
    fn aws_documentation_example_get_object() {
        // The GET Object example of the S3 SigV4 documentation.
        let p = parts(
            http::Request::builder()
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
                ),
        );
        let sig = parse(&p).unwrap().unwrap();
        assert_eq!(sig.access_key, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(sig.region(), Some("us-east-1"));
        assert_eq!(sig.service(), Some("s3"));
        let hash = sig.content_sha256.clone().unwrap();
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        sig.verify(&p, secret, &hash, UriStyle::AsSent, "").unwrap();
        sig.check_time(1_369_353_600).unwrap();
        assert!(matches!(
            sig.check_time(1_369_353_600 + 901),
            Err(SigError::Skewed { .. })
        ));
        assert!(matches!(
            sig.verify(&p, "other", &hash, UriStyle::AsSent, ""),
            Err(SigError::Mismatch { .. })
        ));
    }

    #[test]
    fn aws_documentation_example_iam_list_users() {
        // The worked example of the SigV4 documentation (IAM ListUsers, GET with a query).
        let p = parts(
            http::Request::builder()
                .method("GET")
                .uri("https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08")
                .header(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
                .header("host", "iam.amazonaws.com")
                .header("x-amz-date", "20150830T123600Z")
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
                     SignedHeaders=content-type;host;x-amz-date, \
                     Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
                ),
        );
        let sig = parse(&p).unwrap().unwrap();
        sig.verify(
            &p,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            &sha256_hex(b""),
            UriStyle::DoubleEncoded,
            "",
        )
        .unwrap();
    }

    #[test]
    fn presigned_parameters_and_expiry() {
        let p = parts(http::Request::builder().uri(
            "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=ab",
        ));
        let sig = parse(&p).unwrap().unwrap();
        assert!(sig.presigned);
        assert_eq!(sig.access_key, "AK");
        sig.check_time(1_369_353_600 + 86_400).unwrap();
        assert_eq!(
            sig.check_time(1_369_353_600 + 86_401),
            Err(SigError::Expired {
                expires: 1_369_353_600 + 86_400,
                lifetime: 86_400
            })
        );
        let too_long = parts(http::Request::builder().uri(
            "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20130524T000000Z&X-Amz-Expires=604801",
        ));
        assert!(matches!(
            parse(&too_long),
            Err(SigError::QueryParameters(_))
        ));
        assert_eq!(parse(&parts(http::Request::builder().uri("/b"))), Ok(None));
        let basic = parts(http::Request::builder().header("authorization", "Basic abc"));
        assert_eq!(parse(&basic), Err(SigError::UnsupportedAlgorithm));
    }
}

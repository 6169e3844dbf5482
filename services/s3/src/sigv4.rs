//! Signature checks of S3 requests: strict mode (`SKYPORT_VERIFY_SIGV4=1`, against fixed keys) and
//! `ENFORCE_IAM=1` (against every access key Skyport knows: root test credentials, IAM user keys, STS's
//! temporary credentials). The SigV4 signature in the `Authorization` header or a presigned URL is
//! checked with `skyport-sigv4`, and failures answer S3's errors: `AccessDenied` (unsigned, expired
//! presign), `InvalidAccessKeyId`, `SignatureDoesNotMatch`, `RequestTimeTooSkewed`,
//! `AuthorizationQueryParametersError`, `ExpiredToken`, `InvalidToken`. The seed signature covers the
//! headers and the declared payload hash; for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` bodies the
//! verifier hands a [`ChunkSigner`] to the aws-chunked decoder, which checks every chunk (and the
//! trailer) as it streams. CORS preflights (`OPTIONS`) are exempt, as in AWS.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use http::StatusCode;
use http::request::Parts;
use skyport_core::bus::{CredentialDirectory, Principal};
use skyport_core::{AwsError, RequestContext};
use skyport_sigv4::{SigError, UriStyle, parse_amz_date};

use crate::chunked::ChunkSigner;

pub(crate) use skyport_sigv4::hmac;

/// The verifier and the keys it knows.
#[derive(Debug, Clone)]
pub struct SigV4Verifier {
    keys: Arc<dyn CredentialDirectory>,
}

fn fmt_amz(secs: i64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    skyport_core::timefmt::iso8601_seconds(t)
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
    let now = skyport_sigv4::now_secs();
    if q.contains("X-Amz-Algorithm=") && !parts.headers.contains_key("authorization") {
        if let Some(sig) = skyport_sigv4::parse(parts).map_err(|e| s3_error(e, None, now))? {
            sig.check_time(now)
                .map_err(|e| s3_error(e, Some(&sig), now))?;
        }
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

/// S3's error for a signature problem.
fn s3_error(e: SigError, signed: Option<&skyport_sigv4::Signature>, now: i64) -> AwsError {
    let access_key = signed.map(|s| s.access_key.as_str()).unwrap_or_default();
    match e {
        SigError::UnsupportedAlgorithm => AwsError::bad_request(
            "InvalidRequest",
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
        ),
        SigError::MalformedHeader => AwsError::bad_request(
            "AuthorizationHeaderMalformed",
            "The authorization header is malformed; the authorization component is incomplete.",
        ),
        SigError::MissingDate => forbidden(
            "AccessDenied",
            "AWS authentication requires a valid Date or x-amz-date header",
        ),
        SigError::QueryParameters(message) => {
            AwsError::bad_request("AuthorizationQueryParametersError", message)
        }
        SigError::Expired { expires, lifetime } => {
            forbidden("AccessDenied", "Request has expired")
                .with_field("X-Amz-Expires", lifetime.to_string())
                .with_field("Expires", fmt_amz(expires))
                .with_field("ServerTime", fmt_amz(now))
        }
        SigError::Skewed { request_time, .. } => forbidden(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )
        .with_field("RequestTime", request_time)
        .with_field("ServerTime", fmt_amz(now))
        .with_field("MaxAllowedSkewMilliseconds", "900000"),
        SigError::Mismatch {
            string_to_sign,
            canonical_request,
        } => forbidden(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        )
        .with_field("AWSAccessKeyId", access_key.to_owned())
        .with_field("StringToSign", string_to_sign)
        .with_field(
            "SignatureProvided",
            signed.map(|s| s.signature.clone()).unwrap_or_default(),
        )
        .with_field("CanonicalRequest", canonical_request),
    }
}

impl SigV4Verifier {
    /// A verifier for fixed `keys` (access key id → secret), each acting as the root of the account
    /// its id encodes (strict mode).
    pub fn new(keys: impl IntoIterator<Item = (String, String)>) -> SigV4Verifier {
        SigV4Verifier {
            keys: Arc::new(skyport_core::bus::RootTestCredentials {
                keys: keys.into_iter().collect(),
                only_keys: true,
            }),
        }
    }

    /// A verifier for every key `directory` knows (`ENFORCE_IAM=1`).
    pub fn with_directory(directory: Arc<dyn CredentialDirectory>) -> SigV4Verifier {
        SigV4Verifier { keys: directory }
    }

    /// Checks the request's signature: returns who signed it and, for
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` bodies, the chunk signer.
    pub fn verify(
        &self,
        ctx: &RequestContext,
        parts: &Parts,
    ) -> Result<(Option<Principal>, Option<ChunkSigner>), AwsError> {
        self.verify_at(ctx, parts, skyport_sigv4::now_secs())
    }

    /// Checks the request's signature as if the time were `now` (seconds since the epoch).
    pub fn verify_at(
        &self,
        ctx: &RequestContext,
        parts: &Parts,
        now: i64,
    ) -> Result<(Option<Principal>, Option<ChunkSigner>), AwsError> {
        if parts.method == http::Method::OPTIONS {
            return Ok((None, None));
        }
        if let Some(v2) = skyport_sigv4::v2::parse_v2(parts).map_err(|e| s3_error(e, None, now))? {
            return self.verify_v2(ctx, parts, v2, now).map(|p| (Some(p), None));
        }
        let Some(signed) = skyport_sigv4::parse(parts).map_err(|e| s3_error(e, None, now))? else {
            return Err(forbidden("AccessDenied", "Access Denied"));
        };
        if signed.presigned {
            signed
                .check_time(now)
                .map_err(|e| s3_error(e, Some(&signed), now))?;
        }
        let payload_hash = match (&signed.content_sha256, signed.presigned) {
            (Some(hash), _) => hash.clone(),
            (None, true) => "UNSIGNED-PAYLOAD".to_owned(),
            (None, false) => {
                return Err(AwsError::bad_request(
                    "InvalidRequest",
                    "Missing required header for this request: x-amz-content-sha256",
                ));
            }
        };
        let Some(secret) = self.keys.signing_secret(&signed.access_key) else {
            return Err(unknown_key(&signed.access_key));
        };
        if parse_amz_date(&signed.date).is_none() {
            return Err(forbidden(
                "AccessDenied",
                "AWS authentication requires a valid Date or x-amz-date header",
            ));
        }
        if !signed.presigned {
            signed
                .check_time(now)
                .map_err(|e| s3_error(e, Some(&signed), now))?;
        }
        let (key, seed) = signed
            .verify(
                parts,
                &secret.secret,
                &payload_hash,
                UriStyle::AsSent,
                &ctx.host,
            )
            .map_err(|e| s3_error(e, Some(&signed), now))?;
        check_session(
            &secret,
            signed.session_token.as_deref(),
            &signed.access_key,
            now,
        )?;
        let streaming = payload_hash.starts_with("STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
        let signer = streaming.then_some(ChunkSigner {
            key,
            date: signed.date,
            scope: signed.scope,
            prev: seed,
        });
        Ok((Some(secret.principal), signer))
    }
}

impl SigV4Verifier {
    /// A SigV2 signature (header or presigned URL), as S3 still accepts it.
    fn verify_v2(
        &self,
        ctx: &RequestContext,
        parts: &Parts,
        signed: skyport_sigv4::v2::SignatureV2,
        now: i64,
    ) -> Result<Principal, AwsError> {
        if let Some(expires) = signed.expires
            && now > expires
        {
            return Err(forbidden("AccessDenied", "Request has expired")
                .with_field("Expires", fmt_amz(expires))
                .with_field("ServerTime", fmt_amz(now)));
        }
        let Some(secret) = self.keys.signing_secret(&signed.access_key) else {
            return Err(unknown_key(&signed.access_key));
        };
        if let Err(SigError::Mismatch { string_to_sign, .. }) =
            signed.verify(parts, &secret.secret, ctx.bucket.as_deref())
        {
            return Err(forbidden(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            )
            .with_field("AWSAccessKeyId", signed.access_key.clone())
            .with_field("StringToSign", string_to_sign)
            .with_field("SignatureProvided", signed.signature.clone()));
        }
        check_session(
            &secret,
            signed.session_token.as_deref(),
            &signed.access_key,
            now,
        )?;
        Ok(secret.principal)
    }
}

fn unknown_key(access_key: &str) -> AwsError {
    forbidden(
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
    )
    .with_field("AWSAccessKeyId", access_key.to_owned())
}

/// Temporary credentials must come with their session token, before their expiry.
fn check_session(
    secret: &skyport_core::bus::SigningSecret,
    sent: Option<&str>,
    access_key: &str,
    now: i64,
) -> Result<(), AwsError> {
    if let Some(token) = &secret.session_token {
        match sent {
            Some(sent) if sent == token => {}
            Some(_) => {
                return Err(AwsError::bad_request(
                    "InvalidToken",
                    "The provided token is malformed or otherwise invalid.",
                ));
            }
            None => return Err(unknown_key(access_key)),
        }
    }
    if secret
        .expires
        .is_some_and(|expires| u64::try_from(now).unwrap_or(0) >= expires)
    {
        return Err(
            AwsError::bad_request("ExpiredToken", "The provided token has expired.")
                .with_field("Token-0", sent.unwrap_or_default().to_owned()),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let (principal, _) = v.verify_at(&ctx, &parts, 1_369_353_600).unwrap();
        assert_eq!(
            principal.map(|p| p.arn),
            Some("arn:aws:iam::000000000000:root".to_owned())
        );
        // Today the example is far too old.
        let err = v.verify(&ctx, &parts).unwrap_err();
        assert_eq!(err.code, "RequestTimeTooSkewed");
        let wrong = SigV4Verifier::new([("AKIAIOSFODNN7EXAMPLE".to_owned(), "other".to_owned())]);
        let err = wrong.verify_at(&ctx, &parts, 1_369_353_600).unwrap_err();
        assert_eq!(err.code, "SignatureDoesNotMatch");
        assert_eq!(err.status, 403);
        let unknown = SigV4Verifier::new([("other".to_owned(), "x".to_owned())]);
        let err = unknown.verify_at(&ctx, &parts, 1_369_353_600).unwrap_err();
        assert_eq!(err.code, "InvalidAccessKeyId");
    }
}

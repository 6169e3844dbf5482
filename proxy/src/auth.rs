//! `ENFORCE_IAM=1`: who signed each request. The gateway verifies the SigV4 signature of every request
//! to a service other than S3 (which verifies its own, chunk signatures included) against the secret of
//! its access key, found in the [`CredentialDirectory`] (each account's root test credentials, IAM user
//! keys, STS's temporary credentials), checks the session token and expiry of temporary credentials,
//! and hands the verified [`Principal`] to the service in the `RequestContext`.
//!
//! Exempt, as in AWS: requests the console makes on its user's behalf, data-plane hosts (function URLs),
//! the ECR registry (`/v2/...`, Basic/Bearer tokens of its own) and port-range routes, and the STS and
//! SNS operations AWS serves unsigned (`AssumeRoleWithWebIdentity`, `AssumeRoleWithSAML`,
//! `ConfirmSubscription`). Failures answer each protocol's error: `InvalidClientTokenId` /
//! `SignatureDoesNotMatch` / `ExpiredToken` / `MissingAuthenticationToken` for query services,
//! `UnrecognizedClientException` / `InvalidSignatureException` / `ExpiredTokenException` /
//! `MissingAuthenticationTokenException` for JSON ones.

use std::sync::Arc;

use http::StatusCode;
use http::request::Parts;
use skyport_core::bus::{CredentialDirectory, Principal};
use skyport_core::{AwsError, Body, Protocol, body};
use skyport_sigv4::{SigError, UriStyle};

use crate::router::{Route, Rule};

/// Operations AWS serves without a signature.
const UNSIGNED_OPERATIONS: &[(&str, &str)] = &[
    ("sts", "AssumeRoleWithWebIdentity"),
    ("sts", "AssumeRoleWithSAML"),
    ("sns", "ConfirmSubscription"),
];

/// Verifies signatures against a directory of access keys.
#[derive(Debug)]
pub struct Authenticator {
    directory: Arc<dyn CredentialDirectory>,
    /// The largest body read to hash it (the payload hash is part of the signature).
    max_body: usize,
}

/// What [`Authenticator::authenticate`] found.
pub(crate) struct Authenticated {
    /// The request body, to hand on.
    pub body: Body,
    /// Who signed, or the error to answer.
    pub result: Result<Arc<Principal>, AwsError>,
    /// The query-protocol `Action` when the body was read for the hash.
    pub action: Option<String>,
}

/// Why a request was not authenticated, before it is rendered in the request's protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// No signature at all.
    Missing,
    /// The access key is unknown, or the session token does not belong to it.
    UnknownKey,
    /// Temporary credentials past their expiry.
    Expired,
    /// The signature is wrong.
    Mismatch,
    /// The request time is too far off, or a presigned request expired.
    SignatureExpired { request_time: String, now: i64 },
    /// The signature's parts are malformed.
    Incomplete(String),
}

impl Authenticator {
    /// An authenticator over `directory`, reading bodies of up to `max_body` bytes to hash them.
    pub fn new(directory: Arc<dyn CredentialDirectory>, max_body: usize) -> Authenticator {
        Authenticator {
            directory,
            max_body,
        }
    }

    /// Whether the gateway checks this request at all (S3 checks its own; see the module docs).
    /// `operation` is the request's operation when its head or form named it (the dispatcher has
    /// moved it from the route to the context by now).
    pub(crate) fn applies(
        &self,
        route: &Route,
        operation: Option<&str>,
        parts: &Parts,
        pinned: bool,
    ) -> bool {
        let Some(def) = route.service else {
            return false;
        };
        if def.id == "s3" || route.rule == Rule::DataPlaneHost {
            return false;
        }
        let presigned = parts
            .uri
            .query()
            .is_some_and(|q| q.contains("X-Amz-Algorithm="));
        let authorization = parts.headers.get(http::header::AUTHORIZATION);
        let sigv4_header = authorization
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("AWS4-HMAC-SHA256"));
        if authorization.is_some() && !sigv4_header && !presigned {
            // Basic/Bearer tokens of the ECR registry; other schemes are the service's to refuse.
            return false;
        }
        if authorization.is_none() && !presigned {
            if pinned || (def.id == "ecr" && parts.uri.path().starts_with("/v2")) {
                return false;
            }
            if let Some(op) = operation.or(route.operation.as_deref())
                && UNSIGNED_OPERATIONS.contains(&(def.id, op))
            {
                return false;
            }
        }
        true
    }

    /// Verifies the request; returns the body (read whole when it had to be hashed), the principal or
    /// the error to answer, and a query-protocol `Action` read from the body on the way (so a refused
    /// request is logged with its operation).
    pub(crate) async fn authenticate(
        &self,
        route: &Route,
        parts: &Parts,
        request_body: Body,
        host: &str,
    ) -> Authenticated {
        let refused = |body, failure| Authenticated {
            body,
            result: Err(render(route, failure)),
            action: None,
        };
        let signature = match skyport_sigv4::parse(parts) {
            Ok(Some(sig)) => sig,
            Ok(None) => return refused(request_body, Failure::Missing),
            Err(e) => return refused(request_body, from_sig_error(e)),
        };
        let mut action = None;
        // The payload hash is the body's own (presigned URLs too: SDKs sign the empty body's hash).
        let (request_body, payload_hash) =
            match body::collect_limited(request_body, self.max_body).await {
                Ok(bytes) => {
                    let hash = skyport_sigv4::sha256_hex(&bytes);
                    if route.operation.is_none() && route.protocol == Protocol::Query {
                        action = form_urlencoded::parse(&bytes)
                            .find_map(|(k, v)| (k == "Action").then(|| v.into_owned()));
                    }
                    (body::full(bytes), hash)
                }
                Err(e) => {
                    return Authenticated {
                        body: body::empty(),
                        result: Err(AwsError::from(e)),
                        action: None,
                    };
                }
            };
        let result = self.check(&signature, parts, &payload_hash, host);
        Authenticated {
            body: request_body,
            result: result.map_err(|f| render(route, f)),
            action,
        }
    }

    fn check(
        &self,
        signature: &skyport_sigv4::Signature,
        parts: &Parts,
        payload_hash: &str,
        host: &str,
    ) -> Result<Arc<Principal>, Failure> {
        let now = skyport_sigv4::now_secs();
        let Some(secret) = self.directory.signing_secret(&signature.access_key) else {
            return Err(Failure::UnknownKey);
        };
        signature.check_time(now).map_err(from_sig_error)?;
        signature
            .verify(
                parts,
                &secret.secret,
                payload_hash,
                UriStyle::DoubleEncoded,
                host,
            )
            .map_err(from_sig_error)?;
        if let Some(token) = &secret.session_token
            && signature.session_token.as_deref() != Some(token.as_str())
        {
            return Err(Failure::UnknownKey);
        }
        if secret
            .expires
            .is_some_and(|expires| u64::try_from(now).unwrap_or(0) >= expires)
        {
            return Err(Failure::Expired);
        }
        Ok(Arc::new(secret.principal))
    }
}

fn from_sig_error(e: SigError) -> Failure {
    let now = skyport_sigv4::now_secs();
    match e {
        SigError::Mismatch { .. } => Failure::Mismatch,
        SigError::Skewed { request_time, .. } => Failure::SignatureExpired { request_time, now },
        SigError::Expired { expires, .. } => Failure::SignatureExpired {
            request_time: skyport_sigv4::format_amz_date(expires),
            now,
        },
        SigError::UnsupportedAlgorithm => {
            Failure::Incomplete("Unsupported AWS 'algorithm': the request must be signed with AWS4-HMAC-SHA256".to_owned())
        }
        SigError::MalformedHeader => Failure::Incomplete(
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.".to_owned(),
        ),
        SigError::MissingDate => Failure::Incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.".to_owned(),
        ),
        SigError::QueryParameters(message) => Failure::Incomplete(message),
    }
}

const INVALID_TOKEN: &str = "The security token included in the request is invalid.";
const EXPIRED_TOKEN: &str = "The security token included in the request is expired";
const MISSING_TOKEN: &str = "Request is missing Authentication Token";
const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
     Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// The error AWS answers for `failure` in the request's protocol: query services (and SQS, whose JSON
/// errors carry the query codes) answer 403 with the query codes, awsJson services 400 with the
/// `...Exception` codes, and REST-JSON services (Lambda) 403 with them.
fn render(route: &Route, failure: Failure) -> AwsError {
    let service = route.service.map(|d| d.id).unwrap_or_default();
    let query_codes = matches!(route.protocol, Protocol::Query | Protocol::Ec2) || service == "sqs";
    let signature_expired = |request_time: &str, now: i64| {
        format!(
            "Signature expired: {request_time} is now earlier than {} ({} - 15 min.)",
            skyport_sigv4::format_amz_date(now - skyport_sigv4::MAX_SKEW_SECS),
            skyport_sigv4::format_amz_date(now)
        )
    };
    let (code, message): (&'static str, String) = match (&failure, query_codes) {
        (Failure::Missing, true) => ("MissingAuthenticationToken", MISSING_TOKEN.to_owned()),
        (Failure::Missing, false) => (
            "MissingAuthenticationTokenException",
            MISSING_TOKEN.to_owned(),
        ),
        (Failure::UnknownKey, true) => ("InvalidClientTokenId", INVALID_TOKEN.to_owned()),
        (Failure::UnknownKey, false) => ("UnrecognizedClientException", INVALID_TOKEN.to_owned()),
        (Failure::Expired, true) => ("ExpiredToken", EXPIRED_TOKEN.to_owned()),
        (Failure::Expired, false) => ("ExpiredTokenException", EXPIRED_TOKEN.to_owned()),
        (Failure::Mismatch, true) => ("SignatureDoesNotMatch", MISMATCH.to_owned()),
        (Failure::Mismatch, false) => ("InvalidSignatureException", MISMATCH.to_owned()),
        (Failure::SignatureExpired { request_time, now }, true) => (
            "SignatureDoesNotMatch",
            signature_expired(request_time, *now),
        ),
        (Failure::SignatureExpired { request_time, now }, false) => (
            "InvalidSignatureException",
            signature_expired(request_time, *now),
        ),
        (Failure::Incomplete(m), _) => ("IncompleteSignature", m.clone()),
    };
    let status = if query_codes || route.protocol == Protocol::RestJson {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::BAD_REQUEST
    };
    let status = match failure {
        Failure::Incomplete(_) => StatusCode::BAD_REQUEST,
        _ => status,
    };
    AwsError::new(status, code, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyport_core::bus::{RootTestCredentials, SigningSecret};

    fn route(service: &str, protocol: Protocol) -> Route {
        let parts = http::Request::builder()
            .uri("/")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let mut r = crate::router::classify(
            &parts,
            &crate::router::RouterConfig {
                domains: skyport_core::host::HostDomains::new(&["localhost.localstack.cloud"]),
                parity_access_keys: false,
            },
        );
        r.service = crate::catalog::by_id(service);
        r.protocol = protocol;
        r
    }

    #[test]
    fn errors_per_protocol() {
        let e = render(&route("sts", Protocol::Query), Failure::UnknownKey);
        assert_eq!(
            (e.status.as_u16(), e.code.as_ref()),
            (403, "InvalidClientTokenId")
        );
        let e = render(&route("dynamodb", Protocol::Json10), Failure::UnknownKey);
        assert_eq!(
            (e.status.as_u16(), e.code.as_ref()),
            (400, "UnrecognizedClientException")
        );
        let e = render(&route("lambda", Protocol::RestJson), Failure::Mismatch);
        assert_eq!(
            (e.status.as_u16(), e.code.as_ref()),
            (403, "InvalidSignatureException")
        );
        let e = render(&route("sqs", Protocol::Json10), Failure::Expired);
        assert_eq!((e.status.as_u16(), e.code.as_ref()), (403, "ExpiredToken"));
        let e = render(
            &route("logs", Protocol::Json11),
            Failure::SignatureExpired {
                request_time: "20240101T000000Z".into(),
                now: 1_704_067_200 + 3600,
            },
        );
        assert_eq!(e.code.as_ref(), "InvalidSignatureException");
        assert_eq!(
            e.message,
            "Signature expired: 20240101T000000Z is now earlier than 20240101T004500Z (20240101T010000Z - 15 min.)"
        );
    }

    #[derive(Debug)]
    struct Temporary;
    impl CredentialDirectory for Temporary {
        fn signing_secret(&self, key: &str) -> Option<SigningSecret> {
            let mut s = RootTestCredentials::default().signing_secret("test")?;
            s.session_token = Some("tok".into());
            s.expires = Some(if key == "OLD" { 1 } else { u64::MAX });
            Some(s)
        }
    }

    fn signed(key: &str, token: Option<&str>) -> Parts {
        // Signs like an SDK would: the empty body's hash, the host and date headers.
        let date = skyport_sigv4::format_amz_date(skyport_sigv4::now_secs());
        let scope = format!("{}/us-east-1/sts/aws4_request", &date[..8]);
        let mut builder = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("host", "localhost:4566")
            .header("x-amz-date", &date);
        let mut signed_headers = "host;x-amz-date".to_owned();
        if let Some(token) = token {
            builder = builder.header("x-amz-security-token", token);
            signed_headers.push_str(";x-amz-security-token");
        }
        let unsigned = builder.body(()).unwrap().into_parts().0;
        let sig = skyport_sigv4::Signature {
            access_key: key.into(),
            date: date.clone(),
            scope: scope.clone(),
            signed_headers: signed_headers.split(';').map(str::to_owned).collect(),
            signature: String::new(),
            content_sha256: None,
            session_token: None,
            presigned: false,
            expires: None,
        };
        let canonical = sig.canonical_request(
            &unsigned,
            &skyport_sigv4::sha256_hex(b""),
            UriStyle::DoubleEncoded,
            "",
        );
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
            skyport_sigv4::sha256_hex(canonical.as_bytes())
        );
        let signature = skyport_sigv4::hex(&skyport_sigv4::hmac(
            &skyport_sigv4::signing_key("test", &scope),
            to_sign.as_bytes(),
        ));
        let mut parts = unsigned;
        parts.headers.insert(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
            )
            .parse()
            .unwrap(),
        );
        parts
    }

    #[test]
    fn session_tokens_and_expiry_are_checked() {
        let auth = Authenticator::new(Arc::new(Temporary), 1 << 20);
        let empty = skyport_sigv4::sha256_hex(b"");
        let check = |key: &str, token: Option<&str>| {
            let parts = signed(key, token);
            let sig = skyport_sigv4::parse(&parts).unwrap().unwrap();
            auth.check(&sig, &parts, &empty, "")
        };
        assert!(check("NEW", Some("tok")).is_ok());
        assert_eq!(check("NEW", None).unwrap_err(), Failure::UnknownKey);
        assert_eq!(
            check("NEW", Some("other")).unwrap_err(),
            Failure::UnknownKey
        );
        assert_eq!(check("OLD", Some("tok")).unwrap_err(), Failure::Expired);
        let roots = Authenticator::new(Arc::new(RootTestCredentials::default()), 1 << 20);
        let parts = signed("test", None);
        let sig = skyport_sigv4::parse(&parts).unwrap().unwrap();
        let principal = roots.check(&sig, &parts, &empty, "").unwrap();
        assert_eq!(principal.arn, "arn:aws:iam::000000000000:root");
        let parts = signed("nobody", None);
        let sig = skyport_sigv4::parse(&parts).unwrap().unwrap();
        assert_eq!(
            roots.check(&sig, &parts, &empty, "").unwrap_err(),
            Failure::UnknownKey
        );
    }
}

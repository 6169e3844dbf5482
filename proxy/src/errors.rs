//! The one module that turns the gateway's own failures into AWS-shaped errors: a request no service
//! claims, a service Skyport does not implement (or `SERVICES` disabled), an unknown `X-Amz-Target`, a
//! malformed `Authorization` header, and a service that panicked (an unreadable or oversized body maps
//! through `AwsError::from(BodyError)` in core).
//! Service errors are rendered by `AwsError` itself in the protocol of the request.

use http::StatusCode;
use skyport_core::{AwsError, Protocol};

use crate::router::Route;

/// No rule recognised the request.
pub fn unrecognised() -> AwsError {
    AwsError::new(
        StatusCode::NOT_FOUND,
        "UnrecognizedService",
        "Skyport could not tell which AWS service this request is for: it has no SigV4 credential scope, \
         X-Amz-Target, known service hostname, query Action or S3-style path. Point the SDK's endpoint at \
         Skyport and sign the request as usual.",
    )
}

/// The service is recognised but not implemented in this build, or disabled by `SERVICES`.
pub fn not_implemented(service: &str, protocol: Protocol, disabled: bool) -> AwsError {
    let message = if disabled {
        format!("Service '{service}' is disabled by the SERVICES setting of this Skyport instance.")
    } else {
        format!("Skyport does not implement the AWS service '{service}' yet.")
    };
    match protocol {
        Protocol::Json10 | Protocol::Json11 => {
            AwsError::bad_request("UnknownOperationException", message)
        }
        Protocol::RestJson => AwsError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplementedException",
            message,
        ),
        Protocol::Query | Protocol::Ec2 | Protocol::RestXml => {
            AwsError::new(StatusCode::NOT_IMPLEMENTED, "NotImplemented", message)
        }
    }
}

/// An `X-Amz-Target` with a prefix no known service uses.
pub fn unknown_target(target: &str) -> AwsError {
    AwsError::bad_request(
        "UnknownOperationException",
        format!(
            "The X-Amz-Target '{target}' does not name an operation of any service Skyport knows."
        ),
    )
}

/// An `Authorization` header that claims SigV4 but cannot be parsed.
pub fn malformed_authorization(route: &Route, reason: &str) -> AwsError {
    if route.protocol == Protocol::RestXml {
        AwsError::bad_request(
            "AuthorizationHeaderMalformed",
            format!("The authorization header is malformed; {reason}"),
        )
    } else {
        AwsError::bad_request("IncompleteSignature", reason.to_owned())
    }
}

/// A service panicked while handling the request (a Skyport bug, reported as a 500).
pub fn panicked(service: &str) -> AwsError {
    AwsError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        format!(
            "Skyport's {service} implementation failed while handling this request; see the Skyport log."
        ),
    )
}

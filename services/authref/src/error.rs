//! Why a request could not be mapped to actions.

/// A request [`requirements`](crate::requirements) cannot answer for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthrefError {
    /// Not one of the service prefixes vendored.
    #[error("no service with IAM prefix {0} in the authorization reference")]
    UnknownService(String),
    /// An operation the reference does not map to any action (unknown, or newer than the data).
    #[error(
        "operation {operation} of service {service} maps to no action in the authorization reference"
    )]
    UnknownOperation { service: String, operation: String },
    /// The embedded data could not be read (a packaging bug).
    #[error("the embedded authorization reference could not be read: {0}")]
    Data(String),
}

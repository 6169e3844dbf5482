//! skyport-core: what every Skyport service shares.
//!
//! - [`context::RequestContext`]: who is asking (account, region, access key), how they reached us (the host
//!   and scheme they used, so returned URLs work from where the client is), and the request id.
//! - [`error::AwsError`]: one error type for all services that renders itself in the wire shape of each AWS
//!   protocol (query XML, REST-XML, awsJson 1.0/1.1, REST-JSON).
//! - [`protocol`]: the protocol enum and the small codecs (form/query decoding, an XML writer, JSON helpers).
//! - [`service::Service`]: the interface the proxy's router dispatches to.
//! - [`store::Store`]: the embedded ACID state store (redb) and [`store::StateLayout`], the state directory.
//! - [`state`]: reset, export and import of a service's state ([`state::StateControl`]) and the snapshot
//!   format.
//! - [`operations`]: operation names the router and the services share.
//! - [`init`]: the init hooks' stages and script states (`/_localstack/init`).
//! - [`ports`]: the external service port range (4510-4559): leases and the backends they route to.
//! - [`arn`], [`host`], [`ids`], [`timefmt`], [`body`]: helpers for ARNs, AWS hostnames, request ids,
//!   timestamps and HTTP bodies.
#![forbid(unsafe_code)]

pub mod access_key;
pub mod arn;
pub mod body;
pub mod bus;
pub mod context;
pub mod error;
pub mod host;
pub mod ids;
pub mod init;
pub mod operations;
pub mod ports;
pub mod protocol;
pub mod service;
pub mod state;
pub mod store;
pub mod timefmt;
pub mod xml;

pub use body::Body;
pub use context::RequestContext;
pub use error::AwsError;
pub use protocol::Protocol;
pub use service::{OperationTable, Service, ServiceInfo};

/// The account used when a request does not name one (LocalStack's default, so existing tests keep working).
pub const DEFAULT_ACCOUNT: &str = "000000000000";
/// The region used when neither the credential scope nor the host names one.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Skyport's version, as reported by the health endpoints and the `Server` header.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

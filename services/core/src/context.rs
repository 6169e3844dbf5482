//! The per-request context the router hands every service: who is asking, in which account and region,
//! how the client reached Skyport (so returned URLs are ones the client can use), and the request id.

use std::time::{Instant, SystemTime};

use crate::protocol::Protocol;

/// `http` or `https`, as the client connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plaintext.
    Http,
    /// TLS terminated by Skyport.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Everything a service needs to know about a request besides the request itself.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The service id, e.g. `sts`, `s3`, `sqs`.
    pub service: &'static str,
    /// The operation, once known (set by the router from `X-Amz-Target`/`Action`, or by the service).
    pub operation: Option<String>,
    /// The wire protocol of this request.
    pub protocol: Protocol,
    /// The 12-digit account the request acts in.
    pub account: String,
    /// The region the request acts in.
    pub region: String,
    /// The access key id the request was signed with, if any.
    pub access_key: Option<String>,
    /// Who signed the request, when its signature was verified (`ENFORCE_IAM=1`).
    pub principal: Option<std::sync::Arc<crate::bus::Principal>>,
    /// IAM's policy evaluation, when requests are authorized (`ENFORCE_IAM=1`).
    pub authorizer: Option<std::sync::Arc<dyn crate::bus::Authorizer>>,
    /// The request id returned in headers and bodies.
    pub request_id: String,
    /// The Host header as the client sent it (name and port), or the listener address.
    pub host: String,
    /// How the client connected.
    pub scheme: Scheme,
    /// The bucket named by an S3 virtual-hosted-style Host.
    pub bucket: Option<String>,
    /// The client's address.
    pub client: Option<std::net::SocketAddr>,
    /// When the request arrived (wall clock).
    pub received_at: SystemTime,
    /// When the request arrived (monotonic, for durations).
    pub started: Instant,
}

impl RequestContext {
    /// A context with defaults, for tests and internal calls.
    pub fn new(service: &'static str, protocol: Protocol) -> RequestContext {
        RequestContext {
            service,
            operation: None,
            protocol,
            account: crate::DEFAULT_ACCOUNT.to_owned(),
            region: crate::DEFAULT_REGION.to_owned(),
            access_key: None,
            principal: None,
            authorizer: None,
            request_id: crate::ids::uuid(),
            host: "localhost.localstack.cloud:4566".to_owned(),
            scheme: Scheme::Http,
            bucket: None,
            client: None,
            received_at: SystemTime::now(),
            started: Instant::now(),
        }
    }

    /// `scheme://host[:port]` as the client reached Skyport, the base for every URL Skyport returns.
    pub fn endpoint_url(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.host)
    }

    /// The partition of this request's region (`aws`, `aws-cn`, ...).
    pub fn partition(&self) -> &'static str {
        crate::arn::partition_for_region(&self.region)
    }

    /// Records the operation for logging.
    pub fn set_operation(&mut self, operation: impl Into<String>) {
        self.operation = Some(operation.into());
    }
}

//! The interface between the proxy's router and a service implementation.

use http::{Request, Response};

use crate::{AwsError, Body, Protocol, RequestContext};

/// Static facts about a service that the router and the error renderer need.
#[derive(Debug)]
pub struct ServiceInfo {
    /// The service id (`sts`, `s3`, `sqs`), also the SigV4 signing name unless stated otherwise.
    pub name: &'static str,
    /// The protocols this service speaks; the first is the default.
    pub protocols: &'static [Protocol],
    /// The XML namespace of query-protocol responses, e.g. `https://sts.amazonaws.com/doc/2011-06-15/`.
    pub xml_namespace: &'static str,
    /// The prefix of `__type` in awsJson errors, e.g. `com.amazonaws.sqs#`.
    pub json_error_prefix: &'static str,
}

/// Which operations of its model a service implements (services on the model-driven wire layer).
#[derive(Debug, Clone, Copy)]
pub struct OperationTable {
    /// The operations implemented.
    pub implemented: &'static [&'static str],
    /// Every operation of the service's model (compiles the model on first call; called on demand).
    pub all: fn() -> Vec<&'static str>,
}

/// An AWS service implementation.
#[async_trait::async_trait]
pub trait Service: Send + Sync + 'static {
    /// Static facts about the service.
    fn info(&self) -> &'static ServiceInfo;

    /// Handles one request. `ctx.protocol` says which wire protocol the request uses; errors returned here
    /// are rendered in that protocol's shape by the caller.
    async fn call(
        &self,
        ctx: &mut RequestContext,
        request: Request<Body>,
    ) -> Result<Response<Body>, AwsError>;

    /// The operations of the service's model and which of them are implemented; `None` for services
    /// whose wire format is hand-written.
    fn operations(&self) -> Option<OperationTable> {
        None
    }

    /// The service's state control (reset, export, import), if it keeps state.
    fn state_control(&self) -> Option<&dyn crate::state::StateControl> {
        None
    }

    /// Called as soon as graceful shutdown begins, before in-flight requests are drained: end long waits
    /// (long polls) early so they do not hold the shutdown up.
    fn stopping(&self) {}

    /// Called once on graceful shutdown, after the listeners stopped and in-flight requests drained.
    async fn shutdown(&self) {}
}

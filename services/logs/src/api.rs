//! Amazon CloudWatch Logs's behaviour over the model's types.

use http::{Request, Response};
use skyport_core::store::Store;
use skyport_core::{
    AwsError, Body, OperationTable, Protocol, RequestContext, Service, ServiceInfo,
};
use skyport_wire::{ApiError, Endpoint, Handler, Model, Operation, Value};

use crate::shapes::{self, LogsApi};

skyport_wire::static_model!(MODEL, "../../../models/logs.json");

static INFO: ServiceInfo = ServiceInfo {
    name: "logs",
    protocols: &[Protocol::Json11],
    xml_namespace: "",
    json_error_prefix: "",
};

/// The operations implemented; the model's others answer `NotImplemented`.
pub const OPERATIONS: &[&str] = &[];

/// The Amazon CloudWatch Logs model (compiled on first use).
pub fn model() -> &'static Model {
    MODEL()
}

/// The Amazon CloudWatch Logs service.
#[derive(Debug, Clone)]
pub struct Logs {
    store: Store,
}

impl Logs {
    /// Amazon CloudWatch Logs keeping its state in `store`.
    pub fn new(store: Store) -> Logs {
        Logs { store }
    }

    /// The state store.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

#[async_trait::async_trait]
impl Service for Logs {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn operations(&self) -> Option<OperationTable> {
        Some(OperationTable {
            implemented: OPERATIONS,
            all: || skyport_wire::endpoint::operation_names(MODEL()),
        })
    }

    async fn call(
        &self,
        ctx: &mut RequestContext,
        request: Request<Body>,
    ) -> Result<Response<Body>, AwsError> {
        Endpoint::new(MODEL()).serve(self, ctx, request).await
    }
}

#[async_trait::async_trait]
impl Handler for Logs {
    fn implemented(&self) -> &'static [&'static str] {
        OPERATIONS
    }

    async fn handle(
        &self,
        ctx: &mut RequestContext,
        operation: &'static Operation,
        input: Value,
    ) -> Result<Value, ApiError> {
        shapes::dispatch(self, ctx, operation, input).await
    }
}

#[async_trait::async_trait]
impl LogsApi for Logs {}

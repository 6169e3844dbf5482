//! AWS Identity and Access Management's behaviour over the model's types.

use http::{Request, Response};
use skyport_core::store::Store;
use skyport_core::{
    AwsError, Body, OperationTable, Protocol, RequestContext, Service, ServiceInfo,
};
use skyport_wire::{ApiError, Endpoint, Handler, Model, Operation, Value};

use crate::shapes::{self, IamApi};

skyport_wire::static_model!(MODEL, "../../../models/iam.json");

static INFO: ServiceInfo = ServiceInfo {
    name: "iam",
    protocols: &[Protocol::Query],
    xml_namespace: "https://iam.amazonaws.com/doc/2010-05-08/",
    json_error_prefix: "",
};

/// The operations implemented; the model's others answer `NotImplemented`.
pub const OPERATIONS: &[&str] = &[];

/// The AWS Identity and Access Management model (compiled on first use).
pub fn model() -> &'static Model {
    MODEL()
}

/// The AWS Identity and Access Management service.
#[derive(Debug, Clone)]
pub struct Iam {
    store: Store,
}

impl Iam {
    /// AWS Identity and Access Management keeping its state in `store`.
    pub fn new(store: Store) -> Iam {
        Iam { store }
    }

    /// The state store.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

#[async_trait::async_trait]
impl Service for Iam {
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
impl Handler for Iam {
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
impl IamApi for Iam {}

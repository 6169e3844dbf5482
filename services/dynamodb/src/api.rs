//! Amazon DynamoDB on the wire layer: the service, its model, the operations it implements, and the
//! generated `DynamoDbApi` trait forwarding each operation to the module that does it (`tables`,
//! `items`, `batch`, `transact`, `scan`, `ttl`, `partiql`).
//!
//! Responses carry `x-amz-crc32`, the CRC32 of the body, as DynamoDB's do (botocore verifies it when
//! present); this service therefore writes its successful responses itself instead of through
//! [`Endpoint::serve`] (errors are rendered by the wire layer and carry no checksum, which clients
//! accept).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Request, Response, StatusCode};
use skyport_core::store::{Store, StoreError};
use skyport_core::{
    AwsError, Body, OperationTable, Protocol, RequestContext, Service, ServiceInfo, body,
};
use skyport_wire::{ApiError, Codec, Endpoint, Handler, Model, Operation, Value};

use crate::error::DdbError;
use crate::persist::{self, Pending, Persister};
use crate::shapes::{self, DynamoDbApi};
use crate::state::Registry;

skyport_wire::static_model!(MODEL, skyport_wire::embedded::DYNAMODB);

static INFO: ServiceInfo = ServiceInfo {
    name: "dynamodb",
    protocols: &[Protocol::Json10],
    xml_namespace: "",
    json_error_prefix: "com.amazonaws.dynamodb.v20120810#",
};

/// The operations implemented; the model's others answer `NotImplemented`.
pub const OPERATIONS: &[&str] = &[
    "BatchExecuteStatement",
    "BatchGetItem",
    "BatchWriteItem",
    "CreateTable",
    "DeleteItem",
    "DeleteTable",
    "DescribeEndpoints",
    "DescribeLimits",
    "DescribeTable",
    "DescribeTimeToLive",
    "ExecuteStatement",
    "ExecuteTransaction",
    "GetItem",
    "ListTables",
    "ListTagsOfResource",
    "PutItem",
    "Query",
    "Scan",
    "TagResource",
    "TransactGetItems",
    "TransactWriteItems",
    "UntagResource",
    "UpdateItem",
    "UpdateTable",
    "UpdateTimeToLive",
];

/// The largest request body (AWS: 16 MB for BatchWriteItem's items plus overhead).
const BODY_LIMIT: usize = 20 << 20;

/// The Amazon DynamoDB model (compiled on first use).
pub fn model() -> &'static Model {
    MODEL()
}

/// Settings of the service.
#[derive(Debug, Clone)]
pub struct Options {
    /// How often expired items are deleted (`SKYPORT_DYNAMODB_TTL_SWEEP_MS`).
    pub ttl_sweep: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            ttl_sweep: Duration::from_secs(60),
        }
    }
}

/// A remembered `TransactWriteItems` (`ClientRequestToken` idempotency, 10 minutes).
#[derive(Debug, Clone)]
pub(crate) struct Remembered {
    pub at: std::time::Instant,
    pub fingerprint: u64,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub registry: Registry,
    pub tokens: Mutex<HashMap<String, Remembered>>,
    pub options: Options,
}

/// The Amazon DynamoDB service.
#[derive(Debug, Clone)]
pub struct DynamoDb {
    pub(crate) inner: Arc<Inner>,
}

impl DynamoDb {
    /// DynamoDB keeping its tables in `store`: loaded from it and committed to it when it is durable
    /// (`PERSISTENCE=1`), in memory only otherwise. Starts the TTL sweeper when called inside a tokio
    /// runtime.
    pub fn new(store: Store, options: Options) -> Result<DynamoDb, StoreError> {
        let persist = if store.is_durable() {
            Some(Persister::start(store.clone()).map_err(|e| StoreError::Io {
                path: std::path::PathBuf::from("dynamodb-commit thread"),
                source: e,
            })?)
        } else {
            None
        };
        let registry = Registry::open(&store, persist)?;
        let db = DynamoDb {
            inner: Arc::new(Inner {
                registry,
                tokens: Mutex::new(HashMap::new()),
                options,
            }),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            crate::ttl::start_sweeper(&db);
        }
        Ok(db)
    }

    /// The tables.
    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Waits for a queued commit.
    pub(crate) async fn wait(&self, pending: Option<Pending>) -> Result<(), DdbError> {
        if let Some(p) = pending {
            persist::wait(p).await?;
        }
        Ok(())
    }
}

fn crc32_response(body: String) -> Response<Body> {
    let bytes = Bytes::from(body);
    let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, &bytes);
    let len = bytes.len();
    let mut response = Response::new(body::full(bytes));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert("x-amz-crc32", HeaderValue::from(crc as u32));
    response
}

#[async_trait::async_trait]
impl Service for DynamoDb {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn state_control(&self) -> Option<&dyn skyport_core::state::StateControl> {
        Some(self)
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
        let model = MODEL();
        let endpoint = Endpoint::new(model).body_limit(BODY_LIMIT);
        let codec = Codec::for_request(model, ctx.protocol);
        let (parts, request_body) = request.into_parts();
        let bytes = body::collect_limited(request_body, BODY_LIMIT).await?;
        let (op, input) = endpoint
            .read(codec, ctx, &parts, bytes, Some(OPERATIONS))
            .map_err(|e| skyport_wire::error::wire_error(codec, model, e))?;
        let output = self
            .handle(ctx, op, input)
            .await
            .map_err(|e| skyport_wire::error::render(codec, model, e))?;
        if !matches!(codec, Codec::Json { .. }) {
            return Ok(endpoint.write(codec, ctx, op, &output));
        }
        let text = match op.output {
            Some(shape) => skyport_wire::json::write(model, shape, &output, None).to_string(),
            None => "{}".to_owned(),
        };
        Ok(crc32_response(text))
    }

    fn stopping(&self) {}
}

#[async_trait::async_trait]
impl Handler for DynamoDb {
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

macro_rules! forward {
    ($($name:ident($input:ident) -> $output:ty => $imp:ident;)*) => {
        #[async_trait::async_trait]
        impl DynamoDbApi for DynamoDb {
            $(
                async fn $name(
                    &self,
                    ctx: &mut RequestContext,
                    input: shapes::$input,
                ) -> Result<$output, ApiError> {
                    Ok(self.$imp(ctx, input).await?)
                }
            )*
        }
    };
}

forward! {
    create_table(CreateTableInput) -> shapes::CreateTableOutput => create_table_op;
    describe_table(DescribeTableInput) -> shapes::DescribeTableOutput => describe_table_op;
    update_table(UpdateTableInput) -> shapes::UpdateTableOutput => update_table_op;
    delete_table(DeleteTableInput) -> shapes::DeleteTableOutput => delete_table_op;
    list_tables(ListTablesInput) -> shapes::ListTablesOutput => list_tables_op;
    tag_resource(TagResourceInput) -> () => tag_resource_op;
    untag_resource(UntagResourceInput) -> () => untag_resource_op;
    list_tags_of_resource(ListTagsOfResourceInput) -> shapes::ListTagsOfResourceOutput => list_tags_op;
    describe_limits(DescribeLimitsInput) -> shapes::DescribeLimitsOutput => describe_limits_op;
    describe_endpoints(DescribeEndpointsRequest) -> shapes::DescribeEndpointsResponse => describe_endpoints_op;
    update_time_to_live(UpdateTimeToLiveInput) -> shapes::UpdateTimeToLiveOutput => update_ttl_op;
    describe_time_to_live(DescribeTimeToLiveInput) -> shapes::DescribeTimeToLiveOutput => describe_ttl_op;
    put_item(PutItemInput) -> shapes::PutItemOutput => put_item_op;
    get_item(GetItemInput) -> shapes::GetItemOutput => get_item_op;
    update_item(UpdateItemInput) -> shapes::UpdateItemOutput => update_item_op;
    delete_item(DeleteItemInput) -> shapes::DeleteItemOutput => delete_item_op;
    batch_get_item(BatchGetItemInput) -> shapes::BatchGetItemOutput => batch_get_op;
    batch_write_item(BatchWriteItemInput) -> shapes::BatchWriteItemOutput => batch_write_op;
    transact_get_items(TransactGetItemsInput) -> shapes::TransactGetItemsOutput => transact_get_op;
    transact_write_items(TransactWriteItemsInput) -> shapes::TransactWriteItemsOutput => transact_write_op;
    query(QueryInput) -> shapes::QueryOutput => query_op;
    scan(ScanInput) -> shapes::ScanOutput => scan_op;
    execute_statement(ExecuteStatementInput) -> shapes::ExecuteStatementOutput => execute_statement_op;
    batch_execute_statement(BatchExecuteStatementInput) -> shapes::BatchExecuteStatementOutput => batch_execute_statement_op;
    execute_transaction(ExecuteTransactionInput) -> shapes::ExecuteTransactionOutput => execute_transaction_op;
}

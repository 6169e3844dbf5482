//! Amazon DynamoDB Streams (`DynamoDBStreams_20120810`, served on `streams.dynamodb.<region>`): the
//! second service of this crate, over the same tables. [`log`] keeps each stream's records;
//! this module serves ListStreams, DescribeStream, GetShardIterator and GetRecords on the wire layer
//! with `models/dynamodbstreams.json` ([`shapes`] is generated from it); [`source`] lets Lambda's
//! event source mappings read the same logs through the bus (`skyport_core::bus::StreamSource`);
//! [`stored`] is how logs and records are kept in the state store and in snapshots.

pub mod log;
pub mod shapes;
pub mod source;
pub mod stored;

use std::sync::Arc;

use skyport_core::{
    AwsError, Body, OperationTable, Protocol, RequestContext, Service, ServiceInfo,
};
use skyport_wire::{
    ApiError, Endpoint, FromValue, Handler, IntoValue, Model, Operation, Timestamp, Value,
};

use crate::api::{DynamoDb, Inner};
use crate::attr::{Item, to_wire};
use log::{Origin, Position, ReadError, StreamLog, StreamRecord, now_ms, parse_seq, render_seq};
use shapes::{DynamoDbStreamsApi, errors};

skyport_wire::static_model!(MODEL, skyport_wire::embedded::DYNAMODBSTREAMS);

static INFO: ServiceInfo = ServiceInfo {
    name: "dynamodbstreams",
    protocols: &[Protocol::Json10],
    xml_namespace: "",
    json_error_prefix: "com.amazonaws.dynamodb.v20120810#",
};

/// The operations implemented (all of the model's).
pub const OPERATIONS: &[&str] = &[
    "DescribeStream",
    "GetRecords",
    "GetShardIterator",
    "ListStreams",
];

/// The largest request body.
const BODY_LIMIT: usize = 1 << 20;

/// The most records one GetRecords returns, and the default.
const MAX_LIMIT: usize = 1000;

/// The most bytes of records one GetRecords returns.
const MAX_BYTES: i64 = 1 << 20;

/// The Amazon DynamoDB Streams model (compiled on first use).
pub fn model() -> &'static Model {
    MODEL()
}

/// Amazon DynamoDB Streams over a [`DynamoDb`]'s tables.
#[derive(Debug, Clone)]
pub struct DynamoDbStreams {
    inner: Arc<Inner>,
}

impl DynamoDb {
    /// The DynamoDB Streams service reading this service's table streams.
    pub fn streams(&self) -> DynamoDbStreams {
        DynamoDbStreams {
            inner: self.inner.clone(),
        }
    }
}

fn stream_not_found(arn: &str) -> ApiError {
    errors::resource_not_found_exception(format!(
        "Requested resource not found: Stream: {arn} not found"
    ))
}

fn trimmed() -> ApiError {
    errors::trimmed_data_access_exception(
        "The operation attempted to read past the oldest stream record in a shard.",
    )
}

fn image(item: &Item) -> std::collections::BTreeMap<String, shapes::AttributeValue> {
    item.iter()
        .filter_map(|(k, v)| {
            let value = shapes::AttributeValue::from_value(to_wire(v).into_value()).ok()?;
            Some((k.clone(), value))
        })
        .collect()
}

/// A record as GetRecords returns it.
fn wire_record(stream: &StreamLog, r: &StreamRecord) -> shapes::Record {
    shapes::Record {
        event_id: Some(r.event_id.clone()),
        event_name: Some(r.event.as_str().to_owned()),
        event_version: Some("1.1".to_owned()),
        event_source: Some("aws:dynamodb".to_owned()),
        aws_region: Some(stream.region.clone()),
        dynamodb: Some(shapes::StreamRecord {
            approximate_creation_date_time: Some(Timestamp::from_secs(r.at_ms / 1000)),
            keys: Some(image(&r.keys.item())),
            new_image: r.new.as_ref().map(|p| image(&p.item())),
            old_image: r.old.as_ref().map(|p| image(&p.item())),
            sequence_number: Some(r.sequence_number()),
            size_bytes: Some(r.size()),
            stream_view_type: Some(stream.view.as_str().to_owned()),
        }),
        user_identity: (r.origin == Origin::Ttl).then(|| shapes::Identity {
            principal_id: Some("dynamodb.amazonaws.com".to_owned()),
            type_: Some("Service".to_owned()),
        }),
    }
}

impl DynamoDbStreams {
    fn stream(&self, ctx: &RequestContext, arn: &str) -> Result<Arc<StreamLog>, ApiError> {
        self.inner
            .registry
            .stream(arn)
            .filter(|s| s.account == ctx.account && s.region == ctx.region)
            .ok_or_else(|| stream_not_found(arn))
    }

    fn shard_of(
        &self,
        ctx: &RequestContext,
        arn: &str,
        shard_id: &str,
    ) -> Result<Arc<StreamLog>, ApiError> {
        let stream = self.stream(ctx, arn)?;
        if stream.shard_id != shard_id {
            return Err(errors::resource_not_found_exception(format!(
                "Requested resource not found: Shard does not exist: {shard_id}"
            )));
        }
        Ok(stream)
    }
}

#[async_trait::async_trait]
impl DynamoDbStreamsApi for DynamoDbStreams {
    async fn list_streams(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListStreamsInput,
    ) -> Result<shapes::ListStreamsOutput, ApiError> {
        let limit = input.limit.unwrap_or(100).clamp(1, 100) as usize;
        if let Some(name) = &input.table_name
            && self
                .inner
                .registry
                .get(&ctx.account, &ctx.region, name)
                .is_none()
            && !self
                .inner
                .registry
                .streams(&ctx.account, &ctx.region)
                .iter()
                .any(|s| s.table == *name)
        {
            return Err(errors::resource_not_found_exception(format!(
                "Requested resource not found: Table: {name} not found"
            )));
        }
        let mut streams: Vec<Arc<StreamLog>> = self
            .inner
            .registry
            .streams(&ctx.account, &ctx.region)
            .into_iter()
            .filter(|s| input.table_name.as_ref().is_none_or(|t| s.table == *t))
            .filter(|s| {
                input
                    .exclusive_start_stream_arn
                    .as_ref()
                    .is_none_or(|start| s.arn.as_str() > start.as_str())
            })
            .collect();
        let more = streams.len() > limit;
        streams.truncate(limit);
        Ok(shapes::ListStreamsOutput {
            last_evaluated_stream_arn: more
                .then(|| streams.last().map(|s| s.arn.clone()))
                .flatten(),
            streams: Some(
                streams
                    .iter()
                    .map(|s| shapes::Stream {
                        stream_arn: Some(s.arn.clone()),
                        table_name: Some(s.table.clone()),
                        stream_label: Some(s.label.clone()),
                    })
                    .collect(),
            ),
        })
    }

    async fn describe_stream(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DescribeStreamInput,
    ) -> Result<shapes::DescribeStreamOutput, ApiError> {
        let stream = self.stream(ctx, &input.stream_arn)?;
        let state = stream.state();
        let shard = shapes::Shard {
            shard_id: Some(stream.shard_id.clone()),
            sequence_number_range: Some(shapes::SequenceNumberRange {
                starting_sequence_number: Some(render_seq(stream.start_seq)),
                ending_sequence_number: state.closed.map(|(_, last)| render_seq(last)),
            }),
            parent_shard_id: None,
        };
        // One shard per stream: it has no children, and a start after it leaves nothing.
        let listed = input.shard_filter.is_none()
            && input
                .exclusive_start_shard_id
                .as_ref()
                .is_none_or(|s| s.as_str() < stream.shard_id.as_str());
        let key_schema = stream
            .key_names
            .iter()
            .zip(["HASH", "RANGE"])
            .map(|(name, kind)| shapes::KeySchemaElement {
                attribute_name: name.clone(),
                key_type: kind.to_owned(),
            })
            .collect();
        Ok(shapes::DescribeStreamOutput {
            stream_description: Some(shapes::StreamDescription {
                stream_arn: Some(stream.arn.clone()),
                stream_label: Some(stream.label.clone()),
                stream_status: Some(
                    if state.closed.is_some() {
                        "DISABLED"
                    } else {
                        "ENABLED"
                    }
                    .to_owned(),
                ),
                stream_view_type: Some(stream.view.as_str().to_owned()),
                creation_request_date_time: Some(Timestamp::from_millis(stream.created_ms)),
                table_name: Some(stream.table.clone()),
                key_schema: Some(key_schema),
                shards: Some(if listed { vec![shard] } else { Vec::new() }),
                last_evaluated_shard_id: None,
            }),
        })
    }

    async fn get_shard_iterator(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetShardIteratorInput,
    ) -> Result<shapes::GetShardIteratorOutput, ApiError> {
        let stream = self.shard_of(ctx, &input.stream_arn, &input.shard_id)?;
        let kind = input.shard_iterator_type.as_str();
        let needs_seq = matches!(kind, "AT_SEQUENCE_NUMBER" | "AFTER_SEQUENCE_NUMBER");
        if needs_seq != input.sequence_number.is_some() {
            return Err(ApiError::validation(if needs_seq {
                format!("Must specify a sequence number for iterator type {kind}")
            } else {
                format!("Sequence number must not be specified for iterator type {kind}")
            }));
        }
        if (kind == "AT_TIMESTAMP") != input.timestamp.is_some() {
            return Err(ApiError::validation(if kind == "AT_TIMESTAMP" {
                "Must specify a timestamp for iterator type AT_TIMESTAMP".to_owned()
            } else {
                format!("Timestamp must not be specified for iterator type {kind}")
            }));
        }
        let state = stream.state();
        let seq = match kind {
            "TRIM_HORIZON" => state.first_seq,
            "LATEST" => state.next_seq,
            "AT_TIMESTAMP" => {
                let at = input.timestamp.unwrap_or_else(|| Timestamp::from_secs(0));
                stream.seq_at(at.secs * 1000 + i64::from(at.nanos / 1_000_000))
            }
            _ => {
                let text = input.sequence_number.as_deref().unwrap_or_default();
                let n = parse_seq(text)
                    .filter(|n| *n >= stream.start_seq && *n < state.next_seq)
                    .ok_or_else(|| {
                        ApiError::validation(format!(
                            "Invalid SequenceNumber {text} for shard {}",
                            stream.shard_id
                        ))
                    })?;
                if n < state.first_seq {
                    return Err(trimmed());
                }
                if kind == "AFTER_SEQUENCE_NUMBER" {
                    n + 1
                } else {
                    n
                }
            }
        };
        let position = Position {
            arn: stream.arn.clone(),
            shard_id: stream.shard_id.clone(),
            seq,
            issued_ms: now_ms(),
        };
        Ok(shapes::GetShardIteratorOutput {
            shard_iterator: Some(position.encode()),
        })
    }

    async fn get_records(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetRecordsInput,
    ) -> Result<shapes::GetRecordsOutput, ApiError> {
        let Some(position) = Position::decode(&input.shard_iterator) else {
            return Err(ApiError::validation("Invalid ShardIterator"));
        };
        let limit = input.limit.unwrap_or(MAX_LIMIT as i32);
        if limit > MAX_LIMIT as i32 {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to {MAX_LIMIT}"
            )));
        }
        let stream = self.shard_of(ctx, &position.arn, &position.shard_id)?;
        let now = now_ms();
        if position.expired(now) {
            return Err(errors::expired_iterator_exception(
                "The provided iterator exceeds the maximum age allowed.",
            ));
        }
        let page = stream
            .read(position.seq, limit.max(1) as usize, MAX_BYTES)
            .map_err(|ReadError::Trimmed| trimmed())?;
        Ok(shapes::GetRecordsOutput {
            records: Some(
                page.records
                    .iter()
                    .map(|r| wire_record(&stream, r))
                    .collect(),
            ),
            next_shard_iterator: page.next.map(|seq| {
                Position {
                    seq,
                    issued_ms: now,
                    ..position
                }
                .encode()
            }),
        })
    }
}

#[async_trait::async_trait]
impl Service for DynamoDbStreams {
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
        request: http::Request<Body>,
    ) -> Result<http::Response<Body>, AwsError> {
        Endpoint::new(MODEL())
            .body_limit(BODY_LIMIT)
            .serve(self, ctx, request)
            .await
    }

    fn stopping(&self) {}
}

#[async_trait::async_trait]
impl Handler for DynamoDbStreams {
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

//! Amazon CloudWatch Logs's behaviour over the model's types.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use http::{Request, Response};
use skyport_core::error::StorageCodes;
use skyport_core::store::{Store, StoreError};
use skyport_core::{
    AwsError, Body, OperationTable, Protocol, RequestContext, Service, ServiceInfo, body,
};
use skyport_wire::{ApiError, Codec, Endpoint, Handler, Model, Operation, Value, WireError};

use crate::pattern::FilterPattern;
use crate::shapes::{self, LogsApi, errors};
use crate::state::{
    Append, Event, GroupRecord, LogStore, LogsError, MAX_BATCH_BYTES, StreamOrder, StreamRecord,
    now_millis, retention_cutoff, time_ordinal,
};
use crate::tokens::{self, Direction};

skyport_wire::static_model!(MODEL, skyport_wire::embedded::LOGS);

static INFO: ServiceInfo = ServiceInfo {
    name: "logs",
    protocols: &[Protocol::Json11],
    xml_namespace: "",
    json_error_prefix: "",
};

/// The operations implemented; the model's others answer `NotImplemented`.
pub const OPERATIONS: &[&str] = &[
    "CreateLogGroup",
    "CreateLogStream",
    "DeleteLogGroup",
    "DeleteLogStream",
    "DeleteRetentionPolicy",
    "DescribeLogGroups",
    "DescribeLogStreams",
    "FilterLogEvents",
    "GetLogEvents",
    "ListTagsForResource",
    "ListTagsLogGroup",
    "PutLogEvents",
    "PutRetentionPolicy",
    "TagLogGroup",
    "TagResource",
    "UntagLogGroup",
    "UntagResource",
];

/// The retention periods AWS accepts, in days.
pub const RETENTION_DAYS: &[i32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// How far in the past (14 days) and the future (2 hours) `PutLogEvents` accepts events.
const TOO_OLD_MS: i64 = 14 * 86_400_000;
const TOO_NEW_MS: i64 = 2 * 3_600_000;
/// The longest time span of one `PutLogEvents` batch.
const MAX_BATCH_SPAN_MS: i64 = 86_400_000;
/// The most events one `FilterLogEvents` call looks at before answering with a token.
const FILTER_SCAN_BUDGET: usize = 250_000;
/// The most tags a log group has.
const MAX_TAGS: usize = 50;

/// The Amazon CloudWatch Logs model (compiled on first use).
pub fn model() -> &'static Model {
    MODEL()
}

/// The Amazon CloudWatch Logs service.
#[derive(Debug, Clone)]
pub struct Logs {
    state: LogStore,
}

impl Logs {
    /// Amazon CloudWatch Logs keeping its state in `store`.
    pub fn new(store: Store) -> Logs {
        Logs {
            state: LogStore::new(store),
        }
    }

    /// The state store.
    pub fn store(&self) -> &Store {
        self.state.store()
    }

    /// The log state.
    pub(crate) fn state(&self) -> &LogStore {
        &self.state
    }
}

skyport_core::store_state_control!(Logs, this => this.state.store());

#[async_trait::async_trait]
impl Service for Logs {
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

    /// [`Endpoint::serve`], except that the model's constraint violations answer as CloudWatch Logs
    /// answers them: `InvalidParameterException` with the usual "N validation error(s) detected"
    /// message (the other JSON services say `ValidationException`).
    async fn call(
        &self,
        ctx: &mut RequestContext,
        request: Request<Body>,
    ) -> Result<Response<Body>, AwsError> {
        let endpoint = Endpoint::new(MODEL()).body_limit(8 << 20);
        let model = MODEL();
        let codec = Codec::for_request(model, ctx.protocol);
        let (parts, request_body) = request.into_parts();
        let bytes = body::collect_limited(request_body, 8 << 20).await?;
        let (op, input) = match endpoint.read(codec, ctx, &parts, bytes, Some(OPERATIONS)) {
            Ok(read) => read,
            Err(WireError::Validation(violations)) => {
                let message = skyport_wire::validate::message(&violations);
                return Err(skyport_wire::error::render(
                    codec,
                    model,
                    errors::invalid_parameter_exception(message),
                ));
            }
            Err(e) => return Err(skyport_wire::error::wire_error(codec, model, e)),
        };
        let output = self
            .handle(ctx, op, input)
            .await
            .map_err(|e| skyport_wire::error::render(codec, model, e))?;
        Ok(endpoint.write(codec, ctx, op, &output))
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

// ---------------------------------------------------------------------------------------------------
// Errors and identifiers

fn store_error(e: &StoreError) -> ApiError {
    AwsError::storage(
        &e.into(),
        StorageCodes {
            unavailable: "ServiceUnavailableException",
            internal: "InternalFailure",
        },
    )
    .into()
}

impl From<LogsError> for ApiError {
    fn from(e: LogsError) -> ApiError {
        match e {
            LogsError::GroupNotFound | LogsError::StreamNotFound => {
                errors::resource_not_found_exception(e.to_string())
            }
            LogsError::GroupExists | LogsError::StreamExists => {
                errors::resource_already_exists_exception(e.to_string())
            }
            LogsError::Store(e) => store_error(&e),
        }
    }
}

fn from_store(e: StoreError) -> ApiError {
    store_error(&e)
}

fn invalid(message: impl Into<String>) -> ApiError {
    errors::invalid_parameter_exception(message)
}

/// Where a log group lives: its account, region and name.
#[derive(Debug, Clone)]
struct GroupRef {
    account: String,
    region: String,
    name: String,
}

/// `arn:<partition>:logs:<region>:<account>:log-group:<name>`.
fn group_arn(partition: &str, region: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:logs:{region}:{account}:log-group:{name}")
}

/// Reads a log group ARN (with or without the trailing `:*`).
fn parse_group_arn(arn: &str) -> Option<GroupRef> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some("logs"), Some(region), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let name = resource.strip_prefix("log-group:")?;
    let name = name.strip_suffix(":*").unwrap_or(name);
    if name.is_empty() || name.contains(':') {
        return None;
    }
    Some(GroupRef {
        account: account.to_owned(),
        region: region.to_owned(),
        name: name.to_owned(),
    })
}

impl GroupRef {
    fn named(ctx: &RequestContext, name: &str) -> GroupRef {
        GroupRef {
            account: ctx.account.clone(),
            region: ctx.region.clone(),
            name: name.to_owned(),
        }
    }

    /// The group of `logGroupName` or `logGroupIdentifier` (a name or an ARN): exactly one of them.
    fn from_input(
        ctx: &RequestContext,
        name: Option<&str>,
        identifier: Option<&str>,
    ) -> Result<GroupRef, ApiError> {
        match (name, identifier) {
            (Some(_), Some(_)) => Err(invalid(
                "LogGroupName and LogGroupIdentifier are mutually exclusive parameters.",
            )),
            (None, None) => Err(invalid(
                "Either LogGroupName or LogGroupIdentifier must be specified.",
            )),
            (Some(name), None) => Ok(GroupRef::named(ctx, name)),
            (None, Some(id)) if id.starts_with("arn:") => parse_group_arn(id)
                .ok_or_else(|| invalid(format!("Invalid log group identifier: {id}"))),
            (None, Some(id)) => Ok(GroupRef::named(ctx, id)),
        }
    }
}

fn partition_of(region: &str) -> &'static str {
    skyport_core::arn::partition_for_region(region)
}

// ---------------------------------------------------------------------------------------------------
// Wire shapes of the records

fn log_group_shape(at: &GroupRef, group: &GroupRecord, names_only: bool) -> shapes::LogGroup {
    let arn = group_arn(
        partition_of(&at.region),
        &at.region,
        &at.account,
        &group.name,
    );
    if names_only {
        return shapes::LogGroup {
            log_group_name: Some(group.name.clone()),
            creation_time: Some(group.created),
            arn: Some(format!("{arn}:*")),
            ..Default::default()
        };
    }
    shapes::LogGroup {
        log_group_name: Some(group.name.clone()),
        creation_time: Some(group.created),
        retention_in_days: group.retention,
        metric_filter_count: Some(0),
        arn: Some(format!("{arn}:*")),
        stored_bytes: Some(group.stored_bytes),
        kms_key_id: group.kms_key_id.clone(),
        log_group_class: Some(group.class.clone()),
        log_group_arn: Some(arn),
        ..Default::default()
    }
}

fn log_stream_shape(at: &GroupRef, stream: &StreamRecord) -> shapes::LogStream {
    shapes::LogStream {
        log_stream_name: Some(stream.name.clone()),
        creation_time: Some(stream.created),
        first_event_timestamp: stream.first_event,
        last_event_timestamp: stream.last_event,
        last_ingestion_time: stream.last_ingestion,
        upload_sequence_token: stream.sequence_token(),
        arn: Some(format!(
            "{}:log-stream:{}",
            group_arn(partition_of(&at.region), &at.region, &at.account, &at.name),
            stream.name
        )),
        // AWS has reported 0 for streams since June 2019.
        stored_bytes: Some(0),
    }
}

// ---------------------------------------------------------------------------------------------------
// Operations

impl Logs {
    fn group(&self, at: &GroupRef) -> Result<GroupRecord, ApiError> {
        Ok(self
            .state
            .existing_group(&at.account, &at.region, &at.name)?)
    }

    fn stream(&self, group: &GroupRecord, name: &str) -> Result<StreamRecord, ApiError> {
        self.state
            .stream(group.id, name)
            .map_err(from_store)?
            .ok_or_else(|| LogsError::StreamNotFound.into())
    }

    async fn set_tags(
        &self,
        at: &GroupRef,
        resource: String,
        add: BTreeMap<String, String>,
        remove: Vec<String>,
    ) -> Result<(), ApiError> {
        let group = self.group(at)?;
        let mut tags = group.tags.clone();
        tags.extend(add.clone());
        for key in &remove {
            tags.remove(key);
        }
        if tags.len() > MAX_TAGS {
            return Err(errors::too_many_tags_exception(format!(
                "A resource can have no more than {MAX_TAGS} tags."
            ))
            .field("resourceName", resource));
        }
        self.state
            .update_group(&at.account, &at.region, &at.name, move |g| {
                g.tags.extend(add);
                for key in &remove {
                    g.tags.remove(key);
                }
            })
            .await?;
        Ok(())
    }

    fn tags_resource(arn: &str) -> Result<GroupRef, ApiError> {
        parse_group_arn(arn).ok_or_else(|| {
            errors::resource_not_found_exception(format!(
                "The specified resource {arn} does not exist."
            ))
        })
    }
}

#[async_trait::async_trait]
impl LogsApi for Logs {
    async fn create_log_group(
        &self,
        ctx: &mut RequestContext,
        input: shapes::CreateLogGroupRequest,
    ) -> Result<(), ApiError> {
        let group = GroupRecord {
            name: input.log_group_name,
            id: 0,
            created: now_millis(),
            retention: None,
            kms_key_id: input.kms_key_id,
            tags: input.tags.unwrap_or_default(),
            class: input
                .log_group_class
                .unwrap_or_else(|| "STANDARD".to_owned()),
            stored_bytes: 0,
        };
        self.state
            .create_group(&ctx.account, &ctx.region, group)
            .await?;
        Ok(())
    }

    async fn delete_log_group(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteLogGroupRequest,
    ) -> Result<(), ApiError> {
        self.state
            .delete_group(&ctx.account, &ctx.region, &input.log_group_name)
            .await?;
        Ok(())
    }

    async fn describe_log_groups(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DescribeLogGroupsRequest,
    ) -> Result<shapes::DescribeLogGroupsResponse, ApiError> {
        if input.log_group_name_prefix.is_some() && input.log_group_name_pattern.is_some() {
            return Err(invalid(
                "LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive. Only one of these parameters can be passed.",
            ));
        }
        let limit = input.limit.unwrap_or(50).clamp(1, 50) as usize;
        let after = match &input.next_token {
            Some(token) => Some(
                tokens::parse_opaque("groups", token)
                    .ok_or_else(|| invalid("The specified nextToken is invalid."))?,
            ),
            None => None,
        };
        let at = GroupRef::named(ctx, "");
        let identifiers: Option<Vec<String>> = input.log_group_identifiers.as_ref().map(|ids| {
            ids.iter()
                .map(|id| match parse_group_arn(id) {
                    Some(g) => g.name,
                    None => id.clone(),
                })
                .collect()
        });
        let pattern = input
            .log_group_name_pattern
            .clone()
            .filter(|p| !p.is_empty());
        let class = input.log_group_class.clone();
        let (groups, more) = self
            .state
            .list_groups(
                &ctx.account,
                &ctx.region,
                input.log_group_name_prefix.as_deref().unwrap_or(""),
                after.as_deref(),
                limit,
                |g| {
                    pattern.as_ref().is_none_or(|p| g.name.contains(p.as_str()))
                        && class.as_ref().is_none_or(|c| &g.class == c)
                        && identifiers.as_ref().is_none_or(|ids| ids.contains(&g.name))
                },
            )
            .map_err(from_store)?;
        let next_token = more
            .then(|| groups.last().map(|g| tokens::opaque("groups", &g.name)))
            .flatten();
        let names_only = input.log_group_name_pattern.is_some();
        Ok(shapes::DescribeLogGroupsResponse {
            log_groups: Some(
                groups
                    .iter()
                    .map(|g| log_group_shape(&at, g, names_only))
                    .collect(),
            ),
            next_token,
        })
    }

    async fn put_retention_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PutRetentionPolicyRequest,
    ) -> Result<(), ApiError> {
        let days = input.retention_in_days;
        if !RETENTION_DAYS.contains(&days) {
            let allowed = RETENTION_DAYS
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(invalid(format!(
                "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [{allowed}]"
            )));
        }
        self.state
            .update_group(&ctx.account, &ctx.region, &input.log_group_name, move |g| {
                g.retention = Some(days);
            })
            .await?;
        Ok(())
    }

    async fn delete_retention_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteRetentionPolicyRequest,
    ) -> Result<(), ApiError> {
        self.state
            .update_group(&ctx.account, &ctx.region, &input.log_group_name, |g| {
                g.retention = None;
            })
            .await?;
        Ok(())
    }

    async fn tag_resource(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::TagResourceRequest,
    ) -> Result<(), ApiError> {
        let at = Logs::tags_resource(&input.resource_arn)?;
        self.set_tags(&at, input.resource_arn, input.tags, Vec::new())
            .await
    }

    async fn untag_resource(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::UntagResourceRequest,
    ) -> Result<(), ApiError> {
        let at = Logs::tags_resource(&input.resource_arn)?;
        self.set_tags(&at, input.resource_arn, BTreeMap::new(), input.tag_keys)
            .await
    }

    async fn list_tags_for_resource(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::ListTagsForResourceRequest,
    ) -> Result<shapes::ListTagsForResourceResponse, ApiError> {
        let at = Logs::tags_resource(&input.resource_arn)?;
        let group = self.group(&at)?;
        Ok(shapes::ListTagsForResourceResponse {
            tags: Some(group.tags),
        })
    }

    async fn tag_log_group(
        &self,
        ctx: &mut RequestContext,
        input: shapes::TagLogGroupRequest,
    ) -> Result<(), ApiError> {
        let at = GroupRef::named(ctx, &input.log_group_name);
        let arn = group_arn(ctx.partition(), &at.region, &at.account, &at.name);
        self.set_tags(&at, arn, input.tags, Vec::new()).await
    }

    async fn untag_log_group(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UntagLogGroupRequest,
    ) -> Result<(), ApiError> {
        let at = GroupRef::named(ctx, &input.log_group_name);
        let arn = group_arn(ctx.partition(), &at.region, &at.account, &at.name);
        self.set_tags(&at, arn, BTreeMap::new(), input.tags).await
    }

    async fn list_tags_log_group(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListTagsLogGroupRequest,
    ) -> Result<shapes::ListTagsLogGroupResponse, ApiError> {
        let group = self.group(&GroupRef::named(ctx, &input.log_group_name))?;
        Ok(shapes::ListTagsLogGroupResponse {
            tags: Some(group.tags),
        })
    }

    async fn create_log_stream(
        &self,
        ctx: &mut RequestContext,
        input: shapes::CreateLogStreamRequest,
    ) -> Result<(), ApiError> {
        self.state
            .create_stream(
                &ctx.account,
                &ctx.region,
                &input.log_group_name,
                &input.log_stream_name,
            )
            .await?;
        Ok(())
    }

    async fn delete_log_stream(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteLogStreamRequest,
    ) -> Result<(), ApiError> {
        self.state
            .delete_stream(
                &ctx.account,
                &ctx.region,
                &input.log_group_name,
                &input.log_stream_name,
            )
            .await?;
        Ok(())
    }

    async fn describe_log_streams(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DescribeLogStreamsRequest,
    ) -> Result<shapes::DescribeLogStreamsResponse, ApiError> {
        let at = GroupRef::from_input(
            ctx,
            input.log_group_name.as_deref(),
            input.log_group_identifier.as_deref(),
        )?;
        let order = match input.order_by.as_deref() {
            Some("LastEventTime") => StreamOrder::LastEventTime,
            _ => StreamOrder::Name,
        };
        let prefix = input.log_stream_name_prefix.as_deref().unwrap_or("");
        if order == StreamOrder::LastEventTime && !prefix.is_empty() {
            return Err(invalid(
                "Cannot order by LastEventTime with a logStreamNamePrefix.",
            ));
        }
        let descending = input.descending.unwrap_or(false);
        let limit = input.limit.unwrap_or(50).clamp(1, 50) as usize;
        let group = self.group(&at)?;
        let mut streams = self.state.streams(group.id, prefix).map_err(from_store)?;
        let sort_key = |s: &StreamRecord| match order {
            StreamOrder::Name => (0, s.name.clone()),
            StreamOrder::LastEventTime => (s.last_event.unwrap_or(0), s.name.clone()),
        };
        streams.sort_by_key(sort_key);
        if descending {
            streams.reverse();
        }
        let start = match &input.next_token {
            Some(token) => {
                let text = tokens::parse_opaque("streams", token)
                    .ok_or_else(|| invalid("The specified nextToken is invalid."))?;
                let (ts, name) = text
                    .split_once('/')
                    .and_then(|(ts, name)| Some((ts.parse::<i64>().ok()?, name.to_owned())))
                    .ok_or_else(|| invalid("The specified nextToken is invalid."))?;
                let last = (ts, name);
                streams
                    .iter()
                    .position(|s| {
                        let key = sort_key(s);
                        if descending { key < last } else { key > last }
                    })
                    .unwrap_or(streams.len())
            }
            None => 0,
        };
        let page: Vec<&StreamRecord> = streams.iter().skip(start).take(limit).collect();
        let next_token = (start + page.len() < streams.len())
            .then(|| page.last())
            .flatten()
            .map(|s| {
                let (ts, name) = sort_key(s);
                tokens::opaque("streams", &format!("{ts}/{name}"))
            });
        Ok(shapes::DescribeLogStreamsResponse {
            log_streams: Some(page.iter().map(|s| log_stream_shape(&at, s)).collect()),
            next_token,
        })
    }

    async fn put_log_events(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PutLogEventsRequest,
    ) -> Result<shapes::PutLogEventsResponse, ApiError> {
        let events = input.log_events;
        if events.windows(2).any(|w| w[1].timestamp < w[0].timestamp) {
            return Err(invalid(
                "Log events in a single PutLogEvents request must be in chronological order.",
            ));
        }
        let size: usize = events
            .iter()
            .map(|e| e.message.len() + crate::state::EVENT_OVERHEAD)
            .sum();
        if size > MAX_BATCH_BYTES {
            return Err(invalid(format!(
                "Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
            )));
        }
        if let (Some(first), Some(last)) = (events.first(), events.last())
            && last.timestamp - first.timestamp > MAX_BATCH_SPAN_MS
        {
            return Err(invalid(
                "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
            ));
        }
        let at = GroupRef::named(ctx, &input.log_group_name);
        let group = self.group(&at)?;
        self.stream(&group, &input.log_stream_name)?;
        // Events too old, too new or past the group's retention are rejected, the rest stored.
        let now = now_millis();
        let cutoff = retention_cutoff(&group, now);
        let mut rejected = shapes::RejectedLogEventsInfo::default();
        let mut accepted = Vec::with_capacity(events.len());
        for (i, event) in events.into_iter().enumerate() {
            let index = i32::try_from(i).unwrap_or(i32::MAX);
            if event.timestamp > now + TOO_NEW_MS {
                rejected.too_new_log_event_start_index.get_or_insert(index);
                continue;
            }
            let mut keep = true;
            if event.timestamp < now - TOO_OLD_MS {
                rejected.too_old_log_event_end_index = Some(index);
                keep = false;
            }
            if cutoff.is_some_and(|c| event.timestamp < c) {
                rejected.expired_log_event_end_index = Some(index);
                keep = false;
            }
            if keep {
                accepted.push((event.timestamp, event.message));
            }
        }
        let appended = self
            .state
            .append(Append {
                account: at.account,
                region: at.region,
                group: at.name,
                stream: input.log_stream_name,
                events: accepted,
                create: false,
            })
            .await?;
        let any_rejected = rejected != shapes::RejectedLogEventsInfo::default();
        Ok(shapes::PutLogEventsResponse {
            next_sequence_token: appended.stream.sequence_token(),
            rejected_log_events_info: any_rejected.then_some(rejected),
            rejected_entity_info: None,
        })
    }

    async fn get_log_events(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetLogEventsRequest,
    ) -> Result<shapes::GetLogEventsResponse, ApiError> {
        let at = GroupRef::from_input(
            ctx,
            input.log_group_name.as_deref(),
            input.log_group_identifier.as_deref(),
        )?;
        let group = self.group(&at)?;
        let stream = self.stream(&group, &input.log_stream_name)?;
        let token = match &input.next_token {
            Some(t) => Some(
                tokens::parse_stream_token(t)
                    .ok_or_else(|| invalid("The specified nextToken is invalid."))?,
            ),
            None => None,
        };
        let limit = input.limit.unwrap_or(10_000).clamp(1, 10_000) as usize;
        // Events at or after startTime (and within the retention), before endTime.
        let start = input
            .start_time
            .unwrap_or(0)
            .max(retention_cutoff(&group, now_millis()).unwrap_or(0));
        let lower = time_ordinal(start);
        let upper = input.end_time.map_or(u128::MAX, time_ordinal);
        let (direction, position) = match token {
            Some((d, p)) => (d, p),
            None if input.start_from_head.unwrap_or(false) => (Direction::Forward, lower),
            None => (Direction::Backward, upper),
        };
        let id = stream.id;
        let events = self
            .state
            .read(move |r| match direction {
                Direction::Forward => LogStore::events_forward(
                    r,
                    id,
                    position.max(lower),
                    upper,
                    limit,
                    MAX_BATCH_BYTES,
                ),
                Direction::Backward => LogStore::events_backward(
                    r,
                    id,
                    lower,
                    position.min(upper),
                    limit,
                    MAX_BATCH_BYTES,
                ),
            })
            .await
            .map_err(from_store)?;
        let (forward, backward) = match (events.first(), events.last()) {
            (Some(first), Some(last)) => (
                tokens::stream_token(Direction::Forward, last.ordinal()),
                tokens::stream_token(Direction::Backward, first.ordinal()),
            ),
            // Nothing there: the token passed in comes back (AWS's end of the stream).
            _ => match (token, &input.next_token) {
                (Some((Direction::Forward, p)), Some(t)) => (
                    t.clone(),
                    tokens::stream_token(Direction::Backward, p.saturating_add(1)),
                ),
                (Some((Direction::Backward, p)), Some(t)) => (
                    tokens::stream_token(Direction::Forward, p.saturating_sub(1)),
                    t.clone(),
                ),
                _ => (
                    tokens::stream_token(Direction::Forward, lower),
                    tokens::stream_token(Direction::Backward, lower.saturating_add(1)),
                ),
            },
        };
        Ok(shapes::GetLogEventsResponse {
            events: Some(
                events
                    .into_iter()
                    .map(|e| shapes::OutputLogEvent {
                        timestamp: Some(e.timestamp),
                        message: Some(e.message),
                        ingestion_time: Some(e.ingestion),
                    })
                    .collect(),
            ),
            next_forward_token: Some(forward),
            next_backward_token: Some(backward),
        })
    }

    async fn filter_log_events(
        &self,
        ctx: &mut RequestContext,
        input: shapes::FilterLogEventsRequest,
    ) -> Result<shapes::FilterLogEventsResponse, ApiError> {
        let at = GroupRef::from_input(
            ctx,
            input.log_group_name.as_deref(),
            input.log_group_identifier.as_deref(),
        )?;
        if input.log_stream_names.is_some() && input.log_stream_name_prefix.is_some() {
            return Err(invalid(
                "logStreamNames and logStreamNamePrefix are mutually exclusive. Only one of these parameters can be passed.",
            ));
        }
        let pattern = FilterPattern::parse(input.filter_pattern.as_deref().unwrap_or(""))
            .map_err(|e| invalid(e.0))?;
        let group = self.group(&at)?;
        let after_token = match &input.next_token {
            Some(t) => Some(
                tokens::parse_opaque("events", t)
                    .and_then(|v| v.parse::<u128>().ok())
                    .ok_or_else(|| invalid("The specified nextToken is invalid."))?,
            ),
            None => None,
        };
        let limit = input.limit.unwrap_or(10_000).clamp(1, 10_000) as usize;
        let start = input
            .start_time
            .unwrap_or(0)
            .max(retention_cutoff(&group, now_millis()).unwrap_or(0));
        let end = input.end_time;
        let lower = time_ordinal(start).max(after_token.unwrap_or(0));
        // endTime is inclusive here (GetLogEvents's is not).
        let upper = end.map_or(u128::MAX, |e| time_ordinal(e.saturating_add(1)));
        let mut streams = self
            .state
            .streams(
                group.id,
                input.log_stream_name_prefix.as_deref().unwrap_or(""),
            )
            .map_err(from_store)?;
        if let Some(names) = &input.log_stream_names {
            streams.retain(|s| names.contains(&s.name));
        }
        // Streams with no events in the time range are not read.
        streams.retain(|s| match (s.first_event, s.last_event) {
            (Some(first), Some(last)) => last >= start && end.is_none_or(|e| first <= e),
            _ => false,
        });
        let names: Vec<String> = streams.iter().map(|s| s.name.clone()).collect();
        let ids: Vec<u64> = streams.iter().map(|s| s.id).collect();
        let (events, next) = self
            .state
            .read(move |r| merge_streams(r, &ids, lower, upper, limit, &pattern))
            .await
            .map_err(from_store)?;
        Ok(shapes::FilterLogEventsResponse {
            events: Some(
                events
                    .into_iter()
                    .map(|(i, e)| shapes::FilteredLogEvent {
                        log_stream_name: Some(names[i].clone()),
                        timestamp: Some(e.timestamp),
                        event_id: Some(e.event_id()),
                        message: Some(e.message),
                        ingestion_time: Some(e.ingestion),
                    })
                    .collect(),
            ),
            // AWS has returned an empty list here since May 2020.
            searched_log_streams: Some(Vec::new()),
            next_token: next.map(|p| tokens::opaque("events", &p.to_string())),
        })
    }
}

/// Matched events (with the index of their stream) and the position to continue after.
type FilteredPage = (Vec<(usize, Event)>, Option<u128>);

/// One stream's events being merged.
struct Merging {
    buffer: VecDeque<Event>,
    after: u128,
    exhausted: bool,
    /// Events read per refill: small at first (a group may have many streams), growing.
    chunk: usize,
}

const MERGE_FIRST_CHUNK: usize = 8;
const MERGE_MAX_CHUNK: usize = 512;

impl Merging {
    fn refill(
        &mut self,
        r: &skyport_core::store::Reader,
        id: u64,
        upper: u128,
    ) -> Result<(), StoreError> {
        if !self.buffer.is_empty() || self.exhausted {
            return Ok(());
        }
        let batch = LogStore::events_forward(r, id, self.after, upper, self.chunk, usize::MAX)?;
        if batch.len() < self.chunk {
            self.exhausted = true;
        }
        self.chunk = (self.chunk * 4).min(MERGE_MAX_CHUNK);
        if let Some(last) = batch.last() {
            self.after = last.ordinal();
        }
        self.buffer.extend(batch);
        Ok(())
    }
}

/// The events of `streams` with positions in `(lower, upper)` that match `pattern`, in time order
/// (ties in arrival order), up to `limit` events or a page's bytes; and the position to continue
/// after when there may be more.
fn merge_streams(
    r: &skyport_core::store::Reader,
    streams: &[u64],
    lower: u128,
    upper: u128,
    limit: usize,
    pattern: &FilterPattern,
) -> Result<FilteredPage, StoreError> {
    let mut cursors: Vec<Merging> = Vec::with_capacity(streams.len());
    let mut heap: BinaryHeap<Reverse<(u128, usize)>> = BinaryHeap::new();
    for (i, &id) in streams.iter().enumerate() {
        let mut cursor = Merging {
            buffer: VecDeque::new(),
            after: lower,
            exhausted: false,
            chunk: MERGE_FIRST_CHUNK,
        };
        cursor.refill(r, id, upper)?;
        if let Some(first) = cursor.buffer.front() {
            heap.push(Reverse((first.ordinal(), i)));
        }
        cursors.push(cursor);
    }
    let mut out = Vec::new();
    let mut bytes = 0;
    let mut examined = 0;
    while let Some(Reverse((position, i))) = heap.pop() {
        let cursor = &mut cursors[i];
        let Some(event) = cursor.buffer.pop_front() else {
            continue;
        };
        if pattern.matches(&event.message) {
            if bytes + event.size() > MAX_BATCH_BYTES && !out.is_empty() {
                // This event starts the next page.
                return Ok((out, Some(position - 1)));
            }
            bytes += event.size();
            out.push((i, event));
        }
        cursor.refill(r, streams[i], upper)?;
        if let Some(next) = cursor.buffer.front() {
            heap.push(Reverse((next.ordinal(), i)));
        }
        examined += 1;
        if out.len() >= limit || examined >= FILTER_SCAN_BUDGET {
            return Ok((out, (!heap.is_empty()).then_some(position)));
        }
    }
    Ok((out, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_arns() {
        let g = parse_group_arn("arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/f:*")
            .unwrap();
        assert_eq!(
            (g.account.as_str(), g.region.as_str(), g.name.as_str()),
            ("123456789012", "eu-west-1", "/aws/lambda/f")
        );
        let g = parse_group_arn("arn:aws:logs:us-east-1:000000000000:log-group:app").unwrap();
        assert_eq!(g.name, "app");
        for bad in [
            "arn:aws:s3:::bucket",
            "arn:aws:logs:us-east-1:000000000000:destination:d",
            "arn:aws:logs:us-east-1:000000000000:log-group:g:log-stream:s",
            "not an arn",
        ] {
            assert!(parse_group_arn(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn every_operation_is_in_the_model() {
        let names = skyport_wire::endpoint::operation_names(model());
        for op in OPERATIONS {
            assert!(names.contains(op), "{op}");
        }
    }
}

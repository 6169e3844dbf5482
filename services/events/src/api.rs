//! Amazon EventBridge's behaviour over the model's types: event buses, rules and targets, PutEvents,
//! TestEventPattern and tags.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use http::{Request, Response};
use serde_json::Value;
use skyport_core::bus::{FunctionInvoker, QueueSink, TopicPublisher};
use skyport_core::error::StorageCodes;
use skyport_core::store::{Store, StoreError};
use skyport_core::{
    AwsError, Body, OperationTable, Protocol, RequestContext, Service, ServiceInfo,
};
use skyport_patterns::{Pattern, PatternError};
use skyport_wire::{ApiError, Endpoint, Handler, Model, Operation, Timestamp, persist};

use crate::route::{self, Connections, Delivered, Envelope};
use crate::schedule::Schedule;
use crate::shapes::{self, EventsApi, errors};
use crate::state::{
    BusRecord, DEFAULT_BUS, EventStore, RuleRecord, RuleRef, StateError, now_millis,
};
use crate::transform::{JsonPath, TransformError, Transformer};

skyport_wire::static_model!(MODEL, skyport_wire::embedded::EVENTS);

static INFO: ServiceInfo = ServiceInfo {
    name: "events",
    protocols: &[Protocol::Json11],
    xml_namespace: "",
    json_error_prefix: "",
};

/// The operations implemented; the model's others answer `NotImplemented`.
pub const OPERATIONS: &[&str] = &[
    "CreateEventBus",
    "DeleteEventBus",
    "DeleteRule",
    "DescribeEventBus",
    "DescribeRule",
    "DisableRule",
    "EnableRule",
    "ListEventBuses",
    "ListRuleNamesByTarget",
    "ListRules",
    "ListTagsForResource",
    "ListTargetsByRule",
    "PutEvents",
    "PutRule",
    "PutTargets",
    "RemoveTargets",
    "TagResource",
    "TestEventPattern",
    "UntagResource",
];

/// The most targets a rule has.
pub const MAX_TARGETS: usize = 5;
/// The largest `PutEvents` request (the entries' sizes added up), in bytes.
pub const MAX_PUT_EVENTS_BYTES: usize = 256 * 1024;
/// The default and largest page of the List operations.
const PAGE: usize = 100;

/// The Amazon EventBridge model (compiled on first use).
pub fn model() -> &'static Model {
    MODEL()
}

pub(crate) struct Inner {
    pub(crate) state: EventStore,
    connections: RwLock<Connections>,
    patterns: Mutex<HashMap<String, Arc<Pattern>>>,
}

/// The Amazon EventBridge service (cheap to clone: clones share their state).
#[derive(Clone)]
pub struct Events {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl Events {
    /// Amazon EventBridge keeping its state in `store`.
    pub fn new(store: Store) -> Events {
        Events {
            inner: Arc::new(Inner {
                state: EventStore::new(store),
                connections: RwLock::new(Connections::default()),
                patterns: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn connect(&self, f: impl FnOnce(&mut Connections)) {
        if let Ok(mut c) = self.inner.connections.write() {
            f(&mut c);
        }
    }

    /// SQS targets deliver through `queues`.
    pub fn with_queue_sink(self, queues: Arc<dyn QueueSink>) -> Events {
        self.connect(|c| c.queues = Some(queues));
        self
    }

    /// Lambda targets deliver through `functions`.
    pub fn with_function_invoker(self, functions: Arc<dyn FunctionInvoker>) -> Events {
        self.connect(|c| c.functions = Some(functions));
        self
    }

    /// SNS targets publish through `topics` (the integrator wires SNS here once it exists).
    pub fn with_topic_publisher(self, topics: Arc<dyn TopicPublisher>) -> Events {
        self.connect(|c| c.topics = Some(topics));
        self
    }

    fn connections(&self) -> Connections {
        self.inner
            .connections
            .read()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// The compiled pattern of a rule (cached by its text).
    fn pattern(&self, text: &str) -> Option<Arc<Pattern>> {
        if let Ok(cache) = self.inner.patterns.lock()
            && let Some(p) = cache.get(text)
        {
            return Some(p.clone());
        }
        let compiled = Arc::new(Pattern::parse(text).ok()?);
        if let Ok(mut cache) = self.inner.patterns.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(text.to_owned(), compiled.clone());
        }
        Some(compiled)
    }

    /// Routes an accepted event on `bus` of `account`/`region` to its matching rules' targets,
    /// following bus targets up to [`route::MAX_HOPS`] times.
    pub(crate) async fn route(
        &self,
        account: String,
        region: String,
        bus: String,
        envelope: Envelope,
    ) {
        let connections = self.connections();
        let event = envelope.to_json();
        let mut buses = vec![(account, region, bus)];
        for _ in 0..route::MAX_HOPS {
            let mut next = Vec::new();
            for (account, region, bus) in buses {
                let rules =
                    match self
                        .inner
                        .state
                        .rules(&account, &region, &bus, "", None, usize::MAX)
                    {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::warn!("EventBridge cannot read the rules of bus {bus}: {e}");
                            continue;
                        }
                    };
                for rule in rules.iter().filter(|r| r.enabled()) {
                    let Some(text) = &rule.event_pattern else {
                        continue;
                    };
                    if !self.pattern(text).is_some_and(|p| p.matches(&event)) {
                        continue;
                    }
                    for target in rule.targets.iter().filter_map(route::stored_target) {
                        if let Delivered::Bus(r, a, name) = route::deliver(
                            &connections,
                            &account,
                            &region,
                            rule,
                            &target,
                            &envelope,
                            &event,
                        )
                        .await
                        {
                            next.push((a, r, name));
                        }
                    }
                }
            }
            if next.is_empty() {
                return;
            }
            buses = next;
        }
        tracing::warn!(
            "EventBridge stopped event {} after {} bus-to-bus hops",
            envelope.id,
            route::MAX_HOPS
        );
    }

    /// Delivers `envelope` to every target of one rule (scheduled events).
    pub(crate) async fn deliver_to_rule(
        &self,
        at: &RuleRef,
        rule: &RuleRecord,
        envelope: Envelope,
    ) {
        let connections = self.connections();
        let event = envelope.to_json();
        for target in rule.targets.iter().filter_map(route::stored_target) {
            if let Delivered::Bus(r, a, name) = route::deliver(
                &connections,
                &at.account,
                &at.region,
                rule,
                &target,
                &envelope,
                &event,
            )
            .await
            {
                self.route(a, r, name, envelope.clone()).await;
            }
        }
    }
}

skyport_core::store_state_control!(Events, this => this.inner.state.store());

#[async_trait::async_trait]
impl Service for Events {
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
        Endpoint::new(MODEL())
            .body_limit(2 << 20)
            .serve(self, ctx, request)
            .await
    }
}

#[async_trait::async_trait]
impl Handler for Events {
    fn implemented(&self) -> &'static [&'static str] {
        OPERATIONS
    }

    async fn handle(
        &self,
        ctx: &mut RequestContext,
        operation: &'static Operation,
        input: skyport_wire::Value,
    ) -> Result<skyport_wire::Value, ApiError> {
        shapes::dispatch(self, ctx, operation, input).await
    }
}

// ---------------------------------------------------------------------------------------------------
// Errors and names

fn store_error(e: &StoreError) -> ApiError {
    AwsError::storage(
        &e.into(),
        StorageCodes {
            unavailable: "ServiceUnavailableException",
            internal: "InternalException",
        },
    )
    .into()
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> ApiError {
        match e {
            StateError::BusNotFound(_) | StateError::RuleNotFound { .. } => {
                errors::resource_not_found_exception(e.to_string())
            }
            StateError::BusExists(_) => errors::resource_already_exists_exception(e.to_string()),
            StateError::Store(e) => store_error(&e),
        }
    }
}

fn from_store(e: StoreError) -> ApiError {
    store_error(&e)
}

/// The bus an `EventBusName` (a name or an ARN) names; `default` when absent.
fn bus_name(input: Option<&str>) -> String {
    match input {
        None | Some("") => DEFAULT_BUS.to_owned(),
        Some(arn) if arn.starts_with("arn:") => route::parse_bus_arn(arn)
            .map(|(_, _, name)| name)
            .unwrap_or_else(|| arn.to_owned()),
        Some(name) => name.to_owned(),
    }
}

fn rule_ref(ctx: &RequestContext, bus: Option<&str>, rule: &str) -> RuleRef {
    RuleRef {
        account: ctx.account.clone(),
        region: ctx.region.clone(),
        bus: bus_name(bus),
        rule: rule.to_owned(),
    }
}

fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn tag_list(tags: &BTreeMap<String, String>) -> Vec<shapes::Tag> {
    tags.iter()
        .map(|(k, v)| shapes::Tag {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

fn tag_map(tags: Option<Vec<shapes::Tag>>) -> BTreeMap<String, String> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect()
}

/// `Event pattern is not valid. Reason: ...`, as `PutRule` and `TestEventPattern` answer.
fn pattern_error(e: &PatternError) -> ApiError {
    errors::invalid_event_pattern_exception(format!("Event pattern is not valid. Reason: {e}"))
}

fn page_token(last: &str) -> String {
    format!("1.{last}")
}

fn read_token(token: Option<&str>) -> Result<Option<String>, ApiError> {
    match token {
        None => Ok(None),
        Some(t) => t
            .strip_prefix("1.")
            .map(|s| Some(s.to_owned()))
            .ok_or_else(|| ApiError::validation("The NextToken provided is invalid.")),
    }
}

fn limit(limit: Option<i32>) -> usize {
    limit.map_or(PAGE, |l| usize::try_from(l).unwrap_or(PAGE).clamp(1, PAGE))
}

/// Where a resource ARN (a bus or a rule) points.
enum Resource {
    Bus(String),
    Rule(RuleRef),
}

fn parse_resource(ctx: &RequestContext, arn: &str) -> Result<Resource, ApiError> {
    let not_found = || errors::resource_not_found_exception(format!("Resource {arn} not found."));
    let parsed = skyport_core::arn::Arn::parse(arn)
        .ok()
        .filter(|a| a.service == "events")
        .ok_or_else(|| ApiError::validation(format!("Parameter {arn} is not valid.")))?;
    if parsed.account != ctx.account || parsed.region != ctx.region {
        return Err(not_found());
    }
    if let Some(name) = parsed.resource.strip_prefix("event-bus/") {
        return Ok(Resource::Bus(name.to_owned()));
    }
    if let Some(rest) = parsed.resource.strip_prefix("rule/") {
        let (bus, rule) = rest.split_once('/').unwrap_or((DEFAULT_BUS, rest));
        return Ok(Resource::Rule(rule_ref(ctx, Some(bus), rule)));
    }
    Err(not_found())
}

// ---------------------------------------------------------------------------------------------------
// Wire shapes

fn describe_rule_shape(at: &RuleRef, rule: &RuleRecord) -> shapes::DescribeRuleResponse {
    shapes::DescribeRuleResponse {
        name: Some(rule.name.clone()),
        arn: Some(route::rule_arn(
            &at.region,
            &at.account,
            &at.bus,
            &rule.name,
        )),
        event_pattern: rule.event_pattern.clone(),
        schedule_expression: rule.schedule.clone(),
        state: Some(rule.state.clone()),
        description: rule.description.clone(),
        role_arn: rule.role_arn.clone(),
        managed_by: None,
        event_bus_name: Some(rule.bus.clone()),
        created_by: Some(at.account.clone()),
    }
}

fn rule_shape(at: &RuleRef, rule: &RuleRecord) -> shapes::Rule {
    let d = describe_rule_shape(at, rule);
    shapes::Rule {
        name: d.name,
        arn: d.arn,
        event_pattern: d.event_pattern,
        state: d.state,
        description: d.description,
        schedule_expression: d.schedule_expression,
        role_arn: d.role_arn,
        managed_by: None,
        event_bus_name: d.event_bus_name,
    }
}

// ---------------------------------------------------------------------------------------------------
// Validation of rules and targets

fn validate_state(state: Option<&str>) -> String {
    state.unwrap_or("ENABLED").to_owned()
}

fn validate_target(target: &shapes::Target) -> Result<(), ApiError> {
    let inputs = usize::from(target.input.is_some())
        + usize::from(target.input_path.is_some())
        + usize::from(target.input_transformer.is_some());
    if inputs > 1 {
        return Err(ApiError::validation(format!(
            "Only one of Input, InputPath, or InputTransformer must be provided for target {}.",
            target.id
        )));
    }
    if route::arn_service(&target.arn).is_none() {
        return Err(ApiError::validation(format!(
            "Parameter {} is not valid.",
            target.arn
        )));
    }
    if let Some(input) = &target.input
        && serde_json::from_str::<Value>(input).is_err()
    {
        return Err(ApiError::validation(format!(
            "Input for target {} is not valid JSON text.",
            target.id
        )));
    }
    if let Some(path) = &target.input_path
        && JsonPath::parse(path).is_err()
    {
        return Err(ApiError::validation(format!(
            "Invalid InputPath for target {}.",
            target.id
        )));
    }
    if let Some(t) = &target.input_transformer {
        Transformer::new(
            &t.input_paths_map.clone().unwrap_or_default(),
            &t.input_template,
        )
        .map_err(|e| match e {
            TransformError::Placeholder(p) => ApiError::validation(format!(
                "InputTemplate for target {} contains invalid placeholder {p}.",
                target.id
            )),
            other => ApiError::validation(format!(
                "InputTransformer for target {} is not valid: {other}",
                target.id
            )),
        })?;
    }
    if route::arn_service(&target.arn).as_deref() == Some("sqs")
        && target.arn.ends_with(".fifo")
        && target
            .sqs_parameters
            .as_ref()
            .and_then(|p| p.message_group_id.as_ref())
            .is_none()
    {
        return Err(ApiError::validation(format!(
            "Parameter(s) SqsParameters must be specified for target: {}.",
            target.id
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// PutEvents

/// One entry's refusal: its `ErrorCode` and `ErrorMessage`.
type EntryError = (&'static str, String);

fn required(field: &str) -> EntryError {
    (
        "InvalidArgument",
        format!("Parameter {field} is not valid. Reason: {field} is a required argument."),
    )
}

/// The size AWS counts for an entry: its strings, plus 14 bytes when it has a `Time`.
fn entry_size(e: &shapes::PutEventsRequestEntry) -> usize {
    let strings = [&e.source, &e.detail_type, &e.detail, &e.event_bus_name]
        .iter()
        .filter_map(|s| s.as_ref().map(String::len))
        .sum::<usize>();
    let resources: usize = e.resources.iter().flatten().map(String::len).sum();
    strings + resources + if e.time.is_some() { 14 } else { 0 }
}

/// Checks one entry; the detail parsed.
fn check_entry(e: &shapes::PutEventsRequestEntry) -> Result<Value, EntryError> {
    let source = e.source.as_deref().unwrap_or("");
    if source.is_empty() {
        return Err(required("Source"));
    }
    if e.detail_type.as_deref().unwrap_or("").is_empty() {
        return Err(required("DetailType"));
    }
    let Some(detail) = e.detail.as_deref().filter(|d| !d.is_empty()) else {
        return Err(required("Detail"));
    };
    if source.starts_with("aws.") {
        return Err((
            "NotAuthorizedForSourceException",
            "Not authorized for the source.".to_owned(),
        ));
    }
    match serde_json::from_str::<Value>(detail) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(("MalformedDetail", "Detail is malformed.".to_owned())),
    }
}

fn iso_seconds(ms: i64) -> String {
    let at =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    skyport_core::timefmt::iso8601_seconds(at)
}

/// What [`Events::accept`] takes: one event for one bus.
pub(crate) struct Accepted {
    pub account: String,
    pub region: String,
    pub bus: String,
    pub source: String,
    pub detail_type: String,
    pub detail: Value,
    pub resources: Vec<String>,
    pub time_ms: Option<i64>,
}

impl Events {
    /// Builds the envelope of an accepted event and routes it in the background; its id.
    pub(crate) fn accept(&self, event: Accepted) -> String {
        let now = now_millis();
        let id = skyport_core::ids::uuid();
        let envelope = Envelope {
            id: id.clone(),
            detail_type: event.detail_type,
            source: event.source,
            account: event.account.clone(),
            time: iso_seconds(event.time_ms.unwrap_or(now)),
            region: event.region.clone(),
            resources: event.resources,
            detail: event.detail,
            ingestion_time: iso_seconds(now),
        };
        let me = self.clone();
        tokio::spawn(async move {
            me.route(event.account, event.region, event.bus, envelope)
                .await;
        });
        id
    }
}

// ---------------------------------------------------------------------------------------------------
// Operations

#[async_trait::async_trait]
impl EventsApi for Events {
    async fn create_event_bus(
        &self,
        ctx: &mut RequestContext,
        input: shapes::CreateEventBusRequest,
    ) -> Result<shapes::CreateEventBusResponse, ApiError> {
        match &input.event_source_name {
            None if input.name.contains('/') => {
                return Err(ApiError::validation("Event bus name must not contain '/'."));
            }
            None => {}
            Some(source) if *source != input.name => {
                return Err(ApiError::validation(
                    "Event bus name must match event source name.",
                ));
            }
            // Skyport has no partner event sources, so a partner bus has nothing to attach to.
            Some(source) => {
                return Err(errors::resource_not_found_exception(format!(
                    "Event source {source} does not exist."
                )));
            }
        }
        let now = now_millis();
        let bus = BusRecord {
            name: input.name.clone(),
            created: now,
            modified: now,
            description: input.description.clone(),
            kms_key: input.kms_key_identifier.clone(),
            tags: tag_map(input.tags),
        };
        self.inner
            .state
            .create_bus(&ctx.account, &ctx.region, bus)
            .await?;
        Ok(shapes::CreateEventBusResponse {
            event_bus_arn: Some(route::bus_arn(&ctx.region, &ctx.account, &input.name)),
            description: input.description,
            kms_key_identifier: input.kms_key_identifier,
            ..Default::default()
        })
    }

    async fn delete_event_bus(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteEventBusRequest,
    ) -> Result<(), ApiError> {
        if input.name == DEFAULT_BUS {
            return Err(ApiError::validation("Cannot delete event bus default."));
        }
        // Deleting a bus that does not exist succeeds, as in AWS.
        self.inner
            .state
            .delete_bus(&ctx.account, &ctx.region, &input.name)
            .await
            .map_err(from_store)?;
        Ok(())
    }

    async fn describe_event_bus(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DescribeEventBusRequest,
    ) -> Result<shapes::DescribeEventBusResponse, ApiError> {
        let name = bus_name(input.name.as_deref());
        let bus = self
            .inner
            .state
            .bus(&ctx.account, &ctx.region, &name)
            .await?;
        Ok(shapes::DescribeEventBusResponse {
            name: Some(bus.name.clone()),
            arn: Some(route::bus_arn(&ctx.region, &ctx.account, &bus.name)),
            description: bus.description,
            kms_key_identifier: bus.kms_key,
            creation_time: Some(timestamp(bus.created)),
            last_modified_time: Some(timestamp(bus.modified)),
            ..Default::default()
        })
    }

    async fn list_event_buses(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListEventBusesRequest,
    ) -> Result<shapes::ListEventBusesResponse, ApiError> {
        let after = read_token(input.next_token.as_deref())?;
        let limit = limit(input.limit);
        let mut buses = self
            .inner
            .state
            .buses(
                &ctx.account,
                &ctx.region,
                input.name_prefix.as_deref().unwrap_or(""),
                after.as_deref(),
                limit + 1,
            )
            .await
            .map_err(from_store)?;
        let next_token = (buses.len() > limit).then(|| {
            buses.truncate(limit);
            page_token(&buses[limit - 1].name)
        });
        Ok(shapes::ListEventBusesResponse {
            event_buses: Some(
                buses
                    .into_iter()
                    .map(|b| shapes::EventBus {
                        arn: Some(route::bus_arn(&ctx.region, &ctx.account, &b.name)),
                        name: Some(b.name),
                        description: b.description,
                        creation_time: Some(timestamp(b.created)),
                        last_modified_time: Some(timestamp(b.modified)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            next_token,
        })
    }

    async fn put_rule(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PutRuleRequest,
    ) -> Result<shapes::PutRuleResponse, ApiError> {
        let at = rule_ref(ctx, input.event_bus_name.as_deref(), &input.name);
        if input.event_pattern.is_none() && input.schedule_expression.is_none() {
            return Err(ApiError::validation(
                "Parameter(s) EventPattern or ScheduleExpression must be specified.",
            ));
        }
        if let Some(pattern) = &input.event_pattern {
            Pattern::parse(pattern).map_err(|e| pattern_error(&e))?;
        }
        if let Some(schedule) = &input.schedule_expression {
            if at.bus != DEFAULT_BUS {
                return Err(ApiError::validation(
                    "ScheduleExpression is supported only on the default event bus.",
                ));
            }
            Schedule::parse(schedule).map_err(|e| ApiError::validation(e.to_string()))?;
        }
        self.inner
            .state
            .bus(&at.account, &at.region, &at.bus)
            .await?;
        // PutRule replaces a rule's settings and keeps its targets (and tags when none are given).
        let existing = match self.inner.state.rule(&at) {
            Ok(rule) => Some(rule),
            Err(StateError::RuleNotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let tags = match (&existing, input.tags) {
            (Some(rule), None) => rule.tags.clone(),
            (_, tags) => tag_map(tags),
        };
        let rule = RuleRecord {
            name: input.name.clone(),
            bus: at.bus.clone(),
            event_pattern: input.event_pattern,
            schedule: input.schedule_expression,
            state: validate_state(input.state.as_deref()),
            description: input.description,
            role_arn: input.role_arn,
            tags,
            targets: existing
                .as_ref()
                .map(|r| r.targets.clone())
                .unwrap_or_default(),
            created: existing.as_ref().map_or_else(now_millis, |r| r.created),
        };
        self.inner
            .state
            .put_rule(&at, rule)
            .await
            .map_err(from_store)?;
        Ok(shapes::PutRuleResponse {
            rule_arn: Some(route::rule_arn(&at.region, &at.account, &at.bus, &at.rule)),
        })
    }

    async fn describe_rule(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DescribeRuleRequest,
    ) -> Result<shapes::DescribeRuleResponse, ApiError> {
        let at = rule_ref(ctx, input.event_bus_name.as_deref(), &input.name);
        let rule = self.inner.state.rule(&at)?;
        Ok(describe_rule_shape(&at, &rule))
    }

    async fn list_rules(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListRulesRequest,
    ) -> Result<shapes::ListRulesResponse, ApiError> {
        let bus = bus_name(input.event_bus_name.as_deref());
        self.inner
            .state
            .bus(&ctx.account, &ctx.region, &bus)
            .await?;
        let after = read_token(input.next_token.as_deref())?;
        let limit = limit(input.limit);
        let mut rules = self
            .inner
            .state
            .rules(
                &ctx.account,
                &ctx.region,
                &bus,
                input.name_prefix.as_deref().unwrap_or(""),
                after.as_deref(),
                limit + 1,
            )
            .map_err(from_store)?;
        let next_token = (rules.len() > limit).then(|| {
            rules.truncate(limit);
            page_token(&rules[limit - 1].name)
        });
        let at = rule_ref(ctx, Some(&bus), "");
        Ok(shapes::ListRulesResponse {
            rules: Some(rules.iter().map(|r| rule_shape(&at, r)).collect()),
            next_token,
        })
    }

    async fn delete_rule(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteRuleRequest,
    ) -> Result<(), ApiError> {
        let at = rule_ref(ctx, input.event_bus_name.as_deref(), &input.name);
        match self.inner.state.rule(&at) {
            // Deleting a rule that does not exist succeeds, as in AWS.
            Err(StateError::RuleNotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
            Ok(rule) if !rule.targets.is_empty() => {
                return Err(ApiError::validation(
                    "Rule can't be deleted since it has targets.",
                ));
            }
            Ok(_) => {}
        }
        self.inner
            .state
            .delete_rule(&at)
            .await
            .map_err(from_store)?;
        Ok(())
    }

    async fn enable_rule(
        &self,
        ctx: &mut RequestContext,
        input: shapes::EnableRuleRequest,
    ) -> Result<(), ApiError> {
        let at = rule_ref(ctx, input.event_bus_name.as_deref(), &input.name);
        self.set_rule_state(&at, "ENABLED").await
    }

    async fn disable_rule(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DisableRuleRequest,
    ) -> Result<(), ApiError> {
        let at = rule_ref(ctx, input.event_bus_name.as_deref(), &input.name);
        self.set_rule_state(&at, "DISABLED").await
    }

    async fn put_targets(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PutTargetsRequest,
    ) -> Result<shapes::PutTargetsResponse, ApiError> {
        let at = rule_ref(ctx, input.event_bus_name.as_deref(), &input.rule);
        for target in &input.targets {
            validate_target(target)?;
        }
        let mut stored = Vec::with_capacity(input.targets.len());
        for target in input.targets {
            let id = target.id.clone();
            let json =
                persist::to_json(model(), "Target", target).map_err(|e| ApiError::internal(e.0))?;
            stored.push((id, json));
        }
        self.inner
            .state
            .update_rule(&at, move |rule| {
                for (id, json) in stored {
                    let same = rule
                        .targets
                        .iter()
                        .position(|t| t.get("Id").and_then(Value::as_str) == Some(id.as_str()));
                    match same {
                        Some(i) => rule.targets[i] = json,
                        None => rule.targets.push(json),
                    }
                }
                if rule.targets.len() > MAX_TARGETS {
                    return Err(errors::limit_exceeded_exception(
                        "The requested resource exceeds the maximum number allowed.",
                    ));
                }
                Ok(())
            })
            .await??;
        Ok(shapes::PutTargetsResponse {
            failed_entry_count: Some(0),
            failed_entries: Some(Vec::new()),
        })
    }

    async fn remove_targets(
        &self,
        ctx: &mut RequestContext,
        input: shapes::RemoveTargetsRequest,
    ) -> Result<shapes::RemoveTargetsResponse, ApiError> {
        let at = rule_ref(ctx, input.event_bus_name.as_deref(), &input.rule);
        let ids = input.ids;
        self.inner
            .state
            .update_rule(&at, move |rule| {
                rule.targets.retain(|t| {
                    !t.get("Id")
                        .and_then(Value::as_str)
                        .is_some_and(|id| ids.iter().any(|i| i == id))
                });
                Ok::<(), ()>(())
            })
            .await?
            .ok();
        Ok(shapes::RemoveTargetsResponse {
            failed_entry_count: Some(0),
            failed_entries: Some(Vec::new()),
        })
    }

    async fn list_targets_by_rule(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListTargetsByRuleRequest,
    ) -> Result<shapes::ListTargetsByRuleResponse, ApiError> {
        let at = rule_ref(ctx, input.event_bus_name.as_deref(), &input.rule);
        let rule = self.inner.state.rule(&at)?;
        let after = read_token(input.next_token.as_deref())?;
        let limit = limit(input.limit);
        let targets: Vec<shapes::Target> = rule
            .targets
            .iter()
            .filter_map(route::stored_target)
            .collect();
        let start = after
            .and_then(|id| targets.iter().position(|t| t.id == id).map(|i| i + 1))
            .unwrap_or(0);
        let page: Vec<shapes::Target> = targets.iter().skip(start).take(limit).cloned().collect();
        let next_token = (start + page.len() < targets.len())
            .then(|| page.last().map(|t| page_token(&t.id)))
            .flatten();
        Ok(shapes::ListTargetsByRuleResponse {
            targets: Some(page),
            next_token,
        })
    }

    async fn list_rule_names_by_target(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListRuleNamesByTargetRequest,
    ) -> Result<shapes::ListRuleNamesByTargetResponse, ApiError> {
        let bus = bus_name(input.event_bus_name.as_deref());
        self.inner
            .state
            .bus(&ctx.account, &ctx.region, &bus)
            .await?;
        let after = read_token(input.next_token.as_deref())?;
        let limit = limit(input.limit);
        let rules = self
            .inner
            .state
            .rules(
                &ctx.account,
                &ctx.region,
                &bus,
                "",
                after.as_deref(),
                usize::MAX,
            )
            .map_err(from_store)?;
        let mut names: Vec<String> = rules
            .into_iter()
            .filter(|r| {
                r.targets.iter().any(|t| {
                    t.get("Arn").and_then(Value::as_str) == Some(input.target_arn.as_str())
                })
            })
            .map(|r| r.name)
            .take(limit + 1)
            .collect();
        let next_token = (names.len() > limit).then(|| {
            names.truncate(limit);
            page_token(&names[limit - 1])
        });
        Ok(shapes::ListRuleNamesByTargetResponse {
            rule_names: Some(names),
            next_token,
        })
    }

    async fn test_event_pattern(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::TestEventPatternRequest,
    ) -> Result<shapes::TestEventPatternResponse, ApiError> {
        let pattern = Pattern::parse(&input.event_pattern).map_err(|e| pattern_error(&e))?;
        let event: Value = serde_json::from_str(&input.event)
            .map_err(|_| ApiError::validation("Parameter Event is not valid."))?;
        let complete = ["id", "account", "source", "time", "region", "detail-type"]
            .iter()
            .all(|k| event.get(k).is_some());
        if !complete {
            return Err(ApiError::validation("Parameter Event is not valid."));
        }
        Ok(shapes::TestEventPatternResponse {
            result: Some(pattern.matches(&event)),
        })
    }

    async fn put_events(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PutEventsRequest,
    ) -> Result<shapes::PutEventsResponse, ApiError> {
        let size: usize = input.entries.iter().map(entry_size).sum();
        if size > MAX_PUT_EVENTS_BYTES {
            return Err(ApiError::validation(
                "Total size of the entries in the request is over the limit.",
            ));
        }
        let mut results = Vec::with_capacity(input.entries.len());
        let mut failed = 0;
        for entry in input.entries {
            let outcome = match check_entry(&entry) {
                Err(e) => Err(e),
                Ok(detail) => {
                    let bus = bus_name(entry.event_bus_name.as_deref());
                    match self.inner.state.bus(&ctx.account, &ctx.region, &bus).await {
                        Err(StateError::BusNotFound(_)) => Err((
                            "ResourceNotFoundException",
                            format!("Event bus {bus} does not exist."),
                        )),
                        Err(e) => return Err(e.into()),
                        Ok(_) => Ok(self.accept(Accepted {
                            account: ctx.account.clone(),
                            region: ctx.region.clone(),
                            bus,
                            source: entry.source.unwrap_or_default(),
                            detail_type: entry.detail_type.unwrap_or_default(),
                            detail,
                            resources: entry.resources.unwrap_or_default(),
                            time_ms: entry.time.map(Timestamp::millis),
                        })),
                    }
                }
            };
            results.push(match outcome {
                Ok(id) => shapes::PutEventsResultEntry {
                    event_id: Some(id),
                    ..Default::default()
                },
                Err((code, message)) => {
                    failed += 1;
                    shapes::PutEventsResultEntry {
                        event_id: None,
                        error_code: Some(code.to_owned()),
                        error_message: Some(message),
                    }
                }
            });
        }
        Ok(shapes::PutEventsResponse {
            failed_entry_count: Some(failed),
            entries: Some(results),
        })
    }

    async fn tag_resource(
        &self,
        ctx: &mut RequestContext,
        input: shapes::TagResourceRequest,
    ) -> Result<shapes::TagResourceResponse, ApiError> {
        let add = tag_map(Some(input.tags));
        self.change_tags(ctx, &input.resource_arn, move |tags| tags.extend(add))
            .await?;
        Ok(shapes::TagResourceResponse {})
    }

    async fn untag_resource(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UntagResourceRequest,
    ) -> Result<shapes::UntagResourceResponse, ApiError> {
        let keys = input.tag_keys;
        self.change_tags(ctx, &input.resource_arn, move |tags| {
            for k in &keys {
                tags.remove(k);
            }
        })
        .await?;
        Ok(shapes::UntagResourceResponse {})
    }

    async fn list_tags_for_resource(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListTagsForResourceRequest,
    ) -> Result<shapes::ListTagsForResourceResponse, ApiError> {
        let tags = match parse_resource(ctx, &input.resource_arn)? {
            Resource::Bus(name) => {
                self.inner
                    .state
                    .bus(&ctx.account, &ctx.region, &name)
                    .await?
                    .tags
            }
            Resource::Rule(at) => self.inner.state.rule(&at)?.tags,
        };
        Ok(shapes::ListTagsForResourceResponse {
            tags: Some(tag_list(&tags)),
        })
    }
}

impl Events {
    async fn set_rule_state(&self, at: &RuleRef, state: &'static str) -> Result<(), ApiError> {
        self.inner
            .state
            .update_rule(at, move |r| {
                r.state = state.to_owned();
                Ok::<(), ()>(())
            })
            .await?
            .ok();
        Ok(())
    }

    async fn change_tags(
        &self,
        ctx: &RequestContext,
        arn: &str,
        change: impl FnOnce(&mut BTreeMap<String, String>) + Send + 'static,
    ) -> Result<(), ApiError> {
        match parse_resource(ctx, arn)? {
            Resource::Bus(name) => {
                self.inner
                    .state
                    .update_bus(&ctx.account, &ctx.region, &name, move |b| {
                        change(&mut b.tags);
                        b.modified = now_millis();
                    })
                    .await?;
            }
            Resource::Rule(at) => {
                self.inner
                    .state
                    .update_rule(&at, move |r| {
                        change(&mut r.tags);
                        Ok::<(), ()>(())
                    })
                    .await?
                    .ok();
            }
        }
        Ok(())
    }
}

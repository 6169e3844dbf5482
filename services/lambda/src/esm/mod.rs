//! Event source mappings: SQS queues and DynamoDB streams feeding functions. The control plane
//! (Create/Get/List/Update/DeleteEventSourceMapping, with AWS's validation, states and errors; the
//! stream settings in [`stream`]), the records in Lambda's store (table `event_source_mappings`, by
//! UUID), and the pollers each enabled mapping runs ([`poller`] for queues, [`stream_poller`] for
//! streams); they are started again when Skyport restarts, streams from their checkpoints.
//!
//! States as AWS reports them: a new mapping answers `Creating` and becomes `Enabled` (or
//! `Disabled`); an update answers `Enabling`, `Disabling` or `Updating` and settles; a delete answers
//! `Deleting` and the mapping is gone.

pub mod filter;
pub mod poller;
pub mod sqs_event;
pub mod stream;
pub mod stream_poller;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use skyport_core::bus::{BusError, QueueSource, StreamSource};
use skyport_core::store::{Store, StoreError};
use skyport_wire::{ApiError, Timestamp, persist};
use tokio::sync::watch;

use crate::destinations::Deliverer;
use crate::errors;
use crate::shapes::{
    CreateEventSourceMappingRequest, EventSourceMappingConfiguration, InvocationResponse,
    UpdateEventSourceMappingRequest,
};
use filter::{FilterError, Filters};
use poller::PollerConfig;
use stream_poller::{StreamPollerConfig, StreamPollerDeps};

/// The store table of mappings.
pub const TABLE: &str = "event_source_mappings";

/// Pollers per mapping when `ScalingConfig.MaximumConcurrency` is not set (AWS starts with five).
const DEFAULT_CONCURRENCY: usize = 5;

/// Runs a function synchronously for a batch (implemented by Lambda for its pollers).
#[async_trait::async_trait]
pub trait BatchInvoker: Send + Sync {
    /// Invokes `function_arn` (qualified or not) in `account`/`region` with `payload`.
    async fn invoke_batch(
        &self,
        account: &str,
        region: &str,
        function_arn: &str,
        payload: Bytes,
    ) -> Result<InvocationResponse, ApiError>;
}

/// A stored mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
    /// The configuration as the API returns it.
    pub config: EventSourceMappingConfiguration,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    account: String,
    region: String,
    config: serde_json::Value,
}

fn codec(e: impl std::fmt::Display) -> StoreError {
    StoreError::Codec(serde_json::Error::io(std::io::Error::other(e.to_string())))
}

impl Mapping {
    fn encode(&self) -> Result<Vec<u8>, StoreError> {
        let config = persist::to_json(
            crate::model(),
            "EventSourceMappingConfiguration",
            self.config.clone(),
        )
        .map_err(|e| codec(e.0))?;
        Ok(serde_json::to_vec(&Stored {
            account: self.account.clone(),
            region: self.region.clone(),
            config,
        })?)
    }

    fn decode(bytes: &[u8]) -> Result<Mapping, StoreError> {
        let stored: Stored = serde_json::from_slice(bytes)?;
        Ok(Mapping {
            account: stored.account,
            region: stored.region,
            config: persist::from_json(
                crate::model(),
                "EventSourceMappingConfiguration",
                &stored.config,
            )
            .map_err(|e| codec(e.0))?,
        })
    }

    fn uuid(&self) -> String {
        self.config.uuid.clone().unwrap_or_default()
    }
}

/// The function a mapping invokes, as the API layer resolved it.
#[derive(Debug, Clone)]
pub struct FunctionTarget {
    /// The ARN (qualified when a version or alias was named).
    pub arn: String,
    /// Its `Timeout`, in seconds.
    pub timeout: i32,
}

fn store_error(e: StoreError) -> ApiError {
    errors::service(format!("The event source mapping could not be stored: {e}"))
}

fn not_found() -> ApiError {
    errors::not_found("The resource you requested does not exist.")
}

fn filter_error(e: FilterError) -> ApiError {
    errors::invalid_parameter(e.to_string())
}

/// What a mapping reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceKind {
    /// An SQS queue.
    Queue,
    /// A DynamoDB stream.
    Stream,
}

impl SourceKind {
    fn of(arn: &str) -> Option<SourceKind> {
        if stream::is_stream_arn(arn) {
            Some(SourceKind::Stream)
        } else if arn.split(':').nth(2) == Some("sqs") {
            Some(SourceKind::Queue)
        } else {
            None
        }
    }

    fn of_config(c: &EventSourceMappingConfiguration) -> SourceKind {
        match c.event_source_arn.as_deref().and_then(SourceKind::of) {
            Some(kind) => kind,
            None => SourceKind::Queue,
        }
    }

    /// `StateTransitionReason` after a change through the API.
    fn user_reason(self) -> &'static str {
        match self {
            SourceKind::Queue => "USER_INITIATED",
            SourceKind::Stream => stream::USER_ACTION,
        }
    }
}

/// The mappings and their running pollers.
pub struct Mappings {
    store: Store,
    source: OnceLock<Arc<dyn QueueSource>>,
    streams: OnceLock<Arc<dyn StreamSource>>,
    invoker: OnceLock<Arc<dyn BatchInvoker>>,
    deliverer: Arc<Deliverer>,
    running: Mutex<HashMap<String, watch::Sender<bool>>>,
}

impl std::fmt::Debug for Mappings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mappings").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Mappings {
    /// Mappings kept in `store`; stream mappings send discarded batches through `deliverer`.
    pub fn new(store: Store, deliverer: Arc<Deliverer>) -> Mappings {
        Mappings {
            store,
            source: OnceLock::new(),
            streams: OnceLock::new(),
            invoker: OnceLock::new(),
            deliverer,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Wires the queues the pollers read and the function runner they call.
    pub fn connect(&self, source: Arc<dyn QueueSource>, invoker: Arc<dyn BatchInvoker>) {
        let _ = self.source.set(source);
        let _ = self.invoker.set(invoker);
    }

    /// Wires the streams the pollers read and the function runner they call.
    pub fn connect_streams(&self, source: Arc<dyn StreamSource>, invoker: Arc<dyn BatchInvoker>) {
        let _ = self.streams.set(source);
        let _ = self.invoker.set(invoker);
    }

    fn source(&self) -> Result<&Arc<dyn QueueSource>, ApiError> {
        self.source
            .get()
            .ok_or_else(|| errors::service("SQS is not available to Lambda"))
    }

    fn streams(&self) -> Result<&Arc<dyn StreamSource>, ApiError> {
        self.streams
            .get()
            .ok_or_else(|| errors::service("DynamoDB Streams is not available to Lambda"))
    }

    /// The configuration as the API reports it: a stream mapping's `LastProcessingResult` is the
    /// one its pollers wrote last.
    fn reported(
        &self,
        mut config: EventSourceMappingConfiguration,
    ) -> EventSourceMappingConfiguration {
        if SourceKind::of_config(&config) == SourceKind::Stream
            && let Some(uuid) = config.uuid.as_deref()
            && let Some(result) = stream::last_result(&self.store, uuid)
        {
            config.last_processing_result = Some(result);
        }
        config
    }

    fn all(&self) -> Result<Vec<Mapping>, ApiError> {
        self.store
            .read(|r| {
                r.scan_prefix(TABLE, "", None, usize::MAX)?
                    .into_iter()
                    .map(|(_, v)| Mapping::decode(&v))
                    .collect()
            })
            .map_err(store_error)
    }

    fn get_mapping(&self, uuid: &str) -> Result<Mapping, ApiError> {
        self.store
            .get(TABLE, uuid)
            .map_err(store_error)?
            .map(|b| Mapping::decode(&b))
            .transpose()
            .map_err(store_error)?
            .ok_or_else(not_found)
    }

    async fn put(&self, mapping: &Mapping) -> Result<(), ApiError> {
        let key = mapping.uuid();
        let bytes = mapping.encode().map_err(store_error)?;
        self.store
            .write_async(move |w| w.put(TABLE, &key, &bytes))
            .await
            .map_err(store_error)
    }

    /// `CreateEventSourceMapping` for `function`.
    pub async fn create(
        self: &Arc<Self>,
        account: &str,
        region: &str,
        partition: &str,
        input: CreateEventSourceMappingRequest,
        function: FunctionTarget,
    ) -> Result<EventSourceMappingConfiguration, ApiError> {
        let Some(source_arn) = input.event_source_arn.clone() else {
            return Err(errors::invalid_parameter(
                "Unrecognized event source, must be kafka or mq.",
            ));
        };
        let Some(kind) = SourceKind::of(&source_arn) else {
            return Err(errors::invalid_parameter(format!(
                "Unsupported event source: {source_arn}. Skyport maps SQS queues and DynamoDB streams \
                 to functions."
            )));
        };
        let settings = match kind {
            SourceKind::Queue => self.queue_settings(&source_arn, &input, &function).await?,
            SourceKind::Stream => self.stream_settings(&source_arn, &input).await?,
        };
        Filters::compile(input.filter_criteria.as_ref()).map_err(filter_error)?;
        if let Some(existing) = self.all()?.into_iter().find(|m| {
            m.config.event_source_arn.as_deref() == Some(source_arn.as_str())
                && m.config.function_arn.as_deref() == Some(function.arn.as_str())
        }) {
            let name = function_name_of(&function.arn);
            let uuid = existing.uuid();
            return Err(errors::conflict(match kind {
                SourceKind::Queue => format!(
                    "An event source mapping with SQS arn (\" {source_arn} \") and function (\" {name} \") \
                     already exists. Please update or delete the existing mapping with UUID {uuid}"
                ),
                SourceKind::Stream => format!(
                    "The event source arn (\" {source_arn} \") and function (\" {name} \") provided mapping \
                     already exists. Please update or delete the existing mapping with UUID {uuid}"
                ),
            }));
        }
        let uuid = skyport_core::ids::uuid();
        let enabled = input.enabled.unwrap_or(true);
        let config = EventSourceMappingConfiguration {
            uuid: Some(uuid.clone()),
            event_source_arn: Some(source_arn),
            filter_criteria: input
                .filter_criteria
                .filter(|c| c.filters.as_ref().is_some_and(|f| !f.is_empty())),
            function_arn: Some(function.arn),
            last_modified: Some(Timestamp::now()),
            state: Some("Creating".to_owned()),
            state_transition_reason: Some(kind.user_reason().to_owned()),
            function_response_types: Some(input.function_response_types.unwrap_or_default()),
            event_source_mapping_arn: Some(format!(
                "arn:{partition}:lambda:{region}:{account}:event-source-mapping:{uuid}"
            )),
            ..settings
        };
        let mapping = Mapping {
            account: account.to_owned(),
            region: region.to_owned(),
            config: config.clone(),
        };
        self.put(&mapping).await?;
        self.settle(uuid, if enabled { "Enabled" } else { "Disabled" });
        Ok(config)
    }

    /// The settings of a new queue mapping, with AWS's checks.
    async fn queue_settings(
        &self,
        queue_arn: &str,
        input: &CreateEventSourceMappingRequest,
        function: &FunctionTarget,
    ) -> Result<EventSourceMappingConfiguration, ApiError> {
        if input.starting_position.is_some() {
            return Err(errors::invalid_parameter(
                "StartingPosition is not valid for SQS event sources.",
            ));
        }
        let info = self
            .source()?
            .queue_info(queue_arn)
            .await
            .map_err(|e| match e {
                BusError::NoSuchQueue(_) => errors::invalid_parameter(
                    "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. \
                     SQS Error Message: The specified queue does not exist.",
                ),
                other => errors::service(other.to_string()),
            })?;
        let batch_size = input.batch_size.unwrap_or(10);
        let window = input.maximum_batching_window_in_seconds.unwrap_or(0);
        check_batching(batch_size, window)?;
        let timeout = u64::try_from(function.timeout.max(0)).unwrap_or(0);
        if info.visibility_timeout < timeout {
            return Err(errors::invalid_parameter(format!(
                "Queue visibility timeout: {} seconds is less than Function timeout: {timeout} seconds",
                info.visibility_timeout
            )));
        }
        Ok(EventSourceMappingConfiguration {
            batch_size: Some(batch_size),
            maximum_batching_window_in_seconds: Some(window),
            scaling_config: input.scaling_config.clone(),
            ..Default::default()
        })
    }

    /// The settings of a new stream mapping, with AWS's checks; the stream must exist.
    async fn stream_settings(
        &self,
        stream_arn: &str,
        input: &CreateEventSourceMappingRequest,
    ) -> Result<EventSourceMappingConfiguration, ApiError> {
        let settings = stream::create_config(input, stream_arn)?;
        self.streams()?
            .shards(stream_arn)
            .await
            .map_err(|e| match e {
                BusError::NoSuchTarget(_) => {
                    errors::invalid_parameter(format!("Stream not found: {stream_arn}"))
                }
                other => errors::service(other.to_string()),
            })?;
        Ok(settings)
    }

    /// `GetEventSourceMapping`.
    pub fn get(&self, uuid: &str) -> Result<EventSourceMappingConfiguration, ApiError> {
        Ok(self.reported(self.get_mapping(uuid)?.config))
    }

    /// `ListEventSourceMappings`: mappings of `source_arn` and/or `function_arn`, a page after `marker`.
    pub fn list(
        &self,
        account: &str,
        region: &str,
        source_arn: Option<&str>,
        function_arn: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i32>,
    ) -> Result<(Vec<EventSourceMappingConfiguration>, Option<String>), ApiError> {
        let items: Vec<EventSourceMappingConfiguration> = self
            .all()?
            .into_iter()
            .filter(|m| m.account == account && m.region == region)
            .filter(|m| source_arn.is_none_or(|q| m.config.event_source_arn.as_deref() == Some(q)))
            .filter(|m| function_arn.is_none_or(|f| m.config.function_arn.as_deref() == Some(f)))
            .map(|m| m.config)
            .collect();
        let max = usize::try_from(max_items.unwrap_or(100).clamp(1, 10_000)).unwrap_or(100);
        let start = match marker {
            Some(m) => items
                .iter()
                .position(|c| c.uuid.as_deref().is_some_and(|u| u > m))
                .unwrap_or(items.len()),
            None => 0,
        };
        let page: Vec<_> = items[start..].iter().take(max).cloned().collect();
        let next = (start + max < items.len())
            .then(|| page.last().and_then(|c| c.uuid.clone()))
            .flatten();
        Ok((page.into_iter().map(|c| self.reported(c)).collect(), next))
    }

    /// `UpdateEventSourceMapping`; `function` when the request names another function.
    pub async fn update(
        self: &Arc<Self>,
        input: UpdateEventSourceMappingRequest,
        function: Option<FunctionTarget>,
    ) -> Result<EventSourceMappingConfiguration, ApiError> {
        let mut mapping = self.get_mapping(&input.uuid)?;
        let kind = SourceKind::of_config(&mapping.config);
        let c = &mut mapping.config;
        if let Some(criteria) = &input.filter_criteria {
            Filters::compile(Some(criteria)).map_err(filter_error)?;
        }
        match kind {
            SourceKind::Queue => {
                let batch_size = input.batch_size.or(c.batch_size).unwrap_or(10);
                let window = input
                    .maximum_batching_window_in_seconds
                    .or(c.maximum_batching_window_in_seconds)
                    .unwrap_or(0);
                check_batching(batch_size, window)?;
                c.batch_size = Some(batch_size);
                c.maximum_batching_window_in_seconds = Some(window);
                if let Some(scaling) = input.scaling_config.clone() {
                    c.scaling_config = scaling.maximum_concurrency.is_some().then_some(scaling);
                }
            }
            SourceKind::Stream => stream::update_config(c, &input)?,
        }
        if let Some(f) = function {
            c.function_arn = Some(f.arn);
        }
        if let Some(criteria) = input.filter_criteria {
            // An empty `FilterCriteria` removes the filters.
            c.filter_criteria = criteria
                .filters
                .as_ref()
                .is_some_and(|f| !f.is_empty())
                .then_some(criteria);
        }
        if let Some(types) = input.function_response_types {
            c.function_response_types = Some(types);
        }
        let was_enabled = matches!(
            c.state.as_deref(),
            Some("Enabled" | "Enabling" | "Creating" | "Updating")
        );
        let enabled = input.enabled.unwrap_or(was_enabled);
        let (transient, settled) = match (was_enabled, enabled) {
            (false, true) => ("Enabling", "Enabled"),
            (true, false) => ("Disabling", "Disabled"),
            (true, true) => ("Updating", "Enabled"),
            (false, false) => ("Disabled", "Disabled"),
        };
        c.state = Some(transient.to_owned());
        c.state_transition_reason = Some(kind.user_reason().to_owned());
        c.last_modified = Some(Timestamp::now());
        let config = c.clone();
        self.put(&mapping).await?;
        self.settle(input.uuid, settled);
        Ok(self.reported(config))
    }

    /// `DeleteEventSourceMapping`: answers the mapping in state `Deleting`; its pollers stop and it
    /// is removed.
    pub async fn delete(&self, uuid: &str) -> Result<EventSourceMappingConfiguration, ApiError> {
        let mut mapping = self.get_mapping(uuid)?;
        self.stop(uuid);
        let key = uuid.to_owned();
        self.store
            .write_async(move |w| w.delete(TABLE, &key))
            .await
            .map_err(store_error)?;
        let kind = SourceKind::of_config(&mapping.config);
        if kind == SourceKind::Stream {
            // The pollers are stopping: a checkpoint they write meanwhile is left behind (and
            // harmless, under a UUID no mapping has).
            stream::forget(&self.store, uuid)
                .await
                .map_err(store_error)?;
        }
        mapping.config.state = Some("Deleting".to_owned());
        mapping.config.state_transition_reason = Some(kind.user_reason().to_owned());
        Ok(mapping.config)
    }

    /// Starts the pollers of every enabled mapping and finishes interrupted transitions (at start).
    pub fn resume(self: &Arc<Self>) {
        let mappings = match self.all() {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(
                    "lambda: cannot read the event source mappings: {}",
                    e.message
                );
                return;
            }
        };
        for m in mappings {
            let settled = match m.config.state.as_deref() {
                Some("Disabled" | "Disabling") => "Disabled",
                _ => "Enabled",
            };
            self.settle(m.uuid(), settled);
        }
    }

    /// Moves a mapping to its settled state in the background and starts or stops its pollers.
    fn settle(self: &Arc<Self>, uuid: String, state: &'static str) {
        let mappings = Arc::clone(self);
        tokio::spawn(async move {
            // A moment in the transient state, as AWS reports it right after the call.
            tokio::time::sleep(Duration::from_millis(10)).await;
            let Ok(mapping) = mappings.get_mapping(&uuid) else {
                return;
            };
            // Started before it says `Enabled`: a stream mapping has fixed its starting position.
            if state == "Enabled" {
                mappings.start(&mapping).await;
            } else {
                mappings.stop(&uuid);
            }
            let Ok(mut mapping) = mappings.get_mapping(&uuid) else {
                // Deleted meanwhile.
                mappings.stop(&uuid);
                return;
            };
            mapping.config.state = Some(state.to_owned());
            if let Err(e) = mappings.put(&mapping).await {
                tracing::warn!(mapping = %uuid, "lambda: cannot record the mapping's state: {}", e.message);
            }
        });
    }

    /// Starts (or restarts, with its current settings) the pollers of `mapping`.
    async fn start(&self, mapping: &Mapping) {
        let c = &mapping.config;
        let filters = match Filters::compile(c.filter_criteria.as_ref()) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(mapping = %mapping.uuid(), "lambda: {e}");
                return;
            }
        };
        match SourceKind::of_config(c) {
            SourceKind::Queue => self.start_queue(mapping, filters),
            SourceKind::Stream => self.start_stream(mapping, filters).await,
        }
    }

    /// Registers the stop signal of `uuid`'s new pollers, stopping the old ones.
    fn stop_signal(&self, uuid: String) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        if let Some(old) = lock(&self.running).insert(uuid, tx) {
            let _ = old.send(true);
        }
        rx
    }

    /// Starts the pollers of a stream mapping.
    async fn start_stream(&self, mapping: &Mapping, filters: Filters) {
        let (Some(source), Some(invoker)) = (self.streams.get(), self.invoker.get()) else {
            tracing::warn!(
                "lambda: stream event source mappings need DynamoDB Streams; not polling"
            );
            return;
        };
        let c = &mapping.config;
        let config = Arc::new(StreamPollerConfig {
            uuid: mapping.uuid(),
            account: mapping.account.clone(),
            region: mapping.region.clone(),
            stream_arn: c.event_source_arn.clone().unwrap_or_default(),
            function_arn: c.function_arn.clone().unwrap_or_default(),
            start: stream::start_of(c),
            batch_size: usize::try_from(c.batch_size.unwrap_or(stream::DEFAULT_BATCH_SIZE).max(1))
                .unwrap_or(100),
            window: Duration::from_secs(
                u64::try_from(c.maximum_batching_window_in_seconds.unwrap_or(0)).unwrap_or(0),
            ),
            max_retries: c.maximum_retry_attempts.and_then(|n| u32::try_from(n).ok()),
            max_age: c
                .maximum_record_age_in_seconds
                .and_then(|n| u64::try_from(n).ok())
                .map(Duration::from_secs),
            bisect: c.bisect_batch_on_function_error.unwrap_or(false),
            report_failures: reports_failures(c),
            on_failure: stream::on_failure(c),
            filters,
        });
        let deps = Arc::new(StreamPollerDeps {
            source: Arc::clone(source),
            invoker: Arc::clone(invoker),
            deliverer: Arc::clone(&self.deliverer),
            store: self.store.clone(),
        });
        stream_poller::prime(&config, &deps).await;
        let rx = self.stop_signal(mapping.uuid());
        tracing::debug!(mapping = %config.uuid, stream = %config.stream_arn, function = %config.function_arn, "lambda: polling the stream");
        tokio::spawn(stream_poller::run(config, deps, rx));
    }

    /// Starts the pollers of a queue mapping.
    fn start_queue(&self, mapping: &Mapping, filters: Filters) {
        let (Some(source), Some(invoker)) = (self.source.get(), self.invoker.get()) else {
            tracing::warn!("lambda: event source mappings need SQS; not polling");
            return;
        };
        let c = &mapping.config;
        let config = Arc::new(PollerConfig {
            uuid: mapping.uuid(),
            account: mapping.account.clone(),
            region: mapping.region.clone(),
            queue_arn: c.event_source_arn.clone().unwrap_or_default(),
            function_arn: c.function_arn.clone().unwrap_or_default(),
            batch_size: usize::try_from(c.batch_size.unwrap_or(10).max(1)).unwrap_or(10),
            window: Duration::from_secs(
                u64::try_from(c.maximum_batching_window_in_seconds.unwrap_or(0)).unwrap_or(0),
            ),
            report_failures: reports_failures(c),
            filters,
        });
        let concurrency = c
            .scaling_config
            .as_ref()
            .and_then(|s| s.maximum_concurrency)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_CONCURRENCY);
        let rx = self.stop_signal(mapping.uuid());
        for _ in 0..concurrency {
            tokio::spawn(poller::run(
                Arc::clone(&config),
                Arc::clone(source),
                Arc::clone(invoker),
                rx.clone(),
            ));
        }
        tracing::debug!(mapping = %config.uuid, queue = %config.queue_arn, function = %config.function_arn, "lambda: polling with {concurrency} poller(s)");
    }

    /// Stops the pollers of mapping `uuid`.
    fn stop(&self, uuid: &str) {
        if let Some(tx) = lock(&self.running).remove(uuid) {
            let _ = tx.send(true);
        }
    }

    /// Stops every poller (shutdown).
    pub fn stop_all(&self) {
        for (_, tx) in lock(&self.running).drain() {
            let _ = tx.send(true);
        }
    }
}

/// `FunctionResponseTypes` has `ReportBatchItemFailures`.
fn reports_failures(c: &EventSourceMappingConfiguration) -> bool {
    c.function_response_types
        .as_ref()
        .is_some_and(|t| t.iter().any(|t| t == "ReportBatchItemFailures"))
}

/// AWS's batching rule for queues: more than 10 records need a batching window.
fn check_batching(batch_size: i32, window: i32) -> Result<(), ApiError> {
    if batch_size > 10 && window == 0 {
        return Err(errors::invalid_parameter(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
        ));
    }
    Ok(())
}

/// `name` (or `name:qualifier`) of a function ARN.
fn function_name_of(arn: &str) -> String {
    match arn.split_once(":function:") {
        Some((_, rest)) => rest.to_owned(),
        None => arn.to_owned(),
    }
}

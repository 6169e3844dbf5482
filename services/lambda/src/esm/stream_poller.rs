//! The pollers of a DynamoDB stream's event source mapping: one task per mapping lists the stream's
//! shards and runs one poller per shard (a child shard after its parent), each reading its shard in
//! order through the bus ([`StreamSource`]).
//!
//! A shard poller gathers a batch (up to `BatchSize` records, within `MaximumBatchingWindowInSeconds`
//! when one is set, under the 6 MB invocation payload), drops the records the filters reject, and
//! invokes the function synchronously with `{"Records": [...]}`. While a batch fails, the shard waits:
//! the batch is retried (halved first when `BisectBatchOnFunctionError` is on; a halving does not
//! count as a retry), with `ReportBatchItemFailures` from the lowest failed sequence number, until it
//! succeeds, its records are older than `MaximumRecordAgeInSeconds`, or `MaximumRetryAttempts` retries
//! have failed; then the discarded records' batch info goes to the `OnFailure` destination as AWS's
//! invocation record (`DDBStreamBatchInfo`) and the poller moves on. After each batch the cursor of
//! the next record is checkpointed, so a restarted poller (an update, a restart of Skyport) resumes
//! there: records are delivered at least once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use skyport_core::bus::{BusAttributes, BusError, StreamSource, StreamStart};
use skyport_core::store::Store;
use skyport_wire::Timestamp;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::BatchInvoker;
use super::filter::Filters;
use super::sqs_event::{BatchResult, batch_result};
use super::stream::{self, Checkpoint};
use crate::destinations::Deliverer;
use crate::shapes::InvocationResponse;

/// How long one read waits for a first record.
const LONG_POLL: Duration = Duration::from_secs(20);
/// How long to wait before reading again after the stream could not be read.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often the shard list is read again (for new shards, or a stream that was not found).
const SHARD_REFRESH: Duration = Duration::from_secs(10);
/// The delay before the first retry of a failed batch; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest delay between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The most records one read asks for.
const READ_MAX: usize = 1000;
/// A batch stops growing at this many bytes of records (a read brings at most about 1 MB more, and
/// a synchronous invocation's payload is at most 6 MB).
const PAYLOAD_BUDGET: usize = 4 << 20;

/// What a stream mapping's pollers run with.
#[derive(Debug, Clone)]
pub struct StreamPollerConfig {
    /// The mapping's UUID.
    pub uuid: String,
    /// The account of the mapping and its function.
    pub account: String,
    /// The region.
    pub region: String,
    /// The stream.
    pub stream_arn: String,
    /// The function (qualified when the mapping names a version or alias).
    pub function_arn: String,
    /// `StartingPosition`, for shards the mapping has not read before.
    pub start: StreamStart,
    /// `BatchSize`.
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`.
    pub window: Duration,
    /// `MaximumRetryAttempts` (`None`: until the batch succeeds or its records expire).
    pub max_retries: Option<u32>,
    /// `MaximumRecordAgeInSeconds` (`None`: no limit).
    pub max_age: Option<Duration>,
    /// `BisectBatchOnFunctionError`.
    pub bisect: bool,
    /// `FunctionResponseTypes` has `ReportBatchItemFailures`.
    pub report_failures: bool,
    /// `DestinationConfig.OnFailure`.
    pub on_failure: Option<String>,
    /// `FilterCriteria`.
    pub filters: Filters,
}

/// What the pollers read from, call and write to.
pub struct StreamPollerDeps {
    /// The streams.
    pub source: Arc<dyn StreamSource>,
    /// Runs the function.
    pub invoker: Arc<dyn BatchInvoker>,
    /// Sends discarded batches' records to their destination.
    pub deliverer: Arc<Deliverer>,
    /// Lambda's store, for the checkpoints.
    pub store: Store,
}

/// True once `stop` says so (or its sender is gone).
fn stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// Sleeps `d`; false when `stop` came first.
async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => !stopped(stop),
        _ = stop.changed() => false,
    }
}

fn now_ms() -> i64 {
    Timestamp::now().millis()
}

/// Where a shard poller begins.
enum Begin {
    /// A checkpoint's cursor.
    Cursor(String),
    /// A position the mapping has not read from yet.
    At(StreamStart),
}

/// Fixes where a mapping that never read its stream starts: a checkpoint at `StartingPosition` in
/// each shard that has no parent, so `LATEST` means the records after the mapping was enabled, not
/// after its pollers got going.
pub async fn prime(config: &StreamPollerConfig, deps: &StreamPollerDeps) {
    match stream::checkpoints(&deps.store, &config.uuid) {
        Ok(c) if c.is_empty() => {}
        _ => return,
    }
    let Ok(shards) = deps.source.shards(&config.stream_arn).await else {
        return;
    };
    let listed: HashSet<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
    for shard in &shards {
        if shard
            .parent_shard_id
            .as_deref()
            .is_some_and(|p| listed.contains(p))
        {
            continue;
        }
        match deps
            .source
            .cursor(&config.stream_arn, &shard.shard_id, config.start)
            .await
        {
            Ok(cursor) => {
                let checkpoint = Checkpoint {
                    cursor: Some(cursor),
                    result: None,
                    at_ms: now_ms(),
                };
                save(deps, &config.uuid, &shard.shard_id, checkpoint).await;
            }
            Err(e) => {
                tracing::debug!(mapping = %config.uuid, shard = %shard.shard_id, "lambda: cannot fix the starting position: {e}");
            }
        }
    }
}

/// Runs a mapping's shard pollers until `stop` turns true (or its sender is gone); a batch being
/// processed is finished first.
pub async fn run(
    config: Arc<StreamPollerConfig>,
    deps: Arc<StreamPollerDeps>,
    mut stop: watch::Receiver<bool>,
) {
    let mut finished: HashSet<String> = HashSet::new();
    let mut running: HashSet<String> = HashSet::new();
    let mut tasks: JoinSet<(String, bool)> = JoinSet::new();
    let mut missing_reported = false;
    while !stopped(&stop) {
        match deps.source.shards(&config.stream_arn).await {
            Ok(shards) => {
                missing_reported = false;
                let checkpoints =
                    stream::checkpoints(&deps.store, &config.uuid).unwrap_or_else(|e| {
                        tracing::warn!(mapping = %config.uuid, "lambda: cannot read the stream checkpoints: {e}");
                        HashMap::new()
                    });
                let listed: HashSet<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
                for shard in &shards {
                    let id = &shard.shard_id;
                    if running.contains(id) || finished.contains(id) {
                        continue;
                    }
                    let checkpoint = checkpoints.get(id);
                    if checkpoint.is_some_and(|c| c.cursor.is_none()) {
                        finished.insert(id.clone());
                        continue;
                    }
                    if let Some(parent) = &shard.parent_shard_id
                        && listed.contains(parent.as_str())
                        && !finished.contains(parent)
                    {
                        continue;
                    }
                    // A shard the mapping has not read: its `StartingPosition` on first start; a
                    // shard that came later (a child, or the shard after a restart) from its start.
                    let begin = match checkpoint.and_then(|c| c.cursor.clone()) {
                        Some(cursor) => Begin::Cursor(cursor),
                        None if checkpoints.is_empty() => Begin::At(config.start),
                        None => Begin::At(StreamStart::TrimHorizon),
                    };
                    running.insert(id.clone());
                    tasks.spawn(poll_shard(
                        Arc::clone(&config),
                        Arc::clone(&deps),
                        id.clone(),
                        begin,
                        stop.clone(),
                    ));
                }
                // The checkpoints of shards the stream no longer has go, once a shard it has holds
                // one (so the mapping still counts as having read the stream).
                if checkpoints.keys().any(|k| listed.contains(k.as_str())) {
                    let gone: Vec<String> = checkpoints
                        .keys()
                        .filter(|k| !listed.contains(k.as_str()))
                        .cloned()
                        .collect();
                    if let Err(e) = stream::prune(&deps.store, &config.uuid, gone).await {
                        tracing::debug!(mapping = %config.uuid, "lambda: cannot remove old checkpoints: {e}");
                    }
                }
            }
            Err(e) => {
                if !missing_reported {
                    tracing::warn!(mapping = %config.uuid, stream = %config.stream_arn, "lambda: cannot list the stream's shards: {e}");
                    missing_reported = true;
                }
            }
        }
        tokio::select! {
            _ = stop.changed() => {}
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok((shard, done)) = joined {
                    running.remove(&shard);
                    if done {
                        finished.insert(shard);
                    }
                }
            }
            _ = tokio::time::sleep(SHARD_REFRESH) => {}
        }
    }
    // The shard pollers finish their batches.
    while tasks.join_next().await.is_some() {}
}

/// Saves a checkpoint, logging a failure.
async fn save(deps: &StreamPollerDeps, uuid: &str, shard_id: &str, checkpoint: Checkpoint) {
    if let Err(e) = stream::save(&deps.store, uuid, shard_id, &checkpoint).await {
        tracing::warn!(mapping = %uuid, shard = %shard_id, "lambda: cannot save the stream checkpoint: {e}");
    }
}

/// Polls one shard; returns it and whether it was read to its end.
async fn poll_shard(
    config: Arc<StreamPollerConfig>,
    deps: Arc<StreamPollerDeps>,
    shard_id: String,
    begin: Begin,
    mut stop: watch::Receiver<bool>,
) -> (String, bool) {
    let mut cursor = match begin {
        Begin::Cursor(cursor) => cursor,
        Begin::At(start) => loop {
            match deps
                .source
                .cursor(&config.stream_arn, &shard_id, start)
                .await
            {
                Ok(cursor) => {
                    let checkpoint = Checkpoint {
                        cursor: Some(cursor.clone()),
                        result: None,
                        at_ms: now_ms(),
                    };
                    save(&deps, &config.uuid, &shard_id, checkpoint).await;
                    break cursor;
                }
                Err(BusError::NoSuchTarget(_)) => return (shard_id, false),
                Err(e) => {
                    tracing::warn!(mapping = %config.uuid, shard = %shard_id, "lambda: cannot start reading the shard: {e}");
                    if !pause(RETRY_AFTER, &mut stop).await {
                        return (shard_id, false);
                    }
                }
            }
        },
    };
    tracing::debug!(mapping = %config.uuid, shard = %shard_id, "lambda: polling the shard");
    loop {
        if stopped(&stop) {
            return (shard_id, false);
        }
        let batch = match gather(&config, &*deps.source, &cursor, &mut stop).await {
            Gathered::Batch(batch) => batch,
            Gathered::Stopped => return (shard_id, false),
            Gathered::Gone => return (shard_id, false),
            Gathered::Failed(e) => {
                tracing::warn!(mapping = %config.uuid, shard = %shard_id, "lambda: cannot read the shard: {e}");
                if !pause(RETRY_AFTER, &mut stop).await {
                    return (shard_id, false);
                }
                continue;
            }
        };
        if batch.read == 0
            && let Some(next) = batch.next
        {
            // Nothing yet (the cursor may have moved past trimmed records).
            cursor = next;
            continue;
        }
        let result = if batch.records.is_empty() {
            None
        } else {
            let mut shard = Shard {
                config: &config,
                deps: &deps,
                shard_id: &shard_id,
                cursor: &cursor,
                stop: &mut stop,
            };
            match shard.process(batch.records).await {
                Some(result) => result,
                None => return (shard_id, false),
            }
        };
        let checkpoint = Checkpoint {
            cursor: batch.next.clone(),
            result: result.map(str::to_owned),
            at_ms: now_ms(),
        };
        save(&deps, &config.uuid, &shard_id, checkpoint).await;
        match batch.next {
            Some(next) => cursor = next,
            None => {
                tracing::debug!(mapping = %config.uuid, shard = %shard_id, "lambda: the shard was read to its end");
                return (shard_id, true);
            }
        }
    }
}

/// One record of a batch.
#[derive(Debug, Clone)]
struct Rec {
    seq: String,
    created_ms: i64,
    json: String,
}

/// A gathered batch.
struct Batch {
    /// The records that passed the filters.
    records: Vec<Rec>,
    /// How many records were read (filtered ones too).
    read: usize,
    /// The cursor after them (`None`: the shard ended).
    next: Option<String>,
}

enum Gathered {
    Batch(Batch),
    Stopped,
    Gone,
    Failed(BusError),
}

/// Reads a batch from `cursor`: waits for a first record, then takes what is there (or what comes
/// within the batching window) up to `BatchSize`.
async fn gather(
    config: &StreamPollerConfig,
    source: &dyn StreamSource,
    cursor: &str,
    stop: &mut watch::Receiver<bool>,
) -> Gathered {
    let mut batch = Batch {
        records: Vec::new(),
        read: 0,
        next: Some(cursor.to_owned()),
    };
    let mut bytes = 0;
    let mut deadline: Option<tokio::time::Instant> = None;
    while let Some(at) = batch.next.clone() {
        if batch.read >= config.batch_size || bytes >= PAYLOAD_BUDGET {
            break;
        }
        let want = (config.batch_size - batch.read).min(READ_MAX);
        let wait = match deadline {
            None => LONG_POLL,
            Some(_) if config.window.is_zero() => Duration::ZERO,
            Some(d) => {
                let left = d.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                left
            }
        };
        let page = tokio::select! {
            r = source.read(&at, want, wait) => r,
            _ = stop.changed() => return Gathered::Stopped,
        };
        let page = match page {
            Ok(page) => page,
            Err(e) if batch.read > 0 => {
                tracing::debug!(
                    "lambda: a read after the first failed ({e}); invoking with what was read"
                );
                break;
            }
            Err(BusError::NoSuchTarget(_)) => return Gathered::Gone,
            Err(e) => return Gathered::Failed(e),
        };
        let n = page.records.len();
        batch.read += n;
        batch.next = page.next;
        for r in page.records {
            if config.filters.matches(&r.record) {
                let json = r.record.to_string();
                bytes += json.len();
                batch.records.push(Rec {
                    seq: r.sequence_number,
                    created_ms: r.created_ms,
                    json,
                });
            }
        }
        if deadline.is_none() {
            if n == 0 {
                break;
            }
            deadline = Some(tokio::time::Instant::now() + config.window);
        }
        if config.window.is_zero() && n < want {
            break;
        }
    }
    Gathered::Batch(batch)
}

/// What the last invocation answered, for the failure record.
#[derive(Debug, Clone, Default)]
struct Response {
    status: i32,
    version: Option<String>,
    function_error: Option<String>,
}

/// A range of the batch on its way, with its history.
#[derive(Debug, Clone)]
struct Part {
    range: Range<usize>,
    retries: u32,
    invokes: u32,
    last: Option<Response>,
}

/// How an invocation went.
enum Verdict {
    Success,
    /// The records from this index failed (`ReportBatchItemFailures`).
    FailedFrom(usize),
    /// The invocation failed.
    Failed,
}

struct Shard<'a> {
    config: &'a StreamPollerConfig,
    deps: &'a StreamPollerDeps,
    shard_id: &'a str,
    /// The checkpointed cursor (the batch's start).
    cursor: &'a str,
    stop: &'a mut watch::Receiver<bool>,
}

impl Shard<'_> {
    /// Processes a batch until every record succeeded or was discarded; its last processing
    /// result (`None`: stopped before).
    async fn process(&mut self, records: Vec<Rec>) -> Option<Option<&'static str>> {
        let mut work = VecDeque::from([Part {
            range: 0..records.len(),
            retries: 0,
            invokes: 0,
            last: None,
        }]);
        let mut result = None;
        while let Some(mut part) = work.pop_front() {
            loop {
                self.discard_expired(&records, &mut part).await;
                if part.range.is_empty() {
                    break;
                }
                let batch = &records[part.range.clone()];
                let (verdict, response) = self.invoke(batch).await;
                part.invokes += 1;
                part.last = Some(response);
                let now = if matches!(verdict, Verdict::Failed) {
                    stream::FAILED
                } else {
                    stream::OK
                };
                result = Some(now);
                let checkpoint = Checkpoint {
                    cursor: Some(self.cursor.to_owned()),
                    result: Some(now.to_owned()),
                    at_ms: now_ms(),
                };
                save(self.deps, &self.config.uuid, self.shard_id, checkpoint).await;
                match verdict {
                    Verdict::Success => break,
                    Verdict::FailedFrom(i) => part.range.start += i,
                    Verdict::Failed if self.config.bisect && part.range.len() > 1 => {
                        let mid = part.range.start + part.range.len() / 2;
                        let second = Part {
                            range: mid..part.range.end,
                            ..part.clone()
                        };
                        let first = Part {
                            range: part.range.start..mid,
                            ..part
                        };
                        work.push_front(second);
                        work.push_front(first);
                        tracing::debug!(mapping = %self.config.uuid, "lambda: the batch failed; bisecting it");
                        break;
                    }
                    Verdict::Failed => {}
                }
                part.retries += 1;
                if self
                    .config
                    .max_retries
                    .is_some_and(|max| part.retries > max)
                {
                    let discarded = &records[part.range.clone()];
                    self.discard(discarded, "RetryAttemptsExhausted", &part)
                        .await;
                    break;
                }
                let backoff = FIRST_BACKOFF
                    .saturating_mul(1 << (part.retries - 1).min(10))
                    .min(MAX_BACKOFF);
                if !pause(backoff, self.stop).await {
                    return None;
                }
            }
        }
        Some(result)
    }

    /// Discards the records of `part` older than `MaximumRecordAgeInSeconds` (they lead the range).
    async fn discard_expired(&self, records: &[Rec], part: &mut Part) {
        let Some(max_age) = self.config.max_age else {
            return;
        };
        let oldest = now_ms() - i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
        let expired = records[part.range.clone()]
            .iter()
            .take_while(|r| r.created_ms < oldest)
            .count();
        if expired == 0 {
            return;
        }
        let start = part.range.start;
        self.discard(&records[start..start + expired], "RecordAgeExceeded", part)
            .await;
        part.range.start += expired;
    }

    /// Invokes the function with `batch`; the verdict and the response.
    async fn invoke(&self, batch: &[Rec]) -> (Verdict, Response) {
        let mut payload =
            String::with_capacity(batch.iter().map(|r| r.json.len() + 1).sum::<usize>() + 16);
        payload.push_str("{\"Records\":[");
        for (i, r) in batch.iter().enumerate() {
            if i > 0 {
                payload.push(',');
            }
            payload.push_str(&r.json);
        }
        payload.push_str("]}");
        let c = self.config;
        let outcome = self
            .deps
            .invoker
            .invoke_batch(&c.account, &c.region, &c.function_arn, Bytes::from(payload))
            .await;
        match outcome {
            Ok(r) => {
                let response = response_of(&r);
                if r.function_error.is_some() {
                    tracing::debug!(mapping = %c.uuid, "lambda: the function failed on a stream batch");
                    return (Verdict::Failed, response);
                }
                if !c.report_failures {
                    return (Verdict::Success, response);
                }
                let ids: HashSet<String> = batch.iter().map(|r| r.seq.clone()).collect();
                let verdict = match batch_result(r.payload.as_deref().unwrap_or_default(), &ids) {
                    BatchResult::Failed(failed) => {
                        match batch.iter().position(|r| failed.contains(&r.seq)) {
                            Some(i) => Verdict::FailedFrom(i),
                            None => Verdict::Success,
                        }
                    }
                    BatchResult::AllFailed => Verdict::Failed,
                };
                (verdict, response)
            }
            Err(e) => {
                tracing::warn!(mapping = %c.uuid, function = %c.function_arn, "lambda: invoking for the stream failed: {}", e.message);
                let response = Response {
                    status: e.status.map_or(500, |s| i32::from(s.as_u16())),
                    version: None,
                    function_error: None,
                };
                (Verdict::Failed, response)
            }
        }
    }

    /// Gives up on `records`: their batch info goes to the `OnFailure` destination.
    async fn discard(&self, records: &[Rec], condition: &str, part: &Part) {
        let c = self.config;
        tracing::warn!(mapping = %c.uuid, shard = %self.shard_id, "lambda: {} stream record(s) discarded ({condition})", records.len());
        let Some(target) = &c.on_failure else {
            return;
        };
        let info = FailureInfo {
            function_arn: &c.function_arn,
            stream_arn: &c.stream_arn,
            shard_id: self.shard_id,
            condition,
            invokes: part.invokes,
            last: part.last.as_ref(),
        };
        let body = failure_record(&info, records).to_string();
        if let Err(e) = self
            .deps
            .deliverer
            .send(target, body, BusAttributes::new())
            .await
        {
            tracing::warn!(mapping = %c.uuid, destination = %target, "lambda: cannot send the discarded batch's record: {e}");
        }
    }
}

fn response_of(r: &InvocationResponse) -> Response {
    Response {
        status: r.status_code.unwrap_or(200),
        version: r.executed_version.clone(),
        function_error: r.function_error.clone(),
    }
}

/// What a failure record says besides the records.
struct FailureInfo<'a> {
    function_arn: &'a str,
    stream_arn: &'a str,
    shard_id: &'a str,
    condition: &'a str,
    invokes: u32,
    last: Option<&'a Response>,
}

fn iso_seconds(ms: i64) -> String {
    skyport_wire::timestamp::iso8601(Timestamp::from_secs(ms.div_euclid(1000)))
}

/// AWS's invocation record for discarded stream records.
fn failure_record(info: &FailureInfo<'_>, records: &[Rec]) -> Value {
    let mut response = serde_json::Map::new();
    if let Some(last) = info.last {
        response.insert("statusCode".to_owned(), last.status.into());
        response.insert(
            "executedVersion".to_owned(),
            last.version
                .clone()
                .unwrap_or_else(|| "$LATEST".to_owned())
                .into(),
        );
        if let Some(e) = &last.function_error {
            response.insert("functionError".to_owned(), e.clone().into());
        }
    }
    let (first, last) = (records.first(), records.last());
    json!({
        "requestContext": {
            "requestId": skyport_core::ids::uuid(),
            "functionArn": info.function_arn,
            "condition": info.condition,
            "approximateInvokeCount": info.invokes,
        },
        "responseContext": Value::Object(response),
        "version": "1.0",
        "timestamp": skyport_wire::timestamp::iso8601(Timestamp::now()),
        "DDBStreamBatchInfo": {
            "shardId": info.shard_id,
            "startSequenceNumber": first.map(|r| r.seq.as_str()),
            "endSequenceNumber": last.map(|r| r.seq.as_str()),
            "approximateArrivalOfFirstRecord": first.map(|r| iso_seconds(r.created_ms)),
            "approximateArrivalOfLastRecord": last.map(|r| iso_seconds(r.created_ms)),
            "batchSize": records.len(),
            "streamArn": info.stream_arn,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyport_core::bus::{OutgoingMessage, QueueSink, SentMessage, StreamPage, StreamShard};
    use skyport_wire::ApiError;
    use std::sync::Mutex;

    fn rec(seq: &str, ms: i64) -> Rec {
        Rec {
            seq: seq.into(),
            created_ms: ms,
            json: "{}".into(),
        }
    }

    /// Records named by id, with sequence numbers 1, 2, ... and made now.
    fn records(ids: &[&str]) -> Vec<Rec> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| Rec {
                seq: (i + 1).to_string(),
                created_ms: now_ms(),
                json: json!({"id": id, "dynamodb": {"SequenceNumber": (i + 1).to_string()}})
                    .to_string(),
            })
            .collect()
    }

    /// A function that fails (`raise`) or reports (`report`) the record `bad`, and remembers the
    /// ids of each batch.
    struct Function {
        mode: &'static str,
        calls: Mutex<Vec<Vec<String>>>,
    }

    #[async_trait::async_trait]
    impl BatchInvoker for Function {
        async fn invoke_batch(
            &self,
            _: &str,
            _: &str,
            _: &str,
            payload: Bytes,
        ) -> Result<InvocationResponse, ApiError> {
            let event: Value = serde_json::from_slice(&payload).unwrap();
            let batch: Vec<(String, String)> = event["Records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["id"].as_str().unwrap().to_owned(),
                        r["dynamodb"]["SequenceNumber"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            self.calls
                .lock()
                .unwrap()
                .push(batch.iter().map(|(id, _)| id.clone()).collect());
            let bad: Vec<&(String, String)> = batch.iter().filter(|(id, _)| id == "bad").collect();
            let mut response = InvocationResponse {
                status_code: Some(200),
                executed_version: Some("$LATEST".into()),
                ..Default::default()
            };
            match self.mode {
                "raise" if !bad.is_empty() => {
                    response.function_error = Some("Unhandled".into());
                    response.payload = Some(Bytes::from_static(b"{\"errorMessage\": \"bad\"}"));
                }
                "report" => {
                    let failures: Vec<Value> = bad
                        .iter()
                        .map(|(_, seq)| json!({"itemIdentifier": seq}))
                        .collect();
                    response.payload = Some(Bytes::from(
                        json!({"batchItemFailures": failures}).to_string(),
                    ));
                }
                _ => {}
            }
            Ok(response)
        }
    }

    #[derive(Default)]
    struct Queue(Mutex<Vec<Value>>);

    #[async_trait::async_trait]
    impl QueueSink for Queue {
        async fn send_message(
            &self,
            _: &str,
            message: OutgoingMessage,
        ) -> Result<SentMessage, BusError> {
            self.0
                .lock()
                .unwrap()
                .push(serde_json::from_str(&message.body).unwrap());
            Ok(SentMessage {
                message_id: "m".into(),
                sequence_number: None,
            })
        }
    }

    struct NoStream;

    #[async_trait::async_trait]
    impl StreamSource for NoStream {
        async fn shards(&self, _: &str) -> Result<Vec<StreamShard>, BusError> {
            Ok(Vec::new())
        }
        async fn cursor(&self, _: &str, _: &str, _: StreamStart) -> Result<String, BusError> {
            Err(BusError::NoSuchTarget("none".into()))
        }
        async fn read(&self, _: &str, _: usize, _: Duration) -> Result<StreamPage, BusError> {
            Err(BusError::NoSuchTarget("none".into()))
        }
    }

    fn config(max_retries: Option<u32>, bisect: bool, report: bool) -> StreamPollerConfig {
        StreamPollerConfig {
            uuid: "u".into(),
            account: "000000000000".into(),
            region: "us-east-1".into(),
            stream_arn: "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x".into(),
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
            start: StreamStart::TrimHorizon,
            batch_size: 100,
            window: Duration::ZERO,
            max_retries,
            max_age: None,
            bisect,
            report_failures: report,
            on_failure: Some("arn:aws:sqs:us-east-1:000000000000:dlq".into()),
            filters: Filters::default(),
        }
    }

    /// Processes `batch` with `config` and a function in `mode`: the batches the function got, the
    /// failure records sent, and the last processing result.
    async fn process(
        config: StreamPollerConfig,
        mode: &'static str,
        batch: Vec<Rec>,
    ) -> (Vec<Vec<String>>, Vec<Value>, Option<&'static str>) {
        let function = Arc::new(Function {
            mode,
            calls: Mutex::new(Vec::new()),
        });
        let queue = Arc::new(Queue::default());
        let deliverer = Arc::new(Deliverer::default());
        deliverer.set_queues(queue.clone());
        let deps = StreamPollerDeps {
            source: Arc::new(NoStream),
            invoker: function.clone(),
            deliverer,
            store: Store::in_memory().unwrap(),
        };
        let (_tx, mut rx) = watch::channel(false);
        let mut shard = Shard {
            config: &config,
            deps: &deps,
            shard_id: "shardId-1",
            cursor: "c",
            stop: &mut rx,
        };
        let result = shard.process(batch).await.expect("not stopped");
        let calls = function.calls.lock().unwrap().clone();
        let sent = queue.0.lock().unwrap().clone();
        (calls, sent, result)
    }

    #[tokio::test]
    async fn bisecting_isolates_the_failing_record() {
        let (calls, sent, result) = process(
            config(Some(0), true, false),
            "raise",
            records(&["a", "b", "bad", "d"]),
        )
        .await;
        assert_eq!(
            calls,
            [
                vec!["a", "b", "bad", "d"],
                vec!["a", "b"],
                vec!["bad", "d"],
                vec!["bad"],
                vec!["d"]
            ]
        );
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["DDBStreamBatchInfo"]["startSequenceNumber"], "3");
        assert_eq!(sent[0]["DDBStreamBatchInfo"]["batchSize"], 1);
        assert_eq!(sent[0]["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(result, Some(stream::OK));
    }

    #[tokio::test]
    async fn retries_then_discards_the_whole_batch() {
        let (calls, sent, result) = process(
            config(Some(2), false, false),
            "raise",
            records(&["a", "bad"]),
        )
        .await;
        assert_eq!(calls.len(), 3, "the first attempt and two retries");
        assert!(calls.iter().all(|c| c == &["a", "bad"]));
        assert_eq!(sent.len(), 1);
        let info = &sent[0]["DDBStreamBatchInfo"];
        assert_eq!(
            (&info["startSequenceNumber"], &info["endSequenceNumber"]),
            (&json!("1"), &json!("2"))
        );
        assert_eq!(
            sent[0]["requestContext"]["condition"],
            "RetryAttemptsExhausted"
        );
        assert_eq!(sent[0]["responseContext"]["functionError"], "Unhandled");
        assert_eq!(result, Some(stream::FAILED));
    }

    #[tokio::test]
    async fn reported_failures_retry_from_the_lowest_failed_record() {
        let (calls, sent, _) = process(
            config(Some(1), false, true),
            "report",
            records(&["a", "bad", "c"]),
        )
        .await;
        assert_eq!(calls, [vec!["a", "bad", "c"], vec!["bad", "c"]]);
        assert_eq!(sent[0]["DDBStreamBatchInfo"]["batchSize"], 2);
        assert_eq!(sent[0]["requestContext"]["approximateInvokeCount"], 2);
    }

    #[tokio::test]
    async fn records_past_their_age_are_discarded_unsent() {
        let mut batch = records(&["old", "new"]);
        batch[0].created_ms -= 120_000;
        let config = StreamPollerConfig {
            max_age: Some(Duration::from_secs(60)),
            ..config(None, false, false)
        };
        let (calls, sent, result) = process(config, "", batch).await;
        assert_eq!(calls, [vec!["new"]]);
        assert_eq!(sent[0]["requestContext"]["condition"], "RecordAgeExceeded");
        assert_eq!(sent[0]["requestContext"]["approximateInvokeCount"], 0);
        assert_eq!(sent[0]["responseContext"], json!({}));
        assert_eq!(result, Some(stream::OK));
    }

    #[test]
    fn failure_record_shape() {
        let last = Response {
            status: 200,
            version: Some("$LATEST".into()),
            function_error: Some("Unhandled".into()),
        };
        let info = FailureInfo {
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f",
            stream_arn: "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x",
            shard_id: "shardId-1",
            condition: "RetryAttemptsExhausted",
            invokes: 2,
            last: Some(&last),
        };
        let r = failure_record(
            &info,
            &[rec("100", 1_573_690_399_000), rec("101", 1_573_690_400_500)],
        );
        assert_eq!(r["version"], "1.0");
        assert_eq!(r["requestContext"]["condition"], "RetryAttemptsExhausted");
        assert_eq!(r["requestContext"]["approximateInvokeCount"], 2);
        assert_eq!(
            r["responseContext"],
            json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"})
        );
        let b = &r["DDBStreamBatchInfo"];
        assert_eq!(b["shardId"], "shardId-1");
        assert_eq!(b["startSequenceNumber"], "100");
        assert_eq!(b["endSequenceNumber"], "101");
        assert_eq!(b["approximateArrivalOfFirstRecord"], "2019-11-14T00:13:19Z");
        assert_eq!(b["approximateArrivalOfLastRecord"], "2019-11-14T00:13:20Z");
        assert_eq!(b["batchSize"], 2);
        assert!(r["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
}

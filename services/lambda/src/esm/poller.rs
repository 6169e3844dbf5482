//! The pollers of an SQS event source mapping: tokio tasks (as many as the mapping's concurrency)
//! that long-poll the queue through the bus, gather a batch (up to `BatchSize`, within
//! `MaximumBatchingWindowInSeconds` when one is set), drop what the filters reject (deleting it),
//! invoke the function synchronously with AWS's event, and delete what succeeded. A failed
//! invocation deletes nothing: the messages come back after the queue's visibility timeout, and the
//! queue's redrive policy moves them to its dead-letter queue after `maxReceiveCount`. FIFO order
//! holds because SQS delivers no message of a group while another of it is in flight.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use skyport_core::bus::{QueueMessage, QueueSource};
use tokio::sync::watch;

use super::BatchInvoker;
use super::filter::Filters;
use super::sqs_event::{BatchResult, batch_result, record};

/// How long one receive waits for a first message (SQS's longest long poll).
const LONG_POLL: Duration = Duration::from_secs(20);
/// How long to wait before polling again after the queue could not be read.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What a mapping's pollers run with.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    /// The mapping's UUID.
    pub uuid: String,
    /// The account of the mapping and its function.
    pub account: String,
    /// The region.
    pub region: String,
    /// The queue.
    pub queue_arn: String,
    /// The function (qualified when the mapping names a version or alias).
    pub function_arn: String,
    /// `BatchSize`.
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`.
    pub window: Duration,
    /// `FunctionResponseTypes` has `ReportBatchItemFailures`.
    pub report_failures: bool,
    /// `FilterCriteria`.
    pub filters: Filters,
}

/// Runs one poller until `stop` turns true (or its sender is gone). A batch being processed is
/// finished first.
pub async fn run(
    config: Arc<PollerConfig>,
    source: Arc<dyn QueueSource>,
    invoker: Arc<dyn BatchInvoker>,
    mut stop: watch::Receiver<bool>,
) {
    let first_chunk = config.batch_size.min(10);
    loop {
        if *stop.borrow() {
            return;
        }
        let received = tokio::select! {
            r = source.receive(&config.queue_arn, first_chunk, LONG_POLL) => r,
            changed = stop.changed() => {
                if changed.is_err() { return; }
                continue;
            }
        };
        let mut batch = match received {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(mapping = %config.uuid, queue = %config.queue_arn, "lambda: cannot poll the queue: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(RETRY_AFTER) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        fill(&config, &*source, &mut stop, &mut batch, first_chunk).await;
        process(&config, &*source, &*invoker, batch).await;
    }
}

/// Adds to `batch` up to `BatchSize`: within the batching window when there is one, else what is
/// available right away.
async fn fill(
    config: &PollerConfig,
    source: &dyn QueueSource,
    stop: &mut watch::Receiver<bool>,
    batch: &mut Vec<QueueMessage>,
    first_chunk: usize,
) {
    let deadline = tokio::time::Instant::now() + config.window;
    let mut last_full = batch.len() >= first_chunk;
    while batch.len() < config.batch_size {
        let wanted = (config.batch_size - batch.len()).min(10);
        let wait = if config.window.is_zero() {
            if !last_full {
                return;
            }
            Duration::ZERO
        } else {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return;
            }
            left.min(LONG_POLL)
        };
        let more = tokio::select! {
            r = source.receive(&config.queue_arn, wanted, wait) => r,
            _ = stop.changed() => return,
        };
        match more {
            Ok(more) => {
                last_full = more.len() >= wanted;
                batch.extend(more);
            }
            Err(_) => return,
        }
    }
}

/// Filters, invokes and deletes one batch.
async fn process(
    config: &PollerConfig,
    source: &dyn QueueSource,
    invoker: &dyn BatchInvoker,
    batch: Vec<QueueMessage>,
) {
    let mut records = Vec::with_capacity(batch.len());
    let mut passed = Vec::with_capacity(batch.len());
    let mut dropped = Vec::new();
    for m in batch {
        let r = record(&m, &config.queue_arn, &config.region);
        if config.filters.matches_sqs(&r) {
            records.push(r);
            passed.push(m);
        } else {
            dropped.push(m.receipt_handle);
        }
    }
    if !dropped.is_empty() {
        tracing::debug!(mapping = %config.uuid, "lambda: {} message(s) filtered out and deleted", dropped.len());
        delete(config, source, &dropped).await;
    }
    if passed.is_empty() {
        return;
    }
    let payload = Bytes::from(json!({ "Records": Value::Array(records) }).to_string());
    let response = invoker
        .invoke_batch(
            &config.account,
            &config.region,
            &config.function_arn,
            payload,
        )
        .await;
    let response = match response {
        Ok(r) if r.function_error.is_none() => r,
        Ok(_) => {
            tracing::debug!(mapping = %config.uuid, "lambda: the function failed; the batch returns after the visibility timeout");
            return;
        }
        Err(e) => {
            tracing::warn!(mapping = %config.uuid, function = %config.function_arn, "lambda: invoking for the queue failed: {}", e.message);
            return;
        }
    };
    let failed = if config.report_failures {
        let ids: HashSet<String> = passed.iter().map(|m| m.message_id.clone()).collect();
        match batch_result(response.payload.as_deref().unwrap_or_default(), &ids) {
            BatchResult::Failed(failed) => failed,
            BatchResult::AllFailed => {
                tracing::debug!(mapping = %config.uuid, "lambda: an invalid batch item failure response fails the whole batch");
                return;
            }
        }
    } else {
        HashSet::new()
    };
    let done: Vec<String> = passed
        .into_iter()
        .filter(|m| !failed.contains(&m.message_id))
        .map(|m| m.receipt_handle)
        .collect();
    delete(config, source, &done).await;
}

async fn delete(config: &PollerConfig, source: &dyn QueueSource, handles: &[String]) {
    if handles.is_empty() {
        return;
    }
    if let Err(e) = source.delete(&config.queue_arn, handles).await {
        tracing::warn!(mapping = %config.uuid, "lambda: deleting processed messages failed: {e}");
    }
}

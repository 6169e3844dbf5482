//! Asynchronous invocation settings: `FunctionEventInvokeConfig` per function and qualifier
//! (`MaximumRetryAttempts`, `MaximumEventAgeInSeconds`, `DestinationConfig`), stored in Lambda's
//! store (table `event_invoke_configs`, key `<account>/<region>/<name>:<qualifier>`), the
//! [`AsyncPolicy`] an `Event` invocation runs with, and where its outcome goes: the `OnSuccess` or
//! `OnFailure` destination (an SQS queue, an SNS topic, or another function invoked asynchronously)
//! with AWS's destination record, and the function's `DeadLetterConfig` queue (the event as its body,
//! with `RequestID`, `ErrorCode` and `ErrorMessage` attributes) when the event is dropped. Stream
//! event source mappings send their discarded batches' records through the same [`Deliverer`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use skyport_core::bus::{BusAttribute, BusAttributes, QueueSink, TopicMessage, TopicPublisher};
use skyport_core::store::{Store, StoreError};
use skyport_wire::{ApiError, persist};

use crate::errors;
use crate::shapes::{DestinationConfig, FunctionEventInvokeConfig};

/// The store table of asynchronous invocation settings.
pub const TABLE: &str = "event_invoke_configs";

/// AWS's defaults: two retries, events kept six hours.
pub const DEFAULT_RETRIES: u32 = 2;
/// The default (and largest) event age, in seconds.
pub const DEFAULT_MAX_AGE: u64 = 21_600;

/// The store key of a function's (qualified) settings.
pub fn key(account: &str, region: &str, name: &str, qualifier: &str) -> String {
    format!("{account}/{region}/{name}:{qualifier}")
}

fn store_error(e: StoreError) -> ApiError {
    errors::service(format!("The invoke configuration could not be stored: {e}"))
}

/// Reads settings.
pub fn load(store: &Store, key: &str) -> Result<Option<FunctionEventInvokeConfig>, ApiError> {
    let Some(bytes) = store.get(TABLE, key).map_err(store_error)? else {
        return Ok(None);
    };
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        errors::service(format!("a stored invoke configuration is unreadable: {e}"))
    })?;
    persist::from_json(crate::model(), "FunctionEventInvokeConfig", &value)
        .map(Some)
        .map_err(|e| errors::service(e.0))
}

/// Writes settings.
pub async fn save(
    store: &Store,
    key: String,
    config: FunctionEventInvokeConfig,
) -> Result<(), ApiError> {
    let value = persist::to_json(crate::model(), "FunctionEventInvokeConfig", config)
        .map_err(|e| errors::service(e.0))?;
    let bytes = serde_json::to_vec(&value).map_err(|e| errors::service(e.to_string()))?;
    store
        .write_async(move |w| w.put(TABLE, &key, &bytes))
        .await
        .map_err(store_error)
}

/// Removes settings; false when there were none.
pub async fn remove(store: &Store, key: String) -> Result<bool, ApiError> {
    store
        .write_freeing_async(move |w| w.delete(TABLE, &key))
        .await
        .map_err(store_error)
}

/// Every setting of a function (all qualifiers), by key.
pub fn list(store: &Store, prefix: &str) -> Result<Vec<FunctionEventInvokeConfig>, ApiError> {
    let rows = store
        .read(|r| r.scan_prefix(TABLE, prefix, None, usize::MAX))
        .map_err(store_error)?;
    rows.into_iter()
        .map(|(k, _)| load(store, &k).map(Option::unwrap_or_default))
        .collect()
}

/// The destinations AWS accepts: an SQS queue, an SNS topic, a function, an event bus or an S3
/// bucket (Skyport delivers to queues, topics and functions).
pub fn check_destinations(config: Option<&DestinationConfig>) -> Result<(), ApiError> {
    let Some(config) = config else {
        return Ok(());
    };
    let arns = [
        config
            .on_success
            .as_ref()
            .and_then(|d| d.destination.as_deref()),
        config
            .on_failure
            .as_ref()
            .and_then(|d| d.destination.as_deref()),
    ];
    for arn in arns.into_iter().flatten() {
        let service = arn.split(':').nth(2).unwrap_or("");
        if !matches!(service, "sqs" | "sns" | "lambda" | "events" | "s3") {
            return Err(errors::invalid_parameter(format!(
                "The provided destination config DestinationConfig(onSuccess=..., onFailure=...) is invalid: \
                 {arn} is not a supported destination. Supported destinations are SQS queues, SNS topics, \
                 Lambda functions, EventBridge event buses and S3 buckets."
            )));
        }
    }
    Ok(())
}

/// What an `Event` invocation runs with.
#[derive(Debug, Clone)]
pub struct AsyncPolicy {
    /// Retries after a function error (0-2).
    pub max_retries: u32,
    /// How old an event may get before it is dropped instead of retried.
    pub max_age: Duration,
    /// `DestinationConfig.OnSuccess`.
    pub on_success: Option<String>,
    /// `DestinationConfig.OnFailure`.
    pub on_failure: Option<String>,
    /// The function's `DeadLetterConfig.TargetArn`.
    pub dead_letter: Option<String>,
}

impl Default for AsyncPolicy {
    fn default() -> AsyncPolicy {
        AsyncPolicy {
            max_retries: DEFAULT_RETRIES,
            max_age: Duration::from_secs(DEFAULT_MAX_AGE),
            on_success: None,
            on_failure: None,
            dead_letter: None,
        }
    }
}

impl AsyncPolicy {
    /// The policy of `config` (AWS's defaults where it says nothing) and a dead-letter queue.
    pub fn of(config: Option<&FunctionEventInvokeConfig>, dead_letter: Option<String>) -> Self {
        let mut p = AsyncPolicy {
            dead_letter: dead_letter.filter(|a| !a.is_empty()),
            ..AsyncPolicy::default()
        };
        if let Some(c) = config {
            if let Some(n) = c.maximum_retry_attempts {
                p.max_retries = u32::try_from(n.clamp(0, 2)).unwrap_or(DEFAULT_RETRIES);
            }
            if let Some(n) = c.maximum_event_age_in_seconds {
                p.max_age = Duration::from_secs(u64::try_from(n).unwrap_or(DEFAULT_MAX_AGE));
            }
            let d = c.destination_config.as_ref();
            p.on_success = d
                .and_then(|d| d.on_success.as_ref())
                .and_then(|s| s.destination.clone())
                .filter(|a| !a.is_empty());
            p.on_failure = d
                .and_then(|d| d.on_failure.as_ref())
                .and_then(|s| s.destination.clone())
                .filter(|a| !a.is_empty());
        }
        p
    }
}

/// How an `Event` invocation ended.
#[derive(Debug, Clone)]
pub struct AsyncOutcome {
    /// The invocation's request id.
    pub request_id: String,
    /// The account and region it ran in.
    pub account: String,
    /// The region.
    pub region: String,
    /// The function ARN with the version that ran (`...:function:f:$LATEST`).
    pub function_arn: String,
    /// `Success`, `RetriesExhausted` or `EventAgeExceeded`.
    pub condition: &'static str,
    /// How many times the function ran.
    pub attempts: u32,
    /// The event.
    pub request_payload: Bytes,
    /// The version that ran.
    pub executed_version: String,
    /// `Unhandled` (or `Handled`) when the function failed.
    pub function_error: Option<String>,
    /// The function's last response (its result, or its error document).
    pub response_payload: Option<Bytes>,
}

/// Receives the outcome of every `Event` invocation whose policy has somewhere to send it.
#[async_trait::async_trait]
pub trait AsyncReporter: Send + Sync {
    /// Delivers `outcome` as `policy` says.
    async fn finished(&self, outcome: AsyncOutcome, policy: AsyncPolicy);
}

/// A JSON document as a JSON value, else as a string.
fn json_or_text(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// AWS's destination record.
pub fn destination_record(o: &AsyncOutcome) -> Value {
    let mut response_context = json!({
        "statusCode": 200,
        "executedVersion": o.executed_version,
    });
    if let (Some(e), Some(map)) = (&o.function_error, response_context.as_object_mut()) {
        map.insert("functionError".to_owned(), e.clone().into());
    }
    let mut record = json!({
        "version": "1.0",
        "timestamp": skyport_wire::timestamp::iso8601(skyport_wire::Timestamp::now()),
        "requestContext": {
            "requestId": o.request_id,
            "functionArn": o.function_arn,
            "condition": o.condition,
            "approximateInvokeCount": o.attempts,
        },
        "requestPayload": json_or_text(&o.request_payload),
        "responseContext": response_context,
    });
    if let (Some(p), Some(map)) = (&o.response_payload, record.as_object_mut()) {
        map.insert("responsePayload".to_owned(), json_or_text(p));
    }
    record
}

/// Invokes a function asynchronously (Lambda itself, for function destinations).
#[async_trait::async_trait]
pub trait EventInvoker: Send + Sync {
    /// Queues an `Event` invocation of `function_arn` with `payload`.
    async fn invoke_event(&self, function_arn: &str, payload: Bytes) -> Result<(), ApiError>;
}

/// Delivers outcomes to queues and topics (through the bus) and functions (through Lambda).
#[derive(Default)]
pub struct Deliverer {
    queues: OnceLock<Arc<dyn QueueSink>>,
    topics: OnceLock<Arc<dyn TopicPublisher>>,
    functions: OnceLock<Arc<dyn EventInvoker>>,
}

impl Deliverer {
    /// Wires the queues destinations and dead-letter queues go to.
    pub fn set_queues(&self, sink: Arc<dyn QueueSink>) {
        let _ = self.queues.set(sink);
    }

    /// Wires the topics destinations go to.
    pub fn set_topics(&self, publisher: Arc<dyn TopicPublisher>) {
        let _ = self.topics.set(publisher);
    }

    /// Wires the functions function destinations go to.
    pub fn set_functions(&self, invoker: Arc<dyn EventInvoker>) {
        let _ = self.functions.set(invoker);
    }

    /// Sends `body` to the queue, topic or function `target` (the message attributes go to queues
    /// only); why not, when it could not.
    pub async fn send(
        &self,
        target: &str,
        body: String,
        attributes: BusAttributes,
    ) -> Result<(), String> {
        match target.split(':').nth(2) {
            Some("sqs") => match self.queues.get() {
                Some(sink) => sink
                    .send_to_queue(target, body, attributes)
                    .await
                    .map_err(|e| e.to_string()),
                None => Err("SQS is not available".to_owned()),
            },
            Some("sns") => match self.topics.get() {
                Some(topics) => {
                    let message = TopicMessage {
                        message: body,
                        ..TopicMessage::default()
                    };
                    topics
                        .publish(target, message)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
                None => Err("SNS is not available".to_owned()),
            },
            Some("lambda") => match self.functions.get() {
                Some(f) => f
                    .invoke_event(target, Bytes::from(body))
                    .await
                    .map_err(|e| e.message),
                None => Err("Lambda is not wired".to_owned()),
            },
            _ => Err(
                "Skyport delivers to SQS queues, SNS topics and Lambda functions only".to_owned(),
            ),
        }
    }

    async fn deliver(&self, target: &str, body: String, attributes: BusAttributes) {
        if let Err(e) = self.send(target, body, attributes).await {
            tracing::warn!(destination = %target, "lambda: delivering an asynchronous invocation's outcome failed: {e}");
        }
    }
}

#[async_trait::async_trait]
impl AsyncReporter for Deliverer {
    async fn finished(&self, outcome: AsyncOutcome, policy: AsyncPolicy) {
        let success = outcome.condition == "Success";
        let destination = if success {
            policy.on_success.as_deref()
        } else {
            policy.on_failure.as_deref()
        };
        if let Some(target) = destination {
            let record = destination_record(&outcome).to_string();
            self.deliver(target, record, BusAttributes::new()).await;
        }
        if !success && let Some(dlq) = policy.dead_letter.as_deref() {
            let message = outcome
                .response_payload
                .as_deref()
                .and_then(|p| serde_json::from_slice::<Value>(p).ok())
                .and_then(|v| {
                    v.get("errorMessage")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| outcome.condition.to_owned());
            let mut attributes = BusAttributes::new();
            attributes.insert(
                "RequestID".to_owned(),
                BusAttribute::string(outcome.request_id.clone()),
            );
            attributes.insert(
                "ErrorCode".to_owned(),
                BusAttribute {
                    data_type: "Number".to_owned(),
                    string_value: Some("200".to_owned()),
                    binary_value: None,
                },
            );
            attributes.insert("ErrorMessage".to_owned(), BusAttribute::string(message));
            let body = String::from_utf8_lossy(&outcome.request_payload).into_owned();
            self.deliver(dlq, body, attributes).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_of_a_failure() {
        let o = AsyncOutcome {
            request_id: "r".into(),
            account: "000000000000".into(),
            region: "us-east-1".into(),
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST".into(),
            condition: "RetriesExhausted",
            attempts: 3,
            request_payload: Bytes::from_static(br#"{"k": 1}"#),
            executed_version: "$LATEST".into(),
            function_error: Some("Unhandled".into()),
            response_payload: Some(Bytes::from_static(br#"{"errorMessage": "boom"}"#)),
        };
        let r = destination_record(&o);
        assert_eq!(r["version"], "1.0");
        assert_eq!(r["requestContext"]["condition"], "RetriesExhausted");
        assert_eq!(r["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(r["requestPayload"], json!({"k": 1}));
        assert_eq!(
            r["responseContext"],
            json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"})
        );
        assert_eq!(r["responsePayload"]["errorMessage"], "boom");
    }

    #[test]
    fn policy_defaults_and_settings() {
        let p = AsyncPolicy::of(None, None);
        assert_eq!((p.max_retries, p.max_age.as_secs()), (2, 21_600));
        let c = FunctionEventInvokeConfig {
            maximum_retry_attempts: Some(0),
            maximum_event_age_in_seconds: Some(60),
            ..Default::default()
        };
        let p = AsyncPolicy::of(Some(&c), Some("arn:aws:sqs:us-east-1:0:dlq".into()));
        assert_eq!((p.max_retries, p.max_age.as_secs()), (0, 60));
        assert!(p.dead_letter.is_some());
    }
}

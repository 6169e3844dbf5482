//! Delivery of published messages to subscriptions, after `Publish` has answered.
//!
//! One worker task takes deliveries in publish order (so a FIFO topic's messages reach a FIFO queue
//! in order): SQS deliveries go through [`QueueSink::send_message`], Lambda ones through
//! [`FunctionInvoker::invoke_async`], both in-process and immediate; HTTP(S) deliveries run as their own
//! tasks with the retry policy below, so a slow endpoint delays no one else. A delivery that fails for
//! good goes to the subscription's dead-letter queue (`RedrivePolicy`) when it has one.
//!
//! The HTTP(S) retry policy is AWS's default (`numRetries` 3, `minDelayTarget` = `maxDelayTarget`
//! = 20 s, linear), or the subscription's `DeliveryPolicy` `healthyRetryPolicy`, or the topic's
//! `http.defaultHealthyRetryPolicy`; a retry follows a failed connection or an answer outside 2xx.
//! `SKYPORT_SNS_RETRY_SECOND_MS` (tests) sets how many milliseconds one second of that policy lasts.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use skyport_core::bus::{BusAttribute, FunctionInvoker, OutgoingMessage, QueueSink};
use tokio::sync::mpsc;

use crate::message::{Confirmation, Notification, Published, Signed, bus_attributes};
use crate::state::SubRec;

/// Signs string-to-sign texts (SignatureVersion 1 or 2).
pub trait Signer: Send + Sync {
    /// The signature fields of a message whose canonical string is `text`, for `version` ("1" or "2").
    fn sign(&self, text: &str, version: &str, region: &str) -> Option<Signed>;
}

/// The HTTP(S) retry policy of one delivery.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first delay, in policy seconds.
    pub min_delay: u64,
    /// The last delay, in policy seconds.
    pub max_delay: u64,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            retries: 3,
            min_delay: 20,
            max_delay: 20,
        }
    }
}

impl RetryPolicy {
    /// The policy of a `DeliveryPolicy` document (`healthyRetryPolicy`, or
    /// `http.defaultHealthyRetryPolicy`), if it has one.
    pub fn from_document(text: &str) -> Option<RetryPolicy> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let p = v
            .get("healthyRetryPolicy")
            .or_else(|| v.pointer("/http/defaultHealthyRetryPolicy"))?;
        let default = RetryPolicy::default();
        let num = |k: &str, d: u64| p.get(k).and_then(serde_json::Value::as_u64).unwrap_or(d);
        Some(RetryPolicy {
            retries: u32::try_from(num("numRetries", u64::from(default.retries))).unwrap_or(3),
            min_delay: num("minDelayTarget", default.min_delay),
            max_delay: num("maxDelayTarget", default.max_delay),
        })
    }

    /// The delay before retry `n` (1-based), in policy seconds: linear from min to max.
    pub fn delay(&self, n: u32) -> u64 {
        if self.retries <= 1 {
            return self.min_delay;
        }
        let span = self.max_delay.saturating_sub(self.min_delay);
        self.min_delay + span * u64::from(n.saturating_sub(1)) / u64::from(self.retries - 1)
    }
}

/// What delivery needs besides the message.
pub struct Job {
    /// The subscription.
    pub sub: SubRec,
    /// The message.
    pub published: Arc<Published>,
    /// Whether the topic is FIFO.
    pub fifo: bool,
    /// The Skyport endpoint the publisher used (for `UnsubscribeURL`).
    pub endpoint: String,
    /// The topic's `SignatureVersion`.
    pub signature_version: String,
    /// The retry policy (HTTP(S)).
    pub retry: RetryPolicy,
    /// The signatures of this publish, shared by its deliveries.
    pub signatures: Arc<Signatures>,
    /// This delivery's signature, once computed (before it is delivered).
    pub signed: Option<Signed>,
}

impl Job {
    /// Whether the delivery carries a signed envelope (not raw, not recorded).
    fn needs_signature(&self) -> bool {
        match self.sub.protocol.as_str() {
            "lambda" => true,
            "sqs" | "http" | "https" => !self.sub.raw(),
            _ => false,
        }
    }
}

/// One signature, computed once.
type SignatureSlot = Arc<OnceLock<Option<Signed>>>;

/// The signatures of one publish by (message text, version): the canonical string is the same for
/// every subscription of a protocol, so one publish to many subscriptions signs once.
#[derive(Debug, Default)]
pub struct Signatures {
    by_text: Mutex<HashMap<(String, String), SignatureSlot>>,
}

impl Signatures {
    /// The signature of `text` with `version`, computed by `sign` the first time.
    fn get_or_sign(
        &self,
        text: &str,
        version: &str,
        sign: impl FnOnce() -> Option<Signed>,
    ) -> Option<Signed> {
        let slot = self
            .by_text
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((text.to_owned(), version.to_owned()))
            .or_default()
            .clone();
        slot.get_or_init(sign).clone()
    }
}

/// How many deliveries ahead of the one being delivered have their signature computed.
const SIGNING_AHEAD: usize = 16;

/// How many recorded (unsent) messages are kept for inspection.
pub const MAX_RECORDED: usize = 10_000;

/// A message SNS recorded rather than sent (SMS, email, platform endpoints).
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// `sms`, `email`, `email-json`, `application`.
    pub protocol: String,
    /// The phone number, address or endpoint ARN.
    pub endpoint: String,
    /// The account that published.
    pub account: String,
    /// The region.
    pub region: String,
    /// The message id.
    pub message_id: String,
    /// The message text (the whole document of a `MessageStructure: json` publish to a target).
    pub message: String,
    /// `MessageStructure`.
    pub structure: Option<String>,
    /// The subject.
    pub subject: Option<String>,
    /// The attributes.
    pub attributes: crate::message::Attributes,
    /// The topic, for a subscription's message.
    pub topic_arn: Option<String>,
    /// The subscription, for a subscription's message.
    pub subscription_arn: Option<String>,
}

impl Recorded {
    /// A message published straight to a phone number or endpoint.
    pub fn direct(
        protocol: &str,
        endpoint: &str,
        p: &Published,
        account: &str,
        region: &str,
    ) -> Recorded {
        Recorded {
            protocol: protocol.to_owned(),
            endpoint: endpoint.to_owned(),
            account: account.to_owned(),
            region: region.to_owned(),
            message_id: p.message_id.clone(),
            message: p.message.clone(),
            structure: p.structured.as_ref().map(|_| "json".to_owned()),
            subject: p.subject.clone(),
            attributes: p.attributes.clone(),
            topic_arn: None,
            subscription_arn: None,
        }
    }

    /// A topic's message for one of its subscriptions.
    fn subscribed(sub: &SubRec, p: &Published) -> Recorded {
        let mut parts = sub.arn.split(':');
        let region = parts.nth(3).unwrap_or_default().to_owned();
        let account = parts.next().unwrap_or_default().to_owned();
        Recorded {
            protocol: sub.protocol.clone(),
            endpoint: sub.endpoint.clone(),
            account,
            region,
            message_id: p.message_id.clone(),
            message: p.message_for(&sub.protocol).to_owned(),
            structure: None,
            subject: p.subject.clone(),
            attributes: p.attributes.clone(),
            topic_arn: Some(sub.topic_arn.clone()),
            subscription_arn: Some(sub.arn.clone()),
        }
    }
}

enum Work {
    Deliver(Job),
    Confirm {
        sub: SubRec,
        endpoint: String,
        retry: RetryPolicy,
        signature_version: String,
    },
}

/// The delivery machinery.
pub struct Deliverer {
    tx: mpsc::UnboundedSender<Work>,
    links: Arc<Links>,
}

/// The other services and settings delivery uses.
pub struct Links {
    queues: RwLock<Option<Arc<dyn QueueSink>>>,
    functions: RwLock<Option<Arc<dyn FunctionInvoker>>>,
    signer: tokio::sync::watch::Sender<Option<Arc<dyn Signer>>>,
    /// A signer is on its way (deliveries wait for it rather than go out unsigned).
    expect_signer: AtomicBool,
    /// Makes the signer on first need (the RSA key is not generated at startup).
    starter: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    /// Milliseconds per second of a retry policy.
    pub second_ms: u64,
    recorded: Mutex<Vec<Recorded>>,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer").finish_non_exhaustive()
    }
}

fn get<T: ?Sized>(lock: &RwLock<Option<Arc<T>>>) -> Option<Arc<T>> {
    lock.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn set<T: ?Sized>(lock: &RwLock<Option<Arc<T>>>, value: Arc<T>) {
    *lock.write().unwrap_or_else(|e| e.into_inner()) = Some(value);
}

impl Deliverer {
    /// Starts the worker (needs a Tokio runtime).
    pub fn start(second_ms: u64) -> Deliverer {
        let links = Arc::new(Links {
            queues: RwLock::new(None),
            functions: RwLock::new(None),
            signer: tokio::sync::watch::Sender::new(None),
            expect_signer: AtomicBool::new(false),
            starter: Mutex::new(None),
            second_ms,
            recorded: Mutex::new(Vec::new()),
        });
        let (tx, rx) = mpsc::unbounded_channel::<Work>();
        let worker = links.clone();
        // Signatures are computed up to SIGNING_AHEAD deliveries ahead, on the blocking pool, while
        // deliveries still run one after the other in publish order.
        tokio::spawn(async move {
            let incoming = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|work| (work, rx))
            });
            let signer = worker.clone();
            incoming
                .map(move |work| signer.clone().prepare(work))
                .buffered(SIGNING_AHEAD)
                .for_each(|work| {
                    let links = worker.clone();
                    async move {
                        match work {
                            Work::Deliver(job) => links.deliver(job).await,
                            Work::Confirm {
                                sub,
                                endpoint,
                                retry,
                                signature_version,
                            } => {
                                tokio::spawn(async move {
                                    links.confirm(sub, endpoint, retry, signature_version).await;
                                });
                            }
                        }
                    }
                })
                .await;
        });
        Deliverer { tx, links }
    }

    /// The links.
    pub fn links(&self) -> &Links {
        &self.links
    }

    /// Queues a delivery.
    pub fn deliver(&self, job: Job) {
        if self.tx.send(Work::Deliver(job)).is_err() {
            tracing::error!("SNS delivery worker is gone; message dropped");
        }
    }

    /// Sends an HTTP(S) subscription its `SubscriptionConfirmation`.
    pub fn confirm(
        &self,
        sub: SubRec,
        endpoint: String,
        retry: RetryPolicy,
        signature_version: String,
    ) {
        let work = Work::Confirm {
            sub,
            endpoint,
            retry,
            signature_version,
        };
        if self.tx.send(work).is_err() {
            tracing::error!("SNS delivery worker is gone; confirmation dropped");
        }
    }
}

/// `<endpoint>/?Action=Unsubscribe&SubscriptionArn=<arn>`.
pub fn unsubscribe_url(endpoint: &str, sub_arn: &str) -> String {
    format!("{endpoint}/?Action=Unsubscribe&SubscriptionArn={sub_arn}")
}

fn region_of(arn: &str) -> &str {
    arn.split(':').nth(3).unwrap_or("us-east-1")
}

impl Links {
    /// Uses `queues` for SQS subscriptions and dead-letter queues.
    pub fn set_queue_sink(&self, queues: Arc<dyn QueueSink>) {
        set(&self.queues, queues);
    }

    /// Uses `functions` for Lambda subscriptions.
    pub fn set_function_invoker(&self, functions: Arc<dyn FunctionInvoker>) {
        set(&self.functions, functions);
    }

    /// Signs messages with `signer`.
    pub fn set_signer(&self, signer: Arc<dyn Signer>) {
        self.signer.send_replace(Some(signer));
    }

    /// Announces a signer that `start` makes (on the first delivery or certificate request, never at
    /// startup): deliveries wait (up to 30 s) for [`Links::set_signer`].
    pub fn expect_signer(&self, start: Box<dyn FnOnce() + Send>) {
        *self.starter.lock().unwrap_or_else(|e| e.into_inner()) = Some(start);
        self.expect_signer.store(true, Ordering::SeqCst);
    }

    /// Starts making the announced signer, once.
    pub fn start_signer(&self) {
        let start = self
            .starter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(start) = start {
            start();
        }
    }

    /// The signer, once there is one.
    async fn signer(&self) -> Option<Arc<dyn Signer>> {
        let mut rx = self.signer.subscribe();
        if self.expect_signer.load(Ordering::SeqCst) {
            self.start_signer();
            let ready = rx.wait_for(Option::is_some);
            if tokio::time::timeout(Duration::from_secs(30), ready)
                .await
                .is_err()
            {
                tracing::warn!("SNS signing key not ready; delivering unsigned");
            }
        }
        Option::clone(&rx.borrow())
    }

    /// The messages recorded so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forgets the recorded messages `drop` selects.
    pub fn forget(&self, drop: impl Fn(&Recorded) -> bool) {
        self.recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|r| !drop(r));
    }

    /// Records a message that is not sent (the latest [`MAX_RECORDED`] are kept).
    pub fn record(&self, message: Recorded) {
        let mut recorded = self.recorded.lock().unwrap_or_else(|e| e.into_inner());
        if recorded.len() >= MAX_RECORDED {
            recorded.remove(0);
        }
        recorded.push(message);
    }

    /// Computes the delivery's signature (on the blocking pool, once per publish and text).
    async fn prepare(self: Arc<Self>, work: Work) -> Work {
        let Work::Deliver(mut job) = work else {
            return work;
        };
        if !job.needs_signature() {
            return Work::Deliver(job);
        }
        let Some(signer) = self.signer().await else {
            return Work::Deliver(job);
        };
        let published = job.published.clone();
        let signatures = job.signatures.clone();
        let protocol = job.sub.protocol.clone();
        let version = job.signature_version.clone();
        let region = region_of(&job.sub.arn).to_owned();
        let signed = tokio::task::spawn_blocking(move || {
            let text = published.message_for(&protocol);
            signatures.get_or_sign(text, &version, || {
                let string = crate::message::notification_string_to_sign(&published, text);
                signer.sign(&string, &version, &region)
            })
        })
        .await;
        job.signed = signed.ok().flatten();
        Work::Deliver(job)
    }

    fn notification<'a>(&self, job: &'a Job) -> Notification<'a> {
        Notification {
            published: &job.published,
            text: job.published.message_for(&job.sub.protocol),
            unsubscribe_url: unsubscribe_url(&job.endpoint, &job.sub.arn),
            signed: job.signed.clone(),
        }
    }

    async fn deliver(self: &Arc<Self>, job: Job) {
        let protocol = job.sub.protocol.clone();
        let result = match protocol.as_str() {
            "sqs" => self.to_queue(&job).await,
            "lambda" => self.to_function(&job).await,
            "http" | "https" => {
                let links = self.clone();
                tokio::spawn(async move { links.to_http(job).await });
                return;
            }
            _ => {
                self.record(Recorded::subscribed(&job.sub, &job.published));
                return;
            }
        };
        if let Err(reason) = result {
            tracing::warn!(subscription = %job.sub.arn, "SNS delivery failed: {reason}");
            self.dead_letter(&job, &reason).await;
        }
    }

    /// The SQS message of a delivery: the envelope, or the raw message with its attributes.
    fn queue_message(&self, job: &Job, queue_arn: &str) -> OutgoingMessage {
        let p = &job.published;
        let (body, attributes) = if job.sub.raw() {
            (
                p.message_for("sqs").to_owned(),
                bus_attributes(&p.attributes),
            )
        } else {
            (self.notification(job).envelope(), BTreeMap::new())
        };
        let fifo_queue = queue_arn.ends_with(".fifo");
        OutgoingMessage {
            body,
            attributes,
            group_id: if fifo_queue { p.group_id.clone() } else { None },
            dedup_id: if fifo_queue && job.fifo {
                p.dedup_id.clone()
            } else {
                None
            },
            delay_seconds: None,
        }
    }

    async fn to_queue(&self, job: &Job) -> Result<(), String> {
        let queues = get(&self.queues).ok_or("SQS is not available")?;
        let message = self.queue_message(job, &job.sub.endpoint);
        queues
            .send_message(&job.sub.endpoint, message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn to_function(&self, job: &Job) -> Result<(), String> {
        let functions = get(&self.functions).ok_or("Lambda is not available")?;
        // As in AWS, the function's resource policy must let SNS invoke it.
        if !functions
            .allows_invoke(&job.sub.endpoint, "sns.amazonaws.com")
            .await
        {
            return Err(format!(
                "the function {} does not exist or its resource policy does not allow sns.amazonaws.com",
                job.sub.endpoint
            ));
        }
        let event = self.notification(job).lambda_event(&job.sub.arn);
        let payload = Bytes::from(event.to_string());
        functions
            .invoke_async(&job.sub.endpoint, payload)
            .await
            .map_err(|e| e.to_string())
    }

    async fn to_http(self: Arc<Self>, job: Job) {
        let p = &job.published;
        let body = if job.sub.raw() {
            p.message_for(&job.sub.protocol).to_owned()
        } else {
            self.notification(&job).envelope()
        };
        let mut headers = vec![
            ("x-amz-sns-message-type", "Notification".to_owned()),
            ("x-amz-sns-message-id", p.message_id.clone()),
            ("x-amz-sns-topic-arn", p.topic_arn.clone()),
            ("x-amz-sns-subscription-arn", job.sub.arn.clone()),
            ("content-type", "text/plain; charset=UTF-8".to_owned()),
            (
                "user-agent",
                "Amazon Simple Notification Service Agent".to_owned(),
            ),
        ];
        if job.sub.raw() {
            headers.push(("x-amz-sns-rawdelivery", "true".to_owned()));
        }
        if let Err(reason) = self
            .post_with_retries(&job.sub, &headers, body, job.retry)
            .await
        {
            self.dead_letter(&job, &reason).await;
        }
    }

    async fn post_with_retries(
        &self,
        sub: &SubRec,
        headers: &[(&str, String)],
        body: String,
        retry: RetryPolicy,
    ) -> Result<(), String> {
        let mut attempt = 0u32;
        loop {
            match crate::http::post(&sub.endpoint, headers, body.clone()).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt >= retry.retries => {
                    tracing::warn!(subscription = %sub.arn, attempts = attempt + 1, "SNS HTTP delivery failed: {e}");
                    return Err(e.to_string());
                }
                Err(e) => {
                    attempt += 1;
                    let wait = retry.delay(attempt).saturating_mul(self.second_ms);
                    tracing::debug!(subscription = %sub.arn, attempt, "SNS HTTP delivery failed ({e}); retrying in {wait} ms");
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
            }
        }
    }

    async fn confirm(&self, sub: SubRec, endpoint: String, retry: RetryPolicy, version: String) {
        let subscribe_url = format!(
            "{endpoint}/?Action=ConfirmSubscription&TopicArn={}&Token={}",
            sub.topic_arn, sub.token
        );
        let confirmation = Confirmation {
            kind: "SubscriptionConfirmation",
            message_id: skyport_core::ids::uuid(),
            token: &sub.token,
            topic_arn: &sub.topic_arn,
            message: format!(
                "You have chosen to subscribe to the topic {}.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
                sub.topic_arn
            ),
            subscribe_url,
            timestamp: skyport_core::timefmt::iso8601_millis(std::time::SystemTime::now()),
        };
        let signed = self.signer().await.and_then(|s| {
            s.sign(
                &confirmation.string_to_sign(),
                &version,
                region_of(&sub.arn),
            )
        });
        let headers = vec![
            (
                "x-amz-sns-message-type",
                "SubscriptionConfirmation".to_owned(),
            ),
            ("x-amz-sns-message-id", confirmation.message_id.clone()),
            ("x-amz-sns-topic-arn", sub.topic_arn.clone()),
            ("content-type", "text/plain; charset=UTF-8".to_owned()),
            (
                "user-agent",
                "Amazon Simple Notification Service Agent".to_owned(),
            ),
        ];
        let body = confirmation.body(signed.as_ref());
        if let Err(e) = self.post_with_retries(&sub, &headers, body, retry).await {
            tracing::warn!(subscription = %sub.arn, "SNS subscription confirmation not delivered: {e}");
        }
    }

    /// Sends a message that could not be delivered to the subscription's dead-letter queue.
    async fn dead_letter(&self, job: &Job, reason: &str) {
        let Some(dlq) = job.sub.dead_letter_arn() else {
            return;
        };
        let Some(queues) = get(&self.queues) else {
            return;
        };
        let mut message = self.queue_message(job, &dlq);
        message.attributes.insert(
            "ErrorMessage".to_owned(),
            BusAttribute::string(reason.to_owned()),
        );
        if let Err(e) = queues.send_message(&dlq, message).await {
            tracing::warn!(subscription = %job.sub.arn, "SNS dead-letter queue refused the message: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_signature_per_text_and_version() {
        let signatures = Signatures::default();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let sign = || {
            calls.fetch_add(1, Ordering::SeqCst);
            Some(Signed {
                version: "1".to_owned(),
                signature: "s".to_owned(),
                cert_url: "u".to_owned(),
            })
        };
        for _ in 0..10 {
            assert!(signatures.get_or_sign("m", "1", sign).is_some());
        }
        assert!(signatures.get_or_sign("other", "1", sign).is_some());
        assert!(signatures.get_or_sign("m", "2", sign).is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn retry_policies() {
        let p = RetryPolicy::default();
        assert_eq!((p.retries, p.delay(1), p.delay(3)), (3, 20, 20));
        let doc = r#"{"healthyRetryPolicy": {"numRetries": 5, "minDelayTarget": 1, "maxDelayTarget": 9}}"#;
        let p = RetryPolicy::from_document(doc).unwrap();
        assert_eq!((p.retries, p.delay(1), p.delay(5)), (5, 1, 9));
        let topic = r#"{"http": {"defaultHealthyRetryPolicy": {"numRetries": 1}}}"#;
        assert_eq!(RetryPolicy::from_document(topic).unwrap().retries, 1);
        assert!(RetryPolicy::from_document("{}").is_none());
    }
}

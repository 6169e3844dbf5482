//! The SQS operations, on JSON-shaped inputs and outputs (see [`crate::wire`]).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::Engine;
use http::{Request, Response, request::Parts};
use serde_json::{Map, Value, json};
use skyport_core::{
    AwsError, Body, Protocol, RequestContext, Service, ServiceInfo, body,
    bus::{BusError, OutgoingMessage, QueueSink, SentMessage},
    store::{StateLayout, StoreError},
};

use crate::errors::{
    err, internal, invalid, invalid_value, malformed, missing, no_queue, not_found, storage,
};
use crate::model::{
    MAX_MESSAGE_ATTRIBUTES, MAX_MESSAGE_SIZE, Message, MessageAttribute, all_names, is_true,
    known_attribute, valid_body_char, validate_attribute, validate_message_attribute,
    validate_queue_name,
};
use crate::persist::{self, Persister};
use crate::queue::{NewMessage, Pending, Queue, QueueRecord, Received, now_ms, queue_key};
use crate::urls::{UrlConfig, parse_queue_url};
use crate::wire::{self, NAMESPACE};

static INFO: ServiceInfo = ServiceInfo {
    name: "sqs",
    protocols: &[Protocol::Json10, Protocol::Query],
    xml_namespace: NAMESPACE,
    json_error_prefix: "com.amazonaws.sqs#",
};

/// The largest request body read (a 1 MiB batch, form-encoded, fits).
const MAX_REQUEST: usize = 8 << 20;
/// LocalStack's developer endpoint listing a queue's messages without receiving them.
pub const PEEK_PATH: &str = "/_aws/sqs/messages";

/// Why SQS could not start.
#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The commit thread could not start.
    #[error("cannot start the SQS commit thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// A message move task. With persistence it is stored when it starts, with every moved chunk (in the
/// same commit as the chunk) and when it ends, so after a restart (or `kill -9`) a running task goes on
/// where it stopped and finished ones are still listed.
#[derive(Debug)]
struct MoveTask {
    /// The store key: `<started:020>/<task id>`.
    key: String,
    handle: String,
    source_arn: String,
    destination_arn: Option<String>,
    max_per_second: Option<u64>,
    started: u64,
    to_move: u64,
    moved: AtomicU64,
    cancel: AtomicBool,
    status: Mutex<&'static str>,
    failure: Mutex<Option<String>>,
}

/// The stored form of a [`MoveTask`].
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct TaskRecord {
    handle: String,
    source_arn: String,
    #[serde(default)]
    destination_arn: Option<String>,
    #[serde(default)]
    max_per_second: Option<u64>,
    started: u64,
    to_move: u64,
    moved: u64,
    status: String,
    #[serde(default)]
    failure: Option<String>,
}

/// How many tasks per source queue `ListMessageMoveTasks` can show (and so how many are kept).
const TASKS_KEPT: usize = 10;

impl MoveTask {
    fn from_record(key: String, r: TaskRecord) -> MoveTask {
        let status = match r.status.as_str() {
            "RUNNING" => "RUNNING",
            "COMPLETED" => "COMPLETED",
            "FAILED" => "FAILED",
            // A cancel that had not finished when the process stopped has nothing left to stop.
            _ => "CANCELLED",
        };
        MoveTask {
            key,
            handle: r.handle,
            source_arn: r.source_arn,
            destination_arn: r.destination_arn,
            max_per_second: r.max_per_second,
            started: r.started,
            to_move: r.to_move,
            moved: AtomicU64::new(r.moved),
            cancel: AtomicBool::new(false),
            status: Mutex::new(status),
            failure: Mutex::new(r.failure),
        }
    }

    /// The op storing the task as it is now.
    fn save(&self) -> persist::Op {
        let record = TaskRecord {
            handle: self.handle.clone(),
            source_arn: self.source_arn.clone(),
            destination_arn: self.destination_arn.clone(),
            max_per_second: self.max_per_second,
            started: self.started,
            to_move: self.to_move,
            moved: self.moved.load(Ordering::SeqCst),
            status: self.status().to_owned(),
            failure: self
                .failure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        };
        persist::Op::PutTask(
            self.key.clone(),
            serde_json::to_vec(&record).unwrap_or_default(),
        )
    }

    fn status(&self) -> &'static str {
        *self.status.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn set_status(&self, status: &'static str) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
    }
}

/// The page cache of the SQS store: every request is served from memory and the store is read only at
/// start, so the cache only helps writes find their pages (see docs/sqs.md, "Memory").
const STORE_CACHE_BYTES: usize = 4 << 20;

/// How long AWS keeps a deleted queue's name from being reused (`QueueDeletedRecently`).
const RECENTLY_DELETED_MS: u64 = 60_000;

/// SQS settings.
#[derive(Debug, Clone, Default)]
pub struct SqsOptions {
    /// How queue URLs are built.
    pub urls: UrlConfig,
    /// Refuse to re-create a queue within 60 s of deleting it, as AWS does (`SQS_DELAY_RECENTLY_DELETED`;
    /// off by default, like LocalStack, because test fixtures re-create queues all the time).
    pub delay_recently_deleted: bool,
    /// Allow one `PurgeQueue` per queue every 60 s, as AWS does (`SQS_DELAY_PURGE_RETRY`; off by default,
    /// like LocalStack).
    pub delay_purge_retry: bool,
}

#[derive(Debug)]
struct Inner {
    queues: RwLock<BTreeMap<String, Arc<Queue>>>,
    persist: Option<Persister>,
    options: SqsOptions,
    tasks: Mutex<Vec<Arc<MoveTask>>>,
    /// Queue keys deleted recently, with the time of deletion (ms).
    deleted: Mutex<BTreeMap<String, u64>>,
    /// Set when shutdown begins: long polls return at once.
    stopping: AtomicBool,
    /// Set while a state reset waits for requests to finish: long polls return at once.
    resetting: AtomicBool,
}

/// The SQS service.
#[derive(Debug, Clone)]
pub struct Sqs {
    inner: Arc<Inner>,
}

type Out = Result<Value, AwsError>;

/// The queues (with their messages) and move tasks of what a store holds.
fn build(
    loaded: persist::Loaded,
    persist: Option<&Persister>,
) -> (BTreeMap<String, Arc<Queue>>, Vec<Arc<MoveTask>>) {
    let mut queues = BTreeMap::new();
    let mut tasks = Vec::new();
    let mut messages = loaded.messages;
    for (key, bytes) in loaded.queues {
        let Ok(record) = serde_json::from_slice::<QueueRecord>(&bytes) else {
            tracing::warn!(key, "skipping an unreadable stored SQS queue");
            continue;
        };
        let queue = Queue::new(record, persist.cloned());
        queue.restore(messages.remove(&key).unwrap_or_default());
        queues.insert(key, Arc::new(queue));
    }
    for (key, bytes) in loaded.tasks {
        match serde_json::from_slice::<TaskRecord>(&bytes) {
            Ok(record) => tasks.push(Arc::new(MoveTask::from_record(key, record))),
            Err(_) => tracing::warn!(key, "skipping an unreadable stored SQS move task"),
        }
    }
    (queues, tasks)
}

impl Sqs {
    /// SQS with its state in `layout` (durable with persistence, in memory otherwise), set up per `options`.
    pub fn new(layout: &StateLayout, options: SqsOptions) -> Result<Sqs, SqsError> {
        let (mut queues, mut tasks) = (BTreeMap::new(), Vec::new());
        let persist = if layout.persistent() {
            let store = layout.open_store_with_cache("sqs", STORE_CACHE_BYTES)?;
            let loaded = persist::load(&store)?;
            let persist = Persister::start(store)?;
            (queues, tasks) = build(loaded, Some(&persist));
            tracing::debug!(
                queues = queues.len(),
                tasks = tasks.len(),
                "SQS state loaded"
            );
            Some(persist)
        } else {
            None
        };
        let inner = Arc::new(Inner {
            queues: RwLock::new(queues),
            persist,
            options,
            tasks: Mutex::new(tasks),
            deleted: Mutex::new(BTreeMap::new()),
            stopping: AtomicBool::new(false),
            resetting: AtomicBool::new(false),
        });
        let sqs = Sqs { inner };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(expire_messages(Arc::downgrade(&sqs.inner)));
            sqs.resume_move_tasks(&runtime);
        }
        Ok(sqs)
    }

    /// Goes on with the move tasks that were running when the process stopped (from the store).
    fn resume_move_tasks(&self, runtime: &tokio::runtime::Handle) {
        let running: Vec<Arc<MoveTask>> = self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|t| t.status() == "RUNNING")
            .cloned()
            .collect();
        for task in running {
            let Some(source) = self.queue_by_arn(&task.source_arn) else {
                *task.failure.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some("AWS.SimpleQueueService.NonExistentQueue".to_owned());
                task.set_status("FAILED");
                if let Some(p) = &self.inner.persist {
                    drop(p.submit(vec![task.save()]));
                }
                continue;
            };
            tracing::info!(source = %task.source_arn, moved = task.moved.load(Ordering::SeqCst), "resuming a message move task");
            let sqs = self.clone();
            runtime.spawn(async move { sqs.run_move_task(source, task).await });
        }
    }

    /// Stores `task` (with persistence) and waits for the commit.
    async fn save_task(&self, task: &MoveTask, mut ops: Vec<persist::Op>) -> Result<(), AwsError> {
        let Some(p) = &self.inner.persist else {
            return Ok(());
        };
        ops.push(task.save());
        wait(Some(p.submit(ops))).await
    }

    fn queues(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Queue>>> {
        self.inner.queues.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn queue_by_arn(&self, arn: &str) -> Option<Arc<Queue>> {
        let parts: Vec<&str> = arn.split(':').collect();
        let [_, _, "sqs", region, account, name] = parts.as_slice() else {
            return None;
        };
        self.queues()
            .get(&queue_key(account, region, name))
            .cloned()
    }

    fn url(&self, ctx: &RequestContext, q: &Queue) -> String {
        self.inner
            .options
            .urls
            .queue_url(ctx, &q.region, &q.account, &q.name)
    }

    /// The queue a request names (QueueUrl in the input, else the request path).
    fn queue(
        &self,
        ctx: &RequestContext,
        input: &Value,
        path: &str,
    ) -> Result<Arc<Queue>, AwsError> {
        let url = match str_field(input, "QueueUrl")? {
            Some(u) if !u.is_empty() => u,
            _ if parse_queue_url(path).is_some() => path,
            _ => return Err(missing("QueueUrl")),
        };
        let key = match parse_queue_url(url) {
            Some(r) => {
                let region = r.region.unwrap_or_else(|| ctx.region.clone());
                queue_key(&r.account, &region, &r.name)
            }
            // AWS also takes the bare queue name as `QueueUrl`: a queue of the caller's account and region.
            None if !url.contains('/') => queue_key(&ctx.account, &ctx.region, url),
            None => return Err(no_queue()),
        };
        self.queues().get(&key).cloned().ok_or_else(no_queue)
    }

    async fn dispatch(&self, ctx: &RequestContext, op: &str, input: &Value, parts: &Parts) -> Out {
        let path = parts.uri.path();
        match op {
            "CreateQueue" => self.create_queue(ctx, input).await,
            "GetQueueUrl" => self.get_queue_url(ctx, input),
            "ListQueues" => self.list_queues(ctx, input),
            "DeleteQueue" => {
                let q = self.queue(ctx, input, path)?;
                let removed = self
                    .inner
                    .queues
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&q.key);
                if let Some(q) = removed {
                    if self.inner.options.delay_recently_deleted {
                        let mut deleted =
                            self.inner.deleted.lock().unwrap_or_else(|e| e.into_inner());
                        let now = now_ms();
                        deleted.retain(|_, at| now < *at + RECENTLY_DELETED_MS);
                        deleted.insert(q.key.clone(), now);
                    }
                    wait(q.destroy()).await?;
                }
                Ok(json!({}))
            }
            "GetQueueAttributes" => {
                let q = self.queue(ctx, input, path)?;
                self.get_queue_attributes(&q, input)
            }
            "SetQueueAttributes" => {
                let q = self.queue(ctx, input, path)?;
                self.set_queue_attributes(&q, input).await
            }
            "SendMessage" => {
                let q = self.queue(ctx, input, path)?;
                self.send_message(ctx, &q, input, trace_header(parts)).await
            }
            "SendMessageBatch" => {
                let q = self.queue(ctx, input, path)?;
                self.send_message_batch(ctx, &q, input, trace_header(parts))
                    .await
            }
            "ReceiveMessage" => {
                let q = self.queue(ctx, input, path)?;
                self.receive_message(&q, input).await
            }
            "DeleteMessage" => {
                let q = self.queue(ctx, input, path)?;
                let handle = required_str(input, "ReceiptHandle")?;
                wait(q.delete(handle)?).await?;
                Ok(json!({}))
            }
            "DeleteMessageBatch" => {
                let q = self.queue(ctx, input, path)?;
                self.delete_message_batch(&q, input).await
            }
            "ChangeMessageVisibility" => {
                let q = self.queue(ctx, input, path)?;
                let handle = required_str(input, "ReceiptHandle")?;
                let timeout = visibility_timeout(input, true)?.unwrap_or(0);
                wait(q.change_visibility(handle, timeout)?).await?;
                Ok(json!({}))
            }
            "ChangeMessageVisibilityBatch" => {
                let q = self.queue(ctx, input, path)?;
                self.change_visibility_batch(&q, input).await
            }
            "PurgeQueue" => {
                let q = self.queue(ctx, input, path)?;
                wait(q.purge(self.inner.options.delay_purge_retry)?).await?;
                Ok(json!({}))
            }
            "TagQueue" => {
                let q = self.queue(ctx, input, path)?;
                let tags = string_map(input, "Tags")?.unwrap_or_default();
                let mut all = q.record().tags;
                all.extend(tags.clone());
                validate_tags(&q.name, &tags, all.len())?;
                wait(q.update(|r| r.tags.extend(tags))).await?;
                Ok(json!({}))
            }
            "UntagQueue" => {
                let q = self.queue(ctx, input, path)?;
                let keys = string_list(input, "TagKeys")?.unwrap_or_default();
                wait(q.update(|r| {
                    for k in &keys {
                        r.tags.remove(k);
                    }
                }))
                .await?;
                Ok(json!({}))
            }
            "ListQueueTags" => {
                let q = self.queue(ctx, input, path)?;
                let tags = q.record().tags;
                if tags.is_empty() {
                    return Ok(json!({}));
                }
                Ok(json!({ "Tags": tags }))
            }
            "AddPermission" => {
                let q = self.queue(ctx, input, path)?;
                self.add_permission(&q, input).await
            }
            "RemovePermission" => {
                let q = self.queue(ctx, input, path)?;
                self.remove_permission(&q, input).await
            }
            "ListDeadLetterSourceQueues" => {
                let q = self.queue(ctx, input, path)?;
                self.list_dead_letter_source_queues(ctx, &q, input)
            }
            "StartMessageMoveTask" => self.start_move_task(input).await,
            "ListMessageMoveTasks" => self.list_move_tasks(input),
            "CancelMessageMoveTask" => self.cancel_move_task(input).await,
            other => Err(AwsError::bad_request(
                "InvalidAction",
                format!("The action {other} is not valid for this endpoint."),
            )
            .with_query_code("InvalidAction")),
        }
    }

    /// Reads, decodes, runs and encodes one request (`json`: a query request that accepts JSON).
    async fn handle(
        &self,
        ctx: &mut RequestContext,
        parts: &Parts,
        request_body: Body,
        json: bool,
    ) -> Result<Response<Body>, AwsError> {
        let bytes = body::collect_limited(request_body, MAX_REQUEST)
            .await
            .map_err(|e| match e {
                body::BodyError::TooLarge { .. } => {
                    invalid(format!("The request is larger than {MAX_REQUEST} bytes."))
                }
                body::BodyError::Read(e) => {
                    malformed(format!("Could not read the request body: {e}"))
                }
            })?;
        let (op, input) = wire::decode(ctx, parts, &bytes)?;
        ctx.set_operation(op.clone());
        self.authorize(ctx, &op, &input, parts)?;
        let output = self.dispatch(ctx, &op, &input, parts).await?;
        Ok(wire::encode(ctx, &op, output, json))
    }

    /// `ENFORCE_IAM=1`: the verified principal's request authorized by IAM. A request sent to the
    /// queue's own URL (no `QueueUrl` member) names the queue by its path.
    fn authorize(
        &self,
        ctx: &RequestContext,
        op: &str,
        input: &Value,
        parts: &Parts,
    ) -> Result<(), AwsError> {
        if !skyport_authref::applies(ctx) {
            return Ok(());
        }
        let has_url = input.get("QueueUrl").and_then(Value::as_str).is_some();
        let path = parts.uri.path().trim_end_matches('/');
        if has_url || path.matches('/').count() < 2 {
            return skyport_authref::check(ctx, op, input);
        }
        let mut with_url = input.clone();
        if let Value::Object(members) = &mut with_url {
            members.insert(
                "QueueUrl".to_owned(),
                Value::String(format!("{}{path}", ctx.endpoint_url())),
            );
        }
        skyport_authref::check(ctx, op, &with_url)
    }

    /// `GET /_aws/sqs/messages?QueueUrl=<url>` (LocalStack's developer endpoint): the queue's messages
    /// without receiving them, in `ReceiveMessage`'s shape (XML, or JSON with `Accept: application/json`).
    /// `ShowInvisible=true` adds in-flight messages, `ShowDelayed=true` delayed ones; `MaxNumberOfMessages`
    /// (Skyport's) caps the list. Each message's attributes also say `IsVisible`.
    fn peek(&self, ctx: &mut RequestContext, parts: &Parts) -> Result<Response<Body>, AwsError> {
        ctx.set_operation("PeekMessages");
        let json = ctx.protocol.is_aws_json() || wire::accepts_json(ctx, parts);
        let params = skyport_core::protocol::Params::from_query_and_form(parts.uri.query(), b"");
        let param = |name: &str| params.get(name);
        let flag = |name: &str| param(name).is_some_and(is_true);
        let max = match param("MaxNumberOfMessages") {
            Some(v) => v.parse::<usize>().map_err(|_| {
                invalid(format!(
                    "Value {v} for parameter MaxNumberOfMessages is invalid."
                ))
            })?,
            None => usize::MAX,
        };
        let url = param("QueueUrl").unwrap_or("");
        let q = self.queue(ctx, &json!({ "QueueUrl": url }), parts.uri.path())?;
        let all = ["All".to_owned()];
        let messages: Vec<Value> = q
            .peek(flag("ShowInvisible"), flag("ShowDelayed"), max)
            .into_iter()
            .map(|(message, visible)| {
                let received = Received {
                    message,
                    receipt: String::new(),
                };
                let mut out = render_message(&received, q.fifo, &all, &all);
                if let Some(Value::Object(attributes)) = out.get_mut("Attributes") {
                    attributes.insert("IsVisible".into(), visible.to_string().into());
                }
                out
            })
            .collect();
        Ok(wire::encode(
            ctx,
            "ReceiveMessage",
            json!({ "Messages": messages }),
            json,
        ))
    }

    async fn create_queue(&self, ctx: &RequestContext, input: &Value) -> Out {
        let name = required_str(input, "QueueName")?.to_owned();
        let attributes = string_map(input, "Attributes")?.unwrap_or_default();
        let tags = string_map(input, "tags")?.unwrap_or_default();
        let fifo = attributes.get("FifoQueue").is_some_and(|v| is_true(v));
        validate_queue_name(&name, fifo)?;
        if name.ends_with(".fifo") && !fifo {
            return Err(invalid(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
            ));
        }
        let mut clean = BTreeMap::new();
        for (k, v) in &attributes {
            let value = validate_attribute(k, v, fifo, true)?;
            clean.insert(k.clone(), value);
        }
        let source_arn = format!(
            "arn:{}:sqs:{}:{}:{name}",
            ctx.partition(),
            ctx.region,
            ctx.account
        );
        self.check_redrive(&clean, fifo, &source_arn)?;
        validate_tags(&name, &tags, tags.len())?;
        let key = queue_key(&ctx.account, &ctx.region, &name);
        let (queue, pending) = {
            let mut queues = self.inner.queues.write().unwrap_or_else(|e| e.into_inner());
            if let Some(existing) = queues.get(&key) {
                let record = existing.record();
                for (k, v) in &clean {
                    let current = record.attributes.get(k).map(String::as_str).unwrap_or("");
                    if current != v {
                        return Err(err(
                            "QueueNameExists",
                            "QueueAlreadyExists",
                            format!(
                                "A queue already exists with the same name and a different value for attribute {k}"
                            ),
                        ));
                    }
                }
                return Ok(json!({ "QueueUrl": self.url(ctx, existing) }));
            }
            if self.inner.options.delay_recently_deleted
                && self
                    .inner
                    .deleted
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&key)
                    .is_some_and(|at| now_ms() < at + RECENTLY_DELETED_MS)
            {
                return Err(err(
                    "QueueDeletedRecently",
                    "AWS.SimpleQueueService.QueueDeletedRecently",
                    "You must wait 60 seconds after deleting a queue before you can create another with the same name.",
                ));
            }
            let mut record = Queue::new_record(&ctx.account, &ctx.region, &name, fifo);
            apply_attributes(&mut record.attributes, clean);
            record.tags = tags;
            let queue = Arc::new(Queue::new(record, self.inner.persist.clone()));
            let pending = {
                let state = queue.lock();
                queue.save(&state)
            };
            queues.insert(key, queue.clone());
            (queue, pending)
        };
        wait(pending).await?;
        Ok(json!({ "QueueUrl": self.url(ctx, &queue) }))
    }

    fn check_redrive(
        &self,
        attributes: &BTreeMap<String, String>,
        fifo: bool,
        source_arn: &str,
    ) -> Result<(), AwsError> {
        let Some(policy) = attributes.get("RedrivePolicy").filter(|p| !p.is_empty()) else {
            return Ok(());
        };
        let target = serde_json::from_str::<Value>(policy)
            .ok()
            .and_then(|v| v.get("deadLetterTargetArn")?.as_str().map(str::to_owned))
            .unwrap_or_default();
        match self.queue_by_arn(&target) {
            Some(dlq) if dlq.fifo == fifo => {
                // The dead-letter queue's RedriveAllowPolicy decides which sources may use it.
                let allow = dlq
                    .record()
                    .attributes
                    .get("RedriveAllowPolicy")
                    .and_then(|p| serde_json::from_str::<Value>(p).ok());
                let allowed = match allow
                    .as_ref()
                    .and_then(|a| a.get("redrivePermission"))
                    .and_then(Value::as_str)
                {
                    Some("denyAll") => false,
                    Some("byQueue") => allow
                        .as_ref()
                        .and_then(|a| a.get("sourceQueueArns"))
                        .and_then(Value::as_array)
                        .is_some_and(|arns| arns.iter().any(|a| a.as_str() == Some(source_arn))),
                    _ => true,
                };
                if allowed {
                    Ok(())
                } else {
                    Err(invalid_value(
                        policy,
                        "RedrivePolicy",
                        &format!(
                            "Queue {target} does not allow {source_arn} to use it as a dead-letter queue."
                        ),
                    ))
                }
            }
            Some(_) => Err(invalid_value(
                policy,
                "RedrivePolicy",
                "Dead-letter queue must be same type of queue as the source.",
            )),
            None => Err(invalid_value(
                policy,
                "RedrivePolicy",
                "Dead letter target does not exist.",
            )),
        }
    }

    fn get_queue_url(&self, ctx: &RequestContext, input: &Value) -> Out {
        let name = required_str(input, "QueueName")?;
        let account = str_field(input, "QueueOwnerAWSAccountId")?
            .filter(|a| !a.is_empty())
            .unwrap_or(&ctx.account);
        let queue = self
            .queues()
            .get(&queue_key(account, &ctx.region, name))
            .cloned()
            .ok_or_else(no_queue)?;
        Ok(json!({ "QueueUrl": self.url(ctx, &queue) }))
    }

    fn list_queues(&self, ctx: &RequestContext, input: &Value) -> Out {
        let prefix = str_field(input, "QueueNamePrefix")?.unwrap_or("");
        let max = max_results(input, 1000)?;
        let after = next_token(input)?;
        let scope = format!("{}/{}/", ctx.account, ctx.region);
        let queues: Vec<Arc<Queue>> = self
            .queues()
            .range(scope.clone()..)
            .take_while(|(k, _)| k.starts_with(&scope))
            .filter(|(_, q)| q.name.starts_with(prefix))
            .filter(|(k, _)| after.as_deref().is_none_or(|a| k.as_str() > a))
            .map(|(_, q)| q.clone())
            .collect();
        paginate(queues, max, |q| self.url(ctx, q), "QueueUrls")
    }

    fn get_queue_attributes(&self, q: &Queue, input: &Value) -> Out {
        let names = string_list(input, "AttributeNames")?.unwrap_or_default();
        for n in &names {
            if !known_attribute(n) {
                return Err(crate::errors::invalid_attribute_name(n));
            }
        }
        let wanted: Vec<&str> = if names.iter().any(|n| n == "All") {
            all_names(q.fifo).collect()
        } else {
            names.iter().map(String::as_str).collect()
        };
        if wanted.is_empty() {
            return Ok(json!({}));
        }
        let record = q.record();
        let (visible, inflight, delayed) = q.counts();
        let mut out = Map::new();
        for name in wanted {
            let value = match name {
                "ApproximateNumberOfMessages" => Some(visible.to_string()),
                "ApproximateNumberOfMessagesNotVisible" => Some(inflight.to_string()),
                "ApproximateNumberOfMessagesDelayed" => Some(delayed.to_string()),
                "CreatedTimestamp" => Some(record.created.to_string()),
                "LastModifiedTimestamp" => Some(record.last_modified.to_string()),
                "QueueArn" => Some(q.arn.clone()),
                other => record.attributes.get(other).cloned(),
            };
            if let Some(v) = value {
                out.insert(name.to_owned(), Value::String(v));
            }
        }
        Ok(json!({ "Attributes": out }))
    }

    async fn set_queue_attributes(&self, q: &Queue, input: &Value) -> Out {
        let attributes = string_map(input, "Attributes")?.ok_or_else(|| missing("Attributes"))?;
        let mut clean = BTreeMap::new();
        for (k, v) in &attributes {
            clean.insert(k.clone(), validate_attribute(k, v, q.fifo, false)?);
        }
        self.check_redrive(&clean, q.fifo, &q.arn)?;
        wait(q.update(|r| apply_attributes(&mut r.attributes, clean))).await?;
        Ok(json!({}))
    }

    fn parse_new_message(
        &self,
        ctx: &RequestContext,
        entry: &Value,
        trace: Option<&str>,
    ) -> Result<NewMessage, AwsError> {
        let body = match str_field(entry, "MessageBody")? {
            Some(b) if !b.is_empty() => b.to_owned(),
            _ => return Err(missing("MessageBody")),
        };
        if !body.chars().all(valid_body_char) {
            return Err(err(
                "InvalidMessageContents",
                "InvalidMessageContents",
                "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | \
                 #xE000 to #xFFFD | #x10000 to #x10FFFF",
            ));
        }
        let delay = match int_field(entry, "DelaySeconds")? {
            None => None,
            Some(d) if (0..=900).contains(&d) => Some(d as u64),
            Some(d) => {
                return Err(invalid_value(
                    d,
                    "DelaySeconds",
                    "DelaySeconds must be >= 0 and <= 900.",
                ));
            }
        };
        let attributes = message_attributes(entry, "MessageAttributes")?;
        if attributes.len() > MAX_MESSAGE_ATTRIBUTES {
            return Err(invalid(format!(
                "Number of message attributes [{}] exceeds the allowed maximum [{MAX_MESSAGE_ATTRIBUTES}].",
                attributes.len()
            )));
        }
        for (name, attr) in &attributes {
            validate_message_attribute(name, attr)?;
        }
        let system_attributes = message_attributes(entry, "MessageSystemAttributes")?;
        for (name, attr) in &system_attributes {
            if name != "AWSTraceHeader" {
                return Err(invalid(format!(
                    "Message system attribute name '{name}' is invalid."
                )));
            }
            if attr.data_type != "String" || attr.string_value.as_deref().is_none_or(str::is_empty)
            {
                return Err(invalid(
                    "Message system attribute 'AWSTraceHeader' must contain a non-empty value of type 'String'.",
                ));
            }
        }
        let size = body.len() + attributes.iter().map(|(n, a)| a.size(n)).sum::<usize>();
        if size > MAX_MESSAGE_SIZE {
            return Err(invalid(format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {MAX_MESSAGE_SIZE} bytes."
            )));
        }
        let group_id = str_field(entry, "MessageGroupId")?.map(str::to_owned);
        let dedup_id = str_field(entry, "MessageDeduplicationId")?.map(str::to_owned);
        for (name, value) in [
            ("MessageGroupId", &group_id),
            ("MessageDeduplicationId", &dedup_id),
        ] {
            if let Some(v) = value
                && (v.is_empty() || v.len() > 128 || !v.bytes().all(|c| c.is_ascii_graphic()))
            {
                return Err(invalid_value(
                    v,
                    name,
                    &format!(
                        "{name} can only include alphanumeric and punctuation characters. 1 to 128 in length."
                    ),
                ));
            }
        }
        Ok(NewMessage {
            body,
            attributes,
            system_attributes,
            delay,
            group_id,
            dedup_id,
            sender_id: ctx.account.clone(),
            trace_header: trace.map(str::to_owned),
        })
    }

    async fn send_message(
        &self,
        ctx: &RequestContext,
        q: &Queue,
        input: &Value,
        trace: Option<&str>,
    ) -> Out {
        let new = self.parse_new_message(ctx, input, trace)?;
        let (mut results, pending) = q.send(vec![new]);
        wait(pending).await?;
        let sent = results
            .pop()
            .ok_or_else(|| internal("no result for the message"))??;
        let mut out = Map::new();
        out.insert("MessageId".into(), sent.message_id.into());
        out.insert("MD5OfMessageBody".into(), sent.md5_body.into());
        if let Some(m) = sent.md5_attributes {
            out.insert("MD5OfMessageAttributes".into(), m.into());
        }
        if let Some(m) = sent.md5_system {
            out.insert("MD5OfMessageSystemAttributes".into(), m.into());
        }
        if let Some(s) = sent.sequence_number {
            out.insert("SequenceNumber".into(), s.into());
        }
        Ok(Value::Object(out))
    }

    async fn send_message_batch(
        &self,
        ctx: &RequestContext,
        q: &Queue,
        input: &Value,
        trace: Option<&str>,
    ) -> Out {
        let entries = batch_entries(input, "SendMessageBatchRequestEntry")?;
        if q.fifo {
            // On a FIFO queue an entry without a group or deduplication id fails the whole request.
            let content_dedup = q.settings().content_dedup;
            for entry in &entries {
                if str_field(entry, "MessageGroupId")?.is_none() {
                    return Err(invalid(
                        "The request must contain the parameter MessageGroupId.",
                    ));
                }
                if !content_dedup && str_field(entry, "MessageDeduplicationId")?.is_none() {
                    return Err(invalid(
                        "The queue should either have ContentBasedDeduplication enabled or \
                         MessageDeduplicationId provided explicitly",
                    ));
                }
            }
        }
        let total: usize = entries
            .iter()
            .map(|e| {
                e.get("MessageBody")
                    .and_then(Value::as_str)
                    .map_or(0, str::len)
                    + message_attributes(e, "MessageAttributes")
                        .map(|a| a.iter().map(|(n, a)| a.size(n)).sum::<usize>())
                        .unwrap_or(0)
            })
            .sum();
        if total > MAX_MESSAGE_SIZE {
            return Err(err(
                "BatchRequestTooLong",
                "AWS.SimpleQueueService.BatchRequestTooLong",
                format!(
                    "Batch requests cannot be longer than {MAX_MESSAGE_SIZE} bytes. You have sent {total} bytes."
                ),
            ));
        }
        let mut failed = Vec::new();
        let mut ids = Vec::new();
        let mut batch = Vec::new();
        for entry in &entries {
            let id = entry_id(entry);
            match self.parse_new_message(ctx, entry, trace) {
                Ok(m) => {
                    ids.push(id);
                    batch.push(m);
                }
                Err(e) => failed.push(failure(&id, &e)),
            }
        }
        let (results, pending) = q.send(batch);
        wait(pending).await?;
        let mut successful = Vec::new();
        for (id, result) in ids.into_iter().zip(results) {
            match result {
                Ok(sent) => {
                    let mut m = Map::new();
                    m.insert("Id".into(), id.into());
                    m.insert("MessageId".into(), sent.message_id.into());
                    m.insert("MD5OfMessageBody".into(), sent.md5_body.into());
                    if let Some(v) = sent.md5_attributes {
                        m.insert("MD5OfMessageAttributes".into(), v.into());
                    }
                    if let Some(v) = sent.md5_system {
                        m.insert("MD5OfMessageSystemAttributes".into(), v.into());
                    }
                    if let Some(v) = sent.sequence_number {
                        m.insert("SequenceNumber".into(), v.into());
                    }
                    successful.push(Value::Object(m));
                }
                Err(e) => failed.push(failure(&id, &e)),
            }
        }
        Ok(batch_result(successful, failed))
    }

    async fn receive_message(&self, q: &Arc<Queue>, input: &Value) -> Out {
        let max = match int_field(input, "MaxNumberOfMessages")? {
            None => 1,
            Some(n) if (1..=10).contains(&n) => n as usize,
            Some(n) => {
                return Err(invalid_value(
                    n,
                    "MaxNumberOfMessages",
                    "Must be between 1 and 10, if provided.",
                ));
            }
        };
        let visibility = visibility_timeout(input, false)?;
        let settings = q.settings();
        let wait_secs = match int_field(input, "WaitTimeSeconds")? {
            None => settings.wait,
            Some(n) if (0..=20).contains(&n) => n as u64,
            Some(n) => {
                return Err(invalid_value(
                    n,
                    "WaitTimeSeconds",
                    "Must be >= 0 and <= 20, if provided.",
                ));
            }
        };
        let mut system_names = string_list(input, "AttributeNames")?.unwrap_or_default();
        system_names.extend(string_list(input, "MessageSystemAttributeNames")?.unwrap_or_default());
        let attribute_names = string_list(input, "MessageAttributeNames")?.unwrap_or_default();
        let attempt = str_field(input, "ReceiveRequestAttemptId")?.map(str::to_owned);
        let received = self
            .receive_waiting(
                q,
                max,
                visibility,
                attempt.as_deref(),
                Duration::from_secs(wait_secs),
            )
            .await?;
        if received.is_empty() {
            return Ok(json!({}));
        }
        let messages: Vec<Value> = received
            .iter()
            .map(|r| render_message(r, q.fifo, &system_names, &attribute_names))
            .collect();
        Ok(json!({ "Messages": messages }))
    }

    /// Receives up to `max` messages from `q`, waiting up to `wait` for the first (long polling);
    /// messages over the redrive policy's `maxReceiveCount` move to the dead-letter queue.
    pub(crate) async fn receive_waiting(
        &self,
        q: &Arc<Queue>,
        max: usize,
        visibility: Option<u64>,
        attempt: Option<&str>,
        wait_for: Duration,
    ) -> Result<Vec<crate::queue::Received>, AwsError> {
        let deadline = tokio::time::Instant::now() + wait_for;
        let received = loop {
            let notified = q.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let dlq = q
                .settings()
                .redrive
                .and_then(|(arn, _)| self.queue_by_arn(&arn));
            let outcome = q.receive(max, visibility, attempt, dlq.is_some());
            if let Some(dlq) = dlq
                && !outcome.to_dlq.is_empty()
            {
                wait(dlq.accept_moved(outcome.to_dlq, Some(&q.arn), outcome.dlq_ops)).await?;
            }
            if let Err(e) = wait(outcome.pending).await {
                // The messages are delivered and in flight in memory; only a crash before their
                // visibility timeout would show them again early, which at-least-once delivery allows.
                // So a full disk does not stop consumers.
                tracing::warn!(queue = %q.arn, "recording a receive failed: {}", e.message);
            }
            let now = tokio::time::Instant::now();
            if !outcome.received.is_empty()
                || now >= deadline
                || q.deleted.load(Ordering::SeqCst)
                || self.inner.stopping.load(Ordering::SeqCst)
                || self.inner.resetting.load(Ordering::SeqCst)
            {
                break outcome.received;
            }
            let mut until = deadline;
            if let Some(t) = outcome.next_visible {
                let in_ms = t.saturating_sub(now_ms());
                until = until.min(now + Duration::from_millis(in_ms));
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(until) => {}
            }
        };
        Ok(received)
    }

    async fn delete_message_batch(&self, q: &Queue, input: &Value) -> Out {
        let entries = batch_entries(input, "DeleteMessageBatchRequestEntry")?;
        let mut successful = Vec::new();
        let mut failed = Vec::new();
        let mut pendings = Vec::new();
        for entry in &entries {
            let id = entry_id(entry);
            let result = required_str(entry, "ReceiptHandle").and_then(|h| q.delete(h));
            match result {
                Ok(p) => {
                    pendings.push(p);
                    successful.push(json!({ "Id": id }));
                }
                Err(e) => failed.push(failure(&id, &e)),
            }
        }
        for p in pendings {
            wait(p).await?;
        }
        Ok(batch_result(successful, failed))
    }

    async fn change_visibility_batch(&self, q: &Queue, input: &Value) -> Out {
        let entries = batch_entries(input, "ChangeMessageVisibilityBatchRequestEntry")?;
        let mut successful = Vec::new();
        let mut failed = Vec::new();
        let mut pendings = Vec::new();
        for entry in &entries {
            let id = entry_id(entry);
            let result = required_str(entry, "ReceiptHandle").and_then(|h| {
                let timeout = visibility_timeout(entry, true)?.unwrap_or(0);
                q.change_visibility(h, timeout)
            });
            match result {
                Ok(p) => {
                    pendings.push(p);
                    successful.push(json!({ "Id": id }));
                }
                Err(e) => failed.push(failure(&id, &e)),
            }
        }
        for p in pendings {
            wait(p).await?;
        }
        Ok(batch_result(successful, failed))
    }

    async fn add_permission(&self, q: &Queue, input: &Value) -> Out {
        let label = required_str(input, "Label")?.to_owned();
        let accounts = string_list(input, "AWSAccountIds")?.unwrap_or_default();
        let actions = string_list(input, "Actions")?.unwrap_or_default();
        if accounts.is_empty() {
            return Err(missing("AWSAccountIds"));
        }
        if actions.is_empty() {
            return Err(missing("Actions"));
        }
        if label.len() > 80
            || !label
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        {
            return Err(invalid_value(
                &label,
                "Label",
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
            ));
        }
        if actions.len() > 7 {
            return Err(crate::errors::err_status(
                http::StatusCode::FORBIDDEN,
                "OverLimit",
                "OverLimit",
                format!(
                    "{} Actions were found, maximum allowed is 7.",
                    actions.len()
                ),
            ));
        }
        for action in &actions {
            if action != "*" && !skyport_core::operations::SQS.contains(&action.as_str()) {
                return Err(invalid_value(
                    format!("SQS:{action}"),
                    "ActionName",
                    "Please refer to the appropriate WSDL for a list of valid actions.",
                ));
            }
        }
        for account in &accounts {
            if !skyport_core::arn::is_account_id(account) {
                return Err(invalid_value(account, "PrincipalId", "Unable to verify."));
            }
        }
        let mut policy = policy_document(&q.record(), &q.arn);
        let mut statements = take_statements(&mut policy);
        if statements
            .iter()
            .any(|s| s.get("Sid").and_then(Value::as_str) == Some(label.as_str()))
        {
            return Err(invalid_value(&label, "Label", "Already exists."));
        }
        let partition = skyport_core::arn::partition_for_region(&q.region);
        let mut principals: Vec<String> = Vec::new();
        for a in &accounts {
            let arn = format!("arn:{partition}:iam::{a}:root");
            if !principals.contains(&arn) {
                principals.push(arn);
            }
        }
        let actions: Vec<String> = actions.iter().map(|a| format!("SQS:{a}")).collect();
        statements.push(json!({
            "Sid": label,
            "Effect": "Allow",
            "Principal": {"AWS": one_or_many(principals)},
            "Action": one_or_many(actions),
            "Resource": q.arn,
        }));
        put_statements(&mut policy, statements);
        let text = policy.to_string();
        wait(q.update(|r| {
            r.attributes.insert("Policy".into(), text);
        }))
        .await?;
        Ok(json!({}))
    }

    async fn remove_permission(&self, q: &Queue, input: &Value) -> Out {
        let label = required_str(input, "Label")?.to_owned();
        let mut policy = policy_document(&q.record(), &q.arn);
        let mut statements = take_statements(&mut policy);
        let before = statements.len();
        statements.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(label.as_str()));
        if statements.len() == before {
            return Err(invalid_value(&label, "Label", "can't find label."));
        }
        let empty = statements.is_empty();
        put_statements(&mut policy, statements);
        let text = policy.to_string();
        wait(q.update(|r| {
            if empty {
                r.attributes.remove("Policy");
            } else {
                r.attributes.insert("Policy".into(), text);
            }
        }))
        .await?;
        Ok(json!({}))
    }

    fn list_dead_letter_source_queues(
        &self,
        ctx: &RequestContext,
        q: &Queue,
        input: &Value,
    ) -> Out {
        let max = max_results(input, 1000)?;
        let after = next_token(input)?;
        let sources: Vec<Arc<Queue>> = self
            .queues()
            .iter()
            .filter(|(k, _)| after.as_deref().is_none_or(|a| k.as_str() > a))
            .filter(|(_, s)| s.settings().redrive.is_some_and(|(arn, _)| arn == q.arn))
            .map(|(_, s)| s.clone())
            .collect();
        paginate(sources, max, |s| self.url(ctx, s), "queueUrls")
    }

    async fn start_move_task(&self, input: &Value) -> Out {
        let source_arn = required_str(input, "SourceArn")?.to_owned();
        let destination_arn = str_field(input, "DestinationArn")?.map(str::to_owned);
        let max_per_second = match int_field(input, "MaxNumberOfMessagesPerSecond")? {
            None => None,
            Some(n) if (1..=500).contains(&n) => Some(n as u64),
            Some(n) => {
                return Err(invalid_value(
                    n,
                    "MaxNumberOfMessagesPerSecond",
                    "Must be between 1 and 500, if provided.",
                ));
            }
        };
        let no_resource = |what: &str| {
            not_found(format!(
                "The resource that you specified for the {what} parameter doesn't exist."
            ))
        };
        let source = self
            .queue_by_arn(&source_arn)
            .ok_or_else(|| no_resource("SourceArn"))?;
        let is_dlq = self.queues().values().any(|s| {
            s.settings()
                .redrive
                .is_some_and(|(arn, _)| arn == source.arn)
        });
        if !is_dlq {
            return Err(invalid(
                "Source queue must be configured as a Dead Letter Queue.",
            ));
        }
        if let Some(d) = &destination_arn
            && self.queue_by_arn(d).is_none()
        {
            return Err(no_resource("DestinationArn"));
        }
        let (task, handle, ops) = {
            let mut tasks = self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
            if tasks
                .iter()
                .any(|t| t.source_arn == source_arn && t.status() == "RUNNING")
            {
                return Err(invalid(
                    "There is already a task running. Only one active task is allowed for a source queue arn at a given time.",
                ));
            }
            let task_id = skyport_core::ids::uuid();
            let handle = base64::engine::general_purpose::STANDARD
                .encode(json!({"taskId": task_id, "sourceArn": source_arn}).to_string());
            let started = now_ms();
            let task = Arc::new(MoveTask {
                key: format!("{started:020}/{task_id}"),
                handle: handle.clone(),
                source_arn,
                destination_arn,
                max_per_second,
                started,
                to_move: source.counts().0,
                moved: AtomicU64::new(0),
                cancel: AtomicBool::new(false),
                status: Mutex::new("RUNNING"),
                failure: Mutex::new(None),
            });
            tasks.push(task.clone());
            // Only the latest tasks of a source queue can be listed: forget older ones.
            let mut forget = Vec::new();
            let mut seen = 0;
            for (i, t) in tasks.iter().enumerate().rev() {
                if t.source_arn == task.source_arn {
                    seen += 1;
                    if seen > TASKS_KEPT {
                        forget.push(i);
                    }
                }
            }
            let ops: Vec<persist::Op> = forget
                .into_iter()
                .map(|i| persist::Op::DeleteTask(tasks.remove(i).key.clone()))
                .collect();
            (task, handle, ops)
        };
        self.save_task(&task, ops).await?;
        let sqs = self.clone();
        tokio::spawn(async move { sqs.run_move_task(source, task).await });
        Ok(json!({ "TaskHandle": handle }))
    }

    async fn run_move_task(&self, source: Arc<Queue>, task: Arc<MoveTask>) {
        let Some(status) = self.move_messages(&source, &task).await else {
            return; // shutting down: the task stays RUNNING and goes on after a restart
        };
        task.set_status(status);
        if let Err(e) = self.save_task(&task, Vec::new()).await {
            tracing::warn!(source = %task.source_arn, "storing the end of a move task failed: {}", e.message);
        }
    }

    /// Moves the task's messages; returns the final status (`None` when Skyport is stopping).
    async fn move_messages(&self, source: &Arc<Queue>, task: &MoveTask) -> Option<&'static str> {
        let chunk = task.max_per_second.unwrap_or(100).min(100) as usize;
        loop {
            if task.cancel.load(Ordering::SeqCst) {
                return Some("CANCELLED");
            }
            if self.inner.stopping.load(Ordering::SeqCst) {
                return None;
            }
            if task.moved.load(Ordering::SeqCst) >= task.to_move {
                break;
            }
            let (messages, ops) = source.take_visible(chunk);
            if messages.is_empty() {
                break;
            }
            let mut by_target: BTreeMap<String, Vec<Message>> = BTreeMap::new();
            let fallback = self
                .queues()
                .values()
                .find(|s| {
                    s.settings()
                        .redrive
                        .is_some_and(|(arn, _)| arn == source.arn)
                })
                .map(|s| s.arn.clone());
            for mut m in messages {
                let target = task
                    .destination_arn
                    .clone()
                    .or_else(|| m.extra().dlq_source_arn.clone())
                    .or_else(|| fallback.clone())
                    .unwrap_or_else(|| source.arn.clone());
                m.update_extra(|e| e.dlq_source_arn = None);
                m.receive_count = 0;
                m.first_receive = 0;
                m.received_at = 0;
                by_target.entry(target).or_default().push(m);
            }
            let mut ops = Some(ops);
            let n: usize = by_target.values().map(Vec::len).sum();
            let targets = by_target.len();
            for (i, (target, messages)) in by_target.into_iter().enumerate() {
                let queue = self.queue_by_arn(&target).unwrap_or_else(|| source.clone());
                let mut extra = ops.take().unwrap_or_default();
                if i + 1 == targets {
                    // The moved count is stored in the commit of the chunk's last messages.
                    task.moved.fetch_add(n as u64, Ordering::SeqCst);
                    if self.inner.persist.is_some() {
                        extra.push(task.save());
                    }
                }
                if let Err(e) = wait(queue.accept_moved(messages, None, extra)).await {
                    *task.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.message);
                    return Some("FAILED");
                }
            }
            if task.max_per_second.is_some() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            } else {
                tokio::task::yield_now().await;
            }
        }
        Some("COMPLETED")
    }

    fn list_move_tasks(&self, input: &Value) -> Out {
        let source_arn = required_str(input, "SourceArn")?;
        let max = match int_field(input, "MaxResults")? {
            None => 1,
            Some(n) if (1..=10).contains(&n) => n as usize,
            Some(n) => {
                return Err(invalid_value(
                    n,
                    "MaxResults",
                    "Must be between 1 and 10, if provided.",
                ));
            }
        };
        if self.queue_by_arn(source_arn).is_none() {
            return Err(not_found(
                "The resource that you specified for the SourceArn parameter doesn't exist.",
            ));
        }
        let tasks = self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
        let results: Vec<Value> = tasks
            .iter()
            .rev()
            .filter(|t| t.source_arn == source_arn)
            .take(max)
            .map(|t| {
                let status = t.status();
                let mut m = Map::new();
                if status == "RUNNING" {
                    m.insert("TaskHandle".into(), t.handle.clone().into());
                }
                m.insert("Status".into(), status.into());
                m.insert("SourceArn".into(), t.source_arn.clone().into());
                if let Some(d) = &t.destination_arn {
                    m.insert("DestinationArn".into(), d.clone().into());
                }
                if let Some(r) = t.max_per_second {
                    m.insert("MaxNumberOfMessagesPerSecond".into(), r.into());
                }
                m.insert(
                    "ApproximateNumberOfMessagesMoved".into(),
                    t.moved.load(Ordering::SeqCst).into(),
                );
                m.insert("ApproximateNumberOfMessagesToMove".into(), t.to_move.into());
                if let Some(f) = t.failure.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                    m.insert("FailureReason".into(), f.into());
                }
                m.insert("StartedTimestamp".into(), t.started.into());
                Value::Object(m)
            })
            .collect();
        Ok(json!({ "Results": results }))
    }

    async fn cancel_move_task(&self, input: &Value) -> Out {
        let handle = required_str(input, "TaskHandle")?;
        // A handle is the base64 of `{"taskId", "sourceArn"}`; AWS tells a malformed one, one of a queue
        // that does not exist and one of an unknown task apart.
        let source_arn = base64::engine::general_purpose::STANDARD
            .decode(handle.trim())
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v.get("sourceArn")?.as_str().map(str::to_owned))
            .ok_or_else(|| invalid("Value for parameter TaskHandle is invalid."))?;
        if self.queue_by_arn(&source_arn).is_none() {
            return Err(not_found(
                "The resource that you specified for the SourceArn parameter doesn't exist.",
            ));
        }
        let task = self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|t| t.handle == handle && t.status() == "RUNNING")
            .cloned()
            .ok_or_else(|| not_found("Task does not exist."))?;
        task.cancel.store(true, Ordering::SeqCst);
        task.set_status("CANCELLING");
        self.save_task(&task, Vec::new()).await?;
        Ok(json!({ "ApproximateNumberOfMessagesMoved": task.moved.load(Ordering::SeqCst) }))
    }
}

/// A reset runs with no SQS request in flight (the gateway's gate; long polls are ended first by
/// `interrupt`): every queue is retired (its long polls end, and a producer still holding it, such as an S3
/// notification, writes nothing to the store), move tasks are cancelled, and with persistence the store
/// is cleared through the commit thread, after every commit queued before.
#[async_trait::async_trait]
impl skyport_core::state::StateControl for Sqs {
    fn interrupt(&self) {
        self.inner.resetting.store(true, Ordering::SeqCst);
        for queue in self.queues().values() {
            queue.notify.notify_waiters();
        }
    }

    fn resume(&self) {
        self.inner.resetting.store(false, Ordering::SeqCst);
    }

    async fn reset(&self) -> Result<(), skyport_core::state::StateError> {
        self.replace(BTreeMap::new(), Vec::new(), Vec::new()).await
    }

    async fn export(
        &self,
        out: &mut skyport_core::state::SnapshotWriter<'_>,
    ) -> Result<(), skyport_core::state::StateError> {
        let queues: Vec<Arc<Queue>> = self.queues().values().cloned().collect();
        for queue in queues {
            // One queue at a time, copied under its lock: a consistent view of each queue.
            let ops = {
                let state = queue.lock();
                let Some(record) = state.record.as_ref() else {
                    continue;
                };
                let mut ops = vec![persist::Op::PutQueue(
                    queue.key.clone(),
                    serde_json::to_vec(record).unwrap_or_default(),
                )];
                for message in state.messages.values() {
                    ops.push(persist::put_message(&queue.key, message));
                    ops.push(persist::put_delivery(&queue.key, message));
                }
                ops
            };
            for (table, key, value) in ops.into_iter().filter_map(persist::Op::into_entry) {
                out.entry(table, &key, &value).await?;
            }
        }
        let tasks: Vec<persist::Op> = self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|t| t.save())
            .collect();
        for (table, key, value) in tasks.into_iter().filter_map(persist::Op::into_entry) {
            out.entry(table, &key, &value).await?;
        }
        Ok(())
    }

    async fn import(
        &self,
        staged: skyport_core::state::Staged,
    ) -> Result<(), skyport_core::state::StateError> {
        let from = skyport_core::store::Store::in_memory()?;
        staged.replace_store(&from)?;
        let (queues, tasks) = build(persist::load(&from)?, self.inner.persist.as_ref());
        let ops = if self.inner.persist.is_some() {
            staged
                .entries
                .into_iter()
                .filter_map(|(t, k, v)| persist::Op::from_entry(&t, k, v))
                .collect()
        } else {
            Vec::new()
        };
        self.replace(queues, tasks, ops).await?;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            self.resume_move_tasks(&runtime);
        }
        Ok(())
    }
}

impl Sqs {
    /// Replaces every queue and move task (a reset or an import, with no request in flight): the old
    /// queues are retired and with persistence the store is cleared and given `ops`, in order after
    /// every commit queued before.
    async fn replace(
        &self,
        queues: BTreeMap<String, Arc<Queue>>,
        tasks: Vec<Arc<MoveTask>>,
        mut ops: Vec<persist::Op>,
    ) -> Result<(), skyport_core::state::StateError> {
        let old_tasks = std::mem::replace(
            &mut *self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner()),
            tasks,
        );
        for task in old_tasks {
            task.cancel.store(true, Ordering::SeqCst);
        }
        let old = std::mem::replace(
            &mut *self.inner.queues.write().unwrap_or_else(|e| e.into_inner()),
            queues,
        );
        for queue in old.values() {
            queue.retire();
        }
        self.inner
            .deleted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        if let Some(p) = &self.inner.persist {
            ops.insert(0, persist::Op::Clear);
            persist::wait(p.submit(ops))
                .await
                .map_err(|e| skyport_core::state::StateError::Service(e.detail))?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Service for Sqs {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn state_control(&self) -> Option<&dyn skyport_core::state::StateControl> {
        Some(self)
    }

    async fn call(
        &self,
        ctx: &mut RequestContext,
        request: Request<Body>,
    ) -> Result<Response<Body>, AwsError> {
        let (parts, request_body) = request.into_parts();
        if parts.uri.path().trim_end_matches('/') == PEEK_PATH {
            return self.peek(ctx, &parts);
        }
        if let Some(response) = wire::unknown_operation(ctx, &parts) {
            return Ok(response);
        }
        let json = wire::accepts_json(ctx, &parts);
        match self.handle(ctx, &parts, request_body, json).await {
            Ok(response) => Ok(response),
            Err(e) => {
                let e = wire::finish_error(ctx, e);
                if json {
                    Ok(wire::json_error(ctx, &e))
                } else {
                    Err(e)
                }
            }
        }
    }

    fn stopping(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        for queue in self.queues().values() {
            queue.notify.notify_waiters();
        }
    }

    async fn shutdown(&self) {
        // Running move tasks stop at their next chunk and stay RUNNING in the store, to go on after a
        // restart as they would on AWS.
        self.inner.stopping.store(true, Ordering::SeqCst);
    }
}

impl skyport_core::bus::ResourcePolicySource for Sqs {
    fn resource_policy(&self, arn: &str) -> Option<skyport_core::bus::ResourcePolicyDoc> {
        let queue = self.queue_by_arn(arn)?;
        let policy = queue.record().attributes.get("Policy")?.clone();
        Some(skyport_core::bus::ResourcePolicyDoc {
            policy,
            account: arn.split(':').nth(4)?.to_owned(),
        })
    }
}

#[async_trait::async_trait]
impl QueueSink for Sqs {
    async fn send_message(
        &self,
        queue_arn: &str,
        message: OutgoingMessage,
    ) -> Result<SentMessage, BusError> {
        let queue = self
            .queue_by_arn(queue_arn)
            .ok_or_else(|| BusError::NoSuchQueue(queue_arn.to_owned()))?;
        let OutgoingMessage {
            body,
            attributes,
            group_id,
            dedup_id,
            delay_seconds,
        } = message;
        let attributes: BTreeMap<String, MessageAttribute> = attributes
            .into_iter()
            .map(|(k, a)| {
                (
                    k,
                    MessageAttribute {
                        data_type: a.data_type,
                        string_value: a.string_value,
                        binary_value: a.binary_value,
                    },
                )
            })
            .collect();
        if body.is_empty() || !body.chars().all(valid_body_char) {
            return Err(BusError::Rejected(
                "the body is empty or has invalid characters".into(),
            ));
        }
        for (name, attr) in &attributes {
            validate_message_attribute(name, attr).map_err(|e| BusError::Rejected(e.message))?;
        }
        let new = NewMessage {
            body,
            attributes,
            sender_id: queue.account.clone(),
            // A standard queue takes no group or deduplication id from a bus sender (SNS and
            // EventBridge drop them for standard queues as AWS does).
            group_id: if queue.fifo { group_id } else { None },
            dedup_id: if queue.fifo { dedup_id } else { None },
            delay: delay_seconds,
            ..NewMessage::default()
        };
        let (mut results, pending) = queue.send(vec![new]);
        wait(pending)
            .await
            .map_err(|e| BusError::Internal(e.message))?;
        match results.pop() {
            Some(Ok(sent)) => Ok(SentMessage {
                message_id: sent.message_id,
                sequence_number: sent.sequence_number,
            }),
            Some(Err(e)) => Err(BusError::Rejected(e.message)),
            None => Err(BusError::Internal("no result".into())),
        }
    }

    async fn queue_exists(&self, queue_arn: &str) -> bool {
        self.queue_by_arn(queue_arn).is_some()
    }
}

/// Drops messages past their queue's retention period once a minute, for as long as SQS exists.
async fn expire_messages(inner: std::sync::Weak<Inner>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let queues: Vec<Arc<Queue>> = inner
            .queues
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        drop(inner);
        for queue in queues {
            if let Err(e) = wait(queue.expire()).await {
                tracing::warn!(queue = %queue.arn, "dropping expired messages failed: {e}");
            }
        }
    }
}

pub(crate) async fn wait(pending: Pending) -> Result<(), AwsError> {
    match pending {
        Some(p) => persist::wait(p).await.map_err(|e| storage(&e)),
        None => Ok(()),
    }
}

fn apply_attributes(target: &mut BTreeMap<String, String>, values: BTreeMap<String, String>) {
    for (k, v) in values {
        let clearable = matches!(
            k.as_str(),
            "Policy" | "RedrivePolicy" | "RedriveAllowPolicy" | "KmsMasterKeyId"
        );
        if clearable && v.is_empty() {
            target.remove(&k);
            if k == "KmsMasterKeyId" {
                target.remove("KmsDataKeyReusePeriodSeconds");
            }
            continue;
        }
        if k == "KmsMasterKeyId" {
            target.insert("SqsManagedSseEnabled".into(), "false".into());
            target
                .entry("KmsDataKeyReusePeriodSeconds".into())
                .or_insert_with(|| "300".into());
        }
        if k == "SqsManagedSseEnabled" && v == "true" {
            target.remove("KmsMasterKeyId");
            target.remove("KmsDataKeyReusePeriodSeconds");
        }
        target.insert(k, v);
    }
}

/// Validates tags being added; `total` is how many the queue would have afterwards (at most 50).
fn validate_tags(
    queue: &str,
    tags: &BTreeMap<String, String>,
    total: usize,
) -> Result<(), AwsError> {
    if total > 50 {
        return Err(invalid(format!("Too many tags added for queue {queue}.")));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(invalid(
                "Tag keys must be between 1 and 128 characters in length.",
            ));
        }
        if v.chars().count() > 256 {
            return Err(invalid(
                "Tag values may only be up to 256 characters in length.",
            ));
        }
    }
    Ok(())
}

/// The output of a batch operation: `Failed` is left out when nothing failed, as AWS does.
fn batch_result(successful: Vec<Value>, failed: Vec<Value>) -> Value {
    let mut out = Map::new();
    out.insert("Successful".into(), Value::Array(successful));
    if !failed.is_empty() {
        out.insert("Failed".into(), Value::Array(failed));
    }
    Value::Object(out)
}

/// The `X-Amzn-Trace-Id` header, which AWS keeps as the message's `AWSTraceHeader` system attribute.
fn trace_header(parts: &Parts) -> Option<&str> {
    static TRACE_ID: http::HeaderName = http::HeaderName::from_static("x-amzn-trace-id");
    parts
        .headers
        .get(&TRACE_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// One value, or a list of several: the shape AWS gives a policy's `Principal.AWS` and `Action`.
fn one_or_many(items: Vec<String>) -> Value {
    match <[String; 1]>::try_from(items) {
        Ok([one]) => Value::String(one),
        Err(items) => Value::Array(items.into_iter().map(Value::String).collect()),
    }
}

fn policy_document(record: &QueueRecord, arn: &str) -> Value {
    record
        .attributes
        .get("Policy")
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({"Version": "2008-10-17", "Id": format!("{arn}/SQSDefaultPolicy"), "Statement": []}))
}

fn take_statements(policy: &mut Value) -> Vec<Value> {
    match policy.get_mut("Statement").map(Value::take) {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => Vec::new(),
        Some(single) => vec![single],
    }
}

fn put_statements(policy: &mut Value, statements: Vec<Value>) {
    if let Some(object) = policy.as_object_mut() {
        object.insert("Statement".into(), Value::Array(statements));
    }
}

fn render_message(
    r: &Received,
    fifo: bool,
    system_names: &[String],
    attribute_names: &[String],
) -> Value {
    let m = &r.message;
    let all = system_names.iter().any(|n| n == "All");
    let want = |n: &str| all || system_names.iter().any(|s| s == n);
    let mut attrs = Map::new();
    let mut put = |k: &str, v: String| {
        if want(k) {
            attrs.insert(k.to_owned(), Value::String(v));
        }
    };
    let extra = m.extra();
    put("SenderId", m.sender_id.to_string());
    put("SentTimestamp", m.sent_at.to_string());
    put("ApproximateReceiveCount", m.receive_count.to_string());
    let first_receive = if m.first_receive == 0 {
        m.sent_at
    } else {
        m.first_receive
    };
    put(
        "ApproximateFirstReceiveTimestamp",
        first_receive.to_string(),
    );
    if let Some(g) = &extra.group_id {
        put("MessageGroupId", g.clone());
    }
    if fifo {
        if let Some(d) = &extra.dedup_id {
            put("MessageDeduplicationId", d.clone());
        }
        if let Some(s) = &extra.sequence_number {
            put("SequenceNumber", s.clone());
        }
    }
    if let Some(t) = extra
        .system_attributes
        .get("AWSTraceHeader")
        .and_then(|a| a.string_value.clone())
    {
        put("AWSTraceHeader", t);
    }
    if let Some(a) = &extra.dlq_source_arn {
        put("DeadLetterQueueSourceArn", a.clone());
    }
    let selected: BTreeMap<&String, &MessageAttribute> = extra
        .attributes
        .iter()
        .filter(|(name, _)| {
            attribute_names.iter().any(|w| {
                w == "All"
                    || w == ".*"
                    || w == "*"
                    || w == *name
                    || w.strip_suffix(".*").is_some_and(|p| name.starts_with(p))
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert("MessageId".into(), m.id.to_string().into());
    out.insert("ReceiptHandle".into(), r.receipt.clone().into());
    out.insert("MD5OfBody".into(), m.md5_body_hex().into());
    out.insert("Body".into(), String::from(&*m.body).into());
    if !attrs.is_empty() {
        out.insert("Attributes".into(), Value::Object(attrs));
    }
    if !selected.is_empty() {
        if let Some(md5) = crate::digest::attributes_md5(selected.iter().map(|(k, v)| (*k, *v))) {
            out.insert("MD5OfMessageAttributes".into(), md5.into());
        }
        let mut rendered = Map::new();
        for (name, a) in selected {
            let mut v = Map::new();
            v.insert("DataType".into(), a.data_type.clone().into());
            if let Some(s) = &a.string_value {
                v.insert("StringValue".into(), s.clone().into());
            }
            if let Some(b) = &a.binary_value {
                v.insert(
                    "BinaryValue".into(),
                    base64::engine::general_purpose::STANDARD.encode(b).into(),
                );
            }
            rendered.insert(name.clone(), Value::Object(v));
        }
        out.insert("MessageAttributes".into(), Value::Object(rendered));
    }
    Value::Object(out)
}

fn failure(id: &str, e: &AwsError) -> Value {
    let code = e.query_code().unwrap_or(&e.code);
    let code = code.strip_prefix("AWS.SimpleQueueService.").unwrap_or(code);
    json!({ "Id": id, "SenderFault": true, "Code": code, "Message": e.message })
}

fn entry_id(entry: &Value) -> String {
    entry
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// The entries of a batch request, with the batch-level validation.
fn batch_entries(input: &Value, entry_name: &str) -> Result<Vec<Value>, AwsError> {
    let entries = match input.get("Entries") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(malformed("Entries must be a list.")),
    };
    if entries.is_empty() {
        return Err(err(
            "EmptyBatchRequest",
            "AWS.SimpleQueueService.EmptyBatchRequest",
            format!("There should be at least one {entry_name} in the request."),
        ));
    }
    if entries.len() > 10 {
        return Err(err(
            "TooManyEntriesInBatchRequest",
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            format!(
                "Maximum number of entries per request are 10. You have sent {}.",
                entries.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    for e in &entries {
        if !e.is_object() {
            return Err(malformed("Each batch entry must be an object."));
        }
        let id = match e.get("Id") {
            Some(Value::String(s)) => s.as_str(),
            None | Some(Value::Null) => return Err(missing(&format!("{entry_name}.Id"))),
            Some(_) => return Err(malformed("Id must be a string.")),
        };
        if id.is_empty()
            || id.len() > 80
            || !id
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        {
            return Err(err(
                "InvalidBatchEntryId",
                "AWS.SimpleQueueService.InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be \
                 at most 80 letters long.",
            ));
        }
        if !seen.insert(id) {
            return Err(err(
                "BatchEntryIdsNotDistinct",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                format!("Id {id} repeated."),
            ));
        }
    }
    Ok(entries)
}

fn paginate(
    items: Vec<Arc<Queue>>,
    max: Option<usize>,
    url: impl Fn(&Queue) -> String,
    member: &str,
) -> Out {
    let limit = max.unwrap_or(1000);
    let more = items.len() > limit;
    let page: Vec<&Arc<Queue>> = items.iter().take(limit).collect();
    let mut out = Map::new();
    if !page.is_empty() {
        out.insert(
            member.to_owned(),
            Value::Array(page.iter().map(|q| Value::String(url(q))).collect()),
        );
    }
    if more
        && max.is_some()
        && let Some(last) = page.last()
    {
        out.insert(
            "NextToken".into(),
            base64::engine::general_purpose::STANDARD
                .encode(&last.key)
                .into(),
        );
    }
    Ok(Value::Object(out))
}

fn max_results(input: &Value, limit: i64) -> Result<Option<usize>, AwsError> {
    match int_field(input, "MaxResults")? {
        None => Ok(None),
        Some(n) if (1..=limit).contains(&n) => Ok(Some(n as usize)),
        Some(n) => Err(invalid_value(
            n,
            "MaxResults",
            &format!("MaxResults must be an integer between 1 and {limit}."),
        )),
    }
}

fn next_token(input: &Value) -> Result<Option<String>, AwsError> {
    let Some(token) = str_field(input, "NextToken")?.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map(Some)
        .ok_or_else(|| invalid("Invalid NextToken value."))
}

fn visibility_timeout(input: &Value, required: bool) -> Result<Option<u64>, AwsError> {
    match int_field(input, "VisibilityTimeout")? {
        None if required => Err(missing("VisibilityTimeout")),
        None => Ok(None),
        Some(n) if (0..=43_200).contains(&n) => Ok(Some(n as u64)),
        Some(n) => Err(invalid_value(
            n,
            "VisibilityTimeout",
            "Must be between 0 and 43200, if provided.",
        )),
    }
}

fn str_field<'a>(input: &'a Value, name: &str) -> Result<Option<&'a str>, AwsError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(malformed(format!("{name} must be a string."))),
    }
}

fn required_str<'a>(input: &'a Value, name: &str) -> Result<&'a str, AwsError> {
    match str_field(input, name)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(missing(name)),
    }
}

fn int_field(input: &Value, name: &str) -> Result<Option<i64>, AwsError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| malformed(format!("{name} must be an integer."))),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| invalid_value(s, name, "Must be an integer.")),
        Some(_) => Err(malformed(format!("{name} must be an integer."))),
    }
}

fn string_map(input: &Value, name: &str) -> Result<Option<BTreeMap<String, String>>, AwsError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(malformed(format!("{name} values must be strings."))),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(malformed(format!("{name} must be a map."))),
    }
}

fn string_list(input: &Value, name: &str) -> Result<Option<Vec<String>>, AwsError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(malformed(format!("{name} members must be strings."))),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(malformed(format!("{name} must be a list."))),
    }
}

fn message_attributes(
    input: &Value,
    name: &str,
) -> Result<BTreeMap<String, MessageAttribute>, AwsError> {
    let map = match input.get(name) {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(malformed(format!("{name} must be a map."))),
    };
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let Value::Object(fields) = v else {
            return Err(malformed(format!("{name} values must be structures.")));
        };
        let text = |f: &str| -> Result<Option<String>, AwsError> {
            match fields.get(f) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(malformed(format!("{f} must be a string."))),
            }
        };
        let data_type = text("DataType")?.unwrap_or_default();
        let string_value = text("StringValue")?;
        let binary_value = match text("BinaryValue")? {
            Some(b64) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|_| malformed(format!("BinaryValue of {k} is not valid base64.")))?,
            ),
            None => None,
        };
        if data_type.is_empty() {
            return Err(invalid(format!(
                "The message attribute '{k}' must contain non-empty message attribute type."
            )));
        }
        out.insert(
            k.clone(),
            MessageAttribute {
                data_type,
                string_value,
                binary_value,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyport_core::bus::{BusAttribute, BusAttributes};

    async fn call_json(sqs: &Sqs, op: &str, input: Value) -> Result<Value, AwsError> {
        let mut ctx = RequestContext::new("sqs", Protocol::Json10);
        let request = Request::builder()
            .method("POST")
            .uri("/")
            .header("x-amz-target", format!("AmazonSQS.{op}"))
            .body(body::full(input.to_string()))
            .map_err(internal)?;
        let response = sqs.call(&mut ctx, request).await?;
        let bytes = body::collect_limited(response.into_body(), 1 << 20)
            .await
            .map_err(internal)?;
        serde_json::from_slice(&bytes).map_err(internal)
    }

    #[tokio::test]
    async fn queue_sink_enqueues_by_arn() {
        let dir = tempfile::tempdir().unwrap();
        let layout = StateLayout::new(dir.path(), false).unwrap();
        let sqs = Sqs::new(&layout, SqsOptions::default()).unwrap();
        let url = call_json(&sqs, "CreateQueue", json!({"QueueName": "events"}))
            .await
            .unwrap()["QueueUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        let arn = "arn:aws:sqs:us-east-1:000000000000:events";
        assert!(sqs.queue_exists(arn).await);
        assert!(
            !sqs.queue_exists("arn:aws:sqs:us-east-1:000000000000:nope")
                .await
        );
        let mut attributes = BusAttributes::new();
        attributes.insert("source".into(), BusAttribute::string("s3"));
        sqs.send_to_queue(arn, "{\"Records\":[]}".into(), attributes)
            .await
            .unwrap();
        assert_eq!(
            sqs.send_to_queue(
                "arn:aws:sqs:us-east-1:000000000000:nope",
                "x".into(),
                BusAttributes::new()
            )
            .await,
            Err(BusError::NoSuchQueue(
                "arn:aws:sqs:us-east-1:000000000000:nope".into()
            ))
        );
        let got = call_json(
            &sqs,
            "ReceiveMessage",
            json!({"QueueUrl": url, "MessageAttributeNames": ["All"]}),
        )
        .await
        .unwrap();
        let m = &got["Messages"][0];
        assert_eq!(m["Body"], "{\"Records\":[]}");
        assert_eq!(m["MessageAttributes"]["source"]["StringValue"], "s3");
    }
}

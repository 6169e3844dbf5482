//! One queue in memory: its settings, its messages ordered by the time they become visible, FIFO groups
//! and deduplication, receipt handles and the approximate counters. Every method runs under the queue's
//! lock and is quick; changes are handed to the commit thread (with persistence) while the lock is held,
//! so the store sees them in the order they happened.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine;
use serde::{Deserialize, Serialize};
use skyport_core::AwsError;
use tokio::sync::{Notify, oneshot};

use crate::digest::{attributes_md5, md5};
use crate::errors::{bad_receipt, invalid, invalid_value, missing};
use crate::model::{DEDUP_WINDOW_MS, Message, MessageAttribute, MessageId, default_attributes};
use crate::persist::{Op, Persister, message_key, put_delivery, put_message};

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A commit to wait for before answering (none without persistence).
pub type Pending = Option<oneshot::Receiver<Result<(), skyport_core::error::StorageFailure>>>;

/// A queue's stored settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueRecord {
    /// The name.
    pub name: String,
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
    /// FIFO queue.
    pub fifo: bool,
    /// `CreatedTimestamp` (epoch seconds).
    pub created: u64,
    /// `LastModifiedTimestamp` (epoch seconds).
    pub last_modified: u64,
    /// The settable attributes.
    pub attributes: BTreeMap<String, String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// When the last `PurgeQueue` began (epoch milliseconds), for the one-purge-per-minute rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_purge: Option<u64>,
}

/// Settings parsed from the attributes.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `VisibilityTimeout` (s).
    pub visibility_timeout: u64,
    /// `DelaySeconds`.
    pub delay: u64,
    /// `MessageRetentionPeriod` (s).
    pub retention: u64,
    /// `MaximumMessageSize`.
    pub max_size: usize,
    /// `ReceiveMessageWaitTimeSeconds`.
    pub wait: u64,
    /// `RedrivePolicy`: the dead-letter queue ARN and `maxReceiveCount`.
    pub redrive: Option<(String, u32)>,
    /// `ContentBasedDeduplication`.
    pub content_dedup: bool,
    /// `DeduplicationScope` is `messageGroup`.
    pub dedup_per_group: bool,
}

impl Settings {
    fn from(attributes: &BTreeMap<String, String>) -> Settings {
        let num = |k: &str, d: u64| attributes.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
        let redrive = attributes
            .get("RedrivePolicy")
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
            .and_then(|v| {
                let arn = v.get("deadLetterTargetArn")?.as_str()?.to_owned();
                let count = v.get("maxReceiveCount").and_then(|c| {
                    c.as_u64()
                        .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
                })?;
                Some((arn, u32::try_from(count).ok()?))
            });
        Settings {
            visibility_timeout: num("VisibilityTimeout", 30),
            delay: num("DelaySeconds", 0),
            retention: num("MessageRetentionPeriod", 345_600),
            max_size: num("MaximumMessageSize", 1_048_576) as usize,
            wait: num("ReceiveMessageWaitTimeSeconds", 0),
            redrive,
            content_dedup: attributes
                .get("ContentBasedDeduplication")
                .is_some_and(|v| v == "true"),
            dedup_per_group: attributes
                .get("DeduplicationScope")
                .is_some_and(|v| v == "messageGroup"),
        }
    }
}

/// The mutable part of a queue.
///
/// Every message is in exactly one of `ready` (visible, by sequence: standard queues deliver the oldest
/// visible message first, so a message whose visibility timeout ended comes before newer ones) and
/// `waiting` (delayed or in flight, by the time it becomes visible); [`State::promote`] moves the ones whose
/// time has come. FIFO queues also index their messages by group.
#[derive(Debug, Default)]
pub struct State {
    /// The stored settings.
    pub record: Option<QueueRecord>,
    /// Parsed settings.
    pub settings: Settings,
    /// Messages by sequence (boxed: a B-tree leaf then holds 16-byte entries, and half-full leaves waste
    /// little).
    pub messages: BTreeMap<u64, Box<Message>>,
    /// Sequences of the messages that were visible when last placed or promoted.
    ready: BTreeSet<u64>,
    /// `(visible_at, seq)` of the messages that were not visible yet when last placed or promoted.
    waiting: BTreeSet<(u64, u64)>,
    /// FIFO queues: each message group's messages, by sequence.
    groups: HashMap<String, BTreeSet<u64>>,
    /// FIFO queues: `(visible_at, seq)` of each group's first message, so a receive finds the groups that
    /// can deliver, in the order they became visible, without looking at the others.
    heads: BTreeSet<(u64, u64)>,
    next_seq: u64,
    dedup: HashMap<String, (u64, MessageId, Option<String>)>,
    dedup_pruned: u64,
    /// The last sender id, shared by the messages it sent.
    sender: Option<Arc<str>>,
    attempts: HashMap<String, (u64, Vec<(u64, u32)>)>,
}

impl State {
    /// Adds a message (to its FIFO group when `fifo`).
    fn insert(&mut self, message: Box<Message>, fifo: bool, now: u64) {
        let seq = message.seq;
        if fifo {
            let group = message.group_id().unwrap_or("");
            // `Some(old head)` when the message becomes its group's first (an empty group has none).
            let replaces = match self.groups.get_mut(group) {
                Some(seqs) => {
                    let old = seqs.first().copied();
                    seqs.insert(seq);
                    match old {
                        Some(old) if old < seq => None,
                        other => Some(other),
                    }
                }
                None => {
                    self.groups.insert(group.to_owned(), BTreeSet::from([seq]));
                    Some(None)
                }
            };
            if let Some(old) = replaces {
                if let Some(old) = old
                    && let Some(m) = self.messages.get(&old)
                {
                    self.heads.remove(&(m.visible_at, old));
                }
                self.heads.insert((message.visible_at, seq));
            }
        }
        self.place(seq, message.visible_at, now);
        self.messages.insert(seq, message);
    }

    /// Removes a message from every index.
    fn remove(&mut self, seq: u64) -> Option<Box<Message>> {
        let message = self.messages.remove(&seq)?;
        self.unplace(seq, message.visible_at);
        if self.groups.is_empty() {
            return Some(message); // a standard queue
        }
        let group = message.group_id().unwrap_or("");
        if let Some(seqs) = self.groups.get_mut(group) {
            let was_head = seqs.first() == Some(&seq);
            seqs.remove(&seq);
            let next = seqs.first().copied();
            if seqs.is_empty() {
                self.groups.remove(group);
            }
            if was_head {
                self.heads.remove(&(message.visible_at, seq));
                if let Some(next) = next
                    && let Some(m) = self.messages.get(&next)
                {
                    self.heads.insert((m.visible_at, next));
                }
            }
        }
        Some(message)
    }

    fn place(&mut self, seq: u64, visible_at: u64, now: u64) {
        if visible_at <= now {
            self.ready.insert(seq);
        } else {
            self.waiting.insert((visible_at, seq));
        }
    }

    fn unplace(&mut self, seq: u64, visible_at: u64) {
        if !self.waiting.remove(&(visible_at, seq)) {
            self.ready.remove(&seq);
        }
    }

    /// Changes when message `seq` becomes visible.
    fn set_visible_at(&mut self, seq: u64, visible_at: u64, now: u64) {
        let Some(old) = self.messages.get(&seq).map(|m| m.visible_at) else {
            return;
        };
        self.unplace(seq, old);
        if self.heads.remove(&(old, seq)) {
            self.heads.insert((visible_at, seq));
        }
        if let Some(m) = self.messages.get_mut(&seq) {
            m.visible_at = visible_at;
        }
        self.place(seq, visible_at, now);
    }

    /// Moves the messages that have become visible by `now` to `ready`.
    fn promote(&mut self, now: u64) {
        while let Some(&(visible_at, seq)) = self.waiting.first() {
            if visible_at > now {
                break;
            }
            self.waiting.pop_first();
            self.ready.insert(seq);
        }
    }

    /// Forgets every message.
    fn clear(&mut self) {
        self.messages.clear();
        self.ready.clear();
        self.waiting.clear();
        self.groups.clear();
        self.heads.clear();
    }
}

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    /// The body.
    pub body: String,
    /// Message attributes.
    pub attributes: BTreeMap<String, MessageAttribute>,
    /// System attributes (`AWSTraceHeader`).
    pub system_attributes: BTreeMap<String, MessageAttribute>,
    /// Per-message `DelaySeconds`.
    pub delay: Option<u64>,
    /// `MessageGroupId`.
    pub group_id: Option<String>,
    /// `MessageDeduplicationId`.
    pub dedup_id: Option<String>,
    /// `SenderId`.
    pub sender_id: String,
    /// The request's `X-Amzn-Trace-Id` header: the `AWSTraceHeader` system attribute unless the message
    /// sets one (it does not count towards `MD5OfMessageSystemAttributes`, which covers what was sent).
    pub trace_header: Option<String>,
}

/// The answer to one send.
#[derive(Debug, Clone)]
pub struct Sent {
    /// `MessageId`.
    pub message_id: String,
    /// `MD5OfMessageBody`.
    pub md5_body: String,
    /// `MD5OfMessageAttributes`.
    pub md5_attributes: Option<String>,
    /// `MD5OfMessageSystemAttributes`.
    pub md5_system: Option<String>,
    /// `SequenceNumber`.
    pub sequence_number: Option<String>,
}

/// One received message (a snapshot) and its receipt handle.
#[derive(Debug, Clone)]
pub struct Received {
    /// The message as delivered.
    pub message: Message,
    /// The receipt handle of this delivery.
    pub receipt: String,
}

/// The outcome of one receive attempt.
#[derive(Debug, Default)]
pub struct ReceiveOutcome {
    /// Delivered messages.
    pub received: Vec<Received>,
    /// Messages that exceeded `maxReceiveCount`, removed here, for the dead-letter queue.
    pub to_dlq: Vec<Message>,
    /// Their removal, to commit together with their insertion into the dead-letter queue.
    pub dlq_ops: Vec<Op>,
    /// When the next message becomes visible, if any is waiting.
    pub next_visible: Option<u64>,
    /// A commit to wait for.
    pub pending: Pending,
}

/// A queue.
#[derive(Debug)]
pub struct Queue {
    /// `<account>/<region>/<name>`.
    pub key: String,
    /// The name.
    pub name: String,
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
    /// The ARN.
    pub arn: String,
    /// FIFO queue.
    pub fifo: bool,
    /// Creation time (epoch seconds), also part of receipt handles.
    pub created: u64,
    state: Mutex<State>,
    /// Woken when messages may have become available.
    pub notify: Notify,
    /// Set when the queue is deleted (long polls stop).
    pub deleted: AtomicBool,
    /// Set when a state reset or import dropped the queue: nothing it does reaches the store any more.
    retired: AtomicBool,
    persist: Option<Persister>,
}

/// The key of a queue.
pub fn queue_key(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}")
}

impl Queue {
    /// A queue from its record.
    pub fn new(record: QueueRecord, persist: Option<Persister>) -> Queue {
        let key = queue_key(&record.account, &record.region, &record.name);
        let arn = format!(
            "arn:{}:sqs:{}:{}:{}",
            skyport_core::arn::partition_for_region(&record.region),
            record.region,
            record.account,
            record.name
        );
        // Sequences start at the current time in microseconds, so they keep increasing across restarts
        // (FIFO sequence numbers) and a receipt handle never names a later message.
        let state = State {
            settings: Settings::from(&record.attributes),
            next_seq: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as u64)
                .unwrap_or(0),
            ..State::default()
        };
        Queue {
            key,
            name: record.name.clone(),
            account: record.account.clone(),
            region: record.region.clone(),
            arn,
            fifo: record.fifo,
            created: record.created,
            state: Mutex::new(State {
                record: Some(record),
                ..state
            }),
            notify: Notify::new(),
            deleted: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            persist,
        }
    }

    /// A new record with default attributes.
    pub fn new_record(account: &str, region: &str, name: &str, fifo: bool) -> QueueRecord {
        let now = now_ms() / 1000;
        QueueRecord {
            name: name.to_owned(),
            account: account.to_owned(),
            region: region.to_owned(),
            fifo,
            created: now,
            last_modified: now,
            attributes: default_attributes(fifo),
            tags: BTreeMap::new(),
            last_purge: None,
        }
    }

    /// Locks the state (a poisoned lock is recovered: the state stays consistent per operation).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn submit(&self, ops: Vec<Op>) -> Pending {
        if self.retired.load(Ordering::SeqCst) {
            return None;
        }
        match &self.persist {
            Some(p) if !ops.is_empty() => Some(p.submit(ops)),
            _ => None,
        }
    }

    /// Stores the queue's settings (call with the lock held).
    pub fn save(&self, state: &State) -> Pending {
        let record = state.record.as_ref()?;
        let bytes = serde_json::to_vec(record).unwrap_or_default();
        self.submit(vec![Op::PutQueue(self.key.clone(), bytes)])
    }

    /// A copy of the settings.
    pub fn record(&self) -> QueueRecord {
        let state = self.lock();
        state.record.clone().unwrap_or_else(|| {
            Queue::new_record(&self.account, &self.region, &self.name, self.fifo)
        })
    }

    /// Replaces attributes and tags (`SetQueueAttributes`, tagging), storing them.
    pub fn update(&self, f: impl FnOnce(&mut QueueRecord)) -> Pending {
        let mut state = self.lock();
        let pending = if let Some(record) = state.record.as_mut() {
            f(record);
            record.last_modified = now_ms() / 1000;
            let settings = Settings::from(&record.attributes);
            state.settings = settings;
            self.save(&state)
        } else {
            None
        };
        drop(state);
        self.notify.notify_waiters();
        pending
    }

    /// The parsed settings.
    pub fn settings(&self) -> Settings {
        self.lock().settings.clone()
    }

    /// Restores messages loaded from the store.
    pub fn restore(&self, messages: Vec<Message>) {
        let now = now_ms();
        let mut state = self.lock();
        for m in messages {
            state.next_seq = state.next_seq.max(m.seq + 1);
            if let Some(dedup) = m.extra().dedup_id.as_deref()
                && self.fifo
            {
                let key = dedup_key(&state.settings, m.group_id(), dedup);
                let entry = (
                    m.sent_at + DEDUP_WINDOW_MS,
                    m.id,
                    m.extra().sequence_number.clone(),
                );
                state.dedup.insert(key, entry);
            }
            state.insert(Box::new(m), self.fifo, now);
        }
    }

    /// Sends messages (validated by the caller except for queue-specific rules); one result per message.
    pub fn send(&self, batch: Vec<NewMessage>) -> (Vec<Result<Sent, AwsError>>, Pending) {
        let now = now_ms();
        let mut state = self.lock();
        let mut results = Vec::with_capacity(batch.len());
        if self.deleted.load(Ordering::SeqCst) {
            results.extend(batch.iter().map(|_| Err(crate::errors::no_queue())));
            return (results, None);
        }
        let mut ops = Vec::new();
        for new in batch {
            results.push(self.send_one(&mut state, new, now, &mut ops));
        }
        let pending = self.submit(ops);
        drop(state);
        self.notify.notify_waiters();
        (results, pending)
    }

    fn send_one(
        &self,
        state: &mut State,
        new: NewMessage,
        now: u64,
        ops: &mut Vec<Op>,
    ) -> Result<Sent, AwsError> {
        let settings = &state.settings;
        let size = new.body.len() + new.attributes.iter().map(|(n, a)| a.size(n)).sum::<usize>();
        if size > settings.max_size {
            return Err(invalid(format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {} bytes.",
                settings.max_size
            )));
        }
        let md5_raw = md5(new.body.as_bytes());
        let md5_body = skyport_core::ids::hex(&md5_raw);
        let md5_attributes = attributes_md5(&new.attributes);
        let md5_system = attributes_md5(&new.system_attributes);
        let mut dedup_id = None;
        let mut sequence_number = None;
        if self.fifo {
            let Some(group) = new.group_id.as_deref() else {
                return Err(missing("MessageGroupId"));
            };
            if let Some(delay) = new.delay.filter(|d| *d > 0) {
                return Err(invalid_value(
                    delay,
                    "DelaySeconds",
                    "The request include parameter that is not valid for this queue type.",
                ));
            }
            let id = match (&new.dedup_id, settings.content_dedup) {
                (Some(id), _) => id.clone(),
                (None, true) => content_dedup_id(new.body.as_bytes()),
                (None, false) => {
                    return Err(invalid(
                        "The queue should either have ContentBasedDeduplication enabled or \
                         MessageDeduplicationId provided explicitly",
                    ));
                }
            };
            let key = dedup_key(settings, Some(group), &id);
            if now >= state.dedup_pruned + 1000 {
                state.dedup.retain(|_, (expiry, _, _)| *expiry > now);
                state.dedup_pruned = now;
            }
            if let Some((_, message_id, seq_number)) =
                state.dedup.get(&key).filter(|(expiry, _, _)| *expiry > now)
            {
                return Ok(Sent {
                    message_id: message_id.to_string(),
                    md5_body,
                    md5_attributes,
                    md5_system,
                    sequence_number: seq_number.clone(),
                });
            }
            dedup_id = Some(id);
            sequence_number = Some(format!(
                "{:020}",
                18_000_000_000_000_000_000u64 + state.next_seq
            ));
        } else if let Some(id) = &new.dedup_id {
            return Err(invalid_value(
                id,
                "MessageDeduplicationId",
                "The request includes a parameter that is not valid for this queue type.",
            ));
        }
        let delay = if self.fifo {
            settings.delay
        } else {
            new.delay.unwrap_or(settings.delay)
        };
        let seq = state.next_seq;
        state.next_seq += 1;
        let sender_id = match &state.sender {
            Some(s) if **s == *new.sender_id => s.clone(),
            _ => {
                let s: Arc<str> = Arc::from(new.sender_id);
                state.sender = Some(s.clone());
                s
            }
        };
        let mut message = Message {
            seq,
            id: MessageId::random(),
            body: new.body.into_boxed_str(),
            md5_body: md5_raw,
            sender_id,
            sent_at: now,
            visible_at: now + delay * 1000,
            first_receive: 0,
            received_at: 0,
            receive_count: 0,
            extra: None,
        };
        let mut system_attributes = new.system_attributes;
        if let Some(trace) = new.trace_header {
            system_attributes
                .entry("AWSTraceHeader".to_owned())
                .or_insert(MessageAttribute {
                    data_type: "String".to_owned(),
                    string_value: Some(trace),
                    binary_value: None,
                });
        }
        message.update_extra(|e| {
            e.attributes = new.attributes;
            e.system_attributes = system_attributes;
            e.group_id = new.group_id;
            e.dedup_id = dedup_id.clone();
            e.sequence_number = sequence_number.clone();
        });
        if let Some(id) = &dedup_id {
            let key = dedup_key(&state.settings, message.group_id(), id);
            state.dedup.insert(
                key,
                (now + DEDUP_WINDOW_MS, message.id, sequence_number.clone()),
            );
        }
        if self.persist.is_some() {
            ops.push(put_message(&self.key, &message));
        }
        let sent = Sent {
            message_id: message.id.to_string(),
            md5_body,
            md5_attributes,
            md5_system,
            sequence_number,
        };
        state.insert(Box::new(message), self.fifo, now);
        Ok(sent)
    }

    /// Adds messages moved from another queue (dead-letter redrive, move tasks), committing them together
    /// with `extra` (their removal from the source).
    pub fn accept_moved(
        &self,
        messages: Vec<Message>,
        source_arn: Option<&str>,
        extra: Vec<Op>,
    ) -> Pending {
        let now = now_ms();
        let mut state = self.lock();
        let mut ops = Vec::with_capacity(messages.len() + extra.len());
        for mut m in messages {
            m.seq = state.next_seq;
            state.next_seq += 1;
            m.visible_at = now;
            if let Some(arn) = source_arn {
                m.update_extra(|e| e.dlq_source_arn = Some(arn.to_owned()));
            }
            if self.persist.is_some() {
                ops.push(put_message(&self.key, &m));
            }
            state.insert(Box::new(m), self.fifo, now);
        }
        ops.extend(extra);
        let pending = self.submit(ops);
        drop(state);
        self.notify.notify_waiters();
        pending
    }

    /// Takes up to `max` visible messages out of the queue (for move tasks), with their removal ops.
    pub fn take_visible(&self, max: usize) -> (Vec<Message>, Vec<Op>) {
        let now = now_ms();
        let mut state = self.lock();
        state.promote(now);
        let seqs: Vec<u64> = state.ready.iter().take(max).copied().collect();
        let mut out = Vec::with_capacity(seqs.len());
        let mut ops = Vec::new();
        for seq in seqs {
            if let Some(m) = state.remove(seq) {
                if self.persist.is_some() {
                    ops.push(Op::DeleteMessage(message_key(&self.key, seq)));
                }
                out.push(*m);
            }
        }
        (out, ops)
    }

    /// The receipt handle of the current delivery of `message`.
    fn receipt(&self, message: &Message) -> String {
        let raw = format!(
            "{}|{}|{}|{}|{}",
            self.key, self.created, message.seq, message.receive_count, message.id
        );
        base64::engine::general_purpose::STANDARD.encode(raw)
    }

    /// Decodes a receipt handle of this queue into `(seq, receive_count, message id)`.
    /// The id is `None` when it is no message id (such a handle names no message).
    pub fn parse_receipt(&self, handle: &str) -> Result<(u64, u32, Option<MessageId>), AwsError> {
        let bad = || bad_receipt(handle);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(handle.trim())
            .map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let parts: Vec<&str> = raw.split('|').collect();
        let [key, created, seq, count, id] = parts.as_slice() else {
            return Err(bad());
        };
        if *key != self.key || created.parse::<u64>().ok() != Some(self.created) {
            return Err(bad());
        }
        Ok((
            seq.parse().map_err(|_| bad())?,
            count.parse().map_err(|_| bad())?,
            MessageId::parse(id),
        ))
    }

    /// Receives up to `max` messages with visibility timeout `visibility` (seconds, or the queue's).
    /// `dlq_available` says whether the redrive target exists (messages over `maxReceiveCount` move there).
    pub fn receive(
        &self,
        max: usize,
        visibility: Option<u64>,
        attempt_id: Option<&str>,
        dlq_available: bool,
    ) -> ReceiveOutcome {
        let now = now_ms();
        let mut state = self.lock();
        let mut out = ReceiveOutcome::default();
        if self.fifo
            && let Some(id) = attempt_id
        {
            state.attempts.retain(|_, (expiry, _)| *expiry > now);
            if let Some((_, previous)) = state.attempts.get(id) {
                let again: Option<Vec<Received>> = previous
                    .iter()
                    .map(|(seq, count)| {
                        let m = state.messages.get(seq)?;
                        (m.receive_count == *count && m.visible_at > now).then(|| Received {
                            message: Message::clone(m),
                            receipt: self.receipt(m),
                        })
                    })
                    .collect();
                if let Some(again) = again {
                    out.received = again;
                    return out;
                }
            }
        }
        let settings = state.settings.clone();
        let vt = visibility.unwrap_or(settings.visibility_timeout);
        let redrive = settings
            .redrive
            .as_ref()
            .filter(|_| dlq_available)
            .map(|r| r.1);
        let retention_ms = settings.retention * 1000;
        let mut ops = Vec::new();
        state.promote(now);
        // Standard queues go through `ready` in sequence order from `cursor`; a message delivered with a
        // visibility timeout of 0 goes back to `ready` behind the cursor and is not delivered twice.
        let mut cursor = 0u64;
        let mut delivered: Vec<u64> = Vec::new();
        loop {
            let wanted = max - out.received.len();
            let batch: Vec<u64> = if self.fifo {
                fifo_candidates(&state, wanted, now, &delivered)
            } else {
                state.ready.range(cursor..).take(wanted).copied().collect()
            };
            if batch.is_empty() {
                break;
            }
            let mut skipped = false;
            for seq in batch {
                cursor = seq + 1;
                let Some(message) = state.messages.get(&seq) else {
                    continue;
                };
                if message.sent_at + retention_ms <= now {
                    state.remove(seq);
                    if self.persist.is_some() {
                        ops.push(Op::DeleteMessage(message_key(&self.key, seq)));
                    }
                    skipped = true;
                    continue;
                }
                if let Some(max_receives) = redrive
                    && message.receive_count >= max_receives
                {
                    if let Some(message) = state.remove(seq) {
                        if self.persist.is_some() {
                            out.dlq_ops
                                .push(Op::DeleteMessage(message_key(&self.key, seq)));
                        }
                        out.to_dlq.push(*message);
                    }
                    skipped = true;
                    continue;
                }
                state.set_visible_at(seq, now + vt * 1000, now);
                let Some(message) = state.messages.get_mut(&seq) else {
                    continue;
                };
                message.receive_count += 1;
                if message.first_receive == 0 {
                    message.first_receive = now;
                }
                message.received_at = now;
                if self.persist.is_some() {
                    ops.push(put_delivery(&self.key, message));
                }
                let message = Message::clone(message);
                out.received.push(Received {
                    receipt: self.receipt(&message),
                    message,
                });
                if self.fifo {
                    delivered.push(seq);
                }
            }
            if !skipped || out.received.len() >= max {
                break;
            }
        }
        if self.fifo
            && let Some(id) = attempt_id
            && !out.received.is_empty()
        {
            let list = out
                .received
                .iter()
                .map(|r| (r.message.seq, r.message.receive_count))
                .collect();
            state
                .attempts
                .insert(id.to_owned(), (now + DEDUP_WINDOW_MS, list));
        }
        out.next_visible = state.waiting.first().map(|(t, _)| *t);
        out.pending = self.submit(ops);
        out
    }

    /// Deletes the delivery named by a receipt handle. On a standard queue a handle of an earlier delivery
    /// (the message was received again since) deletes nothing, and deleting an already deleted message
    /// succeeds, as on AWS; a FIFO queue refuses a handle whose visibility timeout has ended or whose
    /// message was received again since ("The receipt handle has expired.").
    pub fn delete(&self, handle: &str) -> Result<Pending, AwsError> {
        let (seq, count, id) = self.parse_receipt(handle)?;
        let now = now_ms();
        let mut state = self.lock();
        let current = state
            .messages
            .get(&seq)
            .filter(|m| Some(m.id) == id)
            .map(|m| (m.receive_count, m.visible_at));
        let Some((receive_count, visible_at)) = current else {
            return Ok(None);
        };
        if self.fifo && (receive_count != count || visible_at <= now) {
            return Err(invalid_value(
                handle,
                "ReceiptHandle",
                "The receipt handle has expired.",
            ));
        }
        if receive_count != count {
            return Ok(None);
        }
        let removed = state.remove(seq);
        let pending = if self.persist.is_some() {
            self.submit(vec![Op::DeleteMessage(message_key(&self.key, seq))])
        } else {
            None
        };
        drop(state);
        if self.fifo && removed.is_some() {
            self.notify.notify_waiters();
        }
        Ok(pending)
    }

    /// Changes the visibility timeout of the message named by a receipt handle, counted from now. As on
    /// AWS the handle need not be the current one: a handle whose visibility timeout has ended, or of an
    /// earlier delivery of the message, still names the message (only a deleted message's handle fails).
    pub fn change_visibility(&self, handle: &str, timeout: u64) -> Result<Pending, AwsError> {
        let (seq, _count, id) = self.parse_receipt(handle)?;
        let now = now_ms();
        let mut state = self.lock();
        let Some(message) = state.messages.get(&seq).filter(|m| Some(m.id) == id) else {
            return Err(invalid_value(
                handle,
                "ReceiptHandle",
                "Message does not exist or is not available for visibility timeout change.",
            ));
        };
        let new_visible = now + timeout * 1000;
        if message.received_at != 0 && new_visible > message.received_at + 43_200_000 {
            return Err(invalid_value(
                timeout,
                "VisibilityTimeout",
                "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]",
            ));
        }
        state.set_visible_at(seq, new_visible, now);
        let mut ops = Vec::new();
        if self.persist.is_some()
            && let Some(m) = state.messages.get(&seq)
        {
            ops.push(put_delivery(&self.key, m));
        }
        let pending = self.submit(ops);
        drop(state);
        if timeout == 0 {
            self.notify.notify_waiters();
        }
        Ok(pending)
    }

    /// Deletes every message (`PurgeQueue`); with `one_per_minute`, AWS's limit of one purge per queue every
    /// 60 seconds applies.
    pub fn purge(&self, one_per_minute: bool) -> Result<Pending, AwsError> {
        let now = now_ms();
        let mut state = self.lock();
        let last_purge = state.record.as_ref().and_then(|r| r.last_purge);
        if one_per_minute && last_purge.is_some_and(|t| now < t + 60_000) {
            return Err(crate::errors::err_status(
                http::StatusCode::FORBIDDEN,
                "PurgeQueueInProgress",
                "AWS.SimpleQueueService.PurgeQueueInProgress",
                format!(
                    "Only one PurgeQueue operation on {} is allowed every 60 seconds.",
                    self.name
                ),
            ));
        }
        let mut ops: Vec<Op> = if self.persist.is_some() {
            state
                .messages
                .keys()
                .map(|seq| Op::DeleteMessage(message_key(&self.key, *seq)))
                .collect()
        } else {
            Vec::new()
        };
        state.clear();
        // A purge also forgets the deduplication ids and receive attempts, as on AWS.
        state.dedup.clear();
        state.attempts.clear();
        if let Some(record) = state.record.as_mut() {
            // Remembered with the queue, so the 60 s rule holds across a restart.
            record.last_purge = Some(now);
            if self.persist.is_some() {
                let bytes = serde_json::to_vec(record).unwrap_or_default();
                ops.push(Op::PutQueue(self.key.clone(), bytes));
            }
        }
        Ok(self.submit(ops))
    }

    /// Drops the queue for a state reset or import: long polls end and later changes (a message a
    /// producer still holding the queue sends) stay out of the store.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
        self.deleted.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Removes the queue's messages and settings from the store (`DeleteQueue`).
    pub fn destroy(&self) -> Pending {
        self.deleted.store(true, Ordering::SeqCst);
        let mut state = self.lock();
        let mut ops: Vec<Op> = if self.persist.is_some() {
            state
                .messages
                .keys()
                .map(|seq| Op::DeleteMessage(message_key(&self.key, *seq)))
                .collect()
        } else {
            Vec::new()
        };
        ops.push(Op::DeleteQueue(self.key.clone()));
        state.clear();
        let pending = self.submit(ops);
        drop(state);
        self.notify.notify_waiters();
        pending
    }

    /// Drops messages older than the retention period (run periodically; receives drop them too).
    pub fn expire(&self) -> Pending {
        let now = now_ms();
        let mut state = self.lock();
        let retention_ms = state.settings.retention * 1000;
        let expired: Vec<u64> = state
            .messages
            .values()
            .filter(|m| m.sent_at + retention_ms <= now)
            .map(|m| m.seq)
            .collect();
        let mut ops = Vec::new();
        for seq in expired {
            state.remove(seq);
            if self.persist.is_some() {
                ops.push(Op::DeleteMessage(message_key(&self.key, seq)));
            }
        }
        self.submit(ops)
    }

    /// Up to `max` of the queue's messages, oldest first, without receiving them (nothing about them
    /// changes): the visible ones, the in-flight ones when `invisible`, the delayed ones when `delayed`.
    /// Each comes with whether it is visible now.
    pub fn peek(&self, invisible: bool, delayed: bool, max: usize) -> Vec<(Message, bool)> {
        let now = now_ms();
        let state = self.lock();
        let retention_ms = state.settings.retention * 1000;
        state
            .messages
            .values()
            .filter(|m| m.sent_at + retention_ms > now)
            .filter(|m| {
                if m.visible_at <= now {
                    true
                } else if m.receive_count > 0 {
                    invisible
                } else {
                    delayed
                }
            })
            .take(max)
            .map(|m| ((**m).clone(), m.visible_at <= now))
            .collect()
    }

    /// `(visible, in flight, delayed)` message counts.
    pub fn counts(&self) -> (u64, u64, u64) {
        let now = now_ms();
        let state = self.lock();
        let retention_ms = state.settings.retention * 1000;
        let (mut visible, mut inflight, mut delayed) = (0, 0, 0);
        for m in state.messages.values() {
            if m.sent_at + retention_ms <= now {
                continue;
            }
            if m.visible_at <= now {
                visible += 1;
            } else if m.receive_count > 0 {
                inflight += 1;
            } else {
                delayed += 1;
            }
        }
        (visible, inflight, delayed)
    }
}

/// FIFO: up to `max` messages that may be delivered now (leaving out `skip`), the way AWS picks them: a
/// group can deliver while its first message is visible, its messages in order up to the first one that
/// is not (in flight or delayed), and a receive takes as many of one group's messages as it can before
/// the next group. Groups come in the order their first message became visible (so a group whose
/// messages were just returned, or whose visibility timeout just ended, comes after groups that were
/// waiting).
fn fifo_candidates(state: &State, max: usize, now: u64, skip: &[u64]) -> Vec<u64> {
    let mut out = Vec::new();
    for (_, head) in state.heads.range(..=(now, u64::MAX)) {
        let Some(seqs) = state
            .messages
            .get(head)
            .and_then(|m| state.groups.get(m.group_id().unwrap_or("")))
        else {
            continue;
        };
        for seq in seqs {
            match state.messages.get(seq) {
                Some(m) if m.visible_at <= now => {}
                _ => break,
            }
            if skip.contains(seq) {
                continue;
            }
            out.push(*seq);
            if out.len() >= max {
                return out;
            }
        }
    }
    out
}

fn dedup_key(settings: &Settings, group: Option<&str>, id: &str) -> String {
    if settings.dedup_per_group {
        format!("{}\u{1f}{id}", group.unwrap_or(""))
    } else {
        id.to_owned()
    }
}

/// The deduplication id of `ContentBasedDeduplication`: the SHA-256 hex of the body.
fn content_dedup_id(bytes: &[u8]) -> String {
    use sha2::Digest;
    skyport_core::ids::hex(&sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(fifo: bool) -> Queue {
        let name = if fifo { "q.fifo" } else { "q" };
        let mut record = Queue::new_record("000000000000", "us-east-1", name, fifo);
        if fifo {
            record
                .attributes
                .insert("ContentBasedDeduplication".into(), "true".into());
        }
        Queue::new(record, None)
    }

    fn msg(body: &str, group: Option<&str>) -> NewMessage {
        NewMessage {
            body: body.into(),
            group_id: group.map(str::to_owned),
            sender_id: "000000000000".into(),
            ..NewMessage::default()
        }
    }

    #[test]
    fn retention_drops_old_messages() {
        let q = queue(false);
        let (results, _) = q.send(vec![msg("old", None), msg("new", None)]);
        assert!(results.iter().all(Result::is_ok));
        {
            let mut state = q.lock();
            let first = state.messages.values_mut().next().unwrap();
            first.sent_at -= 345_600 * 1000 + 1;
        }
        assert_eq!(q.counts(), (1, 0, 0));
        assert!(q.expire().is_none());
        assert_eq!(q.lock().messages.len(), 1);
        let out = q.receive(10, None, None, false);
        assert_eq!(out.received.len(), 1);
        assert_eq!(&*out.received[0].message.body, "new");
    }

    #[test]
    fn receipts_name_one_delivery() {
        let q = queue(false);
        q.send(vec![msg("a", None)]);
        let first = q.receive(1, Some(0), None, false).received.remove(0);
        let second = q.receive(1, Some(30), None, false).received.remove(0);
        assert_ne!(first.receipt, second.receipt);
        // The stale handle deletes nothing; the current one does.
        assert!(q.delete(&first.receipt).is_ok());
        assert_eq!(q.counts(), (0, 1, 0));
        // A stale handle still changes the message's visibility, as on AWS.
        assert!(q.change_visibility(&first.receipt, 0).is_ok());
        assert_eq!(q.counts(), (1, 0, 0));
        assert!(q.delete(&second.receipt).is_ok());
        assert_eq!(q.counts(), (0, 0, 0));
        assert!(q.delete("not a handle").is_err());
        assert!(queue(false).parse_receipt(&second.receipt).is_ok());
        let other = Queue::new(
            Queue::new_record("000000000000", "us-east-1", "other", false),
            None,
        );
        assert!(other.parse_receipt(&second.receipt).is_err());
    }

    #[test]
    fn fifo_blocks_a_group_while_a_message_is_in_flight() {
        let q = queue(true);
        let (r, _) = q.send(vec![
            msg("a1", Some("a")),
            msg("b1", Some("b")),
            msg("a2", Some("a")),
            msg("a1", Some("a")),
        ]);
        // The last one is a content-based duplicate of the first.
        assert_eq!(
            r[3].as_ref().unwrap().message_id,
            r[0].as_ref().unwrap().message_id
        );
        let got = q.receive(1, None, None, false).received;
        assert_eq!(&*got[0].message.body, "a1");
        let got = q.receive(10, None, None, false).received;
        assert_eq!(got.len(), 1);
        assert_eq!(&*got[0].message.body, "b1");
        assert!(q.receive(10, None, None, false).received.is_empty());
        let handle = {
            let state = q.lock();
            let m = state.messages.values().next().unwrap();
            q.receipt(m)
        };
        q.delete(&handle).unwrap();
        let got = q.receive(10, None, None, false).received;
        assert_eq!(&*got[0].message.body, "a2");
    }

    fn bodies(received: &[Received]) -> Vec<&str> {
        received.iter().map(|r| &*r.message.body).collect()
    }

    #[test]
    fn standard_queues_deliver_a_message_whose_visibility_ended_before_newer_ones() {
        let q = queue(false);
        q.send(vec![msg("old", None)]);
        let old = q.receive(1, Some(30), None, false).received.remove(0);
        q.send(vec![msg("new", None)]);
        std::thread::sleep(std::time::Duration::from_millis(3));
        q.change_visibility(&old.receipt, 0).unwrap();
        let got = q.receive(10, Some(30), None, false).received;
        assert_eq!(bodies(&got), ["old", "new"]);
    }

    #[test]
    fn fifo_receives_one_group_at_a_time_in_the_order_groups_became_visible() {
        let q = queue(true);
        for (body, group) in [
            ("g1-m1", "g1"),
            ("g2-m1", "g2"),
            ("g2-m2", "g2"),
            ("g3-m1", "g3"),
            ("g1-m2", "g1"),
        ] {
            q.send(vec![msg(body, Some(group))]);
        }
        std::thread::sleep(std::time::Duration::from_millis(3));
        let got = q.receive(3, Some(0), None, false).received;
        assert_eq!(bodies(&got), ["g1-m1", "g1-m2", "g2-m1"]);
        // The groups just returned became visible again after g3, which was waiting.
        let got = q.receive(10, Some(0), None, false).received;
        assert_eq!(bodies(&got), ["g3-m1", "g1-m1", "g1-m2", "g2-m1", "g2-m2"]);
    }

    #[test]
    fn fifo_delivers_a_group_up_to_its_first_message_in_flight() {
        let q = queue(true);
        for body in ["a1", "a2", "a3"] {
            q.send(vec![msg(body, Some("a"))]);
        }
        let got = q.receive(10, Some(30), None, false).received;
        assert_eq!(bodies(&got), ["a1", "a2", "a3"]);
        // a2 stays in flight; a1 and a3 become visible: only a1 can be delivered.
        q.change_visibility(&got[0].receipt, 0).unwrap();
        q.change_visibility(&got[2].receipt, 0).unwrap();
        let again = q.receive(10, Some(30), None, false).received;
        assert_eq!(bodies(&again), ["a1"]);
        // With the head in flight nothing of the group is delivered.
        assert!(q.receive(10, Some(30), None, false).received.is_empty());
        // Deleting a1 and a2 leaves a3 at the head.
        q.delete(&again[0].receipt).unwrap();
        q.delete(&got[1].receipt).unwrap();
        assert_eq!(bodies(&q.receive(10, None, None, false).received), ["a3"]);
    }

    #[test]
    fn fifo_handles_expire_for_delete_and_purge_forgets_deduplication() {
        let q = queue(true);
        q.send(vec![msg("a", Some("g"))]);
        let first = q.receive(1, Some(0), None, false).received.remove(0);
        let e = q.delete(&first.receipt).unwrap_err();
        assert!(
            e.message
                .ends_with("Reason: The receipt handle has expired.")
        );
        assert!(q.purge(false).is_ok());
        let (r, _) = q.send(vec![msg("a", Some("g"))]);
        assert!(r[0].is_ok());
        assert_eq!(q.counts(), (1, 0, 0));
        assert_eq!(bodies(&q.receive(1, None, None, false).received), ["a"]);
    }

    /// Checks the indexes against the messages: each message is in `ready` or `waiting`, and `heads`
    /// holds exactly each group's first message.
    fn check_indexes(state: &State, fifo: bool) {
        for (seq, m) in &state.messages {
            let ready = state.ready.contains(seq);
            let waiting = state.waiting.contains(&(m.visible_at, *seq));
            assert!(
                ready != waiting,
                "message {seq} in ready {ready}, waiting {waiting}"
            );
        }
        assert_eq!(
            state.ready.len() + state.waiting.len(),
            state.messages.len()
        );
        if !fifo {
            assert!(state.heads.is_empty() && state.groups.is_empty());
            return;
        }
        let mut firsts: BTreeMap<&str, &Message> = BTreeMap::new();
        for m in state.messages.values() {
            firsts.entry(m.group_id().unwrap_or("")).or_insert(m);
        }
        let heads: BTreeSet<(u64, u64)> = firsts.values().map(|m| (m.visible_at, m.seq)).collect();
        assert_eq!(heads, state.heads);
    }

    #[test]
    fn indexes_stay_consistent_under_random_operations() {
        for fifo in [true, false] {
            random_operations(fifo);
        }
    }

    fn random_operations(fifo: bool) {
        let q = queue(fifo);
        let mut handles: Vec<String> = Vec::new();
        let mut rng = fastrand::Rng::with_seed(7);
        for step in 0..3000 {
            match rng.u8(0..10) {
                0..=3 => {
                    let group = format!("g{}", rng.u8(0..5));
                    q.send(vec![msg(&format!("m{step}"), Some(&group))]);
                }
                4..=5 => {
                    let vt = if rng.bool() { 0 } else { 30 };
                    let got = q.receive(rng.usize(1..=10), Some(vt), None, false);
                    handles.extend(got.received.into_iter().map(|r| r.receipt));
                }
                6..=7 if !handles.is_empty() => {
                    let h = handles.swap_remove(rng.usize(..handles.len()));
                    let _ = q.delete(&h);
                }
                8 if !handles.is_empty() => {
                    let h = handles[rng.usize(..handles.len())].clone();
                    let _ = q.change_visibility(&h, if rng.bool() { 0 } else { 60 });
                }
                9 if step % 500 == 0 => {
                    let _ = q.purge(false);
                }
                _ => {}
            }
            check_indexes(&q.lock(), fifo);
        }
    }

    /// The in-memory cost of the send and receive+delete paths (no HTTP), for comparing versions:
    /// `cargo test --release -p skyport-sqs -- --ignored --nocapture hot_path_rates`.
    #[test]
    #[ignore]
    fn hot_path_rates() {
        const N: usize = 200_000;
        for fifo in [false, true] {
            let q = queue(fifo);
            let groups: Vec<String> = (0..100).map(|g| format!("g{g}")).collect();
            let started = std::time::Instant::now();
            for i in 0..N {
                let group = fifo.then(|| groups[i % groups.len()].as_str());
                let (r, _) = q.send(vec![msg(&format!("message {i}"), group)]);
                assert!(r[0].is_ok());
            }
            let send = started.elapsed();
            let started = std::time::Instant::now();
            let mut done = 0;
            while done < N {
                let got = q.receive(10, Some(600), None, false).received;
                assert!(!got.is_empty());
                for r in got {
                    q.delete(&r.receipt).unwrap();
                    done += 1;
                }
            }
            let receive = started.elapsed();
            println!(
                "{}: send {:.0}/s, receive+delete {:.0} msgs/s",
                if fifo {
                    "FIFO (100 groups)"
                } else {
                    "standard"
                },
                N as f64 / send.as_secs_f64(),
                N as f64 / receive.as_secs_f64()
            );
        }
    }
}

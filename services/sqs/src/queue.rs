//! One queue in memory: its settings, its messages ordered by the time they become visible, FIFO groups
//! and deduplication, receipt handles and the approximate counters. Every method runs under the queue's
//! lock and is quick; changes are handed to the commit thread (with persistence) while the lock is held,
//! so the store sees them in the order they happened.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine;
use serde::{Deserialize, Serialize};
use skyport_core::AwsError;
use tokio::sync::{Notify, oneshot};

use crate::digest::{attributes_md5, md5};
use crate::errors::{bad_receipt, err, invalid, invalid_value, missing};
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
#[derive(Debug, Default)]
pub struct State {
    /// The stored settings.
    pub record: Option<QueueRecord>,
    /// Parsed settings.
    pub settings: Settings,
    /// Messages by sequence (boxed: a B-tree leaf then holds 16-byte entries, and half-full leaves waste
    /// little).
    pub messages: BTreeMap<u64, Box<Message>>,
    /// `(visible_at, seq)` of every message.
    pub index: BTreeSet<(u64, u64)>,
    next_seq: u64,
    dedup: HashMap<String, (u64, MessageId, Option<String>)>,
    dedup_pruned: u64,
    /// The last sender id, shared by the messages it sent.
    sender: Option<Arc<str>>,
    attempts: HashMap<String, (u64, Vec<(u64, u32)>)>,
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
            state.index.insert((m.visible_at, m.seq));
            state.messages.insert(m.seq, Box::new(m));
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
        message.update_extra(|e| {
            e.attributes = new.attributes;
            e.system_attributes = new.system_attributes;
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
        state.index.insert((message.visible_at, seq));
        state.messages.insert(seq, Box::new(message));
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
            state.index.insert((m.visible_at, m.seq));
            state.messages.insert(m.seq, Box::new(m));
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
        let seqs: Vec<(u64, u64)> = state
            .index
            .range(..=(now, u64::MAX))
            .take(max)
            .copied()
            .collect();
        let mut out = Vec::with_capacity(seqs.len());
        let mut ops = Vec::new();
        for (vis, seq) in seqs {
            state.index.remove(&(vis, seq));
            if let Some(m) = state.messages.remove(&seq) {
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
        let candidates: Vec<(u64, u64)> = if self.fifo {
            self.fifo_candidates(&state, max, now)
        } else {
            Vec::new()
        };
        let mut taken = 0usize;
        let mut fifo_iter = candidates.into_iter();
        while taken < max {
            let next = if self.fifo {
                fifo_iter.next()
            } else {
                state.index.range(..=(now, u64::MAX)).next().copied()
            };
            let Some((vis, seq)) = next else { break };
            state.index.remove(&(vis, seq));
            let Some(mut message) = state.messages.remove(&seq) else {
                continue;
            };
            if message.sent_at + retention_ms <= now {
                if self.persist.is_some() {
                    ops.push(Op::DeleteMessage(message_key(&self.key, seq)));
                }
                continue;
            }
            if let Some(max_receives) = redrive
                && message.receive_count >= max_receives
            {
                if self.persist.is_some() {
                    out.dlq_ops
                        .push(Op::DeleteMessage(message_key(&self.key, seq)));
                }
                out.to_dlq.push(*message);
                continue;
            }
            message.receive_count += 1;
            if message.first_receive == 0 {
                message.first_receive = now;
            }
            message.received_at = now;
            message.visible_at = now + vt * 1000;
            if self.persist.is_some() {
                ops.push(put_delivery(&self.key, &message));
            }
            out.received.push(Received {
                receipt: self.receipt(&message),
                message: Message::clone(&message),
            });
            state.index.insert((message.visible_at, seq));
            state.messages.insert(seq, message);
            taken += 1;
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
        out.next_visible = state.index.range((now + 1, 0)..).next().map(|(t, _)| *t);
        out.pending = self.submit(ops);
        out
    }

    /// FIFO: the visible messages that may be delivered now, in send order: a group with a message in
    /// flight (or delayed) delivers nothing until that message is deleted or visible again.
    fn fifo_candidates(&self, state: &State, max: usize, now: u64) -> Vec<(u64, u64)> {
        let mut blocked: HashSet<&str> = HashSet::new();
        for (_, seq) in state.index.range((now + 1, 0)..) {
            if let Some(g) = state.messages.get(seq).and_then(|m| m.group_id()) {
                blocked.insert(g);
            }
        }
        let mut out = Vec::new();
        for m in state.messages.values() {
            let group = m.group_id().unwrap_or("");
            if blocked.contains(group) {
                continue;
            }
            if m.visible_at > now {
                blocked.insert(group);
                continue;
            }
            out.push((m.visible_at, m.seq));
            if out.len() >= max {
                break;
            }
        }
        out
    }

    /// Deletes the delivery named by a receipt handle. A handle of an earlier delivery (the message was
    /// received again since) deletes nothing, and deleting an already deleted message succeeds, as on AWS.
    pub fn delete(&self, handle: &str) -> Result<Pending, AwsError> {
        let (seq, count, id) = self.parse_receipt(handle)?;
        let mut state = self.lock();
        let current = state
            .messages
            .get(&seq)
            .filter(|m| Some(m.id) == id)
            .map(|m| (m.receive_count, m.visible_at));
        let Some((receive_count, visible_at)) = current else {
            return Ok(None);
        };
        if receive_count != count {
            return Ok(None);
        }
        state.index.remove(&(visible_at, seq));
        let removed = state.messages.remove(&seq);
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

    /// Changes the visibility timeout of the delivery named by a receipt handle.
    pub fn change_visibility(&self, handle: &str, timeout: u64) -> Result<Pending, AwsError> {
        let (seq, count, id) = self.parse_receipt(handle)?;
        let now = now_ms();
        let mut state = self.lock();
        let Some(message) = state
            .messages
            .get(&seq)
            .filter(|m| m.receive_count == count && Some(m.id) == id)
        else {
            return Err(invalid_value(
                handle,
                "ReceiptHandle",
                "Message does not exist or is not available for visibility timeout change.",
            ));
        };
        if message.visible_at <= now {
            return Err(err(
                "MessageNotInflight",
                "AWS.SimpleQueueService.MessageNotInflight",
                "Message is not in flight.",
            ));
        }
        let old = message.visible_at;
        let new_visible = now + timeout * 1000;
        if message.received_at != 0 && new_visible > message.received_at + 43_200_000 {
            return Err(invalid_value(
                timeout,
                "VisibilityTimeout",
                "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]",
            ));
        }
        state.index.remove(&(old, seq));
        state.index.insert((new_visible, seq));
        let mut ops = Vec::new();
        if let Some(m) = state.messages.get_mut(&seq) {
            m.visible_at = new_visible;
            if self.persist.is_some() {
                ops.push(put_delivery(&self.key, m));
            }
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
            return Err(err(
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
        state.messages.clear();
        state.index.clear();
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
        state.messages.clear();
        state.index.clear();
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
        let expired: Vec<(u64, u64)> = state
            .messages
            .values()
            .filter(|m| m.sent_at + retention_ms <= now)
            .map(|m| (m.visible_at, m.seq))
            .collect();
        let mut ops = Vec::new();
        for (visible_at, seq) in expired {
            state.index.remove(&(visible_at, seq));
            state.messages.remove(&seq);
            if self.persist.is_some() {
                ops.push(Op::DeleteMessage(message_key(&self.key, seq)));
            }
        }
        self.submit(ops)
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
        assert!(q.change_visibility(&first.receipt, 0).is_err());
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
}

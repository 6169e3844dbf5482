//! Durability with `PERSISTENCE=1`: a group-commit writer in front of the redb store. Requests hand their
//! changes to one writer thread and wait; the thread applies everything queued since its last commit in one
//! write transaction and acknowledges all of it after the (fsynced) commit. Concurrent sends therefore
//! share one fsync, and a send is acknowledged only once it is on disk.
//!
//! Tables: `queues` (`<account>/<region>/<name>` → queue JSON), `messages` (`<queue key>/<seq:020>` →
//! message JSON), `deliveries` (same key → the small receive state, rewritten on every receive) and
//! `move_tasks` (`<started:020>/<task id>` → message move task JSON, the ten latest per source queue).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, mpsc};

use serde::{Deserialize, Serialize};

use skyport_core::error::StorageFailure;
use skyport_core::store::{Store, StoreError};
use tokio::sync::oneshot;

use crate::model::{Delivery, Extra, Message, MessageAttribute, MessageId};

const QUEUES: &str = "queues";
const MESSAGES: &str = "messages";
const DELIVERIES: &str = "deliveries";
const TASKS: &str = "move_tasks";

/// One change to the store.
#[derive(Debug)]
pub enum Op {
    /// Store a queue's settings.
    PutQueue(String, Vec<u8>),
    /// Remove a queue's settings.
    DeleteQueue(String),
    /// Store a message.
    PutMessage(String, Vec<u8>),
    /// Store a message's receive state.
    PutDelivery(String, Vec<u8>),
    /// Remove a message and its receive state.
    DeleteMessage(String),
    /// Store a message move task.
    PutTask(String, Vec<u8>),
    /// Remove a message move task.
    DeleteTask(String),
    /// Remove everything (a state reset), in order with the changes queued before.
    Clear,
}

/// The key of message `seq` in queue `queue_key`.
pub fn message_key(queue_key: &str, seq: u64) -> String {
    format!("{queue_key}/{seq:020}")
}

impl Op {
    /// The store entry this op writes (`None` for a removal).
    pub fn into_entry(self) -> Option<(&'static str, String, Vec<u8>)> {
        match self {
            Op::PutQueue(k, v) => Some((QUEUES, k, v)),
            Op::PutMessage(k, v) => Some((MESSAGES, k, v)),
            Op::PutDelivery(k, v) => Some((DELIVERIES, k, v)),
            Op::PutTask(k, v) => Some((TASKS, k, v)),
            _ => None,
        }
    }

    /// The op writing a store entry (`None` for an unknown table).
    pub fn from_entry(table: &str, key: String, value: Vec<u8>) -> Option<Op> {
        match table {
            QUEUES => Some(Op::PutQueue(key, value)),
            MESSAGES => Some(Op::PutMessage(key, value)),
            DELIVERIES => Some(Op::PutDelivery(key, value)),
            TASKS => Some(Op::PutTask(key, value)),
            _ => None,
        }
    }
}

/// An `Op` storing `message`.
pub fn put_message(queue_key: &str, message: &Message) -> Op {
    Op::PutMessage(
        message_key(queue_key, message.seq),
        serde_json::to_vec(&StoredMessage::from(message)).unwrap_or_default(),
    )
}

/// The stored (JSON) form of a message; its field names are those of the first stored format, so stores
/// written by earlier versions load.
#[derive(Debug, Serialize, Deserialize)]
struct StoredMessage<'a> {
    seq: u64,
    id: Cow<'a, str>,
    body: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    attributes: Cow<'a, BTreeMap<String, MessageAttribute>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    system_attributes: Cow<'a, BTreeMap<String, MessageAttribute>>,
    md5_body: Cow<'a, str>,
    sent_at: u64,
    sender_id: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group_id: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dedup_id: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sequence_number: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dlq_source_arn: Option<Cow<'a, str>>,
    #[serde(flatten)]
    delivery: Delivery,
}

impl<'a> From<&'a Message> for StoredMessage<'a> {
    fn from(m: &'a Message) -> StoredMessage<'a> {
        let extra = m.extra();
        let borrow = |v: &'a Option<String>| v.as_deref().map(Cow::Borrowed);
        StoredMessage {
            seq: m.seq,
            id: Cow::Owned(m.id.to_string()),
            body: Cow::Borrowed(&m.body),
            attributes: Cow::Borrowed(&extra.attributes),
            system_attributes: Cow::Borrowed(&extra.system_attributes),
            md5_body: Cow::Owned(m.md5_body_hex()),
            sent_at: m.sent_at,
            sender_id: Cow::Borrowed(&m.sender_id),
            group_id: borrow(&extra.group_id),
            dedup_id: borrow(&extra.dedup_id),
            sequence_number: borrow(&extra.sequence_number),
            dlq_source_arn: borrow(&extra.dlq_source_arn),
            delivery: m.delivery(),
        }
    }
}

impl StoredMessage<'_> {
    /// The message in memory; `senders` shares one allocation per sender id.
    fn into_message(self, senders: &mut HashMap<String, Arc<str>>) -> Option<Message> {
        let id = MessageId::parse(&self.id)?;
        let md5 = self.md5_body.as_bytes();
        let mut md5_body = [0u8; 16];
        if md5.len() != 32 {
            return None;
        }
        for (i, pair) in md5.chunks(2).enumerate() {
            let text = std::str::from_utf8(pair).ok()?;
            md5_body[i] = u8::from_str_radix(text, 16).ok()?;
        }
        let sender_id = senders
            .entry(self.sender_id.clone().into_owned())
            .or_insert_with(|| Arc::from(&*self.sender_id))
            .clone();
        let mut message = Message {
            seq: self.seq,
            id,
            body: self.body.into_owned().into_boxed_str(),
            md5_body,
            sender_id,
            sent_at: self.sent_at,
            visible_at: 0,
            first_receive: 0,
            received_at: 0,
            receive_count: 0,
            extra: None,
        };
        message.set_delivery(&self.delivery);
        let own = |v: Option<Cow<'_, str>>| v.map(Cow::into_owned);
        let extra = Extra {
            attributes: self.attributes.into_owned(),
            system_attributes: self.system_attributes.into_owned(),
            group_id: own(self.group_id),
            dedup_id: own(self.dedup_id),
            sequence_number: own(self.sequence_number),
            dlq_source_arn: own(self.dlq_source_arn),
        };
        message.update_extra(|e| *e = extra);
        Some(message)
    }
}

/// An `Op` storing the receive state of `message`.
pub fn put_delivery(queue_key: &str, message: &Message) -> Op {
    Op::PutDelivery(
        message_key(queue_key, message.seq),
        serde_json::to_vec(&message.delivery()).unwrap_or_default(),
    )
}

type Ack = oneshot::Sender<Result<(), StorageFailure>>;

/// The handle requests use to commit changes.
#[derive(Debug, Clone)]
pub struct Persister {
    tx: mpsc::Sender<(Vec<Op>, Option<Ack>)>,
}

impl Persister {
    /// Starts the writer thread for `store`.
    pub fn start(store: Store) -> Result<Persister, std::io::Error> {
        let (tx, rx) = mpsc::channel::<(Vec<Op>, Option<Ack>)>();
        std::thread::Builder::new()
            .name("sqs-commit".to_owned())
            .spawn(move || writer(store, rx))?;
        Ok(Persister { tx })
    }

    /// Queues `ops` for the next commit without waiting for it (call under the queue lock to keep the
    /// order of changes); the returned receiver completes after the commit.
    pub fn submit(&self, ops: Vec<Op>) -> oneshot::Receiver<Result<(), StorageFailure>> {
        let (ack, done) = oneshot::channel();
        if ops.is_empty() {
            let _ = ack.send(Ok(()));
            return done;
        }
        if let Err(mpsc::SendError((_, Some(ack)))) = self.tx.send((ops, Some(ack))) {
            let _ = ack.send(Err(commit_thread_stopped()));
        }
        done
    }
}

/// Waits for a submitted commit.
pub async fn wait(
    done: oneshot::Receiver<Result<(), StorageFailure>>,
) -> Result<(), StorageFailure> {
    done.await.map_err(|_| commit_thread_stopped())?
}

fn commit_thread_stopped() -> StorageFailure {
    StorageFailure {
        disk_full: false,
        detail: "the SQS commit thread stopped".to_owned(),
    }
}

fn writer(store: Store, rx: mpsc::Receiver<(Vec<Op>, Option<Ack>)>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let mut ops = batch[0].0.len();
        while ops < 20_000 {
            match rx.try_recv() {
                Ok(item) => {
                    ops += item.0.len();
                    batch.push(item);
                }
                Err(_) => break,
            }
        }
        let mut acks = Vec::with_capacity(batch.len());
        let mut all = Vec::with_capacity(ops);
        for (item_ops, ack) in batch {
            all.extend(item_ops);
            acks.extend(ack);
        }
        let apply = |w: &mut skyport_core::store::Writer<'_>| {
            for op in &all {
                match op {
                    Op::PutQueue(k, v) => w.put(QUEUES, k, v)?,
                    Op::DeleteQueue(k) => {
                        w.delete(QUEUES, k)?;
                    }
                    Op::PutMessage(k, v) => w.put(MESSAGES, k, v)?,
                    Op::PutDelivery(k, v) => w.put(DELIVERIES, k, v)?,
                    Op::DeleteMessage(k) => {
                        w.delete(MESSAGES, k)?;
                        w.delete(DELIVERIES, k)?;
                    }
                    Op::PutTask(k, v) => w.put(TASKS, k, v)?,
                    Op::DeleteTask(k) => {
                        w.delete(TASKS, k)?;
                    }
                    Op::Clear => w.clear()?,
                }
            }
            Ok(())
        };
        // Deletes only: they must work on a full disk, so the store may use its space reserve.
        let frees = all.iter().all(|op| {
            matches!(
                op,
                Op::DeleteQueue(_) | Op::DeleteMessage(_) | Op::DeleteTask(_) | Op::Clear
            )
        });
        let result = if frees {
            store.write_freeing(apply)
        } else {
            store.write(apply)
        }
        .map_err(|e| StorageFailure::from(&e));
        if let Err(e) = &result {
            tracing::error!("SQS commit failed: {}", e.detail);
        }
        for ack in acks {
            let _ = ack.send(result.clone());
        }
    }
}

/// Everything in the store: queue settings and, per queue key, its messages.
pub struct Loaded {
    /// `(key, JSON)` of every queue.
    pub queues: Vec<(String, Vec<u8>)>,
    /// Messages by queue key.
    pub messages: HashMap<String, Vec<Message>>,
    /// `(key, JSON)` of every message move task, oldest first.
    pub tasks: Vec<(String, Vec<u8>)>,
}

/// Reads the whole store (at start).
pub fn load(store: &Store) -> Result<Loaded, StoreError> {
    store.read(|r| {
        let queues = r.scan_prefix(QUEUES, "", None, usize::MAX)?;
        let tasks = r.scan_prefix(TASKS, "", None, usize::MAX)?;
        let deliveries: HashMap<String, Delivery> = r
            .scan_prefix(DELIVERIES, "", None, usize::MAX)?
            .into_iter()
            .filter_map(|(k, v)| Some((k, serde_json::from_slice(&v).ok()?)))
            .collect();
        let mut messages: HashMap<String, Vec<Message>> = HashMap::new();
        let mut senders = HashMap::new();
        let mut unreadable = 0usize;
        r.visit(MESSAGES, |key, value| {
            let Some(mut message) = serde_json::from_slice::<StoredMessage>(value)
                .ok()
                .and_then(|m| m.into_message(&mut senders))
            else {
                unreadable += 1;
                tracing::warn!(key, "skipping an unreadable stored SQS message");
                return Ok(());
            };
            if let Some(d) = deliveries.get(key) {
                message.set_delivery(d);
            }
            let Some((queue_key, _)) = key.rsplit_once('/') else {
                return Ok(());
            };
            if let Some(list) = messages.get_mut(queue_key) {
                list.push(message);
            } else {
                messages.insert(queue_key.to_owned(), vec![message]);
            }
            Ok(())
        })?;
        if unreadable > 0 {
            tracing::warn!(unreadable, "some stored SQS messages could not be read");
        }
        Ok(Loaded {
            queues,
            messages,
            tasks,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_stored_by_the_first_format_load() {
        // As the first version stored a message (every field, nulls and empty maps included).
        let old = r#"{"seq":7,"id":"c6104cbe-af31-41e0-8154-cbc7ccf896c7","body":"hello",
            "attributes":{"a":{"data_type":"String","string_value":"x"}},"system_attributes":{},
            "md5_body":"5d41402abc4b2a76b9719d911017c592","md5_attributes":"0123456789abcdef0123456789abcdef",
            "md5_system":null,"sent_at":1000,"sender_id":"000000000000","group_id":"g","dedup_id":"d",
            "sequence_number":"18000000000000000007","dlq_source_arn":null,"receive_count":2,
            "first_receive":1500,"visible_at":9000,"received_at":1600}"#;
        let stored: StoredMessage = serde_json::from_str(old).unwrap();
        let m = stored.into_message(&mut HashMap::new()).unwrap();
        assert_eq!(m.seq, 7);
        assert_eq!(m.id.to_string(), "c6104cbe-af31-41e0-8154-cbc7ccf896c7");
        assert_eq!(&*m.body, "hello");
        assert_eq!(m.md5_body_hex(), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!((m.receive_count, m.first_receive), (2, 1500));
        assert_eq!((m.visible_at, m.received_at), (9000, 1600));
        assert_eq!(m.group_id(), Some("g"));
        assert_eq!(m.extra().dedup_id.as_deref(), Some("d"));
        assert_eq!(m.extra().attributes["a"].string_value.as_deref(), Some("x"));

        // And the current format round-trips, leaving out what a plain message lacks.
        let mut plain = m.clone();
        plain.extra = None;
        let bytes = serde_json::to_vec(&StoredMessage::from(&plain)).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            !text.contains("attributes") && !text.contains("group_id"),
            "{text}"
        );
        let back = serde_json::from_slice::<StoredMessage>(&bytes)
            .unwrap()
            .into_message(&mut HashMap::new())
            .unwrap();
        assert_eq!((back.id, back.md5_body, back.seq), (m.id, m.md5_body, 7));
        assert!(back.extra.is_none());
    }
}

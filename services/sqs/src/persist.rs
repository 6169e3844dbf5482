//! Durability with `PERSISTENCE=1`: a group-commit writer in front of the redb store. Requests hand their
//! changes to one writer thread and wait; the thread applies everything queued since its last commit in one
//! write transaction and acknowledges all of it after the (fsynced) commit. Concurrent sends therefore
//! share one fsync, and a send is acknowledged only once it is on disk.
//!
//! Tables: `queues` (`<account>/<region>/<name>` → queue JSON), `messages` (`<queue key>/<seq:020>` →
//! message JSON) and `deliveries` (same key → the small receive state, rewritten on every receive).

use std::collections::HashMap;
use std::sync::mpsc;

use skyport_core::error::StorageFailure;
use skyport_core::store::{Store, StoreError};
use tokio::sync::oneshot;

use crate::model::{Delivery, Message};

const QUEUES: &str = "queues";
const MESSAGES: &str = "messages";
const DELIVERIES: &str = "deliveries";

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
}

/// The key of message `seq` in queue `queue_key`.
pub fn message_key(queue_key: &str, seq: u64) -> String {
    format!("{queue_key}/{seq:020}")
}

/// An `Op` storing `message`.
pub fn put_message(queue_key: &str, message: &Message) -> Op {
    Op::PutMessage(
        message_key(queue_key, message.seq),
        serde_json::to_vec(message).unwrap_or_default(),
    )
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
        let result = store
            .write(move |w| {
                for op in all {
                    match op {
                        Op::PutQueue(k, v) => w.put(QUEUES, &k, &v)?,
                        Op::DeleteQueue(k) => {
                            w.delete(QUEUES, &k)?;
                        }
                        Op::PutMessage(k, v) => w.put(MESSAGES, &k, &v)?,
                        Op::PutDelivery(k, v) => w.put(DELIVERIES, &k, &v)?,
                        Op::DeleteMessage(k) => {
                            w.delete(MESSAGES, &k)?;
                            w.delete(DELIVERIES, &k)?;
                        }
                    }
                }
                Ok(())
            })
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
}

/// Reads the whole store (at start).
pub fn load(store: &Store) -> Result<Loaded, StoreError> {
    store.read(|r| {
        let queues = r.scan_prefix(QUEUES, "", None, usize::MAX)?;
        let deliveries: HashMap<String, Delivery> = r
            .scan_prefix(DELIVERIES, "", None, usize::MAX)?
            .into_iter()
            .filter_map(|(k, v)| Some((k, serde_json::from_slice(&v).ok()?)))
            .collect();
        let mut messages: HashMap<String, Vec<Message>> = HashMap::new();
        for (key, value) in r.scan_prefix(MESSAGES, "", None, usize::MAX)? {
            let Ok(mut message) = serde_json::from_slice::<Message>(&value) else {
                tracing::warn!(key, "skipping an unreadable stored SQS message");
                continue;
            };
            if let Some(d) = deliveries.get(&key) {
                message.receive_count = d.receive_count;
                message.first_receive = d.first_receive;
                message.visible_at = d.visible_at;
                message.received_at = d.received_at;
            }
            let Some((queue_key, _)) = key.rsplit_once('/') else {
                continue;
            };
            messages
                .entry(queue_key.to_owned())
                .or_default()
                .push(message);
        }
        Ok(Loaded { queues, messages })
    })
}

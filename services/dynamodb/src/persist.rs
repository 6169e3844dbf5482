//! Durability with `PERSISTENCE=1`: a group-commit writer in front of the redb store, as SQS does it.
//! A write applies its change in memory and hands the matching store operations to one writer thread
//! (in the order the changes were made, under the table's lock); the thread commits everything queued
//! since its last commit in one write transaction and acknowledges it after the fsync. Concurrent
//! writes share one fsync, a write is answered only once it is on disk, and the operations of one
//! request (a transaction, a batch) always land in one commit, so they survive a crash together or not
//! at all.
//!
//! Tables: `tables` (`<account>/<region>/<name>` → [`crate::schema::TableMeta`] JSON), `items`
//! (`<table uid, 16 hex>/<key JSON>` → the item as DynamoDB JSON), and the streams' `streams` and
//! `stream_records` ([`crate::streams::stored`]). A stream record is queued with the item change that
//! made it, so both land in one commit.

use std::sync::mpsc;

use skyport_core::error::StorageFailure;
use skyport_core::store::{Store, StoreError};
use tokio::sync::oneshot;

use crate::streams::stored::{STREAM_RECORDS, STREAMS};

/// The store table of table definitions.
pub const TABLES: &str = "tables";
/// The store table of items.
pub const ITEMS: &str = "items";

/// One change to the store.
#[derive(Debug)]
pub enum Op {
    /// Store a table definition.
    PutTable(String, Vec<u8>),
    /// Remove a table definition.
    DeleteTable(String),
    /// Store an item.
    PutItem(String, Vec<u8>),
    /// Remove an item.
    DeleteItem(String),
    /// Store a stream's description.
    PutStream(String, Vec<u8>),
    /// Remove a stream's description.
    DeleteStream(String),
    /// Store a stream record.
    PutRecord(String, Vec<u8>),
    /// Remove a stream record.
    DeleteRecord(String),
    /// Remove every table and item (a state reset or import), in order with the other changes.
    Clear,
}

type Ack = oneshot::Sender<Result<(), StorageFailure>>;

/// The handle writes commit through.
#[derive(Debug, Clone)]
pub struct Persister {
    tx: mpsc::Sender<(Vec<Op>, Ack)>,
}

/// A submitted commit to wait for.
pub type Pending = oneshot::Receiver<Result<(), StorageFailure>>;

impl Persister {
    /// Starts the writer thread for `store`.
    pub fn start(store: Store) -> Result<Persister, std::io::Error> {
        let (tx, rx) = mpsc::channel::<(Vec<Op>, Ack)>();
        std::thread::Builder::new()
            .name("dynamodb-commit".to_owned())
            .spawn(move || writer(store, rx))?;
        Ok(Persister { tx })
    }

    /// Queues `ops` for the next commit (call under the table lock to keep the order of changes).
    pub fn submit(&self, ops: Vec<Op>) -> Pending {
        let (ack, done) = oneshot::channel();
        if ops.is_empty() {
            let _ = ack.send(Ok(()));
            return done;
        }
        if let Err(mpsc::SendError((_, ack))) = self.tx.send((ops, ack)) {
            let _ = ack.send(Err(stopped()));
        }
        done
    }
}

/// Waits for a submitted commit.
pub async fn wait(done: Pending) -> Result<(), StorageFailure> {
    done.await.map_err(|_| stopped())?
}

fn stopped() -> StorageFailure {
    StorageFailure {
        disk_full: false,
        detail: "the DynamoDB commit thread stopped".to_owned(),
    }
}

fn writer(store: Store, rx: mpsc::Receiver<(Vec<Op>, Ack)>) {
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
            acks.push(ack);
        }
        let apply = |w: &mut skyport_core::store::Writer<'_>| {
            for op in &all {
                match op {
                    Op::PutTable(k, v) => w.put(TABLES, k, v)?,
                    Op::DeleteTable(k) => {
                        w.delete(TABLES, k)?;
                    }
                    Op::PutItem(k, v) => w.put(ITEMS, k, v)?,
                    Op::DeleteItem(k) => {
                        w.delete(ITEMS, k)?;
                    }
                    Op::PutStream(k, v) => w.put(STREAMS, k, v)?,
                    Op::DeleteStream(k) => {
                        w.delete(STREAMS, k)?;
                    }
                    Op::PutRecord(k, v) => w.put(STREAM_RECORDS, k, v)?,
                    Op::DeleteRecord(k) => {
                        w.delete(STREAM_RECORDS, k)?;
                    }
                    Op::Clear => w.clear()?,
                }
            }
            Ok(())
        };
        let frees = all.iter().all(|op| {
            matches!(
                op,
                Op::DeleteTable(_)
                    | Op::DeleteItem(_)
                    | Op::DeleteStream(_)
                    | Op::DeleteRecord(_)
                    | Op::Clear
            )
        });
        let result = if frees {
            store.write_freeing(apply)
        } else {
            store.write(apply)
        }
        .map_err(|e: StoreError| StorageFailure::from(&e));
        if let Err(e) = &result {
            tracing::error!("DynamoDB commit failed: {}", e.detail);
        }
        for ack in acks {
            let _ = ack.send(result.clone());
        }
    }
}

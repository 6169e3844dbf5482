//! State control: reset, export and import of every table (`skyport_core::state`).
//!
//! The tables live in memory (and, with persistence, in the store through the commit thread). A reset or
//! an import runs with no DynamoDB request in flight (the gateway's gate): the registry's tables are
//! replaced (the old ones marked deleted, so a TTL sweep still holding one changes nothing), and with
//! persistence the store is cleared through the commit thread, in order with every commit queued before.
//! A snapshot holds the store's tables (`tables`, `items`, and the streams' `streams` and
//! `stream_records`) as persistence writes them, so an import is the same load a restart does. A
//! table's stream is copied under the table's read lock with its items (no write can come between);
//! closed streams (disabled, or of deleted tables) follow. A snapshot without stream entries (made
//! before they were exported) imports with each enabled stream started anew, empty.

use skyport_core::state::{SnapshotWriter, Staged, StateControl, StateError};
use skyport_core::store::Store;

use crate::api::DynamoDb;
use crate::attr;
use crate::persist::{self, ITEMS, Op, TABLES};
use crate::state::{read, table_key};
use crate::streams::log::StreamRecord;
use crate::streams::stored::{self, LogMeta, STREAM_RECORDS, STREAMS};

/// Writes a stream's description and records as entries.
async fn export_log(
    out: &mut SnapshotWriter<'_>,
    meta: &LogMeta,
    records: &[StreamRecord],
) -> Result<(), StateError> {
    let id = stored::log_id(meta.uid, &meta.label);
    let value = serde_json::to_vec(meta).map_err(std::io::Error::other)?;
    out.entry(STREAMS, &id, &value).await?;
    for r in records {
        out.entry(
            STREAM_RECORDS,
            &stored::record_key(&id, r.seq),
            &stored::encode_record(r),
        )
        .await?;
    }
    Ok(())
}

impl DynamoDb {
    /// Replaces the tables by those of `from`, and the store's content by `ops` (after clearing it).
    async fn replace(&self, from: &Store, mut ops: Vec<Op>) -> Result<(), StateError> {
        let fixes = self.registry().replace(from)?;
        ops.extend(fixes);
        self.inner
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        ops.insert(0, Op::Clear);
        if let Some(pending) = self.registry().commit(ops) {
            persist::wait(pending)
                .await
                .map_err(|e| StateError::Service(e.detail))?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl StateControl for DynamoDb {
    async fn reset(&self) -> Result<(), StateError> {
        self.replace(&Store::in_memory()?, Vec::new()).await
    }

    async fn export(&self, out: &mut SnapshotWriter<'_>) -> Result<(), StateError> {
        let mut exported = std::collections::HashSet::new();
        for ((account, region, _), table) in self.registry().entries() {
            // One table at a time, copied under its read lock: a consistent view of each table
            // and its stream.
            let (key, meta, items, log) = {
                let t = read(&table);
                if t.deleted {
                    continue;
                }
                let log = t.stream.as_ref().map(|s| s.snapshot());
                let items: Vec<(String, Vec<u8>)> = t
                    .items
                    .iter()
                    .filter_map(|row| {
                        let pkey = t.pkey_of(row.0.key())?;
                        let json = serde_json::to_vec(&attr::item_to_json(&row.0.item()))
                            .unwrap_or_default();
                        Some((t.store_key(&pkey), json))
                    })
                    .collect();
                let meta = serde_json::to_vec(&t.meta).map_err(std::io::Error::other)?;
                (table_key(&account, &region, &t.meta.name), meta, items, log)
            };
            out.entry(TABLES, &key, &meta).await?;
            for (key, value) in items {
                out.entry(ITEMS, &key, &value).await?;
            }
            if let Some((meta, records)) = log {
                exported.insert(meta.arn.clone());
                export_log(out, &meta, &records).await?;
            }
        }
        // Closed streams: disabled ones, and those of deleted tables (readable for 24 hours).
        for log in self.registry().all_streams() {
            if exported.contains(&log.arn) {
                continue;
            }
            let (meta, records) = log.snapshot();
            export_log(out, &meta, &records).await?;
        }
        Ok(())
    }

    async fn import(&self, staged: Staged) -> Result<(), StateError> {
        let from = Store::in_memory()?;
        staged.replace_store(&from)?;
        let ops = if self.registry().durable() {
            staged
                .entries
                .into_iter()
                .filter_map(|(table, key, value)| match table.as_str() {
                    TABLES => Some(Op::PutTable(key, value)),
                    ITEMS => Some(Op::PutItem(key, value)),
                    STREAMS => Some(Op::PutStream(key, value)),
                    STREAM_RECORDS => Some(Op::PutRecord(key, value)),
                    _ => None,
                })
                .collect()
        } else {
            Vec::new()
        };
        self.replace(&from, ops).await
    }
}

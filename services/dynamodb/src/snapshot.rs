//! State control: reset, export and import of every table (`skyport_core::state`).
//!
//! The tables live in memory (and, with persistence, in the store through the commit thread). A reset or
//! an import runs with no DynamoDB request in flight (the gateway's gate): the registry's tables are
//! replaced (the old ones marked deleted, so a TTL sweep still holding one changes nothing), and with
//! persistence the store is cleared through the commit thread, in order with every commit queued before.
//! A snapshot holds the store's two tables (`tables`, `items`) as persistence writes them, so an import
//! is the same load a restart does.

use skyport_core::state::{SnapshotWriter, Staged, StateControl, StateError};
use skyport_core::store::Store;

use crate::api::DynamoDb;
use crate::attr;
use crate::persist::{self, ITEMS, Op, TABLES};
use crate::state::{read, table_key};

impl DynamoDb {
    /// Replaces the tables by those of `from`, and the store's content by `ops` (after clearing it).
    async fn replace(&self, from: &Store, mut ops: Vec<Op>) -> Result<(), StateError> {
        self.registry().replace(from)?;
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
        for ((account, region, _), table) in self.registry().entries() {
            // One table at a time, copied under its read lock: a consistent view of each table.
            let (key, meta, items) = {
                let t = read(&table);
                if t.deleted {
                    continue;
                }
                let items: Vec<(String, Vec<u8>)> = t
                    .items
                    .iter()
                    .map(|(pkey, item)| {
                        let json =
                            serde_json::to_vec(&attr::item_to_json(item)).unwrap_or_default();
                        (t.store_key(pkey), json)
                    })
                    .collect();
                let meta = serde_json::to_vec(&t.meta).map_err(std::io::Error::other)?;
                (table_key(&account, &region, &t.meta.name), meta, items)
            };
            out.entry(TABLES, &key, &meta).await?;
            for (key, value) in items {
                out.entry(ITEMS, &key, &value).await?;
            }
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
                    _ => None,
                })
                .collect()
        } else {
            Vec::new()
        };
        self.replace(&from, ops).await
    }
}

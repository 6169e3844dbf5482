//! The tables in memory: per table an ordered map of items by primary key (partition key, then sort
//! key, in DynamoDB's key order) and one ordered set per secondary index, kept in step on every write;
//! the registry of tables per account and region; and loading them back from the store at start.
//!
//! A table is one `RwLock`: reads (GetItem, Query, Scan) share it, a write holds it only while it
//! changes memory and queues its store operations ([`crate::persist`]), never while it waits for the
//! disk.
//!
//! Stream logs are loaded with the tables: each stored log ([`crate::streams::stored`]) with its
//! records, the open one given back to its table, closed ones kept readable until 24 hours after they
//! closed. Images of records read back share memory with each other and with the table's items where
//! they are equal (as the images of records made while running do).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use skyport_core::store::{Store, StoreError};

use crate::attr::{self, Item, KeyVal, PKey, SortPart, item_size};
use crate::error::{DdbError, table_not_found};
use crate::packed::{self, Packed, Row};
use crate::persist::{ITEMS, Op, Pending, Persister, TABLES};
use crate::schema::{IndexMeta, TableMeta};
use crate::streams::log::{Origin, StreamLog, StreamRecord, ViewType};
use crate::streams::stored::{self, LogMeta, STREAM_RECORDS, STREAMS};

/// An index entry: the index key, then the table key (ties in AWS's order are unspecified; this
/// orders them by table key). Kept as its bytes ([`packed::idx_bytes`]), in the same order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IdxKey {
    /// The index partition key.
    pub hash: KeyVal,
    /// The index sort key.
    pub range: SortPart,
    /// The table key of the item.
    pub table: PKey,
}

impl IdxKey {
    /// The entry's bytes, in entry order.
    pub fn bytes(&self) -> Vec<u8> {
        packed::idx_bytes(&self.hash, &self.range, &self.table)
    }
}

/// One secondary index's entries.
#[derive(Debug, Default)]
pub struct IndexData {
    /// The entries' bytes ([`IdxKey::bytes`]), in index order.
    pub entries: BTreeSet<Box<[u8]>>,
    /// Bytes of the projected items.
    pub bytes: i64,
}

/// A table: its definition and its items.
#[derive(Debug)]
pub struct Table {
    /// The definition.
    pub meta: TableMeta,
    /// Items, packed, in primary key order (found by [`packed::pkey_bytes`]).
    pub items: BTreeSet<Row>,
    /// Index entries, parallel to `meta.indexes`.
    pub indexes: Vec<IndexData>,
    /// Bytes of all items.
    pub bytes: i64,
    /// Items taking part in a transaction being committed (count of transactions holding each).
    pub in_flight: HashMap<PKey, u32>,
    /// Set once the table is deleted (a request holding it must not write to it any more).
    pub deleted: bool,
    /// The enabled stream, which records every change.
    pub stream: Option<Arc<StreamLog>>,
    /// Working room for packing items ([`Packed::keyed`]).
    scratch: Vec<u8>,
}

/// A table shared by requests.
pub type TableRef = Arc<RwLock<Table>>;

/// Read access to a table (a poisoned lock still gives the data: every write leaves it consistent
/// before anything can panic).
pub fn read(t: &TableRef) -> RwLockReadGuard<'_, Table> {
    t.read().unwrap_or_else(|e| e.into_inner())
}

/// Write access to a table.
pub fn write(t: &TableRef) -> RwLockWriteGuard<'_, Table> {
    t.write().unwrap_or_else(|e| e.into_inner())
}

fn index_entry(index: &IndexMeta, table_key: &[u8], item: &Item) -> Option<Box<[u8]>> {
    let hash = KeyVal::of(item.get(&index.hash.name)?)?;
    let range = match &index.range {
        Some(r) => SortPart::Val(KeyVal::of(item.get(&r.name)?)?),
        None => SortPart::None,
    };
    let mut out = packed::idx_prefix(&hash, &range);
    out.extend_from_slice(table_key);
    Some(out.into_boxed_slice())
}

impl Table {
    /// An empty table.
    pub fn new(meta: TableMeta) -> Table {
        let indexes = meta.indexes.iter().map(|_| IndexData::default()).collect();
        let stream = new_stream(&meta);
        Table {
            meta,
            items: BTreeSet::new(),
            indexes,
            bytes: 0,
            in_flight: HashMap::new(),
            deleted: false,
            stream,
            scratch: Vec::new(),
        }
    }

    /// The item at `pkey`, decoded.
    pub fn get(&self, pkey: &PKey) -> Option<Arc<Item>> {
        self.get_packed(&packed::pkey_bytes(pkey))
            .map(|p| Arc::new(p.item()))
    }

    /// The packed item at the key bytes `key`.
    pub fn get_packed(&self, key: &[u8]) -> Option<&Packed> {
        self.items.get(key).map(|r| &r.0)
    }

    /// The primary key of key bytes of this table; `None` (logged) for bytes it never wrote.
    pub fn pkey_of(&self, key: &[u8]) -> Option<PKey> {
        packed::pkey_of(key, self.meta.range.is_some())
            .inspect_err(|e| tracing::error!("a packed DynamoDB key is malformed: {e}"))
            .ok()
    }

    /// Writes `new` at `pkey` (deletes the item when `None`) and records the change in the stream;
    /// returns the item it replaced. With `ops` (persistence), pushes the store operations of the
    /// change: the item's, then the stream record's, to be committed together.
    pub fn apply(
        &mut self,
        pkey: PKey,
        new: Option<Item>,
        origin: Origin,
        ops: Option<&mut Vec<Op>>,
    ) -> Option<Packed> {
        let keys = self.stream.as_ref().map(|_| self.meta.key_item(&pkey));
        let op = ops.as_ref().map(|_| self.item_op(&pkey, new.as_ref()));
        let (old, new) = match new {
            Some(item) => {
                let row =
                    Packed::keyed(&mut self.scratch, &pkey, self.meta.key_attr_names(), &item);
                (self.put(row.clone(), &item), Some(row))
            }
            None => (self.remove(&packed::pkey_bytes(&pkey)), None),
        };
        let record = match (&self.stream, keys) {
            (Some(stream), Some(keys)) => stream.append(keys, old.as_ref(), new.as_ref(), origin),
            _ => None,
        };
        if let (Some(ops), Some(op)) = (ops, op) {
            // The record's new image reuses the item's encoding.
            let record_op = match (&self.stream, record) {
                (Some(stream), Some(record)) => {
                    let item_json = match &op {
                        Op::PutItem(_, json) => Some(json.as_slice()),
                        _ => None,
                    };
                    Some(stored::record_op(&stream.store_id(), &record, item_json))
                }
                _ => None,
            };
            ops.push(op);
            ops.extend(record_op);
        }
        old
    }

    /// Starts a new stream as `meta.stream` now says (closing the one before, if any); returns it
    /// (to register with [`Registry::add_stream`] and store with [`StreamLog::meta_op`]).
    pub fn restart_stream(&mut self) -> Option<Arc<StreamLog>> {
        if let Some(old) = self.stream.take() {
            old.close();
        }
        self.stream = new_stream(&self.meta);
        self.stream.clone()
    }

    fn projected_size(&self, n: usize, item: &Item) -> i64 {
        let index = &self.meta.indexes[n];
        match index.projected(&self.meta) {
            None => item_size(item) as i64,
            Some(names) => item
                .iter()
                .filter(|(k, _)| names.contains(*k))
                .map(|(k, v)| (k.len() + v.size()) as i64)
                .sum(),
        }
    }

    fn unindex(&mut self, key: &[u8], item: &Item) {
        for n in 0..self.indexes.len() {
            if let Some(e) = index_entry(&self.meta.indexes[n], key, item) {
                let size = self.projected_size(n, item);
                let data = &mut self.indexes[n];
                if data.entries.remove(&e) {
                    data.bytes -= size;
                }
            }
        }
    }

    fn index(&mut self, key: &[u8], item: &Item) {
        for n in 0..self.indexes.len() {
            if let Some(e) = index_entry(&self.meta.indexes[n], key, item) {
                let size = self.projected_size(n, item);
                let data = &mut self.indexes[n];
                if data.entries.insert(e) {
                    data.bytes += size;
                }
            }
        }
    }

    /// Stores `row`, the packing of `item`, under its key; returns the item it replaced.
    fn put(&mut self, row: Packed, item: &Item) -> Option<Packed> {
        let old = self.items.replace(Row(row.clone())).map(|r| r.0);
        if let Some(old) = &old {
            self.bytes -= old.size() as i64;
            if !self.indexes.is_empty() {
                self.unindex(row.key(), &old.item());
            }
        }
        self.bytes += item_size(item) as i64;
        if !self.indexes.is_empty() {
            self.index(row.key(), item);
        }
        old
    }

    /// Stores `item` under `pkey` (loading); returns the item it replaced.
    pub fn insert(&mut self, pkey: &PKey, item: &Item) -> Option<Packed> {
        let row = Packed::keyed(&mut self.scratch, pkey, self.meta.key_attr_names(), item);
        self.put(row, item)
    }

    /// Removes the item at the key bytes `key`; returns it.
    fn remove(&mut self, key: &[u8]) -> Option<Packed> {
        let old = self.items.take(key)?.0;
        self.bytes -= old.size() as i64;
        if !self.indexes.is_empty() {
            self.unindex(key, &old.item());
        }
        Some(old)
    }

    /// Adds index `meta` and fills it from the items (a new GSI's backfill).
    pub fn add_index(&mut self, meta: IndexMeta) {
        self.meta.indexes.push(meta);
        self.indexes.push(IndexData::default());
        let n = self.indexes.len() - 1;
        let mut data = IndexData::default();
        for Row(row) in &self.items {
            let item = row.item();
            if let Some(e) = index_entry(&self.meta.indexes[n], row.key(), &item) {
                data.bytes += self.projected_size(n, &item);
                data.entries.insert(e);
            }
        }
        self.indexes[n] = data;
    }

    /// Drops index `name`.
    pub fn drop_index(&mut self, name: &str) {
        if let Some(n) = self.meta.indexes.iter().position(|i| i.name == name) {
            self.meta.indexes.remove(n);
            self.indexes.remove(n);
        }
    }

    /// `(item count, bytes)` of each index.
    pub fn index_stats(&self) -> Vec<(i64, i64)> {
        self.indexes
            .iter()
            .map(|d| (d.entries.len() as i64, d.bytes))
            .collect()
    }

    /// The model's description with `status`.
    pub fn describe(&self, status: &str) -> crate::shapes::TableDescription {
        self.meta.describe(
            status,
            self.items.len() as i64,
            self.bytes,
            &self.index_stats(),
        )
    }

    /// The store key of the item at `pkey`.
    pub fn store_key(&self, pkey: &PKey) -> String {
        let key = attr::item_to_json(&self.meta.key_item(pkey));
        format!("{:016x}/{key}", self.meta.uid)
    }

    /// The store keys of every item, in order.
    pub fn store_keys(&self) -> impl Iterator<Item = String> + '_ {
        self.items
            .iter()
            .filter_map(|r| self.pkey_of(r.0.key()))
            .map(|k| self.store_key(&k))
    }

    /// The store operation writing `item` (or deleting the item at `pkey` when `None`).
    pub fn item_op(&self, pkey: &PKey, item: Option<&Item>) -> Op {
        let key = self.store_key(pkey);
        match item {
            Some(item) => Op::PutItem(
                key,
                serde_json::to_vec(&attr::item_to_json(item)).unwrap_or_default(),
            ),
            None => Op::DeleteItem(key),
        }
    }
}

/// The stream `meta` describes, when enabled.
fn new_stream(meta: &TableMeta) -> Option<Arc<StreamLog>> {
    let view = ViewType::parse(meta.stream.as_deref()?)?;
    let label = meta.stream_label.as_deref()?;
    Some(Arc::new(StreamLog::new(
        meta.uid,
        &meta.arn,
        label,
        view,
        meta.key_names(),
    )))
}

/// Makes equal images of `records` (read back from the store, in order) one buffer, as they are
/// while running: a record's old image is the previous record's new image of the same item, and the
/// table's item is the last new image of it when unchanged since. With the table, images are first
/// packed under their item's key, as the table's items are.
fn share_images(records: &mut [StreamRecord], table: Option<&mut Table>) {
    if let Some(t) = &table {
        let names = t.meta.key_attr_names();
        let mut scratch = Vec::new();
        for r in records.iter_mut() {
            let Ok(pkey) = t.meta.item_key(&r.keys.item()) else {
                continue;
            };
            for image in [&mut r.old, &mut r.new].into_iter().flatten() {
                *image = Packed::keyed(&mut scratch, &pkey, names, &image.item());
            }
        }
    }
    let mut latest: HashMap<String, Packed> = HashMap::new();
    for r in records.iter_mut() {
        let key = attr::item_to_json(&r.keys.item()).to_string();
        if let (Some(old), Some(prev)) = (&r.old, latest.get(&key))
            && old == prev
        {
            r.old = Some(prev.clone());
        }
        match &r.new {
            Some(new) => {
                latest.insert(key, new.clone());
            }
            None => {
                latest.remove(&key);
            }
        }
    }
    let Some(table) = table else {
        return;
    };
    for new in latest.into_values() {
        // Equal content: sizes and index entries stay as they are.
        if table.get_packed(new.key()) == Some(&new) {
            table.items.replace(Row(new));
        }
    }
}

/// `<account>/<region>/<name>`: where a table is registered and stored.
pub fn table_key(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}")
}

/// The store operation writing a table definition.
pub fn table_op(account: &str, region: &str, meta: &TableMeta) -> Op {
    Op::PutTable(
        table_key(account, region, &meta.name),
        serde_json::to_vec(meta).unwrap_or_default(),
    )
}

/// Every table, by account, region and name.
#[derive(Debug)]
pub struct Registry {
    tables: RwLock<BTreeMap<(String, String, String), TableRef>>,
    /// Streams by ARN: the enabled ones, and closed ones for 24 hours.
    streams: RwLock<BTreeMap<String, Arc<StreamLog>>>,
    next_uid: AtomicU64,
    persist: Option<Persister>,
}

impl Registry {
    /// The tables of `store` (loaded when it is durable) with `persist` committing changes.
    pub fn open(store: &Store, persist: Option<Persister>) -> Result<Registry, StoreError> {
        let registry = Registry {
            tables: RwLock::new(BTreeMap::new()),
            streams: RwLock::new(BTreeMap::new()),
            next_uid: AtomicU64::new(1),
            persist,
        };
        if store.is_durable() {
            let ops = registry.load(store)?;
            // Descriptions of streams that had none stored (kept by an older Skyport), logs
            // expired while Skyport was down: nothing waits for them.
            drop(registry.commit(ops));
        }
        Ok(registry)
    }

    /// Loads the tables and stream logs of `store`; returns the store operations that bring it in
    /// line (descriptions of streams it lacks, logs that expired), to commit after its content.
    fn load(&self, store: &Store) -> Result<Vec<Op>, StoreError> {
        let mut by_uid: HashMap<u64, Table> = HashMap::new();
        let mut names: HashMap<u64, (String, String, String)> = HashMap::new();
        let mut logs: BTreeMap<String, (LogMeta, Vec<StreamRecord>)> = BTreeMap::new();
        let mut max_uid = 0;
        store.read(|r| {
            r.visit(TABLES, |key, value| {
                let mut parts = key.splitn(3, '/');
                let (Some(account), Some(region), Some(name)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Ok(());
                };
                match serde_json::from_slice::<TableMeta>(value) {
                    Ok(meta) => {
                        max_uid = max_uid.max(meta.uid);
                        names.insert(meta.uid, (account.into(), region.into(), name.into()));
                        let mut table = Table::new(meta);
                        // Its stream comes from the store, or is made anew below.
                        table.stream = None;
                        by_uid.insert(table.meta.uid, table);
                    }
                    Err(e) => tracing::warn!(key, "skipping an unreadable DynamoDB table: {e}"),
                }
                Ok(())
            })?;
            let mut unreadable = 0usize;
            r.visit(ITEMS, |key, value| {
                let uid = key.get(..16).and_then(|h| u64::from_str_radix(h, 16).ok());
                let Some(table) = uid.and_then(|u| by_uid.get_mut(&u)) else {
                    return Ok(());
                };
                let item = serde_json::from_slice::<serde_json::Value>(value)
                    .ok()
                    .and_then(|j| attr::item_from_json(&j));
                match item.and_then(|i| Some((table.meta.item_key(&i).ok()?, i))) {
                    Some((pkey, item)) => {
                        table.insert(&pkey, &item);
                    }
                    None => unreadable += 1,
                }
                Ok(())
            })?;
            if unreadable > 0 {
                tracing::warn!(unreadable, "some stored DynamoDB items could not be read");
            }
            r.visit(STREAMS, |key, value| {
                match stored::decode_meta(value) {
                    Ok(meta) => {
                        max_uid = max_uid.max(meta.uid);
                        logs.insert(key.to_owned(), (meta, Vec::new()));
                    }
                    Err(e) => tracing::warn!(key, "skipping an unreadable DynamoDB stream: {e}"),
                }
                Ok(())
            })?;
            let mut unreadable = 0usize;
            r.visit(STREAM_RECORDS, |key, value| {
                let decoded = stored::parse_record_key(key)
                    .and_then(|(id, seq)| Ok((id, stored::decode_record(seq, value)?)));
                match decoded {
                    Ok((id, record)) => {
                        if let Some((_, records)) = logs.get_mut(id) {
                            records.push(record);
                        }
                    }
                    Err(e) => {
                        unreadable += 1;
                        tracing::debug!(key, "unreadable DynamoDB stream record: {e}");
                    }
                }
                Ok(())
            })?;
            if unreadable > 0 {
                tracing::warn!(
                    unreadable,
                    "some stored DynamoDB stream records could not be read"
                );
            }
            Ok(())
        })?;
        let mut ops = Vec::new();
        let now = crate::streams::log::now_ms();
        let mut restored = Vec::new();
        for (id, (meta, mut records)) in logs {
            let mut table = by_uid.get_mut(&meta.uid);
            // The table's current stream: open, and the one its definition names.
            let current = meta.closed.is_none()
                && table.as_ref().is_some_and(|t| {
                    t.meta.stream.is_some() && t.meta.stream_label.as_deref() == Some(&meta.label)
                });
            share_images(&mut records, table.as_deref_mut().filter(|_| current));
            let log = Arc::new(StreamLog::restore(meta, records));
            if log.expired(now) {
                ops.extend(log.records_delete_ops());
                ops.push(Op::DeleteStream(id));
                continue;
            }
            if current {
                if let Some(t) = table {
                    t.stream = Some(log.clone());
                }
            } else if !log.is_closed() {
                // An open log no table names any more (its closing was lost): closed now.
                log.close();
                ops.push(log.meta_op());
            }
            restored.push(log);
        }
        let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
        for (uid, mut table) in by_uid {
            if let Some(name) = names.remove(&uid) {
                if table.stream.is_none() {
                    // A stream with no stored log (an older Skyport's store or snapshot): a new one.
                    table.stream = new_stream(&table.meta);
                    if let Some(log) = &table.stream {
                        ops.push(log.meta_op());
                    }
                }
                if let Some(stream) = &table.stream
                    && !restored.iter().any(|l| Arc::ptr_eq(l, stream))
                {
                    restored.push(stream.clone());
                }
                tables.insert(name, Arc::new(RwLock::new(table)));
            }
        }
        drop(tables);
        for log in restored {
            self.add_stream(log);
        }
        // Never below a uid given before (a detached table's late commits must not hit a new one).
        self.next_uid.fetch_max(max_uid + 1, Ordering::Relaxed);
        Ok(ops)
    }

    /// Replaces every table by those of `from` (empty for a reset): the tables held so far are marked
    /// deleted, so a request or sweep still holding one writes nothing more, and their streams are
    /// detached from the commit thread. Returns the store operations [`Registry::load`] asks for.
    pub fn replace(&self, from: &Store) -> Result<Vec<Op>, StoreError> {
        let old: Vec<TableRef> = {
            let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut *tables).into_values().collect()
        };
        for table in old {
            write(&table).deleted = true;
        }
        // The old tables' streams go with them; `load` registers those of the tables it brings.
        let streams = std::mem::take(&mut *self.streams.write().unwrap_or_else(|e| e.into_inner()));
        for log in streams.values() {
            log.detach();
        }
        self.load(from)
    }

    /// Every table with its account, region and name, in order.
    pub fn entries(&self) -> Vec<((String, String, String), TableRef)> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        tables.iter().map(|(k, t)| (k.clone(), t.clone())).collect()
    }

    /// A fresh table uid.
    pub fn next_uid(&self) -> u64 {
        self.next_uid.fetch_add(1, Ordering::Relaxed)
    }

    /// The table `name` of an account and region.
    pub fn get(&self, account: &str, region: &str, name: &str) -> Option<TableRef> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        tables
            .get(&(account.to_owned(), region.to_owned(), name.to_owned()))
            .cloned()
    }

    /// The table `name`, or `ResourceNotFoundException` as item operations report it.
    pub fn existing(&self, account: &str, region: &str, name: &str) -> Result<TableRef, DdbError> {
        self.get(account, region, name).ok_or_else(table_not_found)
    }

    /// Registers a new table, calling `created` with it before any other request can see it (to
    /// queue its commit first); `None` when the name is taken.
    pub fn insert<T>(
        &self,
        account: &str,
        region: &str,
        table: Table,
        created: impl FnOnce(&Table) -> T,
    ) -> Option<T> {
        let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
        let key = (
            account.to_owned(),
            region.to_owned(),
            table.meta.name.clone(),
        );
        if tables.contains_key(&key) {
            return None;
        }
        let out = created(&table);
        if let Some(stream) = &table.stream {
            self.add_stream(stream.clone());
        }
        tables.insert(key, Arc::new(RwLock::new(table)));
        Some(out)
    }

    /// Unregisters a table.
    pub fn remove(&self, account: &str, region: &str, name: &str) -> Option<TableRef> {
        let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
        tables.remove(&(account.to_owned(), region.to_owned(), name.to_owned()))
    }

    /// The names of an account's tables in a region, in order, after `start` if given.
    pub fn names(&self, account: &str, region: &str, start: Option<&str>) -> Vec<String> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        tables
            .keys()
            .filter(|(a, r, n)| a == account && r == region && start.is_none_or(|s| n.as_str() > s))
            .map(|(_, _, n)| n.clone())
            .collect()
    }

    /// Every table (for the TTL sweeper).
    pub fn all(&self) -> Vec<TableRef> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        tables.values().cloned().collect()
    }

    /// Registers a new stream (and attaches it to the commit thread, with persistence). Streams
    /// closed more than 24 hours ago are dropped from the registry here; their stored records go
    /// with [`Registry::housekeep_streams`].
    pub fn add_stream(&self, stream: Arc<StreamLog>) {
        if let Some(persist) = &self.persist {
            stream.attach(persist.clone());
        }
        let mut streams = self.streams.write().unwrap_or_else(|e| e.into_inner());
        let now = crate::streams::log::now_ms();
        let expired: Vec<String> = streams
            .iter()
            .filter(|(_, s)| s.expired(now))
            .map(|(arn, _)| arn.clone())
            .collect();
        for arn in expired {
            if let Some(log) = streams.remove(&arn) {
                // Its stored records go now (they would be found again at the next start).
                let _ = log.housekeep(true);
            }
        }
        streams.insert(stream.arn.clone(), stream);
    }

    /// Deletes from the store what the streams trimmed (records older than 24 hours or beyond the
    /// most kept) and the streams closed more than 24 hours ago, one commit per stream that has
    /// something to delete; called by the TTL sweeper. Returns the commits to wait for.
    pub fn housekeep_streams(&self) -> Vec<Pending> {
        let now = crate::streams::log::now_ms();
        let (expired, live): (Vec<Arc<StreamLog>>, Vec<Arc<StreamLog>>) = {
            let mut streams = self.streams.write().unwrap_or_else(|e| e.into_inner());
            let arns: Vec<String> = streams
                .iter()
                .filter(|(_, s)| s.expired(now))
                .map(|(arn, _)| arn.clone())
                .collect();
            let expired = arns.iter().filter_map(|arn| streams.remove(arn)).collect();
            (expired, streams.values().cloned().collect())
        };
        expired
            .iter()
            .filter_map(|log| log.housekeep(true))
            .chain(live.iter().filter_map(|log| log.housekeep(false)))
            .collect()
    }

    /// The stream `arn` (closed streams for 24 hours after they closed).
    pub fn stream(&self, arn: &str) -> Option<Arc<StreamLog>> {
        let streams = self.streams.read().unwrap_or_else(|e| e.into_inner());
        let now = crate::streams::log::now_ms();
        streams.get(arn).filter(|s| !s.expired(now)).cloned()
    }

    /// Every stream (closed ones for 24 hours after they closed), by ARN.
    pub fn all_streams(&self) -> Vec<Arc<StreamLog>> {
        let streams = self.streams.read().unwrap_or_else(|e| e.into_inner());
        let now = crate::streams::log::now_ms();
        streams
            .values()
            .filter(|s| !s.expired(now))
            .cloned()
            .collect()
    }

    /// The streams of an account in a region, by ARN.
    pub fn streams(&self, account: &str, region: &str) -> Vec<Arc<StreamLog>> {
        let streams = self.streams.read().unwrap_or_else(|e| e.into_inner());
        let now = crate::streams::log::now_ms();
        streams
            .values()
            .filter(|s| s.account == account && s.region == region && !s.expired(now))
            .cloned()
            .collect()
    }

    /// Queues `ops` for a durable commit (nothing to wait for without persistence).
    pub fn commit(&self, ops: Vec<Op>) -> Option<Pending> {
        self.persist.as_ref().map(|p| p.submit(ops))
    }

    /// True when changes go to disk.
    pub fn durable(&self) -> bool {
        self.persist.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::Av;
    use crate::streams::log::EventName;

    const ARN: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/t";

    fn meta(uid: u64, name: &str, label: Option<&str>) -> TableMeta {
        serde_json::from_value(serde_json::json!({
            "name": name, "uid": uid, "id": "x", "arn": ARN.replace("/t", &format!("/{name}")),
            "created": 1, "hash": {"name": "id", "ty": "S"}, "range": null,
            "attributes": [["id", "S"]], "billing": "PAY_PER_REQUEST", "rcu": 0, "wcu": 0,
            "stream": label.map(|_| "NEW_AND_OLD_IMAGES"), "stream_label": label,
        }))
        .unwrap()
    }

    fn item(v: &str) -> Item {
        let mut i = Item::new();
        i.insert("id".into(), Av::S("a".into()));
        i.insert("v".into(), Av::S(v.into()));
        i
    }

    fn keys() -> Item {
        let mut i = Item::new();
        i.insert("id".into(), Av::S("a".into()));
        i
    }

    /// A stored log of table `uid`: an INSERT of v=1 and a MODIFY to v=2 of item `a`.
    fn stored_log(uid: u64, name: &str, label: &str) -> (LogMeta, Vec<StreamRecord>) {
        let table_arn = ARN.replace("/t", &format!("/{name}"));
        let log = StreamLog::new(
            uid,
            &table_arn,
            label,
            ViewType::NewAndOldImages,
            vec!["id".into()],
        );
        let (one, two) = (Packed::new(&item("1")), Packed::new(&item("2")));
        log.append(keys(), None, Some(&one), Origin::Request);
        log.append(keys(), Some(&one), Some(&two), Origin::Request);
        log.snapshot()
    }

    #[test]
    fn loading_gives_tables_their_stored_streams_shares_images_and_fixes_the_rest() {
        let from = Store::in_memory().unwrap();
        let (current, records) = stored_log(1, "t", "L1");
        let (orphan, orphan_records) = stored_log(9, "gone", "L9");
        from.write(|w| {
            for (m, label) in [
                (meta(1, "t", Some("L1")), "t"),
                (meta(2, "fresh", Some("L2")), "fresh"),
            ] {
                w.put(
                    TABLES,
                    &table_key("000000000000", "us-east-1", label),
                    &serde_json::to_vec(&m)?,
                )?;
            }
            let json = serde_json::to_vec(&attr::item_to_json(&item("2")))?;
            w.put(ITEMS, &format!("{:016x}/x", 1), &json)?;
            for (m, rs) in [(&current, &records), (&orphan, &orphan_records)] {
                let id = stored::log_id(m.uid, &m.label);
                w.put(STREAMS, &id, &serde_json::to_vec(m)?)?;
                for r in rs.iter() {
                    w.put(
                        STREAM_RECORDS,
                        &stored::record_key(&id, r.seq),
                        &stored::encode_record(r),
                    )?;
                }
            }
            Ok(())
        })
        .unwrap();
        let registry = Registry::open(&Store::in_memory().unwrap(), None).unwrap();
        let ops = registry.replace(&from).unwrap();

        // The table's stream is the stored one, records and numbers as they were.
        let t = registry.get("000000000000", "us-east-1", "t").unwrap();
        let t = read(&t);
        let log = t.stream.clone().unwrap();
        assert_eq!(
            (&log.shard_id, log.start_seq),
            (&current.shard_id, current.start_seq)
        );
        let page = log.read(log.start_seq, 10, i64::MAX).unwrap();
        let seqs: Vec<u64> = page.records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, records.iter().map(|r| r.seq).collect::<Vec<_>>());
        assert_eq!(page.records[1].event, EventName::Modify);
        // One allocation per image, shared with the table's item.
        let (first, second) = (&page.records[0], &page.records[1]);
        assert!(Packed::ptr_eq(
            first.new.as_ref().unwrap(),
            second.old.as_ref().unwrap()
        ));
        let pkey = t.meta.item_key(&keys()).unwrap();
        let row = t.get_packed(&packed::pkey_bytes(&pkey)).unwrap();
        assert!(Packed::ptr_eq(second.new.as_ref().unwrap(), row));

        // A table whose stream had no stored log gets a new one, to be stored; a log that no
        // table names is closed (and stored so), still readable.
        let fresh = registry.get("000000000000", "us-east-1", "fresh").unwrap();
        let fresh_log = read(&fresh).stream.clone().unwrap();
        let stored_ids: Vec<String> = ops
            .iter()
            .filter_map(|op| match op {
                Op::PutStream(k, v) => {
                    let m = stored::decode_meta(v).unwrap();
                    Some(format!("{k} {}", m.closed.is_some()))
                }
                _ => None,
            })
            .collect();
        assert!(
            stored_ids.contains(&format!("{} false", fresh_log.store_id())),
            "{stored_ids:?}"
        );
        assert!(
            stored_ids.contains(&format!("{} true", stored::log_id(9, "L9"))),
            "{stored_ids:?}"
        );
        let gone = registry.stream(&orphan.arn).unwrap();
        assert!(gone.is_closed());
        assert_eq!(
            gone.read(gone.start_seq, 10, i64::MAX)
                .unwrap()
                .records
                .len(),
            2
        );
        assert_eq!(registry.all_streams().len(), 3);
    }
}

//! CloudWatch Logs state in the store: log groups, log streams and their events.
//!
//! Tables (all keys are ordered strings):
//!
//! - `groups`: `<account>/<region>/<group name>` → [`GroupRecord`] (JSON). Listing a prefix of an account
//!   and region gives the groups in AWS's order (ASCII by name).
//! - `streams`: `<group id, 16 hex digits>/<stream name>` → [`StreamRecord`] (JSON). Group names may hold
//!   `/`, so streams hang off the group's id, which also keeps a recreated group from seeing the
//!   streams of the one it replaces.
//! - `events`: `<stream id, 16 hex>/<timestamp, 20 digits>/<sequence, 20 digits>` → ingestion time
//!   (8 bytes, big endian) followed by the message. Events of a stream are in time order, ties in
//!   the order they arrived; a time range is one range scan. The sequence is global, so
//!   `(timestamp, sequence)` orders the events of several streams too (for `FilterLogEvents`).
//! - `meta`: counters (`ids` for group and stream ids, `seq` for event sequence numbers).
//!
//! A position in a stream is an ordinal `timestamp << 64 | sequence`; sequences start at 1, so
//! `t << 64` lies before every event of millisecond `t`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use skyport_core::store::{Reader, Store, StoreError, Writer};

/// The tables.
pub const GROUPS: &str = "groups";
/// Streams by group id.
pub const STREAMS: &str = "streams";
/// Events by stream id.
pub const EVENTS: &str = "events";
/// Counters.
pub const META: &str = "meta";

/// Bytes AWS counts per event on top of its message.
pub const EVENT_OVERHEAD: usize = 26;
/// The largest page of events (`GetLogEvents`, `FilterLogEvents`) and the largest batch.
pub const MAX_BATCH_BYTES: usize = 1_048_576;

/// A failure of a CloudWatch Logs operation on the state.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// No such log group.
    #[error("The specified log group does not exist.")]
    GroupNotFound,
    /// No such log stream.
    #[error("The specified log stream does not exist.")]
    StreamNotFound,
    /// `CreateLogGroup` of an existing group.
    #[error("The specified log group already exists")]
    GroupExists,
    /// `CreateLogStream` of an existing stream.
    #[error("The specified log stream already exists")]
    StreamExists,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A log group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupRecord {
    /// The name.
    pub name: String,
    /// Unique id (streams are keyed by it).
    pub id: u64,
    /// Milliseconds since the epoch.
    pub created: i64,
    /// Days events are kept; `None` keeps them forever.
    #[serde(default)]
    pub retention: Option<i32>,
    /// The KMS key given at creation.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// `STANDARD`, `INFREQUENT_ACCESS`, `DELIVERY`.
    pub class: String,
    /// Bytes of the messages stored.
    #[serde(default)]
    pub stored_bytes: i64,
}

/// A log stream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamRecord {
    /// The name.
    pub name: String,
    /// Unique id (events are keyed by it).
    pub id: u64,
    /// Milliseconds since the epoch.
    pub created: i64,
    /// The earliest event's timestamp.
    #[serde(default)]
    pub first_event: Option<i64>,
    /// The latest event's timestamp.
    #[serde(default)]
    pub last_event: Option<i64>,
    /// When events last arrived.
    #[serde(default)]
    pub last_ingestion: Option<i64>,
    /// Bytes of the messages stored.
    #[serde(default)]
    pub stored_bytes: i64,
    /// How many batches were appended (the upload sequence token derives from it).
    #[serde(default)]
    pub uploads: u64,
}

impl StreamRecord {
    /// The stream's current upload sequence token (AWS's are 56-digit numbers); `None` before the
    /// first upload.
    pub fn sequence_token(&self) -> Option<String> {
        (self.uploads > 0).then(|| format!("{:036}{:020}", self.id, self.uploads))
    }
}

/// One stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The stream's id.
    pub stream: u64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The global sequence number.
    pub seq: u64,
    /// When it was stored.
    pub ingestion: i64,
    /// The message.
    pub message: String,
}

impl Event {
    /// The event's position (see the module docs).
    pub fn ordinal(&self) -> u128 {
        ordinal(self.timestamp, self.seq)
    }

    /// Bytes AWS counts for the event.
    pub fn size(&self) -> usize {
        self.message.len() + EVENT_OVERHEAD
    }

    /// A unique event id: 56 digits, as AWS's.
    pub fn event_id(&self) -> String {
        format!("{:020}{:016}{:020}", self.timestamp, self.stream, self.seq)
    }
}

/// The position of `(timestamp, seq)`.
pub fn ordinal(timestamp: i64, seq: u64) -> u128 {
    (u128::from(timestamp.max(0) as u64) << 64) | u128::from(seq)
}

/// The position before every event of millisecond `timestamp`.
pub fn time_ordinal(timestamp: i64) -> u128 {
    ordinal(timestamp, 0)
}

fn ordinal_parts(ordinal: u128) -> (u64, u64) {
    ((ordinal >> 64) as u64, ordinal as u64)
}

/// `<account>/<region>/`: the prefix of an account's groups in a region.
pub fn groups_prefix(account: &str, region: &str) -> String {
    format!("{account}/{region}/")
}

fn group_key(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}")
}

/// `<group id>/`: the prefix of a group's streams.
pub fn streams_prefix(group: u64) -> String {
    format!("{group:016x}/")
}

fn stream_key(group: u64, name: &str) -> String {
    format!("{group:016x}/{name}")
}

fn events_prefix(stream: u64) -> String {
    format!("{stream:016x}/")
}

/// The key of the event at `ordinal` (or of the gap there).
fn event_key(stream: u64, ordinal: u128) -> String {
    let (ts, seq) = ordinal_parts(ordinal);
    format!("{stream:016x}/{ts:020}/{seq:020}")
}

fn decode_event(stream: u64, key: &str, value: &[u8]) -> Option<Event> {
    let mut parts = key.rsplitn(3, '/');
    let seq = parts.next()?.parse().ok()?;
    let timestamp = parts.next()?.parse().ok()?;
    let ingestion = i64::from_be_bytes(value.get(..8)?.try_into().ok()?);
    let message = String::from_utf8_lossy(&value[8..]).into_owned();
    Some(Event {
        stream,
        timestamp,
        seq,
        ingestion,
        message,
    })
}

fn encode_event(ingestion: i64, message: &str) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + message.len());
    value.extend_from_slice(&ingestion.to_be_bytes());
    value.extend_from_slice(message.as_bytes());
    value
}

/// Milliseconds since the epoch, now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The oldest timestamp a group keeps at `now`, if it has a retention policy.
pub fn retention_cutoff(group: &GroupRecord, now: i64) -> Option<i64> {
    group
        .retention
        .map(|days| now.saturating_sub(i64::from(days) * 86_400_000))
}

fn get_json<T: serde::de::DeserializeOwned>(
    bytes: Option<Vec<u8>>,
) -> Result<Option<T>, StoreError> {
    bytes
        .map(|b| serde_json::from_slice(&b).map_err(StoreError::from))
        .transpose()
}

fn next_counter(w: &mut Writer<'_>, name: &str, count: u64) -> Result<u64, StoreError> {
    let next: u64 = get_json(w.get(META, name)?)?.unwrap_or(1);
    w.put_json(META, name, &(next + count))?;
    Ok(next)
}

/// What to append.
#[derive(Debug, Clone)]
pub struct Append {
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
    /// The group.
    pub group: String,
    /// The stream.
    pub stream: String,
    /// `(timestamp, message)` in the order given.
    pub events: Vec<(i64, String)>,
    /// Create the group and the stream when missing (the log sink), else fail.
    pub create: bool,
}

/// What an append did.
#[derive(Debug, Clone)]
pub struct Appended {
    /// The stream after the append.
    pub stream: StreamRecord,
}

/// How to list a group's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOrder {
    /// By name.
    Name,
    /// By the latest event's timestamp.
    LastEventTime,
}

/// CloudWatch Logs state over a [`Store`].
#[derive(Debug, Clone)]
pub struct LogStore {
    store: Store,
}

impl LogStore {
    /// State kept in `store`.
    pub fn new(store: Store) -> LogStore {
        LogStore { store }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs a read off the async runtime when the store is a file (it may wait for the disk).
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Reader) -> Result<T, StoreError> + Send + 'static,
    {
        if !self.store.is_durable() {
            return self.store.read(f);
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.read(f))
            .await
            .map_err(|e| StoreError::Join(e.to_string()))?
    }

    /// The group `name`.
    pub fn group(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Option<GroupRecord>, StoreError> {
        get_json(self.store.get(GROUPS, &group_key(account, region, name))?)
    }

    /// The group `name`, or `GroupNotFound`.
    pub fn existing_group(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<GroupRecord, LogsError> {
        self.group(account, region, name)?
            .ok_or(LogsError::GroupNotFound)
    }

    /// Creates a group.
    pub async fn create_group(
        &self,
        account: &str,
        region: &str,
        mut group: GroupRecord,
    ) -> Result<GroupRecord, LogsError> {
        let key = group_key(account, region, &group.name);
        let created = self
            .store
            .write_async(move |w| {
                if w.get(GROUPS, &key)?.is_some() {
                    return Ok(None);
                }
                group.id = next_counter(w, "ids", 1)?;
                w.put_json(GROUPS, &key, &group)?;
                Ok(Some(group))
            })
            .await?;
        created.ok_or(LogsError::GroupExists)
    }

    /// Changes a group.
    pub async fn update_group(
        &self,
        account: &str,
        region: &str,
        name: &str,
        change: impl FnOnce(&mut GroupRecord) + Send + 'static,
    ) -> Result<GroupRecord, LogsError> {
        let key = group_key(account, region, name);
        let updated = self
            .store
            .write_async(move |w| {
                let Some(mut group) = get_json::<GroupRecord>(w.get(GROUPS, &key)?)? else {
                    return Ok(None);
                };
                change(&mut group);
                w.put_json(GROUPS, &key, &group)?;
                Ok(Some(group))
            })
            .await?;
        updated.ok_or(LogsError::GroupNotFound)
    }

    /// Deletes a group with its streams and events.
    pub async fn delete_group(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<(), LogsError> {
        let group = self.existing_group(account, region, name)?;
        let streams = self.streams(group.id, "")?;
        let key = group_key(account, region, name);
        let id = group.id;
        let stream_keys: Vec<String> = streams.iter().map(|s| stream_key(id, &s.name)).collect();
        let deleted = self
            .store
            .write_freeing_async(move |w| {
                match get_json::<GroupRecord>(w.get(GROUPS, &key)?)? {
                    Some(g) if g.id == id => {}
                    _ => return Ok(false),
                }
                w.delete(GROUPS, &key)?;
                for k in &stream_keys {
                    w.delete(STREAMS, k)?;
                }
                Ok(true)
            })
            .await?;
        if !deleted {
            return Err(LogsError::GroupNotFound);
        }
        // Streams created between the listing and the delete, then every stream's events.
        for stream in self.streams(id, "")? {
            let k = stream_key(id, &stream.name);
            self.store
                .write_freeing_async(move |w| w.delete(STREAMS, &k).map(|_| ()))
                .await?;
            self.purge_events(stream.id).await?;
        }
        for stream in streams {
            self.purge_events(stream.id).await?;
        }
        Ok(())
    }

    /// Removes every event of a stream that no longer exists.
    async fn purge_events(&self, stream: u64) -> Result<(), StoreError> {
        let prefix = events_prefix(stream);
        loop {
            let p = prefix.clone();
            let keys: Vec<String> = self
                .read(move |r| {
                    Ok(r.scan_prefix(EVENTS, &p, None, 4096)?
                        .into_iter()
                        .map(|(k, _)| k)
                        .collect())
                })
                .await?;
            if keys.is_empty() {
                return Ok(());
            }
            self.store
                .write_freeing_async(move |w| {
                    for k in &keys {
                        w.delete(EVENTS, k)?;
                    }
                    Ok(())
                })
                .await?;
        }
    }

    /// Up to `limit` groups of an account and region in name order, starting after `after`, whose
    /// names start with `prefix` and pass `keep`; and whether there are more.
    pub fn list_groups(
        &self,
        account: &str,
        region: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&GroupRecord) -> bool,
    ) -> Result<(Vec<GroupRecord>, bool), StoreError> {
        let base = groups_prefix(account, region);
        let scan_prefix = format!("{base}{prefix}");
        let mut cursor = after.map(|a| format!("{base}{a}"));
        let mut out = Vec::new();
        self.store.read(|r| {
            loop {
                let batch = r.scan_prefix(GROUPS, &scan_prefix, cursor.as_deref(), 256)?;
                let full = batch.len() == 256;
                for (key, value) in batch {
                    cursor = Some(key);
                    let group: GroupRecord = serde_json::from_slice(&value)?;
                    if keep(&group) {
                        if out.len() == limit {
                            return Ok((out, true));
                        }
                        out.push(group);
                    }
                }
                if !full {
                    return Ok((out, false));
                }
            }
        })
    }

    /// The stream `name` of `group`.
    pub fn stream(&self, group: u64, name: &str) -> Result<Option<StreamRecord>, StoreError> {
        get_json(self.store.get(STREAMS, &stream_key(group, name))?)
    }

    /// The streams of `group` whose names start with `prefix`, by name.
    pub fn streams(&self, group: u64, prefix: &str) -> Result<Vec<StreamRecord>, StoreError> {
        let scan = format!("{}{prefix}", streams_prefix(group));
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        self.store.read(|r| {
            loop {
                let batch = r.scan_prefix(STREAMS, &scan, cursor.as_deref(), 1024)?;
                let full = batch.len() == 1024;
                for (key, value) in batch {
                    cursor = Some(key);
                    out.push(serde_json::from_slice(&value)?);
                }
                if !full {
                    return Ok(out);
                }
            }
        })
    }

    /// Creates a stream in a group.
    pub async fn create_stream(
        &self,
        account: &str,
        region: &str,
        group: &str,
        name: &str,
    ) -> Result<StreamRecord, LogsError> {
        let gkey = group_key(account, region, group);
        let name = name.to_owned();
        self.store
            .write_async(move |w| {
                let Some(group) = get_json::<GroupRecord>(w.get(GROUPS, &gkey)?)? else {
                    return Ok(Err(LogsError::GroupNotFound));
                };
                let skey = stream_key(group.id, &name);
                if w.get(STREAMS, &skey)?.is_some() {
                    return Ok(Err(LogsError::StreamExists));
                }
                let stream = StreamRecord {
                    name,
                    id: next_counter(w, "ids", 1)?,
                    created: now_millis(),
                    first_event: None,
                    last_event: None,
                    last_ingestion: None,
                    stored_bytes: 0,
                    uploads: 0,
                };
                w.put_json(STREAMS, &skey, &stream)?;
                Ok(Ok(stream))
            })
            .await?
    }

    /// Deletes a stream and its events.
    pub async fn delete_stream(
        &self,
        account: &str,
        region: &str,
        group: &str,
        name: &str,
    ) -> Result<(), LogsError> {
        let gkey = group_key(account, region, group);
        let name = name.to_owned();
        let deleted = self
            .store
            .write_freeing_async(move |w| {
                let Some(mut group) = get_json::<GroupRecord>(w.get(GROUPS, &gkey)?)? else {
                    return Ok(Err(LogsError::GroupNotFound));
                };
                let skey = stream_key(group.id, &name);
                let Some(stream) = get_json::<StreamRecord>(w.get(STREAMS, &skey)?)? else {
                    return Ok(Err(LogsError::StreamNotFound));
                };
                w.delete(STREAMS, &skey)?;
                group.stored_bytes = (group.stored_bytes - stream.stored_bytes).max(0);
                w.put_json(GROUPS, &gkey, &group)?;
                Ok(Ok(stream.id))
            })
            .await??;
        self.purge_events(deleted).await?;
        Ok(())
    }

    /// Appends events to a stream (creating the group and the stream when `append.create`), in one
    /// transaction; events older than the group's retention are removed from the stream on the way.
    pub async fn append(&self, append: Append) -> Result<Appended, LogsError> {
        let now = now_millis();
        // Events past the retention, collected before the write (a write cannot scan), and the
        // timestamp of the first event that stays.
        let mut purge = Purge::default();
        if let Some(group) = self.group(&append.account, &append.region, &append.group)?
            && let Some(cutoff) = retention_cutoff(&group, now)
            && let Some(stream) = self.stream(group.id, &append.stream)?
            && stream.first_event.is_some_and(|first| first < cutoff)
        {
            let prefix = events_prefix(stream.id);
            let end = event_key(stream.id, time_ordinal(cutoff));
            let keys: Vec<String> = self.store.read(|r| {
                Ok(r.scan_prefix(EVENTS, &prefix, None, PURGE_BATCH + 1)?
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect())
            })?;
            let expired = keys
                .iter()
                .take_while(|k| **k < end)
                .count()
                .min(PURGE_BATCH);
            purge.first_left = keys
                .get(expired)
                .and_then(|k| decode_event(stream.id, k, &[0; 8]))
                .map(|e| e.timestamp);
            purge.keys = keys.into_iter().take(expired).collect();
        }
        self.store
            .write_async(move |w| append_in(w, append, purge, now))
            .await?
    }

    /// Reads the events of `stream` with positions in `(after, before)`, from the start of that range,
    /// stopping after `limit` events or `max_bytes`.
    pub fn events_forward(
        r: &Reader,
        stream: u64,
        after: u128,
        before: u128,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Event>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let prefix = events_prefix(stream);
        let end = event_key(stream, before);
        let mut cursor = event_key(stream, after);
        let mut out: Vec<Event> = Vec::new();
        let mut bytes = 0;
        loop {
            let chunk = (limit - out.len()).clamp(1, 1000);
            let batch = r.scan_prefix(EVENTS, &prefix, Some(&cursor), chunk)?;
            let full = batch.len() == chunk;
            for (key, value) in batch {
                if key >= end {
                    return Ok(out);
                }
                if let Some(event) = decode_event(stream, &key, &value) {
                    if bytes + event.size() > max_bytes && !out.is_empty() {
                        return Ok(out);
                    }
                    bytes += event.size();
                    out.push(event);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
                cursor = key;
            }
            if !full {
                return Ok(out);
            }
        }
    }

    /// Reads the last `limit` events (or `max_bytes`) of `stream` with positions in `(after, before)`,
    /// in ascending order. Scans a window before `before` that grows until it holds enough events.
    pub fn events_backward(
        r: &Reader,
        stream: u64,
        after: u128,
        before: u128,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let (before_ts, _) = ordinal_parts(before);
        let (after_ts, _) = ordinal_parts(after);
        let mut window: u64 = 60_000;
        loop {
            let from_ts = before_ts.saturating_sub(window);
            let start = if from_ts <= after_ts {
                after
            } else {
                (u128::from(from_ts) << 64).max(after)
            };
            let reaches_start = start == after;
            let mut ring: std::collections::VecDeque<Event> = std::collections::VecDeque::new();
            let mut bytes = 0usize;
            let mut dropped_any = false;
            let mut cursor = start;
            loop {
                let batch = LogStore::events_forward(r, stream, cursor, before, 1000, usize::MAX)?;
                let Some(last) = batch.last() else { break };
                cursor = last.ordinal();
                let more = batch.len() == 1000;
                for event in batch {
                    bytes += event.size();
                    ring.push_back(event);
                    while ring.len() > limit || (bytes > max_bytes && ring.len() > 1) {
                        if let Some(dropped) = ring.pop_front() {
                            bytes -= dropped.size();
                            dropped_any = true;
                        }
                    }
                }
                if !more {
                    break;
                }
            }
            if dropped_any || ring.len() >= limit || reaches_start {
                return Ok(ring.into_iter().collect());
            }
            window = window.saturating_mul(8);
        }
    }
}

/// The most expired events one append removes.
const PURGE_BATCH: usize = 1000;

/// Expired events to remove from a stream while appending to it.
#[derive(Debug, Default)]
struct Purge {
    keys: Vec<String>,
    /// The timestamp of the first event left after them.
    first_left: Option<i64>,
}

fn append_in(
    w: &mut Writer<'_>,
    append: Append,
    purge: Purge,
    now: i64,
) -> Result<Result<Appended, LogsError>, StoreError> {
    let gkey = group_key(&append.account, &append.region, &append.group);
    let mut group = match get_json::<GroupRecord>(w.get(GROUPS, &gkey)?)? {
        Some(group) => group,
        None if append.create => GroupRecord {
            name: append.group.clone(),
            id: next_counter(w, "ids", 1)?,
            created: now,
            retention: None,
            kms_key_id: None,
            tags: BTreeMap::new(),
            class: "STANDARD".to_owned(),
            stored_bytes: 0,
        },
        None => return Ok(Err(LogsError::GroupNotFound)),
    };
    let skey = stream_key(group.id, &append.stream);
    let mut stream = match get_json::<StreamRecord>(w.get(STREAMS, &skey)?)? {
        Some(stream) => stream,
        None if append.create => StreamRecord {
            name: append.stream.clone(),
            id: next_counter(w, "ids", 1)?,
            created: now,
            first_event: None,
            last_event: None,
            last_ingestion: None,
            stored_bytes: 0,
            uploads: 0,
        },
        None => return Ok(Err(LogsError::StreamNotFound)),
    };
    let mut freed = 0i64;
    for key in &purge.keys {
        if let Some(value) = w.get(EVENTS, key)? {
            freed += value.len().saturating_sub(8) as i64;
            w.delete(EVENTS, key)?;
        }
    }
    if !purge.keys.is_empty() {
        stream.first_event = purge.first_left;
    }
    let count = append.events.len() as u64;
    let first_seq = if count > 0 {
        next_counter(w, "seq", count)?
    } else {
        0
    };
    let mut added = 0i64;
    for (seq, (timestamp, message)) in (first_seq..).zip(&append.events) {
        let key = event_key(stream.id, ordinal(*timestamp, seq));
        w.put(EVENTS, &key, &encode_event(now, message))?;
        added += message.len() as i64;
        stream.first_event = Some(stream.first_event.map_or(*timestamp, |f| f.min(*timestamp)));
        stream.last_event = Some(stream.last_event.map_or(*timestamp, |l| l.max(*timestamp)));
    }
    if count > 0 {
        stream.last_ingestion = Some(now);
    }
    stream.uploads += 1;
    stream.stored_bytes = (stream.stored_bytes + added - freed).max(0);
    group.stored_bytes = (group.stored_bytes + added - freed).max(0);
    w.put_json(STREAMS, &skey, &stream)?;
    w.put_json(GROUPS, &gkey, &group)?;
    Ok(Ok(Appended { stream }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(store: &LogStore, events: Vec<(i64, &str)>) -> Appended {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(store.append(Append {
            account: "000000000000".into(),
            region: "us-east-1".into(),
            group: "/g".into(),
            stream: "s".into(),
            events: events.into_iter().map(|(t, m)| (t, m.to_owned())).collect(),
            create: true,
        }))
        .unwrap()
    }

    #[test]
    fn keys_sort_by_time_then_arrival() {
        assert!(event_key(1, ordinal(5, 2)) < event_key(1, ordinal(5, 10)));
        assert!(event_key(1, ordinal(5, 99)) < event_key(1, ordinal(6, 1)));
        assert!(event_key(1, time_ordinal(6)) < event_key(1, ordinal(6, 1)));
        assert!(event_key(1, u128::MAX) > event_key(1, ordinal(i64::MAX, 5)));
        assert!(events_prefix(1) < events_prefix(2));
        let e = decode_event(7, &event_key(7, ordinal(42, 3)), &encode_event(9, "hi")).unwrap();
        assert_eq!(
            (e.timestamp, e.seq, e.ingestion, &*e.message),
            (42, 3, 9, "hi")
        );
        assert_eq!(e.event_id().len(), 56);
    }

    #[test]
    fn forward_and_backward_reads() {
        let store = LogStore::new(Store::in_memory().unwrap());
        let events: Vec<(i64, String)> = (0..5000)
            .map(|i| (1_000 + i * 7, format!("m{i}")))
            .collect();
        let appended = append(
            &store,
            events.iter().map(|(t, m)| (*t, m.as_str())).collect(),
        );
        let id = appended.stream.id;
        assert_eq!(appended.stream.first_event, Some(1_000));
        assert_eq!(appended.stream.last_event, Some(1_000 + 4999 * 7));
        store
            .store()
            .read(|r| {
                let first = LogStore::events_forward(r, id, 0, u128::MAX, 3, usize::MAX)?;
                assert_eq!(
                    first.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
                    ["m0", "m1", "m2"]
                );
                let next =
                    LogStore::events_forward(r, id, first[2].ordinal(), u128::MAX, 2, usize::MAX)?;
                assert_eq!(next[0].message, "m3");
                let last = LogStore::events_backward(r, id, 0, u128::MAX, 4, usize::MAX)?;
                assert_eq!(
                    last.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
                    ["m4996", "m4997", "m4998", "m4999"]
                );
                let before = LogStore::events_backward(r, id, 0, last[0].ordinal(), 2, usize::MAX)?;
                assert_eq!(
                    before
                        .iter()
                        .map(|e| e.message.as_str())
                        .collect::<Vec<_>>(),
                    ["m4994", "m4995"]
                );
                // A time range: [1_007, 1_021) holds m1 and m2.
                let range = LogStore::events_forward(
                    r,
                    id,
                    time_ordinal(1_007),
                    time_ordinal(1_021),
                    100,
                    usize::MAX,
                )?;
                assert_eq!(range.len(), 2);
                let all_back = LogStore::events_backward(r, id, 0, u128::MAX, 10_000, usize::MAX)?;
                assert_eq!(all_back.len(), 5000);
                // The byte cap.
                let capped = LogStore::events_forward(r, id, 0, u128::MAX, 10_000, 10 * 28)?;
                assert_eq!(capped.len(), 10);
                Ok(())
            })
            .unwrap();
    }
}

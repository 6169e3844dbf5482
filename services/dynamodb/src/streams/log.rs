//! One table stream's records: an append-only log with one shard, sequence numbers, trimming after
//! 24 hours, and the shard iterators that point into it.
//!
//! Every change of an item appends a [`StreamRecord`] holding the key and, as the stream's view type
//! asks, the old and new images (packed, sharing the table's buffers, not copied). Sequence numbers grow across
//! restarts (they start from the log's creation time, and a log read back from the store continues
//! above both its last record and the time of the restart, so a number handed out before a crash is
//! never given to another record), and are rendered as AWS's 21-digit decimal strings. Records older
//! than 24 hours, or beyond [`MAX_RECORDS`] per stream, are trimmed; a closed log (its stream disabled
//! or its table deleted) stays readable for 24 hours.
//!
//! With `PERSISTENCE=1` a log is attached to the commit thread ([`StreamLog::attach`]): each record
//! goes to the store in the commit of the item change that made it (the caller queues the operation
//! [`crate::streams::stored::record_op`] builds), while the log itself queues, under its own lock (so
//! the store's last word is the newest state), its description when it closes and, from
//! [`StreamLog::housekeep`], the deletion of trimmed records in one batch.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;

use crate::attr::Item;
use crate::packed::Packed;
use crate::persist::{Op, Pending, Persister};
use crate::streams::stored::{self, LogMeta};

/// How long records (and closed streams) are kept, as on AWS.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);

/// How long a shard iterator is valid, as on AWS.
pub const ITERATOR_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The most records a stream keeps; older ones are trimmed (AWS keeps 24 hours whatever the count).
pub const MAX_RECORDS: usize = 1_000_000;

/// Added to a sequence number to render it with AWS's 21 digits.
const SEQ_BASE: u128 = 100_000_000_000_000_000_000;

/// The kind of change a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventName {
    /// A new item.
    Insert,
    /// A changed item.
    Modify,
    /// A deleted item.
    Remove,
}

impl EventName {
    /// AWS's name (`INSERT`, `MODIFY`, `REMOVE`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::Insert => "INSERT",
            EventName::Modify => "MODIFY",
            EventName::Remove => "REMOVE",
        }
    }
}

/// What a stream records of each change (`StreamViewType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewType {
    /// The key only.
    KeysOnly,
    /// The item after the change.
    NewImage,
    /// The item before the change.
    OldImage,
    /// Both.
    NewAndOldImages,
}

impl ViewType {
    /// From AWS's name.
    pub fn parse(s: &str) -> Option<ViewType> {
        Some(match s {
            "KEYS_ONLY" => ViewType::KeysOnly,
            "NEW_IMAGE" => ViewType::NewImage,
            "OLD_IMAGE" => ViewType::OldImage,
            "NEW_AND_OLD_IMAGES" => ViewType::NewAndOldImages,
            _ => return None,
        })
    }

    /// AWS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ViewType::KeysOnly => "KEYS_ONLY",
            ViewType::NewImage => "NEW_IMAGE",
            ViewType::OldImage => "OLD_IMAGE",
            ViewType::NewAndOldImages => "NEW_AND_OLD_IMAGES",
        }
    }

    fn new_image(self) -> bool {
        matches!(self, ViewType::NewImage | ViewType::NewAndOldImages)
    }

    fn old_image(self) -> bool {
        matches!(self, ViewType::OldImage | ViewType::NewAndOldImages)
    }
}

/// Who made a change: a request, or DynamoDB itself (TTL expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A client's request.
    Request,
    /// The TTL sweeper (`userIdentity` `{"type": "Service", "principalId": "dynamodb.amazonaws.com"}`).
    Ttl,
}

/// One stream record.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    /// The sequence number (without [`SEQ_BASE`]).
    pub seq: u64,
    /// `eventID`.
    pub event_id: String,
    /// `eventName`.
    pub event: EventName,
    /// When the change was made, in milliseconds since the epoch.
    pub at_ms: i64,
    /// The key attributes (packed: a log may hold a million records).
    pub keys: Packed,
    /// The item before the change, when the view type keeps it.
    pub old: Option<Packed>,
    /// The item after the change, when the view type keeps it.
    pub new: Option<Packed>,
    /// Who made the change.
    pub origin: Origin,
}

impl StreamRecord {
    /// `SizeBytes`: the key and images, counted as item sizes are.
    pub fn size(&self) -> i64 {
        (self.keys.size()
            + self.old.as_ref().map_or(0, Packed::size)
            + self.new.as_ref().map_or(0, Packed::size)) as i64
    }

    /// The sequence number as AWS renders it.
    pub fn sequence_number(&self) -> String {
        render_seq(self.seq)
    }
}

/// Renders a sequence number with AWS's 21 digits.
pub fn render_seq(seq: u64) -> String {
    (SEQ_BASE + u128::from(seq)).to_string()
}

/// Parses a sequence number rendered by [`render_seq`].
pub fn parse_seq(text: &str) -> Option<u64> {
    let n: u128 = text.parse().ok()?;
    u64::try_from(n.checked_sub(SEQ_BASE)?).ok()
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug)]
struct Shard {
    records: VecDeque<StreamRecord>,
    /// The sequence number of the next record.
    next_seq: u64,
    /// The oldest sequence number still readable (the trim horizon).
    first_seq: u64,
    /// When the stream was closed (disabled, or its table deleted), and its last sequence number.
    closed: Option<(i64, u64)>,
    /// The commit thread, with persistence (see [`StreamLog::attach`]).
    persist: Option<Persister>,
    /// Sequence numbers trimmed from memory whose stored records are still to be deleted.
    trimmed: Vec<u64>,
}

/// A table's stream.
#[derive(Debug)]
pub struct StreamLog {
    /// The uid of the table the stream belongs to (the store keys hang off it and the label).
    pub uid: u64,
    /// `StreamArn`.
    pub arn: String,
    /// `StreamLabel`.
    pub label: String,
    /// The table's name.
    pub table: String,
    /// The account.
    pub account: String,
    /// The region (`awsRegion` of the records).
    pub region: String,
    /// `StreamViewType`.
    pub view: ViewType,
    /// The table's key attributes: the partition key, then the sort key.
    pub key_names: Vec<String>,
    /// When the stream was created, in milliseconds since the epoch.
    pub created_ms: i64,
    /// The one shard's id.
    pub shard_id: String,
    /// The first sequence number of the shard.
    pub start_seq: u64,
    shard: Mutex<Shard>,
    /// Woken on every append (pollers such as Lambda's event source mappings wait on it).
    pub appended: tokio::sync::Notify,
}

/// Where a shard iterator points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The stream.
    pub arn: String,
    /// The shard.
    pub shard_id: String,
    /// The sequence number of the next record to read.
    pub seq: u64,
    /// When the iterator was issued, in milliseconds since the epoch.
    pub issued_ms: i64,
}

impl Position {
    /// The opaque `ShardIterator` text.
    pub fn encode(&self) -> String {
        let raw = format!(
            "{}|{}|{}|{}",
            self.issued_ms, self.seq, self.shard_id, self.arn
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// True when the iterator is older than [`ITERATOR_LIFETIME`] at `now_ms`.
    pub fn expired(&self, now_ms: i64) -> bool {
        now_ms - self.issued_ms > ITERATOR_LIFETIME.as_millis() as i64
    }

    /// Reads a `ShardIterator` made by [`Position::encode`].
    pub fn decode(text: &str) -> Option<Position> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let mut parts = raw.splitn(4, '|');
        let issued_ms = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        let shard_id = parts.next()?.to_owned();
        let arn = parts.next()?.to_owned();
        Some(Position {
            arn,
            shard_id,
            seq,
            issued_ms,
        })
    }
}

/// Reading a shard failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The position lies before the trim horizon.
    #[error("trimmed")]
    Trimmed,
}

/// A page of records.
#[derive(Debug)]
pub struct Page {
    /// The records.
    pub records: Vec<StreamRecord>,
    /// The position after them; `None` when the shard is closed and everything was read.
    pub next: Option<u64>,
}

/// The state of a stream as DescribeStream reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardState {
    /// The first sequence number still readable.
    pub first_seq: u64,
    /// The sequence number the next record will have.
    pub next_seq: u64,
    /// When and at which last sequence number the shard was closed.
    pub closed: Option<(i64, u64)>,
}

impl StreamLog {
    /// A new, empty, open stream.
    pub fn new(
        uid: u64,
        table_arn: &str,
        label: &str,
        view: ViewType,
        key_names: Vec<String>,
    ) -> StreamLog {
        // arn:aws:dynamodb:<region>:<account>:table/<name>
        let mut parts = table_arn.splitn(6, ':');
        let region = parts.nth(3).unwrap_or_default().to_owned();
        let account = parts.next().unwrap_or_default().to_owned();
        let table = parts
            .next()
            .and_then(|r| r.strip_prefix("table/"))
            .unwrap_or_default()
            .to_owned();
        let created_ms = now_ms();
        // Sequence numbers keep growing across restarts: they start from the creation time.
        let start_seq = u64::try_from(created_ms).unwrap_or(0) * 1_000_000;
        let suffix = skyport_core::ids::random_string(b"0123456789abcdef", 8);
        StreamLog {
            uid,
            arn: format!("{table_arn}/stream/{label}"),
            label: label.to_owned(),
            table,
            account,
            region,
            view,
            key_names,
            created_ms,
            shard_id: format!("shardId-{created_ms:020}-{suffix}"),
            start_seq,
            shard: Mutex::new(Shard {
                records: VecDeque::new(),
                next_seq: start_seq,
                first_seq: start_seq,
                closed: None,
                persist: None,
                trimmed: Vec::new(),
            }),
            appended: tokio::sync::Notify::new(),
        }
    }

    /// A log read back from the store: its description and its records (in sequence order), trimmed
    /// as of now. An open log continues above its last record and above the present time, so the
    /// numbers it hands out are larger than any it handed out before the restart.
    pub fn restore(meta: LogMeta, records: Vec<StreamRecord>) -> StreamLog {
        let mut records: VecDeque<StreamRecord> = records
            .into_iter()
            .filter(|r| r.seq >= meta.first_seq)
            .collect();
        records.make_contiguous().sort_by_key(|r| r.seq);
        let next_seq = match meta.closed {
            Some((_, last)) => last.saturating_add(1),
            None => {
                let after_last = records.back().map_or(0, |r| r.seq + 1);
                let now = u64::try_from(now_ms()).unwrap_or(0) * 1_000_000;
                after_last.max(now).max(meta.first_seq).max(meta.start_seq)
            }
        };
        let mut shard = Shard {
            records,
            next_seq,
            first_seq: meta.first_seq.max(meta.start_seq),
            closed: meta.closed,
            persist: None,
            trimmed: Vec::new(),
        };
        // Nothing is attached yet: the records trimmed now are deleted by the first housekeeping.
        Self::trim_collecting(&mut shard, now_ms(), true);
        StreamLog {
            uid: meta.uid,
            arn: meta.arn,
            label: meta.label,
            table: meta.table,
            account: meta.account,
            region: meta.region,
            view: meta.view,
            key_names: meta.key_names,
            created_ms: meta.created_ms,
            shard_id: meta.shard_id,
            start_seq: meta.start_seq,
            shard: Mutex::new(shard),
            appended: tokio::sync::Notify::new(),
        }
    }

    /// The store key of the log's description (its records' keys start with it).
    pub fn store_id(&self) -> String {
        stored::log_id(self.uid, &self.label)
    }

    fn meta_of(&self, shard: &Shard) -> LogMeta {
        LogMeta {
            uid: self.uid,
            arn: self.arn.clone(),
            label: self.label.clone(),
            table: self.table.clone(),
            account: self.account.clone(),
            region: self.region.clone(),
            view: self.view,
            key_names: self.key_names.clone(),
            created_ms: self.created_ms,
            shard_id: self.shard_id.clone(),
            start_seq: self.start_seq,
            first_seq: shard.first_seq,
            closed: shard.closed,
        }
    }

    /// The store operation writing the log's description as it is now.
    pub fn meta_op(&self) -> Op {
        let shard = self.lock();
        stored::meta_op(&self.meta_of(&shard))
    }

    /// The description and a copy of the records (images shared), taken at one instant.
    pub fn snapshot(&self) -> (LogMeta, Vec<StreamRecord>) {
        let mut shard = self.lock();
        Self::trim(&mut shard, now_ms());
        (
            self.meta_of(&shard),
            shard.records.iter().cloned().collect(),
        )
    }

    /// The store operations deleting every record of the log (it expired before it was attached).
    pub fn records_delete_ops(&self) -> Vec<Op> {
        let mut shard = self.lock();
        Self::delete_ops(&mut shard, &self.store_id(), true)
    }

    /// The deletions of the records trimmed since the last call and, with `all`, of those kept too.
    fn delete_ops(shard: &mut Shard, id: &str, all: bool) -> Vec<Op> {
        let trimmed = std::mem::take(&mut shard.trimmed);
        let kept = shard.records.iter().map(|r| r.seq).filter(|_| all);
        trimmed
            .into_iter()
            .chain(kept)
            .map(|seq| Op::DeleteRecord(stored::record_key(id, seq)))
            .collect()
    }

    /// Attaches the log to the commit thread: from now on its closing and its trimming reach the
    /// store (records are queued by the writes that make them).
    pub fn attach(&self, persist: Persister) {
        self.lock().persist = Some(persist);
    }

    /// Detaches the log from the commit thread (a reset or an import replaced it): it queues nothing
    /// more, so nothing of it lands after the store was cleared.
    pub fn detach(&self) {
        let mut shard = self.lock();
        shard.persist = None;
        shard.trimmed.clear();
    }

    /// Queues the deletion of the records trimmed since the last call (and the new trim horizon) in
    /// one commit; with `expired`, of the whole log instead. Nothing without persistence.
    pub fn housekeep(&self, expired: bool) -> Option<Pending> {
        let mut shard = self.lock();
        Self::trim(&mut shard, now_ms());
        let Some(persist) = shard.persist.clone() else {
            shard.trimmed.clear();
            return None;
        };
        let id = self.store_id();
        let mut ops = Self::delete_ops(&mut shard, &id, expired);
        if expired {
            ops.push(Op::DeleteStream(id));
            shard.persist = None;
        } else if !ops.is_empty() {
            ops.push(stored::meta_op(&self.meta_of(&shard)));
        } else {
            return None;
        }
        Some(persist.submit(ops))
    }

    fn lock(&self) -> MutexGuard<'_, Shard> {
        self.shard.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn trim(shard: &mut Shard, now: i64) {
        let collect = shard.persist.is_some();
        Self::trim_collecting(shard, now, collect);
    }

    fn trim_collecting(shard: &mut Shard, now: i64, collect: bool) {
        let horizon = now - RETENTION.as_millis() as i64;
        while let Some(first) = shard.records.front() {
            if first.at_ms >= horizon && shard.records.len() <= MAX_RECORDS {
                break;
            }
            shard.first_seq = first.seq + 1;
            if collect {
                shard.trimmed.push(first.seq);
            }
            shard.records.pop_front();
        }
    }

    /// Appends the change of the item with `keys` from `old` to `new` (nothing when the item did
    /// not change, as on AWS, or when the stream is closed); returns a copy of the record appended
    /// when the log is attached to the commit thread (for its store operation).
    pub fn append(
        &self,
        keys: Item,
        old: Option<&Packed>,
        new: Option<&Packed>,
        origin: Origin,
    ) -> Option<StreamRecord> {
        let event = match (old, new) {
            (None, None) => return None,
            (Some(o), Some(n)) if o == n => return None,
            (None, Some(_)) => EventName::Insert,
            (Some(_), Some(_)) => EventName::Modify,
            (Some(_), None) => EventName::Remove,
        };
        let now = now_ms();
        let record = {
            let mut shard = self.lock();
            if shard.closed.is_some() {
                return None;
            }
            let seq = shard.next_seq;
            shard.next_seq += 1;
            let durable = shard.persist.is_some();
            let record = StreamRecord {
                seq,
                event_id: skyport_core::ids::random_string(b"0123456789abcdef", 32),
                event,
                at_ms: now,
                keys: Packed::new(&keys),
                old: old.filter(|_| self.view.old_image()).cloned(),
                new: new.filter(|_| self.view.new_image()).cloned(),
                origin,
            };
            let copy = durable.then(|| record.clone());
            shard.records.push_back(record);
            Self::trim(&mut shard, now);
            copy
        };
        self.appended.notify_waiters();
        record
    }

    /// Closes the shard (the stream was disabled or its table deleted); with persistence, queues
    /// the closed description (call before queueing the change that closed it, so both are on disk
    /// when that change is).
    pub fn close(&self) {
        {
            let mut shard = self.lock();
            if shard.closed.is_none() {
                let last = shard.next_seq.saturating_sub(1);
                shard.closed = Some((now_ms(), last));
                if let Some(persist) = &shard.persist {
                    // Its ack is the change's: the commit thread commits in order.
                    drop(persist.submit(vec![stored::meta_op(&self.meta_of(&shard))]));
                }
            }
        }
        self.appended.notify_waiters();
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.lock().closed.is_some()
    }

    /// The shard's state.
    pub fn state(&self) -> ShardState {
        let mut shard = self.lock();
        Self::trim(&mut shard, now_ms());
        ShardState {
            first_seq: shard.first_seq,
            next_seq: shard.next_seq,
            closed: shard.closed,
        }
    }

    /// True when the stream was closed more than 24 hours ago.
    pub fn expired(&self, now: i64) -> bool {
        self.lock()
            .closed
            .is_some_and(|(at, _)| now - at > RETENTION.as_millis() as i64)
    }

    /// The sequence number of the first record made at or after `at_ms` (the next one when none).
    pub fn seq_at(&self, at_ms: i64) -> u64 {
        let mut shard = self.lock();
        Self::trim(&mut shard, now_ms());
        shard
            .records
            .iter()
            .find(|r| r.at_ms >= at_ms)
            .map_or(shard.next_seq, |r| r.seq)
    }

    /// Up to `limit` records from `seq`, and at most `max_bytes` of them (at least one).
    pub fn read(&self, seq: u64, limit: usize, max_bytes: i64) -> Result<Page, ReadError> {
        let mut shard = self.lock();
        Self::trim(&mut shard, now_ms());
        if seq < shard.first_seq {
            return Err(ReadError::Trimmed);
        }
        // Numbers can jump (a restart continues above the time of the restart): search, not index.
        let skip = shard.records.partition_point(|r| r.seq < seq);
        let mut records = Vec::new();
        let mut bytes = 0;
        for r in shard.records.iter().skip(skip).take(limit) {
            bytes += r.size();
            if bytes > max_bytes && !records.is_empty() {
                break;
            }
            records.push(r.clone());
        }
        let next = records
            .last()
            .map_or(seq.max(shard.first_seq), |r| r.seq + 1);
        let done = shard.closed.is_some() && next >= shard.next_seq && records.is_empty();
        Ok(Page {
            records,
            next: (!done).then_some(next),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::Av;

    fn item(id: &str, v: &str) -> Packed {
        let mut i = Item::new();
        i.insert("id".into(), Av::S(id.into()));
        i.insert("v".into(), Av::S(v.into()));
        Packed::new(&i)
    }

    fn keys(id: &str) -> Item {
        let mut i = Item::new();
        i.insert("id".into(), Av::S(id.into()));
        i
    }

    fn log(view: ViewType) -> StreamLog {
        StreamLog::new(
            1,
            "arn:aws:dynamodb:us-east-1:000000000000:table/t",
            "2024-01-01T00:00:00.000",
            view,
            vec!["id".into()],
        )
    }

    #[test]
    fn records_each_change_once_with_the_images_the_view_keeps() {
        let log = log(ViewType::NewImage);
        let a = item("a", "1");
        let b = item("a", "2");
        log.append(keys("a"), None, Some(&a), Origin::Request);
        log.append(keys("a"), Some(&a), Some(&a.clone()), Origin::Request);
        log.append(keys("a"), Some(&a), Some(&b), Origin::Request);
        log.append(keys("a"), Some(&b), None, Origin::Ttl);
        let page = log.read(log.start_seq, 100, i64::MAX).unwrap();
        let kinds: Vec<_> = page.records.iter().map(|r| r.event).collect();
        assert_eq!(
            kinds,
            [EventName::Insert, EventName::Modify, EventName::Remove]
        );
        assert!(page.records.iter().all(|r| r.old.is_none()));
        assert_eq!(page.records[1].new.as_ref(), Some(&b));
        assert_eq!(page.records[2].origin, Origin::Ttl);
        assert_eq!(page.next, Some(log.start_seq + 3));
        assert!(page.records[0].sequence_number().len() >= 21);
        assert_eq!(
            parse_seq(&page.records[2].sequence_number()),
            Some(page.records[2].seq)
        );
    }

    #[test]
    fn a_closed_shard_ends_after_its_last_record() {
        let log = log(ViewType::KeysOnly);
        log.append(keys("a"), None, Some(&item("a", "1")), Origin::Request);
        log.close();
        log.append(keys("b"), None, Some(&item("b", "1")), Origin::Request);
        let page = log.read(log.start_seq, 100, i64::MAX).unwrap();
        assert_eq!(page.records.len(), 1);
        assert!(page.records[0].new.is_none());
        let next = page.next.unwrap();
        assert!(log.read(next, 100, i64::MAX).unwrap().next.is_none());
    }

    #[test]
    fn iterators_round_trip_and_reject_garbage() {
        let p = Position {
            arn: "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x|y".into(),
            shard_id: "shardId-1".into(),
            seq: 42,
            issued_ms: 7,
        };
        assert_eq!(Position::decode(&p.encode()), Some(p.clone()));
        assert!(!p.expired(7 + 15 * 60 * 1000));
        assert!(p.expired(8 + 15 * 60 * 1000));
        assert_eq!(Position::decode("not an iterator"), None);
    }

    #[test]
    fn limits_pages_by_count_and_bytes() {
        let log = log(ViewType::NewAndOldImages);
        for n in 0..10 {
            log.append(
                keys(&n.to_string()),
                None,
                Some(&item(&n.to_string(), "x")),
                Origin::Request,
            );
        }
        assert_eq!(
            log.read(log.start_seq, 3, i64::MAX).unwrap().records.len(),
            3
        );
        assert_eq!(log.read(log.start_seq, 100, 1).unwrap().records.len(), 1);
        assert!(log.read(log.start_seq - 1, 1, 1).is_err());
    }

    #[test]
    fn a_restored_log_keeps_its_identity_and_numbers_and_continues_above_them() {
        let log = log(ViewType::NewImage);
        for n in 0..5 {
            log.append(
                keys(&n.to_string()),
                None,
                Some(&item(&n.to_string(), "x")),
                Origin::Request,
            );
        }
        let (meta, records) = log.snapshot();
        let back = StreamLog::restore(meta.clone(), records.clone());
        assert_eq!(
            (&back.arn, &back.shard_id, back.start_seq, &back.label),
            (&log.arn, &log.shard_id, log.start_seq, &log.label)
        );
        let page = back.read(back.state().first_seq, 100, i64::MAX).unwrap();
        let seqs: Vec<u64> = page.records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (0..5).map(|n| log.start_seq + n).collect::<Vec<_>>());
        // After the last record read before the restart: nothing yet, then exactly the new one.
        let after = seqs[4] + 1;
        let empty = back.read(after, 100, i64::MAX).unwrap();
        assert!(empty.records.is_empty());
        assert_eq!(empty.next, Some(after));
        // Not attached to a commit thread: no copy for the store.
        assert!(
            back.append(keys("n"), None, Some(&item("n", "y")), Origin::Request)
                .is_none()
        );
        let next = back.read(after, 100, i64::MAX).unwrap();
        assert_eq!(next.records.len(), 1);
        let new = &next.records[0];
        assert!(new.seq > seqs[4]);
        assert!(new.seq >= u64::try_from(now_ms() - 1000).unwrap() * 1_000_000);
    }

    #[test]
    fn a_restored_closed_log_ends_where_it_ended_and_old_records_are_trimmed() {
        let log = log(ViewType::KeysOnly);
        log.append(keys("a"), None, Some(&item("a", "1")), Origin::Request);
        log.append(keys("b"), None, Some(&item("b", "1")), Origin::Request);
        log.close();
        let (meta, mut records) = log.snapshot();
        let closed = meta.closed;
        // The first record is more than 24 hours old by now.
        records[0].at_ms -= RETENTION.as_millis() as i64 + 1;
        let back = StreamLog::restore(meta, records);
        let state = back.state();
        assert_eq!(state.closed, closed);
        assert_eq!(state.first_seq, log.start_seq + 1);
        assert_eq!(state.next_seq, log.start_seq + 2);
        assert!(matches!(
            back.read(log.start_seq, 9, 1),
            Err(ReadError::Trimmed)
        ));
        let page = back.read(state.first_seq, 9, i64::MAX).unwrap();
        assert_eq!(page.records.len(), 1);
        // The trimmed record's stored copy is deleted (nothing is attached: the deletion is
        // handed out as operations).
        let ops = back.records_delete_ops();
        let keys: Vec<String> = ops
            .iter()
            .filter_map(|op| match op {
                Op::DeleteRecord(k) => Some(k.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            keys,
            [
                stored::record_key(&back.store_id(), log.start_seq),
                stored::record_key(&back.store_id(), log.start_seq + 1)
            ]
        );
    }

    #[test]
    fn housekeeping_deletes_trimmed_records_in_one_commit() {
        let store = skyport_core::store::Store::in_memory().unwrap();
        let persist = Persister::start(store.clone()).unwrap();
        let log = log(ViewType::KeysOnly);
        log.attach(persist.clone());
        let mut ops = Vec::new();
        for n in 0..3 {
            let r = log
                .append(
                    keys(&n.to_string()),
                    None,
                    Some(&item("a", "1")),
                    Origin::Request,
                )
                .unwrap();
            ops.push(stored::record_op(&log.store_id(), &r, None));
        }
        ops.push(log.meta_op());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(crate::persist::wait(persist.submit(ops)))
            .unwrap();
        let count = |store: &skyport_core::store::Store| {
            store
                .read(|r| {
                    let mut n = 0;
                    r.visit(stored::STREAM_RECORDS, |_, _| {
                        n += 1;
                        Ok(())
                    })?;
                    Ok(n)
                })
                .unwrap()
        };
        assert_eq!(count(&store), 3);
        assert!(log.housekeep(false).is_none(), "nothing trimmed yet");
        {
            let mut shard = log.lock();
            shard.records[0].at_ms -= RETENTION.as_millis() as i64 + 1;
            shard.records[1].at_ms -= RETENTION.as_millis() as i64 + 1;
        }
        rt.block_on(crate::persist::wait(log.housekeep(false).unwrap()))
            .unwrap();
        assert_eq!(count(&store), 1);
        let meta = store
            .get(stored::STREAMS, &log.store_id())
            .unwrap()
            .unwrap();
        assert_eq!(
            stored::decode_meta(&meta).unwrap().first_seq,
            log.start_seq + 2
        );
        log.close();
        rt.block_on(crate::persist::wait(log.housekeep(true).unwrap()))
            .unwrap();
        assert_eq!(count(&store), 0);
        assert!(
            store
                .get(stored::STREAMS, &log.store_id())
                .unwrap()
                .is_none()
        );
    }
}

//! One table stream's records: an append-only log with one shard, sequence numbers, trimming after
//! 24 hours, and the shard iterators that point into it.
//!
//! Every change of an item appends a [`StreamRecord`] holding the key and, as the stream's view type
//! asks, the old and new images (shared with the table, not copied). Sequence numbers grow across
//! restarts (they start from the log's creation time), and are rendered as AWS's 21-digit decimal
//! strings. Records older than 24 hours, or beyond [`MAX_RECORDS`] per stream, are trimmed; a closed
//! log (its stream disabled or its table deleted) stays readable for 24 hours.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;

use crate::attr::{Item, item_size};

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
    /// The key attributes.
    pub keys: Item,
    /// The item before the change, when the view type keeps it.
    pub old: Option<Arc<Item>>,
    /// The item after the change, when the view type keeps it.
    pub new: Option<Arc<Item>>,
    /// Who made the change.
    pub origin: Origin,
}

impl StreamRecord {
    /// `SizeBytes`: the key and images, counted as item sizes are.
    pub fn size(&self) -> i64 {
        (item_size(&self.keys)
            + self.old.as_deref().map_or(0, item_size)
            + self.new.as_deref().map_or(0, item_size)) as i64
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
}

/// A table's stream.
#[derive(Debug)]
pub struct StreamLog {
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
    pub fn new(table_arn: &str, label: &str, view: ViewType, key_names: Vec<String>) -> StreamLog {
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
            }),
            appended: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shard> {
        self.shard.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn trim(shard: &mut Shard, now: i64) {
        let horizon = now - RETENTION.as_millis() as i64;
        while let Some(first) = shard.records.front() {
            if first.at_ms >= horizon && shard.records.len() <= MAX_RECORDS {
                break;
            }
            shard.first_seq = first.seq + 1;
            shard.records.pop_front();
        }
    }

    /// Appends the change of the item with `keys` from `old` to `new` (nothing when the item did
    /// not change, as on AWS, or when the stream is closed).
    pub fn append(
        &self,
        keys: Item,
        old: Option<&Arc<Item>>,
        new: Option<&Arc<Item>>,
        origin: Origin,
    ) {
        let event = match (old, new) {
            (None, None) => return,
            (Some(o), Some(n)) if o == n => return,
            (None, Some(_)) => EventName::Insert,
            (Some(_), Some(_)) => EventName::Modify,
            (Some(_), None) => EventName::Remove,
        };
        let now = now_ms();
        {
            let mut shard = self.lock();
            if shard.closed.is_some() {
                return;
            }
            let seq = shard.next_seq;
            shard.next_seq += 1;
            shard.records.push_back(StreamRecord {
                seq,
                event_id: skyport_core::ids::random_string(b"0123456789abcdef", 32),
                event,
                at_ms: now,
                keys,
                old: old.filter(|_| self.view.old_image()).cloned(),
                new: new.filter(|_| self.view.new_image()).cloned(),
                origin,
            });
            Self::trim(&mut shard, now);
        }
        self.appended.notify_waiters();
    }

    /// Closes the shard (the stream was disabled or its table deleted).
    pub fn close(&self) {
        {
            let mut shard = self.lock();
            if shard.closed.is_none() {
                let last = shard.next_seq.saturating_sub(1);
                shard.closed = Some((now_ms(), last));
            }
        }
        self.appended.notify_waiters();
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
        let skip = usize::try_from(seq - shard.first_seq).unwrap_or(usize::MAX);
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

    fn item(id: &str, v: &str) -> Arc<Item> {
        let mut i = Item::new();
        i.insert("id".into(), Av::S(id.into()));
        i.insert("v".into(), Av::S(v.into()));
        Arc::new(i)
    }

    fn keys(id: &str) -> Item {
        let mut i = Item::new();
        i.insert("id".into(), Av::S(id.into()));
        i
    }

    fn log(view: ViewType) -> StreamLog {
        StreamLog::new(
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
        assert_eq!(page.records[1].new.as_deref(), Some(&*b));
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
}

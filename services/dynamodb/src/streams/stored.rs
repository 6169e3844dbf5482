//! Stream logs in the state store (`PERSISTENCE=1`, and state snapshots): how a log's description and
//! its records are keyed and encoded.
//!
//! Two store tables:
//!
//! - `streams`: `<table uid, 16 hex>/<stream label>` → [`LogMeta`] JSON: the ARN, label, shard id,
//!   first sequence number, view type, key names, the trim horizon and, once closed, when and at
//!   which sequence number. Written when the stream starts, when it closes, and when trimmed records
//!   are deleted; removed 24 hours after it closed.
//! - `stream_records`: `<log id>/<sequence number, 20 digits>` → one record as JSON
//!   (`{"id", "ev", "at", "k", "o", "n", "ttl"}`: event id, `INSERT`/`MODIFY`/`REMOVE`, milliseconds
//!   since the epoch, then keys and images in DynamoDB JSON, and whether TTL made it). Zero-padded
//!   numbers make a log's records one key range in sequence order. A record is written in the commit
//!   of the item change that made it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::log::{EventName, Origin, StreamRecord, ViewType};
use crate::attr::{item_from_json, item_to_json};
use crate::packed::Packed;
use crate::persist::Op;

/// The store table of stream descriptions.
pub const STREAMS: &str = "streams";
/// The store table of stream records.
pub const STREAM_RECORDS: &str = "stream_records";

/// A stored record or description could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The key is not `<log id>/<20 digits>`.
    #[error("not a stream record key: {0}")]
    Key(String),
    /// The value is not JSON of the expected shape.
    #[error("unreadable stream record or description: {0}")]
    Json(#[from] serde_json::Error),
    /// An event name, key or image that is not what a record holds.
    #[error("unreadable stream record: {0}")]
    Record(&'static str),
}

/// A log's description as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogMeta {
    /// The table's uid.
    pub uid: u64,
    /// `StreamArn`.
    pub arn: String,
    /// `StreamLabel`.
    pub label: String,
    /// The table's name.
    pub table: String,
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
    /// `StreamViewType`.
    #[serde(with = "view_type")]
    pub view: ViewType,
    /// The key attribute names.
    pub key_names: Vec<String>,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
    /// The shard's id.
    pub shard_id: String,
    /// The shard's first sequence number.
    pub start_seq: u64,
    /// The trim horizon when this was written.
    pub first_seq: u64,
    /// When it closed, and its last sequence number.
    #[serde(default)]
    pub closed: Option<(i64, u64)>,
}

mod view_type {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::streams::log::ViewType;

    pub fn serialize<S: Serializer>(v: &ViewType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ViewType, D::Error> {
        let text = String::deserialize(d)?;
        ViewType::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not a StreamViewType: {text}")))
    }
}

/// The id of a table's stream with `label`: its description's key and its records' key prefix.
pub fn log_id(uid: u64, label: &str) -> String {
    format!("{uid:016x}/{label}")
}

/// The key of record `seq` of log `id`.
pub fn record_key(id: &str, seq: u64) -> String {
    format!("{id}/{seq:020}")
}

/// Splits a record key into the log id and the sequence number.
pub fn parse_record_key(key: &str) -> Result<(&str, u64), DecodeError> {
    let (id, seq) = key
        .rsplit_once('/')
        .filter(|(_, seq)| seq.len() == 20)
        .ok_or_else(|| DecodeError::Key(key.to_owned()))?;
    let seq = seq.parse().map_err(|_| DecodeError::Key(key.to_owned()))?;
    Ok((id, seq))
}

/// The store operation writing a log's description.
pub fn meta_op(meta: &LogMeta) -> Op {
    Op::PutStream(
        log_id(meta.uid, &meta.label),
        serde_json::to_vec(meta).unwrap_or_default(),
    )
}

/// Reads a stored description.
pub fn decode_meta(value: &[u8]) -> Result<LogMeta, DecodeError> {
    Ok(serde_json::from_slice(value)?)
}

#[derive(Serialize, Deserialize)]
struct Stored {
    id: String,
    ev: String,
    at: i64,
    k: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    o: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    ttl: bool,
}

/// A record's stored value.
pub fn encode_record(r: &StreamRecord) -> Vec<u8> {
    encode_with(r, None)
}

/// A record's stored value; `new_json`, when given, is its new image already encoded (the item's
/// own store value: the image is the item), spliced in instead of encoding it again.
fn encode_with(r: &StreamRecord, new_json: Option<&[u8]>) -> Vec<u8> {
    let stored = Stored {
        id: r.event_id.clone(),
        ev: r.event.as_str().to_owned(),
        at: r.at_ms,
        k: item_to_json(&r.keys.item()),
        o: r.old.as_ref().map(|p| item_to_json(&p.item())),
        n: match new_json {
            Some(_) => None,
            None => r.new.as_ref().map(|p| item_to_json(&p.item())),
        },
        ttl: r.origin == Origin::Ttl,
    };
    let mut out = serde_json::to_vec(&stored).unwrap_or_default();
    if let (Some(json), Some(_)) = (new_json, &r.new)
        && out.last() == Some(&b'}')
    {
        out.pop();
        out.extend_from_slice(b",\"n\":");
        out.extend_from_slice(json);
        out.push(b'}');
    }
    out
}

/// The store operation writing record `r` of log `id`; `item_json` is the stored value of the item
/// the change wrote, when it wrote one (reused as the new image).
pub fn record_op(id: &str, r: &StreamRecord, item_json: Option<&[u8]>) -> Op {
    Op::PutRecord(record_key(id, r.seq), encode_with(r, item_json))
}

/// Reads record `seq` from its stored value.
pub fn decode_record(seq: u64, value: &[u8]) -> Result<StreamRecord, DecodeError> {
    let stored: Stored = serde_json::from_slice(value)?;
    let event = match stored.ev.as_str() {
        "INSERT" => EventName::Insert,
        "MODIFY" => EventName::Modify,
        "REMOVE" => EventName::Remove,
        _ => return Err(DecodeError::Record("event name")),
    };
    let image = |v: Option<Value>| -> Result<_, DecodeError> {
        v.map(|v| {
            item_from_json(&v)
                .map(|i| Packed::new(&i))
                .ok_or(DecodeError::Record("image"))
        })
        .transpose()
    };
    Ok(StreamRecord {
        seq,
        event_id: stored.id,
        event,
        at_ms: stored.at,
        keys: Packed::new(&item_from_json(&stored.k).ok_or(DecodeError::Record("keys"))?),
        old: image(stored.o)?,
        new: image(stored.n)?,
        origin: if stored.ttl {
            Origin::Ttl
        } else {
            Origin::Request
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::{Av, Item};

    fn record(seq: u64, old: Option<Item>, new: Option<Item>, origin: Origin) -> StreamRecord {
        let mut keys = Item::new();
        keys.insert("id".into(), Av::S("a".into()));
        StreamRecord {
            seq,
            event_id: "0123456789abcdef0123456789abcdef".into(),
            event: match (&old, &new) {
                (None, _) => EventName::Insert,
                (Some(_), Some(_)) => EventName::Modify,
                (Some(_), None) => EventName::Remove,
            },
            at_ms: 1_700_000_000_123,
            keys: Packed::new(&keys),
            old: old.map(|i| Packed::new(&i)),
            new: new.map(|i| Packed::new(&i)),
            origin,
        }
    }

    fn item(v: Av) -> Item {
        let mut i = Item::new();
        i.insert("id".into(), Av::S("a".into()));
        i.insert("v".into(), v);
        i
    }

    fn same(a: &StreamRecord, b: &StreamRecord) {
        assert_eq!(
            (a.seq, &a.event_id, a.event, a.at_ms, &a.keys),
            (b.seq, &b.event_id, b.event, b.at_ms, &b.keys)
        );
        assert_eq!((&a.old, &a.new, a.origin), (&b.old, &b.new, b.origin));
    }

    #[test]
    fn records_round_trip_with_every_image_and_origin() {
        let nested = Av::M(item(Av::L(vec![
            Av::N("1.5".into()),
            Av::Bool(true),
            Av::Null,
            Av::Ss(vec!["x".into(), "y".into()]),
        ])));
        let cases = [
            record(1, None, Some(item(nested.clone())), Origin::Request),
            record(
                2,
                Some(item(nested)),
                Some(item(Av::N("2".into()))),
                Origin::Request,
            ),
            record(3, Some(item(Av::N("2".into()))), None, Origin::Ttl),
            record(4, None, None, Origin::Request),
        ];
        for r in &cases {
            let back = decode_record(r.seq, &encode_record(r)).unwrap();
            same(r, &back);
            // With the new image given as the item's stored value: the same record.
            let item_json = r
                .new
                .as_ref()
                .map(|n| serde_json::to_vec(&item_to_json(&n.item())).unwrap());
            let Op::PutRecord(key, value) = record_op("x", r, item_json.as_deref()) else {
                panic!("not a PutRecord");
            };
            assert_eq!(key, record_key("x", r.seq));
            same(r, &decode_record(r.seq, &value).unwrap());
        }
        // Absent images and the request origin take no room.
        let text = String::from_utf8(encode_record(&cases[3])).unwrap();
        assert!(!text.contains("\"o\"") && !text.contains("\"n\"") && !text.contains("ttl"));
    }

    #[test]
    fn record_keys_sort_in_sequence_order_and_parse_back() {
        let id = log_id(0xab, "2026-01-01T00:00:00.000");
        assert_eq!(id, "00000000000000ab/2026-01-01T00:00:00.000");
        let (a, b) = (record_key(&id, 9), record_key(&id, 10));
        assert!(a < b, "{a} < {b}");
        let big = record_key(&id, 1_765_000_000_000_000_000);
        assert!(b < big);
        assert_eq!(
            parse_record_key(&big).unwrap(),
            (id.as_str(), 1_765_000_000_000_000_000)
        );
        assert!(parse_record_key("x/12").is_err());
        assert!(parse_record_key("no-slash").is_err());
        assert!(parse_record_key(&format!("{id}/0000000000000000000x")).is_err());
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        assert!(decode_record(1, b"not json").is_err());
        assert!(decode_record(1, br#"{"id":"x","ev":"UPSERT","at":1,"k":{}}"#).is_err());
        assert!(
            decode_record(
                1,
                br#"{"id":"x","ev":"INSERT","at":1,"k":{"id":{"Q":"1"}}}"#
            )
            .is_err()
        );
        assert!(decode_meta(b"{}").is_err());
    }

    #[test]
    fn descriptions_round_trip() {
        let meta = LogMeta {
            uid: 7,
            arn: "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026-01-01T00:00:00.000"
                .into(),
            label: "2026-01-01T00:00:00.000".into(),
            table: "t".into(),
            account: "000000000000".into(),
            region: "us-east-1".into(),
            view: ViewType::NewAndOldImages,
            key_names: vec!["id".into(), "sk".into()],
            created_ms: 1,
            shard_id: "shardId-00000000000000000001-0123abcd".into(),
            start_seq: 1_000_000,
            first_seq: 1_000_005,
            closed: Some((9, 1_000_010)),
        };
        let Op::PutStream(key, value) = meta_op(&meta) else {
            panic!("not a PutStream");
        };
        assert_eq!(key, log_id(7, &meta.label));
        assert_eq!(decode_meta(&value).unwrap(), meta);
        assert!(
            String::from_utf8(value)
                .unwrap()
                .contains("\"NEW_AND_OLD_IMAGES\"")
        );
    }
}

//! The canonical value: an operation's input or output as the model describes it, independent of the
//! protocol it travelled in. The codecs turn wire bytes into a [`Value`] and back; the generated types
//! of each service convert from and into it ([`crate::typed`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// A point in time with nanosecond precision (AWS timestamps carry at most milliseconds on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Seconds since the Unix epoch (negative before it).
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

impl Timestamp {
    /// Now.
    pub fn now() -> Timestamp {
        Timestamp::from(SystemTime::now())
    }

    /// From whole seconds.
    pub fn from_secs(secs: i64) -> Timestamp {
        Timestamp { secs, nanos: 0 }
    }

    /// From milliseconds since the epoch.
    pub fn from_millis(millis: i64) -> Timestamp {
        Timestamp {
            secs: millis.div_euclid(1000),
            nanos: u32::try_from(millis.rem_euclid(1000)).unwrap_or(0) * 1_000_000,
        }
    }

    /// From fractional seconds (the JSON protocols' form), rounded to milliseconds as AWS does.
    pub fn from_f64(secs: f64) -> Timestamp {
        Timestamp::from_millis((secs * 1000.0).round() as i64)
    }

    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.secs * 1000 + i64::from(self.nanos / 1_000_000)
    }

    /// Fractional seconds.
    pub fn as_f64(self) -> f64 {
        self.secs as f64 + f64::from(self.nanos) / 1e9
    }

    /// As a `time` date-time in UTC.
    pub fn to_offset(self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(self.secs)
            .map(|t| t + time::Duration::nanoseconds(i64::from(self.nanos)))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Timestamp {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp {
                secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanos: d.subsec_nanos(),
            },
            Err(e) => {
                let d = e.duration();
                let mut secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                let mut nanos = d.subsec_nanos();
                if nanos > 0 {
                    secs -= 1;
                    nanos = 1_000_000_000 - nanos;
                }
                Timestamp { secs, nanos }
            }
        }
    }
}

impl From<Timestamp> for SystemTime {
    fn from(t: Timestamp) -> SystemTime {
        if t.secs >= 0 {
            UNIX_EPOCH + Duration::new(t.secs.unsigned_abs(), t.nanos)
        } else {
            UNIX_EPOCH - Duration::from_secs(t.secs.unsigned_abs())
                + Duration::from_nanos(u64::from(t.nanos))
        }
    }
}

/// A canonical value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An explicit null (JSON `null` inside documents and sparse collections).
    Null,
    /// `boolean`.
    Bool(bool),
    /// `integer`, `long`.
    Integer(i64),
    /// `float`, `double` (also NaN and the infinities).
    Float(f64),
    /// `string` (enums too).
    String(String),
    /// `timestamp`.
    Timestamp(Timestamp),
    /// `blob`.
    Blob(Bytes),
    /// `list`.
    List(Vec<Value>),
    /// `map`, in wire order.
    Map(Vec<(String, Value)>),
    /// `structure` (and unions): members that are set, in the order they were set.
    Struct(Struct),
    /// A document: free-form JSON.
    Document(serde_json::Value),
}

impl Value {
    /// The value as plain JSON named by model member names (structures as objects, lists as arrays,
    /// maps as objects, timestamps as RFC 3339 text, blobs as their length): what authorization reads.
    pub fn to_plain_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Integer(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::String(s) => J::String(s.clone()),
            Value::Timestamp(t) => J::String(format!("{t:?}")),
            Value::Blob(b) => J::from(b.len()),
            Value::List(items) => J::Array(items.iter().map(Value::to_plain_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_plain_json()))
                    .collect(),
            ),
            Value::Struct(s) => J::Object(
                s.iter()
                    .map(|(k, v)| (k.to_string(), v.to_plain_json()))
                    .collect(),
            ),
            Value::Document(d) => d.clone(),
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The structure, if this is one.
    pub fn as_struct(&self) -> Option<&Struct> {
        match self {
            Value::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// A short kind name for diagnostics.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Integer(_) => "integer",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Timestamp(_) => "timestamp",
            Value::Blob(_) => "blob",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Struct(_) => "structure",
            Value::Document(_) => "document",
        }
    }
}

/// The members of a structure that are set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Struct {
    fields: Vec<(String, Value)>,
}

impl Struct {
    /// An empty structure.
    pub fn new() -> Struct {
        Struct { fields: Vec::new() }
    }

    /// With room for `n` members.
    pub fn with_capacity(n: usize) -> Struct {
        Struct {
            fields: Vec::with_capacity(n),
        }
    }

    /// Sets `name` (replacing an earlier value).
    pub fn insert(&mut self, name: impl Into<String>, value: Value) {
        let name = name.into();
        match self.fields.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((name, value)),
        }
    }

    /// Sets `name` unless `value` is `None`.
    pub fn insert_opt(&mut self, name: &str, value: Option<Value>) {
        if let Some(value) = value {
            self.insert(name, value);
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The value of `name`, mutably.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.fields
            .iter_mut()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Removes and returns `name`.
    pub fn take(&mut self, name: &str) -> Option<Value> {
        let i = self.fields.iter().position(|(k, _)| k == name)?;
        Some(self.fields.swap_remove(i).1)
    }

    /// Whether `name` is set.
    pub fn contains(&self, name: &str) -> bool {
        self.fields.iter().any(|(k, _)| k == name)
    }

    /// The members that are set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The number of members set.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether no member is set.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl FromIterator<(String, Value)> for Struct {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Struct {
        let mut s = Struct::new();
        for (k, v) in iter {
            s.insert(k, v);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let t = Timestamp::from_f64(1_573_306_481.123);
        assert_eq!(t.secs, 1_573_306_481);
        assert_eq!(t.nanos, 123_000_000);
        assert_eq!(t.millis(), 1_573_306_481_123);
        let before = Timestamp::from_millis(-1500);
        assert_eq!((before.secs, before.nanos), (-2, 500_000_000));
        assert_eq!(Timestamp::from(SystemTime::from(before)), before);
        assert_eq!(Timestamp::from(SystemTime::from(t)), t);
    }

    #[test]
    fn structs() {
        let mut s = Struct::new();
        s.insert("A", Value::Integer(1));
        s.insert("B", Value::Bool(true));
        s.insert("A", Value::Integer(2));
        assert_eq!(s.len(), 2);
        assert_eq!(s.get("A"), Some(&Value::Integer(2)));
        assert_eq!(s.take("A"), Some(Value::Integer(2)));
        assert!(!s.contains("A"));
    }
}

//! Conversions between canonical values and the Rust types generated from the models
//! (`models/codegen.py` writes one `shapes.rs` per service from these traits).

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::error::ApiError;
use crate::value::{Struct, Timestamp, Value};

/// A value that did not have the type the generated code expected.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ConvertError(pub String);

impl From<ConvertError> for ApiError {
    fn from(e: ConvertError) -> ApiError {
        ApiError::with_status(http::StatusCode::BAD_REQUEST, "SerializationException", e.0)
    }
}

/// Built from a canonical value.
pub trait FromValue: Sized {
    /// Converts, failing on a value of another kind.
    fn from_value(value: Value) -> Result<Self, ConvertError>;
}

/// Turned into a canonical value.
pub trait IntoValue {
    /// Converts.
    fn into_value(self) -> Value;
}

fn wrong(expected: &str, got: &Value) -> ConvertError {
    ConvertError(format!("expected {expected}, got {}", got.kind()))
}

impl FromValue for String {
    fn from_value(value: Value) -> Result<Self, ConvertError> {
        match value {
            Value::String(s) => Ok(s),
            other => Err(wrong("a string", &other)),
        }
    }
}

impl IntoValue for String {
    fn into_value(self) -> Value {
        Value::String(self)
    }
}

impl IntoValue for &str {
    fn into_value(self) -> Value {
        Value::String(self.to_owned())
    }
}

impl FromValue for bool {
    fn from_value(value: Value) -> Result<Self, ConvertError> {
        match value {
            Value::Bool(b) => Ok(b),
            other => Err(wrong("a boolean", &other)),
        }
    }
}

impl IntoValue for bool {
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
}

impl FromValue for i32 {
    fn from_value(value: Value) -> Result<Self, ConvertError> {
        match value {
            Value::Integer(i) => {
                i32::try_from(i).map_err(|_| ConvertError(format!("{i} is out of range")))
            }
            other => Err(wrong("an integer", &other)),
        }
    }
}

impl IntoValue for i32 {
    fn into_value(self) -> Value {
        Value::Integer(i64::from(self))
    }
}

impl FromValue for i64 {
    fn from_value(value: Value) -> Result<Self, ConvertError> {
        match value {
            Value::Integer(i) => Ok(i),
            other => Err(wrong("an integer", &other)),
        }
    }
}

impl IntoValue for i64 {
    fn into_value(self) -> Value {
        Value::Integer(self)
    }
}

impl FromValue for f64 {
    fn from_value(value: Value) -> Result<Self, ConvertError> {
        match value {
            Value::Float(f) => Ok(f),
            Value::Integer(i) => Ok(i as f64),
            other => Err(wrong("a number", &other)),
        }
    }
}

impl IntoValue for f64 {
    fn into_value(self) -> Value {
        Value::Float(self)
    }
}

impl FromValue for f32 {
    fn from_value(value: Value) -> Result<Self, ConvertError> {
        f64::from_value(value).map(|f| f as f32)
    }
}

impl IntoValue for f32 {
    fn into_value(self) -> Value {
        Value::Float(f64::from(self))
    }
}

impl FromValue for Timestamp {
    fn from_value(value: Value) -> Result<Self, ConvertError> {
        match value {
            Value::Timestamp(t) => Ok(t),
            other => Err(wrong("a timestamp", &other)),
        }
    }
}

impl IntoValue for Timestamp {
    fn into_value(self) -> Value {
        Value::Timestamp(self)
    }
}

impl FromValue for Bytes {
    fn from_value(value: Value) -> Result<Self, ConvertError> {
        match value {
            Value::Blob(b) => Ok(b),
            other => Err(wrong("a blob", &other)),
        }
    }
}

impl IntoValue for Bytes {
    fn into_value(self) -> Value {
        Value::Blob(self)
    }
}

impl FromValue for serde_json::Value {
    fn from_value(value: Value) -> Result<Self, ConvertError> {
        match value {
            Value::Document(d) => Ok(d),
            other => Ok(crate::json::plain(&other)),
        }
    }
}

impl IntoValue for serde_json::Value {
    fn into_value(self) -> Value {
        Value::Document(self)
    }
}

impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(value: Value) -> Result<Self, ConvertError> {
        match value {
            Value::List(items) => items
                .into_iter()
                .filter(|v| !matches!(v, Value::Null))
                .map(T::from_value)
                .collect(),
            other => Err(wrong("a list", &other)),
        }
    }
}

impl<T: IntoValue> IntoValue for Vec<T> {
    fn into_value(self) -> Value {
        Value::List(self.into_iter().map(IntoValue::into_value).collect())
    }
}

impl<T: FromValue> FromValue for BTreeMap<String, T> {
    fn from_value(value: Value) -> Result<Self, ConvertError> {
        match value {
            Value::Map(entries) => entries
                .into_iter()
                .filter(|(_, v)| !matches!(v, Value::Null))
                .map(|(k, v)| Ok((k, T::from_value(v)?)))
                .collect(),
            other => Err(wrong("a map", &other)),
        }
    }
}

impl<T: IntoValue> IntoValue for BTreeMap<String, T> {
    fn into_value(self) -> Value {
        Value::Map(self.into_iter().map(|(k, v)| (k, v.into_value())).collect())
    }
}

impl<T: FromValue> FromValue for Box<T> {
    fn from_value(value: Value) -> Result<Self, ConvertError> {
        T::from_value(value).map(Box::new)
    }
}

impl<T: IntoValue> IntoValue for Box<T> {
    fn into_value(self) -> Value {
        (*self).into_value()
    }
}

impl FromValue for Value {
    fn from_value(value: Value) -> Result<Self, ConvertError> {
        Ok(value)
    }
}

impl IntoValue for Value {
    fn into_value(self) -> Value {
        self
    }
}

/// A structure being taken apart by generated code.
#[derive(Debug)]
pub struct Fields(Struct);

impl Fields {
    /// The members of a structure value.
    pub fn new(value: Value) -> Result<Fields, ConvertError> {
        match value {
            Value::Struct(s) => Ok(Fields(s)),
            other => Err(wrong("a structure", &other)),
        }
    }

    /// A member that must be set (validation guarantees it for inputs).
    pub fn required<T: FromValue + Default>(&mut self, name: &str) -> Result<T, ConvertError> {
        Ok(self.optional(name)?.unwrap_or_default())
    }

    /// A member that may be absent.
    pub fn optional<T: FromValue>(&mut self, name: &str) -> Result<Option<T>, ConvertError> {
        match self.0.take(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => T::from_value(v)
                .map(Some)
                .map_err(|e| ConvertError(format!("{name}: {}", e.0))),
        }
    }
}

/// A structure being put together by generated code.
#[derive(Debug, Default)]
pub struct Builder(Struct);

impl Builder {
    /// With room for `n` members.
    pub fn new(n: usize) -> Builder {
        Builder(Struct::with_capacity(n))
    }

    /// Sets a member.
    pub fn set<T: IntoValue>(&mut self, name: &str, value: T) {
        self.0.insert(name, value.into_value());
    }

    /// Sets a member when present.
    pub fn opt<T: IntoValue>(&mut self, name: &str, value: Option<T>) {
        if let Some(v) = value {
            self.0.insert(name, v.into_value());
        }
    }

    /// The structure value.
    pub fn build(self) -> Value {
        Value::Struct(self.0)
    }
}

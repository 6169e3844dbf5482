//! JSON bodies (awsJson 1.0/1.1 and REST-JSON): canonical values from and to JSON, shape by shape.
//! Timestamps default to epoch seconds, blobs are base64, documents pass through, floats spell their
//! special values `NaN`, `Infinity` and `-Infinity`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value as Json};

use crate::WireError;
use crate::model::{Kind, Location, Model, ShapeId, TimestampFormat};
use crate::scalar;
use crate::timestamp;
use crate::value::{Struct, Value};

fn mismatch(expected: &str, got: &Json) -> WireError {
    let kind = match got {
        Json::Null => "NULL_VALUE",
        Json::Bool(_) => "BOOLEAN_VALUE",
        Json::Number(_) => "NUMBER_VALUE",
        Json::String(_) => "STRING_VALUE",
        Json::Array(_) => "START_ARRAY",
        Json::Object(_) => "START_OBJECT",
    };
    WireError::Serialization(format!("{kind} can not be converted to {expected}"))
}

/// Reads a value of `shape` from JSON. `format` is the timestamp format in force (the member's, or the
/// protocol's default).
pub fn read(
    model: &Model,
    shape_id: ShapeId,
    json: &Json,
    format: Option<TimestampFormat>,
) -> Result<Value, WireError> {
    let shape = model.shape(shape_id);
    if json.is_null() {
        return Ok(Value::Null);
    }
    Ok(match &shape.kind {
        Kind::Structure(st) if st.document => Value::Document(json.clone()),
        Kind::Structure(st) => {
            let Json::Object(object) = json else {
                return Err(mismatch("a structure", json));
            };
            let mut fields = Struct::with_capacity(object.len());
            for member in &st.members {
                if !matches!(member.location, Location::Body) {
                    continue;
                }
                if let Some(v) = object.get(member.wire()) {
                    let fmt = member.timestamp_format.or(format);
                    let value = read(model, member.target, v, fmt)?;
                    if !matches!(value, Value::Null) {
                        fields.insert(member.name.clone(), value);
                    }
                }
            }
            Value::Struct(fields)
        }
        Kind::List { member, .. } => {
            let Json::Array(items) = json else {
                return Err(mismatch("a list", json));
            };
            let fmt = member.timestamp_format.or(format);
            Value::List(
                items
                    .iter()
                    .map(|item| read(model, member.target, item, fmt))
                    .collect::<Result<_, _>>()?,
            )
        }
        Kind::Map { value, .. } => {
            let Json::Object(object) = json else {
                return Err(mismatch("a map", json));
            };
            let fmt = value.timestamp_format.or(format);
            Value::Map(
                object
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), read(model, value.target, v, fmt)?)))
                    .collect::<Result<_, WireError>>()?,
            )
        }
        Kind::String { .. } => match json {
            Json::String(s) => Value::String(s.clone()),
            other => return Err(mismatch("String", other)),
        },
        Kind::Boolean => match json {
            Json::Bool(b) => Value::Bool(*b),
            other => return Err(mismatch("Boolean", other)),
        },
        Kind::Integer | Kind::Long => match json.as_i64() {
            Some(n) if matches!(shape.kind, Kind::Long) || i32::try_from(n).is_ok() => {
                Value::Integer(n)
            }
            _ => return Err(mismatch("Integer", json)),
        },
        Kind::Float | Kind::Double => match json {
            Json::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            Json::String(s) => Value::Float(
                scalar::parse_float(s)
                    .filter(|f| !f.is_finite())
                    .ok_or_else(|| mismatch("Double", json))?,
            ),
            other => return Err(mismatch("Double", other)),
        },
        Kind::Timestamp => {
            let fmt = format
                .or(shape.timestamp_format)
                .unwrap_or(TimestampFormat::UnixTimestamp);
            match json {
                Json::Number(n) => {
                    Value::Timestamp(crate::value::Timestamp::from_f64(n.as_f64().unwrap_or(0.0)))
                }
                Json::String(s) => Value::Timestamp(
                    timestamp::parse_text(s, fmt).ok_or_else(|| mismatch("Date", json))?,
                ),
                other => return Err(mismatch("Date", other)),
            }
        }
        Kind::Blob => match json {
            Json::String(s) => Value::Blob(
                STANDARD
                    .decode(s)
                    .map_err(|_| {
                        WireError::Serialization(
                            "Base64 encoded value is not valid base64".to_owned(),
                        )
                    })?
                    .into(),
            ),
            other => return Err(mismatch("Blob", other)),
        },
    })
}

/// Writes a value of `shape` as JSON.
pub fn write(
    model: &Model,
    shape_id: ShapeId,
    value: &Value,
    format: Option<TimestampFormat>,
) -> Json {
    let shape = model.shape(shape_id);
    match (value, &shape.kind) {
        (Value::Struct(fields), Kind::Structure(st)) => {
            let mut object = Map::new();
            for member in &st.members {
                if !crate::xml::in_body(member) {
                    continue;
                }
                if let Some(v) = fields.get(&member.name) {
                    let fmt = member.timestamp_format.or(format);
                    object.insert(
                        member.wire().to_owned(),
                        write(model, member.target, v, fmt),
                    );
                }
            }
            Json::Object(object)
        }
        (Value::List(items), Kind::List { member, .. }) => {
            let fmt = member.timestamp_format.or(format);
            Json::Array(
                items
                    .iter()
                    .map(|item| write(model, member.target, item, fmt))
                    .collect(),
            )
        }
        (Value::Map(entries), Kind::Map { value: v, .. }) => {
            let fmt = v.timestamp_format.or(format);
            Json::Object(
                entries
                    .iter()
                    .map(|(k, item)| (k.clone(), write(model, v.target, item, fmt)))
                    .collect(),
            )
        }
        (Value::Timestamp(t), _) => {
            match format
                .or(shape.timestamp_format)
                .unwrap_or(TimestampFormat::UnixTimestamp)
            {
                TimestampFormat::UnixTimestamp => timestamp::epoch_json(*t),
                TimestampFormat::Iso8601 => Json::String(timestamp::iso8601(*t)),
                TimestampFormat::Rfc822 => Json::String(timestamp::rfc822(*t)),
            }
        }
        _ => plain(value),
    }
}

/// A value written without a shape to guide it (documents, and values whose shape does not match).
pub fn plain(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Integer(i) => Json::from(*i),
        Value::Float(f) if f.is_finite() => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                Json::from(*f as i64)
            } else {
                serde_json::Number::from_f64(*f)
                    .map(Json::Number)
                    .unwrap_or(Json::Null)
            }
        }
        Value::Float(f) => Json::String(scalar::float_text(*f)),
        Value::String(s) => Json::String(s.clone()),
        Value::Timestamp(t) => timestamp::epoch_json(*t),
        Value::Blob(b) => Json::String(STANDARD.encode(b)),
        Value::List(items) => Json::Array(items.iter().map(plain).collect()),
        Value::Map(entries) => {
            Json::Object(entries.iter().map(|(k, v)| (k.clone(), plain(v))).collect())
        }
        Value::Struct(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| (k.to_owned(), plain(v)))
                .collect(),
        ),
        Value::Document(d) => d.clone(),
    }
}

//! Scalars written as text (query strings, headers, URI labels, XML text, form parameters): how each
//! shape kind is read from text and written as text.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::WireError;
use crate::model::{Kind, Member, Model, Shape, TimestampFormat};
use crate::timestamp;
use crate::value::Value;

/// The timestamp format of `member` in a text location, with `default` when neither the member nor its
/// shape names one.
pub fn timestamp_format(
    member: &Member,
    shape: &Shape,
    default: TimestampFormat,
) -> TimestampFormat {
    member
        .timestamp_format
        .or(shape.timestamp_format)
        .unwrap_or(default)
}

/// Reads a scalar of `shape` from `text`.
pub fn from_text(
    model: &Model,
    member: &Member,
    text: &str,
    default_format: TimestampFormat,
) -> Result<Value, WireError> {
    let shape = model.shape(member.target);
    let bad = |what: &str| {
        WireError::Serialization(format!(
            "Value '{text}' for '{}' is not a valid {what}",
            member.name
        ))
    };
    Ok(match &shape.kind {
        Kind::String { .. } => Value::String(text.to_owned()),
        Kind::Boolean => match text.trim() {
            t if t.eq_ignore_ascii_case("true") => Value::Bool(true),
            t if t.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return Err(bad("boolean")),
        },
        Kind::Integer | Kind::Long => {
            let n: i64 = text.trim().parse().map_err(|_| bad("integer"))?;
            if matches!(shape.kind, Kind::Integer) && i32::try_from(n).is_err() {
                return Err(bad("integer"));
            }
            Value::Integer(n)
        }
        Kind::Float | Kind::Double => {
            Value::Float(parse_float(text.trim()).ok_or_else(|| bad("number"))?)
        }
        Kind::Timestamp => Value::Timestamp(
            timestamp::parse_text(text, timestamp_format(member, shape, default_format))
                .ok_or_else(|| bad("timestamp"))?,
        ),
        Kind::Blob => Value::Blob(
            STANDARD
                .decode(text.trim())
                .map_err(|_| bad("base64 blob"))?
                .into(),
        ),
        Kind::Structure(_) | Kind::List { .. } | Kind::Map { .. } => {
            return Err(bad("scalar"));
        }
    })
}

/// Reads a float including AWS's spellings of the special values.
pub fn parse_float(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

/// Writes a float as AWS does (`NaN`, `Infinity`, `-Infinity`, integers without a fraction).
pub fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

/// Writes a scalar value as text; `None` for collections and structures.
pub fn to_text(
    model: &Model,
    member: &Member,
    value: &Value,
    default_format: TimestampFormat,
) -> Option<String> {
    Some(match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => float_text(*f),
        Value::Timestamp(t) => {
            let shape = model.shape(member.target);
            timestamp::format_text(*t, timestamp_format(member, shape, default_format))
        }
        Value::Blob(b) => STANDARD.encode(b),
        Value::Document(d) => d.to_string(),
        Value::Null | Value::List(_) | Value::Map(_) | Value::Struct(_) => return None,
    })
}

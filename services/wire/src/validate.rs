//! The model's constraints checked on a parsed input, reported as AWS reports them:
//! `2 validation errors detected: Value null at 'functionName' failed to satisfy constraint: Member must
//! not be null; Value 'x' at 'timeout' failed to satisfy constraint: Member must have value greater than
//! or equal to 1`.
//!
//! Paths name members as AWS's services do (the member name with its first letter in lower case), list
//! elements as `name.N.member` (counting from 1), map values as `name.key`; a sensitive value is left
//! out of the message (`Value at 'password' ...`).

use crate::model::{Kind, Model, ShapeId};
use crate::value::Value;

/// Checks `value` (an input structure) against `shape`; the violations in AWS's wording, in member order.
pub fn validate(model: &Model, shape: ShapeId, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let mut path = String::new();
    check(model, shape, value, &mut path, &mut errors);
    errors
}

/// The message of a list of violations: `N validation error(s) detected: a; b`.
pub fn message(errors: &[String]) -> String {
    match errors.len() {
        1 => format!("1 validation error detected: {}", errors[0]),
        n => format!("{n} validation errors detected: {}", errors.join("; ")),
    }
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::String(s) => s.clone(),
        Value::Timestamp(t) => crate::timestamp::iso8601(*t),
        Value::Blob(b) => format!(
            "java.nio.HeapByteBuffer[pos=0 lim={} cap={}]",
            b.len(),
            b.len()
        ),
        Value::List(items) => format!(
            "[{}]",
            items.iter().map(describe).collect::<Vec<_>>().join(", ")
        ),
        Value::Map(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{k}={}", describe(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Struct(_) | Value::Document(_) => value.kind().into(),
    }
}

fn violation(model: &Model, shape: ShapeId, value: &Value, path: &str, rule: &str) -> String {
    if model.shape(shape).sensitive {
        format!("Value at '{path}' failed to satisfy constraint: {rule}")
    } else {
        format!(
            "Value '{}' at '{path}' failed to satisfy constraint: {rule}",
            describe(value)
        )
    }
}

fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn check(
    model: &Model,
    shape_id: ShapeId,
    value: &Value,
    path: &mut String,
    errors: &mut Vec<String>,
) {
    let shape = model.shape(shape_id);
    let bounds = shape.bounds;
    let length = match (&shape.kind, value) {
        (Kind::String { .. }, Value::String(s)) => Some(s.chars().count()),
        (Kind::Blob, Value::Blob(b)) => Some(b.len()),
        (Kind::List { .. }, Value::List(items)) => Some(items.len()),
        (Kind::Map { .. }, Value::Map(entries)) => Some(entries.len()),
        _ => None,
    };
    if let Some(len) = length {
        let len = len as f64;
        if let Some(min) = bounds.min.filter(|&min| len < min) {
            errors.push(violation(
                model,
                shape_id,
                value,
                path,
                &format!(
                    "Member must have length greater than or equal to {}",
                    number(min)
                ),
            ));
        } else if let Some(max) = bounds.max.filter(|&max| len > max) {
            errors.push(violation(
                model,
                shape_id,
                value,
                path,
                &format!(
                    "Member must have length less than or equal to {}",
                    number(max)
                ),
            ));
        }
    }
    let numeric = match value {
        Value::Integer(i) => Some(*i as f64),
        Value::Float(f) if f.is_finite() => Some(*f),
        _ => None,
    };
    if let Some(n) = numeric.filter(|_| {
        matches!(
            shape.kind,
            Kind::Integer | Kind::Long | Kind::Float | Kind::Double
        )
    }) {
        if let Some(min) = bounds.min.filter(|&min| n < min) {
            errors.push(violation(
                model,
                shape_id,
                value,
                path,
                &format!(
                    "Member must have value greater than or equal to {}",
                    number(min)
                ),
            ));
        } else if let Some(max) = bounds.max.filter(|&max| n > max) {
            errors.push(violation(
                model,
                shape_id,
                value,
                path,
                &format!(
                    "Member must have value less than or equal to {}",
                    number(max)
                ),
            ));
        }
    }
    match (&shape.kind, value) {
        (
            Kind::String {
                enum_values,
                pattern,
            },
            Value::String(s),
        ) => {
            if let Some(values) = enum_values
                && !values.iter().any(|v| v == s)
            {
                errors.push(violation(
                    model,
                    shape_id,
                    value,
                    path,
                    &format!(
                        "Member must satisfy enum value set: [{}]",
                        values.join(", ")
                    ),
                ));
            } else if let Some(p) = pattern
                && let Some(re) = shape.pattern()
                && !re.is_match(s)
            {
                errors.push(violation(
                    model,
                    shape_id,
                    value,
                    path,
                    &format!("Member must satisfy regular expression pattern: {p}"),
                ));
            }
        }
        (Kind::Structure(st), Value::Struct(fields)) if !st.document => {
            for member in &st.members {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&lower_first(&member.name));
                match fields.get(&member.name) {
                    None | Some(Value::Null) if member.required => errors.push(format!(
                        "Value null at '{path}' failed to satisfy constraint: Member must not be null"
                    )),
                    None | Some(Value::Null) => {}
                    Some(v) => check(model, member.target, v, path, errors),
                }
                path.truncate(len);
            }
        }
        (Kind::List { member, .. }, Value::List(items)) => {
            for (i, item) in items.iter().enumerate() {
                if matches!(item, Value::Null) {
                    continue;
                }
                let len = path.len();
                path.push_str(&format!(".{}.member", i + 1));
                check(model, member.target, item, path, errors);
                path.truncate(len);
            }
        }
        (Kind::Map { key, value: v, .. }, Value::Map(entries)) => {
            let mut key_errors = Vec::new();
            for (k, item) in entries {
                let mut scratch = path.clone();
                check(
                    model,
                    key.target,
                    &Value::String(k.clone()),
                    &mut scratch,
                    &mut key_errors,
                );
                if matches!(item, Value::Null) {
                    continue;
                }
                let len = path.len();
                path.push('.');
                path.push_str(k);
                check(model, v.target, item, path, errors);
                path.truncate(len);
            }
            if !key_errors.is_empty() {
                let rules: Vec<&str> = key_errors
                    .iter()
                    .filter_map(|e| {
                        e.split_once("failed to satisfy constraint: ")
                            .map(|(_, r)| r)
                    })
                    .collect();
                errors.push(format!(
                    "Value at '{path}' failed to satisfy constraint: Map keys must satisfy constraint: [{}]",
                    rules.join(", ")
                ));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Struct;

    fn model() -> Model {
        Model::from_json(
            r#"{
            "metadata": {"protocol": "json"},
            "shapes": {
                "In": {"type": "structure", "required": ["Name"], "members": {
                    "Name": {"shape": "Name"},
                    "Timeout": {"shape": "Timeout"},
                    "Runtime": {"shape": "Runtime"},
                    "Secret": {"shape": "Secret"},
                    "Items": {"shape": "Items"},
                    "Tags": {"shape": "Tags"}
                }},
                "Name": {"type": "string", "min": 1, "max": 5, "pattern": "[a-z]+"},
                "Timeout": {"type": "integer", "min": 1, "max": 900},
                "Runtime": {"type": "string", "enum": ["python3.12", "nodejs22.x"]},
                "Secret": {"type": "string", "min": 8, "sensitive": true},
                "Items": {"type": "list", "member": {"shape": "Name"}, "max": 2},
                "Tags": {"type": "map", "key": {"shape": "Name"}, "value": {"shape": "Name"}}
            }
        }"#,
        )
        .unwrap()
    }

    #[test]
    fn reports_as_aws_does() {
        let m = model();
        let input = m.shape_named("In").unwrap();
        let mut s = Struct::new();
        assert_eq!(
            validate(&m, input, &Value::Struct(s.clone())),
            vec!["Value null at 'name' failed to satisfy constraint: Member must not be null"]
        );
        s.insert("Name", Value::String("abcdef".into()));
        s.insert("Timeout", Value::Integer(0));
        s.insert("Runtime", Value::String("java1".into()));
        s.insert("Secret", Value::String("short".into()));
        s.insert(
            "Items",
            Value::List(vec![Value::String("a".into()), Value::String("B".into())]),
        );
        let errors = validate(&m, input, &Value::Struct(s));
        assert_eq!(
            errors,
            vec![
                "Value 'abcdef' at 'name' failed to satisfy constraint: Member must have length less than or equal to 5",
                "Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1",
                "Value 'java1' at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [python3.12, nodejs22.x]",
                "Value at 'secret' failed to satisfy constraint: Member must have length greater than or equal to 8",
                "Value 'B' at 'items.2.member' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-z]+",
            ]
        );
        assert!(message(&errors).starts_with("5 validation errors detected: Value 'abcdef'"));
        assert_eq!(
            message(&errors[..1]),
            format!("1 validation error detected: {}", errors[0])
        );
    }

    #[test]
    fn map_keys() {
        let m = model();
        let input = m.shape_named("In").unwrap();
        let mut s = Struct::new();
        s.insert("Name", Value::String("ok".into()));
        s.insert(
            "Tags",
            Value::Map(vec![("BAD".into(), Value::String("v".into()))]),
        );
        assert_eq!(
            validate(&m, input, &Value::Struct(s)),
            vec![
                "Value at 'tags' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-z]+]"
            ]
        );
    }
}

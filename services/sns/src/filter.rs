//! SNS filter policies over the shared pattern language (`skyport-patterns`), with SNS's limits and
//! the event each scope matches against.
//!
//! - `MessageAttributes` scope: the policy's keys are attribute names (no nesting); the event is an
//!   object with each attribute's value: `String` as a string, `Number` as a number, `String.Array` as
//!   its JSON array (a `String.Array` that is not JSON counts as a string), `Binary` left out (SNS does
//!   not match binary attributes).
//! - `MessageBody` scope: the event is the message body, which must be a JSON object.

use serde_json::{Map, Value};
use skyport_patterns::{FieldPattern, Pattern};

use crate::message::Attribute;

/// The most keys a filter policy has.
pub const MAX_KEYS: usize = 5;
/// The most combinations a filter policy has.
pub const MAX_COMBINATIONS: usize = 150;
/// The longest filter policy.
pub const MAX_POLICY_BYTES: usize = 256 * 1024;

/// Why a filter policy is refused: the message after `Invalid parameter: FilterPolicy: `, and whether
/// it is a `FilterPolicyLimitExceeded` rather than an `InvalidParameter`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct PolicyError {
    /// AWS's reason.
    pub reason: String,
}

fn refused(reason: impl Into<String>) -> PolicyError {
    PolicyError {
        reason: reason.into(),
    }
}

/// Validates a filter policy for a scope (`body` for `MessageBody`).
pub fn validate(text: &str, body: bool) -> Result<Pattern, PolicyError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(refused("Filter policy is too long"));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| refused(format!("failed to parse JSON. {e}")))?;
    if !value.is_object() {
        return Err(refused("Filter policy must be a JSON object"));
    }
    if text.contains("\"wildcard\"") {
        // SNS's language has no wildcard rule.
        return Err(refused("Unrecognized match type wildcard"));
    }
    let pattern = Pattern::from_value(&value).map_err(|e| refused(e.to_string()))?;
    if !body
        && pattern
            .root()
            .fields
            .iter()
            .any(|(_, f)| matches!(f, FieldPattern::Object(_)))
    {
        return Err(refused(
            "Filter policy scope MessageAttributes does not support nested filter policy",
        ));
    }
    let (keys, combinations) = pattern.complexity();
    if keys > MAX_KEYS {
        return Err(refused("Filter policy can not have more than 5 keys"));
    }
    if combinations > MAX_COMBINATIONS {
        return Err(refused("Filter policy is too complex"));
    }
    Ok(pattern)
}

/// The event a `MessageAttributes`-scope policy matches: attribute names to values.
pub fn attributes_event<'a>(
    attributes: impl IntoIterator<Item = (&'a String, &'a Attribute)>,
) -> Value {
    let mut object = Map::new();
    for (name, attribute) in attributes {
        let value = match attribute.data_type.split('.').next().unwrap_or_default() {
            "Number" => number(attribute.string_value.as_deref().unwrap_or_default()),
            "String" if attribute.data_type == "String.Array" => {
                let text = attribute.string_value.as_deref().unwrap_or_default();
                match serde_json::from_str::<Value>(text) {
                    Ok(array @ Value::Array(_)) => array,
                    _ => Value::String(text.to_owned()),
                }
            }
            "String" => Value::String(attribute.string_value.clone().unwrap_or_default()),
            _ => continue,
        };
        object.insert(name.clone(), value);
    }
    Value::Object(object)
}

fn number(text: &str) -> Value {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or_else(|| Value::String(text.to_owned()), Value::Number)
}

/// The event a `MessageBody`-scope policy matches: the body when it is a JSON object.
pub fn body_event(message: &str) -> Option<Value> {
    serde_json::from_str::<Value>(message)
        .ok()
        .filter(Value::is_object)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn attrs(list: &[(&str, &str, &str)]) -> BTreeMap<String, Attribute> {
        list.iter()
            .map(|(n, t, v)| {
                (
                    (*n).to_owned(),
                    Attribute {
                        data_type: (*t).to_owned(),
                        string_value: Some((*v).to_owned()),
                        binary_value: None,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn attribute_policies_match_by_type() {
        let p = validate(
            r#"{"store": ["example_corporation"], "price_usd": [{"numeric": [">=", 100]}],
                "event": [{"anything-but": "order_cancelled"}], "customer_interests": ["rugby"]}"#,
            false,
        )
        .unwrap();
        let good = attrs(&[
            ("store", "String", "example_corporation"),
            ("price_usd", "Number", "210.75"),
            ("event", "String", "order_placed"),
            (
                "customer_interests",
                "String.Array",
                r#"["soccer", "rugby", "hockey"]"#,
            ),
        ]);
        assert!(p.matches(&attributes_event(&good)));
        let cheap = attrs(&[
            ("store", "String", "example_corporation"),
            ("price_usd", "String", "210.75"),
            ("event", "String", "order_placed"),
            ("customer_interests", "String.Array", r#"["rugby"]"#),
        ]);
        assert!(
            !p.matches(&attributes_event(&cheap)),
            "a String is not a Number"
        );
    }

    #[test]
    fn limits_and_scopes() {
        let six = r#"{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"]}"#;
        assert_eq!(
            validate(six, false).unwrap_err().reason,
            "Filter policy can not have more than 5 keys"
        );
        let many: Vec<String> = (0..151).map(|i| format!("\"{i}\"")).collect();
        let complex = format!(r#"{{"a": [{}]}}"#, many.join(","));
        assert_eq!(
            validate(&complex, false).unwrap_err().reason,
            "Filter policy is too complex"
        );
        let nested = r#"{"a": {"b": ["1"]}}"#;
        assert!(validate(nested, false).is_err());
        let p = validate(nested, true).unwrap();
        assert!(p.matches(&body_event(r#"{"a": {"b": "1"}}"#).unwrap()));
        assert!(body_event("not json").is_none());
        assert!(validate("[1]", false).is_err());
        assert!(validate(r#"{"a": [{"wildcard": "x*"}]}"#, false).is_err());
    }
}

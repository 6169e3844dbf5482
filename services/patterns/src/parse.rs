//! Pattern text to a [`Pattern`], validated as AWS's rule compiler validates it, with its reasons.

use serde_json::{Map, Value};

use crate::cidr::Cidr;
use crate::matcher::{Bound, Matcher};
use crate::wildcard::Wildcard;
use crate::{FieldPattern, ObjectPattern, Pattern};

/// Why a pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The text is not JSON.
    #[error("{0}")]
    Json(String),
    /// The JSON is not a valid pattern: AWS's reason (`Unrecognized match type x`, ...).
    #[error("{0}")]
    Invalid(String),
}

impl PatternError {
    /// An invalid pattern, with its reason.
    pub fn invalid(reason: impl Into<String>) -> PatternError {
        PatternError::Invalid(reason.into())
    }
}

type Result<T> = std::result::Result<T, PatternError>;

const OR: &str = "$or";

/// Names that may not be field names inside `$or` (the operators, and names AWS reserves).
const RESERVED_IN_OR: &[&str] = &[
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "regex",
    "not-wildcard",
    "not-equals-ignore-case",
    "date-after",
    "date-on-or-after",
    "date-before",
    "date-on-or-before",
    "in-date-range",
    "ip-address-in-range",
    "ip-address-not-in-range",
];

/// Parses pattern text.
pub fn pattern_from_str(text: &str) -> Result<Pattern> {
    let value: Value = serde_json::from_str(text).map_err(|e| PatternError::Json(e.to_string()))?;
    pattern_from_value(&value)
}

/// Validates a pattern parsed as JSON.
pub fn pattern_from_value(value: &Value) -> Result<Pattern> {
    let Value::Object(map) = value else {
        return Err(PatternError::invalid("Filter is not an object"));
    };
    Ok(Pattern {
        root: object(map, false)?,
    })
}

fn object(map: &Map<String, Value>, inside_or: bool) -> Result<ObjectPattern> {
    if map.is_empty() {
        return Err(PatternError::invalid("Empty objects are not allowed"));
    }
    let mut out = ObjectPattern::default();
    for (name, value) in map {
        if name == OR {
            out.ors.push(or_group(value)?);
            continue;
        }
        if inside_or && RESERVED_IN_OR.contains(&name.as_str()) {
            return Err(PatternError::invalid(format!(
                "{name} is Ruler reserved fieldName which cannot be used inside {OR}."
            )));
        }
        let field = match value {
            Value::Object(inner) => FieldPattern::Object(object(inner, inside_or)?),
            Value::Array(rules) => FieldPattern::Leaf(leaf(rules)?),
            _ => {
                return Err(PatternError::invalid(format!(
                    "\"{name}\" must be an object or an array"
                )));
            }
        };
        out.fields.push((name.clone(), field));
    }
    Ok(out)
}

fn or_group(value: &Value) -> Result<Vec<ObjectPattern>> {
    let Value::Array(items) = value else {
        return Err(PatternError::invalid(format!(
            "It must be an Array followed with {OR}."
        )));
    };
    let mut alternatives = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(map) = item else {
            return Err(PatternError::invalid(format!(
                "Only JSON object is allowed in array of {OR} relationship."
            )));
        };
        alternatives.push(object(map, true)?);
    }
    if alternatives.len() < 2 {
        return Err(PatternError::invalid(format!(
            "There must have at least 2 Objects in {OR} relationship."
        )));
    }
    Ok(alternatives)
}

fn leaf(rules: &[Value]) -> Result<Vec<Matcher>> {
    if rules.is_empty() {
        return Err(PatternError::invalid("Empty arrays are not allowed"));
    }
    rules
        .iter()
        .map(|rule| match rule {
            Value::Object(expression) => match_expression(expression),
            Value::Array(_) => Err(PatternError::invalid(
                "Match value must be String, number, true, false, or null",
            )),
            scalar => Ok(Matcher::Exact(scalar.clone())),
        })
        .collect()
}

/// The text of a JSON value as an error message quotes it.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(_) => "[".to_owned(),
        Value::Object(_) => "{".to_owned(),
        other => other.to_string(),
    }
}

/// The single `key: value` of a match expression, or `too_many`'s error when there are more.
fn single<'a>(
    expression: &'a Map<String, Value>,
    missing: &str,
    too_many: &str,
) -> Result<(&'a String, &'a Value)> {
    let mut entries = expression.iter();
    let Some(first) = entries.next() else {
        return Err(PatternError::invalid(missing));
    };
    if entries.next().is_some() {
        return Err(PatternError::invalid(too_many));
    }
    Ok(first)
}

const ONE_KEY: &str = "Only one key allowed in match expression";
const TOO_MANY_NUMERIC: &str = "Too many elements in numeric expression";

fn string_of<'a>(value: &'a Value, message: &str) -> Result<&'a str> {
    value.as_str().ok_or_else(|| PatternError::invalid(message))
}

fn match_expression(expression: &Map<String, Value>) -> Result<Matcher> {
    let name = expression
        .keys()
        .next()
        .ok_or_else(|| PatternError::invalid("Match expression name not found"))?;
    let too_many = match name.as_str() {
        "numeric" | "anything-but" => TOO_MANY_NUMERIC,
        _ => ONE_KEY,
    };
    let (name, value) = single(expression, "Match expression name not found", too_many)?;
    match name.as_str() {
        "exactly" => Ok(Matcher::Exact(Value::String(
            string_of(value, "exact match pattern must be a string")?.to_owned(),
        ))),
        "prefix" => match value {
            Value::Object(inner) => ignore_case_of(inner, "Prefix").map(Matcher::PrefixIgnoreCase),
            _ => Ok(Matcher::Prefix(
                string_of(value, "prefix match pattern must be a string")?.to_owned(),
            )),
        },
        "suffix" => match value {
            Value::Object(inner) => ignore_case_of(inner, "Suffix").map(Matcher::SuffixIgnoreCase),
            _ => Ok(Matcher::Suffix(
                string_of(value, "suffix match pattern must be a string")?.to_owned(),
            )),
        },
        "equals-ignore-case" => Ok(Matcher::EqualsIgnoreCase(
            string_of(value, "equals-ignore-case match pattern must be a string")?.to_owned(),
        )),
        "wildcard" => Ok(Matcher::Wildcard(Wildcard::parse(string_of(
            value,
            "wildcard match pattern must be a string",
        )?)?)),
        "numeric" => numeric(value),
        "anything-but" => anything_but(value),
        "exists" => match value {
            Value::Bool(b) => Ok(Matcher::Exists(*b)),
            _ => Err(PatternError::invalid(
                "exists match pattern must be either true or false.",
            )),
        },
        // AWS's compiler words a non-string CIDR this way.
        "cidr" => Ok(Matcher::Cidr(Cidr::parse(string_of(
            value,
            "prefix match pattern must be a string",
        )?)?)),
        other => Err(PatternError::invalid(format!(
            "Unrecognized match type {other}"
        ))),
    }
}

/// `{"equals-ignore-case": "..."}` inside `prefix` or `suffix`.
fn ignore_case_of(inner: &Map<String, Value>, which: &str) -> Result<String> {
    let (op, value) = single(
        inner,
        &format!("{which} expression name not found"),
        ONE_KEY,
    )?;
    if op != "equals-ignore-case" {
        return Err(PatternError::invalid(format!(
            "Unsupported {} pattern: {op}",
            which.to_lowercase()
        )));
    }
    Ok(string_of(value, "equals-ignore-case match pattern must be a string")?.to_owned())
}

fn number(value: Option<&Value>, operator: &str) -> Result<f64> {
    value
        .filter(|v| v.is_number())
        .and_then(Value::as_f64)
        .ok_or_else(|| {
            let what = if operator == "=" { "equals" } else { operator };
            PatternError::invalid(format!("Value of {what} must be numeric"))
        })
}

fn numeric(value: &Value) -> Result<Matcher> {
    let Value::Array(terms) = value else {
        return Err(PatternError::invalid("Value of numeric must be an array."));
    };
    let mut terms = terms.iter();
    let first = terms.next();
    let Some(operator) = first.and_then(Value::as_str) else {
        let shown = first.map_or_else(|| "]".to_owned(), text);
        return Err(PatternError::invalid(format!(
            "Invalid member in numeric match: {shown}"
        )));
    };
    let bound = |open: bool, value: f64| Bound { value, open };
    match operator {
        "=" => {
            let n = number(terms.next(), operator)?;
            if terms.next().is_some() {
                return Err(PatternError::invalid(TOO_MANY_NUMERIC));
            }
            Ok(Matcher::Numeric {
                low: Some(bound(false, n)),
                high: Some(bound(false, n)),
            })
        }
        ">" | ">=" => {
            let low = bound(operator == ">", number(terms.next(), operator)?);
            let Some(next) = terms.next() else {
                return Ok(Matcher::Numeric {
                    low: Some(low),
                    high: None,
                });
            };
            let Some(top_operator) = next.as_str() else {
                return Err(PatternError::invalid(format!(
                    "Bad value in numeric range: {}",
                    text(next)
                )));
            };
            if top_operator != "<" && top_operator != "<=" {
                return Err(PatternError::invalid(format!(
                    "Bad numeric range operator: {top_operator}"
                )));
            }
            let high = bound(top_operator == "<", number(terms.next(), top_operator)?);
            if terms.next().is_some() {
                return Err(PatternError::invalid(
                    "Too many terms in numeric range expression",
                ));
            }
            if low.value >= high.value {
                return Err(PatternError::invalid("Bottom must be less than top"));
            }
            Ok(Matcher::Numeric {
                low: Some(low),
                high: Some(high),
            })
        }
        "<" | "<=" => {
            let high = bound(operator == "<", number(terms.next(), operator)?);
            if terms.next().is_some() {
                return Err(PatternError::invalid(TOO_MANY_NUMERIC));
            }
            Ok(Matcher::Numeric {
                low: None,
                high: Some(high),
            })
        }
        other => Err(PatternError::invalid(format!(
            "Unrecognized numeric range operator: {other}"
        ))),
    }
}

fn anything_but(value: &Value) -> Result<Matcher> {
    match value {
        Value::Object(inner) => {
            let (op, value) = single(inner, "Anything-But expression name not found", ONE_KEY)?;
            let kind = match op.as_str() {
                "equals-ignore-case" | "prefix" | "suffix" | "wildcard" => op.as_str(),
                other => {
                    return Err(PatternError::invalid(format!(
                        "Unsupported anything-but pattern: {other}"
                    )));
                }
            };
            let wrong_type = match kind {
                "equals-ignore-case" => {
                    "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
                }
                "wildcard" => "wildcard match pattern must be a string",
                _ => "prefix/suffix match pattern must be a string",
            };
            let values: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                Value::String(_) => vec![value],
                Value::Number(_) => return Err(PatternError::invalid(wrong_type)),
                _ => {
                    return Err(PatternError::invalid(
                        "Value of anything-but must be an array or single string/number value.",
                    ));
                }
            };
            let mut strings = Vec::with_capacity(values.len());
            for v in values {
                let s = v
                    .as_str()
                    .ok_or_else(|| PatternError::invalid(wrong_type))?;
                if (kind == "prefix" || kind == "suffix") && s.is_empty() {
                    return Err(PatternError::invalid("Null prefix/suffix not allowed"));
                }
                strings.push(s.to_owned());
            }
            Ok(match kind {
                "equals-ignore-case" => Matcher::AnythingButIgnoreCase(strings),
                "prefix" => Matcher::AnythingButPrefix(strings),
                "suffix" => Matcher::AnythingButSuffix(strings),
                _ => Matcher::AnythingButWildcard(
                    strings
                        .iter()
                        .map(|s| Wildcard::parse(s))
                        .collect::<Result<_>>()?,
                ),
            })
        }
        Value::String(s) => Ok(Matcher::AnythingButStrings(vec![s.clone()])),
        Value::Number(n) => Ok(Matcher::AnythingButNumbers(vec![
            n.as_f64().unwrap_or(f64::NAN),
        ])),
        Value::Array(items) => {
            let mut strings = Vec::new();
            let mut numbers = Vec::new();
            for item in items {
                match item {
                    Value::String(s) => strings.push(s.clone()),
                    Value::Number(n) => numbers.push(n.as_f64().unwrap_or(f64::NAN)),
                    _ => {
                        return Err(PatternError::invalid(
                            "Inside anything but list, start|null|boolean is not supported.",
                        ));
                    }
                }
            }
            match (strings.is_empty(), numbers.is_empty()) {
                (false, true) => Ok(Matcher::AnythingButStrings(strings)),
                (true, false) => Ok(Matcher::AnythingButNumbers(numbers)),
                _ => Err(PatternError::invalid(
                    "Inside anything but list, either all values are number or string, mixed type is not supported",
                )),
            }
        }
        _ => Err(PatternError::invalid(
            "Value of anything-but must be an array or single string/number value.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> String {
        match pattern_from_str(text) {
            Err(PatternError::Invalid(r)) => r,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn structure_errors() {
        assert_eq!(reason("[]"), "Filter is not an object");
        assert_eq!(reason("{}"), "Empty objects are not allowed");
        assert_eq!(reason(r#"{"a": {}}"#), "Empty objects are not allowed");
        assert_eq!(
            reason(r#"{"a": "x"}"#),
            "\"a\" must be an object or an array"
        );
        assert_eq!(reason(r#"{"a": []}"#), "Empty arrays are not allowed");
        assert_eq!(
            reason(r#"{"a": [["x"]]}"#),
            "Match value must be String, number, true, false, or null"
        );
        assert!(matches!(pattern_from_str("{"), Err(PatternError::Json(_))));
    }

    #[test]
    fn or_errors() {
        assert_eq!(
            reason(r#"{"$or": {"a": [1]}}"#),
            "It must be an Array followed with $or."
        );
        assert_eq!(
            reason(r#"{"$or": [{"a": [1]}]}"#),
            "There must have at least 2 Objects in $or relationship."
        );
        assert_eq!(
            reason(r#"{"$or": [{"a": [1]}, 2]}"#),
            "Only JSON object is allowed in array of $or relationship."
        );
        assert_eq!(
            reason(r#"{"$or": [{"numeric": [1]}, {"b": [2]}]}"#),
            "numeric is Ruler reserved fieldName which cannot be used inside $or."
        );
    }

    #[test]
    fn match_expression_errors() {
        assert_eq!(reason(r#"{"a": [{}]}"#), "Match expression name not found");
        assert_eq!(
            reason(r#"{"a": [{"regex": "x"}]}"#),
            "Unrecognized match type regex"
        );
        assert_eq!(
            reason(r#"{"a": [{"prefix": 1}]}"#),
            "prefix match pattern must be a string"
        );
        assert_eq!(
            reason(r#"{"a": [{"suffix": true}]}"#),
            "suffix match pattern must be a string"
        );
        assert_eq!(
            reason(r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#),
            "Only one key allowed in match expression"
        );
        assert_eq!(
            reason(r#"{"a": [{"prefix": {"wildcard": "x"}}]}"#),
            "Unsupported prefix pattern: wildcard"
        );
        assert_eq!(
            reason(r#"{"a": [{"equals-ignore-case": 3}]}"#),
            "equals-ignore-case match pattern must be a string"
        );
        assert_eq!(
            reason(r#"{"a": [{"exists": "yes"}]}"#),
            "exists match pattern must be either true or false."
        );
        assert_eq!(
            reason(r#"{"a": [{"wildcard": 1}]}"#),
            "wildcard match pattern must be a string"
        );
        assert_eq!(
            reason(r#"{"a": [{"cidr": "10.0.0.0"}]}"#),
            "Malformed CIDR, one '/' required"
        );
    }

    #[test]
    fn numeric_errors() {
        assert_eq!(
            reason(r#"{"a": [{"numeric": 1}]}"#),
            "Value of numeric must be an array."
        );
        assert_eq!(
            reason(r#"{"a": [{"numeric": []}]}"#),
            "Invalid member in numeric match: ]"
        );
        assert_eq!(
            reason(r#"{"a": [{"numeric": [5]}]}"#),
            "Invalid member in numeric match: 5"
        );
        assert_eq!(
            reason(r#"{"a": [{"numeric": ["~", 5]}]}"#),
            "Unrecognized numeric range operator: ~"
        );
        assert_eq!(
            reason(r#"{"a": [{"numeric": ["=", "5"]}]}"#),
            "Value of equals must be numeric"
        );
        assert_eq!(
            reason(r#"{"a": [{"numeric": [">", "5"]}]}"#),
            "Value of > must be numeric"
        );
        assert_eq!(
            reason(r#"{"a": [{"numeric": ["=", 5, "<", 6]}]}"#),
            "Too many elements in numeric expression"
        );
        assert_eq!(
            reason(r#"{"a": [{"numeric": [">", 5, "=", 6]}]}"#),
            "Bad numeric range operator: ="
        );
        assert_eq!(
            reason(r#"{"a": [{"numeric": [">", 5, 6]}]}"#),
            "Bad value in numeric range: 6"
        );
        assert_eq!(
            reason(r#"{"a": [{"numeric": [">", 5, "<", 6, 7]}]}"#),
            "Too many terms in numeric range expression"
        );
        assert_eq!(
            reason(r#"{"a": [{"numeric": [">", 6, "<", 5]}]}"#),
            "Bottom must be less than top"
        );
    }

    #[test]
    fn anything_but_errors() {
        assert_eq!(
            reason(r#"{"a": [{"anything-but": true}]}"#),
            "Value of anything-but must be an array or single string/number value."
        );
        assert_eq!(
            reason(r#"{"a": [{"anything-but": ["x", 1]}]}"#),
            "Inside anything but list, either all values are number or string, mixed type is not supported"
        );
        assert_eq!(
            reason(r#"{"a": [{"anything-but": [null]}]}"#),
            "Inside anything but list, start|null|boolean is not supported."
        );
        assert_eq!(
            reason(r#"{"a": [{"anything-but": {"exists": true}}]}"#),
            "Unsupported anything-but pattern: exists"
        );
        assert_eq!(
            reason(r#"{"a": [{"anything-but": {"prefix": ""}}]}"#),
            "Null prefix/suffix not allowed"
        );
        assert_eq!(
            reason(r#"{"a": [{"anything-but": {"prefix": 1}}]}"#),
            "prefix/suffix match pattern must be a string"
        );
        assert_eq!(
            reason(r#"{"a": [{"anything-but": {"equals-ignore-case": [1]}}]}"#),
            "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
        );
        assert_eq!(
            reason(r#"{"a": [{"anything-but": {"wildcard": "a**"}}]}"#),
            "Consecutive wildcard characters at pos 2"
        );
        assert_eq!(
            reason(r#"{"a": [{"anything-but": "x", "prefix": "y"}]}"#),
            "Too many elements in numeric expression"
        );
    }
}

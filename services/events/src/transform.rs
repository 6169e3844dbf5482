//! What a target receives: the event itself, a constant `Input`, the part of the event an
//! `InputPath` selects, or an `InputTransformer`'s template with the `InputPathsMap` values put in.
//!
//! Paths are the JSONPath subset EventBridge accepts: `$`, then `.name` and `[index]` steps
//! (`$.detail.items[0].id`). Template substitution follows AWS's quoting rules: a string value inside
//! quotes goes in as its escaped text, outside quotes as a JSON string in a JSON template (one that
//! starts with `{` or `[`) and as plain text otherwise; other values go in as JSON text. The reserved
//! variables are `<aws.events.rule-arn>`, `<aws.events.rule-name>`, `<aws.events.event.ingestion-time>`,
//! `<aws.events.event>` (the event without `detail`) and `<aws.events.event.json>` (the whole event).

use std::collections::BTreeMap;

use serde_json::Value;

/// The most entries an `InputPathsMap` has.
pub const MAX_PATHS: usize = 100;

/// Why a path or a transformer is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// A path that is not in the JSONPath subset.
    #[error("{0}")]
    InvalidPath(String),
    /// An `InputPathsMap` problem.
    #[error("{0}")]
    Invalid(String),
    /// A template placeholder that is neither in `InputPathsMap` nor reserved.
    #[error("invalid placeholder {0}")]
    Placeholder(String),
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A parsed JSONPath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

impl JsonPath {
    /// Parses `$`, `$.a.b`, `$.a[0]`, `$['a']`.
    pub fn parse(text: &str) -> Result<JsonPath, TransformError> {
        let bad = || TransformError::InvalidPath(format!("Invalid JSONPath: {text}"));
        let rest = text.trim().strip_prefix('$').ok_or_else(bad)?;
        let bytes = rest.as_bytes();
        let mut steps = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'.' => {
                    let start = i + 1;
                    let mut end = start;
                    while end < bytes.len() && bytes[end] != b'.' && bytes[end] != b'[' {
                        end += 1;
                    }
                    if end == start {
                        return Err(bad());
                    }
                    steps.push(Step::Key(rest[start..end].to_owned()));
                    i = end;
                }
                b'[' => {
                    let close = rest[i..].find(']').map(|c| c + i).ok_or_else(bad)?;
                    let inner = rest[i + 1..close].trim();
                    if let Some(quoted) = inner
                        .strip_prefix('\'')
                        .and_then(|s| s.strip_suffix('\''))
                        .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                    {
                        steps.push(Step::Key(quoted.to_owned()));
                    } else {
                        steps.push(Step::Index(inner.parse().map_err(|_| bad())?));
                    }
                    i = close + 1;
                }
                _ => return Err(bad()),
            }
        }
        Ok(JsonPath { steps })
    }

    /// The value at this path in `value`.
    pub fn select<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        let mut at = value;
        for step in &self.steps {
            at = match (step, at) {
                (Step::Key(k), Value::Object(o)) => o.get(k)?,
                (Step::Index(n), Value::Array(a)) => a.get(*n)?,
                _ => return None,
            };
        }
        Some(at)
    }
}

/// A validated `InputTransformer`.
#[derive(Debug, Clone, PartialEq)]
pub struct Transformer {
    paths: BTreeMap<String, JsonPath>,
    template: String,
}

/// What the reserved variables stand for in one delivery.
#[derive(Debug, Clone, Copy)]
pub struct Reserved<'a> {
    /// The rule's ARN.
    pub rule_arn: &'a str,
    /// The rule's name.
    pub rule_name: &'a str,
    /// When EventBridge received the event (ISO 8601).
    pub ingestion_time: &'a str,
}

const RESERVED_PREFIX: &str = "aws.events.";

/// The variables every template may use.
const RESERVED: &[&str] = &[
    "aws.events.rule-arn",
    "aws.events.rule-name",
    "aws.events.event.ingestion-time",
    "aws.events.event",
    "aws.events.event.json",
];

impl Transformer {
    /// Validates `InputPathsMap` and `InputTemplate`.
    pub fn new(
        paths: &BTreeMap<String, String>,
        template: &str,
    ) -> Result<Transformer, TransformError> {
        if paths.len() > MAX_PATHS {
            return Err(TransformError::Invalid(format!(
                "InputPathsMap has more than {MAX_PATHS} entries."
            )));
        }
        let mut compiled = BTreeMap::new();
        for (name, path) in paths {
            if name.starts_with(RESERVED_PREFIX) {
                return Err(TransformError::Invalid(format!(
                    "Input path key {name} is reserved."
                )));
            }
            compiled.insert(name.clone(), JsonPath::parse(path)?);
        }
        let transformer = Transformer {
            paths: compiled,
            template: template.to_owned(),
        };
        if let Some(unknown) = transformer
            .placeholders()
            .find(|p| !transformer.paths.contains_key(*p) && !RESERVED.contains(p))
        {
            return Err(TransformError::Placeholder(unknown.to_owned()));
        }
        Ok(transformer)
    }

    /// The `<name>` placeholders of the template (names without spaces or angle brackets).
    fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.template.split('<').skip(1).filter_map(|rest| {
            let name = &rest[..rest.find('>')?];
            (!name.is_empty() && !name.contains(char::is_whitespace)).then_some(name)
        })
    }

    /// The template with the event's values put in.
    pub fn apply(&self, event: &Value, reserved: Reserved<'_>) -> String {
        let json_template = matches!(self.template.trim_start().chars().next(), Some('{' | '['));
        let mut out = String::with_capacity(self.template.len());
        let mut in_quotes = false;
        let mut escaped = false;
        let mut rest = self.template.as_str();
        while let Some(c) = rest.chars().next() {
            if c == '<'
                && let Some(close) = rest.find('>')
                && let Some(value) = self.variable(&rest[1..close], event, reserved)
            {
                out.push_str(&render(&value, in_quotes, json_template));
                rest = &rest[close + 1..];
                continue;
            }
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = !in_quotes;
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }

    /// The value of `<name>`, if `name` is a variable (a missing path gives `null`).
    fn variable(&self, name: &str, event: &Value, reserved: Reserved<'_>) -> Option<Value> {
        if let Some(path) = self.paths.get(name) {
            return Some(path.select(event).cloned().unwrap_or(Value::Null));
        }
        let raw = |v: &Value| Value::String(v.to_string());
        match name {
            "aws.events.rule-arn" => Some(Value::String(reserved.rule_arn.to_owned())),
            "aws.events.rule-name" => Some(Value::String(reserved.rule_name.to_owned())),
            "aws.events.event.ingestion-time" => {
                Some(Value::String(reserved.ingestion_time.to_owned()))
            }
            "aws.events.event" => {
                // AWS gives the envelope without `detail`, and names `detail-type` `detailType` there.
                let without: serde_json::Map<String, Value> = match event {
                    Value::Object(o) => o
                        .iter()
                        .filter(|(k, _)| *k != "detail")
                        .map(|(k, v)| {
                            let k = if k == "detail-type" { "detailType" } else { k };
                            (k.to_owned(), v.clone())
                        })
                        .collect(),
                    _ => serde_json::Map::new(),
                };
                Some(Value::Object(raw_marker(raw(&Value::Object(without)))))
            }
            "aws.events.event.json" => Some(Value::Object(raw_marker(raw(event)))),
            _ => None,
        }
    }
}

/// Reserved event variables go in unescaped: marked as a one-key object the renderer recognises.
const RAW_KEY: &str = "\u{0}raw";

fn raw_marker(text: Value) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert(RAW_KEY.to_owned(), text);
    m
}

fn render(value: &Value, in_quotes: bool, json_template: bool) -> String {
    match value {
        Value::Object(o) if o.len() == 1 && o.contains_key(RAW_KEY) => o
            .get(RAW_KEY)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        Value::String(s) if in_quotes => {
            let quoted = Value::String(s.clone()).to_string();
            quoted[1..quoted.len() - 1].to_owned()
        }
        Value::String(s) if !json_template => s.clone(),
        Value::Null if !json_template => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reserved() -> Reserved<'static> {
        Reserved {
            rule_arn: "arn:aws:events:us-east-1:000000000000:rule/r",
            rule_name: "r",
            ingestion_time: "2026-01-01T00:00:00Z",
        }
    }

    fn event() -> Value {
        json!({"id": "1", "source": "app", "detail": {"instance": "i-1", "state": "running", "n": 3,
               "items": [{"id": "a"}, {"id": "b"}]}})
    }

    #[test]
    fn paths_select_keys_and_indexes() {
        let e = event();
        assert_eq!(JsonPath::parse("$").unwrap().select(&e), Some(&e));
        assert_eq!(
            JsonPath::parse("$.detail.items[1].id").unwrap().select(&e),
            Some(&json!("b"))
        );
        assert_eq!(
            JsonPath::parse("$['detail'].n").unwrap().select(&e),
            Some(&json!(3))
        );
        assert!(JsonPath::parse("detail").is_err());
        assert!(JsonPath::parse("$..x").is_err());
    }

    #[test]
    fn json_templates_quote_strings_outside_quotes_only() {
        let paths = BTreeMap::from([
            ("instance".to_owned(), "$.detail.instance".to_owned()),
            ("n".to_owned(), "$.detail.n".to_owned()),
        ]);
        let t = Transformer::new(
            &paths,
            r#"{"id": <instance>, "text": "is <instance> <n>", "n": <n>}"#,
        )
        .unwrap();
        let out = t.apply(&event(), reserved());
        assert_eq!(out, r#"{"id": "i-1", "text": "is i-1 3", "n": 3}"#);
        let parsed: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["id"], "i-1");
    }

    #[test]
    fn text_templates_take_plain_strings() {
        let paths = BTreeMap::from([("state".to_owned(), "$.detail.state".to_owned())]);
        let t = Transformer::new(&paths, "instance is <state> by <aws.events.rule-name>").unwrap();
        assert_eq!(t.apply(&event(), reserved()), "instance is running by r");
        let quoted = Transformer::new(&paths, r#""instance is <state>""#).unwrap();
        assert_eq!(
            quoted.apply(&event(), reserved()),
            r#""instance is running""#
        );
    }

    #[test]
    fn reserved_event_variables_are_unescaped_json() {
        let t = Transformer::new(
            &BTreeMap::new(),
            r#"{"e": <aws.events.event.json>, "r": "<aws.events.rule-arn>"}"#,
        )
        .unwrap();
        let out: Value = serde_json::from_str(&t.apply(&event(), reserved())).unwrap();
        assert_eq!(out["e"], event());
        assert_eq!(out["r"], "arn:aws:events:us-east-1:000000000000:rule/r");
        let t = Transformer::new(&BTreeMap::new(), "{\"e\": <aws.events.event>}").unwrap();
        let out: Value = serde_json::from_str(&t.apply(&event(), reserved())).unwrap();
        assert!(out["e"].get("detail").is_none());
        assert_eq!(out["e"]["source"], "app");
        assert!(out["e"].get("detail-type").is_none());
    }

    #[test]
    fn strings_with_quotes_are_escaped_inside_quotes() {
        let paths = BTreeMap::from([("s".to_owned(), "$.s".to_owned())]);
        let t = Transformer::new(&paths, r#"{"s": "<s>"}"#).unwrap();
        let out = t.apply(&json!({"s": "a \"b\""}), reserved());
        let parsed: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["s"], "a \"b\"");
    }

    #[test]
    fn unknown_placeholders_are_refused() {
        let paths = BTreeMap::from([("a".to_owned(), "$.a".to_owned())]);
        assert_eq!(
            Transformer::new(&paths, "<a> and <b>"),
            Err(TransformError::Placeholder("b".to_owned()))
        );
        assert!(Transformer::new(&paths, "a < b and <a> > 1").is_ok());
    }

    #[test]
    fn reserved_names_and_bad_paths_are_refused() {
        let bad = BTreeMap::from([("aws.events.x".to_owned(), "$.a".to_owned())]);
        assert!(Transformer::new(&bad, "x").is_err());
        let bad = BTreeMap::from([("x".to_owned(), "a".to_owned())]);
        assert!(Transformer::new(&bad, "x").is_err());
    }
}

//! `FilterCriteria` of an event source mapping: up to five patterns of the event-pattern language
//! (`skyport-patterns`), ORed. For SQS, the record's `body` is matched as JSON when the message body
//! is a JSON object or array and the pattern treats `body` as an object, as AWS documents ("Properly
//! filtering Amazon SQS messages"): a JSON body against a plain-string rule, or a plain body against
//! a JSON rule, does not match, and the message is dropped. For DynamoDB streams the pattern applies
//! to the record as the function gets it (`{"eventName": ["INSERT"]}`,
//! `{"dynamodb": {"NewImage": {"status": {"S": ["open"]}}}}`).

use serde_json::Value;
use skyport_patterns::{FieldShape, Pattern};

use crate::shapes::FilterCriteria;

/// The most filters one mapping may have (AWS's default quota).
pub const MAX_FILTERS: usize = 5;

/// Why `FilterCriteria` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A pattern is not valid (AWS answers the same message for every reason).
    #[error("Invalid filter pattern definition.")]
    InvalidPattern,
    /// More filters than the quota.
    #[error("The number of filters exceeds the limit of {MAX_FILTERS}.")]
    TooMany,
}

/// Compiled filters.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    patterns: Vec<Pattern>,
}

impl Filters {
    /// Compiles `criteria` (none, or no filters: every record passes).
    pub fn compile(criteria: Option<&FilterCriteria>) -> Result<Filters, FilterError> {
        let filters = criteria
            .and_then(|c| c.filters.as_deref())
            .unwrap_or_default();
        if filters.len() > MAX_FILTERS {
            return Err(FilterError::TooMany);
        }
        let patterns = filters
            .iter()
            .map(|f| {
                let text = f.pattern.as_deref().unwrap_or_default();
                Pattern::parse(text).map_err(|e| {
                    tracing::debug!("lambda: filter pattern {text:?} refused: {e}");
                    FilterError::InvalidPattern
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filters { patterns })
    }

    /// True when there is nothing to filter on.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when `record` (a stream record, as the function gets it) passes a filter.
    pub fn matches(&self, record: &Value) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| p.matches(record))
    }

    /// True when the SQS record `record` (AWS's event record, `body` a string) passes a filter.
    pub fn matches_sqs(&self, record: &Value) -> bool {
        if self.patterns.is_empty() {
            return true;
        }
        let body = record.get("body").and_then(Value::as_str).unwrap_or("");
        let parsed = serde_json::from_str::<Value>(body)
            .ok()
            .filter(|v| v.is_object() || v.is_array());
        let as_json = parsed.as_ref().map(|json| {
            let mut r = record.clone();
            if let Some(o) = r.as_object_mut() {
                o.insert("body".to_owned(), json.clone());
            }
            r
        });
        self.patterns.iter().any(|p| {
            let shapes = p.field_shapes("body");
            match &as_json {
                Some(json_record) => {
                    let plain_only =
                        !shapes.is_empty() && shapes.iter().all(|s| *s == FieldShape::Leaf);
                    !plain_only && p.matches(json_record)
                }
                None => {
                    let json_only =
                        !shapes.is_empty() && shapes.iter().all(|s| *s == FieldShape::Object);
                    !json_only && p.matches(record)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::Filter;
    use serde_json::json;

    fn filters(patterns: &[&str]) -> Filters {
        Filters::compile(Some(&FilterCriteria {
            filters: Some(
                patterns
                    .iter()
                    .map(|p| Filter {
                        pattern: Some((*p).to_owned()),
                    })
                    .collect(),
            ),
        }))
        .unwrap()
    }

    fn record(body: &str) -> Value {
        json!({"messageId": "m", "body": body, "attributes": {"ApproximateReceiveCount": "1"},
               "eventSource": "aws:sqs"})
    }

    #[test]
    fn json_bodies_and_plain_bodies() {
        // AWS's example: process only the records whose RequestCode is BBBB.
        let f = filters(&[r#"{"body": {"RequestCode": ["BBBB"]}}"#]);
        assert!(f.matches_sqs(&record(r#"{"RecordNumber": 1, "RequestCode": "BBBB"}"#)));
        assert!(!f.matches_sqs(&record(r#"{"RecordNumber": 1, "RequestCode": "AAAA"}"#)));
        assert!(
            !f.matches_sqs(&record("RequestCode BBBB")),
            "plain body, JSON rule"
        );
        let f = filters(&[r#"{"body": [{"prefix": "hello"}]}"#]);
        assert!(f.matches_sqs(&record("hello world")));
        assert!(
            !f.matches_sqs(&record(r#"{"hello": 1}"#)),
            "JSON body, plain rule"
        );
        let f = filters(&[r#"{"attributes": {"ApproximateReceiveCount": ["1"]}}"#]);
        assert!(f.matches_sqs(&record("anything")) && f.matches_sqs(&record("{}")));
    }

    #[test]
    fn stream_records_match_on_their_json() {
        let f = filters(&[
            r#"{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["vip"]}}}}"#,
            r#"{"eventName": ["REMOVE"]}"#,
        ]);
        let record = |name: &str, kind: &str| json!({"eventName": name, "dynamodb": {"NewImage": {"kind": {"S": kind}}}});
        assert!(f.matches(&record("INSERT", "vip")));
        assert!(!f.matches(&record("INSERT", "plain")));
        assert!(!f.matches(&record("MODIFY", "vip")));
        assert!(f.matches(&json!({"eventName": "REMOVE", "dynamodb": {}})));
        assert!(Filters::default().matches(&record("MODIFY", "x")));
    }

    #[test]
    fn filters_are_ored_and_validated() {
        let f = filters(&[
            r#"{"body": {"n": [{"numeric": [">", 10]}]}}"#,
            r#"{"body": {"kind": ["vip"]}}"#,
        ]);
        assert!(f.matches_sqs(&record(r#"{"n": 11}"#)));
        assert!(f.matches_sqs(&record(r#"{"n": 1, "kind": "vip"}"#)));
        assert!(!f.matches_sqs(&record(r#"{"n": 1}"#)));
        let bad = Filters::compile(Some(&FilterCriteria {
            filters: Some(vec![Filter {
                pattern: Some(r#"{"a": "b"}"#.to_owned()),
            }]),
        }));
        assert_eq!(
            bad.unwrap_err().to_string(),
            "Invalid filter pattern definition."
        );
        assert!(Filters::compile(None).unwrap().matches_sqs(&record("x")));
    }
}

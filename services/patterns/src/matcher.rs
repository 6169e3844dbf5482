//! The rules one value is tested against: exact values, string matchers (`prefix`, `suffix`,
//! `equals-ignore-case` and their combinations, `wildcard`), `anything-but` in its forms, `numeric`
//! ranges, `exists` and `cidr`. String rules never match numbers, booleans or `null`; numeric rules
//! match numbers only; `anything-but` matches every value it does not exclude.

use serde_json::Value;

use crate::cidr::Cidr;
use crate::wildcard::Wildcard;

/// A numeric bound: the value, and whether the bound itself is excluded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    /// The bound.
    pub value: f64,
    /// `<`/`>` (excluded) rather than `<=`/`>=`.
    pub open: bool,
}

/// One rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// An exact value: a string, a number, `true`, `false` or `null`.
    Exact(Value),
    /// `{"prefix": "..."}`.
    Prefix(String),
    /// `{"prefix": {"equals-ignore-case": "..."}}`.
    PrefixIgnoreCase(String),
    /// `{"suffix": "..."}`.
    Suffix(String),
    /// `{"suffix": {"equals-ignore-case": "..."}}`.
    SuffixIgnoreCase(String),
    /// `{"equals-ignore-case": "..."}`.
    EqualsIgnoreCase(String),
    /// `{"wildcard": "..."}`.
    Wildcard(Wildcard),
    /// `{"anything-but": "x"}` or a list of strings.
    AnythingButStrings(Vec<String>),
    /// `{"anything-but": 1}` or a list of numbers.
    AnythingButNumbers(Vec<f64>),
    /// `{"anything-but": {"prefix": ...}}`.
    AnythingButPrefix(Vec<String>),
    /// `{"anything-but": {"suffix": ...}}`.
    AnythingButSuffix(Vec<String>),
    /// `{"anything-but": {"equals-ignore-case": ...}}`.
    AnythingButIgnoreCase(Vec<String>),
    /// `{"anything-but": {"wildcard": ...}}`.
    AnythingButWildcard(Vec<Wildcard>),
    /// `{"numeric": [...]}`: an inclusive or exclusive range (either side may be open-ended).
    Numeric {
        /// The lower bound.
        low: Option<Bound>,
        /// The upper bound.
        high: Option<Bound>,
    },
    /// `{"exists": true|false}`.
    Exists(bool),
    /// `{"cidr": "10.0.0.0/24"}`.
    Cidr(Cidr),
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

impl Matcher {
    /// True when the field is absent (or has no leaf value) and this rule accepts that.
    pub fn matches_absent(&self) -> bool {
        matches!(self, Matcher::Exists(false))
    }

    /// True when the leaf value `value` satisfies this rule.
    pub fn matches(&self, value: &Value) -> bool {
        let text = value.as_str();
        match self {
            Matcher::Exact(expected) => expected == value,
            Matcher::Prefix(p) => text.is_some_and(|t| t.starts_with(p.as_str())),
            Matcher::PrefixIgnoreCase(p) => text.is_some_and(|t| lower(t).starts_with(&lower(p))),
            Matcher::Suffix(s) => text.is_some_and(|t| t.ends_with(s.as_str())),
            Matcher::SuffixIgnoreCase(s) => text.is_some_and(|t| lower(t).ends_with(&lower(s))),
            Matcher::EqualsIgnoreCase(s) => text.is_some_and(|t| lower(t) == lower(s)),
            Matcher::Wildcard(w) => text.is_some_and(|t| w.matches(t)),
            Matcher::AnythingButStrings(list) => text.is_none_or(|t| !list.iter().any(|s| s == t)),
            Matcher::AnythingButNumbers(list) => value
                .as_f64()
                .filter(|_| value.is_number())
                .is_none_or(|n| !list.contains(&n)),
            Matcher::AnythingButPrefix(list) => {
                text.is_none_or(|t| !list.iter().any(|p| t.starts_with(p.as_str())))
            }
            Matcher::AnythingButSuffix(list) => {
                text.is_none_or(|t| !list.iter().any(|s| t.ends_with(s.as_str())))
            }
            Matcher::AnythingButIgnoreCase(list) => {
                text.is_none_or(|t| !list.iter().any(|s| lower(s) == lower(t)))
            }
            Matcher::AnythingButWildcard(list) => {
                text.is_none_or(|t| !list.iter().any(|w| w.matches(t)))
            }
            Matcher::Numeric { low, high } => {
                let Some(n) = value.as_f64().filter(|_| value.is_number()) else {
                    return false;
                };
                let above = low.is_none_or(|b| if b.open { n > b.value } else { n >= b.value });
                let below = high.is_none_or(|b| if b.open { n < b.value } else { n <= b.value });
                above && below
            }
            Matcher::Exists(wanted) => *wanted,
            Matcher::Cidr(cidr) => text.is_some_and(|t| cidr.contains(t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Pattern;
    use serde_json::{Value, json};

    fn m(pattern: &str, event: Value) -> bool {
        Pattern::parse(pattern).unwrap().matches(&event)
    }

    #[test]
    fn prefix_and_suffix() {
        assert!(m(
            r#"{"time": [{"prefix": "2017-10-02"}]}"#,
            json!({"time": "2017-10-02T18:43:48Z"})
        ));
        assert!(!m(
            r#"{"time": [{"prefix": "2017-10-02"}]}"#,
            json!({"time": "2017-10-03T18:43:48Z"})
        ));
        assert!(m(
            r#"{"FileName": [{"suffix": ".png"}]}"#,
            json!({"FileName": "image.png"})
        ));
        assert!(!m(
            r#"{"FileName": [{"suffix": ".png"}]}"#,
            json!({"FileName": "image.PNG"})
        ));
        let p = r#"{"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}}"#;
        assert!(m(p, json!({"detail": {"service": "eventbridge"}})));
        assert!(m(p, json!({"detail": {"service": "EVENTBRIDGE"}})));
        let p = r#"{"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}"#;
        assert!(m(p, json!({"FileName": "photo.PNG"})));
        // String rules never match numbers.
        assert!(!m(r#"{"n": [{"prefix": "1"}]}"#, json!({"n": 123})));
    }

    #[test]
    fn equals_ignore_case() {
        let p = r#"{"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}"#;
        assert!(m(
            p,
            json!({"detail-type": "EC2 Instance State-change Notification"})
        ));
        assert!(!m(p, json!({"detail-type": "EC2 Instance"})));
    }

    #[test]
    fn anything_but_forms() {
        let p = r#"{"state": [{"anything-but": "initializing"}]}"#;
        assert!(m(p, json!({"state": "running"})));
        assert!(!m(p, json!({"state": "initializing"})));
        assert!(!m(p, json!({})), "anything-but needs a value");
        let p = r#"{"x-limit": [{"anything-but": 123}]}"#;
        assert!(m(p, json!({"x-limit": 124})));
        assert!(!m(p, json!({"x-limit": 123})));
        let p = r#"{"state": [{"anything-but": ["stopped", "overloaded"]}]}"#;
        assert!(m(p, json!({"state": "running"})));
        assert!(!m(p, json!({"state": "stopped"})));
        let p = r#"{"x-limit": [{"anything-but": [100, 200, 300]}]}"#;
        assert!(m(p, json!({"x-limit": 150})));
        assert!(!m(p, json!({"x-limit": 200})));
        let p = r#"{"state": [{"anything-but": {"prefix": "init"}}]}"#;
        assert!(m(p, json!({"state": "running"})));
        assert!(!m(p, json!({"state": "initializing"})));
        let p = r#"{"FileName": [{"anything-but": {"suffix": ".txt"}}]}"#;
        assert!(m(p, json!({"FileName": "a.png"})));
        assert!(!m(p, json!({"FileName": "a.txt"})));
        let p =
            r#"{"state": [{"anything-but": {"equals-ignore-case": ["Stopped", "OverLoaded"]}}]}"#;
        assert!(m(p, json!({"state": "running"})));
        assert!(!m(p, json!({"state": "STOPPED"})));
        let p = r#"{"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}"#;
        assert!(m(p, json!({"FilePath": "/usr/bin/x"})));
        assert!(!m(p, json!({"FilePath": "/usr/lib/x"})));
        let p = r#"{"Region": [{"anything-but": {"prefix": ["us-", "eu-"]}}]}"#;
        assert!(m(p, json!({"Region": "ap-south-1"})));
        assert!(!m(p, json!({"Region": "eu-west-1"})));
    }

    #[test]
    fn numeric_ranges() {
        let p = r#"{"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}],
                               "d-count": [{"numeric": ["<", 10]}],
                               "x-limit": [{"numeric": ["=", 301.8]}]}}"#;
        assert!(m(
            p,
            json!({"detail": {"c-count": 5, "d-count": 9.99, "x-limit": 301.8}})
        ));
        assert!(!m(
            p,
            json!({"detail": {"c-count": 0, "d-count": 9, "x-limit": 301.8}})
        ));
        assert!(!m(
            p,
            json!({"detail": {"c-count": 5, "d-count": 10, "x-limit": 301.8}})
        ));
        let p = r#"{"Price": [{"numeric": [">=", 10, "<", 20]}]}"#;
        assert!(m(p, json!({"Price": 10})));
        assert!(!m(p, json!({"Price": 20})));
        assert!(
            !m(p, json!({"Price": "15"})),
            "numeric rules match numbers only"
        );
        assert!(m(r#"{"n": [{"numeric": [">=", -5]}]}"#, json!({"n": -5})));
        assert!(m(r#"{"n": [{"numeric": ["<=", 1e2]}]}"#, json!({"n": 100})));
    }

    #[test]
    fn cidr_ranges() {
        let p = r#"{"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}"#;
        assert!(m(p, json!({"detail": {"sourceIPAddress": "10.0.0.255"}})));
        assert!(!m(p, json!({"detail": {"sourceIPAddress": "10.0.1.0"}})));
        assert!(!m(p, json!({"detail": {"sourceIPAddress": "not an ip"}})));
        let p = r#"{"ip": [{"cidr": "2001:db8::/32"}]}"#;
        assert!(m(p, json!({"ip": "2001:db8:1::1"})));
        assert!(!m(p, json!({"ip": "2001:db9::1"})));
    }

    #[test]
    fn wildcards() {
        let p = r#"{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}"#;
        assert!(m(
            p,
            json!({"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"})
        ));
        assert!(!m(
            p,
            json!({"EventBusArn": "arn:aws:events:us-west-2:123456789012:event-bus/default"})
        ));
        assert!(m(r#"{"k": [{"wildcard": "a\\*b"}]}"#, json!({"k": "a*b"})));
        assert!(!m(r#"{"k": [{"wildcard": "a\\*b"}]}"#, json!({"k": "axb"})));
    }

    #[test]
    fn exact_match_expression() {
        assert!(m(r#"{"k": [{"exactly": "a"}]}"#, json!({"k": "a"})));
        assert!(!m(r#"{"k": [{"exactly": "a"}]}"#, json!({"k": "A"})));
    }
}

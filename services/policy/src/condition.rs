//! The `Condition` element: condition operators compiled once, evaluated against the request
//! context ("IAM JSON policy elements: Condition operators"; "Conditions with multiple context
//! keys or values").
//!
//! - Operators in one `Condition` block are ANDed; keys under one operator are ANDed; the values
//!   of one key are ORed (for a negated operator: NORed).
//! - Keys are case-insensitive; values are case-sensitive unless the operator says otherwise.
//! - A key missing from the request makes the condition false, except for negated operators
//!   (`StringNotEquals`, `ArnNotLike`, `NotIpAddress`, ...), which are then true; `...IfExists`
//!   makes a missing key true for any operator; `Null` tests presence itself.
//! - `ForAllValues:` is true when every value of the request's key matches (and when the key is
//!   missing or empty); `ForAnyValue:` when at least one does (false when missing or empty). With
//!   a negated operator "matches" means "matches none of the policy's values".
//! - Policy variables are allowed in the values of the string, ARN and `Bool` operators; an
//!   unresolved one makes the whole statement not apply.

use std::net::IpAddr;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::{Iso8601, Rfc3339};

use crate::cidr::Cidr;
use crate::context::RequestContext;
use crate::error::PolicyError;
use crate::pattern::{Pattern, Syntax};

/// A comparison of the numeric and date operators: request value against policy value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

/// What one operator compares, with the policy's values compiled for it.
#[derive(Debug, Clone, PartialEq)]
enum Test {
    /// String, ARN and `Bool` operators, and `BinaryEquals`: patterns.
    Text(Vec<Pattern>),
    /// `Numeric...`: numbers (`None` for a value that is not one, which never matches).
    Number(Cmp, Vec<Option<f64>>),
    /// `Date...`: instants in nanoseconds since the epoch.
    Date(Cmp, Vec<Option<i128>>),
    /// `IpAddress`: address blocks.
    Ip(Vec<Option<Cidr>>),
    /// `Null`: whether the key must be absent.
    Null(bool),
}

/// How an operator applies to a multivalued key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qualifier {
    None,
    ForAllValues,
    ForAnyValue,
}

/// One operator on one key.
#[derive(Debug, Clone, PartialEq)]
struct Clause {
    key: String,
    /// The key as the policy writes it.
    name: String,
    test: Test,
    negated: bool,
    if_exists: bool,
    qualifier: Qualifier,
    has_vars: bool,
}

/// A compiled `Condition` element (empty: always true).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Condition {
    clauses: Vec<Clause>,
}

impl Condition {
    /// The condition keys its clauses test, as written.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.clauses.iter().map(|c| c.name.as_str())
    }
}

/// The operator families, with whether the operator is the negated one.
fn operator(name: &str) -> Option<(Family, bool)> {
    use Family::*;
    Some(match name {
        "StringEquals" => (
            Str {
                ci: false,
                like: false,
            },
            false,
        ),
        "StringNotEquals" => (
            Str {
                ci: false,
                like: false,
            },
            true,
        ),
        "StringEqualsIgnoreCase" => (
            Str {
                ci: true,
                like: false,
            },
            false,
        ),
        "StringNotEqualsIgnoreCase" => (
            Str {
                ci: true,
                like: false,
            },
            true,
        ),
        "StringLike" => (
            Str {
                ci: false,
                like: true,
            },
            false,
        ),
        "StringNotLike" => (
            Str {
                ci: false,
                like: true,
            },
            true,
        ),
        "NumericEquals" => (Num(Cmp::Eq), false),
        "NumericNotEquals" => (Num(Cmp::Eq), true),
        "NumericLessThan" => (Num(Cmp::Lt), false),
        "NumericLessThanEquals" => (Num(Cmp::Le), false),
        "NumericGreaterThan" => (Num(Cmp::Gt), false),
        "NumericGreaterThanEquals" => (Num(Cmp::Ge), false),
        "DateEquals" => (Date(Cmp::Eq), false),
        "DateNotEquals" => (Date(Cmp::Eq), true),
        "DateLessThan" => (Date(Cmp::Lt), false),
        "DateLessThanEquals" => (Date(Cmp::Le), false),
        "DateGreaterThan" => (Date(Cmp::Gt), false),
        "DateGreaterThanEquals" => (Date(Cmp::Ge), false),
        "Bool" => (Bool, false),
        "BinaryEquals" => (Binary, false),
        "IpAddress" => (Ip, false),
        "NotIpAddress" => (Ip, true),
        "ArnEquals" | "ArnLike" => (Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Arn, true),
        "Null" => (Null, false),
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy)]
enum Family {
    Str { ci: bool, like: bool },
    Num(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// A condition value as text: JSON strings, numbers and booleans are accepted.
fn value_text(value: &Value) -> Result<String, PolicyError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(PolicyError::Syntax),
    }
}

/// A date as IAM reads it: epoch seconds, or an ISO 8601 date-time or date.
pub(crate) fn parse_date(text: &str) -> Option<i128> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<i64>() {
        return Some(i128::from(secs) * 1_000_000_000);
    }
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    if let Ok(t) = OffsetDateTime::parse(text, &Iso8601::DEFAULT) {
        return Some(t.unix_timestamp_nanos());
    }
    let date = time::Date::parse(
        text,
        &time::macros::format_description!("[year]-[month]-[day]"),
    );
    date.ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp_nanos())
}

impl Condition {
    /// Compiles a `Condition` element; `variables` is false for version 2008-10-17 policies.
    pub(crate) fn parse(value: &Value, variables: bool) -> Result<Condition, PolicyError> {
        let Value::Object(ops) = value else {
            return Err(PolicyError::Syntax);
        };
        let mut clauses = Vec::new();
        for (name, keys) in ops {
            let Value::Object(keys) = keys else {
                return Err(PolicyError::Syntax);
            };
            clauses.extend(Self::operator_clauses(name, keys, variables)?);
        }
        Ok(Condition { clauses })
    }

    fn operator_clauses(
        name: &str,
        keys: &Map<String, Value>,
        variables: bool,
    ) -> Result<Vec<Clause>, PolicyError> {
        let (qualifier, base) = if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Qualifier::ForAllValues, rest)
        } else if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Qualifier::ForAnyValue, rest)
        } else {
            (Qualifier::None, name)
        };
        let (base, if_exists) = match base.strip_suffix("IfExists") {
            Some(b) if b != "Null" => (b, true),
            _ => (base, false),
        };
        let (family, negated) =
            operator(base).ok_or_else(|| PolicyError::InvalidCondition(name.to_string()))?;
        let mut clauses = Vec::new();
        for (key, values) in keys {
            if !key.contains(':') {
                return Err(PolicyError::MissingVendor);
            }
            let texts: Vec<String> = match values {
                Value::Array(items) if !items.is_empty() => {
                    items.iter().map(value_text).collect::<Result<_, _>>()?
                }
                Value::Array(_) => return Err(PolicyError::Syntax),
                other => vec![value_text(other)?],
            };
            let text_syntax = |ci: bool, like: bool, arn: bool| Syntax {
                wildcards: like,
                variables,
                ignore_case: ci,
                arn,
            };
            let patterns = |syntax: Syntax| -> Vec<Pattern> {
                texts.iter().map(|t| Pattern::new(t, syntax)).collect()
            };
            let test = match family {
                Family::Str { ci, like } => Test::Text(patterns(text_syntax(ci, like, false))),
                Family::Bool => Test::Text(patterns(text_syntax(true, false, false))),
                Family::Binary => Test::Text(patterns(Syntax {
                    wildcards: false,
                    variables: false,
                    ignore_case: false,
                    arn: false,
                })),
                Family::Arn => Test::Text(patterns(text_syntax(false, true, true))),
                Family::Num(cmp) => Test::Number(
                    cmp,
                    texts.iter().map(|t| t.trim().parse::<f64>().ok()).collect(),
                ),
                Family::Date(cmp) => Test::Date(cmp, texts.iter().map(|t| parse_date(t)).collect()),
                Family::Ip => Test::Ip(texts.iter().map(|t| Cidr::parse(t)).collect()),
                Family::Null => {
                    let want = texts.first().map(|t| t.eq_ignore_ascii_case("true"));
                    Test::Null(want.ok_or(PolicyError::Syntax)?)
                }
            };
            let has_vars = matches!(&test, Test::Text(ps) if ps.iter().any(Pattern::has_vars));
            clauses.push(Clause {
                key: key.to_lowercase(),
                name: key.to_string(),
                test,
                negated,
                if_exists,
                qualifier,
                has_vars,
            });
        }
        Ok(clauses)
    }

    /// Whether the condition holds; `None` when a policy variable in it is unresolved.
    pub(crate) fn holds(&self, ctx: &RequestContext<'_>) -> Option<bool> {
        for clause in &self.clauses {
            if !clause.holds(ctx)? {
                return Some(false);
            }
        }
        Some(true)
    }

    /// Whether there is nothing to test.
    pub(crate) fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }
}

impl Clause {
    fn holds(&self, ctx: &RequestContext<'_>) -> Option<bool> {
        if self.has_vars
            && let Test::Text(patterns) = &self.test
            && !patterns.iter().all(|p| p.resolvable(ctx))
        {
            return None;
        }
        let values = ctx.values_lower(&self.key);
        if let Test::Null(want_absent) = self.test {
            return Some(values.is_empty() == want_absent);
        }
        if values.is_empty() {
            return Some(match self.qualifier {
                Qualifier::ForAllValues => true,
                Qualifier::ForAnyValue => self.if_exists,
                Qualifier::None => self.if_exists || self.negated,
            });
        }
        Some(match self.qualifier {
            Qualifier::None => values.any(|v| self.matches(v, ctx)) != self.negated,
            Qualifier::ForAnyValue => values.any(|v| self.matches(v, ctx) != self.negated),
            Qualifier::ForAllValues => values.all(|v| self.matches(v, ctx) != self.negated),
        })
    }

    /// Whether one request value matches one of the policy's values (positive sense).
    fn matches(&self, value: &str, ctx: &RequestContext<'_>) -> bool {
        match &self.test {
            Test::Text(patterns) => patterns
                .iter()
                .any(|p| p.is_match(value, ctx).unwrap_or(false)),
            Test::Number(cmp, numbers) => match value.trim().parse::<f64>() {
                Ok(v) => numbers.iter().flatten().any(|n| cmp.holds(v, *n)),
                Err(_) => false,
            },
            Test::Date(cmp, dates) => match parse_date(value) {
                Some(v) => dates.iter().flatten().any(|d| cmp.holds(v, *d)),
                None => false,
            },
            Test::Ip(blocks) => match value.trim().parse::<IpAddr>() {
                Ok(addr) => blocks.iter().flatten().any(|b| b.contains(addr)),
                Err(_) => false,
            },
            Test::Null(_) => false,
        }
    }
}

//! skyport-patterns: the event-pattern language AWS shares between EventBridge rules, Lambda event
//! filters (`FilterCriteria`) and (with its own limits) SNS filter policies, matched against JSON.
//!
//! A pattern is a JSON object whose shape follows the event's: a key whose value is an object
//! descends into the event, a key whose value is an array lists the rules one of which the event's
//! value there must satisfy (arrays are OR, keys are AND). Rules: exact values (strings, numbers,
//! `true`, `false`, `null`), `prefix`, `suffix` (both also with `equals-ignore-case`),
//! `equals-ignore-case`, `wildcard`, `anything-but` (a value, a list, or `prefix`, `suffix`,
//! `equals-ignore-case`, `wildcard` forms), `numeric` (`=`, `<`, `<=`, `>`, `>=` and ranges), `exists`,
//! `cidr`, and `$or` between sub-patterns. An array in the event matches when one of its elements
//! does; fields matched inside one array element must come from that same element.
//!
//! Validation follows AWS's rule compiler (the `event-ruler` library EventBridge runs): a bad pattern
//! gives [`PatternError`] with its reason (`Unrecognized match type …`, `Empty arrays are not
//! allowed`, ...). Each service words the surrounding error its own way: EventBridge answers
//! `Event pattern is not valid. Reason: …`, Lambda `Invalid filter pattern definition.`.
//!
//! - [`parse`]: pattern text or JSON to a [`Pattern`], with AWS's validation;
//! - [`matcher`]: the rules for one value; [`cidr`] and [`wildcard`]: their helpers.
#![forbid(unsafe_code)]

pub mod cidr;
pub mod matcher;
pub mod parse;
pub mod wildcard;

use serde_json::Value;

pub use matcher::Matcher;
pub use parse::PatternError;

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    root: ObjectPattern,
}

/// The rules for one object of the event: every field must match, and each `$or` group must have
/// one alternative that matches the same object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObjectPattern {
    /// Fields by name, in the pattern's order.
    pub fields: Vec<(String, FieldPattern)>,
    /// `$or` groups: one alternative of each must match.
    pub ors: Vec<Vec<ObjectPattern>>,
}

/// What a pattern says about one field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldPattern {
    /// The field is an object of the event (the pattern descends into it).
    Object(ObjectPattern),
    /// The field's value must satisfy one of these rules.
    Leaf(Vec<Matcher>),
}

/// How a pattern treats a top-level field: as a value (rules) or as an object (nested patterns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldShape {
    /// `"key": [ rules ]`.
    Leaf,
    /// `"key": { ... }`.
    Object,
}

impl Pattern {
    /// Parses and validates pattern text.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        parse::pattern_from_str(text)
    }

    /// Validates a pattern already parsed as JSON.
    pub fn from_value(value: &Value) -> Result<Pattern, PatternError> {
        parse::pattern_from_value(value)
    }

    /// True when `event` matches.
    pub fn matches(&self, event: &Value) -> bool {
        match_object(&self.root, Some(event))
    }

    /// The root of the pattern.
    pub fn root(&self) -> &ObjectPattern {
        &self.root
    }

    /// The pattern's size as SNS limits it: the number of leaf keys (each field with rules, counted
    /// in every `$or` alternative) and the number of combinations (the product, over the fields, of
    /// their number of rules, `$or` groups adding their alternatives' combinations). SNS refuses more
    /// than 5 keys and 150 combinations.
    pub fn complexity(&self) -> (usize, usize) {
        complexity(&self.root)
    }

    /// How the pattern uses the top-level field `key` (in its fields and in its top-level `$or`
    /// alternatives): Lambda checks a message body's format against it.
    pub fn field_shapes(&self, key: &str) -> Vec<FieldShape> {
        let mut out = Vec::new();
        collect_shapes(&self.root, key, &mut out);
        out
    }
}

fn complexity(object: &ObjectPattern) -> (usize, usize) {
    let mut keys = 0usize;
    let mut combinations = 1usize;
    for (_, field) in &object.fields {
        let (k, c) = match field {
            FieldPattern::Leaf(rules) => (1, rules.len().max(1)),
            FieldPattern::Object(inner) => complexity(inner),
        };
        keys += k;
        combinations = combinations.saturating_mul(c);
    }
    for group in &object.ors {
        let mut sum = 0usize;
        for alternative in group {
            let (k, c) = complexity(alternative);
            keys += k;
            sum = sum.saturating_add(c);
        }
        combinations = combinations.saturating_mul(sum.max(1));
    }
    (keys, combinations)
}

fn collect_shapes(object: &ObjectPattern, key: &str, out: &mut Vec<FieldShape>) {
    for (name, field) in &object.fields {
        if name == key {
            out.push(match field {
                FieldPattern::Leaf(_) => FieldShape::Leaf,
                FieldPattern::Object(_) => FieldShape::Object,
            });
        }
    }
    for group in &object.ors {
        for alternative in group {
            collect_shapes(alternative, key, out);
        }
    }
}

/// Matches an object pattern against the event's value there (`None`: the event has nothing there).
fn match_object(pattern: &ObjectPattern, value: Option<&Value>) -> bool {
    if let Some(Value::Array(items)) = value {
        // An array of objects: one element must satisfy the whole object pattern.
        if items.is_empty() {
            return match_object(pattern, None);
        }
        return items.iter().any(|item| match_object(pattern, Some(item)));
    }
    let object = value.and_then(Value::as_object);
    let fields_match = pattern.fields.iter().all(|(name, field)| {
        let child = object.and_then(|o| o.get(name));
        match field {
            FieldPattern::Object(inner) => match_object(inner, child),
            FieldPattern::Leaf(rules) => match_leaf(rules, child),
        }
    });
    fields_match
        && pattern
            .ors
            .iter()
            .all(|group| group.iter().any(|alt| match_object(alt, value)))
}

/// Matches a field's rules against its leaf values (scalars, also inside arrays).
fn match_leaf(rules: &[Matcher], value: Option<&Value>) -> bool {
    let mut leaves = Vec::new();
    if let Some(v) = value {
        collect_leaves(v, &mut leaves);
    }
    if leaves.is_empty() {
        return rules.iter().any(Matcher::matches_absent);
    }
    rules
        .iter()
        .any(|rule| leaves.iter().any(|leaf| rule.matches(leaf)))
}

fn collect_leaves<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => {
            for item in items {
                collect_leaves(item, out);
            }
        }
        // An object is not a value of this field (rules apply to leaves only).
        Value::Object(_) => {}
        scalar => out.push(scalar),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(pattern: &str, event: Value) -> bool {
        Pattern::parse(pattern).unwrap().matches(&event)
    }

    #[test]
    fn complexity_counts_keys_and_combinations() {
        // AWS's example: 3 * 2 * 2 = 12 combinations over 3 keys.
        let p = Pattern::parse(
            r#"{"key_a": ["value_one", "value_two", "value_three"], "key_b": ["value_one"],
                "key_c": ["value_one", "value_two"], "key_d": {"e": ["x", "y"]}}"#,
        )
        .unwrap();
        assert_eq!(p.complexity(), (4, 12));
        let or =
            Pattern::parse(r#"{"a": ["1"], "$or": [{"b": ["1", "2"]}, {"c": ["1", "2", "3"]}]}"#)
                .unwrap();
        assert_eq!(or.complexity(), (3, 5));
    }

    #[test]
    fn keys_are_and_arrays_are_or() {
        let p = r#"{"Location": ["New York"], "Day": ["Monday", "Tuesday"]}"#;
        assert!(m(p, json!({"Location": "New York", "Day": "Tuesday"})));
        assert!(!m(p, json!({"Location": "New York", "Day": "Friday"})));
        assert!(!m(p, json!({"Day": "Monday"})));
    }

    #[test]
    fn nested_objects_and_event_arrays() {
        // AWS's example: a pattern value matches when any element of the event's array does.
        let p = r#"{"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]}"#;
        let event = json!({"resources": [
            "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
            "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"
        ]});
        assert!(m(p, event));
        let p = r#"{"detail": {"state": ["running"]}}"#;
        assert!(m(p, json!({"detail": {"state": "running"}})));
        assert!(!m(p, json!({"detail": {"state": "stopped"}})));
        assert!(!m(p, json!({"state": "running"})));
    }

    #[test]
    fn fields_inside_one_array_element_stay_together() {
        let p = r#"{"items": {"name": ["a"], "size": [1]}}"#;
        assert!(m(
            p,
            json!({"items": [{"name": "a", "size": 1}, {"name": "b", "size": 2}]})
        ));
        assert!(!m(
            p,
            json!({"items": [{"name": "a", "size": 2}, {"name": "b", "size": 1}]})
        ));
    }

    #[test]
    fn null_empty_and_exact_types() {
        assert!(m(r#"{"UserID": [null]}"#, json!({"UserID": null})));
        assert!(!m(r#"{"UserID": [null]}"#, json!({})));
        assert!(m(r#"{"LastName": [""]}"#, json!({"LastName": ""})));
        assert!(m(r#"{"on": [true]}"#, json!({"on": true})));
        assert!(!m(r#"{"on": [true]}"#, json!({"on": "true"})));
        assert!(m(r#"{"n": [300]}"#, json!({"n": 300})));
        // Numbers match by their representation: 300 and 300.0 differ, as AWS documents.
        assert!(!m(r#"{"n": [300]}"#, json!({"n": 300.0})));
        assert!(!m(r#"{"n": ["300"]}"#, json!({"n": 300})));
    }

    #[test]
    fn or_between_sub_patterns() {
        let p = r#"{"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]},
                                     {"d-count": [{"numeric": ["<", 10]}]},
                                     {"x-limit": [{"numeric": ["=", 301.8]}]}]}}"#;
        assert!(m(p, json!({"detail": {"c-count": 3}})));
        assert!(m(p, json!({"detail": {"d-count": 9}})));
        assert!(m(p, json!({"detail": {"x-limit": 301.8}})));
        assert!(!m(p, json!({"detail": {"c-count": 7, "d-count": 12}})));
        let p = r#"{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]},
                   {"namespace": ["AWS/EC2"]}]}"#;
        assert!(m(
            p,
            json!({"source": "aws.cloudwatch", "namespace": "AWS/EC2"})
        ));
        assert!(!m(p, json!({"source": "aws.s3", "namespace": "AWS/EC2"})));
    }

    #[test]
    fn exists_is_about_leaves() {
        let p = r#"{"detail": {"c-count": [{"exists": false}]}}"#;
        assert!(m(p, json!({"detail": {"d-count": 1}})));
        assert!(m(p, json!({})));
        assert!(!m(p, json!({"detail": {"c-count": 1}})));
        let p = r#"{"detail": {"state": [{"exists": true}]}}"#;
        assert!(m(p, json!({"detail": {"state": "x"}})));
        assert!(m(p, json!({"detail": {"state": null}})));
        assert!(!m(p, json!({"detail": {"state": {"nested": 1}}})));
        assert!(!m(p, json!({"detail": {"state": []}})));
    }

    #[test]
    fn shapes_of_a_top_level_field() {
        let p = Pattern::parse(r#"{"body": {"a": [1]}, "$or": [{"body": ["x"]}, {"c": [1]}]}"#)
            .unwrap();
        assert_eq!(
            p.field_shapes("body"),
            vec![FieldShape::Object, FieldShape::Leaf]
        );
        assert!(p.field_shapes("nope").is_empty());
    }
}

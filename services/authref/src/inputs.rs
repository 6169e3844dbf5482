//! Where a request's input values come from: the gateway hands [`requirements`](crate::requirements)
//! an [`Inputs`] built from the parsed request, named as the SDK model names the operation's input
//! members (S3 `Bucket`, `Key`, `VersionId`, `CopySource`; SQS `QueueUrl`; DynamoDB `TableName`; ...).
//!
//! Paths reach into nested members: `a.b` is member `b` of structure `a`, `a[]` every element of list
//! `a`, `a{}` every key of map `a` (only last in a path). `serde_json::Value` implements [`Inputs`] for a
//! request shaped as the model's JSON (structures as objects, lists as arrays, maps as objects), which
//! is what the JSON protocols carry and what the query and XML protocols parse into.

use std::collections::{BTreeMap, HashMap};

/// A request's input values, by SDK model member name.
pub trait Inputs {
    /// A top-level member's value as text, `None` when absent. Absent, null, empty text and empty
    /// lists or maps all count as absent.
    fn get(&self, member: &str) -> Option<String>;

    /// Every value a path reaches, one entry per list element it passes (`None` where an element
    /// lacks the rest of the path), so that two paths into the same list line up. A missing list or
    /// member yields nothing. The default answers only top-level members, through [`Inputs::get`].
    fn get_all(&self, path: &str) -> Vec<Option<String>> {
        self.get(path).map(|v| vec![Some(v)]).unwrap_or_default()
    }
}

impl Inputs for serde_json::Value {
    fn get(&self, member: &str) -> Option<String> {
        self.as_object()?.get(member).and_then(text)
    }

    fn get_all(&self, path: &str) -> Vec<Option<String>> {
        let mut out = Vec::new();
        walk(self, path, &mut out);
        out
    }
}

/// A scalar as text; structures, lists and maps as their JSON text (so that their presence shows).
fn text(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(a) if a.is_empty() => None,
        Value::Object(o) if o.is_empty() => None,
        Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_) => {
            Some(value.to_string())
        }
    }
}

fn walk(value: &serde_json::Value, path: &str, out: &mut Vec<Option<String>>) {
    let (segment, rest) = match path.split_once('.') {
        Some((segment, rest)) => (segment, Some(rest)),
        None => (path, None),
    };
    let Some(object) = value.as_object() else {
        return;
    };
    if let Some(name) = segment.strip_suffix("{}") {
        if let Some(map) = object.get(name).and_then(|m| m.as_object()) {
            out.extend(map.keys().map(|k| Some(k.clone())));
        }
        return;
    }
    if let Some(name) = segment.strip_suffix("[]") {
        let Some(list) = object.get(name).and_then(|l| l.as_array()) else {
            return;
        };
        for element in list {
            match rest {
                None => out.push(text(element)),
                Some(rest) => {
                    let before = out.len();
                    walk(element, rest, out);
                    if out.len() == before {
                        out.push(None);
                    }
                }
            }
        }
        return;
    }
    let Some(member) = object.get(segment) else {
        return;
    };
    match rest {
        None => {
            if let Some(t) = text(member) {
                out.push(Some(t));
            }
        }
        Some(rest) => walk(member, rest, out),
    }
}

impl<S: std::hash::BuildHasher> Inputs for HashMap<String, String, S> {
    fn get(&self, member: &str) -> Option<String> {
        self.get(member).filter(|v| !v.is_empty()).cloned()
    }
}

impl Inputs for BTreeMap<String, String> {
    fn get(&self, member: &str) -> Option<String> {
        self.get(member).filter(|v| !v.is_empty()).cloned()
    }
}

/// Name-value pairs, handy in tests and for requests with few members: `[("TableName", "t")]`.
impl<const N: usize> Inputs for [(&str, &str); N] {
    fn get(&self, member: &str) -> Option<String> {
        pair(self, member)
    }
}

impl Inputs for Vec<(&str, &str)> {
    fn get(&self, member: &str) -> Option<String> {
        pair(self, member)
    }
}

fn pair(pairs: &[(&str, &str)], member: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, v)| *k == member && !v.is_empty())
        .map(|(_, v)| (*v).to_string())
}

/// Inputs with some members answered differently: how one element of a batch (a key of
/// `DeleteObjects`, a statement of `BatchExecuteStatement`) is resolved like a request of its own.
pub(crate) struct Overlay<'a> {
    pub(crate) base: &'a dyn Inputs,
    pub(crate) members: Vec<(&'static str, Option<String>)>,
}

impl Inputs for Overlay<'_> {
    fn get(&self, member: &str) -> Option<String> {
        match self.members.iter().find(|(k, _)| *k == member) {
            Some((_, v)) => v.clone(),
            None => self.base.get(member),
        }
    }

    fn get_all(&self, path: &str) -> Vec<Option<String>> {
        match self.members.iter().find(|(k, _)| *k == path) {
            Some((_, v)) => v.clone().map(|v| vec![Some(v)]).unwrap_or_default(),
            None => self.base.get_all(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_paths_line_up_and_skip_what_is_absent() {
        let v = json!({
            "Bucket": "b",
            "Empty": "",
            "Tags": [],
            "Flag": true,
            "Delete": {"Objects": [{"Key": "a"}, {"Key": "b", "VersionId": "v1"}]},
            "RequestItems": {"T1": {}, "T2": {}},
            "Entries": [{"EventBusName": "bus"}, {"Source": "x"}],
        });
        assert_eq!(Inputs::get(&v, "Bucket").as_deref(), Some("b"));
        assert_eq!(Inputs::get(&v, "Empty"), None);
        assert_eq!(Inputs::get(&v, "Tags"), None);
        assert_eq!(Inputs::get(&v, "Flag").as_deref(), Some("true"));
        assert_eq!(Inputs::get(&v, "Missing"), None);
        assert_eq!(
            v.get_all("Delete.Objects[].Key"),
            [Some("a".into()), Some("b".into())]
        );
        assert_eq!(
            v.get_all("Delete.Objects[].VersionId"),
            [None, Some("v1".into())]
        );
        assert_eq!(
            v.get_all("RequestItems{}"),
            [Some("T1".into()), Some("T2".into())]
        );
        assert_eq!(
            v.get_all("Entries[].EventBusName"),
            [Some("bus".into()), None]
        );
        assert!(v.get_all("Nothing[].Key").is_empty());
        assert!(v.get_all("Missing").is_empty());
        assert_eq!(v.get_all("Bucket"), [Some("b".into())]);
    }

    #[test]
    fn maps_and_pairs_answer_top_level_members() {
        let mut m = HashMap::new();
        m.insert("QueueUrl".to_string(), "http://h/1/q".to_string());
        m.insert("Blank".to_string(), String::new());
        assert_eq!(Inputs::get(&m, "QueueUrl").as_deref(), Some("http://h/1/q"));
        assert_eq!(Inputs::get(&m, "Blank"), None);
        let pairs = [("TableName", "t")];
        assert_eq!(pairs.get_all("TableName"), [Some("t".into())]);
        let overlay = Overlay {
            base: &pairs,
            members: vec![("TableName", None), ("IndexName", Some("i".into()))],
        };
        assert_eq!(overlay.get("TableName"), None);
        assert_eq!(overlay.get("IndexName").as_deref(), Some("i"));
    }
}

//! Least-privilege suggestions for soft mode: from the requests that were denied, an
//! identity-based policy that would have allowed exactly them.
//!
//! Resources are grouped per action, then actions that need the same resources share one
//! statement. Output is deterministic (sorted), so a suggestion can be diffed between runs.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

/// A policy document (version 2012-10-17) allowing each denied `(action, resource)` pair.
pub fn suggest_policy<A, R>(denied: impl IntoIterator<Item = (A, R)>) -> Value
where
    A: AsRef<str>,
    R: AsRef<str>,
{
    let mut per_action: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (action, resource) in denied {
        let resource = resource.as_ref();
        let resource = if resource.is_empty() { "*" } else { resource };
        per_action
            .entry(action.as_ref().to_string())
            .or_default()
            .insert(resource.to_string());
    }
    // `*` covers every other resource of the action.
    for resources in per_action.values_mut() {
        if resources.contains("*") {
            resources.retain(|r| r == "*");
        }
    }
    let mut per_resources: BTreeMap<BTreeSet<String>, BTreeSet<String>> = BTreeMap::new();
    for (action, resources) in per_action {
        per_resources.entry(resources).or_default().insert(action);
    }
    let statements: Vec<Value> = per_resources
        .into_iter()
        .map(|(resources, actions)| {
            let one_or_list = |set: BTreeSet<String>| -> Value {
                if set.len() == 1 {
                    set.into_iter().next().map_or(Value::Null, Value::String)
                } else {
                    Value::Array(set.into_iter().map(Value::String).collect())
                }
            };
            json!({
                "Effect": "Allow",
                "Action": one_or_list(actions),
                "Resource": one_or_list(resources),
            })
        })
        .collect();
    json!({ "Version": "2012-10-17", "Statement": statements })
}

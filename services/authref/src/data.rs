//! The vendored reference, `models/authref/service-reference.json` (written by
//! `models/authref/refresh.py` from AWS's service reference JSON), embedded in the binary and parsed
//! once on first use.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::arn::Template;

const JSON: &str = include_str!("../../../models/authref/service-reference.json");

/// The whole reference: one entry per IAM service prefix.
#[derive(Debug)]
pub(crate) struct Reference {
    pub(crate) source: String,
    pub(crate) services: HashMap<String, Service>,
}

/// One service prefix's actions, resource types and operations.
#[derive(Debug)]
pub(crate) struct Service {
    pub(crate) resources: HashMap<String, Resource>,
    pub(crate) actions: HashMap<String, Action>,
    /// SDK operation name -> the actions (`prefix:Name`) AWS says it authorizes.
    pub(crate) operations: HashMap<String, Vec<String>>,
}

/// A resource type: its ARN formats and the condition keys it brings.
#[derive(Debug)]
pub(crate) struct Resource {
    pub(crate) arns: Vec<Template>,
    pub(crate) conditions: Vec<String>,
}

/// An action: the resource types it applies to (none: `*`), and its own condition keys.
#[derive(Debug, Deserialize)]
pub(crate) struct Action {
    pub(crate) resources: Vec<String>,
    pub(crate) conditions: Vec<String>,
}

#[derive(Deserialize)]
struct RawReference {
    source: String,
    services: HashMap<String, RawService>,
}

#[derive(Deserialize)]
struct RawService {
    resources: HashMap<String, RawResource>,
    actions: HashMap<String, Action>,
    operations: HashMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct RawResource {
    arn: Vec<String>,
    conditions: Vec<String>,
}

/// The parsed reference, or why the embedded text could not be read (a packaging bug: a unit test
/// parses it).
pub(crate) fn reference() -> Result<&'static Reference, String> {
    static PARSED: OnceLock<Result<Reference, String>> = OnceLock::new();
    PARSED
        .get_or_init(|| {
            parse(JSON).inspect_err(|e| tracing::error!("authorization reference unreadable: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn parse(text: &str) -> Result<Reference, String> {
    let raw: RawReference = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let services = raw
        .services
        .into_iter()
        .map(|(prefix, s)| {
            let resources = s
                .resources
                .into_iter()
                .map(|(name, r)| {
                    let arns = r.arn.iter().map(|a| Template::parse(a)).collect();
                    (
                        name,
                        Resource {
                            arns,
                            conditions: r.conditions,
                        },
                    )
                })
                .collect();
            let service = Service {
                resources,
                actions: s.actions,
                operations: s.operations,
            };
            (prefix, service)
        })
        .collect();
    Ok(Reference {
        source: raw.source,
        services,
    })
}

impl Reference {
    /// The action `prefix:Name`, if the reference has it.
    pub(crate) fn action(&self, action: &str) -> Option<(&Service, &Action)> {
        let (prefix, name) = action.split_once(':')?;
        let service = self.services.get(prefix)?;
        Some((service, service.actions.get(name)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_reference_parses_with_the_ten_prefixes() {
        let r = reference().expect("the vendored JSON parses");
        let mut prefixes: Vec<_> = r.services.keys().cloned().collect();
        prefixes.sort();
        assert_eq!(
            prefixes,
            [
                "dynamodb", "ecr", "events", "iam", "lambda", "logs", "s3", "sns", "sqs", "sts"
            ]
        );
        assert!(!r.source.is_empty());
        let (s3, get) = r.action("s3:GetObject").expect("s3:GetObject");
        assert_eq!(get.resources, ["accesspointobject", "object"]);
        assert!(s3.resources["object"].arns[0].has_var("ObjectName"));
        assert!(r.action("s3:NoSuchAction").is_none());
        assert!(r.action("nope").is_none());
    }
}

//! skyport-authref: AWS's Service Authorization Reference, vendored, answering "for a request to
//! service S, operation O, with these input values, which IAM actions are needed and on which resource
//! ARNs?" (issue #24: `ENFORCE_IAM=1`, soft mode, the policy simulator). The gateway asks
//! [`requirements`] and hands each [`Requirement`] to the policy evaluator (`skyport-policy`).
//!
//! Everything about actions comes from AWS's published data: `models/authref/service-reference.json`,
//! AWS's service reference JSON for the ten service prefixes Skyport implements, trimmed and vendored
//! by `models/authref/refresh.py` (provenance and licence status in `models/authref/NOTICE`). It gives,
//! per prefix, each action's resource types and condition keys, each resource type's ARN formats, and
//! each SDK operation's authorized actions. Embedded with `include_str!`, parsed once on first use.
//!
//! What the data does not say is kept in two small tables:
//! - `bindings`: which input member carries each ARN template variable
//!   (`${BucketName}` is S3's `Bucket`, `${QueueName}` the last segment of SQS's `QueueUrl`);
//! - `rules`: which of the actions an operation *may* authorize a given request needs (`s3:PutObject`
//!   lists `s3:PutObjectTagging`, needed only with an `x-amz-tagging` header), the few operations whose
//!   own action is not named like them, and per-item cases (`DeleteObjects`, `TransactWriteItems`,
//!   PartiQL statements).
//!
//! An action whose resource types are empty applies to `*`, and so does one whose resource the inputs
//! do not determine (list operations): [`Requirement::resources`] is then empty.
#![forbid(unsafe_code)]

mod arn;
mod bindings;
pub mod check;
mod data;
mod error;
mod inputs;
mod resolve;
mod rules;

pub use check::{ResourcePolicy, applies, check, check_with, is_owners_root};
pub use error::AuthrefError;
pub use inputs::Inputs;

/// One authorization the request needs: an IAM action on resource ARNs (empty: `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// `prefix:Name`, as in a policy: `s3:GetObject`.
    pub action: String,
    /// Every ARN the action must be allowed on; empty means `*`.
    pub resources: Vec<String>,
}

/// The request's partition, region and account: what an ARN takes when the input does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
}

/// The IAM actions, and their resources, that a request to `operation` (its SDK name, `ListObjectsV2`)
/// of the service with IAM prefix `service_prefix` (`s3`; DynamoDB Streams operations are under
/// `dynamodb`, which `dynamodbstreams` also names) needs, given the request's input members.
pub fn requirements(
    service_prefix: &str,
    operation: &str,
    scope: &Scope,
    input: &dyn Inputs,
) -> Result<Vec<Requirement>, AuthrefError> {
    let reference = data::reference().map_err(AuthrefError::Data)?;
    let prefix = canonical(service_prefix);
    let service = reference
        .services
        .get(prefix)
        .ok_or_else(|| AuthrefError::UnknownService(service_prefix.to_string()))?;
    resolve::requirements(reference, prefix, service, operation, scope, input)
}

/// Every action an operation may need, whatever its inputs: its primary actions first, then those
/// that depend on the request (tags, ACLs, versions, roles passed). For listings and the simulator.
pub fn operation_actions(
    service_prefix: &str,
    operation: &str,
) -> Result<Vec<String>, AuthrefError> {
    let reference = data::reference().map_err(AuthrefError::Data)?;
    let prefix = canonical(service_prefix);
    let service = reference
        .services
        .get(prefix)
        .ok_or_else(|| AuthrefError::UnknownService(service_prefix.to_string()))?;
    resolve::candidates(prefix, service, operation)
}

/// Whether the reference has the action (`sqs:SendMessage`; exact case).
pub fn action_exists(action: &str) -> bool {
    data::reference().is_ok_and(|r| r.action(action).is_some())
}

/// The condition keys an action supports: its own and those of its resource types, sorted (empty for
/// an unknown action).
pub fn condition_keys(action: &str) -> Vec<String> {
    let Ok(reference) = data::reference() else {
        return Vec::new();
    };
    let Some((service, a)) = reference.action(action) else {
        return Vec::new();
    };
    let mut keys: Vec<String> = a
        .conditions
        .iter()
        .chain(
            a.resources
                .iter()
                .filter_map(|r| service.resources.get(r))
                .flat_map(|r| r.conditions.iter()),
        )
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Where the vendored data came from (recorded by the refresh script).
pub fn reference_source() -> Option<&'static str> {
    data::reference().ok().map(|r| r.source.as_str())
}

/// The IAM prefix for a service name: botocore's `dynamodbstreams` is authorized as `dynamodb`.
fn canonical(prefix: &str) -> &str {
    match prefix {
        "dynamodbstreams" | "streams.dynamodb" => "dynamodb",
        other => other,
    }
}

#[cfg(test)]
mod tests;

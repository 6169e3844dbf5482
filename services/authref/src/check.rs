//! The check every service runs on a request before acting on it (`ENFORCE_IAM=1`): the request's
//! [`requirements`](crate::requirements), each action on each resource put to IAM's
//! [`Authorizer`](skyport_core::bus::Authorizer) for the verified principal, and the first denial
//! answered as the service answers it. Requests without a verified principal (enforcement off,
//! exempt routes) and `sts:GetCallerIdentity` (which AWS never denies) pass without evaluation. An
//! account's root user is evaluated only where its account alone cannot allow: on resources of
//! other accounts (whose resource-based policies must grant it) and for `sts:AssumeRole` (which AWS
//! refuses the root user).

use std::borrow::Cow;

use skyport_core::bus::{AccessQuery, Principal};
use skyport_core::{AwsError, RequestContext};

use crate::{Inputs, Scope, requirements};

/// Operations AWS serves to every authenticated caller, whatever its policies say.
const ALWAYS_ALLOWED: &[(&str, &str)] = &[("sts", "GetCallerIdentity")];

/// Whether `principal` is an account's root user (allowed everything in its own account).
fn is_root(principal: &Principal) -> bool {
    principal.arn.ends_with(":root")
}

/// Whether `principal` is the root user of `account`, the owner of the resource: IAM allows it
/// every action there but `sts:AssumeRole`, without evaluation (S3 skips even reading the bucket's
/// ACLs for it).
pub fn is_owners_root(principal: &Principal, account: &str) -> bool {
    is_root(principal) && principal.account == account
}

/// Actions evaluated for the root user in its own account too.
const ROOT_EVALUATED: &[&str] = &["sts:AssumeRole"];

/// Whether the root user's `action` on a resource of `account` needs IAM's evaluation: across
/// accounts, or for an action its account alone cannot allow.
fn root_needs_evaluation(principal: &Principal, action: &str, account: Option<&str>) -> bool {
    account.is_some_and(|a| !is_owners_root(principal, a)) || ROOT_EVALUATED.contains(&action)
}

/// The IAM prefix of a Skyport service id, for the services the reference covers.
fn prefix_of(service: &str) -> Option<&'static str> {
    Some(match service {
        "s3" => "s3",
        "sqs" => "sqs",
        "sts" => "sts",
        "lambda" => "lambda",
        "logs" => "logs",
        "iam" => "iam",
        "ecr" => "ecr",
        "dynamodb" | "dynamodbstreams" => "dynamodb",
        "sns" => "sns",
        "events" => "events",
        _ => return None,
    })
}

/// The account an ARN names (its fifth field), if any.
pub fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// The global condition keys of the request AWS sets for every call (borrowed from the request
/// where they can be).
pub fn global_context(ctx: &RequestContext) -> Vec<(&'static str, Cow<'_, str>)> {
    let mut keys = Vec::with_capacity(5);
    keys.push(("aws:RequestedRegion", Cow::Borrowed(ctx.region.as_str())));
    let secure = ctx.scheme == skyport_core::context::Scheme::Https;
    keys.push((
        "aws:SecureTransport",
        Cow::Borrowed(if secure { "true" } else { "false" }),
    ));
    keys.push((
        "aws:CurrentTime",
        Cow::Owned(skyport_core::timefmt::iso8601_seconds(ctx.received_at)),
    ));
    if let Some(client) = ctx.client {
        keys.push(("aws:SourceIp", Cow::Owned(client.ip().to_string())));
    }
    keys
}

/// Whether the request's principal is evaluated at all: enforcement on and a verified principal
/// (an account's root user too, for resources of other accounts). Callers test it before assembling
/// inputs (or reading a resource's policy).
pub fn applies(ctx: &RequestContext) -> bool {
    ctx.authorizer.is_some() && ctx.principal.is_some()
}

/// Authorizes `operation` with `input` for the request's principal; `Err` is the service's
/// `AccessDenied`. `operation` is the SDK operation name (`PutItem`).
pub fn check(ctx: &RequestContext, operation: &str, input: &dyn Inputs) -> Result<(), AwsError> {
    check_with(ctx, operation, input, None)
}

/// The resource's own policy, and the account that owns the resource (S3 bucket ARNs name none).
#[derive(Debug, Clone, Copy)]
pub struct ResourcePolicy<'a> {
    /// The policy document.
    pub policy: Option<&'a str>,
    /// The owner's account.
    pub account: &'a str,
}

/// [`check`], with the resource's own policy taking part (S3 bucket policies).
pub fn check_with(
    ctx: &RequestContext,
    operation: &str,
    input: &dyn Inputs,
    resource: Option<ResourcePolicy<'_>>,
) -> Result<(), AwsError> {
    let (Some(authorizer), Some(principal)) = (&ctx.authorizer, &ctx.principal) else {
        return Ok(());
    };
    if !applies(ctx) {
        return Ok(());
    }
    let Some(prefix) = prefix_of(ctx.service) else {
        return Ok(());
    };
    if ALWAYS_ALLOWED.contains(&(prefix, operation)) {
        return Ok(());
    }
    let scope = Scope {
        partition: "aws",
        region: &ctx.region,
        account: &ctx.account,
    };
    let needed = match requirements(prefix, operation, &scope, input) {
        Ok(needed) => needed,
        Err(e) => {
            // An operation newer than the vendored reference: nothing to evaluate it against.
            tracing::warn!(
                service = ctx.service,
                operation,
                "IAM: not authorized ({e}); allowed"
            );
            return Ok(());
        }
    };
    let root = is_root(principal);
    let mut context = Vec::new();
    for requirement in &needed {
        // No resources: the action on "*".
        let star = requirement.resources.is_empty().then_some("*");
        for arn in star
            .into_iter()
            .chain(requirement.resources.iter().map(String::as_str))
        {
            let resource_account = resource.map(|r| r.account).or_else(|| arn_account(arn));
            if root && !root_needs_evaluation(principal, &requirement.action, resource_account) {
                continue;
            }
            if context.is_empty() {
                context = global_context(ctx);
                context.push(("aws:userid", Cow::Borrowed(principal.user_id.as_str())));
            }
            let verdict = authorizer.authorize(&AccessQuery {
                principal,
                action: &requirement.action,
                resource: arn,
                resource_account,
                resource_policy: resource.and_then(|r| r.policy),
                context: &context,
            });
            if !verdict.allowed {
                let message = verdict.message.unwrap_or_else(|| {
                    format!(
                        "User: {} is not authorized to perform: {}",
                        principal.arn, requirement.action
                    )
                });
                return Err(AwsError::access_denied(ctx.service, ctx.protocol, message));
            }
        }
    }
    Ok(())
}

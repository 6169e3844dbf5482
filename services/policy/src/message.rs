//! The text of AWS's access denied errors, as the IAM User Guide's "Troubleshoot access denied
//! error messages" page shows them:
//!
//! - `User: arn:aws:iam::123456789012:user/MaryMajor is not authorized to perform:
//!   codecommit:ListRepositories because no identity-based policy allows the
//!   codecommit:ListRepositories action`
//! - `... on resource: <arn> with an explicit deny in an identity-based policy`, optionally followed
//!   by `: <policy ARN>` for a managed policy (the example of "Troubleshoot access denied error
//!   messages with authorization ID");
//! - the same with `a resource-based policy`, `a permissions boundary`, `a session policy`, and
//!   `because no resource-based policy / permissions boundary / session policy allows the ...
//!   action`.
//!
//! The `on resource:` part is left out when the action has no resource (`*`).

use std::fmt::Write as _;

use crate::context::RequestContext;
use crate::eval::{Decision, Outcome, PolicyType};

/// The access denied message for a denied request; `None` when it was allowed.
pub fn access_denied_message(ctx: &RequestContext<'_>, decision: &Decision<'_>) -> Option<String> {
    if decision.outcome == Outcome::Allowed {
        return None;
    }
    let mut text = format!(
        "User: {} is not authorized to perform: {}",
        ctx.principal().arn(),
        ctx.action()
    );
    let resource = ctx.resource();
    if !resource.is_empty() && resource != "*" {
        let _ = write!(text, " on resource: {resource}");
    }
    match decision.outcome {
        Outcome::Allowed => return None,
        Outcome::ExplicitDeny => {
            let kind = decision
                .statement
                .map_or(PolicyType::Identity, |s| s.policy_type);
            let _ = write!(text, " with an explicit deny in {}", kind.with_article());
            if let Some(s) = decision.statement
                && s.policy_id.starts_with("arn:")
            {
                let _ = write!(text, ": {}", s.policy_id);
            }
        }
        Outcome::ImplicitDeny => {
            let kind = decision.missing.unwrap_or(PolicyType::Identity);
            let _ = write!(
                text,
                " because no {} allows the {} action",
                kind.as_no(),
                ctx.action()
            );
        }
    }
    Some(text)
}

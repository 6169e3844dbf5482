//! AWS's policy evaluation logic over compiled policies ("Policy evaluation logic"; "Policy
//! evaluation for requests within a single account"; "Cross-account policy evaluation logic";
//! "Permissions boundaries for IAM entities"; "Session policies" in "Policies and permissions in
//! AWS Identity and Access Management").
//!
//! 1. Every applicable policy is read once. An applicable `Deny` statement in any of them (identity,
//!    resource-based, boundary, session) decides: explicit deny.
//! 2. Within one account the identity-based and resource-based policies are a union:
//!    - a resource-based statement naming the caller itself (IAM user, role session, federated
//!      user, service) or everyone grants directly; an implicit deny in the identity-based
//!      policies, the permissions boundary or the session policies does not limit it;
//!    - one naming the role of the calling session adds to the role's identity permissions, and
//!      so is limited by the boundary and session policies;
//!    - one naming only the account delegates to the account's identity-based policies;
//!    - otherwise an identity-based `Allow` is needed ("no identity-based policy allows"), then the
//!      permissions boundary, if any ("no permissions boundary allows"), then the session policies,
//!      if any ("no session policy allows").
//! 3. Across accounts both sides must allow: the caller's identity-based policies (limited by its
//!    boundary and session policies) and the resource-based policy, whichever way it names the
//!    caller ("no resource-based policy allows").
//! 4. The account's root user is allowed in its own account unless explicitly denied.
//! 5. Where the resource-based policy is required ([`PolicySet::resource_required`]: IAM role trust
//!    policies), it must grant even within the account: naming the caller (or its role) grants as
//!    above, naming the account delegates to the identity-based policies, and without an `Allow` in
//!    it nothing is allowed ("no resource-based policy allows"), the root user included.
//!
//! Not modelled: service control policies, resource control policies, VPC endpoint policies,
//! ACLs.

use crate::context::{PrincipalKind, RequestContext};
use crate::document::{Caller, Effect, Policy, PrincipalMatch, Statement};

/// The policy types a decision can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyType {
    /// Identity-based policies (managed and inline, of the user, its groups, or the role).
    Identity,
    /// The resource-based policy of the resource.
    Resource,
    /// The principal's permissions boundary.
    PermissionsBoundary,
    /// The session policies passed when the session was created.
    Session,
}

impl PolicyType {
    /// The type as AWS's messages name it, with its article: `an identity-based policy`, ...
    pub fn with_article(self) -> &'static str {
        match self {
            PolicyType::Identity => "an identity-based policy",
            PolicyType::Resource => "a resource-based policy",
            PolicyType::PermissionsBoundary => "a permissions boundary",
            PolicyType::Session => "a session policy",
        }
    }

    /// The type as AWS's "because no ... allows" messages name it.
    pub fn as_no(self) -> &'static str {
        match self {
            PolicyType::Identity => "identity-based policy",
            PolicyType::Resource => "resource-based policy",
            PolicyType::PermissionsBoundary => "permissions boundary",
            PolicyType::Session => "session policy",
        }
    }
}

/// The policies that apply to one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicySet<'p> {
    /// Identity-based policies of the principal (and its groups).
    pub identity: &'p [Policy],
    /// The resource's resource-based policy.
    pub resource: Option<&'p Policy>,
    /// The principal's permissions boundary.
    pub boundary: Option<&'p Policy>,
    /// Session policies (inline and managed) of the session.
    pub session: &'p [Policy],
    /// Whether the resource-based policy must allow even within the account (an IAM role's trust
    /// policy for `sts:AssumeRole`; AWS KMS key policies).
    pub resource_required: bool,
}

impl<'p> PolicySet<'p> {
    /// A set of identity-based policies only.
    pub fn identity(policies: &'p [Policy]) -> PolicySet<'p> {
        PolicySet {
            identity: policies,
            ..PolicySet::default()
        }
    }

    /// With the resource's resource-based policy.
    pub fn with_resource(mut self, policy: &'p Policy) -> PolicySet<'p> {
        self.resource = Some(policy);
        self
    }

    /// With the principal's permissions boundary.
    pub fn with_boundary(mut self, policy: &'p Policy) -> PolicySet<'p> {
        self.boundary = Some(policy);
        self
    }

    /// With the session's policies.
    pub fn with_session(mut self, policies: &'p [Policy]) -> PolicySet<'p> {
        self.session = policies;
        self
    }

    /// With the resource-based policy required to allow, within the account too (a role's trust
    /// policy).
    pub fn resource_required(mut self) -> PolicySet<'p> {
        self.resource_required = true;
        self
    }
}

/// The outcome of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Allowed.
    Allowed,
    /// Denied by a `Deny` statement.
    ExplicitDeny,
    /// Denied because nothing (or not every required policy type) allowed.
    ImplicitDeny,
}

/// The statement that decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementRef<'p> {
    /// The type of the policy that holds it.
    pub policy_type: PolicyType,
    /// The policy's id as given to [`Policy::parse`].
    pub policy_id: &'p str,
    /// The statement's `Sid`, if it has one.
    pub sid: Option<&'p str>,
    /// The statement's position in its policy, from 0.
    pub index: usize,
}

/// What evaluation decided, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'p> {
    /// Allowed, explicitly or implicitly denied.
    pub outcome: Outcome,
    /// The deciding statement: the `Deny` for an explicit deny, the `Allow` that granted for an
    /// allow; `None` for an implicit deny and for the root user.
    pub statement: Option<StatementRef<'p>>,
    /// For an implicit deny: the policy type that failed to allow.
    pub missing: Option<PolicyType>,
}

impl Decision<'_> {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allowed
    }

    fn implicit(missing: PolicyType) -> Self {
        Decision {
            outcome: Outcome::ImplicitDeny,
            statement: None,
            missing: Some(missing),
        }
    }
}

/// A found `Allow` statement and, for a resource-based one, how it named the caller.
type Found<'p> = Option<(StatementRef<'p>, PrincipalMatch)>;

/// Reads one policy: an applicable `Deny` ends evaluation (returned as `Err`), the first applicable
/// `Allow` is kept (the best principal match, for resource-based policies).
fn scan<'p>(
    policy: &'p Policy,
    policy_type: PolicyType,
    ctx: &RequestContext<'_>,
    caller: &Caller<'_>,
    allow: &mut Found<'p>,
) -> Result<(), StatementRef<'p>> {
    for (index, statement) in policy.statements.iter().enumerate() {
        let Some(matched) = statement.applies(ctx, caller) else {
            continue;
        };
        let found = reference(policy, policy_type, statement, index);
        match statement.effect {
            Effect::Deny => return Err(found),
            Effect::Allow => {
                if allow.is_none_or(|(_, best)| matched > best) {
                    *allow = Some((found, matched));
                }
            }
        }
    }
    Ok(())
}

fn reference<'p>(
    policy: &'p Policy,
    policy_type: PolicyType,
    statement: &'p Statement,
    index: usize,
) -> StatementRef<'p> {
    StatementRef {
        policy_type,
        policy_id: policy.id(),
        sid: statement.sid.as_deref(),
        index,
    }
}

/// Evaluates the request against the policies, with AWS's logic.
pub fn evaluate<'p>(ctx: &RequestContext<'_>, set: &PolicySet<'p>) -> Decision<'p> {
    let caller = Caller {
        principal: ctx.principal(),
        has_boundary: set.boundary.is_some(),
    };
    let mut identity: Found<'p> = None;
    let mut resource: Found<'p> = None;
    let mut boundary: Found<'p> = None;
    let mut session: Found<'p> = None;
    let scanned = (|| {
        for policy in set.identity {
            scan(policy, PolicyType::Identity, ctx, &caller, &mut identity)?;
        }
        if let Some(policy) = set.resource {
            scan(policy, PolicyType::Resource, ctx, &caller, &mut resource)?;
        }
        if let Some(policy) = set.boundary {
            scan(
                policy,
                PolicyType::PermissionsBoundary,
                ctx,
                &caller,
                &mut boundary,
            )?;
        }
        for policy in set.session {
            scan(policy, PolicyType::Session, ctx, &caller, &mut session)?;
        }
        Ok(())
    })();
    if let Err(deny) = scanned {
        return Decision {
            outcome: Outcome::ExplicitDeny,
            statement: Some(deny),
            missing: None,
        };
    }
    let allowed = |found: StatementRef<'p>| Decision {
        outcome: Outcome::Allowed,
        statement: Some(found),
        missing: None,
    };
    let principal = ctx.principal();
    if !principal.in_account() {
        // Services and anonymous callers have no identity: only the resource policy can grant.
        return match resource {
            Some((found, _)) => allowed(found),
            None => Decision::implicit(PolicyType::Resource),
        };
    }
    let cross_account = ctx.is_cross_account();
    if set.resource_required && resource.is_none() {
        return Decision::implicit(PolicyType::Resource);
    }
    if *principal.kind() == PrincipalKind::Root {
        // The root user needs no identity-based policy in its account; across accounts the
        // resource-based policy must still grant.
        return match (cross_account, resource) {
            (false, _) => Decision {
                outcome: Outcome::Allowed,
                statement: None,
                missing: None,
            },
            (true, Some((found, _))) => allowed(found),
            (true, None) => Decision::implicit(PolicyType::Resource),
        };
    }
    if !cross_account && let Some((found, PrincipalMatch::Direct)) = resource {
        return allowed(found);
    }
    // The identity side: identity-based allows (and, in the same account, resource-based grants
    // to the session's role), limited by the boundary and the session policies.
    let identity_allow = match (identity, resource) {
        (Some((found, _)), _) => Some(found),
        (None, Some((found, PrincipalMatch::Role))) if !cross_account => Some(found),
        _ => None,
    };
    let Some(identity_allow) = identity_allow else {
        return Decision::implicit(PolicyType::Identity);
    };
    if set.boundary.is_some() && boundary.is_none() {
        return Decision::implicit(PolicyType::PermissionsBoundary);
    }
    if !set.session.is_empty() && session.is_none() {
        return Decision::implicit(PolicyType::Session);
    }
    if cross_account {
        return match resource {
            Some(_) => allowed(identity_allow),
            None => Decision::implicit(PolicyType::Resource),
        };
    }
    allowed(identity_allow)
}

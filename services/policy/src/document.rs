//! Policy documents: the JSON grammar ("IAM JSON policy element reference", "Grammar of the IAM
//! JSON policy language") parsed and checked once into a compiled [`Policy`] that evaluation
//! reuses.
//!
//! `Version` is `2012-10-17` or `2008-10-17` (the latter reads `${...}` literally: no policy
//! variables); `Statement` is one object or a list. Every element that takes values takes a string
//! or a list of strings. Identity-based documents (and permissions boundaries and session
//! policies) must not name a principal and must name resources; resource-based documents must
//! name a principal and may leave out `Resource` (the resource they are attached to; role trust
//! policies have none).

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::condition::Condition;
use crate::context::{Principal, PrincipalKind};
use crate::error::PolicyError;
use crate::pattern::{Pattern, Syntax};

/// Which grammar a document follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to an identity: identity-based policies, permissions boundaries, session policies.
    Identity,
    /// Attached to a resource: bucket, queue, topic, key policies, role trust policies.
    Resource,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The statement grants.
    Allow,
    /// The statement denies, overriding any grant.
    Deny,
}

/// How a resource-based statement's principal matched the caller; it decides whether the grant
/// goes to the caller directly or through its role or account ("Policy evaluation logic",
/// resource-based policies; "Permissions boundaries for IAM entities").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PrincipalMatch {
    /// The statement names the account: it delegates to the account's own policies.
    Account,
    /// The statement names the role of the calling role session.
    Role,
    /// The statement names the caller itself (user, role session, federated user, service), or
    /// everyone (`*`).
    Direct,
}

/// The `Principal` or `NotPrincipal` element, compiled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Principals {
    everyone: bool,
    accounts: Vec<String>,
    arns: Vec<String>,
    services: Vec<String>,
    federated: Vec<String>,
    canonical: Vec<String>,
}

fn strings(value: &Value) -> Result<Vec<&str>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().ok_or(PolicyError::Syntax))
            .collect(),
        _ => Err(PolicyError::Syntax),
    }
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

impl Principals {
    fn parse(value: &Value) -> Result<Principals, PolicyError> {
        let mut p = Principals::default();
        let map = match value {
            Value::String(s) if s == "*" => {
                p.everyone = true;
                return Ok(p);
            }
            Value::Object(map) if !map.is_empty() => map,
            _ => return Err(PolicyError::Syntax),
        };
        for (kind, ids) in map {
            let ids = strings(ids)?;
            match kind.as_str() {
                "AWS" => {
                    for id in ids {
                        if id == "*" {
                            p.everyone = true;
                        } else if is_account_id(id) {
                            p.accounts.push(id.to_string());
                        } else if let Some(account) = id
                            .strip_prefix("arn:")
                            .and_then(|rest| rest.split(':').nth(3).map(|a| (a, rest)))
                            .filter(|(a, rest)| rest.ends_with(":root") && is_account_id(a))
                            .map(|(a, _)| a)
                        {
                            p.accounts.push(account.to_string());
                        } else if id.starts_with("arn:") {
                            p.arns.push(id.to_string());
                        } else {
                            return Err(PolicyError::InvalidPrincipal(
                                kind.clone(),
                                id.to_string(),
                            ));
                        }
                    }
                }
                "Service" => p.services.extend(ids.iter().map(|s| s.to_string())),
                "Federated" => p.federated.extend(ids.iter().map(|s| s.to_string())),
                "CanonicalUser" => p.canonical.extend(ids.iter().map(|s| s.to_string())),
                other => return Err(PolicyError::InvalidPrincipalType(other.to_string())),
            }
        }
        Ok(p)
    }

    /// How the caller matches this element, the closest match first; `None` if it does not.
    fn matches(&self, p: &Principal) -> Option<PrincipalMatch> {
        if self.everyone {
            return Some(PrincipalMatch::Direct);
        }
        match p.kind() {
            PrincipalKind::Service => {
                return self
                    .services
                    .iter()
                    .any(|s| s == p.arn())
                    .then_some(PrincipalMatch::Direct);
            }
            PrincipalKind::Anonymous => return None,
            _ => {}
        }
        if self.arns.iter().any(|a| a == p.arn())
            || self.federated.iter().any(|f| f == p.arn())
            || self.canonical.iter().any(|c| c == p.arn())
        {
            return Some(PrincipalMatch::Direct);
        }
        if let Some(role) = p.role_arn()
            && self.arns.iter().any(|a| a == role)
        {
            return Some(PrincipalMatch::Role);
        }
        if self.accounts.iter().any(|a| a == p.account()) {
            return Some(PrincipalMatch::Account);
        }
        None
    }

    /// Whether a `NotPrincipal` list excepts the caller. AWS checks the account, then the role,
    /// then the session, so all must be listed ("AWS JSON policy elements: NotPrincipal").
    fn excepts(&self, p: &Principal) -> bool {
        if self.everyone {
            return true;
        }
        match p.kind() {
            PrincipalKind::Service => self.services.iter().any(|s| s == p.arn()),
            PrincipalKind::Anonymous => false,
            kind => {
                let account = self.accounts.iter().any(|a| a == p.account());
                let named = |arn: &str| self.arns.iter().any(|a| a == arn);
                match kind {
                    PrincipalKind::Root => account,
                    PrincipalKind::AssumedRole { role_arn } => {
                        account && (named(role_arn) || named(p.arn()))
                    }
                    _ => account && (named(p.arn()) || self.federated.iter().any(|f| f == p.arn())),
                }
            }
        }
    }
}

/// A compiled statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    actions: Vec<Pattern>,
    not_action: bool,
    /// `None`: no `Resource` element (resource-based policies only): any resource.
    resources: Option<Vec<Pattern>>,
    not_resource: bool,
    principals: Option<Principals>,
    not_principal: bool,
    condition: Condition,
}

/// The caller's facts that decide whether a resource-based statement names it.
pub(crate) struct Caller<'a> {
    pub(crate) principal: &'a Principal,
    /// The caller has a permissions boundary (for AWS's `NotPrincipal` rule).
    pub(crate) has_boundary: bool,
}

impl Statement {
    /// Whether the statement applies to the request; for a resource-based statement, how its
    /// principal matched. `None` when it does not apply (including when a policy variable in it
    /// has no value).
    pub(crate) fn applies(
        &self,
        ctx: &crate::context::RequestContext<'_>,
        caller: &Caller<'_>,
    ) -> Option<PrincipalMatch> {
        let action = ctx.action();
        let listed = self
            .actions
            .iter()
            .any(|p| p.is_match(action, ctx).unwrap_or(false));
        if listed == self.not_action {
            return None;
        }
        if let Some(resources) = &self.resources {
            let mut listed = false;
            for pattern in resources {
                if pattern.is_match(ctx.resource(), ctx)? {
                    listed = true;
                    break;
                }
            }
            if listed == self.not_resource {
                return None;
            }
        }
        let matched = match &self.principals {
            None => PrincipalMatch::Direct,
            Some(principals) if self.not_principal => {
                // "The NotPrincipal element with a Deny effect will always deny any IAM principal
                // that has a permissions boundary policy attached" (NotPrincipal, key points).
                let boundary_rule = caller.has_boundary
                    && self.effect == Effect::Deny
                    && matches!(
                        caller.principal.kind(),
                        PrincipalKind::User
                            | PrincipalKind::Role
                            | PrincipalKind::AssumedRole { .. }
                    );
                if principals.excepts(caller.principal) && !boundary_rule {
                    return None;
                }
                PrincipalMatch::Direct
            }
            Some(principals) => principals.matches(caller.principal)?,
        };
        if !self.condition.is_empty() && !self.condition.holds(ctx)? {
            return None;
        }
        Some(matched)
    }
}

/// A parsed, checked and compiled policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    id: String,
    kind: PolicyKind,
    pub(crate) statements: Vec<Statement>,
}

impl Policy {
    /// Parses `text` as a policy of `kind`. `id` names the policy in decisions and messages: its
    /// ARN for a managed policy, or a description such as `inline policy S3Read of role app`.
    pub fn parse(id: &str, text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let value: Value = serde_json::from_str(text).map_err(|_| PolicyError::InvalidJson)?;
        Policy::from_value(id, &value, kind)
    }

    /// Like [`Policy::parse`], from JSON already read.
    pub fn from_value(id: &str, value: &Value, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let Value::Object(top) = value else {
            return Err(PolicyError::InvalidJson);
        };
        let variables = match top.get("Version") {
            None => false,
            Some(Value::String(v)) if v == "2012-10-17" => true,
            Some(Value::String(v)) if v == "2008-10-17" => false,
            Some(_) => return Err(PolicyError::LegacyParsing),
        };
        for key in top.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(PolicyError::Syntax);
            }
        }
        if let Some(id) = top.get("Id")
            && !id.is_string()
        {
            return Err(PolicyError::Syntax);
        }
        let raw: Vec<&Map<String, Value>> = match top.get("Statement") {
            Some(Value::Object(one)) => vec![one],
            Some(Value::Array(many)) if !many.is_empty() => many
                .iter()
                .map(|s| s.as_object().ok_or(PolicyError::Syntax))
                .collect::<Result<_, _>>()?,
            _ => return Err(PolicyError::Syntax),
        };
        let mut sids = HashSet::new();
        let mut statements = Vec::with_capacity(raw.len());
        for s in raw {
            let statement = parse_statement(s, kind, variables)?;
            if let Some(sid) = &statement.sid
                && !sid.is_empty()
                && !sids.insert(sid.clone())
            {
                return Err(PolicyError::DuplicateSid);
            }
            statements.push(statement);
        }
        Ok(Policy {
            id: id.to_string(),
            kind,
            statements,
        })
    }

    /// The name given at parse time.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The grammar the policy was checked against.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The condition keys the policy's statements test, as written, each once, in order of appearance
    /// (what a simulation lists as missing when the request context lacks them).
    pub fn condition_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::new();
        for s in &self.statements {
            for k in s.condition.keys() {
                if !keys.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                    keys.push(k);
                }
            }
        }
        keys
    }

    /// The number of statements.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// Whether the policy has no statements (never true for a parsed policy).
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }
}

const FIELDS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

/// One of a pair of exclusive elements (`Action`/`NotAction`, ...): the value and whether it was
/// the `Not` one.
fn either<'a>(
    s: &'a Map<String, Value>,
    name: &str,
    not_name: &str,
) -> Result<Option<(&'a Value, bool)>, PolicyError> {
    match (s.get(name), s.get(not_name)) {
        (Some(_), Some(_)) => Err(PolicyError::Syntax),
        (Some(v), None) => Ok(Some((v, false))),
        (None, Some(v)) => Ok(Some((v, true))),
        (None, None) => Ok(None),
    }
}

fn parse_statement(
    s: &Map<String, Value>,
    kind: PolicyKind,
    variables: bool,
) -> Result<Statement, PolicyError> {
    if s.keys().any(|k| !FIELDS.contains(&k.as_str())) {
        return Err(PolicyError::Syntax);
    }
    let effect = match s.get("Effect") {
        None => return Err(PolicyError::MissingEffect),
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(_) => return Err(PolicyError::Syntax),
    };
    let sid = match s.get("Sid") {
        None => None,
        Some(Value::String(sid)) => Some(sid.clone()),
        Some(_) => return Err(PolicyError::Syntax),
    };
    let Some((actions, not_action)) = either(s, "Action", "NotAction")? else {
        return Err(PolicyError::MissingActions);
    };
    let action_syntax = Syntax {
        wildcards: true,
        variables: false,
        ignore_case: true,
        arn: false,
    };
    let actions = strings(actions)?
        .into_iter()
        .map(|a| {
            if a != "*" && !a.contains(':') {
                return Err(PolicyError::MissingVendor);
            }
            Ok(Pattern::new(a, action_syntax))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let principal = either(s, "Principal", "NotPrincipal")?;
    let resource = either(s, "Resource", "NotResource")?;
    let (principals, not_principal) = match (kind, principal) {
        (PolicyKind::Identity, Some(_)) => return Err(PolicyError::PrincipalNotAllowed),
        (PolicyKind::Identity, None) => (None, false),
        (PolicyKind::Resource, None) => return Err(PolicyError::MissingPrincipal),
        (PolicyKind::Resource, Some((value, not))) => (Some(Principals::parse(value)?), not),
    };
    let resource_syntax = Syntax {
        wildcards: true,
        variables,
        ignore_case: false,
        arn: true,
    };
    let (resources, not_resource) = match (kind, resource) {
        (PolicyKind::Identity, None) => return Err(PolicyError::MissingResources),
        (PolicyKind::Resource, None) => (None, false),
        (_, Some((value, not))) => {
            let patterns = strings(value)?
                .into_iter()
                .map(|r| {
                    if r != "*" && !r.starts_with("arn:") {
                        return Err(PolicyError::ResourceNotArn(r.to_string()));
                    }
                    Ok(Pattern::new(r, resource_syntax))
                })
                .collect::<Result<Vec<_>, _>>()?;
            (Some(patterns), not)
        }
    };
    let condition = match s.get("Condition") {
        None => Condition::default(),
        Some(c) => Condition::parse(c, variables)?,
    };
    Ok(Statement {
        sid,
        effect,
        actions,
        not_action,
        resources,
        not_resource,
        principals,
        not_principal,
        condition,
    })
}

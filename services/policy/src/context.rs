//! The request context: who asks ([`Principal`]), for which action on which resource, in which
//! account the resource lives, and the condition keys with their values ("Policy evaluation
//! logic", "Processing the request context"; "IAM JSON policy elements: Condition", "The request
//! context").
//!
//! Condition keys are case-insensitive. A key holds one value or a list of values (multivalued
//! keys such as `aws:TagKeys`, matched with `ForAllValues:` or `ForAnyValue:`). The keys AWS
//! derives from the principal are answered from it: `aws:PrincipalArn`, `aws:PrincipalAccount`,
//! `aws:PrincipalType` and, for IAM users, `aws:username`; callers add the others (`aws:userid`,
//! `aws:SourceIp`, `aws:PrincipalTag/...`, `aws:CurrentTime`, ...), borrowed where they can be, so
//! a context per request costs next to no allocation.

use std::borrow::Cow;

use crate::pattern::Resolve;

/// What kind of principal makes the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account's root user (`arn:aws:iam::123456789012:root`).
    Root,
    /// An IAM user.
    User,
    /// An IAM role itself (rarely a caller; sessions are [`PrincipalKind::AssumedRole`]).
    Role,
    /// A role session (`arn:aws:sts::123456789012:assumed-role/Name/session`) and the ARN of its
    /// role.
    AssumedRole {
        /// The role's ARN (`arn:aws:iam::123456789012:role/path/Name`).
        role_arn: String,
    },
    /// A federated user session (`arn:aws:sts::123456789012:federated-user/name`).
    FederatedUser,
    /// An AWS service principal (`lambda.amazonaws.com`).
    Service,
    /// An unauthenticated caller.
    Anonymous,
}

/// The principal that makes a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    arn: String,
    account: String,
    kind: PrincipalKind,
}

impl Principal {
    /// A principal from its ARN: root, user, role, assumed-role session or federated user.
    /// `None` when the ARN is none of these.
    pub fn from_arn(arn: &str) -> Option<Principal> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some(service), Some(_region), Some(account), Some(res)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let kind = match (service, res.split_once('/')) {
            ("iam", None) if res == "root" => PrincipalKind::Root,
            ("iam", Some(("user", name))) if !name.is_empty() => PrincipalKind::User,
            ("iam", Some(("role", name))) if !name.is_empty() => PrincipalKind::Role,
            ("sts", Some(("assumed-role", rest))) => {
                let (role, session) = rest.split_once('/')?;
                if role.is_empty() || session.is_empty() {
                    return None;
                }
                PrincipalKind::AssumedRole {
                    role_arn: format!("arn:{partition}:iam::{account}:role/{role}"),
                }
            }
            ("sts", Some(("federated-user", name))) if !name.is_empty() => {
                PrincipalKind::FederatedUser
            }
            _ => return None,
        };
        Some(Principal {
            arn: arn.to_string(),
            account: account.to_string(),
            kind,
        })
    }

    /// An AWS service principal such as `s3.amazonaws.com`.
    pub fn service(name: &str) -> Principal {
        Principal {
            arn: name.to_string(),
            account: String::new(),
            kind: PrincipalKind::Service,
        }
    }

    /// An unauthenticated caller.
    pub fn anonymous() -> Principal {
        Principal {
            arn: "anonymous".to_string(),
            account: String::new(),
            kind: PrincipalKind::Anonymous,
        }
    }

    /// For a role session: the full ARN of its role, when the role has a path (a session ARN
    /// carries only the role's name).
    pub fn with_role_arn(mut self, role_arn: &str) -> Principal {
        if let PrincipalKind::AssumedRole { role_arn: r } = &mut self.kind {
            *r = role_arn.to_string();
        }
        self
    }

    /// The principal's ARN (the service name for a service, `anonymous` for anonymous callers).
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The principal's account id (empty for services and anonymous callers).
    pub fn account(&self) -> &str {
        &self.account
    }

    /// What kind of principal this is.
    pub fn kind(&self) -> &PrincipalKind {
        &self.kind
    }

    /// The role ARN of a role session.
    pub fn role_arn(&self) -> Option<&str> {
        match &self.kind {
            PrincipalKind::AssumedRole { role_arn } => Some(role_arn),
            _ => None,
        }
    }

    /// Whether this is an IAM identity of an account (not a service or an anonymous caller).
    pub(crate) fn in_account(&self) -> bool {
        !matches!(self.kind, PrincipalKind::Service | PrincipalKind::Anonymous)
    }
}

/// The value of one condition key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextValue {
    /// A single-valued key.
    Single(String),
    /// A multivalued key (possibly an empty list).
    Multi(Vec<String>),
}

impl ContextValue {
    /// The values as a slice (one for a single-valued key).
    pub fn values(&self) -> &[String] {
        match self {
            ContextValue::Single(v) => std::slice::from_ref(v),
            ContextValue::Multi(v) => v,
        }
    }
}

/// A condition key's value as the request context holds it: borrowed from the caller where it can
/// be, or explicitly absent (a derived key removed).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Held<'a> {
    Single(Cow<'a, str>),
    Multi(Vec<String>),
    Absent,
}

/// The values of a condition key in the request, for matching.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Values<'v> {
    One(&'v str),
    Many(&'v [String]),
}

impl<'v> Values<'v> {
    const NONE: Values<'static> = Values::Many(&[]);

    pub(crate) fn is_empty(self) -> bool {
        matches!(self, Values::Many([]))
    }

    pub(crate) fn any(self, mut f: impl FnMut(&'v str) -> bool) -> bool {
        match self {
            Values::One(v) => f(v),
            Values::Many(vs) => vs.iter().any(|v| f(v)),
        }
    }

    pub(crate) fn all(self, mut f: impl FnMut(&'v str) -> bool) -> bool {
        match self {
            Values::One(v) => f(v),
            Values::Many(vs) => vs.iter().all(|v| f(v)),
        }
    }
}

/// The keys AWS derives from the principal, answered from it when asked (unless set or removed).
const DERIVED: [&str; 5] = [
    "aws:principaltype",
    "aws:principalarn",
    "aws:principalaccount",
    "aws:username",
    "aws:principalservicename",
];

/// Everything evaluation knows about one request. The action, resource and condition values are
/// borrowed from the caller where they are given as `&'a str`, so building a context per request
/// copies nothing but the keys given in other than lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext<'a> {
    principal: Principal,
    action: Cow<'a, str>,
    resource: Cow<'a, str>,
    resource_account: Option<Cow<'a, str>>,
    /// The keys set, by name (ASCII names as given, others lower case; see [`same_key`]); few
    /// enough that a list is quicker than a map.
    keys: Vec<(Cow<'a, str>, Held<'a>)>,
}

/// Whether two key names, each as held (ASCII as given, others lower-cased) or lower case, name
/// the same key.
fn same_key(a: &str, b: &str) -> bool {
    // ASCII names compare without regard to ASCII case, which is comparing them lower-cased; a
    // non-ASCII name is lower-cased already, and its other bytes compare exactly.
    a.eq_ignore_ascii_case(b)
}

/// A key name as held: ASCII as given, anything else lower-cased (Unicode's lower case, as the
/// policy's keys are).
fn held_name<'a>(key: impl Into<Cow<'a, str>>) -> Cow<'a, str> {
    let key = key.into();
    if key.is_ascii() {
        key
    } else {
        Cow::Owned(key.to_lowercase())
    }
}

impl<'a> RequestContext<'a> {
    /// The context of `principal` performing `action` (`service:Action`) on `resource` (an ARN, or
    /// `*` for actions without a resource). The resource is taken to be in the principal's account
    /// until [`RequestContext::with_resource_account`] says otherwise.
    pub fn new(
        principal: Principal,
        action: impl Into<Cow<'a, str>>,
        resource: impl Into<Cow<'a, str>>,
    ) -> RequestContext<'a> {
        RequestContext {
            principal,
            action: action.into(),
            resource: resource.into(),
            resource_account: None,
            keys: Vec::with_capacity(8),
        }
    }

    /// The key AWS derives from the principal (`aws:PrincipalArn`, `aws:PrincipalAccount`,
    /// `aws:PrincipalType`, `aws:username` for IAM users, `aws:PrincipalServiceName`), by its
    /// lower-case name.
    fn derived(&self, lower: &str) -> Option<&str> {
        let p = &self.principal;
        match lower {
            "aws:principaltype" => match &p.kind {
                PrincipalKind::Root => Some("Account"),
                PrincipalKind::User => Some("User"),
                PrincipalKind::Role | PrincipalKind::AssumedRole { .. } => Some("AssumedRole"),
                PrincipalKind::FederatedUser => Some("FederatedUser"),
                PrincipalKind::Anonymous => Some("Anonymous"),
                PrincipalKind::Service => None,
            },
            // For a role session, aws:PrincipalArn is the role's ARN, not the session's.
            "aws:principalarn" if p.in_account() => Some(p.role_arn().unwrap_or(&p.arn)),
            "aws:principalaccount" if p.in_account() => Some(&p.account),
            "aws:username" if p.kind == PrincipalKind::User => p.arn.rsplit('/').next(),
            "aws:principalservicename" if p.kind == PrincipalKind::Service => Some(&p.arn),
            _ => None,
        }
    }

    /// The account that owns the resource (for cross-account evaluation).
    pub fn with_resource_account(mut self, account: impl Into<Cow<'a, str>>) -> RequestContext<'a> {
        self.resource_account = Some(account.into());
        self
    }

    /// Adds (or replaces) a single-valued condition key.
    pub fn with_key(
        mut self,
        key: impl Into<Cow<'a, str>>,
        value: impl Into<Cow<'a, str>>,
    ) -> RequestContext<'a> {
        self.hold(held_name(key), Held::Single(value.into()));
        self
    }

    /// Adds (or replaces) a multivalued condition key.
    pub fn with_values<S: AsRef<str>>(mut self, key: &str, values: &[S]) -> RequestContext<'a> {
        let values = values.iter().map(|v| v.as_ref().to_string()).collect();
        self.set(key, ContextValue::Multi(values));
        self
    }

    /// Sets a condition key (names are case-insensitive).
    pub fn set(&mut self, key: &str, value: ContextValue) {
        let held = match value {
            ContextValue::Single(v) => Held::Single(Cow::Owned(v)),
            ContextValue::Multi(v) => Held::Multi(v),
        };
        self.hold(held_name(key.to_owned()), held);
    }

    fn hold(&mut self, name: Cow<'a, str>, value: Held<'a>) {
        match self.keys.iter_mut().find(|(k, _)| same_key(k, &name)) {
            Some((_, held)) => *held = value,
            None => self.keys.push((name, value)),
        }
    }

    /// Removes a condition key.
    pub fn remove(&mut self, key: &str) {
        let lower = key.to_lowercase();
        self.keys.retain(|(k, _)| !same_key(k, &lower));
        if DERIVED.contains(&lower.as_str()) {
            self.keys.push((Cow::Owned(lower), Held::Absent));
        }
    }

    /// A condition key's value (names are case-insensitive).
    pub fn get(&self, key: &str) -> Option<ContextValue> {
        let lower = key.to_lowercase();
        match self.held(&lower) {
            Some(Held::Single(v)) => Some(ContextValue::Single(v.to_string())),
            Some(Held::Multi(vs)) => Some(ContextValue::Multi(vs.clone())),
            Some(Held::Absent) => None,
            None => self
                .derived(&lower)
                .map(|v| ContextValue::Single(v.to_owned())),
        }
    }

    /// The key set under the lower-case name `lower`, if any.
    fn held(&self, lower: &str) -> Option<&Held<'a>> {
        self.keys
            .iter()
            .find(|(k, _)| same_key(k, lower))
            .map(|(_, v)| v)
    }

    /// A condition key's values by its lower-case name (no allocation); none when absent.
    pub(crate) fn values_lower(&self, lower: &str) -> Values<'_> {
        match self.held(lower) {
            Some(Held::Single(v)) => Values::One(v),
            Some(Held::Multi(vs)) => Values::Many(vs),
            Some(Held::Absent) => Values::NONE,
            None => self.derived(lower).map_or(Values::NONE, Values::One),
        }
    }

    /// Who makes the request.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The action, `service:Action`.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The resource's ARN (`*` when the action has none).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The account that owns the resource: the one given, else the principal's.
    pub fn resource_account(&self) -> &str {
        self.resource_account
            .as_deref()
            .unwrap_or(&self.principal.account)
    }

    /// Whether principal and resource belong to different accounts.
    pub fn is_cross_account(&self) -> bool {
        self.principal.in_account() && self.resource_account() != self.principal.account
    }
}

impl Resolve for RequestContext<'_> {
    fn var(&self, key: &str) -> Option<&str> {
        // Multivalued keys cannot be used as variables.
        match self.values_lower(key) {
            Values::One(v) => Some(v),
            Values::Many(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_from_arns() {
        let user = Principal::from_arn("arn:aws:iam::111122223333:user/division/alice");
        assert_eq!(user.as_ref().map(|p| p.kind()), Some(&PrincipalKind::User));
        assert_eq!(user.as_ref().map(|p| p.account()), Some("111122223333"));
        let session = Principal::from_arn("arn:aws:sts::111122223333:assumed-role/App/s1");
        assert_eq!(
            session.as_ref().and_then(|p| p.role_arn()),
            Some("arn:aws:iam::111122223333:role/App")
        );
        let root = Principal::from_arn("arn:aws:iam::111122223333:root");
        assert_eq!(root.map(|p| p.kind().clone()), Some(PrincipalKind::Root));
        assert!(Principal::from_arn("arn:aws:s3:::bucket").is_none());
        assert!(Principal::from_arn("alice").is_none());
        assert!(Principal::from_arn("arn:aws:sts::1:assumed-role/App").is_none());
    }

    #[test]
    fn derived_keys_and_case_insensitive_names() {
        let Some(user) = Principal::from_arn("arn:aws:iam::111122223333:user/team/alice") else {
            panic!("user ARN not understood");
        };
        let ctx = RequestContext::new(user, "s3:GetObject", "arn:aws:s3:::b/k")
            .with_key("aws:SourceIp", "10.0.0.1");
        assert_eq!(
            ctx.get("AWS:USERNAME"),
            Some(ContextValue::Single("alice".into()))
        );
        assert_eq!(ctx.get("aws:sourceip").map(|v| v.values().len()), Some(1));
        assert_eq!(ctx.var("aws:principalaccount"), Some("111122223333"));
        assert!(!ctx.is_cross_account());
        let cross = ctx.with_resource_account("444455556666");
        assert!(cross.is_cross_account());
        let Some(session) = Principal::from_arn("arn:aws:sts::1:assumed-role/R/s") else {
            panic!("session ARN not understood");
        };
        let ctx = RequestContext::new(session, "s3:GetObject", "*");
        assert_eq!(ctx.var("aws:principalarn"), Some("arn:aws:iam::1:role/R"));
        assert_eq!(ctx.var("aws:username"), None);
    }
}

//! The request context: who asks ([`Principal`]), for which action on which resource, in which
//! account the resource lives, and the condition keys with their values ("Policy evaluation
//! logic", "Processing the request context"; "IAM JSON policy elements: Condition", "The request
//! context").
//!
//! Condition keys are case-insensitive: they are stored lower case. A key holds one value or a
//! list of values (multivalued keys such as `aws:TagKeys`, matched with `ForAllValues:` or
//! `ForAnyValue:`). [`RequestContext::new`] fills in the keys AWS derives from the principal:
//! `aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:PrincipalType` and, for IAM users,
//! `aws:username`; callers add the others (`aws:userid`, `aws:SourceIp`, `aws:PrincipalTag/...`,
//! `aws:CurrentTime`, ...).

use std::collections::HashMap;

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

/// Everything evaluation knows about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    principal: Principal,
    action: String,
    resource: String,
    resource_account: Option<String>,
    keys: HashMap<String, ContextValue>,
}

impl RequestContext {
    /// The context of `principal` performing `action` (`service:Action`) on `resource` (an ARN, or
    /// `*` for actions without a resource). The resource is taken to be in the principal's account
    /// until [`RequestContext::with_resource_account`] says otherwise.
    pub fn new(principal: Principal, action: &str, resource: &str) -> RequestContext {
        let mut ctx = RequestContext {
            principal,
            action: action.to_string(),
            resource: resource.to_string(),
            resource_account: None,
            keys: HashMap::with_capacity(16),
        };
        let p = &ctx.principal;
        let mut derived: Vec<(&str, String)> = Vec::new();
        let principal_type = match &p.kind {
            PrincipalKind::Root => Some("Account"),
            PrincipalKind::User => Some("User"),
            PrincipalKind::Role | PrincipalKind::AssumedRole { .. } => Some("AssumedRole"),
            PrincipalKind::FederatedUser => Some("FederatedUser"),
            PrincipalKind::Anonymous => Some("Anonymous"),
            PrincipalKind::Service => None,
        };
        if let Some(t) = principal_type {
            derived.push(("aws:principaltype", t.to_string()));
        }
        if p.in_account() {
            // For a role session, aws:PrincipalArn is the role's ARN, not the session's.
            let arn = p.role_arn().unwrap_or(&p.arn).to_string();
            derived.push(("aws:principalarn", arn));
            derived.push(("aws:principalaccount", p.account.clone()));
        }
        if p.kind == PrincipalKind::User
            && let Some(name) = p.arn.rsplit('/').next()
        {
            derived.push(("aws:username", name.to_string()));
        }
        if p.kind == PrincipalKind::Service {
            derived.push(("aws:principalservicename", p.arn.clone()));
        }
        for (k, v) in derived {
            ctx.keys.insert(k.to_string(), ContextValue::Single(v));
        }
        ctx
    }

    /// The account that owns the resource (for cross-account evaluation).
    pub fn with_resource_account(mut self, account: &str) -> RequestContext {
        self.resource_account = Some(account.to_string());
        self
    }

    /// Adds (or replaces) a single-valued condition key.
    pub fn with_key(mut self, key: &str, value: &str) -> RequestContext {
        self.set(key, ContextValue::Single(value.to_string()));
        self
    }

    /// Adds (or replaces) a multivalued condition key.
    pub fn with_values<S: AsRef<str>>(mut self, key: &str, values: &[S]) -> RequestContext {
        let values = values.iter().map(|v| v.as_ref().to_string()).collect();
        self.set(key, ContextValue::Multi(values));
        self
    }

    /// Sets a condition key (names are case-insensitive).
    pub fn set(&mut self, key: &str, value: ContextValue) {
        self.keys.insert(key.to_lowercase(), value);
    }

    /// Removes a condition key.
    pub fn remove(&mut self, key: &str) {
        self.keys.remove(&key.to_lowercase());
    }

    /// A condition key's value (names are case-insensitive).
    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        self.keys.get(&key.to_lowercase())
    }

    /// A condition key's value by its lower-case name (no allocation).
    pub(crate) fn get_lower(&self, key: &str) -> Option<&ContextValue> {
        self.keys.get(key)
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

impl Resolve for RequestContext {
    fn var(&self, key: &str) -> Option<&str> {
        // Multivalued keys cannot be used as variables.
        match self.keys.get(key)? {
            ContextValue::Single(v) => Some(v),
            ContextValue::Multi(_) => None,
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
            Some(&ContextValue::Single("alice".into()))
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

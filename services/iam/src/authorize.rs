//! IAM as the [`Authorizer`] of every service (`ENFORCE_IAM=1`): the policies of the principal behind
//! a verified signature (a user's inline and attached policies and those of its groups, or the role's
//! of a role session; the permissions boundary of either), the resource's own policy when the service
//! has one (S3 bucket policies), decided by `skyport-policy` with AWS's evaluation logic and worded
//! as AWS words denials. Documents are compiled once per distinct set and kept in a small cache, and
//! a principal's set is kept until IAM's state next changes, so a request costs one evaluation and
//! no store read.
//!
//! Soft mode (`IAM_SOFT_MODE=1`) evaluates and logs every decision but allows the request, and keeps
//! what would have been denied per principal for `GET /_skyport/iam/denials` ([`IamAuthorizer::denials`]),
//! with the least-privilege policy that would have allowed it.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use skyport_core::RequestContext;
use skyport_core::bus::{AccessQuery, AccessVerdict, Authorizer, ResourcePolicySource};
use skyport_policy::{
    Outcome, Policy, PolicyKind, PolicySet, Principal, PrincipalKind,
    RequestContext as PolicyContext, access_denied_message, evaluate, suggest_policy,
};

use crate::Iam;
use crate::cache::StoreCache;
use crate::state::{GroupRec, RoleRec, UserRec};

/// The action whose resource-based policy (the role's trust policy) is required.
const ASSUME_ROLE: &str = "sts:AssumeRole";

/// AWS's answer to an account's root user calling AssumeRole.
const ROOT_CANNOT_ASSUME: &str = "Roles may not be assumed by root accounts.";

/// Compiled policy sets kept at most (a test run's distinct principals and policy versions).
const CACHE_LIMIT: usize = 1024;

/// The identity-based policies and the boundary of one principal, compiled.
#[derive(Debug, Default)]
struct Compiled {
    identity: Vec<Policy>,
    boundary: Option<Policy>,
}

/// A principal's compiled policies and, for a role session, its role's full ARN.
type PrincipalPolicies = (Arc<Compiled>, Option<String>, Arc<[(String, String)]>);

/// A principal's policy documents as stored: `(id, text)` pairs.
#[derive(Debug, Default, Hash)]
struct Documents {
    identity: Vec<(String, String)>,
    boundary: Option<(String, String)>,
    /// The user's or role's tags as condition keys, `(aws:PrincipalTag/<key>, value)` (not part of
    /// what is compiled).
    tags: Vec<(String, String)>,
}

/// A user's or role's tags as condition keys: `(aws:PrincipalTag/<key>, value)`, named once when the
/// principal is read rather than on every request.
fn tag_pairs(tags: &[crate::state::TagRec]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (format!("aws:PrincipalTag/{}", t.key), t.value.clone()))
        .collect()
}

/// IAM's policy evaluation for the other services.
#[derive(Debug)]
pub struct IamAuthorizer {
    iam: Iam,
    soft: bool,
    compiled: Mutex<HashMap<u64, Arc<Compiled>>>,
    /// Per principal ARN: its compiled policies (`None`: it no longer exists) and, for a role
    /// session, its role's full ARN, as of IAM's last write.
    principals: StoreCache<Option<PrincipalPolicies>>,
    resource_policies: Mutex<HashMap<u64, Option<Arc<Policy>>>>,
    /// Role sessions' session policies, compiled (keyed by the list and IAM's store generation).
    sessions: Mutex<HashMap<u64, Arc<Vec<Policy>>>>,
    /// Soft mode: per principal ARN, the `(action, resource)` pairs that would have been denied.
    denials: Mutex<BTreeMap<String, BTreeSet<(String, String)>>>,
    /// Per ARN service (`sqs`, `sns`): where resources' own policies are found.
    sources: std::sync::RwLock<HashMap<String, Arc<dyn ResourcePolicySource>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn hash_of(value: &impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// A policy allowing everything: a root user's permissions, which its federated users' session
/// policies limit.
fn allow_all() -> &'static Policy {
    static ALL: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        Policy::parse(
            "root",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            PolicyKind::Identity,
        )
        .unwrap_or_else(|e| unreachable!("a fixed policy parses: {e}"))
    })
}

/// The value cached under `key`, made by `make` the first time (the cache is emptied when full).
fn cached<T: Clone>(cache: &Mutex<HashMap<u64, T>>, key: u64, make: impl FnOnce() -> T) -> T {
    if let Some(found) = lock(cache).get(&key) {
        return found.clone();
    }
    let made = make();
    let mut cache = lock(cache);
    if cache.len() >= CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(key, made.clone());
    made
}

impl IamAuthorizer {
    /// The authorizer over `iam`'s users, groups, roles and policies; `soft` only logs denials.
    pub fn new(iam: Iam, soft: bool) -> IamAuthorizer {
        IamAuthorizer {
            iam,
            soft,
            compiled: Mutex::new(HashMap::new()),
            principals: StoreCache::default(),
            resource_policies: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            denials: Mutex::new(BTreeMap::new()),
            sources: std::sync::RwLock::new(HashMap::new()),
        }
    }

    /// Resources whose ARNs name `service` (`sqs`) have their own policies in `source`.
    pub fn add_resource_policies(&self, service: &str, source: Arc<dyn ResourcePolicySource>) {
        self.sources
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(service.to_owned(), source);
    }

    /// The resource's own policy, when the query names none and its service keeps one.
    fn stored_resource_policy(
        &self,
        resource: &str,
    ) -> Option<skyport_core::bus::ResourcePolicyDoc> {
        let service = resource.strip_prefix("arn:")?.split(':').nth(1)?;
        let source = self
            .sources
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(service)?
            .clone();
        source.resource_policy(resource)
    }

    /// The trust policy of the role `role_arn` (`arn:aws:iam::<account>:role/<path><name>`), as the
    /// role's resource-based policy; `None` when there is no such role (nothing trusts the caller).
    fn trust_policy(&self, role_arn: &str) -> Option<skyport_core::bus::ResourcePolicyDoc> {
        let arn = skyport_core::arn::Arn::parse(role_arn).ok()?;
        let name = arn.resource.strip_prefix("role/")?.rsplit('/').next()?;
        let role: RoleRec = self.iam.entity(&arn.account, name).ok()?;
        (role.arn == role_arn).then_some(skyport_core::bus::ResourcePolicyDoc {
            policy: role.trust,
            account: arn.account,
        })
    }

    /// Soft mode's record: per principal, the actions and resources that would have been denied and
    /// the policy that would allow them.
    pub fn denials(&self) -> serde_json::Value {
        let denials = lock(&self.denials);
        let principals: Vec<serde_json::Value> = denials
            .iter()
            .map(|(arn, denied)| {
                serde_json::json!({
                    "principal": arn,
                    "denied": denied
                        .iter()
                        .map(|(action, resource)| serde_json::json!({"action": action, "resource": resource}))
                        .collect::<Vec<_>>(),
                    "suggestedPolicy": suggest_policy(denied.iter().map(|(a, r)| (a, r))),
                })
            })
            .collect();
        serde_json::json!({ "softMode": self.soft, "principals": principals })
    }

    /// Forgets soft mode's record.
    pub fn forget_denials(&self) {
        lock(&self.denials).clear();
    }

    /// The stored documents of `principal` (`None`: it no longer exists).
    fn documents(&self, principal: &Principal) -> Option<Documents> {
        let account = principal.account();
        let mut ctx = RequestContext::new("iam", skyport_core::Protocol::Query);
        ctx.account = account.to_owned();
        let mut docs = Documents::default();
        let add = |docs: &mut Documents, inline: &BTreeMap<String, String>, attached: &[String]| {
            for (name, text) in inline {
                docs.identity.push((name.clone(), text.clone()));
            }
            for arn in attached {
                if let Some((name, _, text)) = self.iam.managed_text(&ctx, arn) {
                    docs.identity.push((name, text));
                }
            }
        };
        let last = |arn: &str| arn.rsplit('/').next().unwrap_or(arn).to_owned();
        let boundary = match principal.kind() {
            PrincipalKind::User => {
                let user: UserRec = self.iam.entity(account, &last(principal.arn())).ok()?;
                add(&mut docs, &user.inline, &user.attached);
                docs.tags = tag_pairs(&user.tags);
                for group in &user.groups {
                    if let Ok(g) = self.iam.entity::<GroupRec>(account, group) {
                        add(&mut docs, &g.inline, &g.attached);
                    }
                }
                user.boundary
            }
            PrincipalKind::AssumedRole { role_arn } => {
                let role: RoleRec = self.iam.entity(account, &last(role_arn)).ok()?;
                add(&mut docs, &role.inline, &role.attached);
                docs.tags = tag_pairs(&role.tags);
                role.boundary
            }
            _ => return None,
        };
        docs.boundary = boundary
            .and_then(|arn| self.iam.managed_text(&ctx, &arn))
            .map(|(name, _, text)| (name, text));
        Some(docs)
    }

    /// The compiled policies of `principal` and, for a role session, its role's full ARN; read from
    /// the store again only when IAM's state changed since the last time.
    fn policies_of(&self, principal: &Principal) -> Option<PrincipalPolicies> {
        self.principals.get(&self.iam.store, principal.arn(), || {
            self.read_policies(principal)
        })
    }

    fn read_policies(&self, principal: &Principal) -> Option<PrincipalPolicies> {
        let mut docs = match principal.kind() {
            PrincipalKind::Root => Documents::default(),
            _ => self.documents(principal)?,
        };
        let role_arn = match principal.kind() {
            PrincipalKind::AssumedRole { role_arn } => {
                let name = role_arn.rsplit('/').next().unwrap_or_default();
                self.iam
                    .entity::<RoleRec>(principal.account(), name)
                    .ok()
                    .map(|role| role.arn)
            }
            _ => None,
        };
        let tags = std::mem::take(&mut docs.tags).into();
        Some((self.compile(&docs), role_arn, tags))
    }

    fn compile(&self, docs: &Documents) -> Arc<Compiled> {
        cached(&self.compiled, hash_of(docs), || {
            let parse = |(id, text): &(String, String)| match Policy::parse(
                id,
                text,
                PolicyKind::Identity,
            ) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(policy = %id, "IAM: a stored policy does not parse ({e}); left out");
                    None
                }
            };
            Arc::new(Compiled {
                identity: docs.identity.iter().filter_map(parse).collect(),
                boundary: docs.boundary.as_ref().and_then(parse),
            })
        })
    }

    /// A role session's session policies, compiled: documents as given, managed policy ARNs by their
    /// default version.
    fn session_policies(&self, principal: &skyport_core::bus::Principal) -> Arc<Vec<Policy>> {
        let key = hash_of(&(&principal.session_policies, self.iam.store.generation()));
        cached(&self.sessions, key, || {
            let mut ctx = RequestContext::new("iam", skyport_core::Protocol::Query);
            ctx.account = principal.account.clone();
            let policies = principal
                .session_policies
                .iter()
                .enumerate()
                .filter_map(|(i, entry)| {
                    let (id, text) = if entry.starts_with("arn:") {
                        let (name, _, text) = self.iam.managed_text(&ctx, entry)?;
                        (name, text)
                    } else {
                        (format!("session policy {}", i + 1), entry.clone())
                    };
                    Policy::parse(&id, &text, PolicyKind::Identity).ok()
                })
                .collect();
            Arc::new(policies)
        })
    }

    fn resource_policy(&self, text: &str) -> Option<Arc<Policy>> {
        cached(&self.resource_policies, hash_of(&text), || {
            Policy::parse("resource policy", text, PolicyKind::Resource)
                .ok()
                .map(Arc::new)
        })
    }

    fn decide(&self, query: &AccessQuery<'_>) -> (bool, Option<String>, String) {
        let Some(mut principal) = Principal::from_arn(&query.principal.arn) else {
            return (false, None, "an unknown kind of principal".to_owned());
        };
        // A federated user has its federating user's policies, limited by its session policies
        // (none passed: no permissions); a root federator's are everything.
        let federator = match (principal.kind(), &query.principal.federated_by) {
            (PrincipalKind::FederatedUser, Some(by)) => Some(Principal::from_arn(by)),
            (PrincipalKind::FederatedUser, None) => {
                // Minted before federating users were kept: not evaluated.
                return (true, None, "federated user (not evaluated)".to_owned());
            }
            _ => None,
        };
        let federated = federator.is_some();
        // A root federator's federated users may do everything their session policies allow.
        let everything = federator
            .as_ref()
            .is_some_and(|f| f.as_ref().is_some_and(|p| *p.kind() == PrincipalKind::Root));
        let policies = match &federator {
            Some(federator) => federator.as_ref().and_then(|p| self.policies_of(p)),
            None => self.policies_of(&principal),
        };
        let Some((compiled, role_arn, tags)) = policies else {
            let message = format!(
                "User: {} is not authorized to perform: {} because the principal no longer exists",
                principal.arn(),
                query.action
            );
            return (false, Some(message), "principal not found".to_owned());
        };
        if let Some(role_arn) = &role_arn {
            // The session ARN has the role's name only; policies name the role by its full ARN.
            principal = principal.with_role_arn(role_arn);
        }
        // sts:AssumeRole: the role's trust policy is its resource-based policy, and a required one.
        let assume_role = query.action == ASSUME_ROLE;
        if assume_role && *principal.kind() == PrincipalKind::Root {
            return (
                false,
                Some(ROOT_CANNOT_ASSUME.to_owned()),
                "the root user cannot assume roles".to_owned(),
            );
        }
        let stored = match query.resource_policy {
            Some(_) => None,
            None if assume_role => self.trust_policy(query.resource),
            None => self.stored_resource_policy(query.resource),
        };
        let resource_policy = query
            .resource_policy
            .or(stored.as_ref().map(|d| d.policy.as_str()))
            .and_then(|t| self.resource_policy(t));
        let resource_account = query
            .resource_account
            .or(stored.as_ref().map(|d| d.account.as_str()));
        let identity: &[Policy] = if everything {
            std::slice::from_ref(allow_all())
        } else {
            &compiled.identity
        };
        let mut set = PolicySet::identity(identity);
        if let Some(b) = &compiled.boundary {
            set = set.with_boundary(b);
        }
        if let Some(r) = &resource_policy {
            set = set.with_resource(r);
        }
        let session = if query.principal.session_policies.is_empty() && !federated {
            None
        } else {
            Some(self.session_policies(query.principal))
        };
        if let Some(session) = &session {
            set = set.with_session(session);
        }
        if assume_role {
            set = set.resource_required();
        }
        let mut ctx = PolicyContext::new(principal, query.action, query.resource);
        if let Some(account) = resource_account {
            ctx = ctx.with_resource_account(account);
        }
        for (key, value) in query.context {
            ctx = ctx.with_key(*key, value.as_ref());
        }
        // `aws:PrincipalTag/<key>`: the user's tags, or for a role session its role's.
        for (key, value) in tags.iter() {
            ctx = ctx.with_key(key.as_str(), value.as_str());
        }
        let decision = if federated && session.as_ref().is_none_or(|s| s.is_empty()) {
            // GetFederationToken without a session policy: the session has no permissions.
            skyport_policy::Decision {
                outcome: Outcome::ImplicitDeny,
                statement: None,
                missing: Some(skyport_policy::PolicyType::Session),
            }
        } else {
            evaluate(&ctx, &set)
        };
        // What decided, for the log: a denial's line, or an allow's at DEBUG.
        let wanted = !decision.is_allowed() || tracing::enabled!(tracing::Level::DEBUG);
        let why = match (decision.outcome, decision.statement) {
            _ if !wanted => String::new(),
            (Outcome::Allowed, Some(s)) => {
                format!(
                    "allowed by {} statement {}",
                    s.policy_id,
                    s.sid.unwrap_or("(no Sid)")
                )
            }
            (Outcome::Allowed, None) => "allowed (root)".to_owned(),
            (Outcome::ExplicitDeny, Some(s)) => {
                format!(
                    "denied by {} statement {}",
                    s.policy_id,
                    s.sid.unwrap_or("(no Sid)")
                )
            }
            _ => "no policy allows it".to_owned(),
        };
        (
            decision.is_allowed(),
            access_denied_message(&ctx, &decision),
            why,
        )
    }
}

impl Authorizer for IamAuthorizer {
    fn authorize(&self, query: &AccessQuery<'_>) -> AccessVerdict {
        let (allowed, message, why) = self.decide(query);
        let principal = query.principal.arn.as_str();
        if allowed {
            tracing::debug!(
                principal,
                action = query.action,
                resource = query.resource,
                "IAM: {why}"
            );
            return AccessVerdict {
                allowed: true,
                message: None,
            };
        }
        lock(&self.denials)
            .entry(principal.to_owned())
            .or_default()
            .insert((query.action.to_owned(), query.resource.to_owned()));
        if self.soft {
            tracing::info!(
                principal,
                action = query.action,
                resource = query.resource,
                "IAM soft mode: would deny ({why})"
            );
            return AccessVerdict {
                allowed: true,
                message: None,
            };
        }
        tracing::info!(
            principal,
            action = query.action,
            resource = query.resource,
            "IAM: denied ({why})"
        );
        AccessVerdict {
            allowed: false,
            message,
        }
    }
}

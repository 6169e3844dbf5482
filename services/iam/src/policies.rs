//! Managed policies: customer managed ones (created, versioned, tagged, deleted) and AWS managed ones
//! (read-only, known from [`crate::managed`]), and who uses them.

use http::StatusCode;
use skyport_core::RequestContext;
use skyport_wire::{ApiError, Timestamp};

use crate::Iam;
use crate::document::{self, Purpose};
use crate::managed::{self, AWS_POLICY_DATE, PolicyArn};
use crate::shapes::{self, errors};
use crate::state::{
    self, AWS_POLICY_USAGE, EntityRef, GROUPS, GroupRec, Kind, Listed, POLICIES, PolicyRec, ROLES,
    RoleRec, USERS, Usage, UserRec, VersionRec,
};
use crate::util::{
    self, Page, invalid_arn, merge_tags, page, remove_tags, stable_id, tags_in, tags_opt,
    tx_result, unique_id,
};

/// AWS's default quota on a managed policy's size.
const MAX_POLICY_SIZE: usize = 6144;

/// The most versions a managed policy keeps.
const MAX_VERSIONS: usize = 5;

/// The document Skyport reports for an AWS managed policy it has no copy of.
const UNKNOWN_AWS_DOCUMENT: &str = r#"{"Version":"2012-10-17","Statement":[]}"#;

/// A managed policy found by ARN.
#[derive(Debug)]
pub enum Managed {
    /// A customer managed policy of the caller's account.
    Local(Box<PolicyRec>),
    /// An AWS managed policy.
    Aws {
        arn: String,
        parsed: PolicyArn,
        usage: Usage,
    },
}

impl Managed {
    fn usage(&self) -> &Usage {
        match self {
            Managed::Local(p) => &p.usage,
            Managed::Aws { usage, .. } => usage,
        }
    }

    fn arn(&self) -> &str {
        match self {
            Managed::Local(p) => &p.arn,
            Managed::Aws { arn, .. } => arn,
        }
    }
}

/// `NoSuchEntity`: `Policy <arn> was not found.`
fn policy_not_found(arn: &str) -> ApiError {
    errors::no_such_entity_exception(format!("Policy {arn} was not found."))
}

fn version_not_found(arn: &str, version: &str) -> ApiError {
    errors::no_such_entity_exception(format!(
        "Policy {arn} version {version} does not exist or is not attachable."
    ))
}

/// Changing an AWS managed policy is refused, as AWS refuses it to every account.
fn aws_read_only(ctx: &RequestContext, action: &str, arn: &str) -> ApiError {
    ApiError::with_status(
        StatusCode::FORBIDDEN,
        "AccessDenied",
        format!(
            "User: arn:{}:iam::{}:root is not authorized to perform: iam:{action} on resource: policy {arn}",
            ctx.partition(),
            ctx.account
        ),
    )
}

fn check_document(doc: &str) -> Result<(), ApiError> {
    document::validate(doc, Purpose::Identity)
        .map_err(|e| errors::malformed_policy_document_exception(e.0))?;
    if document::size(doc) > MAX_POLICY_SIZE {
        return Err(errors::limit_exceeded_exception(format!(
            "Cannot exceed quota for PolicySize: {MAX_POLICY_SIZE}"
        )));
    }
    Ok(())
}

/// Which attributes a policy is returned with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// `GetPolicy`: with description and tags.
    Full,
    /// `CreatePolicy`: with tags.
    Created,
    /// `ListPolicies`: neither.
    Listed,
}

fn count(n: usize) -> Option<i32> {
    Some(i32::try_from(n).unwrap_or(i32::MAX))
}

fn policy_out(policy: &Managed, view: View) -> shapes::Policy {
    match policy {
        Managed::Local(p) => shapes::Policy {
            policy_name: Some(p.name.clone()),
            policy_id: Some(p.id.clone()),
            arn: Some(p.arn.clone()),
            path: Some(p.path.clone()),
            default_version_id: Some(p.default_version.clone()),
            attachment_count: count(p.usage.attached.len()),
            permissions_boundary_usage_count: count(p.usage.boundary.len()),
            is_attachable: Some(true),
            description: if view == View::Full {
                p.description.clone()
            } else {
                None
            },
            create_date: Some(Timestamp::from_secs(p.created)),
            update_date: Some(Timestamp::from_secs(p.updated)),
            tags: if view == View::Listed {
                None
            } else {
                tags_opt(&p.tags)
            },
        },
        Managed::Aws { arn, parsed, usage } => shapes::Policy {
            policy_name: Some(parsed.name.clone()),
            policy_id: Some(stable_id("ANPA", arn)),
            arn: Some(arn.clone()),
            path: Some(parsed.path.clone()),
            default_version_id: Some("v1".to_owned()),
            attachment_count: count(usage.attached.len()),
            permissions_boundary_usage_count: count(usage.boundary.len()),
            is_attachable: Some(true),
            description: if view == View::Full {
                managed::known(&parsed.name).map(|k| k.description.to_owned())
            } else {
                None
            },
            create_date: Some(Timestamp::from_secs(AWS_POLICY_DATE)),
            update_date: Some(Timestamp::from_secs(AWS_POLICY_DATE)),
            tags: None,
        },
    }
}

fn aws_document(parsed: &PolicyArn) -> &'static str {
    managed::known(&parsed.name).map_or(UNKNOWN_AWS_DOCUMENT, |k| k.document)
}

fn version_out(v: &VersionRec, default: &str, with_document: bool) -> shapes::PolicyVersion {
    shapes::PolicyVersion {
        document: with_document.then(|| document::encode(&v.document)),
        version_id: Some(v.id.clone()),
        is_default_version: Some(v.id == default),
        create_date: Some(Timestamp::from_secs(v.created)),
    }
}

/// The versions of a managed policy, newest first.
fn versions_of(policy: &Managed) -> (Vec<VersionRec>, String) {
    match policy {
        Managed::Local(p) => {
            let mut v = p.versions.clone();
            v.sort_by_key(|v| std::cmp::Reverse(version_number(&v.id)));
            (v, p.default_version.clone())
        }
        Managed::Aws { parsed, .. } => (
            vec![VersionRec {
                id: "v1".to_owned(),
                document: aws_document(parsed).to_owned(),
                created: AWS_POLICY_DATE,
            }],
            "v1".to_owned(),
        ),
    }
}

fn version_number(id: &str) -> u32 {
    id.trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl Iam {
    /// The customer managed policies of `account`, and the AWS managed policies it uses.
    fn policies_and_usage(
        &self,
        account: &str,
    ) -> Result<(Listed<PolicyRec>, Listed<Usage>), ApiError> {
        self.store
            .read(|r| {
                Ok((
                    state::scan(r, POLICIES, account)?,
                    state::scan(r, AWS_POLICY_USAGE, account)?,
                ))
            })
            .map_err(util::store_error)
    }

    /// The managed policy `arn` as the caller's account sees it.
    pub(crate) fn managed(&self, ctx: &RequestContext, arn: &str) -> Result<Managed, ApiError> {
        let parsed = PolicyArn::parse(arn).ok_or_else(|| invalid_arn(arn))?;
        match &parsed.account {
            None => {
                if !managed::aws_policy_exists(&parsed) {
                    return Err(policy_not_found(arn));
                }
                let key = format!("{}/{arn}", ctx.account);
                let usage = self
                    .store
                    .read(|r| state::read::<Usage>(r, AWS_POLICY_USAGE, &key))
                    .map_err(util::store_error)?
                    .unwrap_or_default();
                Ok(Managed::Aws {
                    arn: arn.to_owned(),
                    parsed,
                    usage,
                })
            }
            Some(owner) if *owner == ctx.account => {
                let key = state::key(&ctx.account, &parsed.name);
                let policy = self
                    .store
                    .read(|r| state::read::<PolicyRec>(r, POLICIES, &key))
                    .map_err(util::store_error)?;
                match policy {
                    Some(p) if p.arn == arn => Ok(Managed::Local(Box::new(p))),
                    _ => Err(policy_not_found(arn)),
                }
            }
            Some(_) => Err(policy_not_found(arn)),
        }
    }

    /// Runs `f` on the customer managed policy `arn` in one write transaction, storing it after.
    async fn modify_policy<T, F>(
        &self,
        ctx: &RequestContext,
        action: &'static str,
        arn: String,
        f: F,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut PolicyRec) -> Result<T, ApiError> + Send + 'static,
    {
        let parsed = PolicyArn::parse(&arn).ok_or_else(|| invalid_arn(&arn))?;
        if parsed.is_aws() {
            // Reading first gives AWS's NoSuchEntity for AWS ARNs that do not exist.
            self.managed(ctx, &arn)?;
            return Err(aws_read_only(ctx, action, &arn));
        }
        if parsed.account.as_deref() != Some(ctx.account.as_str()) {
            return Err(policy_not_found(&arn));
        }
        let key = state::key(&ctx.account, &parsed.name);
        tx_result(
            self.store
                .write_async(move |w| {
                    let policy = state::wread::<PolicyRec>(w, POLICIES, &key)?;
                    let Some(mut policy) = policy.filter(|p| p.arn == arn) else {
                        return Ok(Err(policy_not_found(&arn)));
                    };
                    let out = match f(&mut policy) {
                        Ok(out) => out,
                        Err(e) => return Ok(Err(e)),
                    };
                    w.put_json(POLICIES, &key, &policy)?;
                    Ok(Ok(out))
                })
                .await,
        )
    }

    pub(crate) async fn create_policy(
        &self,
        ctx: &RequestContext,
        input: shapes::CreatePolicyRequest,
    ) -> Result<shapes::Policy, ApiError> {
        check_document(&input.policy_document)?;
        let tags = tags_in(input.tags)?;
        let path = input.path.unwrap_or_else(|| "/".to_owned());
        let now = state::now();
        let policy = PolicyRec {
            arn: format!(
                "arn:{}:iam::{}:policy{path}{}",
                ctx.partition(),
                ctx.account,
                input.policy_name
            ),
            id: unique_id("ANPA"),
            name: input.policy_name,
            path,
            created: now,
            updated: now,
            description: input.description,
            tags,
            default_version: "v1".to_owned(),
            versions: vec![VersionRec {
                id: "v1".to_owned(),
                document: input.policy_document,
                created: now,
            }],
            next_version: 2,
            usage: Usage::default(),
        };
        let key = state::key(&ctx.account, &policy.name);
        let stored = policy.clone();
        tx_result(
            self.store
                .write_async(move |w| {
                    if w.get(POLICIES, &key)?.is_some() {
                        return Ok(Err(errors::entity_already_exists_exception(format!(
                            "A policy called {} already exists. Duplicate names are not allowed.",
                            stored.name
                        ))));
                    }
                    w.put_json(POLICIES, &key, &stored)?;
                    Ok(Ok(()))
                })
                .await,
        )?;
        Ok(policy_out(&Managed::Local(Box::new(policy)), View::Created))
    }

    pub(crate) fn get_policy(
        &self,
        ctx: &RequestContext,
        arn: &str,
    ) -> Result<shapes::Policy, ApiError> {
        Ok(policy_out(&self.managed(ctx, arn)?, View::Full))
    }

    pub(crate) async fn delete_policy(
        &self,
        ctx: &RequestContext,
        arn: String,
    ) -> Result<(), ApiError> {
        let parsed = PolicyArn::parse(&arn).ok_or_else(|| invalid_arn(&arn))?;
        if parsed.is_aws() {
            self.managed(ctx, &arn)?;
            return Err(aws_read_only(ctx, "DeletePolicy", &arn));
        }
        if parsed.account.as_deref() != Some(ctx.account.as_str()) {
            return Err(policy_not_found(&arn));
        }
        let key = state::key(&ctx.account, &parsed.name);
        tx_result(
            self.store
                .write_freeing_async(move |w| {
                    let policy = state::wread::<PolicyRec>(w, POLICIES, &key)?;
                    let Some(policy) = policy.filter(|p| p.arn == arn) else {
                        return Ok(Err(policy_not_found(&arn)));
                    };
                    if !policy.usage.is_empty() {
                        return Ok(Err(errors::delete_conflict_exception(
                            "Cannot delete a policy attached to entities.",
                        )));
                    }
                    if policy.versions.len() > 1 {
                        return Ok(Err(errors::delete_conflict_exception(
                            "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.",
                        )));
                    }
                    w.delete(POLICIES, &key)?;
                    Ok(Ok(()))
                })
                .await,
        )
    }

    pub(crate) fn list_policies(
        &self,
        ctx: &RequestContext,
        input: &shapes::ListPoliciesRequest,
    ) -> Result<Page<shapes::Policy>, ApiError> {
        let scope = input.scope.as_deref().unwrap_or("All");
        let mut all: Vec<Managed> = Vec::new();
        let (local, used) = self.policies_and_usage(&ctx.account)?;
        if scope != "AWS" {
            all.extend(local.into_iter().map(|(_, p)| Managed::Local(Box::new(p))));
        }
        if scope != "Local" {
            let partition = ctx.partition();
            let mut aws: std::collections::BTreeMap<String, Usage> = managed::CATALOG
                .iter()
                .map(|k| {
                    (
                        managed::aws_arn(partition, k.path, k.name),
                        Usage::default(),
                    )
                })
                .collect();
            aws.extend(used);
            all.extend(aws.into_iter().filter_map(|(arn, usage)| {
                PolicyArn::parse(&arn).map(|parsed| Managed::Aws { arn, parsed, usage })
            }));
        }
        let path_of = |m: &Managed| match m {
            Managed::Local(p) => p.path.clone(),
            Managed::Aws { parsed, .. } => parsed.path.clone(),
        };
        let name_of = |m: &Managed| match m {
            Managed::Local(p) => p.name.clone(),
            Managed::Aws { parsed, .. } => parsed.name.clone(),
        };
        let mut all: Vec<Managed> = all
            .into_iter()
            .filter(|m| {
                input
                    .path_prefix
                    .as_deref()
                    .is_none_or(|p| path_of(m).starts_with(p))
            })
            .filter(|m| {
                let usage = m.usage();
                let only_attached = input.only_attached.unwrap_or(false);
                match input.policy_usage_filter.as_deref() {
                    Some("PermissionsPolicy") => !only_attached || !usage.attached.is_empty(),
                    Some("PermissionsBoundary") => !only_attached || !usage.boundary.is_empty(),
                    _ => !only_attached || !usage.is_empty(),
                }
            })
            .collect();
        let sort_key = |m: &Managed| format!("{} {}", name_of(m).to_lowercase(), m.arn());
        all.sort_by_key(sort_key);
        let p = page(all, sort_key, input.marker.as_deref(), input.max_items);
        Ok(Page {
            items: p
                .items
                .iter()
                .map(|m| policy_out(m, View::Listed))
                .collect(),
            truncated: p.truncated,
            marker: p.marker,
        })
    }

    pub(crate) async fn create_policy_version(
        &self,
        ctx: &RequestContext,
        input: shapes::CreatePolicyVersionRequest,
    ) -> Result<shapes::PolicyVersion, ApiError> {
        check_document(&input.policy_document)?;
        let doc = input.policy_document;
        let set_default = input.set_as_default.unwrap_or(false);
        self.modify_policy(ctx, "CreatePolicyVersion", input.policy_arn, move |p| {
            if p.versions.len() >= MAX_VERSIONS {
                return Err(errors::limit_exceeded_exception(
                    "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.",
                ));
            }
            let now = state::now();
            let version = VersionRec {
                id: format!("v{}", p.next_version),
                document: doc,
                created: now,
            };
            p.next_version += 1;
            if set_default {
                p.default_version.clone_from(&version.id);
            }
            p.updated = now;
            let out = version_out(&version, &p.default_version, false);
            p.versions.push(version);
            Ok(out)
        })
        .await
    }

    pub(crate) fn get_policy_version(
        &self,
        ctx: &RequestContext,
        arn: &str,
        version: &str,
    ) -> Result<shapes::PolicyVersion, ApiError> {
        let policy = self.managed(ctx, arn)?;
        let (versions, default) = versions_of(&policy);
        versions
            .iter()
            .find(|v| v.id == version)
            .map(|v| version_out(v, &default, true))
            .ok_or_else(|| version_not_found(arn, version))
    }

    pub(crate) fn list_policy_versions(
        &self,
        ctx: &RequestContext,
        input: &shapes::ListPolicyVersionsRequest,
    ) -> Result<Page<shapes::PolicyVersion>, ApiError> {
        let policy = self.managed(ctx, &input.policy_arn)?;
        let (versions, default) = versions_of(&policy);
        // Newest first; the marker is the (inverted) version number.
        let key = |v: &VersionRec| format!("{:010}", u32::MAX - version_number(&v.id));
        let p = page(versions, key, input.marker.as_deref(), input.max_items);
        Ok(Page {
            items: p
                .items
                .iter()
                .map(|v| version_out(v, &default, false))
                .collect(),
            truncated: p.truncated,
            marker: p.marker,
        })
    }

    pub(crate) async fn delete_policy_version(
        &self,
        ctx: &RequestContext,
        arn: String,
        version: String,
    ) -> Result<(), ApiError> {
        let shown = arn.clone();
        self.modify_policy(ctx, "DeletePolicyVersion", arn, move |p| {
            let Some(at) = p.versions.iter().position(|v| v.id == version) else {
                return Err(version_not_found(&shown, &version));
            };
            if p.default_version == version {
                return Err(errors::delete_conflict_exception(
                    "Cannot delete the default version of a policy.",
                ));
            }
            p.versions.remove(at);
            Ok(())
        })
        .await
    }

    pub(crate) async fn set_default_policy_version(
        &self,
        ctx: &RequestContext,
        arn: String,
        version: String,
    ) -> Result<(), ApiError> {
        let shown = arn.clone();
        self.modify_policy(ctx, "SetDefaultPolicyVersion", arn, move |p| {
            if !p.versions.iter().any(|v| v.id == version) {
                return Err(version_not_found(&shown, &version));
            }
            p.default_version = version;
            p.updated = state::now();
            Ok(())
        })
        .await
    }

    pub(crate) async fn tag_policy(
        &self,
        ctx: &RequestContext,
        input: shapes::TagPolicyRequest,
    ) -> Result<(), ApiError> {
        let tags = tags_in(Some(input.tags))?;
        self.modify_policy(ctx, "TagPolicy", input.policy_arn, move |p| {
            merge_tags(&mut p.tags, tags, "Policy")
        })
        .await
    }

    pub(crate) async fn untag_policy(
        &self,
        ctx: &RequestContext,
        input: shapes::UntagPolicyRequest,
    ) -> Result<(), ApiError> {
        self.modify_policy(ctx, "UntagPolicy", input.policy_arn, move |p| {
            remove_tags(&mut p.tags, &input.tag_keys);
            Ok(())
        })
        .await
    }

    pub(crate) fn list_policy_tags(
        &self,
        ctx: &RequestContext,
        input: &shapes::ListPolicyTagsRequest,
    ) -> Result<Page<shapes::Tag>, ApiError> {
        let tags = match self.managed(ctx, &input.policy_arn)? {
            Managed::Local(p) => p.tags,
            Managed::Aws { .. } => Vec::new(),
        };
        Ok(crate::roles::tag_page(
            &tags,
            input.marker.as_deref(),
            input.max_items,
        ))
    }

    pub(crate) fn list_entities_for_policy(
        &self,
        ctx: &RequestContext,
        input: &shapes::ListEntitiesForPolicyRequest,
    ) -> Result<shapes::ListEntitiesForPolicyResponse, ApiError> {
        let policy = self.managed(ctx, &input.policy_arn)?;
        let usage = policy.usage();
        let mut refs: Vec<EntityRef> = match input.policy_usage_filter.as_deref() {
            Some("PermissionsPolicy") => usage.attached.clone(),
            Some("PermissionsBoundary") => usage.boundary.clone(),
            _ => usage
                .attached
                .iter()
                .chain(usage.boundary.iter())
                .cloned()
                .collect(),
        };
        let wanted = |k: Kind| match input.entity_filter.as_deref() {
            Some("User") => k == Kind::User,
            Some("Role") => k == Kind::Role,
            Some("Group") => k == Kind::Group,
            Some(_) => false,
            None => true,
        };
        refs.retain(|e| wanted(e.kind));
        refs.sort();
        refs.dedup();
        let p = page(
            refs,
            |e| format!("{:?}/{}", e.kind, e.key),
            input.marker.as_deref(),
            input.max_items,
        );
        let prefix = input.path_prefix.as_deref();
        let in_path = |path: &str| prefix.is_none_or(|p| path.starts_with(p));
        let mut out = shapes::ListEntitiesForPolicyResponse {
            policy_groups: Some(Vec::new()),
            policy_users: Some(Vec::new()),
            policy_roles: Some(Vec::new()),
            is_truncated: Some(p.truncated),
            marker: p.marker,
        };
        self.store
            .read(|r| {
                for e in &p.items {
                    let key = state::key(&ctx.account, &e.key);
                    match e.kind {
                        Kind::Group => {
                            if let Some(g) = state::read::<GroupRec>(r, GROUPS, &key)?
                                && in_path(&g.path)
                            {
                                out.policy_groups.get_or_insert_default().push(
                                    shapes::PolicyGroup {
                                        group_name: Some(g.name),
                                        group_id: Some(g.id),
                                    },
                                );
                            }
                        }
                        Kind::User => {
                            if let Some(u) = state::read::<UserRec>(r, USERS, &key)?
                                && in_path(&u.path)
                            {
                                out.policy_users
                                    .get_or_insert_default()
                                    .push(shapes::PolicyUser {
                                        user_name: Some(u.name),
                                        user_id: Some(u.id),
                                    });
                            }
                        }
                        Kind::Role => {
                            if let Some(ro) = state::read::<RoleRec>(r, ROLES, &key)?
                                && in_path(&ro.path)
                            {
                                out.policy_roles
                                    .get_or_insert_default()
                                    .push(shapes::PolicyRole {
                                        role_name: Some(ro.name),
                                        role_id: Some(ro.id),
                                    });
                            }
                        }
                    }
                }
                Ok(())
            })
            .map_err(util::store_error)?;
        Ok(out)
    }

    /// Every managed policy used in the account (for `GetAccountAuthorizationDetails`), with its
    /// versions.
    pub(crate) fn policy_details(
        &self,
        ctx: &RequestContext,
        local: bool,
        aws: bool,
    ) -> Result<Vec<shapes::ManagedPolicyDetail>, ApiError> {
        let (policies, used) = self.policies_and_usage(&ctx.account)?;
        let mut all: Vec<Managed> = Vec::new();
        if local {
            all.extend(
                policies
                    .into_iter()
                    .map(|(_, p)| Managed::Local(Box::new(p))),
            );
        }
        if aws {
            all.extend(used.into_iter().filter_map(|(arn, usage)| {
                PolicyArn::parse(&arn).map(|parsed| Managed::Aws { arn, parsed, usage })
            }));
        }
        Ok(all
            .iter()
            .map(|m| {
                let p = policy_out(m, View::Full);
                let (versions, default) = versions_of(m);
                shapes::ManagedPolicyDetail {
                    policy_name: p.policy_name,
                    policy_id: p.policy_id,
                    arn: p.arn,
                    path: p.path,
                    default_version_id: p.default_version_id,
                    attachment_count: p.attachment_count,
                    permissions_boundary_usage_count: p.permissions_boundary_usage_count,
                    is_attachable: p.is_attachable,
                    description: p.description,
                    create_date: p.create_date,
                    update_date: p.update_date,
                    policy_version_list: Some(
                        versions
                            .iter()
                            .map(|v| version_out(v, &default, true))
                            .collect(),
                    ),
                }
            })
            .collect())
    }
}

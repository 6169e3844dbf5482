//! What roles, users and groups have in common: attached managed policies, inline policies and (roles
//! and users) a permissions boundary. One implementation of each operation serves the three kinds.

use std::collections::BTreeMap;

use serde::{Serialize, de::DeserializeOwned};
use skyport_core::RequestContext;
use skyport_core::store::{StoreError, Writer};
use skyport_wire::ApiError;

use crate::Iam;
use crate::document::{self, Purpose};
use crate::managed::{self, PolicyArn};
use crate::shapes::{self, errors};
use crate::state::{
    self, AWS_POLICY_USAGE, EntityRef, GroupRec, Kind, POLICIES, PolicyRec, RoleRec, Tx, Usage,
    UserRec,
};
use crate::util::{self, Page, invalid_arn, page, tx_result};

/// The most managed policies one role, user or group can have attached (AWS's default quota).
pub const MAX_ATTACHED: usize = 10;

impl Kind {
    /// `role`, `user`, `group`.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Group => "group",
            Kind::Role => "role",
        }
    }

    /// `Role`, `User`, `Group`.
    pub fn title(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
            Kind::Role => "Role",
        }
    }

    /// `NoSuchEntity`: `The role with name X cannot be found.`
    pub fn not_found(self, name: &str) -> ApiError {
        errors::no_such_entity_exception(format!(
            "The {} with name {name} cannot be found.",
            self.noun()
        ))
    }

    /// `EntityAlreadyExists`: `Role with name X already exists.`
    pub fn exists(self, name: &str) -> ApiError {
        errors::entity_already_exists_exception(format!(
            "{} with name {name} already exists.",
            self.title()
        ))
    }

    fn inline_not_found(self, policy: &str) -> ApiError {
        errors::no_such_entity_exception(format!(
            "The {} policy with name {policy} cannot be found.",
            self.noun()
        ))
    }

    /// AWS's default quota on the total size of one entity's inline policies.
    fn inline_limit(self) -> usize {
        match self {
            Kind::User => 2048,
            Kind::Group => 5120,
            Kind::Role => 10240,
        }
    }
}

/// A role, user or group record.
pub trait Entity: Serialize + DeserializeOwned + Send + 'static {
    /// The kind.
    const KIND: Kind;
    /// The name.
    fn name(&self) -> &str;
    /// The attached managed policy ARNs.
    fn attached(&mut self) -> &mut Vec<String>;
    /// The inline policies.
    fn inline(&mut self) -> &mut BTreeMap<String, String>;
    /// The permissions boundary, for kinds that have one.
    fn boundary(&mut self) -> Option<&mut Option<String>> {
        None
    }
}

impl Entity for RoleRec {
    const KIND: Kind = Kind::Role;
    fn name(&self) -> &str {
        &self.name
    }
    fn attached(&mut self) -> &mut Vec<String> {
        &mut self.attached
    }
    fn inline(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.inline
    }
    fn boundary(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.boundary)
    }
}

impl Entity for UserRec {
    const KIND: Kind = Kind::User;
    fn name(&self) -> &str {
        &self.name
    }
    fn attached(&mut self) -> &mut Vec<String> {
        &mut self.attached
    }
    fn inline(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.inline
    }
    fn boundary(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.boundary)
    }
}

impl Entity for GroupRec {
    const KIND: Kind = Kind::Group;
    fn name(&self) -> &str {
        &self.name
    }
    fn attached(&mut self) -> &mut Vec<String> {
        &mut self.attached
    }
    fn inline(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.inline
    }
}

/// How a policy is used by an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Attached as a permissions policy.
    Permissions,
    /// Set as the permissions boundary.
    Boundary,
}

/// Resolves `arn` to a managed policy that exists in `account`: `Ok(Err(..))` with `not_found` when
/// it does not, `InvalidInput` when it is not a policy ARN.
pub fn existing_policy(
    w: &Writer<'_>,
    account: &str,
    arn: &str,
    not_found: impl Fn() -> ApiError,
) -> Tx<PolicyArn> {
    let Some(parsed) = PolicyArn::parse(arn) else {
        return Ok(Err(invalid_arn(arn)));
    };
    let exists = match &parsed.account {
        None => managed::aws_policy_exists(&parsed),
        Some(owner) if owner == account => {
            state::wread::<PolicyRec>(w, POLICIES, &state::key(account, &parsed.name))?
                .is_some_and(|p| p.arn == arn)
        }
        Some(_) => false,
    };
    Ok(if exists { Ok(parsed) } else { Err(not_found()) })
}

/// Changes who uses the policy `arn` (which exists) in `account`.
pub fn update_usage(
    w: &mut Writer<'_>,
    account: &str,
    arn: &str,
    f: impl FnOnce(&mut Usage),
) -> Result<(), StoreError> {
    let Some(parsed) = PolicyArn::parse(arn) else {
        return Ok(());
    };
    if parsed.is_aws() {
        let key = format!("{account}/{arn}");
        let mut usage: Usage = state::wread(w, AWS_POLICY_USAGE, &key)?.unwrap_or_default();
        f(&mut usage);
        if usage.is_empty() {
            w.delete(AWS_POLICY_USAGE, &key)?;
        } else {
            w.put_json(AWS_POLICY_USAGE, &key, &usage)?;
        }
    } else {
        let key = state::key(account, &parsed.name);
        if let Some(mut policy) = state::wread::<PolicyRec>(w, POLICIES, &key)? {
            f(&mut policy.usage);
            w.put_json(POLICIES, &key, &policy)?;
        }
    }
    Ok(())
}

/// Records that entity `who` uses (or no longer uses) the policy `arn`.
pub fn set_use(
    w: &mut Writer<'_>,
    account: &str,
    arn: &str,
    who: &EntityRef,
    how: Use,
    on: bool,
) -> Result<(), StoreError> {
    update_usage(w, account, arn, |usage| {
        let list = match how {
            Use::Permissions => &mut usage.attached,
            Use::Boundary => &mut usage.boundary,
        };
        list.retain(|e| e != who);
        if on {
            list.push(who.clone());
        }
    })
}

/// Validates an inline policy for an entity and checks the entity's total against its quota.
fn check_inline(
    kind: Kind,
    entity: &str,
    inline: &BTreeMap<String, String>,
    policy_name: &str,
    doc: &str,
) -> Result<(), ApiError> {
    document::validate(doc, Purpose::Identity)
        .map_err(|e| errors::malformed_policy_document_exception(e.0))?;
    let others: usize = inline
        .iter()
        .filter(|(n, _)| n.as_str() != policy_name)
        .map(|(_, d)| document::size(d))
        .sum();
    let limit = kind.inline_limit();
    if others + document::size(doc) > limit {
        return Err(errors::limit_exceeded_exception(format!(
            "Maximum policy size of {limit} bytes exceeded for {} {entity}",
            kind.noun()
        )));
    }
    Ok(())
}

impl Iam {
    /// Reads an entity, or `NoSuchEntity`.
    pub(crate) fn entity<E: Entity>(&self, account: &str, name: &str) -> Result<E, ApiError> {
        let key = state::key(account, name);
        self.store
            .read(|r| state::read::<E>(r, E::KIND.table(), &key))
            .map_err(util::store_error)?
            .ok_or_else(|| E::KIND.not_found(name))
    }

    /// Runs `f` on the entity `name` in one write transaction and stores it if `f` succeeds.
    pub(crate) async fn modify<E, T, F>(
        &self,
        account: &str,
        name: &str,
        f: F,
    ) -> Result<T, ApiError>
    where
        E: Entity,
        T: Send + 'static,
        F: FnOnce(&mut Writer<'_>, &mut E) -> Tx<T> + Send + 'static,
    {
        let key = state::key(account, name);
        let name = name.to_owned();
        tx_result(
            self.store
                .write_async(move |w| {
                    let Some(mut entity) = state::wread::<E>(w, E::KIND.table(), &key)? else {
                        return Ok(Err(E::KIND.not_found(&name)));
                    };
                    let out = match f(w, &mut entity)? {
                        Ok(out) => out,
                        Err(e) => return Ok(Err(e)),
                    };
                    w.put_json(E::KIND.table(), &key, &entity)?;
                    Ok(Ok(out))
                })
                .await,
        )
    }

    /// `Attach{Role,User,Group}Policy`.
    pub(crate) async fn attach<E: Entity>(
        &self,
        ctx: &RequestContext,
        name: &str,
        arn: String,
    ) -> Result<(), ApiError> {
        let account = ctx.account.clone();
        let who = EntityRef {
            kind: E::KIND,
            key: state::name_key(name),
        };
        self.modify::<E, _, _>(&ctx.account, name, move |w, entity| {
            if let Err(e) = existing_policy(w, &account, &arn, || {
                errors::no_such_entity_exception(format!(
                    "Policy {arn} does not exist or is not attachable."
                ))
            })? {
                return Ok(Err(e));
            }
            if entity.attached().contains(&arn) {
                return Ok(Ok(()));
            }
            if entity.attached().len() >= MAX_ATTACHED {
                return Ok(Err(errors::limit_exceeded_exception(format!(
                    "Cannot exceed quota for PoliciesPer{}: {MAX_ATTACHED}",
                    E::KIND.title()
                ))));
            }
            entity.attached().push(arn.clone());
            set_use(w, &account, &arn, &who, Use::Permissions, true)?;
            Ok(Ok(()))
        })
        .await
    }

    /// `Detach{Role,User,Group}Policy`.
    pub(crate) async fn detach<E: Entity>(
        &self,
        ctx: &RequestContext,
        name: &str,
        arn: String,
    ) -> Result<(), ApiError> {
        if PolicyArn::parse(&arn).is_none() {
            return Err(invalid_arn(&arn));
        }
        let account = ctx.account.clone();
        let who = EntityRef {
            kind: E::KIND,
            key: state::name_key(name),
        };
        self.modify::<E, _, _>(&ctx.account, name, move |w, entity| {
            let Some(at) = entity.attached().iter().position(|a| *a == arn) else {
                return Ok(Err(errors::no_such_entity_exception(format!(
                    "Policy {arn} was not found."
                ))));
            };
            entity.attached().remove(at);
            set_use(w, &account, &arn, &who, Use::Permissions, false)?;
            Ok(Ok(()))
        })
        .await
    }

    /// `ListAttached{Role,User,Group}Policies`.
    pub(crate) fn list_attached<E: Entity>(
        &self,
        ctx: &RequestContext,
        name: &str,
        path_prefix: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i32>,
    ) -> Result<Page<shapes::AttachedPolicy>, ApiError> {
        let mut entity: E = self.entity(&ctx.account, name)?;
        let mut attached: Vec<(String, PolicyArn)> = entity
            .attached()
            .iter()
            .filter_map(|a| PolicyArn::parse(a).map(|p| (a.clone(), p)))
            .filter(|(_, p)| path_prefix.is_none_or(|prefix| p.path.starts_with(prefix)))
            .collect();
        attached.sort_by(|a, b| a.0.cmp(&b.0));
        let p = page(attached, |(a, _)| a.clone(), marker, max_items);
        Ok(Page {
            items: p
                .items
                .into_iter()
                .map(|(arn, parsed)| shapes::AttachedPolicy {
                    policy_name: Some(parsed.name),
                    policy_arn: Some(arn),
                })
                .collect(),
            truncated: p.truncated,
            marker: p.marker,
        })
    }

    /// `Put{Role,User,Group}Policy`.
    pub(crate) async fn put_inline<E: Entity>(
        &self,
        ctx: &RequestContext,
        name: &str,
        policy_name: String,
        doc: String,
    ) -> Result<(), ApiError> {
        self.modify::<E, _, _>(&ctx.account, name, move |_, entity| {
            let entity_name = entity.name().to_owned();
            if let Err(e) = check_inline(E::KIND, &entity_name, entity.inline(), &policy_name, &doc)
            {
                return Ok(Err(e));
            }
            entity.inline().insert(policy_name, doc);
            Ok(Ok(()))
        })
        .await
    }

    /// `Get{Role,User,Group}Policy`: the entity's name as stored, and the document.
    pub(crate) fn get_inline<E: Entity>(
        &self,
        ctx: &RequestContext,
        name: &str,
        policy_name: &str,
    ) -> Result<(String, String), ApiError> {
        let mut entity: E = self.entity(&ctx.account, name)?;
        let doc = entity
            .inline()
            .get(policy_name)
            .cloned()
            .ok_or_else(|| E::KIND.inline_not_found(policy_name))?;
        Ok((entity.name().to_owned(), doc))
    }

    /// `Delete{Role,User,Group}Policy`.
    pub(crate) async fn delete_inline<E: Entity>(
        &self,
        ctx: &RequestContext,
        name: &str,
        policy_name: String,
    ) -> Result<(), ApiError> {
        self.modify::<E, _, _>(&ctx.account, name, move |_, entity| {
            Ok(match entity.inline().remove(&policy_name) {
                Some(_) => Ok(()),
                None => Err(E::KIND.inline_not_found(&policy_name)),
            })
        })
        .await
    }

    /// `List{Role,User,Group}Policies`.
    pub(crate) fn list_inline<E: Entity>(
        &self,
        ctx: &RequestContext,
        name: &str,
        marker: Option<&str>,
        max_items: Option<i32>,
    ) -> Result<Page<String>, ApiError> {
        let mut entity: E = self.entity(&ctx.account, name)?;
        let names: Vec<String> = entity.inline().keys().cloned().collect();
        Ok(page(names, Clone::clone, marker, max_items))
    }

    /// `Put{Role,User}PermissionsBoundary`.
    pub(crate) async fn put_boundary<E: Entity>(
        &self,
        ctx: &RequestContext,
        name: &str,
        arn: String,
    ) -> Result<(), ApiError> {
        let account = ctx.account.clone();
        let who = EntityRef {
            kind: E::KIND,
            key: state::name_key(name),
        };
        self.modify::<E, _, _>(&ctx.account, name, move |w, entity| {
            if let Err(e) = existing_policy(w, &account, &arn, || boundary_not_found(&arn))? {
                return Ok(Err(e));
            }
            let Some(slot) = entity.boundary() else {
                return Ok(Ok(()));
            };
            if let Some(old) = slot.replace(arn.clone()) {
                set_use(w, &account, &old, &who, Use::Boundary, false)?;
            }
            set_use(w, &account, &arn, &who, Use::Boundary, true)?;
            Ok(Ok(()))
        })
        .await
    }

    /// `Delete{Role,User}PermissionsBoundary`.
    pub(crate) async fn delete_boundary<E: Entity>(
        &self,
        ctx: &RequestContext,
        name: &str,
    ) -> Result<(), ApiError> {
        let account = ctx.account.clone();
        let who = EntityRef {
            kind: E::KIND,
            key: state::name_key(name),
        };
        self.modify::<E, _, _>(&ctx.account, name, move |w, entity| {
            if let Some(old) = entity.boundary().and_then(Option::take) {
                set_use(w, &account, &old, &who, Use::Boundary, false)?;
            }
            Ok(Ok(()))
        })
        .await
    }
}

/// `NoSuchEntity` for a permissions boundary that does not exist.
pub fn boundary_not_found(arn: &str) -> ApiError {
    errors::no_such_entity_exception(format!(
        "Scope ARN: {arn} does not exist or is not attachable."
    ))
}

/// A permissions boundary as the model's shape.
pub fn boundary_out(arn: Option<&String>) -> Option<shapes::AttachedPermissionsBoundary> {
    arn.map(|arn| shapes::AttachedPermissionsBoundary {
        permissions_boundary_type: Some("PermissionsBoundaryPolicy".to_owned()),
        permissions_boundary_arn: Some(arn.clone()),
    })
}

/// Releases everything an entity being deleted still refers to (its permissions boundary).
pub fn release_boundary(
    w: &mut Writer<'_>,
    account: &str,
    who: &EntityRef,
    boundary: Option<&String>,
) -> Result<(), StoreError> {
    if let Some(arn) = boundary {
        set_use(w, account, arn, who, Use::Boundary, false)?;
    }
    Ok(())
}

//! Roles: create, read, list, update, delete, trust policy and tags.

use skyport_core::RequestContext;
use skyport_wire::{ApiError, Timestamp};

use crate::Iam;
use crate::document::{self, Purpose};
use crate::entity::{self, Use, boundary_not_found, boundary_out, existing_policy, set_use};
use crate::shapes::{self, errors};
use crate::state::{self, EntityRef, Kind, ROLES, RoleRec};
use crate::util::{
    self, Page, entity_arn, merge_tags, page, remove_tags, stable_id, tags_in, tags_opt, tags_out,
    tx_result,
};

/// Which attributes a role is returned with: list operations leave some out, as AWS does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// `GetRole` and friends: everything, with `RoleLastUsed`.
    Full,
    /// `CreateRole`: everything but `RoleLastUsed`.
    Created,
    /// `ListRoles` and roles inside instance profiles: no tags, boundary or `RoleLastUsed`.
    Listed,
}

/// The default `MaxSessionDuration`.
pub const DEFAULT_MAX_SESSION: i32 = 3600;

/// AWS's default quota on the size of a trust policy.
const MAX_TRUST_SIZE: usize = 2048;

/// A role as the model's shape.
pub fn role_out(role: &RoleRec, view: View) -> shapes::Role {
    let full = view != View::Listed;
    shapes::Role {
        path: role.path.clone(),
        role_name: role.name.clone(),
        role_id: role.id.clone(),
        arn: role.arn.clone(),
        create_date: Timestamp::from_secs(role.created),
        assume_role_policy_document: Some(document::encode(&role.trust)),
        description: role.description.clone(),
        max_session_duration: Some(role.max_session),
        permissions_boundary: if full {
            boundary_out(role.boundary.as_ref())
        } else {
            None
        },
        tags: if full { tags_opt(&role.tags) } else { None },
        role_last_used: (view == View::Full).then(shapes::RoleLastUsed::default),
        ..Default::default()
    }
}

fn check_trust(doc: &str) -> Result<(), ApiError> {
    document::validate(doc, Purpose::Trust)
        .map_err(|e| errors::malformed_policy_document_exception(e.0))?;
    if document::size(doc) > MAX_TRUST_SIZE {
        return Err(errors::limit_exceeded_exception(format!(
            "Cannot exceed quota for ACLSizePerRole: {MAX_TRUST_SIZE}"
        )));
    }
    Ok(())
}

impl Iam {
    pub(crate) async fn create_role(
        &self,
        ctx: &RequestContext,
        input: shapes::CreateRoleRequest,
    ) -> Result<shapes::CreateRoleResponse, ApiError> {
        check_trust(&input.assume_role_policy_document)?;
        let tags = tags_in(input.tags)?;
        let path = input.path.unwrap_or_else(|| "/".to_owned());
        let arn = entity_arn(
            ctx.partition(),
            &ctx.account,
            "role",
            &path,
            &input.role_name,
        );
        let role = RoleRec {
            id: stable_id("AROA", &arn),
            arn,
            name: input.role_name,
            path,
            created: state::now(),
            trust: input.assume_role_policy_document,
            description: input.description,
            max_session: input.max_session_duration.unwrap_or(DEFAULT_MAX_SESSION),
            boundary: input.permissions_boundary,
            tags,
            attached: Vec::new(),
            inline: Default::default(),
            profiles: Vec::new(),
        };
        let account = ctx.account.clone();
        let stored = role.clone();
        tx_result(
            self.store
                .write_async(move |w| {
                    let key = state::key(&account, &stored.name);
                    if w.get(ROLES, &key)?.is_some() {
                        return Ok(Err(Kind::Role.exists(&stored.name)));
                    }
                    if let Some(boundary) = &stored.boundary {
                        if let Err(e) =
                            existing_policy(w, &account, boundary, || boundary_not_found(boundary))?
                        {
                            return Ok(Err(e));
                        }
                        let who = EntityRef {
                            kind: Kind::Role,
                            key: state::name_key(&stored.name),
                        };
                        set_use(w, &account, boundary, &who, Use::Boundary, true)?;
                    }
                    w.put_json(ROLES, &key, &stored)?;
                    Ok(Ok(()))
                })
                .await,
        )?;
        tracing::debug!(role = %role.arn, "role created");
        Ok(shapes::CreateRoleResponse {
            role: role_out(&role, View::Created),
        })
    }

    pub(crate) fn get_role(&self, ctx: &RequestContext, name: &str) -> Result<RoleRec, ApiError> {
        self.entity::<RoleRec>(&ctx.account, name)
    }

    pub(crate) async fn delete_role(
        &self,
        ctx: &RequestContext,
        name: String,
    ) -> Result<(), ApiError> {
        let account = ctx.account.clone();
        tx_result(
            self.store
                .write_freeing_async(move |w| {
                    let key = state::key(&account, &name);
                    let Some(role) = state::wread::<RoleRec>(w, ROLES, &key)? else {
                        return Ok(Err(Kind::Role.not_found(&name)));
                    };
                    if let Some(conflict) = delete_conflict(&role) {
                        return Ok(Err(conflict));
                    }
                    let who = EntityRef {
                        kind: Kind::Role,
                        key: state::name_key(&role.name),
                    };
                    entity::release_boundary(w, &account, &who, role.boundary.as_ref())?;
                    w.delete(ROLES, &key)?;
                    Ok(Ok(()))
                })
                .await,
        )
    }

    pub(crate) fn list_roles(
        &self,
        ctx: &RequestContext,
        input: &shapes::ListRolesRequest,
    ) -> Result<Page<shapes::Role>, ApiError> {
        let roles: Vec<(String, RoleRec)> = self
            .store
            .read(|r| state::scan(r, ROLES, &ctx.account))
            .map_err(util::store_error)?;
        let roles: Vec<_> = roles
            .into_iter()
            .filter(|(_, r)| {
                input
                    .path_prefix
                    .as_deref()
                    .is_none_or(|p| r.path.starts_with(p))
            })
            .collect();
        let p = page(
            roles,
            |(k, _)| k.clone(),
            input.marker.as_deref(),
            input.max_items,
        );
        Ok(Page {
            items: p
                .items
                .iter()
                .map(|(_, r)| role_out(r, View::Listed))
                .collect(),
            truncated: p.truncated,
            marker: p.marker,
        })
    }

    pub(crate) async fn update_role(
        &self,
        ctx: &RequestContext,
        input: shapes::UpdateRoleRequest,
    ) -> Result<(), ApiError> {
        self.modify::<RoleRec, _, _>(&ctx.account, &input.role_name, move |_, role| {
            if let Some(d) = input.description {
                role.description = Some(d);
            }
            if let Some(m) = input.max_session_duration {
                role.max_session = m;
            }
            Ok(Ok(()))
        })
        .await
    }

    pub(crate) async fn update_role_description(
        &self,
        ctx: &RequestContext,
        input: shapes::UpdateRoleDescriptionRequest,
    ) -> Result<shapes::Role, ApiError> {
        self.modify::<RoleRec, _, _>(&ctx.account, &input.role_name, move |_, role| {
            role.description = Some(input.description);
            Ok(Ok(role_out(role, View::Full)))
        })
        .await
    }

    pub(crate) async fn update_assume_role_policy(
        &self,
        ctx: &RequestContext,
        input: shapes::UpdateAssumeRolePolicyRequest,
    ) -> Result<(), ApiError> {
        // A missing role is reported before a malformed document, as AWS does.
        self.get_role(ctx, &input.role_name)?;
        check_trust(&input.policy_document)?;
        self.modify::<RoleRec, _, _>(&ctx.account, &input.role_name, move |_, role| {
            role.trust = input.policy_document;
            Ok(Ok(()))
        })
        .await
    }

    pub(crate) async fn tag_role(
        &self,
        ctx: &RequestContext,
        input: shapes::TagRoleRequest,
    ) -> Result<(), ApiError> {
        let tags = tags_in(Some(input.tags))?;
        self.modify::<RoleRec, _, _>(&ctx.account, &input.role_name, move |_, role| {
            Ok(merge_tags(&mut role.tags, tags, "Role"))
        })
        .await
    }

    pub(crate) async fn untag_role(
        &self,
        ctx: &RequestContext,
        input: shapes::UntagRoleRequest,
    ) -> Result<(), ApiError> {
        self.modify::<RoleRec, _, _>(&ctx.account, &input.role_name, move |_, role| {
            remove_tags(&mut role.tags, &input.tag_keys);
            Ok(Ok(()))
        })
        .await
    }

    pub(crate) fn list_role_tags(
        &self,
        ctx: &RequestContext,
        input: &shapes::ListRoleTagsRequest,
    ) -> Result<Page<shapes::Tag>, ApiError> {
        let role = self.get_role(ctx, &input.role_name)?;
        Ok(tag_page(
            &role.tags,
            input.marker.as_deref(),
            input.max_items,
        ))
    }
}

/// Why a role cannot be deleted yet, in AWS's words.
fn delete_conflict(role: &RoleRec) -> Option<ApiError> {
    let message = if !role.attached.is_empty() {
        "Cannot delete entity, must detach all policies first."
    } else if !role.inline.is_empty() {
        "Cannot delete entity, must delete policies first."
    } else if !role.profiles.is_empty() {
        "Cannot delete entity, must remove roles from instance profile first."
    } else {
        return None;
    };
    Some(errors::delete_conflict_exception(message))
}

/// A page of tags, in key order.
pub fn tag_page(
    tags: &[state::TagRec],
    marker: Option<&str>,
    max_items: Option<i32>,
) -> Page<shapes::Tag> {
    let mut tags = tags_out(tags);
    tags.sort_by_key(|t| t.key.to_lowercase());
    page(tags, |t| t.key.to_lowercase(), marker, max_items)
}

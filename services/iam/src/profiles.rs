//! Instance profiles: containers for (at most) one role, which EC2 instances are launched with.

use skyport_core::RequestContext;
use skyport_core::store::{Reader, StoreError};
use skyport_wire::{ApiError, Timestamp};

use crate::Iam;
use crate::roles::{View, role_out, tag_page};
use crate::shapes::{self, errors};
use crate::state::{self, INSTANCE_PROFILES, Kind, ProfileRec, ROLES, RoleRec};
use crate::util::{
    self, Page, entity_arn, merge_tags, page, remove_tags, tags_in, tags_opt, tx_result, unique_id,
};

/// Roles per instance profile (a hard quota in AWS).
const MAX_ROLES: usize = 1;

fn profile_not_found(name: &str) -> ApiError {
    errors::no_such_entity_exception(format!("Instance Profile {name} cannot be found."))
}

/// An instance profile as the model's shape, with its roles read from `r`.
fn profile_out(
    r: &Reader,
    account: &str,
    p: &ProfileRec,
    tags: bool,
) -> Result<shapes::InstanceProfile, StoreError> {
    let mut roles = Vec::with_capacity(p.roles.len());
    for role in &p.roles {
        if let Some(role) = state::read::<RoleRec>(r, ROLES, &state::key(account, role))? {
            roles.push(role_out(&role, View::Listed));
        }
    }
    Ok(shapes::InstanceProfile {
        path: p.path.clone(),
        instance_profile_name: p.name.clone(),
        instance_profile_id: p.id.clone(),
        arn: p.arn.clone(),
        create_date: Timestamp::from_secs(p.created),
        roles,
        tags: if tags { tags_opt(&p.tags) } else { None },
    })
}

impl Iam {
    /// The instance profiles named by `keys`, as the model's shapes.
    pub(crate) fn profiles_out(
        &self,
        account: &str,
        keys: &[String],
    ) -> Result<Vec<shapes::InstanceProfile>, ApiError> {
        self.store
            .read(|r| {
                let mut out = Vec::with_capacity(keys.len());
                for k in keys {
                    if let Some(p) =
                        state::read::<ProfileRec>(r, INSTANCE_PROFILES, &state::key(account, k))?
                    {
                        out.push(profile_out(r, account, &p, false)?);
                    }
                }
                Ok(out)
            })
            .map_err(util::store_error)
    }

    pub(crate) async fn create_instance_profile(
        &self,
        ctx: &RequestContext,
        input: shapes::CreateInstanceProfileRequest,
    ) -> Result<shapes::InstanceProfile, ApiError> {
        let tags = tags_in(input.tags)?;
        let path = input.path.unwrap_or_else(|| "/".to_owned());
        let profile = ProfileRec {
            arn: entity_arn(
                ctx.partition(),
                &ctx.account,
                "instance-profile",
                &path,
                &input.instance_profile_name,
            ),
            id: unique_id("AIPA"),
            name: input.instance_profile_name,
            path,
            created: state::now(),
            roles: Vec::new(),
            tags,
        };
        let key = state::key(&ctx.account, &profile.name);
        let stored = profile.clone();
        tx_result(
            self.store
                .write_async(move |w| {
                    if w.get(INSTANCE_PROFILES, &key)?.is_some() {
                        return Ok(Err(errors::entity_already_exists_exception(format!(
                            "Instance Profile {} already exists.",
                            stored.name
                        ))));
                    }
                    w.put_json(INSTANCE_PROFILES, &key, &stored)?;
                    Ok(Ok(()))
                })
                .await,
        )?;
        Ok(shapes::InstanceProfile {
            path: profile.path,
            instance_profile_name: profile.name,
            instance_profile_id: profile.id,
            arn: profile.arn,
            create_date: Timestamp::from_secs(profile.created),
            roles: Vec::new(),
            tags: tags_opt(&profile.tags),
        })
    }

    fn profile(&self, ctx: &RequestContext, name: &str) -> Result<ProfileRec, ApiError> {
        let key = state::key(&ctx.account, name);
        self.store
            .read(|r| state::read::<ProfileRec>(r, INSTANCE_PROFILES, &key))
            .map_err(util::store_error)?
            .ok_or_else(|| profile_not_found(name))
    }

    pub(crate) fn get_instance_profile(
        &self,
        ctx: &RequestContext,
        name: &str,
    ) -> Result<shapes::InstanceProfile, ApiError> {
        let key = state::key(&ctx.account, name);
        self.store
            .read(
                |r| match state::read::<ProfileRec>(r, INSTANCE_PROFILES, &key)? {
                    Some(p) => Ok(Some(profile_out(r, &ctx.account, &p, true)?)),
                    None => Ok(None),
                },
            )
            .map_err(util::store_error)?
            .ok_or_else(|| profile_not_found(name))
    }

    pub(crate) async fn delete_instance_profile(
        &self,
        ctx: &RequestContext,
        name: String,
    ) -> Result<(), ApiError> {
        let key = state::key(&ctx.account, &name);
        tx_result(
            self.store
                .write_freeing_async(move |w| {
                    let Some(p) = state::wread::<ProfileRec>(w, INSTANCE_PROFILES, &key)? else {
                        return Ok(Err(profile_not_found(&name)));
                    };
                    if !p.roles.is_empty() {
                        return Ok(Err(errors::delete_conflict_exception(
                            "Cannot delete entity, must remove roles from instance profile first.",
                        )));
                    }
                    w.delete(INSTANCE_PROFILES, &key)?;
                    Ok(Ok(()))
                })
                .await,
        )
    }

    pub(crate) async fn add_role_to_instance_profile(
        &self,
        ctx: &RequestContext,
        input: shapes::AddRoleToInstanceProfileRequest,
    ) -> Result<(), ApiError> {
        self.profile_role(ctx, input.instance_profile_name, input.role_name, true)
            .await
    }

    pub(crate) async fn remove_role_from_instance_profile(
        &self,
        ctx: &RequestContext,
        input: shapes::RemoveRoleFromInstanceProfileRequest,
    ) -> Result<(), ApiError> {
        self.profile_role(ctx, input.instance_profile_name, input.role_name, false)
            .await
    }

    async fn profile_role(
        &self,
        ctx: &RequestContext,
        profile_name: String,
        role_name: String,
        add: bool,
    ) -> Result<(), ApiError> {
        let account = ctx.account.clone();
        tx_result(
            self.store
                .write_async(move |w| {
                    let pkey = state::key(&account, &profile_name);
                    let rkey = state::key(&account, &role_name);
                    let Some(mut profile) = state::wread::<ProfileRec>(w, INSTANCE_PROFILES, &pkey)?
                    else {
                        return Ok(Err(profile_not_found(&profile_name)));
                    };
                    let Some(mut role) = state::wread::<RoleRec>(w, ROLES, &rkey)? else {
                        return Ok(Err(Kind::Role.not_found(&role_name)));
                    };
                    let (p, r) = (state::name_key(&profile.name), state::name_key(&role.name));
                    if add {
                        if profile.roles.len() >= MAX_ROLES {
                            return Ok(Err(errors::limit_exceeded_exception(format!(
                                "Cannot exceed quota for InstanceSessionsPerInstanceProfile: {MAX_ROLES}"
                            ))));
                        }
                        profile.roles.push(r);
                        if !role.profiles.contains(&p) {
                            role.profiles.push(p);
                        }
                    } else {
                        if !profile.roles.contains(&r) {
                            return Ok(Err(Kind::Role.not_found(&role_name)));
                        }
                        profile.roles.retain(|x| *x != r);
                        role.profiles.retain(|x| *x != p);
                    }
                    w.put_json(INSTANCE_PROFILES, &pkey, &profile)?;
                    w.put_json(ROLES, &rkey, &role)?;
                    Ok(Ok(()))
                })
                .await,
        )
    }

    pub(crate) fn list_instance_profiles(
        &self,
        ctx: &RequestContext,
        input: &shapes::ListInstanceProfilesRequest,
    ) -> Result<Page<shapes::InstanceProfile>, ApiError> {
        let account = &ctx.account;
        self.store
            .read(|r| {
                let all: Vec<(String, ProfileRec)> = state::scan(r, INSTANCE_PROFILES, account)?;
                let all: Vec<_> = all
                    .into_iter()
                    .filter(|(_, p)| {
                        input
                            .path_prefix
                            .as_deref()
                            .is_none_or(|x| p.path.starts_with(x))
                    })
                    .collect();
                let p = page(
                    all,
                    |(k, _)| k.clone(),
                    input.marker.as_deref(),
                    input.max_items,
                );
                Ok(Page {
                    items: p
                        .items
                        .iter()
                        .map(|(_, x)| profile_out(r, account, x, false))
                        .collect::<Result<_, _>>()?,
                    truncated: p.truncated,
                    marker: p.marker,
                })
            })
            .map_err(util::store_error)
    }

    pub(crate) fn list_instance_profiles_for_role(
        &self,
        ctx: &RequestContext,
        input: &shapes::ListInstanceProfilesForRoleRequest,
    ) -> Result<Page<shapes::InstanceProfile>, ApiError> {
        let role = self.get_role(ctx, &input.role_name)?;
        let mut names = role.profiles.clone();
        names.sort();
        let p = page(
            names,
            Clone::clone,
            input.marker.as_deref(),
            input.max_items,
        );
        Ok(Page {
            items: self.profiles_out(&ctx.account, &p.items)?,
            truncated: p.truncated,
            marker: p.marker,
        })
    }

    pub(crate) async fn tag_instance_profile(
        &self,
        ctx: &RequestContext,
        input: shapes::TagInstanceProfileRequest,
    ) -> Result<(), ApiError> {
        let tags = tags_in(Some(input.tags))?;
        self.modify_profile(ctx, input.instance_profile_name, move |p| {
            merge_tags(&mut p.tags, tags, "InstanceProfile")
        })
        .await
    }

    pub(crate) async fn untag_instance_profile(
        &self,
        ctx: &RequestContext,
        input: shapes::UntagInstanceProfileRequest,
    ) -> Result<(), ApiError> {
        self.modify_profile(ctx, input.instance_profile_name, move |p| {
            remove_tags(&mut p.tags, &input.tag_keys);
            Ok(())
        })
        .await
    }

    pub(crate) fn list_instance_profile_tags(
        &self,
        ctx: &RequestContext,
        input: &shapes::ListInstanceProfileTagsRequest,
    ) -> Result<Page<shapes::Tag>, ApiError> {
        let p = self.profile(ctx, &input.instance_profile_name)?;
        Ok(tag_page(&p.tags, input.marker.as_deref(), input.max_items))
    }

    async fn modify_profile(
        &self,
        ctx: &RequestContext,
        name: String,
        f: impl FnOnce(&mut ProfileRec) -> Result<(), ApiError> + Send + 'static,
    ) -> Result<(), ApiError> {
        let key = state::key(&ctx.account, &name);
        tx_result(
            self.store
                .write_async(move |w| {
                    let Some(mut p) = state::wread::<ProfileRec>(w, INSTANCE_PROFILES, &key)?
                    else {
                        return Ok(Err(profile_not_found(&name)));
                    };
                    if let Err(e) = f(&mut p) {
                        return Ok(Err(e));
                    }
                    w.put_json(INSTANCE_PROFILES, &key, &p)?;
                    Ok(Ok(()))
                })
                .await,
        )
    }
}

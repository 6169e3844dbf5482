//! Users: create, read (including "who am I"), list, rename, delete and tags.

use skyport_core::RequestContext;
use skyport_wire::{ApiError, Timestamp};

use crate::Iam;
use crate::entity::{
    self, Use, boundary_not_found, boundary_out, existing_policy, set_use, update_usage,
};
use crate::shapes::{self, errors};
use crate::state::{self, ACCESS_KEYS, EntityRef, GROUPS, GroupRec, KeyRec, Kind, USERS, UserRec};
use crate::util::{
    self, Page, entity_arn, merge_tags, page, remove_tags, tags_in, tags_opt, tx_result, unique_id,
};

/// When Skyport says an account's root user was created (AWS reports the account's creation date).
const ROOT_CREATED: i64 = 1_420_070_400;

/// A user as the model's shape; `full` adds tags and the permissions boundary (`GetUser`).
pub fn user_out(user: &UserRec, full: bool) -> shapes::User {
    shapes::User {
        path: user.path.clone(),
        user_name: user.name.clone(),
        user_id: user.id.clone(),
        arn: user.arn.clone(),
        create_date: Timestamp::from_secs(user.created),
        password_last_used: None,
        permissions_boundary: if full {
            boundary_out(user.boundary.as_ref())
        } else {
            None
        },
        tags: if full { tags_opt(&user.tags) } else { None },
    }
}

/// The root user of the caller's account, as `GetUser` describes it: no name and no path (the
/// handler removes the empty members before the response is written).
pub fn root_user(ctx: &RequestContext) -> shapes::User {
    shapes::User {
        path: String::new(),
        user_name: String::new(),
        user_id: ctx.account.clone(),
        arn: format!("arn:{}:iam::{}:root", ctx.partition(), ctx.account),
        create_date: Timestamp::from_secs(ROOT_CREATED),
        ..Default::default()
    }
}

impl Iam {
    /// The IAM user who signed the request (with an access key `CreateAccessKey` issued in this
    /// account), if any.
    pub(crate) fn caller_user(&self, ctx: &RequestContext) -> Result<Option<UserRec>, ApiError> {
        let Some(key) = ctx.access_key.as_deref() else {
            return Ok(None);
        };
        let Some(rec) = self.key_record(key)? else {
            return Ok(None);
        };
        if rec.account != ctx.account {
            return Ok(None);
        }
        let key = state::key(&ctx.account, &rec.user_key);
        self.store
            .read(|r| state::read::<UserRec>(r, USERS, &key))
            .map_err(util::store_error)
    }

    pub(crate) async fn create_user(
        &self,
        ctx: &RequestContext,
        input: shapes::CreateUserRequest,
    ) -> Result<shapes::User, ApiError> {
        let tags = tags_in(input.tags)?;
        let path = input.path.unwrap_or_else(|| "/".to_owned());
        let user = UserRec {
            arn: entity_arn(
                ctx.partition(),
                &ctx.account,
                "user",
                &path,
                &input.user_name,
            ),
            id: unique_id("AIDA"),
            name: input.user_name,
            path,
            created: state::now(),
            boundary: input.permissions_boundary,
            tags,
            attached: Vec::new(),
            inline: Default::default(),
            groups: Vec::new(),
            keys: Vec::new(),
        };
        let account = ctx.account.clone();
        let stored = user.clone();
        tx_result(
            self.store
                .write_async(move |w| {
                    let key = state::key(&account, &stored.name);
                    if w.get(USERS, &key)?.is_some() {
                        return Ok(Err(Kind::User.exists(&stored.name)));
                    }
                    if let Some(boundary) = &stored.boundary {
                        if let Err(e) =
                            existing_policy(w, &account, boundary, || boundary_not_found(boundary))?
                        {
                            return Ok(Err(e));
                        }
                        let who = EntityRef {
                            kind: Kind::User,
                            key: state::name_key(&stored.name),
                        };
                        set_use(w, &account, boundary, &who, Use::Boundary, true)?;
                    }
                    w.put_json(USERS, &key, &stored)?;
                    Ok(Ok(()))
                })
                .await,
        )?;
        Ok(user_out(&user, true))
    }

    pub(crate) fn get_user(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
    ) -> Result<shapes::User, ApiError> {
        match name {
            Some(name) => Ok(user_out(&self.entity::<UserRec>(&ctx.account, name)?, true)),
            None => Ok(match self.caller_user(ctx)? {
                Some(user) => user_out(&user, true),
                None => root_user(ctx),
            }),
        }
    }

    pub(crate) fn list_users(
        &self,
        ctx: &RequestContext,
        input: &shapes::ListUsersRequest,
    ) -> Result<Page<shapes::User>, ApiError> {
        let users: Vec<(String, UserRec)> = self
            .store
            .read(|r| state::scan(r, USERS, &ctx.account))
            .map_err(util::store_error)?;
        let users: Vec<_> = users
            .into_iter()
            .filter(|(_, u)| {
                input
                    .path_prefix
                    .as_deref()
                    .is_none_or(|p| u.path.starts_with(p))
            })
            .collect();
        let p = page(
            users,
            |(k, _)| k.clone(),
            input.marker.as_deref(),
            input.max_items,
        );
        Ok(Page {
            items: p.items.iter().map(|(_, u)| user_out(u, false)).collect(),
            truncated: p.truncated,
            marker: p.marker,
        })
    }

    pub(crate) async fn delete_user(
        &self,
        ctx: &RequestContext,
        name: String,
    ) -> Result<(), ApiError> {
        let account = ctx.account.clone();
        tx_result(
            self.store
                .write_freeing_async(move |w| {
                    let key = state::key(&account, &name);
                    let Some(user) = state::wread::<UserRec>(w, USERS, &key)? else {
                        return Ok(Err(Kind::User.not_found(&name)));
                    };
                    let conflict = if !user.keys.is_empty() {
                        Some("Cannot delete entity, must delete access keys first.")
                    } else if !user.groups.is_empty() {
                        Some("Cannot delete entity, must remove users from group first.")
                    } else if !user.attached.is_empty() {
                        Some("Cannot delete entity, must detach all policies first.")
                    } else if !user.inline.is_empty() {
                        Some("Cannot delete entity, must delete policies first.")
                    } else {
                        None
                    };
                    if let Some(message) = conflict {
                        return Ok(Err(errors::delete_conflict_exception(message)));
                    }
                    let who = EntityRef {
                        kind: Kind::User,
                        key: state::name_key(&user.name),
                    };
                    entity::release_boundary(w, &account, &who, user.boundary.as_ref())?;
                    w.delete(USERS, &key)?;
                    Ok(Ok(()))
                })
                .await,
        )
    }

    pub(crate) async fn update_user(
        &self,
        ctx: &RequestContext,
        input: shapes::UpdateUserRequest,
    ) -> Result<(), ApiError> {
        let account = ctx.account.clone();
        let partition = ctx.partition();
        tx_result(
            self.store
                .write_async(move |w| {
                    let old_key = state::key(&account, &input.user_name);
                    let Some(mut user) = state::wread::<UserRec>(w, USERS, &old_key)? else {
                        return Ok(Err(Kind::User.not_found(&input.user_name)));
                    };
                    let new_name = input.new_user_name.unwrap_or_else(|| user.name.clone());
                    let new_key = state::key(&account, &new_name);
                    if new_key != old_key && w.get(USERS, &new_key)?.is_some() {
                        return Ok(Err(Kind::User.exists(&new_name)));
                    }
                    let (from, to) = (state::name_key(&user.name), state::name_key(&new_name));
                    user.name = new_name;
                    if let Some(path) = input.new_path {
                        user.path = path;
                    }
                    user.arn = entity_arn(partition, &account, "user", &user.path, &user.name);
                    if from != to {
                        for group in &user.groups {
                            let gkey = state::key(&account, group);
                            if let Some(mut g) = state::wread::<GroupRec>(w, GROUPS, &gkey)? {
                                for m in &mut g.members {
                                    if *m == from {
                                        m.clone_from(&to);
                                    }
                                }
                                w.put_json(GROUPS, &gkey, &g)?;
                            }
                        }
                        for arn in user.attached.iter().chain(user.boundary.iter()) {
                            update_usage(w, &account, arn, |u| u.rename(Kind::User, &from, &to))?;
                        }
                        w.delete(USERS, &old_key)?;
                    }
                    for id in &user.keys {
                        if let Some(mut k) = state::wread::<KeyRec>(w, ACCESS_KEYS, id)? {
                            k.user_key.clone_from(&to);
                            k.user_name.clone_from(&user.name);
                            k.user_arn.clone_from(&user.arn);
                            w.put_json(ACCESS_KEYS, id, &k)?;
                        }
                    }
                    w.put_json(USERS, &new_key, &user)?;
                    Ok(Ok(()))
                })
                .await,
        )
    }

    pub(crate) async fn tag_user(
        &self,
        ctx: &RequestContext,
        input: shapes::TagUserRequest,
    ) -> Result<(), ApiError> {
        let tags = tags_in(Some(input.tags))?;
        self.modify::<UserRec, _, _>(&ctx.account, &input.user_name, move |_, user| {
            Ok(merge_tags(&mut user.tags, tags, "User"))
        })
        .await
    }

    pub(crate) async fn untag_user(
        &self,
        ctx: &RequestContext,
        input: shapes::UntagUserRequest,
    ) -> Result<(), ApiError> {
        self.modify::<UserRec, _, _>(&ctx.account, &input.user_name, move |_, user| {
            remove_tags(&mut user.tags, &input.tag_keys);
            Ok(Ok(()))
        })
        .await
    }

    pub(crate) fn list_user_tags(
        &self,
        ctx: &RequestContext,
        input: &shapes::ListUserTagsRequest,
    ) -> Result<Page<shapes::Tag>, ApiError> {
        let user = self.entity::<UserRec>(&ctx.account, &input.user_name)?;
        Ok(crate::roles::tag_page(
            &user.tags,
            input.marker.as_deref(),
            input.max_items,
        ))
    }
}

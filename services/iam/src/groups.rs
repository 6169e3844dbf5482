//! Groups and their members.

use skyport_core::RequestContext;
use skyport_wire::{ApiError, Timestamp};

use crate::Iam;
use crate::entity::update_usage;
use crate::shapes::{self, errors};
use crate::state::{self, GROUPS, GroupRec, Kind, USERS, UserRec};
use crate::users::user_out;
use crate::util::{self, Page, entity_arn, page, tx_result, unique_id};

/// A group as the model's shape.
pub fn group_out(group: &GroupRec) -> shapes::Group {
    shapes::Group {
        path: group.path.clone(),
        group_name: group.name.clone(),
        group_id: group.id.clone(),
        arn: group.arn.clone(),
        create_date: Timestamp::from_secs(group.created),
    }
}

impl Iam {
    pub(crate) async fn create_group(
        &self,
        ctx: &RequestContext,
        input: shapes::CreateGroupRequest,
    ) -> Result<shapes::Group, ApiError> {
        let path = input.path.unwrap_or_else(|| "/".to_owned());
        let group = GroupRec {
            arn: entity_arn(
                ctx.partition(),
                &ctx.account,
                "group",
                &path,
                &input.group_name,
            ),
            id: unique_id("AGPA"),
            name: input.group_name,
            path,
            created: state::now(),
            attached: Vec::new(),
            inline: Default::default(),
            members: Vec::new(),
        };
        let key = state::key(&ctx.account, &group.name);
        let stored = group.clone();
        tx_result(
            self.store
                .write_async(move |w| {
                    if w.get(GROUPS, &key)?.is_some() {
                        return Ok(Err(Kind::Group.exists(&stored.name)));
                    }
                    w.put_json(GROUPS, &key, &stored)?;
                    Ok(Ok(()))
                })
                .await,
        )?;
        Ok(group_out(&group))
    }

    pub(crate) fn get_group(
        &self,
        ctx: &RequestContext,
        input: &shapes::GetGroupRequest,
    ) -> Result<(shapes::Group, Page<shapes::User>), ApiError> {
        let group = self.entity::<GroupRec>(&ctx.account, &input.group_name)?;
        let mut members: Vec<String> = group.members.clone();
        members.sort();
        let p = page(
            members,
            Clone::clone,
            input.marker.as_deref(),
            input.max_items,
        );
        let users = self
            .store
            .read(|r| {
                let mut users = Vec::with_capacity(p.items.len());
                for m in &p.items {
                    if let Some(u) = state::read::<UserRec>(r, USERS, &state::key(&ctx.account, m))?
                    {
                        users.push(user_out(&u, false));
                    }
                }
                Ok(users)
            })
            .map_err(util::store_error)?;
        Ok((
            group_out(&group),
            Page {
                items: users,
                truncated: p.truncated,
                marker: p.marker,
            },
        ))
    }

    pub(crate) fn list_groups(
        &self,
        ctx: &RequestContext,
        input: &shapes::ListGroupsRequest,
    ) -> Result<Page<shapes::Group>, ApiError> {
        let groups: Vec<(String, GroupRec)> = self
            .store
            .read(|r| state::scan(r, GROUPS, &ctx.account))
            .map_err(util::store_error)?;
        let groups: Vec<_> = groups
            .into_iter()
            .filter(|(_, g)| {
                input
                    .path_prefix
                    .as_deref()
                    .is_none_or(|p| g.path.starts_with(p))
            })
            .collect();
        let p = page(
            groups,
            |(k, _)| k.clone(),
            input.marker.as_deref(),
            input.max_items,
        );
        Ok(Page {
            items: p.items.iter().map(|(_, g)| group_out(g)).collect(),
            truncated: p.truncated,
            marker: p.marker,
        })
    }

    pub(crate) async fn delete_group(
        &self,
        ctx: &RequestContext,
        name: String,
    ) -> Result<(), ApiError> {
        let account = ctx.account.clone();
        tx_result(
            self.store
                .write_freeing_async(move |w| {
                    let key = state::key(&account, &name);
                    let Some(group) = state::wread::<GroupRec>(w, GROUPS, &key)? else {
                        return Ok(Err(Kind::Group.not_found(&name)));
                    };
                    let conflict = if !group.members.is_empty() {
                        Some("Cannot delete entity, must remove users from group first.")
                    } else if !group.attached.is_empty() {
                        Some("Cannot delete entity, must detach all policies first.")
                    } else if !group.inline.is_empty() {
                        Some("Cannot delete entity, must delete policies first.")
                    } else {
                        None
                    };
                    if let Some(message) = conflict {
                        return Ok(Err(errors::delete_conflict_exception(message)));
                    }
                    w.delete(GROUPS, &key)?;
                    Ok(Ok(()))
                })
                .await,
        )
    }

    pub(crate) async fn update_group(
        &self,
        ctx: &RequestContext,
        input: shapes::UpdateGroupRequest,
    ) -> Result<(), ApiError> {
        let account = ctx.account.clone();
        let partition = ctx.partition();
        tx_result(
            self.store
                .write_async(move |w| {
                    let old_key = state::key(&account, &input.group_name);
                    let Some(mut group) = state::wread::<GroupRec>(w, GROUPS, &old_key)? else {
                        return Ok(Err(Kind::Group.not_found(&input.group_name)));
                    };
                    let new_name = input.new_group_name.unwrap_or_else(|| group.name.clone());
                    let new_key = state::key(&account, &new_name);
                    if new_key != old_key && w.get(GROUPS, &new_key)?.is_some() {
                        return Ok(Err(Kind::Group.exists(&new_name)));
                    }
                    let (from, to) = (state::name_key(&group.name), state::name_key(&new_name));
                    group.name = new_name;
                    if let Some(path) = input.new_path {
                        group.path = path;
                    }
                    group.arn = entity_arn(partition, &account, "group", &group.path, &group.name);
                    if from != to {
                        for member in &group.members {
                            let ukey = state::key(&account, member);
                            if let Some(mut u) = state::wread::<UserRec>(w, USERS, &ukey)? {
                                for g in &mut u.groups {
                                    if *g == from {
                                        g.clone_from(&to);
                                    }
                                }
                                w.put_json(USERS, &ukey, &u)?;
                            }
                        }
                        for arn in &group.attached {
                            update_usage(w, &account, arn, |u| u.rename(Kind::Group, &from, &to))?;
                        }
                        w.delete(GROUPS, &old_key)?;
                    }
                    w.put_json(GROUPS, &new_key, &group)?;
                    Ok(Ok(()))
                })
                .await,
        )
    }

    pub(crate) async fn add_user_to_group(
        &self,
        ctx: &RequestContext,
        input: shapes::AddUserToGroupRequest,
    ) -> Result<(), ApiError> {
        self.membership(ctx, input.group_name, input.user_name, true)
            .await
    }

    pub(crate) async fn remove_user_from_group(
        &self,
        ctx: &RequestContext,
        input: shapes::RemoveUserFromGroupRequest,
    ) -> Result<(), ApiError> {
        self.membership(ctx, input.group_name, input.user_name, false)
            .await
    }

    async fn membership(
        &self,
        ctx: &RequestContext,
        group_name: String,
        user_name: String,
        add: bool,
    ) -> Result<(), ApiError> {
        let account = ctx.account.clone();
        tx_result(
            self.store
                .write_async(move |w| {
                    let gkey = state::key(&account, &group_name);
                    let ukey = state::key(&account, &user_name);
                    let Some(mut group) = state::wread::<GroupRec>(w, GROUPS, &gkey)? else {
                        return Ok(Err(Kind::Group.not_found(&group_name)));
                    };
                    let Some(mut user) = state::wread::<UserRec>(w, USERS, &ukey)? else {
                        return Ok(Err(Kind::User.not_found(&user_name)));
                    };
                    let (g, u) = (state::name_key(&group.name), state::name_key(&user.name));
                    let member = group.members.contains(&u);
                    if add == member {
                        if add {
                            return Ok(Ok(()));
                        }
                        return Ok(Err(Kind::User.not_found(&user_name)));
                    }
                    if add {
                        group.members.push(u);
                        user.groups.push(g);
                    } else {
                        group.members.retain(|m| *m != u);
                        user.groups.retain(|x| *x != g);
                    }
                    w.put_json(GROUPS, &gkey, &group)?;
                    w.put_json(USERS, &ukey, &user)?;
                    Ok(Ok(()))
                })
                .await,
        )
    }

    pub(crate) fn list_groups_for_user(
        &self,
        ctx: &RequestContext,
        input: &shapes::ListGroupsForUserRequest,
    ) -> Result<Page<shapes::Group>, ApiError> {
        let user = self.entity::<UserRec>(&ctx.account, &input.user_name)?;
        let mut names = user.groups.clone();
        names.sort();
        let p = page(
            names,
            Clone::clone,
            input.marker.as_deref(),
            input.max_items,
        );
        let groups = self
            .store
            .read(|r| {
                let mut groups = Vec::with_capacity(p.items.len());
                for g in &p.items {
                    if let Some(g) =
                        state::read::<GroupRec>(r, GROUPS, &state::key(&ctx.account, g))?
                    {
                        groups.push(group_out(&g));
                    }
                }
                Ok(groups)
            })
            .map_err(util::store_error)?;
        Ok(Page {
            items: groups,
            truncated: p.truncated,
            marker: p.marker,
        })
    }
}

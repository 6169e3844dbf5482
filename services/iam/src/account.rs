//! `GetAccountAuthorizationDetails`: every user, group, role and used managed policy of the account
//! with their policies, in one answer (Skyport's accounts are small, so it is never truncated).

use std::collections::BTreeMap;

use skyport_core::RequestContext;
use skyport_wire::{ApiError, Timestamp};

use crate::Iam;
use crate::document;
use crate::entity::boundary_out;
use crate::managed::PolicyArn;
use crate::shapes;
use crate::state::{self, GROUPS, GroupRec, Listed, ROLES, RoleRec, USERS, UserRec};
use crate::util::{self, tags_opt};

fn inline_out(inline: &BTreeMap<String, String>) -> Option<Vec<shapes::PolicyDetail>> {
    Some(
        inline
            .iter()
            .map(|(name, doc)| shapes::PolicyDetail {
                policy_name: Some(name.clone()),
                policy_document: Some(document::encode(doc)),
            })
            .collect(),
    )
}

fn attached_out(attached: &[String]) -> Option<Vec<shapes::AttachedPolicy>> {
    Some(
        attached
            .iter()
            .map(|arn| shapes::AttachedPolicy {
                policy_name: PolicyArn::parse(arn).map(|p| p.name),
                policy_arn: Some(arn.clone()),
            })
            .collect(),
    )
}

impl Iam {
    pub(crate) fn account_authorization_details(
        &self,
        ctx: &RequestContext,
        filter: Option<&[String]>,
    ) -> Result<shapes::GetAccountAuthorizationDetailsResponse, ApiError> {
        let wanted =
            |what: &str| filter.is_none_or(|f| f.is_empty() || f.iter().any(|x| x == what));
        let account = &ctx.account;
        let (users, groups, roles): (Listed<UserRec>, Listed<GroupRec>, Listed<RoleRec>) = self
            .store
            .read(|r| {
                Ok((
                    state::scan(r, USERS, account)?,
                    state::scan(r, GROUPS, account)?,
                    state::scan(r, ROLES, account)?,
                ))
            })
            .map_err(util::store_error)?;
        let group_names: BTreeMap<&str, &str> = groups
            .iter()
            .map(|(k, g)| (k.as_str(), g.name.as_str()))
            .collect();
        let mut out = shapes::GetAccountAuthorizationDetailsResponse {
            is_truncated: Some(false),
            ..Default::default()
        };
        if wanted("User") {
            out.user_detail_list = Some(
                users
                    .iter()
                    .map(|(_, u)| shapes::UserDetail {
                        path: Some(u.path.clone()),
                        user_name: Some(u.name.clone()),
                        user_id: Some(u.id.clone()),
                        arn: Some(u.arn.clone()),
                        create_date: Some(Timestamp::from_secs(u.created)),
                        user_policy_list: inline_out(&u.inline),
                        group_list: Some(
                            u.groups
                                .iter()
                                .filter_map(|g| {
                                    group_names.get(g.as_str()).map(|n| (*n).to_owned())
                                })
                                .collect(),
                        ),
                        attached_managed_policies: attached_out(&u.attached),
                        permissions_boundary: boundary_out(u.boundary.as_ref()),
                        tags: tags_opt(&u.tags),
                    })
                    .collect(),
            );
        }
        if wanted("Group") {
            out.group_detail_list = Some(
                groups
                    .iter()
                    .map(|(_, g)| shapes::GroupDetail {
                        path: Some(g.path.clone()),
                        group_name: Some(g.name.clone()),
                        group_id: Some(g.id.clone()),
                        arn: Some(g.arn.clone()),
                        create_date: Some(Timestamp::from_secs(g.created)),
                        group_policy_list: inline_out(&g.inline),
                        attached_managed_policies: attached_out(&g.attached),
                    })
                    .collect(),
            );
        }
        if wanted("Role") {
            let mut list = Vec::with_capacity(roles.len());
            for (_, r) in &roles {
                list.push(shapes::RoleDetail {
                    path: Some(r.path.clone()),
                    role_name: Some(r.name.clone()),
                    role_id: Some(r.id.clone()),
                    arn: Some(r.arn.clone()),
                    create_date: Some(Timestamp::from_secs(r.created)),
                    assume_role_policy_document: Some(document::encode(&r.trust)),
                    instance_profile_list: Some(self.profiles_out(account, &r.profiles)?),
                    role_policy_list: inline_out(&r.inline),
                    attached_managed_policies: attached_out(&r.attached),
                    permissions_boundary: boundary_out(r.boundary.as_ref()),
                    tags: tags_opt(&r.tags),
                    role_last_used: Some(shapes::RoleLastUsed::default()),
                });
            }
            out.role_detail_list = Some(list);
        }
        let (local, aws) = (wanted("LocalManagedPolicy"), wanted("AWSManagedPolicy"));
        if local || aws {
            out.policies = Some(self.policy_details(ctx, local, aws)?);
        }
        Ok(out)
    }
}

//! AWS Identity and Access Management over the model's types: the wire layer (`skyport-wire`, driven by
//! `models/iam.json`) parses each query-protocol request, checks the model's constraints and writes the
//! XML response; each `IamApi` method below forwards to the method of the same name (inherent to
//! [`Iam`]) in the module of its topic: `roles`, `users`, `groups`, `policies`, `entity` (attached,
//! inline and boundary policies of all three kinds), `keys`, `profiles`, `account`.
//!
//! IAM is a global service: everything is stored per account, whatever the request's region.

use http::{Request, Response};
use skyport_core::store::Store;
use skyport_core::{
    AwsError, Body, OperationTable, Protocol, RequestContext, Service, ServiceInfo,
};
use skyport_wire::{ApiError, Endpoint, Handler, Model, Operation, Value};

use crate::document;
use crate::roles::{View, role_out};
use crate::shapes::{self, IamApi};
use crate::state::{GroupRec, KeyRec, RoleRec, UserRec};
use crate::util::truncated;

skyport_wire::static_model!(MODEL, skyport_wire::embedded::IAM);

static INFO: ServiceInfo = ServiceInfo {
    name: "iam",
    protocols: &[Protocol::Query],
    xml_namespace: "https://iam.amazonaws.com/doc/2010-05-08/",
    json_error_prefix: "",
};

/// The operations implemented; the model's others answer `NotImplemented`.
pub const OPERATIONS: &[&str] = &[
    "AddRoleToInstanceProfile",
    "AddUserToGroup",
    "AttachGroupPolicy",
    "AttachRolePolicy",
    "AttachUserPolicy",
    "CreateAccessKey",
    "CreateGroup",
    "CreateInstanceProfile",
    "CreatePolicy",
    "CreatePolicyVersion",
    "CreateRole",
    "CreateUser",
    "DeleteAccessKey",
    "DeleteGroup",
    "DeleteGroupPolicy",
    "DeleteInstanceProfile",
    "DeletePolicy",
    "DeletePolicyVersion",
    "DeleteRole",
    "DeleteRolePermissionsBoundary",
    "DeleteRolePolicy",
    "DeleteUser",
    "DeleteUserPermissionsBoundary",
    "DeleteUserPolicy",
    "DetachGroupPolicy",
    "DetachRolePolicy",
    "DetachUserPolicy",
    "GetAccessKeyLastUsed",
    "GetAccountAuthorizationDetails",
    "GetGroup",
    "GetGroupPolicy",
    "GetInstanceProfile",
    "GetPolicy",
    "GetPolicyVersion",
    "GetRole",
    "GetRolePolicy",
    "GetUser",
    "GetUserPolicy",
    "ListAccessKeys",
    "ListAttachedGroupPolicies",
    "ListAttachedRolePolicies",
    "ListAttachedUserPolicies",
    "ListEntitiesForPolicy",
    "ListGroupPolicies",
    "ListGroups",
    "ListGroupsForUser",
    "ListInstanceProfileTags",
    "ListInstanceProfiles",
    "ListInstanceProfilesForRole",
    "ListPolicies",
    "ListPolicyTags",
    "ListPolicyVersions",
    "ListRolePolicies",
    "ListRoleTags",
    "ListRoles",
    "ListUserPolicies",
    "ListUserTags",
    "ListUsers",
    "PutGroupPolicy",
    "PutRolePermissionsBoundary",
    "PutRolePolicy",
    "PutUserPermissionsBoundary",
    "PutUserPolicy",
    "RemoveRoleFromInstanceProfile",
    "RemoveUserFromGroup",
    "SetDefaultPolicyVersion",
    "SimulateCustomPolicy",
    "SimulatePrincipalPolicy",
    "TagInstanceProfile",
    "TagPolicy",
    "TagRole",
    "TagUser",
    "UntagInstanceProfile",
    "UntagPolicy",
    "UntagRole",
    "UntagUser",
    "UpdateAccessKey",
    "UpdateAssumeRolePolicy",
    "UpdateGroup",
    "UpdateRole",
    "UpdateRoleDescription",
    "UpdateUser",
];

/// The AWS Identity and Access Management model (compiled on first use).
pub fn model() -> &'static Model {
    MODEL()
}

/// The AWS Identity and Access Management service.
#[derive(Debug, Clone)]
pub struct Iam {
    pub(crate) store: Store,
    /// Access keys' records as last read (`None`: unknown), checked on every signed request.
    pub(crate) keys: std::sync::Arc<crate::cache::StoreCache<Option<std::sync::Arc<KeyRec>>>>,
}

impl Iam {
    /// AWS Identity and Access Management keeping its state in `store`.
    pub fn new(store: Store) -> Iam {
        Iam {
            store,
            keys: std::sync::Arc::default(),
        }
    }

    /// The state store.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

skyport_core::store_state_control!(Iam, this => &this.store);

#[async_trait::async_trait]
impl Service for Iam {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn state_control(&self) -> Option<&dyn skyport_core::state::StateControl> {
        Some(self)
    }

    fn operations(&self) -> Option<OperationTable> {
        Some(OperationTable {
            implemented: OPERATIONS,
            all: || skyport_wire::endpoint::operation_names(MODEL()),
        })
    }

    async fn call(
        &self,
        ctx: &mut RequestContext,
        request: Request<Body>,
    ) -> Result<Response<Body>, AwsError> {
        Endpoint::new(MODEL())
            .body_limit(1 << 20)
            .serve(self, ctx, request)
            .await
    }
}

#[async_trait::async_trait]
impl Handler for Iam {
    fn implemented(&self) -> &'static [&'static str] {
        OPERATIONS
    }

    async fn handle(
        &self,
        ctx: &mut RequestContext,
        operation: &'static Operation,
        input: Value,
    ) -> Result<Value, ApiError> {
        let mut output = shapes::dispatch(self, ctx, operation, input).await?;
        if operation.name == "GetUser" {
            root_user_shape(&mut output);
        }
        Ok(output)
    }
}

/// `GetUser` for the root user answers without `UserName` and `Path` (the model calls them required,
/// AWS leaves them out): `users::root_user` sets them empty, and they go here.
fn root_user_shape(output: &mut Value) {
    let Value::Struct(out) = output else {
        return;
    };
    let Some(Value::Struct(user)) = out.get_mut("User") else {
        return;
    };
    if user.get("UserName").and_then(Value::as_str) == Some("") {
        user.take("UserName");
        user.take("Path");
    }
}

#[async_trait::async_trait]
impl IamApi for Iam {
    async fn create_role(
        &self,
        ctx: &mut RequestContext,
        input: shapes::CreateRoleRequest,
    ) -> Result<shapes::CreateRoleResponse, ApiError> {
        self.create_role(ctx, input).await
    }

    async fn get_role(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetRoleRequest,
    ) -> Result<shapes::GetRoleResponse, ApiError> {
        Ok(shapes::GetRoleResponse {
            role: role_out(&self.get_role(ctx, &input.role_name)?, View::Full),
        })
    }

    async fn delete_role(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteRoleRequest,
    ) -> Result<(), ApiError> {
        self.delete_role(ctx, input.role_name).await
    }

    async fn list_roles(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListRolesRequest,
    ) -> Result<shapes::ListRolesResponse, ApiError> {
        let p = self.list_roles(ctx, &input)?;
        Ok(shapes::ListRolesResponse {
            is_truncated: truncated(&p),
            roles: p.items,
            marker: p.marker,
        })
    }

    async fn update_role(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UpdateRoleRequest,
    ) -> Result<shapes::UpdateRoleResponse, ApiError> {
        self.update_role(ctx, input).await?;
        Ok(shapes::UpdateRoleResponse {})
    }

    async fn update_role_description(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UpdateRoleDescriptionRequest,
    ) -> Result<shapes::UpdateRoleDescriptionResponse, ApiError> {
        Ok(shapes::UpdateRoleDescriptionResponse {
            role: Some(self.update_role_description(ctx, input).await?),
        })
    }

    async fn update_assume_role_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UpdateAssumeRolePolicyRequest,
    ) -> Result<(), ApiError> {
        self.update_assume_role_policy(ctx, input).await
    }

    async fn tag_role(
        &self,
        ctx: &mut RequestContext,
        input: shapes::TagRoleRequest,
    ) -> Result<(), ApiError> {
        self.tag_role(ctx, input).await
    }

    async fn untag_role(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UntagRoleRequest,
    ) -> Result<(), ApiError> {
        self.untag_role(ctx, input).await
    }

    async fn list_role_tags(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListRoleTagsRequest,
    ) -> Result<shapes::ListRoleTagsResponse, ApiError> {
        let p = self.list_role_tags(ctx, &input)?;
        Ok(shapes::ListRoleTagsResponse {
            is_truncated: truncated(&p),
            tags: p.items,
            marker: p.marker,
        })
    }

    async fn create_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::CreatePolicyRequest,
    ) -> Result<shapes::CreatePolicyResponse, ApiError> {
        Ok(shapes::CreatePolicyResponse {
            policy: Some(self.create_policy(ctx, input).await?),
        })
    }

    async fn get_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetPolicyRequest,
    ) -> Result<shapes::GetPolicyResponse, ApiError> {
        Ok(shapes::GetPolicyResponse {
            policy: Some(self.get_policy(ctx, &input.policy_arn)?),
        })
    }

    async fn delete_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeletePolicyRequest,
    ) -> Result<(), ApiError> {
        self.delete_policy(ctx, input.policy_arn).await
    }

    async fn list_policies(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListPoliciesRequest,
    ) -> Result<shapes::ListPoliciesResponse, ApiError> {
        let p = self.list_policies(ctx, &input)?;
        Ok(shapes::ListPoliciesResponse {
            is_truncated: truncated(&p),
            policies: Some(p.items),
            marker: p.marker,
        })
    }

    async fn create_policy_version(
        &self,
        ctx: &mut RequestContext,
        input: shapes::CreatePolicyVersionRequest,
    ) -> Result<shapes::CreatePolicyVersionResponse, ApiError> {
        Ok(shapes::CreatePolicyVersionResponse {
            policy_version: Some(self.create_policy_version(ctx, input).await?),
        })
    }

    async fn get_policy_version(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetPolicyVersionRequest,
    ) -> Result<shapes::GetPolicyVersionResponse, ApiError> {
        Ok(shapes::GetPolicyVersionResponse {
            policy_version: Some(self.get_policy_version(
                ctx,
                &input.policy_arn,
                &input.version_id,
            )?),
        })
    }

    async fn list_policy_versions(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListPolicyVersionsRequest,
    ) -> Result<shapes::ListPolicyVersionsResponse, ApiError> {
        let p = self.list_policy_versions(ctx, &input)?;
        Ok(shapes::ListPolicyVersionsResponse {
            is_truncated: truncated(&p),
            versions: Some(p.items),
            marker: p.marker,
        })
    }

    async fn delete_policy_version(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeletePolicyVersionRequest,
    ) -> Result<(), ApiError> {
        self.delete_policy_version(ctx, input.policy_arn, input.version_id)
            .await
    }

    async fn set_default_policy_version(
        &self,
        ctx: &mut RequestContext,
        input: shapes::SetDefaultPolicyVersionRequest,
    ) -> Result<(), ApiError> {
        self.set_default_policy_version(ctx, input.policy_arn, input.version_id)
            .await
    }

    async fn simulate_custom_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::SimulateCustomPolicyRequest,
    ) -> Result<shapes::SimulatePolicyResponse, ApiError> {
        self.simulate_custom_policy(ctx, input)
    }

    async fn simulate_principal_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::SimulatePrincipalPolicyRequest,
    ) -> Result<shapes::SimulatePolicyResponse, ApiError> {
        self.simulate_principal_policy(ctx, input)
    }

    async fn tag_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::TagPolicyRequest,
    ) -> Result<(), ApiError> {
        self.tag_policy(ctx, input).await
    }

    async fn untag_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UntagPolicyRequest,
    ) -> Result<(), ApiError> {
        self.untag_policy(ctx, input).await
    }

    async fn list_policy_tags(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListPolicyTagsRequest,
    ) -> Result<shapes::ListPolicyTagsResponse, ApiError> {
        let p = self.list_policy_tags(ctx, &input)?;
        Ok(shapes::ListPolicyTagsResponse {
            is_truncated: truncated(&p),
            tags: p.items,
            marker: p.marker,
        })
    }

    async fn attach_role_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::AttachRolePolicyRequest,
    ) -> Result<(), ApiError> {
        self.attach::<RoleRec>(ctx, &input.role_name, input.policy_arn)
            .await
    }

    async fn detach_role_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DetachRolePolicyRequest,
    ) -> Result<(), ApiError> {
        self.detach::<RoleRec>(ctx, &input.role_name, input.policy_arn)
            .await
    }

    async fn list_attached_role_policies(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListAttachedRolePoliciesRequest,
    ) -> Result<shapes::ListAttachedRolePoliciesResponse, ApiError> {
        let p = self.list_attached::<RoleRec>(
            ctx,
            &input.role_name,
            input.path_prefix.as_deref(),
            input.marker.as_deref(),
            input.max_items,
        )?;
        Ok(shapes::ListAttachedRolePoliciesResponse {
            is_truncated: truncated(&p),
            attached_policies: Some(p.items),
            marker: p.marker,
        })
    }

    async fn attach_user_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::AttachUserPolicyRequest,
    ) -> Result<(), ApiError> {
        self.attach::<UserRec>(ctx, &input.user_name, input.policy_arn)
            .await
    }

    async fn detach_user_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DetachUserPolicyRequest,
    ) -> Result<(), ApiError> {
        self.detach::<UserRec>(ctx, &input.user_name, input.policy_arn)
            .await
    }

    async fn list_attached_user_policies(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListAttachedUserPoliciesRequest,
    ) -> Result<shapes::ListAttachedUserPoliciesResponse, ApiError> {
        let p = self.list_attached::<UserRec>(
            ctx,
            &input.user_name,
            input.path_prefix.as_deref(),
            input.marker.as_deref(),
            input.max_items,
        )?;
        Ok(shapes::ListAttachedUserPoliciesResponse {
            is_truncated: truncated(&p),
            attached_policies: Some(p.items),
            marker: p.marker,
        })
    }

    async fn attach_group_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::AttachGroupPolicyRequest,
    ) -> Result<(), ApiError> {
        self.attach::<GroupRec>(ctx, &input.group_name, input.policy_arn)
            .await
    }

    async fn detach_group_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DetachGroupPolicyRequest,
    ) -> Result<(), ApiError> {
        self.detach::<GroupRec>(ctx, &input.group_name, input.policy_arn)
            .await
    }

    async fn list_attached_group_policies(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListAttachedGroupPoliciesRequest,
    ) -> Result<shapes::ListAttachedGroupPoliciesResponse, ApiError> {
        let p = self.list_attached::<GroupRec>(
            ctx,
            &input.group_name,
            input.path_prefix.as_deref(),
            input.marker.as_deref(),
            input.max_items,
        )?;
        Ok(shapes::ListAttachedGroupPoliciesResponse {
            is_truncated: truncated(&p),
            attached_policies: Some(p.items),
            marker: p.marker,
        })
    }

    async fn put_role_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PutRolePolicyRequest,
    ) -> Result<(), ApiError> {
        self.put_inline::<RoleRec>(
            ctx,
            &input.role_name,
            input.policy_name,
            input.policy_document,
        )
        .await
    }

    async fn get_role_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetRolePolicyRequest,
    ) -> Result<shapes::GetRolePolicyResponse, ApiError> {
        let (role_name, doc) =
            self.get_inline::<RoleRec>(ctx, &input.role_name, &input.policy_name)?;
        Ok(shapes::GetRolePolicyResponse {
            role_name,
            policy_name: input.policy_name,
            policy_document: document::encode(&doc),
        })
    }

    async fn delete_role_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteRolePolicyRequest,
    ) -> Result<(), ApiError> {
        self.delete_inline::<RoleRec>(ctx, &input.role_name, input.policy_name)
            .await
    }

    async fn list_role_policies(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListRolePoliciesRequest,
    ) -> Result<shapes::ListRolePoliciesResponse, ApiError> {
        let p = self.list_inline::<RoleRec>(
            ctx,
            &input.role_name,
            input.marker.as_deref(),
            input.max_items,
        )?;
        Ok(shapes::ListRolePoliciesResponse {
            is_truncated: truncated(&p),
            policy_names: p.items,
            marker: p.marker,
        })
    }

    async fn put_user_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PutUserPolicyRequest,
    ) -> Result<(), ApiError> {
        self.put_inline::<UserRec>(
            ctx,
            &input.user_name,
            input.policy_name,
            input.policy_document,
        )
        .await
    }

    async fn get_user_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetUserPolicyRequest,
    ) -> Result<shapes::GetUserPolicyResponse, ApiError> {
        let (user_name, doc) =
            self.get_inline::<UserRec>(ctx, &input.user_name, &input.policy_name)?;
        Ok(shapes::GetUserPolicyResponse {
            user_name,
            policy_name: input.policy_name,
            policy_document: document::encode(&doc),
        })
    }

    async fn delete_user_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteUserPolicyRequest,
    ) -> Result<(), ApiError> {
        self.delete_inline::<UserRec>(ctx, &input.user_name, input.policy_name)
            .await
    }

    async fn list_user_policies(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListUserPoliciesRequest,
    ) -> Result<shapes::ListUserPoliciesResponse, ApiError> {
        let p = self.list_inline::<UserRec>(
            ctx,
            &input.user_name,
            input.marker.as_deref(),
            input.max_items,
        )?;
        Ok(shapes::ListUserPoliciesResponse {
            is_truncated: truncated(&p),
            policy_names: p.items,
            marker: p.marker,
        })
    }

    async fn put_group_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PutGroupPolicyRequest,
    ) -> Result<(), ApiError> {
        self.put_inline::<GroupRec>(
            ctx,
            &input.group_name,
            input.policy_name,
            input.policy_document,
        )
        .await
    }

    async fn get_group_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetGroupPolicyRequest,
    ) -> Result<shapes::GetGroupPolicyResponse, ApiError> {
        let (group_name, doc) =
            self.get_inline::<GroupRec>(ctx, &input.group_name, &input.policy_name)?;
        Ok(shapes::GetGroupPolicyResponse {
            group_name,
            policy_name: input.policy_name,
            policy_document: document::encode(&doc),
        })
    }

    async fn delete_group_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteGroupPolicyRequest,
    ) -> Result<(), ApiError> {
        self.delete_inline::<GroupRec>(ctx, &input.group_name, input.policy_name)
            .await
    }

    async fn list_group_policies(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListGroupPoliciesRequest,
    ) -> Result<shapes::ListGroupPoliciesResponse, ApiError> {
        let p = self.list_inline::<GroupRec>(
            ctx,
            &input.group_name,
            input.marker.as_deref(),
            input.max_items,
        )?;
        Ok(shapes::ListGroupPoliciesResponse {
            is_truncated: truncated(&p),
            policy_names: p.items,
            marker: p.marker,
        })
    }

    async fn create_user(
        &self,
        ctx: &mut RequestContext,
        input: shapes::CreateUserRequest,
    ) -> Result<shapes::CreateUserResponse, ApiError> {
        Ok(shapes::CreateUserResponse {
            user: Some(self.create_user(ctx, input).await?),
        })
    }

    async fn get_user(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetUserRequest,
    ) -> Result<shapes::GetUserResponse, ApiError> {
        Ok(shapes::GetUserResponse {
            user: self.get_user(ctx, input.user_name.as_deref())?,
        })
    }

    async fn list_users(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListUsersRequest,
    ) -> Result<shapes::ListUsersResponse, ApiError> {
        let p = self.list_users(ctx, &input)?;
        Ok(shapes::ListUsersResponse {
            is_truncated: truncated(&p),
            users: p.items,
            marker: p.marker,
        })
    }

    async fn delete_user(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteUserRequest,
    ) -> Result<(), ApiError> {
        self.delete_user(ctx, input.user_name).await
    }

    async fn update_user(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UpdateUserRequest,
    ) -> Result<(), ApiError> {
        self.update_user(ctx, input).await
    }

    async fn tag_user(
        &self,
        ctx: &mut RequestContext,
        input: shapes::TagUserRequest,
    ) -> Result<(), ApiError> {
        self.tag_user(ctx, input).await
    }

    async fn untag_user(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UntagUserRequest,
    ) -> Result<(), ApiError> {
        self.untag_user(ctx, input).await
    }

    async fn list_user_tags(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListUserTagsRequest,
    ) -> Result<shapes::ListUserTagsResponse, ApiError> {
        let p = self.list_user_tags(ctx, &input)?;
        Ok(shapes::ListUserTagsResponse {
            is_truncated: truncated(&p),
            tags: p.items,
            marker: p.marker,
        })
    }

    async fn create_group(
        &self,
        ctx: &mut RequestContext,
        input: shapes::CreateGroupRequest,
    ) -> Result<shapes::CreateGroupResponse, ApiError> {
        Ok(shapes::CreateGroupResponse {
            group: self.create_group(ctx, input).await?,
        })
    }

    async fn get_group(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetGroupRequest,
    ) -> Result<shapes::GetGroupResponse, ApiError> {
        let (group, p) = self.get_group(ctx, &input)?;
        Ok(shapes::GetGroupResponse {
            group,
            is_truncated: truncated(&p),
            users: p.items,
            marker: p.marker,
        })
    }

    async fn list_groups(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListGroupsRequest,
    ) -> Result<shapes::ListGroupsResponse, ApiError> {
        let p = self.list_groups(ctx, &input)?;
        Ok(shapes::ListGroupsResponse {
            is_truncated: truncated(&p),
            groups: p.items,
            marker: p.marker,
        })
    }

    async fn delete_group(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteGroupRequest,
    ) -> Result<(), ApiError> {
        self.delete_group(ctx, input.group_name).await
    }

    async fn update_group(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UpdateGroupRequest,
    ) -> Result<(), ApiError> {
        self.update_group(ctx, input).await
    }

    async fn add_user_to_group(
        &self,
        ctx: &mut RequestContext,
        input: shapes::AddUserToGroupRequest,
    ) -> Result<(), ApiError> {
        self.add_user_to_group(ctx, input).await
    }

    async fn remove_user_from_group(
        &self,
        ctx: &mut RequestContext,
        input: shapes::RemoveUserFromGroupRequest,
    ) -> Result<(), ApiError> {
        self.remove_user_from_group(ctx, input).await
    }

    async fn list_groups_for_user(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListGroupsForUserRequest,
    ) -> Result<shapes::ListGroupsForUserResponse, ApiError> {
        let p = self.list_groups_for_user(ctx, &input)?;
        Ok(shapes::ListGroupsForUserResponse {
            is_truncated: truncated(&p),
            groups: p.items,
            marker: p.marker,
        })
    }

    async fn create_access_key(
        &self,
        ctx: &mut RequestContext,
        input: shapes::CreateAccessKeyRequest,
    ) -> Result<shapes::CreateAccessKeyResponse, ApiError> {
        Ok(shapes::CreateAccessKeyResponse {
            access_key: self.create_access_key(ctx, input.user_name).await?,
        })
    }

    async fn list_access_keys(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListAccessKeysRequest,
    ) -> Result<shapes::ListAccessKeysResponse, ApiError> {
        let p = self.list_access_keys(ctx, input)?;
        Ok(shapes::ListAccessKeysResponse {
            is_truncated: truncated(&p),
            access_key_metadata: p.items,
            marker: p.marker,
        })
    }

    async fn update_access_key(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UpdateAccessKeyRequest,
    ) -> Result<(), ApiError> {
        self.update_access_key(ctx, input).await
    }

    async fn delete_access_key(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteAccessKeyRequest,
    ) -> Result<(), ApiError> {
        self.delete_access_key(ctx, input).await
    }

    async fn get_access_key_last_used(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetAccessKeyLastUsedRequest,
    ) -> Result<shapes::GetAccessKeyLastUsedResponse, ApiError> {
        self.get_access_key_last_used(ctx, &input.access_key_id)
    }

    async fn create_instance_profile(
        &self,
        ctx: &mut RequestContext,
        input: shapes::CreateInstanceProfileRequest,
    ) -> Result<shapes::CreateInstanceProfileResponse, ApiError> {
        Ok(shapes::CreateInstanceProfileResponse {
            instance_profile: self.create_instance_profile(ctx, input).await?,
        })
    }

    async fn get_instance_profile(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetInstanceProfileRequest,
    ) -> Result<shapes::GetInstanceProfileResponse, ApiError> {
        Ok(shapes::GetInstanceProfileResponse {
            instance_profile: self.get_instance_profile(ctx, &input.instance_profile_name)?,
        })
    }

    async fn delete_instance_profile(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteInstanceProfileRequest,
    ) -> Result<(), ApiError> {
        self.delete_instance_profile(ctx, input.instance_profile_name)
            .await
    }

    async fn add_role_to_instance_profile(
        &self,
        ctx: &mut RequestContext,
        input: shapes::AddRoleToInstanceProfileRequest,
    ) -> Result<(), ApiError> {
        self.add_role_to_instance_profile(ctx, input).await
    }

    async fn remove_role_from_instance_profile(
        &self,
        ctx: &mut RequestContext,
        input: shapes::RemoveRoleFromInstanceProfileRequest,
    ) -> Result<(), ApiError> {
        self.remove_role_from_instance_profile(ctx, input).await
    }

    async fn list_instance_profiles(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListInstanceProfilesRequest,
    ) -> Result<shapes::ListInstanceProfilesResponse, ApiError> {
        let p = self.list_instance_profiles(ctx, &input)?;
        Ok(shapes::ListInstanceProfilesResponse {
            is_truncated: truncated(&p),
            instance_profiles: p.items,
            marker: p.marker,
        })
    }

    async fn list_instance_profiles_for_role(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListInstanceProfilesForRoleRequest,
    ) -> Result<shapes::ListInstanceProfilesForRoleResponse, ApiError> {
        let p = self.list_instance_profiles_for_role(ctx, &input)?;
        Ok(shapes::ListInstanceProfilesForRoleResponse {
            is_truncated: truncated(&p),
            instance_profiles: p.items,
            marker: p.marker,
        })
    }

    async fn tag_instance_profile(
        &self,
        ctx: &mut RequestContext,
        input: shapes::TagInstanceProfileRequest,
    ) -> Result<(), ApiError> {
        self.tag_instance_profile(ctx, input).await
    }

    async fn untag_instance_profile(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UntagInstanceProfileRequest,
    ) -> Result<(), ApiError> {
        self.untag_instance_profile(ctx, input).await
    }

    async fn list_instance_profile_tags(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListInstanceProfileTagsRequest,
    ) -> Result<shapes::ListInstanceProfileTagsResponse, ApiError> {
        let p = self.list_instance_profile_tags(ctx, &input)?;
        Ok(shapes::ListInstanceProfileTagsResponse {
            is_truncated: truncated(&p),
            tags: p.items,
            marker: p.marker,
        })
    }

    async fn list_entities_for_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListEntitiesForPolicyRequest,
    ) -> Result<shapes::ListEntitiesForPolicyResponse, ApiError> {
        self.list_entities_for_policy(ctx, &input)
    }

    async fn get_account_authorization_details(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetAccountAuthorizationDetailsRequest,
    ) -> Result<shapes::GetAccountAuthorizationDetailsResponse, ApiError> {
        self.account_authorization_details(ctx, input.filter.as_deref())
    }

    async fn put_role_permissions_boundary(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PutRolePermissionsBoundaryRequest,
    ) -> Result<(), ApiError> {
        self.put_boundary::<RoleRec>(ctx, &input.role_name, input.permissions_boundary)
            .await
    }

    async fn delete_role_permissions_boundary(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteRolePermissionsBoundaryRequest,
    ) -> Result<(), ApiError> {
        self.delete_boundary::<RoleRec>(ctx, &input.role_name).await
    }

    async fn put_user_permissions_boundary(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PutUserPermissionsBoundaryRequest,
    ) -> Result<(), ApiError> {
        self.put_boundary::<UserRec>(ctx, &input.user_name, input.permissions_boundary)
            .await
    }

    async fn delete_user_permissions_boundary(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteUserPermissionsBoundaryRequest,
    ) -> Result<(), ApiError> {
        self.delete_boundary::<UserRec>(ctx, &input.user_name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use http_body_util::BodyExt;
    use skyport_core::bus::KeyDirectory;
    use skyport_core::{access_key, body};

    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;

    /// A query-protocol form (values percent-encoded as IAM encodes documents, which forms accept).
    fn form(pairs: &[(&str, &str)]) -> String {
        let mut out = String::from("Version=2010-05-08");
        for (k, v) in pairs {
            out.push_str(&format!("&{k}={}", crate::document::encode(v)));
        }
        out
    }

    async fn call(
        iam: &Iam,
        ctx: &mut RequestContext,
        pairs: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let request = Request::post("/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body::full(form(pairs)))
            .unwrap();
        let response = match iam.call(ctx, request).await {
            Ok(r) => r,
            Err(e) => e.to_response(
                Protocol::Query,
                &skyport_core::error::ErrorRender {
                    request_id: "r",
                    host_id: None,
                    service: Some(&INFO),
                    method: None,
                },
            ),
        };
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    fn iam() -> Iam {
        Iam::new(Store::in_memory().unwrap())
    }

    fn ctx(account: &str) -> RequestContext {
        let mut ctx = RequestContext::new("iam", Protocol::Query);
        ctx.account = account.to_owned();
        ctx
    }

    fn element<'a>(xml: &'a str, name: &str) -> &'a str {
        xml.split(&format!("<{name}>"))
            .nth(1)
            .and_then(|rest| rest.split(&format!("</{name}>")).next())
            .unwrap_or_else(|| panic!("no <{name}> in {xml}"))
    }

    #[tokio::test]
    async fn role_lifecycle_with_aws_errors() {
        let iam = iam();
        let mut ctx = ctx("123456789012");
        let (status, xml) = call(
            &iam,
            &mut ctx,
            &[
                ("Action", "CreateRole"),
                ("RoleName", "lambda-exec"),
                ("Path", "/service/"),
                ("AssumeRolePolicyDocument", TRUST),
            ],
        )
        .await;
        assert_eq!(status, 200, "{xml}");
        assert_eq!(
            element(&xml, "Arn"),
            "arn:aws:iam::123456789012:role/service/lambda-exec"
        );
        let id = element(&xml, "RoleId");
        assert!(id.starts_with("AROA") && id.len() == 21, "{id}");
        assert_eq!(element(&xml, "MaxSessionDuration"), "3600");
        assert!(
            element(&xml, "AssumeRolePolicyDocument")
                .starts_with("%7B%22Version%22%3A%222012-10-17%22"),
            "{xml}"
        );

        // Names are unique without regard to case.
        let (status, xml) = call(
            &iam,
            &mut ctx,
            &[
                ("Action", "CreateRole"),
                ("RoleName", "LAMBDA-EXEC"),
                ("AssumeRolePolicyDocument", TRUST),
            ],
        )
        .await;
        assert_eq!(status, 409, "{xml}");
        assert!(xml.contains("<Code>EntityAlreadyExists</Code>"), "{xml}");
        assert!(
            xml.contains("Role with name LAMBDA-EXEC already exists."),
            "{xml}"
        );

        let (status, xml) = call(
            &iam,
            &mut ctx,
            &[
                ("Action", "CreateRole"),
                ("RoleName", "bad"),
                ("AssumeRolePolicyDocument", POLICY),
            ],
        )
        .await;
        assert_eq!(status, 400, "{xml}");
        assert!(
            xml.contains("<Code>MalformedPolicyDocument</Code>"),
            "{xml}"
        );
        assert!(xml.contains("Has prohibited field Resource"), "{xml}");

        let (status, xml) = call(
            &iam,
            &mut ctx,
            &[("Action", "GetRole"), ("RoleName", "nope")],
        )
        .await;
        assert_eq!(status, 404, "{xml}");
        assert!(xml.contains("<Code>NoSuchEntity</Code>"), "{xml}");
        assert!(
            xml.contains("The role with name nope cannot be found."),
            "{xml}"
        );

        let attach = [
            ("Action", "AttachRolePolicy"),
            ("RoleName", "lambda-exec"),
            (
                "PolicyArn",
                "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            ),
        ];
        assert_eq!(call(&iam, &mut ctx, &attach).await.0, 200);
        // Attaching twice is not an error.
        assert_eq!(call(&iam, &mut ctx, &attach).await.0, 200);
        // A catalog policy under the wrong path does not exist.
        let (status, xml) = call(
            &iam,
            &mut ctx,
            &[
                ("Action", "AttachRolePolicy"),
                ("RoleName", "lambda-exec"),
                (
                    "PolicyArn",
                    "arn:aws:iam::aws:policy/AWSLambdaBasicExecutionRole",
                ),
            ],
        )
        .await;
        assert_eq!(status, 404, "{xml}");
        assert!(
            xml.contains("Policy arn:aws:iam::aws:policy/AWSLambdaBasicExecutionRole does not exist or is not attachable."),
            "{xml}"
        );
        let (_, xml) = call(
            &iam,
            &mut ctx,
            &[
                ("Action", "GetPolicy"),
                (
                    "PolicyArn",
                    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                ),
            ],
        )
        .await;
        assert_eq!(element(&xml, "AttachmentCount"), "1", "{xml}");
        assert_eq!(element(&xml, "Path"), "/service-role/");

        let (status, xml) = call(
            &iam,
            &mut ctx,
            &[
                ("Action", "PutRolePolicy"),
                ("RoleName", "lambda-exec"),
                ("PolicyName", "read"),
                ("PolicyDocument", POLICY),
            ],
        )
        .await;
        assert_eq!(status, 200, "{xml}");

        let delete = [("Action", "DeleteRole"), ("RoleName", "lambda-exec")];
        let (status, xml) = call(&iam, &mut ctx, &delete).await;
        assert_eq!(status, 409, "{xml}");
        assert!(xml.contains("<Code>DeleteConflict</Code>"), "{xml}");
        assert!(xml.contains("must detach all policies first"), "{xml}");
        let detach = [("Action", "DetachRolePolicy"), attach[1], attach[2]];
        assert_eq!(call(&iam, &mut ctx, &detach).await.0, 200);
        let (status, xml) = call(&iam, &mut ctx, &detach).await;
        assert_eq!(status, 404, "{xml}");
        assert!(
            xml.contains("Policy arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole was not found."),
            "{xml}"
        );
        let (status, xml) = call(&iam, &mut ctx, &delete).await;
        assert_eq!(status, 409);
        assert!(xml.contains("must delete policies first"), "{xml}");
        call(
            &iam,
            &mut ctx,
            &[
                ("Action", "DeleteRolePolicy"),
                ("RoleName", "lambda-exec"),
                ("PolicyName", "read"),
            ],
        )
        .await;
        assert_eq!(call(&iam, &mut ctx, &delete).await.0, 200);
        assert_eq!(call(&iam, &mut ctx, &delete).await.0, 404);

        // Another account sees none of it.
        let mut other = super::tests::ctx("111122223333");
        let (_, xml) = call(&iam, &mut other, &[("Action", "ListRoles")]).await;
        assert!(
            xml.contains("<Roles/>") || xml.contains("<Roles></Roles>"),
            "{xml}"
        );
    }

    #[tokio::test]
    async fn get_user_without_a_name_is_the_caller() {
        let iam = iam();
        let mut root = ctx("123456789012");
        let (status, xml) = call(&iam, &mut root, &[("Action", "GetUser")]).await;
        assert_eq!(status, 200, "{xml}");
        assert_eq!(element(&xml, "Arn"), "arn:aws:iam::123456789012:root");
        assert_eq!(element(&xml, "UserId"), "123456789012");
        assert!(!xml.contains("<UserName>"), "{xml}");
        assert!(!xml.contains("<Path>"), "{xml}");

        call(
            &iam,
            &mut root,
            &[
                ("Action", "CreateUser"),
                ("UserName", "alice"),
                ("Path", "/dev/"),
            ],
        )
        .await;
        let (status, xml) = call(
            &iam,
            &mut root,
            &[("Action", "CreateAccessKey"), ("UserName", "alice")],
        )
        .await;
        assert_eq!(status, 200, "{xml}");
        let key = element(&xml, "AccessKeyId").to_owned();
        assert!(key.starts_with("LKIA") && key.len() == 20, "{key}");
        assert_eq!(element(&xml, "SecretAccessKey").len(), 40);
        assert_eq!(
            access_key::account_for_key(&key, false).as_deref(),
            Some("123456789012")
        );

        let principal = iam.principal(&key).unwrap();
        assert_eq!(principal.account, "123456789012");
        assert_eq!(principal.arn, "arn:aws:iam::123456789012:user/dev/alice");
        assert!(principal.user_id.starts_with("AIDA"));
        assert_eq!(iam.principal("LKIAUNKNOWNKEY123456"), None);

        let mut alice = ctx("123456789012");
        alice.access_key = Some(key.clone());
        let (_, xml) = call(&iam, &mut alice, &[("Action", "GetUser")]).await;
        assert_eq!(element(&xml, "UserName"), "alice");
        assert_eq!(element(&xml, "Arn"), principal.arn);

        // Renaming the user carries the key along.
        call(
            &iam,
            &mut root,
            &[
                ("Action", "UpdateUser"),
                ("UserName", "alice"),
                ("NewUserName", "alicia"),
            ],
        )
        .await;
        assert_eq!(
            iam.principal(&key).unwrap().arn,
            "arn:aws:iam::123456789012:user/dev/alicia"
        );

        call(
            &iam,
            &mut root,
            &[
                ("Action", "UpdateAccessKey"),
                ("AccessKeyId", &key),
                ("Status", "Inactive"),
            ],
        )
        .await;
        assert_eq!(iam.principal(&key), None);
        let (status, xml) = call(
            &iam,
            &mut root,
            &[("Action", "DeleteUser"), ("UserName", "alicia")],
        )
        .await;
        assert_eq!(status, 409);
        assert!(xml.contains("must delete access keys first"), "{xml}");
        call(
            &iam,
            &mut root,
            &[
                ("Action", "DeleteAccessKey"),
                ("UserName", "alicia"),
                ("AccessKeyId", &key),
            ],
        )
        .await;
        let (status, xml) = call(
            &iam,
            &mut root,
            &[("Action", "DeleteUser"), ("UserName", "alicia")],
        )
        .await;
        assert_eq!(status, 200, "{xml}");
        let (status, xml) = call(
            &iam,
            &mut root,
            &[("Action", "DeleteAccessKey"), ("AccessKeyId", &key)],
        )
        .await;
        assert_eq!(status, 404);
        assert!(
            xml.contains(&format!("The Access Key with id {key} cannot be found.")),
            "{xml}"
        );
    }

    #[tokio::test]
    async fn policy_versions() {
        let iam = iam();
        let mut ctx = ctx("000000000000");
        let (status, xml) = call(
            &iam,
            &mut ctx,
            &[
                ("Action", "CreatePolicy"),
                ("PolicyName", "p"),
                ("PolicyDocument", POLICY),
            ],
        )
        .await;
        assert_eq!(status, 200, "{xml}");
        let arn = element(&xml, "Arn").to_owned();
        assert_eq!(arn, "arn:aws:iam::000000000000:policy/p");
        assert!(element(&xml, "PolicyId").starts_with("ANPA"));
        assert_eq!(element(&xml, "DefaultVersionId"), "v1");
        for n in 2..=5 {
            let (status, xml) = call(
                &iam,
                &mut ctx,
                &[
                    ("Action", "CreatePolicyVersion"),
                    ("PolicyArn", &arn),
                    ("PolicyDocument", POLICY),
                    ("SetAsDefault", if n == 3 { "true" } else { "false" }),
                ],
            )
            .await;
            assert_eq!(status, 200, "{xml}");
            assert_eq!(element(&xml, "VersionId"), format!("v{n}"));
        }
        let (status, xml) = call(
            &iam,
            &mut ctx,
            &[
                ("Action", "CreatePolicyVersion"),
                ("PolicyArn", &arn),
                ("PolicyDocument", POLICY),
            ],
        )
        .await;
        assert_eq!(status, 409, "{xml}");
        assert!(xml.contains("<Code>LimitExceeded</Code>"), "{xml}");
        let (_, xml) = call(
            &iam,
            &mut ctx,
            &[("Action", "GetPolicy"), ("PolicyArn", &arn)],
        )
        .await;
        assert_eq!(element(&xml, "DefaultVersionId"), "v3");
        let (status, xml) = call(
            &iam,
            &mut ctx,
            &[
                ("Action", "DeletePolicyVersion"),
                ("PolicyArn", &arn),
                ("VersionId", "v3"),
            ],
        )
        .await;
        assert_eq!(status, 409, "{xml}");
        assert!(xml.contains("Cannot delete the default version of a policy."));
        let (status, xml) = call(
            &iam,
            &mut ctx,
            &[("Action", "DeletePolicy"), ("PolicyArn", &arn)],
        )
        .await;
        assert_eq!(status, 409, "{xml}");
        assert!(
            xml.contains("This policy has more than one version."),
            "{xml}"
        );
        let (_, xml) = call(
            &iam,
            &mut ctx,
            &[
                ("Action", "ListPolicyVersions"),
                ("PolicyArn", &arn),
                ("MaxItems", "2"),
            ],
        )
        .await;
        assert_eq!(element(&xml, "IsTruncated"), "true");
        let marker = element(&xml, "Marker").to_owned();
        assert!(
            xml.find("<VersionId>v5</VersionId>").unwrap()
                < xml.find("<VersionId>v4</VersionId>").unwrap()
        );
        let (_, xml) = call(
            &iam,
            &mut ctx,
            &[
                ("Action", "ListPolicyVersions"),
                ("PolicyArn", &arn),
                ("MaxItems", "2"),
                ("Marker", &marker),
            ],
        )
        .await;
        assert!(
            xml.contains("<VersionId>v3</VersionId>") && xml.contains("<VersionId>v2</VersionId>"),
            "{xml}"
        );
        let (_, xml) = call(
            &iam,
            &mut ctx,
            &[
                ("Action", "GetPolicyVersion"),
                ("PolicyArn", &arn),
                ("VersionId", "v1"),
            ],
        )
        .await;
        assert_eq!(element(&xml, "Document"), crate::document::encode(POLICY));
        let (status, xml) = call(
            &iam,
            &mut ctx,
            &[
                ("Action", "GetPolicy"),
                ("PolicyArn", "arn:aws:iam::000000000000:policy/none"),
            ],
        )
        .await;
        assert_eq!(status, 404);
        assert!(
            xml.contains("Policy arn:aws:iam::000000000000:policy/none was not found."),
            "{xml}"
        );
        let (status, xml) = call(
            &iam,
            &mut ctx,
            &[
                ("Action", "GetPolicy"),
                ("PolicyArn", "not-an-arn-at-all-xx"),
            ],
        )
        .await;
        assert_eq!(status, 400, "{xml}");
        assert!(xml.contains("<Code>InvalidInput</Code>"), "{xml}");
    }

    #[tokio::test]
    async fn groups_follow_renames() {
        let iam = iam();
        let mut ctx = ctx("000000000000");
        for (action, key, name) in [
            ("CreateUser", "UserName", "bob"),
            ("CreateGroup", "GroupName", "devs"),
        ] {
            assert_eq!(
                call(&iam, &mut ctx, &[("Action", action), (key, name)])
                    .await
                    .0,
                200
            );
        }
        call(
            &iam,
            &mut ctx,
            &[
                ("Action", "AddUserToGroup"),
                ("GroupName", "devs"),
                ("UserName", "bob"),
            ],
        )
        .await;
        call(
            &iam,
            &mut ctx,
            &[
                ("Action", "UpdateGroup"),
                ("GroupName", "devs"),
                ("NewGroupName", "builders"),
            ],
        )
        .await;
        call(
            &iam,
            &mut ctx,
            &[
                ("Action", "UpdateUser"),
                ("UserName", "bob"),
                ("NewUserName", "robert"),
            ],
        )
        .await;
        let (_, xml) = call(
            &iam,
            &mut ctx,
            &[("Action", "GetGroup"), ("GroupName", "builders")],
        )
        .await;
        assert!(xml.contains("<UserName>robert</UserName>"), "{xml}");
        let (_, xml) = call(
            &iam,
            &mut ctx,
            &[("Action", "ListGroupsForUser"), ("UserName", "robert")],
        )
        .await;
        assert!(xml.contains("<GroupName>builders</GroupName>"), "{xml}");
        let (status, xml) = call(
            &iam,
            &mut ctx,
            &[("Action", "DeleteGroup"), ("GroupName", "builders")],
        )
        .await;
        assert_eq!(status, 409, "{xml}");
        assert!(xml.contains("must remove users from group first"), "{xml}");
    }
}

//! IAM through the official `aws-sdk-iam` Rust crate (query protocol) against the real binary: roles
//! and their trust policies, managed policies and their versions, attached and inline policies of roles,
//! users and groups, instance profiles, access keys (used to sign requests), pagination, AWS's error
//! codes, and persistence across a `kill -9`.

mod common;

use aws_credential_types::Credentials;
use aws_sdk_iam::Client;
use aws_sdk_iam::config::{BehaviorVersion, Region};
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::{PolicyScopeType, StatusType, Tag};
use common::{Options, Skyport};

const TRUST: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
  ]
}"#;

const READ_BUCKET: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::bucket/*"}]}"#;

const LAMBDA_BASIC: &str = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";

fn client(endpoint: &str, key: &str, secret: &str) -> Client {
    let config = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .build();
    Client::from_conf(config)
}

fn sts(endpoint: &str, key: &str, secret: &str) -> aws_sdk_sts::Client {
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

/// The error code and message the SDK saw.
fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> (String, String) {
    let s = e.as_service_error();
    (
        s.and_then(|s| s.code()).unwrap_or("<none>").to_owned(),
        s.and_then(|s| s.message()).unwrap_or("").to_owned(),
    )
}

/// Decodes a document as IAM returns it (URL-encoded).
fn decode(doc: &str) -> serde_json::Value {
    let mut bytes = Vec::new();
    let raw = doc.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            let hex = std::str::from_utf8(&raw[i + 1..i + 3]).unwrap();
            bytes.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn roles_trust_policies_attachments_and_errors() {
    let skyport = Skyport::start();
    let iam = client(&skyport.endpoint(), "test", "test");

    let created = iam
        .create_role()
        .role_name("app-exec")
        .path("/apps/")
        .assume_role_policy_document(TRUST)
        .description("runs the app")
        .tags(Tag::builder().key("team").value("core").build().unwrap())
        .send()
        .await
        .unwrap();
    let role = created.role().unwrap();
    assert_eq!(role.arn(), "arn:aws:iam::000000000000:role/apps/app-exec");
    assert_eq!(role.path(), "/apps/");
    assert!(role.role_id().starts_with("AROA") && role.role_id().len() == 21);
    assert_eq!(role.max_session_duration(), Some(3600));
    // Returned URL-encoded, as AWS returns it, and unchanged once decoded.
    let doc = role.assume_role_policy_document().unwrap();
    assert!(doc.starts_with("%7B%0A%20%20%22Version%22"), "{doc}");
    assert_eq!(
        decode(doc),
        serde_json::from_str::<serde_json::Value>(TRUST).unwrap()
    );

    // STS's sessions of the role carry the role's id.
    let session = sts(&skyport.endpoint(), "test", "test")
        .assume_role()
        .role_arn(role.arn())
        .role_session_name("s1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        session.assumed_role_user().unwrap().assumed_role_id(),
        format!("{}:s1", role.role_id())
    );

    let got = iam.get_role().role_name("APP-EXEC").send().await.unwrap();
    let got = got.role().unwrap();
    assert_eq!(got.role_name(), "app-exec");
    assert_eq!(got.description(), Some("runs the app"));
    assert_eq!(got.tags().len(), 1);
    assert!(got.role_last_used().is_some());

    // AWS's errors.
    let e = iam
        .create_role()
        .role_name("app-exec")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_entity_already_exists_exception()
    );
    assert_eq!(
        code(&e),
        (
            "EntityAlreadyExists".into(),
            "Role with name app-exec already exists.".into()
        )
    );
    let e = iam
        .create_role()
        .role_name("broken")
        .assume_role_policy_document("{\"Version\": ")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_malformed_policy_document_exception()
    );
    assert_eq!(code(&e).1, "This policy contains invalid Json");
    let e = iam.get_role().role_name("ghost").send().await.unwrap_err();
    assert!(e.as_service_error().unwrap().is_no_such_entity_exception());
    assert_eq!(code(&e).1, "The role with name ghost cannot be found.");
    let e = iam
        .create_role()
        .role_name("bad name!")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e).0, "ValidationError");

    // Trust policy and settings updates.
    iam.update_assume_role_policy()
        .role_name("app-exec")
        .policy_document(TRUST.replace("lambda", "ecs-tasks"))
        .send()
        .await
        .unwrap();
    iam.update_role()
        .role_name("app-exec")
        .max_session_duration(7200)
        .send()
        .await
        .unwrap();
    let got = iam.get_role().role_name("app-exec").send().await.unwrap();
    let got = got.role().unwrap();
    assert_eq!(got.max_session_duration(), Some(7200));
    assert!(
        got.assume_role_policy_document()
            .unwrap()
            .contains("ecs-tasks")
    );

    // An AWS managed policy (not created anywhere) and a customer managed one.
    iam.attach_role_policy()
        .role_name("app-exec")
        .policy_arn(LAMBDA_BASIC)
        .send()
        .await
        .unwrap();
    let policy = iam
        .create_policy()
        .policy_name("read-bucket")
        .policy_document(READ_BUCKET)
        .description("reads the bucket")
        .send()
        .await
        .unwrap();
    let policy = policy.policy().unwrap();
    let policy_arn = policy.arn().unwrap().to_owned();
    assert_eq!(policy_arn, "arn:aws:iam::000000000000:policy/read-bucket");
    assert!(policy.policy_id().unwrap().starts_with("ANPA"));
    assert_eq!(policy.default_version_id(), Some("v1"));
    iam.attach_role_policy()
        .role_name("app-exec")
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    let attached = iam
        .list_attached_role_policies()
        .role_name("app-exec")
        .send()
        .await
        .unwrap();
    let mut names: Vec<_> = attached
        .attached_policies()
        .iter()
        .map(|p| p.policy_name().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["AWSLambdaBasicExecutionRole", "read-bucket"]);
    let basic = iam
        .get_policy()
        .policy_arn(LAMBDA_BASIC)
        .send()
        .await
        .unwrap();
    let basic = basic.policy().unwrap();
    assert_eq!(basic.attachment_count(), Some(1));
    assert_eq!(basic.path(), Some("/service-role/"));
    let version = iam
        .get_policy_version()
        .policy_arn(LAMBDA_BASIC)
        .version_id("v1")
        .send()
        .await
        .unwrap();
    assert!(
        decode(version.policy_version().unwrap().document().unwrap())
            .to_string()
            .contains("logs:PutLogEvents")
    );
    let e = iam
        .attach_role_policy()
        .role_name("app-exec")
        .policy_arn("arn:aws:iam::000000000000:policy/missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e),
        (
            "NoSuchEntity".into(),
            "Policy arn:aws:iam::000000000000:policy/missing does not exist or is not attachable."
                .into()
        )
    );
    let e = iam
        .attach_role_policy()
        .role_name("app-exec")
        .policy_arn("arn:aws:iam::000000000000:role/not-a-policy")
        .send()
        .await
        .unwrap_err();
    assert!(e.as_service_error().unwrap().is_invalid_input_exception());
    assert_eq!(
        code(&e).1,
        "ARN arn:aws:iam::000000000000:role/not-a-policy is not valid."
    );

    // Inline policies.
    iam.put_role_policy()
        .role_name("app-exec")
        .policy_name("inline-read")
        .policy_document(READ_BUCKET)
        .send()
        .await
        .unwrap();
    let inline = iam
        .get_role_policy()
        .role_name("app-exec")
        .policy_name("inline-read")
        .send()
        .await
        .unwrap();
    assert_eq!(
        decode(inline.policy_document()),
        serde_json::from_str::<serde_json::Value>(READ_BUCKET).unwrap()
    );
    let names = iam
        .list_role_policies()
        .role_name("app-exec")
        .send()
        .await
        .unwrap();
    assert_eq!(names.policy_names(), ["inline-read"]);
    let e = iam
        .put_role_policy()
        .role_name("app-exec")
        .policy_name("with-principal")
        .policy_document(TRUST)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e),
        (
            "MalformedPolicyDocument".into(),
            "Policy document should not specify a principal.".into()
        )
    );

    // Who uses the policy.
    let entities = iam
        .list_entities_for_policy()
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(entities.policy_roles().len(), 1);
    assert_eq!(entities.policy_roles()[0].role_name(), Some("app-exec"));

    // Deleting needs everything detached first.
    let e = iam
        .delete_role()
        .role_name("app-exec")
        .send()
        .await
        .unwrap_err();
    assert!(e.as_service_error().unwrap().is_delete_conflict_exception());
    assert_eq!(
        code(&e).1,
        "Cannot delete entity, must detach all policies first."
    );
    let e = iam
        .delete_policy()
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e),
        (
            "DeleteConflict".into(),
            "Cannot delete a policy attached to entities.".into()
        )
    );
    for arn in [LAMBDA_BASIC, policy_arn.as_str()] {
        iam.detach_role_policy()
            .role_name("app-exec")
            .policy_arn(arn)
            .send()
            .await
            .unwrap();
    }
    let e = iam
        .delete_role()
        .role_name("app-exec")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e).1,
        "Cannot delete entity, must delete policies first."
    );
    iam.delete_role_policy()
        .role_name("app-exec")
        .policy_name("inline-read")
        .send()
        .await
        .unwrap();
    iam.delete_role()
        .role_name("app-exec")
        .send()
        .await
        .unwrap();
    iam.delete_policy()
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    let e = iam
        .get_policy()
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e),
        (
            "NoSuchEntity".into(),
            format!("Policy {policy_arn} was not found.")
        )
    );
    assert!(
        skyport.wait_for_log("iam.DeleteRole => 200", std::time::Duration::from_secs(5)),
        "{}",
        skyport.log()
    );
}

#[tokio::test]
async fn lists_paginate_with_markers() {
    let skyport = Skyport::start();
    let iam = client(&skyport.endpoint(), "test", "test");
    for i in 0..7 {
        iam.create_role()
            .role_name(format!("role-{i}"))
            .path(if i % 2 == 0 { "/even/" } else { "/odd/" })
            .assume_role_policy_document(TRUST)
            .send()
            .await
            .unwrap();
        iam.create_user()
            .user_name(format!("user-{i}"))
            .send()
            .await
            .unwrap();
    }
    // By hand: MaxItems, IsTruncated, Marker.
    let mut names = Vec::new();
    let mut marker = None;
    let mut pages = 0;
    loop {
        let page = iam
            .list_roles()
            .max_items(3)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        names.extend(page.roles().iter().map(|r| r.role_name().to_owned()));
        if !page.is_truncated() {
            assert_eq!(page.marker(), None);
            break;
        }
        marker = page.marker().map(str::to_owned);
        assert!(marker.is_some());
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        (0..7).map(|i| format!("role-{i}")).collect::<Vec<_>>()
    );
    // The SDK's paginator.
    let users: Vec<_> = iam
        .list_users()
        .max_items(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(users.len(), 7);
    // PathPrefix.
    let even = iam.list_roles().path_prefix("/even/").send().await.unwrap();
    assert_eq!(even.roles().len(), 4);
    // Local policies with a scope, and the AWS managed ones Skyport knows.
    for i in 0..3 {
        iam.create_policy()
            .policy_name(format!("p-{i}"))
            .policy_document(READ_BUCKET)
            .send()
            .await
            .unwrap();
    }
    let local: Vec<_> = iam
        .list_policies()
        .scope(PolicyScopeType::Local)
        .max_items(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(local.len(), 3);
    let aws = iam
        .list_policies()
        .scope(PolicyScopeType::Aws)
        .max_items(1000)
        .send()
        .await
        .unwrap();
    assert!(
        aws.policies()
            .iter()
            .any(|p| p.arn() == Some("arn:aws:iam::aws:policy/AdministratorAccess"))
    );
    let attached_only = iam
        .list_policies()
        .only_attached(true)
        .send()
        .await
        .unwrap();
    assert!(attached_only.policies().is_empty());
}

#[tokio::test]
async fn policy_versions_and_their_limits() {
    let skyport = Skyport::start();
    let iam = client(&skyport.endpoint(), "test", "test");
    let arn = iam
        .create_policy()
        .policy_name("versioned")
        .path("/team/")
        .policy_document(READ_BUCKET)
        .send()
        .await
        .unwrap()
        .policy()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    assert_eq!(arn, "arn:aws:iam::000000000000:policy/team/versioned");
    for i in 2..=5 {
        let v = iam
            .create_policy_version()
            .policy_arn(&arn)
            .policy_document(READ_BUCKET.replace("GetObject", &format!("GetObject{i}")))
            .set_as_default(i == 4)
            .send()
            .await
            .unwrap();
        assert_eq!(
            v.policy_version().unwrap().version_id(),
            Some(format!("v{i}").as_str())
        );
    }
    let e = iam
        .create_policy_version()
        .policy_arn(&arn)
        .policy_document(READ_BUCKET)
        .send()
        .await
        .unwrap_err();
    assert!(e.as_service_error().unwrap().is_limit_exceeded_exception());
    assert_eq!(
        code(&e).1,
        "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version."
    );
    let policy = iam.get_policy().policy_arn(&arn).send().await.unwrap();
    assert_eq!(policy.policy().unwrap().default_version_id(), Some("v4"));
    let versions = iam
        .list_policy_versions()
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = versions
        .versions()
        .iter()
        .map(|v| (v.version_id().unwrap(), v.is_default_version()))
        .collect();
    assert_eq!(
        ids,
        [
            ("v5", false),
            ("v4", true),
            ("v3", false),
            ("v2", false),
            ("v1", false)
        ]
    );
    let e = iam
        .delete_policy_version()
        .policy_arn(&arn)
        .version_id("v4")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e),
        (
            "DeleteConflict".into(),
            "Cannot delete the default version of a policy.".into()
        )
    );
    iam.set_default_policy_version()
        .policy_arn(&arn)
        .version_id("v2")
        .send()
        .await
        .unwrap();
    let doc = iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id("v2")
        .send()
        .await
        .unwrap();
    let doc = doc.policy_version().unwrap();
    assert!(doc.is_default_version());
    assert!(
        decode(doc.document().unwrap())
            .to_string()
            .contains("GetObject2")
    );
    let e = iam
        .delete_policy()
        .policy_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e).0, "DeleteConflict");
    for v in ["v1", "v3", "v4", "v5"] {
        iam.delete_policy_version()
            .policy_arn(&arn)
            .version_id(v)
            .send()
            .await
            .unwrap();
    }
    iam.delete_policy().policy_arn(&arn).send().await.unwrap();
    // AWS managed policies cannot be changed.
    let e = iam
        .create_policy_version()
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .policy_document(READ_BUCKET)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e).0, "AccessDenied");
}

#[tokio::test]
async fn users_groups_and_access_keys_that_sign_requests() {
    let skyport = Skyport::start();
    let endpoint = skyport.endpoint();
    let iam = client(&endpoint, "123456789012", "x");

    let user = iam
        .create_user()
        .user_name("deployer")
        .path("/ci/")
        .send()
        .await
        .unwrap();
    let user = user.user().unwrap();
    assert_eq!(user.arn(), "arn:aws:iam::123456789012:user/ci/deployer");
    assert!(user.user_id().starts_with("AIDA"));
    let e = iam
        .create_user()
        .user_name("DEPLOYER")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e),
        (
            "EntityAlreadyExists".into(),
            "User with name DEPLOYER already exists.".into()
        )
    );

    iam.create_group()
        .group_name("builders")
        .send()
        .await
        .unwrap();
    iam.add_user_to_group()
        .group_name("builders")
        .user_name("deployer")
        .send()
        .await
        .unwrap();
    let group = iam.get_group().group_name("builders").send().await.unwrap();
    assert_eq!(
        group.group().unwrap().arn(),
        "arn:aws:iam::123456789012:group/builders"
    );
    assert_eq!(group.users().len(), 1);
    assert_eq!(group.users()[0].user_name(), "deployer");
    let groups = iam
        .list_groups_for_user()
        .user_name("deployer")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.groups()[0].group_name(), "builders");
    iam.attach_group_policy()
        .group_name("builders")
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .unwrap();
    iam.put_user_policy()
        .user_name("deployer")
        .policy_name("deploy")
        .policy_document(READ_BUCKET)
        .send()
        .await
        .unwrap();
    iam.attach_user_policy()
        .user_name("deployer")
        .policy_arn("arn:aws:iam::aws:policy/AmazonS3FullAccess")
        .send()
        .await
        .unwrap();

    // Access keys: LKIA ids that carry the account, 40-character secrets, two per user at most.
    let key = iam
        .create_access_key()
        .user_name("deployer")
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    assert!(key.access_key_id().starts_with("LKIA"));
    assert_eq!(key.secret_access_key().len(), 40);
    assert_eq!(key.status(), &StatusType::Active);
    let (id, secret) = (
        key.access_key_id().to_owned(),
        key.secret_access_key().to_owned(),
    );
    iam.create_access_key()
        .user_name("deployer")
        .send()
        .await
        .unwrap();
    let e = iam
        .create_access_key()
        .user_name("deployer")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e),
        (
            "LimitExceeded".into(),
            "Cannot exceed quota for AccessKeysPerUser: 2".into()
        )
    );
    let keys = iam
        .list_access_keys()
        .user_name("deployer")
        .send()
        .await
        .unwrap();
    assert_eq!(keys.access_key_metadata().len(), 2);

    // Requests signed with the user's key act in the user's account, as that user.
    let me = sts(&endpoint, &id, &secret)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.account(), Some("123456789012"));
    // STS knows the key's owner through IAM: the caller is the user, as in AWS.
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:user/ci/deployer"));
    assert!(
        me.user_id().is_some_and(|u| u.starts_with("AIDA")),
        "{me:?}"
    );
    let as_user = client(&endpoint, &id, &secret);
    let whoami = as_user.get_user().send().await.unwrap();
    assert_eq!(whoami.user().unwrap().user_name(), "deployer");
    let own_keys = as_user.list_access_keys().send().await.unwrap();
    assert_eq!(own_keys.access_key_metadata().len(), 2);
    let last = iam
        .get_access_key_last_used()
        .access_key_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(last.user_name(), Some("deployer"));
    // The root user of the account, without a name.
    let root = iam.get_user().send().await.unwrap();
    let root = root.user().unwrap();
    assert_eq!(root.arn(), "arn:aws:iam::123456789012:root");
    assert_eq!(root.user_id(), "123456789012");

    iam.update_access_key()
        .user_name("deployer")
        .access_key_id(&id)
        .status(StatusType::Inactive)
        .send()
        .await
        .unwrap();
    let keys = iam
        .list_access_keys()
        .user_name("deployer")
        .send()
        .await
        .unwrap();
    assert!(keys.access_key_metadata().iter().any(
        |k| k.access_key_id() == Some(id.as_str()) && k.status() == Some(&StatusType::Inactive)
    ));

    // Deleting the user needs its keys, groups and policies gone first.
    let e = iam
        .delete_user()
        .user_name("deployer")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e).1,
        "Cannot delete entity, must delete access keys first."
    );
    let e = iam
        .delete_access_key()
        .user_name("nobody")
        .access_key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e).1, "The user with name nobody cannot be found.");
    for k in keys.access_key_metadata() {
        iam.delete_access_key()
            .user_name("deployer")
            .access_key_id(k.access_key_id().unwrap())
            .send()
            .await
            .unwrap();
    }
    let e = iam
        .delete_user()
        .user_name("deployer")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e).1,
        "Cannot delete entity, must remove users from group first."
    );
    let e = iam
        .delete_group()
        .group_name("builders")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e).0, "DeleteConflict");
    iam.remove_user_from_group()
        .group_name("builders")
        .user_name("deployer")
        .send()
        .await
        .unwrap();
    iam.detach_user_policy()
        .user_name("deployer")
        .policy_arn("arn:aws:iam::aws:policy/AmazonS3FullAccess")
        .send()
        .await
        .unwrap();
    iam.delete_user_policy()
        .user_name("deployer")
        .policy_name("deploy")
        .send()
        .await
        .unwrap();
    iam.delete_user()
        .user_name("deployer")
        .send()
        .await
        .unwrap();
    let e = iam
        .delete_group()
        .group_name("builders")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e).1,
        "Cannot delete entity, must detach all policies first."
    );
    iam.detach_group_policy()
        .group_name("builders")
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .unwrap();
    iam.delete_group()
        .group_name("builders")
        .send()
        .await
        .unwrap();
    let e = iam
        .get_user()
        .user_name("deployer")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e).1, "The user with name deployer cannot be found.");
}

#[tokio::test]
async fn instance_profiles_hold_one_role() {
    let skyport = Skyport::start();
    let iam = client(&skyport.endpoint(), "test", "test");
    iam.create_role()
        .role_name("ec2-role")
        .assume_role_policy_document(TRUST.replace("lambda", "ec2"))
        .send()
        .await
        .unwrap();
    iam.create_role()
        .role_name("other")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap();
    let profile = iam
        .create_instance_profile()
        .instance_profile_name("web")
        .send()
        .await
        .unwrap();
    let profile = profile.instance_profile().unwrap();
    assert_eq!(
        profile.arn(),
        "arn:aws:iam::000000000000:instance-profile/web"
    );
    assert!(profile.instance_profile_id().starts_with("AIPA"));
    iam.add_role_to_instance_profile()
        .instance_profile_name("web")
        .role_name("ec2-role")
        .send()
        .await
        .unwrap();
    let e = iam
        .add_role_to_instance_profile()
        .instance_profile_name("web")
        .role_name("other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e),
        (
            "LimitExceeded".into(),
            "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1".into()
        )
    );
    let got = iam
        .get_instance_profile()
        .instance_profile_name("web")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.instance_profile().unwrap().roles()[0].role_name(),
        "ec2-role"
    );
    let for_role = iam
        .list_instance_profiles_for_role()
        .role_name("ec2-role")
        .send()
        .await
        .unwrap();
    assert_eq!(
        for_role.instance_profiles()[0].instance_profile_name(),
        "web"
    );
    let e = iam
        .delete_role()
        .role_name("ec2-role")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e).1,
        "Cannot delete entity, must remove roles from instance profile first."
    );
    let e = iam
        .delete_instance_profile()
        .instance_profile_name("web")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e).0, "DeleteConflict");
    iam.remove_role_from_instance_profile()
        .instance_profile_name("web")
        .role_name("ec2-role")
        .send()
        .await
        .unwrap();
    iam.delete_instance_profile()
        .instance_profile_name("web")
        .send()
        .await
        .unwrap();
    iam.delete_role()
        .role_name("ec2-role")
        .send()
        .await
        .unwrap();
    let e = iam
        .get_instance_profile()
        .instance_profile_name("web")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e),
        (
            "NoSuchEntity".into(),
            "Instance Profile web cannot be found.".into()
        )
    );
}

#[tokio::test]
async fn roles_and_user_keys_survive_a_restart_with_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default()
        .env("PERSISTENCE", "1")
        .state_dir(dir.path());
    let (id, secret, role_id) = {
        let skyport = Skyport::start_with(options.clone());
        let iam = client(&skyport.endpoint(), "111122223333", "x");
        let role = iam
            .create_role()
            .role_name("kept")
            .assume_role_policy_document(TRUST)
            .send()
            .await
            .unwrap();
        iam.attach_role_policy()
            .role_name("kept")
            .policy_arn(LAMBDA_BASIC)
            .send()
            .await
            .unwrap();
        iam.create_user()
            .user_name("kept-user")
            .send()
            .await
            .unwrap();
        let key = iam
            .create_access_key()
            .user_name("kept-user")
            .send()
            .await
            .unwrap();
        let key = key.access_key().unwrap();
        (
            key.access_key_id().to_owned(),
            key.secret_access_key().to_owned(),
            role.role().unwrap().role_id().to_owned(),
        )
        // Dropped here: killed with SIGKILL, no graceful shutdown.
    };
    let skyport = Skyport::start_with(options);
    let iam = client(&skyport.endpoint(), "111122223333", "x");
    let role = iam.get_role().role_name("kept").send().await.unwrap();
    assert_eq!(role.role().unwrap().role_id(), role_id);
    let attached = iam
        .list_attached_role_policies()
        .role_name("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(
        attached.attached_policies()[0].policy_arn(),
        Some(LAMBDA_BASIC)
    );
    let as_user = client(&skyport.endpoint(), &id, &secret);
    let me = as_user.get_user().send().await.unwrap();
    assert_eq!(
        me.user().unwrap().arn(),
        "arn:aws:iam::111122223333:user/kept-user"
    );
    let caller = sts(&skyport.endpoint(), &id, &secret)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(caller.account(), Some("111122223333"));
    assert!(dir.path().join("state/iam/meta.redb").exists());
}

/// The policy simulator on AWS's evaluation logic: custom policies (allow, explicit deny over allow,
/// implicit deny, conditions with context entries and missing keys, boundaries, statement positions),
/// and a user's stored policies (inline, attached, its group's, its permissions boundary).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_simulator_custom_and_principal() {
    use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum};
    let skyport = Skyport::start();
    let iam = client(&skyport.endpoint(), "test", "test");
    let allow_s3 = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\n      \"Effect\": \"Allow\",\n      \"Action\": \"s3:*\",\n      \"Resource\": \"arn:aws:s3:::data/*\"\n    },\n    {\"Sid\": \"NoDeletes\", \"Effect\": \"Deny\", \"Action\": \"s3:DeleteObject\", \"Resource\": \"*\"}\n  ]\n}";
    let out = iam
        .simulate_custom_policy()
        .policy_input_list(allow_s3)
        .action_names("s3:GetObject")
        .action_names("s3:DeleteObject")
        .action_names("sqs:SendMessage")
        .resource_arns("arn:aws:s3:::data/report.csv")
        .send()
        .await
        .unwrap();
    let results = out.evaluation_results();
    let decisions: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r.eval_action_name(), r.eval_decision().as_str()))
        .collect();
    assert_eq!(
        decisions,
        [
            ("s3:GetObject", "allowed"),
            ("s3:DeleteObject", "explicitDeny"),
            ("sqs:SendMessage", "implicitDeny")
        ]
    );
    assert_eq!(
        results[0].eval_resource_name(),
        Some("arn:aws:s3:::data/report.csv")
    );
    let allowed = &results[0].matched_statements()[0];
    assert_eq!(allowed.source_policy_id(), Some("PolicyInputList.1"));
    let start = allowed.start_position().unwrap();
    let end = allowed.end_position().unwrap();
    assert_eq!((start.line(), start.column()), (4, 5));
    assert_eq!((end.line(), end.column()), (8, 5));
    let denied = &results[1].matched_statements()[0];
    assert_eq!(denied.start_position().unwrap().line(), 9);
    assert!(results[2].matched_statements().is_empty());
    assert!(!out.is_truncated());

    // Conditions: a context entry decides; a key the context lacks is reported missing.
    let mfa = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#;
    let simulate = |ip: &'static str| {
        iam.simulate_custom_policy()
            .policy_input_list(mfa)
            .action_names("iam:CreateUser")
            .context_entries(
                ContextEntry::builder()
                    .context_key_name("aws:SourceIp")
                    .context_key_type(ContextKeyTypeEnum::Ip)
                    .context_key_values(ip)
                    .build(),
            )
            .send()
    };
    let out = simulate("10.1.2.3").await.unwrap();
    let r = &out.evaluation_results()[0];
    assert_eq!(r.eval_decision().as_str(), "implicitDeny");
    assert_eq!(r.eval_resource_name(), Some("*"));
    assert_eq!(r.missing_context_values(), ["aws:MultiFactorAuthPresent"]);
    let out = iam
        .simulate_custom_policy()
        .policy_input_list(mfa)
        .action_names("iam:CreateUser")
        .context_entries(
            ContextEntry::builder()
                .context_key_name("aws:SourceIp")
                .context_key_type(ContextKeyTypeEnum::Ip)
                .context_key_values("10.1.2.3")
                .build(),
        )
        .context_entries(
            ContextEntry::builder()
                .context_key_name("aws:MultiFactorAuthPresent")
                .context_key_type(ContextKeyTypeEnum::Boolean)
                .context_key_values("true")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let r = &out.evaluation_results()[0];
    assert_eq!(r.eval_decision().as_str(), "allowed");
    assert!(r.missing_context_values().is_empty());

    // A permissions boundary limits what the identity policy allows.
    let out = iam
        .simulate_custom_policy()
        .policy_input_list(allow_s3)
        .permissions_boundary_policy_input_list(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"*"}]}"#,
        )
        .action_names("s3:GetObject")
        .action_names("s3:PutObject")
        .resource_arns("arn:aws:s3:::data/x")
        .send()
        .await
        .unwrap();
    let r = out.evaluation_results();
    assert_eq!(r[0].eval_decision().as_str(), "implicitDeny");
    assert_eq!(
        r[0].permissions_boundary_decision_detail()
            .map(|d| d.allowed_by_permissions_boundary()),
        Some(false)
    );
    assert_eq!(r[1].eval_decision().as_str(), "allowed");

    // Paging with MaxItems and Marker.
    let first = iam
        .simulate_custom_policy()
        .policy_input_list(allow_s3)
        .action_names("s3:GetObject")
        .action_names("s3:PutObject")
        .action_names("s3:ListBucket")
        .max_items(2)
        .send()
        .await
        .unwrap();
    assert!(first.is_truncated());
    assert_eq!(first.evaluation_results().len(), 2);
    let rest = iam
        .simulate_custom_policy()
        .policy_input_list(allow_s3)
        .action_names("s3:GetObject")
        .action_names("s3:PutObject")
        .action_names("s3:ListBucket")
        .max_items(2)
        .marker(first.marker().unwrap())
        .send()
        .await
        .unwrap();
    assert!(!rest.is_truncated());
    assert_eq!(
        rest.evaluation_results()[0].eval_action_name(),
        "s3:ListBucket"
    );

    // A malformed policy is refused.
    let err = iam
        .simulate_custom_policy()
        .policy_input_list("{not json")
        .action_names("s3:GetObject")
        .send()
        .await
        .expect_err("malformed");
    assert_eq!(code(&err).0, "MalformedPolicyDocument");

    // A stored user: its inline policy, its group's managed policy, its boundary.
    iam.create_user().user_name("alice").send().await.unwrap();
    iam.put_user_policy()
        .user_name("alice")
        .policy_name("read-bucket")
        .policy_document(READ_BUCKET)
        .send()
        .await
        .unwrap();
    let queue_policy = iam
        .create_policy()
        .policy_name("send-queue")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap()
        .policy()
        .and_then(|p| p.arn())
        .unwrap()
        .to_owned();
    iam.create_group()
        .group_name("senders")
        .send()
        .await
        .unwrap();
    iam.attach_group_policy()
        .group_name("senders")
        .policy_arn(&queue_policy)
        .send()
        .await
        .unwrap();
    iam.add_user_to_group()
        .group_name("senders")
        .user_name("alice")
        .send()
        .await
        .unwrap();
    let user_arn = "arn:aws:iam::000000000000:user/alice";
    let out = iam
        .simulate_principal_policy()
        .policy_source_arn(user_arn)
        .action_names("s3:GetObject")
        .action_names("sqs:SendMessage")
        .action_names("s3:PutObject")
        .resource_arns("arn:aws:s3:::bucket/k")
        .send()
        .await
        .unwrap();
    let r = out.evaluation_results();
    assert_eq!(r[0].eval_decision().as_str(), "allowed");
    assert_eq!(
        r[0].matched_statements()[0].source_policy_id(),
        Some("read-bucket")
    );
    assert_eq!(
        r[0].matched_statements()[0]
            .source_policy_type()
            .map(|t| t.as_str()),
        Some("user")
    );
    assert_eq!(r[1].eval_decision().as_str(), "allowed");
    assert_eq!(
        r[1].matched_statements()[0].source_policy_id(),
        Some("send-queue")
    );
    assert_eq!(r[2].eval_decision().as_str(), "implicitDeny");
    // A boundary allowing only S3 takes SendMessage away.
    iam.put_user_permissions_boundary()
        .user_name("alice")
        .permissions_boundary("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
        .send()
        .await
        .unwrap();
    let out = iam
        .simulate_principal_policy()
        .policy_source_arn(user_arn)
        .action_names("s3:GetObject")
        .action_names("sqs:SendMessage")
        .resource_arns("arn:aws:s3:::bucket/k")
        .send()
        .await
        .unwrap();
    let r = out.evaluation_results();
    assert_eq!(r[0].eval_decision().as_str(), "allowed");
    assert_eq!(r[1].eval_decision().as_str(), "implicitDeny");
    let err = iam
        .simulate_principal_policy()
        .policy_source_arn("arn:aws:iam::000000000000:user/nobody")
        .action_names("s3:GetObject")
        .send()
        .await
        .expect_err("no such user");
    assert_eq!(code(&err).0, "NoSuchEntity");
}

//! Access denied messages ("Troubleshoot access denied error messages",
//! troubleshoot_access-denied.html, and "Troubleshoot access denied error messages with
//! authorization ID") and least-privilege suggestions.

mod common;

use common::*;
use serde_json::json;
use skyport_policy::{PolicySet, access_denied_message, evaluate, suggest_policy};

const APP: &str = "arn:aws:iam::111111111111:user/app";

fn message(set: &PolicySet<'_>, action: &str, resource: &str) -> Option<String> {
    let ctx = request(APP, action, resource);
    access_denied_message(&ctx, &evaluate(&ctx, set))
}

#[test]
fn implicit_deny_messages_name_the_missing_policy_type() {
    let allow_s3 = [identity(
        "p",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
    )];
    assert_eq!(
        message(
            &PolicySet::default(),
            "s3:PutObject",
            "arn:aws:s3:::bucket/key"
        )
        .as_deref(),
        Some(
            "User: arn:aws:iam::111111111111:user/app is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::bucket/key because no identity-based policy allows the s3:PutObject action"
        )
    );
    // No resource: no "on resource" part (the CodeCommit example of the page).
    assert_eq!(
        message(&PolicySet::default(), "codecommit:ListRepositories", "*").as_deref(),
        Some(
            "User: arn:aws:iam::111111111111:user/app is not authorized to perform: codecommit:ListRepositories because no identity-based policy allows the codecommit:ListRepositories action"
        )
    );
    let boundary = identity(
        "b",
        r#"{"Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}"#,
    );
    assert_eq!(
        message(
            &PolicySet::identity(&allow_s3).with_boundary(&boundary),
            "s3:PutObject",
            "arn:aws:s3:::bucket/key"
        )
        .as_deref(),
        Some(
            "User: arn:aws:iam::111111111111:user/app is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::bucket/key because no permissions boundary allows the s3:PutObject action"
        )
    );
    let session = [identity(
        "s",
        r#"{"Statement":{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}}"#,
    )];
    assert_eq!(
        message(
            &PolicySet::identity(&allow_s3).with_session(&session),
            "s3:PutObject",
            "arn:aws:s3:::bucket/key"
        )
        .as_deref(),
        Some(
            "User: arn:aws:iam::111111111111:user/app is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::bucket/key because no session policy allows the s3:PutObject action"
        )
    );
    let ctx = request(APP, "s3:PutObject", "arn:aws:s3:::bucket/key")
        .with_resource_account("222222222222");
    assert_eq!(
        access_denied_message(&ctx, &evaluate(&ctx, &PolicySet::identity(&allow_s3))).as_deref(),
        Some(
            "User: arn:aws:iam::111111111111:user/app is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::bucket/key because no resource-based policy allows the s3:PutObject action"
        )
    );
}

#[test]
fn explicit_deny_messages_name_the_policy_type() {
    let managed = [identity(
        "arn:aws:iam::111111111111:policy/ExampleDenyPolicy",
        r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"s3:PutObject","Resource":"*"}]}"#,
    )];
    assert_eq!(
        message(
            &PolicySet::identity(&managed),
            "s3:PutObject",
            "arn:aws:s3:::bucket/key"
        )
        .as_deref(),
        Some(
            "User: arn:aws:iam::111111111111:user/app is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::bucket/key with an explicit deny in an identity-based policy: arn:aws:iam::111111111111:policy/ExampleDenyPolicy"
        )
    );
    let inline = [identity(
        "inline policy deny-put of user app",
        r#"{"Statement":{"Effect":"Deny","Action":"s3:PutObject","Resource":"*"}}"#,
    )];
    assert_eq!(
        message(
            &PolicySet::identity(&inline),
            "s3:PutObject",
            "arn:aws:s3:::bucket/key"
        )
        .as_deref(),
        Some(
            "User: arn:aws:iam::111111111111:user/app is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::bucket/key with an explicit deny in an identity-based policy"
        )
    );
    let bucket = resource(
        "bucket policy of bucket",
        r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::bucket/*"}}"#,
    );
    assert_eq!(
        message(
            &PolicySet::default().with_resource(&bucket),
            "s3:PutObject",
            "arn:aws:s3:::bucket/key"
        )
        .as_deref(),
        Some(
            "User: arn:aws:iam::111111111111:user/app is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::bucket/key with an explicit deny in a resource-based policy"
        )
    );
    let deny = identity(
        "b",
        r#"{"Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*"}}"#,
    );
    let text = message(
        &PolicySet::default().with_boundary(&deny),
        "s3:PutObject",
        "arn:aws:s3:::bucket/key",
    );
    assert!(text.is_some_and(|t| t.ends_with("with an explicit deny in a permissions boundary")));
    let session = [deny.clone()];
    let text = message(
        &PolicySet::default().with_session(&session),
        "s3:PutObject",
        "arn:aws:s3:::bucket/key",
    );
    assert!(text.is_some_and(|t| t.ends_with("with an explicit deny in a session policy")));
    // Allowed: no message.
    let all = [identity(
        "a",
        r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
    )];
    assert_eq!(
        message(
            &PolicySet::identity(&all),
            "s3:PutObject",
            "arn:aws:s3:::bucket/key"
        ),
        None
    );
}

#[test]
fn suggestions_group_resources_per_action() {
    let denied = [
        ("s3:GetObject", "arn:aws:s3:::b/k1"),
        ("s3:GetObject", "arn:aws:s3:::b/k2"),
        ("s3:PutObject", "arn:aws:s3:::b/k1"),
        ("s3:PutObject", "arn:aws:s3:::b/k2"),
        ("sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q"),
        ("sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q"),
        ("sts:GetCallerIdentity", "*"),
        ("sts:GetCallerIdentity", "arn:aws:iam::1:user/x"),
    ];
    let policy = suggest_policy(denied);
    assert_eq!(
        policy,
        json!({"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"},
            {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::b/k1","arn:aws:s3:::b/k2"]},
            {"Effect":"Allow","Action":"sqs:SendMessage","Resource":"arn:aws:sqs:us-east-1:1:q"}]})
    );
    // The suggestion is a valid identity policy that allows what was denied.
    let parsed = [identity("suggested", &policy.to_string())];
    let set = PolicySet::identity(&parsed);
    for (action, res) in denied {
        assert!(
            evaluate(&request(APP, action, res), &set).is_allowed(),
            "{action} {res}"
        );
    }
    assert!(!evaluate(&request(APP, "s3:DeleteObject", "arn:aws:s3:::b/k1"), &set).is_allowed());
}

//! Policy documents: the grammar and IAM's `MalformedPolicyDocument` messages ("Grammar of the IAM
//! JSON policy language", reference_policies_grammar.html; the messages as `skyport-iam` words
//! them), resource wildcards ("IAM JSON policy elements: Resource") and policy variables ("IAM
//! policy elements: Variables and tags").

mod common;

use common::*;
use skyport_policy::{Outcome, Policy, PolicyError, PolicyKind, PolicySet, evaluate};

#[test]
fn refuses_malformed_documents_with_iam_messages() {
    use PolicyKind::{Identity, Resource};
    let cases: &[(&str, PolicyKind, &str)] = &[
        ("{not json", Identity, "This policy contains invalid Json"),
        ("[]", Identity, "This policy contains invalid Json"),
        (
            r#"{"Version":"2012-10-16","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
            Identity,
            "The policy failed legacy parsing",
        ),
        (
            r#"{"Version":"2012-10-17"}"#,
            Identity,
            "Syntax errors in policy.",
        ),
        (r#"{"Statement":[]}"#, Identity, "Syntax errors in policy."),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Extra":1}}"#,
            Identity,
            "Syntax errors in policy.",
        ),
        (
            r#"{"Statement":{"Effect":"Permit","Action":"*","Resource":"*"}}"#,
            Identity,
            "Syntax errors in policy.",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","NotAction":"iam:*","Resource":"*"}}"#,
            Identity,
            "Syntax errors in policy.",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#,
            Identity,
            "Syntax errors in policy.",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":[1],"Resource":"*"}}"#,
            Identity,
            "Syntax errors in policy.",
        ),
        (
            r#"{"Statement":{"Action":"*","Resource":"*"}}"#,
            Identity,
            "Missing required field Effect",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#,
            Identity,
            "Policy statement must contain actions.",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"getobject","Resource":"*"}}"#,
            Identity,
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"username":"x"}}}}"#,
            Identity,
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*"}}"#,
            Identity,
            "Policy statement must contain resources.",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"bucket"}}"#,
            Identity,
            "Resource bucket must be in ARN format or \"*\".",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}"#,
            Identity,
            "Policy document should not specify a principal.",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
            Resource,
            "Missing required field Principal",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"Users":"x"},"Action":"s3:*"}}"#,
            Resource,
            "Invalid principal in policy: \"Users\"",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:*"}}"#,
            Resource,
            "Invalid principal in policy: \"AWS\":\"bob\"",
        ),
        (
            r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#,
            Identity,
            "Statement IDs (SID) in a single policy must be unique.",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEqualz":{"aws:username":"x"}}}}"#,
            Identity,
            "Invalid Condition type : StringEqualz",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":"x"}}"#,
            Identity,
            "Syntax errors in policy.",
        ),
    ];
    for (doc, kind, message) in cases {
        match Policy::parse("p", doc, *kind) {
            Ok(_) => panic!("accepted: {doc}"),
            Err(e) => {
                assert_eq!(e.to_string(), *message, "{doc}");
                assert_eq!(e.code(), "MalformedPolicyDocument");
            }
        }
    }
    assert_eq!(
        Policy::parse("p", "{}", Identity).err(),
        Some(PolicyError::Syntax)
    );
}

#[test]
fn accepts_the_grammar_forms() {
    // Statement as object or list, values as string or list, Id, both versions, no Version.
    let docs: &[(&str, PolicyKind)] = &[
        (
            r#"{"Version":"2012-10-17","Id":"x","Statement":{"Sid":"1","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#,
            PolicyKind::Identity,
        ),
        (
            r#"{"Version":"2008-10-17","Statement":[{"Effect":"Deny","NotAction":["iam:*"],"NotResource":["*"]}]}"#,
            PolicyKind::Identity,
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}]}"#,
            PolicyKind::Resource,
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::111122223333:root","arn:aws:sts::111122223333:assumed-role/R/s"],"Service":"lambda.amazonaws.com","Federated":"cognito-identity.amazonaws.com","CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},"Action":"s3:*","Resource":"arn:aws:s3:::b"}]}"#,
            PolicyKind::Resource,
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"s3:max-keys":10},"Bool":{"aws:SecureTransport":true}}}}"#,
            PolicyKind::Identity,
        ),
    ];
    for (doc, kind) in docs {
        let parsed = Policy::parse("p", doc, *kind);
        assert!(
            parsed.as_ref().is_ok_and(|p| !p.is_empty()),
            "{doc}: {parsed:?}"
        );
    }
}

// "IAM JSON policy elements: Resource", "Using wildcards in resource ARNs".
#[test]
fn resource_wildcards_and_case() {
    let policies = [identity(
        "p",
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Users","Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::111122223333:user/accounting/*"},
            {"Sid":"Test","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/*/test/*"},
            {"Sid":"Tables","Effect":"Allow","Action":"dynamodb:GetItem","Resource":"arn:aws:dynamodb:us-east-?:*:table/Books*"},
            {"Sid":"Logs","Effect":"Allow","Action":"logs:PutLogEvents","Resource":"arn:aws:logs:*:*:log-group:/aws/lambda/*"}]}"#,
    )];
    let set = PolicySet::identity(&policies);
    let cases: &[(&str, &str, bool)] = &[
        (
            "iam:GetUser",
            "arn:aws:iam::111122223333:user/accounting/alice",
            true,
        ),
        (
            "iam:getuser",
            "arn:aws:iam::111122223333:user/accounting/sub/bob",
            true,
        ),
        (
            "iam:GetUser",
            "arn:aws:iam::111122223333:user/Accounting/alice",
            false,
        ),
        (
            "s3:GetObject",
            "arn:aws:s3:::bucket/1/2/test/3/object.jpg",
            true,
        ),
        (
            "s3:GetObject",
            "arn:aws:s3:::bucket/1///test///object.jpg",
            true,
        ),
        (
            "s3:GetObject",
            "arn:aws:s3:::bucket/1/testing/object.jpg",
            false,
        ),
        (
            "dynamodb:GetItem",
            "arn:aws:dynamodb:us-east-2:111122223333:table/BooksArchive",
            true,
        ),
        (
            "dynamodb:GetItem",
            "arn:aws:dynamodb:us-west-2:111122223333:table/Books",
            false,
        ),
        (
            "dynamodb:GetItem",
            "arn:aws:dynamodb:us-east-2:111122223333:table/books",
            false,
        ),
        (
            "logs:PutLogEvents",
            "arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/f:log-stream:s",
            true,
        ),
    ];
    for (action, resource, want) in cases {
        let d = evaluate(&request(ALICE, action, resource), &set);
        assert_eq!(d.is_allowed(), *want, "{action} on {resource}");
    }
}

// "IAM policy elements: Variables and tags": ${aws:username} in resources, tags as variables, the
// escapes, defaults, a variable without value, and version 2008-10-17 reading `${...}` literally.
#[test]
fn policy_variables_in_resources() {
    let policies = [identity(
        "p",
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Home","Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"},
            {"Sid":"Team","Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::teams/${aws:PrincipalTag/team}/*"},
            {"Sid":"Star","Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::literal/${*}"},
            {"Sid":"Default","Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::dept/${aws:PrincipalTag/dept, 'general'}/*"}]}"#,
    )];
    let set = PolicySet::identity(&policies);
    let allowed = |resource: &str, tag: Option<&str>| {
        let mut ctx = request(ALICE, "s3:GetObject", resource);
        if let Some(t) = tag {
            ctx = ctx.with_key("aws:PrincipalTag/team", t);
        }
        evaluate(&ctx, &set).is_allowed()
    };
    assert!(allowed("arn:aws:s3:::home/alice/notes.txt", None));
    assert!(!allowed("arn:aws:s3:::home/bob/notes.txt", None));
    assert!(allowed("arn:aws:s3:::teams/red/plan", Some("red")));
    assert!(!allowed("arn:aws:s3:::teams/red/plan", Some("blue")));
    // No tag: the statement does not apply.
    assert!(!allowed("arn:aws:s3:::teams/red/plan", None));
    assert!(allowed("arn:aws:s3:::literal/*", None));
    assert!(!allowed("arn:aws:s3:::literal/x", None));
    assert!(allowed("arn:aws:s3:::dept/general/x", None));
    // A role session has no aws:username: ${aws:username} does not resolve.
    let session = request(SESSION, "s3:GetObject", "arn:aws:s3:::home/App/x");
    assert_eq!(evaluate(&session, &set).outcome, Outcome::ImplicitDeny);
    // Version 2008-10-17: no variables.
    let old = [identity(
        "p",
        r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"}}"#,
    )];
    let old = PolicySet::identity(&old);
    let literal = request(ALICE, "s3:GetObject", "arn:aws:s3:::home/${aws:username}/x");
    assert!(evaluate(&literal, &old).is_allowed());
    let substituted = request(ALICE, "s3:GetObject", "arn:aws:s3:::home/alice/x");
    assert!(!evaluate(&substituted, &old).is_allowed());
}

// A Deny whose variable does not resolve does not apply either ("Policy variables with no value").
#[test]
fn deny_with_unresolved_variable_does_not_apply() {
    let policies = [identity(
        "p",
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"All","Effect":"Allow","Action":"s3:*","Resource":"*"},
            {"Sid":"NotOthers","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:PrincipalTag/owner}/*"}]}"#,
    )];
    let set = PolicySet::identity(&policies);
    let ctx = request(ALICE, "s3:GetObject", "arn:aws:s3:::home/x/y");
    assert_eq!(evaluate(&ctx, &set).outcome, Outcome::Allowed);
    let tagged = ctx.with_key("aws:PrincipalTag/owner", "x");
    assert_eq!(evaluate(&tagged, &set).outcome, Outcome::ExplicitDeny);
}

//! AWS's documented evaluation examples, each with the IAM User Guide page it comes from.

mod common;

use common::*;
use skyport_policy::{Outcome, Policy, PolicySet, PolicyType, access_denied_message, evaluate};

/// (request action, request resource, expected outcome, deciding Sid or missing policy type).
type Case = (&'static str, &'static str, Outcome, &'static str);

fn check(principal_arn: &str, set: &PolicySet<'_>, cases: &[Case]) {
    for (action, res, want, why) in cases {
        let ctx = request(principal_arn, action, res);
        let d = evaluate(&ctx, set);
        assert_eq!(d.outcome, *want, "{action} on {res}: {d:?}");
        match d.outcome {
            Outcome::ImplicitDeny => {
                let missing = d.missing.map(|m| m.as_no());
                assert_eq!(missing, Some(*why), "{action} on {res}: {d:?}");
            }
            _ => {
                let sid = d.statement.and_then(|s| s.sid);
                assert_eq!(sid, Some(*why), "{action} on {res}: {d:?}");
            }
        }
    }
}

// "The difference between explicit and implicit denies"
// (reference_policies_evaluation-logic_AccessPolicyLanguage_Interplay.html): AllowGetList allows
// iam:Get* and iam:List*, DenyReports denies iam:*Report.
#[test]
fn explicit_deny_beats_allow_and_implicit_deny_is_default() {
    let policies = [identity(
        "arn:aws:iam::111122223333:policy/ReadOnlyNoReports",
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"AllowGetList","Effect":"Allow","Action":["iam:Get*","iam:List*"],"Resource":"*"},
            {"Sid":"DenyReports","Effect":"Deny","Action":"iam:*Report","Resource":"*"}]}"#,
    )];
    let set = PolicySet::identity(&policies);
    check(
        ALICE,
        &set,
        &[
            ("iam:GetUser", "*", Outcome::Allowed, "AllowGetList"),
            ("iam:listroles", "*", Outcome::Allowed, "AllowGetList"),
            (
                "iam:GetCredentialReport",
                "*",
                Outcome::ExplicitDeny,
                "DenyReports",
            ),
            (
                "iam:GenerateCredentialReport",
                "*",
                Outcome::ExplicitDeny,
                "DenyReports",
            ),
            (
                "iam:CreatePolicy",
                "*",
                Outcome::ImplicitDeny,
                "identity-based policy",
            ),
        ],
    );
    // No policies at all: implicit deny.
    let none = PolicySet::default();
    check(
        ALICE,
        &none,
        &[(
            "s3:GetObject",
            "arn:aws:s3:::b/k",
            Outcome::ImplicitDeny,
            "identity-based policy",
        )],
    );
}

// "Policy evaluation for requests within a single account"
// (reference_policies_evaluation-logic_policy-eval-basics.html): carlossalazar may use his own
// bucket, but a Deny on buckets whose names contain "log" overrides the bucket policy's Allow.
#[test]
fn carlos_example_identity_and_resource_policies() {
    const CARLOS: &str = "arn:aws:iam::111122223333:user/carlossalazar";
    let policies = [identity(
        "inline policy of user carlossalazar",
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"AllowS3ListRead","Effect":"Allow","Action":["s3:GetBucketLocation","s3:GetObject","s3:ListBucket"],"Resource":"*"},
            {"Sid":"AllowS3Self","Effect":"Allow","Action":"s3:*","Resource":[
                "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/*",
                "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar"]},
            {"Sid":"DenyS3Logs","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::*log*"}]}"#,
    )];
    let bucket = resource(
        "bucket policy of amzn-s3-demo-bucket-carlossalazar-logs",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowCarlos","Effect":"Allow",
            "Principal":{"AWS":"arn:aws:iam::111122223333:user/carlossalazar"},"Action":"s3:*",
            "Resource":"arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/*"}]}"#,
    );
    let set = PolicySet::identity(&policies).with_resource(&bucket);
    check(
        CARLOS,
        &set,
        &[
            (
                "s3:PutObject",
                "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/report.csv",
                Outcome::Allowed,
                "AllowS3Self",
            ),
            (
                "s3:PutObject",
                "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/today.log",
                Outcome::ExplicitDeny,
                "DenyS3Logs",
            ),
            (
                "s3:DeleteObject",
                "arn:aws:s3:::someone-else/x",
                Outcome::ImplicitDeny,
                "identity-based policy",
            ),
        ],
    );
}

// "IAM JSON policy elements: NotAction" (reference_policies_elements_notaction.html): Allow with
// NotAction grants everything but the listed actions; Deny with NotAction denies everything but
// them.
#[test]
fn not_action_with_allow_and_with_deny() {
    let allow_all_but_iam = [identity(
        "p",
        r#"{"Version":"2012-10-17","Statement":{"Sid":"AllButIam","Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#,
    )];
    check(
        ALICE,
        &PolicySet::identity(&allow_all_but_iam),
        &[
            (
                "s3:GetObject",
                "arn:aws:s3:::b/k",
                Outcome::Allowed,
                "AllButIam",
            ),
            (
                "iam:CreateUser",
                "*",
                Outcome::ImplicitDeny,
                "identity-based policy",
            ),
        ],
    );
    let deny_all_but_iam = [identity(
        "p",
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"},
            {"Sid":"OnlyIam","Effect":"Deny","NotAction":["iam:*"],"Resource":"*"}]}"#,
    )];
    check(
        ALICE,
        &PolicySet::identity(&deny_all_but_iam),
        &[
            ("iam:ListUsers", "*", Outcome::Allowed, "All"),
            (
                "s3:GetObject",
                "arn:aws:s3:::b/k",
                Outcome::ExplicitDeny,
                "OnlyIam",
            ),
        ],
    );
}

// "IAM JSON policy elements: NotResource" (reference_policies_elements_notresource.html): allow
// everything in S3 except the HR payroll folder; deny everything outside one bucket.
#[test]
fn not_resource_with_allow_and_with_deny() {
    let policies = [identity(
        "p",
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"AllButPayroll","Effect":"Allow","Action":"s3:*","NotResource":[
                "arn:aws:s3:::HRBucket/Payroll","arn:aws:s3:::HRBucket/Payroll/*"]}]}"#,
    )];
    check(
        ALICE,
        &PolicySet::identity(&policies),
        &[
            (
                "s3:GetObject",
                "arn:aws:s3:::HRBucket/Other/x",
                Outcome::Allowed,
                "AllButPayroll",
            ),
            (
                "s3:GetObject",
                "arn:aws:s3:::HRBucket/Payroll/x",
                Outcome::ImplicitDeny,
                "identity-based policy",
            ),
        ],
    );
    let fence = [identity(
        "p",
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"All","Effect":"Allow","Action":"s3:*","Resource":"*"},
            {"Sid":"Fence","Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::mine","arn:aws:s3:::mine/*"]}]}"#,
    )];
    check(
        ALICE,
        &PolicySet::identity(&fence),
        &[
            (
                "s3:PutObject",
                "arn:aws:s3:::mine/k",
                Outcome::Allowed,
                "All",
            ),
            (
                "s3:PutObject",
                "arn:aws:s3:::theirs/k",
                Outcome::ExplicitDeny,
                "Fence",
            ),
        ],
    );
}

// "AWS JSON policy elements: NotPrincipal" (reference_policies_elements_notprincipal.html): Deny
// with NotPrincipal denies everyone but the listed principals; the caller's account must be listed
// too, and for a role session its role; a principal with a permissions boundary is always denied.
#[test]
fn not_principal_with_deny() {
    let bucket = resource(
        "bucket policy",
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"AllowAccount","Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
            {"Sid":"OnlyAliceAndApp","Effect":"Deny","NotPrincipal":{"AWS":[
                "arn:aws:iam::111122223333:user/alice",
                "arn:aws:iam::111122223333:role/App",
                "arn:aws:iam::111122223333:root"]},
             "Action":"s3:*","Resource":"arn:aws:s3:::b/*"}]}"#,
    );
    let set = PolicySet::default().with_resource(&bucket);
    let get = |arn: &str| evaluate(&request(arn, "s3:GetObject", "arn:aws:s3:::b/k"), &set).outcome;
    assert_eq!(get(ALICE), Outcome::Allowed);
    assert_eq!(get(SESSION), Outcome::Allowed);
    assert_eq!(
        get("arn:aws:iam::111122223333:user/eve"),
        Outcome::ExplicitDeny
    );
    // Without the account in the list, the named user is denied as well.
    let no_account = resource(
        "bucket policy",
        r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"s3:*","Resource":"*"}]}"#,
    );
    let ctx = request(ALICE, "s3:GetObject", "arn:aws:s3:::b/k");
    let d = evaluate(&ctx, &PolicySet::default().with_resource(&no_account));
    assert_eq!(d.outcome, Outcome::ExplicitDeny);
    // A permissions boundary makes the Deny apply to listed principals too.
    let boundary = identity(
        "arn:aws:iam::111122223333:policy/Boundary",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
    );
    let bounded = PolicySet::default()
        .with_resource(&bucket)
        .with_boundary(&boundary);
    let d = evaluate(&ctx, &bounded);
    assert_eq!(d.outcome, Outcome::ExplicitDeny);
    assert_eq!(d.statement.and_then(|s| s.sid), Some("OnlyAliceAndApp"));
}

// "Permissions boundaries for IAM entities" (access_policies_boundaries.html): ShirleyRodriguez's
// boundary allows S3, CloudWatch and EC2 only, so her identity policy's iam:CreateUser does not
// take effect; a resource-based policy naming the user is not limited by the boundary.
#[test]
fn permissions_boundary_limits_identity_allows() {
    const SHIRLEY: &str = "arn:aws:iam::111122223333:user/ShirleyRodriguez";
    let boundary = identity(
        "arn:aws:iam::111122223333:policy/ShirleyBoundary",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","cloudwatch:*","ec2:*"],"Resource":"*"}]}"#,
    );
    let policies = [identity(
        "p",
        r#"{"Version":"2012-10-17","Statement":{"Sid":"CreateUser","Effect":"Allow","Action":["iam:CreateUser","s3:ListAllMyBuckets"],"Resource":"*"}}"#,
    )];
    let set = PolicySet::identity(&policies).with_boundary(&boundary);
    check(
        SHIRLEY,
        &set,
        &[
            (
                "iam:CreateUser",
                "*",
                Outcome::ImplicitDeny,
                "permissions boundary",
            ),
            ("s3:ListAllMyBuckets", "*", Outcome::Allowed, "CreateUser"),
            // The boundary alone grants nothing.
            (
                "ec2:RunInstances",
                "*",
                Outcome::ImplicitDeny,
                "identity-based policy",
            ),
        ],
    );
    let queue = resource(
        "queue policy",
        r#"{"Version":"2012-10-17","Statement":{"Sid":"Shirley","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/ShirleyRodriguez"},"Action":"sqs:SendMessage"}}"#,
    );
    let set = set.with_resource(&queue);
    check(
        SHIRLEY,
        &set,
        &[(
            "sqs:SendMessage",
            "arn:aws:sqs:us-east-1:111122223333:q",
            Outcome::Allowed,
            "Shirley",
        )],
    );
}

// "Policy evaluation logic", resource-based policies, and "Permissions boundaries for IAM
// entities" (access_policies_boundaries.html): a resource-based policy granting an IAM role ARN is
// limited by an implicit deny in the boundary or session policy; one granting the role session ARN
// is not.
#[test]
fn resource_policy_naming_role_versus_session() {
    let boundary = identity(
        "arn:aws:iam::111122223333:policy/OnlyLogs",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"logs:*","Resource":"*"}}"#,
    );
    let by_role = resource(
        "bucket policy",
        r#"{"Version":"2012-10-17","Statement":{"Sid":"Role","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/App"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#,
    );
    let by_session = resource(
        "bucket policy",
        r#"{"Version":"2012-10-17","Statement":{"Sid":"Session","Effect":"Allow","Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/App/s1"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#,
    );
    let ctx = request(SESSION, "s3:GetObject", "arn:aws:s3:::b/k");
    // Without boundary: a grant to the role suffices within the account, no identity policy needed.
    let d = evaluate(&ctx, &PolicySet::default().with_resource(&by_role));
    assert_eq!(d.outcome, Outcome::Allowed);
    assert_eq!(
        d.statement.map(|s| s.policy_type),
        Some(PolicyType::Resource)
    );
    // With a boundary that does not allow it: denied by the boundary.
    let d = evaluate(
        &ctx,
        &PolicySet::default()
            .with_resource(&by_role)
            .with_boundary(&boundary),
    );
    assert_eq!(d.outcome, Outcome::ImplicitDeny);
    assert_eq!(d.missing, Some(PolicyType::PermissionsBoundary));
    // Naming the session itself: not limited by the boundary.
    let d = evaluate(
        &ctx,
        &PolicySet::default()
            .with_resource(&by_session)
            .with_boundary(&boundary),
    );
    assert_eq!(d.outcome, Outcome::Allowed);
    assert_eq!(d.statement.and_then(|s| s.sid), Some("Session"));
    // A role with a path: the session ARN carries only the name; the caller gives the full ARN.
    let with_path = resource(
        "bucket policy",
        r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/team/App"},"Action":"s3:GetObject","Resource":"*"}}"#,
    );
    let p = principal(SESSION).with_role_arn("arn:aws:iam::111122223333:role/team/App");
    let ctx = skyport_policy::RequestContext::new(p, "s3:GetObject", "arn:aws:s3:::b/k");
    assert!(evaluate(&ctx, &PolicySet::default().with_resource(&with_path)).is_allowed());
}

// "Session policies" in "Policies and permissions in AWS Identity and Access Management"
// (access_policies.html#policies_session): the session's permissions are the intersection of the
// role's identity-based policies and the session policies; a resource-based policy naming the
// session is not limited by them.
#[test]
fn session_policies_limit_identity_allows() {
    let role_policies = [identity(
        "arn:aws:iam::111122223333:policy/S3Full",
        r#"{"Version":"2012-10-17","Statement":{"Sid":"S3","Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
    )];
    let session = [identity(
        "session policy",
        r#"{"Version":"2012-10-17","Statement":{"Sid":"ReadOnly","Effect":"Allow","Action":"s3:Get*","Resource":"*"}}"#,
    )];
    let set = PolicySet::identity(&role_policies).with_session(&session);
    check(
        SESSION,
        &set,
        &[
            ("s3:GetObject", "arn:aws:s3:::b/k", Outcome::Allowed, "S3"),
            (
                "s3:PutObject",
                "arn:aws:s3:::b/k",
                Outcome::ImplicitDeny,
                "session policy",
            ),
            // The session policy alone grants nothing.
            (
                "sqs:GetQueueUrl",
                "*",
                Outcome::ImplicitDeny,
                "identity-based policy",
            ),
        ],
    );
    let bucket = resource(
        "bucket policy",
        r#"{"Statement":{"Sid":"ToSession","Effect":"Allow","Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/App/s1"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}}"#,
    );
    check(
        SESSION,
        &set.with_resource(&bucket),
        &[(
            "s3:PutObject",
            "arn:aws:s3:::b/k",
            Outcome::Allowed,
            "ToSession",
        )],
    );
    // An explicit deny in a session policy is an explicit deny.
    let deny = [identity(
        "session policy",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Any","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"NoDelete","Effect":"Deny","Action":"s3:Delete*","Resource":"*"}]}"#,
    )];
    let ctx = request(SESSION, "s3:DeleteObject", "arn:aws:s3:::b/k");
    let d = evaluate(
        &ctx,
        &PolicySet::identity(&role_policies).with_session(&deny),
    );
    assert_eq!(d.outcome, Outcome::ExplicitDeny);
    assert_eq!(
        d.statement.map(|s| s.policy_type),
        Some(PolicyType::Session)
    );
}

// "Policy evaluation for requests within a single account" (Important: "If either the
// identity-based policy or the resource-based policy within the same account allows the request
// and the other doesn't, the request is still allowed") and "AWS JSON policy elements: Principal",
// AWS account principals ("This delegates authority to the account").
#[test]
fn resource_policy_grants_within_an_account() {
    let bucket = resource(
        "bucket policy",
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Alice","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:user/alice"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
            {"Sid":"Account","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}]}"#,
    );
    let set = PolicySet::default().with_resource(&bucket);
    check(
        ALICE,
        &set,
        &[
            (
                "s3:GetObject",
                "arn:aws:s3:::b/k",
                Outcome::Allowed,
                "Alice",
            ),
            // Naming the account only delegates to the account's identity-based policies.
            (
                "s3:PutObject",
                "arn:aws:s3:::b/k",
                Outcome::ImplicitDeny,
                "identity-based policy",
            ),
        ],
    );
    // The root user is allowed in its own account unless denied.
    let root = request(
        "arn:aws:iam::111122223333:root",
        "s3:DeleteBucket",
        "arn:aws:s3:::b",
    );
    assert!(evaluate(&root, &PolicySet::default()).is_allowed());
}

// "Cross-account policy evaluation logic" (reference_policies_evaluation-logic-cross-account.html):
// both the identity-based policy in the requesting account and the resource-based policy in the
// trusting account must allow.
#[test]
fn cross_account_needs_both_sides() {
    let bobs = [identity(
        "arn:aws:iam::444455556666:policy/ReadB",
        r#"{"Version":"2012-10-17","Statement":{"Sid":"ReadB","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#,
    )];
    let bucket = resource(
        "bucket policy",
        r#"{"Version":"2012-10-17","Statement":{"Sid":"OtherAccount","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#,
    );
    let ctx = request(OTHER_USER, "s3:GetObject", "arn:aws:s3:::b/k")
        .with_resource_account("111122223333");
    let only_identity = evaluate(&ctx, &PolicySet::identity(&bobs));
    assert_eq!(only_identity.outcome, Outcome::ImplicitDeny);
    assert_eq!(only_identity.missing, Some(PolicyType::Resource));
    let only_resource = evaluate(&ctx, &PolicySet::default().with_resource(&bucket));
    assert_eq!(only_resource.outcome, Outcome::ImplicitDeny);
    assert_eq!(only_resource.missing, Some(PolicyType::Identity));
    let both = evaluate(&ctx, &PolicySet::identity(&bobs).with_resource(&bucket));
    assert_eq!(both.outcome, Outcome::Allowed);
    assert_eq!(both.statement.and_then(|s| s.sid), Some("ReadB"));
    // A resource policy of another account naming the user directly is still only half.
    let direct = resource(
        "bucket policy",
        r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:user/bob"},"Action":"s3:*","Resource":"*"}}"#,
    );
    let d = evaluate(&ctx, &PolicySet::default().with_resource(&direct));
    assert_eq!(d.missing, Some(PolicyType::Identity));
    let msg = access_denied_message(&ctx, &d);
    assert_eq!(
        msg.as_deref(),
        Some(
            "User: arn:aws:iam::444455556666:user/bob is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/k because no identity-based policy allows the s3:GetObject action"
        )
    );
}

// "How IAM roles differ from resource-based policies" (id_roles_compare-resource-policies.html) and
// "Policy evaluation for requests within a single account": a role's trust policy is required even
// within the account. Naming the user grants alone; naming the account delegates to the user's
// identity-based policies; a trust policy that names neither allows no one, administrators and
// the account's root included.
#[test]
fn role_trust_policies_are_required_within_the_account() {
    const ROLE_ARN: &str = "arn:aws:iam::111122223333:role/Deploy";
    let admin = [identity(
        "arn:aws:iam::aws:policy/AdministratorAccess",
        r#"{"Version":"2012-10-17","Statement":{"Sid":"Admin","Effect":"Allow","Action":"*","Resource":"*"}}"#,
    )];
    let trust = |principal: &str| {
        resource(
            "trust policy",
            &format!(
                r#"{{"Version":"2012-10-17","Statement":{{"Sid":"Trust","Effect":"Allow","Principal":{principal},"Action":"sts:AssumeRole"}}}}"#
            ),
        )
    };
    let lambda_only = trust(r#"{"Service":"lambda.amazonaws.com"}"#);
    let names_alice = trust(r#"{"AWS":"arn:aws:iam::111122223333:user/alice"}"#);
    let names_account = trust(r#"{"AWS":"arn:aws:iam::111122223333:root"}"#);
    let ctx = request(ALICE, "sts:AssumeRole", ROLE_ARN);
    let decide = |identity: &[Policy], trust: &Policy| {
        let d = evaluate(
            &ctx,
            &PolicySet::identity(identity)
                .with_resource(trust)
                .resource_required(),
        );
        (d.outcome, d.missing, access_denied_message(&ctx, &d))
    };
    let allowed = (Outcome::Allowed, None, None);
    // An administrator cannot assume a role that trusts only Lambda.
    let (outcome, missing, message) = decide(&admin, &lambda_only);
    assert_eq!(
        (outcome, missing),
        (Outcome::ImplicitDeny, Some(PolicyType::Resource))
    );
    assert_eq!(
        message.as_deref(),
        Some(
            "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/Deploy because no resource-based policy allows the sts:AssumeRole action"
        )
    );
    // Without the requirement (any other resource-based policy) the identity allow would do.
    assert!(
        evaluate(
            &ctx,
            &PolicySet::identity(&admin).with_resource(&lambda_only)
        )
        .is_allowed()
    );
    // Naming the user: no identity-based policy needed.
    assert_eq!(decide(&[], &names_alice), allowed);
    // Naming the account: the identity-based policy decides.
    assert_eq!(decide(&[], &names_account).1, Some(PolicyType::Identity));
    assert_eq!(decide(&admin, &names_account), allowed);
    // The root user too needs the trust policy.
    let root = request("arn:aws:iam::111122223333:root", "sts:AssumeRole", ROLE_ARN);
    let required = PolicySet::default()
        .with_resource(&lambda_only)
        .resource_required();
    assert_eq!(
        evaluate(&root, &required).missing,
        Some(PolicyType::Resource)
    );
}

// "Policy evaluation logic": service principals have no identity-based policies; only the
// resource-based policy can grant them (e.g. an SQS queue policy for SNS).
#[test]
fn service_principals_need_the_resource_policy() {
    let queue = resource(
        "queue policy",
        r#"{"Version":"2012-10-17","Statement":{"Sid":"Sns","Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"arn:aws:sqs:us-east-1:111122223333:q",
            "Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:111122223333:t"}}}}"#,
    );
    let set = PolicySet::default().with_resource(&queue);
    let sns = skyport_policy::Principal::service("sns.amazonaws.com");
    let ok = skyport_policy::RequestContext::new(
        sns.clone(),
        "sqs:SendMessage",
        "arn:aws:sqs:us-east-1:111122223333:q",
    )
    .with_key("aws:SourceArn", "arn:aws:sns:us-east-1:111122223333:t");
    assert!(evaluate(&ok, &set).is_allowed());
    let other = ok
        .clone()
        .with_key("aws:SourceArn", "arn:aws:sns:us-east-1:111122223333:other");
    assert_eq!(evaluate(&other, &set).missing, Some(PolicyType::Resource));
    let lambda = skyport_policy::RequestContext::new(
        skyport_policy::Principal::service("lambda.amazonaws.com"),
        "sqs:SendMessage",
        "arn:aws:sqs:us-east-1:111122223333:q",
    );
    assert!(!evaluate(&lambda, &set).is_allowed());
}

/// Several policies: the deciding policy and statement index are reported.
#[test]
fn decision_names_policy_and_statement_index() {
    let policies: Vec<Policy> = vec![
        identity(
            "first",
            r#"{"Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}"#,
        ),
        identity(
            "arn:aws:iam::111122223333:policy/Second",
            r#"{"Statement":[{"Effect":"Allow","Action":"sns:*","Resource":"*"},{"Effect":"Deny","Action":"sns:Delete*","Resource":"*"}]}"#,
        ),
    ];
    let set = PolicySet::identity(&policies);
    let d = evaluate(
        &request(
            ALICE,
            "sns:DeleteTopic",
            "arn:aws:sns:us-east-1:111122223333:t",
        ),
        &set,
    );
    let s = d.statement;
    assert_eq!(
        s.map(|s| (s.policy_id, s.index, s.sid)),
        Some(("arn:aws:iam::111122223333:policy/Second", 1, None))
    );
    let d = evaluate(
        &request(
            ALICE,
            "sqs:SendMessage",
            "arn:aws:sqs:us-east-1:111122223333:q",
        ),
        &set,
    );
    assert_eq!(
        d.statement.map(|s| (s.policy_id, s.index)),
        Some(("first", 0))
    );
}

//! IAM through boto3 and the AWS CLI against the real binary: the tutorial flow (a role with a trust
//! policy file, the Lambda basic execution policy, an inline policy, a user whose access key then signs
//! requests), botocore's decoding of the URL-encoded policy documents IAM returns, its paginators and
//! error classes.

mod common;

use std::process::Command;

use common::{Skyport, require, run};

const BOTO3: &str = r#"
import json, sys
import boto3, botocore

endpoint = sys.argv[1]

def client(service, key="test", secret="test"):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret)

iam = client("iam")
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
         "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
          "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::my bucket/*"}]}

role = iam.create_role(RoleName="py-lambda", AssumeRolePolicyDocument=json.dumps(trust, indent=2),
                       Description="boto3 role")["Role"]
# botocore URL-decodes and parses the documents IAM returns.
assert role["AssumeRolePolicyDocument"] == trust, role
assert role["RoleId"].startswith("AROA") and len(role["RoleId"]) == 21, role
assert role["Arn"] == "arn:aws:iam::000000000000:role/py-lambda", role
assert iam.get_role(RoleName="py-lambda")["Role"]["AssumeRolePolicyDocument"] == trust

basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
iam.attach_role_policy(RoleName="py-lambda", PolicyArn=basic)
iam.put_role_policy(RoleName="py-lambda", PolicyName="objects", PolicyDocument=json.dumps(policy))
assert iam.get_role_policy(RoleName="py-lambda", PolicyName="objects")["PolicyDocument"] == policy
version = iam.get_policy_version(PolicyArn=basic, VersionId="v1")["PolicyVersion"]
assert "logs:CreateLogStream" in version["Document"]["Statement"][0]["Action"], version

try:
    iam.get_role(RoleName="nope")
    raise SystemExit("expected NoSuchEntity")
except iam.exceptions.NoSuchEntityException as e:
    assert e.response["Error"]["Code"] == "NoSuchEntity", e.response
    assert e.response["Error"]["Message"] == "The role with name nope cannot be found.", e.response
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404
try:
    iam.create_role(RoleName="py-lambda", AssumeRolePolicyDocument=json.dumps(trust))
    raise SystemExit("expected EntityAlreadyExists")
except iam.exceptions.EntityAlreadyExistsException as e:
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 409
try:
    iam.put_role_policy(RoleName="py-lambda", PolicyName="bad", PolicyDocument='{"Statement": 1}')
    raise SystemExit("expected MalformedPolicyDocument")
except iam.exceptions.MalformedPolicyDocumentException as e:
    assert e.response["Error"]["Message"] == "Syntax errors in policy.", e.response
try:
    iam.delete_role(RoleName="py-lambda")
    raise SystemExit("expected DeleteConflict")
except iam.exceptions.DeleteConflictException as e:
    assert e.response["Error"]["Code"] == "DeleteConflict", e.response

for i in range(5):
    iam.create_user(UserName="py-user-%d" % i, Tags=[{"Key": "n", "Value": str(i)}])
pages = list(iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 2}))
assert len(pages) == 3, pages
names = [u["UserName"] for p in pages for u in p["Users"]]
assert names == ["py-user-%d" % i for i in range(5)], names

key = iam.create_access_key(UserName="py-user-0")["AccessKey"]
assert key["AccessKeyId"].startswith("LKIA") and len(key["SecretAccessKey"]) == 40, key
identity = client("sts", key["AccessKeyId"], key["SecretAccessKey"]).get_caller_identity()
assert identity["Account"] == "000000000000", identity
me = client("iam", key["AccessKeyId"], key["SecretAccessKey"]).get_user()["User"]
assert me["UserName"] == "py-user-0", me
root = iam.get_user()["User"]
assert "UserName" not in root and root["Arn"] == "arn:aws:iam::000000000000:root", root

details = iam.get_account_authorization_details()
roles = {r["RoleName"]: r for r in details["RoleDetailList"]}
assert roles["py-lambda"]["AssumeRolePolicyDocument"] == trust, roles
assert roles["py-lambda"]["RolePolicyList"][0]["PolicyDocument"] == policy, roles
assert roles["py-lambda"]["AttachedManagedPolicies"][0]["PolicyArn"] == basic, roles
assert len(details["UserDetailList"]) == 5

# Everything deleted again.
iam.detach_role_policy(RoleName="py-lambda", PolicyArn=basic)
iam.delete_role_policy(RoleName="py-lambda", PolicyName="objects")
iam.delete_role(RoleName="py-lambda")
iam.delete_access_key(UserName="py-user-0", AccessKeyId=key["AccessKeyId"])
for i in range(5):
    iam.delete_user(UserName="py-user-%d" % i)
assert iam.list_roles()["Roles"] == []
assert iam.list_users()["Users"] == []
print("boto3 ok")
"#;

#[test]
fn boto3_roles_policies_users_and_keys() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(BOTO3)
        .arg(skyport.endpoint())
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert!(out.contains("boto3 ok"), "{out}");
}

/// Runs the AWS CLI against `endpoint` with the credentials `key`/`secret`; returns (ok, stdout,
/// stderr).
fn aws(endpoint: &str, key: &str, secret: &str, args: &[&str]) -> (bool, String, String) {
    let (status, out, err) = run(Command::new("aws")
        .args(args)
        .args(["--endpoint-url", endpoint, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN"));
    (status.success(), out, err)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn aws_cli_tutorial_flow() {
    if !require("aws") {
        return;
    }
    let skyport = Skyport::start();
    let ep = skyport.endpoint();
    let dir = tempfile::tempdir().unwrap();
    let trust = dir.path().join("trust-policy.json");
    std::fs::write(
        &trust,
        r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": { "Service": "lambda.amazonaws.com" },
      "Action": "sts:AssumeRole"
    }
  ]
}
"#,
    )
    .unwrap();
    let inline = dir.path().join("policy.json");
    std::fs::write(
        &inline,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*"}]}"#,
    )
    .unwrap();
    let trust_arg = format!("file://{}", trust.display());
    let inline_arg = format!("file://{}", inline.display());
    let basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";
    let cli = |args: &[&str]| {
        let (ok, out, err) = aws(&ep, "test", "test", args);
        assert!(ok, "aws {args:?}: {out}\n{err}");
        out
    };

    let created = json(&cli(&[
        "iam",
        "create-role",
        "--role-name",
        "lambda-ex",
        "--assume-role-policy-document",
        &trust_arg,
    ]));
    assert_eq!(
        created["Role"]["Arn"],
        "arn:aws:iam::000000000000:role/lambda-ex"
    );
    // The CLI shows the decoded document.
    assert_eq!(
        created["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"],
        "lambda.amazonaws.com"
    );
    cli(&[
        "iam",
        "attach-role-policy",
        "--role-name",
        "lambda-ex",
        "--policy-arn",
        basic,
    ]);
    cli(&[
        "iam",
        "put-role-policy",
        "--role-name",
        "lambda-ex",
        "--policy-name",
        "send",
        "--policy-document",
        &inline_arg,
    ]);
    let attached = json(&cli(&[
        "iam",
        "list-attached-role-policies",
        "--role-name",
        "lambda-ex",
    ]));
    assert_eq!(attached["AttachedPolicies"][0]["PolicyArn"], basic);
    let got = json(&cli(&[
        "iam",
        "get-role-policy",
        "--role-name",
        "lambda-ex",
        "--policy-name",
        "send",
    ]));
    assert_eq!(
        got["PolicyDocument"]["Statement"][0]["Action"],
        "sqs:SendMessage"
    );

    cli(&["iam", "create-user", "--user-name", "cli-user"]);
    let key = json(&cli(&[
        "iam",
        "create-access-key",
        "--user-name",
        "cli-user",
    ]));
    let id = key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_owned();
    let secret = key["AccessKey"]["SecretAccessKey"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(id.starts_with("LKIA"), "{key}");
    // The new key signs requests in the user's account.
    let (ok, out, err) = aws(&ep, &id, &secret, &["sts", "get-caller-identity"]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(json(&out)["Account"], "000000000000");
    let (ok, out, err) = aws(&ep, &id, &secret, &["iam", "get-user"]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(json(&out)["User"]["UserName"], "cli-user");

    // AWS's error, as the CLI prints it.
    let (ok, _, err) = aws(
        &ep,
        "test",
        "test",
        &["iam", "get-role", "--role-name", "nope"],
    );
    assert!(!ok);
    assert!(
        err.contains(
            "An error occurred (NoSuchEntity) when calling the GetRole operation: The role with name nope cannot be found."
        ),
        "{err}"
    );

    cli(&[
        "iam",
        "detach-role-policy",
        "--role-name",
        "lambda-ex",
        "--policy-arn",
        basic,
    ]);
    cli(&[
        "iam",
        "delete-role-policy",
        "--role-name",
        "lambda-ex",
        "--policy-name",
        "send",
    ]);
    cli(&["iam", "delete-role", "--role-name", "lambda-ex"]);
    cli(&[
        "iam",
        "delete-access-key",
        "--user-name",
        "cli-user",
        "--access-key-id",
        &id,
    ]);
    cli(&["iam", "delete-user", "--user-name", "cli-user"]);
    assert_eq!(
        json(&cli(&["iam", "list-roles"]))["Roles"],
        serde_json::json!([])
    );
    assert_eq!(
        json(&cli(&["iam", "list-users"]))["Users"],
        serde_json::json!([])
    );
}

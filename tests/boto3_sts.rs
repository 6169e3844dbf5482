//! STS through boto3 (botocore's own query-protocol client) against the real binary.

mod common;

use std::process::Command;

use common::{Skyport, require, run};

#[test]
fn boto3_get_caller_identity_and_assume_role() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let script = r#"
import boto3, sys
ep = sys.argv[1]
sts = boto3.client("sts", endpoint_url=ep, region_name="us-west-2",
                   aws_access_key_id="123456789012", aws_secret_access_key="x")
me = sts.get_caller_identity()
assert me["Account"] == "123456789012", me
out = sts.assume_role(RoleArn="arn:aws:iam::444455556666:role/r", RoleSessionName="py")
c = out["Credentials"]
role = boto3.client("sts", endpoint_url=ep, region_name="us-west-2", aws_access_key_id=c["AccessKeyId"],
                    aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
me = role.get_caller_identity()
assert me["Arn"] == "arn:aws:sts::444455556666:assumed-role/r/py", me
try:
    sts.assume_role(RoleArn="arn:aws:iam::444455556666:role/r", RoleSessionName="a b")
    raise SystemExit("expected a ValidationError")
except sts.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "ValidationError", e.response
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
print("ok")
"#;
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}");
    assert_eq!(out.trim(), "ok");
}

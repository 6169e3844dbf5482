//! Each kind of model constraint the wire layer checks, violated by raw requests (SDKs check some of them
//! client-side, so these go around them) and answered with AWS's message: a missing required member, a
//! length, a list's count, a numeric range, an enum and a pattern, through a REST-JSON service (Lambda),
//! a query one (STS) and an awsJson one (CloudWatch Logs, whose errors AWS calls
//! `InvalidParameterException`); and an operation the model has but Skyport lacks is a 501 naming it.

mod common;

use std::process::Command;

use common::{Skyport, require, run};

const SCRIPT: &str = r#"
import json, sys, urllib.request, urllib.error

ep = sys.argv[1]
AUTH = "AWS4-HMAC-SHA256 Credential=test/20261206/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=" + "0" * 64

def call(method, path, service, body, headers):
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    req = urllib.request.Request(ep + path, data=data, method=method, headers={"Authorization": AUTH.format(service), **headers})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()

def lam(body):
    status, headers, text = call("POST", "/2015-03-31/functions", "lambda", body, {"Content-Type": "application/json"})
    return status, headers.get("x-amzn-ErrorType") or headers.get("x-amzn-errortype"), json.loads(text)

base = {"FunctionName": "f", "Runtime": "python3.12", "Role": "arn:aws:iam::000000000000:role/r",
        "Handler": "h.main", "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}
cases = [
    ({k: v for k, v in base.items() if k != "Role"},
     "Value null at 'role' failed to satisfy constraint: Member must not be null"),
    (dict(base, FunctionName="x" * 141),
     "at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 140"),
    (dict(base, FunctionName="bad name!"),
     "Value 'bad name!' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: "),
    (dict(base, MemorySize=64),
     "Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128"),
    (dict(base, Runtime="cobol"),
     "Value 'cobol' at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: ["),
    (dict(base, Architectures=["x86_64", "arm64"]),
     "Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1"),
]
for body, expected in cases:
    status, kind, doc = lam(body)
    message = doc.get("message") or doc.get("Message") or ""
    assert status == 400 and kind == "ValidationException", (status, kind, doc)
    assert message.startswith("1 validation error detected: ") and expected in message, (expected, message)
# Two violations in one request: counted, in the model's member order.
status, kind, doc = lam(dict(base, MemorySize=64, Timeout=0))
message = doc.get("message") or doc.get("Message")
assert message.startswith("2 validation errors detected: Value '0' at 'timeout'") and "; Value '64' at 'memorySize'" in message, message

# The query protocol: ValidationError in an ErrorResponse.
status, _, text = call("POST", "/", "sts", "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::000000000000:role/r&RoleSessionName=x",
                       {"Content-Type": "application/x-www-form-urlencoded"})
assert status == 400 and "<Code>ValidationError</Code>" in text, text
assert "Value &apos;x&apos; at &apos;roleSessionName&apos; failed to satisfy constraint: Member must have length greater than or equal to 2" in text, text

# awsJson 1.1: CloudWatch Logs words it InvalidParameterException.
status, headers, text = call("POST", "/", "logs", {"logGroupName": ""},
                             {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Logs_20140328.CreateLogGroup"})
doc = json.loads(text)
assert status == 400 and doc["__type"].endswith("InvalidParameterException"), (status, doc)
assert "at 'logGroupName' failed to satisfy constraint: Member must have length greater than or equal to 1" in doc["message"], doc

# An operation of the model Skyport does not implement: 501 naming it, never another operation.
status, headers, text = call("GET", "/2020-06-30/functions/f/code-signing-config", "lambda", "", {})
assert status == 501 and "GetFunctionCodeSigningConfig" in text, (status, text)
status, _, text = call("POST", "/", "sts", "Action=DecodeAuthorizationMessage&Version=2011-06-15&EncodedMessage=abc", {"Content-Type": "application/x-www-form-urlencoded"})
assert status == 501 and "DecodeAuthorizationMessage" in text, (status, text)
print("ok")
"#;

#[test]
fn every_kind_of_constraint_gets_aws_message() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

//! Lambda through boto3 and the AWS CLI, as a tutorial uses them (create a role, create a function from a
//! zip, invoke, update the code, invoke, read the logs, delete), and the faults: with the Docker Engine
//! unreachable Lambda answers clear AWS errors while every other service keeps working, and many
//! invocations leave no process or file behind.

mod common;

use std::process::Command;

use common::{Options, Skyport, require, run};

const TUTORIAL: &str = r#"
import base64, io, json, os, subprocess, sys, time, zipfile
import boto3, botocore

ep = sys.argv[1]
kw = dict(endpoint_url=ep, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
iam = boto3.client("iam", **kw)
lam = boto3.client("lambda", **kw)

def zipped(source):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("lambda_function.py", source)
    return buf.getvalue()

trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
role = iam.create_role(RoleName="tutorial-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
iam.attach_role_policy(RoleName="tutorial-role", PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")

v1 = "def lambda_handler(event, context):\n    print('v1 says', event.get('name'))\n    return {'greeting': 'hello ' + event.get('name', 'world'), 'version': 1}\n"
created = lam.create_function(FunctionName="tutorial", Runtime="python3.11", Role=role["Arn"],
                              Handler="lambda_function.lambda_handler", Code={"ZipFile": zipped(v1)})
assert created["State"] == "Pending", created
lam.get_waiter("function_active_v2").wait(FunctionName="tutorial")
out = lam.invoke(FunctionName="tutorial", Payload=json.dumps({"name": "skyport"}))
assert out["StatusCode"] == 200 and json.loads(out["Payload"].read()) == {"greeting": "hello skyport", "version": 1}

v2 = v1.replace("'version': 1", "'version': 2")
lam.update_function_code(FunctionName="tutorial", ZipFile=zipped(v2))
lam.get_waiter("function_updated_v2").wait(FunctionName="tutorial")
out = lam.invoke(FunctionName="tutorial", Payload=json.dumps({"name": "again"}), LogType="Tail")
assert json.loads(out["Payload"].read())["version"] == 2
assert "v1 says again" in base64.b64decode(out["LogResult"]).decode()

try:
    lam.invoke(FunctionName="missing")
    raise SystemExit("expected ResourceNotFoundException")
except lam.exceptions.ResourceNotFoundException as e:
    assert e.response["Error"]["Message"] == "Function not found: arn:aws:lambda:us-east-1:000000000000:function:missing", e.response
print("ok")
"#;

#[test]
fn boto3_and_cli_tutorial_flow() {
    if !require("python3") || !require("aws") {
        return;
    }
    let skyport = Skyport::start_with(Options::default().env("LAMBDA_EXECUTOR", "local"));
    let endpoint = skyport.endpoint();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(TUTORIAL)
        .arg(&endpoint));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");

    // The same steps with the AWS CLI: a zip file on disk, invoke to an outfile, the logs, delete.
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("fn.zip");
    {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::fs::File::create(&zip).unwrap());
        w.start_file("app.py", zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(
            b"def handler(event, context):\n    print('from the cli function')\n    return event\n",
        )
        .unwrap();
        w.finish().unwrap();
    }
    let aws = |args: &[&str]| {
        let (status, out, err) = run(Command::new("aws")
            .args([
                "--endpoint-url",
                &endpoint,
                "--region",
                "us-east-1",
                "--output",
                "json",
            ])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_PAGER", ""));
        assert!(status.success(), "aws {args:?}: {err}{out}");
        out
    };
    let zip_arg = format!("fileb://{}", zip.display());
    aws(&[
        "lambda",
        "create-function",
        "--function-name",
        "cli-fn",
        "--runtime",
        "python3.11",
        "--handler",
        "app.handler",
        "--role",
        "arn:aws:iam::000000000000:role/tutorial-role",
        "--zip-file",
        &zip_arg,
    ]);
    aws(&[
        "lambda",
        "wait",
        "function-active-v2",
        "--function-name",
        "cli-fn",
    ]);
    let outfile = dir.path().join("out.json");
    let outfile_arg = outfile.display().to_string();
    let answer = aws(&[
        "lambda",
        "invoke",
        "--function-name",
        "cli-fn",
        "--payload",
        r#"{"k": "v"}"#,
        &outfile_arg,
    ]);
    assert!(answer.contains("\"StatusCode\": 200"), "{answer}");
    assert_eq!(std::fs::read_to_string(&outfile).unwrap(), r#"{"k": "v"}"#);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let events = aws(&[
            "logs",
            "filter-log-events",
            "--log-group-name",
            "/aws/lambda/cli-fn",
        ]);
        if events.contains("from the cli function") && events.contains("REPORT RequestId") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{events}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let listed = aws(&["lambda", "list-functions"]);
    assert!(
        listed.contains("\"FunctionName\": \"cli-fn\"")
            && listed.contains("\"FunctionName\": \"tutorial\""),
        "{listed}"
    );
    aws(&["lambda", "delete-function", "--function-name", "cli-fn"]);
    aws(&["lambda", "delete-function", "--function-name", "tutorial"]);
}

const NO_DOCKER: &str = r#"
import io, json, sys, time, zipfile
import boto3

ep = sys.argv[1]
kw = dict(endpoint_url=ep, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
lam = boto3.client("lambda", **kw)
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("h.py", "def main(e, c):\n    return 1\n")
lam.create_function(FunctionName="nodocker", Runtime="python3.11", Role="arn:aws:iam::000000000000:role/r",
                    Handler="h.main", Code={"ZipFile": buf.getvalue()})
for _ in range(100):
    c = lam.get_function_configuration(FunctionName="nodocker")
    if c["State"] != "Pending":
        break
    time.sleep(0.05)
assert c["State"] == "Failed", c
assert "Docker Engine" in c["StateReason"], c
try:
    lam.invoke(FunctionName="nodocker")
    raise SystemExit("expected an error")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] in ("InvalidParameterValueException", "ResourceConflictException"), e.response
    assert "Failed" in e.response["Error"]["Message"], e.response
# Every other service keeps working.
s3 = boto3.client("s3", **kw)
s3.create_bucket(Bucket="still-here")
assert boto3.client("sqs", **kw).create_queue(QueueName="still-here")["QueueUrl"]
assert boto3.client("sts", **kw).get_caller_identity()["Account"] == "000000000000"
print("ok")
"#;

#[test]
fn without_docker_lambda_answers_aws_errors_and_the_rest_keeps_working() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start_with(
        Options::default()
            .env("LAMBDA_EXECUTOR", "docker")
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
    );
    let script = NO_DOCKER.replace("import boto3", "import boto3, botocore");
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

#[test]
fn many_invocations_leave_no_process_or_file_behind() {
    if !require("python3") {
        return;
    }
    let count: usize = if std::env::var("SKYPORT_LONG_TESTS").as_deref() == Ok("1") {
        1000
    } else {
        200
    };
    let skyport = Skyport::start_with(
        Options::default()
            .env("LAMBDA_EXECUTOR", "local")
            .env("LAMBDA_KEEPALIVE_MS", "300"),
    );
    let script = format!(
        r#"
import io, json, sys, zipfile, concurrent.futures
import boto3
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
lam = boto3.client("lambda", **kw)
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("h.py", "def main(e, c):\n    return e['n'] * 2\n")
lam.create_function(FunctionName="many", Runtime="python3.11", Role="arn:aws:iam::000000000000:role/r",
                    Handler="h.main", Code={{"ZipFile": buf.getvalue()}})
lam.get_waiter("function_active_v2").wait(FunctionName="many")
def call(n):
    out = lam.invoke(FunctionName="many", Payload=json.dumps({{"n": n}}))
    return json.loads(out["Payload"].read()) == n * 2
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    assert all(pool.map(call, range({count})))
print("ok")
"#
    );
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    // Idle environments end after LAMBDA_KEEPALIVE_MS: no child process and no unpacked code remain.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let children = std::fs::read_to_string(format!(
            "/proc/{}/task/{}/children",
            skyport.pid(),
            skyport.pid()
        ))
        .unwrap_or_default();
        let envs = std::fs::read_dir(skyport.state_dir.join("tmp"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|run| std::fs::read_dir(run.path().join("lambda-envs")).ok())
            .flat_map(|d| d.flatten().collect::<Vec<_>>())
            .count();
        if children.trim().is_empty() && envs == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left behind: children {children:?}, {envs} environment directories"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

//! Lambda through the official `aws-sdk-lambda` crate against the real binary: the control plane
//! (functions, versions, aliases, tags, policies, concurrency, account settings, AWS's errors and
//! validation) and invocations on the local executor (host processes, no Docker): synchronous, `Event`,
//! `DryRun`, `LogType: Tail`, qualifiers, function errors, timeouts, a runtime that exits, payload
//! limits and reserved concurrency.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::client::Waiters;
use aws_sdk_lambda::config::{BehaviorVersion, Region};
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, InvocationType, LogType, Runtime, State};
use common::{Options, Skyport};

const ROLE: &str = "arn:aws:iam::000000000000:role/lambda-role";

fn client(endpoint: &str) -> Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    Client::from_conf(config)
}

/// A zip with one file.
fn zip_of(name: &str, text: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    w.start_file(name, options).unwrap();
    w.write_all(text.as_bytes()).unwrap();
    w.finish().unwrap().into_inner()
}

const HANDLER: &str = r#"
import json, os, sys, time
def main(event, context):
    event = event or {}
    if event.get("print"):
        print(event["print"])
    if event.get("allocate_mb"):
        held = b"x" * (int(event["allocate_mb"]) << 20)
        time.sleep(float(event.get("hold", 0.3)))
        del held
    if event.get("sleep"):
        time.sleep(float(event["sleep"]))
    if event.get("exit"):
        os._exit(int(event["exit"]))
    if event.get("fail"):
        raise ValueError(event["fail"])
    if event.get("size"):
        return "x" * int(event["size"])
    bundle = os.environ.get("AWS_CA_BUNDLE")
    bundle = open(bundle).read() if bundle else ""
    return {"version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"], "tag": os.environ.get("TAG"),
            "request_id": context.aws_request_id, "arn": context.invoked_function_arn,
            "remaining_ms": context.get_remaining_time_in_millis(), "event": event,
            "ca_bundle": {"certificates": bundle.count("BEGIN CERTIFICATE"),
                          "skyport": '# Skyport local CA' in bundle}}
"#;

fn local() -> Skyport {
    Skyport::start_with(Options::default().env("LAMBDA_EXECUTOR", "local"))
}

/// (HTTP status, error code, message) of a failed call.
fn fail<E, R>(
    r: Result<R, aws_sdk_lambda::error::SdkError<E, aws_sdk_lambda::config::http::HttpResponse>>,
) -> (u16, String, String)
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let err = r.expect_err("the call should fail");
    let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    let meta = err.as_service_error().map(|e| {
        (
            e.code().unwrap_or("").to_owned(),
            e.message().unwrap_or("").to_owned(),
        )
    });
    let (code, message) = meta.unwrap_or_default();
    (status, code, message)
}

async fn create(lambda: &Client, name: &str, code: &str) {
    lambda
        .create_function()
        .function_name(name)
        .runtime(Runtime::Python311)
        .role(ROLE)
        .handler("handler.main")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip_of("handler.py", code)))
                .build(),
        )
        .environment(Environment::builder().variables("TAG", "one").build())
        .send()
        .await
        .unwrap();
    wait_active(lambda, name).await;
}

async fn wait_active(lambda: &Client, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .unwrap();
        if c.state() == Some(&State::Active)
            && c.last_update_status()
                .is_none_or(|s| s.as_str() == "Successful")
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never became Active: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn functions_versions_aliases_and_aws_errors() {
    let skyport = local();
    let lambda = client(&skyport.endpoint());
    let created = lambda
        .create_function()
        .function_name("cp")
        .runtime(Runtime::Python311)
        .role(ROLE)
        .handler("handler.main")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip_of("handler.py", HANDLER)))
                .build(),
        )
        .description("first")
        .timeout(10)
        .memory_size(256)
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.state(),
        Some(&State::Pending),
        "AWS answers Pending first"
    );
    assert_eq!(
        created.function_arn(),
        Some("arn:aws:lambda:us-east-1:000000000000:function:cp")
    );
    assert_eq!(created.version(), Some("$LATEST"));
    assert_eq!(
        (created.timeout(), created.memory_size()),
        (Some(10), Some(256))
    );
    assert!(created.code_sha256().is_some_and(|s| s.len() == 44));
    assert!(
        created
            .last_modified()
            .is_some_and(|m| m.ends_with("+0000")),
        "{created:?}"
    );
    // The SDK's own waiter, as deploy scripts use it.
    lambda
        .wait_until_function_active_v2()
        .function_name("cp")
        .wait(Duration::from_secs(30))
        .await
        .unwrap();

    let (status, code, message) = fail(
        lambda
            .create_function()
            .function_name("cp")
            .runtime(Runtime::Python311)
            .role(ROLE)
            .handler("handler.main")
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(zip_of("handler.py", HANDLER)))
                    .build(),
            )
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (409, "ResourceConflictException"));
    assert_eq!(message, "Function already exist: cp");

    let (status, code, message) = fail(lambda.get_function().function_name("nope").send().await);
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));
    assert_eq!(
        message,
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"
    );

    // Validation the model states, with AWS's message.
    let (status, code, message) = fail(
        lambda
            .create_function()
            .function_name("bad")
            .runtime(Runtime::Python311)
            .role(ROLE)
            .handler("handler.main")
            .timeout(0)
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(zip_of("handler.py", HANDLER)))
                    .build(),
            )
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (400, "ValidationException"));
    assert_eq!(
        message,
        "1 validation error detected: Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1"
    );
    // Runtimes AWS no longer lets you create functions with.
    let (status, code, message) = fail(
        lambda
            .create_function()
            .function_name("old")
            .runtime(Runtime::Python27)
            .role(ROLE)
            .handler("handler.main")
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(zip_of("handler.py", HANDLER)))
                    .build(),
            )
            .send()
            .await,
    );
    assert_eq!(
        (status, code.as_str()),
        (400, "InvalidParameterValueException")
    );
    assert!(
        message.starts_with("The runtime parameter of python2.7 is no longer supported"),
        "{message}"
    );
    // Reserved environment variables, a package that is no zip, a zip without runtime.
    let (_, code, message) = fail(
        lambda
            .create_function()
            .function_name("env")
            .runtime(Runtime::Python311)
            .role(ROLE)
            .handler("handler.main")
            .environment(Environment::builder().variables("AWS_REGION", "x").build())
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(zip_of("handler.py", HANDLER)))
                    .build(),
            )
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterValueException");
    assert!(
        message.ends_with("Reserved keys used in this request: AWS_REGION"),
        "{message}"
    );
    let (_, code, message) = fail(
        lambda
            .create_function()
            .function_name("notzip")
            .runtime(Runtime::Python311)
            .role(ROLE)
            .handler("handler.main")
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(b"not a zip".to_vec()))
                    .build(),
            )
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterValueException");
    assert_eq!(
        message,
        "Could not unzip uploaded file. Please check your file, then try to upload again."
    );
    let (_, code, _) = fail(
        lambda
            .create_function()
            .function_name("noruntime")
            .role(ROLE)
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(zip_of("handler.py", HANDLER)))
                    .build(),
            )
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterValueException");

    // GetFunction: configuration, a code location that downloads the zip, tags, concurrency.
    let got = lambda
        .get_function()
        .function_name("cp")
        .send()
        .await
        .unwrap();
    let location = got.code().and_then(|c| c.location()).unwrap().to_owned();
    let downloaded = reqwest_get(&location).await;
    assert_eq!(downloaded, zip_of("handler.py", HANDLER));
    assert_eq!(
        got.configuration().and_then(|c| c.description()),
        Some("first")
    );

    // Update the configuration and the code; the updated waiter.
    let updated = lambda
        .update_function_configuration()
        .function_name("cp")
        .description("second")
        .environment(Environment::builder().variables("TAG", "two").build())
        .send()
        .await
        .unwrap();
    assert_eq!(
        updated.last_update_status().map(|s| s.as_str()),
        Some("InProgress")
    );
    lambda
        .wait_until_function_updated_v2()
        .function_name("cp")
        .wait(Duration::from_secs(30))
        .await
        .unwrap();

    // Versions: publish, nothing changed gives the same version, list.
    let v1 = lambda
        .publish_version()
        .function_name("cp")
        .send()
        .await
        .unwrap();
    assert_eq!(v1.version(), Some("1"));
    assert_eq!(
        v1.function_arn(),
        Some("arn:aws:lambda:us-east-1:000000000000:function:cp:1")
    );
    let again = lambda
        .publish_version()
        .function_name("cp")
        .send()
        .await
        .unwrap();
    assert_eq!(again.version(), Some("1"));
    lambda
        .update_function_code()
        .function_name("cp")
        .zip_file(Blob::new(zip_of(
            "handler.py",
            &format!("{HANDLER}\n# v2\n"),
        )))
        .send()
        .await
        .unwrap();
    wait_active(&lambda, "cp").await;
    let v2 = lambda
        .publish_version()
        .function_name("cp")
        .description("v2")
        .send()
        .await
        .unwrap();
    assert_eq!(v2.version(), Some("2"));
    let versions = lambda
        .list_versions_by_function()
        .function_name("cp")
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = versions
        .versions()
        .iter()
        .filter_map(|v| v.version())
        .collect();
    assert_eq!(names, ["$LATEST", "1", "2"]);

    // Aliases.
    let alias = lambda
        .create_alias()
        .function_name("cp")
        .name("live")
        .function_version("1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        alias.alias_arn(),
        Some("arn:aws:lambda:us-east-1:000000000000:function:cp:live")
    );
    let (status, code, _) = fail(
        lambda
            .create_alias()
            .function_name("cp")
            .name("live")
            .function_version("1")
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (409, "ResourceConflictException"));
    let (_, code, _) = fail(
        lambda
            .create_alias()
            .function_name("cp")
            .name("x")
            .function_version("9")
            .send()
            .await,
    );
    assert_eq!(code, "ResourceNotFoundException");
    lambda
        .update_alias()
        .function_name("cp")
        .name("live")
        .function_version("2")
        .send()
        .await
        .unwrap();
    let got = lambda
        .get_alias()
        .function_name("cp")
        .name("live")
        .send()
        .await
        .unwrap();
    assert_eq!(got.function_version(), Some("2"));
    let aliases = lambda
        .list_aliases()
        .function_name("cp")
        .send()
        .await
        .unwrap();
    assert_eq!(aliases.aliases().len(), 1);
    let (_, code, message) = fail(
        lambda
            .get_alias()
            .function_name("cp")
            .name("gone")
            .send()
            .await,
    );
    assert_eq!(code, "ResourceNotFoundException");
    assert_eq!(
        message,
        "Cannot find alias arn: arn:aws:lambda:us-east-1:000000000000:function:cp:gone"
    );
    let by_alias = lambda
        .get_function_configuration()
        .function_name("cp:live")
        .send()
        .await
        .unwrap();
    assert_eq!(by_alias.version(), Some("2"));

    // Tags.
    let arn = "arn:aws:lambda:us-east-1:000000000000:function:cp";
    lambda
        .tag_resource()
        .resource(arn)
        .tags("team", "a")
        .tags("env", "dev")
        .send()
        .await
        .unwrap();
    lambda
        .untag_resource()
        .resource(arn)
        .tag_keys("env")
        .send()
        .await
        .unwrap();
    let tags = lambda.list_tags().resource(arn).send().await.unwrap();
    assert_eq!(tags.tags().map(|t| t.len()), Some(1));

    // The resource policy.
    let added = lambda
        .add_permission()
        .function_name("cp")
        .statement_id("s3-invoke")
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .source_arn("arn:aws:s3:::bucket")
        .send()
        .await
        .unwrap();
    let statement: serde_json::Value = serde_json::from_str(added.statement().unwrap()).unwrap();
    assert_eq!(statement["Principal"]["Service"], "s3.amazonaws.com");
    assert_eq!(
        statement["Condition"]["ArnLike"]["AWS:SourceArn"],
        "arn:aws:s3:::bucket"
    );
    let (_, code, message) = fail(
        lambda
            .add_permission()
            .function_name("cp")
            .statement_id("s3-invoke")
            .action("lambda:InvokeFunction")
            .principal("s3.amazonaws.com")
            .send()
            .await,
    );
    assert_eq!(code, "ResourceConflictException");
    assert!(
        message.starts_with("The statement id (s3-invoke) provided already exists"),
        "{message}"
    );
    let policy = lambda
        .get_policy()
        .function_name("cp")
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(doc["Statement"].as_array().map(Vec::len), Some(1));
    lambda
        .remove_permission()
        .function_name("cp")
        .statement_id("s3-invoke")
        .send()
        .await
        .unwrap();
    let (_, code, _) = fail(lambda.get_policy().function_name("cp").send().await);
    assert_eq!(code, "ResourceNotFoundException");

    // Concurrency and account settings.
    let put = lambda
        .put_function_concurrency()
        .function_name("cp")
        .reserved_concurrent_executions(5)
        .send()
        .await
        .unwrap();
    assert_eq!(put.reserved_concurrent_executions(), Some(5));
    let settings = lambda.get_account_settings().send().await.unwrap();
    assert_eq!(
        settings
            .account_limit()
            .map(|l| l.unreserved_concurrent_executions()),
        Some(Some(995))
    );
    assert_eq!(
        settings.account_usage().map(|u| u.function_count()),
        Some(1)
    );
    let (_, code, _) = fail(
        lambda
            .put_function_concurrency()
            .function_name("cp")
            .reserved_concurrent_executions(950)
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterValueException");
    lambda
        .delete_function_concurrency()
        .function_name("cp")
        .send()
        .await
        .unwrap();
    let got = lambda
        .get_function_concurrency()
        .function_name("cp")
        .send()
        .await
        .unwrap();
    assert_eq!(got.reserved_concurrent_executions(), None);

    // Listing, paginated.
    for i in 0..4 {
        create(&lambda, &format!("list-{i}"), HANDLER).await;
    }
    let page = lambda.list_functions().max_items(2).send().await.unwrap();
    assert_eq!(page.functions().len(), 2);
    let mut names: Vec<String> = Vec::new();
    let mut pages = lambda.list_functions().max_items(2).into_paginator().send();
    while let Some(page) = pages.next().await {
        names.extend(
            page.unwrap()
                .functions()
                .iter()
                .filter_map(|f| f.function_name().map(str::to_owned)),
        );
    }
    assert_eq!(names, ["cp", "list-0", "list-1", "list-2", "list-3"]);
    let all = lambda
        .list_functions()
        .function_version(aws_sdk_lambda::types::FunctionVersion::All)
        .send()
        .await
        .unwrap();
    assert_eq!(all.functions().len(), 7, "5 functions and 2 versions");

    // Deleting a version referenced by an alias is refused; deleting the function removes everything.
    let (_, code, _) = fail(
        lambda
            .delete_function()
            .function_name("cp")
            .qualifier("2")
            .send()
            .await,
    );
    assert_eq!(code, "ResourceConflictException");
    lambda
        .delete_function()
        .function_name("cp")
        .qualifier("1")
        .send()
        .await
        .unwrap();
    lambda
        .delete_function()
        .function_name("cp")
        .send()
        .await
        .unwrap();
    let (status, _, _) = fail(lambda.get_function().function_name("cp").send().await);
    assert_eq!(status, 404);
}

async fn reqwest_get(url: &str) -> Vec<u8> {
    let out = std::process::Command::new("curl")
        .args(["-sf", url])
        .output()
        .expect("curl");
    assert!(out.status.success(), "GET {url} failed");
    out.stdout
}

#[tokio::test]
async fn local_invocations_errors_timeouts_and_limits() {
    let skyport = local();
    let lambda = client(&skyport.endpoint());
    create(&lambda, "inv", HANDLER).await;

    let out = lambda
        .invoke()
        .function_name("inv")
        .payload(Blob::new(r#"{"hello": "world"}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.executed_version(), Some("$LATEST"));
    assert_eq!(out.function_error(), None);
    let body: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(body["event"]["hello"], "world");
    assert_eq!(body["tag"], "one");
    // The CA variables name a bundle (written at the first local start) with the system's roots and
    // Skyport's CA.
    assert_eq!(body["ca_bundle"]["skyport"], true, "{body}");
    assert!(
        body["ca_bundle"]["certificates"].as_u64() > Some(1),
        "{body}"
    );
    assert_eq!(
        body["arn"],
        "arn:aws:lambda:us-east-1:000000000000:function:inv"
    );
    assert!(
        body["remaining_ms"]
            .as_i64()
            .is_some_and(|ms| ms > 0 && ms <= 3000),
        "{body}"
    );

    // Tail: START, the function's output, END and REPORT, base64, the last 4 KB.
    let out = lambda
        .invoke()
        .function_name("inv")
        .log_type(LogType::Tail)
        .payload(Blob::new(r#"{"print": "a line from the function"}"#))
        .send()
        .await
        .unwrap();
    use base64::Engine;
    let log = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(out.log_result().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(log.starts_with("START RequestId: "), "{log}");
    assert!(log.contains("a line from the function"), "{log}");
    assert!(log.contains("END RequestId: "), "{log}");
    assert!(
        log.contains("REPORT RequestId: ") && log.contains("Billed Duration: "),
        "{log}"
    );

    // Max Memory Used is the runtime process's peak resident memory, not a made-up figure.
    let out = lambda
        .invoke()
        .function_name("inv")
        .log_type(LogType::Tail)
        .payload(Blob::new(r#"{"allocate_mb": 48}"#))
        .send()
        .await
        .unwrap();
    let log = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(out.log_result().unwrap())
            .unwrap(),
    )
    .unwrap();
    let used: u64 = log
        .split("Max Memory Used: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|mb| mb.parse().ok())
        .unwrap_or_else(|| panic!("no Max Memory Used in {log}"));
    assert!((48..128).contains(&used), "{used} MB: {log}");

    // Above its MemorySize (128 MB) the runtime is killed, as a container's cgroup would kill it.
    let out = lambda
        .invoke()
        .function_name("inv")
        .payload(Blob::new(r#"{"allocate_mb": 200, "hold": 2}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.function_error(), Some("Unhandled"));
    let body: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(body["errorType"], "Runtime.ExitError", "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.ends_with("Runtime exited with error: signal: killed")),
        "{body}"
    );

    // The same lines in CloudWatch Logs, in the function's group, in a stream named as AWS names it.
    let logs = aws_sdk_cloudwatchlogs::Client::from_conf(
        aws_sdk_cloudwatchlogs::Config::builder()
            .behavior_version(aws_sdk_cloudwatchlogs::config::BehaviorVersion::latest())
            .region(aws_sdk_cloudwatchlogs::config::Region::new("us-east-1"))
            .endpoint_url(skyport.endpoint())
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .build(),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let messages = loop {
        let found = logs
            .filter_log_events()
            .log_group_name("/aws/lambda/inv")
            .send()
            .await
            .map(|r| {
                r.events()
                    .iter()
                    .filter_map(|e| e.message().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if found.iter().any(|m| m.starts_with("REPORT RequestId: "))
            && found.iter().any(|m| m == "a line from the function")
        {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "the function's log did not reach CloudWatch Logs: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("START RequestId: ") && m.ends_with("Version: $LATEST")),
        "{messages:?}"
    );
    let streams = logs
        .describe_log_streams()
        .log_group_name("/aws/lambda/inv")
        .send()
        .await
        .unwrap();
    let stream = streams
        .log_streams()
        .first()
        .and_then(|s| s.log_stream_name())
        .unwrap_or_default()
        .to_owned();
    assert!(
        stream.contains("/[$LATEST]") && stream.len() == "2024/01/01/[$LATEST]".len() + 32,
        "{stream}"
    );

    // A function error: 200 with X-Amz-Function-Error: Unhandled and the runtime's error document.
    let out = lambda
        .invoke()
        .function_name("inv")
        .payload(Blob::new(r#"{"fail": "boom"}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), Some("Unhandled"));
    let body: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(
        (body["errorType"].as_str(), body["errorMessage"].as_str()),
        (Some("ValueError"), Some("boom"))
    );
    assert!(body["stackTrace"].is_array());

    // A runtime that exits mid-invoke; the next invoke gets a fresh environment.
    let out = lambda
        .invoke()
        .function_name("inv")
        .payload(Blob::new(r#"{"exit": 3}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.function_error(), Some("Unhandled"));
    let body: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(body["errorType"], "Runtime.ExitError");
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.ends_with("Runtime exited with error: exit status 3")),
        "{body}"
    );
    let out = lambda
        .invoke()
        .function_name("inv")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.function_error(), None);

    // A timeout.
    lambda
        .update_function_configuration()
        .function_name("inv")
        .timeout(1)
        .send()
        .await
        .unwrap();
    wait_active(&lambda, "inv").await;
    let started = Instant::now();
    let out = lambda
        .invoke()
        .function_name("inv")
        .payload(Blob::new(r#"{"sleep": 5}"#))
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the deadline is enforced"
    );
    assert_eq!(out.function_error(), Some("Unhandled"));
    let body: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.ends_with("Task timed out after 1.00 seconds")),
        "{body}"
    );
    lambda
        .update_function_configuration()
        .function_name("inv")
        .timeout(30)
        .send()
        .await
        .unwrap();
    wait_active(&lambda, "inv").await;

    // DryRun and Event.
    let out = lambda
        .invoke()
        .function_name("inv")
        .invocation_type(InvocationType::DryRun)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 204);
    let out = lambda
        .invoke()
        .function_name("inv")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 202);

    // Qualifiers: versions and aliases run their own code.
    lambda
        .publish_version()
        .function_name("inv")
        .send()
        .await
        .unwrap();
    lambda
        .update_function_configuration()
        .function_name("inv")
        .environment(Environment::builder().variables("TAG", "latest").build())
        .send()
        .await
        .unwrap();
    wait_active(&lambda, "inv").await;
    lambda
        .create_alias()
        .function_name("inv")
        .name("prod")
        .function_version("1")
        .send()
        .await
        .unwrap();
    let out = lambda
        .invoke()
        .function_name("inv")
        .qualifier("prod")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.executed_version(), Some("1"));
    let body: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(
        (body["version"].as_str(), body["tag"].as_str()),
        (Some("1"), Some("one"))
    );
    assert_eq!(
        body["arn"],
        "arn:aws:lambda:us-east-1:000000000000:function:inv:prod"
    );
    let out = lambda
        .invoke()
        .function_name("inv:$LATEST")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(body["tag"], "latest");

    // Payload limits: above 6 MB is refused; a large response within it comes back whole.
    let big = format!(r#"{{"pad": "{}"}}"#, "x".repeat(6_400_000));
    let (status, code, _) = fail(
        lambda
            .invoke()
            .function_name("inv")
            .payload(Blob::new(big))
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (413, "RequestTooLargeException"));
    let out = lambda
        .invoke()
        .function_name("inv")
        .payload(Blob::new(r#"{"size": 5000000}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.payload().unwrap().as_ref().len(), 5_000_002);

    // Reserved concurrency: 0 throttles everything; 1 throttles the second of two concurrent invokes.
    lambda
        .put_function_concurrency()
        .function_name("inv")
        .reserved_concurrent_executions(0)
        .send()
        .await
        .unwrap();
    let (status, code, _) = fail(
        lambda
            .invoke()
            .function_name("inv")
            .payload(Blob::new("{}"))
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (429, "TooManyRequestsException"));
    lambda
        .put_function_concurrency()
        .function_name("inv")
        .reserved_concurrent_executions(1)
        .send()
        .await
        .unwrap();
    let slow = {
        let lambda = lambda.clone();
        tokio::spawn(async move {
            lambda
                .invoke()
                .function_name("inv")
                .payload(Blob::new(r#"{"sleep": 2}"#))
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, code, _) = fail(
        lambda
            .invoke()
            .function_name("inv")
            .payload(Blob::new("{}"))
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (429, "TooManyRequestsException"));
    assert!(slow.await.unwrap().is_ok());
}

#[tokio::test]
async fn concurrent_invokes_get_their_own_answers() {
    let skyport = local();
    let lambda = client(&skyport.endpoint());
    create(&lambda, "par", HANDLER).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let lambda = lambda.clone();
        tasks.push(tokio::spawn(async move {
            let out = lambda
                .invoke()
                .function_name("par")
                .payload(Blob::new(format!(r#"{{"n": {i}, "sleep": 0.3}}"#)))
                .send()
                .await
                .unwrap();
            let body: serde_json::Value =
                serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
            assert_eq!(body["event"]["n"], i, "no cross-talk");
            body["request_id"].as_str().unwrap().to_owned()
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    assert_eq!(ids.len(), 20);
}

fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// `S3Bucket`/`S3Key` code is read from Skyport's S3 (a version too), on create and on
/// `UpdateFunctionCode`; a missing bucket or key fails as AWS fails it.
#[tokio::test]
async fn code_from_s3_objects() {
    let skyport = local();
    let lambda = client(&skyport.endpoint());
    let s3 = s3_client(&skyport.endpoint());
    s3.create_bucket().bucket("code").send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket("code")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let v1 = s3
        .put_object()
        .bucket("code")
        .key("fn.zip")
        .body(zip_of("handler.py", "def main(e, c):\n    return 'one'\n").into())
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("code")
        .key("fn.zip")
        .body(zip_of("handler.py", "def main(e, c):\n    return 'two'\n").into())
        .send()
        .await
        .unwrap();

    let code = |key: &str, version: Option<&str>| {
        FunctionCode::builder()
            .s3_bucket("code")
            .s3_key(key)
            .set_s3_object_version(version.map(str::to_owned))
            .build()
    };
    let create = |name: &str, code: FunctionCode| {
        lambda
            .create_function()
            .function_name(name)
            .runtime(Runtime::Python311)
            .role(ROLE)
            .handler("handler.main")
            .code(code)
            .send()
    };
    let latest = create("from-s3", code("fn.zip", None)).await.unwrap();
    assert!(latest.code_size() > 0);
    wait_active(&lambda, "from-s3").await;
    create("from-s3-v1", code("fn.zip", v1.version_id()))
        .await
        .unwrap();
    wait_active(&lambda, "from-s3-v1").await;
    let answer = |name: &'static str| {
        let call = lambda.invoke().function_name(name).send();
        async move {
            let out = call.await.unwrap();
            let payload = out.payload().map(|b| b.as_ref().to_vec());
            String::from_utf8(payload.unwrap_or_default()).unwrap()
        }
    };
    assert_eq!(answer("from-s3").await, "\"two\"");
    assert_eq!(answer("from-s3-v1").await, "\"one\"");

    // UpdateFunctionCode from S3 switches the code.
    lambda
        .update_function_code()
        .function_name("from-s3")
        .s3_bucket("code")
        .s3_key("fn.zip")
        .s3_object_version(v1.version_id().unwrap())
        .send()
        .await
        .unwrap();
    wait_active(&lambda, "from-s3").await;
    assert_eq!(answer("from-s3").await, "\"one\"");

    let (status, code_, message) = fail(create("no-key", code("missing.zip", None)).await);
    assert_eq!(
        (status, code_.as_str()),
        (400, "InvalidParameterValueException")
    );
    assert_eq!(
        message,
        "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist."
    );
    let no_bucket = FunctionCode::builder()
        .s3_bucket("no-such-bucket")
        .s3_key("fn.zip")
        .build();
    let (status, code_, message) = fail(create("no-bucket", no_bucket).await);
    assert_eq!(
        (status, code_.as_str()),
        (400, "InvalidParameterValueException")
    );
    assert_eq!(
        message,
        "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does not exist"
    );
}

/// A zip with several files.
fn zip_files(files: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o644);
    for (name, text) in files {
        w.start_file(*name, options).unwrap();
        w.write_all(text.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[tokio::test]
async fn layers_are_published_listed_shared_and_stacked_into_opt() {
    use aws_sdk_lambda::types::{Architecture, LayerVersionContentInput};
    let skyport = local();
    let lambda = client(&skyport.endpoint());
    let publish = |name: &'static str, files: Vec<(&'static str, &'static str)>| {
        let lambda = lambda.clone();
        async move {
            lambda
                .publish_layer_version()
                .layer_name(name)
                .description(format!("{name} layer"))
                .compatible_runtimes(Runtime::Python311)
                .compatible_architectures(Architecture::X8664)
                .license_info("MIT")
                .content(
                    LayerVersionContentInput::builder()
                        .zip_file(Blob::new(zip_files(&files)))
                        .build(),
                )
                .send()
                .await
                .unwrap()
        }
    };
    // Two versions of one layer, one of another: versions count from 1.
    let shared_v1 = publish("shared", vec![("python/shared.py", "VALUE = 'one'\n")]).await;
    assert_eq!(shared_v1.version(), 1);
    assert_eq!(
        shared_v1.layer_version_arn(),
        Some("arn:aws:lambda:us-east-1:000000000000:layer:shared:1")
    );
    assert_eq!(
        shared_v1.layer_arn(),
        Some("arn:aws:lambda:us-east-1:000000000000:layer:shared")
    );
    let content = shared_v1.content().unwrap();
    assert!(content.code_size() > 0);
    assert_eq!(content.code_sha256().unwrap().len(), 44, "base64 SHA-256");
    // Content.Location downloads the zip.
    let zip = reqwest_get(content.location().unwrap()).await;
    assert_eq!(zip.len() as i64, content.code_size());
    let shared_v2 = publish(
        "shared",
        vec![
            ("python/shared.py", "VALUE = 'two'\n"),
            (
                "python/lib/python3.11/site-packages/deep.py",
                "DEEP = 'deep'\n",
            ),
        ],
    )
    .await;
    assert_eq!(shared_v2.version(), 2);
    let over = publish(
        "over",
        vec![
            ("python/shared.py", "VALUE = 'overridden'\n"),
            ("bin/tool", "#!/bin/sh\n"),
        ],
    )
    .await;

    // Get, by name and by ARN; List newest first; ListLayers the latest matching version.
    let got = lambda
        .get_layer_version()
        .layer_name("shared")
        .version_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(got.description(), Some("shared layer"));
    assert_eq!(got.license_info(), Some("MIT"));
    assert_eq!(got.compatible_runtimes(), &[Runtime::Python311]);
    assert!(got.created_date().unwrap().ends_with("+0000"));
    let by_arn = lambda
        .get_layer_version_by_arn()
        .arn(shared_v2.layer_version_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(by_arn.version(), 2);
    let versions = lambda
        .list_layer_versions()
        .layer_name("shared")
        .send()
        .await
        .unwrap();
    let numbers: Vec<i64> = versions
        .layer_versions()
        .iter()
        .map(|v| v.version())
        .collect();
    assert_eq!(numbers, vec![2, 1]);
    let page = lambda
        .list_layer_versions()
        .layer_name("shared")
        .max_items(1)
        .send()
        .await
        .unwrap();
    assert_eq!(page.layer_versions().len(), 1);
    let rest = lambda
        .list_layer_versions()
        .layer_name("shared")
        .marker(page.next_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.layer_versions()[0].version(), 1);
    assert!(rest.next_marker().is_none());
    let none = lambda
        .list_layer_versions()
        .layer_name("shared")
        .compatible_runtime(Runtime::Nodejs20x)
        .send()
        .await
        .unwrap();
    assert!(none.layer_versions().is_empty());
    let layers = lambda.list_layers().send().await.unwrap();
    let latest: Vec<(String, i64)> = layers
        .layers()
        .iter()
        .map(|l| {
            (
                l.layer_name().unwrap().to_owned(),
                l.latest_matching_version().unwrap().version(),
            )
        })
        .collect();
    assert_eq!(
        latest,
        vec![("over".to_owned(), 1), ("shared".to_owned(), 2)]
    );

    // A function using both: the later layer's file wins, site-packages is on the path, bin/ on PATH.
    let code = r#"
import os, shared, deep
def main(event, context):
    return {"value": shared.VALUE, "deep": deep.DEEP,
            "tool": any(os.path.exists(os.path.join(p, "tool")) for p in os.environ["PATH"].split(":"))}
"#;
    lambda
        .create_function()
        .function_name("with-layers")
        .runtime(Runtime::Python311)
        .role(ROLE)
        .handler("handler.main")
        .layers(shared_v2.layer_version_arn().unwrap())
        .layers(over.layer_version_arn().unwrap())
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip_of("handler.py", code)))
                .build(),
        )
        .send()
        .await
        .unwrap();
    wait_active(&lambda, "with-layers").await;
    let config = lambda
        .get_function_configuration()
        .function_name("with-layers")
        .send()
        .await
        .unwrap();
    let reported: Vec<(&str, i64)> = config
        .layers()
        .iter()
        .map(|l| (l.arn().unwrap(), l.code_size()))
        .collect();
    assert_eq!(reported.len(), 2);
    assert_eq!(reported[0].0, shared_v2.layer_version_arn().unwrap());
    assert_eq!(reported[0].1, shared_v2.content().unwrap().code_size());
    let out = lambda
        .invoke()
        .function_name("with-layers")
        .send()
        .await
        .unwrap();
    assert!(out.function_error().is_none(), "{out:?}");
    let result: serde_json::Value =
        serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(
        result,
        serde_json::json!({"value": "overridden", "deep": "deep", "tool": true})
    );
    // UpdateFunctionConfiguration swaps the layers; the next invoke runs with them.
    lambda
        .update_function_configuration()
        .function_name("with-layers")
        .layers(shared_v1.layer_version_arn().unwrap())
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let value = loop {
        let out = lambda
            .invoke()
            .function_name("with-layers")
            .send()
            .await
            .unwrap();
        let payload: serde_json::Value =
            serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
        // Version 1 has no `deep` module: the import fails, as on AWS.
        if out.function_error().is_some() {
            break payload["errorMessage"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the old layers stayed: {payload}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(value.contains("deep"), "{value}");

    // AWS's errors.
    let missing = "arn:aws:lambda:us-east-1:000000000000:layer:shared:9";
    let (status, code, message) = fail(
        lambda
            .update_function_configuration()
            .function_name("with-layers")
            .layers(missing)
            .send()
            .await,
    );
    assert_eq!(
        (status, code.as_str()),
        (400, "InvalidParameterValueException")
    );
    assert_eq!(message, format!("Layer version {missing} does not exist."));
    let (status, code, message) = fail(
        lambda
            .update_function_configuration()
            .function_name("with-layers")
            .layers(shared_v1.layer_version_arn().unwrap())
            .layers(shared_v2.layer_version_arn().unwrap())
            .send()
            .await,
    );
    assert_eq!(
        (status, code.as_str()),
        (400, "InvalidParameterValueException")
    );
    assert!(
        message.starts_with("Two different versions of the same layer"),
        "{message}"
    );
    let mut too_many = lambda
        .update_function_configuration()
        .function_name("with-layers");
    for _ in 0..6 {
        too_many = too_many.layers(over.layer_version_arn().unwrap());
    }
    let (status, code, message) = fail(too_many.send().await);
    assert_eq!(
        (status, code.as_str()),
        (400, "InvalidParameterValueException")
    );
    assert_eq!(message, "Cannot reference more than 5 layers.");
    let (status, code, _) = fail(
        lambda
            .get_layer_version()
            .layer_name("shared")
            .version_number(7)
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));

    // Permissions on a layer version.
    let (status, code, message) = fail(
        lambda
            .get_layer_version_policy()
            .layer_name("shared")
            .version_number(1)
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));
    assert_eq!(message, "No policy is associated with the given resource.");
    let added = lambda
        .add_layer_version_permission()
        .layer_name("shared")
        .version_number(1)
        .statement_id("xaccount")
        .action("lambda:GetLayerVersion")
        .principal("111122223333")
        .send()
        .await
        .unwrap();
    let statement: serde_json::Value = serde_json::from_str(added.statement().unwrap()).unwrap();
    assert_eq!(
        statement["Principal"]["AWS"],
        "arn:aws:iam::111122223333:root"
    );
    assert_eq!(
        statement["Resource"],
        "arn:aws:lambda:us-east-1:000000000000:layer:shared:1"
    );
    let (status, code, _) = fail(
        lambda
            .add_layer_version_permission()
            .layer_name("shared")
            .version_number(1)
            .statement_id("xaccount")
            .action("lambda:GetLayerVersion")
            .principal("*")
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (409, "ResourceConflictException"));
    let policy = lambda
        .get_layer_version_policy()
        .layer_name("shared")
        .version_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(policy.revision_id(), added.revision_id());
    let doc: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(doc["Statement"][0]["Sid"], "xaccount");
    lambda
        .remove_layer_version_permission()
        .layer_name("shared")
        .version_number(1)
        .statement_id("xaccount")
        .send()
        .await
        .unwrap();
    let (status, code, _) = fail(
        lambda
            .remove_layer_version_permission()
            .layer_name("shared")
            .version_number(1)
            .statement_id("xaccount")
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));

    // Deleting is idempotent; the numbers go on; a function keeps the version it uses.
    for _ in 0..2 {
        lambda
            .delete_layer_version()
            .layer_name("shared")
            .version_number(2)
            .send()
            .await
            .unwrap();
    }
    let v3 = publish("shared", vec![("python/shared.py", "VALUE = 'three'\n")]).await;
    assert_eq!(v3.version(), 3);
    let versions = lambda
        .list_layer_versions()
        .layer_name("shared")
        .send()
        .await
        .unwrap();
    let numbers: Vec<i64> = versions
        .layer_versions()
        .iter()
        .map(|v| v.version())
        .collect();
    assert_eq!(numbers, vec![3, 1]);
}

/// `curl -si` with extra arguments; the response head and body as text.
fn curl_i(args: &[&str]) -> String {
    let out = std::process::Command::new("curl")
        .arg("-si")
        .args(args)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn function_urls_answer_on_their_aws_names_with_tls() {
    use aws_sdk_lambda::types::{Cors, FunctionUrlAuthType};
    if !common::require("curl") {
        return;
    }
    let skyport = local();
    let lambda = client(&skyport.endpoint());
    let port = skyport.port();
    let code = r#"
import base64, json
def main(event, context):
    if event.get("rawPath") == "/plain":
        return {"plain": True}
    if event.get("rawPath") == "/fail":
        raise ValueError("boom")
    body = event.get("body")
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).hex()
    return {"statusCode": 201, "headers": {"x-echo": "yes", "content-type": "application/json"},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": json.dumps({"path": event["rawPath"], "query": event.get("queryStringParameters"),
                                "cookies": event.get("cookies"), "method": event["requestContext"]["http"]["method"],
                                "body": body, "domain": event["requestContext"]["domainName"],
                                "header": event["headers"].get("x-custom"), "version": event["version"]})}
"#;
    create(&lambda, "web", code).await;
    let created = lambda
        .create_function_url_config()
        .function_name("web")
        .auth_type(FunctionUrlAuthType::None)
        .cors(
            Cors::builder()
                .allow_origins("https://example.com")
                .allow_methods("GET")
                .allow_methods("POST")
                .expose_headers("x-echo")
                .max_age(60)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let url = created.function_url().to_owned();
    let host = url
        .strip_prefix("https://")
        .and_then(|u| u.strip_suffix('/'))
        .unwrap()
        .to_owned();
    let (id, rest) = host.split_once('.').unwrap();
    assert_eq!(id.len(), 32, "{url}");
    assert_eq!(rest, "lambda-url.us-east-1.on.aws");
    assert_eq!(
        created.function_arn(),
        "arn:aws:lambda:us-east-1:000000000000:function:web"
    );
    assert_eq!(created.invoke_mode().map(|m| m.as_str()), Some("BUFFERED"));
    let (status, code_, _) = fail(
        lambda
            .create_function_url_config()
            .function_name("web")
            .auth_type(FunctionUrlAuthType::None)
            .send()
            .await,
    );
    assert_eq!((status, code_.as_str()), (409, "ResourceConflictException"));

    // The CA Skyport serves, for curl.
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        ca.path(),
        reqwest_get(&format!("{}/_skyport/certs/ca.pem", skyport.endpoint())).await,
    )
    .unwrap();
    let resolve = format!("{host}:{port}:127.0.0.1");
    let https = |path: &str| format!("https://{host}:{port}{path}");
    let ca_path = ca.path().to_str().unwrap().to_owned();
    let tls = |extra: &[&str], path: &str| {
        let mut args = vec!["--resolve", &resolve, "--cacert", &ca_path];
        args.extend_from_slice(extra);
        let target = https(path);
        let mut all: Vec<&str> = args.clone();
        all.push(&target);
        curl_i(&all)
    };

    // Without a policy that lets anyone call it, an auth type NONE URL is forbidden, as on AWS.
    let out = tls(&[], "/echo");
    assert!(
        out.starts_with("HTTP/2 403") || out.starts_with("HTTP/1.1 403"),
        "{out}"
    );
    assert!(out.contains(r#"{"Message":"Forbidden"}"#), "{out}");
    lambda
        .add_permission()
        .function_name("web")
        .statement_id("FunctionURLAllowPublicAccess")
        .action("lambda:InvokeFunctionUrl")
        .principal("*")
        .function_url_auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();

    // A request becomes the 2.0 event; the result object becomes the response.
    let out = tls(
        &["-H", "Cookie: c1=v1; c2=v2", "-H", "x-custom: hello"],
        "/echo?x=1&x=2&y=3",
    );
    let lower = out.to_ascii_lowercase();
    assert!(out.contains(" 201"), "{out}");
    assert!(lower.contains("x-echo: yes"), "{out}");
    assert_eq!(lower.matches("set-cookie:").count(), 2, "{out}");
    let body: serde_json::Value =
        serde_json::from_str(out.split("\r\n\r\n").last().unwrap()).unwrap();
    assert_eq!(body["path"], "/echo");
    assert_eq!(body["query"], serde_json::json!({"x": "1,2", "y": "3"}));
    assert_eq!(body["cookies"], serde_json::json!(["c1=v1", "c2=v2"]));
    assert_eq!(body["method"], "GET");
    assert_eq!(body["header"], "hello");
    assert_eq!(body["domain"], host.as_str());
    assert_eq!(body["version"], "2.0");
    // A binary body arrives base64-encoded.
    let out = tls(
        &[
            "-X",
            "POST",
            "-H",
            "content-type: application/octet-stream",
            "--data-binary",
            "\u{1}\u{2}\u{3}",
        ],
        "/bin",
    );
    let body: serde_json::Value =
        serde_json::from_str(out.split("\r\n\r\n").last().unwrap()).unwrap();
    assert_eq!(body["method"], "POST");
    assert_eq!(body["body"], "010203");
    // Any other JSON result is a 200 application/json body; a function error is a 502.
    let out = tls(&[], "/plain");
    assert!(out.contains(" 200"), "{out}");
    assert!(
        out.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{out}"
    );
    assert!(out.ends_with(r#"{"plain": true}"#), "{out}");
    let out = tls(&[], "/fail");
    assert!(out.contains(" 502"), "{out}");
    // CORS: the preflight is answered from the configuration; responses carry its headers.
    let out = tls(
        &[
            "-X",
            "OPTIONS",
            "-H",
            "Origin: https://example.com",
            "-H",
            "Access-Control-Request-Method: POST",
        ],
        "/echo",
    )
    .to_ascii_lowercase();
    assert!(out.contains(" 200"), "{out}");
    assert!(
        out.contains("access-control-allow-origin: https://example.com"),
        "{out}"
    );
    assert!(
        out.contains("access-control-allow-methods: get,post"),
        "{out}"
    );
    assert!(out.contains("access-control-max-age: 60"), "{out}");
    let out = tls(&["-H", "Origin: https://example.com"], "/echo").to_ascii_lowercase();
    assert!(
        out.contains("access-control-allow-origin: https://example.com"),
        "{out}"
    );
    assert!(
        out.contains("access-control-expose-headers: x-echo"),
        "{out}"
    );
    let out = tls(&["-H", "Origin: https://evil.example"], "/echo").to_ascii_lowercase();
    assert!(!out.contains("access-control-allow-origin"), "{out}");
    // LocalStack's form of the name, over plain HTTP on the same port.
    let local_host = format!("{id}.lambda-url.us-east-1.localhost.localstack.cloud");
    let local_resolve = format!("{local_host}:{port}:127.0.0.1");
    let out = curl_i(&[
        "--resolve",
        &local_resolve,
        &format!("http://{local_host}:{port}/plain"),
    ]);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");

    // Get, List, Update (AWS_IAM: an unsigned request is forbidden), Delete.
    let got = lambda
        .get_function_url_config()
        .function_name("web")
        .send()
        .await
        .unwrap();
    assert_eq!(got.function_url(), url);
    assert_eq!(got.cors().unwrap().max_age(), Some(60));
    let listed = lambda
        .list_function_url_configs()
        .function_name("web")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.function_url_configs().len(), 1);
    let updated = lambda
        .update_function_url_config()
        .function_name("web")
        .auth_type(FunctionUrlAuthType::AwsIam)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.auth_type(), &FunctionUrlAuthType::AwsIam);
    assert_eq!(updated.creation_time(), created.creation_time());
    let out = tls(&[], "/plain");
    assert!(out.contains(" 403"), "{out}");
    lambda
        .delete_function_url_config()
        .function_name("web")
        .send()
        .await
        .unwrap();
    let (status, code_, _) = fail(
        lambda
            .get_function_url_config()
            .function_name("web")
            .send()
            .await,
    );
    assert_eq!((status, code_.as_str()), (404, "ResourceNotFoundException"));
    let out = tls(&[], "/plain");
    assert!(out.contains(" 403"), "{out}");
    // An alias's URL needs the alias.
    let (status, code_, _) = fail(
        lambda
            .create_function_url_config()
            .function_name("web")
            .qualifier("live")
            .auth_type(FunctionUrlAuthType::None)
            .send()
            .await,
    );
    assert_eq!((status, code_.as_str()), (404, "ResourceNotFoundException"));
}

#[tokio::test]
async fn hot_reloaded_code_runs_its_latest_files_without_an_api_call() {
    let skyport = local();
    let lambda = client(&skyport.endpoint());
    let dir = tempfile::tempdir().unwrap();
    let write = |value: &str| {
        std::fs::write(
            dir.path().join("handler.py"),
            format!("def main(event, context):\n    return {{'value': '{value}'}}\n"),
        )
        .unwrap();
    };
    write("one");
    lambda
        .create_function()
        .function_name("hot")
        .runtime(Runtime::Python311)
        .role(ROLE)
        .handler("handler.main")
        .code(
            FunctionCode::builder()
                .s3_bucket("hot-reload")
                .s3_key(dir.path().to_str().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    wait_active(&lambda, "hot").await;
    let value = |lambda: Client| async move {
        let out = lambda.invoke().function_name("hot").send().await.unwrap();
        assert!(out.function_error().is_none(), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
        v["value"].as_str().unwrap().to_owned()
    };
    assert_eq!(value(lambda.clone()).await, "one");
    assert_eq!(value(lambda.clone()).await, "one", "a warm environment");
    // The file changes on the host; the next invoke starts a fresh environment with it.
    write("two, a longer value");
    assert_eq!(value(lambda.clone()).await, "two, a longer value");
    // A relative path is refused.
    let (status, code, _) = fail(
        lambda
            .create_function()
            .function_name("hot-relative")
            .runtime(Runtime::Python311)
            .role(ROLE)
            .handler("handler.main")
            .code(
                FunctionCode::builder()
                    .s3_bucket("hot-reload")
                    .s3_key("relative/dir")
                    .build(),
            )
            .send()
            .await,
    );
    assert_eq!(
        (status, code.as_str()),
        (400, "InvalidParameterValueException")
    );
}

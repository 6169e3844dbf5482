//! The Rust test function for Skyport's Lambda tests (runtime `provided.al2023`, handler ignored): the
//! same event contract as `../python_callback/handler.py`.
//!
//! The code has no endpoint configuration at all: the SDK calls AWS's real hostnames
//! (`sts.<region>.amazonaws.com`, `<bucket>.s3.<region>.amazonaws.com`, `sqs.<region>.amazonaws.com`)
//! and verifies TLS; inside Skyport's Lambda the container's DNS server and CA bundle make those names
//! reach Skyport. The SDK's default HTTPS client (hyper + rustls) takes its roots from
//! rustls-native-certs, which reads `SSL_CERT_FILE` (else the system bundle,
//! /etc/ssl/certs/ca-certificates.crt).
//!
//! Event keys, in the order they are handled:
//! - `print`: printed to stdout (the function's log); a string as is, anything else as JSON;
//! - `sleep`: seconds (a number) to sleep;
//! - `exit`: exits the process at once with that code (no response is sent);
//! - `fail`: the invocation fails with errorType `ValueError` and the value as errorMessage;
//! - `echo_size`: the response is a JSON string of that many bytes (`"xxx…"`), nothing else is done;
//! - `bucket` + `key` + `body`: PutObject (virtual-host addressing, the SDK's default);
//! - `queue` (a queue name) + `message`: GetQueueUrl + SendMessage;
//!
//! then the response: `{"identity": {UserId, Account, Arn} from STS GetCallerIdentity, "env": {selected
//! variables that are set}, "request_id", "remaining_ms"}`, plus `"put": {"ETag"}` and `"sent":
//! {"MessageId", "QueueUrl"}` when those calls were made.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::ByteStream;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Map, Value, json};

/// The environment variables the response reports (those that are set), the same list as the Python
/// function's; also every variable whose name starts with `TEST_` (a function's own configuration).
const ENV_KEYS: &[&str] = &[
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_EXECUTION_ENV",
    "AWS_XRAY_CONTEXT_MISSING",
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "TZ",
    "LANG",
    "PATH",
    "LD_LIBRARY_PATH",
    "PYTHONPATH",
    "SSL_CERT_FILE",
    "AWS_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
];

struct Clients {
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    sts: aws_sdk_sts::Client,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Region and credentials from the environment (AWS_REGION, AWS_ACCESS_KEY_ID, ...), as on AWS.
    let config = aws_config::load_from_env().await;
    let clients = Clients {
        s3: aws_sdk_s3::Client::new(&config),
        sqs: aws_sdk_sqs::Client::new(&config),
        sts: aws_sdk_sts::Client::new(&config),
    };
    let clients = &clients;
    lambda_runtime::run(service_fn(move |event| handle(clients, event))).await
}

async fn handle(clients: &Clients, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let (event, context) = event.into_parts();
    let get = |key: &str| event.get(key).filter(|v| truthy(v));

    if let Some(value) = get("print") {
        println!("{}", text(value));
    }
    if let Some(value) = get("sleep") {
        let seconds =
            number(value).ok_or_else(|| value_error(format!("sleep: not a number: {value}")))?;
        tokio::time::sleep(Duration::from_secs_f64(seconds.max(0.0))).await;
    }
    if let Some(value) = get("exit") {
        let code =
            number(value).ok_or_else(|| value_error(format!("exit: not a number: {value}")))?;
        std::process::exit(code as i32);
    }
    if let Some(value) = get("fail") {
        return Err(value_error(text(value)));
    }
    if let Some(value) = get("echo_size") {
        let size = number(value)
            .ok_or_else(|| value_error(format!("echo_size: not a number: {value}")))?;
        return Ok(Value::String("x".repeat(size as usize)));
    }

    let mut response = Map::new();
    if let (Some(bucket), Some(key), Some(body)) =
        (event.get("bucket"), event.get("key"), event.get("body"))
    {
        let output = clients
            .s3
            .put_object()
            .bucket(text(bucket))
            .key(text(key))
            .body(ByteStream::from(text(body).into_bytes()))
            .send()
            .await
            .map_err(sdk_error)?;
        response.insert("put".into(), json!({"ETag": output.e_tag()}));
    }
    if let Some(queue) = event.get("queue") {
        let url = clients
            .sqs
            .get_queue_url()
            .queue_name(text(queue))
            .send()
            .await
            .map_err(sdk_error)?;
        let url = url.queue_url().unwrap_or_default().to_owned();
        let message = event.get("message").map(text).unwrap_or_default();
        let output = clients
            .sqs
            .send_message()
            .queue_url(&url)
            .message_body(message)
            .send()
            .await
            .map_err(sdk_error)?;
        response.insert(
            "sent".into(),
            json!({"MessageId": output.message_id(), "QueueUrl": url}),
        );
    }

    let identity = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(sdk_error)?;
    response.insert(
        "identity".into(),
        json!({"UserId": identity.user_id(), "Account": identity.account(), "Arn": identity.arn()}),
    );
    let mut env = Map::new();
    for (key, value) in std::env::vars() {
        if ENV_KEYS.contains(&key.as_str()) || key.starts_with("TEST_") {
            env.insert(key, Value::String(value));
        }
    }
    response.insert("env".into(), Value::Object(env));
    response.insert(
        "request_id".into(),
        Value::String(context.request_id.clone()),
    );
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    response.insert(
        "remaining_ms".into(),
        json!(context.deadline.saturating_sub(now_ms)),
    );
    Ok(Value::Object(response))
}

/// Python's truthiness for JSON values: `null`, `false`, `0`, `""`, `[]` and `{}` are false.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A string as is, anything else as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A number, or a string holding one (like Python's `int("3")`).
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn value_error(message: String) -> Diagnostic {
    Diagnostic {
        error_type: "ValueError".into(),
        error_message: message,
    }
}

/// An SDK error: the service's error code as the type when there is one (like botocore's modeled
/// exceptions), with the whole error chain as the message.
fn sdk_error<E, R>(error: aws_sdk_s3::error::SdkError<E, R>) -> Diagnostic
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let error_type = error.code().unwrap_or("SdkError").to_owned();
    Diagnostic {
        error_type,
        error_message: DisplayErrorContext(&error).to_string(),
    }
}

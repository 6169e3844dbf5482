//! Helpers shared by the Lambda trigger tests (`tests/lambda_triggers.rs`, `tests/lambda_ddb_streams.rs`):
//! SDK clients, Skyport with the local executor (Python functions as host processes), functions made
//! from one Python file, queues, mapping states, queue reads and failed calls.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime, State};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use super::common::{Options, Skyport};

/// The execution role functions are created with.
pub const ROLE: &str = "arn:aws:iam::000000000000:role/lambda-role";

/// A Lambda client for `endpoint`.
pub fn lambda_client(endpoint: &str) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .region(aws_sdk_lambda::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

/// An SQS client for `endpoint`.
pub fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// A zip holding one executable file.
pub fn zip_of(name: &str, text: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    w.start_file(name, options).unwrap();
    w.write_all(text.as_bytes()).unwrap();
    w.finish().unwrap().into_inner()
}

/// Skyport with the local executor and short retries; persistent in `state` when given.
pub fn start(state: Option<&Path>) -> Skyport {
    let mut options = Options::default()
        .env("LAMBDA_EXECUTOR", "local")
        .env("SKYPORT_LAMBDA_RETRY_BASE_MS", "100");
    if let Some(dir) = state {
        options = options.state_dir(dir).env("PERSISTENCE", "1");
    }
    Skyport::start_with(options)
}

/// Creates a Python function writing to `out`, and waits until it is `Active`.
pub async fn create_function(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    code: &str,
    out: &Path,
    extra: &[(&str, &str)],
) {
    let mut env = Environment::builder().variables("OUT", out.to_string_lossy());
    for (k, v) in extra {
        env = env.variables(*k, *v);
    }
    lambda
        .create_function()
        .function_name(name)
        .runtime(Runtime::Python311)
        .role(ROLE)
        .handler("handler.main")
        .timeout(2)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip_of("handler.py", code)))
                .build(),
        )
        .environment(env.build())
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .unwrap();
        if c.state() == Some(&State::Active) {
            return;
        }
        assert!(Instant::now() < deadline, "{name} never became Active");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates queue `name` with `attributes`; its URL and ARN.
pub async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &[(QueueAttributeName, &str)],
) -> (String, String) {
    let mut req = sqs.create_queue().queue_name(name);
    for (k, v) in attributes {
        req = req.attributes(k.clone(), *v);
    }
    let url = req.send().await.unwrap().queue_url.unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    (url, arn)
}

/// Waits until mapping `uuid` is in `state`.
pub async fn wait_state(lambda: &aws_sdk_lambda::Client, uuid: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = lambda
            .get_event_source_mapping()
            .uuid(uuid)
            .send()
            .await
            .unwrap();
        if m.state() == Some(state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "mapping never became {state}: {m:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Enables or disables mapping `uuid` and waits until it is `Enabled` or `Disabled`.
pub async fn set_enabled(lambda: &aws_sdk_lambda::Client, uuid: &str, enabled: bool) {
    lambda
        .update_event_source_mapping()
        .uuid(uuid)
        .enabled(enabled)
        .send()
        .await
        .unwrap();
    wait_state(lambda, uuid, if enabled { "Enabled" } else { "Disabled" }).await;
}

/// (HTTP status, error code, message) of a failed call.
pub fn fail<E, R>(
    r: Result<R, aws_sdk_lambda::error::SdkError<E, aws_sdk_lambda::config::http::HttpResponse>>,
) -> (u16, String, String)
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let err = r.expect_err("the call should fail");
    let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    let (code, message) = err
        .as_service_error()
        .map(|e| {
            (
                e.code().unwrap_or("").to_owned(),
                e.message().unwrap_or("").to_owned(),
            )
        })
        .unwrap_or_default();
    (status, code, message)
}

/// Waits for messages on `url`, deletes and returns them.
pub async fn receive_messages(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Vec<aws_sdk_sqs::types::Message> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        if !got.messages().is_empty() {
            for m in got.messages() {
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            return got.messages().to_vec();
        }
        assert!(Instant::now() < deadline, "nothing arrived in {url}");
    }
}

/// Waits for one message on `url`; its body as JSON.
pub async fn receive_one(sqs: &aws_sdk_sqs::Client, url: &str) -> Value {
    let got = receive_messages(sqs, url).await;
    assert_eq!(got.len(), 1, "{got:?}");
    serde_json::from_str(got[0].body().unwrap()).unwrap()
}

/// A scratch directory and the file in it a function writes what it gets to.
pub fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("seen.jsonl");
    (dir, out)
}

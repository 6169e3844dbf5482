//! Helpers shared by the reliability tests (`tests/reliability_*.rs`): SDK clients without retries (a
//! retried call would hide the error the test wants to see), deterministic object contents, the resident
//! memory of a process, the long-variant switch, a small pseudo-random generator and an SQS batch send.
#![allow(dead_code)]

use std::time::Duration;

use aws_credential_types::Credentials;

/// True when `SKYPORT_LONG_TESTS=1`: the long variants (minutes, GiBs) run.
pub fn long() -> bool {
    std::env::var("SKYPORT_LONG_TESTS").is_ok_and(|v| v == "1")
}

fn creds() -> Credentials {
    Credentials::new("test", "test", None, None, "test")
}

fn timeouts() -> aws_sdk_s3::config::timeout::TimeoutConfig {
    aws_sdk_s3::config::timeout::TimeoutConfig::builder()
        .operation_timeout(Duration::from_secs(60))
        .build()
}

/// An S3 client (path style) that never retries.
pub fn s3(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(creds())
        .force_path_style(true)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .timeout_config(timeouts())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// An SQS client that never retries.
pub fn sqs(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(creds())
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled())
        .timeout_config(timeouts())
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// An STS client that never retries.
pub fn sts(endpoint: &str) -> aws_sdk_sts::Client {
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(creds())
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
        .timeout_config(timeouts())
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

/// A xorshift64 generator: reproducible pseudo-random numbers without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// Seeded from the clock (the seed is printed so a failure can be replayed).
    pub fn from_clock(what: &str) -> Rng {
        let seed = std::env::var("SKYPORT_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("{what}: SKYPORT_TEST_SEED={seed}");
        Rng::new(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// The content stored under `key`: `max_len` bytes at most, its length and bytes derived from the key, so
/// a reader can check an object without remembering what was written.
pub fn content(key: &str, max_len: u64) -> Vec<u8> {
    let mut rng = Rng::new(fnv(key));
    let len = rng.next() % (max_len + 1);
    let mut out = Vec::with_capacity(len as usize + 8);
    while (out.len() as u64) < len {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(len as usize);
    out
}

/// The resident set size of process `pid` in KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc status")
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out
}

/// The (HTTP status, AWS error code) of a failed SDK call; panics if the call succeeded or the failure
/// carried no AWS-shaped error (a dropped connection, a non-AWS body).
pub fn aws_failure<E, R>(
    r: Result<
        R,
        aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
    >,
) -> (u16, String)
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let err = r.expect_err("the call should fail");
    let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    let code = match err.as_service_error().and_then(|e| e.code()) {
        Some(code) => code.to_owned(),
        None => panic!("not an AWS-shaped error: {err:?}"),
    };
    (status, code)
}

/// Sends `bodies` (at most 10) in one `SendMessageBatch` (entry ids `e0`, `e1`, ...) and asserts that
/// every entry succeeded.
pub async fn send_batch(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    bodies: impl IntoIterator<Item = String>,
) {
    let entries: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(format!("e{i}"))
                .message_body(body)
                .build()
                .expect("entry")
        })
        .collect();
    let sent = entries.len();
    let out = sqs
        .send_message_batch()
        .queue_url(url)
        .set_entries(Some(entries))
        .send()
        .await
        .unwrap_or_else(|e| panic!("SendMessageBatch: {e:?}"));
    assert!(out.failed().is_empty(), "{:?}", out.failed());
    assert_eq!(out.successful().len(), sent);
}

//! Sends one S3 `ListBuckets` over HTTPS with the official Rust SDK (rustls, its default TLS setup) to
//! `https://<name>:<port>/`, where `<name>` resolves to 127.0.0.1 through a resolver of its own (the system
//! resolver is never asked). Used by `certs/tests/data/client_hellos/capture.py` to record the SDK's
//! ClientHello; the request itself is expected to fail, as the capture server never answers.
//!
//!     cargo run --example client_hello_sdk -- s3.eu-west-1.amazonaws.com 44321

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};

/// Answers 127.0.0.1 for one name and refuses every other.
#[derive(Debug, Clone)]
struct Loopback(String);

impl ResolveDns for Loopback {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        if name == self.0 {
            DnsFuture::ready(Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]))
        } else {
            DnsFuture::ready(Err(ResolveDnsError::new(format!(
                "only {} is known here, not {name}",
                self.0
            ))))
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (Some(name), Some(port)) = (args.next(), args.next()) else {
        return Err("usage: client_hello_sdk <name> <port>".into());
    };
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .build_with_resolver(Loopback(name.clone()));
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("eu-west-1"))
        .endpoint_url(format!("https://{name}:{port}"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(3))
                .build(),
        )
        .http_client(http_client)
        .build();
    // The capture server records the ClientHello and hangs up: the call fails by design.
    let _ = aws_sdk_s3::Client::from_conf(config)
        .list_buckets()
        .send()
        .await;
    Ok(())
}

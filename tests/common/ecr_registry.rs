//! Pushing images to Skyport's ECR registry with the real Docker CLI (tests/ecr_docker.rs,
//! tests/lambda_image.rs). Include it with `#[path = "common/ecr_registry.rs"] mod ecr_registry;` next
//! to `mod common;`.
//!
//! The Docker daemon speaks plain HTTP only to registries on 127.0.0.0/8, and it cannot resolve
//! `*.localhost.localstack.cloud` on a machine without internet; so images are pushed to
//! `127.0.0.1:<registry port>`, the port of the external range ECR reserves. Logins go to a temporary
//! `DOCKER_CONFIG`, so the user's Docker credentials are never touched.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

use aws_credential_types::Credentials;
use aws_sdk_ecr::Client;
use aws_sdk_ecr::config::{BehaviorVersion, Region};
use base64::Engine;

use crate::common::{have, run};

/// An ECR client of the Skyport at `endpoint` (us-east-1, test credentials).
pub fn client(endpoint: &str) -> Client {
    let config = aws_sdk_ecr::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    Client::from_conf(config)
}

/// Whether the Docker CLI and Engine work; without them the test skips, or fails when
/// `SKYPORT_REQUIRE_DOCKER=1`.
pub fn docker_usable() -> bool {
    let required = std::env::var("SKYPORT_REQUIRE_DOCKER").is_ok_and(|v| v == "1");
    let ok = have("docker")
        && Command::new("docker")
            .arg("info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        assert!(!required, "Docker is required (SKYPORT_REQUIRE_DOCKER=1)");
        eprintln!("skipping: no usable Docker");
    }
    ok
}

/// `n` consecutive free ports on 127.0.0.1; the first.
pub fn free_block(n: u16) -> u16 {
    for _ in 0..200 {
        let base = 20000 + fastrand::u16(..30000);
        if (base..base + n).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
    panic!("no free block of {n} ports");
}

/// Runs docker with `DOCKER_CONFIG` set; panics with its output when it fails.
pub fn docker(config: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = Command::new("docker");
    cmd.env("DOCKER_CONFIG", config).args(args);
    let out = match stdin {
        Some(input) => {
            use std::io::Write;
            let mut child = cmd
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        }
        None => cmd.output().unwrap(),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "docker {args:?} failed: {text}");
    text
}

/// Removes the image tags it was given when dropped.
pub struct Cleanup(pub Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = Command::new("docker")
                .args(["rmi", "-f", tag])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The password of `GetAuthorizationToken` (base64 of `AWS:<password>`).
pub async fn password(ecr: &Client) -> String {
    let token = ecr.get_authorization_token().send().await.unwrap();
    let token = token.authorization_data()[0]
        .authorization_token
        .clone()
        .unwrap();
    let decoded = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(token)
            .unwrap(),
    )
    .unwrap();
    decoded.strip_prefix("AWS:").unwrap().to_owned()
}

/// `127.0.0.1:<port>` of the registry, as `GET /_skyport/ports` lists it (`"owner": "ecr"`).
pub fn registry(endpoint: &str) -> String {
    let (_, ports, _) =
        run(Command::new("curl").args(["-s", &format!("{endpoint}/_skyport/ports")]));
    let ports: serde_json::Value = serde_json::from_str(&ports).unwrap();
    let list = ports
        .get("ports")
        .and_then(|p| p.as_array())
        .or_else(|| ports.as_array())
        .cloned()
        .unwrap_or_default();
    let port = list
        .iter()
        .find(|p| p["owner"] == "ecr")
        .and_then(|p| p["port"].as_u64())
        .unwrap_or_else(|| panic!("no ECR port in {ports}"));
    format!("127.0.0.1:{port}")
}

/// `docker login` to `registry` with the token's password, into `config`.
pub async fn login(ecr: &Client, config: &Path, registry: &str) {
    let password = password(ecr).await;
    let out = docker(
        config,
        &["login", "-u", "AWS", "--password-stdin", registry],
        Some(&password),
    );
    assert!(out.contains("Login Succeeded"), "{out}");
}

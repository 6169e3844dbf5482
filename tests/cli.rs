//! The command line: `--version`, `status`, `wait`, `--health-check`, `config validate` and `aws`.

mod common;

use std::time::{Duration, Instant};

use common::{Skyport, command, run};

#[test]
fn version_status_wait_and_health_check() {
    let (status, out, _) = run(command().arg("--version"));
    assert!(status.success());
    assert!(out.starts_with("skyport "), "{out}");

    let skyport = Skyport::start();
    let ep = skyport.endpoint();
    let (status, out, _) = run(command().args(["status", "--endpoint", &ep]));
    assert!(status.success(), "{out}");
    assert!(
        out.contains("ready") && out.contains("sts") && out.contains("running"),
        "{out}"
    );

    let (status, out, _) = run(command().args(["wait", "--timeout", "5", "--endpoint", &ep]));
    assert!(status.success(), "{out}");

    let listen = format!("{}", skyport.addrs[0]);
    let (status, _, err) = run(command()
        .arg("--health-check")
        .env("GATEWAY_LISTEN", &listen));
    assert!(status.success(), "{err}");
}

#[test]
fn status_wait_and_probe_fail_when_nothing_runs() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let ep = format!("http://{free}");
    let (status, out, _) = run(command().args(["status", "--endpoint", &ep]));
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("not running"));
    let started = Instant::now();
    let (status, _, err) = run(command().args(["wait", "--timeout", "0.5", "--endpoint", &ep]));
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("not ready"));
    assert!(started.elapsed() < Duration::from_secs(5));
    let (status, _, _) = run(command()
        .arg("--health-check")
        .env("GATEWAY_LISTEN", free.to_string()));
    assert_eq!(status.code(), Some(1));
}

#[test]
fn config_validate_prints_and_warns() {
    let (status, out, _) = run(command()
        .args(["config", "validate"])
        .env("OVERRIDE_IN_DOCKER", "0")
        .env("GATEWAY_LISTEN", "0.0.0.0:4566")
        .env("PERSISTANCE", "1")
        .env("LOCALSTACK_AUTH_TOKEN", "ls-xyz"));
    assert!(status.success(), "{out}");
    assert!(
        out.contains("GATEWAY_LISTEN") && out.contains("0.0.0.0:4566"),
        "{out}"
    );
    assert!(out.contains("did you mean PERSISTENCE"), "{out}");
    assert!(out.contains("whole network"), "{out}");
    assert!(out.contains("needs no token"), "{out}");

    let (status, _, err) = run(command()
        .args(["config", "validate"])
        .env("GATEWAY_LISTEN", "not-an-address"));
    assert_eq!(status.code(), Some(2));
    assert!(
        err.contains("GATEWAY_LISTEN") && err.contains("host:port"),
        "{err}"
    );
}

#[test]
fn invalid_configuration_exits_before_binding() {
    let (status, out, err) = run(command().arg("start").env("DNS_PORT", "seventy"));
    assert_eq!(status.code(), Some(2), "{out}");
    assert!(err.contains("DNS_PORT"), "{err}");
    assert!(!out.contains("Ready."));
}

#[test]
fn aws_wrapper_presets_the_endpoint_and_credentials() {
    if !common::require("aws") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(command()
        .args([
            "aws",
            "--endpoint",
            &skyport.endpoint(),
            "sts",
            "get-caller-identity",
            "--output",
            "json",
        ])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"));
    assert!(status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Account"], "000000000000");

    // The endpoint also comes from GATEWAY_LISTEN, like `start`.
    let (status, out, err) = run(command()
        .args(["aws", "sts", "get-caller-identity", "--output", "json"])
        .env("GATEWAY_LISTEN", skyport.addrs[0].to_string())
        .env("AWS_ACCESS_KEY_ID", "123456789012")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_CONFIG_FILE", "/dev/null"));
    assert!(status.success(), "{err}");
    assert!(out.contains("123456789012"));
}

#[test]
fn aws_wrapper_explains_a_missing_cli() {
    let (status, _, err) = run(command()
        .args(["aws", "s3", "ls"])
        .env("SKYPORT_AWS_CLI", "/nonexistent/aws"));
    assert_eq!(status.code(), Some(127));
    assert!(err.contains("not installed"), "{err}");
}

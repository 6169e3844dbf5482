//! `skyport aws ...`: runs the installed AWS CLI against Skyport, like LocalStack's `awslocal`: the
//! endpoint comes from `--endpoint` or the same configuration as `start` (`LOCALSTACK_HOST` when set, else
//! the first `GATEWAY_LISTEN` address), and test credentials and a region are preset unless already set.

use std::process::{Command, ExitCode};

use crate::config::{Config, ProcessEnv};

fn endpoint_from_config() -> String {
    match Config::load(&ProcessEnv, crate::cli::detect_container()) {
        Ok(config) if std::env::var("LOCALSTACK_HOST").is_ok_and(|v| !v.trim().is_empty()) => {
            format!("http://{}", config.localstack_host)
        }
        Ok(config) => local_endpoint(&config),
        Err(_) => "http://localhost:4566".to_owned(),
    }
}

/// The gateway's URL from this machine: `http://localhost:<port>` for a loopback or wildcard listen
/// address (Skyport listens on both 127.0.0.1 and ::1, and `localhost` resolves from /etc/hosts
/// everywhere), else the first listen address.
pub fn local_endpoint(config: &Config) -> String {
    let port = config.edge_port();
    match config.gateway_listen.first().map(|a| a.ip()) {
        Some(ip) if ip.is_loopback() || ip.is_unspecified() => format!("http://localhost:{port}"),
        Some(std::net::IpAddr::V6(ip)) => format!("http://[{ip}]:{port}"),
        Some(ip) => format!("http://{ip}:{port}"),
        None => format!("http://localhost:{port}"),
    }
}

/// Runs `aws` with the preset endpoint and credentials; returns its exit code.
pub fn run(endpoint: Option<&str>, args: &[String]) -> ExitCode {
    let endpoint = endpoint.map_or_else(endpoint_from_config, str::to_owned);
    let mut command =
        Command::new(std::env::var("SKYPORT_AWS_CLI").unwrap_or_else(|_| "aws".to_owned()));
    if !args
        .iter()
        .any(|a| a == "--endpoint-url" || a.starts_with("--endpoint-url="))
    {
        command.arg("--endpoint-url").arg(&endpoint);
    }
    command.args(args);
    let unset = |k: &str| std::env::var(k).map_or(true, |v| v.is_empty());
    if unset("AWS_ACCESS_KEY_ID") && unset("AWS_PROFILE") {
        command
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test");
    }
    if unset("AWS_DEFAULT_REGION") && unset("AWS_REGION") {
        command.env("AWS_DEFAULT_REGION", "us-east-1");
    }
    match command.status() {
        Ok(status) => ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "skyport: the AWS CLI (`aws`) is not installed or not on PATH. Install it (e.g. `pip install awscli` \
                 or the AWS CLI v2 installer) and run `skyport aws ...` again."
            );
            ExitCode::from(127)
        }
        Err(e) => {
            eprintln!("skyport: could not run the AWS CLI: {e}");
            ExitCode::from(126)
        }
    }
}

//! Talking to a running Skyport from the command line: `--health-check` (for container health checks,
//! so it needs nothing but the binary), `status` (health as a table) and `wait` (block until ready).
//! A tiny blocking HTTP/1.1 client over `std::net` keeps these commands instant and dependency-free.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::config::{Config, ProcessEnv};

/// The gateway address a client command talks to: `--endpoint`, else the first `GATEWAY_LISTEN` address
/// (a wildcard bind is reached through loopback).
pub fn default_endpoint() -> String {
    let listen = Config::load(&ProcessEnv, crate::cli::detect_container())
        .ok()
        .and_then(|c| c.gateway_listen.first().copied())
        .unwrap_or_else(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4566));
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listen.port()))
}

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The endpoint is not an `http://host:port` URL.
    #[error("endpoint {0:?} is not of the form http://host:port")]
    BadEndpoint(String),
    /// Connecting or reading failed.
    #[error("cannot reach {endpoint}: {source}")]
    Io {
        /// The endpoint.
        endpoint: String,
        /// The error.
        source: std::io::Error,
    },
    /// The response was not HTTP.
    #[error("unexpected response from {0}")]
    BadResponse(String),
}

/// Connects to `endpoint` (`http://host:port`); returns the stream and the `host:port` for `Host`.
pub fn connect(endpoint: &str, timeout: Duration) -> Result<(TcpStream, &str), ProbeError> {
    let authority = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| ProbeError::BadEndpoint(endpoint.to_owned()))?
        .trim_end_matches('/');
    let io = |source| ProbeError::Io {
        endpoint: endpoint.to_owned(),
        source,
    };
    let addr = authority
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| ProbeError::BadEndpoint(endpoint.to_owned()))?;
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    Ok((stream, authority))
}

/// GETs `path` from `endpoint`; returns the status code and body.
pub fn http_get(
    endpoint: &str,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String), ProbeError> {
    let (mut stream, authority) = connect(endpoint, timeout)?;
    let io = |source| ProbeError::Io {
        endpoint: endpoint.to_owned(),
        source,
    };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: skyport-cli\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| ProbeError::BadResponse(endpoint.to_owned()))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ProbeError::BadResponse(endpoint.to_owned()))?;
    Ok((status, body.to_owned()))
}

fn health(endpoint: &str, timeout: Duration) -> Result<serde_json::Value, ProbeError> {
    let (status, body) = http_get(endpoint, "/_skyport/health", timeout)?;
    if status != 200 {
        return Err(ProbeError::BadResponse(format!(
            "{endpoint} (HTTP {status})"
        )));
    }
    serde_json::from_str(&body).map_err(|_| ProbeError::BadResponse(endpoint.to_owned()))
}

/// `skyport --health-check`: exit 0 when the gateway answers its health endpoint.
pub fn health_check(endpoint: Option<&str>) -> ExitCode {
    let endpoint = endpoint.map_or_else(default_endpoint, str::to_owned);
    match health(&endpoint, Duration::from_secs(2)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("skyport: unhealthy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `skyport status`.
pub fn status(endpoint: Option<&str>) -> ExitCode {
    let endpoint = endpoint.map_or_else(default_endpoint, str::to_owned);
    match health(&endpoint, Duration::from_secs(3)) {
        Ok(value) => {
            let version = value.get("version").and_then(|v| v.as_str()).unwrap_or("?");
            println!("Skyport {version} at {endpoint}: ready");
            println!("{:<20} STATE", "SERVICE");
            let mut all_up = true;
            if let Some(services) = value.get("services").and_then(|s| s.as_object()) {
                for (name, state) in services {
                    let state = state.as_str().unwrap_or("?");
                    all_up &= matches!(state, "running" | "available" | "disabled");
                    println!("{name:<20} {state}");
                }
            }
            if all_up {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            println!("Skyport at {endpoint}: not running ({e})");
            ExitCode::FAILURE
        }
    }
}

/// `skyport wait`.
pub fn wait(endpoint: Option<&str>, timeout: Duration) -> ExitCode {
    let endpoint = endpoint.map_or_else(default_endpoint, str::to_owned);
    let deadline = Instant::now() + timeout;
    loop {
        let last = match health(&endpoint, Duration::from_millis(500)) {
            Ok(_) => {
                println!("Skyport at {endpoint} is ready");
                return ExitCode::SUCCESS;
            }
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            eprintln!(
                "skyport: not ready after {:.1}s: {last}",
                timeout.as_secs_f64()
            );
            return ExitCode::FAILURE;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

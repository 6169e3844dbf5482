//! `skyport state reset|export|import`: state control of a running Skyport over HTTP (its
//! `/_localstack/state/reset` and `/_skyport/state` endpoints), so it works the same against a native
//! Skyport and one in a container. Snapshots stream between the file and the socket, never whole in
//! memory; an export is written to `FILE.partial` and renamed only once complete.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

/// `skyport state ...`.
#[derive(Debug, Args)]
pub struct StateArgs {
    #[command(subcommand)]
    pub command: StateCommand,
    /// Gateway URL (default: from GATEWAY_LISTEN), e.g. http://127.0.0.1:4566.
    #[arg(long, global = true)]
    pub endpoint: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Empty the state of every service (or of the services named).
    Reset {
        /// Only these services (e.g. s3 sqs).
        services: Vec<String>,
    },
    /// Write a snapshot of every service's state (or of the services named) to FILE.
    Export {
        /// The snapshot file.
        file: PathBuf,
        /// Only these services, comma-separated.
        #[arg(long, value_name = "LIST")]
        services: Option<String>,
    },
    /// Import a snapshot into the running Skyport, replacing the state of the services it holds.
    Import {
        /// The snapshot file.
        file: PathBuf,
    },
}

/// Why a state command failed.
#[derive(Debug, thiserror::Error)]
enum CmdError {
    #[error(transparent)]
    Probe(#[from] crate::probe::ProbeError),
    #[error("cannot reach {endpoint}: {source}")]
    Connect {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unexpected response from {0}")]
    BadResponse(String),
    #[error("Skyport answered {status}: {message}")]
    Refused { status: u16, message: String },
}

pub fn run(args: &StateArgs) -> ExitCode {
    let endpoint = args
        .endpoint
        .clone()
        .unwrap_or_else(crate::probe::default_endpoint);
    let outcome = match &args.command {
        StateCommand::Reset { services } => reset(&endpoint, services),
        StateCommand::Export { file, services } => {
            export(&endpoint, file, services.as_deref().unwrap_or(""))
        }
        StateCommand::Import { file } => import(&endpoint, file),
    };
    match outcome {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("skyport: {e}");
            ExitCode::FAILURE
        }
    }
}

fn reset(endpoint: &str, services: &[String]) -> Result<String, CmdError> {
    if services.is_empty() {
        call(endpoint, "POST", "/_localstack/state/reset", None, None)?;
        return Ok("Reset the state of every service.".to_owned());
    }
    for service in services {
        call(
            endpoint,
            "POST",
            &format!("/_localstack/state/{service}/reset"),
            None,
            None,
        )?;
    }
    Ok(format!("Reset the state of {}.", services.join(", ")))
}

fn export(endpoint: &str, file: &Path, services: &str) -> Result<String, CmdError> {
    let partial = file.with_extension("partial");
    let file_error = |path: &Path| {
        let path = path.to_owned();
        move |source| CmdError::File { path, source }
    };
    let mut out = std::fs::File::create(&partial).map_err(file_error(&partial))?;
    let path = if services.is_empty() {
        "/_skyport/state".to_owned()
    } else {
        format!("/_skyport/state?services={services}")
    };
    let written = call(endpoint, "GET", &path, None, Some(&mut out)).and_then(|_| {
        out.sync_all().map_err(file_error(&partial))?;
        // The snapshot ends with a finish frame: a stream cut by a failure on the server lacks it.
        let complete = std::fs::read(&partial)
            .ok()
            .and_then(|bytes| {
                let text = bytes.strip_suffix(b"\n")?;
                let start = text.iter().rposition(|b| *b == b'\n')? + 1;
                Some(text[start..].starts_with(b"{\"finish\""))
            })
            .unwrap_or(false);
        if !complete {
            return Err(CmdError::BadResponse(format!(
                "{endpoint}: the snapshot stream ended early (see Skyport's log)"
            )));
        }
        std::fs::rename(&partial, file).map_err(file_error(file))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written?;
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    Ok(format!(
        "Exported the state to {} ({size} bytes).",
        file.display()
    ))
}

fn import(endpoint: &str, file: &Path) -> Result<String, CmdError> {
    let mut input = std::fs::File::open(file).map_err(|source| CmdError::File {
        path: file.to_owned(),
        source,
    })?;
    let len = input
        .metadata()
        .map_err(|source| CmdError::File {
            path: file.to_owned(),
            source,
        })?
        .len();
    let body = call(
        endpoint,
        "POST",
        "/_skyport/state",
        Some((&mut input, len)),
        None,
    )?;
    let services: Vec<String> = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v["services"].as_array().map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default();
    Ok(format!(
        "Imported the state of {} from {}.",
        if services.is_empty() {
            "no service".to_owned()
        } else {
            services.join(", ")
        },
        file.display()
    ))
}

/// One HTTP/1.0 request (the response body ends with the connection: no chunked decoding needed).
/// With `out`, a 200 body is copied there; otherwise it is returned. A non-200 answer is an error with
/// the body's `error` message.
fn call(
    endpoint: &str,
    method: &str,
    path: &str,
    body: Option<(&mut std::fs::File, u64)>,
    out: Option<&mut std::fs::File>,
) -> Result<String, CmdError> {
    let (mut stream, authority) = crate::probe::connect(endpoint, Duration::from_secs(5))?;
    let io = |source| CmdError::Connect {
        endpoint: endpoint.to_owned(),
        source,
    };
    let len = body.as_ref().map_or(0, |(_, len)| *len);
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: skyport-cli\r\nContent-Length: {len}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).map_err(io)?;
    if let Some((file, len)) = body {
        let copied = std::io::copy(&mut file.take(len), &mut stream).map_err(io)?;
        if copied != len {
            return Err(CmdError::BadResponse("the snapshot file shrank".into()));
        }
    }
    stream.flush().map_err(io)?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).map_err(io)?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CmdError::BadResponse(endpoint.to_owned()))?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(io)? == 0 || line == "\r\n" {
            break;
        }
    }
    if status == 200
        && let Some(out) = out
    {
        std::io::copy(&mut reader, out).map_err(io)?;
        return Ok(String::new());
    }
    let mut text = String::new();
    reader.read_to_string(&mut text).map_err(io)?;
    if status != 200 {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or(text);
        return Err(CmdError::Refused { status, message });
    }
    Ok(text)
}

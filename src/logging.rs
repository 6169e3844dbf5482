//! Logging setup: `tracing` to stdout (like LocalStack, so `docker logs` and Testcontainers see one
//! stream), INFO by default, DEBUG with `DEBUG=1`, any level with `LS_LOG`; written by a background thread
//! so a slow terminal never stalls request handling.

use std::io::IsTerminal;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::config::Config;

/// Installs the global subscriber; keep the guard alive until exit so buffered lines are written.
pub fn init(config: &Config) -> WorkerGuard {
    let level = match (&config.log_level, config.debug) {
        (Some(level), _) => level.as_str(),
        (None, true) => "debug",
        (None, false) => "info",
    };
    // Dependencies stay at INFO under DEBUG=1; LS_LOG=trace opens everything.
    let directives = if level == "trace" {
        "trace".to_owned()
    } else {
        format!("{level},hyper=info,h2=info,rustls=info,hickory_server=info,hickory_proto=info")
    };
    let filter = EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stdout());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stdout().is_terminal())
        .with_target(config.debug)
        .try_init();
    guard
}

//! Logging setup: `tracing` to stdout (like LocalStack, so `docker logs` and Testcontainers see one
//! stream), INFO by default, DEBUG with `DEBUG=1`, any level with `LS_LOG`.
//!
//! Lines are appended to an in-memory buffer and written by a flusher thread every 20 ms (or at once when
//! 64 KiB are waiting, or on exit), so a busy gateway pays a memory copy per request line instead of a
//! system call and a thread wake-up.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::Config;

const FLUSH_EVERY: Duration = Duration::from_millis(20);
const FLUSH_AT: usize = 64 * 1024;
/// When stdout is stuck (a pipe nobody reads), lines beyond this are dropped and counted, not buffered.
const MAX_PENDING: usize = 16 * 1024 * 1024;

#[derive(Default)]
struct Shared {
    buffer: Mutex<Vec<u8>>,
    wake: Condvar,
    stop: AtomicBool,
    dropped: std::sync::atomic::AtomicU64,
}

impl Shared {
    fn flush(&self) {
        let pending = match self.buffer.lock() {
            Ok(mut buffer) if !buffer.is_empty() => std::mem::take(&mut *buffer),
            _ => return,
        };
        let mut out = std::io::stdout().lock();
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let _ = writeln!(
                out,
                "WARN skyport: {dropped} log lines dropped: stdout was not being read"
            );
        }
        let _ = out.write_all(&pending);
        let _ = out.flush();
    }
}

/// The writer handed to the fmt layer.
#[derive(Clone)]
struct BatchedStdout(Arc<Shared>);

impl Write for BatchedStdout {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let full = match self.0.buffer.lock() {
            Ok(mut buffer) if buffer.len() + bytes.len() <= MAX_PENDING => {
                buffer.extend_from_slice(bytes);
                buffer.len() >= FLUSH_AT
            }
            Ok(_) => {
                self.0.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        };
        if full {
            self.0.wake.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedStdout {
    type Writer = BatchedStdout;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Flushes the last lines when dropped; keep it alive until exit.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.flush();
    }
}

/// Installs the global subscriber.
pub fn init(config: &Config) -> LogGuard {
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
    let shared = Arc::new(Shared::default());
    let thread = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("skyport-log".into())
            .spawn(move || {
                while !shared.stop.load(Ordering::SeqCst) {
                    if let Ok(buffer) = shared.buffer.lock() {
                        let _ = shared.wake.wait_timeout(buffer, FLUSH_EVERY);
                    }
                    shared.flush();
                }
            })
            .ok()
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(BatchedStdout(shared.clone()))
        .with_ansi(std::io::stdout().is_terminal())
        .with_target(config.debug)
        .try_init();
    LogGuard { shared, thread }
}

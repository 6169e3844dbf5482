//! Logging setup: `tracing` to stdout (like LocalStack, so `docker logs` and Testcontainers see one
//! stream), INFO by default, DEBUG with `DEBUG=1`, any level with `LS_LOG`.
//!
//! Lines are appended to an in-memory buffer and written by a flusher thread every 20 ms (or at once when
//! 64 KiB are waiting, or on exit), so a busy gateway pays a memory copy per request line instead of a
//! system call and a thread wake-up.
//!
//! The lines are tracing-subscriber's default format, byte for byte; two parts of it are produced more
//! cheaply because they run for every request: the timestamp ([`CachedSystemTime`] formats the date and
//! time of day once a second) and a message-only event's fields ([`MessageFirst`] writes the message in
//! one piece and escapes it only when it holds a control character).

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FormatFields, MakeWriter};

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
        // Standard output first: lines are taken from the buffer only under its lock, so once one
        // flush returns, every line logged before it is written (a `println!` after it follows them).
        let mut out = std::io::stdout().lock();
        let pending = match self.buffer.lock() {
            Ok(mut buffer) if !buffer.is_empty() => std::mem::take(&mut *buffer),
            _ => return,
        };
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

/// The installed subscriber's buffer, for [`flush`].
static INSTALLED: std::sync::OnceLock<Arc<Shared>> = std::sync::OnceLock::new();

/// Writes the waiting lines now, e.g. before a line printed directly (`Ready.`) so that it follows them.
pub fn flush() {
    if let Some(shared) = INSTALLED.get() {
        shared.flush();
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
    let _ = INSTALLED.set(shared.clone());
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
        .with_timer(CachedSystemTime)
        .fmt_fields(MessageFirst::default())
        .with_writer(BatchedStdout(shared.clone()))
        .with_ansi(std::io::stdout().is_terminal())
        .with_target(config.debug)
        .try_init();
    LogGuard { shared, thread }
}

/// tracing-subscriber's `SystemTime` timer (`2026-12-04T17:21:45.794785Z`, UTC, microseconds) with the
/// part up to the seconds formatted once a second per thread instead of for every line.
struct CachedSystemTime;

thread_local! {
    /// The whole seconds since the epoch and their `YYYY-MM-DDTHH:MM:SS` text.
    static SECONDS: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl FormatTime for CachedSystemTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let Ok(since_epoch) = std::time::SystemTime::now().duration_since(UNIX_EPOCH) else {
            return tracing_subscriber::fmt::time::SystemTime.format_time(w);
        };
        let secs = since_epoch.as_secs();
        let written = SECONDS.with(|cell| {
            let mut cached = cell.borrow_mut();
            if cached.0 != secs {
                cached.1 = seconds_text(secs).unwrap_or_default();
                cached.0 = secs;
            }
            if cached.1.is_empty() {
                return None;
            }
            Some(w.write_str(&cached.1))
        });
        match written {
            Some(result) => {
                result?;
                let fraction = fraction_text(since_epoch.subsec_micros());
                w.write_str(std::str::from_utf8(&fraction).map_err(|_| fmt::Error)?)
            }
            // Outside the years 0000-9999: the library's own formatting.
            None => tracing_subscriber::fmt::time::SystemTime.format_time(w),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of `secs` since the epoch, for the years 0000-9999.
fn seconds_text(secs: u64) -> Option<String> {
    let at = UNIX_EPOCH.checked_add(Duration::from_secs(secs))?;
    let text = skyport_core::timefmt::iso8601_seconds(at);
    let text = text.strip_suffix('Z')?;
    (text.len() == 19).then(|| text.to_owned())
}

/// `.ffffffZ` for `micros` below one million.
fn fraction_text(micros: u32) -> [u8; 8] {
    let mut out = *b".000000Z";
    let mut rest = micros;
    for digit in out[1..7].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out
}

/// The fmt layer's field formatter: an event whose only field is its message (every request line) is
/// written as tracing-subscriber's [`DefaultFields`] writes it, in one piece, its control characters
/// escaped the same way when the writer sanitizes; anything else goes to [`DefaultFields`].
#[derive(Default)]
struct MessageFirst {
    fallback: DefaultFields,
}

thread_local! {
    /// A reused buffer for one message.
    static MESSAGE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl<'writer> FormatFields<'writer> for MessageFirst {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let sanitize = writer.sanitizes_ansi_escapes();
        let written = MESSAGE.with(|cell| {
            // An event logged while this one is formatted finds the buffer taken and uses its own.
            let mut spare = String::new();
            let mut reused = cell.try_borrow_mut();
            let out = match reused.as_deref_mut() {
                Ok(buffer) => {
                    buffer.clear();
                    buffer
                }
                Err(_) => &mut spare,
            };
            let mut visit = MessageOnly {
                out: &mut *out,
                messages: 0,
                other: false,
                result: Ok(()),
            };
            fields.record(&mut visit);
            if visit.messages != 1 || visit.other {
                return None;
            }
            let collected = visit.result;
            Some(collected.and_then(|()| write_message(&mut writer, out, sanitize)))
        });
        written.unwrap_or_else(|| self.fallback.format_fields(writer, fields))
    }
}

/// In one pass over an event's fields: collects its `message` the way `DefaultFields` writes it (`{:?}`
/// of the value, the text of a format string; a `str` as it is), counts the messages, and notes any other
/// field or kind of value (the event then goes to `DefaultFields`).
struct MessageOnly<'a> {
    out: &'a mut String,
    messages: usize,
    other: bool,
    result: fmt::Result,
}

impl MessageOnly<'_> {
    /// Counts `field`; true when it is the event's first message and nothing else came before it.
    fn first_message(&mut self, field: &Field) -> bool {
        if field.name() != "message" {
            self.other = true;
            return false;
        }
        self.messages += 1;
        self.messages == 1 && !self.other
    }
}

impl Visit for MessageOnly<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.first_message(field) {
            self.result = write!(self.out, "{value:?}");
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.first_message(field) {
            self.out.push_str(value);
        }
    }

    fn record_f64(&mut self, _: &Field, _: f64) {
        self.other = true;
    }

    fn record_i64(&mut self, _: &Field, _: i64) {
        self.other = true;
    }

    fn record_u64(&mut self, _: &Field, _: u64) {
        self.other = true;
    }

    fn record_i128(&mut self, _: &Field, _: i128) {
        self.other = true;
    }

    fn record_u128(&mut self, _: &Field, _: u128) {
        self.other = true;
    }

    fn record_bool(&mut self, _: &Field, _: bool) {
        self.other = true;
    }

    fn record_bytes(&mut self, _: &Field, _: &[u8]) {
        self.other = true;
    }

    fn record_error(&mut self, _: &Field, _: &(dyn std::error::Error + 'static)) {
        self.other = true;
    }
}

/// Writes `message`, escaping terminal control characters the way tracing-subscriber's sanitizer does
/// when `sanitize` is on.
fn write_message(writer: &mut Writer<'_>, message: &str, sanitize: bool) -> fmt::Result {
    if !sanitize || !message.chars().any(needs_escape) {
        return writer.write_str(message);
    }
    for ch in message.chars() {
        match ch {
            '\x1b' => writer.write_str("\\x1b")?,
            '\x07' => writer.write_str("\\x07")?,
            '\x08' => writer.write_str("\\x08")?,
            '\x0c' => writer.write_str("\\x0c")?,
            '\x7f' => writer.write_str("\\x7f")?,
            ch if ('\u{80}'..='\u{9f}').contains(&ch) => write!(writer, "\\u{{{:x}}}", ch as u32)?,
            ch => writer.write_char(ch)?,
        }
    }
    Ok(())
}

fn needs_escape(ch: char) -> bool {
    matches!(
        ch,
        '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::fmt::format::FmtSpan;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut out) = self.0.lock() {
                out.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    fn events() {
        let (service, op, micros) = ("sts", "GetCallerIdentity", 1234u128);
        tracing::info!(target: "skyport::request", "{}.{} => {} ({}.{:02} ms)", service, op, 200, micros / 1000, micros % 1000 / 10);
        tracing::info!(target: "skyport::request", "{}.{} => 400", service, "Evil\x1b[31m\u{85}\x07\x7f");
        tracing::warn!("plain text");
        tracing::info!(count = 3, "with a field");
        tracing::info!(message = "message as a str");
        let error = std::io::Error::other("boom");
        tracing::warn!(
            error = &error as &(dyn std::error::Error + 'static),
            "failed"
        );
        tracing::info!(message = 7);
        let span = tracing::info_span!("outer", id = 9);
        let _entered = span.enter();
        tracing::info!("inside a span");
        tracing::debug!(target: "skyport::request", "{} in a span", "line");
    }

    /// Lines without their timestamp, and the timestamps.
    fn run(ours: bool, ansi: bool) -> (Vec<String>, Vec<String>) {
        let capture = Capture::default();
        let builder = tracing_subscriber::fmt()
            .with_writer(capture.clone())
            .with_ansi(ansi)
            .with_max_level(tracing::Level::DEBUG)
            .with_span_events(FmtSpan::NONE);
        if ours {
            let subscriber = builder
                .with_timer(CachedSystemTime)
                .fmt_fields(MessageFirst::default())
                .finish();
            tracing::subscriber::with_default(subscriber, events);
        } else {
            tracing::subscriber::with_default(builder.finish(), events);
        }
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let mut lines = Vec::new();
        let mut stamps = Vec::new();
        for line in text.lines() {
            let start = line.find("20").unwrap();
            stamps.push(line[start..start + 27].to_owned());
            lines.push(format!("{}{}", &line[..start], &line[start + 27..]));
        }
        (lines, stamps)
    }

    #[test]
    fn lines_match_the_default_format() {
        for ansi in [false, true] {
            let (ours, our_stamps) = run(true, ansi);
            let (default, default_stamps) = run(false, ansi);
            assert_eq!(ours, default, "ansi {ansi}");
            assert_eq!(ours.len(), 9);
            assert!(
                ours[1].contains("\\x1b[31m\\u{85}\\x07\\x7f"),
                "{}",
                ours[1]
            );
            for (a, b) in our_stamps.iter().zip(&default_stamps) {
                // Same shape; the same second unless the runs straddled one.
                assert_eq!(a.len(), b.len());
                assert_eq!(&a[..10], &b[..10]);
                assert_eq!(&a[19..20], ".");
                assert!(a.ends_with('Z') && a[20..26].bytes().all(|c| c.is_ascii_digit()));
            }
        }
    }

    #[test]
    fn seconds_and_fractions() {
        assert_eq!(seconds_text(0).as_deref(), Some("1970-01-01T00:00:00"));
        assert_eq!(
            seconds_text(951_782_400).as_deref(),
            Some("2000-02-29T00:00:00")
        );
        assert_eq!(
            seconds_text(1_573_306_481).as_deref(),
            Some("2019-11-09T13:34:41")
        );
        assert_eq!(&fraction_text(0), b".000000Z");
        assert_eq!(&fraction_text(794_785), b".794785Z");
        assert_eq!(&fraction_text(999_999), b".999999Z");
    }
}

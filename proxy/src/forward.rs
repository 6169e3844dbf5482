//! Raw TCP forwarding for the external service port range: connect to the backend (with a deadline), then
//! copy bytes both ways. Each direction writes everything it read before reading more, so a slow reader
//! slows its writer (backpressure); an end of stream on one side is passed on as a half-close to the
//! other, and the connection ends when both directions have ended, either side fails, it stays idle too
//! long, or Skyport shuts down.
//!
//! A direction starts as a copy loop through a user-space buffer. On Linux, once a read fills that buffer
//! (a bulk transfer), it switches to `splice(2)` through a pipe ([`splice`]), which keeps the bytes in the
//! kernel; elsewhere, or when no pipe can be made, the buffer grows instead (64 KiB to 512 KiB) for fewer
//! read/write rounds per byte.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{ReadHalf, WriteHalf};

use crate::shutdown::Shutdown;

#[cfg(target_os = "linux")]
mod splice;

/// The buffer each direction starts with.
const BUFFER: usize = 64 * 1024;
/// What a direction's buffer grows to while reads keep filling it (bulk transfers) and it cannot splice:
/// fewer, larger read/write rounds per byte. Connections that never fill their buffer keep the small one.
const MAX_BUFFER: usize = 512 * 1024;

/// Deadlines of forwarded connections.
#[derive(Debug, Clone, Copy)]
pub struct ForwardOptions {
    /// How long connecting to the backend may take.
    pub connect_timeout: Duration,
    /// How long a connection may carry no bytes in either direction; `None` means forever.
    pub idle_timeout: Option<Duration>,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        ForwardOptions {
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(3600)),
        }
    }
}

/// Why a backend could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The connection attempt did not finish in time.
    #[error("connecting to {target} timed out after {timeout:?}")]
    Timeout {
        /// The target.
        target: String,
        /// The deadline.
        timeout: Duration,
    },
    /// The name did not resolve or the connection was refused.
    #[error("cannot connect to {target}: {source}")]
    Io {
        /// The target.
        target: String,
        /// The OS error.
        source: io::Error,
    },
}

impl ConnectError {
    /// A short, stable description of the cause (for deduplicating warnings).
    pub fn cause(&self) -> String {
        match self {
            ConnectError::Timeout { .. } => "timeout".to_owned(),
            ConnectError::Io { source, .. } => format!("{:?}", source.kind()),
        }
    }
}

/// How a forwarded connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Both sides finished sending.
    Closed,
    /// No bytes moved for the idle timeout.
    Idle,
    /// Skyport is shutting down.
    Shutdown,
}

/// Connects to `target` (`host:port`) within `options.connect_timeout`.
pub async fn connect(target: &str, options: &ForwardOptions) -> Result<TcpStream, ConnectError> {
    match tokio::time::timeout(options.connect_timeout, TcpStream::connect(target)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(source)) => Err(ConnectError::Io {
            target: target.to_owned(),
            source,
        }),
        Err(_) => Err(ConnectError::Timeout {
            target: target.to_owned(),
            timeout: options.connect_timeout,
        }),
    }
}

/// Copies bytes between `client` and `backend` until the connection ends; returns how it ended and the
/// bytes moved each way (client to backend, backend to client).
pub async fn pump(
    mut client: TcpStream,
    mut backend: TcpStream,
    options: &ForwardOptions,
    shutdown: &Shutdown,
) -> io::Result<(Ended, u64, u64)> {
    let started = Instant::now();
    let last_activity = AtomicU64::new(0);
    let (mut client_read, mut client_write) = client.split();
    let (mut backend_read, mut backend_write) = backend.split();
    let both = async {
        tokio::try_join!(
            copy_half(
                &mut client_read,
                &mut backend_write,
                &last_activity,
                started
            ),
            copy_half(
                &mut backend_read,
                &mut client_write,
                &last_activity,
                started
            ),
        )
    };
    tokio::select! {
        result = both => result.map(|(up, down)| (Ended::Closed, up, down)),
        _ = idle(options.idle_timeout, &last_activity, started) => Ok((Ended::Idle, 0, 0)),
        _ = shutdown.wait() => Ok((Ended::Shutdown, 0, 0)),
    }
}

/// One direction: read, write it all, repeat; on end of stream, half-close the writer. A bulk transfer
/// continues with `splice(2)` where it can.
async fn copy_half(
    reader: &mut ReadHalf<'_>,
    writer: &mut WriteHalf<'_>,
    last_activity: &AtomicU64,
    started: Instant,
) -> io::Result<u64> {
    let mut buffer = vec![0u8; BUFFER];
    let mut total = 0u64;
    #[cfg(target_os = "linux")]
    let mut may_splice = true;
    loop {
        let n = reader.read(&mut buffer).await?;
        if n == 0 {
            // Pass the end of stream on; the other side may already be gone, which is fine.
            let _ = writer.shutdown().await;
            return Ok(total);
        }
        writer.write_all(&buffer[..n]).await?;
        total += n as u64;
        last_activity.store(elapsed_millis(started), Ordering::Relaxed);
        if n < buffer.len() {
            continue;
        }
        #[cfg(target_os = "linux")]
        if may_splice {
            // Everything read so far is written, so the spliced loop can take over from here.
            if let Some(pipe) = splice::Pipe::new() {
                let moved = |_| last_activity.store(elapsed_millis(started), Ordering::Relaxed);
                match splice::forward(reader.as_ref(), writer.as_ref(), pipe, moved).await? {
                    splice::Spliced::Done(spliced) => return Ok(total + spliced),
                    splice::Spliced::Unsupported => {}
                }
            }
            may_splice = false;
        }
        if buffer.len() < MAX_BUFFER {
            buffer.resize((buffer.len() * 2).min(MAX_BUFFER), 0);
        }
    }
}

/// Resolves once nothing moved for `timeout` (never when `None`).
async fn idle(timeout: Option<Duration>, last_activity: &AtomicU64, started: Instant) {
    let Some(timeout) = timeout else {
        return std::future::pending().await;
    };
    let limit = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    loop {
        let quiet_for =
            elapsed_millis(started).saturating_sub(last_activity.load(Ordering::Relaxed));
        if quiet_for >= limit {
            return;
        }
        tokio::time::sleep(Duration::from_millis(limit - quiet_for)).await;
    }
}

fn elapsed_millis(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let addr = listener.local_addr().unwrap();
        let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (a.unwrap(), b.unwrap().0)
    }

    #[tokio::test]
    async fn half_close_passes_through_and_idle_ends() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        // client_app <-> proxy_client ... proxy_backend <-> backend_app
        let (mut client_app, proxy_client) = pair(&listener).await;
        let (proxy_backend, mut backend_app) = pair(&listener).await;
        let options = ForwardOptions {
            connect_timeout: Duration::from_secs(1),
            idle_timeout: Some(Duration::from_millis(300)),
        };
        let shutdown = Shutdown::new();
        let task =
            tokio::spawn(
                async move { pump(proxy_client, proxy_backend, &options, &shutdown).await },
            );
        client_app.write_all(b"ping").await.unwrap();
        client_app.shutdown().await.unwrap();
        let mut got = Vec::new();
        backend_app.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ping");
        backend_app.write_all(b"pong").await.unwrap();
        backend_app.shutdown().await.unwrap();
        let mut got = Vec::new();
        client_app.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"pong");
        assert_eq!(task.await.unwrap().unwrap(), (Ended::Closed, 4, 4));

        let (_client_app, proxy_client) = pair(&listener).await;
        let (proxy_backend, _backend_app) = pair(&listener).await;
        let started = Instant::now();
        let ended = pump(proxy_client, proxy_backend, &options, &Shutdown::new())
            .await
            .unwrap();
        assert_eq!(ended.0, Ended::Idle);
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    /// A client app and a backend app connected through a running `pump` (default options).
    async fn forwarding() -> (
        TcpStream,
        TcpStream,
        tokio::task::JoinHandle<io::Result<(Ended, u64, u64)>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (client_app, proxy_client) = pair(&listener).await;
        let (proxy_backend, backend_app) = pair(&listener).await;
        let task = tokio::spawn(async move {
            pump(
                proxy_client,
                proxy_backend,
                &ForwardOptions::default(),
                &Shutdown::new(),
            )
            .await
        });
        (client_app, backend_app, task)
    }

    /// Bytes that differ at every offset (no period dividing a buffer or pipe size), to catch reordering.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ (i >> 13) as u8)
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bulk_transfers_arrive_whole_both_ways_at_once_then_half_close() {
        let (client_app, backend_app, task) = forwarding().await;
        // Past the copy buffer, so each direction switches to splicing (Linux) mid-stream, while the
        // other direction runs too.
        let up = pattern(24 << 20);
        let down: Vec<u8> = pattern((16 << 20) + 12345).into_iter().rev().collect();
        let send_receive = |mut app: TcpStream, send: Vec<u8>| async move {
            let (mut read, mut write) = app.split();
            let sending = async {
                write.write_all(&send).await.unwrap();
                write.shutdown().await.unwrap();
            };
            let mut got = Vec::new();
            let receiving = read.read_to_end(&mut got);
            let ((), received) = tokio::join!(sending, receiving);
            received.unwrap();
            got
        };
        let (at_backend, at_client) = tokio::join!(
            send_receive(backend_app, down.clone()),
            send_receive(client_app, up.clone())
        );
        assert!(at_backend == up, "upload corrupted");
        assert!(at_client == down, "download corrupted");
        assert_eq!(
            task.await.unwrap().unwrap(),
            (Ended::Closed, up.len() as u64, down.len() as u64)
        );
    }

    #[tokio::test]
    async fn a_reset_during_a_bulk_transfer_ends_the_connection() {
        let (mut client_app, backend_app, task) = forwarding().await;
        // The backend reads some of a large upload, then resets; the client must see its connection
        // end instead of hanging.
        let reader = tokio::spawn(async move {
            let mut backend_app = backend_app;
            let mut buffer = vec![0u8; 1 << 20];
            let mut got = 0;
            while got < (4 << 20) {
                got += backend_app.read(&mut buffer).await.unwrap();
            }
            backend_app.set_zero_linger().unwrap();
            drop(backend_app);
        });
        let chunk = pattern(1 << 20);
        let mut failed = false;
        for _ in 0..256 {
            if client_app.write_all(&chunk).await.is_err() {
                failed = true;
                break;
            }
        }
        reader.await.unwrap();
        if !failed {
            let mut rest = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(10), client_app.read_to_end(&mut rest))
                    .await
                    .expect("the client's connection ended");
        }
        let ended = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the pump ended")
            .unwrap();
        assert!(ended.is_err() || ended.unwrap().0 == Ended::Closed);
    }

    #[tokio::test]
    async fn refused_and_bad_names_are_connect_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let e = connect(&addr.to_string(), &ForwardOptions::default())
            .await
            .unwrap_err();
        assert_eq!(e.cause(), "ConnectionRefused");
    }
}

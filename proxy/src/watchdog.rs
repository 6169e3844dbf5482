//! The per-connection watchdog that closes HTTP/1 connections stuck in a request head (slowloris).
//!
//! hyper's own `header_read_timeout` arms and cancels a timer for every request, which costs a measurable
//! share of a small request's time (a boxed sleep, two timer-wheel operations). This watchdog does the same
//! job with one periodic timer per connection: the connection's I/O is wrapped in [`CountingIo`], which
//! counts the bytes read, and the service counts requests started and in flight. At every tick of the
//! period `T` the watchdog looks for a *pending head*: no request in flight, yet bytes have arrived since the
//! connection last went idle. A pending head seen at two consecutive ticks with no request started in between
//! has been pending for at least `T`, and the connection is closed. Idle keep-alive connections (nothing
//! read since the last response) and slow request bodies or long polls (a request is in flight) are left
//! alone, as they were with hyper's timer.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the watchdog observes of one connection.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Bytes read from the client so far.
    bytes_read: AtomicU64,
    /// Requests handed to the service so far.
    started: AtomicU64,
    /// Requests whose response head has not been produced yet.
    in_flight: AtomicU64,
    /// `bytes_read` when the connection last had no request in flight.
    idle_mark: AtomicU64,
}

impl Activity {
    /// Marks a request as started; the returned guard marks it finished when dropped.
    pub(crate) fn request(self: &Arc<Self>) -> InFlight {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// The head of a new request has begun to arrive but no request is being served.
    fn head_pending(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
            && self.bytes_read.load(Ordering::Relaxed) > self.idle_mark.load(Ordering::Relaxed)
    }
}

/// A request in flight; dropping it records that the connection may be idle again.
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            let read = self.0.bytes_read.load(Ordering::Relaxed);
            self.0.idle_mark.store(read, Ordering::Relaxed);
        }
    }
}

/// Resolves when the connection has had a request head pending for at least `period`.
pub(crate) async fn stuck_head(activity: Arc<Activity>, period: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut pending_since: Option<u64> = None;
    loop {
        ticks.tick().await;
        let started = activity.started.load(Ordering::Relaxed);
        if activity.head_pending() {
            if pending_since == Some(started) {
                return;
            }
            pending_since = Some(started);
        } else {
            pending_since = None;
        }
    }
}

/// Connection I/O that counts the bytes read into an [`Activity`].
pub(crate) struct CountingIo<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> CountingIo<S> {
    pub(crate) fn new(inner: S, activity: Arc<Activity>) -> CountingIo<S> {
        CountingIo { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CountingIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before) as u64;
        if read > 0 {
            self.activity.bytes_read.fetch_add(read, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountingIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_head_pending_for_two_ticks_trips_the_watchdog() {
        let activity = Arc::new(Activity::default());
        activity.bytes_read.store(10, Ordering::Relaxed);
        let started = tokio::time::Instant::now();
        stuck_head(activity, Duration::from_secs(30)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_connections_and_requests_in_flight_are_left_alone() {
        let activity = Arc::new(Activity::default());
        let guard = activity.request();
        activity.bytes_read.store(500, Ordering::Relaxed);
        let watchdog = tokio::spawn(stuck_head(activity.clone(), Duration::from_secs(30)));
        // A long request (a long poll, a slow upload) is in flight for five minutes.
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert!(!watchdog.is_finished());
        // The response is sent: the connection is idle with nothing pending, for another hour.
        drop(guard);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!watchdog.is_finished());
        // A new head starts arriving and never completes.
        activity.bytes_read.store(520, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(61)).await;
        assert!(watchdog.is_finished());
    }
}

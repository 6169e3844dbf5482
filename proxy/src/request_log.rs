//! The live request log: the last requests the gateway served (service, operation, status, duration,
//! account, region, the client's address), in a bounded ring, and each new one sent to the subscribers
//! (the console's live view) as it completes.
//!
//! Bodies are captured only while someone watches: with at least one [`Subscription`] alive, the dispatcher
//! wraps the request and response bodies of each request in a tap that copies their first
//! [`BODY_PREFIX`] bytes as they stream by. With nobody subscribed, a request costs one atomic load and one
//! ring push, and no body is touched or wrapped. The captured bodies of the last [`BODIES_KEPT`] requests
//! are kept, so their memory is bounded too.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, Uri};
use http_body::{Body as HttpBody, Frame, SizeHint};
use skyport_core::Body;
use skyport_core::body::BoxError;
use tokio::sync::broadcast;

/// How many requests the ring keeps.
pub const CAPACITY: usize = 1000;
/// How many bytes of each body are captured.
pub const BODY_PREFIX: usize = 64 * 1024;
/// How many of the latest requests keep their captured bodies.
pub const BODIES_KEPT: usize = 100;

/// Who sent a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A client of the gateway.
    Client,
    /// The console, on behalf of its user (the client address is the browser's).
    Console,
}

/// One served request.
#[derive(Debug)]
pub struct Entry {
    /// Increasing from 1 for each request since the start.
    pub id: u64,
    /// When the request arrived.
    pub time: SystemTime,
    /// The service id (`unknown` when the router placed it nowhere).
    pub service: &'static str,
    /// The operation, when known.
    pub operation: Option<String>,
    /// The response status.
    pub status: u16,
    /// Time to the response head, in microseconds.
    pub micros: u64,
    /// The account the request acted in.
    pub account: String,
    /// The region the request acted in.
    pub region: String,
    /// The client's address.
    pub client: SocketAddr,
    /// The HTTP method.
    pub method: Method,
    /// The request target (path and query), copied: a `Uri` parsed by hyper shares the connection's
    /// read buffer, which hyper could then not reuse while the entry is kept.
    pub target: Box<str>,
    /// The request id returned to the client.
    pub request_id: String,
    /// Who sent it.
    pub origin: Origin,
    /// The captured headers and bodies, when someone watched as it was served.
    pub detail: Option<Arc<Detail>>,
}

/// Headers and body prefixes of one request, captured while the console watched.
#[derive(Debug, Default)]
pub struct Detail {
    /// The request's headers.
    pub request_headers: HeaderMap,
    /// The response's headers.
    pub response_headers: Mutex<HeaderMap>,
    /// The request body's prefix.
    pub request_body: Arc<Capture>,
    /// The response body's prefix.
    pub response_body: Arc<Capture>,
}

/// The request target of `uri` as the entry keeps it.
pub(crate) fn target(uri: &Uri) -> Box<str> {
    uri.path_and_query()
        .map_or_else(|| uri.path(), |p| p.as_str())
        .into()
}

/// A copy of `headers` that shares no buffer with the connection (values parsed by hyper are slices of
/// its read buffer).
pub(crate) fn owned_headers(headers: &HeaderMap) -> HeaderMap {
    let mut copy = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            copy.append(name.clone(), value);
        }
    }
    copy
}

/// The first [`BODY_PREFIX`] bytes of a body, and how long the body was.
#[derive(Debug, Default)]
pub struct Capture {
    inner: Mutex<Captured>,
}

/// A snapshot of a [`Capture`].
#[derive(Debug, Default, Clone)]
pub struct Captured {
    /// The prefix.
    pub bytes: BytesMut,
    /// Bytes seen in all.
    pub total: u64,
    /// The body ended (a body still streaming, or one the service never read, is not complete).
    pub complete: bool,
}

impl Capture {
    fn push(&self, data: &[u8]) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        c.total += data.len() as u64;
        let room = BODY_PREFIX.saturating_sub(c.bytes.len());
        c.bytes.extend_from_slice(&data[..room.min(data.len())]);
    }

    fn finish(&self) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .complete = true;
    }

    /// What was captured so far.
    pub fn snapshot(&self) -> Captured {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A body that copies a prefix of what streams through it into a [`Capture`].
struct Tap {
    inner: Body,
    capture: Arc<Capture>,
}

impl HttpBody for Tap {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.capture.push(data);
                }
            }
            Poll::Ready(None) => self.capture.finish(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Wraps `body` so that its prefix lands in `capture`.
pub(crate) fn tap(body: Body, capture: Arc<Capture>) -> Body {
    if body.is_end_stream() {
        capture.finish();
        return body;
    }
    skyport_core::body::wrap(Tap {
        inner: body,
        capture,
    })
}

/// The ring of recent requests and the live feed.
#[derive(Debug)]
pub struct RequestLog {
    ring: Mutex<VecDeque<Arc<Entry>>>,
    next_id: AtomicU64,
    watchers: AtomicUsize,
    feed: broadcast::Sender<Arc<Entry>>,
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog::new()
    }
}

impl RequestLog {
    /// An empty log.
    pub fn new() -> RequestLog {
        RequestLog {
            ring: Mutex::new(VecDeque::with_capacity(CAPACITY)),
            next_id: AtomicU64::new(1),
            watchers: AtomicUsize::new(0),
            feed: broadcast::channel(256).0,
        }
    }

    /// True while someone watches: then the dispatcher captures headers and bodies.
    pub fn capturing(&self) -> bool {
        self.watchers.load(Ordering::Relaxed) > 0
    }

    /// The next id (assigned when a request's entry is made).
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds a served request; sends it to the subscribers.
    pub(crate) fn push(&self, entry: Entry) {
        let entry = Arc::new(entry);
        // Freed after the lock is released.
        let _evicted = {
            let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            let evicted = if ring.len() == CAPACITY {
                ring.pop_front()
            } else {
                None
            };
            // Only the latest requests keep their bodies.
            if entry.detail.is_some() {
                let mut with_detail = ring.iter().rev().filter(|e| e.detail.is_some());
                if let Some(oldest) = with_detail.nth(BODIES_KEPT - 1) {
                    let cutoff = oldest.id;
                    for e in ring.iter_mut().filter(|e| e.id <= cutoff) {
                        if e.detail.is_some() {
                            *e = Arc::new(e.without_detail());
                        }
                    }
                }
            }
            ring.push_back(entry.clone());
            evicted
        };
        // `watchers` counts the subscriptions (an atomic; the channel's own count takes a lock).
        if self.capturing() {
            let _ = self.feed.send(entry);
        }
    }

    /// The entries after `after` (every entry kept when 0), oldest first.
    pub fn since(&self, after: u64) -> Vec<Arc<Entry>> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.iter().filter(|e| e.id > after).cloned().collect()
    }

    /// The entry with this id, if it is still kept.
    pub fn get(&self, id: u64) -> Option<Arc<Entry>> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let first = ring.front()?.id;
        let index = usize::try_from(id.checked_sub(first)?).ok()?;
        ring.get(index).filter(|e| e.id == id).cloned()
    }

    /// Starts watching: new entries arrive on the subscription, and bodies are captured while it lives.
    pub fn subscribe(self: &Arc<Self>) -> Subscription {
        self.watchers.fetch_add(1, Ordering::Relaxed);
        Subscription {
            receiver: self.feed.subscribe(),
            log: self.clone(),
        }
    }
}

impl Entry {
    fn without_detail(&self) -> Entry {
        Entry {
            id: self.id,
            time: self.time,
            service: self.service,
            operation: self.operation.clone(),
            status: self.status,
            micros: self.micros,
            account: self.account.clone(),
            region: self.region.clone(),
            client: self.client,
            method: self.method.clone(),
            target: self.target.clone(),
            request_id: self.request_id.clone(),
            origin: self.origin,
            detail: None,
        }
    }
}

/// A live view of the log; bodies are captured while at least one exists.
#[derive(Debug)]
pub struct Subscription {
    receiver: broadcast::Receiver<Arc<Entry>>,
    log: Arc<RequestLog>,
}

impl Subscription {
    /// The next entry; `Err(n)` when `n` entries were missed because this reader fell behind, `None`
    /// when the log is gone.
    pub async fn next(&mut self) -> Option<Result<Arc<Entry>, u64>> {
        match self.receiver.recv().await {
            Ok(entry) => Some(Ok(entry)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(Err(n)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.log.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn entry(log: &RequestLog, detail: bool) -> Entry {
        Entry {
            id: log.next_id(),
            time: SystemTime::now(),
            service: "s3",
            operation: Some("GetObject".into()),
            status: 200,
            micros: 10,
            account: "000000000000".into(),
            region: "us-east-1".into(),
            client: "127.0.0.1:1".parse().unwrap(),
            method: Method::GET,
            target: "/b/k".into(),
            request_id: "r".into(),
            origin: Origin::Client,
            detail: detail.then(|| Arc::new(Detail::default())),
        }
    }

    #[test]
    fn the_ring_keeps_the_latest_and_bodies_of_fewer() {
        let log = RequestLog::new();
        for _ in 0..CAPACITY + 5 {
            log.push(entry(&log, true));
        }
        let all = log.since(0);
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all[0].id, 6);
        assert_eq!(
            all.iter().filter(|e| e.detail.is_some()).count(),
            BODIES_KEPT
        );
        assert!(all.last().unwrap().detail.is_some());
        assert_eq!(log.get(6).unwrap().id, 6);
        assert!(log.get(5).is_none());
        assert!(log.get(CAPACITY as u64 + 6).is_none());
        assert_eq!(log.since(CAPACITY as u64 + 3).len(), 2);
    }

    #[tokio::test]
    async fn subscribers_get_new_entries_and_turn_capture_on() {
        let log = Arc::new(RequestLog::new());
        assert!(!log.capturing());
        let mut sub = log.subscribe();
        assert!(log.capturing());
        log.push(entry(&log, false));
        let got = sub.next().await.unwrap().unwrap();
        assert_eq!(got.operation.as_deref(), Some("GetObject"));
        drop(sub);
        assert!(!log.capturing());
    }

    #[tokio::test]
    async fn a_tap_keeps_a_prefix_and_passes_everything_on() {
        let capture = Arc::new(Capture::default());
        let data = vec![7u8; BODY_PREFIX + 10];
        let body = tap(skyport_core::body::full(data.clone()), capture.clone());
        let out = body.collect().await.unwrap().to_bytes();
        assert_eq!(out.len(), data.len());
        let c = capture.snapshot();
        assert_eq!(c.bytes.len(), BODY_PREFIX);
        assert_eq!(c.total, data.len() as u64);
        assert!(c.complete);
    }
}

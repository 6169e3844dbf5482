//! Request bodies a service answered without reading to the end.
//!
//! HTTP/1.1 can only carry the next request on a connection once the previous request's body has been
//! read off the wire. A service that answers early (a missing bucket, a bad checksum header, an unknown
//! upload id) leaves the body unread; left alone, hyper drops the connection after the response without
//! saying so (the client's next request fails on a closed socket), or, for a rejected
//! `Expect: 100-continue` request whose body the client never sends, reads the client's *next request* as
//! the old body. RFC 9110 §10.1.1 gives a server two correct answers: read the rest of the body, or close
//! the connection and say so. [`track`] wraps the body so that [`settle`] can tell, once the response is
//! ready, which of them applies:
//!
//! - the body was read to its end: nothing to do;
//! - `Expect: 100-continue` and the body never asked for: the client has not sent it and will not (no
//!   `100 Continue` went out), so the response carries `Connection: close`;
//! - otherwise the rest is drained, up to [`DRAIN_LIMIT`] bytes within [`DRAIN_TIME`]; a longer or slower
//!   body gets `Connection: close` instead, so nobody waits for a large upload nobody wants.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, Version, header};
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use skyport_core::Body;

/// The most of an unwanted body drained to keep the connection.
pub(crate) const DRAIN_LIMIT: usize = 1 << 20;
/// How long draining an unwanted body may take.
pub(crate) const DRAIN_TIME: Duration = Duration::from_secs(2);

/// What the tracked body reports back to [`settle`].
#[derive(Default)]
pub(crate) struct Leftover {
    polled: AtomicBool,
    ended: AtomicBool,
    /// The body, handed back when a service drops it before its end.
    returned: Mutex<Option<Incoming>>,
}

struct Tracked {
    inner: Option<Incoming>,
    leftover: Arc<Leftover>,
}

/// Wraps a request body that has content, returning the service's body and the handle [`settle`] reads.
pub(crate) fn track(incoming: Incoming) -> (Body, Arc<Leftover>) {
    let leftover = Arc::new(Leftover::default());
    let body = Tracked {
        inner: Some(incoming),
        leftover: leftover.clone(),
    };
    (skyport_core::body::wrap(body), leftover)
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        this.leftover.polled.store(true, Ordering::Relaxed);
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(&mut *inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || inner.is_end_stream() {
            this.leftover.ended.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.leftover.ended.load(Ordering::Relaxed)
            && let Some(inner) = self.inner.take()
            && let Ok(mut slot) = self.leftover.returned.lock()
        {
            *slot = Some(inner);
        }
    }
}

/// Makes the connection safe for its next request once the service has answered: drains what is left of
/// the body, or marks the response `Connection: close` (HTTP/1 only; HTTP/2 streams are independent).
pub(crate) async fn settle(
    leftover: &Leftover,
    version: Version,
    expect_continue: bool,
    response: &mut Response<Body>,
) {
    if leftover.ended.load(Ordering::Relaxed) || version >= Version::HTTP_2 {
        return;
    }
    let never_asked = !leftover.polled.load(Ordering::Relaxed);
    let returned = leftover
        .returned
        .lock()
        .ok()
        .and_then(|mut slot| slot.take());
    let drained = match returned {
        // The client waits for `100 Continue` before sending; it will not come.
        _ if never_asked && expect_continue => false,
        // Still held by the service (moved into a task): it may yet be read, but not by us.
        None => false,
        Some(body) => drain(body).await,
    };
    if !drained {
        tracing::debug!(
            expect_continue,
            "request body left unread: the response closes the connection"
        );
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}

/// Reads and discards the rest of `body`; true when it ended within the limits.
async fn drain(body: Incoming) -> bool {
    let read = async move {
        let mut body = body;
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return false;
            };
            if let Some(data) = frame.data_ref() {
                total += data.len();
                if total > DRAIN_LIMIT {
                    return false;
                }
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIME, read)
        .await
        .unwrap_or(false)
}

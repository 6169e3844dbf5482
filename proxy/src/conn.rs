//! One client connection: peek the first byte (with a timeout, so a silent client cannot hold a task),
//! terminate TLS when it is a handshake (`0x16`), then serve HTTP/1.1 or HTTP/2 (prior knowledge or ALPN)
//! until the client leaves or shutdown asks the connection to finish its in-flight requests.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use skyport_core::context::Scheme;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::gateway::Shared;
use crate::watchdog::{self, Activity, CountingIo};

/// The TLS record type of a handshake: the first byte of every ClientHello.
const TLS_HANDSHAKE: u8 = 0x16;
/// How an HTTP/2 prior-knowledge connection starts (`PRI * HTTP/2.0`).
const H2_PREFACE_START: &[u8] = b"PRI";

/// What the dispatcher knows about the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The listener address the client connected to.
    pub local: SocketAddr,
    /// Plaintext or TLS.
    pub scheme: Scheme,
    /// The service requests the router cannot place go to (a port-range route to one service).
    pub pinned: Option<&'static str>,
}

/// Tells a TLS ClientHello from plaintext by its first byte.
pub fn is_tls_handshake(first: u8) -> bool {
    first == TLS_HANDSHAKE
}

pub(crate) async fn handle(
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    pinned: Option<&'static str>,
    shared: Arc<Shared>,
) {
    let _ = stream.set_nodelay(true);
    let mut first = [0u8; 3];
    let peeked = tokio::select! {
        r = timeout(shared.handshake_timeout, stream.peek(&mut first)) => r,
        _ = shared.shutdown.wait() => return,
    };
    let first = match peeked {
        Ok(Ok(n)) if n > 0 => &first[..n],
        Ok(Ok(_)) | Ok(Err(_)) => return,
        Err(_) => {
            tracing::debug!(%peer, "connection sent nothing before the timeout; closing");
            return;
        }
    };
    // Everything after the first byte lives in its own allocation: a connection that is still silent (the
    // common case for pools of idle connections) then holds a task of a few hundred bytes instead of one
    // sized for the TLS handshake and the HTTP/1 and HTTP/2 connection state.
    let tls = is_tls_handshake(first[0]);
    let http1 = first != H2_PREFACE_START;
    Box::pin(established(stream, tls, http1, peer, local, pinned, shared)).await;
}

/// Terminates TLS when the first byte was a handshake, then serves HTTP.
async fn established(
    stream: TcpStream,
    tls: bool,
    http1: bool,
    peer: SocketAddr,
    local: SocketAddr,
    pinned: Option<&'static str>,
    shared: Arc<Shared>,
) {
    if tls {
        let Some(acceptor) = shared.tls.clone() else {
            tracing::debug!(%peer, "TLS handshake on a listener without TLS; closing");
            return;
        };
        match timeout(shared.handshake_timeout, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => {
                let info = ConnInfo {
                    peer,
                    local,
                    scheme: Scheme::Https,
                    pinned,
                };
                let http1 = tls.get_ref().1.alpn_protocol() != Some(b"h2");
                serve(tls, info, http1, shared).await;
            }
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        }
    } else {
        let info = ConnInfo {
            peer,
            local,
            scheme: Scheme::Http,
            pinned,
        };
        serve(stream, info, http1, shared).await;
    }
}

/// Serves HTTP on an established connection. `http1` connections get the stuck-head watchdog (HTTP/2 has
/// its own flow control and keep-alive pings, which would look like a pending head).
async fn serve<S>(io: S, info: ConnInfo, http1: bool, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let svc_shared = shared.clone();
    let svc_activity = activity.clone();
    let service = service_fn(move |request| {
        let in_flight = svc_activity.request();
        let handling = crate::dispatch::handle(svc_shared.clone(), info, request);
        async move {
            let response = handling.await;
            drop(in_flight);
            response
        }
    });
    let io = CountingIo::new(io, activity.clone());
    let conn = shared
        .http
        .serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let stuck = async {
        if http1 {
            watchdog::stuck_head(activity, shared.header_read_timeout).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(peer = %info.peer, error = %e, "connection ended with an error");
            }
        }
        _ = stuck => {
            tracing::debug!(peer = %info.peer, "request head incomplete after the header read timeout; closing");
        }
        _ = shared.shutdown.wait() => {
            hyper_util::server::conn::auto::UpgradeableConnection::graceful_shutdown(conn.as_mut());
            let _ = conn.await;
        }
    }
}

//! The transport: UDP and TCP listeners (added at start or at run time), the TCP framing with idle
//! and stall timeouts and a connection bound, bounded concurrency for forwarded UDP queries, and
//! graceful shutdown through one watch signal every task listens to.
//!
//! Why our own loops instead of hickory-server's `ServerFuture`: they give exact control over what
//! this server promises (stall timeout inside a TCP message, a hard connection bound, answering
//! local names inline on the receive task without a spawn, FORMERR from a bare header, truncation to
//! the client's EDNS size, listeners added to a running server). The answer logic stays apart in
//! `handler`/`answer`, as hickory-server's `RequestHandler` would keep it.

use std::io::IoSlice;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::rr::RecordType;
use rustix::net::addr::SocketAddrArg;
use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::answer::{Answerer, Explanation, explain_with};
use crate::config::DnsConfig;
use crate::error::{DnsError, Result, Transport};
use crate::forward::Forwarder;
use crate::handler::{Shared, Step};
use crate::memo::AnswerMemo;
use crate::netinfo::NetView;
use crate::registry::Records;

/// Upper bound on forwarded UDP queries being worked on at once (beyond it, packets are dropped and
/// the client retries).
const MAX_UDP_FORWARD_TASKS: usize = 4096;
/// Datagrams handled per wake-up of a UDP listener before it lets other tasks run.
const UDP_BURST: usize = 64;
/// Socket receive buffer asked for on UDP listeners (absorbs bursts, e.g. under dnsperf).
const UDP_RECV_BUFFER: usize = 4 * 1024 * 1024;

/// A running DNS server. Dropping it stops every listener (like [`DnsServer::shutdown`] without
/// waiting).
#[derive(Debug)]
pub struct DnsServer {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    listeners: Mutex<Vec<SocketAddr>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    udp_tasks: Arc<Semaphore>,
    tcp_conns: Arc<Semaphore>,
    tcp_idle_timeout: Duration,
}

impl DnsServer {
    /// Builds the server and binds every address in `config.listen` (UDP and TCP each). Must be
    /// called inside a Tokio runtime.
    pub async fn start(config: DnsConfig) -> Result<DnsServer> {
        let records = Records::new();
        let listen = config.listen.clone();
        let forwarder = Forwarder::new(
            config.upstreams.clone(),
            config.upstream_timeout,
            config.max_inflight_upstream,
            config.cache_entries,
        );
        let net = NetView::new(config.interfaces.clone());
        let tcp_conns = Arc::new(Semaphore::new(config.max_tcp_connections.max(1)));
        let tcp_idle_timeout = config.tcp_idle_timeout;
        let answerer = Answerer::new(config, records)?;
        let (shutdown, _) = watch::channel(false);
        let server = DnsServer {
            shared: Arc::new(Shared {
                answerer,
                net,
                forwarder,
            }),
            shutdown,
            listeners: Mutex::new(Vec::new()),
            tasks: Mutex::new(Vec::new()),
            udp_tasks: Arc::new(Semaphore::new(MAX_UDP_FORWARD_TASKS)),
            tcp_conns,
            tcp_idle_timeout,
        };
        for addr in listen {
            server.add_listener(addr).await?;
        }
        Ok(server)
    }

    /// Starts answering on `addr` as well (UDP and TCP on the same port; port 0 picks a free one).
    /// Returns the bound address.
    pub async fn add_listener(&self, addr: SocketAddr) -> Result<SocketAddr> {
        let (udp, tcp, bound) = bind_pair(addr)?;
        let udp = Arc::new(
            UdpSocket::from_std(udp).map_err(|e| DnsError::bind(addr, Transport::Udp, e))?,
        );
        let tcp =
            TcpListener::from_std(tcp).map_err(|e| DnsError::bind(addr, Transport::Tcp, e))?;
        let udp_task = tokio::spawn(udp_loop(
            Arc::clone(&self.shared),
            udp,
            bound,
            self.shutdown.subscribe(),
            Arc::clone(&self.udp_tasks),
        ));
        let tcp_task = tokio::spawn(tcp_accept_loop(
            Arc::clone(&self.shared),
            tcp,
            bound,
            self.shutdown.subscribe(),
            Arc::clone(&self.tcp_conns),
            self.tcp_idle_timeout,
        ));
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend([udp_task, tcp_task]);
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(bound);
        tracing::debug!(addr = %bound, "dns: listening (udp+tcp)");
        Ok(bound)
    }

    /// The addresses currently listened on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The runtime record registry (a shared handle; give clones to services).
    pub fn records(&self) -> Records {
        self.shared.answerer.records().clone()
    }

    /// What a client at `client` would get for `name`/`qtype`, and why (uses the live interfaces
    /// and registry; forwarded names are not actually resolved).
    pub fn explain(&self, name: &str, qtype: RecordType, client: IpAddr) -> Result<Explanation> {
        let snap = self.shared.net.snapshot_for(client);
        explain_with(&self.shared.answerer, &snap, name, qtype, client)
    }

    /// Stops every listener and connection and waits for the listener tasks to end.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            if let Err(e) = t.await {
                tracing::debug!(error = %e, "dns: listener task ended abnormally");
            }
        }
        tracing::info!("dns: stopped");
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

fn new_socket(
    addr: SocketAddr,
    ty: Type,
    protocol: Protocol,
    transport: Transport,
) -> Result<Socket> {
    let bind_err = |e| DnsError::bind(addr, transport, e);
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol)).map_err(bind_err)?;
    if addr.is_ipv6() {
        // Explicit: an IPv6 listener never also takes IPv4, so 0.0.0.0 and [::] can both be bound.
        socket.set_only_v6(true).map_err(bind_err)?;
    }
    socket.set_nonblocking(true).map_err(bind_err)?;
    Ok(socket)
}

fn bind_udp(addr: SocketAddr) -> Result<std::net::UdpSocket> {
    let socket = new_socket(addr, Type::DGRAM, Protocol::UDP, Transport::Udp)?;
    if let Err(e) = socket.set_recv_buffer_size(UDP_RECV_BUFFER) {
        tracing::debug!(error = %e, "dns: cannot enlarge the UDP receive buffer");
    }
    socket
        .bind(&addr.into())
        .map_err(|e| DnsError::bind(addr, Transport::Udp, e))?;
    Ok(socket.into())
}

fn bind_tcp(addr: SocketAddr) -> Result<std::net::TcpListener> {
    let socket = new_socket(addr, Type::STREAM, Protocol::TCP, Transport::Tcp)?;
    let bind_err = |e| DnsError::bind(addr, Transport::Tcp, e);
    socket.set_reuse_address(true).map_err(bind_err)?;
    socket.bind(&addr.into()).map_err(bind_err)?;
    socket.listen(1024).map_err(bind_err)?;
    Ok(socket.into())
}

/// Binds UDP and TCP on the same port. With port 0, UDP picks the port and TCP follows (retrying
/// with another port if TCP's is taken).
fn bind_pair(addr: SocketAddr) -> Result<(std::net::UdpSocket, std::net::TcpListener, SocketAddr)> {
    let attempts = if addr.port() == 0 { 16 } else { 1 };
    let mut last_err = None;
    for _ in 0..attempts {
        let udp = bind_udp(addr)?;
        let bound = udp
            .local_addr()
            .map_err(|e| DnsError::bind(addr, Transport::Udp, e))?;
        match bind_tcp(bound) {
            Ok(tcp) => return Ok((udp, tcp, bound)),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| {
        DnsError::bind(
            addr,
            Transport::Tcp,
            std::io::Error::from(std::io::ErrorKind::AddrInUse),
        )
    }))
}

/// Receives and answers UDP queries. Each wake-up drains the socket (up to `UDP_BURST` packets)
/// with non-blocking receives, answering repeated queries from the listener's [`AnswerMemo`] and
/// everything else decided synchronously inline, and sends those replies with one `sendmmsg`;
/// forwarded queries get a task each.
async fn udp_loop(
    shared: Arc<Shared>,
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
    tasks: Arc<Semaphore>,
) {
    let mut buf = vec![0u8; 65_535];
    let mut out = Vec::with_capacity(512);
    let mut memo = AnswerMemo::new();
    let mut outbox = Outbox::default();
    loop {
        let ready = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            r = socket.readable() => r,
        };
        if let Err(e) = ready {
            tracing::debug!(error = %e, %local, "dns: udp socket error");
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        for _ in 0..UDP_BURST {
            let (n, peer) = match socket.try_recv_from(&mut buf) {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, %local, "dns: udp receive error");
                    continue;
                }
            };
            let Some(packet) = buf.get(..n) else { continue };
            let client = peer.ip();
            if memo.answer(client, packet, &mut out, |f| shared.still_fresh(f, client)) {
                outbox.push(&out, peer);
                continue;
            }
            match shared.process(packet, peer, local, Transport::Udp) {
                Step::Answer(bytes, freshness) => {
                    outbox.push(&bytes, peer);
                    memo.remember(client, packet, &bytes, freshness);
                }
                Step::Reply(bytes) => outbox.push(&bytes, peer),
                Step::Drop => {}
                Step::Forward(job) => {
                    let Ok(permit) = Arc::clone(&tasks).try_acquire_owned() else {
                        tracing::debug!(%peer, "dns: too many forwarded queries in progress, dropping");
                        continue;
                    };
                    let shared = Arc::clone(&shared);
                    let socket = Arc::clone(&socket);
                    tokio::spawn(async move {
                        let bytes = shared.forward(job).await;
                        send_udp(&socket, &bytes, peer).await;
                        drop(permit);
                    });
                }
            }
        }
        outbox.flush(&socket).await;
    }
}

/// Replies gathered while draining a UDP socket, sent together with one `sendmmsg` call.
#[derive(Debug, Default)]
struct Outbox {
    bytes: Vec<u8>,
    replies: Vec<(Range<usize>, SocketAddr)>,
}

impl Outbox {
    fn push(&mut self, reply: &[u8], peer: SocketAddr) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(reply);
        self.replies.push((start..self.bytes.len(), peer));
    }

    /// Sends every gathered reply (waiting while the socket cannot take more), then empties.
    async fn flush(&mut self, socket: &UdpSocket) {
        let mut next = 0;
        while next < self.replies.len() {
            match self.try_send_from(socket, next) {
                Ok(0) => next += 1,
                Ok(sent) => next += sent,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if let Err(e) = socket.writable().await {
                        tracing::debug!(error = %e, "dns: udp socket not writable, dropping replies");
                        break;
                    }
                }
                Err(e) => {
                    // sendmmsg reports an error only for its first message: skip that one.
                    let peer = self.replies.get(next).map(|(_, p)| *p);
                    tracing::debug!(error = %e, ?peer, "dns: udp send failed");
                    next += 1;
                }
            }
        }
        self.bytes.clear();
        self.replies.clear();
    }

    /// One `sendmmsg` of the replies from index `from` on; the number sent.
    fn try_send_from(&self, socket: &UdpSocket, from: usize) -> std::io::Result<usize> {
        let batch = self.replies.get(from..).unwrap_or_default();
        let addrs: Vec<SocketAddrAny> = batch.iter().map(|(_, peer)| peer.as_any()).collect();
        let iovs: Vec<[IoSlice<'_>; 1]> = batch
            .iter()
            .map(|(range, _)| {
                [IoSlice::new(
                    self.bytes.get(range.clone()).unwrap_or_default(),
                )]
            })
            .collect();
        let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> = batch
            .iter()
            .map(|_| SendAncillaryBuffer::default())
            .collect();
        let mut msgs: Vec<MMsgHdr<'_>> = addrs
            .iter()
            .zip(&iovs)
            .zip(controls.iter_mut())
            .map(|((addr, iov), control)| MMsgHdr::new_with_addr(addr, iov, control))
            .collect();
        socket.try_io(Interest::WRITABLE, || {
            rustix::net::sendmmsg(socket, &mut msgs, SendFlags::empty()).map_err(Into::into)
        })
    }
}

/// Sends one datagram: directly when the socket can take it (the usual case), else waiting.
async fn send_udp(socket: &UdpSocket, bytes: &[u8], peer: SocketAddr) {
    let sent = match socket.try_send_to(bytes, peer) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => socket.send_to(bytes, peer).await,
        other => other,
    };
    if let Err(e) = sent {
        tracing::debug!(error = %e, %peer, "dns: udp send failed");
    }
}

async fn tcp_accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    local: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
    conns: Arc<Semaphore>,
    idle: Duration,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Ok(permit) = Arc::clone(&conns).try_acquire_owned() else {
                    tracing::debug!(%peer, "dns: too many TCP connections, closing the new one");
                    drop(stream);
                    continue;
                };
                let shared = Arc::clone(&shared);
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    tcp_connection(shared, stream, peer, local, idle, shutdown).await;
                    drop(permit);
                });
            }
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(error = %e, %local, "dns: tcp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves one TCP connection: any number of length-prefixed queries, each answered in order. The
/// connection is closed when idle (or stalled inside a message) for `idle`, on a zero length, on an
/// unanswerable packet, or at shutdown.
async fn tcp_connection(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    idle: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let exchange = async {
            let len = tokio::time::timeout(idle, stream.read_u16())
                .await
                .ok()?
                .ok()?;
            if len == 0 {
                return None;
            }
            let mut body = vec![0u8; usize::from(len)];
            tokio::time::timeout(idle, stream.read_exact(&mut body))
                .await
                .ok()?
                .ok()?;
            let reply = shared.handle(&body, peer, local, Transport::Tcp).await?;
            let len = u16::try_from(reply.len()).ok()?;
            let mut framed = Vec::with_capacity(reply.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(&reply);
            tokio::time::timeout(idle, stream.write_all(&framed))
                .await
                .ok()?
                .ok()?;
            Some(())
        };
        let keep_going = tokio::select! {
            _ = shutdown.changed() => None,
            r = exchange => r,
        };
        if keep_going.is_none() {
            tracing::trace!(%peer, "dns: closing tcp connection");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outbox_sends_each_reply_to_its_peer_in_one_flush() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut outbox = Outbox::default();
        outbox.push(b"first", a.local_addr().unwrap());
        outbox.push(b"second", b.local_addr().unwrap());
        outbox.push(b"third", a.local_addr().unwrap());
        outbox.flush(&server).await;
        assert!(outbox.replies.is_empty() && outbox.bytes.is_empty());
        let mut buf = [0u8; 64];
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"first");
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"third");
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"second");
        // Nothing gathered: nothing sent, no error.
        outbox.flush(&server).await;
    }
}

//! Upstream forwarding: sends a client's query (its own bytes, so flags, EDNS and the additional
//! section pass through unchanged, with a fresh random ID from a fresh random port) to the upstreams
//! in order, retries over TCP when the UDP answer is truncated, fails over after a per-upstream
//! timeout, caches answers, bounds in-flight upstream queries and coalesces identical ones.
//!
//! Queries that arrive over TCP are forwarded the same way (UDP first, TCP on truncation): the
//! answer is the same and UDP is cheaper; the server then frames it for the client's transport.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, timeout_at};

use crate::cache::{Cache, CacheKey};

/// Why forwarding produced no answer (the client then gets SERVFAIL).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ForwardError {
    #[error("no upstream DNS server is configured")]
    NoUpstreams,
    #[error("too many upstream queries in flight")]
    Overloaded,
    #[error("every upstream failed or timed out")]
    AllFailed,
}

/// Why one upstream attempt failed (logged, then the next upstream is tried).
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("timed out")]
    Timeout,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("answered {0}")]
    Rcode(ResponseCode),
}

/// An upstream answer for one client.
#[derive(Debug)]
pub(crate) enum Forwarded {
    /// The upstream's own bytes (ID already set to the client's) plus their parsed form.
    Raw {
        bytes: Vec<u8>,
        parsed: Arc<Message>,
    },
    /// A response rebuilt for this client (cache hit, or shared with a coalesced query).
    Built(Message),
}

type Shared = Option<Arc<Message>>;

/// The forwarder shared by all listeners.
#[derive(Debug)]
pub(crate) struct Forwarder {
    upstreams: Vec<SocketAddr>,
    timeout: Duration,
    permits: Arc<Semaphore>,
    cache: Cache,
    inflight: Mutex<HashMap<CacheKey, watch::Receiver<Shared>>>,
}

/// Removes an in-flight entry when the leading query finishes or is cancelled.
struct InflightGuard<'a> {
    forwarder: &'a Forwarder,
    key: CacheKey,
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.forwarder
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

/// Adapts a shared upstream answer to one client's query: its ID, question spelling and flags.
pub(crate) fn adapt(mut response: Message, query: &Message) -> Message {
    response.metadata.id = query.id;
    response.metadata.recursion_desired = query.recursion_desired;
    response.metadata.checking_disabled = query.checking_disabled;
    // Echo the client's spelling of the name (0x20 clients check it) in the question and in the
    // records owned by that name.
    if let Some(q) = query.queries.first() {
        let asked = q.name();
        for r in response
            .answers
            .iter_mut()
            .chain(response.authorities.iter_mut())
            .chain(response.additionals.iter_mut())
        {
            if &r.name == asked {
                r.name = asked.clone();
            }
        }
    }
    response.queries = query.queries.clone();
    if query.edns.is_none() {
        response.edns = None;
    }
    response
}

fn question_matches(response: &Message, query: &Message) -> bool {
    response.message_type == MessageType::Response
        && response.queries.len() == query.queries.len()
        && response
            .queries
            .iter()
            .zip(query.queries.iter())
            .all(|(a, b)| {
                a.name() == b.name()
                    && a.query_type() == b.query_type()
                    && a.query_class() == b.query_class()
            })
}

impl Forwarder {
    pub(crate) fn new(
        upstreams: Vec<SocketAddr>,
        timeout: Duration,
        max_inflight: usize,
        cache_entries: usize,
    ) -> Self {
        Forwarder {
            upstreams,
            timeout,
            permits: Arc::new(Semaphore::new(max_inflight.max(1))),
            cache: Cache::new(cache_entries),
            inflight: Mutex::new(HashMap::new()),
        }
    }

    /// A cached answer for `query`, rebuilt for this client, without waiting (the receive task
    /// answers cache hits inline, like local names).
    /// Also says until when that answer (its TTLs) stays exact.
    pub(crate) fn cached(&self, query: &Message) -> Option<(Message, std::time::Instant)> {
        if self.upstreams.is_empty() {
            return None;
        }
        let key = CacheKey::of(query)?;
        let hit = self.cache.get_fresh(&key)?;
        tracing::trace!(name = %key.name, qtype = %key.qtype, "dns: cache hit");
        Some((adapt(hit.message, query), hit.fresh_until))
    }

    /// Answers `query` (whose wire form is `raw`) from the cache or the upstreams.
    pub(crate) async fn forward(
        &self,
        query: &Message,
        raw: &[u8],
    ) -> Result<Forwarded, ForwardError> {
        if self.upstreams.is_empty() {
            return Err(ForwardError::NoUpstreams);
        }
        let Some(key) = CacheKey::of(query) else {
            return Err(ForwardError::AllFailed);
        };
        if let Some(hit) = self.cache.get(&key) {
            tracing::trace!(name = %key.name, qtype = %key.qtype, "dns: cache hit");
            return Ok(Forwarded::Built(adapt(hit, query)));
        }

        // Coalesce: join an identical query already on its way, or lead one.
        let joined = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            match inflight.get(&key) {
                Some(rx) => Err(rx.clone()),
                None => {
                    let (tx, rx) = watch::channel(None);
                    inflight.insert(key.clone(), rx);
                    Ok(tx)
                }
            }
        };
        let sender = match joined {
            Ok(tx) => tx,
            Err(rx) => return self.follow(rx, query).await,
        };
        let guard = InflightGuard {
            forwarder: self,
            key: key.clone(),
        };

        let budget = self.overall_budget();
        let permit =
            match tokio::time::timeout(budget, Arc::clone(&self.permits).acquire_owned()).await {
                Ok(Ok(p)) => p,
                _ => return Err(ForwardError::Overloaded),
            };
        let result = self.query_upstreams(query, raw).await;
        drop(permit);
        match result {
            Some((mut bytes, parsed)) => {
                self.cache.insert(key, &parsed);
                let parsed = Arc::new(parsed);
                sender.send_replace(Some(Arc::clone(&parsed)));
                drop(guard);
                let id = query.id.to_be_bytes();
                if let Some(head) = bytes.get_mut(0..2) {
                    head.copy_from_slice(&id);
                }
                Ok(Forwarded::Raw { bytes, parsed })
            }
            None => {
                drop(guard);
                Err(ForwardError::AllFailed)
            }
        }
    }

    fn overall_budget(&self) -> Duration {
        // Every upstream may take a UDP and a TCP attempt.
        let n = u32::try_from(self.upstreams.len()).unwrap_or(u32::MAX);
        self.timeout
            .saturating_mul(n.saturating_mul(2))
            .saturating_add(Duration::from_secs(1))
    }

    async fn follow(
        &self,
        mut rx: watch::Receiver<Shared>,
        query: &Message,
    ) -> Result<Forwarded, ForwardError> {
        let wait = rx.wait_for(Option::is_some);
        match tokio::time::timeout(self.overall_budget(), wait).await {
            Ok(Ok(shared)) => match shared.as_ref() {
                Some(msg) => Ok(Forwarded::Built(adapt((**msg).clone(), query))),
                None => Err(ForwardError::AllFailed),
            },
            _ => Err(ForwardError::AllFailed),
        }
    }

    async fn query_upstreams(&self, query: &Message, raw: &[u8]) -> Option<(Vec<u8>, Message)> {
        for upstream in &self.upstreams {
            match self.query_one(*upstream, query, raw).await {
                Ok(answer) => return Some(answer),
                Err(e) => {
                    tracing::debug!(%upstream, error = %e, "dns: upstream attempt failed, trying the next")
                }
            }
        }
        tracing::warn!(
            name = %query.queries.first().map(|q| q.name().to_string()).unwrap_or_default(),
            "dns: all upstreams failed; answering SERVFAIL"
        );
        None
    }

    async fn query_one(
        &self,
        upstream: SocketAddr,
        query: &Message,
        raw: &[u8],
    ) -> Result<(Vec<u8>, Message), AttemptError> {
        let id = fastrand::u16(..);
        let mut packet = raw.to_vec();
        if let Some(head) = packet.get_mut(0..2) {
            head.copy_from_slice(&id.to_be_bytes());
        }
        let (bytes, msg) = self.udp_attempt(upstream, &packet, id, query).await?;
        let (bytes, msg) = if msg.truncation {
            tracing::debug!(%upstream, "dns: truncated UDP answer, retrying over TCP");
            self.tcp_attempt(upstream, &packet, id, query).await?
        } else {
            (bytes, msg)
        };
        match msg.response_code {
            ResponseCode::ServFail | ResponseCode::Refused => {
                Err(AttemptError::Rcode(msg.response_code))
            }
            _ => Ok((bytes, msg)),
        }
    }

    async fn udp_attempt(
        &self,
        upstream: SocketAddr,
        packet: &[u8],
        id: u16,
        query: &Message,
    ) -> Result<(Vec<u8>, Message), AttemptError> {
        let deadline = Instant::now() + self.timeout;
        let bind: SocketAddr = match upstream.ip() {
            IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(bind).await?;
        socket.connect(upstream).await?;
        socket.send(packet).await?;
        let mut buf = vec![0u8; 65_535];
        loop {
            let n = timeout_at(deadline, socket.recv(&mut buf))
                .await
                .map_err(|_| AttemptError::Timeout)??;
            let Some(bytes) = buf.get(..n) else { continue };
            if let Some(msg) = accept(bytes, id, query) {
                return Ok((bytes.to_vec(), msg));
            }
            tracing::debug!(%upstream, "dns: ignoring a UDP packet that does not answer our query");
        }
    }

    async fn tcp_attempt(
        &self,
        upstream: SocketAddr,
        packet: &[u8],
        id: u16,
        query: &Message,
    ) -> Result<(Vec<u8>, Message), AttemptError> {
        let deadline = Instant::now() + self.timeout;
        let exchange = async {
            let mut stream = TcpStream::connect(upstream).await?;
            let len = u16::try_from(packet.len()).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "query too long")
            })?;
            let mut framed = Vec::with_capacity(packet.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(packet);
            stream.write_all(&framed).await?;
            loop {
                let len = stream.read_u16().await?;
                let mut body = vec![0u8; usize::from(len)];
                stream.read_exact(&mut body).await?;
                if let Some(msg) = accept(&body, id, query) {
                    return Ok::<_, std::io::Error>((body, msg));
                }
            }
        };
        Ok(timeout_at(deadline, exchange)
            .await
            .map_err(|_| AttemptError::Timeout)??)
    }
}

fn accept(bytes: &[u8], id: u16, query: &Message) -> Option<Message> {
    let msg = Message::from_vec(bytes).ok()?;
    (msg.id == id && question_matches(&msg, query)).then_some(msg)
}

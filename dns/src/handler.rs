//! The request path, independent of sockets: bytes in, bytes (or nothing) out. Parses and validates
//! the query (FORMERR, NOTIMP, BADVERS, REFUSED), applies the ACL, answers Skyport's names
//! (and cache hits of forwarded names) synchronously and hands everything else to the forwarder;
//! sizes UDP responses to the client's EDNS buffer (truncating with TC).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};

use crate::answer::{Answerer, Decision};
use crate::config::ADVERTISED_UDP_PAYLOAD;
use crate::error::Transport;
use crate::forward::{Forwarded, Forwarder};
use crate::memo::Freshness;
use crate::netinfo::{NetView, client_allowed, specific_local};

/// Size of a DNS header.
const HEADER_LEN: usize = 12;
/// UDP payload a client without EDNS can take (RFC 1035).
const CLASSIC_UDP_LIMIT: usize = 512;

/// State shared by every listener task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) answerer: Answerer,
    pub(crate) net: NetView,
    pub(crate) forwarder: Forwarder,
}

/// A query that must go upstream, with what is needed to finish the reply.
#[derive(Debug)]
pub(crate) struct ForwardJob {
    query: Message,
    raw: Vec<u8>,
    limit: usize,
}

/// The synchronous outcome of a packet.
#[derive(Debug)]
pub(crate) enum Step {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Send these bytes back; the same query bytes (with any ID) from the same client on the same
    /// listener get the same bytes while `Freshness` holds (see `memo`).
    Answer(Vec<u8>, Freshness),
    /// Send nothing (not a query, or too broken to answer).
    Drop,
    /// Forward upstream, then reply.
    Forward(Box<ForwardJob>),
}

/// A FORMERR built from the raw header alone (for packets that do not parse).
fn formerr_from_header(raw: &[u8]) -> Option<Vec<u8>> {
    let head = raw.get(..HEADER_LEN)?;
    let (id0, id1, flags0) = (head[0], head[1], head[2]);
    // QR=1, opcode copied, AA=0, TC=0, RD copied; RA=1, rcode=FORMERR; all counts zero.
    let byte2 = 0x80 | (flags0 & 0x78) | (flags0 & 0x01);
    let byte3 = 0x80 | 0x01;
    let mut out = vec![id0, id1, byte2, byte3];
    out.extend_from_slice(&[0; 8]);
    Some(out)
}

fn is_response_bit(raw: &[u8]) -> bool {
    raw.get(2).is_some_and(|b| b & 0x80 != 0)
}

/// The response skeleton for a parsed query: ID, opcode, RD/CD copied, RA set, question echoed,
/// our OPT when the client sent one.
fn response_for(query: &Message, rcode: ResponseCode) -> Message {
    let mut m = Message::response(query.id, query.op_code);
    m.metadata.recursion_desired = query.recursion_desired;
    m.metadata.checking_disabled = query.checking_disabled;
    m.metadata.recursion_available = true;
    m.metadata.response_code = rcode;
    m.queries = query.queries.clone();
    if let Some(client_edns) = &query.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(ADVERTISED_UDP_PAYLOAD);
        edns.set_version(0);
        edns.set_dnssec_ok(client_edns.flags().dnssec_ok);
        m.set_edns(edns);
    }
    m
}

/// The largest response the client accepts on this transport.
fn response_limit(query: &Message, transport: Transport) -> usize {
    match transport {
        Transport::Tcp => usize::from(u16::MAX),
        Transport::Udp => query.edns.as_ref().map_or(CLASSIC_UDP_LIMIT, |e| {
            usize::from(e.max_payload()).max(CLASSIC_UDP_LIMIT)
        }),
    }
}

/// Serialises `msg`, truncating (header, question, OPT, TC set) when it exceeds `limit`.
fn encode(msg: &Message, limit: usize) -> Vec<u8> {
    match msg.to_vec() {
        Ok(bytes) if bytes.len() <= limit => bytes,
        Ok(_) => encode_truncated(msg),
        Err(e) => {
            tracing::warn!(error = %e, "dns: cannot encode a response; sending SERVFAIL");
            let mut fail = Message::response(msg.id, msg.op_code);
            fail.metadata.response_code = ResponseCode::ServFail;
            fail.metadata.recursion_available = true;
            fail.to_vec().unwrap_or_default()
        }
    }
}

fn encode_truncated(msg: &Message) -> Vec<u8> {
    let mut t = msg.truncate();
    t.metadata.truncation = true;
    t.to_vec().unwrap_or_else(|_| {
        let mut bare = Message::response(msg.id, msg.op_code);
        bare.metadata.truncation = true;
        bare.to_vec().unwrap_or_default()
    })
}

impl Shared {
    /// Everything that can be decided without waiting: validation, ACL, local answers.
    pub(crate) fn process(
        &self,
        raw: &[u8],
        client: SocketAddr,
        local: SocketAddr,
        transport: Transport,
    ) -> Step {
        if raw.len() < HEADER_LEN || is_response_bit(raw) {
            return Step::Drop;
        }
        // Read before anything is looked up: an answer built afterwards is current for it.
        let registry = self.answerer.records().generation();
        let client_ip = client.ip();
        let snap = self.net.snapshot_for(client_ip);
        let allowed = client_allowed(&self.answerer.config, &snap, client_ip);
        let query = match Message::from_vec(raw) {
            Ok(q) => q,
            Err(e) => {
                tracing::debug!(%client, error = %e, "dns: malformed query");
                return match (allowed, formerr_from_header(raw)) {
                    (true, Some(bytes)) => Step::Reply(bytes),
                    _ => Step::Drop,
                };
            }
        };
        if query.message_type != MessageType::Query {
            return Step::Drop;
        }
        let limit = response_limit(&query, transport);
        let reply = |rcode| Step::Reply(encode(&response_for(&query, rcode), limit));
        if !allowed {
            tracing::debug!(%client, "dns: client not allowed, REFUSED");
            return reply(ResponseCode::Refused);
        }
        if query.op_code != OpCode::Query {
            return reply(ResponseCode::NotImp);
        }
        let [question] = query.queries.as_slice() else {
            return reply(ResponseCode::FormErr);
        };
        if query.edns.as_ref().is_some_and(|e| e.version() > 0) {
            let mut m = response_for(&query, ResponseCode::BADVERS);
            if m.edns.is_none() {
                m.set_edns(Edns::new());
            }
            return Step::Reply(encode(&m, limit));
        }
        let qtype = question.query_type();
        if matches!(qtype, RecordType::OPT) {
            return reply(ResponseCode::FormErr);
        }
        if question.query_class() != DNSClass::IN
            || matches!(qtype, RecordType::AXFR | RecordType::IXFR)
        {
            return reply(ResponseCode::Refused);
        }
        let qname = question.name().clone();
        match self
            .answerer
            .decide(&snap, &qname, qtype, client_ip, specific_local(local))
        {
            Decision::Local(ans) => {
                let mut m = response_for(&query, ResponseCode::NoError);
                m.metadata.authoritative = true;
                m.answers = ans.answers;
                m.authorities = ans.authorities;
                m.additionals = ans.additionals;
                let freshness = Freshness {
                    snapshot: Arc::clone(&snap),
                    registry,
                    until: None,
                };
                Step::Answer(encode(&m, limit), freshness)
            }
            Decision::Forward { skip_pattern } => {
                if let Some(p) = skip_pattern {
                    tracing::trace!(name = %qname, pattern = %p, "dns: skip pattern, forwarding");
                }
                if let Some((hit, fresh_until)) = self.forwarder.cached(&query) {
                    let freshness = Freshness {
                        snapshot: Arc::clone(&snap),
                        registry,
                        until: Some(fresh_until),
                    };
                    return Step::Answer(encode(&hit, limit), freshness);
                }
                Step::Forward(Box::new(ForwardJob {
                    query,
                    raw: raw.to_vec(),
                    limit,
                }))
            }
        }
    }

    /// Whether an answer remembered with `freshness` is still the one `client` would get now.
    pub(crate) fn still_fresh(&self, freshness: &Freshness, client: IpAddr) -> bool {
        freshness.registry == self.answerer.records().generation()
            && freshness.until.is_none_or(|t| Instant::now() < t)
            && Arc::ptr_eq(&freshness.snapshot, &self.net.snapshot_for(client))
    }

    /// Finishes a forwarded query: the upstream's answer sized for the client, or SERVFAIL.
    pub(crate) async fn forward(&self, job: Box<ForwardJob>) -> Vec<u8> {
        let ForwardJob { query, raw, limit } = *job;
        match self.forwarder.forward(&query, &raw).await {
            Ok(Forwarded::Raw { bytes, parsed }) => {
                if bytes.len() <= limit {
                    bytes
                } else {
                    encode_truncated(&crate::forward::adapt((*parsed).clone(), &query))
                }
            }
            Ok(Forwarded::Built(msg)) => encode(&msg, limit),
            Err(e) => {
                tracing::debug!(error = %e, "dns: forwarding failed, SERVFAIL");
                encode(&response_for(&query, ResponseCode::ServFail), limit)
            }
        }
    }

    /// The whole request path (used by TCP connections and tests).
    pub(crate) async fn handle(
        &self,
        raw: &[u8],
        client: SocketAddr,
        local: SocketAddr,
        transport: Transport,
    ) -> Option<Vec<u8>> {
        match self.process(raw, client, local, transport) {
            Step::Reply(bytes) | Step::Answer(bytes, _) => Some(bytes),
            Step::Drop => None,
            Step::Forward(job) => Some(self.forward(job).await),
        }
    }
}

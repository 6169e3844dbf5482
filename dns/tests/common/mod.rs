//! Shared helpers for the DNS integration tests: start the server on loopback, run the real `dig`,
//! a fake upstream resolver on 127.0.0.1 that counts queries; `dig` parsing and network namespaces come
//! from `skyport-testkit`.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsOption, NSIDPayload};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use skyport_dns::{DnsConfig, DnsServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// Starts a server on 127.0.0.1 with a free port, with `tweak` applied to the default config.
pub async fn start_server(tweak: impl FnOnce(&mut DnsConfig)) -> (DnsServer, u16) {
    let mut config = DnsConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        ..DnsConfig::default()
    };
    tweak(&mut config);
    let server = DnsServer::start(config).await.expect("server starts");
    let port = server.local_addrs()[0].port();
    (server, port)
}

// Each test file uses its own subset.
#[allow(unused_imports)]
pub use skyport_testkit::dig::{Dig, dig_in};
#[allow(unused_imports)]
pub use skyport_testkit::netns::{NetnsGuard, is_root, root_required};

/// Runs the real `dig` against `server` (`+tries=1 +time=2`) with extra arguments.
pub fn dig(server: IpAddr, port: u16, args: &[&str]) -> Dig {
    dig_in(None, server, port, args)
}

/// How the fake upstream behaves.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// Answers like a tiny authoritative server (see [`FakeUpstream::start`]).
    Answer,
    /// Receives and never answers (a dead upstream).
    Silent,
}

/// A fake upstream resolver on 127.0.0.1 (UDP and TCP on the same port) that counts queries.
///
/// Names: `nx.*` → NXDOMAIN with an SOA (minimum 60); `big.*` → over UDP an empty TC answer, over
/// TCP 40 A records; `slow.*` → answered after 300 ms; anything else → one A record 192.0.2.1
/// (ttl 120). The reply carries an OPT (payload 4000) with an NSID option `fake-upstream` when the
/// query had EDNS.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    pub udp_queries: Arc<AtomicUsize>,
    pub tcp_queries: Arc<AtomicUsize>,
    pub last_query: Arc<Mutex<Option<Message>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn fake_answer(query: &Message, over_tcp: bool) -> Message {
    let mut m = Message::new(query.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = query.recursion_desired;
    m.metadata.recursion_available = true;
    m.metadata.checking_disabled = query.checking_disabled;
    m.queries = query.queries.clone();
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(4000);
        edns.options_mut()
            .insert(EdnsOption::NSID(NSIDPayload::new("fake-upstream").unwrap()));
        m.set_edns(edns);
    }
    let Some(q) = query.queries.first() else {
        m.metadata.response_code = ResponseCode::FormErr;
        return m;
    };
    let name = q.name().clone();
    let first = name
        .iter()
        .next()
        .map(|l| l.to_ascii_lowercase())
        .unwrap_or_default();
    match first.as_slice() {
        b"nx" => {
            m.metadata.response_code = ResponseCode::NXDomain;
            let soa = SOA::new(
                Name::from_ascii("ns.example.").unwrap(),
                Name::from_ascii("h.example.").unwrap(),
                1,
                3600,
                600,
                86400,
                60,
            );
            m.add_authority(Record::from_rdata(name.base_name(), 3600, RData::SOA(soa)));
        }
        b"big" if !over_tcp => {
            m.metadata.truncation = true;
        }
        b"big" => {
            for i in 0..40u8 {
                m.add_answer(Record::from_rdata(
                    name.clone(),
                    120,
                    RData::A(A::new(192, 0, 2, i)),
                ));
            }
        }
        _ if q.query_type() == RecordType::A => {
            m.add_answer(Record::from_rdata(
                name,
                120,
                RData::A(A::new(192, 0, 2, 1)),
            ));
        }
        _ => {}
    }
    m
}

fn is_slow(query: &Message) -> bool {
    query
        .queries
        .first()
        .and_then(|q| {
            q.name()
                .iter()
                .next()
                .map(|l| l.eq_ignore_ascii_case(b"slow"))
        })
        .unwrap_or(false)
}

impl FakeUpstream {
    pub async fn start(behaviour: Behaviour) -> FakeUpstream {
        // UDP picks a free port; TCP must get the same one (retry if a TCP socket already has it).
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            match TcpListener::bind(udp.local_addr().unwrap()).await {
                Ok(tcp) => break (Arc::new(udp), tcp),
                Err(_) => continue,
            }
        };
        let addr = udp.local_addr().unwrap();
        let udp_queries = Arc::new(AtomicUsize::new(0));
        let tcp_queries = Arc::new(AtomicUsize::new(0));
        let last_query = Arc::new(Mutex::new(None));
        let mut tasks = Vec::new();
        {
            let (count, last) = (udp_queries.clone(), last_query.clone());
            tasks.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 65535];
                loop {
                    let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                        continue;
                    };
                    count.fetch_add(1, Ordering::SeqCst);
                    if let Behaviour::Silent = behaviour {
                        continue;
                    }
                    let Ok(query) = Message::from_vec(&buf[..n]) else {
                        continue;
                    };
                    *last.lock().unwrap() = Some(query.clone());
                    let udp = udp.clone();
                    tokio::spawn(async move {
                        if is_slow(&query) {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                        }
                        let reply = fake_answer(&query, false).to_vec().unwrap();
                        let _ = udp.send_to(&reply, peer).await;
                    });
                }
            }));
        }
        // A silent upstream has no TCP listener at all (connections are refused).
        if let Behaviour::Silent = behaviour {
            drop(tcp);
        } else {
            let (count, last) = (tcp_queries.clone(), last_query.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((mut stream, _)) = tcp.accept().await else {
                        continue;
                    };
                    let (count, last) = (count.clone(), last.clone());
                    tokio::spawn(async move {
                        while let Ok(len) = stream.read_u16().await {
                            let mut body = vec![0u8; len as usize];
                            if stream.read_exact(&mut body).await.is_err() {
                                return;
                            }
                            count.fetch_add(1, Ordering::SeqCst);
                            let Ok(query) = Message::from_vec(&body) else {
                                return;
                            };
                            *last.lock().unwrap() = Some(query.clone());
                            let reply = fake_answer(&query, true).to_vec().unwrap();
                            let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                            framed.extend_from_slice(&reply);
                            if stream.write_all(&framed).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            }));
        }
        FakeUpstream {
            addr,
            udp_queries,
            tcp_queries,
            last_query,
            tasks,
        }
    }

    pub fn udp(&self) -> usize {
        self.udp_queries.load(Ordering::SeqCst)
    }

    pub fn tcp(&self) -> usize {
        self.tcp_queries.load(Ordering::SeqCst)
    }
}

/// Builds a wire query.
pub fn query_bytes(id: u16, name: &str, qtype: RecordType, edns: bool) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

/// Sends one UDP query to `server` and waits up to 3 s for the answer.
pub async fn udp_exchange(server: SocketAddr, packet: &[u8]) -> Option<Message> {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(packet, server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let n = tokio::time::timeout(Duration::from_secs(3), sock.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    Message::from_vec(&buf[..n]).ok()
}

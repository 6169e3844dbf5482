//! Helpers for the DNS end-to-end tests of the binary: a fake upstream resolver on 127.0.0.1 (UDP and
//! TCP, plain std threads) that records the names it was asked; `dig` and network namespaces come from
//! `skyport-testkit`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

// Each test file uses its own subset.
#[allow(unused_imports)]
pub use skyport_testkit::dig::{Dig, dig_in};
#[allow(unused_imports)]
pub use skyport_testkit::netns::{NetnsGuard, is_root, root_required};

/// `dig` against 127.0.0.1.
pub fn dig(port: u16, args: &[&str]) -> Dig {
    dig_in(None, LO, port, args)
}

/// The address the fake upstream answers every `A` question with.
pub const FAKE_A: &str = "192.0.2.1";
/// The TTL of its answers.
pub const FAKE_TTL: u32 = 120;

/// A fake upstream resolver on 127.0.0.1 (UDP and TCP on one port): every `A` question gets one
/// record `192.0.2.1` (ttl 120), other types an empty NOERROR. It records the names asked.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    pub queries: Arc<AtomicUsize>,
    pub names: Arc<Mutex<Vec<String>>>,
}

/// The question's name (dotted, lowercase) and type, and where the question ends.
fn parse_question(q: &[u8]) -> Option<(String, u16, usize)> {
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*q.get(pos)?);
        pos += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(q.get(pos..pos + len)?).to_ascii_lowercase());
        pos += len;
    }
    let qtype = u16::from_be_bytes([*q.get(pos)?, *q.get(pos + 1)?]);
    Some((labels.join("."), qtype, pos + 4))
}

/// Builds the fake upstream's answer to `q` (no EDNS, no additional section).
fn fake_answer(q: &[u8]) -> Option<(String, Vec<u8>)> {
    if q.len() < 12 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    let (name, qtype, end) = parse_question(q)?;
    let is_a = qtype == 1;
    let mut r = Vec::with_capacity(end + 16);
    r.extend_from_slice(&q[0..2]);
    r.push(0x80 | (q[2] & 0x01)); // QR, keep RD
    r.push(0x80); // RA, NOERROR
    r.extend_from_slice(&[0, 1, 0, u8::from(is_a), 0, 0, 0, 0]);
    r.extend_from_slice(q.get(12..end)?);
    if is_a {
        r.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
        r.extend_from_slice(&FAKE_TTL.to_be_bytes());
        r.extend_from_slice(&[0, 4, 192, 0, 2, 1]);
    }
    Some((name, r))
}

impl FakeUpstream {
    pub fn start() -> FakeUpstream {
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()) {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().unwrap();
        let queries = Arc::new(AtomicUsize::new(0));
        let names = Arc::new(Mutex::new(Vec::new()));
        {
            let (queries, names) = (queries.clone(), names.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65535];
                while let Ok((n, peer)) = udp.recv_from(&mut buf) {
                    queries.fetch_add(1, Ordering::SeqCst);
                    if let Some((name, reply)) = fake_answer(&buf[..n]) {
                        names.lock().unwrap().push(name);
                        let _ = udp.send_to(&reply, peer);
                    }
                }
            });
        }
        {
            let (queries, names) = (queries.clone(), names.clone());
            std::thread::spawn(move || {
                for stream in tcp.incoming() {
                    let Ok(stream) = stream else { continue };
                    let (queries, names) = (queries.clone(), names.clone());
                    std::thread::spawn(move || serve_tcp(stream, &queries, &names));
                }
            });
        }
        FakeUpstream {
            addr,
            queries,
            names,
        }
    }

    pub fn count(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }

    pub fn asked(&self, name: &str) -> bool {
        self.names.lock().unwrap().iter().any(|n| n == name)
    }
}

fn serve_tcp(mut stream: TcpStream, queries: &AtomicUsize, names: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut body).is_err() {
            return;
        }
        queries.fetch_add(1, Ordering::SeqCst);
        let Some((name, reply)) = fake_answer(&body) else {
            return;
        };
        names.lock().unwrap().push(name);
        let mut framed = u16::try_from(reply.len()).unwrap().to_be_bytes().to_vec();
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).is_err() {
            return;
        }
    }
}

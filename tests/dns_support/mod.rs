//! Helpers for the DNS end-to-end tests of the binary: run the real `dig` and pick its output apart,
//! a fake upstream resolver on 127.0.0.1 (UDP and TCP, plain std threads) that records the names it
//! was asked, and a network-namespace fixture with veth links that cleans up after itself (adapted
//! from `dns/tests/common`, which the root package cannot share).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// What `dig` printed, picked apart.
#[derive(Debug, Clone, Default)]
pub struct Dig {
    pub status: String,
    pub flags: Vec<String>,
    pub answers: Vec<String>,
    pub authority: Vec<String>,
    pub additional: Vec<String>,
    pub raw: String,
}

impl Dig {
    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }
}

/// Collapses whitespace so records compare as "name ttl class type rdata".
fn norm(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs the real `dig @server -p port +tries=1 +time=2 args...`, optionally inside a namespace.
pub fn dig_in(netns: Option<&str>, server: IpAddr, port: u16, args: &[&str]) -> Dig {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "dig"]);
            c
        }
        None => Command::new("dig"),
    };
    cmd.arg(format!("@{server}"))
        .arg("-p")
        .arg(port.to_string())
        .args(["+tries=1", "+time=2"])
        .args(args);
    let out = cmd
        .output()
        .expect("run dig (install it: apt-get install bind9-dnsutils)");
    parse_dig(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `dig` against 127.0.0.1.
pub fn dig(port: u16, args: &[&str]) -> Dig {
    dig_in(None, LO, port, args)
}

fn parse_dig(raw: String) -> Dig {
    let mut d = Dig {
        raw: raw.clone(),
        ..Dig::default()
    };
    let mut section = "";
    for line in raw.lines() {
        if let Some(rest) = line.split("status: ").nth(1) {
            d.status = rest.split(',').next().unwrap_or("").trim().to_string();
        }
        if let Some(rest) = line.strip_prefix(";; flags: ") {
            let flags = rest.split(';').next().unwrap_or("");
            d.flags = flags.split_whitespace().map(str::to_string).collect();
        }
        if line.starts_with(";; ANSWER SECTION") {
            section = "answer";
            continue;
        }
        if line.starts_with(";; AUTHORITY SECTION") {
            section = "authority";
            continue;
        }
        if line.starts_with(";; ADDITIONAL SECTION") {
            section = "additional";
            continue;
        }
        if line.trim().is_empty() {
            section = "";
            continue;
        }
        if line.starts_with(';') {
            continue;
        }
        let rec = norm(line);
        match section {
            "answer" => d.answers.push(rec),
            "authority" => d.authority.push(rec),
            "additional" => d.additional.push(rec),
            _ => {}
        }
    }
    d
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

/// Whether this process runs as root (network namespaces, port 53).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// True when root-only tests must run (fail instead of skip): `SKYPORT_REQUIRE_ROOT_TESTS=1`.
pub fn root_required() -> bool {
    std::env::var("SKYPORT_REQUIRE_ROOT_TESTS").is_ok_and(|v| v == "1")
}

fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// One network namespace linked to the host by a veth pair: host side `host_ip/24`, namespace side
/// `ns_ip/24`, with `/etc/netns/<name>/resolv.conf` pointing at `host_ip` (port 53).
pub struct Netns {
    pub name: String,
    pub host_if: String,
    pub host_ip: IpAddr,
    pub ns_ip: IpAddr,
}

/// A set of namespaces removed (with their veths and `/etc/netns` dirs) on drop, even after a panic.
pub struct NetnsGuard {
    pub namespaces: Vec<Netns>,
}

impl NetnsGuard {
    /// Creates one namespace per `198.18.<subnet>.0/24` (host .1, namespace .2); names are unique to
    /// this process.
    pub fn create(tag: &str, subnets: &[u8]) -> Result<NetnsGuard, String> {
        let pid = std::process::id() % 100_000;
        let mut guard = NetnsGuard {
            namespaces: Vec::new(),
        };
        for &s in subnets {
            let name = format!("skyport-{tag}-{pid}-{s}");
            let host_if = format!("sbh{pid}x{s}");
            let ns_if = format!("sbn{pid}x{s}");
            let host_ip: IpAddr = format!("198.18.{s}.1").parse().unwrap();
            let ns_ip: IpAddr = format!("198.18.{s}.2").parse().unwrap();
            sh(&["ip", "netns", "add", &name])?;
            guard.namespaces.push(Netns {
                name: name.clone(),
                host_if: host_if.clone(),
                host_ip,
                ns_ip,
            });
            sh(&[
                "ip", "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
            ])?;
            sh(&["ip", "link", "set", &ns_if, "netns", &name])?;
            let host_cidr = format!("{host_ip}/24");
            sh(&["ip", "addr", "add", &host_cidr, "dev", &host_if])?;
            sh(&["ip", "link", "set", &host_if, "up"])?;
            let ns_cidr = format!("{ns_ip}/24");
            let exec = ["ip", "netns", "exec", name.as_str()];
            sh(&[&exec[..], &["ip", "addr", "add", &ns_cidr, "dev", &ns_if]].concat())?;
            sh(&[&exec[..], &["ip", "link", "set", &ns_if, "up"]].concat())?;
            sh(&[&exec[..], &["ip", "link", "set", "lo", "up"]].concat())?;
            let dir = format!("/etc/netns/{name}");
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            std::fs::write(
                format!("{dir}/resolv.conf"),
                format!("nameserver {host_ip}\noptions timeout:2 attempts:1\n"),
            )
            .map_err(|e| e.to_string())?;
            // An /etc/hosts of its own so nothing in the host's hosts file interferes.
            std::fs::write(format!("{dir}/hosts"), "127.0.0.1 localhost\n")
                .map_err(|e| e.to_string())?;
        }
        Ok(guard)
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = sh(&["ip", "link", "del", &ns.host_if]);
            let _ = sh(&["ip", "netns", "del", &ns.name]);
            let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", ns.name));
        }
    }
}

//! Hostile input: thousands of random and malformed packets over UDP and TCP never take the server
//! down (it answers a good query afterwards), FORMERR where a reply can be formed, a stalled TCP
//! client is dropped within the idle timeout, and TCP connections are bounded.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::{dig, query_bytes, start_server, udp_exchange};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn header(id: u16, flags: u16, qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    [id, flags, qd, an, ns, ar]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

/// One malformed packet of kind `i % 8`.
fn malformed(rng: &mut fastrand::Rng, i: usize) -> Vec<u8> {
    let id = rng.u16(..);
    match i % 8 {
        // random bytes of random length
        0 => (0..rng.usize(0..600)).map(|_| rng.u8(..)).collect(),
        // truncated header
        1 => (0..rng.usize(0..12)).map(|_| rng.u8(..)).collect(),
        // header claiming huge counts, nothing behind it
        2 => header(id, 0x0100, 0xffff, 0xffff, 0xffff, 0xffff),
        // compression loop: the question name points at itself
        3 => {
            let mut p = header(id, 0x0100, 1, 0, 0, 0);
            p.extend_from_slice(&[0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01]);
            p
        }
        // two pointers pointing at each other
        4 => {
            let mut p = header(id, 0x0100, 1, 0, 0, 0);
            p.extend_from_slice(&[0xc0, 0x0e, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01]);
            p
        }
        // label length running past the end
        5 => {
            let mut p = header(id, 0x0100, 1, 0, 0, 0);
            p.extend_from_slice(&[0x3f, b'a', b'b']);
            p
        }
        // a valid query with random bit flips
        6 => {
            let mut p = query_bytes(id, "s3.amazonaws.com.", RecordType::A, rng.bool());
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(0..p.len());
                p[at] ^= 1 << rng.u8(0..8);
            }
            p
        }
        // a valid query truncated at a random point, or with a huge answer count
        _ => {
            let mut p = query_bytes(id, "example.com.", RecordType::AAAA, true);
            if rng.bool() {
                p.truncate(rng.usize(12..p.len()));
            } else {
                p[6] = 0xff;
                p[7] = 0xff;
            }
            p
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_malformed_udp_packets_do_not_crash() {
    let (server, port) = start_server(|c| c.upstreams = Vec::new()).await;
    let target = SocketAddr::new(LO, port);
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    for i in 0..10_000 {
        let p = malformed(&mut rng, i);
        sock.send_to(&p, target).await.unwrap();
        if i % 500 == 0 {
            tokio::task::yield_now().await;
        }
    }
    // the compression loop gets FORMERR with its ID
    let mut p = header(0x4242, 0x0100, 1, 0, 0, 0);
    p.extend_from_slice(&[0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01]);
    let m = udp_exchange(target, &p).await.expect("FORMERR reply");
    assert_eq!(m.id, 0x4242);
    assert_eq!(m.response_code, ResponseCode::FormErr);
    // a packet with QR=1 (a response) is never answered: no reflection loops
    let mut resp = query_bytes(7, "s3.amazonaws.com.", RecordType::A, false);
    resp[2] |= 0x80;
    let probe = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    probe.send_to(&resp, target).await.unwrap();
    let mut buf = [0u8; 512];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), probe.recv(&mut buf))
            .await
            .is_err()
    );
    // still serving
    let r = dig(LO, port, &["s3.amazonaws.com", "A"]);
    assert_eq!(
        r.answers,
        vec!["s3.amazonaws.com. 300 IN A 127.0.0.1".to_string()]
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_tcp_messages_do_not_crash() {
    let (server, port) = start_server(|c| {
        c.upstreams = Vec::new();
        c.tcp_idle_timeout = Duration::from_millis(500);
    })
    .await;
    let target = SocketAddr::new(LO, port);
    let mut rng = fastrand::Rng::with_seed(0xbad);
    for i in 0..300 {
        let mut s = TcpStream::connect(target).await.unwrap();
        let body = malformed(&mut rng, i);
        let mut framed = Vec::new();
        if i % 5 == 4 {
            // a length prefix that lies (longer than what follows), then close
            framed.extend_from_slice(&(body.len() as u16 + 100).to_be_bytes());
        } else {
            framed.extend_from_slice(&(body.len() as u16).to_be_bytes());
        }
        framed.extend_from_slice(&body);
        let _ = s.write_all(&framed).await;
        if i % 5 == 4 {
            continue;
        }
        // read whatever comes (a reply or a close), bounded
        let mut buf = vec![0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await;
    }
    // several queries on one connection still work
    let mut s = TcpStream::connect(target).await.unwrap();
    for id in [1u16, 2, 3] {
        let q = query_bytes(id, "sqs.us-east-1.amazonaws.com.", RecordType::A, false);
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        s.write_all(&framed).await.unwrap();
        let len = s.read_u16().await.unwrap();
        let mut body = vec![0u8; len as usize];
        s.read_exact(&mut body).await.unwrap();
        let m = Message::from_vec(&body).unwrap();
        assert_eq!(m.id, id);
        assert_eq!(m.answers.len(), 1);
    }
    let r = dig(LO, port, &["s3.amazonaws.com", "A", "+tcp"]);
    assert_eq!(
        r.answers,
        vec!["s3.amazonaws.com. 300 IN A 127.0.0.1".to_string()]
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_tcp_client_is_dropped() {
    let (server, port) = start_server(|c| c.tcp_idle_timeout = Duration::from_millis(800)).await;
    let mut s = TcpStream::connect(SocketAddr::new(LO, port)).await.unwrap();
    // announce 64 bytes, send 3, then stall
    s.write_all(&[0x00, 0x40, 0x12, 0x34, 0x01]).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .expect("server closes the stalled connection before 3 s")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without a reply");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_millis(2000),
        "{took:?}"
    );

    // an idle connection (no bytes at all) is dropped as well
    let mut idle = TcpStream::connect(SocketAddr::new(LO, port)).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(3), idle.read(&mut buf))
        .await
        .expect("idle connection closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_are_bounded() {
    let (server, port) = start_server(|c| {
        c.max_tcp_connections = 2;
        c.tcp_idle_timeout = Duration::from_secs(5);
    })
    .await;
    let target = SocketAddr::new(LO, port);
    let _a = TcpStream::connect(target).await.unwrap();
    let _b = TcpStream::connect(target).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = TcpStream::connect(target).await.unwrap();
    let mut buf = [0u8; 4];
    let n = tokio::time::timeout(Duration::from_secs(2), c.read(&mut buf))
        .await
        .expect("the third connection is closed at once")
        .unwrap_or(0);
    assert_eq!(n, 0);
    // UDP is unaffected
    let r = dig(LO, port, &["s3.amazonaws.com", "A"]);
    assert_eq!(r.status, "NOERROR");
    server.shutdown().await;
}

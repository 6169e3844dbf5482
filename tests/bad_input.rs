//! Bad input never takes the gateway down: garbage bytes, huge headers, truncated bodies, unknown targets
//! and malformed `Authorization` headers each get a well-formed error (or a closed connection when the
//! bytes are not HTTP), and other clients keep being served. Ctrl-C during a request lets it finish.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::Skyport;

fn addr(skyport: &Skyport) -> SocketAddr {
    *skyport.addrs.iter().find(|a| a.is_ipv4()).unwrap()
}

/// Sends raw bytes and returns whatever comes back before the server closes (or the timeout).
fn exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn healthy(skyport: &Skyport) -> bool {
    let reply = exchange(
        addr(skyport),
        b"GET /_localstack/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    reply.starts_with("HTTP/1.1 200")
}

#[test]
fn garbage_and_random_bytes_do_not_stop_the_server() {
    let skyport = Skyport::start();
    let reply = exchange(
        addr(&skyport),
        b"\x00\x01\x02garbage that is not http\r\n\r\n",
    );
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 400"),
        "{reply:?}"
    );
    let mut seed = 0x2545F4914F6CDD1Du64;
    for i in 0..200 {
        let len = 1 + (i * 37) % 700;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed & 0xff) as u8
            })
            .collect();
        let _ = exchange(addr(&skyport), &bytes);
    }
    assert!(healthy(&skyport));
}

#[test]
fn a_ten_megabyte_header_is_refused() {
    let skyport = Skyport::start();
    let mut request = b"GET /_localstack/health HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 10 << 20));
    request.extend(b"\r\n\r\n");
    let reply = exchange(addr(&skyport), &request);
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 431"),
        "{:?}",
        &reply[..reply.len().min(200)]
    );
    assert!(healthy(&skyport));
}

#[test]
fn a_truncated_body_does_not_hang_or_break_the_server() {
    let skyport = Skyport::start();
    let reply = exchange(
        addr(&skyport),
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nAction=GetCallerIdentity",
    );
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 400"),
        "{reply}"
    );
    assert!(healthy(&skyport));
}

#[test]
fn malformed_authorization_gets_incomplete_signature() {
    let skyport = Skyport::start();
    let reply = exchange(
        addr(&skyport),
        b"POST / HTTP/1.1\r\nHost: sts.amazonaws.com\r\nConnection: close\r\nAuthorization: AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 24\r\n\r\nAction=GetCallerIdentity",
    );
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(
        reply.contains("<Code>IncompleteSignature</Code>"),
        "{reply}"
    );
    assert!(
        reply.contains("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"),
        "{reply}"
    );
}

#[test]
fn unknown_target_gets_unknown_operation() {
    let skyport = Skyport::start();
    let reply = exchange(
        addr(&skyport),
        b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Amz-Target: AmazonSQSX.Nope\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("UnknownOperationException"), "{reply}");
}

#[test]
fn ctrl_c_lets_an_in_flight_request_finish_and_exits_zero() {
    let mut skyport = Skyport::start();
    let mut s = TcpStream::connect(addr(&skyport)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body[..10]).unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    skyport.signal("INT");
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(&body[10..]).unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("<GetCallerIdentityResponse"), "{reply}");
    let status = skyport.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    // New connections are refused after shutdown began.
    assert!(TcpStream::connect(addr(&skyport)).is_err());
}

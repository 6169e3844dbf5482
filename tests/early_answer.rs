//! A request answered before its body was read (a missing bucket, an unknown upload id, a rejected
//! `Expect: 100-continue`) must not break the next request on the same connection: the server either
//! reads the rest of the body or says `Connection: close` and closes. Raw sockets check the bytes on
//! the wire; the S3 SDK with retries turned off checks that a real client never trips over it.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::primitives::ByteStream;
use common::Skyport;

/// Credentials for the raw requests (Skyport accepts any signature; S3 refuses anonymous writes).
const AUTH: &str = "Authorization: AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x";

fn addr(skyport: &Skyport) -> SocketAddr {
    *skyport.addrs.iter().find(|a| a.is_ipv4()).unwrap()
}

/// One response read off a keep-alive connection: status line, lower-cased headers, body.
struct Reply {
    status: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn read_reply(reader: &mut BufReader<TcpStream>) -> Reply {
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    Reply {
        status: status.trim_end().to_owned(),
        headers,
        body,
    }
}

fn connect(skyport: &Skyport) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect(addr(skyport)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let reader = BufReader::new(stream.try_clone().unwrap());
    (stream, reader)
}

fn create_bucket(skyport: &Skyport, name: &str) {
    let (mut s, mut r) = connect(skyport);
    write!(
        s,
        "PUT /{name} HTTP/1.1\r\nHost: localhost\r\n{AUTH}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    assert!(read_reply(&mut r).status.contains("200"));
}

fn put(bucket: &str, key: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "PUT /{bucket}/{key} HTTP/1.1\r\nHost: localhost\r\n{AUTH}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

#[test]
fn early_error_with_a_sent_body_keeps_the_connection_usable() {
    let skyport = Skyport::start();
    create_bucket(&skyport, "good");
    let (mut s, mut r) = connect(&skyport);
    for round in 0..3 {
        // The body is on the wire together with the head; the bucket does not exist.
        s.write_all(&put("missing-bucket", "k", b"0123456789"))
            .unwrap();
        let rejected = read_reply(&mut r);
        assert!(rejected.status.contains("404"), "{}", rejected.status);
        assert!(String::from_utf8_lossy(&rejected.body).contains("NoSuchBucket"));
        assert_ne!(
            rejected.header("connection"),
            Some("close"),
            "a small body is drained"
        );
        // The next request on the same socket is served normally.
        s.write_all(&put("good", &format!("k{round}"), b"payload"))
            .unwrap();
        let stored = read_reply(&mut r);
        assert!(
            stored.status.contains("200"),
            "round {round}: {}",
            stored.status
        );
    }
}

#[test]
fn early_error_with_a_body_sent_later_keeps_the_connection_usable() {
    let skyport = Skyport::start();
    create_bucket(&skyport, "good");
    let (mut s, mut r) = connect(&skyport);
    // Head first, body after the server had every chance to answer early.
    s.write_all(b"PUT /missing-bucket/k HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(b"hello").unwrap();
    let rejected = read_reply(&mut r);
    assert!(rejected.status.contains("404"), "{}", rejected.status);
    s.write_all(&put("good", "after", b"x")).unwrap();
    assert!(read_reply(&mut r).status.contains("200"));
}

#[test]
fn rejected_expect_continue_closes_without_sending_100() {
    let skyport = Skyport::start();
    let (mut s, mut r) = connect(&skyport);
    s.write_all(
        b"PUT /missing-bucket/k HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let reply = read_reply(&mut r);
    assert!(
        reply.status.contains("404"),
        "the final answer comes first, no 100 Continue: {}",
        reply.status
    );
    assert_eq!(reply.header("connection"), Some("close"));
    // The client never sends the body; the server closes instead of reading the next request as one.
    let mut rest = Vec::new();
    let n = r.read_to_end(&mut rest).unwrap_or(0);
    assert_eq!(
        n,
        0,
        "nothing after the answer: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

#[test]
fn large_unwanted_body_gets_connection_close() {
    let skyport = Skyport::start();
    let (mut s, mut r) = connect(&skyport);
    let len = 8 << 20;
    s.write_all(
        format!(
            "PUT /missing-bucket/k HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len}\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let _ = s.write_all(&vec![b'x'; 64 << 10]);
    let reply = read_reply(&mut r);
    assert!(reply.status.contains("404"), "{}", reply.status);
    assert_eq!(reply.header("connection"), Some("close"));
}

#[tokio::test]
async fn sdk_without_retries_survives_early_errors() {
    let skyport = Skyport::start();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(skyport.endpoint())
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .force_path_style(true)
        .retry_config(RetryConfig::disabled())
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(config);
    s3.create_bucket().bucket("good").send().await.unwrap();
    let upload = s3
        .create_multipart_upload()
        .bucket("good")
        .key("mp")
        .send()
        .await
        .unwrap();
    for i in 0..25 {
        let missing = s3
            .put_object()
            .bucket("missing-bucket")
            .key("k")
            .body(ByteStream::from(vec![7u8; 3000]))
            .send()
            .await;
        assert!(missing.is_err(), "round {i}");
        let unknown_upload = s3
            .upload_part()
            .bucket("good")
            .key("mp")
            .upload_id("no-such-upload")
            .part_number(1)
            .body(ByteStream::from(vec![1u8; 5000]))
            .send()
            .await;
        assert!(unknown_upload.is_err(), "round {i}");
        s3.put_object()
            .bucket("good")
            .key(format!("k{i}"))
            .body(ByteStream::from(vec![9u8; 3000]))
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {i}: a good PUT after early errors failed: {e:?}"));
    }
    s3.abort_multipart_upload()
        .bucket("good")
        .key("mp")
        .upload_id(upload.upload_id().unwrap())
        .send()
        .await
        .unwrap();
}

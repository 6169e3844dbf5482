//! The gateway through real clients: curl over HTTP/1.1 and h2c (prior knowledge), IPv4 and IPv6, the
//! internal endpoints in LocalStack's shapes, and AWS-shaped answers for services Skyport does not serve.

mod common;

use std::process::Command;

use common::{Skyport, require, run};

fn curl(args: &[&str]) -> (String, String) {
    let (status, out, err) = run(Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args));
    assert!(status.success(), "curl {args:?} failed: {err}");
    (out, err)
}

#[test]
fn health_info_and_init_have_localstack_shapes() {
    if !require("curl") {
        return;
    }
    let skyport = Skyport::start();
    let ep = skyport.endpoint();
    let (body, _) = curl(&[&format!("{ep}/_localstack/health")]);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["services"]["sts"], "running");
    assert_eq!(health["edition"], "community");
    assert!(health["version"].is_string());
    let (skyport_health, _) = curl(&[&format!("{ep}/_skyport/health")]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&skyport_health).unwrap()["services"],
        health["services"]
    );

    let (head, _) = curl(&["-I", &format!("{ep}/_localstack/health")]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("x-localstack: true"));

    let (info, _) = curl(&[&format!("{ep}/_localstack/info")]);
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    for key in [
        "version",
        "edition",
        "session_id",
        "machine_id",
        "system",
        "is_docker",
        "server_time_utc",
        "uptime",
    ] {
        assert!(info.get(key).is_some(), "missing {key} in {info}");
    }
    let (init, _) = curl(&[&format!("{ep}/_localstack/init")]);
    let init: serde_json::Value = serde_json::from_str(&init).unwrap();
    assert_eq!(init["completed"]["READY"], true);
    let (ready, _) = curl(&[&format!("{ep}/_localstack/init/ready")]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&ready).unwrap()["completed"],
        true
    );
    let (missing, _) = curl(&["-w", "%{http_code}", &format!("{ep}/_localstack/init/nope")]);
    assert!(missing.ends_with("404"), "{missing}");

    // PUT merges keys (a:b nests), as LocalStack does.
    let (put, _) = curl(&[
        "-X",
        "PUT",
        "-d",
        r#"{"features:x":"on"}"#,
        &format!("{ep}/_localstack/health"),
    ]);
    assert!(put.contains("OK"));
    let (body, _) = curl(&[&format!("{ep}/_localstack/health")]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["features"]["x"],
        "on"
    );

    let (unknown, _) = curl(&["-w", " %{http_code}", &format!("{ep}/_localstack/nope")]);
    assert!(unknown.ends_with(" 404"), "{unknown}");
}

#[test]
fn http1_and_h2c_on_ipv4_and_ipv6() {
    if !require("curl") {
        return;
    }
    let skyport = Skyport::start();
    let mut endpoints = vec![skyport.endpoint()];
    endpoints.extend(skyport.v6_endpoint());
    for ep in endpoints {
        for (flag, version) in [("--http1.1", "1.1"), ("--http2-prior-knowledge", "2")] {
            let (out, _) = curl(&[
                flag,
                "-g",
                "-w",
                "\n%{http_version} %{http_code}",
                "-H",
                "Authorization: AWS4-HMAC-SHA256 Credential=123456789012/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0",
                "-d",
                "Action=GetCallerIdentity&Version=2011-06-15",
                &format!("{ep}/"),
            ]);
            assert!(
                out.ends_with(&format!("{version} 200")),
                "{ep} {flag}: {out}"
            );
            assert!(out.contains("<Account>123456789012</Account>"), "{out}");
        }
    }
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    if !require("curl") {
        return;
    }
    let skyport = Skyport::start();
    let url = format!("{}/_localstack/health", skyport.endpoint());
    let urls: Vec<&str> = std::iter::repeat_n(url.as_str(), 20).collect();
    let (status, _, err) = run(Command::new("curl")
        .args(["-sv", "-o", "/dev/null"])
        .args(&urls));
    assert!(status.success(), "{err}");
    let reused = err.matches("Re-using existing connection").count()
        + err.matches("Reusing existing").count();
    assert!(reused >= 19, "connection was not kept alive:\n{err}");
}

/// Reads one HTTP/1.1 response (head and a `content-length` body) from a raw socket.
fn read_response(sock: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = sock.read(&mut buf).expect("read a response");
        assert!(n > 0, "connection closed mid-response: {got:?}");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

#[test]
fn a_stuck_request_head_is_closed_but_idle_keep_alive_and_slow_bodies_are_not() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    let skyport = Skyport::start_with(
        common::Options::default()
            .listen("127.0.0.1:0")
            .env("SKYPORT_HEADER_TIMEOUT", "1"),
    );
    let addr = format!("127.0.0.1:{}", skyport.port());
    let sts =
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n";
    let form = "Action=GetCallerIdentity&Version=2011-06-15";

    // A head that trickles in a byte at a time and never ends is cut off after one to two timeouts.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let started = Instant::now();
    let mut closed = None;
    for byte in sts.bytes().cycle().take(200) {
        if slow.write_all(&[byte]).is_err() {
            closed = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 64];
        match slow.read(&mut buf) {
            Ok(0) => {
                closed = Some(started.elapsed());
                break;
            }
            Ok(_) => panic!("a response to an incomplete head"),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                closed = Some(started.elapsed());
                break;
            }
            Err(_) => {}
        }
    }
    let closed = closed.expect("the trickling client was never disconnected");
    assert!(
        closed >= Duration::from_millis(900) && closed < Duration::from_secs(4),
        "closed after {closed:?}"
    );

    // A keep-alive connection idle for three timeouts still serves its next request.
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let request = format!("{sts}Content-Length: {}\r\n\r\n{form}", form.len());
    idle.write_all(request.as_bytes()).unwrap();
    assert!(read_response(&mut idle).starts_with("HTTP/1.1 200"));
    std::thread::sleep(Duration::from_secs(3));
    idle.write_all(request.as_bytes()).unwrap();
    assert!(read_response(&mut idle).starts_with("HTTP/1.1 200"));

    // A request whose body arrives slowly (the head is complete) is served.
    idle.write_all(format!("{sts}Content-Length: {}\r\n\r\n", form.len()).as_bytes())
        .unwrap();
    for chunk in form.as_bytes().chunks(8) {
        std::thread::sleep(Duration::from_millis(500));
        idle.write_all(chunk).unwrap();
    }
    let response = read_response(&mut idle);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("GetCallerIdentityResponse"), "{response}");
}

#[test]
fn unimplemented_services_get_errors_in_their_protocol() {
    if !require("curl") {
        return;
    }
    let skyport = Skyport::start();
    let ep = skyport.endpoint();
    // awsJson: UnknownOperationException with x-amzn-ErrorType (KMS is not implemented yet).
    let (out, _) = curl(&[
        "-i",
        "-H",
        "X-Amz-Target: TrentService.ListKeys",
        "-H",
        "Content-Type: application/x-amz-json-1.1",
        "-d",
        "{}",
        &format!("{ep}/"),
    ]);
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(
        out.contains("x-amzn-errortype: UnknownOperationException"),
        "{out}"
    );
    assert!(
        out.contains(r#""__type":"UnknownOperationException""#),
        "{out}"
    );
    assert!(out.contains("x-amzn-requestid: "));
    // An X-Amz-Target no service uses.
    let (out, _) = curl(&[
        "-i",
        "-H",
        "X-Amz-Target: Nope_2099.Do",
        "-H",
        "Content-Type: application/x-amz-json-1.1",
        "-d",
        "{}",
        &format!("{ep}/"),
    ]);
    assert!(
        out.starts_with("HTTP/1.1 400") && out.contains("UnknownOperationException"),
        "{out}"
    );
    // REST-JSON (API Gateway, by its credential scope).
    let (out, _) = curl(&[
        "-i",
        "-H",
        "Authorization: AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/apigateway/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=00",
        &format!("{ep}/restapis"),
    ]);
    assert!(out.starts_with("HTTP/1.1 501"), "{out}");
    assert!(
        out.contains("x-amzn-errortype: NotImplementedException"),
        "{out}"
    );
    // Query (CloudFormation by its Action).
    let (out, _) = curl(&[
        "-i",
        "-d",
        "Action=ListStacks&Version=2010-05-15",
        &format!("{ep}/"),
    ]);
    assert!(out.starts_with("HTTP/1.1 501"), "{out}");
    assert!(
        out.contains("<ErrorResponse><Error><Type>Receiver</Type><Code>NotImplemented</Code>"),
        "{out}"
    );
    // Nothing recognisable: an AWS-shaped 404, never a bare page.
    let (out, _) = curl(&["-i", &format!("{ep}/")]);
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    assert!(out.contains("<Code>UnrecognizedService</Code>"), "{out}");
}

#[test]
fn services_excluded_by_services_setting_are_disabled() {
    if !require("curl") {
        return;
    }
    let skyport = Skyport::start_with(common::Options::default().env("SERVICES", "s3"));
    let (body, _) = curl(&[&format!("{}/_localstack/health", skyport.endpoint())]);
    assert!(body.contains(r#""sts":"disabled""#), "{body}");
    let (out, _) = curl(&[
        "-i",
        "-d",
        "Action=GetCallerIdentity",
        &format!("{}/", skyport.endpoint()),
    ]);
    assert!(
        out.starts_with("HTTP/1.1 501") && out.contains("disabled by the SERVICES setting"),
        "{out}"
    );
}

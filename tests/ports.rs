//! The external service port range (issue 7, item 4): ports routed through `POST /_skyport/ports` to a TCP
//! backend or to the gateway's own HTTP serving, listed by `GET /_skyport/ports`, released by `DELETE`.
//!
//! Native tests use a TCP echo backend on loopback started by the test, std sockets as the client and curl
//! for the management API and the HTTP routes (they skip without curl unless `SKYPORT_REQUIRE_TOOLS=1`).
//! Each Skyport gets its own free block of ports as its range (`EXTERNAL_SERVICE_PORTS_START`/`_END`), so
//! tests run in parallel. The Docker test (skips without Docker unless `SKYPORT_REQUIRE_DOCKER=1`) routes a
//! range port of a Skyport container to a backend container that publishes nothing, and reaches it from
//! the host and from a sibling container. A route with a `hostname` makes that name resolve to Skyport in
//! its DNS (checked with dig) until the route is released.

mod common;
mod dns_support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Options, Skyport, require, run};
use dns_support::{FAKE_A, FAKE_TTL, FakeUpstream, dig};
use serde_json::Value;

/// Finds `n` consecutive ports free on 127.0.0.1 and ::1 (checked by binding), returns the first.
fn free_block(n: u16) -> u16 {
    for _ in 0..200 {
        // Below Linux's ephemeral range (32768 and up), so no client connection takes a port the test
        // expects to bind once it is released.
        let base = 20000 + fastish_random() % 12000;
        let free = (base..base + n).all(|p| {
            TcpListener::bind(("127.0.0.1", p)).is_ok()
                && TcpListener::bind(("::1", p))
                    .map_or_else(|e| e.kind() != std::io::ErrorKind::AddrInUse, |_| true)
        });
        if free {
            return base;
        }
    }
    panic!("no free block of {n} ports");
}

/// A pseudo-random number from the clock and the process id (enough to spread parallel tests).
fn fastish_random() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    ((nanos / 1000) ^ std::process::id().wrapping_mul(2654435761)) as u16
}

/// Skyport with a range of `n` free ports; returns it and the range's first port.
fn start(n: u16, extra: &[(&str, &str)]) -> (Skyport, u16) {
    let first = free_block(n);
    let mut options = Options::default()
        .env("EXTERNAL_SERVICE_PORTS_START", &first.to_string())
        .env("EXTERNAL_SERVICE_PORTS_END", &(first + n).to_string());
    for (k, v) in extra {
        options = options.env(k, v);
    }
    (Skyport::start_with(options), first)
}

/// curl with nothing from the environment that could redirect it.
fn curl() -> Command {
    let mut cmd = Command::new("curl");
    for var in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd.args(["-sS", "--max-time", "10", "--noproxy", "*"]);
    cmd
}

/// Calls the management API with curl: (status, JSON body or Null).
fn api(endpoint: &str, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut cmd = curl();
    cmd.args(["-X", method, "-w", "\n%{http_code}"]);
    if let Some(body) = body {
        cmd.args([
            "-H",
            "content-type: application/json",
            "--data-binary",
            body,
        ]);
    }
    cmd.arg(format!("{endpoint}{path}"));
    let (status, stdout, stderr) = run(&mut cmd);
    assert!(status.success(), "curl failed: {stderr}");
    let (json, code) = stdout.rsplit_once('\n').expect("status line");
    (
        code.trim().parse().expect("status code"),
        serde_json::from_str(json).unwrap_or(Value::Null),
    )
}

/// Routes a range port to `target` through the API; returns the port.
fn route(endpoint: &str, body: &str) -> u16 {
    let (status, json) = api(endpoint, "POST", "/_skyport/ports", Some(body));
    assert_eq!(status, 201, "{json}");
    json["port"].as_u64().expect("port") as u16
}

/// What the echo backend reports.
#[derive(Debug, PartialEq)]
enum Event {
    /// A connection's client side ended (the backend read EOF).
    SawEof,
}

/// A TCP echo server on loopback: echoes until EOF, then half-closes. A chunk containing `QUIT` makes it
/// close its side at once instead.
fn echo_backend() -> (SocketAddr, mpsc::Receiver<Event>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind echo");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buffer = vec![0u8; 64 * 1024];
                loop {
                    match stream.read(&mut buffer) {
                        Ok(0) => {
                            let _ = tx.send(Event::SawEof);
                            let _ = stream.shutdown(Shutdown::Write);
                            return;
                        }
                        Ok(n) => {
                            if buffer[..n].windows(4).any(|w| w == b"QUIT") {
                                let _ = stream.shutdown(Shutdown::Both);
                                return;
                            }
                            if stream.write_all(&buffer[..n]).is_err() {
                                return;
                            }
                        }
                        Err(_) => return,
                    }
                }
            });
        }
    });
    (addr, rx)
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the range port");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
}

/// Sends `data`, half-closes, reads everything back.
fn echo_through(port: u16, data: &[u8]) -> Vec<u8> {
    let mut stream = connect(port);
    let writer = {
        let mut stream = stream.try_clone().expect("clone");
        let data = data.to_vec();
        std::thread::spawn(move || {
            stream.write_all(&data).expect("write");
            stream.shutdown(Shutdown::Write).expect("half-close");
        })
    };
    let mut back = Vec::new();
    stream.read_to_end(&mut back).expect("read echo");
    writer.join().expect("writer");
    back
}

#[test]
fn tcp_route_echoes_half_closes_both_ways_and_carries_100_parallel_connections() {
    if !require("curl") {
        return;
    }
    let (backend, events) = echo_backend();
    let (skyport, first) = start(10, &[]);
    let endpoint = skyport.endpoint();
    let port = route(
        &endpoint,
        &format!(r#"{{"target": "{backend}", "description": "echo backend"}}"#),
    );
    assert_eq!(port, first, "the lowest free port");

    // Data both ways; the client's half-close reaches the backend, whose half-close reaches the client.
    let mut stream = connect(port);
    stream.write_all(b"hello").unwrap();
    let mut got = [0u8; 5];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(
        events.recv_timeout(Duration::from_secs(5)),
        Ok(Event::SawEof),
        "the backend saw the client's close"
    );
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());

    // The backend closing first: the client reads EOF while its own side is still open.
    let mut stream = connect(port);
    stream.write_all(b"QUIT").unwrap();
    let mut rest = Vec::new();
    let started = Instant::now();
    stream.read_to_end(&mut rest).expect("EOF, not a timeout");
    assert!(rest.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5));
    // The client, having read EOF, closes too; that ends the forwarded connection.
    drop(stream);

    // 100 parallel connections through the one port, each with its own 256 KiB.
    let threads: Vec<_> = (0..100u32)
        .map(|i| {
            std::thread::spawn(move || {
                let data: Vec<u8> = (0..256 * 1024u32)
                    .map(|j| (j.wrapping_mul(31).wrapping_add(i)) as u8)
                    .collect();
                let back = echo_through(port, &data);
                assert!(
                    back == data,
                    "connection {i} echoed {} bytes wrongly",
                    back.len()
                );
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a parallel connection failed");
    }

    // The listing.
    let (status, list) = api(&endpoint, "GET", "/_skyport/ports", None);
    assert_eq!(status, 200);
    assert_eq!(list["range"]["start"], first);
    assert_eq!(list["range"]["end"], first + 9);
    let entry = &list["ports"][0];
    assert_eq!(entry["port"], port);
    assert_eq!(entry["backend"]["kind"], "tcp");
    assert_eq!(entry["backend"]["target"], backend.to_string());
    assert_eq!(entry["owner"], "api");
    assert_eq!(entry["description"], "echo backend");
    assert!(entry["created"].as_str().unwrap().ends_with('Z'), "{entry}");
    assert!(
        entry["total_connections"].as_u64().unwrap() >= 102,
        "{entry}"
    );
    // Every connection above has ended; the count drops as the forwarding tasks finish.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, one) = api(&endpoint, "GET", &format!("/_skyport/ports/{port}"), None);
        if one["active_connections"] == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "connections still counted: {one}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Releasing frees the port: no listener any more, and it can be allocated again.
    let (status, _) = api(
        &endpoint,
        "DELETE",
        &format!("/_skyport/ports/{port}"),
        None,
    );
    assert_eq!(status, 204);
    // The listener's accept task is aborted by the release; the runtime drops it (and closes the
    // socket) on its next turn, which a loaded machine may take a few milliseconds to reach.
    let deadline = Instant::now() + Duration::from_secs(2);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still listening 2 s after release"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, list) = api(&endpoint, "GET", "/_skyport/ports", None);
    assert_eq!(list["ports"], serde_json::json!([]));
    let (status, json) = api(
        &endpoint,
        "DELETE",
        &format!("/_skyport/ports/{port}"),
        None,
    );
    assert_eq!(status, 404, "{json}");
    let again = route(
        &endpoint,
        &format!(r#"{{"target": "{backend}", "port": {port}}}"#),
    );
    assert_eq!(again, port);
    assert_eq!(echo_through(port, b"again"), b"again");
}

#[test]
fn bad_requests_get_clear_errors_and_a_full_range_409() {
    if !require("curl") {
        return;
    }
    let (skyport, first) = start(3, &[]);
    let endpoint = skyport.endpoint();
    for (body, needle) in [
        ("{", "expected a JSON object"),
        (r#"{"target": "no-port"}"#, "expected host:port"),
        (r#"{"target": "h:0"}"#, "1-65535"),
        (r#"{"target": "h:1", "service": "sts"}"#, "exactly one"),
        (r#"{}"#, "exactly one"),
        (r#"{"service": "nosuch"}"#, "unknown service"),
        (r#"{"target": "h:1", "bogus": 1}"#, "unknown field"),
        (
            r#"{"target": "h:1", "port": 80}"#,
            "outside the external service port range",
        ),
    ] {
        let (status, json) = api(&endpoint, "POST", "/_skyport/ports", Some(body));
        assert_eq!(status, 400, "{body}: {json}");
        let message = json["error"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{body}: {message}");
    }
    let target = r#"{"target": "127.0.0.1:9"}"#;
    let ports: Vec<u16> = (0..3).map(|_| route(&endpoint, target)).collect();
    assert_eq!(ports, vec![first, first + 1, first + 2]);
    let (status, json) = api(&endpoint, "POST", "/_skyport/ports", Some(target));
    assert_eq!(status, 409, "{json}");
    assert!(
        json["error"].as_str().unwrap().contains("no free port"),
        "{json}"
    );
    let body = format!(r#"{{"target": "127.0.0.1:9", "port": {first}}}"#);
    let (status, json) = api(&endpoint, "POST", "/_skyport/ports", Some(&body));
    assert_eq!(status, 409);
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("already allocated"),
        "{json}"
    );
    let (status, _) = api(&endpoint, "DELETE", "/_skyport/ports/abc", None);
    assert_eq!(status, 400);
    let (status, _) = api(&endpoint, "PUT", "/_skyport/ports", None);
    assert_eq!(status, 405);
}

#[test]
fn concurrent_allocations_never_collide() {
    if !require("curl") {
        return;
    }
    let (skyport, first) = start(10, &[]);
    let endpoint = skyport.endpoint();
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let endpoint = endpoint.clone();
            std::thread::spawn(move || {
                api(
                    &endpoint,
                    "POST",
                    "/_skyport/ports",
                    Some(r#"{"target": "127.0.0.1:9"}"#),
                )
            })
        })
        .collect();
    let results: Vec<(u16, Value)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let mut ports: Vec<u64> = results
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, j)| j["port"].as_u64().unwrap())
        .collect();
    ports.sort_unstable();
    let expected: Vec<u64> = (u64::from(first)..u64::from(first) + 10).collect();
    assert_eq!(ports, expected, "each port exactly once: {results:?}");
    assert_eq!(results.iter().filter(|(s, _)| *s == 409).count(), 6);
    // Releasing all of them frees the whole range.
    for port in &ports {
        let (status, _) = api(
            &endpoint,
            "DELETE",
            &format!("/_skyport/ports/{port}"),
            None,
        );
        assert_eq!(status, 204);
    }
    for port in &ports {
        let port = *port as u16;
        TcpListener::bind(("127.0.0.1", port)).expect("released port is free again");
    }
}

#[test]
fn unreachable_backend_closes_clients_cleanly_and_warns_once_and_idle_routes_close() {
    if !require("curl") {
        return;
    }
    let (skyport, _) = start(
        5,
        &[
            ("SKYPORT_PORTS_CONNECT_TIMEOUT", "2"),
            ("SKYPORT_PORTS_IDLE_TIMEOUT", "0.5"),
        ],
    );
    let endpoint = skyport.endpoint();
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let port = route(&endpoint, &format!(r#"{{"target": "{dead}"}}"#));
    for _ in 0..5 {
        let mut stream = connect(port);
        let mut rest = Vec::new();
        let started = Instant::now();
        // A clean close (EOF or reset), well before the read timeout.
        let _ = stream.read_to_end(&mut rest);
        assert!(rest.is_empty());
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    assert!(skyport.wait_for_log("backend unreachable", Duration::from_secs(2)));
    std::thread::sleep(Duration::from_millis(200));
    let warnings = skyport
        .log()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("backend unreachable"))
        .count();
    assert_eq!(warnings, 1, "one warning per cause:\n{}", skyport.log());

    // An idle connection is closed after SKYPORT_PORTS_IDLE_TIMEOUT, on both sides.
    let (backend, events) = echo_backend();
    let port = route(&endpoint, &format!(r#"{{"target": "{backend}"}}"#));
    let mut stream = connect(port);
    stream.write_all(b"x").unwrap();
    let mut one = [0u8; 1];
    stream.read_exact(&mut one).unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .expect("closed by the idle timeout");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(
        events.recv_timeout(Duration::from_secs(5)),
        Ok(Event::SawEof)
    );
}

#[test]
fn http_route_serves_the_gateway_service_plain_and_tls() {
    if !require("curl") {
        return;
    }
    let (skyport, _) = start(5, &[]);
    let endpoint = skyport.endpoint();
    let port = route(
        &endpoint,
        r#"{"service": "sts", "description": "STS on its own port"}"#,
    );
    let (_, one) = api(&endpoint, "GET", &format!("/_skyport/ports/{port}"), None);
    assert_eq!(
        one["backend"],
        serde_json::json!({"kind": "http", "service": "sts"})
    );

    let form = "Action=GetCallerIdentity&Version=2011-06-15";
    let (status, stdout, stderr) = run(curl()
        .args(["-f", "--data", form])
        .arg(format!("http://127.0.0.1:{port}/")));
    assert!(status.success(), "{stderr}");
    assert!(
        stdout.contains("<Account>000000000000</Account>"),
        "{stdout}"
    );

    let ca = skyport.state_dir.join("certs").join("ca.pem");
    let name = "localhost.localstack.cloud";
    let (status, stdout, stderr) = run(curl()
        .args(["-f", "--data", form, "-w", "\n%{http_version}"])
        .arg("--resolve")
        .arg(format!("{name}:{port}:127.0.0.1"))
        .arg("--cacert")
        .arg(&ca)
        .arg(format!("https://{name}:{port}/")));
    assert!(status.success(), "{stderr}");
    assert!(
        stdout.contains("<Account>000000000000</Account>"),
        "{stdout}"
    );
    assert!(
        stdout.trim_end().ends_with('2'),
        "HTTP/2 over TLS (ALPN): {stdout}"
    );
    assert!(Path::new(&ca).exists());
}

#[test]
fn a_route_hostname_resolves_to_skyport_until_the_route_is_released() {
    if !require("curl") || !require("dig") {
        return;
    }
    let (backend, _events) = echo_backend();
    // Names Skyport does not own go to a fake upstream on loopback (nothing leaves the machine).
    let upstream = FakeUpstream::start();
    let first = free_block(3);
    let skyport = Skyport::start_with(
        Options::default()
            .dns()
            .env("DNS_SERVER", &upstream.addr.to_string())
            .env("EXTERNAL_SERVICE_PORTS_START", &first.to_string())
            .env("EXTERNAL_SERVICE_PORTS_END", &(first + 3).to_string()),
    );
    let endpoint = skyport.endpoint();
    let dns_port = skyport.dns_addrs.first().expect("DNS listening").port();
    let name = "db.backend.test.";

    let (status, json) = api(
        &endpoint,
        "POST",
        "/_skyport/ports",
        Some(&format!(
            r#"{{"target": "{backend}", "hostname": "DB.Backend.Test", "description": "named"}}"#
        )),
    );
    assert_eq!(status, 201, "{json}");
    let port = json["port"].as_u64().expect("port") as u16;
    assert_eq!(json["hostnames"], serde_json::json!(["db.backend.test"]));

    // The name resolves to Skyport (for a client on loopback: 127.0.0.1), over UDP and TCP, and
    // authoritatively: the upstream is not asked.
    for transport in ["+notcp", "+tcp"] {
        let d = dig(dns_port, &[transport, name, "A"]);
        assert_eq!(d.status, "NOERROR", "{}", d.raw);
        assert!(d.has_flag("aa"), "{}", d.raw);
        assert_eq!(d.answers.len(), 1, "{}", d.raw);
        assert!(
            d.answers[0].starts_with(name) && d.answers[0].ends_with("IN A 127.0.0.1"),
            "{}",
            d.raw
        );
    }
    assert!(!upstream.asked("db.backend.test"));
    // A TCP connection to the resolved address and the allocated port reaches the backend.
    let d = dig(dns_port, &[name, "A"]);
    let ip = d.answers[0].rsplit(' ').next().expect("address").to_owned();
    let mut stream = TcpStream::connect((ip.as_str(), port)).expect("connect by the resolved name");
    stream.write_all(b"by name").unwrap();
    let mut got = [0u8; 7];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"by name");
    drop(stream);

    // The name belongs to this route: a second route cannot take it, a bad name is refused, and neither
    // keeps a port.
    let (status, json) = api(
        &endpoint,
        "POST",
        "/_skyport/ports",
        Some(&format!(
            r#"{{"target": "{backend}", "hostname": "db.backend.test."}}"#
        )),
    );
    assert_eq!(status, 409, "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains(&format!("already points at port {port}")),
        "{json}"
    );
    let (status, json) = api(
        &endpoint,
        "POST",
        "/_skyport/ports",
        Some(&format!(
            r#"{{"target": "{backend}", "hostname": "no such..name"}}"#
        )),
    );
    assert_eq!(status, 400, "{json}");
    let (_, list) = api(&endpoint, "GET", "/_skyport/ports", None);
    assert_eq!(list["ports"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(
        list["ports"][0]["hostnames"],
        serde_json::json!(["db.backend.test"])
    );

    // Released: the name is Skyport's no more, so it goes upstream.
    let (status, _) = api(
        &endpoint,
        "DELETE",
        &format!("/_skyport/ports/{port}"),
        None,
    );
    assert_eq!(status, 204);
    let d = dig(dns_port, &[name, "A"]);
    assert_eq!(
        d.answers,
        vec![format!("{name} {FAKE_TTL} IN A {FAKE_A}")],
        "{}",
        d.raw
    );
    assert!(upstream.asked("db.backend.test"));
}

/// With `PERSISTENCE=1`, routes made through the API come back after a restart on their ports, with their
/// backends and descriptions; a route deleted before the restart does not.
#[test]
fn api_routes_survive_a_restart_with_persistence() {
    if !require("curl") {
        return;
    }
    let (backend, _events) = echo_backend();
    let dir = tempfile::tempdir().unwrap();
    let first = free_block(4);
    let options = Options::default()
        .state_dir(dir.path())
        .env("PERSISTENCE", "1")
        .env("EXTERNAL_SERVICE_PORTS_START", &first.to_string())
        .env("EXTERNAL_SERVICE_PORTS_END", &(first + 4).to_string());
    let mut skyport = Skyport::start_with(options.clone());
    let endpoint = skyport.endpoint();
    let kept = route(
        &endpoint,
        &format!(
            r#"{{"target": "{backend}", "port": {}, "description": "kept"}}"#,
            first + 2
        ),
    );
    let http = route(
        &endpoint,
        r#"{"service": "sts", "description": "sts route"}"#,
    );
    let gone = route(&endpoint, &format!(r#"{{"target": "{backend}"}}"#));
    assert_eq!(
        api(
            &endpoint,
            "DELETE",
            &format!("/_skyport/ports/{gone}"),
            None
        )
        .0,
        204
    );
    skyport.signal("TERM");
    skyport.wait_exit(Duration::from_secs(10));
    drop(skyport);

    let skyport = Skyport::start_with(options);
    let endpoint = skyport.endpoint();
    let (status, list) = api(&endpoint, "GET", "/_skyport/ports", None);
    assert_eq!(status, 200);
    let mut ports: Vec<(u64, String)> = list["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["port"].as_u64().unwrap(),
                p["description"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    ports.sort();
    let mut want = vec![
        (u64::from(kept), "kept".to_owned()),
        (u64::from(http), "sts route".to_owned()),
    ];
    want.sort();
    assert_eq!(ports, want, "{list}");
    assert_eq!(echo_through(kept, b"after restart"), b"after restart");
    let (status, json) = api(
        &format!("http://127.0.0.1:{http}"),
        "GET",
        "/_skyport/health",
        None,
    );
    assert_eq!(status, 200, "{json}");
}

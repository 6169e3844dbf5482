//! The web console at `/_skyport/` (docs/console.md), against the real binary.
//!
//! - In a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`, driven by Selenium
//!   from `tests/console/browse.py`) opens the console, sees a bucket boto3 created, uploads a file
//!   through the page, visits every service's page and watches the live request log; boto3 reads the
//!   upload back. A screenshot of each page is kept: in `docs/console/` with `SKYPORT_UPDATE_DOCS=1`.
//! - Without `SKYPORT_CONSOLE_WRITE=1` every write answers 403 and reads still work; API writes need the
//!   `X-Skyport-Console` header.
//! - The request log streams over Server-Sent Events (`curl -N`), with bodies only while someone watches.
//! - SQS messages are peeked (`/_aws/sqs/messages`, the console's queue page) without being received.
//! - A client on another network (a network namespace's veth address) is refused, unless Skyport runs in
//!   a container and the client is on its network, or `SKYPORT_CONSOLE_PUBLIC=1`.
//!
//! The browser test skips (saying why) when chromium, chromedriver, python3, boto3 or selenium are
//! missing, unless `SKYPORT_REQUIRE_TOOLS=1`; the network test needs root (`SKYPORT_REQUIRE_ROOT_TESTS=1`).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Options, Skyport, require, run};
use skyport_testkit::netns::{NetnsGuard, is_root, root_required};

const API: &str = "/_skyport/console/api";

/// One HTTP/1.1 request (`Connection: close`): the status and the body.
/// An `Authorization` header: S3 treats the request as signed (signatures are not verified by default);
/// unsigned requests are anonymous and meet the bucket's ACLs and policy, as in AWS.
const SIGNED: &str = "Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";

fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

fn ipv4(sp: &Skyport) -> SocketAddr {
    *sp.addrs
        .iter()
        .find(|a| a.is_ipv4())
        .expect("an IPv4 listener")
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// python3 with boto3 and selenium, chromium and chromedriver; skips or (CI) fails without them.
fn browser_tools() -> bool {
    for tool in ["python3", "chromium", "chromedriver"] {
        if !require(tool) {
            return false;
        }
    }
    let modules = Command::new("python3")
        .args(["-c", "import boto3, selenium"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !modules {
        assert!(
            std::env::var("SKYPORT_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "the Python modules boto3 and selenium are required for this test (installed by .ci/run)"
        );
        eprintln!("skipping: the Python modules boto3 and selenium are not installed");
        return false;
    }
    true
}

#[test]
fn the_console_in_chromium_uploads_an_object_boto3_reads_back() {
    if !browser_tools() {
        return;
    }
    let sp = Skyport::start_with(Options::default().env("SKYPORT_CONSOLE_WRITE", "1"));
    let endpoint = sp.endpoint();
    let scripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/console");
    let (status, out, err) = run(Command::new("python3")
        .arg(scripts.join("seed.py"))
        .arg(&endpoint));
    assert!(status.success(), "seed.py: {out}\n{err}");

    let work = tempfile::tempdir().unwrap();
    let upload = work.path().join("from-the-browser.txt");
    let content = format!("uploaded through the console {}\n", fastrand::u64(..));
    std::fs::write(&upload, &content).unwrap();
    let shots = if std::env::var("SKYPORT_UPDATE_DOCS").as_deref() == Ok("1") {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/console")
    } else {
        work.path().join("screenshots")
    };
    let (status, out, err) = run(Command::new("python3")
        .arg(scripts.join("browse.py"))
        .arg(&endpoint)
        .arg(&shots)
        .arg(&upload));
    print!("{out}");
    assert!(status.success(), "browse.py failed:\n{out}\n{err}");
    assert!(out.lines().any(|l| l == "ok"), "{out}\n{err}");
    for page in [
        "overview",
        "s3-buckets",
        "s3-objects",
        "sqs-queue",
        "requests",
    ] {
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "no screenshot of {page}"
        );
    }

    // boto3 reads back what the browser uploaded.
    let script = r#"
import boto3, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
sys.stdout.write(s3.get_object(Bucket="console-demo", Key="from-the-browser.txt")["Body"].read().decode())
"#;
    let (status, out, err) = run(Command::new("python3").arg("-c").arg(script).arg(&endpoint));
    assert!(status.success(), "{err}");
    assert_eq!(out, content);
    // The upload went through the gateway in process, logged like any request, as the console's.
    let (_, list) = http(ipv4(&sp), "GET", &format!("{API}/requests"), &[], b"");
    let list = json(&list);
    let uploads: Vec<_> = list["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["operation"] == "PutObject" && r["origin"] == "console")
        .collect();
    assert_eq!(uploads.len(), 1, "{list}");
    assert_eq!(uploads[0]["status"], 200);
}

#[test]
fn the_console_is_read_only_without_skyport_console_write() {
    let sp = Skyport::start();
    let addr = ipv4(&sp);
    let (status, page) = http(addr, "GET", "/_skyport/", &[], b"");
    assert_eq!(status, 200);
    assert!(page.contains("/_skyport/console/app.js"), "{page}");
    let (status, _) = http(addr, "GET", "/_skyport/console/app.js", &[], b"");
    assert_eq!(status, 200);
    let (status, info) = http(addr, "GET", &format!("{API}/info"), &[], b"");
    assert_eq!(status, 200);
    assert_eq!(json(&info)["write"], false);
    // The other internal endpoints are still there.
    let (status, _) = http(addr, "GET", "/_skyport/health", &[], b"");
    assert_eq!(status, 200);

    // Reads work; writes are refused with a message naming the variable.
    let (status, out) = http(
        addr,
        "POST",
        &format!("{API}/call/sqs/ListQueues"),
        &["X-Skyport-Console: 1"],
        b"{}",
    );
    assert_eq!(status, 200, "{out}");
    let (status, out) = http(addr, "GET", &format!("{API}/s3/buckets"), &[], b"");
    assert_eq!(status, 200, "{out}");
    let writes: [(&str, String, &[u8]); 4] = [
        ("PUT", format!("{API}/s3/object?bucket=b&key=k"), b"data"),
        ("DELETE", format!("{API}/s3/object?bucket=b&key=k"), b""),
        (
            "POST",
            format!("{API}/call/sqs/PurgeQueue"),
            br#"{"QueueUrl":"q"}"#,
        ),
        ("POST", format!("{API}/lambda/invoke?name=f"), b"{}"),
    ];
    for (method, path, body) in writes {
        let (status, out) = http(addr, method, &path, &["X-Skyport-Console: 1"], body);
        assert_eq!(status, 403, "{method} {path}: {out}");
        let out = json(&out);
        assert_eq!(out["error"], "ReadOnly");
        assert!(
            out["message"]
                .as_str()
                .unwrap()
                .contains("SKYPORT_CONSOLE_WRITE=1")
        );
    }
    // Without the header a write is refused before anything else (a cross-site form cannot send it).
    let (status, out) = http(
        addr,
        "POST",
        &format!("{API}/call/sqs/ListQueues"),
        &[],
        b"{}",
    );
    assert_eq!(
        (status, json(&out)["error"].clone()),
        (403, "MissingHeader".into())
    );
    // Operations outside the console's list are not passed on.
    let (status, out) = http(
        addr,
        "POST",
        &format!("{API}/call/dynamodb/DeleteTable"),
        &["X-Skyport-Console: 1"],
        br#"{"TableName":"t"}"#,
    );
    assert_eq!(status, 400, "{out}");
}

#[test]
fn sqs_messages_are_peeked_without_being_received() {
    let sp = Skyport::start();
    let addr = ipv4(&sp);
    let sqs = |op: &str, body: &str| {
        let target = format!("X-Amz-Target: AmazonSQS.{op}");
        let (status, out) = http(
            addr,
            "POST",
            "/",
            &[&target, "Content-Type: application/x-amz-json-1.0"],
            body.as_bytes(),
        );
        assert_eq!(status, 200, "{op}: {out}");
        json(&out)
    };
    sqs("CreateQueue", r#"{"QueueName":"peeked"}"#);
    sqs(
        "SendMessage",
        r#"{"QueueUrl":"peeked","MessageBody":"first"}"#,
    );
    sqs(
        "SendMessage",
        r#"{"QueueUrl":"peeked","MessageBody":"second"}"#,
    );
    // LocalStack's endpoint, unsigned: XML by default.
    for _ in 0..2 {
        let (status, xml) = http(addr, "GET", "/_aws/sqs/messages?QueueUrl=peeked", &[], b"");
        assert_eq!(status, 200, "{xml}");
        assert!(
            xml.contains("<Body>first</Body>") && xml.contains("<Body>second</Body>"),
            "{xml}"
        );
        assert!(
            !xml.contains("<Name>ApproximateReceiveCount</Name><Value>1"),
            "{xml}"
        );
    }
    // Peeking received nothing: both messages are still there to receive.
    let got = sqs(
        "ReceiveMessage",
        r#"{"QueueUrl":"peeked","MaxNumberOfMessages":1,"VisibilityTimeout":60}"#,
    );
    assert_eq!(got["Messages"][0]["Body"], "first");
    // In flight now: only with ShowInvisible, marked so.
    let peek = |query: &str| {
        let (status, out) = http(
            addr,
            "GET",
            &format!("/_aws/sqs/messages?QueueUrl=peeked{query}"),
            &["Content-Type: application/x-amz-json-1.0"],
            b"",
        );
        assert_eq!(status, 200, "{out}");
        json(&out)["Messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let visible = peek("");
    assert_eq!(visible.len(), 1);
    assert_eq!(visible[0]["Body"], "second");
    let all = peek("&ShowInvisible=true");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["Body"], "first");
    assert_eq!(all[0]["Attributes"]["IsVisible"], "false");
    assert_eq!(all[0]["Attributes"]["ApproximateReceiveCount"], "1");
    assert_eq!(peek("&ShowInvisible=true&MaxNumberOfMessages=1").len(), 1);
    // Through the console: the same, all states.
    let (status, out) = http(addr, "GET", &format!("{API}/sqs/peek?url=peeked"), &[], b"");
    assert_eq!(status, 200, "{out}");
    assert_eq!(json(&out)["Messages"].as_array().unwrap().len(), 2);
}

#[test]
fn the_request_log_streams_over_sse_and_captures_bodies_only_while_watched() {
    if !require("curl") {
        return;
    }
    let sp = Skyport::start();
    let addr = ipv4(&sp);
    // Nobody watches: the entry has no bodies.
    let (status, _) = http(addr, "PUT", "/unwatched-bucket", &[SIGNED], b"");
    assert_eq!(status, 200);
    let (_, list) = http(addr, "GET", &format!("{API}/requests"), &[], b"");
    let list = json(&list);
    let first = &list["requests"][0];
    assert_eq!(first["operation"], "CreateBucket", "{list}");
    assert_eq!(first["detail"], false);
    assert_eq!(list["capturing"], false);

    let mut curl = Command::new("curl")
        .args(["-sN", "--max-time", "20"])
        .arg(format!("http://{addr}{API}/requests/stream"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    let (tx, rx) = mpsc::channel();
    let stdout = curl.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The backlog comes first: the unwatched request.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lines = Vec::new();
    let next_line = |lines: &mut Vec<String>| {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no event in time; stream so far: {lines:?}"));
        lines.push(line.clone());
        line
    };
    while !next_line(&mut lines).contains("\"CreateBucket\"") {}
    // Requests served while the stream is open arrive as events, their bodies captured.
    let (status, _) = http(
        addr,
        "PUT",
        "/unwatched-bucket/key.txt",
        &[SIGNED],
        b"watched body",
    );
    assert_eq!(status, 200);
    let (status, body) = http(addr, "GET", "/unwatched-bucket/key.txt", &[SIGNED], b"");
    assert_eq!((status, body.as_str()), (200, "watched body"));
    let mut events = Vec::new();
    while events.len() < 2 {
        let line = next_line(&mut lines);
        if line.contains("\"PutObject\"") || line.contains("\"GetObject\"") {
            events.push(json(line.trim_start_matches("data: ")));
        }
    }
    let _ = curl.kill();
    let _ = curl.wait();
    let (put, get) = (&events[0], &events[1]);
    assert_eq!(
        (&put["operation"], &get["operation"]),
        (&"PutObject".into(), &"GetObject".into())
    );
    assert_eq!(put["service"], "s3");
    assert_eq!(put["status"], 200);
    assert_eq!(put["detail"], true);
    assert!(put["client"].as_str().unwrap().starts_with("127.0.0.1:"));
    let detail = |entry: &serde_json::Value| {
        let (status, out) = http(
            addr,
            "GET",
            &format!("{API}/requests/{}", entry["id"]),
            &[],
            b"",
        );
        assert_eq!(status, 200, "{out}");
        json(&out)
    };
    let put = detail(put);
    assert_eq!(put["request"]["text"], "watched body", "{put}");
    assert_eq!(put["request"]["complete"], true, "{put}");
    let get = detail(get);
    assert_eq!(get["response"]["text"], "watched body", "{get}");
    assert_eq!(get["response"]["size"], 12, "{get}");
    assert!(
        lines.iter().any(|l| l.starts_with("event: request")),
        "{lines:?}"
    );
}

#[test]
fn the_console_is_refused_to_clients_on_other_networks() {
    if !is_root() {
        assert!(
            !root_required(),
            "SKYPORT_REQUIRE_ROOT_TESTS=1 but not root"
        );
        eprintln!("skipping the console's network test: needs root (network namespaces)");
        return;
    }
    if !require("curl") {
        return;
    }
    // A client with an address of its own: 198.18.21.2 in a namespace, Skyport on 198.18.21.1.
    let guard = NetnsGuard::create("console", &[21]).expect("create the namespace");
    let ns = &guard.namespaces[0];
    let fetch = |sp: &Skyport, path: &str| -> String {
        let gateway = sp
            .addrs
            .iter()
            .find(|a| a.ip() == ns.host_ip)
            .expect("a listener on the link");
        let (_, out, err) = run(Command::new("ip").args([
            "netns",
            "exec",
            &ns.name,
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
            &format!("http://{gateway}{path}"),
        ]));
        assert!(!out.is_empty(), "curl in {}: {err}", ns.name);
        out
    };
    let listen = format!("127.0.0.1:0,{}:0", ns.host_ip);
    let cases = [
        // Natively, a veth is not one of Docker's networks: refused, while the AWS API answers.
        (&[("OVERRIDE_IN_DOCKER", "0")][..], "403"),
        // In a container, a client on one of its networks may.
        (&[("OVERRIDE_IN_DOCKER", "1")][..], "200"),
        // Anyone may with SKYPORT_CONSOLE_PUBLIC=1.
        (
            &[("OVERRIDE_IN_DOCKER", "0"), ("SKYPORT_CONSOLE_PUBLIC", "1")][..],
            "200",
        ),
    ];
    for (env, expected) in cases {
        let mut options = Options::default().listen(&listen);
        for (k, v) in env {
            options = options.env(k, v);
        }
        let sp = Skyport::start_with(options);
        assert_eq!(fetch(&sp, "/_skyport/"), expected, "{env:?}");
        assert_eq!(
            fetch(&sp, "/_skyport/console/api/info"),
            expected,
            "{env:?}"
        );
        assert_eq!(fetch(&sp, "/_localstack/health"), "200", "{env:?}");
        // Loopback always may.
        let (status, _) = http(ipv4(&sp), "GET", "/_skyport/", &[], b"");
        assert_eq!(status, 200, "{env:?}");
    }
}

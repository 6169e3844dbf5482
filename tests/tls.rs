//! TLS end to end against the real binary: certificates minted per SNI verify with curl and OpenSSL when
//! (and only when) the Skyport CA is trusted, for AWS names and `*.localhost.localstack.cloud` in every
//! region; the official Rust SDK, boto3 and the AWS CLI work over HTTPS with the CA as their only extra
//! root; HTTP/2 is negotiated by ALPN; plain HTTP and HTTPS share one port; silent and garbage clients
//! cannot hurt the listener; the CA survives restarts and is served at `/_skyport/certs/ca.pem`.
//!
//! No test resolves a real name: curl gets `--resolve`, OpenSSL connects to 127.0.0.1, the SDK gets a
//! resolver that answers 127.0.0.1 for the one name it is given.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Options, Skyport, require, run};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// Regions (beyond the six LocalStack's certificate covers) whose `localhost.localstack.cloud` names
/// must verify.
const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
    "us-gov-west-1",
    "cn-north-1",
];

const AWS_NAMES: &[&str] = &[
    "s3.amazonaws.com",
    "s3.us-east-1.amazonaws.com",
    "s3.dualstack.us-east-1.amazonaws.com",
    "bucket.s3.us-east-1.amazonaws.com",
    "my.dotted.bucket.s3.eu-south-2.amazonaws.com",
    "sts.amazonaws.com",
    "sqs.ap-southeast-5.amazonaws.com",
    "localhost.localstack.cloud",
];

fn ca_file(skyport: &Skyport) -> PathBuf {
    skyport.state_dir.join("certs").join("ca.pem")
}

fn tls_names() -> Vec<String> {
    let mut names: Vec<String> = AWS_NAMES.iter().map(|s| (*s).to_owned()).collect();
    for region in REGIONS {
        names.push(format!("sqs.{region}.localhost.localstack.cloud"));
    }
    names
}

/// `curl` with nothing from the environment that could change which roots it trusts.
fn curl() -> Command {
    let mut cmd = Command::new("curl");
    for var in [
        "CURL_CA_BUNDLE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
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

/// curl for `https://name:port/path`, resolved to 127.0.0.1; `ca` adds `--cacert`.
fn curl_https(name: &str, port: u16, path: &str, ca: Option<&Path>) -> Command {
    let mut cmd = curl();
    cmd.arg("--resolve").arg(format!("{name}:{port}:127.0.0.1"));
    if let Some(ca) = ca {
        cmd.arg("--cacert").arg(ca);
    }
    cmd.arg(format!("https://{name}:{port}{path}"));
    cmd
}

/// A plain HTTP/1.1 request on a fresh connection: (status code, body).
fn http_get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost.localstack.cloud\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> (u16, Vec<u8>) {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    (status, raw[head_end + 4..].to_vec())
}

/// A rustls client trusting only `ca_pem`.
fn tls_client(ca_pem: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.expect("CA PEM")).expect("add CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// An HTTPS/1.1 request on a fresh connection with SNI `name`: (status code, body).
fn https_get(
    config: &Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    name: &str,
    path: &str,
) -> (u16, Vec<u8>) {
    let server_name = ServerName::try_from(name.to_owned()).expect("server name");
    let conn = rustls::ClientConnection::new(Arc::clone(config), server_name).expect("client");
    let sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n"
    )
    .expect("write over TLS");
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // The server may close without close_notify after `Connection: close`.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => panic!("reading from {name}: {e}"),
    }
    parse_response(&raw)
}

fn v4_addr(skyport: &Skyport) -> SocketAddr {
    *skyport
        .addrs
        .iter()
        .find(|a| a.is_ipv4())
        .expect("an IPv4 listener")
}

#[test]
fn curl_and_openssl_verify_minted_names_only_with_the_skyport_ca() {
    if !require("curl") || !require("openssl") {
        return;
    }
    let skyport = Skyport::start_with(Options::default().listen("127.0.0.1:0"));
    let port = skyport.port();
    let ca = ca_file(&skyport);
    for name in tls_names() {
        let (status, out, err) = run(curl_https(&name, port, "/_localstack/health", Some(&ca))
            .args(["-o", "-", "-w", "\n%{http_code}"]));
        assert!(status.success(), "{name}: curl failed: {err}");
        assert!(out.ends_with("\n200"), "{name}: {out}");
        assert!(out.contains("\"services\""), "{name}: {out}");

        let (_, out, err) = run(Command::new("openssl")
            .args(["s_client", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .args([
                "-servername",
                &name,
                "-verify_hostname",
                &name,
                "-verify_return_error",
            ])
            .arg("-CAfile")
            .arg(&ca)
            .stdin(Stdio::null()));
        assert!(
            out.contains("Verify return code: 0 (ok)"),
            "{name}: openssl did not verify:\n{out}\n{err}"
        );

        // Without the Skyport CA the same name must not verify (curl exit 60: peer certificate not OK).
        let (status, _, err) = run(&mut curl_https(&name, port, "/_localstack/health", None));
        assert_eq!(
            status.code(),
            Some(60),
            "{name}: verified without the Skyport CA?! {err}"
        );
    }
}

#[test]
fn names_outside_the_policy_get_the_default_certificate() {
    if !require("curl") || !require("openssl") {
        return;
    }
    let skyport = Skyport::start_with(Options::default().listen("127.0.0.1:0"));
    let port = skyport.port();
    let ca = ca_file(&skyport);
    for name in [
        "www.example.com",
        "amazonaws.com.evil.com",
        "evilamazonaws.com",
        "localstack.cloud",
    ] {
        let (status, _, err) = run(&mut curl_https(
            name,
            port,
            "/_localstack/health",
            Some(&ca),
        ));
        assert_eq!(status.code(), Some(60), "{name}: {err}");
        assert!(
            err.contains("no alternative certificate subject name matches")
                || err.contains("does not match"),
            "{name}: {err}"
        );
        let (_, out, _) = run(Command::new("openssl")
            .args(["s_client", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-servername", name, "-verify_hostname", name])
            .arg("-CAfile")
            .arg(&ca)
            .stdin(Stdio::null()));
        // The chain is Skyport's (so it verifies up to the CA), but the name does not match.
        assert!(
            out.contains("Verify return code: 62"),
            "{name}: expected a hostname mismatch:\n{out}"
        );
        assert!(out.contains("localhost.localstack.cloud"), "{out}");
    }
    // Connecting by IP (no SNI) gets the default certificate, which covers the loopback addresses.
    let (status, out, err) = run(curl()
        .arg("--cacert")
        .arg(&ca)
        .args(["-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("https://127.0.0.1:{port}/_localstack/health")));
    assert!(status.success(), "{err}");
    assert_eq!(out, "200");
}

#[test]
fn http2_over_tls_is_negotiated_by_alpn() {
    if !require("curl") {
        return;
    }
    let skyport = Skyport::start_with(Options::default().listen("127.0.0.1:0"));
    let port = skyport.port();
    let ca = ca_file(&skyport);
    let name = "sts.us-east-1.amazonaws.com";
    let (status, out, err) =
        run(curl_https(name, port, "/_localstack/health", Some(&ca)).args(["-v", "--http2"]));
    assert!(status.success(), "{err}");
    assert!(err.contains("ALPN: server accepted h2"), "{err}");
    assert!(err.contains("< HTTP/2 200"), "{err}");
    assert!(out.contains("\"services\""), "{out}");
    // An HTTP/1.1-only client still works on the same port.
    let (status, _, err) =
        run(curl_https(name, port, "/_localstack/health", Some(&ca)).args(["-v", "--http1.1"]));
    assert!(status.success(), "{err}");
    assert!(err.contains("ALPN: server accepted http/1.1"), "{err}");
    assert!(err.contains("< HTTP/1.1 200"), "{err}");
    // An AWS API call over HTTP/2 with TLS.
    let (status, out, err) = run(curl_https(name, port, "/", Some(&ca)).args([
        "--http2",
        "-w",
        "\n%{http_version} %{http_code}",
        "-H",
        "Content-Type: application/x-www-form-urlencoded",
        "-H",
        "Authorization: AWS4-HMAC-SHA256 Credential=123456789012/20240101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00",
        "--data",
        "Action=GetCallerIdentity&Version=2011-06-15",
    ]));
    assert!(status.success(), "{err}");
    assert!(out.ends_with("\n2 200"), "{out}");
    assert!(out.contains("<Account>123456789012</Account>"), "{out}");
}

/// Answers 127.0.0.1 for the one expected name and refuses everything else, so the SDK never asks the
/// system resolver.
#[derive(Debug, Clone)]
struct Loopback(&'static str);

impl aws_smithy_runtime_api::client::dns::ResolveDns for Loopback {
    fn resolve_dns<'a>(
        &'a self,
        name: &'a str,
    ) -> aws_smithy_runtime_api::client::dns::DnsFuture<'a> {
        use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDnsError};
        if name == self.0 {
            DnsFuture::ready(Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]))
        } else {
            DnsFuture::ready(Err(ResolveDnsError::new(format!(
                "the test resolver only knows {}, not {name}",
                self.0
            ))))
        }
    }
}

#[tokio::test]
async fn rust_sdk_sts_over_https_trusts_the_ca_as_its_only_extra_root() {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

    let skyport = Skyport::start_with(Options::default().listen("127.0.0.1:0"));
    let ca_pem = std::fs::read(ca_file(&skyport)).unwrap();
    let trust = TrustStore::default().with_pem_certificate(ca_pem);
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .unwrap(),
        )
        .build_with_resolver(Loopback("sts.amazonaws.com"));
    let creds = aws_credential_types::Credentials::new("210987654321", "x", None, None, "test");
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(format!("https://sts.amazonaws.com:{}", skyport.port()))
        .credentials_provider(creds)
        .http_client(http_client)
        .build();
    let sts = aws_sdk_sts::Client::from_conf(config);
    let me = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(me.account(), Some("210987654321"));
    assert_eq!(me.arn(), Some("arn:aws:iam::210987654321:root"));

    // The same client without the Skyport CA fails the handshake.
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .build_with_resolver(Loopback("sts.amazonaws.com"));
    let creds = aws_credential_types::Credentials::new("210987654321", "x", None, None, "test");
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(format!("https://sts.amazonaws.com:{}", skyport.port()))
        .credentials_provider(creds)
        .http_client(http_client)
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
        .build();
    let err = aws_sdk_sts::Client::from_conf(config)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    let text = format!(
        "{:?}",
        aws_smithy_runtime_api::client::result::SdkError::into_source(err)
    );
    assert!(
        text.contains("UnknownIssuer") || text.contains("certificate"),
        "{text}"
    );
}

/// Like `require`, for the boto3 Python package.
fn require_boto3() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import boto3"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("SKYPORT_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
            panic!("boto3 is required for this test (pip install boto3)");
        }
        eprintln!("skipping: boto3 is not installed");
    }
    ok
}

#[test]
fn boto3_and_the_aws_cli_work_with_the_ca_bundle() {
    if !require("python3") || !require("aws") || !require_boto3() {
        return;
    }
    let skyport = Skyport::start();
    let port = skyport.port();
    let ca = ca_file(&skyport);
    let isolate = |cmd: &mut Command| {
        cmd.env("AWS_ACCESS_KEY_ID", "345678901234")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy");
    };

    let script = format!(
        "import boto3\n\
         sts = boto3.client('sts', endpoint_url='https://127.0.0.1:{port}')\n\
         print(sts.get_caller_identity()['Account'])\n"
    );
    let mut py = Command::new("python3");
    py.arg("-c").arg(&script).env("AWS_CA_BUNDLE", &ca);
    isolate(&mut py);
    let (status, out, err) = run(&mut py);
    assert!(status.success(), "boto3 failed: {err}");
    assert_eq!(out.trim(), "345678901234");

    // boto3 without the bundle fails verification.
    let mut py = Command::new("python3");
    py.arg("-c").arg(&script).env_remove("AWS_CA_BUNDLE");
    isolate(&mut py);
    let (status, _, err) = run(&mut py);
    assert!(!status.success());
    assert!(err.contains("SSL") || err.contains("certificate"), "{err}");

    // `skyport aws` (the AWS CLI v1) with --ca-bundle, over IPv4 and IPv6.
    let mut endpoints = vec![format!("https://127.0.0.1:{port}")];
    if let Some(v6) = skyport.v6_endpoint() {
        endpoints.push(v6.replacen("http://", "https://", 1));
    }
    for endpoint in endpoints {
        let mut cli = common::command();
        cli.args(["aws", "--endpoint", &endpoint])
            .args([
                "sts",
                "get-caller-identity",
                "--output",
                "text",
                "--query",
                "Account",
            ])
            .arg("--ca-bundle")
            .arg(&ca);
        isolate(&mut cli);
        let (status, out, err) = run(&mut cli);
        assert!(status.success(), "{endpoint}: aws cli failed: {err}");
        assert_eq!(out.trim(), "345678901234", "{endpoint}");
    }
}

#[test]
fn plain_http_and_https_interleave_on_one_port_from_many_clients() {
    let skyport = Skyport::start_with(Options::default().listen("127.0.0.1:0"));
    let addr = v4_addr(&skyport);
    let config = tls_client(&std::fs::read(ca_file(&skyport)).unwrap());
    let threads: Vec<_> = (0..32)
        .map(|t| {
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                for i in 0..8 {
                    if (t + i) % 2 == 0 {
                        let (status, body) = http_get(addr, "/_localstack/health");
                        assert_eq!(status, 200, "thread {t} request {i} (http)");
                        assert!(String::from_utf8_lossy(&body).contains("services"));
                    } else {
                        // Names shared between threads, so first requests for a name race to mint it.
                        let region = REGIONS[(t * 8 + i) % 6];
                        let name = if i % 4 == 1 {
                            format!("bucket-{t}.s3.{region}.amazonaws.com")
                        } else {
                            format!("sqs.{region}.localhost.localstack.cloud")
                        };
                        let (status, body) = https_get(&config, addr, &name, "/_localstack/health");
                        assert_eq!(status, 200, "thread {t} request {i} (https {name})");
                        assert!(String::from_utf8_lossy(&body).contains("services"));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
}

#[test]
fn silent_clients_are_dropped_after_the_handshake_timeout() {
    let skyport = Skyport::start_with(
        Options::default()
            .listen("127.0.0.1:0")
            .env("SKYPORT_HANDSHAKE_TIMEOUT", "1"),
    );
    let addr = v4_addr(&skyport);
    // Says nothing at all; then a TLS record header and nothing more.
    for first_flight in [&b""[..], &[0x16, 0x03, 0x01][..]] {
        let mut sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
        sock.write_all(first_flight).unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 64];
        match sock.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("{first_flight:?}: expected the server to close, got {other:?}"),
        }
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(700) && waited < Duration::from_secs(6),
            "{first_flight:?}: closed after {waited:?}"
        );
    }
    assert_eq!(http_get(addr, "/_localstack/health").0, 200);
}

/// A small deterministic PRNG (xorshift64*), enough for fuzz-ish inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn random_first_flights_never_crash_the_listener() {
    let skyport = Skyport::start_with(
        Options::default()
            .listen("127.0.0.1:0")
            .env("SKYPORT_HANDSHAKE_TIMEOUT", "1"),
    );
    let addr = v4_addr(&skyport);
    let workers: Vec<_> = (0..8u64)
        .map(|w| {
            std::thread::spawn(move || {
                let mut rng =
                    Rng(0x9E37_79B9_7F4A_7C15 ^ (w + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
                for _ in 0..125 {
                    let len = 1 + rng.below(600) as usize;
                    let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                    match rng.below(4) {
                        // A TLS handshake record header with a random body.
                        0 => bytes.splice(0..0, [0x16, 0x03, 0x01]).for_each(drop),
                        1 => bytes[0] = 0x16,
                        // Something that starts like HTTP.
                        2 => bytes.splice(0..0, *b"GET /").for_each(drop),
                        _ => {}
                    }
                    let mut sock = TcpStream::connect(addr).expect("connect");
                    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    // The server may close as soon as it has seen enough garbage.
                    let _ = sock.write_all(&bytes);
                    let _ = sock.shutdown(std::net::Shutdown::Write);
                    let mut sink = Vec::new();
                    let _ = sock.read_to_end(&mut sink);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    // Still serving both protocols.
    assert_eq!(http_get(addr, "/_localstack/health").0, 200);
    let config = tls_client(&std::fs::read(ca_file(&skyport)).unwrap());
    assert_eq!(
        https_get(&config, addr, "s3.amazonaws.com", "/_localstack/health").0,
        200
    );
    assert!(!skyport.log().contains("panicked"), "{}", skyport.log());
}

fn certs_command(state_dir: &Path, args: &[&str]) -> (String, String) {
    let (status, out, err) = run(common::command()
        .arg("certs")
        .args(args)
        .arg("--state-dir")
        .arg(state_dir)
        .env_remove("SKYPORT_STATE_DIR")
        // No Skyport at the default endpoint: the state directory's CA (see the test below for the
        // running one's).
        .env("GATEWAY_LISTEN", "127.0.0.1:1"));
    assert!(status.success(), "skyport certs {args:?}: {err}");
    (out, err)
}

#[test]
fn certs_commands_use_the_running_skyports_ca_and_report_a_state_dir_mismatch() {
    let state = tempfile::tempdir().unwrap();
    let skyport = Skyport::start_with(
        Options::default()
            .listen("127.0.0.1:0")
            .state_dir(state.path()),
    );
    let running_pem = std::fs::read_to_string(state.path().join("certs/ca.pem")).unwrap();
    let ep = skyport.endpoint();
    let other = tempfile::tempdir().unwrap();
    let certs = |args: &[&str], listen: &str| {
        run(common::command()
            .arg("certs")
            .args(args)
            .env_remove("SKYPORT_STATE_DIR")
            .env("GATEWAY_LISTEN", listen))
    };
    // Found at the default endpoint (the configured gateway): its CA, and no second CA made in a state
    // directory that has none.
    let port = ep.rsplit(':').next().unwrap();
    let (status, out, err) = certs(
        &["ca", "--state-dir", other.path().to_str().unwrap()],
        &format!("127.0.0.1:{port}"),
    );
    assert!(status.success(), "{err}");
    assert_eq!(out, running_pem);
    assert!(
        err.contains(&format!("the CA of the Skyport running at {ep}")),
        "{err}"
    );
    assert!(
        !other.path().join("certs").exists(),
        "a second CA was created"
    );

    // Nothing running: the state directory's CA, created and said so.
    let (status, out, err) = certs(
        &["ca", "--state-dir", other.path().to_str().unwrap()],
        "127.0.0.1:1",
    );
    assert!(status.success(), "{err}");
    assert_ne!(out, running_pem);
    assert!(
        err.contains("no Skyport answers at http://127.0.0.1:1; created a new local CA"),
        "{err}"
    );

    // A state directory with another CA than the running Skyport's: reported, the running one used
    // (the bundle too).
    let (status, out, err) = certs(
        &[
            "bundle",
            "--endpoint",
            &ep,
            "--state-dir",
            other.path().to_str().unwrap(),
        ],
        "127.0.0.1:1",
    );
    assert!(status.success(), "{err}");
    assert!(out.contains(running_pem.trim()));
    assert!(
        err.contains("holds a different CA than the running Skyport (--state-dir)"),
        "{err}"
    );

    // A named endpoint that does not answer is an error, not a fallback to a local CA.
    let (status, _, err) = certs(&["ca", "--endpoint", "http://127.0.0.1:1"], "127.0.0.1:1");
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("no Skyport answers"), "{err}");
}

#[test]
fn the_ca_is_kept_across_restarts_served_and_exported() {
    let state = tempfile::tempdir().unwrap();
    let ca_path = state.path().join("certs/ca.pem");

    let first = Skyport::start_with(
        Options::default()
            .listen("127.0.0.1:0")
            .state_dir(state.path()),
    );
    let pem = std::fs::read_to_string(&ca_path).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(
        first.log().contains("created a new local CA"),
        "{}",
        first.log()
    );
    assert!(
        first.log().contains(&ca_path.display().to_string()),
        "{}",
        first.log()
    );

    // Served over plain HTTP for containers, with a PEM content type.
    let (status, body) = http_get(v4_addr(&first), "/_skyport/certs/ca.pem");
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8(body).unwrap(), pem);
    if require("curl") {
        let (status, out, err) = run(curl()
            .args(["-o", "/dev/null", "-w", "%{content_type}"])
            .arg(format!("{}/_skyport/certs/ca.pem", first.endpoint())));
        assert!(status.success(), "{err}");
        assert_eq!(out, "application/x-pem-file");
    }

    // `skyport certs ca` prints the same CA; `certs bundle --output` holds it (plus the system roots).
    let (out, _) = certs_command(state.path(), &["ca"]);
    assert_eq!(out, pem);
    let bundle_path = state.path().join("bundle.pem");
    certs_command(
        state.path(),
        &["bundle", "--output", bundle_path.to_str().unwrap()],
    );
    let bundle = std::fs::read_to_string(&bundle_path).unwrap();
    assert!(bundle.contains(pem.trim()), "the bundle lacks the CA");
    if Path::new("/etc/ssl/certs/ca-certificates.crt").exists() {
        assert!(bundle.matches("BEGIN CERTIFICATE").count() > 10);
    }
    let (out, _) = certs_command(state.path(), &["bundle"]);
    assert_eq!(out, bundle);
    drop(first);

    // A restart reuses the CA and says nothing about a new one.
    let second = Skyport::start_with(
        Options::default()
            .listen("127.0.0.1:0")
            .state_dir(state.path()),
    );
    assert_eq!(std::fs::read_to_string(&ca_path).unwrap(), pem);
    assert!(
        !second.log().contains("created a new local CA"),
        "{}",
        second.log()
    );
    let config = tls_client(pem.as_bytes());
    assert_eq!(
        https_get(
            &config,
            v4_addr(&second),
            "s3.amazonaws.com",
            "/_localstack/health"
        )
        .0,
        200
    );
    drop(second);

    // Deleting the CA makes a new one, and the log says so.
    std::fs::remove_file(&ca_path).unwrap();
    std::fs::remove_file(state.path().join("certs/ca.key")).unwrap();
    let third = Skyport::start_with(
        Options::default()
            .listen("127.0.0.1:0")
            .state_dir(state.path()),
    );
    let new_pem = std::fs::read_to_string(&ca_path).unwrap();
    assert_ne!(new_pem, pem);
    assert!(
        third.log().contains("created a new local CA"),
        "{}",
        third.log()
    );
    let (status, body) = http_get(v4_addr(&third), "/_skyport/certs/ca.pem");
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8(body).unwrap(), new_pem);
}

#[test]
fn a_custom_certificate_is_served_for_its_names_next_to_minted_ones() {
    if !require("curl") || !require("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let cert = dir.path().join("cert.pem");
    let (status, _, err) = run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-days", "2", "-subj", "/CN=api.example.test"])
        .args(["-addext", "subjectAltName=DNS:api.example.test"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    assert!(status.success(), "{err}");
    let combined = dir.path().join("server.pem");
    let mut pem = std::fs::read_to_string(&key).unwrap();
    pem.push_str(&std::fs::read_to_string(&cert).unwrap());
    std::fs::write(&combined, &pem).unwrap();

    let skyport = Skyport::start_with(
        Options::default()
            .listen("127.0.0.1:0")
            .env("CUSTOM_SSL_CERT_PATH", combined.to_str().unwrap()),
    );
    let port = skyport.port();
    let (status, out, err) = run(curl_https(
        "api.example.test",
        port,
        "/_localstack/health",
        Some(&cert),
    )
    .args(["-o", "/dev/null", "-w", "%{http_code}"]));
    assert!(status.success(), "{err}");
    assert_eq!(out, "200");
    let (status, out, err) = run(curl_https(
        "s3.amazonaws.com",
        port,
        "/_localstack/health",
        Some(&ca_file(&skyport)),
    )
    .args(["-o", "/dev/null", "-w", "%{http_code}"]));
    assert!(status.success(), "{err}");
    assert_eq!(out, "200");
    // Skyport only reads the file.
    assert_eq!(std::fs::read_to_string(&combined).unwrap(), pem);
}

#[test]
fn a_broken_custom_certificate_stops_start_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("server.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let mut child = common::command()
        .arg("start")
        .env("GATEWAY_LISTEN", "127.0.0.1:0")
        .env("SKYPORT_STATE_DIR", dir.path())
        .env("DNS_ADDRESS", "0")
        .env("CUSTOM_SSL_CERT_PATH", &bad)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("skyport kept running with a broken CUSTOM_SSL_CERT_PATH");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(!status.success());
    assert!(err.contains("CUSTOM_SSL_CERT_PATH="), "{err}");
    assert!(err.contains(bad.to_str().unwrap()), "{err}");
    assert!(!out.contains("Ready."), "{out}");
}

/// True when this process runs as root.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

#[test]
fn port_443_without_privileges_warns_once_with_the_fix_and_keeps_serving() {
    let unprivileged_start: u32 =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1024);
    if unprivileged_start <= 443 {
        eprintln!("skipping: port 443 needs no privileges on this host");
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let mut cmd = if is_root() {
        // Drop to `nobody` so binding 443 is refused, as for a normal user.
        if !common::have("setpriv") {
            eprintln!("skipping: running as root without setpriv");
            return;
        }
        let probe = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(common::binary())
            .arg("--version")
            .output();
        if !probe.is_ok_and(|o| o.status.success()) {
            eprintln!("skipping: the binary is not runnable as nobody");
            return;
        }
        std::fs::set_permissions(
            state.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(common::binary());
        cmd
    } else {
        Command::new(common::binary())
    };
    cmd.arg("start")
        .env("GATEWAY_LISTEN", "127.0.0.1:0,127.0.0.1:443,[::1]:443")
        .env("SKYPORT_STATE_DIR", state.path())
        .env("DNS_ADDRESS", "0")
        .env_remove("LOCALSTACK_HOST")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("spawn skyport");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(lines.iter().any(|l: &String| l.trim() == "Ready.")
        && lines.iter().any(|l| l.contains("started in")))
    {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => lines.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("skyport did not become ready: {lines:#?}");
            }
        }
    }
    let denied: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("permission denied"))
        .collect();
    assert_eq!(denied.len(), 1, "{lines:#?}");
    let warning = denied[0];
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains("127.0.0.1:443") && warning.contains("[::1]:443"),
        "{warning}"
    );
    assert!(
        warning.contains("setcap cap_net_bind_service=+ep") && warning.contains("container"),
        "{warning}"
    );
    let listening: SocketAddr = lines
        .iter()
        .find_map(|l| l.split("Listening on ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .expect("a Listening line");
    assert!(
        warning.contains(&format!("continuing on {listening}")),
        "{warning}"
    );
    let ca = std::fs::read(state.path().join("certs/ca.pem")).unwrap();
    let result = std::panic::catch_unwind(|| {
        https_get(
            &tls_client(&ca),
            listening,
            "sts.amazonaws.com",
            "/_localstack/health",
        )
        .0
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(result.expect("HTTPS request"), 200);
}

/// The JKS trust store Lambda gives Java functions (with the `JAVA_TOOL_OPTIONS` it sets) makes a JVM
/// verify Skyport's certificate for an AWS name; without it the same JVM refuses the connection.
#[test]
fn a_jvm_trusts_skyport_through_the_lambda_trust_store() {
    if !require("java") || !require("javac") {
        return;
    }
    let skyport = Skyport::start_with(Options::default().listen("127.0.0.1:0"));
    let port = skyport.port();
    let ca = std::fs::read_to_string(ca_file(&skyport)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let certs = skyport_lambda::trust::pem_certificates(&ca);
    assert_eq!(certs.len(), 1);
    let store = dir.path().join("cacerts.jks");
    std::fs::write(&store, skyport_lambda::trust::java_trust_store(&certs, 0)).unwrap();
    // The JVM resolves the AWS name from this file, not from the machine's resolver.
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1 s3.us-east-1.amazonaws.com\n").unwrap();
    let probe = dir.path().join("Probe.java");
    std::fs::write(
        &probe,
        "public class Probe { public static void main(String[] a) throws Exception {\n\
         var c = (javax.net.ssl.HttpsURLConnection) new java.net.URL(a[0]).openConnection();\n\
         System.out.println(\"status \" + c.getResponseCode()); } }\n",
    )
    .unwrap();
    let java = |options: Option<String>| {
        let mut cmd = Command::new("java");
        cmd.arg(format!("-Djdk.net.hosts.file={}", hosts.display()))
            .arg(&probe)
            .arg(format!(
                "https://s3.us-east-1.amazonaws.com:{port}/_localstack/health"
            ))
            .env_remove("JAVA_TOOL_OPTIONS");
        if let Some(o) = options {
            cmd.env("JAVA_TOOL_OPTIONS", o);
        }
        run(&mut cmd)
    };
    let (status, out, err) = java(Some(skyport_lambda::trust::java_options(
        &store.display().to_string(),
    )));
    assert!(status.success(), "{out}\n{err}");
    assert_eq!(out.trim(), "status 200", "{err}");
    let (status, _, err) = java(None);
    assert!(!status.success());
    assert!(err.contains("PKIX path building failed"), "{err}");
}

#[test]
fn certs_install_docker_only_writes_the_registry_hosts_ca_for_the_docker_engine() {
    let state = tempfile::tempdir().unwrap();
    let skyport = Skyport::start_with(
        Options::default()
            .listen("127.0.0.1:0")
            .state_dir(state.path()),
    );
    let running_pem = std::fs::read_to_string(state.path().join("certs/ca.pem")).unwrap();
    let certs_d = tempfile::tempdir().unwrap();
    let dir = certs_d.path().to_str().unwrap();
    let certs = |args: &[&str]| {
        run(common::command()
            .arg("certs")
            .args(args)
            .args(["--endpoint", &skyport.endpoint(), "--docker-certs-dir", dir])
            .env_remove("SKYPORT_STATE_DIR")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_REGION")
            .env_remove("LOCALSTACK_HOST"))
    };
    // The default hosts: the account's ECR registry under its real name and under LOCALSTACK_HOST.
    let (status, out, err) = certs(&["install", "--docker-only", "--region", "eu-west-1"]);
    assert!(status.success(), "{out}\n{err}");
    for host in [
        "000000000000.dkr.ecr.eu-west-1.amazonaws.com",
        "000000000000.dkr.ecr.eu-west-1.localhost.localstack.cloud:4566",
    ] {
        let file = certs_d.path().join(host).join("ca.crt");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            running_pem,
            "{out}"
        );
        assert!(
            out.contains(&format!("trusts the Skyport CA for {host}")),
            "{out}"
        );
    }
    // Named hosts; a second install says it was there; a path is no host.
    let (status, out, err) = certs(&[
        "install",
        "--docker-only",
        "--registry",
        "registry.test:5000",
    ]);
    assert!(status.success(), "{out}\n{err}");
    assert!(certs_d.path().join("registry.test:5000/ca.crt").is_file());
    let (_, out, _) = certs(&[
        "install",
        "--docker-only",
        "--registry",
        "registry.test:5000",
    ]);
    assert!(out.contains("already trusted"), "{out}");
    let (status, _, err) = certs(&["install", "--docker-only", "--registry", "../escape"]);
    assert!(!status.success());
    assert!(err.contains("is not a registry host"), "{err}");
    // Uninstall removes the file and its directory.
    let (status, out, err) = certs(&[
        "uninstall",
        "--docker-only",
        "--registry",
        "registry.test:5000",
    ]);
    assert!(status.success(), "{out}\n{err}");
    assert!(!certs_d.path().join("registry.test:5000").exists());
    assert!(out.contains("no longer trusts"), "{out}");
}

//! Concurrency (single-flight minting), hostile first flights fed to a rustls `Acceptor` with the
//! resolver, and the mint workload the timing benchmark measures.

mod common;

use std::io::Read;
use std::sync::{Arc, Barrier};

use common::fixture;
use rustls::pki_types::ServerName;
use rustls::server::Acceptor;

#[test]
fn concurrent_first_requests_for_one_name_mint_once() {
    let f = fixture();
    let before = f.resolver.mint_count();
    let barrier = Arc::new(Barrier::new(32));
    let handles: Vec<_> = (0..32)
        .map(|_| {
            let resolver = Arc::clone(&f.resolver);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                resolver.resolve_name(Some("brand-new.s3.eu-north-1.amazonaws.com"))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(f.resolver.mint_count() - before, 1, "minted exactly once");
    assert!(
        results.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])),
        "all got the same leaf"
    );
}

#[test]
fn concurrent_requests_for_many_names_mint_each_once() {
    let f = fixture();
    let before = f.resolver.mint_count();
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|t| {
            let resolver = Arc::clone(&f.resolver);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                // Every thread asks for all 8 names, in a different order.
                for i in 0..8 {
                    let n = (i + t) % 8;
                    resolver.resolve_name(Some(&format!("svc{n}.amazonaws.com")));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(f.resolver.mint_count() - before, 8);
}

/// A real first flight from a rustls client for `name`.
fn client_hello(name: &str) -> Vec<u8> {
    let config = rustls::ClientConfig::builder_with_provider(skyport_certs::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let mut conn = rustls::ClientConnection::new(
        Arc::new(config),
        ServerName::try_from(name.to_string()).unwrap(),
    )
    .unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}

/// Feeds `bytes` to an `Acceptor`; if a ClientHello comes out, completes the server side far enough to
/// resolve a certificate and write the server's flight. Returns whether a hello was accepted.
fn feed(server: &Arc<rustls::ServerConfig>, bytes: &[u8]) -> bool {
    let mut acceptor = Acceptor::default();
    let mut reader = bytes;
    loop {
        match acceptor.read_tls(&mut reader) {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                let _ = accepted.client_hello().server_name().map(str::len);
                if let Ok(mut conn) = accepted.into_connection(Arc::clone(server)) {
                    let mut sink = Vec::new();
                    while conn.wants_write() {
                        if conn.write_tls(&mut sink).is_err() {
                            break;
                        }
                    }
                    let mut plain = Vec::new();
                    let _ = conn.reader().read_to_end(&mut plain);
                }
                return true;
            }
            Ok(None) => continue,
            Err((_, mut alert)) => {
                let mut sink = Vec::new();
                let _ = alert.write_all(&mut sink);
                return false;
            }
        }
    }
}

#[test]
fn random_and_mutated_first_flights_never_panic() {
    let f = fixture();
    let mut rng = fastrand::Rng::with_seed(0x5ca1ab1e);
    // 1,000 random byte strings, half of them starting like a TLS handshake record.
    for i in 0..1000 {
        let len = rng.usize(0..600);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        if i % 2 == 0 && bytes.len() >= 5 {
            bytes[0] = 0x16;
            bytes[1] = 0x03;
            bytes[2] = rng.u8(0..=4);
        }
        feed(&f.server, &bytes);
    }
    // 1,000 real ClientHellos for in-policy, out-of-policy and odd names, with random bytes flipped.
    let names = [
        "s3.amazonaws.com",
        "bucket.s3.us-east-1.amazonaws.com",
        "example.com",
        "localhost",
        "a.b.c.d.e.f",
    ];
    let hellos: Vec<Vec<u8>> = names.iter().map(|n| client_hello(n)).collect();
    for hello in &hellos {
        assert!(feed(&f.server, hello), "an unmodified hello is accepted");
    }
    for i in 0..1000 {
        let mut bytes = hellos[i % hellos.len()].clone();
        for _ in 0..rng.usize(1..8) {
            let at = rng.usize(0..bytes.len());
            bytes[at] = rng.u8(..);
        }
        if i % 10 == 0 {
            bytes.truncate(rng.usize(0..bytes.len()));
        }
        feed(&f.server, &bytes);
    }
    // Whatever names got through were minted only when in policy.
    let minted = f.resolver.cached_len();
    assert!(
        minted >= 2,
        "the unmodified in-policy hellos minted: {minted}"
    );
}

#[test]
fn mint_two_hundred_distinct_names() {
    // The workload of the mint-time benchmark (`cargo bench -p skyport-certs`), as a test: 200 distinct
    // names, each a fresh ECDSA P-256 key and signature. Timing is benchmarked, never asserted.
    let f = fixture();
    let before = f.resolver.mint_count();
    let mut elapsed = Vec::with_capacity(200);
    for i in 0..200 {
        let name = format!("b{i}.s3.us-east-{i}.amazonaws.com");
        let start = std::time::Instant::now();
        let leaf = f.resolver.mint_uncached(&name).unwrap();
        elapsed.push(start.elapsed());
        assert_eq!(leaf.certified.cert.len(), 2);
        f.resolver.resolve_name(Some(&name));
    }
    assert_eq!(elapsed.len(), 200);
    assert_eq!(
        f.resolver.mint_count() - before,
        200,
        "each region wildcard minted once via the cache"
    );
}

/// ClientHellos captured from real clients: curl, openssl, boto3 and the official Rust SDK (see
/// tests/data/client_hellos/capture.py).
const CAPTURED: &[(&str, Option<&str>)] = &[
    (
        "curl-h2-s3-us-east-1.bin",
        Some("s3.us-east-1.amazonaws.com"),
    ),
    (
        "curl-http11-bucket.bin",
        Some("my.dotted.bucket.s3.amazonaws.com"),
    ),
    ("curl-ip-no-sni.bin", None),
    (
        "openssl-s_client-sqs-localstack.bin",
        Some("sqs.ap-south-2.localhost.localstack.cloud"),
    ),
    ("openssl-s_client-tls12-example.bin", Some("example.com")),
    ("boto3-s3-us-west-2.bin", Some("s3.us-west-2.amazonaws.com")),
    // 1.5 KB: rustls offers a post-quantum (X25519MLKEM768) key share.
    (
        "rust-sdk-s3-eu-west-1.bin",
        Some("s3.eu-west-1.amazonaws.com"),
    ),
];

fn captured(file: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/client_hellos")
            .join(file),
    )
    .unwrap()
}

#[test]
fn captured_client_hellos_resolve_to_the_expected_certificate() {
    let f = fixture();
    for (file, sni) in CAPTURED {
        let bytes = captured(file);
        let mut acceptor = Acceptor::default();
        acceptor.read_tls(&mut bytes.as_slice()).unwrap();
        let accepted = acceptor
            .accept()
            .unwrap_or_else(|_| panic!("{file}"))
            .expect(file);
        let hello = accepted.client_hello();
        assert_eq!(hello.server_name(), *sni, "{file}");
        let expected = f.resolver.choose(*sni);
        let minted = matches!(expected, skyport_certs::CertChoice::Minted { .. });
        assert_eq!(
            minted,
            sni.is_some_and(|n| n != "example.com"),
            "{file}: {expected:?}"
        );
        assert!(feed(&f.server, &bytes), "{file}: accepted and answered");
    }
}

#[test]
fn mutated_captured_client_hellos_never_panic() {
    let f = fixture();
    let mut rng = fastrand::Rng::with_seed(0xc11e47);
    let corpus: Vec<Vec<u8>> = CAPTURED.iter().map(|(file, _)| captured(file)).collect();
    for i in 0..1000 {
        let mut bytes = corpus[i % corpus.len()].clone();
        for _ in 0..rng.usize(1..6) {
            let at = rng.usize(0..bytes.len());
            bytes[at] ^= 1 << rng.u8(0..8);
        }
        feed(&f.server, &bytes);
    }
}

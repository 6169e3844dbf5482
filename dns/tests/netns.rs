//! Per-network answers without Docker: two network namespaces linked by veth pairs
//! (198.18.1.0/24 and 198.18.2.0/24, host side .1) each resolve `s3.amazonaws.com` through the
//! system resolver (`getent hosts`) and `dig`, and each gets Skyport's address on its own link.
//! Needs root; skipped otherwise unless `SKYPORT_REQUIRE_ROOT_TESTS=1`.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;

use common::{NetnsGuard, dig_in, is_root, root_required};
use skyport_dns::{DnsConfig, DnsServer, InterfaceSource, NetSnapshot};

fn getent_in(ns: &str, name: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "getent", "hosts", name])
        .output()
        .expect("run getent");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_namespace_gets_skyports_address_on_its_own_link() {
    if !is_root() {
        assert!(
            !root_required(),
            "SKYPORT_REQUIRE_ROOT_TESTS=1 but not root"
        );
        eprintln!(
            "skipping per-network DNS test: needs root (set SKYPORT_REQUIRE_ROOT_TESTS=1 to fail instead)"
        );
        return;
    }
    let guard = NetnsGuard::create("dns", &[1, 2]).expect("create namespaces");
    let mut listen: Vec<SocketAddr> = vec!["127.0.0.1:0".parse().unwrap()];
    listen.extend(
        guard
            .namespaces
            .iter()
            .map(|n| SocketAddr::new(n.host_ip, 53)),
    );
    let server = DnsServer::start(DnsConfig {
        listen,
        upstreams: Vec::new(),
        ..DnsConfig::default()
    })
    .await
    .expect("start on the veth addresses");

    for ns in &guard.namespaces {
        let expected = ns.host_ip.to_string();
        let name = ns.name.clone();
        let host = ns.host_ip;
        let (getent, d, d_tcp, aaaa) = tokio::task::spawn_blocking(move || {
            (
                getent_in(&name, "s3.amazonaws.com"),
                dig_in(Some(&name), host, 53, &["s3.amazonaws.com", "A"]),
                dig_in(
                    Some(&name),
                    host,
                    53,
                    &["bucket.s3.us-east-1.amazonaws.com", "A", "+tcp"],
                ),
                dig_in(Some(&name), host, 53, &["s3.amazonaws.com", "AAAA"]),
            )
        })
        .await
        .unwrap();
        let first = getent.split_whitespace().next().unwrap_or("");
        assert_eq!(first, expected, "getent in {}: {getent:?}", ns.name);
        assert!(getent.contains("s3.amazonaws.com"), "{getent}");
        assert_eq!(
            d.answers,
            vec![format!("s3.amazonaws.com. 300 IN A {expected}")],
            "{}",
            d.raw
        );
        assert!(d.has_flag("aa"));
        assert_eq!(
            d_tcp.answers,
            vec![format!(
                "bucket.s3.us-east-1.amazonaws.com. 300 IN A {expected}"
            )],
            "{}",
            d_tcp.raw
        );
        // no IPv6 on the link: empty NOERROR, never ::1 to a container-like client
        assert_eq!(aaaa.status, "NOERROR", "{}", aaaa.raw);
        assert!(aaaa.answers.is_empty(), "{}", aaaa.raw);

        let why = server
            .explain("s3.amazonaws.com", skyport_dns::RecordType::A, ns.ns_ip)
            .unwrap()
            .to_string();
        assert!(
            why.contains(&ns.host_if) && why.contains(&expected),
            "{why}"
        );
    }

    // The ACL: a server that considers none of these networks its own refuses the namespace client.
    let strict = DnsServer::start(DnsConfig {
        listen: vec![SocketAddr::new(guard.namespaces[0].host_ip, 0)],
        interfaces: InterfaceSource::Static(NetSnapshot::default()),
        ..DnsConfig::default()
    })
    .await
    .unwrap();
    let port = strict.local_addrs()[0].port();
    let ns = guard.namespaces[0].name.clone();
    let host: IpAddr = guard.namespaces[0].host_ip;
    let refused = tokio::task::spawn_blocking(move || {
        dig_in(Some(&ns), host, port, &["s3.amazonaws.com", "A"])
    })
    .await
    .unwrap();
    assert_eq!(refused.status, "REFUSED", "{}", refused.raw);
    assert!(refused.answers.is_empty());

    strict.shutdown().await;
    server.shutdown().await;
    drop(guard);
}

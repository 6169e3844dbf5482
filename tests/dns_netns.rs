//! Per-network answers through the real binary, without Docker: two network namespaces linked by
//! veth pairs (198.18.11.0/24 and 198.18.12.0/24, host side .1; other subnets than the DNS crate's
//! own netns test so both can run at once), each with `/etc/netns/<ns>/resolv.conf` pointing at
//! Skyport's address on its link. Skyport listens for DNS on both host-side addresses
//! (`DNS_ADDRESS` + `SKYPORT_DNS_EXTRA_LISTEN`, port 53) and serves the gateway on both. From inside
//! each namespace the system resolver (`getent hosts`) and `dig` give Skyport's address on that link,
//! and `curl` reaches Skyport's health endpoint and STS by their real names over HTTP and over HTTPS
//! (trusting only Skyport's CA, `<state>/certs/ca.pem`). Other names go to a fake upstream only.
//! Needs root and `ip netns`; skipped otherwise unless `SKYPORT_REQUIRE_ROOT_TESTS=1`.

mod common;
mod dns_support;

use std::net::SocketAddr;
use std::process::Command;

use common::{Options, Skyport, command, require, run};
use dns_support::{FakeUpstream, NetnsGuard, dig_in, is_root, root_required};

fn in_ns(ns: &str, args: &[&str]) -> (bool, String, String) {
    let (status, out, err) = run(Command::new("ip").args(["netns", "exec", ns]).args(args));
    (status.success(), out, err)
}

#[test]
fn each_namespace_reaches_skyport_by_real_names() {
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
    if !require("dig") || !require("curl") {
        return;
    }
    let guard = NetnsGuard::create("bin", &[11, 12]).expect("create namespaces");
    let upstream = FakeUpstream::start();
    let (a, b) = (&guard.namespaces[0], &guard.namespaces[1]);
    let sp = Skyport::start_with(
        Options::default()
            .listen(&format!("127.0.0.1:0,{}:0,{}:0", a.host_ip, b.host_ip))
            .env("DNS_ADDRESS", &a.host_ip.to_string())
            .env("DNS_PORT", "53")
            .env("SKYPORT_DNS_EXTRA_LISTEN", &b.host_ip.to_string())
            .env("DNS_SERVER", &upstream.addr.to_string()),
    );
    assert_eq!(
        sp.dns_addrs,
        vec![
            SocketAddr::new(a.host_ip, 53),
            SocketAddr::new(b.host_ip, 53)
        ],
        "{}",
        sp.log()
    );
    // TLS: the gateway serves its CA document.
    let ca = sp.state_dir.join("certs/ca.pem");
    let (_, ca_doc, _) = run(Command::new("curl").args([
        "-s",
        "--max-time",
        "5",
        &format!("{}/_skyport/certs/ca.pem", sp.endpoint()),
    ]));
    assert!(
        ca_doc.contains("BEGIN CERTIFICATE") && ca.exists(),
        "the gateway serves its CA: {ca_doc}"
    );
    let ca = ca.to_string_lossy().into_owned();

    for ns in &guard.namespaces {
        let host = ns.host_ip.to_string();
        let gateway = sp
            .addrs
            .iter()
            .find(|g| g.ip() == ns.host_ip)
            .expect("a gateway listener on the link");
        let port = gateway.port().to_string();

        let (ok, out, err) = in_ns(&ns.name, &["getent", "hosts", "s3.amazonaws.com"]);
        assert!(ok, "getent in {}: {out}{err}", ns.name);
        assert_eq!(
            out.split_whitespace().collect::<Vec<_>>(),
            vec![host.as_str(), "s3.amazonaws.com"],
            "getent in {}",
            ns.name
        );
        let d = dig_in(Some(&ns.name), ns.host_ip, 53, &["sts.amazonaws.com.", "A"]);
        assert_eq!(
            d.answers,
            vec![format!("sts.amazonaws.com. 300 IN A {host}")],
            "{}",
            d.raw
        );
        assert!(d.has_flag("aa") && d.has_flag("ra"), "{}", d.raw);
        let d = dig_in(
            Some(&ns.name),
            ns.host_ip,
            53,
            &["sqs.eu-west-1.localhost.localstack.cloud.", "A", "+tcp"],
        );
        assert_eq!(
            d.answers,
            vec![format!(
                "sqs.eu-west-1.localhost.localstack.cloud. 300 IN A {host}"
            )],
            "{}",
            d.raw
        );
        // No IPv6 on the link: an empty NOERROR, never ::1 to a client on another network.
        let d = dig_in(
            Some(&ns.name),
            ns.host_ip,
            53,
            &["s3.amazonaws.com.", "AAAA"],
        );
        assert_eq!(d.status, "NOERROR", "{}", d.raw);
        assert!(d.answers.is_empty(), "{}", d.raw);
        // Other names are forwarded to the fake upstream.
        let (ok, out, _) = in_ns(&ns.name, &["getent", "ahostsv4", "forwarded.example"]);
        assert!(ok && out.starts_with("192.0.2.1"), "{out}");
        assert!(upstream.asked("forwarded.example"));

        // Real names over HTTP, resolved by the namespace's system resolver.
        let (ok, out, err) = in_ns(
            &ns.name,
            &[
                "curl",
                "-sS",
                "--max-time",
                "10",
                &format!("http://s3.amazonaws.com:{port}/_localstack/health"),
            ],
        );
        assert!(
            ok && out.contains("\"services\""),
            "health from {}: {out}{err}",
            ns.name
        );
        let sts = |scheme: &str, extra: &[&str]| {
            let url = format!("{scheme}://sts.amazonaws.com:{port}/");
            let mut args = vec![
                "curl",
                "-sS",
                "--max-time",
                "10",
                "-H",
                "Authorization: AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0",
                "--data",
                "Action=GetCallerIdentity&Version=2011-06-15",
            ];
            args.extend_from_slice(extra);
            args.push(&url);
            in_ns(&ns.name, &args)
        };
        let (ok, out, err) = sts("http", &[]);
        assert!(
            ok && out.contains("<GetCallerIdentityResponse"),
            "STS from {}: {out}{err}",
            ns.name
        );
        // HTTPS with the real name, trusting only Skyport's CA.
        let (ok, out, err) = sts("https", &["--cacert", &ca]);
        assert!(
            ok && out.contains("<GetCallerIdentityResponse"),
            "HTTPS STS from {}: {out}{err}",
            ns.name
        );
        let (ok, out, err) = in_ns(
            &ns.name,
            &[
                "curl",
                "-sS",
                "--max-time",
                "10",
                "--cacert",
                &ca,
                &format!("https://s3.amazonaws.com:{port}/_localstack/health"),
            ],
        );
        assert!(
            ok && out.contains("\"services\""),
            "HTTPS health from {}: {out}{err}",
            ns.name
        );

        // `skyport dns resolve --from` explains the same answer.
        let (status, out, err) = run(command()
            .args([
                "dns",
                "resolve",
                "s3.amazonaws.com",
                "--from",
                &ns.ns_ip.to_string(),
            ])
            .env("DNS_SERVER", upstream.addr.to_string()));
        assert!(status.success(), "{out}{err}");
        assert!(
            out.contains(&format!("answer: s3.amazonaws.com. 300 IN A {host}")),
            "{out}"
        );
        assert!(
            out.contains(&format!("Skyport's address on {}", ns.host_if)),
            "{out}"
        );
    }
    drop(sp);
    drop(guard);
}

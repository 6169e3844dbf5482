//! The embedded DNS server through the real binary and the real `dig`: Skyport's names (A, AAAA, MX,
//! TXT, HTTPS over UDP and TCP, flags and TTLs), forwarding to a fake upstream on 127.0.0.1 (never
//! the machine's resolver), `SKYPORT_DNS_AWS_NAMES=0`, the skip patterns, extra listeners, DNS off,
//! a busy or privileged port (one warning, Skyport keeps running), `skyport dns resolve`, and random
//! packets that leave the server answering.

mod common;
mod dns_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Options, Skyport, command, require, run};
use dns_support::{FAKE_A, FAKE_TTL, FakeUpstream, dig, dig_in, is_root};

fn dns_port(sp: &Skyport) -> u16 {
    assert_eq!(sp.dns_addrs.len(), 1, "{:?}\n{}", sp.dns_addrs, sp.log());
    assert_eq!(sp.dns_addrs[0].ip().to_string(), "127.0.0.1");
    sp.dns_addrs[0].port()
}

/// `GET /_localstack/health` on the gateway: the status line.
fn health_status(sp: &Skyport) -> String {
    let addr = sp.addrs.iter().find(|a| a.is_ipv4()).expect("ipv4 gateway");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"GET /_localstack/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.lines().next().unwrap_or("").to_owned()
}

fn soa_ok(rec: &str, zone: &str) -> bool {
    rec.starts_with(&format!(
        "{zone} 300 IN SOA ns.localhost.localstack.cloud. hostmaster.localhost.localstack.cloud."
    )) && rec.ends_with("3600 600 86400 300")
}

#[test]
fn skyports_names_over_udp_and_tcp() {
    if !require("dig") {
        return;
    }
    let upstream = FakeUpstream::start();
    let sp = Skyport::start_with(
        Options::default()
            .dns()
            .env("LOCALSTACK_HOST", "skyport.test:4566")
            .env("DNS_SERVER", &upstream.addr.to_string()),
    );
    let port = dns_port(&sp);
    assert!(
        sp.log()
            .contains(&format!("DNS listening on 127.0.0.1:{port} (UDP and TCP)")),
        "{}",
        sp.log()
    );

    for transport in [&[][..], &["+tcp"][..]] {
        let d = |name: &str, t: &str| {
            let mut args = vec![name, t];
            args.extend_from_slice(transport);
            dig(port, &args)
        };
        for name in [
            "s3.amazonaws.com.",
            "bucket.s3.us-east-1.amazonaws.com.",
            "sqs.eu-west-1.localhost.localstack.cloud.",
            "skyport.test.",
            "sqs.us-east-1.Skyport.Test.",
        ] {
            let a = d(name, "A");
            assert_eq!(a.status, "NOERROR", "{transport:?} {name}: {}", a.raw);
            for f in ["qr", "aa", "rd", "ra"] {
                assert!(a.has_flag(f), "{name}: flag {f} missing: {}", a.raw);
            }
            assert_eq!(
                a.answers,
                vec![format!("{name} 300 IN A 127.0.0.1")],
                "{}",
                a.raw
            );
            assert!(a.authority.is_empty(), "{}", a.raw);

            let aaaa = d(name, "AAAA");
            assert_eq!(aaaa.status, "NOERROR", "{}", aaaa.raw);
            assert!(aaaa.has_flag("aa") && aaaa.has_flag("ra"), "{}", aaaa.raw);
            assert_eq!(
                aaaa.answers,
                vec![format!("{name} 300 IN AAAA ::1")],
                "{}",
                aaaa.raw
            );
        }
        for (name, zone) in [
            ("s3.amazonaws.com.", "amazonaws.com."),
            (
                "sqs.eu-west-1.localhost.localstack.cloud.",
                "localhost.localstack.cloud.",
            ),
            ("api.skyport.test.", "skyport.test."),
        ] {
            for t in ["MX", "TXT", "HTTPS"] {
                let r = d(name, t);
                assert_eq!(r.status, "NOERROR", "{t} {name}: {}", r.raw);
                assert!(r.has_flag("aa") && r.has_flag("ra"), "{t}: {}", r.raw);
                assert!(r.answers.is_empty(), "{t}: {}", r.raw);
                assert_eq!(r.authority.len(), 1, "{t}: {}", r.raw);
                assert!(soa_ok(&r.authority[0], zone), "{t}: {}", r.raw);
            }
        }
    }
    assert_eq!(upstream.count(), 0, "Skyport's names never go upstream");

    // `skyport dns resolve` with the same settings gives the same answer, with the reason.
    let (status, out, err) = run(command()
        .args(["dns", "resolve", "s3.amazonaws.com", "--from", "127.0.0.1"])
        .env("LOCALSTACK_HOST", "skyport.test:4566")
        .env("DNS_SERVER", upstream.addr.to_string()));
    assert!(status.success(), "{out}{err}");
    assert!(
        out.contains("answer: s3.amazonaws.com. 300 IN A 127.0.0.1"),
        "{out}"
    );
    assert!(out.contains("the client is on loopback"), "{out}");
    assert_eq!(upstream.count(), 0);
}

#[test]
fn other_names_go_to_the_configured_upstream_only() {
    if !require("dig") {
        return;
    }
    let upstream = FakeUpstream::start();
    let sp = Skyport::start_with(
        Options::default()
            .dns()
            .env("DNS_SERVER", &upstream.addr.to_string()),
    );
    let port = dns_port(&sp);
    for (name, extra) in [("example.com.", None), ("www.example.org.", Some("+tcp"))] {
        let mut args = vec![name, "A"];
        args.extend(extra);
        let d = dig(port, &args);
        assert_eq!(d.status, "NOERROR", "{}", d.raw);
        assert_eq!(
            d.answers,
            vec![format!("{name} {FAKE_TTL} IN A {FAKE_A}")],
            "{}",
            d.raw
        );
        assert!(!d.has_flag("aa"), "forwarded answers are not authoritative");
        assert!(d.has_flag("ra"));
        assert!(upstream.asked(name.trim_end_matches('.')));
    }
    // A repeat comes from the cache.
    let before = upstream.count();
    let d = dig(port, &["example.com.", "A"]);
    assert_eq!(d.answers.len(), 1, "{}", d.raw);
    assert!(
        d.answers[0].ends_with(&format!("IN A {FAKE_A}")),
        "{}",
        d.raw
    );
    assert_eq!(upstream.count(), before);
    // Look-alikes of Skyport's names are not Skyport's.
    let d = dig(port, &["amazonaws.com.evil.example.", "A"]);
    assert_eq!(
        d.answers,
        vec![format!(
            "amazonaws.com.evil.example. {FAKE_TTL} IN A {FAKE_A}"
        )]
    );

    let (status, out, err) = run(command()
        .args(["dns", "resolve", "example.com", "--from", "127.0.0.1"])
        .args(["--dns-server", &upstream.addr.to_string()]));
    assert!(status.success(), "{out}{err}");
    assert!(
        out.contains("forwarded upstream: not one of Skyport's names"),
        "{out}"
    );
    assert!(
        out.contains(&format!("upstreams, in order: {}", upstream.addr)),
        "{out}"
    );
}

#[test]
fn aws_names_off_and_skip_patterns_send_names_upstream() {
    if !require("dig") {
        return;
    }
    let upstream = FakeUpstream::start();
    let sp = Skyport::start_with(
        Options::default()
            .dns()
            .env("DNS_SERVER", &upstream.addr.to_string())
            .env("SKYPORT_DNS_AWS_NAMES", "0"),
    );
    let port = dns_port(&sp);
    let d = dig(port, &["s3.amazonaws.com.", "A"]);
    assert_eq!(
        d.answers,
        vec![format!("s3.amazonaws.com. {FAKE_TTL} IN A {FAKE_A}")],
        "{}",
        d.raw
    );
    assert!(!d.has_flag("aa"));
    assert!(upstream.asked("s3.amazonaws.com"));
    let d = dig(port, &["sqs.localhost.localstack.cloud.", "A"]);
    assert_eq!(
        d.answers,
        vec!["sqs.localhost.localstack.cloud. 300 IN A 127.0.0.1"],
        "{}",
        d.raw
    );
    assert!(d.has_flag("aa"));
    drop(sp);

    let upstream = FakeUpstream::start();
    let sp = Skyport::start_with(
        Options::default()
            .dns()
            .env("DNS_SERVER", &upstream.addr.to_string())
            .env(
                "DNS_NAME_PATTERNS_TO_RESOLVE_UPSTREAM",
                r"'.*\.s3\.amazonaws\.com', cognito.*",
            )
            .env("DNS_LOCAL_NAME_PATTERNS", r"sqs\..*"),
    );
    let port = dns_port(&sp);
    for upstream_name in [
        "bucket.s3.amazonaws.com.",
        "cognito-idp.us-east-1.amazonaws.com.",
        "sqs.us-east-1.amazonaws.com.",
    ] {
        let d = dig(port, &[upstream_name, "A"]);
        assert_eq!(
            d.answers,
            vec![format!("{upstream_name} {FAKE_TTL} IN A {FAKE_A}")],
            "{}",
            d.raw
        );
        assert!(upstream.asked(upstream_name.trim_end_matches('.')));
    }
    for local in [
        "s3.amazonaws.com.",
        "x.sqs.us-east-1.amazonaws.com.",
        "sts.amazonaws.com.",
    ] {
        let d = dig(port, &[local, "A"]);
        assert_eq!(
            d.answers,
            vec![format!("{local} 300 IN A 127.0.0.1")],
            "{}",
            d.raw
        );
        assert!(!upstream.asked(local.trim_end_matches('.')));
    }

    let (status, out, err) = run(command()
        .args(["dns", "resolve", "bucket.s3.amazonaws.com"])
        .env("DNS_SERVER", upstream.addr.to_string())
        .env(
            "DNS_NAME_PATTERNS_TO_RESOLVE_UPSTREAM",
            r".*\.s3\.amazonaws\.com",
        ));
    assert!(status.success(), "{out}{err}");
    assert!(
        out.contains(r#"matches skip pattern ".*\\.s3\\.amazonaws\\.com""#),
        "{out}"
    );
    let (status, out, _) = run(command()
        .args(["dns", "resolve", "s3.amazonaws.com", "--type", "aaaa"])
        .env("DNS_SERVER", upstream.addr.to_string())
        .env("SKYPORT_DNS_AWS_NAMES", "0"));
    assert!(status.success());
    assert!(out.contains("forwarded upstream"), "{out}");
}

#[test]
fn dns_off_by_default_in_the_harness_and_with_dns_address_0() {
    let sp = Skyport::start();
    assert!(sp.dns_addrs.is_empty());
    assert!(!sp.log().contains("DNS listening"), "{}", sp.log());
    drop(sp);
    let sp = Skyport::start_with(
        Options::default()
            .env("DNS_ADDRESS", "0")
            .env("DNS_PORT", "0")
            .env("SKYPORT_DNS_EXTRA_LISTEN", "127.0.0.1:0"),
    );
    assert!(sp.dns_addrs.is_empty(), "{}", sp.log());
    assert!(
        !sp.log().contains("DNS listening") && !sp.log().contains("DNS:"),
        "{}",
        sp.log()
    );
    assert!(health_status(&sp).contains("200"));
}

#[test]
fn extra_listeners_answer_too() {
    if !require("dig") {
        return;
    }
    let upstream = FakeUpstream::start();
    let sp = Skyport::start_with(
        Options::default()
            .dns()
            .env("DNS_SERVER", &upstream.addr.to_string())
            .env("SKYPORT_DNS_EXTRA_LISTEN", "127.0.0.2, [::1]:0"),
    );
    assert_eq!(sp.dns_addrs.len(), 3, "{}", sp.log());
    assert_eq!(sp.dns_addrs[1].ip().to_string(), "127.0.0.2");
    assert_eq!(sp.dns_addrs[2].ip().to_string(), "::1");
    for addr in &sp.dns_addrs {
        let d = dig_in(None, addr.ip(), addr.port(), &["sts.amazonaws.com.", "A"]);
        assert_eq!(
            d.answers,
            vec!["sts.amazonaws.com. 300 IN A 127.0.0.1"],
            "{addr}: {}",
            d.raw
        );
        let d = dig_in(
            None,
            addr.ip(),
            addr.port(),
            &["sts.amazonaws.com.", "AAAA", "+tcp"],
        );
        assert_eq!(
            d.answers,
            vec!["sts.amazonaws.com. 300 IN AAAA ::1"],
            "{addr}: {}",
            d.raw
        );
    }
}

/// The DNS server's own warnings (not the configuration check's: on a machine that is itself a container,
/// the tests' loopback `DNS_SERVER` is rightly reported as unreachable from a container).
fn dns_warnings(sp: &Skyport) -> Vec<String> {
    sp.log()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("DNS") && !l.contains("DNS_SERVER includes"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn busy_port_gives_one_warning_and_skyport_keeps_running() {
    let busy = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let sp = Skyport::start_with(
        Options::default()
            .env("DNS_ADDRESS", "127.0.0.1")
            .env("DNS_PORT", &port.to_string())
            .env("DNS_SERVER", "127.0.0.1:9"),
    );
    assert!(sp.dns_addrs.is_empty(), "{}", sp.log());
    let warnings = dns_warnings(&sp);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    for part in [
        &format!("127.0.0.1:{port}"),
        "already in use",
        "DNS_PORT=5353",
        "DNS_ADDRESS=0",
        "keeps running without DNS",
    ] {
        assert!(warnings[0].contains(part), "{part}: {}", warnings[0]);
    }
    assert!(health_status(&sp).contains("200"), "{}", sp.log());
}

/// Runs `skyport start` without CAP_NET_BIND_SERVICE (as root: through `setpriv`, dropping it from
/// the bounding set) until `Ready.`, returning its output; the process is killed afterwards.
fn start_unprivileged(env: &[(&str, &str)]) -> Option<Vec<String>> {
    use std::io::BufRead;
    let mut cmd = if is_root() {
        if !require("setpriv") {
            return None;
        }
        let mut c = Command::new("setpriv");
        c.args([
            "--bounding-set",
            "-net_bind_service",
            "--inh-caps",
            "-net_bind_service",
            common::binary(),
        ]);
        c
    } else {
        Command::new(common::binary())
    };
    let state = tempfile::tempdir().unwrap();
    cmd.arg("start")
        .env("GATEWAY_LISTEN", "127.0.0.1:0")
        .env("SKYPORT_STATE_DIR", state.path())
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("spawn skyport");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    // `Ready.` is printed directly, the log lines by a background writer: wait for both.
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        lines.push(line);
        let ready = lines.iter().any(|l| l.trim() == "Ready.");
        if ready && lines.iter().any(|l| l.contains("started in")) {
            break;
        }
    }
    // Still serving: the gateway answers its health endpoint.
    let gateway = lines
        .iter()
        .find_map(|l| l.split("Listening on ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.parse::<SocketAddr>().ok());
    let health = gateway.map(|addr| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /_localstack/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines.iter().any(|l| l.trim() == "Ready."),
        "not ready: {lines:#?}"
    );
    assert!(
        health.is_some_and(|h| h.starts_with("HTTP/1.1 200")),
        "{lines:#?}"
    );
    Some(lines)
}

#[test]
fn privileged_port_without_privileges_warns_with_the_fix() {
    let Some(lines) = start_unprivileged(&[
        ("DNS_ADDRESS", "127.0.0.1"),
        ("DNS_PORT", "53"),
        ("DNS_SERVER", "127.0.0.1:9"),
        ("OVERRIDE_IN_DOCKER", "0"),
    ]) else {
        return;
    };
    let warnings: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("WARN") && l.contains("DNS"))
        .collect();
    assert_eq!(warnings.len(), 1, "{lines:#?}");
    for part in [
        "no permission to listen on 127.0.0.1:53",
        "setcap cap_net_bind_service",
        "DNS_PORT=5353",
        "DNS_ADDRESS=0",
    ] {
        assert!(warnings[0].contains(part), "{part}: {}", warnings[0]);
    }
    assert!(!lines.iter().any(|l| l.contains("DNS listening")));
}

#[test]
fn resolve_command_reasons_and_errors() {
    let resolve = |args: &[&str]| {
        run(command()
            .args(["dns", "resolve"])
            .args(args)
            .env("DNS_SERVER", "127.0.0.1:9"))
    };
    let (status, out, err) = resolve(&["S3.AmazonAWS.com", "--type", "AAAA"]);
    assert!(status.success(), "{out}{err}");
    assert!(
        out.starts_with("s3.amazonaws.com. AAAA from 127.0.0.1:"),
        "{out}"
    );
    assert!(
        out.contains("answered by Skyport (zone amazonaws.com."),
        "{out}"
    );
    assert!(
        out.contains("answer: s3.amazonaws.com. 300 IN AAAA ::1"),
        "{out}"
    );

    let (status, out, _) = resolve(&["sqs.localhost.localstack.cloud", "--type", "MX"]);
    assert!(status.success());
    assert!(out.contains("NOERROR, no records"), "{out}");
    assert!(
        out.contains("authority: localhost.localstack.cloud. 300 IN SOA"),
        "{out}"
    );

    let (status, out, _) = resolve(&["s3.amazonaws.com", "--from", "203.0.113.9"]);
    assert!(status.success());
    assert!(out.contains("REFUSED"), "{out}");

    let (status, _, err) = resolve(&["bad..name"]);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("bad..name"), "{err}");
    let (status, _, err) = resolve(&["s3.amazonaws.com", "--type", "NOPE"]);
    assert_eq!(status.code(), Some(2));
    assert!(err.contains("unknown record type"), "{err}");
    let (status, _, err) = resolve(&["s3.amazonaws.com", "--from", "not-an-ip"]);
    assert_eq!(status.code(), Some(2), "{err}");
}

#[test]
fn random_packets_leave_the_server_answering() {
    if !require("dig") {
        return;
    }
    let sp = Skyport::start_with(Options::default().dns().env("DNS_SERVER", "127.0.0.1:9"));
    let port = dns_port(&sp);
    let target: SocketAddr = sp.dns_addrs[0];
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for i in 0..400u32 {
        let len = usize::try_from(next() % 600).unwrap();
        let mut packet: Vec<u8> = (0..len).map(|_| next().to_le_bytes()[0]).collect();
        if i % 4 == 0 && packet.len() >= 12 {
            // Plausible headers with absurd counts and a self-pointing compression pointer.
            packet[2] = 0x01;
            packet[3] = 0x00;
            packet[4..12].copy_from_slice(&[0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
            if packet.len() > 14 {
                packet[12] = 0xC0;
                packet[13] = 12;
            }
        }
        sock.send_to(&packet, target).unwrap();
    }
    // Short garbage over TCP too.
    for _ in 0..20 {
        if let Ok(mut s) = TcpStream::connect(target) {
            let junk: Vec<u8> = (0..40).map(|_| next().to_le_bytes()[0]).collect();
            let _ = s.write_all(&junk);
        }
    }
    let d = dig(port, &["s3.amazonaws.com.", "A"]);
    assert_eq!(
        d.answers,
        vec!["s3.amazonaws.com. 300 IN A 127.0.0.1"],
        "{}",
        d.raw
    );
    let d = dig(port, &["s3.amazonaws.com.", "A", "+tcp"]);
    assert_eq!(
        d.answers,
        vec!["s3.amazonaws.com. 300 IN A 127.0.0.1"],
        "{}",
        d.raw
    );
    assert!(health_status(&sp).contains("200"));
}

//! The real `dig` against an in-process server on 127.0.0.1: Skyport's names (A, AAAA, MX, TXT,
//! HTTPS, SOA, NS, ANY over UDP and TCP) with exact answers, flags and TTLs; look-alike names go to
//! the (fake) upstream instead.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{Behaviour, FakeUpstream, dig, start_server};

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn soa_prefix(zone: &str, ttl: u32) -> String {
    format!(
        "{zone} {ttl} IN SOA ns.localhost.localstack.cloud. hostmaster.localhost.localstack.cloud."
    )
}

fn soa_suffix() -> &'static str {
    "3600 600 86400 300"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_names_over_udp_and_tcp() {
    let upstream = FakeUpstream::start(Behaviour::Answer).await;
    let (server, port) = start_server(|c| c.upstreams = vec![upstream.addr]).await;

    for transport in [&[][..], &["+tcp"][..]] {
        let d = |name: &str, t: &str| {
            let mut args = vec![name, t];
            args.extend_from_slice(transport);
            dig(LO, port, &args)
        };
        for name in [
            "s3.amazonaws.com.",
            "bucket.s3.us-east-1.amazonaws.com.",
            "S3.AmazonAWS.COM.",
            "sqs.eu-west-1.localhost.localstack.cloud.",
            "localhost.localstack.cloud.",
            "sts.amazonaws.com.cn.",
            "sts.api.aws.",
            "abc123.lambda-url.us-east-1.on.aws.",
            "console.aws.amazon.com.",
        ] {
            let a = d(name, "A");
            assert_eq!(a.status, "NOERROR", "{transport:?} {name}: {}", a.raw);
            for f in ["qr", "aa", "rd", "ra"] {
                assert!(a.has_flag(f), "{name}: flag {f} missing: {:?}", a.flags);
            }
            assert_eq!(
                a.answers,
                vec![format!("{name} 300 IN A 127.0.0.1")],
                "{}",
                a.raw
            );
            assert!(a.authority.is_empty());

            let aaaa = d(name, "AAAA");
            assert_eq!(aaaa.status, "NOERROR");
            assert!(aaaa.has_flag("aa"));
            assert_eq!(
                aaaa.answers,
                vec![format!("{name} 300 IN AAAA ::1")],
                "{}",
                aaaa.raw
            );
        }

        for t in ["MX", "TXT", "HTTPS", "SVCB", "CNAME", "NS"] {
            let r = d("s3.us-east-1.amazonaws.com.", t);
            assert_eq!(r.status, "NOERROR", "{t}: {}", r.raw);
            assert!(r.has_flag("aa") && r.has_flag("ra"), "{t}: {:?}", r.flags);
            assert!(r.answers.is_empty(), "{t}: {:?}", r.answers);
            assert_eq!(r.authority.len(), 1, "{t}: {}", r.raw);
            assert!(
                r.authority[0].starts_with(&soa_prefix("amazonaws.com.", 300)),
                "{}",
                r.authority[0]
            );
            assert!(r.authority[0].ends_with(soa_suffix()), "{}", r.authority[0]);
        }

        let soa = d("amazonaws.com.", "SOA");
        assert_eq!(soa.status, "NOERROR");
        assert!(soa.has_flag("aa"));
        assert_eq!(soa.answers.len(), 1, "{}", soa.raw);
        assert!(
            soa.answers[0].starts_with(&soa_prefix("amazonaws.com.", 3600)),
            "{}",
            soa.answers[0]
        );
        assert!(soa.answers[0].ends_with(soa_suffix()));

        let soa = d("localhost.localstack.cloud.", "SOA");
        assert!(
            soa.answers[0].starts_with(&soa_prefix("localhost.localstack.cloud.", 3600)),
            "{}",
            soa.raw
        );

        let ns = d("amazonaws.com.", "NS");
        assert_eq!(
            ns.answers,
            vec!["amazonaws.com. 3600 IN NS ns.localhost.localstack.cloud.".to_string()]
        );
        assert!(
            ns.additional
                .contains(&"ns.localhost.localstack.cloud. 300 IN A 127.0.0.1".to_string()),
            "{}",
            ns.raw
        );

        let any = d("s3.amazonaws.com.", "ANY");
        assert_eq!(any.status, "NOERROR");
        assert!(any.has_flag("aa"));
        assert_eq!(
            any.answers,
            vec!["s3.amazonaws.com. 300 IN A 127.0.0.1".to_string()]
        );
    }
    assert_eq!(
        upstream.udp() + upstream.tcp(),
        0,
        "local names never reach the upstream"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_alike_and_outside_names_are_forwarded() {
    let upstream = FakeUpstream::start(Behaviour::Answer).await;
    let (server, port) = start_server(|c| c.upstreams = vec![upstream.addr]).await;
    let mut expected_upstream = 0;
    for name in [
        "example.com.",
        "amazonaws.com.evil.com.",
        "evilamazonaws.com.",
        "localstack.cloud.",
    ] {
        for extra in [&[][..], &["+tcp"][..]] {
            let mut args = vec![name, "A"];
            args.extend_from_slice(extra);
            let r = dig(LO, port, &args);
            assert_eq!(r.status, "NOERROR", "{name}: {}", r.raw);
            assert!(
                !r.has_flag("aa"),
                "{name} must not be authoritative: {:?}",
                r.flags
            );
            assert!(r.has_flag("ra") && r.has_flag("qr"));
            // first ask reaches the upstream (TTL 120); the repeat comes from the cache
            assert_eq!(r.answers.len(), 1, "{}", r.raw);
            let fields: Vec<&str> = r.answers[0].split(' ').collect();
            assert_eq!(fields[0], name);
            assert_eq!(fields[4], "192.0.2.1");
            let ttl: u32 = fields[1].parse().unwrap();
            assert!((118..=120).contains(&ttl), "ttl {ttl}");
        }
        expected_upstream += 1;
    }
    assert_eq!(upstream.udp(), expected_upstream);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_names_switch_off_and_fixed_resolve_ip() {
    let upstream = FakeUpstream::start(Behaviour::Answer).await;
    let (server, port) = start_server(|c| {
        c.upstreams = vec![upstream.addr];
        c.aws_names = false;
        c.resolve_ip = Some("192.0.2.77".parse().unwrap());
        c.localstack_host = Some("skyport.test".to_string());
    })
    .await;
    let r = dig(LO, port, &["s3.amazonaws.com", "A"]);
    assert!(!r.has_flag("aa"));
    assert_eq!(
        r.answers,
        vec!["s3.amazonaws.com. 120 IN A 192.0.2.1".to_string()]
    );
    let r = dig(LO, port, &["api.skyport.test", "A"]);
    assert_eq!(
        r.answers,
        vec!["api.skyport.test. 300 IN A 192.0.2.77".to_string()]
    );
    let r = dig(LO, port, &["api.skyport.test", "AAAA"]);
    assert!(r.answers.is_empty() && r.status == "NOERROR", "{}", r.raw);
    assert!(r.authority[0].starts_with(&soa_prefix("skyport.test.", 300)));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_names_added_and_removed_at_run_time() {
    let upstream = FakeUpstream::start(Behaviour::Answer).await;
    let (server, port) = start_server(|c| c.upstreams = vec![upstream.addr]).await;
    let records = server.records();
    records
        .add_name(
            "abc123.widgets.example.net",
            skyport_dns::RecordTarget::Skyport,
        )
        .unwrap();
    records
        .add_subtree(
            "db.skyport.internal",
            skyport_dns::RecordTarget::Ip("10.20.30.40".parse().unwrap()),
        )
        .unwrap();
    let r = dig(LO, port, &["abc123.widgets.example.net", "A"]);
    assert!(r.has_flag("aa"));
    assert_eq!(
        r.answers,
        vec!["abc123.widgets.example.net. 300 IN A 127.0.0.1".to_string()]
    );
    let r = dig(LO, port, &["primary.db.skyport.internal", "A", "+tcp"]);
    assert_eq!(
        r.answers,
        vec!["primary.db.skyport.internal. 300 IN A 10.20.30.40".to_string()]
    );
    assert!(records.remove_name("abc123.widgets.example.net"));
    let r = dig(LO, port, &["abc123.widgets.example.net", "A"]);
    assert!(!r.has_flag("aa"), "removed name is forwarded: {}", r.raw);
    // skip patterns added at run time send Skyport's names upstream
    records.add_skip_pattern(r".*\.s3\.amazonaws\.com").unwrap();
    let r = dig(LO, port, &["bucket.s3.amazonaws.com", "A"]);
    assert_eq!(
        r.answers,
        vec!["bucket.s3.amazonaws.com. 120 IN A 192.0.2.1".to_string()]
    );
    let r = dig(LO, port, &["s3.amazonaws.com", "A"]);
    assert!(r.has_flag("aa"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_skip_patterns_and_listener_added_at_run_time() {
    let upstream = FakeUpstream::start(Behaviour::Answer).await;
    let (server, port) = start_server(|c| {
        c.upstreams = vec![upstream.addr];
        c.skip_patterns = skyport_dns::split_skip_patterns("'sqs\\..*', .*\\.execute-api\\.");
    })
    .await;
    let r = dig(LO, port, &["sqs.us-east-1.amazonaws.com", "A"]);
    assert!(!r.has_flag("aa"), "{}", r.raw);
    let r = dig(LO, port, &["x.sqs.us-east-1.amazonaws.com", "A"]);
    assert!(r.has_flag("aa"), "re.match anchors at the start: {}", r.raw);

    let second = server
        .add_listener("127.0.0.2:0".parse().unwrap())
        .await
        .unwrap();
    let r = dig(
        "127.0.0.2".parse().unwrap(),
        second.port(),
        &["s3.amazonaws.com", "A", "+tcp"],
    );
    assert_eq!(
        r.answers,
        vec!["s3.amazonaws.com. 300 IN A 127.0.0.1".to_string()]
    );
    assert_eq!(server.local_addrs().len(), 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_errors_are_typed() {
    let (server, port) = start_server(|_| {}).await;
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let err = server.add_listener(addr).await.unwrap_err();
    assert_eq!(
        err.bind_kind(),
        Some(skyport_dns::BindErrorKind::InUse),
        "{err}"
    );
    let err = server
        .add_listener("192.0.2.123:0".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err.bind_kind(),
        Some(skyport_dns::BindErrorKind::AddressNotAvailable),
        "{err}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_refuses_clients_outside_allowed_networks() {
    // An interface view where loopback is Skyport's only network, then a client on 127.0.0.0/8 is
    // allowed; with the loopback network excluded from "own" and no allowance it is refused.
    let (server, port) = start_server(|c| {
        c.interfaces = skyport_dns::InterfaceSource::Static(skyport_dns::NetSnapshot::default());
    })
    .await;
    let r = dig(LO, port, &["s3.amazonaws.com", "A"]);
    assert_eq!(r.status, "NOERROR", "loopback is always allowed");
    let explanation = server
        .explain(
            "s3.amazonaws.com",
            skyport_dns::RecordType::A,
            "203.0.113.4".parse().unwrap(),
        )
        .unwrap();
    assert!(matches!(explanation.verdict, skyport_dns::Verdict::Refused));
    server.shutdown().await;
}

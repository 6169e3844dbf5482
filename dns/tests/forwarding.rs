//! Forwarding against fake upstreams on 127.0.0.1 (never the machine's resolver): EDNS passes
//! through both ways, truncated UDP answers are retried over TCP, dead upstreams are skipped, all
//! dead gives SERVFAIL within the timeout, and the cache (positive and negative) and coalescing
//! spare upstream queries.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::{Behaviour, FakeUpstream, dig, query_bytes, start_server, udp_exchange};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::EdnsCode;

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edns_passes_through_both_ways() {
    let upstream = FakeUpstream::start(Behaviour::Answer).await;
    let (server, port) = start_server(|c| c.upstreams = vec![upstream.addr]).await;
    let r = dig(
        LO,
        port,
        &[
            "edns.example.com",
            "A",
            "+nsid",
            "+bufsize=3000",
            "+dnssec",
            "+cd",
        ],
    );
    assert_eq!(r.status, "NOERROR", "{}", r.raw);
    assert!(
        r.raw.contains("NSID: ") && r.raw.contains("fake-upstream"),
        "upstream's EDNS option reaches the client: {}",
        r.raw
    );
    assert!(
        r.raw.contains("udp: 4000"),
        "upstream's OPT payload size is kept: {}",
        r.raw
    );
    assert!(r.has_flag("cd"), "CD is kept: {:?}", r.flags);
    let seen = upstream
        .last_query
        .lock()
        .unwrap()
        .clone()
        .expect("upstream saw the query");
    let edns = seen
        .edns
        .clone()
        .expect("the client's OPT reaches the upstream");
    assert_eq!(edns.max_payload(), 3000);
    assert!(edns.flags().dnssec_ok, "DO bit kept");
    assert!(edns.option(EdnsCode::NSID).is_some(), "NSID option kept");
    assert!(seen.checking_disabled && seen.recursion_desired);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_udp_answer_is_retried_over_tcp() {
    let upstream = FakeUpstream::start(Behaviour::Answer).await;
    let (server, port) = start_server(|c| c.upstreams = vec![upstream.addr]).await;
    // EDNS client (1232 bytes): the full 40-record TCP answer (~700 bytes) fits and arrives over UDP.
    let r = dig(LO, port, &["big.example.com", "A", "+ignore"]);
    assert_eq!(r.status, "NOERROR", "{}", r.raw);
    assert!(!r.has_flag("tc"), "{}", r.raw);
    assert_eq!(r.answers.len(), 40);
    assert_eq!(
        (upstream.udp(), upstream.tcp()),
        (1, 1),
        "one UDP try, then TCP"
    );

    // A client without EDNS (512 bytes) gets TC from us, then retries over TCP itself.
    let r = dig(
        LO,
        port,
        &["big.two.example.com", "A", "+noedns", "+ignore"],
    );
    assert!(
        r.has_flag("tc"),
        "answer larger than 512 bytes is truncated: {}",
        r.raw
    );
    assert!(r.answers.is_empty());
    let r = dig(LO, port, &["big.two.example.com", "A", "+noedns"]);
    assert_eq!(
        r.answers.len(),
        40,
        "dig retried over TCP and got everything: {}",
        r.raw
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_upstream_fails_over_to_the_next() {
    let dead = FakeUpstream::start(Behaviour::Silent).await;
    let good = FakeUpstream::start(Behaviour::Answer).await;
    let (server, port) = start_server(|c| {
        c.upstreams = vec![dead.addr, good.addr];
        c.upstream_timeout = Duration::from_millis(400);
    })
    .await;
    let started = Instant::now();
    let r = dig(LO, port, &["failover.example.com", "A"]);
    assert_eq!(r.status, "NOERROR", "{}", r.raw);
    assert_eq!(
        r.answers,
        vec!["failover.example.com. 120 IN A 192.0.2.1".to_string()]
    );
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(dead.udp(), 1);
    assert_eq!(good.udp(), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_upstreams_dead_gives_servfail_within_the_timeout() {
    let dead1 = FakeUpstream::start(Behaviour::Silent).await;
    let dead2 = FakeUpstream::start(Behaviour::Silent).await;
    let (server, port) = start_server(|c| {
        c.upstreams = vec![dead1.addr, dead2.addr];
        c.upstream_timeout = Duration::from_millis(300);
    })
    .await;
    for extra in [&[][..], &["+tcp"][..]] {
        let started = Instant::now();
        let mut args = vec!["nowhere.example.com", "A"];
        args.extend_from_slice(extra);
        let r = dig(LO, port, &args);
        assert_eq!(r.status, "SERVFAIL", "never silence: {}", r.raw);
        assert!(r.has_flag("ra"));
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(550) && took < Duration::from_millis(1900),
            "{took:?}"
        );
    }
    // no upstream at all: SERVFAIL at once
    let (server2, port2) = start_server(|c| c.upstreams = Vec::new()).await;
    let r = dig(LO, port2, &["example.com", "A"]);
    assert_eq!(r.status, "SERVFAIL");
    server.shutdown().await;
    server2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_serves_repeats_and_negative_answers() {
    let upstream = FakeUpstream::start(Behaviour::Answer).await;
    let (server, port) = start_server(|c| c.upstreams = vec![upstream.addr]).await;
    let first = dig(LO, port, &["cached.example.com", "A"]);
    assert_eq!(
        first.answers,
        vec!["cached.example.com. 120 IN A 192.0.2.1".to_string()]
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = dig(LO, port, &["CACHED.example.com", "A", "+tcp"]);
    assert_eq!(
        upstream.udp() + upstream.tcp(),
        1,
        "repeat served from the cache"
    );
    let fields: Vec<&str> = second.answers[0].split(' ').collect();
    assert_eq!(
        fields[0], "CACHED.example.com.",
        "question spelling of the repeat is kept"
    );
    let ttl: u32 = fields[1].parse().unwrap();
    assert!(
        (117..120).contains(&ttl),
        "TTL decremented in the cache: {ttl}"
    );

    let nx = dig(LO, port, &["nx.example.com", "A"]);
    assert_eq!(nx.status, "NXDOMAIN");
    assert_eq!(nx.authority.len(), 1);
    let nx2 = dig(LO, port, &["nx.example.com", "A"]);
    assert_eq!(nx2.status, "NXDOMAIN");
    assert_eq!(upstream.udp(), 2, "negative answer cached");

    // different EDNS shape is a different cache entry (answers differ in their OPT)
    dig(LO, port, &["cached.example.com", "A", "+noedns"]);
    assert_eq!(upstream.udp(), 3);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_in_flight_queries_are_coalesced() {
    let upstream = FakeUpstream::start(Behaviour::Answer).await;
    let (server, port) = start_server(|c| c.upstreams = vec![upstream.addr]).await;
    let addr = SocketAddr::new(LO, port);
    let mut joins = Vec::new();
    for i in 0..20u16 {
        joins.push(tokio::spawn(async move {
            let q = query_bytes(1000 + i, "slow.example.com.", RecordType::A, true);
            let m = udp_exchange(addr, &q).await.expect("answer");
            assert_eq!(m.id, 1000 + i);
            assert_eq!(m.response_code, ResponseCode::NoError);
            assert_eq!(m.answers.len(), 1);
        }));
    }
    for j in joins {
        j.await.unwrap();
    }
    assert_eq!(
        upstream.udp(),
        1,
        "20 identical queries, one upstream query"
    );
    server.shutdown().await;
}

//! The router against a table of real requests: `data/requests.jsonl` is captured from botocore with
//! `data/capture.py` (the exact heads the SDKs send, signed), `data/handmade.jsonl` covers forms the
//! current SDKs no longer send (SQS query protocol, SigV2, SigV4a, presigned STS) and edge cases.

use http::Request;
use skyport_core::{host::HostDomains, protocol::Params};
use skyport_proxy::router::{RouterConfig, classify};

fn config() -> RouterConfig {
    RouterConfig {
        domains: HostDomains::new(&[]),
        parity_access_keys: false,
    }
}

fn check_file(text: &str) -> usize {
    let mut checked = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let label = case["label"].as_str().unwrap();
        let url = case["url"].as_str().unwrap();
        let (scheme_rest, authority_and_path) = url.split_once("://").unwrap();
        let _ = scheme_rest;
        let (authority, path) = match authority_and_path.find('/') {
            Some(i) => (&authority_and_path[..i], &authority_and_path[i..]),
            None => (authority_and_path, "/"),
        };
        let mut builder = Request::builder()
            .method(case["method"].as_str().unwrap())
            .uri(path)
            .header("host", authority);
        for (k, v) in case["headers"].as_object().unwrap() {
            builder = builder.header(k.as_str(), v.as_str().unwrap());
        }
        let (parts, ()) = builder.body(()).unwrap().into_parts();
        let mut route = classify(&parts, &config());
        if route.needs_form_action {
            let body = case["body"].as_str().unwrap();
            route.resolve_action(Params::parse(body.as_bytes()).get("Action"));
        }
        let got = match route.service {
            Some(def) => format!("{} {}", def.id, route.protocol.name()),
            None => "none".to_owned(),
        };
        assert_eq!(got, case["expect"].as_str().unwrap(), "{label}: {route:?}");
        checked += 1;
    }
    checked
}

#[test]
fn captured_sdk_requests_route_to_the_right_service_and_protocol() {
    let n = check_file(include_str!("data/requests.jsonl"));
    assert!(n >= 14, "only {n} captured requests");
}

#[test]
fn handmade_requests_route_to_the_right_service_and_protocol() {
    check_file(include_str!("data/handmade.jsonl"));
}

#[test]
fn region_and_account_come_from_scope_then_host() {
    let parts = |host: &str, auth: Option<&str>| {
        let mut b = Request::builder()
            .method("POST")
            .uri("/")
            .header("host", host);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", "AmazonSQS.ListQueues")
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let r = classify(&parts("sqs.ap-south-2.amazonaws.com", None), &config());
    assert_eq!(
        (r.region(), r.account(&config())),
        ("ap-south-2".to_owned(), "000000000000".to_owned())
    );
    let r = classify(
        &parts(
            "sqs.ap-south-2.amazonaws.com",
            Some(
                "AWS4-HMAC-SHA256 Credential=210987654321/20240101/eu-north-1/sqs/aws4_request, SignedHeaders=host, Signature=1",
            ),
        ),
        &config(),
    );
    assert_eq!(
        (r.region(), r.account(&config())),
        ("eu-north-1".to_owned(), "210987654321".to_owned())
    );
    let r = classify(
        &parts("localhost:4566", Some("AWS4-HMAC-SHA256 Signature=1")),
        &config(),
    );
    assert!(r.auth_problem.is_some());
    let r = classify(&parts("localhost:4566", None), &config());
    assert_eq!(r.region(), "us-east-1");
}

#[test]
fn unknown_targets_are_flagged() {
    let (parts, ()) = Request::builder()
        .method("POST")
        .uri("/")
        .header("host", "localhost:4566")
        .header("x-amz-target", "NoSuchService_2099.DoThing")
        .header("content-type", "application/x-amz-json-1.1")
        .body(())
        .unwrap()
        .into_parts();
    let r = classify(&parts, &config());
    assert!(r.service.is_none());
    assert_eq!(
        r.unknown_target.as_deref(),
        Some("NoSuchService_2099.DoThing")
    );
    assert_eq!(r.protocol.name(), "json1.1");
}

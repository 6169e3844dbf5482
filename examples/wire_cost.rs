//! What the model-driven wire layer costs per request, next to a hand-written codec doing the same work,
//! in one run (issue #17's budget: at most 10 % of the server's CPU per request).
//!
//! For STS `GetCallerIdentity` (query protocol) and SQS `SendMessage` (awsJson 1.0) it times, over many
//! iterations on one thread:
//! - **hand-written**: what Skyport's own codecs do (form decoding and an XML writer for STS, as the
//!   pre-layer STS did; `serde_json` parse and write for SQS, as `services/sqs/src/wire.rs` does);
//! - **layer**: `Endpoint::read` (operation resolution, the model-driven input parse and the model's
//!   constraints), the conversion into the generated types and back (STS), and `Endpoint::write`.
//!
//! ```sh
//! cargo run --release --example wire_cost
//! ```

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use skyport_core::protocol::Params;
use skyport_core::xml::XmlWriter;
use skyport_core::{Protocol, RequestContext};
use skyport_wire::{Codec, Endpoint, FromValue, IntoValue, Model, Struct, Value};

skyport_wire::static_model!(SQS, "../models/sqs.json");

const ITERATIONS: u32 = 200_000;

fn time(label: &str, mut f: impl FnMut()) -> f64 {
    for _ in 0..ITERATIONS / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..ITERATIONS {
        f();
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(ITERATIONS);
    println!("{label:48} {ns:8.0} ns/request");
    ns
}

fn sts_request() -> http::request::Parts {
    let (parts, ()) = http::Request::post("/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(())
        .unwrap_or_default()
        .into_parts();
    parts
}

fn main() {
    let sts_form = Bytes::from_static(b"Action=GetCallerIdentity&Version=2011-06-15");
    let parts = sts_request();
    let sts_model: &'static Model = skyport_sts::model();
    let endpoint = Endpoint::new(sts_model);

    let hand_sts = time("STS GetCallerIdentity, hand-written", || {
        let params = Params::from_query_and_form(parts.uri.query(), &sts_form);
        let action = params.get("Action").unwrap_or_default();
        let mut w = XmlWriter::new();
        let response = format!("{action}Response");
        let result = format!("{action}Result");
        w.start_ns(&response, "https://sts.amazonaws.com/doc/2011-06-15/")
            .start(&result)
            .leaf("UserId", "000000000000")
            .leaf("Account", "000000000000")
            .leaf("Arn", "arn:aws:iam::000000000000:root")
            .end(&result)
            .start("ResponseMetadata")
            .leaf("RequestId", "c6104cbe-af31-11e0-8154-cbc7ccf896c7")
            .end("ResponseMetadata")
            .end(&response);
        black_box(w.finish());
    });
    let layer_sts = time("STS GetCallerIdentity, wire layer", || {
        let mut ctx = RequestContext::new("sts", Protocol::Query);
        let (op, input) = endpoint
            .read(Codec::Query, &mut ctx, &parts, sts_form.clone(), None)
            .expect("reads");
        let typed =
            skyport_sts::shapes::GetCallerIdentityRequest::from_value(input).expect("typed");
        black_box(typed);
        let output = skyport_sts::shapes::GetCallerIdentityResponse {
            user_id: Some("000000000000".to_owned()),
            account: Some("000000000000".to_owned()),
            arn: Some("arn:aws:iam::000000000000:root".to_owned()),
        }
        .into_value();
        black_box(endpoint.write(Codec::Query, &ctx, op, &output));
    });

    let sqs_body = Bytes::from_static(
        br#"{"QueueUrl":"http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/bench","MessageBody":"hello from the benchmark, 64 bytes of message body text......"}"#,
    );
    let (sqs_parts, ()) = http::Request::post("/")
        .header("x-amz-target", "AmazonSQS.SendMessage")
        .header("content-type", "application/x-amz-json-1.0")
        .body(())
        .unwrap_or_default()
        .into_parts();
    let sqs_endpoint = Endpoint::new(SQS());
    let hand_sqs = time("SQS SendMessage, hand-written", || {
        let input: serde_json::Value = serde_json::from_slice(&sqs_body).expect("json");
        let body = input
            .get("MessageBody")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        black_box(body);
        let output = serde_json::json!({
            "MD5OfMessageBody": "8d2f2ab1ff8a5c4c4b01e6f4a5ee0f6e",
            "MessageId": "2a4e3c1a-8f1b-4a43-9a5c-0c4c3a0a1b2c",
        });
        black_box(serde_json::to_vec(&output).unwrap_or_default());
    });
    let layer_sqs = time("SQS SendMessage, wire layer", || {
        let mut ctx = RequestContext::new("sqs", Protocol::Json10);
        let (op, input) = sqs_endpoint
            .read(
                Codec::Json { v11: false },
                &mut ctx,
                &sqs_parts,
                sqs_body.clone(),
                None,
            )
            .expect("reads");
        black_box(&input);
        let mut out = Struct::new();
        out.insert(
            "MD5OfMessageBody",
            Value::String("8d2f2ab1ff8a5c4c4b01e6f4a5ee0f6e".into()),
        );
        out.insert(
            "MessageId",
            Value::String("2a4e3c1a-8f1b-4a43-9a5c-0c4c3a0a1b2c".into()),
        );
        black_box(sqs_endpoint.write(Codec::Json { v11: false }, &ctx, op, &Value::Struct(out)));
    });
    println!();
    println!(
        "layer cost over hand-written: STS {:+.0} ns, SQS {:+.0} ns per request",
        layer_sts - hand_sts,
        layer_sqs - hand_sqs
    );
    println!(
        "share of the server CPU per request (docs/benchmarks.md, 64 connections): STS {:.1} % of 12.1 us, SQS {:.1} % of 22.7 us",
        (layer_sts - hand_sts) / 121.0,
        (layer_sqs - hand_sqs) / 227.0
    );
}

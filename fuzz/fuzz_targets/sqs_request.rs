//! Fuzz target: arbitrary SQS requests (awsJson 1.0 with an `X-Amz-Target`, or query-protocol forms)
//! through the whole SQS service, against a queue that exists, so parsing and validation of every
//! operation's input run.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use skyport_core::store::StateLayout;
use skyport_core::{Protocol, RequestContext, Service, body};
use skyport_sqs::{Sqs, SqsOptions};

struct Fixture {
    runtime: tokio::runtime::Runtime,
    sqs: Sqs,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = StateLayout::new(dir.path(), false).expect("layout");
        let sqs = Sqs::new(&layout, SqsOptions::default()).expect("sqs");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let fixture = Fixture {
            runtime,
            sqs,
            _dir: dir,
        };
        fixture.call(true, "CreateQueue", br#"{"QueueName":"fuzz"}"#);
        fixture.call(
            true,
            "CreateQueue",
            br#"{"QueueName":"fuzz.fifo","Attributes":{"FifoQueue":"true"}}"#,
        );
        fixture
    })
}

impl Fixture {
    fn call(&self, json: bool, operation: &str, payload: &[u8]) {
        let protocol = if json {
            Protocol::Json10
        } else {
            Protocol::Query
        };
        let mut request = http::Request::builder().method("POST").uri("/");
        if json {
            request = request
                .header("x-amz-target", format!("AmazonSQS.{operation}"))
                .header("content-type", "application/x-amz-json-1.0");
        } else {
            request = request.header("content-type", "application/x-www-form-urlencoded");
        }
        let Ok(request) = request.body(body::full(payload.to_vec())) else {
            return;
        };
        let mut ctx = RequestContext::new("sqs", protocol);
        // Long polls are cut short: the fuzzer wants parsing, not waiting.
        let _ = self.runtime.block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_millis(50),
                self.sqs.call(&mut ctx, request),
            )
            .await
        });
    }
}

const OPERATIONS: &[&str] = &[
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
    "CreateQueue",
    "GetQueueUrl",
    "GetQueueAttributes",
    "SetQueueAttributes",
    "ListQueues",
    "TagQueue",
    "ListQueueTags",
    "PurgeQueue",
    "StartMessageMoveTask",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    let json = selector & 0x80 == 0;
    let operation = OPERATIONS[usize::from(selector & 0x7f) % OPERATIONS.len()];
    fixture.call(json, operation, payload);
});

//! What triggers Lambda functions, end to end through `aws-sdk-lambda` and `aws-sdk-sqs` against the
//! real binary, with the local executor (Python functions as host processes): SQS event source
//! mappings (partial batch failures and the queue's dead-letter queue, FIFO group order,
//! `FilterCriteria`, Update/Disable/Delete, AWS's errors, pollers resumed after a restart), and
//! asynchronous invocations with `DestinationConfig` (OnSuccess and OnFailure queues with AWS's
//! destination record), retry settings and a `DeadLetterConfig` queue; and boto3 and the AWS CLI
//! creating and listing a mapping.

mod common;
#[path = "common/lambda_harness.rs"]
mod harness;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    DeadLetterConfig, DestinationConfig, EventSourceMappingConfiguration, Filter, FilterCriteria,
    FunctionResponseType, InvocationType, OnFailure, OnSuccess, ScalingConfig,
};
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use common::{Options, Skyport, require, run};
use harness::{
    create_function, create_queue, fail, lambda_client, receive_messages, receive_one, scratch,
    sqs_client, start, wait_state,
};
use serde_json::{Value, json};

/// Records every SQS record it gets in `$OUT` (one JSON line each) and reports the messages whose
/// body says "bad" as batch item failures.
const SQS_HANDLER: &str = r#"
import json, os, time
def main(event, context):
    failures = []
    with open(os.environ["OUT"], "a") as f:
        for r in event.get("Records", []):
            f.write(json.dumps(r) + "\n")
            if "bad" in r["body"]:
                failures.append({"itemIdentifier": r["messageId"]})
    if os.environ.get("SLOW"):
        time.sleep(float(os.environ["SLOW"]))
    return {"batchItemFailures": failures}
"#;

/// Records each event in `$OUT`, fails when it asks to.
const ASYNC_HANDLER: &str = r#"
import json, os
def main(event, context):
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps(event) + "\n")
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": event}
"#;

/// The JSON lines the function wrote so far.
fn lines(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits until `check` holds on the function's lines.
async fn wait_lines(out: &Path, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = lines(out);
        if check(&seen) {
            return seen;
        }
        assert!(Instant::now() < deadline, "{what}; seen: {seen:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (visible, in flight) messages of a queue.
async fn counts(sqs: &aws_sdk_sqs::Client, url: &str) -> (u64, u64) {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let n = |k: QueueAttributeName| attrs[&k].parse::<u64>().unwrap();
    (
        n(QueueAttributeName::ApproximateNumberOfMessages),
        n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

fn bodies(seen: &[Value]) -> Vec<String> {
    seen.iter()
        .filter_map(|r| r["body"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn partial_batch_failures_end_in_the_dead_letter_queue() {
    let skyport = start(None);
    let (lambda, sqs) = (
        lambda_client(&skyport.endpoint()),
        sqs_client(&skyport.endpoint()),
    );
    let (_dir, out) = scratch();
    create_function(&lambda, "worker", SQS_HANDLER, &out, &[]).await;
    let (dlq_url, dlq_arn) = create_queue(&sqs, "work-dlq", &[]).await;
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}).to_string();
    let (url, arn) = create_queue(
        &sqs,
        "work",
        &[
            // Long enough that a batch is never redelivered while a cold start runs on a loaded
            // machine (AWS advises six times the function's timeout), short enough for the test.
            (QueueAttributeName::VisibilityTimeout, "6"),
            (QueueAttributeName::RedrivePolicy, &redrive),
        ],
    )
    .await;

    let created = lambda
        .create_event_source_mapping()
        .function_name("worker")
        .event_source_arn(&arn)
        .batch_size(10)
        .function_response_types(FunctionResponseType::ReportBatchItemFailures)
        .scaling_config(ScalingConfig::builder().maximum_concurrency(2).build())
        .send()
        .await
        .unwrap();
    assert_eq!(created.state(), Some("Creating"));
    assert_eq!(created.batch_size(), Some(10));
    assert_eq!(created.maximum_batching_window_in_seconds(), Some(0));
    assert_eq!(
        created.function_arn(),
        Some("arn:aws:lambda:us-east-1:000000000000:function:worker")
    );
    assert_eq!(created.event_source_arn(), Some(arn.as_str()));
    assert!(created.last_modified().is_some());
    let uuid = created.uuid().unwrap().to_owned();
    assert_eq!(uuid.len(), 36);
    assert_eq!(
        created.event_source_mapping_arn(),
        Some(format!("arn:aws:lambda:us-east-1:000000000000:event-source-mapping:{uuid}").as_str())
    );
    wait_state(&lambda, &uuid, "Enabled").await;

    for body in ["good-1", "good-2", "bad-1", "good-3", "bad-2"] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .message_attributes(
                "origin",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("test")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    // The bad ones are received twice (maxReceiveCount 2), then moved to the dead-letter queue.
    let deadline = Instant::now() + Duration::from_secs(45);
    let dead = loop {
        let got = sqs
            .receive_message()
            .queue_url(&dlq_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let mut dead: Vec<String> = got
            .messages()
            .iter()
            .filter_map(|m| m.body().map(str::to_owned))
            .collect();
        if dead.len() == 2 {
            dead.sort();
            break dead;
        }
        assert!(
            Instant::now() < deadline,
            "bad messages never reached the DLQ"
        );
        for m in got.messages() {
            sqs.change_message_visibility()
                .queue_url(&dlq_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
        }
    };
    assert_eq!(dead, ["bad-1", "bad-2"]);
    let seen = lines(&out);
    let mut count: HashMap<String, usize> = HashMap::new();
    for b in bodies(&seen) {
        *count.entry(b).or_default() += 1;
    }
    for good in ["good-1", "good-2", "good-3"] {
        assert_eq!(
            count.get(good),
            Some(&1),
            "{good} processed once: {count:?}"
        );
    }
    for bad in ["bad-1", "bad-2"] {
        assert_eq!(count.get(bad), Some(&2), "{bad} received twice: {count:?}");
    }
    assert_eq!(counts(&sqs, &url).await, (0, 0), "the queue is empty");

    // AWS's record shape.
    let r = seen.iter().find(|r| r["body"] == "good-1").unwrap();
    assert_eq!(r["eventSource"], "aws:sqs");
    assert_eq!(r["eventSourceARN"], arn.as_str());
    assert_eq!(r["awsRegion"], "us-east-1");
    assert_eq!(r["md5OfBody"], md5_hex("good-1").as_str());
    assert!(r["messageId"].as_str().is_some_and(|id| id.len() == 36));
    assert!(r["receiptHandle"].as_str().is_some_and(|h| !h.is_empty()));
    let attrs = r["attributes"].as_object().unwrap();
    for k in [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    ] {
        assert!(attrs[k].is_string(), "{k} in {attrs:?}");
    }
    assert_eq!(attrs["ApproximateReceiveCount"], "1");
    assert_eq!(
        r["messageAttributes"]["origin"],
        json!({"stringValue": "test", "stringListValues": [], "binaryListValues": [], "dataType": "String"})
    );
}

fn md5_hex(text: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import hashlib,sys; print(hashlib.md5(sys.argv[1].encode()).hexdigest())")
        .arg(text)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn fifo_groups_are_seen_in_order() {
    let skyport = start(None);
    let (lambda, sqs) = (
        lambda_client(&skyport.endpoint()),
        sqs_client(&skyport.endpoint()),
    );
    let (_dir, out) = scratch();
    create_function(&lambda, "ordered", SQS_HANDLER, &out, &[("SLOW", "0.05")]).await;
    let (url, arn) = create_queue(
        &sqs,
        "orders.fifo",
        &[
            (QueueAttributeName::FifoQueue, "true"),
            (QueueAttributeName::ContentBasedDeduplication, "true"),
            (QueueAttributeName::VisibilityTimeout, "5"),
        ],
    )
    .await;
    let mapping = lambda
        .create_event_source_mapping()
        .function_name("ordered")
        .event_source_arn(&arn)
        .batch_size(2)
        .send()
        .await
        .unwrap();
    wait_state(&lambda, mapping.uuid().unwrap(), "Enabled").await;
    for i in 1..=6 {
        for group in ["a", "b", "c"] {
            sqs.send_message()
                .queue_url(&url)
                .message_group_id(group)
                .message_body(format!("{group}-{i}"))
                .send()
                .await
                .unwrap();
        }
    }
    let seen = wait_lines(&out, "every message of every group", |s| s.len() >= 18).await;
    assert_eq!(seen.len(), 18, "each message once");
    for group in ["a", "b", "c"] {
        let order: Vec<String> = seen
            .iter()
            .filter(|r| r["attributes"]["MessageGroupId"] == group)
            .map(|r| r["body"].as_str().unwrap().to_owned())
            .collect();
        let expected: Vec<String> = (1..=6).map(|i| format!("{group}-{i}")).collect();
        assert_eq!(order, expected, "group {group} in order");
    }
    let r = &seen[0];
    assert!(r["attributes"]["SequenceNumber"].is_string());
    assert!(r["attributes"]["MessageDeduplicationId"].is_string());
    let deadline = Instant::now() + Duration::from_secs(5);
    while counts(&sqs, &url).await != (0, 0) {
        assert!(Instant::now() < deadline, "the FIFO queue was not emptied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn filter_criteria_drop_messages_without_invoking() {
    let skyport = start(None);
    let (lambda, sqs) = (
        lambda_client(&skyport.endpoint()),
        sqs_client(&skyport.endpoint()),
    );
    let (_dir, out) = scratch();
    create_function(&lambda, "picky", SQS_HANDLER, &out, &[]).await;
    let (url, arn) = create_queue(&sqs, "mixed", &[]).await;

    let (status, code, message) = fail(
        lambda
            .create_event_source_mapping()
            .function_name("picky")
            .event_source_arn(&arn)
            .filter_criteria(
                FilterCriteria::builder()
                    .filters(Filter::builder().pattern(r#"{"body": "x"}"#).build())
                    .build(),
            )
            .send()
            .await,
    );
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (
            400,
            "InvalidParameterValueException",
            "Invalid filter pattern definition."
        )
    );

    let criteria = FilterCriteria::builder()
        .filters(
            Filter::builder()
                .pattern(r#"{"body": {"kind": ["keep"], "size": [{"numeric": [">", 10]}]}}"#)
                .build(),
        )
        .filters(
            Filter::builder()
                .pattern(r#"{"body": [{"prefix": "plain-keep"}]}"#)
                .build(),
        )
        .build();
    let mapping = lambda
        .create_event_source_mapping()
        .function_name("picky")
        .event_source_arn(&arn)
        .filter_criteria(criteria)
        .send()
        .await
        .unwrap();
    assert_eq!(
        mapping
            .filter_criteria()
            .map(|c| c.filters().len())
            .unwrap_or(0),
        2
    );
    wait_state(&lambda, mapping.uuid().unwrap(), "Enabled").await;
    for body in [
        r#"{"kind": "keep", "size": 11}"#,
        r#"{"kind": "keep", "size": 5}"#,
        r#"{"kind": "drop", "size": 50}"#,
        "plain-keep me",
        "plain-drop me",
        r#"{"body": "plain-keep as JSON"}"#,
    ] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while counts(&sqs, &url).await != (0, 0) {
        assert!(
            Instant::now() < deadline,
            "filtered messages were not deleted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut seen = bodies(&lines(&out));
    seen.sort();
    assert_eq!(seen, ["plain-keep me", r#"{"kind": "keep", "size": 11}"#]);
}

async fn send(sqs: &aws_sdk_sqs::Client, url: &str, body: &str) {
    sqs.send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn update_disable_and_delete_stop_delivery() {
    let skyport = start(None);
    let (lambda, sqs) = (
        lambda_client(&skyport.endpoint()),
        sqs_client(&skyport.endpoint()),
    );
    let (_dir, out) = scratch();
    create_function(&lambda, "toggled", SQS_HANDLER, &out, &[]).await;
    let (url, arn) = create_queue(&sqs, "toggle", &[]).await;

    // AWS's validation and errors.
    let (status, code, message) = fail(
        lambda
            .create_event_source_mapping()
            .function_name("toggled")
            .event_source_arn("arn:aws:sqs:us-east-1:000000000000:missing")
            .send()
            .await,
    );
    assert_eq!(
        (status, code.as_str()),
        (400, "InvalidParameterValueException")
    );
    assert!(message.contains("NonExistentQueue"), "{message}");
    let (status, code, message) = fail(
        lambda
            .create_event_source_mapping()
            .function_name("toggled")
            .event_source_arn(&arn)
            .batch_size(100)
            .send()
            .await,
    );
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (
            400,
            "InvalidParameterValueException",
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
        )
    );
    let (status, code, message) = fail(
        lambda
            .create_event_source_mapping()
            .function_name("nope")
            .event_source_arn(&arn)
            .send()
            .await,
    );
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (
            404,
            "ResourceNotFoundException",
            "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"
        )
    );
    let (_, short_arn) = create_queue(
        &sqs,
        "short",
        &[(QueueAttributeName::VisibilityTimeout, "1")],
    )
    .await;
    let (_, _, message) = fail(
        lambda
            .create_event_source_mapping()
            .function_name("toggled")
            .event_source_arn(&short_arn)
            .send()
            .await,
    );
    assert_eq!(
        message,
        "Queue visibility timeout: 1 seconds is less than Function timeout: 2 seconds"
    );

    let mapping = lambda
        .create_event_source_mapping()
        .function_name("toggled")
        .event_source_arn(&arn)
        .batch_size(50)
        .maximum_batching_window_in_seconds(1)
        .send()
        .await
        .unwrap();
    let uuid = mapping.uuid().unwrap().to_owned();
    let (status, code, message) = fail(
        lambda
            .create_event_source_mapping()
            .function_name("toggled")
            .event_source_arn(&arn)
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (409, "ResourceConflictException"));
    assert_eq!(
        message,
        format!(
            "An event source mapping with SQS arn (\" {arn} \") and function (\" toggled \") already exists. \
             Please update or delete the existing mapping with UUID {uuid}"
        )
    );
    let listed = lambda
        .list_event_source_mappings()
        .function_name("toggled")
        .send()
        .await
        .unwrap();
    let uuids: Vec<&str> = listed
        .event_source_mappings()
        .iter()
        .filter_map(EventSourceMappingConfiguration::uuid)
        .collect();
    assert_eq!(uuids, [uuid.as_str()]);
    let by_queue = lambda
        .list_event_source_mappings()
        .event_source_arn(&short_arn)
        .send()
        .await
        .unwrap();
    assert!(by_queue.event_source_mappings().is_empty());
    wait_state(&lambda, &uuid, "Enabled").await;

    // With a one-second batching window, two messages sent together arrive in one batch.
    send(&sqs, &url, "one").await;
    send(&sqs, &url, "two").await;
    wait_lines(&out, "the first messages", |s| s.len() >= 2).await;

    let disabled = lambda
        .update_event_source_mapping()
        .uuid(&uuid)
        .enabled(false)
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.state(), Some("Disabling"));
    assert_eq!(disabled.state_transition_reason(), Some("USER_INITIATED"));
    wait_state(&lambda, &uuid, "Disabled").await;
    send(&sqs, &url, "while-disabled").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(lines(&out).len(), 2, "nothing delivered while disabled");
    assert_eq!(counts(&sqs, &url).await, (1, 0));

    let enabled = lambda
        .update_event_source_mapping()
        .uuid(&uuid)
        .enabled(true)
        .batch_size(5)
        .maximum_batching_window_in_seconds(0)
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.state(), Some("Enabling"));
    assert_eq!(enabled.batch_size(), Some(5));
    wait_lines(&out, "the message sent while disabled", |s| {
        bodies(s).iter().any(|b| b == "while-disabled")
    })
    .await;

    let deleted = lambda
        .delete_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.state(), Some("Deleting"));
    let (status, code, _) = fail(lambda.get_event_source_mapping().uuid(&uuid).send().await);
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));
    send(&sqs, &url, "after-delete").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !bodies(&lines(&out)).iter().any(|b| b == "after-delete"),
        "nothing delivered after the delete"
    );
    assert_eq!(counts(&sqs, &url).await, (1, 0));
}

#[tokio::test]
async fn pollers_resume_after_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let (_dir, out) = scratch();
    {
        let skyport = start(Some(state.path()));
        let (lambda, sqs) = (
            lambda_client(&skyport.endpoint()),
            sqs_client(&skyport.endpoint()),
        );
        create_function(&lambda, "durable", SQS_HANDLER, &out, &[]).await;
        let (url, arn) = create_queue(&sqs, "durable", &[]).await;
        let mapping = lambda
            .create_event_source_mapping()
            .function_name("durable")
            .event_source_arn(&arn)
            .send()
            .await
            .unwrap();
        wait_state(&lambda, mapping.uuid().unwrap(), "Enabled").await;
        send(&sqs, &url, "before").await;
        wait_lines(&out, "the message before the restart", |s| !s.is_empty()).await;
    }
    let skyport = start(Some(state.path()));
    let sqs = sqs_client(&skyport.endpoint());
    let url = sqs
        .get_queue_url()
        .queue_name("durable")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    send(&sqs, &url, "after").await;
    wait_lines(&out, "the message after the restart", |s| {
        bodies(s).iter().any(|b| b == "after")
    })
    .await;
}

#[tokio::test]
async fn async_invocations_reach_their_destinations() {
    let skyport = start(None);
    let (lambda, sqs) = (
        lambda_client(&skyport.endpoint()),
        sqs_client(&skyport.endpoint()),
    );
    let (_dir, out) = scratch();
    create_function(&lambda, "flaky", ASYNC_HANDLER, &out, &[]).await;
    let (ok_url, ok_arn) = create_queue(&sqs, "on-success", &[]).await;
    let (failed_url, failed_arn) = create_queue(&sqs, "on-failure", &[]).await;

    let (status, code, message) = fail(
        lambda
            .get_function_event_invoke_config()
            .function_name("flaky")
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));
    assert_eq!(
        message,
        "The function arn:aws:lambda:us-east-1:000000000000:function:flaky:$LATEST doesn't have an EventInvokeConfig"
    );
    let config = lambda
        .put_function_event_invoke_config()
        .function_name("flaky")
        .maximum_retry_attempts(2)
        .maximum_event_age_in_seconds(300)
        .destination_config(
            DestinationConfig::builder()
                .on_success(OnSuccess::builder().destination(&ok_arn).build())
                .on_failure(OnFailure::builder().destination(&failed_arn).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        config.function_arn(),
        Some("arn:aws:lambda:us-east-1:000000000000:function:flaky:$LATEST")
    );
    assert_eq!(config.maximum_retry_attempts(), Some(2));
    let got = lambda
        .get_function_event_invoke_config()
        .function_name("flaky")
        .send()
        .await
        .unwrap();
    assert_eq!(got.maximum_event_age_in_seconds(), Some(300));
    let listed = lambda
        .list_function_event_invoke_configs()
        .function_name("flaky")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.function_event_invoke_configs().len(), 1);

    lambda
        .invoke()
        .function_name("flaky")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(r#"{"fail": true, "n": 1}"#))
        .send()
        .await
        .unwrap();
    let record = receive_one(&sqs, &failed_url).await;
    assert_eq!(record["version"], "1.0");
    assert!(
        record["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(
        record["requestContext"]["functionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:flaky:$LATEST"
    );
    assert!(record["requestContext"]["requestId"].is_string());
    assert_eq!(record["requestPayload"], json!({"fail": true, "n": 1}));
    assert_eq!(
        record["responseContext"],
        json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"})
    );
    assert_eq!(record["responsePayload"]["errorMessage"], "asked to fail");
    assert_eq!(record["responsePayload"]["errorType"], "ValueError");
    let attempts = lines(&out).iter().filter(|e| e["n"] == 1).count();
    assert_eq!(attempts, 3, "the first run and two retries");

    lambda
        .invoke()
        .function_name("flaky")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(r#"{"n": 2}"#))
        .send()
        .await
        .unwrap();
    let record = receive_one(&sqs, &ok_url).await;
    assert_eq!(record["requestContext"]["condition"], "Success");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(
        record["responseContext"],
        json!({"statusCode": 200, "executedVersion": "$LATEST"})
    );
    assert_eq!(record["responsePayload"], json!({"ok": {"n": 2}}));

    // No retries, and a dead-letter queue on the function.
    let (dlq_url, dlq_arn) = create_queue(&sqs, "flaky-dlq", &[]).await;
    lambda
        .update_function_event_invoke_config()
        .function_name("flaky")
        .maximum_retry_attempts(0)
        .send()
        .await
        .unwrap();
    lambda
        .update_function_configuration()
        .function_name("flaky")
        .dead_letter_config(DeadLetterConfig::builder().target_arn(&dlq_arn).build())
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c = lambda
            .get_function_configuration()
            .function_name("flaky")
            .send()
            .await
            .unwrap();
        if c.last_update_status().map(|s| s.as_str()) == Some("Successful") {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lambda
        .invoke()
        .function_name("flaky")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(r#"{"fail": true, "n": 3}"#))
        .send()
        .await
        .unwrap();
    let got = receive_messages(&sqs, &dlq_url).await;
    let m = &got[0];
    assert_eq!(m.body(), Some(r#"{"fail": true, "n": 3}"#));
    let attrs = m.message_attributes().unwrap();
    assert_eq!(attrs["ErrorMessage"].string_value(), Some("asked to fail"));
    assert_eq!(attrs["ErrorCode"].data_type(), "Number");
    assert!(attrs["RequestID"].string_value().is_some());
    let record = receive_one(&sqs, &failed_url).await;
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(lines(&out).iter().filter(|e| e["n"] == 3).count(), 1);

    lambda
        .delete_function_event_invoke_config()
        .function_name("flaky")
        .send()
        .await
        .unwrap();
    let (status, _, _) = fail(
        lambda
            .get_function_event_invoke_config()
            .function_name("flaky")
            .send()
            .await,
    );
    assert_eq!(status, 404);
}

const BOTO3_MAPPINGS: &str = r#"
import io, json, sys, time, zipfile
import boto3
ep = sys.argv[1]
kw = dict(endpoint_url=ep, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
lam = boto3.client("lambda", **kw)
sqs = boto3.client("sqs", **kw)
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("app.py", "def handler(event, context):\n    return None\n")
lam.create_function(FunctionName="boto-fn", Runtime="python3.11", Role="arn:aws:iam::000000000000:role/r",
                    Handler="app.handler", Code={"ZipFile": buf.getvalue()})
lam.get_waiter("function_active_v2").wait(FunctionName="boto-fn")
url = sqs.create_queue(QueueName="boto-q")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
m = lam.create_event_source_mapping(FunctionName="boto-fn", EventSourceArn=arn, BatchSize=5,
                                     FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": {"a": [1]}})}]})
assert m["ResponseMetadata"]["HTTPStatusCode"] == 202, m
assert m["State"] == "Creating" and m["BatchSize"] == 5, m
listed = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
assert [x["UUID"] for x in listed] == [m["UUID"]], listed
try:
    lam.create_event_source_mapping(FunctionName="boto-fn", EventSourceArn=arn)
    raise SystemExit("expected ResourceConflictException")
except lam.exceptions.ResourceConflictException:
    pass
print(m["UUID"])
"#;

#[test]
fn boto3_and_cli_create_and_list_mappings() {
    if !require("python3") || !require("aws") {
        return;
    }
    let skyport = Skyport::start_with(Options::default().env("LAMBDA_EXECUTOR", "local"));
    let endpoint = skyport.endpoint();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(BOTO3_MAPPINGS)
        .arg(&endpoint));
    assert!(status.success(), "{out}\n{err}");
    let uuid = out.trim().to_owned();
    let aws = |args: &[&str]| {
        let (status, out, err) = run(Command::new("aws")
            .args([
                "--endpoint-url",
                &endpoint,
                "--region",
                "us-east-1",
                "--output",
                "json",
            ])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_PAGER", ""));
        assert!(status.success(), "aws {args:?}: {err}{out}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let listed = aws(&[
        "lambda",
        "list-event-source-mappings",
        "--function-name",
        "boto-fn",
    ]);
    assert_eq!(listed["EventSourceMappings"][0]["UUID"], uuid.as_str());
    aws(&["sqs", "create-queue", "--queue-name", "cli-q"]);
    let created = aws(&[
        "lambda",
        "create-event-source-mapping",
        "--function-name",
        "boto-fn",
        "--event-source-arn",
        "arn:aws:sqs:us-east-1:000000000000:cli-q",
        "--batch-size",
        "100",
        "--maximum-batching-window-in-seconds",
        "2",
        "--function-response-types",
        "ReportBatchItemFailures",
    ]);
    assert_eq!(created["State"], "Creating");
    assert_eq!(created["BatchSize"], 100);
    let listed = aws(&["lambda", "list-event-source-mappings"]);
    assert_eq!(
        listed["EventSourceMappings"].as_array().map(Vec::len),
        Some(2)
    );
    let got = aws(&[
        "lambda",
        "get-event-source-mapping",
        "--uuid",
        created["UUID"].as_str().unwrap(),
    ]);
    assert_eq!(got["State"], "Enabled");
    assert_eq!(
        got["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
}

fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

#[tokio::test]
async fn s3_notifications_invoke_functions_that_allow_s3() {
    use aws_sdk_s3::types::{
        Event, FilterRule, FilterRuleName, LambdaFunctionConfiguration, NotificationConfiguration,
        NotificationConfigurationFilter, S3KeyFilter,
    };
    let skyport = start(None);
    let (lambda, s3) = (
        lambda_client(&skyport.endpoint()),
        s3_client(&skyport.endpoint()),
    );
    let (_dir, out) = scratch();
    create_function(&lambda, "on-upload", ASYNC_HANDLER, &out, &[]).await;
    let function_arn = "arn:aws:lambda:us-east-1:000000000000:function:on-upload";
    s3.create_bucket().bucket("uploads").send().await.unwrap();
    let config = NotificationConfiguration::builder()
        .lambda_function_configurations(
            LambdaFunctionConfiguration::builder()
                .id("to-lambda")
                .lambda_function_arn(function_arn)
                .events(Event::from("s3:ObjectCreated:*"))
                .filter(
                    NotificationConfigurationFilter::builder()
                        .key(
                            S3KeyFilter::builder()
                                .filter_rules(
                                    FilterRule::builder()
                                        .name(FilterRuleName::Prefix)
                                        .value("in/")
                                        .build(),
                                )
                                .filter_rules(
                                    FilterRule::builder()
                                        .name(FilterRuleName::Suffix)
                                        .value(".txt")
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .build();

    // Without a resource policy letting S3 invoke the function, AWS refuses the configuration.
    let err = s3
        .put_bucket_notification_configuration()
        .bucket("uploads")
        .notification_configuration(config.clone())
        .send()
        .await
        .expect_err("the function does not allow S3");
    let status = err.raw_response().map(|r| r.status().as_u16());
    let service = err.into_service_error();
    assert_eq!(status, Some(400));
    assert_eq!(service.meta().code(), Some("InvalidArgument"));
    assert_eq!(
        service.meta().message(),
        Some("Unable to validate the following destination configurations")
    );

    lambda
        .add_permission()
        .function_name("on-upload")
        .statement_id("s3")
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .source_arn("arn:aws:s3:::uploads")
        .send()
        .await
        .unwrap();
    s3.put_bucket_notification_configuration()
        .bucket("uploads")
        .notification_configuration(config)
        .send()
        .await
        .unwrap();
    let got = s3
        .get_bucket_notification_configuration()
        .bucket("uploads")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.lambda_function_configurations()[0].lambda_function_arn(),
        function_arn
    );
    for key in ["in/a.txt", "out/b.txt", "in/c.jpg"] {
        s3.put_object()
            .bucket("uploads")
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"hello"))
            .send()
            .await
            .unwrap();
    }
    let seen = wait_lines(&out, "the notification", |s| !s.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = if lines(&out).len() > seen.len() {
        lines(&out)
    } else {
        seen
    };
    assert_eq!(seen.len(), 1, "only in/*.txt: {seen:#?}");
    let record = &seen[0]["Records"][0];
    assert_eq!(record["eventSource"], "aws:s3");
    assert_eq!(record["eventName"], "ObjectCreated:Put");
    assert_eq!(record["awsRegion"], "us-east-1");
    assert_eq!(record["s3"]["configurationId"], "to-lambda");
    assert_eq!(record["s3"]["bucket"]["name"], "uploads");
    assert_eq!(record["s3"]["bucket"]["arn"], "arn:aws:s3:::uploads");
    assert_eq!(record["s3"]["object"]["key"], "in/a.txt");
    assert_eq!(record["s3"]["object"]["size"], 5);
}

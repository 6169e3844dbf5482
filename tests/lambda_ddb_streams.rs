//! Lambda event source mappings for DynamoDB streams, end to end through `aws-sdk-lambda`,
//! `aws-sdk-dynamodb`, `aws-sdk-sqs` and `aws-sdk-sns` against the real binary, with the local
//! executor (Python functions as host processes that write each batch they get to a file): INSERT,
//! MODIFY and REMOVE in order with their images from `TRIM_HORIZON` and from `LATEST`;
//! `FilterCriteria`; a failing batch retried `MaximumRetryAttempts` times and then sent to an SQS
//! `OnFailure` destination as AWS's `DDBStreamBatchInfo` record while the shard moves on;
//! `ReportBatchItemFailures` retrying from the failed record; `BisectBatchOnFunctionError` isolating
//! a bad record, whose record goes to an SNS topic; Update/Disable/Delete; a mapping that resumes
//! after a `kill -9` at its checkpoint in the same shard (records written before the kill and not yet
//! processed are delivered once, nothing is replayed); and AWS's validation errors.

mod common;
#[path = "common/lambda_harness.rs"]
mod harness;

use std::path::Path;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_lambda::types::{
    DestinationConfig, EventSourcePosition, Filter, FilterCriteria, FunctionResponseType, OnFailure,
};
use harness::{
    create_queue, fail, lambda_client, receive_one, scratch, set_enabled, sqs_client, start,
    wait_state,
};
use serde_json::{Value, json};

/// Writes each batch it gets to `$OUT` (one JSON line: the records). `MODE=raise` fails a batch
/// holding the item `bad`; `MODE=report` reports `bad` as a batch item failure.
const HANDLER: &str = r#"
import json, os
def main(event, context):
    records = event.get("Records", [])
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps(records) + "\n")
    mode = os.environ.get("MODE", "")
    bad = [r for r in records if r["dynamodb"]["Keys"]["id"]["S"] == "bad"]
    if mode == "raise" and bad:
        raise ValueError("a bad record")
    if mode == "report":
        return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in bad]}
    return {}
"#;

fn creds() -> Credentials {
    Credentials::new("test", "test", None, None, "test")
}

fn db_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(creds())
            .build(),
    )
}

fn sns_client(endpoint: &str) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .region(aws_sdk_sns::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(creds())
            .build(),
    )
}

/// Creates the Python function `name` writing to `out` in `mode`, and waits until it is `Active`.
async fn create_function(lambda: &aws_sdk_lambda::Client, name: &str, out: &Path, mode: &str) {
    harness::create_function(lambda, name, HANDLER, out, &[("MODE", mode)]).await;
}

/// Creates table `name` (hash key `id`) with a `NEW_AND_OLD_IMAGES` stream; its stream ARN.
async fn create_table(db: &aws_sdk_dynamodb::Client, name: &str) -> String {
    db.create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .table_description
        .unwrap()
        .latest_stream_arn
        .unwrap()
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

async fn put(db: &aws_sdk_dynamodb::Client, table: &str, id: &str, pairs: &[(&str, &str)]) {
    let mut req = db.put_item().table_name(table).item("id", s(id));
    for (k, v) in pairs {
        req = req.item(*k, s(v));
    }
    req.send().await.unwrap();
}

/// The batches the function got so far (each a list of records).
fn batches(out: &Path) -> Vec<Vec<Value>> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Vec<Value>>(l).ok())
        .collect()
}

fn id_of(r: &Value) -> String {
    r["dynamodb"]["Keys"]["id"]["S"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The ids of every record the function got, in order.
fn ids(out: &Path) -> Vec<String> {
    batches(out).iter().flatten().map(id_of).collect()
}

/// Waits until `check` holds on the function's batches.
async fn wait_batches(
    out: &Path,
    what: &str,
    check: impl Fn(&[Vec<Value>]) -> bool,
) -> Vec<Vec<Value>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = batches(out);
        if check(&seen) {
            return seen;
        }
        assert!(Instant::now() < deadline, "{what}; seen: {seen:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn changes_reach_the_function_in_order_with_their_images() {
    let skyport = start(None);
    let (lambda, db) = (
        lambda_client(&skyport.endpoint()),
        db_client(&skyport.endpoint()),
    );
    let (_dir, out) = scratch();
    let (_dir2, late_out) = scratch();
    create_function(&lambda, "changes", &out, "").await;
    create_function(&lambda, "latecomer", &late_out, "").await;
    let stream = create_table(&db, "orders").await;
    // Written before the mapping exists: TRIM_HORIZON still reads it.
    put(&db, "orders", "o1", &[("status", "new")]).await;

    let created = lambda
        .create_event_source_mapping()
        .function_name("changes")
        .event_source_arn(&stream)
        .starting_position(EventSourcePosition::TrimHorizon)
        .send()
        .await
        .unwrap();
    let uuid = created.uuid().unwrap().to_owned();
    assert_eq!(created.state(), Some("Creating"));
    assert_eq!(created.state_transition_reason(), Some("User action"));
    assert_eq!(
        created.starting_position(),
        Some(&EventSourcePosition::TrimHorizon)
    );
    assert_eq!(created.batch_size(), Some(100));
    assert_eq!(created.maximum_batching_window_in_seconds(), Some(0));
    assert_eq!(created.parallelization_factor(), Some(1));
    assert_eq!(created.maximum_retry_attempts(), Some(-1));
    assert_eq!(created.maximum_record_age_in_seconds(), Some(-1));
    assert_eq!(created.bisect_batch_on_function_error(), Some(false));
    assert_eq!(created.tumbling_window_in_seconds(), Some(0));
    assert_eq!(
        created.last_processing_result(),
        Some("No records processed")
    );
    assert!(created.function_response_types().is_empty());
    let on_failure = created
        .destination_config()
        .and_then(|d| d.on_failure())
        .expect("DestinationConfig.OnFailure is reported, empty");
    assert_eq!(on_failure.destination(), None);
    assert_eq!(created.event_source_arn(), Some(stream.as_str()));
    assert_eq!(
        created.event_source_mapping_arn(),
        Some(format!("arn:aws:lambda:us-east-1:000000000000:event-source-mapping:{uuid}").as_str())
    );
    wait_state(&lambda, &uuid, "Enabled").await;
    wait_batches(&out, "the insert written before the mapping", |b| {
        !b.is_empty()
    })
    .await;

    // A LATEST mapping sees only what comes after it.
    let latest = lambda
        .create_event_source_mapping()
        .function_name("latecomer")
        .event_source_arn(&stream)
        .starting_position(EventSourcePosition::Latest)
        .batch_size(5)
        .send()
        .await
        .unwrap();
    wait_state(&lambda, latest.uuid().unwrap(), "Enabled").await;

    db.update_item()
        .table_name("orders")
        .key("id", s("o1"))
        .update_expression("SET #s = :s")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":s", s("paid"))
        .send()
        .await
        .unwrap();
    db.delete_item()
        .table_name("orders")
        .key("id", s("o1"))
        .send()
        .await
        .unwrap();
    let seen = wait_batches(&out, "INSERT, MODIFY and REMOVE", |b| {
        b.iter().flatten().count() >= 3
    })
    .await;
    let records: Vec<&Value> = seen.iter().flatten().collect();
    assert_eq!(records.len(), 3, "each change once: {records:#?}");
    let names: Vec<&str> = records
        .iter()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["INSERT", "MODIFY", "REMOVE"]);
    let (insert, modify, remove) = (records[0], records[1], records[2]);
    assert_eq!(insert["eventSource"], "aws:dynamodb");
    assert_eq!(insert["eventVersion"], "1.1");
    assert_eq!(insert["awsRegion"], "us-east-1");
    assert_eq!(insert["eventSourceARN"], stream.as_str());
    assert!(insert["eventID"].as_str().is_some_and(|id| !id.is_empty()));
    let d = &insert["dynamodb"];
    assert_eq!(d["Keys"], json!({"id": {"S": "o1"}}));
    assert_eq!(
        d["NewImage"],
        json!({"id": {"S": "o1"}, "status": {"S": "new"}})
    );
    assert!(d.get("OldImage").is_none());
    assert_eq!(d["StreamViewType"], "NEW_AND_OLD_IMAGES");
    assert!(d["SizeBytes"].as_i64().is_some_and(|n| n > 0));
    assert!(d["ApproximateCreationDateTime"].is_number());
    assert_eq!(
        modify["dynamodb"]["OldImage"]["status"],
        json!({"S": "new"})
    );
    assert_eq!(
        modify["dynamodb"]["NewImage"]["status"],
        json!({"S": "paid"})
    );
    assert_eq!(
        remove["dynamodb"]["OldImage"]["status"],
        json!({"S": "paid"})
    );
    assert!(remove["dynamodb"].get("NewImage").is_none());
    assert!(remove.get("userIdentity").is_none());
    let seqs: Vec<u128> = records
        .iter()
        .map(|r| {
            r["dynamodb"]["SequenceNumber"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    let late = wait_batches(&late_out, "the latecomer's records", |b| {
        b.iter().flatten().count() >= 2
    })
    .await;
    let late_names: Vec<&str> = late
        .iter()
        .flatten()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(late_names, ["MODIFY", "REMOVE"], "LATEST skips the insert");

    let got = lambda
        .get_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .unwrap();
    assert_eq!(got.last_processing_result(), Some("OK"));
    let listed = lambda
        .list_event_source_mappings()
        .event_source_arn(&stream)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.event_source_mappings().len(), 2);

    // AWS's errors.
    let (status, code, message) = fail(
        lambda
            .create_event_source_mapping()
            .function_name("changes")
            .event_source_arn(&stream)
            .starting_position(EventSourcePosition::Latest)
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (409, "ResourceConflictException"));
    assert_eq!(
        message,
        format!(
            "The event source arn (\" {stream} \") and function (\" changes \") provided mapping already exists. \
             Please update or delete the existing mapping with UUID {uuid}"
        )
    );
    let missing = format!(
        "{}/stream/2000-01-01T00:00:00.000",
        stream.split("/stream/").next().unwrap()
    );
    let (status, code, message) = fail(
        lambda
            .create_event_source_mapping()
            .function_name("changes")
            .event_source_arn(&missing)
            .starting_position(EventSourcePosition::Latest)
            .send()
            .await,
    );
    assert_eq!(
        (status, code.as_str(), message),
        (
            400,
            "InvalidParameterValueException",
            format!("Stream not found: {missing}")
        )
    );
    // Refusals of the settings, each for a mapping of `latecomer` (which has none of `stream`).
    let mapping = || {
        lambda
            .create_event_source_mapping()
            .function_name("latecomer")
            .event_source_arn(&stream)
    };
    let at_timestamp = mapping()
        .starting_position(EventSourcePosition::AtTimestamp)
        .starting_position_timestamp(aws_sdk_lambda::primitives::DateTime::from_secs(1));
    let cases = [
        (
            at_timestamp,
            "InvalidParameterValueException",
            format!("Unsupported starting position for arn type: {stream}"),
        ),
        (
            mapping(),
            "InvalidParameterValueException",
            "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: \
             Member must not be null."
                .to_owned(),
        ),
        (
            mapping()
                .starting_position(EventSourcePosition::Latest)
                .batch_size(10_001),
            "ValidationException",
            "1 validation error detected: Value '10001' at 'batchSize' failed to satisfy constraint: \
             Member must have value less than or equal to 10000"
                .to_owned(),
        ),
        (
            mapping()
                .starting_position(EventSourcePosition::Latest)
                .maximum_record_age_in_seconds(30),
            "InvalidParameterValueException",
            "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 (inclusive)"
                .to_owned(),
        ),
    ];
    for (request, want_code, want_message) in cases {
        let (status, code, message) = fail(request.send().await);
        assert_eq!(
            (status, code.as_str(), message),
            (400, want_code, want_message)
        );
    }
}

#[tokio::test]
async fn filter_criteria_pass_only_matching_records() {
    let skyport = start(None);
    let (lambda, db) = (
        lambda_client(&skyport.endpoint()),
        db_client(&skyport.endpoint()),
    );
    let (_dir, out) = scratch();
    create_function(&lambda, "picky", &out, "").await;
    let stream = create_table(&db, "events").await;
    let criteria = FilterCriteria::builder()
        .filters(
            Filter::builder()
                .pattern(r#"{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["keep"]}}}}"#)
                .build(),
        )
        .filters(Filter::builder().pattern(r#"{"eventName": ["REMOVE"]}"#).build())
        .build();
    let mapping = lambda
        .create_event_source_mapping()
        .function_name("picky")
        .event_source_arn(&stream)
        .starting_position(EventSourcePosition::TrimHorizon)
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
    put(&db, "events", "a", &[("kind", "keep")]).await;
    put(&db, "events", "b", &[("kind", "drop")]).await;
    put(&db, "events", "a", &[("kind", "keep"), ("v", "2")]).await; // MODIFY: dropped
    put(&db, "events", "c", &[("kind", "keep")]).await;
    db.delete_item()
        .table_name("events")
        .key("id", s("b"))
        .send()
        .await
        .unwrap();
    wait_batches(&out, "the REMOVE of b, the last change", |b| {
        b.iter().flatten().any(|r| r["eventName"] == "REMOVE")
    })
    .await;
    let seen: Vec<(String, String)> = batches(&out)
        .iter()
        .flatten()
        .map(|r| (r["eventName"].as_str().unwrap().to_owned(), id_of(r)))
        .collect();
    let expected: Vec<(String, String)> = [("INSERT", "a"), ("INSERT", "c"), ("REMOVE", "b")]
        .iter()
        .map(|(n, i)| ((*n).to_owned(), (*i).to_owned()))
        .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_failing_batch_is_retried_then_sent_to_the_on_failure_queue() {
    let skyport = start(None);
    let (lambda, db, sqs) = (
        lambda_client(&skyport.endpoint()),
        db_client(&skyport.endpoint()),
        sqs_client(&skyport.endpoint()),
    );
    let (_dir, out) = scratch();
    create_function(&lambda, "fragile", &out, "raise").await;
    let stream = create_table(&db, "jobs").await;
    let (dlq_url, dlq_arn) = create_queue(&sqs, "jobs-failures", &[]).await;
    let mapping = lambda
        .create_event_source_mapping()
        .function_name("fragile")
        .event_source_arn(&stream)
        .starting_position(EventSourcePosition::Latest)
        .batch_size(1)
        .maximum_retry_attempts(1)
        .destination_config(
            DestinationConfig::builder()
                .on_failure(OnFailure::builder().destination(&dlq_arn).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(mapping.maximum_retry_attempts(), Some(1));
    assert_eq!(
        mapping
            .destination_config()
            .and_then(|d| d.on_failure())
            .and_then(|f| f.destination()),
        Some(dlq_arn.as_str())
    );
    let uuid = mapping.uuid().unwrap().to_owned();
    wait_state(&lambda, &uuid, "Enabled").await;
    put(&db, "jobs", "bad", &[]).await;
    put(&db, "jobs", "good", &[]).await;

    let record = receive_one(&sqs, &dlq_url).await;
    assert_eq!(record["version"], "1.0");
    assert!(
        record["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let rc = &record["requestContext"];
    assert_eq!(rc["condition"], "RetryAttemptsExhausted");
    assert_eq!(rc["approximateInvokeCount"], 2);
    assert_eq!(
        rc["functionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:fragile"
    );
    assert!(rc["requestId"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(record["responseContext"]["statusCode"], 200);
    assert_eq!(record["responseContext"]["executedVersion"], "$LATEST");
    let info = &record["DDBStreamBatchInfo"];
    assert_eq!(info["batchSize"], 1);
    assert_eq!(info["streamArn"], stream.as_str());
    assert!(
        info["shardId"]
            .as_str()
            .is_some_and(|s| s.starts_with("shardId-"))
    );
    assert_eq!(info["startSequenceNumber"], info["endSequenceNumber"]);
    assert!(
        info["approximateArrivalOfFirstRecord"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    // The shard moved on: the next record is processed.
    let seen = wait_batches(&out, "the good record after the bad one", |b| {
        b.iter().flatten().any(|r| id_of(r) == "good")
    })
    .await;
    let order: Vec<String> = seen.iter().flatten().map(id_of).collect();
    assert_eq!(
        order,
        ["bad", "bad", "good"],
        "the bad batch ran twice, then good"
    );
    let bad_seq = seen[0][0]["dynamodb"]["SequenceNumber"].clone();
    assert_eq!(info["startSequenceNumber"], bad_seq);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = lambda
            .get_event_source_mapping()
            .uuid(&uuid)
            .send()
            .await
            .unwrap();
        if got.last_processing_result() == Some("OK") {
            break;
        }
        assert!(Instant::now() < deadline, "{got:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn batch_item_failures_retry_from_the_failed_record() {
    let skyport = start(None);
    let (lambda, db, sqs) = (
        lambda_client(&skyport.endpoint()),
        db_client(&skyport.endpoint()),
        sqs_client(&skyport.endpoint()),
    );
    let (_dir, out) = scratch();
    create_function(&lambda, "partial", &out, "report").await;
    let stream = create_table(&db, "items").await;
    let (dlq_url, dlq_arn) = create_queue(&sqs, "items-failures", &[]).await;
    // Written first, so the first batch holds all three.
    for id in ["a", "bad", "c"] {
        put(&db, "items", id, &[]).await;
    }
    let mapping = lambda
        .create_event_source_mapping()
        .function_name("partial")
        .event_source_arn(&stream)
        .starting_position(EventSourcePosition::TrimHorizon)
        .function_response_types(FunctionResponseType::ReportBatchItemFailures)
        .maximum_retry_attempts(2)
        .destination_config(
            DestinationConfig::builder()
                .on_failure(OnFailure::builder().destination(&dlq_arn).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        mapping.function_response_types(),
        [FunctionResponseType::ReportBatchItemFailures]
    );
    let record = receive_one(&sqs, &dlq_url).await;
    let seen: Vec<Vec<String>> = batches(&out)
        .iter()
        .map(|b| b.iter().map(id_of).collect())
        .collect();
    assert_eq!(
        seen,
        [vec!["a", "bad", "c"], vec!["bad", "c"], vec!["bad", "c"]],
        "retried from the failed record, twice"
    );
    assert_eq!(
        record["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    let info = &record["DDBStreamBatchInfo"];
    assert_eq!(info["batchSize"], 2);
    let first = &batches(&out)[0];
    assert_eq!(
        info["startSequenceNumber"],
        first[1]["dynamodb"]["SequenceNumber"]
    );
    assert_eq!(
        info["endSequenceNumber"],
        first[2]["dynamodb"]["SequenceNumber"]
    );
}

#[tokio::test]
async fn bisecting_isolates_the_bad_record_and_reports_it_to_a_topic() {
    let skyport = start(None);
    let (lambda, db, sqs, sns) = (
        lambda_client(&skyport.endpoint()),
        db_client(&skyport.endpoint()),
        sqs_client(&skyport.endpoint()),
        sns_client(&skyport.endpoint()),
    );
    let (_dir, out) = scratch();
    create_function(&lambda, "halving", &out, "raise").await;
    let stream = create_table(&db, "halves").await;
    let topic = sns
        .create_topic()
        .name("halves-failures")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let (url, queue_arn) = create_queue(&sqs, "halves-failures", &[]).await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    for id in ["a", "b", "bad", "d"] {
        put(&db, "halves", id, &[]).await;
    }
    lambda
        .create_event_source_mapping()
        .function_name("halving")
        .event_source_arn(&stream)
        .starting_position(EventSourcePosition::TrimHorizon)
        .bisect_batch_on_function_error(true)
        .maximum_retry_attempts(0)
        .destination_config(
            DestinationConfig::builder()
                .on_failure(OnFailure::builder().destination(&topic).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let record = receive_one(&sqs, &url).await;
    assert_eq!(
        record["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(record["DDBStreamBatchInfo"]["batchSize"], 1);
    let seen = wait_batches(&out, "d after the bad record", |b| {
        b.last()
            .is_some_and(|last| last.iter().map(id_of).collect::<Vec<_>>() == ["d"])
    })
    .await;
    let seen: Vec<Vec<String>> = seen.iter().map(|b| b.iter().map(id_of).collect()).collect();
    assert_eq!(
        seen,
        [
            vec!["a", "b", "bad", "d"],
            vec!["a", "b"],
            vec!["bad", "d"],
            vec!["bad"],
            vec!["d"]
        ]
    );
    let bad_seq = batches(&out)[3][0]["dynamodb"]["SequenceNumber"].clone();
    assert_eq!(record["DDBStreamBatchInfo"]["startSequenceNumber"], bad_seq);
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
}

#[tokio::test]
async fn disabled_and_deleted_mappings_stop_and_an_update_resumes() {
    let skyport = start(None);
    let (lambda, db) = (
        lambda_client(&skyport.endpoint()),
        db_client(&skyport.endpoint()),
    );
    let (_dir, out) = scratch();
    create_function(&lambda, "toggled", &out, "").await;
    let stream = create_table(&db, "toggles").await;
    let mapping = lambda
        .create_event_source_mapping()
        .function_name("toggled")
        .event_source_arn(&stream)
        .starting_position(EventSourcePosition::Latest)
        .send()
        .await
        .unwrap();
    let uuid = mapping.uuid().unwrap().to_owned();
    wait_state(&lambda, &uuid, "Enabled").await;
    put(&db, "toggles", "one", &[]).await;
    wait_batches(&out, "one", |b| !b.is_empty()).await;

    let disabled = lambda
        .update_event_source_mapping()
        .uuid(&uuid)
        .enabled(false)
        .batch_size(10)
        .maximum_retry_attempts(3)
        .bisect_batch_on_function_error(true)
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.state(), Some("Disabling"));
    assert_eq!(disabled.state_transition_reason(), Some("User action"));
    assert_eq!(disabled.batch_size(), Some(10));
    assert_eq!(disabled.maximum_retry_attempts(), Some(3));
    assert_eq!(disabled.bisect_batch_on_function_error(), Some(true));
    assert_eq!(
        disabled.starting_position(),
        Some(&EventSourcePosition::Latest)
    );
    wait_state(&lambda, &uuid, "Disabled").await;
    put(&db, "toggles", "two", &[]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(ids(&out), ["one"], "nothing while disabled");

    // Enabled again, the mapping resumes from its checkpoint: `two` arrives.
    set_enabled(&lambda, &uuid, true).await;
    wait_batches(&out, "two after enabling", |b| b.len() >= 2).await;
    assert_eq!(ids(&out), ["one", "two"]);

    let deleted = lambda
        .delete_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.state(), Some("Deleting"));
    put(&db, "toggles", "three", &[]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(ids(&out), ["one", "two"], "nothing after the delete");
    let (status, code, _) = fail(lambda.get_event_source_mapping().uuid(&uuid).send().await);
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));
}

#[tokio::test]
async fn stream_mappings_resume_after_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let (_dir, out) = scratch();
    let (stream, uuid) = {
        let skyport = start(Some(state.path()));
        let (lambda, db) = (
            lambda_client(&skyport.endpoint()),
            db_client(&skyport.endpoint()),
        );
        create_function(&lambda, "durable", &out, "").await;
        let stream = create_table(&db, "durable").await;
        let mapping = lambda
            .create_event_source_mapping()
            .function_name("durable")
            .event_source_arn(&stream)
            .starting_position(EventSourcePosition::Latest)
            .send()
            .await
            .unwrap();
        let uuid = mapping.uuid().unwrap().to_owned();
        wait_state(&lambda, &uuid, "Enabled").await;
        put(&db, "durable", "before", &[]).await;
        wait_batches(&out, "the change before the restart", |b| !b.is_empty()).await;
        // Changes the mapping has not processed when Skyport is killed (`kill -9` on drop).
        set_enabled(&lambda, &uuid, false).await;
        put(&db, "durable", "pending-1", &[]).await;
        put(&db, "durable", "pending-2", &[]).await;
        (stream, uuid)
    };
    let skyport = start(Some(state.path()));
    let (lambda, db) = (
        lambda_client(&skyport.endpoint()),
        db_client(&skyport.endpoint()),
    );
    set_enabled(&lambda, &uuid, true).await;
    put(&db, "durable", "after", &[]).await;
    wait_batches(&out, "the change after the restart", |b| {
        b.iter().flatten().any(|r| id_of(r) == "after")
    })
    .await;
    // The stream's shard survived with its records: the mapping resumes at its checkpoint, with
    // nothing replayed and nothing skipped.
    assert_eq!(ids(&out), ["before", "pending-1", "pending-2", "after"]);
    let listed = lambda
        .list_event_source_mappings()
        .function_name("durable")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.event_source_mappings().len(), 1);
    let m = &listed.event_source_mappings()[0];
    assert_eq!(m.event_source_arn(), Some(stream.as_str()));
    assert_eq!(m.state(), Some("Enabled"));
    assert_eq!(m.last_processing_result(), Some("OK"));
}

//! CloudWatch Logs through the official `aws-sdk-cloudwatchlogs` crate (awsJson 1.1), boto3 and the
//! AWS CLI against the real binary: log groups (tags, retention, listing), log streams, PutLogEvents's
//! rules, GetLogEvents's forward and backward tokens, FilterLogEvents with filter patterns, retention,
//! persistence across `kill -9`, and `aws logs` commands.

mod common;

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::config::{BehaviorVersion, Region};
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatchlogs::types::{InputLogEvent, OrderBy};
use common::{Options, Skyport, require, run};

fn client(endpoint: &str) -> Client {
    client_in(endpoint, "us-east-1", "test")
}

fn client_in(endpoint: &str, region: &str, key: &str) -> Client {
    let config = aws_sdk_cloudwatchlogs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(key, "test", None, None, "test"))
        .build();
    Client::from_conf(config)
}

/// The error code and message the SDK saw.
fn error<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> (String, String) {
    let service = e.as_service_error();
    (
        service
            .and_then(|s| s.code())
            .unwrap_or("<none>")
            .to_owned(),
        service
            .and_then(|s| s.message())
            .unwrap_or("<none>")
            .to_owned(),
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn event(timestamp: i64, message: impl Into<String>) -> InputLogEvent {
    InputLogEvent::builder()
        .timestamp(timestamp)
        .message(message)
        .build()
        .unwrap()
}

async fn group_and_stream(logs: &Client, group: &str, stream: &str) {
    logs.create_log_group()
        .log_group_name(group)
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
        .unwrap();
}

async fn put(logs: &Client, group: &str, stream: &str, events: Vec<InputLogEvent>) {
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(events))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn log_groups_create_describe_retention_and_delete() {
    let skyport = Skyport::start();
    let logs = client(&skyport.endpoint());
    let before = now_ms();
    logs.create_log_group()
        .log_group_name("/app/web")
        .kms_key_id("arn:aws:kms:us-east-1:000000000000:key/abc")
        .tags("team", "core")
        .send()
        .await
        .unwrap();
    for name in ["/app/api", "/app/worker", "/aws/lambda/DataLogs", "other"] {
        logs.create_log_group()
            .log_group_name(name)
            .send()
            .await
            .unwrap();
    }
    let e = logs
        .create_log_group()
        .log_group_name("/app/web")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "ResourceAlreadyExistsException".into(),
            "The specified log group already exists".into()
        )
    );
    assert!(
        e.into_service_error()
            .is_resource_already_exists_exception()
    );

    // The model's constraints answer as CloudWatch Logs does: InvalidParameterException.
    let e = logs
        .create_log_group()
        .log_group_name("bad:name")
        .send()
        .await
        .unwrap_err();
    let (code, message) = error(&e);
    assert_eq!(code, "InvalidParameterException");
    assert!(
        message.starts_with("1 validation error detected: Value 'bad:name' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern"),
        "{message}"
    );

    let out = logs
        .describe_log_groups()
        .log_group_name_prefix("/app/")
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = out
        .log_groups()
        .iter()
        .filter_map(|g| g.log_group_name())
        .collect();
    assert_eq!(names, ["/app/api", "/app/web", "/app/worker"]);
    let web = &out.log_groups()[1];
    assert_eq!(
        web.arn(),
        Some("arn:aws:logs:us-east-1:000000000000:log-group:/app/web:*")
    );
    assert_eq!(
        web.log_group_arn(),
        Some("arn:aws:logs:us-east-1:000000000000:log-group:/app/web")
    );
    assert!(web.creation_time().unwrap() >= before);
    assert_eq!(web.stored_bytes(), Some(0));
    assert_eq!(web.metric_filter_count(), Some(0));
    assert_eq!(web.retention_in_days(), None);
    assert_eq!(
        web.kms_key_id(),
        Some("arn:aws:kms:us-east-1:000000000000:key/abc")
    );
    assert_eq!(web.log_group_class().map(|c| c.as_str()), Some("STANDARD"));

    // logGroupNamePattern: a case-sensitive substring; only the name, ARN and creation time.
    let out = logs
        .describe_log_groups()
        .log_group_name_pattern("DataLogs")
        .send()
        .await
        .unwrap();
    assert_eq!(out.log_groups().len(), 1);
    let g = &out.log_groups()[0];
    assert_eq!(g.log_group_name(), Some("/aws/lambda/DataLogs"));
    assert!(g.arn().is_some() && g.creation_time().is_some());
    assert_eq!((g.stored_bytes(), g.log_group_class()), (None, None));
    let out = logs
        .describe_log_groups()
        .log_group_name_pattern("datalogs")
        .send()
        .await
        .unwrap();
    assert!(out.log_groups().is_empty());
    let e = logs
        .describe_log_groups()
        .log_group_name_prefix("/app")
        .log_group_name_pattern("web")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).0, "InvalidParameterException");

    // Paging two at a time through the SDK's paginator, in ASCII order.
    let pages: Vec<_> = logs
        .describe_log_groups()
        .limit(2)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(pages.len(), 3);
    let all: Vec<String> = pages
        .into_iter()
        .flat_map(|p| p.unwrap().log_groups.unwrap_or_default())
        .filter_map(|g| g.log_group_name)
        .collect();
    assert_eq!(
        all,
        [
            "/app/api",
            "/app/web",
            "/app/worker",
            "/aws/lambda/DataLogs",
            "other"
        ]
    );

    // Retention: only AWS's values.
    logs.put_retention_policy()
        .log_group_name("/app/web")
        .retention_in_days(14)
        .send()
        .await
        .unwrap();
    let e = logs
        .put_retention_policy()
        .log_group_name("/app/web")
        .retention_in_days(2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "InvalidParameterException".into(),
            "1 validation error detected: Value '2' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]".into()
        )
    );
    let retention =
        |out: aws_sdk_cloudwatchlogs::operation::describe_log_groups::DescribeLogGroupsOutput| {
            out.log_groups()[0].retention_in_days()
        };
    let describe = || {
        logs.describe_log_groups()
            .log_group_name_prefix("/app/web")
            .send()
    };
    assert_eq!(retention(describe().await.unwrap()), Some(14));
    logs.delete_retention_policy()
        .log_group_name("/app/web")
        .send()
        .await
        .unwrap();
    assert_eq!(retention(describe().await.unwrap()), None);
    let e = logs
        .put_retention_policy()
        .log_group_name("/nope")
        .retention_in_days(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "ResourceNotFoundException".into(),
            "The specified log group does not exist.".into()
        )
    );

    // Groups belong to their region and account.
    let other_region = client_in(&skyport.endpoint(), "eu-west-1", "test");
    let out = other_region.describe_log_groups().send().await.unwrap();
    assert!(out.log_groups().is_empty());

    logs.delete_log_group()
        .log_group_name("/app/web")
        .send()
        .await
        .unwrap();
    let e = logs
        .delete_log_group()
        .log_group_name("/app/web")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    assert!(
        skyport.wait_for_log("logs.DeleteLogGroup => 400", Duration::from_secs(5)),
        "{}",
        skyport.log()
    );
}

#[tokio::test]
async fn tags_through_arns_and_the_legacy_operations() {
    let skyport = Skyport::start();
    let logs = client(&skyport.endpoint());
    logs.create_log_group()
        .log_group_name("tagged")
        .tags("a", "1")
        .send()
        .await
        .unwrap();
    let arn = "arn:aws:logs:us-east-1:000000000000:log-group:tagged";
    logs.tag_resource()
        .resource_arn(arn)
        .tags("b", "2")
        .send()
        .await
        .unwrap();
    let tags = logs
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    let tags = tags.tags().unwrap();
    assert_eq!(
        (tags.get("a"), tags.get("b")),
        (Some(&"1".to_owned()), Some(&"2".to_owned()))
    );
    logs.untag_resource()
        .resource_arn(arn)
        .tag_keys("a")
        .send()
        .await
        .unwrap();
    legacy_tag_operations(&logs).await;
    let tags = logs
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().unwrap().len(), 1);
    let e = logs
        .list_tags_for_resource()
        .resource_arn("arn:aws:logs:us-east-1:000000000000:log-group:missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).0, "ResourceNotFoundException");
    // At most 50 tags.
    let mut request = logs.tag_resource().resource_arn(arn);
    for i in 0..50 {
        request = request.tags(format!("k{i}"), "v");
    }
    let e = request.send().await.unwrap_err();
    assert_eq!(error(&e).0, "TooManyTagsException");
}

/// TagLogGroup, ListTagsLogGroup and UntagLogGroup (deprecated in the SDK, still served by AWS).
#[allow(deprecated)]
async fn legacy_tag_operations(logs: &Client) {
    logs.tag_log_group()
        .log_group_name("tagged")
        .tags("c", "3")
        .send()
        .await
        .unwrap();
    let legacy = logs
        .list_tags_log_group()
        .log_group_name("tagged")
        .send()
        .await
        .unwrap();
    let mut keys: Vec<&String> = legacy.tags().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["b", "c"]);
    logs.untag_log_group()
        .log_group_name("tagged")
        .tags("b")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn log_streams_describe_order_and_delete() {
    let skyport = Skyport::start();
    let logs = client(&skyport.endpoint());
    group_and_stream(&logs, "g", "b-stream").await;
    for s in ["a-stream", "c-stream", "other"] {
        logs.create_log_stream()
            .log_group_name("g")
            .log_stream_name(s)
            .send()
            .await
            .unwrap();
    }
    let e = logs
        .create_log_stream()
        .log_group_name("g")
        .log_stream_name("a-stream")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "ResourceAlreadyExistsException".into(),
            "The specified log stream already exists".into()
        )
    );
    let e = logs
        .create_log_stream()
        .log_group_name("missing")
        .log_stream_name("s")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "ResourceNotFoundException".into(),
            "The specified log group does not exist.".into()
        )
    );
    let now = now_ms();
    put(&logs, "g", "c-stream", vec![event(now - 3000, "old")]).await;
    put(&logs, "g", "a-stream", vec![event(now - 1000, "new")]).await;
    put(&logs, "g", "b-stream", vec![event(now - 2000, "mid")]).await;

    let out = logs
        .describe_log_streams()
        .log_group_name("g")
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = out
        .log_streams()
        .iter()
        .filter_map(|s| s.log_stream_name())
        .collect();
    assert_eq!(names, ["a-stream", "b-stream", "c-stream", "other"]);
    let a = &out.log_streams()[0];
    assert_eq!(
        a.arn(),
        Some("arn:aws:logs:us-east-1:000000000000:log-group:g:log-stream:a-stream")
    );
    assert_eq!(a.first_event_timestamp(), Some(now - 1000));
    assert_eq!(a.last_event_timestamp(), Some(now - 1000));
    assert!(a.last_ingestion_time().unwrap() >= now - 1000);
    assert!(a.creation_time().is_some());
    assert_eq!(a.upload_sequence_token().map(str::len), Some(56));
    let empty = &out.log_streams()[3];
    assert_eq!(
        (empty.first_event_timestamp(), empty.upload_sequence_token()),
        (None, None)
    );

    let out = logs
        .describe_log_streams()
        .log_group_identifier("arn:aws:logs:us-east-1:000000000000:log-group:g")
        .log_stream_name_prefix("b-")
        .send()
        .await
        .unwrap();
    assert_eq!(out.log_streams().len(), 1);

    // Latest event first, two per page.
    let pages: Vec<Vec<String>> = logs
        .describe_log_streams()
        .log_group_name("g")
        .order_by(OrderBy::LastEventTime)
        .descending(true)
        .limit(2)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|p| {
            p.unwrap()
                .log_streams
                .unwrap_or_default()
                .into_iter()
                .filter_map(|s| s.log_stream_name)
                .collect()
        })
        .collect();
    assert_eq!(
        pages,
        [vec!["a-stream", "b-stream"], vec!["c-stream", "other"]]
    );
    let e = logs
        .describe_log_streams()
        .log_group_name("g")
        .order_by(OrderBy::LastEventTime)
        .log_stream_name_prefix("a")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "InvalidParameterException".into(),
            "Cannot order by LastEventTime with a logStreamNamePrefix.".into()
        )
    );
    let e = logs.describe_log_streams().send().await.unwrap_err();
    assert_eq!(error(&e).0, "InvalidParameterException");

    logs.delete_log_stream()
        .log_group_name("g")
        .log_stream_name("a-stream")
        .send()
        .await
        .unwrap();
    let e = logs
        .get_log_events()
        .log_group_name("g")
        .log_stream_name("a-stream")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "ResourceNotFoundException".into(),
            "The specified log stream does not exist.".into()
        )
    );
    // A stream created again under the same name starts empty.
    logs.create_log_stream()
        .log_group_name("g")
        .log_stream_name("a-stream")
        .send()
        .await
        .unwrap();
    let out = logs
        .get_log_events()
        .log_group_name("g")
        .log_stream_name("a-stream")
        .send()
        .await
        .unwrap();
    assert!(out.events().is_empty());
}

#[tokio::test]
async fn put_log_events_follows_aws_rules() {
    let skyport = Skyport::start();
    let logs = client(&skyport.endpoint());
    group_and_stream(&logs, "rules", "s").await;
    let now = now_ms();

    let e = logs
        .put_log_events()
        .log_group_name("rules")
        .log_stream_name("s")
        .log_events(event(now, "second"))
        .log_events(event(now - 10, "first"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "InvalidParameterException".into(),
            "Log events in a single PutLogEvents request must be in chronological order.".into()
        )
    );

    // 1,048,576 bytes counting 26 bytes per event.
    logs.create_log_stream()
        .log_group_name("rules")
        .log_stream_name("big")
        .send()
        .await
        .unwrap();
    let big = "x".repeat(1_048_576 - 26);
    logs.put_log_events()
        .log_group_name("rules")
        .log_stream_name("big")
        .log_events(event(now, big.clone()))
        .send()
        .await
        .unwrap();
    let e = logs
        .put_log_events()
        .log_group_name("rules")
        .log_stream_name("s")
        .log_events(event(now, big))
        .log_events(event(now, "y"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "InvalidParameterException".into(),
            "Upload too large: 1048603 bytes exceeds limit of 1048576".into()
        )
    );
    // A batch spans at most 24 hours.
    let e = logs
        .put_log_events()
        .log_group_name("rules")
        .log_stream_name("s")
        .log_events(event(now - 86_400_001, "a"))
        .log_events(event(now, "b"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).0, "InvalidParameterException");
    // More than 10,000 events: the model's constraint.
    let many: Vec<InputLogEvent> = (0..10_001).map(|_| event(now, "m")).collect();
    let e = logs
        .put_log_events()
        .log_group_name("rules")
        .log_stream_name("s")
        .set_log_events(Some(many))
        .send()
        .await
        .unwrap_err();
    let (code, message) = error(&e);
    assert_eq!(code, "InvalidParameterException");
    assert!(message.contains("'logEvents'"), "{message}");

    // Too old, past the retention, too new: rejected by index; the rest stored. The sequence token
    // is accepted and ignored.
    logs.put_retention_policy()
        .log_group_name("rules")
        .retention_in_days(7)
        .send()
        .await
        .unwrap();
    let day = 86_400_000;
    let hour = 3_600_000;
    let out = logs
        .put_log_events()
        .log_group_name("rules")
        .log_stream_name("s")
        .sequence_token("49039859604838577757357211396231893848212271306327424114")
        .log_events(event(now - 14 * day - hour, "too old"))
        .log_events(event(now - 14 * day + hour, "expired"))
        .send()
        .await
        .unwrap();
    let rejected = out.rejected_log_events_info().unwrap();
    assert_eq!(rejected.too_old_log_event_end_index(), Some(0));
    assert_eq!(rejected.expired_log_event_end_index(), Some(1));
    assert_eq!(rejected.too_new_log_event_start_index(), None);
    let out = logs
        .put_log_events()
        .log_group_name("rules")
        .log_stream_name("s")
        .sequence_token("not even a number")
        .log_events(event(now - 1000, "kept 1"))
        .log_events(event(now, "kept 2"))
        .log_events(event(now + 3 * hour, "too new"))
        .send()
        .await
        .unwrap();
    let rejected = out.rejected_log_events_info().unwrap();
    assert_eq!(rejected.too_new_log_event_start_index(), Some(2));
    assert_eq!(rejected.too_old_log_event_end_index(), None);
    let token = out.next_sequence_token().unwrap().to_owned();
    assert_eq!(token.len(), 56);
    let out = logs
        .put_log_events()
        .log_group_name("rules")
        .log_stream_name("s")
        .log_events(event(now, "kept 3"))
        .send()
        .await
        .unwrap();
    assert!(out.rejected_log_events_info().is_none());
    assert_ne!(out.next_sequence_token(), Some(token.as_str()));

    let got = logs
        .get_log_events()
        .log_group_name("rules")
        .log_stream_name("s")
        .start_from_head(true)
        .send()
        .await
        .unwrap();
    let messages: Vec<&str> = got.events().iter().filter_map(|e| e.message()).collect();
    assert_eq!(messages, ["kept 1", "kept 2", "kept 3"]);

    let e = logs
        .put_log_events()
        .log_group_name("rules")
        .log_stream_name("nope")
        .log_events(event(now, "x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "ResourceNotFoundException".into(),
            "The specified log stream does not exist.".into()
        )
    );
}

#[tokio::test]
async fn get_log_events_pages_forward_and_backward() {
    let skyport = Skyport::start();
    let logs = client(&skyport.endpoint());
    group_and_stream(&logs, "paging", "s").await;
    let base = now_ms() - 60_000;
    let events: Vec<InputLogEvent> = (0..250).map(|i| event(base + i, format!("e{i}"))).collect();
    put(&logs, "paging", "s", events).await;
    let get = || {
        logs.get_log_events()
            .log_group_name("paging")
            .log_stream_name("s")
            .limit(100)
    };
    let messages = |out: &aws_sdk_cloudwatchlogs::operation::get_log_events::GetLogEventsOutput| {
        out.events()
            .iter()
            .filter_map(|e| e.message().map(str::to_owned))
            .collect::<Vec<_>>()
    };

    // From the head, forward: 100, 100, 50, then nothing and the same token back.
    let first = get().start_from_head(true).send().await.unwrap();
    assert_eq!(messages(&first)[0], "e0");
    assert_eq!(messages(&first).len(), 100);
    let f1 = first.next_forward_token().unwrap().to_owned();
    assert!(
        f1.starts_with("f/") && f1.ends_with("/s") && f1.len() == 60,
        "{f1}"
    );
    assert!(first.next_backward_token().unwrap().starts_with("b/"));
    let second = get()
        .start_from_head(true)
        .next_token(&f1)
        .send()
        .await
        .unwrap();
    assert_eq!(messages(&second)[0], "e100");
    let third = get()
        .start_from_head(true)
        .next_token(second.next_forward_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(messages(&third).len(), 50);
    assert_eq!(messages(&third)[49], "e249");
    let end_token = third.next_forward_token().unwrap().to_owned();
    let end = get()
        .start_from_head(true)
        .next_token(&end_token)
        .send()
        .await
        .unwrap();
    assert!(end.events().is_empty());
    assert_eq!(end.next_forward_token(), Some(end_token.as_str()));

    // Backward from the third page goes back to the second.
    let back = get()
        .next_token(third.next_backward_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(messages(&back), messages(&second));
    let back_more = get()
        .next_token(first.next_backward_token().unwrap())
        .send()
        .await
        .unwrap();
    assert!(back_more.events().is_empty());
    assert_eq!(back_more.next_backward_token(), first.next_backward_token());

    // Without startFromHead: the latest events, oldest first.
    let latest = get().send().await.unwrap();
    assert_eq!(messages(&latest).len(), 100);
    assert_eq!(messages(&latest)[0], "e150");
    assert_eq!(messages(&latest)[99], "e249");
    let earlier = get()
        .next_token(latest.next_backward_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(messages(&earlier)[0], "e50");

    // A time range: startTime inclusive, endTime exclusive.
    let ranged = logs
        .get_log_events()
        .log_group_name("paging")
        .log_stream_name("s")
        .start_time(base + 10)
        .end_time(base + 15)
        .start_from_head(true)
        .send()
        .await
        .unwrap();
    assert_eq!(messages(&ranged), ["e10", "e11", "e12", "e13", "e14"]);
    let event = &ranged.events()[0];
    assert_eq!(event.timestamp(), Some(base + 10));
    assert!(event.ingestion_time().unwrap() >= base);

    // The SDK's paginator follows forward tokens until the same token comes back.
    let pages = logs
        .get_log_events()
        .log_group_name("paging")
        .log_stream_name("s")
        .start_from_head(true)
        .limit(60)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let total: usize = pages
        .iter()
        .map(|p| p.as_ref().unwrap().events().len())
        .sum();
    assert_eq!(total, 250);

    let e = get().next_token("f/nonsense").send().await.unwrap_err();
    assert_eq!(
        error(&e),
        (
            "InvalidParameterException".into(),
            "The specified nextToken is invalid.".into()
        )
    );
}

#[tokio::test]
async fn filter_log_events_with_patterns() {
    let skyport = Skyport::start();
    let logs = client(&skyport.endpoint());
    group_and_stream(&logs, "/svc", "web-1").await;
    for s in ["web-2", "worker"] {
        logs.create_log_stream()
            .log_group_name("/svc")
            .log_stream_name(s)
            .send()
            .await
            .unwrap();
    }
    let t = now_ms() - 10_000;
    put(
        &logs,
        "/svc",
        "web-1",
        vec![
            event(t, "[ERROR] Caught IllegalArgumentException"),
            event(
                t + 3,
                r#"{"level": "error", "latency": 1500, "user": {"id": 7}}"#,
            ),
            event(t + 6, "INFO request done 200"),
        ],
    )
    .await;
    put(
        &logs,
        "/svc",
        "web-2",
        vec![
            event(t + 1, "[WARN] Failed to process the request"),
            event(
                t + 4,
                r#"{"level": "info", "latency": 20, "user": {"id": 8}}"#,
            ),
        ],
    )
    .await;
    put(
        &logs,
        "/svc",
        "worker",
        vec![
            event(t + 2, "ERROR WARN message"),
            event(t + 5, r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#),
        ],
    )
    .await;

    let filter = |pattern: &str| {
        logs.filter_log_events()
            .log_group_name("/svc")
            .filter_pattern(pattern)
            .send()
    };
    let found =
        |out: &aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsOutput| {
            out.events()
                .iter()
                .map(|e| e.timestamp().unwrap() - t)
                .collect::<Vec<_>>()
        };

    // Everything, merged across streams in time order.
    let all = logs
        .filter_log_events()
        .log_group_name("/svc")
        .send()
        .await
        .unwrap();
    assert_eq!(found(&all), [0, 1, 2, 3, 4, 5, 6]);
    assert!(all.next_token().is_none());
    assert!(all.searched_log_streams().is_empty());
    let first = &all.events()[0];
    assert_eq!(first.log_stream_name(), Some("web-1"));
    assert_eq!(first.event_id().map(str::len), Some(56));
    assert!(first.ingestion_time().is_some());
    let mut ids: Vec<&str> = all.events().iter().filter_map(|e| e.event_id()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 7);

    for (pattern, expected) in [
        ("ERROR", vec![0, 2]),
        ("ERROR Exception", vec![0]),
        ("?ERROR ?WARN", vec![0, 1, 2]),
        ("ERROR -WARN", vec![0]),
        ("\"Failed to process\"", vec![1]),
        ("%Illegal[A-Za-z]+Exception%", vec![0]),
        ("{ $.level = \"error\" }", vec![3]),
        ("{ $.latency > 1000 }", vec![3]),
        ("{ $.latency < 1000 || $.user.id = 7 }", vec![3, 4]),
        ("{ $.level = err* && $.user.id != 8 }", vec![3]),
        ("{ $.missing NOT EXISTS }", vec![3, 4]),
        (
            "[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]",
            vec![5],
        ),
        ("[..., status_code, bytes > 1000]", vec![5]),
        ("", vec![0, 1, 2, 3, 4, 5, 6]),
    ] {
        let out = filter(pattern).await.unwrap();
        assert_eq!(found(&out), expected, "{pattern}");
    }

    for (pattern, message) in [
        ("Status:", "Invalid character(s) in term ':'"),
        ("{ $.level = ", "Invalid filter pattern"),
        ("[a, b", "Invalid filter pattern"),
    ] {
        let e = filter(pattern).await.unwrap_err();
        assert_eq!(
            error(&e),
            ("InvalidParameterException".into(), message.into()),
            "{pattern}"
        );
    }

    // Stream names, a stream prefix, the ARN, time range (endTime inclusive).
    let out = logs
        .filter_log_events()
        .log_group_name("/svc")
        .log_stream_names("worker")
        .log_stream_names("web-2")
        .send()
        .await
        .unwrap();
    assert_eq!(found(&out), [1, 2, 4, 5]);
    let out = logs
        .filter_log_events()
        .log_group_identifier("arn:aws:logs:us-east-1:000000000000:log-group:/svc")
        .log_stream_name_prefix("web-")
        .start_time(t + 1)
        .end_time(t + 4)
        .send()
        .await
        .unwrap();
    assert_eq!(found(&out), [1, 3, 4]);
    let e = logs
        .filter_log_events()
        .log_group_name("/svc")
        .log_stream_names("worker")
        .log_stream_name_prefix("w")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).0, "InvalidParameterException");
    let e = logs
        .filter_log_events()
        .log_group_name("/svc")
        .log_group_identifier("/svc")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).0, "InvalidParameterException");
    let e = logs
        .filter_log_events()
        .log_group_name("/none")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "ResourceNotFoundException".into(),
            "The specified log group does not exist.".into()
        )
    );

    // Pages of two through nextToken, and the SDK's paginator.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = logs
            .filter_log_events()
            .log_group_name("/svc")
            .limit(2)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        assert!(out.events().len() <= 2);
        seen.extend(found(&out));
        match out.next_token() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, [0, 1, 2, 3, 4, 5, 6]);
    let pages = logs
        .filter_log_events()
        .log_group_name("/svc")
        .filter_pattern("?ERROR ?WARN ?INFO")
        .limit(1)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let total: usize = pages
        .iter()
        .map(|p| p.as_ref().unwrap().events().len())
        .sum();
    assert_eq!(total, 4);
}

#[tokio::test]
async fn a_follower_sees_new_events_at_once() {
    let skyport = Skyport::start();
    let logs = client(&skyport.endpoint());
    group_and_stream(&logs, "/aws/lambda/f", "2026/01/01/[$LATEST]abc").await;
    let start = now_ms() - 1000;
    let poll = || {
        logs.filter_log_events()
            .log_group_name("/aws/lambda/f")
            .start_time(start)
            .send()
    };
    assert!(poll().await.unwrap().events().is_empty());
    let written = Instant::now();
    put(
        &logs,
        "/aws/lambda/f",
        "2026/01/01/[$LATEST]abc",
        vec![event(now_ms(), "START RequestId: 1 Version: $LATEST")],
    )
    .await;
    let out = poll().await.unwrap();
    assert_eq!(out.events().len(), 1);
    assert!(written.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn retention_hides_expired_events() {
    let skyport = Skyport::start();
    let logs = client(&skyport.endpoint());
    group_and_stream(&logs, "kept", "s").await;
    let now = now_ms();
    let day = 86_400_000;
    put(
        &logs,
        "kept",
        "s",
        vec![event(now - 5 * day, "five days old")],
    )
    .await;
    put(&logs, "kept", "s", vec![event(now - 1000, "fresh")]).await;
    let messages = |events: Vec<String>| events;
    let filtered = || async {
        messages(
            logs.filter_log_events()
                .log_group_name("kept")
                .send()
                .await
                .unwrap()
                .events()
                .iter()
                .filter_map(|e| e.message().map(str::to_owned))
                .collect(),
        )
    };
    assert_eq!(filtered().await, ["five days old", "fresh"]);
    logs.put_retention_policy()
        .log_group_name("kept")
        .retention_in_days(3)
        .send()
        .await
        .unwrap();
    assert_eq!(filtered().await, ["fresh"]);
    let got = logs
        .get_log_events()
        .log_group_name("kept")
        .log_stream_name("s")
        .start_from_head(true)
        .send()
        .await
        .unwrap();
    assert_eq!(got.events().len(), 1);
    // The next upload purges what the retention dropped.
    put(&logs, "kept", "s", vec![event(now, "later")]).await;
    let group = logs
        .describe_log_groups()
        .log_group_name_prefix("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(
        group.log_groups()[0].stored_bytes(),
        Some(("fresh".len() + "later".len()) as i64)
    );
    logs.delete_retention_policy()
        .log_group_name("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(filtered().await, ["fresh", "later"]);
}

#[tokio::test]
async fn large_streams_read_by_range() {
    let skyport = Skyport::start();
    let logs = client(&skyport.endpoint());
    group_and_stream(&logs, "big", "s").await;
    let base = now_ms() - 3_600_000;
    for batch in 0..4 {
        let events: Vec<InputLogEvent> = (0..10_000)
            .map(|i| {
                let n = batch * 10_000 + i;
                let level = if n % 1000 == 0 { "ERROR" } else { "INFO" };
                event(base + n, format!("{level} line {n}"))
            })
            .collect();
        put(&logs, "big", "s", events).await;
    }
    let started = Instant::now();
    let latest = logs
        .get_log_events()
        .log_group_name("big")
        .log_stream_name("s")
        .limit(10)
        .send()
        .await
        .unwrap();
    assert_eq!(
        latest.events().last().and_then(|e| e.message()),
        Some("INFO line 39999")
    );
    let window = logs
        .get_log_events()
        .log_group_name("big")
        .log_stream_name("s")
        .start_time(base + 20_000)
        .end_time(base + 20_005)
        .send()
        .await
        .unwrap();
    assert_eq!(window.events().len(), 5);
    let errors = logs
        .filter_log_events()
        .log_group_name("big")
        .filter_pattern("ERROR")
        .send()
        .await
        .unwrap();
    assert_eq!(errors.events().len(), 40);
    let all = logs
        .filter_log_events()
        .log_group_name("big")
        .send()
        .await
        .unwrap();
    assert_eq!(all.events().len(), 10_000);
    assert!(all.next_token().is_some());
    eprintln!("reads over 40,000 events took {:?}", started.elapsed());
}

#[tokio::test]
async fn events_survive_kill_nine_with_persistence() {
    let state = tempfile::tempdir().unwrap();
    let options = Options::default()
        .env("PERSISTENCE", "1")
        .state_dir(state.path());
    let now = now_ms();
    {
        let skyport = Skyport::start_with(options.clone());
        let logs = client(&skyport.endpoint());
        group_and_stream(&logs, "durable", "s").await;
        logs.put_retention_policy()
            .log_group_name("durable")
            .retention_in_days(30)
            .send()
            .await
            .unwrap();
        put(
            &logs,
            "durable",
            "s",
            vec![event(now, "one"), event(now + 1, "two")],
        )
        .await;
        skyport.signal("KILL");
    }
    let skyport = Skyport::start_with(options);
    let logs = client(&skyport.endpoint());
    let got = logs
        .get_log_events()
        .log_group_name("durable")
        .log_stream_name("s")
        .start_from_head(true)
        .send()
        .await
        .unwrap();
    let messages: Vec<&str> = got.events().iter().filter_map(|e| e.message()).collect();
    assert_eq!(messages, ["one", "two"]);
    let groups = logs.describe_log_groups().send().await.unwrap();
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(30));
    // New events keep their order after the restart (the sequence survives).
    put(&logs, "durable", "s", vec![event(now + 1, "three")]).await;
    let got = logs
        .filter_log_events()
        .log_group_name("durable")
        .send()
        .await
        .unwrap();
    let messages: Vec<&str> = got.events().iter().filter_map(|e| e.message()).collect();
    assert_eq!(messages, ["one", "two", "three"]);
}

const BOTO3: &str = r#"
import sys, time
import boto3, botocore

logs = boto3.client("logs", endpoint_url=sys.argv[1], region_name="us-east-1",
                    aws_access_key_id="test", aws_secret_access_key="test")
logs.create_log_group(logGroupName="/py/app")
logs.create_log_stream(logGroupName="/py/app", logStreamName="s1")
logs.create_log_stream(logGroupName="/py/app", logStreamName="s2")
now = int(time.time() * 1000)
logs.put_log_events(logGroupName="/py/app", logStreamName="s1",
                    logEvents=[{"timestamp": now - 2000 + i, "message": f"line {i}"} for i in range(120)])
logs.put_log_events(logGroupName="/py/app", logStreamName="s2",
                    logEvents=[{"timestamp": now - 1000, "message": '{"status": 503, "path": "/x"}'}])

# What `aws logs tail` (CLI v2) does without --follow: FilterLogEvents pages from a start time,
# interleaved, printing timestamp, stream and message.
paginator = logs.get_paginator("filter_log_events")
lines = []
for page in paginator.paginate(logGroupName="/py/app", startTime=now - 600000, interleaved=True,
                               PaginationConfig={"PageSize": 50}):
    for e in page["events"]:
        lines.append((e["timestamp"], e["logStreamName"], e["message"]))
assert len(lines) == 121, len(lines)
assert lines[0][2] == "line 0" and lines[-1][1] == "s2", lines[-1]

hits = logs.filter_log_events(logGroupName="/py/app", filterPattern="{ $.status >= 500 }")["events"]
assert [e["logStreamName"] for e in hits] == ["s2"], hits

events = []
for page in logs.get_paginator("describe_log_streams").paginate(logGroupName="/py/app"):
    events.extend(s["logStreamName"] for s in page["logStreams"])
assert events == ["s1", "s2"], events

got = logs.get_log_events(logGroupName="/py/app", logStreamName="s1", startFromHead=True, limit=100)
assert len(got["events"]) == 100
got2 = logs.get_log_events(logGroupName="/py/app", logStreamName="s1", startFromHead=True,
                           nextToken=got["nextForwardToken"])
assert [e["message"] for e in got2["events"]][-1] == "line 119"

try:
    logs.filter_log_events(logGroupName="/py/app", filterPattern="a:b")
    raise SystemExit("expected InvalidParameterException")
except botocore.exceptions.ClientError as e:
    err = e.response["Error"]
    assert err["Code"] == "InvalidParameterException", err
    assert err["Message"] == "Invalid character(s) in term ':'", err
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400

try:
    logs.describe_log_streams(logGroupName="/py/missing")
    raise SystemExit("expected ResourceNotFoundException")
except logs.exceptions.ResourceNotFoundException as e:
    assert e.response["Error"]["Message"] == "The specified log group does not exist."
print("ok")
"#;

#[test]
fn boto3_paginators_tail_calls_and_errors() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(BOTO3)
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

fn aws(endpoint: &str, args: &[&str]) -> (bool, String, String) {
    let (status, out, err) = run(Command::new("aws")
        .arg("--endpoint-url")
        .arg(endpoint)
        .arg("--region")
        .arg("us-east-1")
        .arg("--output")
        .arg("json")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .env("AWS_PAGER", "")
        .args(args));
    (status.success(), out, err)
}

#[test]
fn aws_cli_logs_commands() {
    if !require("aws") {
        return;
    }
    let skyport = Skyport::start();
    let ep = skyport.endpoint();
    let ok = |args: &[&str]| {
        let (ok, out, err) = aws(&ep, args);
        assert!(ok, "aws {args:?}: {out}\n{err}");
        out
    };
    ok(&["logs", "create-log-group", "--log-group-name", "/cli/app"]);
    ok(&[
        "logs",
        "create-log-stream",
        "--log-group-name",
        "/cli/app",
        "--log-stream-name",
        "main",
    ]);
    let now = now_ms();
    let events = format!(
        r#"[{{"timestamp": {}, "message": "START request"}}, {{"timestamp": {}, "message": "ERROR boom"}}, {{"timestamp": {}, "message": "END request"}}]"#,
        now - 3,
        now - 2,
        now - 1
    );
    let put = ok(&[
        "logs",
        "put-log-events",
        "--log-group-name",
        "/cli/app",
        "--log-stream-name",
        "main",
        "--log-events",
        &events,
    ]);
    assert!(put.contains("nextSequenceToken"), "{put}");
    let filtered = ok(&[
        "logs",
        "filter-log-events",
        "--log-group-name",
        "/cli/app",
        "--filter-pattern",
        "ERROR",
    ]);
    let v: serde_json::Value = serde_json::from_str(&filtered).unwrap();
    assert_eq!(v["events"].as_array().unwrap().len(), 1, "{filtered}");
    assert_eq!(v["events"][0]["message"], "ERROR boom");
    let got = ok(&[
        "logs",
        "get-log-events",
        "--log-group-name",
        "/cli/app",
        "--log-stream-name",
        "main",
        "--start-from-head",
    ]);
    let v: serde_json::Value = serde_json::from_str(&got).unwrap();
    let messages: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(messages, ["START request", "ERROR boom", "END request"]);
    assert!(v["nextForwardToken"].as_str().unwrap().starts_with("f/"));
    let described = ok(&["logs", "describe-log-groups"]);
    assert!(described.contains("arn:aws:logs:us-east-1:000000000000:log-group:/cli/app:*"));

    let (failed, _, err) = aws(
        &ep,
        &["logs", "create-log-group", "--log-group-name", "/cli/app"],
    );
    assert!(!failed);
    assert!(err.contains("ResourceAlreadyExistsException"), "{err}");
    let (failed, _, err) = aws(
        &ep,
        &[
            "logs",
            "filter-log-events",
            "--log-group-name",
            "/cli/app",
            "--filter-pattern",
            "{ $.x = ",
        ],
    );
    assert!(!failed);
    assert!(err.contains("InvalidParameterException") && err.contains("Invalid filter pattern"));

    // `aws logs tail` is AWS CLI v2's: it reads FilterLogEvents from a start time. The v1 CLI has no
    // such command; the boto3 test above makes the same calls.
    let (has_tail, _, _) = aws(&ep, &["logs", "tail", "help"]);
    if has_tail {
        let tailed = ok(&["logs", "tail", "/cli/app", "--since", "10m"]);
        assert!(
            tailed.contains("main START request") && tailed.contains("main ERROR boom"),
            "{tailed}"
        );
        let errors = ok(&[
            "logs",
            "tail",
            "/cli/app",
            "--since",
            "10m",
            "--filter-pattern",
            "ERROR",
            "--format",
            "short",
        ]);
        assert!(
            errors.contains("ERROR boom") && !errors.contains("START"),
            "{errors}"
        );
    } else {
        eprintln!("aws logs tail needs AWS CLI v2; skipped");
    }
}

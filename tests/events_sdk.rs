//! EventBridge through the official `aws-sdk-eventbridge` crate (awsJson 1.1) against the real binary:
//! buses (default and custom, tags, AWS's errors), rules (patterns, schedules, states, pagination,
//! targets and their limits, TestEventPattern), PutEvents (per-entry errors, limits) routed to SQS
//! with Input, InputPath and InputTransformer, FIFO queues and bus-to-bus targets, S3's
//! EventBridgeConfiguration delivering "Object Created" and "Object Deleted", a `rate(1 minute)` rule
//! firing on a shortened schedule minute, persistence across a restart, and SNS targets publishing to a
//! topic that fans out to a queue.

mod common;

use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::config::{BehaviorVersion, Region};
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::types::{
    InputTransformer, PutEventsRequestEntry, RuleState, SqsParameters, Tag, Target,
};
use common::{Options, Skyport};
use serde_json::{Value, json};

fn client(endpoint: &str) -> Client {
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    Client::from_conf(config)
}

fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
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

/// A queue's URL and ARN.
async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let mut create = sqs.create_queue().queue_name(name);
    if name.ends_with(".fifo") {
        create = create.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
    }
    let url = create.send().await.unwrap().queue_url.unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let arn = attrs
        .attributes
        .unwrap()
        .get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .unwrap()
        .clone();
    (url, arn)
}

/// Receives messages until `count` arrived or `timeout` passed; their bodies.
async fn receive(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    count: usize,
    timeout: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut bodies = Vec::new();
    while bodies.len() < count && Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages.unwrap_or_default() {
            bodies.push(m.body.unwrap_or_default());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle.unwrap_or_default())
                .send()
                .await
                .unwrap();
        }
    }
    bodies
}

fn entry(source: &str, detail_type: &str, detail: &str) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .source(source)
        .detail_type(detail_type)
        .detail(detail)
        .build()
}

fn target(id: &str, arn: &str) -> aws_sdk_eventbridge::types::builders::TargetBuilder {
    Target::builder().id(id).arn(arn)
}

#[tokio::test]
async fn event_buses_default_custom_tags_and_errors() {
    let skyport = Skyport::start();
    let eb = client(&skyport.endpoint());

    let default = eb.describe_event_bus().send().await.unwrap();
    assert_eq!(default.name(), Some("default"));
    assert_eq!(
        default.arn(),
        Some("arn:aws:events:us-east-1:000000000000:event-bus/default")
    );

    let created = eb
        .create_event_bus()
        .name("orders")
        .description("order events")
        .tags(Tag::builder().key("team").value("shop").build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.event_bus_arn(),
        Some("arn:aws:events:us-east-1:000000000000:event-bus/orders")
    );
    let again = eb
        .create_event_bus()
        .name("orders")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&again),
        (
            "ResourceAlreadyExistsException".into(),
            "Event bus orders already exists.".into()
        )
    );
    let again = eb
        .create_event_bus()
        .name("default")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&again).0, "ResourceAlreadyExistsException");

    let slash = eb.create_event_bus().name("a/b").send().await.unwrap_err();
    assert_eq!(
        error(&slash),
        (
            "ValidationException".into(),
            "Event bus name must not contain '/'.".into()
        )
    );
    let described = eb.describe_event_bus().name("orders").send().await.unwrap();
    assert_eq!(described.description(), Some("order events"));
    assert!(described.creation_time().is_some());
    let missing = eb
        .describe_event_bus()
        .name("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&missing),
        (
            "ResourceNotFoundException".into(),
            "Event bus nope does not exist.".into()
        )
    );

    let names: Vec<String> = eb
        .list_event_buses()
        .send()
        .await
        .unwrap()
        .event_buses()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect();
    assert_eq!(names, ["default", "orders"]);
    let page = eb.list_event_buses().limit(1).send().await.unwrap();
    assert_eq!(page.event_buses().len(), 1);
    let rest = eb
        .list_event_buses()
        .next_token(page.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.event_buses()[0].name(), Some("orders"));
    assert!(rest.next_token().is_none());
    let prefixed = eb
        .list_event_buses()
        .name_prefix("ord")
        .send()
        .await
        .unwrap();
    assert_eq!(prefixed.event_buses().len(), 1);

    let arn = "arn:aws:events:us-east-1:000000000000:event-bus/orders";
    eb.tag_resource()
        .resource_arn(arn)
        .tags(Tag::builder().key("env").value("dev").build().unwrap())
        .send()
        .await
        .unwrap();
    eb.untag_resource()
        .resource_arn(arn)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = eb
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    let tags: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("env", "dev")]);

    let refused = eb
        .delete_event_bus()
        .name("default")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&refused),
        (
            "ValidationException".into(),
            "Cannot delete event bus default.".into()
        )
    );
    eb.delete_event_bus().name("orders").send().await.unwrap();
    // Deleting a bus that is gone succeeds, as in AWS.
    eb.delete_event_bus().name("orders").send().await.unwrap();
    let gone = eb
        .describe_event_bus()
        .name("orders")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&gone).0, "ResourceNotFoundException");
}

#[tokio::test]
async fn rules_targets_patterns_and_their_errors() {
    let skyport = Skyport::start();
    let eb = client(&skyport.endpoint());
    let sqs = sqs_client(&skyport.endpoint());
    let (_, queue_arn) = queue(&sqs, "rules-q").await;
    let (_, fifo_arn) = queue(&sqs, "rules-q.fifo").await;

    let bad = eb
        .put_rule()
        .name("bad")
        .event_pattern(r#"{"source": [{"nope": 1}]}"#)
        .send()
        .await
        .unwrap_err();
    let (code, message) = error(&bad);
    assert_eq!(code, "InvalidEventPatternException");
    assert!(
        message.starts_with("Event pattern is not valid. Reason: "),
        "{message}"
    );
    let neither = eb.put_rule().name("neither").send().await.unwrap_err();
    assert_eq!(
        error(&neither),
        (
            "ValidationException".into(),
            "Parameter(s) EventPattern or ScheduleExpression must be specified.".into()
        )
    );
    for expression in [
        "rate(1 minutes)",
        "rate(0 minutes)",
        "cron(0 10 * * * *)",
        "every minute",
    ] {
        let e = eb
            .put_rule()
            .name("sched")
            .schedule_expression(expression)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            error(&e),
            (
                "ValidationException".into(),
                "Parameter ScheduleExpression is not valid.".into()
            ),
            "{expression}"
        );
    }
    eb.create_event_bus().name("custom").send().await.unwrap();
    let custom_schedule = eb
        .put_rule()
        .name("sched")
        .event_bus_name("custom")
        .schedule_expression("rate(5 minutes)")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&custom_schedule).0, "ValidationException");
    let no_bus = eb
        .put_rule()
        .name("r")
        .event_bus_name("nope")
        .event_pattern(r#"{"source": ["a"]}"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&no_bus),
        (
            "ResourceNotFoundException".into(),
            "Event bus nope does not exist.".into()
        )
    );

    for name in ["orders-a", "orders-b", "other"] {
        let arn = eb
            .put_rule()
            .name(name)
            .event_pattern(r#"{"source": ["shop"]}"#)
            .description("d")
            .send()
            .await
            .unwrap()
            .rule_arn
            .unwrap();
        assert_eq!(
            arn,
            format!("arn:aws:events:us-east-1:000000000000:rule/{name}")
        );
    }
    let custom_arn = eb
        .put_rule()
        .name("on-custom")
        .event_bus_name("custom")
        .event_pattern(r#"{"source": ["shop"]}"#)
        .send()
        .await
        .unwrap()
        .rule_arn
        .unwrap();
    assert_eq!(
        custom_arn,
        "arn:aws:events:us-east-1:000000000000:rule/custom/on-custom"
    );
    eb.put_rule()
        .name("cron")
        .schedule_expression("cron(0/5 8-17 ? * MON-FRI *)")
        .state(RuleState::Disabled)
        .send()
        .await
        .unwrap();

    let described = eb.describe_rule().name("orders-a").send().await.unwrap();
    assert_eq!(described.state(), Some(&RuleState::Enabled));
    assert_eq!(described.event_bus_name(), Some("default"));
    assert_eq!(described.event_pattern(), Some(r#"{"source": ["shop"]}"#));
    let missing = eb.describe_rule().name("nope").send().await.unwrap_err();
    assert_eq!(
        error(&missing),
        (
            "ResourceNotFoundException".into(),
            "Rule nope does not exist on EventBus default.".into()
        )
    );

    let first = eb
        .list_rules()
        .name_prefix("orders")
        .limit(1)
        .send()
        .await
        .unwrap();
    assert_eq!(first.rules()[0].name(), Some("orders-a"));
    let second = eb
        .list_rules()
        .name_prefix("orders")
        .limit(1)
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(second.rules()[0].name(), Some("orders-b"));
    assert!(second.next_token().is_none());
    assert_eq!(eb.list_rules().send().await.unwrap().rules().len(), 4);
    assert_eq!(
        eb.list_rules()
            .event_bus_name("custom")
            .send()
            .await
            .unwrap()
            .rules()
            .len(),
        1
    );

    eb.disable_rule().name("orders-a").send().await.unwrap();
    assert_eq!(
        eb.describe_rule()
            .name("orders-a")
            .send()
            .await
            .unwrap()
            .state(),
        Some(&RuleState::Disabled)
    );
    eb.enable_rule().name("orders-a").send().await.unwrap();
    let missing = eb.enable_rule().name("nope").send().await.unwrap_err();
    assert_eq!(error(&missing).0, "ResourceNotFoundException");

    let put = eb
        .put_targets()
        .rule("orders-a")
        .targets(target("q", &queue_arn).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_entry_count(), 0);
    assert!(put.failed_entries().is_empty());
    let targets = eb
        .list_targets_by_rule()
        .rule("orders-a")
        .send()
        .await
        .unwrap();
    assert_eq!(targets.targets()[0].arn(), queue_arn);
    let names = eb
        .list_rule_names_by_target()
        .target_arn(&queue_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(names.rule_names(), ["orders-a"]);

    let busy = eb.delete_rule().name("orders-a").send().await.unwrap_err();
    assert_eq!(
        error(&busy),
        (
            "ValidationException".into(),
            "Rule can't be deleted since it has targets.".into()
        )
    );
    let too_many = eb
        .put_targets()
        .rule("orders-b")
        .set_targets(Some(
            (0..6)
                .map(|i| target(&format!("t{i}"), &queue_arn).build().unwrap())
                .collect(),
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&too_many).0, "LimitExceededException");
    let no_group = eb
        .put_targets()
        .rule("orders-b")
        .targets(target("f", &fifo_arn).build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&no_group).0, "ValidationException");
    let two_inputs = eb
        .put_targets()
        .rule("orders-b")
        .targets(
            target("x", &queue_arn)
                .input("{}")
                .input_path("$.detail")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&two_inputs).0, "ValidationException");
    let unknown = eb
        .put_targets()
        .rule("orders-b")
        .targets(
            target("t", &queue_arn)
                .input_transformer(
                    InputTransformer::builder()
                        .input_paths_map("a", "$.detail.a")
                        .input_template("<a> and <b>")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&unknown),
        (
            "ValidationException".into(),
            "InputTemplate for target t contains invalid placeholder b.".into()
        )
    );
    let no_rule = eb
        .put_targets()
        .rule("nope")
        .targets(target("q", &queue_arn).build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&no_rule).0, "ResourceNotFoundException");

    let removed = eb
        .remove_targets()
        .rule("orders-a")
        .ids("q")
        .send()
        .await
        .unwrap();
    assert_eq!(removed.failed_entry_count(), 0);
    eb.delete_rule().name("orders-a").send().await.unwrap();
    assert_eq!(eb.list_rules().send().await.unwrap().rules().len(), 3);

    let event = json!({"id": "1", "account": "000000000000", "source": "shop", "time": "2026-12-07T00:00:00Z",
                       "region": "us-east-1", "detail-type": "Order", "resources": [], "detail": {"total": 12}})
    .to_string();
    let matches = |pattern: &'static str| {
        let eb = eb.clone();
        let event = event.clone();
        async move {
            eb.test_event_pattern()
                .event_pattern(pattern)
                .event(event)
                .send()
                .await
                .map(|r| r.result())
        }
    };
    assert!(
        matches(r#"{"detail": {"total": [{"numeric": [">", 10]}]}}"#)
            .await
            .unwrap()
    );
    assert!(
        !matches(r#"{"source": [{"prefix": "warehouse"}]}"#)
            .await
            .unwrap()
    );
    let invalid = matches(r#"{"source": "shop"}"#).await.unwrap_err();
    assert_eq!(error(&invalid).0, "InvalidEventPatternException");
    let bad_event = eb
        .test_event_pattern()
        .event_pattern(r#"{"source": ["shop"]}"#)
        .event(r#"{"source": "shop"}"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&bad_event),
        (
            "ValidationException".into(),
            "Parameter Event is not valid.".into()
        )
    );
}

#[tokio::test]
async fn put_events_validates_each_entry_and_the_request() {
    let skyport = Skyport::start();
    let eb = client(&skyport.endpoint());

    let out = eb
        .put_events()
        .entries(entry("shop", "Order", r#"{"n": 1}"#))
        .entries(
            PutEventsRequestEntry::builder()
                .detail_type("Order")
                .detail("{}")
                .build(),
        )
        .entries(
            PutEventsRequestEntry::builder()
                .source("shop")
                .detail("{}")
                .build(),
        )
        .entries(
            PutEventsRequestEntry::builder()
                .source("shop")
                .detail_type("Order")
                .build(),
        )
        .entries(entry("shop", "Order", "[1, 2]"))
        .entries(entry("shop", "Order", "not json"))
        .entries(entry("aws.s3", "Object Created", "{}"))
        .entries(
            PutEventsRequestEntry::builder()
                .source("shop")
                .detail_type("Order")
                .detail("{}")
                .event_bus_name("nope")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_entry_count(), 7);
    let entries = out.entries();
    assert!(entries[0].event_id().is_some_and(|id| id.len() == 36));
    assert!(entries[0].error_code().is_none());
    let codes: Vec<(Option<&str>, Option<&str>)> = entries[1..]
        .iter()
        .map(|e| (e.error_code(), e.error_message()))
        .collect();
    assert_eq!(
        codes,
        [
            (
                Some("InvalidArgument"),
                Some("Parameter Source is not valid. Reason: Source is a required argument.")
            ),
            (
                Some("InvalidArgument"),
                Some(
                    "Parameter DetailType is not valid. Reason: DetailType is a required argument."
                )
            ),
            (
                Some("InvalidArgument"),
                Some("Parameter Detail is not valid. Reason: Detail is a required argument.")
            ),
            (Some("MalformedDetail"), Some("Detail is malformed.")),
            (Some("MalformedDetail"), Some("Detail is malformed.")),
            (
                Some("NotAuthorizedForSourceException"),
                Some("Not authorized for the source.")
            ),
            (
                Some("ResourceNotFoundException"),
                Some("Event bus nope does not exist.")
            ),
        ]
    );
    assert!(entries[1..].iter().all(|e| e.event_id().is_none()));

    let eleven = eb
        .put_events()
        .set_entries(Some(
            (0..11).map(|_| entry("shop", "Order", "{}")).collect(),
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&eleven).0, "ValidationException");
    let big = format!(r#"{{"blob": "{}"}}"#, "x".repeat(200 * 1024));
    let too_big = eb
        .put_events()
        .entries(entry("shop", "Order", &big))
        .entries(entry("shop", "Order", &big))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&too_big),
        (
            "ValidationException".into(),
            "Total size of the entries in the request is over the limit.".into()
        )
    );
}

#[tokio::test]
async fn custom_bus_routes_to_queues_with_transformers_paths_fifo_and_bus_targets() {
    let skyport = Skyport::start();
    let eb = client(&skyport.endpoint());
    let sqs = sqs_client(&skyport.endpoint());
    let (plain_url, plain_arn) = queue(&sqs, "plain").await;
    let (shaped_url, shaped_arn) = queue(&sqs, "shaped").await;
    let (path_url, path_arn) = queue(&sqs, "path").await;
    let (fifo_url, fifo_arn) = queue(&sqs, "orders.fifo").await;
    let (forwarded_url, forwarded_arn) = queue(&sqs, "forwarded").await;

    eb.create_event_bus().name("shop").send().await.unwrap();
    eb.put_rule()
        .name("big-orders")
        .event_bus_name("shop")
        .event_pattern(
            r#"{"source": ["shop.orders"], "detail": {"total": [{"numeric": [">=", 100]}]}}"#,
        )
        .send()
        .await
        .unwrap();
    let transformer = InputTransformer::builder()
        .input_paths_map("id", "$.detail.id")
        .input_paths_map("total", "$.detail.total")
        .input_template(r#"{"order": <id>, "text": "order <id> costs <total>", "total": <total>, "rule": "<aws.events.rule-name>"}"#)
        .build()
        .unwrap();
    eb.put_targets()
        .rule("big-orders")
        .event_bus_name("shop")
        .targets(target("plain", &plain_arn).build().unwrap())
        .targets(
            target("shaped", &shaped_arn)
                .input_transformer(transformer)
                .build()
                .unwrap(),
        )
        .targets(
            target("path", &path_arn)
                .input_path("$.detail")
                .build()
                .unwrap(),
        )
        .targets(
            target("fifo", &fifo_arn)
                .sqs_parameters(SqsParameters::builder().message_group_id("orders").build())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // The default bus forwards its "forward" events to the shop bus, whose own rule takes them on.
    eb.put_rule()
        .name("forward")
        .event_pattern(r#"{"detail-type": ["Forward"]}"#)
        .send()
        .await
        .unwrap();
    eb.put_targets()
        .rule("forward")
        .targets(
            target(
                "bus",
                "arn:aws:events:us-east-1:000000000000:event-bus/shop",
            )
            .build()
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    eb.put_rule()
        .name("forwarded")
        .event_bus_name("shop")
        .event_pattern(r#"{"detail-type": ["Forward"]}"#)
        .send()
        .await
        .unwrap();
    eb.put_targets()
        .rule("forwarded")
        .event_bus_name("shop")
        .targets(
            target("q", &forwarded_arn)
                .input("{\"constant\": true}")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let on_shop = |detail: &str| {
        PutEventsRequestEntry::builder()
            .source("shop.orders")
            .detail_type("Order Placed")
            .detail(detail)
            .resources("arn:aws:shop:order/1")
            .event_bus_name("arn:aws:events:us-east-1:000000000000:event-bus/shop")
            .build()
    };
    let out = eb
        .put_events()
        .entries(on_shop(r#"{"id": "o-1", "total": 150}"#))
        .entries(on_shop(r#"{"id": "o-2", "total": 5}"#))
        .entries(entry("app", "Forward", r#"{"hop": 1}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_entry_count(), 0);
    let id = out.entries()[0].event_id().unwrap().to_owned();

    let plain = receive(&sqs, &plain_url, 1, Duration::from_secs(10)).await;
    assert_eq!(plain.len(), 1, "only the big order matches");
    let event: Value = serde_json::from_str(&plain[0]).unwrap();
    assert_eq!(event["version"], "0");
    assert_eq!(event["id"], id.as_str());
    assert_eq!(event["detail-type"], "Order Placed");
    assert_eq!(event["source"], "shop.orders");
    assert_eq!(event["account"], "000000000000");
    assert_eq!(event["region"], "us-east-1");
    assert_eq!(event["resources"], json!(["arn:aws:shop:order/1"]));
    assert_eq!(event["detail"], json!({"id": "o-1", "total": 150}));
    assert!(
        event["time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.len() == 20)
    );

    let shaped = receive(&sqs, &shaped_url, 1, Duration::from_secs(10)).await;
    let shaped: Value = serde_json::from_str(&shaped[0]).unwrap();
    assert_eq!(
        shaped,
        json!({"order": "o-1", "text": "order o-1 costs 150", "total": 150, "rule": "big-orders"})
    );
    let path = receive(&sqs, &path_url, 1, Duration::from_secs(10)).await;
    assert_eq!(
        serde_json::from_str::<Value>(&path[0]).unwrap(),
        json!({"id": "o-1", "total": 150})
    );
    let fifo = receive(&sqs, &fifo_url, 1, Duration::from_secs(10)).await;
    assert_eq!(fifo.len(), 1);
    let forwarded = receive(&sqs, &forwarded_url, 1, Duration::from_secs(10)).await;
    assert_eq!(forwarded, ["{\"constant\": true}"]);

    // A disabled rule routes nothing.
    eb.disable_rule()
        .name("big-orders")
        .event_bus_name("shop")
        .send()
        .await
        .unwrap();
    eb.put_events()
        .entries(on_shop(r#"{"id": "o-3", "total": 500}"#))
        .send()
        .await
        .unwrap();
    assert!(
        receive(&sqs, &plain_url, 1, Duration::from_secs(2))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn s3_eventbridge_notifications_reach_a_queue_through_a_rule() {
    let skyport = Skyport::start();
    let eb = client(&skyport.endpoint());
    let sqs = sqs_client(&skyport.endpoint());
    let s3 = s3_client(&skyport.endpoint());
    let (url, arn) = queue(&sqs, "s3-events").await;
    s3.create_bucket().bucket("photos").send().await.unwrap();
    s3.put_bucket_notification_configuration()
        .bucket("photos")
        .notification_configuration(
            aws_sdk_s3::types::NotificationConfiguration::builder()
                .event_bridge_configuration(
                    aws_sdk_s3::types::EventBridgeConfiguration::builder().build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let config = s3
        .get_bucket_notification_configuration()
        .bucket("photos")
        .send()
        .await
        .unwrap();
    assert!(config.event_bridge_configuration().is_some());

    eb.put_rule()
        .name("photos")
        .event_pattern(
            r#"{"source": ["aws.s3"], "detail-type": ["Object Created", "Object Deleted"],
                "detail": {"bucket": {"name": ["photos"]}, "object": {"key": [{"prefix": "cats/"}]}}}"#,
        )
        .send()
        .await
        .unwrap();
    eb.put_targets()
        .rule("photos")
        .targets(target("q", &arn).build().unwrap())
        .send()
        .await
        .unwrap();

    let put = s3
        .put_object()
        .bucket("photos")
        .key("cats/tom.jpg")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("photos")
        .key("dogs/rex.jpg")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"woof"))
        .send()
        .await
        .unwrap();
    s3.delete_object()
        .bucket("photos")
        .key("cats/tom.jpg")
        .send()
        .await
        .unwrap();

    let bodies = receive(&sqs, &url, 2, Duration::from_secs(10)).await;
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let created: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(created["source"], "aws.s3");
    assert_eq!(created["detail-type"], "Object Created");
    assert_eq!(created["resources"], json!(["arn:aws:s3:::photos"]));
    let detail = &created["detail"];
    assert_eq!(detail["version"], "0");
    assert_eq!(detail["bucket"]["name"], "photos");
    assert_eq!(detail["object"]["key"], "cats/tom.jpg");
    assert_eq!(detail["object"]["size"], 5);
    assert_eq!(
        detail["object"]["etag"].as_str(),
        put.e_tag().map(|e| e.trim_matches('"'))
    );
    assert!(detail["object"]["sequencer"].is_string());
    assert_eq!(detail["reason"], "PutObject");
    assert_eq!(detail["requester"], "000000000000");
    assert!(detail["request-id"].is_string());
    assert!(detail["source-ip-address"].is_string());
    let deleted: Value = serde_json::from_str(&bodies[1]).unwrap();
    assert_eq!(deleted["detail-type"], "Object Deleted");
    assert_eq!(deleted["detail"]["reason"], "DeleteObject");
    assert_eq!(deleted["detail"]["deletion-type"], "Permanently Deleted");
}

#[tokio::test]
async fn a_rate_rule_fires_scheduled_events_on_a_short_minute() {
    let skyport =
        Skyport::start_with(Options::default().env("SKYPORT_EVENTS_SCHEDULE_MINUTE_MS", "200"));
    let eb = client(&skyport.endpoint());
    let sqs = sqs_client(&skyport.endpoint());
    let (url, arn) = queue(&sqs, "ticks").await;
    let rule_arn = eb
        .put_rule()
        .name("every-minute")
        .schedule_expression("rate(1 minute)")
        .send()
        .await
        .unwrap()
        .rule_arn
        .unwrap();
    eb.put_targets()
        .rule("every-minute")
        .targets(target("q", &arn).build().unwrap())
        .send()
        .await
        .unwrap();
    let ticks = receive(&sqs, &url, 2, Duration::from_secs(15)).await;
    assert!(ticks.len() >= 2, "{ticks:?}");
    let tick: Value = serde_json::from_str(&ticks[0]).unwrap();
    assert_eq!(tick["source"], "aws.events");
    assert_eq!(tick["detail-type"], "Scheduled Event");
    assert_eq!(tick["detail"], json!({}));
    assert_eq!(tick["resources"], json!([rule_arn]));
    assert_eq!(tick["account"], "000000000000");
}

#[tokio::test]
async fn buses_and_rules_survive_a_restart_with_persistence() {
    let state = tempfile::tempdir().unwrap();
    let options = Options::default()
        .env("PERSISTENCE", "1")
        .state_dir(state.path());
    {
        let skyport = Skyport::start_with(options.clone());
        let eb = client(&skyport.endpoint());
        eb.create_event_bus().name("kept").send().await.unwrap();
        eb.put_rule()
            .name("kept-rule")
            .event_bus_name("kept")
            .event_pattern(r#"{"source": ["a"]}"#)
            .send()
            .await
            .unwrap();
        eb.put_targets()
            .rule("kept-rule")
            .event_bus_name("kept")
            .targets(
                target("q", "arn:aws:sqs:us-east-1:000000000000:q")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let skyport = Skyport::start_with(options);
    let eb = client(&skyport.endpoint());
    assert!(eb.describe_event_bus().name("kept").send().await.is_ok());
    let rule = eb
        .describe_rule()
        .name("kept-rule")
        .event_bus_name("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(rule.event_pattern(), Some(r#"{"source": ["a"]}"#));
    let targets = eb
        .list_targets_by_rule()
        .rule("kept-rule")
        .event_bus_name("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(targets.targets()[0].id(), "q");
}

/// Records each event it gets in `$OUT` (one JSON line each).
const RECORDING_HANDLER: &str = r#"
import json, os
def main(event, context):
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps(event) + "\n")
    return {"ok": True}
"#;

#[tokio::test]
async fn lambda_targets_get_the_event_asynchronously() {
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime, State};
    use std::io::Write;

    let skyport = Skyport::start_with(Options::default().env("LAMBDA_EXECUTOR", "local"));
    let eb = client(&skyport.endpoint());
    let lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::Config::builder()
            .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
            .region(aws_sdk_lambda::config::Region::new("us-east-1"))
            .endpoint_url(skyport.endpoint())
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .build(),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("handler.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(RECORDING_HANDLER.as_bytes()).unwrap();
    let code = zip.finish().unwrap().into_inner();
    lambda
        .create_function()
        .function_name("on-event")
        .runtime(Runtime::Python311)
        .role("arn:aws:iam::000000000000:role/lambda-role")
        .handler("handler.main")
        .code(FunctionCode::builder().zip_file(Blob::new(code)).build())
        .environment(
            Environment::builder()
                .variables("OUT", out.to_string_lossy())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while lambda
        .get_function_configuration()
        .function_name("on-event")
        .send()
        .await
        .unwrap()
        .state()
        != Some(&State::Active)
    {
        assert!(
            Instant::now() < deadline,
            "the function never became Active"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    eb.put_rule()
        .name("to-lambda")
        .event_pattern(r#"{"source": ["app"], "detail": {"kind": [{"anything-but": "ignored"}]}}"#)
        .send()
        .await
        .unwrap();
    eb.put_targets()
        .rule("to-lambda")
        .targets(
            target(
                "fn",
                "arn:aws:lambda:us-east-1:000000000000:function:on-event",
            )
            .build()
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    eb.put_events()
        .entries(entry("app", "Thing", r#"{"kind": "ignored"}"#))
        .entries(entry("app", "Thing", r#"{"kind": "wanted"}"#))
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let seen = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if !text.is_empty() {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the function never got the event"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Give a wrongly routed second event a moment to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = std::fs::read_to_string(&out).unwrap_or(seen);
    let events: Vec<Value> = seen
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail"], json!({"kind": "wanted"}));
    assert_eq!(events[0]["detail-type"], "Thing");
}

#[tokio::test]
async fn sns_targets_publish_the_event_to_the_topic() {
    let skyport = Skyport::start();
    let eb = client(&skyport.endpoint());
    let sqs = sqs_client(&skyport.endpoint());
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .region(aws_sdk_sns::config::Region::new("us-east-1"))
            .endpoint_url(skyport.endpoint())
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .build(),
    );
    let topic = sns
        .create_topic()
        .name("orders")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let (url, arn) = queue(&sqs, "from-topic").await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    eb.put_rule()
        .name("to-topic")
        .event_pattern(json!({"source": ["shop"]}).to_string())
        .send()
        .await
        .unwrap();
    eb.put_targets()
        .rule("to-topic")
        .targets(target("topic", &topic).build().unwrap())
        .send()
        .await
        .unwrap();
    let put = eb
        .put_events()
        .entries(entry("shop", "Order Placed", r#"{"id": 7}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_entry_count(), 0);
    let bodies = receive(&sqs, &url, 1, Duration::from_secs(10)).await;
    assert_eq!(bodies.len(), 1, "the event reached the topic's queue");
    let event: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(event["source"], "shop");
    assert_eq!(event["detail-type"], "Order Placed");
    assert_eq!(event["detail"], json!({"id": 7}));
}

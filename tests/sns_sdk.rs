//! SNS through the official `aws-sdk-sns` crate (query protocol) against the real binary: topics
//! (standard and FIFO, attributes, tags, pages, AWS's errors), subscriptions and their attributes
//! (filter policies with AWS's validation), fan-out to SQS queues (the envelope, raw delivery with
//! message attributes, filter policies on attributes and on the body, structured messages), FIFO topic
//! to FIFO queue order and deduplication, HTTP endpoints (the confirmation, the SubscribeURL, AWS's
//! headers, retries then the dead-letter queue), Lambda subscriptions (the SNS event record, the
//! function's resource policy), PublishBatch, and state surviving a restart.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry, Tag};
use aws_sdk_sqs::types::QueueAttributeName;
use common::{Options, Skyport};
use serde_json::{Value, json};

fn sns_client(endpoint: &str) -> aws_sdk_sns::Client {
    let config = aws_sdk_sns::Config::builder()
        .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
        .region(aws_sdk_sns::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    aws_sdk_sns::Client::from_conf(config)
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

fn string_attr(v: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .unwrap()
}

fn attr(t: &str, v: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type(t)
        .string_value(v)
        .build()
        .unwrap()
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let mut req = sqs.create_queue().queue_name(name);
    if name.ends_with(".fifo") {
        req = req.attributes(QueueAttributeName::FifoQueue, "true");
    }
    let url = req.send().await.unwrap().queue_url.unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    (url, arn)
}

/// Receives (and deletes) what is in the queue, waiting up to 10 s for `want` messages.
async fn receive(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    want: usize,
) -> Vec<aws_sdk_sqs::types::Message> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while out.len() < want {
        assert!(
            Instant::now() < deadline,
            "only {} of {want} messages arrived in {url}: {out:?}",
            out.len()
        );
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
            out.push(m.clone());
        }
    }
    out
}

/// True when the queue stays empty for a second.
async fn stays_empty(sqs: &aws_sdk_sqs::Client, url: &str) -> bool {
    let got = sqs
        .receive_message()
        .queue_url(url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    got.messages().is_empty()
}

async fn create_topic(sns: &aws_sdk_sns::Client, name: &str) -> String {
    sns.create_topic()
        .name(name)
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap()
}

async fn topic_attributes(sns: &aws_sdk_sns::Client, arn: &str) -> HashMap<String, String> {
    sns.get_topic_attributes()
        .topic_arn(arn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
}

async fn subscription_attributes(sns: &aws_sdk_sns::Client, arn: &str) -> HashMap<String, String> {
    sns.get_subscription_attributes()
        .subscription_arn(arn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
}

async fn subscribe_queue(
    sns: &aws_sdk_sns::Client,
    topic: &str,
    queue_arn: &str,
    attributes: &[(&str, &str)],
) -> String {
    let mut req = sns
        .subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(queue_arn);
    for (k, v) in attributes {
        req = req.attributes(*k, *v);
    }
    req.send().await.unwrap().subscription_arn.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_attributes_tags_and_errors() {
    let skyport = Skyport::start();
    let sns = sns_client(&skyport.endpoint());

    let arn = sns
        .create_topic()
        .name("orders")
        .tags(Tag::builder().key("team").value("a").build().unwrap())
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    assert_eq!(arn, "arn:aws:sns:us-east-1:000000000000:orders");
    // Creating it again answers the same ARN; with other attributes it is refused.
    let again = sns.create_topic().name("orders").send().await.unwrap();
    assert_eq!(again.topic_arn.as_deref(), Some(arn.as_str()));
    let e = sns
        .create_topic()
        .name("orders")
        .attributes("DisplayName", "other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "InvalidParameter".into(),
            "Invalid parameter: Attributes Reason: Topic already exists with different attributes"
                .into()
        )
    );

    let attrs = topic_attributes(&sns, &arn).await;
    assert_eq!(attrs["TopicArn"], arn);
    assert_eq!(attrs["Owner"], "000000000000");
    assert_eq!(attrs["SubscriptionsConfirmed"], "0");
    assert_eq!(attrs["SubscriptionsPending"], "0");
    assert_eq!(attrs["SubscriptionsDeleted"], "0");
    assert_eq!(attrs["DisplayName"], "");
    let policy: Value = serde_json::from_str(&attrs["Policy"]).unwrap();
    assert_eq!(policy["Statement"][0]["Resource"], arn.as_str());
    let effective: Value = serde_json::from_str(&attrs["EffectiveDeliveryPolicy"]).unwrap();
    assert_eq!(
        effective["http"]["defaultHealthyRetryPolicy"]["numRetries"],
        3
    );
    assert!(!attrs.contains_key("FifoTopic"));

    sns.set_topic_attributes()
        .topic_arn(&arn)
        .attribute_name("DisplayName")
        .attribute_value("Orders")
        .send()
        .await
        .unwrap();
    let attrs = topic_attributes(&sns, &arn).await;
    assert_eq!(attrs["DisplayName"], "Orders");
    let e = sns
        .set_topic_attributes()
        .topic_arn(&arn)
        .attribute_name("Bogus")
        .attribute_value("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "InvalidParameter".into(),
            "Invalid parameter: AttributeName".into()
        )
    );
    let e = sns
        .set_topic_attributes()
        .topic_arn(&arn)
        .attribute_name("ContentBasedDeduplication")
        .attribute_value("true")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).0, "InvalidParameter");

    // FIFO topics.
    let fifo = sns
        .create_topic()
        .name("jobs.fifo")
        .attributes("FifoTopic", "true")
        .attributes("ContentBasedDeduplication", "true")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let attrs = topic_attributes(&sns, &fifo).await;
    assert_eq!(attrs["FifoTopic"], "true");
    assert_eq!(attrs["ContentBasedDeduplication"], "true");
    for (name, fifo_attr, message) in [
        (
            "jobs",
            Some("true"),
            "Invalid parameter: Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.",
        ),
        ("jobs.fifo", None, "Invalid parameter: Topic Name"),
        ("bad name", None, "Invalid parameter: Topic Name"),
    ] {
        let mut req = sns.create_topic().name(name);
        if let Some(v) = fifo_attr {
            req = req.attributes("FifoTopic", v);
        }
        let e = req.send().await.unwrap_err();
        assert_eq!(
            error(&e),
            ("InvalidParameter".into(), message.into()),
            "{name}"
        );
    }

    // Tags.
    sns.tag_resource()
        .resource_arn(&arn)
        .tags(Tag::builder().key("env").value("dev").build().unwrap())
        .send()
        .await
        .unwrap();
    sns.untag_resource()
        .resource_arn(&arn)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = sns
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    let tags: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, vec![("env", "dev")]);
    let missing = "arn:aws:sns:us-east-1:000000000000:nope";
    let e = sns
        .list_tags_for_resource()
        .resource_arn(missing)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        ("ResourceNotFound".into(), "Resource does not exist".into())
    );
    let e = sns
        .get_topic_attributes()
        .topic_arn(missing)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        ("NotFound".into(), "Topic does not exist".into())
    );
    let e = sns
        .publish()
        .topic_arn(missing)
        .message("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        ("NotFound".into(), "Topic does not exist".into())
    );
    let e = sns
        .subscribe()
        .topic_arn(missing)
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:000000000000:q")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        ("NotFound".into(), "Topic does not exist".into())
    );

    // Pages of 100.
    for i in 0..105 {
        sns.create_topic()
            .name(format!("page-{i:03}"))
            .send()
            .await
            .unwrap();
    }
    let first = sns.list_topics().send().await.unwrap();
    assert_eq!(first.topics().len(), 100);
    let second = sns
        .list_topics()
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(second.topics().len(), 107 - 100);
    assert!(second.next_token().is_none());

    // Deleting a topic removes it (and deleting it again succeeds).
    sns.delete_topic().topic_arn(&arn).send().await.unwrap();
    sns.delete_topic().topic_arn(&arn).send().await.unwrap();
    let e = sns
        .get_topic_attributes()
        .topic_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).0, "NotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_and_their_errors() {
    let skyport = Skyport::start();
    let (sns, sqs) = (
        sns_client(&skyport.endpoint()),
        sqs_client(&skyport.endpoint()),
    );
    let topic = create_topic(&sns, "subs").await;
    let (_, queue) = create_queue(&sqs, "subs-q").await;
    let sub = subscribe_queue(&sns, &topic, &queue, &[]).await;
    assert!(sub.starts_with(&format!("{topic}:")));
    // Subscribing again answers the same subscription.
    assert_eq!(subscribe_queue(&sns, &topic, &queue, &[]).await, sub);
    let attrs = subscription_attributes(&sns, &sub).await;
    assert_eq!(attrs["Protocol"], "sqs");
    assert_eq!(attrs["Endpoint"], queue);
    assert_eq!(attrs["PendingConfirmation"], "false");
    assert_eq!(attrs["RawMessageDelivery"], "false");
    assert_eq!(attrs["TopicArn"], topic);

    for (name, value, message) in [
        ("Bogus", "1", "Invalid parameter: AttributeName"),
        (
            "RawMessageDelivery",
            "maybe",
            "Invalid parameter: RawMessageDelivery: Invalid value [maybe]. Must be true or false.",
        ),
        (
            "FilterPolicy",
            r#"{"a": "b"}"#,
            "Invalid parameter: FilterPolicy: \"a\" must be an object or an array",
        ),
        (
            "FilterPolicy",
            r#"{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"]}"#,
            "Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys",
        ),
        (
            "FilterPolicy",
            r#"{"a": {"b": ["1"]}}"#,
            "Invalid parameter: FilterPolicy: Filter policy scope MessageAttributes does not support nested filter policy",
        ),
    ] {
        let e = sns
            .set_subscription_attributes()
            .subscription_arn(&sub)
            .attribute_name(name)
            .attribute_value(value)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            error(&e),
            ("InvalidParameter".into(), message.into()),
            "{name}={value}"
        );
    }
    let many: Vec<String> = (0..151).map(|i| format!("\"v{i}\"")).collect();
    let e = sns
        .set_subscription_attributes()
        .subscription_arn(&sub)
        .attribute_name("FilterPolicy")
        .attribute_value(format!(r#"{{"a": [{}]}}"#, many.join(",")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "InvalidParameter".into(),
            "Invalid parameter: FilterPolicy: Filter policy is too complex".into()
        )
    );
    sns.set_subscription_attributes()
        .subscription_arn(&sub)
        .attribute_name("FilterPolicy")
        .attribute_value(r#"{"color": ["red"]}"#)
        .send()
        .await
        .unwrap();
    let attrs = subscription_attributes(&sns, &sub).await;
    assert_eq!(attrs["FilterPolicy"], r#"{"color": ["red"]}"#);
    assert_eq!(attrs["FilterPolicyScope"], "MessageAttributes");

    for (protocol, endpoint, message) in [
        (
            "carrier-pigeon",
            "x",
            "Invalid parameter: Amazon SNS does not support this protocol string: carrier-pigeon",
        ),
        (
            "sqs",
            "https://queue",
            "Invalid parameter: SQS endpoint ARN",
        ),
        ("lambda", "fn", "Invalid parameter: Lambda endpoint ARN"),
        (
            "http",
            "https://example.com",
            "Invalid parameter: Endpoint must match the specified protocol",
        ),
    ] {
        let e = sns
            .subscribe()
            .topic_arn(&topic)
            .protocol(protocol)
            .endpoint(endpoint)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            error(&e),
            ("InvalidParameter".into(), message.into()),
            "{protocol}"
        );
    }
    let e = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("lambda")
        .endpoint("arn:aws:lambda:us-east-1:000000000000:function:f")
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "Invalid parameter: Delivery protocol [lambda] does not support raw message delivery."
    );

    // Email subscriptions are recorded pending confirmation.
    let pending = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("email")
        .endpoint("someone@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(pending.subscription_arn(), Some("pending confirmation"));
    let listed = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    let mut arns: Vec<&str> = listed
        .subscriptions()
        .iter()
        .map(|s| s.subscription_arn().unwrap())
        .collect();
    arns.sort_unstable();
    let mut expected = vec!["PendingConfirmation", sub.as_str()];
    expected.sort_unstable();
    assert_eq!(arns, expected);
    let attrs = topic_attributes(&sns, &topic).await;
    assert_eq!(
        (
            attrs["SubscriptionsConfirmed"].as_str(),
            attrs["SubscriptionsPending"].as_str()
        ),
        ("1", "1")
    );
    let e = sns
        .confirm_subscription()
        .topic_arn(&topic)
        .token("not-a-token")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        ("InvalidParameter".into(), "Invalid parameter: Token".into())
    );

    sns.unsubscribe()
        .subscription_arn(&sub)
        .send()
        .await
        .unwrap();
    let e = sns
        .get_subscription_attributes()
        .subscription_arn(&sub)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        ("NotFound".into(), "Subscription does not exist".into())
    );
    let all = sns.list_subscriptions().send().await.unwrap();
    assert_eq!(all.subscriptions().len(), 1);
    let attrs = topic_attributes(&sns, &topic).await;
    assert_eq!(attrs["SubscriptionsDeleted"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_to_queues_with_raw_delivery_and_filter_policies() {
    let skyport = Skyport::start();
    let (sns, sqs) = (
        sns_client(&skyport.endpoint()),
        sqs_client(&skyport.endpoint()),
    );
    let topic = create_topic(&sns, "fanout").await;
    let (plain_url, plain) = create_queue(&sqs, "plain").await;
    let (raw_url, raw) = create_queue(&sqs, "raw").await;
    let (attr_url, attr_q) = create_queue(&sqs, "by-attribute").await;
    let (body_url, body_q) = create_queue(&sqs, "by-body").await;
    let plain_sub = subscribe_queue(&sns, &topic, &plain, &[]).await;
    subscribe_queue(&sns, &topic, &raw, &[("RawMessageDelivery", "true")]).await;
    subscribe_queue(
        &sns,
        &topic,
        &attr_q,
        &[(
            "FilterPolicy",
            r#"{"color": ["red", {"prefix": "bl"}], "size": [{"numeric": [">", 10]}], "tags": ["urgent"]}"#,
        )],
    )
    .await;
    subscribe_queue(
        &sns,
        &topic,
        &body_q,
        &[
            ("FilterPolicyScope", "MessageBody"),
            (
                "FilterPolicy",
                r#"{"order": {"kind": [{"anything-but": "test"}]}}"#,
            ),
        ],
    )
    .await;

    // Matches the attribute policy, not the body policy (the body is not JSON).
    let first = sns
        .publish()
        .topic_arn(&topic)
        .message("hello")
        .subject("greeting")
        .message_attributes("color", string_attr("blue"))
        .message_attributes("size", attr("Number", "11"))
        .message_attributes("tags", attr("String.Array", r#"["urgent", "x"]"#))
        .send()
        .await
        .unwrap()
        .message_id
        .unwrap();
    // Matches the body policy, not the attribute policy.
    let body = json!({"order": {"kind": "real", "id": 7}}).to_string();
    sns.publish()
        .topic_arn(&topic)
        .message(&body)
        .message_attributes("color", string_attr("green"))
        .send()
        .await
        .unwrap();
    // Matches neither policy.
    sns.publish()
        .topic_arn(&topic)
        .message(json!({"order": {"kind": "test"}}).to_string())
        .message_attributes("size", attr("Number", "5"))
        .send()
        .await
        .unwrap();

    let envelopes = receive(&sqs, &plain_url, 3).await;
    let first_env: Value = envelopes
        .iter()
        .map(|m| serde_json::from_str::<Value>(m.body().unwrap()).unwrap())
        .find(|v| v["MessageId"] == first.as_str())
        .expect("the first message's envelope");
    assert_eq!(first_env["Type"], "Notification");
    assert_eq!(first_env["TopicArn"], topic.as_str());
    assert_eq!(first_env["Subject"], "greeting");
    assert_eq!(first_env["Message"], "hello");
    assert_eq!(
        first_env["MessageAttributes"]["color"],
        json!({"Type": "String", "Value": "blue"})
    );
    assert_eq!(
        first_env["MessageAttributes"]["size"],
        json!({"Type": "Number", "Value": "11"})
    );
    assert_eq!(
        first_env["UnsubscribeURL"],
        format!(
            "{}/?Action=Unsubscribe&SubscriptionArn={plain_sub}",
            skyport.endpoint()
        )
    );
    assert!(first_env["Timestamp"].as_str().unwrap().ends_with('Z'));

    let raws = receive(&sqs, &raw_url, 3).await;
    let hello = raws
        .iter()
        .find(|m| m.body() == Some("hello"))
        .expect("the raw message");
    let attrs = hello.message_attributes().unwrap();
    assert_eq!(attrs["color"].string_value(), Some("blue"));
    assert_eq!(attrs["size"].data_type(), "Number");
    assert_eq!(attrs["tags"].data_type(), "String");

    let by_attr = receive(&sqs, &attr_url, 1).await;
    let env: Value = serde_json::from_str(by_attr[0].body().unwrap()).unwrap();
    assert_eq!(env["Message"], "hello");
    let by_body = receive(&sqs, &body_url, 1).await;
    let env: Value = serde_json::from_str(by_body[0].body().unwrap()).unwrap();
    assert_eq!(env["Message"], body.as_str());
    assert!(stays_empty(&sqs, &attr_url).await);
    assert!(stays_empty(&sqs, &body_url).await);

    // MessageStructure json: each protocol its own message, `default` required.
    sns.publish()
        .topic_arn(&topic)
        .message_structure("json")
        .message(json!({"default": "for everyone", "sqs": "for queues"}).to_string())
        .send()
        .await
        .unwrap();
    let got = receive(&sqs, &raw_url, 1).await;
    assert_eq!(got[0].body(), Some("for queues"));
    let e = sns
        .publish()
        .topic_arn(&topic)
        .message_structure("json")
        .message(json!({"sqs": "x"}).to_string())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "InvalidParameter".into(),
            "Invalid parameter: Message Structure - No default entry in JSON message body".into()
        )
    );

    // AWS's validation of Publish.
    let e = sns
        .publish()
        .topic_arn(&topic)
        .message("x".repeat(262_145))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "InvalidParameter".into(),
            "Invalid parameter: Message too long".into()
        )
    );
    let e = sns
        .publish()
        .topic_arn(&topic)
        .message("x")
        .message_attributes("n", attr("Number", "abc"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "ParameterValueInvalid".into(),
            "Could not cast message attribute 'n' value to number.".into()
        )
    );
    let e = sns
        .publish()
        .topic_arn(&topic)
        .message("x")
        .message_attributes("n", attr("Decimal", "1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).0, "ParameterValueInvalid");
    let e = sns
        .publish()
        .topic_arn(&topic)
        .message("x")
        .message_group_id("g")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).0, "InvalidParameter");
    let e = sns.publish().message("x").send().await.unwrap_err();
    assert_eq!(
        error(&e),
        (
            "InvalidParameter".into(),
            "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter"
                .into()
        )
    );
    // A phone number is accepted (and recorded, not sent).
    let sms = sns
        .publish()
        .phone_number("+15555550100")
        .message("code 1234")
        .send()
        .await
        .unwrap();
    assert!(sms.message_id().is_some());

    // PublishBatch: per-entry results and AWS's batch errors.
    let batch = sns
        .publish_batch()
        .topic_arn(&topic)
        .publish_batch_request_entries(
            PublishBatchRequestEntry::builder()
                .id("a")
                .message("one")
                .build()
                .unwrap(),
        )
        .publish_batch_request_entries(
            PublishBatchRequestEntry::builder()
                .id("b")
                .message("two")
                .message_group_id("nope")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(batch.successful().len(), 1);
    assert_eq!(batch.successful()[0].id(), Some("a"));
    assert_eq!(batch.failed().len(), 1);
    assert_eq!(batch.failed()[0].id(), "b");
    assert_eq!(batch.failed()[0].code(), "InvalidParameter");
    assert!(batch.failed()[0].sender_fault());
    let got = receive(&sqs, &raw_url, 1).await;
    assert_eq!(got[0].body(), Some("one"));
    let entry = |id: &str| {
        PublishBatchRequestEntry::builder()
            .id(id)
            .message("m")
            .build()
            .unwrap()
    };
    let e = sns
        .publish_batch()
        .topic_arn(&topic)
        .publish_batch_request_entries(entry("same"))
        .publish_batch_request_entries(entry("same"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "BatchEntryIdsNotDistinct".into(),
            "Two or more batch entries in the request have the same Id.".into()
        )
    );
    let mut eleven = sns.publish_batch().topic_arn(&topic);
    for i in 0..11 {
        eleven = eleven.publish_batch_request_entries(entry(&format!("e{i}")));
    }
    let e = eleven.send().await.unwrap_err();
    assert_eq!(error(&e).0, "TooManyEntriesInBatchRequest");
    let e = sns
        .publish_batch()
        .topic_arn(&topic)
        .publish_batch_request_entries(entry("bad id!"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).0, "InvalidBatchEntryId");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_topic_to_fifo_queue_keeps_order_and_deduplicates() {
    let skyport = Skyport::start();
    let (sns, sqs) = (
        sns_client(&skyport.endpoint()),
        sqs_client(&skyport.endpoint()),
    );
    let topic = sns
        .create_topic()
        .name("events.fifo")
        .attributes("FifoTopic", "true")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let (url, queue) = create_queue(&sqs, "events.fifo").await;
    let (std_url, std_queue) = create_queue(&sqs, "events-standard").await;
    subscribe_queue(&sns, &topic, &queue, &[("RawMessageDelivery", "true")]).await;
    subscribe_queue(&sns, &topic, &std_queue, &[("RawMessageDelivery", "true")]).await;

    let e = sns
        .publish()
        .topic_arn(&topic)
        .message("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "InvalidParameter".into(),
            "Invalid parameter: The MessageGroupId parameter is required for FIFO topics".into()
        )
    );
    let e = sns
        .publish()
        .topic_arn(&topic)
        .message("x")
        .message_group_id("g")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly"
    );

    let mut sequences = Vec::new();
    for i in 0..10 {
        let out = sns
            .publish()
            .topic_arn(&topic)
            .message(format!("m{i}"))
            .message_group_id("g1")
            .message_deduplication_id(format!("d{i}"))
            .send()
            .await
            .unwrap();
        sequences.push(out.sequence_number.unwrap());
    }
    let mut sorted = sequences.clone();
    sorted.sort();
    assert_eq!(sorted, sequences, "sequence numbers grow");
    // A duplicate within five minutes is accepted and answered with the first message's id, and
    // delivered nowhere.
    let dup = sns
        .publish()
        .topic_arn(&topic)
        .message("m3 again")
        .message_group_id("g1")
        .message_deduplication_id("d3")
        .send()
        .await
        .unwrap();
    assert_eq!(dup.sequence_number.as_deref(), Some(sequences[3].as_str()));

    let mut bodies = Vec::new();
    while bodies.len() < 10 {
        for m in receive(&sqs, &url, 1).await {
            assert_eq!(
                m.attributes()
                    .and_then(
                        |a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
                    )
                    .map(String::as_str),
                None,
                "system attributes were not asked for"
            );
            bodies.push(m.body().unwrap().to_owned());
        }
    }
    let expected: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, expected);
    assert!(stays_empty(&sqs, &url).await);
    // The standard queue gets them too, without a group.
    let standard = receive(&sqs, &std_url, 10).await;
    assert_eq!(standard.len(), 10);
}

/// A recorded HTTP request: method, path, headers (lower-case names), body.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

/// An HTTP server on loopback answering each request with the status `answer` gives, recording them.
fn http_server(
    answer: impl Fn(&Received) -> u16 + Send + 'static,
) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or_default().to_owned();
                let path = parts.next().unwrap_or_default().to_owned();
                let mut headers = HashMap::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
                let len: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let received = Received {
                    method,
                    path,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                let status = answer(&received);
                let _ = tx.send(received);
                let response = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                if stream.write_all(response.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    (url, rx)
}

fn next(rx: &mpsc::Receiver<Received>) -> Received {
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the endpoint received nothing")
}

/// Sends a request without a body to a URL on Skyport's plain-HTTP endpoint (as an endpoint confirming
/// its subscription, or a test reading LocalStack's inspection endpoints, would).
fn http_request(method: &str, url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn get(url: &str) -> (u16, String) {
    http_request("GET", url)
}

/// Verifies SNS messages as AWS's message validators do: fetch the certificate at `SigningCertURL`
/// (HTTPS, an `sns.<region>.amazonaws.com` name, through Skyport's gateway, trusting Skyport's CA
/// only), check it was issued by that CA, and check `Signature` over the canonical string with SHA1
/// (`SignatureVersion` 1) or SHA256 (2). A message with its text changed must fail.
const VERIFY: &str = r#"
import base64, json, socket, ssl, sys, urllib.parse
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
port, ca_path = int(sys.argv[1]), sys.argv[2]
ca = x509.load_pem_x509_certificate(open(ca_path, "rb").read())
ctx = ssl.create_default_context(cafile=ca_path)

def fetch(url):
    u = urllib.parse.urlparse(url)
    assert u.scheme == "https" and u.hostname.startswith("sns.") and u.hostname.endswith(".amazonaws.com"), url
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with ctx.wrap_socket(raw, server_hostname=u.hostname) as s:
            s.sendall(f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head
    start, end = body.index(b"-----BEGIN CERTIFICATE-----"), body.index(b"-----END CERTIFICATE-----")
    cert = x509.load_pem_x509_certificate(body[start:end + 25])
    cert.verify_directly_issued_by(ca)
    return cert

def canonical(m):
    if m["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{k}\n{m[k]}\n" for k in keys if k in m).encode()

for text in json.load(sys.stdin):
    m = json.loads(text)
    key = fetch(m["SigningCertURL"]).public_key()
    h = hashes.SHA1() if m["SignatureVersion"] == "1" else hashes.SHA256()
    signature = base64.b64decode(m["Signature"])
    key.verify(signature, canonical(m), padding.PKCS1v15(), h)
    m["Message"] += "!"
    try:
        key.verify(signature, canonical(m), padding.PKCS1v15(), h)
        raise SystemExit("a changed message verified")
    except InvalidSignature:
        pass
    print("verified", m["Type"], m["SignatureVersion"])
"#;

fn verify_signatures(skyport: &Skyport, messages: &[&str]) {
    use std::process::{Command, Stdio};
    let ca = skyport.state_dir.join("certs").join("ca.pem");
    let mut child = Command::new("python3")
        .args(["-c", VERIFY, &skyport.port().to_string()])
        .arg(&ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let input = serde_json::to_vec(messages).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), messages.len(), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_confirm_then_receive_notifications() {
    let skyport = Skyport::start();
    let sns = sns_client(&skyport.endpoint());
    let topic = create_topic(&sns, "web").await;
    let (url, rx) = http_server(|_| 200);
    let pending = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("http")
        .endpoint(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(pending.subscription_arn(), Some("pending confirmation"));

    let confirmation = next(&rx);
    assert_eq!(confirmation.method, "POST");
    assert_eq!(confirmation.path, "/hook");
    assert_eq!(
        confirmation.headers["x-amz-sns-message-type"],
        "SubscriptionConfirmation"
    );
    assert_eq!(confirmation.headers["x-amz-sns-topic-arn"], topic);
    assert!(confirmation.headers["content-type"].starts_with("text/plain"));
    let body: Value = serde_json::from_str(&confirmation.body).unwrap();
    assert_eq!(body["Type"], "SubscriptionConfirmation");
    assert_eq!(body["TopicArn"], topic.as_str());
    let token = body["Token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 100);
    // Nothing is delivered before the subscription is confirmed.
    sns.publish()
        .topic_arn(&topic)
        .message("early")
        .send()
        .await
        .unwrap();

    // The endpoint confirms by visiting SubscribeURL.
    let (status, answer) = get(body["SubscribeURL"].as_str().unwrap());
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("<SubscriptionArn>"), "{answer}");
    let listed = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    let sub = listed.subscriptions()[0]
        .subscription_arn()
        .unwrap()
        .to_owned();
    assert!(sub.starts_with(&format!("{topic}:")), "{sub}");

    let id = sns
        .publish()
        .topic_arn(&topic)
        .message("on time")
        .subject("s")
        .send()
        .await
        .unwrap()
        .message_id
        .unwrap();
    let note = next(&rx);
    assert_eq!(note.headers["x-amz-sns-message-type"], "Notification");
    assert_eq!(note.headers["x-amz-sns-message-id"], id);
    assert_eq!(note.headers["x-amz-sns-subscription-arn"], sub);
    let body: Value = serde_json::from_str(&note.body).unwrap();
    assert_eq!(body["Message"], "on time");
    assert_eq!(body["Subject"], "s");

    // Both messages are signed (SignatureVersion 1), and verify against the certificate at their
    // SigningCertURL, fetched over HTTPS from Skyport's gateway with Skyport's CA.
    assert_eq!(body["SignatureVersion"], "1");
    assert!(
        body["SigningCertURL"]
            .as_str()
            .unwrap()
            .starts_with("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-")
    );
    sns.set_topic_attributes()
        .topic_arn(&topic)
        .attribute_name("SignatureVersion")
        .attribute_value("2")
        .send()
        .await
        .unwrap();
    sns.publish()
        .topic_arn(&topic)
        .message("signed with SHA256")
        .send()
        .await
        .unwrap();
    let v2 = next(&rx);
    let v2_body: Value = serde_json::from_str(&v2.body).unwrap();
    assert_eq!(v2_body["SignatureVersion"], "2");
    verify_signatures(&skyport, &[&confirmation.body, &note.body, &v2.body]);

    // The UnsubscribeURL works.
    let (status, _) = get(body["UnsubscribeURL"].as_str().unwrap());
    assert_eq!(status, 200);
    let listed = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    assert!(listed.subscriptions().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_http_endpoints_are_retried_then_dead_lettered() {
    let skyport = Skyport::start_with(Options::default().env("SKYPORT_SNS_RETRY_SECOND_MS", "20"));
    let (sns, sqs) = (
        sns_client(&skyport.endpoint()),
        sqs_client(&skyport.endpoint()),
    );
    let topic = create_topic(&sns, "flaky").await;
    let (dlq_url, dlq) = create_queue(&sqs, "flaky-dlq").await;
    // Confirmations succeed; notifications fail.
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let seen = attempts.clone();
    let (url, rx) = http_server(move |r| {
        if r.headers["x-amz-sns-message-type"] == "Notification" {
            seen.lock().unwrap().push(Instant::now());
            500
        } else {
            200
        }
    });
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("http")
        .endpoint(&url)
        .attributes("RedrivePolicy", json!({"deadLetterTargetArn": dlq}).to_string())
        .attributes(
            "DeliveryPolicy",
            json!({"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 5, "maxDelayTarget": 5}})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    let confirmation: Value = serde_json::from_str(&next(&rx).body).unwrap();
    sns.confirm_subscription()
        .topic_arn(&topic)
        .token(confirmation["Token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let id = sns
        .publish()
        .topic_arn(&topic)
        .message("lost")
        .send()
        .await
        .unwrap()
        .message_id
        .unwrap();
    let dead = receive(&sqs, &dlq_url, 1).await;
    let env: Value = serde_json::from_str(dead[0].body().unwrap()).unwrap();
    assert_eq!(env["MessageId"], id.as_str());
    assert_eq!(env["Message"], "lost");
    let times = attempts.lock().unwrap().clone();
    assert_eq!(times.len(), 3, "one attempt and two retries");
    // 5 policy seconds of 20 ms each between attempts.
    assert!(times[1].duration_since(times[0]) >= Duration::from_millis(90));
}

const ROLE: &str = "arn:aws:iam::000000000000:role/lambda-role";

/// Records each event in `$OUT`.
const HANDLER: &str = r#"
import json, os
def main(event, context):
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps(event) + "\n")
"#;

fn zip_of(name: &str, text: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    w.start_file(name, options).unwrap();
    w.write_all(text.as_bytes()).unwrap();
    w.finish().unwrap().into_inner()
}

fn lambda_client(endpoint: &str) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .region(aws_sdk_lambda::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

async fn create_function(lambda: &aws_sdk_lambda::Client, name: &str, out: &Path) {
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime, State};
    lambda
        .create_function()
        .function_name(name)
        .runtime(Runtime::Python311)
        .role(ROLE)
        .handler("handler.main")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip_of("handler.py", HANDLER)))
                .build(),
        )
        .environment(
            Environment::builder()
                .variables("OUT", out.to_string_lossy())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .unwrap();
        if c.state() == Some(&State::Active) {
            return;
        }
        assert!(Instant::now() < deadline, "{name} never became Active");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_subscriptions_get_the_sns_event_record() {
    let skyport = Skyport::start_with(Options::default().env("LAMBDA_EXECUTOR", "local"));
    let (sns, lambda, sqs) = (
        sns_client(&skyport.endpoint()),
        lambda_client(&skyport.endpoint()),
        sqs_client(&skyport.endpoint()),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    create_function(&lambda, "on-note", &out).await;
    let function = "arn:aws:lambda:us-east-1:000000000000:function:on-note";
    let topic = create_topic(&sns, "to-lambda").await;
    let (dlq_url, dlq) = create_queue(&sqs, "lambda-dlq").await;
    let sub = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("lambda")
        .endpoint(function)
        .attributes(
            "RedrivePolicy",
            json!({"deadLetterTargetArn": dlq}).to_string(),
        )
        .send()
        .await
        .unwrap()
        .subscription_arn
        .unwrap();
    // Without a resource policy letting SNS invoke it, the delivery fails (to the DLQ).
    sns.publish()
        .topic_arn(&topic)
        .message("refused")
        .send()
        .await
        .unwrap();
    let dead = receive(&sqs, &dlq_url, 1).await;
    let env: Value = serde_json::from_str(dead[0].body().unwrap()).unwrap();
    assert_eq!(env["Message"], "refused");

    lambda
        .add_permission()
        .function_name("on-note")
        .statement_id("sns")
        .action("lambda:InvokeFunction")
        .principal("sns.amazonaws.com")
        .source_arn(&topic)
        .send()
        .await
        .unwrap();
    let id = sns
        .publish()
        .topic_arn(&topic)
        .message("to the function")
        .subject("hi")
        .message_attributes("k", string_attr("v"))
        .send()
        .await
        .unwrap()
        .message_id
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let event: Value = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if let Some(line) = text.lines().next() {
            break serde_json::from_str(line).unwrap();
        }
        assert!(Instant::now() < deadline, "the function never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let record = &event["Records"][0];
    assert_eq!(record["EventSource"], "aws:sns");
    assert_eq!(record["EventVersion"], "1.0");
    assert_eq!(record["EventSubscriptionArn"], sub.as_str());
    let n = &record["Sns"];
    assert_eq!(n["Type"], "Notification");
    assert_eq!(n["MessageId"], id.as_str());
    assert_eq!(n["TopicArn"], topic.as_str());
    assert_eq!(n["Subject"], "hi");
    assert_eq!(n["Message"], "to the function");
    assert_eq!(
        n["MessageAttributes"]["k"],
        json!({"Type": "String", "Value": "v"})
    );
    assert!(n["UnsubscribeUrl"].as_str().unwrap().contains(&sub));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_and_subscriptions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default()
        .state_dir(dir.path())
        .env("PERSISTENCE", "1");
    let (topic, sub) = {
        let skyport = Skyport::start_with(options.clone());
        let sns = sns_client(&skyport.endpoint());
        let topic = sns
            .create_topic()
            .name("kept")
            .attributes("DisplayName", "Kept")
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        let sub = subscribe_queue(
            &sns,
            &topic,
            "arn:aws:sqs:us-east-1:000000000000:kept-q",
            &[("FilterPolicy", r#"{"a": ["b"]}"#)],
        )
        .await;
        (topic, sub)
    };
    let skyport = Skyport::start_with(options);
    let sns = sns_client(&skyport.endpoint());
    let attrs = topic_attributes(&sns, &topic).await;
    assert_eq!(attrs["DisplayName"], "Kept");
    let attrs = subscription_attributes(&sns, &sub).await;
    assert_eq!(attrs["FilterPolicy"], r#"{"a": ["b"]}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_inspection_endpoints() {
    let skyport = Skyport::start();
    let sns = sns_client(&skyport.endpoint());
    let ep = skyport.endpoint();
    let topic = create_topic(&sns, "texts").await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sms")
        .endpoint("+15555550111")
        .send()
        .await
        .unwrap();
    sns.publish()
        .phone_number("+15555550100")
        .message("code 1234")
        .message_attributes("k", string_attr("v"))
        .send()
        .await
        .unwrap();
    sns.publish()
        .topic_arn(&topic)
        .message("to subscribers")
        .send()
        .await
        .unwrap();
    let endpoint = "arn:aws:sns:us-east-1:000000000000:endpoint/GCM/app/1234";
    sns.publish()
        .target_arn(endpoint)
        .message(json!({"default": "d", "GCM": "g"}).to_string())
        .message_structure("json")
        .send()
        .await
        .unwrap();

    // The topic's delivery is asynchronous.
    let deadline = Instant::now() + Duration::from_secs(10);
    let sms: Value = loop {
        let (status, body) = get(&format!("{ep}/_aws/sns/sms-messages"));
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        if v["sms_messages"].as_object().unwrap().len() == 2 {
            break v;
        }
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(sms["region"], "us-east-1");
    let direct = &sms["sms_messages"]["+15555550100"][0];
    assert_eq!(direct["PhoneNumber"], "+15555550100");
    assert_eq!(direct["Message"], "code 1234");
    assert_eq!(direct["TopicArn"], Value::Null);
    assert_eq!(
        direct["MessageAttributes"]["k"],
        json!({"DataType": "String", "StringValue": "v"})
    );
    let subscribed = &sms["sms_messages"]["+15555550111"][0];
    assert_eq!(subscribed["TopicArn"], topic.as_str());
    assert_eq!(subscribed["Message"], "to subscribers");
    // Filters and deletion.
    let (_, body) = get(&format!(
        "{ep}/_aws/sns/sms-messages?phoneNumber=%2B15555550100"
    ));
    let one: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(one["sms_messages"].as_object().unwrap().len(), 1);
    let (_, body) = get(&format!("{ep}/_aws/sns/sms-messages?region=eu-west-1"));
    let none: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(none, json!({"sms_messages": {}, "region": "eu-west-1"}));
    let (status, _) = http_request("DELETE", &format!("{ep}/_aws/sns/sms-messages"));
    assert_eq!(status, 204);
    let (_, body) = get(&format!("{ep}/_aws/sns/sms-messages"));
    let empty: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(empty["sms_messages"], json!({}));

    let (_, body) = get(&format!("{ep}/_aws/sns/platform-endpoint-messages"));
    let platform: Value = serde_json::from_str(&body).unwrap();
    let m = &platform["platform_endpoint_messages"][endpoint][0];
    assert_eq!(m["TargetArn"], endpoint);
    assert_eq!(m["MessageStructure"], "json");

    // Subscription tokens confirm by hand.
    let pending = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("email")
        .endpoint("a@example.com")
        .return_subscription_arn(true)
        .send()
        .await
        .unwrap()
        .subscription_arn
        .unwrap();
    let (status, body) = get(&format!("{ep}/_aws/sns/subscription-tokens/{pending}"));
    assert_eq!(status, 200, "{body}");
    let token: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(token["subscription_arn"], pending.as_str());
    let confirmed = sns
        .confirm_subscription()
        .topic_arn(&topic)
        .token(token["subscription_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.subscription_arn(), Some(pending.as_str()));
    let (status, _) = get(&format!(
        "{ep}/_aws/sns/subscription-tokens/{topic}:00000000-0000-0000-0000-000000000000"
    ));
    assert_eq!(status, 404);
    let (status, _) = get(&format!("{ep}/_aws/sns/subscription-tokens/nope"));
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_topic_configurations_publish_object_events() {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, TopicConfiguration};
    let skyport = Skyport::start();
    let sns = sns_client(&skyport.endpoint());
    let sqs = sqs_client(&skyport.endpoint());
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(skyport.endpoint())
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .force_path_style(true)
            .build(),
    );
    let topic = create_topic(&sns, "uploads").await;
    let (url, arn) = create_queue(&sqs, "uploads-queue").await;
    subscribe_queue(&sns, &topic, &arn, &[]).await;
    s3.create_bucket().bucket("media").send().await.unwrap();
    let config = |topic: &str| {
        NotificationConfiguration::builder()
            .topic_configurations(
                TopicConfiguration::builder()
                    .id("to-sns")
                    .topic_arn(topic)
                    .events(Event::from("s3:ObjectCreated:*"))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    // A topic that does not exist fails the configuration, as on AWS.
    let err = s3
        .put_bucket_notification_configuration()
        .bucket("media")
        .notification_configuration(config("arn:aws:sns:us-east-1:000000000000:nope"))
        .send()
        .await
        .expect_err("an unknown topic");
    assert_eq!(
        err.as_service_error().and_then(|e| e.code()),
        Some("InvalidArgument")
    );
    s3.put_bucket_notification_configuration()
        .bucket("media")
        .notification_configuration(config(&topic))
        .send()
        .await
        .unwrap();
    let got = s3
        .get_bucket_notification_configuration()
        .bucket("media")
        .send()
        .await
        .unwrap();
    assert_eq!(got.topic_configurations()[0].topic_arn(), topic);
    // The test event, then the object's record, each in the SNS envelope with S3's subject.
    s3.put_object()
        .bucket("media")
        .key("cat.jpg")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"meow"))
        .send()
        .await
        .unwrap();
    let messages = receive(&sqs, &url, 2).await;
    let envelopes: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    for e in &envelopes {
        assert_eq!(e["Type"], "Notification");
        assert_eq!(e["TopicArn"], topic.as_str());
        assert_eq!(e["Subject"], "Amazon S3 Notification");
    }
    let inner: Vec<serde_json::Value> = envelopes
        .iter()
        .map(|e| serde_json::from_str(e["Message"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(inner[0]["Event"], "s3:TestEvent");
    let record = &inner[1]["Records"][0];
    assert_eq!(record["eventName"], "ObjectCreated:Put");
    assert_eq!(record["s3"]["configurationId"], "to-sns");
    assert_eq!(record["s3"]["object"]["key"], "cat.jpg");
    assert_eq!(record["s3"]["object"]["size"], 4);
}

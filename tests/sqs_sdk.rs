//! SQS through the official `aws-sdk-sqs` Rust crate (awsJson 1.0) against the real binary: every
//! operation, the error codes the SDK maps to its modeled errors, visibility and receipt handles, batches,
//! long polling, dead-letter redrive and move tasks, FIFO ordering and deduplication.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Region};
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use common::{Options, Skyport};

fn client(endpoint: &str) -> Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    Client::from_conf(config)
}

/// The error code the SDK saw (the query-compatible code from `x-amzn-query-error`).
fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    e.as_service_error()
        .and_then(|s| s.code())
        .unwrap_or("<none>")
        .to_owned()
}

fn string_attr(v: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .unwrap()
}

async fn attributes(sqs: &Client, url: &str) -> HashMap<QueueAttributeName, String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default()
}

#[tokio::test]
async fn queue_lifecycle_attributes_tags_and_permissions() {
    let skyport = Skyport::start();
    let sqs = client(&skyport.endpoint());
    let port = skyport.addrs[0].port();

    let url = sqs
        .create_queue()
        .queue_name("orders")
        .attributes(QueueAttributeName::VisibilityTimeout, "45")
        .attributes(QueueAttributeName::DelaySeconds, "0")
        .tags("team", "core")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    assert_eq!(
        url,
        format!("http://sqs.us-east-1.localhost.localstack.cloud:{port}/000000000000/orders")
    );
    // Idempotent with equal attributes, QueueNameExists (QueueAlreadyExists) with different ones.
    let again = sqs
        .create_queue()
        .queue_name("orders")
        .attributes(QueueAttributeName::VisibilityTimeout, "45")
        .send()
        .await
        .unwrap();
    assert_eq!(again.queue_url.as_deref(), Some(url.as_str()));
    let e = sqs
        .create_queue()
        .queue_name("orders")
        .attributes(QueueAttributeName::VisibilityTimeout, "46")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "QueueAlreadyExists");
    assert!(e.into_service_error().is_queue_name_exists());

    // Bad names and values.
    let e = sqs
        .create_queue()
        .queue_name("bad name")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValue");
    let e = sqs
        .create_queue()
        .queue_name("x")
        .attributes(QueueAttributeName::MaximumMessageSize, "1048577")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidAttributeValue");

    for name in ["orders-eu", "other", "orders-2"] {
        sqs.create_queue().queue_name(name).send().await.unwrap();
    }
    let got = sqs
        .get_queue_url()
        .queue_name("orders")
        .send()
        .await
        .unwrap();
    assert_eq!(got.queue_url.as_deref(), Some(url.as_str()));
    let e = sqs
        .get_queue_url()
        .queue_name("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "AWS.SimpleQueueService.NonExistentQueue");
    assert!(e.into_service_error().is_queue_does_not_exist());

    // ListQueues: prefix and pagination.
    let all = sqs
        .list_queues()
        .queue_name_prefix("orders")
        .send()
        .await
        .unwrap();
    assert_eq!(all.queue_urls().len(), 3);
    assert!(all.next_token.is_none());
    let page1 = sqs
        .list_queues()
        .queue_name_prefix("orders")
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page1.queue_urls().len(), 2);
    let page2 = sqs
        .list_queues()
        .queue_name_prefix("orders")
        .max_results(2)
        .next_token(page1.next_token.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page2.queue_urls().len(), 1);
    assert!(page2.next_token.is_none());
    assert!(!page1.queue_urls().contains(&page2.queue_urls()[0]));

    // Attributes, including the read-only ones and stored policy/KMS/redrive settings.
    let a = attributes(&sqs, &url).await;
    assert_eq!(a[&QueueAttributeName::VisibilityTimeout], "45");
    assert_eq!(a[&QueueAttributeName::MaximumMessageSize], "1048576");
    assert_eq!(a[&QueueAttributeName::MessageRetentionPeriod], "345600");
    assert_eq!(a[&QueueAttributeName::ApproximateNumberOfMessages], "0");
    assert_eq!(
        a[&QueueAttributeName::QueueArn],
        "arn:aws:sqs:us-east-1:000000000000:orders"
    );
    assert!(a.contains_key(&QueueAttributeName::CreatedTimestamp));
    assert!(!a.contains_key(&QueueAttributeName::FifoQueue));
    let dlq_url = sqs
        .create_queue()
        .queue_name("orders-dlq")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[]}"#;
    let redrive = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:orders-dlq","maxReceiveCount":"3"}"#;
    // Stored the way AWS returns it: the count as a number.
    let stored_redrive = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:orders-dlq","maxReceiveCount":3}"#;
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::Policy, policy)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .attributes(QueueAttributeName::KmsMasterKeyId, "alias/aws/sqs")
        .attributes(QueueAttributeName::KmsDataKeyReusePeriodSeconds, "600")
        .send()
        .await
        .unwrap();
    sqs.set_queue_attributes()
        .queue_url(&dlq_url)
        .attributes(
            QueueAttributeName::RedriveAllowPolicy,
            r#"{"redrivePermission":"allowAll"}"#,
        )
        .send()
        .await
        .unwrap();
    let a = attributes(&sqs, &url).await;
    assert_eq!(a[&QueueAttributeName::Policy], policy);
    assert_eq!(a[&QueueAttributeName::RedrivePolicy], stored_redrive);
    assert_eq!(a[&QueueAttributeName::KmsMasterKeyId], "alias/aws/sqs");
    assert_eq!(a[&QueueAttributeName::KmsDataKeyReusePeriodSeconds], "600");
    assert_eq!(a[&QueueAttributeName::SqsManagedSseEnabled], "false");
    let e = sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(
            QueueAttributeName::RedrivePolicy,
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:nope","maxReceiveCount":"3"}"#,
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValue");
    // A dead-letter queue's RedriveAllowPolicy decides who may use it.
    let closed = sqs
        .create_queue()
        .queue_name("closed-dlq")
        .attributes(
            QueueAttributeName::RedriveAllowPolicy,
            r#"{"redrivePermission":"denyAll"}"#,
        )
        .send()
        .await
        .unwrap();
    assert!(closed.queue_url.is_some());
    let e = sqs
        .create_queue()
        .queue_name("wants-closed")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:closed-dlq","maxReceiveCount":1}"#,
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValue");
    let sources = sqs
        .list_dead_letter_source_queues()
        .queue_url(&dlq_url)
        .send()
        .await
        .unwrap();
    assert_eq!(sources.queue_urls(), std::slice::from_ref(&url));

    // Tags.
    sqs.tag_queue()
        .queue_url(&url)
        .tags("env", "test")
        .send()
        .await
        .unwrap();
    sqs.untag_queue()
        .queue_url(&url)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = sqs.list_queue_tags().queue_url(&url).send().await.unwrap();
    let tags = tags.tags.unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags["env"], "test");

    // Permissions are stored as policy statements.
    sqs.add_permission()
        .queue_url(&dlq_url)
        .label("AllowSend")
        .aws_account_ids("111122223333")
        .actions("SendMessage")
        .send()
        .await
        .unwrap();
    let e = sqs
        .add_permission()
        .queue_url(&dlq_url)
        .label("AllowSend")
        .aws_account_ids("111122223333")
        .actions("SendMessage")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValue");
    let a = attributes(&sqs, &dlq_url).await;
    let doc: serde_json::Value = serde_json::from_str(&a[&QueueAttributeName::Policy]).unwrap();
    assert_eq!(doc["Version"], "2008-10-17");
    assert_eq!(doc["Statement"][0]["Sid"], "AllowSend");
    // One principal and one action are plain strings, as AWS writes them.
    assert_eq!(
        doc["Statement"][0]["Principal"]["AWS"],
        "arn:aws:iam::111122223333:root"
    );
    assert_eq!(doc["Statement"][0]["Action"], "SQS:SendMessage");
    sqs.remove_permission()
        .queue_url(&dlq_url)
        .label("AllowSend")
        .send()
        .await
        .unwrap();
    assert!(
        !attributes(&sqs, &dlq_url)
            .await
            .contains_key(&QueueAttributeName::Policy)
    );

    // Delete.
    sqs.delete_queue().queue_url(&url).send().await.unwrap();
    let e = sqs
        .get_queue_url()
        .queue_name("orders")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_queue_does_not_exist());
    let e = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_queue_does_not_exist());
}

#[tokio::test]
async fn messages_visibility_receipts_and_batches() {
    // With AWS's one-purge-per-minute rule on (off by default, as in LocalStack).
    let skyport = Skyport::start_with(Options::default().env("SQS_DELAY_PURGE_RETRY", "1"));
    let sqs = client(&skyport.endpoint());
    let url = sqs
        .create_queue()
        .queue_name("work")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();

    let sent = sqs
        .send_message()
        .queue_url(&url)
        .message_body("hello")
        .message_attributes("kind", string_attr("greeting"))
        .message_attributes(
            "blob",
            MessageAttributeValue::builder()
                .data_type("Binary")
                .binary_value(Blob::new(vec![0u8, 1, 2, 255]))
                .build()
                .unwrap(),
        )
        .message_attributes(
            "n",
            MessageAttributeValue::builder()
                .data_type("Number.int")
                .string_value("42")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        sent.md5_of_message_body.as_deref(),
        Some("5d41402abc4b2a76b9719d911017c592")
    );
    let sent_md5_attrs = sent.md5_of_message_attributes.clone().unwrap();

    let got = sqs
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let m = &got.messages()[0];
    assert_eq!(m.body.as_deref(), Some("hello"));
    assert_eq!(m.message_id, sent.message_id);
    assert_eq!(m.md5_of_body, sent.md5_of_message_body);
    assert_eq!(
        m.md5_of_message_attributes.as_deref(),
        Some(sent_md5_attrs.as_str())
    );
    let attrs = m.message_attributes.as_ref().unwrap();
    assert_eq!(
        attrs["blob"].binary_value.as_ref().unwrap().as_ref(),
        &[0u8, 1, 2, 255]
    );
    assert_eq!(attrs["n"].data_type(), "Number.int");
    let sys = m.attributes.as_ref().unwrap();
    assert_eq!(
        sys[&MessageSystemAttributeName::ApproximateReceiveCount],
        "1"
    );
    assert_eq!(sys[&MessageSystemAttributeName::SenderId], "000000000000");
    assert!(sys.contains_key(&MessageSystemAttributeName::SentTimestamp));
    let first_handle = m.receipt_handle.clone().unwrap();

    // Only the requested message attributes come back, with the digest of those.
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("kind")
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .visibility_timeout(30)
        .send()
        .await
        .unwrap();
    let m = &got.messages()[0];
    assert_eq!(m.message_attributes.as_ref().unwrap().len(), 1);
    assert_ne!(
        m.md5_of_message_attributes.as_deref(),
        Some(sent_md5_attrs.as_str())
    );
    assert_eq!(
        m.attributes.as_ref().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount],
        "2"
    );
    let handle = m.receipt_handle.clone().unwrap();
    assert_ne!(handle, first_handle);

    // In flight: nothing visible; counters say so.
    let none = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert!(none.messages().is_empty());
    let a = attributes(&sqs, &url).await;
    assert_eq!(
        a[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible],
        "1"
    );
    assert_eq!(a[&QueueAttributeName::ApproximateNumberOfMessages], "0");

    // A stale handle: the visibility change applies to the message (as on AWS), the delete is accepted
    // but deletes nothing.
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&first_handle)
        .visibility_timeout(60)
        .send()
        .await
        .unwrap();
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(&first_handle)
        .send()
        .await
        .unwrap();
    let a = attributes(&sqs, &url).await;
    assert_eq!(
        a[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible],
        "1"
    );
    let e = sqs
        .delete_message()
        .queue_url(&url)
        .receipt_handle("garbage")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ReceiptHandleIsInvalid");
    assert!(e.into_service_error().is_receipt_handle_is_invalid());

    // At most 12 hours in flight per delivery.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let e = sqs
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&handle)
        .visibility_timeout(43_200)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValue");
    assert!(format!("{:?}", e.into_service_error()).contains("43200 seconds"));

    // Make it visible again with the current handle, then delete it for good.
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&handle)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let got = sqs.receive_message().queue_url(&url).send().await.unwrap();
    let handle = got.messages()[0].receipt_handle.clone().unwrap();
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(&handle)
        .send()
        .await
        .unwrap();
    let e = sqs
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&handle)
        .visibility_timeout(10)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValue");

    // Batches: per-entry failures and batch-level errors.
    let entry = |id: &str, body: &str| {
        SendMessageBatchRequestEntry::builder()
            .id(id)
            .message_body(body)
            .build()
            .unwrap()
    };
    let out = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("a", "one"))
        .entries(entry("b", "two"))
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("c")
                .message_body("three")
                .delay_seconds(901)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.successful().len(), 2);
    assert_eq!(out.failed().len(), 1);
    assert_eq!(out.failed()[0].id, "c");
    assert_eq!(out.failed()[0].code, "InvalidParameterValue");
    assert!(out.failed()[0].sender_fault);
    assert_eq!(
        out.successful()[0].md5_of_message_body,
        "f97c5d29941bfb1b2fdab0874906ab82"
    );

    let e = sqs
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some(vec![]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "AWS.SimpleQueueService.EmptyBatchRequest");
    let many: Vec<_> = (0..11).map(|i| entry(&format!("e{i}"), "x")).collect();
    let e = sqs
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some(many))
        .send()
        .await
        .unwrap_err();
    assert!(
        e.into_service_error()
            .is_too_many_entries_in_batch_request()
    );
    let e = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("same", "x"))
        .entries(entry("same", "y"))
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_batch_entry_ids_not_distinct());
    let e = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("bad id!", "x"))
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_invalid_batch_entry_id());
    let big = "x".repeat(600_000);
    let e = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("a", &big))
        .entries(entry("b", &big))
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_batch_request_too_long());

    let got = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages().len(), 2);
    let vis = sqs
        .change_message_visibility_batch()
        .queue_url(&url)
        .entries(
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id("a")
                .receipt_handle(got.messages()[0].receipt_handle().unwrap())
                .visibility_timeout(60)
                .build()
                .unwrap(),
        )
        .entries(
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id("bad")
                .receipt_handle("nonsense")
                .visibility_timeout(60)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(vis.successful().len(), 1);
    assert_eq!(vis.failed()[0].code, "ReceiptHandleIsInvalid");
    let del = sqs
        .delete_message_batch()
        .queue_url(&url)
        .set_entries(Some(
            got.messages()
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(format!("d{i}"))
                        .receipt_handle(m.receipt_handle().unwrap())
                        .build()
                        .unwrap()
                })
                .collect(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(del.successful().len(), 2);
    assert!(del.failed().is_empty());

    // DelaySeconds: delayed, then visible.
    sqs.send_message()
        .queue_url(&url)
        .message_body("later")
        .delay_seconds(1)
        .send()
        .await
        .unwrap();
    let a = attributes(&sqs, &url).await;
    assert_eq!(
        a[&QueueAttributeName::ApproximateNumberOfMessagesDelayed],
        "1"
    );
    assert!(
        sqs.receive_message()
            .queue_url(&url)
            .send()
            .await
            .unwrap()
            .messages()
            .is_empty()
    );
    let started = Instant::now();
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages()[0].body(), Some("later"));
    assert!(started.elapsed() < Duration::from_secs(3));

    // PurgeQueue and its 60-second rule.
    sqs.purge_queue().queue_url(&url).send().await.unwrap();
    let e = sqs.purge_queue().queue_url(&url).send().await.unwrap_err();
    assert!(e.into_service_error().is_purge_queue_in_progress());
    assert_eq!(
        attributes(&sqs, &url).await[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible],
        "0"
    );

    // Receive parameter validation.
    let e = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(11)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValue");
    let e = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(21)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValue");
}

#[tokio::test]
async fn long_polling_wakes_on_send_and_times_out_when_empty() {
    let skyport = Skyport::start();
    let sqs = client(&skyport.endpoint());
    let url = sqs
        .create_queue()
        .queue_name("poll")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();

    // Empty long poll: returns after WaitTimeSeconds.
    let started = Instant::now();
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(got.messages().is_empty());
    assert!(
        waited >= Duration::from_millis(990) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );

    // A waiting receive returns as soon as a message arrives.
    for _ in 0..3 {
        let poller = {
            let sqs = sqs.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let got = sqs
                    .receive_message()
                    .queue_url(&url)
                    .wait_time_seconds(10)
                    .send()
                    .await
                    .unwrap();
                (Instant::now(), got)
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        sqs.send_message()
            .queue_url(&url)
            .message_body("ping")
            .send()
            .await
            .unwrap();
        let sent_at = Instant::now();
        let (received_at, got) = poller.await.unwrap();
        assert_eq!(got.messages()[0].body(), Some("ping"));
        let latency = received_at.saturating_duration_since(sent_at);
        assert!(latency < Duration::from_millis(50), "{latency:?}");
        sqs.delete_message()
            .queue_url(&url)
            .receipt_handle(got.messages()[0].receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }

    // The queue's ReceiveMessageWaitTimeSeconds applies when the request names none.
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::ReceiveMessageWaitTimeSeconds, "1")
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(990));
}

#[tokio::test]
async fn dead_letter_redrive_and_message_move_tasks() {
    let skyport = Skyport::start();
    let sqs = client(&skyport.endpoint());
    let dlq = sqs
        .create_queue()
        .queue_name("jobs-dlq")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dlq_arn = "arn:aws:sqs:us-east-1:000000000000:jobs-dlq";
    let src = sqs
        .create_queue()
        .queue_name("jobs")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":2}}"#),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let id = sqs
        .send_message()
        .queue_url(&src)
        .message_body("poison")
        .send()
        .await
        .unwrap()
        .message_id
        .unwrap();
    for _ in 0..2 {
        let got = sqs
            .receive_message()
            .queue_url(&src)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
        assert_eq!(got.messages()[0].message_id(), Some(id.as_str()));
    }
    // The third receive exceeds maxReceiveCount: the message moves to the DLQ.
    let got = sqs.receive_message().queue_url(&src).send().await.unwrap();
    assert!(got.messages().is_empty());
    let got = sqs
        .receive_message()
        .queue_url(&dlq)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let m = &got.messages()[0];
    assert_eq!(m.message_id(), Some(id.as_str()));
    assert_eq!(
        m.attributes.as_ref().unwrap()[&MessageSystemAttributeName::DeadLetterQueueSourceArn],
        "arn:aws:sqs:us-east-1:000000000000:jobs"
    );

    // Move it back to its source.
    let e = sqs
        .start_message_move_task()
        .source_arn("arn:aws:sqs:us-east-1:000000000000:jobs")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValue");
    let task = sqs
        .start_message_move_task()
        .source_arn(dlq_arn)
        .send()
        .await
        .unwrap()
        .task_handle
        .unwrap();
    let mut status = String::new();
    for _ in 0..50 {
        let tasks = sqs
            .list_message_move_tasks()
            .source_arn(dlq_arn)
            .send()
            .await
            .unwrap();
        let t = &tasks.results()[0];
        status = t.status().unwrap_or("").to_owned();
        if status == "COMPLETED" {
            assert_eq!(t.approximate_number_of_messages_moved, 1);
            assert_eq!(t.approximate_number_of_messages_to_move, Some(1));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "COMPLETED");
    let e = sqs
        .cancel_message_move_task()
        .task_handle(&task)
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    let got = sqs.receive_message().queue_url(&src).send().await.unwrap();
    assert_eq!(got.messages()[0].message_id(), Some(id.as_str()));
    assert!(
        sqs.receive_message()
            .queue_url(&dlq)
            .send()
            .await
            .unwrap()
            .messages()
            .is_empty()
    );
}

#[tokio::test]
async fn fifo_order_groups_and_deduplication() {
    let skyport = Skyport::start();
    let sqs = client(&skyport.endpoint());
    let e = sqs
        .create_queue()
        .queue_name("plain.fifo")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValue");
    let e = sqs
        .create_queue()
        .queue_name("nofifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValue");
    let url = sqs
        .create_queue()
        .queue_name("events.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::DeduplicationScope, "messageGroup")
        .attributes(QueueAttributeName::FifoThroughputLimit, "perMessageGroupId")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let a = attributes(&sqs, &url).await;
    assert_eq!(a[&QueueAttributeName::FifoQueue], "true");
    assert_eq!(a[&QueueAttributeName::ContentBasedDeduplication], "false");
    assert_eq!(
        a[&QueueAttributeName::FifoThroughputLimit],
        "perMessageGroupId"
    );

    let e = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_deduplication_id("d")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "MissingParameter");
    let e = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_group_id("g")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValue");

    // Three groups, interleaved; one duplicate per group.
    let mut sequence_numbers = Vec::new();
    for i in 0..12 {
        let group = format!("g{}", i % 3);
        let out = sqs
            .send_message()
            .queue_url(&url)
            .message_body(format!("{group}-{}", i / 3))
            .message_group_id(&group)
            .message_deduplication_id(format!("d{i}"))
            .send()
            .await
            .unwrap();
        sequence_numbers.push(out.sequence_number.unwrap());
        if i < 3 {
            let dup = sqs
                .send_message()
                .queue_url(&url)
                .message_body("duplicate")
                .message_group_id(&group)
                .message_deduplication_id(format!("d{i}"))
                .send()
                .await
                .unwrap();
            assert_eq!(dup.message_id, out.message_id);
        }
    }
    assert!(sequence_numbers.windows(2).all(|w| w[0] < w[1]));
    assert!(sequence_numbers.iter().all(|s| s.len() == 20));

    // One in-flight batch per group: g0 is blocked while its first message is in flight.
    let first = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(1)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let m0 = &first.messages()[0];
    assert_eq!(m0.body(), Some("g0-0"));
    let sys = m0.attributes.as_ref().unwrap();
    assert_eq!(sys[&MessageSystemAttributeName::MessageGroupId], "g0");
    assert_eq!(
        sys[&MessageSystemAttributeName::MessageDeduplicationId],
        "d0"
    );
    assert_eq!(
        sys[&MessageSystemAttributeName::SequenceNumber],
        sequence_numbers[0]
    );

    let mut by_group: HashMap<String, Vec<String>> = HashMap::new();
    let rest = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert!(
        rest.messages()
            .iter()
            .all(|m| !m.body().unwrap().starts_with("g0"))
    );
    assert_eq!(rest.messages().len(), 8);
    for m in rest.messages() {
        let body = m.body().unwrap().to_owned();
        by_group.entry(body[..2].to_owned()).or_default().push(body);
    }
    // ReceiveRequestAttemptId: a retried receive returns the same messages.
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(m0.receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    let a1 = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .receive_request_attempt_id("attempt-1")
        .send()
        .await
        .unwrap();
    let a2 = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .receive_request_attempt_id("attempt-1")
        .send()
        .await
        .unwrap();
    assert_eq!(a1.messages().len(), 3);
    assert_eq!(
        a1.messages()
            .iter()
            .map(|m| m.receipt_handle())
            .collect::<Vec<_>>(),
        a2.messages()
            .iter()
            .map(|m| m.receipt_handle())
            .collect::<Vec<_>>()
    );
    for m in a1.messages() {
        by_group
            .entry("g0".into())
            .or_default()
            .push(m.body().unwrap().to_owned());
    }
    for (group, bodies) in &by_group {
        let expected: Vec<String> = (0..4)
            .map(|i| format!("{group}-{i}"))
            .filter(|b| b != "g0-0")
            .collect();
        assert_eq!(bodies, &expected, "group {group}");
    }

    // Content-based deduplication.
    let cbd = sqs
        .create_queue()
        .queue_name("cbd.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let one = sqs
        .send_message()
        .queue_url(&cbd)
        .message_body("same")
        .message_group_id("g")
        .send()
        .await
        .unwrap();
    let two = sqs
        .send_message()
        .queue_url(&cbd)
        .message_body("same")
        .message_group_id("g")
        .send()
        .await
        .unwrap();
    assert_eq!(one.message_id, two.message_id);
    let got = sqs
        .receive_message()
        .queue_url(&cbd)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::MessageDeduplicationId)
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages().len(), 1);
    // The content-based id is the SHA-256 of the body.
    assert_eq!(
        got.messages()[0].attributes.as_ref().unwrap()
            [&MessageSystemAttributeName::MessageDeduplicationId],
        "0967115f2813a3541eaef77de9d9d5773f1c0c04314b0bbfe4ff3b3b1c55b5d5"
    );
}

/// The move tasks of a source queue, most recent first.
async fn move_tasks(
    sqs: &Client,
    source_arn: &str,
) -> Vec<aws_sdk_sqs::types::ListMessageMoveTasksResultEntry> {
    sqs.list_message_move_tasks()
        .source_arn(source_arn)
        .max_results(10)
        .send()
        .await
        .unwrap()
        .results()
        .to_vec()
}

/// With `PERSISTENCE=1`, a message move task running at `kill -9` goes on after the restart and moves
/// every message exactly once; finished tasks are still listed; and the `PurgeQueue` 60 s rule
/// (`SQS_DELAY_PURGE_RETRY=1`) still holds after the restart.
#[tokio::test]
async fn move_tasks_and_the_purge_rule_survive_kill_9() {
    let state = tempfile::tempdir().unwrap();
    let options = Options::default()
        .env("PERSISTENCE", "1")
        .env("SQS_DELAY_PURGE_RETRY", "1")
        .state_dir(state.path());
    let mut skyport = Skyport::start_with(options.clone());
    let sqs = client(&skyport.endpoint());
    let dlq_arn = "arn:aws:sqs:us-east-1:000000000000:orders-dlq";
    let dlq = sqs
        .create_queue()
        .queue_name("orders-dlq")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let src = sqs
        .create_queue()
        .queue_name("orders")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":3}}"#),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let purged = sqs
        .create_queue()
        .queue_name("purged")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();

    // A first task that completes.
    sqs.send_message()
        .queue_url(&dlq)
        .message_body("first")
        .send()
        .await
        .unwrap();
    sqs.start_message_move_task()
        .source_arn(dlq_arn)
        .send()
        .await
        .unwrap();
    for _ in 0..100 {
        if move_tasks(&sqs, dlq_arn).await[0].status() == Some("COMPLETED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        move_tasks(&sqs, dlq_arn).await[0].status(),
        Some("COMPLETED")
    );

    // A second, slow task (2 messages a second) that the kill interrupts.
    const MOVED: usize = 8;
    for i in 0..MOVED {
        sqs.send_message()
            .queue_url(&dlq)
            .message_body(format!("order-{i}"))
            .send()
            .await
            .unwrap();
    }
    let handle = sqs
        .start_message_move_task()
        .source_arn(dlq_arn)
        .max_number_of_messages_per_second(2)
        .send()
        .await
        .unwrap()
        .task_handle
        .unwrap();
    let started = Instant::now();
    loop {
        let t = &move_tasks(&sqs, dlq_arn).await[0];
        if t.approximate_number_of_messages_moved >= 2 {
            assert_eq!(t.status(), Some("RUNNING"));
            assert!(t.approximate_number_of_messages_moved < MOVED as i64);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sqs.purge_queue().queue_url(&purged).send().await.unwrap();
    skyport.signal("KILL");
    skyport.wait_exit(Duration::from_secs(10));
    drop(skyport);

    let skyport = Skyport::start_with(options);
    let sqs = client(&skyport.endpoint());
    let tasks = move_tasks(&sqs, dlq_arn).await;
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert_eq!(tasks[1].status(), Some("COMPLETED"));
    assert_eq!(tasks[1].approximate_number_of_messages_moved, 1);
    assert!(
        matches!(tasks[0].status(), Some("RUNNING" | "COMPLETED")),
        "{tasks:?}"
    );
    assert_eq!(
        tasks[0].approximate_number_of_messages_to_move,
        Some(MOVED as i64)
    );
    assert_eq!(tasks[0].max_number_of_messages_per_second, Some(2));
    // The purge of a minute ago still counts.
    let e = sqs
        .purge_queue()
        .queue_url(&purged)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "AWS.SimpleQueueService.PurgeQueueInProgress");

    // The task goes on to the end; every message arrives exactly once.
    let resumed = Instant::now();
    loop {
        let t = &move_tasks(&sqs, dlq_arn).await[0];
        if t.status() == Some("COMPLETED") {
            assert_eq!(t.approximate_number_of_messages_moved, MOVED as i64);
            assert!(t.task_handle().is_none());
            break;
        }
        assert_eq!(t.status(), Some("RUNNING"));
        assert_eq!(t.task_handle(), Some(handle.as_str()));
        assert!(resumed.elapsed() < Duration::from_secs(15), "{t:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut bodies = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(&src)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            break;
        }
        for m in got.messages() {
            bodies.push(m.body().unwrap().to_owned());
            sqs.delete_message()
                .queue_url(&src)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    bodies.sort();
    let mut expected: Vec<String> = (0..MOVED).map(|i| format!("order-{i}")).collect();
    expected.push("first".into());
    expected.sort();
    assert_eq!(bodies, expected);
    let left = sqs.receive_message().queue_url(&dlq).send().await.unwrap();
    assert!(left.messages().is_empty());
}

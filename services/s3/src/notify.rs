//! Event notifications to SQS through [`skyport_core::bus::QueueSink`] and to Lambda through
//! [`skyport_core::bus::FunctionInvoker`]: the bucket's `NotificationConfiguration` (queue and
//! Lambda function configurations with event patterns such as `s3:ObjectCreated:*` and prefix/suffix
//! key filters), the `s3:TestEvent` sent to each queue when a configuration is put (an unknown queue
//! fails the put, as in AWS; so does a function whose resource policy does not let
//! `s3.amazonaws.com` invoke it), and the event records in AWS's JSON shape (functions are invoked
//! asynchronously with `{"Records": [record]}`). With an `EventBridgeConfiguration`, every event of the
//! bucket also goes to the account's default EventBridge bus through [`skyport_core::bus::EventSink`],
//! in the shape AWS gives it there ("Object Created", "Object Deleted"). Topic configurations publish
//! the same records to SNS topics through [`skyport_core::bus::TopicPublisher`] (subject "Amazon S3
//! Notification"), with the test event published when the configuration is put.

use skyport_core::RequestContext;
use skyport_core::bus::{BusAttributes, BusError, BusEvent, TopicMessage};

use crate::error::{S3Error, S3Result};
use crate::wire::{self, XmlNode};
use crate::{S3, canonical_id};

/// What a notification goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// An SQS queue (`QueueConfiguration`).
    Queue,
    /// A Lambda function (`CloudFunctionConfiguration`, the API's `LambdaFunctionConfigurations`).
    Function,
    /// An SNS topic (`TopicConfiguration`).
    Topic,
}

/// The subject of the SNS messages S3 publishes.
const SNS_SUBJECT: &str = "Amazon S3 Notification";

/// One queue or function destination.
#[derive(Debug, Clone)]
pub struct QueueTarget {
    pub kind: TargetKind,
    pub id: String,
    pub arn: String,
    pub events: Vec<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
}

/// The queue configurations of a `NotificationConfiguration` document.
pub fn queue_targets(root: &XmlNode) -> Vec<QueueTarget> {
    targets(root, TargetKind::Queue)
}

/// The queue, function and topic configurations of a `NotificationConfiguration` document.
pub fn all_targets(root: &XmlNode) -> Vec<QueueTarget> {
    let mut out = targets(root, TargetKind::Queue);
    out.extend(targets(root, TargetKind::Function));
    out.extend(targets(root, TargetKind::Topic));
    out
}

fn targets(root: &XmlNode, kind: TargetKind) -> Vec<QueueTarget> {
    let (element, arn_element) = match kind {
        TargetKind::Queue => ("QueueConfiguration", "Queue"),
        TargetKind::Function => ("CloudFunctionConfiguration", "CloudFunction"),
        TargetKind::Topic => ("TopicConfiguration", "Topic"),
    };
    root.all(element)
        .map(|q| {
            let mut prefix = None;
            let mut suffix = None;
            if let Some(key) = q.child("Filter").and_then(|f| f.child("S3Key")) {
                for rule in key.all("FilterRule") {
                    let name = rule.text_of("Name").unwrap_or("").to_ascii_lowercase();
                    let value = rule.text_of("Value").unwrap_or("").to_owned();
                    match name.as_str() {
                        "prefix" => prefix = Some(value),
                        "suffix" => suffix = Some(value),
                        _ => {}
                    }
                }
            }
            QueueTarget {
                kind,
                id: q
                    .text_of("Id")
                    .map(str::to_owned)
                    .unwrap_or_else(skyport_core::ids::uuid),
                arn: q.text_of(arn_element).unwrap_or("").to_owned(),
                events: q.all("Event").map(|e| e.text.clone()).collect(),
                prefix,
                suffix,
            }
        })
        .collect()
}

/// Whether `pattern` (`s3:ObjectCreated:*`, `s3:ObjectRemoved:Delete`) covers `event`
/// (`ObjectCreated:Put`).
fn event_matches(pattern: &str, event: &str) -> bool {
    let pattern = pattern.strip_prefix("s3:").unwrap_or(pattern);
    match pattern.strip_suffix('*') {
        Some(head) => event.starts_with(head),
        None => pattern == event,
    }
}

/// What happened to an object.
#[derive(Debug, Clone)]
pub struct ObjectEvent {
    /// `ObjectCreated:Put`, `ObjectRemoved:Delete`, ...
    pub name: &'static str,
    pub key: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    /// For `ObjectRestore:Completed`: when the restored copy expires (ms) and the object's class.
    pub restore: Option<(u64, String)>,
}

/// Form-style encoding of keys in event records (as S3: space becomes `+`).
fn event_key(key: &str) -> String {
    form_urlencoded::byte_serialize(key.as_bytes())
        .collect::<String>()
        .replace("%2F", "/")
}

impl S3 {
    /// Sends the test event to every queue of a new configuration; fails like AWS when a queue is
    /// unknown.
    pub(crate) async fn validate_notification(
        &self,
        ctx: &RequestContext,
        bucket: &str,
        doc: &str,
    ) -> S3Result<()> {
        let root = wire::parse_xml(doc.as_bytes())?;
        for t in targets(&root, TargetKind::Function) {
            if t.events.is_empty() {
                return Err(S3Error::MalformedXml);
            }
            let allowed = match self.functions.get() {
                Some(functions) => functions.allows_invoke(&t.arn, "s3.amazonaws.com").await,
                None => false,
            };
            if !allowed {
                return Err(S3Error::argument(
                    "Unable to validate the following destination configurations",
                    &t.arn,
                    &format!("Not authorized to invoke function [{}]", t.arn),
                ));
            }
        }
        let test_event = serde_json::json!({
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": skyport_core::timefmt::iso8601_millis(std::time::SystemTime::now()),
            "Bucket": bucket,
            "RequestId": ctx.request_id,
            "HostId": skyport_core::ids::s3_host_id(),
        })
        .to_string();
        for t in targets(&root, TargetKind::Topic) {
            if t.events.is_empty() {
                return Err(S3Error::MalformedXml);
            }
            if !matches!(
                self.publish_to_topic(&t.arn, test_event.clone()).await,
                Some(Ok(()))
            ) {
                return Err(S3Error::argument(
                    "Unable to validate the following destination configurations",
                    &t.arn,
                    "Permissions on the destination topic do not allow S3 to publish notifications from this bucket",
                ));
            }
        }
        let targets = queue_targets(&root);
        if targets.is_empty() {
            return Ok(());
        }
        let Some(sink) = &self.queue_sink else {
            return Err(S3Error::argument(
                "Unable to validate the following destination configurations",
                &targets[0].arn,
                "SQS is not enabled",
            ));
        };
        for t in &targets {
            if t.events.is_empty() {
                return Err(S3Error::MalformedXml);
            }
            let body = test_event.clone();
            if let Err(e) = sink.send_to_queue(&t.arn, body, BusAttributes::new()).await {
                let value = match e {
                    BusError::NoSuchQueue(_) => "The destination queue does not exist",
                    _ => {
                        "Permissions on the destination queue do not allow S3 to publish notifications from this bucket"
                    }
                };
                return Err(S3Error::argument(
                    "Unable to validate the following destination configurations",
                    &t.arn,
                    value,
                ));
            }
        }
        Ok(())
    }

    /// Publishes `message` to the SNS topic `arn` under S3's subject; `None` when SNS is not wired in.
    async fn publish_to_topic(&self, arn: &str, message: String) -> Option<Result<(), BusError>> {
        let topics = self.topics.get()?;
        let message = TopicMessage {
            message,
            subject: Some(SNS_SUBJECT.to_owned()),
            ..TopicMessage::default()
        };
        Some(topics.publish(arn, message).await.map(|_| ()))
    }

    /// Delivers events to the bucket's matching queues (errors are logged: the object operation has
    /// already succeeded).
    pub(crate) async fn notify(&self, ctx: &RequestContext, bucket: &str, events: &[ObjectEvent]) {
        if events.is_empty() {
            return;
        }
        let Ok(b) = self.bucket(bucket) else {
            return;
        };
        let Some(doc) = b.config.get("notification") else {
            return;
        };
        let Ok(root) = wire::parse_xml(doc.as_bytes()) else {
            return;
        };
        if root.child("EventBridgeConfiguration").is_some() {
            self.notify_eventbridge(ctx, bucket, &b.region, events)
                .await;
        }
        let targets = all_targets(&root);
        for ev in events {
            for t in &targets {
                if !t.events.iter().any(|p| event_matches(p, ev.name)) {
                    continue;
                }
                if t.prefix.as_deref().is_some_and(|p| !ev.key.starts_with(p))
                    || t.suffix.as_deref().is_some_and(|s| !ev.key.ends_with(s))
                {
                    continue;
                }
                let mut object = serde_json::json!({
                    "key": event_key(&ev.key),
                    "sequencer": format!("{:016X}", crate::model::now_ms().saturating_mul(1000) + u64::from(fastrand::u16(..))),
                });
                if let Some(size) = ev.size {
                    object["size"] = size.into();
                }
                if let Some(etag) = &ev.etag {
                    object["eTag"] = etag.clone().into();
                }
                if let Some(v) = ev.version_id.as_deref().filter(|v| *v != "null") {
                    object["versionId"] = v.into();
                }
                let mut record = serde_json::json!({
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": b.region,
                    "eventTime": skyport_core::timefmt::iso8601_millis(std::time::SystemTime::now()),
                    "eventName": ev.name,
                    "userIdentity": {"principalId": format!("AWS:{}", ctx.access_key.as_deref().unwrap_or(&ctx.account))},
                    "requestParameters": {"sourceIPAddress": ctx.client.map(|c| c.ip().to_string()).unwrap_or_else(|| "127.0.0.1".into())},
                    "responseElements": {
                        "x-amz-request-id": ctx.request_id,
                        "x-amz-id-2": skyport_core::ids::s3_host_id(),
                    },
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "configurationId": t.id,
                        "bucket": {
                            "name": bucket,
                            "ownerIdentity": {"principalId": canonical_id(&ctx.account)},
                            "arn": format!("arn:{}:s3:::{bucket}", ctx.partition()),
                        },
                        "object": object,
                    },
                });
                if let Some((expiry_ms, class)) = &ev.restore
                    && ev.name == "ObjectRestore:Completed"
                {
                    record["glacierEventData"] = serde_json::json!({
                        "restoreEventData": {
                            "lifecycleRestorationExpiryTime": skyport_core::timefmt::iso8601_millis(crate::model::time_of(*expiry_ms)),
                            "lifecycleRestoreStorageClass": class,
                        }
                    });
                }
                let body = serde_json::json!({ "Records": [record] }).to_string();
                let delivered = match (t.kind, &self.queue_sink, self.functions.get()) {
                    (TargetKind::Queue, Some(sink), _) => {
                        sink.send_to_queue(&t.arn, body, BusAttributes::new()).await
                    }
                    (TargetKind::Function, _, Some(functions)) => {
                        functions.invoke_async(&t.arn, body.into()).await
                    }
                    (TargetKind::Topic, _, _) => {
                        self.publish_to_topic(&t.arn, body).await.unwrap_or(Ok(()))
                    }
                    _ => Ok(()),
                };
                if let Err(e) = delivered {
                    tracing::warn!(bucket, destination = %t.arn, "S3 event notification not delivered: {e}");
                }
            }
        }
    }
}

/// The EventBridge `detail-type`, `reason` and `deletion-type` of an S3 event.
fn eventbridge_kind(name: &str) -> Option<(&'static str, &'static str, Option<&'static str>)> {
    Some(match name {
        "ObjectCreated:Put" => ("Object Created", "PutObject", None),
        "ObjectCreated:Post" => ("Object Created", "POST Object", None),
        "ObjectCreated:Copy" => ("Object Created", "CopyObject", None),
        "ObjectCreated:CompleteMultipartUpload" => {
            ("Object Created", "CompleteMultipartUpload", None)
        }
        "ObjectRemoved:Delete" => (
            "Object Deleted",
            "DeleteObject",
            Some("Permanently Deleted"),
        ),
        "ObjectRemoved:DeleteMarkerCreated" => (
            "Object Deleted",
            "DeleteObject",
            Some("Delete Marker Created"),
        ),
        "ObjectTagging:Put" => ("Object Tags Added", "PutObjectTagging", None),
        "ObjectTagging:Delete" => ("Object Tags Deleted", "DeleteObjectTagging", None),
        "ObjectAcl:Put" => ("Object ACL Updated", "PutObjectAcl", None),
        "ObjectRestore:Post" => ("Object Restore Initiated", "RestoreObject", None),
        "ObjectRestore:Completed" => ("Object Restore Completed", "RestoreObject", None),
        _ => return None,
    })
}

/// The `detail` AWS gives an S3 event on EventBridge.
fn eventbridge_detail(
    ctx: &RequestContext,
    bucket: &str,
    ev: &ObjectEvent,
    reason: &str,
    deletion: Option<&str>,
) -> serde_json::Value {
    let mut object = serde_json::json!({
        "key": ev.key,
        "sequencer": format!("{:016X}", crate::model::now_ms().saturating_mul(1000) + u64::from(fastrand::u16(..))),
    });
    if let Some(size) = ev.size.filter(|_| deletion.is_none()) {
        object["size"] = size.into();
    }
    if let Some(etag) = &ev.etag {
        object["etag"] = etag.trim_matches('"').into();
    }
    if let Some(v) = ev.version_id.as_deref().filter(|v| *v != "null") {
        object["version-id"] = v.into();
    }
    let mut detail = serde_json::json!({
        "version": "0",
        "bucket": {"name": bucket},
        "object": object,
        "request-id": ctx.request_id,
        "requester": ctx.account,
        "source-ip-address": ctx.client.map(|c| c.ip().to_string()).unwrap_or_else(|| "127.0.0.1".into()),
        "reason": reason,
    });
    if let Some(deletion) = deletion {
        detail["deletion-type"] = deletion.into();
    }
    if let Some((expiry_ms, class)) = &ev.restore {
        detail["source-storage-class"] = class.clone().into();
        if ev.name == "ObjectRestore:Completed" {
            detail["restore-expiry-time"] =
                skyport_core::timefmt::iso8601_millis(crate::model::time_of(*expiry_ms)).into();
        }
    }
    detail
}

impl S3 {
    /// Puts the bucket's events on the account's default EventBridge bus.
    async fn notify_eventbridge(
        &self,
        ctx: &RequestContext,
        bucket: &str,
        region: &str,
        events: &[ObjectEvent],
    ) {
        let Some(sink) = self.event_sink.get() else {
            return;
        };
        for ev in events {
            let Some((detail_type, reason, deletion)) = eventbridge_kind(ev.name) else {
                continue;
            };
            let event = BusEvent {
                account: ctx.account.clone(),
                region: region.to_owned(),
                bus: String::new(),
                source: "aws.s3".to_owned(),
                detail_type: detail_type.to_owned(),
                detail: eventbridge_detail(ctx, bucket, ev, reason, deletion).to_string(),
                resources: vec![format!("arn:{}:s3:::{bucket}", ctx.partition())],
                time_ms: None,
            };
            if let Err(e) = sink.put_event(event).await {
                tracing::warn!(bucket, "S3 event not put on EventBridge: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_keys() {
        assert!(event_matches("s3:ObjectCreated:*", "ObjectCreated:Put"));
        assert!(event_matches(
            "s3:ObjectRemoved:Delete",
            "ObjectRemoved:Delete"
        ));
        assert!(!event_matches(
            "s3:ObjectRemoved:Delete",
            "ObjectRemoved:DeleteMarkerCreated"
        ));
        assert!(!event_matches("s3:ObjectCreated:*", "ObjectRemoved:Delete"));
        assert_eq!(event_key("a b/c+d"), "a+b/c%2Bd");
        let root = wire::parse_xml(
            b"<NotificationConfiguration><QueueConfiguration><Id>x</Id><Queue>arn:aws:sqs:us-east-1:000000000000:q</Queue>\
              <Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>in/</Value></FilterRule>\
              <FilterRule><Name>Suffix</Name><Value>.jpg</Value></FilterRule></S3Key></Filter></QueueConfiguration></NotificationConfiguration>",
        )
        .unwrap();
        let t = queue_targets(&root);
        assert_eq!(t[0].prefix.as_deref(), Some("in/"));
        assert_eq!(t[0].suffix.as_deref(), Some(".jpg"));
        assert_eq!(t[0].events, ["s3:ObjectCreated:*"]);
        let root = wire::parse_xml(
            b"<NotificationConfiguration><CloudFunctionConfiguration><Id>f</Id>\
              <CloudFunction>arn:aws:lambda:us-east-1:000000000000:function:f</CloudFunction>\
              <Event>s3:ObjectCreated:Put</Event></CloudFunctionConfiguration></NotificationConfiguration>",
        )
        .unwrap();
        let t = all_targets(&root);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].kind, TargetKind::Function);
        assert_eq!(t[0].arn, "arn:aws:lambda:us-east-1:000000000000:function:f");
    }
}

//! Routing: the event envelope AWS delivers, matching a bus's enabled rules, and delivery to each
//! matching rule's targets (SQS through [`QueueSink`], Lambda through [`FunctionInvoker`], SNS through
//! [`TopicPublisher`], another event bus by putting the event on it).
//!
//! Delivery is asynchronous, as in AWS: `PutEvents` answers once the events are accepted. A target
//! that refuses an event is logged (`tracing`), not retried.

use std::sync::Arc;

use serde_json::{Value, json};
use skyport_core::arn::Arn;
use skyport_core::bus::{
    FunctionInvoker, OutgoingMessage, QueueSink, TopicMessage, TopicPublisher,
};
use skyport_wire::persist;

use crate::shapes;
use crate::state::{DEFAULT_BUS, RuleRecord};
use crate::transform::{JsonPath, Reserved, Transformer};

/// How many times an event may move from bus to bus (a loop of bus targets stops there).
pub const MAX_HOPS: u8 = 5;

/// An accepted event, as targets receive it.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The event id.
    pub id: String,
    /// `detail-type`.
    pub detail_type: String,
    /// `source`.
    pub source: String,
    /// The account.
    pub account: String,
    /// `time`, ISO 8601 in seconds.
    pub time: String,
    /// The region.
    pub region: String,
    /// `resources`.
    pub resources: Vec<String>,
    /// `detail`: a JSON object.
    pub detail: Value,
    /// When EventBridge received it, ISO 8601.
    pub ingestion_time: String,
}

impl Envelope {
    /// The event as JSON, with AWS's members in AWS's order.
    pub fn to_json(&self) -> Value {
        json!({
            "version": "0",
            "id": self.id,
            "detail-type": self.detail_type,
            "source": self.source,
            "account": self.account,
            "time": self.time,
            "region": self.region,
            "resources": self.resources,
            "detail": self.detail,
        })
    }
}

/// `arn:<partition>:events:<region>:<account>:event-bus/<name>`.
pub fn bus_arn(region: &str, account: &str, bus: &str) -> String {
    Arn::new("events", region, account, &format!("event-bus/{bus}")).to_string()
}

/// `arn:...:rule/<name>` on the default bus, `rule/<bus>/<name>` on the others.
pub fn rule_arn(region: &str, account: &str, bus: &str, rule: &str) -> String {
    let resource = if bus == DEFAULT_BUS {
        format!("rule/{rule}")
    } else {
        format!("rule/{bus}/{rule}")
    };
    Arn::new("events", region, account, &resource).to_string()
}

/// The bus a target ARN names: `(region, account, name)`.
pub fn parse_bus_arn(arn: &str) -> Option<(String, String, String)> {
    let arn = Arn::parse(arn).ok().filter(|a| a.service == "events")?;
    let name = arn.resource.strip_prefix("event-bus/")?.to_owned();
    Some((arn.region, arn.account, name))
}

/// The service of an ARN (`sqs`, `lambda`, ...).
pub fn arn_service(arn: &str) -> Option<String> {
    Arn::parse(arn).ok().map(|a| a.service)
}

/// The cross-service connections targets deliver through.
#[derive(Clone, Default)]
pub struct Connections {
    /// SQS.
    pub queues: Option<Arc<dyn QueueSink>>,
    /// Lambda.
    pub functions: Option<Arc<dyn FunctionInvoker>>,
    /// SNS.
    pub topics: Option<Arc<dyn TopicPublisher>>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("queues", &self.queues.is_some())
            .field("functions", &self.functions.is_some())
            .field("topics", &self.topics.is_some())
            .finish()
    }
}

/// A rule's target, read back from the store.
pub fn stored_target(value: &Value) -> Option<shapes::Target> {
    persist::from_json(crate::model(), "Target", value).ok()
}

/// What one target receives for `event` matched by `rule`.
pub fn target_input(
    target: &shapes::Target,
    event: &Value,
    rule_arn: &str,
    rule: &str,
    ingestion: &str,
) -> String {
    if let Some(input) = &target.input {
        return input.clone();
    }
    if let Some(path) = &target.input_path {
        return match JsonPath::parse(path)
            .ok()
            .and_then(|p| p.select(event).cloned())
        {
            Some(v) => v.to_string(),
            None => String::new(),
        };
    }
    if let Some(t) = &target.input_transformer {
        let paths = t.input_paths_map.clone().unwrap_or_default();
        if let Ok(transformer) = Transformer::new(&paths, &t.input_template) {
            return transformer.apply(
                event,
                Reserved {
                    rule_arn,
                    rule_name: rule,
                    ingestion_time: ingestion,
                },
            );
        }
    }
    event.to_string()
}

/// Where one delivery goes: a bus (the caller routes it again) or done.
#[derive(Debug)]
pub enum Delivered {
    /// Delivered (or logged as failed).
    Done,
    /// The target is the bus `(region, account, name)`: put the event there.
    Bus(String, String, String),
}

/// Delivers `event` to `target` of `rule` (on `account`/`region`).
pub async fn deliver(
    connections: &Connections,
    account: &str,
    region: &str,
    rule: &RuleRecord,
    target: &shapes::Target,
    envelope: &Envelope,
    event: &Value,
) -> Delivered {
    let arn = rule_arn(region, account, &rule.bus, &rule.name);
    let arn_target = target.arn.as_str();
    let service = arn_service(arn_target).unwrap_or_default();
    if service == "events"
        && let Some((r, a, name)) = parse_bus_arn(arn_target)
    {
        return Delivered::Bus(r, a, name);
    }
    let input = target_input(target, event, &arn, &rule.name, &envelope.ingestion_time);
    let outcome = match service.as_str() {
        "sqs" => match &connections.queues {
            Some(queues) => {
                let fifo = arn_target.ends_with(".fifo");
                let message = OutgoingMessage {
                    body: input,
                    group_id: if fifo {
                        target
                            .sqs_parameters
                            .as_ref()
                            .and_then(|p| p.message_group_id.clone())
                    } else {
                        None
                    },
                    dedup_id: fifo.then(|| envelope.id.clone()),
                    ..OutgoingMessage::default()
                };
                queues.send_message(arn_target, message).await.map(|_| ())
            }
            None => Err(skyport_core::bus::BusError::NoSuchTarget(
                arn_target.to_owned(),
            )),
        },
        "lambda" => match &connections.functions {
            Some(functions) => {
                functions
                    .invoke_async(arn_target, bytes::Bytes::from(input))
                    .await
            }
            None => Err(skyport_core::bus::BusError::NoSuchTarget(
                arn_target.to_owned(),
            )),
        },
        "sns" => match &connections.topics {
            Some(topics) => {
                let message = TopicMessage {
                    message: input,
                    ..TopicMessage::default()
                };
                topics.publish(arn_target, message).await.map(|_| ())
            }
            None => Err(skyport_core::bus::BusError::NoSuchTarget(
                arn_target.to_owned(),
            )),
        },
        _ => Err(skyport_core::bus::BusError::NoSuchTarget(format!(
            "{arn_target} (Skyport delivers to SQS, Lambda, SNS and event bus targets)"
        ))),
    };
    if let Err(e) = outcome {
        tracing::warn!(rule = %arn, target = %target.id, "EventBridge could not deliver event {}: {e}", envelope.id);
    }
    Delivered::Done
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyport_core::bus::BusError;
    use std::sync::Mutex;

    #[derive(Default)]
    struct FakeTopics(Mutex<Vec<(String, TopicMessage)>>);

    #[async_trait::async_trait]
    impl TopicPublisher for FakeTopics {
        async fn publish(
            &self,
            topic_arn: &str,
            message: TopicMessage,
        ) -> Result<String, BusError> {
            let mut seen = self
                .0
                .lock()
                .map_err(|e| BusError::Internal(e.to_string()))?;
            seen.push((topic_arn.to_owned(), message));
            Ok(format!("m-{}", seen.len()))
        }
    }

    fn envelope() -> Envelope {
        Envelope {
            id: "e-1".into(),
            detail_type: "Order".into(),
            source: "shop".into(),
            account: "000000000000".into(),
            time: "2026-12-07T00:00:00Z".into(),
            region: "us-east-1".into(),
            resources: vec![],
            detail: json!({"n": 1}),
            ingestion_time: "2026-12-07T00:00:00Z".into(),
        }
    }

    fn rule() -> RuleRecord {
        RuleRecord {
            name: "r".into(),
            bus: "default".into(),
            event_pattern: None,
            schedule: None,
            state: "ENABLED".into(),
            description: None,
            role_arn: None,
            tags: Default::default(),
            targets: vec![],
            created: 0,
        }
    }

    #[tokio::test]
    async fn sns_targets_publish_the_event_through_the_topic_publisher() {
        let topics = Arc::new(FakeTopics::default());
        let connections = Connections {
            topics: Some(topics.clone()),
            ..Connections::default()
        };
        let target = shapes::Target {
            id: "t".into(),
            arn: "arn:aws:sns:us-east-1:000000000000:orders".into(),
            input_path: Some("$.detail".into()),
            ..Default::default()
        };
        let e = envelope();
        let out = deliver(
            &connections,
            "000000000000",
            "us-east-1",
            &rule(),
            &target,
            &e,
            &e.to_json(),
        )
        .await;
        assert!(matches!(out, Delivered::Done));
        let seen = topics.0.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "arn:aws:sns:us-east-1:000000000000:orders");
        assert_eq!(seen[0].1.message, r#"{"n":1}"#);
    }

    #[test]
    fn envelopes_have_aws_members() {
        let v = envelope().to_json();
        for key in [
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
            "detail",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["version"], "0");
    }

    #[test]
    fn arns() {
        assert_eq!(
            rule_arn("us-east-1", "1", "default", "r"),
            "arn:aws:events:us-east-1:1:rule/r"
        );
        assert_eq!(
            rule_arn("us-east-1", "1", "b", "r"),
            "arn:aws:events:us-east-1:1:rule/b/r"
        );
        assert_eq!(
            parse_bus_arn("arn:aws:events:us-east-1:1:event-bus/b"),
            Some(("us-east-1".into(), "1".into(), "b".into()))
        );
    }
}

//! What SNS delivers: the JSON envelope of a notification (and of a subscription confirmation), the
//! Lambda event record, the message attributes as each protocol carries them, and the canonical
//! string a signature covers.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Value, json};
use skyport_core::bus::{BusAttribute, BusAttributes};

/// One message attribute as `Publish` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// `String`, `String.Array`, `Number`, `Binary` (with optional custom suffixes).
    pub data_type: String,
    /// The value of string and number attributes.
    pub string_value: Option<String>,
    /// The value of binary attributes.
    pub binary_value: Option<Vec<u8>>,
}

impl Attribute {
    /// The value as the envelope's `MessageAttributes` carry it (binary as base64).
    pub fn envelope_value(&self) -> String {
        match &self.binary_value {
            Some(b) if self.data_type.starts_with("Binary") => {
                base64::engine::general_purpose::STANDARD.encode(b)
            }
            _ => self.string_value.clone().unwrap_or_default(),
        }
    }

    /// The attribute on the bus (SQS message attributes of raw deliveries; `String.Array` becomes
    /// `String`, as SNS sends it to SQS).
    pub fn to_bus(&self) -> BusAttribute {
        let data_type = if self.data_type == "String.Array" {
            "String".to_owned()
        } else {
            self.data_type.clone()
        };
        BusAttribute {
            data_type,
            string_value: self.string_value.clone(),
            binary_value: self.binary_value.clone(),
        }
    }
}

/// Attributes by name.
pub type Attributes = BTreeMap<String, Attribute>;

/// The attributes as SQS message attributes.
pub fn bus_attributes(attributes: &Attributes) -> BusAttributes {
    attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.to_bus()))
        .collect()
}

/// One published message, as every subscription's delivery sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The SNS message id.
    pub message_id: String,
    /// The topic.
    pub topic_arn: String,
    /// The message (for `MessageStructure: json`, the whole JSON document).
    pub message: String,
    /// Per-protocol messages of `MessageStructure: json` (`default` is always there then).
    pub structured: Option<BTreeMap<String, String>>,
    /// `Subject`.
    pub subject: Option<String>,
    /// The attributes.
    pub attributes: Attributes,
    /// ISO 8601 with milliseconds.
    pub timestamp: String,
    /// FIFO: the group.
    pub group_id: Option<String>,
    /// FIFO: the deduplication id.
    pub dedup_id: Option<String>,
    /// FIFO: the sequence number.
    pub sequence_number: Option<String>,
}

impl Published {
    /// The message text for a protocol: its own entry of a structured message, else `default`.
    pub fn message_for(&self, protocol: &str) -> &str {
        match &self.structured {
            Some(map) => map
                .get(protocol)
                .or_else(|| map.get("default"))
                .map_or(self.message.as_str(), String::as_str),
            None => &self.message,
        }
    }
}

/// The URLs and signature that go into a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `SignatureVersion`.
    pub version: String,
    /// `Signature` (base64).
    pub signature: String,
    /// `SigningCertURL`.
    pub cert_url: String,
}

/// The fields of a notification in AWS's order.
pub struct Notification<'a> {
    /// The message.
    pub published: &'a Published,
    /// The message text for this protocol.
    pub text: &'a str,
    /// `UnsubscribeURL`.
    pub unsubscribe_url: String,
    /// The signature, when the message is signed.
    pub signed: Option<Signed>,
}

/// A JSON object written with AWS's layout (`"Key" : value` pairs, two-space indent, in order).
fn aws_json(pairs: &[(&str, Value)]) -> String {
    let mut out = String::from("{\n");
    for (i, (k, v)) in pairs.iter().enumerate() {
        out.push_str("  ");
        out.push_str(&Value::String((*k).to_owned()).to_string());
        out.push_str(" : ");
        out.push_str(&v.to_string());
        if i + 1 < pairs.len() {
            out.push(',');
        }
        out.push('\n');
    }
    out.push('}');
    out
}

/// The `MessageAttributes` object of an envelope: `{name: {Type, Value}}`.
pub fn envelope_attributes(attributes: &Attributes) -> Value {
    let map: serde_json::Map<String, Value> = attributes
        .iter()
        .map(|(k, a)| {
            (
                k.clone(),
                json!({"Type": a.data_type, "Value": a.envelope_value()}),
            )
        })
        .collect();
    Value::Object(map)
}

impl Notification<'_> {
    /// The JSON envelope SQS and HTTP(S) subscribers receive.
    pub fn envelope(&self) -> String {
        let p = self.published;
        let mut pairs: Vec<(&str, Value)> = vec![
            ("Type", json!("Notification")),
            ("MessageId", json!(p.message_id)),
        ];
        if let Some(seq) = &p.sequence_number {
            pairs.push(("SequenceNumber", json!(seq)));
        }
        pairs.push(("TopicArn", json!(p.topic_arn)));
        if let Some(subject) = &p.subject {
            pairs.push(("Subject", json!(subject)));
        }
        pairs.push(("Message", json!(self.text)));
        pairs.push(("Timestamp", json!(p.timestamp)));
        if let Some(signed) = &self.signed {
            pairs.push(("SignatureVersion", json!(signed.version)));
            pairs.push(("Signature", json!(signed.signature)));
            pairs.push(("SigningCertURL", json!(signed.cert_url)));
        }
        pairs.push(("UnsubscribeURL", json!(self.unsubscribe_url)));
        if !p.attributes.is_empty() {
            pairs.push(("MessageAttributes", envelope_attributes(&p.attributes)));
        }
        aws_json(&pairs)
    }

    /// The event Lambda functions receive (one record).
    pub fn lambda_event(&self, subscription_arn: &str) -> Value {
        let p = self.published;
        let attributes: serde_json::Map<String, Value> = p
            .attributes
            .iter()
            .map(|(k, a)| {
                (
                    k.clone(),
                    json!({"Type": a.data_type, "Value": a.envelope_value()}),
                )
            })
            .collect();
        let (version, signature, cert_url) = match &self.signed {
            Some(s) => (s.version.clone(), s.signature.clone(), s.cert_url.clone()),
            None => ("1".to_owned(), String::new(), String::new()),
        };
        json!({
            "Records": [{
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": p.message_id,
                    "TopicArn": p.topic_arn,
                    "Subject": p.subject,
                    "Message": self.text,
                    "Timestamp": p.timestamp,
                    "SignatureVersion": version,
                    "Signature": signature,
                    "SigningCertUrl": cert_url,
                    "UnsubscribeUrl": self.unsubscribe_url,
                    "MessageAttributes": attributes,
                }
            }]
        })
    }
}

/// The string a notification's signature covers (AWS's "Verifying the signatures of Amazon SNS
/// messages"): `Message`, `MessageId`, `Subject` (when present), `Timestamp`, `TopicArn`, `Type`,
/// each name and value on its own line.
pub fn notification_string_to_sign(published: &Published, text: &str) -> String {
    let mut out = String::new();
    let mut push = |k: &str, v: &str| {
        out.push_str(k);
        out.push('\n');
        out.push_str(v);
        out.push('\n');
    };
    push("Message", text);
    push("MessageId", &published.message_id);
    if let Some(subject) = &published.subject {
        push("Subject", subject);
    }
    push("Timestamp", &published.timestamp);
    push("TopicArn", &published.topic_arn);
    push("Type", "Notification");
    out
}

/// A subscription confirmation (or unsubscribe confirmation) message.
pub struct Confirmation<'a> {
    /// `SubscriptionConfirmation` or `UnsubscribeConfirmation`.
    pub kind: &'a str,
    /// The message id.
    pub message_id: String,
    /// The token.
    pub token: &'a str,
    /// The topic.
    pub topic_arn: &'a str,
    /// The message.
    pub message: String,
    /// `SubscribeURL`.
    pub subscribe_url: String,
    /// The time.
    pub timestamp: String,
}

impl Confirmation<'_> {
    /// The string its signature covers: `Message`, `MessageId`, `SubscribeURL`, `Timestamp`, `Token`,
    /// `TopicArn`, `Type`.
    pub fn string_to_sign(&self) -> String {
        [
            ("Message", self.message.as_str()),
            ("MessageId", &self.message_id),
            ("SubscribeURL", &self.subscribe_url),
            ("Timestamp", &self.timestamp),
            ("Token", self.token),
            ("TopicArn", self.topic_arn),
            ("Type", self.kind),
        ]
        .iter()
        .map(|(k, v)| format!("{k}\n{v}\n"))
        .collect()
    }

    /// The JSON body.
    pub fn body(&self, signed: Option<&Signed>) -> String {
        let mut pairs: Vec<(&str, Value)> = vec![
            ("Type", json!(self.kind)),
            ("MessageId", json!(self.message_id)),
            ("Token", json!(self.token)),
            ("TopicArn", json!(self.topic_arn)),
            ("Message", json!(self.message)),
            ("SubscribeURL", json!(self.subscribe_url)),
            ("Timestamp", json!(self.timestamp)),
        ];
        if let Some(signed) = signed {
            pairs.push(("SignatureVersion", json!(signed.version)));
            pairs.push(("Signature", json!(signed.signature)));
            pairs.push(("SigningCertURL", json!(signed.cert_url)));
        }
        aws_json(&pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published() -> Published {
        let mut attributes = Attributes::new();
        attributes.insert(
            "color".to_owned(),
            Attribute {
                data_type: "String".to_owned(),
                string_value: Some("red".to_owned()),
                binary_value: None,
            },
        );
        Published {
            message_id: "m-1".to_owned(),
            topic_arn: "arn:aws:sns:us-east-1:000000000000:t".to_owned(),
            message: "hello".to_owned(),
            structured: None,
            subject: Some("s".to_owned()),
            attributes,
            timestamp: "2026-01-01T00:00:00.000Z".to_owned(),
            group_id: None,
            dedup_id: None,
            sequence_number: None,
        }
    }

    #[test]
    fn envelope_has_aws_fields_in_order() {
        let p = published();
        let n = Notification {
            published: &p,
            text: "hello",
            unsubscribe_url: "u".to_owned(),
            signed: None,
        };
        let env = n.envelope();
        assert!(env.starts_with("{\n  \"Type\" : \"Notification\",\n  \"MessageId\" : \"m-1\""));
        let v: Value = serde_json::from_str(&env).unwrap();
        assert_eq!(v["MessageAttributes"]["color"]["Type"], "String");
        assert_eq!(v["Subject"], "s");
        assert_eq!(
            notification_string_to_sign(&p, "hello"),
            "Message\nhello\nMessageId\nm-1\nSubject\ns\nTimestamp\n2026-01-01T00:00:00.000Z\nTopicArn\narn:aws:sns:us-east-1:000000000000:t\nType\nNotification\n"
        );
    }
}

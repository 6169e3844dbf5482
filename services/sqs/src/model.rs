//! The data SQS keeps: messages with their attributes, and queue settings with their AWS defaults and
//! limits. Validation of names and values lives here, with AWS's messages.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use skyport_core::AwsError;

use crate::errors::{invalid, invalid_attribute_value};

/// The largest message (body plus attributes), also the largest batch: 1 MiB since August 2025.
pub const MAX_MESSAGE_SIZE: usize = 1_048_576;
/// The most message attributes one message may carry.
pub const MAX_MESSAGE_ATTRIBUTES: usize = 10;
/// How long FIFO deduplication ids are remembered.
pub const DEDUP_WINDOW_MS: u64 = 5 * 60 * 1000;

/// A message (user) or system attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageAttribute {
    /// `String`, `Number` or `Binary`, optionally with a `.suffix`.
    pub data_type: String,
    /// The value of String and Number attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    /// The value of Binary attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_value: Option<Vec<u8>>,
}

impl MessageAttribute {
    /// The bytes this attribute counts towards the message size (name, type and value).
    pub fn size(&self, name: &str) -> usize {
        name.len()
            + self.data_type.len()
            + self.string_value.as_ref().map_or(0, String::len)
            + self.binary_value.as_ref().map_or(0, Vec::len)
    }
}

/// A message id: a UUID kept as 16 bytes (byte-aligned, so it adds no padding to a message) and written
/// in its hyphenated form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageId([u8; 16]);

impl MessageId {
    /// A random version-4 UUID.
    pub fn random() -> MessageId {
        let mut bytes = fastrand::u128(..).to_be_bytes();
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        MessageId(bytes)
    }

    /// Parses the hyphenated form (`None` for anything else).
    pub fn parse(text: &str) -> Option<MessageId> {
        let groups: Vec<&str> = text.split('-').collect();
        let ok = groups.len() == 5
            && groups
                .iter()
                .zip([8, 4, 4, 4, 12])
                .all(|(g, n)| g.len() == n && g.bytes().all(|c| c.is_ascii_hexdigit()));
        if !ok {
            return None;
        }
        u128::from_str_radix(&groups.concat(), 16)
            .ok()
            .map(|v| MessageId(v.to_be_bytes()))
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = u128::from_be_bytes(self.0);
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (v >> 96) as u32,
            (v >> 80) as u16,
            (v >> 64) as u16,
            (v >> 48) as u16,
            v & 0xffff_ffff_ffff
        )
    }
}

/// The parts of a message most messages lack (attributes, FIFO fields, the dead-letter source), kept
/// apart so that a plain message carries one empty pointer for all of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extra {
    /// Message (user) attributes.
    pub attributes: BTreeMap<String, MessageAttribute>,
    /// System attributes sent with the message (`AWSTraceHeader`).
    pub system_attributes: BTreeMap<String, MessageAttribute>,
    /// `MessageGroupId`.
    pub group_id: Option<String>,
    /// `MessageDeduplicationId`.
    pub dedup_id: Option<String>,
    /// `SequenceNumber` (FIFO).
    pub sequence_number: Option<String>,
    /// `DeadLetterQueueSourceArn`, set when the message was redriven into a dead-letter queue.
    pub dlq_source_arn: Option<String>,
}

impl Extra {
    fn is_empty(&self) -> bool {
        *self == Extra::default()
    }
}

/// One queued message, as compact as its semantics allow: a backlog of millions of small messages is
/// mostly these structs (see docs/sqs.md for the measured bytes per message).
#[derive(Debug, Clone)]
pub struct Message {
    /// The queue-local sequence (send order).
    pub seq: u64,
    /// The message id.
    pub id: MessageId,
    /// The body.
    pub body: Box<str>,
    /// `MD5OfMessageBody` (raw digest).
    pub md5_body: [u8; 16],
    /// `SenderId` (shared between the messages of one sender).
    pub sender_id: Arc<str>,
    /// `SentTimestamp` (epoch milliseconds).
    pub sent_at: u64,
    /// When the message becomes (again) visible (epoch milliseconds).
    pub visible_at: u64,
    /// `ApproximateFirstReceiveTimestamp` (epoch milliseconds; 0 before the first receive).
    pub first_receive: u64,
    /// When the current delivery was received (epoch milliseconds; 0 before the first receive).
    pub received_at: u64,
    /// `ApproximateReceiveCount`.
    pub receive_count: u32,
    /// Attributes and FIFO fields, when the message has any.
    pub extra: Option<Box<Extra>>,
}

static NO_EXTRA: std::sync::LazyLock<Extra> = std::sync::LazyLock::new(Extra::default);

impl Message {
    /// The attributes and FIFO fields (empty ones when the message has none).
    pub fn extra(&self) -> &Extra {
        self.extra.as_deref().unwrap_or(&NO_EXTRA)
    }

    /// Changes the attributes and FIFO fields, dropping the box again when they end up empty.
    pub fn update_extra(&mut self, f: impl FnOnce(&mut Extra)) {
        let mut extra = self.extra.take().unwrap_or_default();
        f(&mut extra);
        if !extra.is_empty() {
            self.extra = Some(extra);
        }
    }

    /// `MessageGroupId`.
    pub fn group_id(&self) -> Option<&str> {
        self.extra.as_ref().and_then(|e| e.group_id.as_deref())
    }

    /// `MD5OfMessageBody` in hex.
    pub fn md5_body_hex(&self) -> String {
        skyport_core::ids::hex(&self.md5_body)
    }

    /// The delivery state.
    pub fn delivery(&self) -> Delivery {
        Delivery {
            receive_count: self.receive_count,
            first_receive: (self.first_receive != 0).then_some(self.first_receive),
            visible_at: self.visible_at,
            received_at: (self.received_at != 0).then_some(self.received_at),
        }
    }

    /// Applies a stored delivery state.
    pub fn set_delivery(&mut self, d: &Delivery) {
        self.receive_count = d.receive_count;
        self.first_receive = d.first_receive.unwrap_or(0);
        self.visible_at = d.visible_at;
        self.received_at = d.received_at.unwrap_or(0);
    }
}

/// The part of a message that changes on receive, stored apart from the message so receives write little.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Delivery {
    /// `ApproximateReceiveCount`.
    #[serde(default)]
    pub receive_count: u32,
    /// `ApproximateFirstReceiveTimestamp`.
    #[serde(default)]
    pub first_receive: Option<u64>,
    /// When the message becomes visible again.
    #[serde(default)]
    pub visible_at: u64,
    /// When the current delivery was received.
    #[serde(default)]
    pub received_at: Option<u64>,
}

/// True for characters SQS accepts in bodies and attribute values:
/// `#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF`.
pub fn valid_body_char(c: char) -> bool {
    matches!(c as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Validates a queue name (with `.fifo` for FIFO queues).
pub fn validate_queue_name(name: &str, fifo: bool) -> Result<(), AwsError> {
    let base = if fifo {
        name.strip_suffix(".fifo")
    } else {
        Some(name)
    };
    let ok = base.is_some_and(|b| {
        !b.is_empty()
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    }) && name.len() <= 80;
    if ok {
        return Ok(());
    }
    Err(invalid(if fifo {
        "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end \
         with .fifo suffix and be 1 to 80 in length."
    } else {
        "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
    }))
}

/// The settable queue attributes and their defaults.
pub const SETTABLE: &[&str] = &[
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "Policy",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

/// Read-only attributes `GetQueueAttributes` reports.
pub const READ_ONLY: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

const FIFO_ONLY: &[&str] = &[
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

/// The default attributes of a new queue.
pub fn default_attributes(fifo: bool) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (k, v) in [
        ("DelaySeconds", "0"),
        ("MaximumMessageSize", "1048576"),
        ("MessageRetentionPeriod", "345600"),
        ("ReceiveMessageWaitTimeSeconds", "0"),
        ("VisibilityTimeout", "30"),
        ("SqsManagedSseEnabled", "true"),
    ] {
        m.insert(k.to_owned(), v.to_owned());
    }
    if fifo {
        for (k, v) in [
            ("FifoQueue", "true"),
            ("ContentBasedDeduplication", "false"),
            ("DeduplicationScope", "queue"),
            ("FifoThroughputLimit", "perQueue"),
        ] {
            m.insert(k.to_owned(), v.to_owned());
        }
    }
    m
}

fn int_in(name: &str, value: &str, min: i64, max: i64) -> Result<(), AwsError> {
    match value.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(()),
        _ => Err(invalid_attribute_value(format!(
            "Invalid value for the parameter {name}."
        ))),
    }
}

fn json_object(
    name: &str,
    value: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, AwsError> {
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(invalid_attribute_value(format!(
            "Invalid value for the parameter {name}. Reason: Invalid JSON."
        ))),
    }
}

/// A boolean attribute value: AWS takes `true` and `false` in any letter case and stores them in lower case.
fn boolean(name: &str, value: &str) -> Result<String, AwsError> {
    if value.eq_ignore_ascii_case("true") {
        Ok("true".to_owned())
    } else if value.eq_ignore_ascii_case("false") {
        Ok("false".to_owned())
    } else {
        Err(invalid_attribute_value(format!(
            "Invalid value for the parameter {name}."
        )))
    }
}

/// True for a `FifoQueue` value that asks for a FIFO queue (`true` in any letter case).
pub fn is_true(value: &str) -> bool {
    value.eq_ignore_ascii_case("true")
}

/// Validates one attribute for `CreateQueue`/`SetQueueAttributes` of a standard or FIFO (`fifo`) queue,
/// returning the value to store. The FIFO-only attributes are unknown to standard queues, as on AWS
/// (`FifoQueue=false` too); `FifoQueue` cannot be changed by `SetQueueAttributes` (`true` on a FIFO queue
/// is accepted and changes nothing).
pub fn validate_attribute(
    name: &str,
    value: &str,
    fifo: bool,
    creating: bool,
) -> Result<String, AwsError> {
    if !fifo && FIFO_ONLY.contains(&name) {
        return Err(match name {
            "DeduplicationScope" | "FifoThroughputLimit" => crate::errors::err(
                "InvalidAttributeName",
                "InvalidAttributeName",
                format!("You can specify the {name} only when FifoQueue is set to true."),
            ),
            _ => invalid_attribute_name(name),
        });
    }
    match name {
        "DelaySeconds" => int_in(name, value, 0, 900)?,
        "MaximumMessageSize" => int_in(name, value, 1024, MAX_MESSAGE_SIZE as i64)?,
        "MessageRetentionPeriod" => int_in(name, value, 60, 1_209_600)?,
        "ReceiveMessageWaitTimeSeconds" => int_in(name, value, 0, 20)?,
        "VisibilityTimeout" => int_in(name, value, 0, 43_200)?,
        "KmsDataKeyReusePeriodSeconds" => int_in(name, value, 60, 86_400)?,
        "Policy" => {
            if !value.is_empty() {
                json_object(name, value)?;
            }
        }
        "RedrivePolicy" => {
            if !value.is_empty() {
                let m = json_object(name, value)?;
                let target = m.get("deadLetterTargetArn").and_then(|v| v.as_str());
                let count = m.get("maxReceiveCount").and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                });
                match (target, count) {
                    (Some(arn), Some(c)) if (1..=1000).contains(&c) => {
                        // Stored and returned the way AWS does: the count as a number.
                        return Ok(serde_json::json!({
                            "deadLetterTargetArn": arn,
                            "maxReceiveCount": c,
                        })
                        .to_string());
                    }
                    _ => {
                        return Err(invalid_attribute_value(format!(
                            "Value {value} for parameter RedrivePolicy is invalid. Reason: Redrive policy \
                             does not contain mandatory attribute: deadLetterTargetArn or maxReceiveCount \
                             (1 to 1000)."
                        )));
                    }
                }
            }
        }
        "RedriveAllowPolicy" => {
            if !value.is_empty() {
                let m = json_object(name, value)?;
                let permission = m.get("redrivePermission").and_then(|v| v.as_str());
                if !matches!(permission, Some("allowAll" | "denyAll" | "byQueue")) {
                    return Err(invalid_attribute_value(format!(
                        "Value {value} for parameter RedriveAllowPolicy is invalid. Reason: Amazon SQS \
                         can't create the redrive allow policy, as it's in an unsupported format."
                    )));
                }
            }
        }
        "KmsMasterKeyId" => {}
        "SqsManagedSseEnabled" | "ContentBasedDeduplication" => return boolean(name, value),
        "FifoQueue" => {
            let value = boolean(name, value)?;
            if !creating && value != "true" {
                return Err(invalid_attribute_value(
                    "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.",
                ));
            }
            return Ok(value);
        }
        "DeduplicationScope" => {
            if !matches!(value, "queue" | "messageGroup") {
                return Err(invalid_attribute_value(format!(
                    "Invalid value for the parameter {name}."
                )));
            }
        }
        "FifoThroughputLimit" => {
            if !matches!(value, "perQueue" | "perMessageGroupId") {
                return Err(invalid_attribute_value(format!(
                    "Invalid value for the parameter {name}."
                )));
            }
        }
        _ => return Err(invalid_attribute_name(name)),
    }
    Ok(value.trim().to_owned())
}

fn invalid_attribute_name(name: &str) -> AwsError {
    crate::errors::invalid_attribute_name(name)
}

/// Validates one message attribute, with AWS's messages.
pub fn validate_message_attribute(name: &str, attr: &MessageAttribute) -> Result<(), AwsError> {
    // "Alphanumeric" is Unicode's: AWS takes names such as `attr.1øßä`, and refuses symbols like `§`.
    let name_ok = !name.is_empty()
        && name.chars().count() <= 256
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !name.to_ascii_lowercase().starts_with("aws.")
        && !name.to_ascii_lowercase().starts_with("amazon.");
    if !name_ok {
        return Err(invalid(format!(
            "Message (user) attribute name '{name}' is invalid. The attribute name can contain only \
             alphanumeric characters, hyphens, underscores and periods, must not start or end with a period, \
             must not contain two consecutive periods and must not start with AWS. or Amazon."
        )));
    }
    let base = attr.data_type.split('.').next().unwrap_or("");
    if attr.data_type.is_empty() {
        return Err(invalid(format!(
            "The message attribute '{name}' must contain non-empty message attribute type."
        )));
    }
    if !matches!(base, "String" | "Number" | "Binary") || attr.data_type.len() > 256 {
        return Err(invalid(format!(
            "The type of message (user) attribute '{name}' is invalid. You must use only the following \
             supported type prefixes: Binary, Number, String."
        )));
    }
    match base {
        "Binary" => {
            if attr.binary_value.as_ref().is_none_or(Vec::is_empty) {
                return Err(invalid(format!(
                    "Message (user) attribute '{name}' must contain a non-empty value of type 'Binary'."
                )));
            }
        }
        _ => {
            let Some(value) = attr.string_value.as_deref().filter(|v| !v.is_empty()) else {
                return Err(invalid(format!(
                    "Message (user) attribute '{name}' must contain a non-empty value of type '{base}'."
                )));
            };
            if !value.chars().all(valid_body_char) {
                return Err(invalid(format!(
                    "Message (user) attribute '{name}' contains invalid characters."
                )));
            }
            if base == "Number" && !is_number(value) {
                return Err(invalid(format!(
                    "Can't cast the value of message (user) attribute '{name}' to a number."
                )));
            }
        }
    }
    Ok(())
}

fn is_number(value: &str) -> bool {
    let v = value.trim();
    !v.is_empty() && v.len() <= 40 && v.parse::<f64>().is_ok_and(f64::is_finite)
}

/// The read-only and settable attribute names a standard or FIFO queue reports for `All`.
pub fn all_names(fifo: bool) -> impl Iterator<Item = &'static str> {
    READ_ONLY.iter().copied().chain(
        SETTABLE
            .iter()
            .copied()
            .filter(move |n| fifo || !FIFO_ONLY.contains(n)),
    )
}

/// True when `name` is an attribute name `GetQueueAttributes` knows.
pub fn known_attribute(name: &str) -> bool {
    name == "All" || READ_ONLY.contains(&name) || SETTABLE.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names() {
        assert!(validate_queue_name("a-b_c", false).is_ok());
        assert!(validate_queue_name("a.fifo", false).is_err());
        assert!(validate_queue_name("a.fifo", true).is_ok());
        assert!(validate_queue_name(".fifo", true).is_err());
        assert!(validate_queue_name(&"x".repeat(81), false).is_err());
    }

    #[test]
    fn attribute_values() {
        assert!(validate_attribute("DelaySeconds", "900", false, true).is_ok());
        assert!(validate_attribute("DelaySeconds", "901", false, true).is_err());
        assert!(validate_attribute("Nope", "1", false, true).is_err());
        assert!(validate_attribute("ContentBasedDeduplication", "true", false, true).is_err());
        assert_eq!(
            validate_attribute("ContentBasedDeduplication", "TRUE", true, true).unwrap(),
            "true"
        );
        assert_eq!(
            validate_attribute("FifoQueue", "True", true, true).unwrap(),
            "true"
        );
        assert!(validate_attribute("FifoQueue", "true", true, false).is_ok());
        assert_eq!(
            validate_attribute("FifoQueue", "false", true, false)
                .unwrap_err()
                .code,
            "InvalidAttributeValue"
        );
        assert_eq!(
            validate_attribute("FifoQueue", "false", false, true)
                .unwrap_err()
                .message,
            "Unknown Attribute FifoQueue."
        );
        assert!(validate_attribute("SqsManagedSseEnabled", "yes", false, true).is_err());
        assert!(
            validate_attribute(
                "RedrivePolicy",
                r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:d","maxReceiveCount":"3"}"#,
                false,
                true
            )
            .is_ok()
        );
    }

    #[test]
    fn a_plain_message_stays_small() {
        // The struct behind every queued message (see docs/sqs.md, "Memory"): 120 bytes, one 128-byte
        // allocation with the allocator's header.
        assert!(std::mem::size_of::<Message>() <= 120);
    }

    #[test]
    fn message_ids_round_trip() {
        let id = MessageId::random();
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4");
        assert_eq!(MessageId::parse(&text), Some(id));
        assert_eq!(
            MessageId::parse("c6104cbe-af31-41e0-8154-cbc7ccf896c7")
                .unwrap()
                .to_string(),
            "c6104cbe-af31-41e0-8154-cbc7ccf896c7"
        );
        assert_eq!(MessageId::parse("c6104cbe-af31-41e0-8154"), None);
        assert_eq!(
            MessageId::parse("+6104cbe-af31-41e0-8154-cbc7ccf896c7"),
            None
        );
    }

    #[test]
    fn body_chars() {
        assert!(valid_body_char('a') && valid_body_char('\n') && valid_body_char('😀'));
        assert!(!valid_body_char('\u{0}') && !valid_body_char('\u{FFFF}'));
    }
}

//! The in-process message bus between services: how one service hands a message to another without
//! importing its crate. S3 event notifications and (later) SNS and EventBridge targets enqueue into SQS
//! through [`QueueSink`]; the binary wires the SQS implementation into the services that need it.

use std::collections::BTreeMap;

/// One message attribute, as SQS models it (`String`, `Number` or `Binary`, optionally with a custom
/// suffix such as `String.url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusAttribute {
    /// The data type, e.g. `String`, `Number`, `Binary.gzip`.
    pub data_type: String,
    /// The value of `String` and `Number` attributes.
    pub string_value: Option<String>,
    /// The value of `Binary` attributes.
    pub binary_value: Option<Vec<u8>>,
}

impl BusAttribute {
    /// A `String` attribute.
    pub fn string(value: impl Into<String>) -> BusAttribute {
        BusAttribute {
            data_type: "String".to_owned(),
            string_value: Some(value.into()),
            binary_value: None,
        }
    }
}

/// Message attributes by name.
pub type BusAttributes = BTreeMap<String, BusAttribute>;

/// Why a message could not be enqueued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// No queue has this ARN.
    #[error("the queue {0} does not exist")]
    NoSuchQueue(String),
    /// The queue refused the message (too large, invalid characters, a FIFO queue without a group, ...).
    #[error("the queue refused the message: {0}")]
    Rejected(String),
    /// The queue failed to store the message.
    #[error("the queue could not store the message: {0}")]
    Internal(String),
}

/// Something that accepts messages for queues named by ARN (implemented by SQS).
#[async_trait::async_trait]
pub trait QueueSink: Send + Sync {
    /// Enqueues `body` with `attributes` into the queue `queue_arn`
    /// (`arn:aws:sqs:<region>:<account>:<name>`). Returns once the message is stored (durably, with
    /// persistence), so the caller may acknowledge its own request.
    async fn send_to_queue(
        &self,
        queue_arn: &str,
        body: String,
        attributes: BusAttributes,
    ) -> Result<(), BusError>;

    /// True when `queue_arn` names an existing queue (for validating notification destinations).
    async fn queue_exists(&self, queue_arn: &str) -> bool {
        let _ = queue_arn;
        true
    }
}

//! SQS as a [`QueueSource`]: what Lambda's event source mappings consume queues through. A receive
//! is a `ReceiveMessage` with every system and message attribute (long polling, visibility timeouts,
//! FIFO group order and redrive included); deletes are `DeleteMessage`s.

use std::time::Duration;

use skyport_core::bus::{BusAttribute, BusError, QueueInfo, QueueMessage, QueueSource};

use crate::queue::Received;
use crate::service::{Sqs, wait};

/// The system attributes of a delivery, as a Lambda SQS record carries them.
fn attributes(r: &Received, fifo: bool) -> std::collections::BTreeMap<String, String> {
    let m = &r.message;
    let extra = m.extra();
    let mut out = std::collections::BTreeMap::new();
    out.insert(
        "ApproximateReceiveCount".to_owned(),
        m.receive_count.to_string(),
    );
    out.insert("SentTimestamp".to_owned(), m.sent_at.to_string());
    out.insert("SenderId".to_owned(), m.sender_id.to_string());
    let first = if m.first_receive == 0 {
        m.sent_at
    } else {
        m.first_receive
    };
    out.insert(
        "ApproximateFirstReceiveTimestamp".to_owned(),
        first.to_string(),
    );
    if fifo {
        if let Some(g) = &extra.group_id {
            out.insert("MessageGroupId".to_owned(), g.clone());
        }
        if let Some(d) = &extra.dedup_id {
            out.insert("MessageDeduplicationId".to_owned(), d.clone());
        }
        if let Some(s) = &extra.sequence_number {
            out.insert("SequenceNumber".to_owned(), s.clone());
        }
    }
    if let Some(t) = extra
        .system_attributes
        .get("AWSTraceHeader")
        .and_then(|a| a.string_value.clone())
    {
        out.insert("AWSTraceHeader".to_owned(), t);
    }
    if let Some(a) = &extra.dlq_source_arn {
        out.insert("DeadLetterQueueSourceArn".to_owned(), a.clone());
    }
    out
}

fn message(r: &Received, fifo: bool) -> QueueMessage {
    let m = &r.message;
    QueueMessage {
        message_id: m.id.to_string(),
        receipt_handle: r.receipt.clone(),
        body: m.body.to_string(),
        md5_of_body: m.md5_body_hex(),
        attributes: attributes(r, fifo),
        message_attributes: m
            .extra()
            .attributes
            .iter()
            .map(|(name, a)| {
                (
                    name.clone(),
                    BusAttribute {
                        data_type: a.data_type.clone(),
                        string_value: a.string_value.clone(),
                        binary_value: a.binary_value.clone(),
                    },
                )
            })
            .collect(),
    }
}

#[async_trait::async_trait]
impl QueueSource for Sqs {
    async fn queue_info(&self, queue_arn: &str) -> Result<QueueInfo, BusError> {
        let q = self
            .queue_by_arn(queue_arn)
            .ok_or_else(|| BusError::NoSuchQueue(queue_arn.to_owned()))?;
        Ok(QueueInfo {
            fifo: q.fifo,
            visibility_timeout: q.settings().visibility_timeout,
        })
    }

    async fn receive(
        &self,
        queue_arn: &str,
        max: usize,
        wait_for: Duration,
    ) -> Result<Vec<QueueMessage>, BusError> {
        let q = self
            .queue_by_arn(queue_arn)
            .ok_or_else(|| BusError::NoSuchQueue(queue_arn.to_owned()))?;
        let received = self
            .receive_waiting(&q, max.clamp(1, 10), None, None, wait_for)
            .await
            .map_err(|e| BusError::Internal(e.message))?;
        Ok(received.iter().map(|r| message(r, q.fifo)).collect())
    }

    async fn delete(&self, queue_arn: &str, receipt_handles: &[String]) -> Result<(), BusError> {
        let q = self
            .queue_by_arn(queue_arn)
            .ok_or_else(|| BusError::NoSuchQueue(queue_arn.to_owned()))?;
        let mut pending = Vec::with_capacity(receipt_handles.len());
        for handle in receipt_handles {
            match q.delete(handle) {
                Ok(p) => pending.push(p),
                // An expired FIFO handle: the message is visible again and will be delivered again.
                Err(e) => tracing::debug!(queue = %queue_arn, "delete skipped: {}", e.message),
            }
        }
        for p in pending {
            wait(p).await.map_err(|e| BusError::Internal(e.message))?;
        }
        Ok(())
    }
}

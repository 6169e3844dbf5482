//! The event an SQS event source mapping hands a function, in AWS's shape: `{"Records": [...]}`
//! with one record per message (`messageId`, `receiptHandle`, `body`, `attributes`,
//! `messageAttributes`, `md5OfBody`, `eventSource: "aws:sqs"`, `eventSourceARN`, `awsRegion`), and
//! the rules for a `ReportBatchItemFailures` response.

use std::collections::HashSet;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use skyport_core::bus::QueueMessage;

/// One message as its record.
pub fn record(m: &QueueMessage, queue_arn: &str, region: &str) -> Value {
    let mut attributes = Map::new();
    for (k, v) in &m.attributes {
        attributes.insert(k.clone(), Value::String(v.clone()));
    }
    let mut message_attributes = Map::new();
    for (name, a) in &m.message_attributes {
        let mut v = Map::new();
        if let Some(s) = &a.string_value {
            v.insert("stringValue".into(), s.clone().into());
        }
        if let Some(b) = &a.binary_value {
            v.insert(
                "binaryValue".into(),
                base64::engine::general_purpose::STANDARD.encode(b).into(),
            );
        }
        v.insert("stringListValues".into(), json!([]));
        v.insert("binaryListValues".into(), json!([]));
        v.insert("dataType".into(), a.data_type.clone().into());
        message_attributes.insert(name.clone(), Value::Object(v));
    }
    json!({
        "messageId": m.message_id,
        "receiptHandle": m.receipt_handle,
        "body": m.body,
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": m.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    })
}

/// What a function's response says about its batch under `ReportBatchItemFailures`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchResult {
    /// These message ids failed (none: the whole batch succeeded).
    Failed(HashSet<String>),
    /// The response was not a valid partial-batch response: the whole batch failed.
    AllFailed,
}

/// Reads a `ReportBatchItemFailures` response for a batch of `ids`. AWS's rules: an empty or null
/// response, or an empty or null `batchItemFailures`, is complete success; a response that is not
/// JSON, or an item whose `itemIdentifier` is missing, null, empty or not a message of the batch, is
/// complete failure.
pub fn batch_result(payload: &[u8], ids: &HashSet<String>) -> BatchResult {
    let text = String::from_utf8_lossy(payload);
    if text.trim().is_empty() {
        return BatchResult::Failed(HashSet::new());
    }
    let Ok(value) = serde_json::from_str::<Value>(&text) else {
        return BatchResult::AllFailed;
    };
    let failures = match value.get("batchItemFailures") {
        None | Some(Value::Null) => return BatchResult::Failed(HashSet::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return BatchResult::AllFailed,
    };
    let mut failed = HashSet::new();
    for item in failures {
        match item.get("itemIdentifier").and_then(Value::as_str) {
            Some(id) if !id.is_empty() && ids.contains(id) => {
                failed.insert(id.to_owned());
            }
            _ => return BatchResult::AllFailed,
        }
    }
    BatchResult::Failed(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyport_core::bus::BusAttribute;

    #[test]
    fn record_shape() {
        let mut m = QueueMessage {
            message_id: "id-1".into(),
            receipt_handle: "rh".into(),
            body: "hi".into(),
            md5_of_body: "49f68a5c8493ec2c0bf489821c21fc3b".into(),
            attributes: Default::default(),
            message_attributes: Default::default(),
        };
        m.attributes
            .insert("ApproximateReceiveCount".into(), "1".into());
        m.message_attributes
            .insert("color".into(), BusAttribute::string("red"));
        let r = record(&m, "arn:aws:sqs:us-east-1:000000000000:q", "us-east-1");
        assert_eq!(r["eventSource"], "aws:sqs");
        assert_eq!(r["attributes"]["ApproximateReceiveCount"], "1");
        assert_eq!(
            r["messageAttributes"]["color"],
            json!({"stringValue": "red", "stringListValues": [], "binaryListValues": [], "dataType": "String"})
        );
    }

    #[test]
    fn partial_batch_rules() {
        let ids: HashSet<String> = ["a", "b"].iter().map(|s| (*s).to_owned()).collect();
        let none = BatchResult::Failed(HashSet::new());
        assert_eq!(batch_result(b"", &ids), none);
        assert_eq!(batch_result(b"null", &ids), none);
        assert_eq!(batch_result(b"{}", &ids), none);
        assert_eq!(batch_result(br#"{"batchItemFailures": []}"#, &ids), none);
        assert_eq!(batch_result(br#"{"batchItemFailures": null}"#, &ids), none);
        assert_eq!(
            batch_result(br#"{"batchItemFailures": [{"itemIdentifier": "a"}]}"#, &ids),
            BatchResult::Failed(HashSet::from(["a".to_owned()]))
        );
        for bad in [
            &b"not json"[..],
            br#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#,
            br#"{"batchItemFailures": [{"itemIdentifier": null}]}"#,
            br#"{"batchItemFailures": [{"id": "a"}]}"#,
            br#"{"batchItemFailures": [{"itemIdentifier": "zzz"}]}"#,
        ] {
            assert_eq!(batch_result(bad, &ids), BatchResult::AllFailed);
        }
    }
}

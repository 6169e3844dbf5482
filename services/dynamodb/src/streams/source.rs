//! DynamoDB Streams as a [`StreamSource`]: what Lambda's event source mappings read table streams
//! through. Records come as the event records Lambda hands functions (`eventName`, `dynamodb` with
//! `Keys`, `NewImage`, `OldImage`, `SequenceNumber`, ..., `eventSourceARN`), cursors are shard
//! positions that do not expire, and a read waits on the stream's append signal instead of polling.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use skyport_core::bus::{
    BusError, StreamEventRecord, StreamPage, StreamShard, StreamSource, StreamStart,
};

use super::DynamoDbStreams;
use super::log::{Origin, Position, ReadError, StreamLog, StreamRecord};
use crate::attr::item_to_json;

/// The most bytes of records one read returns (as GetRecords).
const MAX_BYTES: i64 = 1 << 20;

/// The most records one read returns (as GetRecords).
const MAX_RECORDS: usize = 1000;

/// `record` of `stream` as Lambda's event record.
pub fn event_record(stream: &StreamLog, r: &StreamRecord) -> Value {
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": r.at_ms / 1000,
        "Keys": item_to_json(&r.keys.item()),
        "SequenceNumber": r.sequence_number(),
        "SizeBytes": r.size(),
        "StreamViewType": stream.view.as_str(),
    });
    if let Some(map) = dynamodb.as_object_mut() {
        if let Some(new) = &r.new {
            map.insert("NewImage".to_owned(), item_to_json(&new.item()));
        }
        if let Some(old) = &r.old {
            map.insert("OldImage".to_owned(), item_to_json(&old.item()));
        }
    }
    let mut record = json!({
        "eventID": r.event_id,
        "eventName": r.event.as_str(),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": stream.region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream.arn,
    });
    if r.origin == Origin::Ttl
        && let Some(map) = record.as_object_mut()
    {
        map.insert(
            "userIdentity".to_owned(),
            json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"}),
        );
    }
    record
}

impl DynamoDbStreams {
    fn log(&self, arn: &str) -> Result<Arc<StreamLog>, BusError> {
        self.inner
            .registry
            .stream(arn)
            .ok_or_else(|| BusError::NoSuchTarget(format!("the stream {arn}")))
    }

    fn log_shard(&self, arn: &str, shard_id: &str) -> Result<Arc<StreamLog>, BusError> {
        let log = self.log(arn)?;
        if log.shard_id != shard_id {
            return Err(BusError::NoSuchTarget(format!(
                "the shard {shard_id} of {arn}"
            )));
        }
        Ok(log)
    }
}

/// Reads from `seq`, or from the trim horizon when `seq` was trimmed meanwhile.
fn read_from(log: &StreamLog, seq: u64, max: usize) -> super::log::Page {
    match log.read(seq, max, MAX_BYTES) {
        Ok(page) => page,
        Err(ReadError::Trimmed) => {
            let first = log.state().first_seq;
            log.read(first, max, MAX_BYTES).unwrap_or(super::log::Page {
                records: Vec::new(),
                next: Some(first),
            })
        }
    }
}

#[async_trait::async_trait]
impl StreamSource for DynamoDbStreams {
    async fn shards(&self, stream_arn: &str) -> Result<Vec<StreamShard>, BusError> {
        let log = self.log(stream_arn)?;
        Ok(vec![StreamShard {
            shard_id: log.shard_id.clone(),
            parent_shard_id: None,
            closed: log.state().closed.is_some(),
        }])
    }

    async fn cursor(
        &self,
        stream_arn: &str,
        shard_id: &str,
        start: StreamStart,
    ) -> Result<String, BusError> {
        let log = self.log_shard(stream_arn, shard_id)?;
        let state = log.state();
        let seq = match start {
            StreamStart::TrimHorizon => state.first_seq,
            StreamStart::Latest => state.next_seq,
        };
        Ok(Position {
            arn: log.arn.clone(),
            shard_id: log.shard_id.clone(),
            seq,
            issued_ms: 0,
        }
        .encode())
    }

    async fn read(&self, cursor: &str, max: usize, wait: Duration) -> Result<StreamPage, BusError> {
        let Some(position) = Position::decode(cursor) else {
            return Err(BusError::Rejected(format!("{cursor:?} is not a cursor")));
        };
        let log = self.log_shard(&position.arn, &position.shard_id)?;
        let max = max.clamp(1, MAX_RECORDS);
        // Registered before the first read, so an append in between is not missed.
        let appended = log.appended.notified();
        tokio::pin!(appended);
        appended.as_mut().enable();
        let mut page = read_from(&log, position.seq, max);
        if page.records.is_empty() && page.next.is_some() && !wait.is_zero() {
            let _ = tokio::time::timeout(wait, appended).await;
            page = read_from(&log, page.next.unwrap_or(position.seq), max);
        }
        Ok(StreamPage {
            records: page
                .records
                .iter()
                .map(|r| StreamEventRecord {
                    sequence_number: r.sequence_number(),
                    created_ms: r.at_ms,
                    record: event_record(&log, r),
                })
                .collect(),
            next: page.next.map(|seq| {
                Position {
                    seq,
                    ..position.clone()
                }
                .encode()
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::{Av, Item};
    use crate::streams::log::ViewType;

    fn item(id: &str, v: &str) -> crate::packed::Packed {
        let mut i = Item::new();
        i.insert("id".into(), Av::S(id.into()));
        i.insert("v".into(), Av::N(v.into()));
        crate::packed::Packed::new(&i)
    }

    #[test]
    fn event_records_have_lambdas_shape() {
        let log = StreamLog::new(
            1,
            "arn:aws:dynamodb:us-east-1:000000000000:table/t",
            "2024-01-01T00:00:00.000",
            ViewType::NewAndOldImages,
            vec!["id".into()],
        );
        let (a, b) = (item("a", "1"), item("a", "2"));
        let mut keys = Item::new();
        keys.insert("id".into(), Av::S("a".into()));
        log.append(keys.clone(), Some(&a), Some(&b), Origin::Request);
        log.append(keys, Some(&b), None, Origin::Ttl);
        let page = log.read(log.start_seq, 10, i64::MAX).unwrap();
        let modify = event_record(&log, &page.records[0]);
        assert_eq!(modify["eventName"], "MODIFY");
        assert_eq!(modify["eventSource"], "aws:dynamodb");
        assert_eq!(modify["eventVersion"], "1.1");
        assert_eq!(modify["awsRegion"], "us-east-1");
        assert_eq!(modify["eventSourceARN"], log.arn.as_str());
        assert_eq!(modify["dynamodb"]["Keys"], json!({"id": {"S": "a"}}));
        assert_eq!(modify["dynamodb"]["OldImage"]["v"], json!({"N": "1"}));
        assert_eq!(modify["dynamodb"]["NewImage"]["v"], json!({"N": "2"}));
        assert_eq!(modify["dynamodb"]["StreamViewType"], "NEW_AND_OLD_IMAGES");
        assert!(modify["dynamodb"]["ApproximateCreationDateTime"].is_i64());
        assert!(modify.get("userIdentity").is_none());
        let ttl = event_record(&log, &page.records[1]);
        assert_eq!(ttl["eventName"], "REMOVE");
        assert!(ttl["dynamodb"].get("NewImage").is_none());
        assert_eq!(
            ttl["userIdentity"],
            json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"})
        );
    }
}

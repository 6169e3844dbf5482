//! [`TopicPublisher`] for other services (EventBridge's SNS targets): `Publish` in-process.

use skyport_core::bus::{BusError, TopicMessage, TopicPublisher};
use skyport_core::{Protocol, RequestContext};

use crate::api::Sns;
use crate::shapes;
use crate::topics::topic_arn_parts;

#[async_trait::async_trait]
impl TopicPublisher for Sns {
    async fn publish(&self, topic_arn: &str, message: TopicMessage) -> Result<String, BusError> {
        let (region, account, _) = topic_arn_parts(topic_arn)
            .ok_or_else(|| BusError::NoSuchTarget(topic_arn.to_owned()))?;
        if self.state.topic(topic_arn).is_none() {
            return Err(BusError::NoSuchTarget(topic_arn.to_owned()));
        }
        let mut ctx = RequestContext::new("sns", Protocol::Query);
        ctx.account = account.to_owned();
        ctx.region = region.to_owned();
        let attributes = message
            .attributes
            .into_iter()
            .map(|(k, a)| {
                let value = shapes::MessageAttributeValue {
                    data_type: a.data_type,
                    string_value: a.string_value,
                    binary_value: a.binary_value.map(bytes::Bytes::from),
                };
                (k, value)
            })
            .collect();
        let input = shapes::PublishInput {
            topic_arn: Some(topic_arn.to_owned()),
            message: message.message,
            subject: message.subject,
            message_attributes: Some(attributes),
            message_group_id: message.group_id,
            message_deduplication_id: message.dedup_id,
            ..shapes::PublishInput::default()
        };
        let out = self
            .publish_op(&ctx, input)
            .map_err(|e| BusError::Rejected(e.message))?;
        Ok(out.message_id.unwrap_or_default())
    }

    async fn topic_exists(&self, topic_arn: &str) -> bool {
        self.state.topic(topic_arn).is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use skyport_core::bus::{OutgoingMessage, QueueSink, SentMessage};
    use skyport_core::store::Store;

    use super::*;
    use crate::{Options, Sns};

    #[derive(Default)]
    struct Queues(Mutex<Vec<(String, OutgoingMessage)>>);

    #[async_trait::async_trait]
    impl QueueSink for Queues {
        async fn send_message(
            &self,
            queue_arn: &str,
            message: OutgoingMessage,
        ) -> Result<SentMessage, BusError> {
            self.0.lock().unwrap().push((queue_arn.to_owned(), message));
            Ok(SentMessage {
                message_id: "m".to_owned(),
                sequence_number: None,
            })
        }
    }

    #[tokio::test]
    async fn other_services_publish_to_topics() {
        let sns = Sns::new(Store::in_memory().unwrap(), Options::default()).unwrap();
        let queues = Arc::new(Queues::default());
        sns.links().set_queue_sink(queues.clone());
        let ctx = RequestContext::new("sns", Protocol::Query);
        let topic = sns
            .create_topic_op(
                &ctx,
                shapes::CreateTopicInput {
                    name: "bus".to_owned(),
                    ..Default::default()
                },
            )
            .unwrap()
            .topic_arn
            .unwrap();
        let queue = "arn:aws:sqs:us-east-1:000000000000:q";
        sns.subscribe_op(
            &ctx,
            shapes::SubscribeInput {
                topic_arn: topic.clone(),
                protocol: "sqs".to_owned(),
                endpoint: Some(queue.to_owned()),
                attributes: Some([("RawMessageDelivery".to_owned(), "true".to_owned())].into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(sns.topic_exists(&topic).await);
        let message = TopicMessage {
            message: "from EventBridge".to_owned(),
            ..TopicMessage::default()
        };
        let id = TopicPublisher::publish(&sns, &topic, message)
            .await
            .unwrap();
        assert_eq!(id.len(), 36);
        let missing = "arn:aws:sns:us-east-1:000000000000:missing";
        assert!(!sns.topic_exists(missing).await);
        assert_eq!(
            TopicPublisher::publish(&sns, missing, TopicMessage::default()).await,
            Err(BusError::NoSuchTarget(missing.to_owned()))
        );
        for _ in 0..100 {
            if !queues.0.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let got = queues.0.lock().unwrap().clone();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, queue);
        assert_eq!(got[0].1.body, "from EventBridge");
    }
}

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
        ctx.host = format!("sns.{region}.amazonaws.com");
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

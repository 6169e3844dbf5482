//! Topics: create (standard and FIFO), delete, list, attributes and tags.

use std::collections::BTreeMap;

use skyport_core::RequestContext;
use skyport_wire::ApiError;

use crate::api::{Sns, invalid, no_topic, store_error};
use crate::shapes::{self, errors};
use crate::state::TopicRec;

/// Topics per `ListTopics` page.
const PAGE: usize = 100;
/// The most tags a topic has.
const MAX_TAGS: usize = 50;

/// The attributes `SetTopicAttributes` (and `CreateTopic`) accept.
const SETTABLE: &[&str] = &[
    "ApplicationFailureFeedbackRoleArn",
    "ApplicationSuccessFeedbackRoleArn",
    "ApplicationSuccessFeedbackSampleRate",
    "ArchivePolicy",
    "ContentBasedDeduplication",
    "DeliveryPolicy",
    "DisplayName",
    "FifoThroughputScope",
    "FirehoseFailureFeedbackRoleArn",
    "FirehoseSuccessFeedbackRoleArn",
    "FirehoseSuccessFeedbackSampleRate",
    "HTTPFailureFeedbackRoleArn",
    "HTTPSuccessFeedbackRoleArn",
    "HTTPSuccessFeedbackSampleRate",
    "KmsMasterKeyId",
    "LambdaFailureFeedbackRoleArn",
    "LambdaSuccessFeedbackRoleArn",
    "LambdaSuccessFeedbackSampleRate",
    "Policy",
    "SQSFailureFeedbackRoleArn",
    "SQSSuccessFeedbackRoleArn",
    "SQSSuccessFeedbackSampleRate",
    "SignatureVersion",
    "TracingConfig",
];

/// AWS's default `EffectiveDeliveryPolicy`.
pub const DEFAULT_DELIVERY_POLICY: &str = r#"{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}"#;

fn default_policy(arn: &str, account: &str) -> String {
    serde_json::json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": [
                "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe",
                "SNS:ListSubscriptionsByTopic", "SNS:Publish"
            ],
            "Resource": arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": account}}
        }]
    })
    .to_string()
}

fn is_bool(v: &str) -> bool {
    v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")
}

/// Checks one topic attribute's name and value (`fifo`: the topic is FIFO).
fn check_attribute(name: &str, value: &str, fifo: bool) -> Result<(), ApiError> {
    if !SETTABLE.contains(&name) {
        return Err(invalid("AttributeName"));
    }
    match name {
        "ContentBasedDeduplication" if !fifo => Err(invalid(
            "ContentBasedDeduplication Reason: Content based deduplication can only be set for FIFO topics",
        )),
        "ContentBasedDeduplication" if !is_bool(value) => {
            Err(invalid("ContentBasedDeduplication Reason: Invalid value"))
        }
        "FifoThroughputScope" if !fifo => Err(invalid(
            "FifoThroughputScope Reason: FifoThroughputScope can only be set for FIFO topics",
        )),
        "SignatureVersion" if value != "1" && value != "2" => Err(invalid("SignatureVersion")),
        "DeliveryPolicy" | "Policy" if !value.is_empty() => {
            match serde_json::from_str::<serde_json::Value>(value) {
                Ok(v) if v.is_object() => Ok(()),
                _ => Err(invalid(format!("{name}: failed to parse JSON"))),
            }
        }
        "DisplayName" if value.len() > 100 => Err(invalid("DisplayName")),
        _ => Ok(()),
    }
}

/// Standard topic names: 1-256 of `[A-Za-z0-9_-]`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Parses `arn:<partition>:sns:<region>:<account>:<name>` (a topic ARN).
pub(crate) fn topic_arn_parts(arn: &str) -> Option<(&str, &str, &str)> {
    let mut parts = arn.split(':');
    let (Some("arn"), Some(_), Some("sns"), Some(region), Some(account), Some(name), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    Some((region, account, name))
}

impl Sns {
    /// A topic, or `NotFound`.
    pub(crate) fn topic_or_not_found(&self, arn: &str) -> Result<TopicRec, ApiError> {
        self.state.topic(arn).ok_or_else(no_topic)
    }

    pub(crate) fn create_topic_op(
        &self,
        ctx: &RequestContext,
        input: shapes::CreateTopicInput,
    ) -> Result<shapes::CreateTopicResponse, ApiError> {
        let attributes = input.attributes.unwrap_or_default();
        let fifo_attr = attributes
            .get("FifoTopic")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let name = input.name;
        let fifo = if let Some(base) = name.strip_suffix(".fifo") {
            if !fifo_attr || !valid_name(base) || name.len() > 256 {
                return Err(invalid("Topic Name"));
            }
            true
        } else {
            if fifo_attr || !valid_name(&name) {
                return Err(if fifo_attr {
                    invalid(
                        "Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.",
                    )
                } else {
                    invalid("Topic Name")
                });
            }
            false
        };
        let mut stored = BTreeMap::new();
        for (k, v) in &attributes {
            if k == "FifoTopic" {
                if !is_bool(v) {
                    return Err(invalid("FifoTopic Reason: Invalid value"));
                }
                continue;
            }
            check_attribute(k, v, fifo)?;
            stored.insert(k.clone(), v.clone());
        }
        let tags: BTreeMap<String, String> = input
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect();
        if tags.len() > MAX_TAGS {
            return Err(errors::tag_limit_exceeded_exception(
                "Could not complete request: tag quota of per resource exceeded",
            ));
        }
        let arn = format!(
            "arn:{}:sns:{}:{}:{name}",
            ctx.partition(),
            ctx.region,
            ctx.account
        );
        if let Some(existing) = self.state.topic(&arn) {
            let differs = stored
                .iter()
                .any(|(k, v)| existing.attributes.get(k) != Some(v));
            if differs {
                return Err(invalid(
                    "Attributes Reason: Topic already exists with different attributes",
                ));
            }
            if !tags.is_empty() && tags != existing.tags {
                return Err(invalid(
                    "Tags Reason: Topic already exists with different tags",
                ));
            }
            return Ok(shapes::CreateTopicResponse {
                topic_arn: Some(arn),
            });
        }
        let topic = TopicRec {
            arn: arn.clone(),
            name,
            account: ctx.account.clone(),
            region: ctx.region.clone(),
            fifo,
            attributes: stored,
            tags,
            deleted_subscriptions: 0,
        };
        self.state.put_topic(topic).map_err(store_error)?;
        Ok(shapes::CreateTopicResponse {
            topic_arn: Some(arn),
        })
    }

    pub(crate) fn delete_topic_op(&self, arn: &str) -> Result<(), ApiError> {
        if topic_arn_parts(arn).is_none() {
            return Err(invalid("TopicArn"));
        }
        // Deleting a topic that does not exist succeeds, as in AWS.
        self.state.delete_topic(arn).map_err(store_error)?;
        Ok(())
    }

    pub(crate) fn list_topics_op(
        &self,
        ctx: &RequestContext,
        token: Option<&str>,
    ) -> Result<shapes::ListTopicsResponse, ApiError> {
        let after = token.map(crate::tokens::decode).transpose()?;
        let mut arns = self
            .state
            .topics(&ctx.account, &ctx.region, after.as_deref(), PAGE + 1);
        let next_token = if arns.len() > PAGE {
            arns.truncate(PAGE);
            arns.last().map(|a| crate::tokens::encode(a))
        } else {
            None
        };
        Ok(shapes::ListTopicsResponse {
            topics: Some(
                arns.into_iter()
                    .map(|a| shapes::Topic { topic_arn: Some(a) })
                    .collect(),
            ),
            next_token,
        })
    }

    pub(crate) fn get_topic_attributes_op(
        &self,
        arn: &str,
    ) -> Result<shapes::GetTopicAttributesResponse, ApiError> {
        let topic = self.topic_or_not_found(arn)?;
        let (confirmed, pending) = self.state.subscription_counts(arn);
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        out.insert("TopicArn".into(), topic.arn.clone());
        out.insert("Owner".into(), topic.account.clone());
        out.insert("Policy".into(), default_policy(&topic.arn, &topic.account));
        out.insert("DisplayName".into(), String::new());
        out.insert("SubscriptionsConfirmed".into(), confirmed.to_string());
        out.insert("SubscriptionsPending".into(), pending.to_string());
        out.insert(
            "SubscriptionsDeleted".into(),
            topic.deleted_subscriptions.to_string(),
        );
        out.insert(
            "EffectiveDeliveryPolicy".into(),
            DEFAULT_DELIVERY_POLICY.to_owned(),
        );
        if topic.fifo {
            out.insert("FifoTopic".into(), "true".into());
            out.insert("ContentBasedDeduplication".into(), "false".into());
        }
        for (k, v) in &topic.attributes {
            out.insert(k.clone(), v.clone());
        }
        if let Some(policy) = topic.attributes.get("DeliveryPolicy") {
            out.insert("EffectiveDeliveryPolicy".into(), policy.clone());
        }
        Ok(shapes::GetTopicAttributesResponse {
            attributes: Some(out),
        })
    }

    pub(crate) fn set_topic_attributes_op(
        &self,
        input: shapes::SetTopicAttributesInput,
    ) -> Result<(), ApiError> {
        let mut topic = self.topic_or_not_found(&input.topic_arn)?;
        let value = input.attribute_value.unwrap_or_default();
        check_attribute(&input.attribute_name, &value, topic.fifo)?;
        if value.is_empty() && matches!(input.attribute_name.as_str(), "Policy" | "DeliveryPolicy")
        {
            topic.attributes.remove(&input.attribute_name);
        } else {
            topic.attributes.insert(input.attribute_name, value);
        }
        self.state.put_topic(topic).map_err(store_error)
    }

    fn tagged_topic(&self, arn: &str) -> Result<TopicRec, ApiError> {
        self.state
            .topic(arn)
            .ok_or_else(|| errors::resource_not_found_exception("Resource does not exist"))
    }

    pub(crate) fn tag_resource_op(
        &self,
        input: shapes::TagResourceRequest,
    ) -> Result<shapes::TagResourceResponse, ApiError> {
        let mut topic = self.tagged_topic(&input.resource_arn)?;
        for tag in input.tags {
            topic.tags.insert(tag.key, tag.value);
        }
        if topic.tags.len() > MAX_TAGS {
            return Err(errors::tag_limit_exceeded_exception(
                "Could not complete request: tag quota of per resource exceeded",
            ));
        }
        self.state.put_topic(topic).map_err(store_error)?;
        Ok(shapes::TagResourceResponse::default())
    }

    pub(crate) fn untag_resource_op(
        &self,
        input: shapes::UntagResourceRequest,
    ) -> Result<shapes::UntagResourceResponse, ApiError> {
        let mut topic = self.tagged_topic(&input.resource_arn)?;
        for key in &input.tag_keys {
            topic.tags.remove(key);
        }
        self.state.put_topic(topic).map_err(store_error)?;
        Ok(shapes::UntagResourceResponse::default())
    }

    pub(crate) fn list_tags_op(
        &self,
        arn: &str,
    ) -> Result<shapes::ListTagsForResourceResponse, ApiError> {
        let topic = self.tagged_topic(arn)?;
        Ok(shapes::ListTagsForResourceResponse {
            tags: Some(
                topic
                    .tags
                    .into_iter()
                    .map(|(key, value)| shapes::Tag { key, value })
                    .collect(),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_arns() {
        assert!(valid_name("orders_1-a"));
        assert!(!valid_name("a.b"));
        assert!(!valid_name(""));
        assert_eq!(
            topic_arn_parts("arn:aws:sns:us-east-1:000000000000:t"),
            Some(("us-east-1", "000000000000", "t"))
        );
        assert!(topic_arn_parts("arn:aws:sns:us-east-1:000000000000:t:sub").is_none());
    }

    #[test]
    fn attribute_checks() {
        assert!(check_attribute("Nope", "x", false).is_err());
        assert!(check_attribute("ContentBasedDeduplication", "true", false).is_err());
        assert!(check_attribute("ContentBasedDeduplication", "true", true).is_ok());
        assert!(check_attribute("SignatureVersion", "3", false).is_err());
        assert!(check_attribute("DisplayName", "hi", false).is_ok());
    }
}

//! Subscriptions: subscribe (with HTTP(S) confirmation), confirm, unsubscribe, list, attributes.

use std::collections::BTreeMap;

use skyport_core::RequestContext;
use skyport_wire::ApiError;

use crate::api::{Sns, invalid, store_error};
use crate::delivery::RetryPolicy;
use crate::shapes::{self, errors};
use crate::state::SubRec;
use crate::topics::DEFAULT_DELIVERY_POLICY;

/// Subscriptions per list page.
const PAGE: usize = 100;

/// The protocols SNS knows.
const PROTOCOLS: &[&str] = &[
    "http",
    "https",
    "email",
    "email-json",
    "sms",
    "sqs",
    "application",
    "lambda",
    "firehose",
];

/// The attributes `SetSubscriptionAttributes` (and `Subscribe`) accept.
const SETTABLE: &[&str] = &[
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
    "ReplayPolicy",
];

fn is_service_arn(endpoint: &str, service: &str) -> bool {
    let parts: Vec<&str> = endpoint.split(':').collect();
    parts.len() >= 6 && parts[0] == "arn" && parts[2] == service
}

/// Checks the endpoint of a protocol, with AWS's messages.
fn check_endpoint(protocol: &str, endpoint: &str) -> Result<(), ApiError> {
    let ok = match protocol {
        "sqs" => is_service_arn(endpoint, "sqs"),
        "lambda" => is_service_arn(endpoint, "lambda"),
        "firehose" => is_service_arn(endpoint, "firehose"),
        "application" => is_service_arn(endpoint, "sns"),
        "http" => endpoint.starts_with("http://"),
        "https" => endpoint.starts_with("https://"),
        "email" | "email-json" => endpoint.contains('@'),
        "sms" => {
            let digits = endpoint.strip_prefix('+').unwrap_or(endpoint);
            !digits.is_empty()
                && digits.len() <= 15
                && digits.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        }
        _ => false,
    };
    if ok {
        return Ok(());
    }
    Err(match protocol {
        "sqs" => invalid("SQS endpoint ARN"),
        "lambda" => invalid("Lambda endpoint ARN"),
        "email" | "email-json" => invalid("Email address"),
        "sms" => invalid(format!("Invalid SMS endpoint: {endpoint}")),
        _ => invalid("Endpoint must match the specified protocol"),
    })
}

/// Checks one subscription attribute (`protocol`: the subscription's), with the scope the filter
/// policy is checked against (`body_scope`).
fn check_attribute(
    name: &str,
    value: &str,
    protocol: &str,
    body_scope: bool,
) -> Result<(), ApiError> {
    if !SETTABLE.contains(&name) {
        return Err(invalid("AttributeName"));
    }
    match name {
        "RawMessageDelivery" => {
            if !matches!(protocol, "sqs" | "http" | "https" | "firehose") {
                return Err(invalid(format!(
                    "Delivery protocol [{protocol}] does not support raw message delivery."
                )));
            }
            if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                return Err(invalid(format!(
                    "RawMessageDelivery: Invalid value [{value}]. Must be true or false."
                )));
            }
        }
        "FilterPolicyScope" if value != "MessageAttributes" && value != "MessageBody" => {
            return Err(invalid(format!(
                "FilterPolicyScope: Invalid value [{value}]. Please use either MessageBody or MessageAttributes"
            )));
        }
        "FilterPolicy" if !value.is_empty() => {
            crate::filter::validate(value, body_scope)
                .map_err(|e| invalid(format!("FilterPolicy: {e}")))?;
        }
        "RedrivePolicy" if !value.is_empty() => {
            let v: serde_json::Value = serde_json::from_str(value)
                .map_err(|e| invalid(format!("RedrivePolicy: failed to parse JSON. {e}")))?;
            let arn = v
                .get("deadLetterTargetArn")
                .and_then(serde_json::Value::as_str);
            match arn {
                Some(a) if is_service_arn(a, "sqs") => {}
                Some(_) => {
                    return Err(invalid(
                        "RedrivePolicy: deadLetterTargetArn is an invalid arn",
                    ));
                }
                None => {
                    return Err(invalid(
                        "RedrivePolicy: Redrive policy does not contain mandatory attribute: deadLetterTargetArn",
                    ));
                }
            }
        }
        "DeliveryPolicy"
            if !value.is_empty() && serde_json::from_str::<serde_json::Value>(value).is_err() =>
        {
            return Err(invalid("DeliveryPolicy: failed to parse JSON"));
        }
        _ => {}
    }
    Ok(())
}

fn is_bool_true(v: Option<&String>) -> bool {
    v.is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// A random confirmation token (hex, as long as AWS's).
fn token() -> String {
    let mut bytes = [0u8; 64];
    fastrand::fill(&mut bytes);
    skyport_core::ids::hex(&bytes)
}

/// The subscriptions a list shows: `PendingConfirmation` for unconfirmed ones.
fn listed(sub: &SubRec) -> shapes::Subscription {
    shapes::Subscription {
        subscription_arn: Some(if sub.confirmed {
            sub.arn.clone()
        } else {
            "PendingConfirmation".to_owned()
        }),
        owner: Some(sub.owner.clone()),
        protocol: Some(sub.protocol.clone()),
        endpoint: Some(sub.endpoint.clone()),
        topic_arn: Some(sub.topic_arn.clone()),
    }
}

/// The retry policy of a subscription's HTTP(S) deliveries.
pub(crate) fn retry_policy(sub: &SubRec, topic_policy: Option<&String>) -> RetryPolicy {
    sub.attributes
        .get("DeliveryPolicy")
        .and_then(|d| RetryPolicy::from_document(d))
        .or_else(|| topic_policy.and_then(|d| RetryPolicy::from_document(d)))
        .unwrap_or_default()
}

impl Sns {
    pub(crate) fn subscribe_op(
        &self,
        ctx: &RequestContext,
        input: shapes::SubscribeInput,
    ) -> Result<shapes::SubscribeResponse, ApiError> {
        let topic = self.topic_or_not_found(&input.topic_arn)?;
        let protocol = input.protocol.to_ascii_lowercase();
        if !PROTOCOLS.contains(&protocol.as_str()) {
            return Err(invalid(format!(
                "Amazon SNS does not support this protocol string: {}",
                input.protocol
            )));
        }
        let endpoint = input.endpoint.unwrap_or_default();
        check_endpoint(&protocol, &endpoint)?;
        if protocol == "sqs" && endpoint.ends_with(".fifo") && !topic.fifo {
            return Err(invalid(
                "Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics",
            ));
        }
        let attributes = input.attributes.unwrap_or_default();
        let body_scope =
            attributes.get("FilterPolicyScope").map(String::as_str) == Some("MessageBody");
        for (k, v) in &attributes {
            check_attribute(k, v, &protocol, body_scope)?;
        }
        if let Some(existing) = self
            .state
            .find_subscription(&topic.arn, &protocol, &endpoint)
        {
            let differs = attributes
                .iter()
                .any(|(k, v)| existing.attributes.get(k) != Some(v));
            if differs {
                return Err(invalid(
                    "Attributes Reason: Subscription already exists with different attributes",
                ));
            }
            return Ok(shapes::SubscribeResponse {
                subscription_arn: Some(
                    self.subscription_answer(&existing, input.return_subscription_arn),
                ),
            });
        }
        let needs_confirmation =
            matches!(protocol.as_str(), "http" | "https" | "email" | "email-json");
        let mut stored: BTreeMap<String, String> = attributes;
        stored.retain(|_, v| !v.is_empty());
        let sub = SubRec {
            arn: format!("{}:{}", topic.arn, skyport_core::ids::uuid()),
            topic_arn: topic.arn.clone(),
            owner: ctx.account.clone(),
            protocol: protocol.clone(),
            endpoint,
            attributes: stored,
            confirmed: !needs_confirmation,
            token: token(),
        };
        self.state
            .put_subscription(sub.clone())
            .map_err(store_error)?;
        if matches!(protocol.as_str(), "http" | "https") {
            let retry = retry_policy(&sub, topic.attributes.get("DeliveryPolicy"));
            let version = topic
                .attributes
                .get("SignatureVersion")
                .cloned()
                .unwrap_or_else(|| "1".to_owned());
            self.deliverer
                .confirm(sub.clone(), ctx.endpoint_url(), retry, version);
        }
        Ok(shapes::SubscribeResponse {
            subscription_arn: Some(self.subscription_answer(&sub, input.return_subscription_arn)),
        })
    }

    fn subscription_answer(&self, sub: &SubRec, return_arn: Option<bool>) -> String {
        if sub.confirmed || return_arn == Some(true) {
            sub.arn.clone()
        } else {
            "pending confirmation".to_owned()
        }
    }

    pub(crate) fn confirm_subscription_op(
        &self,
        input: shapes::ConfirmSubscriptionInput,
    ) -> Result<shapes::ConfirmSubscriptionResponse, ApiError> {
        let topic = self.topic_or_not_found(&input.topic_arn)?;
        let found = self
            .state
            .live_subscriptions(&topic.arn)
            .into_iter()
            .map(|s| s.rec)
            .find(|s| s.token == input.token);
        let Some(mut sub) = found else {
            return Err(invalid("Token"));
        };
        if !sub.confirmed {
            sub.confirmed = true;
            if is_bool_true(input.authenticate_on_unsubscribe.as_ref()) {
                sub.attributes
                    .insert("ConfirmationWasAuthenticated".to_owned(), "true".to_owned());
            }
            self.state
                .put_subscription(sub.clone())
                .map_err(store_error)?;
        }
        Ok(shapes::ConfirmSubscriptionResponse {
            subscription_arn: Some(sub.arn),
        })
    }

    pub(crate) fn unsubscribe_op(&self, arn: &str) -> Result<(), ApiError> {
        let parts = arn.split(':').count();
        if parts < 6 {
            return Err(invalid(format!(
                "SubscriptionArn Reason: An ARN must have at least 6 elements, not {parts}"
            )));
        }
        // Unsubscribing twice succeeds, as in AWS.
        self.state.delete_subscription(arn).map_err(store_error)?;
        Ok(())
    }

    pub(crate) fn list_subscriptions_op(
        &self,
        ctx: &RequestContext,
        topic_arn: Option<&str>,
        token: Option<&str>,
    ) -> Result<(Vec<shapes::Subscription>, Option<String>), ApiError> {
        if let Some(t) = topic_arn {
            self.topic_or_not_found(t)?;
        }
        let after = token.map(crate::tokens::decode).transpose()?;
        let mut subs = self.state.subscriptions(
            &ctx.account,
            &ctx.region,
            topic_arn,
            after.as_deref(),
            PAGE + 1,
        );
        let next = if subs.len() > PAGE {
            subs.truncate(PAGE);
            subs.last().map(|s| crate::tokens::encode(&s.arn))
        } else {
            None
        };
        Ok((subs.iter().map(listed).collect(), next))
    }

    fn subscription_or_not_found(&self, arn: &str) -> Result<SubRec, ApiError> {
        self.state
            .subscription(arn)
            .ok_or_else(|| errors::not_found_exception("Subscription does not exist"))
    }

    pub(crate) fn get_subscription_attributes_op(
        &self,
        arn: &str,
    ) -> Result<shapes::GetSubscriptionAttributesResponse, ApiError> {
        let sub = self.subscription_or_not_found(arn)?;
        let mut out = BTreeMap::new();
        out.insert("SubscriptionArn".to_owned(), sub.arn.clone());
        out.insert("TopicArn".to_owned(), sub.topic_arn.clone());
        out.insert("Owner".to_owned(), sub.owner.clone());
        out.insert("Protocol".to_owned(), sub.protocol.clone());
        out.insert("Endpoint".to_owned(), sub.endpoint.clone());
        out.insert(
            "PendingConfirmation".to_owned(),
            (!sub.confirmed).to_string(),
        );
        out.insert("ConfirmationWasAuthenticated".to_owned(), "true".to_owned());
        out.insert("RawMessageDelivery".to_owned(), sub.raw().to_string());
        out.insert(
            "SubscriptionPrincipal".to_owned(),
            format!("arn:aws:iam::{}:root", sub.owner),
        );
        if matches!(sub.protocol.as_str(), "http" | "https") {
            let topic_policy = self
                .state
                .topic(&sub.topic_arn)
                .and_then(|t| t.attributes.get("DeliveryPolicy").cloned());
            let effective = sub
                .attributes
                .get("DeliveryPolicy")
                .cloned()
                .or(topic_policy)
                .unwrap_or_else(|| DEFAULT_DELIVERY_POLICY.to_owned());
            out.insert("EffectiveDeliveryPolicy".to_owned(), effective);
        }
        for (k, v) in &sub.attributes {
            out.insert(k.clone(), v.clone());
        }
        if sub.attributes.contains_key("FilterPolicy")
            && !sub.attributes.contains_key("FilterPolicyScope")
        {
            out.insert(
                "FilterPolicyScope".to_owned(),
                "MessageAttributes".to_owned(),
            );
        }
        Ok(shapes::GetSubscriptionAttributesResponse {
            attributes: Some(out),
        })
    }

    pub(crate) fn set_subscription_attributes_op(
        &self,
        input: shapes::SetSubscriptionAttributesInput,
    ) -> Result<(), ApiError> {
        let mut sub = self.subscription_or_not_found(&input.subscription_arn)?;
        let value = input.attribute_value.unwrap_or_default();
        let body_scope = match input.attribute_name.as_str() {
            "FilterPolicyScope" => value == "MessageBody",
            _ => sub.body_scope(),
        };
        check_attribute(&input.attribute_name, &value, &sub.protocol, body_scope)?;
        if input.attribute_name == "FilterPolicyScope" {
            // The policy in place must suit the new scope.
            if let Some(policy) = sub.attributes.get("FilterPolicy") {
                crate::filter::validate(policy, body_scope)
                    .map_err(|e| invalid(format!("FilterPolicy: {e}")))?;
            }
        }
        if value.is_empty() {
            sub.attributes.remove(&input.attribute_name);
        } else {
            sub.attributes.insert(input.attribute_name, value);
        }
        self.state.put_subscription(sub).map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_by_protocol() {
        assert!(check_endpoint("sqs", "arn:aws:sqs:us-east-1:000000000000:q").is_ok());
        assert!(check_endpoint("sqs", "https://queue").is_err());
        assert!(check_endpoint("http", "https://x").is_err());
        assert!(check_endpoint("sms", "+15555550100").is_ok());
        assert!(check_endpoint("email", "nobody").is_err());
    }

    #[test]
    fn attribute_checks() {
        assert!(check_attribute("RawMessageDelivery", "true", "lambda", false).is_err());
        assert!(check_attribute("RawMessageDelivery", "yes", "sqs", false).is_err());
        assert!(check_attribute("FilterPolicy", "{\"a\": {\"b\": [1]}}", "sqs", false).is_err());
        assert!(check_attribute("FilterPolicy", "{\"a\": {\"b\": [1]}}", "sqs", true).is_ok());
        assert!(check_attribute("RedrivePolicy", "{}", "sqs", false).is_err());
        assert!(check_attribute("Bogus", "", "sqs", false).is_err());
        assert_eq!(token().len(), 128);
    }
}

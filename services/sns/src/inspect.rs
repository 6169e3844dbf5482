//! LocalStack's inspection endpoints for tests, with LocalStack's JSON shapes:
//!
//! - `GET|DELETE /_aws/sns/sms-messages?accountId=&region=&phoneNumber=`: the SMS messages published
//!   (to phone numbers or `sms` subscriptions), `{"sms_messages": {"<number>": [...]}, "region": ...}`;
//! - `GET|DELETE /_aws/sns/platform-endpoint-messages?accountId=&region=&endpointArn=`: the messages
//!   published to platform endpoints (`TargetArn`), `{"platform_endpoint_messages": {...}, "region"}`;
//! - `GET /_aws/sns/subscription-tokens/<subscription-arn>`: `{"subscription_token",
//!   "subscription_arn"}`, to confirm HTTP(S) and email subscriptions by hand.
//!
//! `accountId` and `region` default to `000000000000` and `us-east-1`, as in LocalStack.

use std::collections::BTreeMap;

use http::{Method, Response, StatusCode};
use serde_json::{Value, json};
use skyport_core::Body;

use crate::api::Sns;
use crate::delivery::Recorded;

/// The path prefix.
pub const PREFIX: &str = "/_aws/sns/";

fn respond(status: StatusCode, body: Option<Value>) -> Response<Body> {
    let mut response = Response::new(match &body {
        Some(v) => skyport_core::body::full(v.to_string()),
        None => skyport_core::body::empty(),
    });
    *response.status_mut() = status;
    if body.is_some() {
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
    }
    response
}

fn attributes_json(r: &Recorded) -> Value {
    let map: serde_json::Map<String, Value> = r
        .attributes
        .iter()
        .map(|(k, a)| {
            let value = match &a.binary_value {
                Some(_) => json!({"DataType": a.data_type, "BinaryValue": a.envelope_value()}),
                None => json!({"DataType": a.data_type, "StringValue": a.string_value}),
            };
            (k.clone(), value)
        })
        .collect();
    Value::Object(map)
}

fn sms_json(r: &Recorded) -> Value {
    json!({
        "PhoneNumber": r.endpoint,
        "TopicArn": r.topic_arn,
        "SubscriptionArn": r.subscription_arn,
        "MessageId": r.message_id,
        "Message": r.message,
        "MessageAttributes": attributes_json(r),
        "MessageStructure": r.structure,
        "Subject": r.subject,
    })
}

fn platform_json(r: &Recorded) -> Value {
    json!({
        "TargetArn": r.endpoint,
        "Message": r.message,
        "MessageAttributes": if r.attributes.is_empty() { Value::Null } else { attributes_json(r) },
        "MessageStructure": r.structure,
        "Subject": r.subject,
    })
}

/// Answers a request under [`PREFIX`].
pub fn serve(sns: &Sns, method: &Method, path: &str, query: &str) -> Response<Body> {
    let params: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let account = params
        .get("accountId")
        .cloned()
        .unwrap_or_else(|| "000000000000".to_owned());
    let region = params
        .get("region")
        .cloned()
        .unwrap_or_else(|| "us-east-1".to_owned());
    let rest = &path[PREFIX.len()..];
    let (protocol, filter_key, list_key, render): (&str, &str, &str, fn(&Recorded) -> Value) =
        match rest.trim_end_matches('/') {
            "sms-messages" => ("sms", "phoneNumber", "sms_messages", sms_json),
            "platform-endpoint-messages" => (
                "application",
                "endpointArn",
                "platform_endpoint_messages",
                platform_json,
            ),
            _ => {
                if let Some(arn) = rest.strip_prefix("subscription-tokens/")
                    && *method == Method::GET
                {
                    return token(sns, arn);
                }
                return respond(
                    StatusCode::NOT_FOUND,
                    Some(json!({"error": "PathNotFound", "path": path})),
                );
            }
        };
    let target = params.get(filter_key);
    let selected = |r: &Recorded| {
        r.protocol == protocol
            && r.account == account
            && r.region == region
            && target.is_none_or(|t| &r.endpoint == t)
    };
    match *method {
        Method::GET => {
            let mut grouped: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            for r in sns.links().recorded().iter().filter(|r| selected(r)) {
                grouped
                    .entry(r.endpoint.clone())
                    .or_default()
                    .push(render(r));
            }
            respond(
                StatusCode::OK,
                Some(json!({ list_key: grouped, "region": region })),
            )
        }
        Method::DELETE => {
            sns.links().forget(selected);
            respond(StatusCode::NO_CONTENT, None)
        }
        _ => respond(
            StatusCode::METHOD_NOT_ALLOWED,
            Some(json!({"error": "MethodNotAllowed"})),
        ),
    }
}

fn token(sns: &Sns, encoded: &str) -> Response<Body> {
    let arn = percent_encoding::percent_decode_str(encoded)
        .decode_utf8_lossy()
        .into_owned();
    if arn.split(':').count() < 7 || !arn.starts_with("arn:") {
        return respond(
            StatusCode::BAD_REQUEST,
            Some(
                json!({"error": "The provided SubscriptionARN is invalid", "subscription_arn": arn}),
            ),
        );
    }
    match sns.state.subscription(&arn) {
        Some(sub) => respond(
            StatusCode::OK,
            Some(json!({"subscription_token": sub.token, "subscription_arn": arn})),
        ),
        None => respond(
            StatusCode::NOT_FOUND,
            Some(json!({"error": "The SubscriptionARN was not found", "subscription_arn": arn})),
        ),
    }
}

//! Publish and PublishBatch: AWS's validation, FIFO sequencing and deduplication (5 minutes), and the
//! hand-over of each matching subscription's delivery to [`crate::delivery`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sha2::Digest as _;
use skyport_core::RequestContext;
use skyport_wire::ApiError;

use crate::api::{Sns, invalid, no_topic};
use crate::delivery::{Job, Recorded};
use crate::filter;
use crate::message::{Attribute, Attributes, Published};
use crate::shapes::{self, errors};
use crate::state::TopicRec;
use crate::subscriptions::retry_policy;

/// The largest message (with its attributes), and the largest batch.
pub const MAX_BYTES: usize = 262_144;
/// The most entries of a batch.
pub const MAX_BATCH: usize = 10;
/// How long a FIFO deduplication id is remembered.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(300);

/// FIFO deduplication and sequence numbers, per topic.
#[derive(Debug, Default)]
pub struct Dedup {
    inner: Mutex<DedupInner>,
}

#[derive(Debug, Default)]
struct DedupInner {
    seen: HashMap<(String, String), (Instant, String, String)>,
    sequence: HashMap<String, u128>,
}

impl Dedup {
    /// Forgets every deduplication id and sequence (a state reset).
    pub fn clear(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *inner = DedupInner::default();
    }

    /// For a FIFO message: `Err((message id, sequence))` of the earlier message with this
    /// deduplication id within the window, or `Ok(sequence)` for a new one, remembered as `message_id`.
    fn admit(
        &self,
        topic: &str,
        dedup_id: &str,
        message_id: &str,
    ) -> Result<String, (String, String)> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        inner
            .seen
            .retain(|_, (at, _, _)| now.duration_since(*at) < DEDUP_WINDOW);
        let key = (topic.to_owned(), dedup_id.to_owned());
        if let Some((_, id, seq)) = inner.seen.get(&key) {
            return Err((id.clone(), seq.clone()));
        }
        let seq = inner
            .sequence
            .entry(topic.to_owned())
            .or_insert(10_000_000_000_000_000_000);
        *seq += 1;
        let seq = format!("{seq:020}");
        inner
            .seen
            .insert(key, (now, message_id.to_owned(), seq.clone()));
        Ok(seq)
    }
}

/// One message to publish, from `Publish` or a batch entry.
struct Draft {
    message: String,
    subject: Option<String>,
    structure: Option<String>,
    attributes: Option<BTreeMap<String, shapes::MessageAttributeValue>>,
    group_id: Option<String>,
    dedup_id: Option<String>,
}

fn attribute_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !name.to_ascii_lowercase().starts_with("aws.")
        && !name.to_ascii_lowercase().starts_with("amazon.")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Validates message attributes (AWS's `ParameterValueInvalid` messages); their size.
fn check_attributes(
    attributes: &BTreeMap<String, shapes::MessageAttributeValue>,
) -> Result<(Attributes, usize), ApiError> {
    let mut out = Attributes::new();
    let mut size = 0;
    let bad = |m: String| errors::invalid_parameter_value_exception(m);
    for (name, v) in attributes {
        if !attribute_name_ok(name) {
            return Err(bad(format!(
                "The message attribute name '{name}' is invalid. Attribute name can contain A-Z, a-z, 0-9, underscore (_), hyphen (-), and period (.) characters."
            )));
        }
        let prefix = v.data_type.split('.').next().unwrap_or_default();
        if !matches!(prefix, "String" | "Number" | "Binary") {
            return Err(bad(format!(
                "The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
            )));
        }
        let missing = if prefix == "Binary" {
            v.binary_value.as_ref().is_none_or(|b| b.is_empty())
        } else {
            v.string_value.as_ref().is_none_or(String::is_empty)
        };
        if missing {
            return Err(bad(format!(
                "The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{}'.",
                v.data_type
            )));
        }
        let text = v.string_value.clone().unwrap_or_default();
        if prefix == "Number" && text.trim().parse::<f64>().map_or(true, |n| !n.is_finite()) {
            return Err(bad(format!(
                "Could not cast message attribute '{name}' value to number."
            )));
        }
        if v.data_type == "String.Array"
            && !matches!(
                serde_json::from_str::<serde_json::Value>(&text),
                Ok(serde_json::Value::Array(_))
            )
        {
            return Err(bad(format!(
                "Invalid attribute value: The value for message attribute '{name}' of type 'String.Array' must be a JSON array."
            )));
        }
        size += name.len()
            + v.data_type.len()
            + text.len()
            + v.binary_value.as_ref().map_or(0, |b| b.len());
        out.insert(
            name.clone(),
            Attribute {
                data_type: v.data_type.clone(),
                string_value: v.string_value.clone(),
                binary_value: v.binary_value.as_ref().map(|b| b.to_vec()),
            },
        );
    }
    Ok((out, size))
}

/// `MessageStructure: json`: the per-protocol messages (a `default` entry required).
fn structured(message: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let value: serde_json::Value = serde_json::from_str(message)
        .map_err(|_| invalid("Message Structure - JSON message body failed to parse"))?;
    let object = value
        .as_object()
        .ok_or_else(|| invalid("Message Structure - JSON message body failed to parse"))?;
    if !object.contains_key("default") {
        return Err(invalid(
            "Message Structure - No default entry in JSON message body",
        ));
    }
    Ok(object
        .iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect())
}

/// The query-protocol code of an SNS error shape (`InvalidParameterException` → `InvalidParameter`).
fn query_code(shape: &str) -> &str {
    match shape {
        "InvalidParameterValueException" => "ParameterValueInvalid",
        other => other.strip_suffix("Exception").unwrap_or(other),
    }
}

impl Sns {
    /// Validates a message for a topic and builds it (without FIFO sequencing).
    fn prepare(
        &self,
        topic: Option<&TopicRec>,
        topic_arn: &str,
        draft: Draft,
    ) -> Result<Published, ApiError> {
        if draft.message.is_empty() {
            return Err(invalid("Empty message"));
        }
        if let Some(subject) = &draft.subject {
            let bad = subject.is_empty()
                || subject.chars().count() > 100
                || subject.chars().any(|c| c.is_control())
                || !subject
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_graphic() || c.is_alphanumeric());
            if bad {
                return Err(invalid("Subject"));
            }
        }
        let structured = match draft.structure.as_deref() {
            None => None,
            Some("json") => Some(structured(&draft.message)?),
            Some(_) => return Err(invalid("MessageStructure")),
        };
        let (attributes, attributes_size) =
            check_attributes(&draft.attributes.unwrap_or_default())?;
        if draft.message.len() + attributes_size > MAX_BYTES {
            return Err(invalid("Message too long"));
        }
        let fifo = topic.is_some_and(|t| t.fifo);
        let mut dedup_id = draft.dedup_id;
        if fifo {
            if draft.group_id.is_none() {
                return Err(invalid(
                    "The MessageGroupId parameter is required for FIFO topics",
                ));
            }
            let content_based = topic
                .and_then(|t| t.attributes.get("ContentBasedDeduplication"))
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            if dedup_id.is_none() {
                if !content_based {
                    return Err(invalid(
                        "The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
                    ));
                }
                dedup_id = Some(skyport_core::ids::hex(&sha2::Sha256::digest(
                    draft.message.as_bytes(),
                )));
            }
        } else {
            if dedup_id.is_some() {
                return Err(invalid(
                    "MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type",
                ));
            }
            if draft.group_id.is_some() {
                return Err(invalid(
                    "MessageGroupId Reason: The request includes MessageGroupId parameter that is not valid for this topic type",
                ));
            }
        }
        Ok(Published {
            message_id: skyport_core::ids::uuid(),
            topic_arn: topic_arn.to_owned(),
            message: draft.message,
            structured,
            subject: draft.subject,
            attributes,
            timestamp: skyport_core::timefmt::iso8601_millis(SystemTime::now()),
            group_id: draft.group_id,
            dedup_id,
            sequence_number: None,
        })
    }

    /// Sequences (FIFO) and fans a prepared message out; its message id and sequence number.
    fn dispatch(
        &self,
        ctx: &RequestContext,
        topic: &TopicRec,
        mut published: Published,
    ) -> (String, Option<String>) {
        if topic.fifo {
            let dedup = published.dedup_id.clone().unwrap_or_default();
            match self.dedup.admit(&topic.arn, &dedup, &published.message_id) {
                Ok(seq) => published.sequence_number = Some(seq),
                Err((id, seq)) => return (id, Some(seq)),
            }
        }
        let id = published.message_id.clone();
        let seq = published.sequence_number.clone();
        let published = Arc::new(published);
        let mut attributes_event = None;
        let mut body_event = None;
        let version = topic
            .attributes
            .get("SignatureVersion")
            .cloned()
            .unwrap_or_else(|| "1".to_owned());
        let signatures = Arc::new(crate::delivery::Signatures::default());
        for live in self.state.live_subscriptions(&topic.arn) {
            if !live.rec.confirmed {
                continue;
            }
            if let Some(pattern) = &live.filter {
                let matched = if live.rec.body_scope() {
                    let event =
                        body_event.get_or_insert_with(|| filter::body_event(&published.message));
                    event.as_ref().is_some_and(|e| pattern.matches(e))
                } else {
                    let event = attributes_event
                        .get_or_insert_with(|| filter::attributes_event(&published.attributes));
                    pattern.matches(event)
                };
                if !matched {
                    continue;
                }
            }
            let retry = retry_policy(&live.rec, topic.attributes.get("DeliveryPolicy"));
            self.deliverer.deliver(Job {
                sub: live.rec,
                published: published.clone(),
                fifo: topic.fifo,
                endpoint: ctx.endpoint_url(),
                signature_version: version.clone(),
                retry,
                signatures: signatures.clone(),
                signed: None,
            });
        }
        (id, seq)
    }

    pub(crate) fn publish_op(
        &self,
        ctx: &RequestContext,
        input: shapes::PublishInput,
    ) -> Result<shapes::PublishResponse, ApiError> {
        let draft = Draft {
            message: input.message,
            subject: input.subject,
            structure: input.message_structure,
            attributes: input.message_attributes,
            group_id: input.message_group_id,
            dedup_id: input.message_deduplication_id,
        };
        let target = match (&input.topic_arn, &input.target_arn, &input.phone_number) {
            (Some(t), None, None) | (None, Some(t), None) => t.clone(),
            (None, None, Some(phone)) => return self.publish_sms(ctx, phone, draft),
            (None, None, None) => {
                return Err(invalid(
                    "TopicArn or TargetArn Reason: no value for required parameter",
                ));
            }
            _ => {
                return Err(invalid(
                    "TopicArn Reason: Only one of TopicArn, TargetArn or PhoneNumber may be given",
                ));
            }
        };
        if target.contains(":endpoint/") {
            return self.publish_recorded(ctx, "application", &target, draft);
        }
        let topic = self.state.topic(&target).ok_or_else(no_topic)?;
        let published = self.prepare(Some(&topic), &topic.arn, draft)?;
        let (id, seq) = self.dispatch(ctx, &topic, published);
        Ok(shapes::PublishResponse {
            message_id: Some(id),
            sequence_number: seq,
        })
    }

    fn publish_sms(
        &self,
        ctx: &RequestContext,
        phone: &str,
        draft: Draft,
    ) -> Result<shapes::PublishResponse, ApiError> {
        let digits = phone.strip_prefix('+').unwrap_or_default();
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(format!(
                "PhoneNumber Reason: {phone} is not valid to publish to"
            )));
        }
        self.publish_recorded(ctx, "sms", phone, draft)
    }

    /// A message to a phone number or a platform endpoint: accepted and recorded, not sent.
    fn publish_recorded(
        &self,
        ctx: &RequestContext,
        protocol: &str,
        endpoint: &str,
        draft: Draft,
    ) -> Result<shapes::PublishResponse, ApiError> {
        let published = self.prepare(None, endpoint, draft)?;
        self.links().record(Recorded::direct(
            protocol,
            endpoint,
            &published,
            &ctx.account,
            &ctx.region,
        ));
        Ok(shapes::PublishResponse {
            message_id: Some(published.message_id),
            sequence_number: None,
        })
    }

    pub(crate) fn publish_batch_op(
        &self,
        ctx: &RequestContext,
        input: shapes::PublishBatchInput,
    ) -> Result<shapes::PublishBatchResponse, ApiError> {
        let topic = self.state.topic(&input.topic_arn).ok_or_else(no_topic)?;
        let entries = input.publish_batch_request_entries;
        if entries.is_empty() {
            return Err(errors::empty_batch_request_exception(
                "The batch request doesn't contain any entries.",
            ));
        }
        if entries.len() > MAX_BATCH {
            return Err(errors::too_many_entries_in_batch_request_exception(
                "The batch request contains more entries than permissible.",
            ));
        }
        let mut ids = HashSet::new();
        for e in &entries {
            let valid = !e.id.is_empty()
                && e.id.len() <= 80
                && e.id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(errors::invalid_batch_entry_id_exception(
                    "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
                ));
            }
            if !ids.insert(e.id.as_str()) {
                return Err(errors::batch_entry_ids_not_distinct_exception(
                    "Two or more batch entries in the request have the same Id.",
                ));
            }
        }
        let total: usize = entries.iter().map(|e| e.message.len()).sum();
        if total > MAX_BYTES {
            return Err(errors::batch_request_too_long_exception(
                "The length of all the messages put together is more than the limit.",
            ));
        }
        let mut successful = Vec::new();
        let mut failed = Vec::new();
        for e in entries {
            let draft = Draft {
                message: e.message,
                subject: e.subject,
                structure: e.message_structure,
                attributes: e.message_attributes,
                group_id: e.message_group_id,
                dedup_id: e.message_deduplication_id,
            };
            match self.prepare(Some(&topic), &topic.arn, draft) {
                Ok(published) => {
                    let (message_id, sequence_number) = self.dispatch(ctx, &topic, published);
                    successful.push(shapes::PublishBatchResultEntry {
                        id: Some(e.id),
                        message_id: Some(message_id),
                        sequence_number,
                    });
                }
                Err(err) => failed.push(shapes::BatchResultErrorEntry {
                    id: e.id,
                    code: query_code(&err.code).to_owned(),
                    message: Some(err.message),
                    sender_fault: true,
                }),
            }
        }
        Ok(shapes::PublishBatchResponse {
            successful: Some(successful),
            failed: Some(failed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_window_and_sequence() {
        let d = Dedup::default();
        let first = d.admit("t", "a", "m1").unwrap();
        let second = d.admit("t", "b", "m2").unwrap();
        assert!(second > first);
        assert_eq!(d.admit("t", "a", "m3"), Err(("m1".to_owned(), first)));
        assert!(d.admit("u", "a", "m4").is_ok());
    }

    #[test]
    fn structured_messages_need_default() {
        assert!(structured(r#"{"sqs": "x"}"#).is_err());
        assert!(structured("nope").is_err());
        let m = structured(r#"{"default": "d", "sqs": "q"}"#).unwrap();
        assert_eq!(m["sqs"], "q");
    }

    #[test]
    fn attribute_validation() {
        let mut a = BTreeMap::new();
        a.insert(
            "n".to_owned(),
            shapes::MessageAttributeValue {
                data_type: "Number".to_owned(),
                string_value: Some("abc".to_owned()),
                binary_value: None,
            },
        );
        assert!(check_attributes(&a).is_err());
        a.insert(
            "n".to_owned(),
            shapes::MessageAttributeValue {
                data_type: "Number".to_owned(),
                string_value: Some("1.5".to_owned()),
                binary_value: None,
            },
        );
        assert!(check_attributes(&a).is_ok());
    }
}

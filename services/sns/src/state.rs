//! SNS state: topics and subscriptions, held in memory and written through to the store.
//!
//! Tables (keys are ARNs):
//!
//! - `topics`: topic ARN → [`TopicRec`] (JSON);
//! - `subscriptions`: subscription ARN → [`SubRec`] (JSON). A subscription's ARN is its topic's ARN
//!   followed by `:<uuid>`, so a topic's subscriptions are one key prefix.
//!
//! Every change is committed to the store before the operation answers; the in-memory maps are what
//! Publish reads, so a publish never waits for the disk.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use skyport_core::store::{Store, StoreError};
use skyport_patterns::Pattern;

/// Topics by ARN.
pub const TOPICS: &str = "topics";
/// Subscriptions by ARN.
pub const SUBSCRIPTIONS: &str = "subscriptions";

/// A topic.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopicRec {
    /// The ARN.
    pub arn: String,
    /// The name.
    pub name: String,
    /// The owning account.
    pub account: String,
    /// The region.
    pub region: String,
    /// A FIFO topic (`.fifo`, `FifoTopic` true).
    pub fifo: bool,
    /// The attributes set by the user (defaults are added when read).
    pub attributes: BTreeMap<String, String>,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Subscriptions deleted so far (`SubscriptionsDeleted`).
    #[serde(default)]
    pub deleted_subscriptions: u64,
}

/// A subscription.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubRec {
    /// The ARN.
    pub arn: String,
    /// The topic.
    pub topic_arn: String,
    /// The subscriber's account.
    pub owner: String,
    /// `sqs`, `lambda`, `http`, `https`, `email`, `email-json`, `sms`, `application`, `firehose`.
    pub protocol: String,
    /// The endpoint.
    pub endpoint: String,
    /// The attributes set (`RawMessageDelivery`, `FilterPolicy`, `FilterPolicyScope`,
    /// `RedrivePolicy`, `DeliveryPolicy`, `SubscriptionRoleArn`).
    pub attributes: BTreeMap<String, String>,
    /// Confirmed (HTTP(S) and email subscriptions start unconfirmed).
    pub confirmed: bool,
    /// The confirmation token.
    pub token: String,
}

impl SubRec {
    /// True when `RawMessageDelivery` is `true`.
    pub fn raw(&self) -> bool {
        self.attributes
            .get("RawMessageDelivery")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The filter policy scope: true for `MessageBody`.
    pub fn body_scope(&self) -> bool {
        self.attributes.get("FilterPolicyScope").map(String::as_str) == Some("MessageBody")
    }

    /// The dead-letter queue of `RedrivePolicy`.
    pub fn dead_letter_arn(&self) -> Option<String> {
        let policy = self.attributes.get("RedrivePolicy")?;
        let value: serde_json::Value = serde_json::from_str(policy).ok()?;
        value
            .get("deadLetterTargetArn")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    }
}

/// A subscription with its compiled filter policy, as Publish uses it.
#[derive(Debug, Clone)]
pub struct LiveSub {
    /// The record.
    pub rec: SubRec,
    /// The filter policy, compiled.
    pub filter: Option<Arc<Pattern>>,
}

#[derive(Debug, Default)]
struct Inner {
    topics: BTreeMap<String, TopicRec>,
    subs: BTreeMap<String, LiveSub>,
}

/// Topics and subscriptions.
#[derive(Debug, Clone)]
pub struct SnsState {
    store: Store,
    inner: Arc<RwLock<Inner>>,
}

/// Compiles a stored filter policy (already validated when it was set).
pub fn compile_filter(rec: &SubRec) -> Option<Arc<Pattern>> {
    let text = rec.attributes.get("FilterPolicy")?;
    match Pattern::parse(text) {
        Ok(p) => Some(Arc::new(p)),
        Err(e) => {
            tracing::warn!(subscription = %rec.arn, "stored filter policy does not compile: {e}");
            None
        }
    }
}

/// The topics and subscriptions in `store`.
fn load(store: &Store) -> Result<Inner, StoreError> {
    let mut inner = Inner::default();
    store.read(|r| {
        r.visit(TOPICS, |_, v| {
            if let Ok(t) = serde_json::from_slice::<TopicRec>(v) {
                inner.topics.insert(t.arn.clone(), t);
            }
            Ok(())
        })?;
        r.visit(SUBSCRIPTIONS, |_, v| {
            if let Ok(s) = serde_json::from_slice::<SubRec>(v) {
                let filter = compile_filter(&s);
                inner.subs.insert(s.arn.clone(), LiveSub { rec: s, filter });
            }
            Ok(())
        })
    })?;
    Ok(inner)
}

impl SnsState {
    /// The state kept in `store`, loaded from it.
    pub fn open(store: Store) -> Result<SnsState, StoreError> {
        let inner = load(&store)?;
        Ok(SnsState {
            store,
            inner: Arc::new(RwLock::new(inner)),
        })
    }

    /// Reads the topics and subscriptions from the store again (after a reset or an import replaced
    /// it).
    pub fn reload(&self) -> Result<(), StoreError> {
        let fresh = load(&self.store)?;
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn read<T>(&self, f: impl FnOnce(&Inner) -> T) -> T {
        let guard = self.inner.read().unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }

    fn write<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// A topic.
    pub fn topic(&self, arn: &str) -> Option<TopicRec> {
        self.read(|i| i.topics.get(arn).cloned())
    }

    /// The topics of an account and region, in ARN order, after `after`.
    pub fn topics(
        &self,
        account: &str,
        region: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<String> {
        self.read(|i| {
            i.topics
                .values()
                .filter(|t| t.account == account && t.region == region)
                .filter(|t| after.is_none_or(|a| t.arn.as_str() > a))
                .take(limit)
                .map(|t| t.arn.clone())
                .collect()
        })
    }

    /// Stores a topic (created or changed).
    pub fn put_topic(&self, topic: TopicRec) -> Result<(), StoreError> {
        self.store
            .write(|w| w.put_json(TOPICS, &topic.arn, &topic))?;
        self.write(|i| i.topics.insert(topic.arn.clone(), topic));
        Ok(())
    }

    /// Deletes a topic and its subscriptions; false when there was no such topic.
    pub fn delete_topic(&self, arn: &str) -> Result<bool, StoreError> {
        let subs: Vec<String> = self.subscription_arns_of(arn);
        let existed = self.store.write(|w| {
            for s in &subs {
                w.delete(SUBSCRIPTIONS, s)?;
            }
            w.delete(TOPICS, arn)
        })?;
        self.write(|i| {
            i.topics.remove(arn);
            for s in &subs {
                i.subs.remove(s);
            }
        });
        Ok(existed)
    }

    fn subscription_arns_of(&self, topic_arn: &str) -> Vec<String> {
        let prefix = format!("{topic_arn}:");
        self.read(|i| {
            i.subs
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(k, _)| k.clone())
                .collect()
        })
    }

    /// A subscription.
    pub fn subscription(&self, arn: &str) -> Option<SubRec> {
        self.read(|i| i.subs.get(arn).map(|s| s.rec.clone()))
    }

    /// The subscriptions of a topic (all of them when `topic_arn` is `None`, of `account`/`region`),
    /// in ARN order, after `after`.
    pub fn subscriptions(
        &self,
        account: &str,
        region: &str,
        topic_arn: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<SubRec> {
        self.read(|i| {
            let prefix = topic_arn.map(|t| format!("{t}:"));
            i.subs
                .values()
                .filter(|s| match &prefix {
                    Some(p) => s.rec.arn.starts_with(p),
                    None => {
                        let topic = i.topics.get(&s.rec.topic_arn);
                        topic.is_some_and(|t| t.account == account && t.region == region)
                    }
                })
                .filter(|s| after.is_none_or(|a| s.rec.arn.as_str() > a))
                .take(limit)
                .map(|s| s.rec.clone())
                .collect()
        })
    }

    /// The live subscriptions of a topic.
    pub fn live_subscriptions(&self, topic_arn: &str) -> Vec<LiveSub> {
        let prefix = format!("{topic_arn}:");
        self.read(|i| {
            i.subs
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(_, v)| v.clone())
                .collect()
        })
    }

    /// The existing subscription of `topic_arn` to `protocol`/`endpoint`.
    pub fn find_subscription(
        &self,
        topic_arn: &str,
        protocol: &str,
        endpoint: &str,
    ) -> Option<SubRec> {
        self.live_subscriptions(topic_arn)
            .into_iter()
            .map(|s| s.rec)
            .find(|s| s.protocol == protocol && s.endpoint == endpoint)
    }

    /// Stores a subscription (created or changed).
    pub fn put_subscription(&self, sub: SubRec) -> Result<(), StoreError> {
        self.store
            .write(|w| w.put_json(SUBSCRIPTIONS, &sub.arn, &sub))?;
        let filter = compile_filter(&sub);
        self.write(|i| i.subs.insert(sub.arn.clone(), LiveSub { rec: sub, filter }));
        Ok(())
    }

    /// Deletes a subscription, counting it in its topic's `SubscriptionsDeleted`; false when there was
    /// none.
    pub fn delete_subscription(&self, arn: &str) -> Result<bool, StoreError> {
        let Some(sub) = self.subscription(arn) else {
            return Ok(false);
        };
        let topic = self.topic(&sub.topic_arn).map(|mut t| {
            t.deleted_subscriptions += 1;
            t
        });
        self.store.write(|w| {
            w.delete(SUBSCRIPTIONS, arn)?;
            if let Some(t) = &topic {
                w.put_json(TOPICS, &t.arn, t)?;
            }
            Ok(())
        })?;
        self.write(|i| {
            i.subs.remove(arn);
            if let Some(t) = topic {
                i.topics.insert(t.arn.clone(), t);
            }
        });
        Ok(true)
    }

    /// (confirmed, pending) subscriptions of a topic.
    pub fn subscription_counts(&self, topic_arn: &str) -> (usize, usize) {
        let subs = self.live_subscriptions(topic_arn);
        let confirmed = subs.iter().filter(|s| s.rec.confirmed).count();
        (confirmed, subs.len() - confirmed)
    }
}

//! Time to Live: UpdateTimeToLive, DescribeTimeToLive, and the sweeper that deletes expired items.
//!
//! An item expires when its TTL attribute is a Number of epoch seconds in the past. As in AWS, items
//! whose TTL lies more than five years in the past are left alone (such values are rather
//! milliseconds or mistakes), and so are items whose TTL attribute is not a Number. The sweeper runs
//! every `SKYPORT_DYNAMODB_TTL_SWEEP_MS` (default one minute); AWS deletes expired items within a few
//! days, so any delay is faithful, and reads see expired items until they are swept, as on AWS.
//! After each sweep, with persistence, the stream records trimmed since the last one (and streams
//! closed more than 24 hours ago) are deleted from the store, one commit per stream.

use std::sync::{Arc, Weak};

use skyport_core::RequestContext;

use crate::api::{DynamoDb, Inner};
use crate::attr::{Av, PKey};
use crate::error::{DdbError, table_not_found_named, validation};
use crate::number::Decimal;
use crate::packed;
use crate::shapes;
use crate::state::{self, table_op};
use crate::streams::log::Origin;

/// Five years of seconds.
const FIVE_YEARS: i64 = 5 * 365 * 86_400;

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// True when `v` (a TTL attribute's value) is expired at `now`.
pub fn expired(v: &Av, now: i64) -> bool {
    let Av::N(n) = v else {
        return false;
    };
    let Ok(d) = Decimal::parse(n) else {
        return false;
    };
    let now_d = Decimal::parse(&now.to_string()).unwrap_or_else(|_| Decimal::zero());
    let oldest =
        Decimal::parse(&(now - FIVE_YEARS).to_string()).unwrap_or_else(|_| Decimal::zero());
    d < now_d && d >= oldest
}

impl DynamoDb {
    /// `UpdateTimeToLive`.
    pub async fn update_ttl_op(
        &self,
        ctx: &RequestContext,
        input: shapes::UpdateTimeToLiveInput,
    ) -> Result<shapes::UpdateTimeToLiveOutput, DdbError> {
        let table = self
            .registry()
            .get(&ctx.account, &ctx.region, &input.table_name)
            .ok_or_else(|| table_not_found_named(&input.table_name))?;
        let spec = input.time_to_live_specification;
        let pending = {
            let mut t = state::write(&table);
            match (&t.meta.ttl, spec.enabled) {
                (Some(_), true) => {
                    return Err(validation("TimeToLive is already enabled"));
                }
                (None, false) => {
                    return Err(validation("TimeToLive is already disabled"));
                }
                (Some(current), false) if *current != spec.attribute_name => {
                    return Err(validation(format!(
                        "TimeToLive is active on a different AttributeName: current AttributeName is {current}"
                    )));
                }
                _ => {}
            }
            t.meta.ttl = spec.enabled.then(|| spec.attribute_name.clone());
            if self.registry().durable() {
                self.registry()
                    .commit(vec![table_op(&ctx.account, &ctx.region, &t.meta)])
            } else {
                None
            }
        };
        self.wait(pending).await?;
        Ok(shapes::UpdateTimeToLiveOutput {
            time_to_live_specification: Some(spec),
        })
    }

    /// `DescribeTimeToLive`.
    pub async fn describe_ttl_op(
        &self,
        ctx: &RequestContext,
        input: shapes::DescribeTimeToLiveInput,
    ) -> Result<shapes::DescribeTimeToLiveOutput, DdbError> {
        let table = self
            .registry()
            .get(&ctx.account, &ctx.region, &input.table_name)
            .ok_or_else(|| table_not_found_named(&input.table_name))?;
        let t = state::read(&table);
        Ok(shapes::DescribeTimeToLiveOutput {
            time_to_live_description: Some(match &t.meta.ttl {
                Some(attr) => shapes::TimeToLiveDescription {
                    time_to_live_status: Some("ENABLED".to_owned()),
                    attribute_name: Some(attr.clone()),
                },
                None => shapes::TimeToLiveDescription {
                    time_to_live_status: Some("DISABLED".to_owned()),
                    attribute_name: None,
                },
            }),
        })
    }

    /// Deletes every expired item now; returns how many.
    pub async fn sweep_expired(&self) -> usize {
        let now = now_secs();
        let mut deleted = 0;
        for table in self.registry().all() {
            let expired_keys: Vec<PKey> = {
                let t = state::read(&table);
                let Some(attr) = t.meta.ttl.clone() else {
                    continue;
                };
                t.items
                    .iter()
                    .filter(|row| row.0.get(&attr).is_some_and(|v| expired(&v, now)))
                    .filter_map(|row| t.pkey_of(row.0.key()))
                    .collect()
            };
            if expired_keys.is_empty() {
                continue;
            }
            let pending = {
                let mut t = state::write(&table);
                let Some(attr) = t.meta.ttl.clone() else {
                    continue;
                };
                if t.deleted {
                    continue;
                }
                let mut ops = Vec::new();
                for key in expired_keys {
                    let still = t
                        .get_packed(&packed::pkey_bytes(&key))
                        .is_some_and(|item| item.get(&attr).is_some_and(|v| expired(&v, now)));
                    if !still || t.in_flight.contains_key(&key) {
                        continue;
                    }
                    let durable = self.registry().durable();
                    t.apply(key, None, Origin::Ttl, durable.then_some(&mut ops));
                    deleted += 1;
                }
                if ops.is_empty() {
                    None
                } else {
                    self.registry().commit(ops)
                }
            };
            if let Err(e) = self.wait(pending).await {
                tracing::warn!("DynamoDB TTL sweep: {e}");
            }
        }
        if deleted > 0 {
            tracing::debug!(deleted, "DynamoDB TTL sweep deleted expired items");
        }
        deleted
    }
}

/// Starts the sweeper; it ends when the service is dropped.
pub fn start_sweeper(db: &DynamoDb) {
    let weak: Weak<Inner> = Arc::downgrade(&db.inner);
    let every = db.inner.options.ttl_sweep;
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let Some(inner) = weak.upgrade() else {
                break;
            };
            let db = DynamoDb { inner };
            db.sweep_expired().await;
            // Stream records trimmed meanwhile leave the store in one commit per stream.
            for pending in db.registry().housekeep_streams() {
                if let Err(e) = crate::persist::wait(pending).await {
                    tracing::warn!("DynamoDB stream housekeeping: {}", e.detail);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_rules() {
        let now = 1_700_000_000;
        assert!(expired(&Av::N("1699999999".into()), now));
        assert!(!expired(&Av::N("1700000001".into()), now));
        assert!(!expired(&Av::S("1".into()), now));
        assert!(!expired(&Av::N("1".into()), now), "older than five years");
        assert!(expired(&Av::N("1699999999.5".into()), now));
    }
}

//! EventBridge state in the store: event buses and rules (with their targets).
//!
//! Tables (keys are ordered strings; `|` cannot appear in bus or rule names):
//!
//! - `buses`: `<account>|<region>|<bus name>` → [`BusRecord`] (JSON). Listing an account and
//!   region's prefix gives its buses by name, as `ListEventBuses` answers. The `default` bus is
//!   written the first time an account and region is touched.
//! - `rules`: `<account>|<region>|<bus name>|<rule name>` → [`RuleRecord`] (JSON), its targets inside
//!   in the model's own JSON form of `Target`. A bus's rules are one prefix scan, which is what
//!   `PutEvents` routing and `ListRules` read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use skyport_core::store::{Store, StoreError};

/// The buses table.
pub const BUSES: &str = "buses";
/// The rules table.
pub const RULES: &str = "rules";
/// The name of every account's default bus.
pub const DEFAULT_BUS: &str = "default";

/// An event bus.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BusRecord {
    /// The name.
    pub name: String,
    /// Milliseconds since the epoch.
    pub created: i64,
    /// Milliseconds since the epoch.
    pub modified: i64,
    /// `Description`.
    #[serde(default)]
    pub description: Option<String>,
    /// `KmsKeyIdentifier`.
    #[serde(default)]
    pub kms_key: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// A rule on a bus.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RuleRecord {
    /// The name.
    pub name: String,
    /// The bus's name.
    pub bus: String,
    /// `EventPattern`, as given.
    #[serde(default)]
    pub event_pattern: Option<String>,
    /// `ScheduleExpression`.
    #[serde(default)]
    pub schedule: Option<String>,
    /// `ENABLED`, `DISABLED` or `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
    pub state: String,
    /// `Description`.
    #[serde(default)]
    pub description: Option<String>,
    /// `RoleArn`.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Targets in the model's JSON form of `Target`, in the order they were put.
    #[serde(default)]
    pub targets: Vec<serde_json::Value>,
    /// Milliseconds since the epoch.
    pub created: i64,
}

impl RuleRecord {
    /// True when the rule routes events (any `ENABLED*` state).
    pub fn enabled(&self) -> bool {
        self.state.starts_with("ENABLED")
    }
}

/// A failure of an EventBridge operation on the state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// No such bus.
    #[error("Event bus {0} does not exist.")]
    BusNotFound(String),
    /// No such rule.
    #[error("Rule {rule} does not exist on EventBus {bus}.")]
    RuleNotFound {
        /// The rule.
        rule: String,
        /// Its bus.
        bus: String,
    },
    /// `CreateEventBus` of an existing bus.
    #[error("Event bus {0} already exists.")]
    BusExists(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Milliseconds since the epoch, now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn bus_prefix(account: &str, region: &str) -> String {
    format!("{account}|{region}|")
}

fn bus_key(account: &str, region: &str, bus: &str) -> String {
    format!("{account}|{region}|{bus}")
}

fn rules_prefix(account: &str, region: &str, bus: &str) -> String {
    format!("{account}|{region}|{bus}|")
}

fn rule_key(account: &str, region: &str, bus: &str, rule: &str) -> String {
    format!("{account}|{region}|{bus}|{rule}")
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(StoreError::from)
}

/// A default bus as first written.
fn default_bus(now: i64) -> BusRecord {
    BusRecord {
        name: DEFAULT_BUS.to_owned(),
        created: now,
        modified: now,
        description: None,
        kms_key: None,
        tags: BTreeMap::new(),
    }
}

/// Where a rule lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleRef {
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
    /// The bus's name.
    pub bus: String,
    /// The rule's name.
    pub rule: String,
}

/// EventBridge state over a [`Store`].
#[derive(Debug, Clone)]
pub struct EventStore {
    store: Store,
}

impl EventStore {
    /// State kept in `store`.
    pub fn new(store: Store) -> EventStore {
        EventStore { store }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Writes the `default` bus of `account`/`region` when it is not there yet.
    pub async fn ensure_default(&self, account: &str, region: &str) -> Result<(), StoreError> {
        let key = bus_key(account, region, DEFAULT_BUS);
        if self.store.get(BUSES, &key)?.is_some() {
            return Ok(());
        }
        self.store
            .write_async(move |w| {
                if w.get(BUSES, &key)?.is_none() {
                    w.put_json(BUSES, &key, &default_bus(now_millis()))?;
                }
                Ok(())
            })
            .await
    }

    /// The bus `name`, or `BusNotFound`.
    pub async fn bus(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<BusRecord, StateError> {
        self.ensure_default(account, region).await?;
        self.store
            .get_json::<BusRecord>(BUSES, &bus_key(account, region, name))?
            .ok_or_else(|| StateError::BusNotFound(name.to_owned()))
    }

    /// The buses of `account`/`region` whose names start with `prefix`, by name, after `after`.
    pub async fn buses(
        &self,
        account: &str,
        region: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<BusRecord>, StoreError> {
        self.ensure_default(account, region).await?;
        let base = bus_prefix(account, region);
        let scan = format!("{base}{prefix}");
        let after = after.map(|a| format!("{base}{a}"));
        let rows = self
            .store
            .read(|r| r.scan_prefix(BUSES, &scan, after.as_deref(), limit))?;
        rows.iter().map(|(_, v)| decode(v)).collect()
    }

    /// Creates a bus.
    pub async fn create_bus(
        &self,
        account: &str,
        region: &str,
        bus: BusRecord,
    ) -> Result<BusRecord, StateError> {
        self.ensure_default(account, region).await?;
        let key = bus_key(account, region, &bus.name);
        let name = bus.name.clone();
        let created = self
            .store
            .write_async(move |w| {
                if w.get(BUSES, &key)?.is_some() {
                    return Ok(None);
                }
                w.put_json(BUSES, &key, &bus)?;
                Ok(Some(bus))
            })
            .await?;
        created.ok_or(StateError::BusExists(name))
    }

    /// Changes a bus.
    pub async fn update_bus(
        &self,
        account: &str,
        region: &str,
        name: &str,
        change: impl FnOnce(&mut BusRecord) + Send + 'static,
    ) -> Result<BusRecord, StateError> {
        self.ensure_default(account, region).await?;
        let key = bus_key(account, region, name);
        let updated = self
            .store
            .write_async(move |w| {
                let Some(bytes) = w.get(BUSES, &key)? else {
                    return Ok(None);
                };
                let mut bus: BusRecord = decode(&bytes)?;
                change(&mut bus);
                w.put_json(BUSES, &key, &bus)?;
                Ok(Some(bus))
            })
            .await?;
        updated.ok_or_else(|| StateError::BusNotFound(name.to_owned()))
    }

    /// Deletes a bus and its rules; false when there was no such bus.
    pub async fn delete_bus(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        let key = bus_key(account, region, name);
        let rules: Vec<String> = self
            .store
            .read(|r| {
                r.scan_prefix(
                    RULES,
                    &rules_prefix(account, region, name),
                    None,
                    usize::MAX,
                )
            })?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        self.store
            .write_freeing_async(move |w| {
                for k in &rules {
                    w.delete(RULES, k)?;
                }
                w.delete(BUSES, &key)
            })
            .await
    }

    /// The rule `at`, or `RuleNotFound`.
    pub fn rule(&self, at: &RuleRef) -> Result<RuleRecord, StateError> {
        self.store
            .get_json::<RuleRecord>(RULES, &rule_key(&at.account, &at.region, &at.bus, &at.rule))?
            .ok_or_else(|| StateError::RuleNotFound {
                rule: at.rule.clone(),
                bus: at.bus.clone(),
            })
    }

    /// The rules of a bus whose names start with `prefix`, by name, after `after`.
    pub fn rules(
        &self,
        account: &str,
        region: &str,
        bus: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RuleRecord>, StoreError> {
        let base = rules_prefix(account, region, bus);
        let scan = format!("{base}{prefix}");
        let after = after.map(|a| format!("{base}{a}"));
        let rows = self
            .store
            .read(|r| r.scan_prefix(RULES, &scan, after.as_deref(), limit))?;
        rows.iter().map(|(_, v)| decode(v)).collect()
    }

    /// Every rule with a schedule expression, with where it lives.
    pub fn scheduled_rules(&self) -> Result<Vec<(RuleRef, RuleRecord)>, StoreError> {
        let mut out = Vec::new();
        self.store.read(|r| {
            r.visit(RULES, |key, value| {
                let rule: RuleRecord = decode(value)?;
                if rule.schedule.is_none() {
                    return Ok(());
                }
                let mut parts = key.splitn(4, '|');
                if let (Some(account), Some(region), Some(bus), Some(name)) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                {
                    out.push((
                        RuleRef {
                            account: account.to_owned(),
                            region: region.to_owned(),
                            bus: bus.to_owned(),
                            rule: name.to_owned(),
                        },
                        rule,
                    ));
                }
                Ok(())
            })
        })?;
        Ok(out)
    }

    /// Writes a rule (creating or replacing it).
    pub async fn put_rule(&self, at: &RuleRef, rule: RuleRecord) -> Result<(), StoreError> {
        let key = rule_key(&at.account, &at.region, &at.bus, &at.rule);
        self.store
            .write_async(move |w| w.put_json(RULES, &key, &rule))
            .await
    }

    /// Changes a rule with `change`, which may refuse with its own error; `RuleNotFound` when absent.
    pub async fn update_rule<T, E>(
        &self,
        at: &RuleRef,
        change: impl FnOnce(&mut RuleRecord) -> Result<T, E> + Send + 'static,
    ) -> Result<Result<T, E>, StateError>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let key = rule_key(&at.account, &at.region, &at.bus, &at.rule);
        let updated = self
            .store
            .write_async(move |w| {
                let Some(bytes) = w.get(RULES, &key)? else {
                    return Ok(None);
                };
                let mut rule: RuleRecord = decode(&bytes)?;
                let result = change(&mut rule);
                if result.is_ok() {
                    w.put_json(RULES, &key, &rule)?;
                }
                Ok(Some(result))
            })
            .await?;
        updated.ok_or_else(|| StateError::RuleNotFound {
            rule: at.rule.clone(),
            bus: at.bus.clone(),
        })
    }

    /// Deletes a rule; false when there was none.
    pub async fn delete_rule(&self, at: &RuleRef) -> Result<bool, StoreError> {
        let key = rule_key(&at.account, &at.region, &at.bus, &at.rule);
        self.store
            .write_freeing_async(move |w| w.delete(RULES, &key))
            .await
    }
}

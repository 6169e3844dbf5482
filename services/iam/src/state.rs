//! What IAM stores, and how: one table per kind of entity, keyed `<account>/<lower-case name>` (IAM
//! is global, so there is no region in a key; names are unique without regard to case, as in AWS).
//!
//! Every relation is kept on both sides so that a write transaction (which can only read and write
//! single keys) can check and update it: a role lists the policies attached to it and a policy lists the
//! entities it is attached to; a user lists its groups and access keys, a group its members; a role
//! lists its instance profiles and a profile its role.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use skyport_core::store::{Reader, StoreError, Writer};
use skyport_wire::ApiError;

/// Roles by `<account>/<name>`.
pub const ROLES: &str = "roles";
/// Users by `<account>/<name>`.
pub const USERS: &str = "users";
/// Groups by `<account>/<name>`.
pub const GROUPS: &str = "groups";
/// Customer managed policies by `<account>/<name>`.
pub const POLICIES: &str = "policies";
/// Where AWS managed policies are used in an account, by `<account>/<policy ARN>`.
pub const AWS_POLICY_USAGE: &str = "aws_policy_usage";
/// Access keys by key id (key ids are globally unique; the record names the account).
pub const ACCESS_KEYS: &str = "access_keys";
/// Instance profiles by `<account>/<name>`.
pub const INSTANCE_PROFILES: &str = "instance_profiles";

/// The store key of `name` in `account`.
pub fn key(account: &str, name: &str) -> String {
    format!("{account}/{}", name.to_lowercase())
}

/// The prefix of every key of `account`.
pub fn prefix(account: &str) -> String {
    format!("{account}/")
}

/// The name part of a key made by [`key`].
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// A write transaction's outcome: the store failed (`Err`), or the operation answered (`Ok`), possibly
/// with an error for the client (in which case the transaction wrote nothing).
pub type Tx<T> = Result<Result<T, ApiError>, StoreError>;

/// Reads a JSON record in a read snapshot.
pub fn read<T: DeserializeOwned>(
    r: &Reader,
    table: &str,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match r.get(table, key)? {
        Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        None => Ok(None),
    }
}

/// Reads a JSON record inside a write transaction.
pub fn wread<T: DeserializeOwned>(
    w: &Writer<'_>,
    table: &str,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match w.get(table, key)? {
        Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        None => Ok(None),
    }
}

/// Records with their name keys, in key order.
pub type Listed<T> = Vec<(String, T)>;

/// Every record of `account` in `table`, in key order.
pub fn scan<T: DeserializeOwned>(
    r: &Reader,
    table: &str,
    account: &str,
) -> Result<Listed<T>, StoreError> {
    let prefix = prefix(account);
    r.scan_prefix(table, &prefix, None, usize::MAX)?
        .into_iter()
        .map(|(k, v)| {
            let name = k[prefix.len()..].to_owned();
            Ok((name, serde_json::from_slice(&v)?))
        })
        .collect()
}

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRec {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// The three kinds of identity policies attach to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    /// An IAM user.
    User,
    /// An IAM group.
    Group,
    /// An IAM role.
    Role,
}

impl Kind {
    /// The table of this kind's records.
    pub fn table(self) -> &'static str {
        match self {
            Kind::User => USERS,
            Kind::Group => GROUPS,
            Kind::Role => ROLES,
        }
    }
}

/// One entity a policy is used by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityRef {
    /// Its kind.
    pub kind: Kind,
    /// Its name key (lower case).
    pub key: String,
}

/// Who uses a managed policy: as a permissions policy, and as a permissions boundary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Entities the policy is attached to.
    #[serde(default)]
    pub attached: Vec<EntityRef>,
    /// Entities whose permissions boundary the policy is.
    #[serde(default)]
    pub boundary: Vec<EntityRef>,
}

impl Usage {
    /// True when nothing uses the policy.
    pub fn is_empty(&self) -> bool {
        self.attached.is_empty() && self.boundary.is_empty()
    }

    /// Renames an entity in both lists.
    pub fn rename(&mut self, kind: Kind, from: &str, to: &str) {
        for e in self.attached.iter_mut().chain(self.boundary.iter_mut()) {
            if e.kind == kind && e.key == from {
                to.clone_into(&mut e.key);
            }
        }
    }
}

/// A role.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleRec {
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    /// Seconds since the epoch.
    pub created: i64,
    /// The trust policy as the client sent it.
    pub trust: String,
    #[serde(default)]
    pub description: Option<String>,
    pub max_session: i32,
    #[serde(default)]
    pub boundary: Option<String>,
    #[serde(default)]
    pub tags: Vec<TagRec>,
    /// Attached managed policy ARNs.
    #[serde(default)]
    pub attached: Vec<String>,
    /// Inline policies by name.
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    /// Name keys of the instance profiles holding the role.
    #[serde(default)]
    pub profiles: Vec<String>,
}

/// A user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRec {
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created: i64,
    #[serde(default)]
    pub boundary: Option<String>,
    #[serde(default)]
    pub tags: Vec<TagRec>,
    #[serde(default)]
    pub attached: Vec<String>,
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    /// Name keys of the user's groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Ids of the user's access keys.
    #[serde(default)]
    pub keys: Vec<String>,
}

/// A group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupRec {
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created: i64,
    #[serde(default)]
    pub attached: Vec<String>,
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    /// Name keys of the members.
    #[serde(default)]
    pub members: Vec<String>,
}

/// One version of a managed policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionRec {
    /// `v1`, `v2`, ...
    pub id: String,
    pub document: String,
    pub created: i64,
}

/// A customer managed policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyRec {
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created: i64,
    pub updated: i64,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<TagRec>,
    pub default_version: String,
    pub versions: Vec<VersionRec>,
    /// The number of the next version.
    pub next_version: u32,
    #[serde(default)]
    pub usage: Usage,
}

/// An access key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRec {
    pub account: String,
    /// The owner's name key.
    pub user_key: String,
    pub user_name: String,
    pub user_id: String,
    pub user_arn: String,
    /// `Active` or `Inactive`.
    pub status: String,
    pub secret: String,
    pub created: i64,
}

/// An instance profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileRec {
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created: i64,
    /// Name keys of its roles (at most one).
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub tags: Vec<TagRec>,
}

/// Now, in whole seconds since the epoch (IAM reports whole seconds).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

//! What Lambda stores per function: `$LATEST` and each published version (their configuration in the
//! model's own `FunctionConfiguration` shape, plus the code they run), aliases, tags, the resource
//! policy and reserved concurrency. One record per function in the state store (table `functions`,
//! key `<account>/<region>/<name>`), read and written whole inside one transaction, so concurrent
//! updates never interleave.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use skyport_core::store::{Reader, StoreError, Writer};
use skyport_wire::persist;

use crate::shapes::{AliasConfiguration, FunctionConfiguration};

/// The store table of function records.
pub const FUNCTIONS: &str = "functions";

/// The store key of a function.
pub fn key(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}")
}

/// The key prefix of a region's functions.
pub fn prefix(account: &str, region: &str) -> String {
    format!("{account}/{region}/")
}

/// The code of a version: a zip in the code store, by its SHA-256 (hex), or a hot-reload directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRef {
    /// SHA-256 of the zip, hex (the file name in the code store).
    pub sha256: String,
    /// Size of the zip in bytes.
    pub size: u64,
    /// A host directory mounted as the code instead (`S3Bucket: hot-reload`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot_reload: Option<String>,
    /// The container image of an image function (`ImageUri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_uri: Option<String>,
    /// The image pinned to the digest its `ImageUri` named when the code was set
    /// (`<repository uri>@sha256:<hex>`), for images of Skyport's ECR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_image_uri: Option<String>,
    /// The packages of the function's layers (SHA-256 hex in the code store), in the order they are
    /// extracted into `/opt`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
}

/// One version of a function: its configuration and its code.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    /// The configuration as `GetFunctionConfiguration` returns it.
    pub config: FunctionConfiguration,
    /// The code it runs.
    pub code: CodeRef,
}

/// A function and everything attached to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// `$LATEST`.
    pub latest: Version,
    /// Published versions by number.
    pub versions: BTreeMap<u64, Version>,
    /// The number the next published version gets.
    pub next_version: u64,
    /// Aliases by name.
    pub aliases: BTreeMap<String, AliasConfiguration>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Resource-policy statements (JSON objects), in the order they were added.
    pub statements: Vec<serde_json::Value>,
    /// The policy's revision id.
    pub policy_revision: String,
    /// Reserved concurrency.
    pub reserved_concurrency: Option<i32>,
    /// Function URLs by qualifier (`$LATEST` or an alias).
    pub urls: BTreeMap<String, crate::urls::UrlConfig>,
}

/// The stored form: model shapes in the model's own JSON form, the rest as serde structs.
#[derive(Serialize, Deserialize)]
struct Stored {
    latest: StoredVersion,
    versions: BTreeMap<u64, StoredVersion>,
    next_version: u64,
    aliases: BTreeMap<String, serde_json::Value>,
    tags: BTreeMap<String, String>,
    statements: Vec<serde_json::Value>,
    policy_revision: String,
    reserved_concurrency: Option<i32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    urls: BTreeMap<String, crate::urls::UrlConfig>,
}

#[derive(Serialize, Deserialize)]
struct StoredVersion {
    config: serde_json::Value,
    code: CodeRef,
}

fn convert(e: skyport_wire::ConvertError) -> StoreError {
    StoreError::Codec(serde_json::Error::io(std::io::Error::other(e.0)))
}

impl StoredVersion {
    fn from_version(v: &Version) -> Result<StoredVersion, StoreError> {
        Ok(StoredVersion {
            config: persist::to_json(crate::model(), "FunctionConfiguration", v.config.clone())
                .map_err(convert)?,
            code: v.code.clone(),
        })
    }

    fn into_version(self) -> Result<Version, StoreError> {
        Ok(Version {
            config: persist::from_json(crate::model(), "FunctionConfiguration", &self.config)
                .map_err(convert)?,
            code: self.code,
        })
    }
}

impl Function {
    /// Encodes the record for the store.
    pub fn encode(&self) -> Result<Vec<u8>, StoreError> {
        let stored = Stored {
            latest: StoredVersion::from_version(&self.latest)?,
            versions: self
                .versions
                .iter()
                .map(|(n, v)| Ok((*n, StoredVersion::from_version(v)?)))
                .collect::<Result<_, StoreError>>()?,
            next_version: self.next_version,
            aliases: self
                .aliases
                .iter()
                .map(|(n, a)| {
                    Ok((
                        n.clone(),
                        persist::to_json(crate::model(), "AliasConfiguration", a.clone())
                            .map_err(convert)?,
                    ))
                })
                .collect::<Result<_, StoreError>>()?,
            tags: self.tags.clone(),
            statements: self.statements.clone(),
            policy_revision: self.policy_revision.clone(),
            reserved_concurrency: self.reserved_concurrency,
            urls: self.urls.clone(),
        };
        Ok(serde_json::to_vec(&stored)?)
    }

    /// Decodes a stored record.
    pub fn decode(bytes: &[u8]) -> Result<Function, StoreError> {
        let stored: Stored = serde_json::from_slice(bytes)?;
        Ok(Function {
            latest: stored.latest.into_version()?,
            versions: stored
                .versions
                .into_iter()
                .map(|(n, v)| Ok((n, v.into_version()?)))
                .collect::<Result<_, StoreError>>()?,
            next_version: stored.next_version,
            aliases: stored
                .aliases
                .into_iter()
                .map(|(n, a)| {
                    Ok((
                        n,
                        persist::from_json(crate::model(), "AliasConfiguration", &a)
                            .map_err(convert)?,
                    ))
                })
                .collect::<Result<_, StoreError>>()?,
            tags: stored.tags,
            statements: stored.statements,
            policy_revision: stored.policy_revision,
            reserved_concurrency: stored.reserved_concurrency,
            urls: stored.urls,
        })
    }

    /// Reads the function `key` in a read transaction.
    pub fn read(r: &Reader, key: &str) -> Result<Option<Function>, StoreError> {
        r.get(FUNCTIONS, key)?
            .map(|bytes| Function::decode(&bytes))
            .transpose()
    }

    /// Reads the function `key` in a write transaction.
    pub fn read_in(w: &Writer<'_>, key: &str) -> Result<Option<Function>, StoreError> {
        w.get(FUNCTIONS, key)?
            .map(|bytes| Function::decode(&bytes))
            .transpose()
    }

    /// Writes the function `key`.
    pub fn write(&self, w: &mut Writer<'_>, key: &str) -> Result<(), StoreError> {
        w.put(FUNCTIONS, key, &self.encode()?)
    }

    /// The version a qualifier names: `$LATEST` or none for `$LATEST`, a number, or an alias (its
    /// primary version).
    pub fn version(
        &self,
        qualifier: Option<&str>,
    ) -> Option<(&Version, Option<&AliasConfiguration>)> {
        match qualifier {
            None | Some("$LATEST") => Some((&self.latest, None)),
            Some(q) if q.bytes().all(|b| b.is_ascii_digit()) => {
                self.versions.get(&q.parse().ok()?).map(|v| (v, None))
            }
            Some(alias) => {
                let a = self.aliases.get(alias)?;
                let (v, _) = self.version(Some(a.function_version.as_deref()?))?;
                Some((v, Some(a)))
            }
        }
    }
}

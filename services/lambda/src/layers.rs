//! Lambda layers: what is stored per layer (its versions, each a package in the code store with its
//! compatibility lists and its resource policy), and how layer names and version ARNs are read. One
//! record per layer in the state store (table `layers`, key `<account>/<region>/<name>`); the version
//! counter survives deleting every version, as on AWS.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use skyport_core::store::{Reader, StoreError, Writer};

/// The store table of layer records.
pub const LAYERS: &str = "layers";

/// The most layers a function may use.
pub const MAX_FUNCTION_LAYERS: usize = 5;

/// One published version of a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerVersion {
    /// The version number (from 1).
    pub version: i64,
    /// `Description`.
    pub description: String,
    /// `CreatedDate` (Lambda's `2018-11-14T23:03:52.894+0000` form).
    pub created: String,
    /// `CompatibleRuntimes`.
    pub compatible_runtimes: Vec<String>,
    /// `CompatibleArchitectures`.
    pub compatible_architectures: Vec<String>,
    /// `LicenseInfo`.
    pub license_info: Option<String>,
    /// SHA-256 of the package, hex (its name in the code store).
    pub sha256: String,
    /// SHA-256 of the package, base64 (`CodeSha256`).
    pub sha256_b64: String,
    /// The package's size in bytes.
    pub size: u64,
    /// The version's resource-policy statements, in the order they were added.
    #[serde(default)]
    pub statements: Vec<serde_json::Value>,
    /// The policy's revision id.
    #[serde(default)]
    pub policy_revision: String,
}

/// A layer: its versions and the number the next one gets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// The number the next published version gets.
    pub next_version: i64,
    /// The versions that exist, by number.
    pub versions: BTreeMap<i64, LayerVersion>,
}

impl Layer {
    /// Reads the layer `key` in a read transaction.
    pub fn read(r: &Reader, key: &str) -> Result<Option<Layer>, StoreError> {
        r.get(LAYERS, key)?
            .map(|bytes| serde_json::from_slice(&bytes).map_err(StoreError::from))
            .transpose()
    }

    /// Reads the layer `key` in a write transaction.
    pub fn read_in(w: &Writer<'_>, key: &str) -> Result<Option<Layer>, StoreError> {
        w.get(LAYERS, key)?
            .map(|bytes| serde_json::from_slice(&bytes).map_err(StoreError::from))
            .transpose()
    }

    /// Writes the layer `key`.
    pub fn write(&self, w: &mut Writer<'_>, key: &str) -> Result<(), StoreError> {
        w.put(LAYERS, key, &serde_json::to_vec(self)?)
    }
}

/// A layer named by the API: its account, region and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRef {
    /// The owning account.
    pub account: String,
    /// The region.
    pub region: String,
    /// The layer's name.
    pub name: String,
}

impl LayerRef {
    /// The store key.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.account, self.region, self.name)
    }

    /// `arn:<partition>:lambda:<region>:<account>:layer:<name>`.
    pub fn arn(&self, partition: &str) -> String {
        format!(
            "arn:{partition}:lambda:{}:{}:layer:{}",
            self.region, self.account, self.name
        )
    }

    /// The ARN of version `version`.
    pub fn version_arn(&self, partition: &str, version: i64) -> String {
        format!("{}:{version}", self.arn(partition))
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 140
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reads `LayerName` as the API takes it: a name (the caller's account and region) or a layer ARN.
pub fn parse_name(text: &str, account: &str, region: &str) -> Option<LayerRef> {
    if let Some(rest) = text.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.split(':').collect();
        return match parts.as_slice() {
            [_, "lambda", region, account, "layer", name] if valid_name(name) => Some(LayerRef {
                account: (*account).to_owned(),
                region: (*region).to_owned(),
                name: (*name).to_owned(),
            }),
            _ => None,
        };
    }
    valid_name(text).then(|| LayerRef {
        account: account.to_owned(),
        region: region.to_owned(),
        name: text.to_owned(),
    })
}

/// Reads a layer version ARN (`arn:aws:lambda:<region>:<account>:layer:<name>:<version>`).
pub fn parse_version_arn(arn: &str) -> Option<(LayerRef, i64)> {
    let (layer, version) = arn.rsplit_once(':')?;
    let version: i64 = version.parse().ok().filter(|v| *v > 0)?;
    let layer = parse_name(layer, "", "").filter(|l| !l.account.is_empty())?;
    Some((layer, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_arns() {
        let l = parse_name("my-layer", "123456789012", "us-east-1").unwrap();
        assert_eq!(
            l.version_arn("aws", 3),
            "arn:aws:lambda:us-east-1:123456789012:layer:my-layer:3"
        );
        let from_arn = parse_name(
            "arn:aws:lambda:eu-west-1:000000000000:layer:x_y",
            "123456789012",
            "us-east-1",
        )
        .unwrap();
        assert_eq!(
            (from_arn.account.as_str(), from_arn.region.as_str()),
            ("000000000000", "eu-west-1")
        );
        assert!(parse_name("bad name", "1", "r").is_none());
        assert!(parse_name("arn:aws:lambda:us-east-1:1:function:f", "1", "r").is_none());
        let (l, v) =
            parse_version_arn("arn:aws:lambda:us-east-1:123456789012:layer:my-layer:12").unwrap();
        assert_eq!((l.name.as_str(), v), ("my-layer", 12));
        assert!(
            parse_version_arn("arn:aws:lambda:us-east-1:123456789012:layer:my-layer").is_none()
        );
        assert!(
            parse_version_arn("arn:aws:lambda:us-east-1:123456789012:layer:my-layer:0").is_none()
        );
    }
}

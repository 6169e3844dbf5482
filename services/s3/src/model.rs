//! The metadata records kept in the state store (redb, JSON values):
//! - `buckets`: `<bucket>` → [`BucketRecord`]
//! - `objects`: `<bucket>/<key>` → [`ObjectRecord`] (all versions, newest first); bucket names cannot hold
//!   `/`, so a bucket's keys are one contiguous range in UTF-8 byte order, the order S3 lists in.
//! - `uploads`: `<bucket>/<upload id>` → [`Upload`]
//! - `bodies`: `<blob id>` → raw bytes of a small object body stored inline (see [`crate::blob`])

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checksum::Algorithm;

pub const BUCKETS: &str = "buckets";
pub const OBJECTS: &str = "objects";
pub const UPLOADS: &str = "uploads";

/// A bucket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketRecord {
    pub name: String,
    pub region: String,
    pub account: String,
    pub created_ms: u64,
    /// `Enabled` / `Suspended`, or `None` when never set.
    #[serde(default)]
    pub versioning: Option<String>,
    #[serde(default)]
    pub mfa_delete: Option<String>,
    /// Stored sub-resource documents (`tagging`, `policy`, `cors`, ...), as the client sent them.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Object Lock is enabled (at creation, or later on a versioned bucket); it cannot be turned off.
    #[serde(default)]
    pub object_lock: bool,
    /// The Object Lock default retention applied to new versions without their own.
    #[serde(default)]
    pub default_retention: Option<DefaultRetention>,
    /// The ownership controls' `ObjectOwnership` (`BucketOwnerEnforced` for new buckets, as in AWS);
    /// `None` once deleted (no controls: ACLs work as with `ObjectWriter`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership: Option<String>,
    /// The public access block (`BlockPublicAcls`, `IgnorePublicAcls`, `BlockPublicPolicy`,
    /// `RestrictPublicBuckets`; all on for new buckets, as in AWS); `None` once deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_access_block: Option<[bool; 4]>,
}

impl BucketRecord {
    /// Whether ACLs are disabled (ownership controls with `BucketOwnerEnforced`).
    pub fn acls_disabled(&self) -> bool {
        self.ownership.as_deref() == Some("BucketOwnerEnforced")
    }

    /// `arn:<partition>:s3:::<bucket>`.
    pub fn arn(&self) -> String {
        format!(
            "arn:{}:s3:::{}",
            skyport_core::arn::partition_for_region(&self.region),
            self.name
        )
    }
}

/// An Object Lock default retention rule: a mode and a period in days or years.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DefaultRetention {
    /// `GOVERNANCE` or `COMPLIANCE`.
    pub mode: String,
    #[serde(default)]
    pub days: Option<u32>,
    #[serde(default)]
    pub years: Option<u32>,
}

/// An object version's Object Lock retention.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Retention {
    /// `GOVERNANCE` or `COMPLIANCE`.
    pub mode: String,
    /// Retain-until date, milliseconds since the epoch.
    pub until_ms: u64,
}

/// A contiguous piece of an object's data in one blob file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Segment {
    pub blob: String,
    pub size: u64,
}

/// A stored checksum.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredChecksum {
    pub algorithm: Algorithm,
    pub value: String,
    /// `FULL_OBJECT` or `COMPOSITE`.
    pub kind: String,
}

/// One version of an object (or a delete marker).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Version {
    pub version_id: String,
    #[serde(default)]
    pub delete_marker: bool,
    pub last_modified_ms: u64,
    /// Unquoted.
    pub etag: String,
    pub size: u64,
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// Stored content headers (lowercase name, value): content-type, content-encoding, ...
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// User metadata, names without `x-amz-meta-`, lowercase.
    #[serde(default)]
    pub metadata: Vec<(String, String)>,
    #[serde(default)]
    pub storage_class: Option<String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    #[serde(default)]
    pub checksum: Option<StoredChecksum>,
    /// Part sizes of a multipart object.
    #[serde(default)]
    pub parts: Vec<u64>,
    /// Server-side encryption headers to echo.
    #[serde(default)]
    pub sse: Vec<(String, String)>,
    #[serde(default)]
    pub acl: Option<String>,
    /// Object Lock retention of this version.
    #[serde(default)]
    pub retention: Option<Retention>,
    /// Object Lock legal hold: `None` when never set, else ON (`true`) or OFF.
    #[serde(default)]
    pub legal_hold: Option<bool>,
    /// The multipart upload this version completed (a repeated `CompleteMultipartUpload` answers from
    /// it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// The upload's part numbers of a multipart object, in order (`parts` holds their sizes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_numbers: Vec<u32>,
    /// The parts' checksums (of the object's checksum algorithm) when the upload had one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_checksums: Vec<String>,
    /// When the restored copy of an archived version expires (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_expiry_ms: Option<u64>,
}

impl Version {
    /// An empty version (no data, no headers) with this id, made at `now_ms`.
    pub fn new(version_id: String, now_ms: u64) -> Version {
        Version {
            version_id,
            delete_marker: false,
            last_modified_ms: now_ms,
            etag: String::new(),
            size: 0,
            segments: Vec::new(),
            headers: Vec::new(),
            metadata: Vec::new(),
            storage_class: None,
            tags: Vec::new(),
            checksum: None,
            parts: Vec::new(),
            sse: Vec::new(),
            acl: None,
            retention: None,
            legal_hold: None,
            upload_id: None,
            part_numbers: Vec::new(),
            part_checksums: Vec::new(),
            restore_expiry_ms: None,
        }
    }

    /// A delete marker with this version id, made at `now_ms`.
    pub fn delete_marker(version_id: String, now_ms: u64) -> Version {
        Version {
            delete_marker: true,
            ..Version::new(version_id, now_ms)
        }
    }

    /// `"<etag>"`.
    pub fn quoted_etag(&self) -> String {
        format!("\"{}\"", self.etag)
    }

    /// Blob ids this version owns.
    pub fn blobs(&self) -> impl Iterator<Item = String> + '_ {
        self.segments.iter().map(|s| s.blob.clone())
    }
}

/// An object: its versions, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ObjectRecord {
    pub versions: Vec<Version>,
}

/// One uploaded part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Part {
    pub etag: String,
    pub size: u64,
    pub blob: String,
    pub last_modified_ms: u64,
    #[serde(default)]
    pub checksums: Vec<(Algorithm, String)>,
}

/// An in-progress multipart upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Upload {
    pub key: String,
    pub upload_id: String,
    pub initiated_ms: u64,
    /// The object version template (headers, metadata, tags, storage class, sse).
    pub template: Version,
    pub checksum_algorithm: Option<Algorithm>,
    /// `FULL_OBJECT` or `COMPOSITE` when an algorithm is set.
    pub checksum_type: Option<String>,
    pub parts: BTreeMap<u32, Part>,
}

/// The blob ids of an [`ObjectRecord`], read without the rest of the record (the orphan sweep).
#[derive(Debug, Deserialize)]
pub struct BlobRefs {
    versions: Vec<SegmentRefs>,
}

#[derive(Debug, Deserialize)]
struct SegmentRefs {
    #[serde(default)]
    segments: Vec<BlobRef>,
}

#[derive(Debug, Deserialize)]
struct BlobRef {
    blob: String,
}

impl BlobRefs {
    /// Every blob id.
    pub fn into_ids(self) -> impl Iterator<Item = String> {
        self.versions
            .into_iter()
            .flat_map(|v| v.segments.into_iter().map(|s| s.blob))
    }
}

/// The part blob ids of an [`Upload`].
#[derive(Debug, Deserialize)]
pub struct UploadBlobRefs {
    parts: BTreeMap<u32, BlobRef>,
}

impl UploadBlobRefs {
    /// Every blob id.
    pub fn into_ids(self) -> impl Iterator<Item = String> {
        self.parts.into_values().map(|p| p.blob)
    }
}

/// `<bucket>/<key>`.
pub fn object_key(bucket: &str, key: &str) -> String {
    format!("{bucket}/{key}")
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A timestamp as S3 writes it in XML documents: ISO 8601 with whole seconds, `...:31.000Z`.
pub fn iso(ms: u64) -> String {
    skyport_core::timefmt::iso8601_millis(time_of(ms / 1000 * 1000))
}

/// A `SystemTime` from stored milliseconds.
pub fn time_of(ms: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)
}

/// A new version id (sortable by creation: time prefix, random suffix).
pub fn new_version_id() -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
    skyport_core::ids::random_string(alphabet, 32)
}

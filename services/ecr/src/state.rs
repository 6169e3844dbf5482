//! ECR's metadata in the service's store. Keys start with the repository's key
//! `<account>/<region>/<name>` (names have no `@` or `:`), so a registry's repositories and a
//! repository's images are key prefixes:
//!
//! - `repos`: repository key → [`RepoRec`] (JSON);
//! - `images`: `<repo key>@<digest>` → [`ImageRec`] (JSON);
//! - `manifests`: `<repo key>@<digest>` → the manifest's bytes, exactly as pushed;
//! - `tags`: `<repo key>:<tag>` → the digest the tag names;
//! - `links`: `<repo key>@<blob digest>` → how many of the repository's images use the blob (JSON
//!   number; 0 for a blob uploaded and not yet in a manifest): a blob is visible in a repository only
//!   through its link;
//! - `blobs`: blob digest → [`BlobRec`] (size, number of links); the bytes are a file of
//!   [`crate::blobs`], removed when the last link goes;
//! - `keys`: the key that signs authorization tokens.
//!
//! Every change commits before the operation answers (durably with `PERSISTENCE=1`).

use serde::{Deserialize, Serialize};
use skyport_core::store::{Store, StoreError, Writer};

/// Repositories.
pub const REPOS: &str = "repos";
/// Images.
pub const IMAGES: &str = "images";
/// Manifest bytes.
pub const MANIFESTS: &str = "manifests";
/// Tags.
pub const TAGS: &str = "tags";
/// Blob links of repositories.
pub const LINKS: &str = "links";
/// Blobs.
pub const BLOBS: &str = "blobs";
/// Keys.
pub const KEYS: &str = "keys";

/// A repository.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RepoRec {
    /// The account (registry id).
    pub account: String,
    /// The region.
    pub region: String,
    /// The name.
    pub name: String,
    /// Creation time, epoch milliseconds.
    pub created_ms: i64,
    /// `MUTABLE` or `IMMUTABLE` (or the `_WITH_EXCLUSION` forms).
    pub tag_mutability: String,
    /// Exclusion filters of the tag mutability (`filterType`, `filter`).
    #[serde(default)]
    pub mutability_exclusions: Vec<(String, String)>,
    /// `scanOnPush`.
    pub scan_on_push: bool,
    /// `encryptionType` and `kmsKey`.
    pub encryption: (String, Option<String>),
    /// Tags, in the order given.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// The repository policy.
    #[serde(default)]
    pub policy: Option<String>,
    /// The lifecycle policy.
    #[serde(default)]
    pub lifecycle: Option<String>,
    /// When the lifecycle policy last ran, epoch milliseconds.
    #[serde(default)]
    pub lifecycle_evaluated_ms: Option<i64>,
}

impl RepoRec {
    /// The store key.
    pub fn key(&self) -> String {
        repo_key(&self.account, &self.region, &self.name)
    }

    /// The ARN.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:ecr:{}:{}:repository/{}",
            self.region, self.account, self.name
        )
    }

    /// True when `tag` cannot move to another image.
    pub fn tag_immutable(&self, tag: &str) -> bool {
        let excluded = || {
            self.mutability_exclusions
                .iter()
                .any(|(_, filter)| wildcard_match(filter, tag))
        };
        match self.tag_mutability.as_str() {
            "IMMUTABLE" => true,
            "IMMUTABLE_WITH_EXCLUSION" => !excluded(),
            "MUTABLE_WITH_EXCLUSION" => excluded(),
            _ => false,
        }
    }
}

/// An image (a manifest) in a repository.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageRec {
    /// `sha256:<hex>` of the manifest's bytes.
    pub digest: String,
    /// The manifest's media type.
    pub media_type: String,
    /// The artifact media type (the config's media type).
    #[serde(default)]
    pub artifact_media_type: Option<String>,
    /// Tags, oldest first.
    pub tags: Vec<String>,
    /// Push time, epoch milliseconds.
    pub pushed_ms: i64,
    /// Last pull time, epoch milliseconds.
    #[serde(default)]
    pub pulled_ms: Option<i64>,
    /// The size: the layers' (or, for an index, the manifests') sizes added up.
    pub size: u64,
    /// Blobs the manifest uses (config and layers).
    pub blobs: Vec<String>,
    /// Manifests an index lists.
    #[serde(default)]
    pub children: Vec<String>,
    /// The manifest's `subject` (referrers API).
    #[serde(default)]
    pub subject: Option<String>,
}

/// A blob.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct BlobRec {
    /// Its size in bytes.
    pub size: u64,
    /// The repositories linking it.
    pub links: u64,
}

/// The key of a repository.
pub fn repo_key(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}")
}

/// The key of an image, manifest or link.
pub fn item_key(repo: &str, digest: &str) -> String {
    format!("{repo}@{digest}")
}

/// The key of a tag.
pub fn tag_key(repo: &str, tag: &str) -> String {
    format!("{repo}:{tag}")
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `*` matches any run of characters; everything else matches itself.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.len() >= part.len() && rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

fn get_json<T: serde::de::DeserializeOwned>(
    w: &Writer<'_>,
    table: &str,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match w.get(table, key)? {
        Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        None => Ok(None),
    }
}

/// Reads a repository.
pub fn repo(store: &Store, key: &str) -> Result<Option<RepoRec>, StoreError> {
    store.get_json(REPOS, key)
}

/// Every repository of a registry (account and region), by name.
pub fn repos(store: &Store, account: &str, region: &str) -> Result<Vec<RepoRec>, StoreError> {
    let prefix = format!("{account}/{region}/");
    let rows = store.read(|r| r.scan_prefix(REPOS, &prefix, None, usize::MAX))?;
    Ok(rows
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
        .collect())
}

/// Every image of a repository.
pub fn images(store: &Store, repo: &str) -> Result<Vec<ImageRec>, StoreError> {
    let prefix = format!("{repo}@");
    let rows = store.read(|r| r.scan_prefix(IMAGES, &prefix, None, usize::MAX))?;
    Ok(rows
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
        .collect())
}

/// One image.
pub fn image(store: &Store, repo: &str, digest: &str) -> Result<Option<ImageRec>, StoreError> {
    store.get_json(IMAGES, &item_key(repo, digest))
}

/// The digest a tag names.
pub fn tagged(store: &Store, repo: &str, tag: &str) -> Result<Option<String>, StoreError> {
    Ok(store
        .get(TAGS, &tag_key(repo, tag))?
        .and_then(|v| String::from_utf8(v).ok()))
}

/// A blob linked to a repository: its size.
pub fn linked_blob(store: &Store, repo: &str, digest: &str) -> Result<Option<u64>, StoreError> {
    store.read(|r| {
        if r.get(LINKS, &item_key(repo, digest))?.is_none() {
            return Ok(None);
        }
        Ok(r.get(BLOBS, digest)?
            .and_then(|v| serde_json::from_slice::<BlobRec>(&v).ok())
            .map(|b| b.size))
    })
}

/// Links `digest` (already stored as `size` bytes, or known) to `repo`; true when the link is new.
pub fn link(w: &mut Writer<'_>, repo: &str, digest: &str, size: u64) -> Result<bool, StoreError> {
    let key = item_key(repo, digest);
    if w.get(LINKS, &key)?.is_some() {
        return Ok(false);
    }
    w.put(LINKS, &key, b"0")?;
    let mut rec = get_json::<BlobRec>(w, BLOBS, digest)?.unwrap_or(BlobRec { size, links: 0 });
    rec.links += 1;
    w.put_json(BLOBS, digest, &rec)?;
    Ok(true)
}

/// Removes the link of `digest` to `repo`; returns the blob's digest when no repository links it any
/// more (its file can go).
fn unlink(w: &mut Writer<'_>, repo: &str, digest: &str) -> Result<Option<String>, StoreError> {
    if !w.delete(LINKS, &item_key(repo, digest))? {
        return Ok(None);
    }
    let Some(mut rec) = get_json::<BlobRec>(w, BLOBS, digest)? else {
        return Ok(None);
    };
    rec.links = rec.links.saturating_sub(1);
    if rec.links == 0 {
        w.delete(BLOBS, digest)?;
        return Ok(Some(digest.to_owned()));
    }
    w.put_json(BLOBS, digest, &rec)?;
    Ok(None)
}

/// Adds `delta` to the count of images of `repo` using `digest`; at zero after a decrement the link
/// goes (and the blob when it was the last). Returns blobs to remove.
fn count_use(
    w: &mut Writer<'_>,
    repo: &str,
    digest: &str,
    up: bool,
) -> Result<Option<String>, StoreError> {
    let key = item_key(repo, digest);
    let count: u64 = get_json(w, LINKS, &key)?.unwrap_or(0);
    if up {
        w.put_json(LINKS, &key, &(count + 1))?;
        return Ok(None);
    }
    if count <= 1 {
        return unlink(w, repo, digest);
    }
    w.put_json(LINKS, &key, &(count - 1))?;
    Ok(None)
}

/// Why an image cannot be stored.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// The repository does not exist (any more).
    #[error("repository not found")]
    NoRepository,
    /// An immutable tag names another image.
    #[error("tag {0} is immutable")]
    TagImmutable(String),
    /// The same manifest and tag exist already (PutImage's `ImageAlreadyExistsException`).
    #[error("image exists")]
    Exists,
    /// A blob the manifest uses is not in the repository.
    #[error("blob {0} unknown")]
    BlobUnknown(String),
    /// A manifest the index lists is not in the repository.
    #[error("manifest {0} unknown")]
    ManifestUnknown(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stores an image (manifest bytes and record) and points `tag` at it, in one transaction.
pub fn put_image(
    w: &mut Writer<'_>,
    repo: &str,
    mut rec: ImageRec,
    bytes: &[u8],
    tag: Option<&str>,
    refuse_same: bool,
) -> Result<ImageRec, PutError> {
    let repo_rec: RepoRec = get_json(w, REPOS, repo)?.ok_or(PutError::NoRepository)?;
    let key = item_key(repo, &rec.digest);
    let existing: Option<ImageRec> = get_json(w, IMAGES, &key)?;
    if let Some(tag) = tag {
        let current = w
            .get(TAGS, &tag_key(repo, tag))?
            .and_then(|v| String::from_utf8(v).ok());
        match current.as_deref() {
            Some(d) if d == rec.digest && refuse_same => return Err(PutError::Exists),
            Some(d) if d == rec.digest => {}
            Some(_) if repo_rec.tag_immutable(tag) => {
                return Err(PutError::TagImmutable(tag.to_owned()));
            }
            Some(old) => {
                let old_key = item_key(repo, old);
                if let Some(mut old_rec) = get_json::<ImageRec>(w, IMAGES, &old_key)? {
                    old_rec.tags.retain(|t| t != tag);
                    w.put_json(IMAGES, &old_key, &old_rec)?;
                }
            }
            None => {}
        }
    } else if refuse_same && existing.is_some() {
        return Err(PutError::Exists);
    }
    match existing {
        Some(old) => {
            rec.tags = old.tags;
            rec.pushed_ms = old.pushed_ms;
            rec.pulled_ms = old.pulled_ms;
        }
        None => {
            for blob in &rec.blobs {
                if w.get(LINKS, &item_key(repo, blob))?.is_none() {
                    return Err(PutError::BlobUnknown(blob.clone()));
                }
            }
            for child in &rec.children {
                if w.get(IMAGES, &item_key(repo, child))?.is_none() {
                    return Err(PutError::ManifestUnknown(child.clone()));
                }
            }
            let mut seen = std::collections::BTreeSet::new();
            for blob in &rec.blobs {
                if seen.insert(blob.as_str()) {
                    count_use(w, repo, blob, true)?;
                }
            }
            w.put(MANIFESTS, &key, bytes)?;
        }
    }
    if let Some(tag) = tag {
        if !rec.tags.iter().any(|t| t == tag) {
            rec.tags.push(tag.to_owned());
        }
        w.put(TAGS, &tag_key(repo, tag), rec.digest.as_bytes())?;
    }
    w.put_json(IMAGES, &key, &rec)?;
    Ok(rec)
}

/// Removes a tag (and the image with it when it was the image's only name and `image_too`); or, with
/// no tag, the image and all its tags. Returns the image as it was, and blobs no repository links
/// any more.
pub fn delete_image(
    w: &mut Writer<'_>,
    repo: &str,
    digest: &str,
    tag: Option<&str>,
) -> Result<Option<(ImageRec, Vec<String>)>, StoreError> {
    let key = item_key(repo, digest);
    let Some(mut rec) = get_json::<ImageRec>(w, IMAGES, &key)? else {
        return Ok(None);
    };
    let before = rec.clone();
    if let Some(tag) = tag {
        w.delete(TAGS, &tag_key(repo, tag))?;
        rec.tags.retain(|t| t != tag);
        if !rec.tags.is_empty() {
            w.put_json(IMAGES, &key, &rec)?;
            return Ok(Some((before, Vec::new())));
        }
    }
    for t in &rec.tags {
        w.delete(TAGS, &tag_key(repo, t))?;
    }
    w.delete(IMAGES, &key)?;
    w.delete(MANIFESTS, &key)?;
    let mut freed = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for blob in &rec.blobs {
        if seen.insert(blob.as_str())
            && let Some(gone) = count_use(w, repo, blob, false)?
        {
            freed.push(gone);
        }
    }
    Ok(Some((before, freed)))
}

/// The keys of everything in a repository: images (and manifests), tags, links.
pub type Contents = (Vec<String>, Vec<String>, Vec<String>);

/// Lists what [`delete_repo`] removes (read before the write transaction).
pub fn contents(store: &Store, repo: &str) -> Result<Contents, StoreError> {
    let prefix_at = format!("{repo}@");
    let prefix_tag = format!("{repo}:");
    let keys = |rows: Vec<(String, Vec<u8>)>| rows.into_iter().map(|(k, _)| k).collect();
    store.read(|r| {
        Ok((
            keys(r.scan_prefix(IMAGES, &prefix_at, None, usize::MAX)?),
            keys(r.scan_prefix(TAGS, &prefix_tag, None, usize::MAX)?),
            keys(r.scan_prefix(LINKS, &prefix_at, None, usize::MAX)?),
        ))
    })
}

/// Removes a repository with everything in it; returns blobs no repository links any more.
pub fn delete_repo(
    w: &mut Writer<'_>,
    repo: &str,
    contents: &Contents,
) -> Result<Vec<String>, StoreError> {
    let prefix_at = format!("{repo}@");
    let (images, tags, links) = contents;
    for k in images {
        w.delete(IMAGES, k)?;
        w.delete(MANIFESTS, k)?;
    }
    for k in tags {
        w.delete(TAGS, k)?;
    }
    let mut freed = Vec::new();
    for k in links {
        if let Some(digest) = k.strip_prefix(&prefix_at)
            && let Some(gone) = unlink(w, repo, digest)?
        {
            freed.push(gone);
        }
    }
    w.delete(REPOS, repo)?;
    Ok(freed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("prod*", "prod-1"));
        assert!(wildcard_match("*-rc", "1.0-rc"));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
        assert!(wildcard_match("latest", "latest"));
        assert!(!wildcard_match("latest", "latest2"));
    }
}

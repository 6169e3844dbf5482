//! Listings: `ListObjects` (v1), `ListObjectsV2` and `ListObjectVersions`, with prefix, delimiter
//! (common prefixes), markers / start-after / continuation tokens, `encoding-type=url` and max-keys. Keys
//! are scanned from the store in UTF-8 byte order; a common prefix is skipped over in one seek.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::{Response, StatusCode};
use skyport_core::Body;
use skyport_core::xml::XmlWriter;

use crate::error::{S3Error, S3Result};
use crate::model::{self, ObjectRecord};
use crate::wire::{self, NS, S3Request};
use crate::{S3, canonical_id};

/// One listed entry.
enum Entry {
    Key(String, ObjectRecord),
    Prefix(String),
}

const BATCH: usize = 1000;

impl S3 {
    /// Walks keys after `start` (exclusive) under `prefix`, folding by `delimiter`, until `max` entries;
    /// returns the entries and whether more remain. `include` decides whether a record is listed.
    fn walk(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        start: Option<&str>,
        max: usize,
        include: &dyn Fn(&ObjectRecord) -> bool,
    ) -> S3Result<(Vec<Entry>, bool)> {
        let scan_prefix = model::object_key(bucket, prefix);
        let mut cursor: Option<String> = start.map(|s| model::object_key(bucket, s));
        let mut out = Vec::new();
        let cut = bucket.len() + 1;
        loop {
            let batch = self
                .store
                .read(|r| r.scan_prefix(model::OBJECTS, &scan_prefix, cursor.as_deref(), BATCH))?;
            if batch.is_empty() {
                return Ok((out, false));
            }
            for (full, raw) in batch {
                cursor = Some(full.clone());
                let key = &full[cut..];
                if let Some(d) = delimiter.filter(|d| !d.is_empty())
                    && let Some(pos) = key[prefix.len()..].find(d)
                {
                    let cp = key[..prefix.len() + pos + d.len()].to_owned();
                    if start.is_some_and(|st| cp.as_str() <= st) {
                        // The marker is this common prefix (or inside it): already listed.
                        cursor = Some(format!("{}\u{10FFFF}", model::object_key(bucket, &cp)));
                        break;
                    }
                    let rec: ObjectRecord = serde_json::from_slice(&raw)
                        .map_err(|e| S3Error::Internal(e.to_string()))?;
                    if !include(&rec) {
                        continue;
                    }
                    if out.len() == max {
                        return Ok((out, true));
                    }
                    // Skip every key under this common prefix.
                    cursor = Some(format!("{}\u{10FFFF}", model::object_key(bucket, &cp)));
                    out.push(Entry::Prefix(cp));
                    break;
                }
                let rec: ObjectRecord =
                    serde_json::from_slice(&raw).map_err(|e| S3Error::Internal(e.to_string()))?;
                if !include(&rec) {
                    continue;
                }
                if out.len() == max {
                    return Ok((out, true));
                }
                out.push(Entry::Key(key.to_owned(), rec));
            }
        }
    }

    pub(crate) fn list_objects(
        &self,
        req: &S3Request,
        bucket: &str,
        v2: bool,
    ) -> S3Result<Response<Body>> {
        let owner = canonical_id(&self.bucket(bucket)?.account);
        let prefix = req.q("prefix").unwrap_or("");
        let delimiter = req.q("delimiter").filter(|d| !d.is_empty());
        let url = encoding_type(req)?;
        let max = max_keys(req, "max-keys")?;
        let enc = |s: &str| {
            if url {
                wire::url_encode(s)
            } else {
                s.to_owned()
            }
        };
        let token = req.q("continuation-token");
        let start_after = req.q("start-after");
        let marker = req.q("marker");
        let start: Option<String> = if v2 {
            match token {
                Some(t) => Some(
                    B64.decode(t)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .ok_or_else(|| {
                            S3Error::argument_named(
                                "The continuation token provided is incorrect",
                                "continuation-token",
                            )
                        })?,
                ),
                None => start_after.map(str::to_owned),
            }
        } else {
            marker.map(str::to_owned)
        };
        let start = start.filter(|s| s.as_str() >= prefix);
        let (entries, truncated) = if max == 0 {
            (Vec::new(), false)
        } else {
            self.walk(bucket, prefix, delimiter, start.as_deref(), max, &|r| {
                r.versions.first().is_some_and(|v| !v.delete_marker)
            })?
        };
        let last = entries.last().map(|e| match e {
            Entry::Key(k, _) => k.clone(),
            Entry::Prefix(p) => p.clone(),
        });
        let fetch_owner = !v2 || req.q("fetch-owner") == Some("true");
        let restore_status = wants_restore_status(req);
        let mut w = XmlWriter::with_declaration();
        w.start_ns("ListBucketResult", NS);
        // ListObjects (v1) leaves the top-level Prefix as sent, even with encoding-type=url.
        w.leaf("Name", bucket)
            .leaf("Prefix", &if v2 { enc(prefix) } else { prefix.to_owned() });
        if v2 {
            if let Some(t) = token {
                w.leaf("ContinuationToken", t);
            }
            if let Some(s) = start_after {
                w.leaf("StartAfter", &enc(s));
            }
            w.leaf("KeyCount", &entries.len().to_string());
        } else {
            w.leaf("Marker", &enc(marker.unwrap_or("")));
        }
        w.leaf("MaxKeys", &max.to_string());
        if let Some(d) = delimiter {
            w.leaf("Delimiter", &enc(d));
        }
        if url {
            w.leaf("EncodingType", "url");
        }
        w.leaf("IsTruncated", if truncated { "true" } else { "false" });
        if truncated && let Some(l) = &last {
            if v2 {
                w.leaf("NextContinuationToken", &B64.encode(l));
            } else if delimiter.is_some() {
                w.leaf("NextMarker", &enc(l));
            }
        }
        for e in &entries {
            if let Entry::Key(k, rec) = e {
                let Some(v) = rec.versions.first() else {
                    continue;
                };
                w.start("Contents")
                    .leaf("Key", &enc(k))
                    .leaf("LastModified", &model::iso(v.last_modified_ms))
                    .leaf("ETag", &v.quoted_etag());
                if let Some(c) = &v.checksum {
                    w.leaf("ChecksumAlgorithm", c.algorithm.name())
                        .leaf("ChecksumType", &c.kind);
                }
                w.leaf("Size", &v.size.to_string());
                if fetch_owner {
                    w.start("Owner").leaf("ID", &owner).end("Owner");
                }
                w.leaf(
                    "StorageClass",
                    v.storage_class.as_deref().unwrap_or("STANDARD"),
                );
                if restore_status {
                    write_restore_status(&mut w, v);
                }
                w.end("Contents");
            }
        }
        for e in &entries {
            if let Entry::Prefix(p) = e {
                w.start("CommonPrefixes")
                    .leaf("Prefix", &enc(p))
                    .end("CommonPrefixes");
            }
        }
        w.end("ListBucketResult");
        Ok(wire::xml(StatusCode::OK, w.finish()))
    }

    pub(crate) fn list_versions(&self, req: &S3Request, bucket: &str) -> S3Result<Response<Body>> {
        let owner = canonical_id(&self.bucket(bucket)?.account);
        let restore_status = wants_restore_status(req);
        let prefix = req.q("prefix").unwrap_or("");
        let delimiter = req.q("delimiter").filter(|d| !d.is_empty());
        let url = encoding_type(req)?;
        let enc = |s: &str| {
            if url {
                wire::url_encode(s)
            } else {
                s.to_owned()
            }
        };
        let max = max_keys(req, "max-keys")?;
        let key_marker = req.q("key-marker").filter(|k| !k.is_empty());
        let vid_marker = req.q("version-id-marker").filter(|k| !k.is_empty());
        if vid_marker.is_some() && key_marker.is_none() {
            return Err(S3Error::argument(
                "A version-id marker cannot be specified without a key marker.",
                "version-id-marker",
                vid_marker.unwrap_or(""),
            ));
        }
        // Resume inside the marker key when a version marker is given.
        let mut pending: Vec<(String, model::Version, bool)> = Vec::new();
        if let (Some(k), Some(vm)) = (key_marker, vid_marker)
            && let Some(rec) = self.object(bucket, k)?
            && let Some(pos) = rec.versions.iter().position(|v| v.version_id == vm)
        {
            for v in rec.versions.into_iter().skip(pos + 1) {
                pending.push((k.to_owned(), v, false));
            }
        }
        let (entries, mut truncated) = if max == 0 {
            (Vec::new(), false)
        } else {
            self.walk(bucket, prefix, delimiter, key_marker, max, &|_| true)?
        };
        let mut rows: Vec<(String, model::Version, bool)> = pending;
        let mut prefixes = Vec::new();
        for e in entries {
            match e {
                Entry::Key(k, rec) => {
                    for (i, v) in rec.versions.into_iter().enumerate() {
                        rows.push((k.clone(), v, i == 0));
                    }
                }
                Entry::Prefix(p) => prefixes.push(p),
            }
        }
        let mut next: Option<(String, String)> = None;
        if rows.len() + prefixes.len() > max {
            let keep = max.saturating_sub(prefixes.len()).max(1);
            rows.truncate(keep);
            truncated = true;
        }
        if truncated && let Some((k, v, _)) = rows.last() {
            next = Some((k.clone(), v.version_id.clone()));
        }
        let mut w = XmlWriter::with_declaration();
        w.start_ns("ListVersionsResult", NS)
            .leaf("Name", bucket)
            .leaf("Prefix", &enc(prefix))
            .leaf("KeyMarker", &enc(key_marker.unwrap_or("")))
            .leaf("VersionIdMarker", vid_marker.unwrap_or(""));
        if let Some((k, v)) = &next {
            w.leaf("NextKeyMarker", &enc(k))
                .leaf("NextVersionIdMarker", v);
        }
        w.leaf("MaxKeys", &max.to_string());
        if let Some(d) = delimiter {
            w.leaf("Delimiter", &enc(d));
        }
        if url {
            w.leaf("EncodingType", "url");
        }
        w.leaf("IsTruncated", if truncated { "true" } else { "false" });
        for (k, v, latest) in &rows {
            let lm = model::iso(v.last_modified_ms);
            if v.delete_marker {
                w.start("DeleteMarker")
                    .leaf("Key", &enc(k))
                    .leaf("VersionId", &v.version_id)
                    .leaf("IsLatest", if *latest { "true" } else { "false" })
                    .leaf("LastModified", &lm)
                    .start("Owner")
                    .leaf("ID", &owner)
                    .end("Owner")
                    .end("DeleteMarker");
            } else {
                w.start("Version")
                    .leaf("Key", &enc(k))
                    .leaf("VersionId", &v.version_id)
                    .leaf("IsLatest", if *latest { "true" } else { "false" })
                    .leaf("LastModified", &lm)
                    .leaf("ETag", &v.quoted_etag());
                if let Some(c) = &v.checksum {
                    w.leaf("ChecksumAlgorithm", c.algorithm.name())
                        .leaf("ChecksumType", &c.kind);
                }
                w.leaf("Size", &v.size.to_string())
                    .leaf(
                        "StorageClass",
                        v.storage_class.as_deref().unwrap_or("STANDARD"),
                    )
                    .start("Owner")
                    .leaf("ID", &owner)
                    .end("Owner");
                if restore_status {
                    write_restore_status(&mut w, v);
                }
                w.end("Version");
            }
        }
        for p in &prefixes {
            w.start("CommonPrefixes")
                .leaf("Prefix", &enc(p))
                .end("CommonPrefixes");
        }
        w.end("ListVersionsResult");
        Ok(wire::xml(StatusCode::OK, w.finish()))
    }
}

/// Whether the listing asks for `RestoreStatus` (`x-amz-optional-object-attributes`).
fn wants_restore_status(req: &S3Request) -> bool {
    req.h("x-amz-optional-object-attributes")
        .is_some_and(|a| a.split(',').any(|x| x.trim() == "RestoreStatus"))
}

/// An entry's `RestoreStatus`, when its version has a restored copy.
fn write_restore_status(w: &mut XmlWriter, v: &model::Version) {
    if let Some((ongoing, expiry)) = crate::restore::status(v) {
        w.start("RestoreStatus")
            .leaf(
                "IsRestoreInProgress",
                if ongoing { "true" } else { "false" },
            )
            .leaf("RestoreExpiryDate", &expiry)
            .end("RestoreStatus");
    }
}

/// `encoding-type`: `url` or nothing.
pub(crate) fn encoding_type(req: &S3Request) -> S3Result<bool> {
    match req.q("encoding-type") {
        None => Ok(false),
        Some("url") => Ok(true),
        Some(other) => Err(S3Error::argument(
            "Invalid Encoding Method specified in Request",
            "encoding-type",
            other,
        )),
    }
}

/// `max-keys` (default and cap 1000), or `max-uploads` / `max-parts` / `max-buckets`.
pub(crate) fn max_keys(req: &S3Request, name: &str) -> S3Result<usize> {
    match req.q(name) {
        None => Ok(1000),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= 0 => Ok((n as usize).min(1000)),
            Ok(_) if name == "max-keys" => Err(S3Error::argument(
                "Argument maxKeys must be an integer between 0 and 2147483647",
                "maxKeys",
                v,
            )),
            Ok(_) => Err(S3Error::argument(
                format!("Argument {name} must be an integer between 0 and 2147483647"),
                name,
                v,
            )),
            Err(_) => Err(S3Error::argument(
                "Provided max-keys not an integer or within integer range",
                name,
                v,
            )),
        },
    }
}

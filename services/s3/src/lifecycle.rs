//! Lifecycle execution: the stored `PutBucketLifecycleConfiguration` rules are read by a background
//! thread every check interval and applied like S3 does: `Expiration` (`Days` / `Date`, current versions:
//! removed in an unversioned bucket, hidden by a delete marker in a versioned one), `ExpiredObjectDeleteMarker`
//! (a delete marker with no other versions left is removed), `NoncurrentVersionExpiration`
//! (`NoncurrentDays`, `NewerNoncurrentVersions`) and `AbortIncompleteMultipartUpload`
//! (`DaysAfterInitiation`). Filters: the legacy rule `Prefix`, `Filter` with `Prefix`, `Tag`,
//! `ObjectSizeGreaterThan` / `ObjectSizeLessThan`, or `And` of them. Versions Object Lock protects are
//! left alone. [`expiration_header`] gives the `x-amz-expiration` header GET/HEAD/PUT return.
//!
//! Like S3, a `Days` period ends at the day boundary after creation time + N days (midnight UTC with real
//! days). The length of a day is configurable ([`LifecycleOptions::day`]) so tests can expire objects in
//! seconds; boundaries are then multiples of that length since the epoch.

use std::sync::Arc;
use std::time::Duration;

use skyport_core::store::{Store, StoreError};
use skyport_core::timefmt;

use crate::blob::BlobStore;
use crate::model::{self, BucketRecord, ObjectRecord, Upload, Version};
use crate::wire::{self, XmlNode};

/// How lifecycle rules are executed.
#[derive(Debug, Clone, Copy)]
pub struct LifecycleOptions {
    /// The length of a lifecycle "day" (86,400 s in AWS).
    pub day: Duration,
    /// How often the rules are evaluated.
    pub interval: Duration,
}

impl Default for LifecycleOptions {
    fn default() -> LifecycleOptions {
        LifecycleOptions {
            day: Duration::from_secs(86_400),
            interval: Duration::from_secs(60),
        }
    }
}

impl LifecycleOptions {
    fn day_ms(&self) -> u64 {
        (self.day.as_millis() as u64).max(1)
    }
}

/// Which objects a rule applies to.
#[derive(Debug, Default, Clone, PartialEq)]
struct Filter {
    prefix: String,
    tags: Vec<(String, String)>,
    size_gt: Option<u64>,
    size_lt: Option<u64>,
}

impl Filter {
    fn matches(&self, key: &str, v: &Version) -> bool {
        key.starts_with(&self.prefix)
            && self.tags.iter().all(|t| v.tags.contains(t))
            && self.size_gt.is_none_or(|n| v.size > n)
            && self.size_lt.is_none_or(|n| v.size < n)
    }

    /// Filters that look at tags or sizes never match a delete marker or an upload.
    fn prefix_only(&self) -> bool {
        self.tags.is_empty() && self.size_gt.is_none() && self.size_lt.is_none()
    }
}

/// One enabled rule.
#[derive(Debug, Default, Clone, PartialEq)]
struct Rule {
    id: String,
    filter: Filter,
    expire_days: Option<u64>,
    expire_date_ms: Option<u64>,
    expired_delete_marker: bool,
    noncurrent_days: Option<u64>,
    newer_noncurrent: Option<usize>,
    abort_days: Option<u64>,
}

fn number(node: &XmlNode, name: &str) -> Option<u64> {
    node.text_of(name).and_then(|t| t.trim().parse().ok())
}

fn parse_filter(rule: &XmlNode) -> Filter {
    let mut f = Filter::default();
    let tag = |t: &XmlNode| {
        (
            t.text_of("Key").unwrap_or("").to_owned(),
            t.text_of("Value").unwrap_or("").to_owned(),
        )
    };
    let fill = |node: &XmlNode, f: &mut Filter| {
        if let Some(p) = node.text_of("Prefix") {
            f.prefix = p.to_owned();
        }
        f.tags.extend(node.all("Tag").map(tag));
        if let Some(n) = number(node, "ObjectSizeGreaterThan") {
            f.size_gt = Some(n);
        }
        if let Some(n) = number(node, "ObjectSizeLessThan") {
            f.size_lt = Some(n);
        }
    };
    match rule.child("Filter") {
        Some(filter) => {
            fill(filter, &mut f);
            if let Some(and) = filter.child("And") {
                fill(and, &mut f);
            }
        }
        None => fill(rule, &mut f),
    }
    f
}

/// The enabled rules of a stored lifecycle configuration (unknown parts ignored).
fn parse_rules(doc: &str) -> Vec<Rule> {
    let Ok(root) = wire::parse_xml(doc.as_bytes()) else {
        return Vec::new();
    };
    root.all("Rule")
        .filter(|r| r.text_of("Status") == Some("Enabled"))
        .map(|r| {
            let mut rule = Rule {
                id: r.text_of("ID").unwrap_or("").to_owned(),
                filter: parse_filter(r),
                ..Rule::default()
            };
            if let Some(e) = r.child("Expiration") {
                rule.expire_days = number(e, "Days");
                rule.expire_date_ms = e
                    .text_of("Date")
                    .and_then(|d| timefmt::parse_rfc3339(d.trim()))
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_millis() as u64);
                rule.expired_delete_marker = e
                    .text_of("ExpiredObjectDeleteMarker")
                    .is_some_and(|t| t.trim() == "true");
            }
            if let Some(n) = r.child("NoncurrentVersionExpiration") {
                rule.noncurrent_days = number(n, "NoncurrentDays");
                rule.newer_noncurrent = number(n, "NewerNoncurrentVersions").map(|n| n as usize);
            }
            if let Some(a) = r.child("AbortIncompleteMultipartUpload") {
                rule.abort_days = number(a, "DaysAfterInitiation");
            }
            rule
        })
        .collect()
}

/// The end of a `days` period starting at `from_ms`: the next day boundary after `from + days`.
fn period_end(from_ms: u64, days: u64, day_ms: u64) -> u64 {
    let t = from_ms.saturating_add(days.saturating_mul(day_ms));
    (t / day_ms + 1).saturating_mul(day_ms)
}

/// When `rule` expires current version `v` of `key`, if it does.
fn current_expiry(rule: &Rule, key: &str, v: &Version, day_ms: u64) -> Option<u64> {
    if v.delete_marker || !rule.filter.matches(key, v) {
        return None;
    }
    match (rule.expire_days, rule.expire_date_ms) {
        (Some(days), _) => Some(period_end(v.last_modified_ms, days, day_ms)),
        (None, Some(date)) => Some(date),
        (None, None) => None,
    }
}

/// The `x-amz-expiration` value for the current version `v` of `key` in `bucket`, when a rule expires it:
/// `expiry-date="<HTTP date>", rule-id="<URL-encoded id>"`, the earliest rule winning.
pub(crate) fn expiration_header(
    bucket: &BucketRecord,
    key: &str,
    v: &Version,
    day: Duration,
) -> Option<String> {
    let doc = bucket.config.get("lifecycle")?;
    let day_ms = (day.as_millis() as u64).max(1);
    parse_rules(doc)
        .iter()
        .filter_map(|r| current_expiry(r, key, v, day_ms).map(|at| (at, r)))
        .min_by_key(|(at, _)| *at)
        .map(|(at, r)| {
            format!(
                "expiry-date=\"{}\", rule-id=\"{}\"",
                timefmt::http_date(model::time_of(at)),
                wire::url_encode(&r.id)
            )
        })
}

/// Applies the rules to one object record at `now`; returns the blob ids of removed versions.
fn apply(
    rec: &mut ObjectRecord,
    key: &str,
    rules: &[Rule],
    versioning: Option<&str>,
    now: u64,
    day_ms: u64,
) -> Vec<String> {
    let mut removed = Vec::new();
    // Noncurrent versions: each became noncurrent when the next newer version was written; `rank`
    // counts the noncurrent versions newer than it.
    let keep: Vec<bool> = std::iter::once(true)
        .chain(rec.versions.windows(2).enumerate().map(|(rank, pair)| {
            let (newer, v) = (&pair[0], &pair[1]);
            let expired = rules.iter().any(|r| {
                let Some(days) = r.noncurrent_days else {
                    return false;
                };
                let applies = if v.delete_marker {
                    r.filter.prefix_only() && key.starts_with(&r.filter.prefix)
                } else {
                    r.filter.matches(key, v)
                };
                applies
                    && now >= period_end(newer.last_modified_ms, days, day_ms)
                    && r.newer_noncurrent.is_none_or(|n| rank >= n)
            });
            !(expired && crate::lock::guard_delete(v, false).is_ok())
        }))
        .collect();
    let mut flags = keep.into_iter();
    rec.versions.retain(|v| {
        let k = flags.next().unwrap_or(true);
        if !k {
            removed.extend(v.blobs());
        }
        k
    });
    // An expired object delete marker: the only version left is a delete marker.
    if rec.versions.len() == 1
        && rec.versions[0].delete_marker
        && rules.iter().any(|r| {
            r.expired_delete_marker && r.filter.prefix_only() && key.starts_with(&r.filter.prefix)
        })
    {
        rec.versions.clear();
        return removed;
    }
    // The current version.
    let Some(current) = rec.versions.first().filter(|v| !v.delete_marker) else {
        return removed;
    };
    let due = rules
        .iter()
        .filter_map(|r| current_expiry(r, key, current, day_ms))
        .any(|at| now >= at);
    if !due {
        return removed;
    }
    match versioning {
        None => {
            if crate::lock::guard_delete(current, false).is_ok() {
                for v in rec.versions.drain(..) {
                    removed.extend(v.blobs());
                }
            }
        }
        Some(state) => {
            let id = if state == "Enabled" {
                model::new_version_id()
            } else {
                rec.versions.retain(|v| {
                    let null =
                        v.version_id == "null" && crate::lock::guard_delete(v, false).is_ok();
                    if null {
                        removed.extend(v.blobs());
                    }
                    !null
                });
                "null".to_owned()
            };
            rec.versions.insert(0, Version::delete_marker(id, now));
        }
    }
    removed
}

/// What a rule run can change in a record: the number of versions and the current one.
fn shape(rec: &ObjectRecord) -> (usize, Option<(String, bool)>) {
    (
        rec.versions.len(),
        rec.versions
            .first()
            .map(|v| (v.version_id.clone(), v.delete_marker)),
    )
}

/// Runs the rules of every bucket that has a lifecycle configuration, once.
pub(crate) fn run_once(store: &Store, blobs: &BlobStore, options: &LifecycleOptions) {
    let day_ms = options.day_ms();
    let buckets = store.read(|r| {
        let mut out = Vec::new();
        r.visit(model::BUCKETS, |_, raw| {
            let b: BucketRecord = serde_json::from_slice(raw)?;
            if b.config.contains_key("lifecycle") {
                out.push(b);
            }
            Ok(())
        })?;
        Ok(out)
    });
    let buckets = match buckets {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("s3 lifecycle: cannot read buckets: {e}");
            return;
        }
    };
    for b in buckets {
        let rules = parse_rules(b.config.get("lifecycle").map_or("", String::as_str));
        if rules.is_empty() {
            continue;
        }
        if let Err(e) = run_bucket(store, blobs, &b, &rules, day_ms) {
            tracing::warn!(bucket = %b.name, "s3 lifecycle: {e}");
        }
    }
}

/// Objects and uploads are read in pages; each changed object is rewritten in its own transaction,
/// re-evaluated on the record current at that time.
const PAGE: usize = 500;

fn run_bucket(
    store: &Store,
    blobs: &BlobStore,
    b: &BucketRecord,
    rules: &[Rule],
    day_ms: u64,
) -> Result<(), StoreError> {
    let prefix = format!("{}/", b.name);
    let mut after: Option<String> = None;
    let (mut expired, mut aborted) = (0usize, 0usize);
    loop {
        let page =
            store.read(|r| r.scan_prefix(model::OBJECTS, &prefix, after.as_deref(), PAGE))?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = Some(last.clone());
        for (okey, raw) in &page {
            let key = &okey[prefix.len()..];
            let mut probe: ObjectRecord = serde_json::from_slice(raw)?;
            let before = shape(&probe);
            let now = model::now_ms();
            apply(&mut probe, key, rules, b.versioning.as_deref(), now, day_ms);
            if shape(&probe) == before {
                continue;
            }
            let removed = store.write(|w| {
                let Some(raw) = w.get(model::OBJECTS, okey)? else {
                    return Ok(Vec::new());
                };
                let mut rec: ObjectRecord = serde_json::from_slice(&raw)?;
                let removed = apply(
                    &mut rec,
                    key,
                    rules,
                    b.versioning.as_deref(),
                    model::now_ms(),
                    day_ms,
                );
                if rec.versions.is_empty() {
                    w.delete(model::OBJECTS, okey)?;
                } else {
                    w.put_json(model::OBJECTS, okey, &rec)?;
                }
                blobs.unstage_inline(w, removed)
            })?;
            expired += 1;
            blobs.remove(removed);
        }
    }
    let abort: Vec<&Rule> = rules.iter().filter(|r| r.abort_days.is_some()).collect();
    if !abort.is_empty() {
        let mut after: Option<String> = None;
        loop {
            let page =
                store.read(|r| r.scan_prefix(model::UPLOADS, &prefix, after.as_deref(), PAGE))?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = Some(last.clone());
            let now = model::now_ms();
            for (ukey, raw) in &page {
                let up: Upload = serde_json::from_slice(raw)?;
                let due = abort.iter().any(|r| {
                    r.filter.prefix_only()
                        && up.key.starts_with(&r.filter.prefix)
                        && r.abort_days
                            .is_some_and(|d| now >= period_end(up.initiated_ms, d, day_ms))
                });
                if !due {
                    continue;
                }
                if store.write(|w| w.delete(model::UPLOADS, ukey))? {
                    aborted += 1;
                    blobs.remove(up.parts.into_values().map(|p| p.blob));
                }
            }
        }
    }
    if expired + aborted > 0 {
        tracing::info!(
            bucket = %b.name,
            objects = expired,
            uploads = aborted,
            "s3 lifecycle: expired {expired} objects' versions, aborted {aborted} uploads"
        );
    }
    Ok(())
}

/// Starts the background thread that runs the rules every `options.interval`.
pub(crate) fn spawn(store: Store, blobs: BlobStore, options: LifecycleOptions) {
    let options = Arc::new(options);
    let spawned = std::thread::Builder::new()
        .name("s3-lifecycle".into())
        .spawn(move || {
            loop {
                std::thread::sleep(options.interval);
                run_once(&store, &blobs, &options);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("s3 lifecycle: cannot start the background thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(id: &str, modified: u64, marker: bool) -> Version {
        let mut v = Version::delete_marker(id.to_owned(), modified);
        v.delete_marker = marker;
        v.size = 5;
        v
    }

    #[test]
    fn rules_and_periods() {
        let doc = r#"<LifecycleConfiguration><Rule><ID>a b</ID><Status>Enabled</Status><Filter><And><Prefix>tmp/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter><Expiration><Days>2</Days></Expiration></Rule><Rule><Status>Disabled</Status><Prefix></Prefix><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>"#;
        let rules = parse_rules(doc);
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].filter.prefix, "tmp/");
        assert_eq!(rules[0].filter.tags, vec![("k".into(), "v".into())]);
        // Real days end at the next midnight UTC.
        let day = 86_400_000;
        assert_eq!(period_end(day * 10 + 5, 3, day), day * 14);
        let mut v = version("null", 1000, false);
        assert_eq!(current_expiry(&rules[0], "tmp/x", &v, 1000), None);
        v.tags = vec![("k".into(), "v".into())];
        assert_eq!(current_expiry(&rules[0], "tmp/x", &v, 1000), Some(4000));
        assert_eq!(current_expiry(&rules[0], "other", &v, 1000), None);
    }

    #[test]
    fn versioned_expiry_adds_a_marker_and_noncurrent_versions_go() {
        let rules = parse_rules(
            "<LifecycleConfiguration><Rule><Status>Enabled</Status><Filter/><Expiration><Days>1</Days></Expiration><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration></Rule></LifecycleConfiguration>",
        );
        let mut rec = ObjectRecord {
            versions: vec![version("b", 1000, false), version("a", 500, false)],
        };
        // Day = 1 s: "a" became noncurrent at 1.0 s, expires at 3 s; "b" expires at 3 s.
        assert!(apply(&mut rec, "k", &rules, Some("Enabled"), 2500, 1000).is_empty());
        assert_eq!(rec.versions.len(), 2);
        apply(&mut rec, "k", &rules, Some("Enabled"), 3000, 1000);
        assert_eq!(rec.versions.len(), 2);
        assert!(rec.versions[0].delete_marker);
        assert_eq!(rec.versions[1].version_id, "b");
    }
}

//! S3 Object Lock: the bucket configuration (`?object-lock`, enabled at creation with
//! `x-amz-bucket-object-lock-enabled` or later on a versioned bucket, with an optional default retention),
//! per-version retention (`?retention`, GOVERNANCE / COMPLIANCE) and legal hold (`?legal-hold`), the
//! `x-amz-object-lock-*` headers on PUT and on GET/HEAD, and the guard that refuses to delete a protected
//! version. Object Lock only protects versions: a delete without a version id still adds a delete marker.

use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, Response, StatusCode};
use skyport_core::xml::XmlWriter;
use skyport_core::{Body, timefmt};

use crate::S3;
use crate::bucket::read_doc;
use crate::error::{S3Error, S3Result};
use crate::model::{self, BucketRecord, DefaultRetention, Retention, Version};
use crate::wire::{self, NS, S3Request, XmlNode};

const DAY_MS: u64 = 86_400_000;
const MODES: [&str; 2] = ["GOVERNANCE", "COMPLIANCE"];

/// The error for lock operations on a bucket without Object Lock.
fn missing_lock() -> S3Error {
    S3Error::request("Bucket is missing Object Lock Configuration")
}

fn past_date() -> S3Error {
    S3Error::argument("The retain until date must be in the future!", "", "")
}

/// Parses an ISO 8601 retain-until date into milliseconds since the epoch.
fn parse_date(text: &str) -> Option<u64> {
    timefmt::parse_rfc3339(text.trim())
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
}

fn format_date(ms: u64) -> String {
    timefmt::iso8601_millis(UNIX_EPOCH + Duration::from_millis(ms))
}

/// Whether `x-amz-bypass-governance-retention: true` was sent.
pub(crate) fn bypass(req: &S3Request) -> bool {
    req.h("x-amz-bypass-governance-retention")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The retention and legal hold a write asks for in `x-amz-object-lock-*` headers (validated).
pub(crate) fn from_headers(req: &S3Request) -> S3Result<(Option<Retention>, Option<bool>)> {
    let mode = req.h("x-amz-object-lock-mode");
    let until = req.h("x-amz-object-lock-retain-until-date");
    let hold = req.h("x-amz-object-lock-legal-hold");
    let retention = match (mode, until) {
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            return Err(S3Error::argument(
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
                "",
                "",
            ));
        }
        (Some(mode), Some(until)) => {
            if !MODES.contains(&mode) {
                return Err(S3Error::argument(
                    "Unknown wormMode directive.",
                    "x-amz-object-lock-mode",
                    mode,
                ));
            }
            let until_ms = parse_date(until).ok_or_else(|| {
                S3Error::argument(
                    "The retain until date must be provided in ISO 8601 format",
                    "x-amz-object-lock-retain-until-date",
                    until,
                )
            })?;
            if until_ms <= model::now_ms() {
                return Err(past_date());
            }
            Some(Retention {
                mode: mode.to_owned(),
                until_ms,
            })
        }
    };
    let hold = match hold {
        None => None,
        Some("ON") => Some(true),
        Some("OFF") => Some(false),
        Some(other) => {
            return Err(S3Error::argument(
                "Legal Hold must be either of 'ON' or 'OFF'",
                "x-amz-object-lock-legal-hold",
                other,
            ));
        }
    };
    Ok((retention, hold))
}

/// Refuses lock settings on a write to a bucket without Object Lock.
pub(crate) fn check_write(bucket: &BucketRecord, version: &Version) -> S3Result<()> {
    if !bucket.object_lock && (version.retention.is_some() || version.legal_hold.is_some()) {
        return Err(missing_lock());
    }
    Ok(())
}

/// Gives a new version without its own retention the bucket's default retention.
pub(crate) fn apply_default(bucket: &BucketRecord, version: &mut Version) {
    if !bucket.object_lock || version.retention.is_some() {
        return;
    }
    if let Some(rule) = &bucket.default_retention {
        let days = u64::from(rule.days.unwrap_or(0)) + u64::from(rule.years.unwrap_or(0)) * 365;
        version.retention = Some(Retention {
            mode: rule.mode.clone(),
            until_ms: model::now_ms() + days * DAY_MS,
        });
    }
}

/// Refuses to remove `v` while a legal hold or an unexpired retention protects it (GOVERNANCE gives way
/// to the bypass header). Delete markers carry no protection.
pub(crate) fn guard_delete(v: &Version, bypass: bool) -> S3Result<()> {
    if v.delete_marker {
        return Ok(());
    }
    if v.legal_hold == Some(true) {
        return Err(S3Error::ObjectLocked);
    }
    if let Some(r) = &v.retention
        && r.until_ms > model::now_ms()
        && (r.mode == "COMPLIANCE" || !bypass)
    {
        return Err(S3Error::ObjectLocked);
    }
    Ok(())
}

/// The `x-amz-object-lock-*` response headers of a version.
pub(crate) fn headers(v: &Version, h: &mut HeaderMap) {
    if let Some(r) = &v.retention {
        wire::set(h, "x-amz-object-lock-mode", &r.mode);
        wire::set(
            h,
            "x-amz-object-lock-retain-until-date",
            &format_date(r.until_ms),
        );
    }
    if let Some(on) = v.legal_hold {
        wire::set(
            h,
            "x-amz-object-lock-legal-hold",
            if on { "ON" } else { "OFF" },
        );
    }
}

/// Parses an `ObjectLockConfiguration` document into its default retention.
fn parse_configuration(doc: &[u8]) -> S3Result<Option<DefaultRetention>> {
    let root = wire::parse_xml(doc)?;
    if root.name != "ObjectLockConfiguration"
        || root.text_of("ObjectLockEnabled") != Some("Enabled")
    {
        return Err(S3Error::MalformedXml);
    }
    let Some(rule) = root.child("Rule") else {
        return Ok(None);
    };
    let dr = rule
        .child("DefaultRetention")
        .ok_or(S3Error::MalformedXml)?;
    let mode = dr.text_of("Mode").ok_or(S3Error::MalformedXml)?;
    if !MODES.contains(&mode) {
        return Err(S3Error::MalformedXml);
    }
    let number = |name: &str| -> S3Result<Option<u32>> {
        match dr.text_of(name) {
            None => Ok(None),
            Some(t) => {
                let n: i64 = t.trim().parse().map_err(|_| S3Error::MalformedXml)?;
                if n <= 0 {
                    return Err(S3Error::argument(
                        "Default retention period must be a positive integer value",
                        "",
                        "",
                    ));
                }
                u32::try_from(n).map(Some).map_err(|_| {
                    S3Error::argument("Default retention period is too large.", "", "")
                })
            }
        }
    };
    let (days, years) = (number("Days")?, number("Years")?);
    if days.is_some() == years.is_some() {
        return Err(S3Error::MalformedXml);
    }
    // S3 caps a default retention at 100 years (36,500 days).
    if days.is_some_and(|d| d > 36_500) || years.is_some_and(|y| y > 100) {
        return Err(S3Error::argument(
            "Default retention period is too large.",
            "",
            "",
        ));
    }
    Ok(Some(DefaultRetention {
        mode: mode.to_owned(),
        days,
        years,
    }))
}

impl S3 {
    /// `PutObjectLockConfiguration`: enables Object Lock (on a bucket with versioning enabled) and sets or
    /// clears the default retention.
    pub(crate) async fn put_object_lock_configuration(
        &self,
        bucket: &str,
        body: Body,
    ) -> S3Result<Response<Body>> {
        self.bucket(bucket)?;
        let doc = read_doc(body).await?;
        let rule = parse_configuration(&doc)?;
        let name = bucket.to_owned();
        self.store
            .write_async(move |w| {
                let Some(raw) = w.get(model::BUCKETS, &name)? else {
                    return Ok(Err(S3Error::NoSuchBucket { bucket: name }));
                };
                let mut b: BucketRecord = serde_json::from_slice(&raw)?;
                if !b.object_lock && b.versioning.as_deref() != Some("Enabled") {
                    return Ok(Err(S3Error::InvalidBucketState {
                        message: "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration".into(),
                    }));
                }
                b.object_lock = true;
                b.default_retention = rule;
                w.put_json(model::BUCKETS, &name, &b)?;
                Ok(Ok(()))
            })
            .await??;
        Ok(wire::empty(StatusCode::OK))
    }

    /// `GetObjectLockConfiguration`.
    pub(crate) fn get_object_lock_configuration(&self, bucket: &str) -> S3Result<Response<Body>> {
        let b = self.bucket(bucket)?;
        if !b.object_lock {
            return Err(S3Error::ObjectLockConfigurationNotFound {
                bucket: bucket.to_owned(),
            });
        }
        let mut w = XmlWriter::with_declaration();
        w.start_ns("ObjectLockConfiguration", NS)
            .leaf("ObjectLockEnabled", "Enabled");
        if let Some(rule) = &b.default_retention {
            w.start("Rule")
                .start("DefaultRetention")
                .leaf("Mode", &rule.mode);
            w.opt_leaf("Days", rule.days.map(|d| d.to_string()).as_deref());
            w.opt_leaf("Years", rule.years.map(|y| y.to_string()).as_deref());
            w.end("DefaultRetention").end("Rule");
        }
        w.end("ObjectLockConfiguration");
        Ok(wire::xml(StatusCode::OK, w.finish()))
    }

    /// `InvalidRequest` unless `bucket` has Object Lock.
    fn require_lock(&self, bucket: &str) -> S3Result<()> {
        if self.bucket(bucket)?.object_lock {
            Ok(())
        } else {
            Err(missing_lock())
        }
    }

    /// The request document of a lock update, on a bucket that must have Object Lock.
    async fn lock_document(&self, bucket: &str, body: Body) -> S3Result<XmlNode> {
        self.require_lock(bucket)?;
        let doc = read_doc(body).await?;
        wire::parse_xml(&doc)
    }

    /// The version a lock read addresses, on a bucket that must have Object Lock.
    fn locked_version(&self, req: &S3Request, bucket: &str, key: &str) -> S3Result<Version> {
        self.require_lock(bucket)?;
        self.read_version(bucket, key, req.q("versionId"))
    }

    /// Changes the lock settings of the version the request addresses (not of a delete marker).
    async fn update_lock(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
        f: impl FnOnce(&mut Version) -> S3Result<()> + Send + 'static,
    ) -> S3Result<Response<Body>> {
        self.update_version(
            bucket,
            key,
            req.q("versionId").map(str::to_owned),
            move |v| {
                if v.delete_marker {
                    return Err(S3Error::MethodNotAllowed {
                        method: "PUT".into(),
                        resource: "DeleteMarker",
                    });
                }
                f(v)
            },
        )
        .await?;
        Ok(wire::empty(StatusCode::OK))
    }

    /// `PutObjectRetention`: sets, extends or (in GOVERNANCE mode with the bypass header) shortens or
    /// removes a version's retention.
    pub(crate) async fn put_object_retention(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
        body: Body,
    ) -> S3Result<Response<Body>> {
        let root = self.lock_document(bucket, body).await?;
        if root.name != "Retention" {
            return Err(S3Error::MalformedXml);
        }
        let wanted = match (root.text_of("Mode"), root.text_of("RetainUntilDate")) {
            (None, None) => None,
            (Some(mode), Some(date)) => {
                if !MODES.contains(&mode) {
                    return Err(S3Error::MalformedXml);
                }
                let until_ms = parse_date(date).ok_or(S3Error::MalformedXml)?;
                if until_ms <= model::now_ms() {
                    return Err(past_date());
                }
                Some(Retention {
                    mode: mode.to_owned(),
                    until_ms,
                })
            }
            _ => return Err(S3Error::MalformedXml),
        };
        let bypass = bypass(req);
        self.update_lock(req, bucket, key, move |v| {
            if let Some(current) = v
                .retention
                .as_ref()
                .filter(|r| r.until_ms > model::now_ms())
            {
                let weaker = match &wanted {
                    None => true,
                    Some(w) => {
                        w.until_ms < current.until_ms
                            || current.mode == "COMPLIANCE" && w.mode != "COMPLIANCE"
                    }
                };
                if weaker && (current.mode == "COMPLIANCE" || !bypass) {
                    return Err(S3Error::ObjectLocked);
                }
            }
            v.retention = wanted;
            Ok(())
        })
        .await
    }

    /// `GetObjectRetention`.
    pub(crate) fn get_object_retention(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
    ) -> S3Result<Response<Body>> {
        let v = self.locked_version(req, bucket, key)?;
        let r = v.retention.ok_or(S3Error::NoSuchObjectLockConfiguration)?;
        let mut w = XmlWriter::with_declaration();
        w.start_ns("Retention", NS)
            .leaf("Mode", &r.mode)
            .leaf("RetainUntilDate", &format_date(r.until_ms))
            .end("Retention");
        Ok(wire::xml(StatusCode::OK, w.finish()))
    }

    /// `PutObjectLegalHold`.
    pub(crate) async fn put_object_legal_hold(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
        body: Body,
    ) -> S3Result<Response<Body>> {
        let root = self.lock_document(bucket, body).await?;
        let on = match (root.name.as_str(), root.text_of("Status")) {
            ("LegalHold", Some("ON")) => true,
            ("LegalHold", Some("OFF")) => false,
            _ => return Err(S3Error::MalformedXml),
        };
        self.update_lock(req, bucket, key, move |v| {
            v.legal_hold = Some(on);
            Ok(())
        })
        .await
    }

    /// `GetObjectLegalHold`.
    pub(crate) fn get_object_legal_hold(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
    ) -> S3Result<Response<Body>> {
        let v = self.locked_version(req, bucket, key)?;
        let on = v.legal_hold.ok_or(S3Error::NoSuchObjectLockConfiguration)?;
        let mut w = XmlWriter::with_declaration();
        w.start_ns("LegalHold", NS)
            .leaf("Status", if on { "ON" } else { "OFF" })
            .end("LegalHold");
        Ok(wire::xml(StatusCode::OK, w.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_documents() {
        let ok = br#"<ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>2</Days></DefaultRetention></Rule></ObjectLockConfiguration>"#;
        assert_eq!(
            parse_configuration(ok).unwrap(),
            Some(DefaultRetention {
                mode: "GOVERNANCE".into(),
                days: Some(2),
                years: None
            })
        );
        let bare = b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>";
        assert_eq!(parse_configuration(bare).unwrap(), None);
        let both = b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>2</Days><Years>1</Years></DefaultRetention></Rule></ObjectLockConfiguration>";
        assert!(matches!(
            parse_configuration(both),
            Err(S3Error::MalformedXml)
        ));
        let zero = b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>0</Days></DefaultRetention></Rule></ObjectLockConfiguration>";
        assert!(matches!(
            parse_configuration(zero),
            Err(S3Error::InvalidArgument { .. })
        ));
        let mode = b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>FOREVER</Mode><Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>";
        assert!(matches!(
            parse_configuration(mode),
            Err(S3Error::MalformedXml)
        ));
    }
}

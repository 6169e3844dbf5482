//! The archived storage classes and `RestoreObject`. An object stored as `GLACIER` or `DEEP_ARCHIVE`
//! keeps its metadata readable (HEAD, listings, attributes) but its data is not: `GetObject` and copies
//! from it answer `403 InvalidObjectState` until a restore makes a temporary copy readable. Skyport
//! restores at once (no retrieval wait to sit through in a test): the first `RestoreObject` answers
//! `202 Accepted`, a later one while the copy is readable `200 OK` with the new expiry, and
//! `x-amz-restore` shows `ongoing-request="false", expiry-date="..."`. The copy expires as AWS computes
//! it: the restore time plus `Days`, rounded up to the next midnight UTC.

use bytes::Bytes;
use http::{Response, StatusCode};
use skyport_core::body::Body;
use skyport_core::timefmt;

use crate::S3;
use crate::error::{S3Error, S3Result};
use crate::model::{self, Version};
use crate::wire::{self, S3Request};

/// The classes whose data needs a restore before it can be read.
const ARCHIVED: &[&str] = &["GLACIER", "DEEP_ARCHIVE"];

const DAY_MS: u64 = 86_400_000;

/// Whether `v` is stored in an archived class.
pub(crate) fn archived(v: &Version) -> bool {
    v.storage_class
        .as_deref()
        .is_some_and(|c| ARCHIVED.contains(&c))
}

/// The expiry of `v`'s restored copy, when it has one that has not expired.
fn restored_until(v: &Version, now_ms: u64) -> Option<u64> {
    v.restore_expiry_ms.filter(|&t| t > now_ms)
}

/// Refuses a read of the data of an archived, unrestored version (`source`: as a copy's source).
pub(crate) fn check_readable(v: &Version, source: bool) -> S3Result<()> {
    if archived(v) && restored_until(v, model::now_ms()).is_none() {
        return Err(S3Error::InvalidObjectState {
            message: if source {
                "Operation is not valid for the source object's storage class"
            } else {
                "The operation is not valid for the object's storage class"
            },
            storage_class: v.storage_class.clone().unwrap_or_default(),
        });
    }
    Ok(())
}

/// The `x-amz-restore` header of `v`, when a restored copy exists.
pub(crate) fn header(v: &Version) -> Option<String> {
    let until = restored_until(v, model::now_ms())?;
    Some(format!(
        "ongoing-request=\"false\", expiry-date=\"{}\"",
        timefmt::http_date(model::time_of(until))
    ))
}

/// The `RestoreStatus` of a listing entry: (in progress, expiry) when a restored copy exists.
pub(crate) fn status(v: &Version) -> Option<(bool, String)> {
    let until = restored_until(v, model::now_ms())?;
    Some((false, timefmt::iso8601_millis(model::time_of(until))))
}

/// When a copy restored at `now_ms` for `days` expires: rounded up to the next midnight UTC.
fn expiry(now_ms: u64, days: u64) -> u64 {
    let end = now_ms.saturating_add(days.saturating_mul(DAY_MS));
    end.div_ceil(DAY_MS).saturating_mul(DAY_MS)
}

/// The `Days` of a `RestoreRequest` document.
fn parse_request(doc: &Bytes) -> S3Result<u64> {
    let root = wire::parse_xml(doc)?;
    if root.name != "RestoreRequest" {
        return Err(S3Error::MalformedXml);
    }
    if root.text_of("Type") == Some("SELECT") || root.child("SelectParameters").is_some() {
        return Err(S3Error::NotImplemented {
            message: "Restores of type SELECT are not implemented".into(),
        });
    }
    if let Some(tier) = root
        .child("GlacierJobParameters")
        .and_then(|p| p.text_of("Tier"))
        && !["Standard", "Bulk", "Expedited"].contains(&tier)
    {
        return Err(S3Error::MalformedXml);
    }
    let days = root.text_of("Days").ok_or(S3Error::MalformedXml)?;
    days.trim()
        .parse::<u64>()
        .ok()
        .filter(|d| *d >= 1)
        .ok_or_else(|| S3Error::argument("Days must be a positive integer", "Days", days))
}

impl S3 {
    /// `RestoreObject`: makes an archived version's data readable for `Days` days (`202` for a new
    /// restore, `200` when a restored copy exists and only its expiry moves).
    pub(crate) async fn restore_object(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
        body: Body,
    ) -> S3Result<Response<Body>> {
        let doc = crate::bucket::read_doc(body).await?;
        let days = parse_request(&doc)?;
        let now = model::now_ms();
        let version = req.q("versionId");
        let before = self.read_version(bucket, key, version)?;
        if !archived(&before) {
            return Err(S3Error::InvalidObjectState {
                message: "Restore is not allowed for the object's current storage class",
                storage_class: before
                    .storage_class
                    .clone()
                    .unwrap_or_else(|| "STANDARD".into()),
            });
        }
        let until = expiry(now, days);
        self.update_version(bucket, key, version.map(str::to_owned), move |v| {
            v.restore_expiry_ms = Some(until);
            Ok(())
        })
        .await?;
        Ok(wire::empty(if restored_until(&before, now).is_some() {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_rounds_up_to_midnight() {
        // 2012-12-20T10:00:00Z + 2 days → 2012-12-23T00:00:00Z.
        let at = 1_356_000_000_000 - (1_356_000_000_000 % DAY_MS) + 10 * 3_600_000;
        assert_eq!(expiry(at, 2), at - 10 * 3_600_000 + 3 * DAY_MS);
        // Exactly midnight stays.
        let midnight = at - 10 * 3_600_000;
        assert_eq!(expiry(midnight, 1), midnight + DAY_MS);
    }

    #[test]
    fn restore_requests() {
        let ok = Bytes::from_static(b"<RestoreRequest><Days>3</Days><GlacierJobParameters><Tier>Bulk</Tier></GlacierJobParameters></RestoreRequest>");
        assert_eq!(parse_request(&ok).unwrap(), 3);
        let zero = Bytes::from_static(b"<RestoreRequest><Days>0</Days></RestoreRequest>");
        assert!(matches!(
            parse_request(&zero),
            Err(S3Error::InvalidArgument { .. })
        ));
        let tier = Bytes::from_static(b"<RestoreRequest><Days>1</Days><GlacierJobParameters><Tier>Fast</Tier></GlacierJobParameters></RestoreRequest>");
        assert!(matches!(parse_request(&tier), Err(S3Error::MalformedXml)));
        let none = Bytes::from_static(b"<RestoreRequest/>");
        assert!(matches!(parse_request(&none), Err(S3Error::MalformedXml)));
    }
}

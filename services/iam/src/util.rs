//! Unique ids, pagination, tags and the common errors, in IAM's shapes and words.

use skyport_core::ids::random_string;
use skyport_core::store::StoreError;
use skyport_core::{AwsError, error::StorageCodes};
use skyport_wire::ApiError;

use crate::shapes::{self, errors};
use crate::state::TagRec;

/// The alphabet of IAM's unique ids (`AIDA…`, `AROA…`): upper-case letters and the digits 2-7.
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A new unique id: `prefix` (four letters) and 17 random characters, 21 in all.
pub fn unique_id(prefix: &str) -> String {
    format!("{prefix}{}", random_string(ID_ALPHABET, 17))
}

/// A stable unique id derived from `text` (an ARN): `prefix` and 17 characters.
///
/// Roles use this with their ARN so that the id IAM reports for a role is the one STS puts in the
/// `AssumedRoleId` of its sessions (STS derives it from the role ARN in the same way, without a lookup).
pub fn stable_id(prefix: &str, text: &str) -> String {
    // FNV-1a, 128 bits: stable across restarts and processes.
    let mut hash: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in text.bytes() {
        hash ^= u128::from(b);
        hash = hash.wrapping_mul(0x0000000001000000000000000000013B);
    }
    let mut id = String::from(prefix);
    for _ in 0..17 {
        id.push(ID_ALPHABET[(hash % 32) as usize] as char);
        hash /= 32;
    }
    id
}

/// A secret access key: 40 characters of AWS's alphabet.
pub fn secret_key() -> String {
    random_string(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        40,
    )
}

/// One page of a list.
#[derive(Debug)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// True when more follow.
    pub truncated: bool,
    /// Where the next page starts, when more follow.
    pub marker: Option<String>,
}

/// The default `MaxItems` of IAM's list operations.
pub const DEFAULT_MAX_ITEMS: i32 = 100;

/// A page of `items`, which are sorted by `key`: those from `marker` on (the key of the first item
/// of the page, as the previous page returned it), at most `max_items` (default 100).
pub fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    marker: Option<&str>,
    max_items: Option<i32>,
) -> Page<T> {
    let max = usize::try_from(max_items.unwrap_or(DEFAULT_MAX_ITEMS).max(1)).unwrap_or(100);
    let mut rest: Vec<T> = match marker {
        Some(m) => items.into_iter().filter(|i| key(i).as_str() >= m).collect(),
        None => items,
    };
    if rest.len() <= max {
        return Page {
            items: rest,
            truncated: false,
            marker: None,
        };
    }
    let next = rest.split_off(max);
    Page {
        marker: next.first().map(&key),
        items: rest,
        truncated: true,
    }
}

/// `IsTruncated`, as IAM writes it: always present.
pub fn truncated<T>(page: &Page<T>) -> Option<bool> {
    Some(page.truncated)
}

/// The tags of a record as the model's shapes.
pub fn tags_out(tags: &[TagRec]) -> Vec<shapes::Tag> {
    tags.iter()
        .map(|t| shapes::Tag {
            key: t.key.clone(),
            value: t.value.clone(),
        })
        .collect()
}

/// The tags as the model's shapes, or `None` when there are none (IAM leaves the element out).
pub fn tags_opt(tags: &[TagRec]) -> Option<Vec<shapes::Tag>> {
    (!tags.is_empty()).then(|| tags_out(tags))
}

/// The most tags an IAM resource can have.
pub const MAX_TAGS: usize = 50;

/// Checks tags given in a request: keys are unique without regard to case.
pub fn tags_in(tags: Option<Vec<shapes::Tag>>) -> Result<Vec<TagRec>, ApiError> {
    let tags = tags.unwrap_or_default();
    let mut out: Vec<TagRec> = Vec::with_capacity(tags.len());
    for t in tags {
        if out.iter().any(|o| o.key.eq_ignore_ascii_case(&t.key)) {
            return Err(errors::invalid_input_exception(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
        out.push(TagRec {
            key: t.key,
            value: t.value,
        });
    }
    Ok(out)
}

/// Adds (or replaces, matching keys without regard to case) `new` tags to `tags`.
pub fn merge_tags(tags: &mut Vec<TagRec>, new: Vec<TagRec>, noun: &str) -> Result<(), ApiError> {
    let mut merged = tags.clone();
    for t in new {
        match merged
            .iter_mut()
            .find(|o| o.key.eq_ignore_ascii_case(&t.key))
        {
            Some(old) => *old = t,
            None => merged.push(t),
        }
    }
    if merged.len() > MAX_TAGS {
        return Err(errors::limit_exceeded_exception(format!(
            "Cannot exceed quota for TagsPer{noun}: {MAX_TAGS}"
        )));
    }
    *tags = merged;
    Ok(())
}

/// Removes the tags with these keys (matching without regard to case).
pub fn remove_tags(tags: &mut Vec<TagRec>, keys: &[String]) {
    tags.retain(|t| !keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)));
}

/// A failed state store as an AWS error.
pub fn store_error(e: StoreError) -> ApiError {
    AwsError::storage(&(&e).into(), StorageCodes::COMMON).into()
}

/// Flattens a write transaction's outcome.
pub fn tx_result<T>(outcome: Result<Result<T, ApiError>, StoreError>) -> Result<T, ApiError> {
    outcome.map_err(store_error)?
}

/// `ARN <arn> is not valid.`
pub fn invalid_arn(arn: &str) -> ApiError {
    errors::invalid_input_exception(format!("ARN {arn} is not valid."))
}

/// The ARN of an IAM entity: `arn:<partition>:iam::<account>:<kind><path><name>`.
pub fn entity_arn(partition: &str, account: &str, kind: &str, path: &str, name: &str) -> String {
    format!("arn:{partition}:iam::{account}:{kind}{path}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_aws_shapes() {
        let id = unique_id("AIDA");
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AIDA"));
        assert!(id.bytes().all(|b| ID_ALPHABET.contains(&b)));
        let a = stable_id("AROA", "arn:aws:iam::123456789012:role/demo");
        assert_eq!(a, stable_id("AROA", "arn:aws:iam::123456789012:role/demo"));
        assert_eq!(a.len(), 21);
        assert_eq!(secret_key().len(), 40);
    }

    #[test]
    fn pages_resume_at_the_marker() {
        let items: Vec<String> = (0..5).map(|i| format!("k{i}")).collect();
        let p = page(items.clone(), Clone::clone, None, Some(2));
        assert_eq!(p.items, ["k0", "k1"]);
        assert!(p.truncated);
        assert_eq!(p.marker.as_deref(), Some("k2"));
        let p = page(items.clone(), Clone::clone, Some("k2"), Some(2));
        assert_eq!(p.items, ["k2", "k3"]);
        let p = page(items, Clone::clone, Some("k4"), Some(2));
        assert_eq!(p.items, ["k4"]);
        assert!(!p.truncated);
        assert_eq!(p.marker, None);
    }

    #[test]
    fn tags_merge_without_regard_to_case() {
        let mut tags = tags_in(Some(vec![shapes::Tag {
            key: "Env".into(),
            value: "dev".into(),
        }]))
        .unwrap();
        merge_tags(
            &mut tags,
            vec![TagRec {
                key: "env".into(),
                value: "prod".into(),
            }],
            "Role",
        )
        .unwrap();
        assert_eq!(tags.len(), 1);
        assert_eq!(tags[0].value, "prod");
        remove_tags(&mut tags, &["ENV".into()]);
        assert!(tags.is_empty());
        assert!(
            tags_in(Some(vec![
                shapes::Tag {
                    key: "a".into(),
                    value: String::new()
                },
                shapes::Tag {
                    key: "A".into(),
                    value: String::new()
                }
            ]))
            .is_err()
        );
    }
}

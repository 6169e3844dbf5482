//! Server-side encryption as S3 reports it. Skyport stores bodies as they are (it encrypts nothing), but it
//! answers like S3: a write records the encryption it asked for (SSE-S3 `AES256`, SSE-KMS with a key ARN,
//! DSSE-KMS, or SSE-C with the customer key's MD5, never the key) or else the bucket's default encryption,
//! and echoes it; SSE-C keys are validated (a 32-byte AES-256 key whose MD5 matches), and an SSE-C object
//! can only be read with its key, as in S3.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::error::{S3Error, S3Result};
use crate::model::{BucketRecord, Version};
use crate::wire::{self, S3Request};

pub(crate) const SSE: &str = "x-amz-server-side-encryption";
pub(crate) const KMS_KEY: &str = "x-amz-server-side-encryption-aws-kms-key-id";
pub(crate) const BUCKET_KEY: &str = "x-amz-server-side-encryption-bucket-key-enabled";
pub(crate) const CUSTOMER_ALGORITHM: &str = "x-amz-server-side-encryption-customer-algorithm";
pub(crate) const CUSTOMER_KEY_MD5: &str = "x-amz-server-side-encryption-customer-key-md5";

/// The SSE-C headers of a request: for the object itself (`""`) or a copy source
/// (`"x-amz-copy-source-"`).
struct CustomerKey {
    md5: String,
}

fn customer_key(req: &S3Request, prefix: &str) -> S3Result<Option<CustomerKey>> {
    // `x-amz-server-side-...` becomes `x-amz-copy-source-server-side-...` for a copy source.
    let header = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            name.replacen("x-amz-", prefix, 1)
        }
    };
    let h = |name: &str| req.h(&header(name));
    let algorithm = h(CUSTOMER_ALGORITHM);
    let key = h("x-amz-server-side-encryption-customer-key");
    let md5 = h(CUSTOMER_KEY_MD5);
    if algorithm.is_none() && key.is_none() && md5.is_none() {
        return Ok(None);
    }
    let arg =
        |message: &str, name: &str, value: &str| S3Error::argument(message, &header(name), value);
    let Some(algorithm) = algorithm else {
        return Err(arg(
            "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
            CUSTOMER_ALGORITHM,
            "null",
        ));
    };
    if algorithm != "AES256" {
        return Err(arg(
            "The encryption algorithm specified is not valid.",
            CUSTOMER_ALGORITHM,
            algorithm,
        ));
    }
    let Some(key) = key else {
        return Err(arg(
            "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.",
            "x-amz-server-side-encryption-customer-key",
            "null",
        ));
    };
    let raw = B64
        .decode(key.trim())
        .ok()
        .filter(|k| k.len() == 32)
        .ok_or_else(|| {
            arg(
                "The secret key was invalid for the specified algorithm.",
                "x-amz-server-side-encryption-customer-key",
                "null",
            )
        })?;
    let calculated = B64.encode(crate::md5::Md5::digest(&raw));
    match md5 {
        None => Err(arg(
            "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.",
            CUSTOMER_KEY_MD5,
            "null",
        )),
        Some(m) if m.trim() != calculated => Err(arg(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
            CUSTOMER_KEY_MD5,
            m,
        )),
        Some(_) => Ok(Some(CustomerKey { md5: calculated })),
    }
}

/// The AWS managed `aws/s3` key of an account in a region: a stable key id per (account, region).
fn managed_key(b: &BucketRecord) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("aws/s3/{}/{}", b.account, b.region));
    let h = skyport_core::ids::hex(&d[..16]);
    format!(
        "arn:{}:kms:{}:{}:key/{}-{}-{}-{}-{}",
        skyport_core::arn::partition_for_region(&b.region),
        b.region,
        b.account,
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A KMS key as S3 reports it: key ids become key ARNs, ARNs and aliases stay as given.
fn kms_key_arn(b: &BucketRecord, key: Option<&str>) -> String {
    match key.map(str::trim).filter(|k| !k.is_empty()) {
        None => managed_key(b),
        Some(k) if k.starts_with("arn:") || k.starts_with("alias/") => k.to_owned(),
        Some(k) => format!(
            "arn:{}:kms:{}:{}:key/{k}",
            skyport_core::arn::partition_for_region(&b.region),
            b.region,
            b.account
        ),
    }
}

/// The bucket's default encryption: (algorithm, KMS key, bucket key) when a configuration is set.
fn bucket_default(b: &BucketRecord) -> Option<(String, Option<String>, bool)> {
    let doc = b.config.get("encryption")?;
    let root = wire::parse_xml(doc.as_bytes()).ok()?;
    let rule = root.child("Rule")?;
    let default = rule.child("ApplyServerSideEncryptionByDefault")?;
    Some((
        default.text_of("SSEAlgorithm")?.to_owned(),
        default.text_of("KMSMasterKeyID").map(str::to_owned),
        rule.text_of("BucketKeyEnabled") == Some("true"),
    ))
}

/// The encryption headers a write records and echoes: the request's (validated), else the bucket's
/// default, else SSE-S3 `AES256`.
pub(crate) fn for_write(req: &S3Request, b: &BucketRecord) -> S3Result<Vec<(String, String)>> {
    let sse = req.h(SSE);
    if let Some(customer) = customer_key(req, "")? {
        if let Some(sse) = sse {
            return Err(S3Error::argument(
                "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
                SSE,
                sse,
            ));
        }
        return Ok(vec![
            (CUSTOMER_ALGORITHM.to_owned(), "AES256".to_owned()),
            (CUSTOMER_KEY_MD5.to_owned(), customer.md5),
        ]);
    }
    let (algorithm, key, bucket_key) = match sse {
        Some(a) => (
            a.to_owned(),
            req.h(KMS_KEY).map(str::to_owned),
            req.h(BUCKET_KEY)
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        ),
        None => {
            if req.h(KMS_KEY).is_some() {
                return Err(S3Error::argument(
                    "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
                    SSE,
                    "null",
                ));
            }
            bucket_default(b).unwrap_or(("AES256".to_owned(), None, false))
        }
    };
    match algorithm.as_str() {
        "AES256" => {
            if key.is_some() && sse.is_some() {
                return Err(S3Error::argument(
                    "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
                    SSE,
                    "AES256",
                ));
            }
            let mut out = vec![(SSE.to_owned(), algorithm)];
            if bucket_key {
                out.push((BUCKET_KEY.to_owned(), "true".to_owned()));
            }
            Ok(out)
        }
        "aws:kms" | "aws:kms:dsse" => {
            let mut out = vec![
                (SSE.to_owned(), algorithm.clone()),
                (KMS_KEY.to_owned(), kms_key_arn(b, key.as_deref())),
            ];
            if bucket_key {
                out.push((BUCKET_KEY.to_owned(), "true".to_owned()));
            }
            Ok(out)
        }
        other => Err(S3Error::argument(
            "The encryption method specified is not supported",
            SSE,
            other,
        )),
    }
}

/// The MD5 of the customer key an object was written with (SSE-C), if any.
fn stored_customer_md5(sse: &[(String, String)]) -> Option<&str> {
    sse.iter()
        .find(|(n, _)| n == CUSTOMER_KEY_MD5)
        .map(|(_, v)| v.as_str())
}

/// A read of `v` (GET, HEAD, GetObjectAttributes, a copy source with `prefix`): an SSE-C object needs
/// its key; SSE-C parameters on another object are refused.
pub(crate) fn check_read(req: &S3Request, prefix: &str, v: &Version) -> S3Result<()> {
    let given = customer_key(req, prefix)?;
    match (stored_customer_md5(&v.sse), given) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(S3Error::request(
            "The encryption parameters are not applicable to this object.",
        )),
        (Some(_), None) => Err(S3Error::request(
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
        )),
        (Some(stored), Some(k)) if k.md5 != stored => {
            Err(S3Error::PolicyDenied("Access Denied".into()))
        }
        (Some(_), Some(_)) => Ok(()),
    }
}

/// A part of an upload created with SSE-C must come with the same key.
pub(crate) fn check_part(req: &S3Request, upload_sse: &[(String, String)]) -> S3Result<()> {
    let given = customer_key(req, "")?;
    match (stored_customer_md5(upload_sse), given) {
        (None, None) | (None, Some(_)) => Ok(()),
        (Some(_), None) => Err(S3Error::request(
            "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.",
        )),
        (Some(stored), Some(k)) if k.md5 != stored => Err(S3Error::request(
            "The provided encryption parameters did not match the ones used originally.",
        )),
        (Some(_), Some(_)) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_keys_are_stable_arns() {
        let b = BucketRecord {
            name: "b".into(),
            region: "eu-west-1".into(),
            account: "123456789012".into(),
            created_ms: 0,
            versioning: None,
            mfa_delete: None,
            config: Default::default(),
            object_lock: false,
            default_retention: None,
            ownership: None,
            public_access_block: None,
        };
        let k = managed_key(&b);
        assert!(
            k.starts_with("arn:aws:kms:eu-west-1:123456789012:key/"),
            "{k}"
        );
        assert_eq!(
            k.len(),
            "arn:aws:kms:eu-west-1:123456789012:key/".len() + 36
        );
        assert_eq!(k, managed_key(&b));
        assert_eq!(
            kms_key_arn(&b, Some("1234abcd-12ab-34cd-56ef-1234567890ab")),
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        );
        assert_eq!(kms_key_arn(&b, Some("alias/mine")), "alias/mine");
    }
}

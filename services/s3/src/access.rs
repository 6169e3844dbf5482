//! Access checks S3 always applies to anonymous requests (issue #16).
//!
//! A request is anonymous when it carries no credentials: no `Authorization` header, no presigned
//! query authentication (SigV4 `X-Amz-Algorithm`/`X-Amz-Signature`, SigV2 `AWSAccessKeyId` with
//! `Signature`) and, for browser POST uploads, no signed form (see [`form_is_signed`]). Requests to
//! the website endpoints are anonymous reads. AWS decides an anonymous request from the bucket
//! policy, the bucket's and the object's ACLs and Block Public Access; this module does the same:
//!
//! - the bucket policy (parsed once per stored document by [`PolicyCache`], evaluated with
//!   `skyport-policy` for [`Principal::anonymous`]): an applicable `Deny` refuses; an `Allow` to
//!   `"*"` grants, unless `RestrictPublicBuckets` is on and the policy is public ([`is_public_policy`]);
//! - otherwise the ACLs: a grant to the `AllUsers` group of the permission the action needs
//!   ([`AclNeed`]), unless ACLs are disabled (Object Ownership `BucketOwnerEnforced`, the default)
//!   or `IgnorePublicAcls` is on;
//! - anything else is `403 AccessDenied`.
//!
//! [`RULES`] maps each S3 operation to the IAM action AWS authorizes it with, following the API
//! operations table of AWS's Service Authorization Reference, "Actions, resources, and condition
//! keys for Amazon S3" (with the `...Version...` action when the request names a `versionId`), and
//! ACL permissions as S3's "Access control list (ACL) overview" maps them to actions. Operations
//! missing from the table are refused to anonymous callers.
//!
//! Signed requests are checked only with `ENFORCE_IAM=1` ([`S3::authorize_principal`]: IAM's policies
//! of the verified principal, the bucket policy, and the ACLs as the policy statements they amount
//! to for the caller's account); otherwise Skyport accepts any credentials as the account's owner,
//! and their path costs nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use skyport_core::RequestContext;
use skyport_core::context::Scheme;
use skyport_policy::{
    Outcome, Policy, PolicyKind, PolicySet, Principal, RequestContext as PolicyContext, evaluate,
};

use crate::S3;
use crate::error::{S3Error, S3Result};
use crate::model::BucketRecord;
use crate::wire::S3Request;

/// The resource an action acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// No bucket (`ListBuckets`).
    Service,
    /// `arn:aws:s3:::bucket`.
    Bucket,
    /// `arn:aws:s3:::bucket/key`.
    Object,
}

/// The ACL permission granted to `AllUsers` that allows an action, and whose ACL holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AclNeed {
    /// No ACL permission allows the action.
    None,
    /// `READ` on the bucket: listing.
    BucketRead,
    /// `WRITE` on the bucket: creating, overwriting and deleting objects.
    BucketWrite,
    /// `READ_ACP` on the bucket.
    BucketReadAcp,
    /// `WRITE_ACP` on the bucket.
    BucketWriteAcp,
    /// `READ` on the object.
    ObjectRead,
    /// `READ_ACP` on the object.
    ObjectReadAcp,
    /// `WRITE_ACP` on the object.
    ObjectWriteAcp,
}

impl AclNeed {
    /// The ACL permission name.
    fn permission(self) -> Option<&'static str> {
        match self {
            AclNeed::None => None,
            AclNeed::BucketRead | AclNeed::ObjectRead => Some("READ"),
            AclNeed::BucketWrite => Some("WRITE"),
            AclNeed::BucketReadAcp | AclNeed::ObjectReadAcp => Some("READ_ACP"),
            AclNeed::BucketWriteAcp | AclNeed::ObjectWriteAcp => Some("WRITE_ACP"),
        }
    }

    fn on_object(self) -> bool {
        matches!(
            self,
            AclNeed::ObjectRead | AclNeed::ObjectReadAcp | AclNeed::ObjectWriteAcp
        )
    }
}

/// One S3 operation's authorization.
#[derive(Debug)]
pub(crate) struct Rule {
    /// The operation name, as the router records it.
    pub operation: &'static str,
    /// The IAM action.
    pub action: &'static str,
    /// The IAM action when the request names a version (`versionId`).
    pub version_action: Option<&'static str>,
    /// The resource it acts on.
    pub target: Target,
    /// The ACL permission that allows it.
    pub acl: AclNeed,
}

const fn rule(
    operation: &'static str,
    action: &'static str,
    version_action: Option<&'static str>,
    target: Target,
    acl: AclNeed,
) -> Rule {
    Rule {
        operation,
        action,
        version_action,
        target,
        acl,
    }
}

use AclNeed as A;
use Target::{Bucket as B, Object as O, Service as S};

/// S3 operations → IAM actions (AWS's Service Authorization Reference for Amazon S3).
pub(crate) const RULES: &[Rule] = &[
    // The service.
    rule("ListBuckets", "s3:ListAllMyBuckets", None, S, A::None),
    // Buckets.
    rule("CreateBucket", "s3:CreateBucket", None, B, A::None),
    rule("DeleteBucket", "s3:DeleteBucket", None, B, A::None),
    rule("HeadBucket", "s3:ListBucket", None, B, A::BucketRead),
    rule("ListObjects", "s3:ListBucket", None, B, A::BucketRead),
    rule("ListObjectsV2", "s3:ListBucket", None, B, A::BucketRead),
    rule(
        "ListObjectVersions",
        "s3:ListBucketVersions",
        None,
        B,
        A::BucketRead,
    ),
    rule(
        "ListMultipartUploads",
        "s3:ListBucketMultipartUploads",
        None,
        B,
        A::BucketRead,
    ),
    rule(
        "GetBucketLocation",
        "s3:GetBucketLocation",
        None,
        B,
        A::None,
    ),
    rule(
        "GetBucketVersioning",
        "s3:GetBucketVersioning",
        None,
        B,
        A::None,
    ),
    rule(
        "PutBucketVersioning",
        "s3:PutBucketVersioning",
        None,
        B,
        A::None,
    ),
    rule(
        "GetObjectLockConfiguration",
        "s3:GetBucketObjectLockConfiguration",
        None,
        B,
        A::None,
    ),
    rule(
        "PutObjectLockConfiguration",
        "s3:PutBucketObjectLockConfiguration",
        None,
        B,
        A::None,
    ),
    rule("GetBucketTagging", "s3:GetBucketTagging", None, B, A::None),
    rule("PutBucketTagging", "s3:PutBucketTagging", None, B, A::None),
    rule(
        "DeleteBucketTagging",
        "s3:PutBucketTagging",
        None,
        B,
        A::None,
    ),
    rule("GetBucketPolicy", "s3:GetBucketPolicy", None, B, A::None),
    rule("PutBucketPolicy", "s3:PutBucketPolicy", None, B, A::None),
    rule(
        "DeleteBucketPolicy",
        "s3:DeleteBucketPolicy",
        None,
        B,
        A::None,
    ),
    rule("GetBucketCors", "s3:GetBucketCORS", None, B, A::None),
    rule("PutBucketCors", "s3:PutBucketCORS", None, B, A::None),
    rule("DeleteBucketCors", "s3:PutBucketCORS", None, B, A::None),
    rule(
        "GetBucketLifecycleConfiguration",
        "s3:GetLifecycleConfiguration",
        None,
        B,
        A::None,
    ),
    rule(
        "PutBucketLifecycleConfiguration",
        "s3:PutLifecycleConfiguration",
        None,
        B,
        A::None,
    ),
    rule(
        "DeleteBucketLifecycleConfiguration",
        "s3:PutLifecycleConfiguration",
        None,
        B,
        A::None,
    ),
    rule(
        "GetBucketEncryption",
        "s3:GetEncryptionConfiguration",
        None,
        B,
        A::None,
    ),
    rule(
        "PutBucketEncryption",
        "s3:PutEncryptionConfiguration",
        None,
        B,
        A::None,
    ),
    rule(
        "DeleteBucketEncryption",
        "s3:PutEncryptionConfiguration",
        None,
        B,
        A::None,
    ),
    rule(
        "GetBucketOwnershipControls",
        "s3:GetBucketOwnershipControls",
        None,
        B,
        A::None,
    ),
    rule(
        "PutBucketOwnershipControls",
        "s3:PutBucketOwnershipControls",
        None,
        B,
        A::None,
    ),
    rule(
        "DeleteBucketOwnershipControls",
        "s3:PutBucketOwnershipControls",
        None,
        B,
        A::None,
    ),
    rule(
        "GetPublicAccessBlock",
        "s3:GetBucketPublicAccessBlock",
        None,
        B,
        A::None,
    ),
    rule(
        "PutPublicAccessBlock",
        "s3:PutBucketPublicAccessBlock",
        None,
        B,
        A::None,
    ),
    rule(
        "DeletePublicAccessBlock",
        "s3:PutBucketPublicAccessBlock",
        None,
        B,
        A::None,
    ),
    rule("GetBucketAcl", "s3:GetBucketAcl", None, B, A::BucketReadAcp),
    rule(
        "PutBucketAcl",
        "s3:PutBucketAcl",
        None,
        B,
        A::BucketWriteAcp,
    ),
    rule(
        "GetBucketNotificationConfiguration",
        "s3:GetBucketNotification",
        None,
        B,
        A::None,
    ),
    rule(
        "PutBucketNotificationConfiguration",
        "s3:PutBucketNotification",
        None,
        B,
        A::None,
    ),
    rule("GetBucketWebsite", "s3:GetBucketWebsite", None, B, A::None),
    rule("PutBucketWebsite", "s3:PutBucketWebsite", None, B, A::None),
    rule(
        "DeleteBucketWebsite",
        "s3:DeleteBucketWebsite",
        None,
        B,
        A::None,
    ),
    rule("GetBucketLogging", "s3:GetBucketLogging", None, B, A::None),
    rule("PutBucketLogging", "s3:PutBucketLogging", None, B, A::None),
    rule(
        "GetBucketAccelerateConfiguration",
        "s3:GetAccelerateConfiguration",
        None,
        B,
        A::None,
    ),
    rule(
        "PutBucketAccelerateConfiguration",
        "s3:PutAccelerateConfiguration",
        None,
        B,
        A::None,
    ),
    rule(
        "GetBucketRequestPayment",
        "s3:GetBucketRequestPayment",
        None,
        B,
        A::None,
    ),
    rule(
        "PutBucketRequestPayment",
        "s3:PutBucketRequestPayment",
        None,
        B,
        A::None,
    ),
    // Objects. DeleteObjects is authorized key by key as s3:DeleteObject.
    rule(
        "DeleteObjects",
        "s3:DeleteObject",
        Some("s3:DeleteObjectVersion"),
        O,
        A::BucketWrite,
    ),
    rule(
        "GetObject",
        "s3:GetObject",
        Some("s3:GetObjectVersion"),
        O,
        A::ObjectRead,
    ),
    rule(
        "HeadObject",
        "s3:GetObject",
        Some("s3:GetObjectVersion"),
        O,
        A::ObjectRead,
    ),
    rule("PutObject", "s3:PutObject", None, O, A::BucketWrite),
    rule("PostObject", "s3:PutObject", None, O, A::BucketWrite),
    rule("CopyObject", "s3:PutObject", None, O, A::BucketWrite),
    rule(
        "CreateMultipartUpload",
        "s3:PutObject",
        None,
        O,
        A::BucketWrite,
    ),
    rule("UploadPart", "s3:PutObject", None, O, A::BucketWrite),
    rule("UploadPartCopy", "s3:PutObject", None, O, A::BucketWrite),
    rule(
        "CompleteMultipartUpload",
        "s3:PutObject",
        None,
        O,
        A::BucketWrite,
    ),
    rule(
        "AbortMultipartUpload",
        "s3:AbortMultipartUpload",
        None,
        O,
        A::BucketWrite,
    ),
    rule("ListParts", "s3:ListMultipartUploadParts", None, O, A::None),
    rule(
        "DeleteObject",
        "s3:DeleteObject",
        Some("s3:DeleteObjectVersion"),
        O,
        A::BucketWrite,
    ),
    rule(
        "GetObjectAcl",
        "s3:GetObjectAcl",
        Some("s3:GetObjectVersionAcl"),
        O,
        A::ObjectReadAcp,
    ),
    rule(
        "PutObjectAcl",
        "s3:PutObjectAcl",
        Some("s3:PutObjectVersionAcl"),
        O,
        A::ObjectWriteAcp,
    ),
    rule(
        "GetObjectTagging",
        "s3:GetObjectTagging",
        Some("s3:GetObjectVersionTagging"),
        O,
        A::None,
    ),
    rule(
        "PutObjectTagging",
        "s3:PutObjectTagging",
        Some("s3:PutObjectVersionTagging"),
        O,
        A::None,
    ),
    rule(
        "DeleteObjectTagging",
        "s3:DeleteObjectTagging",
        Some("s3:DeleteObjectVersionTagging"),
        O,
        A::None,
    ),
    rule(
        "GetObjectAttributes",
        "s3:GetObjectAttributes",
        Some("s3:GetObjectVersionAttributes"),
        O,
        A::None,
    ),
    rule(
        "GetObjectRetention",
        "s3:GetObjectRetention",
        None,
        O,
        A::None,
    ),
    rule(
        "PutObjectRetention",
        "s3:PutObjectRetention",
        None,
        O,
        A::None,
    ),
    rule(
        "GetObjectLegalHold",
        "s3:GetObjectLegalHold",
        None,
        O,
        A::None,
    ),
    rule(
        "PutObjectLegalHold",
        "s3:PutObjectLegalHold",
        None,
        O,
        A::None,
    ),
    rule("RestoreObject", "s3:RestoreObject", None, O, A::None),
];

/// The rule of an operation.
pub(crate) fn rule_for(operation: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.operation == operation)
}

/// Whether a request carries no credentials in its headers or query (a browser POST form's are in
/// its body: see [`form_is_signed`]).
pub(crate) fn is_anonymous(parts: &http::request::Parts) -> bool {
    if parts.headers.contains_key(http::header::AUTHORIZATION) {
        return false;
    }
    let Some(query) = parts.uri.query() else {
        return true;
    };
    let (mut sigv2_key, mut sigv2_sig) = (false, false);
    for (name, _) in form_urlencoded::parse(query.as_bytes()) {
        if name.eq_ignore_ascii_case("x-amz-algorithm")
            || name.eq_ignore_ascii_case("x-amz-signature")
        {
            return false;
        }
        sigv2_key |= name == "AWSAccessKeyId";
        sigv2_sig |= name == "Signature";
    }
    !(sigv2_key && sigv2_sig)
}

/// Whether a browser POST form is signed: a SigV4 `x-amz-signature` or a SigV2 `signature` with its
/// `AWSAccessKeyId` (field names are case-insensitive).
pub(crate) fn form_is_signed(fields: &[(String, String)]) -> bool {
    let has = |n: &str| fields.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    has("x-amz-signature") || (has("signature") && has("awsaccesskeyid"))
}

/// The condition keys whose values cannot be forged that make a wildcard-principal `Allow`
/// non-public ("Block Public Access", "The meaning of public").
const FIXING_KEYS: &[&str] = &[
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceowner",
    "aws:sourceaccount",
    "aws:sourceip",
    "aws:userid",
    "aws:principalorgid",
    "aws:principalaccount",
    "aws:principalarn",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:dataaccesspointarn",
    "s3:dataaccesspointaccount",
];

/// Whether a bucket policy is public as S3 defines it: an `Allow` statement grants a wildcard
/// principal (`"*"`, or an `AWS` principal containing `*`) without a condition that fixes one of
/// [`FIXING_KEYS`] to values without wildcards. An unreadable document counts as not public (it
/// was validated when stored).
pub(crate) fn is_public_policy(text: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(text) else {
        return false;
    };
    let statements = match doc.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return false,
    };
    statements.into_iter().any(|s| {
        let allow = s.get("Effect").and_then(Value::as_str) == Some("Allow");
        let wildcard = match s.get("Principal") {
            Some(Value::String(p)) => p == "*",
            Some(Value::Object(map)) => map.get("AWS").is_some_and(|aws| match aws {
                Value::String(p) => p.contains('*'),
                Value::Array(items) => items
                    .iter()
                    .any(|p| p.as_str().is_some_and(|p| p.contains('*'))),
                _ => false,
            }),
            _ => false,
        };
        allow && wildcard && !fixed_by_condition(s.get("Condition"))
    })
}

/// Whether a statement's condition fixes one of [`FIXING_KEYS`] to values without wildcards.
fn fixed_by_condition(condition: Option<&Value>) -> bool {
    let Some(Value::Object(operators)) = condition else {
        return false;
    };
    operators.iter().any(|(operator, keys)| {
        let lower = operator.to_ascii_lowercase();
        if lower.contains("not") || lower.ends_with("ifexists") || lower == "null" {
            return false;
        }
        let Value::Object(keys) = keys else {
            return false;
        };
        keys.iter().any(|(key, values)| {
            let fixed_values = match values {
                Value::String(v) => !v.contains('*'),
                Value::Array(items) => {
                    !items.is_empty()
                        && items
                            .iter()
                            .all(|v| v.as_str().is_some_and(|v| !v.contains('*')))
                }
                _ => false,
            };
            FIXING_KEYS.contains(&key.to_ascii_lowercase().as_str()) && fixed_values
        })
    })
}

/// A bucket policy compiled for evaluation.
#[derive(Debug)]
pub(crate) struct CompiledPolicy {
    text: String,
    /// `None` when `skyport-policy` refuses the stored document (it then grants nothing).
    policy: Option<Policy>,
    public: bool,
}

/// Bucket policies parsed once per stored document: bucket name → the compiled policy, replaced
/// when the stored text changes.
#[derive(Debug, Default)]
pub(crate) struct PolicyCache {
    entries: Mutex<HashMap<String, Arc<CompiledPolicy>>>,
}

impl PolicyCache {
    /// The compiled form of `bucket`'s stored policy `text`.
    pub(crate) fn get(&self, bucket: &str, text: &str) -> Arc<CompiledPolicy> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(found) = entries.get(bucket)
            && found.text == text
        {
            return found.clone();
        }
        let policy = match Policy::parse(bucket, text, PolicyKind::Resource) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(bucket, "s3: the bucket policy cannot be evaluated: {e}");
                None
            }
        };
        let compiled = Arc::new(CompiledPolicy {
            text: text.to_owned(),
            policy,
            public: is_public_policy(text),
        });
        entries.insert(bucket.to_owned(), compiled.clone());
        compiled
    }
}

/// A bucket policy (`None`: none) with `statements` added: the document IAM evaluates.
/// A stored document that cannot be read is left as it is (it was validated when stored).
fn with_statements(policy: Option<&str>, statements: Vec<Value>) -> String {
    let mut doc = match policy {
        None => serde_json::Map::from_iter([("Version".to_owned(), "2012-10-17".into())]),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            _ => return text.to_owned(),
        },
    };
    let mut all = match doc.remove("Statement") {
        Some(Value::Array(items)) => items,
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    all.extend(statements);
    doc.insert("Statement".to_owned(), Value::Array(all));
    Value::Object(doc).to_string()
}

/// The headers that become `s3:` condition keys of their own name.
const HEADER_KEYS: &[&str] = &[
    "x-amz-acl",
    "x-amz-copy-source",
    "x-amz-metadata-directive",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-storage-class",
    "x-amz-website-redirect-location",
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
];

/// The request headers that carry input members of the SDK's model (what the authorization
/// reference reads), by member.
const INPUT_HEADERS: [(&str, &str); 12] = [
    ("CopySource", "x-amz-copy-source"),
    ("Tagging", "x-amz-tagging"),
    ("ACL", "x-amz-acl"),
    ("GrantFullControl", "x-amz-grant-full-control"),
    ("GrantRead", "x-amz-grant-read"),
    ("GrantReadACP", "x-amz-grant-read-acp"),
    ("GrantWrite", "x-amz-grant-write"),
    ("GrantWriteACP", "x-amz-grant-write-acp"),
    ("ObjectLockMode", "x-amz-object-lock-mode"),
    (
        "ObjectLockRetainUntilDate",
        "x-amz-object-lock-retain-until-date",
    ),
    ("ObjectLockLegalHoldStatus", "x-amz-object-lock-legal-hold"),
    (
        "BypassGovernanceRetention",
        "x-amz-bypass-governance-retention",
    ),
];

/// The policy request context of an anonymous request.
fn policy_context<'a>(
    ctx: &RequestContext,
    req: &'a S3Request,
    action: &'a str,
    resource: &'a str,
    account: &'a str,
) -> PolicyContext<'a> {
    let mut pctx = PolicyContext::new(Principal::anonymous(), action, resource)
        .with_resource_account(account)
        .with_key("aws:ResourceAccount", account)
        .with_key(
            "aws:SecureTransport",
            if ctx.scheme == Scheme::Https {
                "true"
            } else {
                "false"
            },
        )
        .with_key(
            "aws:CurrentTime",
            skyport_core::timefmt::iso8601_seconds(ctx.received_at),
        );
    if let Some(client) = ctx.client {
        pctx = pctx.with_key("aws:SourceIp", client.ip().to_string());
    }
    for (header, key) in [("user-agent", "aws:UserAgent"), ("referer", "aws:Referer")] {
        if let Some(v) = req.h(header) {
            pctx = pctx.with_key(key, v);
        }
    }
    for name in HEADER_KEYS {
        if let Some(v) = req.h(name) {
            pctx = pctx.with_key(format!("s3:{name}"), v);
        }
    }
    if req.key.is_none() {
        for (query, key) in [
            ("prefix", "s3:prefix"),
            ("delimiter", "s3:delimiter"),
            ("max-keys", "s3:max-keys"),
        ] {
            if let Some(v) = req.q(query) {
                pctx = pctx.with_key(key, v);
            }
        }
    }
    if let Some(v) = req.q("versionId") {
        pctx = pctx.with_key("s3:VersionId", v);
    }
    pctx
}

/// Whether an ACL (a canned ACL name or an `AccessControlPolicy` document; `None` is `private`)
/// grants `permission` to the `AllUsers` group (`FULL_CONTROL` grants every permission).
pub(crate) fn all_users_granted(acl: Option<&str>, permission: &str) -> bool {
    crate::acl::grants(acl).iter().any(|g| {
        g.grantee == crate::acl::Grantee::Group(crate::acl::ALL_USERS.to_owned())
            && g.gives(permission)
    })
}

fn denied() -> S3Error {
    S3Error::PolicyDenied("Access Denied".into())
}

impl S3 {
    /// Records the operation and, for an anonymous request, checks that AWS would allow it on the
    /// request's bucket and key (`403 AccessDenied` otherwise).
    pub(crate) fn authorize(
        &self,
        ctx: &mut RequestContext,
        req: &S3Request,
        operation: &str,
    ) -> S3Result<()> {
        self.authorize_with_bucket(ctx, req, operation).map(drop)
    }

    /// [`S3::authorize`], answering the request's bucket record when authorizing a principal read
    /// it, for the operation to use instead of reading it again.
    pub(crate) fn authorize_with_bucket(
        &self,
        ctx: &mut RequestContext,
        req: &S3Request,
        operation: &str,
    ) -> S3Result<Option<BucketRecord>> {
        ctx.set_operation(operation.to_owned());
        // DeleteObjects is authorized key by key (`delete_objects`).
        if operation == "DeleteObjects" {
            return Ok(None);
        }
        let record = self.authorize_target(
            ctx,
            req,
            operation,
            req.bucket.as_deref(),
            req.key.as_deref(),
            req.q("versionId"),
        )?;
        if !req.anonymous {
            // A principal's copy source is part of its requirements (`CopySource`).
            return Ok(record);
        }
        if matches!(operation, "CopyObject" | "UploadPartCopy") {
            // Copying also reads the source.
            let (bucket, key, version) = S3::copy_source(req)?;
            let rule = rule_for("GetObject").ok_or_else(denied)?;
            let action = match version {
                Some(_) => rule.version_action.unwrap_or(rule.action),
                None => rule.action,
            };
            let version = version.as_deref();
            if !self.anonymous_allowed(ctx, req, &bucket, Some(&key), version, rule, action)? {
                tracing::debug!(bucket, key, action, "s3: anonymous copy source denied");
                return Err(denied());
            }
        }
        Ok(record)
    }

    /// Authorizes `operation` on `bucket` (and `key`): an anonymous caller by S3's public-access
    /// rules, a verified principal by IAM (answering the bucket's record when it read it).
    pub(crate) fn authorize_target(
        &self,
        ctx: &RequestContext,
        req: &S3Request,
        operation: &str,
        bucket: Option<&str>,
        key: Option<&str>,
        version: Option<&str>,
    ) -> S3Result<Option<BucketRecord>> {
        if req.anonymous {
            self.authorize_anonymous(ctx, req, operation, bucket, key, version)
                .map(|()| None)
        } else {
            self.authorize_principal(ctx, req, operation, bucket, key, version)
        }
    }

    /// `ENFORCE_IAM=1`: a signed request's principal, verified by its signature, authorized by IAM for
    /// `operation` on `bucket` (and `key`), the bucket policy and the ACLs taking part
    /// ([`acl_statements`]). Nothing to do (not even reading the bucket) without a verified
    /// principal; an account's root user is evaluated only on another account's bucket, where it
    /// needs that bucket's grants as every principal does. Answers the bucket's record, if read.
    pub(crate) fn authorize_principal(
        &self,
        ctx: &RequestContext,
        req: &S3Request,
        operation: &str,
        bucket: Option<&str>,
        key: Option<&str>,
        version: Option<&str>,
    ) -> S3Result<Option<BucketRecord>> {
        let Some(principal) = ctx
            .principal
            .as_deref()
            .filter(|_| skyport_authref::applies(ctx))
        else {
            return Ok(None);
        };
        let record = bucket.and_then(|b| self.bucket(b).ok());
        // An account's root user has every right in its own account's buckets (IAM does not
        // evaluate it there): no ACL to read.
        let owner = record
            .as_ref()
            .map_or(principal.account.as_str(), |b| b.account.as_str());
        if skyport_authref::is_owners_root(principal, owner) {
            return Ok(record);
        }
        // The request's members as the SDK model names them (what the authorization reference reads).
        let mut input: Vec<(&str, &str)> = Vec::with_capacity(8);
        input.extend(bucket.map(|b| ("Bucket", b)));
        input.extend(key.map(|k| ("Key", k)));
        input.extend(version.map(|v| ("VersionId", v)));
        // The request's few header names are gone through once, rather than each of the table's
        // looked up.
        for header in req.headers.keys() {
            if let Some((member, _)) = INPUT_HEADERS.iter().find(|(_, h)| header == h)
                && let Some(value) = req.headers.get(header).and_then(|v| v.to_str().ok())
            {
                input.push((*member, value));
            }
        }
        // The bucket policy, with the statements the ACLs amount to for this caller.
        let policy = record.as_ref().and_then(|b| {
            let stored = b.config.get("policy").map(String::as_str);
            let granted = self.acl_statements(ctx, b, &principal.account, operation, key, version);
            if granted.is_empty() {
                return stored.map(str::to_owned);
            }
            Some(with_statements(stored, granted))
        });
        let resource = record.as_ref().map(|b| skyport_authref::ResourcePolicy {
            policy: policy.as_deref(),
            account: &b.account,
        });
        // S3 words a denial with its reason only within the bucket owner's account; another
        // account's caller reads "Access Denied" ("Troubleshoot access denied (403 Forbidden)
        // errors in Amazon S3").
        let cross_account = record
            .as_ref()
            .is_some_and(|b| b.account != principal.account);
        // RestrictPublicBuckets: a bucket with a public policy serves only its own account's
        // principals (and AWS services).
        if let Some(b) = record.as_ref().filter(|_| cross_account) {
            let restrict = b.public_access_block.is_some_and(|flags| flags[3]);
            let public = b
                .config
                .get("policy")
                .is_some_and(|text| self.policies.get(&b.name, text).public);
            if restrict && public {
                tracing::debug!(
                    bucket = b.name,
                    principal = principal.arn,
                    "s3: RestrictPublicBuckets refuses another account"
                );
                return Err(denied());
            }
        }
        skyport_authref::check_with(ctx, operation, &input, resource).map_err(|e| {
            if cross_account {
                denied()
            } else {
                S3Error::PolicyDenied(e.message)
            }
        })?;
        Ok(record)
    }

    /// The policy statements the ACLs amount to for a signed caller of `account` ("How Amazon S3
    /// authorizes a request": ACLs are resource-based policies of the bucket or object owner; "Mapping
    /// of ACL permissions and access policy permissions"): when ACLs are enabled, a grant of the
    /// permission `operation` needs ([`AclNeed`]), in the bucket's ACL or the object's, to
    /// `AuthenticatedUsers` or `AllUsers` (unless `IgnorePublicAcls`) allows the operation's action
    /// to everyone signed (`"AWS": "*"`); one to the caller's account's canonical id allows it to that
    /// account, whose identity-based policies then decide, as a bucket policy naming the account
    /// would. Across accounts the caller's own policies must still allow it; in the bucket owner's
    /// account a public grant allows it directly.
    fn acl_statements(
        &self,
        ctx: &RequestContext,
        b: &BucketRecord,
        account: &str,
        operation: &str,
        key: Option<&str>,
        version: Option<&str>,
    ) -> Vec<Value> {
        let Some(rule) = rule_for(operation) else {
            return Vec::new();
        };
        let Some(permission) = rule.acl.permission() else {
            return Vec::new();
        };
        if b.acls_disabled() {
            return Vec::new();
        }
        let ignore_public = b.public_access_block.is_some_and(|flags| flags[1]);
        let stored;
        let acl = if rule.acl.on_object() {
            let Some(key) = key else {
                return Vec::new();
            };
            // A missing object grants nothing.
            match self.read_version(&b.name, key, version) {
                Ok(v) => {
                    stored = v.acl;
                    stored.as_deref()
                }
                Err(_) => return Vec::new(),
            }
        } else {
            crate::bucket::bucket_acl(b)
        };
        let caller = crate::acl::Grantee::User(crate::canonical_id(account));
        let mut principals = Vec::new();
        for grant in crate::acl::grants(acl) {
            if !grant.gives(permission) {
                continue;
            }
            let principal = if grant.is_public() && !ignore_public {
                serde_json::json!({"AWS": "*"})
            } else if grant.grantee == caller {
                serde_json::json!({"AWS": format!("arn:{}:iam::{account}:root", ctx.partition())})
            } else {
                continue;
            };
            if !principals.contains(&principal) {
                principals.push(principal);
            }
        }
        let resource = match (rule.target, key) {
            (Target::Object, Some(k)) => format!("{}/{k}", b.arn()),
            _ => b.arn(),
        };
        let actions: Vec<&str> = std::iter::once(rule.action)
            .chain(rule.version_action)
            .collect();
        principals
            .into_iter()
            .map(|principal| {
                serde_json::json!({
                    "Sid": "SkyportAclGrant",
                    "Effect": "Allow",
                    "Principal": principal,
                    "Action": actions,
                    "Resource": resource,
                })
            })
            .collect()
    }

    /// Checks an anonymous request for `operation` on `bucket` (and `key`).
    pub(crate) fn authorize_anonymous(
        &self,
        ctx: &RequestContext,
        req: &S3Request,
        operation: &str,
        bucket: Option<&str>,
        key: Option<&str>,
        version: Option<&str>,
    ) -> S3Result<()> {
        let Some(rule) = rule_for(operation) else {
            tracing::debug!(operation, "s3: operation refused to anonymous callers");
            return Err(denied());
        };
        // Anonymous callers own nothing: they can neither list buckets nor create one.
        let Some(bucket) = bucket.filter(|_| rule.target != Target::Service) else {
            return Err(denied());
        };
        if operation == "CreateBucket" {
            return Err(denied());
        }
        let action = match (version, rule.version_action) {
            (Some(_), Some(a)) => a,
            _ => rule.action,
        };
        if self.anonymous_allowed(ctx, req, bucket, key, version, rule, action)? {
            Ok(())
        } else {
            tracing::debug!(bucket, key, action, "s3: anonymous request denied");
            Err(denied())
        }
    }

    /// Whether AWS allows an anonymous `action` on `bucket` (and `key`): the bucket policy's
    /// explicit deny wins; then its allow (unless `RestrictPublicBuckets` restricts a public
    /// policy), else an `AllUsers` ACL grant (unless ACLs are disabled or public ACLs ignored).
    #[allow(clippy::too_many_arguments)]
    fn anonymous_allowed(
        &self,
        ctx: &RequestContext,
        req: &S3Request,
        bucket: &str,
        key: Option<&str>,
        version: Option<&str>,
        rule: &Rule,
        action: &str,
    ) -> S3Result<bool> {
        let b = self.bucket(bucket)?;
        let [_, ignore_public_acls, _, restrict_public_buckets] =
            b.public_access_block.unwrap_or([false; 4]);
        if let Some(text) = b.config.get("policy") {
            let compiled = self.policies.get(bucket, text);
            if let Some(policy) = &compiled.policy {
                let resource = match (rule.target, key) {
                    (Target::Object, Some(k)) => format!("{}/{k}", b.arn()),
                    _ => b.arn(),
                };
                let pctx = policy_context(ctx, req, action, &resource, &b.account);
                let decision = evaluate(&pctx, &PolicySet::default().with_resource(policy));
                match decision.outcome {
                    Outcome::ExplicitDeny => return Ok(false),
                    Outcome::Allowed if !(restrict_public_buckets && compiled.public) => {
                        return Ok(true);
                    }
                    _ => {}
                }
            }
        }
        if b.acls_disabled() || ignore_public_acls {
            return Ok(false);
        }
        let Some(permission) = rule.acl.permission() else {
            return Ok(false);
        };
        if !rule.acl.on_object() {
            return Ok(all_users_granted(crate::bucket::bucket_acl(&b), permission));
        }
        let Some(key) = key else {
            return Ok(false);
        };
        // A missing object grants nothing (and its absence is not revealed).
        Ok(match self.read_version(bucket, key, version) {
            Ok(v) => all_users_granted(v.acl.as_deref(), permission),
            Err(_) => false,
        })
    }

    /// For an anonymous read of a missing object: AWS answers `404` only to callers allowed to
    /// list the bucket (`s3:ListBucket`), `403 AccessDenied` to others.
    pub(crate) fn hide_missing(
        &self,
        ctx: &RequestContext,
        req: &S3Request,
        bucket: &str,
        error: S3Error,
    ) -> S3Error {
        let read = matches!(
            ctx.operation.as_deref(),
            Some(
                "GetObject"
                    | "HeadObject"
                    | "GetObjectAcl"
                    | "GetObjectTagging"
                    | "GetObjectAttributes"
                    | "WebsiteGetObject"
            )
        );
        if !read || !matches!(error, S3Error::NoSuchKey { .. }) {
            return error;
        }
        let Some(rule) = rule_for("ListObjects") else {
            return denied();
        };
        // The listing's own condition keys (s3:prefix) do not apply to a read.
        let listing = S3Request {
            method: req.method.clone(),
            bucket: Some(bucket.to_owned()),
            key: None,
            query: Vec::new(),
            headers: req.headers.clone(),
            chunk_signer: None,
            anonymous: true,
        };
        match self.anonymous_allowed(ctx, &listing, bucket, None, None, rule, rule.action) {
            Ok(true) => error,
            _ => denied(),
        }
    }

    /// `BlockPublicPolicy`: refuses to store a public bucket policy.
    pub(crate) fn check_block_public_policy(
        &self,
        ctx: &RequestContext,
        b: &BucketRecord,
        text: &str,
    ) -> S3Result<()> {
        let block = b.public_access_block.is_some_and(|flags| flags[2]);
        if block && is_public_policy(text) {
            return Err(S3Error::PolicyDenied(format!(
                "User: arn:{}:iam::{}:root is not authorized to perform: s3:PutBucketPolicy on resource: \"{}\" \
                 because public policies are blocked by the BlockPublicPolicy block public access setting.",
                ctx.partition(),
                ctx.account,
                b.arn()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_one_rule() {
        for (i, r) in RULES.iter().enumerate() {
            assert!(r.action.starts_with("s3:"), "{}", r.operation);
            assert!(
                RULES[i + 1..].iter().all(|o| o.operation != r.operation),
                "{} twice",
                r.operation
            );
        }
        assert_eq!(
            rule_for("HeadObject").map(|r| r.action),
            Some("s3:GetObject")
        );
        assert_eq!(
            rule_for("HeadBucket").map(|r| r.action),
            Some("s3:ListBucket")
        );
    }

    #[test]
    fn anonymous_requests() {
        let parts = |uri: &str, auth: bool| {
            let mut b = http::Request::builder().uri(uri);
            if auth {
                b = b.header("authorization", "AWS4-HMAC-SHA256 Credential=x");
            }
            b.body(()).map(|r| r.into_parts().0).ok()
        };
        let anonymous = |uri: &str, auth: bool| parts(uri, auth).is_some_and(|p| is_anonymous(&p));
        assert!(anonymous("/b/k", false));
        assert!(anonymous("/b/k?versionId=1&Signature=x", false));
        assert!(!anonymous("/b/k", true));
        assert!(!anonymous(
            "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab",
            false
        ));
        assert!(!anonymous(
            "/b/k?AWSAccessKeyId=AKID&Signature=x&Expires=1",
            false
        ));
        let field = |k: &str| (k.to_owned(), "v".to_owned());
        assert!(form_is_signed(&[field("X-Amz-Signature")]));
        assert!(form_is_signed(&[
            field("AWSAccessKeyId"),
            field("signature")
        ]));
        assert!(!form_is_signed(&[field("key"), field("policy")]));
    }

    #[test]
    fn public_policies() {
        let doc = |principal: &str, condition: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},
                "Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"{condition}}}]}}"#
            )
        };
        assert!(is_public_policy(&doc(r#""*""#, "")));
        assert!(is_public_policy(&doc(r#"{"AWS":["*"]}"#, "")));
        assert!(!is_public_policy(&doc(
            r#"{"AWS":"arn:aws:iam::111122223333:root"}"#,
            ""
        )));
        assert!(!is_public_policy(&doc(
            r#""*""#,
            r#","Condition":{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}"#
        )));
        assert!(is_public_policy(&doc(
            r#""*""#,
            r#","Condition":{"StringLike":{"aws:Referer":"https://example.com/*"}}"#
        )));
        let deny =
            r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}"#;
        assert!(!is_public_policy(deny));
    }

    #[test]
    fn acl_grants_to_all_users() {
        assert!(all_users_granted(Some("public-read"), "READ"));
        assert!(!all_users_granted(Some("public-read"), "WRITE"));
        assert!(all_users_granted(Some("public-read-write"), "WRITE"));
        assert!(!all_users_granted(Some("authenticated-read"), "READ"));
        assert!(!all_users_granted(None, "READ"));
        let doc = crate::acl::stored_document("owner", Some("public-read"));
        assert!(all_users_granted(Some(&doc), "READ"));
        assert!(!all_users_granted(Some(&doc), "WRITE"));
        let full = doc.replace(
            "<Permission>READ</Permission></Grant></Access",
            "<Permission>FULL_CONTROL</Permission></Grant></Access",
        );
        assert!(all_users_granted(Some(&full), "WRITE_ACP"));
    }

    #[test]
    fn anonymous_principal_matches_a_wildcard_policy() {
        let text = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/public/*"},
            {"Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/public/secret"}]}"#;
        let policy = Policy::parse("b", text, PolicyKind::Resource).ok();
        let Some(policy) = policy else {
            panic!("policy refused");
        };
        let decide = |resource: &str| {
            let ctx = PolicyContext::new(Principal::anonymous(), "s3:GetObject", resource)
                .with_resource_account("000000000000");
            evaluate(&ctx, &PolicySet::default().with_resource(&policy)).outcome
        };
        assert_eq!(decide("arn:aws:s3:::b/public/a"), Outcome::Allowed);
        assert_eq!(decide("arn:aws:s3:::b/private/a"), Outcome::ImplicitDeny);
        assert_eq!(
            decide("arn:aws:s3:::b/public/secret"),
            Outcome::ExplicitDeny
        );
    }
}

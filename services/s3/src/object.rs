//! Object operations: put (streamed to disk, MD5 and flexible checksums, aws-chunked, conditional
//! writes), get/head (ranges, conditionals, `response-*` overrides, checksum mode, versions), delete
//! (delete markers), DeleteObjects, copy, tagging and ACL.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use skyport_core::xml::XmlWriter;
use skyport_core::{Body, RequestContext, timefmt};

use crate::S3;
use crate::blob::{BlobStore, WriteOptions, Written};
use crate::bucket::read_doc;
use crate::checksum::{self, ALL, Algorithm};
use crate::error::{S3Error, S3Result};
use crate::lock;
use crate::model::{self, BucketRecord, ObjectRecord, Segment, StoredChecksum, Version};
use crate::validate::{self, TagOwner};
use crate::wire::{self, NS, S3Request};

/// A condition checked on the current version inside the commit transaction.
pub(crate) type WriteCheck = Box<dyn FnOnce(Option<&Version>) -> S3Result<()> + Send>;

/// Largest single PUT (5 GiB, as S3).
pub(crate) const MAX_PUT: u64 = 5 * 1024 * 1024 * 1024;

/// Content headers stored with an object and returned on GET/HEAD.
const CONTENT_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
    "x-amz-website-redirect-location",
];

/// How an upload's body is framed and which checksums to compute and verify.
pub(crate) struct Integrity {
    pub opts: WriteOptions,
    /// Checksum values sent in headers.
    pub declared: Vec<(Algorithm, String)>,
    /// The algorithm whose value comes in the aws-chunked trailer.
    pub trailer: Option<Algorithm>,
    pub content_md5: Option<String>,
    pub content_sha256: Option<String>,
}

impl Integrity {
    /// Reads the integrity headers of an upload request.
    pub fn from_request(req: &S3Request, max_len: u64) -> S3Result<Integrity> {
        let sha = req.h("x-amz-content-sha256").map(str::to_owned);
        let aws_chunked = req
            .h("content-encoding")
            .is_some_and(|v| v.split(',').any(|p| p.trim() == "aws-chunked"))
            || sha.as_deref().is_some_and(|s| s.starts_with("STREAMING-"));
        let expected_len = if aws_chunked {
            match req.h("x-amz-decoded-content-length") {
                Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                    S3Error::argument(
                        "Invalid x-amz-decoded-content-length",
                        "x-amz-decoded-content-length",
                        v,
                    )
                })?),
                None => None,
            }
        } else {
            req.h("content-length").and_then(|v| v.trim().parse().ok())
        };
        if let Some(len) = expected_len
            && len > max_len
        {
            return Err(S3Error::EntityTooLarge { size: len });
        }
        let mut declared = Vec::new();
        for alg in ALL {
            if let Some(v) = req.h(alg.header()) {
                if !alg.valid_value(v) {
                    return Err(S3Error::request(format!(
                        "Value for {} header is invalid.",
                        alg.header()
                    )));
                }
                declared.push((alg, v.trim().to_owned()));
            }
        }
        if declared.len() > 1 {
            return Err(S3Error::request(
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
            ));
        }
        let trailer = req
            .h("x-amz-trailer")
            .and_then(|t| t.trim().strip_prefix("x-amz-checksum-"))
            .and_then(Algorithm::parse);
        let named = req
            .h("x-amz-sdk-checksum-algorithm")
            .or_else(|| req.h("x-amz-checksum-algorithm"));
        let named = match named {
            Some(n) => Some(Algorithm::parse(n).ok_or_else(|| {
                S3Error::request("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
            })?),
            None => None,
        };
        let mut algorithms: Vec<Algorithm> = declared.iter().map(|(a, _)| *a).collect();
        for a in trailer.into_iter().chain(named) {
            if !algorithms.contains(&a) {
                algorithms.push(a);
            }
        }
        if algorithms.is_empty() {
            // S3 computes a CRC64NVME for every object that arrives without a checksum.
            algorithms.push(Algorithm::Crc64Nvme);
        }
        let content_md5 = req.h("content-md5").map(|v| v.trim().to_owned());
        if let Some(md5) = &content_md5
            && checksum::b64_decode(md5).is_none_or(|raw| raw.len() != 16)
        {
            return Err(S3Error::InvalidDigest {
                content_md5: md5.clone(),
            });
        }
        let content_sha256 =
            sha.filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()));
        Ok(Integrity {
            opts: WriteOptions {
                aws_chunked,
                expected_len,
                algorithms,
                sha256_hex: content_sha256.is_some(),
                max_len,
                signer: req.chunk_signer.clone(),
            },
            declared,
            trailer,
            content_md5,
            content_sha256,
        })
    }

    /// Checks the digests of a written body; returns the checksum to store.
    pub fn verify(&self, w: &Written) -> S3Result<Option<(Algorithm, String)>> {
        if let Some(expected) = &self.content_md5 {
            let calculated = checksum::hex_to_base64(&w.md5_hex);
            if *expected != calculated {
                return Err(S3Error::BadDigest {
                    expected: expected.clone(),
                    calculated,
                });
            }
        }
        if let (Some(client), Some(computed)) = (&self.content_sha256, &w.sha256_hex)
            && !client.eq_ignore_ascii_case(computed)
        {
            return Err(S3Error::ContentSha256Mismatch {
                client: client.clone(),
                computed: computed.clone(),
            });
        }
        let mut expected: Vec<(Algorithm, String)> = self.declared.clone();
        if let Some(alg) = self.trailer {
            let value = w
                .trailers
                .iter()
                .find(|(n, _)| n == alg.header())
                .map(|(_, v)| v.clone());
            match value {
                Some(v) => expected.push((alg, v)),
                None => {
                    return Err(S3Error::request(format!(
                        "The trailing checksum {} was declared but not sent",
                        alg.header()
                    )));
                }
            }
        }
        for (alg, value) in &expected {
            let computed = w.checksums.iter().find(|(a, _)| a == alg).map(|(_, v)| v);
            if computed != Some(value) {
                return Err(S3Error::ChecksumMismatch {
                    algorithm: alg.name(),
                });
            }
        }
        let chosen = expected
            .first()
            .map(|(a, _)| *a)
            .or_else(|| self.opts.algorithms.first().copied());
        Ok(chosen.and_then(|a| {
            w.checksums
                .iter()
                .find(|(x, _)| *x == a)
                .map(|(a, v)| (*a, v.clone()))
        }))
    }
}

/// The version fields that come from request headers (content headers, metadata, tags, class, SSE;
/// encryption falls back to the bucket's default).
pub(crate) fn template_from(req: &S3Request, b: &BucketRecord) -> S3Result<Version> {
    let mut v = Version {
        acl: crate::acl::from_headers(req, &crate::canonical_id(&b.account))?,
        ..Version::new("null".into(), model::now_ms())
    };
    (v.retention, v.legal_hold) = lock::from_headers(req)?;
    apply_content_headers(&mut v, &req.headers);
    if let Some(class) = req.h("x-amz-storage-class") {
        let valid = [
            "STANDARD",
            "REDUCED_REDUNDANCY",
            "STANDARD_IA",
            "ONEZONE_IA",
            "INTELLIGENT_TIERING",
            "GLACIER",
            "DEEP_ARCHIVE",
            "OUTPOSTS",
            "GLACIER_IR",
            "SNOW",
            "EXPRESS_ONEZONE",
        ];
        if !valid.contains(&class) {
            return Err(S3Error::InvalidStorageClass);
        }
        if class != "STANDARD" {
            v.storage_class = Some(class.to_owned());
        }
    }
    if let Some(t) = req.h("x-amz-tagging") {
        v.tags = parse_tagging_header(t)?;
    }
    v.sse = crate::sse::for_write(req, b)?;
    Ok(v)
}

fn apply_content_headers(v: &mut Version, headers: &HeaderMap) {
    v.headers.clear();
    v.metadata.clear();
    for name in CONTENT_HEADERS {
        if let Some(val) = headers.get(*name).and_then(|x| x.to_str().ok()) {
            let val = if *name == "content-encoding" {
                let rest: Vec<&str> = val
                    .split(',')
                    .map(str::trim)
                    .filter(|p| *p != "aws-chunked" && !p.is_empty())
                    .collect();
                if rest.is_empty() {
                    continue;
                }
                rest.join(",")
            } else {
                val.to_owned()
            };
            v.headers.push(((*name).to_owned(), val));
        }
    }
    for (name, val) in headers {
        if let Some(meta) = name.as_str().strip_prefix("x-amz-meta-") {
            v.metadata
                .push((meta.to_owned(), wire::decode_metadata(val.as_bytes())));
        }
    }
}

fn parse_tagging_header(text: &str) -> S3Result<Vec<(String, String)>> {
    let tags: Vec<(String, String)> = form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    validate::tags(&tags, TagOwner::Object)?;
    Ok(tags)
}

/// The ACL a write sets (`acl`, from [`template_from`]): refused on a bucket with ACLs disabled
/// (`BucketOwnerEnforced`) unless it only gives the bucket owner full control (`400
/// AccessControlListNotSupported`), then refused when public while the bucket's public access block
/// has `BlockPublicAcls` (`403 AccessDenied`), in that order, as in S3.
pub(crate) fn check_write_acl(b: &BucketRecord, acl: Option<&str>) -> S3Result<()> {
    if b.acls_disabled() && acl.is_some_and(|a| a != "bucket-owner-full-control") {
        return Err(S3Error::AclNotSupported);
    }
    crate::acl::check_block_public_acls(b, acl)
}

/// Whether a write answers with `x-amz-version-id`: only when versioning is enabled (a suspended
/// bucket writes `null` versions and says nothing about them).
pub(crate) fn write_shows_version(b: &BucketRecord) -> bool {
    b.versioning.as_deref() == Some("Enabled")
}

/// Writes an object's response headers.
pub(crate) fn object_headers(v: &Version, h: &mut HeaderMap, versioned: bool) {
    wire::set(h, "etag", &v.quoted_etag());
    wire::set(
        h,
        "last-modified",
        &timefmt::http_date(model::time_of(v.last_modified_ms)),
    );
    if !v.headers.iter().any(|(n, _)| n == "content-type") {
        wire::set(h, "content-type", "binary/octet-stream");
    }
    for (n, val) in &v.headers {
        wire::set(h, n, val);
    }
    for (n, val) in &v.metadata {
        wire::set(h, &format!("x-amz-meta-{n}"), &wire::encode_metadata(val));
    }
    for (n, val) in &v.sse {
        wire::set(h, n, val);
    }
    if let Some(class) = &v.storage_class {
        wire::set(h, "x-amz-storage-class", class);
    }
    if let Some(restore) = crate::restore::header(v) {
        wire::set(h, "x-amz-restore", &restore);
    }
    if versioned {
        wire::set(h, "x-amz-version-id", &v.version_id);
    }
    if !v.tags.is_empty() {
        wire::set(h, "x-amz-tagging-count", &v.tags.len().to_string());
    }
    lock::headers(v, h);
}

fn checksum_headers(v: &Version, h: &mut HeaderMap) {
    if let Some(c) = &v.checksum {
        wire::set(h, c.algorithm.header(), &c.value);
        wire::set(h, "x-amz-checksum-type", &c.kind);
    }
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t.trim_matches('"') == etag
    })
}

/// Evaluates `If-*` preconditions (GET/HEAD flavour, or the copy-source flavour with `prefix`).
pub(crate) fn preconditions(
    req: &S3Request,
    prefix: &str,
    v: &Version,
    read: bool,
) -> S3Result<()> {
    let hdr = |n: &str| req.h(&format!("{prefix}{n}")).map(str::to_owned);
    let modified_s = v.last_modified_ms / 1000;
    let since = |t: &str| {
        wire::parse_http_date(t).map(|d| {
            d.duration_since(std::time::UNIX_EPOCH)
                .map(|x| x.as_secs())
                .unwrap_or(0)
        })
    };
    // A failed copy-source condition names its header.
    let name = |plain: &'static str, copy: &'static str| if read { plain } else { copy };
    let if_match = hdr("if-match");
    if let Some(m) = &if_match {
        if !etag_matches(m, &v.etag) {
            return Err(S3Error::PreconditionFailed {
                condition: name("If-Match", "x-amz-copy-source-If-Match"),
            });
        }
    } else if let Some(t) = hdr("if-unmodified-since")
        && since(&t).is_some_and(|s| modified_s > s)
    {
        return Err(S3Error::PreconditionFailed {
            condition: name(
                "If-Unmodified-Since",
                "x-amz-copy-source-If-Unmodified-Since",
            ),
        });
    }
    let not_modified = |condition: &'static str| {
        if read {
            S3Error::NotModified {
                etag: v.quoted_etag(),
                last_modified: timefmt::http_date(model::time_of(v.last_modified_ms)),
            }
        } else {
            S3Error::PreconditionFailed { condition }
        }
    };
    if let Some(m) = hdr("if-none-match") {
        if etag_matches(&m, &v.etag) {
            return Err(not_modified("x-amz-copy-source-If-None-Match"));
        }
    } else if let Some(t) = hdr("if-modified-since") {
        let future = wire::parse_http_date(&t).is_some_and(|d| d > std::time::SystemTime::now());
        if !future && since(&t).is_some_and(|s| modified_s <= s) {
            return Err(not_modified("x-amz-copy-source-If-Modified-Since"));
        }
    }
    Ok(())
}

/// The conditions of a write on the object it replaces: `If-None-Match: *` (no current object) and
/// `If-Match` (the current object's ETag). PutObject, CopyObject (on the destination) and
/// CompleteMultipartUpload take them.
pub(crate) struct WriteConditions {
    if_none_match: bool,
    if_match: Option<String>,
}

impl WriteConditions {
    /// The request's write conditions, if any.
    pub fn from_request(req: &S3Request) -> S3Result<Option<WriteConditions>> {
        let (inm, im) = (req.h("if-none-match"), req.h("if-match"));
        if inm.is_none() && im.is_none() {
            return Ok(None);
        }
        if inm.is_some_and(|v| v.trim() != "*") {
            return Err(S3Error::NotImplemented {
                message: "A header you provided implies functionality that is not implemented"
                    .into(),
            });
        }
        Ok(Some(WriteConditions {
            if_none_match: inm.is_some(),
            if_match: im.map(str::to_owned),
        }))
    }

    /// Checks the conditions against the current version (`None`: no object, or a delete marker).
    pub fn check(&self, key: &str, current: Option<&Version>) -> S3Result<()> {
        if self.if_none_match && current.is_some() {
            return Err(S3Error::PreconditionFailed {
                condition: "If-None-Match",
            });
        }
        if let Some(m) = &self.if_match {
            match current {
                Some(v) if etag_matches(m, &v.etag) => {}
                Some(_) => {
                    return Err(S3Error::PreconditionFailed {
                        condition: "If-Match",
                    });
                }
                None => {
                    return Err(S3Error::NoSuchKey {
                        key: key.to_owned(),
                        delete_marker: None,
                    });
                }
            }
        }
        Ok(())
    }

    /// The check to run inside the commit transaction.
    pub fn into_check(self, key: &str) -> WriteCheck {
        let key = key.to_owned();
        Box::new(move |current: Option<&Version>| self.check(&key, current))
    }
}

/// The conditions of a delete on the version it removes (without a version id, the current one):
/// `If-Match` (ETag), `x-amz-if-match-last-modified-time` and `x-amz-if-match-size` on DeleteObject,
/// `ETag`, `LastModifiedTime` and `Size` per object in DeleteObjects.
#[derive(Debug, Default, Clone)]
pub(crate) struct DeleteConditions {
    etag: Option<String>,
    modified_s: Option<u64>,
    size: Option<u64>,
}

impl DeleteConditions {
    fn is_empty(&self) -> bool {
        self.etag.is_none() && self.modified_s.is_none() && self.size.is_none()
    }

    fn from_headers(req: &S3Request) -> S3Result<DeleteConditions> {
        let modified_s = match req.h("x-amz-if-match-last-modified-time") {
            None => None,
            Some(t) => Some(
                wire::parse_http_date(t)
                    .or_else(|| timefmt::parse_rfc3339(t.trim()))
                    .and_then(|d| d.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs())
                    .ok_or_else(|| {
                        S3Error::argument(
                            "Invalid value for x-amz-if-match-last-modified-time",
                            "x-amz-if-match-last-modified-time",
                            t,
                        )
                    })?,
            ),
        };
        let size = match req.h("x-amz-if-match-size") {
            None => None,
            Some(t) => Some(t.trim().parse::<u64>().map_err(|_| {
                S3Error::argument(
                    "Invalid value for x-amz-if-match-size",
                    "x-amz-if-match-size",
                    t,
                )
            })?),
        };
        Ok(DeleteConditions {
            etag: req.h("if-match").map(str::to_owned),
            modified_s,
            size,
        })
    }

    fn from_object(o: &wire::XmlNode) -> S3Result<DeleteConditions> {
        // An RFC 822 date in the model (`LastModifiedTime`); ISO 8601 is taken too.
        let modified_s = match o.text_of("LastModifiedTime") {
            None => None,
            Some(t) => Some(
                wire::parse_http_date(t)
                    .or_else(|| timefmt::parse_rfc3339(t.trim()))
                    .and_then(|d| d.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs())
                    .ok_or(S3Error::MalformedXml)?,
            ),
        };
        let size = match o.text_of("Size") {
            None => None,
            Some(t) => Some(t.trim().parse::<u64>().map_err(|_| S3Error::MalformedXml)?),
        };
        Ok(DeleteConditions {
            etag: o.text_of("ETag").map(str::to_owned),
            modified_s,
            size,
        })
    }

    /// Checks the conditions against the version a delete removes (`None`: none, or a marker).
    fn check(&self, key: &str, target: Option<&Version>) -> S3Result<()> {
        let Some(v) = target else {
            return Err(S3Error::NoSuchKey {
                key: key.to_owned(),
                delete_marker: None,
            });
        };
        if let Some(m) = &self.etag
            && !etag_matches(m, &v.etag)
        {
            return Err(S3Error::PreconditionFailed {
                condition: "If-Match",
            });
        }
        if self
            .modified_s
            .is_some_and(|s| s != v.last_modified_ms / 1000)
        {
            return Err(S3Error::PreconditionFailed {
                condition: "x-amz-if-match-last-modified-time",
            });
        }
        if self.size.is_some_and(|n| n != v.size) {
            return Err(S3Error::PreconditionFailed {
                condition: "x-amz-if-match-size",
            });
        }
        Ok(())
    }
}

/// Parses `bytes=a-b` / `bytes=a-` / `bytes=-n` into (start, len); `None` when the header is ignored.
fn parse_range(text: &str, size: u64) -> S3Result<Option<(u64, u64)>> {
    let Some(spec) = text.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let invalid = || S3Error::InvalidRange {
        range: text.to_owned(),
        size,
    };
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(invalid());
        }
        let n = n.min(size);
        return Ok(Some((size - n, n)));
    }
    let Ok(start) = a.parse::<u64>() else {
        return Ok(None);
    };
    let end = if b.is_empty() {
        None
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => Some(e),
            _ => return Ok(None),
        }
    };
    if start >= size {
        return Err(invalid());
    }
    let end = end.unwrap_or(size - 1).min(size - 1);
    Ok(Some((start, end - start + 1)))
}

impl S3 {
    /// Reads the object record.
    pub(crate) fn object(&self, bucket: &str, key: &str) -> S3Result<Option<ObjectRecord>> {
        Ok(self
            .store
            .get_json::<ObjectRecord>(model::OBJECTS, &model::object_key(bucket, key))?)
    }

    /// The current version of a key (`None` when there is none or it is a delete marker).
    pub(crate) fn current_version(&self, bucket: &str, key: &str) -> S3Result<Option<Version>> {
        Ok(self
            .object(bucket, key)?
            .and_then(|r| r.versions.into_iter().next())
            .filter(|v| !v.delete_marker))
    }

    /// The version a read addresses (`versionId` or the latest), or the AWS error.
    pub(crate) fn read_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<Version> {
        let rec = self.object(bucket, key)?;
        let no_key = || S3Error::NoSuchKey {
            key: key.to_owned(),
            delete_marker: None,
        };
        match version_id {
            Some(id) => {
                let v = rec
                    .and_then(|r| r.versions.into_iter().find(|v| v.version_id == id))
                    .ok_or_else(|| {
                        if id != "null" && !valid_version_id(id) {
                            S3Error::argument("Invalid version id specified", "versionId", id)
                        } else {
                            S3Error::NoSuchVersion {
                                key: key.to_owned(),
                                version: id.to_owned(),
                            }
                        }
                    })?;
                if v.delete_marker {
                    return Err(S3Error::DeleteMarkerMethod {
                        method: "GET",
                        version: v.version_id,
                        last_modified: timefmt::http_date(model::time_of(v.last_modified_ms)),
                    });
                }
                Ok(v)
            }
            None => {
                let v = rec
                    .and_then(|r| r.versions.into_iter().next())
                    .ok_or_else(no_key)?;
                if v.delete_marker {
                    return Err(S3Error::NoSuchKey {
                        key: key.to_owned(),
                        delete_marker: Some(v.version_id),
                    });
                }
                Ok(v)
            }
        }
    }

    /// Records a new version of `key` (replacing the `null` version unless versioning is enabled);
    /// `check` runs inside the transaction on the current version (conditional writes). Blobs of replaced
    /// versions are removed after the commit.
    /// Makes a received body `v`'s data: its size, ETag, first checksum (a full-object one) and its one
    /// segment, the body committed to the blob store (for bodies received whole: POST uploads, log
    /// objects).
    pub(crate) async fn commit_written(
        &self,
        v: &mut Version,
        written: crate::blob::Written,
    ) -> S3Result<()> {
        v.size = written.size;
        v.etag = written.md5_hex.clone();
        v.checksum = written
            .checksums
            .first()
            .map(|(algorithm, value)| StoredChecksum {
                algorithm: *algorithm,
                value: value.clone(),
                kind: "FULL_OBJECT".into(),
            });
        let size = v.size;
        let blob = self.blobs.commit(written).await?;
        v.segments = vec![Segment { blob, size }];
        Ok(())
    }

    pub(crate) async fn commit_version(
        &self,
        bucket: &BucketRecord,
        key: &str,
        mut version: Version,
        check: Option<WriteCheck>,
        inline: Option<(String, Bytes)>,
        upload: Option<String>,
    ) -> S3Result<Version> {
        // The blobs of a failed write go, except an upload's parts: the upload keeps them.
        let owns_blobs = upload.is_none();
        if let Err(e) = lock::check_write(bucket, &version) {
            if owns_blobs {
                self.blobs.remove(version.blobs().collect::<Vec<_>>());
            }
            return Err(e);
        }
        lock::apply_default(bucket, &mut version);
        let enabled = bucket.versioning.as_deref() == Some("Enabled");
        version.version_id = if enabled {
            model::new_version_id()
        } else {
            "null".into()
        };
        let okey = model::object_key(&bucket.name, key);
        let bname = bucket.name.clone();
        let stored = version.clone();
        let blobs = self.blobs.clone();
        let outcome = self
            .store
            .write_async(move |w| {
                if w.get(model::BUCKETS, &bname)?.is_none() {
                    return Ok(Err(S3Error::NoSuchBucket { bucket: bname }));
                }
                let mut rec: ObjectRecord = match w.get(model::OBJECTS, &okey)? {
                    Some(raw) => serde_json::from_slice(&raw)?,
                    None => ObjectRecord::default(),
                };
                if let Some(check) = check {
                    let current = rec.versions.first().filter(|v| !v.delete_marker);
                    if let Err(e) = check(current) {
                        return Ok(Err(e));
                    }
                }
                // A completed upload is consumed in the same transaction (after the checks: a failed
                // condition leaves it in place), so a concurrent complete cannot reuse its parts.
                if let Some(upload_key) = &upload
                    && !w.delete(model::UPLOADS, upload_key)?
                {
                    let upload_id = upload_key
                        .rsplit_once('/')
                        .map(|(_, id)| id.to_owned())
                        .unwrap_or_default();
                    return Ok(Err(S3Error::NoSuchUpload { upload_id }));
                }
                let mut removed = Vec::new();
                if !enabled {
                    rec.versions.retain(|v| {
                        if v.version_id == "null" {
                            removed.extend(v.blobs());
                            false
                        } else {
                            true
                        }
                    });
                }
                rec.versions.insert(0, stored);
                w.put_json(model::OBJECTS, &okey, &rec)?;
                // One transaction for the new inline body, the metadata and the replaced inline bodies.
                if let Some((id, bytes)) = &inline {
                    BlobStore::stage_inline(w, id, bytes)?;
                }
                let removed = blobs.unstage_inline(w, removed)?;
                Ok(Ok(removed))
            })
            .await?;
        match outcome {
            Ok(removed) => {
                self.blobs.remove(removed);
                Ok(version)
            }
            Err(e) => {
                if owns_blobs {
                    self.blobs.remove(version.blobs().collect::<Vec<_>>());
                }
                Err(e)
            }
        }
    }

    pub(crate) async fn put_object(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
        body: Body,
    ) -> S3Result<Response<Body>> {
        let b = self.bucket(bucket)?;
        if req.h("content-length").is_none()
            && req.h("transfer-encoding").is_none()
            && req.h("x-amz-decoded-content-length").is_none()
        {
            return Err(S3Error::MissingContentLength);
        }
        let mut template = template_from(req, &b)?;
        lock::check_write(&b, &template)?;
        check_write_acl(&b, template.acl.as_deref())?;
        let integrity = Integrity::from_request(req, MAX_PUT)?;
        let conditions = WriteConditions::from_request(req)?;
        // Fail fast before streaming the body; checked again atomically at commit.
        if let Some(c) = &conditions {
            c.check(key, self.current_version(bucket, key)?.as_ref())?;
        }
        let written = self.blobs.write(body, integrity.opts_clone()).await?;
        let chosen = integrity.verify(&written)?;
        template.size = written.size;
        template.etag = written.md5_hex.clone();
        template.checksum = chosen.map(|(algorithm, value)| StoredChecksum {
            algorithm,
            value,
            kind: "FULL_OBJECT".into(),
        });
        let (blob, inline) = self.blobs.place(written).await?;
        let inline = inline.map(|bytes| (blob.clone(), bytes));
        template.segments = vec![Segment {
            blob,
            size: template.size,
        }];
        template.last_modified_ms = model::now_ms();
        let check = conditions.map(|c| c.into_check(key));
        let v = self
            .commit_version(&b, key, template, check, inline, None)
            .await?;
        let mut r = wire::empty(StatusCode::OK);
        let h = r.headers_mut();
        wire::set(h, "etag", &v.quoted_etag());
        for (n, val) in &v.sse {
            wire::set(h, n, val);
        }
        if write_shows_version(&b) {
            wire::set(h, "x-amz-version-id", &v.version_id);
        }
        self.expiration_header(&b, key, &v, h);
        checksum_headers(&v, h);
        Ok(r)
    }

    /// Sets `x-amz-expiration` when a lifecycle rule expires this current version.
    pub(crate) fn expiration_header(
        &self,
        b: &BucketRecord,
        key: &str,
        v: &Version,
        h: &mut HeaderMap,
    ) {
        if let Some(value) = crate::lifecycle::expiration_header(b, key, v, self.lifecycle.day) {
            wire::set(h, "x-amz-expiration", &value);
        }
    }

    /// GetObject and HeadObject; `record` is the bucket's, when authorization read it already.
    pub(crate) fn get_object(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
        head: bool,
        record: Option<BucketRecord>,
    ) -> S3Result<Response<Body>> {
        let b = match record {
            Some(b) => b,
            None => self.bucket(bucket)?,
        };
        let v = self.read_version(bucket, key, req.q("versionId"))?;
        if !head {
            crate::restore::check_readable(&v, false)?;
        }
        crate::sse::check_read(req, "", &v)?;
        preconditions(req, "", &v, true)?;
        if req.q("partNumber").is_some() && req.h("range").is_some() {
            return Err(S3Error::request(
                "Cannot specify both Range header and partNumber query parameter",
            ));
        }
        let mut range = match req.h("range") {
            Some(r) => parse_range(r, v.size)?,
            None => None,
        };
        let mut part_count = None;
        if let Some(pn) = req.q("partNumber") {
            let n: usize = pn
                .parse()
                .ok()
                .filter(|n| (1..=10000).contains(n))
                .ok_or_else(|| {
                    S3Error::argument(
                        "Part number must be an integer between 1 and 10000, inclusive",
                        "partNumber",
                        pn,
                    )
                })?;
            if v.parts.is_empty() {
                if n != 1 {
                    return Err(S3Error::InvalidPartNumber);
                }
                // Part 1 of a single-part object is all of it, answered as a range (206).
                if v.size > 0 {
                    range = Some((0, v.size));
                }
            } else {
                let size = *v.parts.get(n - 1).ok_or(S3Error::InvalidPartNumber)?;
                let start: u64 = v.parts[..n - 1].iter().sum();
                range = Some((start, size));
                part_count = Some(v.parts.len());
            }
        }
        let (status, offset, len) = match range {
            Some((start, len)) => (StatusCode::PARTIAL_CONTENT, start, len),
            None => (StatusCode::OK, 0, v.size),
        };
        let body = if head || len == 0 {
            skyport_core::body::empty()
        } else {
            self.blobs.read(&v.segments, offset, len)
        };
        let mut r = Response::new(body);
        *r.status_mut() = status;
        let h = r.headers_mut();
        object_headers(&v, h, b.versioning.is_some());
        if req.q("versionId").is_none() {
            self.expiration_header(&b, key, &v, h);
        }
        wire::set(h, "accept-ranges", "bytes");
        wire::set(h, "content-length", &len.to_string());
        if status == StatusCode::PARTIAL_CONTENT {
            wire::set(
                h,
                "content-range",
                &format!(
                    "bytes {}-{}/{}",
                    offset,
                    offset + len.saturating_sub(1),
                    v.size
                ),
            );
        }
        if let Some(n) = part_count {
            wire::set(h, "x-amz-mp-parts-count", &n.to_string());
        }
        let full = range.is_none() || req.q("partNumber").is_some() && v.parts.len() <= 1;
        if req
            .h("x-amz-checksum-mode")
            .is_some_and(|m| m.eq_ignore_ascii_case("enabled"))
            && full
        {
            checksum_headers(&v, h);
        }
        for (q, hname) in [
            ("response-content-type", "content-type"),
            ("response-content-language", "content-language"),
            ("response-expires", "expires"),
            ("response-cache-control", "cache-control"),
            ("response-content-disposition", "content-disposition"),
            ("response-content-encoding", "content-encoding"),
        ] {
            if let Some(val) = req.q(q) {
                wire::set(h, hname, val);
            }
        }
        Ok(r)
    }

    /// `GetObjectAttributes`: the attributes named in `x-amz-object-attributes` (ETag, Checksum,
    /// ObjectParts, StorageClass, ObjectSize) of the latest version or `versionId`; the parts of a
    /// multipart object are paged with `x-amz-max-parts` / `x-amz-part-number-marker` and, as in S3,
    /// listed only when the upload had a checksum algorithm (otherwise just their count).
    pub(crate) fn get_object_attributes(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
    ) -> S3Result<Response<Body>> {
        const NAMES: [&str; 5] = [
            "ETag",
            "Checksum",
            "ObjectParts",
            "StorageClass",
            "ObjectSize",
        ];
        let b = self.bucket(bucket)?;
        let mut wanted: Vec<&str> = Vec::new();
        for value in req.headers.get_all("x-amz-object-attributes") {
            let text = value.to_str().unwrap_or("");
            for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if !NAMES.contains(&name) {
                    return Err(S3Error::argument(
                        "Invalid attribute name specified.",
                        "x-amz-object-attributes",
                        name,
                    ));
                }
                wanted.push(name);
            }
        }
        if wanted.is_empty() {
            return Err(S3Error::request(
                "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty",
            ));
        }
        let number = |name: &str, default: u32| -> S3Result<u32> {
            match req.h(name) {
                None => Ok(default),
                Some(t) => t.trim().parse::<u32>().map_err(|_| {
                    S3Error::argument(
                        format!("Argument {name} must be an integer between 0 and 2147483647"),
                        name,
                        t,
                    )
                }),
            }
        };
        let max_parts = number("x-amz-max-parts", 1000)?.min(1000);
        let marker = number("x-amz-part-number-marker", 0)?;
        let v = self.read_version(bucket, key, req.q("versionId"))?;
        crate::sse::check_read(req, "", &v)?;
        let mut w = XmlWriter::with_declaration();
        w.start_ns("GetObjectAttributesResponse", NS);
        if wanted.contains(&"ETag") {
            w.leaf("ETag", &v.etag);
        }
        if wanted.contains(&"Checksum")
            && let Some(c) = &v.checksum
        {
            // The composite checksum of a multipart object without its `-N` suffix.
            let value = match c.value.rsplit_once('-') {
                Some((base, n)) if n.bytes().all(|b| b.is_ascii_digit()) => base,
                _ => c.value.as_str(),
            };
            w.start("Checksum")
                .leaf(c.algorithm.xml_element(), value)
                .leaf("ChecksumType", &c.kind)
                .end("Checksum");
        }
        if wanted.contains(&"ObjectParts") && !v.parts.is_empty() {
            w.start("ObjectParts")
                .leaf("PartsCount", &v.parts.len().to_string());
            if let Some(c) = v
                .checksum
                .as_ref()
                .filter(|_| v.part_checksums.len() == v.parts.len())
            {
                let numbers: Vec<u32> = if v.part_numbers.len() == v.parts.len() {
                    v.part_numbers.clone()
                } else {
                    (1..=v.parts.len() as u32).collect()
                };
                let after: Vec<usize> = (0..v.parts.len())
                    .filter(|&i| numbers[i] > marker)
                    .collect();
                let truncated = after.len() > max_parts as usize;
                let shown = &after[..after.len().min(max_parts as usize)];
                w.leaf("PartNumberMarker", &marker.to_string());
                if let Some(&last) = shown.last() {
                    w.leaf("NextPartNumberMarker", &numbers[last].to_string());
                }
                w.leaf("MaxParts", &max_parts.to_string())
                    .leaf("IsTruncated", if truncated { "true" } else { "false" });
                for &i in shown {
                    w.start("Part")
                        .leaf("PartNumber", &numbers[i].to_string())
                        .leaf("Size", &v.parts[i].to_string())
                        .leaf(c.algorithm.xml_element(), &v.part_checksums[i])
                        .end("Part");
                }
            }
            w.end("ObjectParts");
        }
        if wanted.contains(&"StorageClass") {
            w.leaf(
                "StorageClass",
                v.storage_class.as_deref().unwrap_or("STANDARD"),
            );
        }
        if wanted.contains(&"ObjectSize") {
            w.leaf("ObjectSize", &v.size.to_string());
        }
        w.end("GetObjectAttributesResponse");
        let mut r = wire::xml(StatusCode::OK, w.finish());
        let h = r.headers_mut();
        wire::set(
            h,
            "last-modified",
            &timefmt::http_date(model::time_of(v.last_modified_ms)),
        );
        if b.versioning.is_some() {
            wire::set(h, "x-amz-version-id", &v.version_id);
        }
        Ok(r)
    }

    pub(crate) async fn delete_object(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
    ) -> S3Result<Response<Body>> {
        let b = self.bucket(bucket)?;
        let conditions = DeleteConditions::from_headers(req)?;
        let (marker, version) = self
            .delete_one(
                &b,
                key,
                req.q("versionId").map(str::to_owned),
                lock::bypass(req),
                conditions,
            )
            .await?;
        let mut r = wire::empty(StatusCode::NO_CONTENT);
        if marker {
            wire::set(r.headers_mut(), "x-amz-delete-marker", "true");
        }
        if let Some(v) = version {
            wire::set(r.headers_mut(), "x-amz-version-id", &v);
        }
        Ok(r)
    }

    /// Deletes a key or one version; returns (is/was a delete marker, version id to report).
    async fn delete_one(
        &self,
        b: &BucketRecord,
        key: &str,
        version_id: Option<String>,
        bypass: bool,
        conditions: DeleteConditions,
    ) -> S3Result<(bool, Option<String>)> {
        if let Some(id) = &version_id
            && id != "null"
            && !valid_version_id(id)
        {
            return Err(S3Error::argument(
                "Invalid version id specified",
                "versionId",
                id,
            ));
        }
        let okey = model::object_key(&b.name, key);
        let versioning = b.versioning.clone();
        let key = key.to_owned();
        // A delete must work on a full disk: the store may use its space reserve.
        let outcome = self
            .store
            .write_freeing_async(move |w| {
                let mut rec: ObjectRecord = match w.get(model::OBJECTS, &okey)? {
                    Some(raw) => serde_json::from_slice(&raw)?,
                    None => ObjectRecord::default(),
                };
                if !conditions.is_empty() {
                    let target = match &version_id {
                        Some(id) => rec.versions.iter().find(|v| v.version_id == *id),
                        None => rec.versions.first(),
                    };
                    if let Err(e) = conditions.check(&key, target.filter(|v| !v.delete_marker)) {
                        return Ok(Err(e));
                    }
                }
                let mut removed = Vec::new();
                let result = match (&version_id, versioning.as_deref()) {
                    (Some(id), _) => {
                        if let Some(v) = rec.versions.iter().find(|v| v.version_id == *id)
                            && let Err(e) = lock::guard_delete(v, bypass)
                        {
                            return Ok(Err(e));
                        }
                        let mut marker = false;
                        rec.versions.retain(|v| {
                            if v.version_id == *id {
                                marker = v.delete_marker;
                                removed.extend(v.blobs());
                                false
                            } else {
                                true
                            }
                        });
                        (marker, Some(id.clone()))
                    }
                    (None, None) => {
                        for v in rec.versions.drain(..) {
                            removed.extend(v.blobs());
                        }
                        (false, None)
                    }
                    (None, Some(state)) => {
                        let id = if state == "Enabled" {
                            model::new_version_id()
                        } else {
                            rec.versions.retain(|v| {
                                if v.version_id == "null" {
                                    removed.extend(v.blobs());
                                    false
                                } else {
                                    true
                                }
                            });
                            "null".to_owned()
                        };
                        rec.versions
                            .insert(0, Version::delete_marker(id.clone(), model::now_ms()));
                        (true, Some(id))
                    }
                };
                if rec.versions.is_empty() {
                    w.delete(model::OBJECTS, &okey)?;
                } else {
                    w.put_json(model::OBJECTS, &okey, &rec)?;
                }
                Ok(Ok((result, removed)))
            })
            .await?;
        let (result, removed) = outcome?;
        self.blobs.remove(removed);
        Ok(result)
    }

    pub(crate) async fn delete_objects(
        &self,
        ctx: &RequestContext,
        req: &S3Request,
        bucket: &str,
        body: Body,
    ) -> S3Result<(Response<Body>, Vec<crate::notify::ObjectEvent>)> {
        let b = self.bucket(bucket)?;
        let mut events = Vec::new();
        let doc = read_doc(body).await?;
        if let Some(md5) = req.h("content-md5") {
            let calc = checksum::hex_to_base64(&checksum::md5_hex(&doc));
            if md5.trim() != calc {
                return Err(S3Error::BadDigest {
                    expected: md5.to_owned(),
                    calculated: calc,
                });
            }
        }
        let root = wire::parse_xml(&doc)?;
        if root.name != "Delete" {
            return Err(S3Error::MalformedXml);
        }
        let quiet = root
            .text_of("Quiet")
            .is_some_and(|q| q.eq_ignore_ascii_case("true"));
        let objects: Vec<_> = root.all("Object").collect();
        if objects.is_empty() || objects.len() > 1000 {
            return Err(S3Error::MalformedXml);
        }
        let bypass = lock::bypass(req);
        let mut w = XmlWriter::with_declaration();
        w.start_ns("DeleteResult", NS);
        for o in objects {
            let key = o.text_of("Key").unwrap_or("").to_owned();
            let vid = o.text_of("VersionId").map(str::to_owned);
            let allowed = self.authorize_target(
                ctx,
                req,
                "DeleteObject",
                Some(bucket),
                Some(&key),
                vid.as_deref(),
            );
            let outcome = match allowed.and_then(|_| DeleteConditions::from_object(o)) {
                Ok(conditions) => {
                    self.delete_one(&b, &key, vid.clone(), bypass, conditions)
                        .await
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok((marker, version)) => {
                    events.push(crate::notify::ObjectEvent {
                        name: if marker && vid.is_none() {
                            "ObjectRemoved:DeleteMarkerCreated"
                        } else {
                            "ObjectRemoved:Delete"
                        },
                        key: key.clone(),
                        size: None,
                        etag: None,
                        restore: None,
                        version_id: version.clone(),
                    });
                    if quiet {
                        continue;
                    }
                    w.start("Deleted").leaf("Key", &key);
                    if let Some(v) = &vid {
                        w.leaf("VersionId", v);
                    }
                    if marker {
                        w.leaf("DeleteMarker", "true");
                        if let Some(v) = &version {
                            w.leaf("DeleteMarkerVersionId", v);
                        }
                    }
                    w.end("Deleted");
                }
                Err(e) => {
                    let aws = e.into_aws();
                    w.start("Error").leaf("Key", &key);
                    w.opt_leaf("VersionId", vid.as_deref());
                    w.leaf("Code", &aws.code)
                        .leaf("Message", &aws.message)
                        .end("Error");
                }
            }
        }
        w.end("DeleteResult");
        Ok((wire::xml(StatusCode::OK, w.finish()), events))
    }

    /// Parses `x-amz-copy-source` into (bucket, key, version).
    pub(crate) fn copy_source(req: &S3Request) -> S3Result<(String, String, Option<String>)> {
        let raw = req.h("x-amz-copy-source").unwrap_or("");
        let (path, query) = match raw.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (raw, None),
        };
        let decoded = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| {
                S3Error::argument("Invalid copy source encoding", "x-amz-copy-source", raw)
            })?;
        let decoded = decoded.trim_start_matches('/');
        let (bucket, key) = decoded.split_once('/').ok_or_else(|| {
            S3Error::argument("Invalid copy source object key", "x-amz-copy-source", raw)
        })?;
        if key.is_empty() {
            return Err(S3Error::argument(
                "Invalid copy source object key",
                "x-amz-copy-source",
                raw,
            ));
        }
        let version = query.and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "versionId")
                .map(|(_, v)| v.into_owned())
        });
        Ok((bucket.to_owned(), key.to_owned(), version))
    }

    pub(crate) async fn copy_object(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
    ) -> S3Result<Response<Body>> {
        let b = self.bucket(bucket)?;
        let (sb, sk, sv) = Self::copy_source(req)?;
        let src_bucket = self.bucket(&sb)?;
        let src = self.read_version(&sb, &sk, sv.as_deref())?;
        crate::restore::check_readable(&src, true)?;
        crate::sse::check_read(req, "x-amz-copy-source-", &src)?;
        preconditions(req, "x-amz-copy-source-", &src, false)?;
        let replace_meta = match req.h("x-amz-metadata-directive") {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(other) => {
                return Err(S3Error::argument(
                    "Unknown metadata directive.",
                    "x-amz-metadata-directive",
                    other,
                ));
            }
        };
        let replace_tags = match req.h("x-amz-tagging-directive") {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(other) => {
                return Err(S3Error::argument(
                    "Unknown tagging directive.",
                    "x-amz-tagging-directive",
                    other,
                ));
            }
        };
        let same = sb == bucket && sk == key;
        let changes = replace_meta
            || req.h("x-amz-storage-class").is_some()
            || req.h("x-amz-server-side-encryption").is_some()
            || req
                .h("x-amz-server-side-encryption-customer-algorithm")
                .is_some()
            || req.h("x-amz-website-redirect-location").is_some();
        if same && !changes && b.versioning.as_deref() != Some("Enabled") {
            return Err(S3Error::request(
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
            ));
        }
        let req_template = template_from(req, &b)?;
        lock::check_write(&b, &req_template)?;
        check_write_acl(&b, req_template.acl.as_deref())?;
        // If-Match / If-None-Match are about the destination (the source has its own headers).
        let conditions = WriteConditions::from_request(req)?;
        if let Some(c) = &conditions {
            c.check(key, self.current_version(bucket, key)?.as_ref())?;
        }
        let mut v = src.clone();
        // Lock settings and the ACL are the request's, never the source's (a copy is private
        // unless the request sets an ACL).
        v.acl = req_template.acl.clone();
        v.retention = req_template.retention.clone();
        v.legal_hold = req_template.legal_hold;
        if replace_meta {
            v.headers = req_template.headers.clone();
            v.metadata = req_template.metadata.clone();
        }
        if replace_tags {
            v.tags = req_template.tags.clone();
        }
        if req.h("x-amz-storage-class").is_some() {
            v.storage_class = req_template.storage_class.clone();
        } else {
            v.storage_class = None;
        }
        // The copy is encrypted as the request (or the bucket's default) says, never as the source.
        v.sse = req_template.sse.clone();
        // A restored copy belongs to its archived version, not to copies made from it.
        v.restore_expiry_ms = None;
        // New blobs (hard links) so each version owns its files.
        let mut segments = Vec::new();
        for seg in &src.segments {
            segments.push(Segment {
                blob: self.blobs.duplicate(&seg.blob).await?,
                size: seg.size,
            });
        }
        v.segments = segments;
        if let Some(alg) = req
            .h("x-amz-checksum-algorithm")
            .and_then(Algorithm::parse)
            .filter(|a| v.checksum.as_ref().is_none_or(|c| c.algorithm != *a))
        {
            // Recompute the requested checksum over the data.
            let mut h = checksum::Hasher::new(alg);
            let mut body = self.blobs.read(&v.segments, 0, v.size);
            use http_body_util::BodyExt;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| S3Error::Internal(e.to_string()))?;
                if let Ok(d) = frame.into_data() {
                    h.update(&d);
                }
            }
            v.checksum = Some(StoredChecksum {
                algorithm: alg,
                value: h.finish(),
                kind: "FULL_OBJECT".into(),
            });
        }
        v.last_modified_ms = model::now_ms();
        v.upload_id = None;
        let check = conditions.map(|c| c.into_check(key));
        let v = self.commit_version(&b, key, v, check, None, None).await?;
        let mut w = XmlWriter::with_declaration();
        w.start_ns("CopyObjectResult", NS)
            .leaf("ETag", &v.quoted_etag())
            .leaf("LastModified", &model::iso(v.last_modified_ms));
        if let Some(c) = &v.checksum
            && c.kind == "FULL_OBJECT"
        {
            w.leaf("ChecksumType", &c.kind);
            w.leaf(c.algorithm.xml_element(), &c.value);
        }
        w.end("CopyObjectResult");
        let mut r = wire::xml(StatusCode::OK, w.finish());
        let h = r.headers_mut();
        if src_bucket.versioning.is_some() {
            wire::set(h, "x-amz-copy-source-version-id", &src.version_id);
        }
        if write_shows_version(&b) {
            wire::set(h, "x-amz-version-id", &v.version_id);
        }
        self.expiration_header(&b, key, &v, h);
        for (n, val) in &v.sse {
            wire::set(h, n, val);
        }
        Ok(r)
    }

    pub(crate) fn get_object_tagging(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
    ) -> S3Result<Response<Body>> {
        let b = self.bucket(bucket)?;
        let v = self.read_version(bucket, key, req.q("versionId"))?;
        // S3 returns the tag set sorted by key.
        let mut tags: Vec<&(String, String)> = v.tags.iter().collect();
        tags.sort();
        let mut r = wire::xml(StatusCode::OK, crate::bucket::tagging_doc(tags.into_iter()));
        if b.versioning.is_some() {
            wire::set(r.headers_mut(), "x-amz-version-id", &v.version_id);
        }
        Ok(r)
    }

    pub(crate) async fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<String>,
        f: impl FnOnce(&mut Version) -> S3Result<()> + Send + 'static,
    ) -> S3Result<String> {
        self.bucket(bucket)?;
        let okey = model::object_key(bucket, key);
        let key = key.to_owned();

        self.store
            .write_async(move |w| {
                let Some(raw) = w.get(model::OBJECTS, &okey)? else {
                    return Ok(Err(S3Error::NoSuchKey {
                        key,
                        delete_marker: None,
                    }));
                };
                let mut rec: ObjectRecord = serde_json::from_slice(&raw)?;
                let v = match &version_id {
                    Some(id) => rec.versions.iter_mut().find(|v| v.version_id == *id),
                    None => rec.versions.first_mut().filter(|v| !v.delete_marker),
                };
                let Some(v) = v else {
                    return Ok(Err(match version_id {
                        Some(id) => S3Error::NoSuchVersion { key, version: id },
                        None => S3Error::NoSuchKey {
                            key,
                            delete_marker: None,
                        },
                    }));
                };
                if let Err(e) = f(v) {
                    return Ok(Err(e));
                }
                let id = v.version_id.clone();
                w.put_json(model::OBJECTS, &okey, &rec)?;
                Ok(Ok(id))
            })
            .await?
    }

    pub(crate) async fn put_object_tagging(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
        body: Body,
    ) -> S3Result<Response<Body>> {
        let doc = read_doc(body).await?;
        let tags = validate::tagging_document(&doc, TagOwner::Object)?;
        let id = self
            .update_version(
                bucket,
                key,
                req.q("versionId").map(str::to_owned),
                move |v| {
                    v.tags = tags;
                    Ok(())
                },
            )
            .await?;
        let mut r = wire::empty(StatusCode::OK);
        wire::set(r.headers_mut(), "x-amz-version-id", &id);
        Ok(r)
    }

    pub(crate) async fn delete_object_tagging(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
    ) -> S3Result<Response<Body>> {
        let id = self
            .update_version(bucket, key, req.q("versionId").map(str::to_owned), |v| {
                v.tags.clear();
                Ok(())
            })
            .await?;
        let mut r = wire::empty(StatusCode::NO_CONTENT);
        wire::set(r.headers_mut(), "x-amz-version-id", &id);
        Ok(r)
    }

    pub(crate) fn get_object_acl(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
    ) -> S3Result<Response<Body>> {
        let b = self.bucket(bucket)?;
        let v = self.read_version(bucket, key, req.q("versionId"))?;
        let doc = crate::acl::stored_document(&crate::canonical_id(&b.account), v.acl.as_deref());
        Ok(wire::xml(StatusCode::OK, doc))
    }

    pub(crate) async fn put_object_acl(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
        body: Body,
    ) -> S3Result<Response<Body>> {
        let b = self.bucket(bucket)?;
        if b.acls_disabled() {
            return Err(S3Error::AclNotSupported);
        }
        let from_headers = crate::acl::from_headers(req, &crate::canonical_id(&b.account))?;
        let doc = read_doc(body).await?;
        let text = String::from_utf8(doc.to_vec()).map_err(|_| S3Error::MalformedXml)?;
        let acl = if text.trim().is_empty() {
            from_headers
        } else {
            crate::acl::validate(&doc)?;
            Some(text)
        };
        crate::acl::check_block_public_acls(&b, acl.as_deref())?;
        self.update_version(
            bucket,
            key,
            req.q("versionId").map(str::to_owned),
            move |v| {
                v.acl = acl;
                Ok(())
            },
        )
        .await?;
        Ok(wire::empty(StatusCode::OK))
    }
}

/// Version ids we mint: 32 chars of `[A-Za-z0-9._]`.
fn valid_version_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
}

impl Integrity {
    /// The write options (cloned, as the integrity is needed again after the write).
    pub fn opts_clone(&self) -> WriteOptions {
        WriteOptions {
            aws_chunked: self.opts.aws_chunked,
            expected_len: self.opts.expected_len,
            algorithms: self.opts.algorithms.clone(),
            sha256_hex: self.opts.sha256_hex,
            max_len: self.opts.max_len,
            signer: self.opts.signer.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-4", 10).unwrap(), Some((0, 5)));
        assert_eq!(parse_range("bytes=5-", 10).unwrap(), Some((5, 5)));
        assert_eq!(parse_range("bytes=-3", 10).unwrap(), Some((7, 3)));
        assert_eq!(parse_range("bytes=8-100", 10).unwrap(), Some((8, 2)));
        assert_eq!(parse_range("bytes=-30", 10).unwrap(), Some((0, 10)));
        assert!(parse_range("bytes=10-", 10).is_err());
        assert_eq!(parse_range("bytes=5-2", 10).unwrap(), None);
        assert_eq!(parse_range("items=1-2", 10).unwrap(), None);
    }
}

//! Multipart uploads: create, upload part (and part copy), complete (ETag `md5-of-md5s-N`, order, size
//! and part errors, composite or full-object checksums), abort, list parts, list uploads. A completed
//! object keeps its part files as segments, so completing never copies data.

use http::{Response, StatusCode};
use skyport_core::xml::XmlWriter;
use skyport_core::{Body, RequestContext};

use crate::bucket::read_doc;
use crate::checksum::{self, Algorithm};
use crate::error::{S3Error, S3Result};
use crate::model::{self, Part, Segment, StoredChecksum, Upload};
use crate::object::{
    Integrity, WriteConditions, check_write_acl, template_from, write_shows_version,
};
use crate::wire::{self, NS, S3Request};
use crate::{S3, canonical_id};

/// Smallest part except the last.
const MIN_PART: u64 = 5 * 1024 * 1024;

fn part_number(req: &S3Request) -> S3Result<u32> {
    let raw = req.q("partNumber").unwrap_or("");
    raw.parse::<u32>()
        .ok()
        .filter(|n| (1..=10000).contains(n))
        .ok_or_else(|| {
            S3Error::argument(
                "Part number must be an integer between 1 and 10000, inclusive",
                "partNumber",
                raw,
            )
        })
}

impl S3 {
    fn upload(&self, bucket: &str, upload_id: &str) -> S3Result<Upload> {
        self.bucket(bucket)?;
        self.store
            .get_json::<Upload>(model::UPLOADS, &model::object_key(bucket, upload_id))?
            .ok_or_else(|| S3Error::NoSuchUpload {
                upload_id: upload_id.to_owned(),
            })
    }

    pub(crate) async fn create_upload(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
    ) -> S3Result<Response<Body>> {
        let b = self.bucket(bucket)?;
        let template = template_from(req, &b)?;
        crate::lock::check_write(&b, &template)?;
        check_write_acl(&b, template.acl.as_deref())?;
        let algorithm = match req.h("x-amz-checksum-algorithm") {
            Some(a) => Some(Algorithm::parse(a).ok_or_else(|| {
                S3Error::request("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
            })?),
            None => None,
        };
        let checksum_type = match (req.h("x-amz-checksum-type"), algorithm) {
            (Some(t), Some(a)) => {
                let t = t.to_ascii_uppercase();
                if t != "COMPOSITE" && t != "FULL_OBJECT" {
                    return Err(S3Error::request(
                        "Value for x-amz-checksum-type header is invalid.",
                    ));
                }
                if t == "FULL_OBJECT" && !a.is_crc()
                    || t == "COMPOSITE" && a == Algorithm::Crc64Nvme
                {
                    return Err(S3Error::request(format!(
                        "The {t} checksum type cannot be used with the {} checksum algorithm.",
                        a.name().to_ascii_lowercase()
                    )));
                }
                Some(t)
            }
            (None, Some(Algorithm::Crc64Nvme)) => Some("FULL_OBJECT".to_owned()),
            (None, Some(_)) => Some("COMPOSITE".to_owned()),
            (Some(_), None) => {
                return Err(S3Error::request(
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
                ));
            }
            (None, None) => None,
        };
        let upload_id = {
            let mut bytes = [0u8; 24];
            fastrand::fill(&mut bytes);
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        };
        let sse = template.sse.clone();
        let up = Upload {
            key: key.to_owned(),
            upload_id: upload_id.clone(),
            initiated_ms: model::now_ms(),
            template,
            checksum_algorithm: algorithm,
            checksum_type: checksum_type.clone(),
            parts: Default::default(),
        };
        let k = model::object_key(bucket, &upload_id);
        self.store
            .write_async(move |w| w.put_json(model::UPLOADS, &k, &up))
            .await?;
        let mut w = XmlWriter::with_declaration();
        w.start_ns("InitiateMultipartUploadResult", NS)
            .leaf("Bucket", bucket)
            .leaf("Key", key)
            .leaf("UploadId", &upload_id)
            .end("InitiateMultipartUploadResult");
        let mut r = wire::xml(StatusCode::OK, w.finish());
        for (n, v) in &sse {
            wire::set(r.headers_mut(), n, v);
        }
        if let Some(a) = algorithm {
            wire::set(r.headers_mut(), "x-amz-checksum-algorithm", a.name());
        }
        if let Some(t) = &checksum_type {
            wire::set(r.headers_mut(), "x-amz-checksum-type", t);
        }
        Ok(r)
    }

    /// Records a written part, replacing an earlier upload of the same number.
    async fn store_part(
        &self,
        bucket: &str,
        upload_id: &str,
        number: u32,
        part: Part,
    ) -> S3Result<()> {
        let k = model::object_key(bucket, upload_id);
        let id = upload_id.to_owned();
        let blob = part.blob.clone();
        let outcome = self
            .store
            .write_async(move |w| {
                let Some(raw) = w.get(model::UPLOADS, &k)? else {
                    return Ok(Err(S3Error::NoSuchUpload { upload_id: id }));
                };
                let mut up: Upload = serde_json::from_slice(&raw)?;
                let old = up.parts.insert(number, part).map(|p| p.blob);
                w.put_json(model::UPLOADS, &k, &up)?;
                Ok(Ok(old))
            })
            .await?;
        match outcome {
            Ok(old) => {
                self.blobs.remove(old);
                Ok(())
            }
            Err(e) => {
                self.blobs.remove([blob]);
                Err(e)
            }
        }
    }

    pub(crate) async fn upload_part(
        &self,
        req: &S3Request,
        bucket: &str,
        _key: &str,
        upload_id: &str,
        body: Body,
    ) -> S3Result<Response<Body>> {
        let number = part_number(req)?;
        let up = self.upload(bucket, upload_id)?;
        crate::sse::check_part(req, &up.template.sse)?;
        let mut integrity = Integrity::from_request(req, crate::object::MAX_PUT)?;
        if let Some(a) = up.checksum_algorithm
            && !integrity.opts.algorithms.contains(&a)
        {
            integrity.opts.algorithms.push(a);
        }
        let written = self.blobs.write(body, integrity.opts_clone()).await?;
        integrity.verify(&written)?;
        let etag = written.md5_hex.clone();
        let size = written.size;
        let checksums = written.checksums.clone();
        let blob = self.blobs.commit(written).await?;
        self.store_part(
            bucket,
            upload_id,
            number,
            Part {
                etag: etag.clone(),
                size,
                blob,
                last_modified_ms: model::now_ms(),
                checksums: checksums.clone(),
            },
        )
        .await?;
        let mut r = wire::empty(StatusCode::OK);
        let h = r.headers_mut();
        wire::set(h, "etag", &format!("\"{etag}\""));
        for (n, v) in &up.template.sse {
            wire::set(h, n, v);
        }
        let shown = up
            .checksum_algorithm
            .or_else(|| integrity.declared.first().map(|(a, _)| *a))
            .or(integrity.trailer);
        if let Some(a) = shown
            && let Some((_, v)) = checksums.iter().find(|(x, _)| *x == a)
        {
            wire::set(h, a.header(), v);
        }
        Ok(r)
    }

    pub(crate) async fn upload_part_copy(
        &self,
        req: &S3Request,
        bucket: &str,
        _key: &str,
        upload_id: &str,
    ) -> S3Result<Response<Body>> {
        let number = part_number(req)?;
        let up = self.upload(bucket, upload_id)?;
        let (sb, sk, sv) = Self::copy_source(req)?;
        let src_bucket = self.bucket(&sb)?;
        let src = self.read_version(&sb, &sk, sv.as_deref())?;
        crate::restore::check_readable(&src, true)?;
        crate::sse::check_read(req, "x-amz-copy-source-", &src)?;
        crate::sse::check_part(req, &up.template.sse)?;
        crate::object::preconditions(req, "x-amz-copy-source-", &src, false)?;
        let (offset, len) = match req.h("x-amz-copy-source-range") {
            None => (0, src.size),
            Some(r) => {
                let bad = || {
                    S3Error::argument(
                        "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
                        "x-amz-copy-source-range",
                        r,
                    )
                };
                let spec = r.trim().strip_prefix("bytes=").ok_or_else(bad)?;
                let (a, b) = spec.split_once('-').ok_or_else(bad)?;
                let a: u64 = a.trim().parse().map_err(|_| bad())?;
                let b: u64 = b.trim().parse().map_err(|_| bad())?;
                // Unlike a GET, a copy range must lie inside the source.
                if a > b || b >= src.size {
                    return Err(S3Error::argument(
                        format!(
                            "Range specified is not valid for source object of size: {}",
                            src.size
                        ),
                        "x-amz-copy-source-range",
                        r,
                    ));
                }
                (a, b - a + 1)
            }
        };
        let mut algorithms = vec![Algorithm::Crc64Nvme];
        if let Some(a) = up.checksum_algorithm {
            algorithms = vec![a];
        }
        let body = self.blobs.read(&src.segments, offset, len);
        let written = self
            .blobs
            .write(
                body,
                crate::blob::WriteOptions {
                    aws_chunked: false,
                    expected_len: Some(len),
                    algorithms,
                    sha256_hex: false,
                    max_len: crate::object::MAX_PUT,
                    signer: None,
                },
            )
            .await?;
        let etag = written.md5_hex.clone();
        let size = written.size;
        let checksums = written.checksums.clone();
        let blob = self.blobs.commit(written).await?;
        let now = model::now_ms();
        self.store_part(
            bucket,
            upload_id,
            number,
            Part {
                etag: etag.clone(),
                size,
                blob,
                last_modified_ms: now,
                checksums: checksums.clone(),
            },
        )
        .await?;
        let mut w = XmlWriter::with_declaration();
        w.start_ns("CopyPartResult", NS)
            .leaf("ETag", &format!("\"{etag}\""))
            .leaf("LastModified", &model::iso(now));
        if let Some(a) = up.checksum_algorithm
            && let Some((_, v)) = checksums.iter().find(|(x, _)| *x == a)
        {
            w.leaf(a.xml_element(), v);
        }
        w.end("CopyPartResult");
        let mut r = wire::xml(StatusCode::OK, w.finish());
        let h = r.headers_mut();
        if src_bucket.versioning.is_some() {
            wire::set(h, "x-amz-copy-source-version-id", &src.version_id);
        }
        for (n, v) in &up.template.sse {
            wire::set(h, n, v);
        }
        Ok(r)
    }

    pub(crate) async fn complete_upload(
        &self,
        ctx: &RequestContext,
        req: &S3Request,
        bucket: &str,
        key: &str,
        upload_id: &str,
        body: Body,
    ) -> S3Result<Response<Body>> {
        let b = self.bucket(bucket)?;
        let up = match self.upload(bucket, upload_id) {
            Ok(up) => up,
            Err(S3Error::NoSuchUpload { .. }) => {
                // A repeated complete (the same part list) of an upload that completed answers as
                // the first one did, as long as the object it made is still there.
                let done = self.object(bucket, key)?.and_then(|rec| {
                    rec.versions
                        .into_iter()
                        .find(|v| v.upload_id.as_deref() == Some(upload_id))
                });
                let doc = read_doc(body).await?;
                return match done {
                    Some(v) if same_parts(&doc, &v) => Ok(self.completed(ctx, &b, bucket, key, &v)),
                    _ => Err(S3Error::NoSuchUpload {
                        upload_id: upload_id.to_owned(),
                    }),
                };
            }
            Err(e) => return Err(e),
        };
        let conditions = WriteConditions::from_request(req)?;
        if let Some(c) = &conditions {
            c.check(key, self.current_version(bucket, key)?.as_ref())?;
        }
        let doc = read_doc(body).await?;
        let root = wire::parse_xml(&doc)?;
        let listed: Vec<_> = root.all("Part").collect();
        if listed.is_empty() {
            return Err(S3Error::MalformedXml);
        }
        let mut chosen: Vec<(u32, Part)> = Vec::new();
        let mut last = 0u32;
        for p in &listed {
            let n: u32 = p
                .text_of("PartNumber")
                .and_then(|n| n.trim().parse().ok())
                .ok_or(S3Error::MalformedXml)?;
            if n <= last {
                return Err(S3Error::InvalidPartOrder {
                    upload_id: upload_id.to_owned(),
                });
            }
            last = n;
            let etag = p
                .text_of("ETag")
                .unwrap_or("")
                .trim()
                .trim_matches('"')
                .to_owned();
            let part = up
                .parts
                .get(&n)
                .filter(|stored| stored.etag == etag)
                .ok_or_else(|| S3Error::InvalidPart {
                    upload_id: upload_id.to_owned(),
                    part: n,
                    etag: etag.clone(),
                })?;
            if let Some(alg) = up.checksum_algorithm
                && let Some(sent) = p.text_of(alg.xml_element())
            {
                let stored = part
                    .checksums
                    .iter()
                    .find(|(a, _)| *a == alg)
                    .map(|(_, v)| v);
                if stored.is_some_and(|s| s != sent.trim()) {
                    return Err(S3Error::InvalidPart {
                        upload_id: upload_id.to_owned(),
                        part: n,
                        etag,
                    });
                }
            }
            chosen.push((n, part.clone()));
        }
        for (i, (n, p)) in chosen.iter().enumerate() {
            if i + 1 < chosen.len() && p.size < MIN_PART {
                return Err(S3Error::EntityTooSmall {
                    size: p.size,
                    part: *n,
                    etag: p.etag.clone(),
                });
            }
        }
        if let Some(expected) = req.h("x-amz-mp-object-size") {
            let total: u64 = chosen.iter().map(|(_, p)| p.size).sum();
            if expected.trim().parse::<u64>().ok() != Some(total) {
                return Err(S3Error::request(format!(
                    "The provided 'x-amz-mp-object-size' header value {expected} does not match what was computed: {total}"
                )));
            }
        }
        let etag = multipart_etag(chosen.iter().map(|(_, p)| p.etag.as_str()));
        let checksum = multipart_checksum(&up, &chosen);
        if let (Some(c), Some(sent)) = (
            &checksum,
            checksum.as_ref().and_then(|c| req.h(c.algorithm.header())),
        ) && c.kind == "FULL_OBJECT"
            && sent.trim() != c.value
        {
            return Err(S3Error::ChecksumMismatch {
                algorithm: c.algorithm.name(),
            });
        }
        let mut v = up.template.clone();
        v.etag = etag;
        v.size = chosen.iter().map(|(_, p)| p.size).sum();
        v.segments = chosen
            .iter()
            .map(|(_, p)| Segment {
                blob: p.blob.clone(),
                size: p.size,
            })
            .collect();
        v.parts = chosen.iter().map(|(_, p)| p.size).collect();
        v.part_numbers = chosen.iter().map(|(n, _)| *n).collect();
        // The parts' checksums of the upload's algorithm, for GetObjectAttributes (which lists parts
        // only when the upload had one).
        if let Some(c) = checksum
            .as_ref()
            .filter(|_| up.checksum_algorithm.is_some())
        {
            let values: Vec<String> = chosen
                .iter()
                .filter_map(|(_, p)| {
                    p.checksums
                        .iter()
                        .find(|(a, _)| *a == c.algorithm)
                        .map(|(_, v)| v.clone())
                })
                .collect();
            if values.len() == chosen.len() {
                v.part_checksums = values;
            }
        }
        v.checksum = checksum;
        v.upload_id = Some(upload_id.to_owned());
        v.last_modified_ms = model::now_ms();
        let used: std::collections::HashSet<String> =
            v.segments.iter().map(|s| s.blob.clone()).collect();
        let unused: Vec<String> = up
            .parts
            .values()
            .filter(|p| !used.contains(&p.blob))
            .map(|p| p.blob.clone())
            .collect();
        let uk = model::object_key(bucket, upload_id);
        let check = conditions.map(|c| c.into_check(key));
        let v = self
            .commit_version(&b, key, v, check, None, Some(uk))
            .await?;
        self.blobs.remove(unused);
        Ok(self.completed(ctx, &b, bucket, key, &v))
    }

    /// The `CompleteMultipartUpload` answer for the version an upload made.
    fn completed(
        &self,
        ctx: &RequestContext,
        b: &model::BucketRecord,
        bucket: &str,
        key: &str,
        v: &model::Version,
    ) -> Response<Body> {
        let mut w = XmlWriter::with_declaration();
        let location = format!(
            "{}/{}/{}",
            ctx.endpoint_url(),
            bucket,
            wire::url_encode(key)
        );
        w.start_ns("CompleteMultipartUploadResult", NS)
            .leaf("Location", &location)
            .leaf("Bucket", bucket)
            .leaf("Key", key)
            .leaf("ETag", &v.quoted_etag());
        if let Some(c) = &v.checksum {
            w.leaf(c.algorithm.xml_element(), &c.value)
                .leaf("ChecksumType", &c.kind);
        }
        w.end("CompleteMultipartUploadResult");
        let mut r = wire::xml(StatusCode::OK, w.finish());
        let h = r.headers_mut();
        if write_shows_version(b) {
            wire::set(h, "x-amz-version-id", &v.version_id);
        }
        self.expiration_header(b, key, v, h);
        for (n, val) in &v.sse {
            wire::set(h, n, val);
        }
        r
    }

    pub(crate) async fn abort_upload(
        &self,
        bucket: &str,
        _key: &str,
        upload_id: &str,
    ) -> S3Result<Response<Body>> {
        let up = self.upload(bucket, upload_id)?;
        let uk = model::object_key(bucket, upload_id);
        self.store
            .write_freeing_async(move |w| w.delete(model::UPLOADS, &uk))
            .await?;
        self.blobs.remove(up.parts.into_values().map(|p| p.blob));
        Ok(wire::empty(StatusCode::NO_CONTENT))
    }

    pub(crate) fn list_parts(
        &self,
        req: &S3Request,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> S3Result<Response<Body>> {
        let up = self.upload(bucket, upload_id)?;
        let owner_id = canonical_id(&self.bucket(bucket)?.account);
        let max = crate::list::max_keys(req, "max-parts")?;
        let marker: u32 = match req.q("part-number-marker") {
            None => 0,
            Some(m) => m.trim().parse().map_err(|_| {
                S3Error::argument(
                    "Argument partNumberMarker must be an integer.",
                    "partNumberMarker",
                    m,
                )
            })?,
        };
        let parts: Vec<(&u32, &Part)> = up.parts.range(marker + 1..).collect();
        let truncated = parts.len() > max;
        let shown = &parts[..parts.len().min(max)];
        let mut w = XmlWriter::with_declaration();
        w.start_ns("ListPartsResult", NS)
            .leaf("Bucket", bucket)
            .leaf("Key", key)
            .leaf("UploadId", upload_id)
            .leaf("PartNumberMarker", &marker.to_string());
        if let Some((n, _)) = shown.last() {
            w.leaf("NextPartNumberMarker", &n.to_string());
        }
        w.leaf("MaxParts", &max.to_string())
            .leaf("IsTruncated", if truncated { "true" } else { "false" });
        for (n, p) in shown {
            w.start("Part")
                .leaf("PartNumber", &n.to_string())
                .leaf("LastModified", &model::iso(p.last_modified_ms))
                .leaf("ETag", &format!("\"{}\"", p.etag))
                .leaf("Size", &p.size.to_string());
            if let Some(a) = up.checksum_algorithm
                && let Some((_, v)) = p.checksums.iter().find(|(x, _)| *x == a)
            {
                w.leaf(a.xml_element(), v);
            }
            w.end("Part");
        }
        owner(&mut w, "Initiator", &owner_id);
        owner(&mut w, "Owner", &owner_id);
        w.leaf(
            "StorageClass",
            up.template.storage_class.as_deref().unwrap_or("STANDARD"),
        );
        if let Some(a) = up.checksum_algorithm {
            w.leaf("ChecksumAlgorithm", a.name());
        }
        if let Some(t) = &up.checksum_type {
            w.leaf("ChecksumType", t);
        }
        w.end("ListPartsResult");
        Ok(wire::xml(StatusCode::OK, w.finish()))
    }

    pub(crate) fn list_uploads(&self, req: &S3Request, bucket: &str) -> S3Result<Response<Body>> {
        let owner_id = canonical_id(&self.bucket(bucket)?.account);
        let url = crate::list::encoding_type(req)?;
        let enc = |s: &str| {
            if url {
                wire::url_encode(s)
            } else {
                s.to_owned()
            }
        };
        let prefix = req.q("prefix").unwrap_or("");
        let max = crate::list::max_keys(req, "max-uploads")?;
        let key_marker = req.q("key-marker").unwrap_or("");
        let id_marker = req.q("upload-id-marker").unwrap_or("");
        let all = self
            .store
            .read(|r| r.scan_prefix(model::UPLOADS, &format!("{bucket}/"), None, usize::MAX))?;
        let mut uploads: Vec<Upload> = all
            .into_iter()
            .filter_map(|(_, raw)| serde_json::from_slice::<Upload>(&raw).ok())
            .filter(|u| u.key.starts_with(prefix))
            .filter(|u| {
                key_marker.is_empty()
                    || u.key.as_str() > key_marker
                    || (u.key == key_marker
                        && !id_marker.is_empty()
                        && u.upload_id.as_str() > id_marker)
            })
            .collect();
        uploads.sort_by(|a, b| {
            (a.key.as_str(), a.initiated_ms).cmp(&(b.key.as_str(), b.initiated_ms))
        });
        let truncated = uploads.len() > max;
        uploads.truncate(max);
        let mut w = XmlWriter::with_declaration();
        w.start_ns("ListMultipartUploadsResult", NS)
            .leaf("Bucket", bucket)
            .leaf("KeyMarker", &enc(key_marker))
            .leaf("UploadIdMarker", id_marker);
        if truncated && let Some(u) = uploads.last() {
            w.leaf("NextKeyMarker", &enc(&u.key))
                .leaf("NextUploadIdMarker", &u.upload_id);
        }
        if !prefix.is_empty() {
            w.leaf("Prefix", &enc(prefix));
        }
        if url {
            w.leaf("EncodingType", "url");
        }
        w.leaf("MaxUploads", &max.to_string())
            .leaf("IsTruncated", if truncated { "true" } else { "false" });
        for u in &uploads {
            w.start("Upload")
                .leaf("Key", &enc(&u.key))
                .leaf("UploadId", &u.upload_id);
            owner(&mut w, "Initiator", &owner_id);
            owner(&mut w, "Owner", &owner_id);
            w.leaf(
                "StorageClass",
                u.template.storage_class.as_deref().unwrap_or("STANDARD"),
            )
            .leaf("Initiated", &model::iso(u.initiated_ms));
            if let Some(a) = u.checksum_algorithm {
                w.leaf("ChecksumAlgorithm", a.name());
            }
            w.end("Upload");
        }
        w.end("ListMultipartUploadsResult");
        Ok(wire::xml(StatusCode::OK, w.finish()))
    }
}

fn owner(w: &mut XmlWriter, tag: &str, id: &str) {
    w.start(tag).leaf("ID", id).end(tag);
}

/// The ETag of a multipart object: the MD5 of the parts' binary MD5s, `-<part count>`.
fn multipart_etag<'a>(etags: impl ExactSizeIterator<Item = &'a str>) -> String {
    let count = etags.len();
    let mut raw_md5s = Vec::new();
    for etag in etags {
        raw_md5s.extend(
            (0..etag.len() / 2)
                .filter_map(|i| u8::from_str_radix(etag.get(2 * i..2 * i + 2)?, 16).ok()),
        );
    }
    format!("{}-{}", checksum::md5_hex(&raw_md5s), count)
}

/// Whether a `CompleteMultipartUpload` document lists the parts `v` was completed from.
fn same_parts(doc: &[u8], v: &model::Version) -> bool {
    let Ok(root) = wire::parse_xml(doc) else {
        return false;
    };
    let mut numbers = Vec::new();
    let mut etags = Vec::new();
    for p in root.all("Part") {
        let Some(n) = p
            .text_of("PartNumber")
            .and_then(|n| n.trim().parse::<u32>().ok())
        else {
            return false;
        };
        numbers.push(n);
        etags.push(
            p.text_of("ETag")
                .unwrap_or("")
                .trim()
                .trim_matches('"')
                .to_owned(),
        );
    }
    (v.part_numbers.is_empty() || numbers == v.part_numbers)
        && multipart_etag(etags.iter().map(String::as_str)) == v.etag
}

/// The object checksum of a completed upload.
fn multipart_checksum(up: &Upload, parts: &[(u32, Part)]) -> Option<StoredChecksum> {
    let value_of = |alg: Algorithm, p: &Part| {
        p.checksums
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, v)| v.clone())
    };
    let alg = match up.checksum_algorithm {
        Some(a) => a,
        None => {
            // No algorithm named: a full-object CRC when every part carries the same CRC.
            let first = parts
                .first()?
                .1
                .checksums
                .iter()
                .find(|(a, _)| a.is_crc())?
                .0;
            if !parts.iter().all(|(_, p)| value_of(first, p).is_some()) {
                return None;
            }
            let list: Vec<(String, u64)> = parts
                .iter()
                .filter_map(|(_, p)| Some((value_of(first, p)?, p.size)))
                .collect();
            return Some(StoredChecksum {
                algorithm: first,
                value: checksum::combine_full(first, &list)?,
                kind: "FULL_OBJECT".into(),
            });
        }
    };
    let values: Vec<String> = parts.iter().filter_map(|(_, p)| value_of(alg, p)).collect();
    if values.len() != parts.len() {
        return None;
    }
    if up.checksum_type.as_deref() == Some("FULL_OBJECT") {
        let list: Vec<(String, u64)> = values
            .into_iter()
            .zip(parts.iter().map(|(_, p)| p.size))
            .collect();
        Some(StoredChecksum {
            algorithm: alg,
            value: checksum::combine_full(alg, &list)?,
            kind: "FULL_OBJECT".into(),
        })
    } else {
        Some(StoredChecksum {
            algorithm: alg,
            value: checksum::composite(alg, &values)?,
            kind: "COMPOSITE".into(),
        })
    }
}

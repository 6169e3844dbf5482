//! Browser-based uploads: `POST /<bucket>` with `multipart/form-data` (the HTML form fields of S3's POST
//! policy uploads). Fields before the `file` part are read (bounded); the file content streams to disk
//! like any PUT body, with the multipart boundary found on the fly. The policy's `expiration` and every
//! condition (exact matches, `starts-with`, `content-length-range`, and no form field left uncovered) are
//! enforced as S3 enforces them; its signature is not (Skyport accepts any credentials).

use std::collections::VecDeque;

use base64::Engine;
use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;
use skyport_core::xml::XmlWriter;
use skyport_core::{Body, RequestContext};

use crate::S3;
use crate::blob::WriteOptions;
use crate::checksum::Algorithm;
use crate::error::{S3Error, S3Result};
use crate::object::{MAX_PUT, template_from};
use crate::wire::{self, NS, S3Request};

/// Largest total size of the non-file fields.
const MAX_FIELDS: usize = 64 * 1024;

/// Reads a multipart body incrementally.
struct FormReader {
    body: Body,
    buf: BytesMut,
    /// `\r\n--<boundary>`.
    delim: Vec<u8>,
    eof: bool,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

impl FormReader {
    async fn fill(&mut self) -> S3Result<bool> {
        while let Some(frame) = self.body.frame().await {
            let frame = frame.map_err(|_| S3Error::IncompleteBody)?;
            if let Ok(data) = frame.into_data() {
                self.buf.extend_from_slice(&data);
                return Ok(true);
            }
        }
        self.eof = true;
        Ok(false)
    }

    /// Reads until `needle`, returning what came before it (at most `limit` bytes) and consuming it.
    async fn until(&mut self, needle: &[u8], limit: usize) -> S3Result<Bytes> {
        loop {
            if let Some(pos) = find(&self.buf, needle) {
                let out = self.buf.split_to(pos).freeze();
                self.buf.advance(needle.len());
                return Ok(out);
            }
            if self.buf.len() > limit + needle.len() {
                return Err(S3Error::argument(
                    "Your POST request fields preceeding the upload file was too large.",
                    "file",
                    "",
                ));
            }
            if !self.fill().await? {
                return Err(malformed());
            }
        }
    }

    /// After a delimiter: `true` when another part follows, `false` at the closing `--`.
    async fn after_delim(&mut self) -> S3Result<bool> {
        while self.buf.len() < 2 {
            if !self.fill().await? {
                return Err(malformed());
            }
        }
        if &self.buf[..2] == b"--" {
            return Ok(false);
        }
        // Optional transport padding, then CRLF.
        let _ = self.until(b"\r\n", 1024).await?;
        Ok(true)
    }

    /// The next piece of file content, ending at the delimiter.
    async fn file_chunk(&mut self) -> S3Result<Option<Bytes>> {
        if self.delim.is_empty() {
            return Ok(None);
        }
        loop {
            if let Some(pos) = find(&self.buf, &self.delim) {
                let out = self.buf.split_to(pos).freeze();
                self.buf.advance(self.delim.len());
                self.delim.clear();
                return Ok(Some(out));
            }
            let keep = self.delim.len() - 1;
            if self.buf.len() > keep + 64 * 1024 {
                let n = self.buf.len() - keep;
                return Ok(Some(self.buf.split_to(n).freeze()));
            }
            if !self.fill().await? {
                return Err(malformed());
            }
        }
    }
}

fn malformed() -> S3Error {
    S3Error::MalformedPostRequest
}

/// `name="x"` style parameters of a header value.
fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The form fields no policy condition needs to cover (AWS: the signature fields, the file, the policy
/// itself and any `x-ignore-` field).
fn exempt_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "file" | "policy" | "x-amz-signature" | "signature" | "awsaccesskeyid"
    ) || n.starts_with("x-ignore-")
}

/// Whether AWS allows `starts-with` on the field (the others take exact matches only).
fn prefix_allowed(field: &str) -> bool {
    let f = field.to_ascii_lowercase();
    matches!(
        f.as_str(),
        "key"
            | "acl"
            | "cache-control"
            | "content-type"
            | "content-disposition"
            | "content-encoding"
            | "expires"
            | "success_action_redirect"
            | "redirect"
    ) || f.starts_with("x-amz-meta-")
}

/// A failed condition, rendered as S3 quotes it (`["eq", "$key", "value"]`).
fn condition_failed(items: &[serde_json::Value]) -> S3Error {
    let parts: Vec<String> = items.iter().map(serde_json::Value::to_string).collect();
    S3Error::PolicyDenied(format!(
        "Invalid according to Policy: Policy Condition failed: [{}]",
        parts.join(", ")
    ))
}

/// Checks the policy's conditions against the form (`key` as expanded, `bucket` the request's) and
/// returns its `content-length-range`, checked once the file is read.
fn check_conditions(
    doc: &serde_json::Value,
    fields: &[(String, String)],
    bucket: &str,
    key: &str,
) -> S3Result<Option<(u64, u64)>> {
    let value_of = |name: &str| -> Option<&str> {
        if name.eq_ignore_ascii_case("bucket") {
            return Some(bucket);
        }
        if name.eq_ignore_ascii_case("key") {
            return Some(key);
        }
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let invalid = |what: &str| S3Error::InvalidPolicyDocument(format!("Invalid Policy: {what}"));
    let Some(conditions) = doc.get("conditions") else {
        return Err(invalid("Invalid 'conditions' value."));
    };
    let conditions = conditions
        .as_array()
        .ok_or_else(|| invalid("Invalid 'conditions' value."))?;
    let mut covered: Vec<String> = Vec::new();
    let mut range = None;
    for c in conditions {
        match c {
            serde_json::Value::Object(map) => {
                for (name, want) in map {
                    let want = want.as_str().ok_or_else(|| {
                        invalid("Invalid Simple-Condition: value must be a string.")
                    })?;
                    if value_of(name) != Some(want) {
                        return Err(condition_failed(&[
                            "eq".into(),
                            format!("${name}").into(),
                            want.into(),
                        ]));
                    }
                    covered.push(name.to_ascii_lowercase());
                }
            }
            serde_json::Value::Array(items) => {
                let op = items
                    .first()
                    .and_then(|v| v.as_str())
                    .map(str::to_ascii_lowercase)
                    .ok_or_else(|| {
                        invalid("Invalid Condition: the first element must be a string.")
                    })?;
                if op == "content-length-range" {
                    let bound = |i: usize| {
                        items.get(i).and_then(|v| {
                            v.as_u64()
                                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                        })
                    };
                    match (items.len(), bound(1), bound(2)) {
                        (3, Some(lo), Some(hi)) => range = Some((lo, hi)),
                        _ => {
                            return Err(invalid(
                                "Invalid content-length-range: the range must be two integers.",
                            ));
                        }
                    }
                    continue;
                }
                // A condition S3 cannot apply fails like one that does not hold.
                let (Some(target), Some(want), 3) = (
                    items.get(1).and_then(|v| v.as_str()),
                    items.get(2).and_then(|v| v.as_str()),
                    items.len(),
                ) else {
                    return Err(condition_failed(items));
                };
                let Some(name) = target.strip_prefix('$') else {
                    return Err(condition_failed(items));
                };
                let have = value_of(name);
                let ok = match op.as_str() {
                    "eq" => have == Some(want),
                    "starts-with" if prefix_allowed(name) => have.is_some_and(|v| {
                        if name.eq_ignore_ascii_case("content-type") {
                            // A list of types: every one must carry the prefix.
                            v.split(',').all(|t| t.trim().starts_with(want))
                        } else {
                            v.starts_with(want)
                        }
                    }),
                    _ => false,
                };
                if !ok {
                    return Err(condition_failed(items));
                }
                covered.push(name.to_ascii_lowercase());
            }
            _ => {
                return Err(invalid(
                    "Invalid Condition: a condition must be an object or an array.",
                ));
            }
        }
    }
    let extra: Vec<&str> = fields
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !exempt_field(k) && !covered.contains(&k.to_ascii_lowercase()))
        .collect();
    if !extra.is_empty() {
        return Err(S3Error::PolicyDenied(format!(
            "Invalid according to Policy: Extra input fields: {}",
            extra.join(", ")
        )));
    }
    Ok(range)
}

impl S3 {
    pub(crate) async fn post_object(
        &self,
        ctx: &mut RequestContext,
        req: &S3Request,
        bucket: &str,
        body: Body,
    ) -> S3Result<(Response<Body>, crate::notify::ObjectEvent)> {
        ctx.set_operation("PostObject");
        let b = self.bucket(bucket)?;
        let content_type = req.h("content-type").unwrap_or("");
        let boundary = param(content_type, "boundary").ok_or_else(malformed)?;
        let mut reader = FormReader {
            body,
            buf: BytesMut::from(&b"\r\n"[..]),
            delim: format!("\r\n--{boundary}").into_bytes(),
            eof: false,
        };
        // Preamble up to the first delimiter.
        let delim = reader.delim.clone();
        reader.until(&delim, 16 * 1024).await?;
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut total = 0usize;
        let mut file: Option<(String, Option<String>)> = None;
        while reader.after_delim().await? {
            let head = reader.until(b"\r\n\r\n", 16 * 1024).await?;
            let head = String::from_utf8_lossy(&head).into_owned();
            let mut disposition = None;
            let mut part_type = None;
            for line in head.split("\r\n") {
                if let Some((n, v)) = line.split_once(':') {
                    match n.trim().to_ascii_lowercase().as_str() {
                        "content-disposition" => disposition = Some(v.trim().to_owned()),
                        "content-type" => part_type = Some(v.trim().to_owned()),
                        _ => {}
                    }
                }
            }
            let disposition = disposition.ok_or_else(malformed)?;
            let name = param(&disposition, "name").ok_or_else(malformed)?;
            if name.eq_ignore_ascii_case("file") {
                let filename = param(&disposition, "filename").unwrap_or_default();
                file = Some((filename, part_type));
                break;
            }
            let value = reader.until(&delim, MAX_FIELDS).await?;
            total += value.len();
            if total > MAX_FIELDS {
                return Err(S3Error::argument(
                    "Your POST request fields preceeding the upload file was too large.",
                    "file",
                    "",
                ));
            }
            fields.push((name, String::from_utf8_lossy(&value).into_owned()));
        }
        let field = |n: &str| {
            fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        };
        let Some((filename, file_type)) = file else {
            return Err(S3Error::argument(
                "POST requires exactly one file upload per request.",
                "file",
                "0",
            ));
        };
        let key = field("key").ok_or_else(|| {
            S3Error::argument(
                "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
                "key",
                "",
            )
        })?;
        let key = key.replace("${filename}", &filename);
        if key.is_empty() {
            return Err(S3Error::argument(
                "User key must have a length greater than 0.",
                "key",
                "",
            ));
        }
        // A form without a signature is an anonymous upload: it needs a public grant.
        if req.anonymous && !crate::access::form_is_signed(&fields) {
            self.authorize_anonymous(ctx, req, "PostObject", Some(bucket), Some(&key), None)?;
        }
        let mut range: Option<(u64, u64)> = None;
        if let Some(policy) = field("policy") {
            let doc = base64::engine::general_purpose::STANDARD
                .decode(policy.trim())
                .ok()
                .and_then(|raw| serde_json::from_slice::<serde_json::Value>(&raw).ok())
                .ok_or_else(|| {
                    S3Error::InvalidPolicyDocument("Invalid Policy: Invalid JSON.".into())
                })?;
            if let Some(exp) = doc.get("expiration").and_then(|e| e.as_str()) {
                let expired = skyport_core::timefmt::parse_rfc3339(exp)
                    .is_none_or(|t| t < std::time::SystemTime::now());
                if expired {
                    return Err(S3Error::PolicyDenied(
                        "Invalid according to Policy: Policy expired.".into(),
                    ));
                }
            }
            range = check_conditions(&doc, &fields, bucket, &key)?;
        }
        // The fields as headers, for the object's content headers, metadata, tagging and checksums.
        let mut headers = HeaderMap::new();
        for (n, v) in &fields {
            let lower = n.to_ascii_lowercase();
            let header = match lower.as_str() {
                "tagging" => continue,
                "acl" => "x-amz-acl".to_owned(),
                _ => lower,
            };
            if let (Ok(hn), Ok(hv)) = (
                HeaderName::from_bytes(header.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                headers.insert(hn, hv);
            }
        }
        if !headers.contains_key("content-type")
            && let Some(t) = file_type
                .as_deref()
                .and_then(|t| HeaderValue::from_str(t).ok())
        {
            headers.insert(http::header::CONTENT_TYPE, t);
        }
        let form = S3Request {
            method: Method::POST,
            bucket: Some(bucket.to_owned()),
            key: Some(key.clone()),
            query: Vec::new(),
            headers,
            chunk_signer: None,
            anonymous: false,
        };
        let mut template = template_from(&form, &b)?;
        crate::object::check_write_acl(&b, template.acl.as_deref())?;
        if let Some(tagging) = field("tagging") {
            template.tags = crate::validate::tagging_document(
                tagging.as_bytes(),
                crate::validate::TagOwner::Object,
            )?;
        }
        let declared: Vec<(Algorithm, String)> = crate::checksum::ALL
            .iter()
            .filter_map(|a| field(a.header()).map(|v| (*a, v.trim().to_owned())))
            .collect();
        let mut algorithms: Vec<Algorithm> = declared.iter().map(|(a, _)| *a).collect();
        if algorithms.is_empty() {
            algorithms.push(Algorithm::Crc64Nvme);
        }
        let stream = futures_util::stream::unfold(
            (reader, VecDeque::<Bytes>::new()),
            |(mut reader, q)| async move {
                match reader.file_chunk().await {
                    Ok(Some(b)) => Some((Ok(http_body::Frame::data(b)), (reader, q))),
                    Ok(None) => None,
                    Err(e) => Some((
                        Err(Box::new(std::io::Error::other(e.to_string()))
                            as skyport_core::body::BoxError),
                        (reader, q),
                    )),
                }
            },
        );
        let file_body = skyport_core::body::wrap(http_body_util::StreamBody::new(stream));
        let written = self
            .blobs
            .write(
                file_body,
                WriteOptions {
                    aws_chunked: false,
                    expected_len: None,
                    algorithms,
                    sha256_hex: false,
                    max_len: MAX_PUT,
                    signer: None,
                },
            )
            .await
            .map_err(|e| match e {
                S3Error::IncompleteBody => malformed(),
                e => e,
            })?;
        if let Some((lo, hi)) = range {
            if written.size < lo {
                return Err(S3Error::EntityTooSmallPost {
                    size: written.size,
                    min: lo,
                });
            }
            if written.size > hi {
                return Err(S3Error::EntityTooLarge { size: written.size });
            }
        }
        for (a, v) in &declared {
            if written
                .checksums
                .iter()
                .find(|(x, _)| x == a)
                .map(|(_, c)| c)
                != Some(v)
            {
                return Err(S3Error::ChecksumMismatch {
                    algorithm: a.name(),
                });
            }
        }
        self.commit_written(&mut template, written).await?;
        template.last_modified_ms = crate::model::now_ms();
        let v = self
            .commit_version(&b, &key, template, None, None, None)
            .await?;
        let location = format!(
            "{}/{}/{}",
            ctx.endpoint_url(),
            bucket,
            wire::url_encode(&key)
        );
        let redirect = field("success_action_redirect").or_else(|| field("redirect"));
        let mut r = if let Some(target) = redirect.filter(|r| !r.is_empty()) {
            let sep = if target.contains('?') { '&' } else { '?' };
            let url = format!(
                "{target}{sep}bucket={}&key={}&etag={}",
                wire::url_encode(bucket),
                wire::url_encode(&key),
                wire::url_encode(&v.quoted_etag())
            );
            let mut r = wire::empty(StatusCode::SEE_OTHER);
            wire::set(r.headers_mut(), "location", &url);
            r
        } else {
            match field("success_action_status") {
                Some("200") => wire::empty(StatusCode::OK),
                Some("201") => {
                    let mut w = XmlWriter::with_declaration();
                    w.start_ns("PostResponse", NS)
                        .leaf("Location", &location)
                        .leaf("Bucket", bucket)
                        .leaf("Key", &key)
                        .leaf("ETag", &v.quoted_etag())
                        .end("PostResponse");
                    wire::xml(StatusCode::CREATED, w.finish())
                }
                _ => {
                    let mut r = wire::empty(StatusCode::NO_CONTENT);
                    wire::set(r.headers_mut(), "location", &location);
                    r
                }
            }
        };
        let h = r.headers_mut();
        wire::set(h, "etag", &v.quoted_etag());
        if crate::object::write_shows_version(&b) {
            wire::set(h, "x-amz-version-id", &v.version_id);
        }
        let event = crate::notify::ObjectEvent {
            name: "ObjectCreated:Post",
            key,
            size: Some(v.size),
            etag: Some(v.etag.clone()),
            version_id: Some(v.version_id.clone()),
            restore: None,
        };
        Ok((r, event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params() {
        assert_eq!(
            param("form-data; name=\"file\"; filename=\"a b.txt\"", "filename").as_deref(),
            Some("a b.txt")
        );
        assert_eq!(
            param("multipart/form-data; boundary=xyz", "boundary").as_deref(),
            Some("xyz")
        );
        assert_eq!(find(b"abc\r\n--x", b"\r\n--x"), Some(3));
    }
}

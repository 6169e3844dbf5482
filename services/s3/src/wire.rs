//! The S3 REST-XML wire shapes: where the bucket and key come from (virtual-host or path style), query
//! and header access, a small XML tree reader for request bodies, and response builders. No storage
//! logic lives here.

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use quick_xml::events::Event;
use skyport_core::host::HostDomains;
use skyport_core::{Body, RequestContext, body};

use crate::error::{S3Error, S3Result};

/// The S3 XML namespace.
pub const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// A parsed request head.
#[derive(Debug)]
pub struct S3Request {
    pub method: Method,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    /// Strict mode: verifies the chunk signatures of a signed aws-chunked body.
    pub chunk_signer: Option<crate::chunked::ChunkSigner>,
    /// The request carries no credentials (see [`crate::access`]); set by the service.
    pub anonymous: bool,
}

impl S3Request {
    /// Classifies addressing and decodes the path.
    pub fn parse(
        ctx: &RequestContext,
        domains: &HostDomains,
        parts: &http::request::Parts,
    ) -> S3Result<S3Request> {
        let raw_path = parts.uri.path();
        let path = percent_encoding::percent_decode_str(raw_path)
            .decode_utf8()
            .map_err(|_| S3Error::request("The request path is not valid UTF-8"))?;
        let host_bucket = ctx
            .bucket
            .clone()
            .or_else(|| bucket_from_host(&ctx.host, domains));
        let rest = path.strip_prefix('/').unwrap_or(&path);
        let (bucket, key) = match host_bucket {
            Some(b) => (Some(b), rest.to_owned()),
            None => match rest.split_once('/') {
                Some((b, k)) => (Some(b.to_owned()), k.to_owned()),
                None if rest.is_empty() => (None, String::new()),
                None => (Some(rest.to_owned()), String::new()),
            },
        };
        let query: Vec<(String, String)> = parts
            .uri
            .query()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let mut headers = parts.headers.clone();
        hoist_presigned_headers(&query, &mut headers);
        Ok(S3Request {
            method: parts.method.clone(),
            bucket: bucket.filter(|b| !b.is_empty()),
            key: (!key.is_empty()).then_some(key),
            query,
            headers,
            chunk_signer: None,
            anonymous: false,
        })
    }

    /// A query parameter's value.
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the query names `name` (sub-resources like `?versioning`).
    pub fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    /// A header as text.
    pub fn h(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `/<bucket>/<key>` for error resources.
    pub fn resource(&self) -> String {
        match (&self.bucket, &self.key) {
            (Some(b), Some(k)) => format!("/{b}/{k}"),
            (Some(b), None) => format!("/{b}"),
            _ => "/".to_owned(),
        }
    }
}

/// A presigned URL may carry `x-amz-*` headers in its query string (SDKs hoist `x-amz-meta-*`,
/// `x-amz-acl`, ... there); S3 reads them as the request's headers. Headers actually sent win.
fn hoist_presigned_headers(query: &[(String, String)], headers: &mut HeaderMap) {
    let presigned = query
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("x-amz-signature") || k == "Signature");
    if !presigned {
        return;
    }
    const AUTH: [&str; 7] = [
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-expires",
        "x-amz-signedheaders",
        "x-amz-signature",
        "x-amz-security-token",
    ];
    for (k, v) in query {
        let name = k.to_ascii_lowercase();
        if !name.starts_with("x-amz-") || AUTH.contains(&name.as_str()) {
            continue;
        }
        if let (Ok(n), Ok(val)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(v),
        ) && !headers.contains_key(&n)
        {
            headers.insert(n, val);
        }
    }
}

/// The bucket named by a virtual-host style `Host` without an `s3` label (botocore's
/// `<bucket>.localhost.localstack.cloud:4566` with a custom endpoint): labels left of a known domain that
/// are not a service endpoint prefix.
pub fn bucket_from_host(host: &str, domains: &HostDomains) -> Option<String> {
    let name = skyport_core::host::strip_port(host);
    if name.parse::<std::net::IpAddr>().is_ok() || name.starts_with('[') {
        return None;
    }
    let (labels, _) = domains.split(name)?;
    if labels.is_empty() {
        return None;
    }
    let lower: Vec<String> = labels.iter().map(|l| l.to_ascii_lowercase()).collect();
    if lower
        .iter()
        .any(|l| l == "s3" || l.starts_with("s3-") || l == "s3-control")
    {
        return None;
    }
    // A bare region or a known service prefix is an endpoint, not a bucket.
    let first = lower[0].as_str();
    if lower.len() == 1 && skyport_core::arn::is_region(first) {
        return None;
    }
    let service_prefixes = [
        "sqs",
        "sts",
        "iam",
        "lambda",
        "dynamodb",
        "logs",
        "ecr",
        "api",
        "kms",
        "sns",
        "events",
        "secretsmanager",
        "ssm",
        "cloudformation",
        "kinesis",
        "monitoring",
        "states",
        "execute-api",
        "lambda-url",
        "queue",
        "apigateway",
        "route53",
        "ec2",
        "streams",
    ];
    if service_prefixes.contains(&first) {
        return None;
    }
    Some(labels.join("."))
}

/// One element of a request body.
#[derive(Debug, Default, Clone)]
pub struct XmlNode {
    pub name: String,
    pub text: String,
    pub children: Vec<XmlNode>,
}

impl XmlNode {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&XmlNode> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a XmlNode> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child named `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Parses a request body into a tree (local names, namespaces dropped).
pub fn parse_xml(bytes: &[u8]) -> S3Result<XmlNode> {
    let text = std::str::from_utf8(bytes).map_err(|_| S3Error::MalformedXml)?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<XmlNode> = vec![XmlNode::default()];
    loop {
        match reader.read_event().map_err(|_| S3Error::MalformedXml)? {
            Event::Start(e) => stack.push(XmlNode {
                name: e.local_name().as_ref().to_owned(),
                ..XmlNode::default()
            }),
            Event::Empty(e) => {
                let node = XmlNode {
                    name: e.local_name().as_ref().to_owned(),
                    ..XmlNode::default()
                };
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(node);
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or(S3Error::MalformedXml)?;
                let parent = stack.last_mut().ok_or(S3Error::MalformedXml)?;
                parent.children.push(node);
            }
            Event::Text(t) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let name = r.xml10_content();
                let resolved = quick_xml::escape::unescape(&format!("&{name};"))
                    .map_err(|_| S3Error::MalformedXml)?
                    .into_owned();
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() != 1 {
        return Err(S3Error::MalformedXml);
    }
    let mut doc = stack.pop().unwrap_or_default();
    if doc.children.len() != 1 {
        return Err(S3Error::MalformedXml);
    }
    let mut root = doc.children.remove(0);
    trim_tree(&mut root);
    Ok(root)
}

fn trim_tree(node: &mut XmlNode) {
    if !node.children.is_empty() {
        node.text.clear();
    }
    for c in &mut node.children {
        trim_tree(c);
    }
}

/// An XML 200 response.
pub fn xml(status: StatusCode, text: String) -> Response<Body> {
    let len = text.len();
    let mut r = Response::new(body::full(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

/// A bodiless response.
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(body::empty());
    *r.status_mut() = status;
    if status != StatusCode::NO_CONTENT && status != StatusCode::NOT_MODIFIED {
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    }
    r
}

/// Sets a header when the value is valid.
pub fn set(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        http::HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        headers.insert(n, v);
    }
}

/// A 304 with the validators of the unchanged object.
pub fn not_modified(etag: &str, last_modified: &str) -> Response<Body> {
    let mut r = empty(StatusCode::NOT_MODIFIED);
    set(r.headers_mut(), "etag", etag);
    set(r.headers_mut(), "last-modified", last_modified);
    r
}

/// Percent-encodes a key for `encoding-type=url` (S3 keeps unreserved characters and `/`).
pub fn url_encode(text: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(text, SET).to_string()
}

/// A user metadata value as sent: RFC 2047 encoded words (`=?UTF-8?B?...?=`, `=?UTF-8?Q?...?=`) are
/// decoded before the value is stored, as S3 does; anything else is kept (raw UTF-8 included).
pub fn decode_metadata(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    if !text.contains("=?") {
        return text.into_owned();
    }
    let mut out = String::new();
    let mut rest: &str = &text;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, word) = rest.split_at(start);
        let decoded = decode_word(word);
        match decoded {
            Some((value, used)) => {
                // Whitespace between two encoded words is not part of the text (RFC 2047, 6.2).
                if !(last_was_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&value);
                rest = &word[used..];
                last_was_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &word[2..];
                last_was_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes one `=?charset?B|Q?text?=` word at the start of `word`: (text, bytes used).
fn decode_word(word: &str) -> Option<(String, usize)> {
    let body = word.strip_prefix("=?")?;
    let (charset, body) = body.split_once('?')?;
    let (encoding, body) = body.split_once('?')?;
    let end = body.find("?=")?;
    let payload = &body[..end];
    let used = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
    let bytes = match encoding {
        "B" | "b" => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(payload)
                .ok()?
        }
        "Q" | "q" => {
            let mut out = Vec::new();
            let raw = payload.as_bytes();
            let mut i = 0;
            while i < raw.len() {
                match raw[i] {
                    b'_' => out.push(b' '),
                    b'=' if i + 2 < raw.len() => {
                        let hex = std::str::from_utf8(&raw[i + 1..i + 3]).ok()?;
                        out.push(u8::from_str_radix(hex, 16).ok()?);
                        i += 2;
                    }
                    c => out.push(c),
                }
                i += 1;
            }
            out
        }
        _ => return None,
    };
    let text = if charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("us-ascii")
    {
        String::from_utf8(bytes).ok()?
    } else if charset.eq_ignore_ascii_case("iso-8859-1") {
        bytes.iter().map(|&b| char::from(b)).collect()
    } else {
        return None;
    };
    Some((text, used))
}

/// A stored metadata value as S3 returns it: as is when it is US-ASCII, else RFC 2047 encoded
/// (`=?UTF-8?B?<base64>?=`) so that it is a valid header value.
pub fn encode_metadata(value: &str) -> std::borrow::Cow<'_, str> {
    if value.is_ascii() {
        return std::borrow::Cow::Borrowed(value);
    }
    use base64::Engine;
    std::borrow::Cow::Owned(format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(value)
    ))
}

/// Parses an HTTP date (`If-Modified-Since`, `Expires`).
pub fn parse_http_date(text: &str) -> Option<std::time::SystemTime> {
    httpdate::parse_http_date(text.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_host_buckets() {
        let d = HostDomains::new(&[]);
        assert_eq!(
            bucket_from_host("my.bucket.localhost.localstack.cloud:4566", &d).as_deref(),
            Some("my.bucket")
        );
        assert_eq!(
            bucket_from_host("localhost.localstack.cloud:4566", &d),
            None
        );
        assert_eq!(bucket_from_host("localhost:4566", &d), None);
        assert_eq!(bucket_from_host("127.0.0.1:4566", &d), None);
        assert_eq!(
            bucket_from_host("s3.localhost.localstack.cloud:4566", &d),
            None
        );
        assert_eq!(
            bucket_from_host("sqs.us-east-1.localhost.localstack.cloud", &d),
            None
        );
        assert_eq!(
            bucket_from_host("us-east-1.localhost.localstack.cloud", &d),
            None
        );
        assert_eq!(bucket_from_host("example.org", &d), None);
    }

    #[test]
    fn xml_tree() {
        let n = parse_xml(b"<?xml version=\"1.0\"?><Delete xmlns=\"x\"><Object><Key>a&amp;b</Key></Object><Quiet>true</Quiet></Delete>").unwrap();
        assert_eq!(n.name, "Delete");
        assert_eq!(n.child("Object").unwrap().text_of("Key"), Some("a&b"));
        assert_eq!(n.text_of("Quiet"), Some("true"));
        assert!(parse_xml(b"<a><b></a>").is_err());
        assert_eq!(url_encode("a b/ü+"), "a%20b/%C3%BC%2B");
    }

    #[test]
    fn metadata_rfc2047() {
        assert_eq!(decode_metadata(b"plain"), "plain");
        assert_eq!(decode_metadata("ä ö".as_bytes()), "ä ö");
        assert_eq!(decode_metadata(b"=?UTF-8?B?w6TDtsO8?="), "äöü");
        assert_eq!(
            decode_metadata(b"=?utf-8?Q?caf=C3=A9_au_lait?="),
            "café au lait"
        );
        assert_eq!(
            decode_metadata(b"a =?UTF-8?B?w6Q=?= =?UTF-8?B?w7Y=?= b"),
            "a äö b"
        );
        assert_eq!(decode_metadata(b"=?broken"), "=?broken");
        assert_eq!(encode_metadata("abc"), "abc");
        assert_eq!(encode_metadata("äöü"), "=?UTF-8?B?w6TDtsO8?=");
    }
}

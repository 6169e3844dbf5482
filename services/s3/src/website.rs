//! Static website hosting: requests to the website endpoints (`<bucket>.s3-website-<region>.amazonaws.com`,
//! `<bucket>.s3-website.<region>.amazonaws.com`, `<bucket>.s3-website.localhost.localstack.cloud`; the proxy
//! routes them here) are served from the bucket's stored website configuration the way S3's website
//! endpoint does: index documents for `/` and `…/`, a 302 to `<key>/` when only the folder's index exists,
//! `RedirectAllRequestsTo`, `RoutingRules` (`KeyPrefixEquals`, `HttpErrorCodeReturnedEquals`; `HostName`,
//! `Protocol`, `ReplaceKeyWith`, `ReplaceKeyPrefixWith`, `HttpRedirectCode`), objects' own
//! `x-amz-website-redirect-location`, the custom error document, and S3's HTML error pages (never XML).
//! Only GET and HEAD are served, as anonymous reads: each object served must be public (a bucket
//! policy allowing `s3:GetObject` to `"*"`, or a public-read ACL), as in AWS (see `access`).

use http::{Method, Response, StatusCode};
use skyport_core::context::Scheme;
use skyport_core::host::HostDomains;
use skyport_core::{AwsError, Body, RequestContext, body};

use crate::S3;
use crate::error::S3Error;
use crate::wire::{self, S3Request, XmlNode};

/// Whether `host` is an S3 website endpoint.
pub(crate) fn is_website_host(host: &str, domains: &HostDomains) -> bool {
    // Cheap test first: this runs on every S3 request.
    if !host
        .as_bytes()
        .windows(10)
        .any(|w| w.eq_ignore_ascii_case(b"s3-website"))
    {
        return false;
    }
    skyport_core::host::analyze(host, domains)
        .endpoint_prefix
        .as_deref()
        == Some("s3-website")
}

/// A redirect target of a routing rule or of `RedirectAllRequestsTo`.
#[derive(Debug, Default, Clone)]
struct Redirect {
    host: Option<String>,
    protocol: Option<String>,
    replace_key: Option<String>,
    replace_prefix: Option<String>,
    code: Option<u16>,
}

#[derive(Debug, Clone)]
struct RoutingRule {
    prefix: Option<String>,
    error_code: Option<u16>,
    redirect: Redirect,
}

#[derive(Debug, Default)]
struct WebsiteConfig {
    index: Option<String>,
    error: Option<String>,
    redirect_all: Option<Redirect>,
    rules: Vec<RoutingRule>,
}

fn parse_redirect(node: &XmlNode) -> Redirect {
    let text = |n: &str| node.text_of(n).map(str::to_owned).filter(|t| !t.is_empty());
    Redirect {
        host: text("HostName"),
        protocol: text("Protocol"),
        replace_key: node.text_of("ReplaceKeyWith").map(str::to_owned),
        replace_prefix: node.text_of("ReplaceKeyPrefixWith").map(str::to_owned),
        code: node
            .text_of("HttpRedirectCode")
            .and_then(|c| c.trim().parse().ok()),
    }
}

fn parse_config(doc: &str) -> WebsiteConfig {
    let Ok(root) = wire::parse_xml(doc.as_bytes()) else {
        return WebsiteConfig::default();
    };
    WebsiteConfig {
        index: root
            .child("IndexDocument")
            .and_then(|n| n.text_of("Suffix"))
            .map(str::to_owned),
        error: root
            .child("ErrorDocument")
            .and_then(|n| n.text_of("Key"))
            .map(str::to_owned),
        redirect_all: root.child("RedirectAllRequestsTo").map(parse_redirect),
        rules: root
            .child("RoutingRules")
            .map(|rules| {
                rules
                    .all("RoutingRule")
                    .map(|r| {
                        let cond = r.child("Condition");
                        RoutingRule {
                            prefix: cond
                                .and_then(|c| c.text_of("KeyPrefixEquals"))
                                .map(str::to_owned),
                            error_code: cond
                                .and_then(|c| c.text_of("HttpErrorCodeReturnedEquals"))
                                .and_then(|c| c.trim().parse().ok()),
                            redirect: r.child("Redirect").map(parse_redirect).unwrap_or_default(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The error as website responses also carry it in headers: `x-amz-error-code`, `x-amz-error-message`
/// and `x-amz-error-detail-<field>` (e.g. `x-amz-error-detail-Key`), with or without an error document.
fn error_headers(h: &mut http::HeaderMap, error: &AwsError) {
    wire::set(h, "x-amz-error-code", &error.code);
    wire::set(h, "x-amz-error-message", &error.message);
    for (name, value) in error.fields() {
        wire::set(h, &format!("x-amz-error-detail-{name}"), value);
    }
}

/// S3's website error page.
fn html_error(
    ctx: &RequestContext,
    head: bool,
    error: &AwsError,
    document_error: Option<&AwsError>,
) -> Response<Body> {
    let host_id = skyport_core::ids::s3_host_id();
    let reason = error.status.canonical_reason().unwrap_or("");
    let title = format!("{} {reason}", error.status.as_u16());
    let mut page = format!(
        "<html>\n<head><title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n<ul>\n<li>Code: {}</li>\n<li>Message: {}</li>\n",
        skyport_core::xml::escape(&error.code),
        skyport_core::xml::escape(&error.message)
    );
    for (name, value) in error.fields() {
        page.push_str(&format!(
            "<li>{name}: {}</li>\n",
            skyport_core::xml::escape(value)
        ));
    }
    page.push_str(&format!(
        "<li>RequestId: {}</li>\n<li>HostId: {host_id}</li>\n</ul>\n",
        ctx.request_id
    ));
    if let Some(doc) = document_error {
        page.push_str(&format!(
            "<h3>An Error Occurred While Attempting to Retrieve a Custom Error Document</h3>\n<ul>\n<li>Code: {}</li>\n<li>Message: {}</li>\n",
            skyport_core::xml::escape(&doc.code),
            skyport_core::xml::escape(&doc.message)
        ));
        for (name, value) in doc.fields() {
            page.push_str(&format!(
                "<li>{name}: {}</li>\n",
                skyport_core::xml::escape(value)
            ));
        }
        page.push_str("</ul>\n");
    }
    page.push_str("<hr/>\n</body>\n</html>\n");
    let len = page.len();
    let mut r = Response::new(if head {
        body::empty()
    } else {
        body::full(page)
    });
    *r.status_mut() = error.status;
    let h = r.headers_mut();
    wire::set(h, "content-type", "text/html; charset=utf-8");
    wire::set(h, "content-length", &len.to_string());
    wire::set(h, "x-amz-id-2", &host_id);
    error_headers(h, error);
    for (name, value) in error.headers() {
        if *name != http::header::CONTENT_RANGE {
            h.insert(name.clone(), value.clone());
        }
    }
    r
}

fn redirect_response(status: u16, location: &str) -> Response<Body> {
    let mut r = Response::new(body::empty());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::MOVED_PERMANENTLY);
    wire::set(r.headers_mut(), "location", location);
    wire::set(r.headers_mut(), "content-length", "0");
    r
}

/// Where a redirect sends a request for `key` (`prefix` is the rule's matched `KeyPrefixEquals`).
fn location(ctx: &RequestContext, r: &Redirect, key: &str, prefix: Option<&str>) -> String {
    let protocol = r.protocol.clone().unwrap_or_else(|| match ctx.scheme {
        Scheme::Https => "https".to_owned(),
        _ => "http".to_owned(),
    });
    let host = r.host.clone().unwrap_or_else(|| ctx.host.clone());
    let new_key = match (&r.replace_key, &r.replace_prefix) {
        (Some(k), _) => k.clone(),
        (None, Some(p)) => {
            let rest = prefix.and_then(|pre| key.strip_prefix(pre)).unwrap_or(key);
            format!("{p}{rest}")
        }
        (None, None) => key.to_owned(),
    };
    format!("{protocol}://{host}/{}", wire::url_encode(&new_key))
}

impl S3 {
    /// Serves one request to a website endpoint.
    pub(crate) async fn website(&self, ctx: &mut RequestContext, req: S3Request) -> Response<Body> {
        ctx.set_operation("WebsiteGetObject");
        let head = req.method == Method::HEAD;
        let Some(bucket) = req.bucket.clone() else {
            return redirect_response(301, "https://aws.amazon.com/s3/");
        };
        if req.method != Method::GET && !head {
            let e = S3Error::MethodNotAllowed {
                method: req.method.to_string(),
                resource: "OBJECT",
            };
            return html_error(ctx, head, &e.into_aws(), None);
        }
        let b = match self.bucket(&bucket) {
            Ok(b) => b,
            Err(e) => return html_error(ctx, head, &e.into_aws(), None),
        };
        let Some(doc) = b.config.get("website") else {
            let e = AwsError::new(
                StatusCode::NOT_FOUND,
                "NoSuchWebsiteConfiguration",
                "The specified bucket does not have a website configuration",
            )
            .with_field("BucketName", bucket.clone());
            return html_error(ctx, head, &e, None);
        };
        let cfg = parse_config(doc);
        let key = req.key.clone().unwrap_or_default();
        if let Some(all) = &cfg.redirect_all {
            return redirect_response(301, &location(ctx, all, &key, None));
        }
        // Rules without an error-code condition redirect before any lookup.
        if let Some(rule) = cfg.rules.iter().find(|r| {
            r.error_code.is_none() && r.prefix.as_deref().is_some_and(|p| key.starts_with(p))
        }) {
            return redirect_response(
                rule.redirect.code.unwrap_or(301),
                &location(ctx, &rule.redirect, &key, rule.prefix.as_deref()),
            );
        }
        let index = cfg.index.clone().unwrap_or_else(|| "index.html".to_owned());
        let target = if key.is_empty() || key.ends_with('/') {
            format!("{key}{index}")
        } else {
            key.clone()
        };
        let error = match self.website_object(ctx, &req, &bucket, &target, head) {
            Ok(r) => return r,
            Err(S3Error::NotModified {
                etag,
                last_modified,
            }) => return wire::not_modified(&etag, &last_modified),

            Err(S3Error::NoSuchKey { .. }) => {
                // `/dir` with only `dir/<index>`: S3 adds the slash.
                if target == key
                    && !key.is_empty()
                    && self
                        .read_version(&bucket, &format!("{key}/{index}"), None)
                        .is_ok()
                {
                    return redirect_response(302, &format!("/{}/", wire::url_encode(&key)));
                }
                S3Error::NoSuchKey {
                    key: target.clone(),
                    delete_marker: None,
                }
                .into_aws()
            }
            Err(e) => e.into_aws(),
        };
        let status = error.status.as_u16();
        if let Some(rule) = cfg.rules.iter().find(|r| {
            r.error_code == Some(status) && r.prefix.as_deref().is_none_or(|p| key.starts_with(p))
        }) {
            return redirect_response(
                rule.redirect.code.unwrap_or(301),
                &location(ctx, &rule.redirect, &key, rule.prefix.as_deref()),
            );
        }
        let Some(error_key) = cfg
            .error
            .as_deref()
            .filter(|_| error.status.is_client_error())
        else {
            return html_error(ctx, head, &error, None);
        };
        let plain = S3Request {
            method: req.method.clone(),
            bucket: req.bucket.clone(),
            key: Some(error_key.to_owned()),
            query: Vec::new(),
            headers: http::HeaderMap::new(),
            chunk_signer: None,
            anonymous: true,
        };
        match self.website_object(ctx, &plain, &bucket, error_key, head) {
            Ok(mut r) => {
                *r.status_mut() = error.status;
                error_headers(r.headers_mut(), &error);
                r
            }
            Err(doc_error) => {
                let doc_error = match doc_error {
                    S3Error::NoSuchKey { .. } => S3Error::NoSuchKey {
                        key: error_key.to_owned(),
                        delete_marker: None,
                    },
                    other => other,
                };
                html_error(ctx, head, &error, Some(&doc_error.into_aws()))
            }
        }
    }

    /// The object at `key` as the website serves it (the request's conditional and range headers
    /// apply; its query does not), or its own redirect.
    fn website_object(
        &self,
        ctx: &RequestContext,
        req: &S3Request,
        bucket: &str,
        key: &str,
        head: bool,
    ) -> Result<Response<Body>, S3Error> {
        // The website endpoint reads anonymously: the object must be public (a missing one reads
        // as 404 only to callers allowed to list the bucket, 403 otherwise).
        let read = S3Request {
            method: Method::GET,
            bucket: Some(bucket.to_owned()),
            key: Some(key.to_owned()),
            query: Vec::new(),
            headers: req.headers.clone(),
            chunk_signer: None,
            anonymous: true,
        };
        self.authorize_anonymous(ctx, &read, "GetObject", Some(bucket), Some(key), None)
            .map_err(|e| self.hide_missing(ctx, &read, bucket, e))?;
        let v = self
            .read_version(bucket, key, None)
            .map_err(|e| self.hide_missing(ctx, &read, bucket, e))?;
        if let Some((_, to)) = v
            .headers
            .iter()
            .find(|(n, _)| n == "x-amz-website-redirect-location")
        {
            return Ok(redirect_response(301, to));
        }
        let plain = S3Request {
            method: req.method.clone(),
            bucket: Some(bucket.to_owned()),
            key: Some(key.to_owned()),
            query: Vec::new(),
            headers: req.headers.clone(),
            chunk_signer: None,
            anonymous: true,
        };
        let mut r = self.get_object(&plain, bucket, key, head, None)?;
        // The website endpoint sends no S3 API headers of the version.
        r.headers_mut().remove("x-amz-version-id");
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration() {
        let cfg = parse_config(
            "<WebsiteConfiguration><IndexDocument><Suffix>index.html</Suffix></IndexDocument><ErrorDocument><Key>404.html</Key></ErrorDocument><RoutingRules><RoutingRule><Condition><KeyPrefixEquals>docs/</KeyPrefixEquals></Condition><Redirect><ReplaceKeyPrefixWith>documents/</ReplaceKeyPrefixWith><HttpRedirectCode>302</HttpRedirectCode></Redirect></RoutingRule></RoutingRules></WebsiteConfiguration>",
        );
        assert_eq!(cfg.index.as_deref(), Some("index.html"));
        assert_eq!(cfg.error.as_deref(), Some("404.html"));
        assert_eq!(cfg.rules.len(), 1);
        let rule = &cfg.rules[0];
        assert_eq!(rule.prefix.as_deref(), Some("docs/"));
        assert_eq!(rule.redirect.code, Some(302));
        let mut ctx = RequestContext::new("s3", skyport_core::Protocol::RestXml);
        ctx.host = "site.s3-website.localhost.localstack.cloud:4566".into();
        assert_eq!(
            location(&ctx, &rule.redirect, "docs/a b.html", Some("docs/")),
            "http://site.s3-website.localhost.localstack.cloud:4566/documents/a%20b.html"
        );
    }
}

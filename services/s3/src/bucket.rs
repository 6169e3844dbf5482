//! Bucket operations: create (location constraints and naming rules), delete, head, list, location,
//! versioning, the stored sub-resources (tagging, policy, CORS, lifecycle, encryption, ownership
//! controls, public access block, ACL, notification configuration) and CORS preflight.

use http::{Method, Response, StatusCode};
use skyport_core::xml::XmlWriter;
use skyport_core::{Body, RequestContext, body, timefmt};

use crate::error::{S3Error, S3Result};
use crate::model::{self, BucketRecord};
use crate::wire::{self, NS, S3Request};
use crate::{OWNER_ID, OWNER_NAME, S3};

/// Largest request document accepted (policies and configurations are small).
pub(crate) const MAX_DOC: usize = 1 << 20;

/// The configurable sub-resources: query name, store name, the error when unset.
struct SubResource {
    query: &'static str,
    op: &'static str,
    missing: Option<(&'static str, &'static str)>,
}

const SUBRESOURCES: &[SubResource] = &[
    SubResource {
        query: "tagging",
        op: "BucketTagging",
        missing: Some(("NoSuchTagSet", "TagSet")),
    },
    SubResource {
        query: "policy",
        op: "BucketPolicy",
        missing: Some(("NoSuchBucketPolicy", "bucket policy")),
    },
    SubResource {
        query: "cors",
        op: "BucketCors",
        missing: Some(("NoSuchCORSConfiguration", "CORS configuration")),
    },
    SubResource {
        query: "lifecycle",
        op: "BucketLifecycleConfiguration",
        missing: Some(("NoSuchLifecycleConfiguration", "lifecycle configuration")),
    },
    SubResource {
        query: "encryption",
        op: "BucketEncryption",
        missing: None,
    },
    SubResource {
        query: "ownershipControls",
        op: "BucketOwnershipControls",
        missing: Some((
            "OwnershipControlsNotFoundError",
            "bucket ownership controls",
        )),
    },
    SubResource {
        query: "publicAccessBlock",
        op: "PublicAccessBlock",
        missing: Some((
            "NoSuchPublicAccessBlockConfiguration",
            "public access block configuration",
        )),
    },
    SubResource {
        query: "acl",
        op: "BucketAcl",
        missing: None,
    },
    SubResource {
        query: "notification",
        op: "BucketNotificationConfiguration",
        missing: None,
    },
    SubResource {
        query: "website",
        op: "BucketWebsite",
        missing: Some(("NoSuchWebsiteConfiguration", "website configuration")),
    },
    SubResource {
        query: "logging",
        op: "BucketLogging",
        missing: None,
    },
    SubResource {
        query: "accelerate",
        op: "BucketAccelerateConfiguration",
        missing: None,
    },
    SubResource {
        query: "requestPayment",
        op: "BucketRequestPayment",
        missing: None,
    },
];

/// Checks S3's bucket naming rules.
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return false;
    }
    let edge_ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !edge_ok(b[0]) || !edge_ok(b[b.len() - 1]) {
        return false;
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
    {
        return false;
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return false;
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return false;
    }
    let bad_prefix = ["xn--", "sthree-", "amzn-s3-demo-"];
    let bad_suffix = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    !bad_prefix.iter().any(|p| name.starts_with(p)) && !bad_suffix.iter().any(|s| name.ends_with(s))
}

impl S3 {
    pub(crate) async fn bucket_op(
        &self,
        ctx: &mut RequestContext,
        req: &S3Request,
        bucket: &str,
        body: Body,
    ) -> S3Result<Response<Body>> {
        let m = &req.method;
        if let Some(sub) = SUBRESOURCES.iter().find(|s| req.has(s.query)) {
            let verb = match *m {
                Method::GET => "Get",
                Method::PUT => "Put",
                Method::DELETE => "Delete",
                _ => {
                    return Err(S3Error::MethodNotAllowed {
                        method: m.to_string(),
                        resource: "BUCKET",
                    });
                }
            };
            ctx.set_operation(format!("{verb}{}", sub.op));
            return self.subresource(ctx, req, bucket, sub, body).await;
        }
        match *m {
            Method::PUT if req.has("object-lock") => {
                ctx.set_operation("PutObjectLockConfiguration");
                self.put_object_lock_configuration(bucket, body).await
            }
            Method::GET if req.has("object-lock") => {
                ctx.set_operation("GetObjectLockConfiguration");
                self.get_object_lock_configuration(bucket)
            }
            Method::PUT if req.has("versioning") => {
                ctx.set_operation("PutBucketVersioning");
                self.put_versioning(bucket, body).await
            }
            Method::PUT => {
                ctx.set_operation("CreateBucket");
                self.create_bucket(ctx, req, bucket, body).await
            }
            Method::HEAD => {
                ctx.set_operation("HeadBucket");
                let b = self.bucket(bucket)?;
                let mut r = wire::empty(StatusCode::OK);
                wire::set(r.headers_mut(), "x-amz-bucket-region", &b.region);
                wire::set(r.headers_mut(), "x-amz-access-point-alias", "false");
                Ok(r)
            }
            Method::DELETE => {
                ctx.set_operation("DeleteBucket");
                self.delete_bucket(bucket).await
            }
            Method::GET if req.has("location") => {
                ctx.set_operation("GetBucketLocation");
                let b = self.bucket(bucket)?;
                let text = if b.region == "us-east-1" {
                    format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{NS}\"/>"
                    )
                } else {
                    format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{NS}\">{}</LocationConstraint>",
                        skyport_core::xml::escape(&b.region)
                    )
                };
                Ok(wire::xml(StatusCode::OK, text))
            }
            Method::GET if req.has("versioning") => {
                ctx.set_operation("GetBucketVersioning");
                let b = self.bucket(bucket)?;
                let mut w = XmlWriter::with_declaration();
                w.start_ns("VersioningConfiguration", NS);
                w.opt_leaf("Status", b.versioning.as_deref());
                w.opt_leaf("MfaDelete", b.mfa_delete.as_deref());
                w.end("VersioningConfiguration");
                Ok(wire::xml(StatusCode::OK, w.finish()))
            }
            Method::GET if req.has("versions") => {
                ctx.set_operation("ListObjectVersions");
                self.list_versions(req, bucket)
            }
            Method::GET if req.has("uploads") => {
                ctx.set_operation("ListMultipartUploads");
                self.list_uploads(req, bucket)
            }
            Method::GET if req.q("list-type") == Some("2") => {
                ctx.set_operation("ListObjectsV2");
                self.list_objects(req, bucket, true)
            }
            Method::GET => {
                ctx.set_operation("ListObjects");
                self.list_objects(req, bucket, false)
            }
            Method::POST
                if req
                    .h("content-type")
                    .is_some_and(|t| t.to_ascii_lowercase().starts_with("multipart/form-data")) =>
            {
                let (response, event) = self.post_object(ctx, req, bucket, body).await?;
                self.notify(ctx, bucket, &[event]).await;
                Ok(response)
            }
            Method::POST if req.has("delete") => {
                ctx.set_operation("DeleteObjects");
                let (response, events) = self.delete_objects(req, bucket, body).await?;
                self.notify(ctx, bucket, &events).await;
                Ok(response)
            }
            _ => Err(S3Error::MethodNotAllowed {
                method: m.to_string(),
                resource: "BUCKET",
            }),
        }
    }

    async fn create_bucket(
        &self,
        ctx: &RequestContext,
        req: &S3Request,
        bucket: &str,
        body: Body,
    ) -> S3Result<Response<Body>> {
        if !valid_bucket_name(bucket) {
            return Err(S3Error::InvalidBucketName {
                bucket: bucket.to_owned(),
            });
        }
        let doc = read_doc(body).await?;
        let constraint = if doc.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            let root = wire::parse_xml(&doc)?;
            root.text_of("LocationConstraint")
                .map(str::to_owned)
                .filter(|c| !c.is_empty())
        };
        let region = match &constraint {
            Some(c) => {
                if c == "us-east-1" || !skyport_core::arn::is_region(c) {
                    return Err(S3Error::InvalidLocationConstraint {
                        constraint: c.clone(),
                    });
                }
                if *c != ctx.region {
                    return Err(S3Error::IllegalLocationConstraint {
                        constraint: c.clone(),
                    });
                }
                c.clone()
            }
            None => {
                if ctx.region != "us-east-1" {
                    return Err(S3Error::IllegalLocationConstraint {
                        constraint: String::new(),
                    });
                }
                "us-east-1".to_owned()
            }
        };
        let mut record = BucketRecord {
            name: bucket.to_owned(),
            region: region.clone(),
            account: ctx.account.clone(),
            created_ms: model::now_ms(),
            versioning: None,
            mfa_delete: None,
            config: Default::default(),
            object_lock: false,
            default_retention: None,
        };
        // Object Lock at creation also enables versioning, for good.
        if req
            .h("x-amz-bucket-object-lock-enabled")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        {
            record.object_lock = true;
            record.versioning = Some("Enabled".into());
        }
        let acl = req.h("x-amz-acl").map(str::to_owned);
        let name = bucket.to_owned();
        let account = ctx.account.clone();
        let created = self
            .store
            .write_async(move |w| {
                if let Some(existing) = w.get(model::BUCKETS, &name)? {
                    let existing: BucketRecord = serde_json::from_slice(&existing)?;
                    return Ok(Err((existing.account == account, existing.region)));
                }
                let mut record = record;
                if let Some(acl) = acl {
                    record.config.insert("canned-acl".into(), acl);
                }
                w.put_json(model::BUCKETS, &name, &record)?;
                Ok(Ok(()))
            })
            .await?;
        match created {
            Ok(()) => {}
            Err((true, existing_region)) => {
                if !(existing_region == "us-east-1" && region == "us-east-1") {
                    return Err(S3Error::BucketAlreadyOwnedByYou {
                        bucket: bucket.to_owned(),
                    });
                }
            }
            Err((false, _)) => {
                return Err(S3Error::BucketAlreadyExists {
                    bucket: bucket.to_owned(),
                });
            }
        }
        let mut r = wire::empty(StatusCode::OK);
        wire::set(r.headers_mut(), "location", &format!("/{bucket}"));
        Ok(r)
    }

    async fn delete_bucket(&self, bucket: &str) -> S3Result<Response<Body>> {
        self.bucket(bucket)?;
        let name = bucket.to_owned();
        let outcome = format!("{bucket}/");
        let non_empty = self.store.read(|r| {
            Ok(
                !r.scan_prefix(model::OBJECTS, &outcome, None, 1)?.is_empty()
                    || !r.scan_prefix(model::UPLOADS, &outcome, None, 1)?.is_empty(),
            )
        })?;
        if non_empty {
            return Err(S3Error::BucketNotEmpty { bucket: name });
        }
        self.store
            .write_freeing_async(move |w| {
                w.delete(model::BUCKETS, &name)?;
                Ok(())
            })
            .await?;
        Ok(wire::empty(StatusCode::NO_CONTENT))
    }

    async fn put_versioning(&self, bucket: &str, body: Body) -> S3Result<Response<Body>> {
        self.bucket(bucket)?;
        let doc = read_doc(body).await?;
        let root = wire::parse_xml(&doc)?;
        let status = root.text_of("Status").map(str::to_owned);
        if let Some(s) = &status
            && s != "Enabled"
            && s != "Suspended"
        {
            return Err(S3Error::MalformedXml);
        }
        let mfa = root.text_of("MfaDelete").map(str::to_owned);
        let name = bucket.to_owned();
        self.store
            .write_async(move |w| {
                if let Some(raw) = w.get(model::BUCKETS, &name)? {
                    let mut b: BucketRecord = serde_json::from_slice(&raw)?;
                    if b.object_lock && status.as_deref().is_some_and(|s| s != "Enabled") {
                        return Ok(Err(S3Error::InvalidBucketState {
                            message: "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.".into(),
                        }));
                    }
                    if status.is_some() {
                        b.versioning = status;
                    }
                    if mfa.is_some() {
                        b.mfa_delete = mfa;
                    }
                    w.put_json(model::BUCKETS, &name, &b)?;
                }
                Ok(Ok(()))
            })
            .await??;
        Ok(wire::empty(StatusCode::OK))
    }

    async fn subresource(
        &self,
        ctx: &RequestContext,
        req: &S3Request,
        bucket: &str,
        sub: &SubResource,
        body: Body,
    ) -> S3Result<Response<Body>> {
        let b = self.bucket(bucket)?;
        match req.method {
            Method::GET => {
                if let Some(doc) = b.config.get(sub.query) {
                    return Ok(if sub.query == "policy" {
                        let mut r = http::Response::new(body::full(doc.clone()));
                        wire::set(r.headers_mut(), "content-type", "application/json");
                        wire::set(r.headers_mut(), "content-length", &doc.len().to_string());
                        r
                    } else {
                        wire::xml(StatusCode::OK, doc.clone())
                    });
                }
                if let Some((code, what)) = sub.missing {
                    return Err(S3Error::NoSuchConfiguration {
                        code,
                        what,
                        bucket: bucket.to_owned(),
                    });
                }
                Ok(wire::xml(StatusCode::OK, default_doc(sub.query, &b)))
            }
            Method::PUT => {
                let doc = read_doc(body).await?;
                let text = String::from_utf8(doc.to_vec()).map_err(|_| S3Error::MalformedXml)?;
                if sub.query == "policy" {
                    if serde_json::from_str::<serde_json::Value>(&text).is_err() {
                        return Err(S3Error::MalformedPolicy);
                    }
                } else if sub.query == "acl" && text.trim().is_empty() {
                    // A canned ACL in `x-amz-acl` with no body.
                } else {
                    wire::parse_xml(text.as_bytes())?;
                }
                if sub.query == "notification" {
                    self.validate_notification(ctx, bucket, &text).await?;
                }
                let stored = if sub.query == "acl" && text.trim().is_empty() {
                    None
                } else {
                    Some(text)
                };
                let name = bucket.to_owned();
                let key = sub.query;
                self.store
                    .write_async(move |w| {
                        if let Some(raw) = w.get(model::BUCKETS, &name)? {
                            let mut b: BucketRecord = serde_json::from_slice(&raw)?;
                            match stored {
                                Some(t) => b.config.insert(key.to_owned(), t),
                                None => b.config.remove(key),
                            };
                            w.put_json(model::BUCKETS, &name, &b)?;
                        }
                        Ok(())
                    })
                    .await?;
                Ok(wire::empty(if sub.query == "policy" {
                    StatusCode::NO_CONTENT
                } else {
                    StatusCode::OK
                }))
            }
            _ => {
                let name = bucket.to_owned();
                let key = sub.query;
                self.store
                    .write_async(move |w| {
                        if let Some(raw) = w.get(model::BUCKETS, &name)? {
                            let mut b: BucketRecord = serde_json::from_slice(&raw)?;
                            b.config.remove(key);
                            w.put_json(model::BUCKETS, &name, &b)?;
                        }
                        Ok(())
                    })
                    .await?;
                Ok(wire::empty(StatusCode::NO_CONTENT))
            }
        }
    }

    pub(crate) fn list_buckets(
        &self,
        ctx: &RequestContext,
        req: &S3Request,
    ) -> S3Result<Response<Body>> {
        let prefix = req.q("prefix").unwrap_or("");
        let region = req.q("bucket-region");
        let max = match req.q("max-buckets") {
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=10000).contains(&n) => n,
                _ => {
                    return Err(S3Error::argument(
                        "Argument max-buckets must be an integer between 1 and 10000",
                        "max-buckets",
                        v,
                    ));
                }
            },
            None => 10000,
        };
        let token = req.q("continuation-token").map(str::to_owned);
        let start = token
            .clone()
            .or_else(|| (!prefix.is_empty()).then(|| prefix.to_owned()));
        let mut buckets = Vec::new();
        let mut cursor = start.clone();
        let mut first = true;
        let mut truncated = false;
        'outer: loop {
            let batch = self.store.read(|r| {
                r.scan_prefix(
                    model::BUCKETS,
                    prefix,
                    cursor.as_deref().filter(|_| !first || token.is_some()),
                    500,
                )
            })?;
            first = false;
            if batch.is_empty() {
                break;
            }
            for (name, raw) in &batch {
                cursor = Some(name.clone());
                let Ok(b) = serde_json::from_slice::<BucketRecord>(raw) else {
                    continue;
                };
                if b.account != ctx.account || region.is_some_and(|r| r != b.region) {
                    continue;
                }
                if buckets.len() == max {
                    truncated = true;
                    break 'outer;
                }
                buckets.push(b);
            }
        }
        let mut w = XmlWriter::with_declaration();
        w.start_ns("ListAllMyBucketsResult", NS).start("Buckets");
        for b in &buckets {
            w.start("Bucket")
                .leaf("Name", &b.name)
                .leaf(
                    "CreationDate",
                    &timefmt::iso8601_millis(model::time_of(b.created_ms)),
                )
                .leaf("BucketRegion", &b.region)
                .end("Bucket");
        }
        w.end("Buckets");
        w.start("Owner")
            .leaf("DisplayName", OWNER_NAME)
            .leaf("ID", OWNER_ID)
            .end("Owner");
        if truncated && let Some(last) = buckets.last() {
            w.leaf("ContinuationToken", &last.name);
        }
        if req.q("prefix").is_some() {
            w.leaf("Prefix", prefix);
        }
        w.end("ListAllMyBucketsResult");
        Ok(wire::xml(StatusCode::OK, w.finish()))
    }

    /// Answers a CORS preflight from the bucket's CORS configuration.
    pub(crate) fn preflight(&self, req: &S3Request, bucket: &str) -> S3Result<Response<Body>> {
        let forbidden = || S3Error::CorsForbidden;
        let origin = req.h("origin").ok_or_else(|| {
            S3Error::request("Insufficient information. Origin request header needed.")
        })?;
        let method = req
            .h("access-control-request-method")
            .ok_or_else(|| S3Error::request("Invalid Access-Control-Request-Method: null"))?;
        let b = self.bucket(bucket)?;
        let Some(doc) = b.config.get("cors") else {
            return Err(forbidden());
        };
        let root = wire::parse_xml(doc.as_bytes())?;
        let req_headers: Vec<String> = req
            .h("access-control-request-headers")
            .map(|h| {
                h.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        for rule in root.all("CORSRule") {
            let origin_ok = rule.all("AllowedOrigin").any(|o| wildcard(&o.text, origin));
            let method_ok = rule.all("AllowedMethod").any(|m| m.text == method);
            let headers_ok = req_headers.iter().all(|h| {
                rule.all("AllowedHeader")
                    .any(|a| wildcard(&a.text.to_ascii_lowercase(), h))
            });
            if origin_ok && method_ok && headers_ok {
                let mut r = wire::empty(StatusCode::OK);
                let h = r.headers_mut();
                let any = rule.all("AllowedOrigin").any(|o| o.text == "*");
                wire::set(
                    h,
                    "access-control-allow-origin",
                    if any { "*" } else { origin },
                );
                let methods: Vec<&str> =
                    rule.all("AllowedMethod").map(|m| m.text.as_str()).collect();
                wire::set(h, "access-control-allow-methods", &methods.join(", "));
                if !req_headers.is_empty() {
                    wire::set(h, "access-control-allow-headers", &req_headers.join(", "));
                }
                let expose: Vec<&str> = rule.all("ExposeHeader").map(|m| m.text.as_str()).collect();
                if !expose.is_empty() {
                    wire::set(h, "access-control-expose-headers", &expose.join(", "));
                }
                if let Some(age) = rule.text_of("MaxAgeSeconds") {
                    wire::set(h, "access-control-max-age", age);
                }
                if !any {
                    wire::set(h, "access-control-allow-credentials", "true");
                }
                wire::set(
                    h,
                    "vary",
                    "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
                );
                return Ok(r);
            }
        }
        Err(forbidden())
    }
}

fn wildcard(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((pre, post)) => {
            value.len() >= pre.len() + post.len() && value.starts_with(pre) && value.ends_with(post)
        }
    }
}

/// What GET returns for sub-resources that have a default.
fn default_doc(query: &str, b: &BucketRecord) -> String {
    let mut w = XmlWriter::with_declaration();
    match query {
        "encryption" => {
            w.start_ns("ServerSideEncryptionConfiguration", NS)
                .start("Rule")
                .start("ApplyServerSideEncryptionByDefault")
                .leaf("SSEAlgorithm", "AES256")
                .end("ApplyServerSideEncryptionByDefault")
                .leaf("BucketKeyEnabled", "false")
                .end("Rule")
                .end("ServerSideEncryptionConfiguration");
        }
        "acl" => {
            let _ = b;
            return acl_doc();
        }
        "notification" => {
            w.start_ns("NotificationConfiguration", NS)
                .end("NotificationConfiguration");
        }
        "logging" => {
            w.start_ns("BucketLoggingStatus", NS)
                .end("BucketLoggingStatus");
        }
        "accelerate" => {
            w.start_ns("AccelerateConfiguration", NS)
                .end("AccelerateConfiguration");
        }
        _ => {
            w.start_ns("RequestPaymentConfiguration", NS)
                .leaf("Payer", "BucketOwner")
                .end("RequestPaymentConfiguration");
        }
    }
    w.finish()
}

/// The owner-full-control ACL document.
pub(crate) fn acl_doc() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AccessControlPolicy xmlns=\"{NS}\"><Owner><DisplayName>{OWNER_NAME}</DisplayName>\
         <ID>{OWNER_ID}</ID></Owner><AccessControlList><Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:type=\"CanonicalUser\"><DisplayName>{OWNER_NAME}</DisplayName><ID>{OWNER_ID}</ID></Grantee>\
         <Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>"
    )
}

/// Reads a small request document.
pub(crate) async fn read_doc(body: Body) -> S3Result<bytes::Bytes> {
    skyport_core::body::collect_limited(body, MAX_DOC)
        .await
        .map_err(|e| match e {
            skyport_core::body::BodyError::TooLarge { .. } => S3Error::MalformedXml,
            skyport_core::body::BodyError::Read(_) => S3Error::IncompleteBody,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming_rules() {
        for ok in ["abc", "my-bucket.1", "a".repeat(63).as_str()] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "Abc",
            "a_b",
            "-ab",
            "ab-",
            "a..b",
            "192.168.1.1",
            "xn--abc",
            "abc-s3alias",
            "a.-b",
            &"a".repeat(64),
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }
}

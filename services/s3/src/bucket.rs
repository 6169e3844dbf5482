//! Bucket operations: create (location constraints, naming rules, object ownership, tags), delete
//! (unfinished uploads go with the bucket), head, list, location, versioning, the stored sub-resources
//! (tagging, policy, CORS, lifecycle, encryption, ownership controls, public access block, ACL,
//! notification configuration, logging; validated as S3 does before they are stored) and CORS
//! preflight.

use http::{Method, Response, StatusCode};
use skyport_core::xml::XmlWriter;
use skyport_core::{Body, RequestContext, body};

use crate::acl;
use crate::error::{S3Error, S3Result};
use crate::model::{self, BucketRecord};
use crate::validate::{self, TagOwner};
use crate::wire::{self, NS, S3Request};
use crate::{S3, canonical_id};

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
        missing: Some(("NoSuchTagSet", "The TagSet does not exist")),
    },
    SubResource {
        query: "policy",
        op: "BucketPolicy",
        missing: Some(("NoSuchBucketPolicy", "The bucket policy does not exist")),
    },
    SubResource {
        query: "cors",
        op: "BucketCors",
        missing: Some((
            "NoSuchCORSConfiguration",
            "The CORS configuration does not exist",
        )),
    },
    SubResource {
        query: "lifecycle",
        op: "BucketLifecycleConfiguration",
        missing: Some((
            "NoSuchLifecycleConfiguration",
            "The lifecycle configuration does not exist",
        )),
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
            "The bucket ownership controls were not found",
        )),
    },
    SubResource {
        query: "publicAccessBlock",
        op: "PublicAccessBlock",
        missing: Some((
            "NoSuchPublicAccessBlockConfiguration",
            "The public access block configuration was not found",
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
        missing: Some((
            "NoSuchWebsiteConfiguration",
            "The specified bucket does not have a website configuration",
        )),
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
            self.authorize(ctx, req, &format!("{verb}{}", sub.op))?;
            return self.subresource(ctx, req, bucket, sub, body).await;
        }
        match *m {
            Method::PUT if req.has("object-lock") => {
                self.authorize(ctx, req, "PutObjectLockConfiguration")?;
                self.put_object_lock_configuration(bucket, body).await
            }
            Method::GET if req.has("object-lock") => {
                self.authorize(ctx, req, "GetObjectLockConfiguration")?;
                self.get_object_lock_configuration(bucket)
            }
            Method::PUT if req.has("versioning") => {
                self.authorize(ctx, req, "PutBucketVersioning")?;
                self.put_versioning(bucket, body).await
            }
            Method::PUT => {
                self.authorize(ctx, req, "CreateBucket")?;
                self.create_bucket(ctx, req, bucket, body).await
            }
            Method::HEAD => {
                self.authorize(ctx, req, "HeadBucket")?;
                let b = self.bucket(bucket)?;
                let mut r = wire::empty(StatusCode::OK);
                wire::set(r.headers_mut(), "x-amz-bucket-region", &b.region);
                wire::set(r.headers_mut(), "x-amz-access-point-alias", "false");
                wire::set(r.headers_mut(), "x-amz-bucket-arn", &b.arn());
                Ok(r)
            }
            Method::DELETE => {
                self.authorize(ctx, req, "DeleteBucket")?;
                self.delete_bucket(bucket).await
            }
            Method::GET if req.has("location") => {
                self.authorize(ctx, req, "GetBucketLocation")?;
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
                self.authorize(ctx, req, "GetBucketVersioning")?;
                let b = self.bucket(bucket)?;
                let mut w = XmlWriter::with_declaration();
                w.start_ns("VersioningConfiguration", NS);
                w.opt_leaf("Status", b.versioning.as_deref());
                w.opt_leaf("MfaDelete", b.mfa_delete.as_deref());
                w.end("VersioningConfiguration");
                Ok(wire::xml(StatusCode::OK, w.finish()))
            }
            Method::GET if req.has("versions") => {
                self.authorize(ctx, req, "ListObjectVersions")?;
                self.list_versions(req, bucket)
            }
            Method::GET if req.has("uploads") => {
                self.authorize(ctx, req, "ListMultipartUploads")?;
                self.list_uploads(req, bucket)
            }
            Method::GET if req.q("list-type") == Some("2") => {
                self.authorize(ctx, req, "ListObjectsV2")?;
                self.list_objects(req, bucket, true)
            }
            Method::GET => {
                self.authorize(ctx, req, "ListObjects")?;
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
                self.authorize(ctx, req, "DeleteObjects")?;
                let (response, events) = self.delete_objects(ctx, req, bucket, body).await?;
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
        let (constraint, tags) = if doc.iter().all(u8::is_ascii_whitespace) {
            (None, None)
        } else {
            let root = wire::parse_xml(&doc)?;
            if root.name != "CreateBucketConfiguration" {
                return Err(S3Error::MalformedXml);
            }
            let tags = match root.child("Tags") {
                Some(t) => {
                    let list = validate::tag_list(t.all("Tag"))?;
                    validate::tags(&list, TagOwner::Bucket)?;
                    Some(list)
                }
                None => None,
            };
            let constraint = root
                .text_of("LocationConstraint")
                .map(str::to_owned)
                .filter(|c| !c.is_empty());
            (constraint, tags)
        };
        let region = match &constraint {
            Some(c) => {
                // `EU` is the legacy name of eu-west-1.
                let region = if c == "EU" { "eu-west-1" } else { c.as_str() };
                if region == "us-east-1" || !skyport_core::arn::is_region(region) {
                    return Err(S3Error::InvalidLocationConstraint {
                        constraint: c.clone(),
                    });
                }
                // The us-east-1 endpoint creates buckets in any region; the others only in their own.
                if ctx.region != "us-east-1" && region != ctx.region {
                    return Err(S3Error::IllegalLocationConstraint {
                        constraint: c.clone(),
                    });
                }
                region.to_owned()
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
        let ownership = match req.h("x-amz-object-ownership") {
            None => "BucketOwnerEnforced".to_owned(),
            Some(o @ ("BucketOwnerEnforced" | "BucketOwnerPreferred" | "ObjectWriter")) => {
                o.to_owned()
            }
            Some(other) => {
                return Err(S3Error::argument(
                    format!("Invalid x-amz-object-ownership header: {other}"),
                    "x-amz-object-ownership",
                    other,
                ));
            }
        };
        let acl = acl::from_headers(req, &canonical_id(&ctx.account))?.filter(|a| a != "private");
        if ownership == "BucketOwnerEnforced" && acl.is_some() {
            return Err(S3Error::AclWithBucketOwnerEnforced);
        }
        // A new bucket's public access block blocks public ACLs: "If you try to create a bucket
        // with a public ACL, the request will fail" (CreateBucket).
        if acl::is_public(acl.as_deref()) {
            tracing::debug!(bucket, "s3: CreateBucket with a public ACL refused");
            return Err(S3Error::PolicyDenied("Access Denied".into()));
        }
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
            ownership: Some(ownership),
            public_access_block: Some([true; 4]),
        };
        if let Some(tags) = &tags {
            record
                .config
                .insert("tagging".into(), tagging_doc(tags.iter()));
        }
        // Object Lock at creation also enables versioning, for good.
        if req
            .h("x-amz-bucket-object-lock-enabled")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        {
            record.object_lock = true;
            record.versioning = Some("Enabled".into());
        }
        if let Some(acl) = acl {
            let key = if acl.starts_with('<') {
                "acl"
            } else {
                "canned-acl"
            };
            record.config.insert(key.into(), acl);
        }
        let arn = record.arn();
        let name = bucket.to_owned();
        let account = ctx.account.clone();
        let created = self
            .store
            .write_async(move |w| {
                if let Some(existing) = w.get(model::BUCKETS, &name)? {
                    let existing: BucketRecord = serde_json::from_slice(&existing)?;
                    return Ok(Err((existing.account == account, existing.region)));
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
        wire::set(r.headers_mut(), "x-amz-bucket-arn", &arn);
        Ok(r)
    }

    /// Deletes an empty bucket. Unfinished multipart uploads do not keep a bucket alive: they are
    /// aborted with it, as in S3.
    async fn delete_bucket(&self, bucket: &str) -> S3Result<Response<Body>> {
        let b = self.bucket(bucket)?;
        let prefix = format!("{bucket}/");
        let (non_empty, uploads) = self.store.read(|r| {
            let non_empty = !r.scan_prefix(model::OBJECTS, &prefix, None, 1)?.is_empty();
            let uploads: Vec<String> = if non_empty {
                Vec::new()
            } else {
                r.scan_prefix(model::UPLOADS, &prefix, None, usize::MAX)?
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect()
            };
            Ok((non_empty, uploads))
        })?;
        if non_empty {
            return Err(S3Error::BucketNotEmpty {
                bucket: bucket.to_owned(),
                versioned: b.versioning.is_some(),
            });
        }
        let name = bucket.to_owned();
        let parts = self
            .store
            .write_freeing_async(move |w| {
                let mut parts = Vec::new();
                for k in &uploads {
                    if let Some(raw) = w.get(model::UPLOADS, k)?
                        && let Ok(up) = serde_json::from_slice::<model::UploadBlobRefs>(&raw)
                    {
                        parts.extend(up.into_ids());
                    }
                    w.delete(model::UPLOADS, k)?;
                }
                w.delete(model::BUCKETS, &name)?;
                Ok(parts)
            })
            .await?;
        self.blobs.remove(parts);
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
        let missing = || {
            sub.missing
                .map(|(code, message)| S3Error::NoSuchConfiguration {
                    code,
                    message,
                    bucket: bucket.to_owned(),
                })
        };
        match req.method {
            Method::GET => {
                let generated = match sub.query {
                    "ownershipControls" => Some(b.ownership.as_deref().map(ownership_doc)),
                    "publicAccessBlock" => Some(b.public_access_block.map(public_access_block_doc)),
                    "acl" => Some(Some(bucket_acl_doc(&b))),
                    _ => None,
                };
                if let Some(doc) = generated {
                    return match doc {
                        Some(doc) => Ok(wire::xml(StatusCode::OK, doc)),
                        None => Err(missing().unwrap_or(S3Error::MalformedXml)),
                    };
                }
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
                if let Some(e) = missing() {
                    return Err(e);
                }
                Ok(wire::xml(StatusCode::OK, default_doc(sub.query)))
            }
            Method::PUT => {
                let doc = read_doc(body).await?;
                let text = String::from_utf8(doc.to_vec()).map_err(|_| S3Error::MalformedXml)?;
                let update = match sub.query {
                    "policy" => {
                        validate::policy(&text)?;
                        self.check_block_public_policy(ctx, &b, &text)?;
                        Update::Config(Some(text))
                    }
                    "tagging" => {
                        validate::tagging_document(&doc, TagOwner::Bucket)?;
                        Update::Config(Some(text))
                    }
                    "cors" => {
                        validate::cors(&doc)?;
                        Update::Config(Some(text))
                    }
                    "lifecycle" => {
                        validate::lifecycle(&doc)?;
                        Update::Config(Some(text))
                    }
                    "website" => {
                        validate::website(&doc)?;
                        Update::Config(Some(text))
                    }
                    "logging" => {
                        self.validate_logging(&b, &doc)?;
                        self.access_logs.enable();
                        Update::Config(Some(text))
                    }
                    "encryption" => {
                        validate_encryption(&doc)?;
                        Update::Config(Some(text))
                    }
                    "ownershipControls" => {
                        let ownership = parse_ownership(&doc)?;
                        // The ACL may only give the bucket owner full control.
                        let owner = acl::Grantee::User(canonical_id(&b.account));
                        let custom_acl = acl::grants(bucket_acl(&b))
                            .iter()
                            .any(|g| g.grantee != owner);
                        if ownership == "BucketOwnerEnforced" && custom_acl {
                            return Err(S3Error::AclWithBucketOwnerEnforced);
                        }
                        Update::Ownership(Some(ownership))
                    }
                    "publicAccessBlock" => Update::PublicAccess(Some(parse_public_access(&doc)?)),
                    "acl" => {
                        if b.acls_disabled() {
                            return Err(S3Error::AclNotSupported);
                        }
                        let owner = canonical_id(&b.account);
                        let from_headers = acl::from_headers(req, &owner)?;
                        // A document, or a canned ACL (`None`: private).
                        let (document, canned) = if text.trim().is_empty() {
                            match from_headers {
                                Some(doc) if doc.starts_with('<') => (Some(doc), None),
                                canned => (None, canned),
                            }
                        } else {
                            acl::validate(&doc)?;
                            (Some(text), None)
                        };
                        acl::check_block_public_acls(
                            &b,
                            document.as_deref().or(canned.as_deref()),
                        )?;
                        Update::Acl(document, canned)
                    }
                    "notification" => {
                        wire::parse_xml(&doc)?;
                        self.validate_notification(ctx, bucket, &text).await?;
                        Update::Config(Some(text))
                    }
                    _ => {
                        wire::parse_xml(&doc)?;
                        Update::Config(Some(text))
                    }
                };
                self.update_bucket(bucket, sub.query, update).await?;
                Ok(wire::empty(if sub.query == "policy" {
                    StatusCode::NO_CONTENT
                } else {
                    StatusCode::OK
                }))
            }
            _ => {
                let update = match sub.query {
                    "ownershipControls" => Update::Ownership(None),
                    "publicAccessBlock" => Update::PublicAccess(None),
                    _ => Update::Config(None),
                };
                self.update_bucket(bucket, sub.query, update).await?;
                Ok(wire::empty(StatusCode::NO_CONTENT))
            }
        }
    }

    /// Applies a sub-resource change to the bucket record.
    async fn update_bucket(&self, bucket: &str, key: &'static str, update: Update) -> S3Result<()> {
        let name = bucket.to_owned();
        self.store
            .write_async(move |w| {
                if let Some(raw) = w.get(model::BUCKETS, &name)? {
                    let mut b: BucketRecord = serde_json::from_slice(&raw)?;
                    match update {
                        Update::Config(Some(t)) => {
                            b.config.insert(key.to_owned(), t);
                        }
                        Update::Config(None) => {
                            b.config.remove(key);
                        }
                        Update::Ownership(o) => b.ownership = o,
                        Update::PublicAccess(p) => b.public_access_block = p,
                        Update::Acl(doc, canned) => {
                            match doc {
                                Some(d) => b.config.insert("acl".into(), d),
                                None => b.config.remove("acl"),
                            };
                            match canned.filter(|c| c != "private") {
                                Some(c) => b.config.insert("canned-acl".into(), c),
                                None => b.config.remove("canned-acl"),
                            };
                        }
                    }
                    w.put_json(model::BUCKETS, &name, &b)?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// A logging target must exist, belong to the same account and live in the same region.
    fn validate_logging(&self, b: &BucketRecord, doc: &[u8]) -> S3Result<()> {
        let root = wire::parse_xml(doc)?;
        if root.name != "BucketLoggingStatus" {
            return Err(S3Error::MalformedXml);
        }
        let Some(enabled) = root.child("LoggingEnabled") else {
            return Ok(());
        };
        let (Some(target), Some(_)) = (
            enabled.text_of("TargetBucket"),
            enabled.text_of("TargetPrefix"),
        ) else {
            return Err(S3Error::MalformedXml);
        };
        let t = match self.bucket(target) {
            Ok(t) => t,
            Err(S3Error::NoSuchBucket { .. }) => {
                return Err(S3Error::InvalidLoggingTarget {
                    message: "The target bucket for logging does not exist",
                    target: target.to_owned(),
                });
            }
            Err(e) => return Err(e),
        };
        if t.account != b.account {
            return Err(S3Error::InvalidLoggingTarget {
                message: "The owner for the bucket to be logged and the target bucket must be the same.",
                target: target.to_owned(),
            });
        }
        if t.region != b.region {
            return Err(S3Error::CrossLocationLogging {
                source_region: b.region.clone(),
                target_region: t.region.clone(),
            });
        }
        Ok(())
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
        // S3's element order: the owner first, then the buckets.
        let mut w = XmlWriter::with_declaration();
        w.start_ns("ListAllMyBucketsResult", NS);
        w.start("Owner")
            .leaf("ID", &canonical_id(&ctx.account))
            .end("Owner");
        w.start("Buckets");
        for b in &buckets {
            w.start("Bucket")
                .leaf("Name", &b.name)
                .leaf("CreationDate", &model::iso(b.created_ms))
                .leaf("BucketRegion", &b.region)
                .leaf("BucketArn", &b.arn())
                .end("Bucket");
        }
        w.end("Buckets");
        if truncated && let Some(last) = buckets.last() {
            w.leaf("ContinuationToken", &last.name);
        }
        if req.q("prefix").is_some() {
            w.leaf("Prefix", prefix);
        }
        w.end("ListAllMyBucketsResult");
        Ok(wire::xml(StatusCode::OK, w.finish()))
    }

    /// Answers a CORS preflight from the bucket's CORS configuration: 403 `AccessForbidden` when the
    /// bucket does not exist, has no configuration, or no rule allows the request.
    pub(crate) fn preflight(&self, req: &S3Request, bucket: &str) -> S3Result<Response<Body>> {
        let origin = req.h("origin").ok_or_else(|| {
            S3Error::request("Insufficient information. Origin request header needed.")
        })?;
        let method = req
            .h("access-control-request-method")
            .ok_or_else(|| S3Error::request("Invalid Access-Control-Request-Method: null"))?;
        let b = match self.bucket(bucket) {
            Ok(b) => b,
            Err(S3Error::NoSuchBucket { .. }) => {
                return Err(S3Error::CorsForbidden {
                    message: "CORSResponse: Bucket not found",
                });
            }
            Err(e) => return Err(e),
        };
        let Some(doc) = b.config.get("cors") else {
            return Err(S3Error::CorsForbidden {
                message: "CORSResponse: CORS is not enabled for this bucket.",
            });
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
        let Some(rule) = matching_rule(&root, origin, method, &req_headers) else {
            return Err(S3Error::CorsForbidden {
                message: "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
            });
        };
        let mut r = wire::empty(StatusCode::OK);
        let h = r.headers_mut();
        for (n, v) in cors_headers(rule, origin) {
            wire::set(h, n, &v);
        }
        if !req_headers.is_empty() {
            wire::set(h, "access-control-allow-headers", &req_headers.join(", "));
        }
        Ok(r)
    }

    /// The CORS headers of an actual (non-preflight) request with an `Origin` from a browser: those of
    /// the first rule of the bucket's CORS configuration that allows the origin and method, if any.
    pub(crate) fn actual_cors(
        &self,
        bucket: &str,
        origin: &str,
        method: &str,
    ) -> Vec<(&'static str, String)> {
        let Ok(b) = self.bucket(bucket) else {
            return Vec::new();
        };
        let Some(root) = b
            .config
            .get("cors")
            .and_then(|doc| wire::parse_xml(doc.as_bytes()).ok())
        else {
            return Vec::new();
        };
        matching_rule(&root, origin, method, &[])
            .map(|rule| cors_headers(rule, origin))
            .unwrap_or_default()
    }
}

/// The first CORS rule allowing this origin, method and request headers.
fn matching_rule<'a>(
    root: &'a wire::XmlNode,
    origin: &str,
    method: &str,
    req_headers: &[String],
) -> Option<&'a wire::XmlNode> {
    root.all("CORSRule").find(|rule| {
        rule.all("AllowedOrigin").any(|o| wildcard(&o.text, origin))
            && rule.all("AllowedMethod").any(|m| m.text == method)
            && req_headers.iter().all(|h| {
                rule.all("AllowedHeader")
                    .any(|a| wildcard(&a.text.to_ascii_lowercase(), h))
            })
    })
}

/// The response headers a matching CORS rule gives.
fn cors_headers(rule: &wire::XmlNode, origin: &str) -> Vec<(&'static str, String)> {
    let any = rule.all("AllowedOrigin").any(|o| o.text == "*");
    let mut out = vec![(
        "access-control-allow-origin",
        if any {
            "*".to_owned()
        } else {
            origin.to_owned()
        },
    )];
    let methods: Vec<&str> = rule.all("AllowedMethod").map(|m| m.text.as_str()).collect();
    out.push(("access-control-allow-methods", methods.join(", ")));
    let expose: Vec<&str> = rule.all("ExposeHeader").map(|m| m.text.as_str()).collect();
    if !expose.is_empty() {
        out.push(("access-control-expose-headers", expose.join(", ")));
    }
    if let Some(age) = rule.text_of("MaxAgeSeconds") {
        out.push(("access-control-max-age", age.to_owned()));
    }
    if !any {
        out.push(("access-control-allow-credentials", "true".to_owned()));
    }
    out.push((
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".to_owned(),
    ));
    out
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
fn default_doc(query: &str) -> String {
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

/// A sub-resource change to write to the bucket record.
enum Update {
    /// A stored document (`None` removes it).
    Config(Option<String>),
    Ownership(Option<String>),
    PublicAccess(Option<[bool; 4]>),
    /// An ACL document or a canned ACL.
    Acl(Option<String>, Option<String>),
}

fn ownership_doc(ownership: &str) -> String {
    let mut w = XmlWriter::with_declaration();
    w.start_ns("OwnershipControls", NS)
        .start("Rule")
        .leaf("ObjectOwnership", ownership)
        .end("Rule")
        .end("OwnershipControls");
    w.finish()
}

fn parse_ownership(doc: &[u8]) -> S3Result<String> {
    let root = wire::parse_xml(doc)?;
    let rules: Vec<&wire::XmlNode> = root.all("Rule").collect();
    if root.name != "OwnershipControls" || rules.len() != 1 {
        return Err(S3Error::MalformedXml);
    }
    match rules[0].text_of("ObjectOwnership") {
        Some(o @ ("BucketOwnerEnforced" | "BucketOwnerPreferred" | "ObjectWriter")) => {
            Ok(o.to_owned())
        }
        _ => Err(S3Error::MalformedXml),
    }
}

const PUBLIC_ACCESS_FIELDS: [&str; 4] = [
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
];

fn public_access_block_doc(flags: [bool; 4]) -> String {
    let mut w = XmlWriter::with_declaration();
    w.start_ns("PublicAccessBlockConfiguration", NS);
    for (name, on) in PUBLIC_ACCESS_FIELDS.iter().zip(flags) {
        w.leaf(name, if on { "true" } else { "false" });
    }
    w.end("PublicAccessBlockConfiguration");
    w.finish()
}

/// A `PublicAccessBlockConfiguration`: fields left out are `false`.
fn parse_public_access(doc: &[u8]) -> S3Result<[bool; 4]> {
    let root = wire::parse_xml(doc)?;
    if root.name != "PublicAccessBlockConfiguration" {
        return Err(S3Error::MalformedXml);
    }
    let mut flags = [false; 4];
    for (flag, name) in flags.iter_mut().zip(PUBLIC_ACCESS_FIELDS) {
        *flag = match root.text_of(name).map(str::trim) {
            None => false,
            Some(t) if t.eq_ignore_ascii_case("true") => true,
            Some(t) if t.eq_ignore_ascii_case("false") => false,
            Some(_) => return Err(S3Error::MalformedXml),
        };
    }
    Ok(flags)
}

/// A default-encryption configuration names an algorithm S3 knows; a KMS key only with KMS.
fn validate_encryption(doc: &[u8]) -> S3Result<()> {
    let root = wire::parse_xml(doc)?;
    if root.name != "ServerSideEncryptionConfiguration" || root.child("Rule").is_none() {
        return Err(S3Error::MalformedXml);
    }
    for rule in root.all("Rule") {
        let Some(default) = rule.child("ApplyServerSideEncryptionByDefault") else {
            continue;
        };
        let algorithm = default.text_of("SSEAlgorithm").unwrap_or("");
        if !["AES256", "aws:kms", "aws:kms:dsse"].contains(&algorithm) {
            return Err(S3Error::MalformedXml);
        }
        if algorithm == "AES256" && default.child("KMSMasterKeyID").is_some() {
            return Err(S3Error::argument(
                "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse",
                "ApplyServerSideEncryptionByDefault",
                "",
            ));
        }
    }
    Ok(())
}

/// A bucket's ACL as stored: its document, else its canned ACL (`None`: private).
pub(crate) fn bucket_acl(b: &BucketRecord) -> Option<&str> {
    b.config
        .get("acl")
        .or_else(|| b.config.get("canned-acl"))
        .map(String::as_str)
}

/// A bucket's ACL document: the stored one, or the grants of its canned ACL.
fn bucket_acl_doc(b: &BucketRecord) -> String {
    acl::stored_document(&canonical_id(&b.account), bucket_acl(b))
}

/// A `Tagging` document of these tags.
pub(crate) fn tagging_doc<'a>(tags: impl Iterator<Item = &'a (String, String)>) -> String {
    let mut w = XmlWriter::with_declaration();
    w.start_ns("Tagging", NS).start("TagSet");
    for (k, v) in tags {
        w.start("Tag").leaf("Key", k).leaf("Value", v).end("Tag");
    }
    w.end("TagSet").end("Tagging");
    w.finish()
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

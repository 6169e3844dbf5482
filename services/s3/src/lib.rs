//! skyport-s3: Amazon S3 on Skyport's gateway.
//!
//! # Wire format: our own REST-XML codec on `skyport-core`
//! s3s (the Rust S3 protocol crate) was evaluated. It brings its own HTTP service abstraction, error
//! type and routing, and its own body type; under Skyport that would mean a second router beside the
//! proxy's, a second error renderer beside `AwsError` (request ids, `HostId`, HEAD bodies handled in one
//! place), and adapting our streaming [`skyport_core::Body`] both ways. S3's wire format is small and
//! stable, so the codec is written here on `skyport-core`: [`wire`] parses requests (addressing, query,
//! headers, XML bodies) and builds responses; [`error::S3Error`] is the one error type, turned into an
//! [`AwsError`] in exactly one function; the operations (`bucket`, `object`, `multipart`, `list`) hold the
//! logic over [`blob::BlobStore`] (object bodies on disk) and the redb state store (metadata, [`model`]).
//! [`notify`] delivers event notifications to SQS (`QueueSink`) and Lambda (`FunctionInvoker`), `post` handles
//! browser form uploads, and [`sigv4`] is the opt-in strict signature check. `lock` is Object Lock
//! (retention, legal holds, the delete guard), [`lifecycle`] executes lifecycle rules in a background
//! thread, and `website` serves the `s3-website` endpoints (HTML errors, index documents, redirects).
//! `validate` holds the checks S3 makes on tags and configuration documents before storing them, `acl`
//! the ACLs (canned, grant headers, documents; which grants are public), and
//! `sse` the server-side encryption a write records and echoes (SSE-S3, SSE-KMS, SSE-C keys).
//!
//! # Addressing
//! Virtual-host style (`<bucket>.s3.<region>.amazonaws.com`, `<bucket>.s3.localhost.localstack.cloud`, and
//! botocore's `<bucket>.localhost.localstack.cloud` without an `s3` label), path style on any host
//! (`localhost:4566`, IPs, `s3.amazonaws.com`). Signatures are not checked (any credentials work).
//!
//! # Durability
//! A small body (up to [`blob::INLINE_MAX`]) is stored inline in the metadata store; a larger one is
//! streamed to a temporary file while its MD5 and checksums are computed, fsynced, and renamed into place.
//! Then its metadata is committed to the store, all before the 200. With persistence a crash leaves an
//! object either absent or complete; object data no metadata refers to is swept at the next start.
#![forbid(unsafe_code)]

mod access;
pub mod access_log;
mod acl;
pub mod blob;
mod bucket;
pub mod checksum;
pub mod chunked;
pub mod error;
pub mod lifecycle;
mod list;
mod lock;
pub mod md5;
pub mod model;
mod multipart;
pub mod notify;
mod object;
mod post;
mod restore;
pub mod select;
pub mod sigv4;
mod snapshot;
mod source;
mod sse;
mod subresource;
mod validate;
mod website;
pub mod wire;

use std::sync::Arc;

use http::{Method, Request, Response};
use skyport_core::bus::QueueSink;
use skyport_core::host::HostDomains;
use skyport_core::store::{StateLayout, Store, StoreError};
use skyport_core::{AwsError, Body, Protocol, RequestContext, Service, ServiceInfo};

use crate::blob::BlobStore;
use crate::error::{S3Error, S3Result};
use crate::model::BucketRecord;
use crate::wire::S3Request;

static INFO: ServiceInfo = ServiceInfo {
    name: "s3",
    protocols: &[Protocol::RestXml],
    xml_namespace: wire::NS,
    json_error_prefix: "",
};

/// The canonical user id of the default account (`000000000000`), the one LocalStack shows too.
pub const DEFAULT_OWNER_ID: &str =
    "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";

/// The canonical user id of an account, as owners appear in listings and ACLs: 64 hex digits, one per
/// account. (AWS no longer returns `DisplayName` in owners and grantees, so Skyport does not either.)
pub fn canonical_id(account: &str) -> String {
    if account == "000000000000" {
        return DEFAULT_OWNER_ID.to_owned();
    }
    use sha2::Digest;
    skyport_core::ids::hex(&sha2::Sha256::digest(format!(
        "skyport-canonical-user/{account}"
    )))
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum S3InitError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("object data directory: {0}")]
    Io(#[from] std::io::Error),
}

/// The S3 service.
pub struct S3 {
    store: Store,
    blobs: BlobStore,
    domains: HostDomains,
    queue_sink: Option<Arc<dyn QueueSink>>,
    /// Lambda, for `LambdaFunctionConfigurations` (wired after Lambda starts).
    functions: std::sync::OnceLock<Arc<dyn skyport_core::bus::FunctionInvoker>>,
    /// Where `EventBridgeConfiguration` sends the bucket's events (the account's default bus).
    event_sink: std::sync::OnceLock<Arc<dyn skyport_core::bus::EventSink>>,
    /// SNS, for `TopicConfigurations`.
    topics: std::sync::OnceLock<Arc<dyn skyport_core::bus::TopicPublisher>>,
    verifier: Option<sigv4::SigV4Verifier>,
    lifecycle: lifecycle::LifecycleOptions,
    /// Server access log records waiting for delivery.
    access_logs: access_log::AccessLogs,
    /// Bucket policies parsed for anonymous requests, once per stored document.
    policies: access::PolicyCache,
}

impl S3 {
    /// Opens the S3 state (metadata store and object directory) in `layout`.
    pub fn new(layout: &StateLayout, domains: HostDomains) -> Result<S3, S3InitError> {
        let dir = layout.service_dir("s3")?;
        let store = layout.open_store("s3")?;
        let blobs = BlobStore::open(&dir, layout.persistent(), store.clone())?;
        if layout.persistent() {
            // Off the start path: a sweep reads every object record.
            let (store, blobs) = (store.clone(), blobs.clone());
            std::thread::spawn(move || sweep_orphans(&store, &blobs));
        }
        let s3 = S3 {
            store,
            blobs,
            domains,
            queue_sink: None,
            functions: std::sync::OnceLock::new(),
            event_sink: std::sync::OnceLock::new(),
            topics: std::sync::OnceLock::new(),
            verifier: None,
            lifecycle: lifecycle::LifecycleOptions::default(),
            access_logs: access_log::AccessLogs::default(),
            policies: access::PolicyCache::default(),
        };
        s3.note_access_logging();
        Ok(s3)
    }

    /// Turns on strict SigV4 checking with these access keys (id → secret).
    pub fn with_sigv4_keys(mut self, keys: impl IntoIterator<Item = (String, String)>) -> S3 {
        self.verifier = Some(sigv4::SigV4Verifier::new(keys));
        self
    }

    /// Verifies every signed request against the keys `directory` knows (`ENFORCE_IAM=1`), and
    /// names the verified principal in the request context.
    pub fn with_credentials(
        mut self,
        directory: Arc<dyn skyport_core::bus::CredentialDirectory>,
    ) -> S3 {
        self.verifier = Some(sigv4::SigV4Verifier::with_directory(directory));
        self
    }

    /// Executes bucket lifecycle rules in a background thread with these settings (the length of a
    /// lifecycle day and the check interval); without it, rules are stored and reported only.
    pub fn start_lifecycle(mut self, options: lifecycle::LifecycleOptions) -> S3 {
        self.lifecycle = options;
        lifecycle::spawn(self.store.clone(), self.blobs.clone(), options);
        self
    }

    /// Delivers event notifications to SQS queues through `sink`.
    pub fn with_queue_sink(mut self, sink: Arc<dyn QueueSink>) -> S3 {
        self.queue_sink = Some(sink);
        self
    }

    /// Invokes Lambda functions for `LambdaFunctionConfigurations` through `functions`.
    pub fn set_function_invoker(&self, functions: Arc<dyn skyport_core::bus::FunctionInvoker>) {
        let _ = self.functions.set(functions);
    }

    /// Publishes event notifications of `TopicConfigurations` to SNS topics through `topics`.
    pub fn set_topic_publisher(&self, topics: Arc<dyn skyport_core::bus::TopicPublisher>) {
        let _ = self.topics.set(topics);
    }

    /// Puts the events of buckets with an `EventBridgeConfiguration` on EventBridge through `events`.
    pub fn set_event_sink(&self, events: Arc<dyn skyport_core::bus::EventSink>) {
        let _ = self.event_sink.set(events);
    }

    /// The bucket, or `NoSuchBucket`.
    fn bucket(&self, name: &str) -> S3Result<BucketRecord> {
        self.store
            .get_json::<BucketRecord>(model::BUCKETS, name)?
            .ok_or_else(|| S3Error::NoSuchBucket {
                bucket: name.to_owned(),
            })
    }

    /// `x-amz-expected-bucket-owner` (and `x-amz-source-expected-bucket-owner` on copies): a bucket
    /// owned by another account answers `403 AccessDenied`, as in AWS.
    fn check_expected_owners(&self, req: &S3Request, bucket: &str) -> S3Result<()> {
        let denied = || S3Error::PolicyDenied("Access Denied".into());
        if let Some(expected) = req.h("x-amz-expected-bucket-owner")
            && let Ok(b) = self.bucket(bucket)
            && b.account != expected.trim()
        {
            return Err(denied());
        }
        if let Some(expected) = req.h("x-amz-source-expected-bucket-owner")
            && req.h("x-amz-copy-source").is_some()
            && let Ok((source, _, _)) = S3::copy_source(req)
            && let Ok(b) = self.bucket(&source)
            && b.account != expected.trim()
        {
            return Err(denied());
        }
        Ok(())
    }

    async fn route(
        &self,
        ctx: &mut RequestContext,
        req: S3Request,
        body: Body,
    ) -> S3Result<Response<Body>> {
        let m = req.method.clone();
        let Some(bucket) = req.bucket.clone() else {
            return match m {
                Method::GET => {
                    self.authorize(ctx, &req, "ListBuckets")?;
                    self.list_buckets(ctx, &req)
                }
                _ => Err(S3Error::MethodNotAllowed {
                    method: m.to_string(),
                    resource: "SERVICE",
                }),
            };
        };
        if m == Method::OPTIONS {
            ctx.set_operation("PreflightRequest");
            return self.preflight(&req, &bucket);
        }
        subresource::check(&req)?;
        self.check_expected_owners(&req, &bucket)?;
        match req.key.clone() {
            None => self.bucket_op(ctx, &req, &bucket, body).await,
            Some(key) => {
                if key.len() > 1024 {
                    return Err(S3Error::KeyTooLong { size: key.len() });
                }
                let response = match self.object_op(ctx, &req, &bucket, &key, body).await {
                    Ok(r) => r,
                    Err(e) if req.anonymous => return Err(self.hide_missing(ctx, &req, &bucket, e)),
                    Err(e) => return Err(e),
                };
                let notifies = matches!(
                    ctx.operation.as_deref(),
                    Some(
                        "PutObject"
                            | "CopyObject"
                            | "CompleteMultipartUpload"
                            | "DeleteObject"
                            | "PutObjectTagging"
                            | "DeleteObjectTagging"
                            | "PutObjectAcl"
                            | "RestoreObject"
                    )
                );
                if notifies
                    && (self.queue_sink.is_some()
                        || self.functions.get().is_some()
                        || self.topics.get().is_some()
                        || self.event_sink.get().is_some())
                    && self
                        .bucket(&bucket)
                        .is_ok_and(|b| b.config.contains_key("notification"))
                {
                    let events =
                        self.events_of(ctx, &bucket, &key, req.has("versionId"), &response);
                    self.notify(ctx, &bucket, &events).await;
                }
                Ok(response)
            }
        }
    }

    /// The notification events of a successful single-object operation.
    fn events_of(
        &self,
        ctx: &RequestContext,
        bucket: &str,
        key: &str,
        by_version: bool,
        response: &Response<Body>,
    ) -> Vec<notify::ObjectEvent> {
        let header = |n: &str| {
            response
                .headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let name = match ctx.operation.as_deref() {
            Some("PutObject") => "ObjectCreated:Put",
            Some("CopyObject") => "ObjectCreated:Copy",
            Some("CompleteMultipartUpload") => "ObjectCreated:CompleteMultipartUpload",
            Some("PutObjectTagging") => "ObjectTagging:Put",
            Some("DeleteObjectTagging") => "ObjectTagging:Delete",
            Some("PutObjectAcl") => "ObjectAcl:Put",
            // A new restore (202); extending a restored copy's expiry (200) is no event.
            Some("RestoreObject") if response.status() == http::StatusCode::ACCEPTED => {
                "ObjectRestore:Post"
            }
            Some("DeleteObject") => {
                let marker = header("x-amz-delete-marker").is_some_and(|m| m == "true");
                let created = marker && !by_version && ctx_versioned(self, bucket);
                return vec![notify::ObjectEvent {
                    name: if created {
                        "ObjectRemoved:DeleteMarkerCreated"
                    } else {
                        "ObjectRemoved:Delete"
                    },
                    key: key.to_owned(),
                    size: None,
                    etag: None,
                    restore: None,
                    version_id: header("x-amz-version-id"),
                }];
            }
            _ => return Vec::new(),
        };
        let Ok(Some(rec)) = self.object(bucket, key) else {
            return Vec::new();
        };
        let addressed = header("x-amz-version-id")
            .and_then(|id| rec.versions.iter().find(|v| v.version_id == id));
        let Some(v) = addressed.or(rec.versions.first()) else {
            return Vec::new();
        };
        let event = |name: &'static str| notify::ObjectEvent {
            name,
            key: key.to_owned(),
            size: Some(v.size),
            etag: Some(v.etag.clone()),
            version_id: Some(v.version_id.clone()),
            restore: None,
        };
        if name == "ObjectRestore:Post" {
            // Skyport restores at once: the restore starts and completes together.
            let restore = v
                .restore_expiry_ms
                .map(|t| (t, v.storage_class.clone().unwrap_or_default()));
            return vec![
                notify::ObjectEvent {
                    restore: restore.clone(),
                    ..event(name)
                },
                notify::ObjectEvent {
                    restore,
                    ..event("ObjectRestore:Completed")
                },
            ];
        }
        vec![event(name)]
    }

    async fn object_op(
        &self,
        ctx: &mut RequestContext,
        req: &S3Request,
        bucket: &str,
        key: &str,
        body: Body,
    ) -> S3Result<Response<Body>> {
        let upload = req.q("uploadId").map(str::to_owned);
        match req.method {
            Method::PUT => {
                if req.has("retention") {
                    self.authorize(ctx, req, "PutObjectRetention")?;
                    self.put_object_retention(req, bucket, key, body).await
                } else if req.has("legal-hold") {
                    self.authorize(ctx, req, "PutObjectLegalHold")?;
                    self.put_object_legal_hold(req, bucket, key, body).await
                } else if req.has("tagging") {
                    self.authorize(ctx, req, "PutObjectTagging")?;
                    self.put_object_tagging(req, bucket, key, body).await
                } else if req.has("acl") {
                    self.authorize(ctx, req, "PutObjectAcl")?;
                    self.put_object_acl(req, bucket, key, body).await
                } else if let Some(upload) = upload {
                    if req.h("x-amz-copy-source").is_some() {
                        self.authorize(ctx, req, "UploadPartCopy")?;
                        self.upload_part_copy(req, bucket, key, &upload).await
                    } else {
                        self.authorize(ctx, req, "UploadPart")?;
                        self.upload_part(req, bucket, key, &upload, body).await
                    }
                } else if req.h("x-amz-copy-source").is_some() {
                    self.authorize(ctx, req, "CopyObject")?;
                    self.copy_object(req, bucket, key).await
                } else {
                    self.authorize(ctx, req, "PutObject")?;
                    self.put_object(req, bucket, key, body).await
                }
            }
            Method::GET | Method::HEAD => {
                let head = req.method == Method::HEAD;
                if let Some(upload) = upload {
                    self.authorize(ctx, req, "ListParts")?;
                    self.list_parts(req, bucket, key, &upload)
                } else if req.has("attributes") && !head {
                    self.authorize(ctx, req, "GetObjectAttributes")?;
                    self.get_object_attributes(req, bucket, key)
                } else if req.has("retention") && !head {
                    self.authorize(ctx, req, "GetObjectRetention")?;
                    self.get_object_retention(req, bucket, key)
                } else if req.has("legal-hold") && !head {
                    self.authorize(ctx, req, "GetObjectLegalHold")?;
                    self.get_object_legal_hold(req, bucket, key)
                } else if req.has("tagging") {
                    self.authorize(ctx, req, "GetObjectTagging")?;
                    self.get_object_tagging(req, bucket, key)
                } else if req.has("acl") {
                    self.authorize(ctx, req, "GetObjectAcl")?;
                    self.get_object_acl(req, bucket, key)
                } else {
                    let operation = if head { "HeadObject" } else { "GetObject" };
                    let record = self.authorize_with_bucket(ctx, req, operation)?;
                    self.get_object(req, bucket, key, head, record)
                }
            }
            Method::DELETE => {
                if let Some(upload) = upload {
                    self.authorize(ctx, req, "AbortMultipartUpload")?;
                    self.abort_upload(bucket, key, &upload).await
                } else if req.has("tagging") {
                    self.authorize(ctx, req, "DeleteObjectTagging")?;
                    self.delete_object_tagging(req, bucket, key).await
                } else {
                    self.authorize(ctx, req, "DeleteObject")?;
                    self.delete_object(req, bucket, key).await
                }
            }
            Method::POST => {
                if req.has("uploads") {
                    self.authorize(ctx, req, "CreateMultipartUpload")?;
                    self.create_upload(req, bucket, key).await
                } else if let Some(upload) = upload {
                    self.authorize(ctx, req, "CompleteMultipartUpload")?;
                    self.complete_upload(ctx, req, bucket, key, &upload, body)
                        .await
                } else if req.has("select") {
                    self.authorize(ctx, req, "SelectObjectContent")?;
                    self.select_object_content(req, bucket, key, body).await
                } else if req.has("restore") {
                    self.authorize(ctx, req, "RestoreObject")?;
                    self.restore_object(req, bucket, key, body).await
                } else {
                    Err(S3Error::NotImplemented {
                        message: "This POST operation on objects is not implemented yet".into(),
                    })
                }
            }
            _ => Err(S3Error::MethodNotAllowed {
                method: req.method.to_string(),
                resource: "OBJECT",
            }),
        }
    }
}

#[async_trait::async_trait]
impl Service for S3 {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn state_control(&self) -> Option<&dyn skyport_core::state::StateControl> {
        Some(self)
    }

    async fn call(
        &self,
        ctx: &mut RequestContext,
        request: Request<Body>,
    ) -> Result<Response<Body>, AwsError> {
        let (parts, body) = request.into_parts();
        // Website endpoints are anonymous: no signature to check.
        if website::is_website_host(&ctx.host, &self.domains) {
            let mut req =
                S3Request::parse(ctx, &self.domains, &parts).map_err(S3Error::into_aws)?;
            req.anonymous = true;
            return Ok(self.website(ctx, req).await);
        }
        // Decided before anything else: no credentials means AWS's checks for anonymous callers.
        let anonymous = access::is_anonymous(&parts);
        // Strict mode verifies what is signed; anonymous requests meet the access checks instead.
        let chunk_signer = match &self.verifier {
            Some(v) if !anonymous => {
                let (principal, signer) = v.verify(ctx, &parts)?;
                ctx.principal = principal.map(Arc::new);
                signer
            }
            _ => {
                // Without signature checks, a presigned URL still expires, as in AWS.
                sigv4::check_presigned(&parts)?;
                None
            }
        };
        let mut req = S3Request::parse(ctx, &self.domains, &parts).map_err(S3Error::into_aws)?;
        req.chunk_signer = chunk_signer;
        req.anonymous = anonymous;
        // Server access logging: what the record needs, taken before the handler consumes the request.
        let logged = match &req.bucket {
            Some(bucket) if self.access_logs.on() => Some((
                access_log::Seen::of(&parts),
                bucket.clone(),
                req.key.clone(),
            )),
            _ => None,
        };
        // A browser's actual request (with `Origin`, not a preflight) gets the CORS headers of the
        // bucket's matching rule, on success and on error alike.
        let cors = match (req.h("origin"), &req.bucket) {
            (Some(origin), Some(bucket)) if req.method != Method::OPTIONS => {
                Some((origin.to_owned(), bucket.clone(), req.method.clone()))
            }
            _ => None,
        };
        let result = match self.route(ctx, req, body).await {
            Ok(r) => Ok(r),
            Err(S3Error::NotModified {
                etag,
                last_modified,
            }) => Ok(wire::not_modified(&etag, &last_modified)),

            Err(e) => Err(e.into_aws()),
        };
        if let Some((seen, bucket, key)) = logged {
            self.log_access(ctx, &seen, &bucket, key.as_deref(), &result);
        }
        let Some((origin, bucket, method)) = cors else {
            return result;
        };
        let headers = self.actual_cors(&bucket, &origin, method.as_str());
        match result {
            Ok(mut r) => {
                for (n, v) in &headers {
                    wire::set(r.headers_mut(), n, v);
                }
                Ok(r)
            }
            Err(mut e) => {
                for (n, v) in headers {
                    if let Ok(value) = http::HeaderValue::from_str(&v) {
                        e = e.with_header(http::HeaderName::from_static(n), value);
                    }
                }
                Err(e)
            }
        }
    }
}

/// Removes object data no metadata refers to (left by a crash between storing a body and committing its
/// metadata) and logs what it removed.
fn sweep_orphans(store: &Store, blobs: &BlobStore) {
    let result = store
        .read(|r| {
            let mut referenced = std::collections::HashSet::new();
            r.visit(model::OBJECTS, |_, raw| {
                let rec: model::BlobRefs = serde_json::from_slice(raw)?;
                referenced.extend(rec.into_ids());
                Ok(())
            })?;
            r.visit(model::UPLOADS, |_, raw| {
                let up: model::UploadBlobRefs = serde_json::from_slice(raw)?;
                referenced.extend(up.into_ids());
                Ok(())
            })?;
            Ok(referenced)
        })
        .and_then(|referenced| blobs.sweep(&referenced));
    match result {
        Ok((files, inline)) => tracing::info!(
            files,
            inline,
            "s3: swept orphaned object data ({files} files, {inline} inline bodies)"
        ),
        Err(e) => tracing::warn!("s3: sweeping orphaned object data failed: {e}"),
    }
}

/// Whether deletes in `bucket` create delete markers (versioning on or suspended).
fn ctx_versioned(s3: &S3, bucket: &str) -> bool {
    s3.bucket(bucket).is_ok_and(|b| b.versioning.is_some())
}

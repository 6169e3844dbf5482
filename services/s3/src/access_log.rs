//! Server access logging: each request on a bucket whose logging configuration names a target bucket
//! becomes one record in AWS's server access log format, and the records are delivered in batches as
//! log objects to the target bucket, as S3 delivers them (S3 takes minutes to hours; Skyport delivers every
//! `SKYPORT_S3_ACCESS_LOG_INTERVAL_SECONDS`). Object keys follow the configuration's
//! `TargetObjectKeyFormat`: `SimplePrefix` (the default) `<TargetPrefix>YYYY-mm-DD-HH-MM-SS-<unique>`, or
//! `PartitionedPrefix` `<TargetPrefix><account>/<region>/<bucket>/YYYY/MM/DD/YYYY-MM-DD-HH-MM-SS-<unique>`.
//!
//! Requests on buckets without logging cost one relaxed atomic load: the bucket record is read only
//! once some bucket has had a logging configuration.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::Response;
use skyport_core::{AwsError, Body, RequestContext};

use crate::S3;
use crate::blob::WriteOptions;
use crate::checksum::Algorithm;
use crate::model::{self, BucketRecord, Version};
use crate::wire;

/// Where a bucket's records go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Target {
    bucket: String,
    prefix: String,
    /// `PartitionedPrefix`: (source account, region, bucket) in the key.
    partitioned: Option<(String, String, String)>,
}

/// The records waiting for delivery, per target.
#[derive(Debug, Default)]
pub(crate) struct AccessLogs {
    /// Some bucket has (or had) a logging configuration since start.
    enabled: AtomicBool,
    pending: Mutex<HashMap<Target, Vec<String>>>,
}

impl AccessLogs {
    /// Notes that a bucket has a logging configuration: requests are checked from now on.
    pub(crate) fn enable(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }

    /// Whether requests may need a record (some bucket has had a logging configuration).
    pub(crate) fn on(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    fn take(&self) -> HashMap<Target, Vec<String>> {
        self.pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }
}

/// The target of `b`'s logging configuration, if logging is enabled.
fn target_of(b: &BucketRecord) -> Option<Target> {
    let doc = b.config.get("logging")?;
    let root = wire::parse_xml(doc.as_bytes()).ok()?;
    let enabled = root.child("LoggingEnabled")?;
    let bucket = enabled.text_of("TargetBucket")?.to_owned();
    let prefix = enabled.text_of("TargetPrefix").unwrap_or("").to_owned();
    let partitioned = enabled
        .child("TargetObjectKeyFormat")
        .and_then(|f| f.child("PartitionedPrefix"))
        .map(|_| (b.account.clone(), b.region.clone(), b.name.clone()));
    Some(Target {
        bucket,
        prefix,
        partitioned,
    })
}

/// `[06/Feb/2019:00:00:38 +0000]`.
fn log_time(at: SystemTime) -> String {
    let t = time::OffsetDateTime::from(at);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "[{:02}/{}/{}:{:02}:{:02}:{:02} +0000]",
        t.day(),
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The log's operation name (`REST.GET.OBJECT`, `REST.PUT.PART`, ...) of an S3 operation.
fn operation_name(op: &str, method: &str) -> String {
    let fixed = match op {
        "GetObject" => "REST.GET.OBJECT",
        "HeadObject" => "REST.HEAD.OBJECT",
        "PutObject" => "REST.PUT.OBJECT",
        "PostObject" => "REST.POST.OBJECT",
        "CopyObject" => "REST.COPY.OBJECT",
        "DeleteObject" => "REST.DELETE.OBJECT",
        "DeleteObjects" => "REST.POST.MULTI_OBJECT_DELETE",
        "ListObjects" | "ListObjectsV2" => "REST.GET.BUCKET",
        "ListObjectVersions" => "REST.GET.BUCKETVERSIONS",
        "HeadBucket" => "REST.HEAD.BUCKET",
        "CreateBucket" => "REST.PUT.BUCKET",
        "DeleteBucket" => "REST.DELETE.BUCKET",
        "CreateMultipartUpload" => "REST.POST.UPLOADS",
        "UploadPart" => "REST.PUT.PART",
        "UploadPartCopy" => "REST.COPY.PART",
        "CompleteMultipartUpload" => "REST.POST.UPLOAD",
        "AbortMultipartUpload" => "REST.DELETE.UPLOAD",
        "ListParts" => "REST.GET.UPLOAD",
        "ListMultipartUploads" => "REST.GET.UPLOADS",
        "RestoreObject" => "REST.POST.RESTORE",
        "GetObjectAttributes" => "REST.GET.OBJECT_ATTRIBUTES",
        "PreflightRequest" => "REST.OPTIONS.PREFLIGHT",
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.to_owned();
    }
    // Sub-resource operations: `GetBucketVersioning` → `REST.GET.VERSIONING`,
    // `PutObjectTagging` → `REST.PUT.OBJECT_TAGGING`.
    let rest = op
        .strip_prefix("Get")
        .or_else(|| op.strip_prefix("Put"))
        .or_else(|| op.strip_prefix("Delete"))
        .unwrap_or(op);
    let resource = if let Some(r) = rest.strip_prefix("Bucket") {
        r.to_ascii_uppercase()
    } else if let Some(r) = rest.strip_prefix("Object") {
        format!("OBJECT_{}", r.to_ascii_uppercase())
    } else {
        rest.to_ascii_uppercase()
    };
    format!("REST.{method}.{resource}")
}

fn dash(v: Option<&str>) -> &str {
    v.filter(|v| !v.is_empty()).unwrap_or("-")
}

/// A quoted field (`"..."`), with embedded quotes escaped as S3 does.
fn quoted(v: &str) -> String {
    format!("\"{}\"", v.replace('"', "\\\""))
}

/// What the log line needs from the request, taken before the handler consumes it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    method: String,
    uri: String,
    version: &'static str,
    user_agent: String,
    referer: String,
    signature: &'static str,
    auth: &'static str,
    request_len: Option<u64>,
}

impl Seen {
    pub(crate) fn of(parts: &http::request::Parts) -> Seen {
        let h = |n: &str| {
            parts
                .headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let query = parts.uri.query().unwrap_or("");
        let (signature, auth) = if let Some(a) = parts.headers.get("authorization") {
            let v4 = a.as_bytes().starts_with(b"AWS4-");
            (if v4 { "SigV4" } else { "SigV2" }, "AuthHeader")
        } else if query.contains("X-Amz-Signature=") {
            ("SigV4", "QueryString")
        } else if query.contains("Signature=") {
            ("SigV2", "QueryString")
        } else {
            ("-", "-")
        };
        Seen {
            method: parts.method.to_string(),
            uri: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| "/".into()),
            version: match parts.version {
                http::Version::HTTP_2 => "HTTP/2.0",
                http::Version::HTTP_10 => "HTTP/1.0",
                _ => "HTTP/1.1",
            },
            user_agent: h("user-agent"),
            referer: h("referer"),
            signature,
            auth,
            request_len: parts
                .headers
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
        }
    }
}

impl S3 {
    /// Records one request on `bucket` (with its outcome) if the bucket logs its access.
    pub(crate) fn log_access(
        &self,
        ctx: &RequestContext,
        seen: &Seen,
        bucket: &str,
        key: Option<&str>,
        result: &Result<Response<Body>, AwsError>,
    ) {
        let Ok(b) = self.bucket(bucket) else {
            return;
        };
        let Some(target) = target_of(&b) else {
            return;
        };
        let header = |n: &str| match result {
            Ok(r) => r
                .headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            Err(_) => None,
        };
        let (status, error) = match result {
            Ok(r) => (r.status().as_u16(), None),
            Err(e) => (e.status.as_u16(), Some(e.code.to_string())),
        };
        let sent = header("content-length").filter(|l| l != "0");
        let object_size = match seen.method.as_str() {
            "PUT" | "POST" => seen.request_len.map(|l| l.to_string()),
            _ => header("content-range")
                .and_then(|r| r.rsplit('/').next().map(str::to_owned))
                .or_else(|| sent.clone()),
        }
        .filter(|_| key.is_some());
        let elapsed = ctx.started.elapsed().as_millis().to_string();
        let requester = if ctx.access_key.is_some() {
            crate::canonical_id(&ctx.account)
        } else {
            "-".into()
        };
        let op = operation_name(ctx.operation.as_deref().unwrap_or(""), &seen.method);
        let tls = matches!(ctx.scheme, skyport_core::context::Scheme::Https);
        let fields: Vec<String> = vec![
            crate::canonical_id(&b.account),
            bucket.to_owned(),
            log_time(ctx.received_at),
            ctx.client
                .map(|c| c.ip().to_string())
                .unwrap_or_else(|| "-".into()),
            requester,
            ctx.request_id.clone(),
            op,
            key.map(wire::url_encode).unwrap_or_else(|| "-".into()),
            quoted(&format!("{} {} {}", seen.method, seen.uri, seen.version)),
            status.to_string(),
            dash(error.as_deref()).to_owned(),
            dash(sent.as_deref()).to_owned(),
            dash(object_size.as_deref()).to_owned(),
            elapsed.clone(),
            elapsed,
            quoted(dash(Some(&seen.referer))),
            quoted(dash(Some(&seen.user_agent))),
            dash(header("x-amz-version-id").as_deref()).to_owned(),
            skyport_core::ids::s3_host_id(),
            seen.signature.to_owned(),
            if tls { "TLS_AES_128_GCM_SHA256" } else { "-" }.to_owned(),
            seen.auth.to_owned(),
            ctx.host.clone(),
            if tls { "TLSv1.3" } else { "-" }.to_owned(),
            "-".into(),
            "-".into(),
        ];
        if let Ok(mut pending) = self.access_logs.pending.lock() {
            pending.entry(target).or_default().push(fields.join(" "));
        }
    }

    /// Turns request checks on when a stored bucket has a logging configuration (at start and after an
    /// import; `PutBucketLogging` turns them on itself).
    pub(crate) fn note_access_logging(&self) {
        let found = self.store.read(|r| {
            let mut any = false;
            r.visit(model::BUCKETS, |_, raw| {
                if !any && let Ok(b) = serde_json::from_slice::<BucketRecord>(raw) {
                    any = b.config.contains_key("logging");
                }
                Ok(())
            })?;
            Ok(any)
        });
        if found.unwrap_or(false) {
            self.access_logs.enable();
        }
    }

    /// Writes the pending records as log objects to their target buckets (records for a target
    /// bucket that no longer exists are dropped, as S3 cannot deliver them either).
    pub async fn deliver_access_logs(&self) {
        for (target, lines) in self.access_logs.take() {
            if lines.is_empty() {
                continue;
            }

            if let Err(e) = self.write_log_object(&target, lines).await {
                tracing::warn!(
                    "s3: access log records not delivered to {}: {e}",
                    target.bucket
                );
            }
        }
    }

    async fn write_log_object(
        &self,
        target: &Target,
        lines: Vec<String>,
    ) -> crate::error::S3Result<()> {
        let b = self.bucket(&target.bucket)?;
        let now = time::OffsetDateTime::now_utc();
        let stamp = format!(
            "{:04}-{:02}-{:02}-{:02}-{:02}-{:02}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let unique = skyport_core::ids::uuid()
            .replace('-', "")
            .chars()
            .take(16)
            .collect::<String>()
            .to_ascii_uppercase();
        let key = match &target.partitioned {
            None => format!("{}{stamp}-{unique}", target.prefix),
            Some((account, region, bucket)) => format!(
                "{}{account}/{region}/{bucket}/{:04}/{:02}/{:02}/{stamp}-{unique}",
                target.prefix,
                now.year(),
                u8::from(now.month()),
                now.day()
            ),
        };
        let mut text = lines.join("\n");
        text.push('\n');
        let written = self
            .blobs
            .write(
                skyport_core::body::full(Bytes::from(text)),
                WriteOptions {
                    aws_chunked: false,
                    expected_len: None,
                    algorithms: vec![Algorithm::Crc64Nvme],
                    sha256_hex: false,
                    max_len: u64::MAX,
                    signer: None,
                },
            )
            .await?;
        let mut v = Version::new("null".into(), model::now_ms());
        v.headers = vec![("content-type".into(), "text/plain".into())];
        self.commit_written(&mut v, written).await?;
        self.commit_version(&b, &key, v, None, None, None).await?;
        Ok(())
    }

    /// Delivers access logs every `interval` while the service is alive.
    pub fn spawn_access_log_delivery(self: &Arc<S3>, interval: Duration) {
        let weak: Weak<S3> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(s3) = weak.upgrade() else {
                    return;
                };
                s3.deliver_access_logs().await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names() {
        assert_eq!(operation_name("GetObject", "GET"), "REST.GET.OBJECT");
        assert_eq!(
            operation_name("GetBucketVersioning", "GET"),
            "REST.GET.VERSIONING"
        );
        assert_eq!(
            operation_name("PutObjectTagging", "PUT"),
            "REST.PUT.OBJECT_TAGGING"
        );
        assert_eq!(operation_name("ListObjectsV2", "GET"), "REST.GET.BUCKET");
        assert_eq!(operation_name("UploadPart", "PUT"), "REST.PUT.PART");
    }

    #[test]
    fn times_and_quotes() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_549_411_238);
        assert_eq!(log_time(at), "[06/Feb/2019:00:00:38 +0000]");
        assert_eq!(quoted("a\"b"), "\"a\\\"b\"");
    }
}

//! The OCI Distribution Spec v1.1 / Docker Registry HTTP API v2 at `/v2/`, as ECR serves it: Basic
//! authentication with the `AWS:<token>` credentials of `GetAuthorizationToken` (or `?token=` on a
//! download URL), blobs (HEAD/GET with ranges; monolithic, chunked and streamed uploads; cross-repository
//! mounts), manifests by tag and by digest with their media type, tag lists with `n`/`last`
//! pagination, deletes and the referrers API. Errors are the spec's `{"errors":[{code,message}]}`.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use serde_json::json;
use skyport_core::{Body, RequestContext};

use crate::api::{Ecr, PutFailure};
use crate::blobs::{BlobError, parse_digest};
use crate::manifest::{ManifestError, OCI_INDEX};
use crate::state::{self, PutError, RepoRec};

/// The largest manifest accepted (ECR's limit).
const MAX_MANIFEST: usize = 4 << 20;
/// The default and largest page of a tag list.
const TAG_PAGE: usize = 1000;

/// A spec error: status, code, message.
struct Oops(StatusCode, &'static str, String);

type Reply = Result<Response<Body>, Oops>;

fn oops(status: StatusCode, code: &'static str, message: impl Into<String>) -> Oops {
    Oops(status, code, message.into())
}

fn response(status: StatusCode, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    r
}

fn set(r: &mut Response<Body>, name: &'static str, value: impl AsRef<str>) {
    if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
        r.headers_mut().insert(name, v);
    }
}

fn error_response(e: Oops, host: &str) -> Response<Body> {
    let Oops(status, code, message) = e;
    let body = json!({"errors": [{"code": code, "message": message, "detail": null}]});
    let mut r = response(status, skyport_core::body::full(body.to_string()));
    set(&mut r, "content-type", "application/json; charset=utf-8");
    if status == StatusCode::UNAUTHORIZED {
        set(
            &mut r,
            "www-authenticate",
            format!("Basic realm=\"http://{host}/\",service=\"ecr.amazonaws.com\""),
        );
    }
    r
}

fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// What a `/v2/<name>/...` path asks for.
#[derive(Debug, PartialEq)]
enum Target<'a> {
    Base,
    Tags(&'a str),
    Manifest(&'a str, &'a str),
    Upload(&'a str, &'a str),
    Blob(&'a str, &'a str),
    Referrers(&'a str, &'a str),
}

fn target<'a>(path: &'a str) -> Option<Target<'a>> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Target::Base);
    }
    let rest = rest.strip_prefix('/')?;
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Target::Tags(name));
    }
    for (marker, make) in [
        (
            "/blobs/uploads",
            Target::Upload as fn(&'a str, &'a str) -> Target<'a>,
        ),
        ("/manifests/", Target::Manifest),
        ("/blobs/", Target::Blob),
        ("/referrers/", Target::Referrers),
    ] {
        if let Some(pos) = rest.rfind(marker) {
            let name = &rest[..pos];
            let tail = &rest[pos + marker.len()..];
            let tail = if marker == "/blobs/uploads" {
                match tail.strip_prefix('/') {
                    Some(t) => t,
                    None if tail.is_empty() => tail,
                    None => continue,
                }
            } else {
                tail
            };
            if name.is_empty() || tail.contains('/') {
                return None;
            }
            return Some(make(name, tail));
        }
    }
    None
}

/// The account and region a registry host names (`<account>.dkr.ecr.<region>.…`).
pub(crate) fn host_registry(host: &str) -> Option<(String, String)> {
    let labels: Vec<&str> = host.split(':').next()?.split('.').collect();
    let pos = labels.iter().position(|l| l.eq_ignore_ascii_case("ecr"))?;
    if pos != 2 || !labels[1].eq_ignore_ascii_case("dkr") {
        return None;
    }
    Some((
        labels[0].to_owned(),
        labels.get(pos + 1)?.to_ascii_lowercase(),
    ))
}

pub(crate) fn is_tag(reference: &str) -> bool {
    let b = reference.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Serves one registry request.
pub async fn serve(ecr: &Ecr, ctx: &mut RequestContext, request: Request<Body>) -> Response<Body> {
    let host = ctx.host.clone();
    match handle(ecr, ctx, request).await {
        Ok(r) => r,
        Err(e) => error_response(e, &host),
    }
}

async fn handle(ecr: &Ecr, ctx: &mut RequestContext, request: Request<Body>) -> Reply {
    let (parts, body) = request.into_parts();
    let query = parts.uri.query().unwrap_or("");
    let auth = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query_param(query, "token").map(|t| format!("Basic {t}")));
    let signer = ecr
        .signer()
        .map_err(|e| oops(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.message))?;
    let grant = auth
        .as_deref()
        .and_then(|a| signer.check(a, state::now_ms() / 1000))
        .ok_or_else(|| oops(StatusCode::UNAUTHORIZED, "DENIED", "Not Authorized"))?;
    let (account, region) =
        host_registry(&ctx.host).unwrap_or((grant.account.clone(), grant.region.clone()));
    ctx.account = account.clone();
    ctx.region = region.clone();
    let Some(target) = target(parts.uri.path()) else {
        return Err(oops(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "Not found"));
    };
    let name = match &target {
        Target::Base => {
            let mut r = response(StatusCode::OK, skyport_core::body::full("{}"));
            set(&mut r, "content-type", "application/json; charset=utf-8");
            return Ok(r);
        }
        Target::Tags(n)
        | Target::Manifest(n, _)
        | Target::Upload(n, _)
        | Target::Blob(n, _)
        | Target::Referrers(n, _) => *n,
    };
    let repo = state::repo(ecr.store(), &state::repo_key(&account, &region, name))
        .map_err(internal)?
        .ok_or_else(|| {
            oops(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                format!("The repository with name '{name}' does not exist in the registry with id '{account}'"),
            )
        })?;
    ctx.operation = Some(format!("{} {}", parts.method, kind(&target)));
    let method = parts.method.clone();
    match (method, target) {
        (Method::GET, Target::Tags(_)) => tags(ecr, &repo, query),
        (Method::GET | Method::HEAD, Target::Manifest(_, r)) => {
            get_manifest(ecr, &repo, r, parts.method == Method::HEAD)
        }
        (Method::PUT, Target::Manifest(_, r)) => {
            put_manifest(ecr, &repo, r, &parts.headers, body).await
        }
        (Method::DELETE, Target::Manifest(_, r)) => delete_manifest(ecr, &repo, r).await,
        (Method::GET | Method::HEAD, Target::Blob(_, d)) => {
            get_blob(ecr, &repo, d, &parts.headers, parts.method == Method::HEAD).await
        }
        (Method::DELETE, Target::Blob(..)) => Err(oops(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "The operation is unsupported.",
        )),
        (Method::POST, Target::Upload(_, "")) => {
            start_upload(ecr, &repo, query, &parts.headers, body).await
        }
        (Method::PATCH, Target::Upload(_, id)) => {
            patch_upload(ecr, &repo, id, &parts.headers, body).await
        }
        (Method::PUT, Target::Upload(_, id)) => {
            finish_upload(ecr, &repo, id, query, &parts.headers, body).await
        }
        (Method::GET, Target::Upload(_, id)) if !id.is_empty() => upload_status(ecr, &repo, id),
        (Method::DELETE, Target::Upload(_, id)) if !id.is_empty() => {
            ecr.inner
                .blobs
                .cancel(id, &repo.key())
                .map_err(|e| blob_oops(e, id))?;
            Ok(response(
                StatusCode::NO_CONTENT,
                skyport_core::body::empty(),
            ))
        }
        (Method::GET, Target::Referrers(_, d)) => referrers(ecr, &repo, d, query),
        _ => Err(oops(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "The operation is unsupported.",
        )),
    }
}

fn kind(t: &Target<'_>) -> &'static str {
    match t {
        Target::Base => "base",
        Target::Tags(_) => "tags",
        Target::Manifest(..) => "manifest",
        Target::Upload(..) => "upload",
        Target::Blob(..) => "blob",
        Target::Referrers(..) => "referrers",
    }
}

fn internal(e: impl std::fmt::Display) -> Oops {
    oops(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.to_string())
}

fn blob_oops(e: BlobError, id: &str) -> Oops {
    match e {
        BlobError::UploadUnknown => oops(
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
            format!("blob upload unknown to registry: {id}"),
        ),
        BlobError::RangeInvalid { .. } => oops(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "BLOB_UPLOAD_INVALID",
            e.to_string(),
        ),
        BlobError::DigestMalformed(_) | BlobError::DigestMismatch { .. } => {
            oops(StatusCode::BAD_REQUEST, "DIGEST_INVALID", e.to_string())
        }
        BlobError::SizeInvalid { .. } => {
            oops(StatusCode::BAD_REQUEST, "SIZE_INVALID", e.to_string())
        }
        BlobError::Body(_) => oops(
            StatusCode::BAD_REQUEST,
            "BLOB_UPLOAD_INVALID",
            e.to_string(),
        ),
        BlobError::Io(_) => internal(e),
    }
}

fn tags(ecr: &Ecr, repo: &RepoRec, query: &str) -> Reply {
    let mut all: Vec<String> = state::images(ecr.store(), &repo.key())
        .map_err(internal)?
        .into_iter()
        .flat_map(|i| i.tags)
        .collect();
    all.sort();
    let n = match query_param(query, "n") {
        Some(n) => n.parse::<usize>().map_err(|_| {
            oops(
                StatusCode::BAD_REQUEST,
                "PAGINATION_NUMBER_INVALID",
                "invalid number of results requested",
            )
        })?,
        None => TAG_PAGE,
    };
    let last = query_param(query, "last");
    let mut page: Vec<String> = all
        .into_iter()
        .filter(|t| last.as_deref().is_none_or(|l| t.as_str() > l))
        .collect();
    let more = page.len() > n;
    page.truncate(n);
    let body = json!({"name": repo.name, "tags": page});
    let mut r = response(StatusCode::OK, skyport_core::body::full(body.to_string()));
    set(&mut r, "content-type", "application/json; charset=utf-8");
    if more && let Some(last) = page.last() {
        let last = percent_encoding::utf8_percent_encode(last, percent_encoding::NON_ALPHANUMERIC);
        set(
            &mut r,
            "link",
            format!(
                "</v2/{}/tags/list?n={n}&last={last}>; rel=\"next\"",
                repo.name
            ),
        );
    }
    Ok(r)
}

/// The digest a reference (tag or digest) names in `repo`.
fn resolve(ecr: &Ecr, repo: &RepoRec, reference: &str) -> Result<Option<String>, Oops> {
    if reference.contains(':') {
        parse_digest(reference)
            .map_err(|e| oops(StatusCode::BAD_REQUEST, "DIGEST_INVALID", e.to_string()))?;
        return Ok(Some(reference.to_owned()));
    }
    state::tagged(ecr.store(), &repo.key(), reference).map_err(internal)
}

fn manifest_unknown(reference: &str) -> Oops {
    oops(
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
        format!("Requested image not found: {reference}"),
    )
}

fn get_manifest(ecr: &Ecr, repo: &RepoRec, reference: &str, head: bool) -> Reply {
    let key = repo.key();
    let digest = resolve(ecr, repo, reference)?.ok_or_else(|| manifest_unknown(reference))?;
    let image = state::image(ecr.store(), &key, &digest)
        .map_err(internal)?
        .ok_or_else(|| manifest_unknown(reference))?;
    let bytes = ecr
        .store()
        .get(state::MANIFESTS, &state::item_key(&key, &digest))
        .map_err(internal)?
        .ok_or_else(|| manifest_unknown(reference))?;
    let len = bytes.len();
    let body = if head {
        skyport_core::body::empty()
    } else {
        skyport_core::body::full(bytes)
    };
    let mut r = response(StatusCode::OK, body);
    set(&mut r, "content-type", &image.media_type);
    set(&mut r, "content-length", len.to_string());
    set(&mut r, "docker-content-digest", &digest);
    set(&mut r, "etag", format!("\"{digest}\""));
    Ok(r)
}

async fn put_manifest(
    ecr: &Ecr,
    repo: &RepoRec,
    reference: &str,
    headers: &HeaderMap,
    body: Body,
) -> Reply {
    let bytes = skyport_core::body::collect_limited(body, MAX_MANIFEST)
        .await
        .map_err(|e| oops(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", e.to_string()))?;
    let digest = crate::blobs::digest_of(&bytes);
    let tag = if reference.contains(':') {
        parse_digest(reference)
            .map_err(|e| oops(StatusCode::BAD_REQUEST, "DIGEST_INVALID", e.to_string()))?;
        if reference != digest {
            return Err(oops(
                StatusCode::BAD_REQUEST,
                "DIGEST_INVALID",
                format!("the manifest's digest is {digest}, not {reference}"),
            ));
        }
        None
    } else if is_tag(reference) {
        Some(reference.to_owned())
    } else {
        return Err(oops(
            StatusCode::BAD_REQUEST,
            "TAG_INVALID",
            format!("invalid tag {reference}"),
        ));
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let image = ecr
        .put_manifest(repo, bytes, content_type, tag, false)
        .await
        .map_err(|e| match e {
            PutFailure::Manifest(ManifestError::Invalid(m)) => {
                oops(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", m)
            }
            PutFailure::Manifest(ManifestError::Unsupported(t)) => oops(
                StatusCode::BAD_REQUEST,
                "MANIFEST_INVALID",
                format!("unsupported manifest media type {t}"),
            ),
            PutFailure::Put(PutError::TagImmutable(tag)) => oops(
                StatusCode::BAD_REQUEST,
                "TAG_INVALID",
                format!(
                    "The image tag '{tag}' already exists in the '{}' repository and cannot be overwritten because the repository is immutable.",
                    repo.name
                ),
            ),
            PutFailure::Put(PutError::BlobUnknown(b)) => oops(
                StatusCode::BAD_REQUEST,
                "MANIFEST_BLOB_UNKNOWN",
                format!("blob unknown to registry: {b}"),
            ),
            PutFailure::Put(PutError::ManifestUnknown(m)) => oops(
                StatusCode::BAD_REQUEST,
                "MANIFEST_UNKNOWN",
                format!("manifest unknown to registry: {m}"),
            ),
            PutFailure::Put(PutError::NoRepository) => oops(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                format!("The repository with name '{}' does not exist", repo.name),
            ),
            PutFailure::Put(PutError::Exists) => internal("unexpected duplicate"),
            PutFailure::Put(PutError::Store(e)) => internal(e),
        })?;
    let mut r = response(StatusCode::CREATED, skyport_core::body::empty());
    set(
        &mut r,
        "location",
        format!("/v2/{}/manifests/{}", repo.name, image.digest),
    );
    set(&mut r, "docker-content-digest", &image.digest);
    if let Some(subject) = &image.subject {
        set(&mut r, "oci-subject", subject);
    }
    Ok(r)
}

async fn delete_manifest(ecr: &Ecr, repo: &RepoRec, reference: &str) -> Reply {
    let key = repo.key();
    let digest = resolve(ecr, repo, reference)?.ok_or_else(|| manifest_unknown(reference))?;
    let tag = (!reference.contains(':')).then(|| reference.to_owned());
    let outcome = ecr
        .store()
        .write_freeing_async(move |w| state::delete_image(w, &key, &digest, tag.as_deref()))
        .await
        .map_err(internal)?;
    let Some((_, freed)) = outcome else {
        return Err(manifest_unknown(reference));
    };
    ecr.inner.blobs.remove(&freed);
    Ok(response(StatusCode::ACCEPTED, skyport_core::body::empty()))
}

/// `bytes=a-b` (or `a-`) within `size`.
fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end: u64 = match b.trim() {
        "" => size.checked_sub(1)?,
        b => b.parse::<u64>().ok()?.min(size.checked_sub(1)?),
    };
    (start <= end).then_some((start, end))
}

async fn get_blob(
    ecr: &Ecr,
    repo: &RepoRec,
    digest: &str,
    headers: &HeaderMap,
    head: bool,
) -> Reply {
    parse_digest(digest)
        .map_err(|e| oops(StatusCode::BAD_REQUEST, "DIGEST_INVALID", e.to_string()))?;
    let size = state::linked_blob(ecr.store(), &repo.key(), digest)
        .map_err(internal)?
        .ok_or_else(|| {
            oops(
                StatusCode::NOT_FOUND,
                "BLOB_UNKNOWN",
                format!("blob unknown to registry: {digest}"),
            )
        })?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, len) = match range {
        Some(value) => match parse_range(value, size) {
            Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
            None => {
                let mut r = error_response(
                    oops(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        "BLOB_UNKNOWN",
                        "range not satisfiable",
                    ),
                    "",
                );
                set(&mut r, "content-range", format!("bytes */{size}"));
                return Ok(r);
            }
        },
        None => (StatusCode::OK, 0, size),
    };
    let body = if head {
        skyport_core::body::empty()
    } else {
        ecr.inner
            .blobs
            .read(digest, start, len)
            .await
            .map_err(internal)?
    };
    let mut r = response(status, body);
    set(&mut r, "content-type", "application/octet-stream");
    set(&mut r, "content-length", len.to_string());
    set(&mut r, "docker-content-digest", digest);
    set(&mut r, "accept-ranges", "bytes");
    set(&mut r, "etag", format!("\"{digest}\""));
    if status == StatusCode::PARTIAL_CONTENT {
        set(
            &mut r,
            "content-range",
            format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    Ok(r)
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn created_blob(repo: &RepoRec, digest: &str) -> Response<Body> {
    let mut r = response(StatusCode::CREATED, skyport_core::body::empty());
    set(
        &mut r,
        "location",
        format!("/v2/{}/blobs/{digest}", repo.name),
    );
    set(&mut r, "docker-content-digest", digest);
    set(&mut r, "content-length", "0");
    r
}

fn upload_accepted(status: StatusCode, repo: &RepoRec, id: &str, size: u64) -> Response<Body> {
    let mut r = response(status, skyport_core::body::empty());
    set(
        &mut r,
        "location",
        format!("/v2/{}/blobs/uploads/{id}", repo.name),
    );
    set(&mut r, "docker-upload-uuid", id);
    set(&mut r, "range", format!("0-{}", size.saturating_sub(1)));
    set(&mut r, "content-length", "0");
    r
}

async fn start_upload(
    ecr: &Ecr,
    repo: &RepoRec,
    query: &str,
    headers: &HeaderMap,
    body: Body,
) -> Reply {
    let key = repo.key();
    if let Some(digest) = query_param(query, "mount") {
        parse_digest(&digest)
            .map_err(|e| oops(StatusCode::BAD_REQUEST, "DIGEST_INVALID", e.to_string()))?;
        let from =
            query_param(query, "from").map(|f| state::repo_key(&repo.account, &repo.region, &f));
        let source = match from {
            Some(from) => state::linked_blob(ecr.store(), &from, &digest).map_err(internal)?,
            None => None,
        };
        if let Some(size) = source {
            let (k, d) = (key.clone(), digest.clone());
            ecr.store()
                .write_async(move |w| state::link(w, &k, &d, size))
                .await
                .map_err(internal)?;
            ecr.inner
                .mounts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(repository = %key, %digest, "blob mounted from another repository");
            return Ok(created_blob(repo, &digest));
        }
    }
    let id = ecr.inner.blobs.start(&key).await.map_err(internal)?;
    if let Some(digest) = query_param(query, "digest") {
        // A monolithic upload: the whole blob in this request.
        return finish(ecr, repo, &id, &digest, headers, body).await;
    }
    Ok(upload_accepted(StatusCode::ACCEPTED, repo, &id, 0))
}

async fn patch_upload(
    ecr: &Ecr,
    repo: &RepoRec,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Reply {
    let first = match headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
    {
        Some(range) => {
            let start = range
                .trim()
                .trim_start_matches("bytes ")
                .split('-')
                .next()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    oops(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        "BLOB_UPLOAD_INVALID",
                        "invalid Content-Range",
                    )
                })?;
            Some(start)
        }
        None => None,
    };
    let size = ecr
        .inner
        .blobs
        .append(id, &repo.key(), body, first, content_length(headers))
        .await
        .map_err(|e| blob_oops(e, id))?;
    Ok(upload_accepted(StatusCode::ACCEPTED, repo, id, size))
}

async fn finish_upload(
    ecr: &Ecr,
    repo: &RepoRec,
    id: &str,
    query: &str,
    headers: &HeaderMap,
    body: Body,
) -> Reply {
    let digest = query_param(query, "digest").unwrap_or_default();
    finish(ecr, repo, id, &digest, headers, body).await
}

async fn finish(
    ecr: &Ecr,
    repo: &RepoRec,
    id: &str,
    digest: &str,
    headers: &HeaderMap,
    body: Body,
) -> Reply {
    let key = repo.key();
    let blobs = &ecr.inner.blobs;
    if let Err(e) = parse_digest(digest) {
        let _ = blobs.cancel(id, &key);
        return Err(blob_oops(e, id));
    }
    if content_length(headers) != Some(0) {
        blobs
            .append(id, &key, body, None, content_length(headers))
            .await
            .map_err(|e| blob_oops(e, id))?;
    }
    let size = blobs
        .finish(id, &key, digest)
        .await
        .map_err(|e| blob_oops(e, id))?;
    ecr.commit_blob(&key, digest, size)
        .await
        .map_err(internal)?;
    Ok(created_blob(repo, digest))
}

fn upload_status(ecr: &Ecr, repo: &RepoRec, id: &str) -> Reply {
    let size = ecr
        .inner
        .blobs
        .progress(id, &repo.key())
        .map_err(|e| blob_oops(e, id))?;
    Ok(upload_accepted(StatusCode::NO_CONTENT, repo, id, size))
}

fn referrers(ecr: &Ecr, repo: &RepoRec, digest: &str, query: &str) -> Reply {
    parse_digest(digest)
        .map_err(|e| oops(StatusCode::BAD_REQUEST, "DIGEST_INVALID", e.to_string()))?;
    let key = repo.key();
    let filter = query_param(query, "artifactType");
    let mut manifests = Vec::new();
    for image in state::images(ecr.store(), &key).map_err(internal)? {
        if image.subject.as_deref() != Some(digest) {
            continue;
        }
        if filter.is_some() && image.artifact_media_type != filter {
            continue;
        }
        let bytes = ecr
            .store()
            .get(state::MANIFESTS, &state::item_key(&key, &image.digest))
            .map_err(internal)?
            .unwrap_or_default();
        let annotations = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("annotations").cloned());
        let mut desc = json!({
            "mediaType": image.media_type,
            "digest": image.digest,
            "size": bytes.len(),
        });
        if let Some(t) = &image.artifact_media_type {
            desc["artifactType"] = json!(t);
        }
        if let Some(a) = annotations {
            desc["annotations"] = a;
        }
        manifests.push(desc);
    }
    let body = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    let mut r = response(
        StatusCode::OK,
        skyport_core::body::full(Bytes::from(body.to_string())),
    );
    set(&mut r, "content-type", OCI_INDEX);
    if filter.is_some() {
        set(&mut r, "oci-filters-applied", "artifactType");
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(target("/v2/"), Some(Target::Base));
        assert_eq!(target("/v2/a/b/tags/list"), Some(Target::Tags("a/b")));
        assert_eq!(
            target("/v2/a/b/manifests/latest"),
            Some(Target::Manifest("a/b", "latest"))
        );
        assert_eq!(
            target("/v2/a/blobs/uploads/"),
            Some(Target::Upload("a", ""))
        );
        assert_eq!(target("/v2/a/blobs/uploads"), Some(Target::Upload("a", "")));
        assert_eq!(
            target("/v2/a/blobs/uploads/u1"),
            Some(Target::Upload("a", "u1"))
        );
        assert_eq!(
            target("/v2/a/blobs/sha256:00"),
            Some(Target::Blob("a", "sha256:00"))
        );
        assert_eq!(target("/v2/blobs/sha256:00"), None);
        assert_eq!(
            host_registry("000000000000.dkr.ecr.eu-west-1.localhost.localstack.cloud:4566"),
            Some(("000000000000".to_owned(), "eu-west-1".to_owned()))
        );
        assert_eq!(host_registry("127.0.0.1:4510"), None);
        assert_eq!(parse_range("bytes=2-", 10), Some((2, 9)));
        assert_eq!(parse_range("bytes=5-3", 10), None);
        assert!(is_tag("v1.0_rc-2") && !is_tag(".x") && !is_tag(""));
    }
}

//! The ECR service: its state, the registry port, and the requests it takes. Control-plane requests
//! (awsJson 1.1, `AmazonEC2ContainerRegistry_V20150921.*`) go through the wire layer to `ops`;
//! `/v2/...` requests (on `<account>.dkr.ecr.<region>.<host>` or the registry port) go to `registry`.

use std::sync::{Arc, Mutex, OnceLock};

use http::{Request, Response};
use skyport_core::ports::{Backend, PortLease, PortRegistry, PortRequest};
use skyport_core::store::{StateLayout, Store, StoreError};
use skyport_core::{
    AwsError, Body, OperationTable, Protocol, RequestContext, Service, ServiceInfo,
};
use skyport_wire::{ApiError, Endpoint, Handler, Model, Operation, Value};

use crate::blobs::BlobStore;
use crate::lifecycle;
use crate::manifest::{self, ManifestError};
use crate::shapes::{self, errors};
use crate::state::{self, ImageRec, PutError, RepoRec};
use crate::token::Signer;

skyport_wire::static_model!(MODEL, skyport_wire::embedded::ECR);

static INFO: ServiceInfo = ServiceInfo {
    name: "ecr",
    protocols: &[Protocol::Json11],
    xml_namespace: "",
    json_error_prefix: "",
};

/// The operations implemented; the model's others answer `NotImplemented`.
pub const OPERATIONS: &[&str] = &[
    "BatchCheckLayerAvailability",
    "BatchDeleteImage",
    "BatchGetImage",
    "CompleteLayerUpload",
    "CreateRepository",
    "DeleteLifecyclePolicy",
    "DeleteRepository",
    "DeleteRepositoryPolicy",
    "DescribeImages",
    "DescribeRegistry",
    "DescribeRepositories",
    "GetAuthorizationToken",
    "GetDownloadUrlForLayer",
    "GetLifecyclePolicy",
    "GetRepositoryPolicy",
    "InitiateLayerUpload",
    "ListImages",
    "ListTagsForResource",
    "PutImage",
    "PutImageScanningConfiguration",
    "PutImageTagMutability",
    "PutLifecyclePolicy",
    "SetRepositoryPolicy",
    "TagResource",
    "UntagResource",
    "UploadLayerPart",
];

/// The Amazon ECR model (compiled on first use).
pub fn model() -> &'static Model {
    MODEL()
}

/// Options of the service.
#[derive(Debug, Clone)]
pub struct Options {
    /// The host and port repository URIs name after `<account>.dkr.ecr.<region>.`
    /// (`localhost.localstack.cloud:4566`, from `LOCALSTACK_HOST`).
    pub host: String,
    /// Milliseconds a day of a lifecycle rule lasts (a day; tests shorten it).
    pub lifecycle_day_ms: i64,
    /// The external port range, for the registry's own port.
    pub ports: Option<PortRegistry>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            host: "localhost.localstack.cloud:4566".to_owned(),
            lifecycle_day_ms: 86_400_000,
            ports: None,
        }
    }
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) blobs: BlobStore,
    pub(crate) options: Options,
    signer: OnceLock<Signer>,
    port: Mutex<Option<PortLease>>,
    /// Blobs made available in a repository by a cross-repository mount, and by an upload.
    pub(crate) mounts: std::sync::atomic::AtomicU64,
    pub(crate) uploads: std::sync::atomic::AtomicU64,
}

/// The Amazon ECR service (cheap to clone: clones share their state).
#[derive(Clone)]
pub struct Ecr {
    pub(crate) inner: Arc<Inner>,
}

impl skyport_core::bus::ResourcePolicySource for Ecr {
    /// The repository policy of `arn:aws:ecr:<region>:<account>:repository/<name>`.
    fn resource_policy(&self, arn: &str) -> Option<skyport_core::bus::ResourcePolicyDoc> {
        let arn = skyport_core::arn::Arn::parse(arn).ok()?;
        if arn.service != "ecr" {
            return None;
        }
        let name = arn.resource.strip_prefix("repository/")?;
        let repo = self.repo(&arn.account, &arn.region, name).ok()?;
        Some(skyport_core::bus::ResourcePolicyDoc {
            policy: repo.policy?,
            account: arn.account,
        })
    }
}

impl std::fmt::Debug for Ecr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ecr").finish_non_exhaustive()
    }
}

impl Ecr {
    /// Amazon ECR keeping its metadata in the `ecr` store of `layout` and blobs in its directory.
    pub fn new(layout: &StateLayout, options: Options) -> Result<Ecr, StoreError> {
        let store = layout.open_store("ecr")?;
        let dir = layout.service_dir("ecr")?;
        Ok(Ecr::with_store(store, &dir, options))
    }

    /// Amazon ECR on `store`, blobs under `dir`.
    pub fn with_store(store: Store, dir: &std::path::Path, options: Options) -> Ecr {
        let durable = store.is_durable();
        Ecr {
            inner: Arc::new(Inner {
                store,
                blobs: BlobStore::new(dir, durable),
                options,
                signer: OnceLock::new(),
                port: Mutex::new(None),
                mounts: 0.into(),
                uploads: 0.into(),
            }),
        }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Blobs mounted from another repository and blobs uploaded, since the start.
    pub fn blob_counters(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.inner.mounts.load(Relaxed),
            self.inner.uploads.load(Relaxed),
        )
    }

    /// The token signer (its key made and stored on first use).
    pub(crate) fn signer(&self) -> Result<&Signer, ApiError> {
        if let Some(s) = self.inner.signer.get() {
            return Ok(s);
        }
        let key = self
            .store()
            .write(|w| {
                if let Some(k) = w.get(state::KEYS, "token")?
                    && let Ok(k) = <[u8; 32]>::try_from(k.as_slice())
                {
                    return Ok(k);
                }
                let mut k = [0u8; 32];
                fastrand::fill(&mut k);
                w.put(state::KEYS, "token", &k)?;
                Ok(k)
            })
            .map_err(store_error)?;
        Ok(self.inner.signer.get_or_init(|| Signer::new(key)))
    }

    /// The registry's port in the external range (reserved on first need), if there is a range.
    pub fn registry_port(&self) -> Option<u16> {
        let ports = self.inner.options.ports.as_ref()?;
        let mut slot = self.inner.port.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lease) = slot.as_ref() {
            return Some(lease.port());
        }
        match ports.reserve(PortRequest {
            preferred: None,
            owner: "ecr".to_owned(),
            description: "ECR registry (docker login/push/pull at 127.0.0.1:<port>)".to_owned(),
        }) {
            Ok(lease) => {
                lease.set_backend(Backend::Http {
                    service: Some("ecr".to_owned()),
                });
                let port = lease.port();
                tracing::info!(port, "ECR registry port");
                *slot = Some(lease);
                Some(port)
            }
            Err(e) => {
                tracing::warn!("no port for the ECR registry: {e}");
                None
            }
        }
    }

    /// The registry's port, when it has one already (none is reserved here).
    pub(crate) fn leased_port(&self) -> Option<u16> {
        let slot = self.inner.port.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().map(PortLease::port)
    }

    /// The registry host of an account and region (`<account>.dkr.ecr.<region>.<host>`).
    pub(crate) fn registry_host(&self, account: &str, region: &str) -> String {
        format!("{account}.dkr.ecr.{region}.{}", self.inner.options.host)
    }

    pub(crate) fn repository_shape(&self, r: &RepoRec) -> shapes::Repository {
        shapes::Repository {
            repository_arn: Some(r.arn()),
            registry_id: Some(r.account.clone()),
            repository_name: Some(r.name.clone()),
            repository_uri: Some(format!(
                "{}/{}",
                self.registry_host(&r.account, &r.region),
                r.name
            )),
            created_at: Some(skyport_wire::Timestamp::from_millis(r.created_ms)),
            image_tag_mutability: Some(r.tag_mutability.clone()),
            image_tag_mutability_exclusion_filters: (!r.mutability_exclusions.is_empty()).then(
                || {
                    r.mutability_exclusions
                        .iter()
                        .map(|(t, f)| shapes::ImageTagMutabilityExclusionFilter {
                            filter_type: t.clone(),
                            filter: f.clone(),
                        })
                        .collect()
                },
            ),
            image_scanning_configuration: Some(shapes::ImageScanningConfiguration {
                scan_on_push: Some(r.scan_on_push),
            }),
            encryption_configuration: Some(shapes::EncryptionConfiguration {
                encryption_type: r.encryption.0.clone(),
                kms_key: r.encryption.1.clone(),
            }),
        }
    }

    /// A repository, or `RepositoryNotFoundException`.
    pub(crate) fn repo(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<RepoRec, ApiError> {
        state::repo(self.store(), &state::repo_key(account, region, name))
            .map_err(store_error)?
            .ok_or_else(|| no_repo(account, name))
    }

    /// Stores a manifest as an image of `repo` (PutImage and the registry's manifest PUT), then runs
    /// the repository's lifecycle policy.
    pub(crate) async fn put_manifest(
        &self,
        repo: &RepoRec,
        bytes: bytes::Bytes,
        content_type: Option<&str>,
        tag: Option<String>,
        refuse_same: bool,
    ) -> Result<ImageRec, PutFailure> {
        let parsed = manifest::parse(&bytes, content_type)?;
        let digest = crate::blobs::digest_of(&bytes);
        let rec = ImageRec {
            digest,
            media_type: parsed.media_type,
            artifact_media_type: parsed.artifact_type,
            tags: Vec::new(),
            pushed_ms: state::now_ms(),
            pulled_ms: None,
            size: parsed.size,
            blobs: parsed.blobs,
            children: parsed.children,
            subject: parsed.subject,
        };
        let key = repo.key();
        let stored = self
            .store()
            .write_async(move |w| {
                Ok(state::put_image(
                    w,
                    &key,
                    rec,
                    &bytes,
                    tag.as_deref(),
                    refuse_same,
                ))
            })
            .await
            .map_err(PutError::Store)??;
        self.run_lifecycle(repo).await;
        Ok(stored)
    }

    /// Expires what the lifecycle policy of `repo` selects now.
    pub(crate) async fn run_lifecycle(&self, repo: &RepoRec) {
        let key = repo.key();
        let Ok(Some(current)) = state::repo(self.store(), &key) else {
            return;
        };
        let Some(policy) = current
            .lifecycle
            .as_deref()
            .and_then(|t| lifecycle::parse(t).ok())
        else {
            return;
        };
        let Ok(images) = state::images(self.store(), &key) else {
            return;
        };
        let expired = policy.expired(
            &images,
            state::now_ms(),
            self.inner.options.lifecycle_day_ms,
        );
        let outcome = self
            .store()
            .write_async(move |w| {
                let mut freed = Vec::new();
                for digest in &expired {
                    if let Some((_, gone)) = state::delete_image(w, &key, digest, None)? {
                        tracing::info!(repository = %key, %digest, "image expired by the lifecycle policy");
                        freed.extend(gone);
                    }
                }
                if let Some(bytes) = w.get(state::REPOS, &key)? {
                    let mut rec: RepoRec = serde_json::from_slice(&bytes)?;
                    rec.lifecycle_evaluated_ms = Some(state::now_ms());
                    w.put_json(state::REPOS, &key, &rec)?;
                }
                Ok(freed)
            })
            .await;
        match outcome {
            Ok(freed) => self.inner.blobs.remove(&freed),
            Err(e) => tracing::warn!("lifecycle policy run failed: {e}"),
        }
    }
}

/// Why a manifest was not stored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PutFailure {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Put(#[from] PutError),
}

impl From<StoreError> for PutFailure {
    fn from(e: StoreError) -> PutFailure {
        PutFailure::Put(PutError::Store(e))
    }
}

#[async_trait::async_trait]
impl Service for Ecr {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn operations(&self) -> Option<OperationTable> {
        Some(OperationTable {
            implemented: OPERATIONS,
            all: || skyport_wire::endpoint::operation_names(MODEL()),
        })
    }

    fn state_control(&self) -> Option<&dyn skyport_core::state::StateControl> {
        Some(self)
    }

    async fn call(
        &self,
        ctx: &mut RequestContext,
        request: Request<Body>,
    ) -> Result<Response<Body>, AwsError> {
        let path = request.uri().path();
        if path == "/v2" || path.starts_with("/v2/") {
            return Ok(crate::registry::serve(self, ctx, request).await);
        }
        Endpoint::new(MODEL())
            .body_limit(64 << 20)
            .serve(self, ctx, request)
            .await
    }
}

#[async_trait::async_trait]
impl Handler for Ecr {
    fn implemented(&self) -> &'static [&'static str] {
        OPERATIONS
    }

    async fn handle(
        &self,
        ctx: &mut RequestContext,
        operation: &'static Operation,
        input: Value,
    ) -> Result<Value, ApiError> {
        shapes::dispatch(self, ctx, operation, input).await
    }
}

/// The store failed.
pub(crate) fn store_error(e: StoreError) -> ApiError {
    errors::server_exception(format!("Internal error: {e}"))
}

/// `RepositoryNotFoundException`.
pub(crate) fn no_repo(account: &str, name: &str) -> ApiError {
    errors::repository_not_found_exception(format!(
        "The repository with name '{name}' does not exist in the registry with id '{account}'"
    ))
}

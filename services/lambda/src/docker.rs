//! The Docker executor: one container per environment, from the runtime's image (AWS's public base
//! images by default, `LAMBDA_RUNTIME_IMAGE_MAPPING` to change them), on Skyport's network, with
//! Skyport's DNS as its resolver and Skyport's CA in its trust, so unmodified code reaches S3, SQS and
//! STS by their real names over verified TLS.
//!
//! Placement decides the network and the address containers reach Skyport at:
//! - Skyport in a container (compose, `skyport start --docker`): the container joins Skyport's own
//!   network (`LAMBDA_DOCKER_NETWORK`, else the first network of Skyport's container), and reaches
//!   Skyport at its address there; compose service names resolve through Skyport's DNS, which forwards
//!   them to Docker's;
//! - Skyport on the host: the network is `LAMBDA_DOCKER_NETWORK` or `bridge`, and Skyport's gateway
//!   (4566 and 443) and DNS start answering on that network's gateway address.
//!
//! Containers are labelled (`skyport.lambda`, their owner (the state directory, and the container when
//! Skyport runs in one) and this run) and removed when
//! their environment ends, at shutdown, and, when a killed Skyport left them, at the next start. They
//! never get the Docker socket: a `LAMBDA_DOCKER_FLAGS` volume naming it is refused.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, DownloadFromContainerOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    UploadToContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use bytes::Bytes;
use futures_util::StreamExt;
use skyport_core::bus::{ImageError, ImageSource, ListenerControl, ResolvedImage};
use tokio::sync::{OnceCell, mpsc, oneshot};

use crate::code;
use crate::executor::{
    EnvSpec, Executor, Instance, MemoryGauge, NotReady, Reach, StartError, Stop,
};
use crate::image_archive;
use crate::runtimes::{self, Family};
use crate::trust;

/// The Docker executor's settings (LocalStack's variables keep their meaning).
#[derive(Clone, Default)]
pub struct DockerSettings {
    /// The Docker Engine's unix socket.
    pub socket: String,
    /// `LAMBDA_DOCKER_NETWORK`: the network(s) containers join (the first is the main one).
    pub network: Option<String>,
    /// `LAMBDA_DOCKER_DNS`: a resolver to use instead of Skyport's DNS.
    pub dns: Option<String>,
    /// `LAMBDA_DOCKER_FLAGS`: extra `docker run` flags (`-e`, `-v`, `--add-host`, `--dns`, `-l`).
    pub flags: Option<String>,
    /// `LAMBDA_REMOVE_CONTAINERS` (default true).
    pub remove_containers: bool,
    /// `LAMBDA_RUNTIME_IMAGE_MAPPING`: runtime → image (a JSON object), or a pattern with `<runtime>`.
    pub image_mapping: Option<String>,
    /// `HOSTNAME_FROM_LAMBDA`: the address containers use for Skyport instead of the detected one.
    pub hostname_override: Option<String>,
    /// Skyport runs in a container.
    pub in_container: bool,
    /// Skyport's own container (id prefix or name), when it runs in one.
    pub own_container: Option<String>,
    /// Skyport's CA (PEM), added to each container's trust.
    pub ca_pem: String,
    /// Identifies this Skyport's containers: a hash of the state directory.
    pub owner: String,
    /// Starts the gateway and DNS on a network's gateway address (Skyport on the host).
    pub listeners: Option<Arc<dyn ListenerControl>>,
    /// Skyport's ECR: images of its registry are loaded into the Engine from there, never pulled.
    pub images: Option<Arc<dyn ImageSource>>,
}

impl std::fmt::Debug for DockerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerSettings")
            .field("network", &self.network)
            .field("in_container", &self.in_container)
            .finish_non_exhaustive()
    }
}

/// Where containers reach Skyport, found once.
#[derive(Debug, Clone)]
struct Placement {
    /// The network containers are created on.
    network: String,
    /// More networks to connect them to.
    extra_networks: Vec<String>,
    /// Skyport's address on that network.
    ip: IpAddr,
    /// The host containers use for Skyport (the address, or `HOSTNAME_FROM_LAMBDA`).
    host: String,
    /// Set the container's resolver to Skyport's DNS.
    dns: bool,
    /// Real AWS URLs (HTTPS on 443) reach Skyport; without it functions get `AWS_ENDPOINT_URL`.
    https: bool,
}

/// The Docker executor.
pub struct DockerExecutor {
    settings: DockerSettings,
    /// This run's id (a label on its containers): the orphan sweep removes the owner's others.
    instance: String,
    docker: OnceCell<Docker>,
    placement: OnceCell<Placement>,
    /// The trust files made for each image (by image ID, and whether the function runs a JVM): the
    /// image's own CA bundle is read once, not at every container start.
    trust_files: std::sync::Mutex<HashMap<(String, bool), TrustFiles>>,
    /// Where packages are unpacked once per code version, to be bind-mounted read-only at `/var/task`
    /// instead of copied into each container (Skyport on the host only: the Engine sees the same files).
    unpack_dir: Option<std::path::PathBuf>,
    /// The local names of the ECR images loaded into the Engine, by image URI and architecture.
    ecr_images: std::sync::Mutex<HashMap<(String, String), String>>,
    /// One image load at a time (two functions of one image load it once).
    loading: tokio::sync::Mutex<()>,
}

/// The trust files of one image, shared by its containers.
type TrustFiles = Arc<Vec<code::Entry>>;

/// The labels every Lambda container carries.
const LABEL: &str = "skyport.lambda";
const LABEL_OWNER: &str = "skyport.owner";
const LABEL_INSTANCE: &str = "skyport.instance";
/// Where the CA bundle goes in each container.
const BUNDLE: &str = "/etc/skyport/ca-bundle.pem";
const CA_ONLY: &str = "/etc/skyport/ca.pem";
/// The same roots as a JKS trust store, for JVMs (`JAVA_TOOL_OPTIONS` names it).
const JAVA_STORE: &str = "/etc/skyport/cacerts.jks";
/// The system bundle paths runtimes read (AL2023, Debian).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt",
];

fn api_error(what: &str, e: bollard::errors::Error) -> String {
    let why = match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message,
        bollard::errors::Error::DockerStreamError { error } => error,
        other => other.to_string(),
    };
    format!("{what}: {why}")
}

/// The state reason of an image function whose image of Skyport's ECR cannot run.
fn image_not_ready(uri: &str, e: ImageError) -> NotReady {
    match e {
        ImageError::NotFound => (
            "ImageDeleted".to_owned(),
            format!("Source image {uri} does not exist. Provide a valid source image."),
        ),
        ImageError::Invalid(_) => (
            "InvalidImage".to_owned(),
            format!("Source image {uri} is not valid. Provide a valid source image."),
        ),
        ImageError::Unsupported(why) => (
            "InvalidImage".to_owned(),
            format!(
                "The image manifest, config or layer media type for the source image {uri} is not supported ({why})."
            ),
        ),
        ImageError::Internal(why) => ("InternalError".to_owned(), why),
    }
}

fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

impl DockerExecutor {
    /// An executor talking to the Docker Engine at `settings.socket` (connected on first use).
    pub fn new(settings: DockerSettings) -> DockerExecutor {
        DockerExecutor {
            settings,
            instance: skyport_core::ids::uuid(),
            docker: OnceCell::new(),
            placement: OnceCell::new(),
            trust_files: std::sync::Mutex::default(),
            unpack_dir: None,
            ecr_images: std::sync::Mutex::default(),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    /// Unpacks each code version once under `dir` and bind-mounts it at `/var/task`, when Skyport runs
    /// on the Engine's host (in a container, the code is copied into each function container).
    pub fn with_unpack_dir(mut self, dir: std::path::PathBuf) -> DockerExecutor {
        if !self.settings.in_container {
            // The Engine needs an absolute source path.
            self.unpack_dir = Some(std::path::absolute(&dir).unwrap_or(dir));
        }
        self
    }

    /// The host directory holding the unpacked package `path` (version `sha256`), unpacked now if it
    /// is not yet; `None` when packages are copied instead.
    async fn unpacked(&self, path: &std::path::Path, sha256: &str) -> Option<std::path::PathBuf> {
        let root = self.unpack_dir.clone()?;
        if sha256.is_empty() || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let dir = root.join(sha256);
        if dir.is_dir() {
            return Some(dir);
        }
        let path = path.to_owned();
        let target = dir.clone();
        let done = tokio::task::spawn_blocking(move || -> Result<(), String> {
            // Unpacked beside its place and renamed into it: a directory there is always complete.
            let staging = root.join(format!("{}.{}", skyport_core::ids::uuid(), "unpacking"));
            code::unpack_file(&path, &staging)?;
            if std::fs::rename(&staging, &target).is_err() {
                // Another environment of the same version got there first.
                let _ = std::fs::remove_dir_all(&staging);
            }
            Ok(())
        })
        .await;
        match done {
            Ok(Ok(())) if dir.is_dir() => Some(dir),
            Ok(Err(e)) => {
                tracing::warn!("lambda: unpacking the code to mount it: {e}; copying it instead");
                None
            }
            _ => None,
        }
    }

    /// Whether the Docker Engine answers (a quick ping).
    pub async fn available(&self) -> bool {
        match self.docker().await {
            Ok(d) => d.ping().await.is_ok(),
            Err(_) => false,
        }
    }

    async fn docker(&self) -> Result<&Docker, StartError> {
        self.docker
            .get_or_try_init(|| async {
                let docker = Docker::connect_with_unix(
                    &self.settings.socket,
                    120,
                    bollard::API_DEFAULT_VERSION,
                )
                .map_err(|e| {
                    StartError::Unavailable(format!(
                        "the Docker Engine at {}: {e}",
                        self.settings.socket
                    ))
                })?;
                docker.negotiate_version().await.map_err(|e| {
                    StartError::Unavailable(format!(
                        "the Docker Engine at {} does not answer: {e}",
                        self.settings.socket
                    ))
                })
            })
            .await
    }

    /// The image a runtime runs in.
    fn image_for(&self, runtime: &str) -> Option<String> {
        if let Some(mapping) = &self.settings.image_mapping {
            let mapping = mapping.trim();
            if mapping.starts_with('{') {
                if let Ok(map) = serde_json::from_str::<HashMap<String, String>>(mapping)
                    && let Some(image) = map.get(runtime)
                {
                    return Some(image.clone());
                }
            } else if mapping.contains("<runtime>") {
                return Some(mapping.replace("<runtime>", runtime));
            }
        }
        runtimes::find(runtime).map(|r| r.image.to_owned())
    }

    async fn placement(&self) -> Result<&Placement, StartError> {
        self.placement
            .get_or_try_init(|| async {
                let placement = self.find_placement().await?;
                tracing::info!(
                    network = %placement.network,
                    address = %placement.ip,
                    dns = placement.dns,
                    https = placement.https,
                    "lambda: function containers join {} and reach Skyport at {}",
                    placement.network,
                    placement.host
                );
                Ok(placement)
            })
            .await
    }

    async fn find_placement(&self) -> Result<Placement, StartError> {
        let docker = self.docker().await?;
        let mut networks: Vec<String> = self
            .settings
            .network
            .as_deref()
            .map(|n| {
                n.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let (network, ip) = if self.settings.in_container {
            let own = self.settings.own_container.clone().ok_or_else(|| {
                StartError::Unavailable(
                    "Skyport's own container is unknown (no HOSTNAME)".to_owned(),
                )
            })?;
            let me = docker.inspect_container(&own, None).await.map_err(|e| {
                StartError::Unavailable(api_error(
                    &format!("inspecting Skyport's container {own}"),
                    e,
                ))
            })?;
            let attached = me
                .network_settings
                .and_then(|n| n.networks)
                .unwrap_or_default();
            let chosen = match networks.first() {
                Some(n) if attached.contains_key(n) => n.clone(),
                Some(n) => {
                    tracing::warn!(
                        "lambda: LAMBDA_DOCKER_NETWORK names {n}, which Skyport's container is not attached to; \
                         using the network Skyport is on"
                    );
                    let mut names: Vec<&String> = attached.keys().collect();
                    names.sort();
                    names
                        .first()
                        .map(|s| (*s).clone())
                        .unwrap_or_else(|| "bridge".to_owned())
                }
                None => {
                    let mut names: Vec<&String> = attached.keys().collect();
                    names.sort();
                    names
                        .first()
                        .map(|s| (*s).clone())
                        .unwrap_or_else(|| "bridge".to_owned())
                }
            };
            let ip = attached
                .get(&chosen)
                .and_then(|e| e.ip_address.clone())
                .filter(|s| !s.is_empty())
                .and_then(|s| s.parse::<IpAddr>().ok())
                .ok_or_else(|| {
                    StartError::Unavailable(format!(
                        "Skyport has no address on the network {chosen}"
                    ))
                })?;
            (chosen, ip)
        } else {
            let chosen = networks
                .first()
                .cloned()
                .unwrap_or_else(|| "bridge".to_owned());
            let inspect = docker
                .inspect_network(
                    &chosen,
                    None::<bollard::query_parameters::InspectNetworkOptions>,
                )
                .await
                .map_err(|e| {
                    StartError::Unavailable(api_error(
                        &format!("inspecting the network {chosen}"),
                        e,
                    ))
                })?;
            let ip = inspect
                .ipam
                .and_then(|i| i.config)
                .unwrap_or_default()
                .iter()
                .filter_map(|c| c.gateway.as_deref())
                .filter_map(|g| g.parse::<IpAddr>().ok())
                .find(IpAddr::is_ipv4)
                .ok_or_else(|| {
                    StartError::Unavailable(format!(
                        "the network {chosen} has no IPv4 gateway address"
                    ))
                })?;
            (chosen, ip)
        };
        if !networks.is_empty() {
            networks.remove(0);
        }
        let served = match (&self.settings.listeners, self.settings.in_container) {
            (Some(listeners), false) => listeners.serve_on(ip).await,
            // In a container Skyport already listens on all of its addresses (the image's default).
            _ => skyport_core::bus::Served {
                https_443: true,
                edge: true,
                dns: true,
            },
        };
        if !served.edge {
            return Err(StartError::Unavailable(format!(
                "Skyport cannot listen on {ip}, the address function containers would reach it at"
            )));
        }
        let host = self
            .settings
            .hostname_override
            .clone()
            .unwrap_or_else(|| ip.to_string());
        Ok(Placement {
            network,
            extra_networks: networks,
            ip,
            host,
            dns: served.dns && self.settings.dns.is_none(),
            https: served.https_443 && served.dns,
        })
    }

    /// The local name of the image of an image function whose `ImageUri` names Skyport's ECR, loaded
    /// into the Engine first when it does not have it (`None`: not an ECR image, the Engine pulls it).
    async fn ecr_image(&self, spec: &EnvSpec) -> Result<Option<String>, NotReady> {
        let (Some(images), Some(uri), None) = (&self.settings.images, &spec.image, &spec.runtime)
        else {
            return Ok(None);
        };
        let key = (uri.clone(), spec.architecture.clone());
        let cached = || {
            self.ecr_images
                .lock()
                .ok()
                .and_then(|names| names.get(&key).cloned())
        };
        if let Some(name) = cached() {
            return Ok(Some(name));
        }
        let Some(image) = images
            .resolve(uri, &spec.account, &spec.region, &spec.architecture)
            .await
            .map_err(|e| image_not_ready(uri, e))?
        else {
            return Ok(None);
        };
        let _one_at_a_time = self.loading.lock().await;
        if let Some(name) = cached() {
            return Ok(Some(name));
        }
        let docker = self
            .docker()
            .await
            .map_err(|e| ("InternalError".to_owned(), e.to_string()))?;
        let name = image_archive::local_name(&image);
        if docker.inspect_image(&name).await.is_ok() {
            tracing::debug!("lambda: the Engine has {name} already");
        } else if docker
            .inspect_image(image_archive::image_id(&image))
            .await
            .is_ok()
        {
            // The same image under another name (loaded for another repository, or pulled).
            let (repo, tag) = name.rsplit_once(':').unwrap_or((name.as_str(), "latest"));
            let options = bollard::query_parameters::TagImageOptionsBuilder::default()
                .repo(repo)
                .tag(tag)
                .build();
            docker
                .tag_image(image_archive::image_id(&image), Some(options))
                .await
                .map_err(|e| {
                    (
                        "InternalError".to_owned(),
                        api_error(&format!("tagging {name}"), e),
                    )
                })?;
        } else {
            self.load(docker, images.clone(), image, &name, uri).await?;
        }
        if let Ok(mut names) = self.ecr_images.lock() {
            names.insert(key, name.clone());
        }
        Ok(Some(name))
    }

    /// Forgets that the ECR image of `spec` is loaded (the Engine lost it).
    fn forget_ecr_image(&self, spec: &EnvSpec) {
        if let (Some(uri), Ok(mut names)) = (&spec.image, self.ecr_images.lock()) {
            names.remove(&(uri.clone(), spec.architecture.clone()));
        }
    }

    /// Streams `image` to the Engine's image load API as a `docker save` archive tagged `name`.
    async fn load(
        &self,
        docker: &Docker,
        images: Arc<dyn ImageSource>,
        image: ResolvedImage,
        name: &str,
        uri: &str,
    ) -> Result<(), NotReady> {
        let started = std::time::Instant::now();
        tracing::info!(
            "lambda: loading {uri} ({}) into the Docker Engine as {name}",
            image.manifest_digest
        );
        let archive = image_archive::archive(images, image, name.to_owned());
        let options = bollard::query_parameters::ImportImageOptionsBuilder::default()
            .quiet(true)
            .build();
        let mut progress = docker.import_image(options, bollard::body_try_stream(archive), None);
        while let Some(item) = progress.next().await {
            if let Err(e) = item {
                return Err((
                    "InvalidImage".to_owned(),
                    api_error(
                        &format!("The Docker Engine could not load the image {uri}"),
                        e,
                    ),
                ));
            }
        }
        docker.inspect_image(name).await.map_err(|e| {
            (
                "InvalidImage".to_owned(),
                api_error(
                    &format!("The Docker Engine did not load the image {uri}"),
                    e,
                ),
            )
        })?;
        tracing::info!(
            "lambda: {name} loaded in {} ms",
            started.elapsed().as_millis()
        );
        Ok(())
    }

    /// The image's own CA bundle (the first standard path that exists), to extend with Skyport's CA.
    async fn image_bundle(&self, docker: &Docker, id: &str) -> Option<String> {
        for path in SYSTEM_BUNDLES {
            let options = DownloadFromContainerOptionsBuilder::default()
                .path(path)
                .build();
            let mut stream = docker.download_from_container(id, Some(options));
            let mut tarball = Vec::new();
            let mut failed = false;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(bytes) => tarball.extend_from_slice(&bytes),
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if failed || tarball.is_empty() {
                continue;
            }
            let mut archive = tar::Archive::new(std::io::Cursor::new(tarball));
            if let Ok(mut entries) = archive.entries()
                && let Some(Ok(mut entry)) = entries.next()
            {
                let mut text = String::new();
                if std::io::Read::read_to_string(&mut entry, &mut text).is_ok()
                    && text.contains("BEGIN CERTIFICATE")
                {
                    return Some(text);
                }
            }
        }
        None
    }

    /// The trust files for a container of the image `image_id` (Skyport's CA, and the image's own
    /// bundle extended with it at each system path), read from the created container `id` the first
    /// time the image is seen.
    async fn trust_files(
        &self,
        docker: &Docker,
        id: &str,
        image_id: Option<&str>,
        java: bool,
    ) -> TrustFiles {
        let key = image_id.map(|image| (image.to_owned(), java));
        if let Some(key) = &key
            && let Ok(cache) = self.trust_files.lock()
            && let Some(files) = cache.get(key)
        {
            return files.clone();
        }
        let bundle = self.image_bundle(docker, id).await.unwrap_or_default();
        let files = Arc::new(trust_entries(&self.settings.ca_pem, bundle, java));
        if let Some(key) = key
            && let Ok(mut cache) = self.trust_files.lock()
        {
            cache.insert(key, files.clone());
        }
        files
    }

    fn parse_flags(&self) -> ExtraFlags {
        let mut out = ExtraFlags::default();
        let Some(flags) = &self.settings.flags else {
            return out;
        };
        let words: Vec<&str> = flags.split_whitespace().collect();
        let mut i = 0;
        while i < words.len() {
            let (flag, value) = match words[i].split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
                _ => (words[i], words.get(i + 1).map(|s| (*s).to_owned())),
            };
            let consumed_next = !words[i].contains('=') || !words[i].starts_with("--");
            let Some(value) = value else { break };
            match flag {
                "-e" | "--env" => out.env.push(value),
                "-v" | "--volume" => {
                    if value.contains("docker.sock") {
                        tracing::warn!(
                            "lambda: LAMBDA_DOCKER_FLAGS mounts the Docker socket ({value}); function containers never get it"
                        );
                    } else {
                        out.binds.push(value);
                    }
                }
                "--add-host" => out.hosts.push(value),
                "--dns" => out.dns.push(value),
                "-l" | "--label" => {
                    let (k, v) = value.split_once('=').unwrap_or((value.as_str(), ""));
                    out.labels.insert(k.to_owned(), v.to_owned());
                }
                other => {
                    tracing::warn!("lambda: LAMBDA_DOCKER_FLAGS: {other} is not supported; ignored")
                }
            }
            i += if consumed_next { 2 } else { 1 };
        }
        out
    }
}

/// What `LAMBDA_DOCKER_FLAGS` adds to every function container.
#[derive(Debug, Default)]
struct ExtraFlags {
    env: Vec<String>,
    binds: Vec<String>,
    hosts: Vec<String>,
    dns: Vec<String>,
    labels: HashMap<String, String>,
}

async fn upload(docker: &Docker, id: &str, tarball: Vec<u8>, path: &str) -> Result<(), StartError> {
    let options = UploadToContainerOptionsBuilder::default()
        .path(path)
        .build();
    docker
        .upload_to_container(id, Some(options), bollard::body_full(Bytes::from(tarball)))
        .await
        .map_err(|e| {
            StartError::Failed(api_error("copying files into the function's container", e))
        })
}

/// The trust files: Skyport's CA alone, the image's `bundle` extended with it (at Skyport's path and at
/// each system bundle path), and for JVMs the same roots as a JKS store.
fn trust_entries(ca_pem: &str, mut bundle: String, java: bool) -> Vec<code::Entry> {
    let ca = ca_pem.trim().to_owned() + "\n";
    if !bundle.is_empty() && !bundle.ends_with('\n') {
        bundle.push('\n');
    }
    bundle.push_str("# Skyport local CA\n");
    bundle.push_str(&ca);
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        (BUNDLE, bundle.clone().into_bytes()),
        (CA_ONLY, ca.into_bytes()),
    ];
    if java {
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(0))
            .unwrap_or(0);
        let store = trust::java_trust_store(&trust::pem_certificates(&bundle), created);
        files.push((JAVA_STORE, store));
    }
    for path in SYSTEM_BUNDLES {
        files.push((path, bundle.clone().into_bytes()));
    }
    files
        .into_iter()
        .map(|(path, data)| code::Entry {
            path: path.trim_start_matches('/').to_owned(),
            mode: 0o644,
            dir: false,
            data,
        })
        .collect()
}

struct Container {
    docker: Docker,
    id: String,
    remove: bool,
    stopped: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Stop for Container {
    async fn stop(&self) {
        if self.stopped.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        if self.remove {
            let _ = self
                .docker
                .remove_container(
                    &self.id,
                    Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                )
                .await;
        } else {
            let _ = self
                .docker
                .stop_container(
                    &self.id,
                    None::<bollard::query_parameters::StopContainerOptions>,
                )
                .await;
        }
    }
}

/// A container's peak memory: its memory cgroup's high-water mark, read from the host's cgroup files
/// when Skyport can see them (cgroup v1 `memory.max_usage_in_bytes`, v2 `memory.peak`), else from the
/// Engine's one-shot stats: refreshed in the background at most once a second, so an invoke never
/// waits for the Engine except an environment's first, which waits (up to 2 s) for a first reading.
struct ContainerMemory {
    file: Option<std::path::PathBuf>,
    stats: Arc<EngineStats>,
}

/// The highest memory figure the Engine reported for a container.
struct EngineStats {
    docker: Docker,
    id: String,
    seen: std::sync::atomic::AtomicU64,
    last: std::sync::Mutex<Option<std::time::Instant>>,
    read: tokio::sync::Notify,
}

impl EngineStats {
    async fn refresh(&self) {
        use std::sync::atomic::Ordering;
        let options = bollard::query_parameters::StatsOptionsBuilder::default()
            .stream(false)
            .one_shot(true)
            .build();
        let mut stats = self.docker.stats(&self.id, Some(options));
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), stats.next()).await;
        if let Ok(Some(Ok(stats))) = read
            && let Some(memory) = stats.memory_stats
            && let Some(bytes) = memory.max_usage.or(memory.usage)
        {
            self.seen.fetch_max(bytes, Ordering::AcqRel);
        }
        self.read.notify_waiters();
    }
}

impl ContainerMemory {
    fn new(docker: Docker, id: String) -> ContainerMemory {
        let file = [
            format!("/sys/fs/cgroup/memory/docker/{id}/memory.max_usage_in_bytes"),
            format!(
                "/sys/fs/cgroup/memory/system.slice/docker-{id}.scope/memory.max_usage_in_bytes"
            ),
            format!("/sys/fs/cgroup/system.slice/docker-{id}.scope/memory.peak"),
            format!("/sys/fs/cgroup/docker/{id}/memory.peak"),
        ]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|path| path.exists());
        ContainerMemory {
            file,
            stats: Arc::new(EngineStats {
                docker,
                id,
                seen: std::sync::atomic::AtomicU64::new(0),
                last: std::sync::Mutex::new(None),
                read: tokio::sync::Notify::new(),
            }),
        }
    }
}

#[async_trait::async_trait]
impl MemoryGauge for ContainerMemory {
    async fn peak_bytes(&self) -> Option<u64> {
        use std::sync::atomic::Ordering;
        if let Some(file) = &self.file
            && let Some(bytes) = std::fs::read_to_string(file)
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
        {
            return Some(bytes);
        }
        let due = {
            let mut last = self.stats.last.lock().unwrap_or_else(|e| e.into_inner());
            let due = last.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(1));
            if due {
                *last = Some(std::time::Instant::now());
            }
            due
        };
        let read = self.stats.read.notified();
        if due {
            let stats = self.stats.clone();
            tokio::spawn(async move { stats.refresh().await });
        }
        if self.stats.seen.load(Ordering::Acquire) == 0 {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), read).await;
        }
        Some(self.stats.seen.load(Ordering::Acquire)).filter(|b| *b > 0)
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

#[async_trait::async_trait]
impl Executor for DockerExecutor {
    fn name(&self) -> &'static str {
        "docker"
    }

    async fn prepare(&self, spec: &EnvSpec) -> Result<(), NotReady> {
        let image = match (&spec.runtime, &spec.image) {
            (Some(runtime), _) => self.image_for(runtime).ok_or_else(|| {
                (
                    "InvalidRuntime".to_owned(),
                    format!("No image is known for the runtime {runtime}"),
                )
            })?,
            (None, Some(image)) => image.clone(),
            (None, None) => {
                return Err((
                    "InvalidImage".to_owned(),
                    "The function has neither a runtime nor an image".to_owned(),
                ));
            }
        };
        if self.ecr_image(spec).await?.is_some() {
            return Ok(());
        }
        let docker = self
            .docker()
            .await
            .map_err(|e| ("InternalError".to_owned(), e.to_string()))?;
        match docker.inspect_image(&image).await {
            Ok(_) => return Ok(()),
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err((
                    "InternalError".to_owned(),
                    api_error(&format!("inspecting {image}"), e),
                ));
            }
        }
        tracing::info!("lambda: pulling {image}");
        let options = CreateImageOptionsBuilder::default()
            .from_image(&image)
            .build();
        let mut stream = docker.create_image(Some(options), None, None);
        let mut last = String::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    let status = info.status.unwrap_or_default();
                    if status != last {
                        tracing::info!("lambda: pulling {image}: {status}");
                        last = status;
                    }
                }
                Err(e) => {
                    return Err((
                        "ImageAccessDenied".to_owned(),
                        api_error(&format!("Lambda was unable to pull the image {image}"), e),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn reach(&self) -> Result<Reach, StartError> {
        let p = self.placement().await?;
        Ok(Reach {
            bind: p.ip,
            host: p.host.clone(),
        })
    }

    async fn start(&self, spec: &EnvSpec) -> Result<Instance, StartError> {
        let docker = self.docker().await?.clone();
        let placement = self.placement().await?.clone();
        let runtime = spec.runtime.clone().unwrap_or_default();
        let family = runtimes::find(&runtime).map(|r| r.family);
        let image = match (&spec.image, spec.runtime.as_deref()) {
            (_, Some(r)) => self
                .image_for(r)
                .ok_or_else(|| StartError::Failed(format!("no image for the runtime {r}")))?,
            (Some(image), None) => image.clone(),
            (None, None) => return Err(StartError::Failed("the function has no image".to_owned())),
        };
        let (image, from_ecr) = match self.ecr_image(spec).await {
            Ok(Some(local)) => (local, true),
            Ok(None) => (image, false),
            Err((_, reason)) => return Err(StartError::Failed(reason)),
        };
        let ExtraFlags {
            env: flag_env,
            binds,
            hosts: extra_hosts,
            dns: flag_dns,
            labels: flag_labels,
        } = self.parse_flags();
        let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for (k, v) in [
            ("AWS_CA_BUNDLE", BUNDLE),
            ("SSL_CERT_FILE", BUNDLE),
            ("REQUESTS_CA_BUNDLE", BUNDLE),
            ("CURL_CA_BUNDLE", BUNDLE),
            ("NODE_EXTRA_CA_CERTS", CA_ONLY),
        ] {
            env.push(format!("{k}={v}"));
        }
        if runs_java(spec) {
            // The function's own JVM options stay; the trust store's are added to them.
            let own = spec
                .env
                .iter()
                .find(|(k, _)| k == "JAVA_TOOL_OPTIONS")
                .map(|(_, v)| format!("{v} "));
            env.retain(|e| !e.starts_with("JAVA_TOOL_OPTIONS="));
            env.push(format!(
                "JAVA_TOOL_OPTIONS={}{}",
                own.unwrap_or_default(),
                trust::java_options(JAVA_STORE)
            ));
        }
        env.push(format!("LOCALSTACK_HOSTNAME={}", placement.host));
        if !placement.https {
            // Real AWS names cannot reach Skyport from here: point the SDKs at it directly.
            let port = spec
                .env
                .iter()
                .find(|(k, _)| k == "EDGE_PORT")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| "4566".to_owned());
            env.push(format!("AWS_ENDPOINT_URL=http://{}:{port}", placement.host));
        }
        env.extend(flag_env);
        let mut labels: HashMap<String, String> = flag_labels;
        labels.insert(LABEL.to_owned(), "1".to_owned());
        labels.insert(LABEL_OWNER.to_owned(), self.settings.owner.clone());
        labels.insert(LABEL_INSTANCE.to_owned(), self.instance.clone());
        labels.insert("skyport.function".to_owned(), spec.function_name.clone());
        let memory = i64::from(spec.memory_mb) * 1024 * 1024;
        let mut dns = flag_dns;
        if let Some(d) = &self.settings.dns {
            dns.push(d.clone());
        } else if placement.dns {
            dns.push(placement.ip.to_string());
        }
        let mut binds = binds;
        // The code: mounted from its unpacked directory (Skyport on the host), or copied below.
        let mounted = match (&spec.code.hot_reload, &spec.code_path, &spec.runtime) {
            (None, Some(path), Some(_)) => self.unpacked(path, &spec.code.sha256).await,
            _ => None,
        };
        let (entrypoint, cmd, working_dir) = match (family, &spec.image_config) {
            (Some(Family::Provided), _) => {
                let own = spec.code.hot_reload.is_some()
                    || mounted
                        .as_ref()
                        .is_some_and(|dir| dir.join("bootstrap").is_file())
                    || mounted.is_none()
                        && spec
                            .code_path
                            .as_ref()
                            .and_then(|p| std::fs::read(p).ok())
                            .is_some_and(|zip| code::has_file(&zip, "bootstrap"));
                let bootstrap = if own {
                    "/var/task/bootstrap"
                } else {
                    "/opt/bootstrap"
                };
                (
                    Some(vec![bootstrap.to_owned()]),
                    spec.handler.clone().map(|h| vec![h]),
                    None,
                )
            }
            (Some(_), _) => (None, spec.handler.clone().map(|h| vec![h]), None),
            (None, Some(config)) => (
                config.entry_point.clone(),
                config.command.clone(),
                config.working_directory.clone(),
            ),
            (None, None) => (None, None, None),
        };
        if let Some(dir) = &spec.code.hot_reload {
            binds.push(format!("{dir}:/var/task:ro"));
        } else if let Some(dir) = &mounted {
            binds.push(format!("{}:/var/task:ro", dir.display()));
        }
        let name = format!(
            "skyport-lambda-{}-{}",
            sanitize(&spec.function_name),
            &spec.id[..12.min(spec.id.len())]
        );
        let body = ContainerCreateBody {
            image: Some(image.clone()),
            env: Some(env),
            cmd,
            entrypoint,
            working_dir,
            labels: Some(labels),
            host_config: Some(HostConfig {
                memory: Some(memory),
                memory_swap: Some(memory),
                network_mode: Some(placement.network.clone()),
                dns: (!dns.is_empty()).then_some(dns),
                extra_hosts: (!extra_hosts.is_empty()).then_some(extra_hosts),
                binds: (!binds.is_empty()).then_some(binds),
                init: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        };
        // Creating the container, finding the image's ID (its trust files are cached by it) and
        // reading the packages go on at once; then one archive (layers, code, trust) is copied in.
        let java = runs_java(spec);
        let layer_count = spec.layer_paths.len();
        let mut packages = spec.layer_paths.clone();
        if spec.code.hot_reload.is_none()
            && mounted.is_none()
            && spec.runtime.is_some()
            && let Some(path) = &spec.code_path
        {
            packages.push(path.clone());
        }
        let read = tokio::task::spawn_blocking(move || {
            packages
                .iter()
                .map(|path| code::entries_of_file(path))
                .collect::<Result<Vec<_>, String>>()
        });
        let create_options = CreateContainerOptionsBuilder::default().name(&name).build();
        // An ECR image removed from the Engine since it was loaded (`docker image prune`) is loaded
        // again, once.
        let retry = from_ecr.then(|| (body.clone(), create_options.clone()));
        let create = docker.create_container(Some(create_options), body);
        let inspect = docker.inspect_image(&image);
        let (mut created, inspected, read) = tokio::join!(create, inspect, read);
        if let (Err(e), Some((body, options))) = (&created, retry)
            && is_not_found(e)
        {
            tracing::info!("lambda: {image} is no longer in the Docker Engine; loading it again");
            self.forget_ecr_image(spec);
            self.ecr_image(spec)
                .await
                .map_err(|(_, reason)| StartError::Failed(reason))?;
            created = docker.create_container(Some(options), body).await;
        }
        let id = created
            .map_err(|e| {
                StartError::Failed(api_error(&format!("creating a container from {image}"), e))
            })?
            .id;
        let container = Container {
            docker: docker.clone(),
            id: id.clone(),
            remove: self.settings.remove_containers,
            stopped: std::sync::atomic::AtomicBool::new(false),
        };
        let prepared = async {
            let packages = read
                .map_err(|e| StartError::Failed(e.to_string()))?
                .map_err(StartError::Failed)?;
            let image_id = inspected.ok().and_then(|i| i.id);
            let trust = self
                .trust_files(&docker, &id, image_id.as_deref(), java)
                .await;
            let tarball = tokio::task::spawn_blocking(move || {
                // Layers first, in order, into /opt (a later layer's files replace an earlier one's).
                let mut sources: Vec<(&[code::Entry], &str)> = packages
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        (
                            p.as_slice(),
                            if i < layer_count { "opt" } else { "var/task" },
                        )
                    })
                    .collect();
                sources.push((trust.as_slice(), ""));
                code::tar(&sources)
            })
            .await
            .map_err(|e| StartError::Failed(e.to_string()))?
            .map_err(|e| StartError::Failed(e.to_string()))?;
            upload(&docker, &id, tarball, "/").await?;
            for extra in &placement.extra_networks {
                let request = bollard::models::NetworkConnectRequest {
                    container: id.clone(),
                    ..Default::default()
                };
                if let Err(e) = docker.connect_network(extra, request).await {
                    tracing::warn!(
                        "lambda: connecting the function container to {extra}: {}",
                        api_error("", e)
                    );
                }
            }
            docker
                .start_container(
                    &id,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
                .map_err(|e| StartError::Failed(api_error("starting the function's container", e)))
        }
        .await;
        if let Err(e) = prepared {
            container.stop().await;
            return Err(e);
        }
        let (lines_tx, lines) = mpsc::channel(1024);
        let mut logs = docker.logs(
            &id,
            Some(
                LogsOptionsBuilder::default()
                    .follow(true)
                    .stdout(true)
                    .stderr(true)
                    .build(),
            ),
        );
        tokio::spawn(async move {
            let mut partial = String::new();
            while let Some(Ok(output)) = logs.next().await {
                partial.push_str(&String::from_utf8_lossy(&output.into_bytes()));
                while let Some(i) = partial.find('\n') {
                    let line = partial[..i].trim_end_matches('\r').to_owned();
                    partial.drain(..=i);
                    if lines_tx.send(line).await.is_err() {
                        return;
                    }
                }
            }
            if !partial.is_empty() {
                let _ = lines_tx.send(partial).await;
            }
        });
        let (exit_tx, exited) = oneshot::channel();
        let waiter = docker.clone();
        let wait_id = id.clone();
        tokio::spawn(async move {
            let mut wait = waiter.wait_container(
                &wait_id,
                Some(WaitContainerOptionsBuilder::default().build()),
            );
            let how = match wait.next().await {
                Some(Ok(r)) => format!("exit status {}", r.status_code),
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                    format!("exit status {code}")
                }
                Some(Err(e)) => e.to_string(),
                None => "the container ended".to_owned(),
            };
            let _ = exit_tx.send(how);
        });
        Ok(Instance {
            lines,
            exited,
            stopper: Box::new(container),
            memory: Box::new(ContainerMemory::new(docker, id)),
        })
    }

    async fn sweep_orphans(&self) {
        let Ok(docker) = self.docker().await else {
            return;
        };
        let filters: HashMap<&str, Vec<String>> = HashMap::from([(
            "label",
            vec![format!("{LABEL_OWNER}={}", self.settings.owner)],
        )]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let Ok(containers) = docker.list_containers(Some(options)).await else {
            return;
        };
        for c in containers {
            let instance = c
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_INSTANCE))
                .cloned();
            if instance.as_deref() == Some(self.instance.as_str()) {
                continue;
            }
            if let Some(id) = c.id {
                tracing::info!(
                    "lambda: removing the function container {id} a previous run left behind"
                );
                let _ = docker
                    .remove_container(
                        &id,
                        Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                    )
                    .await;
            }
        }
    }
}

/// Whether an environment may run a JVM: Java runtimes, and container images (which may be Java).
fn runs_java(spec: &EnvSpec) -> bool {
    spec.runtime
        .as_deref()
        .is_none_or(|r| r.starts_with("java"))
}

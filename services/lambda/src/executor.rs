//! Executors start the environments functions run in: one container per environment (`docker`), or one
//! child process on the host (`local`). Both run the runtime's own client against the Runtime API
//! Skyport serves for that environment (`runtime_api`), with the same environment variables.

use std::net::IpAddr;
use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};

use crate::record::CodeRef;

/// Why an environment could not start.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StartError {
    /// The executor cannot run anything (no Docker Engine, no runtime on the host).
    #[error("{0}")]
    Unavailable(String),
    /// This function's environment could not be created (image, code, resources).
    #[error("{0}")]
    Failed(String),
}

/// Why a version cannot become `Active` (a state reason code and reason, as `GetFunction` reports).
pub type NotReady = (String, String);

/// What an environment runs.
#[derive(Debug, Clone)]
pub struct EnvSpec {
    /// The environment's id (32 hex characters, also in its log stream name).
    pub id: String,
    /// The function's name.
    pub function_name: String,
    /// The function's account.
    pub account: String,
    /// The function's region.
    pub region: String,
    /// The runtime (`python3.12`), absent for container images.
    pub runtime: Option<String>,
    /// The handler.
    pub handler: Option<String>,
    /// The code.
    pub code: CodeRef,
    /// The package on disk (zip functions).
    pub code_path: Option<PathBuf>,
    /// The packages of the function's layers, in order (extracted into `/opt`, later ones over
    /// earlier ones).
    pub layer_paths: Vec<PathBuf>,
    /// The container image of an image function: its `ResolvedImageUri` when Skyport's ECR resolved
    /// it at create time (pinned to the digest), else its `ImageUri`.
    pub image: Option<String>,
    /// `ImageConfig` (entry point, command, working directory) of image functions.
    pub image_config: Option<crate::shapes::ImageConfig>,
    /// Memory in MB.
    pub memory_mb: u32,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// Environment variables: Lambda's, then the function's own.
    pub env: Vec<(String, String)>,
    /// The Runtime API as `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub runtime_api: String,
}

/// A running environment.
pub struct Instance {
    /// Lines the function writes to stdout and stderr.
    pub lines: mpsc::Receiver<String>,
    /// Resolves when the environment ends on its own, with a description of how
    /// (`exit status 1`, `signal: killed`).
    pub exited: oneshot::Receiver<String>,
    /// Stops the environment (idempotent).
    pub stopper: Box<dyn Stop>,
    /// Reads the environment's peak memory (the REPORT line's `Max Memory Used`).
    pub memory: Box<dyn MemoryGauge>,
}

/// Reads how much memory an environment has used at most.
#[async_trait::async_trait]
pub trait MemoryGauge: Send + Sync {
    /// The environment's peak resident memory in bytes since it started, when it can be read.
    async fn peak_bytes(&self) -> Option<u64>;
}

/// Stops an environment.
#[async_trait::async_trait]
pub trait Stop: Send + Sync {
    /// Stops and removes the environment.
    async fn stop(&self);
}

/// Where environments reach Skyport.
#[derive(Debug, Clone)]
pub struct Reach {
    /// The address Skyport's per-environment Runtime API listeners bind.
    pub bind: IpAddr,
    /// The host environments use for it (the same address, as text).
    pub host: String,
}

/// An executor.
#[async_trait::async_trait]
pub trait Executor: Send + Sync {
    /// `docker` or `local`.
    fn name(&self) -> &'static str;

    /// Makes what `spec` needs available (pulls the image); the state reason when it cannot.
    async fn prepare(&self, spec: &EnvSpec) -> Result<(), NotReady>;

    /// Where environments reach Skyport (decided once the executor knows its network).
    async fn reach(&self) -> Result<Reach, StartError>;

    /// Starts an environment.
    async fn start(&self, spec: &EnvSpec) -> Result<Instance, StartError>;

    /// Removes environments a previous Skyport left behind (a `kill -9` skips the cleanup).
    async fn sweep_orphans(&self) {}
}

/// Which executor runs functions (`LAMBDA_EXECUTOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Docker when the engine answers, else local processes (the default).
    Auto,
    /// Always containers.
    Docker,
    /// Always host processes.
    Local,
}

/// Picks the executor on first use: Docker when the engine answers (or when asked for), else the local
/// executor, saying so once.
pub struct Auto {
    choice: Choice,
    docker: crate::docker::DockerExecutor,
    local: crate::local::LocalExecutor,
    chosen: tokio::sync::OnceCell<bool>,
}

impl Auto {
    /// Chooses between `docker` and `local` per `choice`.
    pub fn new(
        choice: Choice,
        docker: crate::docker::DockerExecutor,
        local: crate::local::LocalExecutor,
    ) -> Auto {
        Auto {
            choice,
            docker,
            local,
            chosen: tokio::sync::OnceCell::new(),
        }
    }

    /// True when functions run in containers.
    async fn use_docker(&self) -> bool {
        *self
            .chosen
            .get_or_init(|| async {
                match self.choice {
                    Choice::Docker => true,
                    Choice::Local => false,
                    Choice::Auto => {
                        let available = self.docker.available().await;
                        if !available {
                            tracing::warn!(
                                "lambda: the Docker Engine is not reachable; functions run as local processes on \
                                 this host (LAMBDA_EXECUTOR=local; set LAMBDA_EXECUTOR=docker to require Docker)"
                            );
                        }
                        available
                    }
                }
            })
            .await
    }

    fn pick(&self, docker: bool) -> &dyn Executor {
        if docker { &self.docker } else { &self.local }
    }
}

#[async_trait::async_trait]
impl Executor for Auto {
    fn name(&self) -> &'static str {
        match self.chosen.get() {
            Some(true) => "docker",
            Some(false) => "local",
            None => match self.choice {
                Choice::Local => "local",
                _ => "docker",
            },
        }
    }

    async fn prepare(&self, spec: &EnvSpec) -> Result<(), NotReady> {
        let docker = self.use_docker().await;
        self.pick(docker).prepare(spec).await
    }

    async fn reach(&self) -> Result<Reach, StartError> {
        let docker = self.use_docker().await;
        self.pick(docker).reach().await
    }

    async fn start(&self, spec: &EnvSpec) -> Result<Instance, StartError> {
        let docker = self.use_docker().await;
        self.pick(docker).start(spec).await
    }

    async fn sweep_orphans(&self) {
        if self.choice != Choice::Local {
            self.docker.sweep_orphans().await;
        }
    }
}

//! The local executor: each environment is a child process on this host, for machines without Docker
//! (`LAMBDA_EXECUTOR=local`, and the fallback when the Docker Engine cannot be reached). Python
//! functions run under Skyport's own runtime interface client (`bootstrap.py`, same Runtime API as
//! AWS's awslambdaric) with the host's `python3`; `provided.*` functions run their own `bootstrap`.
//!
//! A host process keeps the host's resolver, so real AWS names cannot be pointed at Skyport here:
//! the engine sets `AWS_ENDPOINT_URL` (and the CA variables) for these functions instead.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use crate::code;
use crate::executor::{
    EnvSpec, Executor, Instance, MemoryGauge, NotReady, Reach, StartError, Stop,
};
use crate::runtimes::{self, Family};

const PYTHON_BOOTSTRAP: &str = include_str!("bootstrap.py");

/// The local executor.
#[derive(Debug, Clone)]
pub struct LocalExecutor {
    /// Where environments unpack their code.
    work_dir: PathBuf,
    /// The gateway as host processes reach it (`http://127.0.0.1:4566`), for `AWS_ENDPOINT_URL`.
    endpoint: String,
    /// A file with the system roots and Skyport's CA, for the TLS variables.
    ca_bundle: Option<LazyFile>,
}

/// A file written on first use, so a start without local functions does not pay for it (the CA bundle
/// reads the system's roots: about a millisecond, and most of a start's own work).
#[derive(Clone)]
pub struct LazyFile(Arc<LazyFileInner>);

struct LazyFileInner {
    path: OnceLock<Option<PathBuf>>,
    make: Box<dyn Fn() -> Option<PathBuf> + Send + Sync>,
}

impl LazyFile {
    /// A file `make` writes (returning its path, or `None` when it could not) the first time it is asked for.
    pub fn new(make: impl Fn() -> Option<PathBuf> + Send + Sync + 'static) -> LazyFile {
        LazyFile(Arc::new(LazyFileInner {
            path: OnceLock::new(),
            make: Box::new(make),
        }))
    }

    /// The file's path, writing it first if this is the first call.
    pub fn get(&self) -> Option<&Path> {
        self.0.path.get_or_init(|| (self.0.make)()).as_deref()
    }
}

impl std::fmt::Debug for LazyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LazyFile").field(&self.0.path.get()).finish()
    }
}

impl LocalExecutor {
    /// Runs environments under `work_dir` (a scratch directory); functions reach Skyport at `endpoint`.
    pub fn new(work_dir: PathBuf, endpoint: String, ca_bundle: Option<LazyFile>) -> LocalExecutor {
        LocalExecutor {
            work_dir,
            endpoint,
            ca_bundle,
        }
    }
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The variables that make a runtime find what layers put in `opt` (AWS's layer paths per runtime:
/// `python` and `python/lib/<runtime>/site-packages`, `nodejs/node_modules`, `bin`, `lib`).
fn layer_env(opt: &std::path::Path, runtime: &str) -> Vec<(&'static str, std::ffi::OsString)> {
    let join = |dirs: Vec<PathBuf>, existing: Option<std::ffi::OsString>| {
        let mut all = dirs;
        if let Some(existing) = existing {
            all.extend(std::env::split_paths(&existing));
        }
        std::env::join_paths(all).unwrap_or_default()
    };
    vec![
        (
            "PYTHONPATH",
            join(
                vec![
                    opt.join("python"),
                    opt.join("python/lib").join(runtime).join("site-packages"),
                ],
                None,
            ),
        ),
        (
            "NODE_PATH",
            join(vec![opt.join("nodejs/node_modules")], None),
        ),
        (
            "PATH",
            join(vec![opt.join("bin")], std::env::var_os("PATH")),
        ),
        ("LD_LIBRARY_PATH", join(vec![opt.join("lib")], None)),
    ]
}

struct Process {
    child: Mutex<Option<Child>>,
    dir: PathBuf,
}

#[async_trait::async_trait]
impl Stop for Process {
    async fn stop(&self) {
        let child = self.child.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut child) = child {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        let dir = self.dir.clone();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
    }
}

#[async_trait::async_trait]
impl Executor for LocalExecutor {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn prepare(&self, spec: &EnvSpec) -> Result<(), NotReady> {
        let Some(runtime) = spec.runtime.as_deref() else {
            return Err((
                "InvalidImage".to_owned(),
                "The local executor cannot run container images; start Skyport with Docker"
                    .to_owned(),
            ));
        };
        match runtimes::find(runtime).map(|r| r.family) {
            Some(Family::Python) if which("python3").is_none() => Err((
                "InvalidRuntime".to_owned(),
                "python3 is not installed on this host (the local executor runs the host's python3)".to_owned(),
            )),
            Some(Family::Python | Family::Provided) => Ok(()),
            _ => Err((
                "InvalidRuntime".to_owned(),
                format!("The local executor cannot run {runtime}; start Skyport with Docker"),
            )),
        }
    }

    async fn reach(&self) -> Result<Reach, StartError> {
        Ok(Reach {
            bind: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            host: "127.0.0.1".to_owned(),
        })
    }

    async fn start(&self, spec: &EnvSpec) -> Result<Instance, StartError> {
        let dir = self.work_dir.join(&spec.id);
        let task = match &spec.code.hot_reload {
            Some(path) => PathBuf::from(path),
            None => {
                let zip = spec
                    .code_path
                    .clone()
                    .ok_or_else(|| StartError::Failed("the function has no code".to_owned()))?;
                let target = dir.join("task");
                tokio::task::spawn_blocking(move || code::unpack_file(&zip, &target))
                    .await
                    .map_err(|e| StartError::Failed(e.to_string()))?
                    .map_err(StartError::Failed)?;
                dir.join("task")
            }
        };
        // Layers, in order, into the environment's own `opt` (a host process cannot use /opt).
        let opt = dir.join("opt");
        if !spec.layer_paths.is_empty() {
            let layers = spec.layer_paths.clone();
            let target = opt.clone();
            tokio::task::spawn_blocking(move || -> Result<(), String> {
                layers
                    .iter()
                    .try_for_each(|path| code::unpack_file(path, &target))
            })
            .await
            .map_err(|e| StartError::Failed(e.to_string()))?
            .map_err(StartError::Failed)?;
        }
        let runtime = spec.runtime.clone().unwrap_or_default();
        let family = runtimes::find(&runtime).map(|r| r.family);
        let mut command = match family {
            Some(Family::Python) => {
                let script = dir.join("bootstrap.py");
                tokio::fs::create_dir_all(&dir)
                    .await
                    .map_err(|e| StartError::Failed(e.to_string()))?;
                tokio::fs::write(&script, PYTHON_BOOTSTRAP)
                    .await
                    .map_err(|e| StartError::Failed(e.to_string()))?;
                let mut c = Command::new("python3");
                c.arg("-u").arg(&script);
                c
            }
            Some(Family::Provided) => {
                // A function without its own bootstrap runs the one a layer provides, as on AWS.
                let own = task.join("bootstrap");
                if !own.exists() && opt.join("bootstrap").exists() {
                    Command::new(opt.join("bootstrap"))
                } else {
                    Command::new(own)
                }
            }
            _ => {
                return Err(StartError::Unavailable(format!(
                    "the local executor cannot run {runtime}"
                )));
            }
        };
        command
            .current_dir(&task)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for key in ["PATH", "HOME", "LANG", "SSL_CERT_DIR"] {
            if let Some(v) = std::env::var_os(key) {
                command.env(key, v);
            }
        }
        for (k, v) in &spec.env {
            command.env(k, v);
        }
        command.env("LAMBDA_TASK_ROOT", &task);
        if !spec.layer_paths.is_empty() {
            for (var, value) in layer_env(&opt, &runtime) {
                command.env(var, value);
            }
        }
        // A host process keeps the host's resolver: the SDKs are pointed at Skyport instead.
        command.env("AWS_ENDPOINT_URL", &self.endpoint);
        if let Some(bundle) = self.ca_bundle.as_ref().and_then(LazyFile::get) {
            for var in [
                "AWS_CA_BUNDLE",
                "SSL_CERT_FILE",
                "REQUESTS_CA_BUNDLE",
                "NODE_EXTRA_CA_CERTS",
            ] {
                command.env(var, bundle);
            }
        }
        let mut child = command
            .spawn()
            .map_err(|e| StartError::Failed(format!("cannot start the {runtime} runtime: {e}")))?;
        let (lines_tx, lines) = mpsc::channel(1024);
        if let Some(out) = child.stdout.take() {
            let tx = lines_tx.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(out).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if tx.send(line).await.is_err() {
                        break;
                    }
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            let tx = lines_tx;
            tokio::spawn(async move {
                let mut reader = BufReader::new(err).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if tx.send(line).await.is_err() {
                        break;
                    }
                }
            });
        }
        let pid = child.id();
        let process = std::sync::Arc::new(Process {
            child: Mutex::new(Some(child)),
            dir,
        });
        let (exit_tx, exited) = oneshot::channel();
        let watcher = process.clone();
        let limit_kb = u64::from(spec.memory_mb) * 1024;
        tokio::spawn(async move {
            // Poll the child without holding it: `stop` may take it to kill it. Every 100 ms its
            // resident memory is checked against the function's MemorySize, which a container's
            // cgroup enforces: above it the process is killed, as the kernel's OOM killer would.
            let mut tick = 0u32;
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                tick = tick.wrapping_add(1);
                let over = tick.is_multiple_of(5)
                    && pid
                        .and_then(|pid| proc_status_kb(pid, "VmRSS:"))
                        .is_some_and(|rss| rss > limit_kb);
                let status = {
                    let mut guard = watcher.child.lock().unwrap_or_else(|p| p.into_inner());
                    match guard.as_mut() {
                        Some(c) => {
                            if over {
                                tracing::info!(
                                    ?pid,
                                    "lambda: the function's process went over its memory size; killed"
                                );
                                let _ = c.start_kill();
                            }
                            c.try_wait()
                        }
                        None => return,
                    }
                };
                match status {
                    Ok(Some(status)) => {
                        let how = match status.code() {
                            Some(code) => format!("exit status {code}"),
                            None => "signal: killed".to_owned(),
                        };
                        let _ = exit_tx.send(how);
                        return;
                    }
                    Ok(None) => {}
                    Err(_) => return,
                }
            }
        });
        tracing::debug!(env = %spec.id, ?pid, "lambda: local environment started");
        Ok(Instance {
            lines,
            exited,
            stopper: Box::new(ArcStop(process)),
            memory: Box::new(PeakRss(pid)),
        })
    }
}

struct ArcStop(std::sync::Arc<Process>);

#[async_trait::async_trait]
impl Stop for ArcStop {
    async fn stop(&self) {
        self.0.stop().await;
    }
}

/// A field of `/proc/<pid>/status` given in kB (`VmRSS:`, `VmHWM:`), on Linux.
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
}

/// The runtime process's peak resident memory (`VmHWM`).
struct PeakRss(Option<u32>);

#[async_trait::async_trait]
impl MemoryGauge for PeakRss {
    async fn peak_bytes(&self) -> Option<u64> {
        self.0
            .and_then(|pid| proc_status_kb(pid, "VmHWM:"))
            .map(|kb| kb * 1024)
    }
}

//! Skyport in a container, driven from the host through the Docker Engine API (bollard, unix socket
//! only): `skyport start --docker [-d]`, `skyport stop`, `skyport logs [-f]` and the container half of
//! `skyport status`. The container gets what the drop-in compose file gives it: the name
//! `${LOCALSTACK_DOCKER_NAME:-localstack-main}`, ports 4566, 443 and the external range published on
//! 127.0.0.1 (and the DNS port with `--host-dns`), the state volume, the Docker socket, and the Skyport
//! settings of this shell. Ctrl-C or SIGTERM before the container is ready removes the container again.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, HostConfig,
    PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use clap::Args;
use futures_util::StreamExt;

use crate::cli::StartArgs;
use crate::config::{Config, ConfigError, EnvSource, KNOWN_VARS, Layered, ProcessEnv};
use crate::pitfalls;

/// The image when neither `--image` nor `SKYPORT_IMAGE` names one (see docs/docker.md, Tags).
pub const DEFAULT_IMAGE: &str = "skyport/skyport:latest";
/// The container name when neither `--name` nor `LOCALSTACK_DOCKER_NAME` names one (LocalStack's).
pub const DEFAULT_NAME: &str = "localstack-main";
/// The label on containers `skyport start --docker` creates; `skyport stop` removes only those.
const LABEL: &str = "dev.skyport.cli";
/// The state directory inside the image.
const CONTAINER_STATE_DIR: &str = "/var/lib/localstack";
/// What the image listens on (`GATEWAY_LISTEN` in compose/Dockerfile.local).
const IMAGE_GATEWAY_LISTEN: &str = ":4566,:443";

/// Settings read here and never passed into the container: host paths, the CLI's own settings, and the
/// ignored tokens.
const NOT_PASSED: &[&str] = &[
    "SKYPORT_STATE_DIR",
    "SKYPORT_INIT_DIR",
    "OVERRIDE_IN_DOCKER",
    "CUSTOM_SSL_CERT_PATH",
    "LOCALSTACK_AUTH_TOKEN",
    "LOCALSTACK_API_KEY",
    "SKYPORT_IMAGE",
    "LOCALSTACK_DOCKER_NAME",
    "LOCALSTACK_VOLUME_DIR",
    "SKYPORT_DOCKER_GATEWAY_PORT",
    "SKYPORT_DOCKER_HTTPS_PORT",
    "SKYPORT_DOCKER_DNS_PORT",
];

/// The flags of `skyport start` (and `config validate`) for running Skyport in a container.
#[derive(Debug, Args, Default)]
pub struct DockerArgs {
    /// Run Skyport in a Docker container instead of in this process.
    #[arg(long)]
    pub docker: bool,
    /// With --docker: return once Skyport is ready instead of following its logs.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// With --docker: the image (SKYPORT_IMAGE; default skyport/skyport:latest).
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// With --docker: the container name (LOCALSTACK_DOCKER_NAME; default localstack-main).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// With --docker: the host port for the gateway's 4566 on 127.0.0.1 (SKYPORT_DOCKER_GATEWAY_PORT;
    /// default 4566; 0 lets Docker pick).
    #[arg(long, value_name = "PORT")]
    pub gateway_port: Option<u16>,
    /// With --docker: the host port for 443 on 127.0.0.1 (SKYPORT_DOCKER_HTTPS_PORT; default 443; 0 lets
    /// Docker pick; off publishes none).
    #[arg(long, value_name = "PORT|off")]
    pub https_port: Option<String>,
    /// With --docker: publish the DNS server (UDP and TCP) on 127.0.0.1:53, as LocalStack's
    /// `localstack start --host-dns` does.
    #[arg(long)]
    pub host_dns: bool,
    /// With --docker: publish the DNS server (UDP and TCP) on this port of 127.0.0.1 instead
    /// (SKYPORT_DOCKER_DNS_PORT; implies --host-dns; off publishes none).
    #[arg(long, value_name = "PORT|off")]
    pub host_dns_port: Option<String>,
    /// With --docker: do not publish the external service port range.
    #[arg(long)]
    pub no_port_range: bool,
    /// With --docker: never pull; fail when the image is not present locally.
    #[arg(long)]
    pub no_pull: bool,
    /// With --docker: seconds to wait for `Ready.`.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub ready_timeout: f64,
    /// The compose file to check (default ./docker-compose.yml when present).
    #[arg(long, value_name = "FILE")]
    pub compose_file: Option<PathBuf>,
}

/// Why the container cannot be started (or found).
#[derive(Debug, thiserror::Error)]
pub enum DockerCmdError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `DOCKER_HOST` is not a unix socket.
    #[error(
        "DOCKER_HOST={0} is not supported: skyport talks to Docker over a unix socket only (DOCKER_HOST=unix:///path)"
    )]
    NotUnix(String),
    /// The Docker daemon does not answer.
    #[error(
        "cannot reach Docker at {socket}: {source} (is the daemon running, and may this user use its socket?)"
    )]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// What failed.
        source: bollard::errors::Error,
    },
    /// The host port for the gateway is taken.
    #[error(
        "host port 127.0.0.1:{0} is already in use (another Skyport or LocalStack? see `docker ps`); stop it, \
         or choose another with --gateway-port / SKYPORT_DOCKER_GATEWAY_PORT (0 lets Docker pick)"
    )]
    GatewayPortInUse(u16),
    /// A port setting is not a port.
    #[error("invalid {var}={value:?}: {expected}")]
    BadPort {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// The state volume directory cannot be created.
    #[error("cannot create the volume directory {dir}: {source}")]
    VolumeDir {
        /// The directory.
        dir: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A container with that name runs already.
    #[error(
        "a container named {name} is already running (image {image}); stop it with `skyport stop` (or \
         `docker stop {name}`), or choose another name with --name / LOCALSTACK_DOCKER_NAME"
    )]
    AlreadyRunning {
        /// The name.
        name: String,
        /// Its image.
        image: String,
    },
    /// The image is missing and was not pulled.
    #[error(
        "the image {image} is not present locally and {why}. Build the local image with \
         `compose/build-local.sh` and pass `--image skyport/skyport:local` (or SKYPORT_IMAGE), or pull it \
         with `docker pull {image}` when a registry is reachable"
    )]
    ImageMissing {
        /// The image.
        image: String,
        /// Why it was not pulled.
        why: String,
    },
    /// No container with that name exists.
    #[error(
        "no container named {0} (start one with `skyport start --docker`, or name it with --name / LOCALSTACK_DOCKER_NAME)"
    )]
    NoContainer(String),
    /// The container stopped before it was ready.
    #[error("the container {name} exited before Skyport was ready ({state}); its log:\n{log}")]
    Exited {
        /// The name.
        name: String,
        /// Its state.
        state: String,
        /// Its log.
        log: String,
    },
    /// Ctrl-C or SIGTERM arrived before Skyport was ready.
    #[error("interrupted before Skyport was ready; {0}")]
    Interrupted(String),
    /// Skyport did not log `Ready.` in time.
    #[error(
        "Skyport in {name} was not ready after {secs:.0}s; see `skyport logs --name {name}` (it keeps running)"
    )]
    NotReady {
        /// The name.
        name: String,
        /// The timeout.
        secs: f64,
    },
    /// The signal handlers cannot be installed.
    #[error("cannot listen for Ctrl-C: {0}")]
    Signals(String),
    /// A Docker API call failed.
    #[error("Docker: {what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// What failed.
        source: bollard::errors::Error,
    },
}

fn api(what: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> DockerCmdError {
    let what = what.into();
    move |source| DockerCmdError::Api { what, source }
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

/// The container name: the flag, else `LOCALSTACK_DOCKER_NAME`, else `localstack-main`.
pub fn container_name(flag: Option<&str>) -> String {
    flag.map(str::to_owned)
        .or_else(|| ProcessEnv.var("LOCALSTACK_DOCKER_NAME"))
        .unwrap_or_else(|| DEFAULT_NAME.to_owned())
}

/// The settings the container gets, read like the host's; `keys` lists every variable of this shell,
/// so typos of setting names are still found.
struct Passed {
    vars: BTreeMap<String, String>,
    keys: Vec<String>,
}

impl EnvSource for Passed {
    fn var(&self, key: &str) -> Option<String> {
        self.vars.var(key)
    }
    fn keys(&self) -> Vec<String> {
        self.keys.clone()
    }
}

/// Everything `start --docker` will create, worked out before Docker is asked anything.
#[derive(Debug)]
pub struct Plan {
    /// Container name.
    pub name: String,
    /// Image.
    pub image: String,
    /// Host directory mounted at /var/lib/localstack.
    pub volume_dir: PathBuf,
    /// The Docker socket (mounted at /var/run/docker.sock, and how this CLI talks to Docker).
    pub socket: PathBuf,
    /// Host port for 4566 on 127.0.0.1 (0: Docker picks).
    pub gateway_port: u16,
    /// Host port for 443 on 127.0.0.1, if published.
    pub https_port: Option<u16>,
    /// The DNS server's port, if published: (host port on 127.0.0.1, the container's port), UDP and TCP.
    pub dns_port: Option<(u16, u16)>,
    /// The external service port range, if published (same ports on the host).
    pub port_range: Option<(u16, u16)>,
    /// Variables passed into the container.
    pub env: BTreeMap<String, String>,
    /// The configuration as the container will see it.
    pub config: Config,
    /// Findings, each with its fix.
    pub warnings: Vec<String>,
}

fn port_setting(
    flag: Option<String>,
    var: &'static str,
    default: u16,
    allow_off: bool,
) -> Result<Option<u16>, DockerCmdError> {
    let Some(value) = flag.or_else(|| ProcessEnv.var(var)) else {
        return Ok(Some(default));
    };
    let value = value.trim().to_owned();
    if allow_off && value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    value
        .parse::<u16>()
        .map(Some)
        .map_err(|_| DockerCmdError::BadPort {
            var,
            value,
            expected: if allow_off {
                "a port number, 0 (Docker picks) or off"
            } else {
                "a port number, or 0 (Docker picks)"
            },
        })
}

fn default_volume_dir() -> PathBuf {
    let env = ProcessEnv;
    if let Some(cache) = env.var("XDG_CACHE_HOME") {
        return PathBuf::from(cache).join("skyport/volume");
    }
    match env.var("HOME") {
        Some(home) => PathBuf::from(home).join(".cache/skyport/volume"),
        None => PathBuf::from("volume"),
    }
}

/// Works out the container from the flags and this shell's environment; checks the host's ports.
pub fn plan(settings: &StartArgs, args: &DockerArgs) -> Result<Plan, DockerCmdError> {
    let flags = settings.overrides();
    let source = Layered {
        flags: &flags,
        env: &ProcessEnv,
    };
    let mut env = BTreeMap::new();
    for (key, _) in KNOWN_VARS {
        if NOT_PASSED.contains(key) {
            continue;
        }
        if let Some(value) = source.var(key) {
            env.insert((*key).to_owned(), value);
        }
    }
    let name = container_name(args.name.as_deref());
    env.insert("MAIN_CONTAINER_NAME".to_owned(), name.clone());
    let mut view = env.clone();
    view.entry("GATEWAY_LISTEN".to_owned())
        .or_insert_with(|| IMAGE_GATEWAY_LISTEN.to_owned());
    view.entry("SKYPORT_STATE_DIR".to_owned())
        .or_insert_with(|| CONTAINER_STATE_DIR.to_owned());
    let config = Config::load(
        &Passed {
            vars: view,
            keys: source.keys(),
        },
        true,
    )?;
    let mut warnings = config.warnings.clone();
    for (key, what) in [
        (
            "SKYPORT_STATE_DIR",
            "the container keeps its state in LOCALSTACK_VOLUME_DIR",
        ),
        (
            "CUSTOM_SSL_CERT_PATH",
            "mount the file into the container yourself (docker run -v) and set the variable there",
        ),
        (
            "SKYPORT_INIT_DIR",
            "mount it at /etc/localstack/init (docker run -v DIR:/etc/localstack/init) and use the \
             `-tools` image, which runs the hooks",
        ),
    ] {
        if source.var(key).is_some() {
            warnings.push(format!(
                "{key} names a path on this host and is not passed into the container: {what}."
            ));
        }
    }
    if config.gateway_listen.iter().all(|a| a.port() != 4566) {
        warnings.push(
            "GATEWAY_LISTEN has no port 4566, but `start --docker` publishes the container's 4566: the gateway \
             is unreachable from the host. Unset GATEWAY_LISTEN (the image listens on :4566,:443)."
                .to_owned(),
        );
    }

    let socket = pitfalls::docker_socket().map_err(DockerCmdError::NotUnix)?;
    let image = args
        .image
        .clone()
        .or_else(|| ProcessEnv.var("SKYPORT_IMAGE"))
        .unwrap_or_else(|| DEFAULT_IMAGE.to_owned());
    let mut volume_dir = ProcessEnv
        .var("LOCALSTACK_VOLUME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(default_volume_dir);
    if volume_dir.is_relative() {
        if let Ok(cwd) = std::env::current_dir() {
            volume_dir = cwd.join(volume_dir);
        }
    }

    let local = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let gateway_port = port_setting(
        args.gateway_port.map(|p| p.to_string()),
        "SKYPORT_DOCKER_GATEWAY_PORT",
        4566,
        false,
    )?
    .unwrap_or(4566);
    if gateway_port != 0 && pitfalls::tcp_in_use(local(gateway_port)) {
        return Err(DockerCmdError::GatewayPortInUse(gateway_port));
    }
    let mut https_port = port_setting(
        args.https_port.clone(),
        "SKYPORT_DOCKER_HTTPS_PORT",
        443,
        true,
    )?;
    if let Some(p) = https_port.filter(|p| *p != 0 && pitfalls::tcp_in_use(local(*p))) {
        warnings.push(format!(
            "host port 127.0.0.1:{p} is already in use, so the container's 443 is not published: HTTPS still \
             works on the gateway port. Free it, or choose another with --https-port / SKYPORT_DOCKER_HTTPS_PORT \
             (off to skip this warning)."
        ));
        https_port = None;
    }
    let dns_port = dns_publish(args, &config, &mut warnings)?;
    let (start, end) = config.external_ports;
    let port_range = if args.no_port_range {
        None
    } else if let Some(p) = (start..=end).find(|p| pitfalls::tcp_in_use(local(*p))) {
        warnings.push(format!(
            "host port 127.0.0.1:{p} in the external service range {start}-{end} is already in use, so the \
             range is not published. Free it, move the range (EXTERNAL_SERVICE_PORTS_START/_END), or pass \
             --no-port-range."
        ));
        None
    } else {
        Some((start, end))
    };
    Ok(Plan {
        name,
        image,
        volume_dir,
        socket,
        gateway_port,
        https_port,
        dns_port,
        port_range,
        env,
        config,
        warnings,
    })
}

/// The DNS publish of `--host-dns` / `--host-dns-port` / `SKYPORT_DOCKER_DNS_PORT`: (host port, container
/// port), or `None` when not asked for or not possible (then with a warning).
fn dns_publish(
    args: &DockerArgs,
    config: &Config,
    warnings: &mut Vec<String>,
) -> Result<Option<(u16, u16)>, DockerCmdError> {
    const VAR: &str = "SKYPORT_DOCKER_DNS_PORT";
    let value = args
        .host_dns_port
        .clone()
        .or_else(|| ProcessEnv.var(VAR))
        .map(|v| v.trim().to_owned());
    let host = match value {
        None if args.host_dns => 53,
        None => return Ok(None),
        Some(v) if v.eq_ignore_ascii_case("off") => return Ok(None),
        // 0 is refused: Docker would pick two different ports for UDP and TCP.
        Some(v) => match v.parse::<u16>() {
            Ok(p) if p != 0 => p,
            _ => {
                return Err(DockerCmdError::BadPort {
                    var: VAR,
                    value: v,
                    expected: "a port number 1-65535 (the same one for UDP and TCP), or off",
                });
            }
        },
    };
    if config.dns.address.is_none() || config.dns.port == 0 {
        warnings.push(format!(
            "--host-dns asks for the DNS port, but the DNS server in the container is off (DNS_ADDRESS=0) or on \
             a random port (DNS_PORT=0), so 127.0.0.1:{host} is not published. Unset DNS_ADDRESS/DNS_PORT."
        ));
        return Ok(None);
    }
    if config.dns.address.is_some_and(|a| a.is_loopback()) {
        warnings.push(format!(
            "DNS_ADDRESS is a loopback address, so the DNS server in the container cannot be reached through \
             the published 127.0.0.1:{host}. Unset DNS_ADDRESS (a container listens on 0.0.0.0)."
        ));
    }
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], host));
    if pitfalls::udp_in_use(addr) || pitfalls::tcp_in_use(addr) {
        warnings.push(format!(
            "host port 127.0.0.1:{host} is already in use (systemd-resolved, dnsmasq, another Skyport?), so the \
             container's DNS is not published. Free it, or choose another with --host-dns-port / {VAR} (e.g. 5353)."
        ));
        return Ok(None);
    }
    Ok(Some((host, config.dns.port)))
}

impl Plan {
    /// The container's configuration for the Docker API.
    fn create_body(&self) -> ContainerCreateBody {
        let bind = |port: u16| {
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".to_owned()),
                host_port: Some(if port == 0 {
                    String::new()
                } else {
                    port.to_string()
                }),
            }])
        };
        let mut ports: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        ports.insert("4566/tcp".to_owned(), bind(self.gateway_port));
        if let Some(p) = self.https_port {
            ports.insert("443/tcp".to_owned(), bind(p));
        }
        if let Some((host, container)) = self.dns_port {
            for proto in ["udp", "tcp"] {
                ports.insert(format!("{container}/{proto}"), bind(host));
            }
        }
        if let Some((start, end)) = self.port_range {
            for p in start..=end {
                ports.insert(format!("{p}/tcp"), bind(p));
            }
        }
        ContainerCreateBody {
            image: Some(self.image.clone()),
            env: Some(self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            exposed_ports: Some(ports.keys().cloned().collect()),
            labels: Some(HashMap::from([(LABEL.to_owned(), "start".to_owned())])),
            host_config: Some(HostConfig {
                port_bindings: Some(ports),
                binds: Some(vec![
                    format!("{}:{CONTAINER_STATE_DIR}", self.volume_dir.display()),
                    format!("{}:/var/run/docker.sock", self.socket.display()),
                ]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// Connects to the daemon on `socket` at the API version both sides speak.
async fn connect(socket: &Path) -> Result<Docker, DockerCmdError> {
    let err = |source| DockerCmdError::Connect {
        socket: socket.to_owned(),
        source,
    };
    let path = socket.to_string_lossy();
    let docker =
        Docker::connect_with_unix(&path, 120, bollard::API_DEFAULT_VERSION).map_err(err)?;
    docker.negotiate_version().await.map_err(err)
}

async fn connect_default() -> Result<Docker, DockerCmdError> {
    let socket = pitfalls::docker_socket().map_err(DockerCmdError::NotUnix)?;
    connect(&socket).await
}

async fn inspect(
    docker: &Docker,
    name: &str,
) -> Result<Option<ContainerInspectResponse>, DockerCmdError> {
    match docker.inspect_container(name, None).await {
        Ok(c) => Ok(Some(c)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(api(format!("inspecting {name}"))(e)),
    }
}

fn is_running(c: &ContainerInspectResponse) -> bool {
    c.state.as_ref().and_then(|s| s.running).unwrap_or(false)
}

/// `running`, `exited (code 1)`, with the Docker health status when the image has a health check.
fn describe_state(c: &ContainerInspectResponse) -> String {
    let Some(state) = &c.state else {
        return "unknown".to_owned();
    };
    let status = state
        .status
        .map_or_else(|| "unknown".to_owned(), |s| s.to_string());
    let mut out = status;
    if matches!(state.status, Some(ContainerStateStatusEnum::EXITED)) {
        out.push_str(&format!(" (code {})", state.exit_code.unwrap_or(0)));
    }
    if let Some(health) = state.health.as_ref().and_then(|h| h.status) {
        out.push_str(&format!(", health: {health}"));
    }
    out
}

/// The host port Docker published the container's `port/tcp` on.
fn published_port(c: &ContainerInspectResponse, port: u16) -> Option<u16> {
    c.network_settings
        .as_ref()?
        .ports
        .as_ref()?
        .get(&format!("{port}/tcp"))?
        .as_ref()?
        .iter()
        .find_map(|b| b.host_port.as_deref()?.parse().ok())
}

/// Makes sure the image is present: inspects it, and pulls it with a progress display when missing.
async fn ensure_image(docker: &Docker, image: &str, pull: bool) -> Result<(), DockerCmdError> {
    match docker.inspect_image(image).await {
        Ok(_) => return Ok(()),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(api(format!("inspecting the image {image}"))(e)),
    }
    if !pull {
        return Err(DockerCmdError::ImageMissing {
            image: image.to_owned(),
            why: "--no-pull forbids pulling it".to_owned(),
        });
    }
    eprintln!("Pulling {image} ...");
    let options = CreateImageOptionsBuilder::default()
        .from_image(image)
        .build();
    let mut stream = docker.create_image(Some(options), None, None);
    let mut layers: BTreeMap<String, String> = BTreeMap::new();
    let mut stderr = std::io::stderr();
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                let status = info.status.unwrap_or_default();
                let line = match (&info.id, info.progress_detail) {
                    (Some(id), Some(p)) if p.total.unwrap_or(0) > 0 => {
                        let (cur, total) = (p.current.unwrap_or(0), p.total.unwrap_or(1));
                        format!(
                            "{id}: {status} {:.1}/{:.1} MB ({}%)",
                            cur as f64 / 1e6,
                            total as f64 / 1e6,
                            cur * 100 / total.max(1)
                        )
                    }
                    (Some(id), _) => format!("{id}: {status}"),
                    (None, _) => status,
                };
                // One line per change, not per progress tick.
                let key = info.id.unwrap_or_default();
                if layers.get(&key) != Some(&line) {
                    let _ = writeln!(stderr, "  {line}");
                    layers.insert(key, line);
                }
            }
            Err(e) => {
                let why = match e {
                    bollard::errors::Error::DockerStreamError { error } => error,
                    bollard::errors::Error::DockerResponseServerError { message, .. } => message,
                    other => other.to_string(),
                };
                return Err(DockerCmdError::ImageMissing {
                    image: image.to_owned(),
                    why: format!("pulling it failed: {why}"),
                });
            }
        }
    }
    // A pull that "succeeds" without the image (should not happen) is still a missing image.
    docker
        .inspect_image(image)
        .await
        .map(|_| ())
        .map_err(|e| DockerCmdError::ImageMissing {
            image: image.to_owned(),
            why: format!("it is still missing after the pull ({e})"),
        })
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("skyport: cannot start the async runtime: {e}");
            None
        }
    }
}

fn print_warnings(warnings: &[String]) {
    for w in warnings {
        eprintln!("Warning: {w}");
    }
}

/// `skyport start --docker [-d]`.
pub fn start(settings: &StartArgs, args: &DockerArgs) -> ExitCode {
    let plan = match plan(settings, args) {
        Ok(p) => p,
        Err(e @ DockerCmdError::Config(_)) => {
            eprintln!("skyport: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("skyport: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut warnings = plan.warnings.clone();
    warnings.extend(pitfalls::check(
        &plan.config,
        &pitfalls::Context {
            compose_file: pitfalls::compose_file(args.compose_file.as_deref()),
            docker_mode: true,
            check_ports: false,
        },
    ));
    print_warnings(&warnings);
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let timeout = Duration::from_secs_f64(args.ready_timeout.clamp(0.0, 86_400.0));
    match rt.block_on(run_container(&plan, args, timeout)) {
        Ok(code) => code,
        Err(e @ DockerCmdError::Interrupted(_)) => {
            eprintln!("skyport: {e}");
            // The shell's convention for a command ended by SIGINT.
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("skyport: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_container(
    plan: &Plan,
    args: &DockerArgs,
    timeout: Duration,
) -> Result<ExitCode, DockerCmdError> {
    // Registered before anything is created: a Ctrl-C or SIGTERM from here on removes what this command
    // created instead of killing it with the container left behind.
    let mut signals = Signals::new().map_err(|e| DockerCmdError::Signals(e.to_string()))?;
    let docker = connect(&plan.socket).await?;
    let name = plan.name.as_str();
    let creating = AtomicBool::new(false);
    let started = tokio::select! {
        r = create_until_ready(&docker, plan, args, timeout, &creating) => r?,
        () = signals.recv() => {
            let what = if creating.load(Ordering::SeqCst) {
                remove_created(&docker, name).await
            } else {
                "nothing was created".to_owned()
            };
            return Err(DockerCmdError::Interrupted(what));
        }
    };
    let (logs, elapsed) = started;
    let container = inspect(&docker, name)
        .await?
        .ok_or_else(|| DockerCmdError::NoContainer(name.to_owned()))?;
    let gateway = published_port(&container, 4566).unwrap_or(plan.gateway_port);
    let endpoint = format!("http://127.0.0.1:{gateway}");
    // The log says ready; the health endpoint through the published port proves the path from here.
    let healthy = wait_health(&endpoint, Duration::from_secs(5)).await;
    print_endpoints(plan, &container, gateway, elapsed, healthy);
    if args.detach {
        Ok(ExitCode::SUCCESS)
    } else {
        follow_until_signal(&docker, name, logs, signals).await
    }
}

/// The container's log as a stream.
type LogStream = std::pin::Pin<
    Box<
        dyn futures_util::Stream<
                Item = Result<bollard::container::LogOutput, bollard::errors::Error>,
            > + Send,
    >,
>;

/// Removes the container this command created (it is not ready, so there is nothing to drain: the
/// removal kills it); says what happened.
async fn remove_created(docker: &Docker, name: &str) -> String {
    let ours = inspect(docker, name).await.ok().flatten().is_some_and(|c| {
        c.config
            .as_ref()
            .and_then(|cfg| cfg.labels.as_ref())
            .is_some_and(|l| l.contains_key(LABEL))
    });
    if !ours {
        return format!("no container {name} was left");
    }
    match docker
        .remove_container(
            name,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await
    {
        Ok(()) => format!("removed the container {name}"),
        Err(e) if is_not_found(&e) => format!("no container {name} was left"),
        Err(e) => format!(
            "removing the container {name} failed ({e}); remove it with `docker rm -f {name}`"
        ),
    }
}

/// Removes a stopped container of that name, makes sure the image is there, creates and starts the
/// container and follows its log until `Ready.`. Returns the log stream (still following) and the time
/// from the create call. `creating` is set just before the create call.
async fn create_until_ready(
    docker: &Docker,
    plan: &Plan,
    args: &DockerArgs,
    timeout: Duration,
    creating: &AtomicBool,
) -> Result<(LogStream, Duration), DockerCmdError> {
    let name = plan.name.as_str();
    if let Some(existing) = inspect(docker, name).await? {
        if is_running(&existing) {
            return Err(DockerCmdError::AlreadyRunning {
                name: name.to_owned(),
                image: existing
                    .config
                    .and_then(|c| c.image)
                    .unwrap_or_else(|| "?".to_owned()),
            });
        }
        eprintln!(
            "Removing the stopped container {name} ({})",
            describe_state(&existing)
        );
        docker
            .remove_container(
                name,
                Some(RemoveContainerOptionsBuilder::default().force(true).build()),
            )
            .await
            .map_err(api(format!("removing {name}")))?;
    }
    ensure_image(docker, &plan.image, !args.no_pull).await?;
    std::fs::create_dir_all(&plan.volume_dir).map_err(|source| DockerCmdError::VolumeDir {
        dir: plan.volume_dir.clone(),
        source,
    })?;
    let started = Instant::now();
    creating.store(true, Ordering::SeqCst);
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(name).build()),
            plan.create_body(),
        )
        .await
        .map_err(api(format!("creating {name} from {}", plan.image)))?;
    if let Err(e) = docker.start_container(name, None).await {
        // Leave nothing half-made behind (e.g. a port Docker could not publish).
        let _ = docker
            .remove_container(
                name,
                Some(RemoveContainerOptionsBuilder::default().force(true).build()),
            )
            .await;
        return Err(api(format!("starting {name}"))(e));
    }
    eprintln!(
        "Started the container {name}; waiting for Skyport to log Ready. (Ctrl-C removes it)"
    );

    let mut logs: LogStream = Box::pin(
        docker.logs(
            name,
            Some(
                LogsOptionsBuilder::default()
                    .follow(true)
                    .stdout(true)
                    .stderr(true)
                    .build(),
            ),
        ),
    );
    let mut seen = String::new();
    let ready = tokio::time::timeout(timeout, async {
        while let Some(item) = logs.next().await {
            let Ok(out) = item else { break };
            let text = out.to_string();
            if !args.detach {
                print!("{text}");
                let _ = std::io::stdout().flush();
            }
            seen.push_str(&text);
            if seen.lines().any(|l| l.trim() == "Ready.") {
                return true;
            }
        }
        false
    })
    .await;
    match ready {
        Ok(true) => Ok((logs, started.elapsed())),
        Ok(false) => {
            let state = inspect(docker, name)
                .await?
                .map_or_else(|| "removed".to_owned(), |c| describe_state(&c));
            Err(DockerCmdError::Exited {
                name: name.to_owned(),
                state,
                log: seen,
            })
        }
        Err(_) => Err(DockerCmdError::NotReady {
            name: name.to_owned(),
            secs: timeout.as_secs_f64(),
        }),
    }
}

async fn wait_health(endpoint: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let ep = endpoint.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            crate::probe::http_get(&ep, "/_skyport/health", Duration::from_millis(500))
                .is_ok_and(|(status, _)| status == 200)
        })
        .await
        .unwrap_or(false);
        if ok || Instant::now() >= deadline {
            return ok;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn print_endpoints(
    plan: &Plan,
    c: &ContainerInspectResponse,
    gateway: u16,
    elapsed: Duration,
    healthy: bool,
) {
    let host = &plan.config.localstack_host.host;
    println!(
        "Skyport is ready in container {} ({}), {:.2} s after create{}.",
        plan.name,
        plan.image,
        elapsed.as_secs_f64(),
        if healthy {
            ""
        } else {
            "; WARNING: its health endpoint does not answer through the published port"
        }
    );
    println!(
        "  gateway    http://127.0.0.1:{gateway}  (also https://; e.g. http://{host}:{gateway})"
    );
    if let Some(p) = published_port(c, 443) {
        println!("  HTTPS      https://s3.amazonaws.com:{p} and other AWS names (127.0.0.1:{p})");
    }
    if let Some((host, _)) = plan.dns_port {
        println!(
            "  DNS        127.0.0.1:{host} (UDP and TCP; e.g. dig @127.0.0.1 -p {host} s3.amazonaws.com)"
        );
    }
    if let Some((start, end)) = plan.port_range {
        println!("  services   127.0.0.1:{start}-{end}");
    }
    println!("  health     http://127.0.0.1:{gateway}/_localstack/health");
    println!("  CA         http://127.0.0.1:{gateway}/_skyport/certs/ca.pem");
    println!(
        "  volume     {} -> {CONTAINER_STATE_DIR}",
        plan.volume_dir.display()
    );
    println!(
        "  stop with  skyport stop{}",
        if plan.name == DEFAULT_NAME {
            String::new()
        } else {
            format!(" --name {}", plan.name)
        }
    );
}

/// SIGINT and SIGTERM, registered up front.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Foreground mode: prints the container's log until Ctrl-C or SIGTERM, then stops and removes it.
async fn follow_until_signal(
    docker: &Docker,
    name: &str,
    mut logs: LogStream,
    mut signals: Signals,
) -> Result<ExitCode, DockerCmdError> {
    let ended = async {
        while let Some(Ok(out)) = logs.next().await {
            print!("{out}");
            let _ = std::io::stdout().flush();
        }
    };
    tokio::select! {
        () = ended => {
            let state = inspect(docker, name)
                .await?
                .map_or_else(|| "removed".to_owned(), |c| describe_state(&c));
            eprintln!("skyport: the container {name} stopped ({state})");
            Ok(ExitCode::FAILURE)
        }
        () = signals.recv() => {
            eprintln!("Stopping {name} ...");
            stop_and_remove(docker, name).await?;
            eprintln!("Stopped and removed {name}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn stop_and_remove(docker: &Docker, name: &str) -> Result<bool, DockerCmdError> {
    let Some(c) = inspect(docker, name).await? else {
        return Err(DockerCmdError::NoContainer(name.to_owned()));
    };
    if is_running(&c) {
        docker
            .stop_container(
                name,
                Some(StopContainerOptionsBuilder::default().t(15).build()),
            )
            .await
            .map_err(api(format!("stopping {name}")))?;
    }
    let ours = c
        .config
        .as_ref()
        .and_then(|cfg| cfg.labels.as_ref())
        .is_some_and(|l| l.contains_key(LABEL));
    if ours {
        docker
            .remove_container(name, None)
            .await
            .map_err(api(format!("removing {name}")))?;
    }
    Ok(ours)
}

/// `skyport stop`: stops the container; removes it when `skyport start --docker` created it.
pub fn stop(name: Option<&str>) -> ExitCode {
    let name = container_name(name);
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let result = rt.block_on(async {
        let docker = connect_default().await?;
        stop_and_remove(&docker, &name).await
    });
    match result {
        Ok(true) => {
            println!("Stopped and removed {name}");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!(
                "Stopped {name} (not created by `skyport start --docker`, so it is left for `docker rm`)"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("skyport: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `skyport logs [-f] [--tail N]`.
pub fn logs(name: Option<&str>, follow: bool, tail: Option<&str>) -> ExitCode {
    let name = container_name(name);
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let result = rt.block_on(async {
        let docker = connect_default().await?;
        if inspect(&docker, &name).await?.is_none() {
            return Err(DockerCmdError::NoContainer(name.clone()));
        }
        let mut stream = docker.logs(
            &name,
            Some(
                LogsOptionsBuilder::default()
                    .follow(follow)
                    .stdout(true)
                    .stderr(true)
                    .tail(tail.unwrap_or("all"))
                    .build(),
            ),
        );
        let print = async {
            while let Some(item) = stream.next().await {
                match item.map_err(api(format!("reading the log of {name}")))? {
                    bollard::container::LogOutput::StdErr { message } => {
                        let _ = std::io::stderr().write_all(&message);
                    }
                    other => {
                        let mut out = std::io::stdout();
                        let _ = out.write_all(&other.into_bytes());
                        let _ = out.flush();
                    }
                }
            }
            Ok::<(), DockerCmdError>(())
        };
        tokio::select! {
            r = print => r,
            () = crate::start::signal() => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("skyport: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The container half of `skyport status`: `None` when there is no such container or no reachable
/// Docker (the caller then checks a native Skyport); otherwise the container's state line and, when it
/// runs, the endpoint of its published gateway.
pub fn container_status(name: Option<&str>) -> Option<(String, Option<String>)> {
    let name = container_name(name);
    let socket = pitfalls::docker_socket().ok()?;
    if !socket.exists() {
        return None;
    }
    let rt = runtime()?;
    rt.block_on(async {
        let docker = connect(&socket).await.ok()?;
        let c = inspect(&docker, &name).await.ok()??;
        let image = c
            .config
            .as_ref()
            .and_then(|cfg| cfg.image.clone())
            .unwrap_or_else(|| "?".to_owned());
        let line = format!("Container {name} ({image}): {}", describe_state(&c));
        let endpoint = is_running(&c)
            .then(|| published_port(&c, 4566))
            .flatten()
            .map(|p| format!("http://127.0.0.1:{p}"));
        Some((line, endpoint))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_off() {
        assert_eq!(
            port_setting(Some("0".into()), "SKYPORT_DOCKER_HTTPS_PORT", 443, true).unwrap(),
            Some(0)
        );
        assert_eq!(
            port_setting(Some("off".into()), "SKYPORT_DOCKER_HTTPS_PORT", 443, true).unwrap(),
            None
        );
        assert!(
            port_setting(
                Some("off".into()),
                "SKYPORT_DOCKER_GATEWAY_PORT",
                4566,
                false
            )
            .is_err()
        );
    }
}

//! The one `Config`: parsed in one place from environment variables (LocalStack's names where they exist,
//! `SKYPORT_*` for Skyport's own) layered under command-line flags, validated before anything binds.
//! Parsing reads from an [`EnvSource`], so tests use a map instead of the process environment.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Where configuration values come from.
pub trait EnvSource {
    /// The value of `key`, if set (empty values count as unset, as in LocalStack).
    fn var(&self, key: &str) -> Option<String>;
    /// Every key that is set (for typo detection).
    fn keys(&self) -> Vec<String>;
}

impl EnvSource for HashMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.trim().is_empty()).cloned()
    }
    fn keys(&self) -> Vec<String> {
        HashMap::keys(self).cloned().collect()
    }
}

impl EnvSource for BTreeMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.trim().is_empty()).cloned()
    }
    fn keys(&self) -> Vec<String> {
        BTreeMap::keys(self).cloned().collect()
    }
}

/// The process environment.
#[derive(Debug, Clone, Copy)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.trim().is_empty())
    }
    fn keys(&self) -> Vec<String> {
        std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .collect()
    }
}

/// Flags layered over another source: a flag wins over the variable of the same name.
pub struct Layered<'a> {
    /// Values from command-line flags, keyed by the variable they override.
    pub flags: &'a BTreeMap<String, String>,
    /// The environment below them.
    pub env: &'a dyn EnvSource,
}

impl EnvSource for Layered<'_> {
    fn var(&self, key: &str) -> Option<String> {
        self.flags.var(key).or_else(|| self.env.var(key))
    }
    fn keys(&self) -> Vec<String> {
        let mut keys = self.env.keys();
        keys.extend(self.flags.keys().cloned());
        keys
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {var}={value:?}: {expected}")]
pub struct ConfigError {
    /// The variable (or flag's variable).
    pub var: &'static str,
    /// The rejected value.
    pub value: String,
    /// What is accepted.
    pub expected: String,
}

fn invalid(var: &'static str, value: &str, expected: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        value: value.to_owned(),
        expected: expected.into(),
    }
}

/// `host:port` as written into URLs Skyport returns (`LOCALSTACK_HOST`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAndPort {
    /// The host name or address.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl std::fmt::Display for HostAndPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') && !self.host.starts_with('[') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// How SQS queue URLs are built (`SQS_ENDPOINT_STRATEGY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqsEndpointStrategy {
    /// `sqs.<region>.<host>/<account>/<name>`.
    Standard,
    /// `<region>.queue.<host>/<account>/<name>`.
    Domain,
    /// `<host>/queue/<region>/<account>/<name>`.
    Path,
    /// `<host>/<account>/<name>`.
    Off,
    /// From the request's own Host.
    Dynamic,
}

/// The embedded DNS server's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// The address to listen on; `None` when `DNS_ADDRESS=0` turns the DNS off.
    pub address: Option<IpAddr>,
    /// The port (`DNS_PORT`).
    pub port: u16,
    /// Explicit upstream resolvers (`DNS_SERVER`); empty means `/etc/resolv.conf`.
    pub upstreams: Vec<SocketAddr>,
    /// A fixed answer address (`DNS_RESOLVE_IP`); `None` means per-client.
    pub resolve_ip: Option<IpAddr>,
    /// Regexes of names always resolved upstream (`DNS_NAME_PATTERNS_TO_RESOLVE_UPSTREAM`).
    pub upstream_patterns: Vec<String>,
    /// Answer for the AWS domains too (`SKYPORT_DNS_AWS_NAMES`, default on).
    pub aws_names: bool,
    /// More listen addresses (`SKYPORT_DNS_EXTRA_LISTEN`, `IP` or `IP:PORT`; the port defaults to
    /// `DNS_PORT`), e.g. Docker bridge or other network addresses of the host.
    pub extra_listen: Vec<SocketAddr>,
}

/// Skyport's effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Running inside a container.
    pub in_container: bool,
    /// Gateway listen addresses (`GATEWAY_LISTEN`).
    pub gateway_listen: Vec<SocketAddr>,
    /// The host and port written into returned URLs (`LOCALSTACK_HOST`).
    pub localstack_host: HostAndPort,
    /// Debug logging (`DEBUG`).
    pub debug: bool,
    /// Log level override (`LS_LOG`: trace, debug, info, warn, error).
    pub log_level: Option<String>,
    /// Keep state across restarts (`PERSISTENCE`).
    pub persistence: bool,
    /// The state directory (`--state-dir`, `SKYPORT_STATE_DIR`).
    pub state_dir: PathBuf,
    /// The init hooks directory (`--init-dir`, `SKYPORT_INIT_DIR`); in a container
    /// `/etc/localstack/init` by default, natively none.
    pub init_dir: Option<PathBuf>,
    /// Only these services (`SERVICES`); `None` means all.
    pub services: Option<BTreeSet<String>>,
    /// How long in-flight requests may take to finish on shutdown (`SKYPORT_SHUTDOWN_TIMEOUT`, seconds).
    pub shutdown_timeout: Duration,
    /// How long a new connection may stay silent, and a TLS handshake may take
    /// (`SKYPORT_HANDSHAKE_TIMEOUT`, seconds).
    pub handshake_timeout: Duration,
    /// How long an HTTP/1 request head may take to arrive once it has begun (`SKYPORT_HEADER_TIMEOUT`,
    /// seconds).
    pub header_timeout: Duration,
    /// Send `x-localstack: true` (`LOCALSTACK_RESPONSE_HEADER_ENABLED`).
    pub response_header: bool,
    /// Derive accounts from real `AKIA`/`ASIA` keys (`PARITY_AWS_ACCESS_KEY_ID`).
    pub parity_access_keys: bool,
    /// Async runtime worker threads (`TOKIO_WORKER_THREADS`, else [`default_worker_threads`]).
    pub worker_threads: usize,
    /// DNS settings.
    pub dns: DnsSettings,
    /// The external service port range as first and last port, inclusive (`EXTERNAL_SERVICE_PORTS_START`,
    /// and `EXTERNAL_SERVICE_PORTS_END`, which is excluded as in LocalStack's docs).
    pub external_ports: (u16, u16),
    /// How long a TCP route in the port range may take to connect to its backend
    /// (`SKYPORT_PORTS_CONNECT_TIMEOUT`, seconds).
    pub ports_connect_timeout: Duration,
    /// How long a TCP route may carry no bytes before it is closed (`SKYPORT_PORTS_IDLE_TIMEOUT`, seconds;
    /// `None` when 0).
    pub ports_idle_timeout: Option<Duration>,
    /// A user certificate (`CUSTOM_SSL_CERT_PATH`).
    pub custom_ssl_cert_path: Option<PathBuf>,
    /// Refuse to re-create a queue within 60 s of deleting it (`SQS_DELAY_RECENTLY_DELETED`).
    pub sqs_delay_recently_deleted: bool,
    /// One `PurgeQueue` per queue every 60 s (`SQS_DELAY_PURGE_RETRY`).
    pub sqs_delay_purge_retry: bool,
    /// SQS queue URL style (`SQS_ENDPOINT_STRATEGY`).
    pub sqs_endpoint_strategy: SqsEndpointStrategy,
    /// S3 strict SigV4 checking (`SKYPORT_VERIFY_SIGV4`): the accepted keys (id → secret), or `None`.
    pub s3_sigv4_keys: Option<Vec<(String, String)>>,
    /// Verify every request's signature against the keys Skyport knows and authorize it with IAM's
    /// policies (`ENFORCE_IAM`).
    pub enforce_iam: bool,
    /// With `ENFORCE_IAM`: log denials but allow (`IAM_SOFT_MODE`).
    pub iam_soft_mode: bool,
    /// The length of an S3 lifecycle "day" (`SKYPORT_S3_LIFECYCLE_DAY_SECONDS`, seconds; 86,400 as in AWS).
    pub s3_lifecycle_day: Duration,
    /// How often S3 lifecycle rules run (`SKYPORT_S3_LIFECYCLE_INTERVAL_SECONDS`, seconds).
    pub s3_lifecycle_interval: Duration,
    /// How often S3 server access logs are delivered (`SKYPORT_S3_ACCESS_LOG_INTERVAL_SECONDS`, seconds).
    pub s3_access_log_interval: Duration,
    /// How often DynamoDB deletes expired TTL items (`SKYPORT_DYNAMODB_TTL_SWEEP_MS`, milliseconds).
    pub dynamodb_ttl_sweep: Duration,
    /// The real length of an EventBridge schedule minute (`SKYPORT_EVENTS_SCHEDULE_MINUTE_MS`,
    /// milliseconds; 60,000 as in AWS, shorter for tests).
    pub events_schedule_minute: Duration,
    /// How long one second of an SNS HTTP(S) retry policy lasts (`SKYPORT_SNS_RETRY_SECOND_MS`,
    /// milliseconds; 1000 as in AWS, tests shorten it).
    pub sns_retry_second: Duration,
    /// Lambda's settings.
    pub lambda: LambdaSettings,
    /// The web console may change resources (`SKYPORT_CONSOLE_WRITE`, default off: read-only).
    pub console_write: bool,
    /// The web console is served to every client, not only loopback and the container's networks
    /// (`SKYPORT_CONSOLE_PUBLIC`, default off).
    pub console_public: bool,
    /// Non-fatal findings, each with its fix.
    pub warnings: Vec<String>,
}

/// How Lambda runs functions (LocalStack's `LAMBDA_*` variables keep their meaning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaSettings {
    /// `LAMBDA_EXECUTOR`: `docker`, `local`, or unset (Docker when it answers, else local).
    pub executor: Option<String>,
    /// `LAMBDA_DOCKER_NETWORK`.
    pub docker_network: Option<String>,
    /// `LAMBDA_DOCKER_DNS`.
    pub docker_dns: Option<String>,
    /// `LAMBDA_DOCKER_FLAGS`.
    pub docker_flags: Option<String>,
    /// `LAMBDA_REMOVE_CONTAINERS` (default on).
    pub remove_containers: bool,
    /// `LAMBDA_RUNTIME_IMAGE_MAPPING`.
    pub image_mapping: Option<String>,
    /// `LAMBDA_KEEPALIVE_MS` (default 600000).
    pub keepalive: Duration,
    /// `HOSTNAME_FROM_LAMBDA`.
    pub hostname_from_lambda: Option<String>,
    /// `MAIN_CONTAINER_NAME`: Skyport's own container when `HOSTNAME` does not name it.
    pub main_container_name: Option<String>,
    /// `SKYPORT_LAMBDA_RETRY_BASE_MS`: the delay before the first retry of a failed asynchronous
    /// invocation (AWS: about a minute; tests shorten it).
    pub retry_base: Duration,
}

/// Every variable Skyport reads or knowingly accepts, with a one-line description (for `config validate`
/// and typo detection). Variables marked "accepted" are parsed for compatibility but change nothing yet.
pub const KNOWN_VARS: &[(&str, &str)] = &[
    (
        "ENFORCE_IAM",
        "verify every request's SigV4 signature (root test, IAM user and STS credentials) and authorize it with IAM policies",
    ),
    (
        "IAM_SOFT_MODE",
        "with ENFORCE_IAM: evaluate and log IAM decisions but allow; /_skyport/iam/denials lists what would be denied",
    ),
    (
        "SKYPORT_VERIFY_SIGV4",
        "S3 checks SigV4 signatures against SKYPORT_SIGV4_KEYS",
    ),
    (
        "SKYPORT_SIGV4_KEYS",
        "access keys for SKYPORT_VERIFY_SIGV4: id:secret, comma-separated (default test:test)",
    ),
    (
        "SKYPORT_S3_LIFECYCLE_DAY_SECONDS",
        "length of an S3 lifecycle day, seconds (default 86400; small values for tests)",
    ),
    (
        "SKYPORT_S3_LIFECYCLE_INTERVAL_SECONDS",
        "how often S3 lifecycle rules run, seconds (default 60)",
    ),
    (
        "SKYPORT_S3_ACCESS_LOG_INTERVAL_SECONDS",
        "how often S3 server access logs are delivered, seconds (default 10)",
    ),
    (
        "SKYPORT_DYNAMODB_TTL_SWEEP_MS",
        "how often DynamoDB deletes items whose TTL has passed, milliseconds (default 60000)",
    ),
    (
        "SKYPORT_EVENTS_SCHEDULE_MINUTE_MS",
        "real length of an EventBridge schedule minute, milliseconds (default 60000; test-only)",
    ),
    (
        "SKYPORT_SNS_RETRY_SECOND_MS",
        "length of one second of an SNS HTTP(S) retry policy, milliseconds (default 1000; small values for tests)",
    ),
    (
        "SKYPORT_CONSOLE_WRITE",
        "the web console at /_skyport/ may upload, delete, send, purge, invoke and write items (default 0)",
    ),
    (
        "SKYPORT_CONSOLE_PUBLIC",
        "serve the web console to every client, not only loopback and the container's networks (default 0)",
    ),
    ("GATEWAY_LISTEN", "gateway listen addresses"),
    ("LOCALSTACK_HOST", "host:port used in returned URLs"),
    (
        "SKYPORT_IMAGE",
        "image for `skyport start --docker` (and the compose file)",
    ),
    (
        "LOCALSTACK_DOCKER_NAME",
        "container name for `skyport start --docker`, stop, logs, status",
    ),
    (
        "LOCALSTACK_VOLUME_DIR",
        "host directory mounted at /var/lib/localstack by `start --docker`",
    ),
    (
        "SKYPORT_DOCKER_GATEWAY_PORT",
        "host port `start --docker` publishes 4566 on (0: Docker picks)",
    ),
    (
        "SKYPORT_DOCKER_HTTPS_PORT",
        "host port `start --docker` publishes 443 on (0: Docker picks, off: none)",
    ),
    (
        "SKYPORT_DOCKER_DNS_PORT",
        "host port `start --docker` publishes the DNS on, UDP and TCP (off: none)",
    ),
    ("DEBUG", "debug logging"),
    ("LS_LOG", "log level"),
    ("PERSISTENCE", "keep state across restarts"),
    ("SERVICES", "enabled services"),
    ("SKYPORT_STATE_DIR", "state directory"),
    (
        "SKYPORT_INIT_DIR",
        "init hooks directory (boot.d, start.d, ready.d, shutdown.d)",
    ),
    (
        "SKYPORT_SHUTDOWN_TIMEOUT",
        "graceful shutdown deadline, seconds",
    ),
    ("SKYPORT_DNS_AWS_NAMES", "answer AWS names from the DNS"),
    (
        "SKYPORT_HANDSHAKE_TIMEOUT",
        "first-byte and TLS handshake deadline, seconds",
    ),
    (
        "SKYPORT_HEADER_TIMEOUT",
        "HTTP/1 request-head deadline, seconds",
    ),
    (
        "LOCALSTACK_RESPONSE_HEADER_ENABLED",
        "x-localstack response header",
    ),
    (
        "PARITY_AWS_ACCESS_KEY_ID",
        "derive accounts from real access keys",
    ),
    ("TOKIO_WORKER_THREADS", "async runtime worker threads"),
    ("DNS_ADDRESS", "DNS listen address, 0 turns it off"),
    ("DNS_PORT", "DNS port"),
    ("DNS_SERVER", "upstream DNS servers"),
    ("DNS_RESOLVE_IP", "fixed DNS answer address"),
    (
        "SKYPORT_DNS_EXTRA_LISTEN",
        "more DNS listen addresses, IP or IP:port, comma-separated",
    ),
    (
        "DNS_NAME_PATTERNS_TO_RESOLVE_UPSTREAM",
        "names always resolved upstream",
    ),
    (
        "DNS_LOCAL_NAME_PATTERNS",
        "deprecated alias of DNS_NAME_PATTERNS_TO_RESOLVE_UPSTREAM",
    ),
    (
        "EXTERNAL_SERVICE_PORTS_START",
        "first external service port",
    ),
    (
        "EXTERNAL_SERVICE_PORTS_END",
        "end of the external service port range (excluded)",
    ),
    (
        "SKYPORT_PORTS_CONNECT_TIMEOUT",
        "port-range TCP route connect deadline, seconds",
    ),
    (
        "SKYPORT_PORTS_IDLE_TIMEOUT",
        "port-range TCP route idle deadline, seconds (0: none)",
    ),
    ("CUSTOM_SSL_CERT_PATH", "user TLS certificate"),
    ("SQS_ENDPOINT_STRATEGY", "SQS queue URL style"),
    (
        "SQS_DELAY_RECENTLY_DELETED",
        "QueueDeletedRecently for 60 s after DeleteQueue",
    ),
    ("SQS_DELAY_PURGE_RETRY", "one PurgeQueue per 60 s"),
    ("OVERRIDE_IN_DOCKER", "force container mode on or off"),
    (
        "LOCALSTACK_AUTH_TOKEN",
        "accepted and ignored (Skyport needs no token)",
    ),
    ("LOCALSTACK_API_KEY", "accepted and ignored"),
    (
        "SKIP_SSL_CERT_DOWNLOAD",
        "accepted and ignored (Skyport never downloads certificates)",
    ),
    ("USE_SSL", "accepted"),
    (
        "LAMBDA_EXECUTOR",
        "docker, local, or unset: Docker when it answers, else local processes",
    ),
    (
        "LAMBDA_DOCKER_NETWORK",
        "network(s) function containers join, comma-separated",
    ),
    (
        "LAMBDA_DOCKER_DNS",
        "resolver for function containers instead of Skyport's DNS",
    ),
    (
        "LAMBDA_KEEPALIVE_MS",
        "how long an idle function environment is kept, ms (default 600000)",
    ),
    (
        "LAMBDA_DOCKER_FLAGS",
        "extra docker run flags for function containers (-e, -v, --add-host, --dns, -l)",
    ),
    (
        "LAMBDA_REMOVE_CONTAINERS",
        "remove function containers when they stop (default 1)",
    ),
    (
        "LAMBDA_RUNTIME_IMAGE_MAPPING",
        "runtime images: a JSON object runtime -> image, or a pattern with <runtime>",
    ),
    (
        "SKYPORT_LAMBDA_RETRY_BASE_MS",
        "delay before retrying a failed asynchronous invocation, ms (default 60000)",
    ),
    ("LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT", "accepted"),
    (
        "MAIN_CONTAINER_NAME",
        "Skyport's own container, for Lambda's network lookup",
    ),
    ("MAIN_DOCKER_NETWORK", "accepted"),
    (
        "HOSTNAME_FROM_LAMBDA",
        "the address function containers reach Skyport at",
    ),
    ("DISABLE_CORS_CHECKS", "accepted"),
    ("DISABLE_CORS_HEADERS", "accepted"),
    ("EXTRA_CORS_ALLOWED_ORIGINS", "accepted"),
    (
        "EAGER_SERVICE_LOADING",
        "accepted (Skyport always starts services eagerly)",
    ),
    (
        "SNAPSHOT_SAVE_STRATEGY",
        "accepted (Skyport commits every write)",
    ),
    ("SNAPSHOT_LOAD_STRATEGY", "accepted"),
];

/// The services this build implements.
pub const IMPLEMENTED_SERVICES: &[&str] = &[
    "sts",
    "s3",
    "sqs",
    "lambda",
    "logs",
    "iam",
    "dynamodb",
    "dynamodbstreams",
    "events",
    "sns",
    "ecr",
];

fn parse_bool(var: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(invalid(var, value, "1/true/yes/on or 0/false/no/off")),
    }
}

fn bool_var(env: &dyn EnvSource, var: &'static str, default: bool) -> Result<bool, ConfigError> {
    env.var(var).map_or(Ok(default), |v| parse_bool(var, &v))
}

fn default_hosts(in_container: bool) -> [IpAddr; 2] {
    if in_container {
        [
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ]
    } else {
        [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]
    }
}

const LISTEN_FORMS: &str = "a comma-separated list of host:port, :port, host, [ipv6]:port or [ipv6] \
                            (host is an IP address or localhost), e.g. 127.0.0.1:4566,[::1]:4566";

/// Parses `GATEWAY_LISTEN`.
pub fn parse_gateway_listen(
    value: &str,
    in_container: bool,
) -> Result<Vec<SocketAddr>, ConfigError> {
    let mut out: Vec<SocketAddr> = Vec::new();
    let err = || invalid("GATEWAY_LISTEN", value, LISTEN_FORMS);
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (host, port) = split_host_port(item).ok_or_else(err)?;
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| err())?,
            None => 4566,
        };
        let hosts: Vec<IpAddr> = match host {
            "" => default_hosts(in_container).to_vec(),
            "localhost" => vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ],
            h => vec![h.parse::<IpAddr>().map_err(|_| err())?],
        };
        for h in hosts {
            let addr = SocketAddr::new(h, port);
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
    }
    if out.is_empty() {
        return Err(err());
    }
    Ok(out)
}

/// Splits `host:port`, `[v6]:port`, `[v6]`, `host`, `:port`.
fn split_host_port(item: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = item.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            p => Some((host, Some(p.strip_prefix(':')?))),
        };
    }
    match item.matches(':').count() {
        0 => Some((item, None)),
        1 => item.split_once(':').map(|(h, p)| (h, Some(p))),
        // A bare IPv6 address without brackets.
        _ => Some((item, None)),
    }
}

/// True for a host name (letters, digits, `-` and `_` in dot-separated labels of at most 63
/// characters, 253 in all) or an IP address.
fn valid_host(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A host name or IP address in `var`.
fn host_var(env: &dyn EnvSource, var: &'static str) -> Result<Option<String>, ConfigError> {
    match env.var(var).map(|v| v.trim().to_owned()) {
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if valid_host(&v) => Ok(Some(v)),
        Some(v) => Err(invalid(var, &v, "a host name or an IP address")),
        None => Ok(None),
    }
}

/// Docker object names (networks, containers): comma-separated when `list`, each
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn docker_names_var(
    env: &dyn EnvSource,
    var: &'static str,
    list: bool,
) -> Result<Option<String>, ConfigError> {
    let Some(value) = env.var(var).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let valid = |name: &str| {
        let mut bytes = name.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
            && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    };
    let names: Vec<&str> = if list {
        value.split(',').map(str::trim).collect()
    } else {
        vec![value.trim()]
    };
    if names.iter().all(|n| valid(n)) {
        Ok(Some(value))
    } else {
        let expected = if list {
            "Docker network names, comma-separated (letters, digits, '_', '.' and '-')"
        } else {
            "a Docker container name (letters, digits, '_', '.' and '-')"
        };
        Err(invalid(var, &value, expected))
    }
}

/// Parses `LOCALSTACK_HOST` (`host[:port]`).
pub fn parse_host_and_port(value: &str, default_port: u16) -> Result<HostAndPort, ConfigError> {
    let err = || {
        invalid(
            "LOCALSTACK_HOST",
            value,
            "host[:port], e.g. localhost.localstack.cloud:4566",
        )
    };
    let (host, port) = split_host_port(value.trim()).ok_or_else(err)?;
    if !valid_host(host) {
        return Err(err());
    }
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(err)?,
        None => default_port,
    };
    Ok(HostAndPort {
        host: host.to_owned(),
        port,
    })
}

fn parse_port(var: &'static str, value: &str) -> Result<u16, ConfigError> {
    value
        .trim()
        .parse::<u16>()
        .map_err(|_| invalid(var, value, "a port number from 0 to 65535"))
}

/// Parses `SKYPORT_DNS_EXTRA_LISTEN`: `IP`, `IP:PORT`, `[IPv6]:PORT`, comma or space separated; a
/// missing port is `default_port` (`DNS_PORT`).
fn parse_dns_extra_listen(value: &str, default_port: u16) -> Result<Vec<SocketAddr>, ConfigError> {
    let err = || {
        invalid(
            "SKYPORT_DNS_EXTRA_LISTEN",
            value,
            "IP addresses with optional ports, e.g. 172.17.0.1 or 198.18.0.53:53",
        )
    };
    let mut out: Vec<SocketAddr> = Vec::new();
    for item in value
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let (host, port) = split_host_port(item).ok_or_else(err)?;
        let ip = host.parse::<IpAddr>().map_err(|_| err())?;
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| err())?,
            None => default_port,
        };
        let addr = SocketAddr::new(ip, port);
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    Ok(out)
}

fn parse_dns_servers(value: &str) -> Result<Vec<SocketAddr>, ConfigError> {
    let mut out = Vec::new();
    for item in value
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let addr = if let Ok(ip) = item.parse::<IpAddr>() {
            SocketAddr::new(ip, 53)
        } else {
            item.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "DNS_SERVER",
                    value,
                    "IP addresses with optional ports, e.g. 10.0.0.2 or 127.0.0.1:5353",
                )
            })?
        };
        out.push(addr);
    }
    Ok(out)
}

/// Splits `DNS_NAME_PATTERNS_TO_RESOLVE_UPSTREAM` like LocalStack: on commas, semicolons and white space,
/// with surrounding quotes removed; each must be a valid regex.
pub fn parse_name_patterns(var: &'static str, value: &str) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for item in value
        .split([',', ';', ' ', '\t', '\n'])
        .filter(|s| !s.is_empty())
    {
        let item = item.trim_matches(['"', '\'']);
        if item.is_empty() {
            continue;
        }
        regex::Regex::new(item)
            .map_err(|e| invalid(var, item, format!("a valid regular expression ({e})")))?;
        out.push(item.to_owned());
    }
    Ok(out)
}

/// The async runtime's worker threads when `TOKIO_WORKER_THREADS` is not set: one fewer than the CPUs
/// available (CPU quotas count), and at least one.
///
/// An emulator always shares its machine with the programs that call it (tests, SDKs, the CLI), so
/// Skyport leaves them a core instead of starting a worker on every one. With a worker per core and a
/// busy client, Linux often queues two workers on one CPU and the connections waiting on the second one
/// wait a scheduler slice. Measured on two cores with a one-thread load client (docs/benchmarks.md,
/// "Runtime workers"): GetCallerIdentity at 64 connections 81k/s with p99 1.4 ms on one worker, 68-72k/s
/// with p99 4.6-4.9 ms on two; operations that need more than a core of server CPU lose (S3 PutObject
/// 1 KiB at 64 connections: 32k instead of 41-47k/s). `TOKIO_WORKER_THREADS` sets any count.
pub fn default_worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

/// `TOKIO_WORKER_THREADS`: a whole number from 1 to 1024, else [`default_worker_threads`].
fn worker_threads_var(env: &dyn EnvSource) -> Result<usize, ConfigError> {
    let Some(value) = env.var("TOKIO_WORKER_THREADS") else {
        return Ok(default_worker_threads());
    };
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(invalid(
            "TOKIO_WORKER_THREADS",
            &value,
            "a whole number from 1 to 1024",
        )),
    }
}

/// Where LocalStack's image keeps its init hooks; Skyport's container default.
pub const DEFAULT_INIT_DIR: &str = "/etc/localstack/init";

fn default_state_dir(env: &dyn EnvSource, in_container: bool) -> PathBuf {
    if in_container {
        return PathBuf::from("/var/lib/localstack");
    }
    if let Some(data) = env.var("XDG_DATA_HOME") {
        return PathBuf::from(data).join("skyport");
    }
    match env.var("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/skyport"),
        None => PathBuf::from(".skyport"),
    }
}

impl Config {
    /// Parses the configuration. `detected_container` is what the environment looks like
    /// (`/.dockerenv`); `OVERRIDE_IN_DOCKER` overrides it.
    pub fn load(env: &dyn EnvSource, detected_container: bool) -> Result<Config, ConfigError> {
        let in_container = bool_var(env, "OVERRIDE_IN_DOCKER", detected_container)?;
        let gateway_listen = match env.var("GATEWAY_LISTEN") {
            Some(v) => parse_gateway_listen(&v, in_container)?,
            None => parse_gateway_listen(":4566", in_container)?,
        };
        let edge_port = gateway_listen.first().map(|a| a.port()).unwrap_or(4566);
        let localstack_host = match env.var("LOCALSTACK_HOST") {
            Some(v) => parse_host_and_port(&v, edge_port)?,
            None => HostAndPort {
                host: "localhost.localstack.cloud".to_owned(),
                port: edge_port,
            },
        };
        let log_level = match env.var("LS_LOG") {
            Some(v) => {
                let v = v.to_ascii_lowercase();
                let level = match v.as_str() {
                    "trace-internal" | "trace" => "trace",
                    "debug" | "info" | "warn" | "error" => v.as_str(),
                    "warning" => "warn",
                    _ => return Err(invalid("LS_LOG", &v, "trace, debug, info, warn or error")),
                };
                Some(level.to_owned())
            }
            None => None,
        };
        let services = env.var("SERVICES").map(|v| {
            v.split([',', ' '])
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect::<BTreeSet<_>>()
        });
        let shutdown_timeout = seconds_var(env, "SKYPORT_SHUTDOWN_TIMEOUT", 0.0, 10.0)?;
        let handshake_timeout = seconds_var(env, "SKYPORT_HANDSHAKE_TIMEOUT", 0.05, 10.0)?;
        let header_timeout = seconds_var(env, "SKYPORT_HEADER_TIMEOUT", 0.05, 30.0)?;

        let dns_address = match env.var("DNS_ADDRESS") {
            Some(v) if matches!(v.trim(), "0" | "false" | "False") => None,
            Some(v) => Some(v.trim().parse::<IpAddr>().map_err(|_| {
                invalid(
                    "DNS_ADDRESS",
                    &v,
                    "an IP address, or 0 to turn the DNS server off",
                )
            })?),
            None => Some(if in_container {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            }),
        };
        let resolve_ip = match env.var("DNS_RESOLVE_IP") {
            Some(v) => {
                let ip = v
                    .trim()
                    .parse::<IpAddr>()
                    .map_err(|_| invalid("DNS_RESOLVE_IP", &v, "an IP address"))?;
                // LocalStack's default 127.0.0.1 means "choose per client".
                (ip != IpAddr::V4(Ipv4Addr::LOCALHOST)).then_some(ip)
            }
            None => None,
        };
        let mut upstream_patterns = Vec::new();
        if let Some(v) = env.var("DNS_NAME_PATTERNS_TO_RESOLVE_UPSTREAM") {
            upstream_patterns.extend(parse_name_patterns(
                "DNS_NAME_PATTERNS_TO_RESOLVE_UPSTREAM",
                &v,
            )?);
        }
        if let Some(v) = env.var("DNS_LOCAL_NAME_PATTERNS") {
            upstream_patterns.extend(parse_name_patterns("DNS_LOCAL_NAME_PATTERNS", &v)?);
        }
        let mut dns = DnsSettings {
            address: dns_address,
            port: env
                .var("DNS_PORT")
                .map_or(Ok(53), |v| parse_port("DNS_PORT", &v))?,
            upstreams: env
                .var("DNS_SERVER")
                .map_or(Ok(Vec::new()), |v| parse_dns_servers(&v))?,
            resolve_ip,
            upstream_patterns,
            aws_names: bool_var(env, "SKYPORT_DNS_AWS_NAMES", true)?,
            extra_listen: Vec::new(),
        };
        if let Some(v) = env.var("SKYPORT_DNS_EXTRA_LISTEN") {
            dns.extra_listen = parse_dns_extra_listen(&v, dns.port)?;
        }

        let start = env
            .var("EXTERNAL_SERVICE_PORTS_START")
            .map_or(Ok(4510), |v| parse_port("EXTERNAL_SERVICE_PORTS_START", &v))?;
        if start == 0 {
            return Err(invalid(
                "EXTERNAL_SERVICE_PORTS_START",
                "0",
                "a port number from 1 to 65535",
            ));
        }
        // END is excluded (LocalStack's documented meaning: 4510..4560 is 4510-4559).
        let end = env
            .var("EXTERNAL_SERVICE_PORTS_END")
            .map_or(Ok(start.saturating_add(50)), |v| {
                parse_port("EXTERNAL_SERVICE_PORTS_END", &v)
            })?;
        if end <= start {
            return Err(invalid(
                "EXTERNAL_SERVICE_PORTS_END",
                &end.to_string(),
                format!("a port above EXTERNAL_SERVICE_PORTS_START ({start}); the end is excluded"),
            ));
        }
        let ports_connect_timeout = match env.var("SKYPORT_PORTS_CONNECT_TIMEOUT") {
            Some(v) => Duration::from_secs_f64(
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.01 && *s <= 3600.0)
                    .ok_or_else(|| {
                        invalid(
                            "SKYPORT_PORTS_CONNECT_TIMEOUT",
                            &v,
                            "seconds, from 0.01 to 3600",
                        )
                    })?,
            ),
            None => Duration::from_secs(5),
        };
        let ports_idle_timeout = match env.var("SKYPORT_PORTS_IDLE_TIMEOUT") {
            Some(v) => {
                let seconds = v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 604_800.0)
                    .ok_or_else(|| {
                        invalid(
                            "SKYPORT_PORTS_IDLE_TIMEOUT",
                            &v,
                            "seconds, from 0 (no timeout) to 604800",
                        )
                    })?;
                (seconds > 0.0).then(|| Duration::from_secs_f64(seconds))
            }
            None => Some(Duration::from_secs(3600)),
        };
        let sqs_endpoint_strategy = match env.var("SQS_ENDPOINT_STRATEGY").as_deref().map(str::trim)
        {
            None | Some("standard") => SqsEndpointStrategy::Standard,
            Some("domain") => SqsEndpointStrategy::Domain,
            Some("path") => SqsEndpointStrategy::Path,
            Some("off") => SqsEndpointStrategy::Off,
            Some("dynamic") => SqsEndpointStrategy::Dynamic,
            Some(other) => {
                return Err(invalid(
                    "SQS_ENDPOINT_STRATEGY",
                    other,
                    "standard, domain, path, off or dynamic",
                ));
            }
        };

        let s3_sigv4_keys = if bool_var(env, "SKYPORT_VERIFY_SIGV4", false)? {
            let raw = env
                .var("SKYPORT_SIGV4_KEYS")
                .unwrap_or_else(|| "test:test".to_owned());
            let mut keys = Vec::new();
            for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                match pair.split_once(':') {
                    Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
                        keys.push((id.to_owned(), secret.to_owned()));
                    }
                    _ => {
                        return Err(invalid(
                            "SKYPORT_SIGV4_KEYS",
                            "(not shown: it holds secrets)",
                            "access-key-id:secret pairs, comma-separated",
                        ));
                    }
                }
            }
            Some(keys)
        } else {
            None
        };
        let mut config = Config {
            in_container,
            gateway_listen,
            localstack_host,
            debug: bool_var(env, "DEBUG", false)?,
            log_level,
            persistence: bool_var(env, "PERSISTENCE", false)?,
            state_dir: env
                .var("SKYPORT_STATE_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| default_state_dir(env, in_container)),
            init_dir: match env.var("SKYPORT_INIT_DIR") {
                Some(dir) if dir.trim().is_empty() => None,
                Some(dir) => Some(PathBuf::from(dir)),
                None => in_container.then(|| PathBuf::from(DEFAULT_INIT_DIR)),
            },
            services,
            shutdown_timeout,
            handshake_timeout,
            header_timeout,
            response_header: bool_var(env, "LOCALSTACK_RESPONSE_HEADER_ENABLED", true)?,
            parity_access_keys: bool_var(env, "PARITY_AWS_ACCESS_KEY_ID", false)?,
            worker_threads: worker_threads_var(env)?,
            sqs_delay_recently_deleted: bool_var(env, "SQS_DELAY_RECENTLY_DELETED", false)?,
            sqs_delay_purge_retry: bool_var(env, "SQS_DELAY_PURGE_RETRY", false)?,
            dns,
            external_ports: (start, end - 1),
            ports_connect_timeout,
            ports_idle_timeout,
            custom_ssl_cert_path: env.var("CUSTOM_SSL_CERT_PATH").map(PathBuf::from),
            sqs_endpoint_strategy,
            s3_sigv4_keys,
            enforce_iam: bool_var(env, "ENFORCE_IAM", false)?,
            iam_soft_mode: bool_var(env, "IAM_SOFT_MODE", false)?,
            s3_lifecycle_day: seconds_in(
                env,
                "SKYPORT_S3_LIFECYCLE_DAY_SECONDS",
                (0.01, 31_536_000.0),
                86_400.0,
            )?,
            s3_lifecycle_interval: seconds_in(
                env,
                "SKYPORT_S3_LIFECYCLE_INTERVAL_SECONDS",
                (0.01, 86_400.0),
                60.0,
            )?,
            s3_access_log_interval: seconds_in(
                env,
                "SKYPORT_S3_ACCESS_LOG_INTERVAL_SECONDS",
                (0.01, 86_400.0),
                10.0,
            )?,
            dynamodb_ttl_sweep: millis_in(
                env,
                "SKYPORT_DYNAMODB_TTL_SWEEP_MS",
                (10.0, 86_400_000.0),
                60_000.0,
            )?,
            events_schedule_minute: millis_in(
                env,
                "SKYPORT_EVENTS_SCHEDULE_MINUTE_MS",
                (10.0, 60_000.0),
                60_000.0,
            )?,
            sns_retry_second: millis_in(
                env,
                "SKYPORT_SNS_RETRY_SECOND_MS",
                (1.0, 60_000.0),
                1000.0,
            )?,
            lambda: LambdaSettings {
                executor: match env
                    .var("LAMBDA_EXECUTOR")
                    .map(|v| v.trim().to_ascii_lowercase())
                {
                    None => None,
                    Some(v) if v.is_empty() => None,
                    Some(v) if matches!(v.as_str(), "docker" | "local" | "auto") => Some(v),
                    Some(v) => return Err(invalid("LAMBDA_EXECUTOR", &v, "docker, local or auto")),
                },
                docker_network: docker_names_var(env, "LAMBDA_DOCKER_NETWORK", true)?,
                docker_dns: match env.var("LAMBDA_DOCKER_DNS").map(|v| v.trim().to_owned()) {
                    Some(v) if v.is_empty() => None,
                    Some(v) if v.parse::<IpAddr>().is_ok() => Some(v),
                    Some(v) => return Err(invalid("LAMBDA_DOCKER_DNS", &v, "an IP address")),
                    None => None,
                },
                docker_flags: env
                    .var("LAMBDA_DOCKER_FLAGS")
                    .filter(|v| !v.trim().is_empty()),
                remove_containers: bool_var(env, "LAMBDA_REMOVE_CONTAINERS", true)?,
                image_mapping: match env.var("LAMBDA_RUNTIME_IMAGE_MAPPING") {
                    Some(v) if v.trim().starts_with('{') => {
                        serde_json::from_str::<std::collections::HashMap<String, String>>(&v)
                            .map_err(|_| {
                                invalid(
                                    "LAMBDA_RUNTIME_IMAGE_MAPPING",
                                    &v,
                                    "a JSON object runtime -> image, or a pattern with <runtime>",
                                )
                            })?;
                        Some(v)
                    }
                    Some(v) if v.contains("<runtime>") => Some(v),
                    Some(v) if v.trim().is_empty() => None,
                    Some(v) => {
                        return Err(invalid(
                            "LAMBDA_RUNTIME_IMAGE_MAPPING",
                            &v,
                            "a JSON object runtime -> image, or a pattern with <runtime>",
                        ));
                    }
                    None => None,
                },
                keepalive: millis_in(env, "LAMBDA_KEEPALIVE_MS", (0.0, 86_400_000.0), 600_000.0)?,
                hostname_from_lambda: host_var(env, "HOSTNAME_FROM_LAMBDA")?,
                main_container_name: docker_names_var(env, "MAIN_CONTAINER_NAME", false)?,
                retry_base: millis_in(
                    env,
                    "SKYPORT_LAMBDA_RETRY_BASE_MS",
                    (1.0, 3_600_000.0),
                    60_000.0,
                )?,
            },
            console_write: bool_var(env, "SKYPORT_CONSOLE_WRITE", false)?,
            console_public: bool_var(env, "SKYPORT_CONSOLE_PUBLIC", false)?,
            warnings: Vec::new(),
        };
        config.warnings = config.find_warnings(env);
        Ok(config)
    }

    /// The gateway port clients use by default (the first listen address's).
    pub fn edge_port(&self) -> u16 {
        self.gateway_listen
            .first()
            .map(|a| a.port())
            .unwrap_or(4566)
    }

    /// True when `service` is enabled by `SERVICES`.
    pub fn service_enabled(&self, service: &str) -> bool {
        // DynamoDB Streams comes with DynamoDB (its tables' streams), as in LocalStack.
        self.services.as_ref().is_none_or(|s| {
            s.contains(service) || (service == "dynamodbstreams" && s.contains("dynamodb"))
        })
    }

    fn find_warnings(&self, env: &dyn EnvSource) -> Vec<String> {
        let mut warnings = Vec::new();
        let known: Vec<&str> = KNOWN_VARS.iter().map(|(k, _)| *k).collect();
        let mut keys = env.keys();
        keys.sort();
        keys.dedup();
        for key in keys {
            if known.contains(&key.as_str()) {
                continue;
            }
            if let Some(close) = known.iter().find(|k| looks_like_typo(&key, k)) {
                warnings.push(format!(
                    "{key} is not a setting Skyport knows; did you mean {close}? (it has no effect as written)"
                ));
            }
        }
        if !self.in_container {
            for addr in &self.gateway_listen {
                if addr.ip().is_unspecified() {
                    warnings.push(format!(
                        "GATEWAY_LISTEN binds {addr} on a host: Skyport accepts unauthenticated requests from \
                         your whole network. Use 127.0.0.1:{port},[::1]:{port} unless that is intended.",
                        port = addr.port()
                    ));
                }
            }
        }
        if self.console_public && self.console_write {
            warnings.push(
                "SKYPORT_CONSOLE_PUBLIC=1 with SKYPORT_CONSOLE_WRITE=1: every client that reaches the gateway can \
                 change resources through the console at /_skyport/. Drop one of them unless that is intended."
                    .to_owned(),
            );
        }
        if let Some(services) = &self.services {
            for s in services {
                if !IMPLEMENTED_SERVICES.contains(&s.as_str()) {
                    warnings.push(format!(
                        "SERVICES names '{s}', which this Skyport build does not implement yet; requests for it \
                         get a NotImplemented error."
                    ));
                }
            }
        }
        warnings.extend(self.container_warnings());
        if env.var("LOCALSTACK_AUTH_TOKEN").is_some() || env.var("LOCALSTACK_API_KEY").is_some() {
            warnings.push(
                "LOCALSTACK_AUTH_TOKEN/LOCALSTACK_API_KEY is set: Skyport needs no token and ignores it.".to_owned(),
            );
        }
        warnings
    }

    /// Settings that hand containers a loopback address, which inside a container is the container itself.
    fn container_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(ip) = self.dns.resolve_ip.filter(IpAddr::is_loopback) {
            if self.in_container || !self.dns.extra_listen.is_empty() {
                warnings.push(format!(
                    "DNS_RESOLVE_IP={ip} makes the DNS answer AWS names with a loopback address, but containers \
                     use this DNS server and to them {ip} is the container itself. Unset DNS_RESOLVE_IP (Skyport \
                     then answers each client with its own address on the client's network)."
                ));
            }
        }
        if self.in_container {
            let docker_dns = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11));
            for up in &self.dns.upstreams {
                if up.ip().is_loopback() && up.ip() != docker_dns {
                    warnings.push(format!(
                        "DNS_SERVER includes {up}, a loopback address: inside the container nothing answers \
                         there (a host's 127.0.0.53 stays on the host). Unset DNS_SERVER to use the container's \
                         /etc/resolv.conf (Docker's 127.0.0.11 on user-defined networks) or name a reachable resolver."
                    ));
                }
            }
            let host = self.localstack_host.host.trim_matches(['[', ']']);
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if loopback {
                warnings.push(format!(
                    "LOCALSTACK_HOST={} puts a loopback host into the URLs Skyport returns (SQS queue URLs, \
                     S3 locations); other containers that follow them reach themselves, not Skyport. Keep the \
                     default localhost.localstack.cloud:{} (Skyport's DNS answers it per network) or use this \
                     container's name on its Docker network.",
                    self.localstack_host, self.localstack_host.port
                ));
            }
            if self.gateway_listen.iter().all(|a| a.ip().is_loopback()) {
                warnings.push(format!(
                    "GATEWAY_LISTEN={} binds only loopback inside the container, so published ports and other \
                     containers cannot reach Skyport. Use GATEWAY_LISTEN=:4566,:443 (the image's default).",
                    self.gateway_listen
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                ));
            }
        }
        warnings
    }

    /// The effective configuration as `NAME = value` lines, for `config validate`.
    pub fn describe(&self) -> Vec<(String, String)> {
        let list = |addrs: &[SocketAddr]| {
            addrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        vec![
            ("in container".into(), self.in_container.to_string()),
            ("GATEWAY_LISTEN".into(), list(&self.gateway_listen)),
            ("LOCALSTACK_HOST".into(), self.localstack_host.to_string()),
            (
                "SKYPORT_STATE_DIR".into(),
                self.state_dir.display().to_string(),
            ),
            (
                "SKYPORT_INIT_DIR".into(),
                self.init_dir
                    .as_ref()
                    .map_or("none".to_owned(), |d| d.display().to_string()),
            ),
            ("PERSISTENCE".into(), u8::from(self.persistence).to_string()),
            ("ENFORCE_IAM".into(), u8::from(self.enforce_iam).to_string()),
            (
                "IAM_SOFT_MODE".into(),
                u8::from(self.iam_soft_mode).to_string(),
            ),
            (
                "SERVICES".into(),
                self.services.as_ref().map_or("all".to_owned(), |s| {
                    s.iter().cloned().collect::<Vec<_>>().join(",")
                }),
            ),
            ("DEBUG".into(), u8::from(self.debug).to_string()),
            (
                "TOKIO_WORKER_THREADS".into(),
                self.worker_threads.to_string(),
            ),
            (
                "DNS_ADDRESS".into(),
                self.dns.address.map_or("off".to_owned(), |a| a.to_string()),
            ),
            ("DNS_PORT".into(), self.dns.port.to_string()),
            (
                "DNS_SERVER".into(),
                if self.dns.upstreams.is_empty() {
                    "from /etc/resolv.conf".to_owned()
                } else {
                    list(&self.dns.upstreams)
                },
            ),
            (
                "DNS_RESOLVE_IP".into(),
                self.dns
                    .resolve_ip
                    .map_or("per client".to_owned(), |a| a.to_string()),
            ),
            (
                "SKYPORT_DNS_EXTRA_LISTEN".into(),
                if self.dns.extra_listen.is_empty() {
                    "none".to_owned()
                } else {
                    list(&self.dns.extra_listen)
                },
            ),
            (
                "EXTERNAL_SERVICE_PORTS".into(),
                format!("{}-{}", self.external_ports.0, self.external_ports.1),
            ),
            (
                "SKYPORT_PORTS_CONNECT_TIMEOUT".into(),
                format!("{}s", self.ports_connect_timeout.as_secs_f64()),
            ),
            (
                "SKYPORT_PORTS_IDLE_TIMEOUT".into(),
                self.ports_idle_timeout
                    .map_or("none".to_owned(), |d| format!("{}s", d.as_secs_f64())),
            ),
            (
                "CUSTOM_SSL_CERT_PATH".into(),
                self.custom_ssl_cert_path
                    .as_ref()
                    .map_or("none".to_owned(), |p| p.display().to_string()),
            ),
            (
                "SQS_ENDPOINT_STRATEGY".into(),
                format!("{:?}", self.sqs_endpoint_strategy).to_ascii_lowercase(),
            ),
            (
                "LAMBDA_EXECUTOR".into(),
                self.lambda
                    .executor
                    .clone()
                    .unwrap_or_else(|| "auto (docker when it answers, else local)".to_owned()),
            ),
            (
                "LAMBDA_DOCKER_NETWORK".into(),
                self.lambda.docker_network.clone().unwrap_or_else(|| {
                    "Skyport's own network (in a container), else bridge".to_owned()
                }),
            ),
            (
                "LAMBDA_RUNTIME_IMAGE_MAPPING".into(),
                self.lambda
                    .image_mapping
                    .clone()
                    .unwrap_or_else(|| "AWS's public.ecr.aws/lambda images".to_owned()),
            ),
            (
                "LAMBDA_KEEPALIVE_MS".into(),
                self.lambda.keepalive.as_millis().to_string(),
            ),
            (
                "SKYPORT_S3_LIFECYCLE_DAY_SECONDS".into(),
                format!("{}s", self.s3_lifecycle_day.as_secs_f64()),
            ),
            (
                "SKYPORT_S3_LIFECYCLE_INTERVAL_SECONDS".into(),
                format!("{}s", self.s3_lifecycle_interval.as_secs_f64()),
            ),
            (
                "SKYPORT_S3_ACCESS_LOG_INTERVAL_SECONDS".into(),
                format!("{}s", self.s3_access_log_interval.as_secs_f64()),
            ),
            (
                "SKYPORT_DYNAMODB_TTL_SWEEP_MS".into(),
                self.dynamodb_ttl_sweep.as_millis().to_string(),
            ),
            (
                "SKYPORT_EVENTS_SCHEDULE_MINUTE_MS".into(),
                self.events_schedule_minute.as_millis().to_string(),
            ),
            (
                "SKYPORT_SNS_RETRY_SECOND_MS".into(),
                self.sns_retry_second.as_millis().to_string(),
            ),
            (
                "SKYPORT_CONSOLE_WRITE".into(),
                u8::from(self.console_write).to_string(),
            ),
            (
                "SKYPORT_CONSOLE_PUBLIC".into(),
                u8::from(self.console_public).to_string(),
            ),
            (
                "SKYPORT_SHUTDOWN_TIMEOUT".into(),
                format!("{}s", self.shutdown_timeout.as_secs_f64()),
            ),
            (
                "SKYPORT_HANDSHAKE_TIMEOUT".into(),
                format!("{}s", self.handshake_timeout.as_secs_f64()),
            ),
            (
                "SKYPORT_HEADER_TIMEOUT".into(),
                format!("{}s", self.header_timeout.as_secs_f64()),
            ),
        ]
    }
}

/// A duration in seconds (fractions allowed) from `min` to one hour; `default` when unset.
fn seconds_var(
    env: &dyn EnvSource,
    name: &'static str,
    min: f64,
    default: f64,
) -> Result<Duration, ConfigError> {
    seconds_in(env, name, (min, 3600.0), default)
}

/// A duration in (fractional) seconds within `min..=max`, or `default` seconds when unset.
fn seconds_in(
    env: &dyn EnvSource,
    name: &'static str,
    (min, max): (f64, f64),
    default: f64,
) -> Result<Duration, ConfigError> {
    let Some(v) = env.var(name) else {
        return Ok(Duration::from_secs_f64(default));
    };
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= min && *s <= max)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| invalid(name, &v, format!("seconds, from {min} to {max}")))
}

/// A duration in milliseconds within `min..=max`, or `default` milliseconds when unset.
fn millis_in(
    env: &dyn EnvSource,
    name: &'static str,
    (min, max): (f64, f64),
    default: f64,
) -> Result<Duration, ConfigError> {
    let Some(v) = env.var(name) else {
        return Ok(Duration::from_secs_f64(default / 1000.0));
    };
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|ms| ms.is_finite() && *ms >= min && *ms <= max)
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .ok_or_else(|| invalid(name, &v, format!("milliseconds, from {min} to {max}")))
}

/// True when `key` is probably a misspelling of `known`: same family prefix or a small edit distance.
fn looks_like_typo(key: &str, known: &str) -> bool {
    let limit = 2.max(known.len() / 8);
    let key_chars = key.chars().count();
    // The edit distance is at least the difference in length: most pairs need no table (this runs for
    // every variable of the environment against every known one, at each start).
    if key_chars < 4 || key_chars.abs_diff(known.chars().count()) > limit {
        return false;
    }
    let distance = levenshtein(key.chars().map(|c| c.to_ascii_uppercase()), known);
    distance > 0 && distance <= limit
}

/// The edit distance between `a` and `b`, with one row of the table.
fn levenshtein(a: impl Iterator<Item = char>, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.enumerate() {
        // `diagonal` is the previous row's value left of the current cell.
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn defaults_native_and_container() {
        let c = Config::load(&env(&[("HOME", "/home/u")]), false).unwrap();
        assert_eq!(c.gateway_listen, addrs(&["127.0.0.1:4566", "[::1]:4566"]));
        assert_eq!(
            c.localstack_host.to_string(),
            "localhost.localstack.cloud:4566"
        );
        assert_eq!(c.state_dir, PathBuf::from("/home/u/.local/share/skyport"));
        assert_eq!(c.dns.address, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(c.external_ports, (4510, 4559));
        assert_eq!(c.ports_idle_timeout, Some(Duration::from_secs(3600)));
        let c = Config::load(
            &env(&[
                ("EXTERNAL_SERVICE_PORTS_START", "5000"),
                ("EXTERNAL_SERVICE_PORTS_END", "5010"),
                ("SKYPORT_PORTS_IDLE_TIMEOUT", "0"),
            ]),
            false,
        )
        .unwrap();
        assert_eq!(c.external_ports, (5000, 5009));
        assert_eq!(c.ports_idle_timeout, None);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let c = Config::load(&env(&[]), true).unwrap();
        assert_eq!(c.gateway_listen, addrs(&["0.0.0.0:4566", "[::]:4566"]));
        assert_eq!(c.state_dir, PathBuf::from("/var/lib/localstack"));
        let c = Config::load(&env(&[("OVERRIDE_IN_DOCKER", "0")]), true).unwrap();
        assert!(!c.in_container);
    }

    #[test]
    fn gateway_listen_forms() {
        let p = |v| parse_gateway_listen(v, false).unwrap();
        assert_eq!(p("0.0.0.0:4566"), addrs(&["0.0.0.0:4566"]));
        assert_eq!(p(":4567"), addrs(&["127.0.0.1:4567", "[::1]:4567"]));
        assert_eq!(p("127.0.0.1"), addrs(&["127.0.0.1:4566"]));
        assert_eq!(p("[::]:4566"), addrs(&["[::]:4566"]));
        assert_eq!(p("[::1]"), addrs(&["[::1]:4566"]));
        assert_eq!(
            p("localhost:80, 127.0.0.1:80"),
            addrs(&["127.0.0.1:80", "[::1]:80"])
        );
        assert_eq!(p(":4566,:443").len(), 4);
        for bad in ["nope:1", "1.2.3.4:99999", "[::1", ",", "host name"] {
            let e = parse_gateway_listen(bad, false).unwrap_err();
            assert_eq!(e.var, "GATEWAY_LISTEN");
            assert!(e.to_string().contains("host:port"), "{e}");
        }
    }

    #[test]
    fn localstack_host_follows_the_edge_port() {
        let c = Config::load(&env(&[("GATEWAY_LISTEN", "127.0.0.1:5000")]), false).unwrap();
        assert_eq!(
            c.localstack_host.to_string(),
            "localhost.localstack.cloud:5000"
        );
        let c = Config::load(&env(&[("LOCALSTACK_HOST", "my.host")]), false).unwrap();
        assert_eq!(c.localstack_host.to_string(), "my.host:4566");
        assert!(Config::load(&env(&[("LOCALSTACK_HOST", "a b")]), false).is_err());
    }

    #[test]
    fn valid_hosts_are_accepted() {
        for (k, v) in [
            ("LOCALSTACK_HOST", "localhost.localstack.cloud:4566"),
            ("LOCALSTACK_HOST", "127.0.0.1"),
            ("LOCALSTACK_HOST", "[::1]:4566"),
            ("LOCALSTACK_HOST", "my_service.internal"),
            ("HOSTNAME_FROM_LAMBDA", "172.17.0.1"),
            ("LAMBDA_DOCKER_DNS", "10.0.0.2"),
            ("LAMBDA_DOCKER_NETWORK", "my-net,other_net.1"),
            ("MAIN_CONTAINER_NAME", "localstack-main"),
        ] {
            assert!(Config::load(&env(&[(k, v)]), false).is_ok(), "{k}={v}");
        }
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (k, v) in [
            ("DEBUG", "maybe"),
            ("DNS_PORT", "x"),
            ("DNS_ADDRESS", "localhost"),
            ("SQS_ENDPOINT_STRATEGY", "weird"),
            ("EXTERNAL_SERVICE_PORTS_END", "10"),
            ("EXTERNAL_SERVICE_PORTS_END", "4510"),
            ("SKYPORT_PORTS_CONNECT_TIMEOUT", "0"),
            ("SKYPORT_S3_LIFECYCLE_DAY_SECONDS", "0"),
            ("SKYPORT_S3_LIFECYCLE_INTERVAL_SECONDS", "soon"),
            ("SKYPORT_PORTS_IDLE_TIMEOUT", "-1"),
            ("DNS_NAME_PATTERNS_TO_RESOLVE_UPSTREAM", "(unclosed"),
            ("LS_LOG", "loud"),
            ("SKYPORT_SHUTDOWN_TIMEOUT", "-1"),
            ("SKYPORT_HANDSHAKE_TIMEOUT", "0"),
            ("TOKIO_WORKER_THREADS", "0"),
            ("TOKIO_WORKER_THREADS", "two"),
            ("LOCALSTACK_HOST", "bad_host!:4566"),
            ("LOCALSTACK_HOST", "http://localhost:4566"),
            ("LOCALSTACK_HOST", "localhost:0"),
            ("LOCALSTACK_HOST", "localhost:99999"),
            ("LOCALSTACK_HOST", ":4566"),
            ("LOCALSTACK_HOST", "-leading.example.com"),
            ("HOSTNAME_FROM_LAMBDA", "not a host"),
            ("LAMBDA_DOCKER_DNS", "dns.example.com"),
            ("LAMBDA_DOCKER_NETWORK", "good,bad network"),
            ("MAIN_CONTAINER_NAME", "/slash"),
            ("EXTERNAL_SERVICE_PORTS_START", "0"),
            ("SKYPORT_CONSOLE_WRITE", "please"),
            ("SKYPORT_CONSOLE_PUBLIC", "2"),
        ] {
            let e = Config::load(&env(&[(k, v)]), false).unwrap_err();
            assert_eq!(e.var, k, "{e}");
        }
    }

    #[test]
    fn the_console_is_read_only_and_private_by_default() {
        let c = Config::load(&env(&[]), false).expect("config");
        assert!(!c.console_write && !c.console_public);
        let c = Config::load(
            &env(&[
                ("SKYPORT_CONSOLE_WRITE", "1"),
                ("SKYPORT_CONSOLE_PUBLIC", "true"),
            ]),
            false,
        )
        .expect("config");
        assert!(c.console_write && c.console_public);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("SKYPORT_CONSOLE_PUBLIC")),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn worker_threads_default_leaves_a_core_for_clients() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(default_worker_threads(), cores.saturating_sub(1).max(1));
        let c = Config::load(&env(&[]), false).expect("config");
        assert_eq!(c.worker_threads, default_worker_threads());
        let c = Config::load(&env(&[("TOKIO_WORKER_THREADS", " 3 ")]), false).expect("config");
        assert_eq!(c.worker_threads, 3);
    }

    #[test]
    fn dns_settings() {
        let c = Config::load(
            &env(&[
                ("DNS_ADDRESS", "0"),
                ("DNS_SERVER", "10.0.0.2, 127.0.0.1:5353"),
                ("DNS_RESOLVE_IP", "127.0.0.1"),
                (
                    "DNS_NAME_PATTERNS_TO_RESOLVE_UPSTREAM",
                    "'.*cognito.*' ,  ^api\\.example\\.com;x",
                ),
                ("SKYPORT_DNS_AWS_NAMES", "0"),
            ]),
            false,
        )
        .unwrap();
        assert_eq!(c.dns.address, None);
        assert_eq!(c.dns.upstreams, addrs(&["10.0.0.2:53", "127.0.0.1:5353"]));
        assert_eq!(c.dns.resolve_ip, None);
        assert_eq!(
            c.dns.upstream_patterns,
            vec![".*cognito.*", "^api\\.example\\.com", "x"]
        );
        assert!(!c.dns.aws_names);
    }

    #[test]
    fn dns_extra_listen() {
        let c = Config::load(
            &env(&[
                ("DNS_PORT", "5353"),
                (
                    "SKYPORT_DNS_EXTRA_LISTEN",
                    "172.17.0.1, 198.18.0.53:53 [fd00::1]:54,172.17.0.1",
                ),
            ]),
            false,
        )
        .unwrap();
        assert_eq!(
            c.dns.extra_listen,
            addrs(&["172.17.0.1:5353", "198.18.0.53:53", "[fd00::1]:54"])
        );
        assert!(
            Config::load(&env(&[]), false)
                .unwrap()
                .dns
                .extra_listen
                .is_empty()
        );
        for bad in ["host.example", "1.2.3.4:99999", "[::1"] {
            let e = Config::load(&env(&[("SKYPORT_DNS_EXTRA_LISTEN", bad)]), false).unwrap_err();
            assert_eq!(e.var, "SKYPORT_DNS_EXTRA_LISTEN");
        }
    }

    #[test]
    fn edit_distance() {
        let d = |a: &str, b: &str| levenshtein(a.chars(), b);
        assert_eq!(d("kitten", "sitting"), 3);
        assert_eq!(d("", "abc"), 3);
        assert_eq!(d("abc", ""), 3);
        assert_eq!(d("PERSISTENCE", "PERSISTENCE"), 0);
        assert_eq!(d("PERSISTANCE", "PERSISTENCE"), 1);
        assert_eq!(d("DEBGU", "DEBUG"), 2);
        assert!(looks_like_typo("gateway_listn", "GATEWAY_LISTEN"));
        assert!(!looks_like_typo("GATEWAY", "GATEWAY_LISTEN"));
    }

    #[test]
    fn flags_override_env_and_typos_warn() {
        let base = env(&[
            ("GATEWAY_LISTEN", "127.0.0.1:1"),
            ("PERSISTANCE", "1"),
            ("DEBGU", "1"),
            ("PATH", "/bin"),
        ]);
        let mut flags = BTreeMap::new();
        flags.insert("GATEWAY_LISTEN".to_owned(), "127.0.0.1:2".to_owned());
        let c = Config::load(
            &Layered {
                flags: &flags,
                env: &base,
            },
            false,
        )
        .unwrap();
        assert_eq!(c.gateway_listen, addrs(&["127.0.0.1:2"]));
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("did you mean PERSISTENCE")),
            "{:?}",
            c.warnings
        );
        assert!(
            c.warnings.iter().any(|w| w.contains("did you mean DEBUG")),
            "{:?}",
            c.warnings
        );
        assert!(!c.warnings.iter().any(|w| w.contains("PATH")));
        let c = Config::load(
            &env(&[("GATEWAY_LISTEN", "0.0.0.0:4566"), ("SERVICES", "sts,s4")]),
            false,
        )
        .unwrap();
        assert!(c.warnings.iter().any(|w| w.contains("whole network")));
        assert!(c.warnings.iter().any(|w| w.contains("'s4'")));
        assert!(c.service_enabled("sts") && !c.service_enabled("sqs"));
    }
}

//! Command-line parsing (clap) and the subcommands: `start` (in this process, or `--docker` in a
//! container), `stop`, `logs`, `status`, `wait`, `config validate`, `aws`, `certs`, `state`, `dns resolve`, and the
//! `--health-check` probe used by container health checks.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Layered, ProcessEnv};

/// Skyport: a local AWS cloud in one binary.
#[derive(Debug, Parser)]
#[command(name = "skyport", version, about, long_about = None)]
pub struct Cli {
    /// Probe the local gateway's health endpoint and exit 0 when it is ready (for container health checks).
    #[arg(long, global = false)]
    pub health_check: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Skyport in the foreground, or in a Docker container with --docker.
    Start {
        #[command(flatten)]
        settings: StartArgs,
        #[command(flatten)]
        docker: crate::docker_cmd::DockerArgs,
    },
    /// Stop the Skyport container (and remove it when `start --docker` created it).
    Stop {
        /// The container (LOCALSTACK_DOCKER_NAME; default localstack-main).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// Print the Skyport container's log.
    Logs {
        /// Keep printing new lines until Ctrl-C.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<String>,
        /// The container (LOCALSTACK_DOCKER_NAME; default localstack-main).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// Show the health of a running Skyport (and the state of its container); exits 1 when it is not ready.
    Status {
        #[command(flatten)]
        client: ClientArgs,
        /// The container to look for when no --endpoint is given (LOCALSTACK_DOCKER_NAME; default
        /// localstack-main).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// Wait until a running Skyport is ready.
    Wait {
        #[command(flatten)]
        client: ClientArgs,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
    },
    /// Work with the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Run the AWS CLI against Skyport (endpoint, test credentials and region preset).
    #[command(disable_help_flag = true)]
    Aws {
        /// The endpoint to use instead of the configured gateway.
        #[arg(long)]
        endpoint: Option<String>,
        /// Arguments passed to `aws`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The local CA: print it, export a trust bundle, add it to or remove it from the system trust store.
    Certs(crate::certs_cmd::CertsArgs),
    /// Reset, export or import the state of a running Skyport.
    State(crate::state_cmd::StateArgs),
    /// The embedded DNS server.
    Dns {
        #[command(subcommand)]
        command: DnsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DnsCommand {
    /// Show what a client at an address would get for a name, and why (sends no query).
    Resolve(crate::dns_cmd::ResolveArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration and warn about misconfigurations (with --docker: as
    /// `skyport start --docker` would run it).
    Validate {
        #[command(flatten)]
        settings: StartArgs,
        #[command(flatten)]
        docker: crate::docker_cmd::DockerArgs,
    },
}

/// Flags mirroring the environment variables; a flag wins over its variable.
#[derive(Debug, Args, Default)]
pub struct StartArgs {
    /// Gateway listen addresses (GATEWAY_LISTEN).
    #[arg(long, value_name = "ADDRS")]
    pub gateway_listen: Option<String>,
    /// Host and port written into returned URLs (LOCALSTACK_HOST).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub localstack_host: Option<String>,
    /// State directory (SKYPORT_STATE_DIR).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<String>,
    /// Init hooks directory with boot.d, start.d, ready.d and shutdown.d (SKYPORT_INIT_DIR; in a
    /// container /etc/localstack/init).
    #[arg(long, value_name = "DIR")]
    pub init_dir: Option<String>,
    /// Keep state across restarts (PERSISTENCE=1).
    #[arg(long)]
    pub persistence: bool,
    /// Debug logging (DEBUG=1).
    #[arg(long)]
    pub debug: bool,
    /// Enabled services, comma-separated (SERVICES).
    #[arg(long, value_name = "LIST")]
    pub services: Option<String>,
    /// DNS listen address, 0 turns the DNS server off (DNS_ADDRESS).
    #[arg(long, value_name = "IP")]
    pub dns_address: Option<String>,
    /// DNS port (DNS_PORT).
    #[arg(long, value_name = "PORT")]
    pub dns_port: Option<String>,
    /// Upstream DNS servers (DNS_SERVER).
    #[arg(long, value_name = "IPS")]
    pub dns_server: Option<String>,
    /// User TLS certificate, key and chain in one PEM (CUSTOM_SSL_CERT_PATH).
    #[arg(long, value_name = "FILE")]
    pub custom_ssl_cert_path: Option<String>,
    /// Graceful shutdown deadline in seconds (SKYPORT_SHUTDOWN_TIMEOUT).
    #[arg(long, value_name = "SECONDS")]
    pub shutdown_timeout: Option<String>,
    /// Seconds a new connection may stay silent or take for its TLS handshake (SKYPORT_HANDSHAKE_TIMEOUT).
    #[arg(long, value_name = "SECONDS")]
    pub handshake_timeout: Option<String>,
    /// Seconds an HTTP/1 request head may take once it has begun (SKYPORT_HEADER_TIMEOUT).
    #[arg(long, value_name = "SECONDS")]
    pub header_timeout: Option<String>,
}

impl StartArgs {
    pub(crate) fn overrides(&self) -> BTreeMap<String, String> {
        let mut flags = BTreeMap::new();
        let mut set = |key: &str, value: &Option<String>| {
            if let Some(v) = value {
                flags.insert(key.to_owned(), v.clone());
            }
        };
        set("GATEWAY_LISTEN", &self.gateway_listen);
        set("LOCALSTACK_HOST", &self.localstack_host);
        set("SKYPORT_STATE_DIR", &self.state_dir);
        set("SKYPORT_INIT_DIR", &self.init_dir);
        set("SERVICES", &self.services);
        set("DNS_ADDRESS", &self.dns_address);
        set("DNS_PORT", &self.dns_port);
        set("DNS_SERVER", &self.dns_server);
        set("CUSTOM_SSL_CERT_PATH", &self.custom_ssl_cert_path);
        set("SKYPORT_SHUTDOWN_TIMEOUT", &self.shutdown_timeout);
        set("SKYPORT_HANDSHAKE_TIMEOUT", &self.handshake_timeout);
        set("SKYPORT_HEADER_TIMEOUT", &self.header_timeout);
        if self.persistence {
            flags.insert("PERSISTENCE".into(), "1".into());
        }
        if self.debug {
            flags.insert("DEBUG".into(), "1".into());
        }
        flags
    }

    /// The effective configuration: flags over the process environment.
    pub fn load(&self) -> Result<Config, crate::config::ConfigError> {
        let flags = self.overrides();
        Config::load(
            &Layered {
                flags: &flags,
                env: &ProcessEnv,
            },
            detect_container(),
        )
    }
}

/// Where a client command finds the gateway.
#[derive(Debug, Args, Default)]
pub struct ClientArgs {
    /// Gateway URL (default: from GATEWAY_LISTEN), e.g. http://127.0.0.1:4566.
    #[arg(long)]
    pub endpoint: Option<String>,
}

/// True when this process runs in a container.
pub fn detect_container() -> bool {
    std::path::Path::new("/.dockerenv").exists()
        || std::path::Path::new("/run/.containerenv").exists()
}

pub fn run(cli: Cli) -> ExitCode {
    if cli.health_check {
        return crate::probe::health_check(None);
    }
    match cli.command {
        None => {
            eprintln!("skyport: a command is required (try `skyport start` or `skyport --help`)");
            ExitCode::from(2)
        }
        Some(Command::Start { settings, docker }) if docker.docker => {
            crate::docker_cmd::start(&settings, &docker)
        }
        Some(Command::Start { settings, docker }) => {
            crate::start::run(&settings, docker.compose_file.as_deref())
        }
        Some(Command::Stop { name }) => crate::docker_cmd::stop(name.as_deref()),
        Some(Command::Logs { follow, tail, name }) => {
            crate::docker_cmd::logs(name.as_deref(), follow, tail.as_deref())
        }
        Some(Command::Status { client, name }) => {
            status(client.endpoint.as_deref(), name.as_deref())
        }
        Some(Command::Wait { client, timeout }) => {
            let timeout = Duration::from_secs_f64(timeout.clamp(0.0, 86_400.0));
            crate::probe::wait(client.endpoint.as_deref(), timeout)
        }
        Some(Command::Config {
            command: ConfigCommand::Validate { settings, docker },
        }) => validate(&settings, &docker),
        Some(Command::Aws { endpoint, args }) => crate::aws_cli::run(endpoint.as_deref(), &args),
        Some(Command::Certs(args)) => crate::certs_cmd::run(&args),
        Some(Command::State(args)) => crate::state_cmd::run(&args),
        Some(Command::Dns {
            command: DnsCommand::Resolve(args),
        }) => crate::dns_cmd::resolve(&args),
    }
}

/// `skyport status`: an explicit `--endpoint` is probed as it is; otherwise the Skyport container (when
/// Docker knows one by that name) and its published gateway, else the native default endpoint.
fn status(endpoint: Option<&str>, name: Option<&str>) -> ExitCode {
    if endpoint.is_some() {
        return crate::probe::status(endpoint);
    }
    match crate::docker_cmd::container_status(name) {
        Some((line, Some(endpoint))) => {
            println!("{line}");
            crate::probe::status(Some(&endpoint))
        }
        Some((line, None)) => {
            println!("{line}");
            ExitCode::FAILURE
        }
        None => crate::probe::status(None),
    }
}

fn print_warnings(warnings: &[String]) {
    if warnings.is_empty() {
        println!("No problems found.");
    } else {
        println!("Warnings:");
        for w in warnings {
            println!("  - {w}");
        }
    }
}

fn validate(args: &StartArgs, docker: &crate::docker_cmd::DockerArgs) -> ExitCode {
    let compose_file = crate::pitfalls::compose_file(docker.compose_file.as_deref());
    if docker.docker {
        let plan = match crate::docker_cmd::plan(args, docker) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("skyport: {e}");
                return ExitCode::from(2);
            }
        };
        println!(
            "Effective configuration in the container {} ({}):",
            plan.name, plan.image
        );
        for (name, value) in plan.config.describe() {
            println!("  {name:<26} {value}");
        }
        let mut warnings = plan.warnings.clone();
        warnings.extend(crate::pitfalls::check(
            &plan.config,
            &crate::pitfalls::Context {
                compose_file,
                docker_mode: true,
                check_ports: false,
            },
        ));
        print_warnings(&warnings);
        return ExitCode::SUCCESS;
    }
    match args.load() {
        Ok(config) => {
            println!("Effective configuration:");
            for (name, value) in config.describe() {
                println!("  {name:<26} {value}");
            }
            let mut warnings = config.warnings.clone();
            warnings.extend(crate::start::environment_warnings(&config));
            warnings.extend(crate::pitfalls::check(
                &config,
                &crate::pitfalls::Context {
                    compose_file,
                    docker_mode: false,
                    check_ports: true,
                },
            ));
            print_warnings(&warnings);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("skyport: {e}");
            ExitCode::from(2)
        }
    }
}

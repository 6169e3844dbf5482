//! Command-line parsing (clap) and the subcommands: `start`, `status`, `wait`, `config validate`, `aws`,
//! `certs`, `dns resolve`, and the `--health-check` probe used by container health checks.

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
    /// Run Skyport in the foreground.
    Start(StartArgs),
    /// Show the health of a running Skyport; exits 1 when it is not ready.
    Status(ClientArgs),
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
    /// Print the effective configuration and warn about misconfigurations.
    Validate(StartArgs),
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
    fn overrides(&self) -> BTreeMap<String, String> {
        let mut flags = BTreeMap::new();
        let mut set = |key: &str, value: &Option<String>| {
            if let Some(v) = value {
                flags.insert(key.to_owned(), v.clone());
            }
        };
        set("GATEWAY_LISTEN", &self.gateway_listen);
        set("LOCALSTACK_HOST", &self.localstack_host);
        set("SKYPORT_STATE_DIR", &self.state_dir);
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
        Some(Command::Start(args)) => crate::start::run(&args),
        Some(Command::Status(client)) => crate::probe::status(client.endpoint.as_deref()),
        Some(Command::Wait { client, timeout }) => {
            let timeout = Duration::from_secs_f64(timeout.clamp(0.0, 86_400.0));
            crate::probe::wait(client.endpoint.as_deref(), timeout)
        }
        Some(Command::Config {
            command: ConfigCommand::Validate(args),
        }) => validate(&args),
        Some(Command::Aws { endpoint, args }) => crate::aws_cli::run(endpoint.as_deref(), &args),
        Some(Command::Certs(args)) => crate::certs_cmd::run(&args),
        Some(Command::Dns {
            command: DnsCommand::Resolve(args),
        }) => crate::dns_cmd::resolve(&args),
    }
}

fn validate(args: &StartArgs) -> ExitCode {
    match args.load() {
        Ok(config) => {
            println!("Effective configuration:");
            for (name, value) in config.describe() {
                println!("  {name:<26} {value}");
            }
            let mut warnings = config.warnings.clone();
            warnings.extend(crate::start::environment_warnings(&config));
            if warnings.is_empty() {
                println!("No problems found.");
            } else {
                println!("Warnings:");
                for w in &warnings {
                    println!("  - {w}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("skyport: {e}");
            ExitCode::from(2)
        }
    }
}

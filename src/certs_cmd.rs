//! `skyport certs ...`: the local CA for clients. `ca` prints the CA certificate, `bundle` writes the
//! system roots plus the CA as one PEM (for `AWS_CA_BUNDLE`, `REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`,
//! `NODE_EXTRA_CA_CERTS`), and `install` / `uninstall` add the CA to or remove it from the host trust
//! store where that is supported.
//!
//! Which CA: the one of the Skyport that is running (its `/_skyport/certs/ca.pem`, at `--endpoint`, the
//! container `--docker` names, or the default gateway address), since that is the CA its certificates
//! chain to; a state directory whose CA differs from it is reported. Only when no Skyport answers is the
//! CA of the state directory used, and created there when there is none yet, exactly as `start` would.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use skyport_certs::{CaOrigin, CertError, TrustOutcome, TrustStore};

use crate::cli::StartArgs;

/// `skyport certs` flags and subcommand.
#[derive(Debug, Args)]
pub struct CertsArgs {
    /// State directory holding `certs/ca.pem` (SKYPORT_STATE_DIR); used when no Skyport is running.
    #[arg(long, value_name = "DIR", global = true)]
    pub state_dir: Option<String>,

    /// The running Skyport to take the CA from (default: the configured gateway, e.g.
    /// http://localhost:4566).
    #[arg(long, value_name = "URL", global = true)]
    pub endpoint: Option<String>,

    /// Take the CA from the Skyport container (LOCALSTACK_DOCKER_NAME, or --name) through its published
    /// gateway port.
    #[arg(long, global = true)]
    pub docker: bool,

    /// The container for --docker (default: LOCALSTACK_DOCKER_NAME or localstack-main).
    #[arg(long, value_name = "NAME", global = true)]
    pub name: Option<String>,

    #[command(subcommand)]
    pub command: CertsCommand,
}

/// What to do with the local CA.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Print the local CA certificate (PEM); creates the CA if there is none yet.
    Ca,
    /// Write the system root certificates plus the local CA as one PEM bundle.
    Bundle {
        /// Write the bundle to FILE instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Add the local CA to the host's trust store (Debian/Ubuntu, Fedora/RHEL; needs root). With
    /// --docker or --registry, also to the Docker Engine's trust for Skyport's ECR registry hosts
    /// (`<certs.d>/<host>/ca.crt`), so `docker push` over HTTPS verifies Skyport's certificate.
    Install(DockerTrustArgs),
    /// Remove the local CA from the host's trust store (and, with --docker or --registry, from the
    /// Docker Engine's `certs.d`).
    Uninstall(DockerTrustArgs),
}

/// Where `install`/`uninstall` put the CA for the Docker Engine.
#[derive(Debug, Args, Default)]
pub struct DockerTrustArgs {
    /// A registry host (`host` or `host:port`) the Docker Engine should trust the CA for; repeatable.
    /// Default with --docker: `<account>.dkr.ecr.<region>.amazonaws.com` and
    /// `<account>.dkr.ecr.<region>.<LOCALSTACK_HOST>`.
    #[arg(long = "registry", value_name = "HOST[:PORT]")]
    pub registries: Vec<String>,

    /// The account of the default registry hosts.
    #[arg(long, value_name = "ACCOUNT", default_value = skyport_core::DEFAULT_ACCOUNT)]
    pub account: String,

    /// The region of the default registry hosts (default: AWS_DEFAULT_REGION, AWS_REGION or us-east-1).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Docker's `certs.d` directory (default: /etc/docker/certs.d; ~/.docker/certs.d for Docker
    /// Desktop on macOS and Windows).
    #[arg(long, value_name = "DIR")]
    pub docker_certs_dir: Option<PathBuf>,

    /// Only the Docker Engine's trust: leave the host's trust store alone.
    #[arg(long)]
    pub docker_only: bool,
}

/// Runs a `certs` subcommand.
pub fn run(args: &CertsArgs) -> ExitCode {
    match args.command {
        CertsCommand::Ca => with_ca_pem(args, |pem| write_stdout(pem.as_bytes())),
        CertsCommand::Bundle { ref output } => {
            with_ca_pem(args, |pem| bundle(pem, output.as_ref()))
        }
        CertsCommand::Install(ref docker) => {
            let Some(hosts) = registry_hosts(args, docker) else {
                return ExitCode::from(2);
            };
            with_ca_pem(args, |pem| install(pem, docker, &hosts))
        }
        CertsCommand::Uninstall(ref docker) => {
            let Some(hosts) = registry_hosts(args, docker) else {
                return ExitCode::from(2);
            };
            uninstall(docker, &hosts)
        }
    }
}

/// Where the CA comes from.
enum Running {
    /// A Skyport answered at this endpoint with its CA.
    Found { endpoint: String, pem: String },
    /// Nothing answered at the default endpoint: use the state directory.
    NotRunning { endpoint: String },
}

/// How long to wait for a running Skyport before using the state directory.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(700);

/// The running Skyport's CA. An endpoint the user named (`--endpoint`, `--docker`) must answer.
fn running_ca(args: &CertsArgs) -> Result<Running, String> {
    let (endpoint, required) = if args.docker {
        match crate::docker_cmd::container_status(args.name.as_deref()) {
            Some((_, Some(endpoint))) => (endpoint, true),
            Some((line, None)) => {
                return Err(format!(
                    "{line}; its gateway port 4566 is not published or it is not running"
                ));
            }
            None => {
                return Err(format!(
                    "no Skyport container {} (is Docker running? start it with `skyport start --docker`)",
                    crate::docker_cmd::container_name(args.name.as_deref())
                ));
            }
        }
    } else if let Some(endpoint) = &args.endpoint {
        (endpoint.clone(), true)
    } else {
        (crate::probe::default_endpoint(), false)
    };
    match crate::probe::http_get(&endpoint, crate::tls::CA_DOCUMENT_PATH, PROBE_TIMEOUT) {
        Ok((200, pem)) if pem.contains("-----BEGIN CERTIFICATE-----") => {
            Ok(Running::Found { endpoint, pem })
        }
        Ok((status, _)) if required => Err(format!(
            "{endpoint} answered {} with HTTP {status}: is it Skyport?",
            crate::tls::CA_DOCUMENT_PATH
        )),
        Err(e) if required => Err(format!("no Skyport answers: {e}")),
        _ => Ok(Running::NotRunning { endpoint }),
    }
}

/// Hands the CA's PEM to `then`: the running Skyport's, else the state directory's (created when
/// missing, as `start` would).
fn with_ca_pem(args: &CertsArgs, then: impl FnOnce(&str) -> ExitCode) -> ExitCode {
    let start_args = StartArgs {
        state_dir: args.state_dir.clone(),
        ..StartArgs::default()
    };
    let config = match start_args.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skyport: {e}");
            return ExitCode::from(2);
        }
    };
    let dir = crate::tls::certs_dir(&config);
    match running_ca(args) {
        Err(e) => {
            eprintln!("skyport: {e}");
            ExitCode::FAILURE
        }
        Ok(Running::Found { endpoint, pem }) => {
            eprintln!("skyport: the CA of the Skyport running at {endpoint}");
            if let Some(warning) = state_dir_mismatch(&dir, &pem, args.state_dir.is_some()) {
                eprintln!("skyport: {warning}");
            }
            then(&pem)
        }
        Ok(Running::NotRunning { endpoint }) => match crate::tls::load_ca(&config, &dir) {
            Ok(ca) => {
                if ca.origin() == CaOrigin::Created {
                    eprintln!(
                        "skyport: no Skyport answers at {endpoint}; created a new local CA in {} for a \
                         Skyport started with this state directory. For a Skyport in a container, start it \
                         first (or pass --docker or --endpoint)",
                        dir.display()
                    );
                } else {
                    eprintln!(
                        "skyport: no Skyport answers at {endpoint}; the CA in {}",
                        dir.display()
                    );
                }
                then(ca.cert_pem())
            }
            Err(e) => {
                eprintln!("skyport: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// A warning when the state directory holds another CA than the running Skyport serves.
fn state_dir_mismatch(dir: &std::path::Path, running_pem: &str, explicit: bool) -> Option<String> {
    let path = dir.join(skyport_certs::ca::CA_CERT_FILE);
    let local = std::fs::read_to_string(&path).ok()?;
    if local.trim() == running_pem.trim() {
        return None;
    }
    Some(format!(
        "{} holds a different CA than the running Skyport{}: that Skyport uses another state directory \
         (in a container: its volume). Using the running Skyport's CA",
        path.display(),
        if explicit { " (--state-dir)" } else { "" }
    ))
}

fn write_stdout(bytes: &[u8]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`skyport certs ca | head`) is not worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("skyport: cannot write to standard output: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bundle(ca_pem: &str, output: Option<&PathBuf>) -> ExitCode {
    let bundle = skyport_certs::trust_bundle(ca_pem);
    match &bundle.system_roots_from {
        Some(from) => eprintln!(
            "skyport: bundle of {} system roots ({}) plus the Skyport CA",
            bundle.system_root_count,
            from.display()
        ),
        None => eprintln!(
            "skyport: no system CA bundle found; the bundle holds only the Skyport CA, so clients using \
             it will trust Skyport and nothing else"
        ),
    }
    let Some(path) = output else {
        return write_stdout(bundle.pem.as_bytes());
    };
    match std::fs::write(path, bundle.pem.as_bytes()) {
        Ok(()) => {
            eprintln!("skyport: wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("skyport: cannot write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

fn unsupported_or_failed(action: &str, e: &CertError) -> ExitCode {
    match e {
        CertError::UnsupportedTrustStore { .. } => {
            eprintln!("skyport: cannot {action} the CA automatically: {e}");
            ExitCode::from(3)
        }
        CertError::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!("skyport: {e}; run it as root (sudo skyport certs {action})");
            ExitCode::FAILURE
        }
        _ => {
            eprintln!("skyport: cannot {action} the CA: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The registry hosts the Docker Engine should trust the CA for: those given with --registry, else
/// with --docker (or --docker-only) the default ECR hosts of the account and region; `None` after
/// printing why when the configuration cannot be read.
fn registry_hosts(args: &CertsArgs, docker: &DockerTrustArgs) -> Option<Vec<String>> {
    if !docker.registries.is_empty() {
        return Some(docker.registries.clone());
    }
    if !args.docker && !docker.docker_only {
        return Some(Vec::new());
    }
    let start_args = StartArgs {
        state_dir: args.state_dir.clone(),
        ..StartArgs::default()
    };
    let config = match start_args.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skyport: {e}");
            return None;
        }
    };
    let region = docker
        .region
        .clone()
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .or_else(|| std::env::var("AWS_REGION").ok())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| skyport_core::DEFAULT_REGION.to_owned());
    let account = &docker.account;
    Some(vec![
        format!("{account}.dkr.ecr.{region}.amazonaws.com"),
        format!("{account}.dkr.ecr.{region}.{}", config.localstack_host),
    ])
}

/// Installs or removes the CA in Docker's `certs.d` for each registry host, printing what happened.
fn docker_trust(docker: &DockerTrustArgs, hosts: &[String], ca_pem: Option<&str>) -> ExitCode {
    let certs = docker
        .docker_certs_dir
        .clone()
        .map(|root| skyport_certs::DockerCertsDir { root })
        .unwrap_or_else(skyport_certs::DockerCertsDir::for_this_os);
    let action = if ca_pem.is_some() {
        "install"
    } else {
        "uninstall"
    };
    for host in hosts {
        let result = match ca_pem {
            Some(pem) => certs.install(host, pem),
            None => certs.uninstall(host),
        };
        match result {
            Ok((path, outcome)) => {
                let what = match outcome {
                    TrustOutcome::Installed => "trusts the Skyport CA",
                    TrustOutcome::AlreadyInstalled => "already trusted the Skyport CA",
                    TrustOutcome::Removed => "no longer trusts the Skyport CA",
                    TrustOutcome::NotInstalled => "did not trust the Skyport CA",
                };
                println!("Docker Engine {what} for {host} ({}).", path.display());
            }
            Err(e) => return unsupported_or_failed(action, &e),
        }
    }
    ExitCode::SUCCESS
}

fn install(ca_pem: &str, docker: &DockerTrustArgs, hosts: &[String]) -> ExitCode {
    if !docker.docker_only {
        let code = install_system(ca_pem);
        if code != ExitCode::SUCCESS {
            return code;
        }
    }
    docker_trust(docker, hosts, Some(ca_pem))
}

fn install_system(ca_pem: &str) -> ExitCode {
    let store = match TrustStore::detect() {
        Ok(s) => s,
        Err(e) => return unsupported_or_failed("install", &e),
    };
    match store.install(ca_pem) {
        Ok(outcome) => {
            let what = match outcome {
                TrustOutcome::AlreadyInstalled => "was already in",
                _ => "added to",
            };
            println!(
                "Skyport CA {what} the {} trust store ({}).",
                store.name,
                store.cert_path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => unsupported_or_failed("install", &e),
    }
}

fn uninstall(docker: &DockerTrustArgs, hosts: &[String]) -> ExitCode {
    if !docker.docker_only {
        let code = uninstall_system();
        if code != ExitCode::SUCCESS {
            return code;
        }
    }
    docker_trust(docker, hosts, None)
}

fn uninstall_system() -> ExitCode {
    let store = match TrustStore::detect() {
        Ok(s) => s,
        Err(e) => return unsupported_or_failed("uninstall", &e),
    };
    match store.uninstall() {
        Ok(TrustOutcome::NotInstalled) => {
            println!(
                "Skyport CA was not in the {} trust store ({}).",
                store.name,
                store.cert_path.display()
            );
            ExitCode::SUCCESS
        }
        Ok(_) => {
            println!(
                "Skyport CA removed from the {} trust store ({}).",
                store.name,
                store.cert_path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => unsupported_or_failed("uninstall", &e),
    }
}

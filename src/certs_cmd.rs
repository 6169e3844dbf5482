//! `skyport certs ...`: the local CA for clients. `ca` prints the CA certificate (creating the CA when
//! there is none yet, exactly as `start` would), `bundle` writes the system roots plus the CA as one PEM
//! (for `AWS_CA_BUNDLE`, `REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`), and `install` /
//! `uninstall` add the CA to or remove it from the host trust store where that is supported.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use skyport_certs::{CaOrigin, CertError, TrustOutcome, TrustStore};

use crate::cli::StartArgs;

/// `skyport certs` flags and subcommand.
#[derive(Debug, Args)]
pub struct CertsArgs {
    /// State directory holding `certs/ca.pem` (SKYPORT_STATE_DIR).
    #[arg(long, value_name = "DIR", global = true)]
    pub state_dir: Option<String>,

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
    /// Add the local CA to the host's trust store (Debian/Ubuntu, Fedora/RHEL; needs root).
    Install,
    /// Remove the local CA from the host's trust store.
    Uninstall,
}

/// Runs a `certs` subcommand.
pub fn run(args: &CertsArgs) -> ExitCode {
    match args.command {
        CertsCommand::Ca => with_ca_pem(args, |pem| write_stdout(pem.as_bytes())),
        CertsCommand::Bundle { ref output } => {
            with_ca_pem(args, |pem| bundle(pem, output.as_ref()))
        }
        CertsCommand::Install => with_ca_pem(args, install),
        CertsCommand::Uninstall => uninstall(),
    }
}

/// Loads (or creates) the CA the way `start` does and hands its PEM to `then`.
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
    match crate::tls::load_ca(&config, &dir) {
        Ok(ca) => {
            if ca.origin() == CaOrigin::Created {
                eprintln!(
                    "skyport: created a new local CA in {}; clients must trust it",
                    dir.display()
                );
            }
            then(ca.cert_pem())
        }
        Err(e) => {
            eprintln!("skyport: {e}");
            ExitCode::FAILURE
        }
    }
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

fn install(ca_pem: &str) -> ExitCode {
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

fn uninstall() -> ExitCode {
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

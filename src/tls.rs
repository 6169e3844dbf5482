//! TLS wiring: builds the gateway's rustls server configuration from the [`Config`] with the local CA
//! of `skyport-certs` (loaded from, or created in, `<state-dir>/certs/`), the `CUSTOM_SSL_CERT_PATH`
//! certificate when set, and the names Skyport answers for. `start` and the `certs` commands share the
//! CA loading, so `skyport certs ca` prints the same CA the gateway serves.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use skyport_certs::{
    CaOrigin, CertAuthority, CertError, CustomCert, NameConstraintsPolicy, ResolverConfig,
    SniResolver,
};

use crate::config::Config;

/// The path at which the gateway serves the CA certificate.
pub const CA_DOCUMENT_PATH: &str = "/_skyport/certs/ca.pem";
/// The content type of the CA document.
pub const CA_CONTENT_TYPE: &str = "application/x-pem-file";

/// Why TLS could not be set up; each variant names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The local CA could not be loaded or created.
    #[error("cannot prepare the local CA in {dir}: {source}")]
    Ca {
        /// The CA directory.
        dir: PathBuf,
        /// What failed.
        #[source]
        source: CertError,
    },
    /// `CUSTOM_SSL_CERT_PATH` names a file that cannot be used.
    #[error(
        "CUSTOM_SSL_CERT_PATH={path} cannot be used: {source} (it must be one PEM file holding the \
         private key and the certificate chain, leaf first; unset the variable to use only the local CA)"
    )]
    CustomCert {
        /// The configured path.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: CertError,
    },
    /// The rustls configuration could not be built.
    #[error("cannot build the TLS configuration: {0}")]
    Config(#[source] CertError),
}

/// Everything `start` needs for HTTPS.
pub struct TlsSetup {
    /// The server configuration for the gateway's TLS acceptor.
    pub server_config: Arc<rustls::ServerConfig>,
    /// The local CA.
    pub ca: Arc<CertAuthority>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

/// The concrete addresses Skyport listens on (unspecified ones such as `0.0.0.0` are skipped: they are
/// not names a client can connect to).
pub fn listen_ips(config: &Config) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = Vec::new();
    for addr in &config.gateway_listen {
        let ip = addr.ip();
        if !ip.is_unspecified() && !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    ips
}

/// `LOCALSTACK_HOST` as `host:port`, the form `skyport-certs` parses.
fn localstack_host(config: &Config) -> String {
    config.localstack_host.to_string()
}

/// The machine's name for the CA subject: the kernel host name, `HOSTNAME`, or `localhost`.
pub fn host_label() -> String {
    let from_kernel = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned());
    from_kernel
        .filter(|s| !s.is_empty())
        .or_else(|| {
            std::env::var("HOSTNAME")
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Where the CA lives for this configuration: `<state-dir>/certs`.
pub fn certs_dir(config: &Config) -> PathBuf {
    config.state_dir.join("certs")
}

/// Loads the local CA from `dir`, or creates it there with the name constraints this configuration
/// needs.
pub fn load_ca(config: &Config, dir: &Path) -> Result<CertAuthority, TlsError> {
    let host = localstack_host(config);
    let constraints = NameConstraintsPolicy::skyport_default(Some(&host), &listen_ips(config));
    CertAuthority::load_or_create(dir, &host_label(), &constraints).map_err(|source| TlsError::Ca {
        dir: dir.to_owned(),
        source,
    })
}

/// Builds the gateway's TLS configuration: the CA from `certs_dir`, leaves minted per SNI for
/// Skyport's zones (the AWS ones only when `SKYPORT_DNS_AWS_NAMES` is on), the custom certificate first
/// when `CUSTOM_SSL_CERT_PATH` is set, ALPN `h2` and `http/1.1`.
pub fn build(config: &Config, certs_dir: &Path) -> Result<TlsSetup, TlsError> {
    let ca = Arc::new(load_ca(config, certs_dir)?);
    let cert_path = certs_dir.join(skyport_certs::ca::CA_CERT_FILE);
    let host = localstack_host(config);
    let mut resolver_config =
        ResolverConfig::skyport_default(Some(&host), config.dns.aws_names, &listen_ips(config));
    if let Some(path) = &config.custom_ssl_cert_path {
        let custom = CustomCert::load(path).map_err(|source| TlsError::CustomCert {
            path: path.clone(),
            source,
        })?;
        tracing::info!(
            path = %path.display(),
            names = %custom.dns_names().join(","),
            "serving the custom certificate (CUSTOM_SSL_CERT_PATH) for the names it covers"
        );
        resolver_config.custom.push(custom);
    }
    let resolver = SniResolver::new(Arc::clone(&ca), resolver_config).map_err(TlsError::Config)?;
    let server_config =
        skyport_certs::server_config(Arc::new(resolver)).map_err(TlsError::Config)?;
    // The certs crate logs the creation itself (INFO, or WARN when it replaced an incomplete or
    // expired CA); this line tells every start where the CA is.
    tracing::info!(
        "HTTPS on every gateway port, certificates from the local CA {} ({})",
        cert_path.display(),
        if ca.origin() == CaOrigin::Created {
            "created now: clients must trust it"
        } else {
            "reused"
        }
    );
    Ok(TlsSetup { server_config, ca })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)], state: &Path) -> Config {
        let mut env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        env.insert("SKYPORT_STATE_DIR".to_owned(), state.display().to_string());
        Config::load(&env, false).unwrap()
    }

    #[test]
    fn listen_ips_skip_unspecified_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(
            &[(
                "GATEWAY_LISTEN",
                "0.0.0.0:4566,127.0.0.1:4566,127.0.0.1:443,[::1]:4566",
            )],
            dir.path(),
        );
        let ips: Vec<String> = listen_ips(&c).iter().map(ToString::to_string).collect();
        assert_eq!(ips, ["127.0.0.1", "::1"]);
    }

    #[test]
    fn build_creates_then_reuses_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(&[("GATEWAY_LISTEN", "127.0.0.1:0")], dir.path());
        let first = build(&c, &certs_dir(&c)).unwrap();
        assert_eq!(first.ca.origin(), CaOrigin::Created);
        assert!(first.server_config.alpn_protocols.contains(&b"h2".to_vec()));
        let second = build(&c, &certs_dir(&c)).unwrap();
        assert_eq!(second.ca.origin(), CaOrigin::Loaded);
        assert_eq!(first.ca.cert_pem(), second.ca.cert_pem());
    }

    #[test]
    fn a_broken_custom_certificate_names_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("server.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let c = config(
            &[("CUSTOM_SSL_CERT_PATH", bad.to_str().unwrap())],
            dir.path(),
        );
        let err = build(&c, &certs_dir(&c)).unwrap_err();
        assert!(matches!(err, TlsError::CustomCert { .. }), "{err}");
        assert!(err.to_string().contains("CUSTOM_SSL_CERT_PATH="), "{err}");
        let missing = dir.path().join("missing.pem");
        let c = config(
            &[("CUSTOM_SSL_CERT_PATH", missing.to_str().unwrap())],
            dir.path(),
        );
        let err = build(&c, &certs_dir(&c)).unwrap_err();
        assert!(err.to_string().contains("CUSTOM_SSL_CERT_PATH="), "{err}");
    }
}

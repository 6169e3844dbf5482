//! The one error type of this crate.
//!
//! Every variant says which side failed: a file on disk ([`CertError::Io`], [`CertError::CorruptCa`],
//! [`CertError::CustomCert`]), the local trust store ([`CertError::UnsupportedTrustStore`],
//! [`CertError::TrustCommand`]) or certificate generation itself ([`CertError::Generate`],
//! [`CertError::Tls`]).

use std::path::PathBuf;

/// Errors raised by the CA, the resolver, custom certificates and the trust-store helpers.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Reading or writing a file or directory failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("reading", "writing", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The CA files exist but cannot be used (unparsable, key does not match, not a CA).
    #[error(
        "the local CA in {dir} cannot be used: {reason}; delete ca.pem and ca.key there to make a new CA \
         (clients must then trust the new one)"
    )]
    CorruptCa {
        /// The CA directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The custom certificate file (`CUSTOM_SSL_CERT_PATH`) cannot be used.
    #[error("custom certificate {path} cannot be used: {reason}")]
    CustomCert {
        /// The custom certificate file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A name given to the CA or a policy is not a valid DNS name or IP address.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The offending input.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// rcgen failed to build or sign a certificate.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls rejected a key, certificate or configuration.
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
    /// There is no supported trust store on this system.
    #[error("no supported system trust store found ({os}); {hint}")]
    UnsupportedTrustStore {
        /// The operating system as Rust names it.
        os: &'static str,
        /// What the user can do by hand instead.
        hint: String,
    },
    /// The command that refreshes the trust store failed.
    #[error("trust store command `{command}` failed: {detail}")]
    TrustCommand {
        /// The command line that was run.
        command: String,
        /// Exit status and stderr, or why it could not be started.
        detail: String,
    },
    /// A registry name for Docker's `certs.d` that is not a `host[:port]`.
    #[error("{host:?} is not a registry host (host or host:port)")]
    InvalidRegistryHost {
        /// The name given.
        host: String,
    },
}

impl CertError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        CertError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

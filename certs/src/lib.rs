//! skyport-certs: Skyport's local certificate authority and everything TLS needs from it.
//!
//! * [`CertAuthority`]: the per-install CA under `<state-dir>/certs/` (`ca.pem`, `ca.key`), ECDSA P-256,
//!   ten years, with critical X.509 name constraints limiting it to Skyport's names and private ranges.
//! * [`SniResolver`]: a rustls [`ResolvesServerCert`](rustls::server::ResolvesServerCert) that mints a
//!   short-lived leaf for each server name in the [`NamePolicy`] (cached, single-flight), serves
//!   [`CustomCert`]s for the names they cover, and the default certificate otherwise.
//! * [`server_config`]: the rustls server configuration the proxy terminates TLS with (TLS 1.2 and 1.3,
//!   ALPN `h2` then `http/1.1`, the ring provider chosen explicitly).
//! * [`trust`]: CA export, a system-roots-plus-CA bundle, and trust-store install/uninstall.
//!
//! Typical wiring (the binary does this once at start):
//!
//! ```no_run
//! # fn main() -> Result<(), skyport_certs::CertError> {
//! use std::sync::Arc;
//! use skyport_certs::{CertAuthority, NameConstraintsPolicy, ResolverConfig, SniResolver};
//!
//! let localstack_host = Some("localhost.localstack.cloud:4566");
//! let listen_ips = ["127.0.0.1".parse().unwrap()];
//! let constraints = NameConstraintsPolicy::skyport_default(localstack_host, &listen_ips);
//! let ca = CertAuthority::load_or_create("/var/lib/localstack/certs".as_ref(), "myhost", &constraints)?;
//! let mut config = ResolverConfig::skyport_default(localstack_host, true, &listen_ips);
//! // config.custom.push(skyport_certs::CustomCert::load(path)?);  // CUSTOM_SSL_CERT_PATH
//! let resolver = Arc::new(SniResolver::new(Arc::new(ca), config)?);
//! let tls = skyport_certs::server_config(resolver)?; // Arc<rustls::ServerConfig> for tokio-rustls
//! # let _ = tls; Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod ca;
pub mod custom;
mod error;
pub mod policy;
pub mod resolver;
pub mod trust;

use std::sync::{Arc, OnceLock};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::ResolvesServerCert;

pub use ca::{CaOrigin, CertAuthority, LeafCert};
pub use custom::CustomCert;
pub use error::CertError;
pub use policy::{ConfiguredHost, IpSubnet, NameConstraintsPolicy, NamePolicy};
pub use resolver::{CertChoice, ResolverConfig, SniResolver};
pub use trust::{DockerCertsDir, TrustBundle, TrustOutcome, TrustStore, trust_bundle};

/// ALPN identifier of HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN identifier of HTTP/1.1.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The crypto provider this crate uses everywhere (ring), shared. It is passed explicitly to rustls;
/// nothing relies on, or installs, a process-wide default provider.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// The TLS server configuration for the gateway: certificates from `resolver`, TLS 1.3 and 1.2, ALPN
/// `h2` then `http/1.1`, no client authentication, stateful session cache plus session tickets.
pub fn server_config(
    resolver: Arc<dyn ResolvesServerCert>,
) -> Result<Arc<ServerConfig>, CertError> {
    let mut config = ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()];
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    Ok(Arc::new(config))
}

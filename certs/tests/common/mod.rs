//! Helpers shared by the integration tests: a CA and resolver in a temp dir, rustls clients that trust
//! only a given root, and a TLS handshake over an in-memory duplex pipe or loopback TCP.
#![allow(dead_code)]

use std::net::IpAddr;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use skyport_certs::{CertAuthority, NameConstraintsPolicy, ResolverConfig, SniResolver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub ca: Arc<CertAuthority>,
    pub resolver: Arc<SniResolver>,
    pub server: Arc<ServerConfig>,
}

/// A CA in a fresh temp dir with Skyport's default constraints, and a resolver for all zones.
pub fn fixture() -> Fixture {
    fixture_with(|_| {})
}

pub fn fixture_with(adjust: impl FnOnce(&mut ResolverConfig)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let constraints = NameConstraintsPolicy::skyport_default(None, &[]);
    let ca = Arc::new(
        CertAuthority::load_or_create(&dir.path().join("certs"), "test-host", &constraints)
            .unwrap(),
    );
    let mut config = ResolverConfig::skyport_default(None, true, &[]);
    adjust(&mut config);
    let resolver = Arc::new(SniResolver::new(Arc::clone(&ca), config).unwrap());
    let server = skyport_certs::server_config(resolver.clone()).unwrap();
    Fixture {
        dir,
        ca,
        resolver,
        server,
    }
}

/// A client that trusts only `roots`, offering `alpn`.
pub fn client_config(roots: &[CertificateDer<'static>], alpn: &[&[u8]]) -> Arc<ClientConfig> {
    client_config_versions(roots, alpn, rustls::DEFAULT_VERSIONS)
}

pub fn client_config_versions(
    roots: &[CertificateDer<'static>],
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut store = RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).unwrap();
    }
    let mut config = ClientConfig::builder_with_provider(skyport_certs::crypto_provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// What a successful client handshake saw.
#[derive(Debug)]
pub struct Seen {
    pub alpn: Option<Vec<u8>>,
    pub chain: Vec<CertificateDer<'static>>,
    pub version: Option<rustls::ProtocolVersion>,
}

/// Runs a full handshake (plus one echoed byte) over an in-memory pipe; `Err` carries the client error.
pub async fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    name: &str,
) -> Result<Seen, std::io::Error> {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server_task = tokio::spawn(async move {
        let acceptor = tokio_rustls::TlsAcceptor::from(server);
        if let Ok(mut tls) = acceptor.accept(server_io).await {
            let mut byte = [0u8; 1];
            if tls.read_exact(&mut byte).await.is_ok() {
                let _ = tls.write_all(&byte).await;
                let _ = tls.flush().await;
            }
        }
    });
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    let result = async {
        let mut tls = tokio_rustls::TlsConnector::from(client)
            .connect(server_name, client_io)
            .await?;
        tls.write_all(b"x").await?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await?;
        assert_eq!(&byte, b"x");
        let (_, conn) = tls.get_ref();
        Ok(Seen {
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            chain: conn.peer_certificates().unwrap_or_default().to_vec(),
            version: conn.protocol_version(),
        })
    }
    .await;
    let _ = server_task.await;
    result
}

/// The same over a real loopback TCP connection to `ip`.
pub async fn handshake_tcp(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    ip: IpAddr,
    name: &str,
) -> Result<Seen, std::io::Error> {
    assert!(ip.is_loopback(), "tests only talk to loopback");
    let listener = tokio::net::TcpListener::bind((ip, 0)).await?;
    let addr = listener.local_addr()?;
    let server_task = tokio::spawn(async move {
        if let Ok((stream, _)) = listener.accept().await {
            let acceptor = tokio_rustls::TlsAcceptor::from(server);
            if let Ok(mut tls) = acceptor.accept(stream).await {
                let mut byte = [0u8; 1];
                if tls.read_exact(&mut byte).await.is_ok() {
                    let _ = tls.write_all(&byte).await;
                    let _ = tls.flush().await;
                }
            }
        }
    });
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    let result = async {
        let mut tls = tokio_rustls::TlsConnector::from(client)
            .connect(server_name, stream)
            .await?;
        tls.write_all(b"x").await?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await?;
        let (_, conn) = tls.get_ref();
        Ok(Seen {
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            chain: conn.peer_certificates().unwrap_or_default().to_vec(),
            version: conn.protocol_version(),
        })
    }
    .await;
    let _ = server_task.await;
    result
}

/// The DNS and IP SANs of a DER certificate.
pub fn sans(der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    let mut out = Vec::new();
    if let Some(san) = cert.subject_alternative_name().unwrap() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => out.push(d.to_string()),
                GeneralName::IPAddress(b) => {
                    let ip: IpAddr = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).unwrap().into(),
                        _ => <[u8; 16]>::try_from(*b).unwrap().into(),
                    };
                    out.push(ip.to_string());
                }
                _ => {}
            }
        }
    }
    out
}

/// Whether a client-side error is a certificate verification failure, with its text.
pub fn cert_error(err: &std::io::Error) -> Option<rustls::CertificateError> {
    let inner = err.get_ref()?.downcast_ref::<rustls::Error>()?;
    match inner {
        rustls::Error::InvalidCertificate(e) => Some(e.clone()),
        _ => None,
    }
}

//! A user-supplied certificate (`CUSTOM_SSL_CERT_PATH`): one PEM file holding a private key (PKCS#8,
//! SEC1 or PKCS#1 RSA) and the certificate chain, leaf first, as LocalStack expects.
//!
//! The file is only ever read. The certificate is served for the names its subjectAltNames cover (DNS
//! names, with RFC 6125 one-label wildcards, and IP addresses), even names outside Skyport's own zones:
//! the user supplied it for exactly those names. Every other name is still minted by the local CA.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls_pemfile::Item;
use time::OffsetDateTime;

use crate::CertError;
use crate::policy::normalize_dns_name;

/// A loaded custom certificate and the names it covers.
#[derive(Clone)]
pub struct CustomCert {
    path: PathBuf,
    certified: Arc<CertifiedKey>,
    dns_names: Vec<String>,
    ips: Vec<IpAddr>,
    not_after: OffsetDateTime,
}

impl fmt::Debug for CustomCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomCert")
            .field("path", &self.path)
            .field("dns_names", &self.dns_names)
            .field("ips", &self.ips)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl CustomCert {
    /// Reads and checks the PEM file at `path` (read-only; the file is never written).
    pub fn load(path: &Path) -> Result<Self, CertError> {
        let pem = std::fs::read(path).map_err(|e| CertError::io("reading", path, e))?;
        Self::from_pem(&pem, path)
    }

    /// Parses PEM text; `origin` is only used in messages.
    pub fn from_pem(pem: &[u8], origin: &Path) -> Result<Self, CertError> {
        let bad = |reason: String| CertError::CustomCert {
            path: origin.to_path_buf(),
            reason,
        };
        let mut chain: Vec<CertificateDer<'static>> = Vec::new();
        let mut key: Option<PrivateKeyDer<'static>> = None;
        let mut extra_keys = 0usize;
        let mut reader = pem;
        for item in rustls_pemfile::read_all(&mut reader) {
            let item = item.map_err(|e| bad(format!("malformed PEM ({e})")))?;
            let found: Option<PrivateKeyDer<'static>> = match item {
                Item::X509Certificate(der) => {
                    chain.push(der);
                    None
                }
                Item::Pkcs8Key(k) => Some(k.into()),
                Item::Sec1Key(k) => Some(k.into()),
                Item::Pkcs1Key(k) => Some(k.into()),
                _ => None,
            };
            if let Some(found) = found {
                if key.is_none() {
                    key = Some(found);
                } else {
                    extra_keys += 1;
                }
            }
        }
        if extra_keys > 0 {
            tracing::warn!(path = %origin.display(), "custom certificate file holds several private keys; using the first");
        }
        let key = key.ok_or_else(|| bad("no private key (PKCS#8, SEC1 or RSA) found".into()))?;
        let leaf = chain
            .first()
            .ok_or_else(|| bad("no certificate found".into()))?
            .clone();
        let certified = CertifiedKey::from_der(chain, key, &crate::crypto_provider())
            .map_err(|e| bad(format!("key and certificate do not fit together ({e})")))?;

        let (_, x509) = x509_parser::parse_x509_certificate(&leaf)
            .map_err(|e| bad(format!("the first certificate is not valid X.509 ({e})")))?;
        let mut dns_names = Vec::new();
        let mut ips = Vec::new();
        if let Some(san) = x509
            .subject_alternative_name()
            .map_err(|e| bad(format!("unreadable subjectAltName ({e})")))?
        {
            use x509_parser::extensions::GeneralName;
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => {
                        if let Some(pattern) = normalize_pattern(d) {
                            dns_names.push(pattern);
                        }
                    }
                    GeneralName::IPAddress(bytes) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                            ips.push(IpAddr::from(v4));
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                            ips.push(IpAddr::from(v6));
                        }
                    }
                    _ => {}
                }
            }
        }
        let not_after = OffsetDateTime::from_unix_timestamp(x509.validity().not_after.timestamp())
            .map_err(|e| bad(format!("bad notAfter ({e})")))?;
        if dns_names.is_empty() && ips.is_empty() {
            tracing::warn!(
                path = %origin.display(),
                "custom certificate has no DNS or IP subjectAltName, so it covers no name and will not be served"
            );
        }
        if not_after < OffsetDateTime::now_utc() {
            tracing::warn!(path = %origin.display(), %not_after, "custom certificate has expired; serving it anyway");
        }
        Ok(CustomCert {
            path: origin.to_path_buf(),
            certified: Arc::new(certified),
            dns_names,
            ips,
            not_after,
        })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// DNS subjectAltNames (normalised; wildcards kept as `*.rest`).
    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }

    /// IP subjectAltNames.
    pub fn ips(&self) -> &[IpAddr] {
        &self.ips
    }

    /// End of the leaf's validity.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// The chain and key for rustls.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.certified)
    }

    /// `true` if the certificate is valid for `name` (any case, optional trailing dot): an exact DNS SAN,
    /// a `*.rest` SAN where `name` is one label followed by `rest`, or an IP SAN equal to `name`.
    pub fn covers(&self, name: &str) -> bool {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return self.ips.contains(&ip);
        }
        let Some(name) = normalize_dns_name(name) else {
            return false;
        };
        self.dns_names
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(rest) => name
                    .split_once('.')
                    .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
                None => *pattern == name,
            })
    }
}

/// Normalises a SAN: a plain name, or `*.` followed by a name of at least two labels (`*.com` and
/// partial-label wildcards such as `f*.example.com` are not honoured).
fn normalize_pattern(san: &str) -> Option<String> {
    match san.strip_prefix("*.") {
        Some(rest) => normalize_dns_name(rest)
            .filter(|r| r.contains('.'))
            .map(|r| format!("*.{r}")),
        None => normalize_dns_name(san),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert_eq!(
            normalize_pattern("*.Example.Test"),
            Some("*.example.test".into())
        );
        assert_eq!(normalize_pattern("*.com"), None);
        assert_eq!(normalize_pattern("f*.example.com"), None);
        assert_eq!(
            normalize_pattern("host.example"),
            Some("host.example".into())
        );
    }

    #[test]
    fn rejects_files_without_key_or_cert() {
        let origin = Path::new("/nonexistent/custom.pem");
        let err = CustomCert::from_pem(b"nothing here", origin).unwrap_err();
        assert!(err.to_string().contains("no private key"), "{err}");
        let key = rcgen::KeyPair::generate().unwrap();
        let err = CustomCert::from_pem(key.serialize_pem().as_bytes(), origin).unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
    }

    #[test]
    fn mismatched_key_is_rejected() {
        let key = rcgen::KeyPair::generate().unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.example.test".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let pem = format!("{}{}", other.serialize_pem(), cert.pem());
        let err = CustomCert::from_pem(pem.as_bytes(), Path::new("x.pem")).unwrap_err();
        assert!(err.to_string().contains("do not fit"), "{err}");
    }

    #[test]
    fn wildcard_and_ip_coverage() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![
            "*.example.test".to_string(),
            "example.test".to_string(),
            "10.9.8.7".to_string(),
        ])
        .unwrap()
        .self_signed(&key)
        .unwrap();
        let pem = format!("{}{}", key.serialize_pem(), cert.pem());
        let custom = CustomCert::from_pem(pem.as_bytes(), Path::new("x.pem")).unwrap();
        assert!(custom.covers("api.example.test"));
        assert!(custom.covers("API.Example.Test."));
        assert!(custom.covers("example.test"));
        assert!(custom.covers("10.9.8.7"));
        assert!(!custom.covers("a.b.example.test"));
        assert!(!custom.covers("example.test.evil"));
        assert!(!custom.covers("10.9.8.6"));
        assert!(!custom.covers("badexample.test"));
    }
}

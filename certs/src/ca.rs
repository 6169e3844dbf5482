//! The local certificate authority: created once per install under `<state-dir>/certs/`, reused on every
//! later start, and used to sign the short-lived leaf certificates the resolver mints.
//!
//! Files: `ca.pem` (the CA certificate, mode 0644) and `ca.key` (its PKCS#8 private key, mode 0600) in a
//! directory of mode 0700. Both are written atomically (temporary file, then rename).
//!
//! # Lifecycle decisions
//!
//! * **Both files present and valid**: reused as they are, so clients that trust the CA keep working.
//! * **Both missing**: a new CA is made and an INFO line says so (clients must trust it).
//! * **Only one present, or the CA expires within a day**: a new CA is made and a WARN line says that
//!   clients which trusted the old one must re-trust.
//! * **Files present but unusable** (unparsable, key does not match the certificate, not a CA): an error.
//!   Skyport never silently replaces a CA it cannot read; the error says to delete the files.
//! * **Name constraints changed** (e.g. `LOCALSTACK_HOST` now names a host the existing CA does not
//!   permit): the existing CA is **kept**, because replacing it would break every client that trusts it
//!   for the names it does cover. A WARN line lists the names it does not permit and how to rotate (delete
//!   `ca.pem` and `ca.key`, restart, re-trust). Names the CA does not permit are never minted
//!   ([`CertAuthority::permits_dns`]); they get the default certificate instead.
//! * **Loose key permissions**: the key file is reset to 0600 and the directory to 0700, with a WARN.

use std::fmt;
use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;

use crate::CertError;
use crate::policy::{IpSubnet, NameConstraintsPolicy, Permitted};

/// File name of the CA certificate inside the CA directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key inside the CA directory.
pub const CA_KEY_FILE: &str = "ca.key";

/// Validity of a newly created CA.
pub const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How far back a new certificate's `notBefore` is set, to tolerate clients with slow clocks.
pub const BACKDATE: Duration = Duration::from_secs(3600);
/// A CA closer to its expiry than this is replaced at start.
const CA_MIN_REMAINING: Duration = Duration::from_secs(24 * 3600);
/// A CA closer to its expiry than this is reported at start.
const CA_WARN_REMAINING: Duration = Duration::from_secs(90 * 24 * 3600);
/// The longest common name X.509 allows (`ub-common-name`).
const MAX_CN: usize = 64;

/// Whether [`CertAuthority::load_or_create`] found an existing CA or made a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaOrigin {
    /// Loaded from existing files.
    Loaded,
    /// Newly created (and written, unless made with [`CertAuthority::generate`]).
    Created,
}

/// A leaf certificate signed by the CA.
pub struct LeafCert {
    /// Leaf + CA chain and the signing key, ready for rustls.
    pub certified: Arc<CertifiedKey>,
    /// The leaf certificate alone, PEM encoded.
    pub cert_pem: String,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

impl fmt::Debug for LeafCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeafCert")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Skyport's local CA: its certificate, its signing key and the name constraints it carries.
pub struct CertAuthority {
    dir: Option<PathBuf>,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
    permitted: Permitted,
    not_after: OffsetDateTime,
    origin: CaOrigin,
    uncovered: Vec<String>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertAuthority")
            .field("dir", &self.dir)
            .field("origin", &self.origin)
            .field("not_after", &self.not_after)
            .field("uncovered", &self.uncovered)
            .finish_non_exhaustive()
    }
}

impl CertAuthority {
    /// Loads the CA from `dir` (normally `<state-dir>/certs`), or creates it there.
    ///
    /// `host_label` names the machine in the CA subject (`Skyport Local CA (<host_label>)`);
    /// `constraints` are written into a new CA and compared with an existing one's (see the module docs
    /// for what happens when they differ).
    pub fn load_or_create(
        dir: &Path,
        host_label: &str,
        constraints: &NameConstraintsPolicy,
    ) -> Result<Self, CertError> {
        fs::create_dir_all(dir).map_err(|e| CertError::io("creating", dir, e))?;
        secure_dir(dir);
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let cert_pem = read_optional(&cert_path)?;
        let key_pem = read_optional(&key_path)?;
        match (cert_pem, key_pem) {
            (Some(cert_pem), Some(key_pem)) => {
                secure_key_file(&key_path);
                let ca = Self::from_pem(&cert_pem, &key_pem, dir, constraints)?;
                let remaining = ca.not_after - OffsetDateTime::now_utc();
                if remaining < CA_MIN_REMAINING {
                    tracing::warn!(
                        dir = %dir.display(),
                        not_after = %ca.not_after,
                        "the local CA has expired; made a new one: clients that trusted the old CA must \
                         trust the new one (skyport certs install / skyport certs bundle)"
                    );
                    return Self::create_in(dir, host_label, constraints);
                }
                if remaining < CA_WARN_REMAINING {
                    tracing::warn!(
                        dir = %dir.display(),
                        not_after = %ca.not_after,
                        "the local CA expires soon; to rotate, delete ca.pem and ca.key and restart"
                    );
                }
                if !ca.uncovered.is_empty() {
                    tracing::warn!(
                        dir = %dir.display(),
                        not_permitted = %ca.uncovered.join(", "),
                        "the existing local CA's name constraints do not permit these names, so no \
                         certificate for them can be minted; the CA is kept so clients that trust it keep \
                         working. To rotate: delete {} and {} in {}, restart Skyport, and trust the new CA",
                        CA_CERT_FILE,
                        CA_KEY_FILE,
                        dir.display()
                    );
                }
                tracing::debug!(dir = %dir.display(), "loaded the local CA");
                Ok(ca)
            }
            (None, None) => {
                let ca = Self::create_in(dir, host_label, constraints)?;
                tracing::info!(
                    cert = %cert_path.display(),
                    "created a new local CA; clients must trust it (skyport certs install, or point \
                     AWS_CA_BUNDLE / SSL_CERT_FILE at the output of skyport certs bundle)"
                );
                Ok(ca)
            }
            (cert, _) => {
                let (present, missing) = if cert.is_some() {
                    (CA_CERT_FILE, CA_KEY_FILE)
                } else {
                    (CA_KEY_FILE, CA_CERT_FILE)
                };
                tracing::warn!(
                    dir = %dir.display(),
                    present,
                    missing,
                    "the local CA is incomplete; made a new one: clients that trusted the old CA must \
                     trust the new one"
                );
                Self::create_in(dir, host_label, constraints)
            }
        }
    }

    /// Makes a new CA in memory only (no files): for tests and throw-away runs.
    pub fn generate(
        host_label: &str,
        constraints: &NameConstraintsPolicy,
    ) -> Result<Self, CertError> {
        let (cert_pem, key) = new_ca(host_label, constraints)?;
        let mut ca = Self::from_parts(&cert_pem, key, None, constraints)?;
        ca.origin = CaOrigin::Created;
        Ok(ca)
    }

    fn create_in(
        dir: &Path,
        host_label: &str,
        constraints: &NameConstraintsPolicy,
    ) -> Result<Self, CertError> {
        let (cert_pem, key) = new_ca(host_label, constraints)?;
        // Key first: a crash in between leaves a key without a certificate, which the next start replaces.
        write_atomic(
            &dir.join(CA_KEY_FILE),
            key.serialize_pem().as_bytes(),
            0o600,
        )?;
        write_atomic(&dir.join(CA_CERT_FILE), cert_pem.as_bytes(), 0o644)?;
        let mut ca = Self::from_parts(&cert_pem, key, Some(dir), constraints)?;
        ca.origin = CaOrigin::Created;
        Ok(ca)
    }

    fn from_pem(
        cert_pem: &str,
        key_pem: &str,
        dir: &Path,
        constraints: &NameConstraintsPolicy,
    ) -> Result<Self, CertError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| CertError::CorruptCa {
            dir: dir.to_path_buf(),
            reason: format!("{CA_KEY_FILE} is not a usable private key ({e})"),
        })?;
        Self::from_parts(cert_pem, key, Some(dir), constraints)
    }

    fn from_parts(
        cert_pem: &str,
        key: KeyPair,
        dir: Option<&Path>,
        constraints: &NameConstraintsPolicy,
    ) -> Result<Self, CertError> {
        let corrupt = |reason: String| CertError::CorruptCa {
            dir: dir.map(Path::to_path_buf).unwrap_or_default(),
            reason,
        };
        let cert_der = first_pem_certificate(cert_pem)
            .ok_or_else(|| corrupt(format!("{CA_CERT_FILE} holds no PEM certificate")))?;
        let (_, x509) = x509_parser::parse_x509_certificate(&cert_der).map_err(|e| {
            corrupt(format!(
                "{CA_CERT_FILE} is not a valid X.509 certificate ({e})"
            ))
        })?;
        if !x509.is_ca() {
            return Err(corrupt(format!("{CA_CERT_FILE} is not a CA certificate")));
        }
        if x509.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(corrupt(format!(
                "{CA_KEY_FILE} does not belong to {CA_CERT_FILE}"
            )));
        }
        let permitted = parse_permitted(&x509)
            .map_err(|e| corrupt(format!("unreadable name constraints ({e})")))?;
        let not_after = OffsetDateTime::from_unix_timestamp(x509.validity().not_after.timestamp())
            .map_err(|e| corrupt(format!("bad notAfter ({e})")))?;
        let uncovered = permitted.missing(constraints);
        drop(x509);
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)
            .map_err(|e| corrupt(format!("{CA_CERT_FILE} cannot be used as an issuer ({e})")))?;
        Ok(CertAuthority {
            dir: dir.map(Path::to_path_buf),
            cert_der,
            cert_pem: cert_pem.to_string(),
            issuer,
            permitted,
            not_after,
            origin: CaOrigin::Loaded,
            uncovered,
            provider: crate::crypto_provider(),
        })
    }

    /// The CA certificate, PEM encoded: what clients must trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER encoded.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The directory holding `ca.pem` and `ca.key` (`None` for an in-memory CA).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Path of `ca.pem` (`None` for an in-memory CA).
    pub fn cert_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(CA_CERT_FILE))
    }

    /// Path of `ca.key` (`None` for an in-memory CA).
    pub fn key_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(CA_KEY_FILE))
    }

    /// Whether this CA was loaded or newly created.
    pub fn origin(&self) -> CaOrigin {
        self.origin
    }

    /// End of the CA's validity.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// Subtrees the caller asked for that this CA does not permit (non-empty only for an older CA made
    /// with different constraints), rendered as `DNS:name` / `IP:net/len`.
    pub fn uncovered(&self) -> &[String] {
        &self.uncovered
    }

    /// The DNS subtrees this CA permits; `None` if DNS names are not constrained.
    pub fn permitted_dns(&self) -> Option<&[String]> {
        self.permitted.dns.as_deref()
    }

    /// The IP subtrees this CA permits; `None` if IP addresses are not constrained.
    pub fn permitted_ips(&self) -> Option<&[IpSubnet]> {
        self.permitted.ips.as_deref()
    }

    /// `true` if a certificate for the DNS name (normalised; a leading `*.` is allowed) signed by this
    /// CA satisfies its name constraints.
    pub fn permits_dns(&self, name: &str) -> bool {
        let name = name.strip_prefix("*.").unwrap_or(name);
        self.permitted.permits_dns(name)
    }

    /// `true` if a certificate for `ip` signed by this CA satisfies its name constraints.
    pub fn permits_ip(&self, ip: IpAddr) -> bool {
        self.permitted.permits_ip(ip)
    }

    /// Signs a new ECDSA P-256 leaf for `dns_names` and `ips` (at least one name in all).
    ///
    /// The leaf is valid from [`BACKDATE`] ago for `lifetime` (capped at the CA's own expiry), carries
    /// `CA:false`, key usage digitalSignature, extended key usage serverAuth, subject and authority key
    /// identifiers, and its common name is the first DNS name when that fits in 64 characters. The
    /// returned chain is leaf + CA. Names are not checked against the name constraints here: the
    /// resolver does that; a leaf outside them would simply be rejected by clients.
    pub fn mint_leaf(
        &self,
        dns_names: &[String],
        ips: &[IpAddr],
        lifetime: Duration,
    ) -> Result<LeafCert, CertError> {
        if dns_names.is_empty() && ips.is_empty() {
            return Err(CertError::InvalidName {
                name: String::new(),
                reason: "a leaf certificate needs at least one name",
            });
        }
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.not_before = now - BACKDATE;
        params.not_after = std::cmp::min(now + lifetime, self.not_after);
        let mut dn = DistinguishedName::new();
        if let Some(first) = dns_names.first().filter(|n| n.len() <= MAX_CN) {
            dn.push(DnType::CommonName, first.as_str());
        }
        params.distinguished_name = dn;
        let mut sans = Vec::with_capacity(dns_names.len() + ips.len());
        for name in dns_names {
            let ia5 = name
                .clone()
                .try_into()
                .map_err(|_| CertError::InvalidName {
                    name: name.clone(),
                    reason: "not an IA5 string",
                })?;
            sans.push(SanType::DnsName(ia5));
        }
        sans.extend(ips.iter().copied().map(SanType::IpAddress));
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());

        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing_key = self.provider.key_provider.load_private_key(key_der)?;
        let cert_pem = cert.pem();
        let chain = vec![cert.der().clone(), self.cert_der.clone()];
        Ok(LeafCert {
            certified: Arc::new(CertifiedKey::new(chain, signing_key)),
            cert_pem,
            not_after: params.not_after,
        })
    }
}

impl CertAuthority {
    /// A certificate for a public key held elsewhere (SNS's RSA message-signing key), as PEM:
    /// `spki_der` is the key's DER SubjectPublicKeyInfo, `common_name` the subject's CN. Key usage
    /// digitalSignature, valid for `lifetime` (capped at the CA's expiry).
    pub fn certify_public_key(
        &self,
        spki_der: &[u8],
        common_name: &str,
        lifetime: Duration,
    ) -> Result<String, CertError> {
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(spki_der)?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.not_before = now - BACKDATE;
        params.not_after = std::cmp::min(now + lifetime, self.not_after);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        Ok(params.signed_by(&public_key, &self.issuer)?.pem())
    }
}

/// Makes a new CA certificate and key.
fn new_ca(
    host_label: &str,
    constraints: &NameConstraintsPolicy,
) -> Result<(String, KeyPair), CertError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    params.not_before = now - Duration::from_secs(24 * 3600);
    params.not_after = now + CA_LIFETIME;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, ca_common_name(host_label));
    dn.push(DnType::OrganizationName, "Skyport");
    dn.push(
        DnType::OrganizationalUnitName,
        "Local development CA, not for production",
    );
    params.distinguished_name = dn;
    // Path length 0: this CA signs leaves only, never another CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.name_constraints = Some(constraints.to_rcgen());
    params.serial_number = Some(random_serial());
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key))
}

/// `Skyport Local CA (<host>)`, the host shortened so the whole fits the 64-character limit.
fn ca_common_name(host_label: &str) -> String {
    const PREFIX: &str = "Skyport Local CA";
    let clean: String = host_label
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string();
    if clean.is_empty() {
        return PREFIX.to_string();
    }
    let room = MAX_CN - PREFIX.len() - 3;
    let host: String = clean.chars().take(room).collect();
    format!("{PREFIX} ({host})")
}

/// A random positive 16-byte serial number.
fn random_serial() -> rcgen::SerialNumber {
    let mut bytes = [0u8; 16];
    if crate::crypto_provider()
        .secure_random
        .fill(&mut bytes)
        .is_err()
    {
        // The system RNG failing is not recoverable in any useful way; fall back to the clock so the
        // serial is still unique per call (uniqueness, not secrecy, is what a serial needs here).
        let nanos = OffsetDateTime::now_utc()
            .unix_timestamp_nanos()
            .to_be_bytes();
        bytes.copy_from_slice(&nanos);
    }
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    rcgen::SerialNumber::from_slice(&bytes)
}

fn parse_permitted(
    x509: &x509_parser::certificate::X509Certificate<'_>,
) -> Result<Permitted, String> {
    use x509_parser::extensions::GeneralName;
    let Some(ext) = x509.name_constraints().map_err(|e| e.to_string())? else {
        return Ok(Permitted::unconstrained());
    };
    let mut dns: Option<Vec<String>> = None;
    let mut ips: Option<Vec<IpSubnet>> = None;
    for subtree in ext.value.permitted_subtrees.iter().flatten() {
        match &subtree.base {
            GeneralName::DNSName(name) => {
                dns.get_or_insert_with(Vec::new)
                    .push(name.to_ascii_lowercase());
            }
            GeneralName::IPAddress(bytes) => {
                let subnet = IpSubnet::from_x509_bytes(bytes).ok_or("bad IP subtree")?;
                ips.get_or_insert_with(Vec::new).push(subnet);
            }
            _ => {}
        }
    }
    Ok(Permitted { dns, ips })
}

/// The DER of the first `CERTIFICATE` block in `pem`.
pub(crate) fn first_pem_certificate(pem: &str) -> Option<CertificateDer<'static>> {
    let mut reader = pem.as_bytes();
    rustls_pemfile::certs(&mut reader).next()?.ok()
}

fn read_optional(path: &Path) -> Result<Option<String>, CertError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CertError::io("reading", path, e)),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory, with `mode` set explicitly.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CertError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let result = (|| {
        let mut file = options.open(&tmp)?;
        set_mode(&tmp, mode)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(CertError::io("writing", path, e));
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn current_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn current_mode(_path: &Path) -> Option<u32> {
    None
}

/// Sets the CA directory to 0755: anyone on the machine may read the certificate (`ca.pem`, 0644; e.g.
/// the host user from a volume a root container wrote), nobody else may add or replace files; the key
/// is protected by its own mode, 0600. Warns if that fails.
fn secure_dir(dir: &Path) {
    if current_mode(dir).is_some_and(|m| m != 0o755)
        && let Err(e) = set_mode(dir, 0o755)
    {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot set the CA directory to mode 0755");
    }
}

/// Resets a key file readable by others to 0600, with a warning.
fn secure_key_file(path: &Path) {
    if let Some(mode) = current_mode(path).filter(|m| m & 0o077 != 0) {
        match set_mode(path, 0o600) {
            Ok(()) => tracing::warn!(
                key = %path.display(),
                old_mode = format_args!("{mode:o}"),
                "the CA key was readable by other users; reset it to mode 0600"
            ),
            Err(e) => tracing::warn!(
                key = %path.display(),
                old_mode = format_args!("{mode:o}"),
                error = %e,
                "the CA key is readable by other users and its mode cannot be fixed"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_name_fits() {
        assert_eq!(ca_common_name("box"), "Skyport Local CA (box)");
        assert_eq!(ca_common_name(""), "Skyport Local CA");
        assert!(ca_common_name(&"h".repeat(200)).len() <= MAX_CN);
        assert_eq!(ca_common_name("a\nb"), "Skyport Local CA (ab)");
    }

    #[test]
    fn generated_ca_has_constraints_and_mints() {
        let policy = NameConstraintsPolicy::skyport_default(None, &[]);
        let ca = CertAuthority::generate("test", &policy).unwrap();
        assert_eq!(ca.origin(), CaOrigin::Created);
        assert!(ca.uncovered().is_empty());
        assert!(ca.permits_dns("*.s3.us-east-1.amazonaws.com"));
        assert!(!ca.permits_dns("www.google.com"));
        assert!(ca.permits_ip("127.0.0.1".parse().unwrap()));
        assert!(!ca.permits_ip("8.8.8.8".parse().unwrap()));
        let (_, x509) = x509_parser::parse_x509_certificate(ca.cert_der()).unwrap();
        let nc = x509.name_constraints().unwrap().unwrap();
        assert!(nc.critical, "name constraints must be critical");
        let leaf = ca
            .mint_leaf(&["s3.amazonaws.com".into()], &[], Duration::from_secs(3600))
            .unwrap();
        assert_eq!(leaf.certified.cert.len(), 2);
        assert!(leaf.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(ca.mint_leaf(&[], &[], Duration::from_secs(1)).is_err());
    }
}

//! Getting clients to trust the local CA: a PEM bundle of the system roots plus the CA (for
//! `AWS_CA_BUNDLE`, `REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`), and installing the CA
//! into / removing it from the operating system's trust store.
//!
//! The trust-store operations take a [`TrustStore`] value (target file and refresh commands), so tests
//! can point them at a temporary directory and a harmless command instead of the real system.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::CertError;
use crate::ca::write_atomic;

/// Where Linux distributions and BSDs keep the PEM bundle of trusted roots, most common first.
pub const SYSTEM_BUNDLE_PATHS: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Gentoo, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL, CentOS
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // RHEL 7+
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/ssl/cert.pem",                  // Alpine, macOS, OpenBSD
    "/usr/local/share/certs/ca-root-nss.crt", // FreeBSD
    "/usr/local/etc/openssl/cert.pem",    // Homebrew OpenSSL
];

/// File name of the CA in a system trust store directory.
pub const TRUST_STORE_FILE_NAME: &str = "skyport-ca.crt";

const PEM_BEGIN: &str = "-----BEGIN CERTIFICATE-----";

/// A PEM bundle of trusted roots that includes the local CA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustBundle {
    /// The bundle: the system roots (if found), then the local CA.
    pub pem: String,
    /// The file the system roots were read from, if one was found.
    pub system_roots_from: Option<PathBuf>,
    /// How many system root certificates the bundle holds.
    pub system_root_count: usize,
}

/// System roots (from the first of [`SYSTEM_BUNDLE_PATHS`] that holds certificates) plus `ca_pem`.
pub fn trust_bundle(ca_pem: &str) -> TrustBundle {
    let candidates: Vec<PathBuf> = SYSTEM_BUNDLE_PATHS.iter().map(PathBuf::from).collect();
    trust_bundle_from(ca_pem, &candidates)
}

/// Like [`trust_bundle`] with explicit candidate files. When none holds a certificate, the bundle is
/// the local CA alone (a warning says so: clients given it will trust nothing but Skyport).
pub fn trust_bundle_from(ca_pem: &str, candidates: &[PathBuf]) -> TrustBundle {
    let ca_pem = ensure_newline(ca_pem.trim_start());
    for path in candidates {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let count = text.matches(PEM_BEGIN).count();
        if count == 0 {
            continue;
        }
        let mut pem = ensure_newline(&text);
        // Already installed in the system store: do not list it twice.
        let ca_body = pem_body(&ca_pem);
        if ca_body.is_empty() || !squash(&pem).contains(&ca_body) {
            pem.push_str("# Skyport local CA\n");
            pem.push_str(&ca_pem);
        }
        return TrustBundle {
            pem,
            system_roots_from: Some(path.clone()),
            system_root_count: count,
        };
    }
    tracing::warn!(
        "no system CA bundle found; the trust bundle holds only the Skyport CA, so clients using it will \
         trust Skyport and nothing else"
    );
    TrustBundle {
        pem: ca_pem,
        system_roots_from: None,
        system_root_count: 0,
    }
}

fn ensure_newline(s: &str) -> String {
    let mut out = s.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Base64 body of the first certificate, whitespace removed.
fn pem_body(pem: &str) -> String {
    let Some(start) = pem.find(PEM_BEGIN) else {
        return String::new();
    };
    let rest = &pem[start + PEM_BEGIN.len()..];
    let end = rest.find("-----END").unwrap_or(rest.len());
    squash(&rest[..end])
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// What an install or uninstall did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustOutcome {
    /// The CA file was written (new or changed) and the store refreshed.
    Installed,
    /// The same CA was already there; the store was refreshed anyway.
    AlreadyInstalled,
    /// The CA file was removed and the store refreshed.
    Removed,
    /// There was nothing to remove; the store was refreshed anyway.
    NotInstalled,
}

/// A system trust store: the file the CA is copied to and the commands that rebuild the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustStore {
    /// A human name for messages ("Debian/Ubuntu").
    pub name: String,
    /// Where the CA certificate is written.
    pub cert_path: PathBuf,
    /// Program and arguments run after writing the file.
    pub install_command: Vec<String>,
    /// Program and arguments run after removing the file.
    pub uninstall_command: Vec<String>,
}

impl TrustStore {
    /// Debian, Ubuntu and derivatives (also Alpine): `/usr/local/share/ca-certificates/skyport-ca.crt`
    /// and `update-ca-certificates` (`--fresh` on removal, so the hash link goes too).
    pub fn debian() -> Self {
        TrustStore {
            name: "Debian/Ubuntu".to_string(),
            cert_path: Path::new("/usr/local/share/ca-certificates").join(TRUST_STORE_FILE_NAME),
            install_command: vec!["update-ca-certificates".to_string()],
            uninstall_command: vec!["update-ca-certificates".to_string(), "--fresh".to_string()],
        }
    }

    /// Fedora, RHEL and derivatives: `/etc/pki/ca-trust/source/anchors/skyport-ca.crt` and
    /// `update-ca-trust extract`.
    pub fn fedora() -> Self {
        let refresh = vec!["update-ca-trust".to_string(), "extract".to_string()];
        TrustStore {
            name: "Fedora/RHEL".to_string(),
            cert_path: Path::new("/etc/pki/ca-trust/source/anchors").join(TRUST_STORE_FILE_NAME),
            install_command: refresh.clone(),
            uninstall_command: refresh,
        }
    }

    /// The store of this system, or [`CertError::UnsupportedTrustStore`] with manual instructions.
    pub fn detect() -> Result<Self, CertError> {
        let os = std::env::consts::OS;
        if os == "linux" {
            if Path::new("/usr/local/share/ca-certificates").is_dir()
                || on_path("update-ca-certificates")
            {
                return Ok(TrustStore::debian());
            }
            if Path::new("/etc/pki/ca-trust/source/anchors").is_dir() || on_path("update-ca-trust")
            {
                return Ok(TrustStore::fedora());
            }
        }
        let hint = match os {
            "macos" => "add it by hand: sudo security add-trusted-cert -d -r trustRoot \
                        -k /Library/Keychains/System.keychain <ca.pem>"
                .to_string(),
            "windows" => "add it by hand: certutil -addstore -f ROOT <ca.pem>".to_string(),
            _ => "install the ca-certificates package, or point AWS_CA_BUNDLE / SSL_CERT_FILE at the \
                  output of `skyport certs bundle`"
                .to_string(),
        };
        Err(CertError::UnsupportedTrustStore { os, hint })
    }

    /// Writes `ca_pem` to [`TrustStore::cert_path`] (mode 0644) and runs the install command.
    pub fn install(&self, ca_pem: &str) -> Result<TrustOutcome, CertError> {
        let existing = std::fs::read_to_string(&self.cert_path).ok();
        let outcome = if existing.as_deref() == Some(ca_pem) {
            TrustOutcome::AlreadyInstalled
        } else {
            if let Some(parent) = self.cert_path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| CertError::io("creating", parent, e))?;
            }
            write_atomic(&self.cert_path, ca_pem.as_bytes(), 0o644)?;
            TrustOutcome::Installed
        };
        run(&self.install_command)?;
        tracing::info!(store = %self.name, path = %self.cert_path.display(), ?outcome, "Skyport CA installed in the system trust store");
        Ok(outcome)
    }

    /// Removes [`TrustStore::cert_path`] (if present) and runs the uninstall command.
    pub fn uninstall(&self) -> Result<TrustOutcome, CertError> {
        let outcome = match std::fs::remove_file(&self.cert_path) {
            Ok(()) => TrustOutcome::Removed,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TrustOutcome::NotInstalled,
            Err(e) => return Err(CertError::io("removing", &self.cert_path, e)),
        };
        run(&self.uninstall_command)?;
        tracing::info!(store = %self.name, path = %self.cert_path.display(), ?outcome, "Skyport CA removed from the system trust store");
        Ok(outcome)
    }
}

/// The Docker Engine's trust for one registry: `<certs.d>/<host[:port]>/ca.crt`, which the daemon reads
/// on every connection to that registry (no restart needed). `docker push` to an HTTPS registry whose
/// certificate chains to the local CA needs it, since the daemon does not use the system trust store
/// for registries it was not restarted with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DockerCertsDir {
    /// The `certs.d` directory.
    pub root: PathBuf,
}

/// File name Docker reads a registry's CA from.
pub const DOCKER_CA_FILE_NAME: &str = "ca.crt";

impl DockerCertsDir {
    /// `/etc/docker/certs.d` (Docker Engine on Linux), or `~/.docker/certs.d` on macOS and Windows
    /// (Docker Desktop).
    pub fn for_this_os() -> Self {
        let root = match (std::env::consts::OS, std::env::var_os("HOME")) {
            ("linux", _) | (_, None) => PathBuf::from("/etc/docker/certs.d"),
            (_, Some(home)) => Path::new(&home).join(".docker").join("certs.d"),
        };
        DockerCertsDir { root }
    }

    /// The directory of `registry` (`host` or `host:port`), refusing names that are not a registry
    /// host (a path separator, `..`, empty).
    pub fn registry_dir(&self, registry: &str) -> Result<PathBuf, CertError> {
        let valid = !registry.is_empty()
            && registry != "."
            && registry != ".."
            && registry.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
        if !valid {
            return Err(CertError::InvalidRegistryHost {
                host: registry.to_owned(),
            });
        }
        Ok(self.root.join(registry))
    }

    /// Writes `ca_pem` as the CA of `registry` (mode 0644), creating its directory.
    pub fn install(
        &self,
        registry: &str,
        ca_pem: &str,
    ) -> Result<(PathBuf, TrustOutcome), CertError> {
        let dir = self.registry_dir(registry)?;
        let path = dir.join(DOCKER_CA_FILE_NAME);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(ca_pem) {
            return Ok((path, TrustOutcome::AlreadyInstalled));
        }
        std::fs::create_dir_all(&dir).map_err(|e| CertError::io("creating", &dir, e))?;
        write_atomic(&path, ca_pem.as_bytes(), 0o644)?;
        tracing::info!(registry, path = %path.display(), "Skyport CA installed for the Docker Engine");
        Ok((path, TrustOutcome::Installed))
    }

    /// Removes the CA of `registry` (if present) and its directory when that is left empty.
    pub fn uninstall(&self, registry: &str) -> Result<(PathBuf, TrustOutcome), CertError> {
        let dir = self.registry_dir(registry)?;
        let path = dir.join(DOCKER_CA_FILE_NAME);
        let outcome = match std::fs::remove_file(&path) {
            Ok(()) => TrustOutcome::Removed,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TrustOutcome::NotInstalled,
            Err(e) => return Err(CertError::io("removing", &path, e)),
        };
        // Only an empty directory goes: client certificates someone put beside it stay.
        let _ = std::fs::remove_dir(&dir);
        Ok((path, outcome))
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn run(command: &[String]) -> Result<(), CertError> {
    let Some((program, args)) = command.split_first() else {
        return Ok(());
    };
    let line = command.join(" ");
    let output =
        Command::new(program)
            .args(args)
            .output()
            .map_err(|e| CertError::TrustCommand {
                command: line.clone(),
                detail: format!("cannot run it ({e})"),
            })?;
    if !output.status.success() {
        return Err(CertError::TrustCommand {
            command: line,
            detail: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nQUJD\nREVG\n-----END CERTIFICATE-----\n";

    #[test]
    fn docker_certs_dir_installs_and_removes_per_registry() {
        let dir = tempfile::tempdir().unwrap();
        let certs = DockerCertsDir {
            root: dir.path().join("certs.d"),
        };
        let host = "000000000000.dkr.ecr.us-east-1.localhost.localstack.cloud:4566";
        let (path, outcome) = certs.install(host, CA).unwrap();
        assert_eq!(outcome, TrustOutcome::Installed);
        assert_eq!(path, dir.path().join("certs.d").join(host).join("ca.crt"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), CA);
        assert_eq!(
            certs.install(host, CA).unwrap().1,
            TrustOutcome::AlreadyInstalled
        );
        assert_eq!(certs.uninstall(host).unwrap().1, TrustOutcome::Removed);
        assert!(!path.parent().unwrap().exists());
        assert_eq!(certs.uninstall(host).unwrap().1, TrustOutcome::NotInstalled);
        for bad in ["", "..", "a/b", "../etc", "host name"] {
            assert!(
                matches!(
                    certs.install(bad, CA),
                    Err(CertError::InvalidRegistryHost { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bundle_appends_ca_to_system_roots() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let roots = dir.path().join("roots.pem");
        std::fs::write(
            &roots,
            "-----BEGIN CERTIFICATE-----\nWFla\n-----END CERTIFICATE-----",
        )
        .unwrap();
        let missing = dir.path().join("missing.pem");
        let b = trust_bundle_from(CA, &[missing.clone(), empty, roots.clone()]);
        assert_eq!(b.system_roots_from.as_deref(), Some(roots.as_path()));
        assert_eq!(b.system_root_count, 1);
        assert!(
            b.pem
                .starts_with("-----BEGIN CERTIFICATE-----\nWFla\n-----END CERTIFICATE-----\n")
        );
        assert!(b.pem.ends_with(CA));
        assert_eq!(b.pem.matches(PEM_BEGIN).count(), 2);

        let none = trust_bundle_from(CA, &[missing]);
        assert_eq!(none.pem, CA);
        assert_eq!(none.system_roots_from, None);
    }

    #[test]
    fn bundle_does_not_duplicate_an_installed_ca() {
        let dir = tempfile::tempdir().unwrap();
        let roots = dir.path().join("roots.pem");
        std::fs::write(
            &roots,
            format!("-----BEGIN CERTIFICATE-----\nWFla\n-----END CERTIFICATE-----\n{CA}"),
        )
        .unwrap();
        let b = trust_bundle_from(CA, &[roots]);
        assert_eq!(b.pem.matches(PEM_BEGIN).count(), 2);
    }

    #[test]
    fn real_system_bundle_when_present() {
        let b = trust_bundle(CA);
        assert!(b.pem.contains("QUJD"));
        if b.system_roots_from.is_some() {
            assert!(b.system_root_count > 0);
        }
    }

    #[test]
    fn install_and_uninstall_in_a_temp_store() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("refreshed");
        let store = TrustStore {
            name: "test".into(),
            cert_path: dir.path().join("anchors").join(TRUST_STORE_FILE_NAME),
            install_command: vec!["touch".into(), marker.display().to_string()],
            uninstall_command: vec!["rm".into(), "-f".into(), marker.display().to_string()],
        };
        assert_eq!(store.install(CA).unwrap(), TrustOutcome::Installed);
        assert!(marker.exists(), "install command ran");
        assert_eq!(std::fs::read_to_string(&store.cert_path).unwrap(), CA);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&store.cert_path)
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o644);
        }
        assert_eq!(store.install(CA).unwrap(), TrustOutcome::AlreadyInstalled);
        assert_eq!(store.uninstall().unwrap(), TrustOutcome::Removed);
        assert!(!store.cert_path.exists());
        assert!(!marker.exists(), "uninstall command ran");
        assert_eq!(store.uninstall().unwrap(), TrustOutcome::NotInstalled);
    }

    #[test]
    fn failing_or_missing_commands_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = TrustStore {
            name: "test".into(),
            cert_path: dir.path().join(TRUST_STORE_FILE_NAME),
            install_command: vec!["false".into()],
            uninstall_command: vec!["skyport-no-such-command-xyz".into()],
        };
        let err = store.install(CA).unwrap_err();
        assert!(matches!(err, CertError::TrustCommand { .. }), "{err}");
        let err = store.uninstall().unwrap_err();
        assert!(err.to_string().contains("cannot run it"), "{err}");
        store.install_command.clear();
        assert_eq!(store.install(CA).unwrap(), TrustOutcome::Installed);
    }

    #[test]
    fn known_stores() {
        assert_eq!(
            TrustStore::debian().cert_path,
            PathBuf::from("/usr/local/share/ca-certificates/skyport-ca.crt")
        );
        assert_eq!(
            TrustStore::fedora().install_command,
            ["update-ca-trust", "extract"]
        );
        // detect() either finds a store or explains what to do; it never touches the system.
        match TrustStore::detect() {
            Ok(store) => assert!(store.cert_path.ends_with(TRUST_STORE_FILE_NAME)),
            Err(e) => assert!(matches!(e, CertError::UnsupportedTrustStore { .. })),
        }
    }
}

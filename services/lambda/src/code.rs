//! Function code: deployment packages (zip archives) checked as Lambda checks them, stored
//! content-addressed by SHA-256 (`<state>/lambda/code/<sha256>.zip`, fsynced with persistence), and
//! unpacked for the executors (a directory for the local executor, a tar stream for Docker).

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::record::CodeRef;

/// The largest unzipped package Lambda accepts (250 MB).
pub const MAX_UNZIPPED: u64 = 262_144_000;
/// The largest zipped package accepted in the request (`ZipFile`, 50 MB).
pub const MAX_ZIPPED: usize = 52_428_800;

/// Why a package was refused or could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// Not a zip archive Lambda can read.
    #[error("Could not unzip uploaded file. Please check your file, then try to upload again.")]
    NotAZip,
    /// Unzipped larger than the limit.
    #[error("Unzipped size must be smaller than {MAX_UNZIPPED} bytes")]
    TooLargeUnzipped,
    /// An entry's path leaves the package (`../x`, an absolute path).
    #[error("The package contains a path outside the function's directory: {0}")]
    UnsafePath(String),
    /// The code store failed.
    #[error("code store: {0}")]
    Io(#[from] std::io::Error),
}

/// Where packages live.
#[derive(Debug, Clone)]
pub struct CodeStore {
    dir: PathBuf,
    durable: bool,
}

/// The SHA-256 of `bytes`, hex and base64 (Lambda's `CodeSha256`).
pub fn digests(bytes: &[u8]) -> (String, String) {
    use base64::Engine;
    let sum = Sha256::digest(bytes);
    (
        skyport_core::ids::hex(&sum),
        base64::engine::general_purpose::STANDARD.encode(sum),
    )
}

/// The file entries of a package: safe relative path, unix mode, and contents.
pub struct Entry {
    /// The path inside the package (no `..`, not absolute).
    pub path: String,
    /// The unix mode (from the archive; 0644 or 0755 when it has none).
    pub mode: u32,
    /// A directory entry.
    pub dir: bool,
    /// The contents (empty for directories).
    pub data: Vec<u8>,
}

fn safe_path(name: &str) -> Result<String, CodeError> {
    let trimmed = name.trim_start_matches("./");
    let path = Path::new(trimmed);
    if path.is_absolute()
        || path
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(CodeError::UnsafePath(name.to_owned()));
    }
    Ok(trimmed.trim_end_matches('/').to_owned())
}

/// Reads every entry of a package, checking what Lambda checks (a readable zip, the unzipped size).
pub fn entries(zip: &[u8]) -> Result<Vec<Entry>, CodeError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).map_err(|_| CodeError::NotAZip)?;
    let mut total = 0u64;
    let mut out = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(|_| CodeError::NotAZip)?;
        let name = file.name().map_err(|_| CodeError::NotAZip)?.into_owned();
        let path = safe_path(&name)?;
        if path.is_empty() {
            continue;
        }
        total += file.size();
        if total > MAX_UNZIPPED {
            return Err(CodeError::TooLargeUnzipped);
        }
        let dir = file.is_dir();
        let mut data = Vec::new();
        if !dir {
            file.read_to_end(&mut data)
                .map_err(|_| CodeError::NotAZip)?;
        }
        let mode = file
            .unix_mode()
            .map(|m| m & 0o7777)
            .filter(|m| *m != 0)
            .unwrap_or(if dir { 0o755 } else { 0o644 })
            // Lambda runs code as another user: everything must be world-readable.
            | if dir { 0o555 } else { 0o444 };
        out.push(Entry {
            path,
            mode,
            dir,
            data,
        });
    }
    Ok(out)
}

/// Whether the package has a file at `path` (e.g. `bootstrap`).
pub fn has_file(zip: &[u8], path: &str) -> bool {
    zip::ZipArchive::new(Cursor::new(zip))
        .ok()
        .is_some_and(|mut a| a.by_name(path).is_ok())
}

/// One tar archive of several sources, each a list of entries placed under its prefix (`var/task`,
/// `opt`, or `""` for absolute paths), in order: unpacked, a later file replaces an earlier one at the same
/// path, which is how layers stack in `/opt`. Each directory is written once, before its first file.
pub fn tar(sources: &[(&[Entry], &str)]) -> std::io::Result<Vec<u8>> {
    let size: usize = sources
        .iter()
        .flat_map(|(entries, _)| entries.iter())
        .map(|e| 512 + e.data.len().div_ceil(512) * 512)
        .sum();
    let mut builder = tar::Builder::new(Vec::with_capacity(size + 1024));
    let mut dirs = std::collections::BTreeSet::new();
    let mut add_dir = |builder: &mut tar::Builder<Vec<u8>>, path: &str| -> std::io::Result<()> {
        if path.is_empty() || !dirs.insert(path.to_owned()) {
            return Ok(());
        }
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        builder.append_data(&mut header, format!("{path}/"), std::io::empty())
    };
    for (entries, prefix) in sources {
        for (i, _) in prefix.match_indices('/').chain([(prefix.len(), "")]) {
            add_dir(&mut builder, &prefix[..i])?;
        }
        for e in entries.iter() {
            let full = if prefix.is_empty() {
                e.path.clone()
            } else {
                format!("{prefix}/{}", e.path)
            };
            let parent = Path::new(&full)
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut acc = String::new();
            for part in parent.split('/') {
                if !acc.is_empty() {
                    acc.push('/');
                }
                acc.push_str(part);
                add_dir(&mut builder, &acc)?;
            }
            if e.dir {
                add_dir(&mut builder, &full)?;
                continue;
            }
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(e.mode);
            header.set_size(e.data.len() as u64);
            builder.append_data(&mut header, &full, e.data.as_slice())?;
        }
    }
    builder.into_inner()
}

/// Reads the package at `path` and lists its entries (blocking).
pub fn entries_of_file(path: &Path) -> Result<Vec<Entry>, String> {
    let zip = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    entries(&zip).map_err(|e| e.to_string())
}

/// Reads the package at `path` and unpacks it into `dir` (blocking; later files replace earlier ones,
/// which is how layers stack in `/opt`).
pub fn unpack_file(path: &Path, dir: &Path) -> Result<(), String> {
    unpack(&entries_of_file(path)?, dir).map_err(|e| e.to_string())
}

/// A fingerprint of a hot-reload directory's files (paths, sizes and modification times), so that a
/// change under it starts a fresh environment. Walks at most 20,000 entries (blocking).
pub fn dir_stamp(dir: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut pending = vec![dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(next) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            seen += 1;
            if seen > 20_000 {
                return format!("{:016x}", hasher.finish());
            }
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            entry.path().hash(&mut hasher);
            meta.len().hash(&mut hasher);
            if let Ok(modified) = meta.modified() {
                modified.hash(&mut hasher);
            }
            if meta.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    format!("{:016x}", hasher.finish())
}

/// Unpacks the package into `dir` (for the local executor).
pub fn unpack(entries: &[Entry], dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for e in entries {
        let path = dir.join(&e.path);
        if e.dir {
            std::fs::create_dir_all(&path)?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // A file an earlier layer put here is replaced (it may be read-only).
        if path.is_file() {
            std::fs::remove_file(&path)?;
        }
        let mut file = std::fs::File::create(&path)?;
        file.write_all(&e.data)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(e.mode))?;
        }
    }
    Ok(())
}

/// Where the code store in `dir` keeps the package `sha256`.
pub fn package_path(dir: &Path, sha256: &str) -> PathBuf {
    dir.join(format!("{sha256}.zip"))
}

impl CodeStore {
    /// The code store in `dir` (fsyncing writes when `durable`).
    pub fn open(dir: PathBuf, durable: bool) -> std::io::Result<CodeStore> {
        std::fs::create_dir_all(&dir)?;
        Ok(CodeStore { dir, durable })
    }

    /// The path of the package `sha256`.
    pub fn path(&self, sha256: &str) -> PathBuf {
        package_path(&self.dir, sha256)
    }

    /// Checks and stores a package; its reference.
    pub async fn put(&self, zip: Bytes) -> Result<(CodeRef, String), CodeError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.put_blocking(&zip))
            .await
            .map_err(|e| CodeError::Io(std::io::Error::other(e)))?
    }

    fn put_blocking(&self, zip: &[u8]) -> Result<(CodeRef, String), CodeError> {
        entries(zip)?;
        let (hex, b64) = digests(zip);
        let path = self.path(&hex);
        if !path.exists() {
            let tmp = self.dir.join(format!(".{hex}.{}.tmp", std::process::id()));
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(zip)?;
            if self.durable {
                file.sync_all()?;
            }
            drop(file);
            std::fs::rename(&tmp, &path)?;
            if self.durable
                && let Ok(dir) = std::fs::File::open(&self.dir)
            {
                dir.sync_all()?;
            }
        }
        Ok((
            CodeRef {
                sha256: hex,
                size: zip.len() as u64,
                hot_reload: None,
                image_uri: None,
                resolved_image_uri: None,
                layers: Vec::new(),
            },
            b64,
        ))
    }

    /// The package `sha256`.
    pub async fn get(&self, sha256: &str) -> std::io::Result<Bytes> {
        let path = self.path(sha256);
        tokio::task::spawn_blocking(move || std::fs::read(path).map(Bytes::from))
            .await
            .map_err(std::io::Error::other)?
    }

    /// The directory of the packages (`<sha256>.zip` each).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True when packages are fsynced.
    pub fn durable(&self) -> bool {
        self.durable
    }

    /// Removes packages no function refers to any more.
    pub fn sweep(&self, referenced: &std::collections::HashSet<String>) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in dir.flatten() {
            let name = entry.file_name();
            let Some(sha) = name.to_str().and_then(|n| n.strip_suffix(".zip")) else {
                continue;
            };
            if !referenced.contains(sha) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data, mode) in files {
            let options = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
            w.start_file(*name, options).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn reads_and_checks_packages() {
        let zip = zip_of(&[
            ("handler.py", b"def main(e, c): return 1", 0o600),
            ("bootstrap", b"#!/bin/sh", 0o700),
        ]);
        let files = entries(&zip).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].mode & 0o444, 0o444, "world-readable");
        assert_eq!(files[1].mode, 0o744);
        assert!(has_file(&zip, "bootstrap"));
        assert!(matches!(entries(b"not a zip"), Err(CodeError::NotAZip)));
        let evil = zip_of(&[("../escape", b"x", 0o644)]);
        assert!(matches!(entries(&evil), Err(CodeError::UnsafePath(_))));
        let trust = [Entry {
            path: "etc/skyport/ca.pem".to_owned(),
            mode: 0o644,
            dir: false,
            data: b"pem".to_vec(),
        }];
        let tarball = tar(&[(&files, "var/task"), (&files, "opt"), (&trust, "")]).unwrap();
        let mut archive = tar::Archive::new(Cursor::new(tarball));
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        for name in [
            "var/",
            "var/task/",
            "var/task/handler.py",
            "opt/bootstrap",
            "etc/skyport/",
            "etc/skyport/ca.pem",
        ] {
            assert!(names.contains(&name.to_owned()), "{name} in {names:?}");
        }
        let var = names.iter().filter(|n| *n == "var/").count();
        assert_eq!(var, 1, "each directory once: {names:?}");
    }
}

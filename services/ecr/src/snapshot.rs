//! State control: reset, export and import of repositories, images and their blobs
//! (`skyport_core::state`).
//!
//! A snapshot holds the store's tables (repositories, images, manifests, tags, links, blob records)
//! and each blob's bytes as a `file` frame named `blobs/<hex digest>`, streamed from its file. The
//! authorization-token key (`keys`) is neither exported nor reset: tokens `docker login` holds keep
//! working across a reset or an import. Uploads in progress are dropped by both.
//!
//! Export runs beside requests: the metadata comes from one store snapshot, and a blob a concurrent
//! delete removed before it could be opened is left out with its record. Reset and import run with no
//! ECR request in flight (the gateway's gate).

use skyport_core::state::{SnapshotWriter, Staged, StateControl, StateError};

use crate::Ecr;
use crate::blobs::parse_digest;
use crate::state::{BLOBS, KEYS};

impl Ecr {
    /// Empties the store (but the token key) and the blob files.
    async fn clear(&self, entries: Vec<(String, String, Vec<u8>)>) -> Result<(), StateError> {
        self.store()
            .write_async(move |w| {
                let key = w.get(KEYS, "token")?;
                w.clear()?;
                if let Some(key) = key {
                    w.put(KEYS, "token", &key)?;
                }
                for (table, key, value) in &entries {
                    w.put(table, key, value)?;
                }
                Ok(())
            })
            .await?;
        let blobs = self.inner.blobs.clone();
        skyport_core::state::blocking(move || Ok(blobs.clear_all()?)).await
    }
}

#[async_trait::async_trait]
impl StateControl for Ecr {
    async fn reset(&self) -> Result<(), StateError> {
        self.clear(Vec::new()).await
    }

    async fn export(&self, out: &mut SnapshotWriter<'_>) -> Result<(), StateError> {
        let entries = skyport_core::state::store_entries(self.store(), &[KEYS])?;
        for (table, key, value) in entries {
            if table == BLOBS {
                let Ok(path) = self.inner.blobs.path(&key) else {
                    continue;
                };
                let hex = key.trim_start_matches("sha256:");
                match out.file_from_disk(&format!("blobs/{hex}"), &path).await {
                    Ok(()) => {}
                    Err(StateError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                        tracing::debug!(digest = %key, "blob deleted during the export; left out");
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            out.entry(&table, &key, &value).await?;
        }
        Ok(())
    }

    async fn import(&self, mut staged: Staged) -> Result<(), StateError> {
        let mut files = Vec::new();
        for (path, file) in std::mem::take(&mut staged.files) {
            let digest = path
                .strip_prefix("blobs/")
                .map(|hex| format!("sha256:{hex}"))
                .filter(|d| parse_digest(d).is_ok())
                .ok_or_else(|| StateError::Format(format!("unexpected ECR file {path:?}")))?;
            files.push((digest, file));
        }
        let entries: Vec<_> = std::mem::take(&mut staged.entries)
            .into_iter()
            .filter(|(table, _, _)| table != KEYS)
            .collect();
        self.clear(entries).await?;
        let blobs = self.inner.blobs.clone();
        skyport_core::state::blocking(move || {
            for (digest, file) in &files {
                blobs.adopt(digest, file)?;
            }
            Ok(())
        })
        .await
    }
}

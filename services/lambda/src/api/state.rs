//! State control: reset, export and import of functions, their code and their triggers
//! (`skyport_core::state`).
//!
//! A reset or an import runs with no Lambda API request in flight (the gateway's gate): the event
//! source mappings' pollers stop, idle environments are stopped, the store and the code packages are
//! replaced, and the pollers of the mappings now stored start again. A snapshot holds the store's tables
//! and every deployment package as a `file` frame `code/<sha256>.zip`, streamed from disk.

use skyport_core::state::{SnapshotWriter, Staged, StateControl, StateError};

use super::Lambda;

impl Lambda {
    /// Stops what runs for the current state, then empties the store and the code directory.
    async fn clear(&self) -> Result<(), StateError> {
        self.inner.mappings.stop_all();
        self.inner.engine.retire_all().await;
        skyport_core::state::reset_store(&self.inner.store).await?;
        let code = self.inner.code.clone();
        skyport_core::state::blocking(move || {
            code.sweep(&std::collections::HashSet::new());
            Ok(())
        })
        .await
    }
}

#[async_trait::async_trait]
impl StateControl for Lambda {
    async fn reset(&self) -> Result<(), StateError> {
        self.clear().await
    }

    async fn export(&self, out: &mut SnapshotWriter<'_>) -> Result<(), StateError> {
        out.store(&self.inner.store, &[]).await?;
        let mut packages = Vec::new();
        if let Ok(mut dir) = tokio::fs::read_dir(self.inner.code.dir()).await {
            while let Some(entry) = dir.next_entry().await? {
                let name = entry.file_name();
                if let Some(name) = name.to_str().filter(|n| n.ends_with(".zip")) {
                    packages.push(name.to_owned());
                }
            }
        }
        packages.sort();
        for name in packages {
            let path = self.inner.code.dir().join(&name);
            match out.file_from_disk(&format!("code/{name}"), &path).await {
                // Removed since it was listed (its function was deleted meanwhile).
                Err(StateError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
        Ok(())
    }

    async fn import(&self, mut staged: Staged) -> Result<(), StateError> {
        self.clear().await?;
        staged.replace_store_async(&self.inner.store).await?;
        let dir = self.inner.code.dir().to_owned();
        let durable = self.inner.code.durable();
        let files = std::mem::take(&mut staged.files);
        skyport_core::state::blocking(move || {
            std::fs::create_dir_all(&dir)?;
            for (path, file) in files {
                let Some(name) = path
                    .strip_prefix("code/")
                    .filter(|n| n.ends_with(".zip") && !n.contains('/'))
                else {
                    return Err(StateError::Format(format!(
                        "unexpected Lambda file {path:?}"
                    )));
                };
                let to = dir.join(name);
                if std::fs::rename(&file, &to).is_err() {
                    std::fs::copy(&file, &to)?;
                }
                if durable {
                    std::fs::File::open(&to)?.sync_all()?;
                }
            }
            Ok(())
        })
        .await?;
        self.inner.mappings.resume();
        Ok(())
    }
}

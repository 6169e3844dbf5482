//! State control: reset, export and import of buckets, objects and their data (`skyport_core::state`).
//!
//! A snapshot holds the store's tables (buckets, objects, uploads, ...) and every object body as a
//! `file` frame named `blobs/<blob id>`, streamed from its file (or from memory for a small inline body),
//! never read whole. The store's `bodies` table (inline bodies with persistence) is not exported as
//! entries: those bodies travel as `blobs/` files like the rest, so a snapshot imports the same way with
//! and without persistence.
//!
//! Export runs beside requests: the metadata comes from one store snapshot, and an object whose data a
//! concurrent delete removed before it could be opened is left out (it is gone by then: the export shows
//! it after that delete). Reset and import run with no S3 request in flight (the gateway's gate).

use std::collections::HashSet;

use skyport_core::state::{SnapshotWriter, Staged, StateControl, StateError};

use crate::S3;
use crate::blob::{BODIES, is_inline};
use crate::model::{self, BlobRefs, UploadBlobRefs};

/// The blob ids a stored record refers to (objects and uploads), or none for other tables.
fn blob_ids(table: &str, raw: &[u8]) -> Vec<String> {
    let ids: Option<Vec<String>> = match table {
        model::OBJECTS => serde_json::from_slice::<BlobRefs>(raw)
            .ok()
            .map(|r| r.into_ids().collect()),
        model::UPLOADS => serde_json::from_slice::<UploadBlobRefs>(raw)
            .ok()
            .map(|r| r.into_ids().collect()),
        _ => None,
    };
    ids.unwrap_or_default()
}

/// One blob ready to be written: its bytes in memory (inline) or an open file.
enum Opened {
    Inline(bytes::Bytes),
    File(tokio::fs::File, u64),
}

impl S3 {
    /// Opens every blob of a record; `None` when one is gone (deleted since the metadata snapshot).
    async fn open_blobs(&self, ids: &[String]) -> Result<Option<Vec<Opened>>, StateError> {
        let mut opened = Vec::with_capacity(ids.len());
        for id in ids {
            if is_inline(id) {
                match self.blobs.inline_body(id)? {
                    Some(bytes) => opened.push(Opened::Inline(bytes)),
                    None => return Ok(None),
                }
                continue;
            }
            match tokio::fs::File::open(self.blobs.file_of(id)).await {
                Ok(file) => {
                    let len = file.metadata().await?.len();
                    opened.push(Opened::File(file, len));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(opened))
    }

    /// Empties the store and the object data.
    async fn clear(&self) -> Result<(), StateError> {
        skyport_core::state::reset_store(&self.store).await?;
        let blobs = self.blobs.clone();
        skyport_core::state::blocking(move || Ok(blobs.clear_all()?)).await
    }
}

#[async_trait::async_trait]
impl StateControl for S3 {
    async fn reset(&self) -> Result<(), StateError> {
        self.clear().await
    }

    async fn export(&self, out: &mut SnapshotWriter<'_>) -> Result<(), StateError> {
        // Metadata only (bodies are streamed below), from one consistent snapshot.
        let entries = skyport_core::state::store_entries(&self.store, &[BODIES])?;
        let mut sent: HashSet<String> = HashSet::new();
        for (table, key, value) in entries {
            let ids: Vec<String> = blob_ids(&table, &value)
                .into_iter()
                .filter(|id| !sent.contains(id))
                .collect();
            let Some(opened) = self.open_blobs(&ids).await? else {
                tracing::debug!(key, "object deleted during the export; left out");
                continue;
            };
            for (id, blob) in ids.iter().zip(opened) {
                let path = format!("blobs/{id}");
                match blob {
                    Opened::Inline(bytes) => {
                        out.file(&path, bytes.len() as u64, &mut &bytes[..]).await?
                    }
                    Opened::File(mut file, len) => out.file(&path, len, &mut file).await?,
                }
            }
            sent.extend(ids);
            out.entry(&table, &key, &value).await?;
        }
        Ok(())
    }

    async fn import(&self, mut staged: Staged) -> Result<(), StateError> {
        let mut blobs = Vec::new();
        for (path, file) in std::mem::take(&mut staged.files) {
            let Some(id) = path
                .strip_prefix("blobs/")
                .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
            else {
                return Err(StateError::Format(format!("unexpected S3 file {path:?}")));
            };
            if is_inline(id) && self.blobs.durable() {
                // With persistence inline bodies live in the store: in the same transaction as the rest.
                let bytes = tokio::fs::read(&file).await?;
                staged
                    .entries
                    .push((BODIES.to_owned(), id.to_owned(), bytes));
            } else {
                blobs.push((id.to_owned(), file));
            }
        }
        self.clear().await?;
        staged.replace_store_async(&self.store).await?;
        self.note_access_logging();
        let store = self.blobs.clone();
        skyport_core::state::blocking(move || {
            for (id, file) in &blobs {
                store.adopt(id, file)?;
            }
            Ok(())
        })
        .await
    }
}

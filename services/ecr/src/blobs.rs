//! Blob bytes on disk, content-addressed: `<service dir>/blobs/sha256/<first two hex>/<hex>`, one file
//! per digest whatever the number of repositories using it.
//!
//! An upload streams into `<service dir>/uploads/<uuid>`: each received chunk is hashed (SHA-256) and
//! written as it arrives, so nothing is buffered whole and the digest is known when the last byte is.
//! Finishing an upload compares the digest with the one the client claims; a mismatch removes the
//! file. With persistence the file is fsynced, renamed to its content address and the directory fsynced
//! before the caller commits the blob's record, so a crash leaves the blob absent or complete (a file
//! whose record was never committed is overwritten by the next upload of the same digest). An upload
//! abandoned by its client is removed when its session expires (an hour idle) and at exit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use skyport_core::Body;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// An upload idle this long is dropped.
const UPLOAD_IDLE: Duration = Duration::from_secs(3600);
/// Bytes per read when serving a blob.
const READ_CHUNK: usize = 256 * 1024;

/// What went wrong with a blob.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No such upload session (finished, cancelled, expired, or another repository's).
    #[error("upload unknown")]
    UploadUnknown,
    /// The chunk does not start where the upload ends.
    #[error("range invalid: the upload has {size} bytes")]
    RangeInvalid {
        /// Bytes received so far.
        size: u64,
    },
    /// The digest is not `sha256:<64 hex>`.
    #[error("unsupported or malformed digest {0}")]
    DigestMalformed(String),
    /// The content does not hash to the claimed digest.
    #[error("the content's digest is {actual}, not {claimed}")]
    DigestMismatch {
        /// What the client said.
        claimed: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// The body is shorter or longer than announced.
    #[error("expected {expected} bytes, received {received}")]
    SizeInvalid {
        /// Announced.
        expected: u64,
        /// Received.
        received: u64,
    },
    /// The client's body broke off.
    #[error("the request body broke off: {0}")]
    Body(String),
    /// The disk failed.
    #[error("blob storage: {0}")]
    Io(#[from] std::io::Error),
}

/// One upload in progress.
#[derive(Debug)]
struct Upload {
    repo: String,
    path: PathBuf,
    file: Option<tokio::fs::File>,
    hasher: Sha256,
    size: u64,
    touched: Instant,
}

impl Drop for Upload {
    fn drop(&mut self) {
        // Reached for cancelled, expired and failed uploads; a finished one was renamed away already.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The blob files and the uploads in progress.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
    durable: bool,
    uploads: Arc<Mutex<HashMap<String, Upload>>>,
}

/// Checks `sha256:<64 lowercase hex>`; returns the hex.
pub fn parse_digest(digest: &str) -> Result<&str, BlobError> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(hex)
        }
        _ => Err(BlobError::DigestMalformed(digest.to_owned())),
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    skyport_core::ids::hex(bytes)
}

impl BlobStore {
    /// Blobs under `dir` (created on the first upload); fsynced when `durable`.
    pub fn new(dir: &Path, durable: bool) -> BlobStore {
        BlobStore {
            dir: dir.to_owned(),
            durable,
            uploads: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn uploads(&self) -> std::sync::MutexGuard<'_, HashMap<String, Upload>> {
        self.uploads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file of a blob.
    pub fn path(&self, digest: &str) -> Result<PathBuf, BlobError> {
        let hex = parse_digest(digest)?;
        Ok(self.dir.join("blobs/sha256").join(&hex[..2]).join(hex))
    }

    /// Starts an upload into `repo`; returns its id.
    pub async fn start(&self, repo: &str) -> Result<String, BlobError> {
        let id = skyport_core::ids::uuid();
        let dir = self.dir.join("uploads");
        tokio::fs::create_dir_all(&dir).await?;
        let path = dir.join(&id);
        let file = tokio::fs::File::create(&path).await?;
        let upload = Upload {
            repo: repo.to_owned(),
            path,
            file: Some(file),
            hasher: Sha256::new(),
            size: 0,
            touched: Instant::now(),
        };
        let mut uploads = self.uploads();
        uploads.retain(|_, u| u.file.is_none() || u.touched.elapsed() < UPLOAD_IDLE);
        uploads.insert(id.clone(), upload);
        Ok(id)
    }

    /// Takes an upload out of the table while a request works on it (a concurrent request for the
    /// same upload finds it absent).
    fn take(&self, id: &str, repo: &str) -> Result<Upload, BlobError> {
        let mut uploads = self.uploads();
        match uploads.get(id) {
            Some(u) if u.repo == repo && u.file.is_some() => {
                uploads.remove(id).ok_or(BlobError::UploadUnknown)
            }
            _ => Err(BlobError::UploadUnknown),
        }
    }

    fn put_back(&self, id: &str, mut upload: Upload) {
        upload.touched = Instant::now();
        self.uploads().insert(id.to_owned(), upload);
    }

    /// Bytes received by an upload so far.
    pub fn progress(&self, id: &str, repo: &str) -> Result<u64, BlobError> {
        match self.uploads().get(id) {
            Some(u) if u.repo == repo => Ok(u.size),
            _ => Err(BlobError::UploadUnknown),
        }
    }

    /// Appends a request body to an upload. `first` is where the client says the chunk starts
    /// (`Content-Range`), `expected` its announced length. Returns the upload's size. A failed chunk
    /// ends the upload.
    pub async fn append(
        &self,
        id: &str,
        repo: &str,
        body: Body,
        first: Option<u64>,
        expected: Option<u64>,
    ) -> Result<u64, BlobError> {
        let mut upload = self.take(id, repo)?;
        if let Some(first) = first
            && first != upload.size
        {
            let size = upload.size;
            self.put_back(id, upload);
            return Err(BlobError::RangeInvalid { size });
        }
        let start = upload.size;
        stream_into(&mut upload, body).await?;
        if let Some(expected) = expected
            && upload.size - start != expected
        {
            return Err(BlobError::SizeInvalid {
                expected,
                received: upload.size - start,
            });
        }
        let size = upload.size;
        self.put_back(id, upload);
        Ok(size)
    }

    /// Appends bytes at `first` (ECR's UploadLayerPart).
    pub async fn append_bytes(
        &self,
        id: &str,
        repo: &str,
        bytes: Bytes,
        first: u64,
    ) -> Result<u64, BlobError> {
        let len = bytes.len() as u64;
        self.append(
            id,
            repo,
            skyport_core::body::full(bytes),
            Some(first),
            Some(len),
        )
        .await
    }

    /// Ends an upload: checks `claimed` against the bytes' digest and moves the file to its content
    /// address. Returns the size. The upload is gone whatever the outcome.
    pub async fn finish(&self, id: &str, repo: &str, claimed: &str) -> Result<u64, BlobError> {
        let mut upload = self.take(id, repo)?;
        parse_digest(claimed)?;
        let actual = format!("sha256:{}", hex(&upload.hasher.clone().finalize()));
        if actual != claimed {
            return Err(BlobError::DigestMismatch {
                claimed: claimed.to_owned(),
                actual,
            });
        }
        let mut file = upload.file.take().ok_or(BlobError::UploadUnknown)?;
        file.flush().await?;
        if self.durable {
            file.sync_all().await?;
        }
        drop(file);
        let target = self.path(claimed)?;
        let parent = target
            .parent()
            .ok_or_else(|| std::io::Error::other("blob path without a parent"))?
            .to_owned();
        tokio::fs::create_dir_all(&parent).await?;
        tokio::fs::rename(&upload.path, &target).await?;
        if self.durable {
            let parent = parent.clone();
            tokio::task::spawn_blocking(move || std::fs::File::open(parent)?.sync_all())
                .await
                .map_err(std::io::Error::other)??;
        }
        Ok(upload.size)
    }

    /// Cancels an upload.
    pub fn cancel(&self, id: &str, repo: &str) -> Result<(), BlobError> {
        self.take(id, repo).map(drop)
    }

    /// Drops every upload in progress and every blob file (a state reset or import; blocking).
    pub fn clear_all(&self) -> std::io::Result<()> {
        self.uploads().clear();
        skyport_core::state::remove_dir(&self.dir.join("blobs"))
    }

    /// Puts an imported blob's staged file in place (blocking).
    pub fn adopt(&self, digest: &str, staged: &Path) -> std::io::Result<()> {
        let to = self
            .path(digest)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        skyport_core::state::adopt_file(staged, &to, self.durable)
    }

    /// Removes blob files (no repository links them any more).
    pub fn remove(&self, digests: &[String]) {
        for digest in digests {
            if let Ok(path) = self.path(digest) {
                match std::fs::remove_file(&path) {
                    Ok(()) => tracing::debug!(%digest, "blob removed"),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!(%digest, "cannot remove blob: {e}"),
                }
            }
        }
    }

    /// Opens a blob's file: the file and its size.
    pub async fn open(&self, digest: &str) -> Result<(tokio::fs::File, u64), BlobError> {
        let file = tokio::fs::File::open(self.path(digest)?).await?;
        let size = file.metadata().await?.len();
        Ok((file, size))
    }

    /// Streams `len` bytes of a blob from `offset`.
    pub async fn read(&self, digest: &str, offset: u64, len: u64) -> Result<Body, BlobError> {
        let mut file = tokio::fs::File::open(self.path(digest)?).await?;
        if offset > 0 {
            file.seek(std::io::SeekFrom::Start(offset)).await?;
        }
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), READ_CHUNK)
            .map(|chunk| chunk.map(http_body::Frame::data));
        Ok(skyport_core::body::wrap(http_body_util::StreamBody::new(
            stream,
        )))
    }
}

/// Hashes and writes each chunk of `body` as it arrives.
async fn stream_into(upload: &mut Upload, mut body: Body) -> Result<(), BlobError> {
    let file = upload.file.as_mut().ok_or(BlobError::UploadUnknown)?;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BlobError::Body(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        upload.hasher.update(&data);
        file.write_all(&data).await?;
        upload.size += data.len() as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chunks_hash_while_streaming_and_a_bad_digest_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::new(dir.path(), true);
        let id = blobs.start("r").await.unwrap();
        blobs
            .append_bytes(&id, "r", Bytes::from_static(b"hello "), 0)
            .await
            .unwrap();
        assert!(matches!(
            blobs
                .append_bytes(&id, "r", Bytes::from_static(b"x"), 3)
                .await,
            Err(BlobError::RangeInvalid { size: 6 })
        ));
        assert_eq!(
            blobs
                .append_bytes(&id, "r", Bytes::from_static(b"world"), 6)
                .await
                .unwrap(),
            11
        );
        let digest = digest_of(b"hello world");
        assert!(matches!(
            blobs.finish(&id, "other", &digest).await,
            Err(BlobError::UploadUnknown)
        ));
        assert_eq!(blobs.finish(&id, "r", &digest).await.unwrap(), 11);
        let body = blobs.read(&digest, 6, 5).await.unwrap();
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"world");

        let id = blobs.start("r").await.unwrap();
        blobs
            .append_bytes(&id, "r", Bytes::from_static(b"abc"), 0)
            .await
            .unwrap();
        let wrong = digest_of(b"abd");
        assert!(matches!(
            blobs.finish(&id, "r", &wrong).await,
            Err(BlobError::DigestMismatch { .. })
        ));
        assert!(!blobs.path(&wrong).unwrap().exists());
        let left = std::fs::read_dir(dir.path().join("uploads"))
            .unwrap()
            .count();
        assert_eq!(left, 0, "a failed upload leaves no file");
        assert!(matches!(
            parse_digest("sha256:ABC"),
            Err(BlobError::DigestMalformed(_))
        ));
    }
}

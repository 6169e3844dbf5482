//! Object bodies on disk. A body streams into a temporary file under `<service dir>/tmp/` while MD5 and the
//! requested checksums are computed (aws-chunked bodies are decoded on the way), is fsynced, and is renamed
//! to `<service dir>/objects/<xx>/<id>` where `id` is a random hex id: the on-disk name never derives from
//! the key, so no key can escape the data directory. A temporary file is removed when its write fails or
//! is abandoned (client disconnect drops the future, and the guard's `Drop` removes the file). Reads stream
//! a list of segments (a multipart object keeps its part files) with an optional byte range.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use md5::Digest;
use skyport_core::Body;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::checksum::{Algorithm, Hasher};
use crate::chunked::ChunkDecoder;
use crate::error::{S3Error, S3Result};
use crate::model::Segment;

/// Where bodies live.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
    durable: bool,
}

/// How to read an incoming body.
#[derive(Debug, Default)]
pub struct WriteOptions {
    /// `Content-Encoding: aws-chunked` (or a `STREAMING-*` content sha256).
    pub aws_chunked: bool,
    /// The decoded length the client announced (`x-amz-decoded-content-length`, else `Content-Length`).
    pub expected_len: Option<u64>,
    /// Checksums to compute.
    pub algorithms: Vec<Algorithm>,
    /// Compute the SHA-256 of the payload (to check a hex `x-amz-content-sha256`).
    pub sha256_hex: bool,
    /// Largest accepted body.
    pub max_len: u64,
    /// Strict mode: the chunk signatures to verify.
    pub signer: Option<crate::chunked::ChunkSigner>,
}

/// A body safely on disk in a temporary file, with its digests.
#[derive(Debug)]
pub struct Written {
    temp: TempFile,
    pub size: u64,
    pub md5_hex: String,
    pub checksums: Vec<(Algorithm, String)>,
    pub trailers: Vec<(String, String)>,
    pub sha256_hex: Option<String>,
}

/// Removes the file on drop unless it was committed.
#[derive(Debug)]
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

const WRITE_BUFFER: usize = 1 << 20;
const READ_CHUNK: usize = 256 * 1024;

impl BlobStore {
    /// A store in `dir`; stale temporary files from an earlier run are removed.
    pub fn open(dir: &Path, durable: bool) -> std::io::Result<BlobStore> {
        let tmp = dir.join("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        // Shard directories (`objects/<xx>/`) are made on first use: creating all 256 here would cost
        // tens of milliseconds of every start.
        std::fs::create_dir_all(dir.join("objects"))?;
        Ok(BlobStore {
            dir: dir.to_owned(),
            durable,
        })
    }

    fn path(&self, id: &str) -> PathBuf {
        let shard = id.get(..2).unwrap_or("00");
        self.dir.join("objects").join(shard).join(id)
    }

    fn new_id() -> String {
        let mut bytes = [0u8; 16];
        fastrand::fill(&mut bytes);
        skyport_core::ids::hex(&bytes)
    }

    /// Streams `body` into a temporary file.
    pub async fn write(&self, mut body: Body, opts: WriteOptions) -> S3Result<Written> {
        let path = self.dir.join("tmp").join(Self::new_id());
        let file = tokio::fs::File::create(&path).await?;
        let temp = TempFile(Some(path));
        let capacity = opts
            .expected_len
            .map_or(WRITE_BUFFER, |n| (n as usize).clamp(8 * 1024, WRITE_BUFFER));
        let mut out = tokio::io::BufWriter::with_capacity(capacity, file);
        let mut md5 = md5::Md5::new();
        let mut hashers: Vec<(Algorithm, Hasher)> = opts
            .algorithms
            .iter()
            .map(|a| (*a, Hasher::new(*a)))
            .collect();
        let mut sha256 = opts.sha256_hex.then(sha2::Sha256::new);
        let mut decoder = opts.aws_chunked.then(|| match opts.signer.clone() {
            Some(s) => ChunkDecoder::signed(s),
            None => ChunkDecoder::new(),
        });
        let mut size: u64 = 0;
        let mut pieces: Vec<Bytes> = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                tracing::debug!("s3 upload body ended early: {e}");
                S3Error::IncompleteBody
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            pieces.clear();
            match decoder.as_mut() {
                Some(d) => d.push(data, &mut pieces).map_err(chunk_error)?,
                None => pieces.push(data),
            }
            for piece in &pieces {
                size += piece.len() as u64;
                if size > opts.max_len {
                    return Err(S3Error::EntityTooLarge { size });
                }
                md5.update(piece);
                for (_, h) in hashers.iter_mut() {
                    h.update(piece);
                }
                if let Some(s) = sha256.as_mut() {
                    s.update(piece);
                }
                out.write_all(piece).await?;
            }
        }
        let trailers = match decoder {
            Some(d) => d.finish().map_err(|e| match e {
                crate::chunked::ChunkError::Signature => S3Error::ChunkSignature,
                _ => S3Error::IncompleteBody,
            })?,
            None => Vec::new(),
        };
        if opts.expected_len.is_some_and(|n| n != size) {
            return Err(S3Error::IncompleteBody);
        }
        out.flush().await?;
        let file = out.into_inner();
        if self.durable {
            file.sync_all().await?;
        }
        drop(file);
        Ok(Written {
            temp,
            size,
            md5_hex: skyport_core::ids::hex(&md5.finalize()),
            checksums: hashers.into_iter().map(|(a, h)| (a, h.finish())).collect(),
            trailers,
            sha256_hex: sha256.map(|s| skyport_core::ids::hex(&s.finalize())),
        })
    }

    /// Moves a written body into place; returns its blob id.
    pub async fn commit(&self, mut written: Written) -> S3Result<String> {
        let Some(temp) = written.temp.0.take() else {
            return Err(S3Error::Internal("body committed twice".into()));
        };
        let id = Self::new_id();
        let target = self.path(&id);
        let durable = self.durable;
        let result = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let parent = target.parent().unwrap_or(Path::new("."));
            let mut renamed = std::fs::rename(&temp, &target);
            if matches!(&renamed, Err(e) if e.kind() == std::io::ErrorKind::NotFound)
                && temp.exists()
            {
                // First object in this shard: make the shard directory (durably) and try again.
                std::fs::create_dir_all(parent)?;
                if durable && let Some(objects) = parent.parent() {
                    std::fs::File::open(objects)?.sync_all()?;
                }
                renamed = std::fs::rename(&temp, &target);
            }
            if let Err(e) = renamed {
                let _ = std::fs::remove_file(&temp);
                return Err(e);
            }
            if durable {
                std::fs::File::open(parent)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(|e| S3Error::Internal(e.to_string()))?;
        result?;
        Ok(id)
    }

    /// A new blob with the same content (a hard link; a copy where links are not possible).
    pub async fn duplicate(&self, id: &str) -> S3Result<String> {
        let new = Self::new_id();
        let from = self.path(id);
        let to = self.path(&new);
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            if std::fs::hard_link(&from, &to).is_err() {
                std::fs::copy(&from, &to)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| S3Error::Internal(e.to_string()))??;
        Ok(new)
    }

    /// Removes blobs (errors are logged: a leftover file is garbage, not corruption).
    pub fn remove(&self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            let path = self.path(&id);
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), "cannot remove object data: {e}");
            }
        }
    }

    /// Streams `len` bytes starting at `offset` of the concatenation of `segments`.
    pub fn read(&self, segments: &[Segment], offset: u64, len: u64) -> Body {
        let mut queue = VecDeque::new();
        let mut skip = offset;
        let mut want = len;
        for seg in segments {
            if want == 0 {
                break;
            }
            if skip >= seg.size {
                skip -= seg.size;
                continue;
            }
            let take = (seg.size - skip).min(want);
            queue.push_back((self.path(&seg.blob), skip, take));
            want -= take;
            skip = 0;
        }
        let state = ReadState {
            queue,
            current: None,
        };
        let stream = futures_util::stream::unfold(state, |mut st| async move {
            match st.next_chunk().await {
                Ok(Some(bytes)) => Some((Ok(http_body::Frame::data(bytes)), st)),
                Ok(None) => None,
                Err(e) => {
                    st.queue.clear();
                    st.current = None;
                    Some((Err(Box::new(e) as skyport_core::body::BoxError), st))
                }
            }
        });
        skyport_core::body::wrap(http_body_util::StreamBody::new(stream))
    }
}

fn chunk_error(e: crate::chunked::ChunkError) -> S3Error {
    match e {
        crate::chunked::ChunkError::Signature => S3Error::ChunkSignature,
        e => S3Error::request(e.to_string()),
    }
}

struct ReadState {
    queue: VecDeque<(PathBuf, u64, u64)>,
    current: Option<(tokio::fs::File, u64)>,
}

impl ReadState {
    async fn next_chunk(&mut self) -> std::io::Result<Option<Bytes>> {
        loop {
            if let Some((file, remaining)) = self.current.as_mut() {
                if *remaining > 0 {
                    let n = (*remaining).min(READ_CHUNK as u64) as usize;
                    let mut buf = BytesMut::zeroed(n);
                    let mut filled = 0;
                    while filled < n {
                        let got = file.read(&mut buf[filled..]).await?;
                        if got == 0 {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                "object data is shorter than recorded",
                            ));
                        }
                        filled += got;
                    }
                    *remaining -= n as u64;
                    return Ok(Some(buf.freeze()));
                }
                self.current = None;
            }
            let Some((path, offset, len)) = self.queue.pop_front() else {
                return Ok(None);
            };
            let mut file = tokio::fs::File::open(&path).await?;
            if offset > 0 {
                file.seek(std::io::SeekFrom::Start(offset)).await?;
            }
            self.current = Some((file, len));
        }
    }
}

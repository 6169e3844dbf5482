//! Object bodies. A body of at most [`INLINE_MAX`] bytes is kept in memory while it arrives and stored
//! *inline* (id `i<hex>`): no file, no extra syscalls. Without persistence an inline body stays in a map of
//! reference-counted buffers, so memory holds exactly the bytes and a GET sends them without a copy. With
//! persistence it is stored in the metadata store (table `bodies`, raw bytes), and the inline body is committed without waiting for the disk and becomes durable with the
//! object's metadata commit, which follows it and is fsynced before the 200 (redb persists every earlier
//! commit with a durable one), so a PUT costs one fsync and a crash leaves the object absent or complete.
//!
//! A larger body streams into a temporary file under `<service dir>/tmp/`: the request task passes the
//! received `Bytes` (no copy) through short channels to two blocking threads: one computes MD5, the other
//! the requested checksums and writes ~1 MiB batches with vectored writes, so hashing and writing overlap. With
//! persistence the file is fsynced, renamed to `<service dir>/objects/<xx>/<id>` and the directory fsynced
//! before the metadata commit; without it, nothing is fsynced. The on-disk name is a random hex id, never
//! derived from the key, so no key can escape the data directory. A temporary file is removed when its
//! write fails or is abandoned (client disconnect drops the future, and the guard's `Drop` removes it).
//!
//! Reads stream a list of segments (a multipart object keeps its part blobs) with an optional byte range:
//! inline bodies are answered from memory, files by a blocking reader thread that reads 1 MiB chunks ahead
//! of the socket through a bounded channel, so memory stays flat whatever the size.
//!
//! Blob ids end with a tag of the run that made them. [`BlobStore::sweep`] removes blobs no metadata refers
//! to (a crash between rename and commit, parts of an upload lost in a crash); it never touches ids of the
//! current run, whose metadata may still be on its way.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{IoSlice, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::md5::Md5;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use sha2::Digest as _;
use skyport_core::Body;
use skyport_core::store::{Store, StoreError, Writer};
use tokio::sync::mpsc;

use crate::checksum::{Algorithm, Hasher};
use crate::chunked::ChunkDecoder;
use crate::error::{S3Error, S3Result};
use crate::model::Segment;

/// The store table of inline bodies: blob id → raw bytes.
pub const BODIES: &str = "bodies";

/// Largest body stored inline in the metadata store.
pub const INLINE_MAX: usize = 64 * 1024;

/// Bytes gathered before one (vectored) write to a file.
const WRITE_BATCH: usize = 1 << 20;
/// Most buffers in one vectored write (below every platform's `IOV_MAX`).
const WRITE_IOVECS: usize = 256;
/// Bytes per read from a file.
const READ_CHUNK: usize = 1 << 20;
/// Buffers (groups of buffers, for a writer) in flight between a request task and its writer or reader
/// thread.
const PIPE_DEPTH: usize = 4;
/// Bytes a request task gathers before handing them to its writer thread.
const HANDOFF_BYTES: usize = 256 * 1024;
/// Bytes digested in one go (MD5 and checksums share each cache-resident slice).
const DIGEST_SLICE: usize = 64 * 1024;

/// Where bodies live.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
    durable: bool,
    store: Store,
    /// Inline bodies without persistence (with persistence they live in `store`).
    memory: Arc<RwLock<HashMap<String, Bytes>>>,
    /// Suffix of every id made by this run (8 hex digits).
    run_tag: String,
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

/// A received body (in memory, or safely in a temporary file), with its digests.
#[derive(Debug)]
pub struct Written {
    data: Data,
    pub size: u64,
    pub md5_hex: String,
    pub checksums: Vec<(Algorithm, String)>,
    pub trailers: Vec<(String, String)>,
    pub sha256_hex: Option<String>,
}

#[derive(Debug)]
enum Data {
    Inline(Bytes),
    File(TempFile),
    Committed,
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

/// MD5, the requested checksums and the optional SHA-256, fed in one pass. A body that goes to a file
/// has its MD5 split off ([`Digests::split_md5`]) onto a thread of its own.
struct Digests {
    md5: Option<Md5>,
    hashers: Vec<(Algorithm, Hasher)>,
    sha256: Option<sha2::Sha256>,
}

impl Digests {
    fn new(opts: &WriteOptions) -> Digests {
        Digests {
            md5: Some(Md5::new()),
            hashers: opts
                .algorithms
                .iter()
                .map(|a| (*a, Hasher::new(*a)))
                .collect(),
            sha256: opts.sha256_hex.then(sha2::Sha256::new),
        }
    }

    fn update(&mut self, data: &[u8]) {
        for slice in data.chunks(DIGEST_SLICE) {
            if let Some(m) = self.md5.as_mut() {
                m.update(slice);
            }
            for (_, h) in self.hashers.iter_mut() {
                h.update(slice);
            }
            if let Some(s) = self.sha256.as_mut() {
                s.update(slice);
            }
        }
    }
}

impl Digests {
    /// Takes MD5 out (the slowest digest, about 600 MB/s per core), leaving the rest.
    fn split_md5(mut self) -> (Md5, Digests) {
        let md5 = self.md5.take().unwrap_or_default();
        (md5, self)
    }
}

/// The threads of a body that goes to a file: one computes MD5, the other the other digests (CRCs are
/// ten times faster) and writes, so the two halves of the work overlap. Received buffers are handed to both in groups of about
/// [`HANDOFF_BYTES`] (the `Bytes` handles are shared, the data is not copied), so each thread wakes a
/// few times per megabyte instead of once per network read.
struct Spill {
    write_tx: mpsc::Sender<Vec<Bytes>>,
    digest_tx: mpsc::Sender<Vec<Bytes>>,
    writer: tokio::task::JoinHandle<std::io::Result<(std::fs::File, Digests)>>,
    digester: tokio::task::JoinHandle<Md5>,
    pending: Vec<Bytes>,
    pending_len: usize,
}

impl Spill {
    /// Passes `data` to the threads; on failure returns the writer's error.
    async fn send(&mut self, data: Bytes) -> S3Result<()> {
        self.pending_len += data.len();
        self.pending.push(data);
        if self.pending_len < HANDOFF_BYTES && self.pending.len() < WRITE_IOVECS {
            return Ok(());
        }
        self.flush().await
    }

    async fn flush(&mut self) -> S3Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let group = std::mem::replace(&mut self.pending, Vec::with_capacity(WRITE_IOVECS));
        self.pending_len = 0;
        // The digester only stops when its channel closes, so a failed send means the writer stopped.
        let digested = self.digest_tx.send(group.clone()).await.is_ok();
        if digested && self.write_tx.send(group).await.is_ok() {
            return Ok(());
        }
        // The writer stopped early: its result says why.
        let (tx, _) = mpsc::channel(1);
        self.write_tx = tx;
        match (&mut self.writer).await {
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(_)) => Err(S3Error::Internal("object writer stopped early".into())),
            Err(e) => Err(S3Error::Internal(e.to_string())),
        }
    }

    /// Ends the stream and returns the file and digests.
    async fn finish(mut self) -> S3Result<(std::fs::File, Digests)> {
        self.flush().await?;
        drop(self.write_tx);
        drop(self.digest_tx);
        let (file, mut digests) = self
            .writer
            .await
            .map_err(|e| S3Error::Internal(e.to_string()))??;
        let md5 = self
            .digester
            .await
            .map_err(|e| S3Error::Internal(e.to_string()))?;
        digests.md5 = Some(md5);
        Ok((file, digests))
    }
}

/// Writes every buffer of `bufs` (then empties it).
fn write_batch(file: &mut std::fs::File, bufs: &mut Vec<Bytes>) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let n = file.write_vectored(rest)?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    drop(slices);
    bufs.clear();
    Ok(())
}

/// The writer thread: digests (all but MD5) and writes what arrives until the channel closes.
fn writer_loop(
    mut file: std::fs::File,
    mut digests: Digests,
    mut rx: mpsc::Receiver<Vec<Bytes>>,
) -> std::io::Result<(std::fs::File, Digests)> {
    let mut batch: Vec<Bytes> = Vec::with_capacity(WRITE_IOVECS);
    let mut batched = 0;
    while let Some(group) = rx.blocking_recv() {
        for data in group {
            digests.update(&data);
            batched += data.len();
            batch.push(data);
            if batched >= WRITE_BATCH || batch.len() >= WRITE_IOVECS {
                write_batch(&mut file, &mut batch)?;
                batched = 0;
            }
        }
    }
    write_batch(&mut file, &mut batch)?;
    Ok((file, digests))
}

/// The MD5 thread: feeds what arrives to MD5 until the channel closes.
fn md5_loop(mut md5: Md5, mut rx: mpsc::Receiver<Vec<Bytes>>) -> Md5 {
    while let Some(group) = rx.blocking_recv() {
        for data in group {
            md5.update(&data);
        }
    }
    md5
}

pub(crate) fn is_inline(id: &str) -> bool {
    id.starts_with('i')
}

impl BlobStore {
    /// A store in `dir` (inline bodies in `store`); stale temporary files from an earlier run are removed.
    pub fn open(dir: &Path, durable: bool, store: Store) -> std::io::Result<BlobStore> {
        let tmp = dir.join("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        // Shard directories (`objects/<xx>/`) are made on first use: creating all 256 here would cost
        // tens of milliseconds of every start.
        std::fs::create_dir_all(dir.join("objects"))?;
        let mut tag = [0u8; 4];
        fastrand::fill(&mut tag);
        Ok(BlobStore {
            dir: dir.to_owned(),
            durable,
            store,
            memory: Arc::default(),
            run_tag: skyport_core::ids::hex(&tag),
        })
    }

    fn path(&self, id: &str) -> PathBuf {
        let shard = id.get(..2).unwrap_or("00");
        self.dir.join("objects").join(shard).join(id)
    }

    /// A new file id: 24 random hex digits and the run tag.
    fn new_id(&self) -> String {
        let mut bytes = [0u8; 12];
        fastrand::fill(&mut bytes);
        let mut id = skyport_core::ids::hex(&bytes);
        id.push_str(&self.run_tag);
        id
    }

    /// True when `id` was made by this run.
    fn is_current(&self, id: &str) -> bool {
        id.ends_with(&self.run_tag)
    }

    fn spill(&self, digests: Digests) -> S3Result<(Spill, TempFile)> {
        let path = self.dir.join("tmp").join(self.new_id());
        let file = std::fs::File::create(&path)?;
        let temp = TempFile(Some(path));
        let (write_tx, write_rx) = mpsc::channel(PIPE_DEPTH);
        let (digest_tx, digest_rx) = mpsc::channel(PIPE_DEPTH);
        let (md5, digests) = digests.split_md5();
        let writer = tokio::task::spawn_blocking(move || writer_loop(file, digests, write_rx));
        let digester = tokio::task::spawn_blocking(move || md5_loop(md5, digest_rx));
        let spill = Spill {
            write_tx,
            digest_tx,
            writer,
            digester,
            pending: Vec::with_capacity(WRITE_IOVECS),
            pending_len: 0,
        };
        Ok((spill, temp))
    }

    /// Receives `body`: in memory when small, else streamed into a temporary file.
    pub async fn write(&self, mut body: Body, opts: WriteOptions) -> S3Result<Written> {
        let mut digests = Some(Digests::new(&opts));
        let mut spill: Option<(Spill, TempFile)> = None;
        if opts.expected_len.is_some_and(|n| n > INLINE_MAX as u64)
            && let Some(d) = digests.take()
        {
            spill = Some(self.spill(d)?);
        }
        let mut memory = BytesMut::new();
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
            for piece in pieces.drain(..) {
                size += piece.len() as u64;
                if size > opts.max_len {
                    return Err(S3Error::EntityTooLarge { size });
                }
                if let Some((s, _)) = spill.as_mut() {
                    s.send(piece).await?;
                    continue;
                }
                memory.extend_from_slice(&piece);
                if memory.len() > INLINE_MAX
                    && let Some(d) = digests.take()
                {
                    let (mut s, temp) = self.spill(d)?;
                    s.send(memory.split().freeze()).await?;
                    spill = Some((s, temp));
                }
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
        let (data, digests) = match (spill, digests) {
            (Some((s, temp)), _) => {
                let (file, digests) = s.finish().await?;
                if self.durable {
                    tokio::task::spawn_blocking(move || file.sync_all())
                        .await
                        .map_err(|e| S3Error::Internal(e.to_string()))??;
                }
                (Data::File(temp), digests)
            }
            (None, Some(mut d)) => {
                let bytes = memory.freeze();
                d.update(&bytes);
                (Data::Inline(bytes), d)
            }
            (None, None) => return Err(S3Error::Internal("object digests lost".into())),
        };
        Ok(Written {
            data,
            size,
            md5_hex: skyport_core::ids::hex(&digests.md5.unwrap_or_default().finalize()),
            checksums: digests
                .hashers
                .into_iter()
                .map(|(a, h)| (a, h.finish()))
                .collect(),
            trailers,
            sha256_hex: digests
                .sha256
                .map(|s| skyport_core::ids::hex(&s.finalize())),
        })
    }

    /// Stores an inline body under a new id (durable with the next durable commit).
    async fn put_inline(&self, bytes: Bytes) -> S3Result<String> {
        let id = format!("i{}", self.new_id());
        if !self.durable {
            self.memory_map().insert(id.clone(), bytes);
            return Ok(id);
        }
        let store = self.store.clone();
        let key = id.clone();
        let put = move || store.write_deferred(|w| w.put(BODIES, &key, &bytes));
        if self.durable {
            // The writer lock may be held by a commit waiting for the disk: wait off the runtime.
            tokio::task::spawn_blocking(put)
                .await
                .map_err(|e| S3Error::Internal(e.to_string()))??;
        } else {
            put()?;
        }
        Ok(id)
    }

    /// Moves a written body into place; returns its blob id. The caller commits metadata next.
    pub async fn commit(&self, written: Written) -> S3Result<String> {
        match self.place(written).await? {
            (id, None) => Ok(id),
            (_, Some(bytes)) => self.put_inline(bytes).await,
        }
    }

    /// Like [`BlobStore::commit`], but with persistence an inline body is returned with its new id instead
    /// of being stored: the caller stores it with [`BlobStore::stage_inline`] in its metadata transaction.
    /// (Without persistence it goes into memory at once; the caller [`BlobStore::remove`]s it if its
    /// metadata commit fails.)
    pub async fn place(&self, mut written: Written) -> S3Result<(String, Option<Bytes>)> {
        let temp = match std::mem::replace(&mut written.data, Data::Committed) {
            Data::Inline(bytes) if !self.durable => {
                return Ok((self.put_inline(bytes).await?, None));
            }
            Data::Inline(bytes) => return Ok((format!("i{}", self.new_id()), Some(bytes))),
            Data::File(mut t) => t.0.take(),
            Data::Committed => None,
        };
        let Some(temp) = temp else {
            return Err(S3Error::Internal("body committed twice".into()));
        };
        let id = self.new_id();
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
        Ok((id, None))
    }

    /// Stores an inline body placed by [`BlobStore::place`] inside the caller's transaction.
    pub fn stage_inline(w: &mut Writer<'_>, id: &str, bytes: &[u8]) -> Result<(), StoreError> {
        w.put(BODIES, id, bytes)
    }

    /// Removes stored inline bodies inside the caller's transaction; returns the other ids (files, and
    /// inline bodies in memory), to [`BlobStore::remove`] after the commit.
    pub fn unstage_inline(
        &self,
        w: &mut Writer<'_>,
        ids: Vec<String>,
    ) -> Result<Vec<String>, StoreError> {
        if !self.durable {
            return Ok(ids);
        }
        let mut files = Vec::new();
        for id in ids {
            if is_inline(&id) {
                w.delete(BODIES, &id)?;
            } else {
                files.push(id);
            }
        }
        Ok(files)
    }

    /// A new blob with the same content (a hard link, or a copy where links are not possible; a new
    /// inline entry for an inline body).
    pub async fn duplicate(&self, id: &str) -> S3Result<String> {
        if is_inline(id) {
            let bytes = self
                .inline_body(id)?
                .ok_or_else(|| S3Error::Internal(format!("object data {id} is missing")))?;
            return self.put_inline(bytes).await;
        }
        let new = self.new_id();
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

    /// Removes blobs (errors are logged: a leftover blob is garbage, not corruption, and the next
    /// start's sweep removes it).
    pub fn remove(&self, ids: impl IntoIterator<Item = String>) {
        let mut inline = Vec::new();
        for id in ids {
            if is_inline(&id) {
                inline.push(id);
                continue;
            }
            let path = self.path(&id);
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), "cannot remove object data: {e}");
            }
        }
        if inline.is_empty() {
            return;
        }
        if !self.durable {
            let mut memory = self.memory_map();
            for id in &inline {
                memory.remove(id);
            }
            return;
        }
        let store = self.store.clone();
        let delete = move || {
            let result = store.write_deferred(|w| {
                for id in &inline {
                    w.delete(BODIES, id)?;
                }
                Ok(())
            });
            if let Err(e) = result {
                tracing::warn!("cannot remove inline object data: {e}");
            }
        };
        match tokio::runtime::Handle::try_current() {
            // The writer lock may be held by a commit waiting for the disk: wait off the runtime.
            Ok(rt) if self.durable => drop(rt.spawn_blocking(delete)),
            _ => delete(),
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
            queue.push_back((seg.blob.clone(), skip, take));
            want -= take;
            skip = 0;
        }
        if let [(id, skip, take)] = queue.make_contiguous()
            && is_inline(id)
        {
            // A small object: its bytes as they are, no copy, no thread.
            return match self.inline_slice(id, *skip, *take) {
                Ok(b) => skyport_core::body::full(b),
                Err(e) => error_body(e),
            };
        }
        if queue.iter().all(|(id, _, _)| is_inline(id)) {
            // Small parts: answer from memory, no thread.
            let mut out = BytesMut::new();
            for (id, skip, take) in &queue {
                match self.inline_slice(id, *skip, *take) {
                    Ok(b) => out.extend_from_slice(&b),
                    Err(e) => return error_body(e),
                }
            }
            return skyport_core::body::full(out.freeze());
        }
        let (tx, mut rx) = mpsc::channel::<std::io::Result<Bytes>>(PIPE_DEPTH);
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            for (id, skip, take) in queue {
                if let Err(e) = this.send_blob(&id, skip, take, &tx) {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
                if tx.is_closed() {
                    return;
                }
            }
        });
        let stream = futures_util::stream::poll_fn(move |cx| {
            rx.poll_recv(cx).map(|item| {
                item.map(|r| {
                    r.map(http_body::Frame::data)
                        .map_err(|e| Box::new(e) as skyport_core::body::BoxError)
                })
            })
        });
        skyport_core::body::wrap(http_body_util::StreamBody::new(stream))
    }

    /// `take` bytes from `skip` of an inline body.
    fn inline_slice(&self, id: &str, skip: u64, take: u64) -> std::io::Result<Bytes> {
        let bytes = self
            .inline_body(id)
            .map_err(std::io::Error::other)?
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "object data"))?;
        let end = skip.saturating_add(take);
        if end > bytes.len() as u64 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "object data is shorter than recorded",
            ));
        }
        Ok(bytes.slice(skip as usize..end as usize))
    }

    /// An inline body (a shared buffer in memory, else read from the store).
    pub(crate) fn inline_body(&self, id: &str) -> Result<Option<Bytes>, StoreError> {
        if !self.durable {
            let memory = self.memory.read().unwrap_or_else(|e| e.into_inner());
            return Ok(memory.get(id).cloned());
        }
        Ok(self.store.get(BODIES, id)?.map(Bytes::from))
    }

    fn memory_map(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Bytes>> {
        self.memory.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Reader thread: sends `take` bytes from `skip` of one blob in [`READ_CHUNK`] pieces.
    fn send_blob(
        &self,
        id: &str,
        skip: u64,
        take: u64,
        tx: &mpsc::Sender<std::io::Result<Bytes>>,
    ) -> std::io::Result<()> {
        if is_inline(id) {
            let _ = tx.blocking_send(Ok(self.inline_slice(id, skip, take)?));
            return Ok(());
        }
        let mut file = std::fs::File::open(self.path(id))?;
        if skip > 0 {
            file.seek(std::io::SeekFrom::Start(skip))?;
        }
        let mut remaining = take;
        while remaining > 0 {
            let n = remaining.min(READ_CHUNK as u64) as usize;
            let mut buf = vec![0u8; n];
            file.read_exact(&mut buf).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    std::io::Error::new(e.kind(), "object data is shorter than recorded")
                } else {
                    e
                }
            })?;
            remaining -= n as u64;
            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                // The client went away.
                return Ok(());
            }
        }
        Ok(())
    }

    /// Removes every blob (a state reset or import; no request is in flight): inline bodies in memory
    /// and every object file (stored inline bodies go with the store's own reset). Blocking.
    pub fn clear_all(&self) -> std::io::Result<()> {
        self.memory_map().clear();
        let objects = self.dir.join("objects");
        skyport_core::state::remove_dir(&objects)?;
        std::fs::create_dir_all(&objects)
    }

    /// The file of blob `id` (not inline).
    pub(crate) fn file_of(&self, id: &str) -> PathBuf {
        self.path(id)
    }

    /// Puts an imported blob in place: an inline body into memory (without persistence; with it the
    /// caller stores it in its transaction), a file moved (or copied) to its place. Blocking.
    pub fn adopt(&self, id: &str, staged: &Path) -> std::io::Result<()> {
        if is_inline(id) {
            if !self.durable {
                let bytes = Bytes::from(std::fs::read(staged)?);
                self.memory_map().insert(id.to_owned(), bytes);
            }
            return Ok(());
        }
        skyport_core::state::adopt_file(staged, &self.path(id), self.durable)
    }

    /// True when inline bodies live in the store (persistence).
    pub fn durable(&self) -> bool {
        self.durable
    }

    /// Removes blobs that no metadata refers to: files under `objects/` and inline bodies whose ids are
    /// not in `referenced` and were not made by this run. Returns (files, inline bodies) removed.
    pub fn sweep(&self, referenced: &HashSet<String>) -> Result<(usize, usize), StoreError> {
        let mut files = 0;
        let objects = self.dir.join("objects");
        for shard in std::fs::read_dir(&objects).into_iter().flatten().flatten() {
            for entry in std::fs::read_dir(shard.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = entry.file_name();
                let Some(id) = name.to_str() else { continue };
                if self.is_current(id) || referenced.contains(id) {
                    continue;
                }
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => files += 1,
                    Err(e) => {
                        tracing::warn!(path = %entry.path().display(), "cannot remove orphaned object data: {e}")
                    }
                }
            }
        }
        let mut orphans = Vec::new();
        self.store.read(|r| {
            r.visit(BODIES, |id, _| {
                if !self.is_current(id) && !referenced.contains(id) {
                    orphans.push(id.to_owned());
                }
                Ok(())
            })
        })?;
        if !orphans.is_empty() {
            self.store.write(|w| {
                for id in &orphans {
                    w.delete(BODIES, id)?;
                }
                Ok(())
            })?;
        }
        Ok((files, orphans.len()))
    }
}

/// A body that fails at once with `e`.
fn error_body(e: std::io::Error) -> Body {
    let stream = futures_util::stream::once(async move {
        Err::<http_body::Frame<Bytes>, _>(Box::new(e) as skyport_core::body::BoxError)
    });
    skyport_core::body::wrap(http_body_util::StreamBody::new(stream))
}

fn chunk_error(e: crate::chunked::ChunkError) -> S3Error {
    match e {
        crate::chunked::ChunkError::Signature => S3Error::ChunkSignature,
        e => S3Error::request(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(len: usize) -> WriteOptions {
        WriteOptions {
            expected_len: Some(len as u64),
            algorithms: vec![Algorithm::Crc32],
            max_len: u64::MAX,
            ..WriteOptions::default()
        }
    }

    /// Stores `data`; returns its id, MD5 and CRC32.
    async fn put(blobs: &BlobStore, data: &[u8]) -> (String, String, String) {
        let body = skyport_core::body::full(Bytes::copy_from_slice(data));
        let written = blobs.write(body, opts(data.len())).await.unwrap();
        let (md5, crc) = (written.md5_hex.clone(), written.checksums[0].1.clone());
        (blobs.commit(written).await.unwrap(), md5, crc)
    }

    async fn read_all(blobs: &BlobStore, id: &str, size: u64, offset: u64, len: u64) -> Vec<u8> {
        let seg = [Segment {
            blob: id.to_owned(),
            size,
        }];
        let body = blobs.read(&seg, offset, len);
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn small_bodies_inline_large_ones_in_files_and_sweep_spares_this_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_file(&dir.path().join("meta.redb")).unwrap();
        let earlier = BlobStore::open(dir.path(), true, store.clone()).unwrap();
        let small: Vec<u8> = (0..INLINE_MAX).map(|i| i as u8).collect();
        let large: Vec<u8> = (0..3 * READ_CHUNK + 5).map(|i| (i / 7) as u8).collect();
        let (small_id, md5, crc) = put(&earlier, &small).await;
        assert!(is_inline(&small_id));
        assert_eq!(md5, crate::checksum::md5_hex(&small));
        assert_eq!(crc, Algorithm::Crc32.digest(&small));
        let (large_id, md5, crc) = put(&earlier, &large).await;
        assert!(!is_inline(&large_id));
        assert_eq!(md5, crate::checksum::md5_hex(&large));
        assert_eq!(crc, Algorithm::Crc32.digest(&large));
        let (orphan_small, ..) = put(&earlier, b"orphan").await;
        let (orphan_large, ..) = put(&earlier, &large).await;

        // A later run: its own ids are spared, unreferenced ids of earlier runs removed.
        let now = BlobStore::open(dir.path(), true, store.clone()).unwrap();
        let (mine_small, ..) = put(&now, b"mine").await;
        let (mine_large, ..) = put(&now, &large).await;
        let referenced: HashSet<String> = [small_id.clone(), large_id.clone()].into();
        assert_eq!(now.sweep(&referenced).unwrap(), (1, 1));
        assert!(store.get(BODIES, &orphan_small).unwrap().is_none());
        assert!(!now.path(&orphan_large).exists());
        assert!(now.path(&mine_large).exists());
        assert_eq!(read_all(&now, &mine_small, 4, 0, 4).await, b"mine");

        // Reads, whole and ranged, across chunk boundaries.
        let n = large.len() as u64;
        assert_eq!(read_all(&now, &large_id, n, 0, n).await, large);
        let (a, len) = (READ_CHUNK as u64 - 3, READ_CHUNK as u64 + 6);
        assert_eq!(
            read_all(&now, &large_id, n, a, len).await,
            &large[a as usize..(a + len) as usize]
        );
        assert_eq!(
            read_all(&now, &small_id, INLINE_MAX as u64, 10, 20).await,
            &small[10..30]
        );
        let copy = now.duplicate(&small_id).await.unwrap();
        now.remove([small_id.clone(), large_id.clone()]);
        // With persistence inline bodies are deleted off the runtime: wait for it.
        for _ in 0..100 {
            if store.get(BODIES, &small_id).unwrap().is_none() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(store.get(BODIES, &small_id).unwrap().is_none());
        assert!(!now.path(&large_id).exists());
        assert_eq!(
            read_all(&now, &copy, INLINE_MAX as u64, 0, INLINE_MAX as u64).await,
            small
        );
    }

    #[tokio::test]
    async fn without_persistence_inline_bodies_are_shared_buffers_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::in_memory().unwrap();
        let blobs = BlobStore::open(dir.path(), false, store.clone()).unwrap();
        let small: Vec<u8> = (0..1000).map(|i| i as u8).collect();
        let (id, ..) = put(&blobs, &small).await;
        assert!(is_inline(&id));
        // Not in the metadata store: in the map, and a read hands out the same buffer.
        assert!(store.get(BODIES, &id).unwrap().is_none());
        let kept = blobs.inline_body(&id).unwrap().unwrap();
        let read = blobs
            .read(
                &[Segment {
                    blob: id.clone(),
                    size: 1000,
                }],
                0,
                1000,
            )
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(read, small);
        assert_eq!(read.as_ptr(), kept.as_ptr());
        assert_eq!(read_all(&blobs, &id, 1000, 10, 5).await, &small[10..15]);
        let copy = blobs.duplicate(&id).await.unwrap();
        blobs.remove([id.clone()]);
        assert!(blobs.inline_body(&id).unwrap().is_none());
        assert_eq!(read_all(&blobs, &copy, 1000, 0, 1000).await, small);
    }
}

//! State control for test suites: reset, export and import of a service's state.
//!
//! A service that keeps state implements [`StateControl`] and hands it to the gateway through
//! [`crate::Service::state_control`]. The gateway drives it: it holds a per-service gate that every request
//! of the service takes shared and a reset or import takes exclusively, so a request sees the state before
//! or after, never half of it. Before waiting for the gate the gateway calls [`StateControl::interrupt`], so
//! requests that wait by design (SQS long polls) return early instead of holding the reset up.
//!
//! Snapshots ([`SnapshotWriter`], [`SnapshotReader`]) are a versioned stream of frames, documented in
//! `docs/state.md`: a header line, then per service a `service` frame, its `entry` frames (one store
//! entry each: table, key and value bytes), `file` frames (data files such as S3 object bodies, copied
//! in chunks, never whole in memory) and an `end` frame; a `finish` frame ends the snapshot. Each frame is one JSON line, followed by `len`
//! raw bytes when it carries data.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};

use crate::store::{Store, StoreError, Writer};

/// The snapshot format this Skyport writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// The first line of every snapshot.
pub const MAGIC: &str = "skyport-state";
/// The longest frame line read (a store key and table name fit with room to spare).
const MAX_LINE: usize = 64 * 1024;

/// Why a state operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading or writing the snapshot or a data file failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The snapshot is not in the expected format.
    #[error("not a Skyport state snapshot: {0}")]
    Format(String),
    /// The snapshot was written by a newer Skyport.
    #[error(
        "the snapshot has format version {found}, newer than this Skyport reads (up to {FORMAT_VERSION}); \
         import it with a newer Skyport"
    )]
    NewerVersion {
        /// The version in the snapshot.
        found: u32,
    },
    /// The service failed to apply the change.
    #[error("{0}")]
    Service(String),
}

impl StateError {
    /// True when the caller sent something wrong (a bad or newer snapshot), not Skyport.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            StateError::Format(_) | StateError::NewerVersion { .. }
        )
    }
}

/// A service whose state can be reset, exported and imported. The gateway calls `reset` and `import` with
/// the service's gate held exclusively (no request of the service in flight); `export` runs beside
/// requests and must read one consistent snapshot of each store.
#[async_trait::async_trait]
pub trait StateControl: Send + Sync {
    /// Ends waits that would hold a reset up (long polls): called before the gate is taken.
    fn interrupt(&self) {}

    /// Called once the gate is taken, when the reset or import is over (successful or not): waits
    /// ended by [`StateControl::interrupt`] may block again.
    fn resume(&self) {}

    /// Empties the state (durably, with persistence), stops what runs for it (timers, environments,
    /// pollers) so nothing brings old state back.
    async fn reset(&self) -> Result<(), StateError>;

    /// Writes the state into `out` (the frames between the service's `service` and `end` frames).
    async fn export(&self, out: &mut SnapshotWriter<'_>) -> Result<(), StateError>;

    /// Replaces the state with `staged` (read from a snapshot and staged on disk first).
    async fn import(&self, staged: Staged) -> Result<(), StateError>;
}

/// Implements [`StateControl`] for a service whose whole state is one store:
/// `store_state_control!(Iam, this => &this.store)`.
#[macro_export]
macro_rules! store_state_control {
    ($ty:ty, $this:ident => $store:expr) => {
        #[async_trait::async_trait]
        impl $crate::state::StateControl for $ty {
            async fn reset(&self) -> Result<(), $crate::state::StateError> {
                let $this = self;
                $crate::state::StoreState($store).reset().await
            }

            async fn export(
                &self,
                out: &mut $crate::state::SnapshotWriter<'_>,
            ) -> Result<(), $crate::state::StateError> {
                let $this = self;
                $crate::state::StoreState($store).export(out).await
            }

            async fn import(
                &self,
                staged: $crate::state::Staged,
            ) -> Result<(), $crate::state::StateError> {
                let $this = self;
                $crate::state::StoreState($store).import(staged).await
            }
        }
    };
}

/// The header line of a snapshot.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    skyport: String,
}

/// One frame line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Frame {
    /// Begins the state of a service.
    Service { name: String },
    /// A store entry; `len` value bytes follow.
    Entry {
        table: String,
        key: String,
        len: u64,
    },
    /// A data file (relative path); `len` bytes follow.
    File { path: String, len: u64 },
    /// Ends the state of the service begun last.
    End { name: String },
    /// Ends the snapshot (a stream without it was cut short).
    Finish { services: u64 },
}

/// Writes a snapshot to an async stream.
pub struct SnapshotWriter<'a> {
    out: &'a mut (dyn AsyncWrite + Unpin + Send),
    services: u64,
}

impl<'a> SnapshotWriter<'a> {
    /// Writes the header and returns the writer.
    pub async fn start(
        out: &'a mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<SnapshotWriter<'a>, StateError> {
        let mut w = SnapshotWriter { out, services: 0 };
        let header = Header {
            format: MAGIC.to_owned(),
            version: FORMAT_VERSION,
            skyport: crate::VERSION.to_owned(),
        };
        w.line(&serde_json::to_string(&header).map_err(io::Error::other)?)
            .await?;
        Ok(w)
    }

    async fn line(&mut self, text: &str) -> Result<(), StateError> {
        self.out.write_all(text.as_bytes()).await?;
        self.out.write_all(b"\n").await?;
        Ok(())
    }

    async fn frame(&mut self, frame: &Frame) -> Result<(), StateError> {
        let text = serde_json::to_string(frame).map_err(io::Error::other)?;
        self.line(&text).await
    }

    /// Begins the state of `name`.
    pub async fn begin(&mut self, name: &str) -> Result<(), StateError> {
        self.services += 1;
        self.frame(&Frame::Service {
            name: name.to_owned(),
        })
        .await
    }

    /// Ends the state of `name`.
    pub async fn end(&mut self, name: &str) -> Result<(), StateError> {
        self.frame(&Frame::End {
            name: name.to_owned(),
        })
        .await?;
        self.out.flush().await?;
        Ok(())
    }

    /// Ends the snapshot.
    pub async fn finish(mut self) -> Result<(), StateError> {
        let services = self.services;
        self.frame(&Frame::Finish { services }).await?;
        self.out.flush().await?;
        Ok(())
    }

    /// One store entry.
    pub async fn entry(&mut self, table: &str, key: &str, value: &[u8]) -> Result<(), StateError> {
        self.frame(&Frame::Entry {
            table: table.to_owned(),
            key: key.to_owned(),
            len: value.len() as u64,
        })
        .await?;
        self.out.write_all(value).await?;
        Ok(())
    }

    /// A data file under `path` (relative), with `len` bytes read from `data`.
    pub async fn file(
        &mut self,
        path: &str,
        len: u64,
        data: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<(), StateError> {
        self.frame(&Frame::File {
            path: path.to_owned(),
            len,
        })
        .await?;
        let copied = tokio::io::copy(&mut data.take(len), &mut self.out).await?;
        if copied != len {
            return Err(StateError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{path} shrank while it was exported"),
            )));
        }
        Ok(())
    }

    /// A data file on disk (streamed in chunks).
    pub async fn file_from_disk(&mut self, path: &str, source: &Path) -> Result<(), StateError> {
        let mut file = tokio::fs::File::open(source).await?;
        let len = file.metadata().await?.len();
        self.file(path, len, &mut file).await
    }

    /// Every entry of every table of `store`, from one consistent snapshot; tables in `skip` are left out.
    /// Entries are read in pages so a large table is never whole in memory.
    pub async fn store(&mut self, store: &Store, skip: &[&str]) -> Result<(), StateError> {
        const PAGE: usize = 512;
        let tables = store.read(|r| r.tables())?;
        for table in tables.iter().filter(|t| !skip.contains(&t.as_str())) {
            let mut after: Option<String> = None;
            loop {
                let page = store.read(|r| r.scan_prefix(table, "", after.as_deref(), PAGE))?;
                for (key, value) in &page {
                    self.entry(table, key, value).await?;
                }
                match page.last() {
                    Some((key, _)) if page.len() == PAGE => after = Some(key.clone()),
                    _ => break,
                }
            }
        }
        Ok(())
    }
}

/// A service's state read from a snapshot: its store entries (in memory: metadata only) and its data
/// files, staged in a directory removed when this is dropped.
#[derive(Debug, Default)]
pub struct Staged {
    /// The store entries: (table, key, value).
    pub entries: Vec<(String, String, Vec<u8>)>,
    /// The staged data files: (relative path, where it is staged).
    pub files: Vec<(String, PathBuf)>,
    dir: Option<tempfile::TempDir>,
}

/// Clears the store `w` writes to and puts `entries` (table, key, value) in it.
fn replace_all(
    w: &mut Writer<'_>,
    entries: &[(String, String, Vec<u8>)],
) -> Result<(), StoreError> {
    w.clear()?;
    for (table, key, value) in entries {
        w.put(table, key, value)?;
    }
    Ok(())
}

/// Runs blocking file work (removing or moving data files) off the async runtime.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StateError> + Send + 'static,
) -> Result<T, StateError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StateError::Service(e.to_string()))?
}

/// Every entry (table, key, value) of `store` from one consistent snapshot, but the tables in `skip`:
/// metadata a service exports beside the data files it names.
pub fn store_entries(
    store: &Store,
    skip: &[&str],
) -> Result<Vec<(String, String, Vec<u8>)>, StateError> {
    Ok(store.read(|r| {
        let mut entries = Vec::new();
        for table in r.tables()? {
            if skip.contains(&table.as_str()) {
                continue;
            }
            r.visit(&table, |k, v| {
                entries.push((table.clone(), k.to_owned(), v.to_vec()));
                Ok(())
            })?;
        }
        Ok(entries)
    })?)
}

/// Moves a staged data file to its place `to` (copied when a rename cannot cross file systems), creating
/// its directory; fsynced when `durable`. Blocking.
pub fn adopt_file(staged: &Path, to: &Path, durable: bool) -> io::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if std::fs::rename(staged, to).is_err() {
        std::fs::copy(staged, to)?;
    }
    if durable {
        std::fs::File::open(to)?.sync_all()?;
    }
    Ok(())
}

/// Removes a directory of data files and everything under it, if it exists (blocking).
pub fn remove_dir(dir: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Empties `store` in one durable transaction (one that frees space: it works on a full disk).
pub async fn reset_store(store: &Store) -> Result<(), StateError> {
    store.write_freeing_async(|w| w.clear()).await?;
    Ok(())
}

/// [`StateControl`] for a service whose whole state is one store.
pub struct StoreState<'a>(pub &'a Store);

impl StoreState<'_> {
    /// Empties the store.
    pub async fn reset(&self) -> Result<(), StateError> {
        reset_store(self.0).await
    }

    /// Every entry of the store.
    pub async fn export(&self, out: &mut SnapshotWriter<'_>) -> Result<(), StateError> {
        out.store(self.0, &[]).await
    }

    /// Replaces the store's content with the staged entries.
    pub async fn import(&self, mut staged: Staged) -> Result<(), StateError> {
        staged.replace_store_async(self.0).await
    }
}

impl Staged {
    /// [`Staged::replace_store`] off the async runtime when the store waits for the disk; the entries
    /// are moved into the store (none are left here).
    pub async fn replace_store_async(&mut self, store: &Store) -> Result<(), StateError> {
        let entries = std::mem::take(&mut self.entries);
        store.write_async(move |w| replace_all(w, &entries)).await?;
        Ok(())
    }

    /// Writes every entry into `store`, replacing all it held, in one transaction.
    pub fn replace_store(&self, store: &Store) -> Result<(), StoreError> {
        store.write(|w| replace_all(w, &self.entries))
    }

    /// The entries of `table`.
    pub fn table<'a>(&'a self, table: &'a str) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.entries
            .iter()
            .filter(move |(t, _, _)| t == table)
            .map(|(_, k, v)| (k.as_str(), v.as_slice()))
    }

    /// The staging directory, if any file was staged.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(|d| d.path())
    }
}

/// Reads a snapshot from an async stream, one service at a time.
pub struct SnapshotReader<R> {
    input: R,
    /// Where data files are staged.
    staging: PathBuf,
}

impl<R: AsyncBufRead + Unpin + Send> SnapshotReader<R> {
    /// Reads and checks the header; data files are staged under `staging`.
    pub async fn open(mut input: R, staging: &Path) -> Result<SnapshotReader<R>, StateError> {
        let line = read_line(&mut input)
            .await?
            .ok_or_else(|| StateError::Format("the stream is empty".into()))?;
        let header: Header = serde_json::from_str(&line)
            .map_err(|_| StateError::Format("the first line is not a snapshot header".into()))?;
        if header.format != MAGIC {
            return Err(StateError::Format(format!(
                "format {:?}, expected {MAGIC:?}",
                header.format
            )));
        }
        if header.version > FORMAT_VERSION {
            return Err(StateError::NewerVersion {
                found: header.version,
            });
        }
        Ok(SnapshotReader {
            input,
            staging: staging.to_owned(),
        })
    }

    /// The next service's name and state, or `None` at the end of the snapshot.
    pub async fn next_service(&mut self) -> Result<Option<(String, Staged)>, StateError> {
        let Some(line) = read_line(&mut self.input).await? else {
            return Err(StateError::Format(
                "the snapshot is cut short (no finish frame)".into(),
            ));
        };
        let name = match parse_frame(&line)? {
            Frame::Service { name } => name,
            Frame::Finish { .. } => return Ok(None),
            _ => return Err(StateError::Format("expected a service frame".into())),
        };
        let mut staged = Staged::default();
        loop {
            let line = read_line(&mut self.input)
                .await?
                .ok_or_else(|| StateError::Format(format!("{name}: the snapshot ends early")))?;
            match parse_frame(&line)? {
                Frame::End { name: end } if end == name => return Ok(Some((name, staged))),
                Frame::Entry { table, key, len } => {
                    let len = usize::try_from(len)
                        .ok()
                        .filter(|l| *l <= 1 << 30)
                        .ok_or_else(|| StateError::Format(format!("{table}/{key}: too large")))?;
                    let mut value = vec![0; len];
                    self.input.read_exact(&mut value).await?;
                    staged.entries.push((table, key, value));
                }
                Frame::File { path, len } => {
                    if !safe_relative(&path) {
                        return Err(StateError::Format(format!("unsafe file path {path:?}")));
                    }
                    if staged.dir.is_none() {
                        tokio::fs::create_dir_all(&self.staging).await?;
                        staged.dir = Some(tempfile::tempdir_in(&self.staging)?);
                    }
                    let dir = staged.dir().map(Path::to_path_buf).unwrap_or_default();
                    let target = dir.join(format!("{}", staged.files.len()));
                    let mut file = tokio::fs::File::create(&target).await?;
                    let copied =
                        tokio::io::copy(&mut (&mut self.input).take(len), &mut file).await?;
                    if copied != len {
                        return Err(StateError::Format(format!(
                            "{path}: the snapshot ends early"
                        )));
                    }
                    file.flush().await?;
                    staged.files.push((path, target));
                }
                _ => return Err(StateError::Format(format!("{name}: unexpected frame"))),
            }
        }
    }
}

fn parse_frame(line: &str) -> Result<Frame, StateError> {
    serde_json::from_str(line).map_err(|e| StateError::Format(format!("bad frame: {e}")))
}

/// A relative path without `..`, root or empty components.
fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// One line without its newline; `None` at the end of the stream.
async fn read_line<R: AsyncBufRead + Unpin>(input: &mut R) -> Result<Option<String>, StateError> {
    let mut line = Vec::new();
    let n = input
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(StateError::Format("a frame line is too long or cut".into()));
    }
    line.pop();
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| StateError::Format("a frame line is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_and_newer_version_refused() {
        let store = Store::in_memory().unwrap();
        store
            .write(|w| {
                w.put("a", "k1", b"v1")?;
                w.put("b", "k2", b"")?;
                w.put("skip", "x", b"y")
            })
            .unwrap();
        let mut buf = Vec::new();
        {
            let mut w = SnapshotWriter::start(&mut buf).await.unwrap();
            w.begin("svc").await.unwrap();
            w.store(&store, &["skip"]).await.unwrap();
            w.file("objects/1", 5, &mut &b"hello"[..]).await.unwrap();
            w.end("svc").await.unwrap();
            w.finish().await.unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let mut r = SnapshotReader::open(&buf[..], dir.path()).await.unwrap();
        let (name, staged) = r.next_service().await.unwrap().unwrap();
        assert_eq!(name, "svc");
        assert_eq!(staged.entries.len(), 2);
        assert_eq!(staged.files[0].0, "objects/1");
        assert_eq!(std::fs::read(&staged.files[0].1).unwrap(), b"hello");
        assert!(r.next_service().await.unwrap().is_none());
        // Cut before the finish frame: refused.
        let cut = &buf[..buf.len()
            - 1
            - buf[..buf.len() - 1]
                .iter()
                .rev()
                .position(|b| *b == b'\n')
                .unwrap()];
        let mut r = SnapshotReader::open(cut, dir.path()).await.unwrap();
        assert!(r.next_service().await.unwrap().is_some());
        assert!(r.next_service().await.is_err());

        let target = Store::in_memory().unwrap();
        target.write(|w| w.put("old", "o", b"o")).unwrap();
        staged.replace_store(&target).unwrap();
        assert_eq!(target.get("old", "o").unwrap(), None);
        assert_eq!(target.get("a", "k1").unwrap().as_deref(), Some(&b"v1"[..]));

        let newer = format!("{{\"format\":\"{MAGIC}\",\"version\":99,\"skyport\":\"9\"}}\n");
        let err = SnapshotReader::open(newer.as_bytes(), dir.path())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, StateError::NewerVersion { found: 99 }),
            "{err}"
        );
        let bad = b"{\"service\":{\"name\":\"x\"}}\n";
        assert!(SnapshotReader::open(&bad[..], dir.path()).await.is_err());
        assert!(!safe_relative("../x") && !safe_relative("/x") && safe_relative("a/b"));
    }

    #[test]
    fn file_store_clear_removes_every_table() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_file(&dir.path().join("db.redb")).unwrap();
        store
            .write(|w| {
                w.put("a", "1", b"x")?;
                w.put("b", "2", b"y")
            })
            .unwrap();
        assert_eq!(store.read(|r| r.tables()).unwrap(), ["a", "b"]);
        store.write(|w| w.clear()).unwrap();
        assert!(store.read(|r| r.tables()).unwrap().is_empty());
        assert_eq!(store.get("a", "1").unwrap(), None);
    }
}

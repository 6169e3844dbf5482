//! The state store every service uses, and the state directory layout.
//!
//! The store is [redb]: an embedded, pure-Rust, ACID key-value store with MVCC (readers never block the
//! writer) and crash-safe commits. We chose it over SQLite (rusqlite) because it needs no C toolchain (the
//! release binary is static and ships `FROM scratch`), opens in microseconds (startup is a feature), and
//! gives ordered range scans, which is all S3 listings and SQS queues need. Each service gets its own
//! database file, so services never contend for one writer lock.
//!
//! With `PERSISTENCE=1` databases live under `<state-dir>/state/<service>/` and every write transaction is
//! committed durably (fsync) before the call returns, so a write acknowledged to a client survives
//! `kill -9`. Without persistence each service's tables live in memory ([`memory`]: persistent ordered
//! maps with the same transaction semantics, several times cheaper per write than redb's in-memory
//! backend) and bulk data goes to a scratch directory under `<state-dir>/tmp/` that is removed on exit
//! (and swept at the next start after a crash).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Serialize, de::DeserializeOwned};

mod memory;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error (I/O, corruption, full disk).
    #[error("state store: {0}")]
    Db(#[from] redb::Error),
    /// A stored value could not be (de)serialized.
    #[error("state store value: {0}")]
    Codec(#[from] serde_json::Error),
    /// A filesystem operation on the state directory failed.
    #[error("state directory {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A blocking task was cancelled.
    #[error("state store task failed: {0}")]
    Join(String),
}

impl StoreError {
    /// True when the disk (or the user's quota) is full: the write may succeed once space returns.
    pub fn disk_full(&self) -> bool {
        let kind = match self {
            StoreError::Db(redb::Error::Io(e)) | StoreError::Io { source: e, .. } => e.kind(),
            // redb refuses to go on after an I/O error until the store reopens it: also transient.
            StoreError::Db(redb::Error::PreviousIo) => return true,
            _ => return false,
        };
        io_disk_full(kind)
    }

    /// True when redb needs the database closed and reopened before it works again.
    fn needs_reopen(&self) -> bool {
        matches!(
            self,
            StoreError::Db(redb::Error::Io(_) | redb::Error::PreviousIo)
        )
    }

    fn io(path: &Path, source: io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// True for the I/O error kinds of a full disk or an exhausted quota.
pub fn io_disk_full(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge
    )
}

macro_rules! db_err {
    ($e:expr) => {
        $e.map_err(|e| StoreError::Db(e.into()))
    };
}

/// Where Skyport keeps its files: `certs/`, `state/<service>/` and scratch space.
#[derive(Debug, Clone)]
pub struct StateLayout {
    root: PathBuf,
    persistence: bool,
    scratch: Arc<ScratchDir>,
}

#[derive(Debug)]
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl StateLayout {
    /// Prepares the layout under `root`, creating directories and sweeping scratch directories left by
    /// processes that no longer run.
    pub fn new(root: &Path, persistence: bool) -> Result<StateLayout, StoreError> {
        // The root is readable (not writable) by others so that the host user can read the CA
        // certificate from a volume a root container wrote (`./volume/certs/ca.pem`); what is private
        // lives in private directories below it.
        create_dir_with_mode(root, 0o755)?;
        let tmp = root.join("tmp");
        create_private_dir(&tmp)?;
        sweep_stale_scratch(&tmp);
        let scratch = tmp.join(format!("run-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        create_private_dir(&scratch)?;
        Ok(StateLayout {
            root: root.to_owned(),
            persistence,
            scratch: Arc::new(ScratchDir(scratch)),
        })
    }

    /// The state directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// True when state survives restarts.
    pub fn persistent(&self) -> bool {
        self.persistence
    }

    /// Where the local CA lives (kept whatever `PERSISTENCE` says, so trust survives restarts).
    pub fn certs_dir(&self) -> PathBuf {
        self.root.join("certs")
    }

    /// The data directory of `service`: `state/<service>` with persistence, else in the scratch directory.
    pub fn service_dir(&self, service: &str) -> Result<PathBuf, StoreError> {
        let dir = if self.persistence {
            // Private: the root itself is readable by others (for the CA certificate).
            let state = self.root.join("state");
            create_private_dir(&state)?;
            state.join(service)
        } else {
            self.scratch.0.join(service)
        };
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        Ok(dir)
    }

    /// A scratch directory removed on exit.
    pub fn scratch_dir(&self) -> &Path {
        &self.scratch.0
    }

    /// Opens the metadata store of `service`.
    pub fn open_store(&self, service: &str) -> Result<Store, StoreError> {
        self.open_store_with_cache(service, FILE_CACHE_BYTES)
    }

    /// Opens the metadata store of `service` with a page cache of `cache_bytes` (with persistence; an
    /// in-memory store has no cache). For a service that serves everything from its own memory and reads
    /// the store only at start, a small cache saves memory: writes still find their pages in the OS page
    /// cache.
    pub fn open_store_with_cache(
        &self,
        service: &str,
        cache_bytes: usize,
    ) -> Result<Store, StoreError> {
        if self.persistence {
            let path = self.service_dir(service)?.join("meta.redb");
            Store::open_file_with_cache(&path, cache_bytes)
        } else {
            Store::in_memory()
        }
    }
}

fn create_private_dir(path: &Path) -> Result<(), StoreError> {
    create_dir_with_mode(path, 0o700)
}

fn create_dir_with_mode(path: &Path, _mode: u32) -> Result<(), StoreError> {
    std::fs::create_dir_all(path).map_err(|e| StoreError::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(_mode));
    }
    Ok(())
}

fn sweep_stale_scratch(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("run-")) else {
            continue;
        };
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            tracing::debug!(dir = %entry.path().display(), "removing scratch directory of a stopped process");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// An embedded ACID key-value store with named tables of string keys and byte values: a redb file with
/// `PERSISTENCE=1`, else ordered tables in memory ([`memory`]) with the same transaction semantics.
///
/// After an I/O error (a full disk, typically) redb refuses every later operation until the database is
/// reopened; a file store therefore closes and reopens its database on the next operation, so the store
/// works again as soon as the disk has room.
#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
    /// Bumped by every write transaction (committed or not): caches of derived data compare it.
    generation: Arc<std::sync::atomic::AtomicU64>,
}

enum Backend {
    File(FileDb),
    Memory(memory::MemoryDb),
}

/// A redb database file.
struct FileDb {
    /// The open database; `None` while a reopen after an I/O error has not yet succeeded.
    db: RwLock<Option<Arc<Database>>>,
    /// The file to reopen.
    path: PathBuf,
    /// The page cache size.
    cache_bytes: usize,
    /// Space kept free for writes that free space (see [`Store::write_freeing`]).
    reserve: Reserve,
}

/// A file of [`RESERVE_BYTES`] beside a file store. A copy-on-write database needs new pages even to
/// delete, so on a full disk nothing could be deleted to make room: once a write has failed for lack of
/// space, the next write that frees space ([`Store::write_freeing`]) first removes this file, and the
/// reserve is made again (at most once a second) after later commits, when the disk has room.
struct Reserve {
    path: PathBuf,
    /// A write failed for lack of space since the reserve was last in place.
    disk_full: AtomicBool,
    /// The reserve file is not (completely) there.
    missing: AtomicBool,
    last_try: Mutex<Option<Instant>>,
}

/// Size of the space reserve of a file store.
const RESERVE_BYTES: usize = 1 << 20;

impl Reserve {
    fn for_store(path: &Path) -> Reserve {
        let mut name = path.as_os_str().to_owned();
        name.push(".reserve");
        let path = PathBuf::from(name);
        // A reserve left by an earlier run is kept as it is: no write and fsync on every start.
        let in_place = std::fs::metadata(&path).is_ok_and(|m| m.len() == RESERVE_BYTES as u64);
        let reserve = Reserve {
            path,
            disk_full: AtomicBool::new(false),
            missing: AtomicBool::new(!in_place),
            last_try: Mutex::new(None),
        };
        if !in_place {
            reserve.make();
        }
        reserve
    }

    /// Writes the reserve file (real blocks, not a sparse file); on failure removes what was written.
    fn make(&self) {
        let path = &self.path;
        let written = std::fs::File::create(path).and_then(|mut f| {
            use std::io::Write;
            f.write_all(&vec![0u8; RESERVE_BYTES])?;
            f.sync_all()
        });
        match written {
            Ok(()) => {
                self.missing.store(false, Ordering::Relaxed);
                self.disk_full.store(false, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::debug!(path = %path.display(), "cannot make the state store's space reserve: {e}");
                let _ = std::fs::remove_file(path);
                self.missing.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Gives the reserved space back to the disk when a write has failed for lack of it.
    fn release_if_full(&self) {
        if !self.disk_full.load(Ordering::Relaxed) || self.missing.swap(true, Ordering::Relaxed) {
            return;
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => {
                tracing::warn!(
                    "state directory full: released the reserved space so deletes can proceed"
                )
            }
            Err(e) => tracing::debug!("removing the space reserve: {e}"),
        }
    }

    /// Makes the reserve again after a successful commit (at most once a second).
    fn restore(&self) {
        if !self.missing.load(Ordering::Relaxed) {
            return;
        }
        {
            let mut last = self.last_try.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
                return;
            }
            *last = Some(Instant::now());
        }
        self.make();
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = match &*self.backend {
            Backend::File(file) => Some(&file.path),
            Backend::Memory(_) => None,
        };
        f.debug_struct("Store")
            .field("durable", &self.is_durable())
            .field("path", &path)
            .finish()
    }
}

/// Page cache of a file store. redb's default (1 GiB) would let the cache of hot pages, inline object
/// bodies among them, grow the process to a gigabyte; the OS page cache keeps re-reads cheap anyway.
pub const FILE_CACHE_BYTES: usize = 32 << 20;

fn open_database(path: &Path, cache_bytes: usize) -> Result<Database, redb::DatabaseError> {
    Database::builder().set_cache_size(cache_bytes).create(path)
}

fn table(name: &str) -> TableDefinition<'_, &'static str, &'static [u8]> {
    TableDefinition::new(name)
}

impl FileDb {
    /// The open database, reopening the file first if an earlier I/O error closed it.
    fn db(&self) -> Result<Arc<Database>, StoreError> {
        if let Some(db) = self.db.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Ok(db.clone());
        }
        let mut slot = self.db.write().unwrap_or_else(|e| e.into_inner());
        if let Some(db) = slot.as_ref() {
            return Ok(db.clone());
        }
        // Opening repairs what the failed commit left behind.
        let db = Arc::new(db_err!(open_database(&self.path, self.cache_bytes))?);
        tracing::info!(path = %self.path.display(), "state store reopened after an I/O error");
        *slot = Some(db.clone());
        Ok(db)
    }

    /// After an I/O error, closes `failed` (once every other user has let go of it) so that the next
    /// operation reopens the file.
    fn after_error(&self, failed: Arc<Database>, error: &StoreError) {
        if !error.needs_reopen() {
            return;
        }
        let mut slot = self.db.write().unwrap_or_else(|e| e.into_inner());
        if !slot.as_ref().is_some_and(|db| Arc::ptr_eq(db, &failed)) {
            return; // another caller already closed it
        }
        tracing::warn!("state store I/O error ({error}); the database will be reopened");
        *slot = None;
        drop(slot);
        // Other threads hold the Arc only to begin a transaction: wait briefly for them.
        let mut failed = failed;
        for _ in 0..1000 {
            match Arc::try_unwrap(failed) {
                Ok(db) => {
                    if let Err(e) = db.close() {
                        tracing::debug!("closing the failed state store: {e}");
                    }
                    return;
                }
                Err(shared) => failed = shared,
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        tracing::warn!("the failed state store is still in use; it closes when its last user ends");
    }

    /// One write transaction, committed without waiting for the disk when `no_durability`; an I/O error
    /// closes the database so the next operation reopens it.
    fn commit<T>(
        &self,
        no_durability: bool,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let db = self.db()?;
        let outcome: Result<T, StoreError> = (|| {
            let mut tx = db_err!(db.begin_write())?;
            if no_durability {
                db_err!(tx.set_durability(redb::Durability::None))?;
            }
            let result = {
                let mut writer = Writer {
                    tx: WriteTx::File(&tx),
                };
                f(&mut writer)?
            };
            db_err!(tx.commit())?;
            Ok(result)
        })();
        match &outcome {
            Ok(_) => self.reserve.restore(),
            Err(e) => {
                if e.disk_full() {
                    self.reserve.disk_full.store(true, Ordering::Relaxed);
                }
                self.after_error(db, e);
            }
        }
        outcome
    }

    fn read<T>(&self, f: impl FnOnce(&Reader) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let db = self.db()?;
        let outcome = db_err!(db.begin_read()).and_then(|tx| {
            f(&Reader {
                tx: ReadTx::File(tx),
            })
        });
        if let Err(e) = &outcome {
            self.after_error(db, e);
        }
        outcome
    }
}

impl Store {
    /// Opens (or creates) a durable store in `path`.
    pub fn open_file(path: &Path) -> Result<Store, StoreError> {
        Store::open_file_with_cache(path, FILE_CACHE_BYTES)
    }

    /// Opens (or creates) a durable store in `path` with a page cache of `cache_bytes`.
    pub fn open_file_with_cache(path: &Path, cache_bytes: usize) -> Result<Store, StoreError> {
        let db = db_err!(open_database(path, cache_bytes))?;
        Ok(Store {
            generation: Arc::default(),
            backend: Arc::new(Backend::File(FileDb {
                db: RwLock::new(Some(Arc::new(db))),
                reserve: Reserve::for_store(path),
                path: path.to_owned(),
                cache_bytes,
            })),
        })
    }

    /// A store in memory, gone on exit.
    pub fn in_memory() -> Result<Store, StoreError> {
        Ok(Store {
            generation: Arc::default(),
            backend: Arc::new(Backend::Memory(memory::MemoryDb::default())),
        })
    }

    /// A number that changes after every write transaction: data derived from the store, read after
    /// taking the generation and cached with it, is current while the number is the same.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// True when commits are fsynced to disk.
    pub fn is_durable(&self) -> bool {
        matches!(*self.backend, Backend::File(_))
    }

    /// Runs `f` in one write transaction and commits it (durably, for a file store) before returning.
    /// If `f` fails, nothing it wrote is kept. Blocking for a file store: call from `spawn_blocking` or
    /// use [`Store::write_async`].
    pub fn write<T>(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let outcome = match &*self.backend {
            Backend::File(file) => file.commit(false, f),
            Backend::Memory(mem) => mem.write(|tables| {
                f(&mut Writer {
                    tx: WriteTx::Memory(tables),
                })
            }),
        };
        self.bump();
        outcome
    }

    /// Like [`Store::write`], but a file store does not wait for the disk: the change becomes durable
    /// with the next durable commit (any [`Store::write`]), and is lost if the process dies before one.
    /// For data that only matters once a later durable commit refers to it (an object body whose
    /// metadata is committed next), and for garbage removal. Blocking.
    pub fn write_deferred<T>(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &*self.backend {
            Backend::File(file) => {
                let outcome = file.commit(true, f);
                self.bump();
                outcome
            }
            Backend::Memory(_) => self.write(f),
        }
    }

    /// [`Store::write`] for a change that frees space (a delete): if the disk is full, the store's space
    /// reserve is released and the transaction tried once more, so deleting works on a full disk.
    pub fn write_freeing<T>(
        &self,
        f: impl Fn(&mut Writer<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Backend::File(file) = &*self.backend else {
            return self.write(f);
        };
        file.reserve.release_if_full();
        let outcome = match file.commit(false, &f) {
            Err(e) if e.disk_full() => {
                file.reserve.disk_full.store(true, Ordering::Relaxed);
                file.reserve.release_if_full();
                file.commit(false, &f)
            }
            outcome => outcome,
        };
        self.bump();
        outcome
    }

    /// [`Store::write_freeing`] off the async runtime when it has to wait for the disk.
    pub async fn write_freeing_async<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&mut Writer<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        if !self.is_durable() {
            return self.write(f);
        }
        self.off_runtime(move |store| store.write_freeing(f)).await
    }

    /// Runs `job` on the blocking pool (a durable commit waits for the disk).
    async fn off_runtime<T: Send + 'static>(
        &self,
        job: impl FnOnce(Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || job(store))
            .await
            .map_err(|e| StoreError::Join(e.to_string()))?
    }

    /// [`Store::write`] off the async runtime when it has to wait for the disk.
    pub async fn write_async<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writer<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        if !self.is_durable() {
            return self.write(f);
        }
        self.off_runtime(move |store| store.write(f)).await
    }

    /// Runs `f` against a consistent snapshot.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Reader) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &*self.backend {
            Backend::File(file) => file.read(f),
            Backend::Memory(mem) => f(&Reader {
                tx: ReadTx::Memory(mem.snapshot()),
            }),
        }
    }

    /// Reads one value.
    pub fn get(&self, table_name: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|r| r.get(table_name, key))
    }

    /// Reads one JSON value.
    pub fn get_json<T: DeserializeOwned>(
        &self,
        table_name: &str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.get(table_name, key)? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }
}

/// Access to one write transaction.
pub struct Writer<'a> {
    tx: WriteTx<'a>,
}

enum WriteTx<'a> {
    File(&'a redb::WriteTransaction),
    Memory(&'a mut memory::Tables),
}

impl Writer<'_> {
    /// Inserts or replaces a value.
    pub fn put(&mut self, table_name: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        match &mut self.tx {
            WriteTx::File(tx) => {
                let mut t = db_err!(tx.open_table(table(table_name)))?;
                db_err!(t.insert(key, value))?;
            }
            WriteTx::Memory(tables) => tables.put(table_name, key, value),
        }
        Ok(())
    }

    /// Inserts or replaces a JSON value.
    pub fn put_json<T: Serialize>(
        &mut self,
        table_name: &str,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value)?;
        self.put(table_name, key, &bytes)
    }

    /// Reads a value inside the transaction.
    pub fn get(&self, table_name: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.tx {
            WriteTx::File(tx) => {
                let t = db_err!(tx.open_table(table(table_name)))?;
                let value = db_err!(t.get(key))?.map(|v| v.value().to_vec());
                Ok(value)
            }
            WriteTx::Memory(tables) => Ok(tables.get(table_name, key).map(<[u8]>::to_vec)),
        }
    }

    /// Removes every table and entry of the store (a state reset, or the start of an import).
    pub fn clear(&mut self) -> Result<(), StoreError> {
        match &mut self.tx {
            WriteTx::File(tx) => {
                let names: Vec<String> = db_err!(tx.list_tables())?
                    .map(|h| redb::TableHandle::name(&h).to_owned())
                    .collect();
                for name in names {
                    db_err!(tx.delete_table(table(&name)))?;
                }
            }
            WriteTx::Memory(tables) => tables.clear(),
        }
        Ok(())
    }

    /// Removes a value; true when it existed.
    pub fn delete(&mut self, table_name: &str, key: &str) -> Result<bool, StoreError> {
        match &mut self.tx {
            WriteTx::File(tx) => {
                let mut t = db_err!(tx.open_table(table(table_name)))?;
                let existed = db_err!(t.remove(key))?.is_some();
                Ok(existed)
            }
            WriteTx::Memory(tables) => Ok(tables.delete(table_name, key)),
        }
    }
}

/// Access to a read snapshot.
pub struct Reader {
    tx: ReadTx,
}

enum ReadTx {
    File(redb::ReadTransaction),
    Memory(Arc<memory::Tables>),
}

/// Opens a table of a redb read transaction; `None` when it does not exist yet.
fn read_table(
    tx: &redb::ReadTransaction,
    table_name: &str,
) -> Result<Option<redb::ReadOnlyTable<&'static str, &'static [u8]>>, StoreError> {
    match tx.open_table(table(table_name)) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(StoreError::Db(e.into())),
    }
}

impl Reader {
    /// Reads a value.
    pub fn get(&self, table_name: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.tx {
            ReadTx::File(tx) => {
                let Some(t) = read_table(tx, table_name)? else {
                    return Ok(None);
                };
                let value = db_err!(t.get(key))?.map(|v| v.value().to_vec());
                Ok(value)
            }
            ReadTx::Memory(tables) => Ok(tables.get(table_name, key).map(<[u8]>::to_vec)),
        }
    }

    /// The names of the tables that exist, in order.
    pub fn tables(&self) -> Result<Vec<String>, StoreError> {
        match &self.tx {
            ReadTx::File(tx) => {
                let mut names: Vec<String> = db_err!(tx.list_tables())?
                    .map(|h| redb::TableHandle::name(&h).to_owned())
                    .collect();
                names.sort();
                Ok(names)
            }
            ReadTx::Memory(tables) => Ok(tables.names()),
        }
    }

    /// Calls `f` with every entry of a table, in key order (nothing when the table does not exist).
    pub fn visit(
        &self,
        table_name: &str,
        mut f: impl FnMut(&str, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match &self.tx {
            ReadTx::File(tx) => {
                let Some(t) = read_table(tx, table_name)? else {
                    return Ok(());
                };
                for entry in db_err!(t.iter())? {
                    let (k, v) = db_err!(entry)?;
                    f(k.value(), v.value())?;
                }
            }
            ReadTx::Memory(tables) => {
                for (k, v) in tables.range(table_name, None) {
                    f(k, v)?;
                }
            }
        }
        Ok(())
    }

    /// Up to `limit` entries whose keys start with `prefix`, in key order, after `start_after` if given.
    pub fn scan_prefix(
        &self,
        table_name: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let (start, exclusive) = match start_after {
            Some(after) if after >= prefix => (after, true),
            _ => (prefix, false),
        };
        let mut out = Vec::new();
        let mut take = |key: &str, value: &[u8]| {
            if !key.starts_with(prefix) {
                return false;
            }
            if !(exclusive && key == start) {
                out.push((key.to_owned(), value.to_vec()));
            }
            out.len() < limit
        };
        match &self.tx {
            ReadTx::File(tx) => {
                let Some(t) = read_table(tx, table_name)? else {
                    return Ok(out);
                };
                for entry in db_err!(t.range::<&str>(start..))? {
                    let (k, v) = db_err!(entry)?;
                    if !take(k.value(), v.value()) {
                        break;
                    }
                }
            }
            ReadTx::Memory(tables) => {
                for (k, v) in tables.range(table_name, Some((start, exclusive))) {
                    if !take(k, v) {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_round_trip_and_scan() {
        let store = Store::in_memory().unwrap();
        assert_eq!(store.get("t", "a").unwrap(), None);
        store
            .write(|w| {
                for k in ["a/1", "a/2", "a/3", "b/1"] {
                    w.put("t", k, k.as_bytes())?;
                }
                w.put_json("j", "x", &serde_json::json!({"n": 1}))
            })
            .unwrap();
        let keys = |after, limit| {
            store
                .read(|r| r.scan_prefix("t", "a/", after, limit))
                .unwrap()
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(None, 10), ["a/1", "a/2", "a/3"]);
        assert_eq!(keys(Some("a/1"), 1), ["a/2"]);
        assert_eq!(
            store
                .get_json::<serde_json::Value>("j", "x")
                .unwrap()
                .unwrap()["n"],
            1
        );
        assert!(store.write(|w| w.delete("t", "a/1")).unwrap());
        assert_eq!(store.get("t", "a/1").unwrap(), None);
        let mut seen = Vec::new();
        store
            .read(|r| {
                r.visit("t", |k, v| {
                    seen.push((k.to_owned(), v.len()));
                    Ok(())
                })
            })
            .unwrap();
        assert_eq!(
            seen,
            [("a/2".into(), 3), ("a/3".into(), 3), ("b/1".into(), 3)]
        );
    }

    #[test]
    fn persistent_store_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let layout = StateLayout::new(dir.path(), true).unwrap();
        {
            let store = layout.open_store("sts").unwrap();
            store.write(|w| w.put("t", "k", b"v")).unwrap();
        }
        {
            // A deferred write becomes durable with the next durable commit.
            let store = layout.open_store("sts").unwrap();
            store
                .write_deferred(|w| w.put("t", "d", b"deferred"))
                .unwrap();
            store.write(|w| w.put("t", "k2", b"v2")).unwrap();
        }
        let store = layout.open_store("sts").unwrap();
        assert_eq!(store.get("t", "k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(
            store.get("t", "d").unwrap().as_deref(),
            Some(&b"deferred"[..])
        );
        assert!(dir.path().join("state/sts/meta.redb").exists());
    }

    #[test]
    fn scratch_is_removed_and_stale_scratch_swept() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join("tmp/run-999999999");
        std::fs::create_dir_all(&stale).unwrap();
        let layout = StateLayout::new(dir.path(), false).unwrap();
        assert!(!stale.exists());
        let scratch = layout.scratch_dir().to_owned();
        assert!(scratch.exists());
        drop(layout);
        assert!(!scratch.exists());
    }
}

//! The external service port range (LocalStack's `EXTERNAL_SERVICE_PORTS_START`/`_END`, 4510-4559 by
//! default): a registry of which port in the range serves what.
//!
//! A service that needs a port of its own (a Lambda function URL, an RDS instance's database port, the ECR
//! registry) calls [`PortRegistry::reserve`] and gets a [`PortLease`]: the lowest free port, or the one it
//! prefers. The reservation is made under the registry's lock before anything is bound, so two concurrent
//! asks never get the same port; a port that turns out not to be bindable is skipped (or, when it was the
//! preferred one, reported). The lease then names its [`Backend`]: the gateway's own HTTP service (TLS or
//! plaintext, HTTP/1 or h2, optionally pinned to one service) or a TCP address such as a backend container
//! on Skyport's network that publishes nothing. Dropping the lease frees the port.
//!
//! This crate owns no sockets: the proxy installs a [`PortBinder`] when it starts, which listens on an
//! allocated port (on the hosts the gateway listens on) and serves it from the [`Allocation`]'s backend.
//!
//! An allocation can also carry host names ([`PortLease::add_name`]): the binary installs [`PortNames`]
//! (the DNS server's runtime registry), each name then resolves to Skyport, so `<name>:<port>` reaches the
//! allocation's backend; the names are removed when the lease is released. A name belongs to one
//! allocation at a time.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::SystemTime;

/// LocalStack's default first external service port.
pub const DEFAULT_START: u16 = 4510;
/// LocalStack's default end of the range (excluded).
pub const DEFAULT_END: u16 = 4560;

/// An inclusive range of ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    first: u16,
    last: u16,
}

impl PortRange {
    /// The ports `first..=last`; `None` when `last < first`.
    pub fn new(first: u16, last: u16) -> Option<PortRange> {
        (first <= last).then_some(PortRange { first, last })
    }

    /// The first port.
    pub fn first(&self) -> u16 {
        self.first
    }

    /// The last port (included).
    pub fn last(&self) -> u16 {
        self.last
    }

    /// True when `port` lies in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }

    /// The number of ports.
    pub fn len(&self) -> usize {
        usize::from(self.last - self.first) + 1
    }

    /// Never true (a range holds at least one port); present because `len` is.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Default for PortRange {
    fn default() -> Self {
        PortRange {
            first: DEFAULT_START,
            last: DEFAULT_END - 1,
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// What serves connections to an allocated port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The gateway itself, served exactly like the gateway port (TLS or plaintext sniffed, HTTP/1.1 and
    /// HTTP/2). With `service`, requests the router cannot place go to that service.
    Http {
        /// The service id requests are pinned to (e.g. `"sts"`), if any.
        service: Option<String>,
    },
    /// Raw TCP forwarding to `host:port` (a name is resolved at connect time).
    Tcp {
        /// The target, `host:port` or `[v6]:port`.
        target: String,
    },
}

impl Backend {
    /// `"http"` or `"tcp"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Backend::Http { .. } => "http",
            Backend::Tcp { .. } => "tcp",
        }
    }
}

/// Checks a TCP target: `host:port` or `[v6]:port`, a non-empty host and a port above 0.
pub fn parse_target(target: &str) -> Result<(String, u16), PortError> {
    let bad = |why: &str| PortError::BadTarget {
        target: target.to_owned(),
        reason: why.to_owned(),
    };
    let (host, port) = target
        .rsplit_once(':')
        .ok_or_else(|| bad("expected host:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| bad("the port must be a number 1-65535"))?;
    if port == 0 {
        return Err(bad("the port must be a number 1-65535"));
    }
    let host = match host.strip_prefix('[') {
        Some(v6) => v6
            .strip_suffix(']')
            .ok_or_else(|| bad("an IPv6 address needs [brackets]"))?,
        None if host.contains(':') => return Err(bad("an IPv6 address needs [brackets]")),
        None => host,
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(bad("the host must be a name or an address"));
    }
    Ok((host.to_owned(), port))
}

/// What a service asks for.
#[derive(Debug, Clone, Default)]
pub struct PortRequest {
    /// A port the caller would like; the reservation fails when it is taken or cannot be bound.
    pub preferred: Option<u16>,
    /// Who holds the lease (a service id, or `"api"` for the management endpoint).
    pub owner: String,
    /// What the port is for (shown by `GET /_skyport/ports`).
    pub description: String,
}

/// Why a port could not be reserved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// The proxy is not listening yet (or the range is turned off).
    #[error("the external service port range is not being served")]
    NotServing,
    /// The preferred port lies outside the range.
    #[error("port {port} is outside the external service port range {range}")]
    OutOfRange {
        /// The port asked for.
        port: u16,
        /// The range.
        range: PortRange,
    },
    /// The preferred port is already allocated.
    #[error("port {port} is already allocated")]
    Taken {
        /// The port asked for.
        port: u16,
    },
    /// The preferred port could not be listened on (something outside Skyport holds it).
    #[error("port {port} cannot be listened on: {reason}")]
    Unavailable {
        /// The port asked for.
        port: u16,
        /// The OS error.
        reason: String,
    },
    /// Every port in the range is allocated or unbindable.
    #[error("no free port in the external service port range {range}")]
    Exhausted {
        /// The range.
        range: PortRange,
    },
    /// A host name was asked for, but no DNS registry is installed (Skyport's DNS server is off).
    #[error(
        "host names need Skyport's DNS server, which is off (DNS_ADDRESS=0 or no DNS port could be bound)"
    )]
    NoNames,
    /// The host name is registered for another allocation.
    #[error("the host name {name} already points at port {port}")]
    NameTaken {
        /// The name (lowercase, no trailing dot).
        name: String,
        /// The port that holds it.
        port: u16,
    },
    /// The host name is not a valid DNS name.
    #[error("invalid host name {name:?}: {reason}")]
    BadName {
        /// The name given.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A TCP target that is not `host:port`.
    #[error("invalid target {target:?}: {reason}")]
    BadTarget {
        /// The target given.
        target: String,
        /// What is wrong.
        reason: String,
    },
}

/// Whatever keeps an allocated port listening; dropping it stops listening.
pub type PortGuard = Box<dyn Any + Send + Sync>;

/// The proxy's side: listen on a port and serve it from an allocation.
pub trait PortBinder: Send + Sync {
    /// Starts listening on `allocation.port` and serving it; the returned guard stops it when dropped.
    fn open(&self, allocation: Arc<Allocation>) -> std::io::Result<PortGuard>;
}

/// Where allocation names are published (the DNS server's runtime registry, wired by the binary).
pub trait PortNames: Send + Sync {
    /// Makes exactly `name` resolve to Skyport; `Err` says why the name cannot be registered.
    fn add(&self, name: &str) -> Result<(), String>;
    /// Removes `name` again.
    fn remove(&self, name: &str);
}

/// One allocated port, shared by the registry, the lease and the proxy's listeners.
#[derive(Debug)]
pub struct Allocation {
    /// The port.
    pub port: u16,
    /// Who holds it.
    pub owner: String,
    /// What it is for.
    pub description: String,
    /// When it was reserved.
    pub created: SystemTime,
    backend: RwLock<Option<Backend>>,
    names: Mutex<Vec<String>>,
    active: AtomicUsize,
    total: AtomicU64,
}

impl Allocation {
    fn new(port: u16, request: &PortRequest) -> Allocation {
        Allocation {
            port,
            owner: request.owner.clone(),
            description: request.description.clone(),
            created: SystemTime::now(),
            backend: RwLock::new(None),
            names: Mutex::new(Vec::new()),
            active: AtomicUsize::new(0),
            total: AtomicU64::new(0),
        }
    }

    /// The backend, once registered (connections before that are closed).
    pub fn backend(&self) -> Option<Backend> {
        self.backend.read().ok().and_then(|b| b.clone())
    }

    /// The host names that resolve to Skyport for this allocation (lowercase, no trailing dot).
    pub fn names(&self) -> Vec<String> {
        self.names.lock().map(|n| n.clone()).unwrap_or_default()
    }

    /// Connections being served right now.
    pub fn active_connections(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Connections accepted since the port was allocated.
    pub fn total_connections(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Counts a new connection until the returned guard is dropped.
    pub fn connection_opened(self: &Arc<Self>) -> ConnectionGuard {
        self.active.fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self.clone())
    }
}

/// Counts one active connection of an [`Allocation`].
#[derive(Debug)]
pub struct ConnectionGuard(Arc<Allocation>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

enum Slot {
    /// Reserved while the proxy binds it.
    Binding,
    /// Listening.
    Open {
        allocation: Arc<Allocation>,
        _guard: PortGuard,
    },
}

#[derive(Default)]
struct State {
    binder: Option<Arc<dyn PortBinder>>,
    slots: BTreeMap<u16, Slot>,
    names: Option<Arc<dyn PortNames>>,
    /// Which allocation each registered name belongs to.
    named: BTreeMap<String, u16>,
}

struct Inner {
    range: PortRange,
    state: Mutex<State>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the map consistent (every change is one insert/remove).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The registry of the external service port range (cheap to clone; clones share state).
#[derive(Clone)]
pub struct PortRegistry {
    inner: Arc<Inner>,
}

impl fmt::Debug for PortRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortRegistry")
            .field("range", &self.inner.range)
            .finish_non_exhaustive()
    }
}

impl PortRegistry {
    /// A registry for `range`, not yet served (the proxy calls [`PortRegistry::serve_with`]).
    pub fn new(range: PortRange) -> PortRegistry {
        PortRegistry {
            inner: Arc::new(Inner {
                range,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The range.
    pub fn range(&self) -> PortRange {
        self.inner.range
    }

    /// Installs the proxy's binder; reservations fail with [`PortError::NotServing`] until then.
    pub fn serve_with(&self, binder: Arc<dyn PortBinder>) {
        self.inner.lock().binder = Some(binder);
    }

    /// Installs the DNS registry that allocation names go to; [`PortLease::add_name`] fails with
    /// [`PortError::NoNames`] until then.
    pub fn names_with(&self, names: Arc<dyn PortNames>) {
        self.inner.lock().names = Some(names);
    }

    /// Reserves a port (the preferred one, or the lowest free one), listens on it, and returns the lease.
    pub fn reserve(&self, request: PortRequest) -> Result<PortLease, PortError> {
        let range = self.inner.range;
        if let Some(port) = request.preferred
            && !range.contains(port)
        {
            return Err(PortError::OutOfRange { port, range });
        }
        let mut next = request.preferred.unwrap_or(range.first);
        loop {
            // Reserve under the lock, bind outside it: a slow bind does not hold up other callers, and the
            // `Binding` slot keeps them off this port meanwhile.
            let (port, binder) = {
                let mut state = self.inner.lock();
                let binder = state.binder.clone().ok_or(PortError::NotServing)?;
                let port = match request.preferred {
                    Some(port) if state.slots.contains_key(&port) => {
                        return Err(PortError::Taken { port });
                    }
                    Some(port) => port,
                    None => (next..=range.last)
                        .find(|p| !state.slots.contains_key(p))
                        .ok_or(PortError::Exhausted { range })?,
                };
                state.slots.insert(port, Slot::Binding);
                (port, binder)
            };
            let allocation = Arc::new(Allocation::new(port, &request));
            match binder.open(allocation.clone()) {
                Ok(guard) => {
                    self.inner.lock().slots.insert(
                        port,
                        Slot::Open {
                            allocation: allocation.clone(),
                            _guard: guard,
                        },
                    );
                    tracing::info!(
                        port,
                        owner = %request.owner,
                        description = %request.description,
                        "external service port allocated"
                    );
                    return Ok(PortLease {
                        registry: self.clone(),
                        allocation,
                    });
                }
                Err(e) => {
                    self.inner.lock().slots.remove(&port);
                    if request.preferred.is_some() {
                        return Err(PortError::Unavailable {
                            port,
                            reason: e.to_string(),
                        });
                    }
                    tracing::debug!(port, error = %e, "external service port not bindable; trying the next");
                    match port.checked_add(1) {
                        Some(p) if p <= range.last => next = p,
                        _ => return Err(PortError::Exhausted { range }),
                    }
                }
            }
        }
    }

    /// Every open allocation, by port.
    pub fn list(&self) -> Vec<Arc<Allocation>> {
        self.inner
            .lock()
            .slots
            .values()
            .filter_map(|slot| match slot {
                Slot::Open { allocation, .. } => Some(allocation.clone()),
                Slot::Binding => None,
            })
            .collect()
    }

    /// The open allocation of `port`, if any.
    pub fn get(&self, port: u16) -> Option<Arc<Allocation>> {
        match self.inner.lock().slots.get(&port) {
            Some(Slot::Open { allocation, .. }) => Some(allocation.clone()),
            _ => None,
        }
    }

    fn add_name(&self, allocation: &Arc<Allocation>, name: &str) -> Result<String, PortError> {
        let normalized = name.trim().trim_end_matches('.').to_ascii_lowercase();
        let bad = |reason: &str| PortError::BadName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        if normalized.is_empty() {
            return Err(bad("the name is empty"));
        }
        if normalized.contains('*') {
            return Err(bad("wildcards are not allowed"));
        }
        if normalized.len() > 253 {
            return Err(bad("longer than 253 characters"));
        }
        for label in normalized.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(bad("every label must have 1 to 63 characters"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(bad("labels may hold only letters, digits, '-' and '_'"));
            }
        }
        // Under the registry's lock, so a release cannot remove a name another allocation just took.
        let mut state = self.inner.lock();
        let names = state.names.clone().ok_or(PortError::NoNames)?;
        match state.named.get(&normalized) {
            Some(port) if *port == allocation.port => return Ok(normalized),
            Some(port) => {
                return Err(PortError::NameTaken {
                    name: normalized,
                    port: *port,
                });
            }
            None => {}
        }
        names.add(&normalized).map_err(|reason| bad(&reason))?;
        state.named.insert(normalized.clone(), allocation.port);
        if let Ok(mut held) = allocation.names.lock() {
            held.push(normalized.clone());
        }
        tracing::info!(port = allocation.port, name = %normalized, "external service port named");
        Ok(normalized)
    }

    fn release(&self, allocation: &Arc<Allocation>) {
        let removed = {
            let mut state = self.inner.lock();
            let ours = matches!(
                state.slots.get(&allocation.port),
                Some(Slot::Open { allocation: a, .. }) if Arc::ptr_eq(a, allocation)
            );
            if ours {
                let held = allocation
                    .names
                    .lock()
                    .map(|mut n| std::mem::take(&mut *n))
                    .unwrap_or_default();
                for name in held {
                    state.named.remove(&name);
                    if let Some(names) = &state.names {
                        names.remove(&name);
                    }
                }
                state.slots.remove(&allocation.port)
            } else {
                None
            }
        };
        // The guard (and with it the listeners) is dropped here, outside the lock.
        if removed.is_some() {
            tracing::info!(port = allocation.port, owner = %allocation.owner, "external service port released");
        }
    }
}

/// A held port: set its backend; drop it (or call [`PortLease::release`]) to free the port.
#[derive(Debug)]
pub struct PortLease {
    registry: PortRegistry,
    allocation: Arc<Allocation>,
}

impl PortLease {
    /// The port.
    pub fn port(&self) -> u16 {
        self.allocation.port
    }

    /// The shared allocation (backend, counters).
    pub fn allocation(&self) -> &Arc<Allocation> {
        &self.allocation
    }

    /// Routes the port to `backend` (replacing any earlier one; open connections keep theirs).
    pub fn set_backend(&self, backend: Backend) {
        if let Ok(mut slot) = self.allocation.backend.write() {
            *slot = Some(backend);
        }
    }

    /// Makes `name` resolve to Skyport (through the installed [`PortNames`]) until the lease is released;
    /// returns the name as registered (lowercase, no trailing dot).
    pub fn add_name(&self, name: &str) -> Result<String, PortError> {
        self.registry.add_name(&self.allocation, name)
    }

    /// Frees the port now (the same as dropping the lease).
    pub fn release(self) {}
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.registry.release(&self.allocation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::atomic::AtomicBool;

    /// Records opens; refuses the ports in `refuse`.
    #[derive(Default)]
    struct FakeBinder {
        refuse: Vec<u16>,
        open: Mutex<HashSet<u16>>,
        slow: AtomicBool,
    }

    struct Closer(Arc<FakeBinder>, u16);
    impl Drop for Closer {
        fn drop(&mut self) {
            self.0.open.lock().unwrap().remove(&self.1);
        }
    }

    struct Shared(Arc<FakeBinder>);
    impl PortBinder for Shared {
        fn open(&self, allocation: Arc<Allocation>) -> std::io::Result<PortGuard> {
            if self.0.slow.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            if self.0.refuse.contains(&allocation.port) {
                return Err(std::io::Error::from(std::io::ErrorKind::AddrInUse));
            }
            assert!(
                self.0.open.lock().unwrap().insert(allocation.port),
                "port {} opened twice",
                allocation.port
            );
            Ok(Box::new(Closer(self.0.clone(), allocation.port)))
        }
    }

    fn registry(first: u16, last: u16, refuse: Vec<u16>) -> (PortRegistry, Arc<FakeBinder>) {
        let binder = Arc::new(FakeBinder {
            refuse,
            ..FakeBinder::default()
        });
        let registry = PortRegistry::new(PortRange::new(first, last).unwrap());
        registry.serve_with(Arc::new(Shared(binder.clone())));
        (registry, binder)
    }

    fn ask(preferred: Option<u16>) -> PortRequest {
        PortRequest {
            preferred,
            owner: "test".into(),
            description: String::new(),
        }
    }

    #[test]
    fn lowest_free_then_preferred_then_release() {
        let (registry, binder) = registry(4510, 4513, vec![4511]);
        let a = registry.reserve(ask(None)).unwrap();
        assert_eq!(a.port(), 4510);
        // 4511 cannot be bound: skipped.
        let b = registry.reserve(ask(None)).unwrap();
        assert_eq!(b.port(), 4512);
        assert_eq!(
            registry.reserve(ask(Some(4511))).unwrap_err(),
            PortError::Unavailable {
                port: 4511,
                reason: std::io::Error::from(std::io::ErrorKind::AddrInUse).to_string()
            }
        );
        assert_eq!(
            registry.reserve(ask(Some(4512))).unwrap_err(),
            PortError::Taken { port: 4512 }
        );
        assert!(matches!(
            registry.reserve(ask(Some(4600))),
            Err(PortError::OutOfRange { port: 4600, .. })
        ));
        let c = registry.reserve(ask(Some(4513))).unwrap();
        assert!(matches!(
            registry.reserve(ask(None)),
            Err(PortError::Exhausted { .. })
        ));
        assert_eq!(registry.list().len(), 3);
        drop(a);
        assert!(!binder.open.lock().unwrap().contains(&4510));
        assert!(registry.get(4510).is_none());
        assert_eq!(registry.reserve(ask(None)).unwrap().port(), 4510);
        c.release();
        assert_eq!(registry.list().len(), 1);
    }

    #[test]
    fn not_serving_before_the_binder() {
        let registry = PortRegistry::new(PortRange::default());
        assert_eq!(registry.range().len(), 50);
        assert_eq!(registry.range().to_string(), "4510-4559");
        assert_eq!(
            registry.reserve(ask(None)).unwrap_err(),
            PortError::NotServing
        );
    }

    #[test]
    fn concurrent_reservations_never_collide() {
        let (registry, binder) = registry(20000, 20063, vec![]);
        binder.slow.store(true, Ordering::Relaxed);
        let leases: Vec<PortLease> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..64)
                .map(|_| s.spawn(|| registry.reserve(ask(None)).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ports: HashSet<u16> = leases.iter().map(PortLease::port).collect();
        assert_eq!(ports.len(), 64);
    }

    #[test]
    fn backend_and_counters() {
        let (registry, _) = registry(4510, 4510, vec![]);
        let lease = registry.reserve(ask(None)).unwrap();
        assert_eq!(lease.allocation().backend(), None);
        lease.set_backend(Backend::Tcp {
            target: "db:5432".into(),
        });
        let allocation = registry.get(4510).unwrap();
        assert_eq!(allocation.backend().unwrap().kind(), "tcp");
        let guard = allocation.connection_opened();
        assert_eq!(allocation.active_connections(), 1);
        drop(guard);
        assert_eq!(allocation.active_connections(), 0);
        assert_eq!(allocation.total_connections(), 1);
    }

    /// Names as the DNS registry would hold them.
    #[derive(Default)]
    struct FakeNames(Mutex<Vec<String>>);
    impl PortNames for FakeNames {
        fn add(&self, name: &str) -> Result<(), String> {
            if name.contains(' ') {
                return Err("not a DNS name".into());
            }
            self.0.lock().unwrap().push(name.to_owned());
            Ok(())
        }
        fn remove(&self, name: &str) {
            self.0.lock().unwrap().retain(|n| n != name);
        }
    }

    #[test]
    fn names_belong_to_one_allocation_and_go_with_it() {
        let (registry, _) = registry(4510, 4511, vec![]);
        let a = registry.reserve(ask(None)).unwrap();
        assert_eq!(a.add_name("db.test").unwrap_err(), PortError::NoNames);
        let names = Arc::new(FakeNames::default());
        registry.names_with(names.clone());
        assert_eq!(a.add_name("DB.Test.").unwrap(), "db.test");
        assert_eq!(a.add_name("db.test").unwrap(), "db.test");
        assert_eq!(a.allocation().names(), vec!["db.test".to_owned()]);
        let b = registry.reserve(ask(None)).unwrap();
        assert_eq!(
            b.add_name("db.test").unwrap_err(),
            PortError::NameTaken {
                name: "db.test".into(),
                port: 4510
            }
        );
        for bad in ["a b", "a..b", "a.-b!", "x.é"] {
            assert!(
                matches!(b.add_name(bad), Err(PortError::BadName { .. })),
                "{bad}"
            );
        }
        assert!(matches!(b.add_name("*.x"), Err(PortError::BadName { .. })));
        assert!(matches!(b.add_name(" ."), Err(PortError::BadName { .. })));
        drop(a);
        assert!(names.0.lock().unwrap().is_empty());
        assert_eq!(b.add_name("db.test").unwrap(), "db.test");
        assert_eq!(*names.0.lock().unwrap(), vec!["db.test".to_owned()]);
    }

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("backend:9000").unwrap(),
            ("backend".into(), 9000)
        );
        assert_eq!(parse_target("[::1]:80").unwrap(), ("::1".into(), 80));
        for bad in [
            "", "x", ":80", "h:0", "h:99999", "::1:80", "[::1:80", "a b:1",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }
}

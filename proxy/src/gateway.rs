//! The gateway: binds the listeners, runs the accept loops, and shuts down gracefully (stop accepting,
//! let in-flight requests finish within a deadline).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use skyport_core::Service;
use skyport_core::ports::PortRegistry;
use tokio::sync::mpsc;

use crate::forward::ForwardOptions;
use crate::internal::Health;
use crate::listener::{self, BindError};
use crate::router::RouterConfig;
use crate::shutdown::Shutdown;

/// How the gateway is set up.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Addresses to listen on (`GATEWAY_LISTEN`).
    pub listen: Vec<SocketAddr>,
    /// Router settings.
    pub router: RouterConfig,
    /// TLS for connections whose first byte is a TLS handshake; `None` closes such connections.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// How long a new connection may stay silent, and how long a TLS handshake may take.
    pub handshake_timeout: Duration,
    /// How long a client may take to send a request head (HTTP/1).
    pub header_read_timeout: Duration,
    /// The largest form body the router reads to find a query `Action`.
    pub max_form_body: usize,
    /// Send `x-localstack: true` on every response (`LOCALSTACK_RESPONSE_HEADER_ENABLED`).
    pub localstack_header: bool,
    /// Running in a container (reported by `/_localstack/info`).
    pub is_docker: bool,
    /// The external service port range to serve (on the same hosts as the listen addresses), if any.
    pub ports: Option<PortRegistry>,
    /// Connect and idle timeouts of TCP routes in the port range.
    pub forward: ForwardOptions,
    /// Where `/_localstack/state/<service>/save` keeps snapshots and imports stage data files.
    pub snapshot_dir: Option<std::path::PathBuf>,
    /// Where allocations made through `/_skyport/ports` are kept across restarts (with persistence).
    pub ports_store: Option<skyport_core::store::Store>,
    /// The init hooks' state reported by `/_localstack/init` (the hook runner writes it).
    pub init: Arc<skyport_core::init::InitStatus>,
    /// `ENFORCE_IAM=1`: verify every request's signature against these access keys.
    pub credentials: Option<Arc<dyn skyport_core::bus::CredentialDirectory>>,
    /// The largest body read to hash it when verifying a signature.
    pub max_signed_body: usize,
    /// `ENFORCE_IAM=1`: IAM's policy evaluation, handed to services in each request's context.
    pub authorizer: Option<Arc<dyn skyport_core::bus::Authorizer>>,
}

impl GatewayOptions {
    /// Options with Skyport's defaults for everything but the listen addresses and router.
    pub fn new(listen: Vec<SocketAddr>, router: RouterConfig) -> GatewayOptions {
        GatewayOptions {
            listen,
            router,
            tls: None,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            max_form_body: 16 << 20,
            localstack_header: true,
            is_docker: false,
            ports: None,
            forward: ForwardOptions::default(),
            snapshot_dir: None,
            ports_store: None,
            init: Arc::new(skyport_core::init::InitStatus::new()),
            credentials: None,
            max_signed_body: 256 << 20,
            authorizer: None,
        }
    }
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No listen address could be bound.
    #[error("no gateway address could be bound: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    NothingBound(Vec<BindError>),
}

/// State shared by all connections.
pub(crate) struct Shared {
    pub router: RouterConfig,
    pub services: HashMap<&'static str, Arc<dyn Service>>,
    pub disabled: HashSet<String>,
    /// The per-service gates of resets and imports, and the state endpoints' services.
    pub state: Arc<crate::state::StateGates>,
    pub health: Arc<Health>,
    pub shutdown: Shutdown,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub http: auto::Builder<TokioExecutor>,
    pub handshake_timeout: Duration,
    pub header_read_timeout: Duration,
    pub max_form_body: usize,
    /// Signature verification (`ENFORCE_IAM=1`).
    pub auth: Option<crate::auth::Authenticator>,
    /// Policy evaluation (`ENFORCE_IAM=1`).
    pub authorizer: Option<Arc<dyn skyport_core::bus::Authorizer>>,
    pub localstack_header: bool,
    pub ports: Option<crate::ports::Ports>,
    /// Lets listeners added after the start ([`Listeners`]) take part in draining; taken at shutdown.
    pub extra_conn_tx: std::sync::Mutex<Option<mpsc::Sender<()>>>,
    /// Applications mounted under internal paths (the console).
    pub apps: Vec<Arc<dyn crate::app::App>>,
    /// The recent requests, and the live feed of new ones.
    pub requests: Arc<crate::request_log::RequestLog>,
}

/// A gateway being assembled.
pub struct Gateway {
    options: GatewayOptions,
    services: HashMap<&'static str, Arc<dyn Service>>,
    /// Registration order (the order of resets and exports).
    order: Vec<&'static str>,
    disabled: HashSet<String>,
    documents: BTreeMap<String, (&'static str, bytes::Bytes)>,
    apps: Vec<Arc<dyn crate::app::App>>,
}

impl Gateway {
    /// A gateway with no services yet.
    pub fn new(options: GatewayOptions) -> Gateway {
        Gateway {
            options,
            services: HashMap::new(),
            order: Vec::new(),
            disabled: HashSet::new(),
            documents: BTreeMap::new(),
            apps: Vec::new(),
        }
    }

    /// `ENFORCE_IAM=1`: every service asks `authorizer` (IAM) whether a verified principal may do what
    /// it asks (set before [`Gateway::start`]).
    pub fn enforce_policies(&mut self, authorizer: Arc<dyn skyport_core::bus::Authorizer>) {
        self.options.authorizer = Some(authorizer);
    }

    /// `ENFORCE_IAM=1`: verify the signature of every request against the keys `directory` knows
    /// (set before [`Gateway::start`]; the directory is assembled from services registered later).
    pub fn enforce_signatures(
        &mut self,
        directory: Arc<dyn skyport_core::bus::CredentialDirectory>,
    ) {
        self.options.credentials = Some(directory);
    }

    /// Adds a service implementation.
    pub fn register(&mut self, service: Arc<dyn Service>) {
        let name = service.info().name;
        if self.services.insert(name, service).is_none() {
            self.order.push(name);
        }
    }

    /// Marks a service as disabled (`SERVICES` excludes it): requests get a "disabled" error.
    pub fn disable(&mut self, id: &str) {
        self.disabled.insert(id.to_owned());
    }

    /// Serves a static document at an internal path (e.g. `/_skyport/certs/ca.pem`).
    pub fn add_document(&mut self, path: &str, content_type: &'static str, bytes: bytes::Bytes) {
        self.documents
            .insert(path.to_owned(), (content_type, bytes));
    }

    /// Serves an application under the internal paths it claims (the console), before the built-in
    /// endpoints.
    pub fn mount(&mut self, app: Arc<dyn crate::app::App>) {
        self.apps.push(app);
    }

    /// Binds every listen address and starts serving. Addresses that cannot be bound are reported in
    /// [`RunningGateway::bind_errors`]; starting fails only when none can be bound.
    pub async fn start(self) -> Result<RunningGateway, StartError> {
        let mut services_health = BTreeMap::new();
        for name in self.services.keys() {
            let state = if self.disabled.contains(*name) {
                "disabled"
            } else {
                "running"
            };
            services_health.insert((*name).to_owned(), state.to_owned());
        }
        let mut health = Health::new(services_health, self.options.is_docker);
        health.documents = self.documents;
        health.init = self.options.init.clone();
        health.operations = self
            .services
            .iter()
            .filter_map(|(name, service)| Some((*name, service.operations()?)))
            .collect();
        let health = Arc::new(health);

        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1()
            .timer(TokioTimer::new())
            // Stuck request heads are caught by the per-connection watchdog (`watchdog.rs`) instead of a
            // timer armed for every request.
            .header_read_timeout(None)
            .keep_alive(true)
            // A client that half-closes after its request (`nc -N`, some scripts) still gets the response.
            .half_close(true)
            .max_buf_size(1 << 20);
        http.http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(256)
            .max_header_list_size(1 << 20)
            .keep_alive_interval(Some(Duration::from_secs(30)));

        let shutdown = Shutdown::new();
        let stateful = self
            .order
            .iter()
            .filter(|name| !self.disabled.contains(**name))
            .filter_map(|name| Some((*name, self.services.get(name)?.clone())))
            .collect();
        let state = Arc::new(crate::state::StateGates::new(
            stateful,
            self.options.snapshot_dir.clone(),
        ));
        let shared = Arc::new(Shared {
            router: self.options.router.clone(),
            state,
            services: self.services,
            disabled: self.disabled,
            health: health.clone(),
            shutdown: shutdown.clone(),
            tls: self
                .options
                .tls
                .clone()
                .map(tokio_rustls::TlsAcceptor::from),
            http,
            handshake_timeout: self.options.handshake_timeout,
            header_read_timeout: self.options.header_read_timeout,
            max_form_body: self.options.max_form_body,
            authorizer: self.options.authorizer.clone(),
            auth: self.options.credentials.clone().map(|directory| {
                crate::auth::Authenticator::new(directory, self.options.max_signed_body)
            }),
            localstack_header: self.options.localstack_header,
            ports: self.options.ports.clone().map(|registry| {
                crate::ports::Ports::new(
                    registry,
                    self.options.forward,
                    self.options.ports_store.clone(),
                )
            }),
            extra_conn_tx: std::sync::Mutex::new(None),
            apps: self.apps,
            requests: Arc::new(crate::request_log::RequestLog::new()),
        });

        let mut bound = Vec::new();
        let mut errors = Vec::new();
        for addr in &self.options.listen {
            match listener::bind(*addr) {
                Ok(l) => bound.push(l),
                Err(e) => errors.push(e),
            }
        }
        if bound.is_empty() {
            return Err(StartError::NothingBound(errors));
        }

        let (conn_tx, conn_rx) = mpsc::channel::<()>(1);
        *shared
            .extra_conn_tx
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(conn_tx.clone());
        let mut addrs = Vec::new();
        let mut accept_tasks = Vec::new();
        for l in bound {
            let local = match l.local_addr() {
                Ok(a) => a,
                Err(_) => continue,
            };
            addrs.push(local);
            let shared = shared.clone();
            let conn_tx = conn_tx.clone();
            accept_tasks.push(tokio::spawn(accept_loop(l, local, shared, conn_tx)));
        }
        drop(conn_tx);
        if let Some(ports) = &shared.ports {
            let binder = crate::ports::Binder::new(&addrs, &shared, ports);
            ports.registry.serve_with(Arc::new(binder));
            ports.restore(&shared.services);
        }
        Ok(RunningGateway {
            addrs,
            bind_errors: errors,
            shutdown,
            health,
            conn_rx,
            accept_tasks,
            shared,
        })
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    local: SocketAddr,
    shared: Arc<Shared>,
    conn_tx: mpsc::Sender<()>,
) {
    let shutdown = shared.shutdown.clone();
    listener::accept_until_shutdown(listener, local, &shutdown, |stream, peer| {
        let shared = shared.clone();
        let guard = conn_tx.clone();
        tokio::spawn(async move {
            crate::conn::handle(stream, peer, local, None, shared).await;
            drop(guard);
        });
    })
    .await;
}

/// A gateway that is serving.
pub struct RunningGateway {
    /// The addresses actually bound (ports resolved when `:0` was asked for).
    pub addrs: Vec<SocketAddr>,
    /// Addresses that could not be bound.
    pub bind_errors: Vec<BindError>,
    shutdown: Shutdown,
    health: Arc<Health>,
    conn_rx: mpsc::Receiver<()>,
    accept_tasks: Vec<tokio::task::JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl RunningGateway {
    /// The shutdown signal (trigger it to stop the gateway; the health endpoint's `kill` does too).
    pub fn shutdown_signal(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// A handle that adds listen addresses while the gateway runs (Lambda's network, for instance).
    pub fn listeners(&self) -> Listeners {
        Listeners {
            shared: self.shared.clone(),
        }
    }

    /// The health state (mark ready once startup completes).
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Stops accepting, asks every connection to finish its in-flight requests, and waits up to `grace`
    /// for them. Returns the number of connections still open when the deadline passed.
    pub async fn shutdown(mut self, grace: Duration) -> bool {
        self.shutdown.trigger();
        self.shared
            .extra_conn_tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        for service in self.shared.services.values() {
            service.stopping();
        }
        for task in self.accept_tasks.drain(..) {
            let _ = task.await;
        }
        let drained = tokio::time::timeout(grace, self.conn_rx.recv())
            .await
            .is_ok();
        for service in self.shared.services.values() {
            service.shutdown().await;
        }
        drained
    }
}

/// Adds listen addresses to a running gateway.
#[derive(Clone)]
pub struct Listeners {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners").finish_non_exhaustive()
    }
}

impl Listeners {
    /// Serves the gateway on `addr` as well (HTTP and HTTPS, HTTP/1.1 and HTTP/2), until shutdown.
    pub fn listen_on(&self, addr: std::net::SocketAddr) -> Result<std::net::SocketAddr, BindError> {
        let conn_tx = self
            .shared
            .extra_conn_tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(BindError::ShuttingDown { addr })?;
        let l = listener::bind(addr)?;
        let local = l
            .local_addr()
            .map_err(|source| BindError::Other { addr, source })?;
        tokio::spawn(accept_loop(l, local, self.shared.clone(), conn_tx));
        tracing::info!("Listening on {local} (HTTP and HTTPS, HTTP/1.1 and HTTP/2)");
        Ok(local)
    }
}

//! The proxy's side of the external service port range: a [`PortBinder`] that listens on an allocated port
//! on every host the gateway listens on and serves each connection from the allocation's backend (the
//! gateway's HTTP serving, optionally pinned to a service, or TCP forwarding through [`crate::forward`]);
//! and the management endpoints:
//!
//! - `GET /_skyport/ports` lists the allocations; `GET /_skyport/ports/<port>` shows one.
//! - `POST /_skyport/ports` with `{"target": "host:port"}` (or `{"service": "sts"}`), optional `"port"` and
//!   `"description"`, allocates a port and answers 201 with the allocation. An optional `"hostname"` is
//!   registered in Skyport's DNS (it resolves to Skyport, so `<hostname>:<port>` reaches the backend) and
//!   removed again when the allocation is released.
//! - `DELETE /_skyport/ports/<port>` releases an allocation made through this endpoint (204).
//!
//! With persistence (a store given to the gateway), allocations made through the endpoint are stored
//! before the 201 and removed before the 204, and made again at the next start.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use http::{Method, Response, StatusCode, request::Parts};
use serde::Deserialize;
use serde_json::{Value, json};
use skyport_core::ports::{
    Allocation, Backend, PortBinder, PortError, PortGuard, PortLease, PortRegistry, PortRequest,
    parse_target,
};
use skyport_core::store::Store;
use skyport_core::{Body, body, protocol::bytes_response, timefmt};
use tokio::net::{TcpListener, TcpStream};

use crate::forward::{self, Ended, ForwardOptions};
use crate::gateway::Shared;
use crate::listener::{self, BindError};

/// The owner recorded for allocations made through `POST /_skyport/ports`.
pub const API_OWNER: &str = "api";

/// The port range as the gateway serves it: the registry and the leases made through the API.
pub(crate) struct Ports {
    pub registry: PortRegistry,
    pub forward: ForwardOptions,
    api_leases: Mutex<HashMap<u16, PortLease>>,
    /// Where API allocations are kept across restarts (with persistence).
    store: Option<Store>,
    /// Accept loops of released ports that may still hold their listeners.
    closing: Closing,
}

/// The accept loops of released ports, by port, until they have finished. Aborting a task only asks the
/// runtime to drop it; a release through the API awaits them, so the port is free when the 204 is sent.
type Closing = Arc<Mutex<HashMap<u16, Vec<tokio::task::JoinHandle<()>>>>>;

/// The store table of API allocations: port (5 digits) → [`CreateRequest`] JSON with the port set.
const API_PORTS: &str = "api_ports";

impl Ports {
    pub fn new(registry: PortRegistry, forward: ForwardOptions, store: Option<Store>) -> Ports {
        Ports {
            registry,
            forward,
            api_leases: Mutex::new(HashMap::new()),
            store,
            closing: Closing::default(),
        }
    }

    /// Waits until the accept loops of a released `port` have dropped their listeners.
    async fn closed(&self, port: u16) {
        let tasks = self
            .closing
            .lock()
            .ok()
            .and_then(|mut closing| closing.remove(&port))
            .unwrap_or_default();
        for task in tasks {
            // Cancelled is the expected outcome: the task's future (and its listener) has been dropped.
            let _ = task.await;
        }
    }

    /// Makes the stored API allocations again (at start, once the range is served).
    pub fn restore(&self, services: &HashMap<&'static str, Arc<dyn skyport_core::Service>>) {
        let Some(store) = &self.store else {
            return;
        };
        let mut saved = Vec::new();
        let read = store.read(|r| {
            r.visit(API_PORTS, |_, v| {
                match serde_json::from_slice::<CreateRequest>(v) {
                    Ok(request) => saved.push(request),
                    Err(e) => tracing::warn!("skipping an unreadable stored port allocation: {e}"),
                }
                Ok(())
            })
        });
        if let Err(e) = read {
            tracing::warn!("cannot read the stored port allocations: {e}");
            return;
        }
        for request in saved {
            let port = request.port;
            match self.allocate(services, request) {
                Ok(lease) => {
                    tracing::info!(port = lease.port(), "port allocation restored");
                    if let Ok(mut leases) = self.api_leases.lock() {
                        leases.insert(lease.port(), lease);
                    }
                }
                Err((_, message)) => {
                    tracing::warn!(?port, "cannot restore a port allocation: {message}")
                }
            }
        }
    }

    /// Reserves a port for `request` with its backend and host name.
    fn allocate(
        &self,
        services: &HashMap<&'static str, Arc<dyn skyport_core::Service>>,
        request: CreateRequest,
    ) -> Result<PortLease, (StatusCode, String)> {
        let backend = match (request.target, request.service) {
            (Some(target), None) => {
                parse_target(&target).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
                Backend::Tcp { target }
            }
            (None, Some(service)) => {
                if !services.contains_key(service.as_str()) {
                    let mut known: Vec<&str> = services.keys().copied().collect();
                    known.sort_unstable();
                    return Err((
                        StatusCode::BAD_REQUEST,
                        format!("unknown service {service:?}; known: {}", known.join(", ")),
                    ));
                }
                Backend::Http {
                    service: Some(service),
                }
            }
            _ => {
                return Err((
                    StatusCode::BAD_REQUEST,
                    "give exactly one of \"target\" (host:port, raw TCP) or \"service\" (a Skyport service over HTTP)".to_owned(),
                ));
            }
        };
        let lease = self
            .registry
            .reserve(PortRequest {
                preferred: request.port,
                owner: API_OWNER.to_owned(),
                description: request.description,
            })
            .map_err(|e| (status_of(&e), e.to_string()))?;
        lease.set_backend(backend);
        if let Some(name) = &request.hostname {
            // A name that cannot be registered frees the port again (the lease is dropped).
            lease
                .add_name(name)
                .map_err(|e| (status_of(&e), e.to_string()))?;
        }
        Ok(lease)
    }

    /// Stores (`Some`) or forgets (`None`) the API allocation of `port`, durably.
    async fn save(&self, port: u16, request: Option<CreateRequest>) -> Result<(), String> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let key = format!("{port:05}");
        store
            .write_async(move |w| match &request {
                Some(r) => w.put_json(API_PORTS, &key, r),
                None => w.delete(API_PORTS, &key).map(|_| ()),
            })
            .await
            .map_err(|e| e.to_string())
    }
}

/// Listens on allocated ports for the gateway.
pub(crate) struct Binder {
    /// The hosts the gateway listens on (each allocated port is bound on all of them).
    hosts: Vec<IpAddr>,
    shared: Weak<Shared>,
    closing: Closing,
}

impl Binder {
    pub fn new(gateway_addrs: &[SocketAddr], shared: &Arc<Shared>, ports: &Ports) -> Binder {
        let hosts: BTreeSet<IpAddr> = gateway_addrs.iter().map(SocketAddr::ip).collect();
        Binder {
            hosts: hosts.into_iter().collect(),
            shared: Arc::downgrade(shared),
            closing: ports.closing.clone(),
        }
    }
}

/// Stops a port's accept loops when dropped, and leaves them in [`Closing`] until they have finished.
struct Listening {
    port: u16,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    closing: Closing,
}

impl Drop for Listening {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Ok(mut closing) = self.closing.lock() {
            // Ports released without anyone waiting (by their other owners) are forgotten once finished.
            closing.retain(|_, tasks| {
                tasks.retain(|t| !t.is_finished());
                !tasks.is_empty()
            });
            closing
                .entry(self.port)
                .or_default()
                .append(&mut self.tasks);
        }
    }
}

impl PortBinder for Binder {
    fn open(&self, allocation: Arc<Allocation>) -> std::io::Result<PortGuard> {
        let shared = self
            .shared
            .upgrade()
            .ok_or_else(|| std::io::Error::other("the gateway has stopped"))?;
        let mut listeners = Vec::new();
        for host in &self.hosts {
            match listener::bind(SocketAddr::new(*host, allocation.port)) {
                Ok(l) => listeners.push(l),
                // A host without IPv6 (say) does not make the port unusable on the others.
                Err(BindError::Unavailable { addr, source }) => {
                    tracing::debug!(%addr, error = %source, "external service port not bound on this host");
                }
                Err(e) => return Err(std::io::Error::other(e.to_string())),
            }
        }
        if listeners.is_empty() {
            return Err(std::io::Error::other("no gateway host could be bound"));
        }
        let port = Arc::new(PortState {
            allocation,
            last_warning: Mutex::new(None),
        });
        let number = port.allocation.port;
        let tasks = listeners
            .into_iter()
            .map(|l| tokio::spawn(accept_loop(l, port.clone(), shared.clone())))
            .collect();
        Ok(Box::new(Listening {
            port: number,
            tasks,
            closing: self.closing.clone(),
        }))
    }
}

/// What the accept loops of one port share.
struct PortState {
    allocation: Arc<Allocation>,
    /// The cause of the last backend failure warned about, so a dead backend warns once, not per connection.
    last_warning: Mutex<Option<String>>,
}

async fn accept_loop(listener: TcpListener, port: Arc<PortState>, shared: Arc<Shared>) {
    let Ok(local) = listener.local_addr() else {
        return;
    };
    let shutdown = shared.shutdown.clone();
    listener::accept_until_shutdown(listener, local, &shutdown, |stream, peer| {
        let port = port.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let _counted = port.allocation.connection_opened();
            serve(stream, peer, local, &port, shared).await;
        });
    })
    .await;
}

async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    port: &PortState,
    shared: Arc<Shared>,
) {
    match port.allocation.backend() {
        None => tracing::debug!(%peer, port = local.port(), "no backend registered yet; closing"),
        Some(Backend::Http { service }) => {
            let pinned = service
                .as_deref()
                .and_then(|s| shared.services.get_key_value(s).map(|(k, _)| *k));
            crate::conn::handle(stream, peer, local, pinned, shared).await;
        }
        Some(Backend::Tcp { target }) => {
            let _ = stream.set_nodelay(true);
            let options = shared.ports.as_ref().map(|p| p.forward).unwrap_or_default();
            let backend = match forward::connect(&target, &options).await {
                Ok(b) => {
                    if let Ok(mut last) = port.last_warning.lock() {
                        *last = None;
                    }
                    b
                }
                Err(e) => {
                    let cause = e.cause();
                    let repeat = port
                        .last_warning
                        .lock()
                        .map(|mut last| last.replace(cause.clone()) == Some(cause))
                        .unwrap_or(false);
                    if repeat {
                        tracing::debug!(port = local.port(), %peer, error = %e, "backend unreachable; closing");
                    } else {
                        tracing::warn!(
                            port = local.port(),
                            "backend unreachable, closing client connections until it is back: {e}"
                        );
                    }
                    return;
                }
            };
            match forward::pump(stream, backend, &options, &shared.shutdown).await {
                Ok((Ended::Idle, ..)) => {
                    tracing::debug!(port = local.port(), %peer, "idle timeout; closed")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(port = local.port(), %peer, error = %e, "forwarding ended")
                }
            }
        }
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes_response(status, "application/json", Bytes::from(bytes))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    json_response(status, &json!({"error": message.into()}))
}

fn describe(allocation: &Allocation) -> Value {
    let backend = match allocation.backend() {
        None => json!(null),
        Some(Backend::Tcp { target }) => json!({"kind": "tcp", "target": target}),
        Some(Backend::Http { service }) => json!({"kind": "http", "service": service}),
    };
    json!({
        "port": allocation.port,
        "backend": backend,
        "owner": allocation.owner,
        "description": allocation.description,
        "hostnames": allocation.names(),
        "created": timefmt::iso8601_seconds(allocation.created),
        "active_connections": allocation.active_connections(),
        "total_connections": allocation.total_connections(),
    })
}

/// The body of `POST /_skyport/ports` (also how an allocation is stored).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    target: Option<String>,
    service: Option<String>,
    port: Option<u16>,
    #[serde(default)]
    description: String,
    hostname: Option<String>,
}

/// The status for a port error: the caller's mistake, a conflict with what exists, or not served.
fn status_of(e: &PortError) -> StatusCode {
    match e {
        PortError::OutOfRange { .. } | PortError::BadTarget { .. } | PortError::BadName { .. } => {
            StatusCode::BAD_REQUEST
        }
        PortError::Taken { .. }
        | PortError::Unavailable { .. }
        | PortError::Exhausted { .. }
        | PortError::NameTaken { .. } => StatusCode::CONFLICT,
        PortError::NotServing | PortError::NoNames => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Serves `/_skyport/ports[/<port>]`.
pub(crate) async fn handle(shared: &Shared, parts: &Parts, request_body: Body) -> Response<Body> {
    let Some(ports) = &shared.ports else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the external service port range is not served by this gateway",
        );
    };
    let path = parts.uri.path().trim_end_matches('/');
    let rest = path.trim_start_matches("/_skyport/ports");
    let range = ports.registry.range();
    if rest.is_empty() {
        return match parts.method {
            Method::GET => {
                let list: Vec<Value> = ports.registry.list().iter().map(|a| describe(a)).collect();
                json_response(
                    StatusCode::OK,
                    &json!({"range": {"start": range.first(), "end": range.last()}, "ports": list}),
                )
            }
            Method::POST => create(shared, ports, request_body).await,
            _ => error(
                StatusCode::METHOD_NOT_ALLOWED,
                "use GET or POST on /_skyport/ports",
            ),
        };
    }
    let Some(port) = rest.strip_prefix('/').and_then(|p| p.parse::<u16>().ok()) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("expected /_skyport/ports/<port>, a port number in {range}"),
        );
    };
    match parts.method {
        Method::GET => match ports.registry.get(port) {
            Some(a) => json_response(StatusCode::OK, &describe(&a)),
            None => error(
                StatusCode::NOT_FOUND,
                format!("port {port} is not allocated"),
            ),
        },
        Method::DELETE => {
            let lease = ports
                .api_leases
                .lock()
                .ok()
                .and_then(|mut leases| leases.remove(&port));
            match (lease, ports.registry.get(port)) {
                (Some(lease), _) => {
                    if let Err(e) = ports.save(port, None).await {
                        tracing::warn!(port, "cannot remove the stored port allocation: {e}");
                    }
                    lease.release();
                    ports.closed(port).await;
                    Response::builder()
                        .status(StatusCode::NO_CONTENT)
                        .body(body::empty())
                        .unwrap_or_default()
                }
                (None, Some(a)) => error(
                    StatusCode::CONFLICT,
                    format!(
                        "port {port} is held by {}; only allocations made through this endpoint can be deleted",
                        a.owner
                    ),
                ),
                (None, None) => error(
                    StatusCode::NOT_FOUND,
                    format!("port {port} is not allocated"),
                ),
            }
        }
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "use GET or DELETE on /_skyport/ports/<port>",
        ),
    }
}

async fn create(shared: &Shared, ports: &Ports, request_body: Body) -> Response<Body> {
    let bytes = match body::collect_limited(request_body, 64 << 10).await {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("unreadable body: {e}")),
    };
    let request: CreateRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "expected a JSON object {{\"target\": \"host:port\", \"port\": 4511, \"description\": \"...\", \
                     \"hostname\": \"db.local\"}} (or \"service\" instead of \"target\"): {e}"
                ),
            );
        }
    };
    let mut saved = request.clone();
    let lease = match ports.allocate(&shared.services, request) {
        Ok(lease) => lease,
        Err((status, message)) => return error(status, message),
    };
    saved.port = Some(lease.port());
    if let Err(e) = ports.save(lease.port(), Some(saved)).await {
        // Not stored: not made (the lease is dropped, the port freed).
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot store the allocation: {e}"),
        );
    }
    let value = describe(lease.allocation());
    let port = lease.port();
    if let Ok(mut leases) = ports.api_leases.lock() {
        leases.insert(port, lease);
    }
    let mut response = json_response(StatusCode::CREATED, &value);
    if let Ok(location) = http::HeaderValue::from_str(&format!("/_skyport/ports/{port}")) {
        response
            .headers_mut()
            .insert(http::header::LOCATION, location);
    }
    response
}

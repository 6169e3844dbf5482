//! State control endpoints and the per-service gates that make a reset or an import atomic.
//!
//! - `POST /_localstack/state/reset`, `POST /_localstack/state/<service>/reset` (LocalStack): empty the
//!   state of every service, or of one; `200` with an empty body.
//! - `POST /moto-api/reset` (moto): the same for every service; `200 {"status": "ok"}`.
//! - `GET /_skyport/state[?services=s3,sqs]`: a snapshot of every (or the named) service, streamed.
//! - `POST /_skyport/state`: imports a snapshot (the request body, streamed), atomically per service.
//! - `POST /_localstack/state/<service>/save|load`: saves the service's snapshot to (loads it from) the
//!   state directory's `snapshots/<service>.state`.
//!
//! Every request of a service holds its gate shared for the duration of the service call; a reset or an
//! import holds it exclusively, so requests see the state before or after it, never half.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt as _;
use http::{Method, Response, StatusCode, request::Parts};
use http_body_util::BodyExt;
use serde_json::json;
use skyport_core::state::{SnapshotReader, SnapshotWriter, StateError};
use skyport_core::{Body, Service, body, protocol::bytes_response};
use tokio::sync::RwLock;

/// The gates and the state-bearing services, in the order they are reset and exported.
pub(crate) struct StateGates {
    gates: HashMap<&'static str, RwLock<()>>,
    /// Services with state control, in registration order (dependencies first).
    services: Vec<(&'static str, Arc<dyn Service>)>,
    /// Where `save` and `load` keep snapshots, and where imports stage data files.
    dir: Option<PathBuf>,
    /// Serialises whole-state operations (a reset of everything, an import).
    whole: tokio::sync::Mutex<()>,
}

impl StateGates {
    pub(crate) fn new(
        services: Vec<(&'static str, Arc<dyn Service>)>,
        dir: Option<PathBuf>,
    ) -> StateGates {
        let gates = services
            .iter()
            .map(|(n, _)| (*n, RwLock::new(())))
            .collect();
        let services = services
            .into_iter()
            .filter(|(_, s)| s.state_control().is_some())
            .collect();
        StateGates {
            gates,
            services,
            dir,
            whole: tokio::sync::Mutex::new(()),
        }
    }

    /// Held shared by a request of `service` while the service handles it.
    pub(crate) async fn enter(
        &self,
        service: &str,
    ) -> Option<tokio::sync::RwLockReadGuard<'_, ()>> {
        match self.gates.get(service) {
            Some(gate) => Some(gate.read().await),
            None => None,
        }
    }

    fn service(&self, name: &str) -> Option<&Arc<dyn Service>> {
        self.services
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s)
    }

    /// Runs `op` on `name`'s state with its gate held exclusively.
    async fn exclusive(&self, name: &str, op: Op) -> Result<(), StateError> {
        let (Some(service), Some(gate)) = (self.service(name), self.gates.get(name)) else {
            return Ok(());
        };
        let Some(control) = service.state_control() else {
            return Ok(());
        };
        control.interrupt();
        let guard = gate.write().await;
        let outcome = match op {
            Op::Reset => control.reset().await,
            Op::Import(staged) => control.import(staged).await,
        };
        control.resume();
        drop(guard);
        outcome
    }

    /// Empties the state of `name`.
    pub(crate) async fn reset(&self, name: &str) -> Result<(), StateError> {
        let outcome = self.exclusive(name, Op::Reset).await;
        match &outcome {
            Ok(()) => tracing::info!(service = name, "state reset"),
            Err(e) => tracing::warn!(service = name, "state reset failed: {e}"),
        }
        outcome
    }

    /// Empties the state of every service.
    pub(crate) async fn reset_all(&self) -> Result<(), StateError> {
        let _whole = self.whole.lock().await;
        for (name, _) in &self.services {
            self.reset(name).await?;
        }
        Ok(())
    }

    /// Writes a snapshot of `names` (every service when empty) to `out`.
    pub(crate) async fn export(
        &self,
        names: &[String],
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<(), StateError> {
        let mut writer = SnapshotWriter::start(out).await?;
        for (name, service) in &self.services {
            if !names.is_empty() && !names.iter().any(|n| n == name) {
                continue;
            }
            let Some(control) = service.state_control() else {
                continue;
            };
            writer.begin(name).await?;
            control.export(&mut writer).await?;
            writer.end(name).await?;
        }
        writer.finish().await
    }

    /// Imports a snapshot from `input`: each service's state is staged, then swapped in atomically.
    /// Returns the services imported.
    pub(crate) async fn import(
        &self,
        input: impl tokio::io::AsyncBufRead + Unpin + Send,
    ) -> Result<Vec<String>, StateError> {
        let staging = self.staging_dir();
        let mut reader = SnapshotReader::open(input, &staging).await?;
        let _whole = self.whole.lock().await;
        let mut imported = Vec::new();
        while let Some((name, staged)) = reader.next_service().await? {
            if self.service(&name).is_none() {
                tracing::warn!(service = %name, "the snapshot holds state of a service this Skyport does not run; skipped");
                continue;
            }
            self.exclusive(&name, Op::Import(staged)).await?;
            tracing::info!(service = %name, "state imported");
            imported.push(name);
        }
        Ok(imported)
    }

    fn staging_dir(&self) -> PathBuf {
        match &self.dir {
            Some(dir) => dir.join("staging"),
            None => std::env::temp_dir(),
        }
    }

    fn snapshot_file(&self, name: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{name}.state")))
    }
}

/// What [`StateGates::exclusive`] does.
enum Op {
    Reset,
    Import(skyport_core::state::Staged),
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes_response(status, "application/json", Bytes::from(bytes))
}

fn error_response(error: &StateError) -> Response<Body> {
    let status = if error.is_client_error() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    json_response(status, &json!({"error": error.to_string()}))
}

fn empty_ok() -> Response<Body> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = StatusCode::OK;
    response
}

/// True for the paths this module serves.
pub(crate) fn is_state_path(path: &str) -> bool {
    path == "/moto-api/reset"
        || path.starts_with("/_localstack/state/")
        || path == "/_skyport/state"
}

/// Serves a state endpoint.
pub(crate) async fn handle(
    gates: &Arc<StateGates>,
    parts: &Parts,
    request: Body,
) -> Response<Body> {
    let path = parts.uri.path().trim_end_matches('/');
    let method = &parts.method;
    if path == "/moto-api/reset" {
        if method != Method::POST {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"Error": "Need to POST to reset Moto"}),
            );
        }
        return match gates.reset_all().await {
            Ok(()) => json_response(StatusCode::OK, &json!({"status": "ok"})),
            Err(e) => error_response(&e),
        };
    }
    if path == "/_skyport/state" {
        return match *method {
            Method::GET => export_response(gates, parts),
            Method::POST => import(gates, request).await,
            _ => method_not_allowed("use GET (export) or POST (import) on /_skyport/state"),
        };
    }
    let rest = path.trim_start_matches("/_localstack/state/");
    if method != Method::POST {
        return method_not_allowed("use POST on /_localstack/state endpoints");
    }
    if rest == "reset" {
        return match gates.reset_all().await {
            Ok(()) => empty_ok(),
            Err(e) => error_response(&e),
        };
    }
    let Some((service, action)) = rest.split_once('/') else {
        return not_found(path);
    };
    if gates.service(service).is_none() {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("no service {service:?} with state in this Skyport")}),
        );
    }
    match action {
        "reset" => match gates.reset(service).await {
            Ok(()) => empty_ok(),
            Err(e) => error_response(&e),
        },
        "save" => save(gates, service).await,
        "load" => load(gates, service).await,
        _ => not_found(path),
    }
}

fn not_found(path: &str) -> Response<Body> {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": "not found", "path": path}),
    )
}

fn method_not_allowed(message: &str) -> Response<Body> {
    json_response(StatusCode::METHOD_NOT_ALLOWED, &json!({"error": message}))
}

/// Streams the snapshot through a pipe: a task writes it, the response body reads it.
fn export_response(gates: &Arc<StateGates>, parts: &Parts) -> Response<Body> {
    let names: Vec<String> = parts
        .uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .filter(|(k, _)| k == "services")
                .flat_map(|(_, v)| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(unknown) = names.iter().find(|n| gates.service(n).is_none()) {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("no service {unknown:?} with state in this Skyport")}),
        );
    }
    let (mut write, read) = tokio::io::duplex(256 * 1024);
    let gates = gates.clone();
    tokio::spawn(async move {
        if let Err(e) = gates.export(&names, &mut write).await {
            // The client sees a cut stream (no final `end` frame): the import refuses it.
            tracing::warn!("state export failed: {e}");
        }
    });
    let stream = tokio_util::io::ReaderStream::new(read)
        .map_ok(http_body::Frame::data)
        .map_err(|e| -> body::BoxError { Box::new(e) });
    let mut response = Response::new(body::wrap(http_body_util::StreamBody::new(stream)));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-skyport-state"),
    );
    response
}

async fn import(gates: &Arc<StateGates>, request: Body) -> Response<Body> {
    let stream = request
        .into_data_stream()
        .map_err(|e| std::io::Error::other(e.to_string()));
    let reader = tokio_util::io::StreamReader::new(stream);
    match gates.import(tokio::io::BufReader::new(reader)).await {
        Ok(services) => json_response(StatusCode::OK, &json!({"services": services})),
        Err(e) => error_response(&e),
    }
}

/// The answer of `save` and `load` when Skyport has no state directory for snapshots.
fn no_snapshot_dir() -> Response<Body> {
    json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({"error": "no snapshot directory configured"}),
    )
}

async fn save(gates: &Arc<StateGates>, service: &str) -> Response<Body> {
    let Some(file) = gates.snapshot_file(service) else {
        return no_snapshot_dir();
    };
    let written = async {
        if let Some(dir) = file.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let partial = file.with_extension("state.partial");
        let mut out = tokio::fs::File::create(&partial).await?;
        gates.export(&[service.to_owned()], &mut out).await?;
        tokio::io::AsyncWriteExt::flush(&mut out).await?;
        out.sync_all().await?;
        tokio::fs::rename(&partial, &file).await?;
        Ok::<_, StateError>(())
    }
    .await;
    match written {
        Ok(()) => empty_ok(),
        Err(e) => error_response(&e),
    }
}

async fn load(gates: &Arc<StateGates>, service: &str) -> Response<Body> {
    let Some(file) = gates.snapshot_file(service) else {
        return no_snapshot_dir();
    };
    let opened = match tokio::fs::File::open(&file).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": format!("no saved state of {service}; POST /_localstack/state/{service}/save first")}),
            );
        }
        Err(e) => return error_response(&StateError::Io(e)),
    };
    match gates.import(tokio::io::BufReader::new(opened)).await {
        Ok(_) => empty_ok(),
        Err(e) => error_response(&e),
    }
}

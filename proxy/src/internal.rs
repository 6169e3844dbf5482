//! Skyport's own endpoints, served on every gateway port before AWS routing, in LocalStack's shapes:
//! `/_localstack/health` (GET, HEAD, PUT to merge state, POST `{"action":"kill"}`), `/_localstack/info`,
//! `/_localstack/init[/<stage>]`, and the same health under `/_skyport/health`; plus static documents other
//! parts register (e.g. `/_skyport/certs/ca.pem`). An unknown path under these prefixes gets a JSON 404.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{Method, Response, StatusCode, request::Parts};
use serde_json::{Map, Value, json};
use skyport_core::init::{InitStatus, Stage};
use skyport_core::{Body, body, protocol::bytes_response, timefmt};

use crate::shutdown::Shutdown;

/// The state the health endpoints report.
#[derive(Debug)]
pub struct Health {
    /// Service id → state (`running`, `available`, `disabled`).
    pub services: BTreeMap<String, String>,
    /// Running in a container.
    pub is_docker: bool,
    /// Static documents served under `/_skyport/` or `/_localstack/`: path → (content type, bytes).
    pub documents: BTreeMap<String, (&'static str, Bytes)>,
    /// The operation tables of the services on the model-driven wire layer (`/_skyport/operations`).
    pub operations: BTreeMap<&'static str, skyport_core::OperationTable>,
    /// The init hooks' stages and scripts (`/_localstack/init`), written by the hook runner.
    pub init: Arc<InitStatus>,
    started: Instant,
    session_id: String,
    machine_id: String,
    merged: Mutex<Map<String, Value>>,
}

impl Health {
    /// Health state for the given services.
    pub fn new(services: BTreeMap<String, String>, is_docker: bool) -> Health {
        Health {
            services,
            is_docker,
            documents: BTreeMap::new(),
            operations: BTreeMap::new(),
            init: Arc::new(InitStatus::new()),
            started: Instant::now(),
            session_id: skyport_core::ids::uuid(),
            machine_id: machine_id(),
            merged: Mutex::new(Map::new()),
        }
    }

    fn health_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("services".into(), json!(self.services));
        object.insert("edition".into(), "community".into());
        object.insert("version".into(), skyport_core::VERSION.into());
        object.insert("skyport".into(), true.into());
        if let Ok(merged) = self.merged.lock() {
            for (k, v) in merged.iter() {
                deep_merge(object.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        Value::Object(object)
    }
}

fn machine_id() -> String {
    std::fs::read_to_string("/etc/machine-id")
        .ok()
        .map(|s| s.trim().chars().take(12).collect::<String>())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "skyport".to_owned())
}

fn deep_merge(target: &mut Value, value: &Value) {
    match (target, value) {
        (Value::Object(t), Value::Object(v)) => {
            for (k, v) in v {
                deep_merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (t, v) => *t = v.clone(),
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes_response(status, "application/json", Bytes::from(bytes))
}

fn not_found(path: &str) -> Response<Body> {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": "not found", "path": path}),
    )
}

/// Serves an internal endpoint.
pub async fn handle(
    health: &Arc<Health>,
    shutdown: &Shutdown,
    parts: &Parts,
    request_body: Body,
) -> Response<Body> {
    let path = parts.uri.path().trim_end_matches('/').to_owned();
    let path = path.as_str();
    if let Some((content_type, bytes)) = health.documents.get(path) {
        return bytes_response(StatusCode::OK, content_type, bytes.clone());
    }
    match (path, &parts.method) {
        ("/_localstack/health" | "/_skyport/health", &Method::GET) => {
            json_response(StatusCode::OK, &health.health_json())
        }
        ("/_localstack/health" | "/_skyport/health", &Method::HEAD) => {
            let mut response = Response::new(body::empty());
            response.headers_mut().insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from_static("0"),
            );
            response
        }
        ("/_localstack/health" | "/_skyport/health", &Method::PUT) => {
            match read_json(request_body).await {
                Some(Value::Object(object)) => {
                    if let Ok(mut merged) = health.merged.lock() {
                        for (key, value) in object {
                            let mut nested = value;
                            let mut parts: Vec<&str> = key.split(':').collect();
                            let first = parts.remove(0).to_owned();
                            for part in parts.iter().rev() {
                                nested = json!({ *part: nested });
                            }
                            deep_merge(merged.entry(first).or_insert(Value::Null), &nested);
                        }
                    }
                    json_response(StatusCode::OK, &json!({"status": "OK"}))
                }
                _ => json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "expected a JSON object"}),
                ),
            }
        }
        ("/_localstack/health" | "/_skyport/health", &Method::POST) => {
            match read_json(request_body).await {
                Some(value) if value.get("action").and_then(Value::as_str) == Some("kill") => {
                    tracing::info!("shutdown requested through the health endpoint");
                    shutdown.trigger();
                    json_response(StatusCode::OK, &json!({"status": "OK"}))
                }
                Some(_) => json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "unsupported action; Skyport supports {\"action\": \"kill\"}"}),
                ),
                None => json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "empty or invalid JSON body"}),
                ),
            }
        }
        ("/_skyport/operations", &Method::GET) => {
            json_response(StatusCode::OK, &operations_json(&health.operations))
        }
        ("/_localstack/info" | "/_skyport/info", &Method::GET) => {
            let uptime = health.started.elapsed().as_secs();
            json_response(
                StatusCode::OK,
                &json!({
                    "version": skyport_core::VERSION,
                    "edition": "community",
                    "is_license_activated": false,
                    "session_id": health.session_id,
                    "machine_id": health.machine_id,
                    "system": std::env::consts::OS,
                    "is_docker": health.is_docker,
                    "server_time_utc": timefmt::iso8601_seconds(SystemTime::now()).trim_end_matches('Z'),
                    "uptime": uptime,
                }),
            )
        }
        ("/_localstack/init", &Method::GET) => {
            json_response(StatusCode::OK, &health.init.to_json())
        }
        (p, &Method::GET) if p.starts_with("/_localstack/init/") => {
            let name = p.trim_start_matches("/_localstack/init/");
            match Stage::parse(name) {
                Some(stage) => json_response(StatusCode::OK, &health.init.stage_json(stage)),
                None => json_response(
                    StatusCode::NOT_FOUND,
                    &json!({"error": format!("no such stage {name}")}),
                ),
            }
        }
        _ => not_found(path),
    }
}

/// Per service: the model's operations Skyport implements and those it does not (yet).
fn operations_json(tables: &BTreeMap<&'static str, skyport_core::OperationTable>) -> Value {
    let mut object = Map::new();
    for (service, table) in tables {
        let all = (table.all)();
        let missing: Vec<&str> = all
            .iter()
            .copied()
            .filter(|op| !table.implemented.contains(op))
            .collect();
        object.insert(
            (*service).to_owned(),
            json!({
                "implemented": table.implemented,
                "not_implemented": missing,
                "model_operations": all.len(),
            }),
        );
    }
    Value::Object(object)
}

async fn read_json(request_body: Body) -> Option<Value> {
    let bytes = body::collect_limited(request_body, 1 << 20).await.ok()?;
    if bytes.is_empty() {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

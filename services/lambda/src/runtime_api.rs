//! The Lambda Runtime API (`2018-06-01`), served by Skyport for one environment on a port of its own:
//! the runtime's client (awslambdaric, the Node and Java clients, `lambda_runtime`, any `provided`
//! bootstrap) long-polls `invocation/next`, posts each result to `invocation/<id>/response` or
//! `/error`, and reports a failed start to `init/error`, exactly as against AWS. The environment's
//! address is `AWS_LAMBDA_RUNTIME_API`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use tokio::sync::{Notify, oneshot, watch};

/// The largest response a synchronous invocation returns (6 MB, plus what AWS allows for framing).
pub const MAX_RESPONSE: usize = 6_291_556;

/// One invocation handed to the runtime.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The request id.
    pub request_id: String,
    /// The event.
    pub payload: Bytes,
    /// When it times out, in milliseconds since the epoch.
    pub deadline_ms: i64,
    /// The ARN the function was invoked with (qualified when it was).
    pub invoked_arn: String,
    /// The X-Ray trace header.
    pub trace_id: String,
    /// The client context (base64-decoded JSON), for mobile SDK callers.
    pub client_context: Option<String>,
}

/// How an invocation ended, as the runtime reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The function's result.
    Response(Bytes),
    /// The function failed: the error document and its type (`Lambda-Runtime-Function-Error-Type`).
    Error {
        /// The error document (`errorMessage`, `errorType`, `stackTrace`).
        payload: Bytes,
        /// The error type header, if sent.
        kind: Option<String>,
    },
}

#[derive(Default)]
struct State {
    /// The invocation waiting for `next` (an environment runs one at a time).
    slot: Mutex<Option<Invocation>>,
    slot_filled: Notify,
    /// Invocations handed out, waiting for their outcome.
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    /// Set once the runtime first asks for work (its init is done).
    ready: AtomicBool,
    ready_changed: Notify,
    /// The runtime's `init/error` document.
    init_error: Mutex<Option<Bytes>>,
}

/// A running Runtime API for one environment.
pub struct RuntimeApi {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: watch::Sender<bool>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

impl RuntimeApi {
    /// Listens on a free port of `ip`.
    pub async fn bind(ip: IpAddr) -> std::io::Result<RuntimeApi> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let (shutdown, mut stop) = watch::channel(false);
        let serving = state.clone();
        tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let _ = stream.set_nodelay(true);
                        let state = serving.clone();
                        let mut stop = stop.clone();
                        connections.spawn(async move {
                            let service = hyper::service::service_fn(move |req| {
                                let state = state.clone();
                                async move { Ok::<_, Infallible>(handle(&state, req).await) }
                            });
                            let conn = hyper::server::conn::http1::Builder::new()
                                .keep_alive(true)
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                            tokio::select! {
                                _ = conn => {}
                                _ = stop.changed() => {}
                            }
                        });
                    }
                }
            }
            connections.abort_all();
        });
        Ok(RuntimeApi {
            addr,
            state,
            shutdown,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until the runtime first asks for work (`Ok`), or reports `init/error` (`Err` with its
    /// document).
    pub async fn ready(&self) -> Result<(), Bytes> {
        loop {
            let changed = self.state.ready_changed.notified();
            if let Some(doc) = lock(&self.state.init_error).clone() {
                return Err(doc);
            }
            if self.state.ready.load(Ordering::Acquire) {
                return Ok(());
            }
            changed.await;
        }
    }

    /// Hands an invocation to the runtime; its outcome arrives on the returned receiver.
    pub fn dispatch(&self, invocation: Invocation) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        lock(&self.state.pending).insert(invocation.request_id.clone(), tx);
        *lock(&self.state.slot) = Some(invocation);
        self.state.slot_filled.notify_one();
        rx
    }

    /// Forgets an invocation that ended without an outcome (timeout, runtime exit).
    pub fn abandon(&self, request_id: &str) {
        lock(&self.state.pending).remove(request_id);
        let mut slot = lock(&self.state.slot);
        if slot.as_ref().is_some_and(|i| i.request_id == request_id) {
            *slot = None;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn accepted() -> Response<Full<Bytes>> {
    json(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_owned())
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response<Full<Bytes>> {
    json(
        status,
        serde_json::json!({"errorMessage": message, "errorType": kind}).to_string(),
    )
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return error(StatusCode::NOT_FOUND, "InvalidRequest", "Unknown path");
    };
    match (req.method().clone(), rest) {
        (Method::GET, "invocation/next") => next(state).await,
        (Method::POST, "init/error") => {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            *lock(&state.init_error) = Some(body);
            state.ready_changed.notify_waiters();
            accepted()
        }
        (Method::POST, rest) => {
            let Some((id, kind)) = rest
                .strip_prefix("invocation/")
                .and_then(|r| r.rsplit_once('/'))
            else {
                return error(StatusCode::NOT_FOUND, "InvalidRequest", "Unknown path");
            };
            let id = id.to_owned();
            let error_type = req
                .headers()
                .get("lambda-runtime-function-error-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let Some(tx) = lock(&state.pending).remove(&id) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestID",
                    "Invalid request ID",
                );
            };
            let body = match Limited::new(req.into_body(), MAX_RESPONSE).collect().await {
                Ok(c) => c.to_bytes(),
                Err(_) => {
                    let _ = tx.send(Outcome::Error {
                        payload: Bytes::from(
                            serde_json::json!({
                                "errorMessage": format!("Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE} bytes)."),
                                "errorType": "Function.ResponseSizeTooLarge"
                            })
                            .to_string(),
                        ),
                        kind: Some("Function.ResponseSizeTooLarge".to_owned()),
                    });
                    return error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "RequestEntityTooLarge",
                        "Response payload size exceeded maximum allowed payload size",
                    );
                }
            };
            let outcome = match kind {
                "response" => Outcome::Response(body),
                "error" => Outcome::Error {
                    payload: body,
                    kind: error_type,
                },
                _ => {
                    return error(StatusCode::NOT_FOUND, "InvalidRequest", "Unknown path");
                }
            };
            let _ = tx.send(outcome);
            accepted()
        }
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "InvalidRequest",
            "Method not allowed",
        ),
    }
}

/// `invocation/next`: waits for the next invocation (a long poll without a time limit, as AWS's).
async fn next(state: &State) -> Response<Full<Bytes>> {
    if !state.ready.swap(true, Ordering::AcqRel) {
        state.ready_changed.notify_waiters();
    }
    let invocation = loop {
        let filled = state.slot_filled.notified();
        if let Some(i) = lock(&state.slot).take() {
            break i;
        }
        filled.await;
    };
    let mut r = Response::new(Full::new(invocation.payload));
    let headers = r.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", &invocation.request_id);
    set(
        "lambda-runtime-deadline-ms",
        &invocation.deadline_ms.to_string(),
    );
    set(
        "lambda-runtime-invoked-function-arn",
        &invocation.invoked_arn,
    );
    set("lambda-runtime-trace-id", &invocation.trace_id);
    if let Some(cc) = &invocation.client_context {
        set("lambda-runtime-client-context", cc);
    }
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

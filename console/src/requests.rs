//! The request log's API: `GET api/requests[?after=ID]` (the entries kept), `GET api/requests/ID` (one
//! entry with the headers and body prefixes captured while someone watched) and
//! `GET api/requests/stream` (Server-Sent Events: the latest entries kept, then each new one as it is
//! served; `Last-Event-ID` or `?after=` resumes). While a stream is open the gateway captures bodies.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{HeaderMap, Response, StatusCode, header};
use http_body_util::{BodyExt as _, StreamBody};
use serde_json::{Map, Value, json};
use skyport_core::{Body, timefmt};
use skyport_proxy::GatewayHandle;
use skyport_proxy::request_log::{Captured, Entry, Origin, Subscription};

use crate::aws::ApiError;

/// How many kept entries a new stream starts with.
const BACKLOG: usize = 200;
/// How often an idle stream sends a comment, so proxies and browsers keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// An entry as the API shows it.
pub fn entry_json(entry: &Entry) -> Value {
    json!({
        "id": entry.id,
        "time": timefmt::iso8601_millis(entry.time),
        "service": entry.service,
        "operation": entry.operation,
        "status": entry.status,
        "ms": entry.micros as f64 / 1000.0,
        "account": entry.account,
        "region": entry.region,
        "client": entry.client.to_string(),
        "method": entry.method.as_str(),
        "path": &*entry.target,
        "request_id": entry.request_id,
        "origin": match entry.origin {
            Origin::Client => "client",
            Origin::Console => "console",
        },
        "detail": entry.detail.is_some(),
    })
}

/// `GET api/requests[?after=ID]`.
pub fn list(gateway: &GatewayHandle, after: u64) -> Response<Body> {
    let entries: Vec<Value> = gateway
        .requests()
        .since(after)
        .iter()
        .map(|e| entry_json(e))
        .collect();
    crate::json_response(
        StatusCode::OK,
        &json!({"requests": entries, "capturing": gateway.requests().capturing()}),
    )
}

/// `GET api/requests/ID`.
pub fn detail(gateway: &GatewayHandle, id: &str) -> Result<Response<Body>, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("the request id is a number"))?;
    let entry = gateway.requests().get(id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("request {id} is no longer kept"),
        )
    })?;
    let mut out = entry_json(&entry);
    if let (Some(detail), Value::Object(object)) = (&entry.detail, &mut out) {
        let response_headers = detail
            .response_headers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        object.insert(
            "request".into(),
            message_json(&detail.request_headers, &detail.request_body.snapshot()),
        );
        object.insert(
            "response".into(),
            message_json(&response_headers, &detail.response_body.snapshot()),
        );
    }
    Ok(crate::json_response(StatusCode::OK, &out))
}

fn message_json(headers: &HeaderMap, body: &Captured) -> Value {
    let mut names = Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        names.insert(name.as_str().to_owned(), value.into());
    }
    let mut out = Map::new();
    out.insert("headers".into(), Value::Object(names));
    out.insert("size".into(), body.total.into());
    out.insert("complete".into(), body.complete.into());
    out.insert(
        "truncated".into(),
        (body.total > body.bytes.len() as u64).into(),
    );
    match std::str::from_utf8(&body.bytes) {
        Ok(text) => out.insert("text".into(), text.into()),
        // A prefix may end inside a character; text that is otherwise valid stays text.
        Err(e) if e.error_len().is_none() => out.insert(
            "text".into(),
            String::from_utf8_lossy(&body.bytes[..e.valid_up_to()]).into(),
        ),
        Err(_) => out.insert(
            "base64".into(),
            base64::engine::general_purpose::STANDARD
                .encode(&body.bytes)
                .into(),
        ),
    };
    Value::Object(out)
}

/// What a stream remembers between events.
struct StreamState {
    subscription: Subscription,
    backlog: std::vec::IntoIter<Arc<Entry>>,
    last: u64,
    gateway: GatewayHandle,
}

/// `GET api/requests/stream`: `after` is the last id the client has (from `Last-Event-ID` or `?after=`).
pub fn stream(gateway: &GatewayHandle, after: Option<u64>) -> Response<Body> {
    // Subscribe before reading the backlog, so nothing falls between the two.
    let subscription = gateway.requests().subscribe();
    let mut backlog = gateway.requests().since(after.unwrap_or(0));
    if after.is_none() && backlog.len() > BACKLOG {
        backlog.drain(..backlog.len() - BACKLOG);
    }
    let state = StreamState {
        subscription,
        backlog: backlog.into_iter(),
        last: after.unwrap_or(0),
        gateway: gateway.clone(),
    };
    let events = futures_util::stream::unfold(state, |mut state| async move {
        if let Some(entry) = state.backlog.next() {
            state.last = entry.id;
            return Some((event(&entry), state));
        }
        loop {
            let next = tokio::select! {
                next = state.subscription.next() => next,
                _ = tokio::time::sleep(KEEP_ALIVE) => {
                    return Some((Bytes::from_static(b": keep-alive\n\n"), state));
                }
                _ = state.gateway.shutting_down() => None,
            };
            match next? {
                // Already sent from the backlog.
                Ok(entry) if entry.id <= state.last => continue,
                Ok(entry) => {
                    state.last = entry.id;
                    return Some((event(&entry), state));
                }
                Err(missed) => {
                    let note = format!("event: lagged\ndata: {{\"missed\":{missed}}}\n\n");
                    return Some((Bytes::from(note), state));
                }
            }
        }
    });
    let frames =
        events.map(|bytes| Ok::<_, skyport_core::body::BoxError>(http_body::Frame::data(bytes)));
    let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    response
}

fn event(entry: &Entry) -> Bytes {
    let data = entry_json(entry).to_string();
    Bytes::from(format!(
        "id: {}\nevent: request\ndata: {data}\n\n",
        entry.id
    ))
}

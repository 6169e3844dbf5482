//! One request, start to finish: internal endpoints, routing, the `RequestContext`, the service call (with
//! panics contained), the common response headers (request ids, `x-localstack`, `Server`), and the one
//! INFO line per request: `service.Operation => status (ms)`, with its entry in the request log.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::{HeaderName, HeaderValue, Request, Response};
use hyper::body::Incoming;
use skyport_core::{AwsError, Body, RequestContext, body, error::ErrorRender, ids};

use crate::conn::ConnInfo;
use crate::errors;
use crate::gateway::Shared;
use crate::request_log::{self, Detail, Entry, Origin};
use crate::router::{self, Route};

static SERVER: HeaderValue =
    HeaderValue::from_static(concat!("Skyport/", env!("CARGO_PKG_VERSION")));

/// The boxed, `Send` future of one request (boxing pins down the `Send` bound for hyper's executor).
pub(crate) type Handling = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

pub(crate) fn handle(shared: Arc<Shared>, conn: ConnInfo, request: Request<Incoming>) -> Handling {
    Box::pin(handle_request(shared, conn, request))
}

async fn handle_request(
    shared: Arc<Shared>,
    conn: ConnInfo,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (parts, incoming) = request.into_parts();
    let (request_body, leftover) = if hyper::body::Body::is_end_stream(&incoming) {
        (body::wrap(incoming), None)
    } else {
        let (body, leftover) = crate::leftover::track(incoming);
        (body, Some(leftover))
    };

    let internal = {
        let path = parts.uri.path();
        path.starts_with("/_localstack/")
            || path.starts_with("/_skyport/")
            || path == "/_skyport"
            || path == "/moto-api/reset"
    };
    if internal {
        let path = parts.uri.path();
        let app = shared.apps.iter().find(|app| app.serves(path)).cloned();
        let method = parts.method.clone();
        let uri = parts.uri.clone();
        let version = parts.version;
        let expect_continue = expects_continue(&parts);
        let mut response = if let Some(app) = app {
            let handle = crate::app::GatewayHandle::new(shared.clone(), conn);
            app.handle(Request::from_parts(parts, request_body), conn, handle)
                .await
        } else if path == "/_skyport/ports" || path.starts_with("/_skyport/ports/") {
            crate::ports::handle(&shared, &parts, request_body).await
        } else if crate::state::is_state_path(path) {
            crate::state::handle(&shared.state, &parts, request_body).await
        } else {
            crate::internal::handle(&shared.health, &shared.shutdown, &parts, request_body).await
        };
        common_headers(&shared, &mut response);
        if let Some(leftover) = leftover {
            crate::leftover::settle(&leftover, version, expect_continue, &mut response).await;
        }
        tracing::debug!(
            %method, path = uri.path(), status = response.status().as_u16(),
            "internal endpoint"
        );
        return Ok(response);
    }
    Ok(aws(&shared, conn, parts, request_body, leftover, Origin::Client).await)
}

/// Serves an AWS request: routing, the service call, the common headers, the INFO line and the request
/// log's entry (with the bodies' prefixes while someone watches).
pub(crate) async fn aws(
    shared: &Shared,
    conn: ConnInfo,
    parts: http::request::Parts,
    request_body: Body,
    leftover: Option<Arc<crate::leftover::Leftover>>,
    origin: Origin,
) -> Response<Body> {
    let started = Instant::now();
    let mut route = router::classify(&parts, &shared.router);
    let mut request_body = request_body;
    let mut body_error = None;
    if route.needs_form_action {
        match body::collect_limited(request_body, shared.max_form_body).await {
            Ok(bytes) => {
                // Only `Action` is needed here; the service decodes the whole form itself.
                let action =
                    form_urlencoded::parse(&bytes).find_map(|(k, v)| (k == "Action").then_some(v));
                route.resolve_action(action.as_deref());
                request_body = body::full(bytes);
            }
            Err(e) => {
                body_error = Some(AwsError::from(e));
                request_body = body::empty();
            }
        }
    }

    if let Some(pinned) = conn.pinned {
        route.pin(pinned);
    }
    let service_id = route.service.map(|s| s.id);
    let is_s3 = service_id == Some("s3");
    let (request_id, host_id) = if is_s3 {
        (ids::s3_request_id(), Some(ids::s3_host_id()))
    } else {
        (ids::uuid(), None)
    };
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| conn.local.to_string());
    let account = route.account(&shared.router);
    let region = route.region();
    // The route keeps what `call` and the error rendering read; the operation and key move to the context.
    let mut ctx = RequestContext {
        service: service_id.unwrap_or("unknown"),
        operation: route.operation.take(),
        protocol: route.protocol,
        account,
        region,
        access_key: route.credential.take().map(|c| c.access_key),
        principal: None,
        authorizer: shared.authorizer.clone(),
        request_id,
        host,
        scheme: conn.scheme,
        bucket: route.host.bucket.clone(),
        client: Some(conn.peer),
        received_at: SystemTime::now(),
        started,
    };
    let method = parts.method.clone();
    let target = request_log::target(&parts.uri);
    let version = parts.version;
    let expect_continue = expects_continue(&parts);
    // Someone watches the request log: keep the headers and a prefix of both bodies.
    let detail = shared.requests.capturing().then(|| {
        Arc::new(Detail {
            request_headers: request_log::owned_headers(&parts.headers),
            ..Detail::default()
        })
    });
    if let Some(detail) = &detail {
        request_body = request_log::tap(request_body, detail.request_body.clone());
    }

    if body_error.is_none()
        && origin == Origin::Client
        && let Some(auth) = &shared.auth
        && auth.applies(
            &route,
            ctx.operation.as_deref(),
            &parts,
            conn.pinned.is_some(),
        )
    {
        let outcome = auth
            .authenticate(&route, &parts, request_body, &ctx.host)
            .await;
        request_body = outcome.body;
        if ctx.operation.is_none() {
            ctx.operation = outcome.action;
        }
        match outcome.result {
            Ok(principal) => ctx.principal = Some(principal),
            Err(e) => body_error = Some(e),
        }
    }

    let result = match body_error {
        Some(e) => Err(e),
        None => {
            call(
                shared,
                &route,
                &mut ctx,
                Request::from_parts(parts, request_body),
            )
            .await
        }
    };
    let service_info = route
        .service
        .and_then(|def| shared.services.get(def.id))
        .map(|s| s.info());
    let mut response = match result {
        Ok(response) => response,
        Err(error) => {
            if error.status.is_server_error() {
                tracing::warn!(service = ctx.service, error = %error, "request failed");
            }
            error.to_response(
                route.protocol,
                &ErrorRender {
                    request_id: &ctx.request_id,
                    host_id: host_id.as_deref(),
                    service: service_info,
                    method: Some(&method),
                },
            )
        }
    };

    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&ctx.request_id) {
        if is_s3 {
            headers
                .entry(HeaderName::from_static("x-amz-request-id"))
                .or_insert(id);
            if let Some(host_id) = host_id
                .as_deref()
                .and_then(|h| HeaderValue::from_str(h).ok())
            {
                headers
                    .entry(HeaderName::from_static("x-amz-id-2"))
                    .or_insert(host_id);
            }
        } else {
            headers
                .entry(HeaderName::from_static("x-amzn-requestid"))
                .or_insert(id);
        }
    }
    common_headers(shared, &mut response);
    if let Some(leftover) = leftover {
        crate::leftover::settle(&leftover, version, expect_continue, &mut response).await;
    }

    // Milliseconds with two decimals, formatted as integers (float formatting costs more).
    let micros = started.elapsed().as_micros();
    let status = response.status().as_u16();
    tracing::info!(
        target: "skyport::request",
        "{}.{} => {} ({}.{:02} ms)",
        ctx.service,
        ctx.operation.as_deref().unwrap_or("-"),
        status,
        micros / 1000,
        micros % 1000 / 10
    );
    if let Some(detail) = &detail {
        *detail
            .response_headers
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = request_log::owned_headers(response.headers());
        response = response.map(|b| request_log::tap(b, detail.response_body.clone()));
    }
    shared.requests.push(Entry {
        id: shared.requests.next_id(),
        time: ctx.received_at,
        service: ctx.service,
        operation: ctx.operation,
        status,
        micros: u64::try_from(micros).unwrap_or(u64::MAX),
        account: ctx.account,
        region: ctx.region,
        client: conn.peer,
        method,
        target,
        request_id: ctx.request_id,
        origin,
        detail,
    });
    response
}

async fn call(
    shared: &Shared,
    route: &Route,
    ctx: &mut RequestContext,
    request: Request<Body>,
) -> Result<Response<Body>, AwsError> {
    if let Some(reason) = &route.auth_problem {
        return Err(errors::malformed_authorization(route, reason));
    }
    let Some(def) = route.service else {
        return Err(match &route.unknown_target {
            Some(target) => errors::unknown_target(target),
            None => errors::unrecognised(),
        });
    };
    if shared.disabled.contains(def.id) {
        return Err(errors::not_implemented(def.id, route.protocol, true));
    }
    let Some(service) = shared.services.get(def.id) else {
        return Err(errors::not_implemented(def.id, route.protocol, false));
    };
    let name = def.id;
    // Shared with every other request of the service; a reset or an import waits for it.
    let _gate = shared.state.enter(name).await;
    match unwind::CatchUnwind(service.call(ctx, request)).await {
        Ok(result) => result,
        Err(_) => {
            tracing::error!(service = name, operation = ?ctx.operation, "service panicked");
            Err(errors::panicked(name))
        }
    }
}

/// Whether the client waits for `100 Continue` before sending the body.
fn expects_continue(parts: &http::request::Parts) -> bool {
    parts
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

fn common_headers(shared: &Shared, response: &mut Response<Body>) {
    let headers = response.headers_mut();
    headers.insert(http::header::SERVER, SERVER.clone());
    if shared.localstack_header {
        headers.insert(
            HeaderName::from_static("x-localstack"),
            HeaderValue::from_static("true"),
        );
    }
}

mod unwind {
    //! A minimal `catch_unwind` for futures, so a panicking service answers 500 instead of dropping the
    //! connection.
    use std::future::Future;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Polls `F`, turning a panic into `Err(())`.
    pub struct CatchUnwind<F>(pub F);

    impl<F: Future + Unpin> Future for CatchUnwind<F> {
        type Output = Result<F::Output, ()>;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let inner = &mut self.0;
            match catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
                Err(_) => Poll::Ready(Err(())),
            }
        }
    }
}

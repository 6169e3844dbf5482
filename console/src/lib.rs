//! skyport-console: the web console, served by the gateway at `/_skyport/` on every gateway port (same
//! port, same TLS as the AWS endpoints).
//!
//! - The app is plain HTML, CSS and JavaScript embedded in the binary ([`assets`]): no framework, no CDN,
//!   no build step. `GET /_skyport/` is the page; its files live under `/_skyport/console/`.
//! - Its JSON API lives under `/_skyport/console/api/`: a resource browser for every service ([`api`]),
//!   whose calls go through the gateway in process as a client's would ([`aws`]), and the live request
//!   log ([`requests`]) with Server-Sent Events.
//! - Who may open it is decided per request ([`access`]): loopback and the container's networks, anyone
//!   with `SKYPORT_CONSOLE_PUBLIC=1`.
//! - It only reads unless `SKYPORT_CONSOLE_WRITE=1`: uploads, deletes, sends, purges, invocations and item
//!   writes answer 403 with a JSON message naming the variable.
//! - Every API request but `GET`/`HEAD` must carry an `X-Skyport-Console` header, which a cross-site form
//!   cannot send, so another web page open in the same browser cannot make the console write.
#![forbid(unsafe_code)]

pub mod access;
pub mod api;
pub mod assets;
pub mod aws;
pub mod requests;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};
use skyport_core::{Body, body, protocol::bytes_response};
use skyport_proxy::conn::ConnInfo;
use skyport_proxy::{App, GatewayHandle};

use crate::api::{Kind, Query};
use crate::aws::{ApiError, Caller};

/// Where the console's page is.
pub const ROOT: &str = "/_skyport/";
/// Where its files and API live.
pub const PREFIX: &str = "/_skyport/console";
/// The header every API request but `GET` and `HEAD` carries.
pub const CSRF_HEADER: &str = "x-skyport-console";
/// The largest JSON input or invocation payload the API reads.
const MAX_INPUT: usize = 6 << 20;

/// The console's settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Allow writes (`SKYPORT_CONSOLE_WRITE=1`).
    pub write: bool,
    /// Serve every client, not only loopback and the container's networks (`SKYPORT_CONSOLE_PUBLIC=1`).
    pub public: bool,
}

/// The console, mounted on the gateway with `Gateway::mount`.
#[derive(Debug, Clone, Default)]
pub struct Console {
    options: Options,
}

impl Console {
    /// A console with these settings.
    pub fn new(options: Options) -> Console {
        Console { options }
    }

    async fn api(
        &self,
        route: &str,
        request: Request<Body>,
        conn: ConnInfo,
        gateway: &GatewayHandle,
    ) -> Result<Response<Body>, ApiError> {
        let method = request.method().clone();
        let query = Query::parse(request.uri().query());
        if !matches!(method, Method::GET | Method::HEAD)
            && !request.headers().contains_key(CSRF_HEADER)
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "MissingHeader",
                format!("console API requests other than GET carry an {CSRF_HEADER} header"),
            ));
        }
        match (&method, route) {
            (&Method::GET, "info") => return Ok(self.info(gateway)),
            (&Method::GET, "requests") => {
                let after = query.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
                return Ok(requests::list(gateway, after));
            }
            (&Method::GET, "requests/stream") => {
                let after = request
                    .headers()
                    .get("last-event-id")
                    .and_then(|v| v.to_str().ok())
                    .or(query.get("after"))
                    .and_then(|v| v.trim().parse().ok());
                return Ok(requests::stream(gateway, after));
            }
            (&Method::GET, r) if r.starts_with("requests/") => {
                return requests::detail(gateway, &r["requests/".len()..]);
            }
            _ => {}
        }
        let (service, rest) = route.split_once('/').unwrap_or((route, ""));
        let kind = if service == "call" {
            let (svc, op) = rest.split_once('/').unwrap_or((rest, ""));
            api::operation_kind(svc, op).ok_or_else(|| {
                ApiError::bad_request(format!("the console does not call {svc}.{op}"))
            })?
        } else {
            api::route_kind(&method, rest)
        };
        if kind == Kind::Write && !self.options.write {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "ReadOnly",
                "the console is read-only: start Skyport with SKYPORT_CONSOLE_WRITE=1 to upload, delete, \
                 send, purge, invoke or write items from it",
            ));
        }
        let (account, region) = query.scope()?;
        let caller = Caller::new(gateway, conn.local.to_string(), account, region);
        match service {
            "call" => {
                let (svc, op) = rest.split_once('/').unwrap_or((rest, ""));
                let input = read_input(request).await?;
                api::call(&caller, svc, op, &input).await
            }
            "s3" => api::s3(&caller, &method, rest, &query, request).await,
            "sqs" => api::sqs(&caller, &method, rest, &query).await,
            "lambda" => {
                let payload = read_input(request).await?;
                api::lambda(&caller, &method, rest, &query, &payload).await
            }
            _ => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("no console API at {route}"),
            )),
        }
    }

    fn info(&self, gateway: &GatewayHandle) -> Response<Body> {
        json_response(
            StatusCode::OK,
            &json!({
                "version": skyport_core::VERSION,
                "write": self.options.write,
                "public": self.options.public,
                "docker": gateway.is_docker(),
                "services": gateway.services(),
                "account": skyport_core::DEFAULT_ACCOUNT,
                "region": skyport_core::DEFAULT_REGION,
            }),
        )
    }
}

#[async_trait::async_trait]
impl App for Console {
    fn serves(&self, path: &str) -> bool {
        path == "/_skyport"
            || path == ROOT
            || path == PREFIX
            || path
                .strip_prefix(PREFIX)
                .is_some_and(|r| r.starts_with('/'))
    }

    async fn handle(
        &self,
        request: Request<Body>,
        conn: ConnInfo,
        gateway: GatewayHandle,
    ) -> Response<Body> {
        let path = request.uri().path().to_owned();
        let is_api = path.starts_with("/_skyport/console/api/");
        let networks = if conn.peer.ip().to_canonical().is_loopback() || self.options.public {
            Vec::new()
        } else {
            access::local_networks(gateway.is_docker())
        };
        if !access::allowed(conn.peer.ip(), &networks, self.options.public) {
            tracing::debug!(peer = %conn.peer, "console refused to a client outside loopback and the container's networks");
            let message = "the console is served only to loopback and the container's networks; \
                           start Skyport with SKYPORT_CONSOLE_PUBLIC=1 to serve it to every client";
            return ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message).into_response();
        }
        if is_api {
            let route = path["/_skyport/console/api/".len()..].trim_end_matches('/');
            let route = route.to_owned();
            return match self.api(&route, request, conn, &gateway).await {
                Ok(response) => response,
                Err(e) => e.into_response(),
            };
        }
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            return ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "GET only",
            )
            .into_response();
        }
        if path == "/_skyport" || path == PREFIX {
            let mut response = Response::new(body::empty());
            *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
            response
                .headers_mut()
                .insert(header::LOCATION, http::HeaderValue::from_static(ROOT));
            return response;
        }
        let name = if path == ROOT || path == "/_skyport/console/" {
            "index.html"
        } else {
            &path[PREFIX.len() + 1..]
        };
        match assets::get(name) {
            Some((content_type, bytes)) => {
                let mut response =
                    bytes_response(StatusCode::OK, content_type, Bytes::from_static(bytes));
                response.headers_mut().insert(
                    header::CACHE_CONTROL,
                    http::HeaderValue::from_static("no-cache"),
                );
                response
            }
            None => ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("no console file at {path}"),
            )
            .into_response(),
        }
    }
}

async fn read_input(request: Request<Body>) -> Result<Bytes, ApiError> {
    body::collect_limited(request.into_body(), MAX_INPUT)
        .await
        .map_err(|e| {
            let status = match e {
                body::BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                body::BodyError::Read(_) => StatusCode::BAD_REQUEST,
            };
            ApiError::new(status, "BadInput", e.to_string())
        })
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    bytes_response(
        status,
        "application/json",
        Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
    )
}

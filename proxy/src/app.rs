//! Applications mounted under internal paths (the web console): each gets the request, the connection it
//! came on, and a [`GatewayHandle`] through which it calls the services in process, the way a client
//! would (routing, request context, state gates, the request log), and watches the request log.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{Request, Response};
use skyport_core::Body;

use crate::conn::ConnInfo;
use crate::gateway::Shared;
use crate::request_log::{Origin, RequestLog};

/// An application served on the gateway under internal paths.
#[async_trait::async_trait]
pub trait App: Send + Sync + 'static {
    /// True when the app serves `path` (checked for every `/_skyport/` request, before the built-in
    /// endpoints).
    fn serves(&self, path: &str) -> bool;

    /// Answers one request.
    async fn handle(
        &self,
        request: Request<Body>,
        conn: ConnInfo,
        gateway: GatewayHandle,
    ) -> Response<Body>;
}

/// What an [`App`] may do with the gateway while it answers a request.
#[derive(Clone)]
pub struct GatewayHandle {
    shared: Arc<Shared>,
    conn: ConnInfo,
}

impl std::fmt::Debug for GatewayHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayHandle")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl GatewayHandle {
    pub(crate) fn new(shared: Arc<Shared>, conn: ConnInfo) -> GatewayHandle {
        GatewayHandle { shared, conn }
    }

    /// Serves `request` as an AWS request from the app's client (its address shows in the request log,
    /// marked as the console's), through the router and the service, without a network round trip.
    pub async fn call(&self, request: Request<Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        crate::dispatch::aws(&self.shared, self.conn, parts, body, None, Origin::Console).await
    }

    /// The request log.
    pub fn requests(&self) -> &Arc<RequestLog> {
        &self.shared.requests
    }

    /// Resolves when the gateway begins to shut down (end long-lived responses then).
    pub async fn shutting_down(&self) {
        self.shared.shutdown.wait().await;
    }

    /// Running in a container.
    pub fn is_docker(&self) -> bool {
        self.shared.health.is_docker
    }

    /// Service id → state (`running`, `disabled`), as the health endpoint reports them.
    pub fn services(&self) -> &BTreeMap<String, String> {
        &self.shared.health.services
    }
}

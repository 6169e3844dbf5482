//! `GET /_skyport/iam/denials` (with `ENFORCE_IAM=1`): what IAM denied, or in soft mode
//! (`IAM_SOFT_MODE=1`) would have denied, per principal, with the least-privilege policy that would
//! allow it, so a developer can grow a role's policy from a test run. `DELETE` forgets the record.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use skyport_core::Body;
use skyport_iam::IamAuthorizer;
use skyport_proxy::conn::ConnInfo;
use skyport_proxy::{App, GatewayHandle};

/// The path served.
pub const PATH: &str = "/_skyport/iam/denials";

/// The endpoint over IAM's authorizer.
pub struct DenialsApp {
    authorizer: Arc<IamAuthorizer>,
}

impl DenialsApp {
    /// The endpoint reading `authorizer`'s record.
    pub fn new(authorizer: Arc<IamAuthorizer>) -> DenialsApp {
        DenialsApp { authorizer }
    }
}

#[async_trait::async_trait]
impl App for DenialsApp {
    fn serves(&self, path: &str) -> bool {
        path == PATH
    }

    async fn handle(
        &self,
        request: Request<Body>,
        _conn: ConnInfo,
        _gateway: GatewayHandle,
    ) -> Response<Body> {
        let (status, body) = match *request.method() {
            Method::GET => (StatusCode::OK, self.authorizer.denials()),
            Method::DELETE => {
                self.authorizer.forget_denials();
                (StatusCode::OK, self.authorizer.denials())
            }
            _ => (
                StatusCode::METHOD_NOT_ALLOWED,
                serde_json::json!({"error": "GET or DELETE"}),
            ),
        };
        let mut r = Response::new(skyport_core::body::full(Bytes::from(body.to_string())));
        *r.status_mut() = status;
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        r
    }
}

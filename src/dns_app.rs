//! `GET /_skyport/dns/resolve?name=NAME[&type=A][&from=IP]`: the running DNS server's own explanation of
//! what it answers a client at IP (the requester's address by default) for NAME, with its live
//! configuration, interfaces and run-time records (port-range host names). `skyport dns resolve` asks
//! this first, so a Skyport in a container explains itself instead of the shell guessing from its own
//! settings. Answers `text/plain`; `404` with a reason when the DNS server is off.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use skyport_core::Body;
use skyport_dns::{DnsServer, RecordType};
use skyport_proxy::conn::ConnInfo;
use skyport_proxy::{App, GatewayHandle};

/// The path served.
pub const PATH: &str = "/_skyport/dns/resolve";

/// The endpoint, holding the DNS server weakly (its owner shuts it down at exit).
pub struct DnsExplain {
    dns: Option<Weak<DnsServer>>,
}

impl DnsExplain {
    /// The endpoint for `dns` (`None`: the DNS server is off).
    pub fn new(dns: Option<&Arc<DnsServer>>) -> DnsExplain {
        DnsExplain {
            dns: dns.map(Arc::downgrade),
        }
    }
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(skyport_core::body::full(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[async_trait::async_trait]
impl App for DnsExplain {
    fn serves(&self, path: &str) -> bool {
        path.trim_end_matches('/') == PATH
    }

    async fn handle(
        &self,
        request: Request<Body>,
        conn: ConnInfo,
        _gateway: GatewayHandle,
    ) -> Response<Body> {
        if request.method() != http::Method::GET {
            return text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n".into());
        }
        let Some(dns) = self.dns.as_ref().and_then(Weak::upgrade) else {
            return text(
                StatusCode::NOT_FOUND,
                "the DNS server is off (DNS_ADDRESS=0)\n".into(),
            );
        };
        let query: Vec<(String, String)> = request
            .uri()
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let Some(name) = get("name").filter(|n| !n.is_empty()) else {
            return text(StatusCode::BAD_REQUEST, "name is required\n".into());
        };
        let qtype = get("type").unwrap_or("A").trim().to_ascii_uppercase();
        let Ok(qtype) = RecordType::from_str(&qtype) else {
            return text(
                StatusCode::BAD_REQUEST,
                format!(
                    "unknown record type {qtype:?} (try A, AAAA, MX, TXT, HTTPS, SOA, NS or ANY)\n"
                ),
            );
        };
        let client = match get("from") {
            Some(ip) => match IpAddr::from_str(ip) {
                Ok(ip) => ip,
                Err(_) => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        format!("{ip:?} is no IP address\n"),
                    );
                }
            },
            None => conn.peer.ip(),
        };
        match dns.explain(name, qtype, client) {
            Ok(explanation) => text(StatusCode::OK, explanation.to_string()),
            Err(e) => text(StatusCode::BAD_REQUEST, format!("{e}\n")),
        }
    }
}

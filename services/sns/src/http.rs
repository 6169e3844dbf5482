//! One HTTP(S) POST of a message to a subscriber's endpoint (hyper's HTTP/1.1 client over a TCP or
//! TLS stream; HTTPS endpoints are verified against the public web PKI roots, as SNS verifies them).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long one attempt may take (AWS's default request timeout is 15 s).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a POST failed.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// The endpoint is not a usable URL.
    #[error("invalid endpoint: {0}")]
    Url(String),
    /// Connecting, TLS or the exchange failed.
    #[error("{0}")]
    Io(String),
    /// The endpoint answered with a status outside 2xx.
    #[error("HTTP status {0}")]
    Status(u16),
}

fn tls() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| b.with_root_certificates(roots).with_no_client_auth());
            Arc::new(config.unwrap_or_else(|_| {
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }))
        })
        .clone()
}

/// POSTs `body` with `headers` to `url`; Ok on a 2xx answer.
pub async fn post(url: &str, headers: &[(&str, String)], body: String) -> Result<(), PostError> {
    tokio::time::timeout(ATTEMPT_TIMEOUT, post_once(url, headers, body))
        .await
        .map_err(|_| PostError::Io("timed out".to_owned()))?
}

async fn post_once(url: &str, headers: &[(&str, String)], body: String) -> Result<(), PostError> {
    let uri: http::Uri = url.parse().map_err(|_| PostError::Url(url.to_owned()))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(PostError::Url(url.to_owned())),
    };
    let host = uri.host().ok_or_else(|| PostError::Url(url.to_owned()))?;
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let bare_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let stream = TcpStream::connect((bare_host.as_str(), port))
        .await
        .map_err(|e| PostError::Io(e.to_string()))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let authority = uri
        .authority()
        .map_or_else(|| host.to_owned(), |a| a.as_str().to_owned());
    let mut request = http::Request::post(path).header(http::header::HOST, authority);
    for (k, v) in headers {
        request = request.header(*k, v.as_str());
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| PostError::Url(e.to_string()))?;
    let status = if https {
        let name = rustls::pki_types::ServerName::try_from(bare_host)
            .map_err(|e| PostError::Url(e.to_string()))?;
        let tls = tokio_rustls::TlsConnector::from(tls())
            .connect(name, stream)
            .await
            .map_err(|e| PostError::Io(e.to_string()))?;
        exchange(TokioIo::new(tls), request).await?
    } else {
        exchange(TokioIo::new(stream), request).await?
    };
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(PostError::Status(status))
    }
}

async fn exchange<T>(io: T, request: http::Request<Full<Bytes>>) -> Result<u16, PostError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| PostError::Io(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("SNS HTTP delivery connection: {e}");
        }
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| PostError::Io(e.to_string()))?;
    let status = response.status().as_u16();
    // Drain the answer so the connection closes cleanly.
    let _ = response.into_body().collect().await;
    Ok(status)
}

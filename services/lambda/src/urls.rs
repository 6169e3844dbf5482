//! Function URLs' data plane, as AWS documents it ("Invoking Lambda function URLs"): an HTTP request
//! becomes the payload format 2.0 event, the function's result becomes the HTTP response (a result
//! object with `statusCode`, `headers`, `cookies`, `body`, `isBase64Encoded`, or any other JSON as a
//! `200 application/json` body), and CORS is answered from the URL's configuration. Pure functions: the
//! service wires them to invocations (`api::urls`).

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::shapes;

/// The store table mapping a URL id to its function (`<account>/<region>/<name>` and qualifier).
pub const URLS: &str = "function-urls";

/// A function URL's configuration, stored in its function's record (keyed by qualifier).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlConfig {
    /// The 32-character id in the URL's host name.
    pub url_id: String,
    /// `NONE` or `AWS_IAM`.
    pub auth_type: String,
    /// `BUFFERED` or `RESPONSE_STREAM`.
    pub invoke_mode: String,
    /// `Cors`, in the model's JSON form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Value>,
    /// `CreationTime`.
    pub created: String,
    /// `LastModifiedTime`.
    pub last_modified: String,
}

/// Where a URL id leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlTarget {
    /// The function's account.
    pub account: String,
    /// The function's region.
    pub region: String,
    /// The function's name.
    pub name: String,
    /// `$LATEST` or an alias.
    pub qualifier: String,
}

/// A new URL id: 32 lower-case letters and digits, as AWS's.
pub fn new_url_id() -> String {
    skyport_core::ids::random_string(b"abcdefghijklmnopqrstuvwxyz0123456789", 32)
}

/// The URL id of a function URL host (`<id>.lambda-url.<region>.on.aws[:port]`, or the same under
/// `localhost.localstack.cloud`).
pub fn url_id_of_host(host: &str) -> Option<String> {
    let name = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    let mut labels = name.split('.');
    let id = labels.next()?;
    (labels.next()?.eq_ignore_ascii_case("lambda-url") && !id.is_empty())
        .then(|| id.to_ascii_lowercase())
}

/// Content types whose bodies the event carries as text; every other body is base64-encoded.
fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let ct = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ct.starts_with("text/")
        || matches!(
            ct.as_str(),
            "application/json"
                | "application/javascript"
                | "application/xml"
                | "application/x-www-form-urlencoded"
                | "application/yaml"
                | "application/xhtml+xml"
        )
        || ct.ends_with("+json")
        || ct.ends_with("+xml")
}

/// What the event needs to know about the request beyond its head and body.
pub struct RequestInfo<'a> {
    /// The caller's account.
    pub account: &'a str,
    /// The URL id.
    pub url_id: &'a str,
    /// The host name the request used.
    pub domain: &'a str,
    /// The client's address.
    pub source_ip: String,
    /// The request id.
    pub request_id: &'a str,
    /// Milliseconds since the epoch.
    pub now_ms: i64,
}

/// The payload format 2.0 event of a request.
pub fn event(
    method: &Method,
    uri: &http::Uri,
    version: http::Version,
    headers: &HeaderMap,
    body: &Bytes,
    info: &RequestInfo<'_>,
) -> Value {
    let mut header_map: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == header::COOKIE {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            );
            continue;
        }
        header_map
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let raw_query = uri.query().unwrap_or("");
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
        query
            .entry(k.into_owned())
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert_with(|| v.into_owned());
    }
    let user_agent = header_map.get("user-agent").cloned().unwrap_or_default();
    let protocol = match version {
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    };
    let now = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(info.now_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let clf_time = format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        now.day(),
        months[usize::from(u8::from(now.month())) - 1],
        now.year(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let mut event = Map::new();
    event.insert("version".into(), json!("2.0"));
    event.insert("routeKey".into(), json!("$default"));
    event.insert("rawPath".into(), json!(uri.path()));
    event.insert("rawQueryString".into(), json!(raw_query));
    if !cookies.is_empty() {
        event.insert("cookies".into(), json!(cookies));
    }
    event.insert("headers".into(), json!(header_map));
    if !query.is_empty() {
        event.insert("queryStringParameters".into(), json!(query));
    }
    event.insert(
        "requestContext".into(),
        json!({
            "accountId": "anonymous",
            "apiId": info.url_id,
            "domainName": info.domain,
            "domainPrefix": info.url_id,
            "http": {
                "method": method.as_str(),
                "path": uri.path(),
                "protocol": protocol,
                "sourceIp": info.source_ip,
                "userAgent": user_agent,
            },
            "requestId": info.request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": clf_time,
            "timeEpoch": info.now_ms,
        }),
    );
    if !body.is_empty() {
        if is_text(content_type) {
            event.insert("body".into(), json!(String::from_utf8_lossy(body)));
            event.insert("isBase64Encoded".into(), json!(false));
        } else {
            event.insert(
                "body".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(body)),
            );
            event.insert("isBase64Encoded".into(), json!(true));
        }
    } else {
        event.insert("isBase64Encoded".into(), json!(false));
    }
    let _ = info.account;
    Value::Object(event)
}

fn text_response(status: StatusCode, body: &'static str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(body.as_bytes()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The answer when the function failed (an unhandled error, a timeout, an unusable result).
pub fn internal_error() -> Response<Bytes> {
    text_response(StatusCode::BAD_GATEWAY, "Internal Server Error")
}

/// The answer to a request the URL's auth type or the function's policy does not allow.
pub fn forbidden() -> Response<Bytes> {
    text_response(StatusCode::FORBIDDEN, r#"{"Message":"Forbidden"}"#)
}

/// The answer when the function is throttled.
pub fn throttled() -> Response<Bytes> {
    text_response(
        StatusCode::TOO_MANY_REQUESTS,
        r#"{"Message":"Rate Exceeded."}"#,
    )
}

/// The HTTP response of a function's result (payload format 2.0).
pub fn response(payload: &[u8]) -> Response<Bytes> {
    let parsed: Option<Value> = serde_json::from_slice(payload).ok();
    let Some(Value::Object(result)) = parsed
        .as_ref()
        .filter(|v| v.as_object().is_some_and(|o| o.contains_key("statusCode")))
    else {
        // Any other valid JSON: 200, application/json, the JSON as the body.
        if parsed.is_none() {
            return internal_error();
        }
        let mut response = Response::new(Bytes::copy_from_slice(payload));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return response;
    };
    let status = result
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok());
    let Some(status) = status else {
        return internal_error();
    };
    let body_text = match result.get("body") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let body = if result.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        match base64::engine::general_purpose::STANDARD.decode(body_text.as_bytes()) {
            Ok(bytes) => Bytes::from(bytes),
            Err(_) => return internal_error(),
        }
    } else {
        Bytes::from(body_text)
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(Value::Object(map)) = result.get("headers") {
        for (name, value) in map {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let (Ok(name), Ok(value)) = (
                header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                headers.insert(name, value);
            }
        }
    }
    if let Some(Value::Array(cookies)) = result.get("cookies") {
        for cookie in cookies.iter().filter_map(Value::as_str) {
            if let Ok(value) = HeaderValue::from_str(cookie) {
                headers.append(header::SET_COOKIE, value);
            }
        }
    }
    if !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    response
}

fn origin_allowed(cors: &shapes::Cors, origin: &str) -> Option<String> {
    let origins = cors.allow_origins.as_deref().unwrap_or_default();
    if origins.iter().any(|o| o == "*") {
        return Some("*".to_owned());
    }
    origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
        .then(|| origin.to_owned())
}

/// The answer to a CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`), when
/// the URL has a CORS configuration: AWS answers it without invoking the function.
pub fn preflight(cors: &shapes::Cors, request: &HeaderMap) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    let origin = request
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(allowed) = origin_allowed(cors, origin) else {
        return response;
    };
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("access-control-allow-origin", allowed);
    if let Some(methods) = cors.allow_methods.as_ref().filter(|m| !m.is_empty()) {
        set("access-control-allow-methods", methods.join(","));
    }
    if let Some(h) = cors.allow_headers.as_ref().filter(|h| !h.is_empty()) {
        set("access-control-allow-headers", h.join(","));
    }
    if let Some(age) = cors.max_age {
        set("access-control-max-age", age.to_string());
    }
    if cors.allow_credentials == Some(true) {
        set("access-control-allow-credentials", "true".to_owned());
    }
    response
}

/// Adds the CORS headers of the configuration to a function's response (replacing any the function
/// set), for a request that carries `Origin`.
pub fn apply_cors(cors: &shapes::Cors, request: &HeaderMap, response: &mut Response<Bytes>) {
    let Some(origin) = request.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return;
    };
    let headers = response.headers_mut();
    for name in [
        "access-control-allow-origin",
        "access-control-expose-headers",
        "access-control-allow-credentials",
    ] {
        headers.remove(name);
    }
    let Some(allowed) = origin_allowed(cors, origin) else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(&allowed) {
        headers.insert("access-control-allow-origin", v);
    }
    if let Some(expose) = cors.expose_headers.as_ref().filter(|h| !h.is_empty())
        && let Ok(v) = HeaderValue::from_str(&expose.join(","))
    {
        headers.insert("access-control-expose-headers", v);
    }
    if cors.allow_credentials == Some(true) {
        headers.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RequestInfo<'static> {
        RequestInfo {
            account: "000000000000",
            url_id: "abc",
            domain: "abc.lambda-url.us-east-1.on.aws",
            source_ip: "127.0.0.1".into(),
            request_id: "r-1",
            now_ms: 1_583_348_638_390,
        }
    }

    #[test]
    fn requests_become_version_2_events() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        headers.insert("cookie", HeaderValue::from_static("c1=v1; c2=v2"));
        let uri: http::Uri = "/my/path?p1=a&p1=b&p2=c".parse().unwrap();
        let e = event(
            &Method::POST,
            &uri,
            http::Version::HTTP_11,
            &headers,
            &Bytes::from_static(b"hello"),
            &info(),
        );
        assert_eq!(e["rawPath"], "/my/path");
        assert_eq!(e["rawQueryString"], "p1=a&p1=b&p2=c");
        assert_eq!(e["queryStringParameters"]["p1"], "a,b");
        assert_eq!(e["headers"]["x-multi"], "a,b");
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["cookies"], json!(["c1=v1", "c2=v2"]));
        assert_eq!(e["body"], "hello");
        assert_eq!(e["isBase64Encoded"], false);
        assert_eq!(e["requestContext"]["http"]["method"], "POST");
        assert_eq!(e["requestContext"]["time"], "04/Mar/2020:19:03:58 +0000");
        let binary = event(
            &Method::PUT,
            &"/".parse().unwrap(),
            http::Version::HTTP_11,
            &HeaderMap::new(),
            &Bytes::from_static(&[0, 1, 2]),
            &info(),
        );
        assert_eq!(binary["body"], "AAEC");
        assert_eq!(binary["isBase64Encoded"], true);
        assert!(binary.get("queryStringParameters").is_none());
    }

    #[test]
    fn results_become_responses() {
        let r = response(br#"{"statusCode": 201, "headers": {"x-a": "1"}, "cookies": ["a=1", "b=2"], "body": "aGk=", "isBase64Encoded": true}"#);
        assert_eq!(r.status(), 201);
        assert_eq!(r.body().as_ref(), b"hi");
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
        let plain = response(br#"{"hello": "world"}"#);
        assert_eq!(plain.status(), 200);
        assert_eq!(plain.headers()["content-type"], "application/json");
        assert_eq!(plain.body().as_ref(), br#"{"hello": "world"}"#);
        assert_eq!(response(b"not json").status(), 502);
        assert_eq!(
            url_id_of_host("abc.lambda-url.us-east-1.on.aws").as_deref(),
            Some("abc")
        );
        assert_eq!(
            url_id_of_host("ABC.lambda-url.us-east-1.localhost.localstack.cloud:4566").as_deref(),
            Some("abc")
        );
        assert_eq!(url_id_of_host("lambda.us-east-1.amazonaws.com"), None);
        let id = new_url_id();
        assert_eq!(id.len(), 32);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
    }
}

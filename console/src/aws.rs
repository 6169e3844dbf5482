//! Calls to the services, made in process through the gateway as a client would make them: an
//! `Authorization` header whose credential scope names the account (a 12-digit access key is the
//! account), the region and the service, and the protocol's own shape (awsJson with `X-Amz-Target`, query
//! forms, REST paths). Nothing is signed: Skyport takes any signature (unless S3's strict checking is on).

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde_json::{Map, Value, json};
use skyport_core::{Body, body};
use skyport_proxy::GatewayHandle;

/// The largest response the console reads whole (listings, items, invocation results).
const MAX_RESPONSE: usize = 16 << 20;

/// An error the console's API answers with: `{"error": code, "message": ...}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A short code (the AWS error code when a service refused).
    pub code: String,
    /// What went wrong.
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// A 400 for a request the console cannot make sense of.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// The JSON response.
    pub fn into_response(self) -> Response<Body> {
        crate::json_response(
            self.status,
            &json!({"error": self.code, "message": self.message}),
        )
    }
}

/// How one service is called.
#[derive(Debug, Clone, Copy)]
pub enum Protocol {
    /// awsJson: the `X-Amz-Target` prefix and the JSON version (`1.0` or `1.1`).
    Json(&'static str, &'static str),
    /// The query protocol, with its API version.
    Query(&'static str),
}

/// Makes requests in one account and region.
pub struct Caller<'a> {
    gateway: &'a GatewayHandle,
    host: String,
    account: String,
    region: String,
}

impl<'a> Caller<'a> {
    /// A caller for `account` and `region`; `host` is the `Host` its requests carry (the listener's
    /// address, so nothing reads a bucket or a region from it).
    pub fn new(
        gateway: &'a GatewayHandle,
        host: String,
        account: &str,
        region: &str,
    ) -> Caller<'a> {
        Caller {
            gateway,
            host,
            account: account.to_owned(),
            region: region.to_owned(),
        }
    }

    /// A request builder with the host and the credential scope for `signing_name`.
    pub fn builder(&self, method: Method, uri: &str, signing_name: &str) -> http::request::Builder {
        let now = time::OffsetDateTime::now_utc();
        let date = format!(
            "{:04}{:02}{:02}",
            now.year(),
            u8::from(now.month()),
            now.day()
        );
        let stamp = format!(
            "{date}T{:02}{:02}{:02}Z",
            now.hour(),
            now.minute(),
            now.second()
        );
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, &self.host)
            .header(
                header::AUTHORIZATION,
                format!(
                    "AWS4-HMAC-SHA256 Credential={}/{date}/{}/{signing_name}/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature=0",
                    self.account, self.region
                ),
            )
            .header("x-amz-date", stamp)
            .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
            .header(header::USER_AGENT, "skyport-console")
    }

    /// Sends a request through the gateway.
    pub async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.gateway.call(request).await
    }

    /// Calls `operation` of a JSON- or query-protocol service with `input` (a JSON object; for the query
    /// protocol its scalars and lists of scalars become form fields) and returns the output as JSON.
    pub async fn call(
        &self,
        signing_name: &str,
        protocol: Protocol,
        operation: &str,
        input: &Value,
    ) -> Result<Value, ApiError> {
        let request = match protocol {
            Protocol::Json(prefix, version) => self
                .builder(Method::POST, "/", signing_name)
                .header("x-amz-target", format!("{prefix}.{operation}"))
                .header(
                    header::CONTENT_TYPE,
                    format!("application/x-amz-json-{version}"),
                )
                .body(body::full(serde_json::to_vec(input).unwrap_or_default())),
            Protocol::Query(version) => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                form.append_pair("Action", operation);
                form.append_pair("Version", version);
                if let Value::Object(fields) = input {
                    for (name, value) in fields {
                        append_query(&mut form, name, value);
                    }
                }
                self.builder(Method::POST, "/", signing_name)
                    .header(
                        header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded; charset=utf-8",
                    )
                    .body(body::full(form.finish()))
            }
        };
        let request = request.map_err(|e| ApiError::bad_request(e.to_string()))?;
        let (status, _, bytes) = read(self.send(request).await).await?;
        if !status.is_success() {
            return Err(service_error(status, &bytes));
        }
        match protocol {
            Protocol::Json(..) if bytes.is_empty() => Ok(json!({})),
            Protocol::Json(..) => serde_json::from_slice(&bytes).map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "BadResponse",
                    format!("the service answered with invalid JSON: {e}"),
                )
            }),
            // `<OpResponse><OpResult>...</OpResult><ResponseMetadata/></OpResponse>`: the result.
            Protocol::Query(_) => {
                let root = xml_json(&bytes)?;
                Ok(root
                    .get(format!("{operation}Result"))
                    .cloned()
                    .unwrap_or_else(|| json!({})))
            }
        }
    }
}

fn append_query(form: &mut form_urlencoded::Serializer<String>, name: &str, value: &Value) {
    match value {
        Value::String(s) => {
            form.append_pair(name, s);
        }
        Value::Number(n) => {
            form.append_pair(name, &n.to_string());
        }
        Value::Bool(b) => {
            form.append_pair(name, if *b { "true" } else { "false" });
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                append_query(form, &format!("{name}.member.{}", i + 1), item);
            }
        }
        Value::Object(_) | Value::Null => {}
    }
}

/// Reads a response whole (up to [`MAX_RESPONSE`]).
pub async fn read(
    response: Response<Body>,
) -> Result<(StatusCode, http::HeaderMap, Bytes), ApiError> {
    let (parts, response_body) = response.into_parts();
    let bytes = body::collect_limited(response_body, MAX_RESPONSE)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "BadResponse",
                format!("could not read the service's response: {e}"),
            )
        })?;
    Ok((parts.status, parts.headers, bytes))
}

/// The error a service answered with, from its JSON (`__type`, `message`) or XML (`Code`, `Message`).
pub fn service_error(status: StatusCode, bytes: &[u8]) -> ApiError {
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        let code = value
            .get("__type")
            .or_else(|| value.get("code"))
            .and_then(Value::as_str)
            .map(|t| t.rsplit('#').next().unwrap_or(t))
            .unwrap_or("Error");
        let message = value
            .get("message")
            .or_else(|| value.get("Message"))
            .and_then(Value::as_str)
            .unwrap_or("");
        return ApiError::new(status, code, message);
    }
    if let Ok(root) = skyport_wire::xml::parse(bytes) {
        let error = root.child("Error").unwrap_or(&root);
        let text = |name: &str| {
            error
                .child(name)
                .map(|e| e.text.clone())
                .unwrap_or_default()
        };
        return ApiError::new(status, &text("Code"), text("Message"));
    }
    ApiError::new(
        status,
        "Error",
        String::from_utf8_lossy(&bytes[..bytes.len().min(500)]).into_owned(),
    )
}

/// An XML document as JSON: an element with children becomes an object (a name that repeats becomes an
/// array), a leaf its text. The root's name is dropped.
pub fn xml_json(bytes: &[u8]) -> Result<Value, ApiError> {
    let root = skyport_wire::xml::parse(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "BadResponse",
            format!("the service answered with invalid XML: {e}"),
        )
    })?;
    Ok(element_json(&root))
}

fn element_json(element: &skyport_wire::xml::Element) -> Value {
    if element.children.is_empty() {
        return Value::String(element.text.clone());
    }
    let mut object = Map::new();
    for child in &element.children {
        let value = element_json(child);
        match object.get_mut(&child.name) {
            Some(Value::Array(items)) => items.push(value),
            Some(first) => {
                let first = first.take();
                object.insert(child.name.clone(), Value::Array(vec![first, value]));
            }
            None => {
                object.insert(child.name.clone(), value);
            }
        }
    }
    Value::Object(object)
}

/// A header value, or a 400 naming the field.
pub fn header_value(field: &str, value: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(value)
        .map_err(|_| ApiError::bad_request(format!("{field} is not a valid header value")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_becomes_json_with_repeated_names_as_arrays() {
        let doc = br#"<ListAllMyBucketsResult><Buckets><Bucket><Name>a</Name></Bucket><Bucket><Name>b</Name></Bucket></Buckets><Owner><ID>x</ID></Owner></ListAllMyBucketsResult>"#;
        assert_eq!(
            xml_json(doc).unwrap(),
            json!({"Buckets": {"Bucket": [{"Name": "a"}, {"Name": "b"}]}, "Owner": {"ID": "x"}})
        );
        let one = br#"<R><Buckets><Bucket><Name>a&amp;b</Name></Bucket></Buckets></R>"#;
        assert_eq!(
            xml_json(one).unwrap(),
            json!({"Buckets": {"Bucket": {"Name": "a&b"}}})
        );
    }

    #[test]
    fn service_errors_in_either_shape() {
        let e = service_error(
            StatusCode::BAD_REQUEST,
            br#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"no table"}"#,
        );
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("ResourceNotFoundException", "no table")
        );
        let e = service_error(
            StatusCode::NOT_FOUND,
            b"<Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>",
        );
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("NoSuchBucket", "gone")
        );
        let e = service_error(
            StatusCode::BAD_REQUEST,
            b"<ErrorResponse><Error><Code>NotFound</Code><Message>m</Message></Error></ErrorResponse>",
        );
        assert_eq!(e.code, "NotFound");
    }

    #[test]
    fn query_inputs_flatten_lists() {
        let mut form = form_urlencoded::Serializer::new(String::new());
        append_query(&mut form, "TopicArn", &json!("arn:x"));
        append_query(&mut form, "Names", &json!(["a", "b"]));
        append_query(&mut form, "Max", &json!(5));
        assert_eq!(
            form.finish(),
            "TopicArn=arn%3Ax&Names.member.1=a&Names.member.2=b&Max=5"
        );
    }
}

//! The resource browser's API, under `/_skyport/console/api/`. Every call names its account and region
//! (`?account=` and `?region=`, default `000000000000` and `us-east-1`) and is made in process through
//! the gateway ([`crate::aws::Caller`]).
//!
//! - `POST call/<service>/<Operation>` with a JSON input: the operations of [`OPERATIONS`] of the JSON-
//!   and query-protocol services (SQS, DynamoDB, Logs, EventBridge, ECR, SNS, IAM, STS); the output as
//!   JSON (query-protocol XML converted). Operations marked as writes need `SKYPORT_CONSOLE_WRITE=1`.
//! - S3: `GET s3/buckets`, `GET s3/objects?bucket=&prefix=&token=` (one level, `/` as delimiter),
//!   `GET s3/object?bucket=&key=` (download), `PUT s3/object?bucket=&key=` (upload, the body streamed
//!   through), `DELETE s3/object?bucket=&key=`.
//! - SQS: `GET sqs/peek?url=`: the queue's messages without receiving them (`/_aws/sqs/messages`).
//! - Lambda: `GET lambda/functions`, `GET lambda/function?name=`, `POST lambda/invoke?name=` (the body is
//!   the payload; the answer has the status, payload, function error and log tail).

use base64::Engine as _;
use http::{Method, Request, Response, StatusCode, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use skyport_core::arn::{is_account_id, is_region};
use skyport_core::{Body, body};

use crate::aws::{ApiError, Caller, Protocol, header_value, read, service_error, xml_json};

/// Characters escaped in a path segment (everything but RFC 3986's unreserved ones).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// The same, keeping `/` (S3 keys).
const KEY: &AsciiSet = &SEGMENT.remove(b'/');

/// How each JSON- or query-protocol service is called: id, signing name, protocol.
const SERVICES: &[(&str, &str, Protocol)] = &[
    ("sqs", "sqs", Protocol::Json("AmazonSQS", "1.0")),
    (
        "dynamodb",
        "dynamodb",
        Protocol::Json("DynamoDB_20120810", "1.0"),
    ),
    (
        "dynamodbstreams",
        "dynamodb",
        Protocol::Json("DynamoDBStreams_20120810", "1.0"),
    ),
    ("logs", "logs", Protocol::Json("Logs_20140328", "1.1")),
    ("events", "events", Protocol::Json("AWSEvents", "1.1")),
    (
        "ecr",
        "ecr",
        Protocol::Json("AmazonEC2ContainerRegistry_V20150921", "1.1"),
    ),
    ("sns", "sns", Protocol::Query("2010-03-31")),
    ("iam", "iam", Protocol::Query("2010-05-08")),
    ("sts", "sts", Protocol::Query("2011-06-15")),
];

/// Whether an operation changes state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Reads only.
    Read,
    /// Changes state: needs `SKYPORT_CONSOLE_WRITE=1`.
    Write,
}

/// The operations the console calls, per service; nothing else goes through `call/`.
pub const OPERATIONS: &[(&str, Kind, &[&str])] = &[
    (
        "sqs",
        Kind::Read,
        &[
            "ListQueues",
            "GetQueueAttributes",
            "GetQueueUrl",
            "ListDeadLetterSourceQueues",
            "ListQueueTags",
            "ListMessageMoveTasks",
        ],
    ),
    (
        "sqs",
        Kind::Write,
        &["SendMessage", "PurgeQueue", "StartMessageMoveTask"],
    ),
    (
        "dynamodb",
        Kind::Read,
        &["ListTables", "DescribeTable", "Scan", "Query", "GetItem"],
    ),
    ("dynamodb", Kind::Write, &["PutItem", "DeleteItem"]),
    (
        "dynamodbstreams",
        Kind::Read,
        &["ListStreams", "DescribeStream"],
    ),
    (
        "logs",
        Kind::Read,
        &[
            "DescribeLogGroups",
            "DescribeLogStreams",
            "GetLogEvents",
            "FilterLogEvents",
        ],
    ),
    (
        "events",
        Kind::Read,
        &[
            "ListEventBuses",
            "ListRules",
            "DescribeRule",
            "ListTargetsByRule",
        ],
    ),
    ("events", Kind::Write, &["PutEvents"]),
    (
        "ecr",
        Kind::Read,
        &["DescribeRepositories", "DescribeImages", "ListImages"],
    ),
    (
        "sns",
        Kind::Read,
        &[
            "ListTopics",
            "GetTopicAttributes",
            "ListSubscriptions",
            "ListSubscriptionsByTopic",
        ],
    ),
    ("sns", Kind::Write, &["Publish"]),
    (
        "iam",
        Kind::Read,
        &[
            "ListRoles",
            "ListUsers",
            "ListGroups",
            "ListPolicies",
            "GetRole",
            "ListAttachedRolePolicies",
            "ListRolePolicies",
        ],
    ),
    ("sts", Kind::Read, &["GetCallerIdentity"]),
];

/// The kind of `operation` of `service`, if the console calls it.
pub fn operation_kind(service: &str, operation: &str) -> Option<Kind> {
    OPERATIONS
        .iter()
        .find(|(s, _, ops)| *s == service && ops.contains(&operation))
        .map(|(_, kind, _)| *kind)
}

/// The kind of a console API request that is not a `call/` (S3, Lambda, SQS peek), by method and path.
pub fn route_kind(method: &Method, route: &str) -> Kind {
    match (method, route) {
        (&Method::GET | &Method::HEAD, _) => Kind::Read,
        _ => Kind::Write,
    }
}

/// One API request's parameters.
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses a query string.
    pub fn parse(query: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// A parameter, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter that must be given and not empty.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::bad_request(format!("the parameter {name} is required")))
    }

    /// `account` and `region`, checked, with their defaults.
    pub fn scope(&self) -> Result<(&str, &str), ApiError> {
        let account = self
            .get("account")
            .filter(|a| !a.is_empty())
            .unwrap_or(skyport_core::DEFAULT_ACCOUNT);
        let region = self
            .get("region")
            .filter(|r| !r.is_empty())
            .unwrap_or(skyport_core::DEFAULT_REGION);
        if !is_account_id(account) {
            return Err(ApiError::bad_request("account must be 12 digits"));
        }
        if !is_region(region) {
            return Err(ApiError::bad_request(format!("{region} is not a region")));
        }
        Ok((account, region))
    }
}

/// `POST call/<service>/<Operation>`.
pub async fn call(
    caller: &Caller<'_>,
    service: &str,
    operation: &str,
    input: &[u8],
) -> Result<Response<Body>, ApiError> {
    let (_, signing_name, protocol) = SERVICES
        .iter()
        .find(|(id, _, _)| *id == service)
        .ok_or_else(|| ApiError::bad_request(format!("the console does not call {service}")))?;
    let input: Value = if input.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(input)
            .map_err(|e| ApiError::bad_request(format!("the input is not JSON: {e}")))?
    };
    if !input.is_object() {
        return Err(ApiError::bad_request("the input is a JSON object"));
    }
    let output = caller
        .call(signing_name, *protocol, operation, &input)
        .await?;
    Ok(crate::json_response(StatusCode::OK, &output))
}

fn empty_request(
    caller: &Caller<'_>,
    method: Method,
    uri: &str,
    signing_name: &str,
) -> Result<Request<Body>, ApiError> {
    caller
        .builder(method, uri, signing_name)
        .body(body::empty())
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Sends a request and returns its body as JSON (XML converted), or the service's error.
async fn fetch_json(caller: &Caller<'_>, request: Request<Body>) -> Result<Value, ApiError> {
    let (status, headers, bytes) = read(caller.send(request).await).await?;
    if !status.is_success() {
        return Err(service_error(status, &bytes));
    }
    let is_xml = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("xml"));
    if bytes.is_empty() {
        Ok(json!({}))
    } else if is_xml || bytes.first() == Some(&b'<') {
        xml_json(&bytes)
    } else {
        serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "BadResponse",
                format!("invalid JSON from the service: {e}"),
            )
        })
    }
}

/// `GET uri` of the service signing as `signing_name`, answered as JSON.
async fn get_json(
    caller: &Caller<'_>,
    uri: &str,
    signing_name: &str,
) -> Result<Response<Body>, ApiError> {
    let request = empty_request(caller, Method::GET, uri, signing_name)?;
    let out = fetch_json(caller, request).await?;
    Ok(crate::json_response(StatusCode::OK, &out))
}

fn object_uri(bucket: &str, key: &str) -> String {
    format!(
        "/{}/{}",
        utf8_percent_encode(bucket, SEGMENT),
        utf8_percent_encode(key, KEY)
    )
}

/// The S3 routes (`s3/...`).
pub async fn s3(
    caller: &Caller<'_>,
    method: &Method,
    route: &str,
    query: &Query,
    request: Request<Body>,
) -> Result<Response<Body>, ApiError> {
    match (method, route) {
        (&Method::GET, "buckets") => get_json(caller, "/", "s3").await,
        (&Method::GET, "objects") => {
            let bucket = query.required("bucket")?;
            let mut uri = format!(
                "/{}?list-type=2&delimiter=%2F&max-keys=200",
                utf8_percent_encode(bucket, SEGMENT)
            );
            for (param, name) in [("prefix", "prefix"), ("token", "continuation-token")] {
                if let Some(v) = query.get(param).filter(|v| !v.is_empty()) {
                    uri.push_str(&format!("&{name}={}", utf8_percent_encode(v, SEGMENT)));
                }
            }
            get_json(caller, &uri, "s3").await
        }
        (&Method::GET, "object") => {
            let (bucket, key) = (query.required("bucket")?, query.required("key")?);
            let request = empty_request(caller, Method::GET, &object_uri(bucket, key), "s3")?;
            let response = caller.send(request).await;
            if !response.status().is_success() {
                let (status, _, bytes) = read(response).await?;
                return Err(service_error(status, &bytes));
            }
            // The object streams through to the browser as a download.
            let (mut parts, object) = response.into_parts();
            let name = key.rsplit('/').next().unwrap_or(key);
            let disposition = format!(
                "attachment; filename*=UTF-8''{}",
                utf8_percent_encode(name, SEGMENT)
            );
            parts.headers.insert(
                header::CONTENT_DISPOSITION,
                header_value("key", &disposition)?,
            );
            Ok(Response::from_parts(parts, object))
        }
        (&Method::PUT, "object") => {
            let (bucket, key) = (query.required("bucket")?, query.required("key")?);
            let (parts, upload) = request.into_parts();
            let mut builder = caller.builder(Method::PUT, &object_uri(bucket, key), "s3");
            for name in [header::CONTENT_TYPE, header::CONTENT_LENGTH] {
                if let Some(v) = parts.headers.get(&name) {
                    builder = builder.header(name, v);
                }
            }
            let request = builder
                .body(upload)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let (status, headers, bytes) = read(caller.send(request).await).await?;
            if !status.is_success() {
                return Err(service_error(status, &bytes));
            }
            let etag = headers
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            Ok(crate::json_response(
                StatusCode::OK,
                &json!({"bucket": bucket, "key": key, "etag": etag}),
            ))
        }
        (&Method::DELETE, "object") => {
            let (bucket, key) = (query.required("bucket")?, query.required("key")?);
            let request = empty_request(caller, Method::DELETE, &object_uri(bucket, key), "s3")?;
            fetch_json(caller, request).await?;
            Ok(crate::json_response(
                StatusCode::OK,
                &json!({"bucket": bucket, "key": key, "deleted": true}),
            ))
        }
        _ => Err(not_found(route)),
    }
}

/// The SQS routes (`sqs/...`).
pub async fn sqs(
    caller: &Caller<'_>,
    method: &Method,
    route: &str,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    match (method, route) {
        (&Method::GET, "peek") => {
            let url = query.required("url")?;
            // Visible, in flight and delayed: the console marks which is which.
            let uri = format!(
                "/_aws/sqs/messages?QueueUrl={}&ShowInvisible=true&ShowDelayed=true&MaxNumberOfMessages=100",
                utf8_percent_encode(url, SEGMENT)
            );
            let request = caller
                .builder(Method::GET, &uri, "sqs")
                .header(header::CONTENT_TYPE, "application/x-amz-json-1.0")
                .body(body::empty())
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let out = fetch_json(caller, request).await?;
            Ok(crate::json_response(StatusCode::OK, &out))
        }
        _ => Err(not_found(route)),
    }
}

/// The Lambda routes (`lambda/...`).
pub async fn lambda(
    caller: &Caller<'_>,
    method: &Method,
    route: &str,
    query: &Query,
    payload: &[u8],
) -> Result<Response<Body>, ApiError> {
    match (method, route) {
        (&Method::GET, "functions") => {
            let mut uri = "/2015-03-31/functions/?MaxItems=200".to_owned();
            if let Some(marker) = query.get("marker").filter(|m| !m.is_empty()) {
                uri.push_str(&format!("&Marker={}", utf8_percent_encode(marker, SEGMENT)));
            }
            get_json(caller, &uri, "lambda").await
        }
        (&Method::GET, "function") => {
            let name = query.required("name")?;
            let uri = format!(
                "/2015-03-31/functions/{}",
                utf8_percent_encode(name, SEGMENT)
            );
            get_json(caller, &uri, "lambda").await
        }
        (&Method::POST, "invoke") => {
            let name = query.required("name")?;
            let uri = format!(
                "/2015-03-31/functions/{}/invocations",
                utf8_percent_encode(name, SEGMENT)
            );
            let request = caller
                .builder(Method::POST, &uri, "lambda")
                .header("x-amz-invocation-type", "RequestResponse")
                .header("x-amz-log-type", "Tail")
                .header(header::CONTENT_TYPE, "application/json")
                .body(body::full(payload.to_vec()))
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let (status, headers, bytes) = read(caller.send(request).await).await?;
            if !status.is_success() {
                return Err(service_error(status, &bytes));
            }
            let text = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let log = text("x-amz-log-result")
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            Ok(crate::json_response(
                StatusCode::OK,
                &json!({
                    "status": status.as_u16(),
                    "functionError": text("x-amz-function-error"),
                    "executedVersion": text("x-amz-executed-version"),
                    "payload": String::from_utf8_lossy(&bytes),
                    "log": log,
                }),
            ))
        }
        _ => Err(not_found(route)),
    }
}

fn not_found(route: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("no console API at {route}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_classified() {
        assert_eq!(operation_kind("sqs", "ListQueues"), Some(Kind::Read));
        assert_eq!(operation_kind("sqs", "PurgeQueue"), Some(Kind::Write));
        assert_eq!(operation_kind("dynamodb", "DeleteTable"), None);
        assert_eq!(operation_kind("s3", "ListBuckets"), None);
        assert_eq!(route_kind(&Method::GET, "object"), Kind::Read);
        assert_eq!(route_kind(&Method::PUT, "object"), Kind::Write);
        assert_eq!(route_kind(&Method::POST, "invoke"), Kind::Write);
        // Every service in the table can be called.
        for (service, _, _) in OPERATIONS {
            assert!(SERVICES.iter().any(|(id, _, _)| id == service), "{service}");
        }
    }

    #[test]
    fn keys_keep_their_slashes() {
        assert_eq!(object_uri("b", "a/b c+d.txt"), "/b/a/b%20c%2Bd.txt");
    }

    #[test]
    fn scope_defaults_and_checks() {
        let q = Query::parse(None);
        assert_eq!(q.scope().unwrap(), ("000000000000", "us-east-1"));
        let q = Query::parse(Some("account=111122223333&region=eu-west-1"));
        assert_eq!(q.scope().unwrap(), ("111122223333", "eu-west-1"));
        assert!(Query::parse(Some("account=abc")).scope().is_err());
        assert!(Query::parse(Some("region=..")).scope().is_err());
    }
}

//! `AwsError`: the one error type services return, and the one place that renders it in each protocol's
//! wire shape (query XML `ErrorResponse`, REST-XML `Error`, awsJson `__type`, REST-JSON).

use std::borrow::Cow;

use http::{HeaderName, HeaderValue, Method, Response, StatusCode, header};

use crate::body::{self, Body};
use crate::protocol::Protocol;
use crate::service::ServiceInfo;
use crate::xml::XmlWriter;

/// A failed storage operation, reduced to what decides the wire error (cheap to clone, so one failed
/// group commit can answer every request in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageFailure {
    /// The disk or quota is full: the operation may succeed once space returns.
    pub disk_full: bool,
    /// What failed, for the log.
    pub detail: String,
}

impl From<&crate::store::StoreError> for StorageFailure {
    fn from(e: &crate::store::StoreError) -> StorageFailure {
        StorageFailure {
            disk_full: e.disk_full(),
            detail: e.to_string(),
        }
    }
}

impl From<&std::io::Error> for StorageFailure {
    fn from(e: &std::io::Error) -> StorageFailure {
        StorageFailure {
            disk_full: crate::store::io_disk_full(e.kind()),
            detail: format!("storage I/O: {e}"),
        }
    }
}

/// The error codes a service uses for storage failures (S3 has its own).
#[derive(Debug, Clone, Copy)]
pub struct StorageCodes {
    /// For a full disk (HTTP 503).
    pub unavailable: &'static str,
    /// For anything else (HTTP 500).
    pub internal: &'static str,
}

impl StorageCodes {
    /// The codes common to the JSON and query protocol services.
    pub const COMMON: StorageCodes = StorageCodes {
        unavailable: "ServiceUnavailable",
        internal: "InternalFailure",
    };
    /// S3's codes.
    pub const S3: StorageCodes = StorageCodes {
        unavailable: "SlowDown",
        internal: "InternalError",
    };
}

/// Whether the client or the server is at fault (the query protocol's `<Type>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request was bad (4xx).
    Sender,
    /// Skyport failed (5xx).
    Receiver,
}

/// An error in AWS terms: status, code, message, plus protocol-specific extras.
#[derive(Debug, Clone)]
pub struct AwsError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The error code, e.g. `NoSuchBucket`, `ValidationError`.
    pub code: Cow<'static, str>,
    /// The human-readable message.
    pub message: String,
    /// Who is at fault.
    pub fault: Fault,
    /// Rarely used extras, boxed to keep `Result<T, AwsError>` small.
    extras: Option<Box<Extras>>,
}

#[derive(Debug, Clone, Default)]
struct Extras {
    /// Extra elements (REST-XML) or members (JSON), e.g. S3's `BucketName`.
    fields: Vec<(&'static str, String)>,
    /// For awsQuery-compatible JSON services (SQS): the code the query protocol uses, sent in JSON responses
    /// as `x-amzn-query-error` and used as `<Code>` in query responses.
    query_code: Option<Cow<'static, str>>,
    /// Extra response headers (e.g. `Allow` on 405).
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The members of a modeled error for the JSON protocols (rendered by the wire layer from the error
    /// shape), replacing the default `message` member.
    json_members: Option<serde_json::Map<String, serde_json::Value>>,
    /// Elements of a modeled error for the XML protocols, written after `<Message>`.
    xml_fields: Option<String>,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.status.as_u16(),
            self.message
        )
    }
}

impl std::error::Error for AwsError {}

impl AwsError {
    /// A new error; the fault follows from the status.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> AwsError {
        AwsError {
            status,
            code: code.into(),
            message: message.into(),
            fault: if status.is_server_error() {
                Fault::Receiver
            } else {
                Fault::Sender
            },
            extras: None,
        }
    }

    /// An IAM denial as `service` answers it in `protocol`: S3's and SQS's and the query services'
    /// 403 `AccessDenied` (SNS: `AuthorizationError`), awsJson's 400 `AccessDeniedException`,
    /// REST-JSON's 403 `AccessDeniedException`.
    pub fn access_denied(
        service: &str,
        protocol: Protocol,
        message: impl Into<String>,
    ) -> AwsError {
        let (status, code) = match (service, protocol) {
            ("sns", _) => (StatusCode::FORBIDDEN, "AuthorizationError"),
            ("s3" | "sqs", _) | (_, Protocol::Query | Protocol::Ec2 | Protocol::RestXml) => {
                (StatusCode::FORBIDDEN, "AccessDenied")
            }
            (_, Protocol::RestJson) => (StatusCode::FORBIDDEN, "AccessDeniedException"),
            (_, Protocol::Json10 | Protocol::Json11) => {
                (StatusCode::BAD_REQUEST, "AccessDeniedException")
            }
        };
        AwsError::new(status, code, message)
    }

    /// A 400 error.
    pub fn bad_request(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> AwsError {
        AwsError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 500 `InternalError`/`InternalFailure` with a message that names what failed.
    pub fn internal(message: impl Into<String>) -> AwsError {
        AwsError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            message,
        )
    }

    /// The one mapping from a storage failure (the state store or files in the state directory) to the
    /// wire. A full disk is a 503 the client may retry once space returns; anything else is a 500. The
    /// storage engine's own text is logged, never sent: the client gets the service's usual message.
    pub fn storage(failure: &StorageFailure, codes: StorageCodes) -> AwsError {
        if failure.disk_full {
            tracing::error!("state directory full: {}", failure.detail);
            AwsError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes.unavailable,
                "Please reduce your request rate. (The emulator's state directory is full.)",
            )
        } else {
            tracing::error!("storage failure: {}", failure.detail);
            AwsError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                codes.internal,
                "We encountered an internal error. Please try again.",
            )
        }
    }

    /// The `ValidationError` the query protocol uses for constraint violations.
    pub fn validation(message: impl Into<String>) -> AwsError {
        AwsError::bad_request("ValidationError", message)
    }

    fn extras_mut(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// Adds an extra element/member.
    pub fn with_field(mut self, name: &'static str, value: impl Into<String>) -> AwsError {
        self.extras_mut().fields.push((name, value.into()));
        self
    }

    /// Sets the awsQuery-compatible code.
    pub fn with_query_code(mut self, code: impl Into<Cow<'static, str>>) -> AwsError {
        self.extras_mut().query_code = Some(code.into());
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> AwsError {
        self.extras_mut().headers.push((name, value));
        self
    }

    /// The complete members of a modeled error in the JSON protocols (`__type` is still added here).
    pub fn with_json_members(
        mut self,
        members: serde_json::Map<String, serde_json::Value>,
    ) -> AwsError {
        self.extras_mut().json_members = Some(members);
        self
    }

    /// Pre-rendered XML elements of a modeled error, written after `<Message>`.
    pub fn with_xml_fields(mut self, elements: String) -> AwsError {
        self.extras_mut().xml_fields = Some(elements);
        self
    }

    fn json_members(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.extras.as_deref().and_then(|e| e.json_members.as_ref())
    }

    fn xml_fields(&self) -> Option<&str> {
        self.extras.as_deref().and_then(|e| e.xml_fields.as_deref())
    }

    /// Extra elements/members.
    pub fn fields(&self) -> &[(&'static str, String)] {
        self.extras.as_deref().map_or(&[], |e| e.fields.as_slice())
    }

    /// The awsQuery-compatible code, if any.
    pub fn query_code(&self) -> Option<&str> {
        self.extras.as_deref().and_then(|e| e.query_code.as_deref())
    }

    /// Extra response headers.
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        self.extras.as_deref().map_or(&[], |e| e.headers.as_slice())
    }

    /// Renders the error as a response in `protocol`'s shape.
    pub fn to_response(&self, protocol: Protocol, render: &ErrorRender<'_>) -> Response<Body> {
        let (content_type, bytes) = match protocol {
            Protocol::Query | Protocol::Ec2 => ("text/xml", self.query_xml(protocol, render)),
            Protocol::RestXml => ("application/xml", self.rest_xml(render)),
            Protocol::Json10 | Protocol::Json11 => (protocol.content_type(), self.aws_json(render)),
            Protocol::RestJson => ("application/json", self.rest_json()),
        };
        let head_only = render.method == Some(&Method::HEAD);
        let len = bytes.len();
        let mut response = Response::new(if head_only {
            body::empty()
        } else {
            body::full(bytes)
        });
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if !head_only {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        if matches!(
            protocol,
            Protocol::Json10 | Protocol::Json11 | Protocol::RestJson
        ) {
            if let Ok(value) = HeaderValue::from_str(&self.code) {
                headers.insert(HeaderName::from_static("x-amzn-errortype"), value);
            }
            if let Some(query_code) = self.query_code() {
                let fault = match self.fault {
                    Fault::Sender => "Sender",
                    Fault::Receiver => "Receiver",
                };
                if let Ok(value) = HeaderValue::from_str(&format!("{query_code};{fault}")) {
                    headers.insert(HeaderName::from_static("x-amzn-query-error"), value);
                }
            }
        }
        for (name, value) in self.headers() {
            headers.insert(name.clone(), value.clone());
        }
        response
    }

    fn query_xml(&self, protocol: Protocol, render: &ErrorRender<'_>) -> Vec<u8> {
        let code = self.query_code().unwrap_or(&self.code);
        let mut w = XmlWriter::new();
        if protocol == Protocol::Ec2 {
            w.start("Response").start("Errors").start("Error");
            w.leaf("Code", code).leaf("Message", &self.message);
            w.end("Error").end("Errors");
            w.leaf("RequestID", render.request_id).end("Response");
            return w.finish().into_bytes();
        }
        match render.service {
            Some(info) if !info.xml_namespace.is_empty() => {
                w.start_ns("ErrorResponse", info.xml_namespace)
            }
            _ => w.start("ErrorResponse"),
        };
        w.start("Error");
        w.leaf(
            "Type",
            match self.fault {
                Fault::Sender => "Sender",
                Fault::Receiver => "Receiver",
            },
        );
        w.leaf("Code", code);
        if !self.message.is_empty() {
            w.leaf("Message", &self.message);
        }
        for (name, value) in self.fields() {
            w.leaf(name, value);
        }
        if let Some(elements) = self.xml_fields() {
            w.raw(elements);
        }
        w.end("Error")
            .leaf("RequestId", render.request_id)
            .end("ErrorResponse");
        w.finish().into_bytes()
    }

    fn rest_xml(&self, render: &ErrorRender<'_>) -> Vec<u8> {
        let mut w = XmlWriter::with_declaration();
        w.start("Error").leaf("Code", &self.code);
        if !self.message.is_empty() {
            w.leaf("Message", &self.message);
        }
        for (name, value) in self.fields() {
            w.leaf(name, value);
        }
        if let Some(elements) = self.xml_fields() {
            w.raw(elements);
        }
        w.leaf("RequestId", render.request_id);
        w.opt_leaf("HostId", render.host_id);
        w.end("Error");
        w.finish().into_bytes()
    }

    fn aws_json(&self, render: &ErrorRender<'_>) -> Vec<u8> {
        let prefix = render.service.map(|s| s.json_error_prefix).unwrap_or("");
        let mut object = serde_json::Map::new();
        object.insert("__type".into(), format!("{prefix}{}", self.code).into());
        if let Some(members) = self.json_members() {
            object.extend(members.clone());
            return serde_json::to_vec(&object).unwrap_or_default();
        }
        object.insert("message".into(), self.message.clone().into());
        for (name, value) in self.fields() {
            object.insert((*name).into(), value.clone().into());
        }
        serde_json::to_vec(&object).unwrap_or_default()
    }

    fn rest_json(&self) -> Vec<u8> {
        if let Some(members) = self.json_members() {
            return serde_json::to_vec(members).unwrap_or_default();
        }
        let mut object = serde_json::Map::new();
        object.insert(
            "Type".into(),
            match self.fault {
                Fault::Sender => "User",
                Fault::Receiver => "Service",
            }
            .into(),
        );
        object.insert("message".into(), self.message.clone().into());
        for (name, value) in self.fields() {
            object.insert((*name).into(), value.clone().into());
        }
        serde_json::to_vec(&object).unwrap_or_default()
    }
}

impl From<crate::body::BodyError> for AwsError {
    /// The generic answer to a request body that could not be read whole: 413 `RequestEntityTooLarge`
    /// past the endpoint's limit, 400 `IncompleteBody` when the client broke off. Services with their own
    /// codes for these cases (SQS, S3) map `BodyError` themselves.
    fn from(error: crate::body::BodyError) -> AwsError {
        match error {
            crate::body::BodyError::TooLarge { limit } => AwsError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                format!("The request body is larger than the {limit} bytes this endpoint accepts."),
            ),
            crate::body::BodyError::Read(e) => AwsError::bad_request(
                "IncompleteBody",
                format!("The request body could not be read: {e}"),
            ),
        }
    }
}

/// What the renderer needs besides the error.
#[derive(Debug, Clone, Copy)]
pub struct ErrorRender<'a> {
    /// The request id (also sent as a header by the proxy).
    pub request_id: &'a str,
    /// S3's extended request id.
    pub host_id: Option<&'a str>,
    /// The service, for XML namespaces and JSON type prefixes; `None` for requests no service claimed.
    pub service: Option<&'static ServiceInfo>,
    /// The request method (HEAD responses carry no body).
    pub method: Option<&'a Method>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    static STS: ServiceInfo = ServiceInfo {
        name: "sts",
        protocols: &[Protocol::Query],
        xml_namespace: "https://sts.amazonaws.com/doc/2011-06-15/",
        json_error_prefix: "com.amazonaws.sts#",
    };

    async fn render(err: &AwsError, protocol: Protocol) -> (Response<Body>, String) {
        let r = ErrorRender {
            request_id: "rid",
            host_id: Some("hid"),
            service: Some(&STS),
            method: None,
        };
        let (parts, body) = err.to_response(protocol, &r).into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (
            Response::from_parts(parts, body::empty()),
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn shapes() {
        let err = AwsError::validation("bad <thing>");
        let (resp, text) = render(&err, Protocol::Query).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(
            text,
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
             <Code>ValidationError</Code><Message>bad &lt;thing&gt;</Message></Error><RequestId>rid</RequestId></ErrorResponse>"
        );
        let (_, text) = render(
            &err.clone().with_field("BucketName", "b"),
            Protocol::RestXml,
        )
        .await;
        assert!(text.starts_with("<?xml"));
        assert!(text.contains("<Code>ValidationError</Code><Message>bad &lt;thing&gt;</Message><BucketName>b</BucketName><RequestId>rid</RequestId><HostId>hid</HostId>"));
        let sqs = AwsError::bad_request("QueueDoesNotExist", "gone")
            .with_query_code("AWS.SimpleQueueService.NonExistentQueue");
        let (resp, text) = render(&sqs, Protocol::Json10).await;
        assert_eq!(
            resp.headers()["x-amzn-query-error"],
            "AWS.SimpleQueueService.NonExistentQueue;Sender"
        );
        assert_eq!(resp.headers()["content-type"], "application/x-amz-json-1.0");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["__type"], "com.amazonaws.sts#QueueDoesNotExist");
        let (_, text) = render(&sqs, Protocol::Query).await;
        assert!(text.contains("<Code>AWS.SimpleQueueService.NonExistentQueue</Code>"));
        let (resp, text) = render(&AwsError::internal("boom"), Protocol::RestJson).await;
        assert_eq!(resp.status(), 500);
        assert_eq!(resp.headers()["x-amzn-errortype"], "InternalFailure");
        assert!(text.contains("\"Type\":\"Service\""));
    }
}

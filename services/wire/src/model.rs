//! An AWS service model (botocore's `service-2.json` form of the Smithy model), compiled into indexed
//! shapes and operations the protocol codecs walk.
//!
//! Shapes refer to each other by [`ShapeId`] (an index), so walking a value never looks a name up in a
//! map. A member's serialisation traits are merged as botocore merges them: what the member reference says
//! (location, wire name, flattening, namespace, timestamp format) wins over what its target shape says.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::tree::{NULL, Tree as Json};

/// The index of a shape in [`Model::shapes`].
pub type ShapeId = usize;

/// Why a model could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The JSON could not be read.
    #[error("model JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON is not a service model.
    #[error("model: {0}")]
    Shape(String),
}

/// The wire protocol a model declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireProtocol {
    /// `query`: form-encoded `Action=` requests, XML responses.
    Query,
    /// `ec2`: query with EC2's naming rules (not served by Skyport; parsed so models load).
    Ec2,
    /// `json`: awsJson 1.0 or 1.1, `X-Amz-Target`.
    Json,
    /// `rest-json`.
    RestJson,
    /// `rest-xml`.
    RestXml,
}

/// Facts about the service as a whole.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// The model's protocol.
    pub protocol: WireProtocol,
    /// `1.0` or `1.1` for awsJson.
    pub json_version: String,
    /// The `X-Amz-Target` prefix (`DynamoDB_20120810`).
    pub target_prefix: String,
    /// The API version (`2015-03-31`).
    pub api_version: String,
    /// The query protocol's XML namespace, from `xmlNamespace` (e.g. `https://sts.amazonaws.com/doc/2011-06-15/`).
    pub xml_namespace: Option<String>,
    /// The awsQuery-compatible trait (SQS): errors carry their query code too.
    pub query_compatible: bool,
    /// The service's SDK id (`Lambda`).
    pub service_id: String,
}

/// A timestamp wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampFormat {
    /// `2026-12-06T10:00:00Z` (fractions when present).
    Iso8601,
    /// `Sun, 06 Dec 2026 10:00:00 GMT`.
    Rfc822,
    /// Seconds since the epoch, possibly fractional.
    UnixTimestamp,
}

impl TimestampFormat {
    fn parse(text: &str) -> Option<TimestampFormat> {
        match text {
            "iso8601" => Some(TimestampFormat::Iso8601),
            "rfc822" => Some(TimestampFormat::Rfc822),
            "unixTimestamp" => Some(TimestampFormat::UnixTimestamp),
            _ => None,
        }
    }
}

/// Where an input or output member travels in a REST protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// In the body (or as the payload).
    Body,
    /// In one header.
    Header,
    /// A map from headers sharing a prefix.
    Headers,
    /// A URI label.
    Uri,
    /// A query-string parameter (or, for a map, all other parameters).
    Querystring,
    /// The HTTP status code (outputs).
    StatusCode,
}

/// An XML namespace declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlNamespace {
    /// The prefix (`xsi`), if any.
    pub prefix: Option<String>,
    /// The URI.
    pub uri: String,
}

/// A reference to a shape with the traits the referring site adds (a member, a list member, a map key).
#[derive(Debug, Clone)]
pub struct Member {
    /// The member name (the key in the canonical value).
    pub name: String,
    /// The target shape.
    pub target: ShapeId,
    /// Where it travels (REST protocols).
    pub location: Location,
    /// The wire name: header name, query key, URI label, XML element or JSON key.
    pub wire_name: Option<String>,
    /// The EC2 protocol's `queryName`.
    pub query_name: Option<String>,
    /// A flattened list or map in XML and query.
    pub flattened: bool,
    /// Serialised as an XML attribute.
    pub xml_attribute: bool,
    /// An XML namespace declared on this element.
    pub xml_namespace: Option<XmlNamespace>,
    /// A timestamp format on the member.
    pub timestamp_format: Option<TimestampFormat>,
    /// A string holding JSON, base64-encoded in headers.
    pub json_value: bool,
    /// An idempotency token (filled in by clients when absent).
    pub idempotency_token: bool,
    /// Required by the structure.
    pub required: bool,
    /// A host label (endpoint prefix); ignored by a server.
    pub host_label: bool,
    /// A streaming blob or an event stream.
    pub streaming: bool,
}

impl Member {
    /// The name on the wire: `locationName`, else the member name.
    pub fn wire(&self) -> &str {
        self.wire_name.as_deref().unwrap_or(&self.name)
    }
}

/// The `error` trait of an exception shape.
#[derive(Debug, Clone)]
pub struct ErrorTrait {
    /// The awsQuery error code (`AWS.SimpleQueueService.NonExistentQueue`), when it differs from the name.
    pub code: Option<String>,
    /// The HTTP status.
    pub status: u16,
    /// Caused by the client.
    pub sender_fault: bool,
}

/// A structure (also unions, exceptions and documents).
#[derive(Debug, Clone, Default)]
pub struct Structure {
    /// Members in model order.
    pub members: Vec<Member>,
    /// The member carried as the whole body (REST protocols).
    pub payload: Option<usize>,
    /// Set for exception shapes.
    pub error: Option<ErrorTrait>,
    /// An exception shape.
    pub exception: bool,
    /// A union: exactly one member is set.
    pub union: bool,
    /// A document: any JSON value.
    pub document: bool,
    /// An event stream (not served: Skyport's services have none).
    pub event_stream: bool,
    /// The structure's own XML element name (`locationName` on the shape).
    pub xml_name: Option<String>,
    /// The structure's own namespace (`xmlNamespace` on the shape).
    pub xml_namespace: Option<XmlNamespace>,
}

impl Structure {
    /// The member named `name`.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// Length, count or range bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bounds {
    /// The minimum, inclusive.
    pub min: Option<f64>,
    /// The maximum, inclusive.
    pub max: Option<f64>,
}

/// What a shape is.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A structure, union, exception or document.
    Structure(Structure),
    /// A list.
    List {
        /// The element reference.
        member: Box<Member>,
        /// Flattened in XML and query.
        flattened: bool,
    },
    /// A map with string keys.
    Map {
        /// The key reference.
        key: Box<Member>,
        /// The value reference.
        value: Box<Member>,
        /// Flattened in XML and query.
        flattened: bool,
    },
    /// A string, possibly an enum or with a pattern.
    String {
        /// The allowed values, for enums.
        enum_values: Option<Vec<String>>,
        /// A regular expression every value must match whole.
        pattern: Option<String>,
    },
    /// `integer` (32-bit).
    Integer,
    /// `long` (64-bit).
    Long,
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `boolean`.
    Boolean,
    /// `timestamp`.
    Timestamp,
    /// `blob`.
    Blob,
}

/// A named shape.
#[derive(Debug)]
pub struct Shape {
    /// Its name in the model.
    pub name: String,
    /// Its kind and kind-specific traits.
    pub kind: Kind,
    /// Length (strings, blobs, lists, maps) or range (numbers).
    pub bounds: Bounds,
    /// A timestamp format on the shape.
    pub timestamp_format: Option<TimestampFormat>,
    /// A streaming blob.
    pub streaming: bool,
    /// Holds JSON text (jsonvalue).
    pub json_value: bool,
    /// Secret: validation messages leave the value out.
    pub sensitive: bool,
    /// The pattern compiled on first use (`None` inside when Rust's regex cannot express it).
    pattern: OnceLock<Option<regex::Regex>>,
}

impl Shape {
    /// The structure, if this is one.
    pub fn structure(&self) -> Option<&Structure> {
        match &self.kind {
            Kind::Structure(s) => Some(s),
            _ => None,
        }
    }

    /// The compiled pattern of a string shape, anchored at both ends (Java's `matches`).
    pub fn pattern(&self) -> Option<&regex::Regex> {
        let Kind::String {
            pattern: Some(p), ..
        } = &self.kind
        else {
            return None;
        };
        self.pattern
            .get_or_init(|| match regex::Regex::new(&format!("^(?:{p})$")) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::debug!(shape = %self.name, "pattern not checked: {e}");
                    None
                }
            })
            .as_ref()
    }
}

/// One segment of a REST request URI's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text.
    Literal(String),
    /// `{Label}`: one path segment.
    Label(String),
    /// `{Label+}`: the rest of the path, slashes included.
    Greedy(String),
}

/// An operation's HTTP binding.
#[derive(Debug, Clone)]
pub struct HttpBinding {
    /// The method.
    pub method: http::Method,
    /// The request URI as the model writes it.
    pub request_uri: String,
    /// The path, split into segments.
    pub segments: Vec<Segment>,
    /// Query literals the URI carries (`?acl`, `?x-id=PutObject`): name and value (empty for a bare key).
    pub query_literals: Vec<(String, String)>,
    /// The success status.
    pub response_code: u16,
}

/// An operation.
#[derive(Debug)]
pub struct Operation {
    /// Its name (`CreateFunction`).
    pub name: String,
    /// The HTTP binding.
    pub http: HttpBinding,
    /// The input structure.
    pub input: Option<ShapeId>,
    /// The output structure.
    pub output: Option<ShapeId>,
    /// The query protocol's result wrapper element (`GetCallerIdentityResult`).
    pub result_wrapper: Option<String>,
    /// The errors the operation declares.
    pub errors: Vec<ShapeId>,
}

/// A compiled service model.
#[derive(Debug)]
pub struct Model {
    /// Service-wide facts.
    pub metadata: Metadata,
    /// Every shape.
    pub shapes: Vec<Shape>,
    /// Every operation, in model order.
    pub operations: Vec<Operation>,
    shape_index: HashMap<String, ShapeId>,
    operation_index: HashMap<String, usize>,
}

impl Model {
    /// Compiles a model from botocore's `service-2.json` text (member order kept).
    pub fn from_json(text: &str) -> Result<Model, ModelError> {
        Model::from_tree(&Json::parse(text)?)
    }

    /// Compiles a model from parsed JSON (the inline models of the protocol test cases); object members
    /// come in key order.
    pub fn from_value(json: &serde_json::Value) -> Result<Model, ModelError> {
        Model::from_tree(&Json::from(json))
    }

    fn from_tree(json: &Json) -> Result<Model, ModelError> {
        let metadata = metadata(json.get("metadata").unwrap_or(&NULL))?;
        let shapes_json = json
            .get("shapes")
            .and_then(Json::as_object)
            .ok_or_else(|| ModelError::Shape("no shapes".into()))?;
        let shape_index: HashMap<String, ShapeId> = shapes_json
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.clone(), i))
            .collect();
        let mut shapes = Vec::with_capacity(shapes_json.len());
        for (name, shape) in shapes_json {
            shapes.push(compile_shape(name, shape, &shape_index)?);
        }
        let mut operations = Vec::new();
        if let Some(ops) = json.get("operations").and_then(Json::as_object) {
            for (name, op) in ops {
                operations.push(compile_operation(name, op, &shape_index)?);
            }
        }
        Ok(Model::assemble(metadata, shapes, operations, shape_index))
    }

    fn assemble(
        metadata: Metadata,
        shapes: Vec<Shape>,
        operations: Vec<Operation>,
        shape_index: HashMap<String, ShapeId>,
    ) -> Model {
        let operation_index = operations
            .iter()
            .enumerate()
            .map(|(i, op)| (op.name.clone(), i))
            .collect();
        Model {
            metadata,
            shapes,
            operations,
            shape_index,
            operation_index,
        }
    }

    /// Adds an operation defined outside the model's operation table (the protocol test cases define
    /// theirs inline, sharing the suite's shapes). Replaces an operation of the same name.
    pub fn add_operation(
        &mut self,
        name: &str,
        json: &serde_json::Value,
    ) -> Result<usize, ModelError> {
        let op = compile_operation(name, &Json::from(json), &self.shape_index)?;
        if let Some(&i) = self.operation_index.get(name) {
            self.operations[i] = op;
            return Ok(i);
        }
        self.operations.push(op);
        let i = self.operations.len() - 1;
        self.operation_index.insert(name.to_owned(), i);
        Ok(i)
    }

    /// The shape with this id.
    pub fn shape(&self, id: ShapeId) -> &Shape {
        &self.shapes[id]
    }

    /// The shape named `name`.
    pub fn shape_named(&self, name: &str) -> Option<ShapeId> {
        self.shape_index.get(name).copied()
    }

    /// The error shape named `code`, or whose query error code is `code`.
    pub fn error_shape(&self, code: &str) -> Option<ShapeId> {
        self.shape_named(code)
            .filter(|&id| self.shape(id).structure().is_some_and(|s| s.exception))
            .or_else(|| {
                self.shapes.iter().position(|s| {
                    s.structure()
                        .and_then(|st| st.error.as_ref())
                        .and_then(|e| e.code.as_deref())
                        == Some(code)
                })
            })
    }

    /// The operation named `name`.
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operation_index.get(name).map(|&i| &self.operations[i])
    }
}

fn metadata(json: &Json) -> Result<Metadata, ModelError> {
    let text = |key: &str| json.get(key).and_then(Json::as_str).map(str::to_owned);
    let protocol = match text("protocol").as_deref() {
        Some("query") => WireProtocol::Query,
        Some("ec2") => WireProtocol::Ec2,
        Some("json") => WireProtocol::Json,
        Some("rest-json") => WireProtocol::RestJson,
        Some("rest-xml") => WireProtocol::RestXml,
        other => {
            return Err(ModelError::Shape(format!("unsupported protocol {other:?}")));
        }
    };
    Ok(Metadata {
        protocol,
        json_version: text("jsonVersion").unwrap_or_else(|| "1.0".into()),
        target_prefix: text("targetPrefix").unwrap_or_default(),
        api_version: text("apiVersion").unwrap_or_default(),
        xml_namespace: json.get("xmlNamespace").and_then(|n| {
            n.as_str()
                .map(str::to_owned)
                .or_else(|| n.get("uri").and_then(Json::as_str).map(str::to_owned))
        }),
        query_compatible: json.get("awsQueryCompatible").is_some(),
        service_id: text("serviceId").unwrap_or_default(),
    })
}

fn lookup(
    index: &HashMap<String, ShapeId>,
    json: &Json,
    site: &str,
) -> Result<ShapeId, ModelError> {
    let name = json
        .get("shape")
        .and_then(Json::as_str)
        .ok_or_else(|| ModelError::Shape(format!("{site}: no target shape")))?;
    index
        .get(name)
        .copied()
        .ok_or_else(|| ModelError::Shape(format!("{site}: unknown shape {name}")))
}

fn namespace(json: &Json) -> Option<XmlNamespace> {
    match json.get("xmlNamespace")? {
        Json::String(uri) => Some(XmlNamespace {
            prefix: None,
            uri: uri.clone(),
        }),
        object @ Json::Object(_) => Some(XmlNamespace {
            prefix: object
                .get("prefix")
                .and_then(Json::as_str)
                .map(str::to_owned),
            uri: object.get("uri").and_then(Json::as_str)?.to_owned(),
        }),
        _ => None,
    }
}

fn flag(json: &Json, key: &str) -> bool {
    json.get(key).and_then(Json::as_bool).unwrap_or(false)
}

fn compile_member(
    name: &str,
    json: &Json,
    index: &HashMap<String, ShapeId>,
    required: bool,
) -> Result<Member, ModelError> {
    let location = match json.get("location").and_then(Json::as_str) {
        None => Location::Body,
        Some("header") => Location::Header,
        Some("headers") => Location::Headers,
        Some("uri") => Location::Uri,
        Some("querystring") => Location::Querystring,
        Some("statusCode") => Location::StatusCode,
        Some(other) => {
            return Err(ModelError::Shape(format!(
                "{name}: unknown location {other}"
            )));
        }
    };
    Ok(Member {
        name: name.to_owned(),
        target: lookup(index, json, name)?,
        location,
        wire_name: json
            .get("locationName")
            .and_then(Json::as_str)
            .map(str::to_owned),
        query_name: json
            .get("queryName")
            .and_then(Json::as_str)
            .map(str::to_owned),
        flattened: flag(json, "flattened"),
        xml_attribute: flag(json, "xmlAttribute"),
        xml_namespace: namespace(json),
        timestamp_format: json
            .get("timestampFormat")
            .and_then(Json::as_str)
            .and_then(TimestampFormat::parse),
        json_value: flag(json, "jsonvalue"),
        idempotency_token: flag(json, "idempotencyToken"),
        required,
        host_label: flag(json, "hostLabel"),
        streaming: flag(json, "streaming") || flag(json, "eventpayload"),
    })
}

fn bound(json: &Json, key: &str) -> Option<f64> {
    json.get(key).and_then(Json::as_f64)
}

fn compile_shape(
    name: &str,
    json: &Json,
    index: &HashMap<String, ShapeId>,
) -> Result<Shape, ModelError> {
    let kind_name = json.get("type").and_then(Json::as_str).unwrap_or("");
    let kind = match kind_name {
        "structure" => {
            let required: Vec<&str> = json
                .get("required")
                .and_then(Json::as_array)
                .map(|r| r.iter().filter_map(Json::as_str).collect())
                .unwrap_or_default();
            let mut members = Vec::new();
            if let Some(m) = json.get("members").and_then(Json::as_object) {
                for (member_name, member) in m {
                    members.push(compile_member(
                        member_name,
                        member,
                        index,
                        required.contains(&member_name.as_str()),
                    )?);
                }
            }
            let payload = json
                .get("payload")
                .and_then(Json::as_str)
                .and_then(|p| members.iter().position(|m| m.name == p));
            let error = json.get("error").map(|e| ErrorTrait {
                code: e.get("code").and_then(Json::as_str).map(str::to_owned),
                status: e
                    .get("httpStatusCode")
                    .and_then(Json::as_u64)
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(if flag(json, "fault") { 500 } else { 400 }),
                sender_fault: flag(e, "senderFault") || !flag(json, "fault"),
            });
            Kind::Structure(Structure {
                members,
                payload,
                error,
                exception: flag(json, "exception"),
                union: flag(json, "union"),
                document: flag(json, "document"),
                event_stream: flag(json, "eventstream"),
                xml_name: json
                    .get("locationName")
                    .and_then(Json::as_str)
                    .map(str::to_owned),
                xml_namespace: namespace(json),
            })
        }
        "list" => {
            let member = json
                .get("member")
                .ok_or_else(|| ModelError::Shape(format!("{name}: list without member")))?;
            Kind::List {
                member: Box::new(compile_member("member", member, index, false)?),
                flattened: flag(json, "flattened"),
            }
        }
        "map" => {
            let key = json
                .get("key")
                .ok_or_else(|| ModelError::Shape(format!("{name}: map without key")))?;
            let value = json
                .get("value")
                .ok_or_else(|| ModelError::Shape(format!("{name}: map without value")))?;
            Kind::Map {
                key: Box::new(compile_member("key", key, index, false)?),
                value: Box::new(compile_member("value", value, index, false)?),
                flattened: flag(json, "flattened"),
            }
        }
        "string" => Kind::String {
            enum_values: json.get("enum").and_then(Json::as_array).map(|values| {
                values
                    .iter()
                    .filter_map(Json::as_str)
                    .map(str::to_owned)
                    .collect()
            }),
            pattern: json
                .get("pattern")
                .and_then(Json::as_str)
                .map(str::to_owned),
        },
        "integer" => Kind::Integer,
        "long" => Kind::Long,
        "float" => Kind::Float,
        "double" => Kind::Double,
        "boolean" => Kind::Boolean,
        "timestamp" => Kind::Timestamp,
        "blob" => Kind::Blob,
        other => {
            return Err(ModelError::Shape(format!("{name}: unknown type {other:?}")));
        }
    };
    Ok(Shape {
        name: name.to_owned(),
        kind,
        bounds: Bounds {
            min: bound(json, "min"),
            max: bound(json, "max"),
        },
        timestamp_format: json
            .get("timestampFormat")
            .and_then(Json::as_str)
            .and_then(TimestampFormat::parse),
        streaming: flag(json, "streaming") || flag(json, "eventstream"),
        json_value: flag(json, "jsonvalue"),
        sensitive: flag(json, "sensitive"),
        pattern: OnceLock::new(),
    })
}

/// Splits a request URI into path segments and query literals.
pub(crate) fn parse_request_uri(uri: &str) -> (Vec<Segment>, Vec<(String, String)>) {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(label) => match label.strip_suffix('+') {
                    Some(greedy) => Segment::Greedy(greedy.to_owned()),
                    None => Segment::Label(label.to_owned()),
                },
                None => Segment::Literal(s.to_owned()),
            },
        )
        .collect();
    let literals = query
        .split('&')
        .filter(|q| !q.is_empty())
        .map(|q| {
            let (k, v) = q.split_once('=').unwrap_or((q, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (segments, literals)
}

fn compile_operation(
    name: &str,
    json: &Json,
    index: &HashMap<String, ShapeId>,
) -> Result<Operation, ModelError> {
    let http = json.get("http").unwrap_or(&NULL);
    let method = http
        .get("method")
        .and_then(Json::as_str)
        .unwrap_or("POST")
        .parse::<http::Method>()
        .map_err(|e| ModelError::Shape(format!("{name}: {e}")))?;
    let request_uri = http
        .get("requestUri")
        .and_then(Json::as_str)
        .unwrap_or("/")
        .to_owned();
    let (segments, query_literals) = parse_request_uri(&request_uri);
    let shape_of = |key: &str| -> Result<Option<ShapeId>, ModelError> {
        json.get(key).map(|r| lookup(index, r, name)).transpose()
    };
    let errors = json
        .get("errors")
        .and_then(Json::as_array)
        .map(|list| {
            list.iter()
                .map(|e| lookup(index, e, name))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    Ok(Operation {
        name: name.to_owned(),
        http: HttpBinding {
            method,
            request_uri,
            segments,
            query_literals,
            response_code: http
                .get("responseCode")
                .and_then(Json::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(200),
        },
        input: shape_of("input")?,
        output: shape_of("output")?,
        result_wrapper: json
            .get("output")
            .and_then(|o| o.get("resultWrapper"))
            .and_then(Json::as_str)
            .map(str::to_owned),
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_templates() {
        let (segments, literals) = parse_request_uri("/{Bucket}/{Key+}?x-id=PutObject&acl");
        assert_eq!(
            segments,
            vec![
                Segment::Label("Bucket".into()),
                Segment::Greedy("Key".into())
            ]
        );
        assert_eq!(
            literals,
            vec![
                ("x-id".to_owned(), "PutObject".to_owned()),
                ("acl".to_owned(), String::new())
            ]
        );
    }
}

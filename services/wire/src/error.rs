//! Errors of the wire layer: requests it cannot read ([`WireError`]), and errors services return in the
//! model's terms ([`ApiError`]), both turned into an [`AwsError`] here, in one place, with the body
//! rendered from the error shape the model declares (its members, its HTTP status, its query code).

use std::borrow::Cow;

use http::{HeaderMap, StatusCode};
use skyport_core::AwsError;

use crate::codec::Codec;
use crate::model::{Kind, Model};
use crate::value::{Struct, Value};
use crate::{json, rest, xml};

/// A request the wire layer could not turn into an operation and its input.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WireError {
    /// The body or a parameter is malformed or of the wrong type.
    #[error("{0}")]
    Serialization(String),
    /// Constraint violations, in AWS's wording.
    #[error("{}", crate::validate::message(.0))]
    Validation(Vec<String>),
    /// No operation of the service matches the request.
    #[error("unknown operation {0}")]
    UnknownOperation(String),
    /// The query protocol's `Action` is missing.
    #[error("missing action")]
    MissingAction,
    /// The model knows the operation; Skyport does not implement it yet.
    #[error("operation {0} is not implemented")]
    NotImplemented(String),
    /// IAM denied the request (`ENFORCE_IAM=1`): the service's `AccessDenied`, ready to render.
    #[error("{0}")]
    Denied(Box<AwsError>),
}

/// An error a service returns: one of the model's error shapes by name (`ResourceNotFoundException`),
/// a message, and any other members the shape has.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The error shape's name, which is also the error code.
    pub code: Cow<'static, str>,
    /// The message.
    pub message: String,
    /// Other members of the error shape (`Type`, `CancellationReasons`, ...).
    pub fields: Struct,
    /// The status, for errors the model does not declare (`ValidationException`, throttling, ...).
    pub status: Option<StatusCode>,
}

impl ApiError {
    /// An error of the model's shape `code`.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> ApiError {
        ApiError {
            code: code.into(),
            message: message.into(),
            fields: Struct::new(),
            status: None,
        }
    }

    /// An error the model does not declare, with its status.
    pub fn with_status(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status: Some(status),
            ..ApiError::new(code, message)
        }
    }

    /// Sets another member of the error shape.
    pub fn field(mut self, name: &str, value: impl crate::typed::IntoValue) -> ApiError {
        self.fields.insert(name, value.into_value());
        self
    }

    /// The `NotImplemented` answer for an operation the model has and the service lacks.
    pub fn not_implemented(operation: &str) -> ApiError {
        ApiError::with_status(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("The operation {operation} is not implemented by Skyport yet."),
        )
    }

    /// A `ValidationException` with AWS's message for these violations.
    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::with_status(StatusCode::BAD_REQUEST, "ValidationException", message)
    }

    /// A 500 with a message naming what failed.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::with_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            message,
        )
    }
}

impl From<AwsError> for ApiError {
    fn from(e: AwsError) -> ApiError {
        ApiError::with_status(e.status, e.code, e.message)
    }
}

/// Renders a wire error as the protocol's error.
pub fn wire_error(codec: Codec, model: &Model, error: WireError) -> AwsError {
    let json = codec.is_json();
    match error {
        WireError::Serialization(message) => match codec {
            Codec::Query => AwsError::bad_request("MalformedInput", message),
            Codec::RestXml => AwsError::bad_request("MalformedXML", message),
            _ => AwsError::bad_request("SerializationException", message),
        },
        WireError::Validation(errors) => {
            let message = crate::validate::message(&errors);
            if json {
                AwsError::bad_request("ValidationException", message)
            } else {
                AwsError::validation(message)
            }
        }
        WireError::UnknownOperation(what) => match codec {
            Codec::Query => AwsError::bad_request(
                "InvalidAction",
                format!(
                    "Could not find operation {what} for version {}",
                    model.metadata.api_version
                ),
            ),
            Codec::RestJson | Codec::RestXml => AwsError::new(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                format!(
                    "No operation of {} matches {what}",
                    model.metadata.service_id
                ),
            ),
            _ => AwsError::bad_request("UnknownOperationException", String::new()),
        },
        WireError::MissingAction => AwsError::bad_request("MissingAction", "Missing Action"),
        WireError::NotImplemented(op) => render(codec, model, ApiError::not_implemented(&op)),
        WireError::Denied(e) => *e,
    }
}

/// Renders a service's error with the body its error shape describes.
pub fn render(codec: Codec, model: &Model, error: ApiError) -> AwsError {
    let shape_id = model.error_shape(&error.code);
    let structure = shape_id.and_then(|id| model.shape(id).structure());
    let trait_ = structure.and_then(|s| s.error.as_ref());
    let status = error
        .status
        .or_else(|| trait_.and_then(|t| StatusCode::from_u16(t.status).ok()))
        .unwrap_or(StatusCode::BAD_REQUEST);
    // The code on the wire: the shape's name, except in the query protocol, which uses the error
    // trait's code (`InvalidIdentityToken` for `InvalidIdentityTokenException`).
    let query_code = trait_.and_then(|t| t.code.clone());
    let code: std::borrow::Cow<'static, str> = match (&query_code, shape_id) {
        (Some(q), _) if codec == Codec::Query => q.clone().into(),
        (_, Some(id)) => model.shape(id).name.clone().into(),
        _ => error.code.clone(),
    };
    let mut aws = AwsError::new(status, code, error.message.clone());
    if let Some(code) = query_code
        && model.metadata.query_compatible
        && codec != Codec::Query
    {
        aws = aws.with_query_code(code);
    }
    let (Some(shape_id), Some(structure)) = (shape_id, structure) else {
        return aws;
    };
    // The message goes to whichever member the shape has for it (`message` or `Message`).
    let mut fields = error.fields;
    let message_member = structure
        .members
        .iter()
        .find(|m| m.name.eq_ignore_ascii_case("message"))
        .map(|m| m.name.clone());
    if let Some(name) = &message_member
        && !fields.contains(name)
    {
        fields.insert(name.clone(), Value::String(error.message.clone()));
    }
    let mut headers = HeaderMap::new();
    if matches!(codec, Codec::RestJson | Codec::RestXml) {
        rest::write_bound_members(model, shape_id, &fields, &mut headers);
    }
    for (name, value) in headers {
        if let Some(name) = name {
            aws = aws.with_header(name, value);
        }
    }
    match codec {
        Codec::Json { .. } | Codec::RestJson => {
            let mut body = match json::write(model, shape_id, &Value::Struct(fields), None) {
                serde_json::Value::Object(o) => o,
                _ => serde_json::Map::new(),
            };
            if message_member.is_none() {
                body.insert("message".into(), error.message.clone().into());
            }
            aws.with_json_members(body)
        }
        Codec::Query | Codec::RestXml => {
            let extras = fields;
            let mut w = xml::Writer::new();
            let Kind::Structure(st) = &model.shape(shape_id).kind else {
                return aws;
            };
            for member in &st.members {
                if message_member.as_deref() == Some(member.name.as_str()) || !xml::in_body(member)
                {
                    continue;
                }
                if let Some(v) = extras.get(&member.name) {
                    xml::write_member(model, member, v, &mut w);
                }
            }
            let inner = w.finish();
            if inner.is_empty() {
                aws
            } else {
                aws.with_xml_fields(inner)
            }
        }
    }
}

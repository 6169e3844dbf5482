//! One request through the model: resolve the operation, read and validate its input, call the
//! service's [`Handler`], write its output or error. A service built on the wire layer implements
//! `Handler` (through the trait generated for it) and forwards `Service::call` to [`Endpoint::serve`].

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Request, Response, StatusCode};
use skyport_core::{AwsError, Body, RequestContext, body};

use crate::codec::Codec;
use crate::error::{self, ApiError, WireError};
use crate::model::{Model, Operation};
use crate::value::{Struct, Value};
use crate::{json, query, rest, validate};

/// What a service built on the wire layer provides.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// The operations the service implements; every other operation of the model answers
    /// `NotImplemented` (501) without reaching the service.
    fn implemented(&self) -> &'static [&'static str];

    /// Runs one operation on its validated input; returns its output structure.
    async fn handle(
        &self,
        ctx: &mut RequestContext,
        operation: &'static Operation,
        input: Value,
    ) -> Result<Value, ApiError>;
}

/// The model-driven front of one service.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    model: &'static Model,
    body_limit: usize,
}

impl Endpoint {
    /// The endpoint of `model`, reading request bodies up to 16 MiB.
    pub fn new(model: &'static Model) -> Endpoint {
        Endpoint {
            model,
            body_limit: 16 << 20,
        }
    }

    /// Sets the largest request body read (larger ones answer 413).
    pub fn body_limit(mut self, limit: usize) -> Endpoint {
        self.body_limit = limit;
        self
    }

    /// The model.
    pub fn model(&self) -> &'static Model {
        self.model
    }

    /// Serves one request.
    pub async fn serve<H: Handler + ?Sized>(
        &self,
        handler: &H,
        ctx: &mut RequestContext,
        request: Request<Body>,
    ) -> Result<Response<Body>, AwsError> {
        let model = self.model;
        let codec = Codec::for_request(model, ctx.protocol);
        let (parts, request_body) = request.into_parts();
        let bytes = body::collect_limited(request_body, self.body_limit).await?;
        let (op, input) = match self.read(codec, ctx, &parts, bytes, Some(handler.implemented())) {
            Ok(read) => read,
            Err(e) => return Err(error::wire_error(codec, model, e)),
        };
        let output = handler
            .handle(ctx, op, input)
            .await
            .map_err(|e| error::render(codec, model, e))?;
        Ok(self.write(codec, ctx, op, &output))
    }

    /// Resolves the operation and reads its input; validates it. With `implemented`, an operation not
    /// in it is `NotImplemented` before its input is read.
    pub fn read(
        &self,
        codec: Codec,
        ctx: &mut RequestContext,
        parts: &http::request::Parts,
        bytes: Bytes,
        implemented: Option<&[&str]>,
    ) -> Result<(&'static Operation, Value), WireError> {
        let model = self.model;
        let check_implemented = |op: &Operation| match implemented {
            Some(list) if !list.contains(&op.name.as_str()) => {
                Err(WireError::NotImplemented(op.name.clone()))
            }
            _ => Ok(()),
        };
        let (op, input) = match codec {
            Codec::Query => {
                let form = rest::query_pairs(parts.uri.query());
                let body_pairs: Vec<(String, String)> =
                    form_urlencoded::parse(&bytes).into_owned().collect();
                let node = query::Node::from_pairs(
                    form.iter()
                        .chain(body_pairs.iter())
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                );
                let action = node
                    .child("Action")
                    .and_then(query::Node::value)
                    .ok_or(WireError::MissingAction)?;
                let op = model
                    .operation(action)
                    .ok_or_else(|| WireError::UnknownOperation(action.to_owned()))?;
                ctx.set_operation(op.name.as_str());
                check_implemented(op)?;
                let input = match op.input {
                    Some(shape) => query::read_input(model, shape, &node)?,
                    None => Value::Struct(Struct::new()),
                };
                (op, input)
            }
            Codec::Json { .. } => {
                let target = parts
                    .headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let name = target
                    .strip_prefix(model.metadata.target_prefix.as_str())
                    .and_then(|rest| rest.strip_prefix('.'))
                    .ok_or_else(|| WireError::UnknownOperation(target.to_owned()))?;
                let op = model
                    .operation(name)
                    .ok_or_else(|| WireError::UnknownOperation(target.to_owned()))?;
                ctx.set_operation(op.name.as_str());
                check_implemented(op)?;
                let input = match op.input {
                    Some(shape) if !bytes.is_empty() => {
                        let parsed: serde_json::Value =
                            serde_json::from_slice(&bytes).map_err(|e| {
                                WireError::Serialization(format!(
                                    "Could not parse the request body as JSON: {e}"
                                ))
                            })?;
                        json::read(model, shape, &parsed, None)?
                    }
                    _ => Value::Struct(Struct::new()),
                };
                (op, input)
            }
            Codec::RestJson | Codec::RestXml => {
                let query = rest::query_pairs(parts.uri.query());
                let path = parts.uri.path();
                let op = rest::resolve(model, &parts.method, path, &query).ok_or_else(|| {
                    WireError::UnknownOperation(format!("{} {path}", parts.method))
                })?;
                ctx.set_operation(op.name.as_str());
                check_implemented(op)?;
                let request = rest::RestRequest {
                    path,
                    query: &query,
                    headers: &parts.headers,
                    body: bytes,
                };
                let input = rest::read_input(model, op, &request, codec == Codec::RestJson)?;
                (op, input)
            }
        };
        if let Some(shape) = op.input {
            let errors = validate::validate(model, shape, &input);
            if !errors.is_empty() {
                return Err(WireError::Validation(errors));
            }
        }
        // ENFORCE_IAM=1: a verified principal's request is authorized on its parsed input.
        if skyport_authref::applies(ctx) {
            skyport_authref::check(ctx, &op.name, &input.to_plain_json())
                .map_err(|e| WireError::Denied(Box::new(e)))?;
        }
        Ok((op, input))
    }

    /// Writes a successful output.
    pub fn write(
        &self,
        codec: Codec,
        ctx: &RequestContext,
        op: &Operation,
        output: &Value,
    ) -> Response<Body> {
        let model = self.model;
        match codec {
            Codec::Query => {
                let xml = query::write_output(model, op, output, &ctx.request_id);
                bytes_response(
                    StatusCode::OK,
                    HeaderValue::from_static("text/xml"),
                    Bytes::from(xml),
                )
            }
            Codec::Json { v11 } => {
                let body = match op.output {
                    Some(shape) => json::write(model, shape, output, None).to_string(),
                    None => "{}".to_owned(),
                };
                let ct = if v11 {
                    "application/x-amz-json-1.1"
                } else {
                    "application/x-amz-json-1.0"
                };
                bytes_response(
                    StatusCode::OK,
                    HeaderValue::from_static(ct),
                    Bytes::from(body),
                )
            }
            Codec::RestJson | Codec::RestXml => {
                let written = rest::write_output(model, op, output, codec == Codec::RestJson);
                let len = written.body.len();
                let mut response = Response::new(body::full(written.body));
                *response.status_mut() = written.status;
                *response.headers_mut() = written.headers;
                response
                    .headers_mut()
                    .insert(CONTENT_LENGTH, HeaderValue::from(len));
                response
            }
        }
    }
}

/// The names of every operation of `model`, in model order.
pub fn operation_names(model: &'static Model) -> Vec<&'static str> {
    model.operations.iter().map(|op| op.name.as_str()).collect()
}

fn bytes_response(status: StatusCode, content_type: HeaderValue, bytes: Bytes) -> Response<Body> {
    let len = bytes.len();
    let mut response = Response::new(body::full(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    response
}

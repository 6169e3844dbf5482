//! The REST protocols' HTTP bindings (shared by REST-JSON and REST-XML): resolving an operation from
//! method + URI template, reading input members from URI labels, query strings, headers and the body,
//! and writing output members to the status code, headers and body.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use percent_encoding::percent_decode_str;

use crate::WireError;
use crate::model::{Kind, Location, Member, Model, Operation, Segment, ShapeId, TimestampFormat};
use crate::scalar;
use crate::value::{Struct, Value};
use crate::{json, xml};

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// The query string's pairs, percent-decoded (`+` stays a plus, as in RFC 3986 queries).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Matches `path` (as sent, percent-encoded) against the operation's URI template; the decoded label
/// values on success.
pub fn match_path(op: &Operation, path: &str) -> Option<Vec<(String, String)>> {
    let mut rest = path.trim_start_matches('/');
    let mut labels = Vec::new();
    let segments = &op.http.segments;
    for (i, segment) in segments.iter().enumerate() {
        if let Segment::Greedy(name) = segment {
            // The rest of the path, slashes included; must not be empty.
            if rest.is_empty() || i + 1 != segments.len() {
                return None;
            }
            labels.push((name.clone(), decode(rest)));
            return Some(labels);
        }
        let (piece, tail) = rest.split_once('/').unwrap_or((rest, ""));
        match segment {
            Segment::Literal(text) => {
                if piece != text && decode(piece) != *text {
                    return None;
                }
            }
            Segment::Label(name) => {
                if piece.is_empty() {
                    return None;
                }
                labels.push((name.clone(), decode(piece)));
            }
            Segment::Greedy(_) => unreachable!("handled above"),
        }
        rest = tail;
    }
    rest.trim_matches('/').is_empty().then_some(labels)
}

/// How specific a matching template is: literal segments first, then query literals; labels last.
fn specificity(op: &Operation) -> (usize, usize, usize) {
    let literals = op
        .http
        .segments
        .iter()
        .filter(|s| matches!(s, Segment::Literal(_)))
        .count();
    let labels = op
        .http
        .segments
        .iter()
        .filter(|s| matches!(s, Segment::Label(_)))
        .count();
    (literals, op.http.query_literals.len(), labels)
}

/// The operation of a REST request: method, path template and query literals; the most specific
/// template wins (`GET /{Bucket}?acl` over `GET /{Bucket}`).
pub fn resolve<'m>(
    model: &'m Model,
    method: &Method,
    path: &str,
    query: &[(String, String)],
) -> Option<&'m Operation> {
    let method = if method == Method::HEAD
        && !model
            .operations
            .iter()
            .any(|o| o.http.method == Method::HEAD)
    {
        &Method::GET
    } else {
        method
    };
    model
        .operations
        .iter()
        .filter(|op| op.http.method == *method)
        .filter(|op| {
            op.http.query_literals.iter().all(|(k, v)| {
                query
                    .iter()
                    .any(|(qk, qv)| qk == k && (v.is_empty() || qv == v))
            })
        })
        .filter(|op| match_path(op, path).is_some())
        .max_by_key(|op| specificity(op))
}

/// A REST request as the codec needs it.
#[derive(Debug)]
pub struct RestRequest<'a> {
    /// The path as sent.
    pub path: &'a str,
    /// The decoded query pairs.
    pub query: &'a [(String, String)],
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body.
    pub body: Bytes,
}

fn split_header_list(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    current.push(n);
                }
            }
            ',' if !quoted => {
                items.push(current.trim().to_owned());
                current.clear();
            }
            c => current.push(c),
        }
    }
    if !current.trim().is_empty() || !items.is_empty() {
        items.push(current.trim().to_owned());
    }
    items
}

fn header_value(model: &Model, member: &Member, text: &str) -> Result<Value, WireError> {
    let shape = model.shape(member.target);
    if member.json_value || shape.json_value {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| {
            WireError::Serialization(format!("Header '{}' is not base64", member.wire()))
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            WireError::Serialization(format!("Header '{}' is not UTF-8", member.wire()))
        })?;
        return Ok(Value::String(text));
    }
    match &shape.kind {
        Kind::List { member: item, .. } => {
            let mut pieces = split_header_list(text);
            let item_shape = model.shape(item.target);
            if matches!(item_shape.kind, Kind::Timestamp)
                && scalar::timestamp_format(item, item_shape, TimestampFormat::Rfc822)
                    == TimestampFormat::Rfc822
            {
                // `Mon, 16 Dec 2019 23:48:18 GMT` holds a comma: rejoin pairs.
                pieces = pieces.chunks(2).map(|pair| pair.join(", ")).collect();
            }
            Ok(Value::List(
                pieces
                    .iter()
                    .map(|p| scalar::from_text(model, item, p, TimestampFormat::Rfc822))
                    .collect::<Result<_, _>>()?,
            ))
        }
        _ => scalar::from_text(model, member, text, TimestampFormat::Rfc822),
    }
}

/// Reads the input of `op` from a REST request; `json` selects the body format.
pub fn read_input(
    model: &Model,
    op: &Operation,
    request: &RestRequest<'_>,
    json_body: bool,
) -> Result<Value, WireError> {
    let Some(shape_id) = op.input else {
        return Ok(Value::Struct(Struct::new()));
    };
    let Kind::Structure(st) = &model.shape(shape_id).kind else {
        return Ok(Value::Struct(Struct::new()));
    };
    let labels = match_path(op, request.path).unwrap_or_default();
    let mut fields = Struct::new();
    let mut body_members = false;
    for (i, member) in st.members.iter().enumerate() {
        let value = match member.location {
            Location::Uri => labels
                .iter()
                .find(|(k, _)| k == member.wire())
                .map(|(_, v)| scalar::from_text(model, member, v, TimestampFormat::Iso8601))
                .transpose()?,
            Location::Querystring => query_member(model, member, request.query)?,
            Location::Header => request
                .headers
                .get_all(member.wire())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .reduce(|a, _| a)
                .map(|_| {
                    let joined = request
                        .headers
                        .get_all(member.wire())
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .collect::<Vec<_>>()
                        .join(", ");
                    header_value(model, member, &joined)
                })
                .transpose()?,
            Location::Headers => {
                let prefix = member.wire().to_ascii_lowercase();
                let Kind::Map { value, .. } = &model.shape(member.target).kind else {
                    continue;
                };
                let entries: Vec<(String, Value)> = request
                    .headers
                    .iter()
                    .filter(|(name, _)| name.as_str().starts_with(&prefix))
                    .filter_map(|(name, v)| {
                        let text = v.to_str().ok()?;
                        Some((name.as_str()[prefix.len()..].to_owned(), text))
                    })
                    .map(|(k, text)| Ok((k, header_value(model, value, text)?)))
                    .collect::<Result<_, WireError>>()?;
                (!entries.is_empty()).then_some(Value::Map(entries))
            }
            Location::StatusCode => None,
            Location::Body => {
                if st.payload == Some(i) {
                    payload_member(model, member, &request.body, json_body)?
                } else {
                    body_members = true;
                    None
                }
            }
        };
        if let Some(value) = value {
            fields.insert(member.name.clone(), value);
        }
    }
    if body_members && st.payload.is_none() && !request.body.is_empty() {
        let body = if json_body {
            let parsed: serde_json::Value = serde_json::from_slice(&request.body).map_err(|e| {
                WireError::Serialization(format!("Could not parse the request body as JSON: {e}"))
            })?;
            json::read(model, shape_id, &parsed, None)?
        } else {
            xml::read_struct(model, shape_id, &xml::parse(&request.body)?)?
        };
        if let Value::Struct(body_fields) = body {
            for (k, v) in body_fields.iter() {
                fields.insert(k, v.clone());
            }
        }
    }
    Ok(Value::Struct(fields))
}

/// A query-bound member; a map takes every parameter (those bound to other members too, as Smithy's
/// `httpQueryParams` does on the server side).
fn query_member(
    model: &Model,
    member: &Member,
    query: &[(String, String)],
) -> Result<Option<Value>, WireError> {
    match &model.shape(member.target).kind {
        Kind::Map { value, .. } => {
            let multi = matches!(model.shape(value.target).kind, Kind::List { .. });
            let mut entries: Vec<(String, Value)> = Vec::new();
            for (k, v) in query {
                if multi {
                    let Kind::List { member: item, .. } = &model.shape(value.target).kind else {
                        continue;
                    };
                    let parsed = scalar::from_text(model, item, v, TimestampFormat::Iso8601)?;
                    match entries.iter_mut().find(|(ek, _)| ek == k) {
                        Some((_, Value::List(items))) => items.push(parsed),
                        _ => entries.push((k.clone(), Value::List(vec![parsed]))),
                    }
                } else if !entries.iter().any(|(ek, _)| ek == k) {
                    entries.push((
                        k.clone(),
                        scalar::from_text(model, value, v, TimestampFormat::Iso8601)?,
                    ));
                }
            }
            Ok((!entries.is_empty()).then_some(Value::Map(entries)))
        }
        Kind::List { member: item, .. } => {
            let items: Vec<Value> = query
                .iter()
                .filter(|(k, _)| k == member.wire())
                .map(|(_, v)| scalar::from_text(model, item, v, TimestampFormat::Iso8601))
                .collect::<Result<_, _>>()?;
            Ok((!items.is_empty()).then_some(Value::List(items)))
        }
        _ => query
            .iter()
            .find(|(k, _)| k == member.wire())
            .map(|(_, v)| scalar::from_text(model, member, v, TimestampFormat::Iso8601))
            .transpose(),
    }
}

fn payload_member(
    model: &Model,
    member: &Member,
    body: &Bytes,
    json_body: bool,
) -> Result<Option<Value>, WireError> {
    let shape = model.shape(member.target);
    Ok(match &shape.kind {
        Kind::Blob => (!body.is_empty()).then(|| Value::Blob(body.clone())),
        Kind::String { .. } => {
            (!body.is_empty()).then(|| Value::String(String::from_utf8_lossy(body).into_owned()))
        }
        Kind::Structure(st) if st.document => {
            if body.is_empty() {
                None
            } else {
                Some(Value::Document(serde_json::from_slice(body).map_err(
                    |e| {
                        WireError::Serialization(format!(
                            "Could not parse the request body as JSON: {e}"
                        ))
                    },
                )?))
            }
        }
        _ if body.is_empty() => None,
        _ if json_body => {
            let parsed: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
                WireError::Serialization(format!("Could not parse the request body as JSON: {e}"))
            })?;
            Some(json::read(model, member.target, &parsed, None)?)
        }
        _ => Some(xml::read(
            model,
            member.target,
            Some(member),
            &xml::parse(body)?,
        )?),
    })
}

/// A serialised REST response.
#[derive(Debug)]
pub struct RestResponse {
    /// The status.
    pub status: StatusCode,
    /// Headers bound from output members, plus the content type.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

fn header_text(model: &Model, member: &Member, value: &Value) -> Option<String> {
    let shape = model.shape(member.target);
    if member.json_value || shape.json_value {
        let text = match value {
            Value::String(s) => s.clone(),
            other => json::plain(other).to_string(),
        };
        return Some(STANDARD.encode(text));
    }
    match value {
        Value::List(items) => {
            let Kind::List { member: item, .. } = &shape.kind else {
                return None;
            };
            let texts: Vec<String> = items
                .iter()
                .filter_map(|v| scalar::to_text(model, item, v, TimestampFormat::Rfc822))
                .map(|t| {
                    if matches!(model.shape(item.target).kind, Kind::String { .. })
                        && (t.contains(',') || t.contains('"'))
                    {
                        format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\""))
                    } else {
                        t
                    }
                })
                .collect();
            Some(texts.join(", "))
        }
        _ => scalar::to_text(model, member, value, TimestampFormat::Rfc822),
    }
}

fn insert_header(headers: &mut HeaderMap, name: &str, text: &str) {
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(text),
    ) {
        headers.insert(name, value);
    }
}

/// Writes the header- and status-bound members of `fields` (structure `shape_id`); returns the status
/// a `statusCode` member sets.
pub fn write_bound_members(
    model: &Model,
    shape_id: ShapeId,
    fields: &Struct,
    headers: &mut HeaderMap,
) -> Option<StatusCode> {
    let Kind::Structure(st) = &model.shape(shape_id).kind else {
        return None;
    };
    let mut status = None;
    for member in &st.members {
        let Some(value) = fields.get(&member.name) else {
            continue;
        };
        match member.location {
            Location::Header => {
                if let Some(text) = header_text(model, member, value) {
                    insert_header(headers, member.wire(), &text);
                }
            }
            Location::Headers => {
                let (Value::Map(entries), Kind::Map { value: v, .. }) =
                    (value, &model.shape(member.target).kind)
                else {
                    continue;
                };
                for (k, item) in entries {
                    if let Some(text) = header_text(model, v, item) {
                        insert_header(headers, &format!("{}{k}", member.wire()), &text);
                    }
                }
            }
            Location::StatusCode => {
                if let Value::Integer(code) = value {
                    status = u16::try_from(*code)
                        .ok()
                        .and_then(|c| StatusCode::from_u16(c).ok());
                }
            }
            _ => {}
        }
    }
    status
}

/// Serialises the output of `op`.
pub fn write_output(
    model: &Model,
    op: &Operation,
    output: &Value,
    json_body: bool,
) -> RestResponse {
    let mut headers = HeaderMap::new();
    let mut status = StatusCode::from_u16(op.http.response_code).unwrap_or(StatusCode::OK);
    let empty = Struct::new();
    let fields = match output {
        Value::Struct(f) => f,
        _ => &empty,
    };
    let Some(shape_id) = op.output else {
        return RestResponse {
            status,
            headers,
            body: Bytes::new(),
        };
    };
    if let Some(s) = write_bound_members(model, shape_id, fields, &mut headers) {
        status = s;
    }
    let body = write_body(model, shape_id, fields, json_body, &mut headers);
    RestResponse {
        status,
        headers,
        body,
    }
}

/// Writes the body members (or the payload member) of a structure, setting the content type.
pub fn write_body(
    model: &Model,
    shape_id: ShapeId,
    fields: &Struct,
    json_body: bool,
    headers: &mut HeaderMap,
) -> Bytes {
    let Kind::Structure(st) = &model.shape(shape_id).kind else {
        return Bytes::new();
    };
    let content_type = |headers: &mut HeaderMap, ct: &'static str| {
        headers
            .entry(http::header::CONTENT_TYPE)
            .or_insert(HeaderValue::from_static(ct));
    };
    if let Some(i) = st.payload {
        let member = &st.members[i];
        let Some(value) = fields.get(&member.name) else {
            return Bytes::new();
        };
        let shape = model.shape(member.target);
        return match (&shape.kind, value) {
            (Kind::Blob, Value::Blob(b)) => {
                content_type(headers, "application/octet-stream");
                b.clone()
            }
            (Kind::String { .. }, Value::String(s)) => {
                content_type(headers, "text/plain");
                Bytes::from(s.clone())
            }
            _ if json_body => {
                content_type(headers, "application/json");
                Bytes::from(json::write(model, member.target, value, None).to_string())
            }
            _ => {
                content_type(headers, "application/xml");
                let root = member
                    .wire_name
                    .clone()
                    .or_else(|| shape.structure().and_then(|s| s.xml_name.clone()))
                    .unwrap_or_else(|| shape.name.clone());
                let ns = member
                    .xml_namespace
                    .as_ref()
                    .or(shape.structure().and_then(|s| s.xml_namespace.as_ref()));
                let mut w = xml::Writer::new();
                xml::write_root(model, member.target, &root, ns, value, &mut w);
                Bytes::from(w.finish())
            }
        };
    }
    let has_body_members = st.members.iter().any(xml::in_body);
    if !has_body_members {
        return Bytes::new();
    }
    if json_body {
        content_type(headers, "application/json");
        Bytes::from(json::write(model, shape_id, &Value::Struct(fields.clone()), None).to_string())
    } else {
        let any_set = st
            .members
            .iter()
            .any(|m| xml::in_body(m) && fields.contains(&m.name));
        if !any_set {
            return Bytes::new();
        }
        content_type(headers, "application/xml");
        let shape = model.shape(shape_id);
        let root = st.xml_name.clone().unwrap_or_else(|| shape.name.clone());
        let mut w = xml::Writer::new();
        xml::write_root(
            model,
            shape_id,
            &root,
            st.xml_namespace.as_ref(),
            &Value::Struct(fields.clone()),
            &mut w,
        );
        Bytes::from(w.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lists() {
        assert_eq!(split_header_list("a, b,c"), vec!["a", "b", "c"]);
        assert_eq!(
            split_header_list("\"a,b\", \"c\\\"d\""),
            vec!["a,b", "c\"d"]
        );
        assert!(split_header_list("").is_empty());
    }
}

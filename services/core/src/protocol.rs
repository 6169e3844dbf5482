//! The AWS wire protocols and the small codecs services share: form/query parameter decoding (with the
//! `member.N` list and map conventions of the query protocol) and JSON response helpers.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::body::{self, Body};

/// An AWS wire protocol, as named in the service models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `awsQuery`: form-encoded `Action=` requests, XML responses (STS, SQS query, IAM, SNS).
    Query,
    /// `ec2`: like query, with a slightly different error shape.
    Ec2,
    /// `awsJson1_0`: `X-Amz-Target` + JSON (DynamoDB, SQS JSON).
    Json10,
    /// `awsJson1_1`: `X-Amz-Target` + JSON (Logs, ECR, KMS).
    Json11,
    /// `restJson1`: REST paths + JSON (Lambda).
    RestJson,
    /// `restXml`: REST paths + XML (S3).
    RestXml,
}

impl Protocol {
    /// The name used in logs and diagnostics.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Query => "query",
            Protocol::Ec2 => "ec2",
            Protocol::Json10 => "json1.0",
            Protocol::Json11 => "json1.1",
            Protocol::RestJson => "rest-json",
            Protocol::RestXml => "rest-xml",
        }
    }

    /// True for the two awsJson protocols.
    pub fn is_aws_json(self) -> bool {
        matches!(self, Protocol::Json10 | Protocol::Json11)
    }

    /// The `Content-Type` of a response body in this protocol.
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::Query | Protocol::Ec2 => "text/xml",
            Protocol::Json10 => "application/x-amz-json-1.0",
            Protocol::Json11 => "application/x-amz-json-1.1",
            Protocol::RestJson => "application/json",
            Protocol::RestXml => "application/xml",
        }
    }
}

/// Decoded form or query-string parameters, in order, keeping repeated names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes `application/x-www-form-urlencoded` bytes (also a URL query string).
    pub fn parse(input: &[u8]) -> Params {
        let mut pairs = Vec::new();
        decode_into(&mut pairs, input);
        Params { pairs }
    }

    /// Parameters from a query string and a form body together (the query protocol accepts both).
    pub fn from_query_and_form(query: Option<&str>, form: &[u8]) -> Params {
        let query = query.unwrap_or("").as_bytes();
        let mut pairs = Vec::with_capacity(pair_count(query) + pair_count(form));
        decode_into(&mut pairs, query);
        decode_into(&mut pairs, form);
        Params { pairs }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// True when `name` is present (even with an empty value).
    pub fn contains(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// All pairs, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// A query-protocol list of scalars: `prefix.member.1`, `prefix.member.2`, ... (also the flattened
    /// `prefix.1` form), ordered by index.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        let mut items: BTreeMap<u32, String> = BTreeMap::new();
        for (k, v) in &self.pairs {
            if let Some(index) = list_index(k, prefix) {
                items.insert(index, v.clone());
            }
        }
        items.into_values().collect()
    }

    /// A query-protocol list of structures: `prefix.member.N.Field=value`, grouped by `N` in order, each
    /// as a map from field name to value.
    pub fn struct_list(&self, prefix: &str) -> Vec<BTreeMap<String, String>> {
        let mut items: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        for (k, v) in &self.pairs {
            let Some(rest) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
                continue;
            };
            let rest = rest.strip_prefix("member.").unwrap_or(rest);
            let Some((index, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(index) = index.parse::<u32>() else {
                continue;
            };
            items
                .entry(index)
                .or_default()
                .insert(field.to_owned(), v.clone());
        }
        items.into_values().collect()
    }
}

/// An upper bound of the pairs in `input` (its `&`-separated pieces).
fn pair_count(input: &[u8]) -> usize {
    if input.is_empty() {
        0
    } else {
        input.iter().filter(|&&b| b == b'&').count() + 1
    }
}

/// Appends the pairs of `input` as `form_urlencoded::parse` decodes them. A piece without `+`, `%` or
/// invalid UTF-8 (nearly all of them) needs no decoding and is copied as it is.
fn decode_into(pairs: &mut Vec<(String, String)>, input: &[u8]) {
    for piece in input.split(|&b| b == b'&') {
        if piece.is_empty() {
            continue;
        }
        let plain = !piece.iter().any(|&b| b == b'+' || b == b'%');
        match std::str::from_utf8(piece) {
            Ok(text) if plain => {
                let (name, value) = text.split_once('=').unwrap_or((text, ""));
                pairs.push((name.to_owned(), value.to_owned()));
            }
            _ => pairs.extend(form_urlencoded::parse(piece).into_owned()),
        }
    }
}

fn list_index(key: &str, prefix: &str) -> Option<u32> {
    let rest = key.strip_prefix(prefix)?.strip_prefix('.')?;
    let rest = rest.strip_prefix("member.").unwrap_or(rest);
    rest.parse().ok()
}

/// A JSON response in an awsJson or REST-JSON protocol.
pub fn json_response(
    protocol: Protocol,
    status: StatusCode,
    value: &serde_json::Value,
) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    bytes_response(status, protocol.content_type(), Bytes::from(bytes))
}

/// An XML response (`text/xml` for the query protocol, `application/xml` for REST-XML).
pub fn xml_response(protocol: Protocol, status: StatusCode, xml: String) -> Response<Body> {
    bytes_response(status, protocol.content_type(), Bytes::from(xml))
}

/// A response with a body and content type.
pub fn bytes_response(
    status: StatusCode,
    content_type: &'static str,
    bytes: Bytes,
) -> Response<Body> {
    let len = bytes.len();
    let mut response = Response::new(body::full(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_as_form_urlencoded_does() {
        let inputs: [&[u8]; 12] = [
            b"Action=GetCallerIdentity&Version=2011-06-15",
            b"",
            b"&&a=1&&b&=c&d==e=",
            b"a+b=c+d&x=%41%42%zz&y=%",
            b"name=caf\xc3\xa9&bad=\xff\xfe&mixed=\xff+",
            b"Policy=%7B%22a%22%3A1%7D&Tag.member.1.Key=k",
            b"=&=v&k=",
            b"a=1&a=2&a=3",
            b"%F0%9F%98%80=smile",
            b"trailing&",
            b"sp ace=t\tab",
            b"x=%2B+%20",
        ];
        for input in inputs {
            let expected: Vec<(String, String)> =
                form_urlencoded::parse(input).into_owned().collect();
            assert_eq!(Params::parse(input).pairs, expected, "{input:?}");
        }
        let both = Params::from_query_and_form(Some("Action=A&x=%31"), b"Version=1&x=2");
        assert_eq!(both.get("Action"), Some("A"));
        assert_eq!(both.get("x"), Some("1"));
        assert_eq!(both.pairs().len(), 4);
    }

    #[test]
    fn decodes_lists_and_structs() {
        let p = Params::parse(
            b"Action=AssumeRole&Tags.member.2.Key=b&Tags.member.1.Key=a&Tags.member.1.Value=1\
              &Tags.member.2.Value=2&AttributeName.1=All&AttributeName.2=Policy&PolicyArns.member.1.arn=x%2By",
        );
        assert_eq!(p.get("Action"), Some("AssumeRole"));
        assert_eq!(p.list("AttributeName"), vec!["All", "Policy"]);
        let tags = p.struct_list("Tags");
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0]["Key"], "a");
        assert_eq!(tags[1]["Value"], "2");
        assert_eq!(p.struct_list("PolicyArns")[0]["arn"], "x+y");
    }

    #[test]
    fn query_and_form_merge() {
        let p =
            Params::from_query_and_form(Some("Action=GetCallerIdentity"), b"Version=2011-06-15");
        assert_eq!(p.get("Action"), Some("GetCallerIdentity"));
        assert_eq!(p.get("Version"), Some("2011-06-15"));
        assert!(!p.contains("Missing"));
    }
}

//! SQS on the wire. Both protocols are decoded into one JSON-shaped input (the awsJson 1.0 request
//! members), handled once, and the JSON-shaped output is written back as JSON or as query-protocol XML.
//! Query requests use the model's flattened names (`Attribute.N.Name`, `MessageAttribute.N.Value.DataType`,
//! `SendMessageBatchRequestEntry.N.Id`, ...); XML responses use the same names inside
//! `<{Op}Response><{Op}Result>`.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Response, StatusCode, header, request::Parts};
use serde_json::{Map, Value, json};
use skyport_core::{
    AwsError, Body, Protocol, RequestContext,
    operations::SQS as OPERATIONS,
    protocol::{Params, bytes_response, json_response, xml_response},
    xml::XmlWriter,
};

use crate::errors::malformed;

/// The query protocol's XML namespace.
pub const NAMESPACE: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

/// Operations whose query response has no `<{Op}Result>`.
const NO_RESULT: &[&str] = &[
    "AddPermission",
    "ChangeMessageVisibility",
    "DeleteMessage",
    "DeleteQueue",
    "PurgeQueue",
    "RemovePermission",
    "SetQueueAttributes",
    "TagQueue",
    "UntagQueue",
];

/// Decodes a request into `(operation, input)`.
pub fn decode(
    ctx: &RequestContext,
    parts: &Parts,
    body: &[u8],
) -> Result<(String, Value), AwsError> {
    if ctx.protocol.is_aws_json() {
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let op = target.strip_prefix("AmazonSQS.").unwrap_or("");
        if !OPERATIONS.contains(&op) {
            return Err(AwsError::bad_request(
                "UnknownOperationException",
                format!("Operation {target} is not supported."),
            ));
        }
        let input = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Map::new())
        } else {
            serde_json::from_slice::<Value>(body)
                .map_err(|e| malformed(format!("Malformed JSON request body: {e}")))?
        };
        if !input.is_object() {
            return Err(malformed("The request body must be a JSON object."));
        }
        check_integers(&input)?;
        if let Some(Value::Array(entries)) = input.get("Entries") {
            entries.iter().try_for_each(check_integers)?;
        }
        return Ok((op.to_owned(), input));
    }
    check_form_utf8(parts.uri.query().unwrap_or("").as_bytes())?;
    check_form_utf8(body)?;
    let params = Params::from_query_and_form(parts.uri.query(), body);
    let Some(action) = params.get("Action") else {
        return Err(AwsError::bad_request(
            "MissingAction",
            "The request must contain the parameter Action.",
        )
        .with_query_code("MissingAction"));
    };
    // Actions that name no queue are not valid on a queue's URL (AWS: "... not valid for this endpoint").
    let on_queue_url = crate::urls::parse_queue_url(parts.uri.path()).is_some();
    if !OPERATIONS.contains(&action)
        || (on_queue_url && matches!(action, "CreateQueue" | "ListQueues"))
    {
        return Err(AwsError::bad_request(
            "InvalidAction",
            format!("The action {action} is not valid for this endpoint."),
        )
        .with_query_code("InvalidAction"));
    }
    let pairs = Pairs(params.pairs().to_vec());
    Ok((action.to_owned(), query_to_json(action, &pairs)))
}

/// The integer members of SQS inputs: JSON must carry them as numbers (the query protocol sends text).
const INTEGERS: &[&str] = &[
    "DelaySeconds",
    "MaxNumberOfMessages",
    "MaxNumberOfMessagesPerSecond",
    "MaxResults",
    "VisibilityTimeout",
    "WaitTimeSeconds",
];

fn check_integers(object: &Value) -> Result<(), AwsError> {
    for name in INTEGERS {
        match object.get(*name) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.is_i64() => {}
            Some(_) => {
                return Err(malformed(format!(
                    "Cannot deserialize {name}: expected an integer."
                )));
            }
        }
    }
    Ok(())
}

fn unhex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Form values must decode to UTF-8 (a lossy decoding would store replacement characters silently).
fn check_form_utf8(form: &[u8]) -> Result<(), AwsError> {
    for pair in form.split(|c| *c == b'&') {
        let mut decoded = Vec::with_capacity(pair.len());
        let mut i = 0;
        while i < pair.len() {
            match pair[i] {
                b'%' if i + 2 < pair.len() => match (unhex(pair[i + 1]), unhex(pair[i + 2])) {
                    (Some(h), Some(l)) => {
                        decoded.push(h << 4 | l);
                        i += 3;
                        continue;
                    }
                    _ => decoded.push(b'%'),
                },
                b'+' => decoded.push(b' '),
                c => decoded.push(c),
            }
            i += 1;
        }
        if std::str::from_utf8(&decoded).is_err() {
            let name = pair.split(|c| *c == b'=').next().unwrap_or_default();
            let name = String::from_utf8_lossy(name);
            return Err(
                if name.ends_with("MessageBody") || name.ends_with("Value") {
                    crate::errors::err(
                        "InvalidMessageContents",
                        "InvalidMessageContents",
                        format!("The value of {name} is not valid UTF-8."),
                    )
                } else {
                    AwsError::bad_request(
                        "MalformedQueryString",
                        format!("The value of {name} is not valid UTF-8."),
                    )
                    .with_query_code("MalformedQueryString")
                },
            );
        }
    }
    Ok(())
}

/// Query parameters with the list and map helpers the SQS shapes need.
struct Pairs(Vec<(String, String)>);

impl Pairs {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `prefix.N[.rest]` grouped by `N` in order, with `prefix.N.` stripped.
    fn indexed(&self, prefix: &str) -> BTreeMap<u32, Pairs> {
        let mut out: BTreeMap<u32, Pairs> = BTreeMap::new();
        for (k, v) in &self.0 {
            let Some(rest) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
                continue;
            };
            let rest = rest.strip_prefix("member.").unwrap_or(rest);
            let (index, field) = rest.split_once('.').unwrap_or((rest, ""));
            let Ok(index) = index.parse::<u32>() else {
                continue;
            };
            out.entry(index)
                .or_insert_with(|| Pairs(Vec::new()))
                .0
                .push((field.to_owned(), v.clone()));
        }
        out
    }

    fn list(&self, prefix: &str) -> Option<Value> {
        let items: Vec<Value> = self
            .indexed(prefix)
            .into_values()
            .filter_map(|p| p.get("").map(|v| Value::String(v.to_owned())))
            .collect();
        (!items.is_empty()).then_some(Value::Array(items))
    }

    fn map(&self, prefix: &str, key: &str, value: &str) -> Option<Value> {
        let mut out = Map::new();
        for p in self.indexed(prefix).into_values() {
            if let Some(k) = p.get(key) {
                out.insert(
                    k.to_owned(),
                    Value::String(p.get(value).unwrap_or("").to_owned()),
                );
            }
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }

    fn message_attributes(&self, prefix: &str) -> Option<Value> {
        let mut out = Map::new();
        for p in self.indexed(prefix).into_values() {
            let Some(name) = p.get("Name") else { continue };
            let mut value = Map::new();
            for (field, json) in [
                ("Value.DataType", "DataType"),
                ("Value.StringValue", "StringValue"),
                ("Value.BinaryValue", "BinaryValue"),
            ] {
                if let Some(v) = p.get(field) {
                    value.insert(json.to_owned(), Value::String(v.to_owned()));
                }
            }
            out.insert(name.to_owned(), Value::Object(value));
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }

    fn copy(&self, out: &mut Map<String, Value>, names: &[&str]) {
        for name in names {
            if let Some(v) = self.get(name) {
                out.insert((*name).to_owned(), Value::String(v.to_owned()));
            }
        }
    }
}

fn send_entry(p: &Pairs, out: &mut Map<String, Value>) {
    p.copy(
        out,
        &[
            "QueueUrl",
            "Id",
            "MessageBody",
            "DelaySeconds",
            "MessageDeduplicationId",
            "MessageGroupId",
        ],
    );
    if let Some(v) = p.message_attributes("MessageAttribute") {
        out.insert("MessageAttributes".into(), v);
    }
    if let Some(v) = p.message_attributes("MessageSystemAttribute") {
        out.insert("MessageSystemAttributes".into(), v);
    }
}

fn entries(p: &Pairs, prefix: &str, fields: &[&str], send: bool) -> Option<Value> {
    let list: Vec<Value> = p
        .indexed(prefix)
        .into_values()
        .map(|entry| {
            let mut m = Map::new();
            if send {
                send_entry(&entry, &mut m);
            } else {
                entry.copy(&mut m, fields);
            }
            Value::Object(m)
        })
        .collect();
    if list.is_empty() && !p.0.iter().any(|(k, _)| k.starts_with(prefix)) {
        return None;
    }
    Some(Value::Array(list))
}

fn query_to_json(action: &str, p: &Pairs) -> Value {
    let mut out = Map::new();
    p.copy(
        &mut out,
        &[
            "QueueUrl",
            "QueueName",
            "QueueOwnerAWSAccountId",
            "QueueNamePrefix",
            "NextToken",
            "MaxResults",
            "ReceiptHandle",
            "VisibilityTimeout",
            "MaxNumberOfMessages",
            "WaitTimeSeconds",
            "ReceiveRequestAttemptId",
            "Label",
            "SourceArn",
            "DestinationArn",
            "MaxNumberOfMessagesPerSecond",
            "TaskHandle",
        ],
    );
    let mut set = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            out.insert(k.to_owned(), v);
        }
    };
    match action {
        "CreateQueue" | "SetQueueAttributes" => {
            set("Attributes", p.map("Attribute", "Name", "Value"));
            set("tags", p.map("Tag", "Key", "Value"));
        }
        "GetQueueAttributes" => set("AttributeNames", p.list("AttributeName")),
        "SendMessage" => {
            let mut m = Map::new();
            send_entry(p, &mut m);
            for (k, v) in m {
                set(&k, Some(v));
            }
        }
        "SendMessageBatch" => set(
            "Entries",
            entries(p, "SendMessageBatchRequestEntry", &[], true),
        ),
        "DeleteMessageBatch" => set(
            "Entries",
            entries(
                p,
                "DeleteMessageBatchRequestEntry",
                &["Id", "ReceiptHandle"],
                false,
            ),
        ),
        "ChangeMessageVisibilityBatch" => set(
            "Entries",
            entries(
                p,
                "ChangeMessageVisibilityBatchRequestEntry",
                &["Id", "ReceiptHandle", "VisibilityTimeout"],
                false,
            ),
        ),
        "ReceiveMessage" => {
            set("AttributeNames", p.list("AttributeName"));
            set(
                "MessageSystemAttributeNames",
                p.list("MessageSystemAttributeName"),
            );
            set("MessageAttributeNames", p.list("MessageAttributeName"));
        }
        "TagQueue" => set("Tags", p.map("Tag", "Key", "Value")),
        "UntagQueue" => set("TagKeys", p.list("TagKey")),
        "AddPermission" => {
            set("AWSAccountIds", p.list("AWSAccountId"));
            set("Actions", p.list("ActionName"));
        }
        _ => {}
    }
    Value::Object(out)
}

/// A query-protocol GET that names no `Action`: AWS answers 404 with a bare `<UnknownOperationException/>`
/// (in XML whatever the `Accept` header says).
pub fn unknown_operation(ctx: &RequestContext, parts: &Parts) -> Option<Response<Body>> {
    if ctx.protocol.is_aws_json() || parts.method != Method::GET {
        return None;
    }
    let params = Params::from_query_and_form(parts.uri.query(), b"");
    if params.get("Action").is_some() {
        return None;
    }
    Some(xml_response(
        Protocol::Query,
        StatusCode::NOT_FOUND,
        "<UnknownOperationException/>".to_owned(),
    ))
}

/// True when a query-protocol request asks for JSON (`Accept: application/json`): AWS then answers in
/// JSON, the XML document's elements as object keys.
pub fn accepts_json(ctx: &RequestContext, parts: &Parts) -> bool {
    !ctx.protocol.is_aws_json()
        && parts
            .headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| {
                t.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/json")
            })
}

/// AWS's protocol-specific touches on an error: awsJson's `x-amzn-ErrorType` carries the same
/// `com.amazonaws.sqs#` shape id as `__type`; the query protocol says a queue does not exist "for this
/// wsdl version" and closes `<Error>` with an empty `<Detail/>`.
pub fn finish_error(ctx: &RequestContext, mut e: AwsError) -> AwsError {
    if ctx.protocol.is_aws_json() {
        if let Ok(value) = HeaderValue::from_str(&format!("com.amazonaws.sqs#{}", e.code)) {
            e = e.with_header(HeaderName::from_static("x-amzn-errortype"), value);
        }
        return e;
    }
    if e.query_code() == Some("AWS.SimpleQueueService.NonExistentQueue") {
        e.message = "The specified queue does not exist for this wsdl version.".to_owned();
    }
    e.with_xml_fields("<Detail/>".to_owned())
}

/// A query-protocol error as JSON (`Accept: application/json`).
pub fn json_error(ctx: &RequestContext, e: &AwsError) -> Response<Body> {
    let code = e.query_code().unwrap_or(&e.code);
    let fault = if e.status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let body = json!({
        "Error": {"Type": fault, "Code": code, "Message": e.message, "Detail": null},
        "RequestId": ctx.request_id,
    });
    let mut response = bytes_response(
        e.status,
        "application/json",
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
    );
    for (name, value) in e.headers() {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// Writes the output of `op` in the request's protocol (`json`: a query request that accepts JSON).
pub fn encode(ctx: &RequestContext, op: &str, output: Value, json: bool) -> Response<Body> {
    if ctx.protocol.is_aws_json() {
        return json_response(Protocol::Json10, StatusCode::OK, &output);
    }
    if json {
        return query_json(ctx, op, output);
    }
    let mut w = XmlWriter::new();
    w.start_ns(&format!("{op}Response"), NAMESPACE);
    if !NO_RESULT.contains(&op) {
        let result = format!("{op}Result");
        w.start(&result);
        if let Value::Object(members) = &output {
            write_members(&mut w, op, members);
        }
        w.end(&result);
    }
    w.start("ResponseMetadata")
        .leaf("RequestId", &ctx.request_id)
        .end("ResponseMetadata");
    w.end(&format!("{op}Response"));
    xml_response(Protocol::Query, StatusCode::OK, w.finish())
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn write_members(w: &mut XmlWriter, op: &str, members: &Map<String, Value>) {
    for (key, value) in members {
        if let Some(s) = scalar(value) {
            w.leaf(key, &s);
            continue;
        }
        match (key.as_str(), value) {
            ("QueueUrls" | "queueUrls", Value::Array(items)) => {
                for item in items {
                    if let Some(s) = scalar(item) {
                        w.leaf("QueueUrl", &s);
                    }
                }
            }
            ("Attributes", Value::Object(map)) => {
                for (name, v) in map {
                    w.start("Attribute")
                        .leaf("Name", name)
                        .leaf("Value", &scalar(v).unwrap_or_default())
                        .end("Attribute");
                }
            }
            ("Tags", Value::Object(map)) => {
                for (name, v) in map {
                    w.start("Tag")
                        .leaf("Key", name)
                        .leaf("Value", &scalar(v).unwrap_or_default())
                        .end("Tag");
                }
            }
            ("MessageAttributes", Value::Object(map)) => {
                for (name, v) in map {
                    w.start("MessageAttribute")
                        .leaf("Name", name)
                        .start("Value");
                    for field in ["StringValue", "BinaryValue", "DataType"] {
                        if let Some(s) = v.get(field).and_then(scalar) {
                            w.leaf(field, &s);
                        }
                    }
                    w.end("Value").end("MessageAttribute");
                }
            }
            (_, Value::Array(items)) => {
                let element = match key.as_str() {
                    "Messages" => "Message".to_owned(),
                    "Successful" => format!("{op}ResultEntry"),
                    "Failed" => "BatchResultErrorEntry".to_owned(),
                    "Results" => "Result".to_owned(),
                    other => other.to_owned(),
                };
                for item in items {
                    match item {
                        Value::Object(m) => {
                            w.start(&element);
                            write_members(w, op, m);
                            w.end(&element);
                        }
                        other => {
                            if let Some(s) = scalar(other) {
                                w.leaf(&element, &s);
                            }
                        }
                    }
                }
            }
            (_, Value::Object(m)) => {
                w.start(key);
                write_members(w, op, m);
                w.end(key);
            }
            _ => {}
        }
    }
}

/// The members of a `SendMessage` result (and of a `SendMessageBatch` entry, with `Id`).
const SEND_RESULT: &[&str] = &[
    "MD5OfMessageAttributes",
    "MD5OfMessageBody",
    "MD5OfMessageSystemAttributes",
    "MessageId",
    "SequenceNumber",
];

/// The members of a received message.
const MESSAGE: &[&str] = &[
    "Attributes",
    "Body",
    "MD5OfBody",
    "MD5OfMessageAttributes",
    "MessageAttributes",
    "MessageId",
    "ReceiptHandle",
];

fn fill(object: &mut Map<String, Value>, members: &[&str]) {
    for m in members {
        object.entry(*m).or_insert(Value::Null);
    }
}

fn rename(object: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = object.remove(from) {
        object.insert(to.to_owned(), v);
    }
}

/// A map as the list of `{key, value}` entries the query document has for it.
fn entries_of(value: Option<Value>, key: &str, value_name: &str) -> Value {
    match value {
        Some(Value::Object(map)) => Value::Array(
            map.into_iter()
                .map(|(k, v)| {
                    let mut entry = Map::new();
                    entry.insert(key.to_owned(), Value::String(k));
                    entry.insert(value_name.to_owned(), v);
                    Value::Object(entry)
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

fn each_object(value: Option<&mut Value>, f: impl Fn(&mut Map<String, Value>)) {
    if let Some(Value::Array(items)) = value {
        for item in items {
            if let Value::Object(m) = item {
                f(m);
            }
        }
    }
}

/// The JSON form of a query-protocol response, as AWS writes it: `{"<Op>Response": {"<Op>Result": ...,
/// "ResponseMetadata": {"RequestId": ...}}}`, every member of the result present (`null` when absent),
/// keys in alphabetical order, received messages under `messages` and queue URLs under `queueUrls`.
fn query_json(ctx: &RequestContext, op: &str, output: Value) -> Response<Body> {
    let mut result = match output {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    match op {
        "CreateQueue" | "GetQueueUrl" => fill(&mut result, &["QueueUrl"]),
        "ListQueues" => {
            rename(&mut result, "QueueUrls", "queueUrls");
            fill(
                &mut result,
                &["NextExclusiveStartQueueName", "NextToken", "queueUrls"],
            );
        }
        "ListDeadLetterSourceQueues" => fill(&mut result, &["NextToken", "queueUrls"]),
        "GetQueueAttributes" => {
            let attributes = entries_of(result.remove("Attributes"), "Name", "Value");
            result.insert("Attributes".into(), attributes);
        }
        "ListQueueTags" => {
            let tags = entries_of(result.remove("Tags"), "Key", "Value");
            result.insert("Tags".into(), tags);
        }
        "SendMessage" => fill(&mut result, SEND_RESULT),
        "SendMessageBatch" | "DeleteMessageBatch" | "ChangeMessageVisibilityBatch" => {
            fill(&mut result, &["Failed", "Successful"]);
            if op == "SendMessageBatch" {
                each_object(result.get_mut("Successful"), |m| fill(m, SEND_RESULT));
            }
        }
        "ReceiveMessage" => {
            let mut messages = result.remove("Messages").unwrap_or(Value::Null);
            each_object(Some(&mut messages), |m| {
                let attributes = entries_of(m.remove("Attributes"), "Name", "Value");
                m.insert("Attributes".into(), attributes);
                let mut user = entries_of(m.remove("MessageAttributes"), "Name", "Value");
                each_object(Some(&mut user), |entry| {
                    if let Some(Value::Object(v)) = entry.get_mut("Value") {
                        fill(
                            v,
                            &[
                                "BinaryListValues",
                                "BinaryValue",
                                "DataType",
                                "StringListValues",
                                "StringValue",
                            ],
                        );
                    }
                });
                m.insert("MessageAttributes".into(), user);
                fill(m, MESSAGE);
            });
            result.insert("messages".into(), messages);
        }
        _ => {}
    }
    let mut response = Map::new();
    if !NO_RESULT.contains(&op) {
        response.insert(format!("{op}Result"), Value::Object(result));
    }
    response.insert(
        "ResponseMetadata".into(),
        json!({ "RequestId": ctx.request_id }),
    );
    let body = json!({ format!("{op}Response"): response });
    bytes_response(
        StatusCode::OK,
        "application/json",
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(op: &str, body: &str) -> Value {
        let pairs = Pairs(Params::parse(body.as_bytes()).pairs().to_vec());
        query_to_json(op, &pairs)
    }

    #[test]
    fn query_shapes_become_json_shapes() {
        let v = query(
            "SendMessage",
            "QueueUrl=u&MessageBody=b&MessageAttribute.1.Name=n&MessageAttribute.1.Value.DataType=String\
             &MessageAttribute.1.Value.StringValue=s&MessageSystemAttribute.1.Name=AWSTraceHeader\
             &MessageSystemAttribute.1.Value.DataType=String&MessageSystemAttribute.1.Value.StringValue=t",
        );
        assert_eq!(v["MessageAttributes"]["n"]["StringValue"], "s");
        assert_eq!(
            v["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"],
            "t"
        );
        let v = query(
            "SendMessageBatch",
            "SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.1.Id=a\
             &SendMessageBatchRequestEntry.1.MessageBody=x",
        );
        assert_eq!(v["Entries"][0]["Id"], "a");
        assert_eq!(v["Entries"][1]["Id"], "b");
        let v = query(
            "CreateQueue",
            "QueueName=q&Attribute.1.Name=DelaySeconds&Attribute.1.Value=5&Tag.1.Key=k&Tag.1.Value=v",
        );
        assert_eq!(v["Attributes"]["DelaySeconds"], "5");
        assert_eq!(v["tags"]["k"], "v");
        let v = query(
            "ReceiveMessage",
            "AttributeName.1=All&MessageAttributeName.1=.*",
        );
        assert_eq!(v["AttributeNames"][0], "All");
        assert_eq!(v["MessageAttributeNames"][0], ".*");
    }

    #[test]
    fn form_values_must_be_utf8() {
        assert!(check_form_utf8(b"Action=SendMessage&MessageBody=h%C3%A9+llo%2").is_ok());
        let e = check_form_utf8(b"Action=SendMessage&MessageBody=%FF").unwrap_err();
        assert_eq!(e.query_code(), Some("InvalidMessageContents"));
        let e = check_form_utf8(b"QueueName=%C3").unwrap_err();
        assert_eq!(e.query_code(), Some("MalformedQueryString"));
    }

    #[test]
    fn xml_uses_the_flattened_names() {
        let ctx = RequestContext::new("sqs", Protocol::Query);
        let out = serde_json::json!({"Successful": [{"Id": "a", "MessageId": "m"}], "Failed": []});
        let resp = encode(&ctx, "SendMessageBatch", out, false);
        assert_eq!(resp.status(), 200);
        let mut w = XmlWriter::new();
        write_members(
            &mut w,
            "ReceiveMessage",
            serde_json::json!({"Messages": [{"Body": "b", "Attributes": {"SenderId": "x"},
                "MessageAttributes": {"n": {"DataType": "String", "StringValue": "v"}}}]})
            .as_object()
            .unwrap(),
        );
        assert_eq!(
            w.finish(),
            "<Message><Attribute><Name>SenderId</Name><Value>x</Value></Attribute><Body>b</Body>\
             <MessageAttribute><Name>n</Name><Value><StringValue>v</StringValue><DataType>String</DataType>\
             </Value></MessageAttribute></Message>"
        );
    }
}

//! SQS on the wire with other clients: the query protocol with raw form POSTs (curl, signed with
//! `--aws-sigv4` and unsigned to the queue URL path) checking the XML shapes and query error codes; raw
//! awsJson requests with bad input checking AWS's errors and `x-amzn-query-error`; boto3 (JSON protocol)
//! with MD5 digests recomputed independently in Python; queue URL strategies and every URL form on input.

mod common;

use std::process::Command;

use common::{Options, Skyport, require, run};

/// A curl response: status, headers (lower-cased names) and body.
struct Reply {
    status: u16,
    headers: String,
    body: String,
}

fn curl(args: &[&str]) -> Reply {
    let (status, out, err) = run(Command::new("curl").args(["-s", "-i"]).args(args));
    assert!(status.success(), "curl failed: {err}");
    let mut out = out.as_str();
    // Large bodies make curl send `Expect: 100-continue`; skip the interim response.
    while out.starts_with("HTTP/1.1 100") {
        out = out.split_once("\r\n\r\n").map_or("", |(_, rest)| rest);
    }
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((out, ""));
    let code = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Reply {
        status: code,
        headers: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

/// A signed query-protocol request.
fn query(endpoint: &str, form: &[&str]) -> Reply {
    let mut args = vec![
        "--aws-sigv4",
        "aws:amz:us-east-1:sqs",
        "--user",
        "test:test",
        endpoint,
    ];
    for f in form {
        args.push("--data-urlencode");
        args.push(f);
    }
    curl(&args)
}

/// An unsigned awsJson request.
fn json(endpoint: &str, op: &str, body: &str) -> Reply {
    let target = format!("x-amz-target: AmazonSQS.{op}");
    curl(&[
        "-X",
        "POST",
        "-H",
        &target,
        "-H",
        "content-type: application/x-amz-json-1.0",
        "--data-binary",
        body,
        endpoint,
    ])
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let start = text.find(open).map(|i| i + open.len()).unwrap_or(0);
    let end = text[start..].find(close).map_or(text.len(), |i| start + i);
    &text[start..end]
}

const NS: &str = "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"";

#[test]
fn query_protocol_shapes_and_error_codes() {
    if !require("curl") {
        return;
    }
    // AWS's 60-second rules, off by default as in LocalStack.
    let skyport = Skyport::start_with(
        Options::default()
            .env("SQS_DELAY_PURGE_RETRY", "1")
            .env("SQS_DELAY_RECENTLY_DELETED", "1"),
    );
    let e = skyport.endpoint();
    let port = skyport.addrs[0].port();

    let r = query(
        &e,
        &[
            "Action=CreateQueue",
            "QueueName=xml-q",
            "Attribute.1.Name=VisibilityTimeout",
            "Attribute.1.Value=40",
            "Tag.1.Key=a",
            "Tag.1.Value=b",
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.headers.contains("content-type: text/xml"));
    assert!(
        r.body.starts_with(&format!(
            "<CreateQueueResponse {NS}><CreateQueueResult><QueueUrl>"
        )),
        "{}",
        r.body
    );
    let url = between(&r.body, "<QueueUrl>", "</QueueUrl>").to_owned();
    assert_eq!(
        url,
        format!("http://sqs.us-east-1.localhost.localstack.cloud:{port}/000000000000/xml-q")
    );
    assert!(r.body.contains("<ResponseMetadata><RequestId>"));

    let r = query(
        &e,
        &[
            "Action=CreateQueue",
            "QueueName=xml-q",
            "Attribute.1.Name=VisibilityTimeout",
            "Attribute.1.Value=41",
        ],
    );
    assert_eq!(r.status, 400);
    assert!(
        r.body.starts_with(&format!(
            "<ErrorResponse {NS}><Error><Type>Sender</Type><Code>QueueAlreadyExists</Code>"
        )),
        "{}",
        r.body
    );

    let r = query(&e, &["Action=GetQueueUrl", "QueueName=nope"]);
    assert_eq!(r.status, 400);
    assert!(
        r.body
            .contains("<Code>AWS.SimpleQueueService.NonExistentQueue</Code>"),
        "{}",
        r.body
    );
    assert!(!r.headers.contains("x-amzn-query-error"));
    let r = query(&e, &["Action=Frobnicate"]);
    assert!(r.body.contains("<Code>InvalidAction</Code>"), "{}", r.body);
    let r = query(&e, &["Action=SendMessage", &format!("QueueUrl={url}")]);
    assert!(
        r.body.contains("<Code>MissingParameter</Code>"),
        "{}",
        r.body
    );

    let r = query(
        &e,
        &[
            "Action=GetQueueAttributes",
            &format!("QueueUrl={url}"),
            "AttributeName.1=VisibilityTimeout",
            "AttributeName.2=QueueArn",
        ],
    );
    assert!(r.body.contains("<GetQueueAttributesResult><Attribute><Name>QueueArn</Name><Value>arn:aws:sqs:us-east-1:000000000000:xml-q</Value></Attribute><Attribute><Name>VisibilityTimeout</Name><Value>40</Value></Attribute></GetQueueAttributesResult>"), "{}", r.body);
    let r = query(
        &e,
        &[
            "Action=GetQueueAttributes",
            &format!("QueueUrl={url}"),
            "AttributeName.1=Bogus",
        ],
    );
    assert!(
        r.body.contains("<Code>InvalidAttributeName</Code>"),
        "{}",
        r.body
    );
    let r = query(&e, &["Action=ListQueueTags", &format!("QueueUrl={url}")]);
    assert!(
        r.body.contains(
            "<ListQueueTagsResult><Tag><Key>a</Key><Value>b</Value></Tag></ListQueueTagsResult>"
        ),
        "{}",
        r.body
    );
    query(&e, &["Action=CreateQueue", "QueueName=xml-r"]);
    let r = query(&e, &["Action=ListQueues", "QueueNamePrefix=xml-"]);
    assert_eq!(r.body.matches("<QueueUrl>").count(), 2, "{}", r.body);

    // SendMessage with attributes: the digests of the documented encoding.
    let r = query(
        &e,
        &[
            "Action=SendMessage",
            &format!("QueueUrl={url}"),
            "MessageBody=hello",
            "MessageAttribute.1.Name=a",
            "MessageAttribute.1.Value.DataType=String",
            "MessageAttribute.1.Value.StringValue=b",
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body
            .contains("<MD5OfMessageBody>5d41402abc4b2a76b9719d911017c592</MD5OfMessageBody>")
    );
    assert!(
        r.body.contains(
            "<MD5OfMessageAttributes>bef8bf215374a0a228d67533b1a488be</MD5OfMessageAttributes>"
        ),
        "{}",
        r.body
    );

    // Unsigned form POST to the queue URL's path (the queue comes from the path).
    let path_url = format!("{e}/000000000000/xml-q");
    let r = curl(&[
        "--data-urlencode",
        "Action=ReceiveMessage",
        "--data-urlencode",
        "AttributeName.1=All",
        "--data-urlencode",
        "MessageAttributeName.1=All",
        &path_url,
    ]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.starts_with(&format!(
            "<ReceiveMessageResponse {NS}><ReceiveMessageResult><Message>"
        )),
        "{}",
        r.body
    );
    assert!(r.body.contains("<Body>hello</Body>"));
    assert!(
        r.body.contains(
            "<Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>"
        )
    );
    assert!(r.body.contains("<MessageAttribute><Name>a</Name><Value><StringValue>b</StringValue><DataType>String</DataType></Value></MessageAttribute>"));
    let handle = between(&r.body, "<ReceiptHandle>", "</ReceiptHandle>").to_owned();
    let r = curl(&[
        "--data-urlencode",
        "Action=ChangeMessageVisibility",
        "--data-urlencode",
        &format!("ReceiptHandle={handle}"),
        "--data-urlencode",
        "VisibilityTimeout=50000",
        &path_url,
    ]);
    assert!(
        r.body.contains("<Code>InvalidParameterValue</Code>"),
        "{}",
        r.body
    );
    let r = curl(&[
        "--data-urlencode",
        "Action=DeleteMessage",
        "--data-urlencode",
        &format!("ReceiptHandle={handle}"),
        &path_url,
    ]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        format!(
            "<DeleteMessageResponse {NS}><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></DeleteMessageResponse>",
            between(&r.body, "<RequestId>", "</RequestId>")
        )
    );
    let r = curl(&["--data-urlencode", "Action=ReceiveMessage", &path_url]);
    assert!(
        r.body
            .contains("<ReceiveMessageResult></ReceiveMessageResult>"),
        "{}",
        r.body
    );

    // Batches in the query shape, and the batch error codes.
    let r = query(
        &e,
        &[
            "Action=SendMessageBatch",
            &format!("QueueUrl={url}"),
            "SendMessageBatchRequestEntry.1.Id=one",
            "SendMessageBatchRequestEntry.1.MessageBody=1",
            "SendMessageBatchRequestEntry.2.Id=two",
            "SendMessageBatchRequestEntry.2.MessageBody=2",
            "SendMessageBatchRequestEntry.2.DelaySeconds=1000",
        ],
    );
    assert!(
        r.body.contains("<SendMessageBatchResultEntry><Id>one</Id>"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("<BatchResultErrorEntry><Code>InvalidParameterValue</Code><Id>two</Id>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("<SenderFault>true</SenderFault>"));
    let r = query(
        &e,
        &["Action=DeleteMessageBatch", &format!("QueueUrl={url}")],
    );
    assert!(
        r.body
            .contains("<Code>AWS.SimpleQueueService.EmptyBatchRequest</Code>"),
        "{}",
        r.body
    );
    let r = query(
        &e,
        &[
            "Action=SendMessageBatch",
            &format!("QueueUrl={url}"),
            "SendMessageBatchRequestEntry.1.Id=x",
            "SendMessageBatchRequestEntry.1.MessageBody=1",
            "SendMessageBatchRequestEntry.2.Id=x",
            "SendMessageBatchRequestEntry.2.MessageBody=2",
        ],
    );
    assert!(
        r.body
            .contains("<Code>AWS.SimpleQueueService.BatchEntryIdsNotDistinct</Code>"),
        "{}",
        r.body
    );
    let r = query(&e, &["Action=PurgeQueue", &format!("QueueUrl={url}")]);
    assert_eq!(r.status, 200);
    let r = query(&e, &["Action=PurgeQueue", &format!("QueueUrl={url}")]);
    assert!(
        r.body
            .contains("<Code>AWS.SimpleQueueService.PurgeQueueInProgress</Code>"),
        "{}",
        r.body
    );
    let r = query(&e, &["Action=DeleteQueue", &format!("QueueUrl={url}")]);
    assert_eq!(r.status, 200);
    let r = query(&e, &["Action=CreateQueue", "QueueName=xml-q"]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body
            .contains("<Code>AWS.SimpleQueueService.QueueDeletedRecently</Code>")
            && r.body
                .contains("You must wait 60 seconds after deleting a queue"),
        "{}",
        r.body
    );
    let r = curl(&[
        "--data-urlencode",
        "Action=SendMessage",
        "--data-urlencode",
        "MessageBody=x",
        &path_url,
    ]);
    assert!(
        r.body
            .contains("<Code>AWS.SimpleQueueService.NonExistentQueue</Code>"),
        "{}",
        r.body
    );
}

#[test]
fn bad_input_gets_the_aws_errors() {
    if !require("curl") {
        return;
    }
    let skyport = Skyport::start();
    let e = skyport.endpoint();
    let r = json(&e, "CreateQueue", r#"{"QueueName":"strict"}"#);
    assert_eq!(r.status, 200);
    let url = format!("{e}/000000000000/strict");
    let expect = |r: &Reply, json_type: &str, query_code: &str| {
        assert_eq!(r.status, 400, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            v["__type"],
            format!("com.amazonaws.sqs#{json_type}"),
            "{}",
            r.body
        );
        assert!(
            r.headers.contains(&format!(
                "x-amzn-query-error: {}",
                query_code.to_ascii_lowercase()
            )),
            "{}",
            r.headers
        );
        v["message"].as_str().unwrap_or("").to_owned()
    };

    // 1 MiB is the limit; one byte more is refused.
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    std::fs::write(
        &big,
        serde_json::json!({"QueueUrl": url, "MessageBody": "x".repeat(1_048_576)}).to_string(),
    )
    .unwrap();
    let r = json(&e, "SendMessage", &format!("@{}", big.display()));
    assert_eq!(r.status, 200, "{}", r.body);
    std::fs::write(
        &big,
        serde_json::json!({"QueueUrl": url, "MessageBody": "x".repeat(1_048_577)}).to_string(),
    )
    .unwrap();
    let msg = expect(
        &json(&e, "SendMessage", &format!("@{}", big.display())),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );
    assert!(msg.contains("1048576"), "{msg}");

    // Characters outside the allowed set.
    let msg = expect(
        &json(
            &e,
            "SendMessage",
            &format!(r#"{{"QueueUrl":"{url}","MessageBody":"bad \u0001 char"}}"#),
        ),
        "InvalidMessageContents",
        "InvalidMessageContents",
    );
    assert!(msg.contains("#x9 | #xA | #xD"), "{msg}");
    let r = json(
        &e,
        "SendMessage",
        &format!(r#"{{"QueueUrl":"{url}","MessageBody":"ok \t\n\r é 😀"}}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // An empty body.
    expect(
        &json(
            &e,
            "SendMessage",
            &format!(r#"{{"QueueUrl":"{url}","MessageBody":""}}"#),
        ),
        "MissingRequiredParameterException",
        "MissingParameter",
    );

    // Eleven attributes; invalid types, names and values.
    let attrs: serde_json::Map<String, serde_json::Value> = (0..11)
        .map(|i| {
            (
                format!("a{i}"),
                serde_json::json!({"DataType": "String", "StringValue": "v"}),
            )
        })
        .collect();
    let body = serde_json::json!({"QueueUrl": url, "MessageBody": "x", "MessageAttributes": attrs})
        .to_string();
    let msg = expect(
        &json(&e, "SendMessage", &body),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );
    assert!(msg.contains("[11]"), "{msg}");
    for (name, attr) in [
        (
            "a",
            serde_json::json!({"DataType": "Integer", "StringValue": "1"}),
        ),
        (
            "a",
            serde_json::json!({"DataType": "Number", "StringValue": "one"}),
        ),
        (
            "a",
            serde_json::json!({"DataType": "String", "StringValue": ""}),
        ),
        (
            "a",
            serde_json::json!({"DataType": "Binary", "StringValue": "x"}),
        ),
        (
            "AWS.reserved",
            serde_json::json!({"DataType": "String", "StringValue": "x"}),
        ),
        (
            "a..b",
            serde_json::json!({"DataType": "String", "StringValue": "x"}),
        ),
    ] {
        let body = serde_json::json!({"QueueUrl": url, "MessageBody": "x", "MessageAttributes": {name: attr}}).to_string();
        expect(
            &json(&e, "SendMessage", &body),
            "InvalidParameterValueException",
            "InvalidParameterValue",
        );
    }
    let body =
        serde_json::json!({"QueueUrl": url, "MessageBody": "x", "DelaySeconds": 901}).to_string();
    expect(
        &json(&e, "SendMessage", &body),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );

    // Malformed JSON, wrong member types, unknown operations.
    for (op, body) in [
        ("CreateQueue", "{not json"),
        ("CreateQueue", "[1,2]"),
        ("SendMessage", r#"{"QueueUrl": 5, "MessageBody": "x"}"#),
        ("CreateQueue", r#"{"QueueName":"q","Attributes":"x"}"#),
        (
            "ReceiveMessage",
            &format!(r#"{{"QueueUrl":"{url}","MaxNumberOfMessages":"many"}}"#),
        ),
    ] {
        let r = json(&e, op, body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(
            r.body.contains("SerializationException"),
            "{body}: {}",
            r.body
        );
    }
    let r = json(&e, "Frobnicate", "{}");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("UnknownOperationException"), "{}", r.body);

    // Malformed forms: an attribute without a type, a non-numeric limit, bad percent-encoding.
    let q = |form: &str| {
        curl(&[
            "--aws-sigv4",
            "aws:amz:us-east-1:sqs",
            "--user",
            "test:test",
            "--data-binary",
            form,
            &e,
        ])
    };
    let r = q(&format!(
        "Action=SendMessage&QueueUrl={url}&MessageBody=x&MessageAttribute.1.Name=a&MessageAttribute.1.Value.StringValue=v"
    ));
    assert!(
        r.body.contains("<Code>InvalidParameterValue</Code>"),
        "{}",
        r.body
    );
    let r = q(&format!(
        "Action=ReceiveMessage&QueueUrl={url}&MaxNumberOfMessages=ten"
    ));
    assert!(
        r.body.contains("<Code>InvalidParameterValue</Code>"),
        "{}",
        r.body
    );
    let r = q(&format!(
        "Action=SendMessage&QueueUrl={url}&MessageBody=%01"
    ));
    assert!(
        r.body.contains("<Code>InvalidMessageContents</Code>"),
        "{}",
        r.body
    );
    let r = q(&format!(
        "Action=SendMessage&QueueUrl={url}&MessageBody=%FF%FE"
    ));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("<Code>InvalidMessageContents</Code>"),
        "{}",
        r.body
    );
    let r = q("Action=GetQueueUrl");
    assert!(
        r.body.contains("<Code>MissingParameter</Code>"),
        "{}",
        r.body
    );
}

const BOTO3_SCRIPT: &str = r#"
import base64, hashlib, struct, sys
import boto3

def enc(b):
    return struct.pack(">I", len(b)) + b

def md5_attrs(attrs):
    buf = b""
    for name in sorted(attrs):
        a = attrs[name]
        buf += enc(name.encode()) + enc(a["DataType"].encode())
        if a["DataType"].startswith("Binary"):
            buf += b"\x02" + enc(a["BinaryValue"])
        else:
            buf += b"\x01" + enc(a["StringValue"].encode())
    return hashlib.md5(buf).hexdigest()

c = boto3.client("sqs", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
url = c.create_queue(QueueName="boto-q")["QueueUrl"]
body = "héllo wörld 😀"
attrs = {
    "str": {"DataType": "String", "StringValue": "välue"},
    "num": {"DataType": "Number", "StringValue": "-12.5e3"},
    "bin": {"DataType": "Binary", "BinaryValue": bytes(range(256))},
    "custom": {"DataType": "String.url", "StringValue": "https://example.com/?a=b&c=d"},
}
trace = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}}
r = c.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attrs, MessageSystemAttributes=trace)
assert r["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest(), r
assert r["MD5OfMessageAttributes"] == md5_attrs(attrs), r
assert r["MD5OfMessageSystemAttributes"] == md5_attrs(trace), r
msgs = c.receive_message(QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"],
                         WaitTimeSeconds=1)["Messages"]
m = msgs[0]
assert m["Body"] == body
assert m["MD5OfBody"] == r["MD5OfMessageBody"]
assert m["MessageAttributes"] == attrs, m["MessageAttributes"]
assert m["MD5OfMessageAttributes"] == md5_attrs(m["MessageAttributes"])
assert m["Attributes"]["AWSTraceHeader"] == trace["AWSTraceHeader"]["StringValue"]
assert int(m["Attributes"]["ApproximateReceiveCount"]) == 1
# Only some attributes requested: the digest covers the returned ones.
c.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
m = c.receive_message(QueueUrl=url, MessageAttributeNames=["str", "bin"])["Messages"][0]
assert sorted(m["MessageAttributes"]) == ["bin", "str"]
assert m["MD5OfMessageAttributes"] == md5_attrs(m["MessageAttributes"])
c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
out = c.send_message_batch(QueueUrl=url, Entries=[
    {"Id": "a", "MessageBody": "one", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
    {"Id": "b", "MessageBody": "two"}])
assert [e["Id"] for e in out["Successful"]] == ["a", "b"]
assert out["Successful"][0]["MD5OfMessageAttributes"] == md5_attrs({"k": {"DataType": "String", "StringValue": "v"}})
try:
    c.get_queue_url(QueueName="does-not-exist")
    raise SystemExit("expected QueueDoesNotExist")
except c.exceptions.QueueDoesNotExist as err:
    assert err.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert err.response["Error"]["QueryErrorCode"] == "QueueDoesNotExist"
print("OK")
"#;

#[test]
fn boto3_json_protocol_with_independently_checked_digests() {
    if !require("python3") {
        return;
    }
    let probe = run(Command::new("python3").args(["-c", "import boto3"]));
    if !probe.0.success() {
        assert!(
            std::env::var("SKYPORT_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "boto3 is required"
        );
        eprintln!("skipping: boto3 is not installed");
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) =
        run(Command::new("python3").args(["-c", BOTO3_SCRIPT, &skyport.endpoint()]));
    assert!(status.success(), "boto3 script failed: {out}{err}");
    assert_eq!(out.trim(), "OK");
}

#[test]
fn queue_url_strategies_and_every_url_form_on_input() {
    if !require("curl") {
        return;
    }
    let create = |e: &str, host: Option<&str>, name: &str| {
        let body = format!(r#"{{"QueueName":"{name}"}}"#);
        let mut args = vec![
            "-X",
            "POST",
            "-H",
            "x-amz-target: AmazonSQS.CreateQueue",
            "-H",
            "content-type: application/x-amz-json-1.0",
            "--data-binary",
            &body,
        ];
        let host_header;
        if let Some(h) = host {
            host_header = format!("Host: {h}");
            args.push("-H");
            args.push(&host_header);
        }
        args.push(e);
        let r = curl(&args);
        assert_eq!(r.status, 200, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        v["QueueUrl"].as_str().unwrap().to_owned()
    };

    let skyport = Skyport::start();
    let e = skyport.endpoint();
    let port = skyport.addrs[0].port();
    // standard (default): the client's domain with its port; IP clients get localhost.localstack.cloud.
    assert_eq!(
        create(&e, None, "s1"),
        format!("http://sqs.us-east-1.localhost.localstack.cloud:{port}/000000000000/s1")
    );
    assert_eq!(
        create(&e, Some("sqs.us-east-1.amazonaws.com"), "s2"),
        "http://sqs.us-east-1.amazonaws.com/000000000000/s2"
    );
    // Every form names the same queue.
    for url in [
        format!("http://sqs.us-east-1.localhost.localstack.cloud:{port}/000000000000/s1"),
        format!("http://queue.localhost.localstack.cloud:{port}/000000000000/s1"),
        format!("http://127.0.0.1:{port}/queue/us-east-1/000000000000/s1"),
        format!("http://127.0.0.1:{port}/000000000000/s1"),
        "https://sqs.us-east-1.amazonaws.com/000000000000/s1".to_owned(),
        "https://queue.amazonaws.com/000000000000/s1".to_owned(),
    ] {
        let r = json(
            &e,
            "SendMessage",
            &format!(r#"{{"QueueUrl":"{url}","MessageBody":"via {url}"}}"#),
        );
        assert_eq!(r.status, 200, "{url}: {}", r.body);
    }
    let r = json(
        &e,
        "GetQueueAttributes",
        &format!(
            r#"{{"QueueUrl":"{e}/000000000000/s1","AttributeNames":["ApproximateNumberOfMessages"]}}"#
        ),
    );
    assert!(
        r.body.contains(r#""ApproximateNumberOfMessages":"6""#),
        "{}",
        r.body
    );
    // A queue in another region is named by the region in its URL.
    let r = json(
        &e,
        "SendMessage",
        &format!(
            r#"{{"QueueUrl":"http://sqs.eu-west-1.localhost.localstack.cloud:{port}/000000000000/s1","MessageBody":"x"}}"#
        ),
    );
    assert!(r.body.contains("QueueDoesNotExist"), "{}", r.body);
    drop(skyport);

    for (strategy, expected) in [
        (
            "path",
            "http://127.0.0.1:{port}/queue/us-east-1/000000000000/q",
        ),
        ("off", "http://127.0.0.1:{port}/000000000000/q"),
        (
            "domain",
            "http://queue.localhost.localstack.cloud:{port}/000000000000/q",
        ),
        (
            "dynamic",
            "http://127.0.0.1:{port}/queue/us-east-1/000000000000/q",
        ),
    ] {
        let skyport =
            Skyport::start_with(Options::default().env("SQS_ENDPOINT_STRATEGY", strategy));
        let port = skyport.addrs[0].port();
        let url = create(&skyport.endpoint(), None, "q");
        assert_eq!(
            url,
            expected.replace("{port}", &port.to_string()),
            "{strategy}"
        );
        if strategy == "dynamic" {
            let url = create(
                &skyport.endpoint(),
                Some(&format!("sqs.eu-west-1.localhost.localstack.cloud:{port}")),
                "q2",
            );
            assert_eq!(
                url,
                format!("http://sqs.eu-west-1.localhost.localstack.cloud:{port}/000000000000/q2")
            );
        }
    }
}

#[test]
fn by_default_queues_can_be_recreated_and_purged_at_once_like_localstack() {
    if !require("curl") {
        return;
    }
    let skyport = Skyport::start();
    let e = skyport.endpoint();
    for _ in 0..2 {
        let r = json(&e, "CreateQueue", r#"{"QueueName":"again"}"#);
        assert_eq!(r.status, 200, "{}", r.body);
        let url = between(&r.body, "\"QueueUrl\":\"", "\"").to_owned();
        for _ in 0..2 {
            let r = json(&e, "PurgeQueue", &format!(r#"{{"QueueUrl":"{url}"}}"#));
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let r = json(&e, "DeleteQueue", &format!(r#"{{"QueueUrl":"{url}"}}"#));
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

#[test]
fn long_polls_end_at_once_on_shutdown() {
    if !require("curl") {
        return;
    }
    let mut skyport = Skyport::start();
    let e = skyport.endpoint();
    let r = json(&e, "CreateQueue", r#"{"QueueName":"waiting"}"#);
    let url = between(&r.body, "\"QueueUrl\":\"", "\"").to_owned();
    let poll = {
        let e = e.clone();
        std::thread::spawn(move || {
            let body = format!(r#"{{"QueueUrl":"{url}","WaitTimeSeconds":20}}"#);
            json(&e, "ReceiveMessage", &body)
        })
    };
    // Let the poll start waiting, then ask Skyport to stop.
    assert!(skyport.wait_for_log("sqs.CreateQueue", std::time::Duration::from_secs(5)));
    std::thread::sleep(std::time::Duration::from_millis(500));
    let asked = std::time::Instant::now();
    skyport.signal("TERM");
    let status = skyport.wait_exit(std::time::Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(3),
        "shutdown took {:?}",
        asked.elapsed()
    );
    let reply = poll.join().unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body.trim(), "{}");
}

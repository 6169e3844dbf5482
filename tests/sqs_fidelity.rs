//! SQS behaviours where Skyport differed from AWS (issue #16, SQS section), each pinned end to end against
//! the real binary: boto3 (JSON protocol, retries off) for the behaviours, raw query-protocol requests for
//! the wire details, and `aws-sdk-sqs` (retries off) for the ones Rust clients meet first. The expected
//! values are AWS's documented or recorded answers (see docs/sqs.md, "Fidelity notes").

mod common;

use std::process::Command;

use aws_credential_types::Credentials;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Region, retry::RetryConfig};
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use common::{Options, Skyport, require, run};

fn client(endpoint: &str) -> Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

/// boto3 with retries off; every check is an `assert` naming what AWS does.
const BOTO3_SCRIPT: &str = r#"
import base64, json, sys, time, urllib.request, urllib.error
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
c = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test",
                 config=Config(retries={"max_attempts": 1, "mode": "standard"}))

def error(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        return e.response
    raise AssertionError(f"expected an error from {fn.__name__} {kw}")

def bodies(resp):
    return [m["Body"] for m in resp.get("Messages", [])]

def fifo(name, **attrs):
    attrs = {"FifoQueue": "true", **attrs}
    return c.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]

def send(url, body, group, **kw):
    return c.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, **kw)

# --- Boolean attributes take AWS's case-insensitive true/false, stored in lower case.
u = c.create_queue(QueueName="bools.fifo",
                   Attributes={"FifoQueue": "TRUE", "ContentBasedDeduplication": "True"})["QueueUrl"]
a = c.get_queue_attributes(QueueUrl=u, AttributeNames=["All"])["Attributes"]
assert a["FifoQueue"] == "true" and a["ContentBasedDeduplication"] == "true", a
c.set_queue_attributes(QueueUrl=u, Attributes={"ContentBasedDeduplication": "FALSE"})
a = c.get_queue_attributes(QueueUrl=u, AttributeNames=["ContentBasedDeduplication"])["Attributes"]
assert a["ContentBasedDeduplication"] == "false", a
s = c.create_queue(QueueName="bools", Attributes={"SqsManagedSseEnabled": "False"})["QueueUrl"]
a = c.get_queue_attributes(QueueUrl=s, AttributeNames=["SqsManagedSseEnabled"])["Attributes"]
assert a["SqsManagedSseEnabled"] == "false", a
r = error(c.create_queue, QueueName="bools2", Attributes={"SqsManagedSseEnabled": "yes"})
assert r["Error"]["Code"] == "InvalidAttributeValue", r

# --- FIFO: one group's messages together, groups in the order their first message became visible.
u = fifo("order.fifo", ContentBasedDeduplication="true")
for body, group in [("g1-m1", "g1"), ("g2-m1", "g2"), ("g2-m2", "g2"), ("g3-m1", "g3"), ("g1-m2", "g1")]:
    send(u, body, group)
time.sleep(0.05)
got = c.receive_message(QueueUrl=u, MaxNumberOfMessages=3, VisibilityTimeout=0)
assert bodies(got) == ["g1-m1", "g1-m2", "g2-m1"], bodies(got)
got = c.receive_message(QueueUrl=u, MaxNumberOfMessages=10, VisibilityTimeout=0)
assert bodies(got) == ["g3-m1", "g1-m1", "g1-m2", "g2-m1", "g2-m2"], bodies(got)

# A group whose first message is in flight delivers nothing; deleting it frees the next one.
u = fifo("inflight.fifo", ContentBasedDeduplication="true")
send(u, "m1", "g")
first = c.receive_message(QueueUrl=u)["Messages"][0]
send(u, "m2", "g")
assert bodies(c.receive_message(QueueUrl=u, MaxNumberOfMessages=10)) == []
c.delete_message(QueueUrl=u, ReceiptHandle=first["ReceiptHandle"])
assert bodies(c.receive_message(QueueUrl=u, MaxNumberOfMessages=10)) == ["m2"]

# ChangeMessageVisibility to 0 of the first of two in-flight messages: it comes back (behind a
# waiting group), the second stays in flight.
u = fifo("terminate.fifo", ContentBasedDeduplication="true", VisibilityTimeout="30")
for body, group in [("g1-m1", "g1"), ("g1-m2", "g1"), ("g2-m1", "g2")]:
    send(u, body, group)
got = c.receive_message(QueueUrl=u, MaxNumberOfMessages=2)["Messages"]
assert [m["Body"] for m in got] == ["g1-m1", "g1-m2"]
c.change_message_visibility(QueueUrl=u, ReceiptHandle=got[0]["ReceiptHandle"], VisibilityTimeout=0)
assert bodies(c.receive_message(QueueUrl=u, MaxNumberOfMessages=3)) == ["g2-m1", "g1-m1"]

# Deleting part of a group's in-flight messages keeps the group blocked; deleting all frees it.
for name, delete_both, want in [
        ("partial.fifo", False, ["g2-m1", "g2-m2", "g3-m1"]),
        ("whole.fifo", True, ["g2-m1", "g2-m2", "g1-m3", "g1-m4", "g3-m1"])]:
    u = fifo(name, ContentBasedDeduplication="true")
    for body, group in [("g1-m1", "g1"), ("g2-m1", "g2"), ("g1-m2", "g1"), ("g2-m2", "g2"),
                        ("g1-m2", "g1"), ("g1-m3", "g1"), ("g1-m4", "g1"), ("g3-m1", "g3")]:
        send(u, body, group)
    got = c.receive_message(QueueUrl=u, MaxNumberOfMessages=2)["Messages"]
    assert [m["Body"] for m in got] == ["g1-m1", "g1-m2"]
    for m in got[: 2 if delete_both else 1]:
        c.delete_message(QueueUrl=u, ReceiptHandle=m["ReceiptHandle"])
    assert bodies(c.receive_message(QueueUrl=u, MaxNumberOfMessages=10)) == want, name

# Visibility expiry: the messages before the one whose visibility was extended come back, the
# extended one and those after it stay blocked.
u = fifo("expiry.fifo", VisibilityTimeout="1")
for body in ["foo", "bar", "baz"]:
    send(u, body, "1", MessageDeduplicationId=body)
got = c.receive_message(QueueUrl=u, MaxNumberOfMessages=5)["Messages"]
assert [m["Body"] for m in got] == ["foo", "bar", "baz"]
c.change_message_visibility(QueueUrl=u, ReceiptHandle=got[1]["ReceiptHandle"], VisibilityTimeout=4)
time.sleep(2.5)
assert bodies(c.receive_message(QueueUrl=u, MaxNumberOfMessages=5)) == ["foo"]

# --- QueueUrl may be the bare queue name.
c.create_queue(QueueName="by-name")
c.send_message(QueueUrl="by-name", MessageBody="named")
assert bodies(c.receive_message(QueueUrl="by-name")) == ["named"]
r = error(c.send_message, QueueUrl="no-such-name", MessageBody="x")
assert r["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue", r

# --- ChangeMessageVisibility takes an expired handle (the message becomes invisible again) ...
u = c.create_queue(QueueName="expired", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
c.send_message(QueueUrl=u, MessageBody="test")
h = c.receive_message(QueueUrl=u)["Messages"][0]["ReceiptHandle"]
time.sleep(1.5)
c.change_message_visibility(QueueUrl=u, ReceiptHandle=h, VisibilityTimeout=30)
assert bodies(c.receive_message(QueueUrl=u)) == []
# ... and a superseded one (the message was received again since).
u = c.create_queue(QueueName="superseded")["QueueUrl"]
c.send_message(QueueUrl=u, MessageBody="test")
h1 = c.receive_message(QueueUrl=u, VisibilityTimeout=0)["Messages"][0]["ReceiptHandle"]
assert bodies(c.receive_message(QueueUrl=u, VisibilityTimeout=30)) == ["test"]
c.change_message_visibility(QueueUrl=u, ReceiptHandle=h1, VisibilityTimeout=0)
m = c.receive_message(QueueUrl=u)["Messages"][0]
c.delete_message(QueueUrl=u, ReceiptHandle=m["ReceiptHandle"])
r = error(c.change_message_visibility, QueueUrl=u, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=5)
assert r["Error"]["Message"] == (f"Value {m['ReceiptHandle']} for parameter ReceiptHandle is invalid. "
                                 "Reason: Message does not exist or is not available for visibility timeout change."), r
# A message whose visibility timeout ended is received before a newer one.
u = c.create_queue(QueueName="requeue")["QueueUrl"]
c.send_message(QueueUrl=u, MessageBody="test1")
assert bodies(c.receive_message(QueueUrl=u, VisibilityTimeout=1)) == ["test1"]
time.sleep(0.3)
c.send_message(QueueUrl=u, MessageBody="test2")
time.sleep(1)
assert bodies(c.receive_message(QueueUrl=u)) == ["test1"]
# A FIFO handle whose visibility timeout ended cannot delete.
u = fifo("late-delete.fifo", ContentBasedDeduplication="true", VisibilityTimeout="1")
send(u, "foobar", "1")
h = c.receive_message(QueueUrl=u)["Messages"][0]["ReceiptHandle"]
time.sleep(1.2)
r = error(c.delete_message, QueueUrl=u, ReceiptHandle=h)
assert r["Error"]["Code"] == "InvalidParameterValue", r
assert r["Error"]["Message"] == f"Value {h} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.", r

# --- FIFO SendMessageBatch: an entry without a group or deduplication id fails the whole request.
u = fifo("batch.fifo", ContentBasedDeduplication="false")
r = error(c.send_message_batch, QueueUrl=u, Entries=[
    {"Id": "a", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "d1"},
    {"Id": "b", "MessageBody": "x", "MessageDeduplicationId": "d2"}])
assert r["Error"]["Code"] == "InvalidParameterValue", r
assert r["Error"]["Message"] == "The request must contain the parameter MessageGroupId.", r
r = error(c.send_message_batch, QueueUrl=u, Entries=[
    {"Id": "a", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "d1"},
    {"Id": "b", "MessageBody": "x", "MessageGroupId": "g"}])
assert r["Error"]["Message"] == ("The queue should either have ContentBasedDeduplication enabled or "
                                 "MessageDeduplicationId provided explicitly"), r
assert bodies(c.receive_message(QueueUrl=u, MaxNumberOfMessages=10)) == []
# An entry with an invalid DelaySeconds fails alone (and "Failed" is absent when nothing fails).
s = c.create_queue(QueueName="batch-delay")["QueueUrl"]
out = c.send_message_batch(QueueUrl=s, Entries=[
    {"Id": "bad", "MessageBody": "x", "DelaySeconds": 901}, {"Id": "good", "MessageBody": "y"}])
assert [e["Id"] for e in out["Successful"]] == ["good"], out
assert [(e["Id"], e["Code"]) for e in out["Failed"]] == [("bad", "InvalidParameterValue")], out
out = c.send_message_batch(QueueUrl=u, Entries=[
    {"Id": "bad", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "d3", "DelaySeconds": 5},
    {"Id": "good", "MessageBody": "y", "MessageGroupId": "g", "MessageDeduplicationId": "d4"}])
assert [e["Id"] for e in out["Failed"]] == ["bad"], out
out = c.send_message_batch(QueueUrl=s, Entries=[{"Id": "a", "MessageBody": "x"}])
assert "Failed" not in out, out
out = c.delete_message_batch(QueueUrl=s, Entries=[
    {"Id": "a", "ReceiptHandle": m["ReceiptHandle"]} for m in
    c.receive_message(QueueUrl=s, MaxNumberOfMessages=10)["Messages"][:1]])
assert "Failed" not in out, out

# --- Standard queues: FIFO-only attributes are unknown (FifoQueue=false too).
for attrs, message in [
        ({"FifoQueue": "false"}, "Unknown Attribute FifoQueue."),
        ({"ContentBasedDeduplication": "false"}, "Unknown Attribute ContentBasedDeduplication."),
        ({"DeduplicationScope": "queue"}, "You can specify the DeduplicationScope only when FifoQueue is set to true."),
        ({"FifoThroughputLimit": "perQueue"}, "You can specify the FifoThroughputLimit only when FifoQueue is set to true.")]:
    r = error(c.create_queue, QueueName="std-fifo-attrs", Attributes=attrs)
    assert (r["Error"]["Code"], r["Error"]["Message"]) == ("InvalidAttributeName", message), r
for value in ["true", "false"]:
    r = error(c.set_queue_attributes, QueueUrl=s, Attributes={"FifoQueue": value})
    assert (r["Error"]["Code"], r["Error"]["Message"]) == ("InvalidAttributeName", "Unknown Attribute FifoQueue."), r
# FIFO queues: FifoQueue=true changes nothing, false is refused.
c.set_queue_attributes(QueueUrl=u, Attributes={"FifoQueue": "true"})
r = error(c.set_queue_attributes, QueueUrl=u, Attributes={"FifoQueue": "false"})
assert (r["Error"]["Code"], r["Error"]["Message"]) == (
    "InvalidAttributeValue", "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported."), r

# --- PurgeQueue clears the deduplication cache.
u = fifo("purge-dedup.fifo")
send(u, "message-1", "g", MessageDeduplicationId="same")
c.purge_queue(QueueUrl=u)
send(u, "message-2", "g", MessageDeduplicationId="same")
assert bodies(c.receive_message(QueueUrl=u, WaitTimeSeconds=1)) == ["message-2"]

# --- Message attribute names: Unicode letters are alphanumeric; symbols are not.
u = c.create_queue(QueueName="attr-names", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
c.send_message(QueueUrl=u, MessageBody="test",
               MessageAttributes={"attr.1øßä": {"StringValue": "Valida", "DataType": "String"}})
for name in ["Invalid-§-attr", "Invalid-!-attr", "Invalid-(-attr", "aWs.x", ".x", "L" * 257]:
    r = error(c.send_message, QueueUrl=u, MessageBody="test",
              MessageAttributes={name: {"StringValue": "v", "DataType": "String"}})
    assert r["Error"]["Code"] == "InvalidParameterValue", (name, r)
c.purge_queue(QueueUrl=u)
c.send_message(QueueUrl=u, MessageBody="msg", MessageAttributes={
    "Help.Me": {"DataType": "String", "StringValue": "Me"},
    "Hello": {"DataType": "String", "StringValue": "There"},
    "General": {"DataType": "String", "StringValue": "Kenobi"}})
def names(filter):
    m = c.receive_message(QueueUrl=u, MessageAttributeNames=filter)["Messages"][0]
    return sorted(m.get("MessageAttributes", {}))
assert names(["*"]) == ["General", "Hello", "Help.Me"]
assert names([".*"]) == ["General", "Hello", "Help.Me"]
assert names(["All"]) == ["General", "Hello", "Help.Me"]
assert names(["Hel.*"]) == ["Hello", "Help.Me"]
assert names(["Foo", "Hello"]) == ["Hello"]
assert names([]) == []

# --- The X-Amzn-Trace-Id header becomes the AWSTraceHeader system attribute.
trace = "Root=1-3152b799-8954dae64eda91bc9a23a7e8;Parent=7fa8c0f79203be72;Sampled=1"
def add_trace(request, **_):
    request.headers["X-Amzn-Trace-Id"] = trace
c.meta.events.register("before-send.sqs.SendMessage", add_trace)
u = c.create_queue(QueueName="traced")["QueueUrl"]
c.send_message(QueueUrl=u, MessageBody="test")
c.meta.events.unregister("before-send.sqs.SendMessage", add_trace)
m = c.receive_message(QueueUrl=u, AttributeNames=["SentTimestamp", "AWSTraceHeader"])["Messages"][0]
assert m["Attributes"]["AWSTraceHeader"] == trace, m

# --- awsJson errors: x-amzn-ErrorType carries the shape id, like __type.
r = error(c.get_queue_url, QueueName="does-not-exist")
assert r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "com.amazonaws.sqs#QueueDoesNotExist", r
assert r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"

# --- AddPermission: version 2008-10-17, one principal or action as a string, several as a list.
u = c.create_queue(QueueName="perms")["QueueUrl"]
c.add_permission(QueueUrl=u, Label="two", AWSAccountIds=["000000000000", "668614515564"], Actions=["ReceiveMessage"])
c.add_permission(QueueUrl=u, Label="one", AWSAccountIds=["000000000000"], Actions=["SendMessage", "DeleteMessage"])
p = json.loads(c.get_queue_attributes(QueueUrl=u, AttributeNames=["Policy"])["Attributes"]["Policy"])
assert p["Version"] == "2008-10-17", p
assert p["Id"] == "arn:aws:sqs:us-east-1:000000000000:perms/SQSDefaultPolicy", p
two, one = p["Statement"]
assert sorted(two["Principal"]["AWS"]) == ["arn:aws:iam::000000000000:root", "arn:aws:iam::668614515564:root"], two
assert two["Action"] == "SQS:ReceiveMessage", two
assert one["Principal"]["AWS"] == "arn:aws:iam::000000000000:root", one
assert one["Action"] == ["SQS:SendMessage", "SQS:DeleteMessage"], one
r = error(c.add_permission, QueueUrl=u, Label="one", AWSAccountIds=["668614515564"], Actions=["ReceiveMessage"])
assert r["Error"]["Message"] == "Value one for parameter Label is invalid. Reason: Already exists.", r
r = error(c.add_permission, QueueUrl=u, Label="bad", AWSAccountIds=["000000000000"], Actions=["Frobnicate"])
assert r["Error"]["Code"] == "InvalidParameterValue", r
r = error(c.add_permission, QueueUrl=u, Label="many", AWSAccountIds=["000000000000"], Actions=["SendMessage"] * 8)
assert r["Error"]["Code"] == "OverLimit", r
r = error(c.add_permission, QueueUrl=u, Label="who", AWSAccountIds=["not-an-account"], Actions=["SendMessage"])
assert r["Error"]["Code"] == "InvalidParameterValue", r

# --- Tags: at most 50 per queue (counting the ones it has), no empty keys.
r = error(c.tag_queue, QueueUrl=u, Tags={"": "v"})
assert r["Error"]["Code"] == "InvalidParameterValue", r
c.tag_queue(QueueUrl=u, Tags={f"k{i}": "v" for i in range(40)})
r = error(c.tag_queue, QueueUrl=u, Tags={f"n{i}": "v" for i in range(11)})
assert r["Error"]["Code"] == "InvalidParameterValue", r
c.tag_queue(QueueUrl=u, Tags={f"n{i}": "v" for i in range(10)})
r = error(c.create_queue, QueueName="tags", tags={f"k{i}": "v" for i in range(51)})
assert r["Error"]["Code"] == "InvalidParameterValue", r
assert len(c.list_queue_tags(QueueUrl=u)["Tags"]) == 50

# --- HTTP statuses of the model's awsQueryError traits: 404 for a bad receipt handle and a missing
# resource, 403 for a purge within 60 s (SQS_DELAY_PURGE_RETRY=1 here).
r = error(c.delete_message, QueueUrl=u, ReceiptHandle="garbage")
assert (r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]) == ("ReceiptHandleIsInvalid", 404), r
assert r["Error"]["Message"] == 'The input receipt handle "garbage" is not a valid receipt handle.', r
missing_arn = "arn:aws:sqs:us-east-1:000000000000:missing"
r = error(c.start_message_move_task, SourceArn=missing_arn)
assert (r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]) == ("ResourceNotFoundException", 404), r
c.purge_queue(QueueUrl=u)
r = error(c.purge_queue, QueueUrl=u)
assert (r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]) == ("AWS.SimpleQueueService.PurgeQueueInProgress", 403), r
# CancelMessageMoveTask tells a malformed handle, a missing queue and an unknown task apart.
r = error(c.cancel_message_move_task, TaskHandle="garbage")
assert (r["Error"]["Code"], r["Error"]["Message"]) == ("InvalidParameterValue", "Value for parameter TaskHandle is invalid."), r
def handle(arn):
    return base64.b64encode(json.dumps({"taskId": "10f57157-fc38-4da9-a113-4de7e12d05dd", "sourceArn": arn}).encode()).decode()
r = error(c.cancel_message_move_task, TaskHandle=handle(missing_arn))
assert r["Error"]["Message"] == "The resource that you specified for the SourceArn parameter doesn't exist.", r
assert r["ResponseMetadata"]["HTTPStatusCode"] == 404, r
r = error(c.cancel_message_move_task, TaskHandle=handle("arn:aws:sqs:us-east-1:000000000000:perms"))
assert (r["Error"]["Code"], r["Error"]["Message"]) == ("ResourceNotFoundException", "Task does not exist."), r

# --- The query protocol (unsigned requests to the queue URL, as AWS takes them).
def get(url, accept=None):
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.headers.get("content-type"), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type"), e.read().decode()

queue_path = endpoint + "/000000000000/perms"
status, ctype, text = get(queue_path)
assert (status, text) == (404, "<UnknownOperationException/>"), (status, text)
status, ctype, text = get(queue_path, "application/json")
assert (status, text) == (404, "<UnknownOperationException/>"), (status, text)
status, ctype, text = get(endpoint + "/000000000000/gone?Action=GetQueueAttributes&AttributeName.1=QueueArn")
assert status == 400 and "<Code>AWS.SimpleQueueService.NonExistentQueue</Code>" in text, text
assert "<Message>The specified queue does not exist for this wsdl version.</Message>" in text, text
for action in ["CreateQueue&QueueName=x", "ListQueues"]:
    status, ctype, text = get(queue_path + "?Action=" + action)
    name = action.split("&")[0]
    assert status == 400 and "<Code>InvalidAction</Code>" in text, text
    assert f"<Message>The action {name} is not valid for this endpoint.</Message>" in text, text
status, ctype, text = get(endpoint + "/?Action=ListQueues&QueueNamePrefix=perm", "application/json")
assert status == 200 and ctype.startswith("application/json"), (status, ctype)
doc = json.loads(text)
assert doc["ListQueuesResponse"]["ListQueuesResult"]["queueUrls"] == [u], doc
assert doc["ListQueuesResponse"]["ResponseMetadata"]["RequestId"]
status, ctype, text = get(queue_path + "?Action=SendMessage&MessageBody=hi", "application/json")
result = json.loads(text)["SendMessageResponse"]["SendMessageResult"]
assert result["MD5OfMessageBody"] == "49f68a5c8493ec2c0bf489821c21fc3b" and result["SequenceNumber"] is None, result
status, ctype, text = get(queue_path + "?Action=ReceiveMessage&VisibilityTimeout=0", "application/json")
messages = json.loads(text)["ReceiveMessageResponse"]["ReceiveMessageResult"]["messages"]
assert [m["Body"] for m in messages] == ["hi"], text
status, ctype, text = get(queue_path + "?Action=ListQueues", "application/json")
assert status == 400, (status, text)
doc = json.loads(text)
assert doc["Error"]["Code"] == "InvalidAction", doc
assert doc["Error"]["Message"] == "The action ListQueues is not valid for this endpoint.", doc
print("OK")
"#;

#[test]
fn boto3_and_the_query_protocol_see_aws_behaviour() {
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
    let skyport = Skyport::start_with(Options::default().env("SQS_DELAY_PURGE_RETRY", "1"));
    let (status, out, err) =
        run(Command::new("python3").args(["-c", BOTO3_SCRIPT, &skyport.endpoint()]));
    assert!(status.success(), "boto3 script failed: {out}{err}");
    assert_eq!(out.trim(), "OK");
}

fn bodies(out: &aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput) -> Vec<&str> {
    out.messages().iter().filter_map(|m| m.body()).collect()
}

#[tokio::test]
async fn aws_sdk_sqs_sees_aws_behaviour() {
    let skyport = Skyport::start();
    let sqs = client(&skyport.endpoint());

    // FifoQueue in any letter case; the queue is FIFO.
    let url = sqs
        .create_queue()
        .queue_name("sdk.fifo")
        .attributes(QueueAttributeName::FifoQueue, "True")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "TRUE")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();

    // One group's messages come together, before the next group's.
    for (body, group) in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("b2", "b")] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .message_group_id(group)
            .send()
            .await
            .unwrap();
    }
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["a1", "a2", "b1", "b2"]);

    // A batch entry without MessageGroupId fails the whole request.
    let e = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("a")
                .message_body("x")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.as_service_error().and_then(|s| s.code()),
        Some("InvalidParameterValue")
    );

    // The bare queue name works as QueueUrl; a superseded handle still changes visibility.
    sqs.create_queue()
        .queue_name("sdk-plain")
        .send()
        .await
        .unwrap();
    sqs.send_message()
        .queue_url("sdk-plain")
        .message_body("m")
        .send()
        .await
        .unwrap();
    let first = sqs
        .receive_message()
        .queue_url("sdk-plain")
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let old = first.messages()[0].receipt_handle().unwrap().to_owned();
    let again = sqs
        .receive_message()
        .queue_url("sdk-plain")
        .visibility_timeout(60)
        .send()
        .await
        .unwrap();
    assert_eq!(bodies(&again), ["m"]);
    sqs.change_message_visibility()
        .queue_url("sdk-plain")
        .receipt_handle(&old)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let back = sqs
        .receive_message()
        .queue_url("sdk-plain")
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert_eq!(bodies(&back), ["m"]);

    // `*` selects every message attribute.
    let url = sqs
        .create_queue()
        .queue_name("sdk-attrs")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    sqs.send_message()
        .queue_url(&url)
        .message_body("m")
        .message_attributes(
            "größe",
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("Number")
                .string_value("3")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("*")
        .send()
        .await
        .unwrap();
    let attrs = got.messages()[0].message_attributes().unwrap();
    assert_eq!(attrs["größe"].string_value(), Some("3"));
}

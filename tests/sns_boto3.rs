//! SNS through boto3 against the real binary: fan-out to queues (the envelope, raw delivery, a filter
//! policy on attributes and one on the body), a FIFO topic to a FIFO queue (order, deduplication),
//! PublishBatch, an HTTP endpoint served by Python that confirms through its SubscribeURL and then
//! fails every notification (retried, then dead-lettered), and every error path with AWS's code as
//! boto3 models it (`NotFoundException`, `InvalidParameterException`, ...).

mod common;

use std::process::Command;

use common::{Options, Skyport, require, run};

const BOTO3: &str = r#"
import json, sys, threading, time, urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
import boto3
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="test", aws_secret_access_key="test")
sns = boto3.client("sns", **kw)
sqs = boto3.client("sqs", **kw)

def queue(name, **attrs):
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn

def drain(url, want, timeout=10):
    got, deadline = [], time.time() + timeout
    while len(got) < want:
        assert time.time() < deadline, (url, want, got)
        out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  MessageAttributeNames=["All"])
        for m in out.get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            got.append(m)
    return got

def code(fn, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise SystemExit(f"expected an error from {fn.__name__} {kwargs}")

# Fan-out: one raw queue, one filtered on attributes, one filtered on the body.
topic = sns.create_topic(Name="orders", Attributes={"DisplayName": "Orders"})["TopicArn"]
raw_url, raw_arn = queue("raw")
attr_url, attr_arn = queue("attr")
body_url, body_arn = queue("body")
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw_arn,
              Attributes={"RawMessageDelivery": "true"})
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=attr_arn,
              Attributes={"FilterPolicy": json.dumps({"store": ["north"], "price": [{"numeric": ["<", 100]}]})})
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=body_arn,
              Attributes={"FilterPolicyScope": "MessageBody",
                          "FilterPolicy": json.dumps({"$or": [{"kind": ["refund"]}, {"amount": [{"numeric": [">", 1000]}]}]})})
sns.publish(TopicArn=topic, Message="cheap north", MessageAttributes={
    "store": {"DataType": "String", "StringValue": "north"},
    "price": {"DataType": "Number", "StringValue": "99.5"}})
sns.publish(TopicArn=topic, Message=json.dumps({"kind": "sale", "amount": 5000}), MessageAttributes={
    "store": {"DataType": "String", "StringValue": "south"}})
sns.publish(TopicArn=topic, Message=json.dumps({"kind": "sale", "amount": 5}))
raw = drain(raw_url, 3)
assert "cheap north" in [m["Body"] for m in raw], raw
north = [m for m in raw if m["Body"] == "cheap north"][0]
assert north["MessageAttributes"]["price"] == {"DataType": "Number", "StringValue": "99.5"}, north
by_attr = drain(attr_url, 1)
env = json.loads(by_attr[0]["Body"])
assert env["Type"] == "Notification" and env["Message"] == "cheap north", env
assert env["MessageAttributes"]["store"] == {"Type": "String", "Value": "north"}, env
assert env["SignatureVersion"] == "1" and env["Signature"] and env["SigningCertURL"].startswith("https://sns."), env
by_body = drain(body_url, 1)
assert json.loads(json.loads(by_body[0]["Body"])["Message"])["amount"] == 5000, by_body
time.sleep(0.5)
for url in (attr_url, body_url):
    assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages"), url

# PublishBatch.
out = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
    {"Id": "1", "Message": "b1"}, {"Id": "2", "Message": "b2", "MessageDeduplicationId": "x"}])
assert [s["Id"] for s in out["Successful"]] == ["1"], out
assert out["Failed"][0]["Id"] == "2" and out["Failed"][0]["Code"] == "InvalidParameter", out
assert drain(raw_url, 1)[0]["Body"] == "b1"

# A FIFO topic to a FIFO queue: group order and deduplication.
fifo = sns.create_topic(Name="jobs.fifo", Attributes={"FifoTopic": "true",
                                                        "ContentBasedDeduplication": "true"})["TopicArn"]
fq_url, fq_arn = queue("jobs.fifo", FifoQueue="true")
sns.subscribe(TopicArn=fifo, Protocol="sqs", Endpoint=fq_arn, Attributes={"RawMessageDelivery": "true"})
ids = [sns.publish(TopicArn=fifo, Message=f"job {i}", MessageGroupId="g")["MessageId"] for i in range(5)]
again = sns.publish(TopicArn=fifo, Message="job 2", MessageGroupId="g")
assert again["MessageId"] == ids[2], (again, ids)
bodies = []
while len(bodies) < 5:
    bodies += [m["Body"] for m in drain(fq_url, 1)]
assert bodies == [f"job {i}" for i in range(5)], bodies

# An HTTP endpoint: confirms through SubscribeURL, then fails every notification.
seen = []
class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        kind = self.headers["x-amz-sns-message-type"]
        seen.append((kind, body))
        if kind == "SubscriptionConfirmation":
            urllib.request.urlopen(body["SubscribeURL"]).read()
            self.send_response(200)
        else:
            self.send_response(503)
        self.end_headers()
    def log_message(self, *args):
        pass
server = HTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=server.serve_forever, daemon=True).start()
dlq_url, dlq_arn = queue("hook-dlq")
web = sns.create_topic(Name="web")["TopicArn"]
pending = sns.subscribe(TopicArn=web, Protocol="http", Endpoint=f"http://127.0.0.1:{server.server_port}/",
                        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})})
assert pending["SubscriptionArn"] == "pending confirmation", pending
deadline = time.time() + 10
while True:
    subs = sns.list_subscriptions_by_topic(TopicArn=web)["Subscriptions"]
    if subs[0]["SubscriptionArn"] != "PendingConfirmation":
        break
    assert time.time() < deadline, subs
    time.sleep(0.05)
sub = subs[0]["SubscriptionArn"]
attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
assert attrs["PendingConfirmation"] == "false", attrs
mid = sns.publish(TopicArn=web, Message="undeliverable")["MessageId"]
dead = json.loads(drain(dlq_url, 1)[0]["Body"])
assert dead["MessageId"] == mid, dead
notes = [b for k, b in seen if k == "Notification"]
assert len(notes) == 4, len(notes)  # AWS's default policy: the attempt and 3 retries

# Errors with AWS's codes.
missing = "arn:aws:sns:us-east-1:000000000000:missing"
assert code(sns.get_topic_attributes, TopicArn=missing) == ("NotFound", "Topic does not exist")
assert code(sns.publish, TopicArn=missing, Message="x")[0] == "NotFound"
assert code(sns.get_subscription_attributes, SubscriptionArn=missing + ":abc") == ("NotFound", "Subscription does not exist")
assert code(sns.create_topic, Name="bad.name") == ("InvalidParameter", "Invalid parameter: Topic Name")
assert code(sns.subscribe, TopicArn=topic, Protocol="smoke", Endpoint="x")[0] == "InvalidParameter"
assert code(sns.publish, TopicArn=topic, Message="")[0] == "InvalidParameter"
assert code(sns.publish, TopicArn=fifo, Message="x") == (
    "InvalidParameter", "Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
assert code(sns.publish, TopicArn=topic, Message="x", MessageAttributes={
    "n": {"DataType": "Number", "StringValue": "ten"}})[0] == "ParameterValueInvalid"
assert code(sns.publish_batch, TopicArn=topic, PublishBatchRequestEntries=[]) == (
    "EmptyBatchRequest", "The batch request doesn't contain any entries.")
assert code(sns.publish_batch, TopicArn=topic, PublishBatchRequestEntries=[
    {"Id": "a", "Message": "1"}, {"Id": "a", "Message": "2"}])[0] == "BatchEntryIdsNotDistinct"
assert code(sns.set_subscription_attributes, SubscriptionArn=sub, AttributeName="FilterPolicy",
            AttributeValue="{not json")[0] == "InvalidParameter"
assert code(sns.list_tags_for_resource, ResourceArn=missing)[0] == "ResourceNotFound"
try:
    sns.get_topic_attributes(TopicArn=missing)
except sns.exceptions.NotFoundException:
    pass
print("boto3 ok")
"#;

#[test]
fn boto3_fan_out_fifo_http_and_errors() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start_with(Options::default().env("SKYPORT_SNS_RETRY_SECOND_MS", "5"));
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(BOTO3)
        .arg(skyport.endpoint())
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert!(out.contains("boto3 ok"), "{out}");
}

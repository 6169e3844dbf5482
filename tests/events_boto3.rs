//! EventBridge through boto3 against the real binary: a custom bus, a rule with an InputTransformer to
//! an SQS queue, PutEvents with a bad entry beside a good one, TestEventPattern, and botocore's view of
//! AWS's errors (codes and messages).

mod common;

use std::process::Command;

use common::{Skyport, require, run};

const BOTO3: &str = r#"
import json, sys, time
import boto3, botocore

endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="test", aws_secret_access_key="test")
events = boto3.client("events", **kw)
sqs = boto3.client("sqs", **kw)

def error(call, **args):
    try:
        call(**args)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError("no error")

url = sqs.create_queue(QueueName="boto3-events")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

bus_arn = events.create_event_bus(Name="app")["EventBusArn"]
assert bus_arn == "arn:aws:events:us-east-1:000000000000:event-bus/app", bus_arn
assert error(events.create_event_bus, Name="app") == ("ResourceAlreadyExistsException", "Event bus app already exists.")
events.put_rule(Name="signups", EventBusName="app",
                EventPattern=json.dumps({"detail-type": ["Signup"], "detail": {"plan": [{"prefix": "pro"}]}}))
events.put_targets(Rule="signups", EventBusName="app", Targets=[{
    "Id": "q", "Arn": arn,
    "InputTransformer": {"InputPathsMap": {"user": "$.detail.user", "plan": "$.detail.plan"},
                         "InputTemplate": '"<user> signed up for <plan>"'}}])
rules = events.list_rules(EventBusName="app")["Rules"]
assert [r["Name"] for r in rules] == ["signups"], rules

out = events.put_events(Entries=[
    {"Source": "app.users", "DetailType": "Signup", "Detail": json.dumps({"user": "ada", "plan": "pro-annual"}),
     "EventBusName": "app"},
    {"Source": "app.users", "DetailType": "Signup", "Detail": "[]", "EventBusName": "app"},
])
assert out["FailedEntryCount"] == 1, out
assert out["Entries"][1] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}, out

deadline = time.time() + 10
bodies = []
while not bodies and time.time() < deadline:
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])]
assert bodies == ['"ada signed up for pro-annual"'], bodies

event = json.dumps({"id": "1", "account": "000000000000", "source": "app.users", "time": "2026-12-07T00:00:00Z",
                    "region": "us-east-1", "detail-type": "Signup", "resources": [], "detail": {"plan": "free"}})
assert events.test_event_pattern(EventPattern=json.dumps({"detail": {"plan": ["free"]}}), Event=event)["Result"] is True
code, message = error(events.test_event_pattern, EventPattern='{"detail": {"plan": "free"}}', Event=event)
assert code == "InvalidEventPatternException" and message.startswith("Event pattern is not valid. Reason: "), message
assert error(events.delete_rule, Name="signups", EventBusName="app") == \
    ("ValidationException", "Rule can't be deleted since it has targets.")
assert error(events.describe_rule, Name="nope") == \
    ("ResourceNotFoundException", "Rule nope does not exist on EventBus default.")
code, _ = error(events.put_events, Entries=[{"Source": "a", "DetailType": "b", "Detail": "{}"}] * 11)
assert code == "ValidationException", code
code, _ = error(events.create_archive, ArchiveName="a", EventSourceArn=bus_arn)
assert code == "NotImplemented", code
print("boto3 ok")
"#;

#[test]
fn boto3_buses_rules_transformers_and_errors() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(BOTO3)
        .arg(skyport.endpoint())
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert!(out.contains("boto3 ok"), "{out}");
}

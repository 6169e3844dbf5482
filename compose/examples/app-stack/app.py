"""The application: plain boto3 with no endpoint configuration. It talks to "AWS" by the real names
(https://<bucket>.s3.amazonaws.com, https://sqs.us-east-1.amazonaws.com), which the stack's DNS points at
Skyport. Credentials and region come from the environment, the CA bundle from AWS_CA_BUNDLE."""

import os
import socket
import urllib.parse

import boto3

BUCKET = os.environ.get("APP_BUCKET", "app-stack-bucket")
QUEUE = os.environ.get("APP_QUEUE", "app-stack-queue")

# Observation only (not configuration): record which hosts the SDK sends requests to.
hosts = set()
boto3.setup_default_session()
boto3.DEFAULT_SESSION.events.register(
    "before-send", lambda request, **_: hosts.add(urllib.parse.urlsplit(request.url).netloc)
)

print("s3.amazonaws.com ->", socket.gethostbyname("s3.amazonaws.com"), flush=True)

s3 = boto3.client("s3")
s3.create_bucket(Bucket=BUCKET)
s3.put_object(Bucket=BUCKET, Key="greeting.txt", Body=b"hello from the app container")
body = s3.get_object(Bucket=BUCKET, Key="greeting.txt")["Body"].read()
assert body == b"hello from the app container", body
names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
assert BUCKET in names, names
print("s3 endpoint:", s3.meta.endpoint_url, "object:", body.decode(), flush=True)

sqs = boto3.client("sqs")
url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
sqs.send_message(QueueUrl=url, MessageBody="hello queue")
messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
assert [m["Body"] for m in messages] == ["hello queue"], messages
print("sqs endpoint:", sqs.meta.endpoint_url, "queue:", url, flush=True)
print("hosts:", " ".join(sorted(hosts)), flush=True)
print("APP-STACK OK", flush=True)

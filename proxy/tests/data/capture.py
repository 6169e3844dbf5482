"""Captures real SDK requests (head + first body bytes) for the router table test.

Run: python3 proxy/tests/data/capture.py > proxy/tests/data/requests.txt
botocore builds and signs each request exactly as it would send it; a `before-send` hook records it and
returns a canned response, so nothing leaves the process.
"""
import json
import sys

import boto3
import botocore
from botocore.awsrequest import AWSResponse
from botocore.config import Config

captured = []


def grab(request, **kwargs):
    body = request.body or b""
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    captured.append({"method": request.method, "url": request.url,
                     "headers": {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()},
                     "body": body[:200].decode("latin-1")})
    raw = botocore.response.StreamingBody(__import__("io").BytesIO(b""), 0)
    return AWSResponse(request.url, 599, {}, raw)


def client(service, endpoint, region="us-east-1", **cfg):
    c = boto3.client(service, region_name=region, endpoint_url=endpoint, aws_access_key_id="123456789012",
                     aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}, **cfg))
    c.meta.events.register("before-send", grab)
    return c


def call(label, expect, fn):
    start = len(captured)
    try:
        fn()
    except Exception:
        pass
    for req in captured[start:]:
        req["label"], req["expect"] = label, expect
        print(json.dumps(req))


EP = "http://localhost.localstack.cloud:4566"
call("sts get-caller-identity", "sts query", lambda: client("sts", EP).get_caller_identity())
call("sts assume-role via real host", "sts query",
     lambda: client("sts", "https://sts.us-west-2.amazonaws.com", "us-west-2").assume_role(RoleArn="arn:aws:iam::123456789012:role/deployer", RoleSessionName="s"))
call("sqs send (json)", "sqs json1.0", lambda: client("sqs", EP).send_message(QueueUrl=EP + "/000000000000/q", MessageBody="hi"))
call("sqs create via real host", "sqs json1.0", lambda: client("sqs", "https://sqs.eu-west-1.amazonaws.com", "eu-west-1").create_queue(QueueName="q"))
call("s3 list buckets", "s3 rest-xml", lambda: client("s3", EP).list_buckets())
call("s3 put object path style", "s3 rest-xml",
     lambda: client("s3", EP, s3={"addressing_style": "path"}).put_object(Bucket="b", Key="k/1.txt", Body=b"hello"))
call("s3 get object virtual host amazonaws", "s3 rest-xml",
     lambda: client("s3", None, "us-east-1").get_object(Bucket="my-bucket", Key="a/b"))
call("s3 head bucket virtual host localstack", "s3 rest-xml",
     lambda: client("s3", EP, s3={"addressing_style": "virtual"}).head_bucket(Bucket="vhost-bucket"))
call("dynamodb list tables", "dynamodb json1.0", lambda: client("dynamodb", EP).list_tables())
call("lambda list functions", "lambda rest-json", lambda: client("lambda", EP).list_functions())
call("lambda invoke", "lambda rest-json", lambda: client("lambda", EP).invoke(FunctionName="f", Payload=b"{}"))
call("ecr describe repositories", "ecr json1.1", lambda: client("ecr", EP).describe_repositories())
call("logs describe log groups", "logs json1.1", lambda: client("logs", EP).describe_log_groups())

# Presigned S3 URLs: no Authorization header, the credential is in the query string.
s3 = client("s3", EP, s3={"addressing_style": "path"})
url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60)
print(json.dumps({"label": "s3 presigned get (sigv4 query)", "expect": "s3 rest-xml", "method": "GET", "url": url, "headers": {}, "body": ""}))
s3v = client("s3", None, "eu-central-1", signature_version="s3v4")
url = s3v.generate_presigned_url("put_object", Params={"Bucket": "vb", "Key": "k"}, ExpiresIn=60)
print(json.dumps({"label": "s3 presigned put virtual host", "expect": "s3 rest-xml", "method": "PUT", "url": url, "headers": {}, "body": ""}))

"""The Python test function for Skyport's Lambda tests (runtime python3.11, handler `handler.main`).

The code has no endpoint configuration at all: boto3's default clients call AWS's real hostnames
(`sts.<region>.amazonaws.com`, `<bucket>.s3...amazonaws.com`, `sqs.<region>.amazonaws.com`) and verify
TLS (botocore takes its CA bundle from AWS_CA_BUNDLE); inside Skyport's Lambda the container's DNS server
and CA bundle make those names reach Skyport.

Event keys, in the order they are handled (the same contract as ../rust_callback):
- `print`: printed to stdout (the function's log);
- `sleep`: seconds to sleep;
- `exit`: `os._exit(int(exit))` at once (no response is sent);
- `fail`: raises `ValueError(fail)`;
- `echo_size`: returns a string of that many bytes ("xxx..."), nothing else is done;
- `resolve`: a host name (a compose service, say) to look up; returns `{"resolved": address}` only;
- `fetch`: an HTTPS URL to GET with the default TLS verification (a function URL by its real name, say);
  returns `{"status": code, "body": text}` only;
- `bucket` + `key` + `body`: PutObject with virtual-host addressing;
- `queue` (a queue name) + `message`: GetQueueUrl + SendMessage;

then returns `{"identity": STS GetCallerIdentity without ResponseMetadata, "env": {selected variables
that are set}, "request_id", "remaining_ms"}`, plus `"put": {"ETag"}` and `"sent": {"MessageId",
"QueueUrl"}` when those calls were made, and `"layer"` (the `GREETING` of the `callback_layer` module) when
a layer of the function provides that module in /opt/python.
"""

import os
import time

import boto3
from botocore.config import Config

# The environment variables the response reports (those that are set), the same list as the Rust
# function's; also every variable whose name starts with TEST_ (a function's own configuration).
ENV_KEYS = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_EXECUTION_ENV",
    "AWS_XRAY_CONTEXT_MISSING",
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "TZ",
    "LANG",
    "PATH",
    "LD_LIBRARY_PATH",
    "PYTHONPATH",
    "SSL_CERT_FILE",
    "AWS_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
)

# botocore reads AWS_DEFAULT_REGION, not AWS_REGION; Lambda sets both, the region comes from AWS_REGION.
REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")

try:
    import callback_layer  # from a layer (/opt/python), when the function has one
except ImportError:
    callback_layer = None

# Created at init like any Lambda function's clients (no network traffic until the first call).
s3 = boto3.client("s3", region_name=REGION, config=Config(s3={"addressing_style": "virtual"}))
sqs = boto3.client("sqs", region_name=REGION)
sts = boto3.client("sts", region_name=REGION)


def main(event, context):
    event = event if isinstance(event, dict) else {}

    if event.get("print"):
        print(event["print"])
    if event.get("sleep"):
        time.sleep(float(event["sleep"]))
    if event.get("exit"):
        os._exit(int(event["exit"]))
    if event.get("fail"):
        raise ValueError(event["fail"])
    if event.get("echo_size"):
        return "x" * int(event["echo_size"])
    if event.get("resolve"):
        import socket
        return {"resolved": socket.gethostbyname(event["resolve"])}
    if event.get("fetch"):
        import urllib.request
        with urllib.request.urlopen(event["fetch"], timeout=30) as reply:
            return {"status": reply.status, "body": reply.read().decode()}

    response = {}
    if all(k in event for k in ("bucket", "key", "body")):
        put = s3.put_object(Bucket=event["bucket"], Key=event["key"], Body=str(event["body"]).encode())
        response["put"] = {"ETag": put.get("ETag")}
    if "queue" in event:
        url = sqs.get_queue_url(QueueName=event["queue"])["QueueUrl"]
        sent = sqs.send_message(QueueUrl=url, MessageBody=str(event.get("message", "")))
        response["sent"] = {"MessageId": sent.get("MessageId"), "QueueUrl": url}

    identity = sts.get_caller_identity()
    identity.pop("ResponseMetadata", None)
    response["identity"] = identity
    response["env"] = {k: v for k, v in os.environ.items() if k in ENV_KEYS or k.startswith("TEST_")}
    response["request_id"] = context.aws_request_id
    response["remaining_ms"] = context.get_remaining_time_in_millis()
    if callback_layer is not None:
        response["layer"] = callback_layer.GREETING
    return response

"""testcontainers-python's LocalStack module against Skyport's image (tests/docker.rs runs this).

Usage: python3 localstack_module.py IMAGE   (with TESTCONTAINERS_RYUK_DISABLED=true where Ryuk cannot
be pulled). Starts the container the way the module does (it waits for `Ready.` in the log), then uses S3
and SQS through the URL and clients the module gives, and prints `OK s3 sqs` and the start time.
"""

import sys
import time
import warnings

try:
    from testcontainers.community.localstack import LocalStackContainer
except ImportError:  # testcontainers < 4.15
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from testcontainers.localstack import LocalStackContainer

image = sys.argv[1]
started = time.monotonic()
with LocalStackContainer(image=image, region_name="us-east-1").with_services("s3", "sqs") as localstack:
    took = time.monotonic() - started
    url = localstack.get_url()
    s3 = localstack.get_client("s3")
    s3.create_bucket(Bucket="tc-bucket")
    s3.put_object(Bucket="tc-bucket", Key="hello.txt", Body=b"from testcontainers")
    body = s3.get_object(Bucket="tc-bucket", Key="hello.txt")["Body"].read()
    assert body == b"from testcontainers", body
    sqs = localstack.get_client("sqs")
    queue = sqs.create_queue(QueueName="tc-queue")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="hi")
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    assert messages[0]["Body"] == "hi", messages
    print(f"OK s3 sqs at {url}; container started and Ready. in {took:.2f} s")

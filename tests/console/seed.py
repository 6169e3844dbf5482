"""Creates one resource or more of every kind the console browses, with boto3 (tests/console.rs).

Usage: seed.py ENDPOINT
"""
import io
import json
import sys
import zipfile

import boto3

endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")

s3 = boto3.client("s3", **kw)
s3.create_bucket(Bucket="console-demo")
s3.create_bucket(Bucket="website-assets")
s3.put_object(Bucket="console-demo", Key="reports/2026/summary.json", Body=b'{"total": 42}')
s3.put_object(Bucket="console-demo", Key="hello.txt", Body=b"hello from boto3\n")

sqs = boto3.client("sqs", **kw)
dlq = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
orders = sqs.create_queue(
    QueueName="orders",
    Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})},
)["QueueUrl"]
for i in range(3):
    sqs.send_message(QueueUrl=orders, MessageBody=json.dumps({"order": i + 1, "item": "book"}))
orders_arn = sqs.get_queue_attributes(QueueUrl=orders, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

ddb = boto3.client("dynamodb", **kw)
ddb.create_table(
    TableName="users",
    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    BillingMode="PAY_PER_REQUEST",
)
for uid, name, age in [("u1", "Ada", 36), ("u2", "Grace", 45), ("u3", "Linus", 28)]:
    ddb.put_item(TableName="users", Item={"id": {"S": uid}, "name": {"S": name}, "age": {"N": str(age)}})

sns = boto3.client("sns", **kw)
topic = sns.create_topic(Name="alerts")["TopicArn"]
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=orders_arn)

events = boto3.client("events", **kw)
events.put_rule(Name="order-created", EventPattern=json.dumps({"source": ["shop"], "detail-type": ["OrderCreated"]}))
events.put_targets(Rule="order-created", Targets=[{"Id": "orders", "Arn": orders_arn}])
events.put_rule(Name="nightly", ScheduleExpression="rate(1 day)")

iam = boto3.client("iam", **kw)
role = iam.create_role(
    RoleName="lambda-exec",
    AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }),
)["Role"]["Arn"]
iam.create_user(UserName="ci-bot")

code = io.BytesIO()
with zipfile.ZipFile(code, "w") as z:
    z.writestr("app.py", "def handler(event, context):\n    print('got', event)\n    return {'ok': True}\n")
lam = boto3.client("lambda", **kw)
lam.create_function(
    FunctionName="hello", Runtime="python3.12", Role=role, Handler="app.handler",
    Code={"ZipFile": code.getvalue()}, Environment={"Variables": {"STAGE": "dev"}},
)

logs = boto3.client("logs", **kw)
logs.create_log_group(logGroupName="/aws/lambda/hello")
logs.create_log_stream(logGroupName="/aws/lambda/hello", logStreamName="2026/01/01/[$LATEST]abc")
import time
now = int(time.time() * 1000)
logs.put_log_events(
    logGroupName="/aws/lambda/hello", logStreamName="2026/01/01/[$LATEST]abc",
    logEvents=[{"timestamp": now, "message": "START RequestId: 1 Version: $LATEST"},
               {"timestamp": now + 1, "message": "got {'order': 1}"},
               {"timestamp": now + 2, "message": "END RequestId: 1"}],
)

ecr = boto3.client("ecr", **kw)
ecr.create_repository(repositoryName="shop/api")
print("seeded")

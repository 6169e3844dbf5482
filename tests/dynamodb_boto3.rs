//! DynamoDB through boto3 (the client, and the `Table` resource with `batch_writer` and
//! `boto3.dynamodb.conditions`) and the AWS CLI v1 against the real binary. botocore checks every
//! response's `x-amz-crc32` header against its body, so these also prove the checksum. boto3's
//! `dynamodbstreams` client reads a table's stream.

mod common;

use std::process::Command;

use common::{Skyport, require, run};

const BOTO3: &str = r#"
import sys
from decimal import Decimal
import boto3, botocore
from boto3.dynamodb.conditions import Key, Attr

endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="test", aws_secret_access_key="test")
client = boto3.client("dynamodb", **kw)
resource = boto3.resource("dynamodb", **kw)

table = resource.create_table(
    TableName="music",
    KeySchema=[{"AttributeName": "artist", "KeyType": "HASH"},
               {"AttributeName": "song", "KeyType": "RANGE"}],
    AttributeDefinitions=[{"AttributeName": "artist", "AttributeType": "S"},
                          {"AttributeName": "song", "AttributeType": "S"},
                          {"AttributeName": "year", "AttributeType": "N"}],
    GlobalSecondaryIndexes=[{"IndexName": "by-year",
                             "KeySchema": [{"AttributeName": "year", "KeyType": "HASH"}],
                             "Projection": {"ProjectionType": "ALL"}}],
    BillingMode="PAY_PER_REQUEST")
table.wait_until_exists()
table.reload()
assert table.table_status == "ACTIVE", table.table_status
client.get_waiter("table_exists").wait(TableName="music")

# batch_writer: 60 puts in batches of 25, with overwrite of duplicates.
with table.batch_writer(overwrite_by_pkeys=["artist", "song"]) as batch:
    for i in range(60):
        batch.put_item(Item={"artist": "a%d" % (i % 3), "song": "s%02d" % i,
                             "year": 1990 + i % 5, "plays": Decimal(i) / 4, "tags": {"x", "y"}})
assert client.scan(TableName="music", Select="COUNT")["Count"] == 60

got = table.get_item(Key={"artist": "a0", "song": "s03"}, ConsistentRead=True)["Item"]
assert got["plays"] == Decimal("0.75") and got["tags"] == {"x", "y"}, got

# Key conditions and Attr filters from boto3.dynamodb.conditions.
out = table.query(KeyConditionExpression=Key("artist").eq("a1") & Key("song").begins_with("s1"),
                  FilterExpression=Attr("plays").gt(Decimal(3)) & Attr("tags").contains("x"),
                  ScanIndexForward=False)
songs = [i["song"] for i in out["Items"]]
assert songs == ["s19", "s16", "s13"], songs
assert out["ScannedCount"] == 4, out
out = table.query(KeyConditionExpression=Key("artist").eq("a2") & Key("song").between("s20", "s30"))
assert [i["song"] for i in out["Items"]] == ["s20", "s23", "s26", "s29"], out["Items"]
out = table.scan(FilterExpression=Attr("year").is_in([1990, 1991]) & Attr("missing").not_exists())
assert out["Count"] == 24, out["Count"]
out = table.query(IndexName="by-year", KeyConditionExpression=Key("year").eq(1992))
assert out["Count"] == 12, out["Count"]

# The scan paginator walks every page.
pages = client.get_paginator("scan").paginate(TableName="music", PaginationConfig={"PageSize": 7})
assert sum(p["Count"] for p in pages) == 60

# update_item through the resource, with ReturnValues.
r = table.update_item(Key={"artist": "a0", "song": "s00"},
                      UpdateExpression="SET plays = plays + :one ADD tags :t",
                      ExpressionAttributeValues={":one": 1, ":t": {"z"}},
                      ReturnValues="UPDATED_NEW")
assert r["Attributes"] == {"plays": Decimal(1), "tags": {"x", "y", "z"}}, r

# Errors come back as modeled exceptions.
try:
    table.put_item(Item={"artist": "a0", "song": "s00"}, ConditionExpression=Attr("artist").not_exists())
    raise SystemExit("expected a conditional check failure")
except client.exceptions.ConditionalCheckFailedException as e:
    assert e.response["Error"]["Message"] == "The conditional request failed", e.response
try:
    client.describe_table(TableName="absent")
    raise SystemExit("expected ResourceNotFoundException")
except client.exceptions.ResourceNotFoundException as e:
    assert e.response["Error"]["Message"] == "Requested resource not found: Table: absent not found"
try:
    client.transact_write_items(TransactItems=[
        {"ConditionCheck": {"TableName": "music", "Key": {"artist": {"S": "a0"}, "song": {"S": "s00"}},
                            "ConditionExpression": "attribute_not_exists(artist)"}},
        {"Put": {"TableName": "music", "Item": {"artist": {"S": "new"}, "song": {"S": "x"}}}}])
    raise SystemExit("expected a cancelled transaction")
except client.exceptions.TransactionCanceledException as e:
    reasons = [r["Code"] for r in e.response["CancellationReasons"]]
    assert reasons == ["ConditionalCheckFailed", "None"], e.response
assert "Item" not in table.get_item(Key={"artist": "new", "song": "x"})

# batch_get_item through the resource.
got = resource.batch_get_item(RequestItems={"music": {"Keys": [{"artist": "a0", "song": "s00"},
                                                              {"artist": "a1", "song": "s01"}]}})
assert len(got["Responses"]["music"]) == 2, got

with table.batch_writer() as batch:
    for i in range(60):
        batch.delete_item(Key={"artist": "a%d" % (i % 3), "song": "s%02d" % i})
assert client.scan(TableName="music", Select="COUNT")["Count"] == 0
table.delete()
table.wait_until_not_exists()
print("boto3 ok")
"#;

#[test]
fn boto3_client_resource_batch_writer_and_conditions() {
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

const BOTO3_STREAMS: &str = r#"
import sys
import boto3
from boto3.dynamodb.types import TypeDeserializer

endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="test", aws_secret_access_key="test")
ddb = boto3.client("dynamodb", **kw)
streams = boto3.client("dynamodbstreams", **kw)

desc = ddb.create_table(
    TableName="events",
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                          {"AttributeName": "sk", "AttributeType": "N"}],
    BillingMode="PAY_PER_REQUEST",
    StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})["TableDescription"]
arn = desc["LatestStreamArn"]
assert desc["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}, desc
table = boto3.resource("dynamodb", **kw).Table("events")
with table.batch_writer() as batch:
    for i in range(30):
        batch.put_item(Item={"pk": "p", "sk": i, "n": i * 2})
table.update_item(Key={"pk": "p", "sk": 0}, UpdateExpression="SET n = n + :one",
                  ExpressionAttributeValues={":one": 1})

listed = streams.list_streams(TableName="events")["Streams"]
assert [s["StreamArn"] for s in listed] == [arn], listed
d = streams.describe_stream(StreamArn=arn)["StreamDescription"]
assert d["StreamStatus"] == "ENABLED" and d["StreamViewType"] == "NEW_IMAGE", d
assert [k["KeyType"] for k in d["KeySchema"]] == ["HASH", "RANGE"], d
shard = d["Shards"][0]["ShardId"]
it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
records = []
while it:
    out = streams.get_records(ShardIterator=it, Limit=7)
    if not out["Records"]:
        break
    records += out["Records"]
    it = out.get("NextShardIterator")
assert len(records) == 31, len(records)
de = TypeDeserializer()
last = records[-1]
assert last["eventName"] == "MODIFY", last
assert last["eventSource"] == "aws:dynamodb" and last["awsRegion"] == "us-east-1", last
image = {k: de.deserialize(v) for k, v in last["dynamodb"]["NewImage"].items()}
assert image == {"pk": "p", "sk": 0, "n": 1}, image
assert "OldImage" not in last["dynamodb"], last
assert hasattr(last["dynamodb"]["ApproximateCreationDateTime"], "timestamp"), last
seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
assert seqs == sorted(seqs) and len(set(seqs)) == 31, seqs

try:
    streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="AFTER_SEQUENCE_NUMBER")
    raise SystemExit("a missing SequenceNumber must fail")
except streams.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "ValidationException", e.response
try:
    streams.describe_stream(StreamArn=arn + "x")
    raise SystemExit("an unknown stream must fail")
except streams.exceptions.ResourceNotFoundException as e:
    pass
print("streams ok")
"#;

#[test]
fn boto3_dynamodbstreams_reads_every_change() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(BOTO3_STREAMS)
        .arg(skyport.endpoint())
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert!(out.contains("streams ok"), "{out}");
}

fn aws(endpoint: &str, args: &[&str]) -> (bool, String, String) {
    let (status, out, err) = run(Command::new("aws")
        .arg("--endpoint-url")
        .arg(endpoint)
        .arg("--region")
        .arg("us-east-1")
        .arg("--output")
        .arg("json")
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_PAGER", ""));
    (status.success(), out, err)
}

#[test]
fn aws_cli_create_put_query() {
    if !require("aws") {
        return;
    }
    let skyport = Skyport::start();
    let endpoint = skyport.endpoint();
    let (ok, out, err) = aws(
        &endpoint,
        &[
            "dynamodb",
            "create-table",
            "--table-name",
            "cli",
            "--attribute-definitions",
            "AttributeName=id,AttributeType=S",
            "AttributeName=n,AttributeType=N",
            "--key-schema",
            "AttributeName=id,KeyType=HASH",
            "AttributeName=n,KeyType=RANGE",
            "--billing-mode",
            "PAY_PER_REQUEST",
        ],
    );
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("\"TableStatus\": \"CREATING\""), "{out}");
    let (ok, _, err) = aws(
        &endpoint,
        &["dynamodb", "wait", "table-exists", "--table-name", "cli"],
    );
    assert!(ok, "{err}");
    for n in ["1", "2", "3"] {
        let item =
            format!(r#"{{"id": {{"S": "x"}}, "n": {{"N": "{n}"}}, "note": {{"S": "v{n}"}}}}"#);
        let (ok, out, err) = aws(
            &endpoint,
            &[
                "dynamodb",
                "put-item",
                "--table-name",
                "cli",
                "--item",
                &item,
            ],
        );
        assert!(ok, "{out}\n{err}");
    }
    let (ok, out, err) = aws(
        &endpoint,
        &[
            "dynamodb",
            "query",
            "--table-name",
            "cli",
            "--key-condition-expression",
            "id = :id AND n >= :min",
            "--expression-attribute-values",
            r#"{":id": {"S": "x"}, ":min": {"N": "2"}}"#,
        ],
    );
    assert!(ok, "{out}\n{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["Count"], 2, "{out}");
    assert_eq!(json["Items"][0]["note"]["S"], "v2", "{out}");
    let (ok, _, err) = aws(
        &endpoint,
        &["dynamodb", "describe-table", "--table-name", "missing"],
    );
    assert!(!ok);
    assert!(
        err.contains("ResourceNotFoundException")
            && err.contains("Requested resource not found: Table: missing not found"),
        "{err}"
    );
    let (ok, out, err) = aws(
        &endpoint,
        &[
            "dynamodb",
            "scan",
            "--table-name",
            "cli",
            "--select",
            "COUNT",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("\"Count\": 3"), "{out}");
}

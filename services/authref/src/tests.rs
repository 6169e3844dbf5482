//! Requests of each service resolved end to end, and every operation of the vendored SDK models
//! checked against the reference.

use serde_json::json;

use super::*;

const SCOPE: Scope = Scope {
    partition: "aws",
    region: "us-east-1",
    account: "123456789012",
};

fn req(prefix: &str, op: &str, input: &dyn Inputs) -> Vec<(String, Vec<String>)> {
    requirements(prefix, op, &SCOPE, input)
        .unwrap_or_else(|e| panic!("{prefix}:{op}: {e}"))
        .into_iter()
        .map(|r| (r.action, r.resources))
        .collect()
}

fn one(action: &str, arns: &[&str]) -> (String, Vec<String>) {
    (
        action.to_string(),
        arns.iter().map(|a| (*a).to_string()).collect(),
    )
}

#[test]
fn s3_get_and_put_object() {
    let input = [("Bucket", "b"), ("Key", "dir/k.txt")];
    assert_eq!(
        req("s3", "GetObject", &input),
        [one("s3:GetObject", &["arn:aws:s3:::b/dir/k.txt"])]
    );
    let versioned = [("Bucket", "b"), ("Key", "k"), ("VersionId", "v1")];
    assert_eq!(
        req("s3", "GetObject", &versioned),
        [one("s3:GetObjectVersion", &["arn:aws:s3:::b/k"])]
    );
    assert_eq!(
        req("s3", "PutObject", &input),
        [one("s3:PutObject", &["arn:aws:s3:::b/dir/k.txt"])]
    );
    let tagged = [
        ("Bucket", "b"),
        ("Key", "k"),
        ("Tagging", "a=1"),
        ("ACL", "public-read"),
    ];
    assert_eq!(
        req("s3", "PutObject", &tagged),
        [
            one("s3:PutObject", &["arn:aws:s3:::b/k"]),
            one("s3:PutObjectAcl", &["arn:aws:s3:::b/k"]),
            one("s3:PutObjectTagging", &["arn:aws:s3:::b/k"]),
        ]
    );
}

#[test]
fn s3_list_and_head() {
    assert_eq!(
        req("s3", "ListObjectsV2", &[("Bucket", "b"), ("Prefix", "p/")]),
        [one("s3:ListBucket", &["arn:aws:s3:::b"])]
    );
    assert_eq!(
        req("s3", "ListObjects", &[("Bucket", "b")]),
        [one("s3:ListBucket", &["arn:aws:s3:::b"])]
    );
    assert_eq!(
        req("s3", "HeadBucket", &[("Bucket", "b")]),
        [one("s3:ListBucket", &["arn:aws:s3:::b"])]
    );
    assert_eq!(
        req("s3", "HeadObject", &[("Bucket", "b"), ("Key", "k")]),
        [one("s3:GetObject", &["arn:aws:s3:::b/k"])]
    );
    assert_eq!(
        req(
            "s3",
            "HeadObject",
            &[("Bucket", "b"), ("Key", "k"), ("VersionId", "v")]
        ),
        [one("s3:GetObjectVersion", &["arn:aws:s3:::b/k"])]
    );
    assert_eq!(
        req("s3", "ListBuckets", &[("MaxBuckets", "10")]),
        [one("s3:ListAllMyBuckets", &[])]
    );
    assert_eq!(
        req("s3", "ListObjectVersions", &[("Bucket", "b")]),
        [one("s3:ListBucketVersions", &["arn:aws:s3:::b"])]
    );
}

#[test]
fn s3_copy_reads_the_source_and_writes_the_destination() {
    let input = [
        ("Bucket", "dst"),
        ("Key", "new"),
        ("CopySource", "/src/dir/a%20b.txt"),
    ];
    assert_eq!(
        req("s3", "CopyObject", &input),
        [
            one("s3:GetObject", &["arn:aws:s3:::src/dir/a b.txt"]),
            one("s3:PutObject", &["arn:aws:s3:::dst/new"]),
        ]
    );
    let versioned = [
        ("Bucket", "dst"),
        ("Key", "new"),
        ("CopySource", "src/old?versionId=3"),
        ("TaggingDirective", "REPLACE"),
        ("Tagging", "k=v"),
    ];
    assert_eq!(
        req("s3", "CopyObject", &versioned),
        [
            one("s3:GetObjectVersion", &["arn:aws:s3:::src/old"]),
            one("s3:PutObject", &["arn:aws:s3:::dst/new"]),
            one("s3:PutObjectTagging", &["arn:aws:s3:::dst/new"]),
        ]
    );
    assert_eq!(
        req("s3", "UploadPartCopy", &input),
        [
            one("s3:GetObject", &["arn:aws:s3:::src/dir/a b.txt"]),
            one("s3:PutObject", &["arn:aws:s3:::dst/new"]),
        ]
    );
}

#[test]
fn s3_delete_objects_names_each_key() {
    let input = json!({
        "Bucket": "b",
        "Delete": {"Objects": [{"Key": "a"}, {"Key": "c", "VersionId": "v"}, {"Key": "d"}]},
    });
    assert_eq!(
        req("s3", "DeleteObjects", &input),
        [
            one("s3:DeleteObject", &["arn:aws:s3:::b/a", "arn:aws:s3:::b/d"]),
            one("s3:DeleteObjectVersion", &["arn:aws:s3:::b/c"]),
        ]
    );
    let bypass = json!({
        "Bucket": "b",
        "BypassGovernanceRetention": true,
        "Delete": {"Objects": [{"Key": "a"}]},
    });
    assert_eq!(
        req("s3", "DeleteObjects", &bypass),
        [
            one("s3:DeleteObject", &["arn:aws:s3:::b/a"]),
            one("s3:BypassGovernanceRetention", &["arn:aws:s3:::b/a"]),
        ]
    );
}

#[test]
fn s3_multipart_and_bucket_creation() {
    let input = [("Bucket", "b"), ("Key", "k"), ("UploadId", "u")];
    for op in [
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
    ] {
        assert_eq!(
            req("s3", op, &input),
            [one("s3:PutObject", &["arn:aws:s3:::b/k"])],
            "{op}"
        );
    }
    assert_eq!(
        req("s3", "AbortMultipartUpload", &input),
        [one("s3:AbortMultipartUpload", &["arn:aws:s3:::b/k"])]
    );
    assert_eq!(
        req(
            "s3",
            "CreateBucket",
            &[("Bucket", "b"), ("ObjectLockEnabledForBucket", "true")]
        ),
        [
            one("s3:CreateBucket", &["arn:aws:s3:::b"]),
            one("s3:PutBucketObjectLockConfiguration", &["arn:aws:s3:::b"]),
            one("s3:PutBucketVersioning", &["arn:aws:s3:::b"]),
        ]
    );
    assert_eq!(
        req("s3", "PutBucketLifecycleConfiguration", &[("Bucket", "b")]),
        [one("s3:PutLifecycleConfiguration", &["arn:aws:s3:::b"])]
    );
    assert_eq!(
        req(
            "s3",
            "PutBucketNotificationConfiguration",
            &[("Bucket", "b")]
        ),
        [one("s3:PutBucketNotification", &["arn:aws:s3:::b"])]
    );
}

#[test]
fn s3_replication_passes_its_role_only_when_given() {
    let role = "arn:aws:iam::123456789012:role/replication";
    let input = json!({"Bucket": "b", "ReplicationConfiguration": {"Role": role, "Rules": []}});
    assert_eq!(
        req("s3", "PutBucketReplication", &input),
        [
            one("s3:PutReplicationConfiguration", &["arn:aws:s3:::b"]),
            one("iam:PassRole", &[role]),
        ]
    );
    assert_eq!(
        req("s3", "PutBucketReplication", &json!({"Bucket": "b"})),
        [one("s3:PutReplicationConfiguration", &["arn:aws:s3:::b"])]
    );
}

#[test]
fn s3_access_point_arns_in_bucket() {
    let input = [
        ("Bucket", "arn:aws:s3:us-west-2:111122223333:accesspoint/ap"),
        ("Key", "k"),
    ];
    assert_eq!(
        req("s3", "GetObject", &input),
        [one(
            "s3:GetObject",
            &["arn:aws:s3:us-west-2:111122223333:accesspoint/ap/object/k"]
        )]
    );
    assert_eq!(
        req("s3", "ListObjectsV2", &input),
        [one(
            "s3:ListBucket",
            &["arn:aws:s3:us-west-2:111122223333:accesspoint/ap"]
        )]
    );
}

#[test]
fn sqs_queue_urls_and_batches() {
    let url = [(
        "QueueUrl",
        "http://sqs.eu-west-1.localhost.localstack.cloud:4566/000000000000/jobs",
    )];
    let arn = "arn:aws:sqs:eu-west-1:000000000000:jobs";
    assert_eq!(
        req("sqs", "SendMessage", &url),
        [one("sqs:SendMessage", &[arn])]
    );
    assert_eq!(
        req("sqs", "SendMessageBatch", &url),
        [one("sqs:SendMessage", &[arn])]
    );
    assert_eq!(
        req("sqs", "DeleteMessageBatch", &url),
        [one("sqs:DeleteMessage", &[arn])]
    );
    assert_eq!(
        req("sqs", "ChangeMessageVisibilityBatch", &url),
        [one("sqs:ChangeMessageVisibility", &[arn])]
    );
    assert_eq!(
        req("sqs", "ReceiveMessage", &url),
        [one("sqs:ReceiveMessage", &[arn])]
    );
    assert_eq!(
        req("sqs", "ListQueues", &[("QueueNamePrefix", "j")]),
        [one("sqs:ListQueues", &[])]
    );
}

#[test]
fn sqs_create_queue_with_and_without_tags() {
    let arn = "arn:aws:sqs:us-east-1:123456789012:q";
    assert_eq!(
        req("sqs", "CreateQueue", &json!({"QueueName": "q"})),
        [one("sqs:CreateQueue", &[arn])]
    );
    assert_eq!(
        req(
            "sqs",
            "CreateQueue",
            &json!({"QueueName": "q", "tags": {"team": "a"}})
        ),
        [one("sqs:CreateQueue", &[arn]), one("sqs:TagQueue", &[arn])]
    );
    assert_eq!(
        req(
            "sqs",
            "GetQueueUrl",
            &[
                ("QueueName", "q"),
                ("QueueOwnerAWSAccountId", "111122223333")
            ]
        ),
        [one(
            "sqs:GetQueueUrl",
            &["arn:aws:sqs:us-east-1:111122223333:q"]
        )]
    );
}

#[test]
fn sqs_message_move_task_reads_the_source_and_sends_to_the_destination() {
    let input = [
        ("SourceArn", "arn:aws:sqs:us-east-1:123456789012:dlq"),
        ("DestinationArn", "arn:aws:sqs:us-east-1:123456789012:main"),
    ];
    let dlq = "arn:aws:sqs:us-east-1:123456789012:dlq";
    let got = req("sqs", "StartMessageMoveTask", &input);
    assert_eq!(got[0], one("sqs:StartMessageMoveTask", &[dlq]));
    assert!(got.contains(&one("sqs:ReceiveMessage", &[dlq])));
    assert!(got.contains(&one("sqs:DeleteMessage", &[dlq])));
    assert!(got.contains(&one("sqs:GetQueueAttributes", &[dlq])));
    assert!(got.contains(&one(
        "sqs:SendMessage",
        &["arn:aws:sqs:us-east-1:123456789012:main"]
    )));
}

#[test]
fn sts_caller_identity_and_assume_role() {
    assert_eq!(
        req("sts", "GetCallerIdentity", &[("", "")]),
        [one("sts:GetCallerIdentity", &[])]
    );
    let role = "arn:aws:iam::111122223333:role/service/deployer";
    assert_eq!(
        req(
            "sts",
            "AssumeRole",
            &[("RoleArn", role), ("RoleSessionName", "s")]
        ),
        [one("sts:AssumeRole", &[role])]
    );
    let tagged = json!({
        "RoleArn": role,
        "RoleSessionName": "s",
        "Tags": [{"Key": "k", "Value": "v"}],
        "SourceIdentity": "me",
    });
    assert_eq!(
        req("sts", "AssumeRole", &tagged),
        [
            one("sts:AssumeRole", &[role]),
            one("sts:SetSourceIdentity", &[role]),
            one("sts:TagSession", &[role]),
        ]
    );
    assert_eq!(
        req("sts", "GetSessionToken", &[("DurationSeconds", "900")]),
        [one("sts:GetSessionToken", &[])]
    );
}

#[test]
fn lambda_invoke_in_every_function_name_form() {
    let f = "arn:aws:lambda:us-east-1:123456789012:function:f";
    assert_eq!(
        req("lambda", "Invoke", &[("FunctionName", "f")]),
        [one("lambda:InvokeFunction", &[f])]
    );
    assert_eq!(
        req(
            "lambda",
            "Invoke",
            &[("FunctionName", "f"), ("Qualifier", "live")]
        ),
        [one("lambda:InvokeFunction", &[&format!("{f}:live")])]
    );
    assert_eq!(
        req("lambda", "Invoke", &[("FunctionName", "f:3")]),
        [one("lambda:InvokeFunction", &[&format!("{f}:3")])]
    );
    let other = "arn:aws:lambda:eu-west-1:111122223333:function:g";
    assert_eq!(
        req("lambda", "Invoke", &[("FunctionName", other)]),
        [one("lambda:InvokeFunction", &[other])]
    );
    assert_eq!(
        req(
            "lambda",
            "Invoke",
            &[("FunctionName", other), ("Qualifier", "1")]
        ),
        [one("lambda:InvokeFunction", &[&format!("{other}:1")])]
    );
    assert_eq!(
        req(
            "lambda",
            "Invoke",
            &[("FunctionName", "111122223333:function:g")]
        ),
        [one(
            "lambda:InvokeFunction",
            &["arn:aws:lambda:us-east-1:111122223333:function:g"]
        )]
    );
    assert_eq!(
        req(
            "lambda",
            "InvokeWithResponseStream",
            &[("FunctionName", "f")]
        ),
        [one("lambda:InvokeFunction", &[f])]
    );
}

#[test]
fn lambda_versions_and_layers() {
    assert_eq!(
        req(
            "lambda",
            "PutProvisionedConcurrencyConfig",
            &[("FunctionName", "f"), ("Qualifier", "live")]
        ),
        [one(
            "lambda:PutProvisionedConcurrencyConfig",
            &["arn:aws:lambda:us-east-1:123456789012:function:f:live"]
        )]
    );
    let layer = "arn:aws:lambda:us-east-1:123456789012:layer:deps:4";
    assert_eq!(
        req(
            "lambda",
            "GetLayerVersion",
            &[("LayerName", "deps"), ("VersionNumber", "4")]
        ),
        [one("lambda:GetLayerVersion", &[layer])]
    );
    assert_eq!(
        req("lambda", "GetLayerVersionByArn", &[("Arn", layer)]),
        [one("lambda:GetLayerVersion", &[layer])]
    );
}

#[test]
fn lambda_create_function_passes_its_role() {
    let f = "arn:aws:lambda:us-east-1:123456789012:function:f";
    let role = "arn:aws:iam::123456789012:role/lambda-exec";
    let layer = "arn:aws:lambda:us-east-1:123456789012:layer:deps:4";
    let input = json!({
        "FunctionName": "f",
        "Role": role,
        "Runtime": "python3.13",
        "Layers": [layer],
        "Tags": {"team": "a"},
    });
    assert_eq!(
        req("lambda", "CreateFunction", &input),
        [
            one("lambda:CreateFunction", &[f]),
            one("lambda:GetLayerVersion", &[layer]),
            one("iam:PassRole", &[role]),
            one("lambda:TagResource", &[f]),
        ]
    );
    assert_eq!(
        req("lambda", "ListFunctions", &[("MaxItems", "5")]),
        [one("lambda:ListFunctions", &[])]
    );
    assert_eq!(
        req(
            "lambda",
            "CreateEventSourceMapping",
            &[
                ("FunctionName", "f"),
                ("EventSourceArn", "arn:aws:sqs:us-east-1:1:q")
            ]
        ),
        [one("lambda:CreateEventSourceMapping", &[])]
    );
}

#[test]
fn dynamodb_items_indexes_and_lists() {
    let t = "arn:aws:dynamodb:us-east-1:123456789012:table/Music";
    assert_eq!(
        req("dynamodb", "GetItem", &[("TableName", "Music")]),
        [one("dynamodb:GetItem", &[t])]
    );
    assert_eq!(
        req("dynamodb", "GetItem", &[("TableName", t)]),
        [one("dynamodb:GetItem", &[t])]
    );
    assert_eq!(
        req(
            "dynamodb",
            "Query",
            &[("TableName", "Music"), ("IndexName", "ByArtist")]
        ),
        [one("dynamodb:Query", &[&format!("{t}/index/ByArtist")])]
    );
    assert_eq!(
        req(
            "dynamodb",
            "Query",
            &[("TableName", t), ("IndexName", "ByArtist")]
        ),
        [one("dynamodb:Query", &[&format!("{t}/index/ByArtist")])]
    );
    assert_eq!(
        req("dynamodb", "Query", &[("TableName", "Music")]),
        [one("dynamodb:Query", &[t])]
    );
    assert_eq!(
        req("dynamodb", "ListTables", &[("Limit", "5")]),
        [one("dynamodb:ListTables", &[])]
    );
}

#[test]
fn dynamodb_batches_transactions_and_partiql() {
    let arn = |t: &str| format!("arn:aws:dynamodb:us-east-1:123456789012:table/{t}");
    let batch = json!({"RequestItems": {"A": {"Keys": []}, "B": {"Keys": []}}});
    assert_eq!(
        req("dynamodb", "BatchGetItem", &batch),
        [one("dynamodb:BatchGetItem", &[&arn("A"), &arn("B")])]
    );
    let transact = json!({"TransactItems": [
        {"Put": {"TableName": "A", "Item": {}}},
        {"Update": {"TableName": "B", "Key": {}}},
        {"ConditionCheck": {"TableName": "A", "Key": {}}},
    ]});
    assert_eq!(
        req("dynamodb", "TransactWriteItems", &transact),
        [
            one("dynamodb:ConditionCheckItem", &[&arn("A")]),
            one("dynamodb:PutItem", &[&arn("A")]),
            one("dynamodb:UpdateItem", &[&arn("B")]),
        ]
    );
    let gets = json!({"TransactItems": [{"Get": {"TableName": "A"}}, {"Get": {"TableName": "B"}}]});
    assert_eq!(
        req("dynamodb", "TransactGetItems", &gets),
        [one("dynamodb:GetItem", &[&arn("A"), &arn("B")])]
    );
    assert_eq!(
        req(
            "dynamodb",
            "ExecuteStatement",
            &json!({"Statement": "SELECT * FROM \"Music\".\"ByArtist\" WHERE Artist = ?"})
        ),
        [one(
            "dynamodb:PartiQLSelect",
            &[&format!("{}/index/ByArtist", arn("Music"))]
        )]
    );
    let statements = json!({"Statements": [
        {"Statement": "INSERT INTO A VALUE {'k': 1}"},
        {"Statement": "DELETE FROM B WHERE k = 1"},
        {"Statement": "INSERT INTO C VALUE {'k': 1}"},
    ]});
    assert_eq!(
        req("dynamodb", "BatchExecuteStatement", &statements),
        [
            one("dynamodb:PartiQLInsert", &[&arn("A"), &arn("C")]),
            one("dynamodb:PartiQLDelete", &[&arn("B")]),
        ]
    );
}

#[test]
fn dynamodb_streams_operations_are_dynamodb_actions() {
    let stream = "arn:aws:dynamodb:us-east-1:123456789012:table/T/stream/2024-01-01T00:00:00.000";
    for op in ["GetShardIterator", "DescribeStream"] {
        assert_eq!(
            req("dynamodbstreams", op, &[("StreamArn", stream)]),
            [one(&format!("dynamodb:{op}"), &[stream])],
            "{op}"
        );
    }
    assert_eq!(
        req("dynamodb", "ListStreams", &[("TableName", "T")]),
        [one("dynamodb:ListStreams", &[])]
    );
    // The shard iterator is opaque here: `*` unless the gateway adds the stream's ARN.
    assert_eq!(
        req("dynamodb", "GetRecords", &[("ShardIterator", "x")]),
        [one("dynamodb:GetRecords", &[])]
    );
    assert_eq!(
        req(
            "dynamodb",
            "GetRecords",
            &[("ShardIterator", "x"), ("StreamArn", stream)]
        ),
        [one("dynamodb:GetRecords", &[stream])]
    );
}

#[test]
fn logs_put_log_events_on_the_stream() {
    assert_eq!(
        req(
            "logs",
            "PutLogEvents",
            &[
                ("logGroupName", "/aws/lambda/f"),
                ("logStreamName", "2024/01/01/[$LATEST]abc")
            ]
        ),
        [one(
            "logs:PutLogEvents",
            &[
                "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:log-stream:2024/01/01/[$LATEST]abc"
            ]
        )]
    );
    let group = "arn:aws:logs:us-east-1:123456789012:log-group:g";
    assert_eq!(
        req(
            "logs",
            "CreateLogGroup",
            &json!({"logGroupName": "g", "tags": {"a": "b"}})
        ),
        [
            one("logs:CreateLogGroup", &[group]),
            one("logs:TagResource", &[group]),
        ]
    );
    assert_eq!(
        req(
            "logs",
            "FilterLogEvents",
            &[("logGroupIdentifier", &format!("{group}:*") as &str)]
        ),
        [one("logs:FilterLogEvents", &[group])]
    );
    assert_eq!(
        req("logs", "DescribeLogGroups", &[("limit", "5")]),
        [one("logs:DescribeLogGroups", &[])]
    );
}

#[test]
fn ecr_repositories_of_other_registries() {
    assert_eq!(
        req(
            "ecr",
            "BatchGetImage",
            &[
                ("repositoryName", "team/app"),
                ("registryId", "111122223333")
            ]
        ),
        [one(
            "ecr:BatchGetImage",
            &["arn:aws:ecr:us-east-1:111122223333:repository/team/app"]
        )]
    );
    assert_eq!(
        req(
            "ecr",
            "GetDownloadUrlForLayer",
            &[("repositoryName", "app")]
        ),
        [one(
            "ecr:GetDownloadUrlForLayer",
            &["arn:aws:ecr:us-east-1:123456789012:repository/app"]
        )]
    );
    assert_eq!(
        req("ecr", "GetAuthorizationToken", &[("", "")]),
        [one("ecr:GetAuthorizationToken", &[])]
    );
}

#[test]
fn sns_publish_subscribe_and_attributes() {
    let topic = "arn:aws:sns:us-east-1:123456789012:orders";
    assert_eq!(
        req("sns", "Publish", &[("TopicArn", topic), ("Message", "m")]),
        [one("sns:Publish", &[topic])]
    );
    assert_eq!(
        req("sns", "PublishBatch", &[("TopicArn", topic)]),
        [one("sns:Publish", &[topic])]
    );
    assert_eq!(
        req("sns", "CreateTopic", &[("Name", "orders")]),
        [one("sns:CreateTopic", &[topic])]
    );
    assert_eq!(
        req(
            "sns",
            "SetSubscriptionAttributes",
            &[
                ("SubscriptionArn", &format!("{topic}:0b5c9e3c") as &str),
                ("AttributeName", "RawMessageDelivery"),
                ("AttributeValue", "true")
            ]
        ),
        [one("sns:SetSubscriptionAttributes", &[topic])]
    );
    let role = "arn:aws:iam::123456789012:role/sns-firehose";
    assert_eq!(
        req(
            "sns",
            "Subscribe",
            &json!({"TopicArn": topic, "Protocol": "firehose", "Attributes": {"SubscriptionRoleArn": role}})
        ),
        [one("sns:Subscribe", &[topic]), one("iam:PassRole", &[role])]
    );
}

#[test]
fn events_buses_and_rules() {
    let bus = |b: &str| format!("arn:aws:events:us-east-1:123456789012:event-bus/{b}");
    let entries = json!({"Entries": [{"Source": "a"}, {"Source": "b", "EventBusName": "orders"}]});
    assert_eq!(
        req("events", "PutEvents", &entries),
        [one("events:PutEvents", &[&bus("default"), &bus("orders")])]
    );
    let by_arn = json!({"Entries": [{"EventBusName": bus("x")}]});
    assert_eq!(
        req("events", "PutEvents", &by_arn),
        [one("events:PutEvents", &[&bus("x")])]
    );
    let rule = |r: &str| format!("arn:aws:events:us-east-1:123456789012:rule/{r}");
    assert_eq!(
        req("events", "PutRule", &[("Name", "r")]),
        [one("events:PutRule", &[&rule("r")])]
    );
    assert_eq!(
        req(
            "events",
            "PutRule",
            &[("Name", "r"), ("EventBusName", "default")]
        ),
        [one("events:PutRule", &[&rule("r")])]
    );
    assert_eq!(
        req(
            "events",
            "PutRule",
            &[("Name", "r"), ("EventBusName", "orders")]
        ),
        [one("events:PutRule", &[&rule("orders/r")])]
    );
    let role = "arn:aws:iam::123456789012:role/events-invoke";
    let targets = json!({"Rule": "r", "Targets": [{"Id": "1", "Arn": "arn:aws:sqs:us-east-1:1:q"}, {"Id": "2", "Arn": "x", "RoleArn": role}]});
    assert_eq!(
        req("events", "PutTargets", &targets),
        [
            one("events:PutTargets", &[&rule("r")]),
            one("iam:PassRole", &[role]),
        ]
    );
    assert_eq!(
        req("events", "DescribeEventBus", &[("Limit", "1")]),
        [one("events:DescribeEventBus", &[&bus("default")])]
    );
}

#[test]
fn iam_create_user_with_path_and_tags() {
    assert_eq!(
        req("iam", "CreateUser", &[("UserName", "bob")]),
        [one(
            "iam:CreateUser",
            &["arn:aws:iam::123456789012:user/bob"]
        )]
    );
    let input = json!({"UserName": "bob", "Path": "/dev/", "Tags": [{"Key": "k", "Value": "v"}]});
    let user = "arn:aws:iam::123456789012:user/dev/bob";
    assert_eq!(
        req("iam", "CreateUser", &input),
        [one("iam:CreateUser", &[user]), one("iam:TagUser", &[user])]
    );
    assert_eq!(
        req("iam", "ListUsers", &[("MaxItems", "1")]),
        [one("iam:ListUsers", &[])]
    );
    assert_eq!(
        req(
            "iam",
            "AttachRolePolicy",
            &[
                ("RoleName", "r"),
                ("PolicyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess")
            ]
        ),
        [one(
            "iam:AttachRolePolicy",
            &["arn:aws:iam::123456789012:role/r"]
        )]
    );
    assert_eq!(
        req(
            "iam",
            "AddRoleToInstanceProfile",
            &[("RoleName", "r"), ("InstanceProfileName", "p")]
        ),
        [
            one(
                "iam:AddRoleToInstanceProfile",
                &["arn:aws:iam::123456789012:instance-profile/p"]
            ),
            one("iam:PassRole", &["arn:aws:iam::123456789012:role/r"]),
        ]
    );
}

#[test]
fn tagging_operations_take_the_resource_arn_whole() {
    let f = "arn:aws:lambda:us-east-1:123456789012:function:f";
    assert_eq!(
        req(
            "lambda",
            "TagResource",
            &json!({"Resource": f, "Tags": {"a": "b"}})
        ),
        [one("lambda:TagResource", &[f])]
    );
    let esm = "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:1234";
    assert_eq!(
        req("lambda", "ListTags", &[("Resource", esm)]),
        [one("lambda:ListTags", &[esm])]
    );
    let table = "arn:aws:dynamodb:eu-west-1:111122223333:table/T";
    assert_eq!(
        req(
            "dynamodb",
            "TagResource",
            &json!({"ResourceArn": table, "Tags": [{"Key": "k", "Value": "v"}]})
        ),
        [one("dynamodb:TagResource", &[table])]
    );
    let default_rule = "arn:aws:events:us-east-1:123456789012:rule/r";
    assert_eq!(
        req(
            "events",
            "UntagResource",
            &json!({"ResourceARN": default_rule, "TagKeys": ["k"]})
        ),
        [one("events:UntagResource", &[default_rule])]
    );
    let queue_rule = "arn:aws:events:us-east-1:123456789012:rule/orders/r";
    assert_eq!(
        req(
            "events",
            "TagResource",
            &json!({"ResourceARN": queue_rule, "Tags": [{"Key": "k", "Value": "v"}]})
        ),
        [one("events:TagResource", &[queue_rule])]
    );
}

#[test]
fn requests_without_their_items_still_need_something() {
    let got = req("s3", "DeleteObjects", &[("Bucket", "b")]);
    assert!(got.contains(&one("s3:DeleteObject", &[])), "{got:?}");
    let got = req(
        "dynamodb",
        "TransactWriteItems",
        &json!({"TransactItems": []}),
    );
    assert!(got.contains(&one("dynamodb:PutItem", &[])), "{got:?}");
    let got = req(
        "dynamodb",
        "ExecuteStatement",
        &[("Statement", "EXISTS(SELECT * FROM T)")],
    );
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got.iter().all(|(_, r)| r.is_empty()));
}

#[test]
fn unknown_services_and_operations_are_errors() {
    assert_eq!(
        requirements("ec2", "RunInstances", &SCOPE, &[("", "")]),
        Err(AuthrefError::UnknownService("ec2".into()))
    );
    assert_eq!(
        requirements("s3", "NoSuchOperation", &SCOPE, &[("", "")]),
        Err(AuthrefError::UnknownOperation {
            service: "s3".into(),
            operation: "NoSuchOperation".into()
        })
    );
    assert!(operation_actions("s3", "NoSuchOperation").is_err());
}

#[test]
fn actions_and_their_condition_keys() {
    assert!(action_exists("sqs:SendMessage"));
    assert!(action_exists("dynamodb:GetRecords"));
    assert!(!action_exists("sqs:SendMessageBatch"));
    assert!(!action_exists("s3:getobject"));
    assert!(!action_exists("ec2:RunInstances"));
    let keys = condition_keys("s3:ListBucket");
    assert!(keys.contains(&"s3:prefix".to_string()), "{keys:?}");
    // Resource type keys come with the action's.
    assert!(
        keys.contains(&"s3:BucketTag/${TagKey}".to_string()),
        "{keys:?}"
    );
    assert!(condition_keys("iam:PassRole").contains(&"iam:PassedToService".to_string()));
    assert!(condition_keys("nope:Nope").is_empty());
    assert_eq!(
        operation_actions("s3", "PutObject")
            .expect("PutObject")
            .first()
            .map(String::as_str),
        Some("s3:PutObject")
    );
    assert!(reference_source().is_some_and(|s| !s.is_empty()));
}

/// SDK model (file under `models/`) and the IAM prefix its operations are authorized under.
const MODELS: &[(&str, &str)] = &[
    ("sts", "sts"),
    ("s3", "s3"),
    ("sqs", "sqs"),
    ("lambda", "lambda"),
    ("logs", "logs"),
    ("iam", "iam"),
    ("ecr", "ecr"),
    ("dynamodb", "dynamodb"),
    ("dynamodbstreams", "dynamodb"),
    ("sns", "sns"),
    ("events", "events"),
];

/// The SDK models (botocore 1.44.18) are newer than the reference snapshot: these operations are not
/// in it, and it has no action named like them.
const NEWER: &str = "newer than the vendored reference";
/// The reference lists the operation without authorized actions and has no action named like it.
const NO_ACTION: &str = "listed by the reference without an action";
/// Authorized under a service prefix Skyport does not vendor (S3 Express One Zone directory buckets,
/// S3 Object Lambda).
const OTHER_PREFIX: &str = "authorized under s3express or s3-object-lambda, not vendored";

/// Operations of the vendored SDK models that map to no action of the vendored reference, and why.
/// A refresh of the reference should empty most of it (the test says which entries then map).
const UNMAPPED: &[(&str, &str, &str)] = &[
    ("sts", "GetCertificate", NEWER),
    ("sts", "GetScopedCredentials", NEWER),
    ("sts", "GetTrustBundles", NEWER),
    ("sts", "IssueWorkloadIdentityContext", NEWER),
    ("s3", "GetBucketDefaultStorageClass", NEWER),
    ("s3", "PutBucketDefaultStorageClass", NEWER),
    ("s3", "GetPart", NEWER),
    ("s3", "CreateSession", OTHER_PREFIX),
    ("s3", "ListDirectoryBuckets", OTHER_PREFIX),
    ("s3", "RenameObject", OTHER_PREFIX),
    ("s3", "WriteGetObjectResponse", OTHER_PREFIX),
    ("lambda", "DeleteDurableExecution", NEWER),
    ("lambda", "PauseDurableExecution", NEWER),
    ("lambda", "ResumeDurableExecution", NEWER),
    ("logs", "GetLogObject", NO_ACTION),
    ("iam", "UpdateDelegationRequest", NO_ACTION),
    ("iam", "UpdateOpenIDConnectProvider", NEWER),
    ("iam", "EnableOrganizationLevelResources", NEWER),
    ("iam", "DisableOrganizationLevelResources", NEWER),
    ("iam", "CreateWorkloadIdentityProvider", NEWER),
    ("iam", "CreateWorkloadIdentityProviderOutboundSigner", NEWER),
    ("iam", "CreateWorkloadIdentityTemplate", NEWER),
    ("iam", "DeleteWorkloadIdentityProvider", NEWER),
    ("iam", "DeleteWorkloadIdentityProviderOutboundSigner", NEWER),
    ("iam", "DeleteWorkloadIdentityProviderResourcePolicy", NEWER),
    ("iam", "DeleteWorkloadIdentityTemplate", NEWER),
    (
        "iam",
        "DeleteWorkloadIdentityTemplateAttestationPolicy",
        NEWER,
    ),
    (
        "iam",
        "DisableWorkloadIdentityProviderOutboundSigner",
        NEWER,
    ),
    ("iam", "EnableWorkloadIdentityProviderOutboundSigner", NEWER),
    ("iam", "GetWorkloadIdentityProvider", NEWER),
    ("iam", "GetWorkloadIdentityProviderDeletionStatus", NEWER),
    ("iam", "GetWorkloadIdentityProviderResourcePolicy", NEWER),
    ("iam", "GetWorkloadIdentityTemplate", NEWER),
    ("iam", "GetWorkloadIdentityTemplateAttestationPolicy", NEWER),
    ("iam", "ListWorkloadIdentityProviderOutboundSigners", NEWER),
    ("iam", "ListWorkloadIdentityProviderTags", NEWER),
    ("iam", "ListWorkloadIdentityProviders", NEWER),
    ("iam", "ListWorkloadIdentityTemplateTags", NEWER),
    ("iam", "ListWorkloadIdentityTemplates", NEWER),
    ("iam", "PutWorkloadIdentityProviderResourcePolicy", NEWER),
    ("iam", "PutWorkloadIdentityTemplateAttestationPolicy", NEWER),
    ("iam", "TagWorkloadIdentityProvider", NEWER),
    ("iam", "TagWorkloadIdentityTemplate", NEWER),
    ("iam", "UntagWorkloadIdentityProvider", NEWER),
    ("iam", "UntagWorkloadIdentityTemplate", NEWER),
    ("iam", "UpdateWorkloadIdentityProviderOutboundSigner", NEWER),
    ("ecr", "DescribeReplicationBackfillResults", NEWER),
    ("ecr", "ListReplicationBackfills", NEWER),
    ("ecr", "StartReplicationBackfill", NEWER),
    ("ecr", "StopReplicationBackfill", NEWER),
    ("dynamodb", "CancelBulkOperation", NEWER),
    ("dynamodb", "DescribeBulkOperation", NEWER),
    ("dynamodb", "ListBulkOperations", NEWER),
    ("dynamodb", "StartBulkPutItems", NEWER),
];

#[test]
fn every_sdk_model_operation_maps_to_actions_of_the_reference() {
    let mut failures = Vec::new();
    let mut unmapped_seen = Vec::new();
    for (model, prefix) in MODELS {
        let path = format!("{}/../../models/{model}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let json: serde_json::Value = serde_json::from_str(&text).expect("a JSON model");
        let operations = json["operations"].as_object().expect("operations");
        for op in operations.keys() {
            let expected = UNMAPPED.iter().find(|(m, o, _)| m == model && o == op);
            let result = operation_actions(prefix, op);
            match (result, expected) {
                (Ok(actions), None) => {
                    let missing: Vec<_> = actions.iter().filter(|a| !action_exists(a)).collect();
                    if actions.is_empty() || !missing.is_empty() {
                        failures.push(format!("{model}:{op}: {actions:?} (unknown: {missing:?})"));
                    }
                }
                (Ok(actions), Some(_)) => failures.push(format!(
                    "{model}:{op} now maps to {actions:?}: drop it from UNMAPPED"
                )),
                (Err(e), None) => failures.push(format!("{model}:{op}: {e}")),
                (Err(_), Some(_)) => unmapped_seen.push((*model, op.clone())),
            }
        }
    }
    for (model, op, _) in UNMAPPED {
        if !unmapped_seen.iter().any(|(m, o)| m == model && o == op) {
            failures.push(format!(
                "UNMAPPED lists {model}:{op}, which the models do not have"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rule_and_primary_names_an_action_of_the_reference() {
    for rule in rules::RULES {
        if !rule.action.contains('*') {
            assert!(action_exists(rule.action), "rule for {}", rule.action);
        }
        if let Some(old) = rule.instead_of {
            assert!(action_exists(old), "instead of {old}");
        }
    }
    for (service, op, actions) in rules::PRIMARY {
        for a in *actions {
            assert!(action_exists(a), "{service}:{op}: {a}");
        }
    }
}

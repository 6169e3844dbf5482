//! DynamoDB Streams through the official `aws-sdk-dynamodb` and `aws-sdk-dynamodbstreams` crates
//! against the real binary: a stream per table with each view type, records for every write path
//! (PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems, TTL deletions by the
//! service), none for writes that change nothing, ListStreams, DescribeStream with its shard,
//! GetShardIterator with every iterator type, GetRecords paging, a disabled stream's closed shard,
//! and AWS's errors.

mod common;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put, PutRequest,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
    TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodbstreams::types::{
    AttributeValue as StreamValue, OperationType, Record, ShardIteratorType,
};
use common::{Options, Skyport};

type Item = HashMap<String, AttributeValue>;

fn creds() -> Credentials {
    Credentials::new("test", "test", None, None, "test")
}

fn db(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(creds())
            .build(),
    )
}

fn streams(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    aws_sdk_dynamodbstreams::Client::from_conf(
        aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(creds())
            .build(),
    )
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn item(pairs: &[(&str, AttributeValue)]) -> Item {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Creates table `name` (hash key `id`) with a stream of `view`; returns the stream ARN.
async fn table(db: &aws_sdk_dynamodb::Client, name: &str, view: StreamViewType) -> String {
    let out = db
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(view)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let d = out.table_description.unwrap();
    let arn = d.latest_stream_arn.unwrap();
    assert_eq!(
        arn,
        format!(
            "{}/stream/{}",
            d.table_arn.unwrap(),
            d.latest_stream_label.unwrap()
        )
    );
    arn
}

/// Every record of the stream's shard from `kind`.
async fn read_all(
    st: &aws_sdk_dynamodbstreams::Client,
    arn: &str,
    kind: ShardIteratorType,
    seq: Option<&str>,
) -> Vec<Record> {
    let desc = st.describe_stream().stream_arn(arn).send().await.unwrap();
    let shard = desc.stream_description.unwrap().shards.unwrap().remove(0);
    let mut it = st
        .get_shard_iterator()
        .stream_arn(arn)
        .shard_id(shard.shard_id.unwrap())
        .shard_iterator_type(kind)
        .set_sequence_number(seq.map(str::to_owned))
        .send()
        .await
        .unwrap()
        .shard_iterator;
    let mut out = Vec::new();
    while let Some(i) = it {
        let page = st
            .get_records()
            .shard_iterator(i)
            .limit(2)
            .send()
            .await
            .unwrap();
        let records = page.records.unwrap_or_default();
        if records.is_empty() {
            break;
        }
        out.extend(records);
        it = page.next_shard_iterator;
    }
    out
}

fn sv(v: &str) -> StreamValue {
    StreamValue::S(v.to_owned())
}

#[tokio::test]
async fn every_write_path_lands_in_the_stream_in_order() {
    let sky = Skyport::start_with(Options::default().env("SKYPORT_DYNAMODB_TTL_SWEEP_MS", "100"));
    let db = db(&sky.endpoint());
    let st = streams(&sky.endpoint());
    let arn = table(&db, "orders", StreamViewType::NewAndOldImages).await;

    put(&db, "orders", "a", "1").await;
    put(&db, "orders", "a", "1").await; // no change: no record
    db.update_item()
        .table_name("orders")
        .key("id", s("a"))
        .update_expression("SET v = :v")
        .expression_attribute_values(":v", s("2"))
        .send()
        .await
        .unwrap();
    batch_put(&db, "orders", "b").await;
    transact_put(&db, "orders", "c").await;
    db.delete_item()
        .table_name("orders")
        .key("id", s("a"))
        .send()
        .await
        .unwrap();
    // TTL: the sweeper's deletion is the service's.
    db.update_time_to_live()
        .table_name("orders")
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("exp")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let past = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 10;
    db.put_item()
        .table_name("orders")
        .set_item(Some(item(&[
            ("id", s("t")),
            ("exp", AttributeValue::N(past.to_string())),
        ])))
        .send()
        .await
        .unwrap();
    let mut records = Vec::new();
    for _ in 0..100 {
        records = read_all(&st, &arn, ShardIteratorType::TrimHorizon, None).await;
        if records.len() >= 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let summary: Vec<(OperationType, String)> = records
        .iter()
        .map(|r| {
            let d = r.dynamodb.as_ref().unwrap();
            let id = match d.keys.as_ref().unwrap().get("id") {
                Some(StreamValue::S(id)) => id.clone(),
                other => panic!("{other:?}"),
            };
            (r.event_name.clone().unwrap(), id)
        })
        .collect();
    use OperationType::*;
    assert_eq!(
        summary,
        [
            (Insert, "a".to_owned()),
            (Modify, "a".to_owned()),
            (Insert, "b".to_owned()),
            (Insert, "c".to_owned()),
            (Remove, "a".to_owned()),
            (Insert, "t".to_owned()),
            (Remove, "t".to_owned()),
        ]
    );
    // AWS's record shape.
    let modify = records[1].clone();
    assert_eq!(modify.event_source.as_deref(), Some("aws:dynamodb"));
    assert_eq!(modify.event_version.as_deref(), Some("1.1"));
    assert_eq!(modify.aws_region.as_deref(), Some("us-east-1"));
    assert_eq!(modify.event_id.as_ref().unwrap().len(), 32);
    assert!(modify.user_identity.is_none());
    let d = modify.dynamodb.unwrap();
    assert_eq!(d.old_image.unwrap().get("v"), Some(&sv("1")));
    assert_eq!(d.new_image.unwrap().get("v"), Some(&sv("2")));
    assert_eq!(d.stream_view_type.unwrap().as_str(), "NEW_AND_OLD_IMAGES");
    assert!(d.size_bytes.unwrap() > 0);
    assert!(d.approximate_creation_date_time.is_some());
    let remove = records[4].dynamodb.clone().unwrap();
    assert!(remove.new_image.is_none() && remove.old_image.is_some());
    let ttl = &records[6];
    let who = ttl.user_identity.as_ref().unwrap();
    assert_eq!(who.r#type.as_deref(), Some("Service"));
    assert_eq!(who.principal_id.as_deref(), Some("dynamodb.amazonaws.com"));
    // Sequence numbers: 21+ digits, increasing.
    let seqs: Vec<String> = records
        .iter()
        .map(|r| {
            r.dynamodb
                .as_ref()
                .unwrap()
                .sequence_number
                .clone()
                .unwrap()
        })
        .collect();
    assert!(seqs.iter().all(|q| q.len() >= 21));
    let nums: Vec<u128> = seqs.iter().map(|q| q.parse().unwrap()).collect();
    assert!(nums.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER.
    let at = read_all(
        &st,
        &arn,
        ShardIteratorType::AtSequenceNumber,
        Some(&seqs[5]),
    )
    .await;
    assert_eq!(at.len(), 2);
    let after = read_all(
        &st,
        &arn,
        ShardIteratorType::AfterSequenceNumber,
        Some(&seqs[5]),
    )
    .await;
    assert_eq!(after.len(), 1);
    // LATEST sees only what comes next.
    let shard_id = st
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap()
        .shards
        .unwrap()[0]
        .shard_id
        .clone()
        .unwrap();
    let latest = st
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id(&shard_id)
        .shard_iterator_type(ShardIteratorType::Latest)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let empty = st
        .get_records()
        .shard_iterator(&latest)
        .send()
        .await
        .unwrap();
    assert!(empty.records.unwrap().is_empty());
    put(&db, "orders", "z", "1").await;
    let next = st
        .get_records()
        .shard_iterator(empty.next_shard_iterator.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(next.records.unwrap().len(), 1);
}

#[tokio::test]
async fn view_types_listing_disabling_and_errors() {
    let sky = Skyport::start();
    let db = db(&sky.endpoint());
    let st = streams(&sky.endpoint());
    let views = [
        ("keys", StreamViewType::KeysOnly, false, false),
        ("news", StreamViewType::NewImage, true, false),
        ("olds", StreamViewType::OldImage, false, true),
        ("both", StreamViewType::NewAndOldImages, true, true),
    ];
    let mut arns = Vec::new();
    for (name, view, new, old) in views.iter().cloned() {
        let arn = table(&db, name, view).await;
        for v in ["1", "2"] {
            db.put_item()
                .table_name(name)
                .set_item(Some(item(&[("id", s("k")), ("v", s(v))])))
                .send()
                .await
                .unwrap();
        }
        let records = read_all(&st, &arn, ShardIteratorType::TrimHorizon, None).await;
        assert_eq!(records.len(), 2, "{name}");
        let d = records[1].dynamodb.clone().unwrap();
        assert_eq!(d.new_image.is_some(), new, "{name}");
        assert_eq!(d.old_image.is_some(), old, "{name}");
        assert_eq!(d.keys.unwrap().get("id"), Some(&sv("k")));
        arns.push(arn);
    }

    // ListStreams: all, by table, paged.
    let all = st.list_streams().send().await.unwrap();
    assert_eq!(all.streams.unwrap().len(), 4);
    let one = st.list_streams().table_name("news").send().await.unwrap();
    let listed = one.streams.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].stream_arn.as_deref(), Some(arns[1].as_str()));
    let page = st.list_streams().limit(3).send().await.unwrap();
    assert_eq!(page.streams.unwrap().len(), 3);
    let rest = st
        .list_streams()
        .exclusive_start_stream_arn(page.last_evaluated_stream_arn.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.streams.unwrap().len(), 1);
    assert!(rest.last_evaluated_stream_arn.is_none());

    // DescribeStream.
    let desc = st
        .describe_stream()
        .stream_arn(&arns[0])
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    assert_eq!(desc.stream_status.unwrap().as_str(), "ENABLED");
    assert_eq!(desc.stream_view_type.unwrap().as_str(), "KEYS_ONLY");
    assert_eq!(desc.table_name.as_deref(), Some("keys"));
    assert_eq!(desc.key_schema.unwrap()[0].attribute_name, "id");
    let shard = &desc.shards.unwrap()[0];
    let range = shard.sequence_number_range.clone().unwrap();
    assert!(range.starting_sequence_number.is_some());
    assert!(range.ending_sequence_number.is_none());
    let shard_id = shard.shard_id.clone().unwrap();

    // Disabling closes the shard: its records stay readable, then the iterator ends.
    db.update_table()
        .table_name("keys")
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(false)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let desc = st
        .describe_stream()
        .stream_arn(&arns[0])
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    assert_eq!(desc.stream_status.unwrap().as_str(), "DISABLED");
    let range = desc.shards.unwrap()[0]
        .sequence_number_range
        .clone()
        .unwrap();
    assert!(range.ending_sequence_number.is_some());
    let table = db.describe_table().table_name("keys").send().await.unwrap();
    assert_eq!(
        table.table.unwrap().latest_stream_arn.as_deref(),
        Some(arns[0].as_str())
    );
    let mut it = st
        .get_shard_iterator()
        .stream_arn(&arns[0])
        .shard_id(&shard_id)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator;
    let mut read = 0;
    let mut calls = 0;
    while let Some(i) = it {
        let page = st.get_records().shard_iterator(i).send().await.unwrap();
        read += page.records.unwrap().len();
        it = page.next_shard_iterator;
        calls += 1;
        assert!(calls < 5, "a closed shard must end");
    }
    assert_eq!(read, 2);

    // Errors.
    let missing = format!("{}-nope", arns[1]);
    let e = st
        .describe_stream()
        .stream_arn(&missing)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.as_service_error().unwrap().code(),
        Some("ResourceNotFoundException")
    );
    let e = st
        .get_shard_iterator()
        .stream_arn(&arns[1])
        .shard_id("shardId-00000000000000000000-00000000")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.as_service_error().unwrap().code(),
        Some("ResourceNotFoundException")
    );
    let shard_news = st
        .describe_stream()
        .stream_arn(&arns[1])
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap()
        .shards
        .unwrap()[0]
        .shard_id
        .clone()
        .unwrap();
    let e = st
        .get_shard_iterator()
        .stream_arn(&arns[1])
        .shard_id(&shard_news)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.as_service_error().unwrap().code(),
        Some("ValidationException")
    );
    let e = st
        .get_records()
        .shard_iterator("garbage")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.as_service_error().unwrap().code(),
        Some("ValidationException")
    );
    let e = st
        .list_streams()
        .table_name("no-such-table")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.as_service_error().unwrap().code(),
        Some("ResourceNotFoundException")
    );
    // A deleted table's stream stays readable (closed).
    db.delete_table().table_name("both").send().await.unwrap();
    let desc = st
        .describe_stream()
        .stream_arn(&arns[3])
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    assert_eq!(desc.stream_status.unwrap().as_str(), "DISABLED");
    let records = read_all(&st, &arns[3], ShardIteratorType::TrimHorizon, None).await;
    assert_eq!(records.len(), 2);
}

/// What must not change about a record across a restart or an import.
fn fingerprint(r: &Record) -> (String, String, String, String) {
    let d = r.dynamodb.clone().unwrap();
    let sorted = |m: Option<HashMap<String, StreamValue>>| {
        m.map(|m| m.into_iter().collect::<std::collections::BTreeMap<_, _>>())
    };
    (
        r.event_id.clone().unwrap(),
        r.event_name.clone().unwrap().as_str().to_owned(),
        d.sequence_number.clone().unwrap(),
        format!(
            "{:?} {:?} {:?} {:?}",
            sorted(d.keys),
            sorted(d.new_image),
            sorted(d.old_image),
            r.user_identity
        ),
    )
}

fn seq_of(r: &Record) -> u128 {
    r.dynamodb
        .as_ref()
        .and_then(|d| d.sequence_number.as_deref())
        .unwrap()
        .parse()
        .unwrap()
}

async fn put(db: &aws_sdk_dynamodb::Client, table: &str, id: &str, v: &str) {
    db.put_item()
        .table_name(table)
        .set_item(Some(item(&[("id", s(id)), ("v", s(v))])))
        .send()
        .await
        .unwrap();
}

/// Puts item `id` (`v` = 1) through BatchWriteItem.
async fn batch_put(db: &aws_sdk_dynamodb::Client, table: &str, id: &str) {
    db.batch_write_item()
        .request_items(
            table,
            vec![
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item(&[("id", s(id)), ("v", s("1"))])))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            ],
        )
        .send()
        .await
        .unwrap();
}

/// Puts item `id` (`v` = 1) through TransactWriteItems.
async fn transact_put(db: &aws_sdk_dynamodb::Client, table: &str, id: &str) {
    db.transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(table)
                        .set_item(Some(item(&[("id", s(id)), ("v", s("1"))])))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Writes through every path to `name`'s stream: puts, an update, a delete, a batch and a
/// transaction.
async fn every_kind_of_write(db: &aws_sdk_dynamodb::Client, name: &str) {
    for n in 0..4 {
        put(db, name, &format!("k{n}"), "1").await;
    }
    db.update_item()
        .table_name(name)
        .key("id", s("k0"))
        .update_expression("SET v = :v")
        .expression_attribute_values(":v", s("2"))
        .send()
        .await
        .unwrap();
    db.delete_item()
        .table_name(name)
        .key("id", s("k1"))
        .send()
        .await
        .unwrap();
    batch_put(db, name, "b1").await;
    transact_put(db, name, "t1").await;
}

async fn shard_of(st: &aws_sdk_dynamodbstreams::Client, arn: &str) -> (String, String, String) {
    let desc = st
        .describe_stream()
        .stream_arn(arn)
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    let shard = desc.shards.unwrap().remove(0);
    let range = shard.sequence_number_range.unwrap();
    (
        shard.shard_id.unwrap(),
        range.starting_sequence_number.unwrap(),
        desc.stream_status.unwrap().as_str().to_owned(),
    )
}

#[tokio::test]
async fn stream_records_survive_kill_nine_with_persistence() {
    let state = tempfile::tempdir().unwrap();
    let options = Options::default()
        .env("PERSISTENCE", "1")
        .state_dir(state.path());
    let (arn, disabled_arn, dropped_arn, before, read_until, shard, iterator) = {
        let sky = Skyport::start_with(options.clone());
        let db = db(&sky.endpoint());
        let st = streams(&sky.endpoint());
        let arn = table(&db, "durable", StreamViewType::NewAndOldImages).await;
        every_kind_of_write(&db, "durable").await;
        // A disabled stream and a deleted table's stream: closed, readable for 24 hours.
        let disabled_arn = table(&db, "disabled", StreamViewType::KeysOnly).await;
        put(&db, "disabled", "a", "1").await;
        put(&db, "disabled", "b", "1").await;
        db.update_table()
            .table_name("disabled")
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(false)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let dropped_arn = table(&db, "dropped", StreamViewType::NewImage).await;
        put(&db, "dropped", "a", "1").await;
        db.delete_table()
            .table_name("dropped")
            .send()
            .await
            .unwrap();

        let before = read_all(&st, &arn, ShardIteratorType::TrimHorizon, None).await;
        assert_eq!(before.len(), 8);
        // A consumer read the first three records, and holds an iterator after the last one.
        let read_until = before[2]
            .dynamodb
            .as_ref()
            .unwrap()
            .sequence_number
            .clone()
            .unwrap();
        let shard = shard_of(&st, &arn).await;
        let iterator = st
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(&shard.0)
            .shard_iterator_type(ShardIteratorType::Latest)
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        sky.signal("KILL");
        (
            arn,
            disabled_arn,
            dropped_arn,
            before,
            read_until,
            shard,
            iterator,
        )
    };

    let sky = Skyport::start_with(options);
    let db = db(&sky.endpoint());
    let st = streams(&sky.endpoint());
    // The same streams, shard and first sequence number.
    let listed: Vec<String> = st
        .list_streams()
        .send()
        .await
        .unwrap()
        .streams
        .unwrap()
        .into_iter()
        .map(|s| s.stream_arn.unwrap())
        .collect();
    for a in [&arn, &disabled_arn, &dropped_arn] {
        assert!(listed.contains(a), "{a} in {listed:?}");
    }
    assert_eq!(shard_of(&st, &arn).await, shard);
    let d = db
        .describe_table()
        .table_name("durable")
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.table.unwrap().latest_stream_arn.as_deref(),
        Some(arn.as_str())
    );

    // TRIM_HORIZON: every acknowledged record, as it was.
    let after = read_all(&st, &arn, ShardIteratorType::TrimHorizon, None).await;
    let print = |rs: &[Record]| rs.iter().map(fingerprint).collect::<Vec<_>>();
    assert_eq!(print(&after), print(&before));
    // AFTER_SEQUENCE_NUMBER continues exactly; AT_SEQUENCE_NUMBER starts there.
    let rest = read_all(
        &st,
        &arn,
        ShardIteratorType::AfterSequenceNumber,
        Some(&read_until),
    )
    .await;
    assert_eq!(print(&rest), print(&before[3..]));
    let at = read_all(
        &st,
        &arn,
        ShardIteratorType::AtSequenceNumber,
        Some(&read_until),
    )
    .await;
    assert_eq!(print(&at), print(&before[2..]));

    // New writes continue above every number given before the restart, in the same shard; the
    // iterator taken before the kill reads exactly them.
    put(&db, "durable", "new", "1").await;
    let page = st
        .get_records()
        .shard_iterator(iterator)
        .send()
        .await
        .unwrap();
    let new = page.records.unwrap();
    assert_eq!(new.len(), 1);
    assert!(seq_of(&new[0]) > seq_of(before.last().unwrap()));
    assert_eq!(
        new[0].dynamodb.as_ref().unwrap().keys.as_ref().unwrap()["id"],
        sv("new")
    );
    let all = read_all(&st, &arn, ShardIteratorType::TrimHorizon, None).await;
    assert_eq!(all.len(), 9);
    assert!(all.windows(2).all(|w| seq_of(&w[0]) < seq_of(&w[1])));

    // The closed streams are still closed and readable, with their records.
    for (a, n) in [(&disabled_arn, 2), (&dropped_arn, 1)] {
        let (_, _, status) = shard_of(&st, a).await;
        assert_eq!(status, "DISABLED", "{a}");
        let records = read_all(&st, a, ShardIteratorType::TrimHorizon, None).await;
        assert_eq!(records.len(), n, "{a}");
    }
    // Writes to the table whose stream is disabled record nothing.
    put(&db, "disabled", "c", "1").await;
    let records = read_all(&st, &disabled_arn, ShardIteratorType::TrimHorizon, None).await;
    assert_eq!(records.len(), 2);

    // Once more, without writes in between: the numbers the first restart gave are kept too.
    drop(db);
    sky.signal("KILL");
    drop(sky);
    let sky = Skyport::start_with(
        Options::default()
            .env("PERSISTENCE", "1")
            .state_dir(state.path()),
    );
    let st = streams(&sky.endpoint());
    let again = read_all(&st, &arn, ShardIteratorType::TrimHorizon, None).await;
    assert_eq!(print(&again), print(&all));
}

#[tokio::test]
async fn stream_records_round_trip_through_state_export_reset_and_import() {
    let state = tempfile::tempdir().unwrap();
    let options = Options::default()
        .env("PERSISTENCE", "1")
        .state_dir(state.path());
    let sky = Skyport::start_with(options.clone());
    let endpoint = sky.endpoint();
    let db = db(&endpoint);
    let st = streams(&endpoint);
    let arn = table(&db, "exported", StreamViewType::NewAndOldImages).await;
    every_kind_of_write(&db, "exported").await;
    let disabled_arn = table(&db, "off", StreamViewType::KeysOnly).await;
    put(&db, "off", "a", "1").await;
    db.update_table()
        .table_name("off")
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(false)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let before = read_all(&st, &arn, ShardIteratorType::TrimHorizon, None).await;
    let shard = shard_of(&st, &arn).await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ddb.state");
    let state_cmd = |args: &[&str]| {
        let (status, out, err) = common::run(
            common::command()
                .arg("state")
                .args(args)
                .arg("--endpoint")
                .arg(&endpoint),
        );
        assert!(status.success(), "state {args:?}: {out} {err}");
    };
    state_cmd(&["export", file.to_str().unwrap(), "--services", "dynamodb"]);
    state_cmd(&["reset", "dynamodb"]);
    let listed = st.list_streams().send().await.unwrap().streams.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    state_cmd(&["import", file.to_str().unwrap()]);

    let print = |rs: &[Record]| rs.iter().map(fingerprint).collect::<Vec<_>>();
    let check = |st: aws_sdk_dynamodbstreams::Client, expected: Vec<Record>| {
        let (arn, disabled_arn, shard) = (arn.clone(), disabled_arn.clone(), shard.clone());
        async move {
            assert_eq!(shard_of(&st, &arn).await, shard);
            let after = read_all(&st, &arn, ShardIteratorType::TrimHorizon, None).await;
            assert_eq!(print(&after), print(&expected));
            let (_, _, status) = shard_of(&st, &disabled_arn).await;
            assert_eq!(status, "DISABLED");
            assert_eq!(
                read_all(&st, &disabled_arn, ShardIteratorType::TrimHorizon, None)
                    .await
                    .len(),
                1
            );
        }
    };
    check(st.clone(), before.clone()).await;
    put(&db, "exported", "new", "1").await;
    let all = read_all(&st, &arn, ShardIteratorType::TrimHorizon, None).await;
    assert_eq!(all.len(), before.len() + 1);
    assert!(seq_of(all.last().unwrap()) > seq_of(before.last().unwrap()));

    // The import was committed: it survives `kill -9`.
    sky.signal("KILL");
    drop(sky);
    let sky = Skyport::start_with(options);
    let st = streams(&sky.endpoint());
    check(st.clone(), all).await;

    // A snapshot from before streams were exported (the same one without its stream entries) still
    // imports: the table and its items come back, and its enabled stream starts anew, empty.
    let old = dir.path().join("old.state");
    std::fs::write(&old, without_stream_entries(&std::fs::read(&file).unwrap())).unwrap();
    let endpoint = sky.endpoint();
    let (status, out, err) = common::run(
        common::command()
            .args(["state", "import", old.to_str().unwrap(), "--endpoint"])
            .arg(&endpoint),
    );
    assert!(status.success(), "{out} {err}");
    let db = self::db(&endpoint);
    let d = db
        .describe_table()
        .table_name("exported")
        .send()
        .await
        .unwrap();
    let d = d.table.unwrap();
    assert_eq!(d.item_count, Some(5));
    assert_eq!(d.latest_stream_arn.as_deref(), Some(arn.as_str()));
    let (shard_id, _, status) = shard_of(&st, &arn).await;
    assert_eq!(status, "ENABLED");
    assert_ne!(shard_id, shard.0, "a new shard");
    assert!(
        read_all(&st, &arn, ShardIteratorType::TrimHorizon, None)
            .await
            .is_empty()
    );
    put(&db, "exported", "later", "1").await;
    assert_eq!(
        read_all(&st, &arn, ShardIteratorType::TrimHorizon, None)
            .await
            .len(),
        1
    );
}

/// A snapshot without its DynamoDB `streams` and `stream_records` entries (frames: a JSON line, then
/// `len` bytes for entries and files).
fn without_stream_entries(snapshot: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = snapshot;
    while let Some(end) = rest.iter().position(|b| *b == b'\n') {
        let line = &rest[..=end];
        let frame: serde_json::Value = serde_json::from_slice(line).unwrap();
        let body = frame
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|v| v.get("len"))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0) as usize;
        let table = frame["entry"]["table"].as_str().unwrap_or_default();
        if table != "streams" && table != "stream_records" {
            out.extend_from_slice(&rest[..end + 1 + body]);
        }
        rest = &rest[end + 1 + body..];
    }
    out
}

//! DynamoDB through the official `aws-sdk-dynamodb` crate (awsJson 1.0) against the real binary:
//! tables (create, describe, waiters, update with GSI backfill, delete, list, tags, limits, TTL),
//! items with every `ReturnValues`, conditions and their errors, every expression function and
//! operator, Query and Scan (sort conditions, direction, `Limit` before the filter, pagination, COUNT,
//! parallel scan, GSIs and LSIs with their projections, sparse indexes), batches, transactions (also
//! racing each other), TTL expiry, the `x-amz-crc32` header, and persistence across `kill -9`.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck,
    CreateGlobalSecondaryIndexAction, Delete, DeleteGlobalSecondaryIndexAction, Get,
    GlobalSecondaryIndex, GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType, KeysAndAttributes,
    LocalSecondaryIndex, Projection, ProjectionType, ProvisionedThroughput, Put, PutRequest,
    ReturnConsumedCapacity, ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
    Select, StreamSpecification, StreamViewType, Tag, TimeToLiveSpecification, TransactGetItem,
    TransactWriteItem, Update, WriteRequest,
};
use common::{Options, Skyport};

type Item = HashMap<String, AttributeValue>;

fn client(endpoint: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    Client::from_conf(config)
}

/// The error code and message the SDK saw.
fn error<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> (String, String) {
    let service = e.as_service_error();
    (
        service
            .and_then(|s| s.code())
            .unwrap_or("<none>")
            .to_owned(),
        service
            .and_then(|s| s.message())
            .unwrap_or("<none>")
            .to_owned(),
    )
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.to_owned())
}

fn item(pairs: &[(&str, AttributeValue)]) -> Item {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn attr(name: &str, ty: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ty)
        .build()
        .unwrap()
}

fn key(name: &str, ty: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(ty)
        .build()
        .unwrap()
}

/// A PAY_PER_REQUEST table `name` with hash key `pk` (S) and, if given, range key `sk` (of `range`).
async fn table(db: &Client, name: &str, range: Option<ScalarAttributeType>) {
    let mut req = db
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .key_schema(key("pk", KeyType::Hash));
    if let Some(ty) = range {
        req = req
            .attribute_definitions(attr("sk", ty))
            .key_schema(key("sk", KeyType::Range));
    }
    req.send().await.unwrap();
}

async fn put(db: &Client, table: &str, it: Item) {
    db.put_item()
        .table_name(table)
        .set_item(Some(it))
        .send()
        .await
        .unwrap();
}

async fn get(db: &Client, table: &str, k: Item) -> Option<Item> {
    db.get_item()
        .table_name(table)
        .set_key(Some(k))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

#[tokio::test]
async fn tables_lifecycle_indexes_tags_limits_and_ttl() {
    let skyport = Skyport::start();
    let db = client(&skyport.endpoint());

    // A provisioned table with a GSI and an LSI, streams, class, tags, deletion protection.
    let created = db
        .create_table()
        .table_name("orders")
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .attribute_definitions(attr("sk", ScalarAttributeType::N))
        .attribute_definitions(attr("status", ScalarAttributeType::S))
        .attribute_definitions(attr("total", ScalarAttributeType::N))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(5)
                .write_capacity_units(7)
                .build()
                .unwrap(),
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by-status")
                .key_schema(key("status", KeyType::Hash))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .provisioned_throughput(
                    ProvisionedThroughput::builder()
                        .read_capacity_units(1)
                        .write_capacity_units(1)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("by-total")
                .key_schema(key("pk", KeyType::Hash))
                .key_schema(key("total", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .non_key_attributes("note")
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .tags(Tag::builder().key("team").value("core").build().unwrap())
        .deletion_protection_enabled(true)
        .send()
        .await
        .unwrap();
    let desc = created.table_description().unwrap();
    assert_eq!(desc.table_status().unwrap().as_str(), "CREATING");
    assert_eq!(
        desc.table_arn(),
        Some("arn:aws:dynamodb:us-east-1:000000000000:table/orders")
    );
    // The waiter finishes: DescribeTable says ACTIVE.
    db.wait_until_table_exists()
        .table_name("orders")
        .wait(Duration::from_secs(10))
        .await
        .unwrap();
    let desc = db
        .describe_table()
        .table_name("orders")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(desc.table_status().unwrap().as_str(), "ACTIVE");
    let tp = desc.provisioned_throughput().unwrap();
    assert_eq!(
        (tp.read_capacity_units(), tp.write_capacity_units()),
        (Some(5), Some(7))
    );
    assert_eq!(
        desc.global_secondary_indexes()[0]
            .index_status()
            .unwrap()
            .as_str(),
        "ACTIVE"
    );
    assert_eq!(
        desc.local_secondary_indexes()[0].index_name(),
        Some("by-total")
    );
    assert_eq!(
        desc.stream_specification().unwrap().stream_view_type(),
        Some(&StreamViewType::NewAndOldImages)
    );
    assert!(
        desc.latest_stream_arn()
            .unwrap()
            .starts_with("arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/")
    );
    assert_eq!(desc.deletion_protection_enabled(), Some(true));

    // Errors, exactly as AWS words them.
    let e = db
        .create_table()
        .table_name("orders")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .key_schema(key("pk", KeyType::Hash))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "ResourceInUseException".into(),
            "Table already exists: orders".into()
        )
    );
    let e = db
        .describe_table()
        .table_name("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "ResourceNotFoundException".into(),
            "Requested resource not found: Table: nope not found".into()
        )
    );
    let e = db
        .create_table()
        .table_name("bad")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .attribute_definitions(attr("extra", ScalarAttributeType::S))
        .key_schema(key("pk", KeyType::Hash))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "ValidationException".into(),
            "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions".into()
        )
    );
    let e = db
        .create_table()
        .table_name("bad")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .key_schema(key("other", KeyType::Hash))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [other], AttributeDefinitions: [pk]"
    );
    let e = db
        .get_item()
        .table_name("nope")
        .key("pk", s("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "ResourceNotFoundException".into(),
            "Requested resource not found".into()
        )
    );

    // ListTables pages.
    for name in ["t-a", "t-b", "t-c", "t-d"] {
        table(&db, name, None).await;
    }
    let first = db.list_tables().limit(2).send().await.unwrap();
    assert_eq!(first.table_names(), ["orders", "t-a"]);
    assert_eq!(first.last_evaluated_table_name(), Some("t-a"));
    let second = db
        .list_tables()
        .limit(2)
        .exclusive_start_table_name("t-a")
        .send()
        .await
        .unwrap();
    assert_eq!(second.table_names(), ["t-b", "t-c"]);
    let all: Vec<String> = db
        .list_tables()
        .limit(1)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(all, ["orders", "t-a", "t-b", "t-c", "t-d"]);

    // UpdateTable: throughput, then on-demand; a GSI added later is backfilled.
    for i in 0..30 {
        let mut it = item(&[("pk", s(&format!("u{i}"))), ("sk", n(&i.to_string()))]);
        if i % 3 == 0 {
            it.insert("email".into(), s(&format!("user{i}@x")));
        }
        put(&db, "orders", it).await;
    }
    let e = db
        .update_table()
        .table_name("orders")
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(5)
                .write_capacity_units(7)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        error(&e)
            .1
            .starts_with("The provisioned throughput for the table will not change."),
        "{e:?}"
    );
    db.update_table()
        .table_name("orders")
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(10)
                .write_capacity_units(11)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let desc = db
        .describe_table()
        .table_name("orders")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(
        desc.provisioned_throughput().unwrap().read_capacity_units(),
        Some(10)
    );
    db.update_table()
        .table_name("orders")
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let updated = db
        .update_table()
        .table_name("orders")
        .attribute_definitions(attr("email", ScalarAttributeType::S))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .create(
                    CreateGlobalSecondaryIndexAction::builder()
                        .index_name("by-email")
                        .key_schema(key("email", KeyType::Hash))
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::All)
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let created_index = updated
        .table_description()
        .unwrap()
        .global_secondary_indexes()
        .iter()
        .find(|g| g.index_name() == Some("by-email"))
        .unwrap()
        .clone();
    assert_eq!(created_index.index_status().unwrap().as_str(), "CREATING");
    let desc = db
        .describe_table()
        .table_name("orders")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(
        desc.billing_mode_summary()
            .unwrap()
            .billing_mode()
            .unwrap()
            .as_str(),
        "PAY_PER_REQUEST"
    );
    let gsi = desc
        .global_secondary_indexes()
        .iter()
        .find(|g| g.index_name() == Some("by-email"))
        .unwrap();
    assert_eq!(gsi.index_status().unwrap().as_str(), "ACTIVE");
    assert_eq!(
        gsi.item_count(),
        Some(10),
        "backfilled: only items with an email (sparse)"
    );
    let hit = db
        .query()
        .table_name("orders")
        .index_name("by-email")
        .key_condition_expression("email = :e")
        .expression_attribute_values(":e", s("user9@x"))
        .send()
        .await
        .unwrap();
    assert_eq!(hit.items()[0]["pk"], s("u9"));
    db.update_table()
        .table_name("orders")
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .delete(
                    DeleteGlobalSecondaryIndexAction::builder()
                        .index_name("by-email")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let e = db
        .query()
        .table_name("orders")
        .index_name("by-email")
        .key_condition_expression("email = :e")
        .expression_attribute_values(":e", s("user9@x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "The table does not have the specified index: by-email"
    );

    // Tags.
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/orders";
    db.tag_resource()
        .resource_arn(arn)
        .tags(Tag::builder().key("env").value("dev").build().unwrap())
        .send()
        .await
        .unwrap();
    db.untag_resource()
        .resource_arn(arn)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = db
        .list_tags_of_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    let tags: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("env", "dev")]);
    let e = db
        .list_tags_of_resource()
        .resource_arn("arn:aws:dynamodb:us-east-1:000000000000:table/missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).0, "ResourceNotFoundException");

    // Limits and endpoints.
    let limits = db.describe_limits().send().await.unwrap();
    assert_eq!(limits.table_max_read_capacity_units(), Some(40_000));
    let endpoints = db.describe_endpoints().send().await.unwrap();
    assert_eq!(
        endpoints.endpoints()[0].address(),
        "dynamodb.us-east-1.amazonaws.com"
    );

    // TTL settings.
    let ttl = db
        .describe_time_to_live()
        .table_name("orders")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .unwrap()
            .time_to_live_status()
            .unwrap()
            .as_str(),
        "DISABLED"
    );
    db.update_time_to_live()
        .table_name("orders")
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let ttl = db
        .describe_time_to_live()
        .table_name("orders")
        .send()
        .await
        .unwrap();
    let d = ttl.time_to_live_description().unwrap();
    assert_eq!(
        (
            d.time_to_live_status().unwrap().as_str(),
            d.attribute_name()
        ),
        ("ENABLED", Some("expires"))
    );

    // Deletion protection, then delete.
    let e = db
        .delete_table()
        .table_name("orders")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first."
    );
    db.update_table()
        .table_name("orders")
        .deletion_protection_enabled(false)
        .send()
        .await
        .unwrap();
    let deleted = db.delete_table().table_name("orders").send().await.unwrap();
    assert_eq!(
        deleted
            .table_description()
            .unwrap()
            .table_status()
            .unwrap()
            .as_str(),
        "DELETING"
    );
    db.wait_until_table_not_exists()
        .table_name("orders")
        .wait(Duration::from_secs(10))
        .await
        .unwrap();
    let e = db
        .delete_table()
        .table_name("orders")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).0, "ResourceNotFoundException");
}

#[tokio::test]
async fn items_return_values_conditions_types_and_validation() {
    let skyport = Skyport::start();
    let db = client(&skyport.endpoint());
    table(&db, "items", None).await;
    table(&db, "pairs", Some(ScalarAttributeType::N)).await;

    // Every type round-trips; numbers come back normalised.
    let mut m = HashMap::new();
    m.insert(
        "inner".to_owned(),
        AttributeValue::L(vec![n("1"), AttributeValue::Null(true)]),
    );
    let all = item(&[
        ("pk", s("types")),
        ("s", s("")),
        ("n", n("1.50")),
        ("big", n("-0012345678901234567890123456789012345678")),
        ("b", AttributeValue::B(vec![0u8, 1, 2].into())),
        ("bool", AttributeValue::Bool(true)),
        ("null", AttributeValue::Null(true)),
        ("ss", AttributeValue::Ss(vec!["a".into(), "b".into()])),
        ("ns", AttributeValue::Ns(vec!["1".into(), "2.0".into()])),
        ("bs", AttributeValue::Bs(vec![vec![9u8].into()])),
        ("l", AttributeValue::L(vec![s("x"), n("2")])),
        ("m", AttributeValue::M(m)),
    ]);
    put(&db, "items", all.clone()).await;
    let got = get(&db, "items", item(&[("pk", s("types"))]))
        .await
        .unwrap();
    assert_eq!(got["n"], n("1.5"));
    assert_eq!(got["big"], n("-12345678901234567890123456789012345678"));
    assert_eq!(got["ns"], AttributeValue::Ns(vec!["1".into(), "2".into()]));
    assert_eq!(got["b"], all["b"]);
    assert_eq!(got["m"], all["m"]);
    assert_eq!(got["s"], s(""));

    // Number and size limits.
    let e = db
        .put_item()
        .table_name("items")
        .item("pk", s("x"))
        .item("n", n("123456789012345678901234567890123456789"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "ValidationException".into(),
            "Attempting to store more than 38 significant digits in a Number".into()
        )
    );
    let e = db
        .put_item()
        .table_name("items")
        .item("pk", s("x"))
        .item("n", n("abc"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "A value provided cannot be converted into a number"
    );
    let e = db
        .put_item()
        .table_name("items")
        .item("pk", s("x"))
        .item("blob", s(&"x".repeat(400 * 1024)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "Item size has exceeded the maximum allowed size"
    );
    // 400 KB exactly, names included, fits.
    let exact = 400 * 1024 - "pk".len() - 1 - "blob".len();
    db.put_item()
        .table_name("items")
        .item("pk", s("x"))
        .item("blob", s(&"x".repeat(exact)))
        .send()
        .await
        .unwrap();

    // Key validation.
    let e = db
        .put_item()
        .table_name("items")
        .item("other", s("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "One or more parameter values were invalid: Missing the key pk in the item"
    );
    let e = db
        .put_item()
        .table_name("items")
        .item("pk", n("1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N"
    );
    let e = db
        .put_item()
        .table_name("items")
        .item("pk", s(""))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk"
    );
    let e = db
        .get_item()
        .table_name("pairs")
        .key("pk", s("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "The provided key element does not match the schema"
    );
    let e = db
        .get_item()
        .table_name("items")
        .key("pk", s("x"))
        .key("extra", s("y"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "The provided key element does not match the schema"
    );
    let e = db
        .put_item()
        .table_name("items")
        .item("pk", s("x"))
        .item("set", AttributeValue::Ss(vec!["a".into(), "a".into()]))
        .send()
        .await
        .unwrap_err();
    assert!(error(&e).1.contains("contains duplicates"), "{e:?}");

    // PutItem ReturnValues and conditions.
    let k = || item(&[("pk", s("rv"))]);
    let first = db
        .put_item()
        .table_name("items")
        .item("pk", s("rv"))
        .item("v", n("1"))
        .return_values(ReturnValue::AllOld)
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .unwrap();
    assert!(first.attributes.is_none());
    let e = db
        .put_item()
        .table_name("items")
        .item("pk", s("rv"))
        .item("v", n("2"))
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "ConditionalCheckFailedException".into(),
            "The conditional request failed".into()
        )
    );
    let failed = e.into_service_error();
    let ccf = match failed {
        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
            c
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(ccf.item().unwrap()["v"], n("1"));
    let e = db
        .put_item()
        .table_name("items")
        .item("pk", s("rv"))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).1, "Return values set to invalid value");
    let old = db
        .put_item()
        .table_name("items")
        .item("pk", s("rv"))
        .item("v", n("2"))
        .item("tags", AttributeValue::Ss(vec!["a".into()]))
        .item("l", AttributeValue::L(vec![n("1")]))
        .return_values(ReturnValue::AllOld)
        .condition_expression("v = :one")
        .expression_attribute_values(":one", n("1"))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    assert_eq!(old.attributes.unwrap()["v"], n("1"));
    let cc = old.consumed_capacity.unwrap();
    assert_eq!(
        (cc.table_name(), cc.capacity_units()),
        (Some("items"), Some(1.0))
    );

    // UpdateItem: each ReturnValues.
    let upd = |rv: ReturnValue, expr: &str| {
        db.update_item()
            .table_name("items")
            .set_key(Some(k()))
            .update_expression(expr)
            .return_values(rv)
    };
    let out = upd(
        ReturnValue::UpdatedNew,
        "SET v = v + :d, c = if_not_exists(c, :zero) - :d",
    )
    .expression_attribute_values(":d", n("0.5"))
    .expression_attribute_values(":zero", n("0"))
    .send()
    .await
    .unwrap();
    assert_eq!(
        out.attributes.unwrap(),
        item(&[("v", n("2.5")), ("c", n("-0.5"))])
    );
    let out = upd(ReturnValue::UpdatedOld, "ADD tags :t, cnt :one")
        .expression_attribute_values(":t", AttributeValue::Ss(vec!["b".into()]))
        .expression_attribute_values(":one", n("1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.attributes.unwrap(),
        item(&[("tags", AttributeValue::Ss(vec!["a".into()]))])
    );
    let out = upd(
        ReturnValue::AllNew,
        "SET l = list_append(l, :more) REMOVE c DELETE tags :a",
    )
    .expression_attribute_values(":more", AttributeValue::L(vec![n("2")]))
    .expression_attribute_values(":a", AttributeValue::Ss(vec!["a".into()]))
    .send()
    .await
    .unwrap();
    let new = out.attributes.unwrap();
    assert_eq!(new["l"], AttributeValue::L(vec![n("1"), n("2")]));
    assert_eq!(new["tags"], AttributeValue::Ss(vec!["b".into()]));
    assert_eq!(new["cnt"], n("1"));
    assert!(!new.contains_key("c"));
    let out = upd(ReturnValue::AllOld, "SET #name = :x")
        .expression_attribute_names("#name", "name")
        .expression_attribute_values(":x", s("n"))
        .send()
        .await
        .unwrap();
    assert!(!out.attributes.unwrap().contains_key("name"));
    let out = upd(ReturnValue::None, "REMOVE #name")
        .expression_attribute_names("#name", "name")
        .send()
        .await
        .unwrap();
    assert!(out.attributes.is_none());
    // UpdateItem creates missing items; key attributes cannot change.
    db.update_item()
        .table_name("items")
        .key("pk", s("fresh"))
        .update_expression("SET a = :a")
        .expression_attribute_values(":a", n("1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        get(&db, "items", item(&[("pk", s("fresh"))]))
            .await
            .unwrap()["a"],
        n("1")
    );
    let e = db
        .update_item()
        .table_name("items")
        .key("pk", s("fresh"))
        .update_expression("SET pk = :a")
        .expression_attribute_values(":a", s("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"
    );
    let e = db
        .update_item()
        .table_name("items")
        .key("pk", s("fresh"))
        .update_expression("SET a = nothere + :a")
        .expression_attribute_values(":a", n("1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "The provided expression refers to an attribute that does not exist in the item"
    );
    let e = db
        .update_item()
        .table_name("items")
        .key("pk", s("fresh"))
        .update_expression("SET a = :a")
        .condition_expression("a > :big")
        .expression_attribute_values(":a", n("1"))
        .expression_attribute_values(":big", n("100"))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).0, "ConditionalCheckFailedException");

    // DeleteItem.
    let out = db
        .delete_item()
        .table_name("items")
        .key("pk", s("fresh"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert_eq!(out.attributes.unwrap()["a"], n("1"));
    assert!(
        get(&db, "items", item(&[("pk", s("fresh"))]))
            .await
            .is_none()
    );
    let e = db
        .delete_item()
        .table_name("items")
        .key("pk", s("rv"))
        .condition_expression("attribute_not_exists(v)")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).0, "ConditionalCheckFailedException");

    // GetItem projections (nested) and the legacy AttributesToGet.
    put(
        &db,
        "items",
        item(&[
            ("pk", s("doc")),
            (
                "a",
                AttributeValue::M(item(&[(
                    "b",
                    AttributeValue::L(vec![
                        n("0"),
                        AttributeValue::M(item(&[("c", s("deep")), ("d", s("no"))])),
                    ]),
                )])),
            ),
            ("e", s("e")),
        ]),
    )
    .await;
    let got = db
        .get_item()
        .table_name("items")
        .key("pk", s("doc"))
        .projection_expression("a.b[1].c, #e")
        .expression_attribute_names("#e", "e")
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        got,
        item(&[
            (
                "a",
                AttributeValue::M(item(&[(
                    "b",
                    AttributeValue::L(vec![AttributeValue::M(item(&[("c", s("deep"))]))])
                )]))
            ),
            ("e", s("e")),
        ])
    );
    let got = db
        .get_item()
        .table_name("items")
        .key("pk", s("doc"))
        .attributes_to_get("e")
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(got, item(&[("e", s("e"))]));
}

/// A filter over a scan of a small fixed table: the keys of the matching items, sorted.
async fn matching(
    db: &Client,
    filter: &str,
    values: &[(&str, AttributeValue)],
    names: &[(&str, &str)],
) -> Vec<String> {
    let mut req = db.scan().table_name("expr").filter_expression(filter);
    for (k, v) in values {
        req = req.expression_attribute_values(*k, v.clone());
    }
    for (k, v) in names {
        req = req.expression_attribute_names(*k, *v);
    }
    let out = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{filter}: {e:?}"));
    let mut keys: Vec<String> = out
        .items()
        .iter()
        .map(|i| match &i["pk"] {
            AttributeValue::S(s) => s.clone(),
            _ => unreachable!(),
        })
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn expression_functions_operators_and_errors() {
    let skyport = Skyport::start();
    let db = client(&skyport.endpoint());
    table(&db, "expr", None).await;
    put(
        &db,
        "expr",
        item(&[
            ("pk", s("a")),
            ("n", n("1")),
            ("s", s("apple")),
            ("tags", AttributeValue::Ss(vec!["x".into(), "y".into()])),
            ("l", AttributeValue::L(vec![n("1"), s("two")])),
            ("m", AttributeValue::M(item(&[("k", n("10"))]))),
        ]),
    )
    .await;
    put(
        &db,
        "expr",
        item(&[
            ("pk", s("b")),
            ("n", n("5")),
            ("s", s("banana")),
            ("b", AttributeValue::B(vec![1u8, 2, 3].into())),
            ("m", AttributeValue::M(item(&[("k", n("20"))]))),
        ]),
    )
    .await;
    put(
        &db,
        "expr",
        item(&[
            ("pk", s("c")),
            ("n", n("-3.5")),
            ("s", s("cherry")),
            ("flag", AttributeValue::Bool(true)),
            ("nothing", AttributeValue::Null(true)),
        ]),
    )
    .await;
    put(&db, "expr", item(&[("pk", s("d")), ("s", s("apricot"))])).await;

    let v = |x: &str| n(x);
    assert_eq!(matching(&db, "n = :v", &[(":v", v("5"))], &[]).await, ["b"]);
    assert_eq!(
        matching(&db, "n <> :v", &[(":v", v("5"))], &[]).await,
        ["a", "c", "d"]
    );
    assert_eq!(matching(&db, "n < :v", &[(":v", v("1"))], &[]).await, ["c"]);
    assert_eq!(
        matching(&db, "n <= :v", &[(":v", v("1"))], &[]).await,
        ["a", "c"]
    );
    assert_eq!(matching(&db, "n > :v", &[(":v", v("1"))], &[]).await, ["b"]);
    assert_eq!(
        matching(&db, "n >= :v", &[(":v", v("1"))], &[]).await,
        ["a", "b"]
    );
    assert_eq!(
        matching(
            &db,
            "n BETWEEN :lo AND :hi",
            &[(":lo", v("-4")), (":hi", v("1.0"))],
            &[]
        )
        .await,
        ["a", "c"]
    );
    assert_eq!(
        matching(
            &db,
            "s IN (:x, :y)",
            &[(":x", s("apple")), (":y", s("cherry"))],
            &[]
        )
        .await,
        ["a", "c"]
    );
    assert_eq!(
        matching(&db, "attribute_exists(tags)", &[], &[]).await,
        ["a"]
    );
    assert_eq!(
        matching(&db, "attribute_not_exists(n)", &[], &[]).await,
        ["d"]
    );
    assert_eq!(
        matching(&db, "attribute_type(flag, :t)", &[(":t", s("BOOL"))], &[]).await,
        ["c"]
    );
    assert_eq!(
        matching(
            &db,
            "attribute_type(#nothing, :t)",
            &[(":t", s("NULL"))],
            &[("#nothing", "nothing")]
        )
        .await,
        ["c"]
    );
    assert_eq!(
        matching(&db, "begins_with(s, :p)", &[(":p", s("ap"))], &[]).await,
        ["a", "d"]
    );
    assert_eq!(
        matching(
            &db,
            "begins_with(b, :p)",
            &[(":p", AttributeValue::B(vec![1u8].into()))],
            &[]
        )
        .await,
        ["b"]
    );
    assert_eq!(
        matching(&db, "contains(s, :p)", &[(":p", s("an"))], &[]).await,
        ["b"]
    );
    assert_eq!(
        matching(&db, "contains(tags, :p)", &[(":p", s("y"))], &[]).await,
        ["a"]
    );
    assert_eq!(
        matching(&db, "contains(l, :p)", &[(":p", s("two"))], &[]).await,
        ["a"]
    );
    assert_eq!(
        matching(&db, "size(s) > :n", &[(":n", v("5"))], &[]).await,
        ["b", "c", "d"]
    );
    assert_eq!(
        matching(&db, "size(tags) = :n", &[(":n", v("2"))], &[]).await,
        ["a"]
    );
    assert_eq!(
        matching(&db, "m.k >= :n", &[(":n", v("15"))], &[]).await,
        ["b"]
    );
    assert_eq!(
        matching(&db, "l[1] = :x", &[(":x", s("two"))], &[]).await,
        ["a"]
    );
    assert_eq!(
        matching(
            &db,
            "(n > :z AND NOT begins_with(s, :b)) OR #s = :d",
            &[(":z", v("0")), (":b", s("b")), (":d", s("apricot"))],
            &[("#s", "s")]
        )
        .await,
        ["a", "d"]
    );
    assert_eq!(
        matching(&db, "NOT n = :v", &[(":v", v("5"))], &[]).await,
        ["a", "c", "d"]
    );

    // Errors, worded as AWS words them.
    let scan_err = |filter: &'static str,
                    values: Vec<(&'static str, AttributeValue)>,
                    names: Vec<(&'static str, &'static str)>| {
        let mut req = db.scan().table_name("expr").filter_expression(filter);
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        for (k, v) in names {
            req = req.expression_attribute_names(k, v);
        }
        async move { error(&req.send().await.unwrap_err()) }
    };
    assert_eq!(
        scan_err("name = :v", vec![(":v", s("x"))], vec![]).await,
        ("ValidationException".into(), "Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: name".into())
    );
    assert_eq!(
        scan_err("s = :v", vec![(":v", s("x")), (":w", s("unused"))], vec![])
            .await
            .1,
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"
    );
    assert_eq!(
        scan_err("s = :x", vec![(":v", s("x"))], vec![]).await.1,
        "Invalid FilterExpression: An expression attribute value used in expression is not defined; attribute value: :x"
    );
    assert_eq!(
        scan_err("#q = :v", vec![(":v", s("x"))], vec![("#n", "s")])
            .await
            .1,
        "Invalid FilterExpression: An expression attribute name used in the document path is not defined; attribute name: #q"
    );
    assert_eq!(
        scan_err("s = :v", vec![(":v", s("x"))], vec![("#n", "s")])
            .await
            .1,
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#n}"
    );
    assert_eq!(
        scan_err("s = = :v", vec![(":v", s("x"))], vec![]).await.1,
        "Invalid FilterExpression: Syntax error; token: \"=\", near: \"= = :v\""
    );
    assert_eq!(
        scan_err("nope(s)", vec![], vec![]).await.1,
        "Invalid FilterExpression: Invalid function name; function: nope"
    );
    let e = db
        .update_item()
        .table_name("expr")
        .key("pk", s("a"))
        .update_expression("SET m = :v, m.k = :v")
        .expression_attribute_values(":v", n("1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [m], path two: [m, k]"
    );
    let e = db
        .put_item()
        .table_name("expr")
        .item("pk", s("z"))
        .expression_attribute_values(":v", n("1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "ExpressionAttributeValues can only be specified when using expressions: ConditionExpression is null"
    );
    // Legacy parameters run on the same evaluator.
    let legacy = db
        .scan()
        .table_name("expr")
        .scan_filter(
            "n",
            aws_sdk_dynamodb::types::Condition::builder()
                .comparison_operator(aws_sdk_dynamodb::types::ComparisonOperator::Gt)
                .attribute_value_list(n("0"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.count(), 2);
}

#[tokio::test]
async fn query_scan_pagination_and_indexes() {
    let skyport = Skyport::start();
    let db = client(&skyport.endpoint());
    db.create_table()
        .table_name("events")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .attribute_definitions(attr("sk", ScalarAttributeType::N))
        .attribute_definitions(attr("kind", ScalarAttributeType::S))
        .attribute_definitions(attr("at", ScalarAttributeType::S))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by-kind")
                .key_schema(key("kind", KeyType::Hash))
                .key_schema(key("at", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .non_key_attributes("size")
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("by-at")
                .key_schema(key("pk", KeyType::Hash))
                .key_schema(key("at", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    for i in 0..20 {
        let mut it = item(&[
            ("pk", s("p")),
            ("sk", n(&i.to_string())),
            ("size", n(&(i * 10).to_string())),
            ("secret", s("hidden")),
        ]);
        if i % 2 == 0 {
            it.insert("kind".into(), s(if i % 4 == 0 { "click" } else { "view" }));
            it.insert("at".into(), s(&format!("2024-01-{:02}", 20 - i)));
        }
        put(&db, "events", it).await;
    }
    put(&db, "events", item(&[("pk", s("other")), ("sk", n("1"))])).await;
    let q = || {
        db.query()
            .table_name("events")
            .key_condition_expression("pk = :p AND sk BETWEEN :a AND :b")
            .expression_attribute_values(":p", s("p"))
            .expression_attribute_values(":a", n("5"))
            .expression_attribute_values(":b", n("14"))
    };
    let out = q().send().await.unwrap();
    let sks: Vec<&AttributeValue> = out.items().iter().map(|i| &i["sk"]).collect();
    assert_eq!(sks.len(), 10);
    assert_eq!(sks[0], &n("5"));
    let out = q().scan_index_forward(false).send().await.unwrap();
    assert_eq!(out.items()[0]["sk"], n("14"));
    // Limit applies before the filter: 4 read, 2 returned.
    let out = q()
        .filter_expression("#size >= :min")
        .expression_attribute_names("#size", "size")
        .expression_attribute_values(":min", n("70"))
        .limit(4)
        .send()
        .await
        .unwrap();
    assert_eq!((out.scanned_count(), out.count()), (4, 2));
    assert_eq!(
        out.last_evaluated_key().unwrap(),
        &item(&[("pk", s("p")), ("sk", n("8"))])
    );
    let next = q()
        .filter_expression("#size >= :min")
        .expression_attribute_names("#size", "size")
        .expression_attribute_values(":min", n("70"))
        .limit(4)
        .set_exclusive_start_key(out.last_evaluated_key().cloned())
        .send()
        .await
        .unwrap();
    assert_eq!(next.items()[0]["sk"], n("9"));
    // Every sort key condition.
    for (cond, want) in [
        ("sk = :v", 1),
        ("sk < :v", 7),
        ("sk <= :v", 8),
        ("sk > :v", 12),
        ("sk >= :v", 13),
    ] {
        let out = db
            .query()
            .table_name("events")
            .key_condition_expression(format!("pk = :p AND {cond}"))
            .expression_attribute_values(":p", s("p"))
            .expression_attribute_values(":v", n("7"))
            .select(Select::Count)
            .send()
            .await
            .unwrap();
        assert_eq!(out.count(), want, "{cond}");
        assert!(out.items().is_empty());
    }
    let e = db
        .query()
        .table_name("events")
        .key_condition_expression("sk = :v")
        .expression_attribute_values(":v", n("7"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).1, "Query condition missed key schema element: pk");
    let e = db
        .query()
        .table_name("events")
        .key_condition_expression("pk = :p AND #size = :v")
        .expression_attribute_names("#size", "size")
        .expression_attribute_values(":p", s("p"))
        .expression_attribute_values(":v", n("7"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).1, "Query key condition not supported");

    // Paginator over the whole partition, 3 at a time.
    let pages: Vec<_> = db
        .query()
        .table_name("events")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p"))
        .limit(3)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(pages.iter().map(|p| p.count()).sum::<i32>(), 20);

    // GSI: the projection only (keys + `size`), sparse, sorted by the index key; LastEvaluatedKey
    // carries the table key and the index key.
    let out = db
        .query()
        .table_name("events")
        .index_name("by-kind")
        .key_condition_expression("kind = :k AND begins_with(#at, :m)")
        .expression_attribute_names("#at", "at")
        .expression_attribute_values(":k", s("click"))
        .expression_attribute_values(":m", s("2024-01"))
        .limit(2)
        .send()
        .await
        .unwrap();
    assert_eq!(out.count(), 2);
    let first = &out.items()[0];
    assert_eq!(first["at"], s("2024-01-04"));
    assert!(
        first.contains_key("size") && !first.contains_key("secret"),
        "{first:?}"
    );
    let lek = out.last_evaluated_key().unwrap();
    assert_eq!(lek.len(), 4, "{lek:?}");
    let e = db
        .query()
        .table_name("events")
        .index_name("by-kind")
        .key_condition_expression("kind = :k")
        .expression_attribute_values(":k", s("click"))
        .select(Select::AllAttributes)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index by-kind because its projection type is not ALL"
    );
    let e = db
        .query()
        .table_name("events")
        .index_name("by-kind")
        .key_condition_expression("kind = :k")
        .expression_attribute_values(":k", s("click"))
        .consistent_read(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "Consistent reads are not supported on global secondary indexes"
    );
    let scan = db
        .scan()
        .table_name("events")
        .index_name("by-kind")
        .send()
        .await
        .unwrap();
    assert_eq!(scan.count(), 10, "sparse: only items with kind and at");
    // LSI: keys only by default; ALL_ATTRIBUTES fetches from the table.
    let out = db
        .query()
        .table_name("events")
        .index_name("by-at")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.count(), 10);
    assert_eq!(out.items()[0].len(), 3);
    assert_eq!(out.items()[0]["at"], s("2024-01-02"));
    let out = db
        .query()
        .table_name("events")
        .index_name("by-at")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p"))
        .select(Select::AllAttributes)
        .send()
        .await
        .unwrap();
    assert_eq!(out.items()[0]["secret"], s("hidden"));

    // Scan: Count vs ScannedCount, projection, parallel segments cover everything once.
    let out = db
        .scan()
        .table_name("events")
        .filter_expression("#size > :v")
        .expression_attribute_names("#size", "size")
        .expression_attribute_values(":v", n("150"))
        .projection_expression("sk")
        .send()
        .await
        .unwrap();
    assert_eq!((out.count(), out.scanned_count()), (4, 21));
    assert_eq!(out.items()[0].len(), 1);
    let mut seen = Vec::new();
    for segment in 0..4 {
        let mut start = None;
        loop {
            let out = db
                .scan()
                .table_name("events")
                .segment(segment)
                .total_segments(4)
                .limit(2)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            seen.extend(
                out.items()
                    .iter()
                    .map(|i| (i["pk"].clone(), i["sk"].clone())),
            );
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
    }
    seen.sort_by_key(|(p, s)| format!("{p:?}{s:?}"));
    seen.dedup();
    assert_eq!(seen.len(), 21);
    let e = db
        .scan()
        .table_name("events")
        .segment(4)
        .total_segments(4)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: 4 is not less than TotalSegments: 4"
    );

    // The 1 MB page: 3 items of 390 KB fit two to a page... three 390 KB items read 1.1 MB, so a
    // page stops after the third item read.
    table(&db, "big", None).await;
    for i in 0..5 {
        put(
            &db,
            "big",
            item(&[
                ("pk", s(&format!("k{i}"))),
                ("blob", s(&"x".repeat(390 * 1024))),
            ]),
        )
        .await;
    }
    let out = db.scan().table_name("big").send().await.unwrap();
    assert_eq!(out.count(), 3);
    assert!(out.last_evaluated_key().is_some());
    let rest = db
        .scan()
        .table_name("big")
        .set_exclusive_start_key(out.last_evaluated_key().cloned())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.count(), 2);
    assert!(rest.last_evaluated_key().is_none());
}

#[tokio::test]
async fn batches_and_transactions() {
    let skyport = Skyport::start();
    let db = client(&skyport.endpoint());
    table(&db, "accounts", None).await;
    table(&db, "audit", Some(ScalarAttributeType::S)).await;

    // BatchWriteItem: 25 at most; duplicates refused; then BatchGetItem.
    let puts: Vec<WriteRequest> = (0..25)
        .map(|i| {
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item(&[
                            ("pk", s(&format!("acct{i}"))),
                            ("balance", n("100")),
                        ])))
                        .build()
                        .unwrap(),
                )
                .build()
        })
        .collect();
    let out = db
        .batch_write_item()
        .request_items("accounts", puts.clone())
        .send()
        .await
        .unwrap();
    assert!(out.unprocessed_items().unwrap().is_empty());
    let mut too_many = puts.clone();
    too_many.push(puts[0].clone());
    let e = db
        .batch_write_item()
        .request_items("accounts", too_many)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).0, "ValidationException");
    let e = db
        .batch_write_item()
        .request_items("accounts", vec![puts[0].clone(), puts[0].clone()])
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "Provided list of item keys contains duplicates"
    );
    let keys: Vec<Item> = (0..30)
        .map(|i| item(&[("pk", s(&format!("acct{i}")))]))
        .collect();
    let got = db
        .batch_get_item()
        .request_items(
            "accounts",
            KeysAndAttributes::builder()
                .set_keys(Some(keys.clone()))
                .projection_expression("pk")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(got.responses().unwrap()["accounts"].len(), 25);
    assert!(got.unprocessed_keys().unwrap().is_empty());
    let many = |prefix: &str| -> Vec<Item> {
        (0..60)
            .map(|i| item(&[("pk", s(&format!("{prefix}{i}")))]))
            .collect()
    };
    let e = db
        .batch_get_item()
        .request_items(
            "accounts",
            KeysAndAttributes::builder()
                .set_keys(Some(many("a")))
                .build()
                .unwrap(),
        )
        .request_items(
            "audit",
            KeysAndAttributes::builder()
                .set_keys(Some(many("b")))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "Too many items requested for the BatchGetItem call"
    );

    // TransactWriteItems: a transfer with a condition, an audit record, a check.
    let transfer = |from: &str, to: &str, amount: &str, token: Option<&str>| {
        db.transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name("accounts")
                            .key("pk", s(from))
                            .update_expression("SET balance = balance - :a")
                            .condition_expression("balance >= :a")
                            .expression_attribute_values(":a", n(amount))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name("accounts")
                            .key("pk", s(to))
                            .update_expression("SET balance = balance + :a")
                            .expression_attribute_values(":a", n(amount))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .set_client_request_token(token.map(str::to_owned))
    };
    transfer("acct0", "acct1", "30", Some("token-1"))
        .send()
        .await
        .unwrap();
    // The same token and parameters again: accepted, not applied twice.
    transfer("acct0", "acct1", "30", Some("token-1"))
        .send()
        .await
        .unwrap();
    let balance = |k: &'static str| {
        let db = db.clone();
        async move { get(&db, "accounts", item(&[("pk", s(k))])).await.unwrap()["balance"].clone() }
    };
    assert_eq!(balance("acct0").await, n("70"));
    assert_eq!(balance("acct1").await, n("130"));
    let e = transfer("acct0", "acct1", "31", Some("token-1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).0, "IdempotentParameterMismatchException");
    // Too much: cancelled, one reason per action, nothing applied.
    let e = transfer("acct0", "acct1", "1000", None)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e),
        (
            "TransactionCanceledException".into(),
            "Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None]".into()
        )
    );
    let reasons = match e.into_service_error() {
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t) => {
            t.cancellation_reasons().iter().map(|r| r.code().unwrap_or("").to_owned()).collect::<Vec<_>>()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(reasons, ["ConditionalCheckFailed", "None"]);
    assert_eq!(balance("acct0").await, n("70"));
    // Put + Delete + ConditionCheck across tables.
    db.transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name("audit")
                        .item("pk", s("acct2"))
                        .item("sk", s("closed"))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name("accounts")
                        .key("pk", s("acct2"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name("accounts")
                        .key("pk", s("acct3"))
                        .condition_expression("balance = :b")
                        .expression_attribute_values(":b", n("100"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        get(&db, "accounts", item(&[("pk", s("acct2"))]))
            .await
            .is_none()
    );
    let e = db
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name("accounts")
                        .key("pk", s("acct4"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name("accounts")
                        .key("pk", s("acct4"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error(&e).1,
        "Transaction request cannot include multiple operations on one item"
    );
    // TransactGetItems.
    let got = db
        .transact_get_items()
        .transact_items(
            TransactGetItem::builder()
                .get(
                    Get::builder()
                        .table_name("accounts")
                        .key("pk", s("acct0"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactGetItem::builder()
                .get(
                    Get::builder()
                        .table_name("audit")
                        .key("pk", s("acct2"))
                        .key("sk", s("closed"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactGetItem::builder()
                .get(
                    Get::builder()
                        .table_name("accounts")
                        .key("pk", s("acct2"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let r = got.responses();
    assert_eq!(r[0].item().unwrap()["balance"], n("70"));
    assert!(r[1].item().is_some());
    assert!(r[2].item().is_none());
}

/// Racing transfers between the same accounts from many tasks: each either applies whole or is
/// cancelled (with `ConditionalCheckFailed` or `TransactionConflict`), never half; the total stays.
async fn race(db: &Client) -> (usize, usize) {
    table(db, "bank", None).await;
    for k in ["x", "y"] {
        put(
            db,
            "bank",
            item(&[("pk", s(k)), ("balance", n("1000")), ("version", n("0"))]),
        )
        .await;
    }
    let mut tasks = Vec::new();
    for i in 0..16 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let (from, to) = if i % 2 == 0 { ("x", "y") } else { ("y", "x") };
            let mut applied = 0;
            let mut conflicts = 0;
            for _ in 0..10 {
                let current = get(&db, "bank", item(&[("pk", s(from))])).await.unwrap();
                let version = current["version"].clone();
                let result = db
                    .transact_write_items()
                    .transact_items(
                        TransactWriteItem::builder()
                            .update(
                                Update::builder()
                                    .table_name("bank")
                                    .key("pk", s(from))
                                    .update_expression(
                                        "SET balance = balance - :a, version = version + :one",
                                    )
                                    .condition_expression("version = :v")
                                    .expression_attribute_values(":a", n("7"))
                                    .expression_attribute_values(":one", n("1"))
                                    .expression_attribute_values(":v", version)
                                    .build()
                                    .unwrap(),
                            )
                            .build(),
                    )
                    .transact_items(
                        TransactWriteItem::builder()
                            .update(
                                Update::builder()
                                    .table_name("bank")
                                    .key("pk", s(to))
                                    .update_expression("SET balance = balance + :a")
                                    .expression_attribute_values(":a", n("7"))
                                    .build()
                                    .unwrap(),
                            )
                            .build(),
                    )
                    .send()
                    .await;
                match result {
                    Ok(_) => applied += 1,
                    Err(e) => {
                        let (code, message) = error(&e);
                        assert_eq!(code, "TransactionCanceledException", "{message}");
                        assert!(
                            message.contains("ConditionalCheckFailed")
                                || message.contains("TransactionConflict"),
                            "{message}"
                        );
                        if message.contains("TransactionConflict") {
                            conflicts += 1;
                        }
                    }
                }
            }
            (applied, conflicts)
        }));
    }
    let mut applied = 0;
    let mut conflicts = 0;
    for t in tasks {
        let (a, c) = t.await.unwrap();
        applied += a;
        conflicts += c;
    }
    let bx = get(db, "bank", item(&[("pk", s("x"))])).await.unwrap();
    let by = get(db, "bank", item(&[("pk", s("y"))])).await.unwrap();
    let num = |v: &AttributeValue| v.as_n().unwrap().parse::<i64>().unwrap();
    assert_eq!(
        num(&bx["balance"]) + num(&by["balance"]),
        2000,
        "never half-applied"
    );
    let vx = num(&bx["version"]);
    let vy = num(&by["version"]);
    assert_eq!(
        (vx + vy) as usize,
        applied,
        "each applied transfer bumped one version"
    );
    (applied, conflicts)
}

#[tokio::test]
async fn racing_transactions_never_half_apply() {
    let skyport = Skyport::start();
    let db = client(&skyport.endpoint());
    let (applied, _) = race(&db).await;
    assert!(applied > 0);
    // With persistence a transaction holds its items until its commit is on disk: others touching
    // them meanwhile are cancelled with TransactionConflict.
    let skyport = Skyport::start_with(Options::default().env("PERSISTENCE", "1"));
    let db = client(&skyport.endpoint());
    let (applied, conflicts) = race(&db).await;
    eprintln!("with persistence: {applied} applied, {conflicts} conflicts");
    assert!(applied > 0);
}

#[tokio::test]
async fn ttl_sweeper_deletes_expired_items() {
    let skyport =
        Skyport::start_with(Options::default().env("SKYPORT_DYNAMODB_TTL_SWEEP_MS", "100"));
    let db = client(&skyport.endpoint());
    table(&db, "sessions", None).await;
    db.update_time_to_live()
        .table_name("sessions")
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    put(
        &db,
        "sessions",
        item(&[("pk", s("old")), ("expires", n(&(now - 10).to_string()))]),
    )
    .await;
    put(
        &db,
        "sessions",
        item(&[("pk", s("new")), ("expires", n(&(now + 3600).to_string()))]),
    )
    .await;
    put(
        &db,
        "sessions",
        item(&[("pk", s("text")), ("expires", s("0"))]),
    )
    .await;
    put(&db, "sessions", item(&[("pk", s("none"))])).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&db, "sessions", item(&[("pk", s("old"))]))
        .await
        .is_some()
    {
        assert!(Instant::now() < deadline, "the expired item was not swept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for k in ["new", "text", "none"] {
        assert!(
            get(&db, "sessions", item(&[("pk", s(k))])).await.is_some(),
            "{k}"
        );
    }
}

#[tokio::test]
async fn tables_and_items_survive_kill_nine_with_persistence() {
    let state = tempfile::tempdir().unwrap();
    let options = Options::default()
        .env("PERSISTENCE", "1")
        .state_dir(state.path());
    {
        let skyport = Skyport::start_with(options.clone());
        let db = client(&skyport.endpoint());
        db.create_table()
            .table_name("durable")
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk", ScalarAttributeType::S))
            .attribute_definitions(attr("sk", ScalarAttributeType::N))
            .attribute_definitions(attr("g", ScalarAttributeType::S))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name("by-g")
                    .key_schema(key("g", KeyType::Hash))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        for i in 0..50 {
            put(
                &db,
                "durable",
                item(&[
                    ("pk", s("p")),
                    ("sk", n(&i.to_string())),
                    ("g", s(&format!("g{}", i % 5))),
                ]),
            )
            .await;
        }
        db.delete_item()
            .table_name("durable")
            .key("pk", s("p"))
            .key("sk", n("0"))
            .send()
            .await
            .unwrap();
        db.update_item()
            .table_name("durable")
            .key("pk", s("p"))
            .key("sk", n("1"))
            .update_expression("SET extra = :x")
            .expression_attribute_values(":x", s("kept"))
            .send()
            .await
            .unwrap();
        table(&db, "gone", None).await;
        db.delete_table().table_name("gone").send().await.unwrap();
        // Creating it again fails and leaves the stored table as it was.
        let e = db
            .create_table()
            .table_name("durable")
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk", ScalarAttributeType::S))
            .key_schema(key("pk", KeyType::Hash))
            .send()
            .await
            .unwrap_err();
        assert_eq!(error(&e).0, "ResourceInUseException");
        skyport.signal("KILL");
    }
    let skyport = Skyport::start_with(options);
    let db = client(&skyport.endpoint());
    let names = db.list_tables().send().await.unwrap();
    assert_eq!(names.table_names(), ["durable"]);
    let out = db
        .query()
        .table_name("durable")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.count(), 49);
    assert_eq!(out.items()[0]["extra"], s("kept"));
    let by_g = db
        .query()
        .table_name("durable")
        .index_name("by-g")
        .key_condition_expression("g = :g")
        .expression_attribute_values(":g", s("g3"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_g.count(), 10);
    let desc = db
        .describe_table()
        .table_name("durable")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(desc.item_count(), Some(49));
}

/// CRC32 (IEEE), bit by bit.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn responses_carry_the_crc32_of_their_body() {
    let skyport = Skyport::start();
    let addr = skyport.endpoint().trim_start_matches("http://").to_owned();
    let body = r#"{"TableName":"crc","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}"#;
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: DynamoDB_20120810.CreateTable\r\nContent-Type: application/x-amz-json-1.0\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response);
    let (head, payload) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let crc: u32 = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("x-amz-crc32: ")
                .map(str::to_owned)
        })
        .expect("x-amz-crc32")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(crc, crc32(payload.as_bytes()));
    assert!(
        payload.contains("\"TableStatus\":\"CREATING\""),
        "{payload}"
    );
}

/// Write units on a global secondary index, as AWS counts them: one for an entry written or removed,
/// two when a write moves the entry (PutItem and BatchWriteItem alike).
#[tokio::test]
async fn index_write_units_count_the_entries_a_write_touches() {
    let skyport = Skyport::start();
    let db = client(&skyport.endpoint());
    db.create_table()
        .table_name("cost")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .attribute_definitions(attr("status", ScalarAttributeType::S))
        .key_schema(key("pk", KeyType::Hash))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by-status")
                .key_schema(key("status", KeyType::Hash))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let with_status = |status: Option<&str>| {
        let mut it = Item::from([("pk".to_owned(), s("a"))]);
        if let Some(status) = status {
            it.insert("status".to_owned(), s(status));
        }
        it
    };
    let units = |cc: Option<&aws_sdk_dynamodb::types::ConsumedCapacity>| {
        let cc = cc.unwrap();
        let index = cc
            .global_secondary_indexes()
            .and_then(|g| g.get("by-status"))
            .and_then(|c| c.capacity_units());
        (cc.table().and_then(|c| c.capacity_units()), index)
    };
    let put = |status: Option<&str>| {
        db.put_item()
            .table_name("cost")
            .set_item(Some(with_status(status)))
            .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
            .send()
    };
    // New entry, moved entry, removed entry.
    let out = put(Some("open")).await.unwrap();
    assert_eq!(units(out.consumed_capacity()), (Some(1.0), Some(1.0)));
    let out = put(Some("closed")).await.unwrap();
    assert_eq!(units(out.consumed_capacity()), (Some(1.0), Some(2.0)));
    let out = put(None).await.unwrap();
    assert_eq!(units(out.consumed_capacity()), (Some(1.0), Some(1.0)));
    // BatchWriteItem counts the same way.
    let out = db
        .batch_write_item()
        .request_items(
            "cost",
            vec![
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(with_status(Some("open"))))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            ],
        )
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    assert_eq!(
        units(out.consumed_capacity().first()),
        (Some(1.0), Some(1.0))
    );
}

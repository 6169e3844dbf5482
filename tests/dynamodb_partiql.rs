//! PartiQL for DynamoDB through the official `aws-sdk-dynamodb` crate against the real binary:
//! ExecuteStatement's SELECT (Query and Scan, on a table and an index, paging with `Limit` and
//! `NextToken`, ORDER BY), INSERT (and its duplicate key), UPDATE and DELETE (key in WHERE, conditions,
//! RETURNING), parameters and malformed statements; BatchExecuteStatement with a failing entry;
//! ExecuteTransaction that commits, that cancels leaving nothing written, and read transactions; and
//! a PartiQL write in the table's stream.

mod common;

use std::collections::HashMap;

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::execute_transaction::ExecuteTransactionError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BatchStatementRequest, BillingMode, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, ParameterizedStatement, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType,
};
use common::Skyport;

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

fn key(name: &str, ty: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(ty)
        .build()
        .unwrap()
}

fn attr(name: &str, ty: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ty)
        .build()
        .unwrap()
}

/// Table `name`: hash `pk` (S), range `sk` (N), GSI `byColor` (hash `color`, ALL), optional stream.
async fn table(db: &Client, name: &str, stream: bool) {
    let mut req = db
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .attribute_definitions(attr("sk", ScalarAttributeType::N))
        .attribute_definitions(attr("color", ScalarAttributeType::S))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("byColor")
                .key_schema(key("color", KeyType::Hash))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        );
    if stream {
        req = req.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        );
    }
    req.send().await.unwrap();
}

async fn exec(db: &Client, statement: &str, params: Vec<AttributeValue>) -> Vec<Item> {
    db.execute_statement()
        .statement(statement)
        .set_parameters((!params.is_empty()).then_some(params))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e:?}"))
        .items
        .unwrap_or_default()
}

async fn exec_err(db: &Client, statement: &str) -> (String, String) {
    let e = db
        .execute_statement()
        .statement(statement)
        .send()
        .await
        .expect_err(statement);
    error(&e)
}

async fn get(db: &Client, table: &str, pk: &str, sk: &str) -> Option<Item> {
    db.get_item()
        .table_name(table)
        .key("pk", s(pk))
        .key("sk", n(sk))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

#[tokio::test]
async fn statements_select_insert_update_delete() {
    let sky = Skyport::start();
    let db = client(&sky.endpoint());
    table(&db, "music", false).await;

    // INSERT, with literals and parameters.
    for i in 1..=5 {
        exec(
            &db,
            "INSERT INTO \"music\" VALUE {'pk': 'band', 'sk': ?, 'color': ?, 'tags': <<'a', 'b'>>, 'info': {'plays': [1, 'two']}}",
            vec![n(&i.to_string()), s(if i % 2 == 0 { "red" } else { "blue" })],
        )
        .await;
    }
    exec(
        &db,
        "insert into music value {'pk': 'solo', 'sk': 1, 'color': 'red'}",
        vec![],
    )
    .await;
    let it = get(&db, "music", "band", "3").await.unwrap();
    assert_eq!(it["color"], s("blue"));
    assert_eq!(
        it["tags"],
        AttributeValue::Ss(vec!["a".to_owned(), "b".to_owned()])
    );
    let AttributeValue::M(info) = &it["info"] else {
        panic!("info is a map");
    };
    assert_eq!(info["plays"], AttributeValue::L(vec![n("1"), s("two")]));

    // A duplicate key.
    let (code, message) = exec_err(&db, "INSERT INTO music VALUE {'pk': 'band', 'sk': 1}").await;
    assert_eq!(code, "DuplicateItemException");
    assert_eq!(message, "Duplicate primary key exists in table");

    // SELECT as a Query: partition key equality, sort-key range, projection, ORDER BY.
    let items = exec(
        &db,
        "SELECT sk, info.plays[1] FROM music WHERE pk = ? AND sk BETWEEN 2 AND 4 ORDER BY sk DESC",
        vec![s("band")],
    )
    .await;
    let sks: Vec<_> = items.iter().map(|i| i["sk"].clone()).collect();
    assert_eq!(sks, vec![n("4"), n("3"), n("2")]);
    assert!(!items[0].contains_key("color"));
    assert!(
        matches!(&items[0]["info"], AttributeValue::M(m) if m["plays"] == AttributeValue::L(vec![s("two")]))
    );

    // SELECT as a Scan with a filter, and on an index.
    let red = exec(
        &db,
        "SELECT * FROM music WHERE color = 'red' AND sk > 0",
        vec![],
    )
    .await;
    assert_eq!(red.len(), 3);
    let by_index = exec(
        &db,
        "SELECT * FROM \"music\".\"byColor\" WHERE color = 'blue'",
        vec![],
    )
    .await;
    assert_eq!(by_index.len(), 3);
    assert!(by_index.iter().all(|i| i["color"] == s("blue")));
    let missing = exec(
        &db,
        "SELECT * FROM music WHERE pk = 'band' AND nothing IS MISSING AND begins_with(color, 'bl')",
        vec![],
    )
    .await;
    assert_eq!(missing.len(), 3);

    // Paging: Limit counts items evaluated; NextToken resumes.
    let mut token = None;
    let mut seen = Vec::new();
    loop {
        let page = db
            .execute_statement()
            .statement("SELECT sk FROM music WHERE pk = 'band'")
            .limit(2)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        let items = page.items.unwrap_or_default();
        assert!(items.len() <= 2);
        seen.extend(items.into_iter().map(|i| i["sk"].clone()));
        token = page.next_token;
        if token.is_none() {
            break;
        }
        assert!(page.last_evaluated_key.is_some());
    }
    assert_eq!(seen, (1..=5).map(|i| n(&i.to_string())).collect::<Vec<_>>());

    // UPDATE: SET (arithmetic, list_append, set_add), REMOVE, RETURNING.
    let out = exec(
        &db,
        "UPDATE music SET plays = 10, color = 'green' SET tags = set_add(tags, <<'c'>>) REMOVE info WHERE pk = 'band' AND sk = 1 RETURNING ALL NEW *",
        vec![],
    )
    .await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["plays"], n("10"));
    assert!(!out[0].contains_key("info"));
    assert_eq!(
        out[0]["tags"],
        AttributeValue::Ss(vec!["a".to_owned(), "b".to_owned(), "c".to_owned()])
    );
    let out = exec(
        &db,
        "UPDATE music SET plays = plays + 5 SET hist = list_append([0], [1]) WHERE pk = 'band' AND sk = 1 AND plays = 10 RETURNING MODIFIED OLD *",
        vec![],
    )
    .await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["plays"], n("10"));
    assert!(!out[0].contains_key("hist"));
    assert_eq!(
        get(&db, "music", "band", "1").await.unwrap()["plays"],
        n("15")
    );

    // The rest of WHERE is a condition.
    let (code, _) = exec_err(
        &db,
        "UPDATE music SET plays = 0 WHERE pk = 'band' AND sk = 1 AND plays = 1",
    )
    .await;
    assert_eq!(code, "ConditionalCheckFailedException");
    assert_eq!(
        get(&db, "music", "band", "1").await.unwrap()["plays"],
        n("15")
    );
    // UPDATE of a missing item fails its condition; it creates nothing.
    let (code, _) = exec_err(
        &db,
        "UPDATE music SET plays = 0 WHERE pk = 'ghost' AND sk = 1",
    )
    .await;
    assert_eq!(code, "ConditionalCheckFailedException");
    assert!(get(&db, "music", "ghost", "1").await.is_none());
    // The whole key is mandatory.
    let (code, message) = exec_err(&db, "UPDATE music SET plays = 0 WHERE pk = 'band'").await;
    assert_eq!(code, "ValidationException");
    assert_eq!(
        message,
        "Where clause does not contain a mandatory equality on all key attributes"
    );
    let (code, message) = exec_err(&db, "DELETE FROM music WHERE sk = 1").await;
    assert_eq!(code, "ValidationException");
    assert_eq!(
        message,
        "Where clause does not contain a mandatory equality on all key attributes"
    );

    // DELETE: a failed condition, then RETURNING ALL OLD, then a missing item (no error).
    let (code, _) = exec_err(
        &db,
        "DELETE FROM music WHERE pk = 'band' AND sk = 2 AND color = 'blue'",
    )
    .await;
    assert_eq!(code, "ConditionalCheckFailedException");
    let out = exec(
        &db,
        "DELETE FROM music WHERE pk = 'band' AND sk = 2 AND color = 'red' RETURNING ALL OLD *",
        vec![],
    )
    .await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["color"], s("red"));
    assert!(get(&db, "music", "band", "2").await.is_none());
    assert!(
        exec(
            &db,
            "DELETE FROM music WHERE pk = 'band' AND sk = 2",
            vec![]
        )
        .await
        .is_empty()
    );

    // Errors: malformed, unknown table, parameters that do not match.
    let (code, message) = exec_err(&db, "SELEKT * FROM music").await;
    assert_eq!(code, "ValidationException");
    assert!(
        message.starts_with("Statement wasn't well formed, can't be processed: "),
        "{message}"
    );
    let (code, _) = exec_err(&db, "SELECT * FROM nowhere WHERE pk = 'x'").await;
    assert_eq!(code, "ResourceNotFoundException");
    let (code, message) = exec_err(&db, "SELECT * FROM music WHERE pk = ?").await;
    assert_eq!(code, "ValidationException");
    assert_eq!(
        message,
        "Number of parameters in request and statement don't match."
    );
}

#[tokio::test]
async fn batches_and_transactions() {
    let sky = Skyport::start();
    let db = client(&sky.endpoint());
    table(&db, "t", false).await;
    exec(
        &db,
        "INSERT INTO t VALUE {'pk': 'a', 'sk': 1, 'v': 1}",
        vec![],
    )
    .await;

    // A batch of writes, one of which fails on its own.
    let stmt = |text: &str| {
        BatchStatementRequest::builder()
            .statement(text)
            .build()
            .unwrap()
    };
    let out = db
        .batch_execute_statement()
        .statements(stmt("INSERT INTO t VALUE {'pk': 'b', 'sk': 1}"))
        .statements(stmt("INSERT INTO t VALUE {'pk': 'a', 'sk': 1}"))
        .statements(stmt("UPDATE t SET v = 2 WHERE pk = 'a' AND sk = 1"))
        .statements(stmt("NOT A STATEMENT"))
        .send()
        .await
        .unwrap();
    let responses = out.responses.unwrap();
    assert_eq!(responses.len(), 4);
    assert!(responses[0].error.is_none());
    let e = responses[1].error.as_ref().unwrap();
    assert_eq!(e.code.as_ref().unwrap().as_str(), "DuplicateItem");
    assert!(responses[2].error.is_none());
    let e = responses[3].error.as_ref().unwrap();
    assert_eq!(e.code.as_ref().unwrap().as_str(), "ValidationError");
    assert_eq!(get(&db, "t", "a", "1").await.unwrap()["v"], n("2"));
    assert!(get(&db, "t", "b", "1").await.is_some());

    // A batch of reads: full keys only.
    let out = db
        .batch_execute_statement()
        .statements(stmt("SELECT * FROM t WHERE pk = 'a' AND sk = 1"))
        .statements(stmt("SELECT * FROM t WHERE pk = 'zzz' AND sk = 1"))
        .statements(stmt("SELECT * FROM t WHERE pk = 'a'"))
        .send()
        .await
        .unwrap();
    let responses = out.responses.unwrap();
    assert_eq!(responses[0].item.as_ref().unwrap()["v"], n("2"));
    assert_eq!(responses[0].table_name.as_deref(), Some("t"));
    assert!(responses[1].item.is_none() && responses[1].error.is_none());
    let e = responses[2].error.as_ref().unwrap();
    assert_eq!(e.code.as_ref().unwrap().as_str(), "ValidationError");
    assert_eq!(
        e.message.as_deref(),
        Some(
            "Select statements within BatchExecuteStatement must specify the primary key in the where clause."
        )
    );

    // A transaction that commits.
    let ps = |text: &str| {
        ParameterizedStatement::builder()
            .statement(text)
            .build()
            .unwrap()
    };
    db.execute_transaction()
        .transact_statements(ps(
            "EXISTS(SELECT * FROM t WHERE pk = 'a' AND sk = 1 AND v = 2)",
        ))
        .transact_statements(ps("INSERT INTO t VALUE {'pk': 'c', 'sk': 1}"))
        .transact_statements(ps("UPDATE t SET v = 3 WHERE pk = 'b' AND sk = 1"))
        .client_request_token("tok-1")
        .send()
        .await
        .unwrap();
    assert!(get(&db, "t", "c", "1").await.is_some());
    assert_eq!(get(&db, "t", "b", "1").await.unwrap()["v"], n("3"));

    // One that cancels: nothing is written.
    let e = db
        .execute_transaction()
        .transact_statements(ps("INSERT INTO t VALUE {'pk': 'd', 'sk': 1}"))
        .transact_statements(ps(
            "UPDATE t SET v = 9 WHERE pk = 'a' AND sk = 1 AND v = 100",
        ))
        .transact_statements(ps("INSERT INTO t VALUE {'pk': 'c', 'sk': 1}"))
        .send()
        .await
        .unwrap_err();
    let Some(ExecuteTransactionError::TransactionCanceledException(tc)) = e.as_service_error()
    else {
        panic!("{e:?}");
    };
    let codes: Vec<_> = tc
        .cancellation_reasons()
        .iter()
        .map(|r| r.code().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        codes,
        vec!["None", "ConditionalCheckFailed", "DuplicateItem"]
    );
    assert!(get(&db, "t", "d", "1").await.is_none());
    assert_eq!(get(&db, "t", "a", "1").await.unwrap()["v"], n("2"));

    // A read transaction.
    let out = db
        .execute_transaction()
        .transact_statements(ps("SELECT v FROM t WHERE pk = 'a' AND sk = 1"))
        .transact_statements(ps("SELECT * FROM t WHERE pk = 'nope' AND sk = 1"))
        .send()
        .await
        .unwrap();
    let responses = out.responses.unwrap();
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].item.as_ref().unwrap().len(), 1);
    assert!(responses[1].item.is_none());

    // Reads and writes do not mix.
    let e = db
        .execute_transaction()
        .transact_statements(ps("SELECT * FROM t WHERE pk = 'a' AND sk = 1"))
        .transact_statements(ps("DELETE FROM t WHERE pk = 'a' AND sk = 1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error(&e).0, "ValidationException");
}

#[tokio::test]
async fn partiql_writes_reach_the_stream() {
    let sky = Skyport::start();
    let db = client(&sky.endpoint());
    let streams = aws_sdk_dynamodbstreams::Client::from_conf(
        aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
            .endpoint_url(sky.endpoint())
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .build(),
    );
    table(&db, "s", true).await;
    exec(&db, "INSERT INTO s VALUE {'pk': 'x', 'sk': 1}", vec![]).await;
    exec(&db, "UPDATE s SET v = 1 WHERE pk = 'x' AND sk = 1", vec![]).await;
    exec(&db, "DELETE FROM s WHERE pk = 'x' AND sk = 1", vec![]).await;

    let arn = db
        .describe_table()
        .table_name("s")
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .latest_stream_arn
        .unwrap();
    let desc = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap();
    let shard = desc.stream_description.unwrap().shards.unwrap().remove(0);
    let it = streams
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id(shard.shard_id.unwrap())
        .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let records = streams
        .get_records()
        .shard_iterator(it)
        .send()
        .await
        .unwrap()
        .records
        .unwrap_or_default();
    let events: Vec<_> = records
        .iter()
        .map(|r| r.event_name().unwrap().as_str().to_owned())
        .collect();
    assert_eq!(events, vec!["INSERT", "MODIFY", "REMOVE"]);
}

//! State control for test suites, end to end: `POST /_localstack/state/reset`,
//! `/_localstack/state/<service>/reset`, `POST /moto-api/reset`, `skyport state reset|export|import`
//! and `/_localstack/state/<service>/save|load`, through the official SDKs.
//!
//! - every service's resources are gone after a reset, and a one-service reset touches only that service;
//! - a reset during 64-client load leaves no request failing with anything but the expected not-found;
//! - a snapshot taken under load imports into a fresh Skyport with every object intact, and a snapshot of
//!   a quiet Skyport imports to an identical listing of every service;
//! - a newer snapshot format is refused with a clear error;
//! - with `PERSISTENCE=1` a reset and an import survive a restart.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType,
};
use common::{Options, Skyport};

/// Every client of one Skyport.
struct Clients {
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    ddb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    iam: aws_sdk_iam::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    sns: aws_sdk_sns::Client,
    events: aws_sdk_eventbridge::Client,
    lambda: aws_sdk_lambda::Client,
    ecr: aws_sdk_ecr::Client,
    endpoint: String,
}

async fn clients(endpoint: &str) -> Clients {
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(endpoint)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let s3 = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(true)
        .build();
    Clients {
        s3: aws_sdk_s3::Client::from_conf(s3),
        sqs: aws_sdk_sqs::Client::new(&shared),
        ddb: aws_sdk_dynamodb::Client::new(&shared),
        streams: aws_sdk_dynamodbstreams::Client::new(&shared),
        iam: aws_sdk_iam::Client::new(&shared),
        logs: aws_sdk_cloudwatchlogs::Client::new(&shared),
        sns: aws_sdk_sns::Client::new(&shared),
        events: aws_sdk_eventbridge::Client::new(&shared),
        lambda: aws_sdk_lambda::Client::new(&shared),
        ecr: aws_sdk_ecr::Client::new(&shared),
        endpoint: endpoint.to_owned(),
    }
}

/// A zip holding one executable `bootstrap`.
fn bootstrap_zip() -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    w.start_file("bootstrap", options).unwrap();
    w.write_all(b"#!/bin/sh\necho hi\n").unwrap();
    w.finish().unwrap().into_inner()
}

/// Deterministic object content.
fn content(key: &str, len: usize) -> Vec<u8> {
    key.bytes().cycle().take(len).collect()
}

/// Creates resources in every service; `tag` makes names unique.
async fn seed(c: &Clients, tag: &str) {
    let bucket = format!("bucket-{tag}");
    c.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    for (key, len) in [("small.txt", 100), ("big.bin", 3 << 20), ("dir/empty", 0)] {
        c.s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(content(key, len).into())
            .send()
            .await
            .unwrap();
    }
    let url = c
        .sqs
        .create_queue()
        .queue_name(format!("queue-{tag}"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    for n in 0..3 {
        c.sqs
            .send_message()
            .queue_url(&url)
            .message_body(format!("message {n}"))
            .send()
            .await
            .unwrap();
    }
    let table = format!("table-{tag}");
    c.ddb
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    for n in 0..5 {
        c.ddb
            .put_item()
            .table_name(&table)
            .item("pk", AttributeValue::S(format!("item-{n}")))
            .item("n", AttributeValue::N(n.to_string()))
            .send()
            .await
            .unwrap();
    }
    c.iam
        .create_role()
        .role_name(format!("role-{tag}"))
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap();
    c.logs
        .create_log_group()
        .log_group_name(format!("/group/{tag}"))
        .send()
        .await
        .unwrap();
    let topic = c
        .sns
        .create_topic()
        .name(format!("topic-{tag}"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue_arn = format!("arn:aws:sqs:us-east-1:000000000000:queue-{tag}");
    c.sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap();
    c.events
        .put_rule()
        .name(format!("rule-{tag}"))
        .event_pattern(r#"{"source":["test"]}"#)
        .send()
        .await
        .unwrap();
    c.lambda
        .create_function()
        .function_name(format!("fn-{tag}"))
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .role(format!("arn:aws:iam::000000000000:role/role-{tag}"))
        .handler("bootstrap")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(bootstrap_zip().into())
                .build(),
        )
        .send()
        .await
        .unwrap();
    // An ECR repository with one image: its config and layer uploaded through the API.
    let repo = format!("repo-{tag}");
    c.ecr
        .create_repository()
        .repository_name(&repo)
        .send()
        .await
        .unwrap();
    let config = format!("{{\"config\":\"{tag}\"}}").into_bytes();
    let layer = content(&repo, 300_000);
    for blob in [&config, &layer] {
        let id = c
            .ecr
            .initiate_layer_upload()
            .repository_name(&repo)
            .send()
            .await
            .unwrap()
            .upload_id
            .unwrap();
        c.ecr
            .upload_layer_part()
            .repository_name(&repo)
            .upload_id(&id)
            .part_first_byte(0)
            .part_last_byte(blob.len() as i64 - 1)
            .layer_part_blob(aws_sdk_ecr::primitives::Blob::new(blob.clone()))
            .send()
            .await
            .unwrap();
        c.ecr
            .complete_layer_upload()
            .repository_name(&repo)
            .upload_id(&id)
            .layer_digests(sha256(blob))
            .send()
            .await
            .unwrap();
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "digest": sha256(&layer), "size": layer.len()}],
    })
    .to_string();
    c.ecr
        .put_image()
        .repository_name(&repo)
        .image_manifest(manifest)
        .image_tag("v1")
        .send()
        .await
        .unwrap();
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// The length of the body at `url` (an ECR download URL naming the registry host), fetched from
/// Skyport at `endpoint` with the URL's host in the `Host` header.
fn download_len(endpoint: &str, url: &str) -> usize {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(endpoint.trim_start_matches("http://")).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..head_end]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    raw.len() - head_end - 4
}

/// What a client sees of every service, as sorted lines per service.
async fn listing(c: &Clients) -> BTreeMap<&'static str, Vec<String>> {
    let mut out: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut s3 = Vec::new();
    for b in c.s3.list_buckets().send().await.unwrap().buckets() {
        let name = b.name().unwrap().to_owned();
        let objects = c.s3.list_objects_v2().bucket(&name).send().await.unwrap();
        for o in objects.contents() {
            let key = o.key().unwrap();
            let body =
                c.s3.get_object()
                    .bucket(&name)
                    .key(key)
                    .send()
                    .await
                    .unwrap()
                    .body
                    .collect()
                    .await
                    .unwrap()
                    .into_bytes();
            s3.push(format!(
                "{name}/{key} {} {} {}",
                o.size().unwrap_or(0),
                o.e_tag().unwrap_or(""),
                body.len()
            ));
        }
        s3.push(name);
    }
    out.insert("s3", s3);
    let mut sqs = Vec::new();
    for url in c.sqs.list_queues().send().await.unwrap().queue_urls() {
        let attrs = c
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let count = attrs
            .attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            })
            .cloned()
            .unwrap_or_default();
        // The URL's host names the Skyport's port: compare the account and name.
        let path = url.rsplitn(3, '/').take(2).collect::<Vec<_>>().join("<");
        sqs.push(format!("{path} messages={count}"));
    }
    out.insert("sqs", sqs);
    let mut ddb = Vec::new();
    for t in c.ddb.list_tables().send().await.unwrap().table_names() {
        let scan = c.ddb.scan().table_name(t).send().await.unwrap();
        let mut items: Vec<String> = scan
            .items()
            .iter()
            .map(|i| format!("{t} {:?}", i.iter().collect::<BTreeMap<_, _>>()))
            .collect();
        items.sort();
        ddb.push(t.clone());
        ddb.extend(items);
    }
    // The tables' streams (DynamoDB Streams' state lives with DynamoDB's).
    let streams = c.streams.list_streams().send().await.unwrap();
    for stream in streams.streams() {
        ddb.push(format!("stream of {}", stream.table_name().unwrap_or("")));
    }
    out.insert("dynamodb", ddb);
    out.insert(
        "iam",
        c.iam
            .list_roles()
            .send()
            .await
            .unwrap()
            .roles()
            .iter()
            .map(|r| format!("{} {}", r.role_name(), r.arn()))
            .collect(),
    );
    out.insert(
        "logs",
        c.logs
            .describe_log_groups()
            .send()
            .await
            .unwrap()
            .log_groups()
            .iter()
            .map(|g| g.log_group_name().unwrap_or("").to_owned())
            .collect(),
    );
    let mut sns: Vec<String> = c
        .sns
        .list_topics()
        .send()
        .await
        .unwrap()
        .topics()
        .iter()
        .map(|t| t.topic_arn().unwrap_or("").to_owned())
        .collect();
    sns.extend(
        c.sns
            .list_subscriptions()
            .send()
            .await
            .unwrap()
            .subscriptions()
            .iter()
            .map(|s| {
                format!(
                    "{} {}",
                    s.topic_arn().unwrap_or(""),
                    s.endpoint().unwrap_or("")
                )
            }),
    );
    out.insert("sns", sns);
    out.insert(
        "events",
        c.events
            .list_rules()
            .send()
            .await
            .unwrap()
            .rules()
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r.name().unwrap_or(""),
                    r.event_pattern().unwrap_or("")
                )
            })
            .collect(),
    );
    out.insert(
        "lambda",
        c.lambda
            .list_functions()
            .send()
            .await
            .unwrap()
            .functions()
            .iter()
            .map(|f| {
                format!(
                    "{} {} {}",
                    f.function_name().unwrap_or(""),
                    f.code_sha256().unwrap_or(""),
                    f.code_size()
                )
            })
            .collect(),
    );
    let mut ecr = Vec::new();
    let repos = c.ecr.describe_repositories().send().await.unwrap();
    for repo in repos.repositories() {
        let name = repo.repository_name().unwrap();
        ecr.push(name.to_owned());
        let images = c
            .ecr
            .describe_images()
            .repository_name(name)
            .send()
            .await
            .unwrap();
        for image in images.image_details() {
            let digest = image.image_digest().unwrap();
            let got = c
                .ecr
                .batch_get_image()
                .repository_name(name)
                .image_ids(
                    aws_sdk_ecr::types::ImageIdentifier::builder()
                        .image_digest(digest)
                        .build(),
                )
                .send()
                .await
                .unwrap();
            let manifest: serde_json::Value =
                serde_json::from_str(got.images()[0].image_manifest().unwrap()).unwrap();
            let mut blobs = Vec::new();
            let layers = manifest["layers"].as_array().unwrap();
            for blob in layers.iter().chain([&manifest["config"]]) {
                let blob_digest = blob["digest"].as_str().unwrap();
                let url = c
                    .ecr
                    .get_download_url_for_layer()
                    .repository_name(name)
                    .layer_digest(blob_digest)
                    .send()
                    .await
                    .unwrap()
                    .download_url
                    .unwrap();
                blobs.push(format!("{blob_digest}={}", download_len(&c.endpoint, &url)));
            }
            ecr.push(format!(
                "{name}@{digest} {:?} {} {}",
                image.image_tags(),
                image.image_size_in_bytes().unwrap_or(0),
                blobs.join(",")
            ));
        }
    }
    out.insert("ecr", ecr);
    for lines in out.values_mut() {
        lines.sort();
    }
    out
}

/// One raw HTTP/1.1 request; returns the status and body.
fn http(endpoint: &str, method: &str, path: &str) -> (u16, String) {
    let authority = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

fn skyport_state(endpoint: &str, args: &[&str]) -> (bool, String, String) {
    let (status, out, err) = common::run(
        common::command()
            .arg("state")
            .args(args)
            .arg("--endpoint")
            .arg(endpoint),
    );
    (status.success(), out, err)
}

fn is_empty(listing: &BTreeMap<&'static str, Vec<String>>) -> bool {
    listing.values().all(Vec::is_empty)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resets_empty_every_service_and_one_service_reset_touches_only_it() {
    let skyport = Skyport::start();
    let endpoint = skyport.endpoint();
    let c = clients(&endpoint).await;

    seed(&c, "a").await;
    let before = listing(&c).await;
    assert!(before.values().all(|l| !l.is_empty()), "{before:#?}");

    // One service: only S3 is emptied.
    let (status, body) = http(&endpoint, "POST", "/_localstack/state/s3/reset");
    assert_eq!((status, body.as_str()), (200, ""));
    let after = listing(&c).await;
    assert!(after["s3"].is_empty());
    assert_eq!(after["sqs"], before["sqs"]);
    assert_eq!(after["lambda"], before["lambda"]);
    assert_eq!(after["ecr"], before["ecr"]);
    let (status, body) = http(&endpoint, "POST", "/_localstack/state/nosuch/reset");
    assert_eq!(status, 404, "{body}");

    // LocalStack's reset of everything.
    let (status, body) = http(&endpoint, "POST", "/_localstack/state/reset");
    assert_eq!((status, body.as_str()), (200, ""));
    let after = listing(&c).await;
    assert!(is_empty(&after), "{after:#?}");

    // moto's: only POST, answered as moto answers it.
    seed(&c, "b").await;
    let (status, body) = http(&endpoint, "GET", "/moto-api/reset");
    assert_eq!(status, 400, "{body}");
    assert!(!is_empty(&listing(&c).await));
    let (status, body) = http(&endpoint, "POST", "/moto-api/reset");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"status": "ok"})
    );
    assert!(is_empty(&listing(&c).await));

    // The CLI against the running Skyport.
    seed(&c, "c").await;
    let (ok, out, err) = skyport_state(&endpoint, &["reset"]);
    assert!(ok, "{out}{err}");
    assert!(is_empty(&listing(&c).await));
    seed(&c, "d").await;
    let (ok, out, err) = skyport_state(&endpoint, &["reset", "sqs", "dynamodb"]);
    assert!(ok, "{out}{err}");
    let after = listing(&c).await;
    assert!(after["sqs"].is_empty() && after["dynamodb"].is_empty());
    assert!(!after["s3"].is_empty());
}

/// The failures a client may see when a reset empties the state under it: the thing it uses is gone.
fn expected_not_found(text: &str) -> bool {
    [
        "NoSuchBucket",
        "NonExistentQueue",
        "QueueDoesNotExist",
        "ResourceNotFoundException",
        "NoSuchKey",
    ]
    .iter()
    .any(|code| text.contains(code))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reset_during_64_client_load_fails_requests_only_with_not_found() {
    let skyport = Skyport::start();
    let endpoint = skyport.endpoint();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let not_found = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for n in 0..64u32 {
        let c = clients(&endpoint).await;
        let (stop, done, not_found) = (stop.clone(), done.clone(), not_found.clone());
        workers.push(tokio::spawn(async move {
            let mut unexpected = Vec::new();
            let bucket = format!("load-{n}");
            let table = format!("load-{n}");
            let mut queue_url: Option<String> = None;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let outcome: Result<(), String> = match n % 3 {
                    0 => {
                        let key = format!("k{i}");
                        match c
                            .s3
                            .put_object()
                            .bucket(&bucket)
                            .key(&key)
                            .body(content(&key, 512).into())
                            .send()
                            .await
                        {
                            Ok(_) => {
                                c.s3.get_object()
                                    .bucket(&bucket)
                                    .key(&key)
                                    .send()
                                    .await
                                    .map(|_| ())
                                    .map_err(|e| format!("{e:?}"))
                            }
                            Err(e) => Err(format!("{e:?}")),
                        }
                    }
                    1 => match &queue_url {
                        Some(url) => c
                            .sqs
                            .send_message()
                            .queue_url(url)
                            .message_body("x")
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| format!("{e:?}")),
                        None => Err("NonExistentQueue (not created yet)".into()),
                    },
                    _ => c
                        .ddb
                        .put_item()
                        .table_name(&table)
                        .item("pk", AttributeValue::S(format!("i{i}")))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("{e:?}")),
                };
                match outcome {
                    Ok(()) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) if expected_not_found(&e) => {
                        not_found.fetch_add(1, Ordering::Relaxed);
                        // Re-create what the reset took.
                        let created = match n % 3 {
                            0 => {
                                c.s3.create_bucket()
                                    .bucket(&bucket)
                                    .send()
                                    .await
                                    .map(|_| ())
                                    .map_err(|e| format!("{e:?}"))
                            }
                            1 => c
                                .sqs
                                .create_queue()
                                .queue_name(format!("load-{n}"))
                                .send()
                                .await
                                .map(|r| queue_url = r.queue_url)
                                .map_err(|e| format!("{e:?}")),
                            _ => c
                                .ddb
                                .create_table()
                                .table_name(&table)
                                .attribute_definitions(
                                    AttributeDefinition::builder()
                                        .attribute_name("pk")
                                        .attribute_type(ScalarAttributeType::S)
                                        .build()
                                        .unwrap(),
                                )
                                .key_schema(
                                    KeySchemaElement::builder()
                                        .attribute_name("pk")
                                        .key_type(KeyType::Hash)
                                        .build()
                                        .unwrap(),
                                )
                                .billing_mode(BillingMode::PayPerRequest)
                                .send()
                                .await
                                .map(|_| ())
                                .map_err(|e| format!("{e:?}")),
                        };
                        if let Err(e) = created {
                            // Two workers never share a name, so a create can only race a reset.
                            if !e.contains("BucketAlreadyOwnedByYou")
                                && !e.contains("ResourceInUseException")
                            {
                                unexpected.push(e);
                            }
                        }
                    }
                    Err(e) => unexpected.push(e),
                }
            }
            unexpected
        }));
    }
    let resetter_endpoint = endpoint.clone();
    let resets = tokio::task::spawn_blocking(move || {
        let mut answers = Vec::new();
        for _ in 0..6 {
            std::thread::sleep(Duration::from_millis(300));
            answers.push(http(&resetter_endpoint, "POST", "/_localstack/state/reset").0);
        }
        answers
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut unexpected = Vec::new();
    for w in workers {
        unexpected.extend(w.await.unwrap());
    }
    assert!(resets.iter().all(|s| *s == 200), "{resets:?}");
    assert!(
        unexpected.is_empty(),
        "{} unexpected failures, e.g. {:?}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(3)]
    );
    let (done, not_found) = (
        done.load(Ordering::Relaxed),
        not_found.load(Ordering::Relaxed),
    );
    eprintln!(
        "reset under load: {done} requests succeeded, {not_found} found their resource reset"
    );
    assert!(
        done > 500 && not_found >= 64,
        "done {done}, not found {not_found}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_under_load_imports_into_a_fresh_skyport() {
    let source = Skyport::start();
    let endpoint = source.endpoint();
    let c = clients(&endpoint).await;
    seed(&c, "a").await;
    seed(&c, "b").await;

    // Writers keep adding objects while the snapshot is taken.
    let stop = Arc::new(AtomicBool::new(false));
    c.s3.create_bucket().bucket("churn").send().await.unwrap();
    let mut writers = Vec::new();
    for w in 0..8 {
        let (s3, stop) = (c.s3.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("w{w}/{i}");
                let len = if i % 7 == 0 { 100_000 } else { 300 };
                s3.put_object()
                    .bucket("churn")
                    .key(&key)
                    .body(content(&key, len).into())
                    .send()
                    .await
                    .unwrap();
                if i % 3 == 0 {
                    s3.delete_object()
                        .bucket("churn")
                        .key(&key)
                        .send()
                        .await
                        .unwrap();
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().unwrap();
    let loaded = dir.path().join("loaded.state");
    let (ok, out, err) = {
        let endpoint = endpoint.clone();
        let file = loaded.clone();
        tokio::task::spawn_blocking(move || {
            skyport_state(&endpoint, &["export", file.to_str().unwrap()])
        })
        .await
        .unwrap()
    };
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    assert!(ok, "{out}{err}");

    // Imported: every object the snapshot holds reads back whole and right.
    let target = Skyport::start();
    let t = clients(&target.endpoint()).await;
    let (ok, out, err) = skyport_state(&target.endpoint(), &["import", loaded.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("s3") && out.contains("lambda"), "{out}");
    let churn =
        t.s3.list_objects_v2()
            .bucket("churn")
            .max_keys(1000)
            .send()
            .await
            .unwrap();
    assert!(churn.key_count().unwrap_or(0) > 0);
    for o in churn.contents() {
        let key = o.key().unwrap();
        let body =
            t.s3.get_object()
                .bucket("churn")
                .key(key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes();
        assert_eq!(body.len() as i64, o.size().unwrap());
        assert_eq!(&body[..], &content(key, body.len())[..], "{key}");
    }
    let seeded = listing(&t).await;
    for service in ["sqs", "dynamodb", "iam", "logs", "sns", "events", "lambda"] {
        assert_eq!(seeded[service], listing(&c).await[service], "{service}");
    }

    // A quiet Skyport's snapshot imports to an identical listing of every service.
    let quiet = dir.path().join("quiet.state");
    let (ok, out, err) = skyport_state(&endpoint, &["export", quiet.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let fresh = Skyport::start();
    let f = clients(&fresh.endpoint()).await;
    seed(&f, "replaced").await;
    let (ok, out, err) = skyport_state(&fresh.endpoint(), &["import", quiet.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert_eq!(listing(&f).await, listing(&c).await);
    // The imported queue's messages are receivable.
    let url = f
        .sqs
        .get_queue_url()
        .queue_name("queue-a")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let got = f
        .sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages().len(), 3);
}

#[test]
fn a_newer_or_broken_snapshot_is_refused_with_a_clear_error() {
    let skyport = Skyport::start();
    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("newer.state");
    std::fs::write(
        &newer,
        "{\"format\":\"skyport-state\",\"version\":2,\"skyport\":\"9.9.9\"}\n{\"finish\":{\"services\":0}}\n",
    )
    .unwrap();
    let (ok, _, err) = skyport_state(&skyport.endpoint(), &["import", newer.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("format version 2, newer than this Skyport reads (up to 1)"),
        "{err}"
    );
    let broken = dir.path().join("broken.state");
    std::fs::write(&broken, "PK\u{3}\u{4}not a snapshot\n").unwrap();
    let (ok, _, err) = skyport_state(&skyport.endpoint(), &["import", broken.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("not a Skyport state snapshot"), "{err}");
    let (status, _) = http(&skyport.endpoint(), "POST", "/_skyport/state");
    assert_eq!(status, 400);
}

fn restart(dir: &Path) -> Skyport {
    Skyport::start_with(Options::default().state_dir(dir).env("PERSISTENCE", "1"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_persistence_reset_save_load_and_import_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut skyport = restart(dir.path());
    let c = clients(&skyport.endpoint()).await;
    seed(&c, "p").await;
    let seeded = listing(&c).await;
    // Save S3's state, reset everything, restart: empty.
    assert_eq!(
        http(&skyport.endpoint(), "POST", "/_localstack/state/s3/save").0,
        200
    );
    let snapshot = dir.path().join("all.state");
    let (ok, out, err) =
        skyport_state(&skyport.endpoint(), &["export", snapshot.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert_eq!(
        http(&skyport.endpoint(), "POST", "/_localstack/state/reset").0,
        200
    );
    skyport.signal("TERM");
    skyport.wait_exit(Duration::from_secs(10));
    drop(skyport);
    let mut skyport = restart(dir.path());
    let c = clients(&skyport.endpoint()).await;
    assert!(is_empty(&listing(&c).await));
    // Load S3's saved state; import the rest; restart: all back.
    assert_eq!(
        http(&skyport.endpoint(), "POST", "/_localstack/state/s3/load").0,
        200
    );
    assert_eq!(listing(&c).await["s3"], seeded["s3"]);
    let (ok, out, err) =
        skyport_state(&skyport.endpoint(), &["import", snapshot.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    skyport.signal("TERM");
    skyport.wait_exit(Duration::from_secs(10));
    drop(skyport);
    let skyport = restart(dir.path());
    let c = clients(&skyport.endpoint()).await;
    assert_eq!(listing(&c).await, seeded);
}

/// A long poll waiting on a queue does not hold a reset up: it returns early, and the reset answers at
/// once instead of after the poll's 20 seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_poll_does_not_hold_a_reset_up() {
    let skyport = Skyport::start();
    let endpoint = skyport.endpoint();
    let c = clients(&endpoint).await;
    let url = c
        .sqs
        .create_queue()
        .queue_name("waiting")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let sqs = c.sqs.clone();
    let poll = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .wait_time_seconds(20)
            .send()
            .await;
        (started.elapsed(), out.map(|o| o.messages().len()))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || {
        http(&endpoint, "POST", "/_localstack/state/sqs/reset").0
    })
    .await
    .unwrap();
    let reset_took = started.elapsed();
    assert_eq!(status, 200);
    assert!(
        reset_took < Duration::from_secs(3),
        "reset took {reset_took:?}"
    );
    let (polled, messages) = poll.await.unwrap();
    assert!(polled < Duration::from_secs(5), "long poll took {polled:?}");
    assert_eq!(messages.unwrap(), 0);
    eprintln!("reset with a long poll waiting: {reset_took:?}");
    assert!(
        c.sqs
            .list_queues()
            .send()
            .await
            .unwrap()
            .queue_urls()
            .is_empty()
    );
}

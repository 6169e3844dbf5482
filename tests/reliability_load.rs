//! Load: 64 concurrent clients (the official aws-sdk-s3/sqs/sts crates) mixing S3 PutObject/GetObject,
//! SQS SendMessage/ReceiveMessage/DeleteMessageBatch and STS GetCallerIdentity for 5 s (60 s with
//! `SKYPORT_LONG_TESTS=1`, which also runs a 10-minute soak): no call fails, every sent message is
//! received (duplicates only as at-least-once delivery allows), every object reads back byte for byte, and
//! the resident memory of the Skyport process returns near its idle level afterwards.

mod common;
#[path = "common/reliability.rs"]
mod rel;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use common::{Options, Skyport};

const CLIENTS: usize = 64;
const OBJECT_MAX: u64 = 64 * 1024;

#[derive(Default)]
struct Counts {
    puts: AtomicU64,
    gets: AtomicU64,
    sends: AtomicU64,
    receives: AtomicU64,
    sts: AtomicU64,
}

/// Runs the mix for `duration`, then checks everything; returns the peak RSS seen and the bytes of the
/// objects stored (both KiB).
async fn mixed_load(skyport: &Skyport, duration: Duration, persistence: &str) -> (u64, u64) {
    let endpoint = skyport.endpoint();
    let s3 = rel::s3(&endpoint);
    let sqs = rel::sqs(&endpoint);
    let sts = rel::sts(&endpoint);
    s3.create_bucket().bucket("load").send().await.unwrap();
    let queue = sqs
        .create_queue()
        .queue_name("load")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let counts = Arc::new(Counts::default());
    let received: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let peak = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let sampler = {
        let (peak, pid) = (peak.clone(), skyport.pid());
        tokio::spawn(async move {
            while Instant::now() < deadline {
                peak.fetch_max(rel::rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (s3, sqs, sts, queue) = (s3.clone(), sqs.clone(), sts.clone(), queue.clone());
        let (counts, received) = (counts.clone(), received.clone());
        tasks.push(tokio::spawn(async move {
            let mut written = Vec::new();
            let mut sent = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                match (c as u64 + n) % 5 {
                    0 => {
                        let key = format!("c{c}/{n}");
                        let body = rel::content(&key, OBJECT_MAX);
                        s3.put_object()
                            .bucket("load")
                            .key(&key)
                            .checksum_algorithm(ChecksumAlgorithm::Crc32)
                            .body(ByteStream::from(body))
                            .send()
                            .await
                            .unwrap_or_else(|e| panic!("PutObject {key}: {e:?}"));
                        counts.puts.fetch_add(1, Ordering::Relaxed);
                        written.push(key);
                    }
                    1 if !written.is_empty() => {
                        let key = &written[n as usize % written.len()];
                        get_and_check(&s3, key).await;
                        counts.gets.fetch_add(1, Ordering::Relaxed);
                    }
                    2 => {
                        let body = format!("c{c}-{n}");
                        sqs.send_message()
                            .queue_url(&queue)
                            .message_body(&body)
                            .send()
                            .await
                            .unwrap_or_else(|e| panic!("SendMessage: {e:?}"));
                        counts.sends.fetch_add(1, Ordering::Relaxed);
                        sent.push(body);
                    }
                    3 => {
                        let got = receive_and_delete(&sqs, &queue, &received).await;
                        counts.receives.fetch_add(got, Ordering::Relaxed);
                    }
                    _ => {
                        let who = sts
                            .get_caller_identity()
                            .send()
                            .await
                            .unwrap_or_else(|e| panic!("GetCallerIdentity: {e:?}"));
                        assert_eq!(who.account(), Some("000000000000"));
                        counts.sts.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            (written, sent)
        }));
    }
    let mut written = Vec::new();
    let mut sent = Vec::new();
    for t in tasks {
        let (w, s) = t.await.expect("a client failed");
        written.extend(w);
        sent.extend(s);
    }
    sampler.await.unwrap();
    let calls = counts.puts.load(Ordering::Relaxed)
        + counts.gets.load(Ordering::Relaxed)
        + counts.sends.load(Ordering::Relaxed)
        + counts.sts.load(Ordering::Relaxed);
    eprintln!(
        "PERSISTENCE={persistence}: {CLIENTS} clients for {duration:?}: {} puts, {} gets, {} sends, {} received, \
         {} STS calls ({:.0} calls/s without receives)",
        counts.puts.load(Ordering::Relaxed),
        counts.gets.load(Ordering::Relaxed),
        counts.sends.load(Ordering::Relaxed),
        counts.receives.load(Ordering::Relaxed),
        counts.sts.load(Ordering::Relaxed),
        calls as f64 / duration.as_secs_f64(),
    );

    // Drain: every sent body arrives.
    let drain_deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let missing = {
            let r = received.lock().unwrap();
            sent.iter().filter(|b| !r.contains_key(*b)).count()
        };
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < drain_deadline,
            "{missing} of {} sent messages never arrived",
            sent.len()
        );
        receive_and_delete(&sqs, &queue, &received).await;
    }
    let r = received.lock().unwrap().clone();
    assert_eq!(r.len(), sent.len(), "received bodies that were never sent");
    // Nothing was delivered twice: every receive was deleted long before the 30 s visibility timeout.
    let twice: Vec<_> = r.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered twice: {twice:?}");

    // Every object is intact, and the listing has exactly the objects written.
    let mut listed = 0;
    let mut pages = s3.list_objects_v2().bucket("load").into_paginator().send();
    while let Some(page) = pages.next().await {
        listed += page.unwrap().contents().len();
    }
    assert_eq!(listed, written.len());
    let written = Arc::new(written);
    let mut checkers = Vec::new();
    for i in 0..16 {
        let (s3, written) = (s3.clone(), written.clone());
        checkers.push(tokio::spawn(async move {
            for key in written.iter().skip(i).step_by(16) {
                get_and_check(&s3, key).await;
            }
        }));
    }
    for c in checkers {
        c.await.unwrap();
    }
    let stored: usize = written
        .iter()
        .map(|key| rel::content(key, OBJECT_MAX).len())
        .sum();
    (peak.load(Ordering::Relaxed), stored as u64 / 1024)
}

async fn get_and_check(s3: &aws_sdk_s3::Client, key: &str) {
    let got = s3
        .get_object()
        .bucket("load")
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObject {key}: {e:?}"));
    // The SDK validates the stored CRC32 while reading; the bytes must also be the ones written.
    let bytes = got
        .body
        .collect()
        .await
        .unwrap_or_else(|e| panic!("GetObject {key} body: {e:?}"))
        .into_bytes();
    assert!(
        bytes == rel::content(key, OBJECT_MAX),
        "object {key} came back different"
    );
}

async fn receive_and_delete(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    received: &Mutex<HashMap<String, u32>>,
) -> u64 {
    let got = sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ReceiveMessage: {e:?}"));
    if got.messages().is_empty() {
        return 0;
    }
    {
        let mut r = received.lock().unwrap();
        for m in got.messages() {
            *r.entry(m.body().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
    }
    let entries = got
        .messages()
        .iter()
        .enumerate()
        .map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(format!("d{i}"))
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
                .expect("entry")
        })
        .collect();
    let out = sqs
        .delete_message_batch()
        .queue_url(queue)
        .set_entries(Some(entries))
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteMessageBatch: {e:?}"));
    assert!(out.failed().is_empty(), "{:?}", out.failed());
    got.messages().len() as u64
}

/// Waits until the process's RSS is at most `bound` KiB (memory is returned in the background), or panics.
async fn assert_rss_settles(pid: u32, idle: u64, bound: u64, peak: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = rel::rss_kib(pid);
        if now <= bound {
            eprintln!("RSS: idle {idle} KiB, peak {peak} KiB, after {now} KiB (bound {bound} KiB)");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "RSS did not return near idle: idle {idle} KiB, peak {peak} KiB, now {now} KiB, bound {bound} KiB"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the mix once per `PERSISTENCE` value; RSS must settle within `slack_mib` of idle.
async fn run(duration: Duration, persistences: &[&str], slack_mib: u64) {
    for &persistence in persistences {
        let skyport = Skyport::start_with(Options::default().env("PERSISTENCE", persistence));
        // Idle after one call of each kind (the first call initialises lazily built state).
        let endpoint = skyport.endpoint();
        rel::sts(&endpoint)
            .get_caller_identity()
            .send()
            .await
            .unwrap();
        rel::sqs(&endpoint).list_queues().send().await.unwrap();
        rel::s3(&endpoint).list_buckets().send().await.unwrap();
        let idle = rel::rss_kib(skyport.pid());
        let (peak, stored) = mixed_load(&skyport, duration, persistence).await;
        // Nothing is kept per request or per connection: what stays is the metadata of the objects
        // written, the allocator's retained pages and, without persistence, the object bodies
        // themselves (memory is where they are stored), with little overhead; with persistence, the
        // store's page cache instead.
        let bodies = if persistence == "0" {
            stored * 9 / 8
        } else {
            skyport_core::store::FILE_CACHE_BYTES as u64 / 1024
        };
        eprintln!("PERSISTENCE={persistence}: {stored} KiB of object bodies stored");
        let bound = idle + slack_mib * 1024 + bodies;
        assert_rss_settles(skyport.pid(), idle, bound, peak.max(idle)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_clients_mixing_s3_sqs_sts() {
    let secs = if rel::long() { 60 } else { 5 };
    run(Duration::from_secs(secs), &["0", "1"], 80).await;
}

/// The 10-minute soak (`SKYPORT_LONG_TESTS=1`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_minute_soak() {
    if !rel::long() {
        eprintln!("skipping the soak: set SKYPORT_LONG_TESTS=1");
        return;
    }
    // Hundreds of thousands of objects: their metadata (and the store's page cache) may take more.
    run(Duration::from_secs(600), &["1"], 256).await;
}

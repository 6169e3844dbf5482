//! Faults: `kill -9` at random points during mixed S3/SQS writes with `PERSISTENCE=1` loses no acknowledged
//! write and brings back no acknowledged delete; a full disk (a small tmpfs state directory, root only) makes
//! writes fail with AWS-shaped errors while reads keep working, and writes work again once space returns;
//! clients that vanish mid-upload or mid-download leave no temporary files and the server keeps serving; an
//! absent Docker daemon does not stop Skyport. `SKYPORT_LONG_TESTS=1` runs more kill rounds.

mod common;
#[path = "common/reliability.rs"]
mod rel;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::QueueAttributeName;
use common::{Options, Skyport};

const BUCKET: &str = "crash";
const OBJECT_MAX: u64 = 96 * 1024;

/// What the clients saw acknowledged across every round.
#[derive(Default)]
struct Ledger {
    /// Keys whose PUT was acknowledged (and no DELETE was started since).
    objects: HashSet<String>,
    /// Keys whose DELETE was started but not acknowledged: present or absent are both right.
    deleting: HashSet<String>,
    /// Keys whose DELETE was acknowledged.
    deleted: HashSet<String>,
    /// Bodies whose SendMessage was acknowledged.
    sent: HashSet<String>,
    /// Bodies a DeleteMessage was started for (they may or may not come back).
    consuming: HashSet<String>,
    /// Bodies whose DeleteMessage was acknowledged, with how often each was received before.
    consumed: HashMap<String, u32>,
    /// Receive count of every body.
    receives: HashMap<String, u32>,
}

async fn run_writers(skyport: &Skyport, queue: &str, round: usize, ledger: &Arc<Mutex<Ledger>>) {
    let s3 = rel::s3(&skyport.endpoint());
    let sqs = rel::sqs(&skyport.endpoint());
    let mut tasks = Vec::new();
    for w in 0..6 {
        let (s3, ledger) = (s3.clone(), ledger.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let key = format!("r{round}/w{w}/{n}");
                let body = rel::content(&key, OBJECT_MAX);
                let put = s3
                    .put_object()
                    .bucket(BUCKET)
                    .key(&key)
                    .body(ByteStream::from(body))
                    .send()
                    .await;
                if put.is_err() {
                    return;
                }
                ledger.lock().unwrap().objects.insert(key);
            }
        }));
    }
    let killed = Arc::new(AtomicBool::new(false));
    {
        // Deletes acknowledged objects of earlier rounds and of this one.
        let (s3, ledger, killed) = (s3.clone(), ledger.clone(), killed.clone());
        tasks.push(tokio::spawn(async move {
            while !killed.load(Ordering::SeqCst) {
                let victim = {
                    let mut l = ledger.lock().unwrap();
                    let key = l.objects.iter().find(|k| k.ends_with('3')).cloned();
                    if let Some(key) = &key {
                        l.objects.remove(key);
                        l.deleting.insert(key.clone());
                    }
                    key
                };
                let Some(victim) = victim else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                if s3
                    .delete_object()
                    .bucket(BUCKET)
                    .key(&victim)
                    .send()
                    .await
                    .is_err()
                {
                    return;
                }
                let mut l = ledger.lock().unwrap();
                l.deleting.remove(&victim);
                l.deleted.insert(victim);
            }
        }));
    }
    for p in 0..4 {
        let (sqs, queue, ledger) = (sqs.clone(), queue.to_owned(), ledger.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let body = format!("r{round}-p{p}-{n}");
                if sqs
                    .send_message()
                    .queue_url(&queue)
                    .message_body(&body)
                    .send()
                    .await
                    .is_err()
                {
                    return;
                }
                ledger.lock().unwrap().sent.insert(body);
            }
        }));
    }
    for _ in 0..2 {
        let (sqs, queue, ledger) = (sqs.clone(), queue.to_owned(), ledger.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Ok(got) = sqs
                    .receive_message()
                    .queue_url(&queue)
                    .max_number_of_messages(10)
                    .send()
                    .await
                else {
                    return;
                };
                for m in got.messages() {
                    let body = m.body().unwrap_or_default().to_owned();
                    {
                        let mut l = ledger.lock().unwrap();
                        *l.receives.entry(body.clone()).or_default() += 1;
                        l.consuming.insert(body.clone());
                    }
                    if sqs
                        .delete_message()
                        .queue_url(&queue)
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .send()
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let mut l = ledger.lock().unwrap();
                    let times = l.receives[&body];
                    l.consumed.insert(body, times);
                }
            }
        }));
    }
    let mut rng = rel::Rng::from_clock(&format!("kill round {round}"));
    let run_for = Duration::from_millis(rng.range(300, 1500));
    tokio::time::sleep(run_for).await;
    skyport.signal("KILL");
    killed.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
}

/// Checks every acknowledged write against a restarted Skyport; consumes the queue (recording it).
async fn verify(skyport: &Skyport, queue: &str, ledger: &Arc<Mutex<Ledger>>) {
    let s3 = rel::s3(&skyport.endpoint());
    let sqs = rel::sqs(&skyport.endpoint());
    let (objects, deleted, deleting) = {
        let l = ledger.lock().unwrap();
        (l.objects.clone(), l.deleted.clone(), l.deleting.clone())
    };
    for key in &objects {
        let got = s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("acknowledged object {key} is gone: {e:?}"));
        let bytes = got.body.collect().await.unwrap().into_bytes();
        assert!(
            bytes == rel::content(key, OBJECT_MAX),
            "object {key} has other bytes"
        );
    }
    for key in &deleted {
        let (status, code) =
            rel::aws_failure(s3.head_object().bucket(BUCKET).key(key).send().await);
        assert_eq!(
            (status, code.as_str()),
            (404, "NotFound"),
            "deleted {key} came back"
        );
    }
    // An object whose delete was cut short is either gone or intact.
    for key in &deleting {
        if let Ok(got) = s3.get_object().bucket(BUCKET).key(key).send().await {
            let bytes = got.body.collect().await.unwrap().into_bytes();
            assert!(
                bytes == rel::content(key, OBJECT_MAX),
                "object {key} has other bytes"
            );
        }
    }
    // The listing agrees with the objects read one by one.
    let mut listed = HashSet::new();
    let mut pages = s3.list_objects_v2().bucket(BUCKET).into_paginator().send();
    while let Some(page) = pages.next().await {
        for o in page.unwrap().contents() {
            listed.insert(o.key().unwrap_or_default().to_owned());
        }
    }
    assert!(
        objects.is_subset(&listed),
        "listing misses acknowledged objects"
    );
    assert!(
        listed.is_disjoint(&deleted),
        "listing shows deleted objects"
    );

    // Messages in flight at the kill come back after their visibility timeout (3 s).
    let mut received: HashMap<String, String> = HashMap::new();
    let started = Instant::now();
    let mut empty = 0;
    while empty < 2 || started.elapsed() < Duration::from_millis(3500) {
        let got = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .visibility_timeout(120)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        empty = if got.messages().is_empty() {
            empty + 1
        } else {
            0
        };
        for m in got.messages() {
            received.insert(
                m.body().unwrap_or_default().to_owned(),
                m.receipt_handle().unwrap_or_default().to_owned(),
            );
        }
    }
    {
        let l = ledger.lock().unwrap();
        let lost: Vec<_> = l
            .sent
            .iter()
            .filter(|b| !l.consuming.contains(*b) && !received.contains_key(*b))
            .collect();
        assert!(
            lost.is_empty(),
            "{} acknowledged messages lost, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
        // A delete acknowledged for the only delivery of a message is final. (A message delivered twice may
        // legitimately survive a delete made with the older receipt handle, as in AWS.)
        let back: Vec<_> = received
            .keys()
            .filter(|b| l.consumed.get(*b) == Some(&1) && l.receives.get(*b) == Some(&1))
            .collect();
        assert!(back.is_empty(), "deleted messages came back: {back:?}");
        eprintln!(
            "verified {} objects, {} deleted objects, {} messages sent, {} consumed, {} recovered",
            objects.len(),
            deleted.len(),
            l.sent.len(),
            l.consumed.len(),
            received.len()
        );
    }
    // Consume what was recovered, so later rounds check only newer messages as must-arrive.
    for (body, handle) in received {
        sqs.delete_message()
            .queue_url(queue)
            .receipt_handle(handle)
            .send()
            .await
            .unwrap();
        let mut l = ledger.lock().unwrap();
        l.consuming.insert(body.clone());
        *l.receives.entry(body.clone()).or_default() += 1;
        l.consumed.insert(body, 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_at_random_points_loses_no_acknowledged_write() {
    let rounds = if rel::long() { 12 } else { 3 };
    let state = tempfile::tempdir().unwrap();
    let options = Options::default()
        .env("PERSISTENCE", "1")
        .state_dir(state.path());
    let ledger: Arc<Mutex<Ledger>> = Arc::default();
    let queue = {
        let skyport = Skyport::start_with(options.clone());
        rel::s3(&skyport.endpoint())
            .create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        rel::sqs(&skyport.endpoint())
            .create_queue()
            .queue_name("crash")
            .attributes(QueueAttributeName::VisibilityTimeout, "3")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap()
    };
    for round in 0..rounds {
        let skyport = Skyport::start_with(options.clone());
        if round > 0 {
            verify(&skyport, &queue, &ledger).await;
        }
        run_writers(&skyport, &queue, round, &ledger).await;
    }
    let skyport = Skyport::start_with(options);
    verify(&skyport, &queue, &ledger).await;
    let l = ledger.lock().unwrap();
    assert!(
        l.objects.len() > 20,
        "only {} puts acknowledged",
        l.objects.len()
    );
    assert!(
        l.sent.len() > 20,
        "only {} sends acknowledged",
        l.sent.len()
    );
    // No temporary upload files survive a restart.
    let tmp = state.path().join("state/s3/tmp");
    assert!(rel::files_under(&tmp).is_empty(), "files left in {tmp:?}");
}

// ---- full disk -------------------------------------------------------------------------------------------

/// A tmpfs mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let (ok, _, err) = common::run(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir.path()),
        );
        assert!(ok.success(), "mount tmpfs: {err}");
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn root_tests() -> bool {
    let is_root = common::run(Command::new("id").arg("-u")).1.trim() == "0";
    let required = std::env::var("SKYPORT_REQUIRE_ROOT_TESTS").is_ok_and(|v| v == "1");
    if !is_root {
        assert!(!required, "SKYPORT_REQUIRE_ROOT_TESTS=1 but not root");
        eprintln!(
            "skipping full-disk test: needs root to mount a tmpfs (set SKYPORT_REQUIRE_ROOT_TESTS=1 to fail instead)"
        );
    }
    is_root
}

fn assert_no_rust_leak(skyport: &Skyport) {
    let log = skyport.log();
    assert!(!log.contains("panicked"), "Skyport panicked: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_writes_with_aws_errors_and_recovers() {
    if !root_tests() {
        return;
    }
    // 16 MiB: every persistent store (one per service) keeps a 1 MiB reserve for deletes on a full disk.
    let disk = Tmpfs::mount("16m");
    let skyport = Skyport::start_with(
        Options::default()
            .env("PERSISTENCE", "1")
            .state_dir(disk.path()),
    );
    let s3 = rel::s3(&skyport.endpoint());
    let sqs = rel::sqs(&skyport.endpoint());
    s3.create_bucket().bucket("full").send().await.unwrap();
    s3.put_object()
        .bucket("full")
        .key("keep")
        .body(ByteStream::from_static(b"still here"))
        .send()
        .await
        .unwrap();
    let queue = sqs
        .create_queue()
        .queue_name("full")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    sqs.send_message()
        .queue_url(&queue)
        .message_body("before")
        .send()
        .await
        .unwrap();

    // Fill the disk with 1 MiB objects until S3 refuses.
    let mut stored = Vec::new();
    let mut refused = None;
    for n in 0..32 {
        let key = format!("big/{n}");
        let put = s3
            .put_object()
            .bucket("full")
            .key(&key)
            .body(ByteStream::from(vec![b'x'; 1 << 20]))
            .send()
            .await;
        match put {
            Ok(_) => stored.push(key),
            Err(e) => {
                refused = Some(rel::aws_failure::<_, ()>(Err(e)));
                break;
            }
        }
    }
    let (s3_status, s3_code) = refused.expect("a 16 MiB disk took 32 MiB");
    assert_eq!(
        (s3_status, s3_code.as_str()),
        (503, "SlowDown"),
        "S3 on a full disk"
    );
    // Fill the rest with small objects so the metadata store has no room either.
    for n in 0..64 {
        let put = s3
            .put_object()
            .bucket("full")
            .key(format!("small/{n}"))
            .body(ByteStream::from(vec![b'y'; 32 * 1024]))
            .send()
            .await;
        match put {
            Ok(_) => stored.push(format!("small/{n}")),
            Err(e) => {
                let (status, code) = rel::aws_failure::<_, ()>(Err(e));
                assert!(status == 500 || status == 503, "{status} {code}");
            }
        }
    }
    // SQS writes fail with an AWS JSON error (or succeed while the store still has room in its pages).
    let mut sqs_refused = None;
    for n in 0..64 {
        let send = sqs
            .send_message()
            .queue_url(&queue)
            .message_body(format!("{n}:{}", "m".repeat(200 * 1024)))
            .send()
            .await;
        if let Err(e) = send {
            sqs_refused = Some(rel::aws_failure::<_, ()>(Err(e)));
            break;
        }
    }
    let (status, code) = sqs_refused.expect("SQS took 12 MiB on a full 16 MiB disk");
    assert_eq!(
        (status, code.as_str()),
        (503, "ServiceUnavailable"),
        "SQS on a full disk"
    );
    eprintln!(
        "full disk: S3 answered {s3_status} {s3_code} after {} objects; SQS answered {status} {code}",
        stored.len()
    );

    // Reads keep working.
    let keep = s3
        .get_object()
        .bucket("full")
        .key("keep")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &keep.body.collect().await.unwrap().into_bytes()[..],
        b"still here"
    );
    let listed = s3.list_objects_v2().bucket("full").send().await.unwrap();
    assert!(listed.key_count().unwrap_or(0) >= 1);
    let got = sqs
        .receive_message()
        .queue_url(&queue)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    assert!(
        !got.messages().is_empty(),
        "queued messages unreadable on a full disk"
    );
    sts_works(&skyport).await;

    // Free space: writes work again.
    for key in &stored {
        s3.delete_object()
            .bucket("full")
            .key(key)
            .send()
            .await
            .unwrap();
    }
    s3.put_object()
        .bucket("full")
        .key("after")
        .body(ByteStream::from(vec![b'z'; 1 << 20]))
        .send()
        .await
        .expect("S3 write after freeing space");
    sqs.send_message()
        .queue_url(&queue)
        .message_body("after")
        .send()
        .await
        .expect("SQS write after freeing space");
    let after = s3
        .get_object()
        .bucket("full")
        .key("after")
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.body.collect().await.unwrap().into_bytes().len(),
        1 << 20
    );
    assert_no_rust_leak(&skyport);
}

async fn sts_works(skyport: &Skyport) {
    rel::sts(&skyport.endpoint())
        .get_caller_identity()
        .send()
        .await
        .expect("STS GetCallerIdentity");
}

// ---- clients that vanish -----------------------------------------------------------------------------------

fn addr(skyport: &Skyport) -> SocketAddr {
    *skyport.addrs.iter().find(|a| a.is_ipv4()).unwrap()
}

/// Files in a service's temporary directory (`<service dir>/tmp/`; without persistence the service
/// directories themselves live in the scratch directory `<state>/tmp/run-<pid>/`).
fn temp_files(state: &Path) -> Vec<PathBuf> {
    rel::files_under(state)
        .into_iter()
        .filter(|p| {
            p.strip_prefix(state)
                .is_ok_and(|rel| rel.components().skip(1).any(|c| c.as_os_str() == "tmp"))
        })
        .collect()
}

fn wait_no_temp_files(state: &Path) -> Vec<PathBuf> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = temp_files(state);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanishing_clients_leave_no_temp_files() {
    for persistence in ["1", "0"] {
        let skyport = Skyport::start_with(Options::default().env("PERSISTENCE", persistence));
        let s3 = rel::s3(&skyport.endpoint());
        s3.create_bucket().bucket("gone").send().await.unwrap();
        let big = rel::content("big-download", 8 << 20);
        let big = if big.len() < (4 << 20) {
            vec![7u8; 8 << 20]
        } else {
            big
        };
        s3.put_object()
            .bucket("gone")
            .key("big")
            .body(ByteStream::from(big.clone()))
            .send()
            .await
            .unwrap();
        let a = addr(&skyport);
        let base = temp_files(&skyport.state_dir).len();
        assert_eq!(
            base,
            0,
            "temp files before the test: {:?}",
            temp_files(&skyport.state_dir)
        );

        // Half a PUT body (plain, then aws-chunked, then an UploadPart), then the connection closes.
        let upload = s3
            .create_multipart_upload()
            .bucket("gone")
            .key("parts")
            .send()
            .await
            .unwrap()
            .upload_id
            .unwrap();
        // Raw requests carry credentials (any signature): the bucket is private.
        const AUTH: &str = "Authorization: AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x\r\n";
        let requests = [
            format!(
                "PUT /gone/half HTTP/1.1\r\nHost: {a}\r\n{AUTH}Content-Length: 4194304\r\n\r\n"
            ),
            format!(
                "PUT /gone/chunked HTTP/1.1\r\nHost: {a}\r\n{AUTH}Content-Encoding: aws-chunked\r\n\
                 x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n\
                 x-amz-decoded-content-length: 4194304\r\nTransfer-Encoding: chunked\r\n\r\n"
            ),
            format!(
                "PUT /gone/parts?partNumber=1&uploadId={upload} HTTP/1.1\r\nHost: {a}\r\n{AUTH}\
                 Content-Length: 6291456\r\n\r\n"
            ),
        ];
        for (i, head) in requests.iter().enumerate() {
            let mut conn = TcpStream::connect(a).unwrap();
            conn.write_all(head.as_bytes()).unwrap();
            let half = vec![b'h'; 2 << 20];
            if i == 1 {
                // One outer HTTP chunk holding the start of one aws-chunk of 4 MiB.
                let mut chunk = b"400000\r\n".to_vec();
                chunk.extend_from_slice(&half);
                conn.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .unwrap();
                conn.write_all(&chunk).unwrap();
                conn.write_all(b"\r\n").unwrap();
            } else {
                conn.write_all(&half).unwrap();
            }
            conn.flush().unwrap();
            // The server is writing the body to a temporary file when the client vanishes.
            let deadline = Instant::now() + Duration::from_secs(5);
            while temp_files(&skyport.state_dir).is_empty() {
                assert!(
                    Instant::now() < deadline,
                    "request {i}: no temporary file appeared"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            drop(conn);
        }
        // Start a download, read a little, vanish.
        for _ in 0..3 {
            let mut conn = TcpStream::connect(a).unwrap();
            conn.write_all(format!("GET /gone/big HTTP/1.1\r\nHost: {a}\r\n{AUTH}\r\n").as_bytes())
                .unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            let n = conn.read(&mut buf).unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
            drop(conn);
        }
        let left = wait_no_temp_files(&skyport.state_dir);
        assert!(
            left.is_empty(),
            "PERSISTENCE={persistence}: temp files left: {left:?}"
        );
        for key in ["half", "chunked"] {
            let (status, _) =
                rel::aws_failure(s3.head_object().bucket("gone").key(key).send().await);
            assert_eq!(status, 404, "a half upload of {key} was stored");
        }
        let parts = s3
            .list_parts()
            .bucket("gone")
            .key("parts")
            .upload_id(&upload)
            .send()
            .await
            .unwrap();
        assert!(parts.parts().is_empty(), "a half part was stored");
        // The server keeps serving, and the big object is intact.
        let got = s3
            .get_object()
            .bucket("gone")
            .key("big")
            .send()
            .await
            .unwrap();
        assert!(got.body.collect().await.unwrap().into_bytes() == big);
        sts_works(&skyport).await;
        assert_no_rust_leak(&skyport);
    }
}

// ---- no Docker ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_docker_daemon_disables_nothing_that_runs_today() {
    let missing = tempfile::tempdir().unwrap();
    let socket = missing.path().join("docker.sock");
    let skyport = Skyport::start_with(
        Options::default().env("DOCKER_HOST", &format!("unix://{}", socket.display())),
    );
    let s3 = rel::s3(&skyport.endpoint());
    s3.create_bucket().bucket("nodocker").send().await.unwrap();
    rel::sqs(&skyport.endpoint())
        .create_queue()
        .queue_name("nodocker")
        .send()
        .await
        .unwrap();
    sts_works(&skyport).await;
    // Nothing needs Docker today, so nothing complains about it.
    std::thread::sleep(Duration::from_millis(100));
    let log = skyport.log();
    let complaints: BTreeMap<usize, &str> = log
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.to_ascii_lowercase();
            l.contains("docker")
                && (l.contains("error") || l.contains("warn") || l.contains("panic"))
        })
        .collect();
    assert!(
        complaints.is_empty(),
        "complaints about Docker: {complaints:?}"
    );
}

//! An S3 load client on the official `aws-sdk-s3` crate, for comparing S3 servers (Skyport, moto, ...)
//! in one run. It measures, against one endpoint:
//!
//! - 1 KiB (`--size`) `PutObject` then `GetObject` from `--clients` concurrent tasks for `--seconds` each:
//!   ops/s, p50 / p99 latency, errors, and the CPU time this client used (and the server's, per request,
//!   with `--server-pid`);
//! - one `--large-mib` MiB PUT streamed from a generator (never whole in memory) and its GET streamed to
//!   nowhere: MB/s each (and the server's peak RSS with `--server-pid`);
//! - with `--list-keys N`: `ListObjectsV2` first page with a prefix in an N-key bucket (best and median of
//!   5).
//!
//! ```sh
//! cargo run --release --example bench_s3 -- --endpoint http://127.0.0.1:4566 --server-pid PID --json
//! ```
//!
//! Output is a human-readable summary on stderr and, with `--json`, one JSON object on stdout.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use serde_json::{Value, json};

const USAGE: &str = "usage: bench_s3 --endpoint URL [--clients 64] [--seconds 5] [--size 1024] \
[--large-mib 1024] [--list-keys 0] [--server-pid PID] [--label NAME] [--json]";

struct Args {
    endpoint: String,
    clients: usize,
    seconds: f64,
    size: usize,
    large_mib: u64,
    list_keys: u64,
    server_pid: Option<u32>,
    label: String,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        endpoint: String::new(),
        clients: 64,
        seconds: 5.0,
        size: 1024,
        large_mib: 1024,
        list_keys: 0,
        server_pid: None,
        label: "server".into(),
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--json" {
            args.json = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--endpoint" => args.endpoint = value,
            "--clients" => args.clients = value.parse().map_err(|e| bad(&e))?,
            "--seconds" => args.seconds = value.parse().map_err(|e| bad(&e))?,
            "--size" => args.size = value.parse().map_err(|e| bad(&e))?,
            "--large-mib" => args.large_mib = value.parse().map_err(|e| bad(&e))?,
            "--list-keys" => args.list_keys = value.parse().map_err(|e| bad(&e))?,
            "--server-pid" => args.server_pid = Some(value.parse().map_err(|e| bad(&e))?),
            "--label" => args.label = value,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.endpoint.is_empty() || args.clients == 0 {
        return Err("--endpoint is required and --clients must be positive".into());
    }
    Ok(args)
}

fn client(endpoint: &str) -> Client {
    let creds = Credentials::new("test", "test", None, None, "bench");
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    Client::from_conf(config)
}

/// User + system CPU seconds of a process (`self` or a pid), from `/proc/<pid>/stat`.
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat (11 and 12 after the command name); USER_HZ is 100
    // on every Linux platform Rust supports.
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// CPU use of this client and of the server over one phase.
struct CpuMark {
    client: f64,
    server: Option<f64>,
}

impl CpuMark {
    fn now(server: Option<u32>) -> CpuMark {
        CpuMark {
            client: cpu_seconds("self"),
            server: server.map(|p| cpu_seconds(&p.to_string())),
        }
    }

    /// (client CPU s, server CPU s) since this mark.
    fn since(&self, server: Option<u32>) -> (f64, Option<f64>) {
        let now = CpuMark::now(server);
        (
            now.client - self.client,
            now.server.zip(self.server).map(|(a, b)| a - b),
        )
    }
}

fn percentile(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 * p) as usize).min(sorted_us.len() - 1);
    f64::from(sorted_us[i]) / 1000.0
}

/// One timed phase of small-object operations.
async fn small_phase(
    s3: &Client,
    args: &Args,
    bucket: &str,
    get: bool,
    keys: u64,
    payload: Bytes,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mark = CpuMark::now(args.server_pid);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (s3, counter, errors, payload) =
            (s3.clone(), counter.clone(), errors.clone(), payload.clone());
        let bucket = bucket.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut lat: Vec<u32> = Vec::new();
            while Instant::now() < deadline {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let key = format!("small/{}", i % keys);
                let t = Instant::now();
                let ok = if get {
                    match s3.get_object().bucket(&bucket).key(key).send().await {
                        Ok(out) => out
                            .body
                            .collect()
                            .await
                            .is_ok_and(|b| b.into_bytes().len() == payload.len()),
                        Err(_) => false,
                    }
                } else {
                    s3.put_object()
                        .bucket(&bucket)
                        .key(key)
                        .body(ByteStream::from(payload.clone()))
                        .send()
                        .await
                        .is_ok()
                };
                if ok {
                    lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap_or_default());
    }
    let secs = started.elapsed().as_secs_f64();
    let (client_cpu, server_cpu) = mark.since(args.server_pid);
    lat.sort_unstable();
    let ops = lat.len() as f64;
    json!({
        "ops": lat.len(),
        "errors": errors.load(Ordering::Relaxed),
        "seconds": secs,
        "ops_per_s": ops / secs,
        "p50_ms": percentile(&lat, 0.50),
        "p99_ms": percentile(&lat, 0.99),
        "client_cpu_s": client_cpu,
        "server_cpu_s": server_cpu,
        "server_cpu_us_per_op": server_cpu.map(|c| c * 1e6 / ops.max(1.0)),
    })
}

/// A body of `len` pattern bytes, produced in 1 MiB frames that share one buffer.
struct Generator {
    block: Bytes,
    remaining: u64,
}

impl Generator {
    fn new(len: u64) -> Generator {
        let block: Vec<u8> = (0..1u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        Generator {
            block: Bytes::from(block),
            remaining: len,
        }
    }
}

impl Body for Generator {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(self.block.len() as u64) as usize;
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(self.block.slice(..n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Samples a process's RSS every 20 ms until stopped; returns the peak (KiB).
fn watch_rss(pid: Option<u32>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while let Some(pid) = pid {
            peak = peak.max(rss_kib(pid));
            if stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    })
}

async fn large_phase(s3: &Client, args: &Args, bucket: &str) -> Result<Value, String> {
    let size = args.large_mib << 20;
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_rss(args.server_pid, stop.clone());
    let mark = CpuMark::now(args.server_pid);
    let started = Instant::now();
    s3.put_object()
        .bucket(bucket)
        .key("large")
        .content_length(size as i64)
        .body(ByteStream::from_body_1_x(Generator::new(size)))
        .send()
        .await
        .map_err(|e| format!("large PUT: {:?}", e.into_service_error()))?;
    let put_s = started.elapsed().as_secs_f64();
    let (put_client_cpu, put_server_cpu) = mark.since(args.server_pid);
    let mark = CpuMark::now(args.server_pid);
    let started = Instant::now();
    let out = s3
        .get_object()
        .bucket(bucket)
        .key("large")
        .send()
        .await
        .map_err(|e| format!("large GET: {:?}", e.into_service_error()))?;
    let mut body = out.body;
    let mut got = 0u64;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| format!("large GET body: {e}"))?
    {
        got += chunk.len() as u64;
    }
    let get_s = started.elapsed().as_secs_f64();
    let (get_client_cpu, get_server_cpu) = mark.since(args.server_pid);
    stop.store(true, Ordering::Relaxed);
    let peak_kib = watcher.join().unwrap_or(0);
    if got != size {
        return Err(format!("large GET returned {got} bytes of {size}"));
    }
    let _ = s3.delete_object().bucket(bucket).key("large").send().await;
    let mbs = |s: f64| size as f64 / 1e6 / s;
    Ok(json!({
        "bytes": size,
        "put_s": put_s,
        "put_mb_per_s": mbs(put_s),
        "put_client_cpu_s": put_client_cpu,
        "put_server_cpu_s": put_server_cpu,
        "get_s": get_s,
        "get_mb_per_s": mbs(get_s),
        "get_client_cpu_s": get_client_cpu,
        "get_server_cpu_s": get_server_cpu,
        "server_peak_rss_mib": args.server_pid.map(|_| peak_kib as f64 / 1024.0),
    }))
}

async fn list_phase(s3: &Client, args: &Args, bucket: &str) -> Value {
    let next = Arc::new(AtomicU64::new(0));
    let total = args.list_keys;
    let fill = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (s3, next, bucket) = (s3.clone(), next.clone(), bucket.to_owned());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return;
                }
                let _ = s3
                    .put_object()
                    .bucket(&bucket)
                    .key(format!("p{}/key-{i:07}", i % 10))
                    .body(ByteStream::from_static(b""))
                    .send()
                    .await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let fill_s = fill.elapsed().as_secs_f64();
    let mut times = Vec::new();
    let mut keys = 0;
    for _ in 0..5 {
        let started = Instant::now();
        if let Ok(page) = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix("p7/")
            .send()
            .await
        {
            keys = page.key_count().unwrap_or(0);
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    json!({
        "keys_in_bucket": total,
        "fill_s": fill_s,
        "first_page_keys": keys,
        "first_page_best_ms": times[0],
        "first_page_median_ms": times[times.len() / 2],
    })
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let s3 = client(&args.endpoint);
    let bucket = format!("bench-{}", std::process::id());
    if let Err(e) = s3.create_bucket().bucket(&bucket).send().await {
        eprintln!(
            "cannot create bucket {bucket}: {:?}",
            e.into_service_error()
        );
        std::process::exit(1);
    }
    let payload = Bytes::from(vec![b'x'; args.size]);
    let put = small_phase(&s3, &args, &bucket, false, 1000, payload.clone()).await;
    let written = put["ops"].as_u64().unwrap_or(0).clamp(1, 1000);
    let get = small_phase(&s3, &args, &bucket, true, written, payload).await;
    let mut report = json!({
        "label": args.label,
        "endpoint": args.endpoint,
        "clients": args.clients,
        "object_size": args.size,
        "put": put,
        "get": get,
    });
    if args.large_mib > 0 {
        report["large"] = match large_phase(&s3, &args, &bucket).await {
            Ok(v) => v,
            Err(e) => json!({ "error": e }),
        };
    }
    if args.list_keys > 0 {
        let list_bucket = format!("{bucket}-list");
        if s3.create_bucket().bucket(&list_bucket).send().await.is_ok() {
            report["list"] = list_phase(&s3, &args, &list_bucket).await;
        }
    }
    print_summary(&report);
    if args.json {
        println!("{report}");
    }
}

fn print_summary(r: &Value) {
    let label = r["label"].as_str().unwrap_or("");
    for phase in ["put", "get"] {
        let p = &r[phase];
        eprintln!(
            "{label}: {} B {}: {:.0} ops/s at {} clients, p50 {:.2} ms, p99 {:.2} ms, {} errors, \
             client CPU {:.2} s, server CPU/op {} µs",
            r["object_size"],
            if phase == "put" {
                "PutObject"
            } else {
                "GetObject"
            },
            p["ops_per_s"].as_f64().unwrap_or(0.0),
            r["clients"],
            p["p50_ms"].as_f64().unwrap_or(0.0),
            p["p99_ms"].as_f64().unwrap_or(0.0),
            p["errors"],
            p["client_cpu_s"].as_f64().unwrap_or(0.0),
            p["server_cpu_us_per_op"]
                .as_f64()
                .map_or("?".into(), |v| format!("{v:.0}")),
        );
    }
    let l = &r["large"];
    if let Some(e) = l["error"].as_str() {
        eprintln!("{label}: large object: {e}");
    } else if l.is_object() {
        eprintln!(
            "{label}: {} MiB PUT {:.0} MB/s, GET {:.0} MB/s, server peak RSS {} MiB",
            l["bytes"].as_u64().unwrap_or(0) >> 20,
            l["put_mb_per_s"].as_f64().unwrap_or(0.0),
            l["get_mb_per_s"].as_f64().unwrap_or(0.0),
            l["server_peak_rss_mib"]
                .as_f64()
                .map_or("?".into(), |v| format!("{v:.1}")),
        );
    }
    let l = &r["list"];
    if l.is_object() {
        eprintln!(
            "{label}: ListObjectsV2 prefix first page ({} keys) in a {}-key bucket: best {:.1} ms, median {:.1} ms",
            l["first_page_keys"],
            l["keys_in_bucket"],
            l["first_page_best_ms"].as_f64().unwrap_or(0.0),
            l["first_page_median_ms"].as_f64().unwrap_or(0.0),
        );
    }
}

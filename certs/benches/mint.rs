//! Mint-time benchmark: how long a brand-new name's certificate takes (fresh ECDSA P-256 key, signature,
//! rustls signing key), and how long a cached lookup takes. Prints p50/p99/max; asserts nothing.
//!
//! Run: `cargo bench -p skyport-certs --bench mint` (figures go to docs/benchmarks.md, not into tests).

use std::sync::Arc;
use std::time::{Duration, Instant};

use skyport_certs::{CertAuthority, NameConstraintsPolicy, ResolverConfig, SniResolver};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{label:<28} n={:<6} p50={:>9.1?} p99={:>9.1?} max={:>9.1?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        samples[samples.len() - 1],
    );
}

fn main() -> Result<(), skyport_certs::CertError> {
    let rounds: usize = std::env::var("MINT_BENCH_NAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let ca = CertAuthority::generate("bench", &NameConstraintsPolicy::skyport_default(None, &[]))?;
    let resolver = SniResolver::new(
        Arc::new(ca),
        ResolverConfig::skyport_default(None, true, &[]),
    )?;

    // Warm-up.
    for i in 0..50 {
        resolver.mint_uncached(&format!("warm{i}.amazonaws.com"))?;
    }

    let mut mint = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let name = format!("bucket.s3.region-{i}.amazonaws.com");
        let start = Instant::now();
        let leaf = resolver.mint_uncached(&name)?;
        mint.push(start.elapsed());
        std::hint::black_box(leaf);
    }
    report("mint (new name)", mint);

    let mut first = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let name = format!("sqs.region-{i}.localhost.localstack.cloud");
        let start = Instant::now();
        std::hint::black_box(resolver.resolve_name(Some(&name)));
        first.push(start.elapsed());
    }
    report("resolve, first request", first);

    let mut cached = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let name = format!("sqs.region-{i}.localhost.localstack.cloud");
        let start = Instant::now();
        std::hint::black_box(resolver.resolve_name(Some(&name)));
        cached.push(start.elapsed());
    }
    report("resolve, cached", cached);
    Ok(())
}

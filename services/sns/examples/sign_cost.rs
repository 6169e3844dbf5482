//! What signing a message costs: `cargo run --release -p skyport-sns --example sign_cost` prints the
//! time of one 2048-bit RSA key generation and of one signature of each version (the figures in
//! docs/benchmarks.md).

use std::time::Instant;

use skyport_sns::sign::RsaKey;

fn main() {
    let t = Instant::now();
    let key = RsaKey::generate().expect("a key");
    println!("key generation: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let text = "Message\nhello\nMessageId\n0f1e\nTimestamp\n2026-12-07T00:00:00.000Z\nTopicArn\narn:aws:sns:us-east-1:000000000000:t\nType\nNotification\n";
    for version in ["1", "2"] {
        let n = 500;
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(key.sign(text.as_bytes(), version));
        }
        println!(
            "SignatureVersion {version}: {:.0} µs per signature",
            t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
        );
    }
}

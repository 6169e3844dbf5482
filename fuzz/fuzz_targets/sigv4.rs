//! Fuzz target: an arbitrary request head (`METHOD URI` then `Name: value` lines) through the SigV4 and
//! SigV2 readers and verifiers of `ENFORCE_IAM=1` (signature parsing, time checks, canonical requests
//! and strings to sign): any input is refused or verified, never a panic.
#![no_main]

#[path = "shared/head.rs"]
mod head;

use libfuzzer_sys::fuzz_target;
use skyport_sigv4::{UriStyle, parse, sha256_hex, v2::parse_v2};

fuzz_target!(|data: &[u8]| {
    let Some(parts) = head::parts(data) else {
        return;
    };
    if let Ok(Some(signature)) = parse(&parts) {
        let _ = signature.check_time(1_700_000_000);
        let _ = signature.region();
        let _ = signature.service();
        for style in [UriStyle::AsSent, UriStyle::DoubleEncoded] {
            let _ = signature.verify(&parts, "secret", &sha256_hex(b""), style, "host.test");
        }
    }
    if let Ok(Some(signature)) = parse_v2(&parts) {
        let _ = signature.verify(&parts, "secret", Some("bucket"));
        let _ = signature.string_to_sign(&parts, None);
    }
});

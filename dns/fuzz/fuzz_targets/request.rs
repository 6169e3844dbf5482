//! Fuzz target for the DNS request path: arbitrary bytes through parsing, validation, the ACL, the
//! local answers and response encoding (`skyport_dns::fuzzing::request`), over UDP and TCP sizing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = skyport_dns::fuzzing::request(data);
});

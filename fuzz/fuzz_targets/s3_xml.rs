//! Fuzz target: arbitrary bytes through the XML parser every S3 request body goes through
//! (CompleteMultipartUpload, Delete, Tagging, bucket configurations).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = skyport_s3::wire::parse_xml(data);
});

//! Fuzz target: DynamoDB's PartiQL parser (`ExecuteStatement` and its batch and transaction forms) on
//! arbitrary statements.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = skyport_dynamodb::partiql::parse::parse(&text, Vec::new());
});

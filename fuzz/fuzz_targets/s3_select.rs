//! Fuzz target: S3 Select's SQL parser and evaluator (`SelectObjectContent`) on arbitrary expressions
//! and object bytes. The first line is the expression, the rest the object (CSV or JSON lines by the
//! first byte's parity).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let (expression, object) = text.split_once('\n').unwrap_or((&text, ""));
    let _ = skyport_s3::select::evaluate(expression, mode % 2 == 0, object.as_bytes());
});

//! Fuzz target: the SAML assertion reader behind `AssumeRoleWithSAML` (base64, then XML) on arbitrary
//! text, and on arbitrary XML base64-encoded for it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = skyport_sts::saml::Assertion::parse(&text);
    let encoded = base64_encode(data);
    if let Some(a) = skyport_sts::saml::Assertion::parse(&encoded) {
        let _ = a.subject_type();
        let _ = a.allows("arn:aws:iam::1:role/r", "arn:aws:iam::1:saml-provider/p");
    }
});

/// Standard base64, so any bytes reach the XML reader.
fn base64_encode(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

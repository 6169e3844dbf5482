//! Request ids in the shapes AWS uses: UUIDs for most services, and for S3 a 16-character hex request id
//! plus a base64 "extended request id" (`x-amz-id-2`).

use base64::Engine;

/// A random version-4 UUID string, e.g. `c6104cbe-af31-41e0-8154-cbc7ccf896c7`.
pub fn uuid() -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = fastrand::u128(..).to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    // One allocation, no formatting machinery: this runs for every request.
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// An S3-style request id: 16 upper-case hex characters.
pub fn s3_request_id() -> String {
    format!("{:016X}", fastrand::u64(..))
}

/// An S3-style extended request id (`x-amz-id-2`): base64 of 48 random bytes.
pub fn s3_host_id() -> String {
    let mut bytes = [0u8; 48];
    fastrand::fill(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// `len` random characters from `alphabet`.
pub fn random_string(alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| alphabet[fastrand::usize(..alphabet.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let id = uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        let dashes: Vec<usize> = id.match_indices('-').map(|(i, _)| i).collect();
        assert_eq!(dashes, [8, 13, 18, 23]);
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert!(
            id.chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(s3_request_id().len(), 16);
        assert_eq!(s3_host_id().len(), 64);
        assert_eq!(hex(&[0xab, 0x01]), "ab01");
    }
}

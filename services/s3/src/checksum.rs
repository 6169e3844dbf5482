//! Integrity: the flexible checksum algorithms S3 accepts (`CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`,
//! `SHA256`), computed while a body streams, rendered the way S3 does (base64 of the big-endian digest),
//! and the multipart combinations (composite `-N` checksums and full-object CRC combination).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use crc_fast::CrcAlgorithm;
use sha2::Digest as _;

/// A flexible checksum algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

/// Every algorithm, in the order S3 documents them.
pub const ALL: [Algorithm; 5] = [
    Algorithm::Crc32,
    Algorithm::Crc32c,
    Algorithm::Crc64Nvme,
    Algorithm::Sha1,
    Algorithm::Sha256,
];

impl Algorithm {
    /// Parses the `x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm` value (case-insensitive).
    pub fn parse(name: &str) -> Option<Algorithm> {
        Some(match name.trim().to_ascii_uppercase().as_str() {
            "CRC32" => Algorithm::Crc32,
            "CRC32C" => Algorithm::Crc32c,
            "CRC64NVME" => Algorithm::Crc64Nvme,
            "SHA1" => Algorithm::Sha1,
            "SHA256" => Algorithm::Sha256,
            _ => return None,
        })
    }

    /// The wire name (`CRC32`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    /// The header carrying the value (`x-amz-checksum-crc32`, ...).
    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The XML element naming it in responses (`ChecksumCRC32`, ...).
    pub fn xml_element(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "ChecksumCRC32",
            Algorithm::Crc32c => "ChecksumCRC32C",
            Algorithm::Crc64Nvme => "ChecksumCRC64NVME",
            Algorithm::Sha1 => "ChecksumSHA1",
            Algorithm::Sha256 => "ChecksumSHA256",
        }
    }

    /// CRCs can be combined into a full-object checksum; SHAs only into composite ones.
    pub fn is_crc(self) -> bool {
        matches!(
            self,
            Algorithm::Crc32 | Algorithm::Crc32c | Algorithm::Crc64Nvme
        )
    }

    fn crc(self) -> Option<CrcAlgorithm> {
        match self {
            Algorithm::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
            Algorithm::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
            Algorithm::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
            _ => None,
        }
    }

    fn width(self) -> usize {
        match self {
            Algorithm::Crc32 | Algorithm::Crc32c => 4,
            Algorithm::Crc64Nvme => 8,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }

    /// Whether `value` is a well-formed base64 digest of this algorithm's width.
    pub fn valid_value(self, value: &str) -> bool {
        B64.decode(value.trim())
            .is_ok_and(|raw| raw.len() == self.width())
    }

    /// The checksum of `data` at once.
    pub fn digest(self, data: &[u8]) -> String {
        let mut h = Hasher::new(self);
        h.update(data);
        h.finish()
    }
}

/// A running checksum.
pub enum Hasher {
    Crc(Algorithm, crc_fast::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    /// A fresh hasher for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Hasher {
        match algorithm.crc() {
            Some(crc) => Hasher::Crc(algorithm, crc_fast::Digest::new(crc)),
            None if algorithm == Algorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            None => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc(_, d) => d.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// The raw digest bytes (big-endian for CRCs).
    pub fn finish_raw(self) -> Vec<u8> {
        match self {
            Hasher::Crc(alg, d) => crc_bytes(alg, d.finalize()),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        }
    }

    /// The base64 digest, as S3 renders it.
    pub fn finish(self) -> String {
        B64.encode(self.finish_raw())
    }
}

fn crc_bytes(alg: Algorithm, value: u64) -> Vec<u8> {
    if alg == Algorithm::Crc64Nvme {
        value.to_be_bytes().to_vec()
    } else {
        (value as u32).to_be_bytes().to_vec()
    }
}

fn crc_value(raw: &[u8]) -> Option<u64> {
    match raw.len() {
        4 => Some(u64::from(u32::from_be_bytes(raw.try_into().ok()?))),
        8 => Some(u64::from_be_bytes(raw.try_into().ok()?)),
        _ => None,
    }
}

/// The composite checksum of a multipart object: the checksum of the concatenated raw part checksums,
/// suffixed `-N`.
pub fn composite(alg: Algorithm, parts: &[String]) -> Option<String> {
    let mut h = Hasher::new(alg);
    for part in parts {
        h.update(&B64.decode(part).ok()?);
    }
    Some(format!("{}-{}", h.finish(), parts.len()))
}

/// The full-object CRC of a multipart object from the parts' CRCs and sizes.
pub fn combine_full(alg: Algorithm, parts: &[(String, u64)]) -> Option<String> {
    let crc = alg.crc()?;
    let mut acc: Option<u64> = None;
    for (value, size) in parts {
        let v = crc_value(&B64.decode(value).ok()?)?;
        acc = Some(match acc {
            None => v,
            Some(a) => crc_fast::checksum_combine(crc, a, v, *size),
        });
    }
    let acc = acc.unwrap_or_else(|| crc_fast::checksum(crc, b""));
    Some(B64.encode(crc_bytes(alg, acc)))
}

/// MD5 of a byte slice, hex.
pub fn md5_hex(data: &[u8]) -> String {
    skyport_core::ids::hex(&crate::md5::Md5::digest(data))
}

/// The base64 of a hex string's bytes (for `Content-MD5` comparisons).
pub fn hex_to_base64(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    B64.encode(bytes)
}

/// Decodes base64 (for `Content-MD5`).
pub fn b64_decode(value: &str) -> Option<Vec<u8>> {
    B64.decode(value.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(Algorithm::Crc32.digest(b"hello world"), "DUoRhQ==");
        assert_eq!(Algorithm::Crc32c.digest(b"hello world"), "yZRlqg==");
        assert_eq!(Algorithm::Crc64Nvme.digest(b"hello world"), "jSnVw/bqjr4=");
        assert_eq!(
            Algorithm::Sha1.digest(b"hello world"),
            "Kq5sNclPz7QV2+lfQIuc6R7oRu0="
        );
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn full_object_combination_matches_whole() {
        for alg in [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme] {
            let a = alg.digest(b"hello ");
            let b = alg.digest(b"world");
            assert_eq!(
                combine_full(alg, &[(a, 6), (b, 5)]).unwrap(),
                alg.digest(b"hello world")
            );
        }
        assert!(
            composite(Algorithm::Sha256, &[Algorithm::Sha256.digest(b"x")])
                .unwrap()
                .ends_with("-1")
        );
    }
}

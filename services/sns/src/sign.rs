//! Message signatures as AWS makes them ("Verifying the signatures of Amazon SNS messages"): an RSA
//! key (2048 bits, generated once and kept in the store), PKCS #1 v1.5 signatures over the message's
//! canonical string with SHA1 (`SignatureVersion` 1) or SHA256 (2), and the certificate of the key,
//! issued by Skyport's CA, served at the `SigningCertURL`
//! `https://sns.<region>.amazonaws.com/SimpleNotificationService-<id>.pem`.
//!
//! The RSA arithmetic is num-bigint's (modular exponentiation with the CRT); primes are found by
//! trial division and 40 Miller-Rabin rounds, from the system's secure random source.

use base64::Engine;
use num_bigint::BigUint;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::delivery::Signer;
use crate::message::Signed;

/// The table holding the key.
pub const KEYS: &str = "keys";
/// The key's name there.
pub const SIGNING_KEY: &str = "signing";

/// Bits of the modulus.
const BITS: u64 = 2048;
/// `DigestInfo` prefixes (RFC 8017, 9.2 note 1).
const SHA1_PREFIX: &[u8] = &[
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
];
const SHA256_PREFIX: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// Why a key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The system's random source failed.
    #[error("the system random source failed")]
    Random,
    /// A stored key is damaged.
    #[error("the stored signing key is damaged")]
    Damaged,
}

/// An RSA private key with its CRT values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaKey {
    n: BigUint,
    e: BigUint,
    d: BigUint,
    p: BigUint,
    q: BigUint,
    dp: BigUint,
    dq: BigUint,
    qinv: BigUint,
}

/// The stored form: hex numbers.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredKey {
    n: String,
    e: String,
    d: String,
    p: String,
    q: String,
}

fn random_bytes(n: usize) -> Result<Vec<u8>, SignError> {
    let mut out = vec![0u8; n];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut out)
        .map_err(|_| SignError::Random)?;
    Ok(out)
}

const SMALL_PRIMES: &[u32] = &[
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167, 173, 179, 181, 191, 193,
    197, 199, 211, 223, 227, 229, 233, 239, 241, 251, 257, 263, 269, 271, 277, 281, 283, 293, 307,
    311, 313, 317, 331, 337, 347, 349, 353, 359, 367, 373, 379, 383, 389, 397, 401, 409, 419, 421,
    431, 433, 439, 443, 449, 457, 461, 463, 467, 479, 487, 491, 499, 503, 509, 521, 523, 541,
];

fn probably_prime(n: &BigUint, rounds: usize) -> Result<bool, SignError> {
    let one = BigUint::from(1u32);
    let two = BigUint::from(2u32);
    for p in SMALL_PRIMES {
        if (n % p) == BigUint::ZERO {
            return Ok(n == &BigUint::from(*p));
        }
    }
    let n_minus_1 = n - &one;
    let s = n_minus_1.trailing_zeros().unwrap_or(0);
    let d = &n_minus_1 >> s;
    let len = usize::try_from(n.bits().div_ceil(8)).unwrap_or(128);
    'witness: for _ in 0..rounds {
        let a = BigUint::from_bytes_be(&random_bytes(len)?) % (n - 3u32) + &two;
        let mut x = a.modpow(&d, n);
        if x == one || x == n_minus_1 {
            continue;
        }
        for _ in 1..s {
            x = x.modpow(&two, n);
            if x == n_minus_1 {
                continue 'witness;
            }
        }
        return Ok(false);
    }
    Ok(true)
}

/// A random prime of `bits` bits (the top two set, so two of them make a modulus of twice the bits)
/// with `p - 1` prime to `e`.
fn prime(bits: u64, e: &BigUint) -> Result<BigUint, SignError> {
    let len = usize::try_from(bits / 8).unwrap_or(128);
    loop {
        let mut bytes = random_bytes(len)?;
        bytes[0] |= 0xc0;
        bytes[len - 1] |= 1;
        let candidate = BigUint::from_bytes_be(&bytes);
        if (&candidate - 1u32) % e == BigUint::ZERO {
            continue;
        }
        if probably_prime(&candidate, 40)? {
            return Ok(candidate);
        }
    }
}

impl RsaKey {
    /// A new 2048-bit key with exponent 65537.
    pub fn generate() -> Result<RsaKey, SignError> {
        let e = BigUint::from(65_537u32);
        loop {
            let p = prime(BITS / 2, &e)?;
            let q = prime(BITS / 2, &e)?;
            if p == q {
                continue;
            }
            let stored = StoredKey {
                n: (&p * &q).to_str_radix(16),
                e: e.to_str_radix(16),
                d: String::new(),
                p: p.to_str_radix(16),
                q: q.to_str_radix(16),
            };
            if let Ok(key) = RsaKey::from_parts(&stored, true) {
                return Ok(key);
            }
        }
    }

    fn from_parts(stored: &StoredKey, derive_d: bool) -> Result<RsaKey, SignError> {
        let num = |s: &str| BigUint::parse_bytes(s.as_bytes(), 16).ok_or(SignError::Damaged);
        let (n, e, p, q) = (
            num(&stored.n)?,
            num(&stored.e)?,
            num(&stored.p)?,
            num(&stored.q)?,
        );
        let one = BigUint::from(1u32);
        let (p1, q1) = (&p - &one, &q - &one);
        let d = if derive_d {
            let lambda = (&p1 * &q1) / num_gcd(&p1, &q1);
            e.modinv(&lambda).ok_or(SignError::Damaged)?
        } else {
            num(&stored.d)?
        };
        let qinv = q.modinv(&p).ok_or(SignError::Damaged)?;
        if &p * &q != n {
            return Err(SignError::Damaged);
        }
        Ok(RsaKey {
            dp: &d % &p1,
            dq: &d % &q1,
            n,
            e,
            d,
            p,
            q,
            qinv,
        })
    }

    /// The stored form.
    pub fn to_stored(&self) -> StoredKey {
        StoredKey {
            n: self.n.to_str_radix(16),
            e: self.e.to_str_radix(16),
            d: self.d.to_str_radix(16),
            p: self.p.to_str_radix(16),
            q: self.q.to_str_radix(16),
        }
    }

    /// A key from its stored form.
    pub fn from_stored(stored: &StoredKey) -> Result<RsaKey, SignError> {
        RsaKey::from_parts(stored, false)
    }

    /// The DER SubjectPublicKeyInfo (rsaEncryption) of the public key.
    pub fn spki_der(&self) -> Vec<u8> {
        let rsa_public = der(0x30, &[der_integer(&self.n), der_integer(&self.e)].concat());
        let algorithm = der(
            0x30,
            &[
                der(
                    0x06,
                    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
                ),
                vec![0x05, 0x00],
            ]
            .concat(),
        );
        let bits = der(0x03, &[&[0u8][..], &rsa_public].concat());
        der(0x30, &[algorithm, bits].concat())
    }

    /// The PKCS #1 v1.5 signature of `text` with SHA1 (`version` "1") or SHA256 (otherwise).
    pub fn sign(&self, text: &[u8], version: &str) -> Vec<u8> {
        let digest_info = if version == "1" {
            [SHA1_PREFIX, &sha1::Sha1::digest(text)[..]].concat()
        } else {
            [SHA256_PREFIX, &sha2::Sha256::digest(text)[..]].concat()
        };
        let k = usize::try_from(self.n.bits().div_ceil(8)).unwrap_or(256);
        let mut em = vec![0xffu8; k];
        em[0] = 0;
        em[1] = 1;
        let start = k - digest_info.len();
        em[start - 1] = 0;
        em[start..].copy_from_slice(&digest_info);
        let m = BigUint::from_bytes_be(&em);
        // The CRT: two half-size exponentiations.
        let m1 = m.modpow(&self.dp, &self.p);
        let m2 = m.modpow(&self.dq, &self.q);
        let diff = if m1 >= (&m2 % &self.p) {
            m1 - (&m2 % &self.p)
        } else {
            m1 + &self.p - (&m2 % &self.p)
        };
        let h = (&self.qinv * diff) % &self.p;
        let s = m2 + h * &self.q;
        let bytes = s.to_bytes_be();
        let mut out = vec![0u8; k - bytes.len()];
        out.extend_from_slice(&bytes);
        out
    }

    /// The public operation (for checking a signature): `s^e mod n`.
    pub fn public(&self, signature: &[u8]) -> Vec<u8> {
        BigUint::from_bytes_be(signature)
            .modpow(&self.e, &self.n)
            .to_bytes_be()
    }

    /// The id in the certificate's URL: the first 16 bytes of the public key's SHA256, in hex.
    pub fn id(&self) -> String {
        skyport_core::ids::hex(&sha2::Sha256::digest(self.spki_der())[..16])
    }
}

fn num_gcd(a: &BigUint, b: &BigUint) -> BigUint {
    let (mut a, mut b) = (a.clone(), b.clone());
    while b != BigUint::ZERO {
        let r = &a % &b;
        a = b;
        b = r;
    }
    a
}

fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![u8::try_from(len).unwrap_or(0)];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .iter()
        .copied()
        .skip_while(|b| *b == 0)
        .collect();
    let mut out = vec![0x80 | u8::try_from(bytes.len()).unwrap_or(0)];
    out.extend(bytes);
    out
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(content.len()));
    out.extend_from_slice(content);
    out
}

fn der_integer(n: &BigUint) -> Vec<u8> {
    let mut bytes = n.to_bytes_be();
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    der(0x02, &bytes)
}

/// Signs messages with the key whose certificate is served at [`KeySigner::cert_path`].
#[derive(Debug)]
pub struct KeySigner {
    key: RsaKey,
    id: String,
    cert_pem: String,
}

impl KeySigner {
    /// A signer with `key` and its certificate.
    pub fn new(key: RsaKey, cert_pem: String) -> KeySigner {
        KeySigner {
            id: key.id(),
            key,
            cert_pem,
        }
    }

    /// `/SimpleNotificationService-<id>.pem`.
    pub fn cert_path(&self) -> String {
        format!("/SimpleNotificationService-{}.pem", self.id)
    }

    /// The certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }
}

impl Signer for KeySigner {
    fn sign(&self, text: &str, version: &str, region: &str) -> Option<Signed> {
        let version = if version == "2" { "2" } else { "1" };
        let signature = self.key.sign(text.as_bytes(), version);
        Some(Signed {
            version: version.to_owned(),
            signature: base64::engine::general_purpose::STANDARD.encode(signature),
            cert_url: format!("https://sns.{region}.amazonaws.com{}", self.cert_path()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_check_with_the_public_key() {
        let key = RsaKey::generate().unwrap();
        assert_eq!(key.n.bits(), 2048);
        for version in ["1", "2"] {
            let sig = key.sign(b"Message\nhi\n", version);
            assert_eq!(sig.len(), 256);
            let em = key.public(&sig);
            // Leading zero dropped by the big-number conversion: 0x01 then 0xff padding.
            assert_eq!(em[0], 1);
            assert!(em[1..200].iter().all(|b| *b == 0xff));
            let digest: Vec<u8> = if version == "1" {
                sha1::Sha1::digest(b"Message\nhi\n").to_vec()
            } else {
                sha2::Sha256::digest(b"Message\nhi\n").to_vec()
            };
            assert!(em.ends_with(&digest));
        }
        let again = RsaKey::from_stored(&key.to_stored()).unwrap();
        assert_eq!(again, key);
        let spki = key.spki_der();
        assert_eq!(spki[0], 0x30);
        assert_eq!(key.id().len(), 32);
    }
}

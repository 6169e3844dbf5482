//! Trust material for function environments that do not read PEM bundles: Java.
//!
//! Python, Node, Go, Ruby, Rust and .NET on Linux read the PEM bundle the executor installs (and the
//! variables pointing at it). A JVM only trusts a key store, so Java functions also get the same roots as a
//! JKS trust store, named by `JAVA_TOOL_OPTIONS` (which every JVM reads at start, including the Lambda
//! Java runtimes' own launchers).
//!
//! The JKS format (the JDK's `sun.security.provider.JavaKeyStore`): the magic `0xFEEDFEED`, version 2, the
//! entry count, then per trusted certificate the tag 2, its alias (Java's modified UTF-8 with a 16-bit
//! length), a creation time in milliseconds, the certificate type `X.509` and the DER bytes with a 32-bit
//! length; last, a SHA-1 over the password (UTF-16BE), the words `Mighty Aphrodite` and everything before.

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The trust store's password: the JDK's default for its own `cacerts`.
pub const JAVA_TRUST_STORE_PASSWORD: &str = "changeit";

/// The `-D` options that make a JVM use the trust store at `path`.
pub fn java_options(path: &str) -> String {
    format!(
        "-Djavax.net.ssl.trustStore={path} -Djavax.net.ssl.trustStoreType=JKS \
         -Djavax.net.ssl.trustStorePassword={JAVA_TRUST_STORE_PASSWORD}"
    )
}

/// The DER bytes of each `CERTIFICATE` block of a PEM text (blocks that do not decode are skipped).
pub fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let Some(end) = after.find(END) else {
            break;
        };
        let b64: String = after[..end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
            out.push(der);
        }
        rest = &after[end + END.len()..];
    }
    out
}

/// A JKS trust store holding `certificates` (DER) as trusted entries, with [`JAVA_TRUST_STORE_PASSWORD`].
pub fn java_trust_store(certificates: &[Vec<u8>], created_ms: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(certificates.iter().map(|c| c.len() + 64).sum::<usize>() + 32);
    out.extend_from_slice(&0xFEED_FEED_u32.to_be_bytes());
    out.extend_from_slice(&2u32.to_be_bytes());
    let count = u32::try_from(certificates.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for (i, der) in certificates.iter().take(count as usize).enumerate() {
        out.extend_from_slice(&2u32.to_be_bytes());
        write_utf(&mut out, &format!("skyport-{i}"));
        out.extend_from_slice(&created_ms.to_be_bytes());
        write_utf(&mut out, "X.509");
        let len = u32::try_from(der.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&der[..len as usize]);
    }
    let mut digest = Sha1::new();
    for unit in JAVA_TRUST_STORE_PASSWORD.encode_utf16() {
        digest.update(unit.to_be_bytes());
    }
    digest.update(b"Mighty Aphrodite");
    digest.update(&out);
    out.extend_from_slice(&digest.finalize());
    out
}

/// `DataOutputStream.writeUTF` for ASCII text (aliases and the type are ASCII).
fn write_utf(out: &mut Vec<u8>, text: &str) {
    let len = u16::try_from(text.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&text.as_bytes()[..len as usize]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_decode_and_garbage_is_skipped() {
        let pem = "junk\n-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\n\
                   -----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n\
                   -----BEGIN CERTIFICATE-----\nBAU=\n-----END CERTIFICATE-----";
        assert_eq!(pem_certificates(pem), vec![vec![0, 1, 2, 3], vec![4, 5]]);
    }

    #[test]
    fn store_layout_and_digest() {
        let store = java_trust_store(&[vec![9, 9, 9]], 1);
        assert_eq!(
            &store[..12],
            &[0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0, 0, 0, 1]
        );
        let body = &store[..store.len() - 20];
        // tag, alias "skyport-0", time, "X.509", length 3, the DER.
        let mut want = vec![0, 0, 0, 2, 0, 9];
        want.extend_from_slice(b"skyport-0");
        want.extend_from_slice(&1u64.to_be_bytes());
        want.extend_from_slice(&[0, 5]);
        want.extend_from_slice(b"X.509");
        want.extend_from_slice(&[0, 0, 0, 3, 9, 9, 9]);
        assert_eq!(&body[12..], &want[..]);
        let mut d = Sha1::new();
        d.update([
            0, b'c', 0, b'h', 0, b'a', 0, b'n', 0, b'g', 0, b'e', 0, b'i', 0, b't',
        ]);
        d.update(b"Mighty Aphrodite");
        d.update(body);
        assert_eq!(&store[store.len() - 20..], &d.finalize()[..]);
    }
}

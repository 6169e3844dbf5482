//! Access key ids and the account they belong to.
//!
//! Real AWS access key ids encode the account id: after the four-letter prefix (`AKIA`, `ASIA`, ...), the
//! base32 text decodes to bytes whose first six, read big-endian and masked with `0x7fff_ffff_ff80`,
//! shifted right by 7, give the account. Skyport mints keys the same way with LocalStack's `LSIA`/`LKIA`
//! prefixes, so credentials from `AssumeRole` carry the role's account and every later request signed with
//! them lands in that account without a lookup.

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The account a request signed with `access_key` acts in, following LocalStack's rules: a 12-digit key
/// *is* the account; `LSIA`/`LKIA` keys (minted by Skyport or LocalStack) carry it encoded; anything else
/// (including real `AKIA`/`ASIA` keys, unless `parity` is on) gets `None` and thus the default account.
pub fn account_for_key(access_key: &str, parity: bool) -> Option<String> {
    if crate::arn::is_account_id(access_key) {
        return Some(access_key.to_owned());
    }
    let skyport_minted = access_key.starts_with("LSIA") || access_key.starts_with("LKIA");
    let real = access_key.starts_with("AKIA") || access_key.starts_with("ASIA");
    if skyport_minted || (parity && real) {
        return decode_account(access_key);
    }
    None
}

/// Decodes the account id embedded in an AWS-format access key id (prefix + 16 base32 characters).
pub fn decode_account(access_key: &str) -> Option<String> {
    let body = access_key.get(4..)?;
    if body.len() < 10 {
        return None;
    }
    let bytes = base32_decode(&body[..10])?;
    let mut first = [0u8; 8];
    first[2..8].copy_from_slice(&bytes[..6]);
    let z = u64::from_be_bytes(first);
    let account = (z & 0x7fff_ffff_ff80) >> 7;
    Some(format!("{account:012}"))
}

/// Mints a new access key id with `prefix` (four letters, e.g. `LSIA`) that encodes `account`.
pub fn mint(prefix: &str, account: &str) -> String {
    let account: u64 = account.parse().unwrap_or(0) & 0xff_ffff_ffff;
    let mut bytes = [0u8; 10];
    fastrand::fill(&mut bytes);
    let encoded = (account << 7) | (u64::from(bytes[5]) & 0x7f);
    let top_bit = u64::from(bytes[0] & 0x80) << 40;
    let z = (encoded | top_bit).to_be_bytes();
    bytes[..6].copy_from_slice(&z[2..8]);
    format!("{prefix}{}", base32_encode(&bytes))
}

fn base32_encode(bytes: &[u8; 10]) -> String {
    let mut out = String::with_capacity(16);
    let mut buffer: u64 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    out
}

fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u64 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let value = BASE32.iter().position(|&x| x == c)? as u64;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_published_example() {
        // The documented example key ASIAY34FZKBOKMUTVV7A belongs to account 609629065308.
        assert_eq!(
            decode_account("ASIAY34FZKBOKMUTVV7A").as_deref(),
            Some("609629065308")
        );
    }

    #[test]
    fn minted_keys_carry_the_account() {
        for account in [
            "000000000000",
            "123456789012",
            "999999999999",
            "000000000001",
        ] {
            let key = mint("LSIA", account);
            assert_eq!(key.len(), 20);
            assert!(key.starts_with("LSIA"));
            assert_eq!(
                account_for_key(&key, false).as_deref(),
                Some(account),
                "{key}"
            );
        }
    }

    #[test]
    fn lookup_rules() {
        assert_eq!(
            account_for_key("123456789012", false).as_deref(),
            Some("123456789012")
        );
        assert_eq!(account_for_key("test", false), None);
        assert_eq!(account_for_key("AKIAIOSFODNN7EXAMPLE", false), None);
        assert!(account_for_key("AKIAIOSFODNN7EXAMPLE", true).is_some());
        assert_eq!(account_for_key("LSIA!!!!", false), None);
    }
}

//! Registry credentials as ECR hands them out: `GetAuthorizationToken` returns base64 of
//! `AWS:<password>`, valid for 12 hours; `docker login -u AWS -p <password>` then sends
//! `Authorization: Basic base64(AWS:<password>)` to the registry.
//!
//! The password is `<payload>.<mac>`: the payload (`<account>:<region>:<expiry seconds>`, base64url)
//! signed with HMAC-SHA256 under a random key kept in the service's store, so tokens survive a restart
//! with persistence and need no table of issued tokens.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{KeyInit, Mac};
use sha2::Sha256;

/// How long a token is valid.
pub const VALIDITY_SECS: i64 = 12 * 3600;

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
}

/// Signs and checks tokens.
#[derive(Clone)]
pub struct Signer {
    key: [u8; 32],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// A signer with `key`.
    pub fn new(key: [u8; 32]) -> Signer {
        Signer { key }
    }

    fn mac(&self, payload: &str) -> String {
        let mut mac = match <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(payload.as_bytes());
        skyport_core::ids::hex(&mac.finalize().into_bytes())
    }

    /// The `authorizationToken` (base64 of `AWS:<password>`) for `account` in `region`, expiring at
    /// `expires` (epoch seconds).
    pub fn token(&self, account: &str, region: &str, expires: i64) -> String {
        let payload = URL_SAFE_NO_PAD.encode(format!("{account}:{region}:{expires}"));
        let password = format!("{payload}.{}", self.mac(&payload));
        STANDARD.encode(format!("AWS:{password}"))
    }

    /// Checks an `Authorization` header value at `now` (epoch seconds).
    pub fn check(&self, header: &str, now: i64) -> Option<Grant> {
        let (scheme, creds) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = STANDARD.decode(creds.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':')?;
        if user != "AWS" {
            return None;
        }
        let (payload, mac) = password.split_once('.')?;
        if !constant_eq(self.mac(payload).as_bytes(), mac.as_bytes()) {
            return None;
        }
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let mut parts = text.splitn(3, ':');
        let account = parts.next()?.to_owned();
        let region = parts.next()?.to_owned();
        let expires: i64 = parts.next()?.parse().ok()?;
        (expires > now).then_some(Grant { account, region })
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(token: &str) -> String {
        format!("Basic {token}")
    }

    #[test]
    fn tokens_verify_until_they_expire_and_not_when_altered() {
        let s = Signer::new([7; 32]);
        let t = s.token("000000000000", "eu-west-1", 1000);
        let grant = s.check(&header(&t), 999).unwrap();
        assert_eq!(grant.region, "eu-west-1");
        assert_eq!(s.check(&header(&t), 1000), None);
        assert_eq!(Signer::new([8; 32]).check(&header(&t), 1), None);
        let forged = STANDARD.encode("AWS:eyJ4Ijoxfq.00");
        assert_eq!(s.check(&header(&forged), 1), None);
        let other_user = STANDARD.encode(
            String::from_utf8(STANDARD.decode(&t).unwrap())
                .unwrap()
                .replacen("AWS:", "bob:", 1),
        );
        assert_eq!(s.check(&header(&other_user), 1), None);
    }
}

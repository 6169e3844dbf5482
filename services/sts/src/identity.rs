//! Identities behind access keys, and minting temporary credentials.

use std::time::{Duration, SystemTime};

use base64::Engine;
use serde::{Deserialize, Serialize};
use skyport_core::{access_key, arn::Arn, store::Store, store::StoreError};

const KEYS: &str = "access_keys";

/// Who a set of credentials belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The account.
    pub account: String,
    /// The caller ARN (`arn:aws:iam::<acct>:root`, `arn:aws:sts::<acct>:assumed-role/<role>/<session>`).
    pub arn: String,
    /// The unique id (`<acct>` for root, `AROA…:<session>` for roles).
    pub user_id: String,
    /// When the credentials expire (seconds since the epoch), for temporary credentials.
    #[serde(default)]
    pub expires: Option<u64>,
    /// Session policies of a role session (`AssumeRole`'s `Policy` document and `PolicyArns`), which
    /// limit what the role's own policies allow (`ENFORCE_IAM=1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub session_policies: Vec<String>,
    /// For a federated user: the ARN of the user (or root) that called `GetFederationToken`, whose
    /// policies the session policies intersect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated_by: Option<String>,
}

impl Identity {
    /// The root identity of `account`.
    pub fn root(account: &str, partition: &str) -> Identity {
        Identity {
            account: account.to_owned(),
            arn: ["arn:", partition, ":iam::", account, ":root"].concat(),
            user_id: account.to_owned(),
            expires: None,
            session_policies: Vec::new(),
            federated_by: None,
        }
    }
}

/// Temporary credentials as returned to the client.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The access key id (`LSIA…`, encoding the account).
    pub access_key_id: String,
    /// The secret key.
    pub secret_access_key: String,
    /// The session token.
    pub session_token: String,
    /// When they expire.
    pub expiration: SystemTime,
}

/// What the store keeps per minted access key: the identity, and the secret and session token a
/// signature is verified with (`ENFORCE_IAM=1`; records written before they were kept have neither).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Minted {
    #[serde(flatten)]
    identity: Identity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session_token: Option<String>,
}

/// The prefix of every access key id Skyport mints (LocalStack's, in place of AWS's `ASIA`).
const MINTED_PREFIX: &str = "LSIA";

/// The identities behind minted access keys, kept in the STS state store.
#[derive(Debug, Clone)]
pub struct IdentityStore {
    store: Store,
}

impl IdentityStore {
    /// Identities kept in `store`.
    pub fn new(store: Store) -> IdentityStore {
        IdentityStore { store }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The identity behind `access_key`, if Skyport minted it (other keys are not looked up: the
    /// store holds only keys with the minted prefix).
    pub fn lookup(&self, access_key: &str) -> Result<Option<Identity>, StoreError> {
        if !access_key.starts_with(MINTED_PREFIX) {
            return Ok(None);
        }
        Ok(self.minted(access_key)?.map(|m| m.identity))
    }

    fn minted(&self, access_key: &str) -> Result<Option<Minted>, StoreError> {
        if !access_key.starts_with(MINTED_PREFIX) {
            return Ok(None);
        }
        self.store.get_json(KEYS, access_key)
    }

    /// The secret, session token and principal of `access_key`, for verifying its signatures.
    pub fn signing_secret(
        &self,
        access_key: &str,
    ) -> Result<Option<skyport_core::bus::SigningSecret>, StoreError> {
        let Some(minted) = self.minted(access_key)? else {
            return Ok(None);
        };
        let Some(secret) = minted.secret else {
            return Ok(None);
        };
        let identity = minted.identity;
        Ok(Some(skyport_core::bus::SigningSecret {
            secret,
            session_token: minted.session_token,
            expires: identity.expires,
            principal: skyport_core::bus::Principal {
                account: identity.account,
                arn: identity.arn,
                user_id: identity.user_id,
                session_policies: identity.session_policies,
                federated_by: identity.federated_by,
            },
        }))
    }

    /// Mints credentials for `identity`, valid for `duration`, and records them (committed before return).
    pub async fn mint(
        &self,
        mut identity: Identity,
        duration: Duration,
    ) -> Result<Credentials, StoreError> {
        let expiration = SystemTime::now() + duration;
        identity.expires = expiration
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs());
        let access_key_id = access_key::mint(MINTED_PREFIX, &identity.account);
        let mut secret = [0u8; 30];
        fastrand::fill(&mut secret);
        let mut token = [0u8; 160];
        fastrand::fill(&mut token);
        let credentials = Credentials {
            access_key_id: access_key_id.clone(),
            secret_access_key: base64::engine::general_purpose::STANDARD.encode(secret),
            session_token: format!(
                "FQoGZXIvYXdzE{}",
                base64::engine::general_purpose::STANDARD.encode(token)
            ),
            expiration,
        };
        let minted = Minted {
            identity,
            secret: Some(credentials.secret_access_key.clone()),
            session_token: Some(credentials.session_token.clone()),
        };
        self.store
            .write_async(move |w| w.put_json(KEYS, &access_key_id, &minted))
            .await?;
        Ok(credentials)
    }
}

impl skyport_core::bus::CredentialDirectory for IdentityStore {
    fn signing_secret(&self, access_key_id: &str) -> Option<skyport_core::bus::SigningSecret> {
        match IdentityStore::signing_secret(self, access_key_id) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(key = access_key_id, "reading minted credentials: {e}");
                None
            }
        }
    }
}

/// The stable unique id of a role (`AROA` + 17 characters derived from its ARN), as IAM would assign.
pub fn role_unique_id(role_arn: &Arn) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    // FNV-1a over the ARN: stable across restarts and processes.
    let mut hash: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in role_arn.to_string().bytes() {
        hash ^= u128::from(b);
        hash = hash.wrapping_mul(0x0000000001000000000000000000013B);
    }
    let mut id = String::from("AROA");
    for _ in 0..17 {
        id.push(ALPHABET[(hash % 32) as usize] as char);
        hash /= 32;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_ids_are_stable_and_shaped() {
        let arn = Arn::parse("arn:aws:iam::123456789012:role/demo").unwrap();
        let id = role_unique_id(&arn);
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AROA"));
        assert_eq!(id, role_unique_id(&arn));
    }

    #[tokio::test]
    async fn minted_keys_resolve_to_their_identity() {
        let ids = IdentityStore::new(Store::in_memory().unwrap());
        let identity = Identity::root("123456789012", "aws");
        let creds = ids
            .mint(identity.clone(), Duration::from_secs(900))
            .await
            .unwrap();
        assert_eq!(
            access_key::account_for_key(&creds.access_key_id, false).as_deref(),
            Some("123456789012")
        );
        let found = ids.lookup(&creds.access_key_id).unwrap().unwrap();
        assert_eq!(found.arn, identity.arn);
        assert!(found.expires.is_some());
        assert_eq!(ids.lookup("LSIAUNKNOWN").unwrap(), None);
        let secret = ids.signing_secret(&creds.access_key_id).unwrap().unwrap();
        assert_eq!(secret.secret, creds.secret_access_key);
        assert_eq!(
            secret.session_token.as_deref(),
            Some(creds.session_token.as_str())
        );
        assert_eq!(secret.principal.arn, identity.arn);
    }
}

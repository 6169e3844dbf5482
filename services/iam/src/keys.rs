//! Access keys of IAM users, and the directory STS asks who owns a key.
//!
//! Key ids are minted with [`skyport_core::access_key::mint`] and the `LKIA` prefix, so they encode
//! the user's account: a request signed with one acts in that account without any lookup. The key
//! record (keyed by the id alone) names the owner, so [`KeyDirectory::principal`] is one read, and
//! none while IAM's state is unchanged (the records of keys in use are kept).

use std::sync::Arc;

use skyport_core::RequestContext;
use skyport_core::access_key;
use skyport_core::bus::{
    CredentialDirectory, KeyDirectory, KeyPrincipal, Principal, SigningSecret,
};
use skyport_wire::{ApiError, Timestamp};

use crate::Iam;
use crate::shapes::{self, errors};
use crate::state::{self, ACCESS_KEYS, KeyRec, Kind, USERS, UserRec};
use crate::util::{self, Page, page, secret_key, tx_result};

/// The prefix of the long-term access key ids IAM issues (LocalStack's, in place of AWS's `AKIA`).
pub const KEY_PREFIX: &str = "LKIA";

/// The most access keys a user can have (active or not).
const MAX_KEYS: usize = 2;

fn key_not_found(id: &str) -> ApiError {
    errors::no_such_entity_exception(format!("The Access Key with id {id} cannot be found."))
}

impl Iam {
    /// The record of an access key IAM issued.
    pub(crate) fn key_record(&self, id: &str) -> Result<Option<KeyRec>, ApiError> {
        if !id.starts_with(KEY_PREFIX) {
            return Ok(None);
        }
        self.store
            .get_json::<KeyRec>(ACCESS_KEYS, id)
            .map_err(util::store_error)
    }

    /// The user an access key operation is about: the named one, else the signer of the request
    /// (or, for a key id, the key's owner).
    fn key_user(
        &self,
        ctx: &RequestContext,
        name: Option<String>,
        key_id: Option<&str>,
    ) -> Result<Option<String>, ApiError> {
        if let Some(name) = name {
            return Ok(Some(name));
        }
        if let Some(user) = self.caller_user(ctx)? {
            return Ok(Some(user.name));
        }
        if let Some(id) = key_id
            && let Some(rec) = self.key_record(id)?
            && rec.account == ctx.account
        {
            return Ok(Some(rec.user_name));
        }
        Ok(None)
    }

    pub(crate) async fn create_access_key(
        &self,
        ctx: &RequestContext,
        name: Option<String>,
    ) -> Result<shapes::AccessKey, ApiError> {
        let Some(name) = self.key_user(ctx, name, None)? else {
            return Err(errors::invalid_input_exception(
                "Skyport issues access keys to IAM users only: name the user with UserName.",
            ));
        };
        let account = ctx.account.clone();
        tx_result(
            self.store
                .write_async(move |w| {
                    let ukey = state::key(&account, &name);
                    let Some(mut user) = state::wread::<UserRec>(w, USERS, &ukey)? else {
                        return Ok(Err(Kind::User.not_found(&name)));
                    };
                    if user.keys.len() >= MAX_KEYS {
                        return Ok(Err(errors::limit_exceeded_exception(format!(
                            "Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS}"
                        ))));
                    }
                    let id = loop {
                        let id = access_key::mint(KEY_PREFIX, &account);
                        if w.get(ACCESS_KEYS, &id)?.is_none() {
                            break id;
                        }
                    };
                    let rec = KeyRec {
                        account: account.clone(),
                        user_key: state::name_key(&user.name),
                        user_name: user.name.clone(),
                        user_id: user.id.clone(),
                        user_arn: user.arn.clone(),
                        status: "Active".to_owned(),
                        secret: secret_key(),
                        created: state::now(),
                    };
                    user.keys.push(id.clone());
                    w.put_json(ACCESS_KEYS, &id, &rec)?;
                    w.put_json(USERS, &ukey, &user)?;
                    Ok(Ok(shapes::AccessKey {
                        user_name: rec.user_name,
                        access_key_id: id,
                        status: rec.status,
                        secret_access_key: rec.secret,
                        create_date: Some(Timestamp::from_secs(rec.created)),
                    }))
                })
                .await,
        )
    }

    pub(crate) fn list_access_keys(
        &self,
        ctx: &RequestContext,
        input: shapes::ListAccessKeysRequest,
    ) -> Result<Page<shapes::AccessKeyMetadata>, ApiError> {
        let Some(name) = self.key_user(ctx, input.user_name, None)? else {
            // The root user has no access keys Skyport knows of.
            return Ok(page(
                Vec::new(),
                |_: &shapes::AccessKeyMetadata| String::new(),
                None,
                None,
            ));
        };
        let user = self.entity::<UserRec>(&ctx.account, &name)?;
        let mut keys = Vec::with_capacity(user.keys.len());
        for id in &user.keys {
            if let Some(rec) = self.key_record(id)? {
                keys.push(shapes::AccessKeyMetadata {
                    user_name: Some(rec.user_name),
                    access_key_id: Some(id.clone()),
                    status: Some(rec.status),
                    create_date: Some(Timestamp::from_secs(rec.created)),
                });
            }
        }
        keys.sort_by(|a, b| a.access_key_id.cmp(&b.access_key_id));
        Ok(page(
            keys,
            |k| k.access_key_id.clone().unwrap_or_default(),
            input.marker.as_deref(),
            input.max_items,
        ))
    }

    pub(crate) async fn update_access_key(
        &self,
        ctx: &RequestContext,
        input: shapes::UpdateAccessKeyRequest,
    ) -> Result<(), ApiError> {
        if !matches!(input.status.as_str(), "Active" | "Inactive") {
            return Err(errors::invalid_input_exception(format!(
                "Invalid status {}: the status of an access key is Active or Inactive.",
                input.status
            )));
        }
        let name = self.key_user(ctx, input.user_name, Some(&input.access_key_id))?;
        let account = ctx.account.clone();
        let id = input.access_key_id;
        let status = input.status;
        tx_result(
            self.store
                .write_async(move |w| {
                    let mut rec = match owned_key(w, &account, name.as_deref(), &id)? {
                        Ok(rec) => rec,
                        Err(e) => return Ok(Err(e)),
                    };
                    rec.status = status;
                    w.put_json(ACCESS_KEYS, &id, &rec)?;
                    Ok(Ok(()))
                })
                .await,
        )
    }

    pub(crate) async fn delete_access_key(
        &self,
        ctx: &RequestContext,
        input: shapes::DeleteAccessKeyRequest,
    ) -> Result<(), ApiError> {
        let name = self.key_user(ctx, input.user_name, Some(&input.access_key_id))?;
        let account = ctx.account.clone();
        let id = input.access_key_id;
        tx_result(
            self.store
                .write_freeing_async(move |w| {
                    let rec = match owned_key(w, &account, name.as_deref(), &id)? {
                        Ok(rec) => rec,
                        Err(e) => return Ok(Err(e)),
                    };
                    let ukey = state::key(&account, &rec.user_key);
                    if let Some(mut user) = state::wread::<UserRec>(w, USERS, &ukey)? {
                        user.keys.retain(|k| *k != id);
                        w.put_json(USERS, &ukey, &user)?;
                    }
                    w.delete(ACCESS_KEYS, &id)?;
                    Ok(Ok(()))
                })
                .await,
        )
    }

    pub(crate) fn get_access_key_last_used(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<shapes::GetAccessKeyLastUsedResponse, ApiError> {
        let rec = self
            .key_record(id)?
            .filter(|r| r.account == ctx.account)
            .ok_or_else(|| key_not_found(id))?;
        // Skyport does not record key use (that would be a write per request): never used, as AWS
        // reports it.
        Ok(shapes::GetAccessKeyLastUsedResponse {
            user_name: Some(rec.user_name),
            access_key_last_used: Some(shapes::AccessKeyLastUsed {
                last_used_date: None,
                service_name: "N/A".to_owned(),
                region: "N/A".to_owned(),
            }),
        })
    }
}

/// The key `id` if it belongs to `account` (and to the user `name`, when given): `NoSuchEntity` for
/// a named user that does not exist, or a key that is not theirs.
fn owned_key(
    w: &skyport_core::store::Writer<'_>,
    account: &str,
    name: Option<&str>,
    id: &str,
) -> crate::state::Tx<KeyRec> {
    if let Some(name) = name
        && w.get(USERS, &state::key(account, name))?.is_none()
    {
        return Ok(Err(Kind::User.not_found(name)));
    }
    let rec = state::wread::<KeyRec>(w, ACCESS_KEYS, id)?.filter(|rec| {
        rec.account == account && name.is_none_or(|n| state::name_key(n) == rec.user_key)
    });
    Ok(rec.ok_or_else(|| key_not_found(id)))
}

impl Iam {
    /// The record of an active key IAM issued, for every signed request: read from the store only
    /// when IAM's state changed since the key was last looked up.
    fn active_key(&self, access_key_id: &str) -> Option<Arc<KeyRec>> {
        if !access_key_id.starts_with(KEY_PREFIX) {
            return None;
        }
        let rec = self.keys.get(&self.store, access_key_id, || {
            match self.key_record(access_key_id) {
                Ok(rec) => rec.map(Arc::new),
                Err(e) => {
                    tracing::warn!(key = access_key_id, "reading an access key: {}", e.message);
                    None
                }
            }
        })?;
        (rec.status == "Active").then_some(rec)
    }
}

impl KeyDirectory for Iam {
    fn principal(&self, access_key_id: &str) -> Option<KeyPrincipal> {
        let rec = self.active_key(access_key_id)?;
        Some(KeyPrincipal {
            account: rec.account.clone(),
            arn: rec.user_arn.clone(),
            user_id: rec.user_id.clone(),
        })
    }
}

impl CredentialDirectory for Iam {
    fn signing_secret(&self, access_key_id: &str) -> Option<SigningSecret> {
        let rec = self.active_key(access_key_id)?;
        Some(SigningSecret {
            secret: rec.secret.clone(),
            session_token: None,
            expires: None,
            principal: Principal {
                account: rec.account.clone(),
                arn: rec.user_arn.clone(),
                user_id: rec.user_id.clone(),
                session_policies: Vec::new(),
                federated_by: None,
            },
        })
    }
}

//! skyport-sts: the AWS Security Token Service.
//!
//! STS speaks only the query protocol (checked against current botocore and `aws-sdk-sts`: both send
//! `Action=` forms and expect XML). Operations: `GetCallerIdentity`, `AssumeRole`, `GetSessionToken`,
//! `AssumeRoleWithWebIdentity`, `GetAccessKeyInfo`. Temporary credentials are minted with access key ids
//! that encode their account (see `skyport_core::access_key`), so requests signed with them act in the
//! role's account; the identity behind each key is kept in the state store, so `GetCallerIdentity` with
//! assumed-role credentials answers with the `assumed-role` ARN, also after a restart with persistence.
//!
//! [`wire`] parses requests and writes responses; [`identity`] holds the logic and the store.
#![forbid(unsafe_code)]

mod identity;
mod wire;

pub use identity::{Identity, IdentityStore};
pub use wire::Sts;

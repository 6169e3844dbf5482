//! skyport-policy: AWS IAM's policy language and AWS's policy evaluation logic, for authorizing
//! requests the way AWS does (issue #24: `ENFORCE_IAM=1`, soft mode, the policy simulator).
//!
//! Policies are parsed and checked once ([`Policy::parse`], with IAM's `MalformedPolicyDocument`
//! messages as [`PolicyError`]) into a compiled form: wildcard patterns pre-split, policy variables
//! pre-detected, condition values pre-parsed. [`evaluate`] then decides a [`RequestContext`]
//! against a [`PolicySet`] (identity-based policies, resource-based policy, permissions boundary,
//! session policies) without allocating, and says which statement decided or which policy type
//! failed to allow; [`access_denied_message`] words that as AWS does, and [`suggest_policy`]
//! proposes the policy that would have allowed what was denied.
//!
//! - [`document`]: the JSON grammar and the compiled [`Policy`];
//! - `condition`: condition operators; `pattern` and `cidr`: their building blocks (private);
//! - [`context`]: the request context; [`eval`]: the evaluation logic;
//! - [`message`]: access denied messages; [`suggest`]: least-privilege suggestions;
//! - [`error`]: why a document was refused.
#![forbid(unsafe_code)]

mod cidr;
mod condition;
pub mod context;
pub mod document;
pub mod error;
pub mod eval;
pub mod message;
mod pattern;
pub mod suggest;

pub use context::{ContextValue, Principal, PrincipalKind, RequestContext};
pub use document::{Effect, Policy, PolicyKind};
pub use error::PolicyError;
pub use eval::{Decision, Outcome, PolicySet, PolicyType, StatementRef, evaluate};
pub use message::access_denied_message;
pub use suggest::suggest_policy;

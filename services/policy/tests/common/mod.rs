//! Helpers shared by the integration tests: policies from JSON, principals from ARNs.
#![allow(dead_code)]

use skyport_policy::{Policy, PolicyKind, Principal, RequestContext};

pub const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
pub const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/App/s1";
pub const ROLE: &str = "arn:aws:iam::111122223333:role/App";
pub const OTHER_USER: &str = "arn:aws:iam::444455556666:user/bob";

/// An identity-based policy; panics (failing the test) if the document is refused.
pub fn identity(id: &str, json: &str) -> Policy {
    match Policy::parse(id, json, PolicyKind::Identity) {
        Ok(p) => p,
        Err(e) => panic!("{id}: {e}"),
    }
}

/// A resource-based policy; panics (failing the test) if the document is refused.
pub fn resource(id: &str, json: &str) -> Policy {
    match Policy::parse(id, json, PolicyKind::Resource) {
        Ok(p) => p,
        Err(e) => panic!("{id}: {e}"),
    }
}

pub fn principal(arn: &str) -> Principal {
    match Principal::from_arn(arn) {
        Some(p) => p,
        None => panic!("not a principal ARN: {arn}"),
    }
}

pub fn request<'a>(arn: &str, action: &'a str, resource: &'a str) -> RequestContext<'a> {
    RequestContext::new(principal(arn), action, resource)
}

/// One statement in an identity policy, with a Condition block.
pub fn with_condition(effect: &str, condition: &str) -> Policy {
    identity(
        "cond",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"{effect}","Action":"s3:GetObject","Resource":"*","Condition":{condition}}}}}"#
        ),
    )
}

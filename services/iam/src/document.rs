//! Policy documents: the checks IAM makes before storing one (`MalformedPolicyDocument` with AWS's
//! messages), their size as IAM counts it, and the URL encoding IAM applies when it returns one.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

/// What a document is for: the two grammars differ in which elements are required or prohibited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A permissions policy (managed or inline): no principal, resources required.
    Identity,
    /// A role's trust policy: a principal required, no resources.
    Trust,
}

/// Why a document was refused: the message of AWS's `MalformedPolicyDocument` error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

fn malformed(message: impl Into<String>) -> Malformed {
    Malformed(message.into())
}

const SYNTAX: &str = "Syntax errors in policy.";

const STATEMENT_FIELDS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

/// Checks `text` as a policy document for `purpose`.
pub fn validate(text: &str, purpose: Purpose) -> Result<(), Malformed> {
    let value: Value =
        serde_json::from_str(text).map_err(|_| malformed("This policy contains invalid Json"))?;
    let Value::Object(top) = value else {
        return Err(malformed("This policy contains invalid Json"));
    };
    if let Some(version) = top.get("Version") {
        match version.as_str() {
            Some("2012-10-17" | "2008-10-17") => {}
            _ => return Err(malformed("The policy failed legacy parsing")),
        }
    }
    for key in top.keys() {
        if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
            return Err(malformed(SYNTAX));
        }
    }
    let statements: Vec<&Map<String, Value>> = match top.get("Statement") {
        Some(Value::Object(one)) => vec![one],
        Some(Value::Array(many)) if !many.is_empty() => many
            .iter()
            .map(|s| s.as_object().ok_or_else(|| malformed(SYNTAX)))
            .collect::<Result<_, _>>()?,
        _ => return Err(malformed(SYNTAX)),
    };
    for statement in statements {
        check_statement(statement, purpose)?;
    }
    Ok(())
}

fn check_statement(s: &Map<String, Value>, purpose: Purpose) -> Result<(), Malformed> {
    for key in s.keys() {
        if !STATEMENT_FIELDS.contains(&key.as_str()) {
            return Err(malformed(SYNTAX));
        }
    }
    match s.get("Effect") {
        None => return Err(malformed("Missing required field Effect")),
        Some(Value::String(e)) if e == "Allow" || e == "Deny" => {}
        Some(_) => return Err(malformed(SYNTAX)),
    }
    if let Some(sid) = s.get("Sid")
        && !sid.is_string()
    {
        return Err(malformed(SYNTAX));
    }
    let actions = s.get("Action").or_else(|| s.get("NotAction"));
    let Some(actions) = actions else {
        return Err(malformed("Policy statement must contain actions."));
    };
    for action in strings(actions)? {
        if action != "*" && !action.contains(':') {
            return Err(malformed(
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
            ));
        }
    }
    let principal = s.get("Principal").or_else(|| s.get("NotPrincipal"));
    let resource = s.get("Resource").or_else(|| s.get("NotResource"));
    match purpose {
        Purpose::Identity => {
            if principal.is_some() {
                return Err(malformed("Policy document should not specify a principal."));
            }
            let Some(resource) = resource else {
                return Err(malformed("Policy statement must contain resources."));
            };
            for r in strings(resource)? {
                if r != "*" && !r.starts_with("arn:") {
                    return Err(malformed(format!(
                        "Resource {r} must be in ARN format or \"*\"."
                    )));
                }
            }
        }
        Purpose::Trust => {
            if resource.is_some() {
                return Err(malformed("Has prohibited field Resource"));
            }
            match principal {
                None => return Err(malformed("Missing required field Principal")),
                Some(Value::String(p)) if p == "*" => {}
                Some(Value::Object(map)) if !map.is_empty() => {
                    for (kind, ids) in map {
                        if !matches!(
                            kind.as_str(),
                            "AWS" | "Service" | "Federated" | "CanonicalUser"
                        ) {
                            return Err(malformed(format!(
                                "Invalid principal in policy: \"{kind}\""
                            )));
                        }
                        strings(ids)?;
                    }
                }
                Some(_) => return Err(malformed(SYNTAX)),
            }
        }
    }
    if let Some(condition) = s.get("Condition")
        && !condition.is_object()
    {
        return Err(malformed(SYNTAX));
    }
    Ok(())
}

/// A string or a non-empty list of strings.
fn strings(value: &Value) -> Result<Vec<&str>, Malformed> {
    match value {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().ok_or_else(|| malformed(SYNTAX)))
            .collect(),
        _ => Err(malformed(SYNTAX)),
    }
}

/// The size IAM counts against its quotas: characters other than white space.
pub fn size(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// Everything but RFC 3986's unreserved characters.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A document as IAM returns it: URL-encoded (`%7B%22Version%22...`, spaces as `%20`).
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, ENCODE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    const IDENTITY: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::b/*"}}"#;

    #[test]
    fn accepts_well_formed_documents() {
        validate(TRUST, Purpose::Trust).unwrap();
        validate(IDENTITY, Purpose::Identity).unwrap();
        validate(
            r#"{"Statement":[{"Effect":"Deny","NotAction":"iam:*","NotResource":["*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
            Purpose::Identity,
        )
        .unwrap();
        validate(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}]}"#,
            Purpose::Trust,
        )
        .unwrap();
    }

    #[test]
    fn refuses_with_aws_messages() {
        let msg = |doc: &str, p| validate(doc, p).unwrap_err().0;
        assert_eq!(
            msg("{not json", Purpose::Identity),
            "This policy contains invalid Json"
        );
        assert_eq!(
            msg("[]", Purpose::Identity),
            "This policy contains invalid Json"
        );
        assert_eq!(
            msg(TRUST, Purpose::Identity),
            "Policy document should not specify a principal."
        );
        assert_eq!(
            msg(IDENTITY, Purpose::Trust),
            "Has prohibited field Resource"
        );
        assert_eq!(
            msg(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}"#,
                Purpose::Trust
            ),
            "Missing required field Principal"
        );
        assert_eq!(
            msg(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#,
                Purpose::Identity
            ),
            "Policy statement must contain resources."
        );
        assert_eq!(
            msg(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
                Purpose::Identity
            ),
            "Policy statement must contain actions."
        );
        assert_eq!(
            msg(
                r#"{"Version":"2012-10-16","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
                Purpose::Identity
            ),
            "The policy failed legacy parsing"
        );
        assert_eq!(
            msg(r#"{"Version":"2012-10-17"}"#, Purpose::Identity),
            "Syntax errors in policy."
        );
        assert_eq!(
            msg(
                r#"{"Statement":[{"Effect":"Allow","Action":"getobject","Resource":"*"}]}"#,
                Purpose::Identity
            ),
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
        );
        assert_eq!(
            msg(
                r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"bucket"}]}"#,
                Purpose::Identity
            ),
            "Resource bucket must be in ARN format or \"*\"."
        );
    }

    #[test]
    fn size_ignores_white_space() {
        assert_eq!(size("{ \"a\" :\n\t1 }"), 7);
    }

    #[test]
    fn encodes_as_iam_returns_documents() {
        assert_eq!(
            encode(r#"{"Action": "s3:*", "Resource": "arn:aws:s3:::b/~x"}"#),
            "%7B%22Action%22%3A%20%22s3%3A%2A%22%2C%20%22Resource%22%3A%20%22arn%3Aaws%3As3%3A%3A%3Ab%2F~x%22%7D"
        );
    }
}

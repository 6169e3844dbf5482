//! Function identifiers as the Lambda API accepts them, and the ARNs and names Lambda writes.

use skyport_core::RequestContext;
use skyport_wire::ApiError;

use crate::errors;

/// A function as a request names it: the function, and a qualifier (version or alias) if one was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// The function's name.
    pub name: String,
    /// `$LATEST`, a version number or an alias.
    pub qualifier: Option<String>,
    /// The account the identifier names (an ARN's), else the caller's.
    pub account: String,
    /// The region the identifier names (an ARN's), else the request's.
    pub region: String,
}

/// Parses `FunctionName` in each form the API accepts: `name`, `name:qualifier`,
/// `123456789012:function:name[:qualifier]`, `arn:aws:lambda:<region>:<account>:function:name[:qualifier]`.
pub fn parse(ctx: &RequestContext, text: &str) -> Result<FunctionRef, ApiError> {
    let invalid = || {
        errors::invalid_parameter(format!(
            "1 validation error detected: Value '{text}' at 'functionName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{{2}}(-gov)?-[a-z]+-\\d{{1}}:)?(\\d{{12}}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
        ))
    };
    let parts: Vec<&str> = text.split(':').collect();
    let (account, region, rest): (Option<&str>, Option<&str>, &[&str]) = match parts.as_slice() {
        [
            "arn",
            _partition,
            "lambda",
            region,
            account,
            "function",
            rest @ ..,
        ] => (Some(account), Some(region), rest),
        [account, "function", rest @ ..] if account.len() == 12 => (Some(account), None, rest),
        rest => (None, None, rest),
    };
    let (name, qualifier) = match rest {
        [name] => (*name, None),
        [name, qualifier] => (*name, Some((*qualifier).to_owned())),
        _ => return Err(invalid()),
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(invalid());
    }
    Ok(FunctionRef {
        name: name.to_owned(),
        qualifier: qualifier.filter(|q| !q.is_empty()),
        account: account.map_or_else(|| ctx.account.clone(), str::to_owned),
        region: region.map_or_else(|| ctx.region.clone(), str::to_owned),
    })
}

/// `arn:aws:lambda:<region>:<account>:function:<name>`.
pub fn function_arn(partition: &str, region: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:lambda:{region}:{account}:function:{name}")
}

/// The ARN with a qualifier.
pub fn qualified_arn(base: &str, qualifier: &str) -> String {
    format!("{base}:{qualifier}")
}

/// `YYYY-MM-DDTHH:MM:SS` of `at`.
fn seconds(at: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Lambda's `LastModified` format: `2024-01-01T00:00:00.000+0000`.
pub fn last_modified_now() -> String {
    let at = time::OffsetDateTime::now_utc();
    format!("{}.{:03}+0000", seconds(at), at.millisecond())
}

/// The format of function URLs' `CreationTime` and `LastModifiedTime`: `2024-01-01T00:00:00.000000Z`.
pub fn url_time_now() -> String {
    let at = time::OffsetDateTime::now_utc();
    format!("{}.{:06}Z", seconds(at), at.microsecond())
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyport_core::Protocol;

    #[test]
    fn every_form() {
        let ctx = RequestContext::new("lambda", Protocol::RestJson);
        let r = parse(&ctx, "my-fn").unwrap();
        assert_eq!((r.name.as_str(), r.qualifier.as_deref()), ("my-fn", None));
        let r = parse(&ctx, "my-fn:prod").unwrap();
        assert_eq!(r.qualifier.as_deref(), Some("prod"));
        let r = parse(&ctx, "123456789012:function:my-fn:3").unwrap();
        assert_eq!(
            (r.account.as_str(), r.qualifier.as_deref()),
            ("123456789012", Some("3"))
        );
        let r = parse(&ctx, "arn:aws:lambda:eu-west-1:123456789012:function:my-fn").unwrap();
        assert_eq!((r.region.as_str(), r.name.as_str()), ("eu-west-1", "my-fn"));
        let r = parse(
            &ctx,
            "arn:aws:lambda:eu-west-1:123456789012:function:my-fn:$LATEST",
        )
        .unwrap();
        assert_eq!(r.qualifier.as_deref(), Some("$LATEST"));
        assert!(parse(&ctx, "a:b:c:d").is_err());
        assert!(parse(&ctx, "bad name").is_err());
    }
}

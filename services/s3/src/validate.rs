//! The checks S3 makes on configuration documents and tags before it stores them, with AWS's error
//! codes and messages: tag sets (object and bucket limits, `aws:` keys), CORS rules, lifecycle rules,
//! website configurations and bucket policies (JSON shape, principals); ACL documents are checked in
//! `acl`. Documents that pass are stored as sent.

use crate::error::{S3Error, S3Result};
use crate::wire::{self, XmlNode};

/// Whose tags: objects allow 10, buckets 50, with different messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagOwner {
    Object,
    Bucket,
}

fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || "+-=._:/@".contains(c)
}

/// Validates a tag set as S3 does: each tag in order (key and value characters and lengths, the
/// reserved `aws:` prefix, duplicates), then the count.
pub(crate) fn tags(tags: &[(String, String)], owner: TagOwner) -> S3Result<()> {
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > 128 || !k.chars().all(tag_char) {
            return Err(S3Error::InvalidTag(
                "The TagKey you have provided is invalid".into(),
            ));
        }
        if v.chars().count() > 256 || !v.chars().all(tag_char) {
            return Err(S3Error::InvalidTag(
                "The TagValue you have provided is invalid".into(),
            ));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(S3Error::InvalidTag(match owner {
                TagOwner::Object => "Your TagKey cannot be prefixed with aws:".into(),
                TagOwner::Bucket => "System tags cannot be added/updated by requester".into(),
            }));
        }
        if tags[..i].iter().any(|(x, _)| x == k) {
            return Err(S3Error::InvalidTag(
                "Cannot provide multiple Tags with the same key".into(),
            ));
        }
    }
    match owner {
        TagOwner::Object if tags.len() > 10 => Err(S3Error::BadRequest(
            "Object tags cannot be greater than 10".into(),
        )),
        TagOwner::Bucket if tags.len() > 50 => Err(S3Error::BadRequest(
            "Bucket tag count cannot be greater than 50".into(),
        )),
        _ => Ok(()),
    }
}

/// The tags of a `<Tag><Key/><Value/></Tag>` list (`Key` and `Value` are both required).
pub(crate) fn tag_list<'a>(
    tags: impl Iterator<Item = &'a XmlNode>,
) -> S3Result<Vec<(String, String)>> {
    tags.map(|t| {
        Ok((
            t.text_of("Key").ok_or(S3Error::MalformedXml)?.to_owned(),
            t.text_of("Value").ok_or(S3Error::MalformedXml)?.to_owned(),
        ))
    })
    .collect()
}

/// A `Tagging` document's tags.
pub(crate) fn tagging_document(doc: &[u8], owner: TagOwner) -> S3Result<Vec<(String, String)>> {
    let root = wire::parse_xml(doc)?;
    if root.name != "Tagging" {
        return Err(S3Error::MalformedXml);
    }
    let set = root.child("TagSet").ok_or(S3Error::MalformedXml)?;
    let list = tag_list(set.all("Tag"))?;
    tags(&list, owner)?;
    Ok(list)
}

fn wildcards(text: &str) -> usize {
    text.matches('*').count()
}

/// A `CORSConfiguration`: at least one rule, each with an origin and a method S3 supports.
pub(crate) fn cors(doc: &[u8]) -> S3Result<()> {
    let root = wire::parse_xml(doc)?;
    if root.name != "CORSConfiguration" {
        return Err(S3Error::MalformedXml);
    }
    let rules: Vec<&XmlNode> = root.all("CORSRule").collect();
    if rules.is_empty() || rules.len() > 100 {
        return Err(S3Error::MalformedXml);
    }
    for rule in rules {
        if rule.child("AllowedMethod").is_none() || rule.child("AllowedOrigin").is_none() {
            return Err(S3Error::MalformedXml);
        }
        for m in rule.all("AllowedMethod") {
            if !["GET", "PUT", "HEAD", "POST", "DELETE"].contains(&m.text.as_str()) {
                return Err(S3Error::request(format!(
                    "Found unsupported HTTP method in CORS config. Unsupported method is {}",
                    m.text
                )));
            }
        }
        for o in rule.all("AllowedOrigin") {
            if wildcards(&o.text) > 1 {
                return Err(S3Error::request(format!(
                    "AllowedOrigin \"{}\" can not have more than one wildcard.",
                    o.text
                )));
            }
        }
        for h in rule.all("AllowedHeader") {
            if wildcards(&h.text) > 1 {
                return Err(S3Error::request(format!(
                    "AllowedHeader \"{}\" can not have more than one wildcard.",
                    h.text
                )));
            }
        }
        if let Some(age) = rule.text_of("MaxAgeSeconds")
            && age.trim().parse::<i64>().is_err()
        {
            return Err(S3Error::MalformedXml);
        }
    }
    Ok(())
}

fn positive(node: &XmlNode, name: &str, message: &str) -> S3Result<()> {
    if let Some(t) = node.text_of(name) {
        match t.trim().parse::<i64>() {
            Ok(n) if n > 0 => {}
            Ok(_) => return Err(S3Error::argument(message, "", "")),
            Err(_) => return Err(S3Error::MalformedXml),
        }
    }
    Ok(())
}

/// The predicates of a lifecycle `Filter` (or `And`); more than one outside `And` is malformed.
fn lifecycle_filter(filter: &XmlNode) -> S3Result<bool> {
    let predicates = [
        "Prefix",
        "Tag",
        "ObjectSizeGreaterThan",
        "ObjectSizeLessThan",
        "And",
    ];
    let present: Vec<&XmlNode> = filter
        .children
        .iter()
        .filter(|c| predicates.contains(&c.name.as_str()))
        .collect();
    if present.len() > 1 {
        return Err(S3Error::MalformedXml);
    }
    tag_list(filter.all("Tag"))?;
    let mut has_tag = filter.child("Tag").is_some();
    if let Some(and) = filter.child("And") {
        tag_list(and.all("Tag"))?;
        has_tag |= and.child("Tag").is_some();
        if and.all("Tag").count() + and.all("Prefix").count() < 1
            && and.child("ObjectSizeGreaterThan").is_none()
            && and.child("ObjectSizeLessThan").is_none()
        {
            return Err(S3Error::MalformedXml);
        }
    }
    Ok(has_tag)
}

/// A `LifecycleConfiguration`: rule ids (at most 255 characters, unique), status, one filter form,
/// at least one action, positive periods, midnight dates.
pub(crate) fn lifecycle(doc: &[u8]) -> S3Result<()> {
    let root = wire::parse_xml(doc)?;
    if root.name != "LifecycleConfiguration" {
        return Err(S3Error::MalformedXml);
    }
    let rules: Vec<&XmlNode> = root.all("Rule").collect();
    if rules.is_empty() || rules.len() > 1000 {
        return Err(S3Error::MalformedXml);
    }
    let mut ids: Vec<&str> = Vec::new();
    for rule in rules {
        if let Some(id) = rule.text_of("ID") {
            if id.chars().count() > 255 {
                return Err(S3Error::argument(
                    "ID length should not exceed allowed limit of 255",
                    "",
                    "",
                ));
            }
            if ids.contains(&id) {
                return Err(S3Error::argument(
                    "Rule ID must be unique. Found same ID for more than one rule",
                    "",
                    "",
                ));
            }
            ids.push(id);
        }
        if !matches!(rule.text_of("Status"), Some("Enabled" | "Disabled")) {
            return Err(S3Error::MalformedXml);
        }
        let has_tag = match (rule.child("Filter"), rule.child("Prefix")) {
            (Some(_), Some(_)) | (None, None) => return Err(S3Error::MalformedXml),
            (Some(f), None) => lifecycle_filter(f)?,
            (None, Some(_)) => false,
        };
        let actions = [
            "Expiration",
            "Transition",
            "NoncurrentVersionExpiration",
            "NoncurrentVersionTransition",
            "AbortIncompleteMultipartUpload",
        ];
        if !rule
            .children
            .iter()
            .any(|c| actions.contains(&c.name.as_str()))
        {
            return Err(S3Error::request(
                "At least one action needs to be specified in a rule",
            ));
        }
        if let Some(e) = rule.child("Expiration") {
            let kinds = ["Days", "Date", "ExpiredObjectDeleteMarker"]
                .iter()
                .filter(|k| e.child(k).is_some())
                .count();
            if kinds != 1 {
                return Err(S3Error::MalformedXml);
            }
            positive(
                e,
                "Days",
                "'Days' for Expiration action must be a positive integer",
            )?;
            if let Some(date) = e.text_of("Date") {
                let at = skyport_core::timefmt::parse_rfc3339(date.trim())
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .ok_or_else(|| S3Error::argument("'Date' must be at midnight GMT", "", ""))?;
                if at.as_secs() % 86_400 != 0 || at.subsec_nanos() != 0 {
                    return Err(S3Error::argument("'Date' must be at midnight GMT", "", ""));
                }
            }
            if let Some(m) = e.text_of("ExpiredObjectDeleteMarker")
                && m != "true"
                && m != "false"
            {
                return Err(S3Error::MalformedXml);
            }
        }
        if let Some(n) = rule.child("NoncurrentVersionExpiration") {
            if n.child("NoncurrentDays").is_none() {
                return Err(S3Error::MalformedXml);
            }
            positive(
                n,
                "NoncurrentDays",
                "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
            )?;
        }
        if let Some(a) = rule.child("AbortIncompleteMultipartUpload") {
            if a.child("DaysAfterInitiation").is_none() {
                return Err(S3Error::MalformedXml);
            }
            positive(
                a,
                "DaysAfterInitiation",
                "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer",
            )?;
            if has_tag {
                return Err(S3Error::request(
                    "AbortIncompleteMultipartUpload cannot be specified with Tags.",
                ));
            }
        }
    }
    Ok(())
}

/// A `WebsiteConfiguration`: an index document suffix (non-empty, no `/`) unless everything is
/// redirected; routing rules with valid codes and one key replacement each.
pub(crate) fn website(doc: &[u8]) -> S3Result<()> {
    let root = wire::parse_xml(doc)?;
    if root.name != "WebsiteConfiguration" {
        return Err(S3Error::MalformedXml);
    }
    let bad_protocol = |node: &XmlNode| {
        node.text_of("Protocol")
            .is_some_and(|p| p != "http" && p != "https")
    };
    let protocol_error = || {
        S3Error::request(
            "Invalid protocol, protocol can be http or https. If not defined the protocol will be selected automatically.",
        )
    };
    if let Some(all) = root.child("RedirectAllRequestsTo") {
        if all.text_of("HostName").is_none_or(str::is_empty) {
            return Err(S3Error::MalformedXml);
        }
        if bad_protocol(all) {
            return Err(protocol_error());
        }
        return Ok(());
    }
    let Some(index) = root.child("IndexDocument") else {
        return Err(S3Error::argument(
            "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty",
            "IndexDocument",
            "",
        ));
    };
    let suffix = index.text_of("Suffix").unwrap_or("");
    if suffix.is_empty() || suffix.contains('/') {
        return Err(S3Error::argument(
            "The IndexDocument Suffix is not well formed",
            "IndexDocument",
            suffix,
        ));
    }
    if let Some(error) = root.child("ErrorDocument")
        && error.text_of("Key").is_none_or(str::is_empty)
    {
        return Err(S3Error::MalformedXml);
    }
    if let Some(rules) = root.child("RoutingRules") {
        let rules: Vec<&XmlNode> = rules.all("RoutingRule").collect();
        if rules.len() > 50 {
            return Err(S3Error::request(format!(
                "{} routing rules provided, the number of routing rules in a website configuration is limited to 50.",
                rules.len()
            )));
        }
        for rule in rules {
            let redirect = rule.child("Redirect").ok_or(S3Error::MalformedXml)?;
            if redirect.child("ReplaceKeyWith").is_some()
                && redirect.child("ReplaceKeyPrefixWith").is_some()
            {
                return Err(S3Error::request(
                    "You can only define ReplaceKeyPrefix or ReplaceKey but not both.",
                ));
            }
            if bad_protocol(redirect) {
                return Err(protocol_error());
            }
            if let Some(code) = redirect.text_of("HttpRedirectCode") {
                let n: u16 = code.trim().parse().map_err(|_| S3Error::MalformedXml)?;
                if !(301..=399).contains(&n) {
                    return Err(S3Error::request(format!(
                        "The provided HTTP redirect code ({n}) is not valid. Valid codes are 3XX except 300."
                    )));
                }
            }
            if let Some(code) = rule
                .child("Condition")
                .and_then(|c| c.text_of("HttpErrorCodeReturnedEquals"))
            {
                let n: u16 = code.trim().parse().map_err(|_| S3Error::MalformedXml)?;
                if !(400..=599).contains(&n) {
                    return Err(S3Error::request(format!(
                        "The provided HTTP error code ({n}) is not valid. Valid codes are 4XX or 5XX."
                    )));
                }
            }
        }
    }
    Ok(())
}

fn malformed_policy(message: &str) -> S3Error {
    S3Error::MalformedPolicy(message.to_owned())
}

/// Whether one principal value of a given kind is one S3 accepts.
fn principal_value(kind: &str, value: &str) -> bool {
    let account = |a: &str| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit());
    match kind {
        "AWS" => {
            if value == "*" || account(value) {
                return true;
            }
            let parts: Vec<&str> = value.splitn(6, ':').collect();
            parts.len() == 6
                && parts[0] == "arn"
                && parts[1].starts_with("aws")
                && (parts[2] == "iam" || parts[2] == "sts")
                && parts[3].is_empty()
                && account(parts[4])
                && !parts[5].is_empty()
        }
        "CanonicalUser" => value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()),
        "Service" | "Federated" => !value.is_empty() && !value.contains(char::is_whitespace),
        _ => false,
    }
}

fn principal(p: &serde_json::Value) -> bool {
    match p {
        serde_json::Value::String(s) => s == "*",
        serde_json::Value::Object(map) => {
            !map.is_empty()
                && map.iter().all(|(kind, v)| match v {
                    serde_json::Value::String(s) => principal_value(kind, s),
                    serde_json::Value::Array(list) => {
                        !list.is_empty()
                            && list
                                .iter()
                                .all(|x| x.as_str().is_some_and(|s| principal_value(kind, s)))
                    }
                    _ => false,
                })
        }
        _ => false,
    }
}

/// A bucket policy: JSON whose statements name a valid effect, principal, action and resource.
pub(crate) fn policy(text: &str) -> S3Result<()> {
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|_| {
        malformed_policy("Policies must be valid JSON and the first byte must be '{'")
    })?;
    let Some(obj) = doc.as_object() else {
        return Err(malformed_policy(
            "Policies must be valid JSON and the first byte must be '{'",
        ));
    };
    if let Some(v) = obj.get("Version")
        && !matches!(v.as_str(), Some("2012-10-17" | "2008-10-17"))
    {
        return Err(malformed_policy(
            "The policy must contain a valid version string",
        ));
    }
    let statements = match obj.get("Statement") {
        Some(serde_json::Value::Array(list)) => list.iter().collect::<Vec<_>>(),
        Some(s @ serde_json::Value::Object(_)) => vec![s],
        _ => return Err(malformed_policy("Missing required field Statement")),
    };
    if statements.is_empty() {
        return Err(malformed_policy(
            "Could not parse the policy: Statement is empty!",
        ));
    }
    for s in statements {
        let Some(s) = s.as_object() else {
            return Err(malformed_policy("Missing required field Statement"));
        };
        match s.get("Effect").and_then(|e| e.as_str()) {
            Some("Allow" | "Deny") => {}
            Some(other) => return Err(malformed_policy(&format!("Invalid effect: {other}"))),
            None => return Err(malformed_policy("Missing required field Effect")),
        }
        match (s.get("Principal"), s.get("NotPrincipal")) {
            (Some(p), None) | (None, Some(p)) => {
                if !principal(p) {
                    return Err(malformed_policy("Invalid principal in policy"));
                }
            }
            (None, None) => return Err(malformed_policy("Missing required field Principal")),
            (Some(_), Some(_)) => {
                return Err(malformed_policy(
                    "Statement must contain exactly one of Principal or NotPrincipal",
                ));
            }
        }
        if s.get("Action").is_none() && s.get("NotAction").is_none() {
            return Err(malformed_policy("Missing required field Action"));
        }
        if s.get("Resource").is_none() && s.get("NotResource").is_none() {
            return Err(malformed_policy("Missing required field Resource"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn tag_rules() {
        assert!(tags(&[t("a", ""), t("b c", "x/y")], TagOwner::Object).is_ok());
        assert!(matches!(
            tags(&[t("aws:x", "1")], TagOwner::Object),
            Err(S3Error::InvalidTag(m)) if m.contains("prefixed with aws:")
        ));
        assert!(matches!(
            tags(&[t("aws:x", "1")], TagOwner::Bucket),
            Err(S3Error::InvalidTag(m)) if m.starts_with("System tags")
        ));
        let eleven: Vec<_> = (0..11).map(|i| t(&format!("k{i}"), "v")).collect();
        assert!(matches!(
            tags(&eleven, TagOwner::Object),
            Err(S3Error::BadRequest(_))
        ));
        assert!(tags(&eleven, TagOwner::Bucket).is_ok());
        assert!(matches!(
            tags(&[t("k", "a#b")], TagOwner::Object),
            Err(S3Error::InvalidTag(m)) if m.contains("TagValue")
        ));
    }

    #[test]
    fn lifecycle_rules() {
        let ok = b"<LifecycleConfiguration><Rule><ID>a</ID><Status>Enabled</Status><Filter><Prefix>x/</Prefix></Filter><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>";
        assert!(lifecycle(ok).is_ok());
        let dup = b"<LifecycleConfiguration><Rule><ID>a</ID><Status>Enabled</Status><Filter/><Expiration><Days>1</Days></Expiration></Rule><Rule><ID>a</ID><Status>Enabled</Status><Filter/><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>";
        assert!(
            matches!(lifecycle(dup), Err(S3Error::InvalidArgument { message, .. }) if message.starts_with("Rule ID must be unique"))
        );
        let date = b"<LifecycleConfiguration><Rule><Status>Enabled</Status><Filter/><Expiration><Date>2030-01-01T10:00:00Z</Date></Expiration></Rule></LifecycleConfiguration>";
        assert!(
            matches!(lifecycle(date), Err(S3Error::InvalidArgument { message, .. }) if message.contains("midnight"))
        );
        let two = b"<LifecycleConfiguration><Rule><Status>Enabled</Status><Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>";
        assert!(matches!(lifecycle(two), Err(S3Error::MalformedXml)));
        let none = b"<LifecycleConfiguration><Rule><Status>Enabled</Status><Filter/></Rule></LifecycleConfiguration>";
        assert!(matches!(
            lifecycle(none),
            Err(S3Error::InvalidRequest { .. })
        ));
        let status = b"<LifecycleConfiguration><Rule><Status>On</Status><Filter/><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>";
        assert!(matches!(lifecycle(status), Err(S3Error::MalformedXml)));
    }

    #[test]
    fn policies() {
        let ok = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:root","123456789012"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
        assert!(policy(ok).is_ok());
        let bad = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"nobody"},"Action":"s3:*","Resource":"*"}]}"#;
        assert!(
            matches!(policy(bad), Err(S3Error::MalformedPolicy(m)) if m == "Invalid principal in policy")
        );
        assert!(matches!(policy("nope"), Err(S3Error::MalformedPolicy(_))));
    }
}

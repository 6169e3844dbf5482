//! Access control lists as S3 keeps them ("Access control list (ACL) overview"): the grants of a
//! canned ACL, of an `AccessControlPolicy` document and of the `x-amz-grant-*` headers, the document
//! S3 returns for them, and which grants are public ("The meaning of public": a grant to the
//! `AllUsers` or `AuthenticatedUsers` group).
//!
//! A stored ACL is either a canned ACL name (`public-read`, ...) or an `AccessControlPolicy`
//! document (what `PutBucketAcl`/`PutObjectAcl` sent, or the grant headers of a write rendered as
//! one); `None` is `private`.

use crate::error::{S3Error, S3Result};
use crate::model::BucketRecord;
use crate::wire::{NS, S3Request};

/// Everyone, signed or not.
pub(crate) const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// Every signed request of any AWS account.
pub(crate) const AUTHENTICATED_USERS: &str =
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
/// S3's server access log delivery.
pub(crate) const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

/// The group URIs a grant may name.
pub(crate) const GROUPS: [&str; 3] = [ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY];

/// The permissions a grant may give.
pub(crate) const PERMISSIONS: [&str; 5] =
    ["FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP"];

/// The grant headers and the permission each gives.
const GRANT_HEADERS: [(&str, &str); 5] = [
    ("x-amz-grant-read", "READ"),
    ("x-amz-grant-write", "WRITE"),
    ("x-amz-grant-read-acp", "READ_ACP"),
    ("x-amz-grant-write-acp", "WRITE_ACP"),
    ("x-amz-grant-full-control", "FULL_CONTROL"),
];

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Grantee {
    /// A canonical user id (an account).
    User(String),
    /// One of [`GROUPS`].
    Group(String),
}

/// One grant of an ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    pub grantee: Grantee,
    pub permission: String,
}

impl Grant {
    fn group(uri: &str, permission: &str) -> Grant {
        Grant {
            grantee: Grantee::Group(uri.to_owned()),
            permission: permission.to_owned(),
        }
    }

    /// Whether the grant is public: to `AllUsers` or `AuthenticatedUsers`.
    pub(crate) fn is_public(&self) -> bool {
        matches!(&self.grantee, Grantee::Group(uri) if uri == ALL_USERS || uri == AUTHENTICATED_USERS)
    }

    /// Whether the grant gives `permission` (`FULL_CONTROL` gives every one).
    pub(crate) fn gives(&self, permission: &str) -> bool {
        self.permission == permission || self.permission == "FULL_CONTROL"
    }
}

/// The group grants of a canned ACL, besides the owner's full control.
fn canned_grants(canned: &str) -> Vec<Grant> {
    match canned {
        "public-read" => vec![Grant::group(ALL_USERS, "READ")],
        "public-read-write" => vec![
            Grant::group(ALL_USERS, "READ"),
            Grant::group(ALL_USERS, "WRITE"),
        ],
        "authenticated-read" => vec![Grant::group(AUTHENTICATED_USERS, "READ")],
        "log-delivery-write" => vec![
            Grant::group(LOG_DELIVERY, "WRITE"),
            Grant::group(LOG_DELIVERY, "READ_ACP"),
        ],
        _ => Vec::new(),
    }
}

/// The grants of a stored ACL (a canned ACL name or a document; `None` is `private`), besides the
/// owner's own full control. An unreadable document grants nothing (it was validated when stored).
pub(crate) fn grants(acl: Option<&str>) -> Vec<Grant> {
    let Some(acl) = acl else {
        return Vec::new();
    };
    if !acl.trim_start().starts_with('<') {
        return canned_grants(acl);
    }
    let Ok(root) = crate::wire::parse_xml(acl.as_bytes()) else {
        return Vec::new();
    };
    let Some(list) = root.child("AccessControlList") else {
        return Vec::new();
    };
    list.all("Grant")
        .filter_map(|grant| {
            let grantee = grant.child("Grantee")?;
            let grantee = match (grantee.text_of("ID"), grantee.text_of("URI")) {
                (Some(id), _) => Grantee::User(id.trim().to_owned()),
                (None, Some(uri)) => Grantee::Group(uri.trim().to_owned()),
                _ => return None,
            };
            Some(Grant {
                grantee,
                permission: grant.text_of("Permission")?.trim().to_owned(),
            })
        })
        .collect()
}

/// Whether a stored or requested ACL grants anything to the public (`AllUsers` or
/// `AuthenticatedUsers`): what `BlockPublicAcls` refuses and `IgnorePublicAcls` ignores.
pub(crate) fn is_public(acl: Option<&str>) -> bool {
    grants(acl).iter().any(Grant::is_public)
}

/// `BlockPublicAcls`: setting a public ACL (canned, granted by headers or in a document) on a bucket
/// whose public access block blocks public ACLs is `403 AccessDenied` "Access Denied", as S3 answers
/// (checked after Object Ownership: a bucket with ACLs disabled answers
/// `AccessControlListNotSupported` first).
pub(crate) fn check_block_public_acls(b: &BucketRecord, acl: Option<&str>) -> S3Result<()> {
    let block = b.public_access_block.is_some_and(|flags| flags[0]);
    if block && is_public(acl) {
        tracing::debug!(bucket = b.name, "s3: public ACL refused by BlockPublicAcls");
        return Err(S3Error::PolicyDenied("Access Denied".into()));
    }
    Ok(())
}

/// Whether `id` is a canonical user id (64 hex digits).
pub(crate) fn valid_canonical_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The error S3 answers for a grant to an e-mail address that names no account (Skyport knows none).
fn unresolvable_email() -> S3Error {
    S3Error::UnresolvableGrantByEmail
}

/// Whether a request carries any `x-amz-grant-*` header.
pub(crate) fn has_grant_headers(req: &S3Request) -> bool {
    GRANT_HEADERS
        .iter()
        .any(|(h, _)| req.headers.contains_key(*h))
}

/// The grants of a request's `x-amz-grant-*` headers (`None` when it has none). Each header is a
/// comma-separated list of `id="..."`, `uri="..."` or `emailAddress="..."` (quotes optional), as S3
/// reads them: anything else is `InvalidArgument` "Argument format not recognized", an id that is
/// not a canonical user id "Invalid id", an unknown group "Invalid group uri".
pub(crate) fn header_grants(req: &S3Request) -> S3Result<Option<Vec<Grant>>> {
    let mut out = Vec::new();
    let mut any = false;
    for (header, permission) in GRANT_HEADERS {
        let Some(value) = req.headers.get(header) else {
            continue;
        };
        any = true;
        let text = value.to_str().unwrap_or("");
        let unrecognized = || S3Error::argument("Argument format not recognized", header, text);
        for part in text.split(',') {
            let (kind, value) = part.trim().split_once('=').ok_or_else(unrecognized)?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            let grantee = match kind.trim().to_ascii_lowercase().as_str() {
                "id" if valid_canonical_id(value) => Grantee::User(value.to_ascii_lowercase()),
                "id" => return Err(S3Error::argument("Invalid id", "id", value)),
                "uri" if GROUPS.contains(&value) => Grantee::Group(value.to_owned()),
                "uri" => return Err(S3Error::argument("Invalid group uri", "uri", value)),
                "emailaddress" => return Err(unresolvable_email()),
                _ => return Err(unrecognized()),
            };
            out.push(Grant {
                grantee,
                permission: permission.to_owned(),
            });
        }
    }
    Ok(any.then_some(out))
}

/// The ACL a request sets with its headers, as stored: its canned ACL (`x-amz-acl`), or its grant
/// headers as a document owned by `owner`; `None` when it names neither. Both at once are refused,
/// as S3 refuses them.
pub(crate) fn from_headers(req: &S3Request, owner: &str) -> S3Result<Option<String>> {
    if let Some(canned) = req.h("x-amz-acl") {
        if has_grant_headers(req) {
            return Err(S3Error::request(
                "Specifying both Canned ACLs and Header Grants is not allowed",
            ));
        }
        return Ok(Some(canned.to_owned()));
    }
    Ok(header_grants(req)?.map(|grants| document(owner, &grants)))
}

/// The `AccessControlPolicy` document of `owner` with these grants. Owners and grantees carry no
/// `DisplayName`, as in AWS today.
pub(crate) fn document(owner: &str, grants: &[Grant]) -> String {
    let xsi = "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"";
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AccessControlPolicy xmlns=\"{NS}\"><Owner><ID>{owner}</ID></Owner>\
         <AccessControlList>"
    );
    for grant in grants {
        match &grant.grantee {
            Grantee::User(id) => out.push_str(&format!(
                "<Grant><Grantee {xsi} xsi:type=\"CanonicalUser\"><ID>{id}</ID></Grantee>"
            )),
            Grantee::Group(uri) => out.push_str(&format!(
                "<Grant><Grantee {xsi} xsi:type=\"Group\"><URI>{uri}</URI></Grantee>"
            )),
        }
        out.push_str(&format!(
            "<Permission>{}</Permission></Grant>",
            grant.permission
        ));
    }
    out.push_str("</AccessControlList></AccessControlPolicy>");
    out
}

/// The document S3 returns for a stored ACL of `owner`: a stored document as it is, a canned ACL
/// (`None`: `private`) as the owner's full control plus the canned ACL's group grants.
pub(crate) fn stored_document(owner: &str, acl: Option<&str>) -> String {
    if let Some(doc) = acl.filter(|a| a.trim_start().starts_with('<')) {
        return doc.to_owned();
    }
    let mut all = vec![Grant {
        grantee: Grantee::User(owner.to_owned()),
        permission: "FULL_CONTROL".to_owned(),
    }];
    all.extend(canned_grants(acl.unwrap_or("private")));
    document(owner, &all)
}

/// An `AccessControlPolicy` document sent to `PutBucketAcl`/`PutObjectAcl`: grants of known
/// permissions to canonical users (valid ids) or S3's groups.
pub(crate) fn validate(doc: &[u8]) -> S3Result<()> {
    let root = crate::wire::parse_xml(doc).map_err(|_| S3Error::MalformedAcl)?;
    if root.name != "AccessControlPolicy" {
        return Err(S3Error::MalformedAcl);
    }
    let list = root
        .child("AccessControlList")
        .ok_or(S3Error::MalformedAcl)?;
    for grant in list.all("Grant") {
        let permission = grant.text_of("Permission").unwrap_or("");
        if !PERMISSIONS.contains(&permission) {
            return Err(S3Error::MalformedAcl);
        }
        let grantee = grant.child("Grantee").ok_or(S3Error::MalformedAcl)?;
        if let Some(id) = grantee.text_of("ID") {
            if !valid_canonical_id(id) {
                return Err(S3Error::argument("Invalid id", "CanonicalUser/ID", id));
            }
        } else if let Some(uri) = grantee.text_of("URI") {
            if !GROUPS.contains(&uri) {
                return Err(S3Error::argument("Invalid group uri", "Group/URI", uri));
            }
        } else if grantee.child("EmailAddress").is_some() {
            return Err(unresolvable_email());
        } else {
            return Err(S3Error::MalformedAcl);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> S3Request {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                map.insert(k, v);
            }
        }
        S3Request {
            method: http::Method::PUT,
            bucket: Some("b".into()),
            key: None,
            query: Vec::new(),
            headers: map,
            chunk_signer: None,
            anonymous: false,
        }
    }

    #[test]
    fn canned_acls_and_documents() {
        assert!(is_public(Some("public-read")));
        assert!(is_public(Some("public-read-write")));
        assert!(is_public(Some("authenticated-read")));
        for private in [
            None,
            Some("private"),
            Some("bucket-owner-full-control"),
            Some("log-delivery-write"),
            Some("aws-exec-read"),
        ] {
            assert!(!is_public(private), "{private:?}");
        }
        let doc = stored_document("owner", Some("authenticated-read"));
        assert!(is_public(Some(&doc)));
        let parsed = grants(Some(&doc));
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].grantee, Grantee::User("owner".into()));
        assert!(parsed[1].gives("READ") && !parsed[1].gives("WRITE"));
        assert!(!is_public(Some(&stored_document("owner", None))));
    }

    #[test]
    fn grant_headers() {
        let id = "a".repeat(64);
        let req = request(&[
            (
                "x-amz-grant-read",
                "uri=\"http://acs.amazonaws.com/groups/global/AuthenticatedUsers\"",
            ),
            ("x-amz-grant-full-control", &format!("id={id}")),
        ]);
        let found = header_grants(&req).ok().flatten().unwrap_or_default();
        assert_eq!(found.len(), 2);
        assert!(found[0].is_public() && found[0].permission == "READ");
        assert_eq!(found[1].grantee, Grantee::User(id.clone()));
        let doc = from_headers(&req, "owner")
            .ok()
            .flatten()
            .unwrap_or_default();
        assert!(is_public(Some(&doc)));
        assert!(validate(doc.as_bytes()).is_ok());

        let bad = |h: &str, v: &str| header_grants(&request(&[(h, v)]));
        assert!(matches!(bad("x-amz-grant-read", "nonsense"),
            Err(S3Error::InvalidArgument { message, name, .. }) if message == "Argument format not recognized" && name == "x-amz-grant-read"));
        assert!(matches!(bad("x-amz-grant-read", "id=\"123\""),
            Err(S3Error::InvalidArgument { message, .. }) if message == "Invalid id"));
        assert!(matches!(bad("x-amz-grant-write", "uri=\"http://x\""),
            Err(S3Error::InvalidArgument { message, .. }) if message == "Invalid group uri"));
        assert!(matches!(
            bad("x-amz-grant-read", "emailAddress=\"a@example.com\""),
            Err(S3Error::UnresolvableGrantByEmail)
        ));
        assert!(matches!(
            from_headers(
                &request(&[("x-amz-acl", "private"), ("x-amz-grant-read", "uri=x")]),
                "o"
            ),
            Err(S3Error::InvalidRequest { .. })
        ));
        assert_eq!(header_grants(&request(&[])).ok(), Some(None));
    }
}

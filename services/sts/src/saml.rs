//! The SAML 2.0 assertion `AssumeRoleWithSAML` takes (base64 of the IdP's `<samlp:Response>` or a bare
//! `<saml:Assertion>`), read for what STS uses: the `Issuer`, the subject's `NameID` and its `Format`,
//! the `Recipient` of the subject confirmation (the audience), the expiry (`NotOnOrAfter` of the
//! conditions or confirmation, `SessionNotOnOrAfter`), and the attributes AWS defines
//! (`https://aws.amazon.com/SAML/Attributes/Role`, `.../RoleSessionName`, `.../SessionDuration`).
//! Signatures are not verified: Skyport has no IAM SAML providers holding the IdP's certificate.

use std::collections::BTreeMap;

use base64::Engine;
use quick_xml::events::Event;

/// The attribute naming the roles (`role-arn,provider-arn` pairs) the assertion allows.
pub const ROLE: &str = "https://aws.amazon.com/SAML/Attributes/Role";
/// The attribute giving the session name.
pub const SESSION_NAME: &str = "https://aws.amazon.com/SAML/Attributes/RoleSessionName";
/// The attribute giving the longest session.
pub const SESSION_DURATION: &str = "https://aws.amazon.com/SAML/Attributes/SessionDuration";

/// What STS reads from an assertion.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub issuer: Option<String>,
    pub subject: Option<String>,
    /// The `Format` of the `NameID`.
    pub subject_format: Option<String>,
    /// The `Recipient` of the `SubjectConfirmationData`.
    pub recipient: Option<String>,
    /// The earliest `NotOnOrAfter`/`SessionNotOnOrAfter` (RFC 3339 text).
    pub not_on_or_after: Vec<String>,
    /// Attribute name → values.
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl Assertion {
    /// Decodes and reads a base64 assertion; `None` when it is no XML a SAML response could be.
    pub fn parse(encoded: &str) -> Option<Assertion> {
        let compact: String = encoded.split_whitespace().collect();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .ok()?;
        let text = std::str::from_utf8(&raw).ok()?;
        let mut reader = quick_xml::Reader::from_str(text);
        let mut out = Assertion::default();
        let mut path: Vec<String> = Vec::new();
        let mut attribute: Option<String> = None;
        let mut saw_root = false;
        loop {
            let event = reader.read_event().ok()?;
            match event {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let name = e.local_name().as_ref().to_owned();
                    saw_root = true;
                    let attr = |key: &str| {
                        e.attributes().flatten().find_map(|a| {
                            (a.key.local_name().as_ref() == key)
                                .then(|| {
                                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                        .ok()
                                        .map(|v| v.into_owned())
                                })
                                .flatten()
                        })
                    };
                    match name.as_str() {
                        "NameID" => out.subject_format = attr("Format"),
                        "SubjectConfirmationData" => {
                            if out.recipient.is_none() {
                                out.recipient = attr("Recipient");
                            }
                            out.not_on_or_after.extend(attr("NotOnOrAfter"));
                        }
                        "Conditions" => out.not_on_or_after.extend(attr("NotOnOrAfter")),
                        "AuthnStatement" => {
                            out.not_on_or_after.extend(attr("SessionNotOnOrAfter"));
                        }
                        "Attribute" => {
                            attribute = attr("Name");
                            if let Some(a) = &attribute {
                                out.attributes.entry(a.clone()).or_default();
                            }
                        }
                        _ => {}
                    }
                    if matches!(event, Event::Start(_)) {
                        path.push(name);
                    }
                }
                Event::Text(t) => {
                    let value = t.xml10_content().trim().to_owned();
                    if value.is_empty() {
                        continue;
                    }
                    match path.last().map(String::as_str) {
                        Some("Issuer") if out.issuer.is_none() => out.issuer = Some(value),
                        Some("NameID") if out.subject.is_none() => out.subject = Some(value),
                        Some("AttributeValue") => {
                            if let Some(a) = &attribute {
                                out.attributes.entry(a.clone()).or_default().push(value);
                            }
                        }
                        _ => {}
                    }
                }
                Event::End(e) => {
                    if e.local_name().as_ref() == "Attribute" {
                        attribute = None;
                    }
                    path.pop();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        saw_root.then_some(out)
    }

    /// The values of attribute `name`.
    pub fn values(&self, name: &str) -> &[String] {
        self.attributes.get(name).map_or(&[], Vec::as_slice)
    }

    /// Whether the `Role` attribute pairs `role` with `provider` (in either order, as AWS accepts).
    pub fn allows(&self, role: &str, provider: &str) -> bool {
        self.values(ROLE).iter().any(|v| {
            let mut parts = v.split(',').map(str::trim);
            match (parts.next(), parts.next()) {
                (Some(a), Some(b)) => (a == role && b == provider) || (a == provider && b == role),
                _ => false,
            }
        })
    }

    /// `SubjectType`: the `NameID` format with the SAML 2.0 prefix removed.
    pub fn subject_type(&self) -> Option<String> {
        let format = self.subject_format.as_deref()?;
        Some(
            format
                .strip_prefix("urn:oasis:names:tc:SAML:2.0:nameid-format:")
                .unwrap_or(format)
                .to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESPONSE: &str = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">
  <saml:Issuer>https://idp.example.com/saml</saml:Issuer>
  <saml:Assertion>
    <saml:Issuer>https://idp.example.com/saml</saml:Issuer>
    <saml:Subject>
      <saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">alice@example.com</saml:NameID>
      <saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
        <saml:SubjectConfirmationData NotOnOrAfter="2099-01-01T00:00:00Z" Recipient="https://signin.aws.amazon.com/saml"/>
      </saml:SubjectConfirmation>
    </saml:Subject>
    <saml:AttributeStatement>
      <saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/Role">
        <saml:AttributeValue>arn:aws:iam::123456789012:role/Dev,arn:aws:iam::123456789012:saml-provider/Idp</saml:AttributeValue>
      </saml:Attribute>
      <saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName">
        <saml:AttributeValue>alice</saml:AttributeValue>
      </saml:Attribute>
    </saml:AttributeStatement>
  </saml:Assertion>
</samlp:Response>"#;

    #[test]
    fn reads_what_sts_uses() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(RESPONSE);
        let a = Assertion::parse(&encoded).unwrap();
        assert_eq!(a.issuer.as_deref(), Some("https://idp.example.com/saml"));
        assert_eq!(a.subject.as_deref(), Some("alice@example.com"));
        assert_eq!(a.subject_type().as_deref(), Some("persistent"));
        assert_eq!(
            a.recipient.as_deref(),
            Some("https://signin.aws.amazon.com/saml")
        );
        assert_eq!(a.values(SESSION_NAME), ["alice"]);
        assert!(a.allows(
            "arn:aws:iam::123456789012:role/Dev",
            "arn:aws:iam::123456789012:saml-provider/Idp"
        ));
        assert!(!a.allows(
            "arn:aws:iam::123456789012:role/Admin",
            "arn:aws:iam::123456789012:saml-provider/Idp"
        ));
        assert_eq!(a.not_on_or_after, ["2099-01-01T00:00:00Z"]);
        assert!(Assertion::parse("not base64!").is_none());
        let not_xml = base64::engine::general_purpose::STANDARD.encode("hello");
        assert!(Assertion::parse(&not_xml).is_none());
    }
}

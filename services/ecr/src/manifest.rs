//! Image manifests: which of the four kinds a registry serves (Docker v2 schema 2 and manifest lists,
//! OCI image manifests and indexes), and what one references (config and layer blobs, the manifests
//! an index lists, its `subject`).

use serde_json::Value;

use crate::blobs::parse_digest;

/// Docker v2 schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The kinds accepted, in the order a registry prefers them.
pub const KINDS: &[&str] = &[DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX];

/// What a manifest references.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// Its media type.
    pub media_type: String,
    /// The config's media type (or `artifactType`).
    pub artifact_type: Option<String>,
    /// Config and layers.
    pub blobs: Vec<String>,
    /// Manifests of an index.
    pub children: Vec<String>,
    /// The layers' (or the listed manifests') sizes added up.
    pub size: u64,
    /// The `subject` digest.
    pub subject: Option<String>,
}

/// Why a manifest is refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON, or fields of the wrong type.
    #[error("manifest invalid: {0}")]
    Invalid(String),
    /// A media type the registry does not serve.
    #[error("unsupported manifest media type {0}")]
    Unsupported(String),
}

fn descriptors<'a>(value: &'a Value, field: &str) -> Result<Vec<&'a Value>, ManifestError> {
    match value.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.iter().collect()),
        Some(_) => Err(ManifestError::Invalid(format!("{field} is not an array"))),
    }
}

fn digest_of(desc: &Value) -> Result<(String, u64), ManifestError> {
    let digest = desc
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| ManifestError::Invalid("a descriptor has no digest".to_owned()))?;
    parse_digest(digest).map_err(|e| ManifestError::Invalid(e.to_string()))?;
    let size = desc.get("size").and_then(Value::as_u64).unwrap_or(0);
    Ok((digest.to_owned(), size))
}

/// Parses `bytes`, whose media type is `content_type` (the request's) or else the manifest's own
/// `mediaType`.
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Parsed, ManifestError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ManifestError::Invalid(format!("not JSON: {e}")))?;
    if !value.is_object() {
        return Err(ManifestError::Invalid("not a JSON object".to_owned()));
    }
    let own = value.get("mediaType").and_then(Value::as_str);
    let given = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim())
        .filter(|c| !c.is_empty() && *c != "application/json" && *c != "application/octet-stream");
    let media_type = match (given, own) {
        (Some(g), Some(o)) if g != o => {
            return Err(ManifestError::Invalid(format!(
                "mediaType {o} differs from the Content-Type {g}"
            )));
        }
        (Some(g), _) => g,
        (None, Some(o)) => o,
        (None, None) if value.get("manifests").is_some() => OCI_INDEX,
        (None, None) => OCI_MANIFEST,
    };
    if !KINDS.contains(&media_type) {
        return Err(ManifestError::Unsupported(media_type.to_owned()));
    }
    let subject = match value.get("subject") {
        Some(s) => Some(digest_of(s)?.0),
        None => None,
    };
    let mut parsed = Parsed {
        media_type: media_type.to_owned(),
        artifact_type: value
            .get("artifactType")
            .and_then(Value::as_str)
            .map(str::to_owned),
        blobs: Vec::new(),
        children: Vec::new(),
        size: 0,
        subject,
    };
    if media_type == DOCKER_LIST || media_type == OCI_INDEX {
        for desc in descriptors(&value, "manifests")? {
            let (digest, size) = digest_of(desc)?;
            parsed.children.push(digest);
            parsed.size += size;
        }
        return Ok(parsed);
    }
    let config = value
        .get("config")
        .ok_or_else(|| ManifestError::Invalid("the manifest has no config".to_owned()))?;
    let (config_digest, _) = digest_of(config)?;
    if parsed.artifact_type.is_none() {
        parsed.artifact_type = config
            .get("mediaType")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    parsed.blobs.push(config_digest);
    for desc in descriptors(&value, "layers")? {
        let (digest, size) = digest_of(desc)?;
        parsed.blobs.push(digest);
        parsed.size += size;
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn kinds_and_references() {
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{D1}","size":10}},"layers":[{{"digest":"{D2}","size":32}}]}}"#
        );
        let p = parse(m.as_bytes(), None).unwrap();
        assert_eq!(p.media_type, DOCKER_MANIFEST);
        assert_eq!(p.blobs, vec![D1.to_owned(), D2.to_owned()]);
        assert_eq!(p.size, 32);
        assert!(matches!(
            parse(m.as_bytes(), Some(OCI_MANIFEST)),
            Err(ManifestError::Invalid(_))
        ));
        let i = format!(r#"{{"schemaVersion":2,"manifests":[{{"digest":"{D1}","size":5}}]}}"#);
        let p = parse(i.as_bytes(), Some(OCI_INDEX)).unwrap();
        assert_eq!(p.children, vec![D1.to_owned()]);
        assert!(matches!(
            parse(b"{}", Some("application/x-foo")),
            Err(ManifestError::Unsupported(_))
        ));
        assert!(matches!(
            parse(b"[1]", None),
            Err(ManifestError::Invalid(_))
        ));
    }
}

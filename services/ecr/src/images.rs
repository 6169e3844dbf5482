//! The registry's images for other services ([`ImageSource`]): Lambda resolves a function's `ImageUri`
//! here and reads the image's blobs from here, so a function's image never travels over the network.
//!
//! URIs that name this registry:
//! - `<account>.dkr.ecr.<region>.<LOCALSTACK_HOST>/<name>` (the `repositoryUri` ECR answers) and
//!   `<account>.dkr.ecr.<region>.localhost.localstack.cloud[:port]/<name>`;
//! - `<account>.dkr.ecr.<region>.amazonaws.com/<name>`, when the repository exists here (else it is
//!   left to whoever pulls it, as before);
//! - `127.0.0.1:<registry port>/<name>` and `localhost:<registry port>/<name>`, in the caller's account
//!   and region;
//!
//! each followed by `:<tag>` or `@sha256:<hex>` (a tag before the digest is ignored, as Docker does).
//! A manifest list or OCI index resolves to its `linux/<architecture>` entry.

use serde_json::Value;
use skyport_core::bus::{BlobReader, ImageError, ImageSource, ResolvedImage};
use skyport_core::store::StoreError;

use crate::api::Ecr;
use crate::blobs::{BlobError, parse_digest};
use crate::manifest::{self, DOCKER_LIST, OCI_INDEX};
use crate::state;

/// Config media types of runnable images.
const IMAGE_CONFIGS: &[&str] = &[
    "application/vnd.docker.container.image.v1+json",
    "application/vnd.oci.image.config.v1+json",
];

/// The reference part of an image URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reference<'a> {
    Tag(&'a str),
    Digest(&'a str),
}

/// An image URI taken apart: registry host, repository name, reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ImageName<'a> {
    host: &'a str,
    repository: &'a str,
    reference: Option<Reference<'a>>,
}

fn split(uri: &str) -> Option<ImageName<'_>> {
    let (host, rest) = uri.split_once('/')?;
    if host.is_empty() || rest.is_empty() {
        return None;
    }
    let (repository, reference) = match rest.split_once('@') {
        Some((path, digest)) => {
            let path = match path.rsplit_once(':') {
                Some((p, tag)) if !tag.contains('/') => p,
                _ => path,
            };
            (path, Some(Reference::Digest(digest)))
        }
        None => match rest.rsplit_once(':') {
            Some((path, tag)) if !tag.contains('/') => (path, Some(Reference::Tag(tag))),
            _ => (rest, None),
        },
    };
    Some(ImageName {
        host,
        repository,
        reference,
    })
}

fn strip_port(host: &str) -> &str {
    host.rsplit_once(':')
        .filter(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(name, _)| name)
}

/// Whose registry a host is.
#[derive(Debug, PartialEq, Eq)]
struct Registry {
    account: String,
    region: String,
    /// The URI is this registry's even when the repository does not exist (a missing one is an error,
    /// not someone else's image).
    strict: bool,
}

impl Ecr {
    fn registry_of(&self, host: &str, account: &str, region: &str) -> Option<Registry> {
        let bare = strip_port(host).to_ascii_lowercase();
        if matches!(bare.as_str(), "127.0.0.1" | "localhost") {
            let port: u16 = host.rsplit_once(':')?.1.parse().ok()?;
            return (self.leased_port() == Some(port)).then(|| Registry {
                account: account.to_owned(),
                region: region.to_owned(),
                strict: true,
            });
        }
        let (account, region) = crate::registry::host_registry(host)?;
        // `<account>.dkr.ecr.<region>.` and then the domain.
        let domain = bare.splitn(5, '.').nth(4)?;
        let own = strip_port(&self.inner.options.host).to_ascii_lowercase();
        let strict = if domain == own || domain == "localhost.localstack.cloud" {
            true
        } else if domain == "amazonaws.com" {
            false
        } else {
            return None;
        };
        Some(Registry {
            account,
            region,
            strict,
        })
    }

    /// The media type and bytes of the image `digest` of the repository `key`.
    fn manifest_of(&self, key: &str, digest: &str) -> Result<(String, Vec<u8>), ImageError> {
        let image = state::image(self.store(), key, digest)
            .map_err(store)?
            .ok_or(ImageError::NotFound)?;
        let bytes = self
            .store()
            .get(state::MANIFESTS, &state::item_key(key, digest))
            .map_err(store)?
            .ok_or(ImageError::NotFound)?;
        Ok((image.media_type, bytes))
    }
}

fn store(e: StoreError) -> ImageError {
    ImageError::Internal(format!("ECR's store: {e}"))
}

/// The OCI name of a Lambda architecture.
fn platform_architecture(architecture: &str) -> &'static str {
    if architecture == "arm64" {
        "arm64"
    } else {
        "amd64"
    }
}

/// The digest of the `linux/<architecture>` entry of an index.
fn platform_entry(index: &[u8], architecture: &str) -> Option<String> {
    let wanted = platform_architecture(architecture);
    let value: Value = serde_json::from_slice(index).ok()?;
    value
        .get("manifests")?
        .as_array()?
        .iter()
        .find(|entry| {
            let platform = entry.get("platform");
            let field = |name: &str| platform.and_then(|p| p.get(name)).and_then(Value::as_str);
            field("os") == Some("linux") && field("architecture") == Some(wanted)
        })
        .and_then(|entry| entry.get("digest")?.as_str())
        .map(str::to_owned)
}

#[async_trait::async_trait]
impl ImageSource for Ecr {
    async fn resolve(
        &self,
        uri: &str,
        account: &str,
        region: &str,
        architecture: &str,
    ) -> Result<Option<ResolvedImage>, ImageError> {
        let Some(name) = split(uri) else {
            return Ok(None);
        };
        let Some(registry) = self.registry_of(name.host, account, region) else {
            return Ok(None);
        };
        let key = state::repo_key(&registry.account, &registry.region, name.repository);
        if state::repo(self.store(), &key).map_err(store)?.is_none() {
            return if registry.strict {
                Err(ImageError::NotFound)
            } else {
                Ok(None)
            };
        }
        let digest = match name.reference {
            None => return Err(ImageError::Invalid("no tag or digest".to_owned())),
            Some(Reference::Tag(tag)) if !crate::registry::is_tag(tag) => {
                return Err(ImageError::Invalid(format!("invalid tag {tag}")));
            }
            Some(Reference::Tag(tag)) => state::tagged(self.store(), &key, tag)
                .map_err(store)?
                .ok_or(ImageError::NotFound)?,
            Some(Reference::Digest(digest)) => {
                parse_digest(digest).map_err(|e| ImageError::Invalid(e.to_string()))?;
                digest.to_owned()
            }
        };
        let (mut media_type, mut bytes) = self.manifest_of(&key, &digest)?;
        let mut manifest_digest = digest.clone();
        if media_type == DOCKER_LIST || media_type == OCI_INDEX {
            manifest_digest = platform_entry(&bytes, architecture).ok_or_else(|| {
                ImageError::Unsupported(format!(
                    "the index has no linux/{} image",
                    platform_architecture(architecture)
                ))
            })?;
            (media_type, bytes) = self.manifest_of(&key, &manifest_digest)?;
            if media_type == DOCKER_LIST || media_type == OCI_INDEX {
                return Err(ImageError::Unsupported(
                    "an index within an index".to_owned(),
                ));
            }
        }
        let parsed = manifest::parse(&bytes, Some(&media_type))
            .map_err(|e| ImageError::Unsupported(e.to_string()))?;
        let config_type = parsed.artifact_type.as_deref().unwrap_or_default();
        if !IMAGE_CONFIGS.contains(&config_type) {
            return Err(ImageError::Unsupported(format!(
                "the config media type {config_type} is not a container image's"
            )));
        }
        let mut blobs = parsed.blobs.into_iter();
        let config = blobs
            .next()
            .ok_or_else(|| ImageError::Unsupported("the manifest has no config".to_owned()))?;
        Ok(Some(ResolvedImage {
            repository_uri: format!(
                "{}/{}",
                self.registry_host(&registry.account, &registry.region),
                name.repository
            ),
            account: registry.account,
            region: registry.region,
            repository: name.repository.to_owned(),
            digest,
            manifest_digest,
            manifest: bytes::Bytes::from(bytes),
            media_type,
            config,
            layers: blobs.collect(),
        }))
    }

    async fn open_blob(
        &self,
        image: &ResolvedImage,
        digest: &str,
    ) -> Result<BlobReader, ImageError> {
        let key = state::repo_key(&image.account, &image.region, &image.repository);
        if state::linked_blob(self.store(), &key, digest)
            .map_err(store)?
            .is_none()
        {
            return Err(ImageError::NotFound);
        }
        match self.inner.blobs.open(digest).await {
            Ok((file, size)) => Ok(BlobReader {
                size,
                reader: Box::pin(file),
            }),
            Err(BlobError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(ImageError::NotFound)
            }
            Err(BlobError::DigestMalformed(d)) => Err(ImageError::Invalid(d)),
            Err(e) => Err(ImageError::Internal(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::manifest::DOCKER_MANIFEST;
    use crate::state::RepoRec;
    use bytes::Bytes;
    use tokio::io::AsyncReadExt;

    const REGISTRY: &str = "000000000000.dkr.ecr.us-east-1.localhost.localstack.cloud:4566";

    async fn push_blob(ecr: &Ecr, repo: &RepoRec, bytes: &[u8]) -> String {
        let key = repo.key();
        let id = ecr.inner.blobs.start(&key).await.unwrap();
        let blob = Bytes::copy_from_slice(bytes);
        ecr.inner
            .blobs
            .append_bytes(&id, &key, blob, 0)
            .await
            .unwrap();
        let digest = crate::blobs::digest_of(bytes);
        let size = ecr.inner.blobs.finish(&id, &key, &digest).await.unwrap();
        ecr.commit_blob(&key, &digest, size).await.unwrap();
        digest
    }

    async fn push(ecr: &Ecr, repo: &RepoRec, media_type: &str, body: String, tag: &str) -> String {
        let bytes = Bytes::from(body);
        let image = ecr
            .put_manifest(repo, bytes, Some(media_type), Some(tag.to_owned()), false)
            .await
            .unwrap();
        image.digest
    }

    async fn resolve(
        ecr: &Ecr,
        uri: &str,
        arch: &str,
    ) -> Result<Option<ResolvedImage>, ImageError> {
        ecr.resolve(uri, "000000000000", "us-east-1", arch).await
    }

    #[tokio::test]
    async fn uris_of_the_registry_resolve_to_their_image_and_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = skyport_core::store::Store::in_memory().unwrap();
        let ecr = Ecr::with_store(store, dir.path(), crate::Options::default());
        let repo = RepoRec {
            account: "000000000000".to_owned(),
            region: "us-east-1".to_owned(),
            name: "team/app".to_owned(),
            created_ms: 0,
            tag_mutability: "MUTABLE".to_owned(),
            mutability_exclusions: Vec::new(),
            scan_on_push: false,
            encryption: ("AES256".to_owned(), None),
            tags: Vec::new(),
            policy: None,
            lifecycle: None,
            lifecycle_evaluated_ms: None,
        };
        let rec = repo.clone();
        ecr.store()
            .write(move |w| w.put_json(state::REPOS, &rec.key(), &rec))
            .unwrap();
        let config = push_blob(&ecr, &repo, br#"{"architecture":"amd64","os":"linux"}"#).await;
        let layer = push_blob(&ecr, &repo, b"a layer").await;
        let image = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"{}","digest":"{config}","size":1}},"layers":[{{"digest":"{layer}","size":7}}]}}"#,
            IMAGE_CONFIGS[0]
        );
        let v1 = push(&ecr, &repo, DOCKER_MANIFEST, image, "v1").await;
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"{v1}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#
        );
        let multi = push(&ecr, &repo, OCI_INDEX, index, "multi").await;
        let artifact = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.example+json","digest":"{config}","size":1}},"layers":[]}}"#
        );
        push(
            &ecr,
            &repo,
            crate::manifest::OCI_MANIFEST,
            artifact,
            "chart",
        )
        .await;

        let found = resolve(&ecr, &format!("{REGISTRY}/team/app:v1"), "x86_64")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.repository_uri, format!("{REGISTRY}/team/app"));
        assert_eq!(
            (found.digest.as_str(), found.manifest_digest.as_str()),
            (v1.as_str(), v1.as_str())
        );
        assert_eq!(
            (found.config.as_str(), found.layers.clone()),
            (config.as_str(), vec![layer.clone()])
        );
        assert_eq!(found.pinned_uri(), format!("{REGISTRY}/team/app@{v1}"));
        let pinned = resolve(&ecr, &found.pinned_uri(), "x86_64")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pinned, found);
        let mut blob = ecr.open_blob(&found, &layer).await.unwrap();
        let mut bytes = Vec::new();
        blob.reader.read_to_end(&mut bytes).await.unwrap();
        assert_eq!((blob.size, bytes.as_slice()), (7, &b"a layer"[..]));
        assert!(matches!(
            ecr.open_blob(&found, &crate::blobs::digest_of(b"other"))
                .await,
            Err(ImageError::NotFound)
        ));

        // An index: its linux/amd64 entry, and nothing for arm64.
        let entry = resolve(&ecr, &format!("{REGISTRY}/team/app:multi"), "x86_64")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (entry.digest.as_str(), entry.manifest_digest.as_str()),
            (multi.as_str(), v1.as_str())
        );
        for (uri, arch, expected) in [
            ("team/app:multi", "arm64", "unsupported"),
            ("team/app:chart", "x86_64", "unsupported"),
            ("team/app:v2", "x86_64", "not found"),
            ("team/other:v1", "x86_64", "not found"),
            ("team/app", "x86_64", "invalid"),
            ("team/app:-x", "x86_64", "invalid"),
        ] {
            let got = match resolve(&ecr, &format!("{REGISTRY}/{uri}"), arch).await {
                Err(ImageError::Unsupported(_)) => "unsupported",
                Err(ImageError::NotFound) => "not found",
                Err(ImageError::Invalid(_)) => "invalid",
                other => panic!("{uri}: {other:?}"),
            };
            assert_eq!(got, expected, "{uri} ({arch})");
        }

        // AWS's own host names this registry when the repository is here; other registries are not it.
        let aws = "000000000000.dkr.ecr.us-east-1.amazonaws.com";
        assert!(
            resolve(&ecr, &format!("{aws}/team/app:v1"), "x86_64")
                .await
                .unwrap()
                .is_some()
        );
        for uri in [
            format!("{aws}/team/other:v1"),
            "public.ecr.aws/lambda/python:3.12".to_owned(),
            "127.0.0.1:4510/team/app:v1".to_owned(),
            "python:3.12".to_owned(),
        ] {
            assert_eq!(resolve(&ecr, &uri, "x86_64").await, Ok(None), "{uri}");
        }
    }

    #[test]
    fn uris_come_apart() {
        let d = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        assert_eq!(
            split("1.dkr.ecr.r.localhost.localstack.cloud:4566/team/app:v1"),
            Some(ImageName {
                host: "1.dkr.ecr.r.localhost.localstack.cloud:4566",
                repository: "team/app",
                reference: Some(Reference::Tag("v1")),
            })
        );
        assert_eq!(
            split(&format!("127.0.0.1:4510/app:v1@{d}")).map(|n| (n.repository, n.reference)),
            Some(("app", Some(Reference::Digest(d))))
        );
        assert_eq!(
            split("127.0.0.1:4510/team/app").map(|n| n.reference),
            Some(None)
        );
        assert_eq!(split("app"), None);
        assert_eq!(strip_port("localhost:4510"), "localhost");
        assert_eq!(strip_port("a.b"), "a.b");
    }

    #[test]
    fn an_index_gives_the_entry_of_the_functions_platform() {
        let index = br#"{"manifests":[
            {"digest":"sha256:aa","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
            {"digest":"sha256:bb","platform":{"os":"linux","architecture":"amd64"}},
            {"digest":"sha256:cc","platform":{"os":"unknown","architecture":"unknown"}}]}"#;
        assert_eq!(
            platform_entry(index, "x86_64").as_deref(),
            Some("sha256:bb")
        );
        assert_eq!(platform_entry(index, "arm64").as_deref(), Some("sha256:aa"));
        assert_eq!(platform_entry(br#"{"manifests":[]}"#, "x86_64"), None);
    }
}

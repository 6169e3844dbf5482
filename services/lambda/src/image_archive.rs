//! Images of Skyport's ECR handed to the Docker Engine without a pull: a `docker save` archive
//! (`manifest.json` naming the config, the tag and the layers; the config blob; each layer blob as
//! pushed, compressed or not, which `docker load` accepts) built on the fly from the registry's blob
//! files and streamed to the Engine's image load API. Nothing is held whole in memory: each blob is read
//! in chunks as the Engine takes them.
//!
//! The Engine cannot pull these images itself: it resolves registry names with the host's resolver
//! (`*.localhost.localstack.cloud` needs the internet), and when Skyport runs in a container,
//! `127.0.0.1:<registry port>` is not Skyport.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use skyport_core::bus::{ImageSource, ResolvedImage};
use tokio::io::AsyncReadExt;

/// Bytes per read of a blob.
const CHUNK: usize = 256 * 1024;
/// The tar block size.
const BLOCK: u64 = 512;
/// Archive chunks queued ahead of the Engine.
const QUEUE: usize = 8;

/// The local name the Engine knows an ECR image by: `skyport-ecr/<repository>:<manifest hex>`, the
/// same for every function that runs this image manifest.
pub fn local_name(image: &ResolvedImage) -> String {
    let hex = image
        .manifest_digest
        .strip_prefix("sha256:")
        .unwrap_or(&image.manifest_digest);
    format!("skyport-ecr/{}:{hex}", image.repository)
}

/// The Engine's image ID of `image` (its config digest).
pub fn image_id(image: &ResolvedImage) -> &str {
    &image.config
}

fn blob_path(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

/// The `manifest.json` of the archive.
fn manifest_json(image: &ResolvedImage, tag: &str) -> Vec<u8> {
    let manifest = serde_json::json!([{
        "Config": blob_path(&image.config),
        "RepoTags": [tag],
        "Layers": image.layers.iter().map(|l| blob_path(l)).collect::<Vec<_>>(),
    }]);
    manifest.to_string().into_bytes()
}

fn header(path: &str, size: u64, dir: bool) -> std::io::Result<Bytes> {
    let mut header = tar::Header::new_ustar();
    header.set_path(path)?;
    header.set_size(size);
    header.set_mode(if dir { 0o755 } else { 0o644 });
    header.set_mtime(0);
    header.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    header.set_cksum();
    Ok(Bytes::copy_from_slice(header.as_bytes()))
}

/// Zeros that pad `size` bytes to a whole block.
fn padding(size: u64) -> Bytes {
    let rest = size % BLOCK;
    let pad = if rest == 0 { 0 } else { BLOCK - rest };
    Bytes::from(vec![0u8; usize::try_from(pad).unwrap_or(0)])
}

/// The archive of `image` tagged `tag`, as a stream of chunks; a failure (a blob gone, a disk error)
/// ends it with an error, so the Engine refuses the truncated archive.
pub fn archive(
    images: Arc<dyn ImageSource>,
    image: ResolvedImage,
    tag: String,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
    tokio::spawn(async move {
        let sink = Sink(tx);
        if let Err(e) = write_archive(images.as_ref(), &image, &tag, &sink).await {
            let _ = sink.0.send(Err(e)).await;
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

struct Sink(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>);

impl Sink {
    async fn send(&self, bytes: Bytes) -> std::io::Result<()> {
        self.0.send(Ok(bytes)).await.map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the Docker Engine stopped reading the image",
            )
        })
    }
}

async fn write_archive(
    images: &dyn ImageSource,
    image: &ResolvedImage,
    tag: &str,
    sink: &Sink,
) -> std::io::Result<()> {
    for dir in ["blobs/", "blobs/sha256/"] {
        sink.send(header(dir, 0, true)?).await?;
    }
    let mut seen = HashSet::new();
    for digest in std::iter::once(&image.config).chain(&image.layers) {
        if !seen.insert(digest.as_str()) {
            continue;
        }
        let blob = images
            .open_blob(image, digest)
            .await
            .map_err(|e| std::io::Error::other(format!("blob {digest}: {e}")))?;
        sink.send(header(&blob_path(digest), blob.size, false)?)
            .await?;
        let mut reader = blob.reader.take(blob.size);
        let mut sent = 0u64;
        loop {
            let mut buf = BytesMut::with_capacity(CHUNK);
            let n = reader.read_buf(&mut buf).await?;
            if n == 0 {
                break;
            }
            sent += n as u64;
            sink.send(buf.freeze()).await?;
        }
        if sent != blob.size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("blob {digest}: {sent} of {} bytes", blob.size),
            ));
        }
        sink.send(padding(blob.size)).await?;
    }
    let manifest = manifest_json(image, tag);
    let size = manifest.len() as u64;
    sink.send(header("manifest.json", size, false)?).await?;
    sink.send(Bytes::from(manifest)).await?;
    sink.send(padding(size)).await?;
    // The end of the archive: two zero blocks.
    sink.send(Bytes::from(vec![0u8; 2 * BLOCK as usize])).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use skyport_core::bus::{BlobReader, ImageError};

    struct Blobs;

    #[async_trait::async_trait]
    impl ImageSource for Blobs {
        async fn resolve(
            &self,
            _: &str,
            _: &str,
            _: &str,
            _: &str,
        ) -> Result<Option<ResolvedImage>, ImageError> {
            Ok(None)
        }

        async fn open_blob(
            &self,
            _: &ResolvedImage,
            digest: &str,
        ) -> Result<BlobReader, ImageError> {
            let bytes: Vec<u8> = match digest {
                "sha256:c" => b"{\"config\":1}".to_vec(),
                "sha256:l1" => vec![7u8; 1500],
                _ => return Err(ImageError::NotFound),
            };
            Ok(BlobReader {
                size: bytes.len() as u64,
                reader: Box::pin(std::io::Cursor::new(bytes)),
            })
        }
    }

    fn image(layers: &[&str]) -> ResolvedImage {
        ResolvedImage {
            account: "000000000000".to_owned(),
            region: "us-east-1".to_owned(),
            repository: "team/app".to_owned(),
            repository_uri: "r/team/app".to_owned(),
            digest: "sha256:m".to_owned(),
            manifest_digest: "sha256:m".to_owned(),
            manifest: Bytes::new(),
            media_type: String::new(),
            config: "sha256:c".to_owned(),
            layers: layers.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    async fn collect(image: ResolvedImage) -> Result<Vec<u8>, std::io::Error> {
        let mut stream = Box::pin(archive(
            Arc::new(Blobs),
            image,
            "skyport-ecr/team/app:m".into(),
        ));
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn the_archive_is_a_docker_save_tar_of_the_blobs() {
        let bytes = collect(image(&["sha256:l1", "sha256:l1"])).await.unwrap();
        assert_eq!(bytes.len() % 512, 0);
        let mut archive = tar::Archive::new(std::io::Cursor::new(bytes));
        let mut files = std::collections::BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            files.insert(path, data);
        }
        assert_eq!(files["blobs/sha256/l1"], vec![7u8; 1500]);
        assert_eq!(files["blobs/sha256/c"], b"{\"config\":1}");
        let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        assert_eq!(manifest[0]["Config"], "blobs/sha256/c");
        assert_eq!(manifest[0]["RepoTags"][0], "skyport-ecr/team/app:m");
        assert_eq!(
            manifest[0]["Layers"],
            serde_json::json!(["blobs/sha256/l1", "blobs/sha256/l1"])
        );
    }

    #[tokio::test]
    async fn a_missing_blob_ends_the_archive_with_an_error() {
        let error = collect(image(&["sha256:gone"])).await.unwrap_err();
        assert!(error.to_string().contains("sha256:gone"), "{error}");
    }
}

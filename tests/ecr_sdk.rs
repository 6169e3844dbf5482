//! ECR through the official `aws-sdk-ecr` crate (awsJson 1.1) against the real binary: repositories
//! (settings, tags, policies, AWS's errors), the layer upload API, PutImage with immutable tags,
//! DescribeImages/ListImages/BatchGetImage/BatchDeleteImage, lifecycle expiry, authorization tokens, and
//! the OCI registry at `/v2/` driven with curl (auth, chunked and monolithic uploads, bad digests,
//! ranges, manifests by tag and digest, tag pagination, mounts, referrers, deletes).

mod common;

use aws_credential_types::Credentials;
use aws_sdk_ecr::Client;
use aws_sdk_ecr::config::{BehaviorVersion, Region};
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::primitives::Blob;
use aws_sdk_ecr::types::{ImageIdentifier, ImageTagMutability, Tag};
use base64::Engine;
use common::{Options, Skyport, require, run};
use serde_json::Value;

fn client(endpoint: &str) -> Client {
    let config = aws_sdk_ecr::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    Client::from_conf(config)
}

fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    e.as_service_error()
        .and_then(|s| s.code())
        .unwrap_or("<none>")
        .to_owned()
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex(&sha2::Sha256::digest(bytes)))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A Docker v2 schema 2 manifest for `config` and `layers`.
fn manifest(config: &[u8], layers: &[&[u8]]) -> String {
    let layers: Vec<Value> = layers
        .iter()
        .map(|l| {
            serde_json::json!({"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "digest": sha(l), "size": l.len()})
        })
        .collect();
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": sha(config), "size": config.len()},
        "layers": layers,
    })
    .to_string()
}

/// Uploads a blob through the API (InitiateLayerUpload, two UploadLayerPart, CompleteLayerUpload).
async fn upload(ecr: &Client, repo: &str, bytes: &[u8]) {
    let id = ecr
        .initiate_layer_upload()
        .repository_name(repo)
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let mid = bytes.len() / 2;
    for (first, part) in [(0, &bytes[..mid]), (mid, &bytes[mid..])] {
        let out = ecr
            .upload_layer_part()
            .repository_name(repo)
            .upload_id(&id)
            .part_first_byte(first as i64)
            .part_last_byte((first + part.len()) as i64 - 1)
            .layer_part_blob(Blob::new(part))
            .send()
            .await
            .unwrap();
        assert_eq!(
            out.last_byte_received,
            Some((first + part.len()) as i64 - 1)
        );
    }
    let done = ecr
        .complete_layer_upload()
        .repository_name(repo)
        .upload_id(&id)
        .layer_digests(sha(bytes))
        .send()
        .await
        .unwrap();
    assert_eq!(done.layer_digest.as_deref(), Some(sha(bytes).as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repositories_images_and_their_errors() {
    // Repository URIs name LOCALSTACK_HOST (its port follows the gateway's, which is 0 in tests).
    let skyport = Skyport::start_with(
        Options::default().env("LOCALSTACK_HOST", "localhost.localstack.cloud:4566"),
    );
    let ecr = client(&skyport.endpoint());

    let created = ecr
        .create_repository()
        .repository_name("team/app")
        .image_tag_mutability(ImageTagMutability::Immutable)
        .tags(Tag::builder().key("env").value("dev").build().unwrap())
        .send()
        .await
        .unwrap()
        .repository
        .unwrap();
    assert_eq!(
        created.repository_uri.as_deref(),
        Some("000000000000.dkr.ecr.us-east-1.localhost.localstack.cloud:4566/team/app")
    );
    assert_eq!(
        created.repository_arn.as_deref(),
        Some("arn:aws:ecr:us-east-1:000000000000:repository/team/app")
    );
    assert_eq!(
        created
            .encryption_configuration
            .unwrap()
            .encryption_type
            .as_str(),
        "AES256"
    );
    let e = ecr
        .create_repository()
        .repository_name("team/app")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "RepositoryAlreadyExistsException");
    let e = ecr
        .create_repository()
        .repository_name("Bad Name")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    let e = ecr
        .describe_repositories()
        .repository_names("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "RepositoryNotFoundException");
    assert!(e.message().unwrap().contains("'missing'"), "{e:?}");
    for name in ["b-repo", "c-repo"] {
        ecr.create_repository()
            .repository_name(name)
            .send()
            .await
            .unwrap();
    }
    let page = ecr
        .describe_repositories()
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page.repositories().len(), 2);
    let rest = ecr
        .describe_repositories()
        .next_token(page.next_token.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.repositories().len(), 1);
    assert!(rest.next_token.is_none());

    // Tags and policies.
    let arn = created.repository_arn.unwrap();
    ecr.tag_resource()
        .resource_arn(&arn)
        .tags(Tag::builder().key("team").value("a").build().unwrap())
        .send()
        .await
        .unwrap();
    ecr.untag_resource()
        .resource_arn(&arn)
        .tag_keys("env")
        .send()
        .await
        .unwrap();
    let tags = ecr
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 1);
    assert_eq!(tags.tags()[0].key(), "team");
    let e = ecr
        .get_repository_policy()
        .repository_name("team/app")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "RepositoryPolicyNotFoundException");
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"all","Effect":"Allow","Principal":"*","Action":"ecr:*"}]}"#;
    ecr.set_repository_policy()
        .repository_name("team/app")
        .policy_text(policy)
        .send()
        .await
        .unwrap();
    let got = ecr
        .get_repository_policy()
        .repository_name("team/app")
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy_text.as_deref(), Some(policy));
    let e = ecr
        .set_repository_policy()
        .repository_name("team/app")
        .policy_text("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    ecr.delete_repository_policy()
        .repository_name("team/app")
        .send()
        .await
        .unwrap();

    // Layers through the API, then images.
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let layer1 = vec![1u8; 3000];
    let layer2 = vec![2u8; 5000];
    let layers = ecr
        .batch_check_layer_availability()
        .repository_name("team/app")
        .layer_digests(sha(&layer1))
        .send()
        .await
        .unwrap();
    assert_eq!(
        layers.failures()[0].failure_code.as_ref().unwrap().as_str(),
        "MissingLayerDigest"
    );
    let m1 = manifest(config, &[&layer1]);
    let e = ecr
        .put_image()
        .repository_name("team/app")
        .image_manifest(&m1)
        .image_tag("v1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "LayersNotFoundException");
    for blob in [&config[..], &layer1, &layer2] {
        upload(&ecr, "team/app", blob).await;
    }
    let e = ecr
        .complete_layer_upload()
        .repository_name("team/app")
        // A well-formed id (the model's pattern is a UUID) that names no upload.
        .upload_id("00000000-0000-4000-8000-000000000000")
        .layer_digests(sha(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "UploadNotFoundException");
    let available = ecr
        .batch_check_layer_availability()
        .repository_name("team/app")
        .layer_digests(sha(&layer1))
        .layer_digests(sha(&layer2))
        .send()
        .await
        .unwrap();
    assert_eq!(available.layers().len(), 2);
    assert_eq!(available.layers()[1].layer_size, Some(5000));

    let put = ecr
        .put_image()
        .repository_name("team/app")
        .image_manifest(&m1)
        .image_tag("v1")
        .send()
        .await
        .unwrap();
    let d1 = put.image.unwrap().image_id.unwrap().image_digest.unwrap();
    assert_eq!(d1, sha(m1.as_bytes()));
    let e = ecr
        .put_image()
        .repository_name("team/app")
        .image_manifest(&m1)
        .image_tag("v1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ImageAlreadyExistsException");
    let m2 = manifest(config, &[&layer1, &layer2]);
    let e = ecr
        .put_image()
        .repository_name("team/app")
        .image_manifest(&m2)
        .image_tag("v1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ImageTagAlreadyExistsException");
    let e = ecr
        .put_image()
        .repository_name("team/app")
        .image_manifest(&m2)
        .image_digest(sha(b"other"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ImageDigestDoesNotMatchException");
    ecr.put_image_tag_mutability()
        .repository_name("team/app")
        .image_tag_mutability(ImageTagMutability::Mutable)
        .send()
        .await
        .unwrap();
    for tag in ["v2", "latest"] {
        ecr.put_image()
            .repository_name("team/app")
            .image_manifest(&m2)
            .image_tag(tag)
            .send()
            .await
            .unwrap();
    }
    let d2 = sha(m2.as_bytes());

    let details = ecr
        .describe_images()
        .repository_name("team/app")
        .image_ids(ImageIdentifier::builder().image_tag("latest").build())
        .send()
        .await
        .unwrap();
    let d = &details.image_details()[0];
    assert_eq!(d.image_digest.as_deref(), Some(d2.as_str()));
    assert_eq!(d.image_tags(), ["v2", "latest"]);
    assert_eq!(d.image_size_in_bytes, Some(8000));
    assert!(d.image_pushed_at.is_some());
    assert_eq!(
        d.image_manifest_media_type.as_deref(),
        Some("application/vnd.docker.distribution.manifest.v2+json")
    );
    let e = ecr
        .describe_images()
        .repository_name("team/app")
        .image_ids(ImageIdentifier::builder().image_tag("nope").build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ImageNotFoundException");
    let page = ecr
        .list_images()
        .repository_name("team/app")
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page.image_ids().len(), 2);
    let rest = ecr
        .list_images()
        .repository_name("team/app")
        .next_token(page.next_token.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.image_ids().len(), 1);

    let got = ecr
        .batch_get_image()
        .repository_name("team/app")
        .image_ids(ImageIdentifier::builder().image_tag("v1").build())
        .image_ids(ImageIdentifier::builder().image_tag("gone").build())
        .send()
        .await
        .unwrap();
    assert_eq!(got.images()[0].image_manifest.as_deref(), Some(m1.as_str()));
    assert_eq!(
        got.failures()[0].failure_code.as_ref().unwrap().as_str(),
        "ImageNotFound"
    );

    let e = ecr
        .delete_repository()
        .repository_name("team/app")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "RepositoryNotEmptyException");
    let deleted = ecr
        .batch_delete_image()
        .repository_name("team/app")
        .image_ids(ImageIdentifier::builder().image_digest(&d1).build())
        .image_ids(
            ImageIdentifier::builder()
                .image_digest(sha(b"none"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.image_ids().len(), 1);
    assert_eq!(deleted.failures().len(), 1);

    // Lifecycle: keep the newest two images.
    let e = ecr
        .put_lifecycle_policy()
        .repository_name("team/app")
        .lifecycle_policy_text(r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}}]}"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let policy = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}}]}"#;
    ecr.put_lifecycle_policy()
        .repository_name("team/app")
        .lifecycle_policy_text(policy)
        .send()
        .await
        .unwrap();
    let mut digests = Vec::new();
    for i in 0..3u8 {
        let cfg = format!(r#"{{"architecture":"amd64","os":"linux","n":{i}}}"#);
        upload(&ecr, "team/app", cfg.as_bytes()).await;
        let m = manifest(cfg.as_bytes(), &[&layer1]);
        digests.push(sha(m.as_bytes()));
        ecr.put_image()
            .repository_name("team/app")
            .image_manifest(&m)
            .image_tag(format!("build-{i}"))
            .send()
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let left: Vec<String> = ecr
        .describe_images()
        .repository_name("team/app")
        .send()
        .await
        .unwrap()
        .image_details()
        .iter()
        .filter_map(|d| d.image_digest.clone())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(
        left.contains(&digests[1]) && left.contains(&digests[2]),
        "{left:?}"
    );
    let got = ecr
        .get_lifecycle_policy()
        .repository_name("team/app")
        .send()
        .await
        .unwrap();
    assert!(got.last_evaluated_at.is_some());
    ecr.delete_lifecycle_policy()
        .repository_name("team/app")
        .send()
        .await
        .unwrap();
    let e = ecr
        .get_lifecycle_policy()
        .repository_name("team/app")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "LifecyclePolicyNotFoundException");

    // Tokens.
    let auth = ecr.get_authorization_token().send().await.unwrap();
    let data = &auth.authorization_data()[0];
    let token = base64::engine::general_purpose::STANDARD
        .decode(data.authorization_token.as_ref().unwrap())
        .unwrap();
    assert!(String::from_utf8(token).unwrap().starts_with("AWS:"));
    assert_eq!(
        data.proxy_endpoint.as_deref(),
        Some("http://000000000000.dkr.ecr.us-east-1.localhost.localstack.cloud:4566")
    );
    let reg = ecr.describe_registry().send().await.unwrap();
    assert_eq!(reg.registry_id.as_deref(), Some("000000000000"));

    ecr.delete_repository()
        .repository_name("team/app")
        .force(true)
        .send()
        .await
        .unwrap();
    let e = ecr
        .list_images()
        .repository_name("team/app")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "RepositoryNotFoundException");
}

/// curl against the registry with the token's credentials; returns (status, headers, body).
fn curl(args: &[&str]) -> (u16, String, String) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-s", "-i", "--max-time", "20"]).args(args);
    let (_, out, err) = run(&mut cmd);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    // Skip a `100 Continue` head.
    let (head, body) = if head.starts_with("HTTP/1.1 100") {
        body.split_once("\r\n\r\n").unwrap_or((body, ""))
    } else {
        (head, body)
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {out} {err}"));
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map(str::trim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_follows_the_distribution_spec() {
    if !require("curl") {
        return;
    }
    // Repository URIs name LOCALSTACK_HOST (its port follows the gateway's, which is 0 in tests).
    let skyport = Skyport::start_with(
        Options::default().env("LOCALSTACK_HOST", "localhost.localstack.cloud:4566"),
    );
    let ecr = client(&skyport.endpoint());
    for name in ["spec/one", "spec/two"] {
        ecr.create_repository()
            .repository_name(name)
            .send()
            .await
            .unwrap();
    }
    let token = ecr
        .get_authorization_token()
        .send()
        .await
        .unwrap()
        .authorization_data()[0]
        .authorization_token
        .clone()
        .unwrap();
    let port = skyport.port();
    let host = "000000000000.dkr.ecr.us-east-1.localhost.localstack.cloud";
    let base = format!("http://{host}:{port}");
    let resolve = format!("{host}:{port}:127.0.0.1");
    let auth = format!("Authorization: Basic {token}");
    let req = |extra: &[&str]| {
        let mut args = vec!["--resolve", resolve.as_str(), "-H", auth.as_str()];
        args.extend_from_slice(extra);
        curl(&args)
    };

    // Authentication.
    let (status, head, body) = curl(&["--resolve", &resolve, &format!("{base}/v2/")]);
    assert_eq!(status, 401, "{body}");
    assert!(
        header(&head, "www-authenticate")
            .unwrap()
            .starts_with("basic realm=") // the head is lowercased
    );
    let (status, head, _) = req(&[&format!("{base}/v2/")]);
    assert_eq!(status, 200);
    assert_eq!(
        header(&head, "docker-distribution-api-version"),
        Some("registry/2.0")
    );
    let (status, _, body) = req(&[&format!("{base}/v2/nope/tags/list")]);
    assert_eq!(status, 404);
    assert!(body.contains("NAME_UNKNOWN"), "{body}");

    // A chunked upload: POST, two PATCHes, PUT with the digest.
    let blob = b"hello, registry: layer bytes".to_vec();
    let digest = sha(&blob);
    let (status, head, _) = req(&["-X", "POST", &format!("{base}/v2/spec/one/blobs/uploads/")]);
    assert_eq!(status, 202);
    let location = header(&head, "location").unwrap().to_owned();
    let (status, head, _) = req(&[
        "-X",
        "PATCH",
        "-H",
        "Content-Type: application/octet-stream",
        "-H",
        "Content-Range: 0-9",
        "--data-binary",
        std::str::from_utf8(&blob[..10]).unwrap(),
        &format!("{base}{location}"),
    ]);
    assert_eq!(status, 202);
    assert_eq!(header(&head, "range"), Some("0-9"));
    // A chunk out of order.
    let (status, _, body) = req(&[
        "-X",
        "PATCH",
        "-H",
        "Content-Range: 5-9",
        "--data-binary",
        "xxxxx",
        &format!("{base}{location}"),
    ]);
    assert_eq!(status, 416, "{body}");
    let (status, _, _) = req(&[
        "-X",
        "PATCH",
        "--data-binary",
        std::str::from_utf8(&blob[10..]).unwrap(),
        &format!("{base}{location}"),
    ]);
    assert_eq!(status, 202);
    let (status, head, _) = req(&["-X", "PUT", &format!("{base}{location}?digest={digest}")]);
    assert_eq!(status, 201);
    assert_eq!(
        header(&head, "docker-content-digest"),
        Some(digest.as_str())
    );
    let (status, head, _) = req(&["-I", &format!("{base}/v2/spec/one/blobs/{digest}")]);
    assert_eq!(status, 200);
    assert_eq!(
        header(&head, "content-length"),
        Some(blob.len().to_string().as_str())
    );
    let (status, head, body) = req(&[
        "-H",
        "Range: bytes=7-14",
        &format!("{base}/v2/spec/one/blobs/{digest}"),
    ]);
    assert_eq!(status, 206);
    assert_eq!(body, "registry");
    assert_eq!(
        header(&head, "content-range"),
        Some(format!("bytes 7-14/{}", blob.len()).as_str())
    );

    // A monolithic upload with a wrong digest leaves nothing; an unknown blob is BLOB_UNKNOWN.
    let wrong = sha(b"something else");
    let (status, _, body) = req(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        "config-bytes",
        &format!("{base}/v2/spec/one/blobs/uploads/?digest={wrong}"),
    ]);
    assert_eq!(status, 400);
    assert!(body.contains("DIGEST_INVALID"), "{body}");
    let (status, _, body) = req(&[&format!("{base}/v2/spec/one/blobs/{wrong}")]);
    assert_eq!(status, 404);
    assert!(body.contains("BLOB_UNKNOWN"), "{body}");
    let config = b"{\"architecture\":\"amd64\",\"os\":\"linux\"}".to_vec();
    let (status, _, _) = req(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        std::str::from_utf8(&config).unwrap(),
        &format!("{base}/v2/spec/one/blobs/uploads/?digest={}", sha(&config)),
    ]);
    assert_eq!(status, 201);

    // Manifests by tag and digest, content type preserved.
    let m = manifest(&config, &[&blob]);
    let md = sha(m.as_bytes());
    let ct = "Content-Type: application/vnd.docker.distribution.manifest.v2+json";
    let (status, head, body) = req(&[
        "-X",
        "PUT",
        "-H",
        ct,
        "--data-binary",
        &m,
        &format!("{base}/v2/spec/one/manifests/v1"),
    ]);
    assert_eq!(status, 201, "{body}");
    assert_eq!(header(&head, "docker-content-digest"), Some(md.as_str()));
    for tag in ["v2", "v3"] {
        let (status, _, _) = req(&[
            "-X",
            "PUT",
            "-H",
            ct,
            "--data-binary",
            &m,
            &format!("{base}/v2/spec/one/manifests/{tag}"),
        ]);
        assert_eq!(status, 201);
    }
    let (status, head, body) = req(&[&format!("{base}/v2/spec/one/manifests/{md}")]);
    assert_eq!(status, 200);
    assert_eq!(body, m);
    assert_eq!(
        header(&head, "content-type"),
        Some("application/vnd.docker.distribution.manifest.v2+json")
    );
    let missing_layer = manifest(&config, &[b"never uploaded"]);
    let (status, _, body) = req(&[
        "-X",
        "PUT",
        "-H",
        ct,
        "--data-binary",
        &missing_layer,
        &format!("{base}/v2/spec/one/manifests/bad"),
    ]);
    assert_eq!(status, 400);
    assert!(body.contains("MANIFEST_BLOB_UNKNOWN"), "{body}");
    let (status, _, body) = req(&[
        "-X",
        "PUT",
        "-H",
        ct,
        "--data-binary",
        &m,
        &format!("{base}/v2/spec/one/manifests/{}", sha(b"x")),
    ]);
    assert_eq!(status, 400);
    assert!(body.contains("DIGEST_INVALID"), "{body}");

    // Tag pagination.
    let (_, head, body) = req(&[&format!("{base}/v2/spec/one/tags/list?n=2")]);
    let tags: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["v1", "v2"]));
    assert!(header(&head, "link").unwrap().contains("last=v2"), "{head}");
    let (_, _, body) = req(&[&format!("{base}/v2/spec/one/tags/list?n=2&last=v2")]);
    let tags: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["v3"]));

    // A cross-repository mount.
    let (status, head, _) = req(&[
        "-X",
        "POST",
        &format!("{base}/v2/spec/two/blobs/uploads/?mount={digest}&from=spec/one"),
    ]);
    assert_eq!(status, 201);
    assert_eq!(
        header(&head, "docker-content-digest"),
        Some(digest.as_str())
    );
    let (status, _, _) = req(&["-I", &format!("{base}/v2/spec/two/blobs/{digest}")]);
    assert_eq!(status, 200);

    // Referrers: an OCI artifact whose subject is the image.
    let empty = b"{}".to_vec();
    req(&[
        "-X",
        "POST",
        "--data-binary",
        "{}",
        &format!("{base}/v2/spec/one/blobs/uploads/?digest={}", sha(&empty)),
    ]);
    let artifact = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.sbom",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha(&empty), "size": 2},
        "layers": [], "subject": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": md, "size": m.len()},
        "annotations": {"org.example": "sbom"}
    })
    .to_string();
    let (status, head, body) = req(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/vnd.oci.image.manifest.v1+json",
        "--data-binary",
        &artifact,
        &format!("{base}/v2/spec/one/manifests/{}", sha(artifact.as_bytes())),
    ]);
    assert_eq!(status, 201, "{body}");
    assert_eq!(header(&head, "oci-subject"), Some(md.as_str()));
    let (status, head, body) = req(&[&format!("{base}/v2/spec/one/referrers/{md}")]);
    assert_eq!(status, 200);
    assert_eq!(
        header(&head, "content-type"),
        Some("application/vnd.oci.image.index.v1+json")
    );
    let index: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/vnd.example.sbom"
    );
    assert_eq!(index["manifests"][0]["annotations"]["org.example"], "sbom");

    // Deletes: a tag, then the manifest by digest.
    let (status, _, _) = req(&["-X", "DELETE", &format!("{base}/v2/spec/one/manifests/v3")]);
    assert_eq!(status, 202);
    let (status, _, _) = req(&[&format!("{base}/v2/spec/one/manifests/v3")]);
    assert_eq!(status, 404);
    let (status, _, _) = req(&[
        "-X",
        "DELETE",
        &format!("{base}/v2/spec/one/manifests/{md}"),
    ]);
    assert_eq!(status, 202);
    let (status, _, body) = req(&[&format!("{base}/v2/spec/one/manifests/v1")]);
    assert_eq!(status, 404);
    assert!(body.contains("MANIFEST_UNKNOWN"), "{body}");
}

//! S3 through the official `aws-sdk-s3` Rust crate (default checksum behaviour: CRC32 sent in
//! aws-chunked trailers, response checksums validated) against the real binary: path style, and
//! virtual-host style on LocalStack names through a loopback-only DNS resolver given to the SDK.

mod common;

use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, ChecksumAlgorithm, ChecksumMode,
    CompletedMultipartUpload, CompletedPart, CreateBucketConfiguration, Delete, MetadataDirective,
    ObjectIdentifier, StorageClass, Tag, Tagging, VersioningConfiguration,
};
use common::{Options, Skyport};

fn client_in(endpoint: &str, region: &str) -> Client {
    let creds = Credentials::new("test", "test", None, None, "test");
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    Client::from_conf(config)
}

fn client(endpoint: &str) -> Client {
    client_in(endpoint, "us-east-1")
}

/// (HTTP status, error code) of a failed SDK call.
fn fail<E, R>(
    r: Result<R, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> (u16, String)
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let err = r.expect_err("the call should fail");
    let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    let code = err
        .as_service_error()
        .and_then(|e| e.code())
        .unwrap_or("")
        .to_owned();
    (status, code)
}

async fn body_of(out: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test]
async fn buckets_create_list_head_location_and_errors() {
    let skyport = Skyport::start();
    let s3 = client(&skyport.endpoint());
    s3.create_bucket().bucket("alpha-1").send().await.unwrap();
    // us-east-1 keeps its legacy behaviour: creating your own bucket again succeeds.
    s3.create_bucket().bucket("alpha-1").send().await.unwrap();
    for bad in [
        "ab",
        "Upper",
        "under_score",
        "-lead",
        "a..b",
        "192.168.5.4",
        "xn--punycode",
    ] {
        assert_eq!(
            fail(s3.create_bucket().bucket(bad).send().await),
            (400, "InvalidBucketName".to_owned()),
            "{bad}"
        );
    }
    // A location constraint must match the endpoint's region (the us-east-1 endpoint takes any
    // region: see s3_fidelity.rs).
    let cfg = |r: &str| {
        CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::from(r))
            .build()
    };
    assert_eq!(
        fail(
            client_in(&skyport.endpoint(), "eu-west-1")
                .create_bucket()
                .bucket("beta-1")
                .create_bucket_configuration(cfg("eu-central-1"))
                .send()
                .await
        ),
        (400, "IllegalLocationConstraintException".to_owned())
    );
    assert_eq!(
        fail(
            s3.create_bucket()
                .bucket("beta-1")
                .create_bucket_configuration(cfg("us-east-1"))
                .send()
                .await
        ),
        (400, "InvalidLocationConstraint".to_owned())
    );
    assert_eq!(
        fail(
            s3.create_bucket()
                .bucket("beta-1")
                .create_bucket_configuration(cfg("not-a-region"))
                .send()
                .await
        ),
        (400, "InvalidLocationConstraint".to_owned())
    );
    let eu = client_in(&skyport.endpoint(), "eu-west-1");
    assert_eq!(
        fail(eu.create_bucket().bucket("beta-1").send().await),
        (400, "IllegalLocationConstraintException".to_owned())
    );
    eu.create_bucket()
        .bucket("beta-1")
        .create_bucket_configuration(cfg("eu-west-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        fail(
            eu.create_bucket()
                .bucket("beta-1")
                .create_bucket_configuration(cfg("eu-west-1"))
                .send()
                .await
        ),
        (409, "BucketAlreadyOwnedByYou".to_owned())
    );
    let head = s3.head_bucket().bucket("beta-1").send().await.unwrap();
    assert_eq!(head.bucket_region(), Some("eu-west-1"));
    assert_eq!(
        fail(s3.head_bucket().bucket("missing-1").send().await).0,
        404
    );
    let loc = s3
        .get_bucket_location()
        .bucket("beta-1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        loc.location_constraint().map(|c| c.as_str()),
        Some("eu-west-1")
    );
    let loc = s3
        .get_bucket_location()
        .bucket("alpha-1")
        .send()
        .await
        .unwrap();
    assert!(
        loc.location_constraint()
            .is_none_or(|c| c.as_str().is_empty())
    );

    for n in ["gamma-1", "gamma-2", "gamma-3"] {
        s3.create_bucket().bucket(n).send().await.unwrap();
    }
    let all = s3.list_buckets().send().await.unwrap();
    let names: Vec<&str> = all.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(
        names,
        ["alpha-1", "beta-1", "gamma-1", "gamma-2", "gamma-3"]
    );
    assert_eq!(all.buckets()[1].bucket_region(), Some("eu-west-1"));
    assert!(all.owner().and_then(|o| o.id()).is_some());
    let page = s3
        .list_buckets()
        .prefix("gamma")
        .max_buckets(2)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = page.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["gamma-1", "gamma-2"]);
    let token = page
        .continuation_token()
        .expect("a continuation token")
        .to_owned();
    let page = s3
        .list_buckets()
        .prefix("gamma")
        .max_buckets(2)
        .continuation_token(token)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = page.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["gamma-3"]);
    assert!(page.continuation_token().is_none());

    // Not empty, then empty.
    s3.put_object()
        .bucket("gamma-1")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        fail(s3.delete_bucket().bucket("gamma-1").send().await),
        (409, "BucketNotEmpty".to_owned())
    );
    s3.delete_object()
        .bucket("gamma-1")
        .key("k")
        .send()
        .await
        .unwrap();
    s3.delete_bucket().bucket("gamma-1").send().await.unwrap();
    assert_eq!(
        fail(s3.delete_bucket().bucket("gamma-1").send().await),
        (404, "NoSuchBucket".to_owned())
    );
    assert_eq!(
        fail(
            s3.put_object()
                .bucket("gamma-1")
                .key("k")
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        (404, "NoSuchBucket".to_owned())
    );
}

#[tokio::test]
async fn objects_metadata_ranges_conditionals_checksums() {
    let skyport = Skyport::start();
    let s3 = client(&skyport.endpoint());
    s3.create_bucket().bucket("objs").send().await.unwrap();
    let put = s3
        .put_object()
        .bucket("objs")
        .key("dir/hello.txt")
        .body(ByteStream::from_static(b"hello world"))
        .content_type("text/plain")
        .content_encoding("identity")
        .content_disposition("attachment; filename=\"h.txt\"")
        .content_language("en")
        .cache_control("max-age=60")
        .metadata("color", "blue")
        .metadata("Owner-Name", "Ann")
        .storage_class(StorageClass::StandardIa)
        .tagging("a=1&b=two%20words")
        .send()
        .await
        .unwrap();
    assert_eq!(put.e_tag(), Some("\"5eb63bbbe01eeed093cb22bb8f5acdc3\""));
    // The SDK sent a CRC32 by default; S3 answers with it.
    assert_eq!(put.checksum_crc32(), Some("DUoRhQ=="));
    assert_eq!(
        put.server_side_encryption().map(|s| s.as_str()),
        Some("AES256")
    );

    let got = s3
        .get_object()
        .bucket("objs")
        .key("dir/hello.txt")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(got.content_encoding(), Some("identity"));
    assert_eq!(
        got.content_disposition(),
        Some("attachment; filename=\"h.txt\"")
    );
    assert_eq!(got.content_language(), Some("en"));
    assert_eq!(got.cache_control(), Some("max-age=60"));
    assert_eq!(got.content_length(), Some(11));
    assert_eq!(got.checksum_crc32(), Some("DUoRhQ=="));
    assert_eq!(got.storage_class().map(|s| s.as_str()), Some("STANDARD_IA"));
    assert_eq!(got.tag_count(), Some(2));
    let meta = got.metadata().unwrap();
    assert_eq!(meta.get("color").map(String::as_str), Some("blue"));
    assert_eq!(meta.get("owner-name").map(String::as_str), Some("Ann"));
    let last_modified = *got.last_modified().unwrap();
    assert_eq!(body_of(got).await, b"hello world");

    // Ranges.
    let part = s3
        .get_object()
        .bucket("objs")
        .key("dir/hello.txt")
        .range("bytes=6-")
        .send()
        .await
        .unwrap();
    assert_eq!(part.content_range(), Some("bytes 6-10/11"));
    assert_eq!(body_of(part).await, b"world");
    let part = s3
        .get_object()
        .bucket("objs")
        .key("dir/hello.txt")
        .range("bytes=-3")
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(part).await, b"rld");
    assert_eq!(
        fail(
            s3.get_object()
                .bucket("objs")
                .key("dir/hello.txt")
                .range("bytes=11-20")
                .send()
                .await
        ),
        (416, "InvalidRange".to_owned())
    );
    // Several ranges: S3 serves none of them, it answers 200 with the whole object and no
    // Content-Range (also when one of the ranges lies past the end).
    for ranges in ["bytes=0-4,6-10", "bytes=0-1,100-200"] {
        let whole = s3
            .get_object()
            .bucket("objs")
            .key("dir/hello.txt")
            .range(ranges)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(whole.content_range(), None, "{ranges}");
        assert_eq!(whole.content_length(), Some(11), "{ranges}");
        assert_eq!(whole.accept_ranges(), Some("bytes"), "{ranges}");
        assert_eq!(whole.checksum_crc32(), Some("DUoRhQ=="), "{ranges}");
        assert_eq!(body_of(whole).await, b"hello world", "{ranges}");
    }

    // Conditionals.
    let etag = "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"";
    s3.get_object()
        .bucket("objs")
        .key("dir/hello.txt")
        .if_match(etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        fail(
            s3.get_object()
                .bucket("objs")
                .key("dir/hello.txt")
                .if_match("\"nope\"")
                .send()
                .await
        ),
        (412, "PreconditionFailed".to_owned())
    );
    assert_eq!(
        fail(
            s3.get_object()
                .bucket("objs")
                .key("dir/hello.txt")
                .if_none_match(etag)
                .send()
                .await
        )
        .0,
        304
    );
    assert_eq!(
        fail(
            s3.head_object()
                .bucket("objs")
                .key("dir/hello.txt")
                .if_modified_since(last_modified)
                .send()
                .await
        )
        .0,
        304
    );
    let before = aws_sdk_s3::primitives::DateTime::from_secs(last_modified.secs() - 3600);
    assert_eq!(
        fail(
            s3.get_object()
                .bucket("objs")
                .key("dir/hello.txt")
                .if_unmodified_since(before)
                .send()
                .await
        ),
        (412, "PreconditionFailed".to_owned())
    );
    // If-None-Match: * on PUT refuses to overwrite.
    assert_eq!(
        fail(
            s3.put_object()
                .bucket("objs")
                .key("dir/hello.txt")
                .if_none_match("*")
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        (412, "PreconditionFailed".to_owned())
    );
    s3.put_object()
        .bucket("objs")
        .key("fresh")
        .if_none_match("*")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();

    // response-* overrides.
    let got = s3
        .get_object()
        .bucket("objs")
        .key("dir/hello.txt")
        .response_content_type("application/x-test")
        .response_cache_control("no-store")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(got.cache_control(), Some("no-store"));

    // Explicit algorithms.
    for (alg, expect) in [
        (ChecksumAlgorithm::Crc32C, "yZRlqg=="),
        (
            ChecksumAlgorithm::Sha256,
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
        ),
        (ChecksumAlgorithm::Sha1, "Kq5sNclPz7QV2+lfQIuc6R7oRu0="),
        (ChecksumAlgorithm::Crc64Nvme, "jSnVw/bqjr4="),
    ] {
        let key = format!("alg-{}", alg.as_str());
        s3.put_object()
            .bucket("objs")
            .key(&key)
            .checksum_algorithm(alg.clone())
            .body(ByteStream::from_static(b"hello world"))
            .send()
            .await
            .unwrap();
        let head = s3
            .head_object()
            .bucket("objs")
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        let value = head
            .checksum_crc32_c()
            .or(head.checksum_sha256())
            .or(head.checksum_sha1())
            .or(head.checksum_crc64_nvme());
        assert_eq!(value, Some(expect), "{alg:?}");
    }
    // A wrong declared checksum or Content-MD5 is refused.
    assert_eq!(
        fail(
            s3.put_object()
                .bucket("objs")
                .key("bad")
                .checksum_sha256("uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=")
                .body(ByteStream::from_static(b"other"))
                .send()
                .await
        ),
        (400, "BadDigest".to_owned())
    );
    assert_eq!(
        fail(
            s3.put_object()
                .bucket("objs")
                .key("bad")
                .content_md5("1B2M2Y8AsgTpgAmY7PhCfg==")
                .body(ByteStream::from_static(b"other"))
                .send()
                .await
        ),
        (400, "BadDigest".to_owned())
    );
    assert_eq!(
        fail(
            s3.put_object()
                .bucket("objs")
                .key("bad")
                .content_md5("not-md5")
                .body(ByteStream::from_static(b"other"))
                .send()
                .await
        ),
        (400, "InvalidDigest".to_owned())
    );
    assert_eq!(
        fail(s3.get_object().bucket("objs").key("bad").send().await),
        (404, "NoSuchKey".to_owned())
    );

    // Tagging.
    let tags = s3
        .get_object_tagging()
        .bucket("objs")
        .key("dir/hello.txt")
        .send()
        .await
        .unwrap();
    let pairs: Vec<(&str, &str)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    assert_eq!(pairs, [("a", "1"), ("b", "two words")]);
    s3.put_object_tagging()
        .bucket("objs")
        .key("dir/hello.txt")
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("k").value("v").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let tags = s3
        .get_object_tagging()
        .bucket("objs")
        .key("dir/hello.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set().len(), 1);

    // Copy: metadata kept (COPY) or replaced (REPLACE); conditional copy.
    s3.copy_object()
        .bucket("objs")
        .key("copy1")
        .copy_source("objs/dir/hello.txt")
        .send()
        .await
        .unwrap();
    let h = s3
        .head_object()
        .bucket("objs")
        .key("copy1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.metadata().unwrap().get("color").map(String::as_str),
        Some("blue")
    );
    assert_eq!(h.e_tag(), Some(etag));
    s3.copy_object()
        .bucket("objs")
        .key("copy2")
        .copy_source("objs/dir/hello.txt")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("new", "yes")
        .content_type("application/json")
        .send()
        .await
        .unwrap();
    let h = s3
        .head_object()
        .bucket("objs")
        .key("copy2")
        .send()
        .await
        .unwrap();
    assert_eq!(h.metadata().unwrap().get("color"), None);
    assert_eq!(
        h.metadata().unwrap().get("new").map(String::as_str),
        Some("yes")
    );
    assert_eq!(h.content_type(), Some("application/json"));
    assert_eq!(
        fail(
            s3.copy_object()
                .bucket("objs")
                .key("copy3")
                .copy_source("objs/dir/hello.txt")
                .copy_source_if_match("\"zzz\"")
                .send()
                .await
        ),
        (412, "PreconditionFailed".to_owned())
    );
    assert_eq!(
        fail(
            s3.copy_object()
                .bucket("objs")
                .key("copy1")
                .copy_source("objs/copy1")
                .send()
                .await
        ),
        (400, "InvalidRequest".to_owned())
    );
    assert_eq!(
        fail(
            s3.copy_object()
                .bucket("objs")
                .key("copy3")
                .copy_source("objs/missing")
                .send()
                .await
        ),
        (404, "NoSuchKey".to_owned())
    );

    // DeleteObjects.
    let ids = ["copy1", "copy2", "never-existed"]
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect::<Vec<_>>();
    let out = s3
        .delete_objects()
        .bucket("objs")
        .delete(Delete::builder().set_objects(Some(ids)).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.deleted().len(), 3);
    assert!(out.errors().is_empty());
    assert_eq!(
        fail(s3.head_object().bucket("objs").key("copy1").send().await).0,
        404
    );
}

#[tokio::test]
async fn listing_v1_v2_delimiters_pagination_and_encoding() {
    let skyport = Skyport::start();
    let s3 = client(&skyport.endpoint());
    s3.create_bucket().bucket("lists").send().await.unwrap();
    let keys = [
        "a/1",
        "a/2",
        "a/b/3",
        "b/1",
        "c",
        "d e+f",
        "z/\u{e9}t\u{e9}",
    ];
    for k in keys {
        s3.put_object()
            .bucket("lists")
            .key(k)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let all = s3.list_objects_v2().bucket("lists").send().await.unwrap();
    let got: Vec<&str> = all.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, keys);
    assert_eq!(all.key_count(), Some(7));
    assert!(all.contents()[0].owner().is_none());

    let top = s3
        .list_objects_v2()
        .bucket("lists")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let got: Vec<&str> = top.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, ["c", "d e+f"]);
    let prefixes: Vec<&str> = top
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["a/", "b/", "z/"]);

    let sub = s3
        .list_objects_v2()
        .bucket("lists")
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let got: Vec<&str> = sub.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, ["a/1", "a/2"]);
    assert_eq!(sub.common_prefixes()[0].prefix(), Some("a/b/"));

    // Pagination with continuation tokens, counting common prefixes as entries.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket("lists")
            .delimiter("/")
            .max_keys(2)
            .set_continuation_token(token.clone())
            .fetch_owner(true)
            .send()
            .await
            .unwrap();
        for o in page.contents() {
            assert!(o.owner().is_some());
            seen.push(o.key().unwrap().to_owned());
        }
        for p in page.common_prefixes() {
            seen.push(p.prefix().unwrap().to_owned());
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
    seen.sort();
    assert_eq!(seen, ["a/", "b/", "c", "d e+f", "z/"]);

    let after = s3
        .list_objects_v2()
        .bucket("lists")
        .start_after("b/1")
        .send()
        .await
        .unwrap();
    let got: Vec<&str> = after.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, ["c", "d e+f", "z/\u{e9}t\u{e9}"]);

    // v1 with markers.
    let v1 = s3
        .list_objects()
        .bucket("lists")
        .max_keys(3)
        .send()
        .await
        .unwrap();
    assert_eq!(v1.is_truncated(), Some(true));
    assert_eq!(v1.contents().len(), 3);
    assert!(v1.contents()[0].owner().is_some());
    let v1 = s3
        .list_objects()
        .bucket("lists")
        .marker("a/b/3")
        .send()
        .await
        .unwrap();
    let got: Vec<&str> = v1.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, ["b/1", "c", "d e+f", "z/\u{e9}t\u{e9}"]);
    let v1 = s3
        .list_objects()
        .bucket("lists")
        .delimiter("/")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    assert_eq!(v1.next_marker(), Some("a/"));
    let v1 = s3
        .list_objects()
        .bucket("lists")
        .delimiter("/")
        .marker("a/")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    assert_eq!(v1.common_prefixes()[0].prefix(), Some("b/"));

    // max-keys=0 and a missing bucket.
    let zero = s3
        .list_objects_v2()
        .bucket("lists")
        .max_keys(0)
        .send()
        .await
        .unwrap();
    assert!(zero.contents().is_empty());
    assert_eq!(
        fail(s3.list_objects_v2().bucket("nope-nope").send().await),
        (404, "NoSuchBucket".to_owned())
    );
}

#[tokio::test]
async fn versioning_delete_markers_and_version_reads() {
    let skyport = Skyport::start();
    let s3 = client(&skyport.endpoint());
    s3.create_bucket().bucket("vers").send().await.unwrap();
    let v = s3
        .get_bucket_versioning()
        .bucket("vers")
        .send()
        .await
        .unwrap();
    assert!(v.status().is_none());
    s3.put_bucket_versioning()
        .bucket("vers")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let v = s3
        .get_bucket_versioning()
        .bucket("vers")
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    let v1 = s3
        .put_object()
        .bucket("vers")
        .key("doc")
        .body(ByteStream::from_static(b"one"))
        .send()
        .await
        .unwrap();
    let v2 = s3
        .put_object()
        .bucket("vers")
        .key("doc")
        .body(ByteStream::from_static(b"two"))
        .send()
        .await
        .unwrap();
    let id1 = v1.version_id().unwrap().to_owned();
    let id2 = v2.version_id().unwrap().to_owned();
    assert_ne!(id1, id2);
    let old = s3
        .get_object()
        .bucket("vers")
        .key("doc")
        .version_id(&id1)
        .send()
        .await
        .unwrap();
    assert_eq!(old.version_id(), Some(id1.as_str()));
    assert_eq!(body_of(old).await, b"one");
    let del = s3
        .delete_object()
        .bucket("vers")
        .key("doc")
        .send()
        .await
        .unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    let marker = del.version_id().unwrap().to_owned();
    assert_eq!(
        fail(s3.get_object().bucket("vers").key("doc").send().await),
        (404, "NoSuchKey".to_owned())
    );
    let listed = s3
        .list_object_versions()
        .bucket("vers")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.versions().len(), 2);
    assert_eq!(listed.delete_markers().len(), 1);
    assert_eq!(listed.delete_markers()[0].is_latest(), Some(true));
    assert_eq!(listed.versions()[0].version_id(), Some(id2.as_str()));
    assert!(
        s3.list_objects_v2()
            .bucket("vers")
            .send()
            .await
            .unwrap()
            .contents()
            .is_empty()
    );
    // Removing the marker brings the object back.
    s3.delete_object()
        .bucket("vers")
        .key("doc")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    let now = s3
        .get_object()
        .bucket("vers")
        .key("doc")
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(now).await, b"two");
    assert_eq!(
        fail(
            s3.get_object()
                .bucket("vers")
                .key("doc")
                .version_id("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
                .send()
                .await
        ),
        (404, "NoSuchVersion".to_owned())
    );
    // Paginating versions one at a time.
    let page = s3
        .list_object_versions()
        .bucket("vers")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    assert_eq!(page.is_truncated(), Some(true));
    let page2 = s3
        .list_object_versions()
        .bucket("vers")
        .max_keys(1)
        .key_marker(page.next_key_marker().unwrap())
        .version_id_marker(page.next_version_id_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page2.versions()[0].version_id(), Some(id1.as_str()));
}

#[tokio::test]
async fn multipart_complete_errors_copy_and_listing() {
    let skyport = Skyport::start();
    let s3 = client(&skyport.endpoint());
    s3.create_bucket().bucket("mpu").send().await.unwrap();
    let five = vec![b'a'; 5 * 1024 * 1024];
    let up = s3
        .create_multipart_upload()
        .bucket("mpu")
        .key("big")
        .content_type("text/x")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let p1 = s3
        .upload_part()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(five.clone()))
        .send()
        .await
        .unwrap();
    let p2 = s3
        .upload_part()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .part_number(2)
        .body(ByteStream::from_static(b"tail"))
        .send()
        .await
        .unwrap();
    let p3 = s3
        .upload_part()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .part_number(3)
        .body(ByteStream::from_static(b"small"))
        .send()
        .await
        .unwrap();
    let part = |n: i32, e: &Option<String>| {
        CompletedPart::builder()
            .part_number(n)
            .set_e_tag(e.clone())
            .build()
    };
    let e1 = p1.e_tag().map(str::to_owned);
    let e2 = p2.e_tag().map(str::to_owned);
    let e3 = p3.e_tag().map(str::to_owned);

    let parts = s3
        .list_parts()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(parts.parts().len(), 3);
    assert_eq!(parts.parts()[1].size(), Some(4));
    let uploads = s3
        .list_multipart_uploads()
        .bucket("mpu")
        .send()
        .await
        .unwrap();
    assert_eq!(uploads.uploads()[0].upload_id(), Some(id.as_str()));

    let complete = |parts: Vec<CompletedPart>| {
        s3.complete_multipart_upload()
            .bucket("mpu")
            .key("big")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
    };
    assert_eq!(
        fail(complete(vec![part(2, &e2), part(1, &e1)]).await),
        (400, "InvalidPartOrder".to_owned())
    );
    assert_eq!(
        fail(
            complete(vec![part(
                1,
                &Some("\"00000000000000000000000000000000\"".into())
            )])
            .await
        ),
        (400, "InvalidPart".to_owned())
    );
    assert_eq!(
        fail(complete(vec![part(1, &e1), part(2, &e2), part(3, &e3)]).await),
        (400, "EntityTooSmall".to_owned())
    );
    let done = complete(vec![part(1, &e1), part(2, &e2)]).await.unwrap();
    assert!(
        done.e_tag().unwrap().ends_with("-2\""),
        "{:?}",
        done.e_tag()
    );
    let got = s3
        .get_object()
        .bucket("mpu")
        .key("big")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_length(), Some(5 * 1024 * 1024 + 4));
    assert_eq!(got.content_type(), Some("text/x"));
    let data = body_of(got).await;
    assert!(data[..five.len()] == five[..] && &data[five.len()..] == b"tail");
    let p2_only = s3
        .get_object()
        .bucket("mpu")
        .key("big")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(p2_only.parts_count(), Some(2));
    assert_eq!(body_of(p2_only).await, b"tail");
    assert_eq!(
        fail(complete(vec![part(1, &e1)]).await),
        (404, "NoSuchUpload".to_owned())
    );

    // Composite SHA256 checksums; part copy with a range; abort.
    let up = s3
        .create_multipart_upload()
        .bucket("mpu")
        .key("copied")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    let id2 = up.upload_id().unwrap().to_owned();
    let c1 = s3
        .upload_part_copy()
        .bucket("mpu")
        .key("copied")
        .upload_id(&id2)
        .part_number(1)
        .copy_source("mpu/big")
        .copy_source_range(format!("bytes=0-{}", 5 * 1024 * 1024 - 1))
        .send()
        .await
        .unwrap();
    let cr = c1.copy_part_result().unwrap();
    let p2 = s3
        .upload_part()
        .bucket("mpu")
        .key("copied")
        .upload_id(&id2)
        .part_number(2)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from_static(b"end"))
        .send()
        .await
        .unwrap();
    let done = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("copied")
        .upload_id(&id2)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .set_e_tag(cr.e_tag().map(str::to_owned))
                        .set_checksum_sha256(cr.checksum_sha256().map(str::to_owned))
                        .build(),
                )
                .parts(
                    CompletedPart::builder()
                        .part_number(2)
                        .set_e_tag(p2.e_tag().map(str::to_owned))
                        .set_checksum_sha256(p2.checksum_sha256().map(str::to_owned))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(done.checksum_sha256().unwrap().ends_with("-2"));
    let got = s3
        .get_object()
        .bucket("mpu")
        .key("copied")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_length(), Some(5 * 1024 * 1024 + 3));

    let up = s3
        .create_multipart_upload()
        .bucket("mpu")
        .key("gone")
        .send()
        .await
        .unwrap();
    let id3 = up.upload_id().unwrap();
    s3.abort_multipart_upload()
        .bucket("mpu")
        .key("gone")
        .upload_id(id3)
        .send()
        .await
        .unwrap();
    assert_eq!(
        fail(
            s3.list_parts()
                .bucket("mpu")
                .key("gone")
                .upload_id(id3)
                .send()
                .await
        ),
        (404, "NoSuchUpload".to_owned())
    );
    assert_eq!(
        fail(
            s3.upload_part()
                .bucket("mpu")
                .key("gone")
                .upload_id(id3)
                .part_number(1)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        (404, "NoSuchUpload".to_owned())
    );
}

#[tokio::test]
async fn hostile_keys_round_trip_and_stay_inside_the_state_dir() {
    let skyport = Skyport::start_with(Options::default().env("PERSISTENCE", "1"));
    let s3 = client(&skyport.endpoint());
    s3.create_bucket().bucket("keys").send().await.unwrap();
    let long: String = "\u{e9}".repeat(512); // 1024 bytes of UTF-8
    let keys = [
        "../../etc/passwd",
        "a//b/",
        "trailing/",
        "%2F%00literal",
        "plus+and space",
        "/leading",
        "..",
        "\u{1F600}/\u{4e2d}\u{6587}",
        long.as_str(),
    ];
    for k in keys {
        s3.put_object()
            .bucket("keys")
            .key(k)
            .body(ByteStream::from(k.as_bytes().to_vec()))
            .send()
            .await
            .unwrap();
    }
    for k in keys {
        let got = s3.get_object().bucket("keys").key(k).send().await.unwrap();
        assert_eq!(body_of(got).await, k.as_bytes(), "{k}");
    }
    let listed = s3.list_objects_v2().bucket("keys").send().await.unwrap();
    let mut expected: Vec<&str> = keys.to_vec();
    expected.sort();
    let got: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, expected);
    let too_long = "x".repeat(1025);
    assert_eq!(
        fail(
            s3.put_object()
                .bucket("keys")
                .key(too_long)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        (400, "KeyTooLongError".to_owned())
    );
    // Every file lives under the state directory, none is named after a key.
    let mut names = Vec::new();
    walk(&skyport.state_dir, &mut names);
    assert!(
        names
            .iter()
            .all(|n| !n.contains("passwd") && !n.contains("literal"))
    );
    assert!(!skyport.state_dir.parent().unwrap().join("etc").exists());
}

fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        out.push(e.file_name().to_string_lossy().into_owned());
        if e.file_type().unwrap().is_dir() {
            walk(&e.path(), out);
        }
    }
}

#[tokio::test]
async fn presigned_get_and_put_work_with_curl() {
    if !common::require("curl") {
        return;
    }
    let skyport = Skyport::start();
    let s3 = client(&skyport.endpoint());
    s3.create_bucket().bucket("presign").send().await.unwrap();
    let cfg =
        aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(300))
            .unwrap();
    let put = s3
        .put_object()
        .bucket("presign")
        .key("p/q.txt")
        .presigned(cfg.clone())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.txt");
    std::fs::write(&file, b"via presigned url").unwrap();
    let (status, out, err) = common::run(
        std::process::Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-X",
                "PUT",
                "--upload-file",
            ])
            .arg(&file)
            .arg(put.uri()),
    );
    assert!(status.success(), "{err}");
    assert_eq!(out, "200");
    let get = s3
        .get_object()
        .bucket("presign")
        .key("p/q.txt")
        .presigned(cfg)
        .await
        .unwrap();
    let (status, out, err) = common::run(
        std::process::Command::new("curl")
            .args(["-sS"])
            .arg(get.uri()),
    );
    assert!(status.success(), "{err}");
    assert_eq!(out, "via presigned url");
}

/// Answers 127.0.0.1 for every name, so virtual-host requests reach the test's Skyport without the
/// system resolver.
#[derive(Debug, Clone, Default)]
struct Loopback(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl aws_smithy_runtime_api::client::dns::ResolveDns for Loopback {
    fn resolve_dns<'a>(
        &'a self,
        name: &'a str,
    ) -> aws_smithy_runtime_api::client::dns::DnsFuture<'a> {
        self.0.lock().unwrap().push(name.to_owned());
        aws_smithy_runtime_api::client::dns::DnsFuture::ready(Ok(vec![std::net::IpAddr::V4(
            std::net::Ipv4Addr::LOCALHOST,
        )]))
    }
}

#[tokio::test]
async fn virtual_host_style_on_localstack_names_without_an_s3_label() {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let skyport = Skyport::start();
    for (endpoint, expect_host) in [
        // botocore-style: `<bucket>.localhost.localstack.cloud` (no `s3` label).
        (
            format!("http://localhost.localstack.cloud:{}", skyport.port()),
            "vhost-a.localhost.localstack.cloud",
        ),
        (
            format!("http://s3.localhost.localstack.cloud:{}", skyport.port()),
            "vhost-a.s3.localhost.localstack.cloud",
        ),
    ] {
        let resolver = Loopback::default();
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .build_with_resolver(resolver.clone());
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .http_client(http_client)
            .build();
        let s3 = Client::from_conf(config);
        s3.create_bucket().bucket("vhost-a").send().await.unwrap();
        s3.put_object()
            .bucket("vhost-a")
            .key("k/v.txt")
            .body(ByteStream::from_static(b"virtual"))
            .send()
            .await
            .unwrap();
        let got = s3
            .get_object()
            .bucket("vhost-a")
            .key("k/v.txt")
            .send()
            .await
            .unwrap();
        assert_eq!(body_of(got).await, b"virtual");
        let listed = s3.list_objects_v2().bucket("vhost-a").send().await.unwrap();
        assert_eq!(listed.key_count(), Some(1));
        assert!(
            resolver.0.lock().unwrap().iter().any(|n| n == expect_host),
            "{:?}",
            resolver.0.lock().unwrap()
        );
        s3.delete_object()
            .bucket("vhost-a")
            .key("k/v.txt")
            .send()
            .await
            .unwrap();
        s3.delete_bucket().bucket("vhost-a").send().await.unwrap();
    }
}

#[tokio::test]
async fn object_lock_configuration_retention_legal_hold_and_protected_deletes() {
    use aws_sdk_s3::primitives::DateTime;
    use aws_sdk_s3::types::{
        DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHold,
        ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode,
        ObjectLockRule,
    };
    let skyport = Skyport::start();
    let s3 = client(&skyport.endpoint());
    let in_secs = |s: i64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        DateTime::from_secs(now + s)
    };

    // A bucket without Object Lock: no configuration, lock operations refused.
    s3.create_bucket().bucket("plain").send().await.unwrap();
    s3.put_object()
        .bucket("plain")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        fail(
            s3.get_object_lock_configuration()
                .bucket("plain")
                .send()
                .await
        ),
        (404, "ObjectLockConfigurationNotFoundError".to_owned())
    );
    assert_eq!(
        fail(
            s3.get_object_retention()
                .bucket("plain")
                .key("k")
                .send()
                .await
        ),
        (400, "InvalidRequest".to_owned())
    );
    assert_eq!(
        fail(
            s3.put_object_legal_hold()
                .bucket("plain")
                .key("k")
                .legal_hold(
                    ObjectLockLegalHold::builder()
                        .status(ObjectLockLegalHoldStatus::On)
                        .build()
                )
                .send()
                .await
        ),
        (400, "InvalidRequest".to_owned())
    );
    assert_eq!(
        fail(
            s3.put_object()
                .bucket("plain")
                .key("k2")
                .object_lock_mode(ObjectLockMode::Governance)
                .object_lock_retain_until_date(in_secs(3600))
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        (400, "InvalidRequest".to_owned())
    );
    let enable = ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .build();
    // Enabling Object Lock later needs versioning enabled first.
    assert_eq!(
        fail(
            s3.put_object_lock_configuration()
                .bucket("plain")
                .object_lock_configuration(enable.clone())
                .send()
                .await
        ),
        (409, "InvalidBucketState".to_owned())
    );
    s3.put_bucket_versioning()
        .bucket("plain")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.put_object_lock_configuration()
        .bucket("plain")
        .object_lock_configuration(enable)
        .send()
        .await
        .unwrap();
    let cfg = s3
        .get_object_lock_configuration()
        .bucket("plain")
        .send()
        .await
        .unwrap();
    let cfg = cfg.object_lock_configuration().unwrap();
    assert_eq!(cfg.object_lock_enabled(), Some(&ObjectLockEnabled::Enabled));
    assert!(cfg.rule().is_none());

    // Created with Object Lock: versioning is on and cannot be suspended.
    s3.create_bucket()
        .bucket("vault")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let versioning = s3
        .get_bucket_versioning()
        .bucket("vault")
        .send()
        .await
        .unwrap();
    assert_eq!(versioning.status(), Some(&BucketVersioningStatus::Enabled));
    assert_eq!(
        fail(
            s3.put_bucket_versioning()
                .bucket("vault")
                .versioning_configuration(
                    VersioningConfiguration::builder()
                        .status(BucketVersioningStatus::Suspended)
                        .build(),
                )
                .send()
                .await
        ),
        (409, "InvalidBucketState".to_owned())
    );
    let put = s3
        .put_object()
        .bucket("vault")
        .key("free")
        .body(ByteStream::from_static(b"free"))
        .send()
        .await
        .unwrap();
    let free_version = put.version_id().unwrap().to_owned();
    assert_eq!(
        fail(
            s3.get_object_retention()
                .bucket("vault")
                .key("free")
                .send()
                .await
        ),
        (404, "NoSuchObjectLockConfiguration".to_owned())
    );
    assert_eq!(
        fail(
            s3.get_object_legal_hold()
                .bucket("vault")
                .key("free")
                .send()
                .await
        ),
        (404, "NoSuchObjectLockConfiguration".to_owned())
    );

    // Retention set on PUT: reported on HEAD/GET and by GetObjectRetention.
    let until = in_secs(3600);
    let put = s3
        .put_object()
        .bucket("vault")
        .key("gov")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .body(ByteStream::from_static(b"governed"))
        .send()
        .await
        .unwrap();
    let gov_version = put.version_id().unwrap().to_owned();
    let head = s3
        .head_object()
        .bucket("vault")
        .key("gov")
        .send()
        .await
        .unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));
    assert_eq!(
        head.object_lock_retain_until_date().map(|d| d.secs()),
        Some(until.secs())
    );
    assert!(head.object_lock_legal_hold_status().is_none());
    let r = s3
        .get_object_retention()
        .bucket("vault")
        .key("gov")
        .send()
        .await
        .unwrap();
    let r = r.retention().unwrap();
    assert_eq!(r.mode(), Some(&ObjectLockRetentionMode::Governance));
    assert_eq!(r.retain_until_date().map(|d| d.secs()), Some(until.secs()));
    // A past date is refused; only one of mode and date is refused.
    assert_eq!(
        fail(
            s3.put_object_retention()
                .bucket("vault")
                .key("free")
                .retention(
                    ObjectLockRetention::builder()
                        .mode(ObjectLockRetentionMode::Governance)
                        .retain_until_date(in_secs(-60))
                        .build()
                )
                .send()
                .await
        ),
        (400, "InvalidArgument".to_owned())
    );
    assert_eq!(
        fail(
            s3.put_object()
                .bucket("vault")
                .key("half")
                .object_lock_mode(ObjectLockMode::Governance)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        (400, "InvalidArgument".to_owned())
    );

    // Deleting the locked version is refused; without a version id a delete marker hides it.
    assert_eq!(
        fail(
            s3.delete_object()
                .bucket("vault")
                .key("gov")
                .version_id(&gov_version)
                .send()
                .await
        ),
        (403, "AccessDenied".to_owned())
    );
    let del = s3
        .delete_object()
        .bucket("vault")
        .key("gov")
        .send()
        .await
        .unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    let marker = del.version_id().unwrap().to_owned();
    // The delete marker itself carries no protection.
    s3.delete_object()
        .bucket("vault")
        .key("gov")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    // Shortening GOVERNANCE retention needs the bypass header.
    let shorter = ObjectLockRetention::builder()
        .mode(ObjectLockRetentionMode::Governance)
        .retain_until_date(in_secs(1800))
        .build();
    assert_eq!(
        fail(
            s3.put_object_retention()
                .bucket("vault")
                .key("gov")
                .retention(shorter.clone())
                .send()
                .await
        ),
        (403, "AccessDenied".to_owned())
    );
    s3.put_object_retention()
        .bucket("vault")
        .key("gov")
        .retention(shorter)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap();
    // DeleteObjects reports the refusal per key.
    let batch = s3
        .delete_objects()
        .bucket("vault")
        .delete(
            Delete::builder()
                .objects(
                    ObjectIdentifier::builder()
                        .key("gov")
                        .version_id(&gov_version)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(batch.errors().len(), 1);
    assert_eq!(batch.errors()[0].code(), Some("AccessDenied"));
    assert_eq!(
        batch.errors()[0].message(),
        Some("Access Denied because object protected by object lock.")
    );
    // GOVERNANCE gives way to the bypass header.
    s3.delete_object()
        .bucket("vault")
        .key("gov")
        .version_id(&gov_version)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap();

    // COMPLIANCE gives way to nobody, and cannot be shortened or weakened.
    s3.put_object_retention()
        .bucket("vault")
        .key("free")
        .retention(
            ObjectLockRetention::builder()
                .mode(ObjectLockRetentionMode::Compliance)
                .retain_until_date(in_secs(3600))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        fail(
            s3.put_object_retention()
                .bucket("vault")
                .key("free")
                .bypass_governance_retention(true)
                .retention(
                    ObjectLockRetention::builder()
                        .mode(ObjectLockRetentionMode::Governance)
                        .retain_until_date(in_secs(7200))
                        .build()
                )
                .send()
                .await
        ),
        (403, "AccessDenied".to_owned())
    );
    assert_eq!(
        fail(
            s3.delete_object()
                .bucket("vault")
                .key("free")
                .version_id(&free_version)
                .bypass_governance_retention(true)
                .send()
                .await
        ),
        (403, "AccessDenied".to_owned())
    );

    // Legal hold: ON blocks even a bypassing delete; OFF releases it.
    let put = s3
        .put_object()
        .bucket("vault")
        .key("held")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .body(ByteStream::from_static(b"held"))
        .send()
        .await
        .unwrap();
    let held_version = put.version_id().unwrap().to_owned();
    let got = s3
        .get_object()
        .bucket("vault")
        .key("held")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    assert_eq!(
        fail(
            s3.delete_object()
                .bucket("vault")
                .key("held")
                .version_id(&held_version)
                .bypass_governance_retention(true)
                .send()
                .await
        ),
        (403, "AccessDenied".to_owned())
    );
    s3.put_object_legal_hold()
        .bucket("vault")
        .key("held")
        .version_id(&held_version)
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::Off)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let hold = s3
        .get_object_legal_hold()
        .bucket("vault")
        .key("held")
        .send()
        .await
        .unwrap();
    assert_eq!(
        hold.legal_hold().and_then(|h| h.status()),
        Some(&ObjectLockLegalHoldStatus::Off)
    );
    s3.delete_object()
        .bucket("vault")
        .key("held")
        .version_id(&held_version)
        .send()
        .await
        .unwrap();

    // Default retention applies to new versions without their own.
    s3.put_object_lock_configuration()
        .bucket("vault")
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder()
                                .mode(ObjectLockRetentionMode::Compliance)
                                .days(2)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let cfg = s3
        .get_object_lock_configuration()
        .bucket("vault")
        .send()
        .await
        .unwrap();
    let rule = cfg
        .object_lock_configuration()
        .and_then(|c| c.rule())
        .and_then(|r| r.default_retention())
        .unwrap();
    assert_eq!(rule.mode(), Some(&ObjectLockRetentionMode::Compliance));
    assert_eq!(rule.days(), Some(2));
    assert_eq!(rule.years(), None);
    s3.put_object()
        .bucket("vault")
        .key("defaulted")
        .body(ByteStream::from_static(b"d"))
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket("vault")
        .key("defaulted")
        .send()
        .await
        .unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    let until = head.object_lock_retain_until_date().unwrap().secs();
    let expected = in_secs(2 * 86_400).secs();
    assert!((expected - until).abs() < 60, "{until} vs {expected}");
    // Days and Years together are malformed.
    assert_eq!(
        fail(
            s3.put_object_lock_configuration()
                .bucket("vault")
                .object_lock_configuration(
                    ObjectLockConfiguration::builder()
                        .object_lock_enabled(ObjectLockEnabled::Enabled)
                        .rule(
                            ObjectLockRule::builder()
                                .default_retention(
                                    DefaultRetention::builder()
                                        .mode(ObjectLockRetentionMode::Governance)
                                        .days(1)
                                        .years(1)
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .send()
                .await
        ),
        (400, "MalformedXML".to_owned())
    );
}

/// Polls `check` every 250 ms for up to `secs` seconds.
async fn eventually<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    false
}

#[tokio::test]
async fn lifecycle_rules_expire_objects_versions_markers_and_uploads() {
    use aws_sdk_s3::primitives::DateTime;
    use aws_sdk_s3::types::{
        AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
        LifecycleExpiration, LifecycleRule, LifecycleRuleAndOperator, LifecycleRuleFilter,
        NoncurrentVersionExpiration,
    };
    // A lifecycle "day" of 2 s, rules checked every 0.25 s.
    let skyport = Skyport::start_with(
        Options::default()
            .env("SKYPORT_S3_LIFECYCLE_DAY_SECONDS", "2")
            .env("SKYPORT_S3_LIFECYCLE_INTERVAL_SECONDS", "0.25"),
    );
    let s3 = client(&skyport.endpoint());
    let rule = |id: &str, filter: LifecycleRuleFilter| {
        LifecycleRule::builder()
            .id(id)
            .status(ExpirationStatus::Enabled)
            .filter(filter)
    };
    let prefix = |p: &str| LifecycleRuleFilter::builder().prefix(p).build();
    let days = |n: i32| LifecycleExpiration::builder().days(n).build();

    // Unversioned: Days with a prefix, Days with prefix + tag, a past Date, aborting uploads.
    s3.create_bucket().bucket("life").send().await.unwrap();
    let tag_filter = LifecycleRuleFilter::builder()
        .and(
            LifecycleRuleAndOperator::builder()
                .prefix("tag/")
                .tags(Tag::builder().key("k").value("v").build().unwrap())
                .build(),
        )
        .build();
    let config = BucketLifecycleConfiguration::builder()
        .rules(
            rule("tmp files", prefix("tmp/"))
                .expiration(days(1))
                .build()
                .unwrap(),
        )
        .rules(
            rule("tagged", tag_filter)
                .expiration(days(1))
                .build()
                .unwrap(),
        )
        .rules(
            rule("old", prefix("old/"))
                .expiration(
                    LifecycleExpiration::builder()
                        .date(DateTime::from_secs(1_577_836_800))
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .rules(
            rule("uploads", prefix("mp/"))
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(1)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket("life")
        .lifecycle_configuration(config)
        .send()
        .await
        .unwrap();
    let put = |key: &'static str, tagging: Option<&'static str>| {
        let s3 = s3.clone();
        async move {
            let mut p = s3
                .put_object()
                .bucket("life")
                .key(key)
                .body(ByteStream::from_static(b"data"));
            if let Some(t) = tagging {
                p = p.tagging(t);
            }
            p.send().await.unwrap()
        }
    };
    let out = put("tmp/a", None).await;
    // PUT/GET/HEAD report the rule that expires the object (`x-amz-expiration`).
    let expiration = out.expiration().unwrap_or_default().to_owned();
    assert!(
        expiration.starts_with("expiry-date=\"")
            && expiration.ends_with(" GMT\", rule-id=\"tmp%20files\""),
        "{expiration}"
    );
    assert!(put("keep/b", None).await.expiration().is_none());
    put("tag/yes", Some("k=v")).await;
    assert!(put("tag/no", Some("k=other")).await.expiration().is_none());
    let got = s3
        .get_object()
        .bucket("life")
        .key("tag/yes")
        .send()
        .await
        .unwrap();
    assert!(
        got.expiration()
            .is_some_and(|e| e.contains("rule-id=\"tagged\"")),
        "{:?}",
        got.expiration()
    );
    let head = s3
        .head_object()
        .bucket("life")
        .key("tmp/a")
        .send()
        .await
        .unwrap();
    assert_eq!(head.expiration(), Some(expiration.as_str()));
    s3.create_multipart_upload()
        .bucket("life")
        .key("mp/big")
        .send()
        .await
        .unwrap();
    s3.create_multipart_upload()
        .bucket("life")
        .key("other/big")
        .send()
        .await
        .unwrap();
    put("old/c", None).await;

    let keys = || {
        let s3 = s3.clone();
        async move {
            let out = s3.list_objects_v2().bucket("life").send().await.unwrap();
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned))
                .collect::<Vec<_>>()
        }
    };
    assert!(
        eventually(15, || async { keys().await == ["keep/b", "tag/no"] }).await,
        "{:?}\n{}",
        keys().await,
        skyport.log()
    );
    let upload_keys = || {
        let s3 = s3.clone();
        async move {
            let out = s3
                .list_multipart_uploads()
                .bucket("life")
                .send()
                .await
                .unwrap();
            out.uploads()
                .iter()
                .filter_map(|u| u.key().map(str::to_owned))
                .collect::<Vec<_>>()
        }
    };
    assert!(
        eventually(10, || async { upload_keys().await == ["other/big"] }).await,
        "{:?}",
        upload_keys().await
    );

    // Versioned: the current version expires into a delete marker; noncurrent versions expire
    // NoncurrentDays after they became noncurrent; a delete marker left alone is removed
    // (ExpiredObjectDeleteMarker).
    s3.create_bucket().bucket("life-v").send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket("life-v")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let config = BucketLifecycleConfiguration::builder()
        .rules(
            rule("all", prefix("v/"))
                .expiration(days(1))
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(1)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .rules(
            rule("markers", prefix("v/"))
                .expiration(
                    LifecycleExpiration::builder()
                        .expired_object_delete_marker(true)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .rules(
            rule("current only", prefix("w/"))
                .expiration(days(1))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket("life-v")
        .lifecycle_configuration(config)
        .send()
        .await
        .unwrap();
    for body in [&b"one"[..], b"two"] {
        s3.put_object()
            .bucket("life-v")
            .key("v/x")
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap();
    }
    let w = s3
        .put_object()
        .bucket("life-v")
        .key("w/y")
        .body(ByteStream::from_static(b"w"))
        .send()
        .await
        .unwrap();
    let w_version = w.version_id().unwrap().to_owned();
    let versions = |prefix: &'static str| {
        let s3 = s3.clone();
        async move {
            let out = s3
                .list_object_versions()
                .bucket("life-v")
                .prefix(prefix)
                .send()
                .await
                .unwrap();
            (out.versions().len(), out.delete_markers().len())
        }
    };
    assert_eq!(versions("v/").await, (2, 0));
    // w/y: only the current-version rule; it ends as a delete marker over the kept version.
    assert!(
        eventually(15, || async { versions("w/").await == (1, 1) }).await,
        "{:?}",
        versions("w/").await
    );
    let out = s3
        .list_object_versions()
        .bucket("life-v")
        .prefix("w/")
        .send()
        .await
        .unwrap();
    assert_eq!(out.versions()[0].version_id(), Some(w_version.as_str()));
    assert_eq!(out.versions()[0].is_latest(), Some(false));
    assert_eq!(out.delete_markers()[0].is_latest(), Some(true));
    // v/x: both versions and then the delete marker are gone.
    assert!(
        eventually(20, || async { versions("v/").await == (0, 0) }).await,
        "{:?}",
        versions("v/").await
    );
}

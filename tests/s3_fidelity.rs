//! S3 behaviours that must match AWS exactly, each driven through a real client against the real
//! binary: `aws-sdk-s3` (retries off, so a broken connection cannot hide behind a retry) for
//! GetObjectAttributes, conditional writes and deletes, idempotent CompleteMultipartUpload, bucket
//! creation rules and defaults, part reads and version ids; boto3 for the error fields, raw response
//! shapes, presigned URLs, metadata encoding and the configuration validation S3 performs.

mod common;

use std::process::Command;

use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, ChecksumAlgorithm, CompletedMultipartUpload,
    CompletedPart, CreateBucketConfiguration, Delete, ObjectAttributes, ObjectIdentifier,
    ObjectOwnership, Tag, VersioningConfiguration,
};
use common::{Options, Skyport, require, run};

fn client_in(endpoint: &str, region: &str, key: &str) -> Client {
    let creds = Credentials::new(key, "test", None, None, "test");
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .force_path_style(true)
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

fn client(endpoint: &str) -> Client {
    client_in(endpoint, "us-east-1", "test")
}

/// (HTTP status, error code, message) of a failed SDK call.
fn fail<E, R>(
    r: Result<R, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> (u16, String, String)
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let err = r.expect_err("the call should fail");
    let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    let meta = err.as_service_error();
    (
        status,
        meta.and_then(|e| e.code()).unwrap_or("").to_owned(),
        meta.and_then(|e| e.message()).unwrap_or("").to_owned(),
    )
}

/// (status, code) only.
fn code<E, R>(
    r: Result<R, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> (u16, String)
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let (s, c, _) = fail(r);
    (s, c)
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

const MIB: usize = 1024 * 1024;

/// Uploads `parts` (with CRC32 checksums when `crc`) and returns (upload id, completed parts).
async fn upload_parts(
    s3: &Client,
    bucket: &str,
    key: &str,
    parts: &[Vec<u8>],
    crc: bool,
) -> (String, Vec<CompletedPart>) {
    let mut create = s3.create_multipart_upload().bucket(bucket).key(key);
    if crc {
        create = create.checksum_algorithm(ChecksumAlgorithm::Crc32);
    }
    let id = create.send().await.unwrap().upload_id().unwrap().to_owned();
    let mut done = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let mut up = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(data.clone()));
        if crc {
            up = up.checksum_algorithm(ChecksumAlgorithm::Crc32);
        }
        let out = up.send().await.unwrap();
        let mut part = CompletedPart::builder()
            .part_number(n)
            .e_tag(out.e_tag().unwrap());
        if let Some(c) = out.checksum_crc32() {
            part = part.checksum_crc32(c);
        }
        done.push(part.build());
    }
    (id, done)
}

fn completed(parts: &[CompletedPart]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(parts.to_vec()))
        .build()
}

#[tokio::test]
async fn get_object_attributes_of_simple_multipart_and_versioned_objects() {
    let skyport = Skyport::start();
    let s3 = client(&skyport.endpoint());
    s3.create_bucket().bucket("attrs").send().await.unwrap();
    let put = s3
        .put_object()
        .bucket("attrs")
        .key("one")
        .body(ByteStream::from_static(b"hello world"))
        .send()
        .await
        .unwrap();
    let all = [
        ObjectAttributes::Etag,
        ObjectAttributes::Checksum,
        ObjectAttributes::ObjectParts,
        ObjectAttributes::StorageClass,
        ObjectAttributes::ObjectSize,
    ];
    let mut req = s3.get_object_attributes().bucket("attrs").key("one");
    for a in &all {
        req = req.object_attributes(a.clone());
    }
    let out = req.send().await.unwrap();
    // The ETag comes unquoted; a single-part object has no ObjectParts.
    assert_eq!(
        out.e_tag(),
        Some(put.e_tag().unwrap().trim_matches('"')),
        "{out:?}"
    );
    assert_eq!(out.object_size(), Some(11));
    assert_eq!(out.storage_class().map(|c| c.as_str()), Some("STANDARD"));
    assert!(out.object_parts().is_none(), "{out:?}");
    let sum = out.checksum().expect("a checksum");
    assert!(sum.checksum_crc64_nvme().is_some() || sum.checksum_crc32().is_some());
    assert!(out.last_modified().is_some());

    // Only what was asked for.
    let out = s3
        .get_object_attributes()
        .bucket("attrs")
        .key("one")
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(out.object_size(), Some(11));
    assert!(out.e_tag().is_none() && out.checksum().is_none());
    // No attributes, a missing key.
    let (status, code_, message) = fail(
        s3.get_object_attributes()
            .bucket("attrs")
            .key("one")
            .object_attributes(ObjectAttributes::from("Colour"))
            .send()
            .await,
    );
    assert_eq!(
        (status, code_.as_str()),
        (400, "InvalidArgument"),
        "{message}"
    );
    assert_eq!(
        code(
            s3.get_object_attributes()
                .bucket("attrs")
                .key("missing")
                .object_attributes(ObjectAttributes::Etag)
                .send()
                .await
        ),
        (404, "NoSuchKey".to_owned())
    );

    // A multipart object uploaded with CRC32: parts listed, paged by MaxParts / PartNumberMarker.
    let parts = [bytes(5 * MIB, 1), bytes(5 * MIB, 2), bytes(1000, 3)];
    let (id, done) = upload_parts(&s3, "attrs", "multi", &parts, true).await;
    let complete = s3
        .complete_multipart_upload()
        .bucket("attrs")
        .key("multi")
        .upload_id(&id)
        .multipart_upload(completed(&done))
        .send()
        .await
        .unwrap();
    let attrs = |marker: Option<&str>, max: Option<i32>| {
        let mut r = s3
            .get_object_attributes()
            .bucket("attrs")
            .key("multi")
            .object_attributes(ObjectAttributes::ObjectParts)
            .object_attributes(ObjectAttributes::Etag)
            .object_attributes(ObjectAttributes::Checksum);
        if let Some(m) = marker {
            r = r.part_number_marker(m);
        }
        if let Some(m) = max {
            r = r.max_parts(m);
        }
        r.send()
    };
    let out = attrs(None, Some(2)).await.unwrap();
    assert_eq!(out.e_tag(), complete.e_tag().map(|e| e.trim_matches('"')));
    let op = out.object_parts().expect("object parts");
    assert_eq!(op.total_parts_count(), Some(3));
    assert_eq!(op.max_parts(), Some(2));
    assert_eq!(op.is_truncated(), Some(true));
    assert_eq!(op.next_part_number_marker(), Some("2"));
    let listed: Vec<(i32, i64)> = op
        .parts()
        .iter()
        .map(|p| (p.part_number().unwrap(), p.size().unwrap()))
        .collect();
    assert_eq!(listed, [(1, 5 * MIB as i64), (2, 5 * MIB as i64)]);
    assert_eq!(op.parts()[0].checksum_crc32(), done[0].checksum_crc32());
    // The composite checksum without its -N suffix.
    let sum = out.checksum().unwrap();
    assert_eq!(sum.checksum_type().map(|t| t.as_str()), Some("COMPOSITE"));
    assert!(!sum.checksum_crc32().unwrap().contains('-'), "{sum:?}");
    let out = attrs(Some("2"), None).await.unwrap();
    let op = out.object_parts().unwrap();
    assert_eq!(op.is_truncated(), Some(false));
    assert_eq!(op.parts().len(), 1);
    assert_eq!(op.parts()[0].part_number(), Some(3));
    assert_eq!(op.parts()[0].size(), Some(1000));

    // Without a checksum algorithm S3 gives only the part count.
    let (id, done) = upload_parts(
        &s3,
        "attrs",
        "plain",
        &[bytes(5 * MIB, 4), bytes(10, 5)],
        false,
    )
    .await;
    s3.complete_multipart_upload()
        .bucket("attrs")
        .key("plain")
        .upload_id(&id)
        .multipart_upload(completed(&done))
        .send()
        .await
        .unwrap();
    let out = s3
        .get_object_attributes()
        .bucket("attrs")
        .key("plain")
        .object_attributes(ObjectAttributes::ObjectParts)
        .send()
        .await
        .unwrap();
    let op = out.object_parts().unwrap();
    assert_eq!(op.total_parts_count(), Some(2));
    assert!(op.parts().is_empty());

    // Versions: each version's own attributes, the version id in the answer.
    s3.create_bucket().bucket("attrs-v").send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket("attrs-v")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let v1 = s3
        .put_object()
        .bucket("attrs-v")
        .key("k")
        .body(ByteStream::from_static(b"first"))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("attrs-v")
        .key("k")
        .body(ByteStream::from_static(b"second!"))
        .send()
        .await
        .unwrap();
    let out = s3
        .get_object_attributes()
        .bucket("attrs-v")
        .key("k")
        .version_id(v1.version_id().unwrap())
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(out.object_size(), Some(5));
    assert_eq!(out.version_id(), v1.version_id());
    let out = s3
        .get_object_attributes()
        .bucket("attrs-v")
        .key("k")
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(out.object_size(), Some(7));
    // Behind a delete marker: 404 NoSuchKey.
    s3.delete_object()
        .bucket("attrs-v")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(
            s3.get_object_attributes()
                .bucket("attrs-v")
                .key("k")
                .object_attributes(ObjectAttributes::Etag)
                .send()
                .await
        ),
        (404, "NoSuchKey".to_owned())
    );
}

#[tokio::test]
async fn conditional_writes_copies_completes_and_deletes() {
    let skyport = Skyport::start();
    let s3 = client(&skyport.endpoint());
    s3.create_bucket().bucket("cond").send().await.unwrap();
    let first = s3
        .put_object()
        .bucket("cond")
        .key("src")
        .body(ByteStream::from_static(b"source"))
        .send()
        .await
        .unwrap();
    let etag = first.e_tag().unwrap().to_owned();

    // PutObject.
    assert_eq!(
        code(
            s3.put_object()
                .bucket("cond")
                .key("src")
                .if_none_match("*")
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        (412, "PreconditionFailed".to_owned())
    );
    assert_eq!(
        code(
            s3.put_object()
                .bucket("cond")
                .key("nothing")
                .if_match(&etag)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        (404, "NoSuchKey".to_owned())
    );

    // CopyObject: If-None-Match / If-Match are about the destination.
    s3.copy_object()
        .bucket("cond")
        .key("dst")
        .copy_source("cond/src")
        .if_none_match("*")
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(
            s3.copy_object()
                .bucket("cond")
                .key("dst")
                .copy_source("cond/src")
                .if_none_match("*")
                .send()
                .await
        ),
        (412, "PreconditionFailed".to_owned())
    );
    assert_eq!(
        code(
            s3.copy_object()
                .bucket("cond")
                .key("dst")
                .copy_source("cond/src")
                .if_match("\"0123456789abcdef0123456789abcdef\"")
                .send()
                .await
        ),
        (412, "PreconditionFailed".to_owned())
    );
    s3.copy_object()
        .bucket("cond")
        .key("dst")
        .copy_source("cond/src")
        .if_match(&etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(
            s3.copy_object()
                .bucket("cond")
                .key("new")
                .copy_source("cond/src")
                .if_match(&etag)
                .send()
                .await
        ),
        (404, "NoSuchKey".to_owned())
    );

    // CompleteMultipartUpload: a failed condition leaves the upload in place.
    let (id, done) = upload_parts(&s3, "cond", "src", &[b"part".to_vec()], false).await;
    assert_eq!(
        code(
            s3.complete_multipart_upload()
                .bucket("cond")
                .key("src")
                .upload_id(&id)
                .if_none_match("*")
                .multipart_upload(completed(&done))
                .send()
                .await
        ),
        (412, "PreconditionFailed".to_owned())
    );
    assert_eq!(
        code(
            s3.complete_multipart_upload()
                .bucket("cond")
                .key("src")
                .upload_id(&id)
                .if_match("\"ffffffffffffffffffffffffffffffff\"")
                .multipart_upload(completed(&done))
                .send()
                .await
        ),
        (412, "PreconditionFailed".to_owned())
    );
    let out = s3
        .complete_multipart_upload()
        .bucket("cond")
        .key("src")
        .upload_id(&id)
        .if_match(&etag)
        .multipart_upload(completed(&done))
        .send()
        .await
        .unwrap();
    assert!(out.e_tag().unwrap().ends_with("-1\""));
    let (id, done) = upload_parts(&s3, "cond", "fresh", &[b"p".to_vec()], false).await;
    s3.complete_multipart_upload()
        .bucket("cond")
        .key("fresh")
        .upload_id(&id)
        .if_none_match("*")
        .multipart_upload(completed(&done))
        .send()
        .await
        .unwrap();

    // UploadPartCopy honours x-amz-copy-source-if-*.
    let (id, _) = upload_parts(&s3, "cond", "pc", &[], false).await;
    let current = s3
        .head_object()
        .bucket("cond")
        .key("dst")
        .send()
        .await
        .unwrap();
    let dst_etag = current.e_tag().unwrap().to_owned();
    let upc = || {
        s3.upload_part_copy()
            .bucket("cond")
            .key("pc")
            .upload_id(&id)
            .part_number(1)
            .copy_source("cond/dst")
    };
    assert_eq!(
        code(upc().copy_source_if_match("\"nope\"").send().await),
        (412, "PreconditionFailed".to_owned())
    );
    assert_eq!(
        code(upc().copy_source_if_none_match(&dst_etag).send().await),
        (412, "PreconditionFailed".to_owned())
    );
    assert_eq!(
        code(
            upc()
                .copy_source_if_unmodified_since(DateTime::from_secs(1_000_000_000))
                .send()
                .await
        ),
        (412, "PreconditionFailed".to_owned())
    );
    assert_eq!(
        code(
            upc()
                .copy_source_if_modified_since(*current.last_modified().unwrap())
                .send()
                .await
        ),
        (412, "PreconditionFailed".to_owned())
    );
    upc().copy_source_if_match(&dst_etag).send().await.unwrap();
    // A copy range beyond the source is InvalidArgument, not a GET's InvalidRange.
    let (status, code_, message) = fail(upc().copy_source_range("bytes=0-100").send().await);
    assert_eq!((status, code_.as_str()), (400, "InvalidArgument"));
    assert_eq!(
        message,
        "Range specified is not valid for source object of size: 6"
    );

    // DeleteObject with If-Match, x-amz-if-match-last-modified-time and x-amz-if-match-size.
    let head = s3
        .head_object()
        .bucket("cond")
        .key("dst")
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(
            s3.delete_object()
                .bucket("cond")
                .key("dst")
                .if_match("\"0000\"")
                .send()
                .await
        ),
        (412, "PreconditionFailed".to_owned())
    );
    assert_eq!(
        code(
            s3.delete_object()
                .bucket("cond")
                .key("dst")
                .if_match_size(999)
                .send()
                .await
        ),
        (412, "PreconditionFailed".to_owned())
    );
    assert_eq!(
        code(
            s3.delete_object()
                .bucket("cond")
                .key("dst")
                .if_match_last_modified_time(DateTime::from_secs(1_000_000_000))
                .send()
                .await
        ),
        (412, "PreconditionFailed".to_owned())
    );
    assert_eq!(
        code(
            s3.delete_object()
                .bucket("cond")
                .key("gone")
                .if_match(&etag)
                .send()
                .await
        ),
        (404, "NoSuchKey".to_owned())
    );
    s3.delete_object()
        .bucket("cond")
        .key("dst")
        .if_match(&dst_etag)
        .if_match_size(6)
        .if_match_last_modified_time(*head.last_modified().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(s3.head_object().bucket("cond").key("dst").send().await).0,
        404
    );

    // DeleteObjects: per-object ETag, LastModifiedTime and Size; failures are Errors entries.
    for k in ["a", "b", "c", "d"] {
        s3.put_object()
            .bucket("cond")
            .key(k)
            .body(ByteStream::from_static(b"four"))
            .send()
            .await
            .unwrap();
    }
    let head = s3
        .head_object()
        .bucket("cond")
        .key("a")
        .send()
        .await
        .unwrap();
    let good_etag = head.e_tag().unwrap().to_owned();
    let id = |k: &str| ObjectIdentifier::builder().key(k);
    let out = s3
        .delete_objects()
        .bucket("cond")
        .delete(
            Delete::builder()
                .objects(id("a").e_tag(&good_etag).build().unwrap())
                .objects(id("b").e_tag("\"bad\"").build().unwrap())
                .objects(id("c").size(5).build().unwrap())
                .objects(
                    id("d")
                        .last_modified_time(*head.last_modified().unwrap())
                        .size(4)
                        .build()
                        .unwrap(),
                )
                .objects(id("nope").e_tag(&good_etag).build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    assert_eq!(deleted, ["a", "d"], "{out:?}");
    let mut errors: Vec<(&str, &str)> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap(), e.code().unwrap()))
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        [
            ("b", "PreconditionFailed"),
            ("c", "PreconditionFailed"),
            ("nope", "NoSuchKey")
        ]
    );
    s3.head_object()
        .bucket("cond")
        .key("b")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn complete_is_idempotent_and_uploads_do_not_keep_a_bucket_alive() {
    let skyport = Skyport::start();
    let s3 = client(&skyport.endpoint());
    s3.create_bucket().bucket("idem").send().await.unwrap();
    let (id, done) = upload_parts(
        &s3,
        "idem",
        "k",
        &[bytes(5 * MIB, 7), b"tail".to_vec()],
        true,
    )
    .await;
    let complete = || {
        s3.complete_multipart_upload()
            .bucket("idem")
            .key("k")
            .upload_id(&id)
            .multipart_upload(completed(&done))
            .send()
    };
    let first = complete().await.unwrap();
    let again = complete().await.unwrap();
    assert_eq!(first.e_tag(), again.e_tag());
    assert_eq!(first.location(), again.location());
    assert_eq!(first.checksum_crc32(), again.checksum_crc32());
    assert_eq!(first.key(), Some("k"));
    // Another part list is not the same request: the upload is gone.
    assert_eq!(
        code(
            s3.complete_multipart_upload()
                .bucket("idem")
                .key("k")
                .upload_id(&id)
                .multipart_upload(completed(&done[..1]))
                .send()
                .await
        ),
        (404, "NoSuchUpload".to_owned())
    );
    // The object is whole and there is no upload left.
    let got = s3
        .get_object()
        .bucket("idem")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_length(), Some(5 * MIB as i64 + 4));
    let uploads = s3
        .list_multipart_uploads()
        .bucket("idem")
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty());
    // Once the object is replaced, the upload is gone for good.
    s3.put_object()
        .bucket("idem")
        .key("k")
        .body(ByteStream::from_static(b"new"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        complete().await.map(|_| ()).unwrap_err().code(),
        Some("NoSuchUpload")
    );

    // Unfinished uploads alone do not keep a bucket: DeleteBucket succeeds and takes them along.
    s3.create_bucket()
        .bucket("only-uploads")
        .send()
        .await
        .unwrap();
    let (id, _) = upload_parts(&s3, "only-uploads", "x", &[b"data".to_vec()], false).await;
    s3.delete_bucket()
        .bucket("only-uploads")
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(s3.head_bucket().bucket("only-uploads").send().await).0,
        404
    );
    // A new bucket of that name has none of them.
    s3.create_bucket()
        .bucket("only-uploads")
        .send()
        .await
        .unwrap();
    assert!(
        s3.list_multipart_uploads()
            .bucket("only-uploads")
            .send()
            .await
            .unwrap()
            .uploads()
            .is_empty()
    );
    assert_eq!(
        code(
            s3.list_parts()
                .bucket("only-uploads")
                .key("x")
                .upload_id(&id)
                .send()
                .await
        ),
        (404, "NoSuchUpload".to_owned())
    );
    // Objects still do, with the versioned message in a versioned bucket.
    s3.put_bucket_versioning()
        .bucket("idem")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (status, code_, message) = fail(s3.delete_bucket().bucket("idem").send().await);
    assert_eq!((status, code_.as_str()), (409, "BucketNotEmpty"));
    assert_eq!(
        message,
        "The bucket you tried to delete is not empty. You must delete all versions in the bucket."
    );
}

#[tokio::test]
async fn bucket_creation_rules_defaults_and_arns() {
    let skyport = Skyport::start();
    let s3 = client(&skyport.endpoint());
    // The us-east-1 endpoint creates buckets in any region; EU is eu-west-1.
    let cfg = |r: &str| {
        CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::from(r))
            .build()
    };
    let out = s3
        .create_bucket()
        .bucket("far-away")
        .create_bucket_configuration(cfg("ap-southeast-2"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.bucket_arn(), Some("arn:aws:s3:::far-away"));
    assert_eq!(out.location(), Some("/far-away"));
    let head = s3.head_bucket().bucket("far-away").send().await.unwrap();
    assert_eq!(head.bucket_region(), Some("ap-southeast-2"));
    assert_eq!(head.bucket_arn(), Some("arn:aws:s3:::far-away"));
    s3.create_bucket()
        .bucket("old-eu")
        .create_bucket_configuration(cfg("EU"))
        .send()
        .await
        .unwrap();
    let loc = s3
        .get_bucket_location()
        .bucket("old-eu")
        .send()
        .await
        .unwrap();
    assert_eq!(
        loc.location_constraint().map(|c| c.as_str()),
        Some("eu-west-1")
    );
    // Other endpoints still insist on their own region.
    let west = client_in(&skyport.endpoint(), "us-west-2", "test");
    assert_eq!(
        code(
            west.create_bucket()
                .bucket("elsewhere")
                .create_bucket_configuration(cfg("eu-west-1"))
                .send()
                .await
        ),
        (400, "IllegalLocationConstraintException".to_owned())
    );
    let listed = s3.list_buckets().send().await.unwrap();
    let far = listed
        .buckets()
        .iter()
        .find(|b| b.name() == Some("far-away"))
        .unwrap();
    assert_eq!(far.bucket_arn(), Some("arn:aws:s3:::far-away"));
    assert_eq!(far.bucket_region(), Some("ap-southeast-2"));

    // New buckets: BucketOwnerEnforced and a public access block that blocks everything.
    let own = s3
        .get_bucket_ownership_controls()
        .bucket("far-away")
        .send()
        .await
        .unwrap();
    let rules = own.ownership_controls().unwrap().rules();
    assert_eq!(rules[0].object_ownership().as_str(), "BucketOwnerEnforced");
    let pab = s3
        .get_public_access_block()
        .bucket("far-away")
        .send()
        .await
        .unwrap();
    let pab = pab.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            pab.block_public_acls(),
            pab.ignore_public_acls(),
            pab.block_public_policy(),
            pab.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    // ACLs are disabled there: setting one is refused, reading works.
    assert_eq!(
        code(
            s3.put_bucket_acl()
                .bucket("far-away")
                .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
                .send()
                .await
        ),
        (400, "AccessControlListNotSupported".to_owned())
    );
    assert_eq!(
        code(
            s3.put_object()
                .bucket("far-away")
                .key("k")
                .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        (400, "AccessControlListNotSupported".to_owned())
    );
    s3.put_object()
        .bucket("far-away")
        .key("k")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::BucketOwnerFullControl)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    s3.get_bucket_acl().bucket("far-away").send().await.unwrap();
    // Deleting the defaults gives S3's not-found errors.
    s3.delete_public_access_block()
        .bucket("far-away")
        .send()
        .await
        .unwrap();
    let (status, code_, message) =
        fail(s3.get_public_access_block().bucket("far-away").send().await);
    assert_eq!(
        (status, code_.as_str(), message.as_str()),
        (
            404,
            "NoSuchPublicAccessBlockConfiguration",
            "The public access block configuration was not found"
        )
    );
    s3.delete_bucket_ownership_controls()
        .bucket("far-away")
        .send()
        .await
        .unwrap();
    let (status, code_, message) = fail(
        s3.get_bucket_ownership_controls()
            .bucket("far-away")
            .send()
            .await,
    );
    assert_eq!(
        (status, code_.as_str(), message.as_str()),
        (
            404,
            "OwnershipControlsNotFoundError",
            "The bucket ownership controls were not found"
        )
    );

    // CreateBucket honours ObjectOwnership and Tags.
    s3.create_bucket()
        .bucket("writer-owned")
        .object_ownership(ObjectOwnership::ObjectWriter)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .tags(Tag::builder().key("team").value("core").build().unwrap())
                .tags(Tag::builder().key("env").value("").build().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let own = s3
        .get_bucket_ownership_controls()
        .bucket("writer-owned")
        .send()
        .await
        .unwrap();
    assert_eq!(
        own.ownership_controls().unwrap().rules()[0]
            .object_ownership()
            .as_str(),
        "ObjectWriter"
    );
    let tags = s3
        .get_bucket_tagging()
        .bucket("writer-owned")
        .send()
        .await
        .unwrap();
    let mut pairs: Vec<(&str, &str)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    pairs.sort();
    assert_eq!(pairs, [("env", ""), ("team", "core")]);
    // With ObjectWriter, ACLs work; public ones once the public access block allows them.
    let public_read = || {
        s3.put_bucket_acl()
            .bucket("writer-owned")
            .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
            .send()
    };
    assert_eq!(
        fail(public_read().await),
        (403, "AccessDenied".to_owned(), "Access Denied".to_owned())
    );
    s3.delete_public_access_block()
        .bucket("writer-owned")
        .send()
        .await
        .unwrap();
    public_read().await.unwrap();
    let acl = s3
        .get_bucket_acl()
        .bucket("writer-owned")
        .send()
        .await
        .unwrap();
    assert!(
        acl.grants().iter().any(|g| g
            .grantee()
            .and_then(|x| x.uri())
            .is_some_and(|u| u.ends_with("/AllUsers"))),
        "{acl:?}"
    );
    // An ACL with the enforced setting is refused at creation.
    assert_eq!(
        code(
            s3.create_bucket()
                .bucket("acl-enforced")
                .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
                .send()
                .await
        ),
        (400, "InvalidBucketAclWithObjectOwnership".to_owned())
    );
    assert_eq!(
        code(
            s3.create_bucket()
                .bucket("bad-tags")
                .create_bucket_configuration(
                    CreateBucketConfiguration::builder()
                        .tags(Tag::builder().key("aws:x").value("1").build().unwrap())
                        .build(),
                )
                .send()
                .await
        ),
        (400, "InvalidTag".to_owned())
    );

    // Each account has its own canonical owner id.
    let other = client_in(&skyport.endpoint(), "us-east-1", "222222222222");
    other.create_bucket().bucket("theirs").send().await.unwrap();
    let mine = s3.list_buckets().send().await.unwrap();
    let theirs = other.list_buckets().send().await.unwrap();
    let (a, b) = (
        mine.owner().and_then(|o| o.id()).unwrap(),
        theirs.owner().and_then(|o| o.id()).unwrap(),
    );
    assert_ne!(a, b);
    assert_eq!(b.len(), 64);
    assert!(mine.owner().and_then(|o| o.display_name()).is_none());
}

#[tokio::test]
async fn part_reads_version_ids_delete_markers_and_tag_order() {
    let skyport = Skyport::start();
    let s3 = client(&skyport.endpoint());
    s3.create_bucket().bucket("shapes").send().await.unwrap();
    s3.put_object()
        .bucket("shapes")
        .key("small")
        .body(ByteStream::from_static(b"0123456789"))
        .tagging("zeta=1&alpha=2&mid=3")
        .send()
        .await
        .unwrap();
    // partNumber=1 of a single-part object: 206 with Content-Range.
    let got = s3
        .get_object()
        .bucket("shapes")
        .key("small")
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_range(), Some("bytes 0-9/10"));
    assert_eq!(got.content_length(), Some(10));
    let head = s3
        .head_object()
        .bucket("shapes")
        .key("small")
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_range(), Some("bytes 0-9/10"));
    assert_eq!(
        code(
            s3.get_object()
                .bucket("shapes")
                .key("small")
                .part_number(2)
                .send()
                .await
        ),
        (416, "InvalidPartNumber".to_owned())
    );
    let (status, code_, message) = fail(
        s3.get_object()
            .bucket("shapes")
            .key("small")
            .part_number(1)
            .range("bytes=0-1")
            .send()
            .await,
    );
    assert_eq!(
        (status, code_.as_str(), message.as_str()),
        (
            400,
            "InvalidRequest",
            "Cannot specify both Range header and partNumber query parameter"
        )
    );

    // Tags come back sorted by key.
    let tags = s3
        .get_object_tagging()
        .bucket("shapes")
        .key("small")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = tags.tag_set().iter().map(|t| t.key()).collect();
    assert_eq!(keys, ["alpha", "mid", "zeta"]);

    // Versioning enabled: version ids and delete markers; suspended: no version id on writes.
    let enable = |status: BucketVersioningStatus| {
        s3.put_bucket_versioning()
            .bucket("shapes")
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
    };
    enable(BucketVersioningStatus::Enabled).await.unwrap();
    let v = s3
        .put_object()
        .bucket("shapes")
        .key("v")
        .body(ByteStream::from_static(b"one"))
        .send()
        .await
        .unwrap();
    assert!(v.version_id().is_some_and(|id| id != "null"));
    let del = s3
        .delete_object()
        .bucket("shapes")
        .key("v")
        .send()
        .await
        .unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    let marker = del.version_id().unwrap().to_owned();
    // Reading the marker by version id: 405 with the marker's headers.
    let err = s3
        .head_object()
        .bucket("shapes")
        .key("v")
        .version_id(&marker)
        .send()
        .await
        .unwrap_err();
    let raw = err.raw_response().unwrap();
    assert_eq!(raw.status().as_u16(), 405);
    assert_eq!(raw.headers().get("x-amz-delete-marker"), Some("true"));
    assert_eq!(raw.headers().get("x-amz-version-id"), Some(marker.as_str()));
    // Deleting the marker by version id says it was one.
    let del = s3
        .delete_object()
        .bucket("shapes")
        .key("v")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    assert_eq!(del.version_id(), Some(marker.as_str()));

    enable(BucketVersioningStatus::Suspended).await.unwrap();
    let put = s3
        .put_object()
        .bucket("shapes")
        .key("s")
        .body(ByteStream::from_static(b"suspended"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.version_id(), None);
    let copy = s3
        .copy_object()
        .bucket("shapes")
        .key("s2")
        .copy_source("shapes/s")
        .send()
        .await
        .unwrap();
    assert_eq!(copy.version_id(), None);
    let (id, done) = upload_parts(&s3, "shapes", "s3", &[b"mp".to_vec()], false).await;
    let out = s3
        .complete_multipart_upload()
        .bucket("shapes")
        .key("s3")
        .upload_id(&id)
        .multipart_upload(completed(&done))
        .send()
        .await
        .unwrap();
    assert_eq!(out.version_id(), None);
}

/// Python helpers the boto3 scripts below share: `error(call, **kw)` makes a call that must fail and
/// returns its HTTP status and `Error` element; `expect(result, status, code, message=None, **fields)`
/// checks them (and any extra error fields, such as `ArgumentName`).
const ERROR_HELPERS: &str = r##"
import botocore.exceptions

def error(call, **kw):
    try:
        call(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]
    raise SystemExit("expected %s(%s) to fail" % (call.__name__, kw))

def expect(result, status, code, message=None, **fields):
    got_status, err = result
    assert (got_status, err["Code"]) == (status, code), result
    if message is not None:
        assert err["Message"] == message, result
    for k, v in fields.items():
        assert err.get(k) == v, (k, result)
"##;

/// `script` with [`ERROR_HELPERS`] defined first.
fn with_error_helpers(script: &str) -> String {
    format!("{ERROR_HELPERS}\n{script}")
}

const BOTO3: &str = r##"
import base64, json, re, sys, urllib.request, urllib.error
import boto3, botocore
from botocore.config import Config

port = sys.argv[1]
endpoint = "http://127.0.0.1:%s" % port

def client(key="test", region="us-east-1"):
    return boto3.client("s3", endpoint_url=endpoint, region_name=region,
                        aws_access_key_id=key, aws_secret_access_key="test",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

s3 = client()
raw = {}
def keep(http_response, model, **kw):
    raw[model.name] = http_response.content
s3.meta.events.register("after-call.s3.*", keep)

s3.create_bucket(Bucket="py-fid")

# ListBuckets: the owner first, buckets with Name, CreationDate, BucketRegion, BucketArn; no DisplayName.
s3.list_buckets()
body = raw["ListBuckets"].decode()
assert body.index("<Owner>") < body.index("<Buckets>"), body
assert re.search(r"<Bucket><Name>py-fid</Name><CreationDate>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z</CreationDate><BucketRegion>us-east-1</BucketRegion><BucketArn>arn:aws:s3:::py-fid</BucketArn></Bucket>", body), body
assert "DisplayName" not in body, body

# Listing timestamps are whole seconds; owners carry only their id.
s3.put_object(Bucket="py-fid", Key="a b/c", Body=b"x")
s3.list_objects_v2(Bucket="py-fid", FetchOwner=True)
body = raw["ListObjectsV2"].decode()
assert re.search(r"<LastModified>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z</LastModified>", body), body
assert "DisplayName" not in body and "<Owner><ID>" in body, body
s3.list_object_versions(Bucket="py-fid")
assert re.search(r"\.000Z</LastModified>", raw["ListObjectVersions"].decode())
s3.get_bucket_acl(Bucket="py-fid")
assert "DisplayName" not in raw["GetBucketAcl"].decode()

# ListObjects (v1) with encoding-type=url leaves the top-level Prefix as sent.
out = s3.list_objects(Bucket="py-fid", Prefix="a b/", EncodingType="url")
assert "<Prefix>a b/</Prefix>" in raw["ListObjects"].decode(), raw["ListObjects"]
assert [o["Key"] for o in out["Contents"]] == ["a%20b/c"], out
out = s3.list_objects_v2(Bucket="py-fid", Prefix="a b/", EncodingType="url")
assert out["Prefix"] == "a%20b/", out
expect(error(s3.list_object_versions, Bucket="py-fid", EncodingType="gzip"), 400, "InvalidArgument",
       "Invalid Encoding Method specified in Request", ArgumentName="encoding-type", ArgumentValue="gzip")
expect(error(s3.list_multipart_uploads, Bucket="py-fid", MaxUploads=-1), 400, "InvalidArgument",
       ArgumentName="max-uploads")

# Non-ASCII metadata: RFC 2047 encoded words are decoded when stored and used again on the way out.
s3.put_object(Bucket="py-fid", Key="meta", Body=b"m", Metadata={"name": "=?UTF-8?B?w6TDtsO8?=", "plain": "abc"})
head = s3.head_object(Bucket="py-fid", Key="meta")
assert head["Metadata"] == {"name": "=?UTF-8?B?w6TDtsO8?=", "plain": "abc"}, head["Metadata"]
s3.put_object(Bucket="py-fid", Key="meta-q", Body=b"m", Metadata={"name": "=?UTF-8?Q?caf=C3=A9?="})
head = s3.head_object(Bucket="py-fid", Key="meta-q")
assert head["Metadata"]["name"] == "=?UTF-8?B?" + base64.b64encode("café".encode()).decode() + "?=", head

# Presigned PUT with x-amz-meta-* in the query string stores the metadata.
url = s3.generate_presigned_url("put_object", Params={"Bucket": "py-fid", "Key": "pre"})
req = urllib.request.Request(url + "&x-amz-meta-origin=query&x-amz-meta-n=1", data=b"presigned", method="PUT")
assert urllib.request.urlopen(req).status == 200
assert s3.head_object(Bucket="py-fid", Key="pre")["Metadata"] == {"origin": "query", "n": "1"}

# Presigned GET with If-Match / If-None-Match.
etag = s3.head_object(Bucket="py-fid", Key="pre")["ETag"]
url = s3.generate_presigned_url("get_object", Params={"Bucket": "py-fid", "Key": "pre"})
def status_of(headers):
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers)).status
    except urllib.error.HTTPError as e:
        return e.code
assert status_of({"If-Match": etag}) == 200
assert status_of({"If-Match": '"0000"'}) == 412
assert status_of({"If-None-Match": etag}) == 304
assert status_of({"If-None-Match": '"0000"'}) == 200

# Error codes, messages and fields.
expect(error(s3.get_object, Bucket="py-fid", Key="nothing"), 404, "NoSuchKey",
       "The specified key does not exist.", Key="nothing")
expect(error(s3.get_bucket_policy, Bucket="py-fid"), 404, "NoSuchBucketPolicy", "The bucket policy does not exist")
expect(error(s3.get_bucket_cors, Bucket="py-fid"), 404, "NoSuchCORSConfiguration", "The CORS configuration does not exist")
expect(error(s3.get_bucket_lifecycle_configuration, Bucket="py-fid"), 404, "NoSuchLifecycleConfiguration",
       "The lifecycle configuration does not exist")
expect(error(s3.get_bucket_tagging, Bucket="py-fid"), 404, "NoSuchTagSet", "The TagSet does not exist")
expect(error(s3.get_bucket_website, Bucket="py-fid"), 404, "NoSuchWebsiteConfiguration",
       "The specified bucket does not have a website configuration")
s3.create_multipart_upload(Bucket="py-fid", Key="mp")
up = s3.create_multipart_upload(Bucket="py-fid", Key="mp2")["UploadId"]
expect(error(s3.upload_part_copy, Bucket="py-fid", Key="mp2", UploadId=up, PartNumber=1,
             CopySource="py-fid/pre", CopySourceRange="bytes=2-100"), 400, "InvalidArgument",
       "Range specified is not valid for source object of size: 9",
       ArgumentName="x-amz-copy-source-range", ArgumentValue="bytes=2-100")
expect(error(s3.upload_part_copy, Bucket="py-fid", Key="mp2", UploadId=up, PartNumber=1,
             CopySource="py-fid/pre", CopySourceRange="0-1"), 400, "InvalidArgument",
       ArgumentName="x-amz-copy-source-range")
expect(error(s3.get_object_attributes, Bucket="py-fid", Key="pre", ObjectAttributes=[]), 400, "InvalidRequest")

# Tags.
eleven = [{"Key": "k%d" % i, "Value": "v"} for i in range(11)]
expect(error(s3.put_object_tagging, Bucket="py-fid", Key="pre", Tagging={"TagSet": eleven}), 400, "BadRequest",
       "Object tags cannot be greater than 10")
expect(error(s3.put_object_tagging, Bucket="py-fid", Key="pre", Tagging={"TagSet": [{"Key": "aws:k", "Value": "v"}]}),
       400, "InvalidTag", "Your TagKey cannot be prefixed with aws:")
expect(error(s3.put_bucket_tagging, Bucket="py-fid", Tagging={"TagSet": [{"Key": "aws:k", "Value": "v"}]}),
       400, "InvalidTag", "System tags cannot be added/updated by requester")
expect(error(s3.put_bucket_tagging, Bucket="py-fid", Tagging={"TagSet": [{"Key": "k", "Value": "a#b"}]}),
       400, "InvalidTag", "The TagValue you have provided is invalid")
s3.put_object_tagging(Bucket="py-fid", Key="pre", Tagging={"TagSet": [{"Key": "empty", "Value": ""}]})
assert s3.get_object_tagging(Bucket="py-fid", Key="pre")["TagSet"] == [{"Key": "empty", "Value": ""}]
fifty = [{"Key": "k%d" % i, "Value": "v"} for i in range(50)]
s3.put_bucket_tagging(Bucket="py-fid", Tagging={"TagSet": fifty})
expect(error(s3.put_bucket_tagging, Bucket="py-fid", Tagging={"TagSet": fifty + [{"Key": "x", "Value": "y"}]}),
       400, "BadRequest", "Bucket tag count cannot be greater than 50")

# Lifecycle rules.
def rules(*r):
    return {"Rules": list(r)}
rule = {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": "p/"}, "Expiration": {"Days": 1}}
lc = s3.put_bucket_lifecycle_configuration
expect(error(lc, Bucket="py-fid", LifecycleConfiguration=rules(rule, dict(rule))), 400, "InvalidArgument",
       "Rule ID must be unique. Found same ID for more than one rule")
expect(error(lc, Bucket="py-fid", LifecycleConfiguration=rules(dict(rule, ID="x" * 256))), 400, "InvalidArgument",
       "ID length should not exceed allowed limit of 255")
expect(error(lc, Bucket="py-fid", LifecycleConfiguration=rules(dict(rule, Status="On"))), 400, "MalformedXML")
expect(error(lc, Bucket="py-fid", LifecycleConfiguration=rules(dict(rule, Expiration={"Date": "2030-01-01T10:00:00Z"}))),
       400, "InvalidArgument", "'Date' must be at midnight GMT")
expect(error(lc, Bucket="py-fid", LifecycleConfiguration=rules(dict(rule, Expiration={"Days": 0}))), 400, "InvalidArgument",
       "'Days' for Expiration action must be a positive integer")
expect(error(lc, Bucket="py-fid", LifecycleConfiguration=rules(
    dict(rule, Filter={"Prefix": "a", "Tag": {"Key": "k", "Value": "v"}}))), 400, "MalformedXML")
no_action = {"ID": "n", "Status": "Enabled", "Filter": {"Prefix": ""}}
expect(error(lc, Bucket="py-fid", LifecycleConfiguration=rules(no_action)), 400, "InvalidRequest",
       "At least one action needs to be specified in a rule")
lc(Bucket="py-fid", LifecycleConfiguration=rules(rule, dict(rule, ID="s", Expiration={"Date": "2030-01-01T00:00:00Z"})))

# CORS rules.
cors = s3.put_bucket_cors
expect(error(cors, Bucket="py-fid", CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]}),
       400, "InvalidRequest", "Found unsupported HTTP method in CORS config. Unsupported method is PATCH")
expect(error(cors, Bucket="py-fid", CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*.a.*"], "AllowedMethods": ["GET"]}]}),
       400, "InvalidRequest", 'AllowedOrigin "*.a.*" can not have more than one wildcard.')

# Website index suffixes.
web = s3.put_bucket_website
expect(error(web, Bucket="py-fid", WebsiteConfiguration={"IndexDocument": {"Suffix": "dir/index.html"}}), 400,
       "InvalidArgument", "The IndexDocument Suffix is not well formed", ArgumentName="IndexDocument")
expect(error(web, Bucket="py-fid", WebsiteConfiguration={"ErrorDocument": {"Key": "e.html"}}), 400, "InvalidArgument",
       "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty")
web(Bucket="py-fid", WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})

# Logging targets.
logging = s3.put_bucket_logging
status = lambda target: {"LoggingEnabled": {"TargetBucket": target, "TargetPrefix": "logs/"}}
expect(error(logging, Bucket="py-fid", BucketLoggingStatus=status("no-such-target")), 400,
       "InvalidTargetBucketForLogging", "The target bucket for logging does not exist", TargetBucket="no-such-target")
client(region="eu-west-1").create_bucket(Bucket="py-fid-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
expect(error(logging, Bucket="py-fid", BucketLoggingStatus=status("py-fid-eu")), 403,
       "CrossLocationLoggingProhibitted", SourceBucketLocation="us-east-1", TargetBucketLocation="eu-west-1")
other = client(key="333333333333")
other.create_bucket(Bucket="py-fid-other")
expect(error(logging, Bucket="py-fid", BucketLoggingStatus=status("py-fid-other")), 400,
       "InvalidTargetBucketForLogging", "The owner for the bucket to be logged and the target bucket must be the same.")
s3.create_bucket(Bucket="py-fid-logs")
logging(Bucket="py-fid", BucketLoggingStatus=status("py-fid-logs"))
assert s3.get_bucket_logging(Bucket="py-fid")["LoggingEnabled"]["TargetBucket"] == "py-fid-logs"

# Bucket policy principals.
def policy(principal):
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": principal,
                       "Action": "s3:GetObject", "Resource": "arn:aws:s3:::py-fid/*"}]})
expect(error(s3.put_bucket_policy, Bucket="py-fid", Policy=policy({"AWS": "someone"})), 400, "MalformedPolicy",
       "Invalid principal in policy")
expect(error(s3.put_bucket_policy, Bucket="py-fid", Policy="not json"), 400, "MalformedPolicy")
s3.put_bucket_policy(Bucket="py-fid", Policy=policy({"AWS": "arn:aws:iam::123456789012:root"}))

# ACL grants (on a bucket whose ownership allows ACLs).
s3.create_bucket(Bucket="py-fid-acl", ObjectOwnership="ObjectWriter")
owner = s3.get_bucket_acl(Bucket="py-fid-acl")["Owner"]
assert set(owner) == {"ID"}, owner
def grant(grantee, permission="READ"):
    return {"Owner": owner, "Grants": [{"Grantee": grantee, "Permission": permission}]}
expect(error(s3.put_bucket_acl, Bucket="py-fid-acl",
             AccessControlPolicy=grant({"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/Nobody"})),
       400, "InvalidArgument", "Invalid group uri")
expect(error(s3.put_bucket_acl, Bucket="py-fid-acl", AccessControlPolicy=grant({"Type": "CanonicalUser", "ID": "shorty"})),
       400, "InvalidArgument", "Invalid id")
expect(error(s3.put_bucket_acl, Bucket="py-fid-acl",
             AccessControlPolicy=grant({"Type": "CanonicalUser", "ID": owner["ID"]}, "EVERYTHING")), 400, "MalformedACLError")
s3.delete_public_access_block(Bucket="py-fid-acl")
s3.put_bucket_acl(Bucket="py-fid-acl", AccessControlPolicy=grant(
    {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}))
assert s3.get_bucket_acl(Bucket="py-fid-acl")["Grants"][0]["Grantee"]["URI"].endswith("/AllUsers")
expect(error(s3.put_bucket_acl, Bucket="py-fid-acl", ACL="public-read", GrantRead='uri="x"'), 400, "InvalidRequest",
       "Specifying both Canned ACLs and Header Grants is not allowed")

# Object Lock retention periods.
s3.create_bucket(Bucket="py-fid-lock", ObjectLockEnabledForBucket=True)
def lock(rule):
    s3.put_object_lock_configuration(Bucket="py-fid-lock", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": rule}})
expect(error(lock, rule={"Mode": "GOVERNANCE", "Days": 0}), 400, "InvalidArgument",
       "Default retention period must be a positive integer value")
expect(error(lock, rule={"Mode": "GOVERNANCE", "Years": 101}), 400, "InvalidArgument",
       "Default retention period is too large.")
expect(error(lock, rule={"Mode": "GOVERNANCE", "Days": 1, "Years": 1}), 400, "MalformedXML")
print("ok")
"##;

#[test]
fn boto3_error_fields_shapes_presigned_urls_and_validation() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(with_error_helpers(BOTO3))
        .arg(skyport.port().to_string()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

const ENCRYPTION_AND_CORS: &str = r##"
import base64, hashlib, sys, urllib.request, urllib.error
import boto3, botocore
from botocore.config import Config

endpoint = sys.argv[1]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                  aws_secret_access_key="test", config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

s3.create_bucket(Bucket="py-enc")
key = b"k" * 32
other = b"o" * 32
md5 = base64.b64encode(hashlib.md5(key).digest()).decode()
ssec = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}

# SSE-C: the key's MD5 echoed, never SSE-S3; the key is needed to read.
put = s3.put_object(Bucket="py-enc", Key="c", Body=b"secret", **ssec)
assert put["SSECustomerAlgorithm"] == "AES256" and put["SSECustomerKeyMD5"] == md5, put
assert "ServerSideEncryption" not in put, put
got = s3.get_object(Bucket="py-enc", Key="c", **ssec)
assert got["Body"].read() == b"secret" and got["SSECustomerKeyMD5"] == md5, got
assert s3.head_object(Bucket="py-enc", Key="c", **ssec)["SSECustomerAlgorithm"] == "AES256"
expect(error(s3.get_object, Bucket="py-enc", Key="c"), 400, "InvalidRequest",
       "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.")
assert error(s3.head_object, Bucket="py-enc", Key="c")[0] == 400
expect(error(s3.get_object, Bucket="py-enc", Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=other), 403, "AccessDenied")
s3.put_object(Bucket="py-enc", Key="plain", Body=b"p")
expect(error(s3.get_object, Bucket="py-enc", Key="plain", **ssec), 400, "InvalidRequest",
       "The encryption parameters are not applicable to this object.")
# (botocore computes the key MD5 itself: a wrong one is sent by hand.)
# (Hand-made requests carry credentials, any signature: the bucket is private.)
AUTH = {"Authorization": "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x"}
req = urllib.request.Request(endpoint + "/py-enc/bad", data=b"x", method="PUT", headers={**AUTH,
    "x-amz-server-side-encryption-customer-algorithm": "AES256",
    "x-amz-server-side-encryption-customer-key": base64.b64encode(key).decode(),
    "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(b"0" * 16).decode()})
try:
    urllib.request.urlopen(req)
    raise SystemExit("a wrong key MD5 was accepted")
except urllib.error.HTTPError as e:
    body = e.read()
    assert e.code == 400 and b"<Code>InvalidArgument</Code>" in body, body
    assert b"The calculated MD5 hash of the key did not match the hash that was provided." in body, body
expect(error(s3.put_object, Bucket="py-enc", Key="bad", Body=b"x", SSECustomerAlgorithm="AES256", SSECustomerKey=b"short"),
       400, "InvalidArgument", "The secret key was invalid for the specified algorithm.")
expect(error(s3.put_object, Bucket="py-enc", Key="bad", Body=b"x", SSECustomerAlgorithm="DES", SSECustomerKey=key),
       400, "InvalidArgument")
# A copy of an SSE-C source needs the source key; the copy is encrypted as the request says.
expect(error(s3.copy_object, Bucket="py-enc", Key="copy", CopySource="py-enc/c"), 400, "InvalidRequest")
copy = s3.copy_object(Bucket="py-enc", Key="copy", CopySource="py-enc/c",
                      CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=key)
assert copy["ServerSideEncryption"] == "AES256", copy
assert s3.get_object(Bucket="py-enc", Key="copy")["Body"].read() == b"secret"
# Multipart with SSE-C: every part brings the key.
up = s3.create_multipart_upload(Bucket="py-enc", Key="mc", **ssec)
assert up["SSECustomerKeyMD5"] == md5, up
expect(error(s3.upload_part, Bucket="py-enc", Key="mc", UploadId=up["UploadId"], PartNumber=1, Body=b"x"), 400,
       "InvalidRequest")
part = s3.upload_part(Bucket="py-enc", Key="mc", UploadId=up["UploadId"], PartNumber=1, Body=b"x", **ssec)
assert part["SSECustomerKeyMD5"] == md5, part
done = s3.complete_multipart_upload(Bucket="py-enc", Key="mc", UploadId=up["UploadId"],
                                    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
assert s3.get_object(Bucket="py-enc", Key="mc", **ssec)["Body"].read() == b"x"

# SSE-KMS: the key id comes back as a key ARN; without one, the account's aws/s3 key.
kms = s3.put_object(Bucket="py-enc", Key="k1", Body=b"x", ServerSideEncryption="aws:kms",
                    SSEKMSKeyId="1234abcd-12ab-34cd-56ef-1234567890ab", BucketKeyEnabled=True)
assert kms["ServerSideEncryption"] == "aws:kms", kms
assert kms["SSEKMSKeyId"] == "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab", kms
assert kms["BucketKeyEnabled"] is True, kms
head = s3.head_object(Bucket="py-enc", Key="k1")
assert head["SSEKMSKeyId"] == kms["SSEKMSKeyId"] and head["ServerSideEncryption"] == "aws:kms", head
managed = s3.put_object(Bucket="py-enc", Key="k2", Body=b"x", ServerSideEncryption="aws:kms")["SSEKMSKeyId"]
assert managed.startswith("arn:aws:kms:us-east-1:000000000000:key/"), managed
expect(error(s3.put_object, Bucket="py-enc", Key="k3", Body=b"x", ServerSideEncryption="rot13"), 400, "InvalidArgument")
# The bucket's default encryption applies to writes that name none, multipart included.
s3.put_bucket_encryption(Bucket="py-enc", ServerSideEncryptionConfiguration={"Rules": [{
    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "arn:aws:kms:us-east-1:000000000000:key/default-key"},
    "BucketKeyEnabled": True}]})
out = s3.put_object(Bucket="py-enc", Key="d", Body=b"x")
assert (out["ServerSideEncryption"], out["SSEKMSKeyId"]) == ("aws:kms", "arn:aws:kms:us-east-1:000000000000:key/default-key"), out
up = s3.create_multipart_upload(Bucket="py-enc", Key="md")
assert up["ServerSideEncryption"] == "aws:kms", up
part = s3.upload_part(Bucket="py-enc", Key="md", UploadId=up["UploadId"], PartNumber=1, Body=b"x")
assert part["ServerSideEncryption"] == "aws:kms" and part["SSEKMSKeyId"].endswith("/default-key"), part
done = s3.complete_multipart_upload(Bucket="py-enc", Key="md", UploadId=up["UploadId"],
                                    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
assert done["ServerSideEncryption"] == "aws:kms" and done["SSEKMSKeyId"].endswith("/default-key"), done
s3.delete_bucket_encryption(Bucket="py-enc")
assert s3.put_object(Bucket="py-enc", Key="e", Body=b"x")["ServerSideEncryption"] == "AES256"

# CORS: preflights without a configuration or a bucket are 403; actual requests get the rule's headers.
def call(method, path, headers):
    # Preflights are never signed; the actual requests are the signed calls of a logged-in page.
    if method != "OPTIONS":
        headers = {**AUTH, **headers}
    req = urllib.request.Request(endpoint + path, method=method, headers=headers)
    try:
        r = urllib.request.urlopen(req)
        return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
pre = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
status, _, body = call("OPTIONS", "/py-enc/plain", pre)
assert status == 403 and b"<Code>AccessForbidden</Code>" in body and b"CORS is not enabled for this bucket" in body, body
status, _, body = call("OPTIONS", "/py-no-such-bucket/x", pre)
assert status == 403 and b"<Code>AccessForbidden</Code>" in body, body
s3.put_bucket_cors(Bucket="py-enc", CORSConfiguration={"CORSRules": [
    {"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET", "HEAD"], "ExposeHeaders": ["ETag"],
     "MaxAgeSeconds": 60}]})
status, headers, body = call("GET", "/py-enc/plain", {"Origin": "https://app.example"})
assert status == 200 and body == b"p", status
assert headers["Access-Control-Allow-Origin"] == "https://app.example", dict(headers)
assert headers["Access-Control-Expose-Headers"] == "ETag", dict(headers)
assert headers["Access-Control-Allow-Credentials"] == "true", dict(headers)
assert "Origin" in headers["Vary"], dict(headers)
status, headers, _ = call("GET", "/py-enc/missing", {"Origin": "https://app.example"})
assert status == 404 and headers["Access-Control-Allow-Origin"] == "https://app.example", dict(headers)
status, headers, _ = call("GET", "/py-enc/plain", {"Origin": "https://evil.example"})
assert status == 200 and "Access-Control-Allow-Origin" not in headers, dict(headers)
status, headers, _ = call("GET", "/py-enc/plain", {})
assert "Access-Control-Allow-Origin" not in headers, dict(headers)
print("ok")
"##;

#[test]
fn boto3_sse_c_sse_kms_bucket_default_encryption_and_cors() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(with_error_helpers(ENCRYPTION_AND_CORS))
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

/// `x-amz-expected-bucket-owner` and `x-amz-source-expected-bucket-owner`: another account's id is
/// `403 AccessDenied`, the owner's passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expected_bucket_owner_is_checked() {
    let skyport = Skyport::start();
    let s3 = client(&skyport.endpoint());
    s3.create_bucket().bucket("owned").send().await.unwrap();
    s3.put_object()
        .bucket("owned")
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .expected_bucket_owner("000000000000")
        .send()
        .await
        .unwrap();
    s3.head_bucket()
        .bucket("owned")
        .expected_bucket_owner("000000000000")
        .send()
        .await
        .unwrap();
    let (status, code, message) = fail(
        s3.get_object()
            .bucket("owned")
            .key("k")
            .expected_bucket_owner("111111111111")
            .send()
            .await,
    );
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (403, "AccessDenied", "Access Denied")
    );
    let (status, code, _) = fail(
        s3.put_object()
            .bucket("owned")
            .key("other")
            .body(ByteStream::from_static(b"v"))
            .expected_bucket_owner("111111111111")
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (403, "AccessDenied"));
    let err = s3
        .head_bucket()
        .bucket("owned")
        .expected_bucket_owner("111111111111")
        .send()
        .await
        .expect_err("another owner");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    let (status, code, _) = fail(
        s3.copy_object()
            .bucket("owned")
            .key("copy")
            .copy_source("owned/k")
            .expected_source_bucket_owner("111111111111")
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (403, "AccessDenied"));
    s3.copy_object()
        .bucket("owned")
        .key("copy")
        .copy_source("owned/k")
        .expected_source_bucket_owner("000000000000")
        .expected_bucket_owner("000000000000")
        .send()
        .await
        .unwrap();
    // Nothing was written by the refused calls.
    let (status, code, _) = fail(s3.head_object().bucket("owned").key("other").send().await);
    assert_eq!((status, code.as_str()), (404, "NotFound"));
}

const RESTORE_AND_EVENTS: &str = r##"
import json, sys, time
import boto3, botocore
from botocore.config import Config

endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}), **kw)
sqs = boto3.client("sqs", **kw)

def error(call, **kw):
    try:
        call(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]
    raise AssertionError("no error from %s" % call)

s3.create_bucket(Bucket="cold", ObjectOwnership="BucketOwnerPreferred")
s3.put_public_access_block(Bucket="cold", PublicAccessBlockConfiguration={
    "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
q = sqs.create_queue(QueueName="cold-events")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
s3.put_bucket_notification_configuration(Bucket="cold", NotificationConfiguration={"QueueConfigurations": [
    {"Id": "all", "QueueArn": arn, "Events": ["s3:ObjectRestore:*", "s3:ObjectTagging:*", "s3:ObjectAcl:Put"]}]})

s3.put_object(Bucket="cold", Key="archive.bin", Body=b"frozen", StorageClass="GLACIER")
s3.put_object(Bucket="cold", Key="warm.bin", Body=b"warm")
head = s3.head_object(Bucket="cold", Key="archive.bin")
assert head["StorageClass"] == "GLACIER" and "Restore" not in head, head
status, err = error(s3.get_object, Bucket="cold", Key="archive.bin")
assert status == 403 and err["Code"] == "InvalidObjectState", (status, err)
assert err["Message"] == "The operation is not valid for the object's storage class", err
assert err.get("StorageClass") == "GLACIER", err
status, err = error(s3.copy_object, Bucket="cold", Key="copy.bin", CopySource="cold/archive.bin")
assert status == 403 and err["Code"] == "InvalidObjectState", (status, err)
status, err = error(s3.restore_object, Bucket="cold", Key="warm.bin", RestoreRequest={"Days": 1})
assert status == 403 and err["Code"] == "InvalidObjectState", (status, err)
status, err = error(s3.restore_object, Bucket="cold", Key="missing", RestoreRequest={"Days": 1})
assert status == 404 and err["Code"] == "NoSuchKey", (status, err)

r = s3.restore_object(Bucket="cold", Key="archive.bin", RestoreRequest={"Days": 2, "GlacierJobParameters": {"Tier": "Bulk"}})
assert r["ResponseMetadata"]["HTTPStatusCode"] == 202, r
head = s3.head_object(Bucket="cold", Key="archive.bin")
assert head["Restore"].startswith('ongoing-request="false", expiry-date="') and head["Restore"].endswith(' 00:00:00 GMT"'), head
assert s3.get_object(Bucket="cold", Key="archive.bin")["Body"].read() == b"frozen"
s3.copy_object(Bucket="cold", Key="copy.bin", CopySource="cold/archive.bin")
copy = s3.head_object(Bucket="cold", Key="copy.bin")
assert "Restore" not in copy and "StorageClass" not in copy, copy
r = s3.restore_object(Bucket="cold", Key="archive.bin", RestoreRequest={"Days": 5})
assert r["ResponseMetadata"]["HTTPStatusCode"] == 200, r
listed = s3.list_objects_v2(Bucket="cold", OptionalObjectAttributes=["RestoreStatus"])["Contents"]
entry = [o for o in listed if o["Key"] == "archive.bin"][0]
assert entry["RestoreStatus"]["IsRestoreInProgress"] is False and "RestoreExpiryDate" in entry["RestoreStatus"], entry
assert "RestoreStatus" not in [o for o in listed if o["Key"] == "warm.bin"][0]

s3.put_object_tagging(Bucket="cold", Key="warm.bin", Tagging={"TagSet": [{"Key": "a", "Value": "1"}]})
s3.delete_object_tagging(Bucket="cold", Key="warm.bin")
s3.put_object_acl(Bucket="cold", Key="warm.bin", ACL="public-read")

seen = {}
deadline = time.time() + 10
while len(seen) < 5 and time.time() < deadline:
    for m in sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
        body = json.loads(m["Body"])
        for rec in body.get("Records", []):
            seen[rec["eventName"]] = rec
names = sorted(seen)
assert names == ["ObjectAcl:Put", "ObjectRestore:Completed", "ObjectRestore:Post", "ObjectTagging:Delete", "ObjectTagging:Put"], names
done = seen["ObjectRestore:Completed"]
data = done["glacierEventData"]["restoreEventData"]
assert data["lifecycleRestoreStorageClass"] == "GLACIER" and data["lifecycleRestorationExpiryTime"].endswith("T00:00:00.000Z"), done
assert "glacierEventData" not in seen["ObjectRestore:Post"]
assert seen["ObjectTagging:Put"]["s3"]["object"]["key"] == "warm.bin"
print("ok")
"##;

/// Archived storage classes and RestoreObject (202, then 200; `x-amz-restore`; listings'
/// `RestoreStatus`; `InvalidObjectState` on reads and copies), and the restore, tagging and ACL event
/// notifications, through boto3.
#[test]
fn boto3_restore_archived_objects_and_their_events() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(RESTORE_AND_EVENTS)
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

const ACCESS_LOGS: &str = r##"
import re, sys, time, urllib.request, urllib.error
import boto3, botocore
from botocore.config import Config

endpoint = sys.argv[1]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                  aws_secret_access_key="test", config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
for b in ("app", "app-logs", "parted"):
    s3.create_bucket(Bucket=b)
s3.put_bucket_logging(Bucket="app", BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": "app-logs", "TargetPrefix": "access/"}})
s3.put_bucket_logging(Bucket="parted", BucketLoggingStatus={"LoggingEnabled": {
    "TargetBucket": "app-logs", "TargetPrefix": "p/", "TargetObjectKeyFormat": {"PartitionedPrefix": {"PartitionDateSource": "EventTime"}}}})
s3.put_object(Bucket="app", Key="dir/a b.txt", Body=b"hello")
assert s3.get_object(Bucket="app", Key="dir/a b.txt")["Body"].read() == b"hello"
try:
    s3.get_object(Bucket="app", Key="missing")
    raise SystemExit("missing key read")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "NoSuchKey"
s3.list_objects_v2(Bucket="app")
s3.get_bucket_versioning(Bucket="app")
s3.put_object(Bucket="parted", Key="k", Body=b"x")

LINE = re.compile(r'(\S+) (\S+) \[([^\]]+)\] (\S+) (\S+) (\S+) (\S+) (\S+) "([^"]*)" (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) "([^"]*)" "([^"]*)" (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+)$')
def records(prefix, want):
    deadline = time.time() + 15
    while time.time() < deadline:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="app-logs", Prefix=prefix).get("Contents", [])]
        lines = []
        for k in keys:
            lines += s3.get_object(Bucket="app-logs", Key=k)["Body"].read().decode().splitlines()
        if len(lines) >= want:
            return keys, lines
        time.sleep(0.3)
    raise SystemExit("no access logs under %s" % prefix)

keys, lines = records("access/", 5)
assert all(re.fullmatch(r"access/\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9A-F]{16}", k) for k in keys), keys
parsed = [LINE.match(l) for l in lines]
assert all(parsed), lines
by_op = {}
for m in parsed:
    assert m.group(2) == "app" and len(m.group(1)) == 64, m.groups()
    assert re.fullmatch(r"\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} \+0000", m.group(3)), m.group(3)
    by_op.setdefault(m.group(7), []).append(m)
put = by_op["REST.PUT.OBJECT"][0]
assert put.group(8) == "dir/a%20b.txt" and put.group(10) == "200" and put.group(13) == "5", put.groups()
assert put.group(9).startswith("PUT /app/dir/a%20b.txt") and put.group(9).endswith("HTTP/1.1"), put.group(9)
assert put.group(20) == "SigV4" and put.group(22) == "AuthHeader", put.groups()
gets = by_op["REST.GET.OBJECT"]
ok = [g for g in gets if g.group(10) == "200"][0]
assert ok.group(12) == "5", ok.groups()
missing = [g for g in gets if g.group(10) == "404"][0]
assert missing.group(11) == "NoSuchKey" and missing.group(8) == "missing", missing.groups()
assert by_op["REST.GET.BUCKET"][0].group(8) == "-"
assert "REST.GET.VERSIONING" in by_op, sorted(by_op)
assert "Boto3" in put.group(17) or "botocore" in put.group(17), put.group(17)

keys, lines = records("p/", 1)
assert re.fullmatch(r"p/000000000000/us-east-1/parted/\d{4}/\d{2}/\d{2}/\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9A-F]{16}", keys[0]), keys
print("ok")
"##;

/// Server access logging: records in AWS's format delivered as log objects to the target bucket
/// (simple and partitioned key formats), through boto3.
#[test]
fn boto3_server_access_logs_are_delivered() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start_with(
        common::Options::default().env("SKYPORT_S3_ACCESS_LOG_INTERVAL_SECONDS", "0.3"),
    );
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(ACCESS_LOGS)
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

const SELECT: &str = r##"
import sys, json
import boto3, botocore
from botocore.config import Config

endpoint = sys.argv[1]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                  aws_secret_access_key="test", config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
s3.create_bucket(Bucket="sel")
s3.put_object(Bucket="sel", Key="people.csv", Body=b"name,city,age\nAda,\"London, UK\",36\nBob,Berlin,41\nCy,Boston,29\n")
s3.put_object(Bucket="sel", Key="events.json", Body=b'{"id":1,"kind":"click","user":{"name":"ada"}}\n{"id":2,"kind":"view","user":{"name":"bob"}}\n{"id":3,"kind":"click","user":{"name":"cy"}}\n')

def select(key, sql, input, output):
    r = s3.select_object_content(Bucket="sel", Key=key, Expression=sql, ExpressionType="SQL",
                                 InputSerialization=input, OutputSerialization=output)
    records, stats, ended = b"", None, False
    for event in r["Payload"]:
        if "Records" in event:
            records += event["Records"]["Payload"]
        elif "Stats" in event:
            stats = event["Stats"]["Details"]
        elif "End" in event:
            ended = True
    assert ended and stats is not None, (stats, ended)
    return records.decode(), stats

csv_in = {"CSV": {"FileHeaderInfo": "USE"}, "CompressionType": "NONE"}
out, stats = select("people.csv", "SELECT s.name, s.city FROM S3Object s WHERE CAST(s.age AS INT) > 30", csv_in, {"CSV": {}})
assert out == 'Ada,"London, UK"\nBob,Berlin\n', out
assert stats["BytesScanned"] > 0 and stats["BytesReturned"] == len(out.encode()), stats
out, _ = select("people.csv", "SELECT COUNT(*) AS n, AVG(CAST(age AS INT)) FROM S3Object", csv_in, {"JSON": {}})
row = json.loads(out)
assert row["n"] == 3 and abs(row["_2"] - 35.333) < 0.01, row
out, _ = select("people.csv", "SELECT s._1 FROM S3Object s WHERE s._3 = 'age'", {"CSV": {"FileHeaderInfo": "NONE"}}, {"CSV": {}})
assert out == "name\n", out
out, _ = select("events.json", "SELECT s.id, s.user.name FROM S3Object[*] s WHERE s.kind = 'click' LIMIT 5",
                {"JSON": {"Type": "LINES"}}, {"JSON": {"RecordDelimiter": "\n"}})
assert [json.loads(l) for l in out.splitlines()] == [{"id": 1, "name": "ada"}, {"id": 3, "name": "cy"}], out

def error(**kw):
    try:
        select(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]
    raise AssertionError("no error")
assert error(key="people.csv", sql="SELECT name FROM table", input=csv_in, output={"CSV": {}}) == (400, "ParseInvalidPathComponent")
assert error(key="people.csv", sql="SELECT CAST(city AS INT) FROM S3Object", input=csv_in, output={"CSV": {}}) == (400, "CastFailed")
assert error(key="missing.csv", sql="SELECT * FROM S3Object", input=csv_in, output={"CSV": {}}) == (404, "NoSuchKey")
print("ok")
"##;

/// SelectObjectContent through boto3 (which checks the event stream's framing and CRCs): CSV with and
/// without a header, JSON lines, projections, conditions, CAST, aggregates, LIMIT, and S3 Select's errors.
#[test]
fn boto3_select_object_content() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(SELECT)
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

const ANONYMOUS_ACCESS: &str = r##"
import json, sys, urllib.request, urllib.error
import boto3, botocore

ep = sys.argv[1]
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="test",
                  aws_secret_access_key="test")

def anon(method, path, data=None):
    req = urllib.request.Request(ep + path, data=data, method=method)
    try:
        r = urllib.request.urlopen(req)
        return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

def denied(result):
    status, body = result
    return status == 403 and b"<Code>AccessDenied</Code><Message>Access Denied</Message>" in body

def error(call, **kw):
    try:
        call(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise SystemExit("expected %s to fail" % call.__name__)

OPEN = {"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": False}

# A private object: anonymous GET is 403 AccessDenied (HEAD: no body), signed GET 200.
s3.create_bucket(Bucket="anon-private")
s3.put_object(Bucket="anon-private", Key="secret.txt", Body=b"secret")
assert denied(anon("GET", "/anon-private/secret.txt"))
status, body = anon("HEAD", "/anon-private/secret.txt")
assert status == 403 and body == b"", (status, body)
assert denied(anon("GET", "/anon-private/missing"))
assert denied(anon("GET", "/anon-private?list-type=2"))
assert denied(anon("PUT", "/anon-private/new", b"x"))
assert anon("GET", "/anon-no-such-bucket/k")[0] == 404
assert s3.get_object(Bucket="anon-private", Key="secret.txt")["Body"].read() == b"secret"

# A public-read object ACL (ACLs enabled, public access block off): readable, not writable.
s3.create_bucket(Bucket="anon-acl", ObjectOwnership="BucketOwnerPreferred")
s3.put_public_access_block(Bucket="anon-acl", PublicAccessBlockConfiguration=OPEN)
s3.put_object(Bucket="anon-acl", Key="pub.txt", Body=b"public", ACL="public-read")
s3.put_object(Bucket="anon-acl", Key="priv.txt", Body=b"private")
assert anon("GET", "/anon-acl/pub.txt") == (200, b"public")
assert anon("HEAD", "/anon-acl/pub.txt")[0] == 200
assert denied(anon("GET", "/anon-acl/priv.txt"))
assert denied(anon("PUT", "/anon-acl/pub.txt", b"overwritten"))
assert denied(anon("DELETE", "/anon-acl/pub.txt"))
assert s3.get_object(Bucket="anon-acl", Key="pub.txt")["Body"].read() == b"public"
# IgnorePublicAcls: the public-read ACL no longer grants.
s3.put_public_access_block(Bucket="anon-acl", PublicAccessBlockConfiguration=dict(OPEN, IgnorePublicAcls=True))
assert denied(anon("GET", "/anon-acl/pub.txt"))
# BucketOwnerEnforced disables ACLs altogether.
s3.put_public_access_block(Bucket="anon-acl", PublicAccessBlockConfiguration=OPEN)
assert anon("GET", "/anon-acl/pub.txt")[0] == 200
s3.put_object_acl(Bucket="anon-acl", Key="pub.txt", ACL="private")
assert denied(anon("GET", "/anon-acl/pub.txt"))

# Block Public Access is on for new buckets: a public policy is refused.
s3.create_bucket(Bucket="anon-policy")
public_read = {"Version": "2012-10-17", "Statement": [
    {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::anon-policy/public/*"},
    {"Sid": "PublicList", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:ListBucket",
     "Resource": "arn:aws:s3:::anon-policy"},
    {"Sid": "NotThisOne", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::anon-policy/public/blocked.txt"}]}
status, code, message = error(s3.put_bucket_policy, Bucket="anon-policy", Policy=json.dumps(public_read))
assert (status, code) == (403, "AccessDenied") and "BlockPublicPolicy" in message, (status, code, message)
assert error(s3.get_bucket_policy, Bucket="anon-policy")[1] == "NoSuchBucketPolicy"
# A policy for named principals is not public: stored.
named = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                                                 "Action": "s3:GetObject", "Resource": "arn:aws:s3:::anon-policy/*"}]}
s3.put_bucket_policy(Bucket="anon-policy", Policy=json.dumps(named))

# With the block relaxed: a policy allowing s3:GetObject to "*" on public/*.
s3.put_public_access_block(Bucket="anon-policy", PublicAccessBlockConfiguration=OPEN)
s3.put_bucket_policy(Bucket="anon-policy", Policy=json.dumps(public_read))
for key in ["public/a.txt", "public/blocked.txt", "private/b.txt"]:
    s3.put_object(Bucket="anon-policy", Key=key, Body=key.encode())
assert anon("GET", "/anon-policy/public/a.txt") == (200, b"public/a.txt")
assert denied(anon("GET", "/anon-policy/private/b.txt"))
# An explicit Deny wins over the Allow.
assert denied(anon("GET", "/anon-policy/public/blocked.txt"))
status, body = anon("HEAD", "/anon-policy/public/blocked.txt")
assert status == 403 and body == b"", (status, body)
# Allowed to list: a missing key is a 404, and ListObjects works anonymously.
assert anon("GET", "/anon-policy/public/missing.txt")[0] == 404
status, body = anon("GET", "/anon-policy?list-type=2&prefix=public/")
assert status == 200 and b"<Key>public/a.txt</Key>" in body and b"private/b.txt" not in body, (status, body)
status, body = anon("GET", "/anon-policy")
assert status == 200 and b"<Key>private/b.txt</Key>" in body, (status, body)
# Writes are not granted.
assert denied(anon("PUT", "/anon-policy/public/new.txt", b"x"))
assert denied(anon("DELETE", "/anon-policy/public/a.txt"))
# RestrictPublicBuckets: a public policy grants nothing to anonymous callers.
s3.put_public_access_block(Bucket="anon-policy", PublicAccessBlockConfiguration=dict(OPEN, RestrictPublicBuckets=True))
assert denied(anon("GET", "/anon-policy/public/a.txt"))
s3.put_public_access_block(Bucket="anon-policy", PublicAccessBlockConfiguration=OPEN)
# A policy granting anonymous writes under a prefix.
upload = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
                                                  "Resource": "arn:aws:s3:::anon-policy/inbox/*"}]}
s3.put_bucket_policy(Bucket="anon-policy", Policy=json.dumps(upload))
assert anon("PUT", "/anon-policy/inbox/drop.txt", b"dropped")[0] == 200
assert denied(anon("PUT", "/anon-policy/other.txt", b"x"))
assert s3.get_object(Bucket="anon-policy", Key="inbox/drop.txt")["Body"].read() == b"dropped"
# Signed requests are unaffected.
assert s3.get_object(Bucket="anon-policy", Key="private/b.txt")["Body"].read() == b"private/b.txt"
print("ok")
"##;

/// What AWS always checks for anonymous requests: ACLs, the bucket policy and Block Public
/// Access (issue #16); signed requests are allowed as before.
#[test]
fn anonymous_requests_follow_acls_bucket_policies_and_block_public_access() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(ANONYMOUS_ACCESS)
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

const BLOCK_PUBLIC_ACLS: &str = r##"
import sys, urllib.request, urllib.error
import boto3, botocore
from botocore.config import Config

ep = sys.argv[1]
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="test",
                  aws_secret_access_key="test", config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

def denied(call, **kw):
    expect(error(call, **kw), 403, "AccessDenied", "Access Denied")

def grants(acl):
    return sorted((g["Grantee"].get("URI") or g["Grantee"]["ID"], g["Permission"]) for g in acl["Grants"])

ALL = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOGS = "http://acs.amazonaws.com/groups/s3/LogDelivery"

# ACLs enabled (ObjectWriter); a new bucket's public access block is all on, BlockPublicAcls included.
s3.create_bucket(Bucket="bpa", ObjectOwnership="ObjectWriter")
owner = s3.get_bucket_acl(Bucket="bpa")["Owner"]
def policy(*pairs):
    return {"Owner": owner, "Grants": [{"Grantee": g, "Permission": p} for g, p in pairs]}
s3.put_object(Bucket="bpa", Key="k", Body=b"x")
for acl in ["public-read", "public-read-write", "authenticated-read"]:
    denied(s3.put_object, Bucket="bpa", Key="k", Body=b"x", ACL=acl)
    denied(s3.put_bucket_acl, Bucket="bpa", ACL=acl)
    denied(s3.put_object_acl, Bucket="bpa", Key="k", ACL=acl)
    denied(s3.copy_object, Bucket="bpa", Key="c", CopySource="bpa/k", ACL=acl)
    denied(s3.create_multipart_upload, Bucket="bpa", Key="m", ACL=acl)
denied(s3.put_object, Bucket="bpa", Key="k", Body=b"x", GrantRead='uri="%s"' % ALL)
denied(s3.put_object, Bucket="bpa", Key="k", Body=b"x", GrantFullControl='uri="%s"' % AUTH)
denied(s3.put_object_acl, Bucket="bpa", Key="k", GrantReadACP='uri="%s"' % AUTH)
denied(s3.put_bucket_acl, Bucket="bpa", GrantWrite='uri="%s"' % ALL)
denied(s3.put_object_acl, Bucket="bpa", Key="k",
       AccessControlPolicy=policy(({"Type": "Group", "URI": AUTH}, "READ")))
denied(s3.put_bucket_acl, Bucket="bpa", AccessControlPolicy=policy(
    ({"Type": "CanonicalUser", "ID": owner["ID"]}, "FULL_CONTROL"), ({"Type": "Group", "URI": ALL}, "READ")))
# A browser POST upload with a public acl field too.
def post(fields):
    boundary = "----skyportboundaryBPA"
    parts = ["--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (boundary, k, v) for k, v in fields.items()]
    parts.append("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\n\r\nform\r\n--%s--\r\n" % (boundary, boundary))
    req = urllib.request.Request(ep + "/bpa", data="".join(parts).encode(), method="POST",
                                 headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
    try:
        return urllib.request.urlopen(req).status, b""
    except urllib.error.HTTPError as e:
        return e.code, e.read()
form = s3.generate_presigned_post("bpa", "posted", Fields={"acl": "public-read"}, Conditions=[{"acl": "public-read"}])
status, body = post(form["fields"])
assert status == 403 and b"<Code>AccessDenied</Code><Message>Access Denied</Message>" in body, (status, body)
# Nothing was stored, nothing was made.
assert error(s3.head_object, Bucket="bpa", Key="posted")[0] == 404
assert grants(s3.get_object_acl(Bucket="bpa", Key="k")) == [(owner["ID"], "FULL_CONTROL")]
assert grants(s3.get_bucket_acl(Bucket="bpa")) == [(owner["ID"], "FULL_CONTROL")]
assert "Contents" not in s3.list_objects_v2(Bucket="bpa", Prefix="c")
assert "Uploads" not in s3.list_multipart_uploads(Bucket="bpa")
# ACLs that are not public are allowed: private ones, the owner's, the log delivery group's.
s3.put_object(Bucket="bpa", Key="p", Body=b"x", ACL="private")
s3.put_object(Bucket="bpa", Key="o", Body=b"x", ACL="bucket-owner-full-control")
s3.put_object(Bucket="bpa", Key="g", Body=b"x", GrantRead='id="%s"' % owner["ID"])
assert grants(s3.get_object_acl(Bucket="bpa", Key="g")) == [(owner["ID"], "READ")]
s3.put_bucket_acl(Bucket="bpa", ACL="log-delivery-write")
s3.put_bucket_acl(Bucket="bpa", GrantWrite='uri="%s"' % LOGS, GrantFullControl='id="%s"' % owner["ID"])
assert grants(s3.get_bucket_acl(Bucket="bpa")) == sorted([(LOGS, "WRITE"), (owner["ID"], "FULL_CONTROL")])
# Validation comes first.
expect(error(s3.put_object, Bucket="bpa", Key="k", Body=b"x", ACL="public-read", GrantRead='uri="%s"' % ALL),
       400, "InvalidRequest", "Specifying both Canned ACLs and Header Grants is not allowed")
expect(error(s3.put_object, Bucket="bpa", Key="k", Body=b"x", GrantRead="everyone"), 400, "InvalidArgument",
       "Argument format not recognized", ArgumentName="x-amz-grant-read", ArgumentValue="everyone")
expect(error(s3.put_object, Bucket="bpa", Key="k", Body=b"x", GrantRead='id="123"'), 400, "InvalidArgument",
       "Invalid id", ArgumentName="id", ArgumentValue="123")
expect(error(s3.put_object, Bucket="bpa", Key="k", Body=b"x", GrantRead='uri="http://acs.amazonaws.com/groups/global/Nobody"'),
       400, "InvalidArgument", "Invalid group uri")
expect(error(s3.put_object_acl, Bucket="bpa", Key="k", GrantRead='emailAddress="someone@example.com"'), 400,
       "UnresolvableGrantByEmailAddress", "The e-mail address you provided does not match any account on record.")

# ACLs disabled (BucketOwnerEnforced, the default) are answered before Block Public Access.
s3.create_bucket(Bucket="bpa-enforced")
expect(error(s3.put_object, Bucket="bpa-enforced", Key="k", Body=b"x", ACL="public-read"), 400,
       "AccessControlListNotSupported", "The bucket does not allow ACLs")
expect(error(s3.put_object, Bucket="bpa-enforced", Key="k", Body=b"x", GrantRead='uri="%s"' % ALL), 400,
       "AccessControlListNotSupported")
expect(error(s3.put_bucket_acl, Bucket="bpa-enforced", ACL="public-read"), 400, "AccessControlListNotSupported")
# CreateBucket with a public ACL fails; with the default ownership, for the ownership first.
denied(s3.create_bucket, Bucket="bpa-public", ObjectOwnership="ObjectWriter", ACL="public-read")
denied(s3.create_bucket, Bucket="bpa-public", ObjectOwnership="BucketOwnerPreferred", GrantRead='uri="%s"' % AUTH)
expect(error(s3.create_bucket, Bucket="bpa-public", ACL="public-read"), 400, "InvalidBucketAclWithObjectOwnership")
assert error(s3.head_bucket, Bucket="bpa-public")[0] == 404
s3.create_bucket(Bucket="bpa-logs", ObjectOwnership="ObjectWriter", ACL="log-delivery-write")
assert (LOGS, "WRITE") in grants(s3.get_bucket_acl(Bucket="bpa-logs"))

# BlockPublicAcls off: the same requests succeed and store their grants (IgnorePublicAcls still on).
s3.put_public_access_block(Bucket="bpa", PublicAccessBlockConfiguration={
    "BlockPublicAcls": False, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
s3.put_object(Bucket="bpa", Key="pub", Body=b"x", GrantRead='uri="%s"' % AUTH, GrantReadACP='id="%s"' % owner["ID"])
assert grants(s3.get_object_acl(Bucket="bpa", Key="pub")) == sorted([(AUTH, "READ"), (owner["ID"], "READ_ACP")])
s3.put_object_acl(Bucket="bpa", Key="k", GrantRead="uri=%s" % ALL)
assert grants(s3.get_object_acl(Bucket="bpa", Key="k")) == [(ALL, "READ")]
s3.put_object_acl(Bucket="bpa", Key="k", ACL="public-read-write")
assert grants(s3.get_object_acl(Bucket="bpa", Key="k")) == sorted([(ALL, "READ"), (ALL, "WRITE"), (owner["ID"], "FULL_CONTROL")])
s3.put_bucket_acl(Bucket="bpa", ACL="authenticated-read")
assert (AUTH, "READ") in grants(s3.get_bucket_acl(Bucket="bpa"))
assert post(form["fields"])[0] == 204
assert (ALL, "READ") in grants(s3.get_object_acl(Bucket="bpa", Key="posted"))
s3.copy_object(Bucket="bpa", Key="c", CopySource="bpa/k", ACL="public-read")
assert (ALL, "READ") in grants(s3.get_object_acl(Bucket="bpa", Key="c"))
# A copy does not take its source's ACL: without one it is private.
s3.copy_object(Bucket="bpa", Key="c2", CopySource="bpa/k")
assert grants(s3.get_object_acl(Bucket="bpa", Key="c2")) == [(owner["ID"], "FULL_CONTROL")]
up = s3.create_multipart_upload(Bucket="bpa", Key="m", ACL="authenticated-read")
s3.abort_multipart_upload(Bucket="bpa", Key="m", UploadId=up["UploadId"])

# ACLs can be disabled only while the bucket ACL gives the owner alone full control.
enforced = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
expect(error(s3.put_bucket_ownership_controls, Bucket="bpa", OwnershipControls=enforced), 400,
       "InvalidBucketAclWithObjectOwnership")
s3.put_bucket_acl(Bucket="bpa", AccessControlPolicy=policy(({"Type": "CanonicalUser", "ID": owner["ID"]}, "FULL_CONTROL")))
s3.put_bucket_ownership_controls(Bucket="bpa", OwnershipControls=enforced)
print("ok")
"##;

/// `BlockPublicAcls` refuses public ACLs on every write that sets one (canned ACLs, grant headers,
/// ACL documents), after Object Ownership's `AccessControlListNotSupported`; grant headers are
/// stored as the ACL they describe.
#[test]
fn block_public_acls_refuses_public_acls_on_writes() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(with_error_helpers(BLOCK_PUBLIC_ACLS))
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

const AUTHENTICATED_USERS: &str = r##"
import json, sys, urllib.request, urllib.error
import boto3, botocore
from botocore.config import Config

ep = sys.argv[1]
def client(service, key, secret="test"):
    return boto3.client(service, endpoint_url=ep, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

def denied(call, **kw):
    status, err = error(call, **kw)
    assert (status, err["Code"], err["Message"]) == (403, "AccessDenied", "Access Denied"), (status, err)

def anon(path):
    try:
        r = urllib.request.urlopen(ep + path)
        return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

OPEN = {"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": False}

owner = client("s3", "test")           # account 000000000000
other = client("s3", "111111111111")   # another account's root
other_id = other.list_buckets()["Owner"]["ID"]

owner.create_bucket(Bucket="acl-shared", ObjectOwnership="BucketOwnerPreferred")
owner.put_public_access_block(Bucket="acl-shared", PublicAccessBlockConfiguration=OPEN)
owner.put_object(Bucket="acl-shared", Key="private.txt", Body=b"private")
owner.put_object(Bucket="acl-shared", Key="signed.txt", Body=b"signed", ACL="authenticated-read")
owner.put_object(Bucket="acl-shared", Key="account.txt", Body=b"account", GrantRead='id="%s"' % other_id)
owner.put_object(Bucket="acl-shared", Key="public.txt", Body=b"public", ACL="public-read")

# Another account reads what the ACLs grant it (AuthenticatedUsers, its canonical id, AllUsers), nothing else.
assert other.get_object(Bucket="acl-shared", Key="signed.txt")["Body"].read() == b"signed"
assert other.get_object(Bucket="acl-shared", Key="account.txt")["Body"].read() == b"account"
assert other.get_object(Bucket="acl-shared", Key="public.txt")["Body"].read() == b"public"
denied(other.get_object, Bucket="acl-shared", Key="private.txt")
denied(other.put_object, Bucket="acl-shared", Key="new.txt", Body=b"x")
denied(other.list_objects_v2, Bucket="acl-shared")
denied(other.get_object_acl, Bucket="acl-shared", Key="signed.txt")
# A bucket ACL granting AuthenticatedUsers READ lets every account list it, and WRITE write to it.
owner.put_bucket_acl(Bucket="acl-shared", ACL="authenticated-read")
listed = [o["Key"] for o in other.list_objects_v2(Bucket="acl-shared")["Contents"]]
assert listed == ["account.txt", "private.txt", "public.txt", "signed.txt"], listed
denied(other.put_object, Bucket="acl-shared", Key="new.txt", Body=b"x")
owner.put_bucket_acl(Bucket="acl-shared", GrantRead='uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers"',
                     GrantWrite='id="%s"' % other_id)
other.put_object(Bucket="acl-shared", Key="new.txt", Body=b"from the other account")
assert owner.get_object(Bucket="acl-shared", Key="new.txt")["Body"].read() == b"from the other account"

# Anonymous callers are not authenticated users: only AllUsers grants count for them.
assert anon("/acl-shared/signed.txt")[0] == 403
assert anon("/acl-shared/account.txt")[0] == 403
assert anon("/acl-shared/public.txt") == (200, b"public")
assert anon("/acl-shared?list-type=2")[0] == 403

# The bucket policy's explicit deny still wins over an ACL grant.
owner.put_bucket_policy(Bucket="acl-shared", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::acl-shared/signed.txt"}]}))
denied(other.get_object, Bucket="acl-shared", Key="signed.txt")
assert other.get_object(Bucket="acl-shared", Key="public.txt")["Body"].read() == b"public"
# A public bucket policy serves other accounts too, unless RestrictPublicBuckets.
owner.put_bucket_policy(Bucket="acl-shared", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acl-shared/private.txt"}]}))
assert other.get_object(Bucket="acl-shared", Key="private.txt")["Body"].read() == b"private"
owner.put_public_access_block(Bucket="acl-shared", PublicAccessBlockConfiguration=dict(OPEN, RestrictPublicBuckets=True))
denied(other.get_object, Bucket="acl-shared", Key="private.txt")
assert owner.get_object(Bucket="acl-shared", Key="private.txt")["Body"].read() == b"private"
owner.put_public_access_block(Bucket="acl-shared", PublicAccessBlockConfiguration=OPEN)
owner.delete_bucket_policy(Bucket="acl-shared")

# An IAM user of the other account needs its own account's permission too (both sides must allow).
iam = client("iam", "111111111111")
iam.create_user(UserName="reader")
key = iam.create_access_key(UserName="reader")["AccessKey"]
reader = client("s3", key["AccessKeyId"], key["SecretAccessKey"])
denied(reader.get_object, Bucket="acl-shared", Key="account.txt")
iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=json.dumps({"Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
assert reader.get_object(Bucket="acl-shared", Key="account.txt")["Body"].read() == b"account"
assert reader.get_object(Bucket="acl-shared", Key="signed.txt")["Body"].read() == b"signed"
denied(reader.get_object, Bucket="acl-shared", Key="private.txt")

# IgnorePublicAcls: AuthenticatedUsers and AllUsers grants count no more; a grant to the account still does.
owner.put_public_access_block(Bucket="acl-shared", PublicAccessBlockConfiguration=dict(OPEN, IgnorePublicAcls=True))
denied(other.get_object, Bucket="acl-shared", Key="signed.txt")
denied(other.get_object, Bucket="acl-shared", Key="public.txt")
assert other.get_object(Bucket="acl-shared", Key="account.txt")["Body"].read() == b"account"

# ACLs disabled (BucketOwnerEnforced): no grant counts.
owner.put_bucket_acl(Bucket="acl-shared", ACL="private")
owner.put_bucket_ownership_controls(Bucket="acl-shared", OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
denied(other.get_object, Bucket="acl-shared", Key="account.txt")

# Another account's root has no rights in a private bucket; the owner's root keeps every right.
owner.create_bucket(Bucket="acl-private")
owner.put_object(Bucket="acl-private", Key="k", Body=b"k")
denied(other.get_object, Bucket="acl-private", Key="k")
assert error(other.head_bucket, Bucket="acl-private")[0] == 403
assert owner.get_object(Bucket="acl-private", Key="k")["Body"].read() == b"k"
other.create_bucket(Bucket="acl-theirs")
other.put_object(Bucket="acl-theirs", Key="k", Body=b"theirs")
assert other.get_object(Bucket="acl-theirs", Key="k")["Body"].read() == b"theirs"
print("ok")
"##;

/// `ENFORCE_IAM=1`: ACL grants to `AuthenticatedUsers`, `AllUsers` and an account's canonical id
/// give signed callers of other accounts what they grant (their own account's policies permitting),
/// never anonymous callers (`AuthenticatedUsers`), subject to `IgnorePublicAcls`, Object Ownership
/// and the bucket policy's denies.
#[test]
fn acl_grants_to_authenticated_users_and_accounts_allow_other_accounts() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start_with(Options::default().env("ENFORCE_IAM", "1"));
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(with_error_helpers(AUTHENTICATED_USERS))
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

const LISTING_PARAMETERS: &str = r##"
import sys
import boto3, botocore
from botocore.config import Config

s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="test",
                  aws_secret_access_key="test", config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

def keys(page):
    return [o["Key"] for o in page.get("Contents", [])]

s3.create_bucket(Bucket="lst")
for k in ["a", "b", "c", "d", "e f"]:
    s3.put_object(Bucket="lst", Key=k, Body=b"x")

# ListObjectsV2: a continuation token decides where the page starts, StartAfter only where the
# listing started; both are echoed.
first = s3.list_objects_v2(Bucket="lst", MaxKeys=1)
assert keys(first) == ["a"] and first["IsTruncated"] and first["KeyCount"] == 1, first
token = first["NextContinuationToken"]
page = s3.list_objects_v2(Bucket="lst", MaxKeys=2, ContinuationToken=token, StartAfter="c")
assert keys(page) == ["b", "c"], page
assert page["ContinuationToken"] == token and page["StartAfter"] == "c", page
page = s3.list_objects_v2(Bucket="lst", StartAfter="c")
assert keys(page) == ["d", "e f"] and page["StartAfter"] == "c" and "ContinuationToken" not in page, page
# StartAfter with encoding-type=url is encoded like the keys.
page = s3.list_objects_v2(Bucket="lst", StartAfter="d ", EncodingType="url")
assert keys(page) == ["e%20f"] and page["StartAfter"] == "d%20", page
expect(error(s3.list_objects_v2, Bucket="lst", ContinuationToken="not a token!"), 400, "InvalidArgument",
       "The continuation token provided is incorrect", ArgumentName="continuation-token", ArgumentValue=None)

# ListObjects (v1): the marker is echoed; NextMarker comes only with a delimiter.
page = s3.list_objects(Bucket="lst", Marker="a", MaxKeys=1)
assert keys(page) == ["b"] and page["Marker"] == "a" and page["IsTruncated"], page
assert "NextMarker" not in page, page
page = s3.list_objects(Bucket="lst", Marker="a", MaxKeys=1, Delimiter="/")
assert page["NextMarker"] == "b", page

# ListObjectVersions: a version-id marker needs a key marker.
expect(error(s3.list_object_versions, Bucket="lst", VersionIdMarker="abc"), 400, "InvalidArgument",
       "A version-id marker cannot be specified without a key marker.", ArgumentName="version-id-marker")
page = s3.list_object_versions(Bucket="lst", KeyMarker="c")
assert [v["Key"] for v in page["Versions"]] == ["d", "e f"] and page["KeyMarker"] == "c", page

# Tags: one value per key.
expect(error(s3.put_object_tagging, Bucket="lst", Key="a", Tagging={"TagSet": [
    {"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]}), 400, "InvalidTag",
    "Cannot provide multiple Tags with the same key")

# DeleteObjects in a versioned bucket: a delete marker made, then removed by its version id.
s3.create_bucket(Bucket="lst-v")
s3.put_bucket_versioning(Bucket="lst-v", VersioningConfiguration={"Status": "Enabled"})
v1 = s3.put_object(Bucket="lst-v", Key="k", Body=b"1")["VersionId"]
made = s3.delete_objects(Bucket="lst-v", Delete={"Objects": [{"Key": "k"}]})["Deleted"]
assert len(made) == 1 and made[0]["DeleteMarker"] is True and "VersionId" not in made[0], made
marker = made[0]["DeleteMarkerVersionId"]
assert marker not in ("null", v1), made
gone = s3.delete_objects(Bucket="lst-v", Delete={"Objects": [{"Key": "k", "VersionId": marker}, {"Key": "k", "VersionId": v1}]})
gone = sorted(gone["Deleted"], key=lambda e: e["VersionId"] == v1)
assert gone == [{"Key": "k", "VersionId": marker, "DeleteMarker": True, "DeleteMarkerVersionId": marker},
                {"Key": "k", "VersionId": v1}], gone
left = s3.list_object_versions(Bucket="lst-v")
assert "Versions" not in left and "DeleteMarkers" not in left, left
print("ok")
"##;

/// Listing parameters together as S3 reads them: a continuation token with `StartAfter`, an
/// invalid token, v1 markers and `NextMarker`, a version-id marker without a key marker; duplicate
/// tag keys; `DeleteObjects`' delete marker entries in a versioned bucket.
#[test]
fn listing_parameter_combinations_and_versioned_deletes() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(with_error_helpers(LISTING_PARAMETERS))
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

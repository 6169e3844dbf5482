//! S3 through other real clients: boto3 (path and both virtual-host styles, multipart transfers),
//! `skyport aws s3 ...` / `skyport aws s3api ...` (the AWS CLI), and curl for virtual-host requests,
//! exact error XML, HEAD errors without bodies, CORS preflight and multi-range GETs; boto3 Object Lock; curl
//! on the static website endpoints (`s3-website` hosts, HTML error pages, redirects).

mod common;

use std::process::Command;

use common::{Skyport, require, run};

const BOTO3: &str = r#"
import io, socket, sys, hashlib
import boto3, botocore
from botocore.config import Config

port = sys.argv[1]
ca = sys.argv[2]
real = socket.getaddrinfo
def local(host, *args, **kw):
    # Every name is this machine: no lookup leaves the test.
    return real("127.0.0.1", *args, **kw)
socket.getaddrinfo = local

def client(endpoint, style):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        verify=ca, config=Config(s3={"addressing_style": style}))

styles = [
    ("http://127.0.0.1:%s" % port, "path", "py-path"),
    ("http://localhost.localstack.cloud:%s" % port, "virtual", "py-virtual"),
    ("http://s3.localhost.localstack.cloud:%s" % port, "virtual", "py-virtual-s3"),
    # HTTPS on the same port, certificates minted by Skyport's CA for each virtual host.
    ("https://s3.localhost.localstack.cloud:%s" % port, "virtual", "py-tls-virtual"),
    ("https://localhost.localstack.cloud:%s" % port, "path", "py-tls-path"),
]
seen_hosts = []
for endpoint, style, bucket in styles:
    s3 = client(endpoint, style)
    s3.meta.events.register("before-send.s3.*", lambda request, **kw: seen_hosts.append(request.url))
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="dir/a b+c.txt", Body=b"hello", Metadata={"k": "v"})
    got = s3.get_object(Bucket=bucket, Key="dir/a b+c.txt", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"hello"
    assert got["Metadata"] == {"k": "v"}, got["Metadata"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["dir/a b+c.txt"], keys
    # botocore asks for encoding-type=url itself and decodes; asked explicitly, the keys stay encoded.
    keys = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
    assert keys == ["dir/a b+c.txt"], keys
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, EncodingType="url")["Contents"]]
    assert keys == ["dir/a%20b%2Bc.txt"], keys
    # Multipart through the transfer manager (8 MiB threshold) and back.
    data = bytes(range(256)) * (40 * 1024 * 4)  # 40 MiB
    s3.upload_fileobj(io.BytesIO(data), bucket, "big.bin")
    out = io.BytesIO()
    s3.download_fileobj(bucket, "big.bin", out)
    assert hashlib.md5(out.getvalue()).hexdigest() == hashlib.md5(data).hexdigest()
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ETag"].endswith('-5"'), head["ETag"]
    try:
        s3.get_object(Bucket=bucket, Key="missing")
        raise SystemExit("expected NoSuchKey")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "NoSuchKey", e.response
        assert e.response["Error"]["Key"] == "missing", e.response
    try:
        s3.head_object(Bucket=bucket, Key="missing")
        raise SystemExit("expected 404")
    except botocore.exceptions.ClientError as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/a b+c.txt"})
    import urllib.request
    import ssl
    assert urllib.request.urlopen(url, context=ssl.create_default_context(cafile=ca)).read() == b"hello"
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "dir/a b+c.txt"}, {"Key": "big.bin"}]})
    s3.delete_bucket(Bucket=bucket)

assert any("//py-virtual.localhost.localstack.cloud:" in u for u in seen_hosts), seen_hosts
assert any("//py-virtual-s3.s3.localhost.localstack.cloud:" in u for u in seen_hosts), seen_hosts

# Bucket sub-resources.
s3 = client("http://127.0.0.1:%s" % port, "path")
s3.create_bucket(Bucket="py-sub")
s3.put_bucket_tagging(Bucket="py-sub", Tagging={"TagSet": [{"Key": "team", "Value": "x"}]})
assert s3.get_bucket_tagging(Bucket="py-sub")["TagSet"] == [{"Key": "team", "Value": "x"}]
s3.delete_bucket_tagging(Bucket="py-sub")
try:
    s3.get_bucket_tagging(Bucket="py-sub")
    raise SystemExit("expected NoSuchTagSet")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "NoSuchTagSet", e.response
policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::py-sub/*"}]}'
# A public policy needs BlockPublicPolicy off first (on for new buckets), as in AWS.
s3.put_public_access_block(Bucket="py-sub", PublicAccessBlockConfiguration={"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": True})
s3.put_bucket_policy(Bucket="py-sub", Policy=policy)
assert s3.get_bucket_policy(Bucket="py-sub")["Policy"] == policy
s3.put_bucket_cors(Bucket="py-sub", CORSConfiguration={"CORSRules": [
    {"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["*"], "MaxAgeSeconds": 60}]})
assert s3.get_bucket_cors(Bucket="py-sub")["CORSRules"][0]["AllowedMethods"] == ["GET", "PUT"]
s3.put_bucket_lifecycle_configuration(Bucket="py-sub", LifecycleConfiguration={"Rules": [
    {"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}}]})
assert s3.get_bucket_lifecycle_configuration(Bucket="py-sub")["Rules"][0]["ID"] == "expire"
enc = s3.get_bucket_encryption(Bucket="py-sub")["ServerSideEncryptionConfiguration"]
assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
s3.put_bucket_ownership_controls(Bucket="py-sub", OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
assert s3.get_bucket_ownership_controls(Bucket="py-sub")["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"
s3.put_public_access_block(Bucket="py-sub", PublicAccessBlockConfiguration={"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
assert s3.get_public_access_block(Bucket="py-sub")["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
acl = s3.get_bucket_acl(Bucket="py-sub")
assert acl["Grants"][0]["Permission"] == "FULL_CONTROL", acl
assert s3.get_bucket_notification_configuration(Bucket="py-sub").get("QueueConfigurations") is None
for getter, code in [(s3.get_bucket_policy, "NoSuchBucketPolicy"), (s3.get_bucket_website, "NoSuchWebsiteConfiguration")]:
    try:
        getter(Bucket="py-sub-missing")
        raise SystemExit("expected NoSuchBucket")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "NoSuchBucket", e.response
s3.delete_bucket_policy(Bucket="py-sub")
try:
    s3.get_bucket_policy(Bucket="py-sub")
    raise SystemExit("expected NoSuchBucketPolicy")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "NoSuchBucketPolicy", e.response
print("ok")
"#;

#[test]
fn boto3_path_and_virtual_host_styles() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(BOTO3)
        .arg(skyport.port().to_string())
        .arg(skyport.state_dir.join("certs").join("ca.pem")));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

fn skyport_aws(endpoint: &str, args: &[&str]) -> (bool, String, String) {
    let (status, out, err) = run(Command::new(common::binary())
        .arg("aws")
        .arg("--endpoint")
        .arg(endpoint)
        .args(args));
    (status.success(), out, err)
}

#[test]
fn aws_cli_s3_cp_ls_sync_rm_and_s3api() {
    if !require("aws") {
        return;
    }
    let skyport = Skyport::start();
    let ep = skyport.endpoint();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("nested")).unwrap();
    std::fs::write(src.join("one.txt"), b"one").unwrap();
    std::fs::write(src.join("nested/two.txt"), b"two").unwrap();
    std::fs::write(src.join("big.bin"), vec![7u8; 12 * 1024 * 1024]).unwrap();

    let ok = |args: &[&str]| {
        let (ok, out, err) = skyport_aws(&ep, args);
        assert!(ok, "aws {args:?}: {out}\n{err}");
        out
    };
    ok(&["s3", "mb", "s3://cli-bucket"]);
    ok(&[
        "s3",
        "cp",
        src.join("one.txt").to_str().unwrap(),
        "s3://cli-bucket/one.txt",
    ]);
    ok(&[
        "s3",
        "sync",
        src.to_str().unwrap(),
        "s3://cli-bucket/synced",
    ]);
    let listing = ok(&["s3", "ls", "--recursive", "s3://cli-bucket"]);
    for k in [
        "one.txt",
        "synced/one.txt",
        "synced/nested/two.txt",
        "synced/big.bin",
    ] {
        assert!(listing.contains(k), "{listing}");
    }
    let top = ok(&["s3", "ls", "s3://cli-bucket/synced/"]);
    assert!(top.contains("PRE nested/"), "{top}");
    let back = dir.path().join("back");
    ok(&[
        "s3",
        "sync",
        "s3://cli-bucket/synced",
        back.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(back.join("nested/two.txt")).unwrap(), b"two");
    assert_eq!(
        std::fs::read(back.join("big.bin")).unwrap().len(),
        12 * 1024 * 1024
    );
    let head = ok(&[
        "s3api",
        "head-object",
        "--bucket",
        "cli-bucket",
        "--key",
        "synced/big.bin",
    ]);
    assert!(head.contains("\"ContentLength\": 12582912"), "{head}");
    let ls = ok(&["s3", "ls"]);
    assert!(ls.contains("cli-bucket"), "{ls}");
    ok(&["s3", "rm", "--recursive", "s3://cli-bucket/synced"]);
    let listing = ok(&["s3api", "list-objects-v2", "--bucket", "cli-bucket"]);
    assert!(
        listing.contains("one.txt") && !listing.contains("synced"),
        "{listing}"
    );
    let (ok_rb, _, err) = skyport_aws(&ep, &["s3", "rb", "s3://cli-bucket"]);
    assert!(!ok_rb && err.contains("BucketNotEmpty"), "{err}");
    ok(&["s3", "rb", "--force", "s3://cli-bucket"]);
}

/// curl signing with the test credentials (SigV4, `--aws-sigv4`), as an S3 user's client does:
/// S3 refuses anonymous requests to private buckets.
fn curl(args: &[&str]) -> String {
    let (status, out, err) = run(Command::new("curl")
        .args([
            "-sS",
            "-i",
            "--aws-sigv4",
            "aws:amz:us-east-1:s3",
            "--user",
            "test:test",
        ])
        .args(args));
    assert!(status.success(), "{err}");
    out
}

/// curl without credentials: an anonymous request (a browser, a public download).
fn curl_anonymous(args: &[&str]) -> String {
    let (status, out, err) = run(Command::new("curl").args(["-sS", "-i"]).args(args));
    assert!(status.success(), "{err}");
    out
}

#[test]
fn curl_virtual_hosts_error_xml_and_cors_preflight() {
    if !require("curl") {
        return;
    }
    let skyport = Skyport::start();
    let port = skyport.port();
    let resolve = |host: &str| format!("{host}:{port}:127.0.0.1");
    let base = format!("http://127.0.0.1:{port}");

    // Virtual-host style on AWS and LocalStack names.
    for host in [
        "vh-bucket.s3.amazonaws.com",
        "vh-bucket.s3.us-east-1.amazonaws.com",
        "vh-bucket.s3.localhost.localstack.cloud",
        "vh-bucket.localhost.localstack.cloud",
    ] {
        if host.contains(".s3.") {
            // (An unsigned request for `/` on a host without an `s3` label is not recognisable as S3;
            // signed ones are, through their credential scope.)
            let url = format!("http://{host}:{port}/");
            let out = curl(&["--resolve", &resolve(host), "-X", "PUT", &url]);
            assert!(out.starts_with("HTTP/1.1 200"), "{host}: {out}");
        }
        let url = format!("http://{host}:{port}/some/key.txt");
        let out = curl(&[
            "--resolve",
            &resolve(host),
            "-X",
            "PUT",
            "--data-binary",
            "v",
            &url,
        ]);
        assert!(out.starts_with("HTTP/1.1 200"), "{host}: {out}");
        let out = curl(&["--resolve", &resolve(host), &url]);
        assert!(
            out.starts_with("HTTP/1.1 200") && out.ends_with("\r\n\r\nv"),
            "{host}: {out}"
        );
    }
    // Path style on the bare endpoint sees the same bucket.
    let out = curl(&[&format!("{base}/vh-bucket/some/key.txt")]);
    assert!(out.ends_with("\r\n\r\nv"), "{out}");
    let list = curl(&[&format!("{base}/vh-bucket?list-type=2&prefix=some/")]);
    assert!(list.contains("<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>vh-bucket</Name><Prefix>some/</Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key>some/key.txt</Key>"), "{list}");
    assert!(
        list.contains("<ETag>&quot;9e3669d19b675bd57058fd4664205d2a&quot;</ETag>"),
        "{list}"
    );

    // Exact error XML.
    let out = curl(&[&format!("{base}/vh-bucket/nope")]);
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    assert!(
        out.contains("Content-Type: application/xml")
            || out.contains("content-type: application/xml"),
        "{out}"
    );
    assert!(out.contains("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>nope</Key><RequestId>"), "{out}");
    let out = curl(&[&format!("{base}/no-such-bucket-x/k")]);
    assert!(out.contains("<Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><BucketName>no-such-bucket-x</BucketName>"), "{out}");
    let out = curl(&["-X", "PUT", &format!("{base}/Bad_Name")]);
    assert!(
        out.starts_with("HTTP/1.1 400") && out.contains("<Code>InvalidBucketName</Code>"),
        "{out}"
    );
    let out = curl(&[
        "-H",
        "Range: bytes=5-9",
        &format!("{base}/vh-bucket/some/key.txt"),
    ]);
    assert!(
        out.starts_with("HTTP/1.1 416")
            && out.contains("<Code>InvalidRange</Code>")
            && out.contains("<ActualObjectSize>1</ActualObjectSize>"),
        "{out}"
    );
    // Several ranges in one GET: S3 ignores the header and answers 200 with the whole object,
    // `Accept-Ranges: bytes` and no `Content-Range` (not multipart/byteranges).
    let out = curl(&[
        "-X",
        "PUT",
        "--data-binary",
        "0123456789abcdefghijklmnopqrstuvwxyz",
        &format!("{base}/vh-bucket/ranges.txt"),
    ]);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    for ranges in ["bytes=0-9,20-29", "bytes=0-1, 4-5", "bytes=0-9,100-200"] {
        let out = curl(&[
            "-H",
            &format!("Range: {ranges}"),
            &format!("{base}/vh-bucket/ranges.txt"),
        ]);
        let lower = out.to_ascii_lowercase();
        assert!(out.starts_with("HTTP/1.1 200"), "{ranges}: {out}");
        assert!(
            lower.contains("accept-ranges: bytes\r\n"),
            "{ranges}: {out}"
        );
        assert!(lower.contains("content-length: 36\r\n"), "{ranges}: {out}");
        assert!(!lower.contains("content-range"), "{ranges}: {out}");
        assert!(!lower.contains("multipart/byteranges"), "{ranges}: {out}");
        assert!(
            out.ends_with("\r\n\r\n0123456789abcdefghijklmnopqrstuvwxyz"),
            "{ranges}: {out}"
        );
    }
    let out = curl(&["-X", "POST", &format!("{base}/vh-bucket/some/key.txt")]);
    assert!(
        out.starts_with("HTTP/1.1 501") || out.starts_with("HTTP/1.1 405"),
        "{out}"
    );
    let out = curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-MD5: AAAAAAAAAAAAAAAAAAAAAA==",
        "--data-binary",
        "x",
        &format!("{base}/vh-bucket/d"),
    ]);
    assert!(
        out.starts_with("HTTP/1.1 400") && out.contains("<Code>BadDigest</Code>"),
        "{out}"
    );
    let out = curl(&[
        "-X",
        "PUT",
        "-H",
        "x-amz-checksum-crc32: AAAAAA==",
        "--data-binary",
        "x",
        &format!("{base}/vh-bucket/d"),
    ]);
    assert!(
        out.starts_with("HTTP/1.1 400") && out.contains("<Code>BadDigest</Code>"),
        "{out}"
    );
    // HEAD errors carry no body.
    let out = curl(&["-I", &format!("{base}/vh-bucket/nope")]);
    assert!(
        out.starts_with("HTTP/1.1 404") && !out.contains("<Error>"),
        "{out}"
    );
    // Last-Modified is an HTTP date, the ETag is quoted.
    let out = curl(&["-I", &format!("{base}/vh-bucket/some/key.txt")]);
    assert!(
        out.to_ascii_lowercase()
            .contains("etag: \"9e3669d19b675bd57058fd4664205d2a\""),
        "{out}"
    );
    assert!(out.to_ascii_lowercase().contains(" gmt\r\n"), "{out}");

    // An aws-chunked body with a trailing checksum (what current SDKs send), split into two chunks.
    let body = "3\r\nabc\r\n2\r\nde\r\n0\r\nx-amz-checksum-crc32:hYfYZQ==\r\n\r\n";
    let out = curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Encoding: aws-chunked",
        "-H",
        "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "-H",
        "x-amz-decoded-content-length: 5",
        "-H",
        "x-amz-trailer: x-amz-checksum-crc32",
        "--data-binary",
        body,
        &format!("{base}/vh-bucket/chunked"),
    ]);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        out.to_ascii_lowercase()
            .contains("x-amz-checksum-crc32: hyfyzq=="),
        "{out}"
    );
    let out = curl(&[&format!("{base}/vh-bucket/chunked")]);
    assert!(out.ends_with("\r\n\r\nabcde"), "{out}");
    let bad = body.replace("hYfYZQ==", "AAAAAA==");
    let out = curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Encoding: aws-chunked",
        "-H",
        "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "-H",
        "x-amz-decoded-content-length: 5",
        "-H",
        "x-amz-trailer: x-amz-checksum-crc32",
        "--data-binary",
        &bad,
        &format!("{base}/vh-bucket/chunked"),
    ]);
    assert!(
        out.starts_with("HTTP/1.1 400") && out.contains("<Code>BadDigest</Code>"),
        "{out}"
    );

    // Without credentials the bucket's private objects are refused (HEAD: no body).
    let out = curl_anonymous(&[&format!("{base}/vh-bucket/some/key.txt")]);
    assert!(
        out.starts_with("HTTP/1.1 403")
            && out.contains("<Code>AccessDenied</Code><Message>Access Denied</Message>"),
        "{out}"
    );
    let out = curl_anonymous(&["-I", &format!("{base}/vh-bucket/some/key.txt")]);
    assert!(
        out.starts_with("HTTP/1.1 403") && !out.contains("<Error>"),
        "{out}"
    );

    // CORS preflight answered from the bucket's configuration.
    let cors = "<CORSConfiguration><CORSRule><AllowedOrigin>https://app.example</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader><MaxAgeSeconds>30</MaxAgeSeconds></CORSRule></CORSConfiguration>";
    let out = curl_anonymous(&[
        "-X",
        "OPTIONS",
        "-H",
        "Origin: https://app.example",
        "-H",
        "Access-Control-Request-Method: PUT",
        &format!("{base}/vh-bucket/k"),
    ]);
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    let out = curl(&[
        "-X",
        "PUT",
        "--data-binary",
        cors,
        &format!("{base}/vh-bucket?cors"),
    ]);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let out = curl_anonymous(&[
        "-X",
        "OPTIONS",
        "-H",
        "Origin: https://app.example",
        "-H",
        "Access-Control-Request-Method: PUT",
        "-H",
        "Access-Control-Request-Headers: content-type",
        &format!("{base}/vh-bucket/k"),
    ]);
    let lower = out.to_ascii_lowercase();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        lower.contains("access-control-allow-origin: https://app.example"),
        "{out}"
    );
    assert!(lower.contains("access-control-allow-methods: put"), "{out}");
    assert!(lower.contains("access-control-max-age: 30"), "{out}");
    let out = curl_anonymous(&[
        "-X",
        "OPTIONS",
        "-H",
        "Origin: https://evil.example",
        "-H",
        "Access-Control-Request-Method: PUT",
        &format!("{base}/vh-bucket/k"),
    ]);
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
}

const NOTIFY: &str = r#"
import json, sys
import boto3, botocore
ep = sys.argv[1]
kw = dict(endpoint_url=ep, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
s3 = boto3.client("s3", **kw)
sqs = boto3.client("sqs", **kw)
url = sqs.create_queue(QueueName="s3-events")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
s3.create_bucket(Bucket="notified")

def drain():
    out = []
    while True:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        msgs = r.get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

try:
    s3.put_bucket_notification_configuration(Bucket="notified", NotificationConfiguration={"QueueConfigurations": [
        {"QueueArn": arn + "-missing", "Events": ["s3:ObjectCreated:*"]}]})
    raise SystemExit("expected InvalidArgument")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidArgument", e.response

s3.put_bucket_notification_configuration(Bucket="notified", NotificationConfiguration={"QueueConfigurations": [
    {"Id": "created", "QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
     "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}, {"Name": "suffix", "Value": ".txt"}]}}},
    {"Id": "removed", "QueueArn": arn, "Events": ["s3:ObjectRemoved:*"]}]})
cfg = s3.get_bucket_notification_configuration(Bucket="notified")
assert cfg["QueueConfigurations"][0]["QueueArn"] == arn, cfg
test = drain()
assert test[0]["Event"] == "s3:TestEvent" and test[0]["Bucket"] == "notified", test

s3.put_object(Bucket="notified", Key="in/a b.txt", Body=b"12345")
s3.put_object(Bucket="notified", Key="in/skip.bin", Body=b"x")
s3.put_object(Bucket="notified", Key="out/skip.txt", Body=b"x")
s3.copy_object(Bucket="notified", Key="in/copy.txt", CopySource="notified/in/a b.txt")
s3.delete_object(Bucket="notified", Key="out/skip.txt")
records = [r for body in drain() for r in body["Records"]]
names = [(r["eventName"], r["s3"]["object"]["key"]) for r in records]
assert names == [("ObjectCreated:Put", "in/a+b.txt"), ("ObjectCreated:Copy", "in/copy.txt"),
                 ("ObjectRemoved:Delete", "out/skip.txt")], names
first = records[0]
assert first["eventSource"] == "aws:s3" and first["eventVersion"] == "2.1" and first["awsRegion"] == "us-east-1"
assert first["s3"]["bucket"]["name"] == "notified" and first["s3"]["bucket"]["arn"] == "arn:aws:s3:::notified"
assert first["s3"]["object"]["size"] == 5 and first["s3"]["object"]["eTag"] == "827ccb0eea8a706c4c34a16891f84e7b"
assert first["s3"]["configurationId"] == "created"
s3.delete_objects(Bucket="notified", Delete={"Objects": [{"Key": "in/copy.txt"}]})
records = [r for body in drain() for r in body["Records"]]
assert [r["eventName"] for r in records] == ["ObjectRemoved:Delete"], records
print("ok")
"#;

#[test]
fn boto3_event_notifications_to_sqs() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(NOTIFY)
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

const POST_FORM: &str = r#"
import sys, os, html, urllib.request, urllib.error, hashlib, boto3
ep = sys.argv[1]
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
s3.create_bucket(Bucket="forms")

def post(url, fields, content, filename="photo.jpg"):
    boundary = "----skyportboundary7MA4YWxk"
    parts = []
    for k, v in fields.items():
        parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (boundary, k, v)).encode())
    parts.append(("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\nContent-Type: image/jpeg\r\n\r\n" % (boundary, filename)).encode())
    body = b"".join(parts) + content + ("\r\n--%s--\r\n" % boundary).encode()
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
    try:
        r = urllib.request.urlopen(req)
        return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, html.unescape(e.read().decode()).encode(), dict(e.headers)

# A 3 MiB file whose content contains boundary-like bytes, through boto3's presigned POST.
content = (b"\r\n--not-the-boundary\r\n" + os.urandom(1024)) * 3000
p = s3.generate_presigned_post("forms", "uploads/${filename}", Fields={"x-amz-meta-who": "form"},
                               Conditions=[["content-length-range", 1, 10 * 1024 * 1024], {"x-amz-meta-who": "form"}])
status, body, headers = post(p["url"], p["fields"], content)
assert status == 204, (status, body)
got = s3.get_object(Bucket="forms", Key="uploads/photo.jpg")
assert hashlib.md5(got["Body"].read()).hexdigest() == hashlib.md5(content).hexdigest()
assert got["ContentType"] == "image/jpeg" and got["Metadata"] == {"who": "form"}, got
assert got["ETag"] == '"%s"' % hashlib.md5(content).hexdigest()

# A field no condition covers is refused; covered, it is honoured.
status, body, _ = post(p["url"], dict(p["fields"], success_action_status="201"), b"small", filename="x.txt")
assert status == 403 and b"<Code>AccessDenied</Code>" in body, (status, body)
assert b"Invalid according to Policy: Extra input fields: success_action_status" in body, body
p201 = s3.generate_presigned_post("forms", "uploads/${filename}", Fields={"success_action_status": "201"},
                                  Conditions=[{"success_action_status": "201"}])
status, body, _ = post(p201["url"], p201["fields"], b"small", filename="x.txt")
assert status == 201 and b"<PostResponse" in body and b"<Key>uploads/x.txt</Key>" in body, (status, body)
# x-ignore- fields need no condition.
status, body, _ = post(p201["url"], dict(p201["fields"], **{"x-ignore-note": "hi"}), b"small", filename="y.txt")
assert status == 201, (status, body)

# The policy's conditions, as S3 applies them.
pk = s3.generate_presigned_post("forms", "user/eric/${filename}",
                                Conditions=[["starts-with", "$key", "user/eric/"], ["starts-with", "$Content-Type", "image/"]])
ok = dict(pk["fields"], **{"Content-Type": "image/png"})
status, body, _ = post(pk["url"], ok, b"img")
assert status == 204, (status, body)
assert s3.head_object(Bucket="forms", Key="user/eric/photo.jpg")["ContentType"] == "image/png"
status, body, _ = post(pk["url"], dict(ok, key="user/other/x"), b"img")
assert status == 403 and b'Policy Condition failed: ["starts-with", "$key", "user/eric/"]' in body, (status, body)
# A Content-Type list: every type must carry the prefix.
status, body, _ = post(pk["url"], dict(ok, **{"Content-Type": "image/png,text/plain"}), b"img")
assert status == 403 and b'Policy Condition failed: ["starts-with", "$Content-Type", "image/"]' in body, (status, body)
pe = s3.generate_presigned_post("forms", "exact", Fields={"Content-Disposition": "inline"},
                               Conditions=[["eq", "$Content-Disposition", "inline"]])
status, body, _ = post(pe["url"], dict(pe["fields"], **{"Content-Disposition": "attachment"}), b"x")
assert status == 403 and b'Policy Condition failed: ["eq", "$Content-Disposition", "inline"]' in body, (status, body)
status, body, _ = post(pe["url"], pe["fields"], b"x")
assert status == 204, (status, body)
# The bucket condition is checked against the bucket posted to.
s3.create_bucket(Bucket="forms-other")
status, body, _ = post(ep + "/forms-other", pe["fields"], b"x")
assert status == 403 and b'Policy Condition failed: ["eq", "$bucket", "forms"]' in body, (status, body)
# A policy that is not JSON.
status, body, _ = post(pe["url"], dict(pe["fields"], policy="bm90IGpzb24="), b"x")
assert status == 400 and b"<Code>InvalidPolicyDocument</Code>" in body and b"Invalid Policy: Invalid JSON." in body, (status, body)

p = s3.generate_presigned_post("forms", "limited", Conditions=[["content-length-range", 10, 20]])
status, body, _ = post(p["url"], p["fields"], b"x" * 5)
assert status == 400 and b"<Code>EntityTooSmall</Code>" in body, (status, body)
status, body, _ = post(p["url"], p["fields"], b"x" * 50)
assert status == 400 and b"<Code>EntityTooLarge</Code>" in body, (status, body)

p = s3.generate_presigned_post("forms", "late", ExpiresIn=-10)
status, body, _ = post(p["url"], p["fields"], b"x")
assert status == 403 and b"Policy expired" in body, (status, body)

status, body, _ = post(ep + "/forms", {}, b"x")
assert status == 400 and b"<Code>InvalidArgument</Code>" in body and b"<ArgumentName>key</ArgumentName>" in body, (status, body)
print("ok")
"#;

#[test]
fn boto3_presigned_post_form_uploads() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(POST_FORM)
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

const PRESIGNED_EXPIRY: &str = r#"
import sys, time, urllib.request, urllib.error
import boto3
from botocore.config import Config

ep = sys.argv[1]
def client(sig):
    return boto3.client("s3", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test", config=Config(signature_version=sig))
s3 = client("s3v4")
s3.create_bucket(Bucket="presigned")
s3.put_object(Bucket="presigned", Key="k", Body=b"v")

def get(url):
    try:
        r = urllib.request.urlopen(url)
        return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

for sig in ("s3v4", "s3"):
    c = client(sig)
    assert get(c.generate_presigned_url("get_object", Params={"Bucket": "presigned", "Key": "k"}, ExpiresIn=60)) == (200, b"v"), sig
    url = c.generate_presigned_url("get_object", Params={"Bucket": "presigned", "Key": "k"}, ExpiresIn=1)
    time.sleep(2.1)
    status, body = get(url)
    assert status == 403 and b"<Code>AccessDenied</Code><Message>Request has expired</Message>" in body, (sig, status, body)
    assert b"<Expires>" in body and b"<ServerTime>" in body, body

url = s3.generate_presigned_url("get_object", Params={"Bucket": "presigned", "Key": "k"}, ExpiresIn=60)
status, body = get(url.replace("X-Amz-Expires=60", "X-Amz-Expires=604801"))
assert status == 400 and b"<Code>AuthorizationQueryParametersError</Code>" in body, (status, body)
status, body = get(url.replace("X-Amz-Expires=60", "X-Amz-Expires=soon"))
assert status == 400 and b"X-Amz-Expires should be a number" in body, (status, body)
v2 = client("s3").generate_presigned_url("get_object", Params={"Bucket": "presigned", "Key": "k"}, ExpiresIn=60)
import re
status, body = get(re.sub(r"Expires=\d+", "Expires=tomorrow", v2))
assert status == 403 and b"Invalid date (should be seconds since epoch)" in body, (status, body)
print("ok")
"#;

/// Presigned URLs expire as in AWS even when signatures are not verified (SigV4 and SigV2).
#[test]
fn boto3_presigned_urls_expire_without_strict_signatures() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(PRESIGNED_EXPIRY)
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

#[test]
fn curl_static_website_endpoints() {
    if !require("curl") {
        return;
    }
    let skyport = Skyport::start();
    let port = skyport.port();
    let base = format!("http://127.0.0.1:{port}");
    let put = |path: &str, extra: &[&str], body: &str| {
        let url = format!("{base}/{path}");
        let mut args = vec!["-X", "PUT"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--data-binary", body, &url]);
        let out = curl(&args);
        assert!(
            out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.1 204"),
            "{path}: {out}"
        );
    };
    let html = ["-H", "Content-Type: text/html"];
    for b in [
        "site",
        "bare-site",
        "lost-error-site",
        "moved-site",
        "no-website",
        "private-site",
    ] {
        put(b, &[], "");
    }
    // Website endpoints read anonymously: as in AWS, a site's bucket needs its public access block
    // relaxed and a public-read policy (with s3:ListBucket, so missing pages are 404s, not 403s).
    for b in ["site", "bare-site", "lost-error-site"] {
        put(
            &format!("{b}?publicAccessBlock"),
            &[],
            "<PublicAccessBlockConfiguration><BlockPublicAcls>false</BlockPublicAcls>\
             <IgnorePublicAcls>false</IgnorePublicAcls><BlockPublicPolicy>false</BlockPublicPolicy>\
             <RestrictPublicBuckets>false</RestrictPublicBuckets></PublicAccessBlockConfiguration>",
        );
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[
            {{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}},
            {{"Sid":"PublicList","Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::{b}"}}]}}"#
        );
        put(&format!("{b}?policy"), &[], &policy);
    }
    put("site/index.html", &html, "<h1>home</h1>");
    put("site/docs/index.html", &html, "<h1>docs</h1>");
    put("site/404.html", &html, "<h1>custom 404</h1>");
    put(
        "site/a.txt",
        &["-H", "Content-Type: text/plain"],
        "plain text",
    );
    put(
        "site/moved",
        &["-H", "x-amz-website-redirect-location: /a.txt"],
        "",
    );
    put(
        "site?website",
        &[],
        "<WebsiteConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <IndexDocument><Suffix>index.html</Suffix></IndexDocument>\
         <ErrorDocument><Key>404.html</Key></ErrorDocument>\
         <RoutingRules>\
         <RoutingRule><Condition><KeyPrefixEquals>old/</KeyPrefixEquals></Condition>\
         <Redirect><ReplaceKeyPrefixWith>new/</ReplaceKeyPrefixWith><HttpRedirectCode>302</HttpRedirectCode></Redirect></RoutingRule>\
         <RoutingRule><Condition><KeyPrefixEquals>gone/</KeyPrefixEquals><HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals></Condition>\
         <Redirect><HostName>archive.example.com</HostName></Redirect></RoutingRule>\
         </RoutingRules></WebsiteConfiguration>",
    );
    put(
        "bare-site?website",
        &[],
        "<WebsiteConfiguration><IndexDocument><Suffix>index.html</Suffix></IndexDocument></WebsiteConfiguration>",
    );
    put(
        "lost-error-site?website",
        &[],
        "<WebsiteConfiguration><IndexDocument><Suffix>index.html</Suffix></IndexDocument><ErrorDocument><Key>err.html</Key></ErrorDocument></WebsiteConfiguration>",
    );
    put(
        "private-site?website",
        &[],
        "<WebsiteConfiguration><IndexDocument><Suffix>index.html</Suffix></IndexDocument></WebsiteConfiguration>",
    );
    put("private-site/index.html", &html, "<h1>private</h1>");
    put(
        "moved-site?website",
        &[],
        "<WebsiteConfiguration><RedirectAllRequestsTo><HostName>www.example.com</HostName><Protocol>https</Protocol></RedirectAllRequestsTo></WebsiteConfiguration>",
    );

    let get = |host: &str, path: &str, extra: &[&str]| {
        let url = format!("http://{host}:{port}{path}");
        let resolve = format!("{host}:{port}:127.0.0.1");
        let mut args = vec!["--resolve", resolve.as_str()];
        args.extend_from_slice(extra);
        args.push(&url);
        curl_anonymous(&args)
    };
    let header = |out: &str, name: &str| -> Option<String> {
        let head = out.split("\r\n\r\n").next().unwrap_or("");
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    // The three host forms: AWS's dash and dot regional forms and LocalStack's.
    for host in [
        "site.s3-website-us-east-1.amazonaws.com",
        "site.s3-website.us-east-1.amazonaws.com",
        "site.s3-website.localhost.localstack.cloud",
    ] {
        // The index document, at the root and in a folder.
        let out = get(host, "/", &[]);
        assert!(out.starts_with("HTTP/1.1 200"), "{host}: {out}");
        assert!(out.ends_with("\r\n\r\n<h1>home</h1>"), "{host}: {out}");
        assert_eq!(header(&out, "content-type").as_deref(), Some("text/html"));
        let out = get(host, "/docs/", &[]);
        assert!(out.ends_with("\r\n\r\n<h1>docs</h1>"), "{host}: {out}");
        // A folder without its slash: 302 to the slash.
        let out = get(host, "/docs", &[]);
        assert!(out.starts_with("HTTP/1.1 302"), "{host}: {out}");
        assert_eq!(header(&out, "location").as_deref(), Some("/docs/"));
        let out = get(host, "/a.txt", &[]);
        assert!(out.ends_with("\r\n\r\nplain text"), "{host}: {out}");
        // A missing key: the custom error document, with the 404.
        let out = get(host, "/nope.html", &[]);
        assert!(out.starts_with("HTTP/1.1 404"), "{host}: {out}");
        assert!(
            out.ends_with("\r\n\r\n<h1>custom 404</h1>"),
            "{host}: {out}"
        );
        assert_eq!(
            header(&out, "x-amz-error-code").as_deref(),
            Some("NoSuchKey")
        );
        assert_eq!(
            header(&out, "x-amz-error-message").as_deref(),
            Some("The specified key does not exist.")
        );
        assert_eq!(
            header(&out, "x-amz-error-detail-key").as_deref(),
            Some("nope.html")
        );
        // Routing rules: a prefix rule before lookup, an error-code rule after it.
        let out = get(host, "/old/page.html", &[]);
        assert!(out.starts_with("HTTP/1.1 302"), "{host}: {out}");
        assert_eq!(
            header(&out, "location"),
            Some(format!("http://{host}:{port}/new/page.html"))
        );
        let out = get(host, "/gone/page.html", &[]);
        assert!(out.starts_with("HTTP/1.1 301"), "{host}: {out}");
        assert_eq!(
            header(&out, "location").as_deref(),
            Some("http://archive.example.com/gone/page.html")
        );
        // An object's own redirect.
        let out = get(host, "/moved", &[]);
        assert!(out.starts_with("HTTP/1.1 301"), "{host}: {out}");
        assert_eq!(header(&out, "location").as_deref(), Some("/a.txt"));
        // HEAD has no body; other methods get an HTML 405.
        let out = get(host, "/", &["-I"]);
        assert!(
            out.starts_with("HTTP/1.1 200") && out.ends_with("\r\n\r\n"),
            "{host}: {out}"
        );
        let out = get(host, "/a.txt", &["-X", "PUT", "--data-binary", "x"]);
        assert!(out.starts_with("HTTP/1.1 405"), "{host}: {out}");
        assert!(
            out.contains("<li>Code: MethodNotAllowed</li>") && !out.contains("<?xml"),
            "{host}: {out}"
        );
    }

    // S3's HTML error pages.
    let out = get(
        "bare-site.s3-website.localhost.localstack.cloud",
        "/nope",
        &[],
    );
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    assert_eq!(
        header(&out, "content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(out.contains("\r\n\r\n<html>\n<head><title>404 Not Found</title></head>\n<body>\n<h1>404 Not Found</h1>\n<ul>\n<li>Code: NoSuchKey</li>\n<li>Message: The specified key does not exist.</li>\n<li>Key: nope</li>\n<li>RequestId: "), "{out}");
    assert!(out.ends_with("</ul>\n<hr/>\n</body>\n</html>\n"), "{out}");
    assert_eq!(
        header(&out, "x-amz-error-code").as_deref(),
        Some("NoSuchKey")
    );
    assert_eq!(
        header(&out, "x-amz-error-detail-key").as_deref(),
        Some("nope")
    );
    let out = get(
        "lost-error-site.s3-website-us-east-1.amazonaws.com",
        "/nope",
        &[],
    );
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    assert!(out.contains("<h3>An Error Occurred While Attempting to Retrieve a Custom Error Document</h3>\n<ul>\n<li>Code: NoSuchKey</li>\n<li>Message: The specified key does not exist.</li>\n<li>Key: err.html</li>\n</ul>\n"), "{out}");
    let out = get("no-website.s3-website.localhost.localstack.cloud", "/", &[]);
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    assert!(out.contains("<li>Code: NoSuchWebsiteConfiguration</li>\n<li>Message: The specified bucket does not have a website configuration</li>\n<li>BucketName: no-website</li>"), "{out}");
    let out = get(
        "missing-bkt.s3-website.localhost.localstack.cloud",
        "/",
        &[],
    );
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    assert!(out.contains("<li>Code: NoSuchBucket</li>\n<li>Message: The specified bucket does not exist</li>\n<li>BucketName: missing-bkt</li>"), "{out}");
    // A site whose bucket is not public: 403 AccessDenied, as an HTML page.
    let out = get(
        "private-site.s3-website.localhost.localstack.cloud",
        "/",
        &[],
    );
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    assert!(
        out.contains("<li>Code: AccessDenied</li>\n<li>Message: Access Denied</li>"),
        "{out}"
    );
    assert!(!out.contains("<h1>private</h1>"), "{out}");
    // RedirectAllRequestsTo keeps the path.
    let out = get(
        "moved-site.s3-website.localhost.localstack.cloud",
        "/p/q.html",
        &[],
    );
    assert!(out.starts_with("HTTP/1.1 301"), "{out}");
    assert_eq!(
        header(&out, "location").as_deref(),
        Some("https://www.example.com/p/q.html")
    );
    // The REST endpoint still answers XML for the same bucket.
    let out = curl(&[&format!("{base}/bare-site/nope")]);
    assert!(out.contains("<Code>NoSuchKey</Code>"), "{out}");
}

const BOTO3_OBJECT_LOCK: &str = r#"
import sys, datetime
import boto3, botocore

s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%s" % sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")

def code(call, **kw):
    try:
        call(**kw)
    except botocore.exceptions.ClientError as e:
        return (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"], e.response["Error"]["Message"])
    raise SystemExit("expected an error from %s" % call)

s3.create_bucket(Bucket="py-plain")
assert code(s3.get_object_lock_configuration, Bucket="py-plain") == (
    404, "ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this bucket")
s3.put_object(Bucket="py-plain", Key="k", Body=b"x")
assert code(s3.get_object_retention, Bucket="py-plain", Key="k") == (
    400, "InvalidRequest", "Bucket is missing Object Lock Configuration")

s3.create_bucket(Bucket="py-lock", ObjectLockEnabledForBucket=True)
assert s3.get_bucket_versioning(Bucket="py-lock")["Status"] == "Enabled"
s3.put_object_lock_configuration(Bucket="py-lock", ObjectLockConfiguration={
    "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Years": 1}}})
cfg = s3.get_object_lock_configuration(Bucket="py-lock")["ObjectLockConfiguration"]
assert cfg == {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Years": 1}}}, cfg

v = s3.put_object(Bucket="py-lock", Key="doc", Body=b"v1")["VersionId"]
head = s3.head_object(Bucket="py-lock", Key="doc")
assert head["ObjectLockMode"] == "GOVERNANCE", head
assert head["ObjectLockRetainUntilDate"] > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=364)
r = s3.get_object_retention(Bucket="py-lock", Key="doc", VersionId=v)["Retention"]
assert r["Mode"] == "GOVERNANCE", r
assert code(s3.get_object_legal_hold, Bucket="py-lock", Key="doc") == (
    404, "NoSuchObjectLockConfiguration", "The specified object does not have a ObjectLock configuration")

# Protected: refused with AWS's message; without a version id a delete marker is made.
assert code(s3.delete_object, Bucket="py-lock", Key="doc", VersionId=v) == (
    403, "AccessDenied", "Access Denied because object protected by object lock.")
marker = s3.delete_object(Bucket="py-lock", Key="doc")
assert marker["DeleteMarker"] is True, marker
s3.put_object_legal_hold(Bucket="py-lock", Key="doc", VersionId=v, LegalHold={"Status": "ON"})
assert s3.get_object_legal_hold(Bucket="py-lock", Key="doc", VersionId=v)["LegalHold"]["Status"] == "ON"
assert code(s3.delete_object, Bucket="py-lock", Key="doc", VersionId=v, BypassGovernanceRetention=True)[1] == "AccessDenied"
s3.put_object_legal_hold(Bucket="py-lock", Key="doc", VersionId=v, LegalHold={"Status": "OFF"})
s3.delete_object(Bucket="py-lock", Key="doc", VersionId=v, BypassGovernanceRetention=True)
versions = s3.list_object_versions(Bucket="py-lock", Prefix="doc")
assert "Versions" not in versions and len(versions["DeleteMarkers"]) == 1, versions

# Explicit COMPLIANCE retention on PUT, past dates refused.
until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
v2 = s3.put_object(Bucket="py-lock", Key="c", Body=b"c", ObjectLockMode="COMPLIANCE",
                   ObjectLockRetainUntilDate=until)["VersionId"]
assert s3.get_object(Bucket="py-lock", Key="c")["ObjectLockMode"] == "COMPLIANCE"
assert code(s3.delete_object, Bucket="py-lock", Key="c", VersionId=v2, BypassGovernanceRetention=True)[1] == "AccessDenied"
past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
assert code(s3.put_object_retention, Bucket="py-lock", Key="c",
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": past}) == (
    400, "InvalidArgument", "The retain until date must be in the future!")
assert code(s3.put_bucket_versioning, Bucket="py-lock", VersioningConfiguration={"Status": "Suspended"}) == (
    409, "InvalidBucketState", "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.")
print("ok")
"#;

#[test]
fn boto3_object_lock() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(BOTO3_OBJECT_LOCK)
        .arg(skyport.port().to_string()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

const SUBRESOURCES: &str = r#"
import sys, urllib.request, urllib.error, boto3, botocore
ep = sys.argv[1]
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
s3.create_bucket(Bucket="subs")
s3.put_object(Bucket="subs", Key="k", Body=b"original")
# Hand-made requests carry credentials (Skyport accepts any signature): the bucket is private.
AUTH = {"Authorization": "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x"}

def code(call, **kw):
    try:
        call(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"], e.response["Error"].get("Message", "")
    raise SystemExit("%s should fail" % call)

# Subresources AWS defines that Skyport does not implement yet: 501 naming the operation, never a listing
# or the object's bytes.
for call, kw, op in [
    (s3.get_object_torrent, dict(Bucket="subs", Key="k"), "GetObjectTorrent"),
    (s3.get_bucket_policy_status, dict(Bucket="subs"), "GetBucketPolicyStatus"),
    (s3.get_bucket_replication, dict(Bucket="subs"), "GetBucketReplication"),
    (s3.list_bucket_metrics_configurations, dict(Bucket="subs"), "ListBucketMetricsConfigurations"),
    (s3.list_bucket_analytics_configurations, dict(Bucket="subs"), "ListBucketAnalyticsConfigurations"),
    (s3.list_bucket_inventory_configurations, dict(Bucket="subs"), "ListBucketInventoryConfigurations"),
    (s3.list_bucket_intelligent_tiering_configurations, dict(Bucket="subs"), "ListBucketIntelligentTieringConfigurations"),
    (s3.put_bucket_replication, dict(Bucket="subs", ReplicationConfiguration={"Role": "arn:aws:iam::000000000000:role/r",
        "Rules": [{"Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::other"}}]}), "PutBucketReplication"),
]:
    status, c, message = code(call, **kw)
    assert (status, c) == (501, "NotImplemented"), (op, status, c, message)
    # GetBucketMetricsConfiguration and ListBucket... share ?metrics: the message names one of them.
    assert message.split(" ")[0].replace("Get", "").replace("List", "").rstrip("s") in op.replace("List", "").replace("Get", ""), (op, message)

# A PUT of an object subresource that exists only for GET must not overwrite the object.
req = urllib.request.Request(ep + "/subs/k?torrent", data=b"overwritten", method="PUT", headers=AUTH)
try:
    urllib.request.urlopen(req)
    raise SystemExit("PUT ?torrent should fail")
except urllib.error.HTTPError as e:
    assert e.code == 405 and b"<Code>MethodNotAllowed</Code>" in e.read(), e.code
assert s3.get_object(Bucket="subs", Key="k")["Body"].read() == b"original"
# A GET of ?attributes is GetObjectAttributes, never the bytes (without x-amz-object-attributes: 400).
req = urllib.request.Request(ep + "/subs/k?attributes", method="GET", headers=AUTH)
try:
    body = urllib.request.urlopen(req).read()
    raise SystemExit("GET ?attributes returned %r" % body)
except urllib.error.HTTPError as e:
    assert e.code == 400 and b"<Code>InvalidRequest</Code>" in e.read(), e.code
# A PUT of a bucket subresource Skyport lacks is refused, not taken for CreateBucket.
req = urllib.request.Request(ep + "/subs?metrics&id=m1", data=b"<MetricsConfiguration/>", method="PUT", headers=AUTH)
try:
    urllib.request.urlopen(req)
    raise SystemExit("PUT ?metrics should fail")
except urllib.error.HTTPError as e:
    assert e.code == 501, e.code
# Query parameters that are no subresource stay parameters.
assert s3.list_objects_v2(Bucket="subs", Prefix="k")["KeyCount"] == 1
assert s3.get_object(Bucket="subs", Key="k", VersionId="null")["Body"].read() == b"original"
print("ok")
"#;

#[test]
fn unknown_subresources_never_reach_the_default_operation() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(SUBRESOURCES)
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

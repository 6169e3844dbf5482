//! `SKYPORT_VERIFY_SIGV4=1`: S3 checks SigV4 signatures (headers and presigned URLs) against
//! `SKYPORT_SIGV4_KEYS`, with the real clients signing, and answers AWS's errors otherwise.

mod common;

use std::process::Command;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use common::{Options, Skyport, require, run};

fn client(endpoint: &str, key: &str, secret: &str) -> Client {
    let creds = Credentials::new(key, secret, None, None, "test");
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    Client::from_conf(config)
}

fn strict() -> Skyport {
    Skyport::start_with(
        Options::default()
            .env("SKYPORT_VERIFY_SIGV4", "1")
            .env("SKYPORT_SIGV4_KEYS", "AKIDSTRICT:s3cr3t/with+chars,other:x"),
    )
}

#[tokio::test]
async fn signed_requests_pass_and_bad_signatures_fail() {
    let skyport = strict();
    let good = client(&skyport.endpoint(), "AKIDSTRICT", "s3cr3t/with+chars");
    good.create_bucket().bucket("strict").send().await.unwrap();
    good.put_object()
        .bucket("strict")
        .key("dir/a b+c~!.txt")
        .body(ByteStream::from_static(b"signed"))
        .send()
        .await
        .unwrap();
    let got = good
        .get_object()
        .bucket("strict")
        .key("dir/a b+c~!.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"signed"
    );
    let listed = good
        .list_objects_v2()
        .bucket("strict")
        .prefix("dir/a b")
        .delimiter("/")
        .start_after("d")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(1));

    let wrong = client(&skyport.endpoint(), "AKIDSTRICT", "not-the-secret");
    let err = wrong.list_buckets().send().await.unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(
        err.as_service_error().and_then(|e| e.code()),
        Some("SignatureDoesNotMatch")
    );
    let unknown = client(&skyport.endpoint(), "AKIDUNKNOWN", "x");
    let err = unknown.list_buckets().send().await.unwrap_err();
    assert_eq!(
        err.as_service_error().and_then(|e| e.code()),
        Some("InvalidAccessKeyId")
    );

    // Presigned URLs: valid, tampered, expired.
    if !require("curl") {
        return;
    }
    let cfg = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
    let url = good
        .get_object()
        .bucket("strict")
        .key("dir/a b+c~!.txt")
        .presigned(cfg)
        .await
        .unwrap();
    let (_, out, _) = run(Command::new("curl").args(["-sS"]).arg(url.uri()));
    assert_eq!(out, "signed");
    let tampered = url.uri().replace("X-Amz-Signature=", "X-Amz-Signature=0");
    let (_, out, _) = run(Command::new("curl")
        .args(["-sS", "-w", "%{http_code}"])
        .arg(&tampered));
    assert!(
        out.contains("<Code>SignatureDoesNotMatch</Code>") && out.ends_with("403"),
        "{out}"
    );
    let cfg = PresigningConfig::expires_in(Duration::from_secs(1)).unwrap();
    let url = good
        .get_object()
        .bucket("strict")
        .key("dir/a b+c~!.txt")
        .presigned(cfg)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (_, out, _) = run(Command::new("curl")
        .args(["-sS", "-w", "%{http_code}"])
        .arg(url.uri()));
    assert!(
        out.contains("<Code>AccessDenied</Code><Message>Request has expired</Message>")
            && out.ends_with("403"),
        "{out}"
    );

    // Unsigned, and a signature from an hour ago.
    let path = format!("{}/strict/dir/x", skyport.endpoint());
    let (_, out, _) = run(Command::new("curl")
        .args(["-sS", "-w", "%{http_code}"])
        .arg(&path));
    assert!(
        out.contains("<Code>AccessDenied</Code>") && out.ends_with("403"),
        "{out}"
    );
    let (_, out, _) = run(Command::new("curl").args([
        "-sS",
        "-w",
        "%{http_code}",
        "-H",
        "x-amz-date: 20200101T000000Z",
        "-H",
        "x-amz-content-sha256: UNSIGNED-PAYLOAD",
        "-H",
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDSTRICT/20200101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
        &path,
    ]));
    assert!(
        out.contains("<Code>RequestTimeTooSkewed</Code>") && out.ends_with("403"),
        "{out}"
    );
}

#[test]
fn boto3_signs_correctly_in_both_addressing_styles() {
    if !require("python3") {
        return;
    }
    let skyport = strict();
    let script = r#"
import sys, socket, boto3, botocore, io
from botocore.config import Config
ep = sys.argv[1]
port = ep.rsplit(":", 1)[1]
real = socket.getaddrinfo
socket.getaddrinfo = lambda host, *a, **kw: real("127.0.0.1", *a, **kw)
for style, endpoint in [("path", ep), ("virtual", "http://localhost.localstack.cloud:" + port)]:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="AKIDSTRICT",
                      aws_secret_access_key="s3cr3t/with+chars", config=Config(s3={"addressing_style": style}))
    b = "py-strict-" + style
    s3.create_bucket(Bucket=b)
    s3.upload_fileobj(io.BytesIO(b"q" * (9 * 1024 * 1024)), b, "k/=&?.bin")
    assert s3.get_object(Bucket=b, Key="k/=&?.bin")["ContentLength"] == 9 * 1024 * 1024
    assert [o["Key"] for o in s3.list_objects(Bucket=b, Prefix="k/")["Contents"]] == ["k/=&?.bin"]
bad = boto3.client("s3", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="AKIDSTRICT", aws_secret_access_key="no")
try:
    bad.list_buckets()
    raise SystemExit("expected SignatureDoesNotMatch")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "SignatureDoesNotMatch", e.response
print("ok")
"#;
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

/// A hand-signed `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` upload (the signed aws-chunked encoding): each
/// chunk signature is checked, and a body altered in flight is refused.
const SIGNED_CHUNKS: &str = r#"
import sys, hmac, hashlib, datetime, http.client
host, port = "127.0.0.1", int(sys.argv[1])
key_id, secret = "AKIDSTRICT", "s3cr3t/with+chars"
def h(k, m): return hmac.new(k, m.encode(), hashlib.sha256).digest()

def put(path, chunks, tamper=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    scope = day + "/us-east-1/s3/aws4_request"
    k = h(("AWS4" + secret).encode(), day); k = h(k, "us-east-1"); k = h(k, "s3"); k = h(k, "aws4_request")
    decoded = sum(len(c) for c in chunks)
    headers = {"content-encoding": "aws-chunked", "host": "%s:%d" % (host, port),
               "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "x-amz-date": amz,
               "x-amz-decoded-content-length": str(decoded)}
    names = sorted(headers)
    creq = "\n".join(["PUT", path, "", "".join("%s:%s\n" % (n, headers[n]) for n in names), ";".join(names),
                      "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"])
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amz, scope, hashlib.sha256(creq.encode()).hexdigest())
    prev = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    auth = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (key_id, scope, ";".join(names), prev)
    body = b""
    for data in list(chunks) + [b""]:
        s = "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n%s\n%s" % (amz, scope, prev, hashlib.sha256(b"").hexdigest(),
                                                           hashlib.sha256(data).hexdigest())
        prev = hmac.new(k, s.encode(), hashlib.sha256).hexdigest()
        if tamper and data:
            data = b"X" + data[1:]
        body += b"%x;chunk-signature=%s\r\n" % (len(data), prev.encode()) + data + b"\r\n"
    body += b"\r\n"
    conn = http.client.HTTPConnection(host, port)
    send = dict(headers); del send["host"]
    send["Authorization"] = auth
    send["Content-Length"] = str(len(body))
    conn.request("PUT", path, body=body, headers=send)
    r = conn.getresponse()
    return r.status, r.read()

status, body = put("/chunks/signed.bin", [b"a" * 65536, b"b" * 1000])
assert status == 200, (status, body)
status, body = put("/chunks/tampered.bin", [b"a" * 65536, b"b" * 1000], tamper=True)
assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body, (status, body)
print("ok")
"#;

#[tokio::test]
async fn signed_aws_chunked_bodies_are_verified_chunk_by_chunk() {
    if !require("python3") {
        return;
    }
    let skyport = strict();
    let s3 = client(&skyport.endpoint(), "AKIDSTRICT", "s3cr3t/with+chars");
    s3.create_bucket().bucket("chunks").send().await.unwrap();
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(SIGNED_CHUNKS)
        .arg(skyport.port().to_string()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
    let got = s3
        .get_object()
        .bucket("chunks")
        .key("signed.bin")
        .send()
        .await
        .unwrap();
    let data = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(data.len(), 66536);
    assert!(data[..65536].iter().all(|b| *b == b'a') && data[65536..].iter().all(|b| *b == b'b'));
    let err = s3
        .head_object()
        .bucket("chunks")
        .key("tampered.bin")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));
}

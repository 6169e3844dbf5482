//! `ENFORCE_IAM=1`, authentication: every request's SigV4 signature is verified against the secret of
//! its access key (each account's root test credentials, IAM user keys, STS's temporary credentials),
//! through the official SDKs and boto3, with AWS's error codes per protocol.

mod common;

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use common::{Options, Skyport, require, run};

fn creds(key: &str, secret: &str, token: Option<&str>) -> Credentials {
    Credentials::new(key, secret, token.map(str::to_owned), None, "test")
}

async fn config(
    endpoint: &str,
    key: &str,
    secret: &str,
    token: Option<&str>,
) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(creds(key, secret, token))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

fn enforcing() -> Skyport {
    Skyport::start_with(Options::default().env("ENFORCE_IAM", "1"))
}

/// The error code and HTTP status of a failed SDK call.
fn code<E: ProvideErrorMetadata, R: std::fmt::Debug>(
    result: Result<R, aws_sdk_dynamodb::error::SdkError<E, aws_smithy_runtime_api::http::Response>>,
) -> (String, u16) {
    let err = result.expect_err("the call should fail");
    let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    (err.code().unwrap_or("-").to_owned(), status)
}

#[tokio::test]
async fn root_test_credentials_are_verified() {
    let skyport = enforcing();
    let endpoint = skyport.endpoint();
    let sts = aws_sdk_sts::Client::new(&config(&endpoint, "test", "test", None).await);
    let me = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::000000000000:root"));
    let other = aws_sdk_sts::Client::new(&config(&endpoint, "111111111111", "test", None).await);
    let me = other.get_caller_identity().send().await.unwrap();
    assert_eq!(me.account(), Some("111111111111"));

    // A wrong secret, an unknown key: the query protocol's codes (STS), awsJson's (DynamoDB),
    // REST-JSON's (Lambda), and SQS's query-compatible ones.
    let wrong = config(&endpoint, "test", "wrong", None).await;
    let unknown = config(&endpoint, "AKIAUNKNOWN000000000", "x", None).await;
    assert_eq!(
        code(
            aws_sdk_sts::Client::new(&wrong)
                .get_caller_identity()
                .send()
                .await
        ),
        ("SignatureDoesNotMatch".to_owned(), 403)
    );
    assert_eq!(
        code(
            aws_sdk_sts::Client::new(&unknown)
                .get_caller_identity()
                .send()
                .await
        ),
        ("InvalidClientTokenId".to_owned(), 403)
    );
    assert_eq!(
        code(
            aws_sdk_dynamodb::Client::new(&wrong)
                .list_tables()
                .send()
                .await
        ),
        ("InvalidSignatureException".to_owned(), 400)
    );
    assert_eq!(
        code(
            aws_sdk_dynamodb::Client::new(&unknown)
                .list_tables()
                .send()
                .await
        ),
        ("UnrecognizedClientException".to_owned(), 400)
    );
    assert_eq!(
        code(
            aws_sdk_lambda::Client::new(&unknown)
                .list_functions()
                .send()
                .await
        ),
        ("UnrecognizedClientException".to_owned(), 403)
    );
    assert_eq!(
        code(aws_sdk_sqs::Client::new(&wrong).list_queues().send().await),
        ("SignatureDoesNotMatch".to_owned(), 403)
    );
    assert_eq!(
        code(
            aws_sdk_s3::Client::new(&unknown)
                .list_buckets()
                .send()
                .await
        ),
        ("InvalidAccessKeyId".to_owned(), 403)
    );
    assert_eq!(
        code(aws_sdk_s3::Client::new(&wrong).list_buckets().send().await),
        ("SignatureDoesNotMatch".to_owned(), 403)
    );
    // The right secret works everywhere, bodies (hashed into the signature) included.
    let good = config(&endpoint, "test", "test", None).await;
    let sqs = aws_sdk_sqs::Client::new(&good);
    let queue = sqs
        .create_queue()
        .queue_name("signed")
        .send()
        .await
        .unwrap();
    sqs.send_message()
        .queue_url(queue.queue_url().unwrap())
        .message_body("ünïcode body & more")
        .send()
        .await
        .unwrap();
    aws_sdk_s3::Client::new(&good)
        .list_buckets()
        .send()
        .await
        .unwrap();
    aws_sdk_lambda::Client::new(&good)
        .list_functions()
        .send()
        .await
        .unwrap();
    assert!(
        skyport.wait_for_log(
            "sts.GetCallerIdentity => 403",
            std::time::Duration::from_secs(5)
        ),
        "{}",
        skyport.log()
    );
}

#[tokio::test]
async fn iam_user_keys_and_sts_credentials_are_verified() {
    let skyport = enforcing();
    let endpoint = skyport.endpoint();
    let root = config(&endpoint, "test", "test", None).await;
    let iam = aws_sdk_iam::Client::new(&root);
    iam.create_user().user_name("app").send().await.unwrap();
    let key = iam
        .create_access_key()
        .user_name("app")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let user = config(
        &endpoint,
        key.access_key_id(),
        key.secret_access_key(),
        None,
    )
    .await;
    let me = aws_sdk_sts::Client::new(&user)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::000000000000:user/app"));
    aws_sdk_dynamodb::Client::new(&user)
        .list_tables()
        .send()
        .await
        .unwrap();
    aws_sdk_s3::Client::new(&user)
        .create_bucket()
        .bucket("user-bucket")
        .send()
        .await
        .unwrap();
    let bad_secret = config(&endpoint, key.access_key_id(), "not-the-secret", None).await;
    assert_eq!(
        code(
            aws_sdk_dynamodb::Client::new(&bad_secret)
                .list_tables()
                .send()
                .await
        ),
        ("InvalidSignatureException".to_owned(), 400)
    );
    // An inactive key is refused as unknown.
    iam.update_access_key()
        .user_name("app")
        .access_key_id(key.access_key_id())
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(
            aws_sdk_sts::Client::new(&user)
                .get_caller_identity()
                .send()
                .await
        ),
        ("InvalidClientTokenId".to_owned(), 403)
    );

    // Temporary credentials: with their session token they work (S3 too); without it, or with
    // another one, they do not.
    iam.create_role()
        .role_name("worker")
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let assumed = aws_sdk_sts::Client::new(&root)
        .assume_role()
        .role_arn("arn:aws:iam::000000000000:role/worker")
        .role_session_name("job")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let (id, secret, token) = (
        assumed.access_key_id(),
        assumed.secret_access_key(),
        assumed.session_token(),
    );
    let session = config(&endpoint, id, secret, Some(token)).await;
    let me = aws_sdk_sts::Client::new(&session)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::000000000000:assumed-role/worker/job")
    );
    aws_sdk_s3::Client::new(&session)
        .list_buckets()
        .send()
        .await
        .unwrap();
    let no_token = config(&endpoint, id, secret, None).await;
    assert_eq!(
        code(
            aws_sdk_sqs::Client::new(&no_token)
                .list_queues()
                .send()
                .await
        ),
        ("InvalidClientTokenId".to_owned(), 403)
    );
    let other_token = config(&endpoint, id, secret, Some("FQoGZXIvYXdzEother")).await;
    assert_eq!(
        code(
            aws_sdk_dynamodb::Client::new(&other_token)
                .list_tables()
                .send()
                .await
        ),
        ("UnrecognizedClientException".to_owned(), 400)
    );
    assert_eq!(
        code(
            aws_sdk_s3::Client::new(&other_token)
                .list_buckets()
                .send()
                .await
        ),
        ("InvalidToken".to_owned(), 400)
    );
}

#[test]
fn boto3_and_unsigned_requests() {
    if !require("python3") {
        return;
    }
    let skyport = enforcing();
    let script = r#"
import sys, urllib.request, urllib.error, boto3, botocore
from botocore.config import Config
endpoint = sys.argv[1]
def client(service, key="test", secret="test"):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1}))
def code(call):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("no error")
assert code(lambda: client("sqs", "nobody").list_queues()) == ("InvalidClientTokenId", 403)
assert code(lambda: client("sns", secret="bad").list_topics()) == ("SignatureDoesNotMatch", 403)
assert code(lambda: client("logs", "nobody").describe_log_groups()) == ("UnrecognizedClientException", 400)
assert code(lambda: client("events", secret="bad").list_rules()) == ("InvalidSignatureException", 400)
client("sns").create_topic(Name="t")
client("logs").create_log_group(logGroupName="g")

# Unsigned requests: refused with the protocol's code.
req = urllib.request.Request(endpoint + "/", data=b"Action=GetCallerIdentity&Version=2011-06-15",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
try:
    urllib.request.urlopen(req)
    raise AssertionError("unsigned STS call accepted")
except urllib.error.HTTPError as e:
    body = e.read().decode()
    assert e.code == 403 and "<Code>MissingAuthenticationToken</Code>" in body, (e.code, body)

# Presigned S3 URLs are verified too.
s3 = client("s3")
s3.create_bucket(Bucket="presigned")
s3.put_object(Bucket="presigned", Key="k", Body=b"data")
url = s3.generate_presigned_url("get_object", Params={"Bucket": "presigned", "Key": "k"})
assert urllib.request.urlopen(url).read() == b"data"
bad = client("s3", secret="bad").generate_presigned_url("get_object", Params={"Bucket": "presigned", "Key": "k"})
try:
    urllib.request.urlopen(bad)
    raise AssertionError("badly signed URL accepted")
except urllib.error.HTTPError as e:
    assert e.code == 403 and b"SignatureDoesNotMatch" in e.read()
print("ok")
"#;
    let (status, out, err) = run(std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(skyport.endpoint()));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert_eq!(out.trim(), "ok");
}

//! `ENFORCE_IAM=1`, authentication: every request's SigV4 signature is verified against the secret of
//! its access key (each account's root test credentials, IAM user keys, STS's temporary credentials),
//! through the official SDKs and boto3, with AWS's error codes per protocol.

mod common;
#[path = "common/lambda_harness.rs"]
mod harness;

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_lambda::client::Waiters;
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

/// Creates role `name` that any principal may assume, with one inline policy (and a boundary).
async fn role_with_policy(
    iam: &aws_sdk_iam::Client,
    name: &str,
    policy: &str,
    boundary: Option<&str>,
) {
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#,
        )
        .set_permissions_boundary(boundary.map(str::to_owned))
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name(name)
        .policy_name("inline")
        .policy_document(policy)
        .send()
        .await
        .unwrap();
}

/// The configuration of temporary credentials STS returned.
async fn session_config(
    endpoint: &str,
    creds: &aws_sdk_sts::types::Credentials,
) -> aws_config::SdkConfig {
    config(
        endpoint,
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token()),
    )
    .await
}

/// The error code and HTTP status of a failed SDK call.
fn code<E: ProvideErrorMetadata, R: std::fmt::Debug>(
    result: Result<R, aws_sdk_dynamodb::error::SdkError<E, aws_smithy_runtime_api::http::Response>>,
) -> (String, u16) {
    let err = result.expect_err("the call should fail");
    let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    (err.code().unwrap_or("-").to_owned(), status)
}

/// A new access key of the user `name`, and the SDK configuration that signs with it.
async fn access_key(
    endpoint: &str,
    iam: &aws_sdk_iam::Client,
    name: &str,
) -> (aws_sdk_iam::types::AccessKey, aws_config::SdkConfig) {
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let config = config(endpoint, key.access_key_id(), key.secret_access_key(), None).await;
    (key, config)
}

/// Creates the managed policy `name` with `document`; its ARN.
async fn managed_policy(iam: &aws_sdk_iam::Client, name: &str, document: &str) -> String {
    iam.create_policy()
        .policy_name(name)
        .policy_document(document)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap()
}

/// Creates `bucket` holding the object `k` with `body`.
async fn bucket_with_object(s3: &aws_sdk_s3::Client, bucket: &str, body: &'static [u8]) {
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    s3.put_object()
        .bucket(bucket)
        .key("k")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(body))
        .send()
        .await
        .unwrap();
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
    // Authentication is what this test is about: the principals may do everything.
    let everything =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    iam.put_user_policy()
        .user_name("app")
        .policy_name("everything")
        .policy_document(everything)
        .send()
        .await
        .unwrap();
    let (key, user) = access_key(&endpoint, &iam, "app").await;
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
    iam.update_access_key()
        .user_name("app")
        .access_key_id(key.access_key_id())
        .status(aws_sdk_iam::types::StatusType::Active)
        .send()
        .await
        .unwrap();
    role_with_policy(&iam, "worker", everything, None).await;
    // The root user may not assume roles (AWS refuses it); an IAM user may.
    let refused = message(
        aws_sdk_sts::Client::new(&root)
            .assume_role()
            .role_arn("arn:aws:iam::000000000000:role/worker")
            .role_session_name("job")
            .send()
            .await,
    );
    assert_eq!(
        (refused.0.as_str(), refused.1.as_str()),
        ("AccessDenied", "Roles may not be assumed by root accounts.")
    );
    let assumed = aws_sdk_sts::Client::new(&user)
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

# A presigned STS URL (the empty body's hash signed) is verified like a header-signed request.
sts_url = client("sts").generate_presigned_url("get_caller_identity", HttpMethod="GET")
assert b"<Arn>arn:aws:iam::000000000000:root</Arn>" in urllib.request.urlopen(sts_url).read()

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

/// Creates user `name` with an inline policy and returns its SDK configuration.
async fn user_with_policy(
    endpoint: &str,
    iam: &aws_sdk_iam::Client,
    name: &str,
    policy: &str,
) -> aws_config::SdkConfig {
    iam.create_user().user_name(name).send().await.unwrap();
    iam.put_user_policy()
        .user_name(name)
        .policy_name("inline")
        .policy_document(policy)
        .send()
        .await
        .unwrap();
    access_key(endpoint, iam, name).await.1
}

/// A user with no policies of its own, who may assume the roles `role_with_policy` makes (their
/// trust policy names everyone; the root user may not assume roles).
async fn assumer(endpoint: &str, iam: &aws_sdk_iam::Client) -> aws_config::SdkConfig {
    user_with_policy(
        endpoint,
        iam,
        "assumer",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*"}]}"#,
    )
    .await
}

/// The message of a failed SDK call.
fn message<E: ProvideErrorMetadata, R: std::fmt::Debug>(
    result: Result<R, aws_sdk_dynamodb::error::SdkError<E, aws_smithy_runtime_api::http::Response>>,
) -> (String, String) {
    let err = result.expect_err("the call should be denied");
    (
        err.code().unwrap_or("-").to_owned(),
        err.message().unwrap_or("-").to_owned(),
    )
}

#[tokio::test]
async fn policies_decide_with_aws_evaluation_logic_and_messages() {
    let skyport = enforcing();
    let endpoint = skyport.endpoint();
    let root = config(&endpoint, "test", "test", None).await;
    let s3 = aws_sdk_s3::Client::new(&root);
    s3.create_bucket().bucket("data").send().await.unwrap();
    for key in ["public/a.txt", "private/b.txt"] {
        s3.put_object()
            .bucket("data")
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    // The bucket policy grants the user uploads under uploads/ (same account: either side suffices).
    s3.put_bucket_policy()
        .bucket("data")
        .policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/app"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::data/uploads/*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let sqs_root = aws_sdk_sqs::Client::new(&root);
    let allowed = sqs_root
        .create_queue()
        .queue_name("allowed")
        .send()
        .await
        .unwrap();
    let blocked = sqs_root
        .create_queue()
        .queue_name("blocked")
        .send()
        .await
        .unwrap();
    let iam = aws_sdk_iam::Client::new(&root);
    let app = user_with_policy(
        &endpoint,
        &iam,
        "app",
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/public/*"},
            {"Effect":"Allow","Action":"sqs:*","Resource":"*"},
            {"Sid":"NoBlocked","Effect":"Deny","Action":"sqs:SendMessage","Resource":"arn:aws:sqs:us-east-1:000000000000:blocked"}]}"#,
    )
    .await;

    // S3: allowed under the prefix, denied elsewhere with AWS's message.
    let s3_app = aws_sdk_s3::Client::new(&app);
    s3_app
        .get_object()
        .bucket("data")
        .key("public/a.txt")
        .send()
        .await
        .unwrap();
    let (code, text) = message(
        s3_app
            .get_object()
            .bucket("data")
            .key("private/b.txt")
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    assert_eq!(
        text,
        "User: arn:aws:iam::000000000000:user/app is not authorized to perform: s3:GetObject on \
         resource: arn:aws:s3:::data/private/b.txt because no identity-based policy allows the \
         s3:GetObject action"
    );
    let put = |key: &'static str| {
        s3_app
            .put_object()
            .bucket("data")
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"y"))
            .send()
    };
    put("uploads/c.txt").await.unwrap();
    assert_eq!(message(put("public/c.txt").await).0, "AccessDenied");

    // SQS: allowed by `sqs:*`, except where an explicit deny says otherwise.
    let sqs_app = aws_sdk_sqs::Client::new(&app);
    sqs_app
        .send_message()
        .queue_url(allowed.queue_url().unwrap())
        .message_body("hi")
        .send()
        .await
        .unwrap();
    let (code, text) = message(
        sqs_app
            .send_message()
            .queue_url(blocked.queue_url().unwrap())
            .message_body("hi")
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    assert!(
        text.contains("with an explicit deny in an identity-based policy"),
        "{text}"
    );

    // Other services' shapes of the denial; GetCallerIdentity is never denied.
    let (code, text) = message(
        aws_sdk_dynamodb::Client::new(&app)
            .list_tables()
            .send()
            .await,
    );
    assert_eq!(code, "AccessDeniedException");
    assert!(text.contains("dynamodb:ListTables"), "{text}");
    // A policy change applies to the next request.
    iam.put_user_policy()
        .user_name("app")
        .policy_name("tables")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:ListTables","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    aws_sdk_dynamodb::Client::new(&app)
        .list_tables()
        .send()
        .await
        .unwrap();
    assert_eq!(
        crate::code(
            aws_sdk_lambda::Client::new(&app)
                .list_functions()
                .send()
                .await
        ),
        ("AccessDeniedException".to_owned(), 403)
    );
    aws_sdk_sts::Client::new(&app)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert!(
        skyport.wait_for_log("IAM: denied", std::time::Duration::from_secs(5)),
        "{}",
        skyport.log()
    );

    // A role session: the role's policies and its permissions boundary both have to allow.
    iam.create_policy()
        .policy_name("only-sqs")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    role_with_policy(
        &iam,
        "worker",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        Some("arn:aws:iam::000000000000:policy/only-sqs"),
    )
    .await;
    let creds = aws_sdk_sts::Client::new(&assumer(&endpoint, &iam).await)
        .assume_role()
        .role_arn("arn:aws:iam::000000000000:role/worker")
        .role_session_name("job")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let session = session_config(&endpoint, &creds).await;
    aws_sdk_sqs::Client::new(&session)
        .list_queues()
        .send()
        .await
        .unwrap();
    let (code, text) = message(
        aws_sdk_dynamodb::Client::new(&session)
            .list_tables()
            .send()
            .await,
    );
    assert_eq!(code, "AccessDeniedException");
    assert!(
        text.starts_with(
            "User: arn:aws:sts::000000000000:assumed-role/worker/job is not authorized"
        ) && text.contains("because no permissions boundary allows"),
        "{text}"
    );
}

#[tokio::test]
async fn soft_mode_allows_and_lists_what_would_be_denied() {
    let skyport = Skyport::start_with(
        Options::default()
            .env("ENFORCE_IAM", "1")
            .env("IAM_SOFT_MODE", "1"),
    );
    let endpoint = skyport.endpoint();
    let root = config(&endpoint, "test", "test", None).await;
    aws_sdk_s3::Client::new(&root)
        .create_bucket()
        .bucket("soft")
        .send()
        .await
        .unwrap();
    let iam = aws_sdk_iam::Client::new(&root);
    let app = user_with_policy(
        &endpoint,
        &iam,
        "grower",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::soft"}]}"#,
    )
    .await;
    let s3 = aws_sdk_s3::Client::new(&app);
    s3.put_object()
        .bucket("soft")
        .key("k")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"z"))
        .send()
        .await
        .unwrap();
    s3.list_objects_v2().bucket("soft").send().await.unwrap();
    let (status, body, err) = run(std::process::Command::new("curl").args([
        "-s",
        "-w",
        "\n%{http_code}",
        &format!("{endpoint}/_skyport/iam/denials"),
    ]));
    assert!(status.success(), "{err}");
    let (json, code) = body.trim().rsplit_once('\n').unwrap();
    assert_eq!(code, "200");
    let report: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(report["softMode"], true);
    let grower = &report["principals"][0];
    assert_eq!(grower["principal"], "arn:aws:iam::000000000000:user/grower");
    assert_eq!(
        grower["denied"],
        serde_json::json!([{"action": "s3:PutObject", "resource": "arn:aws:s3:::soft/k"}])
    );
    let statement = &grower["suggestedPolicy"]["Statement"][0];
    assert_eq!(statement["Action"], "s3:PutObject");
    assert_eq!(statement["Resource"], "arn:aws:s3:::soft/k");
    assert!(
        skyport.wait_for_log(
            "IAM soft mode: would deny",
            std::time::Duration::from_secs(5)
        ),
        "{}",
        skyport.log()
    );
}

#[tokio::test]
async fn a_function_runs_as_its_execution_role() {
    if !require("python3") {
        return;
    }
    // A fixed port: the local executor hands functions the configured gateway as AWS_ENDPOINT_URL.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let skyport = Skyport::start_with(
        Options::default()
            .listen(&format!("127.0.0.1:{port}"))
            .env("ENFORCE_IAM", "1")
            .env("LAMBDA_EXECUTOR", "local"),
    );
    let endpoint = skyport.endpoint();
    let root = config(&endpoint, "test", "test", None).await;
    let sqs = aws_sdk_sqs::Client::new(&root);
    let ok = sqs.create_queue().queue_name("ok").send().await.unwrap();
    let nope = sqs.create_queue().queue_name("nope").send().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&root);
    iam.create_role()
        .role_name("fn-role")
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("fn-role")
        .policy_name("send-to-ok")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"arn:aws:sqs:us-east-1:000000000000:ok"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let code = r#"
import boto3

def main(event, context):
    sqs = boto3.client("sqs", region_name="us-east-1")
    try:
        sqs.send_message(QueueUrl=event["url"], MessageBody="from the function")
        return {"sent": True}
    except Exception as e:
        error = getattr(e, "response", {}).get("Error", {})
        return {"sent": False, "code": error.get("Code"), "message": error.get("Message"), "error": repr(e)}
"#;
    let lambda = aws_sdk_lambda::Client::new(&root);
    lambda
        .create_function()
        .function_name("sender")
        .runtime(aws_sdk_lambda::types::Runtime::Python311)
        .role("arn:aws:iam::000000000000:role/fn-role")
        .handler("handler.main")
        .timeout(10)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(harness::zip_of(
                    "handler.py",
                    code,
                )))
                .build(),
        )
        .send()
        .await
        .unwrap();
    lambda
        .wait_until_function_active_v2()
        .function_name("sender")
        .wait(std::time::Duration::from_secs(30))
        .await
        .unwrap();
    let invoke = |url: String| {
        let lambda = lambda.clone();
        async move {
            let out = lambda
                .invoke()
                .function_name("sender")
                .payload(aws_sdk_lambda::primitives::Blob::new(
                    serde_json::json!({ "url": url }).to_string(),
                ))
                .send()
                .await
                .unwrap();
            let payload = out
                .payload()
                .map(|b| b.as_ref().to_vec())
                .unwrap_or_default();
            serde_json::from_slice::<serde_json::Value>(&payload).unwrap()
        }
    };
    let sent = invoke(ok.queue_url().unwrap().to_owned()).await;
    assert_eq!(sent["sent"], true, "{sent}\n{}", skyport.log());
    let refused = invoke(nope.queue_url().unwrap().to_owned()).await;
    assert_eq!(
        refused["code"],
        "AccessDenied",
        "{refused}\n{}",
        skyport.log()
    );
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("User: arn:aws:sts::000000000000:assumed-role/fn-role/")
            && message.contains("sqs:SendMessage"),
        "{message}"
    );
}

#[tokio::test]
async fn queue_and_topic_policies_grant_what_identity_policies_do_not() {
    let skyport = enforcing();
    let endpoint = skyport.endpoint();
    let root = config(&endpoint, "test", "test", None).await;
    let sqs = aws_sdk_sqs::Client::new(&root);
    let inbox = sqs.create_queue().queue_name("inbox").send().await.unwrap();
    let other = sqs.create_queue().queue_name("other").send().await.unwrap();
    sqs.set_queue_attributes()
        .queue_url(inbox.queue_url().unwrap())
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::Policy,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/writer"},"Action":"sqs:SendMessage","Resource":"arn:aws:sqs:us-east-1:000000000000:inbox"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let sns = aws_sdk_sns::Client::new(&root);
    let topic = sns.create_topic().name("alerts").send().await.unwrap();
    let topic_arn = topic.topic_arn().unwrap();
    sns.set_topic_attributes()
        .topic_arn(topic_arn)
        .attribute_name("Policy")
        .attribute_value(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:user/writer"}},"Action":"SNS:Publish","Resource":"{topic_arn}"}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    let iam = aws_sdk_iam::Client::new(&root);
    let writer = user_with_policy(
        &endpoint,
        &iam,
        "writer",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#,
    )
    .await;
    let sqs_writer = aws_sdk_sqs::Client::new(&writer);
    sqs_writer
        .send_message()
        .queue_url(inbox.queue_url().unwrap())
        .message_body("granted by the queue policy")
        .send()
        .await
        .unwrap();
    let (code, text) = message(
        sqs_writer
            .send_message()
            .queue_url(other.queue_url().unwrap())
            .message_body("no policy grants this")
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied", "{text}");
    let sns_writer = aws_sdk_sns::Client::new(&writer);
    sns_writer
        .publish()
        .topic_arn(topic_arn)
        .message("granted by the topic policy")
        .send()
        .await
        .unwrap();
    let (code, text) = message(sns_writer.list_topics().send().await);
    assert_eq!(code, "AuthorizationError", "{text}");
    assert!(text.contains("sns:ListTopics"), "{text}");
}

/// One case of AWS's documented evaluation logic: a user's policy (and boundary), the object read,
/// and the decision AWS documents.
struct Case {
    name: &'static str,
    policy: &'static str,
    boundary: Option<&'static str>,
    key: &'static str,
    decision: &'static str,
}

#[tokio::test]
async fn documented_evaluation_cases_agree_live_and_in_the_simulator() {
    use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum};
    let skyport = enforcing();
    let endpoint = skyport.endpoint();
    let root = config(&endpoint, "test", "test", None).await;
    let s3 = aws_sdk_s3::Client::new(&root);
    s3.create_bucket().bucket("docs").send().await.unwrap();
    let keys = [
        "public/a",
        "secret/b",
        "home/case-variable/c",
        "home/someone-else/d",
    ];
    for key in keys {
        s3.put_object()
            .bucket("docs")
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let iam = aws_sdk_iam::Client::new(&root);
    let allow_all =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let cases = [
        Case {
            name: "case-allow",
            policy: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::docs/public/*"}]}"#,
            boundary: None,
            key: "public/a",
            decision: "allowed",
        },
        Case {
            name: "case-implicit",
            policy: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"*"}]}"#,
            boundary: None,
            key: "public/a",
            decision: "implicitDeny",
        },
        Case {
            name: "case-explicit",
            policy: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::docs/secret/*"}]}"#,
            boundary: None,
            key: "secret/b",
            decision: "explicitDeny",
        },
        Case {
            name: "case-notaction",
            policy: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"s3:DeleteObject","Resource":"*"}]}"#,
            boundary: None,
            key: "secret/b",
            decision: "allowed",
        },
        Case {
            name: "case-notresource",
            policy: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::docs/secret/*"}]}"#,
            boundary: None,
            key: "secret/b",
            decision: "implicitDeny",
        },
        Case {
            name: "case-condition",
            policy: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}"#,
            boundary: None,
            key: "public/a",
            decision: "implicitDeny",
        },
        Case {
            name: "case-variable",
            policy: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::docs/home/${aws:username}/*"}]}"#,
            boundary: None,
            key: "home/case-variable/c",
            decision: "allowed",
        },
        Case {
            name: "case-variable-other",
            policy: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::docs/home/${aws:username}/*"}]}"#,
            boundary: None,
            key: "home/someone-else/d",
            decision: "implicitDeny",
        },
        Case {
            name: "case-boundary",
            policy: allow_all,
            boundary: Some(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::docs/public/*"}]}"#,
            ),
            key: "secret/b",
            decision: "implicitDeny",
        },
    ];
    for case in &cases {
        let user = user_with_policy(&endpoint, &iam, case.name, case.policy).await;
        if let Some(boundary) = case.boundary {
            let arn = managed_policy(&iam, &format!("{}-boundary", case.name), boundary).await;
            iam.put_user_permissions_boundary()
                .user_name(case.name)
                .permissions_boundary(arn)
                .send()
                .await
                .unwrap();
        }
        // Live, over plain HTTP (aws:SecureTransport is false).
        let live = aws_sdk_s3::Client::new(&user)
            .get_object()
            .bucket("docs")
            .key(case.key)
            .send()
            .await;
        let live_allowed = match live {
            Ok(_) => true,
            Err(e) => {
                assert_eq!(e.code(), Some("AccessDenied"), "{}: {e:?}", case.name);
                false
            }
        };
        assert_eq!(
            live_allowed,
            case.decision == "allowed",
            "{}: live decision",
            case.name
        );
        // The simulator, with the request context the live call had.
        let simulated = iam
            .simulate_principal_policy()
            .policy_source_arn(format!("arn:aws:iam::000000000000:user/{}", case.name))
            .action_names("s3:GetObject")
            .resource_arns(format!("arn:aws:s3:::docs/{}", case.key))
            .context_entries(
                ContextEntry::builder()
                    .context_key_name("aws:SecureTransport")
                    .context_key_type(ContextKeyTypeEnum::Boolean)
                    .context_key_values("false")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let result = &simulated.evaluation_results()[0];
        assert_eq!(
            result.eval_decision().as_str(),
            case.decision,
            "{}: simulator",
            case.name
        );
    }
}

#[tokio::test]
async fn a_function_policy_grants_invoke_to_a_user_without_identity_policies() {
    if !require("python3") {
        return;
    }
    let skyport = Skyport::start_with(
        Options::default()
            .env("ENFORCE_IAM", "1")
            .env("LAMBDA_EXECUTOR", "local"),
    );
    let endpoint = skyport.endpoint();
    let root = config(&endpoint, "test", "test", None).await;
    let lambda = aws_sdk_lambda::Client::new(&root);
    lambda
        .create_function()
        .function_name("echo")
        .runtime(aws_sdk_lambda::types::Runtime::Python311)
        .role("arn:aws:iam::000000000000:role/any")
        .handler("handler.main")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(harness::zip_of(
                    "handler.py",
                    "def main(event, context):\n    return {\"echo\": event}\n",
                )))
                .build(),
        )
        .send()
        .await
        .unwrap();
    lambda
        .wait_until_function_active_v2()
        .function_name("echo")
        .wait(std::time::Duration::from_secs(30))
        .await
        .unwrap();
    lambda
        .add_permission()
        .function_name("echo")
        .statement_id("caller-invokes")
        .action("lambda:InvokeFunction")
        .principal("arn:aws:iam::000000000000:user/caller")
        .send()
        .await
        .unwrap();
    let iam = aws_sdk_iam::Client::new(&root);
    let caller = user_with_policy(
        &endpoint,
        &iam,
        "caller",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#,
    )
    .await;
    let as_caller = aws_sdk_lambda::Client::new(&caller);
    let out = as_caller
        .invoke()
        .function_name("echo")
        .payload(aws_sdk_lambda::primitives::Blob::new("{\"hi\":1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.payload().map(|b| b.as_ref().to_vec()),
        Some(b"{\"echo\": {\"hi\": 1}}".to_vec())
    );
    let (code, text) = message(as_caller.get_function().function_name("echo").send().await);
    assert_eq!(code, "AccessDeniedException", "{text}");
    assert!(text.contains("lambda:GetFunction"), "{text}");
}

#[tokio::test]
async fn a_repository_policy_grants_what_the_user_policy_does_not() {
    let skyport = enforcing();
    let endpoint = skyport.endpoint();
    let root = config(&endpoint, "test", "test", None).await;
    let ecr = aws_sdk_ecr::Client::new(&root);
    ecr.create_repository()
        .repository_name("team/app")
        .send()
        .await
        .unwrap();
    ecr.set_repository_policy()
        .repository_name("team/app")
        .policy_text(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"puller","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/puller"},"Action":"ecr:DescribeImages"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let iam = aws_sdk_iam::Client::new(&root);
    let puller = user_with_policy(
        &endpoint,
        &iam,
        "puller",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#,
    )
    .await;
    let as_puller = aws_sdk_ecr::Client::new(&puller);
    as_puller
        .describe_images()
        .repository_name("team/app")
        .send()
        .await
        .unwrap();
    let (code, text) = message(as_puller.describe_repositories().send().await);
    assert_eq!(code, "AccessDeniedException", "{text}");
    assert!(text.contains("ecr:DescribeRepositories"), "{text}");
}

#[tokio::test]
async fn session_policies_limit_a_role_session() {
    let skyport = enforcing();
    let endpoint = skyport.endpoint();
    let root = config(&endpoint, "test", "test", None).await;
    let iam = aws_sdk_iam::Client::new(&root);
    role_with_policy(
        &iam,
        "broad",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","sqs:*"],"Resource":"*"}]}"#,
        None,
    )
    .await;
    let creds = aws_sdk_sts::Client::new(&assumer(&endpoint, &iam).await)
        .assume_role()
        .role_arn("arn:aws:iam::000000000000:role/broad")
        .role_session_name("narrow")
        .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:ListQueues","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let session = session_config(&endpoint, &creds).await;
    aws_sdk_sqs::Client::new(&session)
        .list_queues()
        .send()
        .await
        .unwrap();
    let (code, text) = message(
        aws_sdk_s3::Client::new(&session)
            .list_buckets()
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied", "{text}");
    assert!(text.contains("because no session policy allows"), "{text}");
    // AssumeRoleWithWebIdentity (unsigned, as in AWS) keeps its session policy too.
    use base64::Engine;
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(r#"{"sub":"user-1","aud":"app","iss":"https://idp.example"}"#);
    let token = format!("eyJhbGciOiJub25lIn0.{claims}.sig");
    let web = aws_sdk_sts::Client::new(&root)
        .assume_role_with_web_identity()
        .role_arn("arn:aws:iam::000000000000:role/broad")
        .role_session_name("web")
        .web_identity_token(token)
        .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let web = session_config(&endpoint, &web).await;
    aws_sdk_s3::Client::new(&web)
        .list_buckets()
        .send()
        .await
        .unwrap();
    let (code, text) = message(aws_sdk_sqs::Client::new(&web).list_queues().send().await);
    assert_eq!(code, "AccessDenied", "{text}");
    assert!(text.contains("because no session policy allows"), "{text}");
}

#[tokio::test]
async fn federated_users_have_their_users_policies_limited_by_the_session_policy() {
    let skyport = enforcing();
    let endpoint = skyport.endpoint();
    let root = config(&endpoint, "test", "test", None).await;
    let iam = aws_sdk_iam::Client::new(&root);
    let broker = user_with_policy(
        &endpoint,
        &iam,
        "broker",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:*","sts:GetFederationToken"],"Resource":"*"}]}"#,
    )
    .await;
    let sts = aws_sdk_sts::Client::new(&broker);
    let federate = |policy: Option<&'static str>| {
        let mut request = sts.get_federation_token().name("visitor");
        if let Some(policy) = policy {
            request = request.policy(policy);
        }
        request.send()
    };
    let scoped = federate(Some(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:ListQueues","dynamodb:ListTables"],"Resource":"*"}]}"#,
    ))
    .await
    .unwrap()
    .credentials
    .unwrap();
    let visitor = session_config(&endpoint, &scoped).await;
    // Both allow: allowed. Only the session policy allows: denied (the user's policies do not).
    aws_sdk_sqs::Client::new(&visitor)
        .list_queues()
        .send()
        .await
        .unwrap();
    let (code, text) = message(
        aws_sdk_dynamodb::Client::new(&visitor)
            .list_tables()
            .send()
            .await,
    );
    assert_eq!(code, "AccessDeniedException", "{text}");
    assert!(text.contains("federated-user/visitor"), "{text}");
    // Without a session policy the session has no permissions.
    let bare = federate(None).await.unwrap().credentials.unwrap();
    let bare = session_config(&endpoint, &bare).await;
    let (code, text) = message(aws_sdk_sqs::Client::new(&bare).list_queues().send().await);
    assert_eq!(code, "AccessDenied", "{text}");
    assert!(text.contains("because no session policy allows"), "{text}");
}

#[tokio::test]
async fn cross_account_access_needs_both_sides_and_roles_need_their_trust_policy() {
    let skyport = enforcing();
    let endpoint = skyport.endpoint();
    // Account 000000000000 owns a bucket and a queue; account 111111111111's root and users ask.
    let owner = config(&endpoint, "test", "test", None).await;
    let s3 = aws_sdk_s3::Client::new(&owner);
    bucket_with_object(&s3, "shared", b"v").await;
    let queue_url = aws_sdk_sqs::Client::new(&owner)
        .create_queue()
        .queue_name("shared-q")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let other_root = config(&endpoint, "111111111111", "test", None).await;
    let other_iam = aws_sdk_iam::Client::new(&other_root);
    let partner = user_with_policy(
        &endpoint,
        &other_iam,
        "partner",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","sqs:SendMessage","sts:AssumeRole"],"Resource":"*"}]}"#,
    )
    .await;
    let bystander = user_with_policy(
        &endpoint,
        &other_iam,
        "bystander",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#,
    )
    .await;
    let get = |config: &aws_config::SdkConfig| {
        aws_sdk_s3::Client::new(config)
            .get_object()
            .bucket("shared")
            .key("k")
            .send()
    };
    let send = |config: &aws_config::SdkConfig| {
        aws_sdk_sqs::Client::new(config)
            .send_message()
            .queue_url(&queue_url)
            .message_body("from the other account")
            .send()
    };

    // No resource-based policy: neither the other account's root nor its allowed user gets in.
    // S3 gives the reason only within the bucket owner's account; another account reads "Access
    // Denied" (the reason is in Skyport's log).
    let denied = ("AccessDenied".to_owned(), "Access Denied".to_owned());
    assert_eq!(message(get(&other_root).await), denied);
    assert_eq!(message(get(&partner).await), denied);
    assert!(
        skyport.wait_for_log(
            "IAM: denied (no policy allows it)",
            std::time::Duration::from_secs(5)
        ),
        "{}",
        skyport.log()
    );
    let (code, text) = message(send(&other_root).await);
    assert_eq!(code, "AccessDenied", "{text}");
    assert!(text.contains("arn:aws:iam::111111111111:root"), "{text}");
    // The owner's root is not evaluated in its own account.
    get(&owner).await.unwrap();

    // The owner grants the other account: its root is in; its users need their own allow too.
    s3.put_bucket_policy()
        .bucket("shared")
        .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*"}]}"#)
        .send()
        .await
        .unwrap();
    aws_sdk_sqs::Client::new(&owner)
        .set_queue_attributes()
        .queue_url(&queue_url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::Policy,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sqs:SendMessage","Resource":"arn:aws:sqs:us-east-1:000000000000:shared-q"}]}"#,
        )
        .send()
        .await
        .unwrap();
    get(&other_root).await.unwrap();
    get(&partner).await.unwrap();
    assert_eq!(message(get(&bystander).await), denied);
    send(&other_root).await.unwrap();
    send(&partner).await.unwrap();
    let (code, _) = message(send(&bystander).await);
    assert_eq!(code, "AccessDenied");

    // Role trust policies are required, within the account too.
    let iam = aws_sdk_iam::Client::new(&owner);
    let admin = user_with_policy(
        &endpoint,
        &iam,
        "admin",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    )
    .await;
    let plain = user_with_policy(
        &endpoint,
        &iam,
        "plain",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#,
    )
    .await;
    for (name, trusted) in [
        ("lambda-only", r#"{"Service":"lambda.amazonaws.com"}"#),
        (
            "account-wide",
            r#"{"AWS":"arn:aws:iam::000000000000:root"}"#,
        ),
        (
            "for-plain",
            r#"{"AWS":"arn:aws:iam::000000000000:user/plain"}"#,
        ),
        ("for-partner", r#"{"AWS":"111111111111"}"#),
    ] {
        iam.create_role()
            .role_name(name)
            .assume_role_policy_document(format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{trusted},"Action":"sts:AssumeRole"}}]}}"#
            ))
            .send()
            .await
            .unwrap();
    }
    let assume = |config: &aws_config::SdkConfig, role: &str| {
        aws_sdk_sts::Client::new(config)
            .assume_role()
            .role_arn(format!("arn:aws:iam::000000000000:role/{role}"))
            .role_session_name("session")
            .send()
    };
    let (code, text) = message(assume(&admin, "lambda-only").await);
    assert_eq!(code, "AccessDenied", "{text}");
    assert_eq!(
        text,
        "User: arn:aws:iam::000000000000:user/admin is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::000000000000:role/lambda-only because no resource-based policy allows the sts:AssumeRole action"
    );
    // A role that does not exist answers the same way.
    let (code, text) = message(assume(&admin, "missing").await);
    assert_eq!(code, "AccessDenied");
    assert!(text.contains("role/missing"), "{text}");
    // Naming the account delegates to the identity-based policies.
    assume(&admin, "account-wide").await.unwrap();
    let (code, text) = message(assume(&plain, "account-wide").await);
    assert_eq!(code, "AccessDenied");
    assert!(
        text.contains("because no identity-based policy allows the sts:AssumeRole action"),
        "{text}"
    );
    // Naming the user grants without an identity-based policy.
    assume(&plain, "for-plain").await.unwrap();
    // Across accounts: the trust policy names the account, and the user's own policy allows.
    let session = assume(&partner, "for-partner")
        .await
        .unwrap()
        .assumed_role_user
        .unwrap();
    assert_eq!(
        session.arn(),
        "arn:aws:sts::000000000000:assumed-role/for-partner/session"
    );
    let (code, _) = message(assume(&bystander, "for-partner").await);
    assert_eq!(code, "AccessDenied");
    let (code, text) = message(assume(&owner, "account-wide").await);
    assert_eq!(
        (code.as_str(), text.as_str()),
        ("AccessDenied", "Roles may not be assumed by root accounts.")
    );
}

/// Pins the caches behind every request (a key's secret and owner, a principal's compiled policies:
/// kept while IAM's state is unchanged): each change to a user's policies or keys applies to the
/// very next request, through S3 (which verifies its own signatures) and the gateway (STS).
#[tokio::test]
async fn policy_and_key_changes_apply_to_the_next_request() {
    let skyport = enforcing();
    let endpoint = skyport.endpoint();
    let root = config(&endpoint, "test", "test", None).await;
    let s3 = aws_sdk_s3::Client::new(&root);
    bucket_with_object(&s3, "cached", b"x").await;
    let iam = aws_sdk_iam::Client::new(&root);
    let allow = |action: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"arn:aws:s3:::cached/*"}}]}}"#
        )
    };
    iam.create_user().user_name("u").send().await.unwrap();
    let inline = |document: String| {
        iam.put_user_policy()
            .user_name("u")
            .policy_name("inline")
            .policy_document(document)
            .send()
    };
    inline(allow("s3:GetObject")).await.unwrap();
    let (key, user) = access_key(&endpoint, &iam, "u").await;
    let (s3_user, sts_user) = (
        aws_sdk_s3::Client::new(&user),
        aws_sdk_sts::Client::new(&user),
    );
    let get = || s3_user.get_object().bucket("cached").key("k").send();
    let denied = |result| message(result).0 == "AccessDenied";
    // Twice: the second request is served from the caches.
    get().await.unwrap();
    get().await.unwrap();

    // The inline policy changed.
    inline(allow("s3:PutObject")).await.unwrap();
    assert!(denied(get().await));

    // A managed policy attached, its default version changed, detached.
    let arn = managed_policy(&iam, "reader", &allow("s3:GetObject")).await;
    iam.attach_user_policy()
        .user_name("u")
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    get().await.unwrap();
    iam.create_policy_version()
        .policy_arn(&arn)
        .policy_document(allow("s3:PutObject"))
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    assert!(denied(get().await));
    iam.set_default_policy_version()
        .policy_arn(&arn)
        .version_id("v1")
        .send()
        .await
        .unwrap();
    get().await.unwrap();
    iam.detach_user_policy()
        .user_name("u")
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    assert!(denied(get().await));

    // A group's policy: joining grants, leaving takes it away.
    iam.create_group()
        .group_name("readers")
        .send()
        .await
        .unwrap();
    iam.put_group_policy()
        .group_name("readers")
        .policy_name("read")
        .policy_document(allow("s3:GetObject"))
        .send()
        .await
        .unwrap();
    iam.add_user_to_group()
        .group_name("readers")
        .user_name("u")
        .send()
        .await
        .unwrap();
    get().await.unwrap();
    iam.remove_user_from_group()
        .group_name("readers")
        .user_name("u")
        .send()
        .await
        .unwrap();
    assert!(denied(get().await));

    // The key made inactive, active again, then deleted.
    inline(allow("s3:GetObject")).await.unwrap();
    // S3 and the gateway (STS) verify the key, or refuse it as unknown.
    let accepted = async || {
        get().await.unwrap();
        sts_user.get_caller_identity().send().await.unwrap();
    };
    let refused = async || {
        assert_eq!(code(get().await), ("InvalidAccessKeyId".to_owned(), 403));
        assert_eq!(
            code(sts_user.get_caller_identity().send().await),
            ("InvalidClientTokenId".to_owned(), 403)
        );
    };
    let status = |status| {
        iam.update_access_key()
            .user_name("u")
            .access_key_id(key.access_key_id())
            .status(status)
            .send()
    };
    accepted().await;
    status(aws_sdk_iam::types::StatusType::Inactive)
        .await
        .unwrap();
    refused().await;
    status(aws_sdk_iam::types::StatusType::Active)
        .await
        .unwrap();
    accepted().await;
    iam.delete_access_key()
        .user_name("u")
        .access_key_id(key.access_key_id())
        .send()
        .await
        .unwrap();
    refused().await;
}

/// `aws:PrincipalTag/<key>` is the calling user's tag: AWS's attribute-based access control.
#[tokio::test]
async fn principal_tags_are_condition_keys() {
    let skyport = enforcing();
    let endpoint = skyport.endpoint();
    let root = config(&endpoint, "test", "test", None).await;
    bucket_with_object(&aws_sdk_s3::Client::new(&root), "abac", b"x").await;
    let iam = aws_sdk_iam::Client::new(&root);
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject",
        "Resource":"arn:aws:s3:::abac/*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"red"}}}]}"#;
    let tag = |user: &'static str, team: &'static str| {
        iam.tag_user()
            .user_name(user)
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("team")
                    .value(team)
                    .build()
                    .unwrap(),
            )
            .send()
    };
    let red = aws_sdk_s3::Client::new(&user_with_policy(&endpoint, &iam, "red", policy).await);
    let blue = aws_sdk_s3::Client::new(&user_with_policy(&endpoint, &iam, "blue", policy).await);
    tag("red", "red").await.unwrap();
    tag("blue", "blue").await.unwrap();
    red.get_object()
        .bucket("abac")
        .key("k")
        .send()
        .await
        .unwrap();
    let (code, text) = message(blue.get_object().bucket("abac").key("k").send().await);
    assert_eq!(code, "AccessDenied", "{text}");
    assert!(
        text.contains("user/blue is not authorized to perform: s3:GetObject"),
        "{text}"
    );
    // Retagged, the next request is decided by the new tag.
    tag("blue", "red").await.unwrap();
    blue.get_object()
        .bucket("abac")
        .key("k")
        .send()
        .await
        .unwrap();
}

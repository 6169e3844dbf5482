//! Image-packaged Lambda functions (`PackageType: Image`) from Skyport's own ECR with the Docker
//! executor, offline: an image built `FROM skyport-test/lambda-python:3.11` (the offline runtime image
//! of `tests/lambda_images`) with a handler and a marker file in `/var/task` and
//! `CMD ["handler.main"]` is pushed to the registry and removed from the Engine; CreateFunction with
//! the repository URI and tag waits for `Active` (the `function_active_v2` waiter), and the invoke
//! returns the marker only the image holds after putting it in S3 by S3's real name (the container's
//! DNS and trust reach Skyport). With Skyport on the host, also: GetFunction shows `ResolvedImageUri`
//! pinned to the digest and `CodeSha256` = the digest's hex; a missing or absent tag is AWS's
//! `InvalidParameterValueException`; a cold start after the Engine lost the image's name gets it
//! back; UpdateFunctionCode to another tag runs the new image; `ImageConfig.Command` picks another
//! handler of it. With Skyport in a container (where the Engine could not pull from it at all), the
//! function runs too. Needs Docker: skipped without it, failed with `SKYPORT_REQUIRE_DOCKER=1`.

mod common;
#[path = "common/ecr_registry.rs"]
mod ecr_registry;
#[path = "common/lambda_images.rs"]
mod lambda_images;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_ecr::types::ImageIdentifier;
use aws_sdk_lambda::client::Waiters;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, ImageConfig, PackageType};
use common::{Options, Skyport, run};
use ecr_registry::{Cleanup, docker, docker_usable, free_block};

const ROLE: &str = "arn:aws:iam::000000000000:role/image-role";
const REPOSITORY: &str = "lambda/image-fn";

const HANDLER: &str = r#"import os

import boto3
from botocore.config import Config

REGION = os.environ.get("AWS_REGION")
# No endpoint configured: the S3 client calls <bucket>.s3.<region>.amazonaws.com over verified TLS.
s3 = boto3.client("s3", region_name=REGION, config=Config(s3={"addressing_style": "virtual"}))


def main(event, context):
    with open("/var/task/marker.txt") as f:
        marker = f.read().strip()
    s3.put_object(Bucket=event["bucket"], Key=event["key"], Body=marker.encode())
    return {"marker": marker, "cwd": os.getcwd()}


def other(event, context):
    return {"handler": "other"}
"#;

fn lambda_client(endpoint: &str) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .region(aws_sdk_lambda::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A Docker network the test owns: removed with every container on it when dropped (Skyport is killed
/// at the end of the test, so its function containers are removed here).
struct Network(String);

impl Network {
    fn create() -> Network {
        let name = format!(
            "skyport-lambda-image-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        );
        let (status, _, stderr) = run(Command::new("docker").args(["network", "create", &name]));
        assert!(status.success(), "docker network create: {stderr}");
        Network(name)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let filter = format!("network={}", self.0);
        let (_, ids, _) = run(Command::new("docker").args(["ps", "-aq", "--filter", &filter]));
        for id in ids.split_whitespace() {
            let _ = run(Command::new("docker").args(["rm", "-f", id]));
        }
        let _ = run(Command::new("docker").args(["network", "rm", &self.0]));
    }
}

/// Builds the function image with `marker` in /var/task/marker.txt as `tag`.
fn build_image(config: &Path, work: &Path, marker: &str, tag: &str) {
    let ctx = work.join(format!("ctx-{}", fastrand::u32(..)));
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("handler.py"), HANDLER).unwrap();
    std::fs::write(ctx.join("marker.txt"), marker).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {}\nCOPY handler.py marker.txt /var/task/\nCMD [\"handler.main\"]\n",
            lambda_images::PYTHON_IMAGE
        ),
    )
    .unwrap();
    docker(
        config,
        &["build", "--quiet", "-t", tag, ctx.to_str().unwrap()],
        None,
    );
}

/// The digest ECR holds for `tag`.
async fn digest_of(ecr: &aws_sdk_ecr::Client, tag: &str) -> String {
    let details = ecr
        .describe_images()
        .repository_name(REPOSITORY)
        .image_ids(ImageIdentifier::builder().image_tag(tag).build())
        .send()
        .await
        .unwrap();
    details.image_details()[0].image_digest.clone().unwrap()
}

/// Invokes `name` with a put into `bucket`; the function's result.
async fn invoke(lambda: &aws_sdk_lambda::Client, name: &str, key: &str) -> serde_json::Value {
    let event = serde_json::json!({"bucket": "image-bucket", "key": key});
    let out = lambda
        .invoke()
        .function_name(name)
        .payload(Blob::new(event.to_string()))
        .send()
        .await
        .unwrap();
    let body = String::from_utf8_lossy(out.payload().unwrap().as_ref()).into_owned();
    assert_eq!(out.function_error(), None, "{body}");
    serde_json::from_str(&body).unwrap()
}

async fn object(s3: &aws_sdk_s3::Client, key: &str) -> String {
    let object = s3
        .get_object()
        .bucket("image-bucket")
        .key(key)
        .send()
        .await
        .unwrap();
    String::from_utf8(object.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
}

/// CreateFunction of an image function from `uri`, which must fail with
/// `InvalidParameterValueException`: its message.
async fn refused(lambda: &aws_sdk_lambda::Client, uri: &str) -> String {
    let err = lambda
        .create_function()
        .function_name("image-refused")
        .package_type(PackageType::Image)
        .role(ROLE)
        .code(FunctionCode::builder().image_uri(uri).build())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_value_exception(), "{err:?}");
    err.meta().message().unwrap_or_default().to_owned()
}

/// A Skyport with the function images pushed to its registry (and removed from the Engine).
struct Pushed {
    lambda: aws_sdk_lambda::Client,
    s3: aws_sdk_s3::Client,
    repository_uri: String,
    /// The digest of each tag pushed.
    digests: Vec<String>,
    /// The marker each image holds.
    markers: Vec<String>,
}

/// Creates the bucket and the repository, builds an image per tag (each with its own marker), pushes
/// it to the registry at the address `registry` gives (once the repository exists) and removes it from
/// the Engine; `cleanup` gets every tag, and the local names Lambda loads the images under.
async fn push_images(
    endpoint: &str,
    registry: impl FnOnce() -> String,
    tags: &[&str],
    cleanup: &mut Cleanup,
) -> Pushed {
    let ecr = ecr_registry::client(endpoint);
    let s3 = s3_client(endpoint);
    s3.create_bucket()
        .bucket("image-bucket")
        .send()
        .await
        .unwrap();
    let repository_uri = ecr
        .create_repository()
        .repository_name(REPOSITORY)
        .send()
        .await
        .unwrap()
        .repository()
        .unwrap()
        .repository_uri()
        .unwrap()
        .to_owned();
    let registry = registry();
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    ecr_registry::login(&ecr, &config, &registry).await;
    let run_id = fastrand::u32(..);
    let mut pushed = Pushed {
        lambda: lambda_client(endpoint),
        s3,
        repository_uri,
        digests: Vec::new(),
        markers: Vec::new(),
    };
    for tag in tags {
        let marker = format!("only in image {tag} {run_id}");
        let remote = format!("{registry}/{REPOSITORY}:{tag}");
        cleanup.0.push(remote.clone());
        build_image(&config, work.path(), &marker, &remote);
        docker(&config, &["push", &remote], None);
        docker(&config, &["rmi", &remote], None);
        let digest = digest_of(&ecr, tag).await;
        let hex = digest.strip_prefix("sha256:").unwrap();
        cleanup.0.push(format!("skyport-ecr/{REPOSITORY}:{hex}"));
        pushed.digests.push(digest);
        pushed.markers.push(marker);
    }
    pushed
}

impl Pushed {
    /// Creates the function `name` from `<repository uri>:<tag>` and waits until it is `Active`
    /// (`log` says why not).
    async fn create(&self, name: &str, tag: &str, log: impl Fn() -> String) {
        let created = self
            .lambda
            .create_function()
            .function_name(name)
            .package_type(PackageType::Image)
            .role(ROLE)
            .timeout(60)
            .code(
                FunctionCode::builder()
                    .image_uri(format!("{}:{tag}", self.repository_uri))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(created.code_size(), 0);
        self.lambda
            .wait_until_function_active_v2()
            .function_name(name)
            .wait(Duration::from_secs(180))
            .await
            .unwrap_or_else(|e| panic!("{name} never became Active: {e:?}\n{}", log()));
    }

    /// Waits until the last update of `name` is done (the `function_updated_v2` waiter).
    async fn wait_updated(&self, name: &str, log: impl Fn() -> String) {
        self.lambda
            .wait_until_function_updated_v2()
            .function_name(name)
            .wait(Duration::from_secs(180))
            .await
            .unwrap_or_else(|e| panic!("the update of {name} never finished: {e:?}\n{}", log()));
    }

    /// Invokes `name`, which must return the marker of image `which` after putting it into S3 as
    /// `key`.
    async fn runs_image(&self, name: &str, which: usize, key: &str) {
        let result = invoke(&self.lambda, name, key).await;
        assert_eq!(result["marker"], self.markers[which].as_str(), "{result}");
        assert_eq!(result["cwd"], "/var/task", "{result}");
        assert_eq!(object(&self.s3, key).await, self.markers[which]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_functions_run_images_pushed_to_skyports_ecr() {
    if !docker_usable() {
        return;
    }
    lambda_images::ensure_images();
    // Dropped last: images go once the containers using them (on the network) are gone.
    let mut cleanup = Cleanup(Vec::new());
    let network = Network::create();
    let first = free_block(4);
    let skyport = Skyport::start_with(
        Options::default()
            .env("OVERRIDE_IN_DOCKER", "0")
            .env("LAMBDA_EXECUTOR", "docker")
            .env("LAMBDA_DOCKER_NETWORK", &network.0)
            .env("EXTERNAL_SERVICE_PORTS_START", &first.to_string())
            .env("EXTERNAL_SERVICE_PORTS_END", &(first + 3).to_string())
            .env("DNS_ADDRESS", "127.0.0.1")
            .env("DNS_PORT", "0"),
    );
    let endpoint = skyport.endpoint();
    let pushed = push_images(
        &endpoint,
        || ecr_registry::registry(&endpoint),
        &["v1", "v2"],
        &mut cleanup,
    )
    .await;
    let (lambda, repository_uri, digests) =
        (&pushed.lambda, &pushed.repository_uri, &pushed.digests);

    // A tag that was never pushed, and no tag at all: AWS's errors, at once.
    let missing = format!("{repository_uri}:never-pushed");
    assert_eq!(
        refused(lambda, &missing).await,
        format!("Source image {missing} does not exist. Provide a valid source image.")
    );
    assert_eq!(
        refused(lambda, repository_uri).await,
        format!("Source image {repository_uri} is not valid. Provide a valid source image.")
    );

    // The function, from the repository URI and tag: its code is the digest the tag names.
    pushed.create("image-fn", "v1", || skyport.log()).await;
    let function = lambda
        .get_function()
        .function_name("image-fn")
        .send()
        .await
        .unwrap();
    let code = function.code().unwrap();
    assert_eq!(code.repository_type(), Some("ECR"));
    assert_eq!(
        code.image_uri(),
        Some(format!("{repository_uri}:v1").as_str())
    );
    assert_eq!(
        code.resolved_image_uri(),
        Some(format!("{repository_uri}@{}", digests[0]).as_str())
    );
    assert_eq!(
        function.configuration().unwrap().code_sha256(),
        digests[0].strip_prefix("sha256:")
    );
    assert!(
        skyport.wait_for_log("into the Docker Engine", std::time::Duration::from_secs(5)),
        "the image is loaded from ECR, not pulled:\n{}",
        skyport.log()
    );
    pushed.runs_image("image-fn", 0, "from-v1").await;

    // The Engine loses the image's name (`docker rmi`, a prune): the next cold start gets it back.
    let local = format!(
        "skyport-ecr/{REPOSITORY}:{}",
        digests[0].strip_prefix("sha256:").unwrap()
    );
    let (status, _, stderr) = run(Command::new("docker").args(["rmi", "-f", &local]));
    assert!(status.success(), "docker rmi {local}: {stderr}");
    lambda
        .update_function_configuration()
        .function_name("image-fn")
        .environment(Environment::builder().variables("COLD", "1").build())
        .send()
        .await
        .unwrap();
    pushed.wait_updated("image-fn", || skyport.log()).await;
    pushed.runs_image("image-fn", 0, "after-rmi").await;
    assert!(
        skyport.wait_for_log(
            "is no longer in the Docker Engine",
            std::time::Duration::from_secs(5)
        ),
        "{}",
        skyport.log()
    );

    // A new tag: UpdateFunctionCode, then the new image runs.
    let updated = lambda
        .update_function_code()
        .function_name("image-fn")
        .image_uri(format!("{repository_uri}:v2"))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.code_sha256(), digests[1].strip_prefix("sha256:"));
    pushed.wait_updated("image-fn", || skyport.log()).await;
    pushed.runs_image("image-fn", 1, "from-v2").await;
    let function = lambda
        .get_function()
        .function_name("image-fn")
        .send()
        .await
        .unwrap();
    assert_eq!(
        function.code().unwrap().resolved_image_uri(),
        Some(format!("{repository_uri}@{}", digests[1]).as_str())
    );

    // ImageConfig overrides the image's CMD: another handler of the same image.
    lambda
        .update_function_configuration()
        .function_name("image-fn")
        .image_config(ImageConfig::builder().command("handler.other").build())
        .send()
        .await
        .unwrap();
    pushed.wait_updated("image-fn", || skyport.log()).await;
    let result = invoke(lambda, "image-fn", "unused").await;
    assert_eq!(result["handler"], "other", "{result}");
    drop(skyport);
    drop(network);
}

/// Skyport in a container (a compose stack's service, with the Docker socket): `127.0.0.1` is not
/// Skyport there and the Engine cannot resolve the repository URI's host, so only the load from ECR
/// makes the image reach the Engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_functions_run_when_skyport_runs_in_a_container() {
    if !docker_usable() {
        return;
    }
    lambda_images::ensure_images();
    let image = lambda_images::skyport_image();
    let mut cleanup = Cleanup(Vec::new());
    let network = Network::create();
    // The registry port (the first of the range in the container) published on a free host port.
    let registry_port = free_block(1);
    let name = format!(
        "skyport-image-fn-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    );
    let (status, _, stderr) = run(Command::new("docker").args([
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        &network.0,
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-e",
        "LAMBDA_EXECUTOR=docker",
        "-e",
        "EXTERNAL_SERVICE_PORTS_START=4510",
        "-e",
        "EXTERNAL_SERVICE_PORTS_END=4511",
        "-p",
        "127.0.0.1::4566",
        "-p",
        &format!("127.0.0.1:{registry_port}:4510"),
        image,
    ]));
    assert!(status.success(), "docker run {image}: {stderr}");
    let logs = || {
        let (_, out, err) = run(Command::new("docker").args(["logs", &name]));
        format!("{out}{err}")
    };
    let (_, port, _) = run(Command::new("docker").args(["port", &name, "4566/tcp"]));
    let endpoint = format!("http://{}", port.lines().next().unwrap_or_default().trim());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !run(Command::new("curl").args(["-sf", &format!("{endpoint}/_localstack/health")]))
        .0
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "Skyport in a container did not come up: {}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pushed = push_images(
        &endpoint,
        || format!("127.0.0.1:{registry_port}"),
        &["v1"],
        &mut cleanup,
    )
    .await;
    pushed.create("image-in-stack", "v1", logs).await;
    pushed.runs_image("image-in-stack", 0, "from-a-stack").await;
    assert!(logs().contains("into the Docker Engine"), "{}", logs());
    drop(network);
}

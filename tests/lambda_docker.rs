//! Lambda's Docker executor against the Docker Engine here, with runtime images built offline
//! (`tests/lambda_images`): functions whose code has no endpoint configuration and verifies TLS put an
//! object through `https://<bucket>.s3...amazonaws.com`, send an SQS message and return STS's caller
//! identity, and call a function URL by its real name (`https://<id>.lambda-url.<region>.on.aws/`), from
//! Skyport on the host and from Skyport in a compose-style stack (where a sibling service's name also
//! resolves); the Python function has a layer in `/opt`; containers a killed Skyport left behind are
//! removed at the next start. Needs Docker: skipped without it, failed with `SKYPORT_REQUIRE_DOCKER=1` (CI).

mod common;
#[path = "common/lambda_images.rs"]
mod lambda_images;

use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime, State};
use common::{Options, Skyport, run};

const ROLE: &str = "arn:aws:iam::000000000000:role/callback-role";

fn docker_available() -> bool {
    let ok = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("SKYPORT_REQUIRE_DOCKER").is_ok_and(|v| v == "1") {
            panic!("Docker is required (SKYPORT_REQUIRE_DOCKER=1) but `docker info` fails");
        }
        eprintln!("skipping: Docker is not available");
    }
    ok
}

fn docker(args: &[&str]) -> String {
    let (status, stdout, stderr) = run(Command::new("docker").args(args));
    assert!(status.success(), "docker {args:?} failed: {stderr}{stdout}");
    stdout.trim().to_owned()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), fastrand::u32(..))
}

/// A network the test owns: removed with every container on it when dropped.
struct Network(String);

impl Network {
    fn create(prefix: &str) -> Network {
        let name = unique(prefix);
        docker(&["network", "create", &name]);
        Network(name)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let ids = docker_quiet(&["ps", "-aq", "--filter", &format!("network={}", self.0)]);
        for id in ids.split_whitespace() {
            docker_quiet(&["rm", "-f", id]);
        }
        docker_quiet(&["network", "rm", &self.0]);
    }
}

fn docker_quiet(args: &[&str]) -> String {
    Command::new("docker")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                "test", "test", None, None, "test",
            )),
        )
        .build()
}

/// Creates the Python and the Rust callback functions and waits until both are `Active`.
async fn create_functions(lambda: &aws_sdk_lambda::Client, images: &lambda_images::Images) {
    // The Python function has a layer: its module is extracted into the container's /opt/python.
    let layer_zip = {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file(
            "python/callback_layer.py",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        w.write_all(b"GREETING = 'from a layer'\n").unwrap();
        w.finish().unwrap().into_inner()
    };
    let layer = lambda
        .publish_layer_version()
        .layer_name("callback-layer")
        .content(
            aws_sdk_lambda::types::LayerVersionContentInput::builder()
                .zip_file(Blob::new(layer_zip))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let layer_arn = layer.layer_version_arn().unwrap().to_owned();
    for (name, runtime, handler, zip) in [
        (
            "py-callback",
            Runtime::Python311,
            "handler.main",
            &images.python_zip,
        ),
        (
            "rust-callback",
            Runtime::Providedal2023,
            "bootstrap",
            &images.rust_zip,
        ),
    ] {
        lambda
            .create_function()
            .function_name(name)
            .runtime(runtime)
            .role(ROLE)
            .handler(handler)
            .set_layers((name == "py-callback").then(|| vec![layer_arn.clone()]))
            .timeout(60)
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(std::fs::read(zip).unwrap()))
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    for name in ["py-callback", "rust-callback"] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let c = lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .unwrap();
            match c.state() {
                Some(State::Active) => break,
                Some(State::Failed) => panic!("{name} failed: {:?}", c.state_reason()),
                _ => {}
            }
            assert!(Instant::now() < deadline, "{name} never became Active");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Invokes each function with the callback event; checks what it did through S3, SQS and STS.
async fn callbacks_work(endpoint: &str) {
    let sdk = config(endpoint);
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    s3.create_bucket()
        .bucket("callback-bucket")
        .send()
        .await
        .unwrap();
    let queue = sqs
        .create_queue()
        .queue_name("callback-queue")
        .send()
        .await
        .unwrap();
    let queue_url = queue.queue_url().unwrap().to_owned();
    create_functions(&lambda, lambda_images_built()).await;
    for name in ["py-callback", "rust-callback"] {
        let event = serde_json::json!({
            "bucket": "callback-bucket",
            "key": format!("from-{name}"),
            "body": format!("written by {name}"),
            "queue": "callback-queue",
            "message": format!("sent by {name}"),
        });
        let out = lambda
            .invoke()
            .function_name(name)
            .log_type(aws_sdk_lambda::types::LogType::Tail)
            .payload(Blob::new(event.to_string()))
            .send()
            .await
            .unwrap();
        let body = String::from_utf8_lossy(out.payload().unwrap().as_ref()).into_owned();
        assert_eq!(out.function_error(), None, "{name}: {body}");
        // The REPORT line's Max Memory Used is the container's own peak (its cgroup, or the
        // Engine's stats when Skyport runs in a container and cannot see the host's cgroups).
        let log = String::from_utf8(
            base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                out.log_result().unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let used: u64 = log
            .split("Max Memory Used: ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|mb| mb.parse().ok())
            .unwrap_or_else(|| panic!("{name}: no Max Memory Used in {log}"));
        assert!((1..=256).contains(&used), "{name}: {used} MB: {log}");
        let result: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            result["identity"]["Arn"],
            format!("arn:aws:sts::000000000000:assumed-role/callback-role/{name}"),
            "{name} runs as its execution role: {body}"
        );
        if name == "py-callback" {
            assert_eq!(
                result["layer"], "from a layer",
                "the layer is in /opt: {body}"
            );
        }
        let object = s3
            .get_object()
            .bucket("callback-bucket")
            .key(format!("from-{name}"))
            .send()
            .await
            .unwrap();
        let text = object.body.collect().await.unwrap().into_bytes();
        assert_eq!(text.as_ref(), format!("written by {name}").as_bytes());
    }
    // A function URL by its real name (`<id>.lambda-url.<region>.on.aws`), called over verified TLS from
    // inside a function container: Skyport's DNS answers the name, its CA signs the certificate.
    let url = lambda
        .create_function_url_config()
        .function_name("py-callback")
        .auth_type(aws_sdk_lambda::types::FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap()
        .function_url()
        .to_owned();
    lambda
        .add_permission()
        .function_name("py-callback")
        .statement_id("public-url")
        .action("lambda:InvokeFunctionUrl")
        .principal("*")
        .function_url_auth_type(aws_sdk_lambda::types::FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
    assert!(url.ends_with(".lambda-url.us-east-1.on.aws/"), "{url}");
    let out = lambda
        .invoke()
        .function_name("py-callback")
        .payload(Blob::new(
            serde_json::json!({"fetch": format!("{url}from-a-container?x=1")}).to_string(),
        ))
        .send()
        .await
        .unwrap();
    let body = String::from_utf8_lossy(out.payload().unwrap().as_ref()).into_owned();
    assert_eq!(out.function_error(), None, "{body}");
    let fetched: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(fetched["status"], 200, "{body}");
    let answered: serde_json::Value =
        serde_json::from_str(fetched["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        answered["identity"]["Arn"],
        "arn:aws:sts::000000000000:assumed-role/callback-role/py-callback",
        "the URL invoked the function: {body}"
    );

    let mut bodies = Vec::new();
    for _ in 0..10 {
        let got = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        bodies.extend(
            got.messages()
                .iter()
                .filter_map(|m| m.body().map(str::to_owned)),
        );
        if bodies.len() >= 2 {
            break;
        }
    }
    bodies.sort();
    assert_eq!(bodies, ["sent by py-callback", "sent by rust-callback"]);
}

fn lambda_images_built() -> &'static lambda_images::Images {
    static IMAGES: OnceLock<lambda_images::Images> = OnceLock::new();
    IMAGES.get_or_init(lambda_images::ensure_images)
}

#[tokio::test]
async fn host_skyport_functions_call_s3_sqs_and_sts_by_their_real_names() {
    if !docker_available() {
        return;
    }
    let images = lambda_images_built().clone();
    let network = Network::create("skyport-lambda-host");
    let skyport = Skyport::start_with(
        Options::default()
            .env("OVERRIDE_IN_DOCKER", "0")
            .env("LAMBDA_EXECUTOR", "docker")
            .env("LAMBDA_DOCKER_NETWORK", &network.0)
            .env(
                "LAMBDA_RUNTIME_IMAGE_MAPPING",
                &images.runtime_image_mapping,
            )
            .env("DNS_ADDRESS", "127.0.0.1")
            .env("DNS_PORT", "0"),
    );
    callbacks_work(&skyport.endpoint()).await;
    // Function containers are labelled and never get the Docker socket.
    let ids = docker(&[
        "ps",
        "-q",
        "--filter",
        "label=skyport.lambda",
        "--filter",
        &format!("network={}", network.0),
    ]);
    let id = ids
        .split_whitespace()
        .next()
        .expect("a warm function container");
    let mounts = docker(&["inspect", "-f", "{{json .Mounts}}", id]);
    assert!(!mounts.contains("docker.sock"), "{mounts}");
    drop(skyport);
}

#[tokio::test]
async fn compose_stack_functions_join_skyports_network_and_resolve_service_names() {
    if !docker_available() {
        return;
    }
    let images = lambda_images_built().clone();
    let image = lambda_images::skyport_image();
    let network = Network::create("skyport-lambda-stack");
    // A sibling service of the stack, which the function must find by its compose name.
    let sibling = unique("app-svc");
    docker(&[
        "run",
        "-d",
        "--name",
        &sibling,
        "--network",
        &network.0,
        "--entrypoint",
        "/bin/sh",
        lambda_images::PYTHON_IMAGE,
        "-c",
        "sleep 600",
    ]);
    let name = unique("skyport-stack");
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        &network.0,
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-e",
        &format!(
            "LAMBDA_RUNTIME_IMAGE_MAPPING={}",
            images.runtime_image_mapping
        ),
        "-e",
        "LAMBDA_EXECUTOR=docker",
        "-p",
        "127.0.0.1::4566",
        image,
    ]);
    let port = docker(&["port", &name, "4566/tcp"]);
    let endpoint = format!("http://{}", port.lines().next().unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(30);
    while run(Command::new("curl").args(["-sf", &format!("{endpoint}/_localstack/health")]))
        .0
        .code()
        != Some(0)
    {
        assert!(
            Instant::now() < deadline,
            "Skyport in the stack did not come up: {}",
            docker_quiet(&["logs", &name])
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    callbacks_work(&endpoint).await;
    // The compose name of a sibling resolves from inside the function (Skyport's DNS forwards it to
    // Docker's).
    let lambda = aws_sdk_lambda::Client::new(&config(&endpoint));
    let out = lambda
        .invoke()
        .function_name("py-callback")
        .payload(Blob::new(
            serde_json::json!({"resolve": sibling}).to_string(),
        ))
        .send()
        .await
        .unwrap();
    let result: serde_json::Value =
        serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    let expected = docker(&[
        "inspect",
        "-f",
        &format!(
            "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
            network.0
        ),
        &sibling,
    ]);
    assert_eq!(
        result["resolved"],
        expected,
        "{result}\n{}",
        docker_quiet(&["logs", &name])
    );
    docker_quiet(&["rm", "-f", &name]);
}

#[tokio::test]
async fn containers_a_killed_skyport_left_are_removed_at_the_next_start() {
    if !docker_available() {
        return;
    }
    let images = lambda_images_built().clone();
    let network = Network::create("skyport-lambda-orphans");
    let state = tempfile::tempdir().unwrap();
    let options = || {
        Options::default()
            .state_dir(state.path())
            .env("PERSISTENCE", "1")
            .env("OVERRIDE_IN_DOCKER", "0")
            .env("LAMBDA_EXECUTOR", "docker")
            .env("LAMBDA_DOCKER_NETWORK", &network.0)
            .env(
                "LAMBDA_RUNTIME_IMAGE_MAPPING",
                &images.runtime_image_mapping,
            )
            .env("DNS_ADDRESS", "127.0.0.1")
            .env("DNS_PORT", "0")
    };
    let mut skyport = Skyport::start_with(options());
    let lambda = aws_sdk_lambda::Client::new(&config(&skyport.endpoint()));
    create_functions(&lambda, &images).await;
    let out = lambda
        .invoke()
        .function_name("py-callback")
        .payload(Blob::new(r#"{"echo_size": 3}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.payload().unwrap().as_ref(), br#""xxx""#);
    let filter = format!("network={}", network.0);
    let running = docker(&[
        "ps",
        "-aq",
        "--filter",
        "label=skyport.lambda",
        "--filter",
        &filter,
    ]);
    assert!(!running.is_empty(), "a warm environment exists");
    skyport.signal("KILL");
    skyport.wait_exit(Duration::from_secs(10));
    assert!(
        !docker(&[
            "ps",
            "-aq",
            "--filter",
            "label=skyport.lambda",
            "--filter",
            &filter
        ])
        .is_empty()
    );
    let skyport = Skyport::start_with(options());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !docker(&[
        "ps",
        "-aq",
        "--filter",
        "label=skyport.lambda",
        "--filter",
        &filter,
    ])
    .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the orphaned containers were not removed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The functions survived the kill (persistence) and still run.
    let lambda = aws_sdk_lambda::Client::new(&config(&skyport.endpoint()));
    let out = lambda
        .invoke()
        .function_name("py-callback")
        .payload(Blob::new(r#"{"echo_size": 2}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.payload().unwrap().as_ref(), br#""xx""#);
}

#[tokio::test]
async fn start_docker_functions_join_the_container_network() {
    if !docker_available() {
        return;
    }
    let images = lambda_images_built().clone();
    let image = lambda_images::skyport_image();
    let name = unique("skyport-start-docker");
    let volume = tempfile::tempdir().unwrap();
    let (status, out, err) = run(common::command()
        .args([
            "start",
            "--docker",
            "-d",
            "--image",
            image,
            "--name",
            &name,
            "--gateway-port",
            "0",
            "--https-port",
            "off",
            "--no-port-range",
            "--no-pull",
        ])
        .env("LOCALSTACK_VOLUME_DIR", volume.path())
        .env("LAMBDA_EXECUTOR", "docker")
        .env(
            "LAMBDA_RUNTIME_IMAGE_MAPPING",
            &images.runtime_image_mapping,
        )
        .env_remove("SKYPORT_IMAGE")
        .env_remove("LOCALSTACK_DOCKER_NAME"));
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            docker_quiet(&["rm", "-f", &self.0]);
        }
    }
    let _cleanup = Remove(name.clone());
    assert!(status.success(), "start --docker failed: {out}\n{err}");
    let port = docker(&["port", &name, "4566/tcp"]);
    let endpoint = format!("http://{}", port.lines().next().unwrap_or_default());
    callbacks_work(&endpoint).await;
    // The functions ran on the network of Skyport's container (the default bridge for `start --docker`),
    // with Skyport's address there as their resolver (which tells them from the function containers of
    // other tests running at the same time on the same network).
    let skyport_ip = docker(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &name]);
    let functions: Vec<String> = docker(&[
        "ps",
        "-aq",
        "--filter",
        "label=skyport.lambda",
        "--filter",
        "network=bridge",
    ])
    .split_whitespace()
    .filter(|id| {
        docker_quiet(&["inspect", "-f", "{{json .HostConfig.Dns}}", id])
            .contains(&format!("\"{}\"", skyport_ip.trim()))
    })
    .map(str::to_owned)
    .collect();
    assert!(
        !functions.is_empty(),
        "function containers on Skyport's network"
    );
    let (status, _, err) = run(common::command().args(["stop", "--name", &name]));
    assert!(status.success(), "{err}");
    // A graceful stop removes them.
    for id in &functions {
        let left = docker_quiet(&["ps", "-aq", "--filter", &format!("id={id}")]);
        if !left.is_empty() {
            docker_quiet(&["rm", "-f", id]);
            panic!("the function container {id} outlived Skyport's stop");
        }
    }
}

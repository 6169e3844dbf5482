//! ECR with the real Docker CLI and Engine: an image built offline (two layers: a static busybox and a
//! file), `docker login` with GetAuthorizationToken's password, `docker push` to the registry port,
//! a second push to another repository that mounts the layers instead of uploading them, `docker rmi`,
//! `docker pull` back, `docker run` of the pulled image, and DescribeImages seeing the digest and size.
//!
//! The Docker daemon speaks plain HTTP only to registries on 127.0.0.0/8, and it cannot resolve
//! `*.localhost.localstack.cloud` on a machine without internet; so the test pushes to
//! `127.0.0.1:<registry port>`, the port of the external range ECR reserves. The login goes to a
//! temporary `DOCKER_CONFIG`, so the user's Docker credentials are never touched.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

use aws_credential_types::Credentials;
use aws_sdk_ecr::Client;
use aws_sdk_ecr::config::{BehaviorVersion, Region};
use aws_sdk_ecr::types::ImageIdentifier;
use base64::Engine;
use common::{Options, Skyport, have, run};

fn client(endpoint: &str) -> Client {
    let config = aws_sdk_ecr::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    Client::from_conf(config)
}

fn docker_usable() -> bool {
    let required = std::env::var("SKYPORT_REQUIRE_DOCKER").is_ok_and(|v| v == "1");
    let ok = have("docker")
        && Command::new("docker")
            .arg("info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        assert!(!required, "Docker is required (SKYPORT_REQUIRE_DOCKER=1)");
        eprintln!("skipping: no usable Docker");
    }
    ok
}

/// `n` consecutive free ports on 127.0.0.1; the first.
fn free_block(n: u16) -> u16 {
    for _ in 0..200 {
        let base = 20000 + fastrand::u16(..30000);
        if (base..base + n).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
    panic!("no free block of {n} ports");
}

/// Runs docker with `DOCKER_CONFIG` set; panics with its output when it fails.
fn docker(config: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = Command::new("docker");
    cmd.env("DOCKER_CONFIG", config).args(args);
    let out = match stdin {
        Some(input) => {
            use std::io::Write;
            let mut child = cmd
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        }
        None => cmd.output().unwrap(),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "docker {args:?} failed: {text}");
    text
}

/// Removes the image tags it was given when dropped.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = Command::new("docker")
                .args(["rmi", "-f", tag])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_push_pull_and_run_through_the_registry() {
    if !docker_usable() || !Path::new("/bin/busybox").exists() {
        return;
    }
    let first = free_block(4);
    let skyport = Skyport::start_with(
        Options::default()
            .env("EXTERNAL_SERVICE_PORTS_START", &first.to_string())
            .env("EXTERNAL_SERVICE_PORTS_END", &(first + 3).to_string()),
    );
    let ecr = client(&skyport.endpoint());
    for name in ["docker/tiny", "docker/copy"] {
        ecr.create_repository()
            .repository_name(name)
            .send()
            .await
            .unwrap();
    }
    let token = ecr.get_authorization_token().send().await.unwrap();
    let token = token.authorization_data()[0]
        .authorization_token
        .clone()
        .unwrap();
    let decoded = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(token)
            .unwrap(),
    )
    .unwrap();
    let password = decoded.strip_prefix("AWS:").unwrap().to_owned();

    // The registry port, as GET /_skyport/ports lists it.
    let (_, ports, _) =
        run(Command::new("curl").args(["-s", &format!("{}/_skyport/ports", skyport.endpoint())]));
    let ports: serde_json::Value = serde_json::from_str(&ports).unwrap();
    let list = ports
        .get("ports")
        .and_then(|p| p.as_array())
        .or_else(|| ports.as_array())
        .cloned()
        .unwrap_or_default();
    let port = list
        .iter()
        .find(|p| p["owner"] == "ecr")
        .and_then(|p| p["port"].as_u64())
        .unwrap_or_else(|| panic!("no ECR port in {ports}"));
    let registry = format!("127.0.0.1:{port}");

    // A two-layer image built offline.
    let work = tempfile::tempdir().unwrap();
    let ctx = work.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy("/bin/busybox", ctx.join("busybox")).unwrap();
    let marker = format!("hello from skyport ecr {}", fastrand::u64(..));
    std::fs::write(ctx.join("hello.txt"), &marker).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY hello.txt /hello.txt\nCMD [\"/bin/busybox\", \"cat\", \"/hello.txt\"]\n",
    )
    .unwrap();
    let config = work.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let local = format!("skyport-test/ecr-tiny:{}", fastrand::u32(..));
    let remote = format!("{registry}/docker/tiny:v1");
    let copy = format!("{registry}/docker/copy:v1");
    let _cleanup = Cleanup(vec![local.clone(), remote.clone(), copy.clone()]);
    docker(
        &config,
        &["build", "--quiet", "-t", &local, ctx.to_str().unwrap()],
        None,
    );

    // A wrong password is refused; the token's is accepted.
    let mut bad = Command::new("docker");
    bad.env("DOCKER_CONFIG", &config)
        .args(["login", "-u", "AWS", "-p", "not-a-token", &registry]);
    let (status, _, _) = run(&mut bad);
    assert!(!status.success(), "a bad password must not log in");
    let out = docker(
        &config,
        &["login", "-u", "AWS", "--password-stdin", &registry],
        Some(&password),
    );
    assert!(out.contains("Login Succeeded"), "{out}");

    docker(&config, &["tag", &local, &remote], None);
    docker(&config, &["push", &remote], None);
    docker(&config, &["tag", &local, &copy], None);
    let out = docker(&config, &["push", &copy], None);
    assert!(
        out.contains("Mounted from docker/tiny") || skyport.log().contains("blob mounted"),
        "the second push should mount the layers: {out}"
    );

    // DescribeImages sees the pushed image.
    let details = ecr
        .describe_images()
        .repository_name("docker/tiny")
        .image_ids(ImageIdentifier::builder().image_tag("v1").build())
        .send()
        .await
        .unwrap();
    let detail = &details.image_details()[0];
    let digest = detail.image_digest.clone().unwrap();
    let size = detail.image_size_in_bytes.unwrap();
    assert!(size > 500_000, "busybox layer size: {size}");

    // Remove it locally, pull it back, run it.
    docker(&config, &["rmi", &remote, &copy, &local], None);
    let out = docker(&config, &["pull", &remote], None);
    assert!(
        out.contains(&digest),
        "pull names the digest {digest}: {out}"
    );
    let out = docker(&config, &["run", "--rm", &remote], None);
    assert_eq!(out.trim(), marker);
}

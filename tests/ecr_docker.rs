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
#[path = "common/ecr_registry.rs"]
mod ecr_registry;

use std::path::Path;
use std::process::Command;

use aws_sdk_ecr::types::ImageIdentifier;
use common::{Options, Skyport, run};
use ecr_registry::{Cleanup, client, docker, docker_usable, free_block};

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
    let registry = ecr_registry::registry(&skyport.endpoint());

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
    ecr_registry::login(&ecr, &config, &registry).await;

    docker(&config, &["tag", &local, &remote], None);
    docker(&config, &["push", &remote], None);
    docker(&config, &["tag", &local, &copy], None);
    let out = docker(&config, &["push", &copy], None);
    assert!(
        out.contains("Mounted from docker/tiny")
            || skyport.wait_for_log("blob mounted", std::time::Duration::from_secs(5)),
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

//! The command line: `--version`, `status`, `wait`, `--health-check`, `config validate` and `aws`.

mod common;

use std::time::{Duration, Instant};

use common::{Skyport, command, run};

#[test]
fn version_status_wait_and_health_check() {
    let (status, out, _) = run(command().arg("--version"));
    assert!(status.success());
    assert!(out.starts_with("skyport "), "{out}");

    let skyport = Skyport::start();
    let ep = skyport.endpoint();
    let (status, out, _) = run(command().args(["status", "--endpoint", &ep]));
    assert!(status.success(), "{out}");
    assert!(
        out.contains("ready") && out.contains("sts") && out.contains("running"),
        "{out}"
    );

    let (status, out, _) = run(command().args(["wait", "--timeout", "5", "--endpoint", &ep]));
    assert!(status.success(), "{out}");

    let listen = format!("{}", skyport.addrs[0]);
    let (status, _, err) = run(command()
        .arg("--health-check")
        .env("GATEWAY_LISTEN", &listen));
    assert!(status.success(), "{err}");
}

#[test]
fn status_wait_and_probe_fail_when_nothing_runs() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let ep = format!("http://{free}");
    let (status, out, _) = run(command().args(["status", "--endpoint", &ep]));
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("not running"));
    let started = Instant::now();
    let (status, _, err) = run(command().args(["wait", "--timeout", "0.5", "--endpoint", &ep]));
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("not ready"));
    assert!(started.elapsed() < Duration::from_secs(5));
    let (status, _, _) = run(command()
        .arg("--health-check")
        .env("GATEWAY_LISTEN", free.to_string()));
    assert_eq!(status.code(), Some(1));
}

#[test]
fn config_validate_prints_and_warns() {
    let (status, out, _) = run(command()
        .args(["config", "validate"])
        .env("OVERRIDE_IN_DOCKER", "0")
        .env("GATEWAY_LISTEN", "0.0.0.0:4566")
        .env("PERSISTANCE", "1")
        .env("LOCALSTACK_AUTH_TOKEN", "ls-xyz"));
    assert!(status.success(), "{out}");
    assert!(
        out.contains("GATEWAY_LISTEN") && out.contains("0.0.0.0:4566"),
        "{out}"
    );
    assert!(out.contains("did you mean PERSISTENCE"), "{out}");
    assert!(out.contains("whole network"), "{out}");
    assert!(out.contains("needs no token"), "{out}");

    let (status, _, err) = run(command()
        .args(["config", "validate"])
        .env("GATEWAY_LISTEN", "not-an-address"));
    assert_eq!(status.code(), Some(2));
    assert!(
        err.contains("GATEWAY_LISTEN") && err.contains("host:port"),
        "{err}"
    );
}

#[test]
fn invalid_configuration_exits_before_binding() {
    let (status, out, err) = run(command().arg("start").env("DNS_PORT", "seventy"));
    assert_eq!(status.code(), Some(2), "{out}");
    assert!(err.contains("DNS_PORT"), "{err}");
    assert!(!out.contains("Ready."));
}

/// Every variable whose accepted forms docs/configuration.md states stops `skyport start` with the
/// variable's name when its value is not one of them.
#[test]
fn invalid_values_of_documented_variables_stop_start_naming_the_variable() {
    for (var, value) in [
        ("LOCALSTACK_HOST", "bad host!:4566"),
        ("LOCALSTACK_HOST", "localhost.localstack.cloud:0"),
        ("LOCALSTACK_HOST", "http://localhost:4566"),
        ("HOSTNAME_FROM_LAMBDA", "not/a/host"),
        ("LAMBDA_DOCKER_DNS", "resolver.example"),
        ("LAMBDA_DOCKER_NETWORK", "my net"),
        ("MAIN_CONTAINER_NAME", "-dash"),
        ("EXTERNAL_SERVICE_PORTS_START", "0"),
        ("LAMBDA_EXECUTOR", "vm"),
        ("GATEWAY_LISTEN", "nowhere:4566"),
        ("PERSISTENCE", "sometimes"),
    ] {
        let (status, out, err) = run(command()
            .arg("start")
            .env("GATEWAY_LISTEN", "127.0.0.1:0")
            .env("DNS_ADDRESS", "0")
            .env(var, value));
        assert_eq!(status.code(), Some(2), "{var}={value}: {out}{err}");
        assert!(err.contains(var), "{var}={value}: {err}");
        assert!(!out.contains("Ready."), "{var}={value}");
    }
}

#[test]
fn aws_wrapper_presets_the_endpoint_and_credentials() {
    if !common::require("aws") {
        return;
    }
    let skyport = Skyport::start();
    let (status, out, err) = run(command()
        .args([
            "aws",
            "--endpoint",
            &skyport.endpoint(),
            "sts",
            "get-caller-identity",
            "--output",
            "json",
        ])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"));
    assert!(status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Account"], "000000000000");

    // The endpoint also comes from GATEWAY_LISTEN, like `start`.
    let (status, out, err) = run(command()
        .args(["aws", "sts", "get-caller-identity", "--output", "json"])
        .env("GATEWAY_LISTEN", skyport.addrs[0].to_string())
        .env("AWS_ACCESS_KEY_ID", "123456789012")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_CONFIG_FILE", "/dev/null"));
    assert!(status.success(), "{err}");
    assert!(out.contains("123456789012"));
}

/// The README's first client commands, on a machine with no AWS configuration at all (no credentials,
/// no region, an empty home): `skyport aws ...`, and `aws --endpoint-url ...` with the test credentials
/// and region the README shows.
#[test]
fn readme_first_client_commands_work_without_aws_credentials_or_region() {
    if !common::require("aws") {
        return;
    }
    let skyport = Skyport::start();
    let home = tempfile::tempdir().unwrap();
    let bare = |cmd: &mut std::process::Command| {
        for (key, _) in std::env::vars() {
            if key.starts_with("AWS_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("HOME", home.path());
    };
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains("skyport aws sts get-caller-identity"));
    assert!(readme.contains(
        "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \\\n  aws --endpoint-url http://localhost:4566 sts get-caller-identity"
    ));
    // `skyport aws` finds the gateway where `skyport start` listens (here: GATEWAY_LISTEN's port).
    let mut cmd = command();
    bare(&mut cmd);
    cmd.args(["aws", "sts", "get-caller-identity", "--output", "json"])
        .env("GATEWAY_LISTEN", skyport.addrs[0].to_string());
    let (status, out, err) = run(&mut cmd);
    assert!(status.success(), "{err}");
    assert!(out.contains("000000000000"), "{out}");
    let mut cmd = std::process::Command::new("aws");
    bare(&mut cmd);
    cmd.args([
        "--endpoint-url",
        &skyport.endpoint(),
        "sts",
        "get-caller-identity",
    ])
    .env("AWS_ACCESS_KEY_ID", "test")
    .env("AWS_SECRET_ACCESS_KEY", "test")
    .env("AWS_DEFAULT_REGION", "us-east-1");
    let (status, out, err) = run(&mut cmd);
    assert!(status.success(), "{err}");
    assert!(out.contains("000000000000"), "{out}");
}

#[test]
fn aws_wrapper_explains_a_missing_cli() {
    let (status, _, err) = run(command()
        .args(["aws", "s3", "ls"])
        .env("SKYPORT_AWS_CLI", "/nonexistent/aws"));
    assert_eq!(status.code(), Some(127));
    assert!(err.contains("not installed"), "{err}");
}

#[test]
fn config_validate_warns_about_docker_pitfalls_with_the_fix() {
    // Ports held by this test: the gateway (TCP) and the DNS (UDP) ones.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_tcp = taken.local_addr().unwrap().port();
    let taken_udp_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let taken_udp = taken_udp_socket.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let compose = dir.path().join("docker-compose.yml");
    std::fs::write(
        &compose,
        "services:\n  localstack:\n    ports:\n      - \"4566:4566\"\n      - \"127.0.0.1:443:443\"\n",
    )
    .unwrap();
    let (status, out, err) = run(command()
        .args(["config", "validate", "--compose-file"])
        .arg(&compose)
        .env("OVERRIDE_IN_DOCKER", "0")
        .env("SERVICES", "lambda,s3")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("GATEWAY_LISTEN", format!("127.0.0.1:{taken_tcp}"))
        .env("DNS_ADDRESS", "127.0.0.1")
        .env("DNS_PORT", taken_udp.to_string())
        // TEST-NET-1: an IP literal, so nothing is resolved; not an address of this host.
        .env("LOCALSTACK_HOST", "192.0.2.10:4566"));
    assert!(status.success(), "{out}{err}");
    for expected in [
        "SERVICES enables lambda",
        "the Docker socket /nonexistent/docker.sock is not reachable: start Docker",
        &format!("GATEWAY_LISTEN includes 127.0.0.1:{taken_tcp}, which is already in use"),
        &format!("the DNS server wants 127.0.0.1:{taken_udp}, which is already in use"),
        "Set DNS_PORT",
        "LOCALSTACK_HOST=192.0.2.10:4566 leads to 192.0.2.10, which is not this host",
        "publishes port 4566:4566 on every interface",
        "Prefix it with 127.0.0.1:",
    ] {
        assert!(out.contains(expected), "{expected:?} missing in:\n{out}");
    }
    assert!(!out.contains("443:443"), "{out}");

    // A name from /etc/hosts (`localhost`) and Skyport's own names are fine; so is a socket that answers.
    let (status, out, _) = run(command()
        .args(["config", "validate", "--compose-file", "/dev/null"])
        .env("OVERRIDE_IN_DOCKER", "0")
        .env("GATEWAY_LISTEN", "127.0.0.1:0")
        .env("DNS_ADDRESS", "0")
        .env("LOCALSTACK_HOST", "localhost:4566"));
    assert!(status.success());
    assert!(out.contains("No problems found."), "{out}");

    // As `start --docker` would run it: a taken host port for 443 is skipped with a warning; a taken
    // gateway port is an error; the container's view of the settings is checked.
    let (status, out, err) = run(command()
        .args([
            "config",
            "validate",
            "--docker",
            "--no-port-range",
            "--gateway-port",
            "0",
        ])
        .args([
            "--https-port",
            &taken_tcp.to_string(),
            "--compose-file",
            "/dev/null",
            "--host-dns-port",
            &taken_udp.to_string(),
        ])
        .env("DNS_RESOLVE_IP", "127.0.0.2")
        .env("SKYPORT_STATE_DIR", dir.path()));
    assert!(status.success(), "{out}{err}");
    for expected in [
        "Effective configuration in the container localstack-main",
        &format!(
            "host port 127.0.0.1:{taken_tcp} is already in use, so the container's 443 is not published"
        ),
        "DNS_RESOLVE_IP=127.0.0.2 makes the DNS answer AWS names with a loopback address",
        "SKYPORT_STATE_DIR names a path on this host and is not passed into the container",
        &format!(
            "host port 127.0.0.1:{taken_udp} is already in use (systemd-resolved, dnsmasq, another Skyport?), \
             so the container's DNS is not published"
        ),
    ] {
        assert!(out.contains(expected), "{expected:?} missing in:\n{out}");
    }
    let (status, _, err) = run(command().args([
        "config",
        "validate",
        "--docker",
        "--gateway-port",
        &taken_tcp.to_string(),
    ]));
    assert_eq!(status.code(), Some(2));
    assert!(
        err.contains(&format!(
            "host port 127.0.0.1:{taken_tcp} is already in use"
        )),
        "{err}"
    );
    // --host-dns-port 0 is refused: Docker would pick different host ports for UDP and TCP.
    let (status, _, err) = run(command().args([
        "config",
        "validate",
        "--docker",
        "--gateway-port",
        "0",
        "--host-dns-port",
        "0",
    ]));
    assert_eq!(status.code(), Some(2));
    assert!(
        err.contains("invalid SKYPORT_DOCKER_DNS_PORT=\"0\""),
        "{err}"
    );
    drop((taken, taken_udp_socket));
}

#[test]
fn start_logs_docker_pitfalls_after_ready() {
    let skyport = Skyport::start_with(
        common::Options::default()
            .env("SERVICES", "lambda,sts")
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
    );
    assert!(
        skyport.wait_for_log(
            "the Docker socket /nonexistent/docker.sock is not reachable",
            Duration::from_secs(10)
        ),
        "{:?}",
        skyport.output.lock().unwrap()
    );
}

/// `skyport dns resolve` says which Skyport its answer describes: the running one asked by `--endpoint`
/// (its own answer, with the names it registered at run time), or none running there (docs/dns.md).
#[test]
fn dns_resolve_says_which_skyport_it_describes() {
    // Native, also where the tests run in a container (which Skyport would otherwise report).
    let skyport = Skyport::start_with(
        common::Options::default()
            .env("OVERRIDE_IN_DOCKER", "0")
            .dns(),
    );
    let resolve = |endpoint: &str| {
        let (status, out, err) =
            run(command().args(["dns", "resolve", "s3.amazonaws.com", "--endpoint", endpoint]));
        assert!(status.success(), "{err}");
        out
    };
    let out = resolve(&skyport.endpoint());
    assert!(out.contains("answer: s3.amazonaws.com."), "{out}");
    assert!(
        out.contains(&format!(
            "note: answered by the running Skyport at {}",
            skyport.endpoint()
        )),
        "{out}"
    );
    // The endpoint itself: the requester's address by default, AWS names answered, bad input refused.
    let get = |path: &str| {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", skyport.port())).unwrap();
        write!(
            conn,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        answer
    };
    let answer = get("/_skyport/dns/resolve?name=sqs.us-east-1.amazonaws.com&type=AAAA");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("sqs.us-east-1.amazonaws.com. AAAA from 127.0.0.1:"),
        "{answer}"
    );
    assert!(get("/_skyport/dns/resolve?name=x&type=BOGUS").starts_with("HTTP/1.1 400"));
    let (status, out, err) = run(command().args([
        "dns",
        "resolve",
        "s3.amazonaws.com",
        "--type",
        "bogus",
        "--endpoint",
        &skyport.endpoint(),
    ]));
    assert_eq!(status.code(), Some(2), "{out}{err}");
    assert!(err.contains("unknown record type"), "{err}");
    let out = resolve("http://127.0.0.1:1");
    assert!(
        out.contains("note: no Skyport answers at http://127.0.0.1:1; this is what one started with these settings would answer"),
        "{out}"
    );
}

//! Init hooks natively (`skyport start --init-dir DIR`, issue 20): every stage's `.sh` and `.py` scripts
//! run in order with the endpoint, test credentials, region and `awslocal`; `Ready.` comes only after
//! `ready.d` ran, with what it created already there; a failing script is logged with its output and
//! does not stop Skyport; `/_localstack/init` and `/_localstack/init/<stage>` report each script's
//! state in LocalStack's shape; `shutdown.d` runs on SIGTERM against the still-serving gateway.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Options, Skyport};
use serde_json::{Value, json};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn get_json(url: &str) -> (u16, Value) {
    let out = std::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (
        code.trim().parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn init_hooks_run_at_their_stage_and_ready_waits_for_ready_d() {
    if !common::require("aws") || !common::require("curl") || !common::require("python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let init = dir.path().join("init");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = out.display();
    // boot.d: before anything listens (no endpoint to call yet).
    write(
        &init.join("boot.d/boot.sh"),
        &format!("echo boot > {o}/boot\n"),
    );
    // start.d: Python, with the environment.
    write(
        &init.join("start.d/start.py"),
        &format!(
            "import os\nopen('{o}/start', 'w').write(os.environ['AWS_DEFAULT_REGION'] + ' ' + os.environ['AWS_ACCESS_KEY_ID'])\n"
        ),
    );
    // ready.d: awslocal (this binary under that name) creates a bucket and a queue; a failing
    // script in the middle; a Python script after it still runs, with boto3 and AWS_ENDPOINT_URL.
    write(
        &init.join("ready.d/01-seed.sh"),
        &format!(
            "#!/bin/sh\nset -e\necho \"$AWS_ENDPOINT_URL\" > {o}/endpoint\n\
             awslocal s3 mb s3://hook-bucket\nawslocal sqs create-queue --queue-name hook-queue\n"
        ),
    );
    write(
        &init.join("ready.d/02-broken.sh"),
        "echo this-is-the-broken-output\necho and-on-stderr >&2\nexit 7\n",
    );
    write(
        &init.join("ready.d/sub/03-after.py"),
        "import boto3\nboto3.client('sqs').create_queue(QueueName='from-python')\n",
    );
    write(
        &init.join("shutdown.d/bye.sh"),
        &format!("awslocal sqs list-queues > {o}/shutdown\n"),
    );

    let mut skyport = Skyport::start_with(
        Options::default()
            .env("SKYPORT_INIT_DIR", init.to_str().unwrap())
            .env("AWS_ACCESS_KEY_ID", "")
            .env("AWS_DEFAULT_REGION", "")
            .env("AWS_REGION", ""),
    );
    let ep = skyport.endpoint();
    let log = skyport.log();
    // Ready. came after the ready.d scripts: what they made is there the moment it is printed.
    let ready_at = log.lines().position(|l| l.trim() == "Ready.").unwrap();
    let seeded_at = log
        .lines()
        .position(|l| l.contains("init hook") && l.contains("03-after.py succeeded"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(seeded_at < ready_at, "{log}");
    assert_eq!(std::fs::read_to_string(out.join("boot")).unwrap(), "boot\n");
    assert_eq!(
        std::fs::read_to_string(out.join("start")).unwrap(),
        "us-east-1 test"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("endpoint"))
            .unwrap()
            .trim(),
        ep
    );
    // The failure is logged with its output, and the reason.
    assert!(
        log.contains("02-broken.sh (READY) failed (exit status: 7)"),
        "{log}"
    );
    assert!(log.contains("this-is-the-broken-output"), "{log}");
    assert!(log.contains("and-on-stderr"), "{log}");

    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&ep)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::new(&config);
    let buckets = s3.list_buckets().send().await.unwrap();
    assert!(
        buckets
            .buckets()
            .iter()
            .any(|b| b.name() == Some("hook-bucket"))
    );
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queues = sqs.list_queues().send().await.unwrap();
    let urls = queues.queue_urls().join(" ");
    assert!(
        urls.contains("hook-queue") && urls.contains("from-python"),
        "{urls}"
    );

    let (code, all) = get_json(&format!("{ep}/_localstack/init"));
    assert_eq!(code, 200);
    assert_eq!(
        all,
        json!({
            "completed": {"BOOT": true, "START": true, "READY": true, "SHUTDOWN": false},
            "scripts": [
                {"stage": "BOOT", "name": "boot.sh", "state": "SUCCESSFUL"},
                {"stage": "START", "name": "start.py", "state": "SUCCESSFUL"},
                {"stage": "READY", "name": "01-seed.sh", "state": "SUCCESSFUL"},
                {"stage": "READY", "name": "02-broken.sh", "state": "ERROR"},
                {"stage": "READY", "name": "03-after.py", "state": "SUCCESSFUL"},
                {"stage": "SHUTDOWN", "name": "bye.sh", "state": "UNKNOWN"},
            ]
        })
    );
    let (code, ready) = get_json(&format!("{ep}/_localstack/init/ready"));
    assert_eq!(code, 200);
    assert_eq!(ready["completed"], true);
    assert_eq!(ready["scripts"].as_array().unwrap().len(), 3);
    let (code, shutdown) = get_json(&format!("{ep}/_localstack/init/SHUTDOWN"));
    assert_eq!((code, &shutdown["completed"]), (200, &json!(false)));
    let (code, _) = get_json(&format!("{ep}/_localstack/init/later"));
    assert_eq!(code, 404);

    // shutdown.d runs on SIGTERM while the gateway still answers it.
    skyport.signal("TERM");
    assert!(skyport.wait_exit(Duration::from_secs(20)).success());
    let listed = std::fs::read_to_string(out.join("shutdown")).unwrap();
    assert!(listed.contains("hook-queue"), "{listed}");
}

#[test]
fn without_hooks_every_stage_completes_with_no_scripts() {
    let skyport = Skyport::start();
    let (code, all) = get_json(&format!("{}/_localstack/init", skyport.endpoint()));
    assert_eq!(code, 200);
    assert_eq!(
        all,
        json!({
            "completed": {"BOOT": true, "START": true, "READY": true, "SHUTDOWN": false},
            "scripts": []
        })
    );
}

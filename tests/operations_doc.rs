//! `docs/operations.md` is generated from the same table `/_skyport/operations` serves (each model-driven
//! service's implemented operations and the model's others): this test renders it from the running
//! binary and fails when the file differs. `SKYPORT_UPDATE_DOCS=1 cargo test --test operations_doc`
//! rewrites it.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Skyport, run};

fn render(table: &serde_json::Value) -> String {
    let mut out = String::from(
        "# Operations per service\n\n\
         Generated from `GET /_skyport/operations` by `tests/operations_doc.rs` (`SKYPORT_UPDATE_DOCS=1 cargo \
         test --test operations_doc` rewrites it). For the services on the model-driven wire layer: the \
         operations of AWS's model that Skyport implements, and those that answer `501 NotImplemented`. \
         S3 and SQS have hand-written codecs; see [s3.md](s3.md) and [sqs.md](sqs.md).\n",
    );
    let Some(services) = table.as_object() else {
        return out;
    };
    for (service, entry) in services {
        let list = |key: &str| -> Vec<String> {
            entry[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(|s| format!("`{s}`")))
                        .collect()
                })
                .unwrap_or_default()
        };
        let implemented = list("implemented");
        let missing = list("not_implemented");
        out.push_str(&format!(
            "\n## {service}\n\n{} of {} operations implemented.\n\n**Implemented:** {}\n\n**Not implemented:** {}\n",
            implemented.len(),
            entry["model_operations"].as_u64().unwrap_or(0),
            if implemented.is_empty() { "none".to_owned() } else { implemented.join(", ") },
            if missing.is_empty() { "none".to_owned() } else { missing.join(", ") },
        ));
    }
    out
}

#[test]
fn operations_doc_matches_the_running_table() {
    if !common::require("curl") {
        return;
    }
    let skyport = Skyport::start();
    let (status, body, _) = run(Command::new("curl").args([
        "-sf",
        &format!("{}/_skyport/operations", skyport.endpoint()),
    ]));
    assert!(status.success());
    let table: serde_json::Value = serde_json::from_str(&body).unwrap();
    for service in [
        "sts",
        "lambda",
        "logs",
        "iam",
        "dynamodb",
        "dynamodbstreams",
    ] {
        assert!(
            table[service]["implemented"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
            "{service}: {body}"
        );
    }
    let rendered = render(&table);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations.md");
    if std::env::var("SKYPORT_UPDATE_DOCS").as_deref() == Ok("1") {
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == rendered,
        "docs/operations.md is out of date: run SKYPORT_UPDATE_DOCS=1 cargo test --test operations_doc"
    );
}

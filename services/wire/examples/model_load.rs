//! Times compiling each vendored model (what a service's first request pays) and counts its shapes.
use std::time::Instant;

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    for name in [
        "sts",
        "s3",
        "sqs",
        "lambda",
        "logs",
        "iam",
        "ecr",
        "dynamodb",
        "dynamodbstreams",
        "sns",
        "events",
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("model");
        let start = Instant::now();
        let model = skyport_wire::Model::from_json(&text).expect("compiles");
        println!(
            "{name:16} {:>7} bytes  {:>4} operations {:>4} shapes  compiled in {:?}",
            text.len(),
            model.operations.len(),
            model.shapes.len(),
            start.elapsed()
        );
    }
}

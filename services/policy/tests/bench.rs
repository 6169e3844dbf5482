//! A small timing of the hot path, without a benchmark framework: a user with five identity
//! policies of ten statements each (wildcards, a policy variable, conditions), evaluated for a
//! request that only the last statement allows, so every statement is read.
//!
//! Run: `cargo test -p skyport-policy --release --test bench -- --ignored --nocapture`

mod common;

use std::hint::black_box;
use std::time::Instant;

use common::*;
use skyport_policy::{Policy, PolicySet, evaluate};

fn policies() -> Vec<Policy> {
    (0..5)
        .map(|p| {
            let statements: Vec<String> = (0..10)
                .map(|s| {
                    let last = p == 4 && s == 9;
                    let action = if last { "s3:Get*".to_string() } else { format!("svc{p}:Action{s}*") };
                    format!(
                        r#"{{"Sid":"S{p}x{s}","Effect":"Allow","Action":["{action}","ec2:Describe{s}*"],
                            "Resource":["arn:aws:s3:::bucket-{p}-{s}/*","arn:aws:s3:::home/${{aws:username}}/*"],
                            "Condition":{{"StringEquals":{{"aws:PrincipalTag/team":["red","blue"]}},
                                          "IpAddress":{{"aws:SourceIp":"10.0.0.0/8"}}}}}}"#
                    )
                })
                .collect();
            identity(
                &format!("arn:aws:iam::111122223333:policy/P{p}"),
                &format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, statements.join(",")),
            )
        })
        .collect()
}

#[test]
#[ignore = "timing; run with --release --ignored --nocapture"]
fn five_policies_of_ten_statements() {
    let policies = policies();
    let set = PolicySet::identity(&policies);
    let ctx = request(ALICE, "s3:GetObject", "arn:aws:s3:::home/alice/notes.txt")
        .with_key("aws:PrincipalTag/team", "blue")
        .with_key("aws:SourceIp", "10.1.2.3");
    let decision = evaluate(&ctx, &set);
    assert!(decision.is_allowed());
    assert_eq!(decision.statement.and_then(|s| s.sid), Some("S4x9"));
    let rounds = 200_000u32;
    for _ in 0..rounds / 10 {
        black_box(evaluate(black_box(&ctx), black_box(&set)));
    }
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(evaluate(black_box(&ctx), black_box(&set)));
    }
    let per = start.elapsed().as_nanos() / u128::from(rounds);
    println!("evaluate, 5 policies x 10 statements, allowed by the last: {per} ns/evaluation");
    let denied = request(ALICE, "s3:PutObject", "arn:aws:s3:::elsewhere/x");
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(evaluate(black_box(&denied), black_box(&set)));
    }
    let per = start.elapsed().as_nanos() / u128::from(rounds);
    println!("evaluate, 5 policies x 10 statements, implicit deny: {per} ns/evaluation");
}

//! Condition operators, table-driven. Sources: "IAM JSON policy elements: Condition operators"
//! (reference_policies_elements_condition_operators.html), "Conditions with multiple context keys
//! or values" (reference_policies_condition-logic-multiple-context-keys-or-values.html) and
//! "Multivalued context keys examples"
//! (reference_policies_condition_examples-multi-valued-context-keys.html).

mod common;

use common::*;
use skyport_policy::{ContextValue, PolicySet, RequestContext, evaluate};

/// A context value in a table: absent, one value, or a list.
#[derive(Clone, Copy)]
enum V {
    Absent,
    One(&'static str),
    Many(&'static [&'static str]),
}

/// (condition block, key, request value, whether an Allow with that condition applies).
type Row = (&'static str, &'static str, V, bool);

fn run(rows: &[Row]) {
    for (i, (condition, key, value, want)) in rows.iter().enumerate() {
        let policy = [with_condition("Allow", condition)];
        let mut ctx: RequestContext = request(ALICE, "s3:GetObject", "arn:aws:s3:::b/k");
        match value {
            V::Absent => ctx.remove(key),
            V::One(v) => ctx.set(key, ContextValue::Single((*v).to_string())),
            V::Many(vs) => ctx.set(
                key,
                ContextValue::Multi(vs.iter().map(|v| v.to_string()).collect()),
            ),
        }
        let got = evaluate(&ctx, &PolicySet::identity(&policy)).is_allowed();
        assert_eq!(got, *want, "row {i}: {condition} with {key}");
    }
}

#[test]
fn string_operators() {
    use V::*;
    run(&[
        (
            r#"{"StringEquals":{"aws:PrincipalTag/team":"red"}}"#,
            "aws:PrincipalTag/team",
            One("red"),
            true,
        ),
        (
            r#"{"StringEquals":{"aws:PrincipalTag/team":"red"}}"#,
            "aws:PrincipalTag/team",
            One("Red"),
            false,
        ),
        // Keys are case-insensitive.
        (
            r#"{"StringEquals":{"AWS:PRINCIPALTAG/TEAM":"red"}}"#,
            "aws:principaltag/team",
            One("red"),
            true,
        ),
        // Values of one key are ORed.
        (
            r#"{"StringEquals":{"aws:PrincipalTag/team":["blue","red"]}}"#,
            "aws:PrincipalTag/team",
            One("red"),
            true,
        ),
        (
            r#"{"StringEquals":{"aws:PrincipalTag/team":"red"}}"#,
            "aws:PrincipalTag/team",
            Absent,
            false,
        ),
        // Negated: NOR over the values; true when the key is missing.
        (
            r#"{"StringNotEquals":{"aws:PrincipalTag/team":["blue","red"]}}"#,
            "aws:PrincipalTag/team",
            One("red"),
            false,
        ),
        (
            r#"{"StringNotEquals":{"aws:PrincipalTag/team":["blue","red"]}}"#,
            "aws:PrincipalTag/team",
            One("green"),
            true,
        ),
        (
            r#"{"StringNotEquals":{"aws:PrincipalTag/team":"red"}}"#,
            "aws:PrincipalTag/team",
            Absent,
            true,
        ),
        (
            r#"{"StringEqualsIgnoreCase":{"aws:PrincipalTag/team":"RED"}}"#,
            "aws:PrincipalTag/team",
            One("red"),
            true,
        ),
        (
            r#"{"StringNotEqualsIgnoreCase":{"aws:PrincipalTag/team":"RED"}}"#,
            "aws:PrincipalTag/team",
            One("Red"),
            false,
        ),
        (
            r#"{"StringLike":{"s3:prefix":"home/*/docs/?.txt"}}"#,
            "s3:prefix",
            One("home/alice/docs/a.txt"),
            true,
        ),
        (
            r#"{"StringLike":{"s3:prefix":"home/*"}}"#,
            "s3:prefix",
            One("Home/alice"),
            false,
        ),
        // Wildcards are literal in StringEquals.
        (
            r#"{"StringEquals":{"s3:prefix":"home/*"}}"#,
            "s3:prefix",
            One("home/alice"),
            false,
        ),
        (
            r#"{"StringEquals":{"s3:prefix":"home/*"}}"#,
            "s3:prefix",
            One("home/*"),
            true,
        ),
        (
            r#"{"StringNotLike":{"s3:prefix":["tmp/*","cache/*"]}}"#,
            "s3:prefix",
            One("cache/x"),
            false,
        ),
        (
            r#"{"StringNotLike":{"s3:prefix":["tmp/*","cache/*"]}}"#,
            "s3:prefix",
            One("data/x"),
            true,
        ),
    ]);
}

#[test]
fn numeric_date_bool_binary_operators() {
    use V::*;
    run(&[
        (
            r#"{"NumericLessThanEquals":{"s3:max-keys":"10"}}"#,
            "s3:max-keys",
            One("10"),
            true,
        ),
        (
            r#"{"NumericLessThanEquals":{"s3:max-keys":10}}"#,
            "s3:max-keys",
            One("11"),
            false,
        ),
        (
            r#"{"NumericLessThan":{"s3:max-keys":"10"}}"#,
            "s3:max-keys",
            One("9.5"),
            true,
        ),
        (
            r#"{"NumericGreaterThan":{"s3:max-keys":"10"}}"#,
            "s3:max-keys",
            One("10"),
            false,
        ),
        (
            r#"{"NumericGreaterThanEquals":{"s3:max-keys":"10"}}"#,
            "s3:max-keys",
            One("10"),
            true,
        ),
        (
            r#"{"NumericEquals":{"s3:max-keys":"10"}}"#,
            "s3:max-keys",
            One("10.0"),
            true,
        ),
        (
            r#"{"NumericNotEquals":{"s3:max-keys":"10"}}"#,
            "s3:max-keys",
            One("10"),
            false,
        ),
        (
            r#"{"NumericEquals":{"s3:max-keys":"10"}}"#,
            "s3:max-keys",
            One("ten"),
            false,
        ),
        (
            r#"{"NumericEquals":{"s3:max-keys":"10"}}"#,
            "s3:max-keys",
            Absent,
            false,
        ),
        (
            r#"{"DateLessThan":{"aws:CurrentTime":"2020-04-01T00:00:00Z"}}"#,
            "aws:CurrentTime",
            One("2020-03-31T23:59:59Z"),
            true,
        ),
        (
            r#"{"DateLessThan":{"aws:CurrentTime":"2020-04-01T00:00:00Z"}}"#,
            "aws:CurrentTime",
            One("2020-04-01T00:00:00Z"),
            false,
        ),
        // Epoch seconds and ISO 8601 compare as instants.
        (
            r#"{"DateEquals":{"aws:CurrentTime":"1585699200"}}"#,
            "aws:CurrentTime",
            One("2020-04-01T00:00:00Z"),
            true,
        ),
        (
            r#"{"DateGreaterThanEquals":{"aws:CurrentTime":"2020-04-01"}}"#,
            "aws:CurrentTime",
            One("2020-04-01T00:00:01+00:00"),
            true,
        ),
        (
            r#"{"DateGreaterThan":{"aws:TokenIssueTime":"2020-01-01T00:00:00Z"}}"#,
            "aws:TokenIssueTime",
            One("2020-01-01T01:00:00+02:00"),
            false,
        ),
        (
            r#"{"DateNotEquals":{"aws:CurrentTime":"2020-04-01T00:00:00Z"}}"#,
            "aws:CurrentTime",
            One("2021-04-01T00:00:00Z"),
            true,
        ),
        (
            r#"{"DateLessThanEquals":{"aws:CurrentTime":"2020-04-01T00:00:00Z"}}"#,
            "aws:CurrentTime",
            One("2020-04-01T00:00:00Z"),
            true,
        ),
        (
            r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
            "aws:SecureTransport",
            One("true"),
            true,
        ),
        (
            r#"{"Bool":{"aws:SecureTransport":false}}"#,
            "aws:SecureTransport",
            One("false"),
            true,
        ),
        (
            r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
            "aws:SecureTransport",
            One("false"),
            false,
        ),
        (
            r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
            "aws:SecureTransport",
            Absent,
            false,
        ),
        (
            r#"{"BinaryEquals":{"key:blob":"QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}"#,
            "key:blob",
            One("QmluYXJ5VmFsdWVJbkJhc2U2NA=="),
            true,
        ),
        (
            r#"{"BinaryEquals":{"key:blob":"QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}"#,
            "key:blob",
            One("b3RoZXI="),
            false,
        ),
    ]);
}

#[test]
fn ip_and_arn_operators() {
    use V::*;
    run(&[
        (
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            "aws:SourceIp",
            One("203.0.113.9"),
            true,
        ),
        (
            r#"{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:DB8:1234:5678::/64"]}}"#,
            "aws:SourceIp",
            One("2001:db8:1234:5678::9"),
            true,
        ),
        (
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            "aws:SourceIp",
            One("198.51.100.1"),
            false,
        ),
        (
            r#"{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            "aws:SourceIp",
            One("198.51.100.1"),
            true,
        ),
        (
            r#"{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            "aws:SourceIp",
            One("203.0.113.1"),
            false,
        ),
        (
            r#"{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            "aws:SourceIp",
            Absent,
            true,
        ),
        (
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:111122223333:topic-*"}}"#,
            "aws:SourceArn",
            One("arn:aws:sns:us-east-1:111122223333:topic-a"),
            true,
        ),
        (
            r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:*:111122223333:topic-*"}}"#,
            "aws:SourceArn",
            One("arn:aws:sns:us-east-1:444455556666:topic-a"),
            false,
        ),
        (
            r#"{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}"#,
            "aws:PrincipalArn",
            One("arn:aws:iam::111122223333:user/alice"),
            false,
        ),
        (
            r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:sns:*:*:internal-*"}}"#,
            "aws:SourceArn",
            One("arn:aws:sns:us-east-1:1:public"),
            true,
        ),
        (
            r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:sns:*:*:internal-*"}}"#,
            "aws:SourceArn",
            Absent,
            true,
        ),
    ]);
}

// "...IfExists condition operators" and "Condition operator to check existence of condition keys".
#[test]
fn if_exists_and_null() {
    use V::*;
    run(&[
        (
            r#"{"StringEqualsIfExists":{"ec2:InstanceType":["t2.micro"]}}"#,
            "ec2:InstanceType",
            Absent,
            true,
        ),
        (
            r#"{"StringEqualsIfExists":{"ec2:InstanceType":["t2.micro"]}}"#,
            "ec2:InstanceType",
            One("t2.micro"),
            true,
        ),
        (
            r#"{"StringEqualsIfExists":{"ec2:InstanceType":["t2.micro"]}}"#,
            "ec2:InstanceType",
            One("m5.large"),
            false,
        ),
        (
            r#"{"StringNotEqualsIfExists":{"ec2:InstanceType":["t2.micro"]}}"#,
            "ec2:InstanceType",
            Absent,
            true,
        ),
        (
            r#"{"NumericLessThanIfExists":{"s3:max-keys":"10"}}"#,
            "s3:max-keys",
            Absent,
            true,
        ),
        (
            r#"{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}"#,
            "aws:SourceIp",
            One("192.168.0.1"),
            false,
        ),
        (
            r#"{"Null":{"aws:TokenIssueTime":"true"}}"#,
            "aws:TokenIssueTime",
            Absent,
            true,
        ),
        (
            r#"{"Null":{"aws:TokenIssueTime":"true"}}"#,
            "aws:TokenIssueTime",
            One("2020-01-01T00:00:00Z"),
            false,
        ),
        (
            r#"{"Null":{"aws:TokenIssueTime":"false"}}"#,
            "aws:TokenIssueTime",
            One("2020-01-01T00:00:00Z"),
            true,
        ),
        (
            r#"{"Null":{"aws:TokenIssueTime":false}}"#,
            "aws:TokenIssueTime",
            Absent,
            false,
        ),
        (
            r#"{"Null":{"aws:TagKeys":"false"}}"#,
            "aws:TagKeys",
            Many(&[]),
            false,
        ),
    ]);
}

// "Multivalued context keys examples": ForAllValues matches when every request value matches one
// of the policy's (and when the key is missing or empty); ForAnyValue when at least one does.
#[test]
fn set_operators_for_multivalued_keys() {
    use V::*;
    const ALL: &str =
        r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["environment","cost-center"]}}"#;
    const ANY: &str =
        r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["environment","cost-center"]}}"#;
    const ALL_NOT_LIKE: &str = r#"{"ForAllValues:StringNotLike":{"aws:TagKeys":"key1*"}}"#;
    const ANY_NOT: &str = r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"environment"}}"#;
    run(&[
        (ALL, "aws:TagKeys", Many(&["environment"]), true),
        (
            ALL,
            "aws:TagKeys",
            Many(&["environment", "cost-center"]),
            true,
        ),
        (ALL, "aws:TagKeys", Many(&["environment", "owner"]), false),
        (ALL, "aws:TagKeys", Many(&[]), true),
        (ALL, "aws:TagKeys", Absent, true),
        (ANY, "aws:TagKeys", Many(&["owner", "cost-center"]), true),
        (ANY, "aws:TagKeys", Many(&["owner"]), false),
        (ANY, "aws:TagKeys", Many(&[]), false),
        (ANY, "aws:TagKeys", Absent, false),
        // The deny example of the page: ForAllValues:StringNotLike "key1*".
        (ALL_NOT_LIKE, "aws:TagKeys", Many(&["key1:legal"]), false),
        (
            ALL_NOT_LIKE,
            "aws:TagKeys",
            Many(&["key1:hr", "key1:personnel"]),
            false,
        ),
        (ALL_NOT_LIKE, "aws:TagKeys", Many(&["key2:audit"]), true),
        (ALL_NOT_LIKE, "aws:TagKeys", Absent, true),
        (
            ANY_NOT,
            "aws:TagKeys",
            Many(&["environment", "owner"]),
            true,
        ),
        (ANY_NOT, "aws:TagKeys", Many(&["environment"]), false),
        // Without a qualifier, a multivalued key matches when any of its values does.
        (
            r#"{"StringEquals":{"aws:TagKeys":"owner"}}"#,
            "aws:TagKeys",
            Many(&["a", "owner"]),
            true,
        ),
    ]);
}

// "Conditions with multiple context keys or values": operators and keys are ANDed.
#[test]
fn operators_and_keys_are_anded() {
    let policy = [with_condition(
        "Allow",
        r#"{"StringEquals":{"aws:PrincipalTag/team":"red","aws:PrincipalTag/env":["dev","test"]},
            "IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
    )];
    let set = PolicySet::identity(&policy);
    let base = request(ALICE, "s3:GetObject", "arn:aws:s3:::b/k")
        .with_key("aws:PrincipalTag/team", "red")
        .with_key("aws:PrincipalTag/env", "test")
        .with_key("aws:SourceIp", "10.1.2.3");
    assert!(evaluate(&base, &set).is_allowed());
    let wrong_env = base.clone().with_key("aws:PrincipalTag/env", "prod");
    assert!(!evaluate(&wrong_env, &set).is_allowed());
    let wrong_ip = base.clone().with_key("aws:SourceIp", "192.168.1.1");
    assert!(!evaluate(&wrong_ip, &set).is_allowed());
    let mut no_team = base;
    no_team.remove("aws:PrincipalTag/team");
    assert!(!evaluate(&no_team, &set).is_allowed());
}

// "IAM policy elements: Variables and tags": variables in condition values.
#[test]
fn variables_in_condition_values() {
    use V::*;
    run(&[
        // aws:username is derived from the user ARN (alice).
        (
            r#"{"StringLike":{"s3:prefix":["home/${aws:username}/*"]}}"#,
            "s3:prefix",
            One("home/alice/x"),
            true,
        ),
        (
            r#"{"StringLike":{"s3:prefix":["home/${aws:username}/*"]}}"#,
            "s3:prefix",
            One("home/bob/x"),
            false,
        ),
        (
            r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:iam::${aws:PrincipalAccount}:user/x"}}"#,
            "aws:SourceArn",
            One("arn:aws:iam::111122223333:user/x"),
            true,
        ),
        // A variable without value makes the statement not apply, even with a negated operator.
        (
            r#"{"StringNotEquals":{"s3:prefix":"${aws:PrincipalTag/missing}"}}"#,
            "s3:prefix",
            One("x"),
            false,
        ),
        // ... unless it has a default.
        (
            r#"{"StringEquals":{"s3:prefix":"${aws:PrincipalTag/missing, 'none'}"}}"#,
            "s3:prefix",
            One("none"),
            true,
        ),
    ]);
}

//! Which of the actions an operation authorizes a given request needs.
//!
//! The reference lists, per operation, every action it *may* authorize: `s3:PutObject` lists
//! `s3:PutObject`, `s3:PutObjectAcl`, `s3:PutObjectTagging`, `s3:PutObjectRetention`, ...; the extra
//! ones apply only when the request sets an ACL, tags, a retention. So:
//!
//! 1. The operation's primary actions, always needed: [`PRIMARY`] where it names them, else the
//!    listed action named like the operation, else the listed actions of the operation's own prefix
//!    (`s3:PutBucketReplication` lists `s3:PutReplicationConfiguration` and `iam:PassRole`), else
//!    (an operation listed without actions, or not listed at all because it is newer than the
//!    reference) an action named like the operation if the reference has one.
//! 2. Each other listed action (and each action a rule names for this very operation) is needed
//!    only when the first [`RULES`] entry for it says so for this request. An action without a rule is
//!    not needed: what is left is for situations Skyport does not model (DynamoDB global-table
//!    replication, ECR pull-through cache, Object Lock and tag headers of responses, masked log data,
//!    Logs Insights internals, Object Lambda access points).
//!
//! [`RULES`] also say where an action's ARN variables come from when that differs from
//! [`BINDINGS`](crate::bindings::BINDINGS) (a copy's source object, each key of `DeleteObjects`).
//! Each entry follows AWS's documentation of the operation's permissions.

use crate::bindings::Src::{self, *};
use crate::inputs::Inputs;

/// Operations whose primary actions are not the one named like them. An empty list: the actions
/// come from the rules (per item) or from [`Custom`] handling.
pub(crate) const PRIMARY: &[(&str, &str, &[&str])] = &[
    // S3 API reference, "Permissions" of each operation.
    ("s3", "ListObjects", &["s3:ListBucket"]),
    ("s3", "ListObjectsV2", &["s3:ListBucket"]),
    ("s3", "HeadObject", &["s3:GetObject"]),
    ("s3", "GetObjectAttributes", &["s3:GetObject"]),
    ("s3", "CopyObject", &["s3:GetObject", "s3:PutObject"]),
    ("s3", "UploadPartCopy", &["s3:GetObject", "s3:PutObject"]),
    ("s3", "CreateMultipartUpload", &["s3:PutObject"]),
    ("s3", "DeleteObjects", &[]),
    // DynamoDB: per item kind (TransactWriteItems) or per PartiQL statement.
    ("dynamodb", "TransactWriteItems", &[]),
    ("dynamodb", "ExecuteStatement", &[]),
    ("dynamodb", "BatchExecuteStatement", &[]),
    ("dynamodb", "ExecuteTransaction", &[]),
    // The reference lists only the target table's write actions; the operation's own action is the
    // one DynamoDB's documentation requires on the source table.
    (
        "dynamodb",
        "RestoreTableToPointInTime",
        &["dynamodb:RestoreTableToPointInTime"],
    ),
    // The other two listed actions are the pull-through cache's, as for BatchGetImage.
    ("ecr", "ListImageReferrers", &["ecr:BatchGetImage"]),
];

/// Operations resolved by code rather than tables: one request, several resources with different
/// actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Custom {
    /// `s3:DeleteObject` per key, `s3:DeleteObjectVersion` per key with a version.
    DeleteObjects,
    /// The PartiQL action of each statement's verb on the table (or index) it names.
    PartiQl(&'static str),
}

pub(crate) fn custom(service: &str, operation: &str) -> Option<Custom> {
    match (service, operation) {
        ("s3", "DeleteObjects") => Some(Custom::DeleteObjects),
        ("dynamodb", "ExecuteStatement") => Some(Custom::PartiQl("Statement")),
        ("dynamodb", "BatchExecuteStatement") => Some(Custom::PartiQl("Statements[].Statement")),
        ("dynamodb", "ExecuteTransaction") => {
            Some(Custom::PartiQl("TransactStatements[].Statement"))
        }
        _ => None,
    }
}

/// When a rule's action is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    Always,
    Never,
    /// Any of these members (paths) has a value.
    Any(&'static [&'static str]),
    /// The member is `true`.
    True(&'static str),
    /// The member's value ends so (SNS `AttributeName` ending in `RoleArn`).
    EndsWith(&'static str, &'static str),
    /// S3's copy source names a version.
    CopySourceVersion,
}

impl When {
    pub(crate) fn holds(self, inputs: &dyn Inputs) -> bool {
        match self {
            When::Always => true,
            When::Never => false,
            When::Any(paths) => paths
                .iter()
                .any(|p| inputs.get_all(p).iter().any(Option::is_some)),
            When::True(path) => inputs
                .get(path)
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            When::EndsWith(path, suffix) => inputs.get(path).is_some_and(|v| v.ends_with(suffix)),
            When::CopySourceVersion => inputs
                .get("CopySource")
                .is_some_and(|v| crate::bindings::split_copy_source(&v).1.is_some()),
        }
    }
}

/// When an action is needed, and where its ARN variables come from.
pub(crate) struct Rule {
    /// The prefix of the operation's service; `*`: any.
    pub(crate) service: &'static str,
    /// The operations it is for; empty: every operation that lists the action.
    pub(crate) ops: &'static [&'static str],
    /// `prefix:Name`; `*` as prefix matches any, a trailing `*` any name so beginning.
    pub(crate) action: &'static str,
    pub(crate) when: When,
    /// The primary action it stands in for when needed (`s3:GetObjectVersion` for `s3:GetObject`).
    pub(crate) instead_of: Option<&'static str>,
    /// Variable sources ahead of the general table, for this action in these operations.
    pub(crate) bind: &'static [(&'static str, &'static [Src])],
}

const fn rule(
    service: &'static str,
    ops: &'static [&'static str],
    action: &'static str,
    when: When,
) -> Rule {
    Rule {
        service,
        ops,
        action,
        when,
        instead_of: None,
        bind: &[],
    }
}

const VERSION: When = When::Any(&["VersionId"]);
const ACL: When = When::Any(&[
    "ACL",
    "GrantFullControl",
    "GrantRead",
    "GrantReadACP",
    "GrantWrite",
    "GrantWriteACP",
]);
const COPY: &[&str] = &["CopyObject", "UploadPartCopy"];
const COPY_SOURCE: &[(&str, &[Src])] = &[
    ("BucketName", &[CopySource("CopySource")]),
    ("ObjectName", &[CopySource("CopySource")]),
    ("AccessPointName", &[CopySource("CopySource")]),
];
const SNS_ROLE_ATTRIBUTES: &[&str] = &[
    "Attributes.SubscriptionRoleArn",
    "Attributes.SuccessFeedbackRoleArn",
    "Attributes.FailureFeedbackRoleArn",
    "Attributes.ApplicationSuccessFeedbackRoleArn",
    "Attributes.ApplicationFailureFeedbackRoleArn",
    "Attributes.FirehoseSuccessFeedbackRoleArn",
    "Attributes.FirehoseFailureFeedbackRoleArn",
    "Attributes.HTTPSuccessFeedbackRoleArn",
    "Attributes.HTTPFailureFeedbackRoleArn",
    "Attributes.LambdaSuccessFeedbackRoleArn",
    "Attributes.LambdaFailureFeedbackRoleArn",
    "Attributes.SQSSuccessFeedbackRoleArn",
    "Attributes.SQSFailureFeedbackRoleArn",
    "attributes.DeliveryStatusIAMRole",
];
const SNS_ROLE_SOURCES: &[Src] = &[
    M("Attributes.SubscriptionRoleArn"),
    M("Attributes.SuccessFeedbackRoleArn"),
    M("Attributes.FailureFeedbackRoleArn"),
    M("Attributes.ApplicationSuccessFeedbackRoleArn"),
    M("Attributes.ApplicationFailureFeedbackRoleArn"),
    M("Attributes.FirehoseSuccessFeedbackRoleArn"),
    M("Attributes.FirehoseFailureFeedbackRoleArn"),
    M("Attributes.HTTPSuccessFeedbackRoleArn"),
    M("Attributes.HTTPFailureFeedbackRoleArn"),
    M("Attributes.LambdaSuccessFeedbackRoleArn"),
    M("Attributes.LambdaFailureFeedbackRoleArn"),
    M("Attributes.SQSSuccessFeedbackRoleArn"),
    M("Attributes.SQSFailureFeedbackRoleArn"),
    M("attributes.DeliveryStatusIAMRole"),
];
const TRANSACT_PUT: &[&str] = &["TransactItems[].Put.TableName"];
const TRANSACT_UPDATE: &[&str] = &["TransactItems[].Update.TableName"];
const TRANSACT_DELETE: &[&str] = &["TransactItems[].Delete.TableName"];
const TRANSACT_CHECK: &[&str] = &["TransactItems[].ConditionCheck.TableName"];

/// The first entry that matches an (operation, action) decides; order matters.
pub(crate) const RULES: &[Rule] = &[
    // --- S3 ---------------------------------------------------------------------------------------
    // A version ID in the request: the Version action instead of the plain one ("If you include a
    // versionId ... you must have the s3:GetObjectVersion permission ... s3:GetObject is not
    // required").
    Rule {
        instead_of: Some("s3:GetObject"),
        bind: COPY_SOURCE,
        ..rule("s3", COPY, "s3:GetObjectVersion", When::CopySourceVersion)
    },
    Rule {
        bind: COPY_SOURCE,
        ..rule("s3", COPY, "s3:GetObject", When::Always)
    },
    Rule {
        instead_of: Some("s3:GetObject"),
        ..rule("s3", &["HeadObject"], "s3:GetObjectVersion", VERSION)
    },
    Rule {
        instead_of: Some("s3:GetObject"),
        ..rule("s3", &[], "s3:GetObjectVersion", VERSION)
    },
    Rule {
        instead_of: Some("s3:DeleteObject"),
        ..rule("s3", &[], "s3:DeleteObjectVersion", VERSION)
    },
    Rule {
        instead_of: Some("s3:GetObjectAcl"),
        ..rule("s3", &[], "s3:GetObjectVersionAcl", VERSION)
    },
    Rule {
        instead_of: Some("s3:PutObjectAcl"),
        ..rule("s3", &[], "s3:PutObjectVersionAcl", VERSION)
    },
    Rule {
        instead_of: Some("s3:GetObjectTagging"),
        ..rule("s3", &[], "s3:GetObjectVersionTagging", VERSION)
    },
    Rule {
        instead_of: Some("s3:PutObjectTagging"),
        ..rule("s3", &[], "s3:PutObjectVersionTagging", VERSION)
    },
    Rule {
        instead_of: Some("s3:DeleteObjectTagging"),
        ..rule("s3", &[], "s3:DeleteObjectVersionTagging", VERSION)
    },
    // Headers that set more than the object: an ACL, tags, Object Lock settings.
    rule("s3", &[], "s3:PutObjectAcl", ACL),
    rule("s3", &[], "s3:PutBucketAcl", ACL),
    rule("s3", &[], "s3:PutObjectTagging", When::Any(&["Tagging"])),
    rule(
        "s3",
        &[],
        "s3:PutObjectLegalHold",
        When::Any(&["ObjectLockLegalHoldStatus"]),
    ),
    rule(
        "s3",
        &[],
        "s3:PutObjectRetention",
        When::Any(&["ObjectLockMode", "ObjectLockRetainUntilDate"]),
    ),
    Rule {
        bind: &[("ObjectName", &[M("Delete.Objects[].Key")])],
        ..rule(
            "s3",
            &["DeleteObjects"],
            "s3:BypassGovernanceRetention",
            When::True("BypassGovernanceRetention"),
        )
    },
    rule(
        "s3",
        &[],
        "s3:BypassGovernanceRetention",
        When::True("BypassGovernanceRetention"),
    ),
    // CreateBucket: Object Lock turns versioning on; ObjectOwnership sets ownership controls.
    rule(
        "s3",
        &["CreateBucket"],
        "s3:PutBucketObjectLockConfiguration",
        When::True("ObjectLockEnabledForBucket"),
    ),
    rule(
        "s3",
        &["CreateBucket"],
        "s3:PutBucketVersioning",
        When::True("ObjectLockEnabledForBucket"),
    ),
    rule(
        "s3",
        &["CreateBucket"],
        "s3:PutBucketOwnershipControls",
        When::Any(&["ObjectOwnership"]),
    ),
    Rule {
        bind: &[("RoleNameWithPath", &[M("ReplicationConfiguration.Role")])],
        ..rule(
            "s3",
            &[],
            "iam:PassRole",
            When::Any(&["ReplicationConfiguration.Role"]),
        )
    },
    // --- SQS --------------------------------------------------------------------------------------
    // A redrive reads and deletes from the source queue and sends to the destination (when the
    // request names one; without, to each message's original queue, unknown here).
    rule(
        "sqs",
        &["StartMessageMoveTask"],
        "sqs:ReceiveMessage",
        When::Always,
    ),
    rule(
        "sqs",
        &["StartMessageMoveTask"],
        "sqs:DeleteMessage",
        When::Always,
    ),
    rule(
        "sqs",
        &["StartMessageMoveTask"],
        "sqs:GetQueueAttributes",
        When::Always,
    ),
    Rule {
        bind: &[("QueueName", &[Arn("DestinationArn")])],
        ..rule(
            "sqs",
            &["StartMessageMoveTask"],
            "sqs:SendMessage",
            When::Any(&["DestinationArn"]),
        )
    },
    // --- STS --------------------------------------------------------------------------------------
    rule(
        "sts",
        &[],
        "sts:TagSession",
        When::Any(&["Tags", "TransitiveTagKeys"]),
    ),
    rule(
        "sts",
        &[],
        "sts:SetSourceIdentity",
        When::Any(&["SourceIdentity"]),
    ),
    rule(
        "sts",
        &[],
        "sts:SetContext",
        When::Any(&["ProvidedContexts"]),
    ),
    // --- Lambda -----------------------------------------------------------------------------------
    Rule {
        bind: &[("RoleNameWithPath", &[M("Role")])],
        ..rule("lambda", &[], "iam:PassRole", When::Any(&["Role"]))
    },
    Rule {
        bind: &[
            ("LayerName", &[Arn("Layers[]")]),
            ("LayerVersion", &[Arn("Layers[]")]),
        ],
        ..rule(
            "lambda",
            &["CreateFunction", "UpdateFunctionConfiguration"],
            "lambda:GetLayerVersion",
            When::Any(&["Layers[]"]),
        )
    },
    // --- CloudWatch Logs --------------------------------------------------------------------------
    // logs:TagLogGroup is deprecated: CreateLogGroup with tags needs logs:TagResource.
    rule("logs", &["CreateLogGroup"], "logs:TagLogGroup", When::Never),
    Rule {
        bind: &[(
            "RoleNameWithPath",
            &[M("roleArn"), M("importRoleArn"), M("executionRoleArn")],
        )],
        ..rule(
            "logs",
            &[],
            "iam:PassRole",
            When::Any(&["roleArn", "importRoleArn", "executionRoleArn"]),
        )
    },
    // --- IAM --------------------------------------------------------------------------------------
    rule(
        "iam",
        &["AddRoleToInstanceProfile"],
        "iam:PassRole",
        When::Always,
    ),
    // --- ECR --------------------------------------------------------------------------------------
    Rule {
        bind: &[("RoleNameWithPath", &[M("customRoleArn")])],
        ..rule("ecr", &[], "iam:PassRole", When::Any(&["customRoleArn"]))
    },
    // --- DynamoDB ---------------------------------------------------------------------------------
    Rule {
        bind: &[("TableName", &[M("RequestItems{}")])],
        ..rule(
            "dynamodb",
            &["BatchGetItem"],
            "dynamodb:BatchGetItem",
            When::Always,
        )
    },
    Rule {
        bind: &[("TableName", &[M("RequestItems{}")])],
        ..rule(
            "dynamodb",
            &["BatchWriteItem"],
            "dynamodb:BatchWriteItem",
            When::Always,
        )
    },
    Rule {
        bind: &[("TableName", &[M("TransactItems[].Get.TableName")])],
        ..rule(
            "dynamodb",
            &["TransactGetItems"],
            "dynamodb:GetItem",
            When::Always,
        )
    },
    Rule {
        bind: &[("TableName", &[M(TRANSACT_PUT[0])])],
        ..rule(
            "dynamodb",
            &["TransactWriteItems"],
            "dynamodb:PutItem",
            When::Any(TRANSACT_PUT),
        )
    },
    Rule {
        bind: &[("TableName", &[M(TRANSACT_UPDATE[0])])],
        ..rule(
            "dynamodb",
            &["TransactWriteItems"],
            "dynamodb:UpdateItem",
            When::Any(TRANSACT_UPDATE),
        )
    },
    Rule {
        bind: &[("TableName", &[M(TRANSACT_DELETE[0])])],
        ..rule(
            "dynamodb",
            &["TransactWriteItems"],
            "dynamodb:DeleteItem",
            When::Any(TRANSACT_DELETE),
        )
    },
    Rule {
        bind: &[("TableName", &[M(TRANSACT_CHECK[0])])],
        ..rule(
            "dynamodb",
            &["TransactWriteItems"],
            "dynamodb:ConditionCheckItem",
            When::Any(TRANSACT_CHECK),
        )
    },
    Rule {
        bind: &[("TableName", &[M("SourceTableArn"), M("SourceTableName")])],
        ..rule(
            "dynamodb",
            &["RestoreTableToPointInTime"],
            "dynamodb:RestoreTableToPointInTime",
            When::Always,
        )
    },
    rule(
        "dynamodb",
        &["CreateTable"],
        "dynamodb:PutResourcePolicy",
        When::Any(&["ResourcePolicy"]),
    ),
    // --- SNS --------------------------------------------------------------------------------------
    Rule {
        bind: &[("RoleNameWithPath", &[M("AttributeValue")])],
        ..rule(
            "sns",
            &["SetTopicAttributes", "SetSubscriptionAttributes"],
            "iam:PassRole",
            When::EndsWith("AttributeName", "RoleArn"),
        )
    },
    Rule {
        bind: &[("RoleNameWithPath", SNS_ROLE_SOURCES)],
        ..rule("sns", &[], "iam:PassRole", When::Any(SNS_ROLE_ATTRIBUTES))
    },
    rule(
        "sns",
        &["CreateTopic"],
        "sns:PutDataProtectionPolicy",
        When::Any(&["DataProtectionPolicy"]),
    ),
    // --- EventBridge ------------------------------------------------------------------------------
    Rule {
        bind: &[("RoleNameWithPath", &[M("RoleArn"), M("Targets[].RoleArn")])],
        ..rule(
            "events",
            &[],
            "iam:PassRole",
            When::Any(&["RoleArn", "Targets[].RoleArn"]),
        )
    },
    // --- every service ----------------------------------------------------------------------------
    // Tags given at creation need the service's tagging action too.
    rule("*", &[], "*:Tag*", When::Any(&["Tags", "tags"])),
];

impl Rule {
    /// Whether the rule is about this action in this operation. `listed`: the reference lists the
    /// action for the operation (rules without operations apply only then).
    pub(crate) fn covers(
        &self,
        service: &str,
        operation: &str,
        action: &str,
        listed: bool,
    ) -> bool {
        (self.service == "*" || self.service == service)
            && (if self.ops.is_empty() {
                listed
            } else {
                self.ops.contains(&operation)
            })
            && action_matches(self.action, action)
    }
}

fn action_matches(pattern: &str, action: &str) -> bool {
    let (Some((pp, pn)), Some((ap, an))) = (pattern.split_once(':'), action.split_once(':')) else {
        return false;
    };
    (pp == "*" || pp == ap)
        && match pn.strip_suffix('*') {
            Some(start) => an.starts_with(start),
            None => pn == an,
        }
}

/// The first rule about an action in an operation.
pub(crate) fn rule_for(
    service: &str,
    operation: &str,
    action: &str,
    listed: bool,
) -> Option<&'static Rule> {
    RULES
        .iter()
        .find(|r| r.covers(service, operation, action, listed))
}

/// Where an action's variables come from in an operation, ahead of the general table.
pub(crate) fn bind_for(
    service: &str,
    operation: &str,
    action: &str,
) -> &'static [(&'static str, &'static [Src])] {
    RULES
        .iter()
        .find(|r| !r.bind.is_empty() && r.covers(service, operation, action, true))
        .map_or(&[], |r| r.bind)
}

/// Actions that rules name for this very operation (whether or not the reference lists them).
pub(crate) fn named_for(service: &str, operation: &str) -> impl Iterator<Item = &'static str> {
    RULES.iter().filter_map(move |r| {
        (r.service == service && r.ops.contains(&operation) && !r.action.contains('*'))
            .then_some(r.action)
    })
}

/// One PartiQL statement: its action and the table (and index) it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    pub(crate) action: &'static str,
    pub(crate) table: Option<String>,
    pub(crate) index: Option<String>,
}

/// Reads a PartiQL statement far enough to authorize it: `SELECT ... FROM "T"."I"`,
/// `INSERT INTO "T" VALUE {...}`, `UPDATE "T" SET ...`, `DELETE FROM "T" WHERE ...`.
pub(crate) fn partiql(statement: &str) -> Option<Statement> {
    let tokens = tokens(statement);
    let verb = tokens.first()?;
    let (action, keyword) = match verb.to_ascii_uppercase().as_str() {
        "SELECT" => ("dynamodb:PartiQLSelect", Some("FROM")),
        "INSERT" => ("dynamodb:PartiQLInsert", Some("INTO")),
        "UPDATE" => ("dynamodb:PartiQLUpdate", None),
        "DELETE" => ("dynamodb:PartiQLDelete", Some("FROM")),
        _ => return None,
    };
    let name_at = match keyword {
        None => Some(1),
        Some(k) => tokens
            .iter()
            .position(|t| t.eq_ignore_ascii_case(k))
            .map(|i| i + 1),
    };
    let name = name_at.and_then(|i| tokens.get(i));
    let (table, index) = match name {
        Some(name) => {
            let mut parts = split_name(name).into_iter();
            (parts.next(), parts.next())
        }
        None => (None, None),
    };
    Some(Statement {
        action,
        table,
        index,
    })
}

/// Words and quoted names at the top level of a statement; single-quoted strings are skipped and
/// brackets end a word. A double-quoted name keeps its quotes (so that `"a.b"` stays one part).
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                current.push(c);
                for d in chars.by_ref() {
                    current.push(d);
                    if d == '"' {
                        break;
                    }
                }
            }
            '\'' => {
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                }
            }
            c if c.is_whitespace() || "(){}[],;<>=".contains(c) => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `"T"."I"`, `T.I`, `"T"` or `T` into its parts, unquoted.
fn split_name(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in name.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    parts.retain(|p| !p.is_empty());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partiql_statements_name_their_action_and_table() {
        let s = partiql(r#"SELECT * FROM "Music"."ByArtist" WHERE Artist = 'a FROM b'"#)
            .expect("a select");
        assert_eq!(s.action, "dynamodb:PartiQLSelect");
        assert_eq!(s.table.as_deref(), Some("Music"));
        assert_eq!(s.index.as_deref(), Some("ByArtist"));
        let s = partiql("insert into Music value {'Artist': 'x'}").expect("an insert");
        assert_eq!(
            (s.action, s.table.as_deref(), s.index),
            ("dynamodb:PartiQLInsert", Some("Music"), None)
        );
        let s = partiql(r#"UPDATE "my.table" SET a = 1 WHERE k = 'x'"#).expect("an update");
        assert_eq!(
            (s.action, s.table.as_deref()),
            ("dynamodb:PartiQLUpdate", Some("my.table"))
        );
        let s = partiql(r#"DELETE FROM "T" WHERE k = ?"#).expect("a delete");
        assert_eq!(
            (s.action, s.table.as_deref()),
            ("dynamodb:PartiQLDelete", Some("T"))
        );
        assert_eq!(partiql("EXISTS(SELECT * FROM T)"), None);
        assert_eq!(partiql(""), None);
        let s = partiql("SELECT a").expect("a select without FROM");
        assert_eq!(s.table, None);
    }

    #[test]
    fn action_patterns() {
        assert!(action_matches("*:Tag*", "iam:TagUser"));
        assert!(action_matches("*:Tag*", "sqs:TagQueue"));
        assert!(!action_matches("*:Tag*", "s3:PutObjectTagging"));
        assert!(action_matches("s3:GetObject", "s3:GetObject"));
        assert!(!action_matches("s3:GetObject", "s3:GetObjectAcl"));
        assert!(!action_matches("s3:GetObject", "nonsense"));
    }
}

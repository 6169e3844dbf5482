//! The catalog of AWS services the router can recognise, implemented or not: their ids, SigV4 signing
//! names, endpoint (host) prefixes, `X-Amz-Target` prefixes, protocols and (for query-protocol services)
//! the actions that identify them in unsigned requests. Recognising a service Skyport does not implement
//! lets the router answer in the protocol the client expects instead of with a bare 404.

use skyport_core::Protocol;

/// One AWS service as the router sees it.
#[derive(Debug)]
pub struct ServiceDef {
    /// The service id used in logs, health and `SERVICES` (`s3`, `sqs`, `sts`, ...).
    pub id: &'static str,
    /// SigV4 signing names (credential scope service).
    pub signing_names: &'static [&'static str],
    /// Host prefixes (`sqs` in `sqs.us-east-1.amazonaws.com`).
    pub endpoint_prefixes: &'static [&'static str],
    /// `X-Amz-Target` prefixes (`AmazonSQS` in `AmazonSQS.SendMessage`).
    pub target_prefixes: &'static [&'static str],
    /// Protocols, preferred first.
    pub protocols: &'static [Protocol],
    /// Query-protocol actions unique enough to identify the service without a signature.
    pub actions: &'static [&'static str],
}

use Protocol::*;

const STS_ACTIONS: &[&str] = &[
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "AssumeRoot",
    "DecodeAuthorizationMessage",
    "GetAccessKeyInfo",
    "GetCallerIdentity",
    "GetDelegatedAccessToken",
    "GetFederationToken",
    "GetSessionToken",
    "GetWebIdentityToken",
];

const SNS_ACTIONS: &[&str] = &[
    "CreateTopic",
    "DeleteTopic",
    "ListTopics",
    "Publish",
    "PublishBatch",
    "Subscribe",
    "Unsubscribe",
    "ListSubscriptions",
    "ListSubscriptionsByTopic",
    "GetTopicAttributes",
    "SetTopicAttributes",
    "GetSubscriptionAttributes",
    "SetSubscriptionAttributes",
    "ConfirmSubscription",
];

const IAM_ACTIONS: &[&str] = &[
    "CreateRole",
    "GetRole",
    "DeleteRole",
    "ListRoles",
    "CreateUser",
    "GetUser",
    "ListUsers",
    "DeleteUser",
    "CreatePolicy",
    "GetPolicy",
    "ListPolicies",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "PutRolePolicy",
    "CreateAccessKey",
    "ListAccessKeys",
];

/// Every service the router recognises.
pub static SERVICES: &[ServiceDef] = &[
    ServiceDef {
        id: "s3",
        signing_names: &["s3"],
        endpoint_prefixes: &["s3"],
        target_prefixes: &[],
        protocols: &[RestXml],
        actions: &[],
    },
    ServiceDef {
        id: "sqs",
        signing_names: &["sqs"],
        endpoint_prefixes: &["sqs"],
        target_prefixes: &["AmazonSQS"],
        protocols: &[Json10, Query],
        actions: skyport_core::operations::SQS,
    },
    ServiceDef {
        id: "sts",
        signing_names: &["sts"],
        endpoint_prefixes: &["sts"],
        target_prefixes: &["AWSSecurityTokenServiceV20110615"],
        protocols: &[Query],
        actions: STS_ACTIONS,
    },
    ServiceDef {
        id: "lambda",
        signing_names: &["lambda"],
        endpoint_prefixes: &["lambda", "lambda-url"],
        target_prefixes: &[],
        protocols: &[RestJson],
        actions: &[],
    },
    ServiceDef {
        id: "dynamodb",
        signing_names: &["dynamodb"],
        endpoint_prefixes: &["dynamodb"],
        target_prefixes: &["DynamoDB_20120810"],
        protocols: &[Json10],
        actions: &[],
    },
    ServiceDef {
        id: "dynamodbstreams",
        signing_names: &[],
        endpoint_prefixes: &["streams.dynamodb", "streams"],
        target_prefixes: &["DynamoDBStreams_20120810"],
        protocols: &[Json10],
        actions: &[],
    },
    ServiceDef {
        id: "logs",
        signing_names: &["logs"],
        endpoint_prefixes: &["logs"],
        target_prefixes: &["Logs_20140328"],
        protocols: &[Json11],
        actions: &[],
    },
    ServiceDef {
        id: "ecr",
        signing_names: &["ecr"],
        endpoint_prefixes: &["ecr", "api.ecr"],
        target_prefixes: &["AmazonEC2ContainerRegistry_V20150921"],
        protocols: &[Json11],
        actions: &[],
    },
    ServiceDef {
        id: "iam",
        signing_names: &["iam"],
        endpoint_prefixes: &["iam"],
        target_prefixes: &[],
        protocols: &[Query],
        actions: IAM_ACTIONS,
    },
    ServiceDef {
        id: "sns",
        signing_names: &["sns"],
        endpoint_prefixes: &["sns"],
        target_prefixes: &[],
        protocols: &[Query],
        actions: SNS_ACTIONS,
    },
    ServiceDef {
        id: "kms",
        signing_names: &["kms"],
        endpoint_prefixes: &["kms"],
        target_prefixes: &["TrentService"],
        protocols: &[Json11],
        actions: &[],
    },
    ServiceDef {
        id: "secretsmanager",
        signing_names: &["secretsmanager"],
        endpoint_prefixes: &["secretsmanager"],
        target_prefixes: &["secretsmanager"],
        protocols: &[Json11],
        actions: &[],
    },
    ServiceDef {
        id: "ssm",
        signing_names: &["ssm"],
        endpoint_prefixes: &["ssm"],
        target_prefixes: &["AmazonSSM"],
        protocols: &[Json11],
        actions: &[],
    },
    ServiceDef {
        id: "kinesis",
        signing_names: &["kinesis"],
        endpoint_prefixes: &["kinesis"],
        target_prefixes: &["Kinesis_20131202"],
        protocols: &[Json11],
        actions: &[],
    },
    ServiceDef {
        id: "firehose",
        signing_names: &["firehose"],
        endpoint_prefixes: &["firehose"],
        target_prefixes: &["Firehose_20150804"],
        protocols: &[Json11],
        actions: &[],
    },
    ServiceDef {
        id: "events",
        signing_names: &["events"],
        endpoint_prefixes: &["events"],
        target_prefixes: &["AWSEvents"],
        protocols: &[Json11],
        actions: &[],
    },
    ServiceDef {
        id: "stepfunctions",
        signing_names: &["states"],
        endpoint_prefixes: &["states"],
        target_prefixes: &["AWSStepFunctions"],
        protocols: &[Json10],
        actions: &[],
    },
    ServiceDef {
        id: "cloudformation",
        signing_names: &["cloudformation"],
        endpoint_prefixes: &["cloudformation"],
        target_prefixes: &[],
        protocols: &[Query],
        actions: &[
            "CreateStack",
            "DescribeStacks",
            "DeleteStack",
            "ListStacks",
            "UpdateStack",
            "CreateChangeSet",
            "ExecuteChangeSet",
        ],
    },
    ServiceDef {
        id: "cloudwatch",
        signing_names: &["monitoring"],
        endpoint_prefixes: &["monitoring"],
        target_prefixes: &["GraniteServiceVersion20100801"],
        protocols: &[Json10, Query],
        actions: &[
            "PutMetricData",
            "GetMetricData",
            "ListMetrics",
            "PutMetricAlarm",
            "DescribeAlarms",
        ],
    },
    ServiceDef {
        id: "ses",
        signing_names: &["ses", "email"],
        endpoint_prefixes: &["email"],
        target_prefixes: &[],
        protocols: &[Query],
        actions: &[
            "SendEmail",
            "SendRawEmail",
            "VerifyEmailIdentity",
            "ListIdentities",
        ],
    },
    ServiceDef {
        id: "ec2",
        signing_names: &["ec2"],
        endpoint_prefixes: &["ec2"],
        target_prefixes: &[],
        protocols: &[Ec2],
        actions: &[
            "DescribeInstances",
            "RunInstances",
            "DescribeVpcs",
            "DescribeSubnets",
            "DescribeSecurityGroups",
            "DescribeRegions",
        ],
    },
    ServiceDef {
        id: "route53",
        signing_names: &["route53"],
        endpoint_prefixes: &["route53"],
        target_prefixes: &[],
        protocols: &[RestXml],
        actions: &[],
    },
    ServiceDef {
        id: "apigateway",
        signing_names: &["apigateway", "execute-api"],
        endpoint_prefixes: &["apigateway", "execute-api"],
        target_prefixes: &[],
        protocols: &[RestJson],
        actions: &[],
    },
    ServiceDef {
        id: "opensearch",
        signing_names: &["es"],
        endpoint_prefixes: &["es"],
        target_prefixes: &[],
        protocols: &[RestJson],
        actions: &[],
    },
    ServiceDef {
        id: "cognito-idp",
        signing_names: &["cognito-idp"],
        endpoint_prefixes: &["cognito-idp"],
        target_prefixes: &["AWSCognitoIdentityProviderService"],
        protocols: &[Json11],
        actions: &[],
    },
    ServiceDef {
        id: "acm",
        signing_names: &["acm"],
        endpoint_prefixes: &["acm"],
        target_prefixes: &["CertificateManager"],
        protocols: &[Json11],
        actions: &[],
    },
    ServiceDef {
        id: "ecs",
        signing_names: &["ecs"],
        endpoint_prefixes: &["ecs"],
        target_prefixes: &["AmazonEC2ContainerServiceV20141113"],
        protocols: &[Json11],
        actions: &[],
    },
];

/// The service with id `id`.
pub fn by_id(id: &str) -> Option<&'static ServiceDef> {
    SERVICES.iter().find(|s| s.id == id)
}

/// The service a SigV4 signing name belongs to.
pub fn by_signing_name(name: &str) -> Option<&'static ServiceDef> {
    SERVICES.iter().find(|s| s.signing_names.contains(&name))
}

/// The service an `X-Amz-Target` prefix belongs to.
pub fn by_target_prefix(prefix: &str) -> Option<&'static ServiceDef> {
    SERVICES
        .iter()
        .find(|s| s.target_prefixes.contains(&prefix))
}

/// The service a host endpoint prefix belongs to.
pub fn by_endpoint_prefix(prefix: &str) -> Option<&'static ServiceDef> {
    SERVICES
        .iter()
        .find(|s| s.endpoint_prefixes.contains(&prefix))
}

/// The service a query-protocol `Action` belongs to (first match wins; actions are listed only where
/// they are unambiguous).
pub fn by_action(action: &str) -> Option<&'static ServiceDef> {
    SERVICES.iter().find(|s| s.actions.contains(&action))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_unambiguous() {
        for s in SERVICES {
            for a in s.actions {
                assert_eq!(by_action(a).map(|d| d.id), Some(s.id), "action {a}");
            }
            for t in s.target_prefixes {
                assert_eq!(by_target_prefix(t).map(|d| d.id), Some(s.id), "target {t}");
            }
            for n in s.signing_names {
                assert_eq!(
                    by_signing_name(n).map(|d| d.id),
                    Some(s.id),
                    "signing name {n}"
                );
            }
        }
        assert_eq!(
            by_signing_name("states").map(|d| d.id),
            Some("stepfunctions")
        );
    }
}

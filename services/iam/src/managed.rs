//! Managed policy ARNs, and the AWS managed policies Skyport knows.
//!
//! AWS managed policies (`arn:aws:iam::aws:policy/...`) exist in every account without being created.
//! Skyport keeps a small catalog of commonly used ones with their paths and documents: a catalog name
//! under the wrong path is refused as AWS refuses it (`.../policy/AWSLambdaBasicExecutionRole` lacks
//! `service-role/`), and any other well-formed AWS ARN is accepted, so deploy scripts that attach
//! policies Skyport has never heard of still work.

/// A parsed managed policy ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyArn {
    /// The partition (`aws`, `aws-cn`, ...).
    pub partition: String,
    /// The owning account, or `None` for an AWS managed policy.
    pub account: Option<String>,
    /// The path, `/` or `/a/b/`.
    pub path: String,
    /// The policy name.
    pub name: String,
}

impl PolicyArn {
    /// Parses `arn:<partition>:iam::<account|aws>:policy<path><name>`.
    pub fn parse(text: &str) -> Option<PolicyArn> {
        let rest = text.strip_prefix("arn:")?;
        let (partition, rest) = rest.split_once(':')?;
        if !partition.starts_with("aws") {
            return None;
        }
        let rest = rest.strip_prefix("iam::")?;
        let (account, resource) = rest.split_once(':')?;
        let account = match account {
            "aws" => None,
            a if skyport_core::arn::is_account_id(a) => Some(a.to_owned()),
            _ => return None,
        };
        let resource = resource.strip_prefix("policy/")?;
        let (dirs, name) = match resource.rsplit_once('/') {
            Some((dirs, name)) => (Some(dirs), name),
            None => (None, resource),
        };
        if !valid_name(name) {
            return None;
        }
        let path = match dirs {
            None => "/".to_owned(),
            Some(dirs) => {
                if dirs.split('/').any(|d| d.is_empty() || !valid_path_part(d)) {
                    return None;
                }
                format!("/{dirs}/")
            }
        };
        Some(PolicyArn {
            partition: partition.to_owned(),
            account,
            path,
            name: name.to_owned(),
        })
    }

    /// True for an AWS managed policy.
    pub fn is_aws(&self) -> bool {
        self.account.is_none()
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "_+=,.@-".contains(c))
}

fn valid_path_part(part: &str) -> bool {
    part.chars()
        .all(|c| c.is_ascii_alphanumeric() || ".,+@=_-".contains(c))
}

/// An AWS managed policy Skyport knows.
#[derive(Debug)]
pub struct Known {
    /// Its name.
    pub name: &'static str,
    /// Its path.
    pub path: &'static str,
    /// Its description.
    pub description: &'static str,
    /// Its default version's document.
    pub document: &'static str,
}

/// The catalog.
pub const CATALOG: &[Known] = &[
    Known {
        name: "AdministratorAccess",
        path: "/",
        description: "Provides full access to AWS services and resources.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    },
    Known {
        name: "AmazonDynamoDBFullAccess",
        path: "/",
        description: "Provides full access to Amazon DynamoDB via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:*","dax:*"],"Resource":"*"}]}"#,
    },
    Known {
        name: "AmazonDynamoDBReadOnlyAccess",
        path: "/",
        description: "Provides read only access to Amazon DynamoDB via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:BatchGetItem","dynamodb:Describe*","dynamodb:List*","dynamodb:GetItem","dynamodb:Query","dynamodb:Scan","dynamodb:PartiQLSelect"],"Resource":"*"}]}"#,
    },
    Known {
        name: "AmazonEC2ContainerRegistryReadOnly",
        path: "/",
        description: "Provides read-only access to Amazon EC2 Container Registry repositories.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:GetAuthorizationToken","ecr:BatchCheckLayerAvailability","ecr:GetDownloadUrlForLayer","ecr:GetRepositoryPolicy","ecr:DescribeRepositories","ecr:ListImages","ecr:DescribeImages","ecr:BatchGetImage","ecr:GetLifecyclePolicy","ecr:GetLifecyclePolicyPreview","ecr:ListTagsForResource","ecr:DescribeImageScanFindings"],"Resource":"*"}]}"#,
    },
    Known {
        name: "AmazonS3FullAccess",
        path: "/",
        description: "Provides full access to all buckets via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","s3-object-lambda:*"],"Resource":"*"}]}"#,
    },
    Known {
        name: "AmazonS3ReadOnlyAccess",
        path: "/",
        description: "Provides read only access to all buckets via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*","s3:Describe*","s3-object-lambda:Get*","s3-object-lambda:List*"],"Resource":"*"}]}"#,
    },
    Known {
        name: "AmazonSNSFullAccess",
        path: "/",
        description: "Provides full access to Amazon SNS via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sns:*"],"Resource":"*"}]}"#,
    },
    Known {
        name: "AmazonSQSFullAccess",
        path: "/",
        description: "Provides full access to Amazon SQS via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:*"],"Resource":"*"}]}"#,
    },
    Known {
        name: "AmazonSQSReadOnlyAccess",
        path: "/",
        description: "Provides read only access to Amazon SQS via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:GetQueueAttributes","sqs:GetQueueUrl","sqs:ListDeadLetterSourceQueues","sqs:ListQueues","sqs:ListMessageMoveTasks","sqs:ListQueueTags"],"Resource":"*"}]}"#,
    },
    Known {
        name: "AWSLambdaBasicExecutionRole",
        path: "/service-role/",
        description: "Provides write permissions to CloudWatch Logs.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:CreateLogGroup","logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"}]}"#,
    },
    Known {
        name: "AWSLambdaDynamoDBExecutionRole",
        path: "/service-role/",
        description: "Provides list and read access to DynamoDB streams and write permissions to CloudWatch logs.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:DescribeStream","dynamodb:GetRecords","dynamodb:GetShardIterator","dynamodb:ListStreams","logs:CreateLogGroup","logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"}]}"#,
    },
    Known {
        name: "AWSLambdaExecute",
        path: "/",
        description: "Provides Put, Get access to S3 and full access to CloudWatch Logs.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:*"],"Resource":"arn:aws:logs:*:*:*"},{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::*"}]}"#,
    },
    Known {
        name: "AWSLambdaRole",
        path: "/service-role/",
        description: "Default policy for AWS Lambda service role.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["lambda:InvokeFunction"],"Resource":["*"]}]}"#,
    },
    Known {
        name: "AWSLambdaSQSQueueExecutionRole",
        path: "/service-role/",
        description: "Provides receive message, delete message, and read attribute access to SQS queues, and write permissions to CloudWatch logs.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:ReceiveMessage","sqs:DeleteMessage","sqs:GetQueueAttributes","logs:CreateLogGroup","logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"}]}"#,
    },
    Known {
        name: "AWSLambdaVPCAccessExecutionRole",
        path: "/service-role/",
        description: "Provides minimum permissions for a Lambda function to execute while accessing a resource within a VPC - create, describe, delete network interfaces and write permissions to CloudWatch Logs.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:CreateLogGroup","logs:CreateLogStream","logs:PutLogEvents","ec2:CreateNetworkInterface","ec2:DescribeNetworkInterfaces","ec2:DescribeSubnets","ec2:DeleteNetworkInterface","ec2:AssignPrivateIpAddresses","ec2:UnassignPrivateIpAddresses"],"Resource":"*"}]}"#,
    },
    Known {
        name: "AWSLambda_FullAccess",
        path: "/",
        description: "Grants full access to AWS Lambda service, AWS Lambda console features, and other related AWS services.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["lambda:*","logs:DescribeLogGroups","logs:DescribeLogStreams","logs:GetLogEvents","logs:FilterLogEvents"],"Resource":"*"}]}"#,
    },
    Known {
        name: "AWSXRayDaemonWriteAccess",
        path: "/",
        description: "Allow the AWS X-Ray Daemon to relay raw trace segments data to the service's API and retrieve sampling data (rules, targets, etc.) to be used by the X-Ray SDK.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["xray:PutTraceSegments","xray:PutTelemetryRecords","xray:GetSamplingRules","xray:GetSamplingTargets","xray:GetSamplingStatisticSummaries"],"Resource":["*"]}]}"#,
    },
    Known {
        name: "CloudWatchLogsFullAccess",
        path: "/",
        description: "Provides full access to CloudWatch Logs",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:*"],"Resource":"*"}]}"#,
    },
    Known {
        name: "IAMFullAccess",
        path: "/",
        description: "Provides full access to IAM via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*","organizations:DescribeAccount","organizations:DescribeOrganization","organizations:DescribeOrganizationalUnit","organizations:DescribePolicy","organizations:ListChildren","organizations:ListParents","organizations:ListPoliciesForTarget","organizations:ListRoots","organizations:ListPolicies","organizations:ListTargetsForPolicy"],"Resource":"*"}]}"#,
    },
    Known {
        name: "PowerUserAccess",
        path: "/",
        description: "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":["iam:*","organizations:*","account:*"],"Resource":"*"},{"Effect":"Allow","Action":["iam:CreateServiceLinkedRole","iam:DeleteServiceLinkedRole","iam:ListRoles","organizations:DescribeOrganization","account:ListRegions","account:GetAccountInformation"],"Resource":"*"}]}"#,
    },
    Known {
        name: "ReadOnlyAccess",
        path: "/",
        description: "Provides read-only access to AWS services and resources.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["*:Describe*","*:Get*","*:List*"],"Resource":"*"}]}"#,
    },
    Known {
        name: "SecretsManagerReadWrite",
        path: "/",
        description: "Provides read/write access to AWS Secrets Manager via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:*","kms:DescribeKey","kms:ListAliases","kms:ListKeys"],"Resource":"*"}]}"#,
    },
];

/// The catalog entry named `name`.
pub fn known(name: &str) -> Option<&'static Known> {
    CATALOG.iter().find(|k| k.name == name)
}

/// Whether an AWS managed policy ARN names a policy that exists: catalog names only under their
/// own path; other names under any path.
pub fn aws_policy_exists(arn: &PolicyArn) -> bool {
    match known(&arn.name) {
        Some(k) => k.path == arn.path,
        None => true,
    }
}

/// The ARN of an AWS managed policy.
pub fn aws_arn(partition: &str, path: &str, name: &str) -> String {
    format!("arn:{partition}:iam::aws:policy{path}{name}")
}

/// When AWS created most of its original managed policies (`2015-02-06T18:40:58Z`): the creation and
/// update date Skyport reports for them.
pub const AWS_POLICY_DATE: i64 = 1_423_248_058;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_policy_arns() {
        let a =
            PolicyArn::parse("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
                .unwrap();
        assert!(a.is_aws());
        assert_eq!(a.path, "/service-role/");
        assert_eq!(a.name, "AWSLambdaBasicExecutionRole");
        assert!(aws_policy_exists(&a));
        let wrong =
            PolicyArn::parse("arn:aws:iam::aws:policy/AWSLambdaBasicExecutionRole").unwrap();
        assert!(!aws_policy_exists(&wrong));
        let local = PolicyArn::parse("arn:aws:iam::123456789012:policy/team/a/p1").unwrap();
        assert_eq!(local.account.as_deref(), Some("123456789012"));
        assert_eq!(local.path, "/team/a/");
        assert_eq!(local.name, "p1");
        for bad in [
            "arn:aws:iam::aws:role/x",
            "arn:aws:iam::12345:policy/x",
            "arn:aws:s3:::policy/x",
            "arn:aws:iam::aws:policy/",
            "arn:aws:iam::aws:policy//x",
            "arn:aws:iam::aws:policy/a b",
            "policy/x",
        ] {
            assert_eq!(PolicyArn::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn catalog_documents_are_valid() {
        for k in CATALOG {
            crate::document::validate(k.document, crate::document::Purpose::Identity)
                .unwrap_or_else(|e| panic!("{}: {e}", k.name));
        }
    }
}

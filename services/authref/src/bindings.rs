//! Which input members carry each ARN template variable: the one hand-kept table of this crate. The
//! reference says which resource types an action applies to and how their ARNs are built
//! (`arn:${Partition}:sqs:${Region}:${Account}:${QueueName}`); it does not say where a request carries
//! `${QueueName}`. [`BINDINGS`] does, per service prefix and variable, in SDK model member names.
//!
//! A member that holds a full ARN is used as it is: the ARN is matched against the template being
//! filled (and so comes out unchanged), or else against the service's other templates to take the
//! variable out of it (a table ARN in `TableName` gives `${TableName}` for an index ARN), with its
//! partition, region and account. Members that hold the ARN of any of a service's resources
//! (`ResourceArn` and the like, see [`ARN_MEMBERS`]) are tried for every variable.
//!
//! Known limits: IAM names carry their path only where the request has a `Path` member (the `Create*`
//! operations); elsewhere `${RoleNameWithPath}` and its kin are the bare name, which matches policies
//! written for path-less entities (the common case) but not a resource pattern that spells the path.

use crate::data::Service;
use crate::inputs::Inputs;

/// Where a variable's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Src {
    /// The member's value, a name or an ARN (a path such as `Targets[].RoleArn` gives one per element).
    M(&'static str),
    /// The member's value only where it is an ARN (an access point ARN in S3's `Bucket`).
    Arn(&'static str),
    /// An SQS queue URL (`https://sqs.us-east-1.amazonaws.com/123456789012/q`): the queue name is the
    /// last path segment, the account the one before, the region the host's second label.
    QueueUrl(&'static str),
    /// A Lambda function: a name, a partial ARN (`123456789012:function:f`) or an ARN, each possibly
    /// with a `:qualifier`; the request's `Qualifier` member is appended to an unqualified one.
    Function(&'static str),
    /// An IAM name with the request's `Path` member in front (`/dev/` and `bob`: `dev/bob`).
    IamPath(&'static str),
    /// A URL without its scheme: the name of an OpenID Connect provider.
    UrlHost(&'static str),
    /// An SNS subscription ARN; its topic's ARN is the ARN without the last segment.
    Subscription(&'static str),
    /// S3's `x-amz-copy-source`: `bucket/key?versionId=v`, percent-encoded, or an access point ARN
    /// followed by `/object/key`.
    CopySource(&'static str),
    /// Each element's value, or the given value for an element without one (a `PutEvents` entry
    /// without `EventBusName` goes to the `default` bus).
    EachOr(&'static str, &'static str),
}

use Src::*;

/// Where one variable of one service's templates comes from.
pub(crate) struct Binding {
    pub(crate) service: &'static str,
    /// Only for this resource type; `None`: all of the service's.
    pub(crate) resource: Option<&'static str>,
    pub(crate) var: &'static str,
    /// Tried in order; the first that yields a value wins.
    pub(crate) sources: &'static [Src],
    /// The value when no source has one.
    pub(crate) default: Option<&'static str>,
    /// A value that means the resource type does not apply (a rule on the `default` bus is not a rule
    /// on a custom bus).
    pub(crate) except: Option<&'static str>,
}

const fn b(service: &'static str, var: &'static str, sources: &'static [Src]) -> Binding {
    Binding {
        service,
        resource: None,
        var,
        sources,
        default: None,
        except: None,
    }
}

/// Members that hold the ARN of one of the service's resources whatever the operation (tagging
/// operations, SQS message move tasks, DynamoDB streams and backups, whose ARNs also name the
/// table); tried for every variable after its own sources.
pub(crate) const ARN_MEMBERS: &[&str] = &["ResourceArn", "ResourceARN", "resourceArn", "Resource"];
const SQS_ARN_MEMBERS: &[&str] = &["SourceArn"];
const DYNAMODB_ARN_MEMBERS: &[&str] = &["StreamArn", "BackupArn", "ExportArn", "ImportArn"];

/// Variable -> input members, per service prefix. `Account` entries override the request's account
/// (ECR's `registryId`, SQS's `QueueOwnerAWSAccountId`); partition and region come from the scope
/// unless an ARN or URL in the input says otherwise.
pub(crate) const BINDINGS: &[Binding] = &[
    // S3: a bucket name, or an access point ARN in the same member.
    b("s3", "BucketName", &[M("Bucket")]),
    b("s3", "ObjectName", &[M("Key")]),
    b("s3", "AccessPointName", &[Arn("Bucket")]),
    // SQS: queues are addressed by URL, created and looked up by name.
    b("sqs", "QueueName", &[QueueUrl("QueueUrl"), M("QueueName")]),
    b("sqs", "Account", &[M("QueueOwnerAWSAccountId")]),
    // STS
    b("sts", "RoleNameWithPath", &[Arn("RoleArn")]),
    b("sts", "FederatedUserName", &[M("Name")]),
    b("sts", "Account", &[M("TargetPrincipal")]),
    // Lambda
    // A version or alias resource (provisioned concurrency) is the function and its `Qualifier`.
    Binding {
        resource: Some("function alias"),
        ..b("lambda", "FunctionName", &[M("FunctionName")])
    },
    Binding {
        resource: Some("function version"),
        ..b("lambda", "FunctionName", &[M("FunctionName")])
    },
    b("lambda", "Alias", &[M("Qualifier")]),
    b("lambda", "Version", &[M("Qualifier")]),
    b("lambda", "FunctionName", &[Function("FunctionName")]),
    b("lambda", "LayerName", &[M("LayerName"), Arn("Arn")]),
    b("lambda", "LayerVersion", &[M("VersionNumber"), Arn("Arn")]),
    b("lambda", "UUID", &[M("UUID")]),
    b(
        "lambda",
        "CodeSigningConfigId",
        &[Arn("CodeSigningConfigArn")],
    ),
    b(
        "lambda",
        "CapacityProviderName",
        &[M("CapacityProviderName")],
    ),
    // CloudWatch Logs: names or (newer operations) identifiers, which may be ARNs.
    b(
        "logs",
        "LogGroupName",
        &[
            M("logGroupName"),
            M("logGroupIdentifier"),
            M("logGroupNames[]"),
            M("logGroupIdentifiers[]"),
        ],
    ),
    b("logs", "LogStreamName", &[M("logStreamName")]),
    b("logs", "DestinationName", &[M("destinationName")]),
    b("logs", "DeliveryName", &[M("id")]),
    b(
        "logs",
        "DeliverySourceName",
        &[M("deliverySourceName"), M("name")],
    ),
    b(
        "logs",
        "DeliveryDestinationName",
        &[M("deliveryDestinationName"), M("name")],
    ),
    b("logs", "DetectorId", &[Arn("anomalyDetectorArn")]),
    // IAM: names (with the request's Path where it has one) or ARNs.
    b("iam", "UserNameWithPath", &[IamPath("UserName")]),
    b("iam", "RoleNameWithPath", &[IamPath("RoleName")]),
    b("iam", "GroupNameWithPath", &[IamPath("GroupName")]),
    b(
        "iam",
        "PolicyNameWithPath",
        &[Arn("PolicyArn"), IamPath("PolicyName")],
    ),
    b(
        "iam",
        "InstanceProfileNameWithPath",
        &[IamPath("InstanceProfileName")],
    ),
    b(
        "iam",
        "OidcProviderName",
        &[Arn("OpenIDConnectProviderArn"), UrlHost("Url")],
    ),
    b(
        "iam",
        "SamlProviderName",
        &[Arn("SAMLProviderArn"), M("Name")],
    ),
    b(
        "iam",
        "CertificateNameWithPath",
        &[IamPath("ServerCertificateName")],
    ),
    b(
        "iam",
        "MfaTokenIdWithPath",
        &[Arn("SerialNumber"), IamPath("VirtualMFADeviceName")],
    ),
    // ECR: repositories of another registry (account) are named by registryId.
    b(
        "ecr",
        "RepositoryName",
        &[M("repositoryName"), M("repositoryNames[]")],
    ),
    b("ecr", "Account", &[M("registryId")]),
    // DynamoDB (and DynamoDB Streams): TableName may be a table ARN.
    b("dynamodb", "TableName", &[M("TableName"), M("TableArn")]),
    b("dynamodb", "IndexName", &[M("IndexName")]),
    b("dynamodb", "StreamLabel", &[Arn("StreamArn")]),
    b("dynamodb", "BackupName", &[Arn("BackupArn")]),
    b("dynamodb", "GlobalTableName", &[M("GlobalTableName")]),
    b("dynamodb", "ExportName", &[Arn("ExportArn")]),
    b("dynamodb", "ImportName", &[Arn("ImportArn")]),
    // SNS: topics by ARN, created by name.
    b(
        "sns",
        "TopicName",
        &[
            M("TopicArn"),
            M("Name"),
            Arn("TargetArn"),
            Subscription("SubscriptionArn"),
        ],
    ),
    // EventBridge: `Name` names whatever the operation is about; no bus means the default bus.
    Binding {
        resource: Some("event-bus"),
        default: Some("default"),
        ..b(
            "events",
            "EventBusName",
            &[
                M("EventBusName"),
                M("Name"),
                EachOr("Entries[].EventBusName", "default"),
            ],
        )
    },
    Binding {
        resource: Some("rule-on-custom-event-bus"),
        except: Some("default"),
        ..b("events", "EventBusName", &[M("EventBusName")])
    },
    b("events", "RuleName", &[M("Name"), M("Rule")]),
    b("events", "ArchiveName", &[M("ArchiveName")]),
    b("events", "ReplayName", &[M("ReplayName")]),
    b("events", "ConnectionName", &[M("Name")]),
    b("events", "ApiDestinationName", &[M("Name")]),
    b("events", "EndpointName", &[M("Name")]),
    b(
        "events",
        "EventSourceName",
        &[M("EventSourceName"), M("Name")],
    ),
];

/// A partial assignment of template variables: what one input value says.
pub(crate) type Assign = Vec<(String, String)>;

/// The binding for a variable of a resource type, if the table has one.
pub(crate) fn binding(service: &str, resource: &str, var: &str) -> Option<&'static Binding> {
    BINDINGS
        .iter()
        .find(|b| b.service == service && b.var == var && b.resource.is_none_or(|r| r == resource))
}

/// The members tried for every variable of a service.
pub(crate) fn arn_members(service: &str) -> impl Iterator<Item = &'static str> {
    let extra: &[&str] = match service {
        "sqs" => SQS_ARN_MEMBERS,
        "dynamodb" => DYNAMODB_ARN_MEMBERS,
        _ => &[],
    };
    ARN_MEMBERS.iter().chain(extra).copied()
}

/// What a template is being filled for: the variables found must fit it.
pub(crate) struct Target<'a> {
    pub(crate) service: &'a Service,
    pub(crate) template: &'a crate::arn::Template,
    pub(crate) var: &'a str,
}

/// Every assignment a source yields for the target's variable (each includes the variable).
pub(crate) fn extract(src: Src, inputs: &dyn Inputs, target: &Target) -> Vec<Assign> {
    let values =
        |path: &str| -> Vec<String> { inputs.get_all(path).into_iter().flatten().collect() };
    let mut out: Vec<Assign> = match src {
        M(path) => values(path)
            .iter()
            .filter_map(|v| plain_or_arn(v, target))
            .collect(),
        Arn(path) => values(path)
            .iter()
            .filter(|v| v.starts_with("arn:"))
            .filter_map(|v| decompose(v, target))
            .collect(),
        QueueUrl(path) => values(path)
            .iter()
            .filter_map(|v| {
                if v.starts_with("arn:") {
                    decompose(v, target)
                } else {
                    queue_url(v)
                }
            })
            .collect(),
        Function(path) => {
            let qualifier = inputs.get("Qualifier");
            values(path)
                .iter()
                .filter_map(|v| function(v, qualifier.as_deref(), target))
                .collect()
        }
        IamPath(path) => {
            let prefix = inputs.get("Path");
            values(path)
                .iter()
                .filter_map(|v| {
                    if v.starts_with("arn:") {
                        return decompose(v, target);
                    }
                    let p = prefix.as_deref().unwrap_or("").trim_matches('/');
                    let name = if p.is_empty() {
                        v.clone()
                    } else {
                        format!("{p}/{v}")
                    };
                    Some(vec![(target.var.to_string(), name)])
                })
                .collect()
        }
        UrlHost(path) => values(path)
            .iter()
            .map(|v| {
                let host = v.split_once("://").map_or(v.as_str(), |(_, rest)| rest);
                vec![(
                    target.var.to_string(),
                    host.trim_end_matches('/').to_string(),
                )]
            })
            .collect(),
        Subscription(path) => values(path)
            .iter()
            .filter_map(|v| {
                let (topic, _) = v.rsplit_once(':')?;
                (topic.matches(':').count() >= 5).then(|| decompose(topic, target))?
            })
            .collect(),
        CopySource(path) => values(path)
            .iter()
            .filter_map(|v| copy_source(v, target))
            .collect(),
        EachOr(path, default) => inputs
            .get_all(path)
            .into_iter()
            .filter_map(|v| match v {
                Some(v) => plain_or_arn(&v, target),
                None => Some(vec![(target.var.to_string(), default.to_string())]),
            })
            .collect(),
    };
    out.retain(|a| a.iter().any(|(k, _)| k == target.var));
    out.dedup();
    out
}

/// A plain value for the variable, or the variable taken out of an ARN.
fn plain_or_arn(value: &str, target: &Target) -> Option<Assign> {
    if value.starts_with("arn:") {
        decompose(value, target)
    } else {
        Some(vec![(target.var.to_string(), value.to_string())])
    }
}

/// The variable (with partition, region and account) out of an ARN: by the template being filled if
/// the ARN has its shape (then the ARN comes out whole), else by the most specific of the service's
/// templates that use the variable. A trailing `:*` (CloudWatch Logs writes log group ARNs so) is
/// dropped first.
pub(crate) fn decompose(arn: &str, target: &Target) -> Option<Assign> {
    let arn = arn.strip_suffix(":*").unwrap_or(arn);
    if let Some(bound) = target.template.matches(arn) {
        return Some(bound);
    }
    let mut best: Option<(usize, Assign)> = None;
    for resource in target.service.resources.values() {
        for template in &resource.arns {
            if !template.has_var(target.var) {
                continue;
            }
            if let Some(bound) = template.matches(arn) {
                let score = template.input_vars().count();
                if best.as_ref().is_none_or(|(s, _)| score > *s) {
                    let keep = bound
                        .into_iter()
                        .filter(|(k, _)| {
                            k == target.var || crate::arn::SCOPE_VARS.contains(&k.as_str())
                        })
                        .collect();
                    best = Some((score, keep));
                }
            }
        }
    }
    best.map(|(_, a)| a)
}

/// Queue name, account and region out of a queue URL.
fn queue_url(url: &str) -> Option<Assign> {
    let Some((_, rest)) = url.split_once("://") else {
        // Not a URL: a bare queue name.
        return (!url.contains('/')).then(|| vec![("QueueName".to_string(), url.to_string())]);
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let name = segments.last()?;
    let mut out = vec![("QueueName".to_string(), (*name).to_string())];
    if segments.len() >= 2 {
        out.push((
            "Account".to_string(),
            segments[segments.len() - 2].to_string(),
        ));
    }
    let labels: Vec<&str> = host.split(':').next().unwrap_or(host).split('.').collect();
    let region = match labels.as_slice() {
        ["sqs", region, ..] if looks_like_region(region) => Some(*region),
        [region, "queue", ..] if looks_like_region(region) => Some(*region),
        _ => None,
    };
    if let Some(region) = region {
        out.push(("Region".to_string(), region.to_string()));
    }
    Some(out)
}

fn looks_like_region(label: &str) -> bool {
    label.contains('-') && label.ends_with(|c: char| c.is_ascii_digit())
}

/// A Lambda function reference in any of its forms.
fn function(value: &str, qualifier: Option<&str>, target: &Target) -> Option<Assign> {
    let qualify = |name: &str| match qualifier {
        Some(q) if !name.contains(':') => format!("{name}:{q}"),
        _ => name.to_string(),
    };
    if value.starts_with("arn:") {
        // arn:aws:lambda:region:account:function:name[:qualifier]
        let parts: Vec<&str> = value.splitn(7, ':').collect();
        let arn = match parts.as_slice() {
            [.., "function", name] => {
                let prefix = &value[..value.len() - name.len()];
                format!("{prefix}{}", qualify(name))
            }
            _ => value.to_string(),
        };
        return decompose(&arn, target);
    }
    let parts: Vec<&str> = value.splitn(3, ':').collect();
    match parts.as_slice() {
        // 123456789012:function:name[:qualifier]
        [account, "function", name] => Some(vec![
            (target.var.to_string(), qualify(name)),
            ("Account".to_string(), (*account).to_string()),
        ]),
        _ => Some(vec![(target.var.to_string(), qualify(value))]),
    }
}

/// Bucket and key (or access point and key) of a copy source.
fn copy_source(value: &str, target: &Target) -> Option<Assign> {
    let (path, _) = split_copy_source(value);
    if path.starts_with("arn:") {
        return decompose(&path, target);
    }
    let (bucket, key) = path.split_once('/')?;
    Some(vec![
        ("BucketName".to_string(), bucket.to_string()),
        ("ObjectName".to_string(), key.to_string()),
    ])
}

/// A copy source's decoded path and its `versionId`, if any.
pub(crate) fn split_copy_source(value: &str) -> (String, Option<String>) {
    let value = value.strip_prefix('/').unwrap_or(value);
    let (path, query) = value.split_once('?').unwrap_or((value, ""));
    let version = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("versionId="))
        .filter(|v| !v.is_empty())
        .map(percent_decode);
    (percent_decode(path), version)
}

/// `%XX` escapes decoded (as UTF-8, lossily); other characters kept.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_give_name_account_and_region() {
        let a = queue_url("https://sqs.us-west-2.amazonaws.com/123456789012/jobs").expect("a URL");
        assert!(a.contains(&("QueueName".into(), "jobs".into())));
        assert!(a.contains(&("Account".into(), "123456789012".into())));
        assert!(a.contains(&("Region".into(), "us-west-2".into())));
        let a = queue_url("http://localhost.localstack.cloud:4566/000000000000/q").expect("a URL");
        assert_eq!(
            a,
            [
                ("QueueName".to_string(), "q".to_string()),
                ("Account".to_string(), "000000000000".to_string())
            ]
        );
        let a = queue_url("http://eu-west-1.queue.localhost:4566/1/q/").expect("a URL");
        assert!(a.contains(&("Region".into(), "eu-west-1".into())));
        assert_eq!(
            queue_url("plain"),
            Some(vec![("QueueName".into(), "plain".into())])
        );
        assert_eq!(queue_url("http://host"), None);
    }

    #[test]
    fn copy_sources_are_decoded() {
        assert_eq!(
            split_copy_source("/src-bucket/dir/a%20b.txt?versionId=v%2B1"),
            (
                "src-bucket/dir/a b.txt".to_string(),
                Some("v+1".to_string())
            )
        );
        assert_eq!(split_copy_source("b/k"), ("b/k".to_string(), None));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }

    #[test]
    fn every_binding_names_a_variable_of_its_service() {
        let r = crate::data::reference().expect("the reference");
        for b in BINDINGS {
            let service = &r.services[b.service];
            let used = service
                .resources
                .iter()
                .filter(|(name, _)| b.resource.is_none_or(|r| r == name.as_str()))
                .flat_map(|(_, res)| res.arns.iter())
                .any(|t| t.has_var(b.var));
            assert!(used, "{}: no template uses ${{{}}}", b.service, b.var);
        }
    }
}

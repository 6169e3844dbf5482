//! What an AWS-style Host header says: which service endpoint prefix, region and (for S3 virtual hosts)
//! bucket it names, under any of the domains Skyport answers for (`amazonaws.com`, `amazonaws.com.cn`,
//! `api.aws`, `localhost.localstack.cloud`, the configured `LOCALSTACK_HOST`, `localhost`).
//!
//! Matching is by whole labels from the right, case-insensitive, so `amazonaws.com.evil.com` is not ours.

use crate::arn::is_region;

/// The base domains Skyport's hostnames live under, most specific first.
#[derive(Debug, Clone)]
pub struct HostDomains {
    domains: Vec<String>,
}

impl HostDomains {
    /// The built-in domains plus `extra` (e.g. the host of `LOCALSTACK_HOST`).
    pub fn new(extra: &[&str]) -> HostDomains {
        let mut domains: Vec<String> = [
            "localhost.localstack.cloud",
            "amazonaws.com.cn",
            "amazonaws.com",
            "api.aws",
            "aws.amazon.com",
            "on.aws",
            "localhost",
        ]
        .iter()
        .map(|d| (*d).to_owned())
        .collect();
        for d in extra {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if !d.is_empty() && !domains.contains(&d) && d.parse::<std::net::IpAddr>().is_err() {
                domains.push(d);
            }
        }
        // Longest first so `localhost.localstack.cloud` wins over a bare `localhost`.
        domains.sort_by_key(|d| std::cmp::Reverse(d.len()));
        HostDomains { domains }
    }

    /// Splits `host` (without port) into the labels left of a known domain and that domain.
    pub fn split<'a>(&self, host: &'a str) -> Option<(Vec<&'a str>, &'a str)> {
        let host = host.trim_end_matches('.');
        for domain in &self.domains {
            if host.len() == domain.len() && host.eq_ignore_ascii_case(domain) {
                return Some((Vec::new(), host));
            }
            if host.len() > domain.len() + 1 {
                let cut = host.len() - domain.len();
                if host.as_bytes()[cut - 1] == b'.' && host[cut..].eq_ignore_ascii_case(domain) {
                    let labels = host[..cut - 1].split('.').collect();
                    return Some((labels, &host[cut..]));
                }
            }
        }
        None
    }
}

/// What a Host header tells about the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostInfo {
    /// The endpoint prefix, e.g. `sqs`, `sts`, `dynamodb`, `s3`, `api.ecr`, `lambda-url`.
    pub endpoint_prefix: Option<String>,
    /// The region named in the host.
    pub region: Option<String>,
    /// The bucket of an S3 virtual-hosted-style request.
    pub bucket: Option<String>,
    /// The resource id in a data-plane host (`<id>.lambda-url.<region>...`, `<api>.execute-api...`).
    pub resource_id: Option<String>,
}

/// Removes the port from a Host header value (`[::1]:4566` → `[::1]`, `a.b:80` → `a.b`).
pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') => {
            name
        }
        _ => host,
    }
}

/// Analyses a Host header value.
pub fn analyze(host: &str, domains: &HostDomains) -> HostInfo {
    let name = strip_port(host);
    let Some((labels, _domain)) = domains.split(name) else {
        return HostInfo::default();
    };
    let lower: Vec<String> = labels.iter().map(|l| l.to_ascii_lowercase()).collect();
    let mut info = HostInfo::default();

    // S3: `[bucket.]s3[.dualstack][.region]`, `[bucket.]s3-<region>`, `[bucket.]s3-website[.-]<region>`.
    if let Some(pos) = lower.iter().position(|l| l == "s3" || l.starts_with("s3-")) {
        let label = &lower[pos];
        if pos > 0 {
            info.bucket = Some(labels[..pos].join("."));
        }
        if let Some(rest) = label.strip_prefix("s3-website") {
            info.endpoint_prefix = Some("s3-website".to_owned());
            let rest = rest.trim_start_matches(['-', '.']);
            if is_region(rest) {
                info.region = Some(rest.to_owned());
            }
        } else {
            info.endpoint_prefix = Some("s3".to_owned());
            if let Some(rest) = label.strip_prefix("s3-").filter(|r| is_region(r)) {
                info.region = Some(rest.to_owned());
            }
        }
        info.region = info
            .region
            .or_else(|| lower[pos + 1..].iter().find(|l| is_region(l)).cloned());
        return info;
    }

    // Data-plane hosts: `<id>.lambda-url.<region>`, `<id>.execute-api.<region>`.
    for marker in ["lambda-url", "execute-api"] {
        if let Some(pos) = lower.iter().position(|l| l == marker) {
            if pos > 0 {
                info.resource_id = Some(lower[..pos].join("."));
            }
            info.endpoint_prefix = Some(marker.to_owned());
            info.region = lower.get(pos + 1).filter(|r| is_region(r)).cloned();
            return info;
        }
    }

    // SQS legacy endpoints: `queue.amazonaws.com`, `<region>.queue.amazonaws.com`.
    if let Some(pos) = lower.iter().position(|l| l == "queue") {
        info.endpoint_prefix = Some("sqs".to_owned());
        info.region = pos
            .checked_sub(1)
            .and_then(|p| lower.get(p))
            .filter(|r| is_region(r))
            .cloned();
        return info;
    }

    // `api.ecr.<region>`, `<account>.dkr.ecr.<region>`.
    if let Some(pos) = lower.iter().position(|l| l == "ecr") {
        info.endpoint_prefix = Some("ecr".to_owned());
        info.region = lower.get(pos + 1).filter(|r| is_region(r)).cloned();
        if pos >= 2 && lower[pos - 1] == "dkr" {
            info.resource_id = Some(lower[..pos - 1].join("."));
        }
        return info;
    }

    // Everything else: `<prefix>[-fips][.region]...`.
    if let Some(first) = lower.first() {
        let prefix = first.strip_suffix("-fips").unwrap_or(first);
        if !prefix.is_empty() && !is_region(prefix) {
            info.endpoint_prefix = Some(prefix.to_owned());
        }
        info.region = lower.iter().skip(1).find(|l| is_region(l)).cloned();
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(host: &str) -> HostInfo {
        analyze(host, &HostDomains::new(&["my.custom.host"]))
    }

    #[test]
    fn s3_styles() {
        let i = a("s3.amazonaws.com");
        assert_eq!(
            (i.endpoint_prefix.as_deref(), i.bucket, i.region),
            (Some("s3"), None, None)
        );
        let i = a("my.dotted.bucket.s3.us-west-2.amazonaws.com:443");
        assert_eq!(i.bucket.as_deref(), Some("my.dotted.bucket"));
        assert_eq!(i.region.as_deref(), Some("us-west-2"));
        let i = a("bkt.s3-eu-west-1.amazonaws.com");
        assert_eq!(
            (i.bucket.as_deref(), i.region.as_deref()),
            (Some("bkt"), Some("eu-west-1"))
        );
        let i = a("b.s3.dualstack.ap-south-1.amazonaws.com");
        assert_eq!(
            (i.bucket.as_deref(), i.region.as_deref()),
            (Some("b"), Some("ap-south-1"))
        );
        let i = a("Bucket.S3.LocalHost.LocalStack.Cloud:4566");
        assert_eq!(i.bucket.as_deref(), Some("Bucket"));
        assert_eq!(
            a("s3.us-east-2.localhost.localstack.cloud")
                .region
                .as_deref(),
            Some("us-east-2")
        );
        assert_eq!(
            a("bkt.s3-website-us-east-1.amazonaws.com")
                .endpoint_prefix
                .as_deref(),
            Some("s3-website")
        );
        assert_eq!(a("bkt.s3.my.custom.host").bucket.as_deref(), Some("bkt"));
    }

    #[test]
    fn service_prefixes() {
        let i = a("sqs.eu-west-1.amazonaws.com");
        assert_eq!(
            (i.endpoint_prefix.as_deref(), i.region.as_deref()),
            (Some("sqs"), Some("eu-west-1"))
        );
        assert_eq!(
            a("sts.amazonaws.com").endpoint_prefix.as_deref(),
            Some("sts")
        );
        assert_eq!(
            a("sts-fips.us-east-1.amazonaws.com")
                .endpoint_prefix
                .as_deref(),
            Some("sts")
        );
        assert_eq!(
            a("eu-west-2.queue.amazonaws.com").region.as_deref(),
            Some("eu-west-2")
        );
        assert_eq!(
            a("api.ecr.us-east-1.amazonaws.com")
                .endpoint_prefix
                .as_deref(),
            Some("ecr")
        );
        let i = a("abc123.lambda-url.us-east-1.localhost.localstack.cloud:4566");
        assert_eq!(
            (i.endpoint_prefix.as_deref(), i.resource_id.as_deref()),
            (Some("lambda-url"), Some("abc123"))
        );
        assert_eq!(
            a("dynamodb.cn-north-1.amazonaws.com.cn").region.as_deref(),
            Some("cn-north-1")
        );
    }

    #[test]
    fn foreign_hosts_say_nothing() {
        assert_eq!(a("s3.amazonaws.com.evil.com"), HostInfo::default());
        assert_eq!(a("evilamazonaws.com"), HostInfo::default());
        assert_eq!(a("127.0.0.1:4566"), HostInfo::default());
        assert_eq!(a("localhost:4566"), HostInfo::default());
        assert_eq!(a("[::1]:4566"), HostInfo::default());
    }

    #[test]
    fn ports() {
        assert_eq!(strip_port("[::1]:4566"), "[::1]");
        assert_eq!(strip_port("a.b:80"), "a.b");
        assert_eq!(strip_port("a.b"), "a.b");
    }
}

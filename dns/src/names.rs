//! Name matching: which names are Skyport's. Built-in zones (`localhost.localstack.cloud`, the
//! `LOCALSTACK_HOST` host, the AWS domains) are matched by whole labels from the right,
//! case-insensitively; skip patterns keep LocalStack's regex semantics (anchored at the start only).

use hickory_proto::rr::Name;
use regex::Regex;

use crate::config::{AWS_DOMAINS, DnsConfig, LOCALSTACK_DOMAIN};
use crate::error::{DnsError, Result};

/// Parses a textual domain name (with or without trailing dot) into a lowercase FQDN.
pub(crate) fn parse_name(text: &str) -> Result<Name> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DnsError::InvalidName {
            name: text.to_string(),
            reason: "empty".to_string(),
        });
    }
    let mut name = Name::from_ascii(trimmed).map_err(|e| DnsError::InvalidName {
        name: text.to_string(),
        reason: e.to_string(),
    })?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

/// Why a built-in zone exists (shown by `explain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneKind {
    /// `localhost.localstack.cloud`.
    LocalStack,
    /// The host of `LOCALSTACK_HOST`.
    LocalStackHost,
    /// One of the AWS service domains.
    Aws,
}

/// A built-in zone: its apex and why it is there.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    pub(crate) apex: Name,
    pub(crate) kind: ZoneKind,
}

/// The built-in zones derived from the configuration.
pub(crate) fn builtin_zones(config: &DnsConfig) -> Result<Vec<Zone>> {
    let mut zones = vec![Zone {
        apex: parse_name(LOCALSTACK_DOMAIN)?,
        kind: ZoneKind::LocalStack,
    }];
    if let Some(host) = config.localstack_host.as_deref() {
        let host = host.trim().trim_end_matches('.');
        let is_ip = host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok();
        if !host.is_empty() && !is_ip {
            let apex = parse_name(host)?;
            if !zones.iter().any(|z| z.apex == apex) {
                zones.push(Zone {
                    apex,
                    kind: ZoneKind::LocalStackHost,
                });
            }
        }
    }
    if config.aws_names {
        for domain in AWS_DOMAINS {
            zones.push(Zone {
                apex: parse_name(domain)?,
                kind: ZoneKind::Aws,
            });
        }
    }
    Ok(zones)
}

/// The most specific built-in zone containing `name` (whole labels, case-insensitive).
pub(crate) fn find_zone<'z>(zones: &'z [Zone], name: &Name) -> Option<&'z Zone> {
    zones
        .iter()
        .filter(|z| z.apex.zone_of(name))
        .max_by_key(|z| z.apex.num_labels())
}

/// A compiled skip pattern (`DNS_NAME_PATTERNS_TO_RESOLVE_UPSTREAM`).
#[derive(Debug, Clone)]
pub(crate) struct SkipPattern {
    pub(crate) source: String,
    regex: Regex,
}

impl SkipPattern {
    /// Compiles a pattern with Python `re.match` semantics: anchored at the start, not at the end.
    /// Matching is case-insensitive, since DNS names are.
    pub(crate) fn new(pattern: &str) -> Result<Self> {
        let regex =
            Regex::new(&format!("(?i)^(?:{pattern})")).map_err(|e| DnsError::InvalidPattern {
                pattern: pattern.to_string(),
                source: Box::new(e),
            })?;
        Ok(SkipPattern {
            source: pattern.to_string(),
            regex,
        })
    }

    /// Whether the name (rendered with its trailing dot) matches.
    pub(crate) fn matches(&self, name_with_dot: &str) -> bool {
        self.regex.is_match(name_with_dot)
    }
}

/// Renders a name the way skip patterns see it: lowercase ASCII with a trailing dot.
pub(crate) fn pattern_form(name: &Name) -> String {
    let mut s = name.to_lowercase().to_ascii();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(aws: bool, host: Option<&str>) -> Vec<Zone> {
        let cfg = DnsConfig {
            aws_names: aws,
            localstack_host: host.map(str::to_string),
            ..DnsConfig::default()
        };
        builtin_zones(&cfg).unwrap()
    }

    fn hit(z: &[Zone], name: &str) -> Option<String> {
        find_zone(z, &Name::from_ascii(name).unwrap()).map(|z| z.apex.to_ascii())
    }

    #[test]
    fn matches_whole_labels_from_the_right() {
        let z = zones(true, None);
        assert_eq!(
            hit(&z, "s3.amazonaws.com.").as_deref(),
            Some("amazonaws.com.")
        );
        assert_eq!(hit(&z, "amazonaws.com").as_deref(), Some("amazonaws.com."));
        assert_eq!(
            hit(&z, "S3.AmazonAWS.COM.").as_deref(),
            Some("amazonaws.com.")
        );
        assert_eq!(
            hit(&z, "bucket.s3.cn-north-1.amazonaws.com.cn.").as_deref(),
            Some("amazonaws.com.cn.")
        );
        assert_eq!(hit(&z, "sts.api.aws.").as_deref(), Some("api.aws."));
        assert_eq!(
            hit(&z, "signin.aws.amazon.com.").as_deref(),
            Some("aws.amazon.com.")
        );
        assert_eq!(
            hit(&z, "sqs.eu-west-1.localhost.localstack.cloud.").as_deref(),
            Some("localhost.localstack.cloud.")
        );
        assert_eq!(hit(&z, "amazonaws.com.evil.com."), None);
        assert_eq!(hit(&z, "evilamazonaws.com."), None);
        assert_eq!(hit(&z, "amazon.com."), None);
        assert_eq!(hit(&z, "localstack.cloud."), None);
        assert_eq!(hit(&z, "xlocalhostxlocalstackxcloud."), None);
        assert_eq!(hit(&z, "localhost.localstack.cloud.evil.com."), None);
    }

    #[test]
    fn aws_names_can_be_switched_off() {
        let z = zones(false, None);
        assert_eq!(hit(&z, "s3.amazonaws.com."), None);
        assert!(hit(&z, "localhost.localstack.cloud.").is_some());
    }

    #[test]
    fn localstack_host_is_a_zone_but_ip_literals_are_not() {
        let z = zones(false, Some("skyport.internal"));
        assert_eq!(
            hit(&z, "s3.Skyport.Internal.").as_deref(),
            Some("skyport.internal.")
        );
        let z = zones(false, Some("10.0.0.5"));
        assert_eq!(z.len(), 1);
        let z = zones(false, Some("localhost.localstack.cloud"));
        assert_eq!(z.len(), 1);
    }

    #[test]
    fn skip_patterns_have_python_match_semantics() {
        let p = SkipPattern::new(r".*s3\.amazonaws\.com").unwrap();
        assert!(p.matches("bucket.s3.amazonaws.com."));
        assert!(p.matches("s3.amazonaws.com.evil.")); // anchored at the start only, like re.match
        let p = SkipPattern::new("sqs").unwrap();
        assert!(p.matches("sqs.us-east-1.amazonaws.com."));
        assert!(!p.matches("x.sqs.us-east-1.amazonaws.com."));
        let p = SkipPattern::new(r"^S3\.").unwrap();
        assert!(p.matches("s3.amazonaws.com."));
        assert!(SkipPattern::new("(unclosed").is_err());
        assert_eq!(pattern_form(&Name::from_ascii("A.B").unwrap()), "a.b.");
    }

    #[test]
    fn parse_name_rejects_garbage() {
        assert!(parse_name("").is_err());
        assert!(parse_name(&"a".repeat(70)).is_err());
        assert_eq!(parse_name("Foo.Bar").unwrap().to_ascii(), "foo.bar.");
    }
}

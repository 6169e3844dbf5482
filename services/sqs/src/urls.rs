//! Queue URLs: built from how the client reached Skyport (`SQS_ENDPOINT_STRATEGY`), and parsed back in
//! every form any strategy (or real AWS) produces.

use skyport_core::{
    RequestContext,
    arn::{is_account_id, is_region},
    host::{HostDomains, strip_port},
};

/// How queue URLs are built (`SQS_ENDPOINT_STRATEGY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndpointStrategy {
    /// `sqs.<region>.<domain>[:port]/<account>/<name>` (the default).
    #[default]
    Standard,
    /// `[<region>.]queue.<domain>[:port]/<account>/<name>` (no region label for us-east-1).
    Domain,
    /// `<host>/queue/<region>/<account>/<name>`.
    Path,
    /// `<host>/<account>/<name>`.
    Off,
    /// Follow the form of the request's own Host.
    Dynamic,
}

/// What SQS needs to build URLs.
#[derive(Debug, Clone)]
pub struct UrlConfig {
    /// The strategy.
    pub strategy: EndpointStrategy,
    /// The domains Skyport answers for (to find the base domain in a client's Host).
    pub domains: HostDomains,
    /// The host name (without port) used when the client's Host is an IP address or an unknown name
    /// (`LOCALSTACK_HOST`'s host, `localhost.localstack.cloud` by default).
    pub fallback_host: String,
}

impl Default for UrlConfig {
    fn default() -> UrlConfig {
        UrlConfig {
            strategy: EndpointStrategy::Standard,
            domains: HostDomains::new(&[]),
            fallback_host: "localhost.localstack.cloud".to_owned(),
        }
    }
}

fn split_port(host: &str) -> (&str, &str) {
    let name = strip_port(host);
    (name, &host[name.len()..])
}

impl UrlConfig {
    /// The base domain of the client's Host (its labels left of a known domain dropped), with the port
    /// as sent; the fallback host with that port for IP addresses and unknown names.
    fn base_domain(&self, ctx: &RequestContext) -> String {
        let (name, port) = split_port(&ctx.host);
        match self.domains.split(name) {
            // `sqs.<region>.localhost` does not resolve everywhere; treat it like an address.
            Some((_, domain)) if !domain.eq_ignore_ascii_case("localhost") => {
                format!("{domain}{port}")
            }
            _ => {
                let fallback = self.fallback_host.trim_matches(['[', ']']);
                if fallback.is_empty() || fallback.parse::<std::net::IpAddr>().is_ok() {
                    format!("localhost.localstack.cloud{port}")
                } else {
                    format!("{fallback}{port}")
                }
            }
        }
    }

    /// The URL of queue `name` in `account`/`region`, as the client of `ctx` should see it.
    pub fn queue_url(
        &self,
        ctx: &RequestContext,
        region: &str,
        account: &str,
        name: &str,
    ) -> String {
        let scheme = ctx.scheme.as_str();
        let mut strategy = self.strategy;
        if strategy == EndpointStrategy::Dynamic {
            let lower = strip_port(&ctx.host).to_ascii_lowercase();
            strategy = if lower.starts_with("sqs.") {
                EndpointStrategy::Standard
            } else if lower.starts_with("queue.") || lower.contains(".queue.") {
                EndpointStrategy::Domain
            } else {
                EndpointStrategy::Path
            };
        }
        match strategy {
            EndpointStrategy::Standard => format!(
                "{scheme}://sqs.{region}.{}/{account}/{name}",
                self.base_domain(ctx)
            ),
            EndpointStrategy::Domain => {
                let base = self.base_domain(ctx);
                if region == "us-east-1" {
                    format!("{scheme}://queue.{base}/{account}/{name}")
                } else {
                    format!("{scheme}://{region}.queue.{base}/{account}/{name}")
                }
            }
            EndpointStrategy::Path => {
                format!("{scheme}://{}/queue/{region}/{account}/{name}", ctx.host)
            }
            EndpointStrategy::Off | EndpointStrategy::Dynamic => {
                format!("{scheme}://{}/{account}/{name}", ctx.host)
            }
        }
    }
}

/// A queue named by a URL (or a request path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRef {
    /// The account.
    pub account: String,
    /// The region, when the URL names one.
    pub region: Option<String>,
    /// The queue name.
    pub name: String,
}

/// Parses a queue URL or path in any of the supported forms:
/// `[scheme://host[:port]]/<account>/<name>` and `.../queue/<region>/<account>/<name>`, with the region
/// also taken from `sqs.<region>.` and `<region>.queue.` hosts.
pub fn parse_queue_url(url: &str) -> Option<QueueRef> {
    let (host, path) = match url.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(i) => (Some(&rest[..i]), &rest[i..]),
            None => (Some(rest), ""),
        },
        None => (None, url),
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (region, account, name) = match segments.as_slice() {
        ["queue", region, account, name] => (Some((*region).to_owned()), *account, *name),
        [account, name] => (None, *account, *name),
        _ => return None,
    };
    if !is_account_id(account) || name.is_empty() {
        return None;
    }
    let region = region.filter(|r| is_region(r)).or_else(|| {
        let host = strip_port(host?).to_ascii_lowercase();
        let labels: Vec<&str> = host.split('.').collect();
        if labels.first() == Some(&"sqs") {
            return labels
                .get(1)
                .filter(|r| is_region(r))
                .map(|r| (*r).to_owned());
        }
        let q = labels.iter().position(|l| *l == "queue")?;
        if q == 0 {
            return Some("us-east-1".to_owned());
        }
        labels
            .get(q - 1)
            .filter(|r| is_region(r))
            .map(|r| (*r).to_owned())
    });
    Some(QueueRef {
        account: account.to_owned(),
        region,
        name: name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyport_core::Protocol;

    fn ctx(host: &str) -> RequestContext {
        let mut c = RequestContext::new("sqs", Protocol::Json10);
        c.host = host.to_owned();
        c
    }

    #[test]
    fn builds_urls_per_strategy() {
        let mut cfg = UrlConfig::default();
        let c = ctx("localhost.localstack.cloud:4566");
        assert_eq!(
            cfg.queue_url(&c, "eu-west-1", "000000000000", "q"),
            "http://sqs.eu-west-1.localhost.localstack.cloud:4566/000000000000/q"
        );
        let c2 = ctx("sqs.eu-west-1.localhost.localstack.cloud:4566");
        assert_eq!(
            cfg.queue_url(&c2, "eu-west-1", "000000000000", "q"),
            "http://sqs.eu-west-1.localhost.localstack.cloud:4566/000000000000/q"
        );
        assert_eq!(
            cfg.queue_url(&ctx("localhost:4566"), "us-east-1", "000000000000", "q"),
            "http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/q"
        );
        let ip = ctx("127.0.0.1:4566");
        assert_eq!(
            cfg.queue_url(&ip, "us-east-1", "000000000000", "q"),
            "http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/q"
        );
        cfg.strategy = EndpointStrategy::Domain;
        assert_eq!(
            cfg.queue_url(&c, "us-east-1", "000000000000", "q"),
            "http://queue.localhost.localstack.cloud:4566/000000000000/q"
        );
        cfg.strategy = EndpointStrategy::Path;
        assert_eq!(
            cfg.queue_url(&ip, "us-east-1", "000000000000", "q"),
            "http://127.0.0.1:4566/queue/us-east-1/000000000000/q"
        );
        cfg.strategy = EndpointStrategy::Off;
        assert_eq!(
            cfg.queue_url(&ip, "us-east-1", "000000000000", "q"),
            "http://127.0.0.1:4566/000000000000/q"
        );
        cfg.strategy = EndpointStrategy::Dynamic;
        assert_eq!(
            cfg.queue_url(&c2, "eu-west-1", "000000000000", "q"),
            "http://sqs.eu-west-1.localhost.localstack.cloud:4566/000000000000/q"
        );
        assert_eq!(
            cfg.queue_url(&ip, "eu-west-1", "000000000000", "q"),
            "http://127.0.0.1:4566/queue/eu-west-1/000000000000/q"
        );
    }

    #[test]
    fn parses_every_form() {
        let p =
            parse_queue_url("http://sqs.eu-west-1.localhost.localstack.cloud:4566/000000000000/q")
                .unwrap();
        assert_eq!(
            (p.region.as_deref(), p.account.as_str(), p.name.as_str()),
            (Some("eu-west-1"), "000000000000", "q")
        );
        let p = parse_queue_url(
            "http://eu-west-2.queue.localhost.localstack.cloud:4566/000000000000/q",
        )
        .unwrap();
        assert_eq!(p.region.as_deref(), Some("eu-west-2"));
        let p = parse_queue_url("https://queue.amazonaws.com/123456789012/q").unwrap();
        assert_eq!(p.region.as_deref(), Some("us-east-1"));
        let p = parse_queue_url("http://127.0.0.1:1/queue/ap-south-1/000000000000/q").unwrap();
        assert_eq!(p.region.as_deref(), Some("ap-south-1"));
        let p = parse_queue_url("/000000000000/q").unwrap();
        assert_eq!((p.region, p.name.as_str()), (None, "q"));
        assert!(parse_queue_url("http://x/q").is_none());
        assert!(parse_queue_url("http://x/abc/q").is_none());
    }
}

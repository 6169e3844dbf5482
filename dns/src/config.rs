//! The DNS server's configuration: a plain struct filled in by the binary (which parses the env vars),
//! small value types (networks), helpers that parse LocalStack-compatible setting strings, and the
//! TTL constants of the records Skyport answers with.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use crate::error::{DnsError, Result};
use crate::netinfo::InterfaceSource;

/// TTL of the A/AAAA records Skyport answers with (seconds). Short enough that a changed per-network
/// address or a removed registry name disappears from caches within minutes.
pub const ADDRESS_TTL: u32 = 300;
/// TTL of the SOA and NS records of Skyport's zones (seconds).
pub const ZONE_TTL: u32 = 3600;
/// SOA `minimum`: how long resolvers may cache "no such data" answers for Skyport's names (seconds).
/// The SOA in the authority section of a NODATA answer carries `min(ZONE_TTL, NEGATIVE_TTL)`.
pub const NEGATIVE_TTL: u32 = 300;
/// Largest UDP payload Skyport advertises in its own OPT record (the DNS flag day 2020 value).
pub const ADVERTISED_UDP_PAYLOAD: u16 = 1232;
/// Upper bound on how long a forwarded answer stays in the cache, whatever its TTL says (seconds).
pub const MAX_CACHE_TTL: u32 = 86_400;

/// The AWS service domains Skyport intercepts when [`DnsConfig::aws_names`] is on.
pub const AWS_DOMAINS: [&str; 5] = [
    "amazonaws.com",
    "amazonaws.com.cn",
    "api.aws",
    "aws.amazon.com",
    "on.aws",
];
/// LocalStack's well-known name; it and every subdomain always resolve to Skyport.
pub const LOCALSTACK_DOMAIN: &str = "localhost.localstack.cloud";

/// An IP network in CIDR notation (`172.17.0.0/16`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix_len: u8,
}

impl IpNetwork {
    /// A network from an address and a prefix length; `None` when the prefix is longer than the
    /// address family allows.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Option<Self> {
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        (prefix_len <= max).then_some(IpNetwork { addr, prefix_len })
    }

    /// A network whose prefix length is clamped to the family's maximum (never fails).
    pub(crate) fn clamped(addr: IpAddr, prefix_len: u8) -> Self {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        IpNetwork {
            addr,
            prefix_len: prefix_len.min(max),
        }
    }

    /// The address the network was written with (not necessarily the network address).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `ip` lies inside this network. IPv4-mapped IPv6 addresses are compared as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical_ip(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for IpNetwork {
    type Err = DnsError;

    fn from_str(s: &str) -> Result<Self> {
        let err = || DnsError::InvalidNetwork {
            value: s.to_string(),
        };
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| err())?;
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| err())?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        IpNetwork::new(addr, prefix).ok_or_else(err)
    }
}

/// Turns an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a dual-stack socket reports) into IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Everything the DNS server needs. The binary builds it from env vars and flags:
///
/// | env var | field |
/// | --- | --- |
/// | `DNS_ADDRESS`, `DNS_PORT` | [`listen`](Self::listen) (`DNS_ADDRESS=0` means: do not start) |
/// | `DNS_SERVER` (via [`parse_upstreams`]) or `/etc/resolv.conf` (via [`crate::upstreams_from_resolv_conf`]) | [`upstreams`](Self::upstreams) |
/// | `DNS_RESOLVE_IP` (unset, empty or `127.0.0.1` = per-client) | [`resolve_ip`](Self::resolve_ip) |
/// | host part of `LOCALSTACK_HOST` | [`localstack_host`](Self::localstack_host) |
/// | `SKYPORT_DNS_AWS_NAMES=0` | [`aws_names`](Self::aws_names) `= false` |
/// | `DNS_NAME_PATTERNS_TO_RESOLVE_UPSTREAM` (via [`split_skip_patterns`]) | [`skip_patterns`](Self::skip_patterns) |
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Addresses to listen on, UDP and TCP each. Port 0 picks a free port (the same for UDP and TCP).
    pub listen: Vec<SocketAddr>,
    /// Upstream resolvers for every name Skyport does not answer itself, tried in order.
    pub upstreams: Vec<SocketAddr>,
    /// Fixed answer address for Skyport's names instead of the per-client choice.
    pub resolve_ip: Option<IpAddr>,
    /// The host of `LOCALSTACK_HOST` (without port); it and its subdomains resolve to Skyport.
    /// IP literals are ignored.
    pub localstack_host: Option<String>,
    /// Intercept the AWS service domains ([`AWS_DOMAINS`]). On by default.
    pub aws_names: bool,
    /// Skip patterns: names (with trailing dot, lowercased) matching one of these regexes from the
    /// start are sent upstream even if they are Skyport's names.
    pub skip_patterns: Vec<String>,
    /// Skyport runs inside a container: a query from the network's gateway (the host through a
    /// published port) gets 127.0.0.1.
    pub in_container: bool,
    /// Client networks allowed besides loopback and Skyport's own interface networks.
    pub allowed_clients: Vec<IpNetwork>,
    /// Answer every client (turns the "not an open resolver" ACL off). Off by default.
    pub open_access: bool,
    /// Gateway addresses the binary knows about (e.g. from the Docker API), in addition to the
    /// routes read from the kernel.
    pub extra_gateways: Vec<IpAddr>,
    /// How long to wait for one upstream before trying the next.
    pub upstream_timeout: Duration,
    /// Upper bound on concurrently outstanding upstream queries.
    pub max_inflight_upstream: usize,
    /// Number of entries in the forwarding cache (0 disables caching).
    pub cache_entries: usize,
    /// A TCP client idle (or stalled inside a message) this long is disconnected.
    pub tcp_idle_timeout: Duration,
    /// Upper bound on concurrently open TCP connections (more are closed at once).
    pub max_tcp_connections: usize,
    /// Where interface addresses come from: the system (default) or a fixed snapshot (tests).
    pub interfaces: InterfaceSource,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            listen: vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53)],
            upstreams: Vec::new(),
            resolve_ip: None,
            localstack_host: None,
            aws_names: true,
            skip_patterns: Vec::new(),
            in_container: false,
            allowed_clients: Vec::new(),
            open_access: false,
            extra_gateways: Vec::new(),
            upstream_timeout: Duration::from_secs(2),
            max_inflight_upstream: 512,
            cache_entries: 10_000,
            tcp_idle_timeout: Duration::from_secs(10),
            max_tcp_connections: 256,
            interfaces: InterfaceSource::System,
        }
    }
}

/// Splits a `DNS_NAME_PATTERNS_TO_RESOLVE_UPSTREAM` value the way LocalStack does: on commas,
/// semicolons and whitespace, with surrounding single or double quotes stripped, empty parts dropped.
pub fn split_skip_patterns(value: &str) -> Vec<String> {
    value
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .map(|p| p.trim_matches(|c| c == '"' || c == '\''))
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses one upstream server: `IP`, `IP:PORT`, `[IPv6]:PORT`; the port defaults to 53.
pub fn parse_upstream(value: &str) -> Result<SocketAddr> {
    let v = value.trim();
    if let Ok(sa) = v.parse::<SocketAddr>() {
        return Ok(sa);
    }
    let bare = v.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(DnsError::InvalidUpstream {
        value: value.to_string(),
    })
}

/// Parses a `DNS_SERVER` value: one or more upstreams separated by commas or whitespace.
pub fn parse_upstreams(value: &str) -> Result<Vec<SocketAddr>> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(parse_upstream)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_contains() {
        let n: IpNetwork = "198.18.1.0/24".parse().unwrap();
        assert!(n.contains("198.18.1.77".parse().unwrap()));
        assert!(!n.contains("198.18.2.1".parse().unwrap()));
        assert!(n.contains("::ffff:198.18.1.2".parse().unwrap()));
        let all: IpNetwork = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: IpNetwork = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNetwork>().is_err());
        assert!("nonsense".parse::<IpNetwork>().is_err());
        assert_eq!("10.1.2.3".parse::<IpNetwork>().unwrap().prefix_len(), 32);
    }

    #[test]
    fn skip_patterns_split_like_localstack() {
        assert_eq!(
            split_skip_patterns(r#"'.*s3.amazonaws.com', "sqs\..*";  foo.*,,bar"#),
            vec![".*s3.amazonaws.com", r"sqs\..*", "foo.*", "bar"]
        );
        assert!(split_skip_patterns("  ").is_empty());
    }

    #[test]
    fn upstreams_parse() {
        assert_eq!(
            parse_upstreams("8.8.8.8, 127.0.0.1:5300 [::1]:54 2001:db8::1").unwrap(),
            vec![
                "8.8.8.8:53".parse().unwrap(),
                "127.0.0.1:5300".parse().unwrap(),
                "[::1]:54".parse().unwrap(),
                "[2001:db8::1]:53".parse().unwrap(),
            ]
        );
        assert!(parse_upstreams("dns.google").is_err());
    }
}

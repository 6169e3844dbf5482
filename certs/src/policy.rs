//! Which names Skyport serves ([`NamePolicy`]), which names its CA may ever vouch for
//! ([`NameConstraintsPolicy`]), and how a requested name becomes a certificate SAN ([`leaf_san_for`]).
//!
//! All DNS names handled here are normalised first ([`normalize_dns_name`]): ASCII lower case, no trailing
//! dot, letters/digits/hyphens only, labels of 1-63 octets, at most 253 octets in all. Suffix matching is
//! always by whole labels from the right, so `evilamazonaws.com` is *not* within `amazonaws.com`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::CertError;

/// AWS DNS zones Skyport answers for (and mints certificates for) unless the AWS part is switched off.
pub const AWS_ZONES: &[&str] = &[
    "amazonaws.com",
    "amazonaws.com.cn",
    "api.aws",
    "aws.amazon.com",
    // Lambda function URLs: `<url-id>.lambda-url.<region>.on.aws`.
    "on.aws",
];

/// Local zones Skyport always answers for.
pub const LOCAL_ZONES: &[&str] = &["localhost.localstack.cloud", "localhost"];

/// IP ranges the CA always permits: loopback, RFC 1918 private ranges, the benchmark range 198.18.0.0/15
/// and IPv6 unique-local addresses. Public listen addresses are added per install.
pub const DEFAULT_IP_SUBTREES: &[(IpAddr, u8)] = &[
    (IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8),
    (IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
    (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8),
    (IpAddr::V4(Ipv4Addr::new(172, 16, 0, 0)), 12),
    (IpAddr::V4(Ipv4Addr::new(192, 168, 0, 0)), 16),
    (IpAddr::V4(Ipv4Addr::new(198, 18, 0, 0)), 15),
    (IpAddr::V6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0)), 7),
];

/// Normalises a DNS name (lower case, trailing dot removed) and checks that it is a plain hostname.
///
/// Returns `None` for anything else: empty labels, wildcards, underscores, over-long labels or names,
/// and strings that parse as IP addresses.
pub fn normalize_dns_name(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 || name.parse::<IpAddr>().is_ok() {
        return None;
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return None;
        }
        if label.starts_with('-') || label.ends_with('-') {
            return None;
        }
    }
    // A final label made only of digits would look like an IPv4 address to some parsers.
    if name
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Some(name.to_ascii_lowercase())
}

/// `true` if `name` equals `zone` or lies below it, matching whole labels (both already normalised).
pub fn dns_name_within(name: &str, zone: &str) -> bool {
    if name == zone {
        return true;
    }
    name.len() > zone.len()
        && name.ends_with(zone)
        && name.as_bytes()[name.len() - zone.len() - 1] == b'.'
}

/// A host as configured in `LOCALSTACK_HOST`: a DNS name or an IP address (the port is dropped).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ConfiguredHost {
    /// A normalised DNS name.
    Name(String),
    /// An IP address.
    Ip(IpAddr),
}

impl ConfiguredHost {
    /// Parses `host`, `host:port`, `a.b.c.d[:port]`, `[v6][:port]` or a bare IPv6 address.
    ///
    /// Returns `None` for an empty or invalid host.
    pub fn parse(input: &str) -> Option<Self> {
        let input = input.trim();
        if let Ok(ip) = input.parse::<IpAddr>() {
            return Some(ConfiguredHost::Ip(ip));
        }
        if let Some(rest) = input.strip_prefix('[') {
            let (inside, _) = rest.split_once(']')?;
            return inside
                .parse::<Ipv6Addr>()
                .ok()
                .map(|ip| ConfiguredHost::Ip(IpAddr::V6(ip)));
        }
        let host = match input.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            Some(_) => return None,
            None => input,
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(ConfiguredHost::Ip(ip));
        }
        normalize_dns_name(host).map(ConfiguredHost::Name)
    }
}

/// An IP subnet (network address and prefix length) as used in X.509 name constraints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpSubnet {
    network: IpAddr,
    prefix: u8,
}

impl IpSubnet {
    /// Builds a subnet; host bits of `addr` are cleared. Fails if `prefix` exceeds the address length.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, CertError> {
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        if prefix > max {
            return Err(CertError::InvalidName {
                name: format!("{addr}/{prefix}"),
                reason: "prefix length longer than the address",
            });
        }
        Ok(IpSubnet {
            network: mask_addr(addr, prefix),
            prefix,
        })
    }

    /// The subnet holding exactly `addr` (/32 or /128).
    pub fn host(addr: IpAddr) -> Self {
        let prefix = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        IpSubnet {
            network: addr,
            prefix,
        }
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// `true` if `ip` lies in this subnet (an IPv4 address never lies in an IPv6 subnet, and vice versa).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask_addr(ip, self.prefix) == self.network
            }
            _ => false,
        }
    }

    /// `true` if every address of `other` lies in this subnet.
    pub fn contains_subnet(&self, other: &IpSubnet) -> bool {
        other.prefix >= self.prefix && self.contains(other.network)
    }

    pub(crate) fn to_rcgen(self) -> rcgen::CidrSubnet {
        rcgen::CidrSubnet::from_addr_prefix(self.network, self.prefix)
    }

    /// Parses the X.509 form: address followed by a mask of the same length (8 or 32 octets).
    /// Returns `None` for other lengths or a non-contiguous mask.
    pub(crate) fn from_x509_bytes(bytes: &[u8]) -> Option<Self> {
        let (addr, mask): (IpAddr, &[u8]) = match bytes.len() {
            8 => {
                let octets: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
                (IpAddr::from(octets), bytes.get(4..)?)
            }
            32 => {
                let octets: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
                (IpAddr::from(octets), bytes.get(16..)?)
            }
            _ => return None,
        };
        let mut prefix: u32 = 0;
        let mut seen_zero = false;
        for byte in mask {
            for bit in (0..8).rev() {
                if byte & (1 << bit) != 0 {
                    if seen_zero {
                        return None;
                    }
                    prefix += 1;
                } else {
                    seen_zero = true;
                }
            }
        }
        IpSubnet::new(addr, u8::try_from(prefix).ok()?).ok()
    }
}

impl fmt::Display for IpSubnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for IpSubnet {
    type Err = CertError;

    /// Parses `addr/prefix` or a bare address (a single host).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| CertError::InvalidName {
            name: s.to_string(),
            reason,
        };
        match s.split_once('/') {
            Some((addr, prefix)) => {
                let addr = addr
                    .parse::<IpAddr>()
                    .map_err(|_| invalid("not an IP address"))?;
                let prefix = prefix
                    .parse::<u8>()
                    .map_err(|_| invalid("bad prefix length"))?;
                IpSubnet::new(addr, prefix)
            }
            None => s
                .parse::<IpAddr>()
                .map(IpSubnet::host)
                .map_err(|_| invalid("not an IP address")),
        }
    }
}

fn mask_addr(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

/// The DNS zones Skyport serves: a leaf certificate is minted only for names within one of them.
///
/// Matching is case-insensitive and by whole labels from the right (`s3.amazonaws.com` is within
/// `amazonaws.com`, `amazonaws.com.evil.com` and `evilamazonaws.com` are not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamePolicy {
    zones: Vec<String>,
}

impl NamePolicy {
    /// A policy from explicit zones. Invalid zones are dropped with a warning; duplicates are removed.
    pub fn new<I, S>(zones: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out: Vec<String> = Vec::new();
        for zone in zones {
            let zone = zone.as_ref();
            match normalize_dns_name(zone) {
                Some(z) if !out.contains(&z) => out.push(z),
                Some(_) => {}
                None => tracing::warn!(
                    zone,
                    "ignoring invalid DNS zone in the certificate name policy"
                ),
            }
        }
        NamePolicy { zones: out }
    }

    /// Skyport's zones: [`LOCAL_ZONES`], the `LOCALSTACK_HOST` host when it is a name, and [`AWS_ZONES`]
    /// when `include_aws` is set. `localstack_host` may carry a port (`myhost:4566`).
    pub fn skyport_default(localstack_host: Option<&str>, include_aws: bool) -> Self {
        let mut zones: Vec<String> = LOCAL_ZONES.iter().map(|z| (*z).to_string()).collect();
        if let Some(ConfiguredHost::Name(host)) = localstack_host.and_then(ConfiguredHost::parse) {
            zones.push(host);
        }
        if include_aws {
            zones.extend(AWS_ZONES.iter().map(|z| (*z).to_string()));
        }
        NamePolicy::new(zones)
    }

    /// The zones, normalised.
    pub fn zones(&self) -> &[String] {
        &self.zones
    }

    /// The most specific zone containing `name` (which must already be normalised), if any.
    pub fn zone_for(&self, name: &str) -> Option<&str> {
        self.zones
            .iter()
            .filter(|zone| dns_name_within(name, zone))
            .max_by_key(|zone| zone.len())
            .map(String::as_str)
    }

    /// `true` if `name` (any case, optional trailing dot) is within one of the zones.
    pub fn allows(&self, name: &str) -> bool {
        normalize_dns_name(name).is_some_and(|n| self.zone_for(&n).is_some())
    }
}

/// The X.509 name constraints written into a newly created CA: the only DNS subtrees and IP ranges a
/// certificate signed by it can be valid for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameConstraintsPolicy {
    dns: Vec<String>,
    ips: Vec<IpSubnet>,
}

impl NameConstraintsPolicy {
    /// Explicit subtrees. Invalid DNS names are dropped with a warning; subtrees already covered by
    /// another one are dropped.
    pub fn new<I, S>(dns: I, ips: impl IntoIterator<Item = IpSubnet>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut policy = NameConstraintsPolicy {
            dns: Vec::new(),
            ips: Vec::new(),
        };
        for name in dns {
            let name = name.as_ref();
            match normalize_dns_name(name) {
                Some(n) => policy.push_dns(n),
                None => tracing::warn!(name, "ignoring invalid DNS name constraint"),
            }
        }
        for subnet in ips {
            policy.push_ip(subnet);
        }
        policy
    }

    /// Skyport's constraints: [`LOCAL_ZONES`] and [`AWS_ZONES`], the `LOCALSTACK_HOST` host (name or IP,
    /// when not already covered), [`DEFAULT_IP_SUBTREES`], and each of `listen_ips` not already covered
    /// (unspecified addresses such as `0.0.0.0` are skipped: pass the concrete interface addresses).
    ///
    /// The AWS zones are always included, even when the resolver does not serve them, so that switching
    /// AWS names on later does not require a new CA.
    pub fn skyport_default(localstack_host: Option<&str>, listen_ips: &[IpAddr]) -> Self {
        let ips = DEFAULT_IP_SUBTREES
            .iter()
            .filter_map(|(addr, prefix)| IpSubnet::new(*addr, *prefix).ok());
        let mut policy = NameConstraintsPolicy::new(LOCAL_ZONES.iter().chain(AWS_ZONES), ips);
        match localstack_host.and_then(ConfiguredHost::parse) {
            Some(ConfiguredHost::Name(host)) => policy.push_dns(host),
            Some(ConfiguredHost::Ip(ip)) if !ip.is_unspecified() => {
                policy.push_ip(IpSubnet::host(ip))
            }
            _ => {}
        }
        for ip in listen_ips {
            if !ip.is_unspecified() {
                policy.push_ip(IpSubnet::host(*ip));
            }
        }
        policy
    }

    fn push_dns(&mut self, name: String) {
        if !self.dns.iter().any(|z| dns_name_within(&name, z)) {
            self.dns.retain(|z| !dns_name_within(z, &name));
            self.dns.push(name);
        }
    }

    fn push_ip(&mut self, subnet: IpSubnet) {
        if !self.ips.iter().any(|s| s.contains_subnet(&subnet)) {
            self.ips.retain(|s| !subnet.contains_subnet(s));
            self.ips.push(subnet);
        }
    }

    /// The permitted DNS subtrees.
    pub fn dns_subtrees(&self) -> &[String] {
        &self.dns
    }

    /// The permitted IP subtrees.
    pub fn ip_subtrees(&self) -> &[IpSubnet] {
        &self.ips
    }

    /// `true` if a certificate for `name` (normalised) would satisfy these constraints.
    pub fn permits_dns(&self, name: &str) -> bool {
        self.dns.iter().any(|zone| dns_name_within(name, zone))
    }

    /// `true` if a certificate for `ip` would satisfy these constraints.
    pub fn permits_ip(&self, ip: IpAddr) -> bool {
        self.ips.iter().any(|s| s.contains(ip))
    }

    pub(crate) fn to_rcgen(&self) -> rcgen::NameConstraints {
        let mut permitted: Vec<rcgen::GeneralSubtree> = self
            .dns
            .iter()
            .map(|d| rcgen::GeneralSubtree::DnsName(d.clone()))
            .collect();
        permitted.extend(
            self.ips
                .iter()
                .map(|s| rcgen::GeneralSubtree::IpAddress(s.to_rcgen())),
        );
        rcgen::NameConstraints {
            permitted_subtrees: permitted,
            excluded_subtrees: Vec::new(),
        }
    }
}

/// Permitted subtrees as found in an existing CA certificate. `None` in a field means that kind of name
/// is not constrained at all (RFC 5280: no subtree of that type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Permitted {
    pub(crate) dns: Option<Vec<String>>,
    pub(crate) ips: Option<Vec<IpSubnet>>,
}

impl Permitted {
    pub(crate) fn unconstrained() -> Self {
        Permitted {
            dns: None,
            ips: None,
        }
    }

    pub(crate) fn permits_dns(&self, name: &str) -> bool {
        match &self.dns {
            None => true,
            Some(zones) => zones.iter().any(|zone| match zone.strip_prefix('.') {
                // A leading dot (an older convention) means "strictly below".
                Some(below) => {
                    name.len() > below.len() && dns_name_within(name, below) && name != below
                }
                None => dns_name_within(name, zone),
            }),
        }
    }

    pub(crate) fn permits_ip(&self, ip: IpAddr) -> bool {
        match &self.ips {
            None => true,
            Some(subnets) => subnets.iter().any(|s| s.contains(ip)),
        }
    }

    /// The subtrees of `wanted` that these permitted subtrees do not fully cover, rendered for logs.
    pub(crate) fn missing(&self, wanted: &NameConstraintsPolicy) -> Vec<String> {
        let mut missing: Vec<String> = wanted
            .dns
            .iter()
            .filter(|zone| !self.permits_dns(zone))
            .map(|zone| format!("DNS:{zone}"))
            .collect();
        if let Some(subnets) = &self.ips {
            missing.extend(
                wanted
                    .ips
                    .iter()
                    .filter(|w| !subnets.iter().any(|s| s.contains_subnet(w)))
                    .map(|w| format!("IP:{w}")),
            );
        }
        missing
    }
}

/// `true` for the label that marks an S3 endpoint in a virtual-hosted-style name (`s3`, `s3-website`,
/// `s3-external-1`, `s3-accesspoint`, `s3-fips`, ...).
fn is_s3_label(label: &str) -> bool {
    label == "s3" || label.starts_with("s3-")
}

/// The SAN a minted leaf for `name` carries, given the policy `zone` that contains it (both normalised).
///
/// * The one-label wildcard parent, `*.<parent>`, when it covers `name`, so that one certificate serves
///   every bucket of a region endpoint or every service of a region
///   (`bucket.s3.us-east-1.amazonaws.com` → `*.s3.us-east-1.amazonaws.com`,
///   `s3.us-east-1.amazonaws.com` → `*.us-east-1.amazonaws.com`).
/// * The exact name when the parent is the zone apex itself: a wildcard directly below
///   `amazonaws.com`, `api.aws`, `amazonaws.com.cn` or `localhost` sits at the registrable-domain /
///   public-suffix level, which browsers and several TLS stacks refuse, and would be needlessly broad
///   (`s3.amazonaws.com` → `s3.amazonaws.com`).
/// * The exact name for S3 virtual-hosted names whose bucket part has dots
///   (`my.dotted.bucket.s3.amazonaws.com`): a wildcard would have to sit inside the bucket name, where
///   it is meaningless and would cover other buckets' partial names.
/// * The name itself when it is the zone apex.
pub fn leaf_san_for(name: &str, zone: &str) -> String {
    if name == zone || !dns_name_within(name, zone) {
        return name.to_string();
    }
    let Some((_, parent)) = name.split_once('.') else {
        return name.to_string();
    };
    if parent == zone || !dns_name_within(parent, zone) {
        return name.to_string();
    }
    // Labels to the left of the zone: find the S3 marker; two or more labels before it = dotted bucket.
    let local_part = name.get(..name.len() - zone.len() - 1).unwrap_or(name);
    if let Some(pos) = local_part.split('.').position(is_s3_label)
        && pos >= 2
    {
        return name.to_string();
    }
    format!("*.{parent}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(
            normalize_dns_name("S3.AmazonAWS.com."),
            Some("s3.amazonaws.com".into())
        );
        assert_eq!(normalize_dns_name("*.amazonaws.com"), None);
        assert_eq!(normalize_dns_name("a..b"), None);
        assert_eq!(normalize_dns_name(""), None);
        assert_eq!(normalize_dns_name("127.0.0.1"), None);
        assert_eq!(normalize_dns_name("1.2.3.999"), None);
        assert_eq!(normalize_dns_name("under_score.com"), None);
        assert_eq!(normalize_dns_name("-bad.com"), None);
        assert_eq!(normalize_dns_name(&"a".repeat(64)), None);
        assert_eq!(normalize_dns_name("localhost"), Some("localhost".into()));
    }

    #[test]
    fn policy_matches_whole_labels() {
        let p = NamePolicy::skyport_default(None, true);
        for ok in [
            "s3.amazonaws.com",
            "AMAZONAWS.COM",
            "bucket.s3.us-east-1.amazonaws.com.",
            "sts.amazonaws.com.cn",
            "x.api.aws",
            "signin.aws.amazon.com",
            "localhost",
            "a.localhost",
            "sqs.ap-south-2.localhost.localstack.cloud",
        ] {
            assert!(p.allows(ok), "{ok}");
        }
        for bad in [
            "example.com",
            "amazonaws.com.evil.com",
            "evilamazonaws.com",
            "amazon.com",
            "localstack.cloud",
            "notlocalhost",
            "",
            "*.amazonaws.com",
        ] {
            assert!(!p.allows(bad), "{bad}");
        }
        let no_aws = NamePolicy::skyport_default(Some("dev.example.org:4566"), false);
        assert!(!no_aws.allows("s3.amazonaws.com"));
        assert!(no_aws.allows("sqs.dev.example.org"));
        assert_eq!(
            no_aws.zone_for("a.dev.example.org"),
            Some("dev.example.org")
        );
    }

    #[test]
    fn most_specific_zone_wins() {
        let p = NamePolicy::new(["localhost", "localhost.localstack.cloud", "cloud"]);
        assert_eq!(
            p.zone_for("s3.localhost.localstack.cloud"),
            Some("localhost.localstack.cloud")
        );
    }

    #[test]
    fn san_choice() {
        let cases = [
            ("s3.amazonaws.com", "amazonaws.com", "s3.amazonaws.com"),
            ("amazonaws.com", "amazonaws.com", "amazonaws.com"),
            (
                "s3.us-east-1.amazonaws.com",
                "amazonaws.com",
                "*.us-east-1.amazonaws.com",
            ),
            (
                "s3.dualstack.eu-west-1.amazonaws.com",
                "amazonaws.com",
                "*.dualstack.eu-west-1.amazonaws.com",
            ),
            (
                "bucket.s3.us-east-1.amazonaws.com",
                "amazonaws.com",
                "*.s3.us-east-1.amazonaws.com",
            ),
            (
                "bucket.s3.amazonaws.com",
                "amazonaws.com",
                "*.s3.amazonaws.com",
            ),
            (
                "my.dotted.bucket.s3.amazonaws.com",
                "amazonaws.com",
                "my.dotted.bucket.s3.amazonaws.com",
            ),
            (
                "a.b.s3-website-us-east-1.amazonaws.com",
                "amazonaws.com",
                "a.b.s3-website-us-east-1.amazonaws.com",
            ),
            ("foo.localhost", "localhost", "foo.localhost"),
            (
                "sqs.ap-south-2.localhost.localstack.cloud",
                "localhost.localstack.cloud",
                "*.ap-south-2.localhost.localstack.cloud",
            ),
            (
                "s3.localhost.localstack.cloud",
                "localhost.localstack.cloud",
                "s3.localhost.localstack.cloud",
            ),
            ("sts.api.aws", "api.aws", "sts.api.aws"),
        ];
        for (name, zone, want) in cases {
            assert_eq!(leaf_san_for(name, zone), want, "{name}");
        }
    }

    #[test]
    fn subnets() {
        let s: IpSubnet = "172.16.0.0/12".parse().unwrap();
        assert!(s.contains("172.31.255.1".parse().unwrap()));
        assert!(!s.contains("172.32.0.1".parse().unwrap()));
        assert!(!s.contains("::1".parse().unwrap()));
        let h: IpSubnet = "10.1.2.3".parse().unwrap();
        assert_eq!(h.prefix(), 32);
        assert!(
            "10.0.0.0/8"
                .parse::<IpSubnet>()
                .unwrap()
                .contains_subnet(&h)
        );
        assert_eq!(
            "10.9.9.9/8".parse::<IpSubnet>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert!("10.0.0.0/33".parse::<IpSubnet>().is_err());
        assert!(
            "fc00::/7"
                .parse::<IpSubnet>()
                .unwrap()
                .contains("fd12::1".parse().unwrap())
        );
        let bytes = [10, 0, 0, 0, 255, 0, 0, 0];
        assert_eq!(
            IpSubnet::from_x509_bytes(&bytes),
            Some("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(
            IpSubnet::from_x509_bytes(&[10, 0, 0, 0, 255, 0, 255, 0]),
            None
        );
        assert_eq!(IpSubnet::from_x509_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn configured_host_forms() {
        let name = |s: &str| Some(ConfiguredHost::Name(s.to_string()));
        let ip = |s: &str| Some(ConfiguredHost::Ip(s.parse().unwrap()));
        assert_eq!(
            ConfiguredHost::parse("localhost.localstack.cloud:4566"),
            name("localhost.localstack.cloud")
        );
        assert_eq!(ConfiguredHost::parse("MyHost"), name("myhost"));
        assert_eq!(ConfiguredHost::parse("192.168.1.5:4566"), ip("192.168.1.5"));
        assert_eq!(ConfiguredHost::parse("[::1]:4566"), ip("::1"));
        assert_eq!(ConfiguredHost::parse("fd00::5"), ip("fd00::5"));
        assert_eq!(ConfiguredHost::parse("host:port"), None);
        assert_eq!(ConfiguredHost::parse(""), None);
    }

    #[test]
    fn constraint_defaults() {
        let ips: Vec<IpAddr> = vec![
            "0.0.0.0".parse().unwrap(),
            "10.2.3.4".parse().unwrap(),
            "203.0.113.7".parse().unwrap(),
        ];
        let c = NameConstraintsPolicy::skyport_default(Some("dev.example.org:4566"), &ips);
        assert!(c.permits_dns("x.dev.example.org"));
        assert!(c.permits_dns("s3.amazonaws.com"));
        assert!(!c.permits_dns("www.google.com"));
        assert!(c.permits_ip("203.0.113.7".parse().unwrap()));
        assert!(!c.permits_ip("203.0.113.8".parse().unwrap()));
        assert!(!c.permits_ip("0.0.0.0".parse().unwrap()));
        assert!(c.permits_ip("198.19.0.1".parse().unwrap()));
        // 10.2.3.4 is inside 10/8 already: not listed twice.
        assert_eq!(
            c.ip_subtrees().iter().filter(|s| s.prefix() == 32).count(),
            1
        );
        // A host below an existing zone adds nothing.
        let c2 = NameConstraintsPolicy::skyport_default(Some("foo.localhost"), &[]);
        assert_eq!(c2.dns_subtrees().len(), LOCAL_ZONES.len() + AWS_ZONES.len());
    }

    #[test]
    fn permitted_missing() {
        let wanted = NameConstraintsPolicy::skyport_default(Some("dev.example.org"), &[]);
        let have = Permitted {
            dns: Some(vec!["amazonaws.com".into(), "localhost".into()]),
            ips: Some(vec!["127.0.0.0/8".parse().unwrap()]),
        };
        let missing = have.missing(&wanted);
        assert!(missing.contains(&"DNS:dev.example.org".to_string()));
        assert!(missing.contains(&"IP:10.0.0.0/8".to_string()));
        assert!(!missing.contains(&"DNS:amazonaws.com".to_string()));
        assert!(Permitted::unconstrained().missing(&wanted).is_empty());
        let dotted = Permitted {
            dns: Some(vec![".example.com".into()]),
            ips: None,
        };
        assert!(dotted.permits_dns("a.example.com"));
        assert!(!dotted.permits_dns("example.com"));
    }
}

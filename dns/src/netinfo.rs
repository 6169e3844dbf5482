//! Skyport's view of its own network: interface addresses with prefix lengths and gateway addresses
//! (read from the kernel, cached about 10 s and refreshed early when a client matches no network),
//! and the rules that pick the address a client should get for Skyport's names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{DnsConfig, IpNetwork, canonical_ip};
use crate::error::{DnsError, Result};

/// How long an interface snapshot is trusted.
const SNAPSHOT_MAX_AGE: Duration = Duration::from_secs(10);
/// Minimum spacing of refreshes triggered by a client that matches no network.
const MISS_REFRESH_SPACING: Duration = Duration::from_secs(1);

/// One address of one of Skyport's interfaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddr {
    /// Interface name (`eth0`, `docker0`, `lo`).
    pub name: String,
    /// The address.
    pub ip: IpAddr,
    /// Prefix length of the interface network.
    pub prefix_len: u8,
}

impl InterfaceAddr {
    /// The network this address sits in.
    pub fn network(&self) -> IpNetwork {
        IpNetwork::clamped(self.ip, self.prefix_len)
    }
}

/// A point-in-time list of Skyport's interface addresses and known gateway addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetSnapshot {
    /// Interface addresses.
    pub addrs: Vec<InterfaceAddr>,
    /// Gateway (next-hop) addresses of the routing table.
    pub gateways: Vec<IpAddr>,
}

impl NetSnapshot {
    /// Reads interfaces (via `getifaddrs`) and gateways (`/proc/net/route`, `/proc/net/ipv6_route`
    /// where they exist) from the running system.
    pub fn from_system() -> Result<Self> {
        let ifaces = if_addrs::get_if_addrs().map_err(DnsError::Interfaces)?;
        let addrs = ifaces
            .into_iter()
            .map(|i| {
                let (ip, prefix_len) = match i.addr {
                    if_addrs::IfAddr::V4(a) => (IpAddr::V4(a.ip), a.prefixlen),
                    if_addrs::IfAddr::V6(a) => (IpAddr::V6(a.ip), a.prefixlen),
                };
                InterfaceAddr {
                    name: i.name,
                    ip,
                    prefix_len,
                }
            })
            .collect();
        let mut gateways = Vec::new();
        if let Ok(text) = std::fs::read_to_string("/proc/net/route") {
            gateways.extend(parse_proc_route(&text).into_iter().map(IpAddr::V4));
        }
        if let Ok(text) = std::fs::read_to_string("/proc/net/ipv6_route") {
            gateways.extend(parse_proc_ipv6_route(&text).into_iter().map(IpAddr::V6));
        }
        gateways.sort();
        gateways.dedup();
        Ok(NetSnapshot { addrs, gateways })
    }

    /// Whether `ip` is one of Skyport's own addresses.
    pub fn is_own_address(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.addrs.iter().any(|a| a.ip == ip)
    }

    /// The most specific interface address whose network contains `client` (same family), preferring
    /// `preferred` (the listener's own address) when it qualifies. Link-local IPv6 is skipped.
    pub fn interface_for(
        &self,
        client: IpAddr,
        preferred: Option<IpAddr>,
    ) -> Option<&InterfaceAddr> {
        let client = canonical_ip(client);
        let candidates = self
            .addrs
            .iter()
            .filter(|a| !is_link_local_v6(a.ip) && !a.ip.is_loopback())
            .filter(|a| a.network().contains(client));
        let mut best: Option<&InterfaceAddr> = None;
        for a in candidates {
            if preferred.map(canonical_ip) == Some(a.ip) {
                return Some(a);
            }
            if best.is_none_or(|b| a.prefix_len > b.prefix_len) {
                best = Some(a);
            }
        }
        best
    }

    /// Whether `client` is on one of Skyport's interface networks (loopback included).
    pub fn on_own_network(&self, client: IpAddr) -> bool {
        let client = canonical_ip(client);
        client.is_loopback() || self.addrs.iter().any(|a| a.network().contains(client))
    }
}

fn is_link_local_v6(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

/// Gateways from `/proc/net/route`: the `Gateway` column (hex, host byte order little-endian).
pub(crate) fn parse_proc_route(text: &str) -> Vec<Ipv4Addr> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let gw = line.split_whitespace().nth(2)?;
            let raw = u32::from_str_radix(gw, 16).ok()?;
            (raw != 0).then(|| Ipv4Addr::from(raw.swap_bytes()))
        })
        .collect()
}

/// Next hops from `/proc/net/ipv6_route` (fifth column, 32 hex digits).
pub(crate) fn parse_proc_ipv6_route(text: &str) -> Vec<Ipv6Addr> {
    text.lines()
        .filter_map(|line| {
            let hop = line.split_whitespace().nth(4)?;
            let raw = u128::from_str_radix(hop, 16).ok()?;
            (raw != 0).then(|| Ipv6Addr::from(raw))
        })
        .collect()
}

/// Where interface information comes from.
#[derive(Debug, Clone, Default)]
pub enum InterfaceSource {
    /// The running system, re-read at most every 10 s (and on a client miss, at most once a second).
    #[default]
    System,
    /// A fixed snapshot (tests, `explain` for another machine).
    Static(NetSnapshot),
}

/// Cached interface information shared by the server's tasks.
#[derive(Debug)]
pub(crate) struct NetView {
    source: InterfaceSource,
    state: Mutex<ViewState>,
}

#[derive(Debug)]
struct ViewState {
    snapshot: Arc<NetSnapshot>,
    taken: Instant,
    last_miss_refresh: Option<Instant>,
}

impl NetView {
    pub(crate) fn new(source: InterfaceSource) -> Self {
        let snapshot = match &source {
            InterfaceSource::Static(s) => s.clone(),
            InterfaceSource::System => NetSnapshot::from_system().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "dns: cannot list interfaces; per-network answers fall back to 127.0.0.1");
                NetSnapshot::default()
            }),
        };
        NetView {
            source,
            state: Mutex::new(ViewState {
                snapshot: Arc::new(snapshot),
                taken: Instant::now(),
                last_miss_refresh: None,
            }),
        }
    }

    fn refresh(&self, state: &mut ViewState, now: Instant) {
        if let InterfaceSource::System = self.source {
            match NetSnapshot::from_system() {
                // An unchanged view keeps its identity, so answers remembered for it stay usable.
                Ok(s) if s == *state.snapshot => {}
                Ok(s) => state.snapshot = Arc::new(s),
                Err(e) => tracing::warn!(error = %e, "dns: cannot refresh interfaces"),
            }
        }
        state.taken = now;
    }

    /// The current snapshot, re-read when older than 10 s.
    pub(crate) fn snapshot(&self) -> Arc<NetSnapshot> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if now.duration_since(state.taken) > SNAPSHOT_MAX_AGE {
            self.refresh(&mut state, now);
        }
        Arc::clone(&state.snapshot)
    }

    /// A snapshot suited to `client`: when the client is on none of the known networks, the
    /// interfaces are re-read (at most once a second) in case a network was just created.
    pub(crate) fn snapshot_for(&self, client: IpAddr) -> Arc<NetSnapshot> {
        let snap = self.snapshot();
        if snap.on_own_network(client) || !matches!(self.source, InterfaceSource::System) {
            return snap;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let due = state
            .last_miss_refresh
            .is_none_or(|t| now.duration_since(t) >= MISS_REFRESH_SPACING);
        if due {
            state.last_miss_refresh = Some(now);
            self.refresh(&mut state, now);
        }
        Arc::clone(&state.snapshot)
    }
}

/// Why an address was chosen for a client (shown by `explain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressReason {
    /// `DNS_RESOLVE_IP` is set.
    FixedResolveIp,
    /// The registry entry names a fixed address.
    RegistryAddress,
    /// The client is on loopback, or uses one of Skyport's own addresses (a process on the same
    /// host, e.g. systemd-resolved asking from a dummy interface).
    LoopbackClient,
    /// The client is the gateway of a network Skyport's container is on (the host through a
    /// published port).
    GatewayClient {
        /// The gateway address.
        gateway: IpAddr,
    },
    /// Skyport's address on the interface whose network contains the client.
    ClientNetwork {
        /// Interface name.
        interface: String,
        /// Its network.
        network: IpNetwork,
    },
    /// No network contains the client; the address the query arrived on is used.
    ListenerAddress,
    /// No network contains the client and the listener is a wildcard: 127.0.0.1.
    Fallback,
    /// No suitable address of this family exists: the answer is empty (NOERROR, no records).
    NoAddress,
}

impl std::fmt::Display for AddressReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddressReason::FixedResolveIp => f.write_str("DNS_RESOLVE_IP is set"),
            AddressReason::RegistryAddress => {
                f.write_str("the registry entry names a fixed address")
            }
            AddressReason::LoopbackClient => {
                f.write_str("the client is on loopback or on this host")
            }
            AddressReason::GatewayClient { gateway } => write!(
                f,
                "the client {gateway} is the network gateway (the host through a published port)"
            ),
            AddressReason::ClientNetwork { interface, network } => write!(
                f,
                "Skyport's address on {interface}, whose network {network} contains the client"
            ),
            AddressReason::ListenerAddress => f.write_str(
                "no interface network contains the client; the address it queried is used",
            ),
            AddressReason::Fallback => {
                f.write_str("no interface network contains the client; fallback 127.0.0.1")
            }
            AddressReason::NoAddress => {
                f.write_str("Skyport has no address of this family for the client")
            }
        }
    }
}

fn is_gateway(config: &DnsConfig, snap: &NetSnapshot, client: IpAddr) -> bool {
    config.in_container
        && (snap.gateways.contains(&client) || config.extra_gateways.contains(&client))
}

/// The IPv4 address a client gets for Skyport's names.
pub(crate) fn choose_v4(
    config: &DnsConfig,
    snap: &NetSnapshot,
    client: IpAddr,
    local: Option<IpAddr>,
) -> (Option<Ipv4Addr>, AddressReason) {
    if let Some(ip) = config.resolve_ip {
        return match canonical_ip(ip) {
            IpAddr::V4(v4) => (Some(v4), AddressReason::FixedResolveIp),
            IpAddr::V6(_) => (None, AddressReason::NoAddress),
        };
    }
    let client = canonical_ip(client);
    if client.is_loopback() || snap.is_own_address(client) {
        return (Some(Ipv4Addr::LOCALHOST), AddressReason::LoopbackClient);
    }
    if is_gateway(config, snap, client) {
        return (
            Some(Ipv4Addr::LOCALHOST),
            AddressReason::GatewayClient { gateway: client },
        );
    }
    if let Some(iface) = snap.interface_for(client, local) {
        let reason = AddressReason::ClientNetwork {
            interface: iface.name.clone(),
            network: iface.network(),
        };
        return match iface.ip {
            IpAddr::V4(v4) => (Some(v4), reason),
            IpAddr::V6(_) => match v4_on_interface(snap, &iface.name) {
                Some(v4) => (Some(v4), reason),
                None => (None, AddressReason::NoAddress),
            },
        };
    }
    match local.map(canonical_ip) {
        Some(IpAddr::V4(v4)) if !v4.is_unspecified() => (Some(v4), AddressReason::ListenerAddress),
        _ => {
            tracing::debug!(%client, "dns: client on no known network, answering 127.0.0.1");
            (Some(Ipv4Addr::LOCALHOST), AddressReason::Fallback)
        }
    }
}

fn v4_on_interface(snap: &NetSnapshot, name: &str) -> Option<Ipv4Addr> {
    snap.addrs.iter().find_map(|a| match a.ip {
        IpAddr::V4(v4) if a.name == name => Some(v4),
        _ => None,
    })
}

fn global_v6_on_interface(snap: &NetSnapshot, name: &str) -> Option<Ipv6Addr> {
    snap.addrs.iter().find_map(|a| match a.ip {
        IpAddr::V6(v6) if a.name == name && !is_link_local_v6(a.ip) && !v6.is_loopback() => {
            Some(v6)
        }
        _ => None,
    })
}

/// The IPv6 address a client gets for Skyport's names: Skyport's IPv6 address on the client's
/// network, `::1` for loopback clients, otherwise none (never `::1` for a non-loopback client).
pub(crate) fn choose_v6(
    config: &DnsConfig,
    snap: &NetSnapshot,
    client: IpAddr,
    local: Option<IpAddr>,
) -> (Option<Ipv6Addr>, AddressReason) {
    if let Some(ip) = config.resolve_ip {
        return match canonical_ip(ip) {
            IpAddr::V6(v6) => (Some(v6), AddressReason::FixedResolveIp),
            IpAddr::V4(_) => (None, AddressReason::NoAddress),
        };
    }
    let client = canonical_ip(client);
    if client.is_loopback() || snap.is_own_address(client) {
        return (Some(Ipv6Addr::LOCALHOST), AddressReason::LoopbackClient);
    }
    if is_gateway(config, snap, client) {
        return (None, AddressReason::NoAddress);
    }
    if let Some(iface) = snap.interface_for(client, local) {
        let v6 = match iface.ip {
            IpAddr::V6(v6) => Some(v6),
            IpAddr::V4(_) => global_v6_on_interface(snap, &iface.name),
        };
        if let Some(v6) = v6 {
            return (
                Some(v6),
                AddressReason::ClientNetwork {
                    interface: iface.name.clone(),
                    network: iface.network(),
                },
            );
        }
        return (None, AddressReason::NoAddress);
    }
    match local.map(canonical_ip) {
        Some(IpAddr::V6(v6)) if !v6.is_unspecified() && !v6.is_loopback() => {
            (Some(v6), AddressReason::ListenerAddress)
        }
        _ => (None, AddressReason::NoAddress),
    }
}

/// Whether the ACL lets `client` use this server.
pub(crate) fn client_allowed(config: &DnsConfig, snap: &NetSnapshot, client: IpAddr) -> bool {
    let client = canonical_ip(client);
    config.open_access
        || snap.on_own_network(client)
        || config.allowed_clients.iter().any(|n| n.contains(client))
}

/// The address a UDP/TCP listener is bound to, if specific (not a wildcard).
pub(crate) fn specific_local(addr: SocketAddr) -> Option<IpAddr> {
    let ip = canonical_ip(addr.ip());
    (!ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample_snapshot() -> NetSnapshot {
        let a = |name: &str, ip: &str, p: u8| InterfaceAddr {
            name: name.to_string(),
            ip: ip.parse().unwrap(),
            prefix_len: p,
        };
        NetSnapshot {
            addrs: vec![
                a("lo", "127.0.0.1", 8),
                a("lo", "::1", 128),
                a("eth0", "172.18.0.2", 16),
                a("eth0", "fd00:18::2", 64),
                a("eth0", "fe80::1", 64),
                a("eth1", "172.19.0.5", 16),
            ],
            gateways: vec!["172.18.0.1".parse().unwrap()],
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn proc_route_parsing() {
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t010012AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        assert_eq!(parse_proc_route(text), vec![Ipv4Addr::new(172, 18, 0, 1)]);
        let v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000018000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n";
        assert_eq!(
            parse_proc_ipv6_route(v6),
            vec!["fd00:18::1".parse::<Ipv6Addr>().unwrap()]
        );
        assert!(parse_proc_route("garbage\nxx yy zz\n").is_empty());
    }

    #[test]
    fn per_network_choice() {
        let snap = sample_snapshot();
        let cfg = DnsConfig::default();
        assert_eq!(
            choose_v4(&cfg, &snap, ip("172.18.0.9"), None).0,
            Some(Ipv4Addr::new(172, 18, 0, 2))
        );
        assert_eq!(
            choose_v4(&cfg, &snap, ip("172.19.3.3"), None).0,
            Some(Ipv4Addr::new(172, 19, 0, 5))
        );
        assert_eq!(
            choose_v4(&cfg, &snap, ip("::ffff:172.19.3.3"), None).0,
            Some(Ipv4Addr::new(172, 19, 0, 5))
        );
        assert_eq!(
            choose_v4(&cfg, &snap, ip("127.0.0.1"), None).0,
            Some(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            choose_v4(&cfg, &snap, ip("::1"), None).0,
            Some(Ipv4Addr::LOCALHOST)
        );
        // natively the gateway is just another client on the network
        assert_eq!(
            choose_v4(&cfg, &snap, ip("172.18.0.1"), None).0,
            Some(Ipv4Addr::new(172, 18, 0, 2))
        );
        let (a, r) = choose_v4(&cfg, &snap, ip("10.1.1.1"), None);
        assert_eq!((a, r), (Some(Ipv4Addr::LOCALHOST), AddressReason::Fallback));
        let (a, r) = choose_v4(&cfg, &snap, ip("10.1.1.1"), Some(ip("192.0.2.4")));
        assert_eq!(
            (a, r),
            (
                Some(Ipv4Addr::new(192, 0, 2, 4)),
                AddressReason::ListenerAddress
            )
        );
    }

    #[test]
    fn gateway_in_container_gets_loopback() {
        let snap = sample_snapshot();
        let cfg = DnsConfig {
            in_container: true,
            extra_gateways: vec![ip("172.19.0.1")],
            ..DnsConfig::default()
        };
        assert_eq!(
            choose_v4(&cfg, &snap, ip("172.18.0.1"), None).0,
            Some(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            choose_v4(&cfg, &snap, ip("172.19.0.1"), None).0,
            Some(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(choose_v6(&cfg, &snap, ip("172.18.0.1"), None).0, None);
    }

    #[test]
    fn aaaa_rules() {
        let snap = sample_snapshot();
        let cfg = DnsConfig::default();
        assert_eq!(
            choose_v6(&cfg, &snap, ip("::1"), None).0,
            Some(Ipv6Addr::LOCALHOST)
        );
        assert_eq!(
            choose_v6(&cfg, &snap, ip("127.0.0.1"), None).0,
            Some(Ipv6Addr::LOCALHOST)
        );
        assert_eq!(
            choose_v6(&cfg, &snap, ip("172.18.0.9"), None).0,
            Some("fd00:18::2".parse().unwrap())
        );
        assert_eq!(
            choose_v6(&cfg, &snap, ip("fd00:18::77"), None).0,
            Some("fd00:18::2".parse().unwrap())
        );
        // eth1 has no IPv6 address: empty, never ::1
        assert_eq!(
            choose_v6(&cfg, &snap, ip("172.19.0.9"), None),
            (None, AddressReason::NoAddress)
        );
        assert_eq!(
            choose_v6(&cfg, &snap, ip("10.0.0.1"), None),
            (None, AddressReason::NoAddress)
        );
    }

    #[test]
    fn fixed_resolve_ip() {
        let snap = sample_snapshot();
        let cfg = DnsConfig {
            resolve_ip: Some(ip("192.0.2.10")),
            ..DnsConfig::default()
        };
        assert_eq!(
            choose_v4(&cfg, &snap, ip("127.0.0.1"), None).0,
            Some(Ipv4Addr::new(192, 0, 2, 10))
        );
        assert_eq!(choose_v6(&cfg, &snap, ip("127.0.0.1"), None).0, None);
    }

    #[test]
    fn acl() {
        let snap = sample_snapshot();
        let mut cfg = DnsConfig::default();
        assert!(client_allowed(&cfg, &snap, ip("127.0.0.1")));
        assert!(client_allowed(&cfg, &snap, ip("::1")));
        assert!(client_allowed(&cfg, &snap, ip("172.19.200.1")));
        assert!(!client_allowed(&cfg, &snap, ip("203.0.113.5")));
        cfg.allowed_clients.push("203.0.113.0/24".parse().unwrap());
        assert!(client_allowed(&cfg, &snap, ip("203.0.113.5")));
        cfg.allowed_clients.clear();
        cfg.open_access = true;
        assert!(client_allowed(&cfg, &snap, ip("203.0.113.5")));
    }
}

//! The binary's side of the embedded DNS server (crate `skyport-dns`): turns the [`Config`] into a
//! [`DnsConfig`] (upstreams from `DNS_SERVER`, else from `/etc/resolv.conf` read at start without
//! Skyport's own addresses), starts the listeners before the gateway, and turns bind failures into
//! one actionable warning instead of a failed start: Skyport keeps running without DNS.
//!
//! [`PortNamesInDns`] lets names given with external service port allocations resolve to Skyport.
//!
//! Each bound address is logged as `DNS listening on <addr> (UDP and TCP)`; the end-to-end harness
//! reads these lines.

use std::net::{IpAddr, SocketAddr};

use skyport_core::ports::PortNames;
use skyport_dns::{
    BindErrorKind, DnsConfig, DnsError, DnsServer, NetSnapshot, RecordTarget, Records,
};

use crate::config::Config;

/// The DNS server's runtime registry as the port range's name registry: a name given with an
/// allocation resolves to Skyport (its address as the client sees it) until the allocation is released.
pub struct PortNamesInDns(pub Records);

impl PortNames for PortNamesInDns {
    fn add(&self, name: &str) -> Result<(), String> {
        self.0
            .add_name(name, RecordTarget::Skyport)
            .map_err(|e| e.to_string())
    }

    fn remove(&self, name: &str) {
        self.0.remove_name(name);
    }
}

/// Where the system's resolvers are listed.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The addresses the DNS server listens on: `DNS_ADDRESS:DNS_PORT` first, then
/// `SKYPORT_DNS_EXTRA_LISTEN`. Empty when `DNS_ADDRESS=0` turns the DNS off.
pub fn listen_addrs(config: &Config) -> Vec<SocketAddr> {
    let Some(primary) = config.dns.address else {
        return Vec::new();
    };
    let mut out = vec![SocketAddr::new(primary, config.dns.port)];
    for addr in &config.dns.extra_listen {
        if !out.contains(addr) {
            out.push(*addr);
        }
    }
    out
}

/// The addresses where Skyport's own DNS answers on port 53 (forwarding there would loop): the
/// listener IPs on port 53, and for a wildcard listener on port 53 every interface address.
pub fn own_dns_ips(listen: &[SocketAddr], interfaces: Option<&NetSnapshot>) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for addr in listen.iter().filter(|a| a.port() == 53) {
        if addr.ip().is_unspecified() {
            if let Some(snap) = interfaces {
                out.extend(
                    snap.addrs
                        .iter()
                        .filter(|i| i.ip.is_ipv4() == addr.is_ipv4())
                        .map(|i| i.ip),
                );
            }
        } else {
            out.push(addr.ip());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Builds the DNS server's configuration. `resolv_conf` is the text of `/etc/resolv.conf` (used only
/// when `DNS_SERVER` is unset); `own_ips` are Skyport's own port-53 addresses (see [`own_dns_ips`]).
pub fn dns_config(config: &Config, resolv_conf: Option<&str>, own_ips: &[IpAddr]) -> DnsConfig {
    let upstreams = if config.dns.upstreams.is_empty() {
        resolv_conf.map_or_else(Vec::new, |text| {
            skyport_dns::upstreams_from_resolv_conf(text, own_ips, config.in_container)
        })
    } else {
        config.dns.upstreams.clone()
    };
    let host = config.localstack_host.host.trim().trim_end_matches('.');
    // `localhost` must keep meaning "this machine" for every client (a container included).
    let localstack_host =
        (!host.is_empty() && !host.eq_ignore_ascii_case("localhost")).then(|| host.to_owned());
    DnsConfig {
        listen: listen_addrs(config),
        upstreams,
        resolve_ip: config.dns.resolve_ip,
        localstack_host,
        aws_names: config.dns.aws_names,
        skip_patterns: config.dns.upstream_patterns.clone(),
        in_container: config.in_container,
        ..DnsConfig::default()
    }
}

/// Reads `/etc/resolv.conf` when it is needed (no `DNS_SERVER`) and builds the configuration.
pub fn load_dns_config(config: &Config) -> DnsConfig {
    let listen = listen_addrs(config);
    let resolv_conf = if config.dns.upstreams.is_empty() {
        match std::fs::read_to_string(RESOLV_CONF) {
            Ok(text) => Some(text),
            Err(e) => {
                tracing::warn!(
                    "cannot read {RESOLV_CONF} ({e}): names Skyport does not answer itself get \
                     SERVFAIL; set DNS_SERVER to forward them"
                );
                None
            }
        }
    } else {
        None
    };
    let needs_interfaces = listen
        .iter()
        .any(|a| a.port() == 53 && a.ip().is_unspecified());
    let interfaces = if needs_interfaces && resolv_conf.is_some() {
        NetSnapshot::from_system()
            .inspect_err(|e| tracing::debug!("dns: {e}"))
            .ok()
    } else {
        None
    };
    let own = own_dns_ips(&listen, interfaces.as_ref());
    dns_config(config, resolv_conf.as_deref(), &own)
}

/// The warning for a listener that could not be bound, with the fix.
pub fn bind_warning(err: &DnsError, addr: SocketAddr, in_container: bool) -> String {
    let continuing = "Skyport keeps running without DNS on it";
    match err.bind_kind() {
        Some(BindErrorKind::PermissionDenied) if in_container => format!(
            "DNS: no permission to listen on {addr} (ports below 1024 need privileges); {continuing}. \
             Fix: give the container CAP_NET_BIND_SERVICE (`--cap-add NET_BIND_SERVICE`) or run it as \
             root, or DNS_PORT=5353, or DNS_ADDRESS=0 to turn the DNS server off"
        ),
        Some(BindErrorKind::PermissionDenied) => format!(
            "DNS: no permission to listen on {addr} (ports below 1024 need privileges); {continuing}. \
             Fix: `sudo setcap cap_net_bind_service=+ep $(which skyport)`, or DNS_PORT=5353 (and point \
             your resolver at that port), or DNS_ADDRESS=0 to turn the DNS server off"
        ),
        Some(BindErrorKind::InUse) => format!(
            "DNS: {addr} is already in use by another DNS server (dnsmasq, systemd-resolved, \
             mDNSResponder, another Skyport); {continuing}. Fix: stop it, or choose another \
             DNS_ADDRESS or DNS_PORT (e.g. DNS_PORT=5353), or DNS_ADDRESS=0 to turn the DNS server off"
        ),
        Some(BindErrorKind::AddressNotAvailable) => format!(
            "DNS: {addr} is not an address of this host; {continuing}. Fix: set DNS_ADDRESS \
             (or SKYPORT_DNS_EXTRA_LISTEN) to one of its addresses, or DNS_ADDRESS=0"
        ),
        _ => format!(
            "DNS: cannot listen on {addr}: {err}; {continuing}. Set DNS_ADDRESS/DNS_PORT to a free \
             address, or DNS_ADDRESS=0 to turn the DNS server off"
        ),
    }
}

/// Starts the DNS server when it is on (`DNS_ADDRESS` is not `0`). Returns `None` when it is off
/// or no listener could be bound; bind failures are logged as warnings, never fatal.
pub async fn start(config: &Config) -> Option<DnsServer> {
    let mut dns_config = load_dns_config(config);
    let listen = std::mem::take(&mut dns_config.listen);
    if listen.is_empty() {
        tracing::debug!("DNS server off (DNS_ADDRESS=0)");
        return None;
    }
    if dns_config.upstreams.is_empty() {
        tracing::warn!(
            "DNS: no upstream resolver (DNS_SERVER unset and none usable in {RESOLV_CONF}); names \
             Skyport does not answer itself get SERVFAIL"
        );
    }
    let upstreams: Vec<String> = dns_config
        .upstreams
        .iter()
        .map(ToString::to_string)
        .collect();
    let server = match DnsServer::start(dns_config).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(
                "DNS: cannot start the DNS server: {e}; Skyport keeps running without DNS"
            );
            return None;
        }
    };
    let mut failures: Vec<(SocketAddr, DnsError)> = Vec::new();
    for addr in listen {
        match server.add_listener(addr).await {
            Ok(bound) => tracing::info!("DNS listening on {bound} (UDP and TCP)"),
            Err(e) => failures.push((addr, e)),
        }
    }
    for (addr, e) in &failures {
        tracing::warn!("{}", bind_warning(e, *addr, config.in_container));
    }
    if server.local_addrs().is_empty() {
        drop(server);
        return None;
    }
    tracing::info!(
        upstreams = %if upstreams.is_empty() { "none".to_owned() } else { upstreams.join(",") },
        aws_names = config.dns.aws_names,
        "DNS ready"
    );
    Some(server)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use skyport_dns::InterfaceAddr;

    use super::*;

    fn config(pairs: &[(&str, &str)], in_container: bool) -> Config {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::load(&env, in_container).unwrap()
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn listen_addresses_and_off() {
        let c = config(&[], false);
        assert_eq!(listen_addrs(&c), vec![sa("127.0.0.1:53")]);
        let c = config(&[], true);
        assert_eq!(listen_addrs(&c), vec![sa("0.0.0.0:53")]);
        let c = config(
            &[
                ("DNS_PORT", "5300"),
                ("SKYPORT_DNS_EXTRA_LISTEN", "172.17.0.1,127.0.0.1"),
            ],
            false,
        );
        assert_eq!(
            listen_addrs(&c),
            vec![sa("127.0.0.1:5300"), sa("172.17.0.1:5300")]
        );
        let c = config(
            &[
                ("DNS_ADDRESS", "0"),
                ("SKYPORT_DNS_EXTRA_LISTEN", "10.0.0.1"),
            ],
            false,
        );
        assert!(listen_addrs(&c).is_empty());
    }

    #[test]
    fn upstreams_from_dns_server_or_resolv_conf() {
        let resolv = "nameserver 127.0.0.1\nnameserver 127.0.0.11\nnameserver 10.0.0.2\n";
        // DNS_SERVER wins; resolv.conf is not consulted.
        let c = config(&[("DNS_SERVER", "127.0.0.1:5399")], false);
        let d = dns_config(&c, Some(resolv), &[]);
        assert_eq!(d.upstreams, vec![sa("127.0.0.1:5399")]);
        // Natively on 127.0.0.1:53: our own address is dropped, the rest kept.
        let c = config(&[], false);
        let own = own_dns_ips(&listen_addrs(&c), None);
        let d = dns_config(&c, Some(resolv), &own);
        assert_eq!(d.upstreams, vec![sa("127.0.0.11:53"), sa("10.0.0.2:53")]);
        // Natively on another port, 127.0.0.1:53 is somebody else.
        let c = config(&[("DNS_PORT", "5353")], false);
        let own = own_dns_ips(&listen_addrs(&c), None);
        assert!(own.is_empty());
        assert_eq!(dns_config(&c, Some(resolv), &own).upstreams.len(), 3);
        // In a container: wildcard on 53, Docker's 127.0.0.11 kept, loopback and own IPs dropped.
        let c = config(&[], true);
        let snap = NetSnapshot {
            addrs: vec![InterfaceAddr {
                name: "eth0".into(),
                ip: "10.0.0.2".parse().unwrap(),
                prefix_len: 24,
            }],
            gateways: Vec::new(),
        };
        let own = own_dns_ips(&listen_addrs(&c), Some(&snap));
        assert_eq!(own, vec!["10.0.0.2".parse::<IpAddr>().unwrap()]);
        let d = dns_config(&c, Some(resolv), &own);
        assert_eq!(d.upstreams, vec![sa("127.0.0.11:53")]);
        assert!(d.in_container);
        // No resolv.conf: no upstreams.
        assert!(
            dns_config(&config(&[], false), None, &[])
                .upstreams
                .is_empty()
        );
    }

    #[test]
    fn settings_map_onto_the_dns_config() {
        let c = config(
            &[
                ("LOCALSTACK_HOST", "skyport.test:4566"),
                ("DNS_RESOLVE_IP", "10.1.2.3"),
                ("SKYPORT_DNS_AWS_NAMES", "0"),
                (
                    "DNS_NAME_PATTERNS_TO_RESOLVE_UPSTREAM",
                    r"'.*\.s3\.amazonaws\.com'",
                ),
                ("DNS_LOCAL_NAME_PATTERNS", "sqs\\..*"),
            ],
            false,
        );
        let d = dns_config(&c, None, &[]);
        assert_eq!(d.localstack_host.as_deref(), Some("skyport.test"));
        assert_eq!(d.resolve_ip, Some("10.1.2.3".parse().unwrap()));
        assert!(!d.aws_names);
        assert_eq!(d.skip_patterns, vec![r".*\.s3\.amazonaws\.com", r"sqs\..*"]);
        // LocalStack's default 127.0.0.1 means per client; `localhost` never becomes a zone.
        let c = config(
            &[
                ("DNS_RESOLVE_IP", "127.0.0.1"),
                ("LOCALSTACK_HOST", "localhost:4566"),
            ],
            false,
        );
        let d = dns_config(&c, None, &[]);
        assert_eq!(d.resolve_ip, None);
        assert_eq!(d.localstack_host, None);
        assert!(d.aws_names);
    }

    #[test]
    fn bind_warnings_name_the_fix() {
        let denied = DnsError::Bind {
            addr: sa("127.0.0.1:53"),
            transport: skyport_dns::Transport::Udp,
            kind: BindErrorKind::PermissionDenied,
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        let w = bind_warning(&denied, sa("127.0.0.1:53"), false);
        for fix in [
            "setcap cap_net_bind_service",
            "DNS_PORT=5353",
            "DNS_ADDRESS=0",
        ] {
            assert!(w.contains(fix), "{w}");
        }
        let in_use = DnsError::Bind {
            addr: sa("127.0.0.1:53"),
            transport: skyport_dns::Transport::Udp,
            kind: BindErrorKind::InUse,
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        };
        let w = bind_warning(&in_use, sa("127.0.0.1:53"), false);
        assert!(
            w.contains("already in use") && w.contains("DNS_PORT"),
            "{w}"
        );
        let w = bind_warning(&in_use, sa("0.0.0.0:53"), true);
        assert!(
            w.contains("0.0.0.0:53") && w.contains("already in use"),
            "{w}"
        );
        let w = bind_warning(&denied, sa("0.0.0.0:53"), true);
        assert!(
            w.contains("NET_BIND_SERVICE") && !w.contains("setcap"),
            "{w}"
        );
    }
}

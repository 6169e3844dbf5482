//! Who may open the console.
//!
//! - A client on loopback (`127.0.0.0/8`, `::1`, and IPv4-mapped loopback) always may.
//! - In a container (`/.dockerenv` or `OVERRIDE_IN_DOCKER=1`): a client on one of the container's own
//!   networks, that is inside the subnet of one of its non-loopback interfaces (the compose network, the
//!   default bridge). Docker's port publishing shows the host's clients as the bridge's gateway address,
//!   which is on that network.
//! - Natively: a client on one of the host's Docker networks, the subnets of the `docker0` and `br-*`
//!   bridge interfaces (function containers, a compose stack talking to a native Skyport).
//! - Anyone else (the LAN, a published `0.0.0.0` address) only with `SKYPORT_CONSOLE_PUBLIC=1`.
//!
//! The interfaces are read at each decision for a non-loopback client, so networks a container joins
//! later count too.

use std::net::IpAddr;

/// A subnet: an address and its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// An address in the subnet (the interface's own).
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl Network {
    /// True when `ip` is inside this subnet.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let bits = u32::from(self.prefix.min(32));
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let bits = u32::from(self.prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Whether a client at `peer` may use the console, given the networks that count as the container's (or
/// the host's Docker networks) and `SKYPORT_CONSOLE_PUBLIC`.
pub fn allowed(peer: IpAddr, networks: &[Network], public: bool) -> bool {
    let peer = peer.to_canonical();
    public || peer.is_loopback() || networks.iter().any(|n| n.contains(peer))
}

/// The networks that count besides loopback: in a container, every non-loopback interface's subnet;
/// natively, those of Docker's bridges (`docker0`, `br-*`).
pub fn local_networks(in_container: bool) -> Vec<Network> {
    let interfaces = match if_addrs::get_if_addrs() {
        Ok(list) => list,
        Err(e) => {
            tracing::debug!("cannot list the network interfaces: {e}");
            return Vec::new();
        }
    };
    interfaces
        .into_iter()
        .filter(|i| !i.is_loopback())
        .filter(|i| in_container || is_docker_bridge(&i.name))
        .map(|i| match i.addr {
            if_addrs::IfAddr::V4(a) => Network {
                addr: IpAddr::V4(a.ip),
                prefix: a.prefixlen,
            },
            if_addrs::IfAddr::V6(a) => Network {
                addr: IpAddr::V6(a.ip),
                prefix: a.prefixlen,
            },
        })
        .collect()
}

/// Docker's bridge interfaces on a host: the default one and those of user-defined networks.
fn is_docker_bridge(name: &str) -> bool {
    name == "docker0" || name.starts_with("br-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(addr: &str, prefix: u8) -> Network {
        Network {
            addr: addr.parse().unwrap(),
            prefix,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_is_always_allowed() {
        for peer in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(allowed(ip(peer), &[], false), "{peer}");
        }
    }

    #[test]
    fn other_peers_only_on_the_listed_networks_or_when_public() {
        let networks = [net("172.18.0.2", 16), net("fd00::2", 64)];
        assert!(allowed(ip("172.18.5.9"), &networks, false));
        assert!(allowed(ip("::ffff:172.18.0.1"), &networks, false));
        assert!(allowed(ip("fd00::99"), &networks, false));
        assert!(!allowed(ip("172.19.0.1"), &networks, false));
        assert!(!allowed(ip("192.168.1.20"), &networks, false));
        assert!(!allowed(ip("fd01::1"), &networks, false));
        assert!(!allowed(ip("192.168.1.20"), &[], false));
        assert!(allowed(ip("192.168.1.20"), &[], true));
        assert!(allowed(ip("203.0.113.7"), &networks, true));
    }

    #[test]
    fn subnets_of_every_length() {
        assert!(net("10.0.0.1", 0).contains(ip("192.0.2.1")));
        assert!(net("10.0.0.1", 32).contains(ip("10.0.0.1")));
        assert!(!net("10.0.0.1", 32).contains(ip("10.0.0.2")));
        assert!(net("10.1.2.3", 8).contains(ip("10.200.0.1")));
        assert!(!net("10.1.2.3", 8).contains(ip("11.0.0.1")));
        assert!(net("fd00::1", 128).contains(ip("fd00::1")));
        assert!(!net("fd00::1", 64).contains(ip("10.0.0.1")));
    }

    #[test]
    fn docker_bridges_by_name() {
        assert!(is_docker_bridge("docker0"));
        assert!(is_docker_bridge("br-3f2a9c1d0e4b"));
        assert!(!is_docker_bridge("eth0"));
        assert!(!is_docker_bridge("veth12ab"));
    }
}

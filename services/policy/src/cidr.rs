//! IP address blocks for the `IpAddress` and `NotIpAddress` condition operators: IPv4 and IPv6
//! CIDR notation (`203.0.113.0/24`, `2001:DB8:1234:5678::/64`), or a bare address meaning that
//! address alone ("IAM JSON policy elements: Condition operators", "IP address condition
//! operators").

use std::net::IpAddr;

/// A compiled address block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Reads `text`, or `None` when it is not an address or block.
    pub(crate) fn parse(text: &str) -> Option<Cidr> {
        let text = text.trim();
        let (ip, bits) = match text.split_once('/') {
            Some((ip, bits)) => (ip, Some(bits)),
            None => (text, None),
        };
        let network: IpAddr = ip.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b.parse::<u8>().ok().filter(|b| *b <= max)?,
            None => max,
        };
        Some(Cidr { network, bits })
    }

    /// Whether `addr` lies in the block (IPv4 addresses mapped into IPv6 count as IPv4).
    pub(crate) fn contains(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
            v4 => v4,
        };
        match (self.network, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => prefix_eq(
                u128::from(u32::from(net)),
                u128::from(u32::from(a)),
                32,
                self.bits,
            ),
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                prefix_eq(u128::from(net), u128::from(a), 128, self.bits)
            }
            _ => false,
        }
    }
}

/// Whether the first `bits` of two `width`-bit numbers agree.
fn prefix_eq(a: u128, b: u128, width: u32, bits: u8) -> bool {
    let bits = u32::from(bits);
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (b >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn ipv4_blocks() {
        let block = Cidr::parse("203.0.113.0/24");
        assert!(block.is_some_and(|b| b.contains(ip("203.0.113.77"))));
        assert!(block.is_some_and(|b| !b.contains(ip("203.0.114.1"))));
        assert!(Cidr::parse("10.1.2.3").is_some_and(|b| b.contains(ip("10.1.2.3"))));
        assert!(Cidr::parse("10.1.2.3").is_some_and(|b| !b.contains(ip("10.1.2.4"))));
        assert!(Cidr::parse("0.0.0.0/0").is_some_and(|b| b.contains(ip("8.8.8.8"))));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("10.0.0/8").is_none());
        // An IPv4-mapped IPv6 address is its IPv4 address.
        assert!(block.is_some_and(|b| b.contains(ip("::ffff:203.0.113.9"))));
    }

    #[test]
    fn ipv6_blocks() {
        let block = Cidr::parse("2001:DB8:1234:5678::/64");
        assert!(block.is_some_and(|b| b.contains(ip("2001:db8:1234:5678::1"))));
        assert!(block.is_some_and(|b| !b.contains(ip("2001:db8:1234:5679::1"))));
        assert!(block.is_some_and(|b| !b.contains(ip("203.0.113.1"))));
        assert!(Cidr::parse("::/0").is_some_and(|b| b.contains(ip("fe80::1"))));
    }
}

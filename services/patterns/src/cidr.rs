//! `cidr` rules: an IPv4 or IPv6 block (`10.0.0.0/24`, `2001:db8::/32`) matched against IP address
//! strings, with AWS's messages for malformed blocks.

use std::net::IpAddr;

use crate::parse::PatternError;

/// A compiled CIDR block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    bits: u8,
}

fn looks_like_ip(text: &str) -> bool {
    let v4 = text.split('.').count() == 4
        && text
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let v6 = text.contains(':') && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
    v4 || v6
}

fn parse_ip(text: &str) -> Result<IpAddr, PatternError> {
    if !looks_like_ip(text) {
        return Err(PatternError::invalid(format!(
            "Nonstandard IP address: {text}"
        )));
    }
    text.parse()
        .map_err(|_| PatternError::invalid(format!("Invalid IP address: {text}")))
}

impl Cidr {
    /// Compiles `text`, or AWS's reason why it is not a CIDR block.
    pub fn parse(text: &str) -> Result<Cidr, PatternError> {
        let parts: Vec<&str> = text.split('/').collect();
        let [ip, bits] = parts.as_slice() else {
            return Err(PatternError::invalid("Malformed CIDR, one '/' required"));
        };
        let bits: i64 = bits
            .parse()
            .map_err(|_| PatternError::invalid("Malformed CIDR, mask bits must be an integer"))?;
        if bits < 0 {
            return Err(PatternError::invalid(
                "Malformed CIDR, mask bits must not be negative",
            ));
        }
        let network = parse_ip(ip)?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        if bits > max {
            return Err(PatternError::invalid(if network.is_ipv4() {
                "IPv4 mask bits must be < 32"
            } else {
                "IPv6 mask bits must be < 128"
            }));
        }
        Ok(Cidr {
            network,
            bits: u8::try_from(bits).unwrap_or(0),
        })
    }

    /// True when `text` is an IP address inside the block.
    pub fn contains(&self, text: &str) -> bool {
        let Ok(ip) = text.parse::<IpAddr>() else {
            return false;
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.200.1.1") && !c.contains("11.0.0.1") && !c.contains("::1"));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("1.2.3.4"));
        assert!(Cidr::parse("1.2.3.4/32").unwrap().contains("1.2.3.4"));
    }

    #[test]
    fn aws_errors() {
        let e = |t: &str| Cidr::parse(t).unwrap_err().to_string();
        assert_eq!(e("10.0.0.0"), "Malformed CIDR, one '/' required");
        assert_eq!(
            e("10.0.0.0/x"),
            "Malformed CIDR, mask bits must be an integer"
        );
        assert_eq!(
            e("10.0.0.0/-1"),
            "Malformed CIDR, mask bits must not be negative"
        );
        assert_eq!(e("10.0.0.0/33"), "IPv4 mask bits must be < 32");
        assert_eq!(e("host.example/8"), "Nonstandard IP address: host.example");
        assert_eq!(e("300.0.0.1/8"), "Invalid IP address: 300.0.0.1");
    }
}

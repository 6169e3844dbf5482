//! Typed errors of the DNS crate: what failed (binding a listener, parsing a setting, a name) and why,
//! so the binary can turn each case into an actionable message.

use std::net::SocketAddr;

/// Which transport a listener error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// DNS over UDP.
    Udp,
    /// DNS over TCP (2-byte length framing).
    Tcp,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        })
    }
}

/// Why a listener could not be bound. The binary uses this to print the right fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindErrorKind {
    /// The port is privileged (below 1024) and the process may not bind it
    /// (fix: run with `CAP_NET_BIND_SERVICE`, or choose another `DNS_PORT`).
    PermissionDenied,
    /// Something else already listens there (systemd-resolved, mDNSResponder, dnsmasq, ...).
    InUse,
    /// The address does not belong to this machine (yet).
    AddressNotAvailable,
    /// Any other operating-system error.
    Other,
}

impl BindErrorKind {
    fn from_io(err: &std::io::Error) -> Self {
        match err.kind() {
            std::io::ErrorKind::PermissionDenied => BindErrorKind::PermissionDenied,
            std::io::ErrorKind::AddrInUse => BindErrorKind::InUse,
            std::io::ErrorKind::AddrNotAvailable => BindErrorKind::AddressNotAvailable,
            _ => BindErrorKind::Other,
        }
    }
}

/// Errors returned by the DNS crate.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// A listener socket could not be bound.
    #[error("cannot bind DNS {transport} listener on {addr} ({kind:?}): {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// UDP or TCP.
        transport: Transport,
        /// The classified reason.
        kind: BindErrorKind,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// A skip pattern (`DNS_NAME_PATTERNS_TO_RESOLVE_UPSTREAM`) is not a valid regular expression.
    #[error("invalid DNS name pattern {pattern:?}: {source}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// What the regex engine said.
        #[source]
        source: Box<regex::Error>,
    },
    /// A domain name (config value, registry entry or `explain` argument) is not a valid DNS name.
    #[error("invalid domain name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was rejected.
        reason: String,
    },
    /// An upstream server address (`DNS_SERVER`) could not be parsed.
    #[error("invalid upstream DNS server {value:?}: expected IP or IP:port")]
    InvalidUpstream {
        /// The value as given.
        value: String,
    },
    /// A network in CIDR notation could not be parsed.
    #[error("invalid network {value:?}: expected ADDRESS/PREFIX")]
    InvalidNetwork {
        /// The value as given.
        value: String,
    },
    /// The network interfaces of this machine could not be listed.
    #[error("cannot list network interfaces: {0}")]
    Interfaces(#[source] std::io::Error),
    /// Any other I/O error (for example reading a socket's local address).
    #[error("DNS I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl DnsError {
    pub(crate) fn bind(addr: SocketAddr, transport: Transport, source: std::io::Error) -> Self {
        DnsError::Bind {
            addr,
            transport,
            kind: BindErrorKind::from_io(&source),
            source,
        }
    }

    /// For a [`DnsError::Bind`], the classified reason; `None` for other errors.
    pub fn bind_kind(&self) -> Option<BindErrorKind> {
        match self {
            DnsError::Bind { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = DnsError> = std::result::Result<T, E>;

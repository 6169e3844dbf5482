//! skyport-dns: Skyport's embedded DNS server.
//!
//! It answers `localhost.localstack.cloud`, the `LOCALSTACK_HOST` host and (unless switched off) the
//! AWS service domains with Skyport's own address *as seen from the asking client* (its address on
//! the client's network, 127.0.0.1 for loopback, a fixed `DNS_RESOLVE_IP`), plus names services
//! register at run time, and forwards every other name to the upstream resolvers with a TTL cache.
//!
//! The binary builds a [`DnsConfig`] (it parses the env vars; see the table on [`DnsConfig`]) and
//! calls [`DnsServer::start`]; services add names through [`DnsServer::records`]; the
//! `skyport dns resolve NAME --from IP` command uses [`explain`] or [`DnsServer::explain`].
//!
//! Layout: `server` (sockets) → `handler` (one request, bytes in and out) → `answer` (Skyport's
//! names) / `forward` + `cache` (everything else); `names`, `registry` and `netinfo` hold the data
//! the answers are made from.

mod answer;
mod cache;
mod config;
mod error;
mod forward;
mod handler;
mod memo;
mod names;
mod netinfo;
mod registry;
mod resolv_conf;
mod server;

pub mod fuzzing;

pub use answer::{Explanation, MatchedBy, Verdict, explain};
pub use config::{
    ADDRESS_TTL, ADVERTISED_UDP_PAYLOAD, AWS_DOMAINS, DnsConfig, IpNetwork, LOCALSTACK_DOMAIN,
    MAX_CACHE_TTL, NEGATIVE_TTL, ZONE_TTL, canonical_ip, parse_upstream, parse_upstreams,
    split_skip_patterns,
};
pub use error::{BindErrorKind, DnsError, Result, Transport};
pub use hickory_proto::rr::RecordType;
pub use names::ZoneKind;
pub use netinfo::{AddressReason, InterfaceAddr, InterfaceSource, NetSnapshot};
pub use registry::{RecordEntry, RecordTarget, Records, Scope};
pub use resolv_conf::upstreams_from_resolv_conf;
pub use server::DnsServer;

//! Entry point for the fuzz target in `dns/fuzz`: runs the synchronous request path (parsing,
//! validation, ACL, local answers, response encoding) on arbitrary bytes. Not for other callers.

use std::net::SocketAddr;
use std::sync::OnceLock;

use crate::answer::Answerer;
use crate::config::DnsConfig;
use crate::error::Transport;
use crate::forward::Forwarder;
use crate::handler::{Shared, Step};
use crate::netinfo::{InterfaceAddr, InterfaceSource, NetSnapshot, NetView};
use crate::registry::{RecordTarget, Records};

fn shared() -> Option<&'static Shared> {
    static SHARED: OnceLock<Option<Shared>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let snapshot = NetSnapshot {
                addrs: vec![InterfaceAddr {
                    name: "eth0".to_string(),
                    ip: "172.18.0.2".parse().ok()?,
                    prefix_len: 16,
                }],
                gateways: Vec::new(),
            };
            let config = DnsConfig {
                interfaces: InterfaceSource::Static(snapshot.clone()),
                skip_patterns: vec![r".*\.skip\.amazonaws\.com".to_string()],
                ..DnsConfig::default()
            };
            let records = Records::new();
            records
                .add_subtree("registered.test", RecordTarget::Skyport)
                .ok()?;
            Some(Shared {
                answerer: Answerer::new(config, records).ok()?,
                net: NetView::new(InterfaceSource::Static(snapshot)),
                forwarder: Forwarder::new(Vec::new(), std::time::Duration::from_secs(1), 1, 0),
            })
        })
        .as_ref()
}

/// Feeds one packet through the request path over both transports. Returns the number of replies
/// produced (so the work cannot be optimised away). Never panics on any input.
pub fn request(data: &[u8]) -> usize {
    let Some(shared) = shared() else { return 0 };
    let client = SocketAddr::from(([127, 0, 0, 1], 5353));
    let local = SocketAddr::from(([127, 0, 0, 1], 53));
    [Transport::Udp, Transport::Tcp]
        .into_iter()
        .filter(|t| {
            matches!(
                shared.process(data, client, local, *t),
                Step::Reply(_) | Step::Forward(_)
            )
        })
        .count()
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_input_never_panics() {
        let mut rng = fastrand::Rng::with_seed(7);
        for i in 0..20_000 {
            let len = rng.usize(0..300);
            let mut data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            if i % 2 == 0 && data.len() > 12 {
                data[2] &= 0x7f; // make it a query more often
                data[4] = 0;
                data[5] = 1;
            }
            super::request(&data);
        }
    }
}

//! Entry point for the fuzz target in `dns/fuzz`: runs the synchronous request path (parsing,
//! validation, ACL, local answers, response encoding) on arbitrary bytes. Not for other callers.

use std::net::SocketAddr;
use std::sync::OnceLock;

use crate::answer::Answerer;
use crate::config::DnsConfig;
use crate::error::Transport;
use crate::forward::Forwarder;
use crate::handler::{Shared, Step};
use crate::memo::AnswerMemo;
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

/// Feeds one packet through the request path over both transports, and a UDP answer through the
/// answer memo (remembered, then answered again with another ID: the same bytes must come back).
/// Returns the number of replies produced (so the work cannot be optimised away). Never panics on
/// any input.
pub fn request(data: &[u8]) -> usize {
    let Some(shared) = shared() else { return 0 };
    let client = SocketAddr::from(([127, 0, 0, 1], 5353));
    let local = SocketAddr::from(([127, 0, 0, 1], 53));
    [Transport::Udp, Transport::Tcp]
        .into_iter()
        .filter(|t| match shared.process(data, client, local, *t) {
            Step::Answer(bytes, freshness) => {
                if *t == Transport::Udp {
                    memo_round_trip(shared, data, client, &bytes, freshness);
                }
                true
            }
            Step::Reply(_) | Step::Forward(_) => true,
            Step::Drop => false,
        })
        .count()
}

fn memo_round_trip(
    shared: &Shared,
    data: &[u8],
    client: SocketAddr,
    bytes: &[u8],
    freshness: crate::memo::Freshness,
) {
    let mut memo = AnswerMemo::new();
    memo.remember(client.ip(), data, bytes, freshness);
    let mut again = data.to_vec();
    if let Some(id) = again.get_mut(..2) {
        id.copy_from_slice(&[0xab, 0xcd]);
    }
    let mut out = Vec::new();
    if memo.answer(client.ip(), &again, &mut out, |f| {
        shared.still_fresh(f, client.ip())
    }) {
        assert_eq!(out.get(..2), Some(&[0xab, 0xcd][..]));
        assert_eq!(out.get(2..), bytes.get(2..));
    }
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

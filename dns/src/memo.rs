//! The UDP fast path: each listener remembers the encoded answers it gave, keyed by the client's
//! address and the query's bytes after the ID. A repeated query (any ID) is then answered by
//! copying the remembered bytes and patching in its ID: no parsing, no name matching, no encoding
//! and no allocation.
//!
//! Only answers that are a pure function of those bytes, the client, the listener and state with
//! a known version are remembered (Skyport's own names and cache hits of forwarded names; see
//! [`Freshness`]): the interface snapshot they were chosen with (compared by identity), the
//! registry generation, and for cache hits the instant their TTLs stop being exact. Any change
//! makes the entry stale and the query takes the full path again. The memo is bounded: when full
//! it is emptied and refills with what clients still ask.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::netinfo::NetSnapshot;

/// Entries per listener before the memo is emptied.
const MAX_ENTRIES: usize = 4096;
/// Queries longer than this are not remembered (typical ones are well under 100 bytes).
const MAX_QUERY_LEN: usize = 512;
/// DNS header length; the key needs at least the header after the ID.
const HEADER_LEN: usize = 12;

/// What an answer depended on, to tell later whether it still holds.
#[derive(Debug, Clone)]
pub(crate) struct Freshness {
    /// The interface snapshot the answer was chosen with.
    pub(crate) snapshot: Arc<NetSnapshot>,
    /// The registry generation read before the answer was built.
    pub(crate) registry: u64,
    /// When the answer's TTLs stop being exact (cache hits); `None` for Skyport's own names.
    pub(crate) until: Option<Instant>,
}

#[derive(Debug)]
struct Remembered {
    response: Box<[u8]>,
    freshness: Freshness,
}

/// One listener's remembered answers (owned by its receive task: no locking).
#[derive(Debug, Default)]
pub(crate) struct AnswerMemo {
    entries: HashMap<Box<[u8]>, Remembered>,
    key: Vec<u8>,
}

impl AnswerMemo {
    pub(crate) fn new() -> Self {
        AnswerMemo {
            entries: HashMap::new(),
            key: Vec::with_capacity(MAX_QUERY_LEN + 17),
        }
    }

    /// Builds the key of `query` from `client` into `self.key`; `false` when the query is not
    /// one to remember (too short or too long).
    fn make_key(&mut self, client: IpAddr, query: &[u8]) -> bool {
        let Some(tail) = query.get(2..) else {
            return false;
        };
        if query.len() < HEADER_LEN || query.len() > MAX_QUERY_LEN {
            return false;
        }
        self.key.clear();
        match client {
            IpAddr::V4(v4) => {
                self.key.push(4);
                self.key.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                self.key.push(6);
                self.key.extend_from_slice(&v6.octets());
            }
        }
        self.key.extend_from_slice(tail);
        true
    }

    /// The remembered answer to `query` from `client`, written into `out` with the query's ID,
    /// when there is one and `fresh` accepts it. Returns whether `out` holds an answer.
    pub(crate) fn answer(
        &mut self,
        client: IpAddr,
        query: &[u8],
        out: &mut Vec<u8>,
        fresh: impl FnOnce(&Freshness) -> bool,
    ) -> bool {
        if !self.make_key(client, query) {
            return false;
        }
        let Some(entry) = self.entries.get(self.key.as_slice()) else {
            return false;
        };
        if !fresh(&entry.freshness) {
            self.entries.remove(self.key.as_slice());
            return false;
        }
        let (Some(id), Some(rest)) = (query.get(..2), entry.response.get(2..)) else {
            return false;
        };
        out.clear();
        out.extend_from_slice(id);
        out.extend_from_slice(rest);
        true
    }

    /// Remembers `response` as the answer to `query` from `client` while `freshness` holds.
    pub(crate) fn remember(
        &mut self,
        client: IpAddr,
        query: &[u8],
        response: &[u8],
        freshness: Freshness,
    ) {
        if response.len() < 2 || !self.make_key(client, query) {
            return;
        }
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(self.key.as_slice()) {
            tracing::debug!("dns: answer memo full, emptying it");
            self.entries.clear();
        }
        self.entries.insert(
            self.key.as_slice().into(),
            Remembered {
                response: response.into(),
                freshness,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> Freshness {
        Freshness {
            snapshot: Arc::new(NetSnapshot::default()),
            registry: 0,
            until: None,
        }
    }

    fn query(id: u16, name: u8) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, name, 0, 0, 1, 0, 1]);
        q
    }

    #[test]
    fn answers_with_the_new_id_per_client_and_query() {
        let mut memo = AnswerMemo::new();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "::1".parse().unwrap();
        let mut response = query(7, b'a');
        response[2] |= 0x80;
        response.extend_from_slice(&[9, 9, 9]);
        memo.remember(lo, &query(7, b'a'), &response, fresh());

        let mut out = Vec::new();
        assert!(memo.answer(lo, &query(0xbeef, b'a'), &mut out, |_| true));
        assert_eq!(&out[..2], &[0xbe, 0xef]);
        assert_eq!(&out[2..], &response[2..]);
        assert!(!memo.answer(other, &query(1, b'a'), &mut out, |_| true));
        assert!(!memo.answer(lo, &query(1, b'b'), &mut out, |_| true));
        // A stale entry is dropped.
        assert!(!memo.answer(lo, &query(1, b'a'), &mut out, |_| false));
        assert_eq!(memo.len(), 0);
        assert!(!memo.answer(lo, &query(1, b'a'), &mut out, |_| true));
    }

    #[test]
    fn bounded_and_skips_odd_sizes() {
        let mut memo = AnswerMemo::new();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        memo.remember(lo, &[0; 5], &[0; 20], fresh());
        memo.remember(lo, &[0; MAX_QUERY_LEN + 1], &[0; 20], fresh());
        assert_eq!(memo.len(), 0);
        for i in 0..=MAX_ENTRIES {
            let mut q = query(1, 0);
            q.extend_from_slice(&u32::try_from(i).unwrap().to_be_bytes());
            memo.remember(lo, &q, &q, fresh());
        }
        assert!(memo.len() <= MAX_ENTRIES);
        assert!(memo.len() >= 1);
    }
}

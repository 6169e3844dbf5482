//! The forwarding cache: upstream answers keyed by question and the flags that change an answer,
//! kept for the smallest TTL of the answer (negative answers for the SOA minimum, RFC 2308), served
//! with TTLs decremented by the time spent in the cache. Bounded by an LRU.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use lru::LruCache;

use crate::config::MAX_CACHE_TTL;

/// What makes two questions share an answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub(crate) name: Name,
    pub(crate) qtype: RecordType,
    pub(crate) qclass: DNSClass,
    pub(crate) edns: bool,
    pub(crate) dnssec_ok: bool,
    pub(crate) checking_disabled: bool,
}

impl CacheKey {
    /// The key of a parsed query (`None` without exactly one question).
    pub(crate) fn of(query: &Message) -> Option<Self> {
        let [q] = query.queries.as_slice() else {
            return None;
        };
        Some(CacheKey {
            name: q.name().to_lowercase(),
            qtype: q.query_type(),
            qclass: q.query_class(),
            edns: query.edns.is_some(),
            dnssec_ok: query.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
            checking_disabled: query.checking_disabled,
        })
    }
}

/// A cache hit: the response with TTLs decremented, and until when those TTLs stay exact.
#[derive(Debug)]
pub(crate) struct CacheHit {
    pub(crate) message: Message,
    pub(crate) fresh_until: Instant,
}

#[derive(Debug)]
struct Entry {
    message: Message,
    stored: Instant,
    ttl: u32,
}

/// The TTL-respecting LRU cache.
#[derive(Debug)]
pub(crate) struct Cache {
    inner: Option<Mutex<LruCache<CacheKey, Entry>>>,
}

/// How long a response may be cached; `None` when it must not be.
pub(crate) fn cache_ttl(response: &Message) -> Option<u32> {
    if response.truncation {
        return None;
    }
    let ttl = match response.response_code {
        ResponseCode::NoError if !response.answers.is_empty() => response
            .answers
            .iter()
            .filter(|r| r.record_type() != RecordType::OPT)
            .map(|r| r.ttl)
            .min()?,
        ResponseCode::NoError | ResponseCode::NXDomain => {
            response.authorities.iter().find_map(|r| match &r.data {
                RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                _ => None,
            })?
        }
        _ => return None,
    };
    (ttl > 0).then_some(ttl.min(MAX_CACHE_TTL))
}

impl Cache {
    pub(crate) fn new(entries: usize) -> Self {
        Cache {
            inner: NonZeroUsize::new(entries).map(|n| Mutex::new(LruCache::new(n))),
        }
    }

    /// Stores a response if it is cacheable.
    pub(crate) fn insert(&self, key: CacheKey, response: &Message) {
        let (Some(inner), Some(ttl)) = (&self.inner, cache_ttl(response)) else {
            return;
        };
        let entry = Entry {
            message: response.clone(),
            stored: Instant::now(),
            ttl,
        };
        inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(key, entry);
    }

    /// A cached response with TTLs decremented, or `None` (expired entries are dropped).
    pub(crate) fn get(&self, key: &CacheKey) -> Option<Message> {
        self.get_at(key, Instant::now()).map(|hit| hit.message)
    }

    /// Like [`Cache::get`], with the instant until which this exact rendering (the same TTLs)
    /// stays the right answer: the next whole second of age, or the expiry.
    pub(crate) fn get_fresh(&self, key: &CacheKey) -> Option<CacheHit> {
        self.get_at(key, Instant::now())
    }

    fn get_at(&self, key: &CacheKey, now: Instant) -> Option<CacheHit> {
        let inner = self.inner.as_ref()?;
        let mut lru = inner.lock().unwrap_or_else(|p| p.into_inner());
        let entry = lru.get(key)?;
        let age = now.saturating_duration_since(entry.stored);
        let ttl = Duration::from_secs(u64::from(entry.ttl));
        if age >= ttl {
            lru.pop(key);
            return None;
        }
        let elapsed = u32::try_from(age.as_secs()).unwrap_or(u32::MAX);
        let next_second = Duration::from_secs(age.as_secs().saturating_add(1));
        let fresh_until = entry.stored + next_second.min(ttl);
        let mut message = entry.message.clone();
        drop(lru);
        for r in message
            .answers
            .iter_mut()
            .chain(message.authorities.iter_mut())
            .chain(message.additionals.iter_mut())
        {
            r.decrement_ttl(elapsed);
        }
        Some(CacheHit {
            message,
            fresh_until,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode, Query};
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::{A, SOA};

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn response(
        answers: &[(u32, [u8; 4])],
        rcode: ResponseCode,
        soa: Option<(u32, u32)>,
    ) -> Message {
        let mut m = Message::new(7, MessageType::Response, OpCode::Query);
        m.metadata.response_code = rcode;
        m.add_query(Query::query(name("example.com."), RecordType::A));
        for (ttl, ip) in answers {
            m.add_answer(Record::from_rdata(
                name("example.com."),
                *ttl,
                RData::A(A(std::net::Ipv4Addr::from(*ip))),
            ));
        }
        if let Some((ttl, min)) = soa {
            let soa = SOA::new(
                name("ns.example.com."),
                name("h.example.com."),
                1,
                1,
                1,
                1,
                min,
            );
            m.add_authority(Record::from_rdata(
                name("example.com."),
                ttl,
                RData::SOA(soa),
            ));
        }
        m
    }

    #[test]
    fn ttl_rules() {
        assert_eq!(
            cache_ttl(&response(
                &[(60, [1, 2, 3, 4]), (30, [1, 2, 3, 5])],
                ResponseCode::NoError,
                None
            )),
            Some(30)
        );
        assert_eq!(
            cache_ttl(&response(&[], ResponseCode::NXDomain, Some((900, 120)))),
            Some(120)
        );
        assert_eq!(
            cache_ttl(&response(&[], ResponseCode::NoError, Some((60, 120)))),
            Some(60)
        );
        assert_eq!(
            cache_ttl(&response(&[], ResponseCode::NXDomain, None)),
            None
        );
        assert_eq!(
            cache_ttl(&response(&[], ResponseCode::ServFail, None)),
            None
        );
        assert_eq!(
            cache_ttl(&response(&[(0, [1, 2, 3, 4])], ResponseCode::NoError, None)),
            None
        );
        assert_eq!(
            cache_ttl(&response(
                &[(u32::MAX, [1, 2, 3, 4])],
                ResponseCode::NoError,
                None
            )),
            Some(MAX_CACHE_TTL)
        );
        let mut tc = response(&[(60, [1, 2, 3, 4])], ResponseCode::NoError, None);
        tc.metadata.truncation = true;
        assert_eq!(cache_ttl(&tc), None);
    }

    #[test]
    fn decrements_and_expires() {
        let cache = Cache::new(10);
        let mut q = Message::new(1, MessageType::Query, OpCode::Query);
        q.add_query(Query::query(name("Example.COM."), RecordType::A));
        let key = CacheKey::of(&q).unwrap();
        cache.insert(
            key.clone(),
            &response(&[(100, [1, 2, 3, 4])], ResponseCode::NoError, None),
        );
        let now = Instant::now();
        let got = cache.get_at(&key, now + Duration::from_secs(40)).unwrap();
        assert!(got.message.answers[0].ttl <= 60 && got.message.answers[0].ttl >= 59);
        // Exact until the age reaches the next whole second (41 s at most after `now`).
        assert!(got.fresh_until <= now + Duration::from_secs(41));
        assert!(got.fresh_until > now + Duration::from_millis(39_999));
        assert!(cache.get_at(&key, now + Duration::from_secs(101)).is_none());
        assert!(cache.get(&key).is_none());
        let off = Cache::new(0);
        off.insert(
            key.clone(),
            &response(&[(100, [1, 2, 3, 4])], ResponseCode::NoError, None),
        );
        assert!(off.get(&key).is_none());
    }
}

//! Answer logic, independent of any transport: decides whether a question is Skyport's (and builds
//! the records: A/AAAA per client, SOA/NS at zone apexes, NODATA with SOA otherwise, RFC 8482 `ANY`)
//! or must be forwarded, and explains that decision for `skyport dns resolve NAME --from IP`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::rr::rdata::{A, AAAA, HINFO, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::config::{ADDRESS_TTL, DnsConfig, NEGATIVE_TTL, ZONE_TTL};
use crate::error::Result;
use crate::names::{
    SkipPattern, Zone, ZoneKind, builtin_zones, find_zone, parse_name, pattern_form,
};
use crate::netinfo::{AddressReason, NetSnapshot, choose_v4, choose_v6, client_allowed};
use crate::registry::{RecordTarget, Records, Scope};

/// Which rule made a name Skyport's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    /// A built-in zone.
    Zone(ZoneKind),
    /// A runtime registry entry.
    Registry(Scope),
}

/// A local answer: the records of the three sections, without the header.
#[derive(Debug, Clone)]
pub(crate) struct LocalAnswer {
    pub(crate) apex: Name,
    pub(crate) matched_by: MatchedBy,
    pub(crate) answers: Vec<Record>,
    pub(crate) authorities: Vec<Record>,
    pub(crate) additionals: Vec<Record>,
    pub(crate) address_reason: Option<AddressReason>,
}

/// What to do with a question.
#[derive(Debug, Clone)]
pub(crate) enum Decision {
    /// Answer from Skyport's own data.
    Local(Box<LocalAnswer>),
    /// Forward upstream; `skip_pattern` says which pattern sent a Skyport name upstream.
    Forward { skip_pattern: Option<String> },
}

/// The answer logic: zones, registry, skip patterns and address rules.
#[derive(Debug)]
pub(crate) struct Answerer {
    pub(crate) config: DnsConfig,
    zones: Vec<Zone>,
    static_skip: Vec<SkipPattern>,
    records: Records,
    serial: u32,
    ns_name: Name,
    rname: Name,
}

impl Answerer {
    pub(crate) fn new(config: DnsConfig, records: Records) -> Result<Self> {
        let zones = builtin_zones(&config)?;
        let static_skip = config
            .skip_patterns
            .iter()
            .map(|p| SkipPattern::new(p))
            .collect::<Result<Vec<_>>>()?;
        let serial = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
            .unwrap_or(1);
        Ok(Answerer {
            config,
            zones,
            static_skip,
            records,
            serial,
            ns_name: parse_name("ns.localhost.localstack.cloud")?,
            rname: parse_name("hostmaster.localhost.localstack.cloud")?,
        })
    }

    pub(crate) fn records(&self) -> &Records {
        &self.records
    }

    fn soa(&self, apex: &Name, ttl: u32) -> Record {
        let soa = SOA::new(
            self.ns_name.clone(),
            self.rname.clone(),
            self.serial,
            i32::try_from(ZONE_TTL).unwrap_or(i32::MAX),
            600,
            86_400,
            NEGATIVE_TTL,
        );
        Record::from_rdata(apex.clone(), ttl, RData::SOA(soa))
    }

    /// Decides what to do with `qname`/`qtype` asked by `client` (on listener address `local`).
    pub(crate) fn decide(
        &self,
        snap: &NetSnapshot,
        qname: &Name,
        qtype: RecordType,
        client: IpAddr,
        local: Option<IpAddr>,
    ) -> Decision {
        let form = pattern_form(qname);
        if let Some(p) = self.static_skip.iter().find(|p| p.matches(&form)) {
            return Decision::Forward {
                skip_pattern: Some(p.source.clone()),
            };
        }
        let (apex, matched_by, target) = if let Some(hit) = self.records.lookup(qname) {
            (hit.apex, MatchedBy::Registry(hit.scope), hit.target)
        } else if let Some(zone) = find_zone(&self.zones, qname) {
            (
                zone.apex.clone(),
                MatchedBy::Zone(zone.kind),
                RecordTarget::Skyport,
            )
        } else {
            return Decision::Forward { skip_pattern: None };
        };
        if let Some(p) = self.records.matching_skip(&form) {
            return Decision::Forward {
                skip_pattern: Some(p),
            };
        }
        Decision::Local(Box::new(self.local_answer(
            snap, qname, qtype, client, local, apex, matched_by, target,
        )))
    }

    #[allow(clippy::too_many_arguments)]
    fn local_answer(
        &self,
        snap: &NetSnapshot,
        qname: &Name,
        qtype: RecordType,
        client: IpAddr,
        local: Option<IpAddr>,
        apex: Name,
        matched_by: MatchedBy,
        target: RecordTarget,
    ) -> LocalAnswer {
        let v4 = || match target {
            RecordTarget::Skyport => choose_v4(&self.config, snap, client, local),
            RecordTarget::Ip(IpAddr::V4(ip)) => (Some(ip), AddressReason::RegistryAddress),
            RecordTarget::Ip(IpAddr::V6(_)) => (None, AddressReason::NoAddress),
        };
        let v6 = || match target {
            RecordTarget::Skyport => choose_v6(&self.config, snap, client, local),
            RecordTarget::Ip(IpAddr::V6(ip)) => (Some(ip), AddressReason::RegistryAddress),
            RecordTarget::Ip(IpAddr::V4(_)) => (None, AddressReason::NoAddress),
        };
        let is_apex = qname == &apex;
        let owner = qname.clone();
        let mut out = LocalAnswer {
            apex: apex.clone(),
            matched_by,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
            address_reason: None,
        };
        match qtype {
            RecordType::A => {
                let (ip, reason) = v4();
                if let Some(ip) = ip {
                    out.answers
                        .push(Record::from_rdata(owner, ADDRESS_TTL, RData::A(A(ip))));
                }
                out.address_reason = Some(reason);
            }
            RecordType::AAAA => {
                let (ip, reason) = v6();
                if let Some(ip) = ip {
                    out.answers.push(Record::from_rdata(
                        owner,
                        ADDRESS_TTL,
                        RData::AAAA(AAAA(ip)),
                    ));
                }
                out.address_reason = Some(reason);
            }
            RecordType::SOA if is_apex => out.answers.push(self.soa(&apex, ZONE_TTL)),
            RecordType::NS if is_apex => {
                out.answers.push(Record::from_rdata(
                    owner,
                    ZONE_TTL,
                    RData::NS(NS(self.ns_name.clone())),
                ));
                // Glue: the name server is Skyport itself, at the client's address for it.
                let (ip4, reason) = choose_v4(&self.config, snap, client, local);
                if let Some(ip) = ip4 {
                    out.additionals.push(Record::from_rdata(
                        self.ns_name.clone(),
                        ADDRESS_TTL,
                        RData::A(A(ip)),
                    ));
                }
                if let (Some(ip), _) = choose_v6(&self.config, snap, client, local) {
                    out.additionals.push(Record::from_rdata(
                        self.ns_name.clone(),
                        ADDRESS_TTL,
                        RData::AAAA(AAAA(ip)),
                    ));
                }
                out.address_reason = Some(reason);
            }
            RecordType::ANY => {
                // RFC 8482: a minimal answer. We give the one address record a client most likely wants
                // (A, else AAAA); when there is none, the HINFO "RFC8482" record.
                let (ip4, reason4) = v4();
                if let Some(ip) = ip4 {
                    out.answers
                        .push(Record::from_rdata(owner, ADDRESS_TTL, RData::A(A(ip))));
                    out.address_reason = Some(reason4);
                } else if let (Some(ip), reason6) = v6() {
                    out.answers.push(Record::from_rdata(
                        owner,
                        ADDRESS_TTL,
                        RData::AAAA(AAAA(ip)),
                    ));
                    out.address_reason = Some(reason6);
                } else {
                    let hinfo = HINFO::new("RFC8482".to_string(), String::new());
                    out.answers
                        .push(Record::from_rdata(owner, ADDRESS_TTL, RData::HINFO(hinfo)));
                }
            }
            _ => {}
        }
        if out.answers.is_empty() {
            out.authorities
                .push(self.soa(&apex, NEGATIVE_TTL.min(ZONE_TTL)));
        }
        out
    }
}

/// What a client would get, and why (`skyport dns resolve NAME --from IP`).
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The name asked (normalised: lowercase, trailing dot).
    pub name: String,
    /// The record type asked.
    pub qtype: RecordType,
    /// The client address the explanation is for.
    pub client: IpAddr,
    /// The verdict.
    pub verdict: Verdict,
}

/// The outcome part of an [`Explanation`].
#[derive(Debug, Clone)]
pub enum Verdict {
    /// The ACL refuses the client (REFUSED).
    Refused,
    /// The name is forwarded to the upstreams (in order).
    Forwarded {
        /// The skip pattern that sent one of Skyport's names upstream, if that is why.
        skip_pattern: Option<String>,
        /// The configured upstreams.
        upstreams: Vec<SocketAddr>,
    },
    /// Skyport answers itself (NOERROR, AA).
    Local {
        /// The zone apex (for SOA/NS).
        zone: String,
        /// Which rule matched.
        matched_by: MatchedBy,
        /// Answer records in presentation format.
        answers: Vec<String>,
        /// Authority records (the SOA of a NODATA answer).
        authority: Vec<String>,
        /// Why that address, for address queries.
        address_reason: Option<AddressReason>,
    },
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {} from {}:", self.name, self.qtype, self.client)?;
        match &self.verdict {
            Verdict::Refused => writeln!(
                f,
                "  REFUSED: the client is not on loopback, on one of Skyport's networks or in an allowed network"
            ),
            Verdict::Forwarded {
                skip_pattern,
                upstreams,
            } => {
                match skip_pattern {
                    Some(p) => writeln!(f, "  forwarded upstream: matches skip pattern {p:?}")?,
                    None => writeln!(f, "  forwarded upstream: not one of Skyport's names")?,
                }
                if upstreams.is_empty() {
                    writeln!(f, "  no upstream configured: SERVFAIL")
                } else {
                    let list: Vec<String> = upstreams.iter().map(ToString::to_string).collect();
                    writeln!(f, "  upstreams, in order: {}", list.join(", "))
                }
            }
            Verdict::Local {
                zone,
                matched_by,
                answers,
                authority,
                address_reason,
            } => {
                let why = match matched_by {
                    MatchedBy::Zone(ZoneKind::LocalStack) => {
                        "the localhost.localstack.cloud zone".to_string()
                    }
                    MatchedBy::Zone(ZoneKind::LocalStackHost) => {
                        "the LOCALSTACK_HOST zone".to_string()
                    }
                    MatchedBy::Zone(ZoneKind::Aws) => {
                        "an AWS service domain (SKYPORT_DNS_AWS_NAMES)".to_string()
                    }
                    MatchedBy::Registry(Scope::Exact) => "a registered name".to_string(),
                    MatchedBy::Registry(Scope::Subtree) => "a registered subtree".to_string(),
                };
                writeln!(f, "  answered by Skyport (zone {zone}, {why})")?;
                if answers.is_empty() {
                    writeln!(f, "  NOERROR, no records")?;
                }
                for a in answers {
                    writeln!(f, "  answer: {a}")?;
                }
                for a in authority {
                    writeln!(f, "  authority: {a}")?;
                }
                if let Some(r) = address_reason {
                    writeln!(f, "  address rule: {r}")?;
                }
                Ok(())
            }
        }
    }
}

/// Explains what a client at `client` asking `name`/`qtype` would get from a server with `config`,
/// `records` and network view `net`, without sending anything. The same code path as real answers.
pub fn explain(
    config: &DnsConfig,
    records: &Records,
    net: &NetSnapshot,
    name: &str,
    qtype: RecordType,
    client: IpAddr,
) -> Result<Explanation> {
    let answerer = Answerer::new(config.clone(), records.clone())?;
    explain_with(&answerer, net, name, qtype, client)
}

pub(crate) fn explain_with(
    answerer: &Answerer,
    net: &NetSnapshot,
    name: &str,
    qtype: RecordType,
    client: IpAddr,
) -> Result<Explanation> {
    let qname = parse_name(name)?;
    let verdict = if !client_allowed(&answerer.config, net, client) {
        Verdict::Refused
    } else {
        match answerer.decide(net, &qname, qtype, client, None) {
            Decision::Forward { skip_pattern } => Verdict::Forwarded {
                skip_pattern,
                upstreams: answerer.config.upstreams.clone(),
            },
            Decision::Local(ans) => Verdict::Local {
                zone: ans.apex.to_ascii(),
                matched_by: ans.matched_by,
                answers: ans.answers.iter().map(ToString::to_string).collect(),
                authority: ans.authorities.iter().map(ToString::to_string).collect(),
                address_reason: ans.address_reason,
            },
        }
    };
    Ok(Explanation {
        name: qname.to_ascii(),
        qtype,
        client,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netinfo::tests::sample_snapshot;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ex(
        cfg: &DnsConfig,
        records: &Records,
        name: &str,
        t: RecordType,
        client: &str,
    ) -> Explanation {
        explain(cfg, records, &sample_snapshot(), name, t, ip(client)).unwrap()
    }

    fn answers(e: &Explanation) -> Vec<String> {
        match &e.verdict {
            Verdict::Local { answers, .. } => answers.clone(),
            other => panic!("expected local, got {other:?}"),
        }
    }

    #[test]
    fn explain_local_a_per_network() {
        let cfg = DnsConfig::default();
        let r = Records::new();
        let e = ex(&cfg, &r, "S3.AmazonAWS.com", RecordType::A, "172.19.0.77");
        assert_eq!(
            answers(&e),
            vec!["s3.amazonaws.com. 300 IN A 172.19.0.5".to_string()]
        );
        assert_eq!(e.name, "s3.amazonaws.com.");
        let text = e.to_string();
        assert!(text.contains("eth1"), "{text}");
        assert!(text.contains("AWS service domain"), "{text}");
        let e = ex(
            &cfg,
            &r,
            "localhost.localstack.cloud",
            RecordType::A,
            "127.0.0.1",
        );
        assert_eq!(
            answers(&e),
            vec!["localhost.localstack.cloud. 300 IN A 127.0.0.1".to_string()]
        );
    }

    #[test]
    fn explain_nodata_has_soa_and_aaaa_never_loopback_for_containers() {
        let cfg = DnsConfig::default();
        let r = Records::new();
        let e = ex(
            &cfg,
            &r,
            "sqs.amazonaws.com",
            RecordType::AAAA,
            "172.19.0.77",
        );
        match &e.verdict {
            Verdict::Local {
                answers,
                authority,
                address_reason,
                ..
            } => {
                assert!(answers.is_empty());
                assert_eq!(authority.len(), 1);
                assert!(
                    authority[0]
                        .starts_with("amazonaws.com. 300 IN SOA ns.localhost.localstack.cloud.")
                );
                assert_eq!(address_reason, &Some(AddressReason::NoAddress));
            }
            other => panic!("{other:?}"),
        }
        let e = ex(&cfg, &r, "sqs.amazonaws.com", RecordType::MX, "127.0.0.1");
        match &e.verdict {
            Verdict::Local {
                answers, authority, ..
            } => {
                assert!(answers.is_empty());
                assert_eq!(authority.len(), 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn explain_forwarded_and_refused() {
        let cfg = DnsConfig {
            upstreams: vec!["127.0.0.1:5353".parse().unwrap()],
            skip_patterns: vec![r".*\.s3\.amazonaws\.com".to_string()],
            ..DnsConfig::default()
        };
        let r = Records::new();
        let e = ex(&cfg, &r, "example.com", RecordType::A, "127.0.0.1");
        assert!(
            matches!(&e.verdict, Verdict::Forwarded { skip_pattern: None, upstreams } if upstreams.len() == 1)
        );
        let e = ex(
            &cfg,
            &r,
            "amazonaws.com.evil.com",
            RecordType::A,
            "127.0.0.1",
        );
        assert!(matches!(
            &e.verdict,
            Verdict::Forwarded {
                skip_pattern: None,
                ..
            }
        ));
        let e = ex(&cfg, &r, "b.s3.amazonaws.com", RecordType::A, "127.0.0.1");
        assert!(matches!(
            &e.verdict,
            Verdict::Forwarded {
                skip_pattern: Some(_),
                ..
            }
        ));
        assert!(e.to_string().contains("skip pattern"));
        let e = ex(&cfg, &r, "s3.amazonaws.com", RecordType::A, "203.0.113.9");
        assert!(matches!(e.verdict, Verdict::Refused));
        assert!(e.to_string().contains("REFUSED"));
        let off = DnsConfig {
            aws_names: false,
            ..DnsConfig::default()
        };
        let e = ex(&off, &r, "s3.amazonaws.com", RecordType::A, "127.0.0.1");
        assert!(matches!(e.verdict, Verdict::Forwarded { .. }));
    }

    #[test]
    fn explain_registry_entries() {
        let cfg = DnsConfig::default();
        let r = Records::new();
        r.add_name("fn1.lambda-url.us-east-1.on.aws", RecordTarget::Skyport)
            .unwrap();
        r.add_subtree("db.test", RecordTarget::Ip(ip("10.1.2.3")))
            .unwrap();
        let e = ex(
            &cfg,
            &r,
            "fn1.lambda-url.us-east-1.on.aws",
            RecordType::A,
            "172.18.5.5",
        );
        assert_eq!(
            answers(&e),
            vec!["fn1.lambda-url.us-east-1.on.aws. 300 IN A 172.18.0.2".to_string()]
        );
        let e = ex(&cfg, &r, "x.db.test", RecordType::A, "172.18.5.5");
        assert_eq!(
            answers(&e),
            vec!["x.db.test. 300 IN A 10.1.2.3".to_string()]
        );
        let e = ex(&cfg, &r, "x.db.test", RecordType::AAAA, "172.18.5.5");
        assert!(answers(&e).is_empty());
        r.add_skip_pattern("x\\.db").unwrap();
        let e = ex(&cfg, &r, "x.db.test", RecordType::A, "172.18.5.5");
        assert!(matches!(
            e.verdict,
            Verdict::Forwarded {
                skip_pattern: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn apex_soa_ns_and_any() {
        let cfg = DnsConfig::default();
        let r = Records::new();
        let e = ex(&cfg, &r, "amazonaws.com", RecordType::SOA, "127.0.0.1");
        let a = answers(&e);
        assert_eq!(a.len(), 1);
        assert!(a[0].starts_with("amazonaws.com. 3600 IN SOA ns.localhost.localstack.cloud. hostmaster.localhost.localstack.cloud."), "{a:?}");
        let e = ex(&cfg, &r, "amazonaws.com", RecordType::NS, "127.0.0.1");
        assert_eq!(
            answers(&e),
            vec!["amazonaws.com. 3600 IN NS ns.localhost.localstack.cloud.".to_string()]
        );
        let e = ex(&cfg, &r, "s3.amazonaws.com", RecordType::NS, "127.0.0.1");
        assert!(answers(&e).is_empty());
        let e = ex(&cfg, &r, "s3.amazonaws.com", RecordType::ANY, "127.0.0.1");
        assert_eq!(
            answers(&e),
            vec!["s3.amazonaws.com. 300 IN A 127.0.0.1".to_string()]
        );
        let v6only = DnsConfig {
            resolve_ip: Some(ip("2001:db8::5")),
            ..DnsConfig::default()
        };
        let e = ex(
            &v6only,
            &r,
            "s3.amazonaws.com",
            RecordType::ANY,
            "127.0.0.1",
        );
        assert_eq!(
            answers(&e),
            vec!["s3.amazonaws.com. 300 IN AAAA 2001:db8::5".to_string()]
        );
    }

    #[test]
    fn explain_rejects_bad_names() {
        let cfg = DnsConfig::default();
        assert!(
            explain(
                &cfg,
                &Records::new(),
                &sample_snapshot(),
                "",
                RecordType::A,
                ip("127.0.0.1")
            )
            .is_err()
        );
    }
}

//! Choosing the certificate for a TLS ClientHello: [`SniResolver`], a rustls
//! [`ResolvesServerCert`] that serves a custom certificate, a leaf minted on the fly by the local CA, or
//! the default certificate.
//!
//! Order for a ClientHello with server name `N`:
//! 1. a custom certificate whose SANs cover `N` ([`CustomCert::covers`]);
//! 2. if `N` is within the [`NamePolicy`] and the CA's name constraints permit it, a leaf for
//!    [`leaf_san_for`]`(N)` from the cache, minted on first use (and again when within
//!    [`ResolverConfig::renew_before`] of expiry);
//! 3. otherwise the default certificate. An arbitrary name is never minted.
//!
//! Without SNI (clients connecting to an IP address) the default certificate is served: it covers
//! `localhost.localstack.cloud`, `*.localhost.localstack.cloud`, `localhost`, `127.0.0.1`, `::1` and
//! the listen addresses the caller passes. A custom certificate is not used for SNI-less connections,
//! since the ClientHello does not say which address the client dialled.
//!
//! The cache is a bounded LRU keyed by SAN. Each entry has its own mutex, so concurrent first requests
//! for one SAN mint once (the others wait for the sub-millisecond mint), while different SANs mint in
//! parallel.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use lru::LruCache;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;

use crate::CertError;
use crate::ca::{CertAuthority, LeafCert};
use crate::custom::CustomCert;
use crate::policy::{ConfiguredHost, NamePolicy, leaf_san_for, normalize_dns_name};

/// Validity of a minted leaf.
pub const LEAF_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// A cached leaf is re-minted once it is this close to expiry.
pub const LEAF_RENEW_BEFORE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default number of SANs kept in the cache.
pub const DEFAULT_CACHE_CAPACITY: usize = 4096;
/// Shortest time a minted certificate is reused, even when the CA itself is about to expire.
const MIN_REUSE: Duration = Duration::from_secs(60);

/// What the resolver serves. Build it with [`ResolverConfig::skyport_default`] or [`ResolverConfig::new`]
/// and adjust the public fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ResolverConfig {
    /// Zones leaves are minted for.
    pub names: NamePolicy,
    /// DNS names of the default certificate (those the CA does not permit are dropped with a warning).
    pub default_dns_names: Vec<String>,
    /// IP addresses of the default certificate (unspecified addresses are ignored).
    pub default_ips: Vec<IpAddr>,
    /// User-supplied certificates, tried first, in order.
    pub custom: Vec<CustomCert>,
    /// Maximum number of cached leaves.
    pub cache_capacity: NonZeroUsize,
    /// Validity of minted leaves.
    pub leaf_lifetime: Duration,
    /// Re-mint a cached leaf when it has less than this left.
    pub renew_before: Duration,
}

impl ResolverConfig {
    /// `names` for minting; a default certificate for `localhost.localstack.cloud`,
    /// `*.localhost.localstack.cloud`, `localhost`, `127.0.0.1` and `::1`; no custom certificate.
    pub fn new(names: NamePolicy) -> Self {
        ResolverConfig {
            names,
            default_dns_names: vec![
                "localhost.localstack.cloud".to_string(),
                "*.localhost.localstack.cloud".to_string(),
                "localhost".to_string(),
            ],
            default_ips: vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ],
            custom: Vec::new(),
            cache_capacity: NonZeroUsize::new(DEFAULT_CACHE_CAPACITY).unwrap_or(NonZeroUsize::MIN),
            leaf_lifetime: LEAF_LIFETIME,
            renew_before: LEAF_RENEW_BEFORE,
        }
    }

    /// Skyport's configuration: [`NamePolicy::skyport_default`], and a default certificate that also
    /// covers the `LOCALSTACK_HOST` host (name or IP) and every address in `listen_ips`.
    pub fn skyport_default(
        localstack_host: Option<&str>,
        include_aws: bool,
        listen_ips: &[IpAddr],
    ) -> Self {
        let mut config =
            ResolverConfig::new(NamePolicy::skyport_default(localstack_host, include_aws));
        match localstack_host.and_then(ConfiguredHost::parse) {
            Some(ConfiguredHost::Name(host)) if !config.default_dns_names.contains(&host) => {
                config.default_dns_names.push(host);
            }
            Some(ConfiguredHost::Ip(ip)) => config.default_ips.push(ip),
            _ => {}
        }
        config.default_ips.extend_from_slice(listen_ips);
        config
    }
}

/// The kind of certificate a server name gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertChoice {
    /// The custom certificate at this index of [`ResolverConfig::custom`].
    Custom(usize),
    /// A leaf minted by the CA for this SAN.
    Minted {
        /// The SAN (exact name or one-label wildcard).
        san: String,
    },
    /// The default certificate.
    Default,
}

struct Minted {
    certified: Arc<CertifiedKey>,
    renew_at: OffsetDateTime,
}

#[derive(Default)]
struct Slot {
    state: Mutex<Option<Minted>>,
}

/// Resolves a ClientHello to a certificate chain; see the module docs.
pub struct SniResolver {
    ca: Arc<CertAuthority>,
    names: NamePolicy,
    custom: Vec<CustomCert>,
    leaf_lifetime: Duration,
    renew_before: Duration,
    default_dns: Vec<String>,
    default_ips: Vec<IpAddr>,
    default: Slot,
    first_default: Arc<CertifiedKey>,
    cache: Mutex<LruCache<String, Arc<Slot>>>,
    mints: AtomicU64,
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SniResolver")
            .field("zones", &self.names.zones())
            .field("custom", &self.custom)
            .field("default_dns", &self.default_dns)
            .field("default_ips", &self.default_ips)
            .field("mints", &self.mint_count())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the cache inconsistent (entries are replaced whole).
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SniResolver {
    /// Builds the resolver and mints the default certificate right away, so configuration errors
    /// surface at start rather than on the first connection.
    pub fn new(ca: Arc<CertAuthority>, config: ResolverConfig) -> Result<Self, CertError> {
        let mut default_dns: Vec<String> = Vec::new();
        for name in &config.default_dns_names {
            let (wild, base) = match name.strip_prefix("*.") {
                Some(base) => ("*.", base),
                None => ("", name.as_str()),
            };
            let Some(base) = normalize_dns_name(base) else {
                tracing::warn!(name, "ignoring invalid name for the default certificate");
                continue;
            };
            let full = format!("{wild}{base}");
            if !ca.permits_dns(&full) {
                tracing::warn!(name = %full, "the CA's name constraints do not permit this name; left out of the default certificate");
            } else if !default_dns.contains(&full) {
                default_dns.push(full);
            }
        }
        let mut default_ips: Vec<IpAddr> = Vec::new();
        for ip in &config.default_ips {
            if ip.is_unspecified() || default_ips.contains(ip) {
                continue;
            }
            if ca.permits_ip(*ip) {
                default_ips.push(*ip);
            } else {
                tracing::warn!(%ip, "the CA's name constraints do not permit this address; left out of the default certificate");
            }
        }
        let first = ca.mint_leaf(&default_dns, &default_ips, config.leaf_lifetime)?;
        let default = Slot {
            state: Mutex::new(Some(Minted {
                certified: Arc::clone(&first.certified),
                renew_at: std::cmp::max(
                    first.not_after - config.renew_before,
                    OffsetDateTime::now_utc() + MIN_REUSE,
                ),
            })),
        };
        let resolver = SniResolver {
            ca,
            names: config.names,
            custom: config.custom,
            leaf_lifetime: config.leaf_lifetime,
            renew_before: config.renew_before,
            default_dns,
            default_ips,
            default,
            first_default: first.certified,
            cache: Mutex::new(LruCache::new(config.cache_capacity)),
            mints: AtomicU64::new(1),
        };
        Ok(resolver)
    }

    /// The CA that signs the leaves.
    pub fn ca(&self) -> &Arc<CertAuthority> {
        &self.ca
    }

    /// Decides which certificate `server_name` (the SNI, if any) gets, without minting anything.
    pub fn choose(&self, server_name: Option<&str>) -> CertChoice {
        let Some(raw) = server_name else {
            return CertChoice::Default;
        };
        if let Some(index) = self.custom.iter().position(|c| c.covers(raw)) {
            return CertChoice::Custom(index);
        }
        let Some(name) = normalize_dns_name(raw) else {
            return CertChoice::Default;
        };
        let Some(zone) = self.names.zone_for(&name) else {
            return CertChoice::Default;
        };
        let san = leaf_san_for(&name, zone);
        if !self.ca.permits_dns(&san) {
            tracing::debug!(name = %name, "name is in a served zone but the CA does not permit it");
            return CertChoice::Default;
        }
        CertChoice::Minted { san }
    }

    /// The certificate chain and key for `server_name`; never fails (minting errors fall back to the
    /// default certificate and are logged).
    pub fn resolve_name(&self, server_name: Option<&str>) -> Arc<CertifiedKey> {
        match self.choose(server_name) {
            CertChoice::Custom(index) => match self.custom.get(index) {
                Some(custom) => custom.certified_key(),
                None => self.default_cert(),
            },
            CertChoice::Minted { san } => match self.leaf_for(&san) {
                Ok(certified) => certified,
                Err(error) => {
                    tracing::warn!(%san, %error, "minting a certificate failed; serving the default certificate");
                    self.default_cert()
                }
            },
            CertChoice::Default => self.default_cert(),
        }
    }

    /// The cached leaf for `san`, minted (once, even under concurrency) when missing or due for renewal.
    fn leaf_for(&self, san: &str) -> Result<Arc<CertifiedKey>, CertError> {
        let slot = {
            let mut cache = lock(&self.cache);
            match cache.get(san) {
                Some(slot) => Arc::clone(slot),
                None => {
                    let slot = Arc::new(Slot::default());
                    cache.put(san.to_string(), Arc::clone(&slot));
                    slot
                }
            }
        };
        self.fill(&slot, || {
            self.ca
                .mint_leaf(&[san.to_string()], &[], self.leaf_lifetime)
        })
    }

    fn fill(
        &self,
        slot: &Slot,
        mint: impl FnOnce() -> Result<LeafCert, CertError>,
    ) -> Result<Arc<CertifiedKey>, CertError> {
        let mut state = lock(&slot.state);
        let now = OffsetDateTime::now_utc();
        if let Some(existing) = state.as_ref()
            && now < existing.renew_at
        {
            return Ok(Arc::clone(&existing.certified));
        }
        let leaf = mint()?;
        self.mints.fetch_add(1, Ordering::Relaxed);
        let renew_at = std::cmp::max(leaf.not_after - self.renew_before, now + MIN_REUSE);
        *state = Some(Minted {
            certified: Arc::clone(&leaf.certified),
            renew_at,
        });
        Ok(leaf.certified)
    }

    fn try_default_cert(&self) -> Result<Arc<CertifiedKey>, CertError> {
        self.fill(&self.default, || {
            self.ca
                .mint_leaf(&self.default_dns, &self.default_ips, self.leaf_lifetime)
        })
    }

    /// The default certificate (re-minted when due).
    pub fn default_cert(&self) -> Arc<CertifiedKey> {
        match self.try_default_cert() {
            Ok(certified) => certified,
            Err(error) => {
                tracing::warn!(%error, "renewing the default certificate failed; serving the previous one");
                match lock(&self.default.state).as_ref() {
                    Some(previous) => Arc::clone(&previous.certified),
                    None => Arc::clone(&self.first_default),
                }
            }
        }
    }

    /// The DNS names the default certificate covers.
    pub fn default_dns_names(&self) -> &[String] {
        &self.default_dns
    }

    /// The IP addresses the default certificate covers.
    pub fn default_ips(&self) -> &[IpAddr] {
        &self.default_ips
    }

    /// How many certificates (leaves and default) this resolver has minted.
    pub fn mint_count(&self) -> u64 {
        self.mints.load(Ordering::Relaxed)
    }

    /// How many SANs are in the cache.
    pub fn cached_len(&self) -> usize {
        lock(&self.cache).len()
    }

    /// Mints a fresh leaf for `server_name` as [`SniResolver::choose`] would, bypassing and not touching
    /// the cache or the mint counter: the unit of work the mint-time benchmark measures.
    pub fn mint_uncached(&self, server_name: &str) -> Result<LeafCert, CertError> {
        match self.choose(Some(server_name)) {
            CertChoice::Minted { san } => self.ca.mint_leaf(&[san], &[], self.leaf_lifetime),
            _ => Err(CertError::InvalidName {
                name: server_name.to_string(),
                reason: "not a name this resolver mints certificates for",
            }),
        }
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.resolve_name(client_hello.server_name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::NameConstraintsPolicy;

    fn resolver(config: ResolverConfig) -> SniResolver {
        let ca =
            CertAuthority::generate("unit", &NameConstraintsPolicy::skyport_default(None, &[]))
                .unwrap();
        SniResolver::new(Arc::new(ca), config).unwrap()
    }

    #[test]
    fn choices() {
        let r = resolver(ResolverConfig::skyport_default(None, true, &[]));
        let minted = |s: &str| CertChoice::Minted { san: s.to_string() };
        assert_eq!(r.choose(None), CertChoice::Default);
        assert_eq!(r.choose(Some("example.com")), CertChoice::Default);
        assert_eq!(
            r.choose(Some("amazonaws.com.evil.com")),
            CertChoice::Default
        );
        assert_eq!(
            r.choose(Some("S3.AmazonAWS.com")),
            minted("s3.amazonaws.com")
        );
        assert_eq!(
            r.choose(Some("bucket.s3.us-east-1.amazonaws.com")),
            minted("*.s3.us-east-1.amazonaws.com")
        );
        let no_aws = resolver(ResolverConfig::skyport_default(None, false, &[]));
        assert_eq!(no_aws.choose(Some("s3.amazonaws.com")), CertChoice::Default);
    }

    #[test]
    fn names_outside_the_ca_constraints_are_not_minted() {
        // The resolver is told to serve example.org, but the CA does not permit it.
        let r = resolver(ResolverConfig::new(NamePolicy::new([
            "example.org",
            "localhost",
        ])));
        assert_eq!(r.choose(Some("a.example.org")), CertChoice::Default);
        assert!(r.mint_uncached("a.example.org").is_err());
    }

    #[test]
    fn cache_is_by_san_and_bounded() {
        let mut config = ResolverConfig::skyport_default(None, true, &[]);
        config.cache_capacity = NonZeroUsize::new(2).unwrap();
        let r = resolver(config);
        assert_eq!(r.mint_count(), 1, "default certificate minted at start");
        let a = r.resolve_name(Some("a.s3.us-east-1.amazonaws.com"));
        let b = r.resolve_name(Some("b.s3.us-east-1.amazonaws.com"));
        assert!(Arc::ptr_eq(&a, &b), "one wildcard leaf serves both buckets");
        assert_eq!(r.mint_count(), 2);
        r.resolve_name(Some("sqs.amazonaws.com"));
        r.resolve_name(Some("sns.amazonaws.com"));
        assert_eq!(r.cached_len(), 2);
        r.resolve_name(Some("a.s3.us-east-1.amazonaws.com"));
        assert_eq!(r.mint_count(), 5, "evicted entry is minted again");
        let before = r.mint_count();
        r.mint_uncached("sqs.amazonaws.com").unwrap();
        assert_eq!(r.mint_count(), before);
    }

    #[test]
    fn leaves_near_expiry_are_reminted() {
        let mut config = ResolverConfig::skyport_default(None, true, &[]);
        // Every leaf is "due" immediately, except for the 60 s minimum reuse.
        config.renew_before = LEAF_LIFETIME + Duration::from_secs(3600);
        let r = resolver(config);
        let a = r.resolve_name(Some("s3.amazonaws.com"));
        let b = r.resolve_name(Some("s3.amazonaws.com"));
        assert!(Arc::ptr_eq(&a, &b), "minimum reuse period holds");
        let slot = Arc::clone(lock(&r.cache).get("s3.amazonaws.com").unwrap());
        lock(&slot.state).as_mut().unwrap().renew_at =
            OffsetDateTime::now_utc() - Duration::from_secs(1);
        let c = r.resolve_name(Some("s3.amazonaws.com"));
        assert!(!Arc::ptr_eq(&a, &c), "due entry was re-minted");
    }

    #[test]
    fn default_cert_filters_names_the_ca_does_not_permit() {
        let mut config = ResolverConfig::skyport_default(
            Some("dev.example.org"),
            true,
            &["0.0.0.0".parse().unwrap()],
        );
        config.default_ips.push("8.8.8.8".parse().unwrap());
        config.default_dns_names.push("bad name".into());
        let r = resolver(config);
        assert!(
            !r.default_dns_names()
                .contains(&"dev.example.org".to_string())
        );
        assert!(
            r.default_dns_names()
                .contains(&"*.localhost.localstack.cloud".to_string())
        );
        assert_eq!(r.default_ips().len(), 2);
    }
}

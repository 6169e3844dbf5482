//! The runtime record registry: services add and remove names (exact names and whole subtrees) that
//! resolve to Skyport or to a fixed address, and skip patterns that send names upstream. A cheap
//! cloneable handle shared by the server and the services.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use hickory_proto::rr::Name;

use crate::error::Result;
use crate::names::{SkipPattern, parse_name};

/// What a registered name resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordTarget {
    /// Skyport's own address as seen from the client (the same rules as the built-in zones).
    Skyport,
    /// A fixed address: answers A for an IPv4 address, AAAA for an IPv6 address, NODATA otherwise.
    Ip(IpAddr),
}

/// Whether an entry covers only its own name or the name and all subdomains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Exactly this name.
    Exact,
    /// This name and every name below it.
    Subtree,
}

/// One registry entry, as listed by [`Records::entries`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordEntry {
    /// The name, lowercase, with trailing dot.
    pub name: String,
    /// Exact or subtree.
    pub scope: Scope,
    /// What it resolves to.
    pub target: RecordTarget,
}

/// A registry hit: the entry that matched.
#[derive(Debug, Clone)]
pub(crate) struct RegistryHit {
    pub(crate) apex: Name,
    pub(crate) scope: Scope,
    pub(crate) target: RecordTarget,
}

#[derive(Debug, Default)]
struct Inner {
    exact: HashMap<Name, RecordTarget>,
    subtrees: HashMap<Name, RecordTarget>,
    skip: Vec<SkipPattern>,
}

/// Handle to the runtime record registry. Cloning is cheap; all clones share the same table.
#[derive(Debug, Clone, Default)]
pub struct Records {
    inner: Arc<RwLock<Inner>>,
    /// Bumped after every change (while the write lock is still held), so answers remembered with
    /// an older value are known to be stale.
    generation: Arc<AtomicU64>,
}

/// Write access that bumps the generation when released.
struct WriteGuard<'a> {
    guard: RwLockWriteGuard<'a, Inner>,
    generation: &'a AtomicU64,
}

impl Deref for WriteGuard<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.guard
    }
}

impl DerefMut for WriteGuard<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.guard
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        // Runs before the lock guard is dropped: a reader that saw the old value cannot have
        // read the new table under it.
        self.generation.fetch_add(1, Ordering::Release);
    }
}

impl Records {
    /// An empty registry.
    pub fn new() -> Self {
        Records::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> WriteGuard<'_> {
        WriteGuard {
            guard: self
                .inner
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            generation: &self.generation,
        }
    }

    /// A number that changes whenever the registry does (read it before consulting the registry,
    /// and an answer built afterwards is current for that value).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Makes exactly `name` resolve to `target` (replacing an earlier entry for it).
    pub fn add_name(&self, name: &str, target: RecordTarget) -> Result<()> {
        let name = parse_name(name)?;
        tracing::debug!(%name, ?target, "dns registry: add name");
        self.write().exact.insert(name, target);
        Ok(())
    }

    /// Makes `name` and every subdomain resolve to `target` (replacing an earlier entry for it).
    pub fn add_subtree(&self, name: &str, target: RecordTarget) -> Result<()> {
        let name = parse_name(name)?;
        tracing::debug!(%name, ?target, "dns registry: add subtree");
        self.write().subtrees.insert(name, target);
        Ok(())
    }

    /// Removes an exact entry; returns whether it existed.
    pub fn remove_name(&self, name: &str) -> bool {
        match parse_name(name) {
            Ok(name) => self.write().exact.remove(&name).is_some(),
            Err(_) => false,
        }
    }

    /// Removes a subtree entry; returns whether it existed.
    pub fn remove_subtree(&self, name: &str) -> bool {
        match parse_name(name) {
            Ok(name) => self.write().subtrees.remove(&name).is_some(),
            Err(_) => false,
        }
    }

    /// Adds a skip pattern (regex, matched from the start against the lowercase name with trailing
    /// dot): matching names are forwarded upstream even when Skyport would answer them.
    pub fn add_skip_pattern(&self, pattern: &str) -> Result<()> {
        let compiled = SkipPattern::new(pattern)?;
        let mut inner = self.write();
        if !inner.skip.iter().any(|p| p.source == pattern) {
            inner.skip.push(compiled);
        }
        Ok(())
    }

    /// Removes a skip pattern by its exact text; returns whether it existed.
    pub fn remove_skip_pattern(&self, pattern: &str) -> bool {
        let mut inner = self.write();
        let before = inner.skip.len();
        inner.skip.retain(|p| p.source != pattern);
        inner.skip.len() != before
    }

    /// The skip patterns, in order.
    pub fn skip_patterns(&self) -> Vec<String> {
        self.read().skip.iter().map(|p| p.source.clone()).collect()
    }

    /// All name entries, sorted by name.
    pub fn entries(&self) -> Vec<RecordEntry> {
        let inner = self.read();
        let mut out: Vec<RecordEntry> = inner
            .exact
            .iter()
            .map(|(n, t)| (n, Scope::Exact, t))
            .chain(inner.subtrees.iter().map(|(n, t)| (n, Scope::Subtree, t)))
            .map(|(name, scope, target)| RecordEntry {
                name: name.to_ascii(),
                scope,
                target: *target,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Removes every entry and skip pattern.
    pub fn clear(&self) {
        let mut inner = self.write();
        inner.exact.clear();
        inner.subtrees.clear();
        inner.skip.clear();
    }

    /// The first skip pattern matching the name (in pattern form), if any.
    pub(crate) fn matching_skip(&self, name_with_dot: &str) -> Option<String> {
        self.read()
            .skip
            .iter()
            .find(|p| p.matches(name_with_dot))
            .map(|p| p.source.clone())
    }

    /// The registry entry for `name`: an exact entry first, else the most specific subtree.
    pub(crate) fn lookup(&self, name: &Name) -> Option<RegistryHit> {
        let inner = self.read();
        if inner.exact.is_empty() && inner.subtrees.is_empty() {
            return None;
        }
        let mut lower = name.to_lowercase();
        lower.set_fqdn(true);
        if let Some(target) = inner.exact.get(&lower) {
            return Some(RegistryHit {
                apex: lower,
                scope: Scope::Exact,
                target: *target,
            });
        }
        let labels = usize::from(lower.num_labels());
        (0..=labels).rev().find_map(|n| {
            let mut candidate = lower.trim_to(n);
            candidate.set_fqdn(true);
            inner.subtrees.get(&candidate).map(|target| RegistryHit {
                apex: candidate.clone(),
                scope: Scope::Subtree,
                target: *target,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn exact_and_subtree_entries() {
        let r = Records::new();
        assert!(r.lookup(&n("x.example.")).is_none());
        r.add_name("abc.lambda-url.us-east-1.on.aws", RecordTarget::Skyport)
            .unwrap();
        r.add_subtree("db.internal", RecordTarget::Ip("10.9.8.7".parse().unwrap()))
            .unwrap();
        r.add_subtree("a.db.internal", RecordTarget::Ip("::1".parse().unwrap()))
            .unwrap();

        let hit = r.lookup(&n("ABC.lambda-url.us-east-1.on.aws.")).unwrap();
        assert_eq!(hit.scope, Scope::Exact);
        assert_eq!(hit.target, RecordTarget::Skyport);
        assert!(r.lookup(&n("x.abc.lambda-url.us-east-1.on.aws.")).is_none());

        let hit = r.lookup(&n("q.db.internal.")).unwrap();
        assert_eq!(hit.apex.to_ascii(), "db.internal.");
        let hit = r.lookup(&n("q.a.db.internal.")).unwrap();
        assert_eq!(hit.apex.to_ascii(), "a.db.internal.");
        assert!(r.lookup(&n("db.internal.evil.")).is_none());
        assert!(r.lookup(&n("xdb.internal.")).is_none());

        assert_eq!(r.entries().len(), 3);
        assert!(r.remove_subtree("a.db.internal."));
        assert!(!r.remove_subtree("a.db.internal."));
        assert_eq!(
            r.lookup(&n("q.a.db.internal.")).unwrap().apex.to_ascii(),
            "db.internal."
        );
        assert!(r.remove_name("abc.lambda-url.us-east-1.on.aws"));
        r.clear();
        assert!(r.entries().is_empty());
    }

    #[test]
    fn every_change_moves_the_generation() {
        let r = Records::new();
        let g0 = r.generation();
        r.add_name("a.test", RecordTarget::Skyport).unwrap();
        let g1 = r.generation();
        assert_ne!(g0, g1);
        assert!(r.lookup(&n("a.test.")).is_some());
        assert_eq!(r.generation(), g1, "reads do not move it");
        r.add_skip_pattern("x").unwrap();
        let g2 = r.generation();
        assert_ne!(g1, g2);
        r.clone().clear();
        assert_ne!(r.generation(), g2, "clones share it");
    }

    #[test]
    fn skip_patterns_runtime() {
        let r = Records::new();
        r.add_skip_pattern(r".*\.s3\.").unwrap();
        r.add_skip_pattern(r".*\.s3\.").unwrap();
        assert_eq!(r.skip_patterns().len(), 1);
        assert!(r.matching_skip("b.s3.amazonaws.com.").is_some());
        assert!(r.add_skip_pattern("[").is_err());
        assert!(r.remove_skip_pattern(r".*\.s3\."));
        assert!(r.matching_skip("b.s3.amazonaws.com.").is_none());
    }
}

//! What `ENFORCE_IAM=1` reads from the IAM store on every request (an access key's record, a
//! principal's policies), kept while the store is unchanged: each entry remembers the store's write
//! generation it was read at and is current only while that is still the store's, so any IAM write
//! (a policy changed, a key deleted, a user removed from a group) applies to the very next request.

use std::collections::HashMap;
use std::sync::Mutex;

use skyport_core::store::Store;

/// Entries kept at most (a test run's distinct keys or principals); the cache is emptied when full.
const LIMIT: usize = 1024;

/// Values derived from the IAM store, by name (an access key id, a principal ARN).
#[derive(Debug)]
pub(crate) struct StoreCache<V> {
    entries: Mutex<HashMap<String, (u64, V)>>,
}

impl<V> Default for StoreCache<V> {
    fn default() -> Self {
        StoreCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<V: Clone> StoreCache<V> {
    /// The value of `name`, read by `read` unless one read since the store's last write is kept.
    pub(crate) fn get(&self, store: &Store, name: &str, read: impl FnOnce() -> V) -> V {
        // Taken before reading: a write landing during `read` moves the generation on, so what `read`
        // saw is read again next time.
        let generation = store.generation();
        if let Some((at, value)) = self.lock().get(name)
            && *at == generation
        {
            return value.clone();
        }
        let value = read();
        let mut entries = self.lock();
        if entries.len() >= LIMIT {
            entries.clear();
        }
        entries.insert(name.to_owned(), (generation, value.clone()));
        value
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, V)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_until_the_store_is_written() {
        let store = Store::in_memory().expect("a store in memory");
        let cache = StoreCache::<u32>::default();
        let reads = std::cell::Cell::new(0);
        let read = || {
            reads.set(reads.get() + 1);
            reads.get()
        };
        assert_eq!(cache.get(&store, "k", read), 1);
        assert_eq!(cache.get(&store, "k", read), 1);
        assert_eq!(cache.get(&store, "other", read), 2);
        store.write(|_| Ok(())).expect("an empty write");
        assert_eq!(cache.get(&store, "k", read), 3);
        assert_eq!(cache.get(&store, "k", read), 3);
    }
}

//! A map bounded by the bytes of what it holds: past its limit the least recently used
//! entries are dropped. The caches of segment footers ([`crate::direct::lookups::Footers`]) and
//! token indexes ([`crate::direct::token_index::TokenCache`]) keep their entries in one, shared by
//! the threads that query (one lock around the map).
//!
//! Eviction scans the map for the oldest entry. The maps hold one entry per segment
//! file (thousands at most), and evicting happens only when a file is first read, so
//! the scan costs less than keeping a linked order on every hit.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

/// Entries with their sizes, dropped least recently used first past `limit` bytes;
/// shared between threads (one lock around the map).
#[derive(Debug)]
pub(crate) struct SizedLru<K, V> {
    map: Mutex<Map<K, V>>,
    limit: usize,
}

#[derive(Debug)]
struct Map<K, V> {
    entries: HashMap<K, Entry<V>>,
    bytes: usize,
    clock: u64,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    bytes: usize,
    used: u64,
}

impl<K: Hash + Eq + Clone, V: Clone> SizedLru<K, V> {
    /// An empty map keeping at most `limit` bytes (always the newest entry).
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            map: Mutex::new(Map {
                entries: HashMap::new(),
                bytes: 0,
                clock: 0,
            }),
            limit,
        }
    }

    /// The value at `key`, now the most recently used.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut map = self.lock();
        map.clock += 1;
        let now = map.clock;
        map.entries.get_mut(key).map(|e| {
            e.used = now;
            e.value.clone()
        })
    }

    /// Puts `value` of `bytes` at `key` (replacing what was there), then drops the
    /// least recently used other entries while over the limit; returns their keys.
    pub(crate) fn insert(&self, key: K, value: V, bytes: usize) -> Vec<K> {
        let mut map = self.lock();
        map.clock += 1;
        let used = map.clock;
        let entry = Entry { value, bytes, used };
        if let Some(old) = map.entries.insert(key.clone(), entry) {
            map.bytes -= old.bytes;
        }
        map.bytes += bytes;
        let mut evicted = Vec::new();
        while map.bytes > self.limit {
            let Some(oldest) = map
                .entries
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = map.entries.remove(&oldest) {
                map.bytes -= e.bytes;
            }
            evicted.push(oldest);
        }
        evicted
    }

    /// Keeps only the entries whose key passes `keep`.
    pub(crate) fn retain(&self, mut keep: impl FnMut(&K) -> bool) {
        let mut map = self.lock();
        map.entries.retain(|k, _| keep(k));
        map.bytes = map.entries.values().map(|e| e.bytes).sum();
    }

    /// How many entries there are, and their bytes.
    pub(crate) fn cached(&self) -> (usize, usize) {
        let map = self.lock();
        (map.entries.len(), map.bytes)
    }

    fn lock(&self) -> MutexGuard<'_, Map<K, V>> {
        // Entries are inserted whole: what the map holds stays valid after a panic.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_go_first_and_the_newest_always_stays() {
        let m: SizedLru<String, u32> = SizedLru::new(30);
        assert!(m.insert("a".into(), 1, 10).is_empty());
        assert!(m.insert("b".into(), 2, 10).is_empty());
        assert!(m.insert("c".into(), 3, 10).is_empty());
        assert_eq!(m.get("a"), Some(1)); // b is now the oldest
        assert_eq!(m.insert("d".into(), 4, 10), vec!["b".to_string()]);
        assert_eq!(m.get("b"), None);
        assert_eq!(m.cached(), (3, 30));
        // Larger than the limit on its own: everything else goes, it stays.
        let mut gone = m.insert("big".into(), 5, 100);
        gone.sort();
        assert_eq!(gone, ["a", "c", "d"]);
        assert_eq!(m.cached(), (1, 100));
        assert_eq!(m.get("big"), Some(5));
    }

    #[test]
    fn replacing_and_retaining_keep_the_byte_count() {
        let m: SizedLru<String, u32> = SizedLru::new(100);
        m.insert("a".into(), 1, 10);
        m.insert("a".into(), 2, 25);
        m.insert("b".into(), 3, 5);
        assert_eq!(m.cached(), (2, 30));
        assert_eq!(m.get("a"), Some(2));
        m.retain(|k| k == "b");
        assert_eq!(m.cached(), (1, 5));
    }
}

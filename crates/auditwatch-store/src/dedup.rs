//! The eventID index: which event keys the lake already holds, per event day.
//!
//! An event's identity is its eventID, and a duplicate of an event carries the same
//! eventTime, so the index is partitioned by day: ingesting a file loads the key sets
//! of the few days it touches (16 bytes a key, sorted, binary-searched) instead of an
//! index over all history. At 100 M events over a year that is ~4 MB a day.

use std::collections::HashMap;

use auditwatch_event::EventKey;

use crate::catalog::Catalog;
use crate::error::Result;

/// Sorted keys of one segment.
#[derive(Debug, Clone, Default)]
struct KeySet(Vec<u128>);

impl KeySet {
    fn from_blob(blob: &[u8]) -> Self {
        KeySet(
            blob.chunks_exact(16)
                .map(|c| u128::from_le_bytes(c.try_into().expect("16-byte chunk")))
                .collect(),
        )
    }
    fn contains(&self, k: u128) -> bool {
        self.0.binary_search(&k).is_ok()
    }
}

/// Encodes sorted keys for the catalog.
pub fn to_blob(sorted: &[u128]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sorted.len() * 16);
    for k in sorted {
        out.extend_from_slice(&k.to_le_bytes());
    }
    out
}

/// Decodes a catalog key blob.
pub fn from_blob(blob: &[u8]) -> Vec<u128> {
    KeySet::from_blob(blob).0
}

/// Cached key sets, loaded per day on first use.
#[derive(Debug, Default)]
pub struct DedupIndex {
    days: HashMap<i32, Vec<(i64, KeySet)>>,
}

impl DedupIndex {
    /// Whether `key` is already stored on `day`, loading the day if needed.
    pub fn contains(&mut self, catalog: &Catalog, day: i32, key: EventKey) -> Result<bool> {
        Ok(self
            .day(catalog, day)?
            .iter()
            .any(|(_, s)| s.contains(key.0)))
    }

    fn day(&mut self, catalog: &Catalog, day: i32) -> Result<&Vec<(i64, KeySet)>> {
        Ok(match self.days.entry(day) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(
                catalog
                    .day_keys(day)?
                    .into_iter()
                    .map(|(id, blob)| (id, KeySet::from_blob(&blob)))
                    .collect(),
            ),
        })
    }

    /// Reads the key sets that other writers listed for the cached days among `days`
    /// since they were loaded (a shared catalog has several writers).
    pub fn catch_up(&mut self, catalog: &Catalog, days: impl Iterator<Item = i32>) -> Result<()> {
        for day in days {
            let after = self.newest(day);
            if let Some(sets) = self.days.get_mut(&day) {
                for (id, blob) in catalog.day_keys_after(day, after)? {
                    sets.push((id, KeySet::from_blob(&blob)));
                }
            }
        }
        Ok(())
    }

    /// The newest segment id of `day` the cached keys cover (0: none, or not loaded).
    pub fn newest(&self, day: i32) -> i64 {
        self.days
            .get(&day)
            .and_then(|sets| sets.iter().map(|(id, _)| *id).max())
            .unwrap_or(0)
    }

    /// Records a committed segment's keys (only for days already loaded).
    pub fn add(&mut self, day: i32, segment_id: i64, sorted: Vec<u128>) {
        if let Some(sets) = self.days.get_mut(&day) {
            sets.push((segment_id, KeySet(sorted)));
        }
    }

    /// Forgets retired segments.
    pub fn retire(&mut self, segment_ids: &[i64]) {
        for sets in self.days.values_mut() {
            sets.retain(|(id, _)| !segment_ids.contains(id));
        }
    }

    /// Drops all cached days (to bound memory between large batches).
    pub fn clear(&mut self) {
        self.days.clear();
    }

    /// Keys held in memory.
    pub fn cached_keys(&self) -> usize {
        self.days.values().flatten().map(|(_, s)| s.0.len()).sum()
    }
}

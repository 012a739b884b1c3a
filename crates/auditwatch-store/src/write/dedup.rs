//! The eventID index: which event keys the lake already holds, per event day.
//!
//! An event's identity is its eventID, and a duplicate of an event carries the same
//! eventTime, so the index is partitioned by day: ingesting a file loads the key sets
//! of the few days it touches (16 bytes a key, sorted, binary-searched) instead of an
//! index over all history. At 100 M events over a year that is ~4 MB a day.

use std::collections::HashMap;

use auditwatch_event::EventKey;

use crate::error::Result;
use auditwatch_catalog::Catalog;
use auditwatch_catalog::keys::from_blob;

/// The stored keys of one day: sorted runs, each more than twice as long as the next
/// (adding a segment's keys merges the smaller runs, as a binary counter carries), so
/// a probe binary-searches a few runs however many segments the day has. One run per
/// segment made a busy day's probes slow down with every commit: at 10 M events over
/// 7 days, 37 segments a day, the dedup step of a commit grew from 14 to 336 ms.
#[derive(Debug, Default)]
struct DayKeys {
    runs: Vec<Vec<u128>>,
    /// The segments whose keys the runs hold.
    segments: Vec<i64>,
}

impl DayKeys {
    fn contains(&self, k: u128) -> bool {
        self.runs.iter().any(|r| r.binary_search(&k).is_ok())
    }

    /// Adds segment `id`'s sorted keys.
    fn add(&mut self, id: i64, sorted: Vec<u128>) {
        self.segments.push(id);
        self.runs.push(sorted);
        while let [.., older, newer] = self.runs.as_slice()
            && older.len() <= 2 * newer.len()
        {
            let newer = self.runs.pop().expect("two runs");
            let older = self.runs.pop().expect("two runs");
            self.runs.push(merge(&older, &newer));
        }
    }

    fn keys(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }
}

/// Two sorted runs as one.
fn merge(a: &[u128], b: &[u128]) -> Vec<u128> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] <= b[j] {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Cached key sets, loaded per day on first use.
#[derive(Debug, Default)]
pub struct DedupIndex {
    days: HashMap<i32, DayKeys>,
}

impl DedupIndex {
    /// Whether `key` is already stored on `day`, loading the day if needed.
    pub fn contains(&mut self, catalog: &Catalog, day: i32, key: EventKey) -> Result<bool> {
        Ok(self.day(catalog, day)?.contains(key.0))
    }

    fn day(&mut self, catalog: &Catalog, day: i32) -> Result<&DayKeys> {
        Ok(match self.days.entry(day) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let mut keys = DayKeys::default();
                for (id, blob) in catalog.day_keys(day)? {
                    keys.add(id, from_blob(&blob));
                }
                e.insert(keys)
            }
        })
    }

    /// Reads the key sets that other writers listed for the cached days among `days`
    /// since they were loaded (a shared catalog has several writers).
    pub fn catch_up(&mut self, catalog: &Catalog, days: impl Iterator<Item = i32>) -> Result<()> {
        for day in days {
            let after = self.newest(day);
            if let Some(keys) = self.days.get_mut(&day) {
                for (id, blob) in catalog.day_keys_after(day, after)? {
                    keys.add(id, from_blob(&blob));
                }
            }
        }
        Ok(())
    }

    /// The newest segment id of `day` the cached keys cover (0: none, or not loaded).
    pub fn newest(&self, day: i32) -> i64 {
        self.days
            .get(&day)
            .and_then(|keys| keys.segments.iter().copied().max())
            .unwrap_or(0)
    }

    /// Records a committed segment's keys (only for days already loaded).
    pub fn add(&mut self, day: i32, segment_id: i64, sorted: Vec<u128>) {
        if let Some(keys) = self.days.get_mut(&day) {
            keys.add(segment_id, sorted);
        }
    }

    /// Forgets retired segments: a day holding any of them is dropped whole (its runs
    /// mix segments) and read again from the catalog when next asked for.
    pub fn retire(&mut self, segment_ids: &[i64]) {
        self.days
            .retain(|_, keys| !keys.segments.iter().any(|id| segment_ids.contains(id)));
    }

    /// Drops all cached days (to bound memory between large batches).
    pub fn clear(&mut self) {
        self.days.clear();
    }

    /// Keys held in memory.
    pub fn cached_keys(&self) -> usize {
        self.days.values().map(DayKeys::keys).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_s_keys_stay_in_few_sorted_runs_and_all_are_found() {
        let mut day = DayKeys::default();
        let mut all = Vec::new();
        for id in 1..=37_i64 {
            let keys: Vec<u128> = (0..1000_u128).map(|i| i * 37 + id as u128).collect();
            all.extend_from_slice(&keys);
            day.add(id, keys);
            assert!(
                day.runs.len() <= 7,
                "{} runs after {id} segments",
                day.runs.len()
            );
            for w in day.runs.windows(2) {
                assert!(w[0].len() > 2 * w[1].len());
            }
        }
        assert!(day.runs.iter().all(|r| r.is_sorted()));
        assert_eq!(day.keys(), all.len());
        assert!(all.iter().all(|k| day.contains(*k)));
        assert!(!day.contains(0));
        assert!(!day.contains(37 * 1000 + 38));
    }

    #[test]
    fn retiring_a_segment_drops_its_day() {
        let mut index = DedupIndex::default();
        index.days.insert(1, DayKeys::default());
        index.days.insert(2, DayKeys::default());
        index.add(1, 10, vec![1, 2]);
        index.add(2, 11, vec![3]);
        index.add(3, 12, vec![4]); // day 3 not loaded: nothing kept
        assert_eq!((index.cached_keys(), index.newest(1)), (3, 10));
        index.retire(&[10]);
        assert_eq!((index.cached_keys(), index.newest(1)), (1, 0));
    }
}

//! Counting groups: a thread's counts per combination of codes within a segment
//! ([`Counter`]: an array while the combinations are few, a hash map past that), and
//! the groups of a whole query keyed by query-wide value numbers ([`Merged`]), merged
//! across segments and threads by integers, not strings.

use std::collections::HashMap;
use std::sync::Arc;

use super::*;

/// Most columns one breakdown counts by (their numbers share one `u128`).
pub const MOST_COLUMNS: usize = 4;

/// Groups counted so far, keyed by the numbers of their values: each column's values
/// are numbered once per query (a segment's codes are translated, its few distinct
/// values hashed), so merging a segment's groups hashes integers, not strings.
pub(super) struct Merged {
    pub(super) columns: Vec<Numbered>,
    pub(super) groups: HashMap<u128, u64, foldhash::fast::FixedState>,
    /// The thread's counts of the segment being read.
    pub(super) counter: Counter,
}

/// One column's values seen by a query, numbered in order of first sight.
#[derive(Default)]
pub(super) struct Numbered {
    pub(super) values: Vec<Arc<str>>,
    pub(super) numbers: HashMap<Arc<str>, u32, foldhash::fast::FixedState>,
}

/// The number of a null value.
pub(super) const NULL_NUMBER: u32 = u32::MAX;

impl Numbered {
    pub(super) fn number(&mut self, v: &str) -> u32 {
        if let Some(&n) = self.numbers.get(v) {
            return n;
        }
        let n = self.values.len() as u32;
        let v: Arc<str> = v.into();
        self.values.push(v.clone());
        self.numbers.insert(v, n);
        n
    }

    /// The numbers of a segment's codes (its null code last).
    pub(super) fn of_codes(&mut self, c: &Coded) -> Vec<u32> {
        let mut out: Vec<u32> = c.values.iter().map(|v| self.number(v)).collect();
        out.push(NULL_NUMBER);
        out
    }

    pub(super) fn value(&self, n: u32) -> Option<String> {
        (n != NULL_NUMBER).then(|| self.values[n as usize].to_string())
    }
}

pub(super) fn pack(numbers: impl Iterator<Item = u32>) -> u128 {
    numbers
        .enumerate()
        .fold(0u128, |acc, (i, n)| acc | (u128::from(n) << (32 * i)))
}

pub(super) fn unpack(key: u128, i: usize) -> u32 {
    (key >> (32 * i)) as u32
}

impl Merged {
    pub(super) fn new(columns: usize) -> Self {
        Self {
            columns: (0..columns).map(|_| Numbered::default()).collect(),
            groups: HashMap::default(),
            counter: Counter::default(),
        }
    }

    /// Adds another thread's groups.
    pub(super) fn absorb(&mut self, other: Merged) {
        let translate: Vec<Vec<u32>> = self
            .columns
            .iter_mut()
            .zip(&other.columns)
            .map(|(mine, theirs)| theirs.values.iter().map(|v| mine.number(v)).collect())
            .collect();
        for (key, n) in other.groups {
            let numbers = translate.iter().enumerate().map(|(i, t)| {
                let n = unpack(key, i);
                if n == NULL_NUMBER { n } else { t[n as usize] }
            });
            *self.groups.entry(pack(numbers)).or_default() += n;
        }
    }

    pub(super) fn into_groups(self) -> Counted {
        self.groups
            .into_iter()
            .map(|(key, n)| {
                let values = self
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| c.value(unpack(key, i)))
                    .collect();
                (values, n)
            })
            .collect()
    }
}

/// Most combinations of codes counted in a plain array (16 MiB a thread at most; a
/// segment's counts fit `u32`); more go to a hash map.
pub(super) const DENSE_GROUPS: usize = 1 << 22;

/// Counts by combination of codes, kept by a thread from segment to segment: an
/// array while the combinations are few enough, a hash map past that.
#[derive(Default)]
pub(super) struct Counter {
    pub(super) dense: Vec<u32>,
    /// The array's slots a segment touched, when there are too many to read back.
    pub(super) touched: Vec<usize>,
    /// Keyed by a fast non-cryptographic hash: the keys are codes, not input.
    pub(super) sparse: HashMap<usize, u64, foldhash::fast::FixedState>,
    pub(super) mode: Mode,
}

#[derive(Default, Clone, Copy)]
pub(super) enum Mode {
    /// A plain array of this many slots, read back whole.
    #[default]
    Small,
    /// A large array: the slots touched are listed as they are.
    Large,
    /// A hash map.
    Sparse,
}

/// Most combinations read back by scanning the whole array.
pub(super) const SMALL_GROUPS: usize = 1 << 16;

impl Counter {
    /// Starts a segment of `combinations` possible keys.
    pub(super) fn begin(&mut self, combinations: usize) {
        self.mode = if combinations <= SMALL_GROUPS {
            Mode::Small
        } else if combinations <= DENSE_GROUPS {
            Mode::Large
        } else {
            Mode::Sparse
        };
        if !matches!(self.mode, Mode::Sparse) && self.dense.len() < combinations {
            self.dense.resize(combinations, 0);
        }
    }

    #[inline]
    pub(super) fn add(&mut self, key: usize) {
        match self.mode {
            Mode::Small => self.dense[key] += 1,
            Mode::Large => {
                let n = &mut self.dense[key];
                if *n == 0 {
                    self.touched.push(key);
                }
                *n += 1;
            }
            Mode::Sparse => *self.sparse.entry(key).or_default() += 1,
        }
    }

    /// The segment's counts, cleared for the next one.
    pub(super) fn drain(&mut self) -> Vec<(usize, u64)> {
        match self.mode {
            Mode::Small => self
                .dense
                .iter_mut()
                .take(SMALL_GROUPS)
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| (k, u64::from(std::mem::take(n))))
                .collect(),
            Mode::Large => self
                .touched
                .drain(..)
                .map(|k| (k, u64::from(std::mem::take(&mut self.dense[k]))))
                .collect(),
            Mode::Sparse => self.sparse.drain().collect(),
        }
    }
}

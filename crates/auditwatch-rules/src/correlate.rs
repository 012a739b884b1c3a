//! Sigma correlations (`event_count`, `value_count`, `temporal`, `temporal_ordered`)
//! over the matches of their rules, in sliding windows of event time per group.
//!
//! The same code serves `hunt` (all matches of a time range, in any order) and live
//! detection (matches arriving segment by segment, late files included): matches are
//! kept sorted by event time in each group, and every window that a new match could
//! complete is judged. A window is the `timespan` up to and including one match; it
//! fires on that match when the condition holds over the matches in it. After a
//! window fires, its matches are spent (Sigma's `reset` action): `count() > 5` fires
//! again only after six more matches, not on each one.

use std::collections::{BTreeSet, HashMap, HashSet};

/// The kinds of correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Matches in the window.
    EventCount,
    /// Distinct values of a field in the window.
    ValueCount,
    /// Distinct rules matched in the window.
    Temporal,
    /// The rules matched in their order within the window.
    TemporalOrdered,
}

/// A comparison of the correlation's measure with a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `lt`
    Lt,
    /// `lte`
    Lte,
    /// `gt`
    Gt,
    /// `gte`
    Gte,
    /// `eq`
    Eq,
    /// `neq`
    Neq,
}

impl Op {
    fn holds(self, left: u64, right: u64) -> bool {
        match self {
            Op::Lt => left < right,
            Op::Lte => left <= right,
            Op::Gt => left > right,
            Op::Gte => left >= right,
            Op::Eq => left == right,
            Op::Neq => left != right,
        }
    }
}

/// One correlation, its rules named by position (`0..rules`).
#[derive(Debug, Clone)]
pub struct Correlation {
    /// What is measured.
    pub kind: Kind,
    /// How many rules it correlates.
    pub rules: usize,
    /// The window, in microseconds.
    pub span_us: i64,
    /// Every predicate must hold (`gte: 3` and `lt: 10` make a range).
    pub predicates: Vec<(Op, u64)>,
}

impl Correlation {
    fn holds(&self, measure: u64) -> bool {
        self.predicates.iter().all(|(op, n)| op.holds(measure, *n))
    }
}

/// A match of one of a correlation's rules.
#[derive(Debug, Clone)]
pub struct Input<T> {
    /// The correlation (index into the list given to [`Windows::new`]).
    pub correlation: usize,
    /// The values of its `group-by` fields in this event.
    pub group: Vec<String>,
    /// The event's time.
    pub time_us: i64,
    /// Which of its rules matched (position in its `rules`).
    pub rule: usize,
    /// The value of its `field` (`value_count`), if the event has one.
    pub value: Option<String>,
    /// The caller's handle on the event.
    pub tag: T,
}

/// A window whose condition held.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing<T> {
    /// The correlation.
    pub correlation: usize,
    /// Its group.
    pub group: Vec<String>,
    /// The time of the match that completed the window.
    pub time_us: i64,
    /// The measure that met the condition (matches, values or rules).
    pub measure: u64,
    /// The matches in the window, oldest first.
    pub tags: Vec<T>,
}

#[derive(Debug)]
struct Entry<T> {
    time_us: i64,
    seq: u64,
    rule: usize,
    value: Option<String>,
    tag: T,
}

#[derive(Debug)]
struct Group<T> {
    entries: Vec<Entry<T>>,
    /// Matches up to this (time, seq) were spent by a firing.
    spent: Option<(i64, u64)>,
    /// The earliest new match since the last judgement.
    fresh_from: Option<i64>,
    fresh_to: i64,
}

/// The matches of every correlation, grouped and kept in time order.
#[derive(Debug)]
pub struct Windows<T> {
    correlations: Vec<Correlation>,
    groups: HashMap<(usize, Vec<String>), Group<T>>,
    seq: u64,
}

impl<T: Clone> Windows<T> {
    /// Windows for these correlations.
    pub fn new(correlations: Vec<Correlation>) -> Self {
        Windows {
            correlations,
            groups: HashMap::new(),
            seq: 0,
        }
    }

    /// Matches held.
    pub fn len(&self) -> usize {
        self.groups.values().map(|g| g.entries.len()).sum()
    }

    /// Whether no match is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a match; [`Windows::judge`] decides what it completes.
    pub fn push(&mut self, input: Input<T>) {
        if input.correlation >= self.correlations.len() {
            return;
        }
        self.seq += 1;
        let group = self
            .groups
            .entry((input.correlation, input.group))
            .or_insert_with(|| Group {
                entries: Vec::new(),
                spent: None,
                fresh_from: None,
                fresh_to: i64::MIN,
            });
        let at = group
            .entries
            .partition_point(|e| e.time_us <= input.time_us);
        group.entries.insert(
            at,
            Entry {
                time_us: input.time_us,
                seq: self.seq,
                rule: input.rule,
                value: input.value,
                tag: input.tag,
            },
        );
        group.fresh_from = Some(
            group
                .fresh_from
                .map_or(input.time_us, |f| f.min(input.time_us)),
        );
        group.fresh_to = group.fresh_to.max(input.time_us);
    }

    /// Judges every window a match pushed since the last call could complete, oldest
    /// first, and returns those that fired.
    pub fn judge(&mut self) -> Vec<Firing<T>> {
        let mut out = Vec::new();
        let mut keys: Vec<(usize, Vec<String>)> = self
            .groups
            .iter()
            .filter(|(_, g)| g.fresh_from.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        for key in keys {
            let c = &self.correlations[key.0];
            let Some(g) = self.groups.get_mut(&key) else {
                continue;
            };
            let from = g.fresh_from.take().unwrap_or(i64::MIN);
            let to = g.fresh_to.saturating_add(c.span_us);
            for end in 0..g.entries.len() {
                let e = &g.entries[end];
                if e.time_us < from || e.time_us > to {
                    continue;
                }
                if g.spent.is_some_and(|s| (e.time_us, e.seq) <= s) {
                    continue;
                }
                // Matches with the same time as the end belong to its window too.
                let last = g.entries[end..]
                    .iter()
                    .take_while(|x| x.time_us == e.time_us)
                    .count()
                    + end;
                if last - 1 != end {
                    continue; // judged at the last of equal times
                }
                // Entries are in time order: the window starts where its time does.
                let start_time = e.time_us.saturating_sub(c.span_us);
                let first = g.entries[..last].partition_point(|x| x.time_us < start_time);
                let window: Vec<&Entry<T>> = g.entries[first..last]
                    .iter()
                    .filter(|x| g.spent.is_none_or(|s| (x.time_us, x.seq) > s))
                    .collect();
                if let Some(measure) = measure(c, &window) {
                    out.push(Firing {
                        correlation: key.0,
                        group: key.1.clone(),
                        time_us: e.time_us,
                        measure,
                        tags: window.iter().map(|x| x.tag.clone()).collect(),
                    });
                    g.spent = Some((e.time_us, e.seq));
                }
            }
        }
        out.sort_by_key(|a| (a.time_us, a.correlation));
        out
    }

    /// Forgets matches older than `before_us`, which no later window can reach.
    pub fn forget_before(&mut self, before_us: i64) {
        self.groups.retain(|_, g| {
            g.entries.retain(|e| e.time_us >= before_us);
            !g.entries.is_empty()
        });
    }
}

/// The correlation's measure over a window, when its condition holds.
fn measure<T>(c: &Correlation, window: &[&Entry<T>]) -> Option<u64> {
    let m = match c.kind {
        Kind::EventCount => window.len() as u64,
        Kind::ValueCount => {
            let values: HashSet<&str> = window.iter().filter_map(|e| e.value.as_deref()).collect();
            values.len() as u64
        }
        Kind::Temporal => {
            let rules: BTreeSet<usize> = window.iter().map(|e| e.rule).collect();
            rules.len() as u64
        }
        Kind::TemporalOrdered => {
            let mut next = 0;
            for e in window {
                if e.rule == next {
                    next += 1;
                    if next == c.rules {
                        break;
                    }
                }
            }
            next as u64
        }
    };
    (!window.is_empty() && c.holds(m)).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn corr(kind: Kind, rules: usize, span_s: i64, p: &[(Op, u64)]) -> Correlation {
        Correlation {
            kind,
            rules,
            span_us: span_s * S,
            predicates: p.to_vec(),
        }
    }

    fn input(t: i64, group: &str, rule: usize, value: Option<&str>) -> Input<i64> {
        Input {
            correlation: 0,
            group: vec![group.into()],
            time_us: t * S,
            rule,
            value: value.map(str::to_string),
            tag: t,
        }
    }

    fn fired(f: &[Firing<i64>]) -> Vec<(i64, String, u64)> {
        f.iter()
            .map(|f| (f.time_us / S, f.group[0].clone(), f.measure))
            .collect()
    }

    #[test]
    fn event_count_fires_per_group_and_spends_its_matches() {
        let mut w = Windows::new(vec![corr(Kind::EventCount, 1, 600, &[(Op::Gt, 2)])]);
        for t in [0, 10, 20, 30, 40, 50, 60] {
            w.push(input(t, "a", 0, None));
        }
        w.push(input(5, "b", 0, None));
        w.push(input(6, "b", 0, None));
        // a: fires at the 3rd match (20) and again after 3 more (50); b never.
        assert_eq!(
            fired(&w.judge()),
            vec![(20, "a".into(), 3), (50, "a".into(), 3)]
        );
        assert!(w.judge().is_empty(), "judged windows are not judged again");
        w.push(input(7, "b", 0, None));
        let f = w.judge();
        assert_eq!(fired(&f), vec![(7, "b".into(), 3)]);
        assert_eq!(f[0].tags, vec![5, 6, 7]);
    }

    #[test]
    fn the_window_slides_on_event_time_and_late_matches_count() {
        let mut w = Windows::new(vec![corr(Kind::EventCount, 1, 60, &[(Op::Gte, 3)])]);
        for t in [0, 100, 200] {
            w.push(input(t, "a", 0, None));
        }
        assert!(w.judge().is_empty(), "too far apart");
        // Late files: two matches inside the first minute arrive afterwards.
        w.push(input(30, "a", 0, None));
        w.push(input(59, "a", 0, None));
        assert_eq!(fired(&w.judge()), vec![(59, "a".into(), 3)]);
        w.forget_before(150 * S);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn value_count_counts_distinct_values() {
        let mut w = Windows::new(vec![corr(Kind::ValueCount, 1, 600, &[(Op::Gte, 3)])]);
        for (t, v) in [(0, "x"), (1, "x"), (2, "y"), (3, "x"), (4, "z")] {
            w.push(input(t, "ip", 0, Some(v)));
        }
        w.push(input(5, "ip", 0, None));
        assert_eq!(fired(&w.judge()), vec![(4, "ip".into(), 3)]);
    }

    #[test]
    fn temporal_needs_every_rule_and_ordered_needs_their_order() {
        let mut w = Windows::new(vec![
            corr(Kind::Temporal, 2, 300, &[(Op::Gte, 2)]),
            corr(Kind::TemporalOrdered, 2, 300, &[(Op::Gte, 2)]),
        ]);
        for c in 0..2 {
            for (t, r) in [(0, 1), (10, 1), (400, 1), (500, 0)] {
                let mut i = input(t, "acct", r, None);
                i.correlation = c;
                w.push(i);
            }
        }
        let f = w.judge();
        // Unordered: rule 1 at 400 and rule 0 at 500 are within 300 s. Ordered: rule 0
        // never comes before rule 1.
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].correlation, f[0].time_us / S), (0, 500));
        let mut i = input(600, "acct", 1, None);
        i.correlation = 1;
        w.push(i);
        let f = w.judge();
        assert_eq!(
            (f[0].correlation, f[0].time_us / S, f[0].measure),
            (1, 600, 2)
        );
    }

    #[test]
    fn ranges_and_equal_times() {
        let mut w = Windows::new(vec![corr(
            Kind::EventCount,
            1,
            10,
            &[(Op::Gte, 2), (Op::Lt, 4)],
        )]);
        // Three matches at the same second form one window, judged once.
        for _ in 0..3 {
            w.push(input(100, "g", 0, None));
        }
        assert_eq!(fired(&w.judge()), vec![(100, "g".into(), 3)]);
        let mut w = Windows::new(vec![corr(Kind::EventCount, 1, 10, &[(Op::Lt, 2)])]);
        w.push(input(0, "g", 0, None));
        assert_eq!(fired(&w.judge()), vec![(0, "g".into(), 1)]);
    }
}

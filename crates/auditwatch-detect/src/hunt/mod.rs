//! Detection rules over stored history (`auditwatch hunt`): which events of the
//! lake match which rules, a day at a time, oldest first.
//!
//! Rules: filter-pattern rule files (JSON arrays of `{id, title, filterPattern,
//! level}`, the shape of AWS's control lists), Sigma rules and correlations (`.yml`,
//! `.yaml`; SigmaHQ's folders load as they are), one file or a folder of them, and
//! the built-in packs `builtin:cis` and `builtin:securityhub`. A rule that does not
//! load is listed with its file and reason; the others still run.
//!
//! Each day's batches are matched on every core ([`matching`]) and handed, with
//! their matches ([`hits`]), to the caller's sink while the next day is read, so
//! memory holds two days' matches, not the whole timeline. Sigma correlations take
//! their rules' matches in event-time order and are judged after each day (a window
//! completed by a later day's event fires then), so the order the lake returns events
//! in does not matter. A correlation that fires is one match: the event that
//! completed its window, with the measure and group in its [`Meta`]'s title.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, PoisonError};

use auditwatch_rules::correlate::{Input, Windows};
use auditwatch_rules::packs;
use auditwatch_rules::rulefile::Rule;
use auditwatch_rules::sigma::{Placeholders, RuleMatch, SigmaSet};
use auditwatch_store::Scope;
use auditwatch_store::direct::scan::ScanBatch;
use serde_json::Value;

use crate::config::load_rules;
pub use hits::{Ev, Hit, Meta, Row};
pub use matching::Plan;
use matching::{Found, Memo, Worker};

mod hits;
mod matching;

/// Why a hunt could not run.
#[derive(Debug, thiserror::Error)]
pub enum HuntError {
    /// The rules named cannot be used (names the `--rules` value and the reason).
    #[error("{0}")]
    Rules(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] auditwatch_store::StoreError),
    /// A thread of the hunt panicked.
    #[error("{0} panicked")]
    Panicked(&'static str),
}

/// The rules of a hunt, loaded.
pub struct Hunt {
    patterns: Vec<Rule>,
    sigma: Option<SigmaSet>,
    /// Rules that did not load: file, place and reason.
    pub errors: Vec<String>,
}

/// One day of a hunt: its scanned batches (the timeline columns the matches point
/// into), its matches, and what each rule index means.
pub struct Day {
    /// The day's events, the columns of the timeline.
    pub batches: Vec<ScanBatch>,
    /// Its matches, in no particular order.
    pub hits: Vec<Hit>,
    /// Shared with earlier days; correlation matches add to them day by day.
    pub metas: Arc<Vec<Meta>>,
    /// Whether it is the last day.
    pub last: bool,
}

/// What a hunt read.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    /// Events scanned.
    pub scanned: u64,
    /// Stored records that are not JSON objects, so were not checked.
    pub unparsed: u64,
}

impl Hunt {
    /// Loads `specs`: rule files, folders of them, or `builtin:NAME` packs.
    pub fn load(specs: &[String], placeholders: &Placeholders) -> Result<Self, HuntError> {
        let mut patterns: Vec<Rule> = Vec::new();
        let mut paths = Vec::new();
        for r in specs {
            if let Some(name) = r.strip_prefix("builtin:") {
                let Some(pack) = packs::pack(name) else {
                    return Err(HuntError::Rules(format!(
                        "--rules {r}: no such built-in pack (there are: {})",
                        packs::names().collect::<Vec<_>>().join(", ")
                    )));
                };
                patterns.extend(pack);
            } else {
                paths.push(Path::new(r).to_path_buf());
            }
        }
        let library = load_rules(&paths, placeholders)
            .map_err(|e| HuntError::Rules(format!("--rules {e}")))?;
        patterns.extend(library.patterns);
        if patterns.is_empty() && library.sigma.is_none() {
            return Err(HuntError::Rules(format!(
                "no rule loaded from {}",
                specs.join(", ")
            )));
        }
        Ok(Self {
            patterns,
            sigma: library.sigma,
            errors: library.errors,
        })
    }

    /// Rules, Sigma rules and correlations that run.
    pub fn rule_count(&self) -> usize {
        self.patterns.len()
            + self
                .sigma
                .as_ref()
                .map_or(0, |s| s.rule_count() + s.correlation_count())
    }

    /// How the rules are decided, and so what the scan reads: typed columns, or each
    /// record's text when `exact_text` or when a rule needs it.
    pub fn plan(&self, exact_text: bool) -> Plan<'_> {
        Plan::new(&self.patterns, self.sigma.as_ref(), exact_text)
    }

    /// Runs the hunt over the events in `[start, end]` (µs, either open), a day at a
    /// time, oldest first, giving each day to `sink`; stops early when `sink` says
    /// `false`.
    pub fn run(
        &self,
        plan: &Plan<'_>,
        store: &auditwatch_store::Store,
        rt: &tokio::runtime::Runtime,
        (start, end): (Option<i64>, Option<i64>),
        mut sink: impl FnMut(Day) -> bool,
    ) -> Result<Totals, HuntError> {
        let (rules, sigma) = (&self.patterns, &self.sigma);
        let mut metas: Vec<Meta> = rules
            .iter()
            .map(|r| Meta {
                id: r.id.clone(),
                title: r.title.clone(),
                level: r.level.clone(),
                author: None,
            })
            .collect();
        if let Some(sigma) = sigma {
            for i in 0..sigma.rule_count() {
                let m = sigma.rule(RuleMatch(i));
                metas.push(Meta {
                    id: m.id.clone(),
                    title: m.title.clone(),
                    level: m.level.clone(),
                    author: m.author.clone(),
                });
            }
        }
        let mut metas = Arc::new(metas);
        let days = days_between(store, start, end)?;
        // Rules that read `origin` run on records read as text, each given its
        // origin as live detection gives it.
        let origins = if plan.reads_origin() {
            Some(store.origins()?)
        } else {
            None
        };
        let mut windows = sigma.as_ref().map(|s| s.windows::<Arc<Row>>());
        let mut totals = Totals::default();
        let count = days.len();
        // What key values decide, remembered from day to day.
        let memos = std::sync::Mutex::new(Vec::new());
        for (d, (lo, hi)) in days.into_iter().enumerate() {
            let at = Window {
                rt,
                store,
                lo,
                hi,
                origins: origins.as_deref(),
            };
            let (n, day, mut found) = scan(&at, plan, &memos)?;
            totals.scanned += n;
            // The text of the records typed columns could not decide, in one read.
            let undecided = found.unsure.iter().map(|h| &h.ev);
            let texts = texts(
                &at,
                &day,
                undecided.chain(found.on_text.iter().map(|(e, _)| e)),
            )?;
            let confirmed = confirm(rules, &day, &found.unsure, &texts);
            found.hits.extend(confirmed);
            if let Some(sigma) = sigma {
                let on_text = std::mem::take(&mut found.on_text);
                found.extend(on_text_of(sigma, rules.len(), &day, on_text, &texts));
            }
            totals.unparsed += found.unparsed;
            let mut hits = found.hits;
            if let (Some(sigma), Some(windows)) = (sigma, &mut windows) {
                judge(sigma, windows, found.inputs, hi, &mut metas, &mut hits);
            }
            let last = d + 1 == count;
            let day = Day {
                batches: day,
                hits,
                metas: metas.clone(),
                last,
            };
            if !sink(day) {
                break;
            }
        }
        Ok(totals)
    }
}

/// Feeds a day's correlation inputs into the windows, in event-time order, and adds
/// a line for each correlation that fired (with its measure and group in the title).
fn judge(
    sigma: &SigmaSet,
    windows: &mut Windows<Arc<Row>>,
    mut inputs: Vec<Input<Arc<Row>>>,
    hi: i64,
    metas: &mut Arc<Vec<Meta>>,
    hits: &mut Vec<Hit>,
) {
    // Workers finish in any order: sorted, ties in time break the same way on
    // every run.
    inputs.sort_by(|a, b| {
        (a.time_us, a.correlation, a.rule, a.tag.event_id()).cmp(&(
            b.time_us,
            b.correlation,
            b.rule,
            b.tag.event_id(),
        ))
    });
    for i in inputs {
        windows.push(i);
    }
    for f in windows.judge() {
        let c = sigma.correlation(f.correlation);
        if let Some(last) = f.tags.last() {
            // Copied only if the writer still holds the day before's.
            let metas = Arc::make_mut(metas);
            metas.push(Meta {
                id: c.id.clone(),
                title: format!("{} ({})", c.title, sigma.describe(&f)),
                level: c.level.clone(),
                author: c.author.clone(),
            });
            hits.push(Hit {
                rule: (metas.len() - 1) as u32,
                ev: Ev::Kept(last.clone()),
            });
        }
    }
    // Windows that no later day can complete.
    windows.forget_before(hi.saturating_sub(sigma.longest_span_us()));
}

/// A day's window of the lake, and what reads it.
struct Window<'a> {
    rt: &'a tokio::runtime::Runtime,
    store: &'a auditwatch_store::Store,
    /// `eventTime` from (µs) …
    lo: i64,
    /// … to (µs).
    hi: i64,
    /// Origins, when a rule reads them ([`crate::origin`]).
    origins: Option<&'a auditwatch_store::origin::Origins>,
}

/// The days holding events in `[start, end]` (µs, either open), oldest first, as
/// time ranges clipped to the window: the scan reads one at a time.
fn days_between(
    store: &auditwatch_store::Store,
    start: Option<i64>,
    end: Option<i64>,
) -> Result<Vec<(i64, i64)>, HuntError> {
    const DAY_US: i64 = 86_400_000_000;
    let mut days: Vec<i32> = store.segments()?.iter().map(|s| s.day).collect();
    days.sort_unstable();
    days.dedup();
    Ok(days
        .into_iter()
        .map(|d| (i64::from(d) * DAY_US, i64::from(d) * DAY_US + DAY_US - 1))
        .filter(|(lo, hi)| start.is_none_or(|s| *hi >= s) && end.is_none_or(|e| *lo <= e))
        .map(|(lo, hi)| {
            (
                start.map_or(lo, |s| s.max(lo)),
                end.map_or(hi, |e| e.min(hi)),
            )
        })
        .collect())
}

/// The exact text of the events `evs` points at, by event id (an event without one
/// cannot be looked up, and stays undecided: not matched).
fn texts<'e>(
    at: &Window<'_>,
    day: &[ScanBatch],
    evs: impl Iterator<Item = &'e Ev>,
) -> Result<HashMap<String, Vec<Value>>, HuntError> {
    let mut ids: Vec<String> = evs
        .filter_map(|e| e.get(day).event_id.map(str::to_string))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut records: HashMap<String, Vec<Value>> = HashMap::new();
    if ids.is_empty() {
        return Ok(records);
    }
    for (id, raw) in at
        .rt
        .block_on(at.store.raw_by_id(&Scope::All, at.lo, at.hi, &ids))?
    {
        if let Ok(v) = serde_json::from_str(&raw) {
            records.entry(id).or_default().push(v);
        }
    }
    Ok(records)
}

/// Keeps the lines whose pattern matches the exact text of their record (`texts`,
/// read for just those records).
fn confirm(
    rules: &[Rule],
    day: &[ScanBatch],
    unsure: &[Hit],
    texts: &HashMap<String, Vec<Value>>,
) -> Vec<Hit> {
    unsure
        .iter()
        .filter(|h| {
            h.ev.get(day)
                .event_id
                .and_then(|id| texts.get(id))
                .is_some_and(|rs| rs.iter().any(|r| rules[h.rule as usize].pattern.matches(r)))
        })
        .cloned()
        .collect()
}

/// Evaluates Sigma rules that read what only the text holds on the text of the
/// events their prefilters admitted (`texts`, read for just those events).
fn on_text_of(
    sigma: &SigmaSet,
    patterns: usize,
    day: &[ScanBatch],
    pending: Vec<(Ev, Vec<u32>)>,
    texts: &HashMap<String, Vec<Value>>,
) -> Found {
    let mut found = Found::default();
    for (ev, rules) in pending {
        let e = ev.get(day);
        let Some(texts) = e.event_id.and_then(|id| texts.get(id)) else {
            continue;
        };
        let tag = Arc::new(Row::of(&e));
        let time_us = e.time_us;
        // Every stored copy of the event is the same record; the first decides.
        let Some(record) = texts.first() else {
            continue;
        };
        for r in rules {
            let m = RuleMatch(r as usize - patterns);
            if sigma.matches_rule(m, record) {
                found.sigma_match(sigma, r, m, ev.clone(), || {
                    Some((record, tag.clone(), time_us))
                });
            }
        }
    }
    found
}

/// Scans `[lo, hi]` on this thread and matches on every core: batches go to one
/// worker per core over a bounded channel (so a slow matcher holds the scan back
/// instead of filling memory). Returns the events scanned, the day's batches (their
/// timeline columns, which the lines point into) and what the workers found.
fn scan(
    at: &Window<'_>,
    plan: &Plan<'_>,
    memos: &std::sync::Mutex<Vec<Memo>>,
) -> Result<(u64, Vec<ScanBatch>, Found), HuntError> {
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let (tx, rx) = std::sync::mpsc::sync_channel::<(u32, ScanBatch)>(workers * 2);
    let rx = std::sync::Mutex::new(rx);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let memo = memos.lock().unwrap_or_else(PoisonError::into_inner).pop();
                    let mut worker = Worker::new(plan, memo.unwrap_or_default(), at.origins);
                    loop {
                        let next = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        let Ok((b, batch)) = next else {
                            let (found, memo) = worker.finish();
                            memos
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(memo);
                            return found;
                        };
                        worker.batch(b, &batch);
                    }
                })
            })
            .collect();
        let mut day = Vec::new();
        let scanned = at.rt.block_on(at.store.scan_batches(
            &Scope::All,
            Some(at.lo),
            Some(at.hi),
            &plan.read,
            |b| {
                day.push(b.timeline());
                // A send fails only if every worker is gone, and a worker leaves
                // only when the channel closes.
                let _ = tx.send(((day.len() - 1) as u32, b));
            },
        ));
        drop(tx);
        let mut all = Found::default();
        for h in handles {
            all.extend(h.join().map_err(|_| HuntError::Panicked("a hunt worker"))?);
        }
        Ok((scanned?, day, all))
    })
}

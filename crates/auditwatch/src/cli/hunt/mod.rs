//! `auditwatch hunt --rules PATH`: runs detection rules over stored history and prints
//! a timeline (time, rule, level, account, user, event name, source IP, event id).
//!
//! Rules: filter-pattern rule files (JSON arrays of `{id, title, filterPattern,
//! level}`, the shape of AWS's control lists), Sigma rules and correlations (`.yml`,
//! `.yaml`; SigmaHQ's folders load as they are), one file or a folder of them, and
//! the built-in packs `builtin:cis` and `builtin:securityhub`. A rule that does not
//! load is reported with its file and reason (exit status 2); the others still run.
//!
//! The lake is read a day at a time, oldest first; each day's batches are matched on
//! every core ([`triage`]), and its lines are sorted and written ([`timeline`]) on
//! their own thread while the next day is read, so memory holds two days' matches,
//! not the whole timeline. Sigma correlations take
//! their rules' matches in event-time order and are judged after each day (a window
//! completed by a later day's event fires then), so the order the lake returns events
//! in does not matter. A correlation that fires is one line: the event that completed
//! its window, with the measure and group in the title.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, PoisonError};
use std::time::Instant;

use anyhow::{Result, bail};
use auditwatch_detect::config::load_rules;
use auditwatch_rules::correlate::{Input, Windows};
use auditwatch_rules::packs;
use auditwatch_rules::rulefile::Rule;
use auditwatch_rules::sigma::{RuleMatch, SigmaSet};
use auditwatch_store::Scope;
use auditwatch_store::scan::{Read, ScanBatch};
use serde_json::Value;

use timeline::{COLUMNS, Ev, Hit, Meta, Row};
use triage::{Found, Memo, Plan, Worker};

use super::{Outcome, format_or_default, open_existing_store, runtime};
use crate::config::Config;
use crate::output::{Format, RowWriter};

mod timeline;
mod triage;

#[derive(Debug, clap::Args)]
pub struct HuntArgs {
    /// A rule file or a folder of them (repeatable), or builtin:cis,
    /// builtin:securityhub. Filter-pattern files are JSON arrays of {"id", "title",
    /// "filterPattern", "level"}; Sigma rules are .yml/.yaml.
    #[arg(long, required = true)]
    rules: Vec<String>,
    /// Events from this time (RFC 3339, YYYY-MM-DD or relative, e.g. 30d; default: all).
    #[arg(long)]
    start: Option<String>,
    /// … up to this time (default: now).
    #[arg(long)]
    end: Option<String>,
    /// Output format (table on a terminal, json otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Read every record's exact text, even when the rules read only fields the
    /// typed columns keep as written (slower; the answer is the same).
    #[arg(long)]
    exact_text: bool,
}

pub fn run(args: HuntArgs, config: &Config) -> Result<Outcome> {
    let mut rules: Vec<Rule> = Vec::new();
    let mut paths = Vec::new();
    for r in &args.rules {
        if let Some(name) = r.strip_prefix("builtin:") {
            let Some(pack) = packs::pack(name) else {
                bail!(
                    "--rules {r}: no such built-in pack (there are: {})",
                    packs::names().collect::<Vec<_>>().join(", ")
                );
            };
            rules.extend(pack);
        } else {
            paths.push(Path::new(r).to_path_buf());
        }
    }
    let library = load_rules(&paths, &config.sigma_placeholders)
        .map_err(|e| anyhow::anyhow!("--rules {e}"))?;
    for e in &library.errors {
        eprintln!("rule not loaded: {e}");
    }
    let rejected = library.errors.len();
    rules.extend(library.patterns);
    let sigma = library.sigma;
    if rules.is_empty() && sigma.is_none() {
        bail!("no rule loaded from {}", args.rules.join(", "));
    }
    let now = chrono::Utc::now();
    let time = |s: &Option<String>, end: bool, what: &str| {
        s.as_deref()
            .map(|s| {
                auditwatch_event::timearg::parse(s, now, end)
                    .map_err(|e| anyhow::anyhow!("--{what}: {e}"))
            })
            .transpose()
    };
    let (start, end) = (
        time(&args.start, false, "start")?,
        time(&args.end, true, "end")?,
    );
    let store = open_existing_store(config)?;
    let started = Instant::now();
    let mut metas: Vec<Meta> = rules
        .iter()
        .map(|r| Meta {
            id: r.id.clone(),
            title: r.title.clone(),
            level: r.level.clone(),
            author: None,
        })
        .collect();
    if let Some(sigma) = &sigma {
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
    // Shared with the writer; correlation lines add to them day by day.
    let mut metas = Arc::new(metas);
    let plan = Plan::new(&rules, sigma.as_ref(), args.exact_text);
    match &plan.read {
        Read::Raw => eprintln!("reading each record's exact text: {}", plan.why),
        Read::Fields(_) => eprintln!(
            "reading typed columns, not each record's text: {}",
            plan.why
        ),
    }
    let days = days_between(&store, start, end)?;
    let columns: Vec<String> = COLUMNS.map(String::from).to_vec();
    let format = format_or_default(args.format);
    let mut windows = sigma.as_ref().map(|s| s.windows::<Arc<Row>>());
    let (mut scanned, mut unparsed) = (0u64, 0u64);
    let rt = runtime()?;
    // Days are written on their own thread while the next one is scanned.
    // The last day is laid out on every core: nothing else is left to do.
    type Day = (Vec<ScanBatch>, Vec<Hit>, Arc<Vec<Meta>>, bool);
    let matches = std::thread::scope(|s| -> Result<usize> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Day>(0);
        let lines = s.spawn(move || -> std::io::Result<usize> {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
            let mut writer = RowWriter::new(&mut out, format, &columns)?;
            for (day, hits, metas, last) in rx {
                timeline::write_day(&mut writer, &metas, &day, hits, last)?;
            }
            let n = writer.written();
            writer.finish()?;
            std::io::Write::flush(&mut out)?;
            Ok(n)
        });
        let count = days.len();
        // What key values decide, remembered from day to day.
        let memos = std::sync::Mutex::new(Vec::new());
        for (d, (lo, hi)) in days.into_iter().enumerate() {
            let at = Window {
                rt: &rt,
                store: &store,
                lo,
                hi,
            };
            let (n, day, mut found) = scan(&at, &plan, &memos)?;
            scanned += n;
            // The text of the records typed columns could not decide, in one read.
            let undecided = found.unsure.iter().map(|h| &h.ev);
            let texts = texts(
                &at,
                &day,
                undecided.chain(found.on_text.iter().map(|(e, _)| e)),
            )?;
            let confirmed = confirm(&rules, &day, &found.unsure, &texts);
            found.hits.extend(confirmed);
            if let Some(sigma) = &sigma {
                let on_text = std::mem::take(&mut found.on_text);
                found.extend(on_text_of(sigma, rules.len(), &day, on_text, &texts));
            }
            unparsed += found.unparsed;
            let mut hits = found.hits;
            if let (Some(sigma), Some(windows)) = (&sigma, &mut windows) {
                judge(sigma, windows, found.inputs, hi, &mut metas, &mut hits);
            }
            let last = d + 1 == count;
            if tx.send((day, hits, metas.clone(), last)).is_err() {
                // The writer stopped; its error says why.
                break;
            }
        }
        drop(tx);
        lines
            .join()
            .map_err(|_| anyhow::anyhow!("the hunt's writer panicked"))?
            .map_err(Into::into)
    })?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} rules over {scanned} events in {secs:.1} s ({:.0} events/s): {matches} matches",
        rules.len()
            + sigma
                .as_ref()
                .map_or(0, |s| s.rule_count() + s.correlation_count()),
        scanned as f64 / secs.max(1e-9),
    );
    if unparsed > 0 {
        eprintln!("{unparsed} stored records are not JSON objects and were not checked");
    }
    Ok(if rejected > 0 {
        Outcome::SomeRejected
    } else {
        Outcome::Success
    })
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
}

/// The days holding events in `[start, end]` (µs, either open), oldest first, as
/// time ranges clipped to the window: the scan reads one at a time.
fn days_between(
    store: &auditwatch_store::Store,
    start: Option<i64>,
    end: Option<i64>,
) -> Result<Vec<(i64, i64)>> {
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
) -> Result<HashMap<String, Vec<Value>>> {
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
/// events their sieves admitted (`texts`, read for just those events).
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
) -> Result<(u64, Vec<ScanBatch>, Found)> {
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let (tx, rx) = std::sync::mpsc::sync_channel::<(u32, ScanBatch)>(workers * 2);
    let rx = std::sync::Mutex::new(rx);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let memo = memos.lock().unwrap_or_else(PoisonError::into_inner).pop();
                    let mut worker = Worker::new(plan, memo.unwrap_or_default());
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
            all.extend(
                h.join()
                    .map_err(|_| anyhow::anyhow!("a hunt worker panicked"))?,
            );
        }
        Ok((scanned?, day, all))
    })
}

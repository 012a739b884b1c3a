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
//! every core, and its lines are sorted and written before the next day is read, so
//! memory holds one day's matches, not the whole timeline. Sigma correlations take
//! their rules' matches in event-time order and are judged after each day (a window
//! completed by a later day's event fires then), so the order the lake returns events
//! in does not matter. A correlation that fires is one line: the event that completed
//! its window, with the measure and group in the title.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use auditwatch_detect::config::load_rules;
use auditwatch_rules::correlate::Input;
use auditwatch_rules::packs;
use auditwatch_rules::rulefile::Rule;
use auditwatch_rules::sigma::{RuleMatch, SigmaSet};
use auditwatch_store::Scope;
use auditwatch_store::scan::{FieldSource, Read, ScanBatch, Step, Wanted, field_source};
use serde_json::{Value, json};

use super::{Outcome, format_or_default, open_existing_store, runtime};
use crate::config::Config;
use crate::output::{Format, RowWriter};

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
    let (read, why) = if args.exact_text {
        (Read::Raw, "--exact-text".to_string())
    } else {
        read_for(&rules, sigma.as_ref())
    };
    let typed = !matches!(read, Read::Raw);
    let plan = Plan {
        rules: &rules,
        sigma: sigma.as_ref(),
        unsure: rules
            .iter()
            .map(|r| typed && r.pattern.tells_null_from_absent())
            .collect(),
        read,
    };
    match &plan.read {
        Read::Raw => eprintln!("reading each record's exact text: {why}"),
        Read::Fields(_) => eprintln!("reading typed columns, not each record's text: {why}"),
    }
    let days = days_between(&store, start, end)?;
    let columns: Vec<String> = COLUMNS.map(String::from).to_vec();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut writer = RowWriter::new(&mut out, format_or_default(args.format), &columns)?;
    let mut windows = sigma.as_ref().map(|s| s.windows::<Arc<Row>>());
    let (mut scanned, mut unparsed) = (0u64, 0u64);
    let rt = runtime()?;
    for (lo, hi) in days {
        let (n, found) = scan(&rt, &store, lo, hi, &plan)?;
        scanned += n;
        unparsed += found.unparsed;
        let mut hits = found.hits;
        hits.extend(confirm(&rt, &store, lo, hi, &rules, found.unsure)?);
        if let (Some(sigma), Some(windows)) = (&sigma, &mut windows) {
            // Workers finish in any order: sorted, ties in time break the same way
            // on every run.
            let mut inputs = found.inputs;
            inputs.sort_by(|a, b| {
                (a.time_us, a.correlation, a.rule, &a.tag.event_id).cmp(&(
                    b.time_us,
                    b.correlation,
                    b.rule,
                    &b.tag.event_id,
                ))
            });
            for i in inputs {
                windows.push(i);
            }
            for f in windows.judge() {
                let c = sigma.correlation(f.correlation);
                if let Some(last) = f.tags.last() {
                    metas.push(Meta {
                        id: c.id.clone(),
                        title: format!("{} ({})", c.title, sigma.describe(&f)),
                        level: c.level.clone(),
                        author: c.author.clone(),
                    });
                    hits.push(Hit {
                        rule: metas.len() - 1,
                        row: last.clone(),
                    });
                }
            }
            // Windows that no later day can complete.
            windows.forget_before(hi.saturating_sub(sigma.longest_span_us()));
        }
        hits.sort_by(|a, b| {
            (a.row.time_us, &metas[a.rule].id, &a.row.event_id).cmp(&(
                b.row.time_us,
                &metas[b.rule].id,
                &b.row.event_id,
            ))
        });
        for h in &hits {
            writer.write(&h.to_map(&metas[h.rule]))?;
        }
    }
    let matches = writer.written();
    writer.finish()?;
    std::io::Write::flush(&mut out)?;
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

/// The timeline's columns.
const COLUMNS: [&str; 10] = [
    "time",
    "rule",
    "level",
    "account",
    "user",
    "eventName",
    "sourceIPAddress",
    "eventID",
    "title",
    "author",
];

/// What a line says of its rule (correlation lines carry their measure in the title).
struct Meta {
    id: String,
    title: String,
    level: String,
    author: Option<String>,
}

/// What a line says of its event, shared by every rule that matched it.
#[derive(Debug)]
struct Row {
    time_us: i64,
    account: Option<String>,
    user: Option<String>,
    event_name: Option<String>,
    source_ip: Option<String>,
    event_id: Option<String>,
}

impl Row {
    fn of(e: &auditwatch_store::scan::Scanned<'_>) -> Self {
        let own = |s: Option<&str>| s.map(str::to_string);
        Self {
            time_us: e.time_us,
            account: own(e.account_id),
            user: own(e.username),
            event_name: own(e.event_name),
            source_ip: own(e.source_ip),
            event_id: own(e.event_id),
        }
    }
}

/// One timeline line: a rule (index into the metas) and its event.
struct Hit {
    rule: usize,
    row: Arc<Row>,
}

impl Hit {
    fn to_map(&self, m: &Meta) -> serde_json::Map<String, Value> {
        let r = &self.row;
        let time = chrono::DateTime::from_timestamp_micros(r.time_us)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let v = json!({
            "time": time, "rule": m.id, "level": m.level, "account": r.account,
            "user": r.user, "eventName": r.event_name, "sourceIPAddress": r.source_ip,
            "eventID": r.event_id, "title": m.title, "author": m.author,
        });
        match v {
            Value::Object(o) => o,
            _ => unreachable!("json! of an object"),
        }
    }
}

/// The rules a scan runs: filter patterns first, then Sigma rules (their metas in
/// that order), and what it reads of each record.
struct Plan<'a> {
    rules: &'a [Rule],
    sigma: Option<&'a SigmaSet>,
    read: Read,
    /// Per pattern rule: reading typed columns, it can only say "may match"
    /// (it tells `null` from absent).
    unsure: Vec<bool>,
}

/// Only the fields the rules read, from the typed columns, when each is kept there
/// as written ([`field_source`]); else every record's exact text, with the reason.
/// (Typed columns do not tell an explicit `null` from an absent field: patterns
/// that do are decided on the exact text of the records they may match, see
/// [`confirm`].)
fn read_for(rules: &[Rule], sigma: Option<&SigmaSet>) -> (Read, String) {
    let mut top: std::collections::BTreeMap<String, Vec<Vec<String>>> = Default::default();
    let mut paths: Vec<(String, Vec<Step<'_>>)> = Vec::new();
    for r in rules {
        for (path, _) in r.pattern.fields() {
            let name = path
                .iter()
                .map(|s| s.unwrap_or("[]"))
                .collect::<Vec<_>>()
                .join(".");
            paths.push((
                name,
                path.iter()
                    .map(|s| s.map_or(Step::Index, Step::Key))
                    .collect(),
            ));
        }
    }
    if let Some(sigma) = sigma {
        let Some(fields) = sigma.fields() else {
            return (
                Read::Raw,
                "a Sigma rule searches whole records (keywords)".into(),
            );
        };
        paths.extend(
            fields
                .into_iter()
                .map(|f| (f.to_string(), f.split('.').map(Step::Key).collect())),
        );
    }
    for (name, steps) in &paths {
        match (field_source(steps), steps.first()) {
            (FieldSource::Typed, Some(Step::Key(k))) => {
                // The keys below the field, up to the first array index.
                let below = steps[1..]
                    .iter()
                    .map_while(|s| match s {
                        Step::Key(k) => Some(k.to_string()),
                        Step::Index => None,
                    })
                    .collect();
                top.entry(k.to_string()).or_default().push(below);
            }
            _ => {
                return (
                    Read::Raw,
                    format!("a rule reads `{name}`, which only the records' text holds"),
                );
            }
        }
    }
    let names: Vec<&str> = top.keys().map(String::as_str).collect();
    let why = format!("the rules read only {}", names.join(", "));
    let wanted = top
        .into_iter()
        .map(|(name, paths)| Wanted { name, paths })
        .collect();
    (Read::Fields(wanted), why)
}

/// What the workers found in a day.
#[derive(Default)]
struct Found {
    hits: Vec<Hit>,
    /// Lines of patterns that tell `null` from absent, on records read from typed
    /// columns: to be decided on the exact text.
    unsure: Vec<Hit>,
    /// Matches of rules that feed correlations.
    inputs: Vec<Input<Arc<Row>>>,
    unparsed: u64,
}

/// The days holding events in `[start, end]` (µs, either open), oldest first, as
/// time ranges clipped to the window: the scan reads one at a time.
fn days_between(
    store: &auditwatch_store::Store,
    start: Option<i64>,
    end: Option<i64>,
) -> Result<Vec<(i64, i64)>> {
    const DAY_US: i64 = 86_400_000_000;
    let mut days: Vec<i32> = store.catalog()?.segments()?.iter().map(|s| s.day).collect();
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

/// Keeps the lines whose pattern matches the exact text of their record (read for
/// just those records).
fn confirm(
    rt: &tokio::runtime::Runtime,
    store: &auditwatch_store::Store,
    lo: i64,
    hi: i64,
    rules: &[Rule],
    unsure: Vec<Hit>,
) -> Result<Vec<Hit>> {
    if unsure.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids: Vec<String> = unsure
        .iter()
        .filter_map(|h| h.row.event_id.clone())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut records: std::collections::HashMap<String, Vec<Value>> = Default::default();
    for (id, raw) in rt.block_on(store.raw_by_id(&Scope::All, lo, hi, &ids))? {
        if let Ok(v) = serde_json::from_str(&raw) {
            records.entry(id).or_default().push(v);
        }
    }
    Ok(unsure
        .into_iter()
        .filter(|h| {
            h.row
                .event_id
                .as_ref()
                .and_then(|id| records.get(id))
                .is_some_and(|rs| rs.iter().any(|r| rules[h.rule].pattern.matches(r)))
        })
        .collect())
}

/// Runs every rule over one batch.
fn hunt_batch(batch: &ScanBatch, plan: &Plan<'_>, found: &mut Found) {
    for i in 0..batch.len() {
        let e = batch.row(i);
        let Some(record) = batch.record(i) else {
            found.unparsed += 1;
            continue;
        };
        let mut row: Option<Arc<Row>> = None;
        let mut row = || row.get_or_insert_with(|| Arc::new(Row::of(&e))).clone();
        for (k, r) in plan.rules.iter().enumerate() {
            if plan.unsure[k] {
                if r.pattern.may_match(&record) {
                    found.unsure.push(Hit {
                        rule: k,
                        row: row(),
                    });
                }
            } else if r.pattern.matches(&record) {
                found.hits.push(Hit {
                    rule: k,
                    row: row(),
                });
            }
        }
        if let Some(sigma) = plan.sigma {
            for m in sigma.matches(&record) {
                let tag = row();
                found
                    .inputs
                    .extend(sigma.inputs(&record, m, e.time_us, &tag));
                if sigma.alerts(m) {
                    found.hits.push(Hit {
                        rule: plan.rules.len() + m.0,
                        row: tag,
                    });
                }
            }
        }
    }
}

/// Scans `[lo, hi]` on this thread and matches on every core: batches go to one
/// worker per core over a bounded channel (so a slow matcher holds the scan back
/// instead of filling memory), and each worker keeps what it found.
fn scan(
    rt: &tokio::runtime::Runtime,
    store: &auditwatch_store::Store,
    lo: i64,
    hi: i64,
    plan: &Plan<'_>,
) -> Result<(u64, Found)> {
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let (tx, rx) = std::sync::mpsc::sync_channel::<ScanBatch>(workers * 2);
    let rx = std::sync::Mutex::new(rx);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut found = Found::default();
                    loop {
                        let next = rx
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        let Ok(batch) = next else {
                            return found;
                        };
                        hunt_batch(&batch, plan, &mut found);
                    }
                })
            })
            .collect();
        let scanned =
            rt.block_on(
                store.scan_batches(&Scope::All, Some(lo), Some(hi), &plan.read, |b| {
                    // A send fails only if every worker is gone, and a worker leaves only
                    // when the channel closes.
                    let _ = tx.send(b);
                }),
            );
        drop(tx);
        let mut all = Found::default();
        for h in handles {
            let f = h
                .join()
                .map_err(|_| anyhow::anyhow!("a hunt worker panicked"))?;
            all.hits.extend(f.hits);
            all.unsure.extend(f.unsure);
            all.inputs.extend(f.inputs);
            all.unparsed += f.unparsed;
        }
        Ok((scanned?, all))
    })
}

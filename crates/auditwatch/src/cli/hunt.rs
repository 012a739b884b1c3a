//! `auditwatch hunt --rules PATH`: runs detection rules over stored history and prints
//! a timeline (time, rule, level, account, user, event name, source IP, event id).
//!
//! Rules: filter-pattern rule files (JSON arrays of `{id, title, filterPattern,
//! level}`, the shape of AWS's control lists), Sigma rules and correlations (`.yml`,
//! `.yaml`; SigmaHQ's folders load as they are), one file or a folder of them, and
//! the built-in packs `builtin:cis` and `builtin:securityhub`. A rule that does not
//! load is reported with its file and reason (exit status 2); the others still run.
//!
//! Sigma correlations are judged after the scan, over every match of their rules in
//! event-time order, so the order the lake returns events in does not matter. A
//! correlation that fires is one line: the event that completed its window, with the
//! measure and group in the title.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use auditwatch_detect::config::load_rules;
use auditwatch_rules::correlate::Input;
use auditwatch_rules::packs;
use auditwatch_rules::rulefile::Rule;
use auditwatch_rules::sigma::SigmaSet;
use auditwatch_store::Scope;
use auditwatch_store::scan::ScanBatch;
use serde_json::{Value, json};

use super::{Outcome, format_or_default, open_existing_store, runtime};
use crate::config::Config;
use crate::output::{Format, write_rows};

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
    let (scanned, found) = scan(&store, start, end, &rules, sigma.as_ref())?;
    let Found {
        mut hits,
        inputs,
        unparsed,
    } = found;
    // Workers finish in any order: sort what they found, so that ties in time are
    // broken the same way on every run.
    let event_id = |l: &Line| {
        l.1.get("eventID")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut inputs = inputs;
    inputs.sort_by_cached_key(|i| (i.time_us, i.correlation, i.rule, event_id(&i.tag)));
    let mut windows = sigma.as_ref().map(|s| s.windows::<Arc<Line>>());
    if let Some(w) = &mut windows {
        for i in inputs {
            w.push(i);
        }
    }
    if let (Some(sigma), Some(windows)) = (&sigma, &mut windows) {
        for f in windows.judge() {
            let c = sigma.correlation(f.correlation);
            let title = format!("{} ({})", c.title, sigma.describe(&f));
            if let Some(last) = f.tags.last() {
                let (t, ev) = &**last;
                hits.push(line(*t, &c.id, &title, &c.level, c.author.as_deref(), ev));
            }
        }
    }
    hits.sort_by_cached_key(|l| {
        let rule = l.1.get("rule").and_then(Value::as_str).map(str::to_string);
        (l.0, rule, event_id(l))
    });
    let rows: Vec<serde_json::Map<String, Value>> = hits
        .into_iter()
        .filter_map(|(_, v)| match v {
            Value::Object(o) => Some(o),
            _ => None,
        })
        .collect();
    let columns: Vec<String> = [
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
    ]
    .map(String::from)
    .to_vec();
    write_rows(
        &mut std::io::stdout().lock(),
        format_or_default(args.format),
        &columns,
        &rows,
    )?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} rules over {scanned} events in {secs:.1} s ({:.0} events/s): {} matches",
        rules.len()
            + sigma
                .as_ref()
                .map_or(0, |s| s.rule_count() + s.correlation_count()),
        scanned as f64 / secs.max(1e-9),
        rows.len()
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

/// A timeline line: event time and its row.
type Line = (i64, Value);

/// What the workers found.
#[derive(Default)]
struct Found {
    hits: Vec<Line>,
    /// Matches of rules that feed correlations (their timeline line shared: a
    /// window holds many).
    inputs: Vec<Input<Arc<Line>>>,
    unparsed: u64,
}

fn line(
    time_us: i64,
    id: &str,
    title: &str,
    level: &str,
    author: Option<&str>,
    event: &Value,
) -> Line {
    let mut v = event.clone();
    if let Some(o) = v.as_object_mut() {
        o.insert("rule".into(), json!(id));
        o.insert("title".into(), json!(title));
        o.insert("level".into(), json!(level));
        o.insert("author".into(), json!(author));
    }
    (time_us, v)
}

/// Runs every rule over one batch.
fn hunt_batch(batch: &ScanBatch, rules: &[Rule], sigma: Option<&SigmaSet>, found: &mut Found) {
    for i in 0..batch.len() {
        let e = batch.row(i);
        let Ok(record) = serde_json::from_str::<Value>(e.raw) else {
            found.unparsed += 1;
            continue;
        };
        let event = || {
            json!({
                "time": chrono::DateTime::from_timestamp_micros(e.time_us)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                "account": e.account_id, "user": e.username, "eventName": e.event_name,
                "sourceIPAddress": e.source_ip, "eventID": e.event_id,
            })
        };
        for r in rules {
            if r.pattern.matches(&record) {
                found
                    .hits
                    .push(line(e.time_us, &r.id, &r.title, &r.level, None, &event()));
            }
        }
        if let Some(sigma) = sigma {
            for m in sigma.matches(&record) {
                let ev = Arc::new((e.time_us, event()));
                found
                    .inputs
                    .extend(sigma.inputs(&record, m, e.time_us, &ev));
                if sigma.alerts(m) {
                    let r = sigma.rule(m);
                    found.hits.push(line(
                        e.time_us,
                        &r.id,
                        &r.title,
                        &r.level,
                        r.author.as_deref(),
                        &ev.1,
                    ));
                }
            }
        }
    }
}

/// Scans the lake on this thread and matches on every core: batches go to one
/// worker per core over a bounded channel (so a slow matcher holds the scan back
/// instead of filling memory), and each worker keeps what it found.
fn scan(
    store: &auditwatch_store::Store,
    start: Option<i64>,
    end: Option<i64>,
    rules: &[Rule],
    sigma: Option<&SigmaSet>,
) -> Result<(u64, Found)> {
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let (tx, rx) = std::sync::mpsc::sync_channel::<ScanBatch>(workers * 2);
    let rx = std::sync::Mutex::new(rx);
    let rt = runtime()?;
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
                        hunt_batch(&batch, rules, sigma, &mut found);
                    }
                })
            })
            .collect();
        let scanned = rt.block_on(store.scan_batches(&Scope::All, start, end, |b| {
            // A send fails only if every worker is gone, and a worker leaves only
            // when the channel closes.
            let _ = tx.send(b);
        }));
        drop(tx);
        let mut all = Found::default();
        for h in handles {
            let f = h
                .join()
                .map_err(|_| anyhow::anyhow!("a hunt worker panicked"))?;
            all.hits.extend(f.hits);
            all.inputs.extend(f.inputs);
            all.unparsed += f.unparsed;
        }
        Ok((scanned?, all))
    })
}

//! `auditwatch hunt --rules PATH`: runs detection rules over stored history and prints
//! a timeline (time, rule, level, account, user, event name, source IP, event id).
//!
//! Rules today: filter-pattern rule files (JSON arrays of `{id, title, filterPattern,
//! level}`, the shape of AWS's control lists), one file or a folder of them, and the
//! built-in packs `builtin:cis` and `builtin:securityhub`. A rule
//! that does not load is reported with its file and reason (exit status 2); the
//! others still run.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use auditwatch_detect::config::rule_files;
use auditwatch_rules::packs;
use auditwatch_rules::rulefile::{self, Rule};
use auditwatch_store::Scope;
use serde_json::{Value, json};

use super::{Outcome, format_or_default, open_existing_store, runtime};
use crate::config::Config;
use crate::output::{Format, write_rows};

#[derive(Debug, clap::Args)]
pub struct HuntArgs {
    /// A rule file or a folder of them (repeatable). Filter-pattern files are JSON
    /// arrays of {"id", "title", "filterPattern", "level"}.
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
    let mut rejected = 0;
    for r in &args.rules {
        if let Some(name) = r.strip_prefix("builtin:") {
            let Some(pack) = packs::pack(name) else {
                bail!(
                    "--rules {r}: no such built-in pack (there are: {})",
                    packs::names().collect::<Vec<_>>().join(", ")
                );
            };
            rules.extend(pack);
            continue;
        }
        for file in rule_files(Path::new(r)).map_err(anyhow::Error::msg)? {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let (loaded, errors) = rulefile::load(&text, &file.display().to_string());
            for e in &errors {
                eprintln!("rule not loaded: {e}");
            }
            rejected += errors.len();
            rules.extend(loaded);
        }
    }
    if rules.is_empty() {
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
    let mut hits: Vec<(i64, Value)> = Vec::new();
    let mut unparsed = 0u64;
    let scanned = runtime()?.block_on(store.scan(&Scope::All, start, end, |e| {
        let Ok(record) = serde_json::from_str::<Value>(e.raw) else {
            unparsed += 1;
            return;
        };
        for r in &rules {
            if r.pattern.matches(&record) {
                hits.push((
                    e.time_us,
                    json!({
                        "time": chrono::DateTime::from_timestamp_micros(e.time_us)
                            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                        "rule": r.id, "title": r.title, "level": r.level,
                        "account": e.account_id, "user": e.username, "eventName": e.event_name,
                        "sourceIPAddress": e.source_ip, "eventID": e.event_id,
                    }),
                ));
            }
        }
    }))?;
    hits.sort_by_key(|(t, _)| *t);
    let rows: Vec<serde_json::Map<String, Value>> = hits
        .into_iter()
        .filter_map(|(_, v)| v.as_object().cloned())
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
        rules.len(),
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

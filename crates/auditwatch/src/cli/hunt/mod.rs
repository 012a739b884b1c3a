//! `auditwatch hunt --rules PATH`: runs detection rules over stored history
//! ([`auditwatch_detect::hunt`]) and prints a timeline (time, rule, level, account,
//! user, event name, source IP, event id). A rule that does not load is reported with
//! its file and reason (exit status 2); the others still run.
//!
//! Each day's lines are sorted and written ([`timeline`]) on their own thread while
//! the hunt reads the next day.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use auditwatch_detect::hunt::{Day, Hunt, Meta};
use auditwatch_store::direct::scan::{Read, ScanBatch};

use timeline::COLUMNS;

use super::{Outcome, format_or_default, open_existing_store, runtime};
use crate::config::Config;
use crate::output::{Format, RowWriter};

mod timeline;

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
    let hunt = Hunt::load(&args.rules, &config.sigma_placeholders)?;
    for e in &hunt.errors {
        eprintln!("rule not loaded: {e}");
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
    let window = (
        time(&args.start, false, "start")?,
        time(&args.end, true, "end")?,
    );
    let store = open_existing_store(config)?;
    let started = Instant::now();
    let plan = hunt.plan(args.exact_text);
    match &plan.read {
        Read::Raw => eprintln!("reading each record's exact text: {}", plan.why),
        Read::Fields(_) => eprintln!(
            "reading typed columns, not each record's text: {}",
            plan.why
        ),
    }
    let columns: Vec<String> = COLUMNS.map(String::from).to_vec();
    let format = format_or_default(args.format);
    let rt = runtime()?;
    // Days are written on their own thread while the next one is scanned.
    // The last day is laid out on every core: nothing else is left to do.
    type Lines = (
        Vec<ScanBatch>,
        Vec<auditwatch_detect::hunt::Hit>,
        Arc<Vec<Meta>>,
        bool,
    );
    let (totals, matches) = std::thread::scope(|s| -> Result<_> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Lines>(0);
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
        // A send fails only when the writer stopped; its error says why.
        let totals = hunt.run(&plan, &store, &rt, window, |d: Day| {
            tx.send((d.batches, d.hits, d.metas, d.last)).is_ok()
        });
        drop(tx);
        let written = lines
            .join()
            .map_err(|_| anyhow::anyhow!("the hunt's writer panicked"))?;
        let totals = totals?;
        Ok((totals, written?))
    })?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} rules over {} events in {secs:.1} s ({:.0} events/s): {matches} matches",
        hunt.rule_count(),
        totals.scanned,
        totals.scanned as f64 / secs.max(1e-9),
    );
    if totals.unparsed > 0 {
        eprintln!(
            "{} stored records are not JSON objects and were not checked",
            totals.unparsed
        );
    }
    Ok(if hunt.errors.is_empty() {
        Outcome::Success
    } else {
        Outcome::SomeRejected
    })
}

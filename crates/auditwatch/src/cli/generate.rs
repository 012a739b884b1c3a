//! `auditwatch generate --out DIR --events N [--seed S]`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::Outcome;
use crate::generate::{Spec, generate};
use crate::output::say;
use auditwatch_event::timearg;

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Folder to write into (AWSLogs/... is created below it).
    #[arg(long)]
    out: PathBuf,
    /// Number of events.
    #[arg(long)]
    events: u64,
    /// Seed; the same arguments give the same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// End of the generated period (default: today's midnight, UTC).
    #[arg(long)]
    end: Option<String>,
    /// Length of the period in days.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Each file's events within this many seconds of its start (CloudTrail's files
    /// cover about 300); by default the events of a file spread over its share of the
    /// period, which follows a weekly rhythm of activity.
    #[arg(long)]
    file_span: Option<u32>,
}

/// Today's midnight (UTC): a default end that is the same all day.
pub fn default_end() -> DateTime<Utc> {
    let today = Utc::now().date_naive();
    today.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

pub fn run(args: GenerateArgs) -> Result<Outcome> {
    anyhow::ensure!(args.events > 0, "--events must be at least 1");
    let end = match &args.end {
        Some(e) => DateTime::from_timestamp_micros(
            timearg::parse(e, Utc::now(), false)
                .map_err(anyhow::Error::msg)
                .context("--end")?,
        )
        .context("--end out of range")?,
        None => default_end(),
    };
    // The period must start in the years times may take (a bad --days would
    // otherwise overflow the date arithmetic).
    let start = i64::from(args.days.max(1))
        .checked_mul(86_400_000_000)
        .and_then(|span| end.timestamp_micros().checked_sub(span));
    anyhow::ensure!(
        start.is_some_and(|s| s >= timearg::EARLIEST),
        "--days {}: the period would start before 1970 (it ends {})",
        args.days,
        end.format("%Y-%m-%d")
    );
    let g = generate(&Spec {
        out: args.out.clone(),
        events: args.events,
        seed: args.seed,
        end,
        days: args.days,
        file_span_seconds: args.file_span,
    })?;
    say!(
        "wrote {} events in {} files ({} bytes) under {}",
        g.events,
        g.files,
        g.bytes,
        args.out.display()
    )?;
    Ok(Outcome::Success)
}

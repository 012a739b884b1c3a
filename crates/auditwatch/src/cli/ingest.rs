//! `auditwatch ingest PATH|s3://bucket/prefix ...`: a progress bar on a terminal, a
//! summary at the end. S3 locations are read in one pass of the S3 source, with the
//! standard AWS configuration (credentials chain, `AWS_REGION`, `AWS_ENDPOINT_URL`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use auditwatch_aws::AwsSettings;
use auditwatch_ingest::{Observer, Summary, ingest_paths};
use auditwatch_sources::s3::{S3Settings, S3Source, S3Url, Selection};
use indicatif::{ProgressBar, ProgressStyle};

use super::{Outcome, open_store, runtime};
use crate::config::Config;
use crate::output::say;

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Files, folders, zip archives, or s3://bucket[/prefix] locations.
    #[arg(required = true)]
    inputs: Vec<String>,
    /// For s3:// inputs: only these accounts (comma-separated 12-digit ids).
    #[arg(long, value_delimiter = ',')]
    accounts: Vec<String>,
    /// For s3:// inputs: only these regions (comma-separated).
    #[arg(long, value_delimiter = ',')]
    regions: Vec<String>,
    /// For s3:// inputs: only date folders from this day on (YYYY-MM-DD or e.g. 30d).
    #[arg(long)]
    start: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// The terminal progress bar: the bar itself, events so far, files so far, files planned.
struct Bar {
    bar: Option<ProgressBar>,
    events: u64,
    files: u64,
    planned: u64,
}

impl Observer for Bar {
    fn planned(&mut self, files: u64, bytes: u64) {
        self.planned = files;
        if std::io::stderr().is_terminal() && files > 0 {
            let bar = ProgressBar::new(bytes);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} {msg} ETA {eta}",
                )
                .expect("valid template"),
            );
            self.bar = Some(bar);
        }
    }
    fn file_done(&mut self, bytes: u64, events: u64) {
        self.events += events;
        if bytes > 0 {
            self.files += 1;
        }
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
            let secs = bar.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!(
                "files {}/{}, {} events, {:.0} events/s",
                self.files.min(self.planned),
                self.planned,
                self.events,
                self.events as f64 / secs
            ));
        }
    }
}

pub fn run(args: IngestArgs, config: &Config) -> Result<Outcome> {
    let mut paths = Vec::new();
    let mut buckets = Vec::new();
    let s3_settings = |url: &S3Url| S3Settings {
        bucket: url.bucket.clone(),
        prefix: url.prefix.clone(),
        accounts: args.accounts.clone(),
        regions: args.regions.clone(),
        start: args.start.clone(),
        concurrency: None,
        verify_digests: false,
    };
    // Every input is checked before anything is created.
    for i in &args.inputs {
        if i.starts_with("s3://") {
            let url: S3Url = i.parse().map_err(anyhow::Error::msg)?;
            Selection::new(&s3_settings(&url)).map_err(|e| anyhow::anyhow!("{i}: {e}"))?;
            buckets.push(url);
            continue;
        }
        let path = PathBuf::from(i);
        if let Err(e) = std::fs::metadata(&path) {
            anyhow::bail!("{i}: {e}");
        }
        paths.push(path);
    }
    let store = open_store(config)?;
    let started = Instant::now();
    let mut bar = Bar {
        bar: None,
        events: 0,
        files: 0,
        planned: 0,
    };
    let mut summary = if paths.is_empty() {
        Summary::default()
    } else {
        ingest_paths(&store, &paths, &config.ingest, &mut bar)?
    };
    if let Some(b) = bar.bar.take() {
        b.finish_and_clear();
    }
    if !buckets.is_empty() {
        let slot = auditwatch_sources::write_slot();
        runtime()?.block_on(async {
            let client = AwsSettings::default().s3().await;
            for url in &buckets {
                let source = S3Source::new(client.clone(), url.clone(), &s3_settings(url))?;
                let report = source
                    .pass(&store, &slot, &config.ingest, &mut bar)
                    .await
                    .with_context(|| format!("reading {url}"))?;
                if let Some(b) = bar.bar.take() {
                    b.finish_and_clear();
                }
                summary.add(&report.summary);
                if report.failed > 0 {
                    eprintln!(
                        "{url}: {} objects could not be fetched (recorded as failed; run again to retry)",
                        report.failed
                    );
                }
            }
            anyhow::Ok(())
        })?;
    }
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        let mut v = serde_json::to_value(&summary)?;
        v["seconds"] = serde_json::json!((secs * 1000.0).round() / 1000.0);
        say!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        print_summary(&summary, secs)?;
    }
    Ok(if summary.has_rejections() {
        Outcome::SomeRejected
    } else {
        Outcome::Success
    })
}

fn print_summary(s: &Summary, secs: f64) -> std::io::Result<()> {
    let rate = s.events_read as f64 / secs.max(0.001);
    say!(
        "files read {}, unchanged {}, skipped {}, rejected {}\nevents read {}, added {}, duplicates {}, records rejected {}\n{:.1} s, {:.0} events/s",
        s.files_read,
        s.files_unchanged,
        s.files_skipped,
        s.files_rejected,
        s.events_read,
        s.events_added,
        s.duplicates,
        s.records_rejected,
        secs,
        rate
    )?;
    for p in &s.problems {
        eprintln!("rejected: {}: {}", p.input, p.reason);
    }
    if s.problems_not_listed > 0 {
        eprintln!("... and {} more rejected inputs", s.problems_not_listed);
    }
    Ok(())
}

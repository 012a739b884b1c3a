//! `auditwatch ingest PATH ...`: a progress bar on a terminal, a summary at the end.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use auditwatch_ingest::{Observer, Summary, ingest_paths};
use indicatif::{ProgressBar, ProgressStyle};

use super::{Outcome, open_store};
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Files, folders or zip archives (s3:// locations arrive with the sources feature).
    #[arg(required = true)]
    inputs: Vec<String>,
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
    for i in &args.inputs {
        if i.starts_with("s3://") {
            anyhow::bail!(
                "{i}: S3 locations are not supported by this build yet; copy the files locally (aws s3 sync) and ingest the folder"
            );
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
    let summary = ingest_paths(&store, &paths, &config.ingest, &mut bar)?;
    if let Some(b) = &bar.bar {
        b.finish_and_clear();
    }
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        let mut v = serde_json::to_value(&summary)?;
        v["seconds"] = serde_json::json!((secs * 1000.0).round() / 1000.0);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_summary(&summary, secs);
    }
    Ok(if summary.has_rejections() {
        Outcome::SomeRejected
    } else {
        Outcome::Success
    })
}

fn print_summary(s: &Summary, secs: f64) {
    let rate = s.events_read as f64 / secs.max(0.001);
    println!(
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
    );
    for p in &s.problems {
        eprintln!("rejected: {}: {}", p.input, p.reason);
    }
    if s.problems_not_listed > 0 {
        eprintln!("... and {} more rejected inputs", s.problems_not_listed);
    }
}

//! `auditwatch demo`: generate realistic data, ingest it, print what to try.

use std::path::Path;

use anyhow::{Context, Result};

use super::{Outcome, open_store};
use crate::config::Config;
use crate::generate::{Spec, generate};

/// What `demo` watches for when the configuration sets no detection: the CIS pack
/// and an alarm on reads of the secret the generated data plants an attack on.
const DEMO_DETECTION: &str = r#"
[detection]
packs = ["cis"]

[[alarms]]
name = "TopSecretInfo read"
filter_pattern = '{ ($.eventName = "GetSecretValue") && ($.requestParameters.secretId = "TopSecretInfo") }'
"#;

#[derive(serde::Deserialize)]
struct DemoDetection {
    detection: auditwatch_detect::config::DetectionSettings,
    alarms: Vec<auditwatch_detect::config::AlarmSettings>,
}

fn demo_detection() -> Result<auditwatch_detect::Definitions> {
    let d: DemoDetection =
        toml::from_str(DEMO_DETECTION).context("the demo's detection settings")?;
    let (defs, _warnings) = auditwatch_detect::config::resolve(d.detection, d.alarms, Vec::new())
        .map_err(|e| anyhow::anyhow!("the demo's detection settings: {e}"))?;
    Ok(defs)
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Number of events to generate.
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// Address to serve the UI on after ingesting.
    #[arg(long, default_value = super::serve::DEFAULT_LISTEN)]
    listen: std::net::SocketAddr,
    /// Ingest and print what to try, without serving.
    #[arg(long)]
    no_serve: bool,
}

pub fn run(args: DemoArgs, explicit_dir: Option<&Path>, config: &Config) -> Result<Outcome> {
    // Without an explicit data directory the demo keeps to its own, away from real data.
    let mut config = config.clone();
    if explicit_dir.is_none() {
        config.data_dir = config.data_dir.with_file_name("auditwatch-demo");
    }
    let input = config.data_dir.join("demo-input");
    // The period ends at the current hour, so the newest events are recent.
    let now = chrono::Utc::now();
    let end = now
        - chrono::Duration::seconds(i64::from(
            chrono::Timelike::num_seconds_from_midnight(&now) % 3600,
        ));
    if config.detection.is_empty() {
        config.detection = demo_detection()?;
    }
    if !input.exists() {
        println!(
            "generating {} events under {} ...",
            args.events,
            input.display()
        );
        generate(&Spec {
            file_span_seconds: None,
            out: input.clone(),
            events: args.events,
            seed: 1,
            end,
            days: 30,
        })
        .context("generating demo data")?;
    }
    let store = open_store(&config)?;
    // The demo's events are detection's first input: queued as they are committed,
    // judged as soon as `serve` starts (alarms over the last day, as for late files).
    if !config.detection.is_empty() {
        auditwatch_detect::state::DetectionState::of(&store)
            .and_then(|c| Ok(c.set_detection(true)?))
            .context("turning on detection for the demo")?;
    }
    let summary = auditwatch_ingest::ingest_paths(
        &store,
        std::slice::from_ref(&input),
        &config.ingest,
        &mut (),
    )?;
    let dir = config.data_dir.display();
    // The binary as invoked (it may not be on PATH, e.g. under `cargo run`).
    let bin = std::env::args()
        .next()
        .unwrap_or_else(|| "auditwatch".into());
    println!(
        "ingested: {} events added ({} already there) from {} files\n\nTry:\n  {bin} --data-dir {dir} lookup --attribute EventName=ConsoleLogin --text Failure\n  {bin} --data-dir {dir} lookup --attribute Username=mallory --attribute EventName=GetSecretValue\n  {bin} --data-dir {dir} lookup --attribute EventName=StopLogging --start 30d\n  {bin} --data-dir {dir} sql 'SELECT username, count(*) AS n FROM events GROUP BY 1 ORDER BY 2 DESC LIMIT 10'\n  {bin} --data-dir {dir} sql \"SELECT eventName, count(*) FROM events WHERE errorCode = 'AccessDenied' GROUP BY 1 ORDER BY 2 DESC\"",
        summary.events_added, summary.duplicates, summary.files_read
    );
    if args.no_serve {
        return Ok(Outcome::Success);
    }
    println!();
    super::serve::serve(
        store,
        &config,
        args.listen,
        None,
        Some("Open the URL for the dashboard; try /search?eventName=GetSecretValue and /users/mallory.".into()),
    )
}

//! `auditwatch compact`: apply retention (`[retention]` in the configuration), then
//! merge small segments (except those live detection has not seen yet).

use anyhow::Result;

use super::{Outcome, maintain, open_existing_store};
use crate::config::Config;
use crate::output::say;

pub fn run(config: &Config) -> Result<Outcome> {
    let store = open_existing_store(config)?;
    let (r, c) = maintain::once(&store, &config.retention)?;
    if config.retention.is_enabled() {
        say!(
            "retention: dropped {} events ({} segments retired, {} rewritten); \
             the sessions index forgot {} keys whose issuing calls were dropped",
            r.rows_dropped,
            r.retired,
            r.rewritten,
            r.sessions_forgotten
        )?;
        if let Some(e) = &r.sessions_error {
            say!(
                "warning: the sessions index was not brought up to date ({e}); the next run retries"
            )?;
        }
    }
    say!(
        "merged {} segments into {} ({} rows)",
        c.merged,
        c.written,
        c.rows
    )?;
    let waiting = store.table()?.queued_ids()?.len();
    if waiting > 0 {
        say!(
            "{waiting} segments wait for live detection and were left as they are; \
             `serve` takes them (docs/DETECTION.md)"
        )?;
    }
    Ok(Outcome::Success)
}

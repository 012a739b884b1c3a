//! `auditwatch sql "SELECT ..."`: read-only SQL over `events`.

use anyhow::Result;
use auditwatch_store::rows::to_json;
use auditwatch_store::{Scope, SqlLimits};

use super::{Outcome, format_or_default, open_existing_store, runtime};
use crate::config::Config;
use crate::output::{Format, write_rows};

#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// The query (the table is `events`; names are CloudTrail's, case-sensitive).
    query: String,
    /// Most rows to print.
    #[arg(long, default_value_t = 100_000)]
    max_rows: usize,
    /// Output format (table on a terminal, json otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
}

pub fn run(args: SqlArgs, config: &Config) -> Result<Outcome> {
    let store = open_existing_store(config)?;
    let limits = SqlLimits {
        max_rows: args.max_rows,
        ..SqlLimits::default()
    };
    let rt = runtime()?;
    // `origin(userIdentity)` and `sessions` read the sessions index, filled once for
    // events stored before it existed.
    rt.block_on(store.index_sessions())?;
    let result = rt.block_on(store.sql(&Scope::All, &args.query, limits))?;
    let columns: Vec<String> = (result.schema.fields().iter())
        .map(|f| f.name().clone())
        .collect();
    let rows = to_json(&result.batches)?;
    write_rows(
        &mut std::io::stdout().lock(),
        format_or_default(args.format),
        &columns,
        &rows,
    )?;
    if result.truncated {
        eprintln!("result cut at {} rows (--max-rows)", args.max_rows);
    }
    Ok(Outcome::Success)
}

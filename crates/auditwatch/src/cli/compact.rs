//! `auditwatch compact`: merge small segments.

use anyhow::Result;

use super::{Outcome, open_existing_store};
use crate::config::Config;

pub fn run(config: &Config) -> Result<Outcome> {
    let store = open_existing_store(config)?;
    let mut writer = store.writer()?;
    let s = auditwatch_store::compact::compact(&mut writer)?;
    println!(
        "merged {} segments into {} ({} rows)",
        s.merged, s.written, s.rows
    );
    Ok(Outcome::Success)
}

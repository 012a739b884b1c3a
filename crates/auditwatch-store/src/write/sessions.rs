//! The sessions index for events stored before it existed: ingest records the
//! credentials each new issuing call hands out with its segment; this fills the index
//! once from the issuing calls already in the lake (`AssumeRole*`,
//! `GetSessionToken`, `GetFederationToken`, read a page at a time by event name),
//! then marks the table as indexed. Recording is idempotent, so a run that stops
//! half-way, or one beside a writer, leaves nothing wrong.

use auditwatch_event::Record;
use auditwatch_event::identity::{ISSUING_CALLS, issued};
use datafusion::arrow::array::{Array, AsArray};

use crate::error::Result;
use crate::{Attribute, Lookup, Scope, Store};

/// The table meta key set once the index holds every stored issuing call.
pub(super) const INDEXED: &str = "sessions_indexed";

/// Issuing calls read per page.
const PAGE: usize = 1000;

impl Store {
    /// Fills the sessions index from the issuing calls stored before it existed,
    /// once per table; returns how many issues were found (0 when already done).
    pub async fn index_sessions(&self) -> Result<u64> {
        let table = self.table()?;
        if table.meta(INDEXED)?.is_some() {
            return Ok(0);
        }
        let mut found = 0u64;
        if table.segment_count()? > 0 {
            for call in ISSUING_CALLS {
                let mut q = Lookup {
                    attributes: vec![(Attribute::EventName, call.to_string())],
                    max_results: PAGE,
                    ..Lookup::default()
                };
                loop {
                    let page = self.lookup(&Scope::All, &q).await?;
                    let mut sessions = Vec::new();
                    if let Some(raw) = page.events.column_by_name("raw") {
                        let raw = raw.as_string::<i32>();
                        for i in 0..raw.len() {
                            if raw.is_valid(i)
                                && let Ok(record) = Record::parse(raw.value(i))
                                && let Some(s) = issued(&record)
                            {
                                sessions.push(s);
                            }
                        }
                    }
                    found += sessions.len() as u64;
                    table.record_sessions(&sessions)?;
                    match page.next_token {
                        Some(t) => q.next_token = Some(t),
                        None => break,
                    }
                }
            }
        }
        table.set_meta(INDEXED, "1")?;
        Ok(found)
    }
}

//! The sessions index after retention: an issue of temporary credentials is known
//! only while a stored event records it. After retention's swap, the index forgets
//! every key whose recorded issuing event is no longer stored, and takes instead
//! another stored copy of the same call when there is one — a cross-account
//! `AssumeRole` is recorded in the caller's account and in the role's, whose days may
//! be kept longer. The index then holds what an index built from the remaining events
//! alone would hold (a test compares the two).
//!
//! Whether an issuing event is stored is read from the lake's event keys (the
//! catalog's per-segment key lists of its day), not judged from the policy: the
//! account retention goes by (the object key's) and the one an issuing call names
//! may differ, and a policy may change between runs. The index's rows are checked
//! from the day before the last run's cutoff (a meta value) up to this run's, so a
//! run reads about a day of the index, and a run stopped between the swap and this
//! step is made good by the next one.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use auditwatch_catalog::keys::from_blob;
use auditwatch_event::identity::{ISSUING_CALLS, Issued, issued};
use auditwatch_event::{EventKey, Record};
use datafusion::arrow::array::{Array, AsArray};

use crate::error::Result;
use crate::write::retention::Retention;
use crate::write::segment;
use crate::write::writer::Writer;

const DAY_US: i64 = 86_400_000_000;

/// The meta key holding the first day not yet checked (days before it were).
const CHECKED_UNTIL: &str = "sessions_checked_until_day";

/// Forgets the keys whose issuing events are no longer stored, for issues made
/// before `policy`'s latest cutoff as of `today`, with other stored copies taken
/// instead; returns how many keys were forgotten.
pub(crate) fn expire(writer: &Writer, policy: &Retention, today: i32) -> Result<u64> {
    let Some(cutoff) = policy.latest_cutoff(today) else {
        return Ok(0);
    };
    let table = writer.catalog().table_handle();
    let checked: Option<i32> = table.meta(CHECKED_UNTIL)?.and_then(|d| d.parse().ok());
    let from = checked.map_or(i64::MIN, |d| day_start(d.saturating_sub(1)));
    let mut by_day: BTreeMap<i32, Vec<Issued>> = BTreeMap::new();
    for i in table.sessions_between(from, day_start(cutoff))? {
        by_day.entry(day_of(i.time_us)).or_default().push(i);
    }
    let mut dropped: Vec<(String, i32)> = Vec::new();
    for (day, issues) in by_day {
        let stored: HashSet<u128> = writer
            .catalog()
            .day_keys(day)?
            .iter()
            .flat_map(|(_, blob)| from_blob(blob))
            .collect();
        for i in issues {
            // Without an event id the record's key is its text's hash, which the
            // index does not keep: such an issue stays.
            let gone = i
                .event_id
                .as_deref()
                .is_some_and(|id| !stored.contains(&EventKey::of_event_id(id).0));
            if gone {
                dropped.push((i.access_key_id, day));
            }
        }
    }
    let forgotten = dropped.len() as u64;
    if !dropped.is_empty() {
        let copies = other_copies(writer, &dropped)?;
        let keys: Vec<String> = dropped.into_iter().map(|(k, _)| k).collect();
        table.replace_sessions(&keys, &copies)?;
        tracing::debug!(
            forgotten,
            copies = copies.len(),
            "sessions index after retention"
        );
    }
    if checked != Some(cutoff) {
        table.set_meta(CHECKED_UNTIL, &cutoff.to_string())?;
    }
    Ok(forgotten)
}

/// Stored issuing calls that issued one of the `dropped` keys (with their days).
/// Another copy has the same call's time; a day either side covers clocks that
/// disagree about midnight. Only `eventName` and `raw` are read.
fn other_copies(writer: &Writer, dropped: &[(String, i32)]) -> Result<Vec<Issued>> {
    let wanted: HashSet<&str> = dropped.iter().map(|(k, _)| k.as_str()).collect();
    let days: BTreeSet<i32> = dropped
        .iter()
        .flat_map(|(_, d)| [d.saturating_sub(1), *d, d.saturating_add(1)])
        .collect();
    let mut copies = Vec::new();
    for s in writer.catalog().segments()? {
        if !days.contains(&s.day) {
            continue;
        }
        for batch in segment::read_columns(&writer.segment_file(&s)?, &["eventName", "raw"])? {
            let names = batch.column(0).as_string::<i32>();
            let raws = batch.column(1).as_string::<i32>();
            for row in 0..batch.num_rows() {
                if names.is_valid(row)
                    && ISSUING_CALLS.contains(&names.value(row))
                    && let Ok(record) = Record::parse(raws.value(row))
                    && let Some(i) = issued(&record)
                    && wanted.contains(i.access_key_id.as_str())
                {
                    copies.push(i);
                }
            }
        }
    }
    Ok(copies)
}

fn day_of(time_us: i64) -> i32 {
    i32::try_from(time_us.div_euclid(DAY_US)).unwrap_or(i32::MIN)
}

fn day_start(day: i32) -> i64 {
    i64::from(day).saturating_mul(DAY_US)
}

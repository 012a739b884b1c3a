//! The sessions index after retention: an issue of temporary credentials is known
//! only while a stored event records it. Retention drops whole days of accounts, so
//! after it the index forgets every key whose recorded copy is in a dropped (account,
//! day), and takes instead another stored copy of the same call when there is one —
//! a cross-account `AssumeRole` is recorded in the caller's account and in the role's,
//! whose days may be kept longer. The index then holds what an index built from the
//! remaining events alone would hold (a test compares the two).
//!
//! The step is idempotent and runs at every application of the policy, so a stop
//! between the segments' swap and this step is repaired by the next run. Its cost is
//! a read of the index's rows older than the latest cutoff, and of the issuing calls
//! of the days whose copies it forgets (only the `eventName` and `raw` columns).

use std::collections::{BTreeSet, HashSet};

use auditwatch_event::Record;
use auditwatch_event::identity::{ISSUING_CALLS, issued};
use datafusion::arrow::array::{Array, AsArray};

use crate::error::Result;
use crate::write::retention::Retention;
use crate::write::segment;
use crate::write::writer::Writer;

const DAY_US: i64 = 86_400_000_000;

/// Forgets the keys whose issuing calls `policy` dropped as of `today`, with other
/// stored copies taken instead; returns how many keys were forgotten.
pub(crate) fn expire(writer: &Writer, policy: &Retention, today: i32) -> Result<u64> {
    let Some(cutoff) = policy.latest_cutoff(today) else {
        return Ok(0);
    };
    let table = writer.catalog().table_handle();
    let expired: Vec<(String, i32)> = table
        .sessions_before(i64::from(cutoff) * DAY_US)?
        .into_iter()
        .map(|i| (i.account, day_of(i.time_us), i.access_key_id))
        .filter(|(account, day, _)| policy.expired(account.as_deref(), *day, today))
        .map(|(_, day, key)| (key, day))
        .collect();
    if expired.is_empty() {
        return Ok(0);
    }
    let wanted: HashSet<&str> = expired.iter().map(|(k, _)| k.as_str()).collect();
    // Another copy has the same call's time; a day either side covers clocks that
    // disagree about midnight.
    let days: BTreeSet<i32> = expired
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
    let dropped: Vec<String> = expired.into_iter().map(|(k, _)| k).collect();
    table.replace_sessions(&dropped, &copies)?;
    tracing::debug!(
        forgotten = dropped.len(),
        copies = copies.len(),
        "sessions index after retention"
    );
    Ok(dropped.len() as u64)
}

fn day_of(time_us: i64) -> i32 {
    i32::try_from(time_us.div_euclid(DAY_US)).unwrap_or(i32::MIN)
}

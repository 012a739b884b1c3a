//! Time histograms from the segments: each segment's event times kept as 32-bit
//! seconds after its first ([`Seconds`], cached beside the coded columns), turned per
//! query into one more key column, each row's bucket number.

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::TimestampMicrosecondType;

use crate::direct::lookups::Opened;
use crate::error::{Result, StoreError};
use crate::lookup::Lookup;
use auditwatch_catalog::scope::Scope;

use super::*;

/// A segment's event times as whole seconds after `base` (Unix seconds): what a
/// histogram whose buckets are whole seconds needs of them.
#[derive(Debug)]
pub(super) struct Seconds {
    pub(super) base: i64,
    pub(super) offsets: Vec<u32>,
    /// The largest offset: the segment's last second is `base + last`.
    pub(super) last: u32,
}

/// Events matching `q`, as `scope` sees them, per time bucket of `bucket_us` (a whole
/// number of seconds; buckets start at its multiples since the Unix epoch), as
/// (bucket start µs, events), oldest first, empty buckets left out; `None` when `q`
/// has a filter this path does not answer or the bucket is not whole seconds.
pub(crate) fn histogram(
    lake: &Lake,
    scope: &Scope,
    q: &Lookup,
    bucket_us: i64,
) -> Result<Option<Vec<(i64, u64)>>> {
    if bucket_us <= 0 || bucket_us % 1_000_000 != 0 {
        return Ok(None);
    }
    let Some(filters) = filters(q)? else {
        return Ok(None);
    };
    let plan = Plan::of(q, &filters, Some(bucket_us / 1_000_000));
    let Some(groups) = count_plan(lake, scope, &plan, &[])? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(groups.len());
    for (key, n) in groups {
        let start = key
            .first()
            .and_then(|k| k.as_deref())
            .and_then(|k| k.parse::<i64>().ok())
            .ok_or_else(|| StoreError::Query("a histogram bucket without a start".into()))?;
        out.push((start, n));
    }
    out.sort_unstable();
    Ok(Some(out))
}

/// Most buckets one segment's histogram counts as codes.
pub(super) const MOST_BUCKETS: i64 = 1 << 16;

/// Segment `o`'s event times as the numbers of their buckets of `step` seconds within
/// `lo..=hi` (µs): a key column whose values are the buckets' starts (µs, as text).
/// Rows outside the range get code 0; they are never counted. `None` past
/// [`MOST_BUCKETS`].
pub(super) fn time_buckets(secs: &Seconds, step: i64, lo: i64, hi: i64) -> Option<Coded> {
    let first_sec = secs.base.max(lo.div_euclid(1_000_000));
    let last_sec = (secs.base + i64::from(secs.last)).min(hi.div_euclid(1_000_000));
    if last_sec < first_sec {
        return Some(Coded {
            values: vec!["0".into()],
            codes: vec![0; secs.offsets.len()],
        });
    }
    let (first, last) = (first_sec.div_euclid(step), last_sec.div_euclid(step));
    if last - first >= MOST_BUCKETS {
        return None;
    }
    let values = (first..=last)
        .map(|b| Arc::from((b * step * 1_000_000).to_string()))
        .collect();
    let codes = secs
        .offsets
        .iter()
        .map(|&o| {
            ((secs.base + i64::from(o)).div_euclid(step) - first).clamp(0, last - first) as u32
        })
        .collect();
    Some(Coded { values, codes })
}

/// Segment `o`'s event times as [`Seconds`], from the cache or read from its file;
/// `None` when they span more than 136 years (not kept as 32-bit seconds).
pub(super) fn segment_seconds(cache: &CodesCache, o: &Opened) -> Result<Option<Arc<Seconds>>> {
    let key = o.rel.to_string();
    if let Some(t) = cache.times.get(&key) {
        return Ok(Some(t));
    }
    let groups = o.meta.metadata().row_groups();
    let mut micros =
        Vec::with_capacity(o.meta.metadata().file_metadata().num_rows().max(0) as usize);
    for (rg, group) in groups.iter().enumerate() {
        micros.extend(event_times(o, rg, group.num_rows() as usize)?);
    }
    let base = micros
        .iter()
        .copied()
        .min()
        .unwrap_or(0)
        .div_euclid(1_000_000);
    let Ok(offsets) = micros
        .iter()
        .map(|&t| u32::try_from(t.div_euclid(1_000_000) - base))
        .collect::<std::result::Result<Vec<u32>, _>>()
    else {
        return Ok(None);
    };
    let last = offsets.iter().copied().max().unwrap_or(0);
    let seconds = Arc::new(Seconds {
        base,
        offsets,
        last,
    });
    cache
        .times
        .insert(key, seconds.clone(), seconds.offsets.len() * 4 + 64);
    Ok(Some(seconds))
}

/// The event times (µs) of row group `rg` (of `rows` rows).
pub(super) fn event_times(o: &Opened, rg: usize, rows: usize) -> Result<Vec<i64>> {
    let batch = o.read(rg, &["eventTime"], None, rows)?;
    Ok(batch
        .column(0)
        .as_primitive::<TimestampMicrosecondType>()
        .values()
        .to_vec())
}

//! Compaction: merges a day's small segments into larger ones and swaps them in with
//! one catalog transaction. Readers see the old set or the new set, never a mix.

use std::collections::BTreeMap;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::TimestampMicrosecondType;

use crate::error::Result;
use crate::write::segment;
use crate::write::writer::Writer;
use auditwatch_catalog::keys::{from_blob, to_blob};
use auditwatch_catalog::{NewSegment, Segment};

/// A segment with fewer rows than this is "small".
pub const SMALL_ROWS: u64 = 100_000;
/// A merged segment holds at most about this many rows.
pub const TARGET_ROWS: u64 = 400_000;

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactStats {
    /// Segments merged away.
    pub merged: u64,
    /// Segments written.
    pub written: u64,
    /// Rows rewritten.
    pub rows: u64,
}

/// Groups of small segments worth merging, per day.
pub fn plan(segments: &[Segment]) -> Vec<Vec<Segment>> {
    let mut by_day: BTreeMap<i32, Vec<&Segment>> = BTreeMap::new();
    for s in segments.iter().filter(|s| s.rows < SMALL_ROWS) {
        by_day.entry(s.day).or_default().push(s);
    }
    let mut groups = Vec::new();
    for (_, segs) in by_day {
        let mut group: Vec<Segment> = Vec::new();
        let mut rows = 0;
        for s in segs {
            if rows + s.rows > TARGET_ROWS && group.len() > 1 {
                groups.push(std::mem::take(&mut group));
                rows = 0;
            } else if rows + s.rows > TARGET_ROWS {
                group.clear();
                rows = 0;
            }
            rows += s.rows;
            group.push(s.clone());
        }
        if group.len() > 1 {
            groups.push(group);
        }
    }
    groups
}

/// Merges every planned group.
pub fn compact(writer: &mut Writer) -> Result<CompactStats> {
    let mut stats = CompactStats::default();
    // Segments detection has not seen yet stay as they are: merged, their events
    // would be seen again, or not at all. The list is read before the queue, so a
    // segment another node commits (and queues) in between is in the queue read, or
    // not in the list at all.
    let mut segments = writer.catalog().segments()?;
    let queued: std::collections::HashSet<i64> =
        writer.catalog().table().queued_ids()?.into_iter().collect();
    segments.retain(|s| !queued.contains(&s.id));
    for group in plan(&segments) {
        let day = group[0].day;
        let mut batches = Vec::new();
        for s in &group {
            batches.extend(segment::read_batches(&writer.segment_file(s)?)?);
        }
        // Rows picked from the segments in time order (ties keep their order), copied
        // a row group at a time as the merged segment is written.
        let mut at: Vec<(i64, usize, usize)> = Vec::new();
        for (bi, b) in batches.iter().enumerate() {
            let times = b.column(0).as_primitive::<TimestampMicrosecondType>();
            at.extend((0..b.num_rows()).map(|ri| (times.value(ri), bi, ri)));
        }
        at.sort_by_key(|a| a.0);
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        let picks: Vec<(usize, usize)> = at.into_iter().map(|(_, b, r)| (b, r)).collect();
        let rows = segment::Rows::Picked {
            sources: &refs,
            at: &picks,
        };
        let new = segment::write_rows(writer.lake(), day, rows)?;
        drop(batches);
        let ids: Vec<i64> = group.iter().map(|s| s.id).collect();
        let mut keys: Vec<u128> = writer
            .catalog()
            .day_keys(day)?
            .into_iter()
            .filter(|(id, _)| ids.contains(id))
            .flat_map(|(_, blob)| from_blob(&blob))
            .collect();
        keys.sort_unstable();
        stats.merged += group.len() as u64;
        stats.written += 1;
        stats.rows += new.rows;
        let retired: Vec<(i64, String)> = group.iter().map(|s| (s.id, s.path.clone())).collect();
        writer.swap(
            vec![(
                NewSegment {
                    segment: new,
                    keys: to_blob(&keys),
                    sessions: Vec::new(),
                },
                keys,
            )],
            &retired,
        )?;
    }
    Ok(stats)
}

//! Typed lookups read straight from the segment files, newest row group first.
//!
//! A lookup wants the newest `max_results` events that pass equality filters. The
//! DataFusion plan ([`crate::lookup`]) reads every row group that may match, then sorts.
//! This path orders the candidate row groups by their newest `eventTime` (footer
//! statistics), skips those whose bloom filters rule out an equality value, reads only
//! the filter columns of the others, and stops as soon as the next row group is older
//! than the page's oldest event. The page's rows are then read whole through a row
//! selection, so only the Parquet pages holding them are decompressed.
//!
//! It answers exactly what the DataFusion plan answers (same order, same tokens; a test
//! compares them). Filters it does not evaluate (`requestParameters` paths) or a file
//! whose schema is not the current one send the lookup back to DataFusion ([`lookup`]
//! returns `None`). The resource attributes read one leaf of the `resources` list
//! (`ARN` or `type`), never the whole list. Free text the segments' token indexes
//! answer ([`crate::direct::token_index`]) reads only the rows they name, and skips row groups
//! without any. The `origin` filter sifts the rows the other filters kept on the
//! distinct values of a few identity leaves, then reads the identities of the rows
//! left and walks each to its origin ([`origin_test`]).

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use datafusion::parquet::arrow::arrow_reader::RowSelection;
use datafusion::parquet::file::metadata::RowGroupMetaData;
use datafusion::parquet::file::statistics::Statistics;

use auditwatch_event::Record;

use crate::direct::raw_pages::RawReader;
use crate::direct::token_index;
use crate::error::{Result, StoreError};
use crate::lookup::{Cursor, Lookup, Page, decode_token, encode_token};
use crate::origin::lazy::ByOrigin;
use crate::storage::remote::Remote;
use crate::write::convert::{EventRow, to_batch};
use auditwatch_catalog::Segment;
use auditwatch_catalog::scope::Scope;
use opened::Place;
use origin_test::OriginTest;

mod conditions;
mod footers;
mod opened;
mod origin_test;
mod threads;

use conditions::*;
pub(crate) use conditions::{Condition, Test, conditions};
pub use footers::*;
pub(crate) use opened::{Opened, with_segment};
pub(crate) use threads::{on_threads, share_out};

/// Whether this path evaluates every filter of `q`.
pub(crate) fn handles(q: &Lookup) -> bool {
    q.params.is_empty()
        && q.exclude.is_empty()
        && !q.oldest_first
        && !q.failed_only
        && q.origin.as_deref() != Some("")
}

/// A row group that may hold matches.
struct Group {
    segment: usize,
    index: usize,
    min_time: i64,
    max_time: i64,
}

/// A matching event found in phase 1.
struct Hit {
    time: i64,
    id: String,
    group: usize,
    row: usize,
}

/// The smallest and largest `eventTime` of a row group (its statistics; unbounded
/// without them).
pub(crate) fn time_range(rg: &RowGroupMetaData, time_leaf: usize) -> (i64, i64) {
    match rg.column(time_leaf).statistics() {
        Some(Statistics::Int64(v)) => (
            v.min_opt().copied().unwrap_or(i64::MIN),
            v.max_opt().copied().unwrap_or(i64::MAX),
        ),
        _ => (i64::MIN, i64::MAX),
    }
}

/// Answers `q` over `segments` as `scope` sees them, or `None` when the DataFusion plan
/// must (see the module docs). `by_origin` reads origins when `q` filters on one (for
/// the same value).
pub fn lookup(
    lake: &Path,
    remote: Option<&Remote>,
    segments: &[Segment],
    footers: &Footers,
    scope: &Scope,
    q: &Lookup,
    by_origin: Option<&ByOrigin>,
) -> Result<Option<Page>> {
    let origin = match (q.origin.as_deref(), by_origin) {
        (Some(value), Some(by)) if by.value() == value => Some(OriginTest { by, scope }),
        (Some(_), _) => return Ok(None),
        (None, _) => None,
    };
    if !handles(q) {
        return Ok(None);
    }
    if q.max_results == 0 {
        return Err(StoreError::InvalidRequest(
            "max results must be at least 1".into(),
        ));
    }
    let fingerprint = q.fingerprint();
    let cursor = match &q.next_token {
        Some(t) => Some(decode_token(t, fingerprint)?),
        None => None,
    };
    let conds = conditions(q, scope)?;
    let started = std::time::Instant::now();
    let lo = q.start.unwrap_or(i64::MIN);
    let hi = q
        .end
        .unwrap_or(i64::MAX)
        .min(cursor.as_ref().map_or(i64::MAX, |c| c.time));
    footers.retain(lake, segments);

    // Candidate segments: in scope, overlapping the time range, holding a wanted account.
    let wanted_accounts: Option<&[String]> = (!q.accounts.is_empty()).then_some(&q.accounts);
    let place = Place {
        lake,
        remote,
        segments,
    };
    let mut opened: Vec<Opened<'_>> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    for s in segments {
        if !scope.allows_any(&s.accounts)
            || s.max_time < lo
            || s.min_time > hi
            || wanted_accounts.is_some_and(|w| !w.iter().any(|a| s.accounts.contains(a)))
        {
            continue;
        }
        let Some(o) = place.opened(footers, s)? else {
            return Ok(None);
        };
        let time_leaf = o.leaves["eventTime"];
        for (index, rg) in o.meta.metadata().row_groups().iter().enumerate() {
            let (min_time, max_time) = time_range(rg, time_leaf);
            if max_time < lo || min_time > hi || rg.num_rows() == 0 {
                continue;
            }
            groups.push(Group {
                segment: opened.len(),
                index,
                min_time,
                max_time,
            });
        }
        opened.push(o);
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.max_time));
    // A free-text search of a shape the token indexes keep reads the rows they name
    // instead of every record's text (per segment; files without one read the text).
    let text = q
        .text
        .as_deref()
        .filter(|t| token_index::searchable(t).is_some());
    let mut known: HashMap<usize, Vec<Vec<usize>>> = HashMap::new();
    if let Some(text) = text {
        for g in &groups {
            if let std::collections::hash_map::Entry::Vacant(e) = known.entry(g.segment)
                && let Some(rows) = opened[g.segment].rows_containing(footers.tokens(), text)?
            {
                e.insert(rows);
            }
        }
    }
    let listed = started.elapsed();
    let (mut ruled_out, mut scanned) = (0usize, 0usize);

    // Phase 1: newest matches from the filter columns, newest row group first.
    let k = q.max_results + 1;
    let mut hits: Vec<Hit> = Vec::new();
    // Once `k` hits are known, the k-th newest: anything not newer cannot make the page.
    let mut floor: Option<(i64, String)> = None;
    let newest_first = |a: &Hit, b: &Hit| (b.time, &b.id).cmp(&(a.time, &a.id));
    for (gi, g) in groups.iter().enumerate() {
        if floor.as_ref().is_some_and(|(t, _)| g.max_time < *t) {
            break;
        }
        let o = &opened[g.segment];
        let indexed = known.get(&g.segment).map(|rows| rows[g.index].as_slice());
        if indexed.is_some_and(<[usize]>::is_empty) || !blooms_allow(footers, o, g.index, &conds)? {
            ruled_out += 1;
            continue;
        }
        scanned += 1;
        let cut = g.min_time < lo || g.max_time > hi;
        let range = cut.then_some((lo, hi));
        for (row, t, id) in scan_group(o, g.index, &conds, range, indexed, origin.as_ref())? {
            if let Some(c) = &cursor
                && !(t < c.time || (t == c.time && id < c.id))
            {
                continue;
            }
            if let Some((ft, fid)) = &floor
                && (t, id.as_str()) <= (*ft, fid.as_str())
            {
                continue;
            }
            hits.push(Hit {
                time: t,
                id,
                group: gi,
                row,
            });
            if hits.len() > 2 * k {
                hits.sort_by(newest_first);
                hits.truncate(k);
                floor = hits.last().map(|h| (h.time, h.id.clone()));
            }
        }
        hits.sort_by(newest_first);
        hits.truncate(k);
        if hits.len() == k {
            floor = hits.last().map(|h| (h.time, h.id.clone()));
        }
    }
    let searched = started.elapsed();
    let more = hits.len() > q.max_results;
    hits.truncate(q.max_results);
    let next_token = if more {
        hits.last().map(|h| {
            encode_token(
                fingerprint,
                &Cursor {
                    time: h.time,
                    id: h.id.clone(),
                },
            )
        })
    } else {
        None
    };

    // Phase 2: the page's rows, rebuilt from their records ([`fetch_records`]).
    let mut by_group: HashMap<usize, Vec<usize>> = HashMap::new();
    for h in &hits {
        by_group.entry(h.group).or_default().push(h.row);
    }
    let mut by_group: Vec<Work> = by_group.into_iter().collect();
    for (_, rows) in &mut by_group {
        rows.sort_unstable();
        rows.dedup();
    }
    // Row groups' records are fetched on every core: each record costs a `raw` page
    // decompressed up to it, and a page of rare events spans many row groups.
    let fetch = |part: &[&Work]| fetch_records(&groups, &opened, part);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts = share_out(&by_group, threads, |w| w.1.len());
    let fetched_parts: Vec<Result<Fetched>> = on_threads(&parts, |part| fetch(part));
    let mut stored: HashMap<(usize, usize), StoredRecord> = HashMap::new();
    let mut raw_time = std::time::Duration::ZERO;
    for part in fetched_parts {
        let (records, took) = part?;
        stored.extend(records);
        raw_time += took;
    }
    let fetched = started.elapsed();
    let mut rows = Vec::with_capacity(hits.len());
    for h in &hits {
        let (raw, account, source) = &stored[&(h.group, h.row)];
        let Ok(record) = Record::parse(raw) else {
            return Ok(None); // not parseable now: let the engine read the stored columns
        };
        rows.push(EventRow {
            record,
            account_from_key: account.as_deref(),
            source,
        });
    }
    let refs: Vec<&EventRow<'_>> = rows.iter().collect();
    let events = to_batch(&refs);
    tracing::debug!(
        segments = opened.len(),
        row_groups = groups.len(),
        ruled_out = ruled_out,
        token_indexed = known.len(),
        scanned,
        rows = events.num_rows(),
        list_us = listed.as_micros() as u64,
        search_us = (searched - listed).as_micros() as u64,
        fetch_us = (fetched - searched).as_micros() as u64,
        fetch_raw_us = raw_time.as_micros() as u64,
        rebuild_us = (started.elapsed() - fetched).as_micros() as u64,
        "direct lookup"
    );
    Ok(Some(Page { events, next_token }))
}

/// A fetched record: its text, account (from the object key) and source object.
type StoredRecord = (String, Option<String>, String);

/// Records fetched by (row group, row), and the time spent reading `raw`.
type Fetched = (Vec<((usize, usize), StoredRecord)>, std::time::Duration);

/// The stored records at `rows` of each row group in `part`. Every column is derived
/// from `raw` (plus the account and source, which are not in the record) by the
/// converter that wrote it, so only those three columns are read, through a row
/// selection: a record costs one `raw` page, not a page of each of the ~60 columns.
/// `raw` is read straight from its pages, each decompressed only up to the last record
/// wanted from it (`raw_pages`); the Parquet reader reads it when the file's layout is
/// another.
fn fetch_records(groups: &[Group], opened: &[Opened<'_>], part: &[&Work]) -> Result<Fetched> {
    let mut out = Vec::new();
    let mut raw_reader = RawReader::new();
    let mut raw_time = std::time::Duration::ZERO;
    for (gi, rows) in part.iter().map(|p| (p.0, &p.1)) {
        let g = &groups[gi];
        let o = &opened[g.segment];
        let total = o.meta.metadata().row_group(g.index).num_rows() as usize;
        let raw_started = std::time::Instant::now();
        let raws = raw_reader.read(
            o.file()?,
            &o.path,
            o.meta.metadata(),
            g.index,
            o.leaves["raw"],
            rows,
        )?;
        raw_time += raw_started.elapsed();
        let columns: &[&str] = match raws {
            Some(_) => &["accountId", "source"],
            None => &["raw", "accountId", "source"],
        };
        let b = o.read(g.index, columns, Some(rows), total)?;
        let raws = match raws {
            Some(r) => r,
            None => {
                let raw = column(&b, "raw").as_string::<i32>();
                (0..rows.len()).map(|n| raw.value(n).to_string()).collect()
            }
        };
        let (account, source) = (
            column(&b, "accountId").as_string::<i32>(),
            column(&b, "source").as_string::<i32>(),
        );
        for ((n, &r), raw) in rows.iter().enumerate().zip(raws) {
            let account = (!account.is_null(n)).then(|| account.value(n).to_string());
            out.push(((gi, r), (raw, account, source.value(n).to_string())));
        }
    }
    Ok((out, raw_time))
}

/// A row group (its index in the lookup's list) and the rows wanted from it.
type Work = (usize, Vec<usize>);

/// Rows of one row group passing every condition (and inside `range` when given), as
/// (row, eventTime, eventID or ""). The columns are read one after the other, each only
/// for the rows that passed the ones before it, cheapest test first. `indexed`: the
/// rows the token index says hold the searched text, which then is not read. The
/// origin, the dearest test, comes last.
fn scan_group(
    o: &Opened,
    rg: usize,
    conds: &[Condition<'_>],
    range: Option<(i64, i64)>,
    indexed: Option<&[usize]>,
    origin: Option<&OriginTest<'_>>,
) -> Result<Vec<(usize, i64, String)>> {
    let total = o.meta.metadata().row_group(rg).num_rows() as usize;
    let mut rows: Option<Vec<usize>> = indexed.map(<[usize]>::to_vec);
    if let Some((lo, hi)) = range {
        let b = o.read(rg, &["eventTime"], rows.as_deref(), total)?;
        let t = b.column(0).as_primitive::<TimestampMicrosecondType>();
        rows = Some(keep(rows, total, |n| (lo..=hi).contains(&t.value(n))));
    }
    let mut ordered: Vec<&Condition<'_>> = conds
        .iter()
        .filter(|c| indexed.is_none() || !matches!(c.test, Test::Contains(_)))
        .collect();
    ordered.sort_by_key(|c| match c.test {
        Test::Present => 0,
        Test::Bool(_) => 1,
        Test::AnyOf(_) => 2,
        Test::Resource(..) => 3,
        Test::Contains(_) => 4,
    });
    for c in ordered {
        if rows.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let b = o.read(rg, &[c.column], rows.as_deref(), total)?;
        let pass = test(c.array(&b), &c.test)?;
        rows = Some(keep(rows, total, |n| pass.is_valid(n) && pass.value(n)));
    }
    if let Some(t) = origin {
        // First the rows whose identity may name the value, judged on the distinct
        // values of a few leaves; then the walk, for those rows only.
        if !rows.as_ref().is_some_and(Vec::is_empty) {
            let coded = o.read_coded(rg, &origin_test::SIFTED, rows.as_deref(), total)?;
            let may = t.may_pass(&coded)?;
            rows = Some(keep(rows, total, |n| may[n]));
        }
        if !rows.as_ref().is_some_and(Vec::is_empty) {
            let pass = t.passes(&o.read(rg, t.leaves(), rows.as_deref(), total)?)?;
            rows = Some(keep(rows, total, |n| pass[n]));
        }
    }
    if rows.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let b = o.read(rg, &["eventTime", "eventID"], rows.as_deref(), total)?;
    let times = b.column(0).as_primitive::<TimestampMicrosecondType>();
    let ids = b.column(1).as_string::<i32>();
    let positions: Box<dyn Iterator<Item = usize>> = match rows {
        Some(r) => Box::new(r.into_iter()),
        None => Box::new(0..total),
    };
    Ok(positions
        .enumerate()
        .map(|(n, row)| {
            let id = if ids.is_null(n) { "" } else { ids.value(n) };
            (row, times.value(n), id.to_string())
        })
        .collect())
}

/// The rows of `rows` (all `total` when `None`) whose `n`-th value, in a batch read for
/// those rows, passes `kept`.
fn keep(rows: Option<Vec<usize>>, total: usize, kept: impl Fn(usize) -> bool) -> Vec<usize> {
    match rows {
        None => (0..total).filter(|&i| kept(i)).collect(),
        Some(r) => r
            .into_iter()
            .enumerate()
            .filter(|&(n, _)| kept(n))
            .map(|(_, i)| i)
            .collect(),
    }
}

/// Whether the row group's bloom filters allow every equality condition.
fn blooms_allow(footers: &Footers, o: &Opened, rg: usize, conds: &[Condition<'_>]) -> Result<bool> {
    for c in conds {
        let Test::AnyOf(values) = &c.test else {
            continue;
        };
        if !crate::write::segment::BLOOM_COLUMNS.contains(&c.column) {
            continue;
        }
        let leaf = o.leaves[c.column];
        if let Some(bloom) = footers.bloom(o, rg, leaf)?
            && !values.iter().any(|v| bloom.check(*v))
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A row selection of `rows` (sorted, distinct) out of `total`, as runs.
pub(crate) fn selection(rows: impl IntoIterator<Item = usize>, total: usize) -> RowSelection {
    let mut runs: Vec<Range<usize>> = Vec::new();
    for r in rows {
        match runs.last_mut() {
            Some(last) if last.end == r => last.end = r + 1,
            _ => runs.push(r..r + 1),
        }
    }
    RowSelection::from_consecutive_ranges(runs.into_iter(), total)
}

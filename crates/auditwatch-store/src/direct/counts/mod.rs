//! Counting events by narrow columns without SQL: the dashboard's and `/aggregate`'s
//! breakdowns (events by user, by event name, by user and event name, …).
//!
//! DataFusion answers `GROUP BY "eventName"` by decoding every Parquet page into
//! strings and hashing each one; over 10 M events that was 71 % of the query's time
//! (docs/PERFORMANCE.md). Here a segment's column is read once, as Arrow dictionary
//! arrays, into one code per row and the column's distinct values ([`Coded`]). A
//! breakdown then filters rows through a mask over the codes and counts combinations of
//! codes in an array; only the few distinct values are ever handled as strings.
//! Segment files never change, so the codes are kept ([`CodesCache`], bounded, least
//! recently used first) until compaction retires the file.
//!
//! A time histogram is counted the same way ([`histogram`]): each segment's event times
//! are kept as seconds after its first ([`Seconds`], 4 bytes a row), and a query turns
//! them into one more key column, the number of each row's time bucket.
//!
//! Filters answered here: the caller's scope, the time range (row groups wholly inside
//! it are counted without reading `eventTime`; only those the range cuts read it), the
//! account, region, error-code and source-IP lists, errors only, and the EventName,
//! Username and EventSource attributes. Any other filter (free text, resources,
//! requestParameters, access key, event id, readOnly) makes [`count_by`] return `None`,
//! and the caller asks DataFusion; the answers are the same (a test compares them).

mod groups;
mod times;

pub use groups::MOST_COLUMNS;
use groups::*;
pub(crate) use times::histogram;
use times::*;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use datafusion::parquet::errors::ParquetError;
use datafusion::physical_expr::PhysicalExpr;

use crate::dimension::Dimension;
use crate::direct::lookups::{self, Footers, Opened, on_threads, share_out, time_range};
use crate::error::{Result, StoreError};
use crate::lookup::Lookup;
use crate::schema::events_schema;
use crate::storage::pread::PositionedFile;
use crate::storage::remote::Remote;
use crate::storage::sized_lru::SizedLru;
use auditwatch_catalog::Segment;
use auditwatch_catalog::scope::Scope;

/// Groups of events: the values of the counted columns (in their order; `None` for a
/// null) and how many events have them.
pub type Counted = Vec<(Vec<Option<String>>, u64)>;

/// A segment's column as codes: row `r` holds `values[codes[r]]`, or null when its
/// code is `values.len()` (so a mask over the codes needs no branch for nulls).
#[derive(Debug)]
struct Coded {
    values: Vec<Arc<str>>,
    codes: Vec<u32>,
}

impl Coded {
    fn bytes(&self) -> usize {
        self.codes.len() * 4 + self.values.iter().map(|v| v.len() + 32).sum::<usize>()
    }
}

/// The segments' columns as codes, kept between queries: at most
/// [`DEFAULT_TALLY_CACHE_BYTES`] (4 bytes a row and column, plus the distinct values).
#[derive(Debug)]
pub struct CodesCache {
    columns: SizedLru<(String, Dimension), Arc<Coded>>,
    /// Event times, for histograms: a quarter of the columns' bound more.
    times: SizedLru<String, Arc<Seconds>>,
}

/// Default bound of [`CodesCache`]: 384 MiB, e.g. six columns of 16 M events.
pub const DEFAULT_TALLY_CACHE_BYTES: usize = 384 << 20;

impl Default for CodesCache {
    fn default() -> Self {
        Self::with_limit(DEFAULT_TALLY_CACHE_BYTES)
    }
}

impl CodesCache {
    /// An empty cache keeping at most `limit` bytes of columns (always the newest
    /// one), and a quarter of that of event times.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            columns: SizedLru::new(limit),
            times: SizedLru::new(limit / 4),
        }
    }

    /// Columns cached, and their bytes in memory.
    pub fn cached(&self) -> (usize, usize) {
        let (columns, bytes) = self.columns.cached();
        let (times, time_bytes) = self.times.cached();
        (columns + times, bytes + time_bytes)
    }

    /// Forgets the columns of segments no longer listed (compacted away).
    fn retain(&self, segments: &[Segment]) {
        let live: std::collections::HashSet<&str> =
            segments.iter().map(|s| s.path.as_str()).collect();
        self.columns.retain(|(p, _)| live.contains(p.as_str()));
        self.times.retain(|p| live.contains(p.as_str()));
    }
}

/// What rows must hold: a condition on one column's value.
pub(crate) struct Filter<'a> {
    pub(crate) column: Dimension,
    pub(crate) test: Test<'a>,
}

pub(crate) enum Test<'a> {
    /// Among these values.
    AnyOf(Vec<&'a str>),
    /// Not null.
    Present,
    /// Null or none of these values (an exclusion: a row without the value does not
    /// have it).
    NoneOf(Vec<&'a str>),
    /// True of the value: an expression of SQL's `WHERE` over the one column,
    /// evaluated on the segment's distinct values ([`crate::sql::counts_rewrite`]).
    Predicate(Arc<dyn PhysicalExpr>),
}

impl Filter<'_> {
    /// Which codes of `c` pass (the last entry: null). A predicate is evaluated only
    /// on the values `seen` marks, when given (the others do not pass): the values of
    /// the rows in the caller's scope, so that a failing expression can only ever
    /// name one of those.
    fn mask(&self, c: &Coded, seen: Option<&[bool]>) -> Result<Vec<bool>> {
        Ok(match &self.test {
            // A null is never among the values, nor present.
            Test::AnyOf(list) => (c.values.iter())
                .map(|v| list.contains(&&**v))
                .chain([false])
                .collect(),
            Test::Present => c.values.iter().map(|_| true).chain([false]).collect(),
            Test::NoneOf(list) => (c.values.iter())
                .map(|v| !list.contains(&&**v))
                .chain([true])
                .collect(),
            Test::Predicate(expr) => {
                let name = self.column.column();
                let schema = Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, true)]));
                // The codes evaluated: all, or those seen.
                let codes: Vec<usize> = (0..=c.values.len())
                    .filter(|&i| seen.is_none_or(|s| s[i]))
                    .collect();
                let values: StringArray = (codes.iter())
                    .map(|&i| c.values.get(i).map(|v| &**v))
                    .collect();
                let batch = RecordBatch::try_new(schema, vec![Arc::new(values)])?;
                let passed = expr.evaluate(&batch)?.into_array(batch.num_rows())?;
                let passed = passed.as_boolean_opt().ok_or_else(|| {
                    StoreError::Query(format!("a condition on {name} is not true or false"))
                })?;
                let mut mask = vec![false; c.values.len() + 1];
                for (j, &i) in codes.iter().enumerate() {
                    mask[i] = passed.is_valid(j) && passed.value(j);
                }
                mask
            }
        })
    }
}

/// Which events a count covers: those in a time range (µs, inclusive) passing every
/// filter.
pub(crate) struct Plan<'a> {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) filters: &'a [Filter<'a>],
    /// Only segments holding one of these accounts / regions (when not empty).
    pub(crate) accounts: &'a [String],
    pub(crate) regions: &'a [String],
    /// When to give up (a query's time limit): checked between segments.
    pub(crate) deadline: Option<Instant>,
    /// Counted by time bucket too, of this many seconds (buckets start at multiples
    /// of it since the Unix epoch), as the last key column.
    pub(crate) bucket_secs: Option<i64>,
}

impl<'a> Plan<'a> {
    /// The events of lookup `q` passing `filters` (its own, from [`filters`]), counted
    /// by time bucket too when `bucket_secs` is given.
    pub(crate) fn of(q: &'a Lookup, filters: &'a [Filter<'a>], bucket_secs: Option<i64>) -> Self {
        Plan {
            start: q.start.unwrap_or(i64::MIN),
            end: q.end.unwrap_or(i64::MAX),
            filters,
            accounts: &q.accounts,
            regions: &q.regions,
            deadline: None,
            bucket_secs,
        }
    }
}

/// The filters of `q` (besides its time range), the lookups' conditions
/// ([`lookups::conditions`]), or `None` when it has one this path does not answer.
fn filters(q: &Lookup) -> Result<Option<Vec<Filter<'_>>>> {
    // Failed calls are a condition over three columns: DataFusion answers it.
    if !q.params.is_empty() || q.failed_only || q.origin.is_some() {
        return Ok(None);
    }
    // The scope is applied per segment, only where a segment holds other accounts.
    let mut f = Vec::new();
    for c in lookups::conditions(q, &Scope::All)? {
        let Some(column) = Dimension::named(c.column) else {
            return Ok(None);
        };
        let test = match c.test {
            lookups::Test::AnyOf(values) => Test::AnyOf(values),
            lookups::Test::Present => Test::Present,
            _ => return Ok(None),
        };
        f.push(Filter { column, test });
    }
    for (column, value) in &q.exclude {
        f.push(Filter {
            column: *column,
            test: Test::NoneOf(vec![value.as_str()]),
        });
    }
    Ok(Some(f))
}

/// Where the segments are and what is kept of them between queries.
pub(crate) struct Lake<'a> {
    pub(crate) lake: &'a Path,
    pub(crate) remote: Option<&'a Remote>,
    pub(crate) segments: &'a [Segment],
    pub(crate) footers: &'a Footers,
    pub(crate) cache: &'a CodesCache,
}

/// Events matching `q`, as `scope` sees them, counted by the combination of `by`'s
/// values (no columns: one group, every matching event); `None` when `q` has a filter
/// this path does not answer (or more than [`MOST_COLUMNS`] columns are asked for).
/// Groups come in no particular order.
pub(crate) fn count_by(
    lake: &Lake,
    scope: &Scope,
    q: &Lookup,
    by: &[Dimension],
) -> Result<Option<Counted>> {
    let Some(filters) = filters(q)? else {
        return Ok(None);
    };
    count_plan(lake, scope, &Plan::of(q, &filters, None), by)
}

/// Events of `plan`, as `scope` sees them, counted by `by` as [`count_by`] does; `None`
/// when a segment's file is of an older schema or `by` has more than
/// [`MOST_COLUMNS`] columns.
pub(crate) fn count_plan(
    lake: &Lake,
    scope: &Scope,
    plan: &Plan,
    by: &[Dimension],
) -> Result<Option<Counted>> {
    if by.len() + usize::from(plan.bucket_secs.is_some()) > MOST_COLUMNS {
        return Ok(None);
    }
    lake.cache.retain(lake.segments);
    let (lo, hi) = (plan.start, plan.end);
    let overlaps = |wanted: &[String], have: &[String]| {
        wanted.is_empty() || wanted.iter().any(|w| have.contains(w))
    };
    let todo: Vec<&Segment> = lake
        .segments
        .iter()
        .filter(|s| scope.allows_any(&s.accounts) && s.max_time >= lo && s.min_time <= hi)
        .filter(|s| overlaps(plan.accounts, &s.accounts) && overlaps(plan.regions, &s.regions))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let shares = share_out(&todo, threads, |s| s.rows as usize);
    let columns = by.len() + usize::from(plan.bucket_secs.is_some());
    let counted = on_threads(&shares, |share| {
        let mut merged = Merged::new(columns);
        for s in share {
            if plan.deadline.is_some_and(|d| Instant::now() > d) {
                return Err(StoreError::Query(
                    "query stopped at its time limit (counting segments)".into(),
                ));
            }
            if !count_segment(lake, scope, plan, by, s, &mut merged)? {
                return Ok(None);
            }
        }
        Ok(Some(merged))
    })
    .into_iter()
    .collect::<Result<Vec<Option<Merged>>>>()?;
    let mut total = Merged::new(columns);
    for part in counted {
        let Some(part) = part else {
            return Ok(None);
        };
        total.absorb(part);
    }
    Ok(Some(total.into_groups()))
}

/// Counts segment `s` into `merged`; `false` when it cannot be counted here (its
/// file is of an older schema, or its times do not fit the codes).
fn count_segment(
    lake: &Lake,
    scope: &Scope,
    plan: &Plan,
    by: &[Dimension],
    s: &Segment,
    merged: &mut Merged,
) -> Result<bool> {
    let counted = lookups::with_segment(
        lake.lake,
        lake.remote,
        lake.segments,
        lake.footers,
        s,
        |o| count_opened(lake.cache, scope, plan, by, o, s, merged),
    )?;
    Ok(counted == Some(true))
}

/// Counts segment `s`, opened as `o`, into `merged`; `false` when it cannot.
fn count_opened(
    cache: &CodesCache,
    scope: &Scope,
    plan: &Plan,
    by: &[Dimension],
    o: &Opened,
    s: &Segment,
    merged: &mut Merged,
) -> Result<bool> {
    let (lo, hi) = (plan.start, plan.end);
    let counts = &mut merged.counter;
    let coded = |column: Dimension| column_codes(cache, o, column);
    // Rows of the scope, when the segment holds other accounts' too: applied first,
    // so that the caller's conditions see only the values of those rows.
    let in_scope = match scope {
        Scope::Accounts(set)
            if !s.accounts.iter().all(|a| set.contains(a)) || may_lack_accounts(o) =>
        {
            let accounts = coded(Dimension::AccountId)?;
            let mask = Filter {
                column: Dimension::AccountId,
                test: Test::AnyOf(set.iter().map(String::as_str).collect()),
            }
            .mask(&accounts, None)?;
            if !mask.contains(&true) {
                return Ok(true);
            }
            Some((accounts, mask))
        }
        _ => None,
    };
    let mut masks = Vec::new();
    for f in plan.filters {
        let c = coded(f.column)?;
        let seen = match (&in_scope, &f.test) {
            (Some((accounts, scoped)), Test::Predicate(_)) => Some(seen_in(&c, accounts, scoped)),
            _ => None,
        };
        let mask = f.mask(&c, seen.as_deref())?;
        if !mask.contains(&true) {
            return Ok(true);
        }
        masks.push((c, mask));
    }
    masks.extend(in_scope);
    let mut keys: Vec<Arc<Coded>> = by.iter().map(|&b| coded(b)).collect::<Result<_>>()?;
    if let Some(step) = plan.bucket_secs {
        let buckets = segment_seconds(cache, o)?.and_then(|t| time_buckets(&t, step, lo, hi));
        let Some(buckets) = buckets else {
            // Too many buckets in one segment for codes: counted another way.
            return Ok(false);
        };
        keys.push(Arc::new(buckets));
    }
    let mut strides = Vec::with_capacity(keys.len());
    let mut combinations = 1usize;
    for k in &keys {
        strides.push(combinations);
        combinations = combinations.saturating_mul(k.values.len() + 1);
    }
    counts.begin(combinations);

    let time_leaf = o.leaves["eventTime"];
    let mut start = 0usize;
    for (rg, group) in o.meta.metadata().row_groups().iter().enumerate() {
        let rows = start..start + group.num_rows() as usize;
        start = rows.end;
        let (min, max) = time_range(group, time_leaf);
        if max < lo || min > hi || rows.is_empty() {
            continue;
        }
        let times = (min < lo || max > hi)
            .then(|| event_times(o, rg, rows.len()))
            .transpose()?;
        if let (None, true, [k], Mode::Small) = (&times, masks.is_empty(), &keys[..], counts.mode) {
            // The common breakdown (one column, no filter but whole row groups): a
            // count per code.
            for &c in &k.codes[rows] {
                counts.dense[c as usize] += 1;
            }
            continue;
        }
        for (i, r) in rows.enumerate() {
            if times.as_ref().is_some_and(|t| t[i] < lo || t[i] > hi) {
                continue;
            }
            if masks.iter().all(|(c, m)| m[c.codes[r] as usize]) {
                let key = keys
                    .iter()
                    .zip(&strides)
                    .map(|(k, stride)| k.codes[r] as usize * stride)
                    .sum();
                counts.add(key);
            }
        }
    }
    let numbers: Vec<Vec<u32>> = keys
        .iter()
        .zip(&mut merged.columns)
        .map(|(k, column)| column.of_codes(k))
        .collect();
    for (key, n) in counts.drain() {
        let packed = pack(
            keys.iter()
                .zip(&strides)
                .zip(&numbers)
                .map(|((k, stride), numbers)| numbers[key / stride % (k.values.len() + 1)]),
        );
        *merged.groups.entry(packed).or_default() += n;
    }
    Ok(true)
}

/// Whether segment `o` may hold rows without an account (which no scope shows): its
/// statistics count nulls in `accountId`, or say nothing.
fn may_lack_accounts(o: &Opened) -> bool {
    let leaf = o.leaves["accountId"];
    o.meta
        .metadata()
        .row_groups()
        .iter()
        .any(|g| g.column(leaf).statistics().and_then(|s| s.null_count_opt()) != Some(0))
}

/// Which codes of `c` occur in the rows whose account code passes `scoped` (the last
/// entry: null).
fn seen_in(c: &Coded, accounts: &Coded, scoped: &[bool]) -> Vec<bool> {
    let mut seen = vec![false; c.values.len() + 1];
    for (&code, &account) in c.codes.iter().zip(&accounts.codes) {
        if scoped[account as usize] {
            seen[code as usize] = true;
        }
    }
    seen
}

/// Segment `o`'s `column` as codes, from the cache or read from its file.
fn column_codes(cache: &CodesCache, o: &Opened, column: Dimension) -> Result<Arc<Coded>> {
    let key = (o.rel.to_string(), column);
    if let Some(c) = cache.columns.get(&key) {
        return Ok(c);
    }
    let coded = Arc::new(read_codes(o, column)?);
    cache.columns.insert(key, coded.clone(), coded.bytes());
    Ok(coded)
}

/// Reads `column` of the whole file as dictionary arrays (one per row group, as
/// Parquet stores it) and numbers its distinct values across them.
fn read_codes(o: &Opened, column: Dimension) -> Result<Coded> {
    let name = column.column();
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let hint: Vec<Field> = events_schema()
        .fields()
        .iter()
        .map(|f| match f.name() == name {
            true => Field::new(name, dictionary.clone(), true),
            false => f.as_ref().clone(),
        })
        .collect();
    let meta = ArrowReaderMetadata::try_new(
        o.meta.metadata().clone(),
        ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(hint))),
    )
    .map_err(|e| o.parquet_err(e))?;
    let descr = o.meta.metadata().file_metadata().schema_descr();
    let reader =
        ParquetRecordBatchReaderBuilder::new_with_metadata(PositionedFile(o.file()?.clone()), meta)
            .with_projection(ProjectionMask::leaves(descr, [o.leaves[name]]))
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|e| o.parquet_err(e))?;
    let rows = o.meta.metadata().file_metadata().num_rows().max(0) as usize;
    let mut codes: Vec<u32> = Vec::with_capacity(rows);
    let mut numbered = Numbered::default();
    // The codes of the current dictionary's entries (batches of one row group share it).
    let mut remap: Vec<u32> = Vec::new();
    let mut current: Option<datafusion::arrow::array::ArrayRef> = None;
    for batch in reader {
        let batch = batch?;
        let array = batch.column(0).as_dictionary::<Int32Type>();
        if current
            .as_ref()
            .is_none_or(|d| !Arc::ptr_eq(d, array.values()))
        {
            let strings = array.values().as_string::<i32>();
            remap = strings
                .iter()
                .map(|v| v.map_or(NULL_NUMBER, |v| numbered.number(v)))
                .collect();
            current = Some(array.values().clone());
        }
        let keys = array.keys();
        codes.extend(
            keys.iter()
                .map(|k| k.map_or(NULL_NUMBER, |k| remap[k as usize])),
        );
    }
    if codes.len() != rows {
        return Err(o.parquet_err(ParquetError::General(format!(
            "{name}: read {} values of {rows} rows",
            codes.len()
        ))));
    }
    // Nulls take the code after the last value (see [`Coded`]).
    let null = numbered.values.len() as u32;
    for c in codes.iter_mut().filter(|c| **c == NULL_NUMBER) {
        *c = null;
    }
    Ok(Coded {
        values: numbered.values,
        codes,
    })
}

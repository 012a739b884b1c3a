//! Writing one Parquet segment durably: a staging file, fsync, rename into its day
//! folder, fsync of the folder. The catalog lists it afterwards; until then no
//! reader looks at it, and a crash leaves a file that start-up clean-up removes.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::{concat_batches, interleave_record_batch};
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowRowGroupWriterFactory, compute_leaves,
};
use datafusion::parquet::arrow::{ArrowWriter, ProjectionMask};
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::errors::Result as ParquetResult;
use datafusion::parquet::file::metadata::SortingColumn;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;

use crate::error::{IoContext, Result, StoreError};
use auditwatch_catalog::Segment;

/// Rows per Parquet row group: small enough that time and bloom-filter pruning skip
/// most of a file for a narrow lookup, large enough for good compression.
pub const ROW_GROUP_ROWS: usize = 32 * 1024;

/// Columns written with bloom filters (dotted paths), for the equality lookups.
pub(crate) const BLOOM_COLUMNS: [&str; 5] = [
    "eventID",
    "username",
    "eventName",
    "sourceIPAddress",
    "userIdentity.accessKeyId",
];

/// Target false-positive rate of those bloom filters.
const BLOOM_FPP: f64 = 0.001;

/// Largest `raw` data page (uncompressed bytes); see docs/PERFORMANCE.md.
const RAW_PAGE_BYTES: usize = 256 * 1024;

/// Largest data page of `eventTime` and `eventID` (uncompressed bytes).
const KEY_PAGE_BYTES: usize = 32 * 1024;

/// Rows handed to the Parquet column writers at a time: pages close only between
/// such batches, so this bounds how far a `raw` page can overshoot its limit.
const WRITE_BATCH_ROWS: usize = 128;

/// The folder (relative to the lake root) of a day's segments.
pub fn day_dir(day: i32) -> String {
    let date = NaiveDate::from_num_days_from_ce_opt(day + 719_163).unwrap_or_default();
    format!("events/day={}", date.format("%Y-%m-%d"))
}

/// Staging area for files being written, outside the table folder.
pub fn staging_dir(lake: &Path) -> PathBuf {
    lake.join(".staging")
}

/// Holding area for retired files awaiting deletion, outside the table folder.
pub fn trash_dir(lake: &Path) -> PathBuf {
    lake.join(".trash")
}

/// Where the segment file `file` is kept once retired (`None` for a path without a
/// file name).
pub fn retired_path(lake: &Path, file: &Path) -> Option<PathBuf> {
    file.file_name().map(|name| trash_dir(lake).join(name))
}

/// The rows `at` (batch index, row index) of `sources`, in that order, in one copy.
pub fn pick_rows(sources: &[&RecordBatch], at: &[(usize, usize)]) -> Result<RecordBatch> {
    if at.is_empty() {
        return Ok(RecordBatch::new_empty(crate::schema::events_schema()));
    }
    Ok(interleave_record_batch(sources, at)?)
}

fn properties() -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: 0,
            descending: false,
            nulls_first: false,
        }]));
    // 0.1 % false positives instead of the 5 % default: a lookup of an absent eventID
    // over 10 M events otherwise decodes the eventID column of ~18 row groups (35 ms);
    // the filters fold down to the distinct values written, so this costs ~64 KiB per
    // row group for eventID and little for the others (docs/PERFORMANCE.md).
    for col in BLOOM_COLUMNS {
        let path = ColumnPath::new(col.split('.').map(String::from).collect());
        b = b
            .set_column_bloom_filter_enabled(path.clone(), true)
            .set_column_bloom_filter_fpp(path, BLOOM_FPP);
    }
    // Nothing prunes by the record's text, and min/max of long strings cost a
    // comparison per value while writing.
    b = b.set_column_statistics_enabled(ColumnPath::from("raw"), EnabledStatistics::None);
    // Values that never repeat: a dictionary is built, overflows and is thrown away.
    for col in ["raw", "eventID", "requestID"] {
        b = b.set_column_dictionary_enabled(ColumnPath::from(col), false);
    }
    // `raw` in smaller pages, so fetching one record decompresses less around it; the
    // same for the columns a lookup reads for its few matching rows (eventID in 1 MiB
    // pages cost ~1 ms of decompression per row group with a hit; eventTime is usually
    // dictionary-encoded and small, but falls back to plain pages when times are dense).
    b = b
        .set_column_data_page_size_limit(ColumnPath::from("raw"), RAW_PAGE_BYTES)
        .set_write_batch_size(WRITE_BATCH_ROWS);
    for col in ["eventTime", "eventID"] {
        b = b.set_column_data_page_size_limit(ColumnPath::from(col), KEY_PAGE_BYTES);
    }
    b.build()
}

/// The rows of one segment, in the order they are written, handed to the encoder a
/// row group at a time so that a commit or a merge never holds a sorted copy of all
/// its rows.
#[derive(Clone, Copy)]
pub enum Rows<'a> {
    /// All rows of one batch.
    Batch(&'a RecordBatch),
    /// The rows `at` (batch index, row index) of `sources`, in that order.
    Picked {
        /// Where the rows are.
        sources: &'a [&'a RecordBatch],
        /// Which rows, in order.
        at: &'a [(usize, usize)],
    },
}

impl Rows<'_> {
    /// How many rows.
    pub fn len(&self) -> usize {
        match self {
            Rows::Batch(b) => b.num_rows(),
            Rows::Picked { at, .. } => at.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows at `range`, in one batch (a slice, or one copy of the picked rows).
    fn chunk(&self, range: std::ops::Range<usize>) -> Result<RecordBatch> {
        match self {
            Rows::Batch(b) => Ok(b.slice(range.start, range.len())),
            Rows::Picked { sources, at } => pick_rows(sources, &at[range]),
        }
    }
}

/// Writes `batch` (one day, sorted by `eventTime`) as a new segment file in its day
/// folder and returns its catalog description (without an id).
pub fn write(lake: &Path, day: i32, batch: &RecordBatch) -> Result<Segment> {
    write_rows(lake, day, Rows::Batch(batch))
}

/// Writes `rows` (one day, in `eventTime` order) as a new segment file in its day
/// folder and returns its catalog description (without an id).
pub fn write_rows(lake: &Path, day: i32, rows: Rows<'_>) -> Result<Segment> {
    let staging = staging_dir(lake);
    fs::create_dir_all(&staging).io("create", &staging)?;
    let name = format!(
        "part-{}-{:016x}.parquet",
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        rand::random::<u64>()
    );
    let tmp = staging.join(&name);
    let file = File::create(&tmp).io("create", &tmp)?;
    let started = std::time::Instant::now();
    let (file, seen) = encode(file, rows, &tmp)?;
    let encoded = started.elapsed();
    file.sync_all().io("fsync", &tmp)?;
    tracing::debug!(
        rows = rows.len(),
        encode_ms = encoded.as_millis() as u64,
        fsync_ms = (started.elapsed() - encoded).as_millis() as u64,
        "segment written"
    );
    let bytes = file.metadata().io("stat", &tmp)?.len();
    drop(file);

    let rel_dir = day_dir(day);
    let dir = lake.join(&rel_dir);
    fs::create_dir_all(&dir).io("create", &dir)?;
    let dest = dir.join(&name);
    fs::rename(&tmp, &dest).io("rename into place", &dest)?;
    sync_dir(&dir)?;
    Ok(Segment {
        id: 0,
        day,
        path: format!("{rel_dir}/{name}"),
        rows: rows.len() as u64,
        bytes,
        min_time: seen.min_time.unwrap_or(0),
        max_time: seen.max_time.unwrap_or(0),
        accounts: seen.accounts.into_iter().collect(),
        regions: seen.regions.into_iter().collect(),
    })
}

/// What the catalog records of a segment's rows, gathered as they are written.
#[derive(Default)]
struct Seen {
    min_time: Option<i64>,
    max_time: Option<i64>,
    accounts: BTreeSet<String>,
    regions: BTreeSet<String>,
}

impl Seen {
    fn add(&mut self, batch: &RecordBatch) {
        let t = batch.column(0).as_primitive::<TimestampMicrosecondType>();
        if let Some(min) = datafusion::arrow::compute::min(t) {
            self.min_time = Some(self.min_time.map_or(min, |m| m.min(min)));
        }
        if let Some(max) = datafusion::arrow::compute::max(t) {
            self.max_time = Some(self.max_time.map_or(max, |m| m.max(max)));
        }
        distinct(batch, "accountId", &mut self.accounts);
        distinct(batch, "awsRegion", &mut self.regions);
    }
}

/// Encodes `rows` into `file` as Parquet, a row group at a time, the columns of each
/// row group on all cores (`raw` alone is about half the work; the rest shares the
/// other core), and the token index beside them (written after the last row group).
fn encode(file: File, rows: Rows<'_>, path: &Path) -> Result<(File, Seen)> {
    let perr = |source| StoreError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    // `ArrowWriter` sets up the file and the embedded Arrow schema; its low-level parts
    // then let columns be encoded on several threads.
    let schema = crate::schema::events_schema();
    let (mut writer, factory) = ArrowWriter::try_new(file, schema.clone(), Some(properties()))
        .and_then(ArrowWriter::into_serialized_writer)
        .map_err(perr)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut tokens = crate::direct::token_index::Builder::default();
    let mut seen = Seen::default();
    let mut offset = 0;
    let mut index = 0;
    while offset < rows.len() {
        let len = ROW_GROUP_ROWS.min(rows.len() - offset);
        let part = rows.chunk(offset..offset + len)?;
        seen.add(&part);
        let encoded = std::thread::scope(|scope| {
            let indexing = scope.spawn(|| add_tokens(&mut tokens, &part));
            let encoded = encode_columns(&factory, index, &part, threads);
            indexing.join().expect("token index thread panicked");
            encoded
        })
        .map_err(perr)?;
        let mut row_group = writer.next_row_group().map_err(perr)?;
        for chunk in encoded {
            chunk.append_to_row_group(&mut row_group).map_err(perr)?;
        }
        row_group.close().map_err(perr)?;
        offset += len;
        index += 1;
    }
    let (compressed, size) = tokens.finish();
    let at = writer.bytes_written();
    writer.write_all(&compressed).io("write", path)?;
    writer.append_key_value_metadata(crate::direct::token_index::footer_entry(
        at,
        compressed.len(),
        size,
    ));
    let file = writer.into_inner().map_err(perr)?;
    Ok((file, seen))
}

/// Indexes the text of each row of `part` (`token_index`), in order.
fn add_tokens(tokens: &mut crate::direct::token_index::Builder, part: &RecordBatch) {
    if let Some(raw) = part.column_by_name("raw") {
        let raw = raw.as_string::<i32>();
        for i in 0..raw.len() {
            tokens.add(if raw.is_null(i) { "" } else { raw.value(i) });
        }
    }
}

/// The column chunks of row group `index` (the rows of `part`), in column order, each
/// top-level column with its leaves encoded on one of `threads` threads.
fn encode_columns(
    factory: &ArrowRowGroupWriterFactory,
    index: usize,
    part: &RecordBatch,
    threads: usize,
) -> ParquetResult<Vec<ArrowColumnChunk>> {
    let schema = part.schema();
    let mut writers = factory.create_column_writers(index)?.into_iter();
    // Each top-level column with its leaves' writers, heaviest first, dealt to the
    // least loaded thread.
    let mut columns = Vec::new();
    for (n, (field, array)) in schema.fields().iter().zip(part.columns()).enumerate() {
        let leaves = compute_leaves(field, array)?;
        let mine: Vec<_> = writers.by_ref().take(leaves.len()).collect();
        columns.push((array.get_array_memory_size(), n, mine, leaves));
    }
    columns.sort_by_key(|c| std::cmp::Reverse(c.0));
    let mut shares: Vec<(usize, Vec<_>)> = (0..threads).map(|_| (0, Vec::new())).collect();
    for c in columns {
        let share = shares.iter_mut().min_by_key(|s| s.0).expect("a thread");
        share.0 += c.0;
        share.1.push(c);
    }
    let encoded = std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .map(|(_, share)| {
                scope.spawn(
                    move || -> ParquetResult<Vec<(usize, Vec<ArrowColumnChunk>)>> {
                        share
                            .into_iter()
                            .map(|(_, n, writers, leaves)| {
                                let chunks = writers
                                    .into_iter()
                                    .zip(&leaves)
                                    .map(|(mut w, leaf)| {
                                        w.write(leaf)?;
                                        w.close()
                                    })
                                    .collect::<ParquetResult<Vec<_>>>()?;
                                Ok((n, chunks))
                            })
                            .collect()
                    },
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("encoder thread panicked"))
            .collect::<ParquetResult<Vec<_>>>()
    })?;
    let mut encoded: Vec<_> = encoded.into_iter().flatten().collect();
    encoded.sort_by_key(|(n, _)| *n);
    Ok(encoded.into_iter().flat_map(|(_, chunks)| chunks).collect())
}

/// Reads a whole segment back into one batch (compaction and retention rewrite
/// segments; a segment holds at most a few hundred thousand rows).
pub fn read(path: &Path) -> Result<RecordBatch> {
    let batches = read_batches(path)?;
    Ok(concat_batches(&crate::schema::events_schema(), &batches)?)
}

/// Reads the top-level columns `names` of a segment file, in that order, batch by batch.
pub fn read_columns(path: &Path, names: &[&str]) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).io("open", path)?;
    let perr = |source| StoreError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(perr)?;
    let schema = builder.schema().clone();
    let mut roots = Vec::with_capacity(names.len());
    for name in names {
        roots.push(schema.index_of(name).map_err(|e| perr(e.into()))?);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(8192)
        .build()
        .map_err(perr)?;
    let mut out = Vec::new();
    for batch in reader {
        // The projection keeps the file's order; put the columns in the asked order.
        let batch = batch?;
        let columns = names
            .iter()
            .map(|n| batch.column_by_name(n).cloned())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| StoreError::Query(format!("{} lacks a column", path.display())))?;
        let fields: Vec<_> = names
            .iter()
            .filter_map(|n| batch.schema().field_with_name(n).ok().cloned())
            .collect();
        out.push(RecordBatch::try_new(
            std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(fields)),
            columns,
        )?);
    }
    Ok(out)
}

/// Reads a whole segment file back as the reader's batches (no copy into one).
pub fn read_batches(path: &Path) -> Result<Vec<RecordBatch>> {
    let path = path.to_path_buf();
    let file = File::open(&path).io("open", &path)?;
    let perr = |source| StoreError::Parquet {
        path: path.clone(),
        source,
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(perr)?
        .with_batch_size(8192)
        .build()
        .map_err(perr)?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// Makes a rename or unlink in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .io("fsync folder", dir)
}

/// Adds the distinct values of the string column `column` of `batch` to `set`.
fn distinct(batch: &RecordBatch, column: &str, set: &mut BTreeSet<String>) {
    let Some(col) = batch.column_by_name(column) else {
        return;
    };
    let col = col.as_string::<i32>();
    for i in 0..col.len() {
        if col.is_valid(i) {
            let v = col.value(i);
            if !set.contains(v) {
                set.insert(v.to_string());
            }
        }
    }
}

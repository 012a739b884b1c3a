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
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowRowGroupWriterFactory, compute_leaves,
};
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::errors::Result as ParquetResult;
use datafusion::parquet::file::metadata::SortingColumn;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::file::writer::SerializedFileWriter;
use datafusion::parquet::schema::types::ColumnPath;

use crate::catalog::Segment;
use crate::error::{IoContext, Result, StoreError};

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

/// Writes `batch` (one day, sorted by `eventTime`) as a new segment file in its day
/// folder and returns its catalog description (without an id).
pub fn write(lake: &Path, day: i32, batch: &RecordBatch) -> Result<Segment> {
    let staging = staging_dir(lake);
    fs::create_dir_all(&staging).io("create", &staging)?;
    let name = format!(
        "part-{}-{:016x}.parquet",
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        rand::random::<u64>()
    );
    let tmp = staging.join(&name);
    let file = File::create(&tmp).io("create", &tmp)?;
    let perr = |source| StoreError::Parquet {
        path: tmp.clone(),
        source,
    };
    let file = encode(file, batch).map_err(perr)?;
    file.sync_all().io("fsync", &tmp)?;
    let bytes = file.metadata().io("stat", &tmp)?.len();
    drop(file);

    let rel_dir = day_dir(day);
    let dir = lake.join(&rel_dir);
    fs::create_dir_all(&dir).io("create", &dir)?;
    let dest = dir.join(&name);
    fs::rename(&tmp, &dest).io("rename into place", &dest)?;
    sync_dir(&dir)?;
    let (min_time, max_time) = time_range(batch);
    Ok(Segment {
        id: 0,
        day,
        path: format!("{rel_dir}/{name}"),
        rows: batch.num_rows() as u64,
        bytes,
        min_time,
        max_time,
        accounts: distinct(batch, "accountId"),
        regions: distinct(batch, "awsRegion"),
    })
}

/// Encodes `batch` into `file` as Parquet, the columns of each row group on all cores
/// (`raw` alone is about half the work; the rest shares the other core).
fn encode(file: File, batch: &RecordBatch) -> ParquetResult<File> {
    // `ArrowWriter` sets up the file and the embedded Arrow schema; its low-level parts
    // then let columns be encoded on several threads.
    let (mut writer, factory) =
        ArrowWriter::try_new(file, batch.schema(), Some(properties()))?.into_serialized_writer()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The token index is built beside the encoders, from the same rows in the same
    // order, and written after the last row group (`tokens`).
    std::thread::scope(|scope| -> ParquetResult<File> {
        let tokens = scope.spawn(|| build_tokens(batch));
        write_row_groups(&mut writer, &factory, batch, threads)?;
        let tokens = tokens.join().expect("token index thread panicked");
        let at = writer.bytes_written();
        writer.write_all(&tokens.compressed)?;
        writer.append_key_value_metadata(crate::tokens::footer_entry(
            at,
            tokens.compressed.len(),
            tokens.size,
        ));
        writer.into_inner()
    })
}

/// A segment's token index, compressed, and its size uncompressed.
struct BuiltTokens {
    compressed: Vec<u8>,
    size: usize,
}

fn build_tokens(batch: &RecordBatch) -> BuiltTokens {
    let mut b = crate::tokens::Builder::default();
    if let Some(raw) = batch.column_by_name("raw") {
        let raw = raw.as_string::<i32>();
        for i in 0..raw.len() {
            b.add(if raw.is_null(i) { "" } else { raw.value(i) });
        }
    }
    let (compressed, size) = b.finish();
    BuiltTokens { compressed, size }
}

/// Encodes the rows of `batch` as row groups, each row group's columns on all cores.
fn write_row_groups(
    writer: &mut SerializedFileWriter<File>,
    factory: &ArrowRowGroupWriterFactory,
    batch: &RecordBatch,
    threads: usize,
) -> ParquetResult<()> {
    let schema = batch.schema();
    let mut offset = 0;
    let mut index = 0;
    while offset < batch.num_rows() {
        let len = ROW_GROUP_ROWS.min(batch.num_rows() - offset);
        let part = batch.slice(offset, len);
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
        let mut row_group = writer.next_row_group()?;
        for chunk in encoded.into_iter().flat_map(|(_, chunks)| chunks) {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        offset += len;
        index += 1;
    }
    Ok(())
}

/// Reads a whole segment back into one batch (compaction and retention rewrite
/// segments; a segment holds at most a few hundred thousand rows).
pub fn read(path: &Path) -> Result<RecordBatch> {
    let batches = read_batches(path)?;
    Ok(concat_batches(&crate::schema::events_schema(), &batches)?)
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

fn time_range(batch: &RecordBatch) -> (i64, i64) {
    let t = batch.column(0).as_primitive::<TimestampMicrosecondType>();
    let min = datafusion::arrow::compute::min(t).unwrap_or(0);
    let max = datafusion::arrow::compute::max(t).unwrap_or(0);
    (min, max)
}

fn distinct(batch: &RecordBatch, column: &str) -> Vec<String> {
    let Some(col) = batch.column_by_name(column) else {
        return Vec::new();
    };
    let col = col.as_string::<i32>();
    let mut set = BTreeSet::new();
    for i in 0..col.len() {
        if col.is_valid(i) {
            let v = col.value(i);
            if !set.contains(v) {
                set.insert(v.to_string());
            }
        }
    }
    set.into_iter().collect()
}

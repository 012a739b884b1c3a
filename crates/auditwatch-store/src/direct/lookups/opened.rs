//! Segment files as a lookup reads them: listed from their cached footers, opened
//! (and fetched, when remote) only when a row group of theirs is read, and read a few
//! leaves and rows at a time.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{RecordBatch, RecordBatchReader};
use datafusion::arrow::compute::concat_batches;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelectionPolicy,
};
use datafusion::parquet::errors::ParquetError;

use auditwatch_catalog::Segment;

use super::{Footers, Leaves, selection};
use crate::direct::token_index::{self, TokenCache};
use crate::error::{IoContext, Result, StoreError};
use crate::schema::{coded_identity_schema, events_schema};
use crate::storage::pread::PositionedFile;
use crate::storage::remote::Remote;

/// Where segment files are, to open them when first read.
pub(super) struct Place<'a> {
    pub(super) lake: &'a Path,
    pub(super) remote: Option<&'a Remote>,
    pub(super) segments: &'a [Segment],
}

impl Place<'_> {
    /// The local copy of segment `rel` at `path` (as [`Self::local`] gave it), and the
    /// path it was opened at.
    fn open(&self, rel: &str, path: &Path) -> Result<(PathBuf, File)> {
        match open_segment(self.lake, path) {
            // A local copy of a remote segment deleted by a cache trim in between.
            Err(StoreError::Io { source, .. })
                if self.remote.is_some() && source.kind() == std::io::ErrorKind::NotFound =>
            {
                let path = self.local(rel)?;
                let file = open_segment(self.lake, &path)?;
                Ok((path, file))
            }
            other => Ok((path.to_path_buf(), other?)),
        }
    }

    /// Segment `s` with its footer (through `footers`), its file opened when first read
    /// (or already, when reading the footer opened it); `None` when its schema is not
    /// the current one.
    pub(super) fn opened<'s>(
        &'s self,
        footers: &Footers,
        s: &'s Segment,
    ) -> Result<Option<Opened<'s>>> {
        let path = self.local(&s.path)?;
        let mut opened_path = None;
        let (meta, leaves, file) = footers.get(&path, || {
            let (p, f) = self.open(&s.path, &path)?;
            opened_path = Some(p);
            Ok(f)
        })?;
        if meta.schema().fields() != events_schema().fields() {
            return Ok(None);
        }
        Ok(Some(Opened {
            place: self,
            rel: &s.path,
            path: opened_path.unwrap_or(path),
            file: file
                .map(|f| OnceLock::from(Arc::new(f)))
                .unwrap_or_default(),
            meta,
            coded: OnceLock::new(),
            leaves,
        }))
    }

    /// Where segment `rel` is read from here (fetched first when remote).
    fn local(&self, rel: &str) -> Result<PathBuf> {
        crate::storage::remote::local_segment(self.lake, self.remote, rel, || {
            Ok(self.segments.to_vec())
        })
    }
}

/// `read` given segment `s` of `segments` (for [`crate::direct::counts`]): its footer through
/// `footers`, its file opened when first read (fetched first when remote); `None` when
/// its schema is not the current one.
pub(crate) fn with_segment<R>(
    lake: &Path,
    remote: Option<&Remote>,
    segments: &[Segment],
    footers: &Footers,
    s: &Segment,
    read: impl FnOnce(&Opened<'_>) -> Result<R>,
) -> Result<Option<R>> {
    let place = Place {
        lake,
        remote,
        segments,
    };
    match place.opened(footers, s)? {
        Some(o) => read(&o).map(Some),
        None => Ok(None),
    }
}

/// One segment file, opened when first read: a lookup over all history lists every
/// segment's row groups from cached footers but reads only a few of them.
pub(crate) struct Opened<'a> {
    place: &'a Place<'a>,
    /// The segment's path relative to the lake (catalog form).
    pub(crate) rel: &'a str,
    pub(super) path: PathBuf,
    file: OnceLock<Arc<File>>,
    pub(crate) meta: ArrowReaderMetadata,
    /// `meta` read with the text leaves of `userIdentity` as dictionaries, built when
    /// first asked ([`Self::read_coded`]).
    coded: OnceLock<ArrowReaderMetadata>,
    /// Leaf column index by dotted path.
    pub(crate) leaves: Arc<Leaves>,
}

impl Opened<'_> {
    pub(crate) fn file(&self) -> Result<&Arc<File>> {
        if let Some(f) = self.file.get() {
            return Ok(f);
        }
        let (_, file) = self.place.open(self.rel, &self.path)?;
        Ok(self.file.get_or_init(|| Arc::new(file)))
    }

    /// A Parquet reader of the file with `meta` (the file's, or [`Self::read_coded`]'s),
    /// reading by position: safe beside other readers of the same file on other
    /// threads ([`PositionedFile`]).
    pub(super) fn builder(
        &self,
        meta: &ArrowReaderMetadata,
    ) -> Result<ParquetRecordBatchReaderBuilder<PositionedFile>> {
        Ok(ParquetRecordBatchReaderBuilder::new_with_metadata(
            PositionedFile(self.file()?.clone()),
            meta.clone(),
        ))
    }

    /// The columns at `paths` of row group `rg`, for `rows` (sorted; all when `None`).
    pub(crate) fn read(
        &self,
        rg: usize,
        paths: &[&str],
        rows: Option<&[usize]>,
        total: usize,
    ) -> Result<RecordBatch> {
        self.read_as(&self.meta, rg, paths, rows, total)
    }

    /// [`Self::read`], with the text leaves of `userIdentity` read as dictionaries: each
    /// distinct value of the row group once and a code per row, instead of a copy of
    /// the text per row ([`coded_identity_schema`]).
    pub(crate) fn read_coded(
        &self,
        rg: usize,
        paths: &[&str],
        rows: Option<&[usize]>,
        total: usize,
    ) -> Result<RecordBatch> {
        let coded = match self.coded.get() {
            Some(m) => m,
            None => {
                let options = ArrowReaderOptions::new().with_schema(coded_identity_schema());
                let m = ArrowReaderMetadata::try_new(self.meta.metadata().clone(), options)
                    .map_err(|e| self.parquet_err(e))?;
                self.coded.get_or_init(|| m)
            }
        };
        self.read_as(coded, rg, paths, rows, total)
    }

    /// The columns at `paths` of row group `rg`, for `rows`, read as `meta`'s schema
    /// says.
    fn read_as(
        &self,
        meta: &ArrowReaderMetadata,
        rg: usize,
        paths: &[&str],
        rows: Option<&[usize]>,
        total: usize,
    ) -> Result<RecordBatch> {
        let descr = meta.metadata().file_metadata().schema_descr();
        let mask = ProjectionMask::leaves(descr, paths.iter().map(|p| self.leaves[*p]));
        let wanted = rows.map_or(total, <[usize]>::len);
        let mut builder = self
            .builder(meta)?
            .with_row_groups(vec![rg])
            .with_projection(mask)
            .with_batch_size(wanted.max(1));
        if let Some(rows) = rows {
            // Runs of rows, never a mask: with a mask the reader decodes every value
            // of the row group (strings copied out of their dictionary) and then
            // filters, which for a few thousand rows of 32 k cost more than the rest
            // of the lookup (docs/PERFORMANCE.md).
            builder = builder
                .with_row_selection(selection(rows.iter().copied(), total))
                .with_row_selection_policy(RowSelectionPolicy::Selectors);
        }
        let reader = builder.build().map_err(|e| self.parquet_err(e))?;
        let schema = reader.schema();
        let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(concat_batches(&schema, &batches)?)
    }

    /// The rows of each row group whose text contains `text`, from the file's token
    /// index, or `None` when the file has none.
    pub(super) fn rows_containing(
        &self,
        tokens: &TokenCache,
        text: &str,
    ) -> Result<Option<Vec<Vec<usize>>>> {
        let index = match tokens.get(self.rel) {
            Some(cached) => cached,
            None => {
                let meta = self.meta.metadata().file_metadata();
                let index = token_index::read(self.file()?, meta)
                    .map_err(|e| self.parquet_err(ParquetError::General(e)))?
                    .map(Arc::new);
                tokens.insert(self.rel, index.clone());
                index
            }
        };
        let Some(rows) = index.and_then(|i| i.rows_containing(text)) else {
            return Ok(None);
        };
        let mut by_group = Vec::new();
        let (mut start, mut next) = (0usize, rows.iter().peekable());
        for rg in self.meta.metadata().row_groups() {
            let end = start + rg.num_rows() as usize;
            let mut mine = Vec::new();
            while let Some(&&r) = next.peek()
                && (r as usize) < end
            {
                mine.push(r as usize - start);
                next.next();
            }
            by_group.push(mine);
            start = end;
        }
        Ok(Some(by_group))
    }

    pub(crate) fn parquet_err(
        &self,
        source: datafusion::parquet::errors::ParquetError,
    ) -> StoreError {
        StoreError::Parquet {
            path: self.path.clone(),
            source,
        }
    }
}

/// Opens a listed segment, or its retired copy in `.trash/` when a compaction or
/// retention swap moved it after the list was read (as `storage/lake_store.rs` does for DataFusion).
fn open_segment(lake: &Path, path: &Path) -> Result<File> {
    match File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match crate::write::segment::retired_path(lake, path).map(File::open) {
                Some(Ok(f)) => Ok(f),
                _ => Err(e).io("open", path),
            }
        }
        other => other.io("open", path),
    }
}

//! The footers (with page indexes) and small bloom filters of segment files, kept
//! between lookups in a bounded cache: segment files never change once written.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use datafusion::parquet::bloom_filter::Sbbf;
use datafusion::parquet::file::metadata::PageIndexPolicy;

use crate::direct::token_index::TokenCache;
use crate::error::{Result, StoreError};
use crate::storage::sized_lru::SizedLru;
use auditwatch_catalog::Segment;

use super::*;

/// Footers (with page indexes) of segment files, and their small bloom filters, kept
/// between lookups: segment files never change once written. Bounded: past
/// [`Footers::with_limit`] bytes of footers, the least recently used file's footer and
/// bloom filters are dropped (a footer takes ~44 KB of memory per 32 k-row group, so a
/// lake of billions of events would not fit; docs/SCALING.md).
#[derive(Debug)]
pub struct Footers {
    by_path: SizedLru<PathBuf, Footer>,
    /// Bloom filters of at most [`CACHED_BLOOM_BYTES`] by (file, row group, leaf): a
    /// rare value looked up over all history checks every row group's filter, and
    /// reading each from the file cost ~20 µs. eventID's filters (~64 KiB a row group)
    /// are read when needed instead, so the cache stays a few KiB per row group.
    blooms: Mutex<HashMap<BloomKey, Option<Arc<Sbbf>>>>,
    /// The files' token indexes ([`crate::direct::token_index`]), shared with the SQL table.
    tokens: Arc<TokenCache>,
}

/// A bloom filter's place: (segment file, row group, leaf column).
pub(super) type BloomKey = (PathBuf, usize, usize);

/// A cached footer.
#[derive(Debug, Clone)]
pub(super) struct Footer {
    meta: ArrowReaderMetadata,
    leaves: Arc<Leaves>,
}

/// Leaf column index by dotted path, worked out once per footer.
pub(crate) type Leaves = HashMap<String, usize>;

/// Default bound of [`Footers`]: 256 MiB, the footers of ~6,000 row groups (~200 M
/// events).
pub const DEFAULT_FOOTER_CACHE_BYTES: usize = 256 << 20;

impl Default for Footers {
    fn default() -> Self {
        Self::with_limit(DEFAULT_FOOTER_CACHE_BYTES)
    }
}

/// Largest bloom filter [`Footers`] keeps in memory.
pub(super) const CACHED_BLOOM_BYTES: u64 = 16 * 1024;

impl Footers {
    /// An empty cache keeping at most `limit` bytes of footers (always the newest one).
    pub fn with_limit(limit: usize) -> Self {
        Self {
            by_path: SizedLru::new(limit),
            blooms: Mutex::default(),
            tokens: Arc::default(),
        }
    }

    /// The token indexes of the files, kept as their footers are.
    pub fn tokens(&self) -> &Arc<TokenCache> {
        &self.tokens
    }

    /// Files whose footers are cached, and their bytes in memory.
    pub fn cached(&self) -> (usize, usize) {
        self.by_path.cached()
    }

    /// The footer of the file at `path` and its leaf columns by path, and the file
    /// when it had to be opened (by `open`) to read the footer.
    pub(super) fn get(
        &self,
        path: &Path,
        open: impl FnOnce() -> Result<File>,
    ) -> Result<(ArrowReaderMetadata, Arc<Leaves>, Option<File>)> {
        if let Some(f) = self.by_path.get(path) {
            return Ok((f.meta, f.leaves, None));
        }
        let file = open()?;
        // The offset index (where each page starts) lets a row selection skip pages;
        // the column index (per-page min/max, large for strings) would only cost parsing.
        let options = ArrowReaderOptions::new()
            .with_offset_index_policy(PageIndexPolicy::Optional)
            .with_column_index_policy(PageIndexPolicy::Skip);
        let meta =
            ArrowReaderMetadata::load(&file, options).map_err(|source| StoreError::Parquet {
                path: path.to_path_buf(),
                source,
            })?;
        let leaves: Arc<Leaves> = Arc::new(
            meta.metadata()
                .file_metadata()
                .schema_descr()
                .columns()
                .iter()
                .enumerate()
                .map(|(i, c)| (c.path().string(), i))
                .collect(),
        );
        self.insert(path, meta.clone(), leaves.clone());
        Ok((meta, leaves, Some(file)))
    }

    /// Caches `meta`, then drops the least recently used footers (and their bloom
    /// filters) while over the limit.
    pub(super) fn insert(&self, path: &Path, meta: ArrowReaderMetadata, leaves: Arc<Leaves>) {
        let bytes = meta.metadata().memory_size();
        let evicted = self
            .by_path
            .insert(path.to_path_buf(), Footer { meta, leaves }, bytes);
        if !evicted.is_empty() {
            relock(&self.blooms).retain(|(p, _, _), _| !evicted.contains(p));
        }
    }

    /// The bloom filter of leaf column `leaf` in row group `rg` of `o`, if it has one.
    pub(super) fn bloom(&self, o: &Opened, rg: usize, leaf: usize) -> Result<Option<Arc<Sbbf>>> {
        let key = (o.path.clone(), rg, leaf);
        if let Some(b) = relock(&self.blooms).get(&key) {
            return Ok(b.clone());
        }
        let bloom = o
            .builder(&o.meta)?
            .get_row_group_column_bloom_filter(rg, leaf)
            .map_err(|e| o.parquet_err(e))?
            .map(Arc::new);
        let column = o.meta.metadata().row_group(rg).column(leaf);
        let small = column
            .bloom_filter_length()
            .is_some_and(|n| u64::try_from(n).is_ok_and(|n| n <= CACHED_BLOOM_BYTES));
        if small || bloom.is_none() {
            relock(&self.blooms).insert(key, bloom.clone());
        }
        Ok(bloom)
    }

    /// Forgets the footers of files no longer in `segments` (compacted away).
    pub(super) fn retain(&self, lake: &Path, segments: &[Segment]) {
        if self.by_path.cached().0 > 2 * segments.len() + 16 {
            let live: std::collections::HashSet<PathBuf> =
                segments.iter().map(|s| lake.join(&s.path)).collect();
            self.by_path.retain(|p| live.contains(p));
            relock(&self.blooms).retain(|(p, _, _), _| live.contains(p));
            let live: std::collections::HashSet<&str> =
                segments.iter().map(|s| s.path.as_str()).collect();
            self.tokens.retain(|p| live.contains(p));
        }
    }
}

/// A cache's map, also after a panic elsewhere while it was held (entries are only
/// ever inserted whole, so what it holds stays valid).
pub(super) fn relock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

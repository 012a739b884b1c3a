//! [`Catalog`]: one node's view of the catalog. The node's own part — integrity
//! verdicts ([`crate::integrity`]) — is in its `catalog.db`; the table's part
//! goes through a [`TableCatalog`]: the same file ([`SqliteTable`]) or PostgreSQL
//! ([`PgCatalog`]), chosen once when the catalog is opened.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::Connection;

use crate::error::{CatalogError, Result};
use crate::postgres::PgCatalog;
use crate::sqlite::{SqliteTable, open_file, sql_error};
use crate::table::{DayGuard, NewSegment, Segment, SourceObject, TableCatalog};

/// An open catalog: the node's file and the table's part.
pub struct Catalog {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    table: Arc<dyn TableCatalog>,
    shared: bool,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("path", &self.path)
            .field("table", &self.table)
            .finish()
    }
}

impl Catalog {
    /// Opens (creating if needed) the catalog at `path`, the table's part in the
    /// same file.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, None)
    }

    /// Opens the node's catalog at `path` with the table's part in `postgres`, when
    /// given (else in the same file).
    pub fn open_with(path: &Path, postgres: Option<Arc<PgCatalog>>) -> Result<Self> {
        let conn = open_file(path)?;
        let shared = postgres.is_some();
        let table: Arc<dyn TableCatalog> = match postgres {
            Some(pg) => pg,
            None => Arc::new(SqliteTable::new(path)),
        };
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            table,
            shared,
        })
    }

    /// Whether the table's part is shared with other nodes (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// The table's part of the catalog.
    pub fn table(&self) -> &dyn TableCatalog {
        self.table.as_ref()
    }

    /// A handle on the table's part, to keep beside this catalog.
    pub fn table_handle(&self) -> Arc<dyn TableCatalog> {
        self.table.clone()
    }

    pub(crate) fn err(&self) -> impl Fn(rusqlite::Error) -> CatalogError + '_ {
        sql_error(&self.path)
    }

    /// Sets the size a listed segment is recorded with, for tests that rewrite a
    /// segment's file in place (a catalog whose table is in this file only).
    #[cfg(feature = "testing")]
    pub fn set_segment_bytes(&self, path: &str, bytes: u64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE segments SET bytes = ?1 WHERE path = ?2",
                rusqlite::params![bytes as i64, path],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// The remote location of the lake's segments (`[lake] url`), once set.
    pub fn lake_url(&self) -> Result<Option<String>> {
        self.table.meta("lake_url")
    }

    /// Whether `url` may be this data directory's lake location, and whether it is new
    /// to it. Refused when another location is recorded, or when segments were written
    /// before without one (they are not in the remote location, and readers on other
    /// machines would not find them).
    pub fn check_lake_url(&self, url: &str) -> Result<bool> {
        if let Some(current) = self.lake_url()? {
            if current == url {
                return Ok(false);
            }
            return Err(CatalogError::Invalid(format!(
                "{} keeps its segments at {current}; it cannot move to {url}",
                self.table.holder()
            )));
        }
        let segments = self.table.segment_count()?;
        if segments > 0 {
            return Err(CatalogError::Invalid(format!(
                "{} already holds {segments} segments written locally; a lake location \
                 ({url}) can only be set on a new data directory",
                self.table.holder()
            )));
        }
        Ok(true)
    }

    /// Records the lake location (checked by [`Catalog::check_lake_url`]) and the
    /// identity of the data directory that writes it. What another node recorded
    /// first stays; a different location is refused.
    pub fn set_lake_url(&self, url: &str, writer_id: &str) -> Result<()> {
        let (recorded, _) = self.table.set_lake(url, writer_id)?;
        if recorded != url {
            return Err(CatalogError::Invalid(format!(
                "{} keeps its segments at {recorded}; this node is configured with {url}",
                self.table.holder()
            )));
        }
        Ok(())
    }

    /// The identity of the data directory that writes the lake location, if set.
    pub fn lake_writer_id(&self) -> Result<Option<String>> {
        self.table.meta("lake_writer")
    }

    /// Every segment, oldest day first.
    pub fn segments(&self) -> Result<Vec<Segment>> {
        self.table.segments()
    }

    /// The key blobs of every segment of `day`.
    pub fn day_keys(&self, day: i32) -> Result<Vec<(i64, Vec<u8>)>> {
        self.table.day_keys_after(day, i64::MIN)
    }

    /// The key blobs of the segments of `day` whose id is above `after`.
    pub fn day_keys_after(&self, day: i32, after: i64) -> Result<Vec<(i64, Vec<u8>)>> {
        self.table.day_keys_after(day, after)
    }

    /// The recorded state of a source object.
    pub fn source(&self, location: &str) -> Result<Option<SourceObject>> {
        self.table.source(location)
    }

    /// Every recorded source object whose location starts with `prefix`, in order.
    pub fn sources_under(&self, prefix: &str) -> Result<Vec<SourceObject>> {
        self.table.sources_under(prefix)
    }

    /// Recorded source objects under `prefix` that were not taken whole (partial,
    /// rejected, quarantined, failed), newest first, at most `limit`.
    pub fn troubled_sources(&self, prefix: &str, limit: usize) -> Result<Vec<SourceObject>> {
        self.table.troubled_sources(prefix, limit)
    }

    /// Registers new segments and source objects, and retires old segments, in one
    /// transaction: all of it becomes visible at once or none of it does. New events
    /// (`fresh`, an ingest commit) also join the detection queue in that transaction
    /// while a detector is registered ([`TableCatalog::claim_detector`]). `guards` are the
    /// keys the writer checked per day (see [`TableCatalog::commit`]). Returns the
    /// ids given to the new segments.
    pub fn commit(
        &mut self,
        added: &[NewSegment],
        retired: &[i64],
        sources: &[SourceObject],
        fresh: bool,
        guards: &[DayGuard<'_>],
    ) -> Result<Vec<i64>> {
        self.table.commit(added, retired, sources, fresh, guards)
    }

    /// Source objects taken so far, by status: (status, objects, records, errors).
    pub fn source_counts(&self) -> Result<Vec<(String, u64, u64, u64)>> {
        self.table.source_counts()
    }
}

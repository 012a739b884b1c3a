//! The node's SQLite catalog: which Parquet segments make up the table, their dedup
//! keys, which source objects were already taken (what integrity checks found about
//! them is in [`crate::integrity`], what live detection keeps in [`crate::detection`]).
//!
//! WAL mode with `synchronous=FULL`: a committed transaction survives power loss. The
//! catalog is the truth: a Parquet file it does not list is never read.
//!
//! With a shared catalog (`[catalog] url`, [`crate::postgres`]) the table's part — the
//! lake location, segments, event keys and source checkpoints — lives in PostgreSQL,
//! and the methods below that read or write it go there; the rest stays in this file.

use crate::schema::SCHEMA;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{CatalogError, Result};
use crate::postgres::PgCatalog;

/// One Parquet segment as the catalog lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Catalog id.
    pub id: i64,
    /// Days since the Unix epoch.
    pub day: i32,
    /// Path relative to the lake root (`events/day=…/….parquet`).
    pub path: String,
    /// Row count.
    pub rows: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// Smallest and largest `eventTime` (µs).
    pub min_time: i64,
    /// See `min_time`.
    pub max_time: i64,
    /// Sorted distinct accounts in the segment.
    pub accounts: Vec<String>,
    /// Sorted distinct regions in the segment.
    pub regions: Vec<String>,
}

/// A segment about to be registered (no id yet).
#[derive(Debug, Clone)]
pub struct NewSegment {
    /// Everything but the id (ignored).
    pub segment: Segment,
    /// Its sorted event keys, 16 bytes little-endian each.
    pub keys: Vec<u8>,
}

/// What is recorded about one source object after it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceObject {
    /// File path or URL.
    pub location: String,
    /// Size in bytes.
    pub size: Option<u64>,
    /// Modification time (seconds) for files.
    pub mtime: Option<i64>,
    /// ETag for S3 objects.
    pub etag: Option<String>,
    /// `done` (all records taken), `partial` (some records rejected), `rejected`,
    /// `skipped` (a digest or another service's file).
    pub status: String,
    /// Records read.
    pub records: u64,
    /// Records or entries rejected.
    pub errors: u64,
    /// Why, when not `done`.
    pub reason: Option<String>,
}

/// What a writer checked a day's new keys against: the key sets of that day's
/// segments up to id `after`. Under the day's lock, a shared catalog refuses the
/// commit when a segment listed since holds one of `keys` (sorted).
#[derive(Debug, Clone, Copy)]
pub struct DayGuard<'a> {
    /// Days since the Unix epoch.
    pub day: i32,
    /// The newest segment id of that day the writer knew.
    pub after: i64,
    /// The new keys of that day, sorted.
    pub keys: &'a [u128],
}

/// An open catalog connection.
pub struct Catalog {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    /// The shared catalog holding the table's part, if any.
    pub(crate) postgres: Option<Arc<PgCatalog>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").field("path", &self.path).finish()
    }
}

fn source_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SourceObject> {
    Ok(SourceObject {
        location: r.get(0)?,
        size: r.get::<_, Option<i64>>(1)?.map(|v| v as u64),
        mtime: r.get(2)?,
        etag: r.get(3)?,
        status: r.get(4)?,
        records: r.get::<_, i64>(5)? as u64,
        errors: r.get::<_, i64>(6)? as u64,
        reason: r.get(7)?,
    })
}

/// The columns [`segment_row`] reads, in order.
pub(crate) const SEGMENT_COLUMNS: &str =
    "segments.id, day, path, rows, bytes, min_time, max_time, accounts, regions";

pub(crate) fn segment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Segment> {
    Ok(Segment {
        id: r.get(0)?,
        day: r.get(1)?,
        path: r.get(2)?,
        rows: r.get::<_, i64>(3)? as u64,
        bytes: r.get::<_, i64>(4)? as u64,
        min_time: r.get(5)?,
        max_time: r.get(6)?,
        accounts: split(r.get(7)?),
        regions: split(r.get(8)?),
    })
}

pub(crate) fn join(v: &[String]) -> String {
    v.join(",")
}

pub(crate) fn split(s: String) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(',').map(str::to_string).collect()
    }
}

/// Maps SQLite errors of the catalog file at `path` (a free function, so it can
/// borrow the path while a transaction borrows the connection).
pub(crate) fn sql_error(path: &Path) -> impl Fn(rusqlite::Error) -> CatalogError + '_ {
    move |source| CatalogError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

impl Catalog {
    /// Opens (creating if needed) the catalog at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let err = &sql_error(path);
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            postgres: None,
        })
    }

    /// Opens the node's catalog at `path` with the table's part in `postgres`, when
    /// given.
    pub fn open_with(path: &Path, postgres: Option<Arc<PgCatalog>>) -> Result<Self> {
        Ok(Self {
            postgres,
            ..Self::open(path)?
        })
    }

    /// The PostgreSQL catalog, if the table's part lives in one.
    pub fn postgres(&self) -> Option<&PgCatalog> {
        self.postgres.as_deref()
    }

    pub(crate) fn err(&self) -> impl Fn(rusqlite::Error) -> CatalogError + '_ {
        sql_error(&self.path)
    }

    /// Sets the size a listed segment is recorded with, for tests that rewrite a
    /// segment's file in place (this node's SQLite catalog only).
    #[cfg(feature = "testing")]
    pub fn set_segment_bytes(&self, path: &str, bytes: u64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE segments SET bytes = ?1 WHERE path = ?2",
                params![bytes as i64, path],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// The remote location of the lake's segments (`[lake] url`), once set.
    pub fn lake_url(&self) -> Result<Option<String>> {
        if let Some(shared) = &self.postgres {
            return shared.meta("lake_url");
        }
        self.conn
            .query_row("SELECT value FROM meta WHERE key = 'lake_url'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.err())
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
                self.holder()
            )));
        }
        let segments: i64 = match &self.postgres {
            Some(shared) => shared.segment_count()?,
            None => self
                .conn
                .query_row("SELECT count(*) FROM segments", [], |r| r.get(0))
                .map_err(self.err())?,
        };
        if segments > 0 {
            return Err(CatalogError::Invalid(format!(
                "{} already holds {segments} segments written locally; a lake location \
                 ({url}) can only be set on a new data directory",
                self.holder()
            )));
        }
        Ok(true)
    }

    /// What holds the table's catalog, for messages.
    fn holder(&self) -> String {
        match &self.postgres {
            Some(shared) => format!("the shared catalog {}", shared.shown_url()),
            None => "this data directory".to_string(),
        }
    }

    /// Records the lake location (checked by [`Catalog::check_lake_url`]) and the
    /// identity of the data directory that writes it. A shared catalog keeps what
    /// another node recorded first, and refuses when its location differs.
    pub fn set_lake_url(&self, url: &str, writer_id: &str) -> Result<()> {
        if let Some(shared) = &self.postgres {
            let (recorded, _) = shared.set_lake(url, writer_id)?;
            if recorded != url {
                return Err(CatalogError::Invalid(format!(
                    "the shared catalog {} keeps its segments at {recorded}; this node is \
                     configured with {url}",
                    shared.shown_url()
                )));
            }
            return Ok(());
        }
        self.conn
            .execute(
                "INSERT INTO meta(key, value) VALUES ('lake_url', ?1), ('lake_writer', ?2)",
                params![url, writer_id],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// The identity of the data directory that writes the lake location, if set.
    pub fn lake_writer_id(&self) -> Result<Option<String>> {
        if let Some(shared) = &self.postgres {
            return shared.meta("lake_writer");
        }
        self.conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'lake_writer'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())
    }

    /// Every segment, oldest day first.
    pub fn segments(&self) -> Result<Vec<Segment>> {
        if let Some(shared) = &self.postgres {
            return shared.segments();
        }
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SEGMENT_COLUMNS} FROM segments ORDER BY day, id"
            ))
            .map_err(self.err())?;
        let rows = stmt.query_map([], segment_row).map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    /// The key blobs of every segment of `day`.
    pub fn day_keys(&self, day: i32) -> Result<Vec<(i64, Vec<u8>)>> {
        if let Some(shared) = &self.postgres {
            return shared.day_keys_after(day, i64::MIN);
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT segment_id, keys FROM segment_keys WHERE day = ?1")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([day], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    /// The key blobs of the segments of `day` whose id is above `after`.
    pub fn day_keys_after(&self, day: i32, after: i64) -> Result<Vec<(i64, Vec<u8>)>> {
        if let Some(shared) = &self.postgres {
            return shared.day_keys_after(day, after);
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT segment_id, keys FROM segment_keys WHERE day = ?1 AND segment_id > ?2",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![day, after], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    /// The recorded state of a source object.
    pub fn source(&self, location: &str) -> Result<Option<SourceObject>> {
        if let Some(shared) = &self.postgres {
            return shared.source(location);
        }
        self.conn
            .query_row(
                "SELECT location, size, mtime, etag, status, records, errors, reason
                 FROM source_objects WHERE location = ?1",
                [location],
                source_row,
            )
            .optional()
            .map_err(self.err())
    }

    /// Every recorded source object whose location starts with `prefix`, in order.
    pub fn sources_under(&self, prefix: &str) -> Result<Vec<SourceObject>> {
        self.sources_where(prefix, "TRUE")
    }

    /// Recorded source objects under `prefix` that were not taken whole (partial,
    /// rejected, quarantined, failed), newest first, at most `limit`.
    pub fn troubled_sources(&self, prefix: &str, limit: usize) -> Result<Vec<SourceObject>> {
        let mut v = self.sources_where(
            prefix,
            "status NOT IN ('done', 'skipped', 'entry') ORDER BY ingested_at DESC, location",
        )?;
        v.truncate(limit);
        Ok(v)
    }

    fn sources_where(&self, prefix: &str, tail: &str) -> Result<Vec<SourceObject>> {
        // `location >= prefix AND location < prefix + U+10FFFF`: an index range scan.
        if let Some(shared) = &self.postgres {
            return shared.sources_where(prefix, tail);
        }
        let upper = format!("{prefix}\u{10FFFF}");
        let sql = format!(
            "SELECT location, size, mtime, etag, status, records, errors, reason
             FROM source_objects WHERE location >= ?1 AND location < ?2 AND {tail}"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(self.err())?;
        let rows = stmt
            .query_map(params![prefix, upper], source_row)
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    /// Registers new segments and source objects, and retires old segments, in one
    /// transaction: all of it becomes visible at once or none of it does. New events
    /// (`fresh`, an ingest commit) also join the detection queue in that transaction
    /// when live detection is on (see [`Catalog::set_detection`]).
    /// Returns the ids given to the new segments.
    ///
    /// `guards` matter to a shared catalog only, where several writers commit: this
    /// file has one writer at a time (the write lock), which checked its keys itself.
    pub fn commit(
        &mut self,
        added: &[NewSegment],
        retired: &[i64],
        sources: &[SourceObject],
        fresh: bool,
        guards: &[DayGuard<'_>],
    ) -> Result<Vec<i64>> {
        if let Some(shared) = &self.postgres {
            return shared.commit(added, retired, sources, fresh, guards);
        }
        let err = sql_error(&self.path);
        let now = chrono::Utc::now().timestamp();
        let tx = self.conn.transaction().map_err(&err)?;
        let mut ids = Vec::with_capacity(added.len());
        let detect = fresh
            && tx
                .query_row("SELECT value FROM meta WHERE key = 'detection'", [], |r| {
                    r.get::<_, String>(0)
                })
                .optional()
                .map_err(&err)?
                .is_some_and(|v| v == "on");
        {
            let mut seg = tx
                .prepare_cached(
                    "INSERT INTO segments(day, path, rows, bytes, min_time, max_time, accounts,
                     regions, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(&err)?;
            let mut keys = tx
                .prepare_cached(
                    "INSERT INTO segment_keys(segment_id, day, keys) VALUES (?1, ?2, ?3)",
                )
                .map_err(&err)?;
            for new in added {
                let s = &new.segment;
                seg.execute(params![
                    s.day,
                    s.path,
                    s.rows as i64,
                    s.bytes as i64,
                    s.min_time,
                    s.max_time,
                    join(&s.accounts),
                    join(&s.regions),
                    now
                ])
                .map_err(&err)?;
                let id = tx.last_insert_rowid();
                keys.execute(params![id, s.day, new.keys]).map_err(&err)?;
                if detect {
                    tx.execute("INSERT INTO detect_queue(segment_id) VALUES (?1)", [id])
                        .map_err(&err)?;
                }
                ids.push(id);
            }
            let mut del = tx
                .prepare_cached("DELETE FROM segments WHERE id = ?1")
                .map_err(&err)?;
            for id in retired {
                del.execute([id]).map_err(&err)?;
            }
            let mut src = tx
                .prepare_cached(
                    "INSERT INTO source_objects(location, size, mtime, etag, status, records,
                     errors, reason, ingested_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT(location) DO UPDATE SET size=excluded.size,
                     mtime=excluded.mtime, etag=excluded.etag, status=excluded.status,
                     records=excluded.records, errors=excluded.errors, reason=excluded.reason,
                     ingested_at=excluded.ingested_at",
                )
                .map_err(&err)?;
            for s in sources {
                src.execute(params![
                    s.location,
                    s.size.map(|v| v as i64),
                    s.mtime,
                    s.etag,
                    s.status,
                    s.records as i64,
                    s.errors as i64,
                    s.reason,
                    now
                ])
                .map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)?;
        Ok(ids)
    }

    /// Source objects taken so far, by status: (status, objects, records, errors).
    pub fn source_counts(&self) -> Result<Vec<(String, u64, u64, u64)>> {
        if let Some(shared) = &self.postgres {
            return shared.source_counts();
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT status, count(*), sum(records), sum(errors) FROM source_objects
                 GROUP BY status ORDER BY status",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, Option<i64>>(2)?.unwrap_or(0) as u64,
                    r.get::<_, Option<i64>>(3)?.unwrap_or(0) as u64,
                ))
            })
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(day: i32, path: &str) -> NewSegment {
        NewSegment {
            segment: Segment {
                id: 0,
                day,
                path: path.into(),
                rows: 3,
                bytes: 10,
                min_time: 1,
                max_time: 2,
                accounts: vec!["1".into(), "2".into()],
                regions: vec![],
            },
            keys: vec![7; 16],
        }
    }

    #[test]
    fn sources_by_prefix_and_trouble() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Catalog::open(&dir.path().join("c.db")).unwrap();
        let src = |location: &str, status: &str| SourceObject {
            location: location.into(),
            size: Some(1),
            mtime: None,
            etag: Some("e".into()),
            status: status.into(),
            records: 0,
            errors: 0,
            reason: (status != "done").then(|| format!("{status} because")),
        };
        c.commit(
            &[],
            &[],
            &[
                src("s3://a/k1", "done"),
                src("s3://a/k2", "quarantined"),
                src("s3://ab/k3", "failed"),
                src("s3://b/k4", "rejected"),
            ],
            false,
            &[],
        )
        .unwrap();
        let under: Vec<String> = c
            .sources_under("s3://a/")
            .unwrap()
            .into_iter()
            .map(|s| s.location)
            .collect();
        assert_eq!(
            under,
            ["s3://a/k1", "s3://a/k2"],
            "a prefix is not a bucket-name prefix"
        );
        let troubled = c.troubled_sources("s3://", 10).unwrap();
        assert_eq!(troubled.len(), 3);
        assert!(
            troubled
                .iter()
                .all(|s| s.status != "done" && s.reason.is_some())
        );
        assert_eq!(c.troubled_sources("s3://", 1).unwrap().len(), 1);
    }

    #[test]
    fn commit_registers_and_retires_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Catalog::open(&dir.path().join("c.db")).unwrap();
        let src = SourceObject {
            location: "/x".into(),
            size: Some(1),
            mtime: Some(2),
            etag: None,
            status: "done".into(),
            records: 3,
            errors: 0,
            reason: None,
        };
        let ids = c
            .commit(
                &[seg(5, "a"), seg(5, "b")],
                &[],
                std::slice::from_ref(&src),
                true,
                &[],
            )
            .unwrap();
        assert_eq!(c.segments().unwrap().len(), 2);
        assert_eq!(c.segments().unwrap()[0].accounts, vec!["1", "2"]);
        assert_eq!(c.day_keys(5).unwrap().len(), 2);
        assert_eq!(c.source("/x").unwrap(), Some(src));
        // A duplicate path fails the whole transaction: nothing of it is visible.
        assert!(
            c.commit(&[seg(6, "c"), seg(6, "a")], &[ids[0]], &[], false, &[])
                .is_err()
        );
        assert_eq!(c.segments().unwrap().len(), 2);
        c.commit(&[seg(6, "c")], &[ids[0]], &[], false, &[])
            .unwrap();
        let paths: Vec<String> = c.segments().unwrap().into_iter().map(|s| s.path).collect();
        assert_eq!(paths, vec!["b", "c"]);
        assert_eq!(c.day_keys(5).unwrap().len(), 1);
    }
}

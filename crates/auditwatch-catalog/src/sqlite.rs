//! The table's part of the catalog for one node: tables of the data directory's
//! `catalog.db` (`meta`, `segments`, `segment_keys`, `source_objects`,
//! `detect_queue`), through a connection of its own, opened on first use.
//!
//! One process writes a data directory at a time (the store's write lock), so the
//! day locks of [`TableCatalog::commit`] are the transaction itself (SQLite takes the
//! write lock for it); the guards and retirements are still checked, so that this
//! table answers as the shared one does.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use auditwatch_event::identity::Issued;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{CatalogError, Result};
use crate::keys::from_blob;
use crate::schema::SCHEMA;
use crate::sessions;
use crate::table::{
    DayGuard, NewSegment, Segment, SourceObject, TAKEN, TableCatalog, intersects, join, split,
};

/// The columns [`segment_row`] reads, in order.
const SEGMENT_COLUMNS: &str =
    "segments.id, day, path, rows, bytes, min_time, max_time, accounts, regions";

/// The columns [`source_row`] reads, in order.
const SOURCE_COLUMNS: &str = "location, size, mtime, etag, status, records, errors, reason";

/// The table's part of a data directory's `catalog.db`.
pub struct SqliteTable {
    path: PathBuf,
    conn: OnceLock<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteTable")
            .field("path", &self.path)
            .finish()
    }
}

/// Opens (creating if needed) the SQLite catalog at `path`: WAL, `synchronous=FULL`
/// (a committed transaction survives power loss), foreign keys on, the tables made.
pub(crate) fn open_file(path: &Path) -> Result<Connection> {
    let conn = connect(path)?;
    conn.execute_batch(SCHEMA).map_err(sql_error(path))?;
    Ok(conn)
}

/// A connection to the SQLite file at `path` as every module that keeps tables in it
/// opens one: WAL, `synchronous=FULL`, foreign keys on, 30 s of patience with a
/// writer that holds the lock.
pub fn connect(path: &Path) -> Result<Connection> {
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
    Ok(conn)
}

/// Maps SQLite errors of the catalog file at `path` (a free function, so it can
/// borrow the path while a transaction borrows the connection); for the other
/// modules that keep tables in the same file too.
pub fn sql_error(path: &Path) -> impl Fn(rusqlite::Error) -> CatalogError + '_ {
    move |source| CatalogError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

fn segment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Segment> {
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

/// Records issues of temporary keys in `tx` ([`sessions::upsert`]).
fn insert_sessions(tx: &rusqlite::Transaction<'_>, sessions: &[Issued]) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(&sessions::upsert("sessions", '?', "BINARY"))?;
    for i in sessions {
        let c = sessions::columns(&i.caller);
        insert.execute(params![
            i.access_key_id,
            i.call,
            i.session_arn,
            i.account,
            i.event_id,
            i.time_us,
            i.expires_us,
            i.source_identity,
            c.kind,
            c.name,
            c.provider,
            c.key,
            c.role_arn,
            c.source_identity
        ])?;
    }
    Ok(())
}

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Issued> {
    Ok(Issued {
        access_key_id: r.get(0)?,
        call: r.get(1)?,
        session_arn: r.get(2)?,
        account: r.get(3)?,
        event_id: r.get(4)?,
        time_us: r.get(5)?,
        expires_us: r.get(6)?,
        source_identity: r.get(7)?,
        caller: sessions::principal(
            &r.get::<_, String>(8)?,
            r.get(9)?,
            r.get(10)?,
            r.get(11)?,
            r.get(12)?,
            r.get(13)?,
        ),
    })
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

impl SqliteTable {
    /// The table of the catalog file at `path` (opened on first use).
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            conn: OnceLock::new(),
        }
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>> {
        if self.conn.get().is_none() {
            let opened = open_file(&self.path)?;
            // Another thread may have won; its connection serves as well.
            let _ = self.conn.set(Mutex::new(opened));
        }
        let lock = self.conn.get().expect("set above");
        // A connection is left consistent by a panic: SQLite rolls back what a
        // dropped transaction did not commit.
        Ok(lock.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> CatalogError + '_ {
        sql_error(&self.path)
    }

    /// Source objects under `prefix` (an index range scan:
    /// `location >= prefix AND location < prefix + U+10FFFF`), in location order.
    fn under(&self, prefix: &str) -> Result<Vec<SourceObject>> {
        let upper = format!("{prefix}\u{10FFFF}");
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {SOURCE_COLUMNS} FROM source_objects
                 WHERE location >= ?1 AND location < ?2 ORDER BY location"
            ))
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![prefix, upper], source_row)
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    fn write_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn()?
            .execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [key, value],
            )
            .map_err(self.err())?;
        Ok(())
    }
}

impl TableCatalog for SqliteTable {
    fn holder(&self) -> String {
        "this data directory".into()
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn()?
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.err())
    }

    fn set_lake(&self, url: &str, writer_id: &str) -> Result<(String, String)> {
        let mut conn = self.conn()?;
        let err = sql_error(&self.path);
        let tx = conn.transaction().map_err(&err)?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('lake_url', ?1), ('lake_writer', ?2)
             ON CONFLICT(key) DO NOTHING",
            params![url, writer_id],
        )
        .map_err(&err)?;
        let get = |k: &str| -> Result<String> {
            tx.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
                .map_err(&err)
        };
        let recorded = (get("lake_url")?, get("lake_writer")?);
        tx.commit().map_err(&err)?;
        Ok(recorded)
    }

    fn segment_count(&self) -> Result<i64> {
        self.conn()?
            .query_row("SELECT count(*) FROM segments", [], |r| r.get(0))
            .map_err(self.err())
    }

    fn segments(&self) -> Result<Vec<Segment>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {SEGMENT_COLUMNS} FROM segments ORDER BY day, id"
            ))
            .map_err(self.err())?;
        let rows = stmt.query_map([], segment_row).map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    fn day_keys_after(&self, day: i32, after: i64) -> Result<Vec<(i64, Vec<u8>)>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT segment_id, keys FROM segment_keys WHERE day = ?1 AND segment_id > ?2
                 ORDER BY segment_id",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![day, after], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    fn source(&self, location: &str) -> Result<Option<SourceObject>> {
        self.conn()?
            .query_row(
                &format!("SELECT {SOURCE_COLUMNS} FROM source_objects WHERE location = ?1"),
                [location],
                source_row,
            )
            .optional()
            .map_err(self.err())
    }

    fn sources_under(&self, prefix: &str) -> Result<Vec<SourceObject>> {
        self.under(prefix)
    }

    fn troubled_sources(&self, prefix: &str, limit: usize) -> Result<Vec<SourceObject>> {
        let upper = format!("{prefix}\u{10FFFF}");
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {SOURCE_COLUMNS} FROM source_objects
                 WHERE location >= ?1 AND location < ?2 AND status NOT IN (?3, ?4, ?5)
                 ORDER BY ingested_at DESC, location LIMIT ?6"
            ))
            .map_err(self.err())?;
        let rows = stmt
            .query_map(
                params![prefix, upper, TAKEN[0], TAKEN[1], TAKEN[2], limit as i64],
                source_row,
            )
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    fn digest_locations(&self) -> Result<Vec<String>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT location FROM source_objects WHERE location LIKE '%/CloudTrail-Digest/%'
                 ORDER BY location",
            )
            .map_err(self.err())?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    fn source_counts(&self) -> Result<Vec<(String, u64, u64, u64)>> {
        let conn = self.conn()?;
        let mut stmt = conn
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

    fn record_sessions(&self, sessions: &[Issued]) -> Result<()> {
        let mut conn = self.conn()?;
        let err = sql_error(&self.path);
        let tx = conn.transaction().map_err(&err)?;
        insert_sessions(&tx, sessions).map_err(&err)?;
        tx.commit().map_err(&err)
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.write_meta(key, value)
    }

    fn session(&self, access_key_id: &str) -> Result<Option<Issued>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {} FROM sessions WHERE access_key_id = ?1",
                sessions::COLUMNS
            ))
            .map_err(self.err())?;
        stmt.query_row([access_key_id], session_row)
            .optional()
            .map_err(self.err())
    }

    fn sessions_named(&self, session_arn: &str) -> Result<Vec<Issued>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {} FROM sessions WHERE session_arn = ?1 ORDER BY time_us DESC, access_key_id",
                sessions::COLUMNS
            ))
            .map_err(self.err())?;
        let rows = stmt
            .query_map([session_arn], session_row)
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    fn sessions_count(&self) -> Result<u64> {
        self.conn()?
            .query_row("SELECT count(*) FROM sessions", [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(self.err())
    }

    fn all_sessions(&self) -> Result<Vec<Issued>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(&format!("SELECT {} FROM sessions", sessions::COLUMNS))
            .map_err(self.err())?;
        let rows = stmt.query_map([], session_row).map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    fn sessions_between(&self, from_us: i64, to_us: i64) -> Result<Vec<Issued>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {} FROM sessions WHERE time_us >= ?1 AND time_us < ?2",
                sessions::COLUMNS
            ))
            .map_err(self.err())?;
        let rows = stmt
            .query_map([from_us, to_us], session_row)
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    fn sessions_reaching(&self, value: &str) -> Result<Vec<String>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "WITH RECURSIVE reach(k) AS (
                   SELECT access_key_id FROM sessions
                    WHERE substr(caller_name, length(rtrim(caller_name, replace(caller_name, '/', ''))) + 1) IN (?1, ?2)
                      AND (caller_name = ?1 OR substr(caller_name, length(rtrim(caller_name, replace(caller_name, '/', ''))) + 1) = ?1)
                   UNION SELECT access_key_id FROM sessions WHERE source_identity = ?1
                   UNION SELECT access_key_id FROM sessions WHERE caller_source_identity = ?1
                   UNION SELECT access_key_id FROM sessions
                    WHERE session_arn = ?1 AND caller_kind = 'Unknown'
                   UNION SELECT access_key_id FROM sessions
                    WHERE instr(CAST(caller_name AS BLOB), x'00') > 0
                   UNION
                   SELECT s.access_key_id FROM sessions s JOIN reach r ON s.caller_key = r.k
                 ) SELECT k FROM reach",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([value, crate::sessions::last_part(value)], |r| r.get(0))
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    fn replace_sessions(&self, dropped: &[String], copies: &[Issued]) -> Result<()> {
        let mut conn = self.conn()?;
        let err = sql_error(&self.path);
        let tx = conn.transaction().map_err(&err)?;
        {
            let mut delete = tx
                .prepare_cached("DELETE FROM sessions WHERE access_key_id = ?1")
                .map_err(&err)?;
            for key in dropped {
                delete.execute([key]).map_err(&err)?;
            }
        }
        insert_sessions(&tx, copies).map_err(&err)?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES (?1, '1')
             ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
            [crate::table::SESSIONS_GENERATION],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)
    }

    fn commit(
        &self,
        added: &[NewSegment],
        retired: &[i64],
        sources: &[SourceObject],
        fresh: bool,
        guards: &[DayGuard<'_>],
    ) -> Result<Vec<i64>> {
        let mut conn = self.conn()?;
        let err = sql_error(&self.path);
        let now = chrono::Utc::now().timestamp();
        // IMMEDIATE: the write lock from the start, so the checks below see what the
        // commit builds on.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&err)?;
        {
            let mut newer = tx
                .prepare_cached("SELECT keys FROM segment_keys WHERE day = ?1 AND segment_id > ?2")
                .map_err(&err)?;
            let mut clashing = std::collections::BTreeSet::new();
            for g in guards {
                let blobs = newer
                    .query_map(params![g.day, g.after], |r| r.get::<_, Vec<u8>>(0))
                    .map_err(&err)?;
                for blob in blobs {
                    if intersects(&from_blob(&blob.map_err(&err)?), g.keys) {
                        clashing.insert(g.day);
                        break;
                    }
                }
            }
            if !clashing.is_empty() {
                return Err(CatalogError::Conflict(format!(
                    "another writer stored some of these events first (days {clashing:?})"
                )));
            }
        }
        let detect = fresh
            && tx
                .query_row("SELECT value FROM meta WHERE key = 'detection'", [], |r| {
                    r.get::<_, String>(0)
                })
                .optional()
                .map_err(&err)?
                .is_some_and(|v| v == "on");
        let mut ids = Vec::with_capacity(added.len());
        {
            // Ids only grow, even past a retired newest segment (guards rely on it):
            // the highest id ever given is kept in `meta`, read before any retirement.
            let high: i64 = tx
                .query_row(
                    "SELECT max(coalesce((SELECT max(id) FROM segments), 0),
                                coalesce((SELECT CAST(value AS INTEGER) FROM meta
                                          WHERE key = 'segment_id_high'), 0))",
                    [],
                    |r| r.get(0),
                )
                .map_err(&err)?;
            let mut del = tx
                .prepare_cached("DELETE FROM segments WHERE id = ?1")
                .map_err(&err)?;
            let mut gone = 0;
            for id in retired {
                gone += del.execute([id]).map_err(&err)?;
            }
            if gone != retired.len() {
                return Err(CatalogError::Conflict(format!(
                    "{} of the {} segments to retire were retired by another writer",
                    retired.len() - gone,
                    retired.len()
                )));
            }
            let mut seg = tx
                .prepare_cached(
                    "INSERT INTO segments(id, day, path, rows, bytes, min_time, max_time,
                     accounts, regions, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(&err)?;
            let mut keys = tx
                .prepare_cached(
                    "INSERT INTO segment_keys(segment_id, day, keys) VALUES (?1, ?2, ?3)",
                )
                .map_err(&err)?;
            for (n, new) in added.iter().enumerate() {
                let s = &new.segment;
                let id = high + 1 + n as i64;
                seg.execute(params![
                    id,
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
                keys.execute(params![id, s.day, new.keys]).map_err(&err)?;
                insert_sessions(&tx, &new.sessions).map_err(&err)?;
                if detect {
                    tx.execute("INSERT INTO detect_queue(segment_id) VALUES (?1)", [id])
                        .map_err(&err)?;
                }
                ids.push(id);
            }
            if !added.is_empty() || !retired.is_empty() {
                tx.execute(
                    "INSERT INTO meta(key, value) VALUES ('segment_id_high', ?1)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [(high + added.len() as i64).to_string()],
                )
                .map_err(&err)?;
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

    fn claim_detector(&self, node: &str) -> Result<String> {
        // One node per file: the claim always holds.
        self.write_meta("detection", "on")?;
        Ok(node.to_string())
    }

    fn release_detector(&self, _node: &str) -> Result<()> {
        let mut conn = self.conn()?;
        let err = sql_error(&self.path);
        let tx = conn.transaction().map_err(&err)?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('detection', 'off')
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [],
        )
        .map_err(&err)?;
        tx.execute("DELETE FROM detect_queue", []).map_err(&err)?;
        tx.commit().map_err(&err)
    }

    fn detection_queue(&self, limit: usize) -> Result<Vec<Segment>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {SEGMENT_COLUMNS} FROM detect_queue JOIN segments
                 ON segments.id = detect_queue.segment_id ORDER BY segments.id LIMIT ?1"
            ))
            .map_err(self.err())?;
        stmt.query_map([limit as i64], segment_row)
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())
    }

    fn queued_ids(&self) -> Result<Vec<i64>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached("SELECT segment_id FROM detect_queue ORDER BY segment_id")
            .map_err(self.err())?;
        stmt.query_map([], |r| r.get(0))
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())
    }

    fn dequeue(&self, ids: &[i64]) -> Result<()> {
        let mut conn = self.conn()?;
        let err = sql_error(&self.path);
        let tx = conn.transaction().map_err(&err)?;
        {
            let mut del = tx
                .prepare_cached("DELETE FROM detect_queue WHERE segment_id = ?1")
                .map_err(&err)?;
            for id in ids {
                del.execute([id]).map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)
    }
}

//! The shared catalog of several nodes (`[catalog] url = "postgres://…"`): the table's
//! part of the catalog — the lake location, the segments, their event keys and the
//! source checkpoints — in PostgreSQL, so that several ingest workers and query nodes
//! see one table. Everything else a node keeps (integrity verdicts, alert state,
//! Contact-form messages) stays in its own `catalog.db`.
//!
//! What makes several writers safe:
//! - **A lock per event day.** A commit takes a transaction-scoped advisory lock on
//!   every day it adds to or retires from, in ascending order (so two commits cannot
//!   deadlock). Commits on different days never wait for each other.
//! - **Keys checked under the lock.** A writer drops duplicates against the key sets
//!   it loaded; under the day's lock the commit reads the key sets of the segments
//!   listed for that day since then (segment ids only grow, and a day's segments are
//!   only added under its lock) and refuses with [`CatalogError::Conflict`] when one of
//!   its keys is among them. The writer then reads those segments' keys and tries again.
//! - **Retiring is checked.** A compaction or retention commit whose segments another
//!   node retired first is refused the same way.
//!
//! Live detection runs on one node, the one that claimed it (`detector` in the meta
//! table): while a detector is registered, ingest commits queue their segments in
//! `auditwatch_detect_queue` in the same transaction, as the one-node catalog does.
//!
//! The pool, and keeping the synchronous client off the async runtime, come from
//! `auditwatch-postgres`.

use std::collections::BTreeSet;
use std::sync::Arc;

use auditwatch_event::identity::Issued;
use auditwatch_postgres::{Pool, describe, off_runtime, postgres};

use crate::error::{CatalogError, Result};
use crate::keys::from_blob;
use crate::sessions;
use crate::table::{
    DayGuard, NewSegment, Segment, SourceObject, TAKEN, TableCatalog, intersects, join, split,
};

/// The tables, created by the first node that connects (under [`SCHEMA_LOCK`]).
/// Source locations compare byte by byte (`COLLATE "C"`), as in SQLite: the prefix
/// ranges of [`PgCatalog::sources_under`] then hold whatever the database's locale, and
/// the primary key serves them.
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS auditwatch_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS auditwatch_segments(
    id BIGSERIAL PRIMARY KEY,
    day INTEGER NOT NULL,
    path TEXT NOT NULL UNIQUE,
    rows BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    min_time BIGINT NOT NULL,
    max_time BIGINT NOT NULL,
    accounts TEXT NOT NULL,
    regions TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS auditwatch_segments_day ON auditwatch_segments(day);
CREATE TABLE IF NOT EXISTS auditwatch_segment_keys(
    segment_id BIGINT PRIMARY KEY REFERENCES auditwatch_segments(id) ON DELETE CASCADE,
    day INTEGER NOT NULL,
    keys BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS auditwatch_segment_keys_day
    ON auditwatch_segment_keys(day, segment_id);
CREATE TABLE IF NOT EXISTS auditwatch_sources(
    location TEXT COLLATE "C" PRIMARY KEY,
    size BIGINT,
    mtime BIGINT,
    etag TEXT,
    status TEXT NOT NULL,
    records BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    reason TEXT,
    ingested_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS auditwatch_detect_queue(
    segment_id BIGINT PRIMARY KEY REFERENCES auditwatch_segments(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS auditwatch_sessions(
    access_key_id TEXT COLLATE "C" PRIMARY KEY,
    call TEXT NOT NULL,
    session_arn TEXT,
    account TEXT,
    event_id TEXT,
    time_us BIGINT NOT NULL,
    expires_us BIGINT,
    source_identity TEXT,
    caller_kind TEXT NOT NULL,
    caller_name TEXT NOT NULL,
    caller_provider TEXT,
    caller_key TEXT,
    caller_role_arn TEXT,
    caller_source_identity TEXT
);
CREATE INDEX IF NOT EXISTS auditwatch_sessions_by_caller_key
    ON auditwatch_sessions(caller_key) WHERE caller_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS auditwatch_sessions_by_caller_last
    ON auditwatch_sessions((regexp_replace(caller_name, '^.*/', '')));
CREATE INDEX IF NOT EXISTS auditwatch_sessions_by_source_identity
    ON auditwatch_sessions(source_identity) WHERE source_identity IS NOT NULL;
CREATE INDEX IF NOT EXISTS auditwatch_sessions_by_caller_source_identity
    ON auditwatch_sessions(caller_source_identity) WHERE caller_source_identity IS NOT NULL;
CREATE INDEX IF NOT EXISTS auditwatch_sessions_by_unknown_caller
    ON auditwatch_sessions(session_arn) WHERE caller_kind = 'Unknown';
"#;

/// Advisory lock key serialising schema creation between nodes starting together.
const SCHEMA_LOCK: i64 = 0x4155_4449_5457_0001;
/// First half of the advisory lock key of an event day (the second is the day).
const DAY_LOCK: i32 = 0x4157_4459;

/// A connection pool to the shared catalog.
pub struct PgCatalog {
    /// The URL without its password, for messages.
    shown: String,
    pool: Pool,
}

impl std::fmt::Debug for PgCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCatalog")
            .field("url", &self.shown)
            .finish()
    }
}

/// What failed inside a catalog call.
enum Failure {
    Db(postgres::Error),
    Store(CatalogError),
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Failure::Db(e)
    }
}

type Step<T> = std::result::Result<T, Failure>;

pub use auditwatch_postgres::redact;

impl PgCatalog {
    /// Connects to the catalog at `url` (`postgres://user[:password]@host[:port]/db`)
    /// and creates its tables if they are missing. Fails, naming the URL without its
    /// password, when the server cannot be reached within 15 seconds. `password`, when
    /// given, replaces one in the URL.
    pub fn connect(url: &str, password: Option<&str>) -> Result<Arc<Self>> {
        let pool = auditwatch_postgres::connect(url, password).map_err(|e| match e {
            auditwatch_postgres::ConnectError::BadUrl { .. } => {
                CatalogError::Invalid(e.to_string())
            }
            auditwatch_postgres::ConnectError::Unreachable { url, reason } => {
                CatalogError::Postgres {
                    url,
                    message: format!("cannot connect: {reason}"),
                }
            }
        })?;
        let shared = Arc::new(Self {
            shown: redact(url),
            pool,
        });
        shared.run("create the tables", |c| {
            Ok(auditwatch_postgres::ensure_schema(c, SCHEMA_LOCK, SCHEMA)?)
        })?;
        Ok(shared)
    }

    /// The URL without its password.
    pub fn shown_url(&self) -> &str {
        &self.shown
    }

    /// Runs `f` with a pooled connection, off any tokio runtime.
    fn run<T: Send>(
        &self,
        what: &str,
        f: impl FnOnce(&mut postgres::Client) -> Step<T> + Send,
    ) -> Result<T> {
        let go = || -> Result<T> {
            let mut conn = self.pool.get().map_err(|e| CatalogError::Postgres {
                url: self.shown.clone(),
                message: format!("{what}: no connection: {e}"),
            })?;
            f(&mut conn).map_err(|e| match e {
                Failure::Db(e) => CatalogError::Postgres {
                    url: self.shown.clone(),
                    message: format!("{what}: {}", describe(&e)),
                },
                Failure::Store(e) => e,
            })
        };
        off_runtime(go)
    }
}

impl TableCatalog for PgCatalog {
    fn holder(&self) -> String {
        format!("the shared catalog {}", self.shown)
    }

    /// A value of the meta table.
    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.run("read meta", |c| {
            Ok(
                c.query_opt("SELECT value FROM auditwatch_meta WHERE key = $1", &[&key])?
                    .map(|r| r.get(0)),
            )
        })
    }

    /// Records the lake location and its writer identity unless another node recorded
    /// them first; returns what is recorded.
    fn set_lake(&self, url: &str, writer_id: &str) -> Result<(String, String)> {
        self.run("record the lake location", |c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "INSERT INTO auditwatch_meta(key, value) VALUES ('lake_url', $1), \
                 ('lake_writer', $2) ON CONFLICT (key) DO NOTHING",
                &[&url, &writer_id],
            )?;
            let get = |tx: &mut postgres::Transaction<'_>, k: &str| -> Step<String> {
                Ok(tx
                    .query_one("SELECT value FROM auditwatch_meta WHERE key = $1", &[&k])?
                    .get(0))
            };
            let recorded = (get(&mut tx, "lake_url")?, get(&mut tx, "lake_writer")?);
            tx.commit()?;
            Ok(recorded)
        })
    }

    /// Registers `node` as the one node that runs live detection (or finds it is
    /// already); returns the node that is registered.
    fn claim_detector(&self, node: &str) -> Result<String> {
        self.run("register the detector", |c| {
            c.execute(
                "INSERT INTO auditwatch_meta(key, value) VALUES ('detector', $1) \
                 ON CONFLICT (key) DO NOTHING",
                &[&node],
            )?;
            Ok(c.query_one(
                "SELECT value FROM auditwatch_meta WHERE key = 'detector'",
                &[],
            )?
            .get(0))
        })
    }

    /// Unregisters `node` as the detector, if it is, and empties the queue.
    fn release_detector(&self, node: &str) -> Result<()> {
        self.run("unregister the detector", |c| {
            let mut tx = c.transaction()?;
            let n = tx.execute(
                "DELETE FROM auditwatch_meta WHERE key = 'detector' AND value = $1",
                &[&node],
            )?;
            if n > 0 {
                tx.execute("DELETE FROM auditwatch_detect_queue", &[])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Segments waiting for detection, oldest first.
    fn detection_queue(&self, limit: usize) -> Result<Vec<Segment>> {
        let limit = limit as i64;
        self.run("read the detection queue", |c| {
            let rows = c.query(
                "SELECT s.id, day, path, rows, bytes, min_time, max_time, accounts, regions \
                 FROM auditwatch_detect_queue q JOIN auditwatch_segments s \
                 ON s.id = q.segment_id ORDER BY s.id LIMIT $1",
                &[&limit],
            )?;
            Ok(rows.iter().map(segment_from).collect())
        })
    }

    /// Ids of the segments waiting for detection.
    fn queued_ids(&self) -> Result<Vec<i64>> {
        self.run("read the detection queue", |c| {
            Ok(c.query(
                "SELECT segment_id FROM auditwatch_detect_queue ORDER BY segment_id",
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    /// Takes segments off the detection queue.
    fn dequeue(&self, ids: &[i64]) -> Result<()> {
        self.run("update the detection queue", |c| {
            c.execute(
                "DELETE FROM auditwatch_detect_queue WHERE segment_id = ANY($1)",
                &[&ids],
            )?;
            Ok(())
        })
    }

    /// Segments listed.
    fn segment_count(&self) -> Result<i64> {
        self.run("count segments", |c| {
            Ok(
                c.query_one("SELECT count(*) FROM auditwatch_segments", &[])?
                    .get(0),
            )
        })
    }

    /// Every segment, oldest day first.
    fn segments(&self) -> Result<Vec<Segment>> {
        self.run("list segments", |c| {
            let rows = c.query(
                "SELECT id, day, path, rows, bytes, min_time, max_time, accounts, regions \
                 FROM auditwatch_segments ORDER BY day, id",
                &[],
            )?;
            Ok(rows.iter().map(segment_from).collect())
        })
    }

    /// The key blobs of the segments of `day` whose id is above `after`.
    fn day_keys_after(&self, day: i32, after: i64) -> Result<Vec<(i64, Vec<u8>)>> {
        self.run("read event keys", |c| {
            let rows = c.query(
                "SELECT segment_id, keys FROM auditwatch_segment_keys \
                 WHERE day = $1 AND segment_id > $2 ORDER BY segment_id",
                &[&day, &after],
            )?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn sources_under(&self, prefix: &str) -> Result<Vec<SourceObject>> {
        let upper = format!("{prefix}\u{10FFFF}");
        self.run("read sources", |c| {
            Ok(c.query(
                "SELECT location, size, mtime, etag, status, records, errors, reason \
                 FROM auditwatch_sources WHERE location >= $1 AND location < $2 \
                 ORDER BY location",
                &[&prefix, &upper],
            )?
            .iter()
            .map(source_row)
            .collect())
        })
    }

    fn troubled_sources(&self, prefix: &str, limit: usize) -> Result<Vec<SourceObject>> {
        let upper = format!("{prefix}\u{10FFFF}");
        let taken: Vec<&str> = TAKEN.to_vec();
        let limit = limit as i64;
        self.run("read sources", |c| {
            Ok(c.query(
                "SELECT location, size, mtime, etag, status, records, errors, reason \
                 FROM auditwatch_sources WHERE location >= $1 AND location < $2 \
                 AND status <> ALL($3) ORDER BY ingested_at DESC, location LIMIT $4",
                &[&prefix, &upper, &taken, &limit],
            )?
            .iter()
            .map(source_row)
            .collect())
        })
    }

    fn digest_locations(&self) -> Result<Vec<String>> {
        self.run("read sources", |c| {
            Ok(c.query(
                "SELECT location FROM auditwatch_sources \
                 WHERE location LIKE '%/CloudTrail-Digest/%' ORDER BY location",
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    /// The recorded state of a source object.
    fn source(&self, location: &str) -> Result<Option<SourceObject>> {
        self.run("read a source", |c| {
            Ok(c.query_opt(
                "SELECT location, size, mtime, etag, status, records, errors, reason \
                 FROM auditwatch_sources WHERE location = $1",
                &[&location],
            )?
            .as_ref()
            .map(source_row))
        })
    }

    /// Source objects by status: (status, objects, records, errors).
    fn source_counts(&self) -> Result<Vec<(String, u64, u64, u64)>> {
        self.run("count sources", |c| {
            let rows = c.query(
                "SELECT status, count(*), coalesce(sum(records), 0)::BIGINT, \
                 coalesce(sum(errors), 0)::BIGINT FROM auditwatch_sources \
                 GROUP BY status ORDER BY status",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| {
                    (
                        r.get(0),
                        r.get::<_, i64>(1) as u64,
                        r.get::<_, i64>(2) as u64,
                        r.get::<_, i64>(3) as u64,
                    )
                })
                .collect())
        })
    }

    /// Registers `added`, retires `retired` and records `sources` in one transaction,
    /// under the locks of every day touched, after checking `guards`. Returns the new
    /// segments' ids.
    fn record_sessions(&self, sessions: &[Issued]) -> Result<()> {
        self.run("record sessions", |c| {
            let mut tx = c.transaction()?;
            for i in sessions {
                insert_session(&mut tx, i)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.run("write meta", |c| {
            c.execute(
                "INSERT INTO auditwatch_meta(key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&key, &value],
            )?;
            Ok(())
        })
    }

    fn session(&self, access_key_id: &str) -> Result<Option<Issued>> {
        self.run("read a session", |c| {
            Ok(c.query_opt(
                &format!(
                    "SELECT {} FROM auditwatch_sessions WHERE access_key_id = $1",
                    sessions::COLUMNS
                ),
                &[&access_key_id],
            )?
            .as_ref()
            .map(session_row))
        })
    }

    fn sessions_named(&self, session_arn: &str) -> Result<Vec<Issued>> {
        self.run("read sessions", |c| {
            Ok(c.query(
                &format!(
                    "SELECT {} FROM auditwatch_sessions WHERE session_arn = $1 \
                     ORDER BY time_us DESC, access_key_id",
                    sessions::COLUMNS
                ),
                &[&session_arn],
            )?
            .iter()
            .map(session_row)
            .collect())
        })
    }

    fn sessions_count(&self) -> Result<u64> {
        self.run("count sessions", |c| {
            let n: i64 = c
                .query_one("SELECT count(*) FROM auditwatch_sessions", &[])?
                .get(0);
            Ok(n.max(0) as u64)
        })
    }

    fn all_sessions(&self) -> Result<Vec<Issued>> {
        self.run("read sessions", |c| {
            Ok(c.query(
                &format!("SELECT {} FROM auditwatch_sessions", sessions::COLUMNS),
                &[],
            )?
            .iter()
            .map(session_row)
            .collect())
        })
    }

    fn sessions_between(&self, from_us: i64, to_us: i64) -> Result<Vec<Issued>> {
        self.run("read old sessions", |c| {
            Ok(c.query(
                &format!(
                    "SELECT {} FROM auditwatch_sessions WHERE time_us >= $1 AND time_us < $2",
                    sessions::COLUMNS
                ),
                &[&from_us, &to_us],
            )?
            .iter()
            .map(session_row)
            .collect())
        })
    }

    fn sessions_reaching(&self, value: &str) -> Result<Vec<String>> {
        let last = crate::sessions::last_part(value);
        self.run("read sessions by origin", |c| {
            Ok(c.query(
                "WITH RECURSIVE reach(k) AS ( \
                   SELECT access_key_id FROM auditwatch_sessions \
                    WHERE regexp_replace(caller_name, '^.*/', '') IN ($1, $2) \
                      AND (caller_name = $1 OR regexp_replace(caller_name, '^.*/', '') = $1) \
                   UNION SELECT access_key_id FROM auditwatch_sessions \
                    WHERE source_identity = $1 \
                   UNION SELECT access_key_id FROM auditwatch_sessions \
                    WHERE caller_source_identity = $1 \
                   UNION SELECT access_key_id FROM auditwatch_sessions \
                    WHERE session_arn = $1 AND caller_kind = 'Unknown' \
                   UNION \
                   SELECT s.access_key_id FROM auditwatch_sessions s \
                     JOIN reach r ON s.caller_key = r.k \
                 ) SELECT k FROM reach",
                &[&value, &last],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    fn replace_sessions(&self, dropped: &[String], copies: &[Issued]) -> Result<()> {
        self.run("replace sessions", |c| {
            let mut tx = c.transaction()?;
            for key in dropped {
                tx.execute(
                    "DELETE FROM auditwatch_sessions WHERE access_key_id = $1",
                    &[key],
                )?;
            }
            for i in copies {
                insert_session(&mut tx, i)?;
            }
            tx.execute(
                "INSERT INTO auditwatch_meta(key, value) VALUES ($1, '1') \
                 ON CONFLICT (key) DO UPDATE SET value = \
                 (CAST(auditwatch_meta.value AS BIGINT) + 1)::TEXT",
                &[&crate::table::SESSIONS_GENERATION],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn commit(
        &self,
        added: &[NewSegment],
        retired: &[i64],
        sources: &[SourceObject],
        fresh: bool,
        guards: &[DayGuard<'_>],
    ) -> Result<Vec<i64>> {
        let now = chrono::Utc::now().timestamp();
        self.run("commit", |c| {
            let mut tx = c.transaction()?;
            let mut days: BTreeSet<i32> = added.iter().map(|n| n.segment.day).collect();
            days.extend(guards.iter().map(|g| g.day));
            if !retired.is_empty() {
                for r in tx.query(
                    "SELECT DISTINCT day FROM auditwatch_segments WHERE id = ANY($1)",
                    &[&retired],
                )? {
                    days.insert(r.get(0));
                }
            }
            for day in &days {
                tx.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&DAY_LOCK, day])?;
            }
            let mut clashing = BTreeSet::new();
            for g in guards {
                let newer = tx.query(
                    "SELECT keys FROM auditwatch_segment_keys WHERE day = $1 AND segment_id > $2",
                    &[&g.day, &g.after],
                )?;
                for row in newer {
                    let theirs = from_blob(row.get::<_, &[u8]>(0));
                    if intersects(&theirs, g.keys) {
                        clashing.insert(g.day);
                        break;
                    }
                }
            }
            if !clashing.is_empty() {
                return Err(Failure::Store(CatalogError::Conflict(format!(
                    "another node stored some of these events first (days {clashing:?})"
                ))));
            }
            if !retired.is_empty() {
                let gone = tx.execute(
                    "DELETE FROM auditwatch_segments WHERE id = ANY($1)",
                    &[&retired],
                )?;
                if gone != retired.len() as u64 {
                    return Err(Failure::Store(CatalogError::Conflict(format!(
                        "{} of the {} segments to retire were retired by another node",
                        retired.len() as u64 - gone,
                        retired.len()
                    ))));
                }
            }
            let detect = fresh
                && tx
                    .query_opt("SELECT 1 FROM auditwatch_meta WHERE key = 'detector'", &[])?
                    .is_some();
            let mut ids = Vec::with_capacity(added.len());
            for new in added {
                let s = &new.segment;
                let id: i64 = tx
                    .query_one(
                        "INSERT INTO auditwatch_segments(day, path, rows, bytes, min_time, \
                         max_time, accounts, regions, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                        &[
                            &s.day,
                            &s.path,
                            &(s.rows as i64),
                            &(s.bytes as i64),
                            &s.min_time,
                            &s.max_time,
                            &join(&s.accounts),
                            &join(&s.regions),
                            &now,
                        ],
                    )?
                    .get(0);
                tx.execute(
                    "INSERT INTO auditwatch_segment_keys(segment_id, day, keys) \
                     VALUES ($1, $2, $3)",
                    &[&id, &s.day, &new.keys],
                )?;
                if detect {
                    tx.execute(
                        "INSERT INTO auditwatch_detect_queue(segment_id) VALUES ($1)",
                        &[&id],
                    )?;
                }
                ids.push(id);
                for i in &new.sessions {
                    insert_session(&mut tx, i)?;
                }
            }
            for s in sources {
                tx.execute(
                    "INSERT INTO auditwatch_sources(location, size, mtime, etag, status, \
                     records, errors, reason, ingested_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (location) DO UPDATE SET size = excluded.size, \
                     mtime = excluded.mtime, etag = excluded.etag, status = excluded.status, \
                     records = excluded.records, errors = excluded.errors, \
                     reason = excluded.reason, ingested_at = excluded.ingested_at",
                    &[
                        &s.location,
                        &s.size.map(|v| v as i64),
                        &s.mtime,
                        &s.etag,
                        &s.status,
                        &(s.records as i64),
                        &(s.errors as i64),
                        &s.reason,
                        &now,
                    ],
                )?;
            }
            tx.commit()?;
            Ok(ids)
        })
    }
}

fn segment_from(r: &postgres::Row) -> Segment {
    Segment {
        id: r.get(0),
        day: r.get(1),
        path: r.get(2),
        rows: r.get::<_, i64>(3) as u64,
        bytes: r.get::<_, i64>(4) as u64,
        min_time: r.get(5),
        max_time: r.get(6),
        accounts: split(r.get(7)),
        regions: split(r.get(8)),
    }
}

/// Records one issue ([`sessions::upsert`]).
fn insert_session(tx: &mut postgres::Transaction<'_>, i: &Issued) -> Step<()> {
    let c = sessions::columns(&i.caller);
    tx.execute(
        &sessions::upsert("auditwatch_sessions", '$', "\"C\""),
        &[
            &i.access_key_id,
            &i.call,
            &i.session_arn,
            &i.account,
            &i.event_id,
            &i.time_us,
            &i.expires_us,
            &i.source_identity,
            &c.kind,
            &c.name,
            &c.provider,
            &c.key,
            &c.role_arn,
            &c.source_identity,
        ],
    )?;
    Ok(())
}

fn session_row(r: &postgres::Row) -> Issued {
    Issued {
        access_key_id: r.get(0),
        call: r.get(1),
        session_arn: r.get(2),
        account: r.get(3),
        event_id: r.get(4),
        time_us: r.get(5),
        expires_us: r.get(6),
        source_identity: r.get(7),
        caller: sessions::principal(
            r.get(8),
            r.get(9),
            r.get(10),
            r.get(11),
            r.get(12),
            r.get(13),
        ),
    }
}

fn source_row(r: &postgres::Row) -> SourceObject {
    SourceObject {
        location: r.get(0),
        size: r.get::<_, Option<i64>>(1).map(|v| v as u64),
        mtime: r.get(2),
        etag: r.get(3),
        status: r.get(4),
        records: r.get::<_, i64>(5) as u64,
        errors: r.get::<_, i64>(6) as u64,
        reason: r.get(7),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_key_lists_intersect() {
        assert!(intersects(&[1, 5, 9], &[2, 9]));
        assert!(!intersects(&[1, 5, 9], &[2, 6, 10]));
        assert!(!intersects(&[], &[1]));
    }
}

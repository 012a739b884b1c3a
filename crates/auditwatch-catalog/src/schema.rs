//! The SQLite catalog's tables (the table's part and the node's integrity verdicts),
//! created (if missing) at every open. Other crates keep their own tables in the same
//! file (auth, detection's state and library, the Contact form).

/// The schema, as one batch of statements.
pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments(
    id INTEGER PRIMARY KEY,
    day INTEGER NOT NULL,
    path TEXT NOT NULL UNIQUE,
    rows INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    min_time INTEGER NOT NULL,
    max_time INTEGER NOT NULL,
    accounts TEXT NOT NULL,
    regions TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS segments_day ON segments(day);
CREATE TABLE IF NOT EXISTS segment_keys(
    segment_id INTEGER PRIMARY KEY REFERENCES segments(id) ON DELETE CASCADE,
    day INTEGER NOT NULL,
    keys BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS segment_keys_day ON segment_keys(day);
CREATE TABLE IF NOT EXISTS source_objects(
    location TEXT PRIMARY KEY,
    size INTEGER,
    mtime INTEGER,
    etag TEXT,
    status TEXT NOT NULL,
    records INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    reason TEXT,
    ingested_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS integrity_files(
    key TEXT PRIMARY KEY,
    location TEXT NOT NULL,
    kind TEXT NOT NULL,
    verdict TEXT NOT NULL,
    reason TEXT,
    trail TEXT NOT NULL,
    chain TEXT NOT NULL,
    file_time INTEGER,
    checked_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS integrity_files_chain ON integrity_files(trail, chain);
CREATE TABLE IF NOT EXISTS integrity_gaps(
    trail TEXT NOT NULL,
    chain TEXT NOT NULL,
    from_time INTEGER,
    to_time INTEGER NOT NULL,
    reason TEXT NOT NULL,
    checked_at INTEGER NOT NULL,
    PRIMARY KEY(trail, chain, to_time)
);
CREATE TABLE IF NOT EXISTS detect_queue(
    segment_id INTEGER PRIMARY KEY REFERENCES segments(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS sessions(
    access_key_id TEXT PRIMARY KEY,
    call TEXT NOT NULL,
    session_arn TEXT,
    account TEXT,
    event_id TEXT,
    time_us INTEGER NOT NULL,
    expires_us INTEGER,
    source_identity TEXT,
    caller_kind TEXT NOT NULL,
    caller_name TEXT NOT NULL,
    caller_provider TEXT,
    caller_key TEXT,
    caller_role_arn TEXT,
    caller_source_identity TEXT
);
CREATE INDEX IF NOT EXISTS sessions_by_caller_key ON sessions(caller_key)
    WHERE caller_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_by_caller_last ON sessions(
    substr(caller_name, length(rtrim(caller_name, replace(caller_name, '/', ''))) + 1));
CREATE INDEX IF NOT EXISTS sessions_by_source_identity ON sessions(source_identity)
    WHERE source_identity IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_by_caller_source_identity
    ON sessions(caller_source_identity) WHERE caller_source_identity IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_by_unknown_caller ON sessions(session_arn)
    WHERE caller_kind = 'Unknown';
CREATE INDEX IF NOT EXISTS sessions_by_caller_with_nul ON sessions(access_key_id)
    WHERE instr(CAST(caller_name AS BLOB), x'00') > 0;
"#;

//! The SQLite catalog's tables, created (if missing) at every open.

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
CREATE TABLE IF NOT EXISTS detect_done(segment_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS metric_points(
    metric TEXT NOT NULL,
    minute INTEGER NOT NULL,
    count INTEGER NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    PRIMARY KEY(metric, minute)
);
CREATE TABLE IF NOT EXISTS event_minutes(minute INTEGER PRIMARY KEY, events INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS metric_dirty(metric TEXT PRIMARY KEY, from_minute INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS metric_samples(
    metric TEXT NOT NULL,
    minute INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    time_us INTEGER NOT NULL,
    account TEXT,
    summary TEXT NOT NULL,
    PRIMARY KEY(metric, minute, event_id)
);
CREATE TABLE IF NOT EXISTS alarms(
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    since INTEGER NOT NULL,
    evaluated_through INTEGER
);
CREATE TABLE IF NOT EXISTS alarm_history(
    id INTEGER PRIMARY KEY,
    alarm TEXT NOT NULL,
    at INTEGER NOT NULL,
    period INTEGER NOT NULL,
    old_state TEXT NOT NULL,
    new_state TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alarm_history_alarm ON alarm_history(alarm, id);
CREATE TABLE IF NOT EXISTS alerts(
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    level TEXT NOT NULL,
    author TEXT,
    group_key TEXT NOT NULL,
    reason TEXT NOT NULL,
    accounts TEXT NOT NULL,
    events TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    count INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_by TEXT,
    status_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_group ON alerts(rule, group_key, id);
CREATE TABLE IF NOT EXISTS outbox(
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    channel TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    attempts INTEGER NOT NULL,
    next_at INTEGER NOT NULL,
    sent_at INTEGER,
    error TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(sent_at, next_at);
"#;

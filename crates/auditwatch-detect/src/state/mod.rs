//! What live detection keeps in the catalog, so that each step commits with the
//! state it changes (one SQLite transaction) and a crash repeats or loses nothing:
//!
//! - `detect_queue`: segments committed by ingest and not yet seen by detection
//!   (filled in the ingest commit itself while detection is on; compaction leaves
//!   them alone);
//! - `metric_points`: per metric and event-time minute, the datapoints' count, sum,
//!   minimum and maximum; `event_minutes`: how many events each minute had (for a
//!   metric's default value); `metric_dirty`: the earliest minute each metric changed
//!   since its alarm was last evaluated;
//! - `metric_samples`: a few matching events per metric and minute, for the alert's
//!   links;
//! - `alarms` (state, reason, evaluated-through) and `alarm_history` (transitions);
//! - `alerts`: one per alarm transition to ALARM or per rule match group (deduplicated
//!   over a window), with its events, accounts and status (open, acknowledged,
//!   resolved);
//! - `outbox`: one notification per alert and channel, written with the alert; a
//!   sender marks it sent after delivery (at least once; a crash in between sends it
//!   again, so at most twice), with its idempotency key.
//!
//! The queue is the table's ([`TableCatalog`]): in this file, or with a
//! shared catalog ([`auditwatch_catalog::postgres`]) in PostgreSQL, where one node runs detection
//! (it registers itself there). Either way this node records the segments it has
//! taken through detection in its `detect_done`, in the transaction of their results,
//! then takes them off the queue; a crash in between finds them in `detect_done` and
//! does not count them twice.

mod reads;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use auditwatch_catalog::sqlite::sql_error;
use auditwatch_catalog::{CatalogError, Result, Segment, TableCatalog};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// The tables, created (if missing) at every open. `meta` is the file's shared
/// key-value table (made by the catalog too): this node's identity is kept there
/// under `node_id`.
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
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

/// Detection's state on this node, and the table whose queue it drains.
pub struct DetectionState {
    conn: Connection,
    path: PathBuf,
    table: Arc<dyn TableCatalog>,
}

impl std::fmt::Debug for DetectionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetectionState")
            .field("path", &self.path)
            .finish()
    }
}

impl DetectionState {
    /// Opens the state kept in `data_dir`'s `catalog.db`, draining `table`'s queue.
    pub fn open(data_dir: &Path, table: Arc<dyn TableCatalog>) -> Result<Self> {
        let path = data_dir.join("catalog.db");
        let conn = auditwatch_catalog::sqlite::connect(&path)?;
        conn.execute_batch(SCHEMA).map_err(sql_error(&path))?;
        Ok(Self { conn, path, table })
    }

    /// The state of the node `store` is, draining its table's queue.
    pub fn of(store: &auditwatch_store::Store) -> Result<Self, auditwatch_store::StoreError> {
        Ok(Self::open(store.data_dir(), store.table()?)?)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> CatalogError + '_ {
        sql_error(&self.path)
    }
}

/// Most sample events kept per metric and minute.
pub const SAMPLES_PER_MINUTE: i64 = 20;
/// Most event ids listed on one alert.
pub const EVENTS_PER_ALERT: usize = 50;

/// Datapoints of one metric in one minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinutePoint {
    /// Minute (seconds since the epoch, a multiple of 60).
    pub minute: i64,
    /// How many datapoints.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

/// One matching event, as an alert lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// `eventID`.
    pub event_id: String,
    /// `eventTime` (µs).
    pub time_us: i64,
    /// The account, when the record names one.
    pub account: Option<String>,
    /// A one-line summary (`alice GetSecretValue from 198.51.100.7`).
    pub summary: String,
}

/// A rule matched an event (rules that alert directly, without an alarm).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleHit {
    /// Rule id.
    pub rule: String,
    /// Rule title.
    pub title: String,
    /// Level.
    pub level: String,
    /// Author (Sigma rules name theirs).
    pub author: Option<String>,
    /// Hits with the same rule and group key within the dedup window are one alert.
    pub group_key: String,
    /// The event.
    pub sample: Sample,
}

/// Everything detection learned from some queued segments.
#[derive(Debug, Clone, Default)]
pub struct Detected {
    /// The segments done (removed from the queue).
    pub segments: Vec<i64>,
    /// Per metric: its minute points to add.
    pub points: Vec<(String, MinutePoint)>,
    /// Events per minute to add.
    pub minutes: Vec<(i64, u64)>,
    /// Per metric: sample events.
    pub samples: Vec<(String, i64, Sample)>,
    /// Per metric: the earliest minute changed.
    pub dirty: Vec<(String, i64)>,
    /// Rule matches.
    pub hits: Vec<RuleHit>,
}

/// An alarm's stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmRow {
    /// Name.
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// Why.
    pub reason: String,
    /// Since when (seconds).
    pub since: i64,
    /// The start (seconds) of the last period evaluated.
    pub evaluated_through: Option<i64>,
}

/// One state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// When it was decided (seconds).
    pub at: i64,
    /// The start (seconds) of the last period of the window judged.
    pub period: i64,
    /// From.
    pub old: String,
    /// To.
    pub new: String,
    /// Why.
    pub reason: String,
}

/// An alert about to be raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// Rule or alarm name.
    pub rule: String,
    /// `alarm` or `rule`.
    pub kind: String,
    /// What it means.
    pub title: String,
    /// Level.
    pub level: String,
    /// Rule author, when known.
    pub author: Option<String>,
    /// Dedup group (`rule` kind).
    pub group_key: String,
    /// Why (the alarm's reason, or the rule's title).
    pub reason: String,
    /// The events behind it (at most [`EVENTS_PER_ALERT`] kept).
    pub samples: Vec<Sample>,
    /// How many matches it stands for (at least the samples).
    pub count: i64,
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Alert {
    /// Id.
    pub id: i64,
    /// Rule or alarm name.
    pub rule: String,
    /// `alarm` or `rule`.
    pub kind: String,
    /// What it means.
    pub title: String,
    /// Level.
    pub level: String,
    /// Rule author.
    pub author: Option<String>,
    /// Dedup group.
    pub group_key: String,
    /// Why.
    pub reason: String,
    /// Accounts of its events.
    pub accounts: Vec<String>,
    /// Event ids (newest last, at most [`EVENTS_PER_ALERT`]).
    pub events: Vec<String>,
    /// First and last event time (µs).
    pub first_seen: i64,
    /// See `first_seen`.
    pub last_seen: i64,
    /// How many matches.
    pub count: i64,
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
    /// Who changed the status last.
    pub status_by: Option<String>,
    /// When it was raised (seconds).
    pub created_at: i64,
}

/// A notification waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// Row id.
    pub id: i64,
    /// The alert.
    pub alert_id: i64,
    /// Channel name (from the configuration).
    pub channel: String,
    /// Idempotency key (`auditwatch-alert-<id>-<channel>`).
    pub key: String,
    /// Attempts so far.
    pub attempts: i64,
}

/// Notifications of one channel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChannelStats {
    /// The channel.
    pub channel: String,
    /// Delivered.
    pub sent: u64,
    /// Not delivered yet.
    pub waiting: u64,
    /// The last error, if any attempt failed.
    pub last_error: Option<String>,
}

/// How rule hits become alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertPolicy {
    /// Hits of a rule and group within this many µs of its open alert's last event
    /// join that alert.
    pub dedup_us: i64,
    /// Most new alerts one rule raises per hour; later hits join its newest
    /// unresolved alert.
    pub max_new_per_hour: u32,
}

impl Default for AlertPolicy {
    /// One hour of dedup, 30 new alerts per rule and hour.
    fn default() -> Self {
        Self {
            dedup_us: 3_600_000_000,
            max_new_per_hour: 30,
        }
    }
}

/// Alert statuses.
pub const STATUSES: &[&str] = &["open", "acknowledged", "resolved"];

const ALERT_COLUMNS: &str = "id, rule, kind, title, level, author, group_key, reason, accounts, \
    events, first_seen, last_seen, count, status, status_by, created_at";

fn alert_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Alert> {
    let json = |i: usize| -> rusqlite::Result<Vec<String>> {
        let s: String = r.get(i)?;
        Ok(serde_json::from_str(&s).unwrap_or_default())
    };
    Ok(Alert {
        id: r.get(0)?,
        rule: r.get(1)?,
        kind: r.get(2)?,
        title: r.get(3)?,
        level: r.get(4)?,
        author: r.get(5)?,
        group_key: r.get(6)?,
        reason: r.get(7)?,
        accounts: json(8)?,
        events: json(9)?,
        first_seen: r.get(10)?,
        last_seen: r.get(11)?,
        count: r.get(12)?,
        status: r.get(13)?,
        status_by: r.get(14)?,
        created_at: r.get(15)?,
    })
}

/// Alerts a scope sees: every one for `?1 IS NULL`, else those whose accounts are
/// all in the JSON array `?1` (an alert about no known account is for all-account
/// callers only).
const ALERT_IN_SCOPE: &str = "(?1 IS NULL OR (accounts != '[]' AND NOT EXISTS (
    SELECT 1 FROM json_each(alerts.accounts) a
    WHERE a.value NOT IN (SELECT value FROM json_each(?1)))))";

fn sorted_union(a: &mut Vec<String>, more: impl IntoIterator<Item = String>) {
    a.extend(more);
    a.sort();
    a.dedup();
}

fn insert_alert(
    tx: &Transaction<'_>,
    a: &NewAlert,
    channels: &[String],
    now: i64,
) -> rusqlite::Result<i64> {
    let mut accounts = Vec::new();
    sorted_union(
        &mut accounts,
        a.samples.iter().filter_map(|s| s.account.clone()),
    );
    let events: Vec<&str> = a
        .samples
        .iter()
        .rev()
        .take(EVENTS_PER_ALERT)
        .rev()
        .map(|s| s.event_id.as_str())
        .collect();
    let first = a
        .samples
        .iter()
        .map(|s| s.time_us)
        .min()
        .unwrap_or(now * 1_000_000);
    let last = a
        .samples
        .iter()
        .map(|s| s.time_us)
        .max()
        .unwrap_or(now * 1_000_000);
    tx.execute(
        "INSERT INTO alerts(rule, kind, title, level, author, group_key, reason, accounts, events,
         first_seen, last_seen, count, status, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'open', ?13)",
        params![
            a.rule,
            a.kind,
            a.title,
            a.level,
            a.author,
            a.group_key,
            a.reason,
            serde_json::to_string(&accounts).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(&events).unwrap_or_else(|_| "[]".into()),
            first,
            last,
            a.count.max(a.samples.len() as i64).max(1),
            now
        ],
    )?;
    let id = tx.last_insert_rowid();
    for c in channels {
        tx.execute(
            "INSERT OR IGNORE INTO outbox(alert_id, channel, key, attempts, next_at, created_at)
             VALUES (?1, ?2, ?3, 0, ?4, ?4)",
            params![id, c, format!("auditwatch-alert-{id}-{c}"), now],
        )?;
    }
    Ok(id)
}

impl DetectionState {
    /// Turns live detection on (ingest commits queue their segments, whichever
    /// process commits them) or off (the queue is emptied). With a shared catalog,
    /// this node registers as the one that runs detection; another node that did
    /// already is named in the refusal. Turning it off releases only this node's
    /// registration.
    pub fn set_detection(&self, on: bool) -> Result<()> {
        let me = self.node_id()?;
        if on {
            let detector = self.table.claim_detector(&me)?;
            if detector != me {
                return Err(CatalogError::Invalid(format!(
                    "live detection already runs on another node of {} (node {detector}); \
                     configure [detection] on that node only, or turn it off there first",
                    self.table.holder()
                )));
            }
        } else {
            self.table.release_detector(&me)?;
        }
        Ok(())
    }

    /// This data directory's identity among the nodes of a shared catalog (random,
    /// made once).
    fn node_id(&self) -> Result<String> {
        let fresh = hex::encode(rand::random::<[u8; 8]>());
        self.conn
            .execute(
                "INSERT INTO meta(key, value) VALUES ('node_id', ?1) ON CONFLICT(key) DO NOTHING",
                [&fresh],
            )
            .map_err(self.err())?;
        self.conn
            .query_row("SELECT value FROM meta WHERE key = 'node_id'", [], |r| {
                r.get(0)
            })
            .map_err(self.err())
    }

    /// Segments waiting for detection, oldest first.
    pub fn detection_queue(&self, limit: usize) -> Result<Vec<Segment>> {
        // Those this node already took through leave it now, if a crash kept them
        // there, and their marks are dropped.
        let done = self.done_ids()?;
        if !done.is_empty() {
            self.table.dequeue(&done)?;
            self.forget_done(&done)?;
        }
        self.table.detection_queue(limit)
    }

    fn done_ids(&self) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT segment_id FROM detect_done")
            .map_err(self.err())?;
        stmt.query_map([], |r| r.get(0))
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())
    }

    /// Drops the marks of segments already off the queue, in one transaction.
    fn forget_done(&self, ids: &[i64]) -> Result<()> {
        let tx = self.conn.unchecked_transaction().map_err(self.err())?;
        {
            let mut forget = tx
                .prepare_cached("DELETE FROM detect_done WHERE segment_id = ?1")
                .map_err(self.err())?;
            for id in ids {
                forget.execute([id]).map_err(self.err())?;
            }
        }
        tx.commit().map_err(self.err())
    }

    /// How many segments wait for detection.
    pub fn detection_backlog(&self) -> Result<u64> {
        Ok(self.table.queued_ids()?.len() as u64)
    }

    /// Ids of the segments waiting for detection (compaction leaves them alone).
    pub fn queued_segment_ids(&self) -> Result<std::collections::HashSet<i64>> {
        Ok(self.table.queued_ids()?.into_iter().collect())
    }

    /// Records what detection found in some queued segments and takes them off the
    /// queue, in one transaction. A rule hit joins an open alert of the same rule and
    /// group whose last event is at most `policy.dedup_us` older; else, once the rule
    /// raised `policy.max_new_per_hour` alerts in the last hour, it joins the rule's
    /// newest unresolved alert; else it raises a new one (with its notifications for
    /// `channels`). Returns the ids of new alerts.
    pub fn record_detected(
        &mut self,
        d: &Detected,
        policy: &AlertPolicy,
        channels: &[String],
    ) -> Result<Vec<i64>> {
        let dedup_us = policy.dedup_us;
        let err = sql_error(&self.path);
        let now = chrono::Utc::now().timestamp();
        let tx = self.conn.transaction().map_err(&err)?;
        let mut raised = Vec::new();
        {
            let mut point = tx
                .prepare_cached(
                    "INSERT INTO metric_points(metric, minute, count, sum, min, max)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(metric, minute) DO UPDATE SET
                     count = count + excluded.count, sum = sum + excluded.sum,
                     min = min(min, excluded.min), max = max(max, excluded.max)",
                )
                .map_err(&err)?;
            for (metric, p) in &d.points {
                point
                    .execute(params![
                        metric,
                        p.minute,
                        p.count as i64,
                        p.sum,
                        p.min,
                        p.max
                    ])
                    .map_err(&err)?;
            }
            let mut minute = tx
                .prepare_cached(
                    "INSERT INTO event_minutes(minute, events) VALUES (?1, ?2)
                     ON CONFLICT(minute) DO UPDATE SET events = events + excluded.events",
                )
                .map_err(&err)?;
            for (m, n) in &d.minutes {
                minute.execute(params![m, *n as i64]).map_err(&err)?;
            }
            let mut sample = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO metric_samples(metric, minute, event_id, time_us, account, summary)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6
                     WHERE (SELECT count(*) FROM metric_samples WHERE metric = ?1 AND minute = ?2) < ?7",
                )
                .map_err(&err)?;
            for (metric, m, s) in &d.samples {
                sample
                    .execute(params![
                        metric,
                        m,
                        s.event_id,
                        s.time_us,
                        s.account,
                        s.summary,
                        SAMPLES_PER_MINUTE
                    ])
                    .map_err(&err)?;
            }
            let mut dirty = tx
                .prepare_cached(
                    "INSERT INTO metric_dirty(metric, from_minute) VALUES (?1, ?2)
                     ON CONFLICT(metric) DO UPDATE SET from_minute = min(from_minute, excluded.from_minute)",
                )
                .map_err(&err)?;
            for (metric, m) in &d.dirty {
                dirty.execute(params![metric, m]).map_err(&err)?;
            }
            for h in &d.hits {
                let open: Option<(i64, String, String)> = tx
                    .query_row(
                        "SELECT id, accounts, events FROM alerts WHERE kind = 'rule' AND rule = ?1
                         AND group_key = ?2 AND status != 'resolved' AND last_seen >= ?3
                         ORDER BY id DESC LIMIT 1",
                        params![h.rule, h.group_key, h.sample.time_us - dedup_us],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .map_err(&err)?;
                let open = match open {
                    Some(o) => Some(o),
                    None => {
                        let recent: i64 = tx
                            .query_row(
                                "SELECT count(*) FROM alerts WHERE kind = 'rule' AND rule = ?1
                                 AND created_at >= ?2",
                                params![h.rule, now - 3600],
                                |r| r.get(0),
                            )
                            .map_err(&err)?;
                        if recent >= i64::from(policy.max_new_per_hour) {
                            tx.query_row(
                                "SELECT id, accounts, events FROM alerts WHERE kind = 'rule'
                                 AND rule = ?1 AND status != 'resolved' ORDER BY id DESC LIMIT 1",
                                [&h.rule],
                                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                            )
                            .optional()
                            .map_err(&err)?
                        } else {
                            None
                        }
                    }
                };
                if let Some((id, accounts, events)) = open {
                    let mut accounts: Vec<String> =
                        serde_json::from_str(&accounts).unwrap_or_default();
                    sorted_union(&mut accounts, h.sample.account.clone());
                    let mut events: Vec<String> = serde_json::from_str(&events).unwrap_or_default();
                    if !events.contains(&h.sample.event_id) {
                        events.push(h.sample.event_id.clone());
                        if events.len() > EVENTS_PER_ALERT {
                            events.remove(0);
                        }
                    }
                    tx.execute(
                        "UPDATE alerts SET count = count + 1, accounts = ?2, events = ?3,
                         first_seen = min(first_seen, ?4), last_seen = max(last_seen, ?4) WHERE id = ?1",
                        params![
                            id,
                            serde_json::to_string(&accounts).unwrap_or_else(|_| "[]".into()),
                            serde_json::to_string(&events).unwrap_or_else(|_| "[]".into()),
                            h.sample.time_us
                        ],
                    )
                    .map_err(&err)?;
                } else {
                    let alert = NewAlert {
                        rule: h.rule.clone(),
                        kind: "rule".into(),
                        title: h.title.clone(),
                        level: h.level.clone(),
                        author: h.author.clone(),
                        group_key: h.group_key.clone(),
                        reason: format!("{}: {}", h.rule, h.sample.summary),
                        samples: vec![h.sample.clone()],
                        count: 1,
                    };
                    raised.push(insert_alert(&tx, &alert, channels, now).map_err(&err)?);
                }
            }
            // Marked done here, in this transaction, and taken off the queue after it.
            let mut done = tx
                .prepare_cached("INSERT OR IGNORE INTO detect_done(segment_id) VALUES (?1)")
                .map_err(&err)?;
            for id in &d.segments {
                done.execute([id]).map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)?;
        // Their marks stay until the next look at the queue forgets them all at once:
        // one durable write less per segment.
        self.table.dequeue(&d.segments)?;
        Ok(raised)
    }
}

//! What detection reads and updates between ingests: metric points, samples and
//! dirty marks for the alarms' evaluation, alarm state and history, alerts and their
//! status, and the notification outbox (the tables are described in [`super`]).

use rusqlite::{OptionalExtension, params};

use super::*;
use auditwatch_catalog::Scope;

impl DetectionState {
    /// A metric's minute points in `[from, to]` (seconds).
    pub fn metric_points(&self, metric: &str, from: i64, to: i64) -> Result<Vec<MinutePoint>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT minute, count, sum, min, max FROM metric_points
                 WHERE metric = ?1 AND minute BETWEEN ?2 AND ?3 ORDER BY minute",
            )
            .map_err(self.err())?;
        stmt.query_map(params![metric, from, to], |r| {
            Ok(MinutePoint {
                minute: r.get(0)?,
                count: r.get::<_, i64>(1)? as u64,
                sum: r.get(2)?,
                min: r.get(3)?,
                max: r.get(4)?,
            })
        })
        .map_err(self.err())?
        .collect::<rusqlite::Result<_>>()
        .map_err(self.err())
    }

    /// Minutes in `[from, to]` (seconds) that had events, with their counts.
    pub fn event_minutes(&self, from: i64, to: i64) -> Result<Vec<(i64, u64)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT minute, events FROM event_minutes WHERE minute BETWEEN ?1 AND ?2 ORDER BY minute",
            )
            .map_err(self.err())?;
        stmt.query_map(params![from, to], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
        })
        .map_err(self.err())?
        .collect::<rusqlite::Result<_>>()
        .map_err(self.err())
    }

    /// Sample events of a metric in `[from, to]` (seconds), oldest first.
    pub fn metric_samples(&self, metric: &str, from: i64, to: i64) -> Result<Vec<Sample>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT event_id, time_us, account, summary FROM metric_samples
                 WHERE metric = ?1 AND minute BETWEEN ?2 AND ?3 ORDER BY time_us",
            )
            .map_err(self.err())?;
        stmt.query_map(params![metric, from, to], |r| {
            Ok(Sample {
                event_id: r.get(0)?,
                time_us: r.get(1)?,
                account: r.get(2)?,
                summary: r.get(3)?,
            })
        })
        .map_err(self.err())?
        .collect::<rusqlite::Result<_>>()
        .map_err(self.err())
    }

    /// The earliest changed minute of a metric since its alarm's last evaluation.
    pub fn metric_dirty(&self, metric: &str) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT from_minute FROM metric_dirty WHERE metric = ?1",
                [metric],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())
    }

    /// An alarm's stored state.
    pub fn alarm(&self, name: &str) -> Result<Option<AlarmRow>> {
        self.conn
            .query_row(
                "SELECT name, state, reason, since, evaluated_through FROM alarms WHERE name = ?1",
                [name],
                |r| {
                    Ok(AlarmRow {
                        name: r.get(0)?,
                        state: r.get(1)?,
                        reason: r.get(2)?,
                        since: r.get(3)?,
                        evaluated_through: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(self.err())
    }

    /// Records an evaluation of `alarm` over `metric`: its transitions (each to ALARM
    /// raising `alert`, with notifications for `channels`), the state reached and the
    /// last period evaluated; clears the metric's dirty mark if it is not newer than
    /// `dirty_seen`. One transaction.
    #[allow(clippy::too_many_arguments)]
    pub fn record_evaluation(
        &mut self,
        alarm: &str,
        metric: &str,
        transitions: &[(Transition, Option<NewAlert>)],
        final_state: (&str, &str),
        evaluated_through: i64,
        dirty_seen: Option<i64>,
        channels: &[String],
    ) -> Result<Vec<i64>> {
        let err = sql_error(&self.path);
        let now = chrono::Utc::now().timestamp();
        let tx = self.conn.transaction().map_err(&err)?;
        let mut raised = Vec::new();
        let mut since: Option<i64> = None;
        for (t, alert) in transitions {
            tx.execute(
                "INSERT INTO alarm_history(alarm, at, period, old_state, new_state, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![alarm, t.at, t.period, t.old, t.new, t.reason],
            )
            .map_err(&err)?;
            since = Some(t.at);
            if let Some(a) = alert {
                raised.push(insert_alert(&tx, a, channels, now).map_err(&err)?);
            }
        }
        tx.execute(
            "INSERT INTO alarms(name, state, reason, since, evaluated_through)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(name) DO UPDATE SET state = excluded.state,
             reason = excluded.reason, since = coalesce(?6, alarms.since),
             evaluated_through = excluded.evaluated_through",
            params![
                alarm,
                final_state.0,
                final_state.1,
                since.unwrap_or(now),
                evaluated_through,
                since
            ],
        )
        .map_err(&err)?;
        if let Some(seen) = dirty_seen {
            tx.execute(
                "DELETE FROM metric_dirty WHERE metric = ?1 AND from_minute >= ?2",
                params![metric, seen],
            )
            .map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        Ok(raised)
    }

    /// An alarm's transitions, newest first.
    pub fn alarm_history(&self, alarm: &str, limit: usize) -> Result<Vec<Transition>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT at, period, old_state, new_state, reason FROM alarm_history
                 WHERE alarm = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(self.err())?;
        stmt.query_map(params![alarm, limit as i64], |r| {
            Ok(Transition {
                at: r.get(0)?,
                period: r.get(1)?,
                old: r.get(2)?,
                new: r.get(3)?,
                reason: r.get(4)?,
            })
        })
        .map_err(self.err())?
        .collect::<rusqlite::Result<_>>()
        .map_err(self.err())
    }

    /// Alerts `scope` sees, newest first, optionally of one status.
    pub fn alerts(&self, scope: &Scope, status: Option<&str>, limit: usize) -> Result<Vec<Alert>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE {ALERT_IN_SCOPE}
                 AND (?2 IS NULL OR status = ?2) ORDER BY id DESC LIMIT ?3"
            ))
            .map_err(self.err())?;
        stmt.query_map(
            params![scope.json_accounts(), status, limit as i64],
            alert_row,
        )
        .map_err(self.err())?
        .collect::<rusqlite::Result<_>>()
        .map_err(self.err())
    }

    /// One alert, if `scope` sees it.
    pub fn alert(&self, scope: &Scope, id: i64) -> Result<Option<Alert>> {
        self.conn
            .query_row(
                &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE {ALERT_IN_SCOPE} AND id = ?2"),
                params![scope.json_accounts(), id],
                alert_row,
            )
            .optional()
            .map_err(self.err())
    }

    /// Sets an alert's status (one of [`STATUSES`]) if `scope` sees it; whether it did.
    pub fn set_alert_status(&self, scope: &Scope, id: i64, status: &str, by: &str) -> Result<bool> {
        let n = self
            .conn
            .execute(
                &format!(
                    "UPDATE alerts SET status = ?3, status_by = ?4, status_at = ?5
                     WHERE {ALERT_IN_SCOPE} AND id = ?2"
                ),
                params![
                    scope.json_accounts(),
                    id,
                    status,
                    by,
                    chrono::Utc::now().timestamp()
                ],
            )
            .map_err(self.err())?;
        Ok(n > 0)
    }

    /// Notifications due at `now` (seconds), oldest first.
    pub fn outbox_due(&self, now: i64, limit: usize) -> Result<Vec<OutboxItem>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, alert_id, channel, key, attempts FROM outbox
                 WHERE sent_at IS NULL AND next_at <= ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(self.err())?;
        stmt.query_map(params![now, limit as i64], |r| {
            Ok(OutboxItem {
                id: r.get(0)?,
                alert_id: r.get(1)?,
                channel: r.get(2)?,
                key: r.get(3)?,
                attempts: r.get(4)?,
            })
        })
        .map_err(self.err())?
        .collect::<rusqlite::Result<_>>()
        .map_err(self.err())
    }

    /// Marks a notification sent.
    pub fn outbox_sent(&self, id: i64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE outbox SET sent_at = ?2, attempts = attempts + 1, error = NULL WHERE id = ?1",
                params![id, chrono::Utc::now().timestamp()],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Records a failed attempt; the next one is at `next_at` (seconds).
    pub fn outbox_failed(&self, id: i64, error: &str, next_at: i64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, error = ?2, next_at = ?3 WHERE id = ?1",
                params![id, error, next_at],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Per channel: notifications sent, waiting, and the last error.
    pub fn outbox_summary(&self) -> Result<Vec<ChannelStats>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT channel, count(sent_at), count(*) - count(sent_at),
                 (SELECT error FROM outbox o2 WHERE o2.channel = outbox.channel AND error IS NOT NULL
                  ORDER BY id DESC LIMIT 1)
                 FROM outbox GROUP BY channel ORDER BY channel",
            )
            .map_err(self.err())?;
        stmt.query_map([], |r| {
            Ok(ChannelStats {
                channel: r.get(0)?,
                sent: r.get::<_, i64>(1)? as u64,
                waiting: r.get::<_, i64>(2)? as u64,
                last_error: r.get(3)?,
            })
        })
        .map_err(self.err())?
        .collect::<rusqlite::Result<_>>()
        .map_err(self.err())
    }
}

//! The Contact form's messages, kept for admins and mailed to them when a channel is
//! configured.

use rusqlite::params;

use super::Catalog;
use crate::error::Result;

/// A message left with the Contact form, kept for admins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    /// Row id.
    pub id: i64,
    /// When it was left (µs since the epoch).
    pub at: i64,
    /// Who left it (the signed-in principal).
    pub sender: String,
    /// How to reach them, as they gave it (may be empty).
    pub contact: String,
    /// The message.
    pub message: String,
}

impl Catalog {
    /// Stores a Contact-form message and returns its id.
    pub fn add_feedback(&self, sender: &str, contact: &str, message: &str) -> Result<i64> {
        let at = chrono::Utc::now().timestamp_micros();
        self.conn
            .execute(
                "INSERT INTO feedback(at, sender, contact, message) VALUES (?1, ?2, ?3, ?4)",
                params![at, sender, contact, message],
            )
            .map_err(self.err())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Contact-form messages from `since_us` on that `channel` has not delivered and
    /// that are due at `now` (seconds), oldest first.
    pub fn feedback_to_mail(
        &self,
        channel: &str,
        since_us: i64,
        now: i64,
        limit: usize,
    ) -> Result<Vec<Feedback>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT f.id, f.at, f.sender, f.contact, f.message FROM feedback f
                 LEFT JOIN feedback_mail m ON m.feedback_id = f.id AND m.channel = ?1
                 WHERE f.at >= ?2 AND m.sent_at IS NULL AND (m.next_at IS NULL OR m.next_at <= ?3)
                 ORDER BY f.id LIMIT ?4",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![channel, since_us, now, limit as i64], feedback_row)
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    /// Records a Contact-form message's delivery to a channel (`error: None`) or a
    /// failure to retry at `next_at` (seconds).
    pub fn feedback_mailed(
        &self,
        id: i64,
        channel: &str,
        error: Option<&str>,
        next_at: i64,
    ) -> Result<()> {
        let sent_at = error.is_none().then(|| chrono::Utc::now().timestamp());
        self.conn
            .execute(
                "INSERT INTO feedback_mail(feedback_id, channel, attempts, next_at, sent_at, error)
                 VALUES (?1, ?2, 1, ?3, ?4, ?5)
                 ON CONFLICT(feedback_id, channel) DO UPDATE SET attempts = attempts + 1,
                 next_at = ?3, sent_at = ?4, error = ?5",
                params![id, channel, next_at, sent_at, error],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Contact-form messages, newest first.
    pub fn feedback(&self) -> Result<Vec<Feedback>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, at, sender, contact, message FROM feedback ORDER BY id DESC",
            )
            .map_err(self.err())?;
        let rows = stmt.query_map([], feedback_row).map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }
}

fn feedback_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Feedback> {
    Ok(Feedback {
        id: r.get(0)?,
        at: r.get(1)?,
        sender: r.get(2)?,
        contact: r.get(3)?,
        message: r.get(4)?,
    })
}

//! The Contact form's messages and their delivery to each mail channel: the tables
//! `feedback` and `feedback_mail` of `<data_dir>/catalog.db`, owned by this module
//! (each node keeps the messages left on it).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS feedback(
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    sender TEXT NOT NULL,
    contact TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback_mail(
    feedback_id INTEGER NOT NULL REFERENCES feedback(id),
    channel TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_at INTEGER NOT NULL,
    sent_at INTEGER,
    error TEXT,
    PRIMARY KEY (feedback_id, channel)
);
"#;

/// A message left with the Contact form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Row id.
    pub id: i64,
    /// When it was left (µs since the epoch).
    pub at: i64,
    /// Who left it (the signed-in principal).
    pub sender: String,
    /// How to reach them, as they gave it (may be empty).
    pub contact: String,
    /// The message.
    pub text: String,
}

/// The messages of one data directory. Each call opens its own connection, so the
/// handle is cheap to share and never holds a lock between calls.
#[derive(Debug, Clone)]
pub struct Messages {
    path: PathBuf,
}

impl Messages {
    /// The messages kept in `data_dir`'s `catalog.db`.
    pub fn of(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("catalog.db"),
        }
    }

    fn conn(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(conn)
    }

    /// Stores a message and returns its id.
    pub fn add(&self, sender: &str, contact: &str, text: &str) -> rusqlite::Result<i64> {
        let conn = self.conn()?;
        let at = chrono::Utc::now().timestamp_micros();
        conn.execute(
            "INSERT INTO feedback(at, sender, contact, message) VALUES (?1, ?2, ?3, ?4)",
            params![at, sender, contact, text],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Every message, newest first.
    pub fn all(&self) -> rusqlite::Result<Vec<Message>> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare("SELECT id, at, sender, contact, message FROM feedback ORDER BY id DESC")?;
        let rows = stmt.query_map([], message)?;
        rows.collect()
    }

    /// Messages left from `since_us` on that `channel` has not delivered and that are
    /// due at `now` (seconds), oldest first.
    pub fn to_mail(
        &self,
        channel: &str,
        since_us: i64,
        now: i64,
        limit: usize,
    ) -> rusqlite::Result<Vec<Message>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT f.id, f.at, f.sender, f.contact, f.message FROM feedback f
             LEFT JOIN feedback_mail m ON m.feedback_id = f.id AND m.channel = ?1
             WHERE f.at >= ?2 AND m.sent_at IS NULL AND (m.next_at IS NULL OR m.next_at <= ?3)
             ORDER BY f.id LIMIT ?4",
        )?;
        let rows = stmt.query_map(params![channel, since_us, now, limit as i64], message)?;
        rows.collect()
    }

    /// Records a message's delivery to `channel` (`error: None`) or a failure to
    /// retry at `next_at` (seconds).
    pub fn mailed(
        &self,
        id: i64,
        channel: &str,
        error: Option<&str>,
        next_at: i64,
    ) -> rusqlite::Result<()> {
        let sent_at = error.is_none().then(|| chrono::Utc::now().timestamp());
        self.conn()?.execute(
            "INSERT INTO feedback_mail(feedback_id, channel, attempts, next_at, sent_at, error)
             VALUES (?1, ?2, 1, ?3, ?4, ?5)
             ON CONFLICT(feedback_id, channel) DO UPDATE SET attempts = attempts + 1,
             next_at = ?3, sent_at = ?4, error = ?5",
            params![id, channel, next_at, sent_at, error],
        )?;
        Ok(())
    }
}

fn message(r: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: r.get(0)?,
        at: r.get(1)?,
        sender: r.get(2)?,
        contact: r.get(3)?,
        text: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_mailed_to_each_channel_once_and_retried_when_it_failed() {
        let dir = tempfile::tempdir().unwrap();
        let m = Messages::of(dir.path());
        let id = m.add("alice", "alice@example.com", "hello").unwrap();
        assert_eq!(m.all().unwrap()[0].text, "hello");
        let now = chrono::Utc::now().timestamp();
        assert_eq!(m.to_mail("mail", 0, now, 10).unwrap().len(), 1);
        m.mailed(id, "mail", Some("refused"), now + 60).unwrap();
        assert!(
            m.to_mail("mail", 0, now, 10).unwrap().is_empty(),
            "not due yet"
        );
        assert_eq!(
            m.to_mail("mail", 0, now + 60, 10).unwrap().len(),
            1,
            "due again"
        );
        assert_eq!(
            m.to_mail("other", 0, now, 10).unwrap().len(),
            1,
            "per channel"
        );
        m.mailed(id, "mail", None, now + 60).unwrap();
        assert!(
            m.to_mail("mail", 0, now + 3600, 10).unwrap().is_empty(),
            "sent"
        );
        let later = chrono::Utc::now().timestamp_micros() + 1;
        assert!(
            m.to_mail("other", later, now, 10).unwrap().is_empty(),
            "too old"
        );
    }
}

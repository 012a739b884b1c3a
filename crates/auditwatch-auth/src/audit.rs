//! Auditwatch's own audit trail: sign-ins (success and failure), sign-outs,
//! searches with their filters, SQL text, exports, and every change to users and
//! keys: who, when, from where, what, and how it ended. Append-only: triggers in the
//! catalog refuse `UPDATE` and `DELETE` on the table.

use rusqlite::params;

use crate::db::AuthStore;
use crate::error::Result;
use crate::now_us;

/// Longest `detail` kept (bytes); longer text is cut at a character boundary.
pub const MAX_DETAIL: usize = 8192;

/// An entry to append.
#[derive(Debug, Clone, Default)]
pub struct NewAudit {
    /// Who (user name, `token:<id>` is not used: keys act as their user).
    pub actor: String,
    /// Client address.
    pub ip: String,
    /// What: `signin`, `signout`, `search`, `sql`, `export`, `user.add`, …
    pub action: String,
    /// What it was done to (a path, a user name, a key id).
    pub target: String,
    /// Filters, SQL text, changed fields.
    pub detail: String,
    /// `ok`, `denied`, `failed`, or an HTTP status.
    pub outcome: String,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    /// Sequence number (increasing).
    pub id: i64,
    /// When (µs since the epoch).
    pub at: i64,
    /// Who.
    pub actor: String,
    /// From where.
    pub ip: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// Details.
    pub detail: String,
    /// How it ended.
    pub outcome: String,
}

/// Which entries to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exactly this actor.
    pub actor: Option<String>,
    /// Actions starting with this (`user.` for every user change).
    pub action: Option<String>,
    /// At or after (µs).
    pub since: Option<i64>,
    /// Before (µs).
    pub until: Option<i64>,
    /// Entries older than this id (paging).
    pub before_id: Option<i64>,
    /// At most this many.
    pub limit: usize,
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl AuthStore {
    /// Appends an entry.
    pub fn audit(&self, e: &NewAudit) -> Result<()> {
        self.conn().execute(
            "INSERT INTO audit_log(at, actor, ip, action, target, detail, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                now_us(),
                cut(&e.actor, 256),
                cut(&e.ip, 64),
                cut(&e.action, 64),
                cut(&e.target, 1024),
                cut(&e.detail, MAX_DETAIL),
                cut(&e.outcome, 64)
            ],
        )?;
        Ok(())
    }

    /// Entries matching `f`, newest first.
    pub fn audit_log(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT id, at, actor, ip, action, target, detail, outcome FROM audit_log
             WHERE (?1 IS NULL OR actor = ?1)
               AND (?2 IS NULL OR substr(action, 1, length(?2)) = ?2)
               AND (?3 IS NULL OR at >= ?3)
               AND (?4 IS NULL OR at < ?4)
               AND (?5 IS NULL OR id < ?5)
             ORDER BY id DESC LIMIT ?6",
        )?;
        let limit = i64::try_from(f.limit).unwrap_or(i64::MAX);
        let rows = st.query_map(
            params![f.actor, f.action, f.since, f.until, f.before_id, limit],
            |r| {
                Ok(AuditRecord {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    ip: r.get(3)?,
                    action: r.get(4)?,
                    target: r.get(5)?,
                    detail: r.get(6)?,
                    outcome: r.get(7)?,
                })
            },
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_only_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let s = AuthStore::open(dir.path()).unwrap();
        for (actor, action) in [
            ("ana", "signin"),
            ("bob", "search"),
            ("ana", "user.add"),
            ("ana", "user.remove"),
        ] {
            s.audit(&NewAudit {
                actor: actor.into(),
                action: action.into(),
                detail: "é".repeat(MAX_DETAIL),
                ..Default::default()
            })
            .unwrap();
        }
        let all = s
            .audit_log(&AuditFilter {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].action, "user.remove", "newest first");
        assert!(all[0].detail.len() <= MAX_DETAIL);
        let users = s
            .audit_log(&AuditFilter {
                action: Some("user.".into()),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(users.len(), 2);
        let ana = s
            .audit_log(&AuditFilter {
                actor: Some("ana".into()),
                limit: 10,
                before_id: Some(all[0].id),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(ana.len(), 2);
        let conn = s.conn();
        let e = conn
            .execute("DELETE FROM audit_log", [])
            .unwrap_err()
            .to_string();
        assert!(e.contains("append-only"), "{e}");
        assert!(
            conn.execute("UPDATE audit_log SET actor = 'x'", [])
                .is_err()
        );
    }
}

//! Auditwatch's own audit trail: sign-ins (success and failure), sign-outs,
//! searches with their filters, SQL text, exports, and every change to users and
//! keys: who, when, from where, what, and how it ended. Append-only: triggers in the
//! catalog refuse `UPDATE` and `DELETE` on the table.

use crate::db::AuthStore;
use crate::error::Result;
use crate::now_us;
use crate::sql::vals;

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
        self.with(|c| {
            c.execute(
                "INSERT INTO audit_log(at, actor, ip, action, target, detail, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                vals![
                    now_us(),
                    cut(&e.actor, 256),
                    cut(&e.ip, 64),
                    cut(&e.action, 64),
                    cut(&e.target, 1024),
                    cut(&e.detail, MAX_DETAIL),
                    cut(&e.outcome, 64)
                ],
            )
        })?;
        Ok(())
    }

    /// Entries matching `f`, newest first.
    pub fn audit_log(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let limit = i64::try_from(f.limit).unwrap_or(i64::MAX);
        self.with(|c| {
            c.rows(
                "SELECT id, at, actor, ip, action, target, detail, outcome FROM audit_log
                 WHERE (CAST(?1 AS TEXT) IS NULL OR actor = ?1)
                   AND (CAST(?2 AS TEXT) IS NULL OR substr(action, 1, length(CAST(?2 AS TEXT))) = ?2)
                   AND (CAST(?3 AS BIGINT) IS NULL OR at >= ?3)
                   AND (CAST(?4 AS BIGINT) IS NULL OR at < ?4)
                   AND (CAST(?5 AS BIGINT) IS NULL OR id < ?5)
                 ORDER BY id DESC LIMIT ?6",
                vals![
                    f.actor.clone(),
                    f.action.clone(),
                    f.since,
                    f.until,
                    f.before_id,
                    limit
                ],
            )?
            .iter()
            .map(|r| {
                Ok(AuditRecord {
                    id: r.int(0)?,
                    at: r.int(1)?,
                    actor: r.text(2)?,
                    ip: r.text(3)?,
                    action: r.text(4)?,
                    target: r.text(5)?,
                    detail: r.text(6)?,
                    outcome: r.text(7)?,
                })
            })
            .collect()
        })
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
        let e = s
            .with(|c| c.execute("DELETE FROM audit_log", &[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("append-only"), "{e}");
        assert!(
            s.with(|c| c.execute("UPDATE audit_log SET actor = 'x'", &[]))
                .is_err()
        );
    }
}

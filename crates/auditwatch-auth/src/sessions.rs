//! Browser sessions. The id is 256 random bits handed to the browser once and stored
//! only as its SHA-256; each session carries its own CSRF token. A session ends on
//! sign-out, after `idle` without a request, after `absolute` since sign-in, when
//! its user is disabled or removed, and when the user's password changes.

use std::time::Duration;

use crate::db::AuthStore;
use crate::error::Result;
use crate::sql::vals;
use crate::users::{USER_COLUMNS, User, user_from_row};
use crate::{now_us, random};

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Ends after this long without a request (default 30 min).
    pub idle: Duration,
    /// Ends this long after sign-in whatever happens (default 12 h).
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
        }
    }
}

/// A session just created.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie value (the only copy of the id).
    pub id: String,
    /// The CSRF token of the session.
    pub csrf: String,
}

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user (enabled).
    pub user: User,
    /// The CSRF token state-changing requests must carry.
    pub csrf: String,
}

/// `last_seen` is written at most this often (µs).
const TOUCH_EVERY_US: i64 = 15_000_000;

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl AuthStore {
    /// Starts a session for `user` (a new id every sign-in: no fixation).
    pub fn create_session(&self, user: &User, ip: &str) -> Result<NewSession> {
        let id = random::token();
        let csrf = random::token();
        let now = now_us();
        self.with(|c| {
            c.execute(
                "INSERT INTO auth_sessions(id_hash, user_id, csrf, created_at, last_seen, ip) VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
                vals![random::digest(&id), user.id, &csrf, now, ip],
            )
        })?;
        Ok(NewSession { id, csrf })
    }

    /// The live session behind a cookie value, if any; expired ones are deleted.
    pub fn session(&self, id: &str, policy: SessionPolicy) -> Result<Option<Session>> {
        if id.len() > 64 {
            return Ok(None);
        }
        let hash = random::digest(id);
        let now = now_us();
        self.with(|c| {
            let row = c.row(
                &format!(
                    "SELECT {USER_COLUMNS}, s.csrf, s.created_at, s.last_seen FROM auth_sessions s
                     JOIN auth_users u ON u.id = s.user_id WHERE s.id_hash = ?1"
                ),
                vals![hash.clone()],
            )?;
            let Some(r) = row else {
                return Ok(None);
            };
            let (user, csrf, created, last) =
                (user_from_row(&r, 0)?, r.text(9)?, r.int(10)?, r.int(11)?);
            let expired =
                now - last > micros(policy.idle) || now - created > micros(policy.absolute);
            if expired || user.disabled {
                c.execute("DELETE FROM auth_sessions WHERE id_hash = ?1", vals![hash])?;
                return Ok(None);
            }
            if now - last > TOUCH_EVERY_US {
                c.execute(
                    "UPDATE auth_sessions SET last_seen = ?1 WHERE id_hash = ?2",
                    vals![now, hash],
                )?;
            }
            Ok(Some(Session { user, csrf }))
        })
    }

    /// Ends a session (sign-out).
    pub fn end_session(&self, id: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM auth_sessions WHERE id_hash = ?1",
                vals![random::digest(id)],
            )
        })?;
        Ok(())
    }

    /// Deletes sessions past their time (housekeeping; lookups already refuse them).
    pub fn purge_sessions(&self, policy: SessionPolicy) -> Result<usize> {
        let now = now_us();
        self.with(|c| {
            c.execute(
                "DELETE FROM auth_sessions WHERE last_seen < ?1 OR created_at < ?2",
                vals![now - micros(policy.idle), now - micros(policy.absolute)],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    #[test]
    fn sessions_end_when_they_should() {
        let dir = tempfile::tempdir().unwrap();
        let s = AuthStore::open(dir.path()).unwrap();
        let u = s
            .add_user("ana", Role::Viewer, None, "a long password")
            .unwrap();
        let p = SessionPolicy::default();
        let a = s.create_session(&u, "127.0.0.1").unwrap();
        let b = s.create_session(&u, "127.0.0.1").unwrap();
        assert_ne!(a.id, b.id);
        assert!(a.id.len() >= 43, "256 bits");
        let live = s.session(&a.id, p).unwrap().unwrap();
        assert_eq!(
            (live.user.name.as_str(), live.csrf.as_str()),
            ("ana", a.csrf.as_str())
        );
        assert!(s.session("forged", p).unwrap().is_none());
        s.end_session(&a.id).unwrap();
        assert!(s.session(&a.id, p).unwrap().is_none(), "signed out");
        assert!(s.session(&b.id, p).unwrap().is_some());
        let short = SessionPolicy {
            idle: Duration::from_millis(1),
            absolute: p.absolute,
        };
        std::thread::sleep(Duration::from_millis(5));
        assert!(s.session(&b.id, short).unwrap().is_none(), "idle");
        assert!(
            s.session(&b.id, p).unwrap().is_none(),
            "deleted once expired"
        );
        let c = s.create_session(&u, "127.0.0.1").unwrap();
        s.set_disabled("ana", true).unwrap();
        assert!(s.session(&c.id, p).unwrap().is_none(), "disabled");
        s.set_disabled("ana", false).unwrap();
        let d = s.create_session(&u, "127.0.0.1").unwrap();
        s.set_password("ana", "another long password").unwrap();
        assert!(s.session(&d.id, p).unwrap().is_none(), "password changed");
        let e = s.create_session(&u, "127.0.0.1").unwrap();
        let abs = SessionPolicy {
            idle: p.idle,
            absolute: Duration::from_millis(1),
        };
        std::thread::sleep(Duration::from_millis(5));
        assert!(s.session(&e.id, abs).unwrap().is_none(), "absolute");
    }
}

//! The auth tables in the data directory's SQLite catalog, and [`AuthStore`], the
//! handle every operation goes through.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::error::Result;
use crate::seal::Sealer;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS auth_users(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    accounts TEXT,
    password TEXT,
    totp BLOB,
    totp_last_step INTEGER,
    oidc_issuer TEXT,
    oidc_subject TEXT,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    UNIQUE(oidc_issuer, oidc_subject)
);
CREATE TABLE IF NOT EXISTS auth_tokens(
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES auth_users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    secret_hash BLOB,
    sealed_secret BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    last_used_at INTEGER
);
CREATE TABLE IF NOT EXISTS auth_sessions(
    id_hash BLOB PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES auth_users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    ip TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_sessions_user ON auth_sessions(user_id);
CREATE TABLE IF NOT EXISTS audit_log(
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    ip TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log(at);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#;

/// Users, keys, sessions and the audit log of one data directory.
pub struct AuthStore {
    conn: Mutex<Connection>,
    sealer: Sealer,
    path: PathBuf,
}

impl std::fmt::Debug for AuthStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthStore")
            .field("path", &self.path)
            .finish()
    }
}

impl AuthStore {
    /// Opens the auth tables of `data_dir` (creating them and the key file if needed).
    pub fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|source| crate::AuthError::KeyFile {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join("catalog.db");
        let conn = Connection::open(&path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        let sealer = Sealer::load_or_create(&data_dir.join("auth.key"))?;
        Ok(Self {
            conn: Mutex::new(conn),
            sealer,
            path,
        })
    }

    /// The connection (one at a time; every operation is a few statements).
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The key that seals recoverable secrets.
    pub(crate) fn sealer(&self) -> &Sealer {
        &self.sealer
    }
}

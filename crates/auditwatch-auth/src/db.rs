//! The auth tables in the data directory's SQLite catalog — or, for several nodes, in
//! the shared catalog (PostgreSQL) — and [`AuthStore`], the handle every operation
//! goes through.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use auditwatch_postgres::{Pool, off_runtime};
use rusqlite::Connection;

use crate::error::{AuthError, Result};
use crate::seal::Sealer;
use crate::sql::{Conn, vals};

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

/// The same tables in PostgreSQL (ids from sequences, bytes as BYTEA, the audit log's
/// append-only rule as a trigger), created under an advisory lock by the first node.
const PG_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS auth_meta(key TEXT PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS auth_users(
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    accounts TEXT,
    password TEXT,
    totp BYTEA,
    totp_last_step BIGINT,
    oidc_issuer TEXT,
    oidc_subject TEXT,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    UNIQUE(oidc_issuer, oidc_subject)
);
CREATE TABLE IF NOT EXISTS auth_tokens(
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES auth_users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    secret_hash BYTEA,
    sealed_secret BYTEA,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT
);
CREATE TABLE IF NOT EXISTS auth_sessions(
    id_hash BYTEA PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES auth_users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    ip TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_sessions_user ON auth_sessions(user_id);
CREATE TABLE IF NOT EXISTS audit_log(
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    ip TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log(at);
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'the audit log is append-only'; END;
$$ LANGUAGE plpgsql;
CREATE OR REPLACE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
"#;

/// Advisory lock key serialising the auth schema's creation between nodes.
const PG_SCHEMA_LOCK: i64 = 0x4155_4449_5457_0002;

/// What the sealing key must open on every node of a shared catalog.
const KEY_CHECK: &[u8] = b"auditwatch auth.key check";

enum Backend {
    Lite(Mutex<Connection>),
    Pg(Pool),
}

/// Users, keys, sessions and the audit log of one data directory, or of every node
/// sharing a catalog.
pub struct AuthStore {
    backend: Backend,
    sealer: Sealer,
    /// The catalog file, or the shared catalog's URL without its password.
    shown: String,
}

impl std::fmt::Debug for AuthStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthStore")
            .field("at", &self.shown)
            .finish()
    }
}

impl AuthStore {
    /// Opens the auth tables of `data_dir` (creating them and the key file if needed).
    pub fn open(data_dir: &Path) -> Result<Self> {
        let sealer = Self::load_sealer(data_dir)?;
        let path = data_dir.join("catalog.db");
        let conn = Connection::open(&path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            backend: Backend::Lite(Mutex::new(conn)),
            sealer,
            shown: path.display().to_string(),
        })
    }

    /// Opens the auth tables in the shared catalog at `url` (PostgreSQL; `password`
    /// replaces one in the URL), creating them if needed. Every node must hold the
    /// same `<data-dir>/auth.key`: the first node records a value sealed with its key,
    /// and a node whose key cannot open it is refused (its keys' secrets and TOTP
    /// seeds would not open either).
    pub fn open_shared(
        data_dir: &Path,
        url: &str,
        shown: &str,
        password: Option<&str>,
    ) -> Result<Self> {
        let key_path = data_dir.join("auth.key");
        let sealer = Self::load_sealer(data_dir)?;
        let pool = auditwatch_postgres::connect(url, password).map_err(|e| match e {
            auditwatch_postgres::ConnectError::BadUrl { .. } => AuthError::Invalid(e.to_string()),
            e => AuthError::Store(e.to_string()),
        })?;
        let store = Self {
            backend: Backend::Pg(pool),
            sealer,
            shown: shown.to_string(),
        };
        let check = store.sealer.seal(KEY_CHECK)?;
        let recorded = store.with(|c| {
            if let Conn::Pg(client) = c {
                auditwatch_postgres::ensure_schema(client, PG_SCHEMA_LOCK, PG_SCHEMA)?;
            }
            c.execute(
                "INSERT INTO auth_meta(key, value) VALUES ('key_check', ?1) \
                 ON CONFLICT (key) DO NOTHING",
                vals![check],
            )?;
            c.row("SELECT value FROM auth_meta WHERE key = 'key_check'", &[])?
                .ok_or_else(|| AuthError::Store("auth_meta lost its key check".into()))?
                .opt_blob(0)
        })?;
        let opens = recorded
            .and_then(|r| store.sealer.open(&r).ok())
            .is_some_and(|v| v == KEY_CHECK);
        if !opens {
            return Err(AuthError::Invalid(format!(
                "{} is not the key the shared catalog's secrets are sealed with: copy \
                 auth.key from a node already using {shown} (mode 0600)",
                key_path.display()
            )));
        }
        Ok(store)
    }

    fn load_sealer(data_dir: &Path) -> Result<Sealer> {
        std::fs::create_dir_all(data_dir).map_err(|source| AuthError::KeyFile {
            path: data_dir.to_path_buf(),
            source,
        })?;
        Sealer::load_or_create(&data_dir.join("auth.key"))
    }

    /// Runs `f` with a connection (the SQLite one, locked; or one from the pool, off
    /// any tokio runtime). Every operation is a few statements.
    pub(crate) fn with<T: Send>(
        &self,
        f: impl FnOnce(&mut Conn<'_>) -> Result<T> + Send,
    ) -> Result<T> {
        match &self.backend {
            Backend::Lite(m) => f(&mut Conn::Lite(m.lock().unwrap_or_else(|p| p.into_inner()))),
            Backend::Pg(pool) => off_runtime(|| {
                let mut client = pool
                    .get()
                    .map_err(|e| AuthError::Store(format!("catalog {}: {e}", self.shown)))?;
                f(&mut Conn::Pg(&mut client))
            }),
        }
    }

    /// The key that seals recoverable secrets.
    pub(crate) fn sealer(&self) -> &Sealer {
        &self.sealer
    }
}

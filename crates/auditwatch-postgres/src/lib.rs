//! The connection to a shared catalog in PostgreSQL (`[catalog] url`), for the crates
//! that keep tables there: the table catalog (`auditwatch-catalog`) and the sign-in
//! tables (`auditwatch-auth`).
//!
//! - [`connect`]: a pool of synchronous `postgres` clients (r2d2), failing within
//!   15 seconds when the server cannot be reached;
//! - [`off_runtime`]: the synchronous client drives a small runtime of its own, which
//!   cannot block inside another; calls made from async code run on a scoped thread;
//! - [`redact`]: the URL with its password replaced, for every message and log;
//! - [`ensure_schema`]: tables created once, under an advisory lock, when several
//!   nodes start together.

use std::time::Duration;

pub use postgres;
use postgres::NoTls;
use r2d2_postgres::PostgresConnectionManager;

/// A pool of connections to the shared catalog.
pub type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// Connections kept per node: one per concurrent query or commit.
const POOL_SIZE: u32 = 8;

/// Why the shared catalog could not be opened. Messages show the URL without its
/// password.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not a PostgreSQL connection URL.
    #[error("[catalog] url {url}: {reason}")]
    BadUrl {
        /// The URL, password removed.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server did not answer, or refused the connection.
    #[error("catalog {url}: cannot connect: {reason}")]
    Unreachable {
        /// The URL, password removed.
        url: String,
        /// Why.
        reason: String,
    },
}

/// Opens a pool to `url` (`postgres://user[:password]@host[:port]/db`); `password`,
/// when given, replaces one in the URL. One connection is made at once, so a wrong
/// host, port, user or database fails here.
pub fn connect(url: &str, password: Option<&str>) -> Result<Pool, ConnectError> {
    let shown = redact(url);
    let bad = |reason: String| ConnectError::BadUrl {
        url: shown.clone(),
        reason,
    };
    let scheme = url.split("://").next().unwrap_or_default();
    if !matches!(scheme, "postgres" | "postgresql") {
        return Err(bad(
            "unsupported scheme (the shared catalog is PostgreSQL: postgres://…)".into(),
        ));
    }
    let mut config: postgres::Config = url.parse().map_err(|e| bad(format!("{e}")))?;
    if let Some(pw) = password {
        config.password(pw);
    }
    let manager = PostgresConnectionManager::new(config, NoTls);
    off_runtime(|| {
        r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(15))
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(manager)
    })
    .map_err(|e| ConnectError::Unreachable {
        url: shown.clone(),
        reason: e.to_string(),
    })
}

/// Runs `schema` (statements that create what is missing) in one transaction under
/// the advisory lock `lock`, so that nodes starting together do not race.
pub fn ensure_schema(
    client: &mut postgres::Client,
    lock: i64,
    schema: &str,
) -> Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock])?;
    tx.batch_execute(schema)?;
    tx.commit()
}

/// `url` with its password replaced, fit for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(unparsable url)".to_string(),
    }
}

/// A PostgreSQL error as one line: the server's SQLSTATE and message, or the client's
/// error with its cause.
pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => {
            let mut s = e.to_string();
            if let Some(cause) = std::error::Error::source(e) {
                s = format!("{s}: {cause}");
            }
            s
        }
    }
}

/// Runs `f` here, or on a scoped thread when this thread is inside a tokio runtime
/// (where the `postgres` client's own runtime cannot block).
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        let shown = redact("postgres://aw:s3cret@db.internal:5432/auditwatch");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("aw:***@db.internal:5432/auditwatch"),
            "{shown}"
        );
    }

    #[test]
    fn other_schemes_are_refused_by_name() {
        let e = connect("mysql://u:pw@h/db", None).unwrap_err().to_string();
        assert!(e.contains("postgres://") && !e.contains("pw@"), "{e}");
    }

    #[test]
    fn off_runtime_runs_inside_and_outside_a_runtime() {
        assert_eq!(off_runtime(|| 1), 1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let inside = rt.block_on(async {
            // A nested runtime blocking here would panic; off_runtime moves it away.
            off_runtime(|| {
                let nested = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                nested.block_on(async { 2 })
            })
        });
        assert_eq!(inside, 2);
    }
}

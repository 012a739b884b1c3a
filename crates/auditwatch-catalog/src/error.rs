//! Typed errors of the catalog.

use std::path::PathBuf;

use thiserror::Error;

/// What can go wrong in the catalog.
#[derive(Debug, Error)]
pub enum CatalogError {
    /// The node's SQLite catalog failed.
    #[error("catalog {path}: {source}")]
    Sqlite {
        /// The catalog file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// The shared catalog (PostgreSQL) failed; the URL is shown without its password.
    #[error("catalog {url}: {message}")]
    Postgres {
        /// The catalog URL, password removed.
        url: String,
        /// What failed.
        message: String,
    },
    /// Another node changed the same event days first; the commit was not made and
    /// may be tried again.
    #[error("commit conflict: {0}")]
    Conflict(String),
    /// A request was malformed or does not fit what the catalog holds (names the
    /// value and the reason).
    #[error("{0}")]
    Invalid(String),
}

/// Result with [`CatalogError`].
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

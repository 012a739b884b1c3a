//! Typed errors of the store.

use std::path::PathBuf;

use thiserror::Error;

/// What can go wrong in the store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A file-system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The catalog failed (SQLite or PostgreSQL, named with its file or URL).
    #[error(transparent)]
    Catalog(auditwatch_catalog::CatalogError),
    /// Another node changed the same event days first; the commit was not made and
    /// may be tried again.
    #[error("commit conflict: {0}")]
    Conflict(String),
    /// Another process holds the write lock.
    #[error("another auditwatch process is writing to {0} (lock held); try again when it finishes")]
    Locked(PathBuf),
    /// Parquet writing or reading failed.
    #[error("parquet {path}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: datafusion::parquet::errors::ParquetError,
    },
    /// The lake's remote location (object storage) failed or refused an operation.
    #[error("lake storage: {0}")]
    Remote(String),
    /// The query engine refused or failed a query.
    #[error("{0}")]
    Query(String),
    /// A query or request went past one of its bounds (size, depth, memory, work);
    /// the message names the bound.
    #[error("{0}")]
    Limit(String),
    /// A request was malformed (bad attribute, bad value …).
    #[error("{0}")]
    InvalidRequest(String),
    /// A next-token is not one this store issued, or belongs to another query.
    #[error("{0}")]
    InvalidToken(String),
}

impl From<datafusion::error::DataFusionError> for StoreError {
    /// A bound the engine ran into (memory, a bounded function) is a
    /// [`StoreError::Limit`] with the engine's words; anything else a query error.
    fn from(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as E;
        match e.find_root() {
            E::ResourcesExhausted(m) => StoreError::Limit(m.clone()),
            _ => StoreError::Query(e.strip_backtrace().to_string()),
        }
    }
}

impl From<auditwatch_catalog::CatalogError> for StoreError {
    /// A conflict stays one (the writer retries it) and a malformed request stays
    /// one (a 400, not a 500); anything else is the catalog's failure.
    fn from(e: auditwatch_catalog::CatalogError) -> Self {
        use auditwatch_catalog::CatalogError as E;
        match e {
            E::Conflict(m) => StoreError::Conflict(m),
            E::Invalid(m) => StoreError::InvalidRequest(m),
            e => StoreError::Catalog(e),
        }
    }
}

impl From<datafusion::arrow::error::ArrowError> for StoreError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        StoreError::Query(e.to_string())
    }
}

/// Result with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Adds path context to IO errors.
pub(crate) trait IoContext<T> {
    fn io(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| StoreError::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}

//! Typed errors of the auth store.

/// What went wrong in the auth store.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The SQLite catalog failed.
    #[error("user database: {0}")]
    Db(#[from] rusqlite::Error),
    /// The shared catalog (PostgreSQL) failed, or returned what was not expected.
    #[error("user database: {0}")]
    Store(String),
    /// The key file could not be read or written.
    #[error("key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Input that cannot be taken, with the reason.
    #[error("{0}")]
    Invalid(String),
    /// No such user.
    #[error("no user named {0:?}")]
    NoSuchUser(String),
    /// The name is taken.
    #[error("a user named {0:?} already exists")]
    UserExists(String),
    /// No such token.
    #[error("no token with id {0:?}")]
    NoSuchToken(String),
    /// A stored secret could not be opened (wrong key file or tampering).
    #[error("a stored secret could not be opened: {0}")]
    Sealed(String),
}

impl From<auditwatch_postgres::postgres::Error> for AuthError {
    fn from(e: auditwatch_postgres::postgres::Error) -> Self {
        AuthError::Store(auditwatch_postgres::describe(&e))
    }
}

/// Results of the auth store.
pub type Result<T> = std::result::Result<T, AuthError>;

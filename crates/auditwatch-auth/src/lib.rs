//! Who may see what (DESIGN §5): users with roles and account scopes, browser
//! sessions, API keys (bearer tokens, and access-key pairs verified with AWS
//! Signature V4), TOTP second factors, sign-in throttling, and Auditwatch's own
//! append-only audit log.
//!
//! Everything persistent lives in [`AuthStore`], which keeps its tables (`auth_*`,
//! `audit_log`) in the data directory's SQLite catalog beside the lake's, or in the
//! shared catalog (PostgreSQL) of several nodes ([`AuthStore::open_shared`]). Secrets
//! are never stored as given: passwords as argon2id hashes, session ids and bearer
//! tokens as SHA-256 digests (they are 256-bit random values, so a fast hash is
//! enough), and the secret halves of AWS-style keys sealed with a key file that only
//! the data directory holds (Signature V4 needs the secret itself to verify).
//!
//! This crate knows nothing of HTTP: the server turns requests into calls here.

pub mod audit;
mod db;
mod error;
pub mod password;
mod random;
mod role;
mod seal;
pub mod sessions;
pub mod sigv4;
mod sql;
pub mod throttle;
pub mod tokens;
pub mod totp;
pub mod users;

pub use audit::{AuditFilter, AuditRecord, NewAudit};
pub use db::AuthStore;
pub use error::{AuthError, Result};
pub use role::Role;
pub use sessions::SessionPolicy;
pub use tokens::{IssuedToken, TokenInfo, TokenKind};
pub use users::User;

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Whether two secrets are equal, compared in constant time.
pub fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

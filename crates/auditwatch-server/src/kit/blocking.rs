//! Work on the sign-in and user database (SQLite or PostgreSQL, both blocking) run
//! off the async threads, its errors as API errors.

use crate::ApiError;

/// Runs `f` on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> auditwatch_auth::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

//! Read-only SQL over the caller's `events` view, with row and time limits.

use auditwatch_store::SqlLimits;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kit::error::ErrorBody;
use crate::kit::json::J;
use crate::query::Queries;
use crate::{ApiError, AppState, Caller};

/// A SQL request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SqlRequest {
    /// One read-only statement over `events`.
    pub sql: String,
    /// Most rows (default and ceiling: the server's limit).
    pub max_rows: Option<usize>,
}

/// A SQL result.
#[derive(Debug, Serialize, ToSchema)]
pub struct SqlResponse {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    #[schema(value_type = Vec<Vec<Object>>)]
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Whether the row limit cut the result.
    pub truncated: bool,
}

/// Run read-only SQL (analysts and admins).
#[utoipa::path(
    post,
    path = "/api/v1/sql",
    tag = "sql",
    request_body = SqlRequest,
    responses(
        (status = 200, description = "The rows", body = SqlResponse),
        (status = 400, description = "The query was refused or failed", body = ErrorBody),
        (status = 403, description = "The caller may not run SQL", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
    )
)]
pub async fn sql(
    State(state): State<AppState>,
    caller: Caller,
    J(req): J<SqlRequest>,
) -> Result<Json<SqlResponse>, ApiError> {
    let ceiling = state.config().sql.max_rows;
    let max_rows = req.max_rows.unwrap_or(ceiling);
    if max_rows == 0 || max_rows > ceiling {
        return Err(ApiError::invalid(format!(
            "maxRows must be between 1 and {ceiling}"
        )));
    }
    let limits = SqlLimits {
        max_rows,
        ..state.config().sql
    };
    let result = Queries::new(&state, &caller).sql(&req.sql, limits).await?;
    Ok(Json(table(&result)?))
}

/// Columns and rows of a SQL result as JSON values. The columns come from the
/// result's schema, so an answer without rows still names them.
pub fn table(result: &auditwatch_store::SqlResult) -> Result<SqlResponse, ApiError> {
    let columns: Vec<String> = result
        .schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let objects = auditwatch_store::rows::to_json(&result.batches)?;
    let rows = objects
        .into_iter()
        .map(|mut o| {
            columns
                .iter()
                .map(|c| o.remove(c).unwrap_or(serde_json::Value::Null))
                .collect()
        })
        .collect();
    Ok(SqlResponse {
        columns,
        rows,
        truncated: result.truncated,
    })
}

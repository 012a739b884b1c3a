//! `/api/v1`: the JSON API, with its OpenAPI 3.1 document generated from the
//! handlers' annotations (`/api/v1/openapi.json`).

mod events;
mod export;
mod sql;
mod stats;

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::{OpenApi, ToSchema};

pub use export::safe_cell;
pub use sql::table as sql_table;

use crate::error::ErrorBody;
use crate::view::EventView;
use crate::{ApiError, AppState};

/// The API's OpenAPI description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Auditwatch API",
        description = "Search, aggregate and export CloudTrail events. Every answer is limited to the caller's AWS accounts."
    ),
    paths(
        events::search,
        events::one,
        export::export,
        stats::users,
        stats::services,
        stats::parameters,
        stats::aggregate,
        stats::histogram,
        sql::sql,
        stats::feedback,
    ),
    components(schemas(
        ErrorBody,
        EventItem,
        events::SearchPage,
        export::Format,
        crate::query::Field
    ))
)]
pub struct ApiDoc;

/// The `/api/v1` routes (mounted by [`crate::router`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/events", get(events::search))
        .route("/events/{id}", get(events::one))
        .route("/export", get(export::export))
        .route("/users", get(stats::users))
        .route("/services", get(stats::services))
        .route("/parameters", get(stats::parameters))
        .route("/aggregate", get(stats::aggregate))
        .route("/histogram", get(stats::histogram))
        .route("/sql", post(sql::sql))
        .route("/feedback", get(stats::feedback))
        .fallback(not_found)
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such API route; see /api/v1/openapi.json")
}

/// JSON body extractor whose rejections are JSON API errors.
pub struct J<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for J<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Json::<T>::from_request(req, state)
            .await
            .map(|j| J(j.0))
            .map_err(|e| {
                // Too large stays 413; every other body problem is the client's: 400.
                let status = match e.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::BAD_REQUEST,
                };
                ApiError {
                    status,
                    ..ApiError::invalid(e.body_text())
                }
            })
    }
}

/// One event as the API returns it: where and whose it is, and the CloudTrail
/// record exactly as it was delivered.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventItem {
    /// eventTime (RFC 3339, UTC, µs).
    pub event_time: String,
    /// eventID.
    #[serde(rename = "eventID")]
    pub event_id: Option<String>,
    /// The derived user name (CloudTrail Event history's "User name").
    pub username: Option<String>,
    /// The AWS account the event belongs to.
    pub account_id: Option<String>,
    /// Where Auditwatch read it (file, `archive.zip!entry`).
    pub source: String,
    /// The CloudTrail record, verbatim.
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
}

impl From<&EventView> for EventItem {
    fn from(e: &EventView) -> Self {
        EventItem {
            event_time: chrono::DateTime::from_timestamp_micros(e.time_us)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                .unwrap_or_default(),
            event_id: e.event_id.clone(),
            username: e.username.clone(),
            account_id: e.account_id.clone(),
            source: e.source.clone(),
            record: e.record(),
        }
    }
}

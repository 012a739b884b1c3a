//! `/api/v1`: the JSON API, with its OpenAPI 3.1 document generated from the
//! handlers' annotations (`/api/v1/openapi.json`).

mod events;
mod export;
mod sql;
mod stats;

use axum::Json;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::{OpenApi, ToSchema};

pub use export::safe_cell;
pub use sql::table as sql_table;

use crate::ApiError;
use crate::access::{Access, Routes};
use crate::caller::Role;
use crate::error::ErrorBody;
use crate::view::EventView;

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
        me,
        crate::admin::audit_api,
        crate::sources::api,
        crate::integrity::api,
        crate::sources::declare_api,
        crate::sources::remove_api,
        crate::alerts::list_api,
        crate::alerts::one_api,
        crate::alerts::status_api,
        crate::alerts::alarms_api,
        crate::alerts::alarm_api,
        crate::rules::list_api,
        crate::rules::switch_api,
        crate::rules::test_api,
        crate::rules::declare_api,
        crate::rules::update_api,
        crate::rules::remove_api,
    ),
    components(schemas(
        ErrorBody,
        EventItem,
        Me,
        events::SearchPage,
        export::Format,
        crate::query::Field
    ))
)]
pub struct ApiDoc;

/// The `/api/v1` routes (mounted by [`crate::router`]).
pub fn routes() -> Routes {
    Routes::api()
        .get("/openapi.json", Access::Public, openapi)
        .get("/me", Access::Role(Role::Viewer), me)
        .get("/events", Access::Role(Role::Viewer), events::search)
        .audit("search")
        .get("/events/{id}", Access::Role(Role::Viewer), events::one)
        .get("/export", Access::Role(Role::Analyst), export::export)
        .audit("export")
        .get("/users", Access::Role(Role::Viewer), stats::users)
        .get("/services", Access::Role(Role::Viewer), stats::services)
        .get("/parameters", Access::Role(Role::Viewer), stats::parameters)
        .get("/aggregate", Access::Role(Role::Viewer), stats::aggregate)
        .get("/histogram", Access::Role(Role::Viewer), stats::histogram)
        .post("/sql", Access::Role(Role::Analyst), sql::sql)
        .audit("sql")
        .get("/feedback", Access::Role(Role::Admin), stats::feedback)
        .get("/audit", Access::Role(Role::Admin), crate::admin::audit_api)
        .get("/sources", Access::Role(Role::Admin), crate::sources::api)
        .get(
            "/integrity",
            Access::Role(Role::Viewer),
            crate::integrity::api,
        )
        .post(
            "/sources",
            Access::Role(Role::Admin),
            crate::sources::declare_api,
        )
        .audit("source.declare")
        .delete(
            "/sources/{name}",
            Access::Role(Role::Admin),
            crate::sources::remove_api,
        )
        .audit("source.remove")
        .get(
            "/alerts",
            Access::Role(Role::Viewer),
            crate::alerts::list_api,
        )
        .get(
            "/alerts/{id}",
            Access::Role(Role::Viewer),
            crate::alerts::one_api,
        )
        .post(
            "/alerts/{id}",
            Access::Role(Role::Analyst),
            crate::alerts::status_api,
        )
        .get(
            "/alarms",
            Access::Role(Role::Viewer),
            crate::alerts::alarms_api,
        )
        .get(
            "/alarms/{name}",
            Access::Role(Role::Viewer),
            crate::alerts::alarm_api,
        )
        .post(
            "/alarms",
            Access::Role(Role::Admin),
            crate::rules::declare_api,
        )
        .audit("alarm.declare")
        .put(
            "/alarms/{name}",
            Access::Role(Role::Admin),
            crate::rules::update_api,
        )
        .audit("alarm.update")
        .delete(
            "/alarms/{name}",
            Access::Role(Role::Admin),
            crate::rules::remove_api,
        )
        .audit("alarm.remove")
        .get("/rules", Access::Role(Role::Viewer), crate::rules::list_api)
        .post(
            "/rules/test",
            Access::Role(Role::Analyst),
            crate::rules::test_api,
        )
        .post(
            "/rules/{kind}/{id}",
            Access::Role(Role::Admin),
            crate::rules::switch_api,
        )
        .audit("rule.switch")
        .fallback(not_found)
}

/// Who the caller is, as the server sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// User name.
    pub name: String,
    /// `admin`, `analyst` or `viewer`.
    pub role: String,
    /// The AWS accounts visible; absent means all.
    pub accounts: Option<Vec<String>>,
}

/// The signed-in principal.
#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(caller: crate::Caller) -> Json<Me> {
    Json(Me {
        name: caller.name,
        role: caller.role.name().into(),
        accounts: match caller.scope {
            auditwatch_store::Scope::All => None,
            auditwatch_store::Scope::Accounts(set) => Some(set.iter().cloned().collect()),
        },
    })
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

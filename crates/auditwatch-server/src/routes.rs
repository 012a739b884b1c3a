//! The whole HTTP surface assembled: every feature's pages and `/api/v1` routes with
//! their access policies, the OpenAPI document, and the middleware stack (the sign-in
//! gate, metrics, guards, timeouts, limits). The only module that knows every
//! feature; none imports it.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::{Json, Router};
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::kit::access::{Access, Policies, Routes, Rule};
use crate::kit::error::ErrorBody;
use crate::kit::{guard, page};
use crate::{
    ApiError, AppState, about, admin, alerts, aws, contact, integrity, metrics, overview, rules,
    search, signin, sources, sql, tracker,
};

/// The API's OpenAPI description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Auditwatch API",
        description = "Search, aggregate and export CloudTrail events. Every answer is limited to the caller's AWS accounts."
    ),
    paths(
        crate::search::api::search,
        crate::search::api::one,
        crate::search::export::export,
        crate::overview::api::users,
        crate::overview::api::services,
        crate::overview::api::parameters,
        crate::overview::api::aggregate,
        crate::overview::api::histogram,
        crate::sql::api::sql,
        crate::contact::feedback,
        crate::signin::me,
        crate::admin::audit_api,
        crate::sources::list_api,
        crate::integrity::report_api,
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
        crate::search::api::EventItem,
        crate::signin::Me,
        crate::search::api::SearchPage,
        crate::search::export::Format,
        crate::query::Field
    ))
)]
pub struct ApiDoc;

/// Every route with its policy.
fn routes() -> Routes {
    Routes::pages()
        .merge(overview::pages())
        .merge(search::pages())
        .merge(sql::pages())
        .merge(about::pages())
        .merge(contact::pages())
        .merge(signin::pages())
        .merge(admin::pages())
        .merge(sources::pages())
        .merge(integrity::pages())
        .merge(alerts::pages())
        .merge(rules::pages())
        .merge(page::assets())
        .merge(aws::routes())
        .nest("/api/v1", api())
        .nest("/tracker", tracker::routes())
        .merge(metrics::routes())
}

/// The `/api/v1` routes: each feature's, the OpenAPI document, and a JSON 404.
fn api() -> Routes {
    Routes::api()
        .get("/openapi.json", Access::Public, openapi)
        .merge(signin::api())
        .merge(search::api())
        .merge(overview::api())
        .merge(sql::api())
        .merge(contact::api())
        .merge(admin::api())
        .merge(sources::api())
        .merge(integrity::api())
        .merge(alerts::api())
        .merge(rules::api())
        .fallback(not_found)
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such API route; see /api/v1/openapi.json")
}

/// The access policy of every route (what the router enforces).
pub fn access_rules() -> Vec<Rule> {
    routes().into_parts().1
}

/// The whole HTTP surface as one router.
pub fn router(state: AppState) -> Router {
    let max_body = state.config().max_body_bytes;
    let timeout = state.config().request_timeout;
    let (router, rules) = routes().into_parts();
    let gate = signin::Gate {
        state: state.clone(),
        policies: Arc::new(Policies::new(rules)),
    };
    let loopback_only = state.config().loopback_only;
    router
        .layer(axum::middleware::from_fn_with_state(gate, signin::gate))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn(guard::same_origin_writes))
        .layer(axum::middleware::from_fn_with_state(
            loopback_only,
            guard::loopback_host,
        ))
        .layer(axum::middleware::from_fn(guard::security_headers))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        // A bug must cost one request a 500, never the connection or the process.
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

//! The status of the sources `serve` runs: `GET /api/v1/sources` and the Sources
//! page (admins only: sources span every account). Objects that failed or were
//! quarantined are listed from the catalog with their reasons.

use auditwatch_sources::runner::SourceStatus;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::{Access, Routes};
use crate::caller::Role;
use crate::ui::{PageError, layout};
use crate::{ApiError, AppState, Caller};

/// Most failed objects listed per source.
const MAX_FAILED_LISTED: usize = 100;

/// The Sources page.
pub fn routes() -> Routes {
    Routes::pages().get("/sources", Access::Role(Role::Admin), page)
}

/// An object that was not taken whole.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailedObject {
    /// `s3://bucket/key`, or the queue and message id.
    pub location: String,
    /// `failed` (retried), `rejected`, `partial` or `quarantined`.
    pub status: String,
    /// Why.
    pub reason: Option<String>,
}

/// One source: its status and its failed objects.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    /// The status (see the runner).
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub status: SourceStatus,
    /// Failed and quarantined objects, newest first (at most 100).
    pub failed: Vec<FailedObject>,
}

async fn views(state: &AppState) -> Result<Vec<SourceView>, ApiError> {
    let statuses = state.config().sources.snapshot();
    let store = state.store().clone();
    let views = tokio::task::spawn_blocking(move || {
        let catalog = store.catalog()?;
        statuses
            .into_iter()
            .map(|status| {
                let failed = catalog
                    .troubled_sources(&status.location_prefix, MAX_FAILED_LISTED)?
                    .into_iter()
                    .map(|s| FailedObject {
                        location: s.location,
                        status: s.status,
                        reason: s.reason,
                    })
                    .collect();
                Ok(SourceView { status, failed })
            })
            .collect::<Result<Vec<_>, auditwatch_store::StoreError>>()
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(views)
}

/// The declared sources with their status (admins only).
#[utoipa::path(get, path = "/api/v1/sources",
    responses((status = 200, body = Vec<SourceView>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn api(State(state): State<AppState>) -> Result<Json<Vec<SourceView>>, ApiError> {
    Ok(Json(views(&state).await?))
}

async fn page(State(state): State<AppState>, caller: Caller) -> Result<Response, PageError> {
    let views = views(&state).await?;
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let body = html! {
        h1 { "Sources" }
        @if views.is_empty() {
            p { "No sources are declared. Add " code { "[[sources]]" } " tables to the configuration file (see the README) and restart " code { "auditwatch serve" } "." }
        } @else {
            table.data #sources {
                thead { tr { th { "Name" } th { "Kind" } th { "Reads" } th { "State" } th { "Last success" } th { "Lag" } th { "Pending" } th { "Failed" } th { "Events added" } th { "Events/s" } th { "Last error" } } }
                tbody {
                    @for v in &views {
                        @let s = &v.status;
                        tr {
                            td { (s.name) }
                            td { (s.kind) }
                            td { code { (s.target) } }
                            td.state { (s.state) }
                            td { (opt(&s.last_success)) }
                            td { (s.lag_seconds.map_or_else(|| "—".to_string(), |l| format!("{l} s"))) }
                            td { (s.objects_pending) }
                            td { (s.objects_failed) }
                            td { (s.events_added) }
                            td { (format!("{:.0}", s.events_per_second)) }
                            td { (opt(&s.last_error)) }
                        }
                    }
                }
            }
            @for v in views.iter().filter(|v| !v.failed.is_empty()) {
                h2 { "Not taken: " (v.status.name) }
                table.data.failed {
                    thead { tr { th { "Object" } th { "Status" } th { "Reason" } } }
                    tbody {
                        @for f in &v.failed {
                            tr { td { code { (f.location) } } td { (f.status) } td { (opt(&f.reason)) } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(Some(&caller), "Sources", "/sources", body).into_response())
}

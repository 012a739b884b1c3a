//! The sources `serve` runs: `GET /api/v1/sources` and the Sources page show their
//! status (admins only: sources span every account), with the objects that failed or
//! were quarantined listed from the catalog with their reasons. Admins declare and
//! remove sources there too (`POST /api/v1/sources`, `DELETE /api/v1/sources/{name}`,
//! or the page's form, which takes the same table as a `[[sources]]` entry in TOML).

use auditwatch_sources::config::SourceConfig;
use auditwatch_sources::runner::{DeclareError, FROM_UI, SourceStatus};
use axum::Json;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kit::access::{Access, Routes};
use crate::kit::audit::note;
use crate::kit::caller::Role;
use crate::kit::json::J;
use crate::kit::page::{PageError, csrf_field, layout};
use crate::{ApiError, AppState, Caller};

const ADMIN: Access = Access::Role(Role::Admin);

/// The largest source table the form takes (bytes of TOML).
const MAX_TABLE_BYTES: usize = 16 * 1024;

/// Most failed objects listed per source.
const MAX_FAILED_LISTED: usize = 100;

/// The Sources page and its forms.
pub fn pages() -> Routes {
    Routes::pages()
        .get("/sources", ADMIN, page)
        .post("/sources", ADMIN, declare_form)
        .post("/sources/{name}/remove", ADMIN, remove_form)
}

/// Sources in the API (`/api/v1/sources`).
pub fn api() -> Routes {
    Routes::api()
        .get("/sources", ADMIN, list_api)
        .post("/sources", ADMIN, declare_api)
        .audit("source.declare")
        .delete("/sources/{name}", ADMIN, remove_api)
        .audit("source.remove")
}

impl From<DeclareError> for ApiError {
    fn from(e: DeclareError) -> Self {
        let (status, code) = match &e {
            DeclareError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            // Without a runner (a router built for tests or tools) there is nothing to
            // change: a conflict with the server's state, not a server failure.
            DeclareError::Exists(_) | DeclareError::FromConfig(_) | DeclareError::NotRunning => {
                (StatusCode::CONFLICT, "conflict")
            }
            DeclareError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            DeclareError::Stored(_) => return ApiError::internal(e),
        };
        ApiError {
            status,
            code,
            message: e.to_string(),
        }
    }
}

/// Declares (or removes) off the async workers: both touch SQLite.
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DeclareError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
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
    responses((status = 200, body = Vec<SourceView>), (status = 403, body = crate::kit::error::ErrorBody)))]
pub async fn list_api(State(state): State<AppState>) -> Result<Json<Vec<SourceView>>, ApiError> {
    Ok(Json(views(&state).await?))
}

/// Declares a source (admins only): the body is the table a `[[sources]]` entry
/// would be, as JSON. It is checked like the configuration file's (a field that
/// does not apply to the kind is refused by name), stored in the catalog and started
/// at once; it runs with the server's AWS configuration (`endpoint_url` and
/// `profile` are refused here).
#[utoipa::path(post, path = "/api/v1/sources",
    request_body(content = Object, description = "A source table: name, kind (s3 | sqs | lookup) and the kind's fields, as in docs/SOURCES.md"),
    responses((status = 201, description = "Declared and started", body = Object),
        (status = 400, body = crate::kit::error::ErrorBody), (status = 403, body = crate::kit::error::ErrorBody),
        (status = 409, description = "A source of that name exists", body = crate::kit::error::ErrorBody)))]
pub async fn declare_api(
    State(state): State<AppState>,
    caller: Caller,
    J(config): J<SourceConfig>,
) -> Result<(StatusCode, Json<SourceStatus>), ApiError> {
    let runner = state.config().sources.clone();
    let by = caller.name.clone();
    let status = run_blocking(move || runner.declare(config, &by)).await?;
    Ok((StatusCode::CREATED, Json(status)))
}

/// Stops and removes a source declared through the UI or API (admins only). What it
/// took stays in the lake; sources of the configuration file are changed there.
#[utoipa::path(delete, path = "/api/v1/sources/{name}",
    params(("name" = String, Path, description = "The source's name")),
    responses((status = 204, description = "Removed"),
        (status = 404, body = crate::kit::error::ErrorBody),
        (status = 409, description = "Declared in the configuration file", body = crate::kit::error::ErrorBody)))]
pub async fn remove_api(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let runner = state.config().sources.clone();
    run_blocking(move || runner.remove(&name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The declare form: one TOML table.
#[derive(Debug, Deserialize)]
pub struct DeclareForm {
    #[serde(default)]
    table: String,
}

async fn declare_form(
    State(state): State<AppState>,
    caller: Caller,
    Form(f): Form<DeclareForm>,
) -> Result<Response, PageError> {
    let parsed = if f.table.len() > MAX_TABLE_BYTES {
        Err(ApiError::invalid(format!(
            "the source table is larger than {MAX_TABLE_BYTES} bytes"
        )))
    } else {
        toml::from_str::<SourceConfig>(&f.table).map_err(|e| {
            ApiError::invalid(format!("the source table is not valid: {}", e.message()))
        })
    };
    let result = match parsed {
        Ok(config) => {
            let runner = state.config().sources.clone();
            let by = caller.name.clone();
            run_blocking(move || runner.declare(config, &by)).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(status) => {
            note(
                &state,
                &caller,
                "source.declare",
                &status.name,
                f.table,
                "ok",
            )
            .await;
            Ok(Redirect::to("/sources").into_response())
        }
        Err(e) => {
            note(
                &state,
                &caller,
                "source.declare",
                "",
                format!("{}: {}", f.table, e.message),
                "failed",
            )
            .await;
            let status = e.status;
            let mut r = render(&state, &caller, Some(&e.message), &f.table).await?;
            *r.status_mut() = status;
            Ok(r)
        }
    }
}

async fn remove_form(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let runner = state.config().sources.clone();
    let target = name.clone();
    match run_blocking(move || runner.remove(&target)).await {
        Ok(()) => {
            note(&state, &caller, "source.remove", &name, String::new(), "ok").await;
            Ok(Redirect::to("/sources").into_response())
        }
        Err(e) => {
            note(
                &state,
                &caller,
                "source.remove",
                &name,
                e.message.clone(),
                "failed",
            )
            .await;
            let status = e.status;
            let mut r = render(&state, &caller, Some(&e.message), "").await?;
            *r.status_mut() = status;
            Ok(r)
        }
    }
}

/// An example table for the form.
const EXAMPLE: &str = "name = \"org-trail\"\nkind = \"s3\"            # s3 | sqs | lookup\nbucket = \"my-cloudtrail-bucket\"\n# prefix = \"\"\n# accounts = [\"111122223333\"]\n# start = \"30d\"\n# interval_seconds = 300\n";

async fn page(State(state): State<AppState>, caller: Caller) -> Result<Response, PageError> {
    render(&state, &caller, None, "").await
}

fn declare_section(caller: &Caller, error: Option<&str>, table: &str) -> Markup {
    html! {
        h2 #declare { "Declare a source" }
        p { "The same table as a " code { "[[sources]]" } " entry of the configuration file (see docs/SOURCES.md), in TOML. It is checked, kept in the catalog and started at once, with the server's own AWS configuration (" code { "endpoint_url" } " and " code { "profile" } " can only be set in the file)." }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.stack method="post" action="/sources" {
            (csrf_field(caller))
            label { "Source table (TOML) "
                textarea name="table" rows="10" cols="70" required spellcheck="false" placeholder=(EXAMPLE) { (table) }
            }
            button type="submit" { "Declare source" }
        }
    }
}

async fn render(
    state: &AppState,
    caller: &Caller,
    error: Option<&str>,
    table: &str,
) -> Result<Response, PageError> {
    let views = views(state).await?;
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let body = html! {
        h1 { "Sources" }
        @if views.is_empty() {
            p { "No sources are declared. Declare one below, or add " code { "[[sources]]" } " tables to the configuration file (see the README) and restart " code { "auditwatch serve" } "." }
        } @else {
            table.data #sources {
                thead { tr { th { "Name" } th { "Kind" } th { "Reads" } th { "State" } th { "Last success" } th { "Lag" } th { "Pending" } th { "Failed" } th { "Events added" } th { "Events/s" } th { "Last error" } th { "Declared" } } }
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
                            td.actions {
                                @if s.origin == FROM_UI {
                                    "by " (s.declared_by.clone().unwrap_or_default())
                                    form.inline method="post" action=(format!("/sources/{}/remove", crate::kit::page::seg(&s.name))) {
                                        (csrf_field(caller))
                                        button type="submit" { "Remove" }
                                    }
                                } @else { "configuration file" }
                                @if !s.config.is_empty() {
                                    details { summary { "Table" } pre { code { (s.config) } } }
                                }
                            }
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
    let body = html! { (body) (declare_section(caller, error, table)) };
    Ok(layout(Some(caller), "Sources", "Sources", body).into_response())
}

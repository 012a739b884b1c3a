//! About: the version, the data location and the schema.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use auditwatch_store::{Lookup, Scope};

use crate::kit::access::{Access, Routes};
use crate::kit::caller::Role;
use crate::kit::page::{PageError, layout};
use crate::query::Queries;
use crate::{ApiError, AppState, Caller};

/// The About page.
pub fn pages() -> Routes {
    Routes::pages().get("/about", Access::Role(Role::Viewer), about)
}

/// `GET /about`.
pub async fn about(State(state): State<AppState>, caller: Caller) -> Result<Response, PageError> {
    let store = state.store().clone();
    let segments = tokio::task::spawn_blocking(move || store.segments())
        .await
        .map_err(ApiError::internal)??;
    // A caller limited to some accounts is told about theirs only: the segments'
    // figures count every account's events.
    let lake = match &caller.scope {
        Scope::All => {
            let events: u64 = segments.iter().map(|s| s.rows).sum();
            let bytes: u64 = segments.iter().map(|s| s.bytes).sum();
            format!(
                "{events} events in {} Parquet segments, {} MB",
                segments.len(),
                bytes / 1_000_000
            )
        }
        Scope::Accounts(_) => {
            let events = Queries::new(&state, &caller)
                .count(&Lookup::default())
                .await?;
            format!("{events} events in the accounts you may see")
        }
    };
    let body = html! {
        h1 { "About Auditwatch" }
        dl.about {
            dt { "Version" } dd { (env!("CARGO_PKG_VERSION")) }
            dt { "Data directory" } dd { code { (state.store().data_dir().display()) } }
            dt { "Lake" } dd { (lake) }
            dt { "Up for" } dd { (state.uptime().as_secs()) " s" }
            dt { "API" } dd { a href="/api/v1/openapi.json" { "OpenAPI document" } " · " a href="/metrics" { "metrics" } }
        }
        h2 #schema { "The events table" }
        p {
            "One row per CloudTrail record; columns are CloudTrail's own names (case-sensitive) plus "
            code { "username" } ", " code { "accountId" } " (derived), " code { "raw" } " (the record verbatim) and "
            code { "source" } ". The full table is in " code { "docs/SCHEMA.md" } "."
        }
    };
    Ok(layout(Some(&caller), "About", "About", body).into_response())
}

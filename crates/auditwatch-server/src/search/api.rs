//! Event search and one event by id.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use crate::kit::error::ErrorBody;
use crate::query::{Q, Queries, SearchForm};
use crate::{ApiError, AppState, Caller, view};

/// One page of a search.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchPage {
    /// Matching events, newest first.
    pub events: Vec<EventItem>,
    /// Pass as `cursor` (with the same filters) for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Search events: every filter is ANDed; newest first; cursor pagination.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    params(SearchForm),
    responses(
        (status = 200, description = "A page of events", body = SearchPage),
        (status = 400, description = "Invalid filters", body = ErrorBody),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Q(form): Q<SearchForm>,
) -> Result<Json<SearchPage>, ApiError> {
    let lookup = form.to_lookup(state.config().max_page)?;
    let page = Queries::new(&state, &caller).search(&lookup).await?;
    let events = view::events(&page.events)?;
    Ok(Json(SearchPage {
        events: events.iter().map(EventItem::from).collect(),
        next_cursor: page.next_token,
    }))
}

/// One event by its eventID.
#[utoipa::path(
    get,
    path = "/api/v1/events/{id}",
    tag = "events",
    params(("id" = String, Path, description = "The eventID")),
    responses(
        (status = 200, description = "The event", body = EventItem),
        (status = 404, description = "No such event in the caller's accounts", body = ErrorBody),
    )
)]
pub async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EventItem>, ApiError> {
    let batch = Queries::new(&state, &caller)
        .event(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event {id:?}")))?;
    let events = view::events(&batch)?;
    let e = events
        .first()
        .ok_or_else(|| ApiError::not_found(format!("no event {id:?}")))?;
    Ok(Json(EventItem::from(e)))
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

impl From<&view::EventView> for EventItem {
    fn from(e: &view::EventView) -> Self {
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

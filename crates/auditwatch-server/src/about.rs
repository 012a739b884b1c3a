//! About (version, data location, schema) and Contact (a feedback form stored in
//! the catalog for admins).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use maud::html;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use auditwatch_store::{Lookup, Scope};

use crate::kit::access::{Access, Routes};
use crate::kit::caller::Role;
use crate::kit::error::ErrorBody;
use crate::kit::page::{PageError, csrf_field, layout};
use crate::query::{self, Queries};
use crate::{ApiError, AppState, Caller};

/// The About and Contact pages.
pub fn pages() -> Routes {
    Routes::pages()
        .get("/about", Access::Role(Role::Viewer), about)
        .get("/contact", Access::Role(Role::Viewer), contact)
        .post("/contact", Access::Role(Role::Viewer), send)
}

/// The Contact messages, for admins (`/api/v1/feedback`).
pub fn api() -> Routes {
    Routes::api().get("/feedback", Access::Role(Role::Admin), feedback)
}

/// Longest feedback message accepted.
const MAX_MESSAGE: usize = 10_000;

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

/// `GET /contact`.
pub async fn contact(caller: Caller) -> Response {
    layout(
        Some(&caller),
        "Contact",
        "Contact",
        form(&caller, None, "", ""),
    )
    .into_response()
}

fn form(
    caller: &Caller,
    notice: Option<Result<&str, &str>>,
    contact: &str,
    message: &str,
) -> maud::Markup {
    html! {
        h1 { "Contact" }
        p { "Questions, problems, ideas: your message is kept for the administrators of this Auditwatch, and e-mailed to them when an SMTP channel is configured." }
        @match notice {
            Some(Ok(m)) => { p.notice role="status" { (m) } },
            Some(Err(m)) => { p.error role="alert" { (m) } },
            None => {},
        }
        form.contact method="post" action="/contact" {
            (csrf_field(caller))
            label { "How to reach you (optional) " input type="text" name="contact" maxlength="200" value=(contact); }
            label for="message" { "Message" }
            textarea #message name="message" rows="6" maxlength=(MAX_MESSAGE) required { (message) }
            button type="submit" { "Send" }
        }
    }
}

/// The contact form.
#[derive(Debug, Deserialize)]
pub struct Feedback {
    #[serde(default)]
    contact: String,
    #[serde(default)]
    message: String,
}

/// `POST /contact`.
pub async fn send(
    State(state): State<AppState>,
    caller: Caller,
    Form(f): Form<Feedback>,
) -> Result<Response, PageError> {
    let message = f.message.trim().to_string();
    let contact: String = f.contact.trim().chars().take(200).collect();
    if message.is_empty() || message.chars().count() > MAX_MESSAGE {
        let body = form(
            &caller,
            Some(Err(&format!(
                "The message must be 1 to {MAX_MESSAGE} characters long."
            ))),
            &contact,
            &message,
        );
        return Ok((
            StatusCode::BAD_REQUEST,
            layout(Some(&caller), "Contact", "Contact", body),
        )
            .into_response());
    }
    let store = state.store().clone();
    let sender = caller.name.clone();
    tokio::task::spawn_blocking(move || store.catalog()?.add_feedback(&sender, &contact, &message))
        .await
        .map_err(ApiError::internal)??;
    let body = form(
        &caller,
        Some(Ok(
            "Thank you — your message was stored for the administrators (and is e-mailed to them when SMTP is set up).",
        )),
        "",
        "",
    );
    Ok(layout(Some(&caller), "Contact", "Contact", body).into_response())
}

/// A Contact-form message.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackItem {
    /// When (RFC 3339).
    pub at: String,
    /// Who sent it.
    pub sender: String,
    /// How to reach them.
    pub contact: String,
    /// The message.
    pub message: String,
}

/// Messages left with the Contact form (admins only).
#[utoipa::path(
    get,
    path = "/api/v1/feedback",
    tag = "admin",
    responses(
        (status = 200, description = "Messages, newest first", body = Vec<FeedbackItem>),
        (status = 403, description = "Not an admin", body = ErrorBody),
    )
)]
pub async fn feedback(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<FeedbackItem>>, ApiError> {
    caller.require_admin()?;
    let store = state.store().clone();
    let items = tokio::task::spawn_blocking(move || store.catalog()?.feedback())
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(
        items
            .into_iter()
            .map(|f| FeedbackItem {
                at: query::fmt_time(f.at),
                sender: f.sender,
                contact: f.contact,
                message: f.message,
            })
            .collect(),
    ))
}

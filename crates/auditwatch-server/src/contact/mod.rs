//! Contact: a form whose messages are kept for the administrators ([`messages`],
//! `GET /api/v1/feedback`, the Admin page) and e-mailed to them through every SMTP
//! channel ([`mail`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use maud::html;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kit::access::{Access, Routes};
use crate::kit::caller::Role;
use crate::kit::error::ErrorBody;
use crate::kit::page::{PageError, csrf_field, layout};
use crate::query;
use crate::{ApiError, AppState, Caller};
pub use messages::{Message, Messages};

pub mod mail;
mod messages;

/// The Contact page.
pub fn pages() -> Routes {
    Routes::pages()
        .get("/contact", Access::Role(Role::Viewer), contact)
        .post("/contact", Access::Role(Role::Viewer), send)
}

/// The Contact messages, for admins (`/api/v1/feedback`).
pub fn api() -> Routes {
    Routes::api().get("/feedback", Access::Role(Role::Admin), feedback)
}

/// Longest feedback message accepted.
const MAX_MESSAGE: usize = 10_000;

/// The messages of the data directory `state` serves.
pub(crate) fn messages(state: &AppState) -> Messages {
    Messages::of(state.store().data_dir())
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
    let messages = messages(&state);
    let sender = caller.name.clone();
    tokio::task::spawn_blocking(move || messages.add(&sender, &contact, &message))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
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
    let messages = messages(&state);
    let items = tokio::task::spawn_blocking(move || messages.all())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(Json(
        items
            .into_iter()
            .map(|f| FeedbackItem {
                at: query::fmt_time(f.at),
                sender: f.sender,
                contact: f.contact,
                message: f.text,
            })
            .collect(),
    ))
}

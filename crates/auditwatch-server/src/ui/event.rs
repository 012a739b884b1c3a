//! One event: its fields, the record pretty-printed, and links onward (user,
//! service, resources, and what the same principal did around that time).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::{PageError, layout, or_dash, seg, url};
use crate::query::{self, Queries};
use crate::{ApiError, AppState, Caller, view};

/// `GET /events/{id}`.
pub async fn page(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let batch = Queries::new(&state, &caller)
        .event(&id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("no event with eventID {id:?} in your accounts"))
        })?;
    let events = view::events(&batch)?;
    let e = events
        .first()
        .ok_or_else(|| ApiError::not_found(format!("no event {id:?}")))?;
    let record = serde_json::to_string_pretty(&e.record()).unwrap_or_else(|_| e.raw.clone());
    let around = |minutes: i64| {
        e.username.as_ref().map(|u| {
            url(
                "/search",
                &[
                    ("username", u),
                    ("start", &query::fmt_time(e.time_us - minutes * 60_000_000)),
                    ("end", &query::fmt_time(e.time_us + minutes * 60_000_000)),
                    ("limit", "200"),
                ],
            )
        })
    };
    let title = format!("{} by {}", or_dash(&e.event_name), or_dash(&e.username));
    let fields: Vec<(&str, String)> = vec![
        ("eventTime", query::fmt_time(e.time_us)),
        ("eventID", or_dash(&e.event_id).to_string()),
        ("eventName", or_dash(&e.event_name).to_string()),
        ("eventSource", or_dash(&e.event_source).to_string()),
        ("eventType", or_dash(&e.event_type).to_string()),
        (
            "readOnly",
            e.read_only.map_or("–".into(), |b| b.to_string()),
        ),
        ("username", or_dash(&e.username).to_string()),
        ("userIdentity.type", or_dash(&e.identity_type).to_string()),
        ("userIdentity.arn", or_dash(&e.identity_arn).to_string()),
        (
            "userIdentity.accessKeyId",
            or_dash(&e.access_key_id).to_string(),
        ),
        ("accountId", or_dash(&e.account_id).to_string()),
        ("awsRegion", or_dash(&e.region).to_string()),
        ("sourceIPAddress", or_dash(&e.source_ip).to_string()),
        ("userAgent", or_dash(&e.user_agent).to_string()),
        ("errorCode", or_dash(&e.error_code).to_string()),
        ("errorMessage", or_dash(&e.error_message).to_string()),
        ("source", e.source.clone()),
    ];
    let integrity = Queries::new(&state, &caller)
        .integrity_of_source(&e.source)
        .await?;
    let body = html! {
        h1 { (title) }
        @match &integrity {
            Some(i) if i.verdict == "valid" => {
                p.badge.ok #integrity { "Log file verified intact against its signed CloudTrail digest" }
            }
            Some(i) => {
                p.badge.failed #integrity role="alert" {
                    "Log file integrity: " (i.verdict.replace('_', " ")) ": " (i.reason.clone().unwrap_or_default())
                    " — " a href="/integrity" { "Integrity" }
                }
            }
            None => { p.badge #integrity { "Log file integrity not checked (" a href="/integrity" { "Integrity" } ")" } }
        }
        p.links {
            @if let Some(u) = &e.username { a href=(format!("/users/{}", seg(u))) { "User " (u) } " · " }
            @if let Some(s) = &e.event_source { a href=(format!("/services/{}", seg(s))) { "Service " (s) } " · " }
            @if let Some(link) = around(60) { a #around href=(link) { "What this principal did within an hour of this" } " · " }
            @if let Some(k) = &e.access_key_id { a href=(url("/search", &[("accessKeyId", k)])) { "Everything with key " (k) } }
        }
        div.detail {
            table.fields {
                tbody {
                    @for (k, v) in &fields {
                        tr { th scope="row" { (k) } td.wrap { (v) } }
                    }
                    tr {
                        th scope="row" { "resources" }
                        td.wrap {
                            @if e.resources.is_empty() { "–" }
                            @for (t, a) in &e.resources {
                                div {
                                    @if let Some(a) = a { a href=(url("/search", &[("resourceName", a)])) { (a) } } @else { "–" }
                                    @if let Some(t) = t { " (" a href=(url("/search", &[("resourceType", t)])) { (t) } ")" }
                                }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Record" }
                pre.record tabindex="0" { code { (record) } }
            }
        }
    };
    Ok(layout(Some(&caller), &title, "", body).into_response())
}

//! One event: its fields in a fixed two-column table where every value is a pivot to
//! a search, the events related to it (same request, same shared event, same access key
//! within an hour), and the record as a collapsible JSON viewer with copy.

use auditwatch_store::{Attribute, Lookup};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::Value;

use super::record_tree::Node;
use crate::kit::page::{PageError, layout, or_dash, seg, url, when};
use crate::query::{self, Queries};
use crate::view::EventView;
use crate::{ApiError, AppState, Caller, view};

/// A field's value, when present, and the search it pivots to, when it has one.
type Pivot = Option<(String, Option<String>)>;

/// Deepest nesting the JSON viewer unfolds; deeper values are shown as text.
const MAX_JSON_DEPTH: usize = 32;
/// Related events listed per kind.
const RELATED: usize = 10;

/// A string of the record at `pointer`, when it is one.
fn text_at(record: &Value, pointer: &str) -> Option<String> {
    record
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A search for events whose record mentions `text`, within a day either side of
/// `at_us`: text other than an IP address or a key id reads every record of the range,
/// so the pivot starts narrow (its chips widen it).
fn mentions(text: &str, at_us: i64) -> String {
    let day = 86_400_000_000;
    url(
        "/search",
        &[
            ("q", text),
            ("start", &query::fmt_time(at_us - day)),
            ("end", &query::fmt_time(at_us + day)),
        ],
    )
}

/// The record as nested `<details>`: objects and arrays fold, the first two levels
/// open; keys in the record's order.
fn json(key: Option<&str>, v: &Node, depth: usize) -> Markup {
    let name = html! { @if let Some(k) = key { span.k { "\"" (k) "\"" } ": " } };
    match v {
        Node::Object(m) if depth < MAX_JSON_DEPTH && !m.is_empty() => html! {
            details open[depth < 2] {
                summary { (name) "{" span.c { " " (m.len()) @if m.len() == 1 { " key " } @else { " keys " } } "}" }
                @for (k, v) in m { (json(Some(k), v, depth + 1)) }
            }
        },
        Node::Array(a) if depth < MAX_JSON_DEPTH && !a.is_empty() => html! {
            details open[depth < 2] {
                summary { (name) "[" span.c { " " (a.len()) @if a.len() == 1 { " item " } @else { " items " } } "]" }
                @for (i, v) in a.iter().enumerate() { (json(Some(&i.to_string()), v, depth + 1)) }
            }
        },
        Node::Object(m) => {
            html! { div.leaf { (name) span.c { @if m.is_empty() { "{}" } @else { "{…}" } } } }
        }
        Node::Array(a) => {
            html! { div.leaf { (name) span.c { @if a.is_empty() { "[]" } @else { "[…]" } } } }
        }
        Node::String(s) => html! { div.leaf { (name) span.s { "\"" (s) "\"" } } },
        Node::Number(n) => html! { div.leaf { (name) span.n { (n) } } },
        Node::Literal(l) => html! { div.leaf { (name) span.c { (l) } } },
    }
}

/// A list of related events with a link to all of them.
fn related(title: &str, all: &str, events: &[EventView], this: &str) -> Markup {
    let others: Vec<&EventView> = events
        .iter()
        .filter(|e| e.event_id.as_deref() != Some(this))
        .collect();
    html! {
        @if !others.is_empty() {
            h3 { (title) " " a href=(all) { "(search them)" } }
            ul.related {
                @for e in others {
                    li {
                        @if let Some(id) = &e.event_id { a href=(format!("/events/{}", seg(id))) { (when(e.time_us)) } } @else { (when(e.time_us)) }
                        " " (or_dash(&e.event_name)) " by " (or_dash(&e.username))
                        @if let Some(o) = e.outcome() { " — " span.outcome.bad { (o) } }
                    }
                }
            }
        }
    }
}

/// `GET /events/{id}`.
pub async fn page(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let q = Queries::new(&state, &caller);
    let batch = q.event(&id).await?.ok_or_else(|| {
        ApiError::not_found(format!("no event with eventID {id:?} in your accounts"))
    })?;
    let events = view::events(&batch)?;
    let e = events
        .first()
        .ok_or_else(|| ApiError::not_found(format!("no event {id:?}")))?;
    let record = e.record();
    let request_id = text_at(&record, "/requestID");
    let shared_id = text_at(&record, "/sharedEventID");
    let hour = 3_600_000_000;
    let title = format!("{} by {}", or_dash(&e.event_name), or_dash(&e.username));
    let search = |pairs: &[(&str, &str)]| url("/search", pairs);
    let opt =
        |v: &Option<String>, p: &str| v.as_ref().map(|v| (v.clone(), Some(search(&[(p, v)]))));
    // (field, value, search pivot)
    let fields: Vec<(&str, Pivot)> = vec![
        ("eventID", e.event_id.clone().map(|v| (v, None))),
        ("eventName", opt(&e.event_name, "eventName")),
        ("eventSource", opt(&e.event_source, "eventSource")),
        ("eventType", e.event_type.clone().map(|v| (v, None))),
        (
            "readOnly",
            e.read_only
                .map(|b| (b.to_string(), Some(search(&[("readOnly", &b.to_string())])))),
        ),
        ("username", opt(&e.username, "username")),
        (
            "userIdentity.type",
            e.identity_type.clone().map(|v| (v, None)),
        ),
        (
            "userIdentity.arn",
            e.identity_arn.clone().map(|v| {
                let l = mentions(&v, e.time_us);
                (v, Some(l))
            }),
        ),
        (
            "userIdentity.accessKeyId",
            opt(&e.access_key_id, "accessKeyId"),
        ),
        ("accountId", opt(&e.account_id, "account")),
        (
            "recipientAccountId",
            text_at(&record, "/recipientAccountId").map(|v| {
                let l = search(&[("account", &v)]);
                (v, Some(l))
            }),
        ),
        ("awsRegion", opt(&e.region, "region")),
        ("sourceIPAddress", opt(&e.source_ip, "sourceIp")),
        (
            "userAgent",
            e.user_agent.clone().map(|v| {
                let l = mentions(&v, e.time_us);
                (v, Some(l))
            }),
        ),
        (
            "outcome",
            Some((e.outcome().unwrap_or_else(|| "OK".into()), None)),
        ),
        ("errorCode", opt(&e.error_code, "errorCode")),
        ("errorMessage", e.error_message.clone().map(|v| (v, None))),
        (
            "requestID",
            request_id.clone().map(|v| {
                let l = mentions(&v, e.time_us);
                (v, Some(l))
            }),
        ),
        (
            "sharedEventID",
            shared_id.clone().map(|v| {
                let l = mentions(&v, e.time_us);
                (v, Some(l))
            }),
        ),
        (
            "vpcEndpointId",
            text_at(&record, "/vpcEndpointId").map(|v| (v, None)),
        ),
        ("log file", Some((e.source.clone(), None))),
    ];
    // Related events: same request, same shared event, same key within an hour.
    let this = e.event_id.clone().unwrap_or_default();
    // Each kind is looked for within an hour of the event: a request's and a shared
    // event's records carry the same time, and an unbounded text search would read
    // every record of the lake (25 s over 10 M events).
    let nearby = |text: Option<&str>, attr: Option<(Attribute, &str)>| Lookup {
        text: text.map(str::to_string),
        attributes: attr
            .map(|(a, v)| vec![(a, v.to_string())])
            .unwrap_or_default(),
        start: Some(e.time_us - hour),
        end: Some(e.time_us + hour),
        max_results: RELATED + 1,
        ..Lookup::default()
    };
    let mut same_request = Vec::new();
    if let Some(r) = &request_id {
        same_request = view::events(&q.search(&nearby(Some(r), None)).await?.events)?;
    }
    let mut same_shared = Vec::new();
    if let Some(s) = &shared_id {
        same_shared = view::events(&q.search(&nearby(Some(s), None)).await?.events)?;
    }
    let mut same_key = Vec::new();
    if let Some(k) = &e.access_key_id {
        same_key = view::events(
            &q.search(&nearby(None, Some((Attribute::AccessKeyId, k))))
                .await?
                .events,
        )?;
    }
    let (from, to) = (
        query::fmt_time(e.time_us - hour),
        query::fmt_time(e.time_us + hour),
    );
    let within_hour = |k: &str, v: &str| search(&[(k, v), ("start", &from), ("end", &to)]);
    let has_related = [&same_request, &same_shared, &same_key].iter().any(|l| {
        l.iter()
            .any(|r| r.event_id.as_deref() != Some(this.as_str()))
    });
    let integrity = q.integrity_of_source(&e.source).await?;
    let who = super::origin::who(&e.raw);
    // Only a session's origin is read from the sessions index.
    let origins = match who {
        auditwatch_event::identity::Principal::Session { .. } => {
            super::origin::origins(&state).await?
        }
        _ => Default::default(),
    };
    let behind = super::origin::chain(&origins, &who, &caller.scope);
    let body = html! {
        h1 { (title) }
        p.when { (when(e.time_us)) " (" span.tz-name { "UTC" } ")" }
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
            @if let Some(u) = &e.username {
                a #around href=(search(&[("username", u), ("start", &query::fmt_time(e.time_us - hour)), ("end", &query::fmt_time(e.time_us + hour)), ("limit", "200")])) { "What this principal did within an hour of this" }
            }
        }
        section.behind aria-labelledby="behind-h" {
            h2 #behind-h { "Who is behind it" }
            (behind)
        }
        div.event-layout {
            section aria-labelledby="fields-h" {
                h2 #fields-h { "Fields" }
                table.fields {
                    tbody {
                        @for (k, v) in &fields {
                            tr {
                                th scope="row" { (k) }
                                td {
                                    @match v {
                                        Some((v, Some(link))) => { a href=(link) title=(format!("Search for {k} {v}")) { (v) } }
                                        Some((v, None)) => { (v) }
                                        None => { "–" }
                                    }
                                }
                            }
                        }
                        tr {
                            th scope="row" { "resources" }
                            td {
                                @if e.resources.is_empty() { "–" }
                                @for (t, a) in &e.resources {
                                    div {
                                        @if let Some(a) = a { a href=(search(&[("resourceName", a)])) { (a) } } @else { "–" }
                                        @if let Some(t) = t { " (" a href=(search(&[("resourceType", t)])) { (t) } ")" }
                                    }
                                }
                            }
                        }
                    }
                }
                section.related aria-labelledby="related-h" {
                    h2 #related-h { "Related events" }
                    @if let Some(r) = &request_id { (related("Same request (requestID)", &within_hour("q", r), &same_request, &this)) }
                    @if let Some(s) = &shared_id { (related("Same shared event (sharedEventID)", &within_hour("q", s), &same_shared, &this)) }
                    @if let Some(k) = &e.access_key_id { (related("Same access key within an hour", &within_hour("accessKeyId", k), &same_key, &this)) }
                    @if !has_related {
                        p.empty { "No other event within an hour shares this event's request, shared event ID or access key." }
                    }
                }
            }
            section aria-labelledby="record-h" {
                div.record-head {
                    h2 #record-h { "Record" }
                    button.copy.secondary type="button" data-copy-from="record-text" { "Copy JSON" }
                }
                div.json tabindex="0" aria-label="The record as JSON" { (json(None, &Node::parse(&e.raw), 0)) }
                pre #record-text hidden { (e.raw) }
            }
        }
    };
    Ok(layout(Some(&caller), &title, "", body).into_response())
}

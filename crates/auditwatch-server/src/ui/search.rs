//! The search page: the Auditwatch form (start/end with pickers, a lookup attribute and
//! value, max results) plus free text, account, region, error and more ANDed
//! conditions; results with paging and a column chooser. The query lives in the URL.

use auditwatch_store::Attribute;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::{layout, or_dash, seg, url};
use crate::query::{self, Q, Queries, SearchForm};
use crate::view::{self, EventView};
use crate::{ApiError, AppState, Caller};

/// Max-results choices.
const LIMITS: [usize; 7] = [10, 25, 50, 100, 200, 500, 1000];

/// Columns of the results table (the chooser hides them by index).
pub const COLUMNS: [&str; 9] = [
    "Time (UTC)",
    "User",
    "Event name",
    "Event source",
    "Resource",
    "Region",
    "Source IP",
    "Error",
    "Account",
];

/// A time value as a `datetime-local` input shows it.
fn input_time(name: &str, v: &Option<String>, end: bool) -> String {
    match query::time_field(name, v, end) {
        Ok(Some(us)) => chrono::DateTime::from_timestamp_micros(us)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
            .unwrap_or_default(),
        _ => v.clone().unwrap_or_default(),
    }
}

/// The URL of this form with `cursor` replaced.
pub fn form_url(path: &str, f: &SearchForm, cursor: Option<&str>) -> String {
    fn put<'a>(pairs: &mut Vec<(&'a str, &'a str)>, k: &'static str, v: &'a Option<String>) {
        if let Some(v) = v {
            pairs.push((k, v.as_str()));
        }
    }
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    let p = &mut pairs;
    put(p, "start", &f.start);
    put(p, "end", &f.end);
    put(p, "eventId", &f.event_id);
    put(p, "eventName", &f.event_name);
    put(p, "readOnly", &f.read_only);
    put(p, "username", &f.username);
    put(p, "resourceType", &f.resource_type);
    put(p, "resourceName", &f.resource_name);
    put(p, "eventSource", &f.event_source);
    put(p, "accessKeyId", &f.access_key_id);
    put(p, "q", &f.q);
    put(p, "account", &f.account);
    put(p, "region", &f.region);
    put(p, "errorCode", &f.error_code);
    put(p, "errors", &f.errors);
    put(p, "sourceIp", &f.source_ip);
    let limit = f.limit.map(|l| l.to_string());
    if let Some(l) = &limit {
        pairs.push(("limit", l));
    }
    for (k, v) in f.attr.iter().zip(&f.value) {
        pairs.push(("attr", k));
        pairs.push(("value", v));
    }
    for p in &f.param {
        pairs.push(("param", p));
    }
    if let Some(c) = cursor {
        pairs.push(("cursor", c));
    }
    url(path, &pairs)
}

/// The form's attribute conditions: the named ones a link may carry (`username=…`,
/// `eventName=…`), which the form has no field of their own for, then the `attr`/`value`
/// pairs. Shown as pairs, they are sent back as pairs: the next search keeps them.
fn conditions(f: &SearchForm) -> Vec<(String, String)> {
    let named = (f.named_attributes()).map(|(a, v)| (a.name().to_string(), v.to_string()));
    let pairs = (f.attr.iter().zip(&f.value))
        .filter(|(k, v)| !k.is_empty() || !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()));
    named.chain(pairs).collect()
}

fn form(f: &SearchForm) -> Markup {
    let mut conditions = conditions(f);
    conditions.push((String::new(), String::new()));
    let limit = f.limit.unwrap_or(50);
    html! {
        form.search #search-form method="get" action="/search" {
            fieldset {
                legend { "Time (UTC)" }
                label { "Start " input #start type="datetime-local" step="1" name="start" value=(input_time("start", &f.start, false)); }
                label { "End " input #end type="datetime-local" step="1" name="end" value=(input_time("end", &f.end, true)); }
                p.field-error #range-error role="alert" hidden { }
            }
            fieldset {
                legend { "Lookup attributes (all must match)" }
                @for (i, (k, v)) in conditions.iter().enumerate() {
                    div.condition {
                        label {
                            "Attribute "
                            select name="attr" aria-label=(format!("Attribute {}", i + 1)) {
                                option value="" selected[k.is_empty()] { "—" }
                                @for a in Attribute::ALL {
                                    option value=(a.name()) selected[k == a.name()] { (a.name()) }
                                }
                            }
                        }
                        label { "Value " input type="text" name="value" value=(v) aria-label=(format!("Value {}", i + 1)); }
                    }
                }
                button.secondary type="button" #add-condition { "+ condition" }
            }
            fieldset {
                legend { "More filters" }
                label { "Text anywhere " input type="search" name="q" value=(f.q.clone().unwrap_or_default()) placeholder="203.0.113.7, AKIA…, arn:…"; }
                label { "Accounts " input type="text" name="account" value=(f.account.clone().unwrap_or_default()) placeholder="111122223333,…"; }
                label { "Regions " input type="text" name="region" value=(f.region.clone().unwrap_or_default()) placeholder="us-east-1,…"; }
                label { "Error codes " input type="text" name="errorCode" value=(f.error_code.clone().unwrap_or_default()) placeholder="AccessDenied,…"; }
                label { "Source IPs " input type="text" name="sourceIp" value=(f.source_ip.clone().unwrap_or_default()); }
                label.check { input type="checkbox" name="errors" value="true" checked[query::flag("errors", &f.errors).unwrap_or(false)]; " Errors only" }
                @for p in f.param.iter().filter(|p| !p.is_empty()) {
                    label { "requestParameters " input type="text" name="param" value=(p); }
                }
                label { "requestParameters " input type="text" name="param" placeholder="bucketName=prod-data"; }
            }
            div.actions {
                label { "Max results "
                    select name="limit" {
                        @for l in LIMITS { option value=(l) selected[l == limit] { (l) } }
                    }
                }
                button type="submit" { "Search" }
                a href="/search" { "Reset" }
            }
        }
    }
}

/// The results table.
pub fn results(events: &[EventView]) -> Markup {
    html! {
        details.columns {
            summary { "Columns" }
            @for (i, c) in COLUMNS.iter().enumerate() {
                label.check { input type="checkbox" checked data-col=(i) ; " " (c) }
            }
        }
        div.table-wrap {
            table.events #results {
                thead {
                    tr {
                        @for (i, c) in COLUMNS.iter().enumerate() {
                            @if i == 0 {
                                th data-col=(i) scope="col" { button.sort type="button" #sort-time aria-label="Reverse the time order of this page" { (c) " ↓" } }
                            } @else {
                                th data-col=(i) scope="col" { (c) }
                            }
                        }
                    }
                }
                tbody {
                    @for e in events {
                        tr.failed[e.error_code.is_some()] {
                            td data-col="0" {
                                @if let Some(id) = &e.event_id {
                                    a href=(format!("/events/{}", seg(id))) { (query::fmt_time(e.time_us)) }
                                } @else { (query::fmt_time(e.time_us)) }
                            }
                            td data-col="1" {
                                @if let Some(u) = &e.username { a href=(format!("/users/{}", seg(u))) { (u) } } @else { "–" }
                            }
                            td data-col="2" { (or_dash(&e.event_name)) }
                            td data-col="3" {
                                @if let Some(s) = &e.event_source { a href=(format!("/services/{}", seg(s))) { (s) } } @else { "–" }
                            }
                            td.wrap data-col="4" { @if let Some(r) = e.first_resource() { a href=(url("/search", &[("resourceName", r)])) { (r) } } @else { "–" } }
                            td data-col="5" { (or_dash(&e.region)) }
                            td data-col="6" { (or_dash(&e.source_ip)) }
                            td data-col="7" { (or_dash(&e.error_code)) }
                            td data-col="8" { (or_dash(&e.account_id)) }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /search`.
pub async fn page(State(state): State<AppState>, caller: Caller, Q(f): Q<SearchForm>) -> Response {
    let outcome = async {
        let lookup = f.to_lookup(state.config().max_page)?;
        let page = Queries::new(&state, &caller).search(&lookup).await?;
        Ok::<_, ApiError>((view::events(&page.events)?, page.next_token))
    }
    .await;
    let (status, body) = match outcome {
        Ok((events, next)) => (
            StatusCode::OK,
            html! {
                h1 { "Search" }
                (form(&f))
                section aria-labelledby="results-h" {
                    h2 #results-h { (events.len()) " events" @if next.is_some() { " (more on the next page)" } }
                    @if events.is_empty() {
                        p.empty { "No events match. Widen the time range or remove a filter." }
                    } @else {
                        (results(&events))
                    }
                    nav.pager aria-label="Pages" {
                        @if f.cursor.as_deref().is_some_and(|c| !c.is_empty()) {
                            a href=(form_url("/search", &f, None)) { "« Newest" }
                        }
                        @if let Some(n) = &next {
                            a #next-page href=(form_url("/search", &f, Some(n))) { "Older »" }
                        }
                        a href=(form_url("/api/v1/export", &SearchForm { cursor: None, limit: None, ..f.clone() }, None)) { "Export CSV" }
                    }
                }
            },
        ),
        Err(e) => (
            e.status,
            html! {
                h1 { "Search" }
                p.error role="alert" { (e.message) }
                (form(&f))
            },
        ),
    };
    (status, layout(Some(&caller), "Search", "Search", body)).into_response()
}

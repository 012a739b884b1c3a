//! Principal and service pages, and their index pages.
//!
//! A user page shows one principal (IAM user, role session, root …): its activity over
//! time, access keys, source IPs, services, errors and latest events. A service page
//! shows its event names and users.

use auditwatch_store::{Attribute, Lookup};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::kit::chart;
use crate::kit::page::{PageError, layout, seg, time_control, url, when};
use crate::query::{self, Bucket, Field, Q, Queries};
use crate::search::results as search;
use crate::{ApiError, AppState, Caller, view};

/// A window for the pages (index pages: all history; a user's or service's page: the
/// last 30 days unless `start` says otherwise, so a busy principal's page stays quick).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Window {
    start: Option<String>,
    end: Option<String>,
}

/// Where "all history" starts in links.
const ALL_HISTORY: &str = "1970-01-01";

impl Window {
    fn or_recent(mut self) -> Self {
        if self.start.as_deref().is_none_or(str::is_empty) {
            self.start = Some("30d".into());
        }
        self
    }

    fn lookup(&self) -> Result<Lookup, ApiError> {
        let start = query::time_field("start", &self.start, false)?;
        let end = query::time_field("end", &self.end, true)?;
        query::check_range(start, end)?;
        Ok(Lookup {
            start,
            end,
            max_results: 1,
            ..Lookup::default()
        })
    }
}

fn list_page(title: &str, what: &str, rows: &[Bucket], link: impl Fn(&str) -> String) -> Markup {
    html! {
        h1 { (title) }
        p { (rows.len()) " " (what) ", most events first." }
        table.list {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Events" } } }
            tbody {
                @for b in rows {
                    @if let Some(k) = &b.key {
                        tr { td { a href=(link(k)) { (k) } } td.num { (b.count) } }
                    }
                }
            }
        }
    }
}

async fn index_page(
    state: &AppState,
    caller: &Caller,
    w: &Window,
    subject: &Subject,
) -> Result<Response, PageError> {
    let rows = Queries::new(state, caller)
        .terms(&w.lookup()?, subject.field, 10_000)
        .await?;
    let body = list_page(subject.active, subject.plural, &rows, |k| {
        format!("{}/{}", subject.route, seg(k))
    });
    Ok(layout(Some(caller), subject.active, subject.active, body).into_response())
}

/// `GET /users`.
pub async fn users(
    State(state): State<AppState>,
    caller: Caller,
    Q(w): Q<Window>,
) -> Result<Response, PageError> {
    index_page(&state, &caller, &w, &USER).await
}

/// `GET /services`.
pub async fn services(
    State(state): State<AppState>,
    caller: Caller,
    Q(w): Q<Window>,
) -> Result<Response, PageError> {
    index_page(&state, &caller, &w, &SERVICE).await
}

async fn overview(
    q: &Queries<'_>,
    base: &Lookup,
    attribute: (&str, &str),
    facets: &[(&str, &str, Field, &str)],
) -> Result<Option<Markup>, ApiError> {
    // One scan gives the timeline, the total and the first and last bucket.
    let now = chrono::Utc::now().timestamp_micros();
    let span = base.end.unwrap_or(now) - base.start.unwrap_or(0);
    let span = if base.start.is_some() {
        span
    } else {
        q.time_range(base).await?.map_or(0, |(lo, hi)| hi - lo)
    };
    let interval = query::auto_interval(span);
    let hist = q.histogram(base, interval).await?;
    let total: u64 = hist.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return Ok(None);
    }
    let range = (
        hist.first().map_or(0, |b| b.0),
        hist.last().map_or(0, |b| b.0 + interval),
    );
    let mut latest = base.clone();
    latest.max_results = 25;
    let page = q.search(&latest).await?;
    let events = view::events(&page.events)?;
    // Every link searches the same window the page shows.
    let (from, to) = (
        base.start.map(query::fmt_time).unwrap_or_default(),
        base.end.map(query::fmt_time).unwrap_or_default(),
    );
    let window = [("start", from.as_str()), ("end", to.as_str())];
    let link = |pairs: &[(&str, &str)]| {
        let mut all = vec![attribute];
        all.extend_from_slice(pairs);
        if !pairs.iter().any(|(k, _)| *k == "start") {
            all.extend_from_slice(&window);
        }
        url("/search", &all)
    };
    let mut charts = Vec::new();
    for (id, title, field, param) in facets {
        let mut rows = q.terms(base, *field, 10).await?;
        rows.retain(|b| b.key.is_some());
        charts.push(chart::top_bars(id, title, &rows, |k| link(&[(param, k)])));
    }
    Ok(Some(html! {
        p.window {
            strong { (chart::fmt_count(total)) } " events from " (when(range.0)) " to " (when(range.1)) ". "
            a href=(link(&[])) { "Search them" }
        }
        (chart::histogram("timeline", &format!("Activity (per {})", query::interval_label(interval)), &hist, interval, None, |a, b| {
            link(&[("start", &query::fmt_time(a)), ("end", &query::fmt_time(b))])
        }))
        div.grid.tops { @for c in charts { (c) } }
        h2 { "Latest events" }
        (search::results(&events))
    }))
}

/// The page of one principal or service, or a 404 page that offers a wider window.
fn principal_page(
    caller: &Caller,
    title: &str,
    active: &str,
    path: &str,
    w: &Window,
    body: Option<Markup>,
) -> Response {
    let window = time_control(
        path,
        w.start.as_deref().unwrap_or(""),
        w.end.as_deref().unwrap_or(""),
        Some(ALL_HISTORY),
    );
    match body {
        Some(b) => layout(
            Some(caller),
            title,
            active,
            html! { h1 { (title) } (window) (b) },
        )
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            layout(
                Some(caller),
                title,
                active,
                html! {
                    h1 { (title) }
                    (window)
                    p.empty { "No events in this window among your accounts." }
                },
            ),
        )
            .into_response(),
    }
}

/// What a principal or service page is about.
struct Subject {
    /// The attribute that selects its events, and the same as a group-by field.
    attribute: Attribute,
    field: Field,
    /// What the index page lists.
    plural: &'static str,
    /// The search parameter for it.
    param: &'static str,
    /// The page's path prefix, nav entry and title word.
    route: &'static str,
    active: &'static str,
    kind: &'static str,
    /// Breakdowns shown: (chart id, title, field, search parameter).
    facets: &'static [(&'static str, &'static str, Field, &'static str)],
}

const USER: Subject = Subject {
    attribute: Attribute::Username,
    field: Field::Username,
    plural: "principals",
    param: "username",
    route: "/users",
    active: "Users",
    kind: "User",
    facets: &[
        ("keys", "Access keys", Field::AccessKeyId, "accessKeyId"),
        ("ips", "Source IPs", Field::SourceIp, "sourceIp"),
        ("svcs", "Services", Field::EventSource, "eventSource"),
        ("names", "Event names", Field::EventName, "eventName"),
        ("errs", "Errors", Field::ErrorCode, "errorCode"),
        ("arns", "Identities (ARN)", Field::IdentityArn, "q"),
    ],
};

const SERVICE: Subject = Subject {
    attribute: Attribute::EventSource,
    field: Field::EventSource,
    plural: "event sources",
    param: "eventSource",
    route: "/services",
    active: "Services",
    kind: "Service",
    facets: &[
        ("names", "Event names", Field::EventName, "eventName"),
        ("users", "Users", Field::Username, "username"),
        ("errs", "Errors", Field::ErrorCode, "errorCode"),
        ("regions", "Regions", Field::AwsRegion, "region"),
    ],
};

async fn subject_page(
    state: &AppState,
    caller: &Caller,
    name: &str,
    w: Window,
    subject: &Subject,
) -> Result<Response, PageError> {
    let q = Queries::new(state, caller);
    let w = w.or_recent();
    let mut base = w.lookup()?;
    base.attributes = vec![(subject.attribute, name.to_string())];
    let mut body = overview(&q, &base, (subject.param, name), subject.facets).await?;
    if subject.attribute == Attribute::Username {
        // A person's calls through roles carry the role session's name, not theirs:
        // the origin finds them in every account the caller sees.
        let mut through = w.lookup()?;
        through.origin = Some(name.to_string());
        let n = q.count(&through).await?;
        if n > 0 {
            let mut pairs = vec![("origin", name)];
            let (start, end) = (
                w.start.clone().unwrap_or_default(),
                w.end.clone().unwrap_or_default(),
            );
            if !start.is_empty() {
                pairs.push(("start", &start));
            }
            if !end.is_empty() {
                pairs.push(("end", &end));
            }
            let through = html! {
                p.through #through-roles {
                    strong { (chart::fmt_count(n)) } " events in this window whose origin is " (name)
                    ", directly or through roles, in every account you see. "
                    a href=(url("/search", &pairs)) { "Search them" }
                }
            };
            body = Some(html! { (through) @if let Some(b) = body { (b) } });
        }
    }
    let path = format!("{}/{}", subject.route, seg(name));
    let title = format!("{} {name}", subject.kind);
    Ok(principal_page(
        caller,
        &title,
        subject.active,
        &path,
        &w,
        body,
    ))
}

/// `GET /users/{name}`.
pub async fn user(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Q(w): Q<Window>,
) -> Result<Response, PageError> {
    subject_page(&state, &caller, &name, w, &USER).await
}

/// `GET /services/{name}`.
pub async fn service(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Q(w): Q<Window>,
) -> Result<Response, PageError> {
    subject_page(&state, &caller, &name, w, &SERVICE).await
}

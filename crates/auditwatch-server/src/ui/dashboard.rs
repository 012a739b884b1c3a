//! The dashboard for a chosen window: totals, events per user stacked by event name,
//! activity over time, top services / event names / users / source IPs / errors, and
//! an "unusual activity" panel. Every bar, segment and figure links to its search.

use auditwatch_store::{Attribute, Lookup};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::chart;
use super::{PageError, layout, url};
use crate::query::{self, Field, Q, Queries};
use crate::{ApiError, AppState, Caller};

/// The dashboard's window.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Window {
    start: Option<String>,
    end: Option<String>,
}

/// Error codes counted as "access denied".
pub const DENIED: [&str; 5] = [
    "AccessDenied",
    "AccessDeniedException",
    "Client.UnauthorizedOperation",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
];

/// Logging-change event names.
const LOGGING: [&str; 5] = [
    "StopLogging",
    "DeleteTrail",
    "UpdateTrail",
    "PutEventSelectors",
    "DeleteEventDataStore",
];

struct Ctx<'a> {
    start: String,
    end: String,
    base: Lookup,
    q: Queries<'a>,
}

impl Ctx<'_> {
    /// A search URL for this window plus `pairs`.
    fn link(&self, pairs: &[(&str, &str)]) -> String {
        let mut all = vec![("start", self.start.as_str()), ("end", self.end.as_str())];
        all.extend_from_slice(pairs);
        url("/search", &all)
    }

    fn with(&self, f: impl FnOnce(&mut Lookup)) -> Lookup {
        let mut l = self.base.clone();
        f(&mut l);
        l
    }
}

/// `GET /`.
pub async fn page(
    State(state): State<AppState>,
    caller: Caller,
    Q(w): Q<Window>,
) -> Result<Response, PageError> {
    let start_text = w
        .start
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "7d".into());
    let start = query::time_field("start", &Some(start_text.clone()), false)?.unwrap_or(0);
    let end = query::time_field("end", &w.end, true)?
        .unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
    query::check_range(Some(start), Some(end))?;
    let cx = Ctx {
        start: query::fmt_time(start),
        end: query::fmt_time(end),
        base: Lookup {
            start: Some(start),
            end: Some(end),
            max_results: 1,
            ..Lookup::default()
        },
        q: Queries::new(&state, &caller),
    };
    let body = html! {
        h1 { "Dashboard" }
        (window_form(&start_text, w.end.as_deref().unwrap_or("")))
        p.window { "From " (cx.start) " to " (cx.end) " (UTC)." }
        (totals(&cx).await?)
        div.grid {
            (per_user(&cx).await?)
            (activity(&cx, end - start).await?)
        }
        (unusual(&cx).await?)
        div.grid.tops {
            (top(&cx, "top-services", "Top services", Field::EventSource, "eventSource").await?)
            (top(&cx, "top-events", "Top event names", Field::EventName, "eventName").await?)
            (top(&cx, "top-users", "Top users", Field::Username, "username").await?)
            (top(&cx, "top-ips", "Top source IPs", Field::SourceIp, "sourceIp").await?)
            (top(&cx, "top-errors", "Top errors", Field::ErrorCode, "errorCode").await?)
        }
    };
    Ok(layout(Some(&caller), "Dashboard", "Dashboard", body).into_response())
}

fn window_form(start: &str, end: &str) -> Markup {
    html! {
        form.window method="get" action="/" {
            label { "Window start " input type="text" name="start" value=(start) placeholder="7d, 2024-05-01 …"; }
            label { "end " input type="text" name="end" value=(end) placeholder="now"; }
            button type="submit" { "Show" }
            span.quick {
                @for (label, v) in [("24 hours", "24h"), ("7 days", "7d"), ("30 days", "30d"), ("90 days", "90d")] {
                    a href=(url("/", &[("start", v)])) { (label) }
                }
            }
        }
    }
}

async fn totals(cx: &Ctx<'_>) -> Result<Markup, ApiError> {
    let events = cx.q.count(&cx.base).await?;
    let errors = cx.q.count(&cx.with(|l| l.errors_only = true)).await?;
    let users = cx.q.terms(&cx.base, Field::Username, 100_000).await?.len();
    let services =
        cx.q.terms(&cx.base, Field::EventSource, 100_000)
            .await?
            .len();
    Ok(html! {
        ul.totals {
            li { a href=(cx.link(&[])) { strong { (events) } " events" } }
            li { a href="/users" { strong { (users) } " users" } }
            li { a href="/services" { strong { (services) } " services" } }
            li { a href=(cx.link(&[("errors", "true")])) { strong { (errors) } " errors" } }
        }
    })
}

async fn per_user(cx: &Ctx<'_>) -> Result<Markup, ApiError> {
    let stacks =
        cx.q.stacked(&cx.base, Field::Username, Field::EventName, 15, 8)
            .await?;
    Ok(chart::stacked_bars(
        "per-user",
        "Events per user, by event name",
        "The 15 most active users; each bar is split into their 8 most frequent event names and the rest.",
        &stacks,
        |user, name| match name {
            Some(n) => cx.link(&[("username", user), ("eventName", n)]),
            None => cx.link(&[("username", user)]),
        },
    ))
}

async fn activity(cx: &Ctx<'_>, span: i64) -> Result<Markup, ApiError> {
    let interval = query::auto_interval(span);
    let buckets = cx.q.histogram(&cx.base, interval).await?;
    Ok(chart::histogram(
        "activity",
        &format!(
            "Activity over time (per {})",
            query::interval_label(interval)
        ),
        &buckets,
        interval,
        |a, b| {
            url(
                "/search",
                &[("start", &query::fmt_time(a)), ("end", &query::fmt_time(b))],
            )
        },
    ))
}

async fn top(
    cx: &Ctx<'_>,
    id: &str,
    title: &str,
    field: Field,
    param: &str,
) -> Result<Markup, ApiError> {
    let rows: Vec<query::Stack> =
        cx.q.terms(&cx.base, field, 10)
            .await?
            .into_iter()
            .filter(|b| b.key.is_some())
            .map(|b| query::Stack {
                key: b.key,
                count: b.count,
                by: Vec::new(),
            })
            .collect();
    Ok(chart::top_bars(id, title, &rows, |k| {
        cx.link(&[(param, k)])
    }))
}

async fn unusual(cx: &Ctx<'_>) -> Result<Markup, ApiError> {
    let failed_logins =
        cx.q.count(&cx.with(|l| {
            l.attributes = vec![(Attribute::EventName, "ConsoleLogin".into())];
            l.text = Some("Failure".into());
        }))
        .await?;
    let denied_codes: Vec<String> = DENIED.map(str::to_string).to_vec();
    let denied =
        cx.q.terms(
            &cx.with(|l| l.error_codes = denied_codes.clone()),
            Field::Username,
            5,
        )
        .await?;
    let root =
        cx.q.count(&cx.with(|l| l.attributes = vec![(Attribute::Username, "root".into())]))
            .await?;
    let new_keys = cx
        .q
        .count(&cx.with(|l| l.attributes = vec![(Attribute::EventName, "CreateAccessKey".into())]))
        .await?;
    let mut logging = Vec::new();
    for name in LOGGING {
        let n =
            cx.q.count(&cx.with(|l| l.attributes = vec![(Attribute::EventName, name.into())]))
                .await?;
        if n > 0 {
            logging.push((name, n));
        }
    }
    let denied_list = DENIED.join(",");
    Ok(html! {
        section.unusual aria-labelledby="unusual-h" {
            h2 #unusual-h { "Unusual activity" }
            ul {
                li.alert[failed_logins > 0] {
                    a href=(cx.link(&[("eventName", "ConsoleLogin"), ("q", "Failure")])) { strong { (failed_logins) } " failed console sign-ins" }
                }
                li.alert[!denied.is_empty()] {
                    a href=(cx.link(&[("errorCode", &denied_list)])) { "Access denied / unauthorized" }
                    @if denied.is_empty() { ": none" } @else {
                        ": "
                        @for (i, b) in denied.iter().enumerate() {
                            @if i > 0 { ", " }
                            @let user = b.key.clone().unwrap_or_default();
                            a href=(cx.link(&[("errorCode", &denied_list), ("username", &user)])) { (user) " (" (b.count) ")" }
                        }
                    }
                }
                li.alert[root > 0] { a href=(cx.link(&[("username", "root")])) { strong { (root) } " events by the root user" } }
                li.alert[new_keys > 0] { a href=(cx.link(&[("eventName", "CreateAccessKey")])) { strong { (new_keys) } " new access keys" } }
                li.alert[!logging.is_empty()] {
                    "Logging changes: "
                    @if logging.is_empty() { "none" }
                    @for (i, (name, n)) in logging.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href=(cx.link(&[("eventName", name)])) { (name) " (" (n) ")" }
                    }
                }
            }
        }
    })
}

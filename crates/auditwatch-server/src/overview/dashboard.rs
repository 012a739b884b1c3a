//! The dashboard for a chosen window: totals, events per user stacked by event name,
//! activity over time, top services / event names / users / source IPs / errors, and
//! an "unusual activity" panel. Every bar, segment and figure links to its search.

use std::collections::HashMap;

use auditwatch_store::{Attribute, Lookup};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::kit::chart;
use crate::kit::page::{PageError, layout, time_control, url, when};

use crate::query::{self, Bucket, Field, Q, Queries};
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
    let f = Figures::read(&cx).await?;
    let body = html! {
        h1 { "Dashboard" }
        (time_control("/", &start_text, w.end.as_deref().unwrap_or(""), None))
        p.window { "From " (when(start)) " to " (when(end)) " (" span.tz-name { "UTC" } ")." }
        (totals(&cx, &f))
        div.grid {
            (per_user(&cx, &f))
            (activity(&cx, end - start).await?)
        }
        (unusual(&cx, &f).await?)
        div.grid.tops {
            (top(&cx, "top-services", "Top services", &f.services, "eventSource"))
            (top(&cx, "top-events", "Top event names", &f.names, "eventName"))
            (top(&cx, "top-users", "Top users", &f.users, "username"))
            (top(&cx, "top-ips", "Top source IPs", &f.ips, "sourceIp"))
            (top(&cx, "top-errors", "Top errors", &f.errors, "errorCode"))
        }
    };
    Ok(layout(Some(&caller), "Dashboard", "Dashboard", body).into_response())
}

/// Most groups read per breakdown (far above what a window holds in practice).
const MAX_GROUPS: usize = 1_000_000;

/// Rows of a two-field group-by: ([first, second] values, events).
type Pairs = Vec<(Vec<Option<String>>, u64)>;

/// The window's breakdowns, from four scans.
struct Figures {
    /// Events by (username, eventName).
    pairs: Pairs,
    /// Events with an error, by (errorCode, username).
    failures: Pairs,
    users: Vec<Bucket>,
    names: Vec<Bucket>,
    services: Vec<Bucket>,
    ips: Vec<Bucket>,
    errors: Vec<Bucket>,
}

/// Sums group-by rows by the value in column `column`, largest first.
fn sum_by<'a>(
    rows: impl IntoIterator<Item = &'a (Vec<Option<String>>, u64)>,
    column: usize,
) -> Vec<Bucket> {
    let mut m: HashMap<Option<String>, u64> = HashMap::new();
    for (keys, n) in rows {
        *m.entry(keys.get(column).cloned().flatten()).or_default() += n;
    }
    let mut v: Vec<Bucket> = m
        .into_iter()
        .map(|(key, count)| Bucket { key, count })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    v
}

/// Events of `key` in `list` (0 when absent).
fn count_of(list: &[Bucket], key: &str) -> u64 {
    list.iter()
        .find(|b| b.key.as_deref() == Some(key))
        .map_or(0, |b| b.count)
}

impl Figures {
    async fn read(cx: &Ctx<'_>) -> Result<Self, ApiError> {
        let pairs =
            cx.q.group(&cx.base, &[Field::Username, Field::EventName], MAX_GROUPS)
                .await?;
        let failures =
            cx.q.group(
                &cx.with(|l| l.errors_only = true),
                &[Field::ErrorCode, Field::Username],
                MAX_GROUPS,
            )
            .await?;
        Ok(Figures {
            users: sum_by(&pairs, 0),
            names: sum_by(&pairs, 1),
            errors: sum_by(&failures, 0),
            services: cx.q.terms(&cx.base, Field::EventSource, MAX_GROUPS).await?,
            ips: cx.q.terms(&cx.base, Field::SourceIp, 10).await?,
            pairs,
            failures,
        })
    }
}

fn totals(cx: &Ctx<'_>, f: &Figures) -> Markup {
    let events: u64 = f.users.iter().map(|b| b.count).sum();
    let errors: u64 = f.errors.iter().map(|b| b.count).sum();
    html! {
        ul.totals {
            li { a href=(cx.link(&[])) { strong { (chart::fmt_count(events)) } " events" } }
            li { a href="/users" { strong { (chart::fmt_count(f.users.len() as u64)) } " users" } }
            li { a href="/services" { strong { (chart::fmt_count(f.services.len() as u64)) } " services" } }
            li { a href=(cx.link(&[("errors", "true")])) { strong { (chart::fmt_count(errors)) } " errors" } }
        }
    }
}

fn per_user(cx: &Ctx<'_>, f: &Figures) -> Markup {
    let top = &f.users[..f.users.len().min(15)];
    let stacks = query::stack(top, &f.pairs, chart::SEGMENTS_PER_BAR);
    chart::stacked_bars(
        "per-user",
        "Events per user, by event name",
        "The 15 most active users; each bar is split into their five most frequent event names and the rest (grey).",
        &stacks,
        |user, name| match name {
            Some(n) => cx.link(&[("username", user), ("eventName", n)]),
            None => cx.link(&[("username", user)]),
        },
    )
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
        Some((cx.base.start.unwrap_or(0), cx.base.end.unwrap_or(0))),
        |a, b| {
            url(
                "/search",
                &[("start", &query::fmt_time(a)), ("end", &query::fmt_time(b))],
            )
        },
    ))
}

fn top(cx: &Ctx<'_>, id: &str, title: &str, list: &[Bucket], param: &str) -> Markup {
    let rows: Vec<Bucket> = list
        .iter()
        .filter(|b| b.key.is_some())
        .take(10)
        .cloned()
        .collect();
    chart::top_bars(id, title, &rows, |k| cx.link(&[(param, k)]))
}

async fn unusual(cx: &Ctx<'_>, f: &Figures) -> Result<Markup, ApiError> {
    let failed_logins =
        cx.q.count(&cx.with(|l| {
            l.attributes = vec![(Attribute::EventName, "ConsoleLogin".into())];
            l.failed_only = true;
        }))
        .await?;
    let mut denied = sum_by(
        f.failures
            .iter()
            .filter(|(keys, _)| keys[0].as_deref().is_some_and(|c| DENIED.contains(&c))),
        1,
    );
    denied.truncate(5);
    let root = count_of(&f.users, "root");
    let new_keys = count_of(&f.names, "CreateAccessKey");
    let logging: Vec<(&str, u64)> = LOGGING
        .iter()
        .map(|name| (*name, count_of(&f.names, name)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let denied_list = DENIED.join(",");
    Ok(html! {
        section.unusual aria-labelledby="unusual-h" {
            h2 #unusual-h { "Unusual activity" }
            ul {
                li.alert[failed_logins > 0] {
                    a href=(cx.link(&[("eventName", "ConsoleLogin"), ("failed", "true")])) { strong { (failed_logins) } " failed console sign-ins" }
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

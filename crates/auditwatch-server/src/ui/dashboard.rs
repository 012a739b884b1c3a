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
    let f = Figures::read(&cx).await?;
    let body = html! {
        h1 { "Dashboard" }
        (window_form(&start_text, w.end.as_deref().unwrap_or("")))
        p.window { "From " (cx.start) " to " (cx.end) " (UTC)." }
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

/// The window's breakdowns, from four scans.
struct Figures {
    /// Events by (username, eventName).
    pairs: Vec<(Option<String>, Option<String>, u64)>,
    /// Events with an error, by (errorCode, username).
    failures: Vec<(Option<String>, Option<String>, u64)>,
    users: Vec<(Option<String>, u64)>,
    names: Vec<(Option<String>, u64)>,
    services: Vec<(Option<String>, u64)>,
    ips: Vec<(Option<String>, u64)>,
    errors: Vec<(Option<String>, u64)>,
}

/// Sums `rows` by `key`, largest first.
fn sum_by<T>(rows: &[T], key: impl Fn(&T) -> (Option<String>, u64)) -> Vec<(Option<String>, u64)> {
    let mut m: std::collections::HashMap<Option<String>, u64> = std::collections::HashMap::new();
    for r in rows {
        let (k, n) = key(r);
        *m.entry(k).or_default() += n;
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

fn pairs(rows: Vec<(Vec<Option<String>>, u64)>) -> Vec<(Option<String>, Option<String>, u64)> {
    rows.into_iter()
        .map(|(mut k, n)| {
            let b = k.pop().flatten();
            let a = k.pop().flatten();
            (a, b, n)
        })
        .collect()
}

impl Figures {
    async fn read(cx: &Ctx<'_>) -> Result<Self, ApiError> {
        let pairs_ = pairs(
            cx.q.group(&cx.base, &[Field::Username, Field::EventName], MAX_GROUPS)
                .await?,
        );
        let failures = pairs(
            cx.q.group(
                &cx.with(|l| l.errors_only = true),
                &[Field::ErrorCode, Field::Username],
                MAX_GROUPS,
            )
            .await?,
        );
        let services =
            cx.q.terms(&cx.base, Field::EventSource, MAX_GROUPS)
                .await?
                .into_iter()
                .map(|b| (b.key, b.count))
                .collect();
        let ips =
            cx.q.terms(&cx.base, Field::SourceIp, 10)
                .await?
                .into_iter()
                .map(|b| (b.key, b.count))
                .collect();
        Ok(Figures {
            users: sum_by(&pairs_, |(u, _, n)| (u.clone(), *n)),
            names: sum_by(&pairs_, |(_, e, n)| (e.clone(), *n)),
            errors: sum_by(&failures, |(c, _, n)| (c.clone(), *n)),
            pairs: pairs_,
            failures,
            services,
            ips,
        })
    }

    fn count_of(list: &[(Option<String>, u64)], key: &str) -> u64 {
        list.iter()
            .find(|(k, _)| k.as_deref() == Some(key))
            .map_or(0, |(_, n)| *n)
    }
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

fn totals(cx: &Ctx<'_>, f: &Figures) -> Markup {
    let events: u64 = f.users.iter().map(|(_, n)| n).sum();
    let errors: u64 = f.errors.iter().map(|(_, n)| n).sum();
    html! {
        ul.totals {
            li { a href=(cx.link(&[])) { strong { (events) } " events" } }
            li { a href="/users" { strong { (f.users.len()) } " users" } }
            li { a href="/services" { strong { (f.services.len()) } " services" } }
            li { a href=(cx.link(&[("errors", "true")])) { strong { (errors) } " errors" } }
        }
    }
}

fn per_user(cx: &Ctx<'_>, f: &Figures) -> Markup {
    let stacks: Vec<query::Stack> = f
        .users
        .iter()
        .take(15)
        .map(|(user, count)| {
            let mine: Vec<_> = f.pairs.iter().filter(|(u, _, _)| u == user).collect();
            let mut by = sum_by(&mine, |(_, e, n)| (e.clone(), *n));
            let rest: u64 = by.iter().skip(8).map(|(_, n)| n).sum();
            by.truncate(8);
            let mut by: Vec<query::Bucket> = by
                .into_iter()
                .map(|(key, count)| query::Bucket { key, count })
                .collect();
            if rest > 0 {
                by.push(query::Bucket {
                    key: None,
                    count: rest,
                });
            }
            query::Stack {
                key: user.clone(),
                count: *count,
                by,
            }
        })
        .collect();
    chart::stacked_bars(
        "per-user",
        "Events per user, by event name",
        "The 15 most active users; each bar is split into their 8 most frequent event names and the rest.",
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
        |a, b| {
            url(
                "/search",
                &[("start", &query::fmt_time(a)), ("end", &query::fmt_time(b))],
            )
        },
    ))
}

fn top(cx: &Ctx<'_>, id: &str, title: &str, list: &[(Option<String>, u64)], param: &str) -> Markup {
    let rows: Vec<query::Stack> = list
        .iter()
        .filter(|(k, _)| k.is_some())
        .take(10)
        .map(|(key, count)| query::Stack {
            key: key.clone(),
            count: *count,
            by: Vec::new(),
        })
        .collect();
    chart::top_bars(id, title, &rows, |k| cx.link(&[(param, k)]))
}

async fn unusual(cx: &Ctx<'_>, f: &Figures) -> Result<Markup, ApiError> {
    let failed_logins =
        cx.q.count(&cx.with(|l| {
            l.attributes = vec![(Attribute::EventName, "ConsoleLogin".into())];
            l.text = Some("Failure".into());
        }))
        .await?;
    let denied_rows: Vec<_> = f
        .failures
        .iter()
        .filter(|(code, _, _)| code.as_deref().is_some_and(|c| DENIED.contains(&c)))
        .collect();
    let mut denied = sum_by(&denied_rows, |(_, u, n)| (u.clone(), *n));
    denied.truncate(5);
    let root = Figures::count_of(&f.users, "root");
    let new_keys = Figures::count_of(&f.names, "CreateAccessKey");
    let logging: Vec<(&str, u64)> = LOGGING
        .iter()
        .map(|name| (*name, Figures::count_of(&f.names, name)))
        .filter(|(_, n)| *n > 0)
        .collect();
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
                            @let user = b.0.clone().unwrap_or_default();
                            a href=(cx.link(&[("errorCode", &denied_list), ("username", &user)])) { (user) " (" (b.1) ")" }
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

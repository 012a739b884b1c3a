//! The search page: the form (time with presets, attribute conditions, more filters),
//! the active filters as removable chips, then the total, a histogram of the hits over
//! the range, facets (top values of the current query, each to include or exclude),
//! and the results with sort and paging both ways.
//!
//! One mapping holds the state: [`SearchForm`] is read from the URL, the form shows
//! every filter it carries, and every link (chips, facets, histogram, pages, sort,
//! export) is that form changed in one place and written back by [`form_url`].

use auditwatch_store::{Attribute, Lookup};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::kit::chart;
use crate::kit::page::{PRESETS, layout, seg, url, when};
use crate::query::{self, Field, Q, Queries, SearchForm};
use crate::view::{self, EventView};
use crate::{ApiError, AppState, Caller};

/// Max-results choices.
const LIMITS: [usize; 7] = [10, 25, 50, 100, 200, 500, 1000];

/// Columns of the results table (the chooser hides them by index).
pub const COLUMNS: [&str; 9] = [
    "Time",
    "User",
    "Event name",
    "Event source",
    "Resource",
    "Region",
    "Source IP",
    "Outcome",
    "Account",
];

/// Facets: (field, heading, how a value is included).
const FACETS: [(Field, &str); 7] = [
    (Field::Username, "User"),
    (Field::EventName, "Event name"),
    (Field::EventSource, "Event source"),
    (Field::SourceIp, "Source IP"),
    (Field::ErrorCode, "Error code"),
    (Field::AccountId, "Account"),
    (Field::AwsRegion, "Region"),
];

/// Longest range over which a free-text search also gets its total, histogram and
/// facets (each of them reads every record of the range).
const MAX_TEXT_SUMMARY_US: i64 = 7 * 86_400_000_000;

/// Values shown per facet.
const FACET_VALUES: usize = 5;

/// Most newer pages the "Newer" link can go back through (each is one cursor in the
/// URL); past it, "Newest" starts again from the first page.
const MAX_BACK: usize = 30;

/// The page's own state besides the filters: the cursors of the newer pages.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Paging {
    /// Cursors of the pages before this one, oldest visit first (`-` is the first
    /// page).
    back: Vec<String>,
}

/// A time value as a `datetime-local` input shows it.
fn input_time(name: &str, v: &Option<String>, end: bool) -> String {
    match query::time_field(name, v, end) {
        Ok(Some(us)) => chrono::DateTime::from_timestamp_micros(us)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
            .unwrap_or_default(),
        _ => v.clone().unwrap_or_default(),
    }
}

/// The query pairs of `f` (filters, order, limit, cursor), in a stable order.
fn pairs(f: &SearchForm) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let mut put = |k: &'static str, v: &Option<String>| {
        if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
            out.push((k, v.to_string()));
        }
    };
    put("start", &f.start);
    put("end", &f.end);
    put("eventId", &f.event_id);
    put("eventName", &f.event_name);
    put("readOnly", &f.read_only);
    put("username", &f.username);
    put("resourceType", &f.resource_type);
    put("resourceName", &f.resource_name);
    put("eventSource", &f.event_source);
    put("accessKeyId", &f.access_key_id);
    put("q", &f.q);
    put("account", &f.account);
    put("region", &f.region);
    put("errorCode", &f.error_code);
    put("errors", &f.errors);
    put("failed", &f.failed);
    put("sourceIp", &f.source_ip);
    put("order", &f.order);
    for (k, v) in f.attr.iter().zip(&f.value) {
        if !k.is_empty() || !v.is_empty() {
            out.push(("attr", k.clone()));
            out.push(("value", v.clone()));
        }
    }
    for p in f.param.iter().filter(|p| !p.trim().is_empty()) {
        out.push(("param", p.clone()));
    }
    for e in f.exclude.iter().filter(|e| !e.trim().is_empty()) {
        out.push(("exclude", e.clone()));
    }
    if let Some(l) = f.limit {
        out.push(("limit", l.to_string()));
    }
    if let Some(c) = f.cursor.as_deref().filter(|c| !c.is_empty()) {
        out.push(("cursor", c.to_string()));
    }
    out
}

/// The URL of this form with `cursor` replaced.
pub fn form_url(path: &str, f: &SearchForm, cursor: Option<&str>) -> String {
    let f = SearchForm {
        cursor: cursor.map(str::to_string),
        ..f.clone()
    };
    paged_url(path, &f, &[])
}

/// The URL of `f` (its own cursor) with the newer pages' cursors `back`.
fn paged_url(path: &str, f: &SearchForm, back: &[String]) -> String {
    let mut p = pairs(f);
    p.extend(back.iter().map(|b| ("back", b.clone())));
    let borrowed: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
    url(path, &borrowed)
}

/// `f` as a new search (first page) after `change`.
fn changed(f: &SearchForm, change: impl FnOnce(&mut SearchForm)) -> SearchForm {
    let mut g = SearchForm {
        cursor: None,
        ..f.clone()
    };
    change(&mut g);
    g
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

/// Clears the named attribute `a` of `g`.
fn clear_named(g: &mut SearchForm, a: Attribute) {
    let slot = match a {
        Attribute::EventId => &mut g.event_id,
        Attribute::EventName => &mut g.event_name,
        Attribute::ReadOnly => &mut g.read_only,
        Attribute::Username => &mut g.username,
        Attribute::ResourceType => &mut g.resource_type,
        Attribute::ResourceName => &mut g.resource_name,
        Attribute::EventSource => &mut g.event_source,
        Attribute::AccessKeyId => &mut g.access_key_id,
    };
    *slot = None;
}

/// Every filter of `f` as a chip: (what it says, the search without it).
pub fn chips(f: &SearchForm) -> Vec<(String, SearchForm)> {
    let mut out = Vec::new();
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    type Slot = fn(&mut SearchForm) -> &mut Option<String>;
    let fields: [(&str, Slot); 9] = [
        ("from", |g| &mut g.start),
        ("to", |g| &mut g.end),
        ("text", |g| &mut g.q),
        ("account", |g| &mut g.account),
        ("region", |g| &mut g.region),
        ("errorCode", |g| &mut g.error_code),
        ("sourceIp", |g| &mut g.source_ip),
        ("errors", |g| &mut g.errors),
        ("failed", |g| &mut g.failed),
    ];
    for (name, slot) in fields {
        let mut probe = f.clone();
        if let Some(v) = text(slot(&mut probe)) {
            let flag = match name {
                "errors" => Some("with an error code"),
                "failed" => Some("failed calls"),
                _ => None,
            };
            if let Some(label) = flag {
                if query::flag(name, &Some(v)).unwrap_or(false) {
                    out.push((label.to_string(), changed(f, |g| *slot(g) = None)));
                }
                continue;
            }
            out.push((format!("{name}: {v}"), changed(f, |g| *slot(g) = None)));
        }
    }
    for (a, v) in f.named_attributes() {
        out.push((
            format!("{}: {v}", a.name()),
            changed(f, |g| clear_named(g, a)),
        ));
    }
    for (i, (k, v)) in f.attr.iter().zip(&f.value).enumerate() {
        if k.is_empty() && v.is_empty() {
            continue;
        }
        out.push((
            format!("{k}: {v}"),
            changed(f, |g| {
                g.attr.remove(i);
                g.value.remove(i);
            }),
        ));
    }
    // Repeated parameters: each non-empty value is a chip that removes that one.
    type List = fn(&mut SearchForm) -> &mut Vec<String>;
    let lists: [(&str, List); 2] = [
        ("requestParameters ", |g| &mut g.param),
        ("NOT ", |g| &mut g.exclude),
    ];
    for (prefix, list) in lists {
        let values = list(&mut f.clone()).clone();
        for (i, v) in values
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.trim().is_empty())
        {
            out.push((
                format!("{prefix}{v}"),
                changed(f, |g| {
                    list(g).remove(i);
                }),
            ));
        }
    }
    out
}

fn form(f: &SearchForm) -> Markup {
    let mut conditions = conditions(f);
    conditions.push((String::new(), String::new()));
    let limit = f.limit.unwrap_or(50);
    let oldest = f.oldest_first().unwrap_or(false);
    html! {
        form.search #search-form method="get" action="/search" {
            fieldset.time {
                legend { "Time (" span.tz-name { "UTC" } ")" }
                label { "Start " input #start type="datetime-local" step="1" name="start" value=(input_time("start", &f.start, false)); }
                label { "End " input #end type="datetime-local" step="1" name="end" value=(input_time("end", &f.end, true)); }
                span.presets {
                    "Last: "
                    @for (label, v) in PRESETS {
                        a href=(form_url("/search", &changed(f, |g| { g.start = Some(v.into()); g.end = None; }), None)) { (label) }
                    }
                }
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
                label.check { input type="checkbox" name="errors" value="true" checked[query::flag("errors", &f.errors).unwrap_or(false)]; " With an error code" }
                label.check title="An error code, or a console sign-in CloudTrail records as Failure" { input type="checkbox" name="failed" value="true" checked[query::flag("failed", &f.failed).unwrap_or(false)]; " Failed calls" }
                @for p in f.param.iter().filter(|p| !p.is_empty()) {
                    label { "requestParameters " input type="text" name="param" value=(p); }
                }
                label { "requestParameters " input type="text" name="param" placeholder="bucketName=prod-data"; }
                @for e in f.exclude.iter().filter(|e| !e.trim().is_empty()) {
                    label.check { input type="checkbox" name="exclude" value=(e) checked; " NOT " (e) }
                }
            }
            div.actions {
                label { "Order "
                    select name="order" {
                        option value="newest" selected[!oldest] { "Newest first" }
                        option value="oldest" selected[oldest] { "Oldest first" }
                    }
                }
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

/// Shortens `s` in the middle to at most `n` characters.
pub fn middle(s: &str, n: usize) -> String {
    let count = s.chars().count();
    if count <= n {
        return s.to_string();
    }
    let head = (n - 1) / 2;
    let tail = n - 1 - head;
    let a: String = s.chars().take(head).collect();
    let b: String = s.chars().skip(count - tail).collect();
    format!("{a}…{b}")
}

/// A long value shortened in the middle, the whole on hover, with a copy button.
fn long(text: &str, n: usize, href: Option<String>) -> Markup {
    let short = middle(text, n);
    html! {
        @if let Some(h) = href { a href=(h) title=(text) { (short) } } @else { span title=(text) { (short) } }
        @if short != text {
            " " button.copy type="button" data-copy=(text) aria-label=(format!("Copy {text}")) title="Copy" { (copy_icon()) }
        }
    }
}

/// Two overlapping sheets: the copy button's icon.
pub fn copy_icon() -> Markup {
    html! {
        svg width="12" height="12" aria-hidden="true" focusable="false" {
            rect x="3.5" y="0.5" width="8" height="8" rx="1" fill="none" stroke="currentColor" {}
            rect.front x="0.5" y="3.5" width="8" height="8" rx="1" stroke="currentColor" {}
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
                                th data-col=(i) scope="col" { (c) " (" span.tz-name { "UTC" } ")" }
                            } @else {
                                th data-col=(i) scope="col" { (c) }
                            }
                        }
                    }
                }
                tbody {
                    @for e in events {
                        @let outcome = e.outcome();
                        tr.failed[outcome.is_some()] {
                            td data-col="0" {
                                @if let Some(id) = &e.event_id {
                                    a href=(format!("/events/{}", seg(id))) { (when(e.time_us)) }
                                } @else { (when(e.time_us)) }
                            }
                            td data-col="1" {
                                @if let Some(u) = &e.username { (long(u, 28, Some(format!("/users/{}", seg(u))))) } @else { "–" }
                            }
                            td data-col="2" { (e.event_name.as_deref().unwrap_or("–")) }
                            td data-col="3" {
                                @if let Some(s) = &e.event_source { a href=(format!("/services/{}", seg(s))) title=(s) { (s.trim_end_matches(".amazonaws.com")) } } @else { "–" }
                            }
                            td data-col="4" { @if let Some(r) = e.first_resource() { (long(r, 26, Some(url("/search", &[("resourceName", r)])))) } @else { "–" } }
                            td data-col="5" { (e.region.as_deref().unwrap_or("–")) }
                            td data-col="6" { (e.source_ip.as_deref().map(|s| middle(s, 24)).unwrap_or_else(|| "–".into())) }
                            td data-col="7" {
                                @match &outcome { Some(o) => { span.outcome.bad { (o) } } None => { span.outcome { "OK" } } }
                            }
                            td data-col="8" { (e.account_id.as_deref().unwrap_or("–")) }
                        }
                    }
                }
            }
        }
    }
}

/// The facets of `base` (the search without its page position).
async fn facets(q: &Queries<'_>, f: &SearchForm, base: &Lookup) -> Result<Markup, ApiError> {
    let mut lists = Vec::new();
    for (field, heading) in FACETS {
        let mut top = q.terms(base, field, FACET_VALUES + 1).await?;
        top.retain(|b| b.key.is_some());
        top.truncate(FACET_VALUES);
        lists.push((field, heading, top));
    }
    Ok(html! {
        details.facets-box open {
            summary #facets-h { "Top values" }
            aside.facets aria-labelledby="facets-h" {
            @for (field, heading, top) in &lists {
                section.facet {
                    h3 { (heading) }
                    @if top.is_empty() { p.empty { "none" } }
                    ul {
                        @for b in top {
                            @let v = b.key.clone().unwrap_or_default();
                            li {
                                span.facet-value title=(v) { (middle(&v, 30)) }
                                span.facet-count { (chart::fmt_count(b.count)) }
                                a.facet-in href=(form_url("/search", &include(f, *field, &v), None)) aria-label=(format!("Only {heading} {v}")) title="Only this value" { "+" }
                                a.facet-out href=(form_url("/search", &changed(f, |g| g.exclude.push(format!("{}:{v}", field.name()))), None)) aria-label=(format!("Leave out {heading} {v}")) title="Leave this value out" { "−" }
                            }
                        }
                    }
                }
            }
            }
        }
    })
}

/// `f` narrowed to events whose `field` is `v`.
fn include(f: &SearchForm, field: Field, v: &str) -> SearchForm {
    changed(f, |g| match field {
        Field::SourceIp => g.source_ip = Some(v.into()),
        Field::ErrorCode => g.error_code = Some(v.into()),
        Field::AccountId => g.account = Some(v.into()),
        Field::AwsRegion => g.region = Some(v.into()),
        other => {
            let attr = match other {
                Field::Username => Attribute::Username,
                Field::EventSource => Attribute::EventSource,
                _ => Attribute::EventName,
            };
            g.attr.push(attr.name().into());
            g.value.push(v.into());
        }
    })
}

/// The histogram of the hits over the searched range (or the hits' own range).
async fn timeline(q: &Queries<'_>, f: &SearchForm, base: &Lookup) -> Result<Markup, ApiError> {
    let now = chrono::Utc::now().timestamp_micros();
    let range = match (base.start, base.end) {
        // A long asked range ("since 2000") is drawn over the part that holds events.
        (Some(s), e) if e.unwrap_or(now) - s <= 90 * 86_400_000_000 => Some((s, e.unwrap_or(now))),
        (Some(s), e) => q
            .time_range(base)
            .await?
            .map(|(lo, hi)| (lo.max(s), hi.min(e.unwrap_or(now)).max(lo.max(s)))),
        _ => q.time_range(base).await?,
    };
    let Some((lo, hi)) = range else {
        return Ok(html! {});
    };
    let interval = query::auto_interval(hi - lo);
    let buckets = q.histogram(base, interval).await?;
    Ok(chart::histogram(
        "hits",
        &format!("Hits over time (per {})", query::interval_label(interval)),
        &buckets,
        interval,
        Some((lo, hi)),
        |a, b| {
            let g = changed(f, |g| {
                g.start = Some(query::fmt_time(a));
                g.end = Some(query::fmt_time(b));
            });
            form_url("/search", &g, None)
        },
    ))
}

fn chip_bar(f: &SearchForm) -> Markup {
    let chips = chips(f);
    html! {
        @if !chips.is_empty() {
            ul.chips aria-label="Active filters" {
                @for (text, without) in &chips {
                    li { span { (text) } a href=(form_url("/search", without, None)) aria-label=(format!("Remove {text}")) title="Remove this filter" { "×" } }
                }
            }
        }
    }
}

/// `GET /search`.
pub async fn page(
    State(state): State<AppState>,
    caller: Caller,
    Q(f): Q<SearchForm>,
    Q(paging): Q<Paging>,
) -> Response {
    let q = Queries::new(&state, &caller);
    let outcome = async {
        let lookup = f.to_lookup(state.config().max_page)?;
        let page = q.search(&lookup).await?;
        let events = view::events(&page.events)?;
        let base = Lookup {
            next_token: None,
            ..lookup.clone()
        };
        // Free text (other than the token-indexed kinds) reads every record of the
        // range, once per figure: its summaries are drawn over short ranges only.
        let now = chrono::Utc::now().timestamp_micros();
        let summarise = base.text.is_none()
            || base
                .start
                .is_some_and(|s| base.end.unwrap_or(now) - s <= MAX_TEXT_SUMMARY_US);
        let total = if summarise {
            Some(q.count(&base).await?)
        } else {
            None
        };
        let (timeline, facets) = if total.is_some_and(|t| t > 0) {
            (timeline(&q, &f, &base).await?, facets(&q, &f, &base).await?)
        } else {
            (html! {}, html! {})
        };
        Ok::<_, ApiError>((events, page.next_token, total, timeline, facets))
    }
    .await;
    let back: Vec<String> = paging
        .back
        .iter()
        .rev()
        .take(MAX_BACK)
        .rev()
        .cloned()
        .collect();
    let (status, body) = match outcome {
        Ok((events, next, total, timeline, facets)) => {
            let oldest = f.oldest_first().unwrap_or(false);
            let cursor = f.cursor.clone().filter(|c| !c.is_empty());
            let newer = cursor.as_ref().map(|_| match back.split_last() {
                Some((prev, rest)) => {
                    let g = SearchForm {
                        cursor: (prev != "-").then(|| prev.clone()),
                        ..f.clone()
                    };
                    paged_url("/search", &g, rest)
                }
                None => form_url("/search", &f, None),
            });
            let older = next.as_ref().map(|n| {
                let mut b = back.clone();
                b.push(cursor.clone().unwrap_or_else(|| "-".into()));
                let g = SearchForm {
                    cursor: Some(n.clone()),
                    ..f.clone()
                };
                paged_url("/search", &g, &b)
            });
            let (earlier, later) = if oldest {
                ("Newer", "Older")
            } else {
                ("Older", "Newer")
            };
            (
                StatusCode::OK,
                html! {
                    h1 { "Search" }
                    // For keyboards: past the form's fields straight to the answer.
                    a.skip href="#results-h" { "Skip to the results" }
                    a.skip href="#facets-h" { "Skip to the top values" }
                    (form(&f))
                    (chip_bar(&f))
                    section.results aria-labelledby="results-h" {
                        div.results-head {
                            h2 #results-h tabindex="-1" {
                                @match total {
                                    Some(1) => { "1 event" }
                                    Some(t) => { (chart::fmt_count(t)) " events" }
                                    None => { "Events" }
                                }
                            }
                            span.sort {
                                "Order: "
                                @if oldest {
                                    a href=(form_url("/search", &changed(&f, |g| g.order = None), None)) { "newest first" }
                                    " · " strong aria-current="true" { "oldest first" }
                                } @else {
                                    strong aria-current="true" { "newest first" }
                                    " · " a #sort-oldest href=(form_url("/search", &changed(&f, |g| g.order = Some("oldest".into())), None)) { "oldest first" }
                                }
                            }
                        }
                        div.results-layout {
                            (facets)
                            div.results-main {
                                (timeline)
                                @if events.is_empty() {
                                    p.empty { "No events match. Widen the time range or remove a filter." }
                                } @else {
                                    @match total {
                                        Some(t) => { p.showing { "Showing " (events.len()) " of " (chart::fmt_count(t)) "." } }
                                        None => {
                                            p.showing {
                                                "Showing the " (events.len()) " newest. A text search shows its total, histogram and top values over at most 7 days "
                                                "(each reads every record of the range): narrow the time range to see them."
                                            }
                                        }
                                    }
                                    (results(&events))
                                }
                                nav.pager aria-label="Pages" {
                                    @if let Some(n) = &newer {
                                        a #newer-page href=(n) rel="prev" { "« " (later) }
                                        a href=(form_url("/search", &f, None)) { (if oldest { "Oldest" } else { "Newest" }) }
                                    }
                                    @if let Some(o) = &older {
                                        a #next-page href=(o) rel="next" { (earlier) " »" }
                                    }
                                    a href=(form_url("/api/v1/export", &SearchForm { cursor: None, limit: None, ..f.clone() }, None)) { "Export CSV" }
                                }
                            }
                        }
                    }
                },
            )
        }
        Err(e) => (
            e.status,
            html! {
                h1 { "Search" }
                p.error role="alert" { (e.message) }
                (form(&f))
                (chip_bar(&f))
            },
        ),
    };
    (status, layout(Some(&caller), "Search", "Search", body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_filter_is_a_chip_that_removes_only_itself() {
        let f = SearchForm {
            start: Some("24h".into()),
            username: Some("mallory".into()),
            attr: vec!["EventName".into()],
            value: vec!["GetObject".into()],
            errors: Some("true".into()),
            exclude: vec!["awsRegion:us-east-1".into()],
            param: vec!["bucketName=prod".into()],
            cursor: Some("abc".into()),
            ..SearchForm::default()
        };
        let chips = chips(&f);
        let labels: Vec<&str> = chips.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(
            labels,
            [
                "from: 24h",
                "with an error code",
                "Username: mallory",
                "EventName: GetObject",
                "requestParameters bucketName=prod",
                "NOT awsRegion:us-east-1"
            ]
        );
        for (label, without) in &chips {
            assert_eq!(chips_of(without).len(), chips.len() - 1, "{label}");
            assert!(without.cursor.is_none());
            assert!(!chips_of(without).contains(&label.to_string()));
        }
    }

    fn chips_of(f: &SearchForm) -> Vec<String> {
        chips(f).into_iter().map(|(l, _)| l).collect()
    }

    #[test]
    fn urls_round_trip_through_the_form() {
        let f = SearchForm {
            username: Some("a b".into()),
            exclude: vec!["eventName:X".into()],
            order: Some("oldest".into()),
            limit: Some(25),
            ..SearchForm::default()
        };
        let u = form_url("/search", &f, Some("c1"));
        let uri: axum::http::Uri = u.parse().unwrap();
        let back = axum_extra::extract::Query::<SearchForm>::try_from_uri(&uri)
            .unwrap()
            .0;
        assert_eq!(back.username.as_deref(), Some("a b"));
        assert_eq!(back.exclude, vec!["eventName:X".to_string()]);
        assert_eq!(back.order.as_deref(), Some("oldest"));
        assert_eq!(back.limit, Some(25));
        assert_eq!(back.cursor.as_deref(), Some("c1"));
    }

    #[test]
    fn middle_keeps_both_ends() {
        assert_eq!(middle("abcdefghij", 5), "ab…ij");
        assert_eq!(middle("abc", 5), "abc");
    }
}

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

use super::results::{middle, results};
use super::state::*;
use crate::kit::chart;
use crate::kit::page::{PRESETS, layout};
use crate::query::{self, Field, Q, Queries, SearchForm};
use crate::view::{self};
use crate::{ApiError, AppState, Caller};

/// Max-results choices.
const LIMITS: [usize; 7] = [10, 25, 50, 100, 200, 500, 1000];

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

/// The search form, filled in with `f`.
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
                label title="The person or workload behind the calls, directly or through any chain of roles" { "Origin " input type="text" name="origin" value=(f.origin.clone().unwrap_or_default()) placeholder="alice, arn:aws:iam::…:user/alice, a subject"; }
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

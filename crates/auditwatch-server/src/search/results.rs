//! The results table every event list shows (the search page, user and service
//! pages): time, user, event, source, resource (long ARNs shortened in the middle,
//! whole on hover, with a copy button), region, source IP, outcome and account, with
//! the column chooser.

use maud::{Markup, html};

use crate::kit::page::{seg, url, when};
use crate::view::EventView;

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
pub(super) fn long(text: &str, n: usize, href: Option<String>) -> Markup {
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

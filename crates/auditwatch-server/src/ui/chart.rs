//! Charts as server-side SVG: every bar and segment is a link to the search it
//! summarises, has a `<title>` tooltip, and each chart carries a title, a description
//! and a data table as its text alternative.
//!
//! Written by hand: the charting crates render pictures, not linked, accessible
//! markup, and three chart shapes are a few dozen lines each.

use maud::{Markup, html};

use crate::query::{Bucket, Stack};

/// Segment colours (distinguishable in light and dark themes).
const PALETTE: [&str; 11] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#86bcb6", "#8c8c8c",
];

fn label(k: &Option<String>) -> &str {
    k.as_deref().unwrap_or("(other)")
}

/// `200000` as `200,000`.
pub fn fmt_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n - 1).collect();
        format!("{t}…")
    }
}

/// Horizontal bars, one per `stacks` row, split into segments by the second field.
/// `link(row, segment)` gives each segment's search URL (`segment` `None` = the rest).
pub fn stacked_bars(
    id: &str,
    title: &str,
    description: &str,
    stacks: &[Stack],
    link: impl Fn(&str, Option<&str>) -> String,
) -> Markup {
    bars(id, title, description, stacks, link, true)
}

fn bars(
    id: &str,
    title: &str,
    description: &str,
    stacks: &[Stack],
    link: impl Fn(&str, Option<&str>) -> String,
    with_legend: bool,
) -> Markup {
    // Legend: segment keys by total, so colours are stable across rows.
    let mut legend: Vec<(Option<String>, u64)> = Vec::new();
    for s in stacks {
        for b in &s.by {
            match legend.iter_mut().find(|(k, _)| *k == b.key) {
                Some((_, n)) => *n += b.count,
                None => legend.push((b.key.clone(), b.count)),
            }
        }
    }
    legend.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.is_none().cmp(&b.0.is_none())));
    let colour = |k: &Option<String>| {
        if k.is_none() {
            return PALETTE[PALETTE.len() - 1];
        }
        let i = legend.iter().position(|(l, _)| l == k).unwrap_or(0);
        PALETTE[i % (PALETTE.len() - 1)]
    };
    let max = stacks.iter().map(|s| s.count).max().unwrap_or(1).max(1) as f64;
    let (left, width, row_h) = (150.0, 520.0, 24.0);
    let height = row_h * stacks.len() as f64 + 8.0;
    html! {
        figure.chart {
            figcaption #(format!("{id}-t")) { (title) }
            @if stacks.is_empty() {
                p.empty { "No events in this window." }
            } @else {
                svg viewBox=(format!("0 0 {} {height}", left + width + 70.0)) role="img"
                    aria-labelledby=(format!("{id}-t {id}-d")) {
                    desc #(format!("{id}-d")) { (description) }
                    @for (i, s) in stacks.iter().enumerate() {
                        @let y = 4.0 + i as f64 * row_h;
                        @let key = label(&s.key);
                        a href=(link(key, None)) {
                            text.axis x=(left - 6.0) y=(y + row_h * 0.65) text-anchor="end" { (truncate(key, 22)) }
                        }
                        @for (x, w, b) in segments(s, left, width, max) {
                            a href=(link(key, b.key.as_deref())) {
                                rect x=(format!("{x:.1}")) y=(y + 2.0) width=(format!("{:.1}", w.max(0.5))) height=(row_h - 4.0) fill=(colour(&b.key)) {
                                    title { (key) " · " (label(&b.key)) ": " (fmt_count(b.count)) }
                                }
                            }
                        }
                        text.value x=(left + width * s.count as f64 / max + 4.0) y=(y + row_h * 0.65) { (fmt_count(s.count)) }
                    }
                }
                @if with_legend {
                    ul.legend {
                        @for (k, n) in &legend {
                            li {
                                svg.swatch viewBox="0 0 10 10" width="10" height="10" aria-hidden="true" {
                                    rect width="10" height="10" fill=(colour(k)) {}
                                }
                                " " (label(k)) " (" (fmt_count(*n)) ")"
                            }
                        }
                    }
                }
                (table_alt(title, stacks))
            }
        }
    }
}

/// Each segment of a bar with its x position and width.
fn segments(s: &Stack, left: f64, width: f64, max: f64) -> Vec<(f64, f64, &crate::query::Bucket)> {
    let mut x = left;
    s.by.iter()
        .map(|b| {
            let w = width * b.count as f64 / max;
            let at = x;
            x += w;
            (at, w, b)
        })
        .collect()
}

fn table_alt(title: &str, stacks: &[Stack]) -> Markup {
    html! {
        details.alt {
            summary { "Data table: " (title) }
            div.table-wrap {
                table {
                    thead { tr { th { "Value" } th { "Events" } th { "Breakdown" } } }
                    tbody {
                        @for s in stacks {
                            tr {
                                td { (label(&s.key)) }
                                td.num { (fmt_count(s.count)) }
                                td { @for (i, b) in s.by.iter().enumerate() { @if i > 0 { ", " } (label(&b.key)) " " (fmt_count(b.count)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Vertical bars over time; `link(start, end)` gives each bucket's search URL.
pub fn histogram(
    id: &str,
    title: &str,
    buckets: &[(i64, u64)],
    interval_us: i64,
    link: impl Fn(i64, i64) -> String,
) -> Markup {
    let max = buckets.iter().map(|b| b.1).max().unwrap_or(1).max(1) as f64;
    let (w, h, left, bottom) = (680.0, 160.0, 50.0, 20.0);
    let (lo, hi) = match (buckets.first(), buckets.last()) {
        (Some(a), Some(b)) => (a.0, b.0 + interval_us),
        _ => (0, 1),
    };
    let span = (hi - lo).max(1) as f64;
    let bar_w = ((w - left) * interval_us as f64 / span).max(1.0);
    let total: u64 = buckets.iter().map(|b| b.1).sum();
    html! {
        figure.chart {
            figcaption #(format!("{id}-t")) { (title) }
            @if buckets.is_empty() {
                p.empty { "No events in this window." }
            } @else {
                svg viewBox=(format!("0 0 {w} {}", h + bottom)) role="img" aria-labelledby=(format!("{id}-t {id}-d")) {
                    desc #(format!("{id}-d")) {
                        (fmt_count(total)) " events from " (crate::query::fmt_time(lo)) " to " (crate::query::fmt_time(hi))
                        ", busiest bucket " (fmt_count(max as u64)) " events."
                    }
                    line.axis x1=(left) y1=(h) x2=(w) y2=(h) stroke="currentColor" {}
                    text.axis x=(left - 4.0) y="12" text-anchor="end" { (fmt_count(max as u64)) }
                    text.axis x=(left - 4.0) y=(h) text-anchor="end" { "0" }
                    text.axis x=(left) y=(h + 15.0) { (crate::query::fmt_time(lo)) }
                    text.axis x=(w) y=(h + 15.0) text-anchor="end" { (crate::query::fmt_time(hi)) }
                    @for (t, n) in buckets {
                        @let x = left + (w - left) * (t - lo) as f64 / span;
                        @let bh = (h - 4.0) * *n as f64 / max;
                        a href=(link(*t, t + interval_us - 1)) {
                            rect x=(format!("{x:.1}")) y=(format!("{:.1}", h - bh)) width=(format!("{bar_w:.1}")) height=(format!("{bh:.1}")) fill=(PALETTE[0]) {
                                title { (crate::query::fmt_time(*t)) ": " (fmt_count(*n)) " events" }
                            }
                        }
                    }
                }
                details.alt {
                    summary { "Data table: " (title) }
                    div.table-wrap {
                        table {
                            thead { tr { th { "From" } th { "Events" } } }
                            tbody { @for (t, n) in buckets { tr { td { (crate::query::fmt_time(*t)) } td.num { (fmt_count(*n)) } } } }
                        }
                    }
                }
            }
        }
    }
}

/// Top-N horizontal bars; `link(key)` gives each bar's search URL.
pub fn top_bars(id: &str, title: &str, rows: &[Bucket], link: impl Fn(&str) -> String) -> Markup {
    // Each bar is one segment as long as the whole bar.
    let bars: Vec<Stack> = rows
        .iter()
        .map(|b| Stack {
            key: b.key.clone(),
            count: b.count,
            by: vec![b.clone()],
        })
        .collect();
    self::bars(
        id,
        title,
        &format!(
            "{title}: the {} largest values and their event counts.",
            rows.len()
        ),
        &bars,
        |k, _| link(k),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_labels() {
        assert_eq!(fmt_count(1234567), "1,234,567");
        assert_eq!(fmt_count(12), "12");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }

    #[test]
    fn stacked_bars_link_every_segment_and_escape_text() {
        let stacks = vec![Stack {
            key: Some("<alice>".into()),
            count: 3,
            by: vec![
                Bucket {
                    key: Some("GetObject".into()),
                    count: 2,
                },
                Bucket {
                    key: None,
                    count: 1,
                },
            ],
        }];
        let svg = stacked_bars("c", "Events per user", "d", &stacks, |u, e| {
            format!("/search?u={u}&e={}", e.unwrap_or("-"))
        })
        .into_string();
        assert!(svg.contains("&lt;alice&gt;"));
        assert!(!svg.contains("<alice>"));
        assert_eq!(svg.matches("<rect x=").count(), 2);
        assert!(svg.contains("e=GetObject"));
        assert!(svg.contains("(other)"));
    }
}

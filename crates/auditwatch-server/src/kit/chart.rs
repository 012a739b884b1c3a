//! Charts: bar rows and time histograms whose every bar and segment links to the
//! search it summarises, with a `<title>` tooltip, a caption and a data table as the
//! text alternative.
//!
//! Text is never scaled with a picture: labels and values of bar charts are HTML,
//! and the histogram's SVG has no `viewBox` (its user unit is the CSS pixel; bars are
//! placed in percent), so every label renders at the stylesheet's size at any width.
//! Colours come from a colour-blind-safe palette and are never repeated within a
//! chart: values past the palette are drawn as "other".
//!
//! Written by hand: the charting crates render pictures, not linked, accessible
//! markup, and two chart shapes are a few dozen lines each.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use crate::query::{Bucket, Stack};

/// Paul Tol's "muted" scheme (distinguishable with the common colour-vision
/// deficiencies, in light and dark themes), then the grey of "other".
const PALETTE: [&str; 9] = [
    "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",
    "#AA4499",
];
/// The colour of "other" (everything past the named values).
const OTHER: &str = "#BBBBBB";
/// The single colour of one-series charts.
const SERIES: &str = "#4477AA";

/// Most segments drawn per bar before the rest is summed as "other".
pub const SEGMENTS_PER_BAR: usize = 5;

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

/// Percent of `n` in `max`, for SVG lengths.
fn pct(n: f64, max: f64) -> String {
    format!("{:.3}%", 100.0 * n / max.max(1.0))
}

/// Folds each stack's segments to its [`SEGMENTS_PER_BAR`] largest, and all of them to
/// the values the palette can colour (largest overall first); the rest of each bar is
/// one `None` segment. Returns the folded stacks and the legend (named values only, in
/// palette order, with their drawn totals).
fn fold(stacks: &[Stack]) -> (Vec<Stack>, Vec<(String, u64)>) {
    let mut totals: Vec<(String, u64)> = Vec::new();
    for s in stacks {
        for b in
            s.by.iter()
                .filter(|b| b.key.is_some())
                .take(SEGMENTS_PER_BAR)
        {
            let k = b.key.clone().unwrap_or_default();
            match totals.iter_mut().find(|(t, _)| *t == k) {
                Some((_, n)) => *n += b.count,
                None => totals.push((k, b.count)),
            }
        }
    }
    totals.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    totals.truncate(PALETTE.len());
    let named = |k: &Option<String>| {
        k.as_ref()
            .is_some_and(|k| totals.iter().any(|(t, _)| t == k))
    };
    let folded: Vec<Stack> = stacks
        .iter()
        .map(|s| {
            let mut by: Vec<Bucket> =
                s.by.iter()
                    .filter(|b| b.key.is_some())
                    .take(SEGMENTS_PER_BAR)
                    .filter(|b| named(&b.key))
                    .cloned()
                    .collect();
            let drawn: u64 = by.iter().map(|b| b.count).sum();
            if s.count > drawn {
                by.push(Bucket {
                    key: None,
                    count: s.count - drawn,
                });
            }
            Stack {
                key: s.key.clone(),
                count: s.count,
                by,
            }
        })
        .collect();
    // The drawn named segments are exactly those `totals` summed: it is the legend.
    (folded, totals)
}

/// Horizontal bars, one per `stacks` row, split into segments by the second field
/// (each bar's five largest, then "other"). `link(row, segment)` gives each segment's
/// search URL (`segment` `None` = the rest).
pub fn stacked_bars(
    id: &str,
    title: &str,
    description: &str,
    stacks: &[Stack],
    link: impl Fn(&str, Option<&str>) -> String,
) -> Markup {
    let (folded, legend) = fold(stacks);
    bars(id, title, description, &folded, &legend, link)
}

fn bars(
    id: &str,
    title: &str,
    description: &str,
    stacks: &[Stack],
    legend: &[(String, u64)],
    link: impl Fn(&str, Option<&str>) -> String,
) -> Markup {
    let colour = |k: &Option<String>| match k {
        None => OTHER,
        Some(_) if legend.is_empty() => SERIES,
        Some(k) => legend
            .iter()
            .position(|(l, _)| l == k)
            .map_or(OTHER, |i| PALETTE[i]),
    };
    let max = stacks.iter().map(|s| s.count).max().unwrap_or(1).max(1) as f64;
    let has_other = stacks
        .iter()
        .any(|s| s.by.len() > 1 && s.by.iter().any(|b| b.key.is_none()));
    html! {
        figure.chart #(id) aria-labelledby=(format!("{id}-t")) aria-describedby=(format!("{id}-d")) {
            figcaption #(format!("{id}-t")) { (title) }
            p.chart-desc #(format!("{id}-d")) { (description) }
            @if stacks.is_empty() {
                p.empty { "No events in this window." }
            } @else {
                div.bars {
                    @for s in stacks {
                        @let key = label(&s.key);
                        div.bar-row {
                            a.bar-label href=(link(key, None)) title=(key) { (key) }
                            svg.bar width="100%" height="18" {
                                @for (x, b) in segments(s) {
                                    @let name = format!("{key} · {}: {}", label(&b.key), fmt_count(b.count));
                                    a href=(link(key, b.key.as_deref())) aria-label=(name) {
                                        title { (name) }
                                        rect x=(pct(x as f64, max)) y="1" width=(pct(b.count as f64, max)) height="16" fill=(colour(&b.key)) {}
                                    }
                                }
                            }
                            span.bar-value { (fmt_count(s.count)) }
                        }
                    }
                }
                @if !legend.is_empty() {
                    ul.legend aria-label="Legend" {
                        @for (k, n) in legend {
                            li {
                                svg.swatch width="10" height="10" aria-hidden="true" {
                                    rect width="10" height="10" fill=(colour(&Some(k.clone()))) {}
                                }
                                " " (k) " (" (fmt_count(*n)) ")"
                            }
                        }
                        @if has_other {
                            li {
                                svg.swatch width="10" height="10" aria-hidden="true" { rect width="10" height="10" fill=(OTHER) {} }
                                " other"
                            }
                        }
                    }
                }
                (table_alt(title, stacks))
            }
        }
    }
}

/// Each segment of a bar with its start (in events from the left).
fn segments(s: &Stack) -> Vec<(u64, &Bucket)> {
    let mut x = 0;
    s.by.iter()
        .map(|b| {
            let at = x;
            x += b.count;
            (at, b)
        })
        .collect()
}

fn table_alt(title: &str, stacks: &[Stack]) -> Markup {
    html! {
        details.alt {
            summary { "Data table: " (title) }
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "Value" } th scope="col" { "Events" } th scope="col" { "Breakdown" } } }
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

/// Tick steps for time axes (µs) and how their labels read.
const TICKS: [(i64, &str); 18] = [
    (60_000_000, "%H:%M"),
    (300_000_000, "%H:%M"),
    (900_000_000, "%H:%M"),
    (1_800_000_000, "%H:%M"),
    (3_600_000_000, "%H:%M"),
    (3 * 3_600_000_000, "%H:%M"),
    (6 * 3_600_000_000, "%H:%M"),
    (12 * 3_600_000_000, "%H:%M"),
    (86_400_000_000, "%b %d"),
    (2 * 86_400_000_000, "%b %d"),
    (7 * 86_400_000_000, "%b %d"),
    (14 * 86_400_000_000, "%b %d"),
    (30 * 86_400_000_000, "%b %d"),
    (91 * 86_400_000_000, "%b %d"),
    (365 * 86_400_000_000, "%Y"),
    (2 * 365 * 86_400_000_000, "%Y"),
    (5 * 365 * 86_400_000_000, "%Y"),
    (10 * 365 * 86_400_000_000, "%Y"),
];

/// Round tick times in `[lo, hi]`: the smallest step giving at most eight ticks (at
/// least four whenever the range allows), with labels; a tick at midnight of a
/// sub-day axis names the day instead of the hour.
pub fn time_ticks(lo: i64, hi: i64) -> Vec<(i64, String)> {
    let span = (hi - lo).max(1);
    let (step, fmt) = TICKS
        .into_iter()
        .find(|(s, _)| span / s <= 8)
        .unwrap_or(TICKS[TICKS.len() - 1]);
    let first = lo.div_euclid(step) * step + if lo.rem_euclid(step) == 0 { 0 } else { step };
    let mut out = Vec::new();
    let mut t = first;
    while t <= hi && out.len() < 16 {
        let Some(d) = DateTime::<Utc>::from_timestamp_micros(t) else {
            break;
        };
        let midnight = t.rem_euclid(86_400_000_000) == 0;
        let text = if step >= 365 * 86_400_000_000 {
            // Year steps are counted in days, so they drift off 1 January; the label
            // names the year the tick falls in.
            d.format("%Y").to_string()
        } else if step < 86_400_000_000 && midnight {
            d.format("%b %d").to_string()
        } else {
            d.format(fmt).to_string()
        };
        out.push((t, text));
        t += step;
    }
    out
}

/// Vertical bars over time; `link(start, end)` gives each bucket's search URL. The
/// axis spans `[lo, hi]` (µs) when given, else the buckets.
pub fn histogram(
    id: &str,
    title: &str,
    buckets: &[(i64, u64)],
    interval_us: i64,
    range: Option<(i64, i64)>,
    link: impl Fn(i64, i64) -> String,
) -> Markup {
    let max = buckets.iter().map(|b| b.1).max().unwrap_or(1).max(1);
    let (lo, hi) = match (range, buckets.first(), buckets.last()) {
        (Some(r), _, _) => r,
        (None, Some(a), Some(b)) => (a.0, b.0 + interval_us),
        _ => (0, 1),
    };
    let (lo, hi) = (
        lo.min(buckets.first().map_or(lo, |b| b.0)),
        hi.max(buckets.last().map_or(hi, |b| b.0 + interval_us)),
    );
    let span = (hi - lo).max(1) as f64;
    let x = |t: i64| pct((t - lo) as f64, span);
    let bar_w = pct(interval_us as f64 * 0.92, span);
    let (plot_h, axis_h) = (150.0, 22.0);
    let y = |n: u64| plot_h - (plot_h - 4.0) * n as f64 / max as f64;
    let total: u64 = buckets.iter().map(|b| b.1).sum();
    let ticks = time_ticks(lo, hi);
    html! {
        figure.chart.histogram #(id) aria-labelledby=(format!("{id}-t")) aria-describedby=(format!("{id}-d")) {
            figcaption #(format!("{id}-t")) { (title) }
            p.chart-desc #(format!("{id}-d")) {
                (fmt_count(total)) " events from " (super::page::when(lo)) " to " (super::page::when(hi))
                ", busiest bucket " (fmt_count(max)) " events."
            }
            @if buckets.is_empty() {
                p.empty { "No events in this window." }
            } @else {
                div.plot {
                    div.yaxis aria-hidden="true" {
                        span { (fmt_count(max)) }
                        span { (fmt_count(max / 2)) }
                        span { "0" }
                    }
                    svg.timeline width="100%" height=(plot_h + axis_h) data-lo=(lo) data-hi=(hi) data-href=(link(lo, hi)) {
                        @for n in [max, max / 2] {
                            line.grid x1="0" x2="100%" y1=(format!("{:.1}", y(n))) y2=(format!("{:.1}", y(n))) {}
                        }
                        @for (t, _) in &ticks {
                            line.grid x1=(x(*t)) x2=(x(*t)) y1="0" y2=(plot_h) {}
                        }
                        line.axis x1="0" x2="100%" y1=(plot_h) y2=(plot_h) {}
                        @for (i, (t, text)) in ticks.iter().enumerate() {
                            @let anchor = if ticks.len() > 1 && i == ticks.len() - 1 && (hi - t) * 20 < hi - lo { "end" } else if i == 0 && (t - lo) * 20 < hi - lo { "start" } else { "middle" };
                            text.tick.odd[ticks.len() > 6 && i % 2 == 1] x=(x(*t)) y=(plot_h + 15.0) text-anchor=(anchor) data-t=(t) { (text) }
                        }
                        @for (t, n) in buckets {
                            @let name = format!("{}: {} events", crate::query::fmt_time(*t), fmt_count(*n));
                            a href=(link(*t, t + interval_us - 1)) aria-label=(name) {
                                title { (name) }
                                rect x=(x(*t)) y=(format!("{:.1}", y(*n))) width=(bar_w) height=(format!("{:.1}", plot_h - y(*n))) fill=(SERIES) {}
                            }
                        }
                    }
                }
                p.axis-zone { "Time in " span.tz-name { "UTC" } }
                details.alt {
                    summary { "Data table: " (title) }
                    div.table-wrap {
                        table {
                            thead { tr { th scope="col" { "From" } th scope="col" { "Events" } } }
                            tbody { @for (t, n) in buckets { tr { td { (super::page::when(*t)) } td.num { (fmt_count(*n)) } } } }
                        }
                    }
                }
            }
        }
    }
}

/// Top-N horizontal bars; `link(key)` gives each bar's search URL.
pub fn top_bars(id: &str, title: &str, rows: &[Bucket], link: impl Fn(&str) -> String) -> Markup {
    // Each bar is one segment as long as the whole bar, in the one series colour.
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
        &format!("The {} largest values and their event counts.", rows.len()),
        &bars,
        &[],
        |k, _| link(k),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(k: &str, n: u64) -> Bucket {
        Bucket {
            key: Some(k.into()),
            count: n,
        }
    }

    #[test]
    fn counts_and_labels() {
        assert_eq!(fmt_count(1234567), "1,234,567");
        assert_eq!(fmt_count(12), "12");
    }

    #[test]
    fn stacked_bars_link_every_segment_and_escape_text() {
        let stacks = vec![Stack {
            key: Some("<alice>".into()),
            count: 3,
            by: vec![
                b("GetObject", 2),
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
        // No viewBox: text is never scaled with the picture.
        assert!(!svg.contains("viewBox"));
    }

    #[test]
    fn no_colour_repeats_and_bars_keep_five_segments() {
        // 12 users with 7 distinct event names each, 30 names overall.
        let stacks: Vec<Stack> = (0..12)
            .map(|u| {
                let by: Vec<Bucket> = (0..7)
                    .map(|i| b(&format!("Name{}", (u * 3 + i) % 30), 10 - i as u64))
                    .collect();
                Stack {
                    key: Some(format!("user{u}")),
                    count: by.iter().map(|b| b.count).sum(),
                    by,
                }
            })
            .collect();
        let (folded, legend) = fold(&stacks);
        assert!(legend.len() <= PALETTE.len());
        for s in &folded {
            let named = s.by.iter().filter(|b| b.key.is_some()).count();
            assert!(named <= SEGMENTS_PER_BAR, "{named}");
            assert_eq!(s.by.iter().map(|b| b.count).sum::<u64>(), s.count);
            for b in s.by.iter().filter(|b| b.key.is_some()) {
                assert!(legend.iter().any(|(k, _)| Some(k) == b.key.as_ref()));
            }
        }
        let html = stacked_bars("c", "t", "d", &stacks, |_, _| String::new()).into_string();
        let mut fills: Vec<&str> = html.split("fill=\"").skip(1).map(|s| &s[..7]).collect();
        fills.retain(|f| *f != OTHER);
        fills.sort_unstable();
        fills.dedup();
        assert!(fills.len() <= PALETTE.len());
        // Every legend entry is drawn somewhere.
        assert!(legend.iter().all(|(_, n)| *n > 0));
    }

    #[test]
    fn time_axes_have_four_to_eight_round_ticks() {
        let day = 86_400_000_000;
        let lo = 1_700_000_000_000_000 - 1_700_000_000_000_000 % day;
        for span in [
            3_600_000_000,
            6 * 3_600_000_000,
            day,
            7 * day,
            30 * day,
            90 * day,
        ] {
            let ticks = time_ticks(lo + 1, lo + span);
            assert!((3..=9).contains(&ticks.len()), "{span}: {ticks:?}");
        }
        let week = time_ticks(lo, lo + 7 * day);
        assert_eq!(
            week[0].1,
            DateTime::<Utc>::from_timestamp_micros(lo)
                .unwrap()
                .format("%b %d")
                .to_string()
        );
        let hours = time_ticks(lo + 3_600_000_000, lo + 7 * 3_600_000_000);
        assert_eq!(hours[0].1, "01:00");
    }
}

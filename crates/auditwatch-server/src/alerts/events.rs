//! The events an alert's page lists: each stored event of the alert with its call, its
//! caller and who is behind it.

use auditwatch_detect::origin::EventOrigin;
use auditwatch_detect::state::Alert;
use auditwatch_event::identity::caller_of_value;
use maud::{Markup, html};

use crate::kit::page::url;
use crate::search::origin::hop_name;
use crate::{ApiError, AppState, Caller};

/// One event of an alert as its page lists it.
pub struct EventLine {
    id: String,
    /// `eventTime` as the record writes it.
    time: String,
    name: String,
    /// The caller as the record names it.
    caller: String,
    /// Who is behind the call, as anyone who sees its account may see it.
    origin: EventOrigin,
}

/// How far before an alert's last event its page looks for the events it lists (an
/// alert that keeps growing can span months; one page view reads at most this much).
const EVENT_SPAN_US: i64 = 90 * 86_400 * 1_000_000;

/// The stored events of `alert` with who made them and who is behind them, oldest
/// first (events no longer stored, or more than [`EVENT_SPAN_US`] before the last,
/// are left out).
pub async fn lines(
    state: &AppState,
    caller: &Caller,
    alert: &Alert,
) -> Result<Vec<EventLine>, ApiError> {
    if alert.events.is_empty() {
        return Ok(Vec::new());
    }
    let origins = crate::search::origin::origins(state).await?;
    let from = alert
        .first_seen
        .max(alert.last_seen.saturating_sub(EVENT_SPAN_US));
    let rows = state
        .store()
        .records_by_id(&caller.scope, from, alert.last_seen, &alert.events)
        .await?;
    fn text<'v>(v: &'v serde_json::Value, k: &str) -> &'v str {
        v.get(k).and_then(serde_json::Value::as_str).unwrap_or("")
    }
    let mut seen = std::collections::HashSet::new();
    let mut lines: Vec<(i64, EventLine)> = rows
        .into_iter()
        .filter(|(id, _, _)| seen.insert(id.clone()))
        .filter_map(|(id, account, raw)| {
            let v: serde_json::Value = serde_json::from_str(&raw).ok()?;
            let at = auditwatch_event::Record::parse(&raw).map_or(0, |r| r.event_time_us);
            // Named as the stored account (the one scoping reads) may see it.
            let line = EventLine {
                time: text(&v, "eventTime").to_string(),
                name: text(&v, "eventName").to_string(),
                caller: caller_of_value(&v).name().to_string(),
                origin: EventOrigin::of(&origins, &v, account.as_deref()),
                id,
            };
            Some((at, line))
        })
        .collect();
    lines.sort_by(|(a, x), (b, y)| (a, &x.id).cmp(&(b, &y.id)));
    Ok(lines.into_iter().map(|(_, l)| l).collect())
}

/// The table of `lines`, saying how many of the alert's `total` events it leaves out.
pub fn table(lines: &[EventLine], total: usize) -> Markup {
    html! {
        @if lines.len() < total {
            p { (total - lines.len()) " of its " (total) " events are not listed: no longer stored, or more than 90 days before the last." }
        }
        div.table-wrap {
            table #alert-events {
                thead { tr { th scope="col" { "Time" } th scope="col" { "Event" } th scope="col" { "Caller" } th scope="col" { "Who is behind it" } } }
                tbody {
                    @for e in lines {
                        tr {
                            td { a href={ "/events/" (e.id) } { (crate::kit::page::when_text(&e.time)) } }
                            td { (e.name) }
                            td.wrap { (hop_name(&e.caller)) }
                            td.wrap {
                                @match &e.origin.name {
                                    Some(n) => { a href=(url("/search", &[("origin", n)])) { (n) } " (" (e.origin.kind) ")" }
                                    None => { "in another account (" (e.origin.kind) ")" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

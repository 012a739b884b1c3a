//! Alerts and alarms (docs/DETECTION.md).
//!
//! - Alerts: the Alerts page (with, for admins, each notification channel's sent and
//!   waiting messages and last error), one alert's page, and `GET /api/v1/alerts`,
//!   `GET /api/v1/alerts/{id}`, `POST /api/v1/alerts/{id}` (status) — limited to
//!   alerts whose every account the caller sees. Analysts acknowledge, resolve and
//!   reopen; every change is audited.
//! - Alarms: the Alarms page, one alarm's page (its metric per period as an SVG chart
//!   and its state history), and `GET /api/v1/alarms`, `GET /api/v1/alarms/{name}`.
//!   An alarm's metric counts events of every account, so these are for callers who
//!   see every account.

use auditwatch_detect::config::AlarmDef;
use auditwatch_detect::evaluator::period_values;
use auditwatch_detect::state::{Alert, STATUSES, Transition};
use auditwatch_store::Scope;
use axum::Json;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::kit::access::{Access, Routes};
use crate::kit::audit::note;
use crate::kit::caller::Role;
use crate::kit::json::J;
use crate::kit::page::{PageError, csrf_field, layout};
use crate::query::fmt_time;
use crate::{ApiError, AppState, Caller};

mod events;

/// Most alerts listed.
const LISTED: usize = 500;
/// Periods shown on an alarm's chart.
const CHART_PERIODS: i64 = 48;
/// Transitions listed on an alarm's page.
const HISTORY: usize = 100;

/// The Alerts and Alarms pages and their forms.
pub fn pages() -> Routes {
    Routes::pages()
        .get("/alerts", Access::Role(Role::Viewer), alerts_page)
        .get("/alerts/{id}", Access::Role(Role::Viewer), alert_page)
        .post(
            "/alerts/{id}/status",
            Access::Role(Role::Analyst),
            status_form,
        )
        .get("/alarms", Access::Role(Role::Viewer), alarms_page)
        .get("/alarms/{name}", Access::Role(Role::Viewer), alarm_page)
}

/// Alerts and alarm states in the API (`/api/v1/alerts`, `/api/v1/alarms`).
pub fn api() -> Routes {
    Routes::api()
        .get("/alerts", Access::Role(Role::Viewer), list_api)
        .get("/alerts/{id}", Access::Role(Role::Viewer), one_api)
        .post("/alerts/{id}", Access::Role(Role::Analyst), status_api)
        .get("/alarms", Access::Role(Role::Viewer), alarms_api)
        .get("/alarms/{name}", Access::Role(Role::Viewer), alarm_api)
}

/// An alert as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertView {
    /// Id.
    pub id: i64,
    /// Rule or alarm name.
    pub rule: String,
    /// `alarm` or `rule`.
    pub kind: String,
    /// What it means.
    pub title: String,
    /// Level.
    pub level: String,
    /// The rule's author, when known.
    pub author: Option<String>,
    /// Why it was raised.
    pub reason: String,
    /// Accounts of its events.
    pub accounts: Vec<String>,
    /// Event ids (at most 50, newest last).
    pub events: Vec<String>,
    /// First matching event (RFC 3339).
    pub first_seen: String,
    /// Last matching event (RFC 3339).
    pub last_seen: String,
    /// Matches.
    pub count: i64,
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
    /// Who changed the status last.
    pub status_by: Option<String>,
    /// When it was raised (RFC 3339).
    pub raised_at: String,
}

impl From<Alert> for AlertView {
    fn from(a: Alert) -> Self {
        Self {
            first_seen: fmt_time(a.first_seen),
            last_seen: fmt_time(a.last_seen),
            raised_at: fmt_time(a.created_at.saturating_mul(1_000_000)),
            id: a.id,
            rule: a.rule,
            kind: a.kind,
            title: a.title,
            level: a.level,
            author: a.author,
            reason: a.reason,
            accounts: a.accounts,
            events: a.events,
            count: a.count,
            status: a.status,
            status_by: a.status_by,
        }
    }
}

/// Filters of the alert list.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct AlertFilter {
    /// `open`, `acknowledged` or `resolved` (default: all).
    pub status: Option<String>,
}

/// An alert id from the path; anything else names no alert.
fn alert_id(text: &str) -> Result<i64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found(format!("no alert {text}")))
}

fn check_status(s: &str) -> Result<(), ApiError> {
    if STATUSES.contains(&s) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "status `{s}`: one of {}",
            STATUSES.join(", ")
        )))
    }
}

async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&auditwatch_store::Store) -> Result<T, auditwatch_store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store().clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

async fn list(
    state: &AppState,
    scope: Scope,
    status: Option<String>,
) -> Result<Vec<AlertView>, ApiError> {
    if let Some(s) = &status {
        check_status(s)?;
    }
    let alerts = blocking(state, move |s| {
        Ok(auditwatch_detect::state::DetectionState::of(s)?.alerts(
            &scope,
            status.as_deref(),
            LISTED,
        )?)
    })
    .await?;
    Ok(alerts.into_iter().map(AlertView::from).collect())
}

async fn one(state: &AppState, scope: Scope, id: i64) -> Result<AlertView, ApiError> {
    one_alert(state, scope, id).await.map(AlertView::from)
}

async fn one_alert(state: &AppState, scope: Scope, id: i64) -> Result<Alert, ApiError> {
    blocking(state, move |s| {
        Ok(auditwatch_detect::state::DetectionState::of(s)?.alert(&scope, id)?)
    })
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no alert {id}")))
}

/// Alerts of the caller's accounts, newest first (at most 500).
#[utoipa::path(get, path = "/api/v1/alerts", params(AlertFilter),
    responses((status = 200, body = Vec<AlertView>), (status = 400, body = crate::kit::error::ErrorBody)))]
pub async fn list_api(
    State(state): State<AppState>,
    caller: Caller,
    Query(f): Query<AlertFilter>,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    Ok(Json(list(&state, caller.scope.clone(), f.status).await?))
}

/// One alert.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, body = AlertView), (status = 404, body = crate::kit::error::ErrorBody)))]
pub async fn one_api(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AlertView>, ApiError> {
    let id = alert_id(&id)?;
    Ok(Json(one(&state, caller.scope.clone(), id).await?))
}

/// A status change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StatusChange {
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
}

async fn set_status(
    state: &AppState,
    caller: &Caller,
    id: i64,
    status: String,
) -> Result<(), ApiError> {
    check_status(&status)?;
    let (scope, by, s2) = (caller.scope.clone(), caller.name.clone(), status.clone());
    let done = blocking(state, move |s| {
        Ok(auditwatch_detect::state::DetectionState::of(s)?
            .set_alert_status(&scope, id, &s2, &by)?)
    })
    .await?;
    if !done {
        return Err(ApiError::not_found(format!("no alert {id}")));
    }
    note(state, caller, "alert.status", &id.to_string(), status, "ok").await;
    Ok(())
}

/// Acknowledges, resolves or reopens an alert (analysts and admins).
#[utoipa::path(post, path = "/api/v1/alerts/{id}", params(("id" = String, Path, description = "Alert id")),
    request_body = StatusChange,
    responses((status = 200, body = AlertView), (status = 400, body = crate::kit::error::ErrorBody),
        (status = 404, body = crate::kit::error::ErrorBody)))]
pub async fn status_api(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    J(change): J<StatusChange>,
) -> Result<Json<AlertView>, ApiError> {
    let id = alert_id(&id)?;
    set_status(&state, &caller, id, change.status).await?;
    Ok(Json(one(&state, caller.scope.clone(), id).await?))
}

/// The status form.
#[derive(Debug, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    status: String,
}

async fn status_form(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Form(f): Form<StatusForm>,
) -> Result<Response, PageError> {
    let id = alert_id(&id)?;
    set_status(&state, &caller, id, f.status).await?;
    Ok(Redirect::to(&format!("/alerts/{id}")).into_response())
}

fn level_class(level: &str) -> &'static str {
    match level {
        "critical" | "high" => "failed",
        _ => "ok",
    }
}

async fn alerts_page(
    State(state): State<AppState>,
    caller: Caller,
    Query(f): Query<AlertFilter>,
) -> Result<Response, PageError> {
    let status = f.status.filter(|s| !s.is_empty());
    let alerts = list(&state, caller.scope.clone(), status.clone()).await?;
    let detection = state.config().detection.current();
    let channels = if caller.role >= Role::Admin {
        blocking(&state, |s| {
            Ok(auditwatch_detect::state::DetectionState::of(s)?.outbox_summary()?)
        })
        .await?
    } else {
        Vec::new()
    };
    let body = html! {
        h1 { "Alerts" }
        p {
            "Show: "
            a href="/alerts" { "all" } " · "
            @for s in STATUSES { a href={ "/alerts?status=" (s) } { (s) } " · " }
            a href="/alarms" { "alarms" }
        }
        @if detection.is_empty() {
            p.notice { "No alarms or alerting rules are configured: see " code { "[detection]" } ", " code { "[[alarms]]" } " and " code { "[[notify]]" } " in docs/DETECTION.md." }
        }
        @if alerts.is_empty() {
            p #no-alerts { "No alerts" @if let Some(s) = &status { " with status " (s) } "." }
        } @else {
            table.data #alerts {
                thead { tr { th { "#" } th { "Raised" } th { "Level" } th { "Rule" } th { "Title" } th { "Accounts" } th { "Matches" } th { "Last seen" } th { "Status" } } }
                tbody {
                    @for a in &alerts {
                        tr.(level_class(&a.level)) {
                            td { a href={ "/alerts/" (a.id) } { (a.id) } }
                            td { (crate::kit::page::when_text(&a.raised_at)) }
                            td { (a.level) }
                            td { code { (a.rule) } }
                            td { (a.title) }
                            td { (a.accounts.join(", ")) }
                            td.count { (a.count) }
                            td { (crate::kit::page::when_text(&a.last_seen)) }
                            td.status { (a.status) }
                        }
                    }
                }
            }
        }
        @if !channels.is_empty() {
            h2 { "Notifications" }
            table.data #channels {
                thead { tr { th { "Channel" } th { "Sent" } th { "Waiting" } th { "Last error" } } }
                tbody {
                    @for c in &channels {
                        tr.(if c.waiting > 0 { "failed" } else { "ok" }) {
                            td { (c.channel) } td { (c.sent) } td.count { (c.waiting) }
                            td { (c.last_error.clone().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(Some(&caller), "Alerts", "Alerts", body).into_response())
}

async fn alert_page(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = alert_id(&id)?;
    let alert = one_alert(&state, caller.scope.clone(), id).await?;
    let lines = events::lines(&state, &caller, &alert).await?;
    let a = AlertView::from(alert);
    let body = html! {
        h1 { "Alert " (a.id) ": " (a.title) }
        table.data #alert {
            tr { th { "Rule" } td { code { (a.rule) } " (" (a.kind) ")" @if a.kind == "alarm" { " — " a href={ "/alarms/" (a.rule) } { "alarm" } } } }
            tr { th { "Level" } td { (a.level) } }
            @if let Some(au) = &a.author { tr { th { "Rule author" } td { (au) } } }
            tr { th { "Status" } td #status { (a.status) @if let Some(b) = &a.status_by { " (by " (b) ")" } } }
            tr { th { "Raised" } td { (crate::kit::page::when_text(&a.raised_at)) } }
            tr { th { "Events" } td.wrap { (a.count) " between " (crate::kit::page::when_text(&a.first_seen)) " and " (crate::kit::page::when_text(&a.last_seen)) } }
            tr { th { "Accounts" } td.wrap { (a.accounts.join(", ")) } }
        }
        pre #reason { (a.reason) }
        @if caller.role >= Role::Analyst {
            div.actions {
                @for (s, label) in [("acknowledged", "Acknowledge"), ("resolved", "Resolve"), ("open", "Reopen")] {
                    @if a.status != s {
                        form.inline method="post" action={ "/alerts/" (a.id) "/status" } {
                            (csrf_field(&caller))
                            input type="hidden" name="status" value=(s);
                            button type="submit" { (label) }
                        }
                        " "
                    }
                }
            }
        }
        h2 { "Events" }
        (events::table(&lines, a.events.len()))
    };
    Ok(layout(Some(&caller), "Alert", "Alerts", body).into_response())
}

/// An alarm: its definition and state.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlarmView {
    /// Name.
    pub name: String,
    /// What it means.
    pub title: String,
    /// Level of its alerts.
    pub level: String,
    /// The metric filter's pattern.
    pub filter_pattern: String,
    /// What a match publishes.
    pub metric_value: String,
    /// The condition (statistic, comparison, threshold, M of N, period, missing data).
    pub condition: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA` (`INSUFFICIENT_DATA` before the first
    /// evaluation).
    pub state: String,
    /// Why.
    pub reason: String,
    /// Since (RFC 3339).
    pub since: Option<String>,
    /// Channels notified.
    pub notify: Vec<String>,
}

/// One period of an alarm's metric.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodValue {
    /// Period start (RFC 3339).
    pub period: String,
    /// The statistic's value; absent when the period had no data.
    pub value: Option<f64>,
}

/// A transition.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionView {
    /// When it was decided (RFC 3339).
    pub at: String,
    /// The last period of the window judged (RFC 3339).
    pub period: String,
    /// From.
    pub from: String,
    /// To.
    pub to: String,
    /// Why.
    pub reason: String,
}

/// An alarm with its recent metric and history.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlarmDetail {
    /// The alarm.
    #[serde(flatten)]
    pub alarm: AlarmView,
    /// The last 48 periods, oldest first.
    pub series: Vec<PeriodValue>,
    /// Transitions, newest first.
    pub history: Vec<TransitionView>,
}

fn secs(t: i64) -> String {
    fmt_time(t.saturating_mul(1_000_000))
}

/// Whether `caller` may see an alarm: its metric counts events of every account it
/// covers, so a caller limited to some accounts sees those limited to them.
fn sees(caller: &Caller, d: &AlarmDef) -> bool {
    match (&caller.scope, &d.accounts) {
        (Scope::All, _) => true,
        (Scope::Accounts(set), Some(list)) => list.iter().all(|a| set.contains(a)),
        (Scope::Accounts(_), None) => false,
    }
}

async fn alarm_views(state: &AppState, caller: &Caller) -> Result<Vec<AlarmView>, ApiError> {
    let defs = state.config().detection.current();
    let visible: Vec<AlarmDef> = defs
        .alarms
        .iter()
        .filter(|d| sees(caller, d))
        .cloned()
        .collect();
    blocking(state, move |s| {
        let c = auditwatch_detect::state::DetectionState::of(s)?;
        visible
            .iter()
            .map(|d| {
                let row = c.alarm(&d.name)?;
                Ok(view(d, row))
            })
            .collect()
    })
    .await
}

fn view(d: &AlarmDef, row: Option<auditwatch_detect::state::AlarmRow>) -> AlarmView {
    AlarmView {
        name: d.name.clone(),
        title: d.title.clone(),
        level: d.level.clone(),
        filter_pattern: d.filter.pattern.to_string(),
        metric_value: d.filter.value.to_string(),
        condition: d.spec.describe(),
        state: row
            .as_ref()
            .map_or_else(|| "INSUFFICIENT_DATA".into(), |r| r.state.clone()),
        reason: row
            .as_ref()
            .map_or_else(|| "not evaluated yet".into(), |r| r.reason.clone()),
        since: row.map(|r| secs(r.since)),
        notify: d.channels.clone(),
    }
}

async fn detail(state: &AppState, caller: &Caller, name: String) -> Result<AlarmDetail, ApiError> {
    let defs = state.config().detection.current();
    let Some(def) = defs.alarms.iter().find(|a| a.name == name).cloned() else {
        return Err(ApiError::not_found(format!("no alarm named `{name}`")));
    };
    if !sees(caller, &def) {
        return Err(ApiError::forbidden(format!(
            "alarm `{name}` counts events of accounts outside yours"
        )));
    }
    blocking(state, move |s| {
        let c = auditwatch_detect::state::DetectionState::of(s)?;
        let p = i64::from(def.spec.period_secs);
        let now = chrono::Utc::now().timestamp();
        let current = now.div_euclid(p) * p;
        let values = period_values(&c, &def, current - (CHART_PERIODS - 1) * p, current).map_err(
            |e| match e {
                auditwatch_detect::DetectError::Store(s) => s,
                other => auditwatch_store::StoreError::Query(other.to_string()),
            },
        )?;
        let history = c.alarm_history(&def.name, HISTORY)?;
        let row = c.alarm(&def.name)?;
        Ok(AlarmDetail {
            alarm: view(&def, row),
            series: values
                .into_iter()
                .map(|(t, v)| PeriodValue {
                    period: secs(t),
                    value: v,
                })
                .collect(),
            history: history.into_iter().map(transition).collect(),
        })
    })
    .await
}

fn transition(t: Transition) -> TransitionView {
    TransitionView {
        at: secs(t.at),
        period: secs(t.period),
        from: t.old,
        to: t.new,
        reason: t.reason,
    }
}

/// The alarms with their states: every one for callers who see every account, else
/// those limited to accounts the caller sees.
#[utoipa::path(get, path = "/api/v1/alarms",
    responses((status = 200, body = Vec<AlarmView>), (status = 403, body = crate::kit::error::ErrorBody)))]
pub async fn alarms_api(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<AlarmView>>, ApiError> {
    Ok(Json(alarm_views(&state, &caller).await?))
}

/// One alarm: its metric over the last 48 periods and its history.
#[utoipa::path(get, path = "/api/v1/alarms/{name}", params(("name" = String, Path, description = "Alarm name")),
    responses((status = 200, body = AlarmDetail), (status = 403, body = crate::kit::error::ErrorBody),
        (status = 404, body = crate::kit::error::ErrorBody)))]
pub async fn alarm_api(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<AlarmDetail>, ApiError> {
    Ok(Json(detail(&state, &caller, name).await?))
}

fn state_class(s: &str) -> &'static str {
    match s {
        "ALARM" => "failed",
        _ => "ok",
    }
}

async fn alarms_page(State(state): State<AppState>, caller: Caller) -> Result<Response, PageError> {
    let alarms = alarm_views(&state, &caller).await?;
    let body = html! {
        h1 { "Alarms" }
        @if alarms.is_empty() {
            p { "No alarms are configured. Declare one on the " a href="/rules" { "Rules" } " page, or add " code { "[[alarms]]" } " tables or " code { "[detection] packs = [\"cis\"]" } " to the configuration file (docs/DETECTION.md)." }
        } @else {
            table.data #alarms {
                thead { tr { th { "Alarm" } th { "State" } th { "Since" } th { "Condition" } th { "Reason" } } }
                tbody {
                    @for a in &alarms {
                        tr.(state_class(&a.state)) {
                            td { a href={ "/alarms/" (a.name) } { (a.name) } br; small { (a.title) } }
                            td.state { (a.state) }
                            td { (crate::kit::page::when_text(a.since.as_deref().unwrap_or_default())) }
                            td { (a.condition) }
                            td { (a.reason) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(Some(&caller), "Alarms", "Alerts", body).into_response())
}

/// Bars of the metric per period, with the threshold as a line.
fn chart(d: &AlarmDetail, threshold: f64) -> Markup {
    let (h, pad) = (160.0_f64, 20.0_f64);
    let max = d
        .series
        .iter()
        .filter_map(|p| p.value)
        .fold(threshold, f64::max)
        .max(1.0);
    let n = d.series.len().max(1) as f64;
    // No viewBox: the label stays at the stylesheet's size at any width; bars are
    // placed in percent of the width.
    let pct = |x: f64| format!("{:.3}%", 100.0 * x);
    let y = |v: f64| h - pad - (v / max) * (h - 2.0 * pad);
    html! {
        svg #metric width="100%" height=(h) role="img" aria-label="metric per period" {
            @for (i, p) in d.series.iter().enumerate() {
                @if let Some(v) = p.value {
                    rect x=(pct(i as f64 / n)) y=(y(v)) width=(pct(0.9 / n)) height=((h - pad - y(v)).max(0.0)) fill=(if v >= threshold { "#c0392b" } else { "#2e86c1" }) {
                        title { (p.period) ": " (v) }
                    }
                }
            }
            line x1="0" x2="100%" y1=(y(threshold)) y2=(y(threshold)) stroke="#555" stroke-dasharray="4 3" {}
            text.threshold x="100%" y=(y(threshold) - 3.0) text-anchor="end" { "threshold " (threshold) }
        }
    }
}

async fn alarm_page(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let threshold = state
        .config()
        .detection
        .current()
        .alarms
        .iter()
        .find(|a| a.name == name)
        .map_or(0.0, |a| a.spec.threshold);
    let d = detail(&state, &caller, name).await?;
    let a = &d.alarm;
    let body = html! {
        h1 { "Alarm " (a.name) }
        p { (a.title) }
        table.data #alarm {
            tr { th { "State" } td.state #state { (a.state) } }
            tr { th { "Since" } td { (crate::kit::page::when_text(a.since.as_deref().unwrap_or_default())) } }
            tr { th { "Reason" } td { (a.reason) } }
            tr { th { "Filter pattern" } td { code { (a.filter_pattern) } } }
            tr { th { "Metric value" } td { code { (a.metric_value) } } }
            tr { th { "Condition" } td { (a.condition) } }
            tr { th { "Notifies" } td { (a.notify.join(", ")) } }
        }
        h2 { "Metric, last " (CHART_PERIODS) " periods" }
        (chart(&d, threshold))
        h2 { "History" }
        @if d.history.is_empty() {
            p { "No transitions yet." }
        } @else {
            table.data #history {
                thead { tr { th { "Decided" } th { "Period" } th { "From" } th { "To" } th { "Why" } } }
                tbody {
                    @for t in &d.history {
                        tr.(state_class(&t.to)) { td { (crate::kit::page::when_text(&t.at)) } td { (t.period) } td { (t.from) } td { (t.to) } td { (t.reason) } }
                    }
                }
            }
        }
    };
    Ok(layout(Some(&caller), "Alarm", "Alerts", body).into_response())
}

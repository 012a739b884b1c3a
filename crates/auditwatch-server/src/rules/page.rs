//! The Rules page: the table of alarms and rules with their switches, the alarm form
//! (declare, edit, remove) and the filter-pattern test, as HTML forms that work
//! without JavaScript.

use auditwatch_detect::config::AlarmSettings;
use auditwatch_detect::library::{Entry, FROM_UI};
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::*;
use crate::kit::audit::note;
use crate::kit::caller::Role;
use crate::kit::chart::fmt_count;
use crate::kit::page::{PageError, csrf_field, layout, seg};
use crate::{ApiError, AppState, Caller};

/// The alarm form: every field as text, empty meaning "the default".
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AlarmForm {
    /// The alarm being edited (empty: a new one).
    editing: String,
    name: String,
    title: String,
    filter_pattern: String,
    metric_value: String,
    default_value: String,
    period: String,
    statistic: String,
    comparison: String,
    threshold: String,
    evaluation_periods: String,
    datapoints_to_alarm: String,
    treat_missing_data: String,
    level: String,
    notify: String,
    accounts: String,
    start: String,
    end: String,
}

pub(super) fn text(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

pub(super) fn list(s: &str) -> Option<Vec<String>> {
    text(s).map(|s| {
        s.split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    })
}

pub(super) fn number<T: std::str::FromStr>(field: &str, s: &str) -> Result<Option<T>, ApiError> {
    text(s)
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::invalid(format!("{field}: `{v}` is not a number")))
        })
        .transpose()
}

impl AlarmForm {
    fn settings(&self) -> Result<AlarmSettings, ApiError> {
        Ok(AlarmSettings {
            name: self.name.trim().to_string(),
            title: text(&self.title),
            filter_pattern: self.filter_pattern.clone(),
            metric_value: text(&self.metric_value),
            default_value: number("default_value", &self.default_value)?,
            period: number("period", &self.period)?,
            statistic: text(&self.statistic),
            comparison: text(&self.comparison),
            threshold: number("threshold", &self.threshold)?,
            evaluation_periods: number("evaluation_periods", &self.evaluation_periods)?,
            datapoints_to_alarm: number("datapoints_to_alarm", &self.datapoints_to_alarm)?,
            treat_missing_data: text(&self.treat_missing_data),
            level: text(&self.level),
            notify: list(&self.notify),
            accounts: list(&self.accounts),
        })
    }

    fn from_settings(a: &AlarmSettings) -> Self {
        let n = |v: Option<String>| v.unwrap_or_default();
        let f = |v: Option<String>| v.unwrap_or_default();
        Self {
            editing: a.name.clone(),
            name: a.name.clone(),
            title: n(a.title.clone()),
            filter_pattern: a.filter_pattern.clone(),
            metric_value: n(a.metric_value.clone()),
            default_value: f(a.default_value.map(|v| v.to_string())),
            period: f(a.period.map(|v| v.to_string())),
            statistic: n(a.statistic.clone()),
            comparison: n(a.comparison.clone()),
            threshold: f(a.threshold.map(|v| v.to_string())),
            evaluation_periods: f(a.evaluation_periods.map(|v| v.to_string())),
            datapoints_to_alarm: f(a.datapoints_to_alarm.map(|v| v.to_string())),
            treat_missing_data: n(a.treat_missing_data.clone()),
            level: n(a.level.clone()),
            notify: a.notify.clone().map(|v| v.join(", ")).unwrap_or_default(),
            accounts: a.accounts.clone().map(|v| v.join(", ")).unwrap_or_default(),
            start: String::new(),
            end: String::new(),
        }
    }
}

/// What the page shows below the list.
#[derive(Default)]
pub(super) struct Shown {
    form: AlarmForm,
    error: Option<String>,
    test: Option<TestResult>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct PageQuery {
    #[serde(default)]
    edit: String,
}

pub(super) async fn page(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Query(q): axum::extract::Query<PageQuery>,
) -> Result<Response, PageError> {
    let mut shown = Shown::default();
    if !q.edit.is_empty() {
        match library(&state).declared(&q.edit) {
            Some(a) => shown.form = AlarmForm::from_settings(&a),
            None => shown.error = Some(format!("no alarm declared here is named `{}`", q.edit)),
        }
    }
    Ok(render(&state, &caller, shown).into_response())
}

pub(super) async fn test_form(
    State(state): State<AppState>,
    caller: Caller,
    Form(form): Form<AlarmForm>,
) -> Result<Response, PageError> {
    let result = match form.settings() {
        Ok(mut s) => {
            if s.name.is_empty() {
                s.name = "test".into();
            }
            run_test(
                &state,
                &caller,
                s,
                &text(&form.start),
                &text(&form.end),
                TEST_LISTED,
            )
            .await
        }
        Err(e) => Err(e),
    };
    let (test, error, status) = match result {
        Ok(t) => (Some(t), None, StatusCode::OK),
        Err(e) => (None, Some(e.message), e.status),
    };
    let mut r = render(&state, &caller, Shown { form, error, test }).into_response();
    *r.status_mut() = status;
    Ok(r)
}

pub(super) async fn save_form(
    State(state): State<AppState>,
    caller: Caller,
    Form(form): Form<AlarmForm>,
) -> Result<Response, PageError> {
    let lib = library(&state);
    let editing = form.editing.clone();
    let result = match form.settings() {
        Ok(s) => match may_declare(&caller, &s) {
            Ok(()) => {
                let (l, by) = (lib.clone(), caller.name.clone());
                let e = editing.clone();
                run_blocking(&state, move || {
                    if e.is_empty() {
                        l.declare_alarm(s, &by)
                    } else {
                        l.update_alarm(&e, s, &by)
                    }
                })
                .await
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let action = if editing.is_empty() {
        "alarm.declare"
    } else {
        "alarm.update"
    };
    let detail = serde_json::to_string(&form.settings().ok()).unwrap_or_default();
    match result {
        Ok(()) => {
            note(&state, &caller, action, form.name.trim(), detail, "ok").await;
            Ok(Redirect::to("/rules#rules").into_response())
        }
        Err(e) => {
            note(
                &state,
                &caller,
                action,
                form.name.trim(),
                format!("{detail}: {}", e.message),
                "failed",
            )
            .await;
            let status = e.status;
            let mut r = render(
                &state,
                &caller,
                Shown {
                    form,
                    error: Some(e.message),
                    test: None,
                },
            )
            .into_response();
            *r.status_mut() = status;
            Ok(r)
        }
    }
}

pub(super) async fn remove_form(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let lib = library(&state);
    let n = name.clone();
    let result = run_blocking(&state, move || lib.remove_alarm(&n)).await;
    finish(&state, &caller, "alarm.remove", &name, result).await
}

/// The switch form.
#[derive(Debug, Deserialize)]
pub struct SwitchForm {
    kind: String,
    id: String,
    enabled: String,
}

pub(super) async fn switch_form(
    State(state): State<AppState>,
    caller: Caller,
    Form(f): Form<SwitchForm>,
) -> Result<Response, PageError> {
    let lib = library(&state);
    let on = f.enabled == "true";
    let (k, i, by) = (f.kind.clone(), f.id.clone(), caller.name.clone());
    let result = run_blocking(&state, move || lib.set_enabled(&k, &i, on, &by)).await;
    let action = if on { "rule.enable" } else { "rule.disable" };
    finish(
        &state,
        &caller,
        action,
        &format!("{}:{}", f.kind, f.id),
        result,
    )
    .await
}

/// Audits a change and shows the page again: redirected on success, with the
/// error otherwise.
pub(super) async fn finish(
    state: &AppState,
    caller: &Caller,
    action: &str,
    target: &str,
    result: Result<(), ApiError>,
) -> Result<Response, PageError> {
    match result {
        Ok(()) => {
            note(state, caller, action, target, String::new(), "ok").await;
            Ok(Redirect::to("/rules#rules").into_response())
        }
        Err(e) => {
            note(state, caller, action, target, e.message.clone(), "failed").await;
            let status = e.status;
            let mut r = render(
                state,
                caller,
                Shown {
                    error: Some(e.message),
                    ..Shown::default()
                },
            )
            .into_response();
            *r.status_mut() = status;
            Ok(r)
        }
    }
}

pub(super) fn level_class(level: &str) -> &'static str {
    match level {
        "critical" | "high" => "failed",
        _ => "ok",
    }
}

pub(super) fn rules_table(caller: &Caller, entries: &[Entry], editable: bool) -> Markup {
    let admin = caller.role >= Role::Admin && editable;
    html! {
        table.data #rules {
            thead { tr { th { "Kind" } th { "Rule" } th { "Level" } th { "Declared in" } th { "Pattern / condition" } th { "Runs" } th { "Changed" } @if admin { th { "Actions" } } } }
            tbody {
                @for e in entries {
                    tr.(if e.enabled { "" } else { "disabled" }) data-kind=(e.kind) data-id=(e.id) {
                        td { (e.kind) }
                        td {
                            @if e.kind == "alarm" && e.enabled {
                                a href={ "/alarms/" (seg(&e.id)) } { (e.id) }
                            } @else { (e.id) }
                            @if e.title != e.id { br; small { (e.title) } }
                        }
                        td.(level_class(&e.level)) { (e.level) }
                        td { (e.origin) }
                        td {
                            @if let Some(p) = &e.pattern { code { (p) } }
                            @if let Some(c) = &e.condition { br; small { (c) } }
                        }
                        td.state { @if e.enabled { "enabled" } @else { "disabled" } }
                        td { @if let Some(c) = &e.changed { (c.by) " " small { (secs(c.at)) } } }
                        @if admin {
                            td.actions {
                                form.inline method="post" action="/rules/switch" {
                                    (csrf_field(caller))
                                    input type="hidden" name="kind" value=(e.kind);
                                    input type="hidden" name="id" value=(e.id);
                                    input type="hidden" name="enabled" value=(if e.enabled { "false" } else { "true" });
                                    button type="submit" { @if e.enabled { "Disable" } @else { "Enable" } }
                                }
                                @if e.origin == FROM_UI && e.kind == "alarm" {
                                    " "
                                    a href={ "/rules?edit=" (seg(&e.id)) "#alarm-form" } { "Edit" }
                                    " "
                                    form.inline method="post" action={ "/rules/alarms/" (seg(&e.id)) "/remove" } {
                                        (csrf_field(caller))
                                        button type="submit" { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn field(label: &str, name: &str, value: &str, hint: &str) -> Markup {
    html! {
        label { (label) " "
            input type="text" name=(name) value=(value) placeholder=(hint);
        }
    }
}

pub(super) fn alarm_form(caller: &Caller, f: &AlarmForm, editable: bool) -> Markup {
    let admin = caller.role >= Role::Admin && editable;
    let editing = !f.editing.is_empty();
    html! {
        h2 #alarm-form { @if editing { "Edit alarm " (f.editing) } @else if admin { "Declare an alarm" } @else { "Test a filter pattern" } }
        p { "A CloudWatch Logs filter pattern and, for an alarm, how its metric is judged (docs/DETECTION.md). "
            "“Test” runs the pattern over your newest stored events in the window (at most " (fmt_count(MAX_TEST_SCAN as u64)) " of them) and saves nothing." }
        form.stack method="post" action="/rules/test" {
            (csrf_field(caller))
            input type="hidden" name="editing" value=(f.editing);
            label { "Filter pattern "
                textarea name="filter_pattern" rows="3" cols="70" required spellcheck="false"
                    placeholder="{ ($.eventName = \"GetSecretValue\") && ($.requestParameters.secretId = \"TopSecretInfo*\") }" { (f.filter_pattern) }
            }
            div.row {
                (field("Test from", "start", &f.start, "24h (default), 7d or 2024-05-01"))
                (field("to", "end", &f.end, "now"))
                (field("Accounts", "accounts", &f.accounts, "all, or 111122223333, …"))
                (field("Metric value", "metric_value", &f.metric_value, "1, or $.field"))
            }
            @if admin {
                fieldset {
                    legend { "Alarm" }
                    div.row {
                        @if editing {
                            label { "Name " input type="text" name="name" value=(f.name) readonly; }
                        } @else {
                            (field("Name", "name", &f.name, "secret-read"))
                        }
                        (field("Title", "title", &f.title, "what it means"))
                        label { "Level "
                            select name="level" {
                                option value="" { "high (default)" }
                                @for l in auditwatch_detect::config::LEVELS.iter() {
                                    option value=(l) selected[f.level == *l] { (l) }
                                }
                            }
                        }
                    }
                    div.row {
                        label { "Statistic "
                            select name="statistic" {
                                @for s in ["Sum", "SampleCount", "Average", "Minimum", "Maximum"] {
                                    option value=(s) selected[f.statistic == s] { (s) }
                                }
                            }
                        }
                        label { "Comparison "
                            select name="comparison" {
                                @for c in ["GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"] {
                                    option value=(c) selected[f.comparison == c] { (c) }
                                }
                            }
                        }
                        (field("Threshold", "threshold", &f.threshold, "1"))
                        (field("Period (s)", "period", &f.period, "300"))
                    }
                    div.row {
                        (field("Evaluation periods", "evaluation_periods", &f.evaluation_periods, "1"))
                        (field("Datapoints to alarm", "datapoints_to_alarm", &f.datapoints_to_alarm, "= evaluation periods"))
                        label { "Missing data "
                            select name="treat_missing_data" {
                                @for t in ["missing", "notBreaching", "breaching", "ignore"] {
                                    option value=(t) selected[f.treat_missing_data == t] { (t) }
                                }
                            }
                        }
                        (field("Default value", "default_value", &f.default_value, "none"))
                        (field("Notify", "notify", &f.notify, "all channels"))
                    }
                }
            }
            div.row {
                button type="submit" { "Test against recent events" }
                @if admin {
                    button type="submit" formaction="/rules/alarms" { @if editing { "Save changes" } @else { "Save alarm" } }
                    @if editing { a href="/rules#alarm-form" { "Cancel" } }
                }
            }
        }
    }
}

pub(super) fn test_section(t: &TestResult) -> Markup {
    html! {
        section #test-result aria-live="polite" {
            h2 { "Test result" }
            p #test-summary {
                strong { (fmt_count(t.matched)) } " of " (fmt_count(t.scanned)) " events from " (t.start) " to " (t.end) " matched"
                @if t.metric_sum != t.matched as f64 { " (metric sum " (t.metric_sum) ")" }
                "."
                @if t.capped { " The window holds more events: only its newest " (fmt_count(MAX_TEST_SCAN as u64)) " were looked at." }
            }
            @for w in &t.warnings { p.notice { (w) } }
            @if !t.events.is_empty() {
                table.data #test-matches {
                    thead { tr { th { "Time" } th { "Event" } th { "Account" } } }
                    tbody {
                        @for m in &t.events {
                            tr {
                                td { (m.time) }
                                td { a href={ "/events/" (seg(&m.event_id)) } { (m.summary) } }
                                td { (m.account.clone().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn render(
    state: &AppState,
    caller: &Caller,
    shown: Shown,
) -> axum::response::Html<String> {
    let lib = library(state);
    let entries = lib.entries();
    let editable = lib.editable();
    let on = entries.iter().filter(|e| e.enabled).count();
    let body = html! {
        h1 { "Rules" }
        p { (entries.len()) " alarms and rules, " (on) " of them enabled. "
            "Those from the configuration file, packs and rule files are changed there; any of them can be switched off here. "
            "Alerts are on the " a href="/alerts" { "Alerts" } " page, alarm states on " a href="/alarms" { "Alarms" } "." }
        @if let Some(e) = &shown.error { p.error role="alert" { (e) } }
        @if let Some(t) = &shown.test { (test_section(t)) }
        @if entries.is_empty() {
            p #no-rules { "No alarms or rules yet." }
        } @else {
            (rules_table(caller, &entries, editable))
        }
        @if caller.role >= Role::Analyst { (alarm_form(caller, &shown.form, editable)) }
    };
    layout(Some(caller), "Rules", "Rules", body)
}

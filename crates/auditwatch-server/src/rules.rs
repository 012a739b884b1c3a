//! The Rules page and its API: every alarm and rule detection knows, with where it
//! was declared and whether it runs; administrators switch any of them off or on,
//! and declare, edit and remove filter-pattern alarms (kept in the catalog by
//! [`auditwatch_detect::Library`]); analysts test a filter pattern against the
//! newest stored events before anyone saves it.
//!
//! - `GET /api/v1/rules`, `POST /api/v1/rules/{kind}/{id}` (`{"enabled": bool}`),
//!   `POST /api/v1/rules/test`;
//! - `POST /api/v1/alarms`, `PUT|DELETE /api/v1/alarms/{name}` (the body is an
//!   `[[alarms]]` table as JSON).
//!
//! Tests read only what the caller's accounts allow. Declaring an alarm takes a
//! caller who sees every account unless the alarm names its `accounts` and the
//! caller sees them all (an alarm's metric counts every account it covers).

use std::sync::Arc;

use auditwatch_detect::Library;
use auditwatch_detect::config::AlarmSettings;
use auditwatch_detect::library::{Entry, FROM_UI, LibraryError};
use auditwatch_store::Scope;
use axum::Json;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kit::access::{Access, Routes};
use crate::kit::audit::note;
use crate::kit::caller::Role;
use crate::kit::chart::fmt_count;
use crate::kit::json::J;
use crate::kit::page::{PageError, csrf_field, layout, seg};
use crate::query::{FilterTest, Queries, check_range, fmt_time, time_field};
use crate::{ApiError, AppState, Caller};

const ADMIN: Access = Access::Role(Role::Admin);

/// Most events one test looks at (the newest of its window).
pub const MAX_TEST_SCAN: usize = 200_000;
/// Most matches a test lists.
pub const MAX_TEST_LISTED: usize = 100;
/// Matches a test lists unless asked otherwise.
const TEST_LISTED: usize = 20;

/// The Rules page and its forms.
pub fn pages() -> Routes {
    Routes::pages()
        .get("/rules", Access::Role(Role::Viewer), page)
        .post("/rules/test", Access::Role(Role::Analyst), test_form)
        .post("/rules/alarms", ADMIN, save_form)
        .post("/rules/alarms/{name}/remove", ADMIN, remove_form)
        .post("/rules/switch", ADMIN, switch_form)
}

/// Rules and alarm definitions in the API (`/api/v1/rules`, `/api/v1/alarms`).
pub fn api() -> Routes {
    Routes::api()
        .post("/alarms", Access::Role(Role::Admin), declare_api)
        .audit("alarm.declare")
        .put("/alarms/{name}", Access::Role(Role::Admin), update_api)
        .audit("alarm.update")
        .delete("/alarms/{name}", Access::Role(Role::Admin), remove_api)
        .audit("alarm.remove")
        .get("/rules", Access::Role(Role::Viewer), list_api)
        .post("/rules/test", Access::Role(Role::Analyst), test_api)
        .post("/rules/{kind}/{id}", Access::Role(Role::Admin), switch_api)
        .audit("rule.switch")
}

impl From<LibraryError> for ApiError {
    fn from(e: LibraryError) -> Self {
        let (status, code) = match &e {
            LibraryError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            LibraryError::Exists(_) | LibraryError::FromConfig(_) => {
                (StatusCode::CONFLICT, "conflict")
            }
            LibraryError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            LibraryError::Sql(_) => return ApiError::internal(e),
        };
        ApiError {
            status,
            code,
            message: e.to_string(),
        }
    }
}

/// A rule or alarm as the API lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    /// `alarm`, `rule` (filter pattern), `sigma` or `correlation`.
    pub kind: String,
    /// Name or id.
    pub id: String,
    /// What it means.
    pub title: String,
    /// Alert level.
    pub level: String,
    /// `configuration file`, a pack (`builtin:cis`), `rule file`, a Sigma file
    /// (`path:line`) or `UI`.
    pub origin: String,
    /// Whether it runs.
    pub enabled: bool,
    /// Who last switched or edited it here.
    pub changed_by: Option<String>,
    /// When (RFC 3339).
    pub changed_at: Option<String>,
    /// The filter pattern (alarms, filter-pattern rules).
    pub pattern: Option<String>,
    /// The alarm's condition in words.
    pub condition: Option<String>,
    /// The table of an alarm declared here.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<AlarmSettings>,
}

fn secs(t: i64) -> String {
    fmt_time(t * 1_000_000)
}

impl From<Entry> for RuleView {
    fn from(e: Entry) -> Self {
        Self {
            kind: e.kind.to_string(),
            id: e.id,
            title: e.title,
            level: e.level,
            origin: e.origin,
            enabled: e.enabled,
            changed_by: e.changed.as_ref().map(|c| c.by.clone()),
            changed_at: e.changed.map(|c| secs(c.at)),
            pattern: e.pattern,
            condition: e.condition,
            settings: e.settings,
        }
    }
}

fn library(state: &AppState) -> Arc<Library> {
    state.config().detection.clone()
}

/// Runs a library change off the async workers (it touches SQLite), then turns the
/// ingest queue on or off to match, so that an alarm declared on an idle server
/// counts the very next commit (the detection loop would only notice next tick).
async fn run_blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce() -> Result<T, LibraryError> + Send + 'static,
) -> Result<T, ApiError> {
    let (store, lib) = (state.store().clone(), library(state));
    tokio::task::spawn_blocking(move || {
        let out = f().map_err(ApiError::from)?;
        store
            .catalog()
            .and_then(|c| c.set_detection(!lib.current().is_empty()))?;
        Ok(out)
    })
    .await
    .map_err(ApiError::internal)?
}

/// An alarm counts every account it covers: declaring one takes a caller who sees
/// them all.
fn may_declare(caller: &Caller, a: &AlarmSettings) -> Result<(), ApiError> {
    match &caller.scope {
        Scope::All => Ok(()),
        Scope::Accounts(set) => match &a.accounts {
            Some(list) if list.iter().all(|x| set.contains(x)) => Ok(()),
            _ => Err(ApiError::forbidden(
                "an alarm counts events of every account it covers: name `accounts` you may all see",
            )),
        },
    }
}

/// Every alarm and rule, enabled or not: alarms first, then filter-pattern rules,
/// Sigma rules and correlations.
#[utoipa::path(get, path = "/api/v1/rules",
    responses((status = 200, body = Vec<RuleView>)))]
pub async fn list_api(State(state): State<AppState>) -> Json<Vec<RuleView>> {
    Json(
        library(&state)
            .entries()
            .into_iter()
            .map(RuleView::from)
            .collect(),
    )
}

/// A switch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchBody {
    /// Run it (true) or not (false).
    pub enabled: bool,
}

fn entry(lib: &Library, kind: &str, id: &str) -> Result<RuleView, ApiError> {
    lib.entries()
        .into_iter()
        .find(|e| e.kind == kind && e.id == id)
        .map(RuleView::from)
        .ok_or_else(|| ApiError::not_found(format!("no {kind} with id `{id}`")))
}

/// Switches a rule or alarm on or off (admins). Kept across restarts; a disabled
/// alarm counts nothing and is not evaluated, a disabled rule raises no alert.
#[utoipa::path(post, path = "/api/v1/rules/{kind}/{id}",
    params(("kind" = String, Path, description = "alarm, rule, sigma or correlation"),
        ("id" = String, Path, description = "Its name or id")),
    request_body = SwitchBody,
    responses((status = 200, body = RuleView), (status = 400, body = crate::kit::error::ErrorBody),
        (status = 403, body = crate::kit::error::ErrorBody), (status = 404, body = crate::kit::error::ErrorBody)))]
pub async fn switch_api(
    State(state): State<AppState>,
    caller: Caller,
    Path((kind, id)): Path<(String, String)>,
    J(body): J<SwitchBody>,
) -> Result<Json<RuleView>, ApiError> {
    let lib = library(&state);
    let by = caller.name.clone();
    let (k, i) = (kind.clone(), id.clone());
    let l = lib.clone();
    run_blocking(&state, move || l.set_enabled(&k, &i, body.enabled, &by)).await?;
    Ok(Json(entry(&lib, &kind, &id)?))
}

/// Declares a filter-pattern alarm (admins): the body is an `[[alarms]]` table as
/// JSON, checked as the configuration file's are. It counts events detected from
/// now on.
#[utoipa::path(post, path = "/api/v1/alarms",
    request_body(content = Object, description = "An alarm table: name, filter_pattern and the optional settings of docs/DETECTION.md"),
    responses((status = 201, body = RuleView), (status = 400, body = crate::kit::error::ErrorBody),
        (status = 403, body = crate::kit::error::ErrorBody),
        (status = 409, description = "An alarm of that name exists", body = crate::kit::error::ErrorBody)))]
pub async fn declare_api(
    State(state): State<AppState>,
    caller: Caller,
    J(settings): J<AlarmSettings>,
) -> Result<(StatusCode, Json<RuleView>), ApiError> {
    may_declare(&caller, &settings)?;
    let lib = library(&state);
    let (l, by, name) = (lib.clone(), caller.name.clone(), settings.name.clone());
    run_blocking(&state, move || l.declare_alarm(settings, &by)).await?;
    Ok((StatusCode::CREATED, Json(entry(&lib, "alarm", &name)?)))
}

/// Replaces an alarm declared here (admins). Its metric keeps what it counted.
#[utoipa::path(put, path = "/api/v1/alarms/{name}",
    params(("name" = String, Path, description = "The alarm's name")),
    request_body(content = Object, description = "The whole alarm table, with the same name"),
    responses((status = 200, body = RuleView), (status = 400, body = crate::kit::error::ErrorBody),
        (status = 404, body = crate::kit::error::ErrorBody),
        (status = 409, description = "Declared in the configuration file", body = crate::kit::error::ErrorBody)))]
pub async fn update_api(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    J(settings): J<AlarmSettings>,
) -> Result<Json<RuleView>, ApiError> {
    may_declare(&caller, &settings)?;
    let lib = library(&state);
    let (l, by, n) = (lib.clone(), caller.name.clone(), name.clone());
    run_blocking(&state, move || l.update_alarm(&n, settings, &by)).await?;
    Ok(Json(entry(&lib, "alarm", &name)?))
}

/// Removes an alarm declared here (admins); its state and history stay.
#[utoipa::path(delete, path = "/api/v1/alarms/{name}",
    params(("name" = String, Path, description = "The alarm's name")),
    responses((status = 204, description = "Removed"), (status = 404, body = crate::kit::error::ErrorBody),
        (status = 409, description = "Declared in the configuration file", body = crate::kit::error::ErrorBody)))]
pub async fn remove_api(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let lib = library(&state);
    run_blocking(&state, move || lib.remove_alarm(&name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A filter pattern to try on stored events.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    /// The CloudWatch Logs filter pattern.
    pub filter_pattern: String,
    /// `"1"` (default), another number, or a selector (`"$.field"`).
    pub metric_value: Option<String>,
    /// Only these accounts (as the alarm's `accounts`).
    pub accounts: Option<Vec<String>>,
    /// Window start (RFC 3339, `YYYY-MM-DD` or relative such as `24h`); default 24 hours ago.
    pub start: Option<String>,
    /// Window end, same forms; default now.
    pub end: Option<String>,
    /// Matches to list, newest first (default 20, at most 100).
    pub limit: Option<usize>,
}

/// A match.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestMatch {
    /// `eventID`.
    pub event_id: String,
    /// `eventTime` (RFC 3339).
    pub time: String,
    /// The account.
    pub account: Option<String>,
    /// `user EventName from IP in account`.
    pub summary: String,
}

/// What a test found.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestResult {
    /// Window start (RFC 3339).
    pub start: String,
    /// Window end (RFC 3339).
    pub end: String,
    /// Events looked at (yours, in the window, the newest 200,000 at most).
    pub scanned: u64,
    /// Whether the window held more events than were looked at.
    pub capped: bool,
    /// Events matched.
    pub matched: u64,
    /// The metric's sum over the matches.
    pub metric_sum: f64,
    /// The newest matches.
    pub events: Vec<TestMatch>,
    /// What would make an alarm on this pattern useless, if anything.
    pub warnings: Vec<String>,
}

async fn run_test(
    state: &AppState,
    caller: &Caller,
    settings: AlarmSettings,
    start: &Option<String>,
    end: &Option<String>,
    limit: usize,
) -> Result<TestResult, ApiError> {
    let start = time_field("start", start, false)?
        .unwrap_or_else(|| (chrono::Utc::now().timestamp() - 86_400) * 1_000_000);
    let end = time_field("end", end, true)?.unwrap_or(i64::MAX / 2);
    check_range(Some(start), Some(end))?;
    let channels = library(state).file().channel_names();
    let (def, warnings) = auditwatch_detect::config::alarm(settings, &channels, FROM_UI)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let found: FilterTest = Queries::new(state, caller)
        .test_filter(&def, start, end, MAX_TEST_SCAN, limit.min(MAX_TEST_LISTED))
        .await?;
    Ok(TestResult {
        start: fmt_time(start),
        end: if end >= i64::MAX / 2 {
            "now".into()
        } else {
            fmt_time(end)
        },
        scanned: found.scanned,
        capped: found.capped,
        matched: found.matched,
        metric_sum: found.sum,
        events: found
            .newest
            .into_iter()
            .map(|s| TestMatch {
                time: fmt_time(s.time_us),
                event_id: s.event_id,
                account: s.account,
                summary: s.summary,
            })
            .collect(),
        warnings,
    })
}

/// Tries a filter pattern on the caller's newest stored events (analysts): what it
/// matches, and the metric it would count. Nothing is saved.
#[utoipa::path(post, path = "/api/v1/rules/test", request_body = TestBody,
    responses((status = 200, body = TestResult), (status = 400, body = crate::kit::error::ErrorBody),
        (status = 403, body = crate::kit::error::ErrorBody)))]
pub async fn test_api(
    State(state): State<AppState>,
    caller: Caller,
    J(b): J<TestBody>,
) -> Result<Json<TestResult>, ApiError> {
    let settings = AlarmSettings {
        name: "test".into(),
        filter_pattern: b.filter_pattern,
        metric_value: b.metric_value,
        accounts: b.accounts,
        ..AlarmSettings::default()
    };
    let limit = b.limit.unwrap_or(TEST_LISTED);
    Ok(Json(
        run_test(&state, &caller, settings, &b.start, &b.end, limit).await?,
    ))
}

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

fn text(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn list(s: &str) -> Option<Vec<String>> {
    text(s).map(|s| {
        s.split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    })
}

fn number<T: std::str::FromStr>(field: &str, s: &str) -> Result<Option<T>, ApiError> {
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
struct Shown {
    form: AlarmForm,
    error: Option<String>,
    test: Option<TestResult>,
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    #[serde(default)]
    edit: String,
}

async fn page(
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

async fn test_form(
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

async fn save_form(
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

async fn remove_form(
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

async fn switch_form(
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
async fn finish(
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

fn level_class(level: &str) -> &'static str {
    match level {
        "critical" | "high" => "failed",
        _ => "ok",
    }
}

fn rules_table(caller: &Caller, entries: &[Entry], editable: bool) -> Markup {
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

fn field(label: &str, name: &str, value: &str, hint: &str) -> Markup {
    html! {
        label { (label) " "
            input type="text" name=(name) value=(value) placeholder=(hint);
        }
    }
}

fn alarm_form(caller: &Caller, f: &AlarmForm, editable: bool) -> Markup {
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

fn test_section(t: &TestResult) -> Markup {
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

fn render(state: &AppState, caller: &Caller, shown: Shown) -> axum::response::Html<String> {
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

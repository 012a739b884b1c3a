//! The Rules API: `GET /api/v1/rules`, switching one on or off, testing a filter
//! pattern, and declaring, updating and removing filter-pattern alarms.

use auditwatch_detect::Library;
use auditwatch_detect::config::AlarmSettings;
use auditwatch_detect::library::FROM_UI;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::*;
use crate::kit::json::J;
use crate::query::{FilterTest, Queries, check_range, fmt_time, time_field};
use crate::{ApiError, AppState, Caller};

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

pub(super) fn entry(lib: &Library, kind: &str, id: &str) -> Result<RuleView, ApiError> {
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

pub(super) async fn run_test(
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

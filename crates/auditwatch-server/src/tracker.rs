//! `/tracker`: the CloudTrail-Tracker REST API (github.com/grycap/cloudtrail-tracker),
//! same paths, parameters and JSON shapes, over the Auditwatch lake.
//!
//! | path | answer |
//! |---|---|
//! | `/parameters` | names usable in `params` |
//! | `/scan?from&to` | events in the window |
//! | `/services` | event sources |
//! | `/services/{svc}?from&to&eventName&params&value&count` | a service's events (`ec2` means `ec2.amazonaws.com`) |
//! | `/users` | user names |
//! | `/users/{user}?from&to&eventName&params&value&count` | a user's events |
//!
//! Events come as `{eventID, eventName, eventSource, eventTime, userIdentity_userName}`
//! with to-the-second times; `from`/`to` default to the last 7 days; `count=true`
//! answers a number. `params=['instanceType','eventSource']&value=['m1.small',…]`
//! pairs names with values: a name is a flattened column (`eventSource`,
//! `userIdentity_userName` …) or a `requestParameters` key, with or without the
//! `requestParameters_` prefix. The user is Auditwatch's derived `username`.

use auditwatch_store::{Attribute, Lookup};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::kit::access::{Access, Routes};
use crate::kit::caller::Role;
use crate::query::{self, Field, Q, Queries};
use crate::{ApiError, AppState, Caller, view};

/// The `/tracker` routes.
pub fn routes() -> Routes {
    Routes::api()
        .get("/parameters", Access::Role(Role::Viewer), parameters)
        .get("/scan", Access::Role(Role::Viewer), scan)
        .audit("search")
        .get("/services", Access::Role(Role::Viewer), services)
        .get("/services/{svc}", Access::Role(Role::Viewer), service)
        .audit("search")
        .get("/users", Access::Role(Role::Viewer), users)
        .get("/users/{user}", Access::Role(Role::Viewer), user)
        .audit("search")
}

/// Most events one tracker call returns (the original had no cap; we page the lake).
const MAX_EVENTS: usize = 10_000;

/// Top-level names usable in `params` (besides `requestParameters` keys).
const COLUMNS: [&str; 7] = [
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "errorCode",
    "userIdentity_userName",
    "userIdentity_accessKeyId",
];

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct TrackerQuery {
    from: Option<String>,
    to: Option<String>,
    event_name: Option<String>,
    params: Option<String>,
    value: Option<String>,
    values: Option<String>,
    count: Option<String>,
}

#[derive(Debug, Serialize)]
struct TrackerEvent {
    #[serde(rename = "eventID")]
    event_id: Option<String>,
    #[serde(rename = "eventName")]
    event_name: Option<String>,
    #[serde(rename = "eventSource")]
    event_source: Option<String>,
    #[serde(rename = "eventTime")]
    event_time: String,
    #[serde(rename = "userIdentity_userName")]
    user_name: Option<String>,
}

/// Parses `['a','b']`, `[a,b]` or `a,b`.
fn bracket_list(s: &str) -> Vec<String> {
    let s = s.trim();
    let s = s.strip_prefix('[').unwrap_or(s);
    let s = s.strip_suffix(']').unwrap_or(s);
    s.split(',')
        .map(|x| x.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// Expands a service short name: `ec2` → `ec2.amazonaws.com`.
fn service_name(s: &str) -> String {
    if s.contains('.') {
        s.to_string()
    } else {
        format!("{s}.amazonaws.com")
    }
}

impl TrackerQuery {
    fn lookup(&self, mut attributes: Vec<(Attribute, String)>) -> Result<(Lookup, bool), ApiError> {
        let now = Utc::now().timestamp_micros();
        let start =
            query::time_field("from", &self.from, false)?.unwrap_or(now - 7 * 86_400_000_000);
        let end = query::time_field("to", &self.to, true)?.unwrap_or(now);
        query::check_range(Some(start), Some(end))?;
        if let Some(n) = self.event_name.as_deref().filter(|s| !s.is_empty()) {
            attributes.push((Attribute::EventName, n.to_string()));
        }
        let names = self.params.as_deref().map(bracket_list).unwrap_or_default();
        let values = self
            .value
            .as_deref()
            .or(self.values.as_deref())
            .map(bracket_list)
            .unwrap_or_default();
        if names.len() > query::MAX_PARAM_CONDITIONS {
            return Err(ApiError::limit(format!(
                "params has {} names: at most {} (MAX_PARAM_CONDITIONS) per call",
                names.len(),
                query::MAX_PARAM_CONDITIONS
            )));
        }
        if names.len() != values.len() {
            return Err(ApiError::invalid(format!(
                "params has {} names but value has {} values",
                names.len(),
                values.len()
            )));
        }
        let mut lookup = Lookup {
            start: Some(start),
            end: Some(end),
            max_results: MAX_EVENTS,
            ..Lookup::default()
        };
        for (name, value) in names.into_iter().zip(values) {
            match name.as_str() {
                "eventSource" => attributes.push((Attribute::EventSource, value)),
                "eventName" => attributes.push((Attribute::EventName, value)),
                "userIdentity_userName" => attributes.push((Attribute::Username, value)),
                "userIdentity_accessKeyId" => attributes.push((Attribute::AccessKeyId, value)),
                "awsRegion" => lookup.regions.push(value),
                "sourceIPAddress" => lookup.source_ips.push(value),
                "errorCode" => lookup.error_codes.push(value),
                other => {
                    let key = other.strip_prefix("requestParameters_").unwrap_or(other);
                    lookup.params.push((vec![key.to_string()], value));
                }
            }
        }
        lookup.attributes = attributes;
        query::check_limits(&lookup)?;
        Ok((lookup, query::flag("count", &self.count)?))
    }
}

async fn events(
    state: &AppState,
    caller: &Caller,
    q: &TrackerQuery,
    attributes: Vec<(Attribute, String)>,
) -> Result<Response, ApiError> {
    let (lookup, count) = q.lookup(attributes)?;
    let queries = Queries::new(state, caller);
    if count {
        return Ok(Json(queries.count(&lookup).await?).into_response());
    }
    let page = queries.search(&lookup).await?;
    let out: Vec<TrackerEvent> = view::events(&page.events)?
        .into_iter()
        .map(|e| TrackerEvent {
            event_id: e.event_id,
            event_name: e.event_name,
            event_source: e.event_source,
            event_time: query::fmt_time(e.time_us),
            user_name: e.username,
        })
        .collect();
    Ok(Json(out).into_response())
}

async fn parameters() -> Json<Vec<String>> {
    let mut names: Vec<String> = COLUMNS.map(str::to_string).to_vec();
    names.push("requestParameters_<key>".into());
    Json(names)
}

async fn scan(
    State(state): State<AppState>,
    caller: Caller,
    Q(q): Q<TrackerQuery>,
) -> Result<Response, ApiError> {
    events(&state, &caller, &q, Vec::new()).await
}

async fn names(
    state: &AppState,
    caller: &Caller,
    field: Field,
) -> Result<Json<Vec<String>>, ApiError> {
    let buckets = Queries::new(state, caller)
        .terms(&Lookup::default(), field, 100_000)
        .await?;
    let mut names: Vec<String> = buckets.into_iter().filter_map(|b| b.key).collect();
    names.sort();
    Ok(Json(names))
}

async fn services(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<String>>, ApiError> {
    names(&state, &caller, Field::EventSource).await
}

async fn users(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<String>>, ApiError> {
    names(&state, &caller, Field::Username).await
}

async fn service(
    State(state): State<AppState>,
    caller: Caller,
    Path(svc): Path<String>,
    Q(q): Q<TrackerQuery>,
) -> Result<Response, ApiError> {
    events(
        &state,
        &caller,
        &q,
        vec![(Attribute::EventSource, service_name(&svc))],
    )
    .await
}

async fn user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    Q(q): Q<TrackerQuery>,
) -> Result<Response, ApiError> {
    events(&state, &caller, &q, vec![(Attribute::Username, user)]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_names() {
        assert_eq!(
            bracket_list("['instanceType','eventSource']"),
            vec!["instanceType", "eventSource"]
        );
        assert_eq!(bracket_list("[a, b]"), vec!["a", "b"]);
        assert_eq!(bracket_list("a"), vec!["a"]);
        assert_eq!(service_name("ec2"), "ec2.amazonaws.com");
        assert_eq!(service_name("s3.amazonaws.com"), "s3.amazonaws.com");
    }
}

//! Users, services, parameters, group-by aggregations and time histograms.

use auditwatch_store::Attribute;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::kit::error::ErrorBody;
use crate::query::{self, Bucket, Field, Q, Queries, SearchForm, Stack};
use crate::{ApiError, AppState, Caller};

/// How many values to return.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct TopOptions {
    /// Most values (default 1000, at most 10000).
    pub top: Option<usize>,
}

fn top(v: Option<usize>, default: usize) -> Result<usize, ApiError> {
    let n = v.unwrap_or(default);
    if n == 0 || n > 10_000 {
        return Err(ApiError::invalid(format!(
            "top must be between 1 and 10000, not {n}"
        )));
    }
    Ok(n)
}

/// Values and their event counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Buckets {
    /// Largest first.
    pub buckets: Vec<Bucket>,
}

async fn terms_of(
    state: &AppState,
    caller: &Caller,
    form: &SearchForm,
    field: Field,
    n: Option<usize>,
) -> Result<Json<Buckets>, ApiError> {
    let lookup = form.to_lookup(usize::MAX)?;
    let buckets = Queries::new(state, caller)
        .terms(&lookup, field, top(n, 1000)?)
        .await?;
    Ok(Json(Buckets { buckets }))
}

/// Users (the derived `username`) with their event counts.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "catalog",
    params(SearchForm, TopOptions),
    responses(
        (status = 200, description = "Users, most active first", body = Buckets),
        (status = 400, description = "Invalid filters", body = ErrorBody),
    )
)]
pub async fn users(
    State(state): State<AppState>,
    caller: Caller,
    Q(form): Q<SearchForm>,
    Q(t): Q<TopOptions>,
) -> Result<Json<Buckets>, ApiError> {
    terms_of(&state, &caller, &form, Field::Username, t.top).await
}

/// Services (`eventSource`) with their event counts.
#[utoipa::path(
    get,
    path = "/api/v1/services",
    tag = "catalog",
    params(SearchForm, TopOptions),
    responses(
        (status = 200, description = "Services, busiest first", body = Buckets),
        (status = 400, description = "Invalid filters", body = ErrorBody),
    )
)]
pub async fn services(
    State(state): State<AppState>,
    caller: Caller,
    Q(form): Q<SearchForm>,
    Q(t): Q<TopOptions>,
) -> Result<Json<Buckets>, ApiError> {
    terms_of(&state, &caller, &form, Field::EventSource, t.top).await
}

/// What can be searched and grouped by.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Parameters {
    /// LookupEvents attribute keys (`attr`).
    pub attributes: Vec<String>,
    /// Fields for `/aggregate` (`field`, `by`).
    pub group_by: Vec<String>,
    /// Search filters (query parameters of `/events`).
    pub filters: Vec<String>,
}

/// Attribute keys, group-by fields and search filters.
#[utoipa::path(
    get,
    path = "/api/v1/parameters",
    tag = "catalog",
    responses((status = 200, description = "What can be searched", body = Parameters))
)]
pub async fn parameters() -> Json<Parameters> {
    Json(Parameters {
        attributes: Attribute::ALL.map(|a| a.name().to_string()).to_vec(),
        group_by: Field::ALL.map(|f| f.name().to_string()).to_vec(),
        filters: [
            "start",
            "end",
            "eventId",
            "eventName",
            "readOnly",
            "username",
            "resourceType",
            "resourceName",
            "eventSource",
            "accessKeyId",
            "attr",
            "value",
            "q",
            "account",
            "region",
            "errorCode",
            "errors",
            "failed",
            "sourceIp",
            "param",
            "limit",
            "cursor",
        ]
        .map(str::to_string)
        .to_vec(),
    })
}

/// Group-by options.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AggregateOptions {
    /// The field to group by (see `/parameters`: groupBy).
    #[param(value_type = Field)]
    pub field: String,
    /// A second field to split each group by.
    #[param(value_type = Option<Field>)]
    pub by: Option<String>,
    /// Most groups (default 20).
    pub top: Option<usize>,
    /// Most values of `by` per group (default 10); the rest are summed under `null`.
    pub top_by: Option<usize>,
}

/// Groups and their counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Aggregation {
    /// The field grouped by.
    pub field: String,
    /// The second field, if any.
    pub by: Option<String>,
    /// Largest first; `by` is empty without a second field.
    pub buckets: Vec<Stack>,
}

/// Counts of events grouped by one field, or by one field split by a second.
#[utoipa::path(
    get,
    path = "/api/v1/aggregate",
    tag = "aggregations",
    params(SearchForm, AggregateOptions),
    responses(
        (status = 200, description = "Groups, largest first", body = Aggregation),
        (status = 400, description = "Invalid field or filters", body = ErrorBody),
    )
)]
pub async fn aggregate(
    State(state): State<AppState>,
    caller: Caller,
    Q(form): Q<SearchForm>,
    Q(opts): Q<AggregateOptions>,
) -> Result<Json<Aggregation>, ApiError> {
    if opts.field.is_empty() {
        return Err(ApiError::invalid("field is required"));
    }
    let field = Field::parse(&opts.field)?;
    let by = opts
        .by
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(Field::parse)
        .transpose()?;
    let n = top(opts.top, 20)?;
    let lookup = form.to_lookup(usize::MAX)?;
    let q = Queries::new(&state, &caller);
    let buckets = match by {
        Some(by) => {
            q.stacked(&lookup, field, by, n, top(opts.top_by, 10)?)
                .await?
        }
        None => q
            .terms(&lookup, field, n)
            .await?
            .into_iter()
            .map(|b| Stack {
                key: b.key,
                count: b.count,
                by: Vec::new(),
            })
            .collect(),
    };
    Ok(Json(Aggregation {
        field: field.name().to_string(),
        by: by.map(|b| b.name().to_string()),
        buckets,
    }))
}

/// Histogram options.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct HistogramOptions {
    /// Bucket width: `30s`, `5m`, `1h`, `1d`, `1w`; default: about 100 buckets over
    /// the window.
    pub interval: Option<String>,
}

/// One bucket of a histogram.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimeBucket {
    /// Bucket start (RFC 3339, UTC).
    pub time: String,
    /// Events in the bucket.
    pub count: u64,
}

/// Events over time.
#[derive(Debug, Serialize, ToSchema)]
pub struct Histogram {
    /// Bucket width (`1h` …).
    pub interval: String,
    /// Non-empty buckets, oldest first.
    pub buckets: Vec<TimeBucket>,
}

/// Events over time, in buckets of a fixed width.
#[utoipa::path(
    get,
    path = "/api/v1/histogram",
    tag = "aggregations",
    params(SearchForm, HistogramOptions),
    responses(
        (status = 200, description = "Buckets, oldest first", body = Histogram),
        (status = 400, description = "Invalid interval or filters", body = ErrorBody),
    )
)]
pub async fn histogram(
    State(state): State<AppState>,
    caller: Caller,
    Q(form): Q<SearchForm>,
    Q(opts): Q<HistogramOptions>,
) -> Result<Json<Histogram>, ApiError> {
    let lookup = form.to_lookup(usize::MAX)?;
    let q = Queries::new(&state, &caller);
    let interval = match opts.interval.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => query::parse_interval(s)?,
        None => {
            let (lo, hi) = match (lookup.start, lookup.end) {
                (Some(lo), Some(hi)) => (lo, hi),
                _ => q.time_range(&lookup).await?.unwrap_or((0, 0)),
            };
            query::auto_interval(hi - lo)
        }
    };
    let buckets = q
        .histogram(&lookup, interval)
        .await?
        .into_iter()
        .map(|(t, count)| TimeBucket {
            time: query::fmt_time(t),
            count,
        })
        .collect();
    Ok(Json(Histogram {
        interval: query::interval_label(interval),
        buckets,
    }))
}

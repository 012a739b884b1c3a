//! The query layer of the server: turns what people ask (search forms, group-bys,
//! histograms, SQL) into store queries, always through the caller's scope.
//!
//! Every function takes the [`Caller`] and opens its session with the caller's
//! [`auditwatch_store::Scope`], so no handler can read outside it. Requests become
//! DataFusion expressions, never SQL text, except the SQL the caller wrote, which runs
//! read-only against the caller's `events` view.

use std::collections::HashMap;
use std::time::Instant;

use auditwatch_event::timearg;
use auditwatch_store::tally::{Counted, Narrow};
use auditwatch_store::{Attribute, Lookup, Page, SqlLimits, SqlResult, StoreError};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::Utc;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, TimestampMicrosecondType};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::functions::datetime::expr_fn::date_bin;
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::min_max::{max, min};
use datafusion::logical_expr::{Expr, lit};
use datafusion::prelude::{DataFrame, SessionContext, ident};
use datafusion::scalar::ScalarValue;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::{IntoParams, ToSchema};

use crate::{ApiError, AppState, Caller};

/// Query-string extractor whose rejections are JSON API errors; repeated keys
/// (`attr=…&attr=…`) fill `Vec` fields.
#[derive(Debug, Clone, Default)]
pub struct Q<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum_extra::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Q(q.0))
            .map_err(|e| ApiError::invalid(e.body_text()))
    }
}

/// The filters of a search, as the API, the UI and exports take them.
///
/// Attribute filters (named, or `attr`/`value` pairs) are ANDed with every other filter.
/// Empty values count as absent, so an HTML form can submit every field.
#[derive(Debug, Clone, Default, Deserialize, IntoParams, ToSchema)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SearchForm {
    /// Earliest event time: RFC 3339, `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS` (UTC) or
    /// relative (`24h`, `7d`); in the years 1970 to 9999.
    pub start: Option<String>,
    /// Latest event time, same forms; a bare date means the end of that day.
    pub end: Option<String>,
    /// LookupEvents attribute EventId.
    pub event_id: Option<String>,
    /// LookupEvents attribute EventName.
    pub event_name: Option<String>,
    /// LookupEvents attribute ReadOnly (`true`/`false`).
    pub read_only: Option<String>,
    /// LookupEvents attribute Username.
    pub username: Option<String>,
    /// LookupEvents attribute ResourceType (`AWS::S3::Bucket`).
    pub resource_type: Option<String>,
    /// LookupEvents attribute ResourceName (ARN or name).
    pub resource_name: Option<String>,
    /// LookupEvents attribute EventSource (`s3.amazonaws.com`).
    pub event_source: Option<String>,
    /// LookupEvents attribute AccessKeyId.
    pub access_key_id: Option<String>,
    /// More attribute keys (AWS names: EventId, EventName, ReadOnly, Username,
    /// ResourceType, ResourceName, EventSource, AccessKeyId), paired in order with `value`.
    pub attr: Vec<String>,
    /// The values of `attr`, in the same order.
    pub value: Vec<String>,
    /// Text that must appear anywhere in the record (case-sensitive); at most 1 KiB.
    pub q: Option<String>,
    /// Accounts, comma-separated (at most 1000, as for every list).
    pub account: Option<String>,
    /// Regions, comma-separated.
    pub region: Option<String>,
    /// Error codes, comma-separated.
    pub error_code: Option<String>,
    /// `true`: only events with an error code.
    pub errors: Option<String>,
    /// Source IP addresses, comma-separated.
    pub source_ip: Option<String>,
    /// `requestParameters` conditions `path=value`, the path dotted from the top
    /// (`bucketName=prod-data`, `filter.name=x`, at most 16 keys); repeatable, at most 20.
    pub param: Vec<String>,
    /// Values to leave out, `field:value` (`username:alice`, `eventName:GetObject`);
    /// the fields are username, eventName, eventSource, sourceIPAddress, errorCode,
    /// accountId, awsRegion, userAgent and eventType. Events without the field are
    /// kept. Repeatable, at most 20.
    pub exclude: Vec<String>,
    /// `newest` (the default) or `oldest` first.
    pub order: Option<String>,
    /// Most events per page (default 50).
    pub limit: Option<usize>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn list(v: &Option<String>) -> Vec<String> {
    present(v)
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Most `requestParameters` conditions (`param=`, or tracker `params` pairs) one
/// search may have. Each is one more ANDed expression; thousands of them nest deeper
/// than a thread's stack.
pub const MAX_PARAM_CONDITIONS: usize = 20;
/// Most attribute conditions (the named ones plus `attr`/`value` pairs) one search may
/// have (AWS's LookupEvents allows one).
pub const MAX_ATTRIBUTE_CONDITIONS: usize = 20;
/// Most values in one list filter (accounts, regions, error codes, source IPs).
pub const MAX_LIST_VALUES: usize = 1000;
/// Longest free-text search (`q`), in bytes.
pub const MAX_TEXT_BYTES: usize = 1024;
/// Deepest `requestParameters` path (keys of `a.b.c`).
pub const MAX_PARAM_DEPTH: usize = 16;
/// Most exclusions (`exclude=field:value`) one search may have.
pub const MAX_EXCLUSIONS: usize = 20;

fn too_many_exclusions(n: usize) -> ApiError {
    ApiError::limit(format!(
        "{n} exclusions: at most {MAX_EXCLUSIONS} (MAX_EXCLUSIONS) per search"
    ))
}

/// Refuses a lookup beyond the limits above, naming the limit. Every path from query
/// parameters to a [`Lookup`] (search form, tracker) goes through it, before the store
/// builds an expression.
pub fn check_limits(l: &Lookup) -> Result<(), ApiError> {
    if l.params.len() > MAX_PARAM_CONDITIONS {
        return Err(ApiError::limit(format!(
            "{} requestParameters conditions: at most {MAX_PARAM_CONDITIONS} (MAX_PARAM_CONDITIONS) per search",
            l.params.len()
        )));
    }
    if let Some((path, _)) = l.params.iter().find(|(p, _)| p.len() > MAX_PARAM_DEPTH) {
        return Err(ApiError::limit(format!(
            "requestParameters path {:?} has {} keys: at most {MAX_PARAM_DEPTH} (MAX_PARAM_DEPTH)",
            path.join("."),
            path.len()
        )));
    }
    if l.attributes.len() > MAX_ATTRIBUTE_CONDITIONS {
        return Err(ApiError::limit(format!(
            "{} attribute conditions: at most {MAX_ATTRIBUTE_CONDITIONS} (MAX_ATTRIBUTE_CONDITIONS) per search",
            l.attributes.len()
        )));
    }
    for (name, values) in [
        ("account", &l.accounts),
        ("region", &l.regions),
        ("errorCode", &l.error_codes),
        ("sourceIp", &l.source_ips),
    ] {
        if values.len() > MAX_LIST_VALUES {
            return Err(ApiError::limit(format!(
                "{name} lists {} values: at most {MAX_LIST_VALUES} (MAX_LIST_VALUES)",
                values.len()
            )));
        }
    }
    if l.exclude.len() > MAX_EXCLUSIONS {
        return Err(too_many_exclusions(l.exclude.len()));
    }
    if let Some(t) = &l.text
        && t.len() > MAX_TEXT_BYTES
    {
        return Err(ApiError::limit(format!(
            "the free text (q) is {} bytes: at most {MAX_TEXT_BYTES} (MAX_TEXT_BYTES)",
            t.len()
        )));
    }
    Ok(())
}

/// Parses a truthy/falsy form value (`true`, `on`, `1` / `false`, `off`, `0`, empty).
pub fn flag(name: &str, v: &Option<String>) -> Result<bool, ApiError> {
    match present(v).map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "off" | "0") => Ok(false),
        Some("true" | "on" | "1") => Ok(true),
        Some(other) => Err(ApiError::invalid(format!(
            "{name} must be true or false, not {other:?}"
        ))),
    }
}

/// Parses an optional time field; `end` makes a bare date mean the end of that day.
pub fn time_field(name: &str, v: &Option<String>, end: bool) -> Result<Option<i64>, ApiError> {
    present(v)
        .map(|s| {
            timearg::parse(s, Utc::now(), end)
                .map_err(|e| ApiError::invalid(format!("{name}: {e}")))
        })
        .transpose()
}

/// Checks that `end` is not before `start`.
pub fn check_range(start: Option<i64>, end: Option<i64>) -> Result<(), ApiError> {
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        return Err(ApiError::invalid(format!(
            "end ({}) is before start ({})",
            fmt_time(e),
            fmt_time(s)
        )));
    }
    Ok(())
}

/// A µs timestamp as RFC 3339 (UTC, seconds).
pub fn fmt_time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| us.to_string())
}

impl SearchForm {
    /// The attributes given by their own parameters (`username=…`, `eventName=…`), as
    /// links name them; present ones only, trimmed.
    pub fn named_attributes(&self) -> impl Iterator<Item = (Attribute, &str)> {
        [
            (Attribute::EventId, &self.event_id),
            (Attribute::EventName, &self.event_name),
            (Attribute::ReadOnly, &self.read_only),
            (Attribute::Username, &self.username),
            (Attribute::ResourceType, &self.resource_type),
            (Attribute::ResourceName, &self.resource_name),
            (Attribute::EventSource, &self.event_source),
            (Attribute::AccessKeyId, &self.access_key_id),
        ]
        .into_iter()
        .filter_map(|(a, v)| present(v).map(|v| (a, v)))
    }

    /// The attribute filters of the form, validated.
    pub fn attributes(&self) -> Result<Vec<(Attribute, String)>, ApiError> {
        let mut out: Vec<(Attribute, String)> = self
            .named_attributes()
            .map(|(a, v)| (a, v.to_string()))
            .collect();
        if self.attr.len() != self.value.len() {
            return Err(ApiError::invalid(format!(
                "{} attr but {} value parameters; give them in pairs",
                self.attr.len(),
                self.value.len()
            )));
        }
        for (k, v) in self.attr.iter().zip(&self.value) {
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty() && v.is_empty() {
                continue;
            }
            let a: Attribute = k.parse().map_err(ApiError::from)?;
            if v.is_empty() {
                return Err(ApiError::invalid(format!("attribute {k} has no value")));
            }
            out.push((a, v.to_string()));
        }
        Ok(out)
    }

    /// The exclusions of the form (`field:value`), validated.
    pub fn exclusions(&self) -> Result<Vec<(Narrow, String)>, ApiError> {
        let given: Vec<&String> = self
            .exclude
            .iter()
            .filter(|e| !e.trim().is_empty())
            .collect();
        // Counted before parsing, so a long list is refused without the work.
        if given.len() > MAX_EXCLUSIONS {
            return Err(too_many_exclusions(given.len()));
        }
        given
            .into_iter()
            .map(|e| {
                let (field, value) = e.split_once(':').ok_or_else(|| {
                    ApiError::invalid(format!("exclude {e:?} must look like field:value"))
                })?;
                let column = Narrow::named(field.trim()).ok_or_else(|| {
                    ApiError::invalid(format!(
                        "exclude {e:?}: cannot exclude by {field:?}; use one of {}",
                        Narrow::ALL.map(Narrow::column).join(", ")
                    ))
                })?;
                Ok((column, value.to_string()))
            })
            .collect()
    }

    /// Whether the form asks for the oldest events first.
    pub fn oldest_first(&self) -> Result<bool, ApiError> {
        match present(&self.order) {
            None | Some("newest") => Ok(false),
            Some("oldest") => Ok(true),
            Some(other) => Err(ApiError::invalid(format!(
                "order must be newest or oldest, not {other:?}"
            ))),
        }
    }

    /// The form as a store lookup with at most `max_page` events per page.
    pub fn to_lookup(&self, max_page: usize) -> Result<Lookup, ApiError> {
        let start = time_field("start", &self.start, false)?;
        let end = time_field("end", &self.end, true)?;
        check_range(start, end)?;
        let limit = self.limit.unwrap_or(50);
        if limit == 0 || limit > max_page {
            return Err(ApiError::invalid(format!(
                "limit must be between 1 and {max_page}, not {limit}"
            )));
        }
        let mut params = Vec::new();
        let conditions = self.param.iter().filter(|p| !p.trim().is_empty()).count();
        if conditions > MAX_PARAM_CONDITIONS {
            return Err(ApiError::limit(format!(
                "{conditions} param conditions: at most {MAX_PARAM_CONDITIONS} (MAX_PARAM_CONDITIONS) per search"
            )));
        }
        if self.attr.len() > MAX_ATTRIBUTE_CONDITIONS {
            return Err(ApiError::limit(format!(
                "{} attr conditions: at most {MAX_ATTRIBUTE_CONDITIONS} (MAX_ATTRIBUTE_CONDITIONS) per search",
                self.attr.len()
            )));
        }
        for p in &self.param {
            if p.trim().is_empty() {
                continue;
            }
            let (path, value) = p.split_once('=').ok_or_else(|| {
                ApiError::invalid(format!("param {p:?} must look like path=value"))
            })?;
            let path: Vec<String> = path.split('.').map(|s| s.trim().to_string()).collect();
            if path.iter().any(String::is_empty) {
                return Err(ApiError::invalid(format!(
                    "param {p:?}: the path has an empty key"
                )));
            }
            params.push((path, value.to_string()));
        }
        let lookup = Lookup {
            attributes: self.attributes()?,
            start,
            end,
            accounts: list(&self.account),
            regions: list(&self.region),
            error_codes: list(&self.error_code),
            errors_only: flag("errors", &self.errors)?,
            source_ips: list(&self.source_ip),
            params,
            text: present(&self.q).map(str::to_string),
            exclude: self.exclusions()?,
            oldest_first: self.oldest_first()?,
            max_results: limit,
            next_token: present(&self.cursor).map(str::to_string),
        };
        check_limits(&lookup)?;
        Ok(lookup)
    }
}

/// Fields that can be grouped by, with their API names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub enum Field {
    /// `eventName`.
    #[serde(rename = "eventName")]
    EventName,
    /// `eventSource`.
    #[serde(rename = "eventSource")]
    EventSource,
    /// The derived `username`.
    #[serde(rename = "username")]
    Username,
    /// The derived `accountId`.
    #[serde(rename = "accountId")]
    AccountId,
    /// `awsRegion`.
    #[serde(rename = "awsRegion")]
    AwsRegion,
    /// `sourceIPAddress`.
    #[serde(rename = "sourceIPAddress")]
    SourceIp,
    /// `errorCode`.
    #[serde(rename = "errorCode")]
    ErrorCode,
    /// `userAgent`.
    #[serde(rename = "userAgent")]
    UserAgent,
    /// `eventType`.
    #[serde(rename = "eventType")]
    EventType,
    /// `readOnly`.
    #[serde(rename = "readOnly")]
    ReadOnly,
    /// `userIdentity.type`.
    #[serde(rename = "userIdentity.type")]
    IdentityType,
    /// `userIdentity.arn`.
    #[serde(rename = "userIdentity.arn")]
    IdentityArn,
    /// `userIdentity.accessKeyId`.
    #[serde(rename = "userIdentity.accessKeyId")]
    AccessKeyId,
}

impl Field {
    /// Every field.
    pub const ALL: [Field; 13] = [
        Field::EventName,
        Field::EventSource,
        Field::Username,
        Field::AccountId,
        Field::AwsRegion,
        Field::SourceIp,
        Field::ErrorCode,
        Field::UserAgent,
        Field::EventType,
        Field::ReadOnly,
        Field::IdentityType,
        Field::IdentityArn,
        Field::AccessKeyId,
    ];

    /// The API name.
    pub fn name(self) -> &'static str {
        match self {
            Field::EventName => "eventName",
            Field::EventSource => "eventSource",
            Field::Username => "username",
            Field::AccountId => "accountId",
            Field::AwsRegion => "awsRegion",
            Field::SourceIp => "sourceIPAddress",
            Field::ErrorCode => "errorCode",
            Field::UserAgent => "userAgent",
            Field::EventType => "eventType",
            Field::ReadOnly => "readOnly",
            Field::IdentityType => "userIdentity.type",
            Field::IdentityArn => "userIdentity.arn",
            Field::AccessKeyId => "userIdentity.accessKeyId",
        }
    }

    /// Parses an API name.
    pub fn parse(s: &str) -> Result<Field, ApiError> {
        Field::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "cannot group by {s:?}; use one of {}",
                    Field::ALL.map(Field::name).join(", ")
                ))
            })
    }

    /// The same column for the store's breakdowns without SQL, when it is one (the
    /// API names are the table's column names).
    fn narrow(self) -> Option<Narrow> {
        Narrow::named(self.name())
    }

    fn expr(self) -> Expr {
        let text = |e: Expr| datafusion::logical_expr::cast(e, DataType::Utf8);
        match self {
            Field::IdentityType => get_field(ident("userIdentity"), "type"),
            Field::IdentityArn => get_field(ident("userIdentity"), "arn"),
            Field::AccessKeyId => get_field(ident("userIdentity"), "accessKeyId"),
            Field::ReadOnly => text(ident("readOnly")),
            other => ident(other.name()),
        }
    }
}

/// A value and how many events have it.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct Bucket {
    /// The value (`null` when absent).
    pub key: Option<String>,
    /// Events.
    pub count: u64,
}

/// A value, its count, and its events split by a second field.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct Stack {
    /// The value of the first field.
    pub key: Option<String>,
    /// Events with it.
    pub count: u64,
    /// The same events by the second field, largest first.
    pub by: Vec<Bucket>,
}

/// Splits each of `firsts` by the second value of `pairs` ((first, second) values and
/// events): the `top_by` largest second values, then the rest summed under `None`.
pub fn stack(firsts: &[Bucket], pairs: &[(Vec<Option<String>>, u64)], top_by: usize) -> Vec<Stack> {
    firsts
        .iter()
        .map(|first| {
            let mut by: Vec<Bucket> = pairs
                .iter()
                .filter(|(k, _)| k.first() == Some(&first.key))
                .map(|(k, n)| Bucket {
                    key: k.get(1).cloned().flatten(),
                    count: *n,
                })
                .collect();
            by.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
            if by.len() > top_by {
                let rest = by[top_by..].iter().map(|b| b.count).sum();
                by.truncate(top_by);
                by.push(Bucket {
                    key: None,
                    count: rest,
                });
            }
            Stack {
                key: first.key.clone(),
                count: first.count,
                by,
            }
        })
        .collect()
}

/// Groups of one field as buckets.
fn buckets(groups: Counted) -> Vec<Bucket> {
    groups
        .into_iter()
        .map(|(mut keys, count)| Bucket {
            key: keys.pop().flatten(),
            count,
        })
        .collect()
}

/// Orders groups as the SQL breakdowns do: most events first, then by their values
/// (nulls first).
fn largest_first(groups: &mut Counted) {
    groups.sort_by(|(ka, a), (kb, b)| b.cmp(a).then_with(|| ka.cmp(kb)));
}

/// Runs queries for one caller.
pub struct Queries<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    /// The caller's session, built on first use and shared by every query of this
    /// request (a page asks several), so the catalog is read once per request.
    session: tokio::sync::OnceCell<SessionContext>,
}

/// Plans are built by the server, so a planning error is the server's fault; running
/// them may fail like any query.
async fn run(plan: datafusion::error::Result<DataFrame>) -> Result<Vec<RecordBatch>, ApiError> {
    plan.map_err(ApiError::internal)?
        .collect()
        .await
        .map_err(|e| ApiError::from(StoreError::from(e)))
}

fn strings(b: &RecordBatch, i: usize) -> Result<Vec<Option<String>>, ApiError> {
    let col = cast(b.column(i), &DataType::Utf8).map_err(ApiError::internal)?;
    let s = col.as_string::<i32>();
    Ok((0..s.len())
        .map(|r| (!s.is_null(r)).then(|| s.value(r).to_string()))
        .collect())
}

fn counts(b: &RecordBatch, i: usize) -> Result<Vec<u64>, ApiError> {
    let col = cast(b.column(i), &DataType::Int64).map_err(ApiError::internal)?;
    let c = col.as_primitive::<Int64Type>();
    Ok((0..c.len()).map(|r| c.value(r).max(0) as u64).collect())
}

impl<'a> Queries<'a> {
    /// Queries as `caller` sees the lake.
    pub fn new(state: &'a AppState, caller: &'a Caller) -> Self {
        Self {
            state,
            caller,
            session: tokio::sync::OnceCell::new(),
        }
    }

    async fn session(&self) -> Result<&SessionContext, StoreError> {
        self.session
            .get_or_try_init(|| async { self.state.store().session(&self.caller.scope) })
            .await
    }

    fn timed(&self, kind: &str, started: Instant) {
        self.state.metrics().observe_query(kind, started.elapsed());
    }

    /// `events` filtered by `q`'s filters (not its page position).
    async fn filtered(&self, q: &Lookup) -> Result<DataFrame, ApiError> {
        let ctx = self.session().await?;
        let mut df = ctx.table("events").await.map_err(ApiError::internal)?;
        if let Some(p) = q.filters()?.into_iter().reduce(Expr::and) {
            df = df.filter(p).map_err(ApiError::internal)?;
        }
        Ok(df)
    }

    /// One page of a search, newest first.
    pub async fn search(&self, q: &Lookup) -> Result<Page, ApiError> {
        Ok(self.search_page(q).await?)
    }

    /// One page of a search, with the store's typed error (the AWS endpoint tells a
    /// bad next-token from other bad requests by it).
    pub async fn search_page(&self, q: &Lookup) -> Result<Page, StoreError> {
        let t = Instant::now();
        let page = self.state.store().lookup(&self.caller.scope, q).await?;
        self.timed("search", t);
        Ok(page)
    }

    /// The event with this eventID, if the caller may see it.
    pub async fn event(&self, id: &str) -> Result<Option<RecordBatch>, ApiError> {
        let q = Lookup {
            attributes: vec![(Attribute::EventId, id.to_string())],
            max_results: 1,
            ..Lookup::default()
        };
        let page = self.search(&q).await?;
        Ok((page.events.num_rows() > 0).then_some(page.events))
    }

    /// Events matching `q` (ignoring its page position).
    pub async fn count(&self, q: &Lookup) -> Result<u64, ApiError> {
        let t = Instant::now();
        if let Some(groups) = self.tally(q, &[]).await? {
            self.timed("count", t);
            return Ok(groups.iter().map(|(_, n)| n).sum());
        }
        let n = self
            .filtered(q)
            .await?
            .count()
            .await
            .map_err(|e| ApiError::from(StoreError::from(e)))?;
        self.timed("count", t);
        Ok(n as u64)
    }

    /// The `top` most frequent values of `field` among events matching `q`.
    pub async fn terms(
        &self,
        q: &Lookup,
        field: Field,
        top: usize,
    ) -> Result<Vec<Bucket>, ApiError> {
        Ok(buckets(self.group(q, &[field], top).await?))
    }

    /// Events matching `q` counted by the combination of `fields`: the `top` largest
    /// groups, each as (values in `fields` order, events). One scan, however many
    /// fields, so pages that show several breakdowns of the same events ask once.
    pub async fn group(
        &self,
        q: &Lookup,
        fields: &[Field],
        top: usize,
    ) -> Result<Vec<(Vec<Option<String>>, u64)>, ApiError> {
        let t = Instant::now();
        if let Some(mut groups) = self.tally(q, fields).await? {
            largest_first(&mut groups);
            groups.truncate(top);
            self.timed("aggregate", t);
            return Ok(groups);
        }
        self.grouped(self.filtered(q).await?, fields, Some(top))
            .await
    }

    /// Events matching `q` counted by `fields` straight from the store's columns kept
    /// as codes, when every field is one and the store answers every filter of `q`.
    async fn tally(&self, q: &Lookup, fields: &[Field]) -> Result<Option<Counted>, ApiError> {
        let Some(by) = fields
            .iter()
            .map(|f| f.narrow())
            .collect::<Option<Vec<_>>>()
        else {
            return Ok(None);
        };
        Ok(self.state.store().tally(&self.caller.scope, q, &by).await?)
    }

    async fn grouped(
        &self,
        df: DataFrame,
        fields: &[Field],
        top: Option<usize>,
    ) -> Result<Vec<(Vec<Option<String>>, u64)>, ApiError> {
        let t = Instant::now();
        let keys: Vec<Expr> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| f.expr().alias(format!("k{i}")))
            .collect();
        let mut order = vec![ident("n").sort(false, false)];
        order.extend((0..fields.len()).map(|i| ident(format!("k{i}")).sort(true, true)));
        let batches = run(df
            .aggregate(keys, vec![count_all().alias("n")])
            .and_then(|df| df.sort(order))
            .and_then(|df| df.limit(0, top)))
        .await?;
        let mut out = Vec::new();
        for b in &batches {
            let columns = (0..fields.len())
                .map(|i| strings(b, i))
                .collect::<Result<Vec<_>, _>>()?;
            for (row, count) in counts(b, fields.len())?.into_iter().enumerate() {
                out.push((columns.iter().map(|c| c[row].clone()).collect(), count));
            }
        }
        self.timed("aggregate", t);
        Ok(out)
    }

    /// The `top` values of `field`, each split by `by` into its `top_by` largest
    /// values and, when there are more, a `null`-keyed remainder.
    pub async fn stacked(
        &self,
        q: &Lookup,
        field: Field,
        by: Field,
        top: usize,
        top_by: usize,
    ) -> Result<Vec<Stack>, ApiError> {
        let t = Instant::now();
        if let Some(mut pairs) = self.tally(q, &[field, by]).await? {
            // The first field's counts are the pairs' sums; only the top values
            // (not the null one) are split, as below.
            let mut firsts: HashMap<Option<String>, u64> = HashMap::new();
            for (k, n) in &pairs {
                *firsts.entry(k[0].clone()).or_default() += n;
            }
            let mut firsts: Counted = firsts.into_iter().map(|(k, n)| (vec![k], n)).collect();
            largest_first(&mut firsts);
            firsts.truncate(top);
            let firsts = buckets(firsts);
            pairs.retain(|(k, _)| k[0].is_some() && firsts.iter().any(|f| f.key == k[0]));
            self.timed("aggregate", t);
            return Ok(stack(&firsts, &pairs, top_by));
        }
        let firsts = self.terms(q, field, top).await?;
        let keys: Vec<Expr> = firsts
            .iter()
            .filter_map(|b| b.key.clone().map(lit))
            .collect();
        if keys.is_empty() {
            return Ok(stack(&firsts, &[], top_by));
        }
        // Only the top values' events are split, so the pairs stay few.
        let df = self
            .filtered(q)
            .await?
            .filter(field.expr().in_list(keys, false))
            .map_err(ApiError::internal)?;
        let pairs = self.grouped(df, &[field, by], None).await?;
        Ok(stack(&firsts, &pairs, top_by))
    }

    /// The earliest and latest event time among events matching `q`.
    pub async fn time_range(&self, q: &Lookup) -> Result<Option<(i64, i64)>, ApiError> {
        let batches = run(self.filtered(q).await?.aggregate(
            vec![],
            vec![
                min(ident("eventTime")).alias("lo"),
                max(ident("eventTime")).alias("hi"),
            ],
        ))
        .await?;
        let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
            return Ok(None);
        };
        let lo = b.column(0).as_primitive::<TimestampMicrosecondType>();
        let hi = b.column(1).as_primitive::<TimestampMicrosecondType>();
        if lo.is_null(0) || hi.is_null(0) {
            return Ok(None);
        }
        Ok(Some((lo.value(0), hi.value(0))))
    }

    /// Events matching `q` per `interval_us`, as (bucket start µs, events), oldest
    /// first; empty buckets are left out.
    pub async fn histogram(
        &self,
        q: &Lookup,
        interval_us: i64,
    ) -> Result<Vec<(i64, u64)>, ApiError> {
        let t = Instant::now();
        let store = self.state.store();
        if let Some(counted) = store
            .tally_histogram(&self.caller.scope, q, interval_us)
            .await?
        {
            self.timed("histogram", t);
            return Ok(counted);
        }
        let stride = lit(ScalarValue::new_interval_mdn(0, 0, interval_us * 1000));
        let origin = lit(ScalarValue::TimestampMicrosecond(
            Some(0),
            Some("UTC".into()),
        ));
        let batches = run(self
            .filtered(q)
            .await?
            .aggregate(
                vec![date_bin(stride, ident("eventTime"), origin).alias("t")],
                vec![count_all().alias("n")],
            )
            .and_then(|df| df.sort(vec![ident("t").sort(true, true)])))
        .await?;
        let mut out = Vec::new();
        for b in &batches {
            // date_bin may answer in another unit; normalise to µs before reading.
            let ts = cast(
                b.column(0),
                &DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None),
            )
            .and_then(|t| cast(&t, &DataType::Int64))
            .map_err(ApiError::internal)?;
            let ts = ts.as_primitive::<Int64Type>();
            for (i, n) in counts(b, 1)?.into_iter().enumerate() {
                out.push((ts.value(i), n));
            }
        }
        self.timed("histogram", t);
        Ok(out)
    }

    /// Read-only SQL written by the caller, against the caller's `events` view.
    pub async fn sql(&self, sql: &str, limits: SqlLimits) -> Result<SqlResult, ApiError> {
        self.caller.require_analyst()?;
        let t = Instant::now();
        let r = async {
            self.state
                .store()
                .sql_in(self.session().await?, sql, limits)
                .await
        }
        .await
        .map_err(ApiError::from_user_query)?;
        self.timed("sql", t);
        Ok(r)
    }
}

/// What integrity checks found, as one caller may see it.
#[derive(Debug, Default)]
pub struct IntegrityView {
    /// Health per trail and chain.
    pub chains: Vec<auditwatch_store::integrity::ChainHealth>,
    /// Files that are not valid, newest first.
    pub problems: Vec<auditwatch_store::integrity::IntegrityRecord>,
    /// Stretches no verified digest covers.
    pub gaps: Vec<auditwatch_store::integrity::IntegrityGap>,
    /// Digest files sources took that no check has verified yet.
    pub unchecked_digests: u64,
}

impl Queries<'_> {
    /// Integrity results of the caller's accounts.
    pub async fn integrity(&self, limit: usize) -> Result<IntegrityView, ApiError> {
        let store = self.state.store().clone();
        let scope = self.caller.scope.clone();
        tokio::task::spawn_blocking(move || {
            let catalog = store.catalog()?;
            Ok::<_, StoreError>(IntegrityView {
                chains: catalog.integrity_chains(&scope)?,
                problems: catalog.integrity_problems(&scope, limit)?,
                gaps: catalog.integrity_gaps(&scope, limit)?,
                unchecked_digests: catalog
                    .unchecked_digests()?
                    .into_iter()
                    .filter(|(account, _)| scope.allows(account))
                    .map(|(_, n)| n)
                    .sum(),
            })
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
    }

    /// The latest verdict on the log file an event came from (its `source`), when it
    /// was checked. The caller already sees the event, so its account is in scope.
    pub async fn integrity_of_source(
        &self,
        source: &str,
    ) -> Result<Option<auditwatch_store::integrity::IntegrityRecord>, ApiError> {
        let Some(key) = auditwatch_store::integrity::key_of(source).map(str::to_string) else {
            return Ok(None);
        };
        let store = self.state.store().clone();
        tokio::task::spawn_blocking(move || {
            Ok::<_, StoreError>(store.catalog()?.integrity_of(&[&key])?.remove(&key))
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
    }
}

/// A histogram interval parsed from `30s`, `5m`, `1h`, `1d`, `1w` (µs).
pub fn parse_interval(s: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::invalid(format!(
            "interval {s:?} must be a number and a unit: 30s, 5m, 1h, 1d, 1w"
        ))
    };
    // Split off the last character (not byte: the input may be any UTF-8).
    let unit = s.chars().last().ok_or_else(bad)?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    let unit_us = timearg::unit_micros(unit).ok_or_else(bad)?;
    if !(1..=10_000).contains(&n) {
        return Err(bad());
    }
    Ok(n * unit_us)
}

/// A round interval giving about 60–150 buckets over `span_us`.
pub fn auto_interval(span_us: i64) -> i64 {
    const STEPS: [i64; 12] = [
        60_000_000,
        300_000_000,
        900_000_000,
        1_800_000_000,
        3_600_000_000,
        3 * 3_600_000_000,
        6 * 3_600_000_000,
        12 * 3_600_000_000,
        86_400_000_000,
        2 * 86_400_000_000,
        7 * 86_400_000_000,
        30 * 86_400_000_000,
    ];
    STEPS
        .into_iter()
        .find(|s| span_us / s <= 150)
        .unwrap_or(STEPS[STEPS.len() - 1])
}

/// A short label for an interval in µs (`5m`, `1h`, `1d`).
pub fn interval_label(us: i64) -> String {
    for (unit, size) in [
        ("w", 7 * 86_400_000_000),
        ("d", 86_400_000_000),
        ("h", 3_600_000_000),
        ("m", 60_000_000),
    ] {
        if us % size == 0 {
            return format!("{}{unit}", us / size);
        }
    }
    format!("{}s", us / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("5m").unwrap(), 300_000_000);
        assert_eq!(parse_interval("1d").unwrap(), 86_400_000_000);
        assert!(parse_interval("0h").is_err());
        assert!(parse_interval("h").is_err());
        assert!(parse_interval("5y").is_err());
        // Any UTF-8, cut anywhere, is an error, never a panic (found by schemathesis).
        for odd in ["", "\u{80}", "5\u{e9}", "\u{1F600}m"] {
            assert!(parse_interval(odd).is_err(), "{odd:?}");
        }
        assert_eq!(interval_label(3_600_000_000), "1h");
        assert_eq!(interval_label(86_400_000_000 * 7), "1w");
        assert_eq!(auto_interval(7 * 86_400_000_000), 3 * 3_600_000_000);
        assert_eq!(auto_interval(3_600_000_000), 60_000_000);
    }

    #[test]
    fn limits_are_named() {
        let refused = |f: SearchForm, bound: &str| {
            let e = f.to_lookup(100).unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(e.message.contains(bound), "{bound}: {}", e.message);
        };
        let params = |n: usize, path: &str| (0..n).map(|i| format!("{path}={i}")).collect();
        refused(
            SearchForm {
                param: params(MAX_PARAM_CONDITIONS + 1, "a.b"),
                ..SearchForm::default()
            },
            "MAX_PARAM_CONDITIONS",
        );
        let deep = vec!["k"; MAX_PARAM_DEPTH + 1].join(".");
        refused(
            SearchForm {
                param: params(1, &deep),
                ..SearchForm::default()
            },
            "MAX_PARAM_DEPTH",
        );
        refused(
            SearchForm {
                attr: vec!["EventName".into(); MAX_ATTRIBUTE_CONDITIONS + 1],
                value: vec!["x".into(); MAX_ATTRIBUTE_CONDITIONS + 1],
                ..SearchForm::default()
            },
            "MAX_ATTRIBUTE_CONDITIONS",
        );
        refused(
            SearchForm {
                source_ip: Some(vec!["10.0.0.1"; MAX_LIST_VALUES + 1].join(",")),
                ..SearchForm::default()
            },
            "MAX_LIST_VALUES",
        );
        refused(
            SearchForm {
                q: Some("x".repeat(MAX_TEXT_BYTES + 1)),
                ..SearchForm::default()
            },
            "MAX_TEXT_BYTES",
        );
        let at_limits = SearchForm {
            param: params(MAX_PARAM_CONDITIONS, &vec!["k"; MAX_PARAM_DEPTH].join(".")),
            attr: vec!["EventName".into(); MAX_ATTRIBUTE_CONDITIONS],
            value: vec!["x".into(); MAX_ATTRIBUTE_CONDITIONS],
            account: Some(vec!["111111111111"; MAX_LIST_VALUES].join(",")),
            q: Some("x".repeat(MAX_TEXT_BYTES)),
            ..SearchForm::default()
        };
        assert!(at_limits.to_lookup(100).is_ok());
    }

    #[test]
    fn forms_validate() {
        let f = SearchForm {
            start: Some("2024-05-02".into()),
            end: Some("2024-05-01".into()),
            ..SearchForm::default()
        };
        assert!(
            f.to_lookup(100)
                .unwrap_err()
                .message
                .contains("before start")
        );
        let f = SearchForm {
            attr: vec!["EventName".into(), "Bogus".into()],
            value: vec!["x".into(), "y".into()],
            ..SearchForm::default()
        };
        assert!(f.to_lookup(100).unwrap_err().message.contains("Bogus"));
        let f = SearchForm {
            event_name: Some("  ".into()),
            attr: vec!["Username".into()],
            value: vec!["alice".into()],
            param: vec!["bucketName=prod".into()],
            errors: Some("on".into()),
            ..SearchForm::default()
        };
        let l = f.to_lookup(100).unwrap();
        assert_eq!(
            l.attributes,
            vec![(Attribute::Username, "alice".to_string())]
        );
        assert_eq!(
            l.params,
            vec![(vec!["bucketName".to_string()], "prod".to_string())]
        );
        assert!(l.errors_only);
        assert_eq!(l.max_results, 50);
        assert!(
            SearchForm {
                limit: Some(101),
                ..SearchForm::default()
            }
            .to_lookup(100)
            .is_err()
        );
    }
}

/// What an alarm's metric filter finds among stored events (the Rules page's test).
#[derive(Debug, Default)]
pub struct FilterTest {
    /// Events looked at.
    pub scanned: u64,
    /// Events the filter matched.
    pub matched: u64,
    /// The metric's sum over them (the match count for a metric value of 1).
    pub sum: f64,
    /// Whether the window held more events than the limit, so only its newest
    /// were looked at.
    pub capped: bool,
    /// The newest matches.
    pub newest: Vec<auditwatch_store::detection::Sample>,
}

impl Queries<'_> {
    /// The time of the `n`th newest event in `[start, end]` (µs), when there are
    /// that many: where a scan of the newest `n` starts.
    async fn nth_newest(&self, start: i64, end: i64, n: usize) -> Result<Option<i64>, ApiError> {
        let q = Lookup {
            start: Some(start),
            end: Some(end),
            ..Lookup::default()
        };
        let df = self
            .filtered(&q)
            .await?
            .select(vec![ident("eventTime")])
            .and_then(|d| d.sort(vec![ident("eventTime").sort(false, false)]))
            .and_then(|d| d.limit(n.saturating_sub(1), Some(1)));
        let batches = run(df).await?;
        Ok(batches.iter().find(|b| b.num_rows() > 0).map(|b| {
            b.column(0)
                .as_primitive::<TimestampMicrosecondType>()
                .value(0)
        }))
    }

    /// Runs `alarm`'s metric filter over the caller's newest `max_scan` events with
    /// `eventTime` in `[start, end]` (µs), keeping the `keep` newest matches.
    pub async fn test_filter(
        &self,
        alarm: &auditwatch_detect::config::AlarmDef,
        start: i64,
        end: i64,
        max_scan: usize,
        keep: usize,
    ) -> Result<FilterTest, ApiError> {
        let t = Instant::now();
        let cutoff = self.nth_newest(start, end, max_scan).await?;
        let mut out = FilterTest {
            capped: cutoff.is_some_and(|c| c > start),
            ..FilterTest::default()
        };
        let mut newest = Vec::new();
        let scanned = self
            .state
            .store()
            .scan(
                &self.caller.scope,
                Some(cutoff.unwrap_or(start).max(start)),
                Some(end),
                |e| {
                    if !alarm.counts(e.account_id) {
                        return;
                    }
                    let Some(Ok(record)) = e.raw.map(serde_json::from_str::<serde_json::Value>)
                    else {
                        return;
                    };
                    let Some(v) = alarm.filter.value_of(&record) else {
                        return;
                    };
                    out.matched += 1;
                    out.sum += v;
                    newest.push(auditwatch_store::detection::Sample {
                        event_id: e.event_id.unwrap_or_default().to_string(),
                        time_us: e.time_us,
                        account: e.account_id.map(str::to_string),
                        summary: auditwatch_detect::detector::summary(
                            e.username,
                            e.event_name,
                            e.source_ip,
                            e.account_id,
                        ),
                    });
                    if newest.len() >= keep.max(1) * 4 {
                        newest.sort_by_key(|s| std::cmp::Reverse(s.time_us));
                        newest.truncate(keep);
                    }
                },
            )
            .await?;
        newest.sort_by_key(|s| std::cmp::Reverse(s.time_us));
        newest.truncate(keep);
        out.newest = newest;
        out.scanned = scanned;
        self.timed("rule_test", t);
        Ok(out)
    }
}

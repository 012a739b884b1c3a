//! Typed lookups with LookupEvents semantics, compiled to DataFusion expressions
//! (never to SQL text): attribute filters ANDed, time range, newest first, a result
//! cap and an opaque next-token bound to its query.
//!
//! Execution is two-phase so that wide columns (`raw`) are read only for the rows
//! returned: phase 1 finds the newest matching (eventTime, eventID) pairs from narrow
//! columns; phase 2 fetches those rows, pruned by time and the eventID bloom filters.

use std::collections::HashMap;
use std::str::FromStr;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{concat_batches, take_record_batch};
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use datafusion::functions::core::expr_fn::{coalesce, get_field};
use datafusion::functions::string::expr_fn::contains;
use datafusion::logical_expr::{Expr, Operator, binary_expr, lit};
use datafusion::prelude::{SessionContext, ident};
use datafusion::scalar::ScalarValue;
use datafusion_functions_json::udfs::json_as_text_udf;

use crate::dimension::Dimension;
use crate::error::{Result, StoreError};
use crate::schema::events_schema;
use crate::sql::udf;

/// The lookup attribute keys of CloudTrail's LookupEvents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attribute {
    /// `eventID`.
    EventId,
    /// `eventName`.
    EventName,
    /// `readOnly` (`true`/`false`).
    ReadOnly,
    /// The derived `username`.
    Username,
    /// A `resources[].type`.
    ResourceType,
    /// A `resources[].ARN` or its last component.
    ResourceName,
    /// `eventSource`.
    EventSource,
    /// `userIdentity.accessKeyId`.
    AccessKeyId,
}

impl Attribute {
    /// Every key, in AWS's order.
    pub const ALL: [Attribute; 8] = [
        Attribute::EventId,
        Attribute::EventName,
        Attribute::ReadOnly,
        Attribute::Username,
        Attribute::ResourceType,
        Attribute::ResourceName,
        Attribute::EventSource,
        Attribute::AccessKeyId,
    ];

    /// AWS's name of the key.
    pub fn name(self) -> &'static str {
        match self {
            Attribute::EventId => "EventId",
            Attribute::EventName => "EventName",
            Attribute::ReadOnly => "ReadOnly",
            Attribute::Username => "Username",
            Attribute::ResourceType => "ResourceType",
            Attribute::ResourceName => "ResourceName",
            Attribute::EventSource => "EventSource",
            Attribute::AccessKeyId => "AccessKeyId",
        }
    }
}

impl FromStr for Attribute {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        Attribute::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                StoreError::InvalidRequest(format!(
                    "unknown lookup attribute {s:?}; use one of {}",
                    Attribute::ALL.map(Attribute::name).join(", ")
                ))
            })
    }
}

/// A lookup request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Lookup {
    /// Attribute filters, all of which must match.
    pub attributes: Vec<(Attribute, String)>,
    /// Earliest eventTime (µs), inclusive.
    pub start: Option<i64>,
    /// Latest eventTime (µs), inclusive.
    pub end: Option<i64>,
    /// Only these accounts (within the caller's scope).
    pub accounts: Vec<String>,
    /// Only these regions.
    pub regions: Vec<String>,
    /// Only these error codes.
    pub error_codes: Vec<String>,
    /// Only events with an error code.
    pub errors_only: bool,
    /// Only failed calls: those with an error code, and console sign-ins whose
    /// `responseElements.ConsoleLogin` is `Failure` (CloudTrail gives a failed sign-in
    /// an error message but no error code).
    pub failed_only: bool,
    /// Only these source IP addresses.
    pub source_ips: Vec<String>,
    /// `requestParameters` paths (keys from the top) whose value, as text, must equal
    /// the given value, e.g. `(["bucketName"], "prod-data")`.
    pub params: Vec<(Vec<String>, String)>,
    /// Text that must appear somewhere in the record.
    pub text: Option<String>,
    /// The origin behind the call, directly or through any chain of sessions
    /// ([`crate::origin`]): an IAM user's name or ARN, a root ARN, a SAML or OIDC
    /// subject, an Identity Center user, a service, or a source identity.
    pub origin: Option<String>,
    /// Values a column must not have (`NOT username:alice`). An event without the
    /// column (a null) is kept: it does not have the value.
    pub exclude: Vec<(Dimension, String)>,
    /// Oldest first instead of newest first (its tokens continue in that order).
    pub oldest_first: bool,
    /// Most events per page.
    pub max_results: usize,
    /// Continue after the page that returned this token.
    pub next_token: Option<String>,
}

/// One page of a lookup.
#[derive(Debug, Clone)]
pub struct Page {
    /// Matching events, newest first, every column.
    pub events: RecordBatch,
    /// Present when more events match.
    pub next_token: Option<String>,
}

impl Lookup {
    /// The filters of the request as expressions (without the token's position), for
    /// a session of [`crate::Store::session`] (whose functions they may call).
    pub fn filters(&self, ctx: &SessionContext) -> Result<Vec<Expr>> {
        let mut f = Vec::new();
        if let Some(origin) = &self.origin {
            if origin.is_empty() {
                return Err(StoreError::InvalidRequest(
                    "an origin filter needs a value (a user name or ARN, a subject, a service)"
                        .into(),
                ));
            }
            f.push(crate::origin::udf::origin_is(ctx, origin)?);
        }
        for (attr, value) in &self.attributes {
            f.push(match attr {
                Attribute::EventId => ident("eventID").eq(lit(value.clone())),
                Attribute::EventName => ident("eventName").eq(lit(value.clone())),
                Attribute::ReadOnly => ident("readOnly").eq(lit(read_only(value)?)),
                Attribute::Username => ident("username").eq(lit(value.clone())),
                Attribute::ResourceType => {
                    udf::has_resource_type().call(vec![ident("resources"), lit(value.clone())])
                }
                Attribute::ResourceName => {
                    udf::has_resource_name().call(vec![ident("resources"), lit(value.clone())])
                }
                Attribute::EventSource => ident("eventSource").eq(lit(value.clone())),
                Attribute::AccessKeyId => {
                    get_field(ident("userIdentity"), "accessKeyId").eq(lit(value.clone()))
                }
            });
        }
        if let Some(t) = self.start {
            f.push(ident("eventTime").gt_eq(ts(t)));
        }
        if let Some(t) = self.end {
            f.push(ident("eventTime").lt_eq(ts(t)));
        }
        let any_of = |column: &str, values: &[String]| {
            ident(column).in_list(values.iter().map(|v| lit(v.clone())).collect(), false)
        };
        if !self.accounts.is_empty() {
            f.push(any_of("accountId", &self.accounts));
        }
        if !self.regions.is_empty() {
            f.push(any_of("awsRegion", &self.regions));
        }
        if !self.error_codes.is_empty() {
            f.push(any_of("errorCode", &self.error_codes));
        }
        if self.errors_only {
            f.push(ident("errorCode").is_not_null());
        }
        if !self.source_ips.is_empty() {
            f.push(any_of("sourceIPAddress", &self.source_ips));
        }
        if self.failed_only {
            let sign_in =
                json_as_text_udf().call(vec![ident("responseElements"), lit("ConsoleLogin")]);
            let failed_sign_in = ident("eventName")
                .eq(lit("ConsoleLogin"))
                .and(sign_in.eq(lit("Failure")));
            f.push(ident("errorCode").is_not_null().or(failed_sign_in));
        }
        for (path, value) in &self.params {
            if path.is_empty() {
                return Err(StoreError::InvalidRequest(
                    "a requestParameters path needs at least one key".into(),
                ));
            }
            let mut args = vec![ident("requestParameters")];
            args.extend(path.iter().map(|k| lit(k.clone())));
            f.push(json_as_text_udf().call(args).eq(lit(value.clone())));
        }
        if let Some(text) = &self.text {
            f.push(contains(ident("raw"), lit(text.clone())));
        }
        for (column, value) in &self.exclude {
            f.push(binary_expr(
                ident(column.column()),
                Operator::IsDistinctFrom,
                lit(value.clone()),
            ));
        }
        Ok(f)
    }

    pub(crate) fn fingerprint(&self) -> u64 {
        let mut q = self.clone();
        q.next_token = None;
        q.max_results = 0;
        xxhash_rust::xxh3::xxh3_64(format!("{q:?}").as_bytes())
    }
}

/// The value of a `ReadOnly` attribute (`true`/`false`, any case).
pub(crate) fn read_only(value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(StoreError::InvalidRequest(format!(
            "ReadOnly must be true or false, not {value:?}"
        ))),
    }
}

pub(crate) fn ts(us: i64) -> Expr {
    lit(ScalarValue::TimestampMicrosecond(
        Some(us),
        Some("UTC".into()),
    ))
}

/// A position in the newest-first order: (eventTime µs, eventID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) time: i64,
    pub(crate) id: String,
}

pub(crate) fn encode_token(fingerprint: u64, c: &Cursor) -> String {
    hex::encode(format!("v1\n{fingerprint:016x}\n{}\n{}", c.time, c.id))
}

pub(crate) fn decode_token(token: &str, fingerprint: u64) -> Result<Cursor> {
    let bad = || StoreError::InvalidToken("invalid next token".into());
    let text = String::from_utf8(hex::decode(token).map_err(|_| bad())?).map_err(|_| bad())?;
    let mut parts = text.splitn(4, '\n');
    if parts.next() != Some("v1") {
        return Err(bad());
    }
    let fp = parts.next().ok_or_else(bad)?;
    if fp != format!("{fingerprint:016x}") {
        return Err(StoreError::InvalidToken(
            "the next token belongs to a different query".into(),
        ));
    }
    let time = parts.next().and_then(|t| t.parse().ok()).ok_or_else(bad)?;
    let id = parts.next().ok_or_else(bad)?.to_string();
    Ok(Cursor { time, id })
}

/// Runs a lookup in `ctx` (whose `events` is already the caller's view).
pub async fn lookup(ctx: &SessionContext, q: &Lookup) -> Result<Page> {
    if q.max_results == 0 {
        return Err(StoreError::InvalidRequest(
            "max results must be at least 1".into(),
        ));
    }
    let fingerprint = q.fingerprint();
    let mut filters = q.filters(ctx)?;
    let id_expr = || coalesce(vec![ident("eventID"), lit("")]);
    if let Some(token) = &q.next_token {
        let c = decode_token(token, fingerprint)?;
        if q.oldest_first {
            filters.push(ident("eventTime").gt_eq(ts(c.time)));
            filters.push(
                ident("eventTime").gt(ts(c.time)).or(ident("eventTime")
                    .eq(ts(c.time))
                    .and(id_expr().gt(lit(c.id)))),
            );
        } else {
            filters.push(ident("eventTime").lt_eq(ts(c.time)));
            filters.push(
                ident("eventTime").lt(ts(c.time)).or(ident("eventTime")
                    .eq(ts(c.time))
                    .and(id_expr().lt(lit(c.id)))),
            );
        }
    }
    let predicate = filters.into_iter().reduce(Expr::and);
    // Phase 1: the first (time, id) pairs in the page's order, from narrow columns only.
    let newest = !q.oldest_first;
    let mut df = ctx.table("events").await?;
    if let Some(p) = predicate.clone() {
        df = df.filter(p)?;
    }
    let keys = df
        .select(vec![ident("eventTime"), id_expr().alias("id")])?
        .sort(vec![
            ident("eventTime").sort(!newest, false),
            ident("id").sort(!newest, false),
        ])?
        .limit(0, Some(q.max_results + 1))?
        .collect()
        .await?;
    let mut wanted: Vec<Cursor> = Vec::new();
    for b in &keys {
        let t = b.column(0).as_primitive::<TimestampMicrosecondType>();
        let id = datafusion::arrow::compute::cast(
            b.column(1),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )?;
        let id = id.as_string::<i32>();
        for i in 0..b.num_rows() {
            wanted.push(Cursor {
                time: t.value(i),
                id: id.value(i).to_string(),
            });
        }
    }
    let more = wanted.len() > q.max_results;
    wanted.truncate(q.max_results);
    let next_token = if more {
        wanted.last().map(|c| encode_token(fingerprint, c))
    } else {
        None
    };
    if wanted.is_empty() {
        return Ok(Page {
            events: RecordBatch::new_empty(events_schema()),
            next_token,
        });
    }
    // Phase 2: fetch those rows whole.
    let lo = wanted.iter().map(|c| c.time).min().unwrap_or(0);
    let hi = wanted.iter().map(|c| c.time).max().unwrap_or(0);
    let ids: Vec<Expr> = wanted.iter().map(|c| lit(c.id.clone())).collect();
    let mut df = ctx.table("events").await?.filter(
        ident("eventTime")
            .gt_eq(ts(lo))
            .and(ident("eventTime").lt_eq(ts(hi)))
            .and(id_expr().in_list(ids, false)),
    )?;
    if let Some(p) = predicate {
        df = df.filter(p)?;
    }
    let rows = df.collect().await?;
    let all = concat_batches(&events_schema(), &rows)?;
    let t = all.column(0).as_primitive::<TimestampMicrosecondType>();
    let id_col = all.column_by_name("eventID").expect("eventID column");
    let id_col =
        datafusion::arrow::compute::cast(id_col, &datafusion::arrow::datatypes::DataType::Utf8)?;
    let id_col = id_col.as_string::<i32>();
    let mut at: HashMap<(i64, &str), u32> = HashMap::new();
    for i in 0..all.num_rows() {
        let id = if id_col.is_null(i) {
            ""
        } else {
            id_col.value(i)
        };
        at.entry((t.value(i), id)).or_insert(i as u32);
    }
    let order: UInt32Array = wanted
        .iter()
        .filter_map(|c| at.get(&(c.time, c.id.as_str())).copied())
        .collect();
    Ok(Page {
        events: take_record_batch(&all, &order)?,
        next_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_query() {
        let c = Cursor {
            time: 42,
            id: "a\nb".into(),
        };
        let t = encode_token(7, &c);
        assert_eq!(decode_token(&t, 7).unwrap(), c);
        assert!(
            decode_token(&t, 8)
                .unwrap_err()
                .to_string()
                .contains("different query")
        );
        assert!(decode_token("zz", 7).is_err());
    }

    #[test]
    fn attributes_parse_by_aws_name() {
        assert_eq!(
            "EventName".parse::<Attribute>().unwrap(),
            Attribute::EventName
        );
        assert!("eventname".parse::<Attribute>().is_err());
    }
}

//! The query layer of the server: turns what people ask (search forms, group-bys,
//! histograms, SQL) into store queries, always through the caller's scope.
//!
//! Every function takes the [`Caller`] and opens its session with the caller's
//! [`auditwatch_store::Scope`], so no handler can read outside it. Requests become
//! DataFusion expressions, never SQL text, except the SQL the caller wrote, which runs
//! read-only against the caller's `events` view.

mod fields;
mod form;
mod interval;
mod metric_filter;

pub use fields::*;
use fields::{buckets, largest_first};
pub use form::*;
pub use interval::*;
pub use metric_filter::FilterTest;

use std::collections::HashMap;
use std::time::Instant;

use auditwatch_store::direct::counts::Counted;
use auditwatch_store::{Attribute, Lookup, Page, SqlLimits, SqlResult, StoreError};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, TimestampMicrosecondType};
use datafusion::functions::datetime::expr_fn::date_bin;
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::min_max::{max, min};
use datafusion::logical_expr::{Expr, lit};
use datafusion::prelude::{DataFrame, SessionContext, ident};
use datafusion::scalar::ScalarValue;

use crate::{ApiError, AppState, Caller};

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
pub(super) async fn run(
    plan: datafusion::error::Result<DataFrame>,
) -> Result<Vec<RecordBatch>, ApiError> {
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
        if let Some(p) = q.filters(ctx)?.into_iter().reduce(Expr::and) {
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
        if let Some(groups) = self.count_by(q, &[]).await? {
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
        if let Some(mut groups) = self.count_by(q, fields).await? {
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
    async fn count_by(&self, q: &Lookup, fields: &[Field]) -> Result<Option<Counted>, ApiError> {
        let Some(by) = fields
            .iter()
            .map(|f| f.narrow())
            .collect::<Option<Vec<_>>>()
        else {
            return Ok(None);
        };
        Ok(self
            .state
            .store()
            .count_by(&self.caller.scope, q, &by)
            .await?)
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
        if let Some(mut pairs) = self.count_by(q, &[field, by]).await? {
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
            .count_histogram(&self.caller.scope, q, interval_us)
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
    pub chains: Vec<auditwatch_catalog::integrity::ChainHealth>,
    /// Files that are not valid, newest first.
    pub problems: Vec<auditwatch_catalog::integrity::IntegrityRecord>,
    /// Stretches no verified digest covers.
    pub gaps: Vec<auditwatch_catalog::integrity::IntegrityGap>,
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
    ) -> Result<Option<auditwatch_catalog::integrity::IntegrityRecord>, ApiError> {
        let Some(key) = auditwatch_catalog::integrity::key_of(source).map(str::to_string) else {
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

//! Query sessions: a DataFusion context where `events` is the caller's view of the lake.
//!
//! The table over the lake is never registered under a name. `events` is a view that
//! filters it to the caller's accounts, so user SQL cannot reach rows outside its
//! scope by naming another table. Identifiers are case-sensitive, unquoted or quoted,
//! so CloudTrail Lake / Athena queries port over (`SELECT eventName FROM events`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::config::SessionConfig;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{Expr, LogicalPlan, lit};
use datafusion::prelude::{DataFrame, SessionContext, ident};
use futures::StreamExt;

use crate::catalog::Segment;
use crate::error::{Result, StoreError};
use crate::scope::Scope;
use crate::table::EventsTable;
use crate::tokens::TokenCache;
use crate::udf;

/// Bounds on one SQL query.
#[derive(Debug, Clone, Copy)]
pub struct SqlLimits {
    /// Most rows returned; the result says when it was cut.
    pub max_rows: usize,
    /// Longest run time.
    pub timeout: Duration,
}

impl Default for SqlLimits {
    fn default() -> Self {
        Self {
            max_rows: 100_000,
            timeout: Duration::from_secs(300),
        }
    }
}

/// Rows of a SQL query.
#[derive(Debug, Clone)]
pub struct SqlResult {
    /// The rows, as Arrow batches.
    pub batches: Vec<RecordBatch>,
    /// Whether `max_rows` cut the result.
    pub truncated: bool,
}

/// Builds a session whose `events` table is `segments` seen through `scope`.
///
/// `runtime` is shared by every session of a store, so the Parquet metadata cache in it
/// (footers, page indexes, bloom filter locations) outlives one query: segment files are
/// immutable, so a cached footer never goes stale.
pub fn session(
    lake: PathBuf,
    segments: Arc<Vec<Segment>>,
    scope: &Scope,
    runtime: Arc<RuntimeEnv>,
    tokens: Arc<TokenCache>,
) -> Result<SessionContext> {
    let mut config = SessionConfig::new()
        .with_information_schema(false)
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()));
    let opts = config.options_mut();
    opts.sql_parser.enable_ident_normalization = false;
    opts.execution.parquet.pushdown_filters = true;
    opts.execution.parquet.reorder_filters = true;
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .build();
    datafusion_functions_json::register_all(&mut state)?;
    let ctx = SessionContext::new_with_state(state);
    ctx.register_udf(udf::has_resource_type().as_ref().clone());
    ctx.register_udf(udf::has_resource_name().as_ref().clone());
    let table = Arc::new(EventsTable::new(lake, segments, scope.clone(), tokens));
    let df = ctx.read_table(table)?;
    let df = match scope {
        Scope::All => df,
        Scope::Accounts(set) => {
            let accounts: Vec<Expr> = set.iter().map(|a| lit(a.clone())).collect();
            if accounts.is_empty() {
                df.filter(lit(false))?
            } else {
                df.filter(ident("accountId").in_list(accounts, false))?
            }
        }
    };
    ctx.register_table("events", df.into_view())?;
    Ok(ctx)
}

/// Runs read-only SQL: no DDL, no DML, no `SET`/`COPY`, no functions that read files.
pub async fn run_sql(ctx: &SessionContext, sql: &str, limits: SqlLimits) -> Result<SqlResult> {
    within(limits, async {
        collect(planned(ctx, sql).await?, limits.max_rows).await
    })
    .await
}

/// Runs read-only SQL as [`run_sql`] does, its optimized plan first given to `rewrite`
/// (which may answer parts of it another way).
pub async fn run_sql_with(
    ctx: &SessionContext,
    sql: &str,
    limits: SqlLimits,
    rewrite: impl AsyncFnOnce(LogicalPlan) -> Result<LogicalPlan>,
) -> Result<SqlResult> {
    within(limits, async {
        let plan = rewrite(planned(ctx, sql).await?.into_optimized_plan()?).await?;
        collect(DataFrame::new(ctx.state(), plan), limits.max_rows).await
    })
    .await
}

/// `sql` planned, refused when it is not read-only.
async fn planned(ctx: &SessionContext, sql: &str) -> Result<DataFrame> {
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    Ok(ctx.sql_with_options(sql, options).await?)
}

/// The first `max_rows` rows of `df`, and whether there were more.
async fn collect(df: DataFrame, max_rows: usize) -> Result<SqlResult> {
    let mut stream = df.execute_stream().await?;
    let mut batches = Vec::new();
    let mut rows = 0;
    let mut truncated = false;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let room = max_rows - rows;
        if batch.num_rows() > room {
            batches.push(batch.slice(0, room));
            truncated = true;
            break;
        }
        rows += batch.num_rows();
        batches.push(batch);
        if rows == max_rows {
            truncated = stream.next().await.is_some();
            break;
        }
    }
    Ok(SqlResult { batches, truncated })
}

/// `work`, stopped with an error past the time limit.
async fn within(
    limits: SqlLimits,
    work: impl Future<Output = Result<SqlResult>>,
) -> Result<SqlResult> {
    match tokio::time::timeout(limits.timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(StoreError::Query(format!(
            "query stopped after {} s (the time limit)",
            limits.timeout.as_secs()
        ))),
    }
}

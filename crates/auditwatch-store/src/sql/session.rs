//! Query sessions: a DataFusion context where `events` is the caller's view of the lake,
//! beside the `sessions` table and the origin functions ([`crate::origin`]).
//!
//! The table over the lake is never registered under a name. `events` is a view that
//! filters it to the caller's accounts, so user SQL cannot reach rows outside its
//! scope by naming another table. Identifiers are case-sensitive, unquoted or quoted,
//! so CloudTrail Lake / Athena queries port over (`SELECT eventName FROM events`).
//! Under the view, every scan of a scoped session drops other accounts' rows before
//! any operator sees them ([`crate::sql::scoped`]).
//!
//! Running SQL ([`run_sql`]): the text is parsed within its size and depth bounds
//! ([`crate::sql::statement`]), planned, refused unless read-only, and run on the SQL
//! threads ([`crate::sql::runtime`]) with a memory pool of its own and the bounded
//! functions ([`crate::sql::bounded`]). A scoped caller's `EXPLAIN` answers the logical
//! plan only, and `EXPLAIN ANALYZE` is refused to them: the physical plan and its
//! figures depend on the other accounts' rows in the same files.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::execution::config::SessionConfig;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::{Expr, LogicalPlan, Operator, lit};
use datafusion::prelude::{DataFrame, SessionContext, ident};
use futures::StreamExt;
use futures::future::BoxFuture;

use crate::direct::token_index::TokenCache;
use crate::error::{Result, StoreError};
use crate::origin::{self, OriginsSource, table::SessionsTable};
pub use crate::sql::limits::SqlLimits;
use crate::sql::runtime::SqlRuntime;
use crate::sql::table::EventsTable;
use crate::sql::{bounded, statement, udf};
use auditwatch_catalog::Segment;
use auditwatch_catalog::scope::Scope;

/// Rows of a SQL query.
#[derive(Debug, Clone)]
pub struct SqlResult {
    /// The columns, also when there are no rows.
    pub schema: SchemaRef,
    /// The rows, as Arrow batches.
    pub batches: Vec<RecordBatch>,
    /// Whether `max_rows` or `max_result_bytes` cut the result.
    pub truncated: bool,
}

/// Builds a session whose `events` table is `segments` seen through `scope`.
///
/// `runtime` is shared by every session of a store, so the Parquet metadata cache in it
/// (footers, page indexes, bloom filter locations) outlives one query: segment files are
/// immutable, so a cached footer never goes stale. The scope is also kept in the
/// session's configuration, for what [`run_sql`] refuses scoped callers.
pub fn session(
    lake: PathBuf,
    segments: Arc<Vec<Segment>>,
    scope: &Scope,
    runtime: Arc<RuntimeEnv>,
    tokens: Arc<TokenCache>,
    origins: Arc<OriginsSource>,
) -> Result<SessionContext> {
    let mut config = SessionConfig::new()
        .with_information_schema(false)
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .with_extension(Arc::new(scope.clone()));
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
    bounded::register(&mut state)?;
    let ctx = SessionContext::new_with_state(state);
    ctx.register_udf(udf::has_resource_type().as_ref().clone());
    ctx.register_udf(udf::has_resource_name().as_ref().clone());
    origin::udf::register(&ctx, origins.clone());
    ctx.register_table("sessions", Arc::new(SessionsTable::new(origins)))?;
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

/// A rewrite of a query's optimized plan ([`run_sql_with`]).
pub type Rewrite =
    Box<dyn FnOnce(LogicalPlan) -> BoxFuture<'static, Result<LogicalPlan>> + Send + 'static>;

/// Runs read-only SQL: no DDL, no DML, no `SET`/`COPY`, no functions that read files;
/// within `limits`, on the SQL threads of `runtime`.
pub async fn run_sql(
    runtime: &SqlRuntime,
    ctx: &SessionContext,
    sql: &str,
    limits: SqlLimits,
) -> Result<SqlResult> {
    run(runtime, ctx, sql, limits, None).await
}

/// Runs read-only SQL as [`run_sql`] does, its optimized plan first given to `rewrite`
/// (which may answer parts of it another way).
pub async fn run_sql_with(
    runtime: &SqlRuntime,
    ctx: &SessionContext,
    sql: &str,
    limits: SqlLimits,
    rewrite: Rewrite,
) -> Result<SqlResult> {
    run(runtime, ctx, sql, limits, Some(rewrite)).await
}

async fn run(
    runtime: &SqlRuntime,
    ctx: &SessionContext,
    sql: &str,
    limits: SqlLimits,
    rewrite: Option<Rewrite>,
) -> Result<SqlResult> {
    let state = with_memory_limit(ctx.state(), limits.memory_bytes)?;
    let sql = sql.to_string();
    let work = async move {
        let statement = statement::parse(state.clone(), &sql, &limits).await?;
        let plan = state.statement_to_plan(statement).await?;
        read_only().verify_plan(&plan)?;
        constant_patterns(&plan)?;
        let scoped = state
            .config()
            .get_extension::<Scope>()
            .is_none_or(|s| !matches!(*s, Scope::All));
        let explain = match &plan {
            LogicalPlan::Analyze(_) if scoped => return Err(analyze_refused()),
            LogicalPlan::Explain(_) => true,
            _ => false,
        };
        let plan = match rewrite {
            Some(rewrite) if !explain => rewrite(state.optimize(&plan)?).await?,
            _ => plan,
        };
        let result = collect(
            DataFrame::new(state, plan),
            limits.max_rows,
            limits.max_result_bytes,
        )
        .await?;
        if explain && scoped {
            return logical_only(result);
        }
        Ok(result)
    };
    runtime
        .run(&limits, work)
        .await
        .map_err(|e| memory_context(e, limits.memory_bytes))
}

/// What SQL may do: read.
fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Refuses regular-expression operators (`~`, `~*`, `!~`, `!~*`, `SIMILAR TO`) whose
/// pattern comes from a column: each distinct pattern would be compiled and kept for
/// the batch, up to megabytes each (the `regexp_*` functions check the same,
/// [`crate::sql::bounded`]).
fn constant_patterns(plan: &LogicalPlan) -> Result<()> {
    let mut found = None;
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|x| {
                let pattern = match x {
                    Expr::BinaryExpr(b)
                        if matches!(
                            b.op,
                            Operator::RegexMatch
                                | Operator::RegexIMatch
                                | Operator::RegexNotMatch
                                | Operator::RegexNotIMatch
                        ) =>
                    {
                        Some(b.right.as_ref())
                    }
                    Expr::SimilarTo(l) => Some(l.pattern.as_ref()),
                    _ => None,
                };
                if let Some(p) = pattern.filter(|p| !p.column_refs().is_empty()) {
                    found = Some(p.to_string());
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    match found {
        Some(p) => Err(StoreError::Limit(format!(
            "the pattern {p} of a regular expression must be one value for every row \
             (a literal), not taken from a column (docs/SECURITY.md, bounded functions)"
        ))),
        None => Ok(()),
    }
}

/// `state` with a memory pool of its own, of `bytes`, for one query's operators.
fn with_memory_limit(state: SessionState, bytes: usize) -> Result<SessionState> {
    let pool = TrackConsumersPool::new(
        GreedyMemoryPool::new(bytes),
        NonZeroUsize::new(3).expect("not zero"),
    );
    let runtime = RuntimeEnvBuilder::from_runtime_env(state.runtime_env())
        .with_memory_pool(Arc::new(pool))
        .build_arc()?;
    Ok(SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(runtime)
        .build())
}

/// A memory error said as the limit it ran into.
fn memory_context(e: StoreError, bytes: usize) -> StoreError {
    match e {
        StoreError::Limit(m) if m.contains("Failed to allocate") => StoreError::Limit(format!(
            "the query needs more memory than its limit of {} MiB (memory_bytes): {m}",
            bytes >> 20
        )),
        other => other,
    }
}

fn analyze_refused() -> StoreError {
    StoreError::InvalidRequest(
        "EXPLAIN ANALYZE is not available to users limited to some accounts: its \
         figures (rows and row groups read, pruned and matched) count every account's \
         rows. EXPLAIN shows the query's logical plan."
            .into(),
    )
}

/// The rows of an EXPLAIN's answer that describe the logical plan: the physical plan
/// names segment files, which hold other accounts' rows too.
fn logical_only(result: SqlResult) -> Result<SqlResult> {
    let mut batches = Vec::new();
    for b in result.batches {
        let Some(kinds) = b
            .column_by_name("plan_type")
            .and_then(|c| c.as_string_opt::<i32>())
        else {
            return Err(StoreError::Query("EXPLAIN answered no plan_type".into()));
        };
        let keep: BooleanArray = kinds
            .iter()
            .map(|k| Some(k.is_some_and(|k| !k.contains("physical"))))
            .collect();
        batches.push(filter_record_batch(&b, &keep)?);
    }
    Ok(SqlResult { batches, ..result })
}

/// The first rows of `df` within `max_rows` and `max_bytes`, and whether there were
/// more.
async fn collect(df: DataFrame, max_rows: usize, max_bytes: usize) -> Result<SqlResult> {
    let schema = df.schema().inner().clone();
    let mut stream = df.execute_stream().await?;
    let mut batches = Vec::new();
    let (mut rows, mut bytes) = (0, 0);
    let mut truncated = false;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        // Each column counted whole, also when several share one array: the answer
        // is written out column by column.
        let size: usize = (batch.columns().iter())
            .map(|c| c.to_data().get_slice_memory_size().unwrap_or(usize::MAX))
            .fold(0, usize::saturating_add);
        let per_row = size / batch.num_rows().max(1) + 1;
        let room = (max_rows - rows).min(max_bytes.saturating_sub(bytes) / per_row);
        if batch.num_rows() > room {
            batches.push(batch.slice(0, room));
            truncated = true;
            break;
        }
        rows += batch.num_rows();
        bytes += size;
        batches.push(batch);
        if rows == max_rows {
            truncated = stream.next().await.is_some();
            break;
        }
    }
    Ok(SqlResult {
        schema,
        batches,
        truncated,
    })
}

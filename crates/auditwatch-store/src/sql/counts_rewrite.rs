//! SQL breakdowns answered by the [direct counts](crate::direct::counts): `SELECT a, b, count(*) FROM
//! events WHERE … GROUP BY a, b` (the shape of most audit questions: events by user,
//! by event name, errors by user) without decoding a string per row.
//!
//! The query is planned and optimized by DataFusion as always. Then each `Aggregate`
//! node of the optimized plan that counts rows (`count(*)`, `count(1)`) grouped by
//! narrow text columns of `events` ([`Dimension`]), over nothing but projections, aliases,
//! filters and the table's scan, is answered by the direct counts, and the node is replaced by
//! a scan of its answer; the rest of the plan (ordering, `LIMIT`, `HAVING`, joins)
//! runs on that as it would have on the aggregate's output. A filter's conditions
//! must each be either a comparison of `eventTime` with a time (a range) or an
//! expression over one narrow column alone (`LIKE`, `IN`, `=`, `IS NOT NULL`, …),
//! which is evaluated by DataFusion on the segment's distinct values instead of on
//! every row. Any other aggregate or condition leaves the node to DataFusion, so the
//! answer is always DataFusion's answer (a test runs queries both ways).

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemTable;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{
    Aggregate, BinaryExpr, Expr, LogicalPlan, LogicalPlanBuilder, Operator,
};
use datafusion::physical_expr::create_physical_expr;
use datafusion::prelude::col;

use crate::Store;
use crate::dimension::Dimension;
use crate::direct::counts::{Counted, Filter, MOST_COLUMNS, Plan, Test, count_plan};
use crate::error::Result;
use crate::sql::table::EventsTable;
use auditwatch_catalog::Segment;
use auditwatch_catalog::scope::Scope;

/// What one aggregate asks, as the direct counts take it.
pub(crate) struct Ask {
    /// The aggregate node, to find it again when replacing it.
    node: Aggregate,
    pub(crate) by: Vec<Dimension>,
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) filters: Vec<Filter<'static>>,
    pub(crate) segments: Arc<Vec<Segment>>,
    pub(crate) scope: Scope,
}

/// The aggregates of `plan` the direct counts can answer.
pub(crate) fn asks(plan: &LogicalPlan) -> Result<Vec<Ask>> {
    if matches!(plan, LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)) {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    plan.apply(|node| {
        if let LogicalPlan::Aggregate(agg) = node
            && let Some(ask) = ask(agg)?
        {
            found.push(ask);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(found)
}

/// `plan` with each asked aggregate replaced by a scan of its answer.
pub(crate) fn replace(plan: LogicalPlan, answered: Vec<(Ask, Counted)>) -> Result<LogicalPlan> {
    if answered.is_empty() {
        return Ok(plan);
    }
    let out = plan.transform_up(|node| {
        let LogicalPlan::Aggregate(agg) = &node else {
            return Ok(Transformed::no(node));
        };
        match answered.iter().find(|(ask, _)| &ask.node == agg) {
            Some((_, groups)) => Ok(Transformed::yes(answer_plan(agg, groups)?)),
            None => Ok(Transformed::no(node)),
        }
    })?;
    Ok(out.data)
}

/// The rows of `groups` in the shape of `agg`'s output: its group columns, then the count.
fn answer_plan(agg: &Aggregate, groups: &Counted) -> datafusion::error::Result<LogicalPlan> {
    let keys = agg.group_expr.len();
    let mut fields: Vec<Field> = (0..keys)
        .map(|i| Field::new(format!("k{i}"), DataType::Utf8, true))
        .collect();
    fields.push(Field::new("n", DataType::Int64, false));
    let schema = Arc::new(Schema::new(fields));
    let mut columns: Vec<ArrayRef> = (0..keys)
        .map(|i| {
            Arc::new(
                groups
                    .iter()
                    .map(|(k, _)| k[i].as_deref())
                    .collect::<StringArray>(),
            ) as ArrayRef
        })
        .collect();
    columns.push(Arc::new(
        groups
            .iter()
            .map(|(_, n)| i64::try_from(*n).unwrap_or(i64::MAX))
            .collect::<Int64Array>(),
    ));
    // Counting with no groups answers one row, also when nothing matched.
    if keys == 0 && groups.is_empty() {
        columns = vec![Arc::new(Int64Array::from(vec![0i64])) as ArrayRef];
    }
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let table = MemTable::try_new(schema, vec![vec![batch]])?;
    let names: Vec<Expr> = agg
        .schema
        .iter()
        .enumerate()
        .map(|(i, (qualifier, field))| {
            let source = if i < keys {
                format!("k{i}")
            } else {
                "n".into()
            };
            col(Column::new(Some("counts"), source))
                .alias_qualified(qualifier.cloned(), field.name())
        })
        .collect();
    LogicalPlanBuilder::scan("counts", provider_as_source(Arc::new(table)), None)?
        .project(names)?
        .build()
}

/// What `agg` asks, when the direct counts can answer it.
fn ask(agg: &Aggregate) -> datafusion::error::Result<Option<Ask>> {
    if agg.aggr_expr.len() != 1 || !counts_rows(&agg.aggr_expr[0]) {
        return Ok(None);
    }
    if agg.group_expr.len() > MOST_COLUMNS {
        return Ok(None);
    }
    let mut by = Vec::new();
    for g in &agg.group_expr {
        match g {
            Expr::Column(c) if let Some(n) = Dimension::named(&c.name) => by.push(n),
            _ => return Ok(None),
        }
    }
    // Down to the table's scan through nodes that keep every row and column value.
    let mut conditions: Vec<Expr> = Vec::new();
    let mut node = agg.input.as_ref();
    let (segments, scope) = loop {
        match node {
            LogicalPlan::SubqueryAlias(a) => node = a.input.as_ref(),
            LogicalPlan::Projection(p) if p.expr.iter().all(|e| matches!(e, Expr::Column(_))) => {
                node = p.input.as_ref()
            }
            LogicalPlan::Filter(f) => {
                conditions.extend(split_conjunction(&f.predicate).into_iter().cloned());
                node = f.input.as_ref();
            }
            LogicalPlan::TableScan(scan) if scan.fetch.is_none() => {
                let provider = source_as_provider(&scan.source)?;
                let any: &dyn std::any::Any = provider.as_ref();
                let Some(table) = any.downcast_ref::<EventsTable>() else {
                    return Ok(None);
                };
                for f in &scan.filters {
                    conditions.extend(split_conjunction(f).into_iter().cloned());
                }
                break (table.segments().clone(), table.scope().clone());
            }
            _ => return Ok(None),
        }
    };
    let (mut start, mut end) = (i64::MIN, i64::MAX);
    let mut filters = Vec::new();
    for c in conditions {
        let columns: HashSet<&Column> = c.column_refs();
        let [only] = columns.into_iter().collect::<Vec<_>>()[..] else {
            return Ok(None);
        };
        if c.is_volatile() {
            return Ok(None);
        }
        if only.name == "eventTime" {
            let Some((lo, hi)) = time_bounds(&c) else {
                return Ok(None);
            };
            start = start.max(lo);
            end = end.min(hi);
            continue;
        }
        let Some(column) = Dimension::named(&only.name) else {
            return Ok(None);
        };
        filters.push(Filter {
            column,
            test: Test::Predicate(one_column_expr(&c, column)?),
        });
    }
    Ok(Some(Ask {
        node: agg.clone(),
        by,
        start,
        end,
        filters,
        segments,
        scope,
    }))
}

/// Whether `e` counts rows: `count(*)`, `count(1)` (no DISTINCT, FILTER or ORDER BY).
fn counts_rows(e: &Expr) -> bool {
    let e = match e {
        Expr::Alias(a) => a.expr.as_ref(),
        other => other,
    };
    let Expr::AggregateFunction(f) = e else {
        return false;
    };
    let p = &f.params;
    f.func.name() == "count"
        && !p.distinct
        && p.filter.is_none()
        && p.order_by.is_empty()
        && matches!(&p.args[..], [Expr::Literal(v, _)] if !v.is_null())
}

/// The inclusive µs range of a comparison of `eventTime` with a time.
fn time_bounds(e: &Expr) -> Option<(i64, i64)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = e else {
        return None;
    };
    let (op, value) = match (left.as_ref(), right.as_ref()) {
        (Expr::Column(_), Expr::Literal(v, _)) => (*op, v),
        (Expr::Literal(v, _), Expr::Column(_)) => (op.swap()?, v),
        _ => return None,
    };
    let ScalarValue::TimestampMicrosecond(Some(t), _) = value else {
        return None;
    };
    let t = *t;
    Some(match op {
        Operator::Eq => (t, t),
        Operator::GtEq => (t, i64::MAX),
        Operator::Gt => (t.checked_add(1)?, i64::MAX),
        Operator::LtEq => (i64::MIN, t),
        Operator::Lt => (i64::MIN, t.checked_sub(1)?),
        _ => return None,
    })
}

/// `e`, whose one column is `column`, as an expression over a batch of that column.
fn one_column_expr(
    e: &Expr,
    column: Dimension,
) -> datafusion::error::Result<Arc<dyn datafusion::physical_expr::PhysicalExpr>> {
    let name = column.column();
    let bare = e
        .clone()
        .transform(|x| match x {
            Expr::Column(_) => Ok(Transformed::yes(Expr::Column(Column::from_name(name)))),
            other => Ok(Transformed::no(other)),
        })?
        .data;
    let schema = DFSchema::try_from(Schema::new(vec![Field::new(name, DataType::Utf8, true)]))?;
    create_physical_expr(
        &bare,
        &schema,
        &ExecutionProps::new(),
        &PhysicalPlanningContext::default(),
    )
}

/// Answers `asks` (blocking: reads segment files); an ask over a segment of an older
/// schema is left out (DataFusion answers it).
/// Groups come sorted by their values, so the answer's order never depends on values
/// the caller does not see (a segment's numbering covers every account's values).
/// Gives up past `deadline`.
pub(crate) fn answer(
    store: &Store,
    asks: Vec<Ask>,
    deadline: std::time::Instant,
) -> Result<Vec<(Ask, Counted)>> {
    let mut out = Vec::new();
    for ask in asks {
        let lake = store.counts_lake(&ask.segments);
        let plan = Plan {
            start: ask.start,
            end: ask.end,
            filters: &ask.filters,
            accounts: &[],
            regions: &[],
            deadline: Some(deadline),
            bucket_secs: None,
        };
        if let Some(mut groups) = count_plan(&lake, &ask.scope, &plan, &ask.by)? {
            groups.sort_unstable();
            out.push((ask, groups));
        }
    }
    Ok(out)
}

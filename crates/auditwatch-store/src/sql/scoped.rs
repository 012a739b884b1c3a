//! The scan's scope barrier: an execution node that drops the rows of accounts
//! outside the caller's scope before any other operator sees them.
//!
//! A scoped caller's SQL must never evaluate an expression over another account's
//! row: an expression that fails (a cast, a division) names the value it failed on,
//! so evaluating it before the scope applies leaks that value (docs/SECURITY.md,
//! "the scope rule"). DataFusion is free to reorder conjuncts, merge filters and push
//! them into the Parquet reader, so the scope cannot be just one more filter. Instead
//! [`ScopeExec`] sits directly on each Parquet scan of a scoped session and is opaque
//! to the optimizer: it accepts no filter, projection, limit or sort pushed through it
//! (the defaults of [`ExecutionPlan`]), and it reports no statistics. Everything above
//! it sees in-scope rows only; below it, the Parquet reader is given nothing of the
//! caller's but the scope itself and the query's time bounds ([`crate::sql::table`]).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;

/// Passes on only the rows whose `accountId` is one of `accounts`.
#[derive(Debug)]
pub(crate) struct ScopeExec {
    input: Arc<dyn ExecutionPlan>,
    accounts: Arc<BTreeSet<String>>,
    /// The index of `accountId` in the input's schema.
    column: usize,
}

impl ScopeExec {
    /// Rows of `input` (whose schema holds `accountId`) limited to `accounts`.
    pub(crate) fn try_new(
        input: Arc<dyn ExecutionPlan>,
        accounts: Arc<BTreeSet<String>>,
    ) -> Result<Self> {
        let column = input.schema().index_of("accountId")?;
        Ok(Self {
            input,
            accounts,
            column,
        })
    }
}

impl DisplayAs for ScopeExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ScopeExec: accounts={}", self.accounts.len())
    }
}

impl ExecutionPlan for ScopeExec {
    fn name(&self) -> &str {
        "ScopeExec"
    }

    /// The input's: dropping rows keeps their order and partitioning.
    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(
                "ScopeExec has exactly one child".into(),
            ));
        }
        Ok(Arc::new(ScopeExec::try_new(
            children.swap_remove(0),
            self.accounts.clone(),
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let (accounts, column) = (self.accounts.clone(), self.column);
        let kept = input.map(move |batch| in_scope(&batch?, &accounts, column));
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema(), kept)))
    }
}

/// The rows of `batch` whose `column` names one of `accounts`; a null account is
/// never in scope.
fn in_scope(
    batch: &RecordBatch,
    accounts: &BTreeSet<String>,
    column: usize,
) -> Result<RecordBatch> {
    let values = batch.column(column);
    let keep: BooleanArray = match values.data_type() {
        DataType::Utf8 => values
            .as_string::<i32>()
            .iter()
            .map(|v| Some(v.is_some_and(|v| accounts.contains(v))))
            .collect(),
        DataType::Utf8View => values
            .as_string_view()
            .iter()
            .map(|v| Some(v.is_some_and(|v| accounts.contains(v))))
            .collect(),
        other => {
            return Err(DataFusionError::Internal(format!(
                "accountId is {other}, not text"
            )));
        }
    };
    if keep.true_count() == batch.num_rows() {
        return Ok(batch.clone());
    }
    Ok(filter_record_batch(batch, &keep)?)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{ArrayRef, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn only_rows_of_the_scope_pass() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("accountId", DataType::Utf8, true),
            Field::new("username", DataType::Utf8, true),
        ]));
        let accounts: ArrayRef = Arc::new(StringArray::from(vec![
            Some("111"),
            Some("222"),
            None,
            Some("111"),
        ]));
        let users: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c", "d"]));
        let batch = RecordBatch::try_new(schema, vec![accounts, users]).unwrap();
        let scope: BTreeSet<String> = ["111".to_string()].into();
        let kept = in_scope(&batch, &scope, 0).unwrap();
        let users = kept.column(1).as_string::<i32>();
        assert_eq!(users.iter().flatten().collect::<Vec<_>>(), ["a", "d"]);
        let none = in_scope(&batch, &BTreeSet::new(), 0).unwrap();
        assert_eq!(none.num_rows(), 0);
    }
}

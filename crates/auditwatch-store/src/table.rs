//! The `events` table as a DataFusion `TableProvider` over the catalog's segments.
//!
//! Before any Parquet file is opened, segments are pruned with what the catalog knows:
//! the caller's account scope, and time and account predicates found in the query's
//! filters. The remaining files are scanned by DataFusion's Parquet reader with the
//! same filters (row-group statistics, page index, bloom filters).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::TableProvider;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    BinaryExpr, Expr, Operator, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;

use crate::catalog::Segment;
use crate::schema::events_schema;
use crate::scope::Scope;

/// A snapshot of the table: the segments listed when the query started.
#[derive(Debug)]
pub struct EventsTable {
    lake: PathBuf,
    segments: Arc<Vec<Segment>>,
    scope: Scope,
}

impl EventsTable {
    /// A table over `segments` (paths relative to `lake`), limited to `scope`.
    pub fn new(lake: PathBuf, segments: Arc<Vec<Segment>>, scope: Scope) -> Self {
        Self {
            lake,
            segments,
            scope,
        }
    }

    /// Segments that may hold rows matching `filters`.
    pub fn prune(&self, filters: &[Expr]) -> Vec<&Segment> {
        let bounds = Bounds::from_filters(filters);
        self.segments
            .iter()
            .filter(|s| self.scope.allows_any(&s.accounts))
            .filter(|s| bounds.min.is_none_or(|min| s.max_time >= min))
            .filter(|s| bounds.max.is_none_or(|max| s.min_time <= max))
            .filter(|s| {
                bounds
                    .accounts
                    .as_ref()
                    .is_none_or(|set| s.accounts.iter().any(|a| set.contains(a)))
            })
            .collect()
    }
}

/// What the filters say about time and account, as far as we can read them.
#[derive(Debug, Default)]
struct Bounds {
    min: Option<i64>,
    max: Option<i64>,
    accounts: Option<BTreeSet<String>>,
}

impl Bounds {
    fn from_filters(filters: &[Expr]) -> Self {
        let mut b = Bounds::default();
        for f in filters {
            for e in split_and(f) {
                b.read(e);
            }
        }
        b
    }

    fn read(&mut self, e: &Expr) {
        match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (column, value, op) = match (column_name(left), column_name(right)) {
                    (Some(c), None) => (c, right.as_ref(), *op),
                    (None, Some(c)) => match op.swap() {
                        Some(op) => (c, left.as_ref(), op),
                        None => return,
                    },
                    _ => return,
                };
                match column {
                    "eventTime" => {
                        let Some(t) = micros(value) else { return };
                        match op {
                            Operator::Gt | Operator::GtEq => self.raise_min(t),
                            Operator::Lt | Operator::LtEq => self.lower_max(t),
                            Operator::Eq => {
                                self.raise_min(t);
                                self.lower_max(t);
                            }
                            _ => {}
                        }
                    }
                    "accountId" if op == Operator::Eq => {
                        if let Some(v) = string(value) {
                            self.narrow_accounts([v].into_iter().collect());
                        }
                    }
                    _ => {}
                }
            }
            Expr::Between(between)
                if !between.negated && column_name(&between.expr) == Some("eventTime") =>
            {
                if let (Some(lo), Some(hi)) = (micros(&between.low), micros(&between.high)) {
                    self.raise_min(lo);
                    self.lower_max(hi);
                }
            }
            Expr::InList(list) if !list.negated && column_name(&list.expr) == Some("accountId") => {
                let values: Option<BTreeSet<String>> = list.list.iter().map(string).collect();
                if let Some(v) = values {
                    self.narrow_accounts(v);
                }
            }
            _ => {}
        }
    }

    fn raise_min(&mut self, t: i64) {
        self.min = Some(self.min.map_or(t, |m| m.max(t)));
    }
    fn lower_max(&mut self, t: i64) {
        self.max = Some(self.max.map_or(t, |m| m.min(t)));
    }
    fn narrow_accounts(&mut self, set: BTreeSet<String>) {
        self.accounts = Some(match self.accounts.take() {
            Some(old) => old.intersection(&set).cloned().collect(),
            None => set,
        });
    }
}

fn split_and(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            let mut v = split_and(left);
            v.extend(split_and(right));
            v
        }
        other => vec![other],
    }
}

fn column_name(e: &Expr) -> Option<&str> {
    match e {
        Expr::Column(c) => Some(c.name.as_str()),
        Expr::Cast(c) => column_name(&c.expr),
        _ => None,
    }
}

fn micros(e: &Expr) -> Option<i64> {
    let Expr::Literal(v, _) = e else { return None };
    match v {
        ScalarValue::TimestampSecond(Some(x), _) => x.checked_mul(1_000_000),
        ScalarValue::TimestampMillisecond(Some(x), _) => x.checked_mul(1_000),
        ScalarValue::TimestampMicrosecond(Some(x), _) => Some(*x),
        // Rounded outwards by the caller's comparison semantics: floor is safe for
        // both bounds because pruning only needs to keep every candidate.
        ScalarValue::TimestampNanosecond(Some(x), _) => Some(x.div_euclid(1_000)),
        _ => None,
    }
}

fn string(e: &Expr) -> Option<String> {
    let Expr::Literal(v, _) = e else { return None };
    v.try_as_str().flatten().map(str::to_string)
}

#[async_trait]
impl TableProvider for EventsTable {
    fn schema(&self) -> SchemaRef {
        events_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = events_schema();
        let mut files: Vec<(PartitionedFile, u64)> = self
            .prune(filters)
            .into_iter()
            .map(|s| {
                let path = self.lake.join(&s.path);
                let path = path.to_string_lossy();
                (
                    PartitionedFile::new(path.trim_start_matches('/'), s.bytes),
                    s.bytes,
                )
            })
            .collect();
        // Balance files over the target partitions by size, largest first.
        let partitions = state.config().target_partitions().max(1);
        files.sort_by_key(|f| std::cmp::Reverse(f.1));
        let mut groups: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); partitions];
        for (file, size) in files {
            let g = groups
                .iter_mut()
                .min_by_key(|g| g.0)
                .expect("at least one group");
            g.0 += size;
            g.1.push(file);
        }
        let groups: Vec<FileGroup> = groups
            .into_iter()
            .filter(|g| !g.1.is_empty())
            .map(|g| FileGroup::new(g.1))
            .collect();
        if groups.is_empty() {
            // No file can match: a plan with no partitions at all would fail the
            // planner's check of operators that need one (ORDER BY … LIMIT).
            let projected = match projection {
                Some(p) => Arc::new(schema.project(p)?),
                None => schema,
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        // Footers and page indexes come from the runtime's metadata cache when a
        // previous query of this store already read them.
        let runtime = state.runtime_env();
        let store = runtime.object_store(ObjectStoreUrl::local_filesystem())?;
        let readers = Arc::new(CachedParquetFileReaderFactory::new(
            store,
            runtime.cache_manager.get_file_metadata_cache(),
        ));
        let mut source = ParquetSource::new(schema.clone())
            .with_table_parquet_options(state.table_options().parquet.clone())
            .with_parquet_file_reader_factory(readers);
        if let Some(predicate) = conjunction(filters.to_vec()) {
            let df_schema = DFSchema::try_from(schema.clone())?;
            let physical = state.create_physical_expr(predicate, &df_schema)?;
            source = source.with_predicate(physical);
        }
        let config =
            FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
                .with_file_groups(groups)
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

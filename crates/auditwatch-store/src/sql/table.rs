//! The `events` table as a DataFusion `TableProvider` over the catalog's segments.
//!
//! Before any Parquet file is opened, segments are pruned with what the catalog knows:
//! the caller's account scope, and time and account predicates found in the query's
//! filters. The remaining files are scanned by DataFusion's Parquet reader with the
//! same filters (row-group statistics, page index, bloom filters). A free-text filter
//! the segments' token indexes answer ([`crate::direct::token_index`]) becomes a row selection per
//! file, so only the rows holding the text are read.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::TableProvider;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::{
    CachedParquetFileReaderFactory, ParquetFileReaderFactory, ParquetRowSelection,
};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    BinaryExpr, Expr, Operator, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::filter::FilterExecBuilder;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::prelude::{ident, lit};

use crate::direct::token_index::{self, TokenCache, TokenIndex};
use crate::schema::events_schema;
use crate::sql::scoped::ScopeExec;
use auditwatch_catalog::Segment;
use auditwatch_catalog::scope::Scope;

/// A snapshot of the table: the segments listed when the query started.
#[derive(Debug)]
pub struct EventsTable {
    lake: PathBuf,
    segments: Arc<Vec<Segment>>,
    scope: Scope,
    /// The segments' token indexes, shared by every query of the store.
    tokens: Arc<TokenCache>,
}

impl EventsTable {
    /// A table over `segments` (paths relative to `lake`), limited to `scope`.
    pub fn new(
        lake: PathBuf,
        segments: Arc<Vec<Segment>>,
        scope: Scope,
        tokens: Arc<TokenCache>,
    ) -> Self {
        Self {
            lake,
            segments,
            scope,
            tokens,
        }
    }

    /// The segments listed when the query started.
    pub(crate) fn segments(&self) -> &Arc<Vec<Segment>> {
        &self.segments
    }

    /// The accounts the table shows.
    pub(crate) fn scope(&self) -> &Scope {
        &self.scope
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

/// The column `e` is, seen through casts that keep every value distinct (to a finer
/// time unit, or to text): a cast that truncates times (to seconds, to dates) would
/// make a bound on it a different bound on the column.
fn column_name(e: &Expr) -> Option<&str> {
    use datafusion::arrow::datatypes::{DataType, TimeUnit};
    match e {
        Expr::Column(c) => Some(c.name.as_str()),
        Expr::Cast(c)
            if matches!(
                c.field.data_type(),
                DataType::Timestamp(TimeUnit::Microsecond | TimeUnit::Nanosecond, _)
                    | DataType::Utf8
                    | DataType::Utf8View
                    | DataType::LargeUtf8
            ) =>
        {
            column_name(&c.expr)
        }
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
    match e {
        Expr::Literal(v, _) => v.try_as_str().flatten().map(str::to_string),
        Expr::Cast(c) => string(&c.expr),
        _ => None,
    }
}

#[async_trait]
impl TableProvider for EventsTable {
    fn schema(&self) -> SchemaRef {
        events_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Free-text filters the token index answers are applied exactly by the scan (files
    /// without an index apply them themselves); every other filter prunes and is
    /// applied again above.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match indexed_search(f) {
                Some(_) => TableProviderFilterPushDown::Exact,
                None => TableProviderFilterPushDown::Inexact,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let pruned = self.prune(filters);
        let (searches, others): (Vec<&Expr>, Vec<&Expr>) =
            filters.iter().partition(|f| indexed_search(f).is_some());
        // Footers and page indexes come from the runtime's metadata cache when a
        // previous query of this store already read them.
        let runtime = state.runtime_env();
        let store = runtime.object_store(ObjectStoreUrl::local_filesystem())?;
        let readers = Arc::new(CachedParquetFileReaderFactory::new(
            store,
            runtime.cache_manager.get_file_metadata_cache(),
        ));
        let file = |s: &Segment| {
            let path = self.lake.join(&s.path);
            PartitionedFile::new(path.to_string_lossy().trim_start_matches('/'), s.bytes)
        };
        if searches.is_empty() {
            let files = pruned.iter().map(|s| file(s)).collect();
            let predicate = conjunction(filters.iter().cloned());
            return self.parquet_scan(state, &readers, files, projection, predicate, limit);
        }

        // Files with a token index read only the rows it names; the others read their
        // text and are filtered here.
        let texts: Vec<String> = searches.iter().filter_map(|f| indexed_search(f)).collect();
        let (mut indexed, mut unindexed) = (Vec::new(), Vec::new());
        for s in pruned {
            let f = file(s);
            let Some(index) = self.token_index(s, &f, &readers).await? else {
                unindexed.push(f);
                continue;
            };
            let mut rows: Option<Vec<u32>> = None;
            for t in &texts {
                let found = index.rows_containing(t).expect("searchable text");
                rows = Some(match rows {
                    None => found,
                    Some(r) => intersect(&r, &found),
                });
            }
            let rows = rows.unwrap_or_default();
            if rows.is_empty() {
                continue;
            }
            let rows = rows.iter().map(|&r| r as usize);
            let selection = crate::direct::lookups::selection(rows, index.rows() as usize);
            indexed.push(f.with_extension(ParquetRowSelection::new(selection)));
        }
        let mut plans = Vec::new();
        if !indexed.is_empty() {
            let predicate = conjunction(others.iter().map(|e| (*e).clone()));
            plans.push(self.parquet_scan(state, &readers, indexed, projection, predicate, limit)?);
        }
        if !unindexed.is_empty() {
            // `raw` read as well when the query does not project it, and dropped after.
            let (wide, keep) = widened(projection, "raw")?;
            let keep = keep.map(|n| (0..n).collect::<Vec<_>>());
            let predicate = conjunction(filters.iter().cloned());
            let scan =
                self.parquet_scan(state, &readers, unindexed, wide.as_ref(), predicate, None)?;
            let text = conjunction(searches.iter().map(|e| (*e).clone())).expect("a search");
            let df_schema = DFSchema::try_from(scan.schema())?;
            let text = state.create_physical_expr(text, &df_schema)?;
            let filtered = FilterExecBuilder::new(text, scan)
                .apply_projection(keep)?
                .build()?;
            plans.push(Arc::new(filtered));
        }
        if plans.is_empty() {
            return self.parquet_scan(state, &readers, Vec::new(), projection, None, limit);
        }
        UnionExec::try_new(plans)
    }
}

impl EventsTable {
    /// The token index of segment `s` (read through `readers`, then cached), or `None`
    /// when its file has none.
    async fn token_index(
        &self,
        s: &Segment,
        file: &PartitionedFile,
        readers: &CachedParquetFileReaderFactory,
    ) -> Result<Option<Arc<TokenIndex>>> {
        if let Some(cached) = self.tokens.get(&s.path) {
            return Ok(cached);
        }
        let mut reader =
            readers.create_reader(0, file.clone(), None, &ExecutionPlanMetricsSet::new())?;
        let meta = reader.get_metadata(None).await?;
        let bad = |e: String| DataFusionError::Execution(format!("{}: {e}", s.path));
        let index = match token_index::locate(meta.file_metadata()).map_err(bad)? {
            None => None,
            Some((offset, len, size)) => {
                let bytes = reader.get_bytes(offset..offset + len as u64).await?;
                let index =
                    token_index::parse_for(meta.file_metadata(), &bytes, size).map_err(bad)?;
                Some(Arc::new(index))
            }
        };
        self.tokens.insert(&s.path, index.clone());
        Ok(index)
    }

    /// A Parquet scan of `files`, spread over the session's partitions by size; for a
    /// scoped caller, behind the scope barrier ([`ScopeExec`]).
    ///
    /// A scoped caller's filters never reach the Parquet reader: it is given the scope
    /// and the filters' time bounds only, so nothing the caller wrote is evaluated
    /// (not even on statistics or bloom filters) before the barrier drops other
    /// accounts' rows. The filters are applied above the barrier (they are `Inexact`).
    fn parquet_scan(
        &self,
        state: &dyn Session,
        readers: &Arc<CachedParquetFileReaderFactory>,
        files: Vec<PartitionedFile>,
        projection: Option<&Vec<usize>>,
        predicate: Option<Expr>,
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Scope::Accounts(accounts) = &self.scope else {
            return self.read_files(state, readers, files, projection, predicate, limit);
        };
        // `accountId` read as well when the query does not project it, dropped after.
        let (wide, keep) = widened(projection, "accountId")?;
        let bounds = Bounds::from_filters(predicate.as_slice());
        let read = self.read_files(
            state,
            readers,
            files,
            wide.as_ref(),
            Some(scope_and_time(accounts, &bounds)),
            None,
        )?;
        let barrier: Arc<dyn ExecutionPlan> = Arc::new(ScopeExec::try_new(read, accounts.clone())?);
        let Some(width) = keep else {
            return Ok(barrier);
        };
        let out = barrier.schema();
        let columns = (0..width).map(|i| {
            let name = out.field(i).name().clone();
            let column: Arc<dyn PhysicalExpr> = Arc::new(PhysicalColumn::new(&name, i));
            (column, name)
        });
        Ok(Arc::new(ProjectionExec::try_new(columns, barrier)?))
    }

    /// A Parquet scan of `files`, spread over the session's partitions by size.
    fn read_files(
        &self,
        state: &dyn Session,
        readers: &Arc<CachedParquetFileReaderFactory>,
        mut files: Vec<PartitionedFile>,
        projection: Option<&Vec<usize>>,
        predicate: Option<Expr>,
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = events_schema();
        // Balance files over the target partitions by size, largest first.
        let partitions = state.config().target_partitions().max(1);
        files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
        let mut groups: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); partitions];
        for file in files {
            let g = groups
                .iter_mut()
                .min_by_key(|g| g.0)
                .expect("at least one group");
            g.0 += file.object_meta.size;
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
        let mut source = ParquetSource::new(schema.clone())
            .with_table_parquet_options(state.table_options().parquet.clone())
            .with_parquet_file_reader_factory(readers.clone());
        if let Some(predicate) = predicate {
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

/// `projection` with the table's `column` added when it lacks it, and then how many
/// of the columns read the query asked for (the rest are dropped after use).
fn widened(
    projection: Option<&Vec<usize>>,
    column: &str,
) -> Result<(Option<Vec<usize>>, Option<usize>)> {
    let index = events_schema().index_of(column)?;
    Ok(match projection {
        Some(p) if !p.contains(&index) => {
            let mut w = p.clone();
            w.push(index);
            (Some(w), Some(p.len()))
        }
        other => (other.cloned(), None),
    })
}

/// `accountId` among `accounts`, and `eventTime` within `bounds`: all a scoped scan
/// tells the Parquet reader.
fn scope_and_time(accounts: &BTreeSet<String>, bounds: &Bounds) -> Expr {
    let time = |t: i64| {
        lit(ScalarValue::TimestampMicrosecond(
            Some(t),
            Some("UTC".into()),
        ))
    };
    let list = accounts.iter().map(|a| lit(a.as_str())).collect();
    let mut e = ident("accountId").in_list(list, false);
    if let Some(min) = bounds.min {
        e = e.and(ident("eventTime").gt_eq(time(min)));
    }
    if let Some(max) = bounds.max {
        e = e.and(ident("eventTime").lt_eq(time(max)));
    }
    e
}

/// The text of a filter the token index answers exactly: `raw LIKE '%text%'` (ILIKE
/// too where case cannot matter: digits and dots) or `contains(raw, 'text')`, for a
/// text of a shape the index keeps ([`token_index::searchable`]).
fn indexed_search(e: &Expr) -> Option<String> {
    match e {
        Expr::Like(like) if !like.negated && column_name(&like.expr) == Some("raw") => {
            let pattern = string(&like.pattern)?;
            let text = pattern.strip_prefix('%')?.strip_suffix('%')?;
            if text.contains(['%', '_']) || like.escape_char.is_some_and(|c| text.contains(c)) {
                return None;
            }
            let class = token_index::searchable(text)?;
            if like.case_insensitive && class != token_index::Class::Dotted {
                return None;
            }
            Some(text.to_string())
        }
        Expr::ScalarFunction(f)
            if f.name() == "contains"
                && f.args.len() == 2
                && column_name(&f.args[0]) == Some("raw") =>
        {
            let text = string(&f.args[1])?;
            token_index::searchable(&text)?;
            Some(text)
        }
        _ => None,
    }
}

/// The rows in both sorted lists.
fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use datafusion::functions::string::expr_fn::contains;
    use datafusion::logical_expr::{col, lit};

    use super::*;

    #[test]
    fn which_filters_the_token_index_answers() {
        let raw = || col("raw");
        let yes = [
            (raw().like(lit("%203.0.113.66%")), "203.0.113.66"),
            (raw().ilike(lit("%203.0.113.66%")), "203.0.113.66"),
            (
                raw().like(lit("%AKIAIOSFODNN7EXAMPLE%")),
                "AKIAIOSFODNN7EXAMPLE",
            ),
            (contains(raw(), lit("10.0.0.1")), "10.0.0.1"),
        ];
        for (e, text) in yes {
            assert_eq!(indexed_search(&e).as_deref(), Some(text), "{e}");
        }
        let no = [
            // Wildcards inside, anchored patterns, negation, another column.
            raw().like(lit("%10.0.0._%")),
            raw().like(lit("%10.0%0.1%")),
            raw().like(lit("10.0.0.1%")),
            raw().not_like(lit("%10.0.0.1%")),
            col("errorMessage").like(lit("%10.0.0.1%")),
            // Case matters for letters: ILIKE would find lower-case keys the index lacks.
            raw().ilike(lit("%AKIAIOSFODNN7EXAMPLE%")),
            // Shapes the index does not keep.
            raw().like(lit("%alice%")),
            raw().like(lit("%1.2.3%")),
            contains(raw(), lit("arn:aws:iam::111122223333:user/alice")),
        ];
        for e in no {
            assert_eq!(indexed_search(&e), None, "{e}");
        }
    }
}

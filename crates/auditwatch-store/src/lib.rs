//! The events lake: Parquet segments partitioned by event day, listed by the catalog
//! (`auditwatch-catalog`), and DataFusion over them.
//!
//! Only this crate reads and writes Parquet and plans queries. In folders:
//! - [`write`]: one [`Writer`] per data directory (convert → dedup → segment files →
//!   one catalog commit), compaction and retention;
//! - [`storage`]: where segment files are read from and kept (local, remote, trash);
//! - [`sql`]: the DataFusion path, where reading goes through a session whose
//!   `events` view is already limited to the caller's [`Scope`];
//! - [`direct`]: readers that answer without the query engine (lookups, raw records,
//!   the token index, breakdown counts, scans).
//!
//! Beside them: the `events` [`schema`], typed [`lookup`]s, the [`dimension`]s events
//! are counted by, [`rows`] as JSON, each event's [`origin`] through the sessions
//! index, and fail points for crash tests.

pub mod dimension;
pub mod direct;
mod error;
pub mod failpoint;
pub mod lookup;
pub mod origin;
pub mod rows;
pub mod schema;
pub mod sql;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;
pub mod write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::SessionContext;

pub use auditwatch_catalog::{Catalog, DayGuard, Scope, Segment, SourceObject};
pub use error::{Result, StoreError};
pub use lookup::{Attribute, Lookup, Page};
pub use sql::session::{SqlLimits, SqlResult};
pub use write::writer::{CommitStats, Writer};

use error::IoContext;

/// Most bytes queries may spill to the temporary directory, all together.
pub const SPILL_BYTES: u64 = 4 << 30;

/// Most memory the operators of the queries that are not users' SQL (searches,
/// breakdowns and histograms DataFusion answers) hold, all together; each SQL query
/// has a pool of its own ([`SqlLimits::memory_bytes`]).
pub const SHARED_QUERY_BYTES: usize = 2 << 30;

/// The file naming the data directory that writes the lake's remote location.
const LAKE_WRITER_FILE: &str = "lake-writer";

/// Where a data directory's table lives besides the directory itself.
#[derive(Clone, Default)]
pub struct Placement {
    /// The segments' remote location (`[lake] url`).
    pub lake_url: Option<String>,
    /// The most bytes of local copies of remote segments (`[lake] cache_bytes`).
    pub cache_bytes: Option<u64>,
    /// The shared catalog of several nodes (`[catalog] url`, PostgreSQL).
    pub catalog_url: Option<String>,
    /// Its password (`[catalog] password_env`), when not in the URL.
    pub catalog_password: Option<String>,
}

impl std::fmt::Debug for Placement {
    /// Never the password, and the catalog URL without one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Placement")
            .field("lake_url", &self.lake_url)
            .field("cache_bytes", &self.cache_bytes)
            .field(
                "catalog_url",
                &self
                    .catalog_url
                    .as_deref()
                    .map(auditwatch_catalog::postgres::redact),
            )
            .field(
                "catalog_password",
                &self.catalog_password.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

/// A data directory: `lake/` (Parquet) and `catalog.db` (SQLite).
#[derive(Debug, Clone)]
pub struct Store {
    data_dir: PathBuf,
    lake: PathBuf,
    /// Shared by every query session, so Parquet metadata stays cached between queries.
    runtime: Arc<RuntimeEnv>,
    /// Footers for typed lookups ([`direct::lookups`]), cached the same way.
    footers: Arc<direct::lookups::Footers>,
    /// Where the segments live when not only here ([`storage::remote`]).
    remote: Option<Arc<storage::remote::Remote>>,
    /// The table's part of the catalog, when several nodes share it ([`auditwatch_catalog::postgres`]).
    postgres: Option<Arc<auditwatch_catalog::postgres::PgCatalog>>,
    /// A catalog connection kept for listing the segments of each query: opening one
    /// (pragmas, schema check) cost ~0.5 ms a query.
    lister: Arc<Mutex<Option<Catalog>>>,
    /// Segments' narrow columns as codes, for breakdowns ([`direct::counts`]).
    counts: Arc<direct::counts::CodesCache>,
    /// The threads SQL runs on ([`sql::runtime`]), started on the first query.
    sql_threads: Arc<sql::runtime::SqlRuntime>,
    /// The sessions index with each key's origin ([`origin`]).
    origins: Arc<origin::OriginsCache>,
}

impl Store {
    /// Opens the data directory, creating it and the catalog if needed. The segments'
    /// remote location, if the data directory has one, comes from its catalog.
    pub fn open(data_dir: &Path) -> Result<Self> {
        Self::open_with_lake(data_dir, None, None)
    }

    /// Opens the data directory with its segments at `lake_url` (`[lake] url`):
    /// recorded in a new data directory's catalog, checked against an existing one's.
    /// `cache_bytes` (`[lake] cache_bytes`) bounds the local copies of remote segments.
    pub fn open_with_lake(
        data_dir: &Path,
        lake_url: Option<&str>,
        cache_bytes: Option<u64>,
    ) -> Result<Self> {
        Self::open_with(
            data_dir,
            &Placement {
                lake_url: lake_url.map(str::to_string),
                cache_bytes,
                catalog_url: None,
                catalog_password: None,
            },
        )
    }

    /// Opens the data directory with its table placed as `placement` says. With a
    /// shared catalog, the segments must be in a remote location every node reaches.
    pub fn open_with(data_dir: &Path, placement: &Placement) -> Result<Self> {
        // Absolute: the lake's object store resolves paths from the root.
        let data_dir = &std::path::absolute(data_dir).io("resolve", data_dir)?;
        let lake = data_dir.join("lake");
        std::fs::create_dir_all(lake.join("events")).io("create", &lake)?;
        let shared = match &placement.catalog_url {
            Some(url) => Some(auditwatch_catalog::postgres::PgCatalog::connect(
                url,
                placement.catalog_password.as_deref(),
            )?),
            None => None,
        };
        let catalog = Catalog::open_with(&data_dir.join("catalog.db"), shared.clone())?;
        let cache_bytes = placement.cache_bytes;
        let remote = match placement.lake_url.as_deref() {
            Some(url) if catalog.check_lake_url(url)? => {
                // This data directory (or, with a shared catalog, the nodes sharing
                // it) becomes the location's one writer: claimed in the location
                // itself (another data directory pointed at it is refused), and
                // recorded in the catalog. A copy of a local catalog on another
                // machine only reads.
                let remote = storage::remote::Remote::new(url, cache_bytes)?;
                let mut id = hex::encode(rand::random::<[u8; 16]>());
                if shared.is_some() {
                    // Nodes starting together: the first to record its id wins, and
                    // every node claims the location with that one.
                    catalog.set_lake_url(url, &id)?;
                    id = catalog.lake_writer_id()?.unwrap_or(id);
                }
                remote.claim_writer(&id)?;
                if shared.is_none() {
                    let marker = data_dir.join(LAKE_WRITER_FILE);
                    std::fs::write(&marker, &id).io("write", &marker)?;
                    catalog.set_lake_url(url, &id)?;
                }
                Some(remote)
            }
            _ => match catalog.lake_url()? {
                Some(url) => Some(storage::remote::Remote::new(&url, cache_bytes)?),
                None => None,
            },
        }
        .map(Arc::new);
        if let (Some(shared), None) = (&shared, &remote) {
            return Err(StoreError::InvalidRequest(format!(
                "the shared catalog {} needs the segments in a location every node \
                 reaches: set [lake] url (s3://bucket/prefix)",
                shared.shown_url()
            )));
        }
        // Operators that spill (sorts, aggregates past their memory limit) write at most
        // this much to the temporary directory, for all queries together.
        let runtime = RuntimeEnvBuilder::new()
            .with_max_temp_directory_size(SPILL_BYTES)
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(SHARED_QUERY_BYTES)))
            .build()?;
        runtime.register_object_store(
            datafusion::execution::object_store::ObjectStoreUrl::local_filesystem().as_ref(),
            Arc::new(storage::lake_store::LakeFiles::new(&lake, remote.clone())),
        );
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            lake,
            runtime: Arc::new(runtime),
            footers: Arc::default(),
            remote,
            postgres: shared,
            lister: Arc::default(),
            counts: Arc::default(),
            sql_threads: Arc::default(),
            origins: Arc::default(),
        })
    }

    /// A local copy of a listed segment: its file, or its retired copy, or one fetched
    /// from the remote location.
    pub fn segment_file(&self, segment: &Segment) -> Result<PathBuf> {
        storage::remote::local_segment(&self.lake, self.remote.as_deref(), &segment.path, || {
            self.segments()
        })
    }

    /// The remote location of the segments, if they have one.
    pub fn remote(&self) -> Option<&storage::remote::Remote> {
        self.remote.as_deref()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The lake root (`<data-dir>/lake`).
    pub fn lake(&self) -> &Path {
        &self.lake
    }

    /// The table's part of the catalog (the shared catalog, if any), without the
    /// node's own file: for what drains the detection queue.
    pub fn table(&self) -> Result<Arc<dyn auditwatch_catalog::TableCatalog>> {
        Ok(match &self.postgres {
            Some(pg) => pg.clone(),
            None => Arc::new(auditwatch_catalog::sqlite::SqliteTable::new(
                &self.data_dir.join("catalog.db"),
            )),
        })
    }

    /// A new connection to the catalog (the table's part in the shared catalog, if
    /// any).
    pub fn catalog(&self) -> Result<Catalog> {
        Ok(Catalog::open_with(
            &self.data_dir.join("catalog.db"),
            self.postgres.clone(),
        )?)
    }

    /// The segments listed now, through the kept connection (a new one after an error).
    pub fn segments(&self) -> Result<Vec<Segment>> {
        // Only ever replaced whole: what the mutex holds stays valid after a panic.
        let mut kept = self.lister.lock().unwrap_or_else(|e| e.into_inner());
        let catalog = match kept.take() {
            Some(c) => c,
            None => self.catalog()?,
        };
        let listed = catalog.segments().map_err(StoreError::from);
        if listed.is_ok() {
            *kept = Some(catalog);
        }
        listed
    }

    /// The shared catalog, if several nodes share this table.
    pub fn postgres(&self) -> Option<&auditwatch_catalog::postgres::PgCatalog> {
        self.postgres.as_deref()
    }

    /// Takes the write lock and returns the writer. Refused in a data directory whose
    /// catalog was copied from the one that writes the remote location: two catalogs
    /// writing one location would retire each other's segments.
    pub fn writer(&self) -> Result<Writer> {
        let catalog = self.catalog()?;
        if let Some(remote) = &self.remote
            && self.postgres.is_none()
        {
            let marker = self.data_dir.join(LAKE_WRITER_FILE);
            let mine = std::fs::read_to_string(&marker).unwrap_or_default();
            if catalog.lake_writer_id()?.is_none_or(|id| mine.trim() != id) {
                return Err(StoreError::InvalidRequest(format!(
                    "{} reads the lake at {} but another data directory writes it (its \
                     catalog is a copy); ingest, compaction and retention run there",
                    self.data_dir.display(),
                    remote.url()
                )));
            }
        }
        Writer::open(
            &self.data_dir,
            self.lake.clone(),
            catalog,
            self.remote.clone(),
        )
    }

    /// A query session over the current segments, limited to `scope`.
    pub fn session(&self, scope: &Scope) -> Result<SessionContext> {
        let segments = Arc::new(self.segments()?);
        let store = self.clone();
        let origins = origin::OriginsSource::new(scope.clone(), move || store.origins());
        sql::session::session(
            self.lake.clone(),
            segments,
            scope,
            self.runtime.clone(),
            self.footers.tokens().clone(),
            Arc::new(origins),
        )
    }

    /// The sessions index with each key's origin, as of now ([`origin::Origins`]).
    pub fn origins(&self) -> Result<Arc<origin::Origins>> {
        let newest = self.segments()?.iter().map(|s| s.id).max();
        self.origins.get(self.table()?.as_ref(), newest)
    }

    /// Runs read-only SQL over `events` as seen by `scope`, planned and run by
    /// DataFusion alone: for a process that asks once (the command line), reading a
    /// column's codes for [`Store::sql_in`] costs more than the scan it would replace.
    pub async fn sql(&self, scope: &Scope, sql: &str, limits: SqlLimits) -> Result<SqlResult> {
        sql::session::run_sql(&self.sql_threads, &self.session(scope)?, sql, limits).await
    }

    /// Runs read-only SQL in `session` (one of [`Store::session`]'s) for a process that
    /// keeps the store open (`serve`): breakdowns it asks for (`count(*)` grouped by
    /// narrow columns under simple conditions) are answered from the segments' columns
    /// kept as codes ([`sql::counts_rewrite`]), with DataFusion's answers.
    pub async fn sql_in(
        &self,
        session: &SessionContext,
        sql: &str,
        limits: SqlLimits,
    ) -> Result<SqlResult> {
        let store = self.clone();
        let deadline = std::time::Instant::now() + limits.timeout;
        let rewrite: sql::session::Rewrite = Box::new(move |plan| {
            Box::pin(async move {
                let asks = sql::counts_rewrite::asks(&plan)?;
                if asks.is_empty() {
                    return Ok(plan);
                }
                let answered = tokio::task::spawn_blocking(move || {
                    sql::counts_rewrite::answer(&store, asks, deadline)
                })
                .await
                .map_err(|e| StoreError::Query(format!("counting task failed: {e}")))??;
                tracing::debug!(
                    aggregates = answered.len(),
                    "SQL breakdowns answered by direct counts"
                );
                sql::counts_rewrite::replace(plan, answered)
            })
        });
        sql::session::run_sql_with(&self.sql_threads, session, sql, limits, rewrite).await
    }

    /// The lake as the direct counts read `segments` of it.
    fn counts_lake<'a>(&'a self, segments: &'a [Segment]) -> direct::counts::Lake<'a> {
        direct::counts::Lake {
            lake: &self.lake,
            remote: self.remote.as_deref(),
            segments,
            footers: &self.footers,
            cache: &self.counts,
        }
    }

    /// Segment columns kept as codes for breakdowns, and their bytes in memory.
    pub fn counts_cached(&self) -> (usize, usize) {
        self.counts.cached()
    }

    /// Events matching `q`, as `scope` sees them, counted by the combination of `by`'s
    /// values, in no particular order, straight from the segments' columns kept as
    /// codes ([`direct::counts`]); `None` when `q` has a filter only DataFusion answers.
    pub async fn count_by(
        &self,
        scope: &Scope,
        q: &Lookup,
        by: &[dimension::Dimension],
    ) -> Result<Option<direct::counts::Counted>> {
        let segments = self.segments()?;
        let store = self.clone();
        let (scope, q, by) = (scope.clone(), q.clone(), by.to_vec());
        tokio::task::spawn_blocking(move || {
            direct::counts::count_by(&store.counts_lake(&segments), &scope, &q, &by)
        })
        .await
        .map_err(|e| StoreError::Query(format!("counting task failed: {e}")))?
    }

    /// Events matching `q`, as `scope` sees them, per time bucket of `bucket_us` (a
    /// whole number of seconds, buckets starting at its multiples since the epoch), as
    /// (bucket start µs, events), oldest first, straight from the segments' columns
    /// ([`direct::counts::histogram`]); `None` when only DataFusion answers `q` or the bucket.
    pub async fn count_histogram(
        &self,
        scope: &Scope,
        q: &Lookup,
        bucket_us: i64,
    ) -> Result<Option<Vec<(i64, u64)>>> {
        let segments = self.segments()?;
        let store = self.clone();
        let (scope, q) = (scope.clone(), q.clone());
        tokio::task::spawn_blocking(move || {
            direct::counts::histogram(&store.counts_lake(&segments), &scope, &q, bucket_us)
        })
        .await
        .map_err(|e| StoreError::Query(format!("counting task failed: {e}")))?
    }

    /// Runs a typed lookup as seen by `scope`: straight from the segment files
    /// ([`direct::lookups`]) when it can, else through DataFusion.
    pub async fn lookup(&self, scope: &Scope, q: &Lookup) -> Result<Page> {
        if q.origin.is_some() {
            // Events stored before the sessions index need it filled once.
            Box::pin(self.index_sessions()).await?;
        }
        let segments = self.segments()?;
        let (lake, footers) = (self.lake.clone(), self.footers.clone());
        let (scope_, q_, remote) = (scope.clone(), q.clone(), self.remote.clone());
        // Origins read key by key: a lookup meets few keys before its page is full.
        let table = (q.origin.is_some() && direct::lookups::handles(q))
            .then(|| self.table())
            .transpose()?;
        let direct = tokio::task::spawn_blocking(move || {
            let by = match (table, q_.origin.as_deref()) {
                (Some(t), Some(v)) if !v.is_empty() => Some(origin::lazy::ByOrigin::new(t, v)?),
                _ => None,
            };
            let page = direct::lookups::lookup(
                &lake,
                remote.as_deref(),
                &segments,
                &footers,
                &scope_,
                &q_,
                by.as_ref(),
            )?;
            if let Some(by) = &by {
                by.check()?;
                let (reaching, read) = by.counts();
                tracing::debug!(reaching, read, "origins read for a lookup");
            }
            Ok::<_, StoreError>(page)
        })
        .await
        .map_err(|e| StoreError::Query(format!("lookup task failed: {e}")))??;
        match direct {
            Some(page) => Ok(page),
            None => lookup::lookup(&self.session(scope)?, q).await,
        }
    }
}

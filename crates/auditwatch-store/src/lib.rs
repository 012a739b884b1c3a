//! The events lake: Parquet segments partitioned by event day, a SQLite catalog,
//! and DataFusion over them.
//!
//! Only this crate knows Parquet, SQLite and DataFusion. Writing goes through one
//! [`Writer`] per data directory (convert → dedup → segment files → one catalog
//! transaction); reading goes through a [`session`] whose `events` view is already
//! limited to the caller's [`Scope`].

pub mod catalog;
pub mod compact;
pub mod convert;
pub mod dedup;
pub mod detection;
mod error;
pub mod failpoint;
mod files;
pub mod integrity;
pub mod lookup;
pub mod retention;
pub mod rows;
pub mod scan;
pub mod schema;
mod scope;
pub mod seek;
pub mod segment;
pub mod session;
pub mod table;
pub mod udf;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::SessionContext;

pub use catalog::{Catalog, Feedback, Segment, SourceObject};
pub use error::{Result, StoreError};
pub use lookup::{Attribute, Lookup, Page};
pub use scope::Scope;
pub use session::{SqlLimits, SqlResult};
pub use writer::{CommitStats, Writer};

use error::IoContext;

/// A data directory: `lake/` (Parquet) and `catalog.db` (SQLite).
#[derive(Debug, Clone)]
pub struct Store {
    data_dir: PathBuf,
    lake: PathBuf,
    /// Shared by every query session, so Parquet metadata stays cached between queries.
    runtime: Arc<RuntimeEnv>,
    /// Footers for typed lookups ([`seek`]), cached the same way.
    footers: Arc<seek::Footers>,
}

impl Store {
    /// Opens the data directory, creating it and the catalog if needed.
    pub fn open(data_dir: &Path) -> Result<Self> {
        // Absolute: the lake's object store resolves paths from the root.
        let data_dir = &std::path::absolute(data_dir).io("resolve", data_dir)?;
        let lake = data_dir.join("lake");
        std::fs::create_dir_all(lake.join("events")).io("create", &lake)?;
        let runtime = RuntimeEnv::default();
        runtime.register_object_store(
            datafusion::execution::object_store::ObjectStoreUrl::local_filesystem().as_ref(),
            Arc::new(files::LakeFiles::new(&lake)),
        );
        let store = Self {
            data_dir: data_dir.to_path_buf(),
            lake,
            runtime: Arc::new(runtime),
            footers: Arc::default(),
        };
        store.catalog()?;
        Ok(store)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The lake root (`<data-dir>/lake`).
    pub fn lake(&self) -> &Path {
        &self.lake
    }

    /// A new connection to the catalog.
    pub fn catalog(&self) -> Result<Catalog> {
        Catalog::open(&self.data_dir.join("catalog.db"))
    }

    /// Takes the write lock and returns the writer.
    pub fn writer(&self) -> Result<Writer> {
        Writer::open(&self.data_dir, self.lake.clone(), self.catalog()?)
    }

    /// A query session over the current segments, limited to `scope`.
    pub fn session(&self, scope: &Scope) -> Result<SessionContext> {
        let segments = Arc::new(self.catalog()?.segments()?);
        session::session(self.lake.clone(), segments, scope, self.runtime.clone())
    }

    /// Runs read-only SQL over `events` as seen by `scope`.
    pub async fn sql(&self, scope: &Scope, sql: &str, limits: SqlLimits) -> Result<SqlResult> {
        session::run_sql(&self.session(scope)?, sql, limits).await
    }

    /// Runs a typed lookup as seen by `scope`: straight from the segment files
    /// ([`seek`]) when it can, else through DataFusion.
    pub async fn lookup(&self, scope: &Scope, q: &Lookup) -> Result<Page> {
        let segments = self.catalog()?.segments()?;
        let (lake, footers) = (self.lake.clone(), self.footers.clone());
        let (scope_, q_) = (scope.clone(), q.clone());
        let direct = tokio::task::spawn_blocking(move || {
            seek::lookup(&lake, &segments, &footers, &scope_, &q_)
        })
        .await
        .map_err(|e| StoreError::Query(format!("lookup task failed: {e}")))??;
        match direct {
            Some(page) => Ok(page),
            None => lookup::lookup(&self.session(scope)?, q).await,
        }
    }
}

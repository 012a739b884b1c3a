//! The file system as the query engine sees it: local files, except that a segment
//! retired while a query was planned is read from `.trash/`.
//!
//! Compaction and retention run while the server answers queries. A query lists its
//! segments from the catalog when it is planned and opens them as it executes; a
//! swap in between moves a listed file out of the table folder (so external engines
//! reading `events/` never see it twice). Retired files stay in `.trash/` for ten
//! minutes, and this wrapper reads them there, so such a query still answers from
//! the set of segments it planned with: consistent, never an error.
//!
//! With a remote location ([`crate::storage::remote`]) a segment this machine has no copy of
//! is read there, by ranges, from its place or from the remote trash.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use futures::stream::BoxStream;

use crate::storage::remote::Remote;
use crate::write::segment;

/// Local files with the trash fallback for retired segments of one lake, and the
/// remote location behind both.
#[derive(Debug)]
pub struct LakeFiles {
    inner: Arc<LocalFileSystem>,
    lake: PathBuf,
    /// The lake root as an object path, to name a segment relative to it.
    lake_object: Option<Path>,
    remote: Option<Arc<Remote>>,
}

impl LakeFiles {
    /// The files of the lake at `lake`, with its segments' remote location.
    pub fn new(lake: &std::path::Path, remote: Option<Arc<Remote>>) -> Self {
        Self {
            inner: Arc::new(LocalFileSystem::new()),
            lake: lake.to_path_buf(),
            lake_object: Path::from_filesystem_path(lake).ok(),
            remote,
        }
    }

    /// The lake-relative path of a segment at `location`, when there is a remote
    /// location to read it from.
    fn remote_of(&self, location: &Path) -> Option<(&Remote, String)> {
        let remote = self.remote.as_deref()?;
        let rel = location.prefix_match(self.lake_object.as_ref()?)?;
        let rel: Vec<String> = rel.map(|p| p.as_ref().to_string()).collect();
        Some((remote, rel.join("/")))
    }

    /// Where a segment at `location` is once retired.
    fn in_trash(&self, location: &Path) -> Option<Path> {
        if !location.as_ref().contains("/events/day=") {
            return None;
        }
        let retired =
            segment::retired_path(&self.lake, std::path::Path::new(location.filename()?))?;
        Path::from_filesystem_path(retired).ok()
    }
}

impl fmt::Display for LakeFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LakeFiles({})", self.lake.display())
    }
}

fn not_found(e: &datafusion::object_store::Error) -> bool {
    matches!(e, datafusion::object_store::Error::NotFound { .. })
}

#[async_trait]
impl ObjectStore for LakeFiles {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let e = match self.inner.get_opts(location, options.clone()).await {
            Err(e) if not_found(&e) => e,
            other => return other,
        };
        let e = match self.in_trash(location) {
            Some(retired) => match self.inner.get_opts(&retired, options.clone()).await {
                Err(e) if not_found(&e) => e,
                other => return other,
            },
            None => e,
        };
        match self.remote_of(location) {
            Some((remote, rel)) => remote.get(&rel, options).await,
            None => Err(e),
        }
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let e = match self.inner.get_ranges(location, ranges).await {
            Err(e) if not_found(&e) => e,
            other => return other,
        };
        let e = match self.in_trash(location) {
            Some(retired) => match self.inner.get_ranges(&retired, ranges).await {
                Err(e) if not_found(&e) => e,
                other => return other,
            },
            None => e,
        };
        match self.remote_of(location) {
            Some((remote, rel)) => remote.get_ranges(&rel, ranges).await,
            None => Err(e),
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

//! The file system as the query engine sees it: local files, except that a segment
//! retired while a query was planned is read from `.trash/`.
//!
//! Compaction and retention run while the server answers queries. A query lists its
//! segments from the catalog when it is planned and opens them as it executes; a
//! swap in between moves a listed file out of the table folder (so external engines
//! reading `events/` never see it twice). Retired files stay in `.trash/` for ten
//! minutes, and this wrapper reads them there, so such a query still answers from
//! the set of segments it planned with: consistent, never an error.

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

use crate::segment;

/// Local files with the trash fallback for retired segments of one lake.
#[derive(Debug)]
pub struct LakeFiles {
    inner: Arc<LocalFileSystem>,
    lake: PathBuf,
}

impl LakeFiles {
    /// The files of the lake at `lake`.
    pub fn new(lake: &std::path::Path) -> Self {
        Self {
            inner: Arc::new(LocalFileSystem::new()),
            lake: lake.to_path_buf(),
        }
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
        match self.inner.get_opts(location, options.clone()).await {
            Err(e) if not_found(&e) => match self.in_trash(location) {
                Some(retired) => self.inner.get_opts(&retired, options).await,
                None => Err(e),
            },
            other => other,
        }
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        match self.inner.get_ranges(location, ranges).await {
            Err(e) if not_found(&e) => match self.in_trash(location) {
                Some(retired) => self.inner.get_ranges(&retired, ranges).await,
                None => Err(e),
            },
            other => other,
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

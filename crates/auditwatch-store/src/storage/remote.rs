//! The lake's segments on object storage (`s3://bucket/prefix`, or a `file://` folder
//! such as a shared mount).
//!
//! With a remote location the lake folder under the data directory becomes a cache:
//! - a segment is uploaded before the catalog lists it, so every listed segment is in
//!   the remote location, whatever happens to this machine's disk;
//! - readers that find no local copy read the remote one: DataFusion through
//!   [`crate::storage::lake_store::LakeFiles`] (ranged reads), the direct lookups, compaction and
//!   retention through a downloaded copy ([`Remote::fetch`]);
//! - a retired segment moves to the remote `.trash/` and is deleted there after the
//!   same grace as local retired files;
//! - with a cache limit (`[lake] cache_bytes`), local copies of the oldest event days
//!   are deleted once the local table folder is larger ([`Remote::trim_cache`]).
//!
//! The remote keeps the lake's layout (`events/day=YYYY-MM-DD/part-*.parquet`), so
//! DuckDB, Spark, Athena and Trino read the prefix as they read the local folder
//! (docs/SCALING.md). Credentials and region come from the standard AWS environment
//! variables or the instance's role; the endpoint from `AWS_ENDPOINT_URL_S3` or
//! `AWS_ENDPOINT_URL` (an S3-compatible store or an emulator).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    GetOptions, GetResult, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    WriteMultipart,
};

/// Part size of segment uploads (S3 wants at least 5 MiB a part but the last).
const UPLOAD_PART_BYTES: usize = 8 << 20;

use crate::error::{IoContext, Result, StoreError};
use crate::write::segment;

/// A remote home for a lake's segments.
#[derive(Debug)]
pub struct Remote {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// Runs the object store's futures for the synchronous callers (writer, direct
    /// lookups), from a thread of its own so that it works inside or outside another
    /// runtime. A multi-thread runtime, as a precaution: the HTTP connections it opens
    /// sit in a pool DataFusion's reads (on the caller's runtime) share, and its own
    /// worker drives them even while no caller waits. (A single-thread runtime passed
    /// the same tests; no stall was seen.)
    runtime: tokio::runtime::Runtime,
    /// The most bytes of segment copies to keep locally (`None`: keep all).
    cache_bytes: Option<u64>,
    /// When this process last swept the location ([`Remote::sweep`]).
    swept_at: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Remote {
    /// The location at `url` (`s3://bucket[/prefix]` or `file:///absolute/folder`).
    pub fn new(url: &str, cache_bytes: Option<u64>) -> Result<Self> {
        let bad = |why: String| StoreError::InvalidRequest(format!("lake location {url:?}: {why}"));
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        let (store, prefix): (Arc<dyn ObjectStore>, ObjectPath) = match parsed.scheme() {
            "s3" => {
                let bucket = parsed
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| bad("no bucket name".into()))?;
                let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
                let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
                    .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
                    .ok()
                    .filter(|e| !e.is_empty());
                if let Some(e) = endpoint {
                    b = b.with_allow_http(e.starts_with("http://")).with_endpoint(e);
                }
                if let Ok(region) =
                    std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
                {
                    b = b.with_region(region);
                }
                let store = b.build().map_err(|e| bad(e.to_string()))?;
                let prefix = ObjectPath::parse(parsed.path().trim_matches('/'))
                    .map_err(|e| bad(e.to_string()))?;
                (Arc::new(store), prefix)
            }
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|()| bad("not an absolute folder".into()))?;
                std::fs::create_dir_all(&dir).io("create", &dir)?;
                let store =
                    LocalFileSystem::new_with_prefix(&dir).map_err(|e| bad(e.to_string()))?;
                (Arc::new(store), ObjectPath::default())
            }
            other => {
                return Err(bad(format!(
                    "unsupported scheme {other:?} (s3:// or file://)"
                )));
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lake-remote")
            .enable_all()
            .build()
            .io("start", Path::new("object storage runtime"))?;
        Ok(Self {
            url: url.to_string(),
            store,
            prefix,
            runtime,
            cache_bytes,
            swept_at: Default::default(),
        })
    }

    /// Sweeps the remote location, at a writer's start, when due: the first time in
    /// this process, then once `grace` has passed since the last sweep (one LIST of
    /// each folder per 1,000 objects, not one at every writer a source opens):
    ///
    /// - objects in the table folder that `listed` (the catalog's segment paths, read
    ///   after the folder) does not name — uploaded by a writer that stopped before
    ///   its catalog commit — move to the trash. With a shared catalog, other nodes write
    ///   too, and an object one uploaded a moment ago is not listed yet: only objects
    ///   older than `grace` move. Without, this process is the only writer, and it
    ///   holds the write lock, so every unlisted object is an orphan;
    /// - trash older than `grace` is deleted.
    pub fn sweep(
        &self,
        grace: Duration,
        shared: bool,
        listed: impl FnOnce() -> Result<std::collections::HashSet<String>>,
    ) -> Result<()> {
        let mut swept = self.swept_at.lock().unwrap_or_else(|p| p.into_inner());
        if swept.is_some_and(|at| at.elapsed() < grace) {
            return Ok(());
        }
        let objects = self.list_segments()?;
        let listed = listed()?;
        let now = chrono::Utc::now();
        let min_age = if shared {
            chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX)
        } else {
            chrono::Duration::zero()
        };
        for (rel, modified) in objects {
            if !listed.contains(&rel) && now - modified >= min_age {
                self.retire(&rel)?;
            }
        }
        self.purge_trash(grace);
        *swept = Some(std::time::Instant::now());
        Ok(())
    }

    /// Deletes local copies of the oldest event days' segments while the local table
    /// folder holds more than the cache limit, never `keep`, and only of segments in
    /// `listed` (the catalog's segments): a listed segment is in the remote location,
    /// so a deleted copy is read there or fetched again, while a file a writer has
    /// not yet uploaded and listed is left alone. Returns the bytes deleted.
    pub fn trim_cache(
        &self,
        lake: &Path,
        listed: &[auditwatch_catalog::Segment],
        keep: Option<&Path>,
    ) -> u64 {
        let Some(limit) = self.cache_bytes else {
            return 0;
        };
        let listed: std::collections::HashSet<PathBuf> =
            listed.iter().map(|s| lake.join(&s.path)).collect();
        let Ok(days) = std::fs::read_dir(lake.join("events")) else {
            return 0;
        };
        let mut days: Vec<PathBuf> = days.flatten().map(|d| d.path()).collect();
        days.sort(); // day=YYYY-MM-DD: oldest first
        let mut files: Vec<(PathBuf, u64)> = Vec::new();
        for day in &days {
            let Ok(entries) = std::fs::read_dir(day) else {
                continue;
            };
            let mut in_day: Vec<(PathBuf, u64)> = entries
                .flatten()
                .filter_map(|e| Some((e.path(), e.metadata().ok()?.len())))
                .collect();
            in_day.sort();
            files.extend(in_day);
        }
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        let mut freed = 0;
        for (path, size) in files {
            if total <= limit {
                break;
            }
            if keep == Some(path.as_path()) || !listed.contains(&path) {
                continue;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= size;
                freed += size;
            }
        }
        freed
    }

    /// The location as configured.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The object of a lake-relative path (`events/day=…/part-….parquet`).
    fn object(&self, rel: &str) -> ObjectPath {
        rel.split('/')
            .filter(|p| !p.is_empty())
            .fold(self.prefix.clone(), |p, part| p.join(part))
    }

    /// Where a retired segment waits for deletion.
    fn trash_object(&self, rel: &str) -> ObjectPath {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        self.prefix.clone().join(".trash").join(name)
    }

    fn err(&self, what: &str, rel: &str, e: object_store::Error) -> StoreError {
        StoreError::Remote(format!(
            "{what} {}/{rel}: {e}",
            self.url.trim_end_matches('/')
        ))
    }

    /// Runs `f` to completion on the remote's runtime, from any thread.
    fn block<T: Send>(&self, f: impl std::future::Future<Output = T> + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| self.runtime.block_on(f))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Claims the location for the data directory `id` (`_auditwatch/writer`, created
    /// only if absent). Refused when another data directory claimed it: two catalogs
    /// writing one location would retire each other's segments.
    pub fn claim_writer(&self, id: &str) -> Result<()> {
        let marker = self.prefix.clone().join("_auditwatch").join("writer");
        let opts = PutOptions::from(PutMode::Create);
        let payload = PutPayload::from(Bytes::from(id.to_string()));
        match self.block(self.store.put_opts(&marker, payload, opts)) {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let existing = self
                    .block(async { self.store.get(&marker).await?.bytes().await })
                    .map_err(|e| self.err("read", "_auditwatch/writer", e))?;
                let existing = String::from_utf8_lossy(&existing).trim().to_string();
                if existing == id {
                    return Ok(());
                }
                Err(StoreError::InvalidRequest(format!(
                    "lake location {} is already written by another data directory (writer \
                     {existing}); give this one another prefix, or copy that data \
                     directory's catalog here to read it",
                    self.url
                )))
            }
            Err(e) => Err(self.err("claim", "_auditwatch/writer", e)),
        }
    }

    /// Uploads the local segment file `local` as `rel`, streamed in parts of
    /// [`UPLOAD_PART_BYTES`] (a compacted segment is ~100 MB; memory holds a few parts).
    pub fn upload(&self, local: &Path, rel: &str) -> Result<()> {
        use std::io::Read;
        let mut file = std::fs::File::open(local).io("read", local)?;
        let object = self.object(rel);
        let uploaded: Result<()> = self.block(async {
            let upload = self
                .store
                .put_multipart(&object)
                .await
                .map_err(|e| self.err("upload", rel, e))?;
            let mut parts = WriteMultipart::new_with_chunk_size(upload, UPLOAD_PART_BYTES);
            let mut buf = vec![0u8; UPLOAD_PART_BYTES];
            loop {
                let n = file.read(&mut buf).io("read", local)?;
                if n == 0 {
                    break;
                }
                parts
                    .wait_for_capacity(2)
                    .await
                    .map_err(|e| self.err("upload", rel, e))?;
                parts.write(&buf[..n]);
            }
            parts
                .finish()
                .await
                .map_err(|e| self.err("upload", rel, e))?;
            Ok(())
        });
        uploaded
    }

    /// A local copy of segment `rel` at `dest` (downloaded through the lake's staging
    /// folder, then renamed into place), from its place or from the remote trash.
    pub fn fetch(&self, lake: &Path, rel: &str, dest: &Path) -> Result<()> {
        let staging = segment::staging_dir(lake);
        std::fs::create_dir_all(&staging).io("create", &staging)?;
        let tmp = staging.join(format!(
            "fetch-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        // Streamed into the staging file, chunk by chunk.
        let fetched: Result<()> = self.block(async {
            use std::io::Write;
            let got = match self.store.get(&self.object(rel)).await {
                Err(object_store::Error::NotFound { .. }) => {
                    self.store.get(&self.trash_object(rel)).await
                }
                other => other,
            };
            let mut chunks = got
                .map_err(|e| self.download_err(rel, dest, e))?
                .into_stream();
            let mut out = std::fs::File::create(&tmp).io("write", &tmp)?;
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| self.download_err(rel, dest, e))?;
                out.write_all(&chunk).io("write", &tmp)?;
            }
            Ok(())
        });
        if let Err(e) = fetched {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).io("create", dir)?;
        }
        std::fs::rename(&tmp, dest).io("move into place", dest)?;
        Ok(())
    }

    /// A download's error; gone from both places (retired and purged) reads as a
    /// missing local file.
    fn download_err(&self, rel: &str, dest: &Path, e: object_store::Error) -> StoreError {
        match e {
            object_store::Error::NotFound { .. } => StoreError::Io {
                op: "download",
                path: dest.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()),
            },
            e => self.err("download", rel, e),
        }
    }

    /// Reads segment `rel` remotely (for DataFusion's reads), from its place or from
    /// the remote trash.
    pub async fn get(&self, rel: &str, options: GetOptions) -> object_store::Result<GetResult> {
        match self
            .store
            .get_opts(&self.object(rel), options.clone())
            .await
        {
            Err(object_store::Error::NotFound { .. }) => {
                self.store.get_opts(&self.trash_object(rel), options).await
            }
            other => other,
        }
    }

    /// Reads byte ranges of segment `rel` remotely (the store coalesces near ranges
    /// into one request), from its place or from the remote trash.
    pub async fn get_ranges(
        &self,
        rel: &str,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        match self.store.get_ranges(&self.object(rel), ranges).await {
            Err(object_store::Error::NotFound { .. }) => {
                self.store.get_ranges(&self.trash_object(rel), ranges).await
            }
            other => other,
        }
    }

    /// Moves segment `rel` to the remote trash.
    pub fn retire(&self, rel: &str) -> Result<()> {
        let (from, to) = (self.object(rel), self.trash_object(rel));
        self.block(self.store.rename(&from, &to))
            .map_err(|e| self.err("retire", rel, e))
    }

    /// Deletes remote trash older than `grace`. Failures are left for the next time.
    fn purge_trash(&self, grace: Duration) {
        let trash = self.prefix.clone().join(".trash");
        let now = chrono::Utc::now();
        let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        self.block(async {
            let mut list = self.store.list(Some(&trash));
            while let Some(Ok(meta)) = list.next().await {
                if now - meta.last_modified >= grace {
                    let _ = self.store.delete(&meta.location).await;
                }
            }
        });
    }

    /// Segment paths (lake-relative) in the remote table folder, with their upload
    /// times.
    fn list_segments(&self) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>)>> {
        let events = self.prefix.clone().join("events");
        let skip = self.prefix.parts().count();
        self.block(async {
            let mut out = Vec::new();
            let mut list = self.store.list(Some(&events));
            while let Some(meta) = list.next().await {
                let meta = meta?;
                let parts: Vec<String> = meta
                    .location
                    .parts()
                    .skip(skip)
                    .map(|p| p.as_ref().to_string())
                    .collect();
                out.push((parts.join("/"), meta.last_modified));
            }
            Ok(out)
        })
        .map_err(|e| self.err("list", "events", e))
    }
}

/// The local path of segment `rel` of `lake`, fetched from `remote` first when this
/// machine has no copy (in its place or retired to the local trash); after a fetch,
/// the cache is trimmed among the segments `listed` returns.
pub fn local_segment(
    lake: &Path,
    remote: Option<&Remote>,
    rel: &str,
    listed: impl FnOnce() -> Result<Vec<auditwatch_catalog::Segment>>,
) -> Result<PathBuf> {
    let path = lake.join(rel);
    if path.exists() {
        return Ok(path);
    }
    if let Some(retired) = segment::retired_path(lake, &path).filter(|p| p.exists()) {
        return Ok(retired);
    }
    if let Some(remote) = remote {
        remote.fetch(lake, rel, &path)?;
        remote.trim_cache(lake, &listed()?, Some(&path));
    }
    Ok(path)
}

//! The single writer of a lake: stages converted batches, drops duplicates against all
//! history, writes one sorted segment per day and registers segments and source
//! checkpoints in one catalog transaction.
//!
//! One writer per data directory at a time, enforced by an OS file lock: a second
//! `ingest` waits for nothing and fails with a clear message instead of racing.
//! Several data directories may write one table through a shared catalog
//! ([`auditwatch_catalog::postgres`]): a commit that finds another node stored some of its events
//! first reads the segments it missed and is made again, without those events.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::TimestampMicrosecondType;

use crate::error::{IoContext, Result, StoreError};
use crate::storage::remote::Remote;
use crate::write::convert::DayBatch;
use crate::write::dedup::DedupIndex;
use crate::write::segment;
use auditwatch_catalog::keys::to_blob;
use auditwatch_catalog::{Catalog, DayGuard, NewSegment, SourceObject};

/// How long retired files wait in `.trash` before deletion, so that a query that
/// planned them a moment ago still finds them.
pub const TRASH_GRACE: Duration = Duration::from_secs(600);

/// Most event keys the dedup cache keeps between commits (16 bytes each): about two
/// busy days of 10 M events a week. Ingest feeds days in order, so older days are
/// rarely asked for again; when they are, their keys are read back from the catalog.
const MAX_CACHED_KEYS: usize = 3_000_000;

/// Attempts at one commit when other nodes keep storing the same events first.
const COMMIT_ATTEMPTS: u32 = 8;

/// The pause before the next attempt after a conflict: random within a window that
/// doubles each time (50 ms, 100 ms, … 3.2 s), so nodes that clashed do not clash
/// again in lock step.
fn conflict_pause(attempt: u32) -> std::time::Duration {
    use rand::Rng;
    let window = 50u64 << attempt.saturating_sub(1).min(6);
    std::time::Duration::from_millis(rand::rng().random_range(window / 2..=window))
}

/// What one commit did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Events newly stored.
    pub added: u64,
    /// Events dropped because the lake (or the same batch) already had them.
    pub duplicates: u64,
    /// Segments written.
    pub segments: u64,
}

/// The lake's writer. Holds the write lock until dropped.
#[derive(Debug)]
pub struct Writer {
    lake: PathBuf,
    catalog: Catalog,
    _lock: File,
    dedup: DedupIndex,
    pending: Vec<DayBatch>,
    sources: Vec<SourceObject>,
    pending_rows: usize,
    pending_bytes: usize,
    /// The segments' remote location ([`crate::storage::remote`]), if any.
    remote: Option<Arc<Remote>>,
}

impl Writer {
    pub(crate) fn open(
        data_dir: &Path,
        lake: PathBuf,
        catalog: Catalog,
        remote: Option<Arc<Remote>>,
    ) -> Result<Self> {
        let lock_path = data_dir.join("write.lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .io("open", &lock_path)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked(data_dir.to_path_buf()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e).io("lock", &lock_path),
        }
        let writer = Self {
            lake,
            catalog,
            _lock: lock,
            dedup: DedupIndex::default(),
            pending: Vec::new(),
            sources: Vec::new(),
            pending_rows: 0,
            pending_bytes: 0,
            remote,
        };
        writer.clean_up()?;
        // An empty table's sessions index is complete, and this writer's commits keep
        // it so: the one-time fill (`Store::index_sessions`) has nothing to read.
        let table = writer.catalog.table();
        if table.segment_count()? == 0 && table.meta(super::sessions::INDEXED)?.is_none() {
            table.set_meta(super::sessions::INDEXED, "1")?;
        }
        Ok(writer)
    }

    /// The catalog this writer commits to.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Whether a source object was already taken whole with the same size and
    /// modification time (files) or ETag (objects). Rejected and partial objects are
    /// read again so their errors are reported again.
    pub fn already_taken(
        &self,
        location: &str,
        size: u64,
        mtime: Option<i64>,
        etag: Option<&str>,
    ) -> Result<bool> {
        Ok(self.catalog.source(location)?.is_some_and(|s| {
            matches!(s.status.as_str(), "done" | "skipped")
                && s.size == Some(size)
                && s.mtime == mtime
                && s.etag.as_deref() == etag
        }))
    }

    /// Adds the converted records of one source object, to be committed with it.
    pub fn stage(&mut self, batches: Vec<DayBatch>, source: SourceObject) {
        for b in &batches {
            self.pending_rows += b.batch.num_rows();
            self.pending_bytes += b.batch.get_array_memory_size();
        }
        self.pending.extend(batches);
        self.sources.push(source);
    }

    /// Rows staged and not yet committed.
    pub fn pending_rows(&self) -> usize {
        self.pending_rows
    }

    /// Memory held by staged rows, in bytes.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Makes everything staged durable and visible, atomically.
    pub fn commit(&mut self) -> Result<CommitStats> {
        let pending = std::mem::take(&mut self.pending);
        let sources = std::mem::take(&mut self.sources);
        self.pending_rows = 0;
        self.pending_bytes = 0;
        if pending.is_empty() && sources.is_empty() {
            return Ok(CommitStats::default());
        }
        let mut by_day: BTreeMap<i32, Vec<DayBatch>> = BTreeMap::new();
        for b in pending {
            by_day.entry(b.day).or_default().push(b);
        }
        let mut attempt = 1;
        loop {
            match self.try_commit(&by_day, &sources) {
                // The next attempt catches up on exactly the segments that clashed.
                Err(StoreError::Conflict(why)) if attempt < COMMIT_ATTEMPTS => {
                    tracing::info!(attempt, %why, "commit conflict: retrying");
                    std::thread::sleep(conflict_pause(attempt));
                    attempt += 1;
                }
                done => return done,
            }
        }
    }

    /// One attempt at [`Writer::commit`]: drop duplicates, write and publish the
    /// segments, register them with their keys checked against what other writers
    /// listed meanwhile.
    fn try_commit(
        &mut self,
        by_day: &BTreeMap<i32, Vec<DayBatch>>,
        sources: &[SourceObject],
    ) -> Result<CommitStats> {
        // What other writers listed since (a shared catalog has several): one small
        // read per day, so a retry after a conflict builds on what clashed.
        self.dedup.catch_up(&self.catalog, by_day.keys().copied())?;
        let mut stats = CommitStats::default();
        let mut written: Vec<(NewSegment, Vec<u128>)> = Vec::new();
        let started = std::time::Instant::now();
        let mut picking = std::time::Duration::ZERO;
        let result = (|| -> Result<()> {
            for (&day, batches) in by_day {
                let pick_started = std::time::Instant::now();
                let Picks {
                    at,
                    keys,
                    duplicates,
                } = self.unique_sorted(day, batches)?;
                picking += pick_started.elapsed();
                stats.duplicates += duplicates;
                if at.is_empty() {
                    continue;
                }
                let sources: Vec<&RecordBatch> = batches.iter().map(|b| &b.batch).collect();
                let rows = segment::Rows::Picked {
                    sources: &sources,
                    at: &at,
                };
                let seg = segment::write_rows(&self.lake, day, rows)?;
                stats.added += seg.rows;
                stats.segments += 1;
                let mut sorted = keys;
                sorted.sort_unstable();
                written.push((
                    NewSegment {
                        segment: seg,
                        keys: to_blob(&sorted),
                        // A key recorded before keeps the record the index
                        // prefers (`auditwatch_catalog` sessions), whichever came first.
                        sessions: sorted_sessions(batches),
                    },
                    sorted,
                ));
            }
            Ok(())
        })();
        let wrote = started.elapsed();
        let committed = result.and_then(|()| {
            crate::failpoint::hit("store.segments_written");
            let added: Vec<NewSegment> = written.iter().map(|(s, _)| s.clone()).collect();
            let guards: Vec<DayGuard<'_>> = written
                .iter()
                .map(|(s, keys)| DayGuard {
                    day: s.segment.day,
                    after: self.dedup.newest(s.segment.day),
                    keys,
                })
                .collect();
            self.publish(&added)?;
            crate::failpoint::hit("store.segments_uploaded");
            let ids = self.catalog.commit(&added, &[], sources, true, &guards)?;
            crate::failpoint::hit("store.catalog_committed");
            Ok(ids)
        });
        tracing::debug!(
            rows = stats.added,
            duplicates = stats.duplicates,
            segments = stats.segments,
            dedup_and_order_ms = picking.as_millis() as u64,
            write_ms = (wrote - picking).as_millis() as u64,
            publish_and_catalog_ms = (started.elapsed() - wrote).as_millis() as u64,
            "commit"
        );
        match committed {
            Ok(ids) => {
                for ((seg, keys), id) in written.into_iter().zip(ids) {
                    self.dedup.add(seg.segment.day, id, keys);
                }
                self.trim_cache()?;
                if self.dedup.cached_keys() > MAX_CACHED_KEYS {
                    self.dedup.clear();
                }
                Ok(stats)
            }
            Err(e) => {
                let unlisted: Vec<NewSegment> = written.into_iter().map(|(s, _)| s).collect();
                self.discard(&unlisted);
                Err(e)
            }
        }
    }

    /// Uploads new segments to the remote location, if any, before the catalog lists
    /// them.
    fn publish(&self, added: &[NewSegment]) -> Result<()> {
        if let Some(remote) = &self.remote {
            for new in added {
                let path = &new.segment.path;
                remote.upload(&self.lake.join(path), path)?;
            }
        }
        Ok(())
    }

    /// Removes segments that were written (and perhaps uploaded) but not registered.
    fn discard(&self, unlisted: &[NewSegment]) {
        for new in unlisted {
            let path = &new.segment.path;
            let _ = fs::remove_file(self.lake.join(path));
            if let Some(remote) = &self.remote {
                let _ = remote.retire(path);
            }
        }
    }

    /// A local copy of a listed segment, fetched from the remote location when this
    /// machine has none.
    pub fn segment_file(&self, segment: &auditwatch_catalog::Segment) -> Result<PathBuf> {
        crate::storage::remote::local_segment(
            &self.lake,
            self.remote.as_deref(),
            &segment.path,
            || Ok(self.catalog.segments()?),
        )
    }

    /// Picks a day's fresh rows: drops rows whose key is already stored or repeated,
    /// and orders the rest by eventTime (ties keep their arrival order). The segment
    /// writer copies the picked rows a row group at a time.
    fn unique_sorted(&mut self, day: i32, batches: &[DayBatch]) -> Result<Picks> {
        let mut picks: Vec<(i64, usize, usize, u128)> = Vec::new();
        let mut seen = HashSet::new();
        let mut dups = 0;
        for (bi, b) in batches.iter().enumerate() {
            let times = b.batch.column(0).as_primitive::<TimestampMicrosecondType>();
            for (ri, k) in b.keys.iter().enumerate() {
                if seen.insert(k.0) && !self.dedup.contains(&self.catalog, day, *k)? {
                    picks.push((times.value(ri), bi, ri, k.0));
                } else {
                    dups += 1;
                }
            }
        }
        picks.sort_by_key(|p| p.0);
        let at = picks.iter().map(|p| (p.1, p.2)).collect();
        let keys = picks.into_iter().map(|p| p.3).collect();
        Ok(Picks {
            at,
            keys,
            duplicates: dups,
        })
    }

    /// Removes what a crash may have left: staging files, and table files the catalog
    /// does not list (moved to `.trash`); deletes trash older than the grace period.
    fn clean_up(&self) -> Result<()> {
        let staging = segment::staging_dir(&self.lake);
        if let Ok(entries) = fs::read_dir(&staging) {
            for e in entries.flatten() {
                let _ = fs::remove_file(e.path());
            }
        }
        let listed_now = || -> Result<HashSet<String>> {
            Ok(self
                .catalog
                .segments()?
                .into_iter()
                .map(|s| s.path)
                .collect())
        };
        let listed = listed_now()?;
        let events = self.lake.join("events");
        if let Ok(days) = fs::read_dir(&events) {
            for day in days.flatten() {
                let Ok(files) = fs::read_dir(day.path()) else {
                    continue;
                };
                for f in files.flatten() {
                    let rel = format!(
                        "events/{}/{}",
                        day.file_name().to_string_lossy(),
                        f.file_name().to_string_lossy()
                    );
                    if !listed.contains(&rel) {
                        move_to_trash(&self.lake, &f.path())?;
                    }
                }
            }
        }
        purge_trash(&self.lake, TRASH_GRACE);
        if let Some(remote) = &self.remote {
            remote.sweep(TRASH_GRACE, self.catalog.is_shared(), listed_now)?;
        }
        Ok(())
    }

    /// Retires segments (after compaction) and registers their replacement in one
    /// transaction, then moves the retired files out of the table folder.
    pub(crate) fn swap(
        &mut self,
        added: Vec<(NewSegment, Vec<u128>)>,
        retired: &[(i64, String)],
    ) -> Result<()> {
        let new: Vec<NewSegment> = added.iter().map(|(s, _)| s.clone()).collect();
        let ids: Vec<i64> = retired.iter().map(|(id, _)| *id).collect();
        let committed = self
            .publish(&new)
            .and_then(|()| Ok(self.catalog.commit(&new, &ids, &[], false, &[])?));
        let new_ids = match committed {
            Ok(ids) => ids,
            Err(e) => {
                self.discard(&new);
                return Err(e);
            }
        };
        self.dedup.retire(&ids);
        for ((seg, keys), id) in added.into_iter().zip(new_ids) {
            self.dedup.add(seg.segment.day, id, keys);
        }
        for (_, path) in retired {
            let local = self.lake.join(path);
            if local.exists() {
                move_to_trash(&self.lake, &local)?;
            }
            // Registered already: a failure here leaves the old object in the table
            // folder until the next writer's clean-up retires it.
            if let Some(remote) = &self.remote
                && let Err(e) = remote.retire(path)
            {
                tracing::warn!(error = %e, "retiring a merged-away segment remotely");
            }
        }
        self.trim_cache()
    }

    /// Trims the local copies of remote segments to the cache limit, if any.
    fn trim_cache(&self) -> Result<()> {
        if let Some(remote) = &self.remote {
            remote.trim_cache(&self.lake, &self.catalog.segments()?, None);
        }
        Ok(())
    }

    /// The lake root.
    pub fn lake(&self) -> &Path {
        &self.lake
    }
}

/// A day's fresh rows in eventTime order, as [`Writer::unique_sorted`] picks them.
struct Picks {
    /// Where each row is: (batch, row).
    at: Vec<(usize, usize)>,
    /// Each row's eventID key, in the same order.
    keys: Vec<u128>,
    /// Rows dropped as already stored or repeated.
    duplicates: u64,
}

fn move_to_trash(lake: &Path, file: &Path) -> Result<()> {
    let trash = segment::trash_dir(lake);
    fs::create_dir_all(&trash).io("create", &trash)?;
    let Some(dest) = segment::retired_path(lake, file) else {
        return Ok(()); // not a file: nothing to move
    };
    fs::rename(file, &dest).io("move to trash", file)?;
    Ok(())
}

/// Deletes trash files older than `grace`.
pub fn purge_trash(lake: &Path, grace: Duration) {
    let Ok(entries) = fs::read_dir(segment::trash_dir(lake)) else {
        return;
    };
    let now = SystemTime::now();
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_none_or(|age| age >= grace);
        if old {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// The sessions a day's batches issued, by access key: inserted in key order, the
/// index's B-tree is written page after page instead of at random.
fn sorted_sessions(batches: &[DayBatch]) -> Vec<auditwatch_event::identity::Issued> {
    let mut all: Vec<_> = batches.iter().flat_map(|b| b.sessions.clone()).collect();
    all.sort_unstable_by(|a, b| a.access_key_id.cmp(&b.access_key_id));
    all
}

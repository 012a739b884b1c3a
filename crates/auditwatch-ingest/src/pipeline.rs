//! The ingest pipeline: decoders on every core, one committer.
//!
//! Workers read and decode whole inputs and send converted batches over a bounded
//! channel (so memory holds a few inputs at a time); the calling thread stages them
//! in the store's writer and commits every `commit_rows` rows. An input's checkpoint
//! is staged after its records, so it is never committed before them: after a crash
//! an input is either recorded as taken with all its events, or read again (and its
//! events already stored are dropped as duplicates).

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use auditwatch_event::{Limits, decode::is_zip};
use auditwatch_store::write::convert::DayBatch;
use auditwatch_store::{SourceObject, Store, StoreError, Writer};
use crossbeam_channel::bounded;

use crate::decode::{Outcome, decode_document, decode_json, skip_by_name};
use crate::files::{LocalFile, list};
use crate::filter::EventFilter;
use crate::report::Summary;

/// Tuning of one run.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Size caps on inputs.
    pub limits: Limits,
    /// Commit after this many staged rows.
    pub commit_rows: usize,
    /// Commit after this many staged bytes (Arrow memory).
    pub commit_bytes: usize,
    /// Decoder threads.
    pub threads: usize,
    /// Which events to keep (default: all).
    pub filter: EventFilter,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            commit_rows: 250_000,
            commit_bytes: 160 << 20,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            filter: EventFilter::default(),
        }
    }
}

/// Receives progress as the run goes.
pub trait Observer: Send {
    /// The inputs are listed: how many files and bytes will be read.
    fn planned(&mut self, _files: u64, _bytes: u64) {}
    /// One file was decoded.
    fn file_done(&mut self, _bytes: u64, _events: u64) {}
    /// A commit finished.
    fn committed(&mut self, _summary: &Summary) {}
}

impl Observer for () {}

/// What identifies the version of a source object that was read: its checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectId {
    /// File path, or `s3://bucket/key`.
    pub location: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time (seconds) of a file.
    pub mtime: Option<i64>,
    /// ETag of an S3 object.
    pub etag: Option<String>,
}

/// Everything a decoder learned about one input (or one archive entry).
#[derive(Debug)]
pub struct Unit {
    /// The input, or `archive!entry`.
    pub location: String,
    /// What it held.
    pub body: Body,
    /// The checkpoint to commit with this unit (the last unit of a file carries it).
    pub checkpoint: Option<ObjectId>,
    /// Compressed bytes read.
    pub bytes: u64,
}

/// A decoded document, or the end of an archive whose entries were sent before.
#[derive(Debug)]
pub enum Body {
    /// A decoded document.
    Document(Outcome),
    /// The end of a zip archive.
    ArchiveEnd,
}

/// The single committer of a run: stages decoded units with their checkpoints and
/// commits when enough is staged. Sources other than local files (S3, SQS) feed it too.
pub struct Committer<'o> {
    writer: Writer,
    summary: Summary,
    /// Archives with a rejected entry, until their own checkpoint is staged.
    troubled_archives: HashSet<String>,
    observer: &'o mut dyn Observer,
    commit_rows: usize,
    commit_bytes: usize,
}

impl<'o> Committer<'o> {
    /// A committer over `writer`, committing at the thresholds of `opts`.
    pub fn new(writer: Writer, opts: &IngestOptions, observer: &'o mut dyn Observer) -> Self {
        Self {
            writer,
            summary: Summary::default(),
            troubled_archives: HashSet::new(),
            observer,
            commit_rows: opts.commit_rows,
            commit_bytes: opts.commit_bytes,
        }
    }

    /// The writer (for checkpoint look-ups).
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// The totals so far (committed and staged).
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The observer, for sources that report progress themselves.
    pub fn observer(&mut self) -> &mut dyn Observer {
        self.observer
    }

    /// Stages one unit and accounts for it.
    pub fn take(&mut self, unit: Unit) {
        take(
            &mut self.writer,
            &mut self.summary,
            &mut self.troubled_archives,
            unit,
            self.observer,
        );
    }

    /// Stages a checkpoint with no events (an object that failed or was quarantined),
    /// so that its state and reason are recorded with the next commit.
    pub fn record(&mut self, source: SourceObject) {
        self.writer.stage(Vec::new(), source);
    }

    /// Commits when the staged rows or bytes reached the thresholds.
    pub fn commit_if_due(&mut self) -> Result<(), IngestError> {
        if self.writer.pending_rows() >= self.commit_rows
            || self.writer.pending_bytes() >= self.commit_bytes
        {
            self.commit()?;
        }
        Ok(())
    }

    /// Commits everything staged: events and checkpoints become visible together.
    pub fn commit(&mut self) -> Result<(), IngestError> {
        commit(&mut self.writer, &mut self.summary, self.observer)
    }

    /// Commits what is left and returns the totals.
    pub fn finish(mut self) -> Result<Summary, IngestError> {
        self.commit()?;
        Ok(self.summary)
    }
}

/// Ingests local files and folders.
pub fn ingest_paths(
    store: &Store,
    inputs: &[PathBuf],
    opts: &IngestOptions,
    observer: &mut dyn Observer,
) -> Result<Summary, IngestError> {
    let (files, _ignored) = list(inputs).map_err(|e| IngestError::Input(e.to_string()))?;
    let writer = store.writer()?;
    let mut todo = Vec::new();
    let mut unchanged = 0;
    for f in files {
        let location = f.path.display().to_string();
        if writer.already_taken(&location, f.size, f.mtime, None)? {
            unchanged += 1;
        } else {
            todo.push(f);
        }
    }
    // Files in date order (from the S3 layout, when the path follows it), so that each
    // commit covers few days and writes few, larger segments.
    todo.sort_by_cached_key(|f| {
        let path = f.path.display().to_string();
        let date = auditwatch_event::layout::parse_key(&path).and_then(|k| k.date);
        (date, path)
    });
    observer.planned(todo.len() as u64, todo.iter().map(|f| f.size).sum());
    let mut committer = Committer::new(writer, opts, observer);
    committer.summary.files_unchanged = unchanged;
    let threads = opts.threads.max(1);
    let (work_tx, work_rx) = bounded::<LocalFile>(todo.len().max(1));
    let (unit_tx, unit_rx) = bounded::<Unit>(threads * 2);
    for f in todo {
        work_tx.send(f).expect("receiver alive");
    }
    drop(work_tx);
    std::thread::scope(|scope| -> Result<(), IngestError> {
        for _ in 0..threads {
            let work_rx = work_rx.clone();
            let unit_tx = unit_tx.clone();
            let limits = opts.limits.clone();
            let filter = opts.filter.clone();
            scope.spawn(move || {
                for file in work_rx {
                    if !read_file(file, &limits, &filter, &unit_tx) {
                        break;
                    }
                }
            });
        }
        drop(unit_tx);
        let result = (|| {
            for unit in &unit_rx {
                committer.take(unit);
                committer.commit_if_due()?;
            }
            committer.commit()
        })();
        // On error, stop the workers by dropping the receiver.
        drop(unit_rx);
        result
    })?;
    Ok(committer.summary)
}

fn commit(
    writer: &mut Writer,
    summary: &mut Summary,
    observer: &mut dyn Observer,
) -> Result<(), IngestError> {
    let stats = writer.commit()?;
    summary.events_added += stats.added;
    summary.duplicates += stats.duplicates;
    observer.committed(summary);
    Ok(())
}

/// Reads and decodes one file, sending one unit per document. Returns false when the
/// committer has gone away.
fn read_file(
    file: LocalFile,
    limits: &Limits,
    filter: &EventFilter,
    tx: &crossbeam_channel::Sender<Unit>,
) -> bool {
    let location = file.path.display().to_string();
    let checkpoint = || {
        Some(ObjectId {
            location: location.clone(),
            size: file.size,
            mtime: file.mtime,
            etag: None,
        })
    };
    if let Some(reason) = skip_by_name(&location) {
        return tx
            .send(Unit {
                location: location.clone(),
                body: Body::Document(Outcome::Skipped(reason)),
                checkpoint: checkpoint(),
                bytes: file.size,
            })
            .is_ok();
    }
    let mut head = [0u8; 4];
    let opened = File::open(&file.path).and_then(|mut f| {
        let n = f.read(&mut head)?;
        Ok((f, n))
    });
    let (_, n) = match opened {
        Ok(v) => v,
        Err(e) => {
            let outcome = Outcome::Rejected(format!("cannot read: {e}"));
            return tx
                .send(Unit {
                    location: location.clone(),
                    body: Body::Document(outcome),
                    checkpoint: checkpoint(),
                    bytes: 0,
                })
                .is_ok();
        }
    };
    if is_zip(&head[..n]) {
        let (body, bytes) = match read_zip(&location, &file, limits, filter, tx) {
            Ok(false) => return false,
            Ok(true) => (Body::ArchiveEnd, file.size),
            Err(reason) => (Body::Document(Outcome::Rejected(reason)), file.size),
        };
        return tx
            .send(Unit {
                location: location.clone(),
                body,
                checkpoint: checkpoint(),
                bytes,
            })
            .is_ok();
    }
    let outcome = match std::fs::read(&file.path) {
        Ok(bytes) if bytes.len() as u64 > limits.max_decompressed => Outcome::Rejected(format!(
            "file larger than the {} byte cap",
            limits.max_decompressed
        )),
        Ok(bytes) => decode_document(&location, &bytes, limits, filter),
        Err(e) => Outcome::Rejected(format!("cannot read: {e}")),
    };
    tx.send(Unit {
        location: location.clone(),
        body: Body::Document(outcome),
        checkpoint: checkpoint(),
        bytes: file.size,
    })
    .is_ok()
}

/// Sends one unit per archive entry. `Ok(false)` when the committer has gone away;
/// `Err` when the archive as a whole cannot be read or breaks a limit.
fn read_zip(
    location: &str,
    file: &LocalFile,
    limits: &Limits,
    filter: &EventFilter,
    tx: &crossbeam_channel::Sender<Unit>,
) -> Result<bool, String> {
    let reader = File::open(&file.path)
        .map(std::io::BufReader::new)
        .map_err(|e| format!("cannot read: {e}"))?;
    let mut alive = true;
    auditwatch_event::archive::for_each_entry(reader, limits, |name, decoded| {
        if !alive {
            return;
        }
        let entry = format!("{location}!{name}");
        let outcome = match decoded {
            Ok(doc) => match skip_by_name(name) {
                Some(reason) => Outcome::Skipped(reason),
                None => decode_json(&entry, &doc, filter),
            },
            Err(e) => Outcome::Rejected(e.to_string()),
        };
        alive = tx
            .send(Unit {
                location: entry,
                body: Body::Document(outcome),
                checkpoint: None,
                bytes: 0,
            })
            .is_ok();
    })
    .map_err(|e| e.to_string())?;
    Ok(alive)
}

/// Stages one unit and accounts for it. Units of a zip archive carry no checkpoint;
/// the archive's own checkpoint follows them.
fn take(
    writer: &mut Writer,
    summary: &mut Summary,
    troubled_archives: &mut HashSet<String>,
    unit: Unit,
    observer: &mut dyn Observer,
) {
    let problems_before = summary.files_rejected + summary.records_rejected;
    let mut status = "done";
    let mut reason = None;
    let mut records = 0;
    let mut errors = 0;
    let mut batches: Vec<DayBatch> = Vec::new();
    match unit.body {
        Body::ArchiveEnd => {
            if troubled_archives.remove(&unit.location) {
                status = "partial";
                reason = Some("some archive entries were rejected".into());
            }
        }
        Body::Document(Outcome::Events {
            batches: b,
            records: r,
            errors: e,
            filtered,
        }) => {
            summary.files_read += 1;
            summary.events_read += r - e.len() as u64;
            summary.events_filtered += filtered;
            summary.records_rejected += e.len() as u64;
            records = r;
            errors = e.len() as u64;
            if let Some(first) = e.first() {
                status = "partial";
                reason = Some(format!(
                    "{} of {r} records rejected; first: {first}",
                    e.len()
                ));
            }
            for err in e {
                summary.problem(
                    format!("{}#record {}", unit.location, err.index),
                    format!("byte {}: {}", err.offset, err.reason),
                );
            }
            batches = b;
        }
        Body::Document(Outcome::Skipped(why)) => {
            summary.files_skipped += 1;
            status = "skipped";
            reason = Some(why);
        }
        Body::Document(Outcome::Rejected(why)) => {
            summary.files_rejected += 1;
            summary.problem(&unit.location, &why);
            status = "rejected";
            reason = Some(why);
        }
    }
    summary.bytes_read += unit.bytes;
    if unit.checkpoint.is_none()
        && summary.files_rejected + summary.records_rejected > problems_before
        && let Some((archive, _)) = unit.location.split_once('!')
    {
        troubled_archives.insert(archive.to_string());
    }

    observer.file_done(unit.bytes, records - errors);
    let source = match unit.checkpoint {
        Some(c) => SourceObject {
            location: c.location,
            size: Some(c.size),
            mtime: c.mtime,
            etag: c.etag,
            status: status.into(),
            records,
            errors,
            reason,
        },
        None if batches.is_empty() => return,
        None => {
            writer.stage(batches, placeholder(&unit.location));
            return;
        }
    };
    writer.stage(batches, source);
}

/// Archive entries are not checkpoints of their own: they are recorded with a
/// status that `already_taken` never accepts, so only the archive's checkpoint counts.
fn placeholder(location: &str) -> SourceObject {
    SourceObject {
        location: location.to_string(),
        size: None,
        mtime: None,
        etag: None,
        status: "entry".into(),
        records: 0,
        errors: 0,
        reason: None,
    }
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A named input does not exist or cannot be listed.
    #[error("{0}")]
    Input(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

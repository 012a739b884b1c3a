//! The table's part of the catalog, behind one trait: what every node that writes or
//! reads one events table must agree on — the lake's location, the segments and
//! their event keys, the source objects taken, and the queue of segments live
//! detection has not seen. [`crate::sqlite::SqliteTable`] keeps it in the data
//! directory's `catalog.db` (one node); [`crate::postgres::PgCatalog`] in PostgreSQL
//! (several). Both pass the same conformance suite (`tests/conformance.rs`).

use crate::error::Result;

/// One Parquet segment as the catalog lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Catalog id.
    pub id: i64,
    /// Days since the Unix epoch.
    pub day: i32,
    /// Path relative to the lake root (`events/day=…/….parquet`).
    pub path: String,
    /// Row count.
    pub rows: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// Smallest and largest `eventTime` (µs).
    pub min_time: i64,
    /// See `min_time`.
    pub max_time: i64,
    /// Sorted distinct accounts in the segment.
    pub accounts: Vec<String>,
    /// Sorted distinct regions in the segment.
    pub regions: Vec<String>,
}

/// A segment about to be registered (no id yet).
#[derive(Debug, Clone)]
pub struct NewSegment {
    /// Everything but the id (ignored).
    pub segment: Segment,
    /// Its sorted event keys, 16 bytes little-endian each.
    pub keys: Vec<u8>,
    /// The temporary credentials its events issued (`sessions`), recorded with it.
    pub sessions: Vec<auditwatch_event::identity::Issued>,
}

/// What is recorded about one source object after it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceObject {
    /// File path or URL.
    pub location: String,
    /// Size in bytes.
    pub size: Option<u64>,
    /// Modification time (seconds) for files.
    pub mtime: Option<i64>,
    /// ETag for S3 objects.
    pub etag: Option<String>,
    /// `done` (all records taken), `partial` (some records rejected), `rejected`,
    /// `skipped` (a digest or another service's file).
    pub status: String,
    /// Records read.
    pub records: u64,
    /// Records or entries rejected.
    pub errors: u64,
    /// Why, when not `done`.
    pub reason: Option<String>,
}

/// What a writer checked a day's new keys against: the key sets of that day's
/// segments up to id `after`. Under the day's lock, a shared catalog refuses the
/// commit when a segment listed since holds one of `keys` (sorted).
#[derive(Debug, Clone, Copy)]
pub struct DayGuard<'a> {
    /// Days since the Unix epoch.
    pub day: i32,
    /// The newest segment id of that day the writer knew.
    pub after: i64,
    /// The new keys of that day, sorted.
    pub keys: &'a [u128],
}

/// The table's part of the catalog.
///
/// Commits are all or nothing. A commit takes the locks of the event days it
/// touches, checks its `guards` (a segment listed for a guarded day since the
/// writer's look that holds one of its keys refuses the commit with
/// [`CatalogError::Conflict`](crate::CatalogError::Conflict)) and refuses to retire a
/// segment that is gone; the writer then reads what it missed and tries again.
pub trait TableCatalog: Send + Sync + std::fmt::Debug {
    /// What holds the table, for messages ("this data directory", "the shared
    /// catalog postgres://…").
    fn holder(&self) -> String;
    /// A value of the table's meta data (`lake_url`, `lake_writer`).
    fn meta(&self, key: &str) -> Result<Option<String>>;
    /// Records the lake location and its writer's identity unless they were recorded
    /// before; returns what is recorded.
    fn set_lake(&self, url: &str, writer_id: &str) -> Result<(String, String)>;
    /// How many segments are listed.
    fn segment_count(&self) -> Result<i64>;
    /// Every segment, oldest day first (then by id).
    fn segments(&self) -> Result<Vec<Segment>>;
    /// The key blobs of the segments of `day` whose id is above `after`.
    fn day_keys_after(&self, day: i32, after: i64) -> Result<Vec<(i64, Vec<u8>)>>;
    /// The recorded state of a source object.
    fn source(&self, location: &str) -> Result<Option<SourceObject>>;
    /// Every recorded source object whose location starts with `prefix` (compared
    /// byte by byte), in location order.
    fn sources_under(&self, prefix: &str) -> Result<Vec<SourceObject>>;
    /// Recorded source objects under `prefix` not taken whole (partial, rejected,
    /// quarantined, failed), newest first, then by location; at most `limit`.
    fn troubled_sources(&self, prefix: &str, limit: usize) -> Result<Vec<SourceObject>>;
    /// The locations of the digest files taken (`…/CloudTrail-Digest/…`).
    fn digest_locations(&self) -> Result<Vec<String>>;
    /// Source objects by status: (status, objects, records, errors), by status.
    fn source_counts(&self) -> Result<Vec<(String, u64, u64, u64)>>;
    /// Registers `added` (with the sessions their events issued; of two records of a
    /// key the index keeps the one it prefers, whichever came first), retires `retired` and records `sources` in one
    /// transaction; new events (`fresh`, an ingest commit) join the detection queue
    /// in it while a detector is registered. Returns the new segments' ids, in order.
    fn commit(
        &self,
        added: &[NewSegment],
        retired: &[i64],
        sources: &[SourceObject],
        fresh: bool,
        guards: &[DayGuard<'_>],
    ) -> Result<Vec<i64>>;
    /// Registers `node` as the one that runs live detection, unless another node is;
    /// returns the node registered.
    fn claim_detector(&self, node: &str) -> Result<String>;
    /// Unregisters `node` as the detector, if it is, and then empties the queue.
    fn release_detector(&self, node: &str) -> Result<()>;
    /// Segments waiting for detection, oldest first; at most `limit`.
    fn detection_queue(&self, limit: usize) -> Result<Vec<Segment>>;
    /// Ids of the segments waiting for detection.
    fn queued_ids(&self) -> Result<Vec<i64>>;
    /// Takes segments off the detection queue (ids not in it are ignored).
    fn dequeue(&self, ids: &[i64]) -> Result<()>;
    /// Records issues of temporary keys found apart from a commit (the events were
    /// stored before the index existed), as a commit does.
    fn record_sessions(&self, sessions: &[auditwatch_event::identity::Issued]) -> Result<()>;
    /// Sets a value of the table's meta data (`sessions_indexed`).
    fn set_meta(&self, key: &str, value: &str) -> Result<()>;
    /// The recorded issue of the temporary key `access_key_id`, if any.
    fn session(&self, access_key_id: &str) -> Result<Option<auditwatch_event::identity::Issued>>;
    /// The recorded issues of the session named `session_arn` (one per key), newest
    /// first.
    fn sessions_named(&self, session_arn: &str) -> Result<Vec<auditwatch_event::identity::Issued>>;
    /// How many keys are recorded. A commit adds keys or replaces a key's copy by a
    /// preferred one, always with a new segment; retention removes and replaces
    /// copies and then raises [`SESSIONS_GENERATION`]. The count, the newest segment
    /// and that generation together tell a reader whether its copy is current.
    fn sessions_count(&self) -> Result<u64>;
    /// Every recorded issue, in no particular order.
    fn all_sessions(&self) -> Result<Vec<auditwatch_event::identity::Issued>>;
    /// The keys whose walk to their origin may end at one named `value`: the keys
    /// whose issuing call names `value` as its caller (its name, or the last part of
    /// it: an IAM user's or a session's name), as the source identity it set or its
    /// caller carried, or as its session; and, repeatedly, the keys issued to sessions
    /// of keys found. A superset of the keys whose origin `value` names; the walk
    /// decides. (SQLite's text functions stop at a NUL byte, so the keys whose caller
    /// has one in its name are always among them.)
    fn sessions_reaching(&self, value: &str) -> Result<Vec<String>>;
    /// The recorded issues made from `from_us` (inclusive) to `to_us` (exclusive):
    /// those whose issuing calls retention may have dropped.
    fn sessions_between(
        &self,
        from_us: i64,
        to_us: i64,
    ) -> Result<Vec<auditwatch_event::identity::Issued>>;
    /// In one transaction: forgets the keys `dropped` (their issuing calls are no
    /// longer stored), records `copies` (other stored copies of such calls) as a
    /// commit would, and raises [`SESSIONS_GENERATION`].
    fn replace_sessions(
        &self,
        dropped: &[String],
        copies: &[auditwatch_event::identity::Issued],
    ) -> Result<()>;
}

/// The meta key counting retention's changes to the sessions index.
pub const SESSIONS_GENERATION: &str = "sessions_generation";

/// A list of names as the catalogs store it.
pub(crate) fn join(v: &[String]) -> String {
    v.join(",")
}

/// The names [`join`] stored.
pub(crate) fn split(s: String) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(',').map(str::to_string).collect()
    }
}

/// Whether two sorted key lists share a key.
pub(crate) fn intersects(a: &[u128], b: &[u128]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

/// Statuses of a source object taken whole (or set aside on purpose).
pub(crate) const TAKEN: [&str; 3] = ["done", "skipped", "entry"];

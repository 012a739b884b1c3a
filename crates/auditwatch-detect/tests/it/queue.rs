//! Detection's queue: one detecting node over a shared table, and the two-step
//! dequeue (results and `detect_done` in one transaction, then off the queue) on both
//! kinds of table (PostgreSQL started here on loopback, see `auditwatch-catalog`).

use std::sync::Arc;

use auditwatch_catalog::postgres::PgCatalog;
use auditwatch_catalog::sqlite::SqliteTable;
use auditwatch_catalog::testing::postgres;
use auditwatch_catalog::{NewSegment, Segment, TableCatalog};
use auditwatch_detect::state::{AlertPolicy, Detected, DetectionState};

fn new_segment(day: i32, path: &str, keys: &[u128]) -> NewSegment {
    NewSegment {
        segment: Segment {
            id: 0,
            day,
            path: path.into(),
            rows: 1,
            bytes: 1,
            min_time: 0,
            max_time: 0,
            accounts: vec![],
            regions: vec![],
        },
        keys: auditwatch_catalog::keys::to_blob(keys),
        sessions: Vec::new(),
    }
}

#[test]
fn one_node_runs_live_detection_over_what_every_node_commits() {
    let Some(pg) = postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let shared = PgCatalog::connect(&pg.url, None).unwrap();
    let node = |name: &str| {
        let data = dir.path().join(name);
        std::fs::create_dir_all(&data).unwrap();
        let table: Arc<dyn TableCatalog> = shared.clone();
        (DetectionState::open(&data, table.clone()).unwrap(), table)
    };
    let (mut a, _) = node("a");
    let (b, b_table) = node("b");

    // Before any node detects, ingest queues nothing.
    b_table
        .commit(
            &[new_segment(3, "events/day=3/early", &[1])],
            &[],
            &[],
            true,
            &[],
        )
        .unwrap();
    a.set_detection(true).unwrap();
    assert_eq!(a.detection_backlog().unwrap(), 0);
    // A second detector is refused by name; turning detection off on a node that
    // does not run it leaves the detector registered.
    let e = b.set_detection(true).unwrap_err().to_string();
    assert!(e.contains("already runs on another node"), "{e}");
    b.set_detection(false).unwrap();

    // What node b's ingest commits waits in node a's queue; compactions (fresh =
    // false) queue nothing, and compaction anywhere leaves queued segments alone.
    let ids = b_table
        .commit(
            &[new_segment(3, "events/day=3/x", &[2])],
            &[],
            &[],
            true,
            &[],
        )
        .unwrap();
    b_table
        .commit(
            &[new_segment(4, "events/day=4/merged", &[3])],
            &[],
            &[],
            false,
            &[],
        )
        .unwrap();
    let queued: Vec<i64> = a
        .detection_queue(10)
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(queued, ids);
    assert!(b.queued_segment_ids().unwrap().contains(&ids[0]));

    // Once node a recorded its results, the segment is off the queue everywhere.
    a.record_detected(
        &Detected {
            segments: ids.clone(),
            ..Detected::default()
        },
        &AlertPolicy::default(),
        &[],
    )
    .unwrap();
    assert!(a.detection_queue(10).unwrap().is_empty());
    assert_eq!(b.detection_backlog().unwrap(), 0);

    // Node a stops detecting; node b may take over.
    a.set_detection(false).unwrap();
    b.set_detection(true).unwrap();
}

fn detection_results_take_their_segments_off_the_queue_once(
    dir: &std::path::Path,
    table: Arc<dyn TableCatalog>,
) {
    let mut node = DetectionState::open(dir, table.clone()).unwrap();
    node.set_detection(true).unwrap();
    let ids = table
        .commit(
            &[new_segment(1, "a", &[1]), new_segment(1, "b", &[2])],
            &[],
            &[],
            true,
            &[],
        )
        .unwrap();
    assert_eq!(node.detection_backlog().unwrap(), 2);
    let queued: Vec<i64> = node
        .detection_queue(10)
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(queued, ids);
    let done = Detected {
        segments: vec![ids[0]],
        minutes: vec![(60, 3)],
        ..Detected::default()
    };
    node.record_detected(&done, &AlertPolicy::default(), &[])
        .unwrap();
    assert!(
        node.detection_queue(10)
            .unwrap()
            .iter()
            .all(|s| s.id != ids[0])
    );
    assert_eq!(
        node.queued_segment_ids()
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        [ids[1]]
    );
    assert_eq!(node.event_minutes(0, 120).unwrap(), [(60, 3)]);
    node.set_detection(false).unwrap();
    assert_eq!(node.detection_backlog().unwrap(), 0);
}

#[test]
fn detection_results_take_their_segments_off_a_local_queue_once() {
    let dir = tempfile::tempdir().unwrap();
    let table = Arc::new(SqliteTable::new(&dir.path().join("catalog.db")));
    detection_results_take_their_segments_off_the_queue_once(dir.path(), table);
}

#[test]
fn detection_results_take_their_segments_off_a_shared_queue_once() {
    let Some(pg) = postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let table = PgCatalog::connect(&pg.url, None).unwrap();
    detection_results_take_their_segments_off_the_queue_once(dir.path(), table);
}

/// A table whose first `dequeue` fails, as a crash between the results commit and
/// taking the segments off the queue would leave it.
#[derive(Debug)]
struct DequeueFailsOnce {
    inner: SqliteTable,
    failed: std::sync::atomic::AtomicBool,
}

impl TableCatalog for DequeueFailsOnce {
    fn holder(&self) -> String {
        self.inner.holder()
    }
    fn meta(&self, key: &str) -> auditwatch_catalog::Result<Option<String>> {
        self.inner.meta(key)
    }
    fn set_lake(&self, url: &str, writer: &str) -> auditwatch_catalog::Result<(String, String)> {
        self.inner.set_lake(url, writer)
    }
    fn segment_count(&self) -> auditwatch_catalog::Result<i64> {
        self.inner.segment_count()
    }
    fn segments(&self) -> auditwatch_catalog::Result<Vec<Segment>> {
        self.inner.segments()
    }
    fn day_keys_after(
        &self,
        day: i32,
        after: i64,
    ) -> auditwatch_catalog::Result<Vec<(i64, Vec<u8>)>> {
        self.inner.day_keys_after(day, after)
    }
    fn source(
        &self,
        location: &str,
    ) -> auditwatch_catalog::Result<Option<auditwatch_catalog::SourceObject>> {
        self.inner.source(location)
    }
    fn sources_under(
        &self,
        prefix: &str,
    ) -> auditwatch_catalog::Result<Vec<auditwatch_catalog::SourceObject>> {
        self.inner.sources_under(prefix)
    }
    fn troubled_sources(
        &self,
        prefix: &str,
        limit: usize,
    ) -> auditwatch_catalog::Result<Vec<auditwatch_catalog::SourceObject>> {
        self.inner.troubled_sources(prefix, limit)
    }
    fn digest_locations(&self) -> auditwatch_catalog::Result<Vec<String>> {
        self.inner.digest_locations()
    }
    fn source_counts(&self) -> auditwatch_catalog::Result<Vec<(String, u64, u64, u64)>> {
        self.inner.source_counts()
    }
    fn commit(
        &self,
        added: &[NewSegment],
        retired: &[i64],
        sources: &[auditwatch_catalog::SourceObject],
        fresh: bool,
        guards: &[auditwatch_catalog::DayGuard<'_>],
    ) -> auditwatch_catalog::Result<Vec<i64>> {
        self.inner.commit(added, retired, sources, fresh, guards)
    }
    fn claim_detector(&self, node: &str) -> auditwatch_catalog::Result<String> {
        self.inner.claim_detector(node)
    }
    fn release_detector(&self, node: &str) -> auditwatch_catalog::Result<()> {
        self.inner.release_detector(node)
    }
    fn detection_queue(&self, limit: usize) -> auditwatch_catalog::Result<Vec<Segment>> {
        self.inner.detection_queue(limit)
    }
    fn queued_ids(&self) -> auditwatch_catalog::Result<Vec<i64>> {
        self.inner.queued_ids()
    }
    fn record_sessions(
        &self,
        sessions: &[auditwatch_event::identity::Issued],
    ) -> auditwatch_catalog::Result<()> {
        self.inner.record_sessions(sessions)
    }
    fn set_meta(&self, key: &str, value: &str) -> auditwatch_catalog::Result<()> {
        self.inner.set_meta(key, value)
    }
    fn session(
        &self,
        key: &str,
    ) -> auditwatch_catalog::Result<Option<auditwatch_event::identity::Issued>> {
        self.inner.session(key)
    }
    fn sessions_named(
        &self,
        arn: &str,
    ) -> auditwatch_catalog::Result<Vec<auditwatch_event::identity::Issued>> {
        self.inner.sessions_named(arn)
    }
    fn sessions_count(&self) -> auditwatch_catalog::Result<u64> {
        self.inner.sessions_count()
    }
    fn all_sessions(&self) -> auditwatch_catalog::Result<Vec<auditwatch_event::identity::Issued>> {
        self.inner.all_sessions()
    }
    fn sessions_reaching(&self, value: &str) -> auditwatch_catalog::Result<Vec<String>> {
        self.inner.sessions_reaching(value)
    }
    fn sessions_between(
        &self,
        from_us: i64,
        to_us: i64,
    ) -> auditwatch_catalog::Result<Vec<auditwatch_event::identity::Issued>> {
        self.inner.sessions_between(from_us, to_us)
    }
    fn replace_sessions(
        &self,
        dropped: &[String],
        copies: &[auditwatch_event::identity::Issued],
    ) -> auditwatch_catalog::Result<()> {
        self.inner.replace_sessions(dropped, copies)
    }
    fn dequeue(&self, ids: &[i64]) -> auditwatch_catalog::Result<()> {
        if !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(auditwatch_catalog::CatalogError::Invalid(
                "the node stopped before taking its segments off the queue".into(),
            ));
        }
        self.inner.dequeue(ids)
    }
}

#[test]
fn results_recorded_before_a_crash_are_not_counted_again() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.db");
    let failing = Arc::new(DequeueFailsOnce {
        inner: SqliteTable::new(&file),
        failed: std::sync::atomic::AtomicBool::new(false),
    });
    let mut node = DetectionState::open(dir.path(), failing.clone()).unwrap();
    node.set_detection(true).unwrap();
    let ids = failing
        .commit(
            &[new_segment(1, "a", &[1]), new_segment(1, "b", &[2])],
            &[],
            &[],
            true,
            &[],
        )
        .unwrap();
    let done = Detected {
        segments: vec![ids[0]],
        minutes: vec![(60, 3)],
        ..Detected::default()
    };
    assert!(
        node.record_detected(&done, &AlertPolicy::default(), &[])
            .is_err()
    );
    assert_eq!(
        failing.queued_ids().unwrap(),
        ids,
        "still queued, as after a crash"
    );

    // The node starts again: the segment whose results were kept leaves the queue
    // without being detected twice.
    let node = DetectionState::open(dir.path(), Arc::new(SqliteTable::new(&file))).unwrap();
    let queued: Vec<i64> = node
        .detection_queue(10)
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(queued, [ids[1]]);
    assert_eq!(
        node.event_minutes(0, 120).unwrap(),
        [(60, 3)],
        "counted once"
    );
}

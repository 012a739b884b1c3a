//! The shared catalog (`[catalog] url`, PostgreSQL) against a real server: Debian's
//! PostgreSQL started here on loopback with a throwaway cluster. `scripts/test`
//! installs it; without it these tests fail under `AUDITWATCH_REQUIRE_FIXTURES=1`, else record
//! a skip (`auditwatch-fixtures`).

use auditwatch_catalog::NewSegment;
use auditwatch_catalog::postgres::PgCatalog;
use auditwatch_store::testing::{commit_records, postgres};
use auditwatch_store::{
    Catalog, DayGuard, Placement, Scope, Segment, SourceObject, SqlLimits, Store,
};

fn segment(day: i32, path: &str) -> Segment {
    Segment {
        id: 0,
        day,
        path: path.into(),
        rows: 1,
        bytes: 1,
        min_time: 0,
        max_time: 0,
        accounts: vec![],
        regions: vec![],
    }
}

fn new_segment(day: i32, path: &str, keys: &[u128]) -> NewSegment {
    NewSegment {
        segment: segment(day, path),
        keys: auditwatch_catalog::keys::to_blob(keys),
    }
}

#[test]
fn a_commit_is_refused_when_another_node_stored_its_events_first() {
    let Some(pg) = postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let shared = PgCatalog::connect(&pg.url, None).unwrap();
    let mut a = Catalog::open_with(&dir.path().join("a.db"), Some(shared.clone())).unwrap();
    let mut b = Catalog::open_with(&dir.path().join("b.db"), Some(shared)).unwrap();

    // Node a stores keys 1–3 of day 5.
    let keys_a = [1u128, 2, 3];
    let ids = a
        .commit(
            &[new_segment(5, "events/day=5/a", &keys_a)],
            &[],
            &[],
            true,
            &[DayGuard {
                day: 5,
                after: 0,
                keys: &keys_a,
            }],
        )
        .unwrap();
    // Node b checked keys 3–4 against day 5 before a's commit (it knew no segment):
    // refused, and nothing of its commit is listed.
    let keys_b = [3u128, 4];
    let source = SourceObject {
        location: "s3://trail/b".into(),
        size: Some(1),
        mtime: None,
        etag: Some("e".into()),
        status: "done".into(),
        records: 2,
        errors: 0,
        reason: None,
    };
    let e = b
        .commit(
            &[new_segment(5, "events/day=5/b", &keys_b)],
            &[],
            std::slice::from_ref(&source),
            true,
            &[DayGuard {
                day: 5,
                after: 0,
                keys: &keys_b,
            }],
        )
        .unwrap_err();
    assert!(
        matches!(e, auditwatch_catalog::CatalogError::Conflict(_)),
        "{e}"
    );
    assert_eq!(b.segments().unwrap().len(), 1);
    assert_eq!(b.source("s3://trail/b").unwrap(), None);
    // Having read a's segment (after = its id), b's keys without 3 go in.
    b.commit(
        &[new_segment(5, "events/day=5/b", &[4])],
        &[],
        std::slice::from_ref(&source),
        true,
        &[DayGuard {
            day: 5,
            after: ids[0],
            keys: &[4],
        }],
    )
    .unwrap();
    assert_eq!(a.source("s3://trail/b").unwrap(), Some(source.clone()));
    // Sources under a prefix: a bucket named like a longer one is not under it.
    let other = SourceObject {
        location: "s3://trailhead/x".into(),
        ..source.clone()
    };
    b.commit(&[], &[], &[other], false, &[]).unwrap();
    let under: Vec<String> = a
        .sources_under("s3://trail/")
        .unwrap()
        .into_iter()
        .map(|s| s.location)
        .collect();
    assert_eq!(under, ["s3://trail/b"]);
    // Another day is not affected by day 5's keys.
    b.commit(
        &[new_segment(6, "events/day=6/b", &keys_a)],
        &[],
        &[],
        true,
        &[DayGuard {
            day: 6,
            after: 0,
            keys: &keys_a,
        }],
    )
    .unwrap();
    let days: Vec<i32> = a.segments().unwrap().iter().map(|s| s.day).collect();
    assert_eq!(days, [5, 5, 6]);
    assert_eq!(a.day_keys(5).unwrap().len(), 2);
    assert_eq!(a.day_keys_after(5, ids[0]).unwrap().len(), 1);

    // Two compactions of the same segments: the second is refused whole.
    let all: Vec<i64> = a
        .segments()
        .unwrap()
        .iter()
        .filter(|s| s.day == 5)
        .map(|s| s.id)
        .collect();
    a.commit(
        &[new_segment(5, "events/day=5/merged-a", &[1, 2, 3, 4])],
        &all,
        &[],
        false,
        &[],
    )
    .unwrap();
    let e = b
        .commit(
            &[new_segment(5, "events/day=5/merged-b", &[1, 2, 3, 4])],
            &all,
            &[],
            false,
            &[],
        )
        .unwrap_err();
    assert!(
        matches!(e, auditwatch_catalog::CatalogError::Conflict(_)),
        "{e}"
    );
    let paths: Vec<String> = b.segments().unwrap().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["events/day=5/merged-a", "events/day=6/b"]);
}

fn record(i: usize) -> String {
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","userName":"u{u}","accountId":"111111111111"}},"eventTime":"2024-03-{d:02}T10:{m:02}:{s:02}Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"10.0.0.1","eventID":"00000000-0000-4000-8000-{i:012}","readOnly":true,"eventType":"AwsApiCall","recipientAccountId":"111111111111"}}"#,
        u = i % 7,
        d = 1 + i % 4,
        m = i / 60 % 60,
        s = i % 60
    )
}

fn stage_and_commit(store: &Store, from: usize, to: usize, location: &str) -> u64 {
    let texts: Vec<String> = (from..to).map(record).collect();
    commit_records(store, &texts, location, None).added
}

#[test]
fn three_nodes_writing_overlapping_events_store_each_once() {
    let Some(pg) = postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let placement = Placement {
        lake_url: Some(format!("file://{}", dir.path().join("bucket").display())),
        catalog_url: Some(pg.url.clone()),
        ..Placement::default()
    };
    let nodes: Vec<Store> = (0..3)
        .map(|n| Store::open_with(&dir.path().join(format!("node-{n}")), &placement).unwrap())
        .collect();
    // Each node takes four overlapping batches of 1,000 events, and its last batch
    // overlaps the next node's first: all at once, 6,500 distinct events.
    let added: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(n, store)| {
                s.spawn(move || {
                    let mut added = 0;
                    for round in 0..4 {
                        let from = n * 2000 + round * 500;
                        added +=
                            stage_and_commit(store, from, from + 1000, &format!("n{n}r{round}"));
                    }
                    added
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let (from, to) = (0, 2 * 2000 + 3 * 500 + 1000);
    assert_eq!(added, (to - from) as u64);
    // A fourth node, with an empty data directory, sees the one table.
    let reader = Store::open_with(&dir.path().join("reader"), &placement).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r = rt
        .block_on(reader.sql(
            &Scope::All,
            r#"SELECT count(*) AS n, count(DISTINCT "eventID") AS d FROM events"#,
            SqlLimits::default(),
        ))
        .unwrap();
    let rows = auditwatch_store::rows::to_json(&r.batches).unwrap();
    assert_eq!(rows[0]["n"], serde_json::json!(to - from), "{rows:?}");
    assert_eq!(rows[0]["d"], serde_json::json!(to - from), "{rows:?}");
    // Every listed segment is in the shared location.
    for seg in reader.catalog().unwrap().segments().unwrap() {
        assert!(
            dir.path().join("bucket").join(&seg.path).is_file(),
            "{}",
            seg.path
        );
    }
}

#[test]
fn a_shared_catalog_needs_a_shared_lake_and_a_reachable_server() {
    let dir = tempfile::tempdir().unwrap();
    if let Some(pg) = postgres() {
        let e = Store::open_with(
            &dir.path().join("n"),
            &Placement {
                catalog_url: Some(pg.url.clone()),
                ..Placement::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("[lake] url"), "{e}");
    }
    // Nothing listens on port 1: the error names the catalog, never its password.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = PgCatalog::connect(
        &format!("postgres://aw:hunter2@127.0.0.1:{port}/lake?connect_timeout=2"),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains(&format!("127.0.0.1:{port}/lake")), "{e}");
    assert!(e.contains("cannot connect"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn one_node_runs_live_detection_over_what_every_node_commits() {
    use auditwatch_catalog::detection::{AlertPolicy, Detected};
    let Some(pg) = postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let shared = PgCatalog::connect(&pg.url, None).unwrap();
    let mut a = Catalog::open_with(&dir.path().join("a.db"), Some(shared.clone())).unwrap();
    let mut b = Catalog::open_with(&dir.path().join("b.db"), Some(shared)).unwrap();

    // Before any node detects, ingest queues nothing.
    b.commit(
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
    let ids = b
        .commit(
            &[new_segment(3, "events/day=3/x", &[2])],
            &[],
            &[],
            true,
            &[],
        )
        .unwrap();
    b.commit(
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

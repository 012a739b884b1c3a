//! Several nodes on one shared catalog (PostgreSQL, started here on loopback): what
//! only a shared table has — nodes that clash on the same events. What every backend
//! does alike is in the conformance suite; one detecting node for all is in the
//! detection crate's tests.

use auditwatch_catalog::postgres::PgCatalog;
use auditwatch_catalog::testing::postgres;
use auditwatch_catalog::{Catalog, DayGuard, NewSegment, Segment, SourceObject};

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
        sessions: Vec::new(),
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

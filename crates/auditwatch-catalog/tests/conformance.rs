//! One suite for every implementation of the table's catalog ([`TableCatalog`]): each
//! case below runs against the data directory's SQLite file and against PostgreSQL
//! (Debian's, started here on loopback; without it the PostgreSQL cases fail under
//! `AUDITWATCH_REQUIRE_FIXTURES=1`, else record a skip). A behaviour the store, the
//! sources or detection rely on is a case here, so that both backends give it.

use std::sync::Arc;

use auditwatch_catalog::keys::to_blob;
use auditwatch_catalog::postgres::PgCatalog;
use auditwatch_catalog::sqlite::SqliteTable;
use auditwatch_catalog::testing::{Postgres, postgres};
use auditwatch_catalog::{
    Catalog, CatalogError, DayGuard, NewSegment, Segment, SourceObject, TableCatalog,
};
use auditwatch_event::identity::{Issued, Principal};

/// Where a case's tables live: a fresh SQLite file or a fresh PostgreSQL server.
/// `table()` opens another handle on the same table, as another process or node
/// would.
enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(tempfile::TempDir, Postgres),
}

impl Backend {
    fn sqlite() -> Option<Self> {
        Some(Backend::Sqlite(tempfile::tempdir().unwrap()))
    }

    fn postgres() -> Option<Self> {
        postgres().map(|pg| Backend::Postgres(tempfile::tempdir().unwrap(), pg))
    }

    fn table(&self) -> Arc<dyn TableCatalog> {
        match self {
            Backend::Sqlite(dir) => Arc::new(SqliteTable::new(&dir.path().join("catalog.db"))),
            Backend::Postgres(_, pg) => PgCatalog::connect(&pg.url, None).unwrap(),
        }
    }

    /// The catalog of node `name` (with SQLite, every node is the one data directory).
    fn catalog(&self, name: &str) -> Catalog {
        match self {
            Backend::Sqlite(dir) => Catalog::open(&dir.path().join("catalog.db")).unwrap(),
            Backend::Postgres(dir, pg) => Catalog::open_with(
                &dir.path().join(format!("{name}.db")),
                Some(PgCatalog::connect(&pg.url, None).unwrap()),
            )
            .unwrap(),
        }
    }
}

/// Each case as a test per backend.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $case() {
                super::$case(&super::Backend::sqlite().unwrap());
            })*
        }
        mod postgres {
            $(#[test]
            fn $case() {
                let Some(b) = super::Backend::postgres() else { return };
                super::$case(&b);
            })*
        }
    };
}

conformance!(
    a_commit_registers_and_retires_all_at_once,
    segments_are_listed_by_day_then_id_with_their_accounts_and_regions,
    segment_ids_only_grow_even_past_a_retired_newest_segment,
    keys_after_a_segment_list_only_newer_segments_of_that_day,
    a_commit_whose_keys_clash_with_a_segment_listed_since_is_refused,
    a_commit_that_retires_a_segment_already_gone_is_refused,
    source_objects_by_prefix_byte_by_byte_and_the_troubled_newest_first,
    a_source_object_committed_again_keeps_its_latest_state,
    digest_files_taken_are_listed,
    the_lake_location_first_recorded_stays,
    the_detection_queue_fills_only_while_a_detector_is_registered,
    a_retired_segment_leaves_the_detection_queue,
    two_handles_on_one_table_see_each_others_commits,
    sessions_are_recorded_with_their_segment_once_per_key,
);

fn segment(day: i32, path: &str) -> Segment {
    Segment {
        id: 0,
        day,
        path: path.into(),
        rows: 3,
        bytes: 10,
        min_time: 1,
        max_time: 2,
        accounts: vec!["111122223333".into(), "444455556666".into()],
        regions: vec!["eu-west-1".into()],
    }
}

fn new_segment(day: i32, path: &str, keys: &[u128]) -> NewSegment {
    NewSegment {
        segment: segment(day, path),
        keys: to_blob(keys),
        sessions: Vec::new(),
    }
}

fn source(location: &str, status: &str) -> SourceObject {
    SourceObject {
        location: location.into(),
        size: Some(1),
        mtime: None,
        etag: Some("e".into()),
        status: status.into(),
        records: 2,
        errors: u64::from(status != "done"),
        reason: (status != "done").then(|| format!("{status} because")),
    }
}

fn paths(t: &dyn TableCatalog) -> Vec<String> {
    t.segments().unwrap().into_iter().map(|s| s.path).collect()
}

fn add(t: &dyn TableCatalog, segments: &[NewSegment]) -> Vec<i64> {
    t.commit(segments, &[], &[], false, &[]).unwrap()
}

fn a_commit_registers_and_retires_all_at_once(b: &Backend) {
    let t = b.table();
    let ids = t
        .commit(
            &[new_segment(5, "a", &[1]), new_segment(5, "b", &[2])],
            &[],
            &[source("/x", "done")],
            false,
            &[],
        )
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(t.segment_count().unwrap(), 2);
    assert_eq!(t.source("/x").unwrap(), Some(source("/x", "done")));
    // A path listed twice fails the whole commit: its retirement and its source do
    // not happen either.
    let e = t.commit(
        &[new_segment(6, "c", &[3]), new_segment(6, "b", &[4])],
        &[ids[0]],
        &[source("/y", "done")],
        false,
        &[],
    );
    assert!(e.is_err());
    assert_eq!(paths(t.as_ref()), ["a", "b"]);
    assert_eq!(t.source("/y").unwrap(), None);
    t.commit(&[new_segment(6, "c", &[3])], &[ids[0]], &[], false, &[])
        .unwrap();
    assert_eq!(paths(t.as_ref()), ["b", "c"]);
    assert_eq!(
        t.day_keys_after(5, i64::MIN).unwrap().len(),
        1,
        "the keys go too"
    );
}

fn segments_are_listed_by_day_then_id_with_their_accounts_and_regions(b: &Backend) {
    let t = b.table();
    let mut plain = new_segment(3, "no-accounts", &[9]);
    plain.segment.accounts.clear();
    plain.segment.regions.clear();
    add(t.as_ref(), &[new_segment(7, "late", &[1])]);
    add(t.as_ref(), &[new_segment(3, "early", &[2]), plain]);
    let listed = t.segments().unwrap();
    assert_eq!(
        listed.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
        ["early", "no-accounts", "late"]
    );
    let early = &listed[0];
    assert_eq!(
        (
            early.day,
            early.rows,
            early.bytes,
            early.min_time,
            early.max_time
        ),
        (3, 3, 10, 1, 2)
    );
    assert_eq!(early.accounts, ["111122223333", "444455556666"]);
    assert_eq!(early.regions, ["eu-west-1"]);
    assert!(listed[1].accounts.is_empty() && listed[1].regions.is_empty());
}

fn segment_ids_only_grow_even_past_a_retired_newest_segment(b: &Backend) {
    let t = b.table();
    let first = add(
        t.as_ref(),
        &[new_segment(1, "a", &[1]), new_segment(1, "b", &[2])],
    );
    t.commit(&[], &[first[1]], &[], false, &[]).unwrap();
    let next = add(t.as_ref(), &[new_segment(1, "c", &[3])]);
    assert!(next[0] > first[1], "{next:?} after {first:?}");
}

fn keys_after_a_segment_list_only_newer_segments_of_that_day(b: &Backend) {
    let t = b.table();
    let a = add(t.as_ref(), &[new_segment(4, "a", &[1, 2])]);
    add(t.as_ref(), &[new_segment(5, "other-day", &[3])]);
    let c = add(t.as_ref(), &[new_segment(4, "c", &[4])]);
    let all = t.day_keys_after(4, i64::MIN).unwrap();
    assert_eq!(
        all.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [a[0], c[0]]
    );
    assert_eq!(all[0].1, to_blob(&[1, 2]));
    assert_eq!(t.day_keys_after(4, a[0]).unwrap(), [(c[0], to_blob(&[4]))]);
    assert!(t.day_keys_after(4, c[0]).unwrap().is_empty());
}

fn a_commit_whose_keys_clash_with_a_segment_listed_since_is_refused(b: &Backend) {
    let (one, two) = (b.table(), b.table());
    let known = add(one.as_ref(), &[new_segment(5, "base", &[1])]);
    // Another writer lists keys 2–3 after both looked at day 5.
    let theirs = two
        .commit(
            &[new_segment(5, "theirs", &[2, 3])],
            &[],
            &[],
            true,
            &[DayGuard {
                day: 5,
                after: known[0],
                keys: &[2, 3],
            }],
        )
        .unwrap();
    let e = one
        .commit(
            &[new_segment(5, "mine", &[3, 4])],
            &[],
            &[source("s3://b/k", "done")],
            true,
            &[DayGuard {
                day: 5,
                after: known[0],
                keys: &[3, 4],
            }],
        )
        .unwrap_err();
    assert!(matches!(e, CatalogError::Conflict(_)), "{e}");
    assert_eq!(
        paths(one.as_ref()),
        ["base", "theirs"],
        "nothing of it is listed"
    );
    assert_eq!(one.source("s3://b/k").unwrap(), None);
    // Having read what it missed (and dropped key 3), it commits.
    one.commit(
        &[new_segment(5, "mine", &[4])],
        &[],
        &[],
        true,
        &[DayGuard {
            day: 5,
            after: theirs[0],
            keys: &[4],
        }],
    )
    .unwrap();
    assert_eq!(paths(one.as_ref()), ["base", "theirs", "mine"]);
    // A segment listed since that shares no key refuses nothing.
    two.commit(&[new_segment(5, "more", &[7])], &[], &[], true, &[])
        .unwrap();
    one.commit(
        &[new_segment(5, "disjoint", &[8, 9])],
        &[],
        &[],
        true,
        &[DayGuard {
            day: 5,
            after: theirs[0],
            keys: &[8, 9],
        }],
    )
    .unwrap();
}

fn a_commit_that_retires_a_segment_already_gone_is_refused(b: &Backend) {
    let (one, two) = (b.table(), b.table());
    let ids = add(
        one.as_ref(),
        &[new_segment(2, "a", &[1]), new_segment(2, "b", &[2])],
    );
    two.commit(&[new_segment(2, "ab", &[1, 2])], &ids, &[], false, &[])
        .unwrap();
    let e = one
        .commit(&[new_segment(2, "ab2", &[1, 2])], &ids, &[], false, &[])
        .unwrap_err();
    assert!(matches!(e, CatalogError::Conflict(_)), "{e}");
    assert_eq!(paths(one.as_ref()), ["ab"]);
}

fn source_objects_by_prefix_byte_by_byte_and_the_troubled_newest_first(b: &Backend) {
    let t = b.table();
    t.commit(
        &[],
        &[],
        &[
            source("s3://a/k1", "done"),
            source("s3://a/k2", "quarantined"),
            source("s3://ab/k3", "failed"),
            source("s3://b/k4", "rejected"),
            source("s3://b/k5", "skipped"),
            source("s3://a/é", "done"),
        ],
        false,
        &[],
    )
    .unwrap();
    let under: Vec<String> = t
        .sources_under("s3://a/")
        .unwrap()
        .into_iter()
        .map(|s| s.location)
        .collect();
    assert_eq!(
        under,
        ["s3://a/k1", "s3://a/k2", "s3://a/é"],
        "a bucket prefix is not a bucket"
    );
    let troubled = t.troubled_sources("s3://", 10).unwrap();
    assert_eq!(
        troubled
            .iter()
            .map(|s| s.location.as_str())
            .collect::<Vec<_>>(),
        ["s3://a/k2", "s3://ab/k3", "s3://b/k4"],
        "one commit: same time, then by location"
    );
    assert!(troubled.iter().all(|s| s.reason.is_some()));
    assert_eq!(t.troubled_sources("s3://", 1).unwrap().len(), 1);
    assert_eq!(
        t.source_counts().unwrap(),
        [
            ("done".to_string(), 2, 4, 0),
            ("failed".to_string(), 1, 2, 1),
            ("quarantined".to_string(), 1, 2, 1),
            ("rejected".to_string(), 1, 2, 1),
            ("skipped".to_string(), 1, 2, 1),
        ]
    );
}

fn a_source_object_committed_again_keeps_its_latest_state(b: &Backend) {
    let t = b.table();
    t.commit(&[], &[], &[source("/f", "partial")], false, &[])
        .unwrap();
    t.commit(&[], &[], &[source("/f", "done")], false, &[])
        .unwrap();
    assert_eq!(t.source("/f").unwrap(), Some(source("/f", "done")));
    assert_eq!(t.source("/g").unwrap(), None);
    assert_eq!(t.source_counts().unwrap(), [("done".to_string(), 1, 2, 0)]);
}

fn digest_files_taken_are_listed(b: &Backend) {
    let t = b.table();
    let digest = "s3://t/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/02/d.json.gz";
    let log = "s3://t/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/l.json.gz";
    t.commit(
        &[],
        &[],
        &[source(log, "done"), source(digest, "skipped")],
        false,
        &[],
    )
    .unwrap();
    assert_eq!(t.digest_locations().unwrap(), [digest]);
}

fn the_lake_location_first_recorded_stays(b: &Backend) {
    let (one, two) = (b.table(), b.table());
    assert_eq!(one.meta("lake_url").unwrap(), None);
    assert_eq!(
        one.set_lake("s3://lake/prod", "w1").unwrap(),
        ("s3://lake/prod".to_string(), "w1".to_string())
    );
    assert_eq!(
        two.set_lake("s3://lake/other", "w2").unwrap(),
        ("s3://lake/prod".to_string(), "w1".to_string())
    );
    assert_eq!(two.meta("lake_writer").unwrap().as_deref(), Some("w1"));
    // The node's view refuses another location, naming both.
    let e = b
        .catalog("n1")
        .set_lake_url("s3://lake/other", "w2")
        .unwrap_err();
    assert!(e.to_string().contains("s3://lake/prod"), "{e}");
}

fn the_detection_queue_fills_only_while_a_detector_is_registered(b: &Backend) {
    let t = b.table();
    add(t.as_ref(), &[new_segment(1, "before", &[1])]);
    assert_eq!(t.claim_detector("node-a").unwrap(), "node-a");
    let fresh = t
        .commit(
            &[
                new_segment(1, "fresh-1", &[2]),
                new_segment(1, "fresh-2", &[3]),
            ],
            &[],
            &[],
            true,
            &[],
        )
        .unwrap();
    add(t.as_ref(), &[new_segment(1, "compacted", &[4])]);
    assert_eq!(t.queued_ids().unwrap(), fresh);
    let queue: Vec<String> = t
        .detection_queue(1)
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    assert_eq!(queue, ["fresh-1"], "oldest first, at most the limit");
    t.dequeue(&[fresh[0], 999_999]).unwrap();
    assert_eq!(t.queued_ids().unwrap(), [fresh[1]]);
    t.release_detector("node-a").unwrap();
    assert!(
        t.queued_ids().unwrap().is_empty(),
        "released: the queue is emptied"
    );
    t.commit(&[new_segment(1, "after", &[5])], &[], &[], true, &[])
        .unwrap();
    assert!(t.queued_ids().unwrap().is_empty(), "and no longer fills");
}

fn a_retired_segment_leaves_the_detection_queue(b: &Backend) {
    let t = b.table();
    t.claim_detector("node-a").unwrap();
    let ids = t
        .commit(&[new_segment(1, "a", &[1])], &[], &[], true, &[])
        .unwrap();
    t.commit(&[new_segment(1, "a2", &[1])], &ids, &[], false, &[])
        .unwrap();
    assert!(t.queued_ids().unwrap().is_empty());
}

fn two_handles_on_one_table_see_each_others_commits(b: &Backend) {
    let (one, two) = (b.table(), b.table());
    add(one.as_ref(), &[new_segment(1, "from-one", &[1])]);
    two.commit(&[], &[], &[source("/seen", "done")], false, &[])
        .unwrap();
    assert_eq!(paths(two.as_ref()), ["from-one"]);
    assert!(one.source("/seen").unwrap().is_some());
    let holder = one.holder();
    match b {
        Backend::Sqlite(_) => assert_eq!(holder, "this data directory"),
        Backend::Postgres(_, pg) => {
            assert!(holder.contains(&pg.url), "{holder} names {}", pg.url)
        }
    }
}

fn issued(key: &str, event: &str, caller: Principal) -> Issued {
    Issued {
        access_key_id: key.into(),
        call: "AssumeRole".into(),
        session_arn: Some("arn:aws:sts::222222222222:assumed-role/Admin/hop".into()),
        account: Some("222222222222".into()),
        event_id: Some(event.into()),
        time_us: 1_700_000_000_000_000,
        expires_us: Some(1_700_003_600_000_000),
        source_identity: None,
        caller,
    }
}

fn sessions_are_recorded_with_their_segment_once_per_key(b: &Backend) {
    let t = b.table();
    let chained = issued(
        "ASIASECOND",
        "e2",
        Principal::Session {
            access_key_id: "ASIAFIRST".into(),
            session_arn: "arn:aws:sts::111111111111:assumed-role/Deploy/alice".into(),
            role_arn: Some("arn:aws:iam::111111111111:role/Deploy".into()),
            source_identity: Some("alice".into()),
        },
    );
    let mut saml = issued(
        "ASIASAML",
        "s1",
        Principal::SamlUser {
            provider: "https://idp.example/".into(),
            subject: "bob".into(),
        },
    );
    saml.session_arn = None;
    saml.expires_us = None;
    let mut first = new_segment(1, "a", &[1]);
    first.sessions = vec![chained.clone(), saml.clone()];
    add(t.as_ref(), &[first]);
    assert_eq!(t.session("ASIASECOND").unwrap(), Some(chained.clone()));
    assert_eq!(t.session("ASIASAML").unwrap(), Some(saml));
    assert_eq!(t.session("ASIANONE").unwrap(), None);
    // The role's account's copy of the same issue (another event id) changes nothing.
    let mut copy = new_segment(1, "b", &[2]);
    copy.sessions = vec![issued(
        "ASIASECOND",
        "e2-copy",
        Principal::Root { arn: "r".into() },
    )];
    add(t.as_ref(), &[copy]);
    assert_eq!(t.session("ASIASECOND").unwrap(), Some(chained.clone()));
    assert_eq!(
        t.sessions_named("arn:aws:sts::222222222222:assumed-role/Admin/hop")
            .unwrap(),
        [chained]
    );
    // A commit that fails records none of its sessions.
    let mut failing = new_segment(1, "a", &[3]);
    failing.sessions = vec![issued("ASIALOST", "x", Principal::Root { arn: "r".into() })];
    assert!(t.commit(&[failing], &[], &[], false, &[]).is_err());
    assert_eq!(t.session("ASIALOST").unwrap(), None);
    // Sessions found apart from a commit (events stored before the index) join it
    // the same way, and the table remembers that it was filled.
    let late = issued(
        "ASIALATE",
        "l",
        Principal::Service {
            name: "ec2.amazonaws.com".into(),
        },
    );
    t.record_sessions(&[
        late.clone(),
        issued("ASIASECOND", "e9", Principal::Root { arn: "r".into() }),
    ])
    .unwrap();
    assert_eq!(t.session("ASIALATE").unwrap(), Some(late));
    assert_eq!(
        t.session("ASIASECOND")
            .unwrap()
            .unwrap()
            .event_id
            .as_deref(),
        Some("e2")
    );
    assert_eq!(t.sessions_count().unwrap(), 3);
    let mut all: Vec<String> = t
        .all_sessions()
        .unwrap()
        .into_iter()
        .map(|i| format!("{} {}", i.access_key_id, i.event_id.unwrap_or_default()))
        .collect();
    all.sort();
    assert_eq!(all, ["ASIALATE l", "ASIASAML s1", "ASIASECOND e2"]);
    // The role's account's copy of a cross-account call names only the calling
    // account: the caller's copy replaces it when it comes later.
    let mut role_copy = new_segment(1, "c", &[4]);
    role_copy.sessions = vec![issued(
        "ASIAROLE",
        "a-role-copy",
        Principal::Unknown {
            described: "a userIdentity of type AWSAccount".into(),
        },
    )];
    add(t.as_ref(), &[role_copy]);
    let alice = Principal::IamUser {
        arn: "arn:aws:iam::111111111111:user/alice".into(),
    };
    let mut caller_copy = new_segment(1, "d", &[5]);
    caller_copy.sessions = vec![issued("ASIAROLE", "z-caller-copy", alice.clone())];
    add(t.as_ref(), &[caller_copy]);
    let kept = t.session("ASIAROLE").unwrap().unwrap();
    assert_eq!(kept.caller, alice);
    assert_eq!(kept.event_id.as_deref(), Some("z-caller-copy"));
    assert_eq!(t.sessions_count().unwrap(), 4);
    assert_eq!(t.meta("sessions_indexed").unwrap(), None);
    t.set_meta("sessions_indexed", "1").unwrap();
    assert_eq!(
        b.table().meta("sessions_indexed").unwrap().as_deref(),
        Some("1")
    );
}

//! The shared catalog (`[catalog] url`, PostgreSQL) against a real server: Debian's
//! PostgreSQL started here on loopback with a throwaway cluster. `scripts/test`
//! installs it; without it these tests fail under `AUDITWATCH_REQUIRE_FIXTURES=1`, else record
//! a skip (`auditwatch-fixtures`).

use auditwatch_catalog::postgres::PgCatalog;
use auditwatch_store::testing::{commit_records, postgres};
use auditwatch_store::{Placement, Scope, SqlLimits, Store};

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

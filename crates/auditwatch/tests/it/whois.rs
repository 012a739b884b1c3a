//! `auditwatch whois`: a chain of role sessions across accounts, from files ingested
//! in every order — the same origin every time once the issuing events are stored,
//! and an unresolved origin, with its reason, before.

use std::path::Path;

use auditwatch_fixtures::chains::{self, session};
use serde_json::{Value, json};

use crate::support::{ingest, run_text};

const ALICE: &str = "arn:aws:iam::111111111111:user/alice";

fn record(id: &str, time: &str, name: &str, identity: Value, extra: Value) -> Value {
    let account = identity["accountId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    chains::record(id, time, name, &account, identity, extra)
}

fn issue(account: &str, role: &str, name: &str, key: &str) -> Value {
    chains::issue(account, role, name, key, "2026-03-01T12:00:00Z")
}

/// The three files: alice assumes Deploy in 111…; that session assumes Admin in
/// 222…; that session deletes a bucket.
fn files(dir: &Path) -> [std::path::PathBuf; 3] {
    let alice = json!({"type": "IAMUser", "arn": ALICE, "accountId": "111111111111",
        "userName": "alice", "accessKeyId": "AKIAALICE"});
    let first = record(
        "issue-1",
        "2026-03-01T10:00:00Z",
        "AssumeRole",
        alice,
        issue("111111111111", "Deploy", "alice-deploy", "ASIAFIRST"),
    );
    let second = record(
        "issue-2",
        "2026-03-01T10:01:00Z",
        "AssumeRole",
        session("111111111111", "Deploy", "alice-deploy", "ASIAFIRST"),
        issue("222222222222", "Admin", "hop", "ASIASECOND"),
    );
    let call = record(
        "the-call",
        "2026-03-01T10:02:00Z",
        "DeleteBucket",
        session("222222222222", "Admin", "hop", "ASIASECOND"),
        json!({"eventSource": "s3.amazonaws.com"}),
    );
    let mut out = Vec::new();
    for (n, r) in [first, second, call].into_iter().enumerate() {
        let p = dir.join(format!("f{n}.json"));
        std::fs::write(&p, json!({"Records": [r]}).to_string()).unwrap();
        out.push(p);
    }
    out.try_into().unwrap()
}

fn whois(data: &Path, who: &str) -> Vec<Value> {
    let (code, out, err) = run_text(data, &["whois", who, "--format", "json"]);
    assert_eq!(code, 0, "whois {who}: {err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn the_origin_is_the_same_in_every_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let f = files(dir.path());
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for (n, order) in orders.iter().enumerate() {
        let data = dir.path().join(format!("data-{n}"));
        for &i in order {
            ingest(&data, &[&f[i]]);
        }
        let steps = whois(&data, "the-call");
        let origin = steps.last().unwrap();
        assert_eq!(origin["step"], "origin", "{order:?}: {steps:?}");
        assert_eq!(origin["identity"], ALICE, "{order:?}: {steps:?}");
        assert_eq!(origin["type"], "IAMUser");
        let issuers: Vec<&str> = steps.iter().filter_map(|s| s["eventID"].as_str()).collect();
        assert_eq!(issuers, ["issue-2", "issue-1"], "{order:?}");
        assert_eq!(steps[0]["account"], "222222222222");
        // By key and by session name, the same chain.
        assert_eq!(whois(&data, "ASIASECOND"), steps);
        assert_eq!(
            whois(&data, "arn:aws:sts::222222222222:assumed-role/Admin/hop")
                .last()
                .unwrap()["identity"],
            ALICE
        );
    }
    // Before the first issuing event is stored, the walk stops with its reason …
    let data = dir.path().join("partial");
    ingest(&data, &[&f[2], &f[1]]);
    let origin = whois(&data, "the-call").pop().unwrap();
    assert_eq!(
        origin["identity"],
        "arn:aws:sts::111111111111:assumed-role/Deploy/alice-deploy"
    );
    assert_eq!(
        origin["type"],
        "unresolved: the call that issued ASIAFIRST is not stored"
    );
    // … and resolves once it arrives.
    ingest(&data, &[&f[0]]);
    assert_eq!(whois(&data, "the-call").pop().unwrap()["identity"], ALICE);
    // A lake filled before the sessions index existed is indexed on first use.
    let old = dir.path().join("before-the-index");
    ingest(&old, &[&f[0], &f[1], &f[2]]);
    let db = rusqlite::Connection::open(old.join("catalog.db")).unwrap();
    db.execute_batch("DELETE FROM sessions; DELETE FROM meta WHERE key = 'sessions_indexed';")
        .unwrap();
    drop(db);
    let (code, out, err) = run_text(&old, &["whois", "the-call", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("indexed 2 sessions"), "{err}");
    let steps: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(steps.last().unwrap()["identity"], ALICE);
    // What is not there is named.
    let (code, _, err) = run_text(&data, &["whois", "no-such-event"]);
    assert_eq!(code, 1);
    assert!(err.contains("no event with this id"), "{err}");
    let (code, _, err) = run_text(&data, &["whois", "arn:aws:sts::1:assumed-role/X/y"]);
    assert_eq!(code, 1);
    assert!(err.contains("no session of that name"), "{err}");
}

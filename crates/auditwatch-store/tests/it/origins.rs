//! Origins through the sessions index: hand-written chains as CloudTrail records them
//! (an IAM user through two roles across accounts, with the role account's copy of
//! the cross-account call; a SAML subject; an Identity Center user; a source identity;
//! a service), committed in every order of their files — the `origin` filter, the SQL
//! functions and the `sessions` table answer the same every time — and as a caller
//! scoped to one account sees them.

use std::collections::BTreeMap;

use auditwatch_fixtures::chains::{self, session};
use auditwatch_store::rows::to_json;
use auditwatch_store::{Lookup, Scope, SqlLimits, Store};
use serde_json::{Value, json};

const A: &str = "111111111111";
const B: &str = "222222222222";
const ALICE: &str = "arn:aws:iam::111111111111:user/alice";

fn record(
    id: &str,
    minute: u32,
    name: &str,
    account: &str,
    identity: Value,
    extra: Value,
) -> String {
    let time = format!("2026-03-01T10:{minute:02}:00Z");
    chains::record(id, &time, name, account, identity, extra).to_string()
}

fn issue(account: &str, role: &str, name: &str, key: &str) -> Value {
    chains::issue(account, role, name, key, "Mar 1, 2026, 11:00:00 AM")
}

/// Three files: the first issuing calls (alice's, the SAML subject's) and alice's own
/// call; the second hop, in both accounts' copies; the calls made with the sessions.
fn files() -> [Vec<String>; 3] {
    let alice = json!({"type": "IAMUser", "arn": ALICE, "accountId": A,
        "userName": "alice", "accessKeyId": "AKIAALICE"});
    let saml = json!({"type": "SAMLUser", "principalId": "SAMLIdP:bob@example.com",
        "userName": "bob@example.com",
        "identityProvider": "arn:aws:iam::111111111111:saml-provider/Corp"});
    let mut sso = session(
        B,
        "AWSReservedSSO_Admin_0123456789abcdef",
        "carol",
        "ASIASSO",
    );
    sso["sessionContext"]["sessionIssuer"]["arn"] = json!(format!(
        "arn:aws:iam::{B}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123456789abcdef"
    ));
    let mut dave = session(A, "Build", "job-17", "ASIADAVE");
    dave["sessionContext"]["sourceIdentity"] = json!("dave");
    let service = json!({"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"});
    let role_copy_caller = json!({"type": "AWSAccount", "principalId": "AROA:alice-deploy",
        "accountId": A});
    [
        vec![
            record(
                "alice-assume",
                0,
                "AssumeRole",
                A,
                alice.clone(),
                issue(A, "Deploy", "alice-deploy", "ASIAFIRST"),
            ),
            record("alice-direct", 3, "ListBuckets", A, alice, json!({})),
            record(
                "saml-assume",
                4,
                "AssumeRoleWithSAML",
                A,
                saml,
                issue(A, "Ops", "bob@example.com", "ASIASAML"),
            ),
        ],
        vec![
            // The role's account's copy first in the file: the index keeps the
            // caller's account's copy whichever it reads first.
            record(
                "deploy-assume-in-b",
                1,
                "AssumeRole",
                B,
                role_copy_caller,
                issue(B, "Admin", "hop", "ASIASECOND"),
            ),
            record(
                "deploy-assume",
                1,
                "AssumeRole",
                A,
                session(A, "Deploy", "alice-deploy", "ASIAFIRST"),
                issue(B, "Admin", "hop", "ASIASECOND"),
            ),
        ],
        vec![
            record(
                "the-call",
                2,
                "DeleteBucket",
                B,
                session(B, "Admin", "hop", "ASIASECOND"),
                json!({}),
            ),
            record(
                "bob-call",
                5,
                "DescribeInstances",
                A,
                session(A, "Ops", "bob@example.com", "ASIASAML"),
                json!({}),
            ),
            record("carol-call", 6, "GetObject", B, sso, json!({})),
            record("dave-call", 7, "PutObject", A, dave, json!({})),
            record("service-call", 8, "DescribeTrails", A, service, json!({})),
        ],
    ]
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn ids(rt: &tokio::runtime::Runtime, store: &Store, scope: &Scope, origin: &str) -> Vec<String> {
    let q = Lookup {
        origin: Some(origin.into()),
        max_results: 100,
        oldest_first: true,
        ..Lookup::default()
    };
    let page = rt.block_on(store.lookup(scope, &q)).unwrap();
    to_json(std::slice::from_ref(&page.events))
        .unwrap()
        .iter()
        .map(|e| e["eventID"].as_str().unwrap().to_string())
        .collect()
}

fn sql(rt: &tokio::runtime::Runtime, store: &Store, scope: &Scope, text: &str) -> Vec<Value> {
    let r = rt
        .block_on(store.sql(scope, text, SqlLimits::default()))
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    to_json(&r.batches)
        .unwrap()
        .into_iter()
        .map(Value::Object)
        .collect()
}

/// What every order answers: the events of each origin, and each event's origin.
fn answers(rt: &tokio::runtime::Runtime, store: &Store, scope: &Scope) -> Value {
    let mut by_origin = BTreeMap::new();
    for o in [
        "alice",
        ALICE,
        "bob@example.com",
        "carol",
        "dave",
        "cloudtrail.amazonaws.com",
    ] {
        by_origin.insert(o, ids(rt, store, scope, o));
    }
    json!({
        "lookups": by_origin,
        "events": sql(rt, store, scope, "SELECT eventID, origin(userIdentity) AS origin, \
            origin_type(userIdentity) AS type, origin_chain(userIdentity) AS chain \
            FROM events ORDER BY eventID"),
        "sessions": sql(rt, store, scope, "SELECT accessKeyId, issuedIn, eventID, roleAccount, \
            callerType, origin, originType FROM sessions ORDER BY accessKeyId"),
    })
}

#[test]
fn origins_are_the_same_in_every_arrival_order() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let f = files();
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let mut first: Option<Value> = None;
    for (n, order) in orders.iter().enumerate() {
        let store = Store::open(&dir.path().join(format!("data-{n}"))).unwrap();
        for &i in order {
            auditwatch_store::testing::commit_records(&store, &f[i], &format!("f{i}"), None);
        }
        let got = answers(&rt, &store, &Scope::All);
        match &first {
            None => first = Some(got),
            Some(f) => assert_eq!(&got, f, "order {order:?}"),
        }
    }
    let got = first.unwrap();
    let lookups = &got["lookups"];
    let alice_events = json!(["alice-assume", "deploy-assume", "the-call", "alice-direct"]);
    assert_eq!(lookups["alice"], alice_events);
    assert_eq!(lookups[ALICE], alice_events);
    assert_eq!(
        lookups["bob@example.com"],
        json!(["saml-assume", "bob-call"])
    );
    assert_eq!(lookups["carol"], json!(["carol-call"]));
    assert_eq!(lookups["dave"], json!(["dave-call"]));
    assert_eq!(lookups["cloudtrail.amazonaws.com"], json!(["service-call"]));
    let events: BTreeMap<String, (Value, Value)> = got["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["eventID"].as_str().unwrap().to_string(),
                (e["origin"].clone(), e["type"].clone()),
            )
        })
        .collect();
    assert_eq!(events["the-call"], (json!(ALICE), json!("IAMUser")));
    assert_eq!(
        events["bob-call"],
        (json!("bob@example.com"), json!("SAMLUser"))
    );
    assert_eq!(
        events["carol-call"],
        (json!("carol"), json!("IdentityCenterUser"))
    );
    assert_eq!(
        events["dave-call"],
        (json!("dave"), json!("SourceIdentity"))
    );
    assert_eq!(
        events["service-call"],
        (json!("cloudtrail.amazonaws.com"), json!("AWSService"))
    );
    // The role account's copy names only the calling account: unresolved.
    assert_eq!(
        events["deploy-assume-in-b"],
        (Value::Null, json!("Unresolved"))
    );
    let the_call = got["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["eventID"] == "the-call")
        .unwrap();
    assert_eq!(
        the_call["chain"],
        json!([
            "arn:aws:sts::222222222222:assumed-role/Admin/hop",
            "arn:aws:sts::111111111111:assumed-role/Deploy/alice-deploy"
        ])
    );
    // The index keeps the caller's account's copy of the cross-account call.
    let second = got["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["accessKeyId"] == "ASIASECOND")
        .unwrap();
    assert_eq!(second["eventID"], "deploy-assume");
    assert_eq!(second["issuedIn"], A);
    assert_eq!(second["origin"], ALICE);
}

#[test]
fn an_origin_resolves_when_its_issuing_call_arrives_and_a_scoped_caller_sees_their_hops() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let f = files();
    let store = Store::open(dir.path()).unwrap();
    auditwatch_store::testing::commit_records(&store, &f[2], "f2", None);
    auditwatch_store::testing::commit_records(&store, &f[1], "f1", None);
    // Alice's own call is not stored yet: the walk stops at her Deploy session.
    assert!(ids(&rt, &store, &Scope::All, "alice").is_empty());
    let deploy = "arn:aws:sts::111111111111:assumed-role/Deploy/alice-deploy";
    assert_eq!(
        ids(&rt, &store, &Scope::All, deploy),
        ["deploy-assume", "the-call"]
    );
    // To B, the walk stopped at a session of A's: no name, and not found by it.
    let b = Scope::accounts([B]);
    let rows = sql(
        &rt,
        &store,
        &b,
        "SELECT eventID, origin(userIdentity) AS o, origin_type(userIdentity) AS t \
         FROM events WHERE eventID = 'the-call'",
    );
    assert_eq!(rows, [json!({"eventID": "the-call", "t": "Unresolved"})]);
    assert!(ids(&rt, &store, &b, deploy).is_empty());
    auditwatch_store::testing::commit_records(&store, &f[0], "f0", None);
    assert_eq!(ids(&rt, &store, &Scope::All, "alice").len(), 4);
    assert!(ids(&rt, &store, &Scope::All, deploy).is_empty());

    // Account B's user: B's events whose origin is alice, her name, and B's hops only.
    assert_eq!(ids(&rt, &store, &b, "alice"), ["the-call"]);
    let rows = sql(
        &rt,
        &store,
        &b,
        "SELECT eventID, origin(userIdentity) AS o, \
        origin_chain(userIdentity) AS chain FROM events WHERE eventID = 'the-call'",
    );
    assert_eq!(rows[0]["o"], ALICE);
    assert_eq!(
        rows[0]["chain"],
        json!(["arn:aws:sts::222222222222:assumed-role/Admin/hop"])
    );
    // B sees the sessions opened in B, not the issuing call recorded in A (nor its
    // caller, A's Deploy session).
    let sessions = sql(
        &rt,
        &store,
        &b,
        "SELECT accessKeyId, issuedIn, eventID, caller, callerType, origin \
        FROM sessions ORDER BY accessKeyId",
    );
    assert_eq!(
        sessions,
        // (the JSON of a row leaves out its nulls: no issuing account, id or caller)
        [json!({"accessKeyId": "ASIASECOND", "origin": ALICE})]
    );
    // Bad values are named.
    let q = Lookup {
        origin: Some(String::new()),
        max_results: 10,
        ..Lookup::default()
    };
    let e = rt
        .block_on(store.lookup(&Scope::All, &q))
        .unwrap_err()
        .to_string();
    assert!(e.contains("origin filter needs a value"), "{e}");
    let e = rt
        .block_on(store.sql(
            &Scope::All,
            "SELECT origin_is(userIdentity, eventName) FROM events",
            SqlLimits::default(),
        ))
        .unwrap_err()
        .to_string();
    assert!(e.contains("string literal"), "{e}");
}

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

/// Pages through `q` on the direct path (origins read key by key) and through the
/// engine (`origin_is`), asserting the same pages and tokens; the rows matched.
fn same_pages(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    scope: &Scope,
    mut q: Lookup,
    footers: &auditwatch_store::direct::lookups::Footers,
) -> usize {
    let origin = q.origin.clone().expect("an origin lookup");
    let segments = store.catalog().unwrap().segments().unwrap();
    let mut matched = 0;
    loop {
        let by =
            auditwatch_store::origin::lazy::ByOrigin::new(store.table().unwrap(), &origin).unwrap();
        let direct = auditwatch_store::direct::lookups::lookup(
            store.lake(),
            None,
            &segments,
            footers,
            scope,
            &q,
            Some(&by),
        )
        .unwrap()
        .expect("the direct path takes an origin filter");
        by.check().unwrap();
        let ctx = store.session(scope).unwrap();
        let engine = rt
            .block_on(auditwatch_store::lookup::lookup(&ctx, &q))
            .unwrap();
        assert_eq!(direct.events, engine.events, "{origin} as {scope:?}");
        assert_eq!(direct.next_token, engine.next_token, "{origin}");
        matched += direct.events.num_rows();
        match direct.next_token {
            Some(t) => q.next_token = Some(t),
            None => return matched,
        }
    }
}

#[test]
fn direct_origin_lookups_answer_what_the_engine_answers() {
    // The direct path reads origins from the catalog key by key; the engine's
    // `origin_is` reads a loaded copy. Same pages, same tokens, for every origin and
    // scope — with the issuing calls all stored, and with alice's own call missing
    // (unresolved walks named by their session).
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let f = files();
    let partial = Store::open(&dir.path().join("partial")).unwrap();
    let full = Store::open(&dir.path().join("full")).unwrap();
    for i in [2, 1] {
        auditwatch_store::testing::commit_records(&partial, &f[i], &format!("f{i}"), None);
    }
    for i in [2, 1, 0] {
        auditwatch_store::testing::commit_records(&full, &f[i], &format!("f{i}"), None);
    }
    let origins = [
        "alice",
        ALICE,
        "bob@example.com",
        "carol",
        "dave",
        "cloudtrail.amazonaws.com",
        "arn:aws:sts::111111111111:assumed-role/Deploy/alice-deploy",
        "arn:aws:sts::222222222222:assumed-role/Admin/hop",
        "nobody",
    ];
    let scopes = [
        Scope::All,
        Scope::accounts([A]),
        Scope::accounts([B]),
        Scope::accounts(Vec::<String>::new()),
    ];
    let footers = auditwatch_store::direct::lookups::Footers::default();
    let mut matched = 0;
    for store in [&partial, &full] {
        for scope in &scopes {
            for origin in origins {
                for max_results in [1, 2, 50] {
                    let q = Lookup {
                        origin: Some(origin.into()),
                        max_results,
                        ..Lookup::default()
                    };
                    matched += same_pages(&rt, store, scope, q, &footers);
                }
            }
        }
    }
    // The comparison is not of empty pages.
    assert!(matched > 40, "{matched}");
}

/// Applies retention that keeps nothing of `dropped`'s days before March 2, 2026
/// (every other account keeps everything).
fn retain_without(
    store: &Store,
    dropped: &str,
) -> auditwatch_store::write::retention::RetentionStats {
    const MARCH_1_2026: i32 = 20_513;
    let policy = auditwatch_store::write::retention::Retention {
        days: None,
        accounts: [(dropped.to_string(), 0)].into_iter().collect(),
    };
    let mut writer = store.writer().unwrap();
    auditwatch_store::write::retention::apply(&mut writer, &policy, MARCH_1_2026 + 1).unwrap()
}

/// A store at `path` holding only the records of `files` (by index) recorded in
/// `account`.
fn lake_of(path: &std::path::Path, f: &[Vec<String>], which: &[usize], account: &str) -> Store {
    let store = Store::open(path).unwrap();
    for &i in which {
        let kept: Vec<String> = f[i]
            .iter()
            .filter(|r| serde_json::from_str::<Value>(r).unwrap()["recipientAccountId"] == account)
            .cloned()
            .collect();
        if !kept.is_empty() {
            auditwatch_store::testing::commit_records(&store, &kept, &format!("f{i}"), None);
        }
    }
    store
}

#[test]
fn after_retention_origins_are_those_of_the_events_kept() {
    // Retention drops account A's day; account B keeps everything. The index forgets
    // the keys whose only stored issue was A's, and for the cross-account hop takes
    // B's copy of the same call instead: every answer is then that of a lake that
    // only ever held B's events.
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let f = files();
    let kept = Store::open(&dir.path().join("kept")).unwrap();
    for (i, file) in f.iter().enumerate() {
        auditwatch_store::testing::commit_records(&kept, file, &format!("f{i}"), None);
    }
    let scopes = [Scope::All, Scope::accounts([B])];
    let before: Vec<Value> = scopes.iter().map(|s| answers(&rt, &kept, s)).collect();
    let stats = retain_without(&kept, A);
    assert!(
        stats.rows_dropped > 0 && stats.sessions_forgotten == 3,
        "{stats:?}"
    );
    // A second run finds nothing more to forget.
    assert_eq!(retain_without(&kept, A).sessions_forgotten, 0);

    let only_b = lake_of(&dir.path().join("only-b"), &f, &[0, 1, 2], B);
    for (scope, before) in scopes.iter().zip(&before) {
        let got = answers(&rt, &kept, scope);
        assert_eq!(got, answers(&rt, &only_b, scope), "as {scope:?}");
        assert_ne!(&got, before, "retention changed nothing as {scope:?}");
    }
    // The hop recorded in both accounts is still known, from B's copy.
    let rows = sql(
        &rt,
        &kept,
        &Scope::All,
        "SELECT accessKeyId, eventID FROM sessions ORDER BY accessKeyId",
    );
    assert_eq!(
        rows,
        [json!({"accessKeyId": "ASIASECOND", "eventID": "deploy-assume-in-b"})]
    );
}

/// A small deterministic generator (xorshift), for the random chains below.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn direct_origin_lookups_match_the_engine_on_random_chains() {
    // Random issuing calls (IAM users, a SAML subject, a service, Identity Center
    // sessions, sessions of other keys — loops included — some setting a source
    // identity) and calls made with issued and unissued keys, some carrying their own
    // source identity. For every origin the engine names, and a few names besides,
    // the direct path (which skips rows whose key cannot reach the value) returns the
    // engine's pages.
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    for seed in [7u64, 1234] {
        let mut dice = Dice(seed);
        let key = |i: usize| format!("ASIAK{i:03}");
        let accounts = [A, B];
        let names = ["s1", "s2", "alice", "carol"];
        let roles = ["R1", "AWSReservedSSO_Admin_0123456789abcdef"];
        // Each key's session: (account, role, name).
        let sessions: Vec<(&str, &str, &str)> = (0..40)
            .map(|_| {
                (
                    accounts[dice.below(2)],
                    roles[dice.below(2)],
                    names[dice.below(names.len())],
                )
            })
            .collect();
        let caller_session = |i: usize, sessions: &[(&str, &str, &str)]| {
            let (acct, role, name) = sessions[i];
            session(acct, role, name, &key(i))
        };
        let mut records = Vec::new();
        for i in 0..32 {
            if dice.below(5) == 0 {
                continue; // never issued
            }
            let (acct, role, name) = sessions[i];
            let caller = match dice.below(6) {
                0 => json!({"type": "IAMUser", "arn": ALICE, "accountId": A, "userName": "alice"}),
                1 => json!({"type": "IAMUser", "arn": "arn:aws:iam::222222222222:user/ops/bob",
                    "accountId": B, "userName": "bob"}),
                2 => json!({"type": "SAMLUser", "userName": "erin@example.com",
                    "identityProvider": "arn:aws:iam::111111111111:saml-provider/Corp"}),
                3 => json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}),
                _ => caller_session(dice.below(40), &sessions),
            };
            let mut extra = issue(acct, role, name, &key(i));
            if dice.below(4) == 0 {
                extra["responseElements"]["sourceIdentity"] = json!("si-x");
            }
            let minute = dice.below(60) as u32;
            records.push(record(
                &format!("issue-{i}"),
                minute,
                "AssumeRole",
                acct,
                caller,
                extra,
            ));
        }
        for n in 0..200 {
            let i = dice.below(40);
            let mut who = caller_session(i, &sessions);
            if dice.below(7) == 0 {
                who["sessionContext"]["sourceIdentity"] = json!(["si-x", "si-y"][dice.below(2)]);
            }
            let acct = sessions[i].0;
            records.push(record(
                &format!("call-{n:03}"),
                dice.below(60) as u32,
                "GetObject",
                acct,
                who,
                json!({}),
            ));
        }
        // Calls made without a session, some of odd shapes (no ARN, an escaped
        // `onBehalfOf`).
        let direct_callers = [
            json!({"type": "IAMUser", "arn": ALICE, "accountId": A, "userName": "alice"}),
            json!({"type": "IAMUser", "accountId": A, "userName": "alice"}),
            json!({"type": "Root", "arn": "arn:aws:iam::222222222222:root", "accountId": B}),
            json!({"type": "Root", "accountId": A}),
            json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}),
            json!({"type": "SAMLUser", "userName": "erin@example.com"}),
            json!({"type": "IdentityCenterUser", "accountId": A,
                "onBehalfOf": {"userId": "carol", "identityStoreArn": "arn:aws:identitystore::1:identitystore/d-1"}}),
            json!({"type": "IdentityCenterUser", "accountId": A,
                "onBehalfOf": {"userId": "s1", "identityStoreArn": "x"}}),
        ];
        for n in 0..40 {
            let who = direct_callers[dice.below(direct_callers.len())].clone();
            let acct = [A, B][dice.below(2)];
            let text = record(
                &format!("direct-{n:03}"),
                dice.below(60) as u32,
                "ListBuckets",
                acct,
                who,
                json!({}),
            );
            // The user id written escaped, as a JSON writer may.
            records.push(text.replace(r#""userId":"s1""#, r#""userId":"s\u0031""#));
        }
        let store = Store::open(&dir.path().join(format!("s{seed}"))).unwrap();
        auditwatch_store::testing::commit_records(&store, &records, "random", None);
        let named = sql(
            &rt,
            &store,
            &Scope::All,
            "SELECT DISTINCT origin(userIdentity) AS o FROM events",
        );
        let mut origins: Vec<String> = named
            .iter()
            .filter_map(|r| r["o"].as_str().map(str::to_string))
            .collect();
        origins.extend(
            [
                "alice",
                "bob",
                "carol",
                "s1",
                "si-x",
                "si-y",
                "nobody",
                "arn:aws:iam::111111111111:root",
                "arn:aws:iam::111111111111:user/alice",
            ]
            .map(String::from),
        );
        let footers = auditwatch_store::direct::lookups::Footers::default();
        let mut matched = 0;
        for scope in [Scope::All, Scope::accounts([A]), Scope::accounts([B])] {
            for origin in &origins {
                let q = Lookup {
                    origin: Some(origin.clone()),
                    max_results: 9,
                    ..Lookup::default()
                };
                matched += same_pages(&rt, &store, &scope, q, &footers);
            }
        }
        assert!(matched > 200, "seed {seed}: {matched}");
    }
}

#[test]
fn retention_forgets_what_it_dropped_whatever_account_the_issue_names() {
    // The first file's records name account A but sit under account B's object key,
    // so the lake stores them as B's; retention of B's day drops them. The index
    // goes by what is stored, not by the account the issuing calls name.
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let f = files();
    let store = Store::open(&dir.path().join("kept")).unwrap();
    auditwatch_store::testing::commit_records(&store, &f[0], "f0", Some(B));
    for i in [1, 2] {
        auditwatch_store::testing::commit_records(&store, &f[i], &format!("f{i}"), None);
    }
    let stats = retain_without(&store, B);
    assert_eq!(stats.sessions_error, None);
    assert!(stats.sessions_forgotten >= 2, "{stats:?}");
    let only_a = lake_of(&dir.path().join("only-a"), &f, &[1, 2], A);
    for scope in [Scope::All, Scope::accounts([A])] {
        assert_eq!(
            answers(&rt, &store, &scope),
            answers(&rt, &only_a, &scope),
            "as {scope:?}"
        );
    }
}

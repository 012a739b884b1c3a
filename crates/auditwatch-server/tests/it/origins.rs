//! Who is behind a call, through the HTTP surface: the `origin` filter of the API and
//! the search page, the chain on the event page, the session page — and what a caller
//! limited to one account sees of a chain that starts in another.

use auditwatch_auth::Role;
use auditwatch_fixtures::chains::{self, session};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{A, B, Fixture, fixture, get, session_for};

const ALICE: &str = "arn:aws:iam::111111111111:user/alice";

fn record(
    id: &str,
    minute: u32,
    name: &str,
    account: &str,
    identity: Value,
    extra: Value,
) -> Value {
    let time = format!("2024-05-01T12:{minute:02}:00Z");
    chains::record(id, &time, name, account, identity, extra)
}

fn issue(account: &str, role: &str, name: &str, key: &str) -> Value {
    chains::issue(account, role, name, key, "2024-05-01T13:00:00Z")
}

/// The fixture's lake plus a chain: alice (A) assumes Deploy in A, that session
/// assumes Admin in B, and the Admin session runs an instance in B.
fn with_chain() -> Fixture {
    let f = fixture();
    let alice = json!({"type": "IAMUser", "arn": ALICE, "accountId": A, "userName": "alice",
        "accessKeyId": "AKIAalice"});
    let in_a = vec![
        record(
            "assume-1",
            0,
            "AssumeRole",
            A,
            alice,
            issue(A, "Deploy", "alice-deploy", "ASIAFIRST"),
        ),
        record(
            "assume-2",
            1,
            "AssumeRole",
            A,
            session(A, "Deploy", "alice-deploy", "ASIAFIRST"),
            issue(B, "Admin", "hop", "ASIASECOND"),
        ),
    ];
    let mut call = record(
        "chain-call",
        2,
        "RunInstances",
        B,
        session(B, "Admin", "hop", "ASIASECOND"),
        json!({}),
    );
    call["eventSource"] = json!("ec2.amazonaws.com");
    let input = f.dir.path().join("chain");
    for (account, records) in [(A, in_a), (B, vec![call])] {
        let d = input.join(format!("AWSLogs/{account}/CloudTrail/us-east-1/2024/05/01"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join(format!(
                "{account}_CloudTrail_us-east-1_20240501T1200Z_chain.json"
            )),
            json!({"Records": records}).to_string(),
        )
        .unwrap();
    }
    let store = auditwatch_store::Store::open(&f.dir.path().join("data")).unwrap();
    let summary = auditwatch_ingest::ingest_paths(
        &store,
        &[input],
        &auditwatch_ingest::IngestOptions::default(),
        &mut (),
    )
    .unwrap();
    assert_eq!(summary.events_added, 3);
    f
}

fn ids(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventID"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn origins_in_the_api_the_pages_and_as_one_account_sees_them() {
    let f = with_chain();
    // The API: alice's 30 own calls, her AssumeRole, and the two calls made in her
    // sessions, across both accounts.
    let r = get(&f.app, "/api/v1/events?origin=alice&limit=100").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let found = ids(&r.json());
    assert_eq!(found.len(), 33, "{found:?}");
    assert!(found.contains(&"chain-call".to_string()));
    let r = get(&f.app, &format!("/api/v1/events?origin={ALICE}&limit=100")).await;
    assert_eq!(ids(&r.json()).len(), 33);
    let r = get(&f.app, "/api/v1/events?origin=nobody-at-all").await;
    assert_eq!(ids(&r.json()).len(), 0);
    let long = "x".repeat(2000);
    let r = get(&f.app, &format!("/api/v1/events?origin={long}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("origin"), "{}", r.body);

    // The search page keeps the filter as a chip.
    let r = get(&f.app, "/search?origin=alice").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("origin: alice"), "no chip");
    assert!(r.body.contains("chain-call"));

    // The event page draws the chain, origin first, each hop a session page.
    let r = get(&f.app, "/events/chain-call").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let chain = r
        .body
        .split("ol class=\"chain\"")
        .nth(1)
        .expect("a chain")
        .split("</ol>")
        .next()
        .unwrap();
    let origin_at = chain
        .find("origin=arn%3Aaws%3Aiam%3A%3A111111111111%3Auser%2Falice")
        .expect("origin link");
    let first = chain.find("/sessions/ASIAFIRST").expect("first hop");
    let second = chain.find("/sessions/ASIASECOND").expect("second hop");
    assert!(origin_at < first && first < second, "{chain}");

    // The session page: its events and its chain.
    let r = get(&f.app, "/sessions/ASIASECOND").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("/events/chain-call"));
    assert!(r.body.contains("/events/assume-2"), "the issuing event");
    let r = get(&f.app, "/sessions/not-a-key").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = get(&f.app, "/sessions/ASIANEVERSEEN").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A user of account B: the origin's name, B's hop, nothing of A's.
    let b = f
        .app
        .as_(session_for(&f.auth, "bea", Role::Analyst, Some(&[B])));
    let r = get(&b, "/api/v1/events?origin=alice&limit=100").await;
    assert_eq!(ids(&r.json()), ["chain-call"]);
    let r = get(&b, "/events/chain-call").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains(ALICE));
    assert!(r.body.contains("/sessions/ASIASECOND"));
    assert!(
        !r.body.contains("ASIAFIRST") && !r.body.contains("alice-deploy"),
        "A's hop shown to B"
    );
    assert!(r.body.contains("a session in another account"));
    let r = get(&b, "/sessions/ASIASECOND").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.body.contains("assume-2"), "A's issuing event shown to B");
    let r = get(&b, "/sessions/ASIAFIRST").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The SQL sessions table: B's session only, without A's issuing event.
    let r = crate::router::sql(&b, "SELECT accessKeyId, eventID, origin FROM sessions").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("ASIASECOND")
            && !r.body.contains("ASIAFIRST")
            && !r.body.contains("assume-2"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn an_alert_page_lists_its_events_with_who_is_behind_them() {
    use auditwatch_detect::state::{AlertPolicy, Detected, DetectionState, RuleHit, Sample};
    let f = with_chain();
    let store = auditwatch_store::Store::open(&f.dir.path().join("data")).unwrap();
    let hit = |id: &str, account: &str| RuleHit {
        rule: "runs".into(),
        title: "Instances run".into(),
        level: "high".into(),
        author: None,
        group_key: account.into(),
        sample: Sample {
            event_id: id.into(),
            time_us: 1_714_564_920_000_000, // 2024-05-01T12:02:00Z
            account: Some(account.into()),
            summary: "hop RunInstances".into(),
        },
    };
    let found = Detected {
        hits: vec![hit("chain-call", B), hit("gone-by-now", B)],
        ..Default::default()
    };
    let ids = DetectionState::of(&store)
        .unwrap()
        .record_detected(
            &found,
            &AlertPolicy {
                dedup_us: 3_600_000_000,
                max_new_per_hour: 30,
            },
            &[],
        )
        .unwrap();
    assert_eq!(ids.len(), 1);
    let page = format!("/alerts/{}", ids[0]);
    let events = |body: &str| {
        body.split("id=\"alert-events\"")
            .nth(1)
            .expect("the events table")
            .split("</table>")
            .next()
            .unwrap()
            .to_string()
    };
    let r = get(&f.app, &page).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let table = events(&r.body);
    assert!(table.contains("/events/chain-call"), "{table}");
    assert!(table.contains("RunInstances"), "{table}");
    assert!(
        table.contains("Admin/hop @ 222222222222"),
        "the caller: {table}"
    );
    assert!(
        table.contains("origin=arn%3Aaws%3Aiam%3A%3A111111111111%3Auser%2Falice")
            && table.contains("(IAMUser)"),
        "the origin, linked to its calls: {table}"
    );
    assert!(
        r.body.contains("1 of its 2 events are not listed"),
        "{}",
        r.body
    );
    // A user of account B sees the alert (every account of it is theirs) and the
    // origin's name, as on the event page.
    let b = f
        .app
        .as_(session_for(&f.auth, "bea", Role::Analyst, Some(&[B])));
    let r = get(&b, &page).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(events(&r.body).contains(ALICE));
}

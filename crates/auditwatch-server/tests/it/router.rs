//! The whole HTTP surface driven through the router (no socket) as a signed-in admin,
//! over the small lake of `common`.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let f = fixture();
    assert_eq!(get(&f.app, "/healthz").await.status, StatusCode::OK);
    assert_eq!(get(&f.app, "/readyz").await.status, StatusCode::OK);
    get(&f.app, "/api/v1/events?username=alice").await;
    let m = get(&f.app, "/metrics").await;
    assert_eq!(m.status, StatusCode::OK);
    assert!(m.body.contains("auditwatch_lake_events 72"), "{}", m.body);
    assert!(m.body.contains("route=\"/api/v1/events\""), "{}", m.body);
    assert!(
        m.body.contains("auditwatch_query_duration_seconds"),
        "{}",
        m.body
    );
    assert!(
        m.body.contains("auditwatch_ingest_objects{status="),
        "{}",
        m.body
    );
}

#[tokio::test]
async fn search_filters_and_pages_add_up() {
    let f = fixture();
    let r = get(&f.app, "/api/v1/events?username=alice&limit=7").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut seen = Vec::new();
    let mut page = r.json();
    loop {
        for e in page["events"].as_array().unwrap() {
            assert_eq!(e["username"], "alice");
            assert_eq!(e["record"]["userIdentity"]["userName"], "alice");
            seen.push(e["eventID"].as_str().unwrap().to_string());
        }
        let Some(c) = page["nextCursor"].as_str() else {
            break;
        };
        let r = get(
            &f.app,
            &format!("/api/v1/events?username=alice&limit=7&cursor={c}"),
        )
        .await;
        page = r.json();
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 30);

    // Several filters ANDed: bob's AccessDenied errors in account A.
    let r = get(
        &f.app,
        &format!("/api/v1/events?username=bob&errors=true&account={A}&limit=100"),
    )
    .await;
    let events = r.json()["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 5);
    assert!(
        events
            .iter()
            .all(|e| e["record"]["errorCode"] == "AccessDenied")
    );
    // attr/value pairs and requestParameters paths.
    let r = get(
        &f.app,
        "/api/v1/events?attr=EventName&value=GetObject&param=bucketName%3Dbucket-0&limit=100",
    )
    .await;
    let events = r.json()["events"].as_array().unwrap().clone();
    assert!(!events.is_empty());
    assert!(events.iter().all(
        |e| e["record"]["requestParameters"]["bucketName"] == "bucket-0"
            && e["record"]["eventName"] == "GetObject"
    ));
    // Free text.
    let r = get(&f.app, "/api/v1/events?q=203.0.113.4&limit=1000").await;
    assert_eq!(r.json()["events"].as_array().unwrap().len(), 72 / 5);
}

#[tokio::test]
async fn bad_requests_are_json_errors() {
    let f = fixture();
    for uri in [
        "/api/v1/events?start=2024-05-02&end=2024-05-01",
        "/api/v1/events?start=yesterday",
        "/api/v1/events?limit=0",
        "/api/v1/events?limit=abc",
        "/api/v1/events?attr=Bogus&value=x",
        "/api/v1/events?cursor=zz",
        "/api/v1/aggregate?field=nope",
        "/api/v1/histogram?interval=5y",
    ] {
        let r = get(&f.app, uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.body);
        let j = r.json();
        assert_eq!(j["error"], "invalid_request", "{uri}");
        assert!(!j["message"].as_str().unwrap().is_empty());
    }
    let r = get(&f.app, "/api/v1/events?start=2024-05-02&end=2024-05-01").await;
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("before start")
    );
    let r = get(&f.app, "/api/v1/nothing").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"], "not_found");
}

#[tokio::test]
async fn one_event_by_id() {
    let f = fixture();
    let id = "00000000-0000-4000-8000-000000000003";
    let r = get(&f.app, &format!("/api/v1/events/{id}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["record"]["eventID"], id);
    let r = get(
        &f.app,
        "/api/v1/events/00000000-0000-4000-8000-999999999999",
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn users_services_aggregations_and_histogram() {
    let f = fixture();
    let users = get(&f.app, "/api/v1/users").await.json();
    let counts: Vec<(String, u64)> = users["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["key"].as_str().unwrap().to_string(),
                b["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            ("alice".into(), 30),
            ("bob".into(), 20),
            ("carol".into(), 12),
            ("=cmd".into(), 10)
        ]
    );
    let services = get(&f.app, "/api/v1/services").await.json();
    assert_eq!(services["buckets"][0]["key"], "s3.amazonaws.com");
    assert_eq!(services["buckets"][0]["count"], 60);

    let agg = get(
        &f.app,
        "/api/v1/aggregate?field=username&by=eventName&top=2",
    )
    .await
    .json();
    assert_eq!(agg["buckets"].as_array().unwrap().len(), 2);
    assert_eq!(agg["buckets"][0]["key"], "alice");
    let by: u64 = agg["buckets"][0]["by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(by, 30);

    let h = get(&f.app, "/api/v1/histogram?interval=1h").await.json();
    assert_eq!(h["interval"], "1h");
    let total: u64 = h["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 72);
    assert_eq!(h["buckets"][0]["time"], "2024-05-01T10:00:00Z");

    let p = get(&f.app, "/api/v1/parameters").await.json();
    assert_eq!(p["attributes"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn sql_is_read_only_and_limited() {
    let f = fixture();
    let post = |body: Value| {
        Request::post("/api/v1/sql")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let r = send(&f.app, post(json!({"sql": "SELECT accountId, count(*) AS n FROM events GROUP BY accountId ORDER BY accountId"}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let j = r.json();
    assert_eq!(j["columns"], json!(["accountId", "n"]));
    assert_eq!(j["rows"], json!([[A, 60], [B, 12]]));
    let r = send(
        &f.app,
        post(json!({"sql": "SELECT eventID FROM events", "maxRows": 5})),
    )
    .await;
    let j = r.json();
    assert_eq!(j["rows"].as_array().unwrap().len(), 5);
    assert_eq!(j["truncated"], true);
    let r = send(&f.app, post(json!({"sql": "DROP TABLE events"}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"], "query_failed");
    let r = send(&f.app, post(json!({"sql": "SELEKT 1"}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = send(
        &f.app,
        Request::post("/api/v1/sql")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"], "invalid_request");
}

/// Sends `sql` to `/api/v1/sql` as `app`.
pub(crate) async fn sql(app: &App, sql: &str) -> Reply {
    let req = Request::post("/api/v1/sql")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "sql": sql }).to_string()))
        .unwrap();
    send(app, req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_is_bounded_and_never_starves_other_requests() {
    let mut config = auditwatch_server::ServerConfig::default();
    config.sql.timeout = std::time::Duration::from_secs(3);
    config.sql.memory_bytes = 64 << 20;
    let f = fixture_with(config);
    let analyst = f.app.as_(bearer_for(
        &f.auth,
        "ann",
        auditwatch_auth::Role::Analyst,
        Some(&[A]),
    ));
    // Each bound answers 400 naming it, and nothing else is harmed.
    let chain = (0..2000)
        .map(|i| format!("\"eventName\" = 'x{i}'"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let long = format!("SELECT 1 -- {}", "x".repeat(70_000));
    let refused = [
        ("SELECT lpad('a', 2147483647)".to_string(), "the bound is"),
        (
            "SELECT levenshtein(repeat('a', 200000), repeat('b', 200000))".to_string(),
            "the bound is",
        ),
        (
            format!("SELECT count(*) FROM events WHERE {chain}"),
            "max_depth",
        ),
        (long, "max_sql_bytes"),
        (
            "SELECT array_agg(x) FROM generate_series(1, 50000000) t(x)".to_string(),
            "memory_bytes",
        ),
        (
            "SELECT count(*) FROM events a, events b, events c, events d, events e, (SELECT array_agg(raw) AS r FROM events) f".to_string(),
            "",
        ),
    ];
    for (query, bound) in &refused {
        let r = sql(&analyst, query).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query:.80}: {}", r.body);
        let message = r.json()["message"].as_str().unwrap().to_string();
        assert!(message.contains(bound), "{query:.80}: {message}");
    }

    // Two queries that would run for ever keep the SQL threads busy; the server's own
    // threads still answer at once, and the time limit stops both.
    let heavy = "SELECT count(*) FROM generate_series(1, 100000000000) t(x) WHERE x % 7 = 3";
    let started = std::time::Instant::now();
    let running: Vec<_> = (0..2)
        .map(|_| {
            let app = analyst.clone();
            tokio::spawn(async move { sql(&app, heavy).await })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let viewer = f.app.as_(bearer_for(
        &f.auth,
        "vic",
        auditwatch_auth::Role::Viewer,
        Some(&[A]),
    ));
    for uri in ["/healthz", "/api/v1/events?username=alice&limit=5"] {
        let t = std::time::Instant::now();
        let r = get(&viewer, uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(1),
            "{uri} took {:?} while SQL ran",
            t.elapsed()
        );
    }
    for r in running {
        let r = r.await.unwrap();
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains("time limit"), "{}", r.body);
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(6));
    // And the server is still whole.
    let r = sql(&analyst, "SELECT count(*) AS n FROM events").await;
    assert_eq!(r.json()["rows"], json!([[60]]));
}

#[tokio::test]
async fn exports_stream_every_event_safely() {
    let f = fixture();
    let r = get(&f.app, "/api/v1/export?format=csv").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    // A complete export ends with its trailer, a comment line CSV readers skip.
    assert!(
        r.body.ends_with("\r\n# auditwatch end rows=72\r\n"),
        "{}",
        r.body
    );
    let mut rd = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_reader(r.body.as_bytes());
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 72);
    let users: Vec<&str> = rows.iter().map(|r| &r[6]).collect();
    assert!(users.contains(&"'=cmd"), "formula not neutralised");
    assert!(!users.contains(&"=cmd"));

    let r = get(&f.app, "/api/v1/export?format=ndjson&username=carol").await;
    let lines: Vec<&str> = r.body.lines().collect();
    assert_eq!(lines.len(), 13);
    let (trailer, records) = lines.split_last().unwrap();
    let trailer: Value = serde_json::from_str(trailer).unwrap();
    assert_eq!(trailer, json!({"_auditwatch": "end", "rows": 12}));
    assert_eq!(trailer["rows"], records.len());
    for l in records {
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["userIdentity"]["userName"], "carol");
    }
    // Stopped by the row cap: the trailer says so.
    let capped = fixture_with(auditwatch_server::ServerConfig {
        max_export_rows: 5,
        ..auditwatch_server::ServerConfig::default()
    });
    let r = get(&capped.app, "/api/v1/export?format=ndjson").await;
    assert_eq!(r.body.lines().count(), 6);
    assert_eq!(
        r.body.lines().last().unwrap(),
        r#"{"_auditwatch":"end","rows":5,"capped":true}"#
    );
    let r = get(&capped.app, "/api/v1/export?format=csv").await;
    assert!(
        r.body.ends_with("# auditwatch end rows=5 capped\r\n"),
        "{}",
        r.body
    );
    let r = get(&f.app, "/api/v1/export?format=json").await;
    let v = r.json();
    assert_eq!(v["Records"].as_array().unwrap().len(), 72);
    let r = get(&f.app, "/api/v1/export?format=xml").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn openapi_document_describes_the_api() {
    let f = fixture();
    let doc = get(&f.app, "/api/v1/openapi.json").await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/api/v1/events",
        "/api/v1/events/{id}",
        "/api/v1/export",
        "/api/v1/sql",
        "/api/v1/aggregate",
        "/api/v1/histogram",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} missing");
    }
}

#[tokio::test]
async fn aws_lookup_events_endpoint() {
    let f = fixture();
    // The Smithy SDKs (Rust, Go v2) send the short target; AWS answers both.
    let short = Request::post("/")
        .header("x-amz-target", "CloudTrail_20131101.LookupEvents")
        .header(header::CONTENT_TYPE, "application/x-amz-json-1.1")
        .body(Body::from(json!({"MaxResults": 2}).to_string()))
        .unwrap();
    let r = send(&f.app, short).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["Events"].as_array().unwrap().len(), 2);
    let r = aws(&f.app, "LookupEvents", json!({"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "carol"}], "MaxResults": 5})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.headers[header::CONTENT_TYPE],
        "application/x-amz-json-1.1"
    );
    let j = r.json();
    let events = j["Events"].as_array().unwrap();
    assert_eq!(events.len(), 5);
    let e = &events[0];
    assert_eq!(e["Username"], "carol");
    assert_eq!(e["EventName"], "RunInstances");
    assert_eq!(e["ReadOnly"], "false");
    assert_eq!(e["AccessKeyId"], "AKIAcarol");
    assert!(e["EventTime"].is_number());
    assert_eq!(e["Resources"][0]["ResourceType"], "AWS::S3::Bucket");
    let inner: Value = serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap();
    assert_eq!(inner["eventID"], e["EventId"]);
    // Page through with the token.
    let mut total = events.len();
    let mut token = j["NextToken"].as_str().map(str::to_string);
    while let Some(t) = token {
        let r = aws(&f.app, "LookupEvents", json!({"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "carol"}], "MaxResults": 5, "NextToken": t})).await;
        let j = r.json();
        total += j["Events"].as_array().unwrap().len();
        token = j["NextToken"].as_str().map(str::to_string);
    }
    assert_eq!(total, 12);

    for (op, body, kind) in [
        (
            "LookupEvents",
            json!({"MaxResults": 51}),
            "InvalidMaxResultsException",
        ),
        (
            "LookupEvents",
            json!({"MaxResults": 0}),
            "InvalidMaxResultsException",
        ),
        (
            "LookupEvents",
            json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "a"}, {"AttributeKey": "Username", "AttributeValue": "b"}]}),
            "InvalidLookupAttributesException",
        ),
        (
            "LookupEvents",
            json!({"LookupAttributes": [{"AttributeKey": "Nope", "AttributeValue": "a"}]}),
            "InvalidLookupAttributesException",
        ),
        (
            "LookupEvents",
            json!({"StartTime": 1714600000, "EndTime": 1714500000}),
            "InvalidTimeRangeException",
        ),
        (
            "LookupEvents",
            json!({"NextToken": "garbage"}),
            "InvalidNextTokenException",
        ),
        (
            "LookupEvents",
            json!({"EventCategory": "data"}),
            "InvalidEventCategoryException",
        ),
        ("DescribeTrails", json!({}), "UnknownOperationException"),
    ] {
        let r = aws(&f.app, op, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert_eq!(r.json()["__type"], kind, "{body}");
    }
    // A token from one query is refused by another.
    let j = aws(&f.app, "LookupEvents", json!({"MaxResults": 1}))
        .await
        .json();
    let t = j["NextToken"].as_str().unwrap();
    let r = aws(&f.app, "LookupEvents", json!({"MaxResults": 1, "NextToken": t, "LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "carol"}]})).await;
    assert_eq!(r.json()["__type"], "InvalidNextTokenException");
    let r = aws(&f.app, "LookupEvents", json!({"EventCategory": "insight"})).await;
    assert_eq!(r.json()["Events"], json!([]));
}

#[tokio::test]
async fn tracker_api_shapes() {
    let f = fixture();
    let users = get(&f.app, "/tracker/users").await.json();
    assert_eq!(users, json!(["=cmd", "alice", "bob", "carol"]));
    let services = get(&f.app, "/tracker/services").await.json();
    assert_eq!(services, json!(["ec2.amazonaws.com", "s3.amazonaws.com"]));
    let r = get(
        &f.app,
        "/tracker/users/alice?from=2024-05-01&to=2024-05-01T23:59:59",
    )
    .await;
    let events = r.json();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 30);
    let keys: Vec<&String> = events[0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
    assert_eq!(events[0]["userIdentity_userName"], "alice");
    assert!(events[0]["eventTime"].as_str().unwrap().ends_with(":00Z"));
    let r = get(
        &f.app,
        "/tracker/services/ec2?from=2024-05-01&to=2024-05-02&count=true",
    )
    .await;
    assert_eq!(r.json(), json!(12));
    let r = get(&f.app, "/tracker/users/alice?from=2024-05-01&to=2024-05-02&eventName=GetObject&params=['bucketName','eventSource']&value=['bucket-0','s3.amazonaws.com']").await;
    let events = r.json();
    assert!(!events.as_array().unwrap().is_empty());
    // Default window is the last 7 days: the 2024 events are outside it.
    assert_eq!(get(&f.app, "/tracker/scan").await.json(), json!([]));
    assert_eq!(
        get(&f.app, "/tracker/parameters").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_search_form_keeps_a_links_attribute_for_the_next_search() {
    let f = fixture();
    // A drill-down link names the attribute by its short parameter.
    let r = get(&f.app, "/search?username=bob").await;
    assert_eq!(r.status, StatusCode::OK);
    // The form shows it as a condition, so submitting the form sends it back …
    assert!(
        r.body.contains(r#"<option value="Username" selected>"#),
        "{}",
        r.body
    );
    assert!(r.body.contains(r#"name="value" value="bob""#), "{}", r.body);
    // … and the next search, with "errors only" added, is still bob's.
    let r = get(&f.app, "/api/v1/events?attr=Username&value=bob&errors=true").await;
    let events = r.json()["events"].as_array().unwrap().clone();
    assert!(!events.is_empty());
    for e in events {
        assert_eq!(e["username"], "bob");
        assert_eq!(e["record"]["errorCode"], "AccessDenied");
    }
}

#[tokio::test]
async fn failed_calls_are_a_filter_of_the_api_and_the_page() {
    let f = fixture();
    // The fixture's failures are bob's AccessDenied calls (no console sign-ins).
    let errors = get(&f.app, "/api/v1/events?errors=true&limit=1000")
        .await
        .json();
    let failed = get(&f.app, "/api/v1/events?failed=true&limit=1000")
        .await
        .json();
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["eventID"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(!ids(&errors).is_empty());
    assert_eq!(ids(&failed), ids(&errors));
    let r = get(&f.app, "/search?failed=true").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains(">failed calls<"), "{}", r.body);
    assert!(
        r.body.contains(r#"name="failed" value="true" checked"#),
        "{}",
        r.body
    );
    assert_eq!(total_of(&r.body), ids(&failed).len() as u64);
    let r = get(&f.app, "/api/v1/events?failed=maybe").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["message"].as_str().unwrap().contains("failed"),
        "{}",
        r.body
    );
}

/// The total a search page shows (`<h2 id="results-h">1,234 events</h2>`).
fn total_of(body: &str) -> u64 {
    let heading = body.find("id=\"results-h\"").expect("a results heading");
    let at = heading + body[heading..].find('>').expect("the heading's end") + 1;
    body[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a total")
}

#[tokio::test]
async fn search_pages_total_facets_exclusions_and_both_orders() {
    let f = fixture();
    let all = get(&f.app, "/search?start=2000-01-01").await;
    assert_eq!(all.status, StatusCode::OK);
    let total = total_of(&all.body);
    assert_eq!(total, 72);
    assert!(all.body.contains("Hits over time"), "a histogram");
    assert!(all.body.contains("class=\"facets\""), "facets");
    // Including bob gives his count; excluding him the rest, to the event.
    let bob = total_of(
        &get(&f.app, "/search?start=2000-01-01&username=bob")
            .await
            .body,
    );
    assert!(bob > 0 && bob < total);
    let not_bob = get(&f.app, "/search?start=2000-01-01&exclude=username:bob").await;
    assert_eq!(total_of(&not_bob.body), total - bob);
    assert!(
        not_bob.body.contains("NOT username:bob"),
        "a chip for the exclusion"
    );
    // The facet's own links say the same.
    assert!(all.body.contains("exclude=username%3Abob"), "{}", all.body);
    // Events without the field are kept by an exclusion (no error code is not an error).
    let errors = total_of(
        &get(&f.app, "/search?start=2000-01-01&errors=true")
            .await
            .body,
    );
    let codes: Vec<String> = get(&f.app, "/api/v1/aggregate?field=errorCode&start=2000-01-01")
        .await
        .json()["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| !b["key"].is_null())
        .map(|b| b["key"].as_str().unwrap().to_string())
        .collect();
    let first = &codes[0];
    let total_for = |query: String| {
        let app = f.app.clone();
        async move {
            total_of(
                &get(&app, &format!("/search?start=2000-01-01&{query}"))
                    .await
                    .body,
            )
        }
    };
    let with_first = total_for(format!("errorCode={first}")).await;
    let without_first = total_for(format!("exclude=errorCode:{first}")).await;
    assert_eq!(without_first, total - with_first);
    assert!(errors >= with_first);
    // The API takes the same parameters.
    let api = get(
        &f.app,
        "/api/v1/events?start=2000-01-01&exclude=username:bob&limit=100",
    )
    .await;
    let events = api.json()["events"].as_array().unwrap().clone();
    assert_eq!(events.len() as u64, total - bob);
    assert!(events.iter().all(|e| e["username"] != "bob"));
    // Oldest first is the newest-first order reversed, page by page.
    let newest = get(&f.app, "/api/v1/events?start=2000-01-01&limit=100")
        .await
        .json()["events"]
        .clone();
    let mut oldest = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get(
            &f.app,
            &format!("/api/v1/events?start=2000-01-01&order=oldest&limit=10{cursor}"),
        )
        .await
        .json();
        oldest.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["eventID"].clone()),
        );
        match page["nextCursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let mut newest: Vec<_> = newest
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventID"].clone())
        .collect();
    newest.reverse();
    assert_eq!(oldest, newest);
    // A text search has its total, histogram and facets over at most 7 days.
    let unbounded = get(&f.app, "/search?q=alice").await;
    assert!(
        unbounded.body.contains("tabindex=\"-1\">Events</h2>"),
        "{}",
        unbounded.body
    );
    assert!(unbounded.body.contains("over at most 7 days"));
    assert!(!unbounded.body.contains("class=\"facets\""));
    let week = get(&f.app, "/search?q=alice&start=2024-04-28&end=2024-05-03").await;
    assert!(total_of(&week.body) > 0);
    assert!(week.body.contains("class=\"facets\""));
    // Bad values are named.
    for (q, says) in [
        ("exclude=nosuch:x", "cannot exclude by"),
        ("exclude=username", "field:value"),
        ("order=sideways", "order must be newest or oldest"),
    ] {
        let r = get(&f.app, &format!("/api/v1/events?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(r.body.contains(says), "{q}: {}", r.body);
    }
}

#[tokio::test]
async fn search_pages_page_back_and_forth() {
    let f = fixture();
    let first = get(&f.app, "/search?start=2000-01-01&limit=10").await;
    let href = |body: &str, id: &str| -> Option<String> {
        let pattern = format!("id=\"{id}\" href=\"");
        let at = body.find(&pattern)? + pattern.len();
        Some(body[at..].split('"').next()?.replace("&amp;", "&"))
    };
    let older = href(&first.body, "next-page").expect("an older page");
    let second = get(&f.app, &older).await;
    let third = get(
        &f.app,
        &href(&second.body, "next-page").expect("a third page"),
    )
    .await;
    // Newer goes back one page at a time, to the first.
    let back = get(
        &f.app,
        &href(&third.body, "newer-page").expect("a newer page"),
    )
    .await;
    let rows = |body: &str| body.matches("<a href=\"/events/").count();
    assert_eq!(rows(&back.body), 10);
    let ids = |body: &str| -> Vec<String> {
        body.split("<a href=\"/events/")
            .skip(1)
            .map(|s| s.split('"').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&back.body), ids(&second.body));
    let home = get(
        &f.app,
        &href(&back.body, "newer-page").expect("back to the first"),
    )
    .await;
    assert_eq!(ids(&home.body), ids(&first.body));
    assert!(href(&home.body, "newer-page").is_none());
}

#[tokio::test]
async fn ui_pages_render_and_link() {
    let f = fixture();
    let window = "start=2024-04-30&end=2024-05-02";
    let r = get(&f.app, &format!("/?{window}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Events per user, by event name"));
    assert!(r.body.contains("<svg"));
    assert!(
        r.body.contains("username=alice&amp;eventName=GetObject")
            || r.body.contains("username=alice&amp;eventName=PutObject")
    );
    assert!(r.body.contains("Unusual activity"));
    assert!(!r.body.contains("<script>"), "no inline script");

    let r = get(&f.app, "/search?username=bob&errors=true").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.matches("class=\"failed\"").count(), 5);
    let r = get(&f.app, "/search?start=2024-05-02&end=2024-05-01").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("before start"));

    let r = get(&f.app, "/events/00000000-0000-4000-8000-000000000003").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("ListBuckets by bob"));
    assert!(r.body.contains("/users/bob"));
    assert_eq!(
        get(&f.app, "/events/nope").await.status,
        StatusCode::NOT_FOUND
    );

    let r = get(&f.app, "/users/alice?start=2024-01-01").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("AKIAalice"));
    assert_eq!(
        get(&f.app, "/users/nobody").await.status,
        StatusCode::NOT_FOUND
    );
    let r = get(&f.app, "/services/ec2.amazonaws.com?start=2024-01-01").await;
    assert!(r.body.contains("RunInstances"));
    assert!(get(&f.app, "/users").await.body.contains("/users/%3Dcmd"));

    let r = get(&f.app, "/sql?q=SELECT+count(*)+AS+n+FROM+events").await;
    assert!(
        r.body.contains("<td class=\"cell\" tabindex=\"0\">72</td>"),
        "{}",
        r.body
    );
    // A wrong column name gets a hint naming the right one.
    let r = get(&f.app, "/sql?q=SELECT+eventname+FROM+events").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Did you mean eventName?"), "{}", r.body);
    let r = get(&f.app, "/sql?q=DROP+TABLE+events").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = get(
        &f.app,
        "/sql.csv?q=SELECT+username+FROM+events+WHERE+username+LIKE+%27%3D%25%27+LIMIT+1",
    )
    .await;
    assert_eq!(r.body, "username\r\n'=cmd\r\n");
    assert!(get(&f.app, "/about").await.body.contains("72 events"));
}

#[tokio::test]
async fn about_counts_only_the_callers_accounts() {
    let f = fixture();
    let admin = get(&f.app, "/about").await;
    assert!(admin.body.contains("72 events in "), "{}", admin.body);
    let viewer = f.app.as_(session_for(
        &f.auth,
        "vera",
        auditwatch_auth::Role::Viewer,
        Some(&[A]),
    ));
    let r = get(&viewer, "/about").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains("60 events in the accounts you may see"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("72 events") && !r.body.contains("Parquet segments"));
}

#[tokio::test]
async fn contact_messages_reach_admins() {
    let f = fixture();
    let post = |body: &str| {
        Request::post("/contact")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "127.0.0.1:8080")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let r = send(
        &f.app,
        post("contact=me%40example.com&message=The+chart+is+great"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Thank you"));
    assert_eq!(
        send(&f.app, post("message=")).await.status,
        StatusCode::BAD_REQUEST
    );
    let list = get(&f.app, "/api/v1/feedback").await.json();
    assert_eq!(list[0]["message"], "The chart is great");
    assert_eq!(list[0]["contact"], "me@example.com");
    // Admins read them on a page too.
    let page = get(&f.app, "/admin/contact").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("The chart is great"), "{}", page.body);
    assert!(page.body.contains("me@example.com"));
}

#[tokio::test]
async fn browser_safety_guards() {
    let f = fixture();
    let r = get(&f.app, "/").await;
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("object-src 'none'")
            && csp.contains("frame-ancestors 'none'")
            && csp.contains("base-uri 'none'")
    );
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(r.headers.contains_key(header::REFERRER_POLICY));
    // DNS rebinding: a foreign Host is refused.
    let r = send(
        &f.app,
        Request::get("/api/v1/users")
            .header(header::HOST, "evil.example")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A cross-site form post is refused.
    let r = send(
        &f.app,
        Request::post("/contact")
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::ORIGIN, "https://evil.example")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("message=hi"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Oversized bodies are refused.
    let big = "x".repeat(2 << 20);
    let r = send(
        &f.app,
        Request::post("/api/v1/sql")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(big))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn aws_list_public_keys_answers_the_configured_keys_by_validity() {
    use auditwatch_integrity::testing::Signer;
    let signer = |bytes: &[u8]| Signer::from_der(bytes).public();
    let mut old = signer(include_bytes!(
        "../../../auditwatch-integrity/tests/data/test-key-1.der"
    ));
    old.valid_from = Some(1_700_000_000);
    old.valid_to = Some(1_702_592_000);
    let mut current = signer(include_bytes!(
        "../../../auditwatch-integrity/tests/data/test-key-2.der"
    ));
    current.valid_from = Some(1_702_000_000);
    let f = fixture_with(auditwatch_server::ServerConfig {
        public_keys: auditwatch_integrity::KeyRing(vec![old.clone(), current.clone()]),
        ..auditwatch_server::ServerConfig::default()
    });
    let fingerprints = |v: &Value| -> Vec<String> {
        v["PublicKeyList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["Fingerprint"].as_str().unwrap().to_string())
            .collect()
    };
    // Now: only the current key (no end of validity).
    let r = aws(&f.app, "ListPublicKeys", json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(fingerprints(&r.json()), [current.fingerprint.clone()]);
    assert!(
        r.json()["PublicKeyList"][0]
            .get("ValidityEndTime")
            .is_none()
    );
    // Across the rotation: both, with the key bytes as base64 and epoch-second times.
    let r = aws(
        &f.app,
        "ListPublicKeys",
        json!({"StartTime": 1_701_000_000, "EndTime": "2023-12-31T00:00:00Z"}),
    )
    .await;
    assert_eq!(
        fingerprints(&r.json()),
        [old.fingerprint.clone(), current.fingerprint.clone()]
    );
    let ring = auditwatch_integrity::KeyRing::from_json(r.body.as_bytes()).unwrap();
    assert_eq!(ring.0[0].pkcs1_der, old.pkcs1_der);
    assert_eq!(ring.0[0].valid_to, Some(1_702_592_000));
    // AWS's errors for a reversed window and an unknown field.
    let r = aws(
        &f.app,
        "ListPublicKeys",
        json!({"StartTime": 2, "EndTime": 1}),
    )
    .await;
    assert_eq!(r.json()["__type"], "InvalidTimeRangeException");
    let r = aws(&f.app, "ListPublicKeys", json!({"Bogus": 1})).await;
    assert_eq!(r.json()["__type"], "SerializationException");
}

#[tokio::test]
async fn integrity_results_are_shown_per_account_and_on_events() {
    use auditwatch_catalog::integrity::{IntegrityGap, IntegrityRecord};
    let f = fixture();
    let store = auditwatch_store::Store::open(&f.dir.path().join("data")).unwrap();
    let log_key = |acct: &str| {
        format!(
            "AWSLogs/{acct}/CloudTrail/us-east-1/2024/05/01/{acct}_CloudTrail_us-east-1_20240501T1000Z_x.json"
        )
    };
    let rec = |acct: &str, key: String, kind: &str, verdict: &str| IntegrityRecord {
        location: format!("s3://trail/{key}"),
        key,
        kind: kind.into(),
        verdict: verdict.into(),
        reason: (verdict != "valid").then(|| format!("reason for {acct}")),
        trail: "arn:aws:cloudtrail:us-east-1:111111111111:trail/t".into(),
        chain: format!("{acct} us-east-1"),
        file_time: Some(1_714_561_200),
        checked_at: 1_714_600_000,
    };
    store
        .catalog()
        .unwrap()
        .record_integrity(
            "arn:aws:cloudtrail:us-east-1:111111111111:trail/t",
            0,
            2_000_000_000,
            &[
                rec(A, log_key(A), "log", "invalid"),
                rec(
                    A,
                    format!("AWSLogs/{A}/CloudTrail-Digest/d1"),
                    "digest",
                    "valid",
                ),
                rec(B, log_key(B), "log", "valid"),
                rec(
                    B,
                    format!("AWSLogs/{B}/CloudTrail-Digest/d2"),
                    "digest",
                    "not_found",
                ),
            ],
            &[IntegrityGap {
                trail: "arn:aws:cloudtrail:us-east-1:111111111111:trail/t".into(),
                chain: format!("{B} us-east-1"),
                from: None,
                to: 1_714_561_200,
                reason: format!("gap in {CANARY_B}"),
            }],
        )
        .unwrap();
    // The admin sees both chains, the problems and the gap.
    let r = get(&f.app, "/api/v1/integrity").await.json();
    assert_eq!(r["chains"].as_array().unwrap().len(), 2);
    assert_eq!(r["chains"][0]["account"], A);
    assert_eq!(r["chains"][0]["logs"]["failed"], 1);
    assert_eq!(r["chains"][1]["digests"]["failed"], 1);
    assert_eq!(r["problems"].as_array().unwrap().len(), 2);
    assert_eq!(r["gaps"].as_array().unwrap().len(), 1);
    // A viewer of account A sees only A.
    let viewer = f.app.as_(bearer_for(
        &f.auth,
        "ia",
        auditwatch_auth::Role::Viewer,
        Some(&[A]),
    ));
    let r = get(&viewer, "/api/v1/integrity").await;
    assert!(
        !r.body.contains(B) && !r.body.contains(CANARY_B),
        "{}",
        r.body
    );
    assert_eq!(r.json()["chains"].as_array().unwrap().len(), 1);
    let page = get(&f.app, "/integrity").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("reason for 222222222222"),
        "{}",
        page.body
    );
    // Events show their log file's verdict.
    let e = get(&f.app, "/events/00000000-0000-4000-8000-000000000000").await;
    assert!(
        e.body
            .contains("Log file integrity: invalid: reason for 111111111111"),
        "{}",
        e.body
    );
    let e = get(&f.app, "/events/00000000-0000-4000-8000-000000000060").await;
    assert!(e.body.contains("verified intact"), "{}", e.body);
}

#[tokio::test]
async fn alerts_are_scoped_and_acknowledged_and_alarms_show_their_metric() {
    use auditwatch_detect::state::{Detected, RuleHit, Sample};
    let alarm: auditwatch_detect::config::AlarmSettings = toml::from_str(
        "name = \"secret-read\"\nfilter_pattern = '{ $.eventName = \"GetSecretValue\" }'\ntreat_missing_data = \"notBreaching\"",
    )
    .unwrap();
    let (defs, _) =
        auditwatch_detect::config::resolve(Default::default(), vec![alarm], vec![]).unwrap();
    let f = fixture_with(auditwatch_server::ServerConfig {
        detection: std::sync::Arc::new(auditwatch_detect::Library::fixed(defs)),
        ..Default::default()
    });
    let store = auditwatch_store::Store::open(&f.dir.path().join("data")).unwrap();
    let hit = |account: &str, id: &str| RuleHit {
        rule: "root".into(),
        title: "Root activity".into(),
        level: "high".into(),
        author: Some("Jane Doe".into()),
        group_key: account.into(),
        sample: Sample {
            event_id: id.into(),
            time_us: 1_700_000_000_000_000,
            account: Some(account.into()),
            summary: "root ConsoleLogin".into(),
        },
    };
    let found = Detected {
        hits: vec![hit(A, "ev-a"), hit(B, "ev-b")],
        ..Default::default()
    };
    let ids = auditwatch_detect::state::DetectionState::of(&store)
        .unwrap()
        .record_detected(
            &found,
            &auditwatch_detect::state::AlertPolicy {
                dedup_us: 3_600_000_000,
                max_new_per_hour: 30,
            },
            &[],
        )
        .unwrap();
    assert_eq!(ids.len(), 2);
    // The admin sees both; a viewer of account A only A's.
    let all = get(&f.app, "/api/v1/alerts").await.json();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let viewer = f.app.as_(bearer_for(
        &f.auth,
        "vic",
        auditwatch_auth::Role::Viewer,
        Some(&[A]),
    ));
    let mine = get(&viewer, "/api/v1/alerts").await.json();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["events"], json!(["ev-a"]));
    assert_eq!(mine[0]["author"], "Jane Doe");
    let b_id = ids[1];
    assert_eq!(
        get(&viewer, &format!("/api/v1/alerts/{b_id}")).await.status,
        StatusCode::NOT_FOUND
    );
    // Viewers cannot change a status; analysts and admins can, and it is audited.
    let ack = |id: i64, status: &str| {
        Request::post(format!("/api/v1/alerts/{id}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"status": status}).to_string()))
            .unwrap()
    };
    assert_eq!(
        send(&viewer, ack(ids[0], "resolved")).await.status,
        StatusCode::FORBIDDEN
    );
    let r = send(&f.app, ack(b_id, "acknowledged")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["status_by"], "root");
    let r = send(&f.app, ack(b_id, "later")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body.contains("one of open, acknowledged, resolved"),
        "{}",
        r.body
    );
    let page = get(&f.app, "/alerts?status=acknowledged").await;
    assert!(
        page.body.contains("Root activity") && page.body.contains(">acknowledged<"),
        "{}",
        page.body
    );
    let audit = get(&f.app, "/api/v1/audit").await.body;
    assert!(audit.contains("alert.status"), "{audit}");
    // Alarms: state before any evaluation, the chart and the definition.
    let alarms = get(&f.app, "/api/v1/alarms").await.json();
    assert_eq!(alarms[0]["name"], "secret-read");
    assert_eq!(alarms[0]["state"], "INSUFFICIENT_DATA");
    assert!(
        alarms[0]["condition"]
            .as_str()
            .unwrap()
            .starts_with("Sum >= 1 for 1 of 1 periods of 300 s")
    );
    let detail = get(&f.app, "/api/v1/alarms/secret-read").await.json();
    assert_eq!(detail["series"].as_array().unwrap().len(), 48);
    let page = get(&f.app, "/alarms/secret-read").await;
    assert!(page.body.contains("<svg id=\"metric\""), "{}", page.body);
    assert_eq!(
        get(&f.app, "/api/v1/alarms/nope").await.status,
        StatusCode::NOT_FOUND
    );
}

fn json_req(method: &str, uri: &str, body: Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn form_req(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn rules_are_tested_declared_edited_switched_and_removed() {
    let f = fixture();
    let analyst_a = f.app.as_(bearer_for(
        &f.auth,
        "ana",
        auditwatch_auth::Role::Analyst,
        Some(&[A]),
    ));
    let viewer = f.app.as_(bearer_for(
        &f.auth,
        "vic",
        auditwatch_auth::Role::Viewer,
        None,
    ));
    // A test reads only the caller's accounts: RunInstances is account B's.
    let test =
        json!({"filter_pattern": "{ $.eventName = \"RunInstances\" }", "start": "2024-01-01"});
    let mine = send(
        &analyst_a,
        json_req("POST", "/api/v1/rules/test", test.clone()),
    )
    .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    assert_eq!(mine.json()["matched"], 0);
    assert_eq!(mine.json()["scanned"], 60);
    let all = send(&f.app, json_req("POST", "/api/v1/rules/test", test))
        .await
        .json();
    assert_eq!(all["matched"], 12);
    assert_eq!(all["scanned"], 72);
    assert_eq!(all["events"].as_array().unwrap().len(), 12);
    assert!(
        all["events"][0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("carol RunInstances")
    );
    // Newest first.
    assert!(all["events"][0]["time"].as_str() >= all["events"][11]["time"].as_str());
    // The seed's trap is named; a bad pattern points at its column.
    let avg = send(
        &f.app,
        json_req(
            "POST",
            "/api/v1/rules/test",
            json!({"filter_pattern": "{ $.eventName = \"GetObject\" }", "start": "2024-01-01", "limit": 2}),
        ),
    )
    .await
    .json();
    assert_eq!(avg["matched"], 20);
    assert_eq!(avg["events"].as_array().unwrap().len(), 2);
    let bad = send(
        &f.app,
        json_req(
            "POST",
            "/api/v1/rules/test",
            json!({"filter_pattern": "{ $.eventName = }"}),
        ),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("filter_pattern: filter pattern, column"),
        "{}",
        bad.body
    );
    assert_eq!(
        send(
            &viewer,
            json_req(
                "POST",
                "/api/v1/rules/test",
                json!({"filter_pattern": "{ $.a = 1 }"})
            )
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );

    // Declaring: checked like the configuration file, names unique, admins only.
    let alarm = json!({"name": "b-launches", "filter_pattern": "{ $.eventName = \"RunInstances\" }",
        "statistic": "Avg", "accounts": [B]});
    let r = send(&f.app, json_req("POST", "/api/v1/alarms", alarm.clone())).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body
            .contains("alarm `b-launches`: statistic `Avg`: one of Sum"),
        "{}",
        r.body
    );
    let mut alarm = alarm;
    alarm["statistic"] = json!("Sum");
    assert_eq!(
        send(&viewer, json_req("POST", "/api/v1/alarms", alarm.clone()))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = send(&f.app, json_req("POST", "/api/v1/alarms", alarm.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let made = r.json();
    assert_eq!(made["origin"], "UI");
    assert_eq!(made["enabled"], true);
    assert_eq!(made["changed_by"], "root");
    assert_eq!(
        send(&f.app, json_req("POST", "/api/v1/alarms", alarm.clone()))
            .await
            .status,
        StatusCode::CONFLICT
    );
    // Alarms limited to accounts are shown to callers who see those accounts only.
    let alarms = get(&f.app, "/api/v1/alarms").await.json();
    assert_eq!(alarms[0]["name"], "b-launches");
    assert_eq!(get(&analyst_a, "/api/v1/alarms").await.json(), json!([]));
    assert_eq!(
        get(&analyst_a, "/api/v1/alarms/b-launches").await.status,
        StatusCode::FORBIDDEN
    );

    // Editing: no renaming; the new table replaces the old.
    let mut edited = alarm.clone();
    edited["threshold"] = json!(5);
    edited["name"] = json!("other");
    let r = send(
        &f.app,
        json_req("PUT", "/api/v1/alarms/b-launches", edited.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("cannot be renamed"), "{}", r.body);
    edited["name"] = json!("b-launches");
    let r = send(&f.app, json_req("PUT", "/api/v1/alarms/b-launches", edited)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.json()["condition"]
            .as_str()
            .unwrap()
            .starts_with("Sum >= 5"),
        "{}",
        r.body
    );

    // Switching off: the alarm stops (gone from Alarms), the switch is kept.
    let off = send(
        &f.app,
        json_req(
            "POST",
            "/api/v1/rules/alarm/b-launches",
            json!({"enabled": false}),
        ),
    )
    .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    assert_eq!(off.json()["enabled"], false);
    assert_eq!(get(&f.app, "/api/v1/alarms").await.json(), json!([]));
    let listed = get(&viewer, "/api/v1/rules").await.json();
    assert_eq!(listed[0]["id"], "b-launches");
    assert_eq!(listed[0]["enabled"], false);
    assert_eq!(
        send(
            &f.app,
            json_req(
                "POST",
                "/api/v1/rules/sigma/nope",
                json!({"enabled": false})
            )
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    // Kept in the catalog: a library opened again on the data directory has it.
    let (again, warnings) = auditwatch_detect::Library::open(
        &f.dir.path().join("data"),
        auditwatch_detect::Definitions::default(),
    )
    .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(again.entries()[0].id, "b-launches");
    assert!(!again.entries()[0].enabled);
    assert!(again.current().alarms.is_empty());

    // The page: listed with its actions; the form tests and saves.
    let page = get(&f.app, "/rules").await;
    assert!(
        page.body.contains("data-id=\"b-launches\""),
        "{}",
        page.body
    );
    assert!(page.body.contains(">Enable<") && page.body.contains(">Remove<"));
    let tested = send(
        &f.app,
        form_req(
            "/rules/test",
            "filter_pattern=%7B+%24.userIdentity.userName+%3D+%22bob%22+%7D&start=2024-01-01",
        ),
    )
    .await;
    assert_eq!(tested.status, StatusCode::OK, "{}", tested.body);
    assert!(
        tested.body.contains("<strong>20</strong> of 72 events"),
        "{}",
        tested.body
    );
    let saved = send(
        &f.app,
        form_req(
            "/rules/alarms",
            "name=bob-denied&filter_pattern=%7B+%24.errorCode+%3D+%22AccessDenied%22+%7D&statistic=Sum&threshold=3&treat_missing_data=notBreaching",
        ),
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let refused = send(
        &f.app,
        form_req("/rules/alarms", "name=x&filter_pattern=%7B&threshold=lots"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.contains("threshold: `lots` is not a number"),
        "{}",
        refused.body
    );
    let edit = get(&f.app, "/rules?edit=bob-denied").await;
    assert!(edit.body.contains("Edit alarm bob-denied"), "{}", edit.body);
    assert!(edit.body.contains("value=\"3\""), "{}", edit.body);
    let alarms = get(&f.app, "/api/v1/alarms").await.json();
    assert_eq!(alarms[0]["name"], "bob-denied");

    // Removing.
    let r = send(
        &f.app,
        json_req("DELETE", "/api/v1/alarms/b-launches", json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        send(
            &f.app,
            json_req("DELETE", "/api/v1/alarms/b-launches", json!({}))
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let audit = get(&f.app, "/api/v1/audit").await.body;
    for action in [
        "alarm.declare",
        "alarm.update",
        "rule.switch",
        "alarm.remove",
    ] {
        assert!(audit.contains(action), "{action}: {audit}");
    }
}

/// Every route that takes the search filters, with a query string to add to.
const SEARCH_ROUTES: [&str; 7] = [
    "/api/v1/events?",
    "/api/v1/aggregate?field=username&",
    "/api/v1/histogram?",
    "/api/v1/users?",
    "/api/v1/services?",
    "/api/v1/export?format=ndjson&",
    "/search?",
];

#[tokio::test]
async fn out_of_range_times_are_400s_naming_the_argument() {
    let f = fixture();
    let cases = [
        (
            "start=999999999999d",
            "start: \"999999999999d\" is out of range",
        ),
        (
            "start=99999999999999999999d",
            "start: \"99999999999999999999d\" is out of range",
        ),
        (
            "end=-999999999999w",
            "end: \"-999999999999w\" is out of range",
        ),
        (
            "start=%2B200000-01-01",
            "start: \"+200000-01-01\" is out of range",
        ),
        ("start=0001-01-01", "start: \"0001-01-01\" is out of range"),
        (
            "end=153722867280912930m",
            "end: \"153722867280912930m\" is out of range",
        ),
    ];
    for route in SEARCH_ROUTES {
        for (query, want) in cases {
            let uri = format!("{route}{query}");
            let r = get(&f.app, &uri).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.body);
            if route.starts_with("/search") {
                assert!(r.body.contains("out of range"), "{uri}: {}", r.body);
            } else {
                assert_eq!(r.json()["error"], "invalid_request", "{uri}");
                let message = r.json()["message"].as_str().unwrap().to_string();
                assert!(message.starts_with(want), "{uri}: {message}");
                assert!(message.contains("1970 to 9999"), "{uri}: {message}");
            }
        }
    }
    for uri in [
        "/tracker/scan?from=999999999999d",
        "/tracker/scan?to=999999999999d",
        "/tracker/users/alice?from=0001-01-01",
        "/tracker/services/s3?to=%2B200000-01-01T00:00:00",
        "/api/v1/audit?start=999999999999d",
        "/users?start=999999999999d",
        "/?start=999999999999d",
    ] {
        let r = get(&f.app, uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.body);
        assert!(r.body.contains("out of range"), "{uri}: {}", r.body);
    }
    // The whole accepted range answers.
    for route in SEARCH_ROUTES {
        let uri = format!("{route}start=1970-01-01&end=9999-12-31");
        let r = get(&f.app, &uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
    }
    let r = get(
        &f.app,
        "/api/v1/events?start=1970-01-01&end=9999-12-31&limit=1000",
    )
    .await;
    assert_eq!(r.json()["events"].as_array().unwrap().len(), 72);
    // The AWS endpoint's epoch seconds, as far as they go, are no 500 either.
    let r = aws(
        &f.app,
        "LookupEvents",
        json!({"StartTime": -99_999_999_999.0, "EndTime": 99_999_999_999.0, "MaxResults": 1}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// `r`, an answer from `route`, is a 400 whose text names `bound`.
fn assert_refused(r: &Reply, route: &str, bound: &str) {
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "{route}: {:.300}",
        r.body
    );
    assert!(r.body.contains(bound), "{route}: {:.300}", r.body);
}

#[tokio::test]
async fn search_condition_limits_are_400s_and_the_server_lives_on() {
    let f = fixture();
    let many: String = (0..2000).map(|i| format!("&param=a.b%3D{i}")).collect();
    for route in SEARCH_ROUTES {
        let uri = format!("{route}start=60d{many}");
        let r = get(&f.app, &uri).await;
        assert_refused(&r, route, "at most 20 (MAX_PARAM_CONDITIONS)");
        if !route.starts_with("/search") {
            assert_eq!(r.json()["error"], "limit_exceeded", "{route}");
        }
    }
    let names: Vec<String> = (0..2000).map(|i| format!("'k{i}'")).collect();
    let values: Vec<String> = (0..2000).map(|i| format!("'{i}'")).collect();
    for route in [
        "/tracker/scan",
        "/tracker/users/alice",
        "/tracker/services/s3",
    ] {
        let uri = format!(
            "{route}?params=[{}]&value=[{}]",
            names.join(","),
            values.join(",")
        );
        let r = get(&f.app, &uri).await;
        assert_refused(&r, route, "MAX_PARAM_CONDITIONS");
    }

    // Each other bound, named.
    let accounts = (0..1001)
        .map(|i| format!("{i:012}"))
        .collect::<Vec<_>>()
        .join(",");
    let attrs: String = (0..21)
        .map(|i| format!("&attr=EventName&value=x{i}"))
        .collect();
    let deep = (0..17)
        .map(|i| format!("k{i}"))
        .collect::<Vec<_>>()
        .join(".");
    let regions = vec!["us-east-1"; 1001].join(",");
    let tracker_regions = vec!["awsRegion"; 1001].join(",");
    let tracker_values = vec!["us-east-1"; 1001].join(",");
    for (uri, bound) in [
        (
            format!("/api/v1/events?account={accounts}"),
            "MAX_LIST_VALUES",
        ),
        (
            format!("/api/v1/events?region={regions}"),
            "MAX_LIST_VALUES",
        ),
        (
            format!("/api/v1/aggregate?field=username&errorCode={regions}"),
            "MAX_LIST_VALUES",
        ),
        (
            format!("/api/v1/histogram?sourceIp={regions}"),
            "MAX_LIST_VALUES",
        ),
        (
            format!("/api/v1/events?q={}", "x".repeat(1025)),
            "MAX_TEXT_BYTES",
        ),
        (
            format!("/api/v1/events?param={deep}%3Dv"),
            "MAX_PARAM_DEPTH",
        ),
        (
            format!("/api/v1/events?start=7d{attrs}"),
            "MAX_ATTRIBUTE_CONDITIONS",
        ),
        (
            format!("/tracker/scan?params=[{tracker_regions}]&value=[{tracker_values}]"),
            "MAX_PARAM_CONDITIONS",
        ),
    ] {
        let r = get(&f.app, &uri).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{uri:.80}: {:.300}",
            r.body
        );
        assert!(r.body.contains(bound), "{uri:.80}: {}", r.body);
    }

    // The AWS endpoint: one attribute at most (as AWS), MaxResults 1-50.
    let attributes: Vec<Value> = (0..2000)
        .map(|i| json!({"AttributeKey": "EventName", "AttributeValue": format!("x{i}")}))
        .collect();
    for (body, want) in [
        (
            json!({"LookupAttributes": attributes}),
            "InvalidLookupAttributesException",
        ),
        (json!({"MaxResults": 51}), "InvalidMaxResultsException"),
        (json!({"MaxResults": 0}), "InvalidMaxResultsException"),
        (
            json!({"MaxResults": 1_000_000_000_000_i64}),
            "InvalidMaxResultsException",
        ),
        (json!({"MaxResults": 1e300}), "SerializationException"),
    ] {
        let r = aws(&f.app, "LookupEvents", body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{want}: {}", r.body);
        assert_eq!(r.json()["__type"], want, "{}", r.body);
    }

    // At the limits, and afterwards, searches answer as usual (same router).
    let twenty: String = (0..20).map(|_| "&param=bucketName%3Dbucket-0").collect();
    let r = get(&f.app, &format!("/api/v1/events?limit=1000{twenty}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["events"].as_array().unwrap().len(), 24);
    let r = get(
        &f.app,
        "/api/v1/events?start=1970-01-01&username=alice&limit=1000",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["events"].as_array().unwrap().len(), 30);
    let r = get(
        &f.app,
        "/tracker/scan?from=2024-04-01&to=2024-06-01&count=true",
    )
    .await;
    assert_eq!(r.json(), json!(72));
    let r = aws(&f.app, "LookupEvents", json!({"MaxResults": 50})).await;
    assert_eq!(r.json()["Events"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn empty_sql_answers_keep_their_column_names() {
    let f = fixture();
    let r = sql(&f.app, "SELECT \"eventName\" FROM events WHERE false").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"columns": ["eventName"], "rows": [], "truncated": false})
    );
    let r = sql(
        &f.app,
        "SELECT username, count(*) AS n FROM events WHERE username = 'nobody' GROUP BY username",
    )
    .await;
    assert_eq!(r.json()["columns"], json!(["username", "n"]), "{}", r.body);
    // The console shows the headers of an empty answer, and its CSV has them.
    let q = "/sql?q=SELECT+%22eventName%22%2C+%22eventSource%22+FROM+events+WHERE+false";
    let page = get(&f.app, q).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("0 rows"), "{}", page.body);
    assert!(
        page.body
            .contains("<th scope=\"col\">eventName</th><th scope=\"col\">eventSource</th>"),
        "{}",
        page.body
    );
    let csv = get(&f.app, &q.replacen("/sql", "/sql.csv", 1)).await;
    assert_eq!(csv.body, "eventName,eventSource\r\n");
}

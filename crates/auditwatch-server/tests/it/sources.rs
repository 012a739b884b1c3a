//! Declaring sources through the API and the Sources page: checked like the
//! configuration file, kept across restarts, removable, admins only, audited.

use crate::common::{App, As, bearer_for, get, send, session_for};
use auditwatch_auth::{AuditFilter, AuthStore, Role};
use auditwatch_server::{AppState, ServerConfig, router};
use auditwatch_sources::config::SourceConfig;
use auditwatch_sources::runner::Runner;
use auditwatch_store::Store;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

fn post_json(uri: &str, body: Value) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn delete(uri: &str) -> Request<Body> {
    Request::delete(uri).body(Body::empty()).unwrap()
}

fn form(uri: &str, table: &str) -> Request<Body> {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("table", table)
        .finish();
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

/// A server whose runner was started with `config_sources` from "the file".
fn app(data: &std::path::Path, config_sources: Vec<SourceConfig>) -> (App, Runner) {
    let store = Store::open(data).unwrap();
    let specs = auditwatch_sources::config::resolve_all(config_sources).unwrap();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let runner = Runner::start(
        store.clone(),
        specs,
        &Default::default(),
        Default::default(),
        stopped,
    );
    std::mem::forget(_stop);
    let config = ServerConfig {
        sources: runner.clone(),
        ..ServerConfig::default()
    };
    let auth = AuthStore::open(data).unwrap();
    let who = session_for(&auth, "root", Role::Admin, None);
    let state = AppState::new(store, auth, config);
    (
        App {
            router: router(state),
            who,
        },
        runner,
    )
}

fn names(runner: &Runner) -> Vec<(String, String)> {
    runner
        .snapshot()
        .into_iter()
        .map(|s| (s.name, s.origin))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_declare_and_remove_sources_that_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let from_file = SourceConfig {
        name: "from-file".into(),
        kind: "s3".into(),
        bucket: Some("file-bucket".into()),
        interval_seconds: Some(3600),
        ..Default::default()
    };
    let (app, runner) = app(&data, vec![from_file.clone()]);

    // Refusals name the field and the reason.
    for (body, status, words) in [
        (
            json!({"name": "x", "kind": "s3"}),
            StatusCode::BAD_REQUEST,
            "`bucket` is required",
        ),
        (
            json!({"name": "x", "kind": "s3", "bucket": "other-bucket", "queue_url": "q"}),
            StatusCode::BAD_REQUEST,
            "`queue_url` does not apply to kind `s3`",
        ),
        (
            json!({"name": "x", "kind": "lookup", "endpoint_url": "http://169.254.169.254"}),
            StatusCode::BAD_REQUEST,
            "`endpoint_url` can only be set in the configuration file",
        ),
        (
            json!({"name": "x", "kind": "s3", "bucket": "other-bucket", "bukket": "c"}),
            StatusCode::BAD_REQUEST,
            "unknown field `bukket`",
        ),
        (
            json!({"name": "from-file", "kind": "s3", "bucket": "other-bucket"}),
            StatusCode::CONFLICT,
            "a source named `from-file` already exists",
        ),
    ] {
        let r = send(&app, post_json("/api/v1/sources", body.clone())).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert!(
            r.json()["message"].as_str().unwrap().contains(words),
            "{}",
            r.body
        );
    }
    assert_eq!(names(&runner).len(), 1);

    // Declared through the API: started at once, shown with who declared it.
    let r = send(
        &app,
        post_json(
            "/api/v1/sources",
            json!({"name": "trail", "kind": "s3", "bucket": "my-bucket", "interval_seconds": 3600,
                   "filter": {"drop_event_names": ["Describe"]}}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["origin"], "ui");
    assert_eq!(r.json()["declared_by"], "root");
    let again = send(
        &app,
        post_json(
            "/api/v1/sources",
            json!({"name": "trail", "kind": "s3", "bucket": "other-bucket"}),
        ),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let listed = get(&app, "/api/v1/sources").await.json();
    let trail = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "trail")
        .unwrap()
        .clone();
    assert_eq!(trail["target"], "s3://my-bucket/");
    let config = trail["config"].as_str().unwrap();
    assert!(config.contains("bucket = \"my-bucket\""), "{config}");
    assert!(
        config.contains("drop_event_names = [\"Describe\"]"),
        "{config}"
    );

    // Declared through the page's form (TOML); a bad table is shown with its reason.
    let r = send(&app, form("/sources", "name = \"queue\"\nkind = \"sqs\"\n")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("`queue_url` is required"), "{}", r.body);
    let r = send(&app, form("/sources", "name = [oops")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body.contains("the source table is not valid"),
        "{}",
        r.body
    );
    let r = send(
        &app,
        form(
            "/sources",
            "name = \"queue\"\nkind = \"sqs\"\nqueue_url = \"https://sqs.us-east-1.amazonaws.com/111122223333/q\"\n",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = get(&app, "/sources").await;
    assert!(page.body.contains("by root"), "{}", page.body);
    assert!(page.body.contains("action=\"/sources/queue/remove\""));
    assert!(page.body.contains("configuration file"));

    // Non-admins can neither declare nor remove.
    let auth = AuthStore::open(&data).unwrap();
    let analyst = app.as_(bearer_for(&auth, "ann", Role::Analyst, None));
    let r = send(
        &analyst,
        post_json(
            "/api/v1/sources",
            json!({"name": "mine", "kind": "s3", "bucket": "other-bucket"}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        send(&analyst, delete("/api/v1/sources/trail")).await.status,
        StatusCode::FORBIDDEN
    );

    // A restart starts the declared sources again, next to the file's.
    let (app2, runner2) = app_again(&data, &from_file);
    let mut seen = names(&runner2);
    seen.sort();
    assert_eq!(
        seen,
        [
            ("from-file".to_string(), "config".to_string()),
            ("queue".to_string(), "ui".to_string()),
            ("trail".to_string(), "ui".to_string()),
        ]
    );

    // Removal: declared ones go (and stay gone after a restart); the file's stay.
    let r = send(&app2, delete("/api/v1/sources/trail")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = send(&app2, delete("/api/v1/sources/trail")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(&app2, delete("/api/v1/sources/from-file")).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("configuration file")
    );
    let r = send(&app2, form("/sources/queue/remove", "")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        names(&runner2),
        [("from-file".to_string(), "config".to_string())]
    );
    let (_, runner3) = app_again(&data, &from_file);
    assert_eq!(
        names(&runner3),
        [("from-file".to_string(), "config".to_string())]
    );

    // Every change, refused or not, is in the audit log.
    let log = auth
        .audit_log(&AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    let count = |action: &str| log.iter().filter(|e| e.action == action).count();
    assert!(count("source.declare") >= 9, "{log:?}");
    assert!(count("source.remove") >= 4, "{log:?}");
    assert!(matches!(app.who, As::Session { .. }));
}

fn app_again(data: &std::path::Path, from_file: &SourceConfig) -> (App, Runner) {
    app(data, vec![from_file.clone()])
}

//! Shared by the router tests: a small lake written here (two accounts, four users,
//! errors, resources, a request parameter, and a user name that a spreadsheet would
//! run as a formula), users of every role, and helpers that send requests through
//! the router (no socket) as one of them.

use std::path::Path;

use auditwatch_auth::{AuthStore, IssuedToken, Role, TokenKind};
use auditwatch_server::{AppState, ServerConfig, router};
use auditwatch_store::Store;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const A: &str = "111111111111";
pub const B: &str = "222222222222";
/// A string only account B's events hold: no answer to a caller limited to A may
/// contain it.
pub const CANARY_B: &str = "canary-b-7f3a91";

pub fn event(
    i: usize,
    account: &str,
    user: &str,
    name: &str,
    source: &str,
    error: Option<&str>,
) -> Value {
    let mut e = json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDA", "arn": format!("arn:aws:iam::{account}:user/{user}"),
                         "accountId": account, "accessKeyId": format!("AKIA{user}"), "userName": user},
        "eventTime": format!("2024-05-01T{:02}:{:02}:00Z", 10 + i / 60, i % 60),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": format!("203.0.113.{}", i % 5),
        "userAgent": "aws-cli/2",
        "requestParameters": {"bucketName": format!("bucket-{}", i % 3)},
        "responseElements": null,
        "requestID": format!("req-{i}"),
        "eventID": format!("00000000-0000-4000-8000-{i:012}"),
        "readOnly": name.starts_with("Get") || name.starts_with("List"),
        "resources": [{"ARN": format!("arn:aws:s3:::bucket-{}", i % 3), "accountId": account, "type": "AWS::S3::Bucket"}],
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
        "eventCategory": "Management"
    });
    if let Some(code) = error {
        e["errorCode"] = json!(code);
        e["errorMessage"] = json!("denied");
    }
    e
}

/// 60 events in account A (alice 30, bob 20, "=cmd" 10) and 12 in account B (carol).
pub fn write_fixture(dir: &Path) {
    let mut a = Vec::new();
    for i in 0..60 {
        let (user, name) = match i % 6 {
            0..=2 => ("alice", if i % 2 == 0 { "GetObject" } else { "PutObject" }),
            3 | 4 => ("bob", "ListBuckets"),
            _ => ("=cmd", "DeleteBucket"),
        };
        let err = (user == "bob" && i % 4 == 3).then_some("AccessDenied");
        a.push(event(i, A, user, name, "s3.amazonaws.com", err));
    }
    let mut b = Vec::new();
    for i in 60..72 {
        let mut e = event(i, B, "carol", "RunInstances", "ec2.amazonaws.com", None);
        e["requestParameters"]["note"] = json!(CANARY_B);
        b.push(e);
    }
    for (acct, records) in [(A, a), (B, b)] {
        let d = dir.join(format!("AWSLogs/{acct}/CloudTrail/us-east-1/2024/05/01"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join(format!("{acct}_CloudTrail_us-east-1_20240501T1000Z_x.json")),
            json!({"Records": records}).to_string(),
        )
        .unwrap();
    }
}

/// Who sends a request.
#[derive(Debug, Clone)]
pub enum As {
    /// Nobody: no credentials.
    Anonymous,
    /// A browser session: cookie plus the CSRF header on writes.
    Session { cookie: String, csrf: String },
    /// `Authorization: Bearer`.
    Bearer(String),
}

/// The router and a principal to send as.
#[derive(Clone)]
pub struct App {
    pub router: axum::Router,
    pub who: As,
}

impl App {
    /// The same router, as someone else.
    pub fn as_(&self, who: As) -> App {
        App {
            router: self.router.clone(),
            who,
        }
    }
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub auth: std::sync::Arc<AuthStore>,
    /// As the admin (a browser session).
    pub app: App,
}

pub const PASSWORD: &str = "correct horse battery staple";

/// A session for `name` (created with `role` and `accounts` if new).
pub fn session_for(auth: &AuthStore, name: &str, role: Role, accounts: Option<&[&str]>) -> As {
    let user = match auth.user(name).unwrap() {
        Some(u) => u,
        None => auth
            .add_user(
                name,
                role,
                accounts.map(|a| a.iter().map(|s| s.to_string()).collect()),
                PASSWORD,
            )
            .unwrap(),
    };
    let s = auth.create_session(&user, "127.0.0.1").unwrap();
    As::Session {
        cookie: format!("auditwatch={}", s.id),
        csrf: s.csrf,
    }
}

/// A bearer token for `name` (created with `role` and `accounts` if new).
pub fn bearer_for(auth: &AuthStore, name: &str, role: Role, accounts: Option<&[&str]>) -> As {
    if auth.user(name).unwrap().is_none() {
        auth.add_user(
            name,
            role,
            accounts.map(|a| a.iter().map(|s| s.to_string()).collect()),
            PASSWORD,
        )
        .unwrap();
    }
    match auth.create_token(name, TokenKind::Bearer, None).unwrap() {
        IssuedToken::Bearer { token, .. } => As::Bearer(token),
        IssuedToken::Aws { .. } => unreachable!(),
    }
}

/// A fixture serving `config`; its detection definitions are opened on the data
/// directory, so the Rules page can change them as in `serve`.
pub fn fixture_with(mut config: ServerConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    write_fixture(&input);
    let data = dir.path().join("data");
    let store = Store::open(&data).unwrap();
    let summary = auditwatch_ingest::ingest_paths(
        &store,
        &[input],
        &auditwatch_ingest::IngestOptions::default(),
        &mut (),
    )
    .unwrap();
    assert_eq!(summary.events_added, 72);
    let (library, warnings) =
        auditwatch_detect::Library::open(&data, config.detection.file().clone()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    config.detection = std::sync::Arc::new(library);
    let state = AppState::new(store, AuthStore::open(&data).unwrap(), config);
    let auth = state.auth().clone();
    let who = session_for(&auth, "root", Role::Admin, None);
    let app = App {
        router: router(state),
        who,
    };
    Fixture { dir, auth, app }
}

pub fn fixture() -> Fixture {
    fixture_with(ServerConfig::default())
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Sends `req` as the app's principal (unless it already carries credentials).
pub async fn send(app: &App, mut req: Request<Body>) -> Reply {
    let h = req.headers_mut();
    if !h.contains_key(header::AUTHORIZATION) && !h.contains_key(header::COOKIE) {
        match &app.who {
            As::Anonymous => {}
            As::Session { cookie, csrf } => {
                h.insert(header::COOKIE, cookie.parse().unwrap());
                h.insert("x-csrf-token", csrf.parse().unwrap());
            }
            As::Bearer(t) => {
                h.insert(
                    header::AUTHORIZATION,
                    format!("Bearer {t}").parse().unwrap(),
                );
            }
        }
    }
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub async fn get(app: &App, uri: &str) -> Reply {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

pub async fn aws(app: &App, op: &str, body: Value) -> Reply {
    let req = Request::post("/")
        .header(
            "x-amz-target",
            format!("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.{op}"),
        )
        .header(header::CONTENT_TYPE, "application/x-amz-json-1.1")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(app, req).await
}

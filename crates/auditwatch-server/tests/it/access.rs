//! Who may do what, checked through the router: the matrix of every declared route
//! against every kind of principal (generated from the policy table, so a new route
//! is covered the moment it exists), with account B's canary planted in the data;
//! then sign-in, sessions, CSRF, throttling, TOTP, API keys, Signature V4 and the
//! audit log.

use auditwatch_auth::sigv4;
use auditwatch_auth::{AuthStore, IssuedToken, Role, TokenKind};
use auditwatch_server::access::{Access, Kind};
use auditwatch_server::{AuthConfig, ServerConfig, access_rules};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::common::*;

const B_EVENT: &str = "00000000-0000-4000-8000-000000000060";

/// A concrete request for a rule: path parameters point at account B's data.
fn request_for(method: &Method, pattern: &str) -> (String, Option<(&'static str, String)>) {
    let path = pattern
        .replace("{id}", B_EVENT)
        .replace("{name}", "carol")
        .replace("{user}", "carol")
        .replace("{svc}", "ec2.amazonaws.com")
        .replace("{kind}", "alarm");
    let path = match pattern {
        "/admin/users/{name}" => "/admin/users/victim".to_string(),
        "/admin/tokens/{id}/revoke" => "/admin/tokens/awt_0000000000000000/revoke".to_string(),
        _ => path,
    };
    let query = match pattern {
        "/search" | "/api/v1/events" => "?username=carol",
        "/api/v1/export" => "?format=ndjson",
        "/api/v1/aggregate" => "?field=username",
        "/sql" | "/sql.csv" => "?q=SELECT+*+FROM+events",
        "/tracker/scan" => "?from=2024-04-01&to=2024-06-01",
        p if p.starts_with("/tracker/") => "?from=2024-04-01&to=2024-06-01",
        _ => "",
    };
    let body = if *method == Method::POST {
        Some(match pattern {
            "/api/v1/sql" => ("application/json", json!({"sql": "SELECT * FROM events"}).to_string()),
            "/" => (
                "application/x-amz-json-1.1",
                json!({"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "carol"}]}).to_string(),
            ),
            "/contact" => ("application/x-www-form-urlencoded", "message=hello".to_string()),
            "/api/v1/rules/test" => (
                "application/json",
                json!({"filter_pattern": "{ $.eventName = * }", "start": "2024-01-01"}).to_string(),
            ),
            "/rules/test" => (
                "application/x-www-form-urlencoded",
                "filter_pattern=%7B+%24.eventName+%3D+*+%7D&start=2024-01-01".to_string(),
            ),
            "/login" => ("application/x-www-form-urlencoded", "name=nobody&password=wrong+password".to_string()),
            "/admin/users" => ("application/x-www-form-urlencoded", "name=&role=viewer".to_string()),
            "/admin/users/{name}" => ("application/x-www-form-urlencoded", "action=enable".to_string()),
            "/admin/tokens" => ("application/x-www-form-urlencoded", "user=nobody&kind=bearer".to_string()),
            _ => ("application/x-www-form-urlencoded", String::new()),
        })
    } else {
        None
    };
    (format!("{path}{query}"), body)
}

fn now_amz() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}

/// A new Signature V4 key pair of `user`: (access key id, secret).
fn aws_key(auth: &AuthStore, user: &str) -> (String, String) {
    match auth.create_token(user, TokenKind::Aws, None).unwrap() {
        IssuedToken::Aws {
            access_key_id,
            secret_access_key,
        } => (access_key_id, secret_access_key),
        IssuedToken::Bearer { .. } => unreachable!("an AWS key was asked for"),
    }
}

/// A Signature V4 request to the AWS endpoint, for `service` in us-east-1.
fn signed(body: &str, key: &str, secret: &str, service: &str, date: &str) -> Request<Body> {
    signed_for(body, key, secret, "us-east-1", service, date)
}

/// A Signature V4 LookupEvents request signed for `service` in `region`, dated `date`.
fn signed_for(
    body: &str,
    key: &str,
    secret: &str,
    region: &str,
    service: &str,
    date: &str,
) -> Request<Body> {
    let target = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";
    let headers = vec![
        ("host".to_string(), "127.0.0.1:8080".to_string()),
        ("x-amz-date".to_string(), date.to_string()),
        ("x-amz-target".to_string(), target.to_string()),
        (
            "content-type".to_string(),
            "application/x-amz-json-1.1".to_string(),
        ),
    ];
    let req = sigv4::Request {
        method: "POST",
        path: "/",
        query: "",
        headers: headers.clone(),
        body: body.as_bytes(),
    };
    let auth = sigv4::sign(&req, key, secret, region, service).unwrap();
    let mut b = Request::post("/");
    for (k, v) in headers {
        b = b.header(k, v);
    }
    b.header(header::AUTHORIZATION, auth)
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Principal {
    Admin,
    AnalystA,
    ViewerA,
    KeyA,
    Anonymous,
}

#[tokio::test]
async fn every_route_by_every_principal_keeps_account_b_hidden() {
    let f = fixture();
    f.auth
        .add_user("victim", Role::Viewer, None, PASSWORD)
        .unwrap();
    let key = bearer_for(&f.auth, "bot", Role::Analyst, Some(&[A]));
    let IssuedToken::Aws {
        access_key_id,
        secret_access_key,
    } = f.auth.create_token("bot", TokenKind::Aws, None).unwrap()
    else {
        unreachable!()
    };
    let rules = access_rules();
    assert!(
        rules.len() >= 40,
        "the table lists every route ({})",
        rules.len()
    );
    let mut admin_saw_canary = 0;
    let mut checked = 0;
    for rule in &rules {
        for p in [
            Principal::Admin,
            Principal::AnalystA,
            Principal::ViewerA,
            Principal::KeyA,
            Principal::Anonymous,
        ] {
            let (uri, body) = request_for(&rule.method, &rule.path);
            // Fresh sessions each time: the matrix signs out too.
            let who = match p {
                Principal::Admin => session_for(&f.auth, "root", Role::Admin, None),
                Principal::AnalystA => session_for(&f.auth, "ana", Role::Analyst, Some(&[A])),
                Principal::ViewerA => session_for(&f.auth, "vic", Role::Viewer, Some(&[A])),
                Principal::KeyA => key.clone(),
                Principal::Anonymous => As::Anonymous,
            };
            let app = f.app.as_(who);
            let req = match (&body, p, rule.kind) {
                (Some((_, b)), Principal::KeyA, Kind::Aws) => signed(
                    b,
                    &access_key_id,
                    &secret_access_key,
                    "cloudtrail",
                    &now_amz(),
                ),
                (Some((ct, b)), _, _) => {
                    let mut r = Request::builder()
                        .method(rule.method.clone())
                        .uri(&uri)
                        .header(header::CONTENT_TYPE, *ct);
                    if rule.kind == Kind::Aws {
                        r = r.header(
                            "x-amz-target",
                            "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
                        );
                    }
                    r.body(Body::from(b.clone())).unwrap()
                }
                (None, _, _) => Request::builder()
                    .method(rule.method.clone())
                    .uri(&uri)
                    .body(Body::empty())
                    .unwrap(),
            };
            let r = send(&app, req).await;
            let ctx = format!(
                "{} {uri} as {p:?}: {} {}",
                rule.method,
                r.status,
                &r.body[..r.body.len().min(300)]
            );
            checked += 1;
            assert!(r.status.as_u16() < 500, "{ctx}");
            let role = match p {
                Principal::Admin => Some(Role::Admin),
                Principal::AnalystA | Principal::KeyA => Some(Role::Analyst),
                Principal::ViewerA => Some(Role::Viewer),
                Principal::Anonymous => None,
            };
            // Bearer tokens are for the JSON APIs only; pages need a session.
            let key_refused = p == Principal::KeyA && rule.kind == Kind::Page;
            match rule.access {
                Access::Public => {
                    assert!(
                        !matches!(r.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
                            || rule.path == "/login",
                        "{ctx}"
                    );
                }
                Access::Role(min) => match role {
                    None => match rule.kind {
                        Kind::Page if rule.method == Method::GET => {
                            assert_eq!(r.status, StatusCode::SEE_OTHER, "{ctx}");
                            assert!(
                                r.headers[header::LOCATION]
                                    .to_str()
                                    .unwrap()
                                    .starts_with("/login?next="),
                                "{ctx}"
                            );
                        }
                        Kind::Aws => assert!(
                            r.body.contains("MissingAuthenticationTokenException"),
                            "{ctx}"
                        ),
                        _ => assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{ctx}"),
                    },
                    Some(_) if key_refused => {
                        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{ctx}")
                    }
                    Some(have) if have < min => match rule.kind {
                        Kind::Aws => assert!(r.body.contains("AccessDeniedException"), "{ctx}"),
                        _ => assert_eq!(r.status, StatusCode::FORBIDDEN, "{ctx}"),
                    },
                    Some(_) => assert!(
                        !matches!(r.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
                        "{ctx}"
                    ),
                },
            }
            if matches!(
                p,
                Principal::AnalystA | Principal::ViewerA | Principal::KeyA
            ) {
                assert!(!r.body.contains(CANARY_B), "account B leaked: {ctx}");
                // (A "not found" answer may name the id it was asked for.)
                if !uri.contains(B_EVENT) {
                    assert!(!r.body.contains(B_EVENT), "account B's event leaked: {ctx}");
                }
            }
            if p == Principal::Admin && r.body.contains(CANARY_B) {
                admin_saw_canary += 1;
            }
        }
    }
    // The canary is reachable, so its absence above means something.
    assert!(
        admin_saw_canary >= 5,
        "admin saw the canary on {admin_saw_canary} routes"
    );
    assert!(checked >= 200);
}

fn form_post(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn set_cookie(r: &Reply) -> String {
    r.headers[header::SET_COOKIE].to_str().unwrap().to_string()
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn sign_in_session_csrf_and_sign_out() {
    let f = fixture();
    f.auth
        .add_user("ana", Role::Analyst, Some(vec![A.into()]), PASSWORD)
        .unwrap();
    let anon = f.app.as_(As::Anonymous);
    let r = get(&anon, "/search?username=alice").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers[header::LOCATION],
        "/login?next=%2Fsearch%3Fusername%3Dalice"
    );
    let page = get(&anon, "/login?next=/search").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("name=\"password\""));

    let wrong = send(
        &anon,
        form_post("/login", "name=ana&password=not+the+password&next=/search"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("Wrong name, password or code."));
    let unknown = send(
        &anon,
        form_post("/login", "name=nobody&password=not+the+password"),
    )
    .await;
    assert!(
        unknown.body.contains("Wrong name, password or code."),
        "same answer for unknown names"
    );

    let ok = send(
        &anon,
        form_post(
            "/login",
            &format!(
                "name=ana&password={}&next=/search",
                PASSWORD.replace(' ', "+")
            ),
        ),
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.headers[header::LOCATION], "/search");
    let c = set_cookie(&ok);
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Path=/"),
        "{c}"
    );
    assert!(!c.contains("Secure"), "plain HTTP: {c}");
    let cookie = cookie_pair(&c);
    let id = cookie.split_once('=').unwrap().1;
    assert!(id.len() >= 43, "≥ 256 bits");

    // An open redirect is not possible through `next`.
    let off = send(
        &anon,
        form_post(
            "/login",
            &format!(
                "name=ana&password={}&next=//evil.example",
                PASSWORD.replace(' ', "+")
            ),
        ),
    )
    .await;
    assert_eq!(off.headers[header::LOCATION], "/");

    let with_cookie = |req: Request<Body>| {
        let mut req = req;
        req.headers_mut()
            .insert(header::COOKIE, cookie.parse().unwrap());
        req
    };
    let me = send(
        &anon,
        with_cookie(Request::get("/api/v1/me").body(Body::empty()).unwrap()),
    )
    .await;
    assert_eq!(
        me.json(),
        json!({"name": "ana", "role": "analyst", "accounts": [A]})
    );
    let page = send(
        &anon,
        with_cookie(Request::get("/contact").body(Body::empty()).unwrap()),
    )
    .await;
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();

    // State-changing requests need the session's CSRF token.
    let r = send(&anon, with_cookie(form_post("/contact", "message=hi"))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = send(
        &anon,
        with_cookie(form_post("/contact", "message=hi&csrf=forged")),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        &anon,
        with_cookie(form_post("/contact", &format!("message=hi&csrf={csrf}"))),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let out = send(
        &anon,
        with_cookie(form_post("/logout", &format!("csrf={csrf}"))),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(set_cookie(&out).contains("Max-Age=0"));
    let after = send(
        &anon,
        with_cookie(Request::get("/api/v1/me").body(Body::empty()).unwrap()),
    )
    .await;
    assert_eq!(
        after.status,
        StatusCode::UNAUTHORIZED,
        "signed out on the next request"
    );

    // Disabling a user ends its sessions on the next request.
    let s = session_for(&f.auth, "ana", Role::Analyst, None);
    let app = f.app.as_(s);
    assert_eq!(get(&app, "/api/v1/me").await.status, StatusCode::OK);
    f.auth.set_disabled("ana", true).unwrap();
    assert_eq!(
        get(&app, "/api/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );

    let log = get(&f.app, "/api/v1/audit?action=signin").await.json();
    let outcomes: Vec<(String, String)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        outcomes.contains(&("ana".into(), "failed".into())),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("nobody".into(), "failed".into())),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("ana".into(), "ok".into())),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn throttling_backs_off_and_totp_is_enforced() {
    let f = fixture();
    let u = f
        .auth
        .add_user("tess", Role::Admin, None, PASSWORD)
        .unwrap();
    let anon = f.app.as_(As::Anonymous);
    let right = format!("name=tess&password={}", PASSWORD.replace(' ', "+"));
    for _ in 0..5 {
        let r = send(
            &anon,
            form_post("/login", "name=tess&password=wrong+password"),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = send(&anon, form_post("/login", &right)).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    // Another name is not affected.
    f.auth
        .add_user("uma", Role::Viewer, None, PASSWORD)
        .unwrap();
    let r = send(
        &anon,
        form_post(
            "/login",
            &format!("name=uma&password={}", PASSWORD.replace(' ', "+")),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    // TOTP: the code is required once set up.
    let g = fixture();
    g.auth
        .add_user("tess", Role::Admin, None, PASSWORD)
        .unwrap();
    g.auth.enable_totp("tess").unwrap();
    let u2 = g.auth.user("tess").unwrap().unwrap();
    let anon = g.app.as_(As::Anonymous);
    let r = send(&anon, form_post("/login", &right)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "no code");
    let seed = g.auth.totp_seed(u2.id).unwrap().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = auditwatch_auth::totp::code_at(&seed, now).unwrap();
    let r = send(&anon, form_post("/login", &format!("{right}&code={code}"))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let _ = u;

    // Admins without a second factor are refused when the setting asks for one.
    let h = fixture_with(ServerConfig {
        auth: AuthConfig {
            require_totp_for_admins: true,
            ..AuthConfig::default()
        },
        ..ServerConfig::default()
    });
    h.auth
        .add_user("tess", Role::Admin, None, PASSWORD)
        .unwrap();
    let r = send(&h.app.as_(As::Anonymous), form_post("/login", &right)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("second factor"));
}

#[tokio::test]
async fn secure_cookies_use_the_host_prefix() {
    let f = fixture_with(ServerConfig {
        auth: AuthConfig {
            secure_cookies: true,
            ..AuthConfig::default()
        },
        ..ServerConfig::default()
    });
    f.auth
        .add_user("ana", Role::Viewer, None, PASSWORD)
        .unwrap();
    let r = send(
        &f.app.as_(As::Anonymous),
        form_post(
            "/login",
            &format!("name=ana&password={}", PASSWORD.replace(' ', "+")),
        ),
    )
    .await;
    let c = set_cookie(&r);
    assert!(
        c.starts_with("__Host-auditwatch=") && c.contains("; Secure") && c.contains("Path=/"),
        "{c}"
    );
}

#[tokio::test]
async fn bearer_tokens_and_signature_v4() {
    let f = fixture();
    let bot = bearer_for(&f.auth, "bot", Role::Viewer, Some(&[A]));
    let app = f.app.as_(bot.clone());
    let r = get(&app, "/api/v1/events?limit=1000").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["events"].as_array().unwrap().len(),
        60,
        "account A only"
    );
    assert_eq!(
        get(&app, "/api/v1/export").await.status,
        StatusCode::FORBIDDEN,
        "viewer"
    );
    assert_eq!(get(&app, "/tracker/users").await.status, StatusCode::OK);
    let bad = f.app.as_(As::Bearer("awt_0000_nope".into()));
    assert_eq!(
        get(&bad, "/api/v1/events").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&app, "/").await.status,
        StatusCode::UNAUTHORIZED,
        "tokens are not for pages"
    );

    let (key, secret) = aws_key(&f.auth, "bot");
    let anon = f.app.as_(As::Anonymous);
    let body = json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "RunInstances"}]}).to_string();
    let r = send(
        &anon,
        signed(&body, &key, &secret, "cloudtrail", &now_amz()),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.json()["Events"],
        json!([]),
        "RunInstances is account B's only"
    );
    let all = json!({}).to_string();
    let r = send(&anon, signed(&all, &key, &secret, "cloudtrail", &now_amz())).await;
    let n = r.json()["Events"].as_array().unwrap().len();
    assert_eq!(n, 50, "a full first page of account A");

    let cases: [(Request<Body>, &str); 4] = [
        (
            signed(&all, &key, "wrong-secret", "cloudtrail", &now_amz()),
            "InvalidSignatureException",
        ),
        (
            signed(&all, &key, &secret, "s3", &now_amz()),
            "InvalidSignatureException",
        ),
        (
            signed(
                &all,
                &key,
                &secret,
                "cloudtrail",
                &(chrono::Utc::now() - chrono::Duration::minutes(16))
                    .format("%Y%m%dT%H%M%SZ")
                    .to_string(),
            ),
            "Signature expired",
        ),
        (
            signed(
                &all,
                "AWKANOSUCHKEY0000000",
                &secret,
                "cloudtrail",
                &now_amz(),
            ),
            "UnrecognizedClientException",
        ),
    ];
    for (req, want) in cases {
        let r = send(&anon, req).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains(want), "{want}: {}", r.body);
    }
    // A body changed after signing does not verify.
    let mut req = signed(&all, &key, &secret, "cloudtrail", &now_amz());
    *req.body_mut() = Body::from(body.clone());
    let r = send(&anon, req).await;
    assert!(r.body.contains("InvalidSignatureException"), "{}", r.body);
    // Signature V4 is for the AWS endpoint only.
    let mut req = signed(&all, &key, &secret, "cloudtrail", &now_amz());
    *req.uri_mut() = "/api/v1/events".parse().unwrap();
    *req.method_mut() = Method::GET;
    assert_eq!(send(&anon, req).await.status, StatusCode::UNAUTHORIZED);
    // Revoked keys stop at once.
    f.auth.revoke_token(&key).unwrap();
    let r = send(&anon, signed(&all, &key, &secret, "cloudtrail", &now_amz())).await;
    assert!(r.body.contains("UnrecognizedClientException"), "{}", r.body);
}

#[tokio::test]
async fn searches_sql_exports_and_admin_changes_are_audited() {
    let f = fixture();
    let ana = f
        .app
        .as_(session_for(&f.auth, "ana", Role::Analyst, Some(&[A])));
    get(&ana, "/api/v1/events?username=bob&errorCode=AccessDenied").await;
    let sql = "SELECT count(*) FROM events WHERE username = 'alice'";
    let r = send(
        &ana,
        Request::post("/api/v1/sql")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"sql": sql}).to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    get(&ana, "/api/v1/export?format=csv&username=alice").await;
    assert_eq!(
        get(&ana, "/api/v1/audit").await.status,
        StatusCode::FORBIDDEN,
        "admins only"
    );
    let r = send(
        &f.app,
        form_post(
            "/admin/users",
            "name=newbie&role=viewer&accounts=111111111111",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("shown only now"),
        "generated password shown once"
    );
    let r = send(
        &f.app,
        form_post("/admin/users", "name=bad+name&role=viewer"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("user name"), "{}", r.body);

    let log: Value = get(&f.app, "/api/v1/audit?actor=ana").await.json();
    let entries = log["entries"].as_array().unwrap();
    let find = |action: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("{action}: {log}"))
    };
    assert!(
        find("search")["detail"]
            .as_str()
            .unwrap()
            .contains("username=bob")
    );
    assert!(find("sql")["detail"].as_str().unwrap().contains(sql));
    assert!(
        find("export")["detail"]
            .as_str()
            .unwrap()
            .contains("format=csv")
    );
    assert_eq!(find("sql")["outcome"], "200");
    let admin: Value = get(&f.app, "/api/v1/audit?action=user.").await.json();
    let adds: Vec<&Value> = admin["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "user.add")
        .collect();
    assert!(
        adds.iter()
            .any(|e| e["target"] == "newbie" && e["outcome"] == "ok")
    );
    assert!(adds.iter().any(|e| e["outcome"] == "failed"));
    assert!(
        !admin.to_string().contains("password="),
        "no secrets in the log"
    );
    let csv = get(&f.app, "/admin/audit.csv?actor=ana").await;
    assert!(
        csv.body
            .starts_with("time,actor,ip,action,target,detail,outcome")
    );
    assert!(csv.body.contains(",sql,"));
    let page = get(&f.app, "/admin/audit?action=sql").await;
    assert!(
        page.body.contains(sql.replace('\'', "&#x27;").as_str()) || page.body.contains(sql),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn undeclared_methods_get_405_and_run_nothing() {
    let f = fixture();
    for who in [f.app.who.clone(), As::Anonymous] {
        let app = f.app.as_(who);
        let r = send(
            &app,
            Request::delete("/api/v1/events")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", r.body);
        let r = send(
            &app,
            Request::put("/admin/users").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", r.body);
    }
}

#[tokio::test]
async fn signature_v4_scope_region_and_clock_skew() {
    let f = fixture();
    bearer_for(&f.auth, "bot", Role::Viewer, None);
    let (key, secret) = aws_key(&f.auth, "bot");
    let anon = f.app.as_(As::Anonymous);
    let all = json!({"MaxResults": 50}).to_string();
    let ids = |r: &Reply| -> Vec<String> {
        r.json()["Events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["EventId"].as_str().unwrap().to_string())
            .collect()
    };
    // Any well-formed region signs; it does not filter (every stored region's events
    // answer, here all us-east-1).
    let mut answers = Vec::new();
    for region in [
        "us-east-1",
        "cn-north-1",
        "us-gov-west-1",
        "eu-central-2",
        "ap-southeast-5",
        "il-central-1",
        "mx-central-1",
    ] {
        let r = send(
            &anon,
            signed_for(&all, &key, &secret, region, "cloudtrail", &now_amz()),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{region}: {}", r.body);
        answers.push(ids(&r));
    }
    assert_eq!(answers[0].len(), 50);
    assert!(answers.iter().all(|a| *a == answers[0]));

    for region in ["zz-fake-9", "local", "US-EAST-1", "us-east", "xx"] {
        let r = send(
            &anon,
            signed_for(&all, &key, &secret, region, "cloudtrail", &now_amz()),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{region}: {}", r.body);
        let v = r.json();
        assert_eq!(v["__type"], "InvalidSignatureException", "{region}");
        let message = v["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!(
                "Credential should be scoped to a valid region, not '{region}'"
            )),
            "{region}: {message}"
        );
        assert_eq!(
            r.headers["x-amzn-errortype"], "InvalidSignatureException",
            "{region}"
        );
    }

    // Clock skew, both ways, in AWS's words.
    let at = |minutes: i64| {
        (chrono::Utc::now() + chrono::Duration::minutes(minutes))
            .format("%Y%m%dT%H%M%SZ")
            .to_string()
    };
    for (minutes, want) in [
        (16, "Signature not yet current: "),
        (24 * 60, "Signature not yet current: "),
        (-16, "Signature expired: "),
    ] {
        let date = at(minutes);
        let r = send(
            &anon,
            signed_for(&all, &key, &secret, "us-east-1", "cloudtrail", &date),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{minutes}: {}", r.body);
        let v = r.json();
        assert_eq!(v["__type"], "InvalidSignatureException");
        let message = v["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{want}{date} is ")),
            "{minutes}: {message}"
        );
    }
    for minutes in [14, -14] {
        let r = send(
            &anon,
            signed_for(&all, &key, &secret, "us-east-1", "cloudtrail", &at(minutes)),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{minutes}: {}", r.body);
    }
}

#[tokio::test]
async fn next_targets_stay_on_this_site() {
    let f = fixture();
    f.auth
        .add_user("ana", Role::Analyst, Some(vec![A.into()]), PASSWORD)
        .unwrap();
    let signed_in = f.app.as_(session_for(&f.auth, "ana", Role::Analyst, None));
    // `next` as sent in the query string (percent-encoded) → where the browser goes.
    let cases = [
        ("%2Fsearch%3Fusername%3Dalice", "/search?username=alice"),
        ("/alerts/3", "/alerts/3"),
        ("/search?q=a%252Fb", "/search?q=a%2Fb"),
        ("%2F%09%2Fevil.example", "/"),
        ("/%09/evil.example", "/"),
        ("/%0D%0AX:%20y", "/"),
        ("%2F%0D%0ASet-Cookie%3A%20a%3Db", "/"),
        ("/%0Aevil", "/"),
        ("/%5Cevil.example", "/"),
        ("%5C%5Cevil.example", "/"),
        ("/search%5C..", "/"),
        ("https://evil.example", "/"),
        ("https:evil.example", "/"),
        ("//evil.example", "/"),
        ("///evil.example", "/"),
        ("/%2F/evil.example", "/"),
        ("/%252F/evil.example", "/"),
        ("/%255Cevil.example", "/"),
        ("/%E2%80%83/evil.example", "/"),
        ("/%C2%A0/evil.example", "/"),
        ("/%E3%80%80evil", "/"),
        ("/search%20x", "/"),
        ("/%00", "/"),
        ("evil.example", "/"),
        ("", "/"),
    ];
    for (next, want) in cases {
        let r = get(&signed_in, &format!("/login?next={next}")).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{next}: {}", r.body);
        assert_eq!(r.headers[header::LOCATION], want, "{next}");
        assert_eq!(r.headers.get_all(header::LOCATION).iter().count(), 1);
        assert!(r.headers.get("x").is_none(), "{next}");
    }
    // Signing in with a header-injection `next`: the session starts and the browser
    // goes home, never a 500 after the cookie was made.
    for next in [
        "%2F%0D%0AX%3A+y",
        "%2F%09%2Fevil.example",
        "%2F%5Cevil.example",
        "%2F%E2%80%83%2Fevil",
    ] {
        let r = send(
            &f.app.as_(As::Anonymous),
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "name=ana&password={}&next={next}",
                    PASSWORD.replace(' ', "+")
                )))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{next}: {}", r.body);
        assert_eq!(r.headers[header::LOCATION], "/", "{next}");
        assert!(
            r.headers[header::SET_COOKIE]
                .to_str()
                .unwrap()
                .starts_with("auditwatch="),
            "{next}"
        );
    }
    // The sign-in page carries only a safe `next` into its form and SSO link.
    let page = get(
        &f.app.as_(As::Anonymous),
        "/login?next=%2F%09%2Fevil.example",
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("name=\"next\" value=\"/\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("evil.example"), "{}", page.body);
}

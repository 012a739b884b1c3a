//! Identifying and admitting callers: the [`gate`] middleware in front of every
//! route, and the sign-in / sign-out pages.
//!
//! The gate, for each request:
//! 1. looks up the route's [`Rule`] (a matched route without one is refused: fail
//!    closed);
//! 2. identifies the caller from `Authorization: AWS4-HMAC-SHA256 …` (the
//!    AWS-compatible endpoint only), `Authorization: Bearer …` (the JSON APIs only),
//!    or the session cookie;
//! 3. admits it if its role is enough, else answers in the route's kind (sign-in
//!    redirect, JSON 401/403, or AWS error);
//! 4. checks the CSRF token of state-changing requests made with a session cookie;
//! 5. after the handler, writes audited routes to the audit log with the outcome.
//!
//! Sign-in through an OpenID Connect provider is [`oidc`].

pub mod oidc;

use std::net::SocketAddr;
use std::sync::Arc;

use auditwatch_auth::sigv4::{self, SigError};
use auditwatch_auth::{NewAudit, User};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Form, MatchedPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kit::access::{Access, Kind, Policies, Routes, Rule};
use crate::kit::blocking::blocking;
use crate::kit::caller::{Role, Via};
use crate::kit::error::AwsError;
use crate::kit::error::ErrorBody;
use crate::kit::page::{PageError, layout};
use crate::{ApiError, AppState, Caller};

/// The sign-in and sign-out pages (with an identity provider's, when configured).
pub fn pages() -> Routes {
    Routes::pages()
        .get("/login", Access::Public, login_form)
        .post("/login", Access::Public, login)
        .post("/logout", Access::Role(Role::Viewer), logout)
        .get("/login/oidc", Access::Public, oidc::start)
        .get("/login/oidc/callback", Access::Public, oidc::callback)
}

/// Who the caller is (`/api/v1/me`).
pub fn api() -> Routes {
    Routes::api().get("/me", Access::Role(Role::Viewer), me)
}

/// What the gate needs: the app and the policy table.
#[derive(Clone)]
pub struct Gate {
    /// The app.
    pub state: AppState,
    /// Every route's rule.
    pub policies: Arc<Policies>,
}

/// The client address of a request (`unknown` without connection info, as in tests).
pub fn client_ip(req_ext: &axum::http::Extensions) -> String {
    req_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string())
}

/// The value of cookie `name`, if the request has one.
pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn unauthenticated(kind: Kind, method: &Method, uri: &axum::http::Uri) -> Response {
    match kind {
        Kind::Page if method == Method::GET || method == Method::HEAD => {
            let next = uri.path_and_query().map_or("/", |p| p.as_str());
            Redirect::to(&crate::kit::page::url("/login", &[("next", next)])).into_response()
        }
        Kind::Page => PageError(ApiError::unauthenticated()).into_response(),
        Kind::Api => {
            let mut r = ApiError::unauthenticated().into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"auditwatch\""),
            );
            r
        }
        Kind::Aws => AwsError::new(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        )
        .into_response(),
    }
}

fn forbidden(kind: Kind, message: &str) -> Response {
    match kind {
        Kind::Page => PageError(ApiError::forbidden(message)).into_response(),
        Kind::Api => ApiError::forbidden(message).into_response(),
        Kind::Aws => AwsError::new("AccessDeniedException", message).into_response(),
    }
}

/// A credential of the wrong kind for the route, refused in the route's terms.
fn wrong_credential(kind: Kind, message: &str) -> Response {
    match kind {
        Kind::Aws => AwsError::new("IncompleteSignatureException", message).into_response(),
        _ => ApiError {
            status: StatusCode::UNAUTHORIZED,
            ..ApiError::invalid(message)
        }
        .into_response(),
    }
}

fn sig_error(e: SigError) -> Response {
    let kind = match e {
        SigError::Missing => "MissingAuthenticationTokenException",
        SigError::Malformed(_) => "IncompleteSignatureException",
        SigError::WrongService { .. }
        | SigError::InvalidRegion { .. }
        | SigError::Skew { .. }
        | SigError::NotYetCurrent { .. }
        | SigError::Mismatch => "InvalidSignatureException",
    };
    AwsError::new(kind, e.to_string()).into_response()
}

async fn read_body(req: Request, max: usize) -> Result<(Request, Bytes), Response> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, max).await.map_err(|_| {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            ..ApiError::invalid(format!("request body larger than {max} bytes"))
        }
        .into_response()
    })?;
    Ok((Request::from_parts(parts, Body::from(bytes.clone())), bytes))
}

/// The parts of a request that Signature V4 covers, owned (a request body is not
/// `Sync`, so the request itself cannot be held across the key lookup).
struct SignedParts {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
}

impl SignedParts {
    fn of(req: &Request) -> Self {
        Self {
            method: req.method().as_str().to_string(),
            path: req.uri().path().to_string(),
            query: req.uri().query().unwrap_or("").to_string(),
            headers: req
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect(),
        }
    }
}

/// Verifies a Signature V4 request and returns its key's owner.
async fn sigv4_user(
    state: &AppState,
    parts: SignedParts,
    body: &Bytes,
    header: &str,
) -> Result<User, Response> {
    let auth = sigv4::parse_authorization(header).map_err(sig_error)?;
    let store = state.auth().clone();
    let key = auth.access_key_id.clone();
    let found = blocking(move || store.aws_key(&key))
        .await
        .map_err(IntoResponse::into_response)?;
    let Some((user, secret)) = found else {
        return Err(AwsError::new(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
        .into_response());
    };
    let signed = sigv4::Request {
        method: &parts.method,
        path: &parts.path,
        query: &parts.query,
        headers: parts.headers,
        body,
    };
    sigv4::verify(&signed, &auth, &secret, "cloudtrail", chrono::Utc::now()).map_err(sig_error)?;
    Ok(user)
}

/// Whether a state-changing session request carries the session's CSRF token (in
/// `X-CSRF-Token` or a form field `csrf`).
fn csrf_ok(headers: &HeaderMap, body: Option<&Bytes>, expected: &str) -> bool {
    if let Some(h) = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()) {
        return auditwatch_auth::same_secret(h, expected);
    }
    body.is_some_and(|b| {
        form_urlencoded::parse(b)
            .find(|(k, _)| k == "csrf")
            .is_some_and(|(_, v)| auditwatch_auth::same_secret(&v, expected))
    })
}

/// The access middleware (see the module docs).
pub async fn gate(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    let state = &gate.state;
    let method = req.method().clone();
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let rule: Rule = match matched {
        // Unmatched paths go to fallbacks, which show nothing but "not found".
        None => Rule {
            method: method.clone(),
            path: String::new(),
            access: Access::Public,
            kind: Kind::Page,
            audit: None,
        },
        Some(path) => match gate.policies.get(&method, &path) {
            Some(r) => r.clone(),
            // A method the route does not have: the router answers 405, no handler runs.
            None if gate.policies.knows_path(&path) => {
                return next.run(req).await;
            }
            None => {
                tracing::error!(%method, path, "route without an access policy refused");
                return ApiError::forbidden("this route has no access policy").into_response();
            }
        },
    };
    let ip = client_ip(req.extensions());
    let mut req = req;
    req.extensions_mut().insert(ClientIp(ip.clone()));
    let max_body = state.config().max_body_bytes;
    let mut body: Option<Bytes> = None;
    let auth_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let form_post = method == Method::POST
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    // Bodies are read here when a signature covers them, a form may carry the CSRF
    // token, or the audit log records them.
    if (auth_header
        .as_deref()
        .is_some_and(|h| h.starts_with(sigv4::ALGORITHM)))
        || form_post
        || (rule.audit.is_some() && method == Method::POST)
    {
        match read_body(req, max_body).await {
            Ok((r, b)) => {
                req = r;
                body = Some(b);
            }
            Err(resp) => return resp,
        }
    }

    // Public routes ignore credentials meant for another kind of route.
    let public = rule.access == Access::Public;
    let auth_header = auth_header.filter(|h| {
        let sig = h.starts_with(sigv4::ALGORITHM);
        let bearer = h.len() > 7 && h[..7].eq_ignore_ascii_case("bearer ");
        !public || (sig && rule.kind == Kind::Aws) || (bearer && rule.kind == Kind::Api)
    });
    let caller: Option<Caller> = match auth_header.as_deref() {
        Some(h) if h.starts_with(sigv4::ALGORITHM) => {
            if rule.kind != Kind::Aws {
                return ApiError {
                    status: StatusCode::UNAUTHORIZED,
                    ..ApiError::invalid("Signature V4 is accepted only by the AWS-compatible endpoint (POST /); use a bearer token here")
                }
                .into_response();
            }
            let parts = SignedParts::of(&req);
            match sigv4_user(state, parts, body.as_ref().unwrap_or(&Bytes::new()), h).await {
                Ok(u) => Some(Caller::from_user(&u, Via::SigV4, &ip)),
                Err(resp) => {
                    state
                        .audit_failure(&ip, "signin.sigv4", resp.status())
                        .await;
                    return resp;
                }
            }
        }
        Some(h) if h.len() > 7 && h[..7].eq_ignore_ascii_case("bearer ") => {
            if rule.kind != Kind::Api {
                return wrong_credential(
                    rule.kind,
                    "bearer tokens are accepted by /api/v1 and /tracker; the AWS endpoint takes Signature V4, pages a signed-in session",
                );
            }
            let token = h[7..].trim().to_string();
            let store = state.auth().clone();
            match blocking(move || store.check_bearer(&token)).await {
                Ok(Some(u)) => Some(Caller::from_user(&u, Via::Bearer, &ip)),
                Ok(None) => {
                    let resp = ApiError {
                        status: StatusCode::UNAUTHORIZED,
                        ..ApiError::invalid("the bearer token is not valid (unknown, revoked, expired, or its user is disabled)")
                    }
                    .into_response();
                    state
                        .audit_failure(&ip, "signin.token", resp.status())
                        .await;
                    return resp;
                }
                Err(e) => return e.into_response(),
            }
        }
        Some(_) => {
            return wrong_credential(
                rule.kind,
                "unsupported Authorization scheme: use Bearer (API) or AWS4-HMAC-SHA256 (AWS endpoint)",
            );
        }
        None => match cookie_value(req.headers(), state.cookie_name()) {
            Some(sid) => {
                let store = state.auth().clone();
                let sid = sid.to_string();
                let policy = state.config().auth.session;
                match blocking(move || store.session(&sid, policy)).await {
                    Ok(Some(s)) => Some(Caller::from_user(
                        &s.user,
                        Via::Session { csrf: s.csrf },
                        &ip,
                    )),
                    Ok(None) => None,
                    Err(e) => return e.into_response(),
                }
            }
            None => None,
        },
    };

    if let Access::Role(min) = rule.access {
        match &caller {
            None => return unauthenticated(rule.kind, &method, req.uri()),
            Some(c) if c.role < min => {
                return forbidden(
                    rule.kind,
                    &format!("this needs the {min} role or higher; you are {}", c.role),
                );
            }
            Some(_) => {}
        }
    }
    let safe = matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe
        && let Some(Caller {
            via: Via::Session { csrf },
            ..
        }) = &caller
        && !csrf_ok(req.headers(), body.as_ref(), csrf)
    {
        return forbidden(
            rule.kind,
            "the form is stale or came from elsewhere (CSRF token missing or wrong); reload the page and try again",
        );
    }

    let query = req.uri().query().map(str::to_string);
    let target = req.uri().path().to_string();
    if let Some(c) = &caller {
        req.extensions_mut().insert(c.clone());
    }
    let res = next.run(req).await;
    if let (Some(action), Some(c)) = (rule.audit, caller) {
        let mut detail = query
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&")
            })
            .unwrap_or_default();
        if let Some(b) = body.filter(|b| !b.is_empty()) {
            if !detail.is_empty() {
                detail.push('\n');
            }
            detail.push_str(&String::from_utf8_lossy(&b));
        }
        state
            .record(NewAudit {
                actor: c.name,
                ip: c.ip,
                action: action.into(),
                target,
                detail,
                outcome: res.status().as_u16().to_string(),
            })
            .await;
    }
    res
}

/// `GET /login` parameters.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    /// Where to go after signing in.
    #[serde(default)]
    next: String,
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

/// A same-origin path to return to after signing in, or `/` (never another site,
/// never a header that cannot be sent).
///
/// Accepted: a path that starts with one `/`, followed by anything but `/` or `\`
/// (nor their percent-encoded forms, `%2F` and `%5C`, which a proxy may decode), made
/// only of printable ASCII (`!` to `~`) without `\` anywhere. Everything else (another
/// scheme or host, `//host`, `/\host`, tabs, CR/LF, spaces, non-ASCII or Unicode
/// white space) falls back to `/`: browsers drop tabs and newlines from URLs and treat
/// `\` as `/`, so `/\t/evil.example` would be read as `//evil.example`, and CR/LF
/// cannot go into a `Location` header at all.
pub(crate) fn safe_next(next: &str) -> &str {
    let b = next.as_bytes();
    let printable = b.iter().all(|&c| (b'!'..=b'~').contains(&c) && c != b'\\');
    let rest = next.get(1..).unwrap_or("");
    let second = rest.get(..3).unwrap_or(rest).to_ascii_lowercase();
    let local =
        b.first() == Some(&b'/') && !rest.starts_with('/') && second != "%2f" && second != "%5c";
    if printable && local { next } else { "/" }
}

/// A `303 See Other` to `next` after [`safe_next`]; never a 500, whatever `next` holds.
pub(crate) fn redirect_local(next: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    let to = HeaderValue::from_str(safe_next(next)).unwrap_or(HeaderValue::from_static("/"));
    r.headers_mut().insert(header::LOCATION, to);
    r
}

fn login_page(
    state: &AppState,
    status: StatusCode,
    next: &str,
    name: &str,
    error: Option<&str>,
) -> Response {
    let oidc = state
        .config()
        .auth
        .oidc
        .as_ref()
        .map(|o| o.label().to_string());
    let body = layout(
        None,
        "Sign in",
        "",
        html! {
            section.signin {
                h1 { "Sign in to Auditwatch" }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action="/login" {
                    input type="hidden" name="next" value=(safe_next(next));
                    label { "Name " input type="text" name="name" value=(name) autocomplete="username" required autofocus; }
                    label { "Password " input type="password" name="password" autocomplete="current-password" required; }
                    label { "Code from your authenticator app (if you set one up) " input type="text" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6"; }
                    button type="submit" { "Sign in" }
                }
                @if let Some(label) = oidc {
                    p { a.button href=(crate::kit::page::url("/login/oidc", &[("next", safe_next(next))])) { "Sign in with " (label) } }
                }
            }
        },
    );
    (status, body).into_response()
}

/// `GET /login`.
pub async fn login_form(
    State(state): State<AppState>,
    caller: Option<Caller>,
    Query(q): Query<LoginQuery>,
) -> Response {
    if caller.is_some() {
        return redirect_local(&q.next);
    }
    login_page(&state, StatusCode::OK, &q.next, "", None)
}

/// The `Set-Cookie` value that starts a session.
pub fn session_cookie_header(state: &AppState, id: &str) -> String {
    let secure = if state.config().auth.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{}={id}; Path=/; HttpOnly; SameSite=Lax{secure}",
        state.cookie_name()
    )
}

/// Writes a sign-in attempt to the audit log: who, from where, by what `method`
/// (`password`, `oidc`), why, and how it ended (`ok`, `failed`, `denied`).
pub(crate) async fn signin_event(
    state: &AppState,
    actor: &str,
    ip: &str,
    method: &str,
    detail: &str,
    outcome: &str,
) {
    state
        .record(NewAudit {
            actor: actor.into(),
            ip: ip.into(),
            action: "signin".into(),
            target: method.into(),
            detail: detail.into(),
            outcome: outcome.into(),
        })
        .await;
}

/// The client address, put into every request by the gate.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

async fn failed_signin(state: &AppState, ip: &str, name: &str, next: &str, why: &str) -> Response {
    state.throttle().failed(name, ip);
    signin_event(state, name, ip, "password", why, "failed").await;
    login_page(
        state,
        StatusCode::UNAUTHORIZED,
        next,
        name,
        Some("Wrong name, password or code."),
    )
}

/// `POST /login`.
pub async fn login(
    State(state): State<AppState>,
    axum::Extension(ClientIp(ip)): axum::Extension<ClientIp>,
    Form(f): Form<LoginForm>,
) -> Response {
    let name = f.name.trim().to_string();
    if let Some(wait) = state.throttle().check(&name, &ip) {
        signin_event(&state, &name, &ip, "password", "throttled", "denied").await;
        let secs = wait.as_secs().max(1);
        let mut r = login_page(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            &f.next,
            &name,
            Some(&format!(
                "Too many failed sign-ins for this name or from this address. Try again in {secs} s."
            )),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return r;
    }
    let store = state.auth().clone();
    let (n, p) = (name.clone(), f.password.clone());
    let user = match blocking(move || store.check_password(&n, &p)).await {
        Ok(u) => u,
        Err(e) => return PageError(e).into_response(),
    };
    let Some(user) = user else {
        return failed_signin(&state, &ip, &name, &f.next, "wrong name or password").await;
    };
    if user.totp {
        let store = state.auth().clone();
        let (id, code) = (user.id, f.code.clone());
        match blocking(move || store.check_totp(id, &code)).await {
            Ok(true) => {}
            Ok(false) => {
                return failed_signin(&state, &ip, &name, &f.next, "wrong or missing TOTP code")
                    .await;
            }
            Err(e) => return PageError(e).into_response(),
        }
    } else if user.role == auditwatch_auth::Role::Admin
        && state.config().auth.require_totp_for_admins
    {
        signin_event(
            &state,
            &name,
            &ip,
            "password",
            "admin without a second factor",
            "denied",
        )
        .await;
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            &f.next,
            &name,
            Some(
                "Admins must use a second factor here. Set one up with `auditwatch users totp NAME`, then sign in with its code.",
            ),
        );
    }
    state.throttle().succeeded(&name);
    start_session(&state, &user, &ip, "password", safe_next(&f.next)).await
}

/// Starts a session for `user` and redirects to `next` (checked again by
/// [`safe_next`], whoever called) with the cookie set.
pub async fn start_session(
    state: &AppState,
    user: &User,
    ip: &str,
    method: &str,
    next: &str,
) -> Response {
    let store = state.auth().clone();
    let (u, i) = (user.clone(), ip.to_string());
    let session = match blocking(move || store.create_session(&u, &i)).await {
        Ok(s) => s,
        Err(e) => return PageError(e).into_response(),
    };
    signin_event(state, &user.name, ip, method, "", "ok").await;
    let mut r = redirect_local(next);
    if let Ok(v) = HeaderValue::from_str(&session_cookie_header(state, &session.id)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `POST /logout`: ends the session now.
pub async fn logout(State(state): State<AppState>, caller: Caller, headers: HeaderMap) -> Response {
    if let Some(sid) = cookie_value(&headers, state.cookie_name()) {
        let store = state.auth().clone();
        let sid = sid.to_string();
        if let Err(e) = blocking(move || store.end_session(&sid)).await {
            return PageError(e).into_response();
        }
    }
    state
        .record(NewAudit {
            actor: caller.name.clone(),
            ip: caller.ip.clone(),
            action: "signout".into(),
            target: String::new(),
            detail: String::new(),
            outcome: "ok".into(),
        })
        .await;
    let secure = if state.config().auth.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let clear = format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
        state.cookie_name()
    );
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&clear) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_path_on_this_site_or_home() {
        for ok in [
            "/",
            "/search?username=alice&q=a%2Fb",
            "/alerts/3#top",
            "/.well",
        ] {
            assert_eq!(safe_next(ok), ok);
        }
        for bad in [
            "",
            "search",
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\r\nX: y",
            "/a b",
            "/%2F/evil",
            "/%2f/evil",
            "/%5Cevil",
            "/a\\b",
            "/\u{2003}/evil",
            "/\u{a0}",
            "/é",
            "/\u{7f}",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
        let r = redirect_local("/\r\nX: y");
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[header::LOCATION], "/");
    }
}

/// Who the caller is, as the server sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// User name.
    pub name: String,
    /// `admin`, `analyst` or `viewer`.
    pub role: String,
    /// The AWS accounts visible; absent means all.
    pub accounts: Option<Vec<String>>,
}

/// The signed-in principal.
#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(caller: Caller) -> Json<Me> {
    Json(Me {
        name: caller.name,
        role: caller.role.name().into(),
        accounts: match caller.scope {
            auditwatch_store::Scope::All => None,
            auditwatch_store::Scope::Accounts(set) => Some(set.iter().cloned().collect()),
        },
    })
}

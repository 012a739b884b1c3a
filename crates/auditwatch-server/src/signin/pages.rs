//! The sign-in and sign-out pages: the password form with throttling and TOTP,
//! sessions and their cookie, and the audit entries of every attempt.

use auditwatch_auth::{NewAudit, User};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::*;
use crate::kit::blocking::blocking;
use crate::kit::page::{PageError, layout};
use crate::{AppState, Caller};

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

pub(super) fn login_page(
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

pub(super) async fn failed_signin(
    state: &AppState,
    ip: &str,
    name: &str,
    next: &str,
    why: &str,
) -> Response {
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

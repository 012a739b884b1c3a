//! Sign-in with an OpenID Connect provider (Amazon Cognito, Keycloak, any other):
//! the authorization-code flow with PKCE, `state` (also bound to the browser by a
//! short-lived cookie, against login CSRF) and `nonce`, the ID token verified
//! against the provider's published keys. The user is the pair issuer + subject,
//! never the e-mail address; a configured claim (e.g. `cognito:groups`, `groups`)
//! maps to a role and to AWS accounts, and the provider stays the authority on them:
//! they are taken afresh at every sign-in.

pub mod provider;

pub use provider::*;
use provider::{MAX_PENDING, PENDING_TTL, Pending, error_chain};

/// The cookie binding `state` to the browser that started the sign-in.
const STATE_COOKIE: &str = "auditwatch_oidc";

use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{AuthorizationCode, CsrfToken, Nonce, PkceCodeChallenge, Scope, TokenResponse};
use serde::Deserialize;
use serde_json::Value;

use crate::kit::page::PageError;
use crate::signin::ClientIp;
use crate::{ApiError, AppState};

/// `GET /login/oidc` parameters.
#[derive(Debug, Deserialize)]
pub struct StartQuery {
    #[serde(default)]
    next: String,
}

fn not_configured() -> Response {
    PageError(ApiError::not_found(
        "single sign-on is not configured on this server",
    ))
    .into_response()
}

/// `GET /login/oidc`: off to the provider.
pub async fn start(State(state): State<AppState>, Query(q): Query<StartQuery>) -> Response {
    let Some(oidc) = state.config().auth.oidc.clone() else {
        return not_configured();
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = oidc
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for s in oidc.settings.scopes.iter().filter(|s| *s != "openid") {
        req = req.add_scope(Scope::new(s.clone()));
    }
    let (url, csrf, nonce) = req.url();
    {
        let mut pending = oidc.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, p| p.at.elapsed() < PENDING_TTL);
        if pending.len() >= MAX_PENDING {
            return PageError(ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                ..ApiError::invalid("too many sign-ins in progress; try again in a minute")
            })
            .into_response();
        }
        pending.insert(
            csrf.secret().clone(),
            Pending {
                verifier,
                nonce,
                next: crate::signin::safe_next(&q.next).to_string(),
                at: Instant::now(),
            },
        );
    }
    let secure = if state.config().auth.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{STATE_COOKIE}={}; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age=600{secure}",
        csrf.secret()
    );
    let mut r = Redirect::to(url.as_str()).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `GET /login/oidc/callback` parameters.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The claims of a verified ID token, read from its payload.
fn payload_claims(jwt: &str) -> Option<serde_json::Map<String, Value>> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()?
        .as_object()
        .cloned()
}

fn claim_values(claims: &serde_json::Map<String, Value>, name: &str) -> Vec<String> {
    match claims.get(name) {
        Some(Value::String(s)) => s
            .split([',', ' '])
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn refused(message: &str) -> Response {
    PageError(ApiError::forbidden(format!(
        "Single sign-on refused: {message}"
    )))
    .into_response()
}

/// `GET /login/oidc/callback`: back from the provider.
pub async fn callback(
    State(state): State<AppState>,
    axum::Extension(ClientIp(ip)): axum::Extension<ClientIp>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let Some(oidc) = state.config().auth.oidc.clone() else {
        return not_configured();
    };
    if let Some(e) = q.error {
        return refused(&format!(
            "the provider answered {e}{}",
            q.error_description
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ));
    }
    let (Some(code), Some(st)) = (q.code, q.state) else {
        return refused("the callback lacks code or state");
    };
    let bound = crate::signin::cookie_value(&headers, STATE_COOKIE)
        .is_some_and(|c| auditwatch_auth::same_secret(c, &st));
    let pending = oidc
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&st);
    let Some(pending) = pending.filter(|p| p.at.elapsed() < PENDING_TTL) else {
        return refused("this sign-in is unknown or expired; start again");
    };
    if !bound {
        return refused("this sign-in was started in another browser");
    }
    let exchange = match oidc.client.exchange_code(AuthorizationCode::new(code)) {
        Ok(x) => x,
        Err(e) => return refused(&format!("the provider has no token endpoint: {e}")),
    };
    let token = match exchange
        .set_pkce_verifier(pending.verifier)
        .request_async(&oidc.http)
        .await
    {
        Ok(t) => t,
        Err(e) => return refused(&format!("the code exchange failed: {}", error_chain(&e))),
    };
    let Some(id_token) = token.id_token() else {
        return refused("the provider returned no ID token");
    };
    let verifier = oidc.client.id_token_verifier();
    let claims = match id_token.claims(&verifier, &pending.nonce) {
        Ok(c) => c,
        Err(e) => return refused(&format!("the ID token did not verify: {e}")),
    };
    let issuer = claims.issuer().as_str().to_string();
    let subject = claims.subject().as_str().to_string();
    let display = claims
        .preferred_username()
        .map(|u| u.as_str().to_string())
        .or_else(|| claims.email().map(|e| e.as_str().to_string()))
        .unwrap_or_else(|| subject.clone());
    // The signature, issuer, audience, expiry and nonce are verified: the payload's
    // other claims can be read as they are.
    let raw = payload_claims(&id_token.to_string()).unwrap_or_default();
    let values = claim_values(&raw, &oidc.settings.claim);
    let (role, accounts) = match map_claims(&oidc.settings, &values) {
        Ok(m) => m,
        Err(why) => {
            crate::signin::signin_event(&state, &display, &ip, "oidc", &why, "denied").await;
            return refused(&why);
        }
    };
    let auth = state.auth().clone();
    let (iss, sub, disp) = (issuer.clone(), subject.clone(), display.clone());
    let user = match crate::kit::blocking::blocking(move || {
        auth.upsert_oidc_user(&iss, &sub, &disp, role, accounts)
    })
    .await
    {
        Ok(u) => u,
        Err(e) => return PageError(e).into_response(),
    };
    if user.disabled {
        return refused("this user is disabled in Auditwatch");
    }
    let mut r = crate::signin::start_session(&state, &user, &ip, "oidc", &pending.next).await;
    let clear = format!("{STATE_COOKIE}=; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&clear) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use auditwatch_auth::Role;

    fn settings() -> OidcSettings {
        from_json(
            r#"{"issuer": "https://idp", "client_id": "c", "redirect_url": "https://aw/login/oidc/callback",
                "roles": {"aw-admins": "admin", "aw-analysts": "analyst"},
                "accounts": {"aw-admins": ["*"], "team-a": ["111111111111"], "team-b": ["222222222222"]}}"#,
        )
    }

    fn from_json(json: &str) -> OidcSettings {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn claims_map_to_role_and_accounts() {
        let s = settings();
        let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            map_claims(&s, &v(&["aw-admins"])).unwrap(),
            (Role::Admin, None)
        );
        assert_eq!(
            map_claims(&s, &v(&["aw-analysts", "team-b", "team-a"])).unwrap(),
            (Role::Analyst, Some(v(&["111111111111", "222222222222"])))
        );
        assert!(map_claims(&s, &v(&["team-a"])).is_err(), "no role");
        assert!(map_claims(&s, &v(&["aw-analysts"])).is_err(), "no accounts");
        let mut d = s.clone();
        d.default_role = Some(Role::Viewer);
        d.default_accounts = Some(v(&["111111111111"]));
        assert_eq!(
            map_claims(&d, &[]).unwrap(),
            (Role::Viewer, Some(v(&["111111111111"])))
        );
    }

    #[test]
    fn claim_values_from_strings_and_arrays() {
        let m: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"groups": ["a", "b"], "g2": "x y", "n": 3}"#).unwrap();
        assert_eq!(claim_values(&m, "groups"), vec!["a", "b"]);
        assert_eq!(claim_values(&m, "g2"), vec!["x", "y"]);
        assert!(claim_values(&m, "n").is_empty());
        assert!(claim_values(&m, "absent").is_empty());
    }
}

//! The gate in front of every route (see [`super`]): the route's policy, the caller
//! from a Signature V4 request, a bearer token or the session cookie, the role check,
//! CSRF on session writes, and the audit entry after the handler.

use std::net::SocketAddr;
use std::sync::Arc;

use auditwatch_auth::sigv4::{self, SigError};
use auditwatch_auth::{NewAudit, User};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::*;
use crate::kit::access::{Access, Kind, Policies, Rule};
use crate::kit::blocking::blocking;
use crate::kit::caller::Via;
use crate::kit::error::AwsError;
use crate::kit::page::PageError;
use crate::{ApiError, AppState, Caller};

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

pub(super) fn unauthenticated(kind: Kind, method: &Method, uri: &axum::http::Uri) -> Response {
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

pub(super) fn forbidden(kind: Kind, message: &str) -> Response {
    match kind {
        Kind::Page => PageError(ApiError::forbidden(message)).into_response(),
        Kind::Api => ApiError::forbidden(message).into_response(),
        Kind::Aws => AwsError::new("AccessDeniedException", message).into_response(),
    }
}

/// A credential of the wrong kind for the route, refused in the route's terms.
pub(super) fn wrong_credential(kind: Kind, message: &str) -> Response {
    match kind {
        Kind::Aws => AwsError::new("IncompleteSignatureException", message).into_response(),
        _ => ApiError {
            status: StatusCode::UNAUTHORIZED,
            ..ApiError::invalid(message)
        }
        .into_response(),
    }
}

pub(super) fn sig_error(e: SigError) -> Response {
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

pub(super) async fn read_body(req: Request, max: usize) -> Result<(Request, Bytes), Response> {
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
pub(super) struct SignedParts {
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
pub(super) async fn sigv4_user(
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
pub(super) fn csrf_ok(headers: &HeaderMap, body: Option<&Bytes>, expected: &str) -> bool {
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

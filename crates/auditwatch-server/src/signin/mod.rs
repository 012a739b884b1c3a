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

mod gate;
mod pages;

pub use gate::*;
pub use pages::*;

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::Caller;
use crate::kit::access::{Access, Routes};
use crate::kit::caller::Role;
use crate::kit::error::ErrorBody;

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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{StatusCode, header};

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

//! Who is asking: the [`Caller`] every handler takes and passes to the query layer.
//!
//! A middleware puts the caller into the request; handlers extract it and never see
//! a request without one. Until sign-in exists the only caller is the local operator
//! (admin, every account) and the server listens on loopback only; sign-in replaces
//! [`identify_local_operator`] without touching a handler.

use auditwatch_store::Scope;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ApiError;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Admin,
    /// All data in scope, SQL, rules, exports.
    Analyst,
    /// Search and pages in scope.
    Viewer,
}

impl Role {
    /// The role's name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
        }
    }
}

/// The principal behind a request and the accounts it may see.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Accounts whose events it may see; every query runs through it.
    pub scope: Scope,
}

impl Caller {
    /// Refuses callers below analyst (SQL, exports).
    pub fn require_analyst(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin | Role::Analyst => Ok(()),
            Role::Viewer => Err(ApiError::forbidden("this needs the analyst or admin role")),
        }
    }

    /// Refuses callers below admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            _ => Err(ApiError::forbidden("this needs the admin role")),
        }
    }
}

/// Marks every request as the local operator's (no sign-in yet; loopback only).
pub async fn identify_local_operator(mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(Caller {
        name: "local operator".into(),
        role: Role::Admin,
        scope: Scope::All,
    });
    next.run(req).await
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(ApiError::unauthenticated)
    }
}

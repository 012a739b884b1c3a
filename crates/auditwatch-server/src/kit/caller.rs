//! Who is asking: the [`Caller`] every handler takes and passes to the query layer.
//!
//! The access middleware ([`crate::signin::gate`]) identifies the principal behind a
//! request (session cookie, bearer token or Signature V4) and puts a `Caller` into
//! it; a handler that takes a `Caller` never runs without one, and its account scope
//! flows into every query it makes.

use auditwatch_auth::User;
use auditwatch_store::Scope;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;

use crate::kit::error::ApiError;

pub use auditwatch_auth::Role;

/// How the caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A browser session; state-changing requests must carry its CSRF token.
    Session {
        /// The session's CSRF token.
        csrf: String,
    },
    /// `Authorization: Bearer`.
    Bearer,
    /// AWS Signature V4 with an access key.
    SigV4,
}

/// The principal behind a request and the accounts it may see.
#[derive(Debug, Clone)]
pub struct Caller {
    /// User name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Accounts whose events it may see; every query runs through it.
    pub scope: Scope,
    /// How it signed in.
    pub via: Via,
    /// The client address, for the audit log.
    pub ip: String,
}

impl Caller {
    /// The caller for `user`, signed in `via`, from `ip`.
    pub fn from_user(user: &User, via: Via, ip: &str) -> Self {
        let scope = match &user.accounts {
            None => Scope::All,
            Some(list) => Scope::accounts(list.iter().cloned()),
        };
        Caller {
            name: user.name.clone(),
            role: user.role,
            scope,
            via,
            ip: ip.to_string(),
        }
    }

    /// The CSRF token forms must carry (browser sessions only).
    pub fn csrf(&self) -> Option<&str> {
        match &self.via {
            Via::Session { csrf } => Some(csrf),
            _ => None,
        }
    }

    /// Refuses callers below analyst (SQL, exports).
    pub fn require_analyst(&self) -> Result<(), ApiError> {
        if self.role >= Role::Analyst {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs the analyst or admin role"))
        }
    }

    /// Refuses callers below admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role >= Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs the admin role"))
        }
    }
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

impl<S: Send + Sync> OptionalFromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Caller>().cloned())
    }
}

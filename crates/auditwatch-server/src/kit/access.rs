//! Access policy: every route is declared with who may use it, and one middleware
//! enforces it before any handler runs.
//!
//! Modules build their routes with [`Routes`], whose only way to add a route takes an
//! [`Access`], so a route cannot exist without a policy; the middleware also refuses
//! (fail closed) any matched route missing from the table. The table is public
//! ([`crate::access_rules`]) so the tests generate their matrix from it.

use std::collections::HashMap;

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::MethodRouter;

use crate::AppState;
use crate::kit::caller::Role;

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (sign-in page, assets, health).
    Public,
    /// Any signed-in principal with at least this role.
    Role(Role),
}

/// How a route answers callers it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// HTML: anonymous callers are sent to the sign-in page.
    Page,
    /// JSON: 401 / 403 with `{error, message}`.
    Api,
    /// The AWS-compatible endpoint: AWS-shaped errors; Signature V4 accepted.
    Aws,
}

/// One route's policy.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Method.
    pub method: Method,
    /// Path pattern as the router matches it (`/api/v1/events/{id}`).
    pub path: String,
    /// Who may use it.
    pub access: Access,
    /// How refusals look.
    pub kind: Kind,
    /// Written to the audit log under this action, with the query (and body).
    pub audit: Option<&'static str>,
}

/// A router under construction with the policy of every route it holds.
pub struct Routes {
    router: Router<AppState>,
    rules: Vec<Rule>,
    kind: Kind,
}

impl Routes {
    /// Routes that answer with HTML.
    pub fn pages() -> Self {
        Self::new(Kind::Page)
    }

    /// Routes that answer with JSON.
    pub fn api() -> Self {
        Self::new(Kind::Api)
    }

    /// The AWS-compatible endpoint.
    pub fn aws() -> Self {
        Self::new(Kind::Aws)
    }

    fn new(kind: Kind) -> Self {
        Self {
            router: Router::new(),
            rules: Vec::new(),
            kind,
        }
    }

    fn add(
        mut self,
        method: Method,
        path: &str,
        access: Access,
        mr: MethodRouter<AppState>,
    ) -> Self {
        self.router = self.router.route(path, mr);
        self.rules.push(Rule {
            method,
            path: path.to_string(),
            access,
            kind: self.kind,
            audit: None,
        });
        self
    }

    /// A GET route (HEAD follows it).
    pub fn get<H, T>(self, path: &str, access: Access, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::GET, path, access, axum::routing::get(handler))
    }

    /// A POST route.
    pub fn post<H, T>(self, path: &str, access: Access, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::POST, path, access, axum::routing::post(handler))
    }

    /// A PUT route.
    pub fn put<H, T>(self, path: &str, access: Access, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::PUT, path, access, axum::routing::put(handler))
    }

    /// A DELETE route.
    pub fn delete<H, T>(self, path: &str, access: Access, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::DELETE, path, access, axum::routing::delete(handler))
    }

    /// Audits the route added last under `action`.
    pub fn audit(mut self, action: &'static str) -> Self {
        if let Some(r) = self.rules.last_mut() {
            r.audit = Some(action);
        }
        self
    }

    /// What answers paths no route matches (no policy needed: it shows nothing).
    pub fn fallback<H, T>(mut self, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.fallback(handler);
        self
    }

    /// Mounts `other` under `prefix`.
    pub fn nest(mut self, prefix: &str, other: Routes) -> Self {
        self.rules.extend(other.rules.into_iter().map(|mut r| {
            r.path = if r.path == "/" {
                prefix.to_string()
            } else {
                format!("{prefix}{}", r.path)
            };
            r
        }));
        self.router = self.router.nest(prefix, other.router);
        self
    }

    /// Adds `other`'s routes beside these.
    pub fn merge(mut self, other: Routes) -> Self {
        self.rules.extend(other.rules);
        self.router = self.router.merge(other.router);
        self
    }

    /// The router and the policy table.
    pub fn into_parts(self) -> (Router<AppState>, Vec<Rule>) {
        (self.router, self.rules)
    }
}

/// The policy table, looked up by method and matched path.
#[derive(Debug, Default)]
pub struct Policies {
    rules: HashMap<(Method, String), Rule>,
}

impl Policies {
    /// Indexes `rules`.
    pub fn new(rules: Vec<Rule>) -> Self {
        Self {
            rules: rules
                .into_iter()
                .map(|r| ((r.method.clone(), r.path.clone()), r))
                .collect(),
        }
    }

    /// Whether any method of `path` has a rule (another method then gets 405 from
    /// the router: no handler exists for it).
    pub fn knows_path(&self, path: &str) -> bool {
        self.rules.keys().any(|(_, p)| p == path)
    }

    /// The rule for a request; HEAD follows GET.
    pub fn get(&self, method: &Method, path: &str) -> Option<&Rule> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.rules.get(&(method.clone(), path.to_string()))
    }
}

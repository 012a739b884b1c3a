//! What every handler shares ([`AppState`]: the store, users and sessions, sign-in
//! throttling, settings, metrics) and the server's settings ([`ServerConfig`],
//! [`AuthConfig`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use auditwatch_auth::throttle::{Throttle, ThrottlePolicy};
use auditwatch_auth::{AuthStore, NewAudit, SessionPolicy};
use auditwatch_store::{SqlLimits, Store};

use crate::metrics::registry as metrics;
use crate::signin::oidc::provider as oidc;

/// Limits and settings of the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Most events on one page of a search.
    pub max_page: usize,
    /// Bounds on SQL from the API and the console.
    pub sql: SqlLimits,
    /// Most rows one export streams.
    pub max_export_rows: usize,
    /// Longest time a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// Only loopback `Host` names are accepted (set when listening on loopback).
    pub loopback_only: bool,
    /// Sign-in settings.
    pub auth: AuthConfig,
    /// The status of the sources `serve` runs (empty when none are declared).
    pub sources: auditwatch_sources::runner::Runner,
    /// CloudTrail public keys the AWS-compatible endpoint lists (`ListPublicKeys`),
    /// as configured by the operator (`[integrity] public_keys`).
    pub public_keys: auditwatch_integrity::KeyRing,
    /// What live detection runs (alarms, rules, channels) and the changes made on
    /// the Rules page, for the Alarms, Alerts and Rules pages.
    pub detection: Arc<auditwatch_detect::Library>,
}

/// Sign-in settings.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// Session lifetimes.
    pub session: SessionPolicy,
    /// Sign-in throttling.
    pub throttle: ThrottlePolicy,
    /// Cookies are `Secure` and `__Host-` prefixed (serving TLS).
    pub secure_cookies: bool,
    /// Admins must have a TOTP second factor to sign in with a password.
    pub require_totp_for_admins: bool,
    /// The OpenID Connect provider, when one is configured.
    pub oidc: Option<Arc<oidc::Oidc>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            max_page: 1000,
            sql: SqlLimits {
                max_rows: 10_000,
                timeout: Duration::from_secs(60),
                ..SqlLimits::default()
            },
            max_export_rows: 1_000_000,
            request_timeout: Duration::from_secs(120),
            loopback_only: true,
            auth: AuthConfig::default(),
            sources: Default::default(),
            public_keys: Default::default(),
            detection: Default::default(),
        }
    }
}

/// What every handler shares: the store, the settings and the metrics.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    auth: Arc<AuthStore>,
    throttle: Throttle,
    config: ServerConfig,
    metrics: metrics::Metrics,
    started: Instant,
}

impl AppState {
    /// State over `store` and its users `auth`, with `config`.
    pub fn new(store: Store, auth: AuthStore, config: ServerConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                auth: Arc::new(auth),
                throttle: Throttle::new(config.auth.throttle),
                config,
                metrics: metrics::Metrics::new(),
                started: Instant::now(),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Users, keys, sessions and the audit log.
    pub fn auth(&self) -> &Arc<AuthStore> {
        &self.inner.auth
    }

    /// Sign-in throttling.
    pub fn throttle(&self) -> &Throttle {
        &self.inner.throttle
    }

    /// The session cookie's name: `__Host-` prefixed when cookies are `Secure`
    /// (browsers refuse that prefix otherwise).
    pub fn cookie_name(&self) -> &'static str {
        if self.inner.config.auth.secure_cookies {
            "__Host-auditwatch"
        } else {
            "auditwatch"
        }
    }

    /// Appends to the audit log. A failure to write is logged, never hidden.
    pub async fn record(&self, entry: NewAudit) {
        let auth = self.inner.auth.clone();
        let action = entry.action.clone();
        let r = tokio::task::spawn_blocking(move || auth.audit(&entry)).await;
        if !matches!(r, Ok(Ok(()))) {
            tracing::error!(action, "could not write the audit log: {r:?}");
        }
    }

    /// Records a refused credential (bad token or signature).
    pub async fn audit_failure(&self, ip: &str, action: &str, status: axum::http::StatusCode) {
        self.record(NewAudit {
            actor: "(unknown)".into(),
            ip: ip.into(),
            action: action.into(),
            target: String::new(),
            detail: String::new(),
            outcome: status.as_u16().to_string(),
        })
        .await;
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    /// Time since the state was built.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }
}

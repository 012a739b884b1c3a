//! The HTTP surface of Auditwatch (DESIGN §4): the JSON API under `/api/v1`, the
//! CloudTrail-Tracker API under `/tracker`, the AWS-compatible CloudTrail endpoint
//! (`POST /` with `X-Amz-Target`), the web UI, and `/metrics`, `/healthz`, `/readyz`.
//!
//! [`router`] builds everything from an [`AppState`], so tests drive it without a
//! socket. Every route is declared with an access policy ([`access`]); the
//! [`signin::gate`] middleware identifies the caller and enforces it. Every data
//! handler takes a [`Caller`]; the caller's account scope flows into every query
//! through [`query`], which is the only module that talks to the store.

pub mod access;
pub mod admin;
pub mod alerts;
pub mod api;
pub mod aws;
pub mod caller;
mod error;
pub mod guard;
pub mod integrity;
pub mod metrics;
pub mod oidc;
pub mod query;
pub mod rules;
pub mod signin;
pub mod sources;
pub mod tracker;
pub mod ui;
pub mod view;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use auditwatch_auth::throttle::{Throttle, ThrottlePolicy};
use auditwatch_auth::{AuthStore, NewAudit, SessionPolicy};
use auditwatch_store::{SqlLimits, Store};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

pub use caller::{Caller, Role};
pub use error::ApiError;

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

/// Every route with its policy.
fn routes() -> access::Routes {
    access::Routes::pages()
        .merge(ui::routes())
        .merge(admin::routes())
        .merge(sources::routes())
        .merge(integrity::routes())
        .merge(alerts::routes())
        .merge(rules::routes())
        .merge(aws::routes())
        .nest("/api/v1", api::routes())
        .nest("/tracker", tracker::routes())
        .merge(metrics::routes())
}

/// The access policy of every route (what the router enforces).
pub fn access_rules() -> Vec<access::Rule> {
    routes().into_parts().1
}

/// The whole HTTP surface as one router.
pub fn router(state: AppState) -> Router {
    let max_body = state.config().max_body_bytes;
    let timeout = state.config().request_timeout;
    let (router, rules) = routes().into_parts();
    let gate = signin::Gate {
        state: state.clone(),
        policies: Arc::new(access::Policies::new(rules)),
    };
    let loopback_only = state.config().loopback_only;
    router
        .layer(axum::middleware::from_fn_with_state(gate, signin::gate))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn(guard::same_origin_writes))
        .layer(axum::middleware::from_fn_with_state(
            loopback_only,
            guard::loopback_host,
        ))
        .layer(axum::middleware::from_fn(guard::security_headers))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        // A bug must cost one request a 500, never the connection or the process.
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The certificate or key could not be loaded.
    #[error("TLS certificate {cert} / key {key}: {source}")]
    Tls {
        /// The certificate file.
        cert: std::path::PathBuf,
        /// The key file.
        key: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Binds `addr` and returns the listener, so the caller can print the real address
/// (port 0 picks a free port) before serving.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ServeError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Serves `state` on `listener` until `shutdown` completes, then finishes the
/// requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Loads a TLS certificate chain and private key (PEM files) for [`serve_tls`].
pub async fn load_tls(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<axum_server::tls_rustls::RustlsConfig, ServeError> {
    // One process-wide crypto provider (ring); installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
        .await
        .map_err(|source| ServeError::Tls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            source,
        })
}

/// Serves `state` over TLS on `listener` until `shutdown` completes, then gives the
/// requests in flight 30 s to finish.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: axum_server::tls_rustls::RustlsConfig,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(Duration::from_secs(30)));
    });
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum_server::from_tcp_rustls(listener.into_std()?, tls)?
        .handle(handle)
        .serve(app)
        .await?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

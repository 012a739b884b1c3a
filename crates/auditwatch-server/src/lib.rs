//! The HTTP surface of Auditwatch (DESIGN §4): the JSON API under `/api/v1`, the
//! CloudTrail-Tracker API under `/tracker`, the AWS-compatible CloudTrail endpoint
//! (`POST /` with `X-Amz-Target`), the web UI, and `/metrics`, `/healthz`, `/readyz`.
//!
//! [`router`] builds everything from an [`AppState`], so tests drive it without a
//! socket. Every handler takes a [`Caller`]; the caller's account scope flows into
//! every query through [`query`], which is the only module that talks to the store.

pub mod api;
pub mod aws;
pub mod caller;
mod error;
pub mod guard;
pub mod metrics;
pub mod query;
pub mod tracker;
pub mod ui;
pub mod view;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            max_page: 1000,
            sql: SqlLimits {
                max_rows: 10_000,
                timeout: Duration::from_secs(60),
            },
            max_export_rows: 1_000_000,
            request_timeout: Duration::from_secs(120),
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
    config: ServerConfig,
    metrics: metrics::Metrics,
    started: Instant,
}

impl AppState {
    /// State over `store` with `config`.
    pub fn new(store: Store, config: ServerConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
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

/// The whole HTTP surface as one router.
pub fn router(state: AppState) -> Router {
    let max_body = state.config().max_body_bytes;
    let timeout = state.config().request_timeout;
    Router::new()
        .merge(ui::routes())
        .merge(aws::routes())
        .nest("/api/v1", api::routes())
        .nest("/tracker", tracker::routes())
        .merge(metrics::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn(caller::identify_local_operator))
        .layer(axum::middleware::from_fn(guard::same_origin_writes))
        .layer(axum::middleware::from_fn(guard::loopback_host))
        .layer(axum::middleware::from_fn(guard::security_headers))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Sign-in does not exist yet, so only loopback addresses are allowed.
    #[error(
        "refusing to listen on {0}: without sign-in Auditwatch serves loopback only (use 127.0.0.1 or [::1])"
    )]
    NotLoopback(SocketAddr),
    /// The socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Binds `addr` (loopback only until sign-in exists) and returns the listener, so the
/// caller can print the real address (port 0 picks a free port) before serving.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ServeError> {
    if !addr.ip().is_loopback() {
        return Err(ServeError::NotLoopback(addr));
    }
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

//! The HTTP surface of Auditwatch (DESIGN §4): the JSON API under `/api/v1`, the
//! CloudTrail-Tracker API under `/tracker`, the AWS-compatible CloudTrail endpoint
//! (`POST /` with `X-Amz-Target`), the web UI, and `/metrics`, `/healthz`, `/readyz`.
//!
//! The crate is feature folders over a leaf HTTP kit:
//! - [`kit`]: routes with access policies, the caller, errors, guards, JSON bodies,
//!   the page shell, charts, audit entries. It imports no feature.
//! - [`query`] (the only module that talks to the store; every query is scoped by
//!   the caller's accounts) and [`view`] (events as pages and the API show them).
//! - Features, each with its pages and its API routes: [`overview`] (dashboard,
//!   users, services), [`search`] (search, event, export), [`sql`], [`alerts`],
//!   [`rules`], [`sources`], [`integrity`], [`admin`], [`about`], [`contact`], [`signin`] (the
//!   gate that identifies every caller, sign-in pages, OpenID Connect), [`aws`] (the
//!   AWS-compatible endpoint), [`tracker`] and [`metrics`].
//! - [`routes`] assembles them into one router ([`router`]), so tests drive it
//!   without a socket. Every route is declared with an access policy
//!   ([`kit::access`]); the [`signin::gate`] middleware enforces it.

pub mod about;
pub mod admin;
pub mod alerts;
pub mod aws;
pub mod contact;
pub mod integrity;
pub mod kit;
pub mod metrics;
pub mod overview;
pub mod query;
mod routes;
pub mod rules;
pub mod search;
pub mod signin;
pub mod sources;
pub mod sql;
mod state;
pub mod tracker;
pub mod view;

use std::net::SocketAddr;

pub use kit::access;
pub use kit::caller::{Caller, Role};
pub use kit::error::ApiError;
pub use routes::{access_rules, router};
pub use signin::oidc;
pub use state::{AppState, AuthConfig, ServerConfig};

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
        stopper.graceful_shutdown(Some(std::time::Duration::from_secs(30)));
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

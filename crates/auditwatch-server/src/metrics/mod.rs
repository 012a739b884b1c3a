//! `/metrics` (Prometheus text), `/healthz`, `/readyz`, and the middleware that
//! counts requests and their latency per route.
//!
//! Routes are labelled by their pattern (`/api/v1/events/{id}`), never by the raw
//! path, so label cardinality stays bounded. Lake and ingest figures are read from the
//! catalog at scrape time.

pub mod registry;

pub use registry::Metrics;
use registry::StatusLabels;

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::kit::access::{Access, Routes};
use crate::kit::caller::Role;

/// Counts the request and its latency under its route pattern.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(unmatched)".to_string(), |p| p.as_str().to_string());
    let res = next.run(req).await;
    state
        .metrics()
        .observe_request(&method, &route, res.status().as_u16(), started.elapsed());
    res
}

/// `/metrics` (admins: it counts events of every account; Prometheus scrapes it with
/// an admin's bearer token), `/healthz` and `/readyz` (anyone).
pub fn routes() -> Routes {
    Routes::api()
        .get("/metrics", Access::Role(Role::Admin), metrics)
        .get("/healthz", Access::Public, healthz)
        .get("/readyz", Access::Public, readyz)
}

async fn metrics(State(state): State<AppState>) -> Response {
    let m = state.metrics();
    let store = state.store().clone();
    let figures = tokio::task::spawn_blocking(move || {
        let catalog = store.catalog()?;
        Ok::<_, auditwatch_store::StoreError>((catalog.segments()?, catalog.source_counts()?))
    })
    .await;
    match figures {
        Ok(Ok((segments, sources))) => {
            m.lake_events
                .set(segments.iter().map(|s| s.rows as i64).sum());
            m.lake_segments.set(segments.len() as i64);
            m.lake_bytes
                .set(segments.iter().map(|s| s.bytes as i64).sum());
            for (status, objects, records, _) in sources {
                let l = StatusLabels { status };
                m.sources.get_or_create(&l).set(objects as i64);
                m.source_records.get_or_create(&l).set(records as i64);
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: catalog unreadable"),
        Err(e) => tracing::warn!(error = %e, "metrics: task failed"),
    }
    m.live.set(&state.config().sources.snapshot());
    let mut body = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &m.registry) {
        return crate::ApiError::internal(e).into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.store().clone();
    match tokio::task::spawn_blocking(move || store.segments()).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: catalog: {e}\n"),
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response(),
    }
}

//! `/metrics` (Prometheus text), `/healthz`, `/readyz`, and the middleware that
//! counts requests and their latency per route.
//!
//! Routes are labelled by their pattern (`/api/v1/events/{id}`), never by the raw
//! path, so label cardinality stays bounded. Lake and ingest figures are read from the
//! catalog at scrape time.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;
use crate::access::{Access, Routes};
use crate::caller::Role;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_5, 2.0, 18))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<RouteLabels>,
    queries: HistogramFamily<KindLabels>,
    lake_events: Gauge,
    lake_segments: Gauge,
    lake_bytes: Gauge,
    sources: Family<StatusLabels, Gauge>,
    source_records: Family<StatusLabels, Gauge>,
    live: LiveSources,
}

/// Per-source figures of the sources `serve` runs.
#[derive(Default)]
struct LiveSources {
    last_success: Family<SourceLabels, Gauge>,
    lag: Family<SourceLabels, Gauge>,
    pending: Family<SourceLabels, Gauge>,
    failed: Family<SourceLabels, Gauge>,
    added: Family<SourceLabels, Gauge>,
    up: Family<SourceLabels, Gauge>,
}

impl LiveSources {
    fn register(&self, registry: &mut Registry) {
        let families = [
            (
                "auditwatch_source_last_success_timestamp_seconds",
                "When the source last completed a pass (Unix seconds)",
                &self.last_success,
            ),
            (
                "auditwatch_source_lag_seconds",
                "Seconds since the newest data the source took was written",
                &self.lag,
            ),
            (
                "auditwatch_source_objects_pending",
                "Objects listed and not yet taken",
                &self.pending,
            ),
            (
                "auditwatch_source_objects_failed",
                "Objects failed or quarantined, with reasons on the Sources page",
                &self.failed,
            ),
            (
                "auditwatch_source_events_added",
                "Events the source added since the server started",
                &self.added,
            ),
            (
                "auditwatch_source_healthy",
                "1 unless the source's last attempt failed",
                &self.up,
            ),
        ];
        for (name, help, family) in families {
            registry.register(name, help, family.clone());
        }
    }

    fn set(&self, statuses: &[auditwatch_sources::runner::SourceStatus]) {
        for s in statuses {
            let l = SourceLabels {
                source: s.name.clone(),
                kind: s.kind.clone(),
            };
            if let Some(t) = s.last_success_unix {
                self.last_success.get_or_create(&l).set(t);
            }
            if let Some(lag) = s.lag_seconds {
                self.lag.get_or_create(&l).set(lag);
            }
            self.pending.get_or_create(&l).set(s.objects_pending as i64);
            self.failed.get_or_create(&l).set(s.objects_failed as i64);
            self.added.get_or_create(&l).set(s.events_added as i64);
            self.up.get_or_create(&l).set(i64::from(s.state != "error"));
        }
    }
}

impl Metrics {
    /// A fresh registry.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily<RouteLabels> = Family::new_with_constructor(latency_histogram);
        let queries: HistogramFamily<KindLabels> = Family::new_with_constructor(latency_histogram);
        let lake_events = Gauge::default();
        let lake_segments = Gauge::default();
        let lake_bytes = Gauge::default();
        let sources = Family::<StatusLabels, Gauge>::default();
        let source_records = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "auditwatch_http_requests",
            "HTTP requests by method, route pattern and status",
            requests.clone(),
        );
        registry.register(
            "auditwatch_http_request_duration_seconds",
            "HTTP request latency by method and route pattern",
            latency.clone(),
        );
        registry.register(
            "auditwatch_query_duration_seconds",
            "Query-engine time by kind of query",
            queries.clone(),
        );
        registry.register(
            "auditwatch_lake_events",
            "Events in the lake",
            lake_events.clone(),
        );
        registry.register(
            "auditwatch_lake_segments",
            "Parquet segments in the lake",
            lake_segments.clone(),
        );
        registry.register(
            "auditwatch_lake_bytes",
            "Bytes of Parquet in the lake",
            lake_bytes.clone(),
        );
        registry.register(
            "auditwatch_ingest_objects",
            "Input objects (files, archive entries, S3 objects) taken, by status",
            sources.clone(),
        );
        registry.register(
            "auditwatch_ingest_records",
            "Records read from the input objects taken, by status",
            source_records.clone(),
        );
        let live = LiveSources::default();
        live.register(&mut registry);
        Self {
            live,
            registry,
            requests,
            latency,
            queries,
            lake_events,
            lake_segments,
            lake_bytes,
            sources,
            source_records,
        }
    }

    /// Records the duration of one query of `kind` (search, aggregate, sql …).
    pub fn observe_query(&self, kind: &str, took: Duration) {
        self.queries
            .get_or_create(&KindLabels { kind: kind.into() })
            .observe(took.as_secs_f64());
    }

    fn observe_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.into(),
                route: route.into(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.into(),
                route: route.into(),
            })
            .observe(took.as_secs_f64());
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

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
    match tokio::task::spawn_blocking(move || store.catalog().and_then(|c| c.segments())).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: catalog: {e}\n"),
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response(),
    }
}

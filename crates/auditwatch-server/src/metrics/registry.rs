//! The counters and histograms Auditwatch keeps about itself (requests per route,
//! query timings, live sources), registered once and encoded at scrape time.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

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
pub(super) struct StatusLabels {
    pub(super) status: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_5, 2.0, 18))
}

/// The server's metrics.
pub struct Metrics {
    pub(super) registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<RouteLabels>,
    queries: HistogramFamily<KindLabels>,
    pub(super) lake_events: Gauge,
    pub(super) lake_segments: Gauge,
    pub(super) lake_bytes: Gauge,
    pub(super) sources: Family<StatusLabels, Gauge>,
    pub(super) source_records: Family<StatusLabels, Gauge>,
    pub(super) live: LiveSources,
}

/// Per-source figures of the sources `serve` runs.
#[derive(Default)]
pub(super) struct LiveSources {
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

    pub(super) fn set(&self, statuses: &[auditwatch_sources::runner::SourceStatus]) {
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

    pub(super) fn observe_request(&self, method: &str, route: &str, status: u16, took: Duration) {
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

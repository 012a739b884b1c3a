//! An alarm's metric filter tried on stored events, for the Rules page's test.

use std::time::Instant;

use auditwatch_detect::origin::EventOrigin;
use auditwatch_store::Lookup;
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use datafusion::prelude::ident;

use super::{Queries, run};
use crate::ApiError;

/// What an alarm's metric filter finds among stored events (the Rules page's test).
#[derive(Debug, Default)]
pub struct FilterTest {
    /// Events looked at.
    pub scanned: u64,
    /// Events the filter matched.
    pub matched: u64,
    /// The metric's sum over them (the match count for a metric value of 1).
    pub sum: f64,
    /// Whether the window held more events than the limit, so only its newest
    /// were looked at.
    pub capped: bool,
    /// The newest matches.
    pub newest: Vec<auditwatch_detect::state::Sample>,
}

impl Queries<'_> {
    /// The time of the `n`th newest event in `[start, end]` (µs), when there are
    /// that many: where a scan of the newest `n` starts.
    async fn nth_newest(&self, start: i64, end: i64, n: usize) -> Result<Option<i64>, ApiError> {
        let q = Lookup {
            start: Some(start),
            end: Some(end),
            ..Lookup::default()
        };
        let df = self
            .filtered(&q)
            .await?
            .select(vec![ident("eventTime")])
            .and_then(|d| d.sort(vec![ident("eventTime").sort(false, false)]))
            .and_then(|d| d.limit(n.saturating_sub(1), Some(1)));
        let batches = run(df).await?;
        Ok(batches.iter().find(|b| b.num_rows() > 0).map(|b| {
            b.column(0)
                .as_primitive::<TimestampMicrosecondType>()
                .value(0)
        }))
    }

    /// Runs `alarm`'s metric filter over the caller's newest `max_scan` events with
    /// `eventTime` in `[start, end]` (µs), keeping the `keep` newest matches.
    pub async fn test_filter(
        &self,
        alarm: &auditwatch_detect::config::AlarmDef,
        start: i64,
        end: i64,
        max_scan: usize,
        keep: usize,
    ) -> Result<FilterTest, ApiError> {
        let t = Instant::now();
        let cutoff = self.nth_newest(start, end, max_scan).await?;
        let mut out = FilterTest {
            capped: cutoff.is_some_and(|c| c > start),
            ..FilterTest::default()
        };
        let mut newest = Vec::new();
        // Records carry their origin, as live detection gives them to the filter.
        let store = self.state.store().clone();
        let origins = tokio::task::spawn_blocking(move || store.origins())
            .await
            .map_err(ApiError::internal)??;
        let reads_origin =
            auditwatch_detect::origin::read_by([&alarm.filter.pattern], None).is_some();
        let scanned = self
            .state
            .store()
            .scan(
                &self.caller.scope,
                Some(cutoff.unwrap_or(start).max(start)),
                Some(end),
                |e| {
                    if !alarm.counts(e.account_id) {
                        return;
                    }
                    let Some(Ok(mut record)) = e.raw.map(serde_json::from_str::<serde_json::Value>)
                    else {
                        return;
                    };
                    // Walked before matching only when the filter reads it; else
                    // for the matches' lines alone.
                    let walked =
                        reads_origin.then(|| EventOrigin::of(&origins, &record, e.account_id));
                    if let Some(o) = &walked {
                        o.attach(&mut record);
                    }
                    let Some(v) = alarm.filter.value_of(&record) else {
                        return;
                    };
                    let origin =
                        walked.unwrap_or_else(|| EventOrigin::of(&origins, &record, e.account_id));
                    out.matched += 1;
                    out.sum += v;
                    newest.push(auditwatch_detect::state::Sample {
                        event_id: e.event_id.unwrap_or_default().to_string(),
                        time_us: e.time_us,
                        account: e.account_id.map(str::to_string),
                        summary: auditwatch_detect::detector::summary(
                            e.username,
                            e.event_name,
                            e.source_ip,
                            e.account_id,
                        ) + &origin.summary_suffix(),
                    });
                    if newest.len() >= keep.max(1) * 4 {
                        newest.sort_by_key(|s| std::cmp::Reverse(s.time_us));
                        newest.truncate(keep);
                    }
                },
            )
            .await?;
        newest.sort_by_key(|s| std::cmp::Reverse(s.time_us));
        newest.truncate(keep);
        out.newest = newest;
        out.scanned = scanned;
        self.timed("rule_test", t);
        Ok(out)
    }
}

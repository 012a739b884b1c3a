//! The LookupEvents source, for accounts without a trail: pages through the API per
//! region, newest first, from a cursor.
//!
//! Each pass reads `[cursor − overlap, now]`, so events that CloudTrail delivers to
//! the API late (minutes after they happened) are still found; what the overlap reads
//! twice is dropped by the store as duplicates. The cursor is staged as a checkpoint
//! (`lookup:NAME:REGION`, its `mtime` the end of the window) and commits in the same
//! transaction as the events it covers, so a crash re-reads the window, never skips
//! it. Requests stay under the configured rate per region (at most 2/s, the API's
//! limit); throttling is retried by the SDK with back-off.

use std::time::{Duration, Instant};

use auditwatch_ingest::decode::decode_json;
use auditwatch_ingest::{Body, Committer, IngestOptions, Observer, Unit};
use auditwatch_store::{SourceObject, Store};
use aws_smithy_types::DateTime;
use serde::Deserialize;

use crate::error::{SourceError, chain};
use crate::{WriteSlot, blocking};
use auditwatch_aws::AwsSettings;

/// What a LookupEvents source reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupSettings {
    /// Regions to read (default: the configured region).
    #[serde(default)]
    pub regions: Vec<String>,
    /// Where the first pass starts (default `90d`, all the API keeps).
    pub start: Option<String>,
    /// Minutes re-read before the cursor (default 20).
    pub overlap_minutes: Option<u64>,
    /// Requests per second per region (default 1.5, at most 2).
    pub requests_per_second: Option<f64>,
}

impl LookupSettings {
    /// Checks the values.
    pub fn check(&self) -> Result<(), String> {
        if let Some(r) = self.requests_per_second
            && !(r > 0.0 && r <= 2.0)
        {
            return Err(format!(
                "requests_per_second {r} must be above 0 and at most 2"
            ));
        }
        auditwatch_event::timearg::parse(
            self.start.as_deref().unwrap_or("90d"),
            chrono::Utc::now(),
            false,
        )
        .map_err(|e| format!("start: {e}"))?;
        Ok(())
    }
}

/// What a pass did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LookupReport {
    /// Requests made.
    pub requests: u64,
    /// Events received (including the overlap's repeats).
    pub events_received: u64,
    /// Events newly stored.
    pub events_added: u64,
    /// The end of the window read (seconds).
    pub read_up_to: Option<i64>,
}

/// Reads LookupEvents for one set of credentials.
#[derive(Debug, Clone)]
pub struct LookupSource {
    name: String,
    /// One client per region read.
    clients: Vec<(String, aws_sdk_cloudtrail::Client)>,
    settings: LookupSettings,
}

impl LookupSource {
    /// A source named `name` (its cursors are `lookup:NAME:REGION`); loads the AWS
    /// configuration once.
    pub async fn connect(
        name: &str,
        aws: &AwsSettings,
        settings: LookupSettings,
    ) -> Result<Self, SourceError> {
        settings.check().map_err(SourceError::Config)?;
        Ok(Self {
            name: name.to_string(),
            clients: aws.cloudtrail(&settings.regions).await,
            settings,
        })
    }

    /// The location prefix of this source's cursors.
    pub fn location_prefix(&self) -> String {
        format!("lookup:{}:", self.name)
    }

    fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.settings.requests_per_second.unwrap_or(1.5))
    }

    /// One pass over every region.
    pub async fn pass(
        &self,
        store: &Store,
        slot: &WriteSlot,
        opts: &IngestOptions,
        observer: &mut (dyn Observer + Send),
    ) -> Result<LookupReport, SourceError> {
        let mut report = LookupReport::default();
        for target in &self.clients {
            self.region_pass(target, store, slot, opts, observer, &mut report)
                .await?;
        }
        Ok(report)
    }

    async fn region_pass(
        &self,
        (region, client): &(String, aws_sdk_cloudtrail::Client),
        store: &Store,
        slot: &WriteSlot,
        opts: &IngestOptions,
        observer: &mut (dyn Observer + Send),
        report: &mut LookupReport,
    ) -> Result<(), SourceError> {
        let cursor_key = format!("{}{region}", self.location_prefix());
        let now = chrono::Utc::now().timestamp();
        let cursor = blocking(|| {
            store
                .catalog()?
                .source(&cursor_key)
                .map_err(SourceError::from)
        })?
        .and_then(|s| s.mtime);
        let overlap = self.settings.overlap_minutes.unwrap_or(20) as i64 * 60;
        let from = match cursor {
            Some(c) => c - overlap,
            None => {
                let start = self.settings.start.as_deref().unwrap_or("90d");
                auditwatch_event::timearg::parse(start, chrono::Utc::now(), false)
                    .map_err(|e| SourceError::Config(format!("start: {e}")))?
                    / 1_000_000
            }
        };
        // Read every page first, holding no writer; then stage and commit at once.
        let mut records: Vec<String> = Vec::new();
        let mut token: Option<String> = None;
        let mut last = Instant::now() - self.interval();
        loop {
            let wait = self.interval().saturating_sub(last.elapsed());
            tokio::time::sleep(wait).await;
            last = Instant::now();
            let page = client
                .lookup_events()
                .start_time(DateTime::from_secs(from))
                .end_time(DateTime::from_secs(now))
                .max_results(50)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| {
                    SourceError::Remote(format!("LookupEvents in {region}: {}", chain(&e)))
                })?;
            report.requests += 1;
            records.extend(
                page.events()
                    .iter()
                    .filter_map(|e| e.cloud_trail_event().map(str::to_string)),
            );
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        report.events_received += records.len() as u64;
        let location = format!("lookup-api:{}:{region}", self.name);
        let unit_location = location.clone();
        let doc = format!("{{\"Records\":[{}]}}", records.join(","));
        let filter = opts.filter.clone();
        let outcome =
            tokio::task::spawn_blocking(move || decode_json(&location, doc.as_bytes(), &filter))
                .await
                .map_err(|e| SourceError::Remote(format!("decoder stopped: {e}")))?;
        let _guard = slot.lock().await;
        let writer = blocking(|| store.writer())?;
        let mut committer = Committer::new(writer, opts, observer);
        committer.take(Unit {
            location: unit_location,
            body: Body::Document(outcome),
            checkpoint: None,
            bytes: 0,
        });
        committer.record(SourceObject {
            location: cursor_key,
            size: None,
            mtime: Some(now),
            etag: None,
            status: "done".into(),
            records: records.len() as u64,
            errors: 0,
            reason: None,
        });
        auditwatch_store::failpoint::hit("lookup.before_commit");
        let summary = blocking(|| committer.finish())?;
        report.events_added += summary.events_added;
        report.read_up_to = Some(now);
        Ok(())
    }
}

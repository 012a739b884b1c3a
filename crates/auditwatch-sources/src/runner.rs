//! Runs declared sources continuously (for `serve`) and keeps each one's status.
//!
//! One task per source. S3 and lookup sources run a pass every interval; an SQS
//! source receives without pause and, when it names a bucket, reconciles by listing
//! it every interval (finding objects whose notification never came). A failed pass
//! is logged, shown in the status and retried with growing back-off; it never stops
//! the server or the other sources.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auditwatch_ingest::IngestOptions;
use auditwatch_store::Store;
use serde::Serialize;
use tokio::sync::watch;

use crate::config::{Kind, SourceConfig, Spec};
use crate::declared::{DeclaredError, DeclaredSources};
use crate::error::SourceError;
use crate::lookup_events::LookupSource;
use crate::s3::{S3Settings, S3Source, S3Url};
use crate::sqs::SqsSource;
use crate::{WriteSlot, blocking};

/// What `/api/v1/sources`, the Sources page and the metrics show of one source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceStatus {
    /// The declared name.
    pub name: String,
    /// `s3`, `sqs` or `lookup`.
    pub kind: String,
    /// What it reads (`s3://bucket/prefix`, the queue URL, regions).
    pub target: String,
    /// `starting`, `running`, `idle` or `error`.
    pub state: String,
    /// When the last pass (or round with messages) succeeded (RFC 3339).
    pub last_success: Option<String>,
    /// The same, in seconds since the epoch.
    pub last_success_unix: Option<i64>,
    /// The last error, and when.
    pub last_error: Option<String>,
    /// When `last_error` happened (RFC 3339).
    pub last_error_at: Option<String>,
    /// Seconds between now and the newest data taken (object write time, or the end
    /// of the LookupEvents window).
    pub lag_seconds: Option<i64>,
    /// Objects listed and not yet taken at the start of the last pass.
    pub objects_pending: u64,
    /// Objects that failed or were quarantined (details from the catalog).
    pub objects_failed: u64,
    /// Events added since the server started.
    pub events_added: u64,
    /// Events per second over the last pass or round that read any.
    pub events_per_second: f64,
    /// Passes (or rounds) completed.
    pub passes: u64,
    /// Location prefix of this source's checkpoints (failed objects are listed from
    /// the catalog under it).
    pub location_prefix: String,
    /// Digest files checked since the server started (sources with `verify_digests`).
    pub digests_verified: u64,
    /// Files those checks found invalid or deleted (details on the Integrity page).
    pub integrity_failures: u64,
    /// `config` (the configuration file) or `ui` (declared through the UI or API).
    pub origin: String,
    /// The administrator who declared it (UI or API only).
    pub declared_by: Option<String>,
    /// The source's table as declared (TOML), shown to administrators.
    pub config: String,
    /// Newest data taken (seconds), from which `lag_seconds` is computed.
    #[serde(skip)]
    pub newest: Option<i64>,
}

/// Where a source was declared.
pub const FROM_CONFIG: &str = "config";
/// Declared by an administrator through the UI or API (kept in the catalog).
pub const FROM_UI: &str = "ui";

/// Why declaring or removing a source was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeclareError {
    /// The table is wrong (the message names the field).
    #[error("{0}")]
    Invalid(String),
    /// A source of that name exists.
    #[error("a source named `{0}` already exists")]
    Exists(String),
    /// No source of that name was declared through the UI or API.
    #[error("no source named `{0}` was declared through the UI or API")]
    NotFound(String),
    /// The source comes from the configuration file.
    #[error("source `{0}` is declared in the configuration file; change it there")]
    FromConfig(String),
    /// This process does not run sources (only `serve` does).
    #[error("this server does not run sources (only `auditwatch serve` does)")]
    NotRunning,
    /// The declared-sources table failed.
    #[error(transparent)]
    Stored(#[from] DeclaredError),
}

/// One source the runner knows: its status and how to stop its task.
struct Entry {
    status: Arc<Mutex<SourceStatus>>,
    stop: watch::Sender<bool>,
}

struct Inner {
    store: Store,
    slot: WriteSlot,
    opts: IngestOptions,
    entries: Mutex<Vec<Entry>>,
    /// Set once the server shuts down; nothing starts after it.
    closed: watch::Receiver<bool>,
    /// The operator's CloudTrail public keys (`[integrity] public_keys`); empty: ask
    /// ListPublicKeys.
    keys: auditwatch_integrity::KeyRing,
}

/// Runs sources for `serve`: those of the configuration file, those declared
/// through the UI or API (started and stopped while the server runs), and shares
/// their statuses with the server. `Runner::default()` runs nothing (tests, tools).
#[derive(Clone, Default)]
pub struct Runner(Option<Arc<Inner>>);

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("sources", &self.snapshot().len())
            .finish()
    }
}

impl Runner {
    /// Starts one task per source of the configuration file and per source declared
    /// in the catalog; all stop when `shutdown` turns true. A declared source that no
    /// longer checks is shown with its error instead of running.
    pub fn start(
        store: Store,
        specs: Vec<Spec>,
        opts: &IngestOptions,
        keys: auditwatch_integrity::KeyRing,
        mut shutdown: watch::Receiver<bool>,
    ) -> Self {
        let inner = Arc::new(Inner {
            store: store.clone(),
            slot: crate::write_slot(),
            opts: opts.clone(),
            entries: Mutex::new(Vec::new()),
            closed: shutdown.clone(),
            keys,
        });
        let runner = Runner(Some(inner.clone()));
        for spec in specs {
            runner.launch(spec, FROM_CONFIG, None);
        }
        match DeclaredSources::open(store.data_dir()).and_then(|t| t.list()) {
            Ok(rows) => {
                for row in rows {
                    let d = match row {
                        Ok(d) => d,
                        Err(e) => {
                            runner.broken(e.source_name(), &e.to_string());
                            continue;
                        }
                    };
                    let name = d.config.name.clone();
                    match d.config.resolve() {
                        Err(e) => runner.broken(&name, &e),
                        Ok(spec) if runner.named(&spec.name).is_some() => runner.broken(
                            &name,
                            "also declared in the configuration file; remove one of them",
                        ),
                        Ok(spec) => runner.launch(spec, FROM_UI, Some(d.added_by)),
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "declared sources not read"),
        }
        // Stop every task (including those declared later) at shutdown.
        tokio::spawn(async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
            for e in inner.entries.lock().expect("runner lock").iter() {
                let _ = e.stop.send(true);
            }
        });
        runner
    }

    /// The write slot the sources take turns for (maintenance takes it too).
    pub fn slot(&self) -> Option<WriteSlot> {
        self.0.as_ref().map(|i| i.slot.clone())
    }

    /// A snapshot of every status, with the lag computed now.
    pub fn snapshot(&self) -> Vec<SourceStatus> {
        let Some(inner) = &self.0 else {
            return Vec::new();
        };
        let now = chrono::Utc::now().timestamp();
        inner
            .entries
            .lock()
            .expect("runner lock")
            .iter()
            .map(|e| {
                let mut s = e.status.lock().expect("status lock").clone();
                s.lag_seconds = s.newest.map(|n| (now - n).max(0));
                s
            })
            .collect()
    }

    /// Declares a source (an administrator, through the UI or API): checks it,
    /// stores it in the catalog and starts it. Blocking (SQLite); call it from a
    /// blocking task inside the runtime.
    pub fn declare(&self, config: SourceConfig, by: &str) -> Result<SourceStatus, DeclareError> {
        let inner = self.0.as_ref().ok_or(DeclareError::NotRunning)?;
        config.check_declarable().map_err(DeclareError::Invalid)?;
        let spec = config.clone().resolve().map_err(DeclareError::Invalid)?;
        if self.named(&spec.name).is_some() {
            return Err(DeclareError::Exists(spec.name));
        }
        let table = DeclaredSources::open(inner.store.data_dir())?;
        if !table.add(&config, by)? {
            return Err(DeclareError::Exists(spec.name));
        }
        let name = spec.name.clone();
        self.launch(spec, FROM_UI, Some(by.to_string()));
        tracing::info!(source = %name, by, "source declared");
        Ok(self
            .named(&name)
            .map(|s| s.lock().expect("status lock").clone())
            .unwrap_or_default())
    }

    /// Stops and forgets a source declared through the UI or API. Objects it took
    /// stay in the lake, and their checkpoints stay, so declaring it again resumes.
    /// Blocking, like [`Runner::declare`].
    pub fn remove(&self, name: &str) -> Result<(), DeclareError> {
        let inner = self.0.as_ref().ok_or(DeclareError::NotRunning)?;
        let table = DeclaredSources::open(inner.store.data_dir())?;
        if !table.remove(name)? {
            let from_config = self
                .named(name)
                .is_some_and(|s| s.lock().expect("status lock").origin == FROM_CONFIG);
            return Err(if from_config {
                DeclareError::FromConfig(name.into())
            } else {
                DeclareError::NotFound(name.into())
            });
        }
        let mut entries = inner.entries.lock().expect("runner lock");
        entries.retain(|e| {
            let s = e.status.lock().expect("status lock");
            let gone = s.name == name && s.origin == FROM_UI;
            if gone {
                let _ = e.stop.send(true);
            }
            !gone
        });
        tracing::info!(source = %name, "source removed");
        Ok(())
    }

    fn named(&self, name: &str) -> Option<Arc<Mutex<SourceStatus>>> {
        let inner = self.0.as_ref()?;
        inner
            .entries
            .lock()
            .expect("runner lock")
            .iter()
            .find(|e| e.status.lock().expect("status lock").name == name)
            .map(|e| e.status.clone())
    }

    /// Shows a declared source that cannot run, with the reason.
    fn broken(&self, name: &str, reason: &str) {
        let Some(inner) = &self.0 else { return };
        tracing::error!(source = %name, error = %reason, "declared source not started");
        let (stop, _) = watch::channel(true);
        let status = SourceStatus {
            name: name.into(),
            origin: FROM_UI.into(),
            state: "error".into(),
            last_error: Some(reason.into()),
            last_error_at: Some(now_text()),
            ..Default::default()
        };
        inner.entries.lock().expect("runner lock").push(Entry {
            status: Arc::new(Mutex::new(status)),
            stop,
        });
    }

    fn launch(&self, spec: Spec, origin: &str, declared_by: Option<String>) {
        let Some(inner) = &self.0 else { return };
        let status = Arc::new(Mutex::new(SourceStatus {
            name: spec.name.clone(),
            kind: spec.kind.name().into(),
            target: target(&spec.kind),
            origin: origin.into(),
            declared_by,
            config: spec.config.clone(),
            state: "starting".into(),
            ..Default::default()
        }));
        let (stop, stopped) = watch::channel(*inner.closed.borrow());
        inner.entries.lock().expect("runner lock").push(Entry {
            status: status.clone(),
            stop,
        });
        let mut opts = inner.opts.clone();
        opts.filter = spec.filter.clone();
        let verify = match &spec.kind {
            Kind::S3(s) => s.verify_digests,
            Kind::Sqs(q, _) => q.verify_digests,
            Kind::Lookup(_) => false,
        }
        .then(|| Verify {
            aws: spec.aws.clone(),
            keys: (!inner.keys.0.is_empty()).then(|| inner.keys.clone()),
        });
        let task = Task {
            store: inner.store.clone(),
            slot: inner.slot.clone(),
            opts,
            status,
            shutdown: stopped,
            verify,
        };
        tokio::spawn(task.run(spec));
    }
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn target(kind: &Kind) -> String {
    match kind {
        Kind::S3(s) => format!("s3://{}/{}", s.bucket, s.prefix),
        Kind::Sqs(q, _) => q.queue_url.clone(),
        Kind::Lookup(l) => format!("LookupEvents {}", l.regions.join(",")),
    }
}

struct Task {
    store: Store,
    slot: WriteSlot,
    opts: IngestOptions,
    status: Arc<Mutex<SourceStatus>>,
    shutdown: watch::Receiver<bool>,
    /// Set for S3 sources that verify digests as they arrive.
    verify: Option<Verify>,
}

/// How a source verifies digests: its AWS settings (for ListPublicKeys) and the
/// operator's keys, when configured.
struct Verify {
    aws: auditwatch_aws::AwsSettings,
    keys: Option<auditwatch_integrity::KeyRing>,
}

impl Task {
    fn update(&self, f: impl FnOnce(&mut SourceStatus)) {
        f(&mut self.status.lock().expect("status lock"));
    }

    /// Sleeps for `d`, or less if the server stops. Returns false when stopping.
    async fn pause(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => !*self.shutdown.borrow(),
            _ = self.shutdown.changed() => false,
        }
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    async fn run(mut self, spec: Spec) {
        let interval = Duration::from_secs(spec.interval_seconds);
        let result = match &spec.kind {
            Kind::S3(settings) => {
                let client = spec.aws.s3().await;
                match s3_source(client, settings) {
                    Ok(source) => {
                        self.update(|s| s.location_prefix = source.location_prefix());
                        self.s3_loop(&source, interval).await;
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Kind::Sqs(settings, reconcile) => {
                let client = spec.aws.s3().await;
                let sqs = spec.aws.sqs().await;
                let built = SqsSource::new(sqs, client.clone(), settings.clone()).and_then(|q| {
                    let r = reconcile
                        .as_ref()
                        .map(|r| s3_source(client, r))
                        .transpose()?;
                    Ok((q, r))
                });
                match built {
                    Ok((queue, reconcile)) => {
                        self.update(|s| s.location_prefix = "s3://".into());
                        self.sqs_loop(&queue, reconcile.as_ref(), interval).await;
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Kind::Lookup(settings) => {
                match LookupSource::connect(&spec.name, &spec.aws, settings.clone()).await {
                    Ok(source) => {
                        self.update(|s| s.location_prefix = source.location_prefix());
                        self.lookup_loop(&source, interval).await;
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = result {
            tracing::error!(source = %spec.name, error = %e, "source not started");
            self.update(|s| {
                s.state = "error".into();
                s.last_error = Some(e.to_string());
                s.last_error_at = Some(now_text());
            });
        }
    }

    /// Records a finished pass: events added, the rate, the failed-object count.
    fn succeeded(&self, added: u64, elapsed: Duration, newest: Option<i64>) {
        let failed = blocking(|| {
            let prefix = self
                .status
                .lock()
                .expect("status lock")
                .location_prefix
                .clone();
            self.store
                .catalog()?
                .troubled_sources(&prefix, 10_000)
                .map_err(SourceError::from)
        })
        .map(|v| v.len() as u64)
        .unwrap_or(0);
        self.update(|s| {
            s.state = "idle".into();
            s.last_success = Some(now_text());
            s.last_success_unix = Some(chrono::Utc::now().timestamp());
            s.passes += 1;
            s.events_added += added;
            if added > 0 {
                s.events_per_second = added as f64 / elapsed.as_secs_f64().max(0.001);
            }
            if newest.is_some() {
                s.newest = newest.max(s.newest);
            }
            s.objects_failed = failed;
        });
    }

    fn failed(&self, e: &SourceError, name: &str) {
        tracing::warn!(source = %name, error = %e, "source pass failed; retrying");
        self.update(|s| {
            s.state = "error".into();
            s.last_error = Some(e.to_string());
            s.last_error_at = Some(now_text());
        });
    }

    /// Back-off after consecutive failures: 2 s doubling to at most `cap`.
    fn backoff(failures: u32, cap: Duration) -> Duration {
        Duration::from_secs(2u64.saturating_pow(failures.min(10))).min(cap)
    }

    async fn s3_pass(&mut self, source: &S3Source) -> Result<(), SourceError> {
        self.update(|s| s.state = "running".into());
        let started = Instant::now();
        let report = source
            .pass(&self.store, &self.slot, &self.opts, &mut ())
            .await?;
        self.update(|s| s.objects_pending = report.listed - report.unchanged - report.read);
        self.succeeded(
            report.summary.events_added,
            started.elapsed(),
            report.newest_object,
        );
        if !report.new_digests.is_empty() {
            self.verify_digests(
                source.client(),
                source.bucket(),
                &report.digests,
                &report.new_digests,
            )
            .await?;
        }
        Ok(())
    }

    /// Verifies the chains of `new` digests (among the `listed` ones) when this source
    /// verifies digests, and counts the outcome in its status.
    async fn verify_digests(
        &self,
        client: &aws_sdk_s3::Client,
        bucket: &str,
        listed: &[String],
        new: &[String],
    ) -> Result<(), SourceError> {
        let Some(v) = &self.verify else {
            return Ok(());
        };
        let verified = crate::digests::verify_new(
            client,
            &v.aws,
            &self.store,
            bucket,
            listed,
            new,
            v.keys.as_ref(),
        )
        .await?;
        self.update(|s| {
            s.digests_verified += verified.digests;
            s.integrity_failures += verified.failures;
        });
        Ok(())
    }

    /// Verifies the chains of digests an SQS round read: their digest folders are
    /// listed (notifications name single objects), then checked like an S3 pass's.
    async fn verify_notified(
        &mut self,
        queue: &SqsSource,
        digests: &[(String, String)],
    ) -> Result<(), SourceError> {
        if self.verify.is_none() {
            return Ok(());
        }
        let mut by_place: std::collections::BTreeMap<(String, String), Vec<String>> =
            Default::default();
        for (bucket, key) in digests {
            let prefix = key.find("AWSLogs/").map_or("", |i| &key[..i]).to_string();
            by_place
                .entry((bucket.clone(), prefix))
                .or_default()
                .push(key.clone());
        }
        for ((bucket, prefix), new) in by_place {
            let ends: Vec<i64> = new
                .iter()
                .filter_map(|k| {
                    auditwatch_integrity::digest_keys::parse_digest_key(k).map(|d| d.end)
                })
                .collect();
            // Reaching back before the oldest new digest, so its predecessor is listed.
            let (first, last) = crate::digests::digest_days(
                ends.iter().min().copied().unwrap_or_default() - 3 * 3600,
                ends.iter().max().copied().unwrap_or_default(),
            );
            let listed =
                crate::digests::digest_keys(queue.s3(), &bucket, &prefix, first, last).await?;
            self.verify_digests(queue.s3(), &bucket, &listed, &new)
                .await?;
        }
        Ok(())
    }

    async fn s3_loop(&mut self, source: &S3Source, interval: Duration) {
        let mut failures = 0;
        while !self.stopping() {
            let wait = match self.s3_pass(source).await {
                Ok(()) => {
                    failures = 0;
                    interval
                }
                Err(e) => {
                    failures += 1;
                    let name = self.status.lock().expect("status lock").name.clone();
                    self.failed(&e, &name);
                    Self::backoff(failures, interval)
                }
            };
            if !self.pause(wait).await {
                break;
            }
        }
    }

    async fn sqs_loop(
        &mut self,
        queue: &SqsSource,
        reconcile: Option<&S3Source>,
        interval: Duration,
    ) {
        let mut failures = 0;
        // Notifications do the work; the listing that reconciles them runs after one
        // interval, then every interval.
        let mut last_reconcile = Instant::now();
        let name = self.status.lock().expect("status lock").name.clone();
        while !self.stopping() {
            if let Some(r) = reconcile
                && last_reconcile.elapsed() >= interval
            {
                last_reconcile = Instant::now();
                if let Err(e) = self.s3_pass(r).await {
                    self.failed(&e, &name);
                }
            }
            let started = Instant::now();
            let mut quiet = ();
            let round = tokio::select! {
                r = queue.round(&self.store, &self.slot, &self.opts, &mut quiet) => r,
                _ = self.shutdown.changed() => break,
            };
            match round {
                Ok(report) => {
                    failures = 0;
                    if report.messages > 0 {
                        let newest = Some(chrono::Utc::now().timestamp());
                        self.succeeded(report.events_added, started.elapsed(), newest);
                        if let Err(e) = self.verify_notified(queue, &report.new_digests).await {
                            self.failed(&e, &name);
                        }
                    } else {
                        self.update(|s| s.state = "idle".into());
                    }
                }
                Err(e) => {
                    failures += 1;
                    self.failed(&e, &name);
                    if !self
                        .pause(Self::backoff(failures, Duration::from_secs(60)))
                        .await
                    {
                        break;
                    }
                }
            }
        }
    }

    async fn lookup_loop(&mut self, source: &LookupSource, interval: Duration) {
        let mut failures = 0;
        let name = self.status.lock().expect("status lock").name.clone();
        while !self.stopping() {
            self.update(|s| s.state = "running".into());
            let started = Instant::now();
            let wait = match source
                .pass(&self.store, &self.slot, &self.opts, &mut ())
                .await
            {
                Ok(report) => {
                    failures = 0;
                    self.succeeded(report.events_added, started.elapsed(), report.read_up_to);
                    interval
                }
                Err(e) => {
                    failures += 1;
                    self.failed(&e, &name);
                    Self::backoff(failures, interval)
                }
            };
            if !self.pause(wait).await {
                break;
            }
        }
    }
}

fn s3_source(client: aws_sdk_s3::Client, settings: &S3Settings) -> Result<S3Source, SourceError> {
    let url = S3Url {
        bucket: settings.bucket.clone(),
        prefix: settings.prefix.clone(),
    };
    S3Source::new(client, url, settings)
}

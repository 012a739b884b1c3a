//! The loop `serve` runs: every tick, detection over what ingest queued, then alarm
//! evaluation, then the outbox. Detection and evaluation run in one blocking task,
//! one after the other (see `evaluator`); sending is async.

use std::sync::Arc;
use std::time::Duration;

use auditwatch_store::Store;
use tokio::sync::watch;

use crate::detector::Memory;
use crate::{Definitions, DetectError, Library, detector, evaluator, notify};

/// How often the loop runs.
pub const TICK: Duration = Duration::from_secs(5);
/// Most segments taken per tick.
pub const SEGMENTS_PER_TICK: usize = 64;

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tick {
    /// Detection.
    pub pass: detector::Pass,
    /// Alerts raised by alarms.
    pub alarm_alerts: Vec<i64>,
}

/// Detection then evaluation of every alarm, at `now` (seconds).
pub fn detect_and_evaluate(
    store: &Store,
    defs: &Definitions,
    memory: &mut Memory,
    now: i64,
) -> Result<Tick, DetectError> {
    let mut catalog = crate::state::DetectionState::of(store)?;
    let pass = detector::drain(store, &mut catalog, defs, memory, now, SEGMENTS_PER_TICK)?;
    let mut alarm_alerts = Vec::new();
    for def in &defs.alarms {
        alarm_alerts.extend(evaluator::evaluate_alarm(
            &mut catalog,
            def,
            now,
            defs.max_lateness_secs,
            &def.channels,
        )?);
    }
    Ok(Tick { pass, alarm_alerts })
}

/// Runs until `shutdown` turns true, each tick with the definitions `library` holds
/// then (the Rules page changes them), turning queueing on or off as there is
/// something to detect or not. Failures are logged and retried next tick.
pub async fn run(
    store: Store,
    library: Arc<Library>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), DetectError> {
    let mut queueing = None;
    let memory = Arc::new(std::sync::Mutex::new(Memory::default()));
    loop {
        let now = chrono::Utc::now().timestamp();
        let defs = library.current();
        if queueing != Some(!defs.is_empty()) {
            match crate::state::DetectionState::of(&store)
                .and_then(|c| Ok(c.set_detection(!defs.is_empty())?))
            {
                Ok(()) => queueing = Some(!defs.is_empty()),
                Err(e) => {
                    tracing::warn!(error = %e, "turning detection queueing on or off failed; retrying")
                }
            }
        }
        // Only once queueing is on: with a shared catalog another node may hold the
        // detector's place, and its queue is not this node's to drain.
        if !defs.is_empty() && queueing == Some(true) {
            let (s, d, m) = (store.clone(), defs.clone(), memory.clone());
            let task = move || {
                let mut memory = m.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                detect_and_evaluate(&s, &d, &mut memory, now)
            };
            match tokio::task::spawn_blocking(task).await {
                Ok(Ok(t)) => {
                    if t.pass.segments > 0 || !t.alarm_alerts.is_empty() {
                        tracing::info!(
                            segments = t.pass.segments,
                            events = t.pass.events,
                            rule_alerts = t.pass.alerts.len(),
                            alarm_alerts = t.alarm_alerts.len(),
                            "detection"
                        );
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "detection failed; retrying"),
                Err(e) => tracing::error!(error = %e, "detection task failed"),
            }
        }
        if let Err(e) = notify::send_due(&store, &defs, now).await {
            tracing::warn!(error = %e, "sending notifications failed; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.changed() => return Ok(()),
        }
        if *shutdown.borrow() {
            return Ok(());
        }
    }
}

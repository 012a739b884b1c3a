//! Lake maintenance: retention (`[retention]`), then compaction of small segments.
//! `auditwatch compact` runs it once; `serve` runs it in the background, taking the
//! sources' write slot so it never races them for the writer.

use std::time::Duration;

use anyhow::Result;
use auditwatch_store::Store;
use auditwatch_store::write::compact::{CompactStats, compact};
use auditwatch_store::write::retention::{self, Retention, RetentionStats};

/// How often `serve` runs maintenance, and how long after start the first run is.
pub const PERIOD: Duration = Duration::from_secs(3600);
/// See [`PERIOD`].
pub const FIRST_AFTER: Duration = Duration::from_secs(10);

/// Applies retention as of today (UTC), then compacts.
pub fn once(store: &Store, policy: &Retention) -> Result<(RetentionStats, CompactStats)> {
    let mut writer = store.writer()?;
    let kept = retention::apply(&mut writer, policy, retention::today())?;
    let merged = compact(&mut writer)?;
    Ok((kept, merged))
}

/// Runs [`once`] every [`PERIOD`] until `shutdown` turns true. Failures are logged
/// and retried next period (another process holding the writer, a full disk …).
pub async fn every(
    store: Store,
    policy: Retention,
    slot: auditwatch_sources::WriteSlot,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut wait = FIRST_AFTER;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        wait = PERIOD;
        let _turn = slot.lock().await;
        let (store, policy) = (store.clone(), policy.clone());
        match tokio::task::spawn_blocking(move || once(&store, &policy)).await {
            Ok(Ok((r, c))) => {
                if r.rows_dropped > 0 || r.sessions_forgotten > 0 || c.merged > 0 {
                    tracing::info!(
                        retired = r.retired,
                        rewritten = r.rewritten,
                        rows_dropped = r.rows_dropped,
                        sessions_forgotten = r.sessions_forgotten,
                        merged = c.merged,
                        written = c.written,
                        "maintenance"
                    );
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %format!("{e:#}"), "maintenance failed; retrying next hour")
            }
            Err(e) => tracing::error!(error = %e, "maintenance task failed"),
        }
    }
}

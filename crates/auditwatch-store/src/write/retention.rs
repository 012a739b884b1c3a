//! Retention: drops event days older than a number of days, globally or per AWS
//! account, in one catalog transaction.
//!
//! A day `d` is kept while `d >= today - days` (so `days = 0` keeps today only and
//! `days = 90` keeps today and the 90 days before it). A segment whose every row is
//! expired is retired whole; a segment that mixes expired and kept accounts is
//! rewritten without the expired rows (with the event keys of the rows it keeps). All
//! replacements and retirements are registered in one transaction, so readers see the
//! lake before or after, never half of it. Source checkpoints are kept: dropping old
//! events must not make a source read their files again. The sessions index then
//! forgets the keys whose issuing calls were dropped ([`crate::write::retired_sessions`]).

use std::collections::{BTreeMap, BTreeSet};

use auditwatch_event::EventKey;
use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::compute::filter_record_batch;

use crate::error::{Result, StoreError};
use crate::write::segment;
use crate::write::writer::Writer;
use auditwatch_catalog::keys::to_blob;
use auditwatch_catalog::{NewSegment, Segment};

/// How long events are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// Days kept for every account without its own entry (and for events without an
    /// account); `None` keeps them forever.
    pub days: Option<u32>,
    /// Days kept per account id, overriding `days`.
    pub accounts: BTreeMap<String, u32>,
}

impl Retention {
    /// Whether anything is ever dropped.
    pub fn is_enabled(&self) -> bool {
        self.days.is_some() || !self.accounts.is_empty()
    }

    /// The first day kept for `account` (`None`: every day is kept).
    fn first_kept(&self, account: Option<&str>, today: i32) -> Option<i32> {
        let days = account
            .and_then(|a| self.accounts.get(a).copied())
            .or(self.days)?;
        Some(today.saturating_sub(i32::try_from(days).unwrap_or(i32::MAX)))
    }

    fn expired(&self, account: Option<&str>, day: i32, today: i32) -> bool {
        self.first_kept(account, today).is_some_and(|k| day < k)
    }

    /// The latest first kept day of any account: nothing on or after it is dropped
    /// (`None`: nothing ever is).
    pub(crate) fn latest_cutoff(&self, today: i32) -> Option<i32> {
        let global = self.first_kept(None, today);
        let accounts = self
            .accounts
            .keys()
            .filter_map(|a| self.first_kept(Some(a), today));
        global.into_iter().chain(accounts).max()
    }
}

/// What one application of the policy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionStats {
    /// Segments retired whole.
    pub retired: u64,
    /// Segments rewritten without their expired rows.
    pub rewritten: u64,
    /// Event rows dropped.
    pub rows_dropped: u64,
    /// Temporary keys the sessions index forgot because their issuing calls were
    /// dropped ([`crate::write::retired_sessions`]).
    pub sessions_forgotten: u64,
    /// Why the sessions index could not be brought up to date (the next run retries).
    pub sessions_error: Option<String>,
}

/// What to do with one segment.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    Keep,
    Retire,
    /// Some rows are expired; which is decided row by row.
    Rewrite,
}

fn plan(policy: &Retention, s: &Segment, today: i32) -> Plan {
    let expired: Vec<bool> = s
        .accounts
        .iter()
        .map(|a| policy.expired(Some(a), s.day, today))
        .collect();
    // Rows without an account (CloudTrail nearly always names one) follow the global
    // setting; the catalog does not list them, so they go when their segment is
    // retired or rewritten, never on their own (that would mean reading every
    // segment of a longer-kept account at every run).
    let unowned_expired = policy.expired(None, s.day, today);
    if expired.iter().all(|e| *e) && unowned_expired {
        Plan::Retire
    } else if expired.iter().any(|e| *e) {
        Plan::Rewrite
    } else {
        Plan::Keep
    }
}

/// Today (UTC) in days since the Unix epoch, the day numbering of segments.
pub fn today() -> i32 {
    i32::try_from(chrono::Utc::now().timestamp().div_euclid(86_400)).unwrap_or(i32::MAX)
}

/// Applies `policy` as of `today` (days since the Unix epoch, UTC).
pub fn apply(writer: &mut Writer, policy: &Retention, today: i32) -> Result<RetentionStats> {
    let mut stats = RetentionStats::default();
    if !policy.is_enabled() {
        return Ok(stats);
    }
    let mut added = Vec::new();
    let mut retired = Vec::new();
    let written = |added: &Vec<(NewSegment, Vec<u128>)>| -> Vec<String> {
        added.iter().map(|(n, _)| n.segment.path.clone()).collect()
    };
    let outcome = (|| -> Result<()> {
        for s in writer.catalog().segments()? {
            match plan(policy, &s, today) {
                Plan::Keep => {}
                Plan::Retire => {
                    stats.retired += 1;
                    stats.rows_dropped += s.rows;
                    retired.push((s.id, s.path.clone()));
                }
                Plan::Rewrite => {
                    let batch = segment::read(&writer.segment_file(&s)?)?;
                    let accounts = batch
                        .column_by_name("accountId")
                        .ok_or_else(|| StoreError::Query("no accountId column".into()))?
                        .as_string::<i32>()
                        .clone();
                    let keep: BooleanArray = (0..batch.num_rows())
                        .map(|i| {
                            let account = accounts.is_valid(i).then(|| accounts.value(i));
                            Some(!policy.expired(account, s.day, today))
                        })
                        .collect();
                    let kept = filter_record_batch(&batch, &keep)?;
                    drop(batch);
                    let dropped = s.rows - kept.num_rows() as u64;
                    if dropped == 0 {
                        continue;
                    }
                    stats.rows_dropped += dropped;
                    retired.push((s.id, s.path.clone()));
                    if kept.num_rows() == 0 {
                        stats.retired += 1;
                        continue;
                    }
                    stats.rewritten += 1;
                    let keys = keys_of(&kept)?;
                    let new = segment::write(writer.lake(), s.day, &kept)?;
                    added.push((
                        NewSegment {
                            segment: new,
                            keys: to_blob(&keys),
                            sessions: Vec::new(),
                        },
                        keys,
                    ));
                }
            }
        }
        Ok(())
    })();
    if let Err(e) = outcome {
        // Nothing was registered: the rewritten files are not listed anywhere.
        for path in written(&added) {
            let _ = std::fs::remove_file(writer.lake().join(path));
        }
        return Err(e);
    }
    if !retired.is_empty() {
        writer.swap(added, &retired)?;
    }
    // After the swap, and at every run: a run stopped between the two, or one whose
    // step failed (a segment unreadable for a while), is made good by the next.
    match crate::write::retired_sessions::expire(writer, policy, today) {
        Ok(n) => stats.sessions_forgotten = n,
        Err(e) => {
            tracing::warn!(error = %e, "the sessions index was not brought up to date after retention; the next run retries");
            stats.sessions_error = Some(e.to_string());
        }
    }
    Ok(stats)
}

/// The sorted event keys of a batch's rows (eventID, or the record text without one).
fn keys_of(batch: &datafusion::arrow::array::RecordBatch) -> Result<Vec<u128>> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .map(|c| c.as_string::<i32>().clone())
            .ok_or_else(|| StoreError::Query(format!("no {name} column")))
    };
    let (ids, raw) = (column("eventID")?, column("raw")?);
    let mut keys: BTreeSet<u128> = BTreeSet::new();
    for i in 0..batch.num_rows() {
        let key = if ids.is_valid(i) {
            EventKey::of_event_id(ids.value(i))
        } else {
            EventKey::of_raw(raw.value(i))
        };
        keys.insert(key.0);
    }
    Ok(keys.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(day: i32, accounts: &[&str]) -> Segment {
        Segment {
            id: 1,
            day,
            path: String::new(),
            rows: 10,
            bytes: 0,
            min_time: 0,
            max_time: 0,
            accounts: accounts.iter().map(|a| a.to_string()).collect(),
            regions: Vec::new(),
        }
    }

    #[test]
    fn days_are_kept_through_the_boundary() {
        let p = Retention {
            days: Some(10),
            accounts: BTreeMap::new(),
        };
        assert_eq!(plan(&p, &seg(90, &["a"]), 100), Plan::Keep);
        assert_eq!(plan(&p, &seg(89, &["a"]), 100), Plan::Retire);
        assert_eq!(plan(&p, &seg(100, &["a"]), 100), Plan::Keep);
    }

    #[test]
    fn per_account_days_override_and_mixed_segments_are_rewritten() {
        let p = Retention {
            days: None,
            accounts: [("short".to_string(), 5)].into(),
        };
        // No global setting: an account's own segment is still read, for rows
        // without an account.
        assert_eq!(plan(&p, &seg(90, &["short"]), 100), Plan::Rewrite);
        assert_eq!(plan(&p, &seg(90, &["long", "short"]), 100), Plan::Rewrite);
        assert_eq!(plan(&p, &seg(96, &["long", "short"]), 100), Plan::Keep);
        assert_eq!(plan(&p, &seg(10, &["long"]), 100), Plan::Keep);
        let p = Retention {
            days: Some(30),
            accounts: [("keep-longer".to_string(), 365)].into(),
        };
        assert_eq!(plan(&p, &seg(50, &["x", "y"]), 100), Plan::Retire);
        assert_eq!(
            plan(&p, &seg(50, &["x", "keep-longer"]), 100),
            Plan::Rewrite
        );
        assert_eq!(plan(&p, &seg(80, &["x", "keep-longer"]), 100), Plan::Keep);
    }

    #[test]
    fn nothing_configured_keeps_everything() {
        let p = Retention::default();
        assert!(!p.is_enabled());
        assert_eq!(plan(&p, &seg(0, &[]), 100_000), Plan::Keep);
    }
}

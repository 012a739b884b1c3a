//! Runs alarms' metric filters and alerting rules over the segments ingest queued.
//!
//! One segment at a time: its records are parsed once, every filter and rule runs on
//! each, and what was found (minute points, samples, rule alerts with their
//! notifications) is recorded with the segment's removal from the queue in one
//! transaction — after a crash a segment is either done or read again whole.
//!
//! Records whose `eventTime` is older than `max_lateness` are history: counted in
//! nothing here (use `hunt`), so that importing last year's logs does not page
//! anyone.
//!
//! Sigma correlations keep their open windows in [`Memory`] between segments; a
//! window fires on the match that completes it, late files included. The memory
//! lives in the serving process: after a restart, windows start empty.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::state::{Detected, MinutePoint, RuleHit, Sample};
use auditwatch_rules::correlate::Windows;
use auditwatch_rules::sigma::SigmaSet;
use auditwatch_store::write::segment;
use auditwatch_store::{Segment, Store, StoreError};

use crate::state::DetectionState;
use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use serde_json::Value;

use crate::config::switch_key;
use crate::origin::{EventOrigin, OnDemand};
use crate::{Definitions, DetectError};
use auditwatch_event::identity::{Principal, caller_of_value};

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Segments taken off the queue.
    pub segments: usize,
    /// Records looked at.
    pub events: u64,
    /// Records matched by an alarm's filter or a rule.
    pub matches: u64,
    /// Alerts raised by rules.
    pub alerts: Vec<i64>,
}

fn opt(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

/// `alice GetSecretValue from 198.51.100.7 in 111122223333`.
pub fn summary(
    user: Option<&str>,
    name: Option<&str>,
    ip: Option<&str>,
    account: Option<&str>,
) -> String {
    let mut s = format!(
        "{} {}",
        user.unwrap_or("(unknown user)"),
        name.unwrap_or("(unknown event)")
    );
    if let Some(ip) = ip {
        s.push_str(&format!(" from {ip}"));
    }
    if let Some(a) = account {
        s.push_str(&format!(" in {a}"));
    }
    s
}

/// What detection remembers between segments: the open Sigma correlation windows.
#[derive(Debug, Default)]
pub struct Memory {
    windows: Option<Windows<Sample>>,
}

impl Memory {
    /// Matches held in open windows.
    pub fn held(&self) -> usize {
        self.windows.as_ref().map_or(0, Windows::len)
    }
}

/// The alert hits of correlations that fired: one per event in the window, so that
/// the alert lists them and its accounts are all of theirs.
fn correlation_hits(
    sigma: &SigmaSet,
    windows: &mut Windows<Sample>,
    disabled: &HashSet<String>,
    d: &mut Detected,
) {
    for f in windows.judge() {
        let c = sigma.correlation(f.correlation);
        if disabled.contains(&switch_key("correlation", &c.id)) {
            continue;
        }
        let group = sigma.describe_group(f.correlation, &f.group);
        let group_key = if group.is_empty() {
            "(all)".to_string()
        } else {
            group.clone()
        };
        let found = sigma.describe(&f);
        let n = f.tags.len();
        for (k, mut sample) in f.tags.into_iter().enumerate() {
            if k + 1 == n {
                sample.summary = format!("{found}; last: {}", sample.summary);
            }
            d.hits.push(RuleHit {
                rule: c.id.clone(),
                title: c.title.clone(),
                level: c.level.clone(),
                author: c.author.clone(),
                group_key: group_key.clone(),
                sample,
            });
        }
    }
}

/// Detects over one segment's records (no IO but `origins`' loading; `memory` carries
/// correlation windows from segment to segment). When a rule reads the origin, each
/// record carries it ([`crate::origin`]); alerts on calls made with temporary
/// credentials name it.
pub fn detect(
    batch: &RecordBatch,
    defs: &Definitions,
    origins: &OnDemand<'_>,
    now: i64,
    memory: &mut Memory,
) -> Detected {
    let col = |name: &str| batch.column_by_name(name);
    let mut d = Detected::default();
    let (Some(time), Some(id), Some(account), Some(user), Some(name), Some(ip), Some(raw)) = (
        col("eventTime"),
        col("eventID"),
        col("accountId"),
        col("username"),
        col("eventName"),
        col("sourceIPAddress"),
        col("raw"),
    ) else {
        return d;
    };
    let time = time.as_primitive::<TimestampMicrosecondType>();
    let s = |a: &std::sync::Arc<dyn Array>| a.as_string::<i32>().clone();
    let (id, account, user, name, ip, raw) = (s(id), s(account), s(user), s(name), s(ip), s(raw));
    let oldest = (now - defs.max_lateness_secs) * 1_000_000;
    let sigma = defs.sigma.as_deref();
    let windows = memory
        .windows
        .get_or_insert_with(|| sigma.map_or_else(|| Windows::new(Vec::new()), SigmaSet::windows));
    let mut points: BTreeMap<(usize, i64), MinutePoint> = BTreeMap::new();
    let mut minutes: BTreeMap<i64, u64> = BTreeMap::new();
    let mut dirty: HashMap<usize, i64> = HashMap::new();
    let attach = defs.reads_origin();
    for i in 0..batch.num_rows() {
        let t = time.value(i);
        if t < oldest {
            continue;
        }
        let minute = t.div_euclid(60_000_000) * 60;
        *minutes.entry(minute).or_default() += 1;
        let Ok(mut event) = serde_json::from_str::<Value>(raw.value(i)) else {
            continue;
        };
        let origin = if attach {
            origins
                .get()
                .map(|o| EventOrigin::of(o, &event, opt(&account, i)))
        } else {
            None
        };
        if let Some(o) = &origin {
            o.attach(&mut event);
        }
        // What an alert's line says of the origin: worked out for matches only.
        let behind = |event: &Value| match &origin {
            Some(o) => o.summary_suffix(),
            None if matches!(caller_of_value(event), Principal::Session { .. }) => origins
                .get()
                .map(|o| EventOrigin::of(o, event, opt(&account, i)).summary_suffix())
                .unwrap_or_default(),
            None => String::new(),
        };
        let sample = || Sample {
            event_id: opt(&id, i).unwrap_or_default().to_string(),
            time_us: t,
            account: opt(&account, i).map(str::to_string),
            summary: summary(opt(&user, i), opt(&name, i), opt(&ip, i), opt(&account, i))
                + &behind(&event),
        };
        for (k, alarm) in defs.alarms.iter().enumerate() {
            if !alarm.counts(opt(&account, i)) {
                continue;
            }
            if let Some(v) = alarm.filter.value_of(&event) {
                let p = points.entry((k, minute)).or_insert(MinutePoint {
                    minute,
                    count: 0,
                    sum: 0.0,
                    min: v,
                    max: v,
                });
                p.count += 1;
                p.sum += v;
                p.min = p.min.min(v);
                p.max = p.max.max(v);
                d.samples.push((alarm.name.clone(), minute, sample()));
                let e = dirty.entry(k).or_insert(minute);
                *e = (*e).min(minute);
            }
        }
        for rule in &defs.rules {
            if rule.pattern.matches(&event) {
                let s = sample();
                d.hits.push(RuleHit {
                    rule: rule.id.clone(),
                    title: rule.title.clone(),
                    level: rule.level.clone(),
                    author: None,
                    group_key: s.account.clone().unwrap_or_else(|| "-".into()),
                    sample: s,
                });
            }
        }
        if let Some(sigma) = sigma {
            for m in sigma.matches(&event) {
                let s = sample();
                sigma.feed(windows, &event, m, t, &s);
                let r = sigma.rule(m);
                if sigma.alerts(m) && !defs.disabled.contains(&switch_key("sigma", &r.id)) {
                    d.hits.push(RuleHit {
                        rule: r.id.clone(),
                        title: r.title.clone(),
                        level: r.level.clone(),
                        author: r.author.clone(),
                        group_key: s.account.clone().unwrap_or_else(|| "-".into()),
                        sample: s,
                    });
                }
            }
        }
    }
    if let Some(sigma) = sigma {
        correlation_hits(sigma, windows, &defs.disabled, &mut d);
        windows.forget_before(oldest.saturating_sub(sigma.longest_span_us()));
    }
    // A default value is published for minutes with events and no match: those
    // periods changed too.
    if let Some(first) = minutes.keys().next() {
        for (k, alarm) in defs.alarms.iter().enumerate() {
            if alarm.filter.default_value.is_some() {
                let e = dirty.entry(k).or_insert(*first);
                *e = (*e).min(*first);
            }
        }
    }
    d.points = points
        .into_iter()
        .map(|((k, _), p)| (defs.alarms[k].name.clone(), p))
        .collect();
    d.minutes = minutes.into_iter().collect();
    d.dirty = dirty
        .into_iter()
        .map(|(k, m)| (defs.alarms[k].name.clone(), m))
        .collect();
    d
}

fn read(store: &Store, s: &Segment) -> Result<Option<RecordBatch>, DetectError> {
    match store.segment_file(s).and_then(|path| segment::read(&path)) {
        Ok(b) => Ok(Some(b)),
        // Retired by retention since it was queued (its queue row went with it).
        Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Takes up to `max_segments` queued segments through detection.
pub fn drain(
    store: &Store,
    catalog: &mut DetectionState,
    defs: &Definitions,
    memory: &mut Memory,
    now: i64,
    max_segments: usize,
) -> Result<Pass, DetectError> {
    let mut pass = Pass::default();
    let channels = defs.channel_names();
    for s in catalog.detection_queue(max_segments)? {
        let mut found = match read(store, &s)? {
            Some(batch) if !defs.is_empty() => {
                pass.events += batch.num_rows() as u64;
                // The segment's issuing calls were indexed in the commit that added
                // it, so the copy read now knows them. Without it, rules still run;
                // those that read `origin` match nothing.
                let origins = OnDemand::new(|| {
                    store
                        .origins()
                        .inspect_err(
                            |e| tracing::warn!(error = %e, "origins unavailable to detection"),
                        )
                        .ok()
                });
                detect(&batch, defs, &origins, now, memory)
            }
            _ => Detected::default(),
        };
        pass.matches += found.hits.len() as u64 + found.samples.len() as u64;
        found.segments.push(s.id);
        pass.alerts
            .extend(catalog.record_detected(&found, &defs.alerting, &channels)?);
        pass.segments += 1;
    }
    Ok(pass)
}

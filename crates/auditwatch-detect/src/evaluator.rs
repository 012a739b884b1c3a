//! CloudWatch alarm evaluation over event time.
//!
//! Each tick judges, for every alarm, the window ending at each period from the
//! first one that changed (late data marks its minute dirty) up to the current,
//! still open, period — so a late file's events count in the period they happened in,
//! and an alarm can fire for a past period and clear again in the same tick (both
//! transitions are recorded; the one to ALARM raises an alert). A new alarm starts at
//! INSUFFICIENT_DATA and is first judged on the current period. Nothing older than
//! `max_lateness` is re-judged.
//!
//! The detector and the evaluator run one after the other in one task, so a dirty
//! mark is never set between an evaluation's read and its clearing.

use std::collections::BTreeMap;

use crate::state::{DetectionState, NewAlert, Transition};
use auditwatch_rules::alarm::{State, Stats, evaluate};

use crate::DetectError;
use crate::config::AlarmDef;

/// The value of each period of `def`'s metric in `[from, to]` (period starts,
/// seconds), from its minute points; a period with events but no match takes the
/// default value, if any.
pub fn period_values(
    catalog: &DetectionState,
    def: &AlarmDef,
    from: i64,
    to: i64,
) -> Result<BTreeMap<i64, Option<f64>>, DetectError> {
    let p = i64::from(def.spec.period_secs);
    let end = to + p - 60;
    let mut stats: BTreeMap<i64, Stats> = BTreeMap::new();
    for m in catalog.metric_points(&def.name, from, end)? {
        let s = Stats {
            count: m.count,
            sum: m.sum,
            min: m.min,
            max: m.max,
        };
        let k = m.minute.div_euclid(p) * p;
        stats.entry(k).and_modify(|e| *e = e.merge(s)).or_insert(s);
    }
    let mut with_events = std::collections::BTreeSet::new();
    if def.filter.default_value.is_some() {
        for (m, _) in catalog.event_minutes(from, end)? {
            with_events.insert(m.div_euclid(p) * p);
        }
    }
    let mut out = BTreeMap::new();
    let mut t = from;
    while t <= to {
        let v = match stats.get(&t) {
            Some(s) => Some(s.get(def.spec.statistic)),
            None if with_events.contains(&t) => def.filter.default_value,
            None => None,
        };
        out.insert(t, v);
        t += p;
    }
    Ok(out)
}

/// Evaluates one alarm at `now` (seconds). Returns the alerts raised.
pub fn evaluate_alarm(
    catalog: &mut DetectionState,
    def: &AlarmDef,
    now: i64,
    max_lateness: i64,
    channels: &[String],
) -> Result<Vec<i64>, DetectError> {
    let p = i64::from(def.spec.period_secs);
    let n = i64::from(def.spec.evaluation_periods);
    let current = now.div_euclid(p) * p;
    let row = catalog.alarm(&def.name)?;
    let dirty = catalog.metric_dirty(&def.name)?;
    let mut start = match row.as_ref().and_then(|r| r.evaluated_through) {
        Some(t) => t + p,
        None => current,
    };
    if let Some(d) = dirty {
        start = start.min(d.div_euclid(p) * p);
    }
    start = start
        .max((now - max_lateness).div_euclid(p) * p)
        .min(current);
    let values = period_values(catalog, def, start - (n - 1) * p, current)?;
    let mut state = row
        .as_ref()
        .and_then(|r| State::parse(&r.state).ok())
        .unwrap_or(State::InsufficientData);
    let mut reason = row.as_ref().map(|r| r.reason.clone()).unwrap_or_default();
    let mut transitions = Vec::new();
    let mut t = start;
    while t <= current {
        let window: Vec<(i64, Option<f64>)> = (0..n)
            .rev()
            .map(|k| {
                let q = t - k * p;
                (q, values.get(&q).copied().flatten())
            })
            .collect();
        let e = evaluate(&def.spec, &window, state);
        if e.state != state {
            let alert = (e.state == State::Alarm)
                .then(|| -> Result<NewAlert, DetectError> {
                    Ok(NewAlert {
                        rule: def.name.clone(),
                        kind: "alarm".into(),
                        title: def.title.clone(),
                        level: def.level.clone(),
                        author: None,
                        group_key: String::new(),
                        reason: format!("{}: {}", def.spec.describe(), e.reason),
                        samples: catalog.metric_samples(&def.name, t - (n - 1) * p, t + p - 60)?,
                        count: catalog
                            .metric_points(&def.name, t - (n - 1) * p, t + p - 60)?
                            .iter()
                            .map(|m| m.count as i64)
                            .sum(),
                    })
                })
                .transpose()?;
            transitions.push((
                Transition {
                    at: now,
                    period: t,
                    old: state.as_str().into(),
                    new: e.state.as_str().into(),
                    reason: e.reason.clone(),
                },
                alert,
            ));
        }
        state = e.state;
        reason = e.reason;
        t += p;
    }
    // Nothing new to record (the common tick): no write, no fsync.
    let unchanged = transitions.is_empty()
        && dirty.is_none()
        && row
            .as_ref()
            .is_some_and(|r| r.evaluated_through == Some(current) && r.reason == reason);
    if unchanged {
        return Ok(Vec::new());
    }
    Ok(catalog.record_evaluation(
        &def.name,
        &def.name,
        &transitions,
        (state.as_str(), &reason),
        current,
        dirty,
        channels,
    )?)
}

//! Ingest filters: which events a source keeps, by event-name prefix, event source
//! and read-only flag (CloudTrail-Tracker's `filterEventNames`, generalised).
//!
//! The default keeps everything. A record is kept when it passes every rule that is
//! set: a `keep` list keeps only matches, a `drop` list removes matches.

use auditwatch_event::Record;
use serde::{Deserialize, Serialize};

/// The rules of one source (all lists empty and `read_only` unset: keep everything).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// Keep only events whose `eventName` starts with one of these.
    #[serde(default)]
    pub keep_event_names: Vec<String>,
    /// Drop events whose `eventName` starts with one of these.
    #[serde(default)]
    pub drop_event_names: Vec<String>,
    /// Keep only events from these `eventSource`s (exact, e.g. `s3.amazonaws.com`).
    #[serde(default)]
    pub keep_event_sources: Vec<String>,
    /// Drop events from these `eventSource`s.
    #[serde(default)]
    pub drop_event_sources: Vec<String>,
    /// `Some(false)`: keep only write events; `Some(true)`: only read-only events.
    #[serde(default)]
    pub read_only: Option<bool>,
}

impl EventFilter {
    /// Whether the filter keeps everything (and need not be consulted).
    pub fn keeps_all(&self) -> bool {
        *self == Self::default()
    }

    /// Whether `record` is kept.
    pub fn keeps(&self, record: &Record<'_>) -> bool {
        let f = &record.fields;
        let name = f.event_name.as_deref().unwrap_or("");
        let source = f.event_source.as_deref().unwrap_or("");
        let prefixed = |list: &[String]| list.iter().any(|p| name.starts_with(p.as_str()));
        let listed = |list: &[String]| list.iter().any(|s| s == source);
        (self.keep_event_names.is_empty() || prefixed(&self.keep_event_names))
            && !prefixed(&self.drop_event_names)
            && (self.keep_event_sources.is_empty() || listed(&self.keep_event_sources))
            && !listed(&self.drop_event_sources)
            && self
                .read_only
                .is_none_or(|want| f.read_only.0 == Some(want))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(raw: &str) -> Record<'_> {
        Record::parse(raw).unwrap()
    }

    const GET: &str = r#"{"eventTime":"2024-01-01T00:00:00Z","eventName":"GetObject","eventSource":"s3.amazonaws.com","readOnly":true}"#;
    const PUT: &str = r#"{"eventTime":"2024-01-01T00:00:00Z","eventName":"PutObject","eventSource":"s3.amazonaws.com","readOnly":false}"#;
    const RUN: &str = r#"{"eventTime":"2024-01-01T00:00:00Z","eventName":"RunInstances","eventSource":"ec2.amazonaws.com"}"#;

    #[test]
    fn default_keeps_everything() {
        let f = EventFilter::default();
        assert!(f.keeps_all());
        assert!([GET, PUT, RUN].iter().all(|r| f.keeps(&rec(r))));
    }

    #[test]
    fn each_rule_applies() {
        let drop_get = EventFilter {
            drop_event_names: vec!["Get".into(), "List".into()],
            ..Default::default()
        };
        assert!(!drop_get.keeps(&rec(GET)) && drop_get.keeps(&rec(PUT)));
        let keep_put = EventFilter {
            keep_event_names: vec!["Put".into()],
            ..Default::default()
        };
        assert!(keep_put.keeps(&rec(PUT)) && !keep_put.keeps(&rec(RUN)));
        let only_ec2 = EventFilter {
            keep_event_sources: vec!["ec2.amazonaws.com".into()],
            ..Default::default()
        };
        assert!(only_ec2.keeps(&rec(RUN)) && !only_ec2.keeps(&rec(GET)));
        let no_s3 = EventFilter {
            drop_event_sources: vec!["s3.amazonaws.com".into()],
            ..Default::default()
        };
        assert!(no_s3.keeps(&rec(RUN)) && !no_s3.keeps(&rec(PUT)));
        let writes = EventFilter {
            read_only: Some(false),
            ..Default::default()
        };
        // An event without the flag is neither read-only nor a write: not kept.
        assert!(writes.keeps(&rec(PUT)) && !writes.keeps(&rec(GET)) && !writes.keeps(&rec(RUN)));
    }
}

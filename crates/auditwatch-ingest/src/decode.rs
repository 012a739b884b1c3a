//! One input → converted day batches and diagnostics.
//!
//! Digest files and other services' files are recognised (by their S3-layout path,
//! then by content) and skipped; a file that is not CloudTrail is rejected whole with
//! the reason; a bad record is rejected alone with its position.

use auditwatch_event::layout::{ObjectKind, parse_key};
use auditwatch_event::split::{Shape, split};
use auditwatch_event::{Limits, Record, RecordError};
use auditwatch_store::write::convert::{DayBatch, EventRow, to_day_batches};

use crate::filter::EventFilter;

/// What became of one document (a file or an archive entry).
#[derive(Debug)]
pub enum Outcome {
    /// Events (possibly none) and the records that were rejected.
    Events {
        /// Converted rows grouped by day.
        batches: Vec<DayBatch>,
        /// Records read, good or bad.
        records: u64,
        /// Rejected records.
        errors: Vec<RecordError>,
        /// Good records the source's filter left out.
        filtered: u64,
    },
    /// Recognised and deliberately not taken (digest, other service).
    Skipped(String),
    /// Not usable at all.
    Rejected(String),
}

/// What the location says before reading: `Some(reason)` to skip it unread.
pub fn skip_by_name(location: &str) -> Option<String> {
    match parse_key(location)?.kind {
        ObjectKind::Digest => Some("CloudTrail digest file".into()),
        ObjectKind::OtherService(s) => Some(format!("{s} file, not CloudTrail")),
        ObjectKind::Events | ObjectKind::Insights => None,
    }
}

/// Decodes one document's bytes (gzip or plain). Callers check [`skip_by_name`]
/// first, before reading the bytes at all.
pub fn decode_document(
    location: &str,
    bytes: &[u8],
    limits: &Limits,
    filter: &EventFilter,
) -> Outcome {
    let doc = match auditwatch_event::decode::decode(bytes, limits.max_decompressed) {
        Ok(d) => d,
        Err(e) => return Outcome::Rejected(e.to_string()),
    };
    decode_json(location, &doc, filter)
}

/// Parses a decompressed JSON document.
pub fn decode_json(location: &str, doc: &[u8], filter: &EventFilter) -> Outcome {
    let cut = match split(doc) {
        Ok(c) => c,
        Err(e) => return Outcome::Rejected(e.to_string()),
    };
    if cut.shape == Shape::Digest {
        return Outcome::Skipped("CloudTrail digest file".into());
    }
    let account = parse_key(location).map(|k| k.account);
    let mut errors = cut.errors;
    let mut rows = Vec::with_capacity(cut.items.len());
    let mut filtered = 0;
    let all = filter.keeps_all();
    for item in &cut.items {
        let parsed = std::str::from_utf8(&item.text)
            .map_err(|e| format!("not UTF-8: {e}"))
            .and_then(Record::parse);
        match parsed {
            Ok(record) if !all && !filter.keeps(&record) => filtered += 1,
            Ok(record) => rows.push(EventRow {
                record,
                account_from_key: account.as_deref(),
                source: location,
            }),
            Err(reason) => errors.push(RecordError::new(item.index, item.offset, reason)),
        }
    }
    errors.sort_by_key(|e| e.index);
    let records = rows.len() as u64 + errors.len() as u64 + filtered;
    Outcome::Events {
        batches: to_day_batches(&rows),
        records,
        errors,
        filtered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_and_other_services_are_skipped_by_path() {
        let digest =
            skip_by_name("b/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/01/x.json.gz");
        assert!(digest.unwrap().contains("digest"));
        let config = skip_by_name("AWSLogs/111122223333/Config/us-east-1/2024/1/1/x.json.gz");
        assert!(config.unwrap().contains("Config"));
        assert_eq!(
            skip_by_name("AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/x.json.gz"),
            None
        );
    }

    #[test]
    fn account_comes_from_the_key() {
        let doc = br#"{"Records":[{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventName":"X","recipientAccountId":"999999999999"},{"bad":1}]}"#;
        let Outcome::Events {
            batches,
            records,
            errors,
            ..
        } = decode_json(
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/f.json",
            doc,
            &EventFilter::default(),
        )
        else {
            panic!()
        };
        assert_eq!((records, errors.len()), (2, 1));
        let rows = auditwatch_store::rows::to_json(&[batches[0].batch.clone()]).unwrap();
        assert_eq!(rows[0]["accountId"], "111122223333");
    }
}

//! Finds record boundaries in a CloudTrail document without parsing the records.
//!
//! CloudTrail data reaches us in several shapes: `{"Records":[…]}` (the log-file
//! format and the console's "Download events" JSON), a bare JSON array of records
//! (Grimoire / Stratus Red Team exports), NDJSON (Logstash and friends), records
//! simply glued together, the JSON that `aws cloudtrail lookup-events` prints
//! (`{"Events":[{"CloudTrailEvent": "…"}]}`), and digest files. This module looks at
//! the bytes only as far as needed to tell them apart and to cut out each record,
//! so that one broken record costs that record alone and records can be parsed in
//! parallel. Nesting depth is bounded here, before any recursive parser runs.

use std::borrow::Cow;

use crate::error::{FileError, RecordError};

/// The deepest nesting accepted anywhere in a document. Real CloudTrail records stay
/// well under 20 levels; the bound keeps hostile input from exhausting the stack.
pub const MAX_DEPTH: usize = 64;

/// What kind of document the bytes hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"Records": [ … ]}`: CloudTrail log files and console downloads.
    Records,
    /// `[ {…}, {…} ]`: a bare array of records.
    Array,
    /// One record per line.
    Lines,
    /// Records one after another without separators or with blank space between.
    Concatenated,
    /// The output of `aws cloudtrail lookup-events`: `{"Events":[{"CloudTrailEvent":"…"}]}`.
    LookupEvents,
    /// A CloudTrail digest file: not events.
    Digest,
}

/// A document cut into record slices.
#[derive(Debug)]
pub struct Split<'a> {
    /// The shape that was recognised.
    pub shape: Shape,
    /// Each record's JSON text, borrowed where the document holds it verbatim.
    pub items: Vec<Item<'a>>,
    /// Problems found while cutting (a broken element, trailing garbage).
    pub errors: Vec<RecordError>,
}

/// One record's text and where it was found.
#[derive(Debug)]
pub struct Item<'a> {
    /// Position of the record in the document (0-based).
    pub index: usize,
    /// Byte offset of the record in the decoded document.
    pub offset: usize,
    /// The record's JSON text.
    pub text: Cow<'a, [u8]>,
}

/// Cuts a decoded document into records.
///
/// Fails only when the document as a whole is not CloudTrail events (empty, not JSON,
/// another service's JSON); problems with single records are returned in `errors`.
pub fn split(doc: &[u8]) -> Result<Split<'_>, FileError> {
    let start = skip_ws(doc, 0);
    match doc.get(start) {
        None => Err(FileError::Empty),
        Some(b'[') => split_array(doc, start, Shape::Array),
        Some(b'{') => split_object(doc, start),
        Some(&b) => Err(FileError::NotJson {
            offset: start,
            found: printable(b),
        }),
    }
}

fn printable(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

/// Top-level keys that mark a document as something other than CloudTrail events.
const FOREIGN_MARKERS: &[(&str, &str)] = &[
    ("configurationItems", "AWS Config history"),
    ("configSnapshotId", "AWS Config snapshot"),
    ("configurationItem", "AWS Config notification"),
    ("logEvents", "CloudWatch Logs export"),
    ("Message", "an SNS/SQS message"),
    ("s3ObjectKey", "a CloudTrail SNS delivery notification"),
];

fn split_object(doc: &[u8], start: usize) -> Result<Split<'_>, FileError> {
    let keys = top_level_keys(doc, start);
    let has = |k: &str| keys.iter().any(|(key, _)| key == k);
    if let Some((_, value_at)) = keys.iter().find(|(k, _)| k == "Records") {
        if doc.get(*value_at) == Some(&b'[') {
            return split_array(doc, *value_at, Shape::Records);
        }
        return Err(FileError::NotCloudTrail {
            reason: "\"Records\" is not an array".into(),
        });
    }
    if has("digestStartTime") || has("digestEndTime") || has("digestS3Object") {
        return Ok(Split {
            shape: Shape::Digest,
            items: Vec::new(),
            errors: Vec::new(),
        });
    }
    if let Some((_, value_at)) = keys.iter().find(|(k, _)| k == "Events")
        && doc.get(*value_at) == Some(&b'[')
    {
        return split_lookup_events(doc, *value_at);
    }
    if looks_like_record(&keys) {
        return split_sequence(doc, start);
    }
    // An Auditwatch NDJSON export of no events: only its trailer line.
    if has(EXPORT_MARKER) {
        return Ok(split_lines(doc));
    }
    if let Some((_, what)) = FOREIGN_MARKERS.iter().find(|(k, _)| has(k)) {
        return Err(FileError::NotCloudTrail {
            reason: format!("this is {what}, not CloudTrail events"),
        });
    }
    let mut names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).take(8).collect();
    if names.is_empty() {
        names.push("(none)");
    }
    Err(FileError::NotCloudTrail {
        reason: format!(
            "no \"Records\" array and no CloudTrail record fields; top-level keys: {}",
            names.join(", ")
        ),
    })
}

fn looks_like_record(keys: &[(String, usize)]) -> bool {
    let has = |k: &str| keys.iter().any(|(key, _)| key == k);
    has("eventVersion") || (has("eventTime") && (has("eventName") || has("eventSource")))
}

/// Reads the keys of the object at `start` and where each value begins. Stops quietly
/// at the first malformed spot: callers only use the keys to classify the document.
fn top_level_keys(doc: &[u8], start: usize) -> Vec<(String, usize)> {
    let mut keys = Vec::new();
    let mut pos = skip_ws(doc, start + 1);
    while doc.get(pos) == Some(&b'"') {
        let Ok(key_end) = skip_string(doc, pos) else {
            break;
        };
        let key = String::from_utf8_lossy(&doc[pos + 1..key_end - 1]).into_owned();
        pos = skip_ws(doc, key_end);
        if doc.get(pos) != Some(&b':') {
            break;
        }
        let value_at = skip_ws(doc, pos + 1);
        keys.push((key, value_at));
        let Ok(value_end) = skip_value(doc, value_at, 1) else {
            break;
        };
        pos = skip_ws(doc, value_end);
        if doc.get(pos) != Some(&b',') {
            break;
        }
        pos = skip_ws(doc, pos + 1);
    }
    keys
}

/// Cuts the elements of the array that opens at `open`.
fn split_array(doc: &[u8], open: usize, shape: Shape) -> Result<Split<'_>, FileError> {
    let mut items = Vec::new();
    let mut errors = Vec::new();
    let mut pos = skip_ws(doc, open + 1);
    if doc.get(pos) == Some(&b']') {
        return Ok(Split {
            shape,
            items,
            errors,
        });
    }
    loop {
        let index = items.len() + errors.len();
        match skip_value(doc, pos, 2) {
            Ok(end) => {
                if doc[pos] == b'{' {
                    items.push(Item {
                        index,
                        offset: pos,
                        text: Cow::Borrowed(&doc[pos..end]),
                    });
                } else {
                    errors.push(RecordError::new(
                        index,
                        pos,
                        "array element is not an object",
                    ));
                }
                pos = skip_ws(doc, end);
                match doc.get(pos) {
                    Some(b',') => pos = skip_ws(doc, pos + 1),
                    Some(b']') => break,
                    None => {
                        errors.push(RecordError::new(
                            index + 1,
                            pos,
                            "document ends inside the records array (truncated file?)",
                        ));
                        break;
                    }
                    Some(&b) => {
                        errors.push(RecordError::new(
                            index + 1,
                            pos,
                            format!("expected ',' or ']' after a record, found {}", printable(b)),
                        ));
                        break;
                    }
                }
            }
            Err(e) => {
                errors.push(RecordError::new(
                    index,
                    e.offset,
                    format!("{}; the rest of the array cannot be read", e.reason),
                ));
                break;
            }
        }
    }
    Ok(Split {
        shape,
        items,
        errors,
    })
}

/// Cuts records that follow one another: NDJSON (one per line, where a broken line
/// costs only that line) or objects glued together.
fn split_sequence(doc: &[u8], start: usize) -> Result<Split<'_>, FileError> {
    let first_end = skip_value(doc, start, 1).ok();
    let one_per_line = first_end.is_some_and(|end| {
        let rest = &doc[end..];
        let next = rest.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\r'));
        next.is_none_or(|i| rest[i] == b'\n')
    });
    if one_per_line && !doc[start..first_end.unwrap_or(start)].contains(&b'\n') {
        return Ok(split_lines(doc));
    }
    let mut items = Vec::new();
    let mut errors = Vec::new();
    let mut pos = start;
    while pos < doc.len() {
        let index = items.len() + errors.len();
        if doc[pos] != b'{' {
            errors.push(RecordError::new(
                index,
                pos,
                format!("expected a record object, found {}", printable(doc[pos])),
            ));
            break;
        }
        match skip_value(doc, pos, 1) {
            Ok(end) => {
                items.push(Item {
                    index,
                    offset: pos,
                    text: Cow::Borrowed(&doc[pos..end]),
                });
                pos = skip_ws(doc, end);
                if doc.get(pos) == Some(&b',') {
                    pos = skip_ws(doc, pos + 1);
                }
            }
            Err(e) => {
                errors.push(RecordError::new(index, e.offset, e.reason));
                break;
            }
        }
    }
    Ok(Split {
        shape: Shape::Concatenated,
        items,
        errors,
    })
}

/// The key of the trailer and error lines Auditwatch's NDJSON export writes
/// (`{"_auditwatch":"end","rows":N}`, `{"_auditwatch":"error",…}`), so an export
/// can be ingested again: the end line is skipped, the error line is a record error.
const EXPORT_MARKER: &str = "_auditwatch";

fn split_lines(doc: &[u8]) -> Split<'_> {
    let mut items = Vec::new();
    let mut errors = Vec::new();
    let mut offset = 0;
    for line in doc.split(|&b| b == b'\n') {
        let line_start = offset;
        offset += line.len() + 1;
        let lead = line.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let trimmed = line[lead..].trim_ascii_end();
        if trimmed.is_empty() {
            continue;
        }
        let index = items.len() + errors.len();
        let at = line_start + lead;
        match skip_value(trimmed, 0, 1) {
            Ok(end) if end == trimmed.len() && trimmed.starts_with(b"{\"_auditwatch\":") => {
                if !trimmed.starts_with(b"{\"_auditwatch\":\"end\"") {
                    errors.push(RecordError::new(
                        index,
                        at,
                        "an Auditwatch export that failed part-way: the events after this line are missing",
                    ));
                }
            }
            Ok(end) if end == trimmed.len() && trimmed[0] == b'{' => items.push(Item {
                index,
                offset: at,
                text: Cow::Borrowed(trimmed),
            }),
            Ok(_) => errors.push(RecordError::new(
                index,
                at,
                "line is not exactly one JSON object",
            )),
            Err(e) => errors.push(RecordError::new(index, at + e.offset, e.reason)),
        }
    }
    Split {
        shape: Shape::Lines,
        items,
        errors,
    }
}

/// `{"Events":[{"CloudTrailEvent":"<record as a JSON string>", …}]}`.
fn split_lookup_events(doc: &[u8], open: usize) -> Result<Split<'_>, FileError> {
    let events = split_array(doc, open, Shape::LookupEvents)?;
    let mut items = Vec::new();
    let mut errors = events.errors;
    for event in events.items {
        let keys = top_level_keys(&event.text, 0);
        let Some((_, at)) = keys.iter().find(|(k, _)| k == "CloudTrailEvent") else {
            if looks_like_record(&keys) {
                // Some tools print the parsed record itself in place of the string.
                items.push(event);
                continue;
            }
            errors.push(RecordError::new(
                event.index,
                event.offset,
                "lookup-events entry has no CloudTrailEvent",
            ));
            continue;
        };
        let decoded = skip_string(&event.text, *at)
            .ok()
            .and_then(|end| serde_json::from_slice::<String>(&event.text[*at..end]).ok());
        match decoded {
            Some(text) => items.push(Item {
                index: event.index,
                offset: event.offset,
                text: Cow::Owned(text.into_bytes()),
            }),
            None => errors.push(RecordError::new(
                event.index,
                event.offset + at,
                "CloudTrailEvent is not a JSON string",
            )),
        }
    }
    Ok(Split {
        shape: Shape::LookupEvents,
        items,
        errors,
    })
}

/// A malformed spot found while skipping.
#[derive(Debug)]
pub(crate) struct SkipError {
    pub offset: usize,
    pub reason: String,
}

fn skip_err(offset: usize, reason: impl Into<String>) -> SkipError {
    SkipError {
        offset,
        reason: reason.into(),
    }
}

pub(crate) fn skip_ws(doc: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = doc.get(pos) {
        pos += 1;
    }
    pos
}

/// Returns the offset just past the string that opens at `pos`. Most of a record's
/// bytes are inside strings, so the next quote or backslash is found with SIMD
/// (`memchr2`) rather than byte by byte.
fn skip_string(doc: &[u8], pos: usize) -> Result<usize, SkipError> {
    let mut i = pos + 1;
    while let Some(n) = doc
        .get(i..)
        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
    {
        i += n;
        if doc[i] == b'"' {
            return Ok(i + 1);
        }
        i += 2; // a backslash and the byte it escapes
    }
    Err(skip_err(pos, "unterminated string"))
}

/// Returns the offset just past the JSON value that starts at `pos`. Checks structure
/// (brackets, strings, depth), not scalar syntax: the record parser does that.
pub(crate) fn skip_value(doc: &[u8], pos: usize, depth: usize) -> Result<usize, SkipError> {
    let Some(&first) = doc.get(pos) else {
        return Err(skip_err(pos, "unexpected end of document"));
    };
    match first {
        b'"' => skip_string(doc, pos),
        b'{' | b'[' => {
            let mut stack: Vec<u8> = vec![first];
            if depth + 1 > MAX_DEPTH {
                return Err(skip_err(
                    pos,
                    format!("nesting deeper than {MAX_DEPTH} levels"),
                ));
            }
            let mut i = pos + 1;
            while i < doc.len() {
                match doc[i] {
                    b'"' => {
                        i = skip_string(doc, i)?;
                        continue;
                    }
                    b @ (b'{' | b'[') => {
                        stack.push(b);
                        if depth + stack.len() > MAX_DEPTH {
                            return Err(skip_err(
                                i,
                                format!("nesting deeper than {MAX_DEPTH} levels"),
                            ));
                        }
                    }
                    b @ (b'}' | b']') => {
                        let open = stack.pop().unwrap_or(b'?');
                        let expected = if open == b'{' { b'}' } else { b']' };
                        if b != expected {
                            return Err(skip_err(i, format!("mismatched '{}'", b as char)));
                        }
                        if stack.is_empty() {
                            return Ok(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            Err(skip_err(
                pos,
                "value is not closed before the document ends (truncated?)",
            ))
        }
        _ => {
            let mut i = pos;
            while i < doc.len()
                && !matches!(doc[i], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
            {
                i += 1;
            }
            if i == pos {
                Err(skip_err(pos, format!("unexpected {}", printable(first))))
            } else {
                Ok(i)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(split: &Split<'_>) -> Vec<String> {
        split
            .items
            .iter()
            .map(|i| String::from_utf8_lossy(&i.text).into_owned())
            .collect()
    }

    #[test]
    fn records_container_keeps_each_record_verbatim() {
        let doc = br#"{"Records":[{"a":"x,]}"} , {"b":[1,{"c":2}]}]}"#;
        let s = split(doc).unwrap();
        assert_eq!(s.shape, Shape::Records);
        assert_eq!(texts(&s), vec![r#"{"a":"x,]}"}"#, r#"{"b":[1,{"c":2}]}"#]);
        assert!(s.errors.is_empty());
    }

    #[test]
    fn ndjson_bad_line_costs_only_that_line() {
        let doc = b"{\"eventVersion\":\"1\"}\n{\"eventVersion\":\n{\"eventVersion\":\"3\"}\n";
        let s = split(doc).unwrap();
        assert_eq!(s.shape, Shape::Lines);
        assert_eq!(s.items.len(), 2);
        assert_eq!(s.errors.len(), 1);
        assert_eq!(s.errors[0].index, 1);
    }

    #[test]
    fn export_trailer_lines_are_not_records() {
        let doc = b"{\"eventVersion\":\"1\"}\n{\"eventVersion\":\"2\"}\n{\"_auditwatch\":\"end\",\"rows\":2}\n";
        let s = split(doc).unwrap();
        assert_eq!(s.shape, Shape::Lines);
        assert_eq!(texts(&s).len(), 2);
        assert!(s.errors.is_empty());
        let s = split(b"{\"_auditwatch\":\"end\",\"rows\":0}\n").unwrap();
        assert!(s.items.is_empty() && s.errors.is_empty());
        let doc =
            b"{\"eventVersion\":\"1\"}\n{\"_auditwatch\":\"error\",\"rows\":1,\"message\":\"x\"}\n";
        let s = split(doc).unwrap();
        assert_eq!(texts(&s).len(), 1);
        assert_eq!(s.errors.len(), 1);
        assert!(s.errors[0].reason.contains("failed part-way"));
    }

    #[test]
    fn bare_array_and_glued_objects() {
        let s = split(b" [ {\"eventTime\":1} ] ").unwrap();
        assert_eq!((s.shape, s.items.len()), (Shape::Array, 1));
        let s = split(b"{\"eventVersion\":\"1\",\n \"x\":1}{\"eventVersion\":\"2\"}").unwrap();
        assert_eq!((s.shape, s.items.len()), (Shape::Concatenated, 2));
    }

    #[test]
    fn lookup_events_output_is_unwrapped() {
        let doc =
            br#"{"Events":[{"EventId":"1","CloudTrailEvent":"{\"eventVersion\":\"1.08\"}"}]}"#;
        let s = split(doc).unwrap();
        assert_eq!(s.shape, Shape::LookupEvents);
        assert_eq!(texts(&s), vec![r#"{"eventVersion":"1.08"}"#]);
    }

    #[test]
    fn foreign_and_empty_documents_are_refused_with_a_reason() {
        assert!(matches!(split(b"  "), Err(FileError::Empty)));
        let err = split(br#"{"fileVersion":"1.0","configurationItems":[]}"#).unwrap_err();
        assert!(err.to_string().contains("AWS Config"), "{err}");
        let err = split(br#"{"hello":1}"#).unwrap_err();
        assert!(err.to_string().contains("hello"), "{err}");
        assert!(matches!(split(b"hello"), Err(FileError::NotJson { .. })));
    }

    #[test]
    fn digest_is_recognised() {
        let s = split(br#"{"awsAccountId":"1","digestStartTime":"x","logFiles":[]}"#).unwrap();
        assert_eq!(s.shape, Shape::Digest);
    }

    #[test]
    fn truncated_array_keeps_complete_records() {
        let s = split(br#"{"Records":[{"a":1},{"b":2},{"c":"#).unwrap();
        assert_eq!(s.items.len(), 2);
        assert_eq!(s.errors.len(), 1);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut doc = b"{\"Records\":[".to_vec();
        doc.extend(std::iter::repeat_n(b'[', 10_000));
        let s = split(&doc).unwrap();
        assert!(s.items.is_empty());
        assert!(s.errors[0].reason.contains("nesting"), "{:?}", s.errors);
    }
}

//! A streaming scan of stored events for detection (`hunt`, the Rules page's test):
//! the few columns a timeline shows plus each record — its exact text, or only the
//! fields the rules read, rebuilt from the typed columns — batch by batch, never the
//! whole window in memory.
//!
//! Reading the typed columns instead of `raw` skips the largest column and most of
//! the JSON parsing. It is exact for the fields [`field_source`] calls typed:
//! payload columns (`requestParameters` …) hold their field's JSON as written, and
//! string columns the field's string. What the columns cannot show: an explicit
//! `null` (a null column is also an absent field; a caller that must tell them
//! apart checks the text of the records in question), and a number or object found
//! where CloudTrail writes a string (the lenient reader keeps its text). CloudTrail
//! writes neither.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StructArray};
use datafusion::arrow::datatypes::{DataType, TimestampMicrosecondType};
use datafusion::functions::core::expr_ext::FieldAccessor;
use datafusion::prelude::ident;
use futures::StreamExt;
use serde_json::{Map, Value};

use crate::Store;
use crate::error::Result;
use crate::lookup::ts;
use crate::schema::{PAYLOAD_COLUMNS, events_schema};
use auditwatch_catalog::scope::Scope;

/// One stored event as a scan sees it.
#[derive(Debug, Clone, Copy)]
pub struct Scanned<'a> {
    /// `eventTime` (µs).
    pub time_us: i64,
    /// `eventID`.
    pub event_id: Option<&'a str>,
    /// `accountId`.
    pub account_id: Option<&'a str>,
    /// `username`.
    pub username: Option<&'a str>,
    /// `eventName`.
    pub event_name: Option<&'a str>,
    /// `sourceIPAddress`.
    pub source_ip: Option<&'a str>,
    /// The record's exact text (when the scan reads it).
    pub raw: Option<&'a str>,
}

fn opt(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

/// CloudTrail fields whose column is converted (a time, the lenient booleans).
const CONVERTED: &[&str] = &["eventTime", "readOnly", "managementEvent"];

/// Columns that are not fields of the record: derived, or bookkeeping.
const DERIVED: &[&str] = &["username", "accountId", "raw", "source"];

/// String leaves inside structs that hold JSON text (an object in the record).
const JSON_TEXT_LEAVES: &[&str] = &["webIdFederationData", "onBehalfOf"];

/// One step of a field path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// An object key.
    Key(&'a str),
    /// An array index.
    Index,
}

fn leaf_covered(data_type: &DataType, rest: &[Step<'_>]) -> bool {
    match (data_type, rest.split_first()) {
        (DataType::Utf8, None) => true,
        (DataType::Struct(fields), Some((Step::Key(k), more))) => fields
            .iter()
            .find(|f| f.name() == k)
            .is_some_and(|f| !JSON_TEXT_LEAVES.contains(k) && leaf_covered(f.data_type(), more)),
        // An index step, or a name that goes through the array (Sigma's dotted paths).
        (DataType::List(item), Some((Step::Index, more))) => leaf_covered(item.data_type(), more),
        (DataType::List(item), Some((Step::Key(_), _))) => leaf_covered(item.data_type(), rest),
        _ => false,
    }
}

/// Where the value at a field path can be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldSource {
    /// The typed columns give it exactly as the record has it.
    Typed,
    /// Only the record's text has it: a converted column such as `eventTime`, a
    /// part of a struct the columns do not keep, or a top-level field that is no
    /// column (CloudTrail writes no `status`, but a record may carry one).
    Text,
}

/// Where the value at `path` can be read from (see the module notes): a path is
/// typed when it ends at a string leaf of a column, or goes into a payload column.
pub fn field_source(path: &[Step<'_>]) -> FieldSource {
    let Some((Step::Key(first), rest)) = path.split_first() else {
        return FieldSource::Text;
    };
    if PAYLOAD_COLUMNS.contains(first) {
        return FieldSource::Typed;
    }
    if CONVERTED.contains(first) {
        return FieldSource::Text;
    }
    match events_schema().field_with_name(first) {
        Ok(f) if !DERIVED.contains(first) && leaf_covered(f.data_type(), rest) => {
            FieldSource::Typed
        }
        _ => FieldSource::Text,
    }
}

/// What a scan reads of each record besides the timeline's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// The exact text (`raw`).
    Raw,
    /// These top-level fields, from their typed columns.
    Fields(Vec<Wanted>),
}

/// A top-level field to read from its column, and the paths in it the rules read
/// (keys below the field; an empty path wants all of it). Only those parts of a
/// struct are built: `userIdentity` has some twenty leaves, rules read two or three.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The field (a column name).
    pub name: String,
    /// Paths below it.
    pub paths: Vec<Vec<String>>,
}

impl Wanted {
    /// The struct leaves to read instead of the whole column, when every wanted
    /// path is a path of keys into the column's structs (a prefix of another
    /// covers it); `None` to read the whole column.
    fn leaves(&self) -> Option<Vec<Vec<String>>> {
        let schema = events_schema();
        let field = schema.field_with_name(&self.name).ok()?;
        if self.paths.is_empty() || PAYLOAD_COLUMNS.contains(&self.name.as_str()) {
            return None;
        }
        let resolves = |path: &[String]| {
            let mut t = field.data_type();
            for k in path {
                let DataType::Struct(fields) = t else {
                    return false;
                };
                match fields.iter().find(|f| f.name() == k) {
                    Some(f) => t = f.data_type(),
                    None => return false,
                }
            }
            !path.is_empty()
        };
        if !self.paths.iter().all(|p| resolves(p)) {
            return None;
        }
        let mut paths = self.paths.clone();
        paths.sort();
        paths.dedup();
        // Sorted, a path's prefix comes right before it or earlier.
        let mut kept: Vec<Vec<String>> = Vec::new();
        for p in paths {
            if !kept.iter().any(|k| p.starts_with(k)) {
                kept.push(p);
            }
        }
        Some(kept)
    }
}

/// A field to read, and the struct leaves to read of it alone ([`Wanted::leaves`]).
type FieldRead = (Wanted, Option<Vec<Vec<String>>>);

/// A field's columns in a batch.
#[derive(Debug, Clone)]
enum Part {
    /// The whole column.
    Whole(ArrayRef),
    /// Only some struct leaves (paths below the field), each its own column.
    Leaves(Vec<(Vec<String>, ArrayRef)>),
}

/// One batch of a scan, sendable to another thread (its columns are shared, not
/// copied).
#[derive(Debug, Clone)]
pub struct ScanBatch {
    time: datafusion::arrow::array::TimestampMicrosecondArray,
    strings: [StringArray; 5],
    raw: Option<StringArray>,
    fields: Vec<(Wanted, Part)>,
}

/// A typed cell as JSON with only the `wanted` paths of a struct built (all of it
/// when a wanted path is empty); `None` for null.
fn to_json_part(col: &dyn Array, i: usize, payload: bool, wanted: &[&[String]]) -> Option<Value> {
    let DataType::Struct(fields) = col.data_type() else {
        return to_json(col, i, payload);
    };
    if wanted.is_empty() || wanted.iter().any(|p| p.is_empty()) {
        return to_json(col, i, payload);
    }
    if col.is_null(i) {
        return None;
    }
    let st = col.as_struct();
    let mut m = Map::new();
    for (f, c) in fields.iter().zip(st.columns()) {
        let below: Vec<&[String]> = wanted
            .iter()
            .filter_map(|p| {
                p.split_first()
                    .filter(|(k, _)| *k == f.name())
                    .map(|(_, r)| r)
            })
            .collect();
        if !below.is_empty()
            && let Some(v) = to_json_part(c.as_ref(), i, false, &below)
        {
            m.insert(f.name().clone(), v);
        }
    }
    Some(Value::Object(m))
}

/// A typed cell as JSON; `None` for null. Payload strings are parsed back.
fn to_json(col: &dyn Array, i: usize, payload: bool) -> Option<Value> {
    if col.is_null(i) {
        return None;
    }
    Some(match col.data_type() {
        DataType::Utf8 => {
            let s = col.as_string::<i32>().value(i);
            match payload.then(|| serde_json::from_str(s)) {
                Some(Ok(v)) => v,
                _ => Value::String(s.to_string()),
            }
        }
        DataType::Boolean => Value::Bool(col.as_boolean().value(i)),
        DataType::Struct(fields) => {
            let st = col.as_struct();
            let mut m = Map::new();
            for (f, c) in fields.iter().zip(st.columns()) {
                if let Some(v) = to_json(c.as_ref(), i, false) {
                    m.insert(f.name().clone(), v);
                }
            }
            Value::Object(m)
        }
        DataType::List(_) => {
            let items = col.as_list::<i32>().value(i);
            Value::Array(
                (0..items.len())
                    .map(|k| to_json(items.as_ref(), k, false).unwrap_or(Value::Null))
                    .collect(),
            )
        }
        _ => return None,
    })
}

/// A string leaf of a batch's column — a string column, or a string inside structs
/// — read row by row without building the record.
#[derive(Debug, Clone, Copy)]
pub struct Leaf<'a> {
    /// The structs above the leaf (a null struct is an absent leaf).
    parents: [Option<&'a StructArray>; 4],
    leaf: &'a StringArray,
}

impl<'a> Leaf<'a> {
    /// Row `i`'s value; `None` when it or a struct above it is null.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        if self.parents.iter().flatten().any(|p| p.is_null(i)) || self.leaf.is_null(i) {
            return None;
        }
        Some(self.leaf.value(i))
    }
}

/// Sets `m.a.b.c` (a path of keys) to `v`.
fn insert_at(m: &mut Map<String, Value>, path: &[String], v: Value) {
    match path {
        [] => {}
        [last] => {
            m.insert(last.clone(), v);
        }
        [head, rest @ ..] => {
            if let Value::Object(inner) = m
                .entry(head.clone())
                .or_insert_with(|| Value::Object(Map::new()))
            {
                insert_at(inner, rest, v);
            }
        }
    }
}

impl ScanBatch {
    /// The string leaf at a dotted path (`eventName`, `userIdentity.type`) of a field
    /// this batch read; `None` when it read no such field, or the path ends
    /// elsewhere than at a string the record has as a string (a payload column and
    /// the struct leaves holding an object's JSON are objects in the record), or
    /// more than four structs down.
    pub fn leaf(&self, dotted: &str) -> Option<Leaf<'_>> {
        let mut steps = dotted.split('.');
        let first = steps.next()?;
        if PAYLOAD_COLUMNS.contains(&first)
            || dotted.split('.').any(|s| JSON_TEXT_LEAVES.contains(&s))
        {
            return None;
        }
        let (_, part) = self.fields.iter().find(|(w, _)| w.name == first)?;
        let top = match part {
            Part::Whole(top) => top,
            Part::Leaves(leaves) => {
                let rest: Vec<&str> = steps.collect();
                let (_, col) = leaves.iter().find(|(p, _)| *p == rest)?;
                return Some(Leaf {
                    parents: [None; 4],
                    leaf: col.as_string_opt::<i32>()?,
                });
            }
        };
        let mut col: &dyn Array = top.as_ref();
        let mut parents = [None; 4];
        for (depth, step) in steps.enumerate() {
            let st = col.as_struct_opt()?;
            *parents.get_mut(depth)? = Some(st);
            col = st.column_by_name(step)?.as_ref();
        }
        Some(Leaf {
            parents,
            leaf: col.as_string_opt::<i32>()?,
        })
    }

    /// The text of the timeline's string columns, all rows' values together
    /// (`eventID`, `accountId`, `username`, `eventName`, `sourceIPAddress`): to
    /// check once for what every value would be checked for.
    pub fn timeline_text(&self) -> [&[u8]; 5] {
        self.strings.each_ref().map(|a| a.values().as_slice())
    }

    /// The same rows with only the timeline's columns (what a line shows), for
    /// keeping while the fields read for matching are let go.
    pub fn timeline(&self) -> Self {
        Self {
            time: self.time.clone(),
            strings: self.strings.clone(),
            raw: None,
            fields: Vec::new(),
        }
    }

    /// A batch of the scan's columns: the timeline's, then `raw` (`fields` is
    /// `None`) or each field's, whole or leaf by leaf as [`Wanted::leaves`] said.
    fn new(batch: &datafusion::arrow::array::RecordBatch, fields: Option<&[FieldRead]>) -> Self {
        let s = |i: usize| batch.column(i).as_string::<i32>().clone();
        let (raw, fields) = match fields {
            None => (Some(s(6)), Vec::new()),
            Some(fields) => {
                let mut next = 6;
                let mut take = || {
                    next += 1;
                    batch.column(next - 1).clone()
                };
                let fields = fields
                    .iter()
                    .map(|(w, leaves)| {
                        let part = match leaves {
                            None => Part::Whole(take()),
                            Some(paths) => {
                                Part::Leaves(paths.iter().map(|p| (p.clone(), take())).collect())
                            }
                        };
                        (w.clone(), part)
                    })
                    .collect();
                (None, fields)
            }
        };
        Self {
            time: batch
                .column(0)
                .as_primitive::<TimestampMicrosecondType>()
                .clone(),
            strings: [s(1), s(2), s(3), s(4), s(5)],
            raw,
            fields,
        }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.time.len()
    }

    /// Whether it has no rows.
    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> Scanned<'_> {
        let [id, account, user, name, ip] = &self.strings;
        Scanned {
            time_us: self.time.value(i),
            event_id: opt(id, i),
            account_id: opt(account, i),
            username: opt(user, i),
            event_name: opt(name, i),
            source_ip: opt(ip, i),
            raw: self.raw.as_ref().map(|r| r.value(i)),
        }
    }

    /// Row `i`'s top-level field `name` as [`ScanBatch::record`] has it (`None`
    /// when absent there, or not read).
    pub fn field(&self, name: &str, i: usize) -> Option<Value> {
        let (w, part) = self.fields.iter().find(|(w, _)| w.name == name)?;
        match part {
            Part::Whole(col) => {
                let paths: Vec<&[String]> = w.paths.iter().map(Vec::as_slice).collect();
                to_json_part(col.as_ref(), i, PAYLOAD_COLUMNS.contains(&name), &paths)
            }
            // Only the leaves, as the whole column would give them; an object
            // without any (no rule reads anything else of it) is absent.
            Part::Leaves(leaves) => {
                let mut m = Map::new();
                for (path, col) in leaves {
                    if let Some(v) = to_json(col.as_ref(), i, false) {
                        insert_at(&mut m, path, v);
                    }
                }
                (!m.is_empty()).then_some(Value::Object(m))
            }
        }
    }

    /// Row `i` as JSON: the record parsed from its text, or (reading fields) an
    /// object of the fields read; `None` when the text is not JSON.
    pub fn record(&self, i: usize) -> Option<Value> {
        match &self.raw {
            Some(raw) => serde_json::from_str(raw.value(i)).ok(),
            None => {
                let mut m = Map::new();
                for (w, _) in &self.fields {
                    if let Some(v) = self.field(&w.name, i) {
                        m.insert(w.name.clone(), v);
                    }
                }
                Some(Value::Object(m))
            }
        }
    }
}

impl Store {
    /// Calls `f` for every event `scope` sees with `eventTime` in `[start, end]` (µs,
    /// either open), in no particular order, with its exact text. Returns how many
    /// were scanned.
    pub async fn scan(
        &self,
        scope: &Scope,
        start: Option<i64>,
        end: Option<i64>,
        mut f: impl FnMut(&Scanned<'_>),
    ) -> Result<u64> {
        self.scan_batches(scope, start, end, &Read::Raw, |b| {
            for i in 0..b.len() {
                f(&b.row(i));
            }
        })
        .await
    }

    /// As [`Store::scan`], a batch at a time (to hand batches to other threads),
    /// reading what `read` says of each record.
    pub async fn scan_batches(
        &self,
        scope: &Scope,
        start: Option<i64>,
        end: Option<i64>,
        read: &Read,
        mut f: impl FnMut(ScanBatch),
    ) -> Result<u64> {
        let ctx = self.session(scope)?;
        let mut df = ctx.table("events").await?;
        if let Some(s) = start {
            df = df.filter(ident("eventTime").gt_eq(ts(s)))?;
        }
        if let Some(e) = end {
            df = df.filter(ident("eventTime").lt_eq(ts(e)))?;
        }
        let mut columns = vec![
            ident("eventTime"),
            ident("eventID"),
            ident("accountId"),
            ident("username"),
            ident("eventName"),
            ident("sourceIPAddress"),
        ];
        // Each field with the struct leaves to read alone, worked out once.
        let fields: Option<Vec<FieldRead>> = match read {
            Read::Raw => None,
            Read::Fields(wanted) => Some(wanted.iter().map(|w| (w.clone(), w.leaves())).collect()),
        };
        match &fields {
            None => columns.push(ident("raw")),
            // Aliased: a field may also be one of the timeline's columns.
            // Struct leaves alone when that is all the rules read: the reader then
            // decodes only those leaves, not the twenty of `userIdentity`.
            Some(fields) => {
                for (w, leaves) in fields {
                    match leaves {
                        None => columns.push(ident(&w.name).alias(format!("field {}", w.name))),
                        Some(paths) => columns.extend(paths.iter().map(|p| {
                            let name = format!("field {}.{}", w.name, p.join("."));
                            p.iter()
                                .fold(ident(&w.name), |e, k| e.field(k.as_str()))
                                .alias(name)
                        })),
                    }
                }
            }
        }
        let df = df.select(columns)?;
        let mut stream = df.execute_stream().await?;
        let mut n = 0;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            n += batch.num_rows() as u64;
            f(ScanBatch::new(&batch, fields.as_deref()));
        }
        Ok(n)
    }
}

impl Store {
    /// The exact text of the events with these ids and `eventTime` in `[start, end]`
    /// (µs), as `(eventID, raw)`: for checking the few records a scan of typed
    /// columns could not decide.
    pub async fn raw_by_id(
        &self,
        scope: &Scope,
        start: i64,
        end: i64,
        ids: &[String],
    ) -> Result<Vec<(String, String)>> {
        Ok(self
            .records_by_id(scope, start, end, ids)
            .await?
            .into_iter()
            .map(|(id, _, raw)| (id, raw))
            .collect())
    }

    /// As [`Store::raw_by_id`], with each event's stored `accountId` (the account
    /// scoping reads): `(eventID, accountId, raw)`.
    pub async fn records_by_id(
        &self,
        scope: &Scope,
        start: i64,
        end: i64,
        ids: &[String],
    ) -> Result<Vec<(String, Option<String>, String)>> {
        let ctx = self.session(scope)?;
        let mut out = Vec::new();
        for chunk in ids.chunks(1000) {
            let list = chunk
                .iter()
                .map(|id| datafusion::logical_expr::lit(id.as_str()))
                .collect();
            let df = ctx
                .table("events")
                .await?
                .filter(ident("eventTime").gt_eq(ts(start)))?
                .filter(ident("eventTime").lt_eq(ts(end)))?
                .filter(ident("eventID").in_list(list, false))?
                .select(vec![ident("eventID"), ident("accountId"), ident("raw")])?;
            for b in df.collect().await? {
                let (id, account, raw) = (
                    b.column(0).as_string::<i32>(),
                    b.column(1).as_string::<i32>(),
                    b.column(2).as_string::<i32>(),
                );
                for i in 0..b.num_rows() {
                    if id.is_valid(i) {
                        out.push((
                            id.value(i).to_string(),
                            account.is_valid(i).then(|| account.value(i).to_string()),
                            raw.value(i).to_string(),
                        ));
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(path: &str) -> Vec<Step<'_>> {
        path.split('.').map(Step::Key).collect()
    }

    #[test]
    fn fields_are_read_from_typed_columns_only_where_kept_as_written() {
        for ok in [
            "eventName",
            "errorCode",
            "userIdentity.type",
            "userIdentity.sessionContext.sessionIssuer.type",
            "requestParameters",
            "requestParameters.bucketName.deep",
            "responseElements.ConsoleLogin",
            "resources.ARN",
            "tlsDetails.tlsVersion",
        ] {
            assert_eq!(field_source(&keys(ok)), FieldSource::Typed, "{ok}");
        }
        assert_eq!(
            field_source(&[Step::Key("resources"), Step::Index, Step::Key("type")]),
            FieldSource::Typed
        );
        for text in [
            "eventTime",
            "readOnly",
            "userIdentity",
            "userIdentity.sessionContext",
            "userIdentity.sessionContext.webIdFederationData",
            "userIdentity.somethingNew",
            "eventName.sub",
            "resources",
            "status",
            "src_ip",
            "username",
            "accountId",
        ] {
            assert_eq!(field_source(&keys(text)), FieldSource::Text, "{text}");
        }
    }
}

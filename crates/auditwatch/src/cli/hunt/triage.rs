//! Which rules match each scanned record, with as little work per record as the
//! rules allow.
//!
//! Most of what CloudTrail rules test has few distinct values: `eventSource`,
//! `eventName`, `errorCode`, the identity's type. These are the *key fields*. A rule
//! that reads only key fields gives the same answer for every record with the same
//! key values, so it is evaluated once per distinct combination (a memo per worker)
//! and each record costs a hash of its key values. A rule that reads more is judged
//! on the key fields as far as they decide it — a filter pattern three-valued
//! ([`auditwatch_rules::Pattern::judge`]), a Sigma rule by its sieve
//! ([`auditwatch_rules::sieve`]) — and evaluated on the record only where they do
//! not. That record is rebuilt from the typed columns, or, for a Sigma rule that
//! reads what only the text holds (keywords, a field CloudTrail never writes), read
//! as text after the scan for just those events.
//!
//! Every answer is the one evaluating every rule on every record gives: the memo
//! evaluates the same rules on the same values, and the sieves only skip records a
//! rule cannot match. `hunt --exact-text` evaluates every rule on every record's
//! text, and the tests compare the two.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use auditwatch_rules::correlate::Input;
use auditwatch_rules::rulefile::Rule;
use auditwatch_rules::sieve::Sieve;
use auditwatch_rules::sigma::{FieldView, RuleMatch, SigmaSet, viewable};
use auditwatch_store::scan::{FieldSource, Leaf, Read, ScanBatch, Step, Wanted, field_source};
use serde_json::{Map, Value};

use super::timeline::{Ev, Hit, Row};

/// Fields taken as key fields when a rule reads them: string leaves with few
/// distinct values (an API's service and name, an error code, the identity's kind).
const KEY_FIELDS: &[&str] = &[
    "eventSource",
    "eventName",
    "errorCode",
    "eventType",
    "eventCategory",
    "userIdentity.type",
    "userIdentity.invokedBy",
    "userIdentity.sessionContext.sessionIssuer.type",
];

/// Distinct key combinations a worker remembers before starting over (a bound on
/// memory whatever the data).
const MEMO_LIMIT: usize = 1 << 16;

/// How a Sigma rule is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// On key fields alone.
    Keys,
    /// On the record rebuilt from typed columns, where its sieve admits it.
    Record,
    /// On the record's text, where its sieve admits it.
    Text,
}

/// The rules of a hunt and how each is decided.
pub struct Plan<'a> {
    pub patterns: &'a [Rule],
    pub sigma: Option<&'a SigmaSet>,
    /// What the scan reads of each record.
    pub read: Read,
    /// Why (for the hunt's message).
    pub why: String,
    /// Per pattern: it tells `null` from absent, which typed columns cannot, so a
    /// match only says "may match" and is checked on the text.
    pub unsure: Vec<bool>,
    keys: Vec<String>,
    sigma_how: Vec<How>,
    /// Per Sigma rule: evaluated alone on a view of the columns (its fields are
    /// all plain dotted names), not on the record rebuilt as JSON.
    sigma_view: Vec<bool>,
    /// The fields views hand out (those of the rules above).
    view_fields: Vec<String>,
    /// Per Sigma rule, its sieve on key fields.
    sieves: Vec<Sieve>,
}

fn dotted(path: &[Step<'_>]) -> String {
    path.iter()
        .map(|s| match s {
            Step::Key(k) => k,
            Step::Index => "[]",
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn steps(dotted: &str) -> Vec<Step<'_>> {
    dotted.split('.').map(Step::Key).collect()
}

fn is_key(field: &str) -> bool {
    KEY_FIELDS.contains(&field)
}

impl<'a> Plan<'a> {
    /// Decides what to read and how to judge each rule; `exact_text` reads every
    /// record's text and evaluates every rule on it.
    pub fn new(patterns: &'a [Rule], sigma: Option<&'a SigmaSet>, exact_text: bool) -> Self {
        let mut plan = Plan {
            patterns,
            sigma,
            read: Read::Raw,
            why: "--exact-text".into(),
            unsure: vec![false; patterns.len()],
            keys: Vec::new(),
            sigma_how: Vec::new(),
            sigma_view: Vec::new(),
            view_fields: Vec::new(),
            sieves: Vec::new(),
        };
        if exact_text {
            return plan;
        }
        match plan.typed() {
            Ok((wanted, why)) => {
                plan.read = Read::Fields(wanted);
                plan.why = why;
                plan.unsure = patterns
                    .iter()
                    .map(|r| r.pattern.tells_null_from_absent())
                    .collect();
            }
            Err(why) => {
                plan.why = why;
                plan.keys.clear();
                plan.sigma_how.clear();
                plan.sigma_view.clear();
                plan.view_fields.clear();
                plan.sieves.clear();
            }
        }
        plan
    }

    /// The typed columns to read, or why the text must be read instead.
    fn typed(&mut self) -> Result<(Vec<Wanted>, String), String> {
        // Every field read from typed columns, as steps (`None`: an array index).
        let mut typed: Vec<Vec<Option<String>>> = Vec::new();
        let owned = |path: &[Step<'_>]| -> Vec<Option<String>> {
            path.iter()
                .map(|s| match s {
                    Step::Key(k) => Some(k.to_string()),
                    Step::Index => None,
                })
                .collect()
        };
        let reads_key = |f: &str, keys: &mut Vec<String>| {
            if is_key(f) && !keys.iter().any(|k| k == f) {
                keys.push(f.to_string());
            }
        };
        let mut keys = Vec::new();
        for r in self.patterns {
            for (path, _) in r.pattern.fields() {
                let path: Vec<Step<'_>> = path
                    .iter()
                    .map(|s| s.map_or(Step::Index, Step::Key))
                    .collect();
                let name = dotted(&path);
                if field_source(&path) == FieldSource::Text {
                    return Err(format!(
                        "a rule reads `{name}`, which only the records' text holds"
                    ));
                }
                reads_key(&name, &mut keys);
                typed.push(owned(&path));
            }
        }
        if let Some(sigma) = self.sigma {
            for j in 0..sigma.rule_count() {
                let m = RuleMatch(j);
                let sieve = sigma.sieve(m).restricted(is_key);
                let fields = sigma.rule_fields(m);
                let text_field = fields.and_then(|f| {
                    f.iter()
                        .find(|f| field_source(&steps(f)) == FieldSource::Text)
                });
                let how = match (fields, text_field) {
                    (Some(fields), None) => {
                        for f in fields {
                            reads_key(f, &mut keys);
                            typed.push(owned(&steps(f)));
                        }
                        if fields.iter().all(|f| is_key(f)) {
                            How::Keys
                        } else {
                            How::Record
                        }
                    }
                    _ if !sieve.is_open() => How::Text,
                    (None, _) => {
                        return Err("a Sigma rule searches whole records (keywords)".into());
                    }
                    (Some(_), Some(f)) => {
                        return Err(format!(
                            "a rule reads `{f}`, which only the records' text holds"
                        ));
                    }
                };
                for f in sieve.fields() {
                    reads_key(f, &mut keys);
                    typed.push(owned(&steps(f)));
                }
                let view =
                    how == How::Record && fields.is_some_and(|f| f.iter().all(|f| viewable(f)));
                if view {
                    for f in fields.into_iter().flatten() {
                        if !self.view_fields.contains(f) {
                            self.view_fields.push(f.clone());
                        }
                    }
                }
                self.sigma_view.push(view);
                self.sigma_how.push(how);
                self.sieves.push(sieve);
            }
            for f in sigma.correlation_fields() {
                if field_source(&steps(f)) == FieldSource::Text {
                    return Err(format!(
                        "a correlation reads `{f}`, which only the records' text holds"
                    ));
                }
                typed.push(owned(&steps(f)));
            }
        }
        self.keys = keys;
        // Top-level columns, and the paths below each that are read.
        let mut top: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
        for path in &typed {
            if let Some((Some(k), rest)) = path.split_first() {
                let below = rest.iter().map_while(Clone::clone).collect();
                top.entry(k.clone()).or_default().push(below);
            }
        }
        let names: Vec<&str> = top.keys().map(String::as_str).collect();
        let mut why = format!("the rules read only {}", names.join(", "));
        let on_text = self.sigma_how.iter().filter(|h| **h == How::Text).count();
        if on_text > 0 {
            why.push_str(&format!(
                " (and {on_text} Sigma rule(s) the text of the events their sieve admits)"
            ));
        }
        let wanted = top
            .into_iter()
            .map(|(name, paths)| Wanted { name, paths })
            .collect();
        Ok((wanted, why))
    }

    /// Rule `r` (global index: patterns first, then Sigma rules) as a Sigma rule.
    fn sigma_rule(&self, r: u32) -> Option<RuleMatch> {
        (r as usize).checked_sub(self.patterns.len()).map(RuleMatch)
    }

    /// What the key values `values` (in the order of `keys`) decide.
    fn decide(&self, values: &[Option<&str>]) -> Entry {
        let mut record = Map::new();
        for (k, v) in self.keys.iter().zip(values) {
            if let Some(v) = v {
                insert_at(&mut record, k, v);
            }
        }
        let record = Value::Object(record);
        let known = |path: &[Option<&str>]| {
            self.keys.iter().any(|k| {
                let mut parts = k.split('.');
                path.iter().all(|s| s.is_some() && *s == parts.next()) && parts.next().is_none()
            })
        };
        let mut entry = Entry::default();
        for (k, r) in self.patterns.iter().enumerate() {
            let k = k as u32;
            match r.pattern.judge(&record, &known, self.unsure[k as usize]) {
                Some(true) if self.unsure[k as usize] => entry.loose.push(k),
                Some(true) => entry.sure.push(k),
                Some(false) => {}
                None => entry.record.push(k),
            }
        }
        if let Some(sigma) = self.sigma {
            let matched = sigma.matches(&record);
            let get = |f: &str| {
                self.keys
                    .iter()
                    .position(|k| k == f)
                    .and_then(|n| values[n])
            };
            for (j, how) in self.sigma_how.iter().enumerate() {
                let r = (self.patterns.len() + j) as u32;
                match how {
                    How::Keys if matched.contains(&RuleMatch(j)) => entry.sure.push(r),
                    How::Keys => {}
                    How::Record if self.sieves[j].admits(get) => entry.record.push(r),
                    How::Text if self.sieves[j].admits(get) => entry.text.push(r),
                    How::Record | How::Text => {}
                }
            }
        }
        entry
    }
}

/// Sets `record.a.b.c` (a dotted key field) to `v`.
fn insert_at(record: &mut Map<String, Value>, dotted: &str, v: &str) {
    match dotted.split_once('.') {
        None => {
            record.insert(dotted.to_string(), Value::String(v.to_string()));
        }
        Some((head, rest)) => {
            let inner = record
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = inner {
                insert_at(m, rest, v);
            }
        }
    }
}

/// What one combination of key values decides: rules (global indexes) that match,
/// that may match (checked on the text later), and that must be evaluated on the
/// record or on its text.
#[derive(Debug, Default)]
struct Entry {
    sure: Vec<u32>,
    loose: Vec<u32>,
    record: Vec<u32>,
    text: Vec<u32>,
}

impl Entry {
    fn is_empty(&self) -> bool {
        self.sure.is_empty()
            && self.loose.is_empty()
            && self.record.is_empty()
            && self.text.is_empty()
    }
}

/// A worker's memo: key values to what they decide (under one plan; kept from day
/// to day).
#[derive(Default)]
pub struct Memo {
    slots: HashMap<u64, u32>,
    entries: Vec<(Vec<Option<Box<str>>>, Entry)>,
    buf: Vec<u8>,
}

impl Memo {
    fn get(&mut self, values: &[Option<&str>], decide: impl FnOnce() -> Entry) -> &Entry {
        self.buf.clear();
        for v in values {
            match v {
                None => self.buf.push(0),
                Some(s) => {
                    self.buf.push(1);
                    self.buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    self.buf.extend_from_slice(s.as_bytes());
                }
            }
        }
        let h = xxhash_rust::xxh3::xxh3_64(&self.buf);
        let hit = self.slots.get(&h).copied().filter(|&n| {
            let key = &self.entries[n as usize].0;
            key.iter().zip(values).all(|(a, b)| a.as_deref() == *b)
        });
        let n = match hit {
            Some(n) => n as usize,
            None => {
                if self.entries.len() >= MEMO_LIMIT {
                    self.slots.clear();
                    self.entries.clear();
                }
                let key = values.iter().map(|v| v.map(Box::from)).collect();
                self.entries.push((key, decide()));
                self.slots.insert(h, (self.entries.len() - 1) as u32);
                self.entries.len() - 1
            }
        };
        &self.entries[n].1
    }
}

/// What a worker found in a day.
#[derive(Default)]
pub struct Found {
    pub hits: Vec<Hit>,
    /// Lines of patterns that tell `null` from absent, on records read from typed
    /// columns: to be decided on the exact text.
    pub unsure: Vec<Hit>,
    /// Matches of rules that feed correlations.
    pub inputs: Vec<Input<Arc<Row>>>,
    /// Events to read as text, with the Sigma rules (global indexes) to check there.
    pub on_text: Vec<(Ev, Vec<u32>)>,
    pub unparsed: u64,
}

impl Found {
    pub fn extend(&mut self, other: Found) {
        self.hits.extend(other.hits);
        self.unsure.extend(other.unsure);
        self.inputs.extend(other.inputs);
        self.on_text.extend(other.on_text);
        self.unparsed += other.unparsed;
    }

    /// A Sigma rule matched `record`: its line (unless only its correlations
    /// speak) and its correlations' inputs.
    pub fn sigma_match(
        &mut self,
        sigma: &SigmaSet,
        r: u32,
        m: RuleMatch,
        ev: Ev,
        record: impl FnOnce() -> Option<(Value, Arc<Row>, i64)>,
    ) {
        if sigma.feeds_correlation(m)
            && let Some((record, tag, time_us)) = record()
        {
            self.inputs.extend(sigma.inputs(&record, m, time_us, &tag));
        }
        if sigma.alerts(m) {
            self.hits.push(Hit { rule: r, ev });
        }
    }
}

/// Matches batches on one thread.
pub struct Worker<'p> {
    plan: &'p Plan<'p>,
    memo: Memo,
    found: Found,
}

impl<'p> Worker<'p> {
    /// A worker for `plan`, with a memo made under the same plan.
    pub fn new(plan: &'p Plan<'p>, memo: Memo) -> Self {
        Self {
            plan,
            memo,
            found: Found::default(),
        }
    }

    /// What it found, and its memo for the next worker.
    pub fn finish(self) -> (Found, Memo) {
        (self.found, self.memo)
    }

    /// Runs every rule over batch number `b`.
    pub fn batch(&mut self, b: u32, batch: &ScanBatch) {
        match self.plan.read {
            Read::Raw => self.exact(b, batch),
            Read::Fields(_) => self.keyed(b, batch),
        }
    }

    /// Every rule on every record (the text, or a record rebuilt from the columns).
    fn exact(&mut self, b: u32, batch: &ScanBatch) {
        let plan = self.plan;
        for i in 0..batch.len() {
            let Some(record) = batch.record(i) else {
                self.found.unparsed += 1;
                continue;
            };
            let ev = Ev::At(b, i as u32);
            for (k, r) in plan.patterns.iter().enumerate() {
                if r.pattern.matches(&record) {
                    self.found.hits.push(Hit {
                        rule: k as u32,
                        ev: ev.clone(),
                    });
                }
            }
            if let Some(sigma) = plan.sigma {
                for m in sigma.matches(&record) {
                    let r = (plan.patterns.len() + m.0) as u32;
                    let e = batch.row(i);
                    self.found.sigma_match(sigma, r, m, ev.clone(), || {
                        Some((record.clone(), Arc::new(Row::of(&e)), e.time_us))
                    });
                }
            }
        }
    }

    /// Key values through the memo; the record only where they do not decide.
    fn keyed(&mut self, b: u32, batch: &ScanBatch) {
        let plan = self.plan;
        let leaves: Vec<Option<Leaf<'_>>> = plan.keys.iter().map(|k| batch.leaf(k)).collect();
        let view_leaves: Vec<(&str, Option<Leaf<'_>>)> = plan
            .view_fields
            .iter()
            .map(|f| (f.as_str(), batch.leaf(f)))
            .collect();
        let mut values: Vec<Option<&str>> = vec![None; leaves.len()];
        let found = &mut self.found;
        for i in 0..batch.len() {
            for (v, l) in values.iter_mut().zip(&leaves) {
                *v = l.as_ref().and_then(|l| l.get(i));
            }
            let entry = self.memo.get(&values, || plan.decide(&values));
            if entry.is_empty() {
                continue;
            }
            let ev = Ev::At(b, i as u32);
            // The record, built once if anything needs it.
            let mut record: Option<Option<Value>> = None;
            let mut record_of = || record.get_or_insert_with(|| batch.record(i)).clone();
            let tagged = |record: Option<Value>| {
                let e = batch.row(i);
                record.map(|r| (r, Arc::new(Row::of(&e)), e.time_us))
            };
            for &r in &entry.sure {
                match plan.sigma_rule(r) {
                    None => found.hits.push(Hit {
                        rule: r,
                        ev: ev.clone(),
                    }),
                    Some(m) => {
                        let sigma = plan.sigma.expect("a Sigma rule has its set");
                        found.sigma_match(sigma, r, m, ev.clone(), || tagged(record_of()));
                    }
                }
            }
            for &r in &entry.loose {
                found.unsure.push(Hit {
                    rule: r,
                    ev: ev.clone(),
                });
            }
            let view = RowView {
                batch,
                leaves: &view_leaves,
                i,
            };
            for &r in &entry.record {
                match plan.sigma_rule(r) {
                    Some(m) if plan.sigma_view[m.0] => {
                        let sigma = plan.sigma.expect("a Sigma rule has its set");
                        if sigma.matches_view(m, &view) {
                            found.sigma_match(sigma, r, m, ev.clone(), || tagged(record_of()));
                        }
                    }
                    // Typed columns always give a record.
                    None => {
                        let Some(full) = record_of() else {
                            continue;
                        };
                        let k = r as usize;
                        let hit = Hit {
                            rule: r,
                            ev: ev.clone(),
                        };
                        if plan.unsure[k] {
                            if plan.patterns[k].pattern.may_match(&full) {
                                found.unsure.push(hit);
                            }
                        } else if plan.patterns[k].pattern.matches(&full) {
                            found.hits.push(hit);
                        }
                    }
                    Some(m) => {
                        let sigma = plan.sigma.expect("a Sigma rule has its set");
                        let Some(full) = record_of() else {
                            continue;
                        };
                        if sigma.matches_rule(m, &full) {
                            found.sigma_match(sigma, r, m, ev.clone(), || {
                                tagged(Some(full.clone()))
                            });
                        }
                    }
                }
            }
            if !entry.text.is_empty() {
                found.on_text.push((ev, entry.text.clone()));
            }
        }
    }
}

/// One row of a batch handed out field by field to a Sigma rule.
struct RowView<'b> {
    batch: &'b ScanBatch,
    /// The plan's view fields, resolved to string leaves where they are ones.
    leaves: &'b [(&'b str, Option<Leaf<'b>>)],
    i: usize,
}

impl FieldView for RowView<'_> {
    fn text(&self, dotted: &str) -> Option<Option<&str>> {
        self.leaves
            .iter()
            .find(|(f, _)| *f == dotted)
            .and_then(|(_, l)| l.as_ref())
            .map(|l| l.get(self.i))
    }

    fn top(&self, name: &str) -> Option<Value> {
        self.batch.field(name, self.i)
    }
}

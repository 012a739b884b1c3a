//! Which rules match each scanned record, with as little work per record as the
//! rules allow.
//!
//! Most of what CloudTrail rules test has few distinct values: `eventSource`,
//! `eventName`, `errorCode`, the identity's type. These are the *key fields*. A rule
//! that reads only key fields gives the same answer for every record with the same
//! key values, so it is evaluated once per distinct combination (a memo per worker)
//! and each record costs a hash of its key values. A rule that reads more is judged
//! on the key fields as far as they decide it — a filter pattern three-valued
//! ([`auditwatch_rules::Pattern::judge`]), a Sigma rule by its prefilter
//! ([`auditwatch_rules::prefilter`]) — and evaluated on the record only where they do
//! not. That record is rebuilt from the typed columns, or, for a Sigma rule that
//! reads what only the text holds (keywords, a field CloudTrail never writes), read
//! as text after the scan for just those events.
//!
//! Every answer is the one evaluating every rule on every record gives: the memo
//! evaluates the same rules on the same values, and the prefilters only skip records a
//! rule cannot match. `hunt --exact-text` evaluates every rule on every record's
//! text, and the tests compare the two.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use auditwatch_rules::correlate::Input;
use auditwatch_rules::prefilter::Prefilter;
use auditwatch_rules::rulefile::Rule;
use auditwatch_rules::sigma::{FieldView, RuleMatch, SigmaSet, viewable};
use auditwatch_store::direct::scan::{
    FieldSource, Leaf, Read, ScanBatch, Step, Wanted, field_source,
};
use serde_json::{Map, Value};

use super::hits::{Ev, Hit, Row};
use crate::origin::EventOrigin;
use auditwatch_store::origin::Origins;

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
    /// On the record rebuilt from typed columns, where its prefilter admits it.
    Record,
    /// On the record's text, where its prefilter admits it.
    Text,
}

/// How one Sigma rule is decided when reading typed columns.
struct SigmaPlan {
    how: How,
    /// Evaluated alone on a view of the columns (its fields are all plain dotted
    /// names), not on the record rebuilt as JSON.
    view: bool,
    /// Its prefilter on key fields.
    prefilter: Prefilter,
}

/// What reading typed columns takes: the columns, and how each rule is decided.
#[derive(Default)]
struct Typed {
    wanted: Vec<Wanted>,
    why: String,
    keys: Vec<String>,
    sigma: Vec<SigmaPlan>,
    /// The fields views hand out (those of the rules evaluated on views).
    view_fields: Vec<String>,
}

/// The rules of a hunt and how each is decided.
pub struct Plan<'a> {
    pub(super) patterns: &'a [Rule],
    pub(super) sigma: Option<&'a SigmaSet>,
    /// What the scan reads of each record.
    pub read: Read,
    /// Why (for the hunt's message).
    pub why: String,
    /// Per pattern: it tells `null` from absent, which typed columns cannot, so a
    /// match only says "may match" and is checked on the text.
    unsure: Vec<bool>,
    /// Reading typed columns: the key fields, how each Sigma rule is decided, and
    /// the fields views hand out (all empty reading the text).
    keys: Vec<String>,
    sigma_plans: Vec<SigmaPlan>,
    view_fields: Vec<String>,
    /// Whether a rule reads a field detection adds ([`crate::origin::FIELDS`]).
    reads_origin: bool,
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
        let reads_origin = origin_field(patterns, sigma).is_some();
        let typed = if exact_text {
            Err("--exact-text".to_string())
        } else {
            typed(patterns, sigma)
        };
        match typed {
            Ok(t) => Plan {
                patterns,
                sigma,
                read: Read::Fields(t.wanted),
                why: t.why,
                unsure: patterns
                    .iter()
                    .map(|r| r.pattern.tells_null_from_absent())
                    .collect(),
                keys: t.keys,
                sigma_plans: t.sigma,
                view_fields: t.view_fields,
                reads_origin,
            },
            Err(why) => Plan {
                patterns,
                sigma,
                read: Read::Raw,
                why,
                unsure: vec![false; patterns.len()],
                keys: Vec::new(),
                sigma_plans: Vec::new(),
                view_fields: Vec::new(),
                reads_origin,
            },
        }
    }

    /// Whether a rule reads `origin` or `originType`, so that records need their
    /// origin (and are read as text).
    pub fn reads_origin(&self) -> bool {
        self.reads_origin
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
            for (j, p) in self.sigma_plans.iter().enumerate() {
                let r = (self.patterns.len() + j) as u32;
                match p.how {
                    How::Keys if matched.contains(&RuleMatch(j)) => entry.sure.push(r),
                    How::Keys => {}
                    How::Record if p.prefilter.admits(get) => entry.record.push(r),
                    How::Text if p.prefilter.admits(get) => entry.text.push(r),
                    How::Record | How::Text => {}
                }
            }
        }
        entry
    }
}

/// What reading typed columns takes, or why the text must be read instead.
fn typed(patterns: &[Rule], sigma: Option<&SigmaSet>) -> Result<Typed, String> {
    if let Some(f) = origin_field(patterns, sigma) {
        return Err(format!(
            "a rule reads `{f}`, which detection adds to each record's text"
        ));
    }
    let mut t = Typed::default();
    // Every field read from typed columns, as keys (`None`: an array index); the
    // key fields among them.
    let mut read: Vec<Vec<Option<String>>> = Vec::new();
    let mut reads = |path: Vec<Option<String>>, keys: &mut Vec<String>| {
        let name: Vec<&str> = path.iter().map(|s| s.as_deref().unwrap_or("[]")).collect();
        let name = name.join(".");
        if is_key(&name) && !keys.contains(&name) {
            keys.push(name);
        }
        read.push(path);
    };
    let dotted = |f: &str| f.split('.').map(|k| Some(k.to_string())).collect();
    for r in patterns {
        for (path, _) in r.pattern.fields() {
            let steps: Vec<Step<'_>> = path
                .iter()
                .map(|s| s.map_or(Step::Index, Step::Key))
                .collect();
            if field_source(&steps) == FieldSource::Text {
                let name: Vec<&str> = path.iter().map(|s| s.unwrap_or("[]")).collect();
                return Err(format!(
                    "a rule reads `{}`, which only the records' text holds",
                    name.join(".")
                ));
            }
            reads(
                path.iter().map(|s| s.map(String::from)).collect(),
                &mut t.keys,
            );
        }
    }
    if let Some(sigma) = sigma {
        for j in 0..sigma.rule_count() {
            let m = RuleMatch(j);
            let prefilter = sigma.prefilter(m).restricted(is_key);
            let fields = sigma.rule_fields(m);
            let text_field = fields.and_then(|f| {
                f.iter()
                    .find(|f| field_source(&steps(f)) == FieldSource::Text)
            });
            let how = match (fields, text_field) {
                (Some(fields), None) => {
                    for f in fields {
                        reads(dotted(f), &mut t.keys);
                    }
                    if fields.iter().all(|f| is_key(f)) {
                        How::Keys
                    } else {
                        How::Record
                    }
                }
                _ if !prefilter.is_open() => How::Text,
                (None, _) => {
                    return Err("a Sigma rule searches whole records (keywords)".into());
                }
                (Some(_), Some(f)) => {
                    return Err(format!(
                        "a rule reads `{f}`, which only the records' text holds"
                    ));
                }
            };
            for f in prefilter.fields() {
                reads(dotted(f), &mut t.keys);
            }
            let view = how == How::Record && fields.is_some_and(|f| f.iter().all(|f| viewable(f)));
            if view {
                for f in fields.into_iter().flatten() {
                    if !t.view_fields.contains(f) {
                        t.view_fields.push(f.clone());
                    }
                }
            }
            t.sigma.push(SigmaPlan {
                how,
                view,
                prefilter,
            });
        }
        for f in sigma.correlation_fields() {
            if field_source(&steps(f)) == FieldSource::Text {
                return Err(format!(
                    "a correlation reads `{f}`, which only the records' text holds"
                ));
            }
            reads(dotted(f), &mut t.keys);
        }
    }
    // Top-level columns, and the paths below each that are read.
    let mut top: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for path in &read {
        if let Some((Some(k), rest)) = path.split_first() {
            let below = rest.iter().map_while(Clone::clone).collect();
            top.entry(k.clone()).or_default().push(below);
        }
    }
    let names: Vec<&str> = top.keys().map(String::as_str).collect();
    t.why = format!("the rules read only {}", names.join(", "));
    let on_text = t.sigma.iter().filter(|p| p.how == How::Text).count();
    if on_text > 0 {
        t.why.push_str(&format!(
            " (and {on_text} Sigma rule(s) the text of the events their prefilter admits)"
        ));
    }
    t.wanted = top
        .into_iter()
        .map(|(name, paths)| Wanted { name, paths })
        .collect();
    Ok(t)
}

/// The first field a rule or correlation reads that detection adds to records
/// ([`crate::origin`]).
fn origin_field(patterns: &[Rule], sigma: Option<&SigmaSet>) -> Option<String> {
    crate::origin::read_by(patterns.iter().map(|r| &r.pattern), sigma)
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
    pub fn sigma_match<'v>(
        &mut self,
        sigma: &SigmaSet,
        r: u32,
        m: RuleMatch,
        ev: Ev,
        record: impl FnOnce() -> Option<(&'v Value, Arc<Row>, i64)>,
    ) {
        if sigma.feeds_correlation(m)
            && let Some((record, tag, time_us)) = record()
        {
            self.inputs.extend(sigma.inputs(record, m, time_us, &tag));
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
    origins: Option<&'p Origins>,
}

impl<'p> Worker<'p> {
    /// A worker for `plan`, with a memo made under the same plan; with `origins`,
    /// records read as text carry their origin ([`crate::origin`]).
    pub fn new(plan: &'p Plan<'p>, memo: Memo, origins: Option<&'p Origins>) -> Self {
        Self {
            plan,
            memo,
            found: Found::default(),
            origins,
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
            let Some(mut record) = batch.record(i) else {
                self.found.unparsed += 1;
                continue;
            };
            if let Some(origins) = self.origins {
                EventOrigin::of(origins, &record, batch.row(i).account_id).attach(&mut record);
            }
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
                        Some((&record, Arc::new(Row::of(&e)), e.time_us))
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
            // The record, built once if anything needs it (typed columns always
            // give one).
            let record = std::cell::OnceCell::new();
            let record_of = || record.get_or_init(|| batch.record(i)).as_ref();
            let tagged = || {
                let e = batch.row(i);
                record_of().map(|r| (r, Arc::new(Row::of(&e)), e.time_us))
            };
            for &r in &entry.sure {
                match plan.sigma_rule(r) {
                    None => found.hits.push(Hit {
                        rule: r,
                        ev: ev.clone(),
                    }),
                    Some(m) => {
                        let sigma = plan.sigma.expect("a Sigma rule has its set");
                        found.sigma_match(sigma, r, m, ev.clone(), tagged);
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
                    Some(m) if plan.sigma_plans[m.0].view => {
                        let sigma = plan.sigma.expect("a Sigma rule has its set");
                        if sigma.matches_view(m, &view) {
                            found.sigma_match(sigma, r, m, ev.clone(), tagged);
                        }
                    }
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
                            if plan.patterns[k].pattern.may_match(full) {
                                found.unsure.push(hit);
                            }
                        } else if plan.patterns[k].pattern.matches(full) {
                            found.hits.push(hit);
                        }
                    }
                    Some(m) => {
                        let sigma = plan.sigma.expect("a Sigma rule has its set");
                        let Some(full) = record_of() else {
                            continue;
                        };
                        if sigma.matches_rule(m, full) {
                            found.sigma_match(sigma, r, m, ev.clone(), tagged);
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

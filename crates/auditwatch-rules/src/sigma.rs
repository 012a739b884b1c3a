//! Sigma rules (YAML, as in SigmaHQ's `rules/cloud/aws/cloudtrail`) over CloudTrail
//! records.
//!
//! Parsing and matching are the `rsigma-parser` and `rsigma-eval` crates: dotted field
//! paths through objects and arrays, every value modifier (`contains`, `startswith`,
//! `endswith`, `all`, `re`, `fieldref`, `cidr`, `base64`, `base64offset`, `windash`,
//! `expand`, …), null values, keyword lists and the full condition grammar. This
//! module adds what the crates leave to their user:
//!
//! - a file's documents are read one by one, so that an error names its file and
//!   line and the other rules still load;
//! - Sigma 1 aggregations (`| count() by f > 5`, `| near`) are rewritten as
//!   correlations first ([`crate::sigma_legacy`]), so SigmaHQ's `unsupported/` rules
//!   run too;
//! - `%placeholders%` under `|expand` take their values from the configuration;
//! - correlations are judged by [`crate::correlate`] on event time, the same way for
//!   `hunt` and for live detection; rsigma's own correlation engine works in arrival
//!   order, which late CloudTrail files break;
//! - rules for another log source are refused by name, not silently never matched.
//!
//! Alerts carry each rule's `author`: the Detection Rule License of SigmaHQ's rules
//! asks for it.

use std::collections::{BTreeMap, HashMap};

use rsigma_eval::event::{Event, EventValue, JsonEvent};
use rsigma_eval::{Engine, parse_pipeline};
use rsigma_parser::{
    ConditionOperator, CorrelationCondition, CorrelationRule, CorrelationType, Detection, Modifier,
    SigmaRule, SigmaValue, WindowMode, parse_sigma_yaml,
};
use serde_json::Value;
use yaml_serde::Value as Yaml;

use crate::correlate::{Correlation, Firing, Input, Kind, Op, Windows};
use crate::prefilter::{self, Prefilter};
use crate::sigma_legacy;

/// What every alert of a rule says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The rule's `id` (else its `name`, else its title).
    pub id: String,
    /// Its title.
    pub title: String,
    /// `informational` … `critical`; `medium` when the rule has none.
    pub level: String,
    /// Its `author`.
    pub author: Option<String>,
    /// The file it was loaded from.
    pub file: String,
    /// The first line of its document there.
    pub line: usize,
}

impl Meta {
    fn error(&self, message: String) -> SigmaError {
        SigmaError {
            file: self.file.clone(),
            line: self.line,
            what: format!("rule \"{}\"", self.title),
            message,
        }
    }
}

/// A document that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {what}: {message}")]
pub struct SigmaError {
    /// The file.
    pub file: String,
    /// The line (1-based) of the document or of its offending key.
    pub line: usize,
    /// `rule "title"` or `document`.
    pub what: String,
    /// Why.
    pub message: String,
}

/// Values for `%name%` placeholders of `|expand`.
pub type Placeholders = BTreeMap<String, Vec<String>>;

#[derive(Debug)]
struct CorrelationDef {
    meta: Meta,
    group_by: Vec<String>,
    field: Option<String>,
}

/// A loaded set of Sigma rules and correlations.
pub struct SigmaSet {
    engine: Engine,
    rules: Vec<Meta>,
    by_result: HashMap<String, usize>,
    alerting: Vec<bool>,
    correlations: Vec<CorrelationDef>,
    windows: Vec<Correlation>,
    /// For each rule, the correlations it feeds and its position in each.
    feeds: Vec<Vec<(usize, usize)>>,
    /// Every field the rules and correlations read (dotted, as Sigma names them);
    /// `None` when one searches the whole record (keywords) or scopes into arrays.
    fields: Option<std::collections::BTreeSet<String>>,
    /// Per rule: the fields it reads (`None` as above) and its prefilter.
    reads: Vec<(Option<std::collections::BTreeSet<String>>, Prefilter)>,
    /// Per rule: its place among the engine's compiled rules.
    compiled: Vec<usize>,
}

/// Adds the fields a detection reads to `out`; `false` when it reads the record in
/// a way no list of fields describes (keywords, array scopes).
fn detection_fields(d: &Detection, out: &mut std::collections::BTreeSet<String>) -> bool {
    match d {
        Detection::AllOf(items) => items.iter().all(|item| {
            let Some(name) = &item.field.name else {
                return false;
            };
            out.insert(name.clone());
            if item.field.has_modifier(Modifier::FieldRef) {
                for v in &item.values {
                    match v {
                        SigmaValue::String(s) if s.as_plain().is_some() => {
                            out.extend(s.as_plain());
                        }
                        _ => return false,
                    }
                }
            }
            true
        }),
        Detection::AnyOf(ds) | Detection::And(ds) => ds.iter().all(|d| detection_fields(d, out)),
        _ => false,
    }
}

/// One rule that matched one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleMatch(pub usize);

struct Document {
    line: usize,
    text: String,
}

/// Splits a YAML stream into documents with their first line.
fn documents(text: &str) -> Vec<Document> {
    let mut docs = Vec::new();
    let mut current = Document {
        line: 1,
        text: String::new(),
    };
    for (n, line) in text.lines().enumerate() {
        if line.trim_end() == "---" {
            docs.push(std::mem::replace(
                &mut current,
                Document {
                    line: n + 2,
                    text: String::new(),
                },
            ));
        } else {
            current.text.push_str(line);
            current.text.push('\n');
        }
    }
    docs.push(current);
    docs.retain(|d| {
        d.text
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    docs
}

/// The line of `key:` within a document, else its first line.
fn line_of(doc: &Document, key: &str) -> usize {
    doc.text
        .lines()
        .position(|l| l.trim_start().starts_with(&format!("{key}:")))
        .map_or(doc.line, |i| doc.line + i)
}

fn is_cloudtrail(rule: &SigmaRule) -> bool {
    let ls = &rule.logsource;
    let product_ok = ls.product.as_deref().is_none_or(|p| p == "aws");
    let service_ok = ls.service.as_deref().is_none_or(|s| s == "cloudtrail");
    product_ok && service_ok && (ls.product.is_some() || ls.service.is_some())
}

fn correlation_window(c: &CorrelationRule) -> Result<Correlation, String> {
    let kind = match c.correlation_type {
        CorrelationType::EventCount => Kind::EventCount,
        CorrelationType::ValueCount => Kind::ValueCount,
        CorrelationType::Temporal => Kind::Temporal,
        CorrelationType::TemporalOrdered => Kind::TemporalOrdered,
        other => {
            return Err(format!(
                "correlation type `{}` is not supported (event_count, value_count, \
                 temporal and temporal_ordered are)",
                other.as_str()
            ));
        }
    };
    if c.window != WindowMode::Sliding {
        return Err(format!(
            "window `{}` is not supported (sliding windows are)",
            c.window.as_str()
        ));
    }
    if !c.aliases.is_empty() {
        return Err("field aliases are not supported".into());
    }
    let predicates = match &c.condition {
        CorrelationCondition::Threshold { predicates, .. } => predicates
            .iter()
            .map(|(op, n)| {
                let op = match op {
                    ConditionOperator::Lt => Op::Lt,
                    ConditionOperator::Lte => Op::Lte,
                    ConditionOperator::Gt => Op::Gt,
                    ConditionOperator::Gte => Op::Gte,
                    ConditionOperator::Eq => Op::Eq,
                    ConditionOperator::Neq => Op::Neq,
                };
                (op, *n)
            })
            .collect(),
        CorrelationCondition::Extended(_) => {
            return Err("boolean correlation conditions are not supported".into());
        }
    };
    Ok(Correlation {
        kind,
        rules: c.rules.len(),
        span_us: i64::try_from(c.timespan.seconds)
            .unwrap_or(i64::MAX / 1_000_000)
            .saturating_mul(1_000_000),
        predicates,
    })
}

fn correlation_field(c: &CorrelationRule) -> Option<String> {
    match &c.condition {
        CorrelationCondition::Threshold { field, .. } => {
            field.as_ref().and_then(|f| f.first().cloned())
        }
        CorrelationCondition::Extended(_) => None,
    }
}

/// A CloudTrail record as rsigma sees it: a field that lands on an object reads as
/// the object's JSON text, so that `requestParameters|contains: 'Suspended'` looks
/// inside it as SigmaHQ's rules expect (and as SQL backends over a JSON column do).
struct Record<'a>(JsonEvent<'a>);

fn objects_as_text(v: EventValue<'_>) -> EventValue<'_> {
    match v {
        EventValue::Map(_) => EventValue::Str(json_of(&v).to_string().into()),
        EventValue::Array(items) => {
            EventValue::Array(items.into_iter().map(objects_as_text).collect())
        }
        other => other,
    }
}

fn json_of(v: &EventValue<'_>) -> Value {
    match v {
        EventValue::Str(s) => Value::String(s.to_string()),
        EventValue::Int(i) => Value::from(*i),
        EventValue::Float(f) => Value::from(*f),
        EventValue::Bool(b) => Value::Bool(*b),
        EventValue::Null => Value::Null,
        EventValue::Array(items) => Value::Array(items.iter().map(json_of).collect()),
        EventValue::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), json_of(v)))
                .collect(),
        ),
    }
}

impl Event for Record<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        self.0.get_field(path).map(objects_as_text)
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.0.any_string_value(pred)
    }

    fn all_string_values(&self) -> Vec<std::borrow::Cow<'_, str>> {
        self.0.all_string_values()
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        self.0.visit_string_values(visit)
    }

    fn to_json(&self) -> Value {
        self.0.to_json()
    }

    fn top_level_keys(&self) -> Option<Vec<std::borrow::Cow<'_, str>>> {
        self.0.top_level_keys()
    }
}

/// Renders an event value as the string a group key or `value_count` compares.
fn text_of(v: &EventValue<'_>) -> Option<String> {
    match v {
        EventValue::Null => None,
        EventValue::Array(_) | EventValue::Map(_) => Some(json_of(v).to_string()),
        other => other.as_str().map(|s| s.into_owned()),
    }
}

impl std::fmt::Debug for SigmaSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigmaSet")
            .field("rules", &self.rules.len())
            .field("correlations", &self.correlations.len())
            .finish()
    }
}

/// What one document yielded.
#[derive(Default)]
struct Parsed {
    rules: Vec<(Meta, SigmaRule)>,
    correlations: Vec<(Meta, CorrelationRule)>,
    errors: Vec<SigmaError>,
}

/// Parses one document of `file`: a Sigma 2 document as written, a Sigma 1
/// aggregation through [`sigma_legacy`].
fn parse_document(file: &str, doc: &Document) -> Parsed {
    let mut out = Parsed::default();
    let err = |line: usize, what: &str, message: String| SigmaError {
        file: file.to_string(),
        line,
        what: what.to_string(),
        message,
    };
    let value: Yaml = match yaml_serde::from_str(&doc.text) {
        Ok(v) => v,
        Err(e) => {
            let line = e.location().map_or(doc.line, |l| doc.line + l.line() - 1);
            out.errors
                .push(err(line, "document", format!("not YAML: {e}")));
            return out;
        }
    };
    let title = value
        .get("title")
        .and_then(Yaml::as_str)
        .unwrap_or("(untitled)");
    let what = format!("rule \"{title}\"");
    if value.get("action").is_some() {
        out.errors.push(err(
            line_of(doc, "action"),
            &what,
            "collection actions (action: global/repeat) are not supported".into(),
        ));
        return out;
    }
    let texts = match sigma_legacy::upgrade(&value) {
        Ok(None) => vec![doc.text.clone()],
        Ok(Some(docs)) => match docs.iter().map(yaml_serde::to_string).collect() {
            Ok(texts) => texts,
            Err(e) => {
                out.errors.push(err(doc.line, &what, e.to_string()));
                return out;
            }
        },
        Err(e) => {
            out.errors.push(err(line_of(doc, "condition"), &what, e));
            return out;
        }
    };
    for text in texts {
        let collection = match parse_sigma_yaml(&text) {
            Ok(c) => c,
            Err(e) => {
                out.errors.push(err(doc.line, &what, e.to_string()));
                continue;
            }
        };
        if !collection.errors.is_empty() {
            let message = collection
                .errors
                .iter()
                .map(|e| one_line(e))
                .collect::<Vec<_>>()
                .join("; ");
            let line = if message.contains("ondition") {
                line_of(doc, "condition")
            } else {
                doc.line
            };
            out.errors.push(err(line, &what, message));
            continue;
        }
        if !collection.filters.is_empty() {
            out.errors.push(err(
                doc.line,
                &what,
                "Sigma filter documents are not supported".into(),
            ));
        }
        let meta = |id: &Option<String>,
                    name: &Option<String>,
                    title: &str,
                    level: Option<rsigma_parser::Level>,
                    author: &Option<String>| Meta {
            id: id
                .as_ref()
                .or(name.as_ref())
                .map_or(title, |s| s)
                .to_string(),
            title: title.to_string(),
            level: level.map_or("medium", |l| l.as_str()).to_string(),
            author: author.clone(),
            file: file.to_string(),
            line: doc.line,
        };
        for r in collection.rules {
            if is_cloudtrail(&r) {
                out.rules
                    .push((meta(&r.id, &r.name, &r.title, r.level, &r.author), r));
            } else {
                out.errors.push(err(
                    line_of(doc, "logsource"),
                    &what,
                    "not a CloudTrail rule: logsource must be product `aws` and/or \
                     service `cloudtrail`"
                        .into(),
                ));
            }
        }
        for c in collection.correlations {
            out.correlations
                .push((meta(&c.id, &c.name, &c.title, c.level, &c.author), c));
        }
    }
    out
}

impl SigmaSet {
    /// Loads rule files (`(file name, text)`). Returns the set and what could not be
    /// loaded, each with its file, line and reason; the rest still loads.
    pub fn load(
        files: &[(String, String)],
        placeholders: &Placeholders,
    ) -> (Self, Vec<SigmaError>) {
        let mut all = Parsed::default();
        for (file, text) in files {
            for doc in documents(text) {
                let p = parse_document(file, &doc);
                all.rules.extend(p.rules);
                all.correlations.extend(p.correlations);
                all.errors.extend(p.errors);
            }
        }
        let engine = match placeholder_pipeline(placeholders) {
            Some(p) => Engine::new_with_pipeline(p),
            None => Engine::new(),
        };
        let mut set = SigmaSet {
            engine,
            rules: Vec::new(),
            by_result: HashMap::new(),
            alerting: Vec::new(),
            correlations: Vec::new(),
            windows: Vec::new(),
            feeds: Vec::new(),
            fields: Some(std::collections::BTreeSet::new()),
            reads: Vec::new(),
            compiled: Vec::new(),
        };
        let mut errors = all.errors;
        let names = set.add_rules(all.rules, &mut errors);
        set.add_correlations(all.correlations, &names, &mut errors);
        (set, errors)
    }

    /// Compiles the rules; returns the names (id and `name`) correlations refer to
    /// them by.
    fn add_rules(
        &mut self,
        rules: Vec<(Meta, SigmaRule)>,
        errors: &mut Vec<SigmaError>,
    ) -> HashMap<String, usize> {
        let mut names = HashMap::new();
        for (m, rule) in rules {
            // rsigma reports a match by the rule's id, else its title.
            let key = rule.id.clone().unwrap_or_else(|| rule.title.clone());
            if self.by_result.contains_key(&key) {
                errors.push(m.error(format!("a rule with id {key} is already loaded")));
                continue;
            }
            if let Err(e) = self.engine.add_rule(&rule) {
                errors.push(m.error(e.to_string()));
                continue;
            }
            let mut own = std::collections::BTreeSet::new();
            let own = rule
                .detection
                .named
                .values()
                .all(|d| detection_fields(d, &mut own))
                .then_some(own);
            match (&mut self.fields, &own) {
                (Some(all), Some(own)) => all.extend(own.iter().cloned()),
                _ => self.fields = None,
            }
            self.compiled.push(self.engine.rules().len() - 1);
            self.reads.push((
                own,
                prefilter::of_sigma(&rule.detection.named, &rule.detection.conditions),
            ));
            let i = self.rules.len();
            self.by_result.insert(key, i);
            for n in [rule.id, rule.name].into_iter().flatten() {
                names.insert(n, i);
            }
            self.rules.push(m);
            self.alerting.push(true);
            self.feeds.push(Vec::new());
        }
        names
    }

    fn add_correlations(
        &mut self,
        correlations: Vec<(Meta, CorrelationRule)>,
        names: &HashMap<String, usize>,
        errors: &mut Vec<SigmaError>,
    ) {
        for (m, c) in correlations {
            let window = match correlation_window(&c) {
                Ok(w) => w,
                Err(e) => {
                    errors.push(m.error(e));
                    continue;
                }
            };
            let refs: Result<Vec<usize>, &String> = c
                .rules
                .iter()
                .map(|r| names.get(r).copied().ok_or(r))
                .collect();
            let refs = match refs {
                Ok(refs) => refs,
                Err(r) => {
                    errors.push(m.error(format!(
                        "the correlation refers to rule `{r}`, which is not loaded"
                    )));
                    continue;
                }
            };
            let k = self.correlations.len();
            for (pos, i) in refs.into_iter().enumerate() {
                self.feeds[i].push((k, pos));
                if !c.generate {
                    self.alerting[i] = false;
                }
            }
            let field = correlation_field(&c);
            if let Some(fields) = &mut self.fields {
                fields.extend(c.group_by.iter().cloned());
                fields.extend(field.iter().cloned());
            }
            self.correlations.push(CorrelationDef {
                meta: m,
                field,
                group_by: c.group_by,
            });
            self.windows.push(window);
        }
    }

    /// Rules (correlations not counted).
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Correlations.
    pub fn correlation_count(&self) -> usize {
        self.correlations.len()
    }

    /// Whether nothing loaded.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// A rule.
    pub fn rule(&self, m: RuleMatch) -> &Meta {
        &self.rules[m.0]
    }

    /// Whether a rule alerts on its own (a rule used only by correlations does not).
    pub fn alerts(&self, m: RuleMatch) -> bool {
        self.alerting[m.0]
    }

    /// A correlation (index of [`crate::correlate::Firing::correlation`]).
    pub fn correlation(&self, i: usize) -> &Meta {
        &self.correlations[i].meta
    }

    /// The rules that match a record.
    pub fn matches(&self, record: &Value) -> Vec<RuleMatch> {
        let event = Record(JsonEvent::borrow(record));
        self.engine
            .evaluate(&event)
            .into_iter()
            .filter_map(|r| {
                let key = r.header.rule_id.as_ref().unwrap_or(&r.header.rule_title);
                self.by_result.get(key).map(|i| RuleMatch(*i))
            })
            .collect()
    }

    /// Whether one rule matches a record (as [`SigmaSet::matches`] lists it).
    pub fn matches_rule(&self, m: RuleMatch, record: &Value) -> bool {
        let rule = &self.engine.rules()[self.compiled[m.0]];
        rsigma_eval::evaluate_rule(rule, &Record(JsonEvent::borrow(record))).is_some()
    }

    /// Whether one rule matches a record handed out field by field (for a rule
    /// whose [`SigmaSet::rule_fields`] are all [`viewable`]).
    pub fn matches_view(&self, m: RuleMatch, view: &dyn FieldView) -> bool {
        let rule = &self.engine.rules()[self.compiled[m.0]];
        rsigma_eval::evaluate_rule(rule, &view::ViewEvent(view)).is_some()
    }

    /// Every field its rules and correlations read, dotted as Sigma names them;
    /// `None` when a rule reads the record as a whole (keyword searches).
    pub fn fields(&self) -> Option<Vec<&str>> {
        self.fields
            .as_ref()
            .map(|f| f.iter().map(String::as_str).collect())
    }

    /// The fields one rule reads (dotted, as Sigma names them); `None` when it
    /// searches the whole record (keywords) or scopes into arrays.
    pub fn rule_fields(&self, m: RuleMatch) -> Option<&std::collections::BTreeSet<String>> {
        self.reads[m.0].0.as_ref()
    }

    /// A necessary condition for one rule to match ([`crate::prefilter`]).
    pub fn prefilter(&self, m: RuleMatch) -> &Prefilter {
        &self.reads[m.0].1
    }

    /// The fields correlations read of their rules' matches (`group-by`, `field`).
    pub fn correlation_fields(&self) -> impl Iterator<Item = &str> {
        self.correlations
            .iter()
            .flat_map(|c| c.group_by.iter().chain(&c.field))
            .map(String::as_str)
    }

    /// Whether a rule's matches feed a correlation (which reads group-by fields of
    /// the record, see [`SigmaSet::inputs`]).
    pub fn feeds_correlation(&self, m: RuleMatch) -> bool {
        !self.feeds[m.0].is_empty()
    }

    /// Empty windows for this set's correlations.
    pub fn windows<T: Clone>(&self) -> Windows<T> {
        Windows::new(self.windows.clone())
    }

    /// The longest correlation timespan, in microseconds (0 without correlations).
    pub fn longest_span_us(&self) -> i64 {
        self.windows.iter().map(|w| w.span_us).max().unwrap_or(0)
    }

    /// Feeds a rule's match into the windows of the correlations it belongs to.
    pub fn feed<T: Clone>(
        &self,
        windows: &mut Windows<T>,
        record: &Value,
        m: RuleMatch,
        time_us: i64,
        tag: &T,
    ) {
        for input in self.inputs(record, m, time_us, tag) {
            windows.push(input);
        }
    }

    /// What [`SigmaSet::feed`] pushes, for a caller that matches on several threads
    /// and feeds the windows on one.
    pub fn inputs<T: Clone>(
        &self,
        record: &Value,
        m: RuleMatch,
        time_us: i64,
        tag: &T,
    ) -> Vec<Input<T>> {
        let event = JsonEvent::borrow(record);
        let get = |path: &str| event.get_field(path).as_ref().and_then(text_of);
        self.feeds[m.0]
            .iter()
            .map(|&(c, rule)| {
                let def = &self.correlations[c];
                Input {
                    correlation: c,
                    group: def
                        .group_by
                        .iter()
                        .map(|g| get(g).unwrap_or_default())
                        .collect(),
                    time_us,
                    rule,
                    value: def.field.as_deref().and_then(get),
                    tag: tag.clone(),
                }
            })
            .collect()
    }

    /// The group-by fields of a correlation with their values, `a=x, b=y`.
    pub fn describe_group(&self, c: usize, group: &[String]) -> String {
        self.correlations[c]
            .group_by
            .iter()
            .zip(group)
            .map(|(f, v)| format!("{f}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What a firing found: `6 in the window, sourceIPAddress=203.0.113.9`.
    pub fn describe<T>(&self, f: &Firing<T>) -> String {
        let group = self.describe_group(f.correlation, &f.group);
        if group.is_empty() {
            format!("{} in the window", f.measure)
        } else {
            format!("{} in the window, {group}", f.measure)
        }
    }
}

/// A parser message on one line: pest's multi-line pictures become
/// `Condition parse error at 1:9: expected quantifier, ident, or not_op`.
fn one_line(message: &str) -> String {
    let mut lines = message.lines();
    let first = lines.next().unwrap_or_default();
    let first = first
        .split("-->")
        .next()
        .unwrap_or(first)
        .trim()
        .trim_end_matches(':');
    match lines.map(str::trim).rfind(|l| l.starts_with('=')) {
        Some(last) => format!("{first}: {}", last.trim_start_matches('=').trim()),
        None => first.to_string(),
    }
}

/// A pipeline that expands `%name%` placeholders, when any are configured.
fn placeholder_pipeline(placeholders: &Placeholders) -> Option<rsigma_eval::Pipeline> {
    if placeholders.is_empty() {
        return None;
    }
    let yaml = serde_json::json!({
        "name": "auditwatch placeholders",
        "vars": placeholders,
        "transformations": [{"type": "value_placeholders"}],
    });
    // JSON is YAML; the pipeline is ours, so it parses.
    parse_pipeline(&yaml.to_string()).ok()
}

/// Loads one file's text.
pub fn load_one(origin: &str, text: &str) -> (SigmaSet, Vec<SigmaError>) {
    SigmaSet::load(
        &[(origin.to_string(), text.to_string())],
        &Placeholders::new(),
    )
}

#[cfg(test)]
mod tests;
mod view;

pub use view::{FieldView, viewable};

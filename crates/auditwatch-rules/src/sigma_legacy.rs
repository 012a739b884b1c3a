//! Sigma 1 aggregations, rewritten as Sigma 2 correlations.
//!
//! Before correlation rules existed, Sigma put aggregations in the condition:
//! `selection | count() > 5`, `selection | count() by sourceIPAddress > 5`,
//! `selection | count(userName) by sourceIPAddress > 10`, `selection1 | near
//! selection2`, with the window in `detection.timeframe`. SigmaHQ moved such rules to
//! `unsupported/`, and today's parsers refuse their conditions. This module rewrites
//! one such document into a plain detection rule per selection plus a correlation
//! over them, which [`crate::sigma`] then loads like any Sigma 2 file:
//!
//! | legacy condition | correlation |
//! |---|---|
//! | `S \| count() [by G] OP N` | `event_count` over S, group-by G |
//! | `S \| count(F) [by G] OP N` | `value_count` of F over S, group-by G |
//! | `S1 \| near S2 [and S3 …]` | `temporal` over S1, S2, … |
//! | `S1 and S2 [and …]` with a `timeframe` | `temporal` over S1, S2, … |
//!
//! The last row is how SigmaHQ's own comment reads `aws_ses_messaging_enabled`: two
//! events that can never be one record, "correlated" within the timeframe. A legacy
//! rule without a `timeframe` gets [`DEFAULT_TIMEFRAME`]. The correlation keeps the
//! rule's id, title, author and level; its selections become rules with the id
//! `<id>:<selection>` that alert only through it.

use yaml_serde::{Mapping, Value};

/// The window of a legacy aggregation that names none.
pub const DEFAULT_TIMEFRAME: &str = "1h";

fn key(s: &str) -> Value {
    Value::String(s.to_string())
}

fn ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !matches!(s, "and" | "or" | "not" | "of" | "all" | "them")
}

/// What a legacy condition asks for.
#[derive(Debug, PartialEq)]
enum Aggregation {
    Count {
        selection: String,
        field: Option<String>,
        group_by: Vec<String>,
        op: &'static str,
        n: u64,
    },
    Temporal(Vec<String>),
}

fn parse_op(s: &str) -> Option<(&'static str, &str)> {
    for (sym, op) in [
        (">=", "gte"),
        ("<=", "lte"),
        ("==", "eq"),
        ("!=", "neq"),
        (">", "gt"),
        ("<", "lt"),
        ("=", "eq"),
    ] {
        if let Some(rest) = s.strip_prefix(sym) {
            return Some((op, rest));
        }
    }
    None
}

/// Reads `count([F]) [by G[, G2]] OP N`.
fn parse_count(selection: &str, s: &str) -> Result<Aggregation, String> {
    let inner = s
        .strip_prefix("count(")
        .ok_or_else(|| format!("aggregation `{s}`: only count() and near are known"))?;
    let (field, rest) = inner
        .split_once(')')
        .ok_or_else(|| format!("aggregation `{s}`: count( is not closed"))?;
    let field = field.trim();
    let mut rest = rest.trim();
    let mut group_by = Vec::new();
    if let Some(by) = rest.strip_prefix("by ") {
        let end = by.find(['>', '<', '=', '!']).unwrap_or(by.len());
        group_by = by[..end]
            .split(',')
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty())
            .collect();
        rest = by[end..].trim();
    }
    let (op, n) = parse_op(rest).ok_or_else(|| {
        format!("aggregation `{s}`: expected a comparison (>, >=, <, <=, ==, !=) and a number")
    })?;
    let n = n
        .trim()
        .parse()
        .map_err(|_| format!("aggregation `{s}`: `{}` is not a whole number", n.trim()))?;
    Ok(Aggregation::Count {
        selection: selection.to_string(),
        field: (!field.is_empty()).then(|| field.to_string()),
        group_by,
        op,
        n,
    })
}

/// The aggregation a condition asks for, `None` for a plain Sigma 2 condition.
fn aggregation(condition: &str, has_timeframe: bool) -> Result<Option<Aggregation>, String> {
    if let Some((left, right)) = condition.split_once('|') {
        let selection = left.trim();
        if !ident(selection) {
            return Err(format!(
                "aggregation over `{selection}`: only a single selection name may be aggregated"
            ));
        }
        let right = right.trim();
        if let Some(others) = right.strip_prefix("near ") {
            let mut names = vec![selection.to_string()];
            for n in others.split(" and ") {
                let n = n.trim();
                if !ident(n) {
                    return Err(format!(
                        "`near {others}`: only selection names joined by `and` are known"
                    ));
                }
                names.push(n.to_string());
            }
            return Ok(Some(Aggregation::Temporal(names)));
        }
        return parse_count(selection, right).map(Some);
    }
    if has_timeframe {
        let names: Vec<&str> = condition.split(" and ").map(str::trim).collect();
        if names.len() >= 2 && names.iter().all(|n| ident(n)) {
            return Ok(Some(Aggregation::Temporal(
                names.into_iter().map(str::to_string).collect(),
            )));
        }
    }
    Ok(None)
}

/// Rewrites one YAML document: `Ok(None)` when it is not a legacy aggregation (load
/// it as is), else the documents to load instead. `Err` names what is wrong.
pub fn upgrade(doc: &Value) -> Result<Option<Vec<Value>>, String> {
    let Some(rule) = doc.as_mapping() else {
        return Ok(None);
    };
    let Some(detection) = rule.get(key("detection")).and_then(Value::as_mapping) else {
        return Ok(None);
    };
    let Some(condition) = detection.get(key("condition")).and_then(Value::as_str) else {
        return Ok(None);
    };
    let timeframe = detection.get(key("timeframe")).and_then(Value::as_str);
    let Some(agg) = aggregation(condition.trim(), timeframe.is_some())? else {
        return Ok(None);
    };
    let id = rule
        .get(key("id"))
        .and_then(Value::as_str)
        .ok_or("a legacy aggregation needs the rule's `id`")?;
    let title = rule.get(key("title")).and_then(Value::as_str).unwrap_or(id);
    let selections: Vec<&str> = match &agg {
        Aggregation::Count { selection, .. } => vec![selection],
        Aggregation::Temporal(names) => names.iter().map(String::as_str).collect(),
    };
    let mut docs = Vec::new();
    let mut refs = Vec::new();
    for s in &selections {
        if !detection.contains_key(key(s)) {
            return Err(format!("the condition names `{s}`, which is not defined"));
        }
        let mut base = rule.clone();
        let mut det = detection.clone();
        det.remove(key("timeframe"));
        det.insert(key("condition"), key(s));
        base.insert(key("detection"), Value::Mapping(det));
        let base_id = format!("{id}:{s}");
        base.insert(key("id"), key(&base_id));
        base.insert(key("name"), key(&base_id));
        base.insert(key("title"), key(&format!("{title} ({s})")));
        refs.push(key(&base_id));
        docs.push(Value::Mapping(base));
    }
    let mut corr = Mapping::new();
    let (kind, field, group_by, op, n) = match agg {
        Aggregation::Count {
            field,
            group_by,
            op,
            n,
            ..
        } => (
            if field.is_some() {
                "value_count"
            } else {
                "event_count"
            },
            field,
            group_by,
            op,
            n,
        ),
        Aggregation::Temporal(names) => ("temporal", None, Vec::new(), "gte", names.len() as u64),
    };
    corr.insert(key("type"), key(kind));
    corr.insert(key("rules"), Value::Sequence(refs));
    if !group_by.is_empty() {
        corr.insert(
            key("group-by"),
            Value::Sequence(group_by.iter().map(|g| key(g)).collect()),
        );
    }
    corr.insert(key("timespan"), key(timeframe.unwrap_or(DEFAULT_TIMEFRAME)));
    let mut cond = Mapping::new();
    cond.insert(key(op), Value::Number(n.into()));
    if let Some(f) = field {
        cond.insert(key("field"), key(&f));
    }
    corr.insert(key("condition"), Value::Mapping(cond));
    let mut out = Mapping::new();
    for k in [
        "title",
        "id",
        "status",
        "description",
        "references",
        "author",
        "date",
        "modified",
        "tags",
        "falsepositives",
        "level",
    ] {
        if let Some(v) = rule.get(key(k)) {
            out.insert(key(k), v.clone());
        }
    }
    out.insert(key("correlation"), Value::Mapping(corr));
    docs.push(Value::Mapping(out));
    Ok(Some(docs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(yaml: &str) -> Result<Option<Vec<Value>>, String> {
        upgrade(&yaml_serde::from_str(yaml).unwrap())
    }

    fn corr(docs: &[Value]) -> &Mapping {
        docs.last().unwrap()["correlation"].as_mapping().unwrap()
    }

    #[test]
    fn conditions_are_read() {
        use Aggregation::*;
        assert_eq!(aggregation("selection", false), Ok(None));
        assert_eq!(aggregation("a and b", false), Ok(None));
        assert_eq!(
            aggregation("sel | count() by sourceIPAddress > 5", false),
            Ok(Some(Count {
                selection: "sel".into(),
                field: None,
                group_by: vec!["sourceIPAddress".into()],
                op: "gt",
                n: 5
            }))
        );
        assert_eq!(
            aggregation("s | count(userIdentity.arn) by a, b >= 3", false),
            Ok(Some(Count {
                selection: "s".into(),
                field: Some("userIdentity.arn".into()),
                group_by: vec!["a".into(), "b".into()],
                op: "gte",
                n: 3
            }))
        );
        assert_eq!(
            aggregation("s1 | near s2 and s3", false),
            Ok(Some(Temporal(vec!["s1".into(), "s2".into(), "s3".into()])))
        );
        assert_eq!(
            aggregation("s1 and s2", true),
            Ok(Some(Temporal(vec!["s1".into(), "s2".into()])))
        );
        assert_eq!(aggregation("s1 and not s2", true), Ok(None));
        assert!(
            aggregation("s | count() > many", false)
                .unwrap_err()
                .contains("`many` is not a whole number")
        );
        assert!(
            aggregation("s | sum(x) > 1", false)
                .unwrap_err()
                .contains("only count() and near")
        );
        assert!(
            aggregation("a or b | count() > 1", false)
                .unwrap_err()
                .contains("single selection")
        );
    }

    #[test]
    fn a_count_becomes_a_rule_and_a_correlation() {
        let docs = up("title: T\nid: abc\nauthor: Someone\nlevel: medium\n\
             logsource: {product: aws, service: cloudtrail}\n\
             detection:\n  selection: {eventName: x}\n  timeframe: 10m\n  \
             condition: selection | count() by sourceIPAddress > 5\n")
        .unwrap()
        .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["id"].as_str(), Some("abc:selection"));
        assert_eq!(
            docs[0]["detection"]["condition"].as_str(),
            Some("selection")
        );
        assert!(docs[0]["detection"].get("timeframe").is_none());
        let c = corr(&docs);
        assert_eq!(c["type"].as_str(), Some("event_count"));
        assert_eq!(c["timespan"].as_str(), Some("10m"));
        assert_eq!(c["group-by"][0].as_str(), Some("sourceIPAddress"));
        assert_eq!(c["condition"]["gt"].as_u64(), Some(5));
        assert_eq!(docs[1]["author"].as_str(), Some("Someone"));
        assert_eq!(docs[1]["id"].as_str(), Some("abc"));
    }

    #[test]
    fn near_without_timeframe_gets_the_default_and_unknown_names_are_refused() {
        let docs = up(
            "title: T\nid: n1\ndetection:\n  s1: {a: 1}\n  s2: {a: 2}\n  \
             condition: s1 | near s2\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(docs.len(), 3);
        let c = corr(&docs);
        assert_eq!(c["type"].as_str(), Some("temporal"));
        assert_eq!(c["timespan"].as_str(), Some(DEFAULT_TIMEFRAME));
        assert_eq!(c["rules"][1].as_str(), Some("n1:s2"));
        assert!(
            up("title: T\nid: n1\ndetection:\n  s1: {a: 1}\n  condition: s1 | near s9\n")
                .unwrap_err()
                .contains("`s9`, which is not defined")
        );
        assert!(
            up("title: T\ndetection:\n  s1: {a: 1}\n  condition: s1 | count() > 1\n")
                .unwrap_err()
                .contains("needs the rule's `id`")
        );
        assert_eq!(
            up("title: T\ndetection:\n  s: {a: 1}\n  condition: s\n").unwrap(),
            None
        );
    }
}

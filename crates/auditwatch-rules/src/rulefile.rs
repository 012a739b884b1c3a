//! Filter-pattern rule files: a JSON array of `{"id", "title", "filterPattern",
//! "level"}` (`control` and `name` are taken for `id`, `pattern` for
//! `filterPattern`, `severity` for `level`), the shape AWS's control lists use. A rule
//! that does not parse is reported with its file, position and reason; the others
//! still load.

use serde_json::Value;

use crate::pattern::Pattern;

/// One loaded rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its id (`CloudWatch.1`, …).
    pub id: String,
    /// What it detects.
    pub title: String,
    /// `informational`, `low`, `medium` (default), `high` or `critical`.
    pub level: String,
    /// The filter pattern.
    pub pattern: Pattern,
}

/// A rule that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: rule {index}{id}: {message}")]
pub struct RuleError {
    /// The file.
    pub origin: String,
    /// 1-based position in the file's array (0: the file itself).
    pub index: usize,
    /// ` (id)` when known.
    pub id: String,
    /// Why.
    pub message: String,
}

/// The levels a rule may have, lowest first.
pub const LEVELS: &[&str] = &["informational", "low", "medium", "high", "critical"];

/// Loads the rules of one file's text.
pub fn load(text: &str, origin: &str) -> (Vec<Rule>, Vec<RuleError>) {
    let error = |index, id: &str, message: String| RuleError {
        origin: origin.to_string(),
        index,
        id: if id.is_empty() {
            String::new()
        } else {
            format!(" ({id})")
        },
        message,
    };
    let entries = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(a)) => a,
        Ok(_) => {
            return (
                Vec::new(),
                vec![error(0, "", "expected a JSON array of rules".into())],
            );
        }
        Err(e) => return (Vec::new(), vec![error(0, "", format!("not JSON: {e}"))]),
    };
    let (mut rules, mut errors) = (Vec::new(), Vec::new());
    for (i, e) in entries.iter().enumerate() {
        let field = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| e.get(*n).and_then(Value::as_str))
                .map(str::to_string)
        };
        let id = field(&["id", "control", "name"]).unwrap_or_default();
        let Some(text) = field(&["filterPattern", "pattern"]) else {
            errors.push(error(i + 1, &id, "no filterPattern".into()));
            continue;
        };
        if id.is_empty() {
            errors.push(error(i + 1, "", "no id (or control, name)".into()));
            continue;
        }
        let level = field(&["level", "severity"])
            .unwrap_or_else(|| "medium".into())
            .to_ascii_lowercase();
        if !LEVELS.contains(&level.as_str()) {
            errors.push(error(
                i + 1,
                &id,
                format!("level `{level}`: one of {}", LEVELS.join(", ")),
            ));
            continue;
        }
        match Pattern::parse(&text) {
            Ok(pattern) => rules.push(Rule {
                title: field(&["title", "description"]).unwrap_or_else(|| id.clone()),
                id,
                level,
                pattern,
            }),
            Err(err) => errors.push(error(i + 1, &id, err.to_string())),
        }
    }
    (rules, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_load_and_bad_ones_are_named() {
        let (rules, errors) = load(
            r#"[{"control": "X.1", "title": "root", "filterPattern": "{ $.userIdentity.type = Root }"},
                {"id": "X.2", "filterPattern": "{ $.a = }"},
                {"id": "X.3", "filterPattern": "{ $.a = 1 }", "level": "urgent"},
                {"filterPattern": "{ $.a = 1 }"}]"#,
            "r.json",
        );
        assert_eq!(rules.len(), 1);
        assert_eq!(
            (rules[0].id.as_str(), rules[0].level.as_str()),
            ("X.1", "medium")
        );
        let msgs: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            msgs[0].starts_with("r.json: rule 2 (X.2): filter pattern, column"),
            "{msgs:?}"
        );
        assert!(msgs[1].contains("level `urgent`"));
        assert!(msgs[2].contains("rule 4: no id"));
        assert!(
            load("{}", "f").1[0]
                .to_string()
                .contains("expected a JSON array")
        );
    }
}

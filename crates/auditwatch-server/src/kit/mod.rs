//! The HTTP kit every feature builds on, and which imports no feature: routes with
//! their access policy ([`access`]), the caller ([`caller`]), errors ([`error`]), the
//! request guards ([`guard`]), JSON bodies ([`json`]), the page shell and formatting
//! ([`page`]), charts ([`chart`]), the audit-log entry of a change ([`audit`]),
//! blocking work off the async threads ([`blocking`]) and spreadsheet-safe cells
//! ([`csv`]).
//!
//! Data flows one way: `routes` assembles the features, features use the kit and
//! [`crate::query`], and nothing here reaches back up.

pub mod access;
pub mod audit;
pub mod blocking;
pub mod caller;
pub mod chart;
pub mod csv;
pub mod error;
pub mod guard;
pub mod json;
pub mod page;

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The `crate::…` names a file's code (not its comments or tests) uses.
    fn uses(file: &Path) -> Vec<String> {
        let text = std::fs::read_to_string(file).unwrap();
        let mut out = Vec::new();
        // Tests may use anything: the code above them is what counts.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '{')
                    .collect();
                if name.starts_with('{') {
                    // `use crate::{A, b::C}`: every name in the braces.
                    let inside = &rest[1..rest.find('}').unwrap_or(rest.len())];
                    out.extend(
                        inside
                            .split(',')
                            .map(|n| n.trim().split("::").next().unwrap_or_default().to_string()),
                    );
                } else {
                    out.push(name);
                }
            }
        }
        out
    }

    fn check(files: &[&str], allowed: &[&str]) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for f in files {
            for name in uses(&src.join(f)) {
                assert!(
                    name.is_empty() || allowed.contains(&name.as_str()),
                    "{f} uses crate::{name}: only {allowed:?} may be used there"
                );
            }
        }
    }

    /// The kit imports no feature: only itself, the query layer, the event view and
    /// the state and types the crate root re-exports.
    #[test]
    fn the_kit_imports_no_feature() {
        let kit = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/kit");
        let files: Vec<String> = std::fs::read_dir(&kit)
            .unwrap()
            .map(|e| format!("kit/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        assert!(files.len() >= 10, "{files:?}");
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let allowed = [
            "kit", "query", "view", "AppState", "ApiError", "Caller", "Role",
        ];
        check(&files, &allowed);
        // Below the kit: the query layer, the event view, the state and what it holds.
        // Every file of the query layer (listed, so that a new one is seen).
        let query = [
            "query/mod.rs",
            "query/form.rs",
            "query/fields.rs",
            "query/interval.rs",
            "query/metric_filter.rs",
        ];
        let in_folder = std::fs::read_dir(kit.with_file_name("query"))
            .unwrap()
            .count();
        assert_eq!(in_folder, query.len(), "list every file of src/query/ here");
        check(&query, &["ApiError", "AppState", "Caller", "query"]);
        check(&["view.rs"], &["ApiError"]);
        check(&["metrics/registry.rs", "signin/oidc/provider.rs"], &[]);
        check(&["state.rs"], &["metrics", "signin"]);
    }

    #[test]
    fn a_feature_in_the_kit_is_found() {
        let dir = std::env::temp_dir().join(format!("kit-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.rs");
        std::fs::write(&f, "// crate::alerts in a comment\nuse crate::{ApiError, alerts::note};\nlet x = crate::rules::y;\n").unwrap();
        assert_eq!(uses(&f), ["ApiError", "alerts", "rules"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Running the binary and reading its results.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The shared corpus, when present beside the project (else a recorded skip, or a
/// failure when fixtures are required: `auditwatch-fixtures`).
pub fn corpus() -> Option<PathBuf> {
    auditwatch_fixtures::corpus("")
}

/// Runs `auditwatch --data-dir DATA ARGS...`.
pub fn run(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_auditwatch"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("AUDITWATCH_CONFIG")
        .output()
        .expect("run auditwatch")
}

/// Runs and returns (exit code, stdout, stderr).
pub fn run_text(data: &Path, args: &[&str]) -> (i32, String, String) {
    let o = run(data, args);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Ingests `paths` and returns the JSON summary and the exit code.
pub fn ingest(data: &Path, paths: &[&Path]) -> (serde_json::Value, i32) {
    let mut args = vec!["ingest".to_string(), "--json".to_string()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = run_text(data, &args);
    let v = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("summary JSON: {e}\nstdout: {out}\nstderr: {err}"));
    (v, code)
}

/// Runs SQL and returns the rows.
pub fn sql(data: &Path, query: &str) -> Vec<serde_json::Value> {
    let (code, out, err) = run_text(data, &["sql", query, "--format", "json"]);
    assert_eq!(code, 0, "sql failed: {err}");
    serde_json::from_str::<Vec<serde_json::Value>>(&out).expect("sql JSON")
}

/// `SELECT count(*)` with a WHERE clause.
pub fn count(data: &Path, filter: &str) -> u64 {
    let rows = sql(data, &format!("SELECT count(*) AS n FROM events {filter}"));
    rows[0]["n"].as_u64().expect("count")
}

//! One million generated events: every count the lake gives equals the count the
//! test computes itself from the generated files.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::support::{ingest, run_text, sql};

/// The "User name" of CloudTrail Event history, computed independently of the product.
fn username(id: &serde_json::Value) -> Option<String> {
    let s = |k: &str| id[k].as_str().map(str::to_string);
    match id["type"].as_str()? {
        "IAMUser" => s("userName"),
        "Root" => Some("root".into()),
        "AssumedRole" => id["arn"]
            .as_str()
            .and_then(|a| a.rsplit('/').next())
            .map(str::to_string),
        "AWSService" => s("invokedBy"),
        _ => s("userName").or_else(|| s("principalId")),
    }
}

#[derive(Default)]
struct Expected {
    total: u64,
    by_user: HashMap<String, u64>,
    by_name: HashMap<String, u64>,
    by_account: HashMap<String, u64>,
    errors: HashMap<String, u64>,
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out)
        } else {
            out.push(p)
        }
    }
}

fn expected(dir: &Path) -> Expected {
    let mut files = Vec::new();
    walk(dir, &mut files);
    let mut x = Expected::default();
    for f in files {
        let account = f
            .to_string_lossy()
            .split("AWSLogs/")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(&f).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        for r in doc["Records"].as_array().unwrap() {
            x.total += 1;
            *x.by_user
                .entry(username(&r["userIdentity"]).unwrap_or_default())
                .or_default() += 1;
            *x.by_name
                .entry(r["eventName"].as_str().unwrap().to_string())
                .or_default() += 1;
            *x.by_account.entry(account.clone()).or_default() += 1;
            if let Some(e) = r["errorCode"].as_str() {
                *x.errors.entry(e.to_string()).or_default() += 1;
            }
        }
    }
    x
}

fn grouped(data: &Path, column: &str, filter: &str) -> HashMap<String, u64> {
    sql(
        data,
        &format!("SELECT {column} AS k, count(*) AS n FROM events {filter} GROUP BY 1"),
    )
    .into_iter()
    .map(|r| {
        (
            r["k"].as_str().unwrap_or_default().to_string(),
            r["n"].as_u64().unwrap(),
        )
    })
    .collect()
}

#[test]
fn a_million_generated_events_match_independent_counts() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("gen");
    let data = dir.path().join("data");
    let (code, _, err) = run_text(
        &data,
        &[
            "generate",
            "--out",
            input.to_str().unwrap(),
            "--events",
            "1000000",
            "--seed",
            "3",
            "--end",
            "2024-07-01",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let want = expected(&input);
    assert_eq!(want.total, 1_000_000);
    let (s, code) = ingest(&data, &[&input]);
    assert_eq!(code, 0);
    assert_eq!(s["events_added"], 1_000_000);

    assert_eq!(grouped(&data, "username", ""), want.by_user);
    assert_eq!(grouped(&data, "\"eventName\"", ""), want.by_name);
    assert_eq!(grouped(&data, "\"accountId\"", ""), want.by_account);
    assert_eq!(
        grouped(&data, "\"errorCode\"", "WHERE \"errorCode\" IS NOT NULL"),
        want.errors
    );
    assert!(
        want.by_name.len() > 150,
        "~200 event names: {}",
        want.by_name.len()
    );

    // Lookups agree with the counts: a rare user's events, all of them, page by page.
    let (user, n) = want
        .by_user
        .iter()
        .filter(|(_, n)| **n >= 150)
        .min_by_key(|(u, n)| (**n, u.as_str()))
        .expect("a user with 150+ events");
    let mut seen = 0;
    let mut token: Option<String> = None;
    loop {
        let mut args = vec![
            "lookup".to_string(),
            "--attribute".into(),
            format!("Username={user}"),
            "--max-results".into(),
            "100".into(),
            "--format".into(),
            "ndjson".into(),
        ];
        if let Some(t) = &token {
            args.extend(["--next-token".into(), t.clone()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = run_text(&data, &args);
        assert_eq!(code, 0, "{err}");
        seen += out.lines().count() as u64;
        match err.split("--next-token ").nth(1) {
            Some(t) => token = Some(t.trim().to_string()),
            None => break,
        }
    }
    assert_eq!(seen, *n, "lookup pages for {user}");

    // Re-ingesting the same folder adds nothing.
    let (s, _) = ingest(&data, &[&input]);
    assert_eq!(
        (s["events_added"].as_u64(), s["files_unchanged"].as_u64()),
        (Some(0), Some(1000))
    );
}

//! Conformance over the real third-party samples in ../shared/corpus (skipped when
//! the folder is absent).

use std::collections::HashSet;
use std::path::Path;

use crate::support::{corpus, count, ingest};

fn records_in(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Array(a)) => a,
        Ok(v) => v["Records"].as_array().cloned().unwrap_or_default(),
        Err(_) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    }
}

/// Distinct (day, eventID) pairs: the identity the lake keeps.
fn distinct(records: &[serde_json::Value]) -> usize {
    let set: HashSet<(String, String)> = records
        .iter()
        .map(|r| {
            let t = r["eventTime"]
                .as_str()
                .or(r["@timestamp"].as_str())
                .unwrap_or("");
            (
                t.get(..10).unwrap_or("").to_string(),
                r["eventID"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    set.len()
}

#[test]
fn every_real_sample_ingests_with_the_expected_number_of_events() {
    let Some(root) = corpus() else {
        return;
    };
    let cases = [
        "stratus-red-team",
        "grycap-cloudtrail-tracker/sample-cloudtrail-event.json",
        "otrf-security-datasets/ec2_proxy_s3_exfiltration_2020-09-14011940.json",
        "panther-analysis/test_scenarios",
    ];
    for case in cases {
        let path = root.join(case);
        let files: Vec<std::path::PathBuf> = if path.is_dir() {
            let mut v: Vec<_> = std::fs::read_dir(&path)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            v.sort();
            v
        } else {
            vec![path.clone()]
        };
        let records: Vec<serde_json::Value> = files.iter().flat_map(|f| records_in(f)).collect();
        let dir = tempfile::tempdir().unwrap();
        let (s, code) = ingest(dir.path(), &[&path]);
        assert_eq!(code, 0, "{case}: {s}");
        assert_eq!(
            s["events_read"].as_u64(),
            Some(records.len() as u64),
            "{case}"
        );
        assert_eq!(s["records_rejected"], 0, "{case}");
        assert_eq!(count(dir.path(), ""), distinct(&records) as u64, "{case}");
    }
}

#[test]
fn stratus_usernames_and_accounts_are_derived() {
    let Some(root) = corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), &[&root.join("stratus-red-team")]);
    assert_eq!(
        count(
            dir.path(),
            "WHERE username IS NULL AND \"userIdentity\".type IN ('IAMUser','AssumedRole','Root')"
        ),
        0
    );
    assert_eq!(count(dir.path(), "WHERE \"accountId\" IS NULL"), 0);
}

#[test]
fn robustness_fixtures_and_malformed_examples_fail_per_record_never_panic() {
    let Some(root) = corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (s, code) = ingest(
        dir.path(),
        &[&root.join("aws-cloudtrail-processing-library")],
    );
    assert_eq!(code, 2);
    assert_eq!(s["files_read"], 13);
    let problems = s["problems"].as_array().unwrap();
    let text = serde_json::to_string(problems).unwrap();
    assert!(
        text.contains("SerializerTestFileBadJsonFormat.json#record"),
        "{text}"
    );
    assert!(text.contains("ThisIsAWrongEventTime"), "{text}");
    // Unknown fields in every position are kept: the record text survives verbatim.
    assert!(
        count(
            dir.path(),
            "WHERE raw LIKE '%newField%' OR raw LIKE '%NewField%'"
        ) > 0
    );

    let dir = tempfile::tempdir().unwrap();
    let (s, code) = ingest(
        dir.path(),
        &[&root.join("awsdocs-cloudtrail-user-guide/examples")],
    );
    assert_eq!(code, 2);
    let text = serde_json::to_string(&s["problems"]).unwrap();
    assert!(
        text.contains("cloudtrail-log-file-examples__06.json#record 0"),
        "control character: {text}"
    );
    assert!(text.contains("control character"), "{text}");
    // The two digest examples are recognised as digests and skipped.
    assert_eq!(s["files_skipped"], 2, "{s}");
    assert!(count(dir.path(), "") > 10);
}

//! `auditwatch hunt` over stored events with filter-pattern rule files: ours, and the
//! Security Hub control list of the shared corpus (when present).

use serde_json::json;

use crate::support::{corpus, ingest, run_text};

fn record(id: &str, time: &str, name: &str, extra: serde_json::Value) -> String {
    let mut r = serde_json::json!({
        "eventVersion": "1.08", "eventID": id, "eventTime": time, "eventType": "AwsApiCall",
        "eventSource": "iam.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userIdentity": {"type": "IAMUser", "userName": "alice", "arn": "arn:aws:iam::111122223333:user/alice"},
        "recipientAccountId": "111122223333"
    });
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r.to_string()
}

#[test]
fn hunt_prints_a_timeline_of_rule_matches() {
    let dir = tempfile::tempdir().unwrap();
    let (input, data) = (dir.path().join("in"), dir.path().join("data"));
    std::fs::create_dir_all(&input).unwrap();
    let records = [
        record(
            "e1",
            "2024-05-01T10:00:00Z",
            "ConsoleLogin",
            json!({"userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root"},
                   "responseElements": {"ConsoleLogin": "Success"}}),
        ),
        record(
            "e2",
            "2024-05-02T10:00:00Z",
            "StopLogging",
            json!({"eventSource": "cloudtrail.amazonaws.com"}),
        ),
        record("e3", "2024-05-03T10:00:00Z", "PutUserPolicy", json!({})),
        record(
            "e4",
            "2024-05-04T10:00:00Z",
            "GetUser",
            json!({"errorCode": "AccessDenied"}),
        ),
        record("e5", "2024-05-05T10:00:00Z", "GetUser", json!({})),
    ];
    std::fs::write(
        input.join("a.json"),
        format!("{{\"Records\":[{}]}}", records.join(",")),
    )
    .unwrap();
    let (s, code) = ingest(&data, &[&input]);
    assert_eq!((code, s["events_added"].as_u64()), (0, Some(5)));
    let rules = dir.path().join("rules.json");
    std::fs::write(
        &rules,
        r#"[{"id": "root", "title": "root activity", "filterPattern": "{ $.userIdentity.type = \"Root\" }", "level": "high"},
            {"id": "trail-off", "filterPattern": "{ ($.eventSource = cloudtrail.amazonaws.com) && ($.eventName = StopLogging) }", "level": "critical"},
            {"id": "denied", "filterPattern": "{ $.errorCode = \"AccessDenied*\" }"},
            {"id": "broken", "filterPattern": "{ $.eventName = }"}]"#,
    )
    .unwrap();
    let r = rules.display().to_string();
    let (code, out, err) = run_text(&data, &["hunt", "--rules", &r, "--format", "json"]);
    assert_eq!(code, 2, "a rule was rejected: {err}");
    assert!(
        err.contains("rule 4 (broken): filter pattern, column"),
        "{err}"
    );
    assert!(err.contains("3 rules over 5 events"), "{err}");
    let hits: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let seen: Vec<(&str, &str, &str)> = hits
        .iter()
        .map(|h| {
            (
                h["rule"].as_str().unwrap(),
                h["eventID"].as_str().unwrap(),
                h["level"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("root", "e1", "high"),
            ("trail-off", "e2", "critical"),
            ("denied", "e4", "medium")
        ]
    );
    assert_eq!(hits[0]["time"], "2024-05-01T10:00:00Z");
    assert_eq!(hits[1]["user"], "alice");
    // A window.
    let (_, out, _) = run_text(
        &data,
        &[
            "hunt",
            "--rules",
            &r,
            "--start",
            "2024-05-02",
            "--end",
            "2024-05-03",
            "--format",
            "json",
        ],
    );
    let hits: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(hits.len(), 1);
    // The Security Hub control list, as AWS publishes it, runs as a rule file too.
    if let Some(c) = corpus() {
        let f = c.join(
            "awsdocs-cloudwatch-metric-filters/securityhub-cis-cloudwatch-metric-filters.json",
        );
        let (code, out, err) = run_text(
            &data,
            &[
                "hunt",
                "--rules",
                &f.display().to_string(),
                "--format",
                "json",
            ],
        );
        assert_eq!(code, 0, "{err}");
        let hits: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        let seen: Vec<(&str, &str)> = hits
            .iter()
            .map(|h| (h["rule"].as_str().unwrap(), h["eventID"].as_str().unwrap()))
            .collect();
        assert_eq!(
            seen,
            [
                ("CloudWatch.1", "e1"),
                ("CloudWatch.5", "e2"),
                ("CloudWatch.4", "e3"),
                ("CloudWatch.2", "e4")
            ]
        );
    }
    // The built-in packs: Security Hub's variants match the same four; CIS 4.1's
    // `||`-ed `!=` terms make it match every record, as the benchmark's text does.
    let (code, out, err) = run_text(
        &data,
        &["hunt", "--rules", "builtin:securityhub", "--format", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let hits: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = hits
        .iter()
        .map(|h| h["eventID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["e1", "e2", "e3", "e4"]);
    let (code, out, err) = run_text(
        &data,
        &["hunt", "--rules", "builtin:cis", "--format", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let hits: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let cis41 = hits.iter().filter(|h| h["rule"] == "CIS.4.1").count();
    let cis43: Vec<&str> = hits
        .iter()
        .filter(|h| h["rule"] == "CIS.4.3")
        .map(|h| h["eventID"].as_str().unwrap())
        .collect();
    assert_eq!((cis41, cis43), (5, vec!["e1"]));
    // Missing files and unknown packs are named.
    let (code, _, err) = run_text(&data, &["hunt", "--rules", "builtin:nist"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("builtin:nist: no such built-in pack (there are: cis, securityhub)"),
        "{err}"
    );
    let (code, _, err) = run_text(&data, &["hunt", "--rules", "nope.json"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("nope.json: no such rule file or folder"),
        "{err}"
    );
}

#[test]
fn hunting_on_typed_columns_answers_as_the_exact_text_does() {
    let dir = tempfile::tempdir().unwrap();
    let (input, data) = (dir.path().join("in"), dir.path().join("data"));
    std::fs::create_dir_all(&input).unwrap();
    let root = |id: &str, time: &str, identity: serde_json::Value| {
        record(id, time, "GetUser", json!({ "userIdentity": identity }))
    };
    let records = [
        // Root, no invokedBy: CIS 4.3 (`invokedBy NOT EXISTS`).
        root("r1", "2024-05-01T10:00:00Z", json!({"type": "Root"})),
        // An explicit null exists: not 4.3, though its column is null like r1's.
        root(
            "r2",
            "2024-05-01T11:00:00Z",
            json!({"type": "Root", "invokedBy": null}),
        ),
        root(
            "r3",
            "2024-05-02T10:00:00Z",
            json!({"type": "Root", "invokedBy": "support.amazonaws.com"}),
        ),
        // A Sigma field compared with another (`fieldref`) inside a payload.
        record(
            "f1",
            "2024-05-02T11:00:00Z",
            "UpdateLoginProfile",
            json!({"requestParameters": {"userName": "alice"}}),
        ),
        record(
            "f2",
            "2024-05-03T11:00:00Z",
            "UpdateLoginProfile",
            json!({"requestParameters": {"userName": "bob"}}),
        ),
    ];
    std::fs::write(
        input.join("a.json"),
        format!("{{\"Records\":[{}]}}", records.join(",")),
    )
    .unwrap();
    let (_, code) = ingest(&data, &[&input]);
    assert_eq!(code, 0);
    let sigma = dir.path().join("self.yml");
    std::fs::write(
        &sigma,
        "title: Own login profile\nid: own-profile\nlevel: medium\n\
         logsource: {product: aws, service: cloudtrail}\n\
         detection:\n  sel:\n    eventName: UpdateLoginProfile\n    \
         userIdentity.userName|fieldref: requestParameters.userName\n  condition: sel\n",
    )
    .unwrap();
    let s = sigma.display().to_string();
    let args = [
        "hunt",
        "--rules",
        "builtin:cis",
        "--rules",
        &s,
        "--format",
        "ndjson",
    ];
    let (code, typed, err) = run_text(&data, &args);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("reading typed columns, not each record's text: the rules read only ")
            && err.contains("requestParameters")
            && err.contains("userIdentity"),
        "{err}"
    );
    let exact_args: Vec<&str> = args.iter().copied().chain(["--exact-text"]).collect();
    let (code, exact, err) = run_text(&data, &exact_args);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("reading each record's exact text: --exact-text"),
        "{err}"
    );
    assert_eq!(typed, exact);
    let lines: Vec<serde_json::Value> = typed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |rule: &str| -> Vec<&str> {
        lines
            .iter()
            .filter(|h| h["rule"] == rule)
            .map(|h| h["eventID"].as_str().unwrap())
            .collect()
    };
    assert_eq!(of("CIS.4.3"), ["r1"]);
    assert_eq!(of("own-profile"), ["f1"]);
    assert_eq!(of("CIS.4.1").len(), 5);
}

#[test]
fn a_relative_data_directory_is_queried_like_an_absolute_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    std::fs::write(
        dir.path().join("in/a.json"),
        format!(
            "{{\"Records\":[{}]}}",
            record("rel-1", "2024-05-01T10:00:00Z", "GetUser", json!({}))
        ),
    )
    .unwrap();
    let aw = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_auditwatch"))
            .current_dir(dir.path())
            .args(["--data-dir", "data"])
            .args(args)
            .env_remove("AUDITWATCH_DATA_DIR")
            .env_remove("AUDITWATCH_CONFIG")
            .output()
            .unwrap()
    };
    assert!(aw(&["ingest", "in"]).status.success());
    let out = aw(&["sql", "SELECT eventID FROM events", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("rel-1"));
}

/// Every built-in pattern and every SigmaHQ CloudTrail rule (with the legacy
/// aggregations, run as correlations) over generated events, the corpus's real
/// samples and records made to reach each way a rule is decided: the default hunt
/// (key values through a memo, prefilters, rules alone on column views, the text for
/// what only it holds) prints exactly what evaluating every rule on every record's
/// text prints.
#[test]
fn every_rule_decides_as_on_the_exact_text() {
    let Some(root) = corpus() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (input, generated, data) = (
        dir.path().join("in"),
        dir.path().join("gen"),
        dir.path().join("data"),
    );
    std::fs::create_dir_all(&input).unwrap();
    let (code, _, err) = run_text(
        &data,
        &[
            "generate",
            "--out",
            generated.to_str().unwrap(),
            "--events",
            "40000",
            "--seed",
            "7",
            "--end",
            "2024-05-03",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let at = "2024-05-01T12:00:00Z";
    let role = json!({"type": "AssumedRole",
        "arn": "arn:aws:sts::111122223333:assumed-role/aws:ec2-instance/i-0abc",
        "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "r"}}});
    let records = [
        // `status`, which only the text holds (a rule reads it).
        record("t1", at, "DeleteSAMLProvider", json!({"status": "success"})),
        record("t2", at, "DeleteSAMLProvider", json!({})),
        // Sigma matches case-insensitively; patterns do not.
        record("c1", at, "deletesamlprovider", json!({"status": "SUCCESS"})),
        record(
            "c2",
            at,
            "stoplogging",
            json!({"eventSource": "cloudtrail.amazonaws.com"}),
        ),
        // A regex on the ARN and a filter on the source address (column views).
        record(
            "v1",
            at,
            "DescribeInstances",
            json!({"eventSource": "ec2.amazonaws.com", "userIdentity": role}),
        ),
        record(
            "v2",
            at,
            "DescribeInstances",
            json!({"eventSource": "ec2.amazonaws.com", "userIdentity": role,
                   "sourceIPAddress": "AWS Internal"}),
        ),
        record(
            "v3",
            at,
            "GetCallerIdentity",
            json!({"eventSource": "sts.amazonaws.com", "userAgent": "TruffleHog"}),
        ),
        // Payloads: a prefix prefilter, an object searched as text, sign-ins.
        record(
            "p1",
            at,
            "UpdateFunctionConfiguration20150331v2",
            json!({"eventSource": "lambda.amazonaws.com",
                   "requestParameters": {"layers": ["arn:aws:lambda:us-east-1:1:layer:x:1"]}}),
        ),
        record(
            "p2",
            at,
            "PutBucketVersioning",
            json!({"eventSource": "s3.amazonaws.com",
                   "requestParameters": {"VersioningConfiguration": {"Status": "Suspended"}}}),
        ),
        record(
            "p3",
            at,
            "ConsoleLogin",
            json!({"eventSource": "signin.amazonaws.com",
                   "responseElements": {"ConsoleLogin": "Success"},
                   "additionalEventData": {"MFAUsed": "No"}}),
        ),
        record(
            "p4",
            at,
            "ConsoleLogin",
            json!({"eventSource": "signin.amazonaws.com", "errorMessage": "Failed authentication",
                   "responseElements": {"ConsoleLogin": "Failure"}}),
        ),
        // Root with and without invokedBy, and with it null (patterns that tell
        // null from absent are checked on the text).
        record(
            "r1",
            at,
            "GetUser",
            json!({"userIdentity": {"type": "Root"}}),
        ),
        record(
            "r2",
            at,
            "GetUser",
            json!({"userIdentity": {"type": "Root", "invokedBy": null}}),
        ),
        // Text the timeline must escape.
        record(
            "q\"1",
            at,
            "GetUser",
            json!({"userIdentity": {"type": "IAMUser", "userName": "o\"brien\\\n"},
                   "errorCode": "AccessDenied"}),
        ),
    ];
    std::fs::write(
        input.join("made.json"),
        format!("{{\"Records\":[{}]}}", records.join(",")),
    )
    .unwrap();
    let samples = [
        root.join("stratus-red-team"),
        root.join("otrf-security-datasets/ec2_proxy_s3_exfiltration_2020-09-14011940.json"),
        root.join("panther-analysis/test_scenarios"),
    ];
    let mut paths: Vec<&std::path::Path> = vec![&input, &generated];
    paths.extend(samples.iter().map(|p| p.as_path()));
    let (_, code) = ingest(&data, &paths);
    assert_eq!(code, 0);
    let sigma = root.join("sigmahq/rules/cloud/aws/cloudtrail");
    let legacy = root.join("sigmahq/unsupported/cloud");
    let (sigma, legacy) = (sigma.display().to_string(), legacy.display().to_string());
    let args = [
        "hunt",
        "--rules",
        "builtin:cis",
        "--rules",
        "builtin:securityhub",
        "--rules",
        &sigma,
        "--rules",
        &legacy,
        "--format",
        "ndjson",
    ];
    let (code, typed, err) = run_text(&data, &args);
    assert!(code == 0 || code == 2, "{err}");
    assert!(
        err.contains("reading typed columns, not each record's text")
            && err.contains("the text of the events their prefilter admits"),
        "{err}"
    );
    let exact_args: Vec<&str> = args.iter().copied().chain(["--exact-text"]).collect();
    let (_, exact, _) = run_text(&data, &exact_args);
    let (typed, exact): (Vec<&str>, Vec<&str>) = (typed.lines().collect(), exact.lines().collect());
    assert_eq!(typed.len(), exact.len());
    for (n, (t, e)) in typed.iter().zip(&exact).enumerate() {
        assert_eq!(t, e, "line {n}");
    }
    let lines: Vec<serde_json::Value> = typed
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rules: std::collections::BTreeSet<&str> =
        lines.iter().filter_map(|l| l["rule"].as_str()).collect();
    assert!(
        rules.len() >= 30,
        "only {} rules matched: {rules:?}",
        rules.len()
    );
    let of = |id: &str| -> Vec<&str> {
        let mut v: Vec<&str> = lines
            .iter()
            .filter(|l| l["eventID"] == id)
            .map(|l| l["title"].as_str().unwrap())
            .collect();
        v.sort();
        v
    };
    assert!(
        of("t1").contains(&"AWS SAML Provider Deletion Activity"),
        "{:?}",
        of("t1")
    );
    assert!(!of("t2").contains(&"AWS SAML Provider Deletion Activity"));
    assert!(of("c1").contains(&"AWS SAML Provider Deletion Activity"));
    assert!(
        of("v1")
            .iter()
            .any(|t| t.starts_with("Malicious Usage Of IMDS"))
    );
    assert!(
        !of("v2")
            .iter()
            .any(|t| t.starts_with("Malicious Usage Of IMDS"))
    );
    assert!(of("v3").iter().any(|t| t.contains("TruffleHog")));
    assert!(of("p1").contains(&"AWS New Lambda Layer Attached"));
    assert!(
        of("q\"1").iter().any(|t| t.contains("Unauthorized")),
        "{:?}",
        of("q\"1")
    );
}

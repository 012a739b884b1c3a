//! Table-driven from AWS's own text (in the shared corpus; see `auditwatch-fixtures` for when it is absent): every
//! JSON example of the "Filter and pattern syntax" page against the page's example
//! events, with the verdict its heading states, and every Security Hub / CIS control
//! pattern against CloudTrail records written here.

use std::path::PathBuf;

use auditwatch_rules::Pattern;
use serde_json::{Value, json};

fn corpus() -> Option<PathBuf> {
    auditwatch_fixtures::corpus("awsdocs-cloudwatch-metric-filters")
}

/// The code blocks of the JSON part of the page, each with the last example heading
/// before it.
fn blocks(page: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let (mut heading, mut block, mut inside) = (String::new(), String::new(), false);
    for line in page.lines() {
        if line.starts_with("## ") && line.contains("space\\-delimited") {
            break;
        }
        if line.trim() == "```" {
            if inside {
                out.push((heading.clone(), std::mem::take(&mut block)));
            }
            inside = !inside;
            continue;
        }
        if inside {
            block.push_str(line);
            block.push('\n');
        } else if let Some(h) = line.strip_prefix("**Example: ") {
            heading = h.trim_end_matches("**").replace('\\', "");
        }
    }
    out
}

#[test]
fn every_json_example_of_the_aws_syntax_page() {
    let Some(dir) = corpus() else {
        return;
    };
    let page = std::fs::read_to_string(dir.join("FilterAndPatternSyntax.md")).unwrap();
    let mut event: Option<Value> = None;
    let (mut parsed, mut evaluated) = (0, 0);
    for (heading, block) in blocks(&page) {
        if let Ok(v) = serde_json::from_str::<Value>(&block) {
            event = Some(v);
            continue;
        }
        let patterns: Vec<&str> = block
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with('{') && !l.contains("Selector"))
            .collect();
        for text in &patterns {
            let p = Pattern::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            parsed += 1;
            // A block with one pattern under a heading that states a verdict.
            if patterns.len() == 1
                && let Some(e) = &event
                && heading.contains("match")
                && !heading.contains("Metric filters that match")
            {
                let expected = !heading.contains("doesn't match");
                assert_eq!(p.matches(e), expected, "{heading}: {text}");
                evaluated += 1;
            }
        }
    }
    assert!(parsed >= 18, "only {parsed} patterns found on the page");
    assert!(evaluated >= 9, "only {evaluated} examples evaluated");
}

fn record(fields: Value) -> Value {
    let mut r = json!({
        "eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z", "eventType": "AwsApiCall",
        "eventSource": "iam.amazonaws.com", "eventName": "GetUser", "awsRegion": "us-east-1",
        "userIdentity": {"type": "IAMUser", "userName": "alice", "arn": "arn:aws:iam::111122223333:user/alice"},
        "recipientAccountId": "111122223333"
    });
    for (k, v) in fields.as_object().unwrap() {
        let mut target = &mut r;
        let parts: Vec<&str> = k.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            target = target
                .as_object_mut()
                .unwrap()
                .entry(*p)
                .or_insert_with(|| json!({}));
        }
        target[parts[parts.len() - 1]] = v.clone();
    }
    r
}

#[test]
fn security_hub_and_cis_patterns_match_what_they_describe() {
    let Some(dir) = corpus() else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("securityhub-cis-cloudwatch-metric-filters.json"))
        .unwrap();
    let controls: Vec<Value> = serde_json::from_str(&text).unwrap();
    let pattern = |id: &str| -> Pattern {
        let c = controls.iter().find(|c| c["control"] == id).unwrap();
        Pattern::parse(c["filterPattern"].as_str().unwrap()).unwrap()
    };
    for c in &controls {
        Pattern::parse(c["filterPattern"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", c["control"]));
    }
    assert_eq!(controls.len(), 14);
    let cases: Vec<(&str, Value, bool)> = vec![
        ("CloudWatch.1", json!({"userIdentity.type": "Root"}), true),
        (
            "CloudWatch.1",
            json!({"userIdentity.type": "Root", "userIdentity.invokedBy": "s3.amazonaws.com"}),
            false,
        ),
        (
            "CloudWatch.1",
            json!({"userIdentity.type": "Root", "eventType": "AwsServiceEvent"}),
            false,
        ),
        ("CloudWatch.1", json!({}), false),
        (
            "CloudWatch.2",
            json!({"errorCode": "Client.UnauthorizedOperation"}),
            true,
        ),
        ("CloudWatch.2", json!({"errorCode": "AccessDenied"}), true),
        (
            "CloudWatch.2",
            json!({"errorCode": "ThrottlingException"}),
            false,
        ),
        (
            "CloudWatch.3",
            json!({"eventName": "ConsoleLogin", "additionalEventData.MFAUsed": "No",
                                "responseElements.ConsoleLogin": "Success"}),
            true,
        ),
        (
            "CloudWatch.3",
            json!({"eventName": "ConsoleLogin", "additionalEventData.MFAUsed": "Yes",
                                "responseElements.ConsoleLogin": "Success"}),
            false,
        ),
        ("CloudWatch.4", json!({"eventName": "PutUserPolicy"}), true),
        ("CloudWatch.4", json!({"eventName": "GetUserPolicy"}), false),
        ("CloudWatch.5", json!({"eventName": "StopLogging"}), true),
        (
            "CloudWatch.6",
            json!({"eventName": "ConsoleLogin", "errorMessage": "Failed authentication"}),
            true,
        ),
        (
            "CloudWatch.7",
            json!({"eventSource": "kms.amazonaws.com", "eventName": "ScheduleKeyDeletion"}),
            true,
        ),
        (
            "CloudWatch.7",
            json!({"eventSource": "kms.amazonaws.com", "eventName": "Decrypt"}),
            false,
        ),
        (
            "CloudWatch.7",
            json!({"eventSource": "iam.amazonaws.com", "eventName": "DisableKey"}),
            false,
        ),
        (
            "CloudWatch.8",
            json!({"eventSource": "s3.amazonaws.com", "eventName": "PutBucketPolicy"}),
            true,
        ),
        (
            "CloudWatch.10",
            json!({"eventName": "AuthorizeSecurityGroupIngress"}),
            true,
        ),
        ("CloudWatch.14", json!({"eventName": "CreateVpc"}), true),
    ];
    for (id, fields, expected) in cases {
        let r = record(fields.clone());
        assert_eq!(pattern(id).matches(&r), expected, "{id} on {fields}");
    }
}

#[test]
fn semantics_beyond_the_examples() {
    let e = json!({"n": 5, "neg": -2.5, "s": "400", "b": true, "f": false, "z": null,
                   "o": {"k": "v"}, "a": ["x", {"id": 7}], "name": "TopSecretInfo-abc"});
    let m = |p: &str| {
        Pattern::parse(p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .matches(&e)
    };
    // Numbers: sign, decimals, exponent; numeric comparison on JSON numbers only.
    assert!(m("{ $.n = 5 }") && m("{ $.n = 5.0 }") && m("{ $.n = 5e0 }") && m("{ $.n >= 5 }"));
    assert!(m("{ $.neg < -2 }") && m("{ $.neg > -2.6 }") && !m("{ $.neg > -2.5 }"));
    assert!(m("{ $.s = 400 }") && !m("{ $.s > 300 }"));
    // Booleans and null.
    assert!(m("{ $.b IS TRUE }") && m("{ $.f IS FALSE }") && !m("{ $.b IS FALSE }"));
    assert!(m("{ $.z IS NULL }") && !m("{ $.n IS NULL }") && !m("{ $.missing IS NULL }"));
    // Missing fields: only NOT EXISTS matches; `!=` does not.
    assert!(
        m("{ $.missing NOT EXISTS }") && !m("{ $.n NOT EXISTS }") && !m("{ $.missing != \"x\" }")
    );
    // Objects and arrays never match a comparison.
    assert!(
        !m("{ $.o = \"*\" }")
            && !m("{ $.a != \"x\" }")
            && m("{ $.a[1].id = 7 }")
            && m("{ $.o.k = v }")
    );
    // Regular expressions, found anywhere in the value; case-sensitive.
    assert!(m("{ $.name = %^TopSecret% }") && !m("{ $.name = %^topsecret% }"));
    assert!(m("{ $.name = \"TopSecret*\" }") && !m("{ $.name = \"topsecret*\" }"));
    // && binds tighter than ||.
    assert!(m("{ $.n = 1 && $.n = 2 || $.n = 5 }"));
    assert!(!m("{ $.n = 1 && ($.n = 2 || $.n = 5) }"));
}

/// Records that tell the control patterns apart: every event name any of them names,
/// from every service they name, plus the root, error-code and sign-in cases.
fn probes(patterns: &[String]) -> Vec<Value> {
    let mut names: Vec<String> = Vec::new();
    for p in patterns {
        for part in p.split("eventName").skip(1) {
            let v: String = part
                .trim_start_matches([' ', '=', '"'])
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if !v.is_empty() && !names.contains(&v) {
                names.push(v);
            }
        }
    }
    let sources = [
        "kms.amazonaws.com",
        "s3.amazonaws.com",
        "config.amazonaws.com",
        "ec2.amazonaws.com",
        "organizations.amazonaws.com",
        "iam.amazonaws.com",
    ];
    let mut out = Vec::new();
    for n in &names {
        for s in sources {
            out.push(
                json!({"eventName": n, "eventSource": s, "eventType": "AwsApiCall",
                "userIdentity": {"type": "IAMUser"}}),
            );
        }
    }
    for (kind, invoked, event_type) in [
        ("Root", None, "AwsApiCall"),
        ("Root", Some("s3.amazonaws.com"), "AwsApiCall"),
        ("Root", None, "AwsServiceEvent"),
        ("IAMUser", None, "AwsApiCall"),
    ] {
        let mut id = json!({"type": kind});
        if let Some(i) = invoked {
            id["invokedBy"] = json!(i);
        }
        out.push(json!({"eventName": "ListBuckets", "userIdentity": id, "eventType": event_type}));
    }
    for code in [
        "Client.UnauthorizedOperation",
        "AccessDenied",
        "AccessDeniedException",
        "ThrottlingException",
    ] {
        out.push(json!({"eventName": "GetObject", "errorCode": code}));
    }
    for (mfa, kind, result, error) in [
        ("No", "IAMUser", "Success", None),
        ("Yes", "IAMUser", "Success", None),
        ("No", "Root", "Success", None),
        ("No", "IAMUser", "Failure", Some("Failed authentication")),
    ] {
        let mut e = json!({"eventName": "ConsoleLogin", "additionalEventData": {"MFAUsed": mfa},
            "userIdentity": {"type": kind}, "responseElements": {"ConsoleLogin": result}});
        if let Some(m) = error {
            e["errorMessage"] = json!(m);
        }
        out.push(e);
    }
    out
}

#[test]
fn the_security_hub_pack_matches_what_aws_publishes() {
    let Some(dir) = corpus() else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("securityhub-cis-cloudwatch-metric-filters.json"))
        .unwrap();
    let published: Vec<Value> = serde_json::from_str(&text).unwrap();
    let pack = auditwatch_rules::packs::pack("securityhub").unwrap();
    assert_eq!(pack.len(), published.len());
    let all: Vec<String> = published
        .iter()
        .map(|c| c["filterPattern"].as_str().unwrap().to_string())
        .collect();
    let events = probes(&all);
    assert!(events.len() > 300, "{} probes", events.len());
    for control in &published {
        let id = control["control"].as_str().unwrap();
        let theirs = Pattern::parse(control["filterPattern"].as_str().unwrap()).unwrap();
        let ours = &pack.iter().find(|r| r.id == id).unwrap().pattern;
        let mut matched = 0;
        for e in &events {
            assert_eq!(ours.matches(e), theirs.matches(e), "{id} differs on {e}");
            matched += usize::from(theirs.matches(e));
        }
        assert!(
            matched > 0,
            "{id}: no probe matches; the comparison proves nothing"
        );
    }
}

use std::path::PathBuf;

use serde_json::json;

use super::*;

fn corpus(dir: &str) -> Option<Vec<(String, String)>> {
    let dir = auditwatch_fixtures::corpus("sigmahq")?.join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    Some(
        files
            .into_iter()
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                (name, std::fs::read_to_string(&p).unwrap())
            })
            .collect(),
    )
}

fn titles(set: &SigmaSet, record: &Value) -> Vec<String> {
    let mut t: Vec<String> = set
        .matches(record)
        .into_iter()
        .map(|m| set.rule(m).title.clone())
        .collect();
    t.sort();
    t
}

#[test]
fn sigmahq_cloudtrail_rules_all_load() {
    let Some(rules) = corpus("rules/cloud/aws/cloudtrail") else {
        return;
    };
    let unsupported = corpus("unsupported/cloud").unwrap();
    let placeholder = corpus("rules-placeholder/cloud/aws/cloudtrail").unwrap();
    assert_eq!((rules.len(), unsupported.len()), (57, 8));
    let mut all = rules.clone();
    all.extend(unsupported);
    all.extend(placeholder);
    let (set, errors) = SigmaSet::load(&all, &Placeholders::new());
    assert!(errors.is_empty(), "{errors:#?}");
    // 57 rules + 1 placeholder rule + the 8 legacy rules' 10 selections.
    assert_eq!(set.rule_count(), 57 + 1 + 10);
    assert_eq!(set.correlation_count(), 8);
    // Every legacy rule kept its id, title and author as a correlation.
    let enumeration = (0..8)
        .map(|i| set.correlation(i))
        .find(|m| m.id == "e9c14b23-47e2-4a8b-8a63-d36618e33d70")
        .unwrap();
    assert_eq!(enumeration.title, "Account Enumeration on AWS");
    assert_eq!(enumeration.author.as_deref(), Some("toffeebr33k"));
    assert_eq!(enumeration.level, "low");
}

#[test]
fn sigmahq_rules_match_what_they_describe() {
    let Some(rules) = corpus("rules/cloud/aws/cloudtrail") else {
        return;
    };
    let (set, _) = SigmaSet::load(&rules, &Placeholders::new());
    // Dotted paths, and `not` over a selection.
    let root = json!({"eventSource": "s3.amazonaws.com", "eventName": "ListBuckets",
        "eventType": "AwsApiCall", "userIdentity": {"type": "Root"}});
    assert_eq!(
        titles(&set, &root),
        [
            "AWS Root Credentials",
            "Potential Bucket Enumeration on AWS"
        ]
    );
    let service = json!({"eventType": "AwsServiceEvent", "userIdentity": {"type": "Root"}});
    assert!(titles(&set, &service).is_empty());
    // `|contains` over a whole object (requestParameters).
    let versioning = json!({"eventSource": "s3.amazonaws.com", "eventName": "PutBucketVersioning",
        "requestParameters": {"bucketName": "b", "VersioningConfiguration": {"Status": "Suspended"}}});
    assert_eq!(
        titles(&set, &versioning),
        ["AWS S3 Bucket Versioning Disable"]
    );
    let enabled = json!({"eventSource": "s3.amazonaws.com", "eventName": "PutBucketVersioning",
        "requestParameters": {"VersioningConfiguration": {"Status": "Enabled"}}});
    assert!(titles(&set, &enabled).is_empty());
    // `|fieldref`: someone changing another user's login profile.
    let other = json!({"eventSource": "iam.amazonaws.com", "eventName": "UpdateLoginProfile",
        "userIdentity": {"arn": "arn:aws:iam::1:user/mallory"},
        "requestParameters": {"userName": "alice"}});
    assert_eq!(
        titles(&set, &other),
        ["AWS User Login Profile Was Modified"]
    );
    let own = json!({"eventSource": "iam.amazonaws.com", "eventName": "UpdateLoginProfile",
        "userIdentity": {"arn": "alice"}, "requestParameters": {"userName": "alice"}});
    assert!(titles(&set, &own).is_empty());
    // `|re` on the ARN, and null values (errorCode absent or Success).
    let imds = json!({"eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances",
        "sourceIPAddress": "198.51.100.7",
        "userIdentity": {"arn": "arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1"}});
    assert_eq!(
        titles(&set, &imds),
        ["Malicious Usage Of IMDS Credentials Outside Of AWS Infrastructure"]
    );
    let internal = json!({"eventName": "DescribeInstances", "sourceIPAddress": "AWS Internal",
        "userIdentity": {"arn": "arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1"}});
    assert!(titles(&set, &internal).is_empty());
    let deleted = json!({"eventName": "DeleteBucket", "eventSource": "s3.amazonaws.com"});
    assert_eq!(titles(&set, &deleted), ["AWS Bucket Deleted"]);
    let failed = json!({"eventName": "DeleteBucket", "errorCode": "AccessDenied"});
    assert!(titles(&set, &failed).is_empty());
    // Matching is case-insensitive, as Sigma says.
    let lower = json!({"eventName": "deletebucket"});
    assert_eq!(titles(&set, &lower).len(), 1);
}

/// Runs a set over records in the order given, as `hunt` does: every alerting rule's
/// matches, then the correlations that fired, as `(title, group, measure)`.
fn run(set: &SigmaSet, records: &[(i64, Value)]) -> (Vec<String>, Vec<(String, String, u64)>) {
    let mut windows = set.windows::<usize>();
    let mut alerts = Vec::new();
    for (i, (t, r)) in records.iter().enumerate() {
        for m in set.matches(r) {
            if set.alerts(m) {
                alerts.push(set.rule(m).title.clone());
            }
            set.feed(&mut windows, r, m, t * 1_000_000, &i);
        }
    }
    let fired = windows
        .judge()
        .into_iter()
        .map(|f| {
            (
                set.correlation(f.correlation).title.clone(),
                set.describe_group(f.correlation, &f.group),
                f.measure,
            )
        })
        .collect();
    (alerts, fired)
}

#[test]
fn sigmahq_legacy_aggregations_run_as_correlations() {
    let Some(rules) = corpus("unsupported/cloud") else {
        return;
    };
    let (set, errors) = SigmaSet::load(&rules, &Placeholders::new());
    assert!(errors.is_empty(), "{errors:?}");
    let ev = |name: &str, source: &str, ip: &str| json!({"eventName": name, "eventSource": source, "sourceIPAddress": ip});
    let mut records = Vec::new();
    // 51 List* calls in 10 minutes: `count() > 50` fires once.
    for i in 0..51 {
        records.push((i * 10, ev("ListUsers", "iam.amazonaws.com", "198.51.100.1")));
    }
    // Macie evasion `count() by sourceIPAddress > 5`: six from one address, five
    // from another.
    for i in 0..6 {
        records.push((
            1000 + i,
            ev("ArchiveFindings", "macie2.amazonaws.com", "203.0.113.9"),
        ));
    }
    for i in 0..5 {
        records.push((
            1000 + i,
            ev("ArchiveFindings", "macie2.amazonaws.com", "203.0.113.8"),
        ));
    }
    // SES: sending enabled, then an address verified 2 minutes later (5 m window).
    records.push((
        5000,
        ev("UpdateAccountSendingEnabled", "ses.amazonaws.com", "x"),
    ));
    records.push((5120, ev("VerifyEmailIdentity", "ses.amazonaws.com", "x")));
    // Lambda `near`: created, invoked an hour and a half later (default 1 h): nothing.
    records.push((9000, ev("CreateFunction", "lambda.amazonaws.com", "x")));
    records.push((9000 + 5400, ev("Invoke", "lambda.amazonaws.com", "x")));
    let (alerts, mut fired) = run(&set, &records);
    assert!(
        alerts.is_empty(),
        "selections alert only through their correlation: {alerts:?}"
    );
    fired.sort();
    assert_eq!(
        fired,
        vec![
            (
                "AWS Macie Evasion".into(),
                "sourceIPAddress=203.0.113.9".into(),
                6
            ),
            ("Account Enumeration on AWS".into(), String::new(), 51),
            (
                "Potential AWS Cloud Email Service Abuse".into(),
                String::new(),
                2
            ),
        ]
    );
}

#[test]
fn sigma2_correlations_load_and_fire() {
    let (set, errors) = load_one(
        "c.yml",
        "title: Failed sign-in\nid: failed\nauthor: Us\nlogsource: {product: aws, service: cloudtrail}\n\
         detection:\n  sel:\n    eventName: ConsoleLogin\n    errorMessage: Failed authentication\n  \
         condition: sel\n---\n\
         title: Password spraying\nid: spray\nauthor: Us too\nlevel: high\n\
         correlation:\n  type: value_count\n  rules: [failed]\n  group-by: [sourceIPAddress]\n  \
         timespan: 5m\n  condition: {gte: 3, field: userIdentity.userName}\n",
    );
    assert!(errors.is_empty(), "{errors:?}");
    let fail = |user: &str| {
        json!({"eventName": "ConsoleLogin", "errorMessage": "Failed authentication",
               "sourceIPAddress": "192.0.2.1", "userIdentity": {"userName": user}})
    };
    let records: Vec<(i64, Value)> = ["a", "a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(i, u)| (i as i64 * 30, fail(u)))
        .collect();
    let (alerts, fired) = run(&set, &records);
    assert!(alerts.is_empty(), "generate: false by default");
    assert_eq!(
        fired,
        vec![(
            "Password spraying".into(),
            "sourceIPAddress=192.0.2.1".into(),
            3
        )]
    );
    assert_eq!(set.correlation(0).author.as_deref(), Some("Us too"));
    assert_eq!(set.correlation(0).level, "high");
}

#[test]
fn bad_documents_are_named_by_file_and_line_and_the_rest_load() {
    let text = "title: Good\nid: good\nlogsource: {product: aws}\n\
        detection:\n  sel: {eventName: X}\n  condition: sel\n---\n\
        title: Bad condition\nlogsource: {product: aws}\ndetection:\n  sel: {eventName: X}\n  \
        condition: sel and and\n---\n\
        title: Windows\nlogsource: {product: windows}\ndetection:\n  sel: {Image: x}\n  \
        condition: sel\n---\n\
        title: Broken: [\n---\n\
        title: Sum\nid: s\ncorrelation:\n  type: value_sum\n  rules: [good]\n  timespan: 1m\n  \
        condition: {gt: 1, field: x}\n---\n\
        title: Dangling\ncorrelation:\n  type: event_count\n  rules: [nowhere]\n  timespan: 1m\n  \
        condition: {gt: 1}\n";
    let (set, errors) = load_one("r.yml", text);
    assert_eq!(set.rule_count(), 1);
    let msgs: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(msgs.len(), 5, "{msgs:#?}");
    assert!(
        msgs[0]
            == "r.yml:12: rule \"Bad condition\": Condition parse error at 1:9: \
                expected quantifier, ident, or not_op",
        "{msgs:?}"
    );
    assert!(
        msgs[1].starts_with("r.yml:15: rule \"Windows\": not a CloudTrail rule"),
        "{msgs:?}"
    );
    assert!(
        msgs[2].starts_with("r.yml:20: document: not YAML"),
        "{msgs:?}"
    );
    assert!(
        msgs[3].contains("rule \"Sum\": correlation type `value_sum` is not supported"),
        "{msgs:?}"
    );
    assert!(
        msgs[4].contains("refers to rule `nowhere`, which is not loaded"),
        "{msgs:?}"
    );
}

#[test]
fn placeholders_expand_from_configuration() {
    let Some(rules) = corpus("rules-placeholder/cloud/aws/cloudtrail") else {
        return;
    };
    let login = |country: &str| {
        json!({"eventName": "ConsoleLogin", "responseElements": {"ConsoleLogin": "Success"},
               "src_country": country, "src_ip": "192.0.2.1"})
    };
    // Without values nothing is filtered out: every successful sign-in alerts.
    let (set, errors) = SigmaSet::load(&rules, &Placeholders::new());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(titles(&set, &login("NZ")).len(), 1);
    let mut values = Placeholders::new();
    values.insert(
        "Legitimate_Countries".into(),
        vec!["NZ".into(), "AU".into()],
    );
    values.insert("Legitimate_IP_Ranges".into(), vec!["10.1.1.1".into()]);
    let (set, errors) = SigmaSet::load(&rules, &values);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(titles(&set, &login("NZ")).is_empty());
    assert!(titles(&set, &login("AU")).is_empty());
    assert_eq!(titles(&set, &login("KP")).len(), 1);
}

/// A record as JSON handed out field by field, as a column store would.
struct JsonView<'a>(&'a Value);

impl FieldView for JsonView<'_> {
    fn text(&self, dotted: &str) -> Option<Option<&str>> {
        let mut v = self.0;
        for k in dotted.split('.') {
            v = v.get(k)?;
        }
        v.as_str().map(Some)
    }

    fn top(&self, name: &str) -> Option<Value> {
        self.0.get(name).cloned()
    }
}

#[test]
fn one_rule_on_a_view_and_every_prefilter_agree_with_the_whole_set() {
    let Some(rules) = corpus("rules/cloud/aws/cloudtrail") else {
        return;
    };
    let (set, _) = SigmaSet::load(&rules, &Placeholders::new());
    let records = [
        json!({"eventSource": "s3.amazonaws.com", "eventName": "ListBuckets",
            "eventType": "AwsApiCall", "userIdentity": {"type": "Root"}}),
        json!({"eventSource": "s3.amazonaws.com", "eventName": "PutBucketVersioning",
            "requestParameters": {"bucketName": "b", "VersioningConfiguration": {"Status": "Suspended"}}}),
        json!({"eventSource": "iam.amazonaws.com", "eventName": "UpdateLoginProfile",
            "userIdentity": {"arn": "arn:aws:iam::1:user/mallory"},
            "requestParameters": {"userName": "alice"}}),
        json!({"eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances",
            "sourceIPAddress": "198.51.100.7",
            "userIdentity": {"arn": "arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1"}}),
        json!({"eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity",
            "userAgent": "TruffleHog v3", "userIdentity": {"type": "AssumedRole",
            "sessionContext": {"sessionIssuer": {"type": "Role"}}}}),
        json!({"eventSource": "lambda.amazonaws.com", "eventName": "UpdateFunctionConfiguration20150331v2",
            "requestParameters": {"layers": ["arn:aws:lambda:us-east-1:1:layer:x:1"]}}),
        json!({"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
            "responseElements": {"ConsoleLogin": "Success"},
            "additionalEventData": {"MFAUsed": "No"}}),
        json!({"eventName": "deletebucket"}),
    ];
    let mut matched = 0;
    for record in &records {
        let view = JsonView(record);
        let all = set.matches(record);
        for j in 0..set.rule_count() {
            let m = RuleMatch(j);
            let title = &set.rule(m).title;
            assert_eq!(set.matches_rule(m, record), all.contains(&m), "{title}");
            if all.contains(&m) {
                matched += 1;
                // Prefilters are for fields holding a string (see `Prefilter::admits`).
                let string_or_nothing = |f: &str| {
                    f.split('.')
                        .try_fold(record, |v, k| v.get(k))
                        .is_none_or(Value::is_string)
                };
                let get = |f: &str| view.text(f).flatten();
                assert!(
                    set.prefilter(m).restricted(string_or_nothing).admits(get),
                    "{title}: its prefilter refuses {record}"
                );
            }
            if set
                .rule_fields(m)
                .is_some_and(|f| f.iter().all(|f| viewable(f)))
            {
                assert_eq!(
                    set.matches_view(m, &view),
                    all.contains(&m),
                    "{title} on {record}"
                );
            }
        }
    }
    assert!(matched >= 8, "{matched}");
}

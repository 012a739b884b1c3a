//! Live detection over a real store: events ingested while detection is on are
//! queued, detected once, and judged by alarms on event time — late data included —
//! with alerts and outbox rows written together.

use std::path::Path;

use auditwatch_detect::Definitions;
use auditwatch_detect::config::{AlarmSettings, DetectionSettings, resolve};
use auditwatch_detect::detector::Memory;
use auditwatch_detect::service::detect_and_evaluate;
use auditwatch_detect::state::DetectionState;
use auditwatch_store::{Scope, Store};
use serde_json::json;

const T0: i64 = 1_800_000_000; // 2027-01-15T08:00:00Z, a multiple of 300

fn record(id: &str, at: i64, name: &str, secret: &str, account: &str) -> serde_json::Value {
    let time = chrono::DateTime::from_timestamp(at, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({"eventVersion": "1.08", "eventID": id, "eventTime": time, "eventType": "AwsApiCall",
        "eventSource": "secretsmanager.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7", "recipientAccountId": account,
        "userIdentity": {"type": "IAMUser", "userName": "mallory", "accountId": account,
            "arn": format!("arn:aws:iam::{account}:user/mallory")},
        "requestParameters": {"secretId": secret}})
}

fn ingest(store: &Store, dir: &Path, name: &str, records: &[serde_json::Value]) {
    let f = dir.join(name);
    std::fs::write(&f, json!({"Records": records}).to_string()).unwrap();
    auditwatch_ingest::ingest_paths(
        store,
        &[f],
        &auditwatch_ingest::IngestOptions::default(),
        &mut (),
    )
    .unwrap();
}

fn defs(extra: &str) -> Definitions {
    let alarm: AlarmSettings = toml::from_str(&format!(
        "name = \"secret-read\"\nfilter_pattern = '{{ ($.eventName = \"GetSecretValue\") && ($.requestParameters.secretId = \"TopSecretInfo*\") }}'\ntreat_missing_data = \"notBreaching\"\n{extra}"
    ))
    .unwrap();
    let hook: auditwatch_detect::config::ChannelSettings =
        toml::from_str("type = \"webhook\"\nname = \"hook\"\nurl = \"http://127.0.0.1:9/\"")
            .unwrap();
    let (mut d, _) = resolve(DetectionSettings::default(), vec![alarm], vec![hook]).unwrap();
    // Judge everything these tests write, however old.
    d.max_lateness_secs = 10 * 365 * 86_400;
    d
}

/// The definitions of the Sigma rules at `rules`, judging any age, with the
/// warnings of those that did not load.
fn sigma_definitions(rules: std::path::PathBuf) -> (Definitions, Vec<String>) {
    let (mut d, warnings) = resolve(
        DetectionSettings {
            rules: vec![rules],
            ..Default::default()
        },
        vec![],
        vec![],
    )
    .unwrap();
    d.max_lateness_secs = 10 * 365 * 86_400;
    (d, warnings)
}

fn open(dir: &Path, defs: &Definitions) -> Store {
    let store = Store::open(&dir.join("data")).unwrap();
    DetectionState::of(&store)
        .unwrap()
        .set_detection(!defs.is_empty())
        .unwrap();
    store
}

#[test]
fn a_secret_read_fires_the_alarm_once_with_its_event_and_a_notification() {
    let mut memory = Memory::default();
    let dir = tempfile::tempdir().unwrap();
    let d = defs("");
    let store = open(dir.path(), &d);
    ingest(
        &store,
        dir.path(),
        "a.json",
        &[
            record(
                "read-1",
                T0 + 30,
                "GetSecretValue",
                "TopSecretInfo-abc",
                "111122223333",
            ),
            record(
                "other",
                T0 + 40,
                "GetSecretValue",
                "PublicConfig",
                "111122223333",
            ),
            record(
                "list",
                T0 + 50,
                "ListSecrets",
                "TopSecretInfo",
                "111122223333",
            ),
        ],
    );
    assert_eq!(
        DetectionState::of(&store)
            .unwrap()
            .detection_backlog()
            .unwrap(),
        1
    );
    let tick = detect_and_evaluate(&store, &d, &mut memory, T0 + 120).unwrap();
    assert_eq!((tick.pass.segments, tick.pass.events), (1, 3));
    assert_eq!(tick.alarm_alerts.len(), 1, "{tick:?}");
    let c = DetectionState::of(&store).unwrap();
    assert_eq!(c.detection_backlog().unwrap(), 0);
    let alert = c.alert(&Scope::All, tick.alarm_alerts[0]).unwrap().unwrap();
    assert_eq!(
        (alert.kind.as_str(), alert.rule.as_str()),
        ("alarm", "secret-read")
    );
    assert_eq!(alert.events, ["read-1"]);
    assert_eq!(alert.accounts, ["111122223333"]);
    assert!(
        alert
            .reason
            .starts_with("Sum >= 1 for 1 of 1 periods of 300 s"),
        "{}",
        alert.reason
    );
    let due = c.outbox_due(T0 + 10_000_000_000, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].key, format!("auditwatch-alert-{}-hook", alert.id));
    // Scoped callers see it only with its account.
    assert!(
        c.alert(&Scope::accounts(["999999999999"]), alert.id)
            .unwrap()
            .is_none()
    );
    assert!(
        c.alert(&Scope::accounts(["111122223333"]), alert.id)
            .unwrap()
            .is_some()
    );
    // The same period judged again raises nothing; the next (empty) period clears it.
    let again = detect_and_evaluate(&store, &d, &mut memory, T0 + 200).unwrap();
    assert!(again.alarm_alerts.is_empty());
    assert_eq!(c.alarm("secret-read").unwrap().unwrap().state, "ALARM");
    detect_and_evaluate(&store, &d, &mut memory, T0 + 310).unwrap();
    let row = c.alarm("secret-read").unwrap().unwrap();
    assert_eq!(row.state, "OK");
    let states: Vec<String> = c
        .alarm_history("secret-read", 10)
        .unwrap()
        .into_iter()
        .rev()
        .map(|t| format!("{}>{}", t.old, t.new))
        .collect();
    assert_eq!(states, ["INSUFFICIENT_DATA>ALARM", "ALARM>OK"]);
    // Re-ingesting the same file queues nothing new and raises nothing.
    ingest(
        &store,
        dir.path(),
        "a-again.json",
        &[record(
            "read-1",
            T0 + 30,
            "GetSecretValue",
            "TopSecretInfo-abc",
            "111122223333",
        )],
    );
    let t = detect_and_evaluate(&store, &d, &mut memory, T0 + 320).unwrap();
    assert!(t.alarm_alerts.is_empty());
    assert_eq!(c.alerts(&Scope::All, None, 10).unwrap().len(), 1);
}

#[test]
fn late_data_counts_in_the_period_it_happened_in() {
    let mut memory = Memory::default();
    let dir = tempfile::tempdir().unwrap();
    // 2 of 3 periods with Sum >= 2: only the late file completes the picture.
    let d = defs("threshold = 2\nevaluation_periods = 3\ndatapoints_to_alarm = 2");
    let store = open(dir.path(), &d);
    ingest(
        &store,
        dir.path(),
        "p1.json",
        &[
            record(
                "a1",
                T0 + 10,
                "GetSecretValue",
                "TopSecretInfo",
                "111122223333",
            ),
            record(
                "a2",
                T0 + 20,
                "GetSecretValue",
                "TopSecretInfo",
                "111122223333",
            ),
        ],
    );
    let t = detect_and_evaluate(&store, &d, &mut memory, T0 + 900 + 30).unwrap();
    assert!(
        t.alarm_alerts.is_empty(),
        "one breaching period of three is not enough"
    );
    let c = DetectionState::of(&store).unwrap();
    assert_eq!(c.alarm("secret-read").unwrap().unwrap().state, "OK");
    // A file delivered late, with two reads in the second period.
    ingest(
        &store,
        dir.path(),
        "late.json",
        &[
            record(
                "b1",
                T0 + 310,
                "GetSecretValue",
                "TopSecretInfo",
                "111122223333",
            ),
            record(
                "b2",
                T0 + 320,
                "GetSecretValue",
                "TopSecretInfo",
                "444455556666",
            ),
        ],
    );
    let t = detect_and_evaluate(&store, &d, &mut memory, T0 + 900 + 60).unwrap();
    assert_eq!(t.alarm_alerts.len(), 1, "the late periods are judged again");
    let alert = c.alert(&Scope::All, t.alarm_alerts[0]).unwrap().unwrap();
    assert_eq!(alert.events, ["a1", "a2", "b1", "b2"]);
    assert_eq!(alert.count, 4);
    assert_eq!(alert.accounts, ["111122223333", "444455556666"]);
    let history = c.alarm_history("secret-read", 10).unwrap();
    let alarm = history.iter().find(|h| h.new == "ALARM").unwrap();
    assert_eq!(
        alarm.period,
        T0 + 300,
        "judged as of the period the late events happened in"
    );
    assert!(
        alarm.reason.contains("2 of the last 3 periods were >= 2"),
        "{}",
        alarm.reason
    );
}

#[test]
fn rules_alert_per_account_within_the_dedup_window_and_queued_segments_are_not_compacted() {
    let mut memory = Memory::default();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.json");
    std::fs::write(&rules, r#"[{"id": "secret-read", "title": "A secret was read", "filterPattern": "{ $.eventName = GetSecretValue }", "level": "high"}]"#).unwrap();
    let (mut d, warnings) = resolve(
        DetectionSettings {
            rules: vec![rules],
            ..Default::default()
        },
        vec![],
        vec![],
    )
    .unwrap();
    assert!(warnings.is_empty());
    d.max_lateness_secs = 10 * 365 * 86_400;
    let store = open(dir.path(), &d);
    ingest(
        &store,
        dir.path(),
        "1.json",
        &[
            record("x1", T0, "GetSecretValue", "s", "111122223333"),
            record("x2", T0 + 60, "GetSecretValue", "s", "111122223333"),
            record("y1", T0 + 70, "GetSecretValue", "s", "444455556666"),
        ],
    );
    ingest(
        &store,
        dir.path(),
        "2.json",
        &[record(
            "x3",
            T0 + 7200,
            "GetSecretValue",
            "s",
            "111122223333",
        )],
    );
    // Queued segments stay as they are.
    let mut w = store.writer().unwrap();
    let merged = auditwatch_store::write::compact::compact(&mut w).unwrap();
    assert_eq!(merged.merged, 0);
    drop(w);
    let t = detect_and_evaluate(&store, &d, &mut memory, T0 + 7300).unwrap();
    assert_eq!(t.pass.alerts.len(), 3, "{t:?}");
    let c = DetectionState::of(&store).unwrap();
    let alerts = c.alerts(&Scope::All, None, 10).unwrap();
    let seen: Vec<(Vec<String>, i64)> = alerts
        .iter()
        .rev()
        .map(|a| (a.events.clone(), a.count))
        .collect();
    assert_eq!(
        seen,
        [
            (vec!["x1".to_string(), "x2".to_string()], 2),
            (vec!["y1".to_string()], 1),
            (vec!["x3".to_string()], 1)
        ]
    );
    // Once detected, they compact.
    let mut w = store.writer().unwrap();
    assert_eq!(
        auditwatch_store::write::compact::compact(&mut w)
            .unwrap()
            .merged,
        2
    );
    // Status changes.
    let id = alerts[0].id;
    assert!(
        c.set_alert_status(&Scope::All, id, "acknowledged", "alice")
            .unwrap()
    );
    assert_eq!(
        c.alerts(&Scope::All, Some("acknowledged"), 10)
            .unwrap()
            .len(),
        1
    );
    assert!(
        !c.set_alert_status(&Scope::accounts(["444455556666"]), id, "resolved", "bob")
            .unwrap()
    );
}

#[test]
fn a_rule_raises_at_most_its_hourly_quota_of_alerts() {
    let mut memory = Memory::default();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.json");
    std::fs::write(
        &rules,
        r#"[{"id": "any-read", "filterPattern": "{ $.eventName = GetSecretValue }"}]"#,
    )
    .unwrap();
    let (mut d, _) = resolve(
        DetectionSettings {
            rules: vec![rules],
            max_alerts_per_rule_per_hour: Some(2),
            ..Default::default()
        },
        vec![],
        vec![],
    )
    .unwrap();
    d.max_lateness_secs = 10 * 365 * 86_400;
    let store = open(dir.path(), &d);
    let accounts = [
        "111111111111",
        "222222222222",
        "333333333333",
        "444444444444",
    ];
    let records: Vec<_> = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| record(&format!("r{i}"), T0 + i as i64, "GetSecretValue", "s", a))
        .collect();
    ingest(&store, dir.path(), "burst.json", &records);
    let t = detect_and_evaluate(&store, &d, &mut memory, T0 + 60).unwrap();
    assert_eq!(t.pass.alerts.len(), 2, "the quota of 2 new alerts per hour");
    let c = DetectionState::of(&store).unwrap();
    let alerts = c.alerts(&Scope::All, None, 10).unwrap();
    assert_eq!(
        alerts[0].accounts,
        ["222222222222", "333333333333", "444444444444"]
    );
    assert_eq!((alerts[0].count, alerts[1].count), (3, 1));
}

#[test]
fn sigma_rules_alert_with_their_author_and_correlations_span_segments_and_accounts() {
    let mut memory = Memory::default();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("sigma");
    std::fs::create_dir_all(rules.join("nested")).unwrap();
    std::fs::write(
        rules.join("nested/secret.yml"),
        "title: Top secret read\nid: top-secret\nauthor: Ada\nlevel: critical\n\
         logsource: {product: aws, service: cloudtrail}\n\
         detection:\n  sel:\n    eventName: GetSecretValue\n    requestParameters.secretId|startswith: TopSecret\n  \
         condition: sel\n",
    )
    .unwrap();
    // Sigma 1 style: three reads of any secret from one address in 10 minutes.
    std::fs::write(
        rules.join("burst.yml"),
        "title: Secret burst\nid: burst\nauthor: Grace\nlevel: high\n\
         logsource: {product: aws, service: cloudtrail}\n\
         detection:\n  sel: {eventName: GetSecretValue}\n  timeframe: 10m\n  \
         condition: sel | count() by sourceIPAddress >= 3\n---\ntitle: Broken\n",
    )
    .unwrap();
    let (d, warnings) = sigma_definitions(rules);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("burst.yml:11: rule \"Broken\": Missing required field"),
        "{warnings:?}"
    );
    let store = open(dir.path(), &d);
    ingest(
        &store,
        dir.path(),
        "1.json",
        &[
            record("a1", T0, "GetSecretValue", "TopSecretInfo", "111122223333"),
            record("a2", T0 + 400, "GetSecretValue", "other", "444455556666"),
        ],
    );
    let t = detect_and_evaluate(&store, &d, &mut memory, T0 + 500).unwrap();
    assert_eq!(t.pass.alerts.len(), 1, "the top-secret read only: {t:?}");
    assert_eq!(memory.held(), 2);
    // A late file brings a third read inside the first ten minutes.
    ingest(
        &store,
        dir.path(),
        "2.json",
        &[record(
            "a3",
            T0 + 200,
            "GetSecretValue",
            "x",
            "111122223333",
        )],
    );
    let t = detect_and_evaluate(&store, &d, &mut memory, T0 + 900).unwrap();
    assert_eq!(t.pass.alerts.len(), 1, "{t:?}");
    let c = DetectionState::of(&store).unwrap();
    let alerts = c.alerts(&Scope::All, None, 10).unwrap();
    let burst = alerts.iter().find(|a| a.rule == "burst").unwrap();
    assert_eq!(burst.author.as_deref(), Some("Grace"));
    assert_eq!(burst.count, 3);
    let mut events = burst.events.clone();
    events.sort();
    assert_eq!(events, ["a1", "a2", "a3"]);
    assert_eq!(burst.accounts, ["111122223333", "444455556666"]);
    // A caller who sees one of the two accounts does not see the correlation.
    let one = c
        .alerts(&Scope::accounts(["111122223333"]), None, 10)
        .unwrap();
    assert!(one.iter().all(|a| a.rule != "burst"));
    let top = alerts.iter().find(|a| a.rule == "top-secret").unwrap();
    assert_eq!(
        (top.author.as_deref(), top.level.as_str()),
        (Some("Ada"), "critical")
    );
}

#[test]
fn switched_off_rules_raise_nothing_and_alarms_limited_to_accounts_count_only_those() {
    let mut memory = Memory::default();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("secret.yml");
    std::fs::write(
        &rules,
        "title: Top secret read\nid: top-secret\nlevel: critical\n\
         logsource: {product: aws, service: cloudtrail}\n\
         detection:\n  sel:\n    eventName: GetSecretValue\n  condition: sel\n---\n\
         title: Secret burst\nid: burst\nlevel: high\n\
         logsource: {product: aws, service: cloudtrail}\n\
         detection:\n  sel: {eventName: GetSecretValue}\n  timeframe: 10m\n  \
         condition: sel | count() >= 2\n",
    )
    .unwrap();
    let (file, warnings) = sigma_definitions(rules);
    assert!(warnings.is_empty(), "{warnings:?}");
    let store = open(dir.path(), &file);
    let (library, _) = auditwatch_detect::Library::open(store.data_dir(), file).unwrap();
    // An alarm for one account, declared as the Rules page does.
    let alarm: AlarmSettings = toml::from_str(
        "name = \"ours\"\nfilter_pattern = '{ $.eventName = \"GetSecretValue\" }'\n\
         treat_missing_data = \"notBreaching\"\naccounts = [\"111122223333\"]",
    )
    .unwrap();
    library.declare_alarm(alarm, "root").unwrap();
    library
        .set_enabled("sigma", "top-secret", false, "root")
        .unwrap();
    library
        .set_enabled("correlation", "burst", false, "root")
        .unwrap();
    let e = library
        .set_enabled("sigma", "nope", false, "root")
        .unwrap_err();
    assert_eq!(e.to_string(), "no sigma with id `nope`");

    // Another account's reads: the alarm counts none, the rules are off.
    ingest(
        &store,
        dir.path(),
        "1.json",
        &[
            record("b1", T0, "GetSecretValue", "s", "444455556666"),
            record("b2", T0 + 10, "GetSecretValue", "s", "444455556666"),
        ],
    );
    let t = detect_and_evaluate(&store, &library.current(), &mut memory, T0 + 400).unwrap();
    assert_eq!(t.pass.events, 2);
    assert!(
        t.pass.alerts.is_empty() && t.alarm_alerts.is_empty(),
        "{t:?}"
    );
    let c = DetectionState::of(&store).unwrap();
    assert!(c.metric_points("ours", 0, i64::MAX).unwrap().is_empty());

    // Its own account's read fires it; switching the rule back on alerts again.
    library
        .set_enabled("sigma", "top-secret", true, "root")
        .unwrap();
    ingest(
        &store,
        dir.path(),
        "2.json",
        &[record(
            "a1",
            T0 + 600,
            "GetSecretValue",
            "s",
            "111122223333",
        )],
    );
    let t = detect_and_evaluate(&store, &library.current(), &mut memory, T0 + 1000).unwrap();
    assert_eq!(t.alarm_alerts.len(), 1, "{t:?}");
    assert_eq!(t.pass.alerts.len(), 1, "{t:?}");
    let alerts = c.alerts(&Scope::All, None, 10).unwrap();
    let mut rules: Vec<_> = alerts.iter().map(|a| a.rule.as_str()).collect();
    rules.sort();
    assert_eq!(rules, ["ours", "top-secret"], "the burst stays off");
}

#[test]
fn rules_read_the_origin_and_alerts_name_it_live_and_in_a_hunt() {
    use auditwatch_fixtures::chains;
    let mut memory = Memory::default();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("alice.yml"),
        "title: Alice reads a secret\nid: alice-secret\nlevel: high\n\
         logsource: {product: aws, service: cloudtrail}\n\
         detection:\n  sel:\n    eventName: GetSecretValue\n    origin|endswith: ':user/alice'\n  \
         condition: sel\n",
    )
    .unwrap();
    std::fs::write(
        rules.join("unresolved.json"),
        json!([{"id": "unresolved-secret", "title": "A secret read by nobody known",
            "level": "medium",
            "filterPattern": "{ ($.eventName = \"GetSecretValue\") && ($.originType = \"Unresolved\") }"}])
        .to_string(),
    )
    .unwrap();
    let (d, warnings) = sigma_definitions(rules.clone());
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(d.rules.len(), 1);
    let store = open(dir.path(), &d);
    const A: &str = "111122223333";
    let at = |s: i64| {
        chrono::DateTime::from_timestamp(T0 + s, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let alice = json!({"type": "IAMUser", "arn": format!("arn:aws:iam::{A}:user/alice"),
        "accountId": A, "userName": "alice", "accessKeyId": "AKIAALICE"});
    let read = |id: &str, s: i64, key: &str, name: &str| {
        chains::record(
            id,
            &at(s),
            "GetSecretValue",
            A,
            chains::session(A, "Ops", name, key),
            json!({"eventSource": "secretsmanager.amazonaws.com"}),
        )
    };
    ingest(
        &store,
        dir.path(),
        "1.json",
        &[
            chains::record(
                "issue",
                &at(0),
                "AssumeRole",
                A,
                alice,
                chains::issue(A, "Ops", "alice", "ASIAALICE", "Jan 15, 2027, 9:00:00 AM"),
            ),
            read("by-alice", 60, "ASIAALICE", "alice"),
            // A record cannot claim an origin: detection's value replaces its own.
            {
                let mut r = read("by-ghost", 70, "ASIAGHOST", "ghost");
                r["originType"] = json!("IAMUser");
                r
            },
        ],
    );
    let t = detect_and_evaluate(&store, &d, &mut memory, T0 + 300).unwrap();
    assert_eq!(t.pass.alerts.len(), 2, "{t:?}");
    let c = DetectionState::of(&store).unwrap();
    let alerts = c.alerts(&Scope::All, None, 10).unwrap();
    let by_rule = |rule: &str| alerts.iter().find(|a| a.rule == rule).unwrap();
    let alice_alert = by_rule("alice-secret");
    assert_eq!(alice_alert.events, ["by-alice"]);
    assert!(
        alice_alert
            .reason
            .ends_with("; origin arn:aws:iam::111122223333:user/alice (IAMUser)"),
        "{}",
        alice_alert.reason
    );
    let ghost = by_rule("unresolved-secret");
    assert_eq!(ghost.events, ["by-ghost"]);
    assert!(
        ghost
            .reason
            .ends_with("; origin arn:aws:sts::111122223333:assumed-role/Ops/ghost (Unresolved)"),
        "{}",
        ghost.reason
    );

    // A hunt over the same events reads the same origins.
    let hunt =
        auditwatch_detect::hunt::Hunt::load(&[rules.display().to_string()], &Default::default())
            .unwrap();
    let plan = hunt.plan(false);
    assert!(plan.reads_origin());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut found = Vec::new();
    hunt.run(&plan, &store, &rt, (None, None), |day| {
        for h in &day.hits {
            let id = h.ev.get(&day.batches).event_id.unwrap().to_string();
            found.push((day.metas[h.rule as usize].id.clone(), id));
        }
        true
    })
    .unwrap();
    found.sort();
    assert_eq!(
        found,
        [
            ("alice-secret".to_string(), "by-alice".to_string()),
            ("unresolved-secret".to_string(), "by-ghost".to_string())
        ]
    );
}

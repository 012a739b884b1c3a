//! The scope rule as an equivalence (docs/SECURITY.md): what a caller limited to
//! account A is answered — rows, the error text, the plan, the counts — on a lake
//! holding accounts A, B and C equals what they are answered on a lake holding A's
//! events only; before and after compaction, through the query engine and through the
//! breakdown fast path.
//!
//! Each account has canary values of its own in every narrow column, and its events
//! are committed in batches with the other accounts' events, so segments hold several
//! accounts. The corpus: the review's reproductions (casts and divisions that fail on
//! a canary, for every narrow column), breakdown shapes, EXPLAIN and EXPLAIN ANALYZE,
//! joins, subqueries and windows, and a few hundred generated queries whose
//! conditions name values of all three accounts.

use std::collections::BTreeMap;

use auditwatch_store::dimension::Dimension;
use auditwatch_store::rows::to_json;
use auditwatch_store::{Attribute, Lookup, Scope, SqlLimits, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{commit_from_key, rt};

const A: &str = "111111111111";
const B: &str = "222222222222";
const C: &str = "333333333333";

/// The letter of an account, in its canary values.
fn letter(account: &str) -> char {
    match account {
        A => 'A',
        B => 'B',
        _ => 'C',
    }
}

/// Event `i` of `account`: shared values mostly, the account's canary values in every
/// seventh event.
fn event(i: usize, account: &str) -> String {
    let x = letter(account);
    let lower = x.to_ascii_lowercase();
    let canary = i % 7 == 3;
    let user = if canary {
        format!("CANARY{x}_USER")
    } else {
        ["alice", "bob", "carol"][i % 3].to_string()
    };
    let name = if canary {
        format!("Canary{x}Event")
    } else {
        ["GetObject", "PutObject", "ListBuckets", "ConsoleLogin"][i % 4].to_string()
    };
    let source = if canary {
        format!("canary{lower}.amazonaws.com")
    } else {
        ["s3.amazonaws.com", "iam.amazonaws.com"][i % 2].to_string()
    };
    let ip = if canary {
        format!("203.0.113.{}", 10 + (x as u8 - b'A'))
    } else {
        format!("10.0.0.{}", i % 5)
    };
    let agent = if canary {
        format!("canary-{lower}-agent")
    } else {
        "aws-cli/2".to_string()
    };
    let region = if canary {
        format!("{lower}{lower}-canary-1")
    } else {
        ["us-east-1", "eu-west-1"][i % 2].to_string()
    };
    let error = match (canary, i % 5) {
        (true, _) => format!(r#","errorCode":"Canary{x}Error","errorMessage":"m""#),
        (false, 0) => r#","errorCode":"AccessDenied""#.to_string(),
        _ => String::new(),
    };
    let kind = if canary {
        format!("Canary{x}Type")
    } else {
        "AwsApiCall".to_string()
    };
    let second = i * 97 % 86_400 + (i % 2) * 86_400;
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","userName":"{user}","arn":"arn:aws:iam::{account}:user/{user}","accountId":"{account}","accessKeyId":"AKIA{x}{i:04}"}},"eventTime":"2024-05-{day:02}T{h:02}:{m:02}:{s:02}Z","eventSource":"{source}","eventName":"{name}","awsRegion":"{region}","sourceIPAddress":"{ip}","userAgent":"{agent}"{error},"requestParameters":{{"bucketName":"bucket-{lower}-{b}","n":{i}}},"eventID":"{x}0000000-0000-4000-8000-{i:012}","readOnly":{ro},"eventType":"{kind}","recipientAccountId":"{account}"}}"#,
        day = 1 + second / 86_400,
        h = second / 3600 % 24,
        m = second / 60 % 60,
        s = second % 60,
        b = i % 4,
        ro = i.is_multiple_of(2),
    )
}

/// Two lakes: every account's events, in batches that mix the accounts; and only A's,
/// from the same batches.
fn lakes(all: &std::path::Path, only_a: &std::path::Path) -> (Store, Store) {
    let (everyone, theirs) = (Store::open(all).unwrap(), Store::open(only_a).unwrap());
    for batch in 0..4 {
        let mut mixed = Vec::new();
        let mut mine = Vec::new();
        for i in batch * 150..(batch + 1) * 150 {
            for account in [A, B, C] {
                let e = event(i, account);
                if account == A {
                    mine.push(e.clone());
                }
                mixed.push(e);
            }
        }
        let location = format!("batch-{batch}");
        commit_from_key(&everyone, &mixed, &location, None);
        commit_from_key(&theirs, &mine, &location, None);
    }
    // A's events with events of no account (no account in the key, the record or its
    // identity), which no scope shows: a segment whose listed accounts are all A's.
    let mine: Vec<String> = (600..750).map(|i| event(i, A)).collect();
    let orphans = (0..50).map(|i| {
        event(i, A)
            .replace(&format!(r#","accountId":"{A}""#), "")
            .replace(&format!(r#","recipientAccountId":"{A}""#), "")
            .replace("CANARYA_USER", "ORPHAN_USER")
            .replace("A0000000-0000-4000-8000-", "F0000000-0000-4000-8000-")
    });
    let with_orphans: Vec<String> = mine.iter().cloned().chain(orphans).collect();
    commit_from_key(&everyone, &with_orphans, "batch-4", None);
    commit_from_key(&theirs, &mine, "batch-4", None);
    (everyone, theirs)
}

/// A query's answer, comparable across lakes: the columns and the rows in order when
/// the query orders them (sorted otherwise), or the error's text.
fn answer(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    scope: &Scope,
    sql: &str,
    fast: bool,
) -> Result<(Vec<String>, Vec<String>), String> {
    let r = if fast {
        let ctx = store.session(scope).map_err(|e| e.to_string())?;
        rt.block_on(store.sql_in(&ctx, sql, SqlLimits::default()))
    } else {
        rt.block_on(store.sql(scope, sql, SqlLimits::default()))
    }
    .map_err(|e| e.to_string())?;
    let columns = r.schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut rows: Vec<String> = to_json(&r.batches)
        .unwrap()
        .iter()
        .map(|o| serde_json::to_string(o).unwrap())
        .collect();
    if !sql.contains("ORDER BY") {
        rows.sort();
    }
    Ok((columns, rows))
}

/// The review's reproductions and the shapes around them.
fn written_corpus() -> Vec<String> {
    let mut out = Vec::new();
    let columns = [
        ("username", "CANARY"),
        ("eventName", "Canary"),
        ("eventSource", "canary"),
        ("sourceIPAddress", "203.0.113."),
        ("userAgent", "canary-"),
        ("awsRegion", "__-canary"),
        ("errorCode", "Canary"),
        ("eventType", "Canary"),
    ];
    for (column, prefix) in columns {
        // Fails on A's canary only, in scope A: the text names A's value.
        out.push(format!(
            r#"SELECT count(*) FROM events WHERE CAST(CASE WHEN "{column}" LIKE '{prefix}%' THEN "{column}" ELSE '1' END AS BIGINT) = 1"#
        ));
        // Grouped, through the breakdown fast path.
        out.push(format!(
            r#"SELECT "eventName", count(*) AS n FROM events WHERE CAST(CASE WHEN "{column}" LIKE '{prefix}%' THEN "{column}" ELSE '1' END AS BIGINT) = 1 GROUP BY 1 ORDER BY 1"#
        ));
        // Fails only on values of other accounts: must not fail at all.
        for other in ['B', 'C'] {
            let lower = other.to_ascii_lowercase();
            let canary = match column {
                "username" => format!("CANARY{other}_USER"),
                "eventName" => format!("Canary{other}Event"),
                "eventSource" => format!("canary{lower}.amazonaws.com"),
                "sourceIPAddress" => format!("203.0.113.{}", 10 + (other as u8 - b'A')),
                "userAgent" => format!("canary-{lower}-agent"),
                "awsRegion" => format!("{lower}{lower}-canary-1"),
                "errorCode" => format!("Canary{other}Error"),
                _ => format!("Canary{other}Type"),
            };
            out.push(format!(
                r#"SELECT count(*) FROM events WHERE CAST(CASE WHEN "{column}" = '{canary}' THEN "{column}" ELSE '1' END AS BIGINT) = 1"#
            ));
            out.push(format!(
                r#"SELECT count(*) FROM events WHERE 1 / (CASE WHEN "{column}" = '{canary}' THEN 0 ELSE 1 END) = 1"#
            ));
            out.push(format!(
                r#"SELECT "username", count(*) AS n FROM events WHERE 1 / (CASE WHEN "{column}" = '{canary}' THEN 0 ELSE 1 END) = 1 GROUP BY 1 ORDER BY 1"#
            ));
            out.push(format!(
                r#"SELECT "eventID" FROM events WHERE "{column}" = '{canary}' ORDER BY 1"#
            ));
        }
    }
    // Conditions the Parquet reader cannot apply itself (nested fields, JSON text,
    // the record), left to the filter above the scan.
    for other in ["CANARYB_USER", "bucket-b-1"] {
        for value in [
            r#""userIdentity"."userName""#,
            r#"json_get_str("requestParameters", 'bucketName')"#,
            r#"CASE WHEN "raw" LIKE '%OTHER%' THEN 'OTHER' ELSE NULL END"#,
        ] {
            let value = value.replace("OTHER", other);
            out.push(format!(
                r#"SELECT count(*) FROM events WHERE CAST(CASE WHEN {value} = '{other}' THEN {value} ELSE '1' END AS BIGINT) = 1"#
            ));
            out.push(format!(
                r#"SELECT "eventName", max(CAST(CASE WHEN {value} = '{other}' THEN {value} ELSE '1' END AS BIGINT)) AS m FROM events GROUP BY 1 ORDER BY 1"#
            ));
            out.push(format!(
                r#"SELECT a."eventID" FROM events a JOIN events b ON a."eventID" = b."eventID" AND CAST(CASE WHEN {value} = '{other}' THEN {value} ELSE '1' END AS BIGINT) = 1 ORDER BY 1 LIMIT 3"#
            ));
        }
    }
    for account in [A, B] {
        out.push(format!(
            r#"SELECT count(*) FROM events WHERE CAST(CASE WHEN "accountId" = '{account}' THEN "accountId" || 'x' ELSE '1' END AS BIGINT) = 1"#
        ));
    }
    out.extend(
        [
            r#"SELECT count(*) FROM events"#,
            r#"SELECT "accountId", count(*) FROM events GROUP BY 1 ORDER BY 1"#,
            r#"SELECT "username", "eventName", count(*) AS n FROM events GROUP BY 1, 2 ORDER BY 1, 2"#,
            r#"SELECT "errorCode", count(*) AS n FROM events WHERE "errorCode" IS NOT NULL GROUP BY 1 ORDER BY 1"#,
            r#"SELECT "eventName", count(*) AS n FROM events WHERE "eventTime" >= TIMESTAMP '2024-05-01 12:00:00' AND "username" IN ('alice', 'CANARYB_USER') GROUP BY 1 ORDER BY 1"#,
            r#"SELECT count(DISTINCT "sourceIPAddress"), min("username"), max("username") FROM events"#,
            r#"SELECT min("eventTime"), max("eventTime"), count(*) FROM events WHERE "eventName" LIKE 'Canary%'"#,
            r#"SELECT "eventID", "username" FROM events WHERE "raw" LIKE '%203.0.113.11%' ORDER BY 1"#,
            r#"SELECT "eventID" FROM events WHERE contains("raw", '203.0.113.10') ORDER BY 1"#,
            r#"SELECT count(*) FROM events WHERE "raw" LIKE '%CANARYB_USER%'"#,
            r#"SELECT count(*) FROM events WHERE "eventID" = 'B0000000-0000-4000-8000-000000000003'"#,
            r#"SELECT count(*) FROM events WHERE "userIdentity"."arn" LIKE '%222222222222%'"#,
            r#"SELECT count(*) FROM events WHERE json_get_str("requestParameters", 'bucketName') = 'bucket-b-1'"#,
            r#"SELECT a."username", count(*) AS n FROM events a JOIN events b ON a."eventID" = b."eventID" GROUP BY 1 ORDER BY 1"#,
            r#"SELECT "username", n FROM (SELECT "username", count(*) AS n FROM events GROUP BY 1) t WHERE n > 10 ORDER BY 1"#,
            r#"SELECT "username" FROM events WHERE "sourceIPAddress" IN (SELECT "sourceIPAddress" FROM events WHERE "errorCode" IS NOT NULL) GROUP BY 1 ORDER BY 1"#,
            r#"SELECT "username", count(*) OVER (PARTITION BY "username") AS n FROM events WHERE "eventName" = 'GetObject' ORDER BY 1, 2 LIMIT 5"#,
            r#"SELECT "eventName" FROM events UNION SELECT "username" FROM events ORDER BY 1"#,
            r#"WITH x AS (SELECT "awsRegion" AS r FROM events) SELECT r, count(*) FROM x GROUP BY 1 ORDER BY 1"#,
            r#"SELECT * FROM events WHERE "username" = 'CANARYB_USER'"#,
            r#"SELECT "eventName" FROM events WHERE false"#,
            r#"EXPLAIN SELECT count(*) FROM events WHERE "username" = 'CANARYB_USER'"#,
            r#"EXPLAIN VERBOSE SELECT "eventID" FROM events WHERE "eventID" = 'B0000000-0000-4000-8000-000000000003'"#,
            r#"EXPLAIN ANALYZE SELECT count(*) FROM events WHERE "eventID" = 'B0000000-0000-4000-8000-000000000003'"#,
            r#"EXPLAIN ANALYZE SELECT count(*) FROM events"#,
        ]
        .map(str::to_string),
    );
    out
}

/// Values of every account (and some of none) for generated conditions.
const VALUES: [(&str, &[&str]); 6] = [
    (
        "username",
        &[
            "alice",
            "bob",
            "CANARYA_USER",
            "CANARYB_USER",
            "CANARYC_USER",
            "nobody",
        ],
    ),
    (
        "eventName",
        &[
            "GetObject",
            "ConsoleLogin",
            "CanaryAEvent",
            "CanaryBEvent",
            "Nope",
        ],
    ),
    (
        "sourceIPAddress",
        &["10.0.0.1", "203.0.113.10", "203.0.113.11", "203.0.113.12"],
    ),
    (
        "errorCode",
        &[
            "AccessDenied",
            "CanaryAError",
            "CanaryBError",
            "CanaryCError",
        ],
    ),
    (
        "awsRegion",
        &["us-east-1", "aa-canary-1", "bb-canary-1", "cc-canary-1"],
    ),
    ("accountId", &[A, B, C]),
];

/// A condition over one column with a value of any account.
fn condition(rng: &mut StdRng) -> String {
    let (column, values) = VALUES[rng.random_range(0..VALUES.len())];
    let v = values[rng.random_range(0..values.len())];
    let w = values[rng.random_range(0..values.len())];
    match rng.random_range(0..9) {
        0 => format!(r#""{column}" = '{v}'"#),
        1 => format!(r#""{column}" <> '{v}'"#),
        2 => format!(r#""{column}" LIKE '{}%'"#, &v[..v.len().min(4)]),
        3 => format!(r#""{column}" IN ('{v}', '{w}')"#),
        4 => format!(r#""{column}" IS NULL"#),
        5 => format!(r#"length("{column}") > {}"#, rng.random_range(3..14)),
        6 => format!(r#"upper("{column}") = upper('{v}')"#),
        7 => format!(r#""raw" LIKE '%{v}%'"#),
        _ => format!(
            r#""eventTime" >= TIMESTAMP '2024-05-0{} {:02}:00:00'"#,
            rng.random_range(1..3),
            rng.random_range(0..24)
        ),
    }
}

/// `n` generated queries: projections, counts and breakdowns under random conditions.
fn generated_corpus(n: usize) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(26);
    let groups = [
        "username",
        "eventName",
        "sourceIPAddress",
        "errorCode",
        "awsRegion",
    ];
    (0..n)
        .map(|_| {
            let mut filter = condition(&mut rng);
            for _ in 0..rng.random_range(0..3) {
                let join = if rng.random_bool(0.6) { "AND" } else { "OR" };
                let not = if rng.random_bool(0.15) { "NOT " } else { "" };
                filter = format!("({filter}) {join} {not}({})", condition(&mut rng));
            }
            let g = groups[rng.random_range(0..groups.len())];
            let h = groups[rng.random_range(0..groups.len())];
            match rng.random_range(0..6) {
                0 => format!("SELECT count(*) AS n FROM events WHERE {filter}"),
                1 => format!(
                    r#"SELECT "{g}", count(*) AS n FROM events WHERE {filter} GROUP BY 1 ORDER BY 1 NULLS FIRST"#
                ),
                2 => format!(
                    r#"SELECT "{g}", "{h}", count(*) AS n FROM events WHERE {filter} GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2 NULLS FIRST"#
                ),
                3 => format!(
                    r#"SELECT "eventID", "{g}" FROM events WHERE {filter} ORDER BY 1 LIMIT 25"#
                ),
                4 => format!(
                    r#"SELECT count(DISTINCT "{g}") AS d, min("{h}") AS lo, max("{h}") AS hi FROM events WHERE {filter}"#
                ),
                _ => format!(
                    r#"SELECT "{g}" FROM events WHERE {filter} GROUP BY 1 HAVING count(*) > 2 ORDER BY 1 NULLS FIRST"#
                ),
            }
        })
        .collect()
}

/// Every query of the corpus, both ways, answered alike by both lakes to scope A.
fn assert_equivalent(rt: &tokio::runtime::Runtime, all: &Store, only_a: &Store, when: &str) {
    let scope = Scope::accounts([A]);
    let corpus: Vec<String> = written_corpus()
        .into_iter()
        .chain(generated_corpus(300))
        .collect();
    let mut errors = 0;
    for sql in &corpus {
        for fast in [true, false] {
            let theirs = answer(rt, only_a, &scope, sql, fast);
            let ours = answer(rt, all, &scope, sql, fast);
            assert_eq!(ours, theirs, "{when}, {sql} (fast path: {fast})");
            errors += usize::from(ours.is_err());
        }
    }
    // The corpus does reach errors: A's canaries fail their casts.
    assert!(errors >= 16, "{when}: only {errors} errors");

    // Typed lookups and breakdowns without SQL.
    let lookups = [
        Lookup {
            attributes: vec![(Attribute::Username, "CANARYB_USER".into())],
            ..Lookup::default()
        },
        Lookup {
            source_ips: vec!["203.0.113.10".into(), "203.0.113.11".into()],
            ..Lookup::default()
        },
        Lookup {
            errors_only: true,
            text: Some("203.0.113.11".into()),
            ..Lookup::default()
        },
        Lookup {
            accounts: vec![B.into()],
            ..Lookup::default()
        },
        // Exclusions and the oldest-first order run through DataFusion, under the same
        // barrier: another account's value excluded, a null-bearing column excluded.
        Lookup {
            exclude: vec![(Dimension::Username, "CANARYB_USER".into())],
            ..Lookup::default()
        },
        Lookup {
            exclude: vec![
                (Dimension::ErrorCode, "AccessDenied".into()),
                (Dimension::SourceIp, "203.0.113.11".into()),
            ],
            oldest_first: true,
            ..Lookup::default()
        },
        Lookup {
            oldest_first: true,
            max_results: 7,
            ..Lookup::default()
        },
        // Failed calls: a condition over three columns (one of them JSON), answered
        // by DataFusion under the same barrier.
        Lookup {
            failed_only: true,
            ..Lookup::default()
        },
        Lookup {
            failed_only: true,
            attributes: vec![(Attribute::EventName, "ConsoleLogin".into())],
            oldest_first: true,
            ..Lookup::default()
        },
        Lookup::default(),
    ];
    for q in lookups {
        let q = Lookup {
            max_results: if q.max_results == 0 {
                1000
            } else {
                q.max_results
            },
            ..q
        };
        // The page in its order, and where the next one starts.
        let ids = |store: &Store| -> (Vec<String>, bool) {
            let page = rt.block_on(store.lookup(&scope, &q)).unwrap();
            let ids: Vec<String> = to_json(std::slice::from_ref(&page.events))
                .unwrap()
                .iter()
                .map(|r| r["eventID"].as_str().unwrap_or_default().to_string())
                .collect();
            (ids, page.next_token.is_some())
        };
        assert_eq!(ids(all), ids(only_a), "{when}: lookup {q:?}");
        let counted = |store: &Store| {
            let mut groups = rt
                .block_on(store.count_by(&scope, &q, &[Dimension::Username, Dimension::EventName]))
                .unwrap();
            if let Some(g) = groups.as_mut() {
                g.sort();
            }
            groups
        };
        assert_eq!(counted(all), counted(only_a), "{when}: breakdown {q:?}");
        let histogram = |store: &Store| {
            rt.block_on(store.count_histogram(&scope, &q, 3_600_000_000))
                .unwrap()
        };
        assert_eq!(histogram(all), histogram(only_a), "{when}: histogram {q:?}");
    }
}

#[test]
fn a_scoped_caller_is_answered_as_if_the_lake_held_only_their_accounts() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (all, only_a) = lakes(d1.path(), d2.path());
    // Segments hold several accounts (the case the review found leaking), or A's and
    // events of no account.
    let segments = all.segments().unwrap();
    assert!(
        segments
            .iter()
            .all(|s| s.accounts.len() == 3 || s.accounts == [A])
    );
    assert!(segments.iter().any(|s| s.accounts == [A]));
    let rt = rt();
    assert_equivalent(&rt, &all, &only_a, "before compaction");

    // Spot checks of what the equivalence implies.
    let scope = Scope::accounts([A]);
    let e = answer(&rt, &all, &scope, &written_corpus()[0], true).unwrap_err();
    assert!(e.contains("CANARYA_USER") && !e.contains("CANARYB"), "{e}");
    let e = answer(
        &rt,
        &all,
        &scope,
        "EXPLAIN ANALYZE SELECT count(*) FROM events",
        false,
    )
    .unwrap_err();
    assert!(e.contains("EXPLAIN ANALYZE is not available"), "{e}");
    let (_, plan) = answer(
        &rt,
        &all,
        &scope,
        r#"EXPLAIN SELECT count(*) FROM events WHERE "username" = 'x'"#,
        false,
    )
    .unwrap();
    assert!(plan.iter().all(|r| !r.contains("physical")), "{plan:?}");
    // Administrators keep the whole EXPLAIN ANALYZE.
    assert!(answer(&rt, &all, &Scope::All, "EXPLAIN ANALYZE SELECT 1", false).is_ok());

    for store in [&all, &only_a] {
        let mut w = store.writer().unwrap();
        assert!(
            auditwatch_store::write::compact::compact(&mut w)
                .unwrap()
                .merged
                > 0
        );
    }
    assert_equivalent(&rt, &all, &only_a, "after compaction");
    let days: BTreeMap<i32, usize> =
        all.segments()
            .unwrap()
            .iter()
            .fold(BTreeMap::new(), |mut m, s| {
                *m.entry(s.day).or_default() += 1;
                m
            });
    assert!(days.values().all(|&n| n == 1), "{days:?}");
    // The events of no account are there for an administrator.
    let (_, rows) = answer(
        &rt,
        &all,
        &Scope::All,
        r#"SELECT count(*) AS n FROM events WHERE "accountId" IS NULL"#,
        true,
    )
    .unwrap();
    assert_eq!(rows, [r#"{"n":50}"#]);
}

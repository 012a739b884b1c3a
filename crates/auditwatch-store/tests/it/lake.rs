//! End-to-end tests of the lake: commit, query, lookup, dedup, compaction and scope.

use auditwatch_store::dimension::Dimension;
use auditwatch_store::rows::to_json;
use auditwatch_store::{Attribute, Lookup, Scope, SqlLimits, Store};

mod scope_equivalence;

fn record(i: usize, account: &str, user: &str, name: &str, day: u32) -> String {
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","userName":"{user}","accessKeyId":"AKIA{i:04}","arn":"arn:aws:iam::{account}:user/{user}"}},"eventTime":"2024-03-{day:02}T10:{m:02}:{s:02}Z","eventSource":"s3.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"10.0.0.{ip}","userAgent":"aws-cli","requestParameters":{{"bucketName":"b{i}"}},"responseElements":null,"eventID":"00000000-0000-4000-8000-{i:012}","readOnly":true,"resources":[{{"ARN":"arn:aws:s3:::b{i}","type":"AWS::S3::Bucket"}}],"eventType":"AwsApiCall","recipientAccountId":"{account}"}}"#,
        m = i / 60 % 60,
        s = i % 60,
        ip = i % 250
    )
}

fn commit(store: &Store, texts: &[String], location: &str) -> auditwatch_store::CommitStats {
    commit_from_key(store, texts, location, None)
}

/// Commits `texts` as read from an object whose S3 key names `account`.
fn commit_from_key(
    store: &Store,
    texts: &[String],
    location: &str,
    account: Option<&str>,
) -> auditwatch_store::CommitStats {
    auditwatch_store::testing::commit_records(store, texts, location, account)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn commit_query_lookup_dedup_compact_and_scope() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut texts = Vec::new();
    for i in 0..300 {
        let account = if i % 3 == 0 {
            "111111111111"
        } else {
            "222222222222"
        };
        let user = if i % 2 == 0 { "alice" } else { "bob" };
        let name = if i % 10 == 0 {
            "DeleteBucket"
        } else {
            "GetObject"
        };
        texts.push(record(i, account, user, name, 1 + (i % 3) as u32));
    }
    let s = commit(&store, &texts[..200], "a");
    assert_eq!((s.added, s.duplicates, s.segments), (200, 0, 3));
    // Overlapping batch: 100 old + 100 new, and a repeat inside the batch.
    let mut second = texts[100..].to_vec();
    second.push(texts[250].clone());
    let s = commit(&store, &second, "b");
    assert_eq!((s.added, s.duplicates), (100, 101));

    let rt = rt();
    let sql = |scope: &Scope, q: &str| {
        let r = rt
            .block_on(store.sql(scope, q, SqlLimits::default()))
            .unwrap();
        to_json(&r.batches).unwrap()
    };
    let n = sql(&Scope::All, "SELECT count(*) AS n FROM events");
    assert_eq!(n[0]["n"], 300);
    // Unquoted camelCase, struct access, JSON functions.
    let rows = sql(
        &Scope::All,
        r#"SELECT eventName, count(*) AS n FROM events WHERE "userIdentity"."userName" = 'alice' AND json_get_str(requestParameters, 'bucketName') = 'b10' GROUP BY 1"#,
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["eventName"], "DeleteBucket");
    let rows = sql(
        &Scope::All,
        "SELECT userIdentity.arn AS a FROM events WHERE eventID = '00000000-0000-4000-8000-000000000007'",
    );
    assert_eq!(rows[0]["a"], "arn:aws:iam::222222222222:user/bob");

    // Scope: account 111 sees only its 100 rows, through every path.
    let scoped = Scope::accounts(["111111111111"]);
    assert_eq!(
        sql(&scoped, "SELECT count(*) AS n FROM events")[0]["n"],
        100
    );
    assert_eq!(
        sql(
            &Scope::accounts(Vec::<String>::new()),
            "SELECT count(*) AS n FROM events"
        )[0]["n"],
        0
    );

    // Newest first in a window no segment overlaps, and in an empty scope: no rows
    // (the plan has no file to read; it once failed the planner's checks).
    let newest = r#"SELECT "eventID" FROM events WHERE "eventTime" < TIMESTAMP '2001-01-01 00:00:00' ORDER BY "eventTime" DESC LIMIT 5"#;
    assert!(sql(&Scope::All, newest).is_empty());
    let everything = r#"SELECT "eventID" FROM events ORDER BY "eventTime" DESC LIMIT 5"#;
    assert!(sql(&Scope::accounts(Vec::<String>::new()), everything).is_empty());
    assert_eq!(sql(&Scope::All, everything).len(), 5);

    // Read-only.
    for bad in [
        "CREATE TABLE x AS SELECT 1",
        "INSERT INTO events SELECT * FROM events",
        "SET datafusion.execution.batch_size = 1",
        "COPY events TO '/tmp/x.parquet'",
    ] {
        assert!(
            rt.block_on(store.sql(&Scope::All, bad, SqlLimits::default()))
                .is_err(),
            "{bad}"
        );
    }
    // Row limit.
    let r = rt
        .block_on(store.sql(
            &Scope::All,
            "SELECT * FROM events",
            SqlLimits {
                max_rows: 7,
                ..SqlLimits::default()
            },
        ))
        .unwrap();
    assert!(r.truncated);
    assert_eq!(r.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 7);

    // Lookup with pagination: DeleteBucket (i % 10 == 0, always alice) → 30 events.
    let mut q = Lookup {
        attributes: vec![
            (Attribute::EventName, "DeleteBucket".into()),
            (Attribute::Username, "alice".into()),
        ],
        max_results: 4,
        ..Lookup::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = rt.block_on(store.lookup(&Scope::All, &q)).unwrap();
        let rows = to_json(&[page.events]).unwrap();
        assert!(rows.len() <= 4);
        seen.extend(rows.iter().map(|r| {
            (
                r["eventTime"].as_str().unwrap().to_string(),
                r["eventID"].as_str().unwrap().to_string(),
            )
        }));
        match page.next_token {
            Some(t) => q.next_token = Some(t),
            None => break,
        }
    }
    assert_eq!(seen.len(), 30);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first");
    // A token for another query is refused.
    let other = Lookup {
        attributes: vec![(Attribute::EventName, "GetObject".into())],
        max_results: 4,
        next_token: q.next_token.clone(),
        ..Lookup::default()
    };
    if other.next_token.is_some() {
        assert!(rt.block_on(store.lookup(&Scope::All, &other)).is_err());
    }
    // Every attribute key works.
    let by = |a: Attribute, v: &str| {
        let q = Lookup {
            attributes: vec![(a, v.into())],
            max_results: 1000,
            ..Lookup::default()
        };
        rt.block_on(store.lookup(&Scope::All, &q))
            .unwrap()
            .events
            .num_rows()
    };
    assert_eq!(
        by(Attribute::EventId, "00000000-0000-4000-8000-000000000005"),
        1
    );
    assert_eq!(by(Attribute::ReadOnly, "true"), 300);
    assert_eq!(by(Attribute::ReadOnly, "false"), 0);
    assert_eq!(by(Attribute::ResourceType, "AWS::S3::Bucket"), 300);
    assert_eq!(by(Attribute::ResourceName, "b17"), 1);
    assert_eq!(by(Attribute::ResourceName, "arn:aws:s3:::b17"), 1);
    assert_eq!(by(Attribute::EventSource, "s3.amazonaws.com"), 300);
    assert_eq!(by(Attribute::AccessKeyId, "AKIA0042"), 1);
    // Scoped lookup never returns other accounts.
    let q = Lookup {
        attributes: vec![(Attribute::Username, "bob".into())],
        max_results: 1000,
        ..Lookup::default()
    };
    let page = rt.block_on(store.lookup(&scoped, &q)).unwrap();
    let rows = to_json(&[page.events]).unwrap();
    assert_eq!(rows.len(), 50);
    assert!(rows.iter().all(|r| r["accountId"] == "111111111111"));

    // Compaction merges the 6 small segments into 3 (one per day) and keeps every row.
    let mut w = store.writer().unwrap();
    let c = auditwatch_store::write::compact::compact(&mut w).unwrap();
    assert_eq!((c.merged, c.written, c.rows), (6, 3, 300));
    drop(w);
    assert_eq!(store.catalog().unwrap().segments().unwrap().len(), 3);
    assert_eq!(
        sql(
            &Scope::All,
            "SELECT count(DISTINCT eventID) AS n FROM events"
        )[0]["n"],
        300
    );
    // Dedup still knows every key after compaction.
    let s = commit(&store, &texts, "c");
    assert_eq!((s.added, s.duplicates), (0, 300));
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let _w = store.writer().unwrap();
    let err = store.writer().unwrap_err().to_string();
    assert!(err.contains("another auditwatch process"), "{err}");
}

#[test]
fn orphan_files_are_moved_out_of_the_table_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let day = store.lake().join("events/day=2024-01-01");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(day.join("orphan.parquet"), b"x").unwrap();
    drop(store.writer().unwrap());
    assert!(!day.join("orphan.parquet").exists());
}

#[test]
fn retention_drops_old_days_per_account_in_one_step_and_keeps_the_rest_exact() {
    use auditwatch_store::write::retention::{Retention, apply};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Days 1, 2 and 3 of March 2024; both accounts in every day's segment: account
    // 1111… has 34/33/33 events on those days, 2222… 68/66/66.
    let mut texts = Vec::new();
    for i in 0..300 {
        let account = if i % 3 == 0 {
            "111111111111"
        } else {
            "222222222222"
        };
        texts.push(record(i, account, "alice", "GetObject", day_of(i)));
    }
    commit(&store, &texts, "a");
    let count = |sql_text: &str| {
        let r = rt()
            .block_on(store.sql(&Scope::All, sql_text, SqlLimits::default()))
            .unwrap();
        to_json(&r.batches).unwrap()[0]["n"].as_u64().unwrap()
    };
    // "Today" is 2024-03-04 (day 19786): 3 days keeps March 1 through 4.
    let today = 19_786;
    let mut w = store.writer().unwrap();
    let keep_all = Retention {
        days: Some(3),
        accounts: Default::default(),
    };
    assert_eq!(apply(&mut w, &keep_all, today).unwrap().rows_dropped, 0);

    // Account 1111… keeps 1 day (March 3 onwards), the others 2 days (March 2).
    let policy = Retention {
        days: Some(2),
        accounts: [("111111111111".to_string(), 1)].into(),
    };
    let s = apply(&mut w, &policy, today).unwrap();
    // Day 1 goes whole; day 2 is rewritten without account 1111…; day 3 stays.
    assert_eq!((s.retired, s.rewritten), (1, 1));
    assert_eq!(s.rows_dropped, 102 + 33);
    drop(w);
    let segments = store.catalog().unwrap().segments().unwrap();
    assert_eq!(segments.len(), 2);
    assert_eq!(segments[0].accounts, ["222222222222"]);
    assert_eq!(count("SELECT count(*) AS n FROM events"), 300 - 135);
    assert_eq!(
        count("SELECT count(*) AS n FROM events WHERE accountId = '111111111111'"),
        33
    );
    assert_eq!(
        count(
            "SELECT count(*) AS n FROM events WHERE eventTime < TIMESTAMP '2024-03-02T00:00:00Z'"
        ),
        0
    );
    // Only the retired files left the table folder.
    let files = walk(&store.lake().join("events"));
    assert_eq!(files.len(), 2, "{files:?}");
    // The rewritten segments carry the keys of the rows they kept: committing them
    // again adds nothing, while a dropped event can come back.
    let kept: Vec<String> = (0..300)
        .filter(|&i| day_of(i) == 3 || (day_of(i) == 2 && i % 3 != 0))
        .map(|i| texts[i].clone())
        .collect();
    let s = commit(&store, &kept, "b");
    assert_eq!((s.added, s.duplicates), (0, kept.len() as u64));
    let s = commit(&store, &texts[..1], "c");
    assert_eq!(s.added, 1);
}

fn day_of(i: usize) -> u32 {
    1 + (i / 3 % 3) as u32
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// A store holding 200 events of alice in two segments (two commits).
fn two_segments_of_alice(dir: &std::path::Path) -> Store {
    let store = Store::open(dir).unwrap();
    let texts: Vec<String> = (0..200)
        .map(|i| record(i, "111111111111", "alice", "GetObject", 1))
        .collect();
    commit(&store, &texts[..100], "a");
    commit(&store, &texts[100..], "b");
    store
}

#[test]
fn one_writer_still_finds_duplicates_after_compacting_the_days_it_had_read() {
    use auditwatch_store::testing::commit_with;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let texts: Vec<String> = (0..120)
        .map(|i| record(i, "111111111111", "alice", "GetObject", 1 + (i % 3) as u32))
        .collect();
    let mut w = store.writer().unwrap();
    let s = commit_with(&mut w, &texts[..60], "a", None);
    assert_eq!((s.added, s.duplicates), (60, 0));
    // The writer now holds the three days' keys; two segments a day after this.
    let s = commit_with(&mut w, &texts[30..], "b", None);
    assert_eq!((s.added, s.duplicates), (60, 30));
    let c = auditwatch_store::write::compact::compact(&mut w).unwrap();
    assert_eq!((c.merged, c.written, c.rows), (6, 3, 120));
    // The same writer, its cached days' segments retired: every key is still known.
    let s = commit_with(&mut w, &texts, "c", None);
    assert_eq!((s.added, s.duplicates), (0, 120));
    let more: Vec<String> = (120..130)
        .map(|i| record(i, "111111111111", "alice", "GetObject", 1 + (i % 3) as u32))
        .collect();
    let s = commit_with(&mut w, &[&more[..], &texts[..5]].concat(), "d", None);
    assert_eq!((s.added, s.duplicates), (10, 5));
}

/// Merges the two segments of [`two_segments_of_alice`], retiring them to `.trash/`.
fn compact_the_two(store: &Store) {
    let mut w = store.writer().unwrap();
    assert_eq!(
        auditwatch_store::write::compact::compact(&mut w)
            .unwrap()
            .merged,
        2
    );
}

#[test]
fn a_query_planned_before_compaction_still_reads_the_segments_it_planned_with() {
    let dir = tempfile::tempdir().unwrap();
    let store = two_segments_of_alice(dir.path());
    let rt = rt();
    let ctx = store.session(&Scope::All).unwrap();
    let plan = rt
        .block_on(async {
            ctx.sql(r#"SELECT count(*) AS n, count(DISTINCT "eventID") AS d FROM events"#)
                .await?
                .create_physical_plan()
                .await
        })
        .unwrap();
    // The two segments are merged and moved out of the table folder before the
    // planned query runs.
    compact_the_two(&store);
    let batches = rt
        .block_on(datafusion::physical_plan::collect(plan, ctx.task_ctx()))
        .unwrap();
    let rows = to_json(&batches).unwrap();
    assert_eq!(
        (rows[0]["n"].as_u64(), rows[0]["d"].as_u64()),
        (Some(200), Some(200))
    );
}

#[test]
fn a_direct_lookup_listed_before_compaction_reads_the_retired_segments() {
    let dir = tempfile::tempdir().unwrap();
    let store = two_segments_of_alice(dir.path());
    let listed = store.catalog().unwrap().segments().unwrap();
    compact_the_two(&store);
    let q = Lookup {
        attributes: vec![(Attribute::Username, "alice".into())],
        max_results: 500,
        ..Lookup::default()
    };
    let footers = auditwatch_store::direct::lookups::Footers::default();
    let page = auditwatch_store::direct::lookups::lookup(
        store.lake(),
        None,
        &listed,
        &footers,
        &Scope::All,
        &q,
        None,
    )
    .unwrap()
    .unwrap();
    assert_eq!(page.events.num_rows(), 200);
}

/// A varied record: ties in `eventTime`, errors, accounts, regions, read-only or not.
fn varied(i: usize) -> String {
    let account = ["111111111111", "222222222222", "333333333333"][i % 3];
    let user = ["alice", "bob", "carol", "dave", "erin"][(i / 3 + i / 5) % 5]; // ties share users
    let name = ["GetObject", "PutObject", "DeleteBucket", "ListBuckets"][(i / 3 + i % 4) % 4];
    let error = if i.is_multiple_of(7) {
        r#","errorCode":"AccessDenied""#
    } else {
        ""
    };
    let id = if i % 97 == 5 {
        String::new()
    } else {
        format!(
            r#","eventID":"{:08x}-0000-4000-8000-{i:012}""#,
            (i * 2_654_435_761) % 0xffff_ffff
        )
    };
    let second = i / 3; // three events per second
    // Nested parts in some records: a role session, resources, TLS, payloads.
    let identity = if i % 5 == 1 {
        format!(
            r#"{{"type":"AssumedRole","principalId":"AROA:{user}","arn":"arn:aws:sts::{account}:assumed-role/r/{user}","accountId":"{account}","accessKeyId":"ASIA{k:04}","sessionContext":{{"sessionIssuer":{{"type":"Role","arn":"arn:aws:iam::{account}:role/r","userName":"r"}},"attributes":{{"creationDate":"2024-03-01T00:00:00Z","mfaAuthenticated":"false"}}}}}}"#,
            k = i % 13
        )
    } else {
        format!(
            r#"{{"type":"IAMUser","userName":"{user}","accessKeyId":"AKIA{k:04}"}}"#,
            k = i % 13
        )
    };
    // Resources of several shapes: a bucket and an object without an ARN, a role ARN
    // whose name follows a `/`, an empty list, null.
    let k = i % 11;
    let extra = match i % 3 {
        0 => format!(
            r#","resources":[{{"ARN":"arn:aws:s3:::b{k}","type":"AWS::S3::Bucket"}},{{"type":"AWS::S3::Object"}}],"tlsDetails":{{"tlsVersion":"TLSv1.3"}}"#
        ),
        1 if i % 4 == 1 => format!(
            r#","responseElements":{{"ok":[1,2,{{"x":null}}]}},"additionalEventData":{{"bytes":12}},"resources":[{{"ARN":"arn:aws:iam::{account}:role/r{k}","accountId":"{account}","type":"AWS::IAM::Role"}}]"#
        ),
        1 => r#","responseElements":{"ok":[1,2,{"x":null}]},"additionalEventData":{"bytes":12}"#
            .to_string(),
        _ if i % 4 == 2 => r#","responseElements":null,"resources":[]"#.to_string(),
        _ => r#","responseElements":null,"resources":null"#.to_string(),
    };
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{identity},"eventTime":"2024-03-{day:02}T{h:02}:{m:02}:{s:02}Z","eventSource":"{src}","eventName":"{name}","awsRegion":"{region}","sourceIPAddress":"10.0.0.{ip}","readOnly":{ro}{error},"requestParameters":{{"n":{i}}}{id}{extra},"eventType":"AwsApiCall","recipientAccountId":"{account}"}}"#,
        day = 1 + second / 86_400,
        h = second / 3600 % 24,
        m = second / 60 % 60,
        s = second % 60,
        src = if i.is_multiple_of(5) {
            "iam.amazonaws.com"
        } else {
            "s3.amazonaws.com"
        },
        region = if i.is_multiple_of(4) {
            "eu-west-1"
        } else {
            "us-east-1"
        },
        ip = i % 17,
        ro = i.is_multiple_of(2),
    )
}

/// A store of 90 k `varied` events in several overlapping commits, so a day has
/// several segments whose times interleave, one segment large enough for several row
/// groups, and one batch from an S3 key naming another account than the records do.
fn overlapping_segments(dir: &std::path::Path) -> Store {
    let store = Store::open(dir).unwrap();
    let texts: Vec<String> = (0..90_000).map(varied).collect();
    let mut batches: Vec<Vec<String>> = vec![Vec::new(); 4];
    for (i, t) in texts.iter().enumerate() {
        batches[if i < 70_000 { 0 } else { 1 + i % 3 }].push(t.clone());
    }
    for (n, b) in batches.iter().enumerate() {
        let key = (n == 2).then_some("444455556666");
        commit_from_key(&store, b, &format!("batch-{n}"), key);
    }
    store
}

#[test]
fn direct_lookups_answer_exactly_what_the_query_engine_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = overlapping_segments(dir.path());
    let rt = rt();
    let lake = store.lake().to_path_buf();
    let segments = store.catalog().unwrap().segments().unwrap();
    assert!(segments.len() >= 4, "{} segments", segments.len());
    let footers = auditwatch_store::direct::lookups::Footers::default();
    let attr = |a: Attribute, v: &str| (a, v.to_string());
    let queries = vec![
        Lookup::default(),
        Lookup {
            attributes: vec![attr(Attribute::Username, "carol")],
            ..Lookup::default()
        },
        Lookup {
            attributes: vec![
                attr(Attribute::Username, "alice"),
                attr(Attribute::EventSource, "iam.amazonaws.com"),
            ],
            errors_only: true,
            ..Lookup::default()
        },
        Lookup {
            attributes: vec![attr(Attribute::EventName, "DeleteBucket")],
            start: Some(1_709_251_200_000_000 + 3_600_000_000), // 2024-03-01T01:00Z
            end: Some(1_709_251_200_000_000 + 7_200_000_000),
            ..Lookup::default()
        },
        Lookup {
            attributes: vec![
                attr(Attribute::ReadOnly, "false"),
                attr(Attribute::AccessKeyId, "AKIA0003"),
            ],
            regions: vec!["eu-west-1".into()],
            ..Lookup::default()
        },
        Lookup {
            accounts: vec!["333333333333".into()],
            error_codes: vec!["AccessDenied".into()],
            source_ips: vec!["10.0.0.3".into(), "10.0.0.4".into()],
            ..Lookup::default()
        },
        Lookup {
            attributes: vec![attr(
                Attribute::EventId,
                "00000000-0000-4000-8000-000000000000",
            )],
            ..Lookup::default()
        },
        Lookup {
            text: Some(r#""n":4242}"#.into()),
            ..Lookup::default()
        },
        Lookup {
            attributes: vec![attr(Attribute::Username, "nobody")],
            ..Lookup::default()
        },
        // The resource attributes: a whole ARN, an ARN's last component (after `:` and
        // after `/`), a type, one entry's type with another entry's name, a window.
        Lookup {
            attributes: vec![attr(Attribute::ResourceName, "arn:aws:s3:::b3")],
            ..Lookup::default()
        },
        Lookup {
            attributes: vec![
                attr(Attribute::ResourceName, "r7"),
                attr(Attribute::Username, "bob"),
            ],
            ..Lookup::default()
        },
        Lookup {
            attributes: vec![attr(Attribute::ResourceType, "AWS::S3::Object")],
            errors_only: true,
            ..Lookup::default()
        },
        Lookup {
            attributes: vec![
                attr(Attribute::ResourceType, "AWS::S3::Object"),
                attr(Attribute::ResourceName, "b5"),
            ],
            ..Lookup::default()
        },
        Lookup {
            attributes: vec![attr(Attribute::ResourceName, "b5")],
            start: Some(1_709_251_200_000_000 + 3_600_000_000),
            ..Lookup::default()
        },
    ];
    let scopes = [
        Scope::All,
        Scope::accounts(["222222222222"]),
        Scope::accounts(Vec::<String>::new()),
    ];
    for scope in &scopes {
        for base in &queries {
            for max_results in [1, 7, 50, 1000] {
                let mut q = Lookup {
                    max_results,
                    ..base.clone()
                };
                // Page through (60 pages at 7 a page, else 6), comparing every
                // page and token.
                let pages = if max_results == 7 { 60 } else { 6 };
                for _ in 0..pages {
                    let direct = auditwatch_store::direct::lookups::lookup(
                        &lake, None, &segments, &footers, scope, &q, None,
                    )
                    .unwrap()
                    .expect("the direct path handles these filters");
                    let ctx = store.session(scope).unwrap();
                    let engine = rt
                        .block_on(auditwatch_store::lookup::lookup(&ctx, &q))
                        .unwrap();
                    let keys = |b: &datafusion::arrow::array::RecordBatch| -> Vec<String> {
                        to_json(std::slice::from_ref(b))
                            .unwrap()
                            .iter()
                            .map(|r| format!("{} {}", r["eventTime"], r["raw"]))
                            .collect()
                    };
                    assert_eq!(
                        keys(&direct.events),
                        keys(&engine.events),
                        "{q:?} as {scope:?}"
                    );
                    // Every column, not only the record: phase 2 derives them from `raw`.
                    assert_eq!(direct.events, engine.events, "{q:?} as {scope:?}");
                    assert_eq!(direct.next_token, engine.next_token, "{q:?}");
                    match direct.next_token {
                        Some(t) => q.next_token = Some(t),
                        None => break,
                    }
                }
            }
        }
    }
}

#[test]
fn direct_lookups_keep_the_newest_across_ties_at_the_page_edge() {
    // A newer segment with a few matches, then an older one whose matches share one
    // second and are stored in no particular id order: the page edge falls inside it.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let event = |id: String, second: u32| {
        format!(
            r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","userName":"zed"}},"eventTime":"2024-03-01T10:00:{second:02}Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"10.0.0.1","eventID":"{id}","recipientAccountId":"111111111111"}}"#
        )
    };
    let newer: Vec<String> = (0..5)
        .map(|j| event(format!("00000000-0000-4000-8000-1000000000{j:02}"), 41))
        .collect();
    // Stored in this order: 0..=14, then 39, then 38 down to 15. With 5 newer matches
    // and 21 wanted, the 16th seen (39) is no bound for the ones after it.
    let order = |j: usize| match j {
        0..=14 => j,
        15 => 39,
        _ => 54 - j,
    };
    let older: Vec<String> = (0..40)
        .map(|j| {
            event(
                format!("00000000-0000-4000-8000-2000000000{:02}", order(j)),
                40,
            )
        })
        .collect();
    commit(&store, &older, "older");
    commit(&store, &newer, "newer");
    let rt = rt();
    let lake = store.lake().to_path_buf();
    let segments = store.catalog().unwrap().segments().unwrap();
    let footers = auditwatch_store::direct::lookups::Footers::default();
    // A cache bounded to one footer answers the same, holding one file at a time.
    let one = auditwatch_store::direct::lookups::Footers::with_limit(1);
    let mut q = Lookup {
        attributes: vec![(Attribute::Username, "zed".into())],
        max_results: 20,
        ..Lookup::default()
    };
    let mut all = Vec::new();
    loop {
        let direct = auditwatch_store::direct::lookups::lookup(
            &lake,
            None,
            &segments,
            &footers,
            &Scope::All,
            &q,
            None,
        )
        .unwrap()
        .unwrap();
        let bounded = auditwatch_store::direct::lookups::lookup(
            &lake,
            None,
            &segments,
            &one,
            &Scope::All,
            &q,
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(bounded.events, direct.events);
        assert_eq!(one.cached().0, 1);
        assert!(footers.cached().0 > 1, "{:?}", footers.cached());
        let ctx = store.session(&Scope::All).unwrap();
        let engine = rt
            .block_on(auditwatch_store::lookup::lookup(&ctx, &q))
            .unwrap();
        assert_eq!(direct.events, engine.events);
        assert_eq!(direct.next_token, engine.next_token);
        for r in to_json(std::slice::from_ref(&direct.events)).unwrap() {
            all.push(r["eventID"].as_str().unwrap().to_string());
        }
        match direct.next_token {
            Some(t) => q.next_token = Some(t),
            None => break,
        }
    }
    // Newest first: the later second, then the earlier; ids descending within each.
    let ids = |texts: &[String]| -> Vec<String> {
        let mut v: Vec<String> = texts
            .iter()
            .map(|t| serde_json::from_str::<serde_json::Value>(t).unwrap()["eventID"].to_string())
            .map(|s| s.trim_matches('"').to_string())
            .collect();
        v.sort_by(|a, b| b.cmp(a));
        v
    };
    let want: Vec<String> = ids(&newer).into_iter().chain(ids(&older)).collect();
    assert_eq!(all, want);
}

#[test]
fn segments_rule_out_absent_event_ids_and_keep_the_pages_a_hit_reads_small() {
    use datafusion::parquet::arrow::arrow_reader::{
        ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
    };
    use datafusion::parquet::file::metadata::PageIndexPolicy;

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let texts: Vec<String> = (0..40_000)
        .map(|i| record(i, "111111111111", "alice", "GetObject", 1))
        .collect();
    commit(&store, &texts, "a");
    let files: Vec<_> = walk(&store.lake().join("events"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(files.len(), 1);
    let file = std::fs::File::open(&files[0]).unwrap();
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options).unwrap();
    let meta = builder.metadata().clone();
    let leaf = |name: &str| {
        let descr = meta.file_metadata().schema_descr();
        (0..descr.num_columns())
            .find(|&i| descr.column(i).path().string() == name)
            .unwrap()
    };
    let id_leaf = leaf("eventID");
    let (mut checks, mut false_positives) = (0u32, 0u32);
    for rg in 0..meta.num_row_groups() {
        let bloom = builder
            .get_row_group_column_bloom_filter(rg, id_leaf)
            .unwrap()
            .expect("eventID has a bloom filter");
        // Every stored id passes; ids never stored pass at most 0.5 % of the time.
        assert!(bloom.check("00000000-0000-4000-8000-000000000007") || rg > 0);
        for j in 0..20_000 {
            checks += 1;
            let absent = format!("ffffffff-0000-4000-8000-{j:012}");
            false_positives += u32::from(bloom.check(absent.as_str()));
        }
        // One hit reads one eventID page: at most 32 KiB uncompressed, so ≥ 36 pages
        // for 32,768 ids of 36 bytes (eventTime is dictionary-encoded: a few KiB).
        let rows = meta.row_group(rg).num_rows() as usize;
        let pages = meta.offset_index().unwrap()[rg][id_leaf]
            .page_locations()
            .len();
        assert!(
            pages >= rows * 36 / (32 * 1024),
            "{pages} eventID pages for {rows} rows"
        );
    }
    let rate = f64::from(false_positives) / f64::from(checks);
    assert!(
        rate <= 0.005,
        "{false_positives} of {checks} absent ids passed ({rate})"
    );
}

/// The segments the catalog lists, as lake-relative paths.
fn listed_paths(store: &Store) -> std::collections::BTreeSet<String> {
    let segments = store.catalog().unwrap().segments().unwrap();
    segments.into_iter().map(|s| s.path).collect()
}

/// The segment files under `root/events`, as lake-relative paths.
fn segment_files(root: &std::path::Path) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let Ok(days) = std::fs::read_dir(root.join("events")) else {
        return out;
    };
    for day in days.flatten() {
        for f in std::fs::read_dir(day.path()).unwrap().flatten() {
            out.insert(format!(
                "events/{}/{}",
                day.file_name().to_string_lossy(),
                f.file_name().to_string_lossy()
            ));
        }
    }
    out
}

#[test]
fn segments_kept_in_a_remote_location_answer_on_a_machine_without_local_copies() {
    let dir = tempfile::tempdir().unwrap();
    let remote_dir = dir.path().join("remote");
    let url = format!("file://{}", remote_dir.display());
    let data = dir.path().join("node-a");
    let store = Store::open_with_lake(&data, Some(&url), None).unwrap();
    assert_eq!(store.remote().map(|r| r.url()), Some(url.as_str()));
    let texts: Vec<String> = (0..300)
        .map(|i| {
            let name = if i % 10 == 0 {
                "DeleteBucket"
            } else {
                "GetObject"
            };
            record(i, "111111111111", "alice", name, 1 + (i % 3) as u32)
        })
        .collect();
    commit(&store, &texts[..150], "a");
    commit(&store, &texts[150..], "b");

    // Every listed segment is in the remote location, in the lake's own layout.
    let listed = listed_paths(&store);
    assert_eq!(listed.len(), 6);
    assert_eq!(segment_files(&remote_dir), listed);
    assert_eq!(segment_files(store.lake()), listed);

    // Another machine with the same catalog and no segment files: the catalog names
    // the remote location, SQL reads the segments there, lookups fetch copies.
    let data_b = dir.path().join("node-b");
    std::fs::create_dir_all(&data_b).unwrap();
    std::fs::copy(data.join("catalog.db"), data_b.join("catalog.db")).unwrap();
    let b = Store::open(&data_b).unwrap();
    assert!(segment_files(b.lake()).is_empty());
    let rt = rt();
    let sql = |s: &Store, q: &str| {
        to_json(
            &rt.block_on(s.sql(&Scope::All, q, SqlLimits::default()))
                .unwrap()
                .batches,
        )
        .unwrap()
    };
    let counts = r#"SELECT count(*) AS n, count(DISTINCT "eventID") AS d FROM events"#;
    assert_eq!(sql(&b, counts)[0]["n"], 300);
    assert_eq!(sql(&b, counts)[0]["d"], 300);
    let q = Lookup {
        attributes: vec![(Attribute::EventName, "DeleteBucket".into())],
        max_results: 50,
        ..Lookup::default()
    };
    let page = rt.block_on(b.lookup(&Scope::All, &q)).unwrap();
    assert_eq!(page.events.num_rows(), 30);
    assert!(
        !segment_files(b.lake()).is_empty(),
        "the lookup kept local copies"
    );
    // A third machine keeping at most one local copy (`[lake] cache_bytes`) answers
    // the same, fetching and dropping copies as it goes.
    let data_c = dir.path().join("node-c");
    std::fs::create_dir_all(&data_c).unwrap();
    std::fs::copy(data.join("catalog.db"), data_c.join("catalog.db")).unwrap();
    let c = Store::open_with_lake(&data_c, None, Some(1)).unwrap();
    let page_c = rt.block_on(c.lookup(&Scope::All, &q)).unwrap();
    assert_eq!(page_c.events, page.events);
    assert_eq!(
        segment_files(c.lake()).len(),
        1,
        "only the last copy fetched is kept"
    );
    assert_eq!(sql(&c, counts)[0]["n"], 300);

    // The copy reads; only the data directory that set the location writes to it.
    let e = b.writer().unwrap_err().to_string();
    assert!(e.contains("another data directory writes it"), "{e}");

    // Compaction on the first machine: the merged-away segments leave the remote
    // table folder for its trash; the merged ones are uploaded before they are listed.
    let mut w = store.writer().unwrap();
    let stats = auditwatch_store::write::compact::compact(&mut w).unwrap();
    drop(w);
    assert_eq!(stats.merged, 6);
    let now = listed_paths(&store);
    assert_eq!(now.len(), 3);
    assert_eq!(segment_files(&remote_dir), now);
    let trash: Vec<_> = std::fs::read_dir(remote_dir.join(".trash"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(trash.len(), 6);
    assert_eq!(sql(&store, counts)[0]["n"], 300);

    // A second new data directory pointed at the same location is refused: it would
    // retire the first one's segments as objects its own catalog does not list.
    let e = Store::open_with_lake(&dir.path().join("node-x"), Some(&url), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("already written by another data directory"),
        "{e}"
    );
    assert_eq!(segment_files(&remote_dir), now);

    // The location is fixed once set, and cannot be added to local segments.
    let other = format!("file://{}", dir.path().join("elsewhere").display());
    let e = Store::open_with_lake(&data, Some(&other), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot move"), "{e}");
    let local = dir.path().join("local-only");
    let s = Store::open(&local).unwrap();
    commit(&s, &texts[..10], "c");
    drop(s);
    let e = Store::open_with_lake(&local, Some(&url), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("already holds 3 segments written locally"),
        "{e}"
    );
    let e = Store::open_with_lake(&dir.path().join("new"), Some("ftp://x/y"), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ftp://x/y") && e.contains("unsupported scheme"),
        "{e}"
    );
}

/// Records whose text holds IPv4 addresses and access-key ids in several places, with
/// near misses (`10.1.2.3` beside `10.1.2.30` and `110.1.2.3`, a key inside a longer
/// run), for the free-text searches the token index answers.
fn with_tokens(i: usize) -> String {
    let base = varied(i);
    let ip = format!("10.{}.{}.{}", i % 3, i % 5, i % 41);
    let key = format!("AKIA{:016}", i % 23);
    let extra = match i % 4 {
        0 => format!(r#","serviceEventDetails":{{"peer":"1{ip}","key":"{key}"}}"#),
        1 => format!(r#","serviceEventDetails":{{"ips":["{ip}","{ip}0"],"k":"X{key}Z"}}"#),
        2 => format!(r#","serviceEventDetails":{{"note":"from {ip} key {key}."}}"#),
        _ => String::new(),
    };
    // Replace the closing brace: the extra fields go into the same record.
    format!("{}{extra}}}", &base[..base.len() - 1])
}

#[test]
fn free_text_searches_the_token_index_answers_are_those_of_reading_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // One segment of three row groups (indexed in parts, then joined), then smaller ones.
    let texts: Vec<String> = (0..80_000).map(with_tokens).collect();
    for (n, chunk) in [&texts[..70_000], &texts[70_000..75_000], &texts[75_000..]]
        .into_iter()
        .enumerate()
    {
        commit_from_key(&store, chunk, &format!("batch-{n}"), None);
    }
    // One segment as an older writer left it: no index, so its text is read.
    let segments = store.catalog().unwrap().segments().unwrap();
    assert_eq!(segments.len(), 3);
    let smallest = segments.iter().min_by_key(|s| s.rows).unwrap().path.clone();
    assert_eq!(
        auditwatch_store::testing::strip_token_indexes(&store, &smallest),
        1
    );
    let rt = rt();
    let ids = |sql: String, scope: &Scope| -> Vec<String> {
        let r = rt
            .block_on(store.sql(scope, &sql, SqlLimits::default()))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        to_json(&r.batches)
            .unwrap()
            .iter()
            .map(|row| {
                row.values()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    let searches = [
        "10.1.2.3",
        "10.0.0.1",
        "0.0.0.1",
        "10.2.4.40",
        "10.2.4.400",
        "110.1.1.1",
        "AKIA0000000000000007",
        "AKIA0000000000000022",
        "0000000000000000002Z",
        "KIA00000000000000001",
        "10.9.9.9",
    ];
    let scopes = [Scope::All, Scope::accounts(["222222222222"])];
    let mut found = 0;
    for scope in &scopes {
        for s in searches {
            // strpos() is not a filter the index answers: it reads every record's text.
            let oracle = |pred: &str| {
                format!(
                    r#"SELECT "eventTime", "eventID" FROM events WHERE {pred} ORDER BY 1 DESC, 2 DESC NULLS LAST"#
                )
            };
            let want = ids(oracle(&format!("strpos(raw, '{s}') > 0")), scope);
            found += want.len();
            for pred in [
                format!("raw LIKE '%{s}%'"),
                format!("contains(raw, '{s}')"),
                format!("raw LIKE '%{s}%' AND \"eventName\" <> 'Nothing'"),
            ] {
                assert_eq!(ids(oracle(&pred), scope), want, "{pred} as {scope:?}");
            }
            if !s.contains('A') {
                let pred = format!("raw ILIKE '%{s}%'");
                assert_eq!(ids(oracle(&pred), scope), want, "{pred} as {scope:?}");
            }
            let count = ids(
                format!("SELECT count(*) FROM events WHERE raw LIKE '%{s}%'"),
                scope,
            );
            assert_eq!(
                count,
                vec![want.len().to_string()],
                "count of {s} as {scope:?}"
            );
            // Two searches ANDed: the rows holding both.
            let both = format!("strpos(raw, '{s}') > 0 AND strpos(raw, '10.1.') > 0");
            let both_indexed = format!("raw LIKE '%{s}%' AND raw LIKE '%10.1.%'");
            assert_eq!(ids(oracle(&both_indexed), scope), ids(oracle(&both), scope));

            // The lookup API's free text, direct and through DataFusion, page by page.
            let mut q = Lookup {
                text: Some(s.to_string()),
                max_results: 500,
                ..Lookup::default()
            };
            let mut paged = Vec::new();
            loop {
                let page = rt.block_on(store.lookup(scope, &q)).unwrap();
                let ctx = store.session(scope).unwrap();
                let engine = rt
                    .block_on(auditwatch_store::lookup::lookup(&ctx, &q))
                    .unwrap();
                assert_eq!(page.events, engine.events, "{q:?}");
                paged.extend(to_json(std::slice::from_ref(&page.events)).unwrap());
                match page.next_token {
                    Some(t) => q.next_token = Some(t),
                    None => break,
                }
            }
            assert_eq!(paged.len(), want.len(), "lookup of {s} as {scope:?}");
            assert!(paged.iter().all(|r| r["raw"].as_str().unwrap().contains(s)));
        }
    }
    assert!(found > 1000, "the searches found {found} events");
}

#[test]
fn a_damaged_token_index_is_an_error_naming_the_segment() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let texts: Vec<String> = (0..2_000).map(with_tokens).collect();
    commit(&store, &texts, "one");
    let seg = store.catalog().unwrap().segments().unwrap().remove(0);
    let path = store.lake().join(&seg.path);
    // Find the index through the footer and break its bytes.
    let file = std::fs::File::open(&path).unwrap();
    let meta = datafusion::parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .unwrap();
    let (offset, len, _) = auditwatch_store::direct::token_index::locate(meta.file_metadata())
        .unwrap()
        .expect("the writer embeds an index");
    let mut bytes = std::fs::read(&path).unwrap();
    for b in &mut bytes[offset as usize..offset as usize + len] {
        *b = 0x55;
    }
    std::fs::write(&path, &bytes).unwrap();
    let rt = rt();
    let sql = "SELECT count(*) FROM events WHERE raw LIKE '%10.1.2.3%'";
    let err = rt
        .block_on(store.sql(&Scope::All, sql, SqlLimits::default()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&seg.path) && err.contains("token index"),
        "{err}"
    );
    let q = Lookup {
        text: Some("10.1.2.3".into()),
        max_results: 5,
        ..Lookup::default()
    };
    let err = rt
        .block_on(store.lookup(&Scope::All, &q))
        .unwrap_err()
        .to_string();
    assert!(err.contains("token index"), "{err}");
    // Other searches read the text as before.
    let sql = "SELECT count(*) FROM events WHERE raw LIKE '%alice%'";
    assert!(
        rt.block_on(store.sql(&Scope::All, sql, SqlLimits::default()))
            .is_ok()
    );
}

/// `(values, events)` groups in one order, for comparing.
type Groups = Vec<(Vec<Option<String>>, u64)>;

/// The same breakdown through DataFusion: `GROUP BY` the columns of `by`.
fn engine_groups(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    scope: &Scope,
    q: &Lookup,
    by: &[Dimension],
) -> Groups {
    use datafusion::functions_aggregate::count::count_all;
    use datafusion::prelude::ident;
    let ctx = store.session(scope).unwrap();
    let rows = rt.block_on(async {
        let mut df = ctx.table("events").await.unwrap();
        if let Some(p) = q
            .filters(&ctx)
            .unwrap()
            .into_iter()
            .reduce(datafusion::prelude::Expr::and)
        {
            df = df.filter(p).unwrap();
        }
        let keys = by
            .iter()
            .enumerate()
            .map(|(i, b)| ident(b.column()).alias(format!("k{i}")))
            .collect();
        df.aggregate(keys, vec![count_all().alias("n")])
            .unwrap()
            .collect()
            .await
            .unwrap()
    });
    let mut groups: Groups = to_json(&rows)
        .unwrap()
        .iter()
        .map(|r| {
            let keys = (0..by.len())
                .map(|i| {
                    r.get(&format!("k{i}"))
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                })
                .collect();
            (keys, r["n"].as_u64().unwrap())
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    groups.sort();
    groups
}

/// Lookups over [`overlapping_segments`] whose every filter the direct counts answer.
fn counted_queries() -> Vec<Lookup> {
    let attr = |a: Attribute, v: &str| (a, v.to_string());
    let hour = 3_600_000_000i64;
    let day1 = 1_709_251_200_000_000i64; // 2024-03-01T00:00Z
    vec![
        Lookup::default(),
        Lookup {
            attributes: vec![attr(Attribute::Username, "carol")],
            errors_only: true,
            ..Lookup::default()
        },
        // A window cutting row groups at both ends.
        Lookup {
            start: Some(day1 + hour + 17),
            end: Some(day1 + 5 * hour + 1_234_567),
            ..Lookup::default()
        },
        Lookup {
            attributes: vec![
                attr(Attribute::EventName, "DeleteBucket"),
                attr(Attribute::EventSource, "iam.amazonaws.com"),
            ],
            start: Some(day1 + 20 * hour),
            ..Lookup::default()
        },
        Lookup {
            accounts: vec!["333333333333".into(), "444455556666".into()],
            regions: vec!["eu-west-1".into()],
            error_codes: vec!["AccessDenied".into()],
            ..Lookup::default()
        },
        Lookup {
            source_ips: vec!["10.0.0.3".into(), "10.0.0.4".into()],
            end: Some(day1 + 30 * hour),
            ..Lookup::default()
        },
        Lookup {
            attributes: vec![attr(Attribute::Username, "nobody")],
            ..Lookup::default()
        },
        // Exclusions: nulls kept, several on one column, with other filters.
        Lookup {
            exclude: vec![(Dimension::ErrorCode, "AccessDenied".into())],
            ..Lookup::default()
        },
        Lookup {
            exclude: vec![
                (Dimension::Username, "carol".into()),
                (Dimension::Username, "alice".into()),
                (Dimension::AwsRegion, "eu-west-1".into()),
            ],
            accounts: vec!["444455556666".into()],
            start: Some(day1 + 2 * hour),
            ..Lookup::default()
        },
    ]
}

#[test]
fn breakdowns_without_sql_answer_exactly_what_the_query_engine_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = overlapping_segments(dir.path());
    let rt = rt();
    let attr = |a: Attribute, v: &str| (a, v.to_string());
    let queries = counted_queries();
    let breakdowns: [&[Dimension]; 6] = [
        &[],
        &[Dimension::EventName],
        &[Dimension::Username, Dimension::EventName],
        &[Dimension::ErrorCode],
        &[Dimension::AccountId, Dimension::AwsRegion],
        &[
            Dimension::SourceIp,
            Dimension::EventType,
            Dimension::EventSource,
        ],
    ];
    let scopes = [
        Scope::All,
        Scope::accounts(["222222222222"]),
        Scope::accounts(["444455556666", "111111111111"]),
        Scope::accounts(Vec::<String>::new()),
    ];
    let mut nonempty = 0;
    for scope in &scopes {
        for q in &queries {
            for by in breakdowns {
                let mut direct = rt
                    .block_on(store.count_by(scope, q, by))
                    .unwrap()
                    .expect("these filters are answered without SQL");
                direct.sort();
                let engine = engine_groups(&rt, &store, scope, q, by);
                assert_eq!(direct, engine, "{by:?} of {q:?} as {scope:?}");
                nonempty += usize::from(!engine.is_empty());
            }
        }
    }
    assert!(nonempty >= 90, "{nonempty} breakdowns found events");
    // Filters only the query engine answers.
    for q in [
        Lookup {
            text: Some("alice".into()),
            ..Lookup::default()
        },
        Lookup {
            attributes: vec![attr(Attribute::ReadOnly, "true")],
            ..Lookup::default()
        },
        Lookup {
            params: vec![(vec!["n".into()], "7".into())],
            ..Lookup::default()
        },
    ] {
        let direct = rt.block_on(store.count_by(&Scope::All, &q, &[Dimension::EventName]));
        assert!(direct.unwrap().is_none(), "{q:?}");
    }
    // After compaction the retired segments' columns are forgotten and the answers stay.
    let before = rt
        .block_on(store.count_by(&Scope::All, &queries[0], &[Dimension::Username]))
        .unwrap()
        .unwrap()
        .len();
    let merged = auditwatch_store::write::compact::compact(&mut store.writer().unwrap())
        .unwrap()
        .merged;
    assert!(merged > 1, "{merged} segments merged");
    let mut direct = rt
        .block_on(store.count_by(&Scope::All, &queries[0], &[Dimension::Username]))
        .unwrap()
        .unwrap();
    direct.sort();
    assert_eq!(direct.len(), before);
    assert_eq!(
        direct,
        engine_groups(
            &rt,
            &store,
            &Scope::All,
            &queries[0],
            &[Dimension::Username]
        )
    );
}

/// Events of `q` per bucket of `bucket_us`, counted here from the event times the
/// query engine returns.
fn engine_histogram(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    scope: &Scope,
    q: &Lookup,
    bucket_us: i64,
) -> Vec<(i64, u64)> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::TimestampMicrosecondType;
    let ctx = store.session(scope).unwrap();
    let batches = rt.block_on(async {
        let mut df = ctx.table("events").await.unwrap();
        if let Some(p) = q
            .filters(&ctx)
            .unwrap()
            .into_iter()
            .reduce(datafusion::prelude::Expr::and)
        {
            df = df.filter(p).unwrap();
        }
        df.select_columns(&["eventTime"])
            .unwrap()
            .collect()
            .await
            .unwrap()
    });
    let mut counts = std::collections::BTreeMap::new();
    for b in &batches {
        for t in b
            .column(0)
            .as_primitive::<TimestampMicrosecondType>()
            .values()
        {
            *counts
                .entry(t.div_euclid(bucket_us) * bucket_us)
                .or_insert(0u64) += 1;
        }
    }
    counts.into_iter().collect()
}

#[test]
fn histograms_without_sql_answer_exactly_what_the_query_engine_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = overlapping_segments(dir.path());
    let rt = rt();
    let scopes = [
        Scope::All,
        Scope::accounts(["222222222222"]),
        Scope::accounts(["444455556666", "111111111111"]),
    ];
    let minute = 60_000_000i64;
    let mut buckets = 0;
    for scope in &scopes {
        for q in &counted_queries() {
            for bucket in [
                minute,
                7 * minute,
                3_600_000_000,
                86_400_000_000,
                7 * 86_400_000_000,
            ] {
                let direct = rt
                    .block_on(store.count_histogram(scope, q, bucket))
                    .unwrap()
                    .expect("these filters are answered without SQL");
                let engine = engine_histogram(&rt, &store, scope, q, bucket);
                assert_eq!(direct, engine, "per {bucket} µs of {q:?} as {scope:?}");
                buckets += engine.len();
            }
        }
    }
    assert!(buckets >= 500, "{buckets} buckets held events");
    // Buckets that are not whole seconds, and filters only the engine answers, are
    // left to it.
    let q = Lookup::default();
    assert!(
        rt.block_on(store.count_histogram(&Scope::All, &q, 1_500_000))
            .unwrap()
            .is_none()
    );
    let text = Lookup {
        text: Some("alice".into()),
        ..Lookup::default()
    };
    assert!(
        rt.block_on(store.count_histogram(&Scope::All, &text, minute))
            .unwrap()
            .is_none()
    );
}

#[test]
fn sql_breakdowns_answered_by_direct_counts_are_those_of_the_query_engine() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let texts: Vec<String> = (0..60_000).map(varied).collect();
    for (n, chunk) in texts.chunks(25_000).enumerate() {
        let key = (n == 1).then_some("444455556666");
        commit_from_key(&store, chunk, &format!("batch-{n}"), key);
    }
    let rt = rt();
    let answered = [
        // Q1, Q3 and Q4 of docs/PERFORMANCE.md.
        r#"SELECT "eventName", count(*) AS n FROM events GROUP BY "eventName" ORDER BY n DESC, "eventName" LIMIT 3"#,
        r#"SELECT "username", "eventName", count(*) AS n FROM events WHERE "eventTime" BETWEEN TIMESTAMP '2024-03-01 01:00:00' AND TIMESTAMP '2024-03-01 05:30:00' GROUP BY 1, 2 ORDER BY n DESC, "username" NULLS LAST, "eventName""#,
        r#"SELECT "username", count(*) AS n FROM events WHERE "errorCode" LIKE '%Denied%' OR "errorCode" LIKE '%Unauthorized%' GROUP BY 1 ORDER BY n DESC, "username" NULLS LAST"#,
        r#"SELECT count(*) AS n FROM events WHERE "eventName" IN ('GetObject', 'PutObject') AND "awsRegion" <> 'eu-west-1' AND "eventTime" > TIMESTAMP '2024-03-01 02:00:00' AND "eventTime" < TIMESTAMP '2024-03-01 04:00:00'"#,
        r#"SELECT count(*) FROM events WHERE "eventName" = 'Nope'"#,
        r#"SELECT "accountId", count(1) AS c FROM events GROUP BY "accountId" HAVING count(1) > 100 ORDER BY "accountId""#,
        r#"SELECT * FROM (SELECT "eventSource", "sourceIPAddress", count(*) AS n FROM events WHERE "errorCode" IS NOT NULL GROUP BY 1, 2) t WHERE n > 5 ORDER BY 1, 2"#,
        r#"SELECT "eventName", count(*) AS n FROM events WHERE "eventName" = 'Nope' GROUP BY 1"#,
    ];
    // Shapes the direct counts leave to the query engine: still answered, the same way.
    let not_answered = [
        r#"SELECT "eventName", count(DISTINCT "username") AS n FROM events GROUP BY 1 ORDER BY 1"#,
        r#"SELECT "eventName", count(*) AS n FROM events WHERE "readOnly" GROUP BY 1 ORDER BY 1"#,
        r#"SELECT "eventName", count("errorCode") AS n FROM events GROUP BY 1 ORDER BY 1"#,
        r#"SELECT "eventName", count(*) AS n FROM events WHERE "username" = "eventName" OR "raw" LIKE '%alice%' GROUP BY 1 ORDER BY 1"#,
        r#"EXPLAIN SELECT "eventName", count(*) FROM events GROUP BY 1"#,
    ];
    let scopes = [
        Scope::All,
        Scope::accounts(["222222222222", "444455556666"]),
        Scope::accounts(Vec::<String>::new()),
    ];
    let rows = |r: auditwatch_store::SqlResult| to_json(&r.batches).unwrap();
    for scope in &scopes {
        for (i, sql) in answered.iter().chain(&not_answered).enumerate() {
            let before = store.counts_cached().0;
            let ctx = store.session(scope).unwrap();
            let ours = rows(
                rt.block_on(store.sql_in(&ctx, sql, SqlLimits::default()))
                    .unwrap(),
            );
            // `Store::sql` is DataFusion's alone.
            let engine = rows(
                rt.block_on(store.sql(scope, sql, SqlLimits::default()))
                    .unwrap(),
            );
            if !sql.starts_with("EXPLAIN") {
                assert_eq!(ours, engine, "{sql} as {scope:?}");
            }
            // (The last answered query groups no events.)
            if i + 1 < answered.len() && *scope == Scope::All {
                assert!(!ours.is_empty(), "{sql}");
            }
            if i == 0 && *scope == Scope::All {
                assert!(
                    store.counts_cached().0 > before,
                    "direct counts answered {sql}"
                );
            }
        }
    }
    // A breakdown of no rows still counts, and counts none.
    let r = rows(
        rt.block_on(store.sql_in(
            &store.session(&Scope::All).unwrap(),
            r#"SELECT count(*) AS n FROM events WHERE "eventName" = 'Nope'"#,
            SqlLimits::default(),
        ))
        .unwrap(),
    );
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["n"], 0);
}

#[test]
fn failed_calls_are_error_codes_and_console_sign_ins_recorded_as_failure() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let record = |id: &str, name: &str, extra: &str| {
        format!(
            r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","accountId":"111122223333","userName":"u"}},"eventTime":"2024-03-01T10:00:0{}Z","eventSource":"signin.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","eventID":"{id}","eventType":"AwsConsoleSignIn","recipientAccountId":"111122223333"{extra}}}"#,
            id.len() % 10
        )
    };
    let texts = vec![
        // Failed: an error code; a failed sign-in (also spelled with spaces).
        record(
            "e-code",
            "GetObject",
            r#","errorCode":"AccessDenied","errorMessage":"denied""#,
        ),
        record(
            "e-signin",
            "ConsoleLogin",
            r#","responseElements":{"ConsoleLogin":"Failure"},"errorMessage":"Failed authentication""#,
        ),
        record(
            "e-signin-spaced",
            "ConsoleLogin",
            r#","responseElements": { "ConsoleLogin" : "Failure" }"#,
        ),
        // Not failed: a successful sign-in; "Failure" elsewhere in the record; another
        // call whose response happens to have the key.
        record(
            "ok-signin",
            "ConsoleLogin",
            r#","responseElements":{"ConsoleLogin":"Success"}"#,
        ),
        record(
            "ok-text",
            "PutObject",
            r#","requestParameters":{"key":"Failure"}"#,
        ),
        record(
            "ok-other",
            "GetObject",
            r#","responseElements":{"ConsoleLogin":"Failure"}"#,
        ),
    ];
    commit(&store, &texts, "failed.json");
    let rt = rt();
    let ids = |q: &Lookup| -> Vec<String> {
        let page = rt.block_on(store.lookup(&Scope::All, q)).unwrap();
        let mut ids: Vec<String> = to_json(std::slice::from_ref(&page.events))
            .unwrap()
            .iter()
            .map(|r| r["eventID"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let failed = Lookup {
        failed_only: true,
        max_results: 100,
        ..Lookup::default()
    };
    assert_eq!(ids(&failed), ["e-code", "e-signin", "e-signin-spaced"]);
    let failed_sign_ins = Lookup {
        attributes: vec![(Attribute::EventName, "ConsoleLogin".into())],
        ..failed.clone()
    };
    assert_eq!(ids(&failed_sign_ins), ["e-signin", "e-signin-spaced"]);
    // The breakdown path leaves the condition to the query engine.
    let counted = rt
        .block_on(store.count_by(&Scope::All, &failed, &[]))
        .unwrap();
    assert!(counted.is_none(), "{counted:?}");
}

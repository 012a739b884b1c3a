//! Command-line behaviour: exit codes, bounds, archives, idempotence, formats.

use std::io::Write;

use flate2::{Compression, write::GzEncoder};

use crate::support::{count, ingest, run_text};

const REC: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","userName":"alice","accountId":"111122223333"},"eventTime":"2024-02-03T04:05:06Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","eventID":"EID","recipientAccountId":"111122223333"}"#;

fn rec(id: &str) -> String {
    REC.replace("EID", id)
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn rejected_input_gives_exit_2_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(
        input.join("good.json"),
        format!(r#"{{"Records":[{},{}]}}"#, rec("a"), rec("b")),
    )
    .unwrap();
    std::fs::write(
        input.join("config.json"),
        r#"{"fileVersion":"1.0","configurationItems":[]}"#,
    )
    .unwrap();
    std::fs::write(
        input.join("half.json"),
        format!(r#"{{"Records":[{},{{"eventName":"x"}}]}}"#, rec("c")),
    )
    .unwrap();
    std::fs::write(input.join("notes.txt"), "ignored: not a data file").unwrap();
    let data = dir.path().join("data");
    let (code, out, err) = run_text(&data, &["ingest", input.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("config.json: not CloudTrail: this is AWS Config history"),
        "{err}"
    );
    assert!(err.contains("half.json#record 1"), "{err}");
    assert!(out.contains("added 3"), "{out}");
    // Nothing already accepted is lost, and a second run adds nothing but reports again.
    let (summary, code) = ingest(&data, &[&input]);
    assert_eq!(code, 2);
    assert_eq!(summary["events_added"], 0);
    assert_eq!(summary["files_unchanged"], 1);
    assert_eq!(count(&data, ""), 3);
}

#[test]
fn usage_errors_exit_1_with_a_cause() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (code, _, err) = run_text(data, &["ingest", "/no/such/path"]);
    assert_eq!(code, 1);
    assert!(err.contains("/no/such/path"), "{err}");
    let (code, _, err) = run_text(data, &["lookup", "--attribute", "Colour=red"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown lookup attribute \"Colour\""), "{err}");
    let (code, _, err) = run_text(
        data,
        &["lookup", "--start", "2024-02-02", "--end", "2024-02-01"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("--end is before --start"), "{err}");
    let (code, _, err) = run_text(data, &["lookup", "--start", "last tuesday"]);
    assert_eq!(code, 1);
    assert!(err.contains("not a time"), "{err}");
    let (code, _, err) = run_text(data, &["sql", "SELECT 1"]);
    assert_eq!(code, 1);
    assert!(err.contains("no Auditwatch data in"), "{err}");
    assert!(
        !data.join("catalog.db").exists(),
        "a read command creates nothing"
    );
    let f = data.join("e.json");
    std::fs::write(&f, format!("[{}]", rec("u1"))).unwrap();
    crate::support::ingest(data, &[&f]);
    let (code, _, err) = run_text(data, &["sql", "DROP TABLE events"]);
    assert_eq!(code, 1);
    assert!(!err.is_empty());
    assert_eq!(err.trim().lines().count(), 1, "one-line cause: {err}");
}

#[test]
fn gzip_bomb_is_refused_under_the_configured_cap() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.json.gz");
    std::fs::write(&bomb, gz(&vec![b' '; 64 << 20])).unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[ingest]\nmax_decompressed_bytes = 1048576\n").unwrap();
    let (code, _, err) = run_text(
        &dir.path().join("d"),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "ingest",
            bomb.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("decompressed-size cap"), "{err}");
}

#[test]
fn zip_archives_stream_refuse_traversal_and_add_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("logs");
    std::fs::create_dir(&folder).unwrap();
    let body_a = format!(r#"{{"Records":[{},{}]}}"#, rec("z1"), rec("z2"));
    let body_b = format!("{}\n{}\n", rec("z3"), rec("z4"));
    std::fs::write(folder.join("a.json.gz"), gz(body_a.as_bytes())).unwrap();
    std::fs::write(folder.join("b.ndjson"), &body_b).unwrap();
    let zip_path = dir.path().join("logs.zip");
    {
        let mut w = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        let o = zip::write::SimpleFileOptions::default();
        w.start_file("x/a.json.gz", o).unwrap();
        w.write_all(&gz(body_a.as_bytes())).unwrap();
        w.start_file("b.ndjson", o).unwrap();
        w.write_all(body_b.as_bytes()).unwrap();
        w.start_file("../../etc/evil.json", o).unwrap();
        w.write_all(rec("evil").as_bytes()).unwrap();
        w.finish().unwrap();
    }
    let data = dir.path().join("d");
    let (s, code) = ingest(&data, &[&folder]);
    assert_eq!((code, s["events_added"].as_u64()), (0, Some(4)));
    let (s, code) = ingest(&data, &[&folder]);
    assert_eq!(
        (
            code,
            s["events_added"].as_u64(),
            s["files_unchanged"].as_u64()
        ),
        (0, Some(0), Some(2))
    );
    let (s, code) = ingest(&data, &[&zip_path]);
    assert_eq!(code, 2, "the traversal entry is rejected");
    assert_eq!(s["events_added"], 0);
    assert_eq!(s["duplicates"], 4);
    let reason = s["problems"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("climbs out"), "{reason}");
    assert_eq!(count(&data, ""), 4);
}

#[test]
fn lookup_formats_are_machine_readable() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("e.json");
    std::fs::write(&f, format!("[{},{}]", rec("f1"), rec("f2"))).unwrap();
    let data = dir.path().join("d");
    ingest(&data, &[&f]);
    let (code, out, _) = run_text(
        &data,
        &[
            "lookup",
            "--attribute",
            "Username=alice",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0);
    let v: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["event"]["eventName"], "ListBuckets");
    let (_, out, _) = run_text(
        &data,
        &["lookup", "--attribute", "EventId=f1", "--format", "ndjson"],
    );
    assert_eq!(out.lines().count(), 1);
    let (_, out, _) = run_text(&data, &["lookup", "--format", "csv"]);
    let mut r = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(r.headers().unwrap().get(1), Some("username"));
    assert_eq!(r.records().count(), 2);
    let (code, out, err) = run_text(&data, &["lookup", "--max-results", "1", "--format", "json"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&out)
            .unwrap()
            .len(),
        1
    );
    let token = err
        .split("--next-token ")
        .nth(1)
        .expect("a next token")
        .trim();
    let (_, out, err) = run_text(
        &data,
        &[
            "lookup",
            "--max-results",
            "1",
            "--format",
            "json",
            "--next-token",
            token,
        ],
    );
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&out)
            .unwrap()
            .len(),
        1
    );
    assert!(!err.contains("--next-token"), "last page has no token");
}

#[test]
fn compact_applies_retention_per_account_and_old_files_are_not_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let (input, data) = (dir.path().join("in"), dir.path().join("data"));
    std::fs::create_dir_all(&input).unwrap();
    let today = chrono::Utc::now().date_naive();
    let mut n = 0;
    for age in [1i64, 40, 100] {
        let day = today - chrono::Duration::days(age);
        for account in ["111111111111", "222222222222"] {
            let records: Vec<String> = (0..5)
                .map(|_| {
                    n += 1;
                    REC.replace("EID", &format!("e{n}"))
                        .replace("2024-02-03", &day.format("%Y-%m-%d").to_string())
                        .replace("111122223333", account)
                })
                .collect();
            std::fs::write(
                input.join(format!("{account}-{age}.json")),
                format!("{{\"Records\":[{}]}}", records.join(",")),
            )
            .unwrap();
        }
    }
    let (summary, code) = ingest(&data, &[&input]);
    assert_eq!((code, summary["events_added"].as_u64()), (0, Some(30)));
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[retention]\ndays = 60\n[retention.accounts]\n\"222222222222\" = 30\n",
    )
    .unwrap();
    let config = config.display().to_string();
    let (code, out, err) = run_text(&data, &["--config", &config, "compact"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("retention: dropped 15 events"), "{out}");
    // 1111… keeps 60 days (ages 1 and 40), 2222… keeps 30 (age 1).
    assert_eq!(count(&data, "WHERE accountId = '111111111111'"), 10);
    assert_eq!(count(&data, "WHERE accountId = '222222222222'"), 5);
    // The dropped files stay taken: reading the folder again adds nothing back.
    let (summary, _) = ingest(&data, &[&input]);
    assert_eq!(summary["events_added"].as_u64(), Some(0));
    assert_eq!(count(&data, ""), 15);
}

#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    // `auditwatch ingest … | head -1` and `auditwatch sql … | head`: the output is no
    // longer wanted; the command neither panics nor reports a failure.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.json");
    std::fs::write(&input, format!(r#"{{"Records":[{}]}}"#, rec("pipe-1"))).unwrap();
    let data = dir.path().join("data");
    for args in [
        vec!["ingest", input.to_str().unwrap(), "--json"],
        vec!["sql", "SELECT * FROM events", "--format", "json"],
    ] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_auditwatch"))
            .arg("--data-dir")
            .arg(&data)
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before anything is written
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert_eq!(count(&data, ""), 1, "the ingest itself was done");
}

#[test]
fn out_of_range_times_exit_1_with_one_line_naming_the_argument() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("gen");
    let out = out.to_str().unwrap();
    let trail = "arn:aws:cloudtrail:us-east-1:111122223333:trail/t";
    let folder = dir.path().to_str().unwrap();
    let cases: [(&[&str], &str); 10] = [
        (
            &["lookup", "--start", "999999999999d"],
            "--start: \"999999999999d\" is out of range",
        ),
        (
            &["lookup", "--end", "999999999999d"],
            "--end: \"999999999999d\" is out of range",
        ),
        (
            &["lookup", "--start", "99999999999999999999999w"],
            "--start: \"99999999999999999999999w\" is out of range",
        ),
        (
            &["lookup", "--start", "0001-01-01"],
            "--start: \"0001-01-01\" is out of range",
        ),
        (
            &["lookup", "--end", "+200000-01-01T00:00:00"],
            "--end: \"+200000-01-01T00:00:00\" is out of range",
        ),
        (
            &["hunt", "--rules", "builtin:cis", "--start", "999999999999d"],
            "--start: \"999999999999d\" is out of range",
        ),
        (
            &[
                "verify",
                folder,
                "--trail-arn",
                trail,
                "--start",
                "999999999999d",
            ],
            "--start: \"999999999999d\" is out of range",
        ),
        (
            &[
                "verify",
                folder,
                "--trail-arn",
                trail,
                "--end=-999999999999d",
            ],
            "--end: \"-999999999999d\" is out of range",
        ),
        (
            &[
                "generate",
                "--out",
                out,
                "--events",
                "1",
                "--end",
                "999999999999d",
            ],
            "--end: \"999999999999d\" is out of range",
        ),
        (
            &[
                "generate",
                "--out",
                out,
                "--events",
                "1",
                "--days",
                "4000000000",
            ],
            "--days 4000000000: the period would start before 1970",
        ),
    ];
    for (args, want) in cases {
        let (code, _, err) = run_text(&data, args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err}"
        );
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

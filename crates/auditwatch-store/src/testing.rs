//! Test support (feature `testing`): a PostgreSQL server of its own for the shared
//! catalog's tests — Debian's PostgreSQL started on loopback with a throwaway cluster
//! (trust authentication, fsync off), as the `postgres` user when run as root — and
//! committing CloudTrail records given as JSON text.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A PostgreSQL server of its own, stopped and deleted on drop.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// `postgres://aw@127.0.0.1:PORT/lake`, trust authentication.
    pub url: String,
}

fn as_server_user(bin: &Path, tool: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

impl Postgres {
    /// Starts a throwaway cluster; `None` when PostgreSQL is not installed.
    pub fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").exists())
            .max()?;
        let dir = tempfile::Builder::new().prefix("aw-pg-").tempdir().unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let data = dir.path().join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let run = |c: &mut Command| {
            let out = c.output().unwrap();
            assert!(
                out.status.success(),
                "{c:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(as_server_user(&bin, "initdb").arg("-D").arg(&data).args([
            "--auth=trust",
            "-U",
            "aw",
            "--no-sync",
        ]));
        run(as_server_user(&bin, "pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("log"))
            .args(["-w", "start", "-o"])
            .arg(format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off",
                dir.path().display()
            )));
        run(as_server_user(&bin, "createdb").args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "aw",
            "lake",
        ]));
        Some(Self {
            url: format!("postgres://aw@127.0.0.1:{port}/lake"),
            dir,
            bin,
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_server_user(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// A fresh server, or `None` when PostgreSQL is not installed (a recorded skip, or a
/// failure when fixtures are required: `auditwatch-fixtures`).
pub fn postgres() -> Option<Postgres> {
    let pg = Postgres::start();
    if pg.is_none() {
        auditwatch_fixtures::missing("PostgreSQL (scripts/test installs it)");
    }
    pg
}

/// Commits the records `texts` (CloudTrail JSON, one record each) as one source object
/// at `location`, read from a key naming `account` if given; panics on failure.
pub fn commit_records(
    store: &crate::Store,
    texts: &[String],
    location: &str,
    account: Option<&str>,
) -> crate::CommitStats {
    let mut w = store.writer().expect("the writer");
    commit_with(&mut w, texts, location, account)
}

/// Stages `texts` as read from `location` (an object whose S3 key names `account`) in
/// `w`, and commits them.
pub fn commit_with(
    w: &mut crate::Writer,
    texts: &[String],
    location: &str,
    account: Option<&str>,
) -> crate::CommitStats {
    let rows: Vec<crate::convert::EventRow<'_>> = texts
        .iter()
        .map(|t| crate::convert::EventRow {
            record: auditwatch_event::Record::parse(t).expect("a CloudTrail record"),
            account_from_key: account,
            source: location,
        })
        .collect();
    w.stage(
        crate::convert::to_day_batches(&rows),
        crate::SourceObject {
            location: location.into(),
            size: Some(1),
            mtime: Some(1),
            etag: None,
            status: "done".into(),
            records: texts.len() as u64,
            errors: 0,
            reason: None,
        },
    );
    w.commit().expect("the commit")
}

/// Rewrites every listed segment of `store` whose path contains `matching` as a writer
/// from before the token index would have written it (same rows, plain Parquet, no
/// index), and updates its size in the catalog; returns how many were rewritten.
pub fn strip_token_indexes(store: &crate::Store, matching: &str) -> usize {
    use datafusion::parquet::arrow::ArrowWriter;
    let catalog = store.catalog().expect("catalog");
    let mut n = 0;
    for s in catalog.segments().expect("segments") {
        if !s.path.contains(matching) {
            continue;
        }
        let path = store.lake().join(&s.path);
        let batches = crate::segment::read_batches(&path).expect("a segment");
        let file = std::fs::File::create(&path).expect("rewrite");
        let mut w = ArrowWriter::try_new(file, crate::schema::events_schema(), None).unwrap();
        for b in &batches {
            w.write(b).unwrap();
        }
        w.close().unwrap();
        let bytes = std::fs::metadata(&path).unwrap().len();
        catalog
            .set_segment_bytes(&s.path, bytes)
            .expect("update the size");
        n += 1;
    }
    n
}

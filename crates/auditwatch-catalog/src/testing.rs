//! Test support (feature `testing`): a PostgreSQL server of its own for the shared
//! catalog's tests (this crate's conformance suite, the store's and the CLI's
//! several-node tests) — Debian's PostgreSQL started on loopback with a throwaway
//! cluster (trust authentication, fsync off), as the `postgres` user when run as root.

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

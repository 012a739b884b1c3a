//! What tests need from outside the repository, and the one rule for when it is
//! missing.
//!
//! Some tests read the third-party corpus kept beside the project (`../shared/corpus`:
//! CloudTrail samples, Sigma rules, AWS's documentation) or start a PostgreSQL server.
//! When one is missing, [`missing`] decides: with `AUDITWATCH_REQUIRE_FIXTURES=1`
//! (`.ci/run` sets it) the test fails, naming what is missing; without it the test
//! records a skip, one line in the file `AUDITWATCH_SKIP_LOG` names (`scripts/test`
//! counts and prints them at the end), and returns. A test never passes silently
//! without checking.
//!
//! Beside that, hand-written CloudTrail records of role chains ([`chains`]).

pub mod chains;

use std::io::Write;
use std::path::{Path, PathBuf};

/// The variable that turns a missing fixture into a failure.
pub const REQUIRE: &str = "AUDITWATCH_REQUIRE_FIXTURES";
/// The variable naming the file skips are recorded in.
pub const SKIP_LOG: &str = "AUDITWATCH_SKIP_LOG";

/// The shared corpus folder (`../shared/corpus` beside the project), or `rel` inside
/// it; `None`, after [`missing`], when it is absent.
pub fn corpus(rel: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    let p = if rel.is_empty() { root } else { root.join(rel) };
    if p.is_dir() {
        return Some(p);
    }
    missing(&format!("the shared corpus folder {}", p.display()));
    None
}

/// A test cannot run for want of `what`: panics when fixtures are required, else
/// records the skip and lets the test return.
pub fn missing(what: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let require = std::env::var(REQUIRE).is_ok_and(|v| v == "1");
    let log = std::env::var_os(SKIP_LOG).map(PathBuf::from);
    if let Err(message) = decide(require, log.as_deref(), &test, what) {
        panic!("{message}");
    }
}

/// What [`missing`] does for `test`, lacking `what`: `Err` (the failure's message)
/// when fixtures are required or the skip cannot be recorded in `log`.
fn decide(require: bool, log: Option<&Path>, test: &str, what: &str) -> Result<(), String> {
    if require {
        return Err(format!(
            "{test}: {what} is missing, and {REQUIRE}=1 requires it"
        ));
    }
    eprintln!("skipped: {test}: {what} is missing");
    if let Some(log) = log {
        let line = format!("{test}: {what} is missing\n");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(|e| format!("cannot record a skip in {}: {e}", log.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_fixture_fails_when_required_else_is_recorded() {
        let dir = std::env::temp_dir().join(format!("fixtures-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("skips");
        let e = decide(true, Some(&log), "t1", "the corpus").unwrap_err();
        assert_eq!(
            e,
            "t1: the corpus is missing, and AUDITWATCH_REQUIRE_FIXTURES=1 requires it"
        );
        assert!(!log.exists());
        decide(false, Some(&log), "t1", "the corpus").unwrap();
        decide(false, Some(&log), "t2", "PostgreSQL").unwrap();
        decide(false, None, "t3", "PostgreSQL").unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            text,
            "t1: the corpus is missing\nt2: PostgreSQL is missing\n"
        );
        let e = decide(false, Some(&dir), "t4", "x").unwrap_err();
        assert!(e.starts_with("cannot record a skip in"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_corpus_is_found_beside_the_project() {
        // CI runs with the corpus; a clone without it records (or, required, fails).
        if let Some(p) = corpus("") {
            assert!(p.ends_with("shared/corpus"), "{}", p.display());
        }
    }
}

//! What `verify` (and sources verifying digests as they arrive) found, kept per file
//! in the catalog: the latest verdict for every digest and log file checked, and the
//! gaps no verified digest covers. Events reach their log file's verdict through their
//! `source` column (matched from `AWSLogs/` on, so local copies and S3 agree).

use std::collections::HashMap;

use rusqlite::params;

use crate::catalog::Catalog;
use crate::error::Result;
use crate::scope::Scope;

/// The latest verdict for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrityRecord {
    /// The object key from `AWSLogs/` on (the join key).
    pub key: String,
    /// `s3://bucket/key` as checked.
    pub location: String,
    /// `digest` or `log`.
    pub kind: String,
    /// `valid`, `invalid`, `not_found` or `unverifiable`.
    pub verdict: String,
    /// Why, unless valid.
    pub reason: Option<String>,
    /// The trail ARN checked.
    pub trail: String,
    /// The chain: `account region`.
    pub chain: String,
    /// The digest's end time (seconds), for logs their digest's.
    pub file_time: Option<i64>,
    /// When it was checked (seconds).
    pub checked_at: i64,
}

/// A stretch no verified digest covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrityGap {
    /// The trail ARN.
    pub trail: String,
    /// `account region`.
    pub chain: String,
    /// From (seconds), when known.
    pub from: Option<i64>,
    /// To (seconds).
    pub to: i64,
    /// Why.
    pub reason: String,
}

/// Per trail and chain: how many files of each verdict, and the newest valid digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainHealth {
    /// The trail ARN.
    pub trail: String,
    /// `account region`.
    pub chain: String,
    /// Digests valid / invalid or deleted / not verified.
    pub digests: (u64, u64, u64),
    /// Logs valid / invalid or deleted / not verified.
    pub logs: (u64, u64, u64),
    /// End of the newest valid digest (seconds).
    pub newest_valid: Option<i64>,
    /// The latest check (seconds).
    pub checked_at: i64,
}

impl ChainHealth {
    /// The chain's account.
    pub fn account(&self) -> &str {
        self.chain.split(' ').next().unwrap_or("")
    }
}

/// The join key of a location or path: from `AWSLogs/` on.
pub fn key_of(location: &str) -> Option<&str> {
    location.find("AWSLogs/").map(|i| &location[i..])
}

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<IntegrityRecord> {
    Ok(IntegrityRecord {
        key: r.get(0)?,
        location: r.get(1)?,
        kind: r.get(2)?,
        verdict: r.get(3)?,
        reason: r.get(4)?,
        trail: r.get(5)?,
        chain: r.get(6)?,
        file_time: r.get(7)?,
        checked_at: r.get(8)?,
    })
}

const COLUMNS: &str = "key, location, kind, verdict, reason, trail, chain, file_time, checked_at";

/// A chain (`account region`) is in the scope given as `?1`: NULL for every account,
/// else a JSON array of accounts.
const IN_SCOPE: &str =
    "(?1 IS NULL OR substr(chain, 1, instr(chain, ' ') - 1) IN (SELECT value FROM json_each(?1)))";

impl Catalog {
    /// Stores one check of `trail` over `[start, end]`: every file's verdict (replacing
    /// earlier ones) and the gaps (replacing the gaps earlier checks found in the
    /// window), in one transaction.
    pub fn record_integrity(
        &mut self,
        trail: &str,
        start: i64,
        end: i64,
        files: &[IntegrityRecord],
        gaps: &[IntegrityGap],
    ) -> Result<()> {
        let path_err = crate::sqlite::sql_error(&self.path);
        let tx = self.conn.transaction().map_err(&path_err)?;
        {
            let mut put = tx
                .prepare_cached(&format!(
                    "INSERT OR REPLACE INTO integrity_files({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ))
                .map_err(&path_err)?;
            for f in files {
                put.execute(params![
                    f.key,
                    f.location,
                    f.kind,
                    f.verdict,
                    f.reason,
                    f.trail,
                    f.chain,
                    f.file_time,
                    f.checked_at
                ])
                .map_err(&path_err)?;
            }
            tx.execute(
                "DELETE FROM integrity_gaps WHERE trail = ?1 AND to_time BETWEEN ?2 AND ?3",
                params![trail, start, end],
            )
            .map_err(&path_err)?;
            let now = chrono::Utc::now().timestamp();
            let mut gap = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO integrity_gaps(trail, chain, from_time, to_time, reason, checked_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(&path_err)?;
            for g in gaps {
                gap.execute(params![g.trail, g.chain, g.from, g.to, g.reason, now])
                    .map_err(&path_err)?;
            }
        }
        tx.commit().map_err(&path_err)
    }

    /// The latest verdicts of these join keys (see [`key_of`]).
    pub fn integrity_of(&self, keys: &[&str]) -> Result<HashMap<String, IntegrityRecord>> {
        let mut out = HashMap::new();
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM integrity_files WHERE key = ?1"
            ))
            .map_err(self.err())?;
        for k in keys {
            if out.contains_key(*k) {
                continue;
            }
            let rows = stmt.query_map([k], record).map_err(self.err())?;
            for r in rows {
                let r = r.map_err(self.err())?;
                out.insert(r.key.clone(), r);
            }
        }
        Ok(out)
    }

    /// Health per trail and chain, of the chains `scope` sees.
    pub fn integrity_chains(&self, scope: &Scope) -> Result<Vec<ChainHealth>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT trail, chain,
                   sum(kind = 'digest' AND verdict = 'valid'),
                   sum(kind = 'digest' AND verdict IN ('invalid', 'not_found')),
                   sum(kind = 'digest' AND verdict = 'unverifiable'),
                   sum(kind = 'log' AND verdict = 'valid'),
                   sum(kind = 'log' AND verdict IN ('invalid', 'not_found')),
                   sum(kind = 'log' AND verdict = 'unverifiable'),
                   max(CASE WHEN kind = 'digest' AND verdict = 'valid' THEN file_time END),
                   max(checked_at)
                 FROM integrity_files WHERE {IN_SCOPE}
                 GROUP BY trail, chain ORDER BY trail, chain"
            ))
            .map_err(self.err())?;
        let n =
            |r: &rusqlite::Row<'_>, i| r.get::<_, Option<i64>>(i).map(|v| v.unwrap_or(0) as u64);
        let rows = stmt
            .query_map([scope.json_accounts()], |r| {
                Ok(ChainHealth {
                    trail: r.get(0)?,
                    chain: r.get(1)?,
                    digests: (n(r, 2)?, n(r, 3)?, n(r, 4)?),
                    logs: (n(r, 5)?, n(r, 6)?, n(r, 7)?),
                    newest_valid: r.get(8)?,
                    checked_at: r.get(9)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    /// Digest files sources took (recorded with the table's source objects) that no
    /// check has verified yet, counted per account.
    pub fn unchecked_digests(&self) -> Result<HashMap<String, u64>> {
        let mut checked = self
            .conn
            .prepare_cached("SELECT 1 FROM integrity_files WHERE key = ?1")
            .map_err(self.err())?;
        let mut out: HashMap<String, u64> = HashMap::new();
        for location in self.table().digest_locations()? {
            let Some(key) = key_of(&location) else {
                continue;
            };
            if checked.exists([key]).map_err(self.err())? {
                continue;
            }
            if let Some(k) = auditwatch_event::layout::parse_key(&location) {
                *out.entry(k.account).or_default() += 1;
            }
        }
        Ok(out)
    }

    /// Files that are not valid, newest first, in chains `scope` sees.
    pub fn integrity_problems(&self, scope: &Scope, limit: usize) -> Result<Vec<IntegrityRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM integrity_files WHERE verdict != 'valid' AND {IN_SCOPE}
                 ORDER BY file_time DESC, key LIMIT ?2"
            ))
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![scope.json_accounts(), limit as i64], record)
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    /// Gaps, newest first, in chains `scope` sees.
    pub fn integrity_gaps(&self, scope: &Scope, limit: usize) -> Result<Vec<IntegrityGap>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT trail, chain, from_time, to_time, reason FROM integrity_gaps
                 WHERE {IN_SCOPE} ORDER BY to_time DESC LIMIT ?2"
            ))
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![scope.json_accounts(), limit as i64], |r| {
                Ok(IntegrityGap {
                    trail: r.get(0)?,
                    chain: r.get(1)?,
                    from: r.get(2)?,
                    to: r.get(3)?,
                    reason: r.get(4)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, kind: &str, verdict: &str, chain: &str, t: i64) -> IntegrityRecord {
        IntegrityRecord {
            key: key.into(),
            location: format!("s3://b/{key}"),
            kind: kind.into(),
            verdict: verdict.into(),
            reason: (verdict != "valid").then(|| "because".into()),
            trail: "arn:t".into(),
            chain: chain.into(),
            file_time: Some(t),
            checked_at: 100,
        }
    }

    #[test]
    fn verdicts_replace_earlier_ones_and_add_up_per_chain() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Catalog::open(&dir.path().join("c.db")).unwrap();
        let first = [
            rec("AWSLogs/1/d1", "digest", "valid", "1 r", 10),
            rec("AWSLogs/1/d2", "digest", "valid", "1 r", 20),
            rec("AWSLogs/1/l1", "log", "invalid", "1 r", 10),
            rec("AWSLogs/2/d1", "digest", "not_found", "2 r", 10),
        ];
        let gap = IntegrityGap {
            trail: "arn:t".into(),
            chain: "2 r".into(),
            from: None,
            to: 10,
            reason: "missing".into(),
        };
        c.record_integrity("arn:t", 0, 30, &first, std::slice::from_ref(&gap))
            .unwrap();
        let chains = c.integrity_chains(&Scope::All).unwrap();
        assert_eq!(chains[0].digests, (2, 0, 0));
        assert_eq!(chains[0].logs, (0, 1, 0));
        assert_eq!(chains[0].newest_valid, Some(20));
        assert_eq!((chains[1].account(), chains[1].digests), ("2", (0, 1, 0)));
        assert_eq!(c.integrity_problems(&Scope::All, 10).unwrap().len(), 2);
        assert_eq!(
            c.integrity_gaps(&Scope::All, 10).unwrap(),
            std::slice::from_ref(&gap)
        );
        // A scope sees its accounts' chains, problems and gaps only.
        let only_2 = Scope::accounts(["2"]);
        let chains = c.integrity_chains(&only_2).unwrap();
        assert_eq!(chains.len(), 1);
        assert_eq!(chains[0].account(), "2");
        assert_eq!(c.integrity_problems(&only_2, 10).unwrap().len(), 1);
        assert_eq!(c.integrity_gaps(&only_2, 10).unwrap(), [gap]);
        assert!(
            c.integrity_gaps(&Scope::accounts(["1"]), 10)
                .unwrap()
                .is_empty()
        );
        assert!(
            c.integrity_chains(&Scope::accounts(Vec::<String>::new()))
                .unwrap()
                .is_empty()
        );
        // A later check of the same window replaces verdicts and gaps.
        c.record_integrity(
            "arn:t",
            0,
            30,
            &[rec("AWSLogs/1/l1", "log", "valid", "1 r", 10)],
            &[],
        )
        .unwrap();
        assert!(c.integrity_gaps(&Scope::All, 10).unwrap().is_empty());
        let got = c.integrity_of(&["AWSLogs/1/l1", "AWSLogs/9/none"]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got["AWSLogs/1/l1"].verdict, "valid");
        assert_eq!(key_of("/copy/AWSLogs/1/l1"), Some("AWSLogs/1/l1"));
        // A digest a source took but nobody verified is counted for its account.
        let taken = |key: &str| crate::SourceObject {
            location: format!("s3://b/{key}"),
            size: Some(1),
            mtime: None,
            etag: None,
            status: "skipped".into(),
            records: 0,
            errors: 0,
            reason: None,
        };
        c.commit(
            &[],
            &[],
            &[
                taken("AWSLogs/111111111111/d1"),
                taken("p/AWSLogs/o-x/111111111111/CloudTrail-Digest/r/d9"),
                taken("AWSLogs/333333333333/CloudTrail-Digest/r/d1"),
            ],
            false,
            &[],
        )
        .unwrap();
        let unchecked = c.unchecked_digests().unwrap();
        assert_eq!(
            (unchecked.get("111111111111"), unchecked.get("333333333333")),
            (Some(&1), Some(&1))
        );
    }
}

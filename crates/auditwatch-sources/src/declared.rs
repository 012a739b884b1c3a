//! Sources declared by administrators through the UI or API, kept in the data
//! directory's `catalog.db` (table `declared_sources`, owned by this crate) so they
//! survive restarts. Each row is the same table a `[[sources]]` entry would be, as
//! JSON, with who added it and when.

use std::path::Path;

use rusqlite::{Connection, params};

use crate::config::SourceConfig;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS declared_sources(
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at INTEGER NOT NULL
);
"#;

/// One declared source as stored.
#[derive(Debug, Clone)]
pub struct Declared {
    /// The source table.
    pub config: SourceConfig,
    /// The administrator who declared it.
    pub added_by: String,
    /// When (seconds since the epoch).
    pub added_at: i64,
}

/// Why the declared-sources table could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DeclaredError {
    /// SQLite failed.
    #[error("declared sources: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A stored row no longer parses (written by another version).
    #[error("declared source `{name}` is stored in a form this version cannot read: {reason}")]
    Unreadable {
        /// The row's name.
        name: String,
        /// The parse error.
        reason: String,
    },
}

impl DeclaredError {
    /// The source a row error is about (empty when the table itself failed).
    pub fn source_name(&self) -> &str {
        match self {
            DeclaredError::Unreadable { name, .. } => name,
            DeclaredError::Sql(_) => "",
        }
    }
}

/// The table, opened on the data directory's catalog.
pub struct DeclaredSources {
    conn: Connection,
}

impl std::fmt::Debug for DeclaredSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeclaredSources")
    }
}

impl DeclaredSources {
    /// Opens (and creates) the table in `<data_dir>/catalog.db`.
    pub fn open(data_dir: &Path) -> Result<Self, DeclaredError> {
        let conn = Connection::open(data_dir.join("catalog.db"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// Every declared source, by name. A row that does not parse is returned as an
    /// error in its place, so one bad row never hides the others.
    pub fn list(&self) -> Result<Vec<Result<Declared, DeclaredError>>, DeclaredError> {
        let mut stmt = self.conn.prepare(
            "SELECT name, config, added_by, added_at FROM declared_sources ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, config, added_by, added_at) = row?;
            out.push(
                serde_json::from_str::<SourceConfig>(&config)
                    .map(|config| Declared {
                        config,
                        added_by,
                        added_at,
                    })
                    .map_err(|e| DeclaredError::Unreadable {
                        name,
                        reason: e.to_string(),
                    }),
            );
        }
        Ok(out)
    }

    /// Adds a source; `false` when one of that name is already declared.
    pub fn add(&self, config: &SourceConfig, by: &str) -> Result<bool, DeclaredError> {
        let text = serde_json::to_string(config).expect("a source table serializes");
        let n = self.conn.execute(
            "INSERT INTO declared_sources(name, config, added_by, added_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO NOTHING",
            params![config.name, text, by, chrono::Utc::now().timestamp()],
        )?;
        Ok(n == 1)
    }

    /// Removes a source; `false` when none of that name is declared.
    pub fn remove(&self, name: &str) -> Result<bool, DeclaredError> {
        Ok(self
            .conn
            .execute("DELETE FROM declared_sources WHERE name = ?1", [name])?
            == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_sources_survive_reopening_and_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let table = DeclaredSources::open(dir.path()).unwrap();
        let config = SourceConfig {
            name: "trail".into(),
            kind: "s3".into(),
            bucket: Some("b".into()),
            ..Default::default()
        };
        assert!(table.add(&config, "admin").unwrap());
        assert!(!table.add(&config, "other").unwrap());
        drop(table);
        let table = DeclaredSources::open(dir.path()).unwrap();
        let listed = table.list().unwrap();
        assert_eq!(listed.len(), 1);
        let d = listed[0].as_ref().unwrap();
        assert_eq!(
            (d.config.bucket.as_deref(), d.added_by.as_str()),
            (Some("b"), "admin")
        );
        assert!(table.remove("trail").unwrap());
        assert!(!table.remove("trail").unwrap());
        assert!(table.list().unwrap().is_empty());
    }
}

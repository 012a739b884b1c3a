//! Configuration: flags > environment > config file > defaults, resolved once into a
//! typed [`Config`]. Unknown keys in the file are errors.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

/// The configuration file as written (TOML).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: Option<PathBuf>,
    #[serde(default)]
    ingest: RawIngest,
    #[serde(default)]
    auth: RawAuth,
    oidc: Option<auditwatch_server::oidc::OidcSettings>,
    #[serde(default)]
    sources: Vec<auditwatch_sources::config::SourceConfig>,
    #[serde(default)]
    retention: RawRetention,
    #[serde(default)]
    integrity: RawIntegrity,
    #[serde(default)]
    detection: auditwatch_detect::config::DetectionSettings,
    #[serde(default)]
    alarms: Vec<auditwatch_detect::config::AlarmSettings>,
    #[serde(default)]
    notify: Vec<auditwatch_detect::config::ChannelSettings>,
    #[serde(default)]
    lake: RawLake,
    #[serde(default)]
    catalog: RawCatalog,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    /// The shared catalog of several nodes (`postgres://user@host/db`).
    url: Option<String>,
    /// The environment variable holding its password.
    password_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLake {
    /// Where the segments live besides the data directory (`s3://bucket/prefix`).
    url: Option<String>,
    /// The most bytes of local segment copies to keep when they have a remote home.
    cache_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntegrity {
    /// The JSON `aws cloudtrail list-public-keys` prints.
    public_keys: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    days: Option<u32>,
    #[serde(default)]
    accounts: std::collections::BTreeMap<String, u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    session_idle_minutes: Option<u64>,
    session_absolute_hours: Option<u64>,
    require_totp_for_admins: Option<bool>,
    secure_cookies: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIngest {
    max_decompressed_bytes: Option<u64>,
    max_archive_entries: Option<usize>,
    max_archive_bytes: Option<u64>,
    commit_rows: Option<usize>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the lake and catalog live.
    pub data_dir: PathBuf,
    /// Ingest tuning and caps.
    pub ingest: auditwatch_ingest::IngestOptions,
    /// Sign-in settings.
    pub auth: auditwatch_server::AuthConfig,
    /// The OpenID Connect provider, if configured (discovered when serving).
    pub oidc: Option<auditwatch_server::oidc::OidcSettings>,
    /// Sources `serve` runs continuously (`[[sources]]`).
    pub sources: Vec<auditwatch_sources::config::Spec>,
    /// How long events are kept (`[retention]`; applied by `serve` hourly and by
    /// `compact`).
    pub retention: auditwatch_store::write::retention::Retention,
    /// CloudTrail public keys the AWS-compatible endpoint lists (`[integrity]
    /// public_keys`).
    pub public_keys: auditwatch_integrity::KeyRing,
    /// Live detection: alarms, alerting rules, notification channels
    /// (`[detection]`, `[[alarms]]`, `[[notify]]`).
    pub detection: auditwatch_detect::Definitions,
    /// What checking the detection settings warned about (rules that did not load,
    /// alarms that cannot fire as meant).
    pub detection_warnings: Vec<String>,
    /// Values of Sigma `%placeholders%` (`[detection] sigma_placeholders`), for `hunt`.
    pub sigma_placeholders: auditwatch_rules::sigma::Placeholders,
    /// Where the table lives besides the data directory: `[lake] url` and
    /// `cache_bytes`, `[catalog] url` and the password `[catalog] password_env` names
    /// (docs/SCALING.md).
    pub placement: auditwatch_store::Placement,
}

impl Config {
    /// Resolves the configuration. `data_dir` and `config` come from the flags (clap
    /// already fills them from `AUDITWATCH_DATA_DIR` / `AUDITWATCH_CONFIG`).
    pub fn load(data_dir: Option<&Path>, config: Option<&Path>) -> Result<Self> {
        let raw: RawConfig = match config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("config {}", path.display()))?
            }
            None => RawConfig::default(),
        };
        let data_dir = match (data_dir, raw.data_dir) {
            (Some(d), _) => d.to_path_buf(),
            (None, Some(d)) => d,
            (None, None) => dirs::data_dir()
                .map(|d| d.join("auditwatch"))
                .context("no platform data directory; pass --data-dir")?,
        };
        let mut ingest = auditwatch_ingest::IngestOptions::default();
        let i = raw.ingest;
        if let Some(v) = i.max_decompressed_bytes {
            ingest.limits.max_decompressed = v;
        }
        if let Some(v) = i.max_archive_entries {
            ingest.limits.max_archive_entries = v;
        }
        if let Some(v) = i.max_archive_bytes {
            ingest.limits.max_archive_bytes = v;
        }
        if let Some(v) = i.commit_rows {
            anyhow::ensure!(v > 0, "config: ingest.commit_rows must be at least 1");
            ingest.commit_rows = v;
        }
        let mut auth = auditwatch_server::AuthConfig::default();
        let a = raw.auth;
        if let Some(m) = a.session_idle_minutes {
            anyhow::ensure!(
                m > 0,
                "config: auth.session_idle_minutes must be at least 1"
            );
            auth.session.idle = std::time::Duration::from_secs(m * 60);
        }
        if let Some(h) = a.session_absolute_hours {
            anyhow::ensure!(
                h > 0,
                "config: auth.session_absolute_hours must be at least 1"
            );
            auth.session.absolute = std::time::Duration::from_secs(h * 3600);
        }
        auth.require_totp_for_admins = a.require_totp_for_admins.unwrap_or(false);
        auth.secure_cookies = a.secure_cookies.unwrap_or(false);
        let sources = auditwatch_sources::config::resolve_all(raw.sources)
            .map_err(|e| anyhow::anyhow!("config: {e}"))?;
        for account in raw.retention.accounts.keys() {
            anyhow::ensure!(
                account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()),
                "config: retention.accounts: `{account}` is not a 12-digit AWS account id"
            );
        }
        let public_keys = match &raw.integrity.public_keys {
            Some(path) => {
                let text = std::fs::read(path).with_context(|| {
                    format!("config: integrity.public_keys: reading {}", path.display())
                })?;
                auditwatch_integrity::KeyRing::from_json(&text).map_err(|e| {
                    anyhow::anyhow!("config: integrity.public_keys: {}: {e}", path.display())
                })?
            }
            None => auditwatch_integrity::KeyRing::default(),
        };
        let sigma_placeholders = raw.detection.sigma_placeholders.clone();
        let (detection, detection_warnings) =
            auditwatch_detect::config::resolve(raw.detection, raw.alarms, raw.notify)
                .map_err(|e| anyhow::anyhow!("config: {e}"))?;
        let catalog_password = match &raw.catalog.password_env {
            Some(var) => {
                anyhow::ensure!(
                    raw.catalog.url.is_some(),
                    "config: catalog.password_env without catalog.url"
                );
                Some(std::env::var(var).map_err(|_| {
                    anyhow::anyhow!("config: catalog.password_env: ${var} is not set")
                })?)
            }
            None => None,
        };
        Ok(Self {
            placement: auditwatch_store::Placement {
                lake_url: raw.lake.url,
                cache_bytes: raw.lake.cache_bytes,
                catalog_url: raw.catalog.url,
                catalog_password,
            },
            sigma_placeholders,
            data_dir,
            public_keys,
            detection,
            detection_warnings,
            ingest,
            auth,
            oidc: raw.oidc,
            sources,
            retention: auditwatch_store::write::retention::Retention {
                days: raw.retention.days,
                accounts: raw.retention.accounts,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "data_dir = \"/from/file\"\n[ingest]\ncommit_rows = 5\n").unwrap();
        let c = Config::load(None, Some(&f)).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/from/file"));
        assert_eq!(c.ingest.commit_rows, 5);
        let c = Config::load(Some(Path::new("/flag")), Some(&f)).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/flag"));
        std::fs::write(&f, "datadir = 1\n").unwrap();
        let e = format!("{:#}", Config::load(None, Some(&f)).unwrap_err());
        assert!(e.contains("unknown field"), "{e}");
    }

    #[test]
    fn retention_takes_days_and_checked_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "[retention]\ndays = 365\n[retention.accounts]\n\"111122223333\" = 30\n",
        )
        .unwrap();
        let c = Config::load(Some(Path::new("/d")), Some(&f)).unwrap();
        assert_eq!(c.retention.days, Some(365));
        assert_eq!(c.retention.accounts["111122223333"], 30);
        std::fs::write(&f, "[retention.accounts]\nprod = 30\n").unwrap();
        let e = format!("{:#}", Config::load(None, Some(&f)).unwrap_err());
        assert!(e.contains("`prod` is not a 12-digit AWS account id"), "{e}");
    }
}

//! How sources are declared: `[[sources]]` tables of the configuration file.
//!
//! One flat table per source with a `kind`; fields that do not apply to the kind are
//! errors that name the source and the field, so a typo never silently disables a
//! setting.
//!
//! ```toml
//! [[sources]]
//! name = "org-trail"
//! kind = "s3"              # s3 | sqs | lookup
//! bucket = "my-cloudtrail-bucket"
//! accounts = ["111122223333"]
//! start = "2024-01-01"
//! [sources.filter]
//! drop_event_names = ["Describe", "List", "Get"]
//! ```

use serde::{Deserialize, Serialize};

use auditwatch_ingest::EventFilter;

use crate::lookup_events::LookupSettings;
use crate::s3::{S3Settings, Selection};
use crate::sqs::SqsSettings;
use auditwatch_aws::AwsSettings;

/// One `[[sources]]` table as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct SourceConfig {
    pub name: String,
    pub kind: String,
    /// Seconds between passes (S3, lookup) or reconciliation listings (SQS).
    pub interval_seconds: Option<u64>,
    // AWS
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub profile: Option<String>,
    pub max_attempts: Option<u32>,
    // S3 (and the SQS source's reconciliation listing)
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub accounts: Option<Vec<String>>,
    pub regions: Option<Vec<String>>,
    pub start: Option<String>,
    pub concurrency: Option<usize>,
    pub verify_digests: Option<bool>,
    // SQS
    pub queue_url: Option<String>,
    pub visibility_timeout_seconds: Option<i32>,
    pub wait_seconds: Option<i32>,
    pub max_receives: Option<u32>,
    pub buckets: Option<Vec<String>>,
    // LookupEvents
    pub overlap_minutes: Option<u64>,
    pub requests_per_second: Option<f64>,
    #[serde(default, skip_serializing_if = "EventFilter::keeps_all")]
    pub filter: EventFilter,
}

/// A declared source, checked.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Its name (unique), for status, metrics and logs.
    pub name: String,
    /// Seconds between passes or reconciliations.
    pub interval_seconds: u64,
    /// How to reach AWS.
    pub aws: AwsSettings,
    /// Which events to keep.
    pub filter: EventFilter,
    /// What to read.
    pub kind: Kind,
    /// The table as declared, in TOML (shown to administrators).
    pub config: String,
}

/// What a source reads.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A bucket, in passes.
    S3(S3Settings),
    /// A queue, continuously; with a bucket, reconciled by a listing every interval.
    Sqs(SqsSettings, Option<S3Settings>),
    /// The LookupEvents API.
    Lookup(LookupSettings),
}

impl Kind {
    /// `s3`, `sqs` or `lookup`.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::S3(_) => "s3",
            Kind::Sqs(..) => "sqs",
            Kind::Lookup(_) => "lookup",
        }
    }
}

/// The fields of an S3 source (an SQS source's reconciliation listing takes them too).
const S3_FIELDS: &[&str] = &[
    "bucket",
    "prefix",
    "accounts",
    "regions",
    "start",
    "concurrency",
];
/// The fields only an SQS source takes.
const SQS_FIELDS: &[&str] = &[
    "queue_url",
    "visibility_timeout_seconds",
    "wait_seconds",
    "max_receives",
    "buckets",
];

impl SourceConfig {
    /// Refuses what a source declared through the UI or API may not set: its own
    /// endpoint or profile. Those sources use the server's AWS configuration, so an
    /// administrator's browser session cannot point the server's credentials at
    /// another host or borrow another profile.
    pub fn check_declarable(&self) -> Result<(), String> {
        for (field, set) in [
            ("endpoint_url", self.endpoint_url.is_some()),
            ("profile", self.profile.is_some()),
        ] {
            if set {
                return Err(format!(
                    "source `{}`: `{field}` can only be set in the configuration file",
                    self.name
                ));
            }
        }
        Ok(())
    }

    /// Checks the table and types it.
    pub fn resolve(self) -> Result<Spec, String> {
        let name = self.name.clone();
        let config = toml::to_string(&self).unwrap_or_default();
        let err = |m: String| format!("source `{name}`: {m}");
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(format!(
                "source name `{name}` must be non-empty letters, digits, '-', '_' or '.'"
            ));
        }
        let present = |fields: &[(&str, bool)], allowed: &[&str]| -> Result<(), String> {
            for (f, set) in fields {
                if *set && !allowed.contains(f) {
                    return Err(err(format!("`{f}` does not apply to kind `{}`", self.kind)));
                }
            }
            Ok(())
        };
        let fields = [
            ("bucket", self.bucket.is_some()),
            ("prefix", self.prefix.is_some()),
            ("accounts", self.accounts.is_some()),
            ("regions", self.regions.is_some()),
            ("start", self.start.is_some()),
            ("concurrency", self.concurrency.is_some()),
            ("verify_digests", self.verify_digests.is_some()),
            ("queue_url", self.queue_url.is_some()),
            (
                "visibility_timeout_seconds",
                self.visibility_timeout_seconds.is_some(),
            ),
            ("wait_seconds", self.wait_seconds.is_some()),
            ("max_receives", self.max_receives.is_some()),
            ("buckets", self.buckets.is_some()),
            ("overlap_minutes", self.overlap_minutes.is_some()),
            ("requests_per_second", self.requests_per_second.is_some()),
        ];
        let s3 = |c: &SourceConfig| -> Result<S3Settings, String> {
            let settings = S3Settings {
                bucket: c
                    .bucket
                    .clone()
                    .ok_or_else(|| err("`bucket` is required".into()))?,
                prefix: c.prefix.clone().unwrap_or_default(),
                accounts: c.accounts.clone().unwrap_or_default(),
                regions: c.regions.clone().unwrap_or_default(),
                start: c.start.clone(),
                concurrency: c.concurrency,
                verify_digests: c.verify_digests.unwrap_or(false),
            };
            format!("s3://{}/", settings.bucket)
                .parse::<crate::s3::S3Url>()
                .map_err(&err)?;
            Selection::new(&settings).map_err(&err)?;
            Ok(settings)
        };
        let kind = match self.kind.as_str() {
            "s3" => {
                present(&fields, &[S3_FIELDS, &["verify_digests"]].concat())?;
                Kind::S3(s3(&self)?)
            }
            "sqs" => {
                present(
                    &fields,
                    &[S3_FIELDS, SQS_FIELDS, &["verify_digests"]].concat(),
                )?;
                let sqs = SqsSettings {
                    queue_url: self
                        .queue_url
                        .clone()
                        .ok_or_else(|| err("`queue_url` is required".into()))?,
                    visibility_timeout_seconds: self.visibility_timeout_seconds,
                    wait_seconds: self.wait_seconds,
                    max_receives: self.max_receives,
                    buckets: self.buckets.clone().unwrap_or_default(),
                    concurrency: self.concurrency,
                    verify_digests: self.verify_digests.unwrap_or(false),
                };
                let reconcile = match self.bucket {
                    Some(_) => Some(s3(&self)?),
                    None => None,
                };
                Kind::Sqs(sqs, reconcile)
            }
            "lookup" => {
                present(
                    &fields,
                    &["regions", "start", "overlap_minutes", "requests_per_second"],
                )?;
                let settings = LookupSettings {
                    regions: self.regions.clone().unwrap_or_default(),
                    start: self.start.clone(),
                    overlap_minutes: self.overlap_minutes,
                    requests_per_second: self.requests_per_second,
                };
                settings.check().map_err(&err)?;
                Kind::Lookup(settings)
            }
            other => return Err(err(format!("unknown kind `{other}` (s3, sqs or lookup)"))),
        };
        let default_interval = match kind {
            Kind::Sqs(..) => 3600,
            _ => 300,
        };
        Ok(Spec {
            name: self.name,
            interval_seconds: self.interval_seconds.unwrap_or(default_interval).max(1),
            aws: AwsSettings {
                region: self.region,
                endpoint_url: self.endpoint_url,
                profile: self.profile,
                max_attempts: self.max_attempts,
            },
            filter: self.filter,
            kind,
            config,
        })
    }
}

/// Checks every declared source; names must be unique.
pub fn resolve_all(configs: Vec<SourceConfig>) -> Result<Vec<Spec>, String> {
    let mut out: Vec<Spec> = Vec::new();
    for c in configs {
        let spec = c.resolve()?;
        if out.iter().any(|s| s.name == spec.name) {
            return Err(format!("source name `{}` is declared twice", spec.name));
        }
        out.push(spec);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Spec>, String> {
        #[derive(Deserialize)]
        struct File {
            sources: Vec<SourceConfig>,
        }
        let f: File = toml::from_str(text).map_err(|e| e.to_string())?;
        resolve_all(f.sources)
    }

    #[test]
    fn kinds_and_their_fields() {
        let specs = parse(
            r#"
            [[sources]]
            name = "trail"
            kind = "s3"
            bucket = "my-trail"
            accounts = ["111122223333"]
            verify_digests = true
            [sources.filter]
            drop_event_names = ["Get"]

            [[sources]]
            name = "queue"
            kind = "sqs"
            queue_url = "http://127.0.0.1:1/q"
            bucket = "my-trail"
            interval_seconds = 60

            [[sources]]
            name = "seed"
            kind = "lookup"
            regions = ["us-east-1"]
            "#,
        )
        .unwrap();
        assert_eq!(specs.len(), 3);
        assert!(
            matches!(&specs[0].kind, Kind::S3(s) if s.accounts == ["111122223333"] && s.verify_digests)
        );
        let e = parse("[[sources]]\nname = \"l\"\nkind = \"lookup\"\nverify_digests = true\n")
            .unwrap_err();
        assert!(
            e.contains("`verify_digests` does not apply to kind `lookup`"),
            "{e}"
        );
        assert_eq!(specs[0].filter.drop_event_names, ["Get"]);
        assert!(matches!(&specs[1].kind, Kind::Sqs(_, Some(r)) if r.bucket == "my-trail"));
        assert_eq!(specs[1].interval_seconds, 60);
        assert_eq!(specs[2].kind.name(), "lookup");
    }

    #[test]
    fn mistakes_are_named() {
        let e = parse("[[sources]]\nname='a'\nkind='s3'\nqueue_url='x'\nbucket='bbb'").unwrap_err();
        assert!(e.contains("source `a`") && e.contains("queue_url"), "{e}");
        let e = parse("[[sources]]\nname='a'\nkind='s3'").unwrap_err();
        assert!(e.contains("`bucket` is required"), "{e}");
        let e = parse("[[sources]]\nname='a'\nkind='ftp'").unwrap_err();
        assert!(e.contains("unknown kind"), "{e}");
        let e = parse("[[sources]]\nname='a'\nkind='s3'\nbucket='bbb'\nbukcet='x'").unwrap_err();
        assert!(e.contains("bukcet"), "{e}");
        let e = parse("[[sources]]\nname='a'\nkind='s3'\nbucket='bbb'\n[[sources]]\nname='a'\nkind='s3'\nbucket='ccc'").unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let e = parse("[[sources]]\nname='a'\nkind='s3'\nbucket='bbb'\nstart='yesterdayish'")
            .unwrap_err();
        assert!(e.contains("start"), "{e}");
    }
}

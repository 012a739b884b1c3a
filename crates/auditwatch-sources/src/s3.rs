//! The S3 source: a bucket (and prefix) in the CloudTrail layout, read in passes.
//!
//! A pass discovers the layout with delimiter listings — `AWSLogs/`, organisation ids,
//! accounts, `CloudTrail`/`CloudTrail-Insight`/`CloudTrail-Digest`, regions — skipping
//! accounts and regions outside the allow-lists, then lists each region folder from
//! the start date on. Every object is compared with its own checkpoint (key, size,
//! ETag), never with a "last key" marker, so late and out-of-order files are taken.
//! Objects are fetched in parallel and committed in chunks with their checkpoints.

use std::collections::HashMap;

use auditwatch_event::layout::{ObjectKind, parse_key};
use auditwatch_ingest::decode::{Outcome, decode_document, skip_by_name};
use auditwatch_ingest::{Body, Committer, IngestOptions, ObjectId, Observer, Summary, Unit};
use auditwatch_store::{SourceObject, Store};
use aws_sdk_s3::Client;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;

use crate::error::SourceError;
use crate::{WriteSlot, blocking};

/// `s3://bucket/prefix`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    /// The bucket.
    pub bucket: String,
    /// The key prefix (may be empty).
    pub prefix: String,
}

impl std::str::FromStr for S3Url {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{s}: not an s3:// URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
        if !valid {
            return Err(format!(
                "{s}: `{bucket}` is not a bucket name (3-63 lower-case letters, digits, '-', '.')"
            ));
        }
        Ok(Self {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// What an S3 source reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// The bucket.
    pub bucket: String,
    /// Key prefix: the trail's prefix (before `AWSLogs/`), or any deeper folder.
    #[serde(default)]
    pub prefix: String,
    /// Only these accounts (default: all found).
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Only these regions (default: all found).
    #[serde(default)]
    pub regions: Vec<String>,
    /// Only date folders from this day on (`YYYY-MM-DD`, or relative such as `90d`).
    pub start: Option<String>,
    /// Objects fetched at once (default 8).
    pub concurrency: Option<usize>,
    /// Verify digest files as they arrive (their chains and the logs they list) and
    /// keep the verdicts for the Integrity page.
    #[serde(default)]
    pub verify_digests: bool,
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The key.
    pub key: String,
    /// Its size.
    pub size: u64,
    /// Its ETag, without quotes.
    pub etag: String,
    /// When it was written (seconds since the epoch).
    pub modified: Option<i64>,
}

/// What a pass did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PassReport {
    /// Objects listed (events, insights and digests that pass the allow-lists).
    pub listed: u64,
    /// Of those, objects already taken before this pass.
    pub unchanged: u64,
    /// Objects read in this pass.
    pub read: u64,
    /// Objects that could not be fetched (recorded as `failed`; read again next pass).
    pub failed: u64,
    /// Newest modification time among listed objects (seconds).
    pub newest_object: Option<i64>,
    /// The ingest totals.
    pub summary: Summary,
    /// Every digest key listed (the chains a verification walks).
    pub digests: Vec<String>,
    /// Digest keys new or changed in this pass (what a verification starts from).
    pub new_digests: Vec<String>,
}

/// The selection rules of a source, resolved.
#[derive(Debug, Clone)]
pub struct Selection {
    accounts: Vec<String>,
    regions: Vec<String>,
    /// `YYYY/MM/DD` of the first day wanted.
    start: Option<String>,
}

impl Selection {
    /// Resolves `settings` (the start date relative to now).
    pub fn new(settings: &S3Settings) -> Result<Self, String> {
        let start = match &settings.start {
            Some(s) => {
                let us = auditwatch_event::timearg::parse(s, chrono::Utc::now(), false)
                    .map_err(|e| format!("start `{s}`: {e}"))?;
                let day = chrono::DateTime::from_timestamp_micros(us)
                    .ok_or_else(|| format!("start `{s}`: out of range"))?;
                Some(day.format("%Y/%m/%d").to_string())
            }
            None => None,
        };
        for a in &settings.accounts {
            if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("account `{a}` is not a 12-digit account id"));
            }
        }
        Ok(Self {
            accounts: settings.accounts.clone(),
            regions: settings.regions.clone(),
            start,
        })
    }

    fn account_ok(&self, a: &str) -> bool {
        self.accounts.is_empty() || self.accounts.iter().any(|x| x == a)
    }

    fn region_ok(&self, r: &str) -> bool {
        self.regions.is_empty() || self.regions.iter().any(|x| x == r)
    }

    /// Whether a listed key is wanted: CloudTrail events, insights and digests inside
    /// the allow-lists and from the start date on; outside the layout, any file that
    /// looks like CloudTrail data.
    pub fn wants(&self, key: &str) -> bool {
        let Some(info) = parse_key(key) else {
            return auditwatch_ingest::files::is_candidate(std::path::Path::new(key));
        };
        if matches!(info.kind, ObjectKind::OtherService(_)) || !self.account_ok(&info.account) {
            return false;
        }
        if let Some(r) = &info.region
            && !self.region_ok(r)
        {
            return false;
        }
        match (&self.start, info.date) {
            (Some(start), Some((y, m, d))) => format!("{y:04}/{m:02}/{d:02}") >= *start,
            _ => true,
        }
    }
}

/// Where a delimiter walk stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Above `AWSLogs/` (the trail's prefix, or the bucket root).
    Above,
    /// Inside `AWSLogs/`: organisation ids or accounts.
    AwsLogs,
    /// Inside `AWSLogs/o-…/`: accounts.
    Org,
    /// Inside an account: services.
    Account,
    /// Inside `CloudTrail/` (or Insight, Digest): regions.
    Service,
    /// Inside a region (or deeper): list flat.
    Region,
}

/// The level a folder prefix (ending in `/`) stands at.
fn level_of(prefix: &str) -> Level {
    let parts: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
    let Some(at) = parts.iter().rposition(|p| *p == "AWSLogs") else {
        return Level::Above;
    };
    let mut rest = &parts[at + 1..];
    let org = rest.first().is_some_and(|p| p.starts_with("o-"));
    if org {
        rest = &rest[1..];
    }
    match rest.len() {
        0 if org => Level::Org,
        0 => Level::AwsLogs,
        1 => Level::Account,
        2 => Level::Service,
        _ => Level::Region,
    }
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The last path segment of a folder prefix (`a/b/c/` → `c`).
fn leaf(prefix: &str) -> &str {
    prefix
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
}

/// Where an S3 object's events and checkpoint say they came from.
pub fn object_location(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// Lists and reads one bucket.
#[derive(Debug, Clone)]
pub struct S3Source {
    client: Client,
    url: S3Url,
    selection: Selection,
    concurrency: usize,
}

impl S3Source {
    /// A source over `url` with `settings`' allow-lists.
    pub fn new(client: Client, url: S3Url, settings: &S3Settings) -> Result<Self, SourceError> {
        let selection = Selection::new(settings).map_err(SourceError::Config)?;
        Ok(Self {
            client,
            url,
            selection,
            concurrency: settings.concurrency.unwrap_or(8).clamp(1, 64),
        })
    }

    /// The S3 client it reads with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Its bucket.
    pub fn bucket(&self) -> &str {
        &self.url.bucket
    }

    /// The location prefix of this source's checkpoints (`s3://bucket/prefix`).
    pub fn location_prefix(&self) -> String {
        self.url.to_string()
    }

    /// Lists the wanted objects, oldest date first.
    pub async fn list(&self) -> Result<Vec<Listed>, SourceError> {
        let prefix = &self.url.prefix;
        let mut leaves = Vec::new();
        if prefix.is_empty() || prefix.ends_with('/') {
            self.walk(prefix.clone(), level_of(prefix), &mut leaves)
                .await?;
        } else {
            // A key prefix, not a folder: list it as it is.
            leaves.push((prefix.clone(), None));
        }
        let lists: Vec<Vec<Listed>> = futures::stream::iter(leaves)
            .map(|(p, after)| self.list_flat(p, after))
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let mut all: Vec<Listed> = lists
            .into_iter()
            .flatten()
            .filter(|o| self.selection.wants(&o.key))
            .collect();
        all.sort_by_cached_key(|o| (parse_key(&o.key).and_then(|k| k.date), o.key.clone()));
        Ok(all)
    }

    /// Descends the layout with delimiter listings, collecting the folders to list
    /// flat (and the key to start after, from the start date).
    async fn walk(
        &self,
        prefix: String,
        level: Level,
        out: &mut Vec<(String, Option<String>)>,
    ) -> Result<(), SourceError> {
        let mut stack = vec![(prefix, level)];
        while let Some((prefix, level)) = stack.pop() {
            if level == Level::Region {
                let after = self
                    .selection
                    .start
                    .as_ref()
                    .map(|d| format!("{prefix}{d}"));
                out.push((prefix, after));
                continue;
            }
            let folders = self.folders(&prefix).await?;
            if level == Level::Above {
                match folders.iter().find(|f| leaf(f) == "AWSLogs") {
                    Some(f) => stack.push((f.clone(), Level::AwsLogs)),
                    // Not the CloudTrail layout: read every file under the prefix.
                    None => out.push((prefix, None)),
                }
                continue;
            }
            for f in folders {
                let name = leaf(&f);
                let next = match level {
                    Level::AwsLogs if name.starts_with("o-") => Some(Level::Org),
                    Level::AwsLogs | Level::Org if is_account(name) => {
                        self.selection.account_ok(name).then_some(Level::Account)
                    }
                    Level::Account => matches!(
                        name,
                        "CloudTrail" | "CloudTrail-Insight" | "CloudTrail-Digest"
                    )
                    .then_some(Level::Service),
                    Level::Service => self.selection.region_ok(name).then_some(Level::Region),
                    _ => None,
                };
                if let Some(next) = next {
                    stack.push((f, next));
                }
            }
        }
        Ok(())
    }

    /// The sub-folders of a folder prefix.
    async fn folders(&self, prefix: &str) -> Result<Vec<String>, SourceError> {
        list_folders(&self.client, &self.url.bucket, prefix).await
    }

    /// Every object under `prefix` (after `start_after`, when given).
    async fn list_flat(
        &self,
        prefix: String,
        start_after: Option<String>,
    ) -> Result<Vec<Listed>, SourceError> {
        list_objects(&self.client, &self.url.bucket, &prefix, start_after).await
    }

    /// One pass: list, read what is new or changed, commit in chunks. `observer`
    /// sees the planned work and progress.
    pub async fn pass(
        &self,
        store: &Store,
        slot: &WriteSlot,
        opts: &IngestOptions,
        observer: &mut (dyn Observer + Send),
    ) -> Result<PassReport, SourceError> {
        let listed = self.list().await?;
        let is_digest =
            |o: &&Listed| auditwatch_integrity::digest_keys::parse_digest_key(&o.key).is_some();
        let mut report = PassReport {
            listed: listed.len() as u64,
            newest_object: listed.iter().filter_map(|o| o.modified).max(),
            digests: listed
                .iter()
                .filter(is_digest)
                .map(|o| o.key.clone())
                .collect(),
            ..Default::default()
        };
        let known: HashMap<String, SourceObject> = blocking(|| {
            let catalog = store.catalog()?;
            catalog
                .sources_under(&self.location_prefix())
                .map_err(SourceError::from)
        })?
        .into_iter()
        .map(|s| (s.location.clone(), s))
        .collect();
        let todo: Vec<Listed> = listed
            .into_iter()
            .filter(|o| {
                let location = object_location(&self.url.bucket, &o.key);
                !known
                    .get(&location)
                    .is_some_and(|s| taken(s, o.size, Some(&o.etag)))
            })
            .collect();
        report.unchanged = report.listed - todo.len() as u64;
        report.new_digests = todo
            .iter()
            .filter(is_digest)
            .map(|o| o.key.clone())
            .collect();
        observer.planned(todo.len() as u64, todo.iter().map(|o| o.size).sum());
        for chunk in todo.chunks(CHUNK) {
            let _guard = slot.lock().await;
            let writer = blocking(|| store.writer())?;
            let mut committer = Committer::new(writer, opts, observer);
            let mut fetched = futures::stream::iter(chunk.iter().cloned())
                .map(|o| fetch(&self.client, &self.url.bucket, o, opts))
                .buffered(self.concurrency);
            while let Some((id, result)) = fetched.next().await {
                match result {
                    Ok(unit) => {
                        report.read += 1;
                        committer.take(unit);
                    }
                    Err(reason) => {
                        report.failed += 1;
                        tracing::warn!(object = %id.location, %reason, "fetch failed");
                        failed(&mut committer, id, &reason);
                    }
                }
                blocking(|| committer.commit_if_due())?;
            }
            drop(fetched);
            auditwatch_store::failpoint::hit("s3.before_commit");
            let summary = blocking(|| committer.finish())?;
            auditwatch_store::failpoint::hit("s3.after_commit");
            report.summary.add(&summary);
        }
        report.summary.files_unchanged += report.unchanged;
        Ok(report)
    }
}

fn list_error(
    bucket: &str,
    prefix: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> SourceError {
    SourceError::Remote(format!(
        "list s3://{bucket}/{prefix}: {}",
        crate::error::chain(&e)
    ))
}

/// The sub-folders of a folder prefix (a delimiter listing).
pub(crate) async fn list_folders(
    client: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, SourceError> {
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .delimiter("/")
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| list_error(bucket, prefix, e))?;
        out.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_string)),
        );
    }
    Ok(out)
}

/// Every object under `prefix` (after `start_after`, when given).
pub(crate) async fn list_objects(
    client: &Client,
    bucket: &str,
    prefix: &str,
    start_after: Option<String>,
) -> Result<Vec<Listed>, SourceError> {
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .set_start_after(start_after)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| list_error(bucket, prefix, e))?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            if key.ends_with('/') {
                continue;
            }
            out.push(Listed {
                key: key.to_string(),
                size: o.size().unwrap_or(0).max(0) as u64,
                etag: o.e_tag().unwrap_or("").trim_matches('"').to_string(),
                modified: o.last_modified().map(|t| t.secs()),
            });
        }
    }
    Ok(out)
}

/// Objects committed per chunk of a pass (the write slot is released in between).
const CHUNK: usize = 256;

/// Records an object that could not be fetched, with its reason, for the next pass.
pub(crate) fn failed(committer: &mut Committer<'_>, id: ObjectId, reason: &str) {
    committer.record(SourceObject {
        location: id.location.clone(),
        size: Some(id.size),
        mtime: None,
        etag: id.etag,
        status: "failed".into(),
        records: 0,
        errors: 0,
        reason: Some(reason.to_string()),
    });
}

/// Whether a recorded checkpoint covers this version of an object. A version that
/// was rejected or quarantined is not read again (its bytes cannot change without a
/// new ETag); one that failed to download is.
pub fn taken(s: &SourceObject, size: u64, etag: Option<&str>) -> bool {
    s.status != "failed" && s.status != "entry" && s.size == Some(size) && s.etag.as_deref() == etag
}

/// Why an object could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The key does not exist (deleted, or a notification for nothing).
    Missing(String),
    /// Anything else (network, permissions, retries exhausted).
    Failed(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(r) | Self::Failed(r) => f.write_str(r),
        }
    }
}

/// Fetches and decodes one listed object. Returns its checkpoint identity with the
/// unit (or the reason it could not be read).
async fn fetch(
    client: &Client,
    bucket: &str,
    o: Listed,
    opts: &IngestOptions,
) -> (ObjectId, Result<Unit, String>) {
    let id = ObjectId {
        location: object_location(bucket, &o.key),
        size: o.size,
        mtime: None,
        etag: Some(o.etag.clone()),
    };
    match read_object(client, bucket, &o.key, opts).await {
        Ok(unit) => (id, Ok(unit)),
        Err(e) => (id, Err(e.to_string())),
    }
}

/// Reads one object (or skips it by name, unread) and decodes it off the async
/// threads. The checkpoint carries the size and ETag of the version actually read.
pub async fn read_object(
    client: &Client,
    bucket: &str,
    key: &str,
    opts: &IngestOptions,
) -> Result<Unit, FetchError> {
    let location = object_location(bucket, key);
    if let Some(reason) = skip_by_name(key) {
        let head = client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify(&location, e))?;
        return Ok(Unit {
            checkpoint: Some(ObjectId {
                location: location.clone(),
                size: head.content_length().unwrap_or(0).max(0) as u64,
                mtime: None,
                etag: head.e_tag().map(|e| e.trim_matches('"').to_string()),
            }),
            location,
            body: Body::Document(Outcome::Skipped(reason)),
            bytes: 0,
        });
    }
    let got = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| classify(&location, e))?;
    let size = got.content_length().unwrap_or(0).max(0) as u64;
    let etag = got.e_tag().map(|e| e.trim_matches('"').to_string());
    let id = ObjectId {
        location: location.clone(),
        size,
        mtime: None,
        etag,
    };
    let limits = opts.limits.clone();
    if size > limits.max_decompressed {
        return Ok(Unit {
            location,
            body: Body::Document(Outcome::Rejected(format!(
                "object of {size} bytes exceeds the {} byte cap",
                limits.max_decompressed
            ))),
            checkpoint: Some(id),
            bytes: size,
        });
    }
    let bytes = got
        .body
        .collect()
        .await
        .map_err(|e| FetchError::Failed(format!("{location}: reading the body: {e}")))?
        .into_bytes();
    let filter = opts.filter.clone();
    let loc = location.clone();
    let outcome =
        tokio::task::spawn_blocking(move || decode_document(&loc, &bytes, &limits, &filter))
            .await
            .map_err(|e| FetchError::Failed(format!("{location}: decoder stopped: {e}")))?;
    Ok(Unit {
        location,
        body: Body::Document(outcome),
        checkpoint: Some(id),
        bytes: size,
    })
}

fn classify<E>(location: &str, e: aws_sdk_s3::error::SdkError<E>) -> FetchError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let missing = e
        .as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "NoSuchKey" || c == "NotFound")
        || e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
    let text = format!("{location}: {}", crate::error::chain(&e));
    if missing {
        FetchError::Missing(text)
    } else {
        FetchError::Failed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u: S3Url = "s3://my-trail/org/AWSLogs/".parse().unwrap();
        assert_eq!(
            (u.bucket.as_str(), u.prefix.as_str()),
            ("my-trail", "org/AWSLogs/")
        );
        let u: S3Url = "s3://my-trail".parse().unwrap();
        assert_eq!(u.prefix, "");
        assert!(
            "my-trail"
                .parse::<S3Url>()
                .unwrap_err()
                .contains("not an s3://")
        );
        assert!(
            "s3://My_Trail/x"
                .parse::<S3Url>()
                .unwrap_err()
                .contains("bucket name")
        );
        assert!("s3:///x".parse::<S3Url>().is_err());
    }

    #[test]
    fn levels() {
        assert_eq!(level_of(""), Level::Above);
        assert_eq!(level_of("trail/"), Level::Above);
        assert_eq!(level_of("trail/AWSLogs/"), Level::AwsLogs);
        assert_eq!(level_of("AWSLogs/o-abc123/"), Level::Org);
        assert_eq!(level_of("AWSLogs/o-abc123/111122223333/"), Level::Account);
        assert_eq!(level_of("AWSLogs/111122223333/"), Level::Account);
        assert_eq!(level_of("AWSLogs/111122223333/CloudTrail/"), Level::Service);
        assert_eq!(
            level_of("AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/"),
            Level::Region
        );
        assert_eq!(
            level_of("AWSLogs/111122223333/CloudTrail/eu-west-1/2024/01/"),
            Level::Region
        );
    }

    #[test]
    fn selection() {
        let s = Selection::new(&S3Settings {
            accounts: vec!["111122223333".into()],
            regions: vec!["us-east-1".into()],
            start: Some("2024-02-01".into()),
            ..Default::default()
        })
        .unwrap();
        let key = |acct: &str, region: &str, date: &str| {
            format!("AWSLogs/{acct}/CloudTrail/{region}/{date}/f.json.gz")
        };
        assert!(s.wants(&key("111122223333", "us-east-1", "2024/02/01")));
        assert!(s.wants(&format!(
            "AWSLogs/o-aa11bb22cc/{}",
            key("111122223333", "us-east-1", "2024/03/01").trim_start_matches("AWSLogs/")
        )));
        assert!(!s.wants(&key("111122223333", "us-east-1", "2024/01/31")));
        assert!(!s.wants(&key("444455556666", "us-east-1", "2024/02/01")));
        assert!(!s.wants(&key("111122223333", "eu-west-1", "2024/02/01")));
        assert!(!s.wants("AWSLogs/111122223333/Config/us-east-1/2024/2/1/x.json.gz"));
        assert!(s.wants("exports/events.json.gz"));
        assert!(!s.wants("exports/readme.txt"));
        let bad = Selection::new(&S3Settings {
            accounts: vec!["12".into()],
            ..Default::default()
        });
        assert!(bad.unwrap_err().contains("12-digit"));
    }

    #[test]
    fn checkpoints() {
        let s = SourceObject {
            location: "s3://b/k".into(),
            size: Some(10),
            mtime: None,
            etag: Some("e".into()),
            status: "done".into(),
            records: 1,
            errors: 0,
            reason: None,
        };
        assert!(taken(&s, 10, Some("e")));
        assert!(!taken(&s, 10, Some("f")), "a new version is read");
        assert!(!taken(&s, 11, Some("e")));
        let failed = SourceObject {
            status: "failed".into(),
            ..s.clone()
        };
        assert!(!taken(&failed, 10, Some("e")), "a failed fetch is retried");
        let rejected = SourceObject {
            status: "rejected".into(),
            ..s
        };
        assert!(
            taken(&rejected, 10, Some("e")),
            "the same bad bytes are not reread"
        );
    }
}

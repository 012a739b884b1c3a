//! CloudTrail digest files in S3, for `auditwatch verify` and for S3 sources that
//! verify digests as they arrive (`verify_digests = true`): the digest keys of a window
//! (found with delimiter listings, organisation trails included), the objects and
//! their `signature` metadata behind [`auditwatch_integrity::Objects`], CloudTrail's
//! public keys, and the verdicts kept in the store.

use std::collections::{BTreeSet, HashMap};

use auditwatch_catalog::integrity::{IntegrityGap, IntegrityRecord, key_of};
use auditwatch_integrity::chain::{FileKind, Request};
use auditwatch_integrity::digest_keys::{TrailArn, parse_digest_key};
use auditwatch_integrity::{KeyRing, PublicKey, Report, Verdict};
use auditwatch_store::Store;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use chrono::NaiveDate;

use auditwatch_integrity::chain::{Objects, StoredSignature};

use crate::error::{SourceError, chain};
use crate::s3::{list_folders, list_objects};
use auditwatch_aws::AwsSettings;

/// Largest object read (compressed): digests are kilobytes, logs a few megabytes.
pub const MAX_OBJECT_BYTES: i64 = 256 << 20;

/// The digest date folders to list for digests ending in `[start, end]` (seconds):
/// folders are named by the digest's end date, and a day of slack catches digests
/// delivered after midnight.
pub fn digest_days(start: i64, end: i64) -> (NaiveDate, NaiveDate) {
    let day = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap_or_default()
            .date_naive()
    };
    (day(start), day(end + 86_400))
}

/// The digest keys under `prefix` (the trail's prefix, before `AWSLogs/`) whose date
/// folders fall in `[first, last]` (digest end dates; `last` should include a day of
/// slack for digests delivered after midnight).
pub async fn digest_keys(
    client: &Client,
    bucket: &str,
    prefix: &str,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<String>, SourceError> {
    let root = format!("{}AWSLogs/", normalise(prefix));
    let mut accounts = Vec::new();
    for f in list_folders(client, bucket, &root).await? {
        let leaf = f[root.len()..].trim_end_matches('/');
        if leaf.starts_with("o-") {
            accounts.extend(list_folders(client, bucket, &f).await?);
        } else {
            accounts.push(f);
        }
    }
    let mut out = Vec::new();
    for account in accounts {
        let digests = format!("{account}CloudTrail-Digest/");
        for region in list_folders(client, bucket, &digests).await? {
            let mut day = first;
            while day <= last {
                let folder = format!("{region}{}/", day.format("%Y/%m/%d"));
                out.extend(
                    list_objects(client, bucket, &folder, None)
                        .await?
                        .into_iter()
                        .map(|o| o.key),
                );
                let Some(next) = day.succ_opt() else { break };
                day = next;
            }
        }
    }
    Ok(out)
}

fn normalise(prefix: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

/// Objects read from S3 by a blocking caller (the chain walk runs on a blocking
/// thread of the runtime this handle belongs to).
pub struct S3Objects {
    client: Client,
    runtime: tokio::runtime::Handle,
    /// Signatures read, by key (for `--export-signatures`).
    pub seen: std::sync::Mutex<HashMap<String, String>>,
}

impl S3Objects {
    /// Objects of `client`, fetched on `runtime`.
    pub fn new(client: Client, runtime: tokio::runtime::Handle) -> Self {
        Self {
            client,
            runtime,
            seen: Default::default(),
        }
    }
}

fn missing_get(e: &SdkError<GetObjectError>) -> bool {
    matches!(e, SdkError::ServiceError(s) if s.err().is_no_such_key())
        || e.raw_response().is_some_and(|r| r.status().as_u16() == 404)
}

fn missing_head(e: &SdkError<HeadObjectError>) -> bool {
    matches!(e, SdkError::ServiceError(s) if s.err().is_not_found())
        || e.raw_response().is_some_and(|r| r.status().as_u16() == 404)
}

impl Objects for S3Objects {
    fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.runtime.block_on(async {
            let got = match self
                .client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
            {
                Ok(g) => g,
                Err(e) if missing_get(&e) => return Ok(None),
                Err(e) => return Err(format!("reading s3://{bucket}/{key}: {}", chain(&e))),
            };
            if got.content_length().unwrap_or(0) > MAX_OBJECT_BYTES {
                return Err(format!(
                    "s3://{bucket}/{key} is larger than {MAX_OBJECT_BYTES} bytes"
                ));
            }
            let body = got
                .body
                .collect()
                .await
                .map_err(|e| format!("reading s3://{bucket}/{key}: {e}"))?;
            Ok(Some(body.into_bytes().to_vec()))
        })
    }

    fn signature(&self, bucket: &str, key: &str) -> Result<StoredSignature, String> {
        self.runtime.block_on(async {
            let head = match self
                .client
                .head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
            {
                Ok(h) => h,
                Err(e) if missing_head(&e) => return Ok(StoredSignature::Missing),
                Err(e) => return Err(format!("reading s3://{bucket}/{key}: {}", chain(&e))),
            };
            match head.metadata().and_then(|m| m.get("signature")) {
                Some(s) => {
                    self.seen
                        .lock()
                        .expect("signature lock")
                        .insert(key.to_string(), s.clone());
                    Ok(StoredSignature::Found(s.clone()))
                }
                None => Ok(StoredSignature::Missing),
            }
        })
    }
}

/// CloudTrail's public keys for `[start, end]` from ListPublicKeys in each region
/// (digests are signed with a key of the region that delivered them).
pub async fn public_keys(
    aws: &AwsSettings,
    regions: &BTreeSet<String>,
    start: i64,
    end: i64,
) -> Result<KeyRing, SourceError> {
    use aws_smithy_types::DateTime;
    let regions: Vec<String> = regions.iter().cloned().collect();
    let mut keys = Vec::new();
    for (region, client) in aws.cloudtrail(&regions).await {
        let mut pages = client
            .list_public_keys()
            .start_time(DateTime::from_secs(start))
            .end_time(DateTime::from_secs(end.max(start)))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                SourceError::Remote(format!("ListPublicKeys in {region}: {}", chain(&e)))
            })?;
            for k in page.public_key_list() {
                let Some(value) = k.value() else { continue };
                let mut key = PublicKey::from_der(value.as_ref().to_vec())
                    .map_err(|e| SourceError::Remote(format!("ListPublicKeys in {region}: {e}")))?;
                if let Some(f) = k.fingerprint() {
                    key.fingerprint = f.to_ascii_lowercase();
                }
                key.valid_from = k.validity_start_time().map(|t| t.secs());
                key.valid_to = k.validity_end_time().map(|t| t.secs());
                keys.push(key);
            }
        }
    }
    Ok(KeyRing(keys))
}

/// The regions of some digest keys.
pub fn regions_of(keys: &[String]) -> BTreeSet<String> {
    keys.iter()
        .filter_map(|k| parse_digest_key(k).map(|d| d.region))
        .collect()
}

/// A report as catalog rows (files keyed from `AWSLogs/` on, and gaps).
pub fn records(
    report: &Report,
    trail: &str,
    now: i64,
) -> (Vec<IntegrityRecord>, Vec<IntegrityGap>) {
    let files = report
        .findings
        .iter()
        .filter_map(|f| {
            let (verdict, reason) = match &f.verdict {
                Verdict::Valid => ("valid", None),
                Verdict::Invalid(r) => ("invalid", Some(r.clone())),
                Verdict::NotFound(r) => ("not_found", Some(r.clone())),
                Verdict::Unverifiable(r) => ("unverifiable", Some(r.clone())),
            };
            Some(IntegrityRecord {
                key: key_of(&f.location)?.to_string(),
                location: f.location.clone(),
                kind: match f.kind {
                    FileKind::Digest => "digest".into(),
                    FileKind::Log => "log".into(),
                },
                verdict: verdict.into(),
                reason,
                trail: trail.to_string(),
                chain: f.chain.clone(),
                file_time: f.time,
                checked_at: now,
            })
        })
        .collect();
    let gaps = report
        .gaps
        .iter()
        .map(|g| IntegrityGap {
            trail: trail.to_string(),
            chain: g.chain.clone(),
            from: g.from,
            to: g.to,
            reason: g.reason.clone(),
        })
        .collect();
    (files, gaps)
}

/// What verifying a pass's new digests found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verified {
    /// Digest files checked.
    pub digests: u64,
    /// Files (digests and logs) invalid or deleted.
    pub failures: u64,
}

/// Verifies the chains the `new` digests belong to, from an hour before the oldest of
/// them (so each link to an already verified digest is checked again) to the newest,
/// and keeps the verdicts in the store. `keys`: the operator's keys, else
/// ListPublicKeys with `aws`.
pub async fn verify_new(
    client: &Client,
    aws: &AwsSettings,
    store: &Store,
    bucket: &str,
    listed: &[String],
    new: &[String],
    keys: Option<&KeyRing>,
) -> Result<Verified, SourceError> {
    let mut trails: HashMap<(String, String, String), (i64, i64)> = HashMap::new();
    for k in new.iter().filter_map(|k| parse_digest_key(k)) {
        let span = trails
            .entry((k.account.clone(), k.home_region.clone(), k.trail.clone()))
            .or_insert((k.end, k.end));
        span.0 = span.0.min(k.end);
        span.1 = span.1.max(k.end);
    }
    let mut out = Verified::default();
    for ((account, home_region, name), (first, last)) in trails {
        let (start, end) = (first - 2 * 3600, last);
        let ring = match keys {
            Some(k) => k.clone(),
            None => public_keys(aws, &regions_of(new), start, end).await?,
        };
        let trail = TrailArn {
            home_region,
            account,
            name,
        };
        let arn = format!(
            "arn:aws:cloudtrail:{}:{}:trail/{}",
            trail.home_region, trail.account, trail.name
        );
        let objects = S3Objects::new(client.clone(), tokio::runtime::Handle::current());
        let (bucket, listed) = (bucket.to_string(), listed.to_vec());
        let report = tokio::task::spawn_blocking(move || {
            auditwatch_integrity::verify(
                &objects,
                &Request {
                    bucket: &bucket,
                    digest_keys: listed,
                    trail: &trail,
                    start,
                    end,
                    keys: &ring,
                    max_inflated: 1 << 30,
                },
            )
        })
        .await
        .map_err(|e| SourceError::Remote(format!("verification task: {e}")))?;
        out.digests += report
            .findings
            .iter()
            .filter(|f| f.kind == FileKind::Digest)
            .count() as u64;
        out.failures += report.failures() as u64;
        let (files, gaps) = records(&report, &arn, chrono::Utc::now().timestamp());
        let store = store.clone();
        crate::blocking(move || {
            store
                .catalog()?
                .record_integrity(&arn, start, end, &files, &gaps)
                .map_err(SourceError::from)
        })?;
    }
    Ok(out)
}

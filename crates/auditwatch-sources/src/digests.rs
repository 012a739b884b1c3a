//! CloudTrail digest files in S3, for `auditwatch verify`: the digest keys of a window
//! (found with delimiter listings, organisation trails included), and the objects and
//! their `signature` metadata behind [`auditwatch_integrity::Objects`].

use std::collections::HashMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use chrono::NaiveDate;

use auditwatch_integrity::chain::{Objects, StoredSignature};

use crate::error::{SourceError, chain};

/// Largest object read (compressed): digests are kilobytes, logs a few megabytes.
pub const MAX_OBJECT_BYTES: i64 = 256 << 20;

async fn folders(client: &Client, bucket: &str, prefix: &str) -> Result<Vec<String>, SourceError> {
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .delimiter("/")
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            SourceError::Remote(format!("list s3://{bucket}/{prefix}: {}", chain(&e)))
        })?;
        out.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_string)),
        );
    }
    Ok(out)
}

async fn keys(client: &Client, bucket: &str, prefix: &str) -> Result<Vec<String>, SourceError> {
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            SourceError::Remote(format!("list s3://{bucket}/{prefix}: {}", chain(&e)))
        })?;
        out.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    Ok(out)
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
    for f in folders(client, bucket, &root).await? {
        let leaf = f[root.len()..].trim_end_matches('/');
        if leaf.starts_with("o-") {
            accounts.extend(folders(client, bucket, &f).await?);
        } else {
            accounts.push(f);
        }
    }
    let mut out = Vec::new();
    for account in accounts {
        let digests = format!("{account}CloudTrail-Digest/");
        for region in folders(client, bucket, &digests).await? {
            let mut day = first;
            while day <= last {
                let folder = format!("{region}{}/", day.format("%Y/%m/%d"));
                out.extend(keys(client, bucket, &folder).await?);
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

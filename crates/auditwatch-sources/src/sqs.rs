//! The SQS source: S3 notifications (direct, SNS-wrapped, or CloudTrail's own SNS
//! delivery messages) name the objects to read.
//!
//! The commit protocol of one round:
//! 1. receive up to 10 messages (long polling) and keep them invisible, by extending
//!    their visibility, for as long as the round runs;
//! 2. read every object they name that is not already taken, and stage its events
//!    with its checkpoint;
//! 3. commit (events and checkpoints in one catalog transaction);
//! 4. only then delete the messages whose objects were all committed.
//!
//! A crash before 4 makes SQS deliver the messages again; their objects are then
//! found taken (or their events found stored), so nothing is lost and nothing doubled.
//! An object that cannot be decoded, or does not exist, is retried with its message
//! until the message was received `max_receives` times, then recorded as
//! `quarantined` with the reason and the message deleted; a message that is not a
//! notification at all is recorded the same way.

use std::collections::HashMap;
use std::time::Duration;

use auditwatch_ingest::decode::Outcome;
use auditwatch_ingest::{Body, Committer, IngestOptions, Observer};
use auditwatch_store::{SourceObject, Store};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName,
};
use futures::StreamExt;
use serde::Deserialize;

use crate::error::{SourceError, chain};
use crate::s3::{FetchError, failed, object_location, read_object, taken};
use crate::s3_events::{Notice, ObjectRef, parse};
use crate::{WriteSlot, blocking};

/// What an SQS source reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsSettings {
    /// The queue URL.
    pub queue_url: String,
    /// Seconds a received message stays invisible, renewed while it is processed
    /// (default 120).
    pub visibility_timeout_seconds: Option<i32>,
    /// Long-polling wait, 0–20 seconds (default 20).
    pub wait_seconds: Option<i32>,
    /// Receives after which an undecodable object or message is quarantined (default 3).
    pub max_receives: Option<u32>,
    /// Only objects in these buckets (default: any bucket the credentials can read).
    #[serde(default)]
    pub buckets: Vec<String>,
    /// Objects fetched at once (default 8).
    pub concurrency: Option<usize>,
    /// Verify digest files as their notifications arrive (see the S3 source's).
    #[serde(default)]
    pub verify_digests: bool,
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RoundReport {
    /// Messages received.
    pub messages: u64,
    /// Messages deleted after their objects were committed (or had nothing to read).
    pub deleted: u64,
    /// Objects read.
    pub objects_read: u64,
    /// Objects already taken (a repeated or late notification).
    pub objects_unchanged: u64,
    /// Objects left for a later delivery (fetch failed, or not decodable yet).
    pub objects_retried: u64,
    /// Objects and messages quarantined in this round.
    pub quarantined: u64,
    /// Events newly stored.
    pub events_added: u64,
    /// Digest files read in this round: (bucket, key).
    pub new_digests: Vec<(String, String)>,
}

/// Reads one queue.
#[derive(Debug, Clone)]
pub struct SqsSource {
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    settings: SqsSettings,
}

impl SqsSource {
    /// The S3 client objects are read with.
    pub fn s3(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    /// A source over the queue in `settings`.
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        s3: aws_sdk_s3::Client,
        settings: SqsSettings,
    ) -> Result<Self, SourceError> {
        if settings.queue_url.is_empty() {
            return Err(SourceError::Config("queue_url is empty".into()));
        }
        if let Some(w) = settings.wait_seconds
            && !(0..=20).contains(&w)
        {
            return Err(SourceError::Config(format!(
                "wait_seconds {w} is outside 0-20"
            )));
        }
        Ok(Self { sqs, s3, settings })
    }

    /// The location prefix of this queue's own records (quarantined messages).
    pub fn location_prefix(&self) -> String {
        format!("sqs:{}#", self.settings.queue_url)
    }

    fn visibility(&self) -> i32 {
        self.settings
            .visibility_timeout_seconds
            .unwrap_or(120)
            .max(1)
    }

    fn max_receives(&self) -> u32 {
        self.settings.max_receives.unwrap_or(3).max(1)
    }

    /// Receives one batch of messages and processes it (see the module docs).
    pub async fn round(
        &self,
        store: &Store,
        slot: &WriteSlot,
        opts: &IngestOptions,
        observer: &mut (dyn Observer + Send),
    ) -> Result<RoundReport, SourceError> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.settings.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(self.settings.wait_seconds.unwrap_or(20))
            .visibility_timeout(self.visibility())
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| {
                SourceError::Remote(format!(
                    "receive from {}: {}",
                    self.settings.queue_url,
                    chain(&e)
                ))
            })?;
        let messages: Vec<Message> = received.messages.unwrap_or_default();
        let mut report = RoundReport {
            messages: messages.len() as u64,
            ..Default::default()
        };
        if messages.is_empty() {
            return Ok(report);
        }
        let keeper = self.keep_invisible(&messages);
        let result = self
            .process(&messages, store, slot, opts, observer, &mut report)
            .await;
        keeper.abort();
        let deletable = result?;
        auditwatch_store::failpoint::hit("sqs.before_delete");
        self.delete(&deletable).await?;
        report.deleted = deletable.len() as u64;
        auditwatch_store::failpoint::hit("sqs.after_delete");
        Ok(report)
    }

    /// Renews the visibility of `messages` every third of the timeout until aborted.
    fn keep_invisible(&self, messages: &[Message]) -> tokio::task::JoinHandle<()> {
        let sqs = self.sqs.clone();
        let queue = self.settings.queue_url.clone();
        let timeout = self.visibility();
        let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle().map(str::to_string))
                    .visibility_timeout(timeout)
                    .build()
                    .ok()
            })
            .collect();
        let period = Duration::from_millis((timeout as u64 * 1000 / 3).max(200));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let sent = sqs
                    .change_message_visibility_batch()
                    .queue_url(&queue)
                    .set_entries(Some(entries.clone()))
                    .send()
                    .await;
                if let Err(e) = sent {
                    tracing::warn!(queue = %queue, error = %chain(&e), "could not extend visibility");
                }
            }
        })
    }

    /// Reads the objects of `messages` and commits them. Returns the receipt handles
    /// of the messages that may be deleted.
    async fn process(
        &self,
        messages: &[Message],
        store: &Store,
        slot: &WriteSlot,
        opts: &IngestOptions,
        observer: &mut (dyn Observer + Send),
        report: &mut RoundReport,
    ) -> Result<Vec<String>, SourceError> {
        let max = self.max_receives();
        // Per message: an object of it is unresolved, so it is kept for a later delivery.
        let mut retry = vec![false; messages.len()];
        let mut quarantine: Vec<SourceObject> = Vec::new();
        // Each object once per round, with the messages that name it.
        let mut wanted: HashMap<(String, String), (ObjectRef, Vec<usize>)> = HashMap::new();
        for (i, m) in messages.iter().enumerate() {
            let receives = receive_count(m);
            match parse(m.body().unwrap_or("")) {
                Ok(Notice::Nothing(why)) => tracing::debug!(%why, "message with nothing to read"),
                Ok(Notice::Objects(objects)) => {
                    for o in objects {
                        if !self.settings.buckets.is_empty()
                            && !self.settings.buckets.contains(&o.bucket)
                        {
                            quarantine.push(self.quarantined_message(
                                m,
                                &format!("bucket {} is not in this source's buckets", o.bucket),
                            ));
                            report.quarantined += 1;
                            continue;
                        }
                        wanted
                            .entry((o.bucket.clone(), o.key.clone()))
                            .or_insert_with(|| (o, Vec::new()))
                            .1
                            .push(i);
                    }
                }
                Err(reason) if receives >= max => {
                    quarantine.push(self.quarantined_message(m, &reason));
                    report.quarantined += 1;
                }
                Err(_) => retry[i] = true,
            }
        }
        let _guard = slot.lock().await;
        let writer = blocking(|| store.writer())?;
        let mut committer = Committer::new(writer, opts, observer);
        for q in quarantine {
            committer.record(q);
        }
        let mut todo = Vec::new();
        for (o, users) in wanted.into_values() {
            let location = object_location(&o.bucket, &o.key);
            let known = blocking(|| committer.writer().catalog().source(&location))?;
            let covered = known.is_some_and(|s| match (&o.etag, o.size) {
                (Some(etag), Some(size)) => taken(&s, size, Some(etag)),
                // CloudTrail's delivery messages give neither: its objects never change.
                _ => s.status != "failed" && s.status != "entry",
            });
            if covered {
                report.objects_unchanged += 1;
            } else {
                todo.push((o, users));
            }
        }
        let concurrency = self.settings.concurrency.unwrap_or(8).clamp(1, 64);
        let mut fetched = futures::stream::iter(todo)
            .map(|(o, users)| async move {
                let got = read_object(&self.s3, &o.bucket, &o.key, opts).await;
                (o, users, got)
            })
            .buffer_unordered(concurrency);
        while let Some((o, users, got)) = fetched.next().await {
            let receives = users
                .iter()
                .map(|&i| receive_count(&messages[i]))
                .max()
                .unwrap_or(1);
            let location = object_location(&o.bucket, &o.key);
            // A bad object: the reason, and the version read (when it was read).
            let (reason, version) = match got {
                Ok(unit) => match &unit.body {
                    Body::Document(Outcome::Rejected(reason)) => {
                        let version = unit.checkpoint.as_ref().map(|c| (c.size, c.etag.clone()));
                        (reason.clone(), version)
                    }
                    _ => {
                        report.objects_read += 1;
                        if auditwatch_integrity::digest_keys::parse_digest_key(&o.key).is_some() {
                            report.new_digests.push((o.bucket.clone(), o.key.clone()));
                        }
                        committer.take(unit);
                        blocking(|| committer.commit_if_due())?;
                        continue;
                    }
                },
                Err(FetchError::Missing(reason)) => (format!("no such object: {reason}"), None),
                Err(FetchError::Failed(reason)) => {
                    report.objects_retried += 1;
                    tracing::warn!(object = %location, %reason, "fetch failed; the message will be delivered again");
                    let id = auditwatch_ingest::ObjectId {
                        location,
                        size: o.size.unwrap_or(0),
                        mtime: None,
                        etag: o.etag.clone(),
                    };
                    failed(&mut committer, id, &reason);
                    users.iter().for_each(|&i| retry[i] = true);
                    continue;
                }
            };
            if receives < max {
                report.objects_retried += 1;
                tracing::info!(object = %location, %reason, receives, "not readable yet; retried with its message");
                users.iter().for_each(|&i| retry[i] = true);
                continue;
            }
            report.quarantined += 1;
            let (size, etag) = match version {
                Some((size, etag)) => (Some(size), etag),
                None => (o.size, o.etag.clone()),
            };
            committer.record(SourceObject {
                location,
                size,
                mtime: None,
                etag,
                status: "quarantined".into(),
                records: 0,
                errors: 0,
                reason: Some(format!("after {receives} receives: {reason}")),
            });
            blocking(|| committer.commit_if_due())?;
        }
        drop(fetched);
        auditwatch_store::failpoint::hit("sqs.before_commit");
        let summary = blocking(|| committer.finish())?;
        auditwatch_store::failpoint::hit("sqs.after_commit");
        report.events_added = summary.events_added;
        Ok(messages
            .iter()
            .zip(retry)
            .filter(|(_, retry)| !retry)
            .filter_map(|(m, _)| m.receipt_handle().map(str::to_string))
            .collect())
    }

    fn quarantined_message(&self, m: &Message, reason: &str) -> SourceObject {
        SourceObject {
            location: format!(
                "{}{}",
                self.location_prefix(),
                m.message_id().unwrap_or("?")
            ),
            size: m.body().map(|b| b.len() as u64),
            mtime: None,
            etag: None,
            status: "quarantined".into(),
            records: 0,
            errors: 0,
            reason: Some(format!("after {} receives: {reason}", receive_count(m))),
        }
    }

    async fn delete(&self, handles: &[String]) -> Result<(), SourceError> {
        for chunk in handles.chunks(10) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, h)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(h)
                        .build()
                        .ok()
                })
                .collect();
            let out = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.settings.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    SourceError::Remote(format!(
                        "delete from {}: {}",
                        self.settings.queue_url,
                        chain(&e)
                    ))
                })?;
            // A failed delete only means a repeated delivery, which finds the objects taken.
            for f in out.failed() {
                tracing::warn!(
                    id = f.id(),
                    code = f.code(),
                    "message not deleted; it will come again"
                );
            }
        }
        Ok(())
    }
}

fn receive_count(m: &Message) -> u32 {
    m.attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

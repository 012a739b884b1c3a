//! Live sources of CloudTrail events, run continuously by `serve` or once by
//! `ingest s3://…`: S3 buckets in the CloudTrail layout ([`s3`]), S3 notifications
//! through SQS ([`sqs`]), and the LookupEvents API for accounts without a trail
//! ([`lookup_events`]).
//!
//! Every source feeds the same committer as local ingest, so an object's events and
//! its checkpoint become visible in one catalog transaction; the store drops events
//! it already holds. Sources share one [`WriteSlot`]: one writer at a time.

pub mod config;
pub mod declared;
pub mod digests;
mod error;
pub mod lookup_events;
pub mod runner;
pub mod s3;
pub mod s3_events;
pub mod sqs;

pub use error::{SourceError, chain};

/// Held while a source writes: the lake has one writer at a time, and sources of one
/// process take turns for it (each holds it for one chunk or round).
pub type WriteSlot = std::sync::Arc<tokio::sync::Mutex<()>>;

/// A new slot for a process's sources.
pub fn write_slot() -> WriteSlot {
    std::sync::Arc::new(tokio::sync::Mutex::new(()))
}

/// Runs blocking store work (SQLite, Parquet) from async code without stalling the
/// other tasks of the multi-threaded runtime.
pub(crate) fn blocking<T, E, F>(f: F) -> Result<T, SourceError>
where
    F: FnOnce() -> Result<T, E>,
    E: Into<SourceError>,
{
    tokio::task::block_in_place(f).map_err(Into::into)
}

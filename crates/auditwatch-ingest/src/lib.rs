//! Sources of CloudTrail files and the pipeline that commits them to the store.
//!
//! Data flows one way: [`files`] lists inputs and skips those already taken,
//! [`decode`] turns one input into converted day batches plus diagnostics (pure
//! apart from reading the file), and [`pipeline`] runs decoders on every core and
//! feeds a single [`auditwatch_store::Writer`] that commits records together with
//! the checkpoints of the inputs they came from.

pub mod decode;
pub mod files;
pub mod filter;
pub mod pipeline;
mod report;

pub use filter::EventFilter;
pub use pipeline::{
    Body, Committer, IngestError, IngestOptions, ObjectId, Observer, Unit, ingest_paths,
};
pub use report::{Problem, Summary};

//! Writing the lake: records to Arrow batches ([`convert`]), durable segment files
//! ([`segment`]), the single writer that dedups and commits them ([`writer`], with the
//! eventID index in [`dedup`]), the rewrites that swap segments: [`compact`] and
//! [`retention`] (with what it makes the sessions index forget: [`retired_sessions`]),
//! and the one-time filling of the sessions index from events stored before it
//! existed (`sessions`, `Store::index_sessions`).

pub mod compact;
pub mod convert;
pub mod dedup;
pub mod retention;
pub mod retired_sessions;
pub mod segment;
mod sessions;
pub(crate) mod writer;

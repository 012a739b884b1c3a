//! Writing the lake: records to Arrow batches ([`convert`]), durable segment files
//! ([`segment`]), the single writer that dedups and commits them ([`writer`], with the
//! eventID index in [`dedup`]), and the rewrites that swap segments: [`compact`] and
//! [`retention`].

pub mod compact;
pub mod convert;
pub mod dedup;
pub mod retention;
pub mod segment;
pub(crate) mod writer;

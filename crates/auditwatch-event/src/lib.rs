//! The CloudTrail record model and the file formats it arrives in.
//!
//! Pure: bytes in, records and diagnostics out; no file system, network or async.
//! The flow is [`decode`] (gzip, caps) → [`split`] (record boundaries, shape) →
//! [`Record::parse`] (typed borrowed fields, derived username/account/key). Zip
//! archives go through [`archive::for_each_entry`]; object keys through
//! [`layout::parse_key`]; who is behind a call through [`identity`].

pub mod archive;
pub mod decode;
mod error;
pub mod identity;
pub mod layout;
mod lenient;
mod record;
pub mod split;
pub mod timearg;

pub use error::{FileError, RecordError};
pub use lenient::{Flag, Json, Text};
pub use record::{
    EventKey, Fields, Record, Resource, SessionAttributes, SessionContext, SessionIssuer,
    TlsDetails, UserIdentity, parse_time_us,
};

/// Bounds on what one input may expand to.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest decompressed size of one file or archive entry, in bytes.
    pub max_decompressed: u64,
    /// Most entries one zip archive may have.
    pub max_archive_entries: usize,
    /// Largest total decompressed size of one zip archive, in bytes.
    pub max_archive_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_decompressed: decode::DEFAULT_MAX_DECOMPRESSED,
            max_archive_entries: 100_000,
            max_archive_bytes: 64 << 30,
        }
    }
}

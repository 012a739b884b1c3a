//! Typed errors of the event crate: whole-file failures and per-record problems.

use thiserror::Error;

/// Why a whole file (or archive entry) yields no events.
#[derive(Debug, Error)]
pub enum FileError {
    /// Nothing but white space.
    #[error("empty file")]
    Empty,
    /// The first significant byte cannot start JSON.
    #[error("not JSON: {found} at byte {offset}")]
    NotJson {
        /// Where the offending byte is.
        offset: usize,
        /// The byte, printable.
        found: String,
    },
    /// Valid-looking JSON, but not CloudTrail events.
    #[error("not CloudTrail: {reason}")]
    NotCloudTrail {
        /// What was found instead.
        reason: String,
    },
    /// Decompressed content passed the configured cap.
    #[error("expands to more than {limit} bytes (the decompressed-size cap); refused")]
    TooLarge {
        /// The cap in bytes.
        limit: u64,
    },
    /// The gzip stream is damaged.
    #[error("corrupt gzip data: {0}")]
    Gzip(String),
    /// The zip archive cannot be read or breaks a rule.
    #[error("zip archive: {0}")]
    Zip(String),
    /// Reading the underlying bytes failed.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
}

/// One record that could not be taken, with where it was and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// Position of the record in its document (0-based).
    pub index: usize,
    /// Byte offset in the decoded document.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

impl RecordError {
    /// Makes a record error.
    pub fn new(index: usize, offset: usize, reason: impl Into<String>) -> Self {
        Self {
            index,
            offset,
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "record {} (byte {}): {}",
            self.index, self.offset, self.reason
        )
    }
}

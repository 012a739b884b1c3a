//! The digest file: which log files CloudTrail delivered in an hour, their hashes,
//! and the link to the previous digest.

use serde::{Deserialize, Serialize};

/// One log file a digest vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogFileRef {
    /// Its bucket.
    pub s3_bucket: String,
    /// Its key.
    pub s3_object: String,
    /// Hex SHA-256 of its uncompressed bytes.
    pub hash_value: String,
    /// `SHA-256`.
    pub hash_algorithm: String,
    /// Newest event in it.
    #[serde(default)]
    pub newest_event_time: Option<String>,
    /// Oldest event in it.
    #[serde(default)]
    pub oldest_event_time: Option<String>,
}

/// A digest file's fields (names as CloudTrail writes them).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    /// The account the digest was delivered for.
    pub aws_account_id: String,
    /// Start of the delivery window it covers.
    pub digest_start_time: String,
    /// End of the window, exactly as written (it is part of the signed string).
    pub digest_end_time: String,
    /// Where the digest was delivered: bucket …
    pub digest_s3_bucket: String,
    /// … and key.
    pub digest_s3_object: String,
    /// MD5 (hex) of the DER public key whose private key signed it.
    pub digest_public_key_fingerprint: String,
    /// `SHA256withRSA`.
    pub digest_signature_algorithm: String,
    /// Newest event in the listed logs (null for an empty digest).
    #[serde(default)]
    pub newest_event_time: Option<String>,
    /// Oldest event in the listed logs.
    #[serde(default)]
    pub oldest_event_time: Option<String>,
    /// The previous digest's bucket (null in a starting digest).
    #[serde(default)]
    pub previous_digest_s3_bucket: Option<String>,
    /// The previous digest's key.
    #[serde(default)]
    pub previous_digest_s3_object: Option<String>,
    /// Hex SHA-256 of the previous digest's uncompressed bytes.
    #[serde(default)]
    pub previous_digest_hash_value: Option<String>,
    /// `SHA-256`.
    #[serde(default)]
    pub previous_digest_hash_algorithm: Option<String>,
    /// The previous digest's signature (hex).
    #[serde(default)]
    pub previous_digest_signature: Option<String>,
    /// The log files delivered in the window (empty when there was no activity).
    #[serde(default)]
    pub log_files: Vec<LogFileRef>,
}

impl Digest {
    /// Parses the uncompressed digest.
    pub fn parse(inflated: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(inflated).map_err(|e| format!("not a digest file: {e}"))
    }

    /// The previous digest's location, when this is not a starting digest.
    pub fn previous(&self) -> Option<(&str, &str)> {
        Some((
            self.previous_digest_s3_bucket.as_deref()?,
            self.previous_digest_s3_object.as_deref()?,
        ))
    }

    /// `digestEndTime` in seconds since the epoch.
    pub fn end_unix(&self) -> Option<i64> {
        parse_time(&self.digest_end_time)
    }

    /// `digestStartTime` in seconds since the epoch.
    pub fn start_unix(&self) -> Option<i64> {
        parse_time(&self.digest_start_time)
    }
}

/// An RFC 3339 time in seconds since the epoch.
pub fn parse_time(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp())
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

//! CloudTrail log-file integrity, the way `aws cloudtrail validate-logs` checks it and
//! stricter: digest files, their SHA256withRSA signatures, the hash chain that links
//! each digest to the previous one, and the SHA-256 of every log file they list.
//!
//! Pure: bytes in, verdicts out. The caller lists digest keys and fetches objects
//! (local folder, S3) through [`chain::Objects`]; nothing here touches a disk or a
//! network. Format facts: AWS's "CloudTrail digest file structure" and "Custom
//! implementations of CloudTrail log file integrity validation" pages.

pub mod chain;
pub mod digest;
pub mod digest_keys;
pub mod gzip;
pub mod keys;
pub mod sign;
#[cfg(feature = "testing")]
pub mod testing;

pub use chain::{Finding, Gap, Objects, Report, Verdict, verify};
pub use digest::Digest;
pub use keys::{KeyRing, PublicKey};

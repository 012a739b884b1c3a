//! Detection rules over CloudTrail records. Pure: a record (`serde_json::Value`) in,
//! a match out; no IO.
//!
//! - [`pattern`]: CloudWatch Logs JSON filter patterns (`{ $.eventName = "X" && … }`),
//!   the language of CloudWatch metric filters and of the CIS benchmark controls.
//! - [`rulefile`]: JSON files of such patterns with ids, titles and levels (`hunt`).
//! - [`alarm`]: metric filters, datapoint statistics and CloudWatch alarm evaluation.
//! - [`packs`]: the built-in packs (`builtin:cis`, `builtin:securityhub`).

pub mod alarm;
pub mod packs;
pub mod pattern;
pub mod rulefile;

pub use pattern::{Pattern, PatternError};

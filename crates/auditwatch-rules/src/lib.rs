//! Detection rules over CloudTrail records. Pure: a record (`serde_json::Value`) in,
//! a match out; no IO.
//!
//! - [`pattern`]: CloudWatch Logs JSON filter patterns (`{ $.eventName = "X" && … }`),
//!   the language of CloudWatch metric filters and of the CIS benchmark controls.
//! - [`rulefile`]: JSON files of such patterns with ids, titles and levels (`hunt`).

pub mod pattern;
pub mod rulefile;

pub use pattern::{Pattern, PatternError};

//! Detection rules over CloudTrail records. Pure: a record (`serde_json::Value`) in,
//! a match out; no IO.
//!
//! - [`pattern`]: CloudWatch Logs JSON filter patterns (`{ $.eventName = "X" && … }`),
//!   the language of CloudWatch metric filters and of the CIS benchmark controls.
//! - [`rulefile`]: JSON files of such patterns with ids, titles and levels (`hunt`).
//! - [`alarm`]: metric filters, datapoint statistics and CloudWatch alarm evaluation.
//! - [`packs`]: the built-in packs (`builtin:cis`, `builtin:securityhub`).
//! - [`prefilter`]: necessary conditions of a rule over a few fields, to skip records
//!   it cannot match without evaluating it.
//! - [`sigma`]: Sigma rules and correlations ([`sigma_legacy`] upgrades Sigma 1
//!   aggregations; [`correlate`] judges correlation windows).

pub mod alarm;
pub mod correlate;
pub mod packs;
pub mod pattern;
pub mod prefilter;
pub mod rulefile;
pub mod sigma;
pub mod sigma_legacy;

pub use pattern::{Pattern, PatternError};

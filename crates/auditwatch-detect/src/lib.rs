//! Live detection, between the store and the people who must know:
//!
//! - [`config`]: what to detect and whom to tell (`[detection]`, `[[alarms]]`,
//!   `[[notify]]` in the configuration file), checked into [`Definitions`];
//! - [`detector`]: takes the segments each ingest commit queued, runs every alarm's
//!   metric filter and every alerting rule over their records, and records minute
//!   points and rule alerts (one catalog transaction per step);
//! - [`evaluator`]: CloudWatch alarm evaluation over event time, replaying the
//!   periods late data changed, raising an alert on each transition to ALARM;
//! - [`origin`]: the origin (who is behind a call, through role chains) each record
//!   carries to the rules as `origin` and `originType`, and alerts show;
//! - [`notify`]: the outbox sender: webhook (generic JSON or Slack), SMTP e-mail and
//!   SNS, each message with an idempotency key;
//! - [`library`]: the definitions in force: the configuration file's plus alarms
//!   declared and rules switched on or off on the Rules page (kept in the catalog);
//! - [`service`]: the loop `serve` runs;
//! - [`state`]: what detection keeps on its node (metric points, alarm state and
//!   history, alerts, the outbox), in tables of the node's `catalog.db` this crate
//!   owns, and how it drains the table's detection queue.

pub mod config;
pub mod detector;
pub mod evaluator;
pub mod hunt;
pub mod library;
pub mod notify;
pub mod origin;
pub mod service;
pub mod state;

pub use config::Definitions;
pub use library::Library;

/// Why detection could not run a step.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] auditwatch_store::StoreError),
    /// A configuration value is wrong (names the setting).
    #[error("{0}")]
    Config(String),
    /// A notification could not be delivered.
    #[error("{channel}: {message}")]
    Notify {
        /// The channel.
        channel: String,
        /// Why.
        message: String,
    },
}

impl From<auditwatch_catalog::CatalogError> for DetectError {
    fn from(e: auditwatch_catalog::CatalogError) -> Self {
        DetectError::Store(e.into())
    }
}

//! The table's catalog: the truth about what the events table holds. A Parquet
//! segment the catalog does not list is never read.
//!
//! - [`segments`]: [`Catalog`], the node's SQLite file (WAL, `synchronous=FULL`): the
//!   segments that make up the table, their event keys ([`keys`]), the source objects
//!   already taken, the lake's remote location; one transaction per commit;
//! - [`postgres`]: with `[catalog] url`, the table's part of it (lake location,
//!   segments, event keys, source checkpoints, the detection queue) in PostgreSQL,
//!   shared by several nodes, with a lock per event day and conflict checks;
//! - [`detection`]: live detection's queue of committed segments and what it keeps
//!   between ingests (metric points, alarm state, alerts, the outbox);
//! - [`integrity`]: what digest-file checks found about the log files taken;
//! - [`scope`]: which accounts a caller may see, which every query path takes.
//!
//! Only this crate knows the SQL schemas of the table; it knows nothing of Parquet
//! or of the query engine.

pub mod detection;
pub mod error;
pub mod integrity;
pub mod keys;
pub mod postgres;
mod schema;
pub mod scope;
pub mod segments;

pub use error::{CatalogError, Result};
pub use scope::Scope;
pub use segments::{Catalog, DayGuard, NewSegment, Segment, SourceObject};

//! The table's catalog: the truth about what the events table holds. A Parquet
//! segment the catalog does not list is never read.
//!
//! - [`table`]: the table's part, behind the [`TableCatalog`] trait: the lake's
//!   location, the segments that make up the table and their event keys ([`keys`]),
//!   the source objects already taken, the detection queue; one transaction per
//!   commit, with a lock per event day and conflict checks. Two implementations pass
//!   one conformance suite: [`sqlite`] (the data directory's `catalog.db`, one node)
//!   and [`postgres`] (`[catalog] url`, shared by several nodes);
//! - [`catalog`]: [`Catalog`], one node's view: its own `catalog.db` (WAL,
//!   `synchronous=FULL`) for what the node keeps, and the table's part;
//! - [`integrity`]: what digest-file checks found about the log files taken;
//! - [`scope`]: which accounts a caller may see, which every query path takes.
//!
//! Only this crate knows the SQL schemas of the table; it knows nothing of Parquet
//! or of the query engine.

pub mod catalog;
pub mod error;
pub mod integrity;
pub mod keys;
pub mod postgres;
mod schema;
pub mod scope;
mod sessions;
pub mod sqlite;
pub mod table;
#[cfg(feature = "testing")]
pub mod testing;

pub use catalog::Catalog;
pub use error::{CatalogError, Result};
pub use scope::Scope;
pub use table::{DayGuard, NewSegment, Segment, SourceObject, TableCatalog};

//! The query engine's path (DataFusion): the `events` table provider that prunes
//! segments with the catalog ([`table`]), scoped sessions and read-only SQL within
//! bounds ([`session`], [`limits`], [`statement`], [`runtime`]), the scope barrier
//! ([`scoped`]), bounded and domain functions ([`bounded`], [`udf`]), and the plan
//! rewrite that answers SQL breakdowns from the direct counts ([`counts_rewrite`]).

pub(crate) mod bounded;
pub(crate) mod counts_rewrite;
pub mod limits;
pub mod runtime;
pub(crate) mod scoped;
pub mod session;
pub(crate) mod statement;
pub mod table;
pub mod udf;

//! The store's integration tests, one binary (each links DataFusion and the AWS SDK
//! once): the lake end to end (`lake`, with the scope equivalence) and the shared
//! catalog on a real PostgreSQL (`shared_catalog`), and origins through the sessions
//! index (`origins`).

mod lake;
mod origins;
mod shared_catalog;

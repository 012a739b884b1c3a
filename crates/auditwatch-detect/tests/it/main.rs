//! The detection crate's integration tests, one binary: live detection over a real
//! store, and the detection queue on both kinds of table.

mod detection;
mod queue;

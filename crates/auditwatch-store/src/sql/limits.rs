//! The bounds of one SQL query, which the statement check, the runtime and the
//! session each enforce a part of.

use std::time::Duration;

/// Bounds on one SQL query (docs/SECURITY.md lists them with their defaults).
#[derive(Debug, Clone, Copy)]
pub struct SqlLimits {
    /// Most rows returned; the result says when it was cut.
    pub max_rows: usize,
    /// Longest run time, waiting for a turn included.
    pub timeout: Duration,
    /// Longest SQL text, in bytes.
    pub max_sql_bytes: usize,
    /// Deepest nesting of expressions and subqueries ([`crate::sql::statement`]).
    pub max_depth: usize,
    /// Most tables (FROM and JOIN items, subqueries' included) one query reads.
    pub max_tables: usize,
    /// Most memory the query's operators (joins, sorts, aggregates) may hold.
    pub memory_bytes: usize,
    /// Most bytes of the answer (its columns as Arrow holds them); rows past it are
    /// cut, as by `max_rows`.
    pub max_result_bytes: usize,
    /// Most queries running at once; others wait ([`crate::sql::runtime`]).
    pub concurrency: usize,
}

impl Default for SqlLimits {
    fn default() -> Self {
        Self {
            max_rows: 100_000,
            timeout: Duration::from_secs(300),
            max_sql_bytes: 64 << 10,
            max_depth: 256,
            max_tables: 16,
            memory_bytes: 1 << 30,
            max_result_bytes: 64 << 20,
            concurrency: 4,
        }
    }
}

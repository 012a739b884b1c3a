//! SQL text to one statement, within bounds: its size, how deeply its expressions and
//! subqueries nest, and how many tables it reads (planning a list of N tables costs
//! N² schema copies).
//!
//! A flat chain of 2,000 `OR` terms parses without recursion but becomes a tree 2,000
//! levels deep, and code that walks expression trees recursively (planning,
//! optimizing, even dropping the tree) then runs out of stack and aborts the whole
//! process. So the text is parsed, measured and, when refused, dropped on a thread of
//! its own with a stack sized for the largest text accepted ([`PARSE_STACK_BYTES`]);
//! only a statement within [`SqlLimits::max_depth`] leaves it, and everything after
//! (planning, optimizing, running) handles a tree that shallow on an ordinary stack.

use std::ops::ControlFlow;

use datafusion::execution::SessionState;
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, Query, TableFactor, Visit, Visitor};

use crate::error::{Result, StoreError};
use crate::sql::limits::SqlLimits;

/// The stack of the thread that parses: a tree as deep as [`SqlLimits::max_sql_bytes`]
/// allows (one level per two bytes) is dropped within it.
pub const PARSE_STACK_BYTES: usize = 256 << 20;

/// `sql` as one statement, refused with [`StoreError::Limit`] past `limits`' size or
/// depth. Parses on a thread of its own ([`PARSE_STACK_BYTES`] of stack).
pub async fn parse(state: SessionState, sql: &str, limits: &SqlLimits) -> Result<Statement> {
    if sql.len() > limits.max_sql_bytes {
        return Err(StoreError::Limit(format!(
            "the SQL text is {} bytes; the limit is {} bytes (max_sql_bytes)",
            sql.len(),
            limits.max_sql_bytes
        )));
    }
    let (sql, max_depth, max_tables) = (sql.to_string(), limits.max_depth, limits.max_tables);
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("auditwatch-sql-parse".into())
        .stack_size(PARSE_STACK_BYTES)
        .spawn(move || {
            let _ = tx.send(parse_here(&state, &sql, max_depth, max_tables));
        })
        .map_err(|e| StoreError::Query(format!("cannot start the SQL parser's thread: {e}")))?;
    rx.await
        .map_err(|_| StoreError::Query("the SQL parser's thread stopped".into()))?
}

/// Parses and measures on the current thread (which needs the stack to drop a deep
/// tree when it is refused).
fn parse_here(
    state: &SessionState,
    sql: &str,
    max_depth: usize,
    max_tables: usize,
) -> Result<Statement> {
    let dialect = state.config().options().sql_parser.dialect;
    let statement = state.sql_to_statement(sql, &dialect)?;
    let shape = measure(&statement, max_depth, max_tables);
    if shape.most > max_depth {
        return Err(StoreError::Limit(format!(
            "the SQL nests expressions or subqueries more than {max_depth} levels deep \
             (max_depth); write long OR chains as IN (…) lists"
        )));
    }
    if shape.tables > max_tables {
        return Err(StoreError::Limit(format!(
            "the SQL reads more than {max_tables} tables (FROM and JOIN items, max_tables)"
        )));
    }
    Ok(statement)
}

/// How deeply `statement`'s expressions and queries nest, counted up to one past
/// `max_depth`, and how many tables it reads, up to one past `max_tables` (the walk
/// stops at either, so it never recurses deeper than that).
fn measure(statement: &Statement, max_depth: usize, max_tables: usize) -> Depth {
    let mut depth = Depth {
        now: 0,
        most: 0,
        limit: max_depth,
        tables: 0,
        max_tables,
    };
    let mut s = statement;
    loop {
        match s {
            Statement::Statement(inner) => {
                let _ = inner.visit(&mut depth);
                break;
            }
            Statement::Explain(e) => s = &e.statement,
            Statement::CopyTo(c) => {
                if let datafusion::sql::parser::CopyToSource::Query(q) = &c.source {
                    let _ = q.visit(&mut depth);
                }
                break;
            }
            Statement::CreateExternalTable(_) | Statement::Reset(_) => break,
        }
    }
    depth
}

/// Counts nesting and tables while visiting; stops the walk past either bound.
struct Depth {
    now: usize,
    most: usize,
    limit: usize,
    tables: usize,
    max_tables: usize,
}

impl Depth {
    fn enter(&mut self) -> ControlFlow<()> {
        self.now += 1;
        self.most = self.most.max(self.now);
        if self.now > self.limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

impl Visitor for Depth {
    type Break = ();

    fn pre_visit_expr(&mut self, _: &SqlExpr) -> ControlFlow<()> {
        self.enter()
    }

    fn post_visit_expr(&mut self, _: &SqlExpr) -> ControlFlow<()> {
        self.now -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
        self.enter()
    }

    fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
        self.now -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, _: &TableFactor) -> ControlFlow<()> {
        self.tables += 1;
        if self.tables > self.max_tables {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    fn depth(sql: &str) -> usize {
        let state = SessionContext::new().state();
        let s = state.sql_to_statement(sql, &Default::default()).unwrap();
        measure(&s, 1000, 1000).most
    }

    #[test]
    fn depth_counts_expressions_and_queries() {
        assert_eq!(depth("SELECT 1"), 2);
        assert_eq!(depth("SELECT a FROM t WHERE a = 1 OR a = 2 OR a = 3"), 5);
        assert_eq!(depth("SELECT a FROM t WHERE a IN (1, 2, 3, 4, 5, 6)"), 3);
        assert_eq!(depth("SELECT (SELECT (SELECT 1))"), 6);
        assert_eq!(depth("EXPLAIN SELECT 1 + 2 + 3"), 4);
    }

    #[tokio::test]
    async fn long_chains_and_long_texts_are_refused_naming_the_limit() {
        let state = SessionContext::new().state();
        let limits = SqlLimits::default();
        let chain = (0..20_000)
            .map(|i| format!("a={i}"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let sql = format!("SELECT 1 FROM t WHERE {chain}");
        let e = parse(state.clone(), &sql, &limits).await.unwrap_err();
        assert!(e.to_string().contains("max_sql_bytes"), "{e}");
        let wide = SqlLimits {
            max_sql_bytes: 1 << 20,
            ..limits
        };
        let e = parse(state.clone(), &sql, &wide).await.unwrap_err();
        assert!(e.to_string().contains("max_depth"), "{e}");
        let fine = parse(state.clone(), "SELECT 1 WHERE 1 = 1 OR 2 = 2", &limits).await;
        assert!(fine.is_ok());
        let many = (0..40)
            .map(|i| format!("t t{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let e = parse(state, &format!("SELECT 1 FROM {many}"), &limits)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("max_tables"), "{e}");
    }
}

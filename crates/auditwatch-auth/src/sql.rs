//! The few SQL operations the auth tables need, over either database: the data
//! directory's SQLite catalog, or the shared catalog of several nodes (PostgreSQL,
//! `[catalog] url`), so that users, keys, sessions and the audit log are the same on
//! every node behind a load balancer.
//!
//! Statements are written once, in the SQL both understand, with `?N` placeholders
//! (rewritten to `$N` for PostgreSQL). A parameter PostgreSQL cannot type from its
//! use (`?1 IS NULL`) is cast (`CAST(?1 AS TEXT) IS NULL`), which SQLite accepts too. Values travel as [`Value`]s and rows come back
//! as owned [`Row`]s with typed getters, so no caller sees either driver.

use std::sync::MutexGuard;

use auditwatch_postgres::postgres;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::error::{AuthError, Result};

/// A parameter or a column value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Blob(v.to_vec())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Parameters for a statement: `vals![a, b]`.
macro_rules! vals {
    ($($v:expr),* $(,)?) => { &[$($crate::sql::Value::from($v)),*] };
}
pub(crate) use vals;

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Value::Int(v) if *ty == Type::BOOL => (*v != 0).to_sql(ty, out),
            Value::Int(v) => v.to_sql(ty, out),
            Value::Text(s) => s.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

/// One result row.
#[derive(Debug)]
pub(crate) struct Row(Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> &Value {
        self.0.get(i).unwrap_or(&Value::Null)
    }
    fn wrong(&self, i: usize, want: &str) -> AuthError {
        AuthError::Store(format!(
            "column {i}: expected {want}, found {:?}",
            self.at(i)
        ))
    }
    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.at(i) {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            _ => Err(self.wrong(i, "an integer")),
        }
    }
    pub(crate) fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?.ok_or_else(|| self.wrong(i, "an integer"))
    }
    pub(crate) fn bool(&self, i: usize) -> Result<bool> {
        Ok(self.int(i)? != 0)
    }
    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.at(i) {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            _ => Err(self.wrong(i, "text")),
        }
    }
    pub(crate) fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?.ok_or_else(|| self.wrong(i, "text"))
    }
    pub(crate) fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>> {
        match self.at(i) {
            Value::Null => Ok(None),
            Value::Blob(b) => Ok(Some(b.clone())),
            _ => Err(self.wrong(i, "bytes")),
        }
    }
}

fn lite_row(r: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<Row> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(match r.get_ref(i)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(v) => Value::Int(v),
            ValueRef::Real(v) => Value::Int(v as i64),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        });
    }
    Ok(Row(out))
}

fn pg_row(r: &postgres::Row) -> Result<Row> {
    let mut out = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let ty = col.type_();
        let v = if *ty == Type::INT8 {
            r.try_get::<_, Option<i64>>(i)?.map(Value::Int)
        } else if *ty == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::BOOL {
            r.try_get::<_, Option<bool>>(i)?.map(Value::from)
        } else if *ty == Type::BYTEA {
            r.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob)
        } else {
            r.try_get::<_, Option<String>>(i)?.map(Value::Text)
        };
        out.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(out))
}

/// `?N` placeholders as PostgreSQL's `$N` (the statements hold no `?` otherwise).
fn dollars(sql: &str) -> String {
    sql.replace('?', "$")
}

/// A connection to whichever database holds the auth tables.
pub(crate) enum Conn<'a> {
    Lite(MutexGuard<'a, rusqlite::Connection>),
    Pg(&'a mut postgres::Client),
}

impl Conn<'_> {
    /// Runs a statement; returns the rows it changed.
    pub(crate) fn execute(&mut self, sql: &str, params: &[Value]) -> Result<usize> {
        match self {
            Conn::Lite(c) => Ok(c.execute(sql, rusqlite::params_from_iter(params))?),
            Conn::Pg(c) => {
                let p: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as _).collect();
                Ok(c.execute(&dollars(sql), &p)? as usize)
            }
        }
    }

    /// Runs a query; returns its rows.
    pub(crate) fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        match self {
            Conn::Lite(c) => {
                let mut st = c.prepare(sql)?;
                let n = st.column_count();
                let rows = st.query_map(rusqlite::params_from_iter(params), |r| lite_row(r, n))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            }
            Conn::Pg(c) => {
                let p: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as _).collect();
                c.query(&dollars(sql), &p)?.iter().map(pg_row).collect()
            }
        }
    }

    /// The first row of a query, if any.
    pub(crate) fn row(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.rows(sql, params)?.into_iter().next())
    }

    /// Runs an INSERT into a table with an `id` key; returns the new row's id.
    pub(crate) fn insert(&mut self, sql: &str, params: &[Value]) -> Result<i64> {
        match self {
            Conn::Lite(c) => {
                c.execute(sql, rusqlite::params_from_iter(params))?;
                Ok(c.last_insert_rowid())
            }
            Conn::Pg(_) => self
                .row(&format!("{sql} RETURNING id"), params)?
                .ok_or_else(|| AuthError::Store("INSERT returned no id".into()))?
                .int(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars() {
        assert_eq!(
            dollars("UPDATE t SET a = ?1 WHERE b = ?2 OR c = ?2"),
            "UPDATE t SET a = $1 WHERE b = $2 OR c = $2"
        );
    }
}

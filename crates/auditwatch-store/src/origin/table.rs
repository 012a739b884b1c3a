//! The `sessions` table of SQL: one row per temporary key an ingested call issued,
//! with its key's origin.
//!
//! Columns: `accessKeyId`, `call`, `sessionArn`, `roleAccount` (from the session ARN),
//! `issuedIn` (the account the issuing call was recorded in), `eventID` (of the issuing
//! call), `issuedAt`, `expiresAt`, `sourceIdentity`, `callerType`, `caller` (who asked
//! for the key), `origin`, `originType`.
//!
//! A scoped caller sees the sessions opened in, or issued from, one of their accounts;
//! the issuing call's account, id and caller only when its account is theirs (the call
//! is an event of that account), and the origin's name always — except an unresolved
//! origin's, a session of an account they do not see (docs/SECURITY.md).
//!
//! The rows are built once per query session, however often the query names the table.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

use super::{OriginsSource, arn_account, in_scope, visible_name};

/// The `sessions` table of one query session.
#[derive(Debug)]
pub struct SessionsTable {
    source: Arc<OriginsSource>,
    built: std::sync::OnceLock<RecordBatch>,
}

impl SessionsTable {
    /// The table over `source`'s origins, as its scope sees them.
    pub fn new(source: Arc<OriginsSource>) -> Self {
        Self {
            source,
            built: std::sync::OnceLock::new(),
        }
    }

    /// The rows, built on the first scan.
    fn rows(&self) -> Result<RecordBatch> {
        if let Some(b) = self.built.get() {
            return Ok(b.clone());
        }
        let b = self.batch()?;
        Ok(self.built.get_or_init(|| b).clone())
    }
}

const TEXT: [&str; 8] = [
    "accessKeyId",
    "call",
    "sessionArn",
    "roleAccount",
    "issuedIn",
    "eventID",
    "sourceIdentity",
    "callerType",
];

/// The table's columns.
pub fn sessions_schema() -> SchemaRef {
    let time = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields: Vec<Field> = TEXT
        .iter()
        .map(|n| Field::new(*n, DataType::Utf8, *n != "accessKeyId" && *n != "call"))
        .collect();
    fields.insert(6, Field::new("issuedAt", time(), false));
    fields.insert(7, Field::new("expiresAt", time(), true));
    for n in ["caller", "origin", "originType"] {
        fields.push(Field::new(n, DataType::Utf8, true));
    }
    Arc::new(Schema::new(fields))
}

impl SessionsTable {
    fn batch(&self) -> Result<RecordBatch> {
        let origins = self.source.get().map_err(|e| {
            DataFusionError::Execution(format!("sessions: the index could not be read: {e}"))
        })?;
        let scope = &self.source.scope;
        let mut text: Vec<StringBuilder> = (0..TEXT.len()).map(|_| StringBuilder::new()).collect();
        let (mut issued_at, mut expires_at) = (
            TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            TimestampMicrosecondBuilder::new().with_timezone("UTC"),
        );
        let mut tail: Vec<StringBuilder> = (0..3).map(|_| StringBuilder::new()).collect();
        let mut rows: Vec<_> = origins
            .sessions()
            .filter(|(i, _)| in_scope(scope, i))
            .collect();
        rows.sort_by(|a, b| {
            (a.0.time_us, &a.0.access_key_id).cmp(&(b.0.time_us, &b.0.access_key_id))
        });
        for (i, origin) in rows {
            let recorded_here = i.account.as_deref().is_some_and(|a| scope.allows(a));
            let values = [
                Some(i.access_key_id.as_str()),
                Some(i.call.as_str()),
                i.session_arn.as_deref(),
                i.session_arn.as_deref().and_then(arn_account),
                i.account.as_deref().filter(|_| recorded_here),
                i.event_id.as_deref().filter(|_| recorded_here),
                i.source_identity.as_deref(),
                Some(i.caller.kind()).filter(|_| recorded_here),
            ];
            for (b, v) in text.iter_mut().zip(values) {
                b.append_option(v);
            }
            issued_at.append_value(i.time_us);
            expires_at.append_option(i.expires_us);
            let name = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
            tail[0].append_option(name(i.caller.name()).filter(|_| recorded_here));
            tail[1].append_option(visible_name(origin, scope).map(str::to_string));
            tail[2].append_value(origin.kind());
        }
        let mut columns: Vec<Arc<dyn datafusion::arrow::array::Array>> =
            text.iter_mut().map(|b| Arc::new(b.finish()) as _).collect();
        columns.insert(6, Arc::new(issued_at.finish()));
        columns.insert(7, Arc::new(expires_at.finish()));
        columns.extend(tail.iter_mut().map(|b| Arc::new(b.finish()) as _));
        Ok(RecordBatch::try_new(sessions_schema(), columns)?)
    }
}

#[async_trait]
impl TableProvider for SessionsTable {
    fn schema(&self) -> SchemaRef {
        sessions_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = self.rows()?;
        let table = MemTable::try_new(sessions_schema(), vec![vec![batch]])?;
        table.scan(state, projection, filters, limit).await
    }
}

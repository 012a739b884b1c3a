//! The `origin` filter of a lookup in the direct path: the identity leaves of a row
//! group's candidate rows, each row's principal walked to its origin through the
//! sessions index ([`ByOrigin`]: rows that cannot reach the value are skipped without
//! a walk), kept when the value names that origin as the caller's scope sees it —
//! what `origin_is(userIdentity, value)` answers in the DataFusion plan, from the
//! same columns ([`crate::origin::udf`]).

use datafusion::arrow::array::{Array, AsArray, RecordBatch};

use auditwatch_catalog::scope::Scope;
use auditwatch_event::identity::principal;

use crate::error::Result;
use crate::origin::lazy::ByOrigin;
use crate::origin::udf::{Columns, LEAVES};
use crate::origin::visible_match;

/// "The origin is `by.value()`", for a caller who sees `scope`.
pub(crate) struct OriginTest<'a> {
    pub(crate) by: &'a ByOrigin,
    pub(crate) scope: &'a Scope,
}

impl OriginTest<'_> {
    /// The leaves [`Self::passes`] reads.
    pub(crate) fn leaves(&self) -> &'static [&'static str] {
        &LEAVES
    }

    /// Whether each row of `batch` (the [`Self::leaves`] of some rows) passes.
    pub(crate) fn passes(&self, batch: &RecordBatch) -> Result<Vec<bool>> {
        let Some(identity) = batch
            .column_by_name("userIdentity")
            .and_then(|c| c.as_struct_opt())
        else {
            return Ok(vec![false; batch.num_rows()]);
        };
        let columns = Columns::of(identity)?;
        Ok((0..identity.len())
            .map(|r| {
                let text = columns.at(r);
                identity.is_valid(r)
                    && self.by.may_name(&text)
                    && visible_match(
                        &self.by.origin(&principal(&text)),
                        self.scope,
                        self.by.value(),
                    )
            })
            .collect())
    }
}

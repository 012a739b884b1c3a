//! The `origin` filter of a lookup in the direct path: the identity leaves of a row
//! group's candidate rows, each row's principal walked to its origin through the
//! sessions index ([`ByOrigin`]: rows that cannot reach the value are skipped without
//! a walk), kept when the value names that origin as the caller's scope sees it —
//! what `origin_is(userIdentity, value)` answers in the DataFusion plan, from the
//! same columns ([`crate::origin::udf`]).
//!
//! Most rows of a row group cannot name a rare origin, and testing each row's text
//! cost as much as reading it. So a row group is first sifted: a few leaves are read
//! as dictionaries ([`coded_schema`]), each distinct value is tested once, and only the
//! rows that may pass ([`OriginTest::may_pass`]) are read whole and walked.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, DictionaryArray, RecordBatch, StructArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Fields, Int32Type, Schema, SchemaRef};

use auditwatch_catalog::scope::Scope;
use auditwatch_event::identity::principal;

use crate::error::Result;
use crate::origin::lazy::ByOrigin;
use crate::origin::udf::{Columns, LEAVES};
use crate::origin::visible_match;
use crate::schema::events_schema;

/// The leaves [`OriginTest::may_pass`] reads, as dictionaries ([`coded_schema`]).
pub(crate) const SIFTED: [&str; 8] = [
    "userIdentity.type",
    "userIdentity.arn",
    "userIdentity.accessKeyId",
    "userIdentity.userName",
    "userIdentity.principalId",
    "userIdentity.invokedBy",
    "userIdentity.onBehalfOf",
    "userIdentity.sessionContext.sourceIdentity",
];

/// The events schema with every text leaf of `userIdentity` a dictionary of 32-bit
/// codes, which the Parquet reader fills from the column's dictionary pages without
/// copying a value per row.
pub(crate) fn coded_schema() -> SchemaRef {
    fn coded(t: &DataType) -> DataType {
        match t {
            DataType::Utf8 => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
            DataType::Struct(fields) => DataType::Struct(
                fields
                    .iter()
                    .map(|f| Arc::new(f.as_ref().clone().with_data_type(coded(f.data_type()))))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    let events = events_schema();
    let fields: Fields = events
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "userIdentity" => Arc::new(f.as_ref().clone().with_data_type(coded(f.data_type()))),
            _ => f.clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, events.metadata().clone()))
}

/// A test of one coded leaf: its value's answer for each row, worked out once per
/// distinct value.
struct Coded {
    codes: Option<DictionaryArray<Int32Type>>,
    answers: Vec<bool>,
}

impl Coded {
    /// `test` over leaf `name` of `parent` (false for every row without it).
    fn of(parent: Option<&StructArray>, name: &str, test: impl Fn(&str) -> bool) -> Result<Self> {
        let Some(column) = parent.and_then(|p| p.column_by_name(name)) else {
            return Ok(Self {
                codes: None,
                answers: Vec::new(),
            });
        };
        let codes = match column.as_dictionary_opt::<Int32Type>() {
            Some(d) => d.clone(),
            None => {
                let as_codes =
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
                cast(column, &as_codes)?
                    .as_dictionary::<Int32Type>()
                    .clone()
            }
        };
        let values = match codes.values().data_type() {
            DataType::Utf8 => codes.values().clone(),
            _ => cast(codes.values(), &DataType::Utf8)?,
        };
        let values = values.as_string::<i32>();
        let answers = (0..values.len())
            .map(|i| values.is_valid(i) && test(values.value(i)))
            .collect();
        Ok(Self {
            codes: Some(codes),
            answers,
        })
    }

    /// The answer for row `r` (false where the leaf is null).
    fn at(&self, r: usize) -> bool {
        self.codes.as_ref().is_some_and(|c| {
            let keys = c.keys();
            keys.is_valid(r)
                && usize::try_from(keys.value(r)).is_ok_and(|k| self.answers.get(k) == Some(&true))
        })
    }
}

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

    /// Whether each row of `batch` (the [`SIFTED`] leaves of some rows, read by
    /// [`coded_schema`]) may pass: true for every row [`ByOrigin::may_name`] accepts,
    /// which holds because each of its tests implies one of these. A row may pass when
    /// its key may reach the value; or its ARN, user name, principal id, `invokedBy`
    /// or source identity holds the value, or its `onBehalfOf` holds it or an escape;
    /// or it is an IAM user or root without an ARN.
    pub(crate) fn may_pass(&self, batch: &RecordBatch) -> Result<Vec<bool>> {
        let identity = batch
            .column_by_name("userIdentity")
            .and_then(|c| c.as_struct_opt());
        let context = identity
            .and_then(|i| i.column_by_name("sessionContext"))
            .and_then(|c| c.as_struct_opt());
        let v = self.by.value();
        let holds = |s: &str| s.contains(v);
        let any = [
            Coded::of(identity, "accessKeyId", |k| self.by.reaches(k))?,
            Coded::of(identity, "arn", holds)?,
            Coded::of(identity, "userName", holds)?,
            Coded::of(identity, "principalId", holds)?,
            Coded::of(identity, "invokedBy", holds)?,
            Coded::of(identity, "onBehalfOf", |s| holds(s) || s.contains('\\'))?,
            Coded::of(context, "sourceIdentity", holds)?,
        ];
        let user_or_root = Coded::of(identity, "type", |t| matches!(t, "Root" | "IAMUser"))?;
        let has_arn = Coded::of(identity, "arn", |a| !a.is_empty())?;
        Ok((0..batch.num_rows())
            .map(|r| any.iter().any(|c| c.at(r)) || (user_or_root.at(r) && !has_arn.at(r)))
            .collect())
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

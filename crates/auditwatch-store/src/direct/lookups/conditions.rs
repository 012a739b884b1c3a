//! A lookup's filters as conditions on single columns ([`conditions`]), and how one
//! is tested over a column of a row group ([`test`]); also what the direct counts reuse.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::compute::kernels::comparison::contains;
use datafusion::arrow::compute::{is_not_null, or};

use crate::error::Result;
use crate::lookup::{Attribute, Lookup, read_only};
use crate::sql::udf::{Part, resources_match};
use auditwatch_catalog::scope::Scope;

/// One equality-style condition on a column (a leaf's dotted path in the file).
pub(crate) struct Condition<'a> {
    pub(crate) column: &'static str,
    pub(crate) test: Test<'a>,
}

impl Condition<'_> {
    /// The array the test reads, in a batch of [`Self::column`] read alone: the column,
    /// or for a resource test the whole `resources` list (of that one leaf).
    pub(super) fn array<'b>(&self, batch: &'b RecordBatch) -> &'b ArrayRef {
        match self.test {
            Test::Resource(..) => column(batch, "resources"),
            _ => column(batch, self.column),
        }
    }
}

pub(crate) enum Test<'a> {
    /// Equal to one of these (an empty list matches nothing).
    AnyOf(Vec<&'a str>),
    /// Equal to this boolean.
    Bool(bool),
    /// Not null.
    Present,
    /// Contains this text.
    Contains(&'a str),
    /// A `resources` entry matches (ResourceType, ResourceName).
    Resource(Part, &'a str),
}

/// The conditions of `q`'s filters (not its time range), each on one column, and the
/// scope's accounts (`requestParameters` paths are not among them).
pub(crate) fn conditions<'a>(q: &'a Lookup, scope: &'a Scope) -> Result<Vec<Condition<'a>>> {
    let mut c = Vec::new();
    let any = |column, values: Vec<&'a str>| Condition {
        column,
        test: Test::AnyOf(values),
    };
    for (attr, value) in &q.attributes {
        let column = match attr {
            Attribute::EventId => "eventID",
            Attribute::EventName => "eventName",
            Attribute::Username => "username",
            Attribute::EventSource => "eventSource",
            Attribute::AccessKeyId => "userIdentity.accessKeyId",
            Attribute::ReadOnly => {
                c.push(Condition {
                    column: "readOnly",
                    test: Test::Bool(read_only(value)?),
                });
                continue;
            }
            Attribute::ResourceType | Attribute::ResourceName => {
                let (part, column) = if *attr == Attribute::ResourceType {
                    (Part::Type, "resources.list.element.type")
                } else {
                    (Part::Name, "resources.list.element.ARN")
                };
                c.push(Condition {
                    column,
                    test: Test::Resource(part, value),
                });
                continue;
            }
        };
        c.push(any(column, vec![value.as_str()]));
    }
    if let Scope::Accounts(set) = scope {
        c.push(any("accountId", set.iter().map(String::as_str).collect()));
    }
    let lists: [(&'static str, &'a [String]); 4] = [
        ("accountId", &q.accounts),
        ("awsRegion", &q.regions),
        ("errorCode", &q.error_codes),
        ("sourceIPAddress", &q.source_ips),
    ];
    for (column, values) in lists {
        if !values.is_empty() {
            c.push(any(column, values.iter().map(String::as_str).collect()));
        }
    }
    if q.errors_only {
        c.push(Condition {
            column: "errorCode",
            test: Test::Present,
        });
    }
    if let Some(text) = &q.text {
        c.push(Condition {
            column: "raw",
            test: Test::Contains(text),
        });
    }
    Ok(c)
}

/// The column at a dotted path of a projected batch.
pub(super) fn column<'b>(batch: &'b RecordBatch, path: &str) -> &'b ArrayRef {
    let mut parts = path.split('.');
    let mut col = batch
        .column_by_name(parts.next().unwrap_or_default())
        .expect("projected column");
    for p in parts {
        col = col.as_struct().column_by_name(p).expect("projected field");
    }
    col
}

/// The result of one test over a column (null: fails).
pub(super) fn test(col: &ArrayRef, t: &Test<'_>) -> Result<BooleanArray> {
    Ok(match t {
        Test::AnyOf(values) => {
            let mut m: Option<BooleanArray> = None;
            for v in values {
                let e = eq(col, &StringArray::new_scalar(*v))?;
                m = Some(match m {
                    Some(m) => or(&m, &e)?,
                    None => e,
                });
            }
            m.unwrap_or_else(|| BooleanArray::from(vec![false; col.len()]))
        }
        Test::Bool(b) => eq(col, &BooleanArray::new_scalar(*b))?,
        Test::Present => is_not_null(col)?,
        Test::Contains(text) => contains(col, &StringArray::new_scalar(*text))?,
        Test::Resource(part, value) => resources_match(col.as_ref(), *part, value)?,
    })
}

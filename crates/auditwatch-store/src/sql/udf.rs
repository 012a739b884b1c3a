//! Domain helpers for SQL: `has_resource_type(resources, 'AWS::S3::Bucket')` and
//! `has_resource_name(resources, 'my-bucket')` — the ResourceType and ResourceName
//! lookup attributes of CloudTrail, over the `resources` list of structs.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Which part of a resource is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// `resources[].type`, compared whole.
    Type,
    /// `resources[].ARN`, compared whole or by its last component ([`name_matches`]).
    Name,
}

impl Part {
    /// The field of a resource entry this part reads.
    pub fn field(self) -> &'static str {
        match self {
            Part::Type => "type",
            Part::Name => "ARN",
        }
    }
}

/// For each row of a `resources` list, whether one of its entries matches `value` by
/// `part` (a null list, or an entry without that field, does not). The entries may
/// hold only the field `part` reads (a projection of that one leaf).
pub fn resources_match(list: &dyn Array, part: Part, value: &str) -> Result<BooleanArray> {
    let Some(list) = list.as_list_opt::<i32>() else {
        return exec_err!("`resources` must be a list, not {}", list.data_type());
    };
    let Some(col) = list.values().as_struct().column_by_name(part.field()) else {
        return exec_err!("`resources` has no field {}", part.field());
    };
    // Parquet reads strings as Utf8; DataFusion's scan may hand them over as views.
    let col = match col.data_type() {
        DataType::Utf8 => col.clone(),
        _ => cast(col, &DataType::Utf8)?,
    };
    let strings = col.as_string::<i32>();
    let offsets = list.value_offsets();
    let mut out = BooleanBuilder::with_capacity(list.len());
    for row in 0..list.len() {
        let hit = list.is_valid(row)
            && (offsets[row] as usize..offsets[row + 1] as usize).any(|i| {
                strings.is_valid(i)
                    && match part {
                        Part::Type => strings.value(i) == value,
                        Part::Name => name_matches(strings.value(i), value),
                    }
            });
        out.append_value(hit);
    }
    Ok(out.finish())
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct HasResource {
    part: Part,
    signature: Signature,
}

/// `has_resource_type(resources, value)`.
pub fn has_resource_type() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(HasResource {
        part: Part::Type,
        signature: Signature::any(2, Volatility::Immutable),
    }))
}

/// `has_resource_name(resources, value)`: the ARN, or its last `/` or `:` component.
pub fn has_resource_name() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(HasResource {
        part: Part::Name,
        signature: Signature::any(2, Volatility::Immutable),
    }))
}

/// Whether a resource ARN matches a ResourceName lookup value.
pub fn name_matches(arn: &str, value: &str) -> bool {
    arn == value || arn.rsplit(['/', ':']).next() == Some(value)
}

impl ScalarUDFImpl for HasResource {
    fn name(&self) -> &str {
        match self.part {
            Part::Type => "has_resource_type",
            Part::Name => "has_resource_name",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let value = match &args.args[1] {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(v)))
            | ColumnarValue::Scalar(ScalarValue::Utf8View(Some(v)))
            | ColumnarValue::Scalar(ScalarValue::LargeUtf8(Some(v))) => v.clone(),
            _ => {
                return exec_err!(
                    "{}: the second argument must be a string literal",
                    self.name()
                );
            }
        };
        let list: ArrayRef = match &args.args[0] {
            ColumnarValue::Array(a) => a.clone(),
            ColumnarValue::Scalar(s) => s.to_array_of_size(args.number_rows)?,
        };
        let hits = resources_match(list.as_ref(), self.part, &value)
            .map_err(|e| e.context(self.name()))?;
        Ok(ColumnarValue::Array(Arc::new(hits)))
    }
}

//! Domain helpers for SQL: `has_resource_type(resources, 'AWS::S3::Bucket')` and
//! `has_resource_name(resources, 'my-bucket')` — the ResourceType and ResourceName
//! lookup attributes of CloudTrail, over the `resources` list of structs.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Which part of a resource is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Part {
    Type,
    Name,
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
        let Some(list) = list.as_list_opt::<i32>() else {
            return exec_err!("{}: the first argument must be `resources`", self.name());
        };
        let mut out = BooleanBuilder::with_capacity(list.len());
        let values = list.values().as_struct();
        let field = match self.part {
            Part::Type => "type",
            Part::Name => "ARN",
        };
        let Some(col) = values.column_by_name(field) else {
            return exec_err!("{}: `resources` has no field {field}", self.name());
        };
        let strings: Vec<Option<String>> = (0..col.len())
            .map(|i| {
                ScalarValue::try_from_array(col, i)
                    .ok()
                    .and_then(|v| v.try_as_str().flatten().map(str::to_string))
            })
            .collect();
        let offsets = list.value_offsets();
        for row in 0..list.len() {
            if list.is_null(row) {
                out.append_value(false);
                continue;
            }
            let (a, b) = (offsets[row] as usize, offsets[row + 1] as usize);
            let hit = strings[a..b].iter().flatten().any(|s| match self.part {
                Part::Type => *s == value,
                Part::Name => name_matches(s, &value),
            });
            out.append_value(hit);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

//! Built-in SQL functions whose work one call can blow up, wrapped with a bound.
//!
//! A query's time limit is enforced between batches, and its memory limit covers the
//! operators that reserve memory (joins, sorts, aggregates), but neither reaches
//! inside one call of a scalar function: `lpad('a', 2147483647)` allocates 8 GiB and
//! `levenshtein` of two 200,000-character strings runs for minutes before the next
//! batch. So the functions whose output or work is set by an argument's value rather
//! than by the size of their input are replaced, in every session, by wrappers that
//! look at the arguments of each call (a whole batch) first and refuse, with an error
//! naming the function and the bound, a call that would produce more than
//! [`MAX_OUTPUT_BYTES`] (or, for a value computed from constants alone, which other
//! functions may repeat for every row, [`MAX_VALUE_BYTES`]) or compare more than
//! [`MAX_EDIT_CELLS`] character pairs. The estimates are upper bounds computed from the
//! arguments alone; the wrapped function does the work unchanged. The regular
//! expression functions take their pattern as one value for the call: a pattern per
//! row would compile (and keep) one automaton per distinct value.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type, IntervalUnit, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{FunctionRegistry, SessionState};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};

/// Most bytes one call of a bounded function may produce for one batch.
pub const MAX_OUTPUT_BYTES: u64 = 64 << 20;

/// Most bytes of one value computed from constants alone (a call whose arguments are
/// all single values, folded while planning): other functions may repeat such a value
/// for every row of a batch, so it is bounded like a literal of the SQL text.
pub const MAX_VALUE_BYTES: u64 = 64 << 10;

/// Most character pairs one call of `levenshtein` may compare for one batch.
pub const MAX_EDIT_CELLS: u64 = 100_000_000;

/// How a function's cost is estimated from its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Cost {
    /// `repeat(text, n)`: text × n.
    Repeat,
    /// `lpad`/`rpad(text, n[, fill])`: n characters of up to 4 bytes.
    Pad,
    /// `levenshtein(a, b)`: a × b character pairs.
    Edit,
    /// `replace(text, from, to)`: every position of `text` may become `to`.
    Replace,
    /// `regexp_replace(text, pattern, replacement[, flags])`: every position of `text`
    /// may become the replacement, and its group references copy at most `text` each.
    RegexpReplace,
    /// `array_repeat(element, n)`: n elements.
    ArrayRepeat,
    /// `array_resize(list, n[, value])`: n elements.
    ArrayResize,
    /// `range`/`generate_series(…)` as a list: the number of steps.
    Series,
    /// A regular expression function: its pattern (second argument) must be one value
    /// for the whole call, not one per row (each distinct pattern is compiled, up to
    /// megabytes each).
    Pattern,
}

/// The functions bounded, by name.
const BOUNDED: [(&str, Cost); 14] = [
    ("repeat", Cost::Repeat),
    ("lpad", Cost::Pad),
    ("rpad", Cost::Pad),
    ("levenshtein", Cost::Edit),
    ("replace", Cost::Replace),
    ("regexp_replace", Cost::RegexpReplace),
    ("regexp_like", Cost::Pattern),
    ("regexp_match", Cost::Pattern),
    ("regexp_count", Cost::Pattern),
    ("regexp_instr", Cost::Pattern),
    ("array_repeat", Cost::ArrayRepeat),
    ("array_resize", Cost::ArrayResize),
    ("range", Cost::Series),
    ("generate_series", Cost::Series),
];

/// Replaces `state`'s bounded functions (and their aliases) with their wrappers.
pub fn register(state: &mut SessionState) -> Result<()> {
    for (name, cost) in BOUNDED {
        let Some(inner) = state.scalar_functions().get(name).cloned() else {
            continue;
        };
        let wrapped = ScalarUDF::new_from_impl(Bounded {
            inner: inner.inner().clone(),
            cost,
        });
        state.register_udf(Arc::new(wrapped))?;
    }
    Ok(())
}

/// A function that checks each call's estimated cost before doing it.
#[derive(Debug)]
struct Bounded {
    inner: Arc<dyn ScalarUDFImpl>,
    cost: Cost,
}

impl PartialEq for Bounded {
    fn eq(&self, other: &Self) -> bool {
        self.cost == other.cost && self.inner.name() == other.inner.name()
    }
}

impl Eq for Bounded {}

impl std::hash::Hash for Bounded {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.cost.hash(state);
        self.inner.name().hash(state);
    }
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = self.inner.name();
        let rows = args.number_rows;
        if matches!(self.cost, Cost::Pattern | Cost::RegexpReplace)
            && matches!(args.args.get(1), Some(ColumnarValue::Array(_)))
        {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{name}: the pattern must be one value for every row (a literal), not \
                 taken from a column: each distinct pattern is compiled \
                 (docs/SECURITY.md, bounded functions)"
            )));
        }
        let one_value = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let (estimate, bound, unit, per) = match self.cost {
            Cost::Pattern => (0, 0, "", ""),
            Cost::Edit => (
                edit_cells(&args.args, rows)?,
                MAX_EDIT_CELLS,
                "character pairs",
                "per batch",
            ),
            cost if one_value => (
                output_bytes(cost, &args.args, 1)?,
                MAX_VALUE_BYTES,
                "bytes",
                "for a value computed from constants",
            ),
            cost => (
                output_bytes(cost, &args.args, rows)?,
                MAX_OUTPUT_BYTES,
                "bytes",
                "per batch",
            ),
        };
        if estimate > bound {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{name}: this call could take up to {estimate} {unit} for {rows} rows; the \
                 bound is {bound} {per} (docs/SECURITY.md, bounded functions)"
            )));
        }
        self.inner.invoke_with_args(args)
    }
}

/// Character pairs `levenshtein(a, b)` compares over the batch (bytes bound chars).
fn edit_cells(args: &[ColumnarValue], rows: usize) -> Result<u64> {
    let (a, b) = (text_lengths(&args[0], rows)?, text_lengths(&args[1], rows)?);
    Ok(a.iter()
        .zip(&b)
        .fold(0u64, |sum, (x, y)| sum.saturating_add(x.saturating_mul(*y))))
}

/// The most bytes a call of a `cost` function can produce over the batch.
fn output_bytes(cost: Cost, args: &[ColumnarValue], rows: usize) -> Result<u64> {
    let per_row: Vec<u64> = match cost {
        Cost::Repeat => {
            let (text, n) = (text_lengths(&args[0], rows)?, integers(&args[1], rows)?);
            text.iter()
                .zip(&n)
                .map(|(t, n)| t.saturating_mul(*n))
                .collect()
        }
        Cost::Pad => (integers(&args[1], rows)?)
            .into_iter()
            .map(|n| n.saturating_mul(4))
            .collect(),
        Cost::Replace | Cost::RegexpReplace => {
            let text = text_lengths(&args[0], rows)?;
            let to = text_lengths(&args[2], rows)?;
            let copies = if cost == Cost::RegexpReplace { 2 } else { 1 };
            text.iter()
                .zip(&to)
                .map(|(t, r)| {
                    t.saturating_add(
                        t.saturating_add(1)
                            .saturating_mul(*r)
                            .saturating_mul(copies),
                    )
                })
                .collect()
        }
        Cost::ArrayRepeat => {
            let each = element_bytes(&args[0], rows)?;
            (integers(&args[1], rows)?)
                .into_iter()
                .map(|n| n.saturating_mul(each))
                .collect()
        }
        Cost::ArrayResize => (integers(&args[1], rows)?)
            .into_iter()
            .map(|n| n.saturating_mul(16))
            .collect(),
        Cost::Series => series_steps(args, rows)?
            .into_iter()
            .map(|n| n.saturating_mul(16))
            .collect(),
        Cost::Edit | Cost::Pattern => Vec::new(),
    };
    Ok(per_row.iter().fold(0u64, |sum, n| sum.saturating_add(*n)))
}

/// The byte length of each row's text (0 for null).
fn text_lengths(v: &ColumnarValue, rows: usize) -> Result<Vec<u64>> {
    let array = match v {
        ColumnarValue::Scalar(s) => {
            let len = match s {
                ScalarValue::Utf8(t) | ScalarValue::LargeUtf8(t) | ScalarValue::Utf8View(t) => {
                    t.as_ref().map_or(0, |t| t.len() as u64)
                }
                other => other.to_string().len() as u64,
            };
            return Ok(vec![len; rows.max(1)]);
        }
        ColumnarValue::Array(a) => a,
    };
    let lengths: Vec<u64> = match array.data_type() {
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|t| t.map_or(0, |t| t.len() as u64))
            .collect(),
        DataType::LargeUtf8 => array
            .as_string::<i64>()
            .iter()
            .map(|t| t.map_or(0, |t| t.len() as u64))
            .collect(),
        DataType::Utf8View => array
            .as_string_view()
            .iter()
            .map(|t| t.map_or(0, |t| t.len() as u64))
            .collect(),
        _ => {
            let each = array.get_array_memory_size() as u64 / array.len().max(1) as u64;
            vec![each; array.len()]
        }
    };
    Ok(lengths)
}

/// Each row's integer argument, negatives and nulls as 0.
fn integers(v: &ColumnarValue, rows: usize) -> Result<Vec<u64>> {
    let array = v.to_array(rows.max(1))?;
    let ints = cast(&array, &DataType::Int64)?;
    Ok(ints
        .as_primitive::<Int64Type>()
        .iter()
        .map(|n| n.map_or(0, |n| n.max(0) as u64))
        .collect())
}

/// The bytes of one element of `array_repeat`'s first argument (the largest row's).
fn element_bytes(v: &ColumnarValue, rows: usize) -> Result<u64> {
    let array: ArrayRef = v.to_array(rows.max(1))?;
    let each = array.get_array_memory_size() as u64 / array.len().max(1) as u64;
    let text = text_lengths(v, rows)?.into_iter().max().unwrap_or(0);
    Ok(each.max(text).max(8))
}

/// How many values each row's `range`/`generate_series` list would hold: the span
/// over the step, with times in nanoseconds and a month counted as 28 days (so the
/// estimate is never below the truth).
fn series_steps(args: &[ColumnarValue], rows: usize) -> Result<Vec<u64>> {
    let ns = |v: &ColumnarValue| -> Result<Vec<Option<i128>>> {
        let array = v.to_array(rows.max(1))?;
        let scale: i128 = match array.data_type() {
            DataType::Date32 => 86_400_000_000_000,
            DataType::Date64 => 1_000_000,
            _ => 1,
        };
        let as_int = match array.data_type() {
            DataType::Timestamp(_, _) => cast(
                &cast(&array, &DataType::Timestamp(TimeUnit::Nanosecond, None))?,
                &DataType::Int64,
            )?,
            _ => cast(&array, &DataType::Int64)?,
        };
        Ok(as_int
            .as_primitive::<Int64Type>()
            .iter()
            .map(|x| x.map(|x| i128::from(x) * scale))
            .collect())
    };
    let step = |v: &ColumnarValue| -> Result<Vec<Option<i128>>> {
        let array = v.to_array(rows.max(1))?;
        if let DataType::Interval(_) = array.data_type() {
            let mdn = cast(&array, &DataType::Interval(IntervalUnit::MonthDayNano))?;
            let mdn = mdn.as_primitive::<datafusion::arrow::datatypes::IntervalMonthDayNanoType>();
            return Ok(mdn
                .iter()
                .map(|i| {
                    i.map(|i| {
                        let day = 86_400_000_000_000i128;
                        i128::from(i.months) * 28 * day
                            + i128::from(i.days) * day
                            + i128::from(i.nanoseconds)
                    })
                })
                .collect());
        }
        ns(v)
    };
    let n = rows.max(1);
    let (start, stop, by) = match args {
        [stop] => (vec![Some(0); n], ns(stop)?, vec![Some(1); n]),
        [start, stop] => (ns(start)?, ns(stop)?, vec![Some(1); n]),
        [start, stop, by, ..] => (ns(start)?, ns(stop)?, step(by)?),
        [] => return Ok(vec![0; n]),
    };
    Ok((0..start.len())
        .map(|i| match (start[i], stop[i], by[i]) {
            (Some(a), Some(b), Some(s)) if s != 0 => {
                let steps = (b - a) / s;
                u64::try_from(steps.max(0) + 1).unwrap_or(u64::MAX)
            }
            _ => 0,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    async fn run(ctx: &SessionContext, sql: &str) -> std::result::Result<(), String> {
        let df = ctx.sql(sql).await.map_err(|e| e.to_string())?;
        df.collect().await.map(|_| ()).map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn calls_that_would_blow_up_are_refused_and_small_ones_run() {
        let mut state = SessionContext::new().state();
        register(&mut state).unwrap();
        let ctx = SessionContext::new_with_state(state);
        for refused in [
            "SELECT lpad('a', 2147483647)",
            "SELECT rpad('a', 2147483647, 'xy')",
            "SELECT repeat('ab', 1000000000)",
            "SELECT levenshtein(repeat('a', 200000), repeat('b', 200000))",
            "SELECT replace(repeat('a', 100000), 'a', repeat('b', 10000))",
            "SELECT regexp_replace(repeat('a', 100000), 'a', repeat('b', 10000), 'g')",
            "SELECT array_repeat('x', 1000000000)",
            "SELECT list_repeat(1, 1000000000)",
            "SELECT range(1, 1000000000000)",
            "SELECT generate_series(1, 1000000000000)",
            "SELECT array_resize([1], 1000000000)",
            "SELECT range(TIMESTAMP '1970-01-01', TIMESTAMP '2100-01-01', INTERVAL '1 second')",
            "SELECT generate_series(TIMESTAMP '1970-01-01', TIMESTAMP '2200-01-01', INTERVAL '1 minute')",
            // A value from constants alone that other functions would repeat per row.
            "SELECT length(concat(x, repeat('x', 268435456))) FROM (VALUES ('a'), ('b')) t(x)",
            "SELECT repeat('ab', 40000)",
            // Patterns taken from a column.
            "SELECT regexp_like(x, concat(x, '\\w{200}')) FROM (VALUES ('a'), ('b')) t(x)",
            "SELECT regexp_replace(x, x, 'y') FROM (VALUES ('a'), ('b')) t(x)",
        ] {
            let e = match run(&ctx, refused).await {
                Ok(()) => panic!("{refused} ran"),
                Err(e) => e,
            };
            assert!(
                e.contains("the bound is") || e.contains("must be one value"),
                "{refused}: {e}"
            );
        }
        for fine in [
            "SELECT lpad('a', 20), rpad('a', 20, '-'), repeat('ab', 3)",
            "SELECT levenshtein('kitten', 'sitting')",
            "SELECT replace('a-b-c', '-', '+'), regexp_replace('a1b2', '[0-9]', 'x', 'g')",
            "SELECT array_repeat('x', 3), array_resize([1, 2], 5), range(10), generate_series(1, 3)",
            "SELECT generate_series(DATE '2026-01-01', DATE '2026-12-31', INTERVAL '1 month')",
            "SELECT regexp_like(x, '^a'), regexp_count(x, 'b'), repeat(x, 100) FROM (VALUES ('a'), ('b')) t(x)",
        ] {
            run(&ctx, fine)
                .await
                .unwrap_or_else(|e| panic!("{fine}: {e}"));
        }
    }
}

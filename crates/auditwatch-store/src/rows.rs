//! Arrow rows → JSON objects, for the command line and the APIs.

use datafusion::arrow::array::RecordBatch;
use serde_json::{Map, Value};

use crate::error::{Result, StoreError};

/// Converts batches to JSON objects, one per row; nulls are left out.
pub fn to_json(batches: &[RecordBatch]) -> Result<Vec<Map<String, Value>>> {
    let mut buf = Vec::new();
    {
        let mut w = arrow_json::LineDelimitedWriter::new(&mut buf);
        for b in batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    buf.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice::<Map<String, Value>>(l)
                .map_err(|e| StoreError::Query(format!("row to JSON: {e}")))
        })
        .collect()
}

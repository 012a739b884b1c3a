//! Printing rows as a table, JSON, NDJSON or CSV.

use std::io::{IsTerminal, Write};

use serde_json::{Map, Value};

/// Output formats of `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns (default on a terminal).
    Table,
    /// One JSON array (default otherwise).
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Comma-separated values with a header.
    Csv,
}

impl Format {
    /// The format to use when none was asked for.
    pub fn default_for_stdout() -> Self {
        if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Json
        }
    }
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Writes rows with the given columns (in order) in `format`.
pub fn write_rows(
    out: &mut dyn Write,
    format: Format,
    columns: &[String],
    rows: &[Map<String, Value>],
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, rows)?;
            writeln!(out)
        }
        Format::Ndjson => {
            for r in rows {
                serde_json::to_writer(&mut *out, r)?;
                writeln!(out)?;
            }
            Ok(())
        }
        Format::Csv => {
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(out);
            w.write_record(columns)?;
            for r in rows {
                w.write_record(columns.iter().map(|c| cell(r.get(c))))?;
            }
            w.flush()
        }
        Format::Table => {
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
            t.set_header(columns);
            for r in rows {
                t.add_row(columns.iter().map(|c| {
                    let mut s = cell(r.get(c));
                    if s.chars().count() > 80 {
                        s = s.chars().take(77).collect::<String>() + "...";
                    }
                    s
                }));
            }
            writeln!(out, "{t}")
        }
    }
}

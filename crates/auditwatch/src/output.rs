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

/// Prints a line to standard output (`say!("…", …)`). A reader that went away (`| head`)
/// is not an error: the output is simply not wanted any more.
macro_rules! say {
    ($($t:tt)*) => { $crate::output::say_line(format_args!($($t)*)) };
}
pub(crate) use say;

/// See [`say!`].
pub fn say_line(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    match writeln!(std::io::stdout().lock(), "{args}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// Whether `e` comes from writing to a reader that went away.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes rows with the given columns (in order) in `format`.
pub fn write_rows(
    out: &mut dyn Write,
    format: Format,
    columns: &[String],
    rows: &[Map<String, Value>],
) -> std::io::Result<()> {
    let mut w = RowWriter::new(out, format, columns)?;
    for r in rows {
        w.write(r)?;
    }
    w.finish()
}

/// Writes rows one at a time, so a long listing never has to be held whole (a table
/// is the exception: its column widths need every row, and it is for terminals).
pub struct RowWriter<'a> {
    sink: Sink<'a>,
    columns: Vec<String>,
    written: usize,
}

enum Sink<'a> {
    Json(&'a mut dyn Write),
    Ndjson(&'a mut dyn Write),
    Csv(csv::Writer<&'a mut dyn Write>),
    Table(&'a mut dyn Write, comfy_table::Table),
}

impl<'a> RowWriter<'a> {
    /// Starts the output (a CSV header, a JSON array's bracket).
    pub fn new(
        out: &'a mut dyn Write,
        format: Format,
        columns: &[String],
    ) -> std::io::Result<Self> {
        let sink = match format {
            Format::Json => {
                write!(out, "[")?;
                Sink::Json(out)
            }
            Format::Ndjson => Sink::Ndjson(out),
            Format::Csv => {
                let mut c = csv::WriterBuilder::new()
                    .terminator(csv::Terminator::Any(b'\n'))
                    .from_writer(out);
                c.write_record(columns)?;
                Sink::Csv(c)
            }
            Format::Table => {
                let mut t = comfy_table::Table::new();
                t.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
                t.set_header(columns);
                Sink::Table(out, t)
            }
        };
        Ok(Self {
            sink,
            columns: columns.to_vec(),
            written: 0,
        })
    }

    /// Writes one row.
    pub fn write(&mut self, row: &Map<String, Value>) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::Json(out) => {
                // As `to_writer_pretty` lays out an array: each element indented.
                let text = serde_json::to_string_pretty(row)?;
                let sep = if self.written == 0 { "\n" } else { ",\n" };
                write!(out, "{sep}  {}", text.replace('\n', "\n  "))?;
            }
            Sink::Ndjson(out) => {
                serde_json::to_writer(&mut **out, row)?;
                writeln!(out)?;
            }
            Sink::Csv(c) => c.write_record(self.columns.iter().map(|k| cell(row.get(k))))?,
            Sink::Table(_, t) => {
                t.add_row(self.columns.iter().map(|c| {
                    let mut s = cell(row.get(c));
                    if s.chars().count() > 80 {
                        s = s.chars().take(77).collect::<String>() + "...";
                    }
                    s
                }));
            }
        }
        self.written += 1;
        Ok(())
    }

    /// Rows written so far.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Ends the output.
    pub fn finish(self) -> std::io::Result<()> {
        match self.sink {
            Sink::Json(out) if self.written == 0 => writeln!(out, "]"),
            Sink::Json(out) => writeln!(out, "\n]"),
            Sink::Ndjson(_) => Ok(()),
            Sink::Csv(mut c) => c.flush(),
            Sink::Table(out, t) => writeln!(out, "{t}"),
        }
    }
}

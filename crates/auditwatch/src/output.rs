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
    /// Lines built by [`RowWriter::write_cells`] and not yet written (a megabyte at
    /// a time).
    line: Vec<u8>,
}

/// A cell of [`RowWriter::write_cells`]: text (`None` is null).
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    /// Text.
    Text(Option<&'a str>),
    /// Text with its JSON already written ([`json_text`]), for a cell repeated on
    /// many rows.
    Known(Option<&'a str>, &'a [u8]),
    /// Text known to need no JSON escapes ([`needs_escape`] said so of it, or of
    /// all the text it was taken from).
    Clean(Option<&'a str>),
}

impl<'a> Cell<'a> {
    fn text(&self) -> Option<&'a str> {
        match self {
            Cell::Text(t) | Cell::Known(t, _) | Cell::Clean(t) => *t,
        }
    }
}

/// A text's JSON (quoted and escaped, or `null`), for [`Cell::Known`].
pub fn json_text(s: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    match s {
        Some(s) => json_string(&mut out, s),
        None => out.extend_from_slice(b"null"),
    }
    out
}

/// Appends `s` as a JSON string, escaped as `serde_json` escapes it.
fn json_string(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Whether a JSON string needs escapes: a control character, `"` or `\`. Eight
/// bytes at a time (a byte below 0x20, or equal to one of the two, shows as a set
/// high bit of the classic "has a zero byte" test).
pub fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES * 0x80;
    let below = |v: u64, n: u64| v.wrapping_sub(ONES * n) & !v & HIGH;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        let v = u64::from_ne_bytes(b);
        if below(v, 0x20) | below(v ^ (ONES * 0x22), 1) | below(v ^ (ONES * 0x5c), 1) != 0 {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
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
            line: Vec::new(),
        })
    }

    /// Writes one row.
    pub fn write(&mut self, row: &Map<String, Value>) -> std::io::Result<()> {
        self.flush_lines()?;
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

    /// Writes one row of text cells, the same as [`RowWriter::write`] would, without
    /// building a JSON map: the path for long listings. `row` holds the columns in
    /// the order of their names (a JSON map's order).
    pub fn write_cells(&mut self, row: &[(&str, Cell<'_>)]) -> std::io::Result<()> {
        debug_assert!(row.windows(2).all(|w| w[0].0 < w[1].0), "keys in order");
        let (out, pretty) = match &mut self.sink {
            Sink::Json(out) => (out, true),
            Sink::Ndjson(out) => (out, false),
            _ => {
                let map = row
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.text().map_or(Value::Null, Value::from)))
                    .collect();
                return self.write(&map);
            }
        };
        let line = &mut self.line;
        if pretty {
            line.extend_from_slice(if self.written == 0 {
                b"\n  {"
            } else {
                b",\n  {"
            });
        } else {
            line.push(b'{');
        }
        for (n, (k, v)) in row.iter().enumerate() {
            if n > 0 {
                line.push(b',');
            }
            if pretty {
                line.extend_from_slice(b"\n    ");
            }
            json_string(line, k);
            line.extend_from_slice(if pretty { b": " } else { b":" });
            match v {
                Cell::Text(Some(v)) => json_string(line, v),
                Cell::Text(None) | Cell::Clean(None) => line.extend_from_slice(b"null"),
                Cell::Clean(Some(v)) => {
                    line.push(b'"');
                    line.extend_from_slice(v.as_bytes());
                    line.push(b'"');
                }
                Cell::Known(_, json) => line.extend_from_slice(json),
            }
        }
        line.extend_from_slice(if pretty { b"\n  }" } else { b"}\n" });
        if line.len() >= 1 << 20 {
            out.write_all(line)?;
            line.clear();
        }
        self.written += 1;
        Ok(())
    }

    /// Writes out the lines [`RowWriter::write_cells`] holds.
    fn flush_lines(&mut self) -> std::io::Result<()> {
        if let (Sink::Json(out) | Sink::Ndjson(out), false) = (&mut self.sink, self.line.is_empty())
        {
            out.write_all(&self.line)?;
            self.line.clear();
        }
        Ok(())
    }

    /// Rows written so far.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Ends the output.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.flush_lines()?;
        match self.sink {
            Sink::Json(out) if self.written == 0 => writeln!(out, "]"),
            Sink::Json(out) => writeln!(out, "\n]"),
            Sink::Ndjson(_) => Ok(()),
            Sink::Csv(mut c) => c.flush(),
            Sink::Table(out, t) => writeln!(out, "{t}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_found_anywhere() {
        for s in [
            "",
            "plain text of some length",
            "é😀 unicode is not escaped",
        ] {
            assert!(!needs_escape(s.as_bytes()), "{s}");
        }
        for bad in ['"', '\\', '\n', '\u{1f}', '\0'] {
            for at in 0..20 {
                let s = format!("{}{bad}{}", "x".repeat(at), "y".repeat(20 - at));
                assert!(needs_escape(s.as_bytes()), "{s:?}");
            }
        }
        assert!(!needs_escape(&[
            0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xff, 0x7e
        ]));
    }

    #[test]
    fn text_rows_are_written_as_json_maps_are() {
        let columns: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let tricky = "q\"uote\\ \n\t\u{1} é";
        let known = json_text(Some(tricky));
        let rows: [[(&str, Cell<'_>); 3]; 3] = [
            [
                ("a", Cell::Text(Some("x"))),
                ("b", Cell::Text(None)),
                ("c", Cell::Known(Some(tricky), &known)),
            ],
            [
                ("a", Cell::Text(Some(""))),
                ("b", Cell::Text(Some("=1+2"))),
                ("c", Cell::Known(None, b"null")),
            ],
            [
                ("a", Cell::Text(None)),
                ("b", Cell::Text(None)),
                ("c", Cell::Text(Some(tricky))),
            ],
        ];
        let rows = [
            rows[0],
            rows[1],
            rows[2],
            [
                ("a", Cell::Clean(Some("clean"))),
                ("b", Cell::Clean(None)),
                ("c", Cell::Text(None)),
            ],
        ];
        for format in [Format::Json, Format::Ndjson, Format::Csv, Format::Table] {
            let render = |fast: bool| {
                let mut out = Vec::new();
                let mut w = RowWriter::new(&mut out, format, &columns).unwrap();
                for r in &rows {
                    if fast {
                        w.write_cells(r).unwrap();
                    } else {
                        let map = r
                            .iter()
                            .map(|(k, v)| {
                                (k.to_string(), v.text().map_or(Value::Null, Value::from))
                            })
                            .collect();
                        w.write(&map).unwrap();
                    }
                }
                w.finish().unwrap();
                String::from_utf8(out).unwrap()
            };
            assert_eq!(render(true), render(false), "{format:?}");
        }
    }
}

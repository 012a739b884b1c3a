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
    /// How JSON rows are laid out (JSON formats).
    layout: Option<JsonLayout>,
}

/// The layout of a JSON row (a pretty array's element, or an NDJSON line), with
/// its keys written once.
#[derive(Debug, Clone)]
pub struct JsonLayout {
    pretty: bool,
    /// Columns in the order of their names (a JSON map's order): the column's
    /// index, and the text before its value.
    keys: Vec<(usize, Vec<u8>)>,
}

impl JsonLayout {
    fn new(pretty: bool, columns: &[String]) -> Self {
        let mut keys: Vec<(usize, &String)> = columns.iter().enumerate().collect();
        keys.sort_by(|a, b| a.1.cmp(b.1));
        let keys = keys
            .into_iter()
            .enumerate()
            .map(|(n, (c, name))| {
                let mut before = Vec::new();
                if n > 0 {
                    before.push(b',');
                }
                if pretty {
                    before.extend_from_slice(b"\n    ");
                }
                json_string(&mut before, name);
                before.extend_from_slice(if pretty { b": " } else { b":" });
                (c, before)
            })
            .collect();
        Self { pretty, keys }
    }

    /// Appends a row (`cells` in the order of the writer's columns), laid out as
    /// [`RowWriter::write`] lays out a map of them. `first`: the output's first row.
    pub fn row(&self, line: &mut Vec<u8>, first: bool, cells: &[Cell<'_>]) {
        let pretty = self.pretty;
        if pretty {
            line.extend_from_slice(if first { b"\n  {" } else { b",\n  {" });
        } else {
            line.push(b'{');
        }
        for (c, before) in &self.keys {
            line.extend_from_slice(before);
            match cells.get(*c).copied().unwrap_or(Cell::Text(None)) {
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
    }
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
            layout: match format {
                Format::Json => Some(JsonLayout::new(true, columns)),
                Format::Ndjson => Some(JsonLayout::new(false, columns)),
                _ => None,
            },
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

    /// Writes one row of text cells (in the order of the columns), the same as
    /// [`RowWriter::write`] would, without building a JSON map: the path for long
    /// listings.
    pub fn write_cells(&mut self, cells: &[Cell<'_>]) -> std::io::Result<()> {
        let Some(layout) = self.layout.take() else {
            let map = self
                .columns
                .iter()
                .zip(cells)
                .map(|(k, v)| (k.clone(), v.text().map_or(Value::Null, Value::from)))
                .collect();
            return self.write(&map);
        };
        layout.row(&mut self.line, self.written == 0, cells);
        self.layout = Some(layout);
        self.written += 1;
        self.flush_lines_over(1 << 20)
    }

    /// How [`RowWriter::write_cells`] lays rows out, for a caller that lays them out
    /// itself (on several threads); `None` when the format is not JSON.
    pub fn json_layout(&self) -> Option<JsonLayout> {
        self.layout.clone()
    }

    /// Writes `rows` rows laid out by [`RowWriter::json_layout`] (the first of them
    /// as the first row when none was written before).
    pub fn write_laid_out(&mut self, text: &[u8], rows: usize) -> std::io::Result<()> {
        self.line.extend_from_slice(text);
        self.written += rows;
        self.flush_lines_over(1 << 20)
    }

    fn flush_lines_over(&mut self, size: usize) -> std::io::Result<()> {
        if self.line.len() >= size {
            self.flush_lines()?;
        }
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
        // Not in the order of their names: a JSON map's keys are.
        let columns: Vec<String> = ["c", "a", "b"].map(String::from).to_vec();
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
                        let cells: Vec<Cell<'_>> = columns
                            .iter()
                            .map(|c| r.iter().find(|(k, _)| k == c).unwrap().1)
                            .collect();
                        w.write_cells(&cells).unwrap();
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

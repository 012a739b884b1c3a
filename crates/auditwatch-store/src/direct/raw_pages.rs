//! Single records of `raw` read out of their Parquet pages, decompressing each page
//! only as far as the last record wanted from it.
//!
//! A lookup's page of results needs up to a few dozen records scattered over row
//! groups, each in a `raw` page of up to 256 KiB. The Parquet reader decompresses and
//! decodes a whole page, into an Arrow array, to hand out one value of it; a profile of
//! the three-attribute search showed that decompression as half of the request. Here
//! the page's bytes are read where the offset index says they are, its header is read
//! (Thrift compact protocol — the parquet crate keeps its page-header decoder private,
//! so [`Head::parse`] reads the few fields needed and skips the rest), and the zstd
//! stream is decompressed only up to the last wanted record, walking the PLAIN values
//! (a 4-byte length, then the bytes). On average that is half of each page, with no
//! array built around it.
//!
//! Only the layout the writer produces is read: a required top-level column, data pages
//! PLAIN-encoded, zstd or uncompressed, with an offset index. Anything else returns
//! `None` and the caller uses the Parquet reader.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use datafusion::parquet::basic::Compression;
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::ParquetMetaData;
use zstd::zstd_safe::DCtx;

use crate::error::{IoContext, Result, StoreError};

/// Thrift page types (parquet.thrift `PageType`).
const DATA_PAGE: i32 = 0;
const DATA_PAGE_V2: i32 = 3;
/// `Encoding.PLAIN`.
const PLAIN: i32 = 0;

/// Reads records of one column, reusing one zstd context for every page.
pub struct RawReader {
    dctx: DCtx<'static>,
}

impl RawReader {
    /// A reader with a fresh decompression context.
    pub fn new() -> Self {
        Self {
            dctx: DCtx::create(),
        }
    }

    /// The values at `rows` (sorted, distinct, positions in row group `rg`) of leaf
    /// column `leaf` of `file` (at `path`, for messages), or `None` when the column's
    /// layout is not one this reads (see the module docs).
    pub fn read(
        &mut self,
        file: &File,
        path: &Path,
        meta: &ParquetMetaData,
        rg: usize,
        leaf: usize,
        rows: &[usize],
    ) -> Result<Option<Vec<String>>> {
        let chunk = meta.row_group(rg).column(leaf);
        let descr = chunk.column_descr();
        if descr.max_def_level() != 0 || descr.max_rep_level() != 0 {
            return Ok(None);
        }
        let compressed = match chunk.compression() {
            Compression::ZSTD(_) => true,
            Compression::UNCOMPRESSED => false,
            _ => return Ok(None),
        };
        let Some(pages) = meta
            .offset_index()
            .and_then(|i| i.get(rg))
            .and_then(|r| r.get(leaf))
            .map(|o| o.page_locations())
        else {
            return Ok(None);
        };
        let total = meta.row_group(rg).num_rows();
        let mut out = Vec::with_capacity(rows.len());
        let mut i = 0;
        while i < rows.len() {
            let row = rows[i] as i64;
            if row >= total {
                return Err(bad(
                    path,
                    &format!("row group {rg}"),
                    &format!("no row {row} in {total}"),
                ));
            }
            let p = pages
                .partition_point(|l| l.first_row_index <= row)
                .checked_sub(1)
                .ok_or_else(|| {
                    bad(
                        path,
                        &format!("row group {rg}"),
                        "offset index starts after row 0",
                    )
                })?;
            let first = pages[p].first_row_index;
            let end = pages.get(p + 1).map_or(total, |l| l.first_row_index);
            let n = rows[i..].partition_point(|&r| (r as i64) < end);
            let wanted: Vec<usize> = rows[i..i + n]
                .iter()
                .map(|&r| (r as i64 - first) as usize)
                .collect();
            let loc = &pages[p];
            let mut bytes = vec![0u8; usize::try_from(loc.compressed_page_size).unwrap_or(0)];
            let offset = u64::try_from(loc.offset).unwrap_or(0);
            file.read_exact_at(&mut bytes, offset).io("read", path)?;
            match self.page(&bytes, compressed, &wanted) {
                Ok(Some(values)) => out.extend(values),
                Ok(None) => return Ok(None),
                Err(why) => return Err(bad(path, &format!("raw page at byte {offset}"), &why)),
            }
            i += n;
        }
        Ok(Some(out))
    }

    /// The values at `wanted` (sorted positions in the page) of one page's bytes
    /// (header included); `None` for a page of another kind or encoding.
    fn page(
        &mut self,
        bytes: &[u8],
        compressed: bool,
        wanted: &[usize],
    ) -> std::result::Result<Option<Vec<String>>, String> {
        let head = Head::parse(bytes).ok_or("unreadable page header")?;
        if head.len + head.compressed != bytes.len() {
            return Err(format!(
                "page header says {} bytes after a {}-byte header, the offset index {}",
                head.compressed,
                head.len,
                bytes.len()
            ));
        }
        if !matches!(head.kind, DATA_PAGE | DATA_PAGE_V2) || head.encoding != Some(PLAIN) {
            return Ok(None);
        }
        let body = bytes
            .get(head.len + head.levels..)
            .ok_or("levels longer than the page")?;
        let mut values: Box<dyn Read + '_> = if compressed && head.values_compressed {
            Box::new(zstd::stream::read::Decoder::with_context(body, &mut self.dctx).single_frame())
        } else {
            Box::new(body)
        };
        let limit = head.uncompressed as u64;
        let mut at = 0;
        let mut out = Vec::with_capacity(wanted.len());
        let length = |r: &mut dyn Read| -> std::result::Result<u64, String> {
            let mut n = [0u8; 4];
            r.read_exact(&mut n)
                .map_err(|e| format!("value length: {e}"))?;
            let n = u64::from(u32::from_le_bytes(n));
            if n > limit {
                return Err(format!("a value of {n} bytes in a page of {limit}"));
            }
            Ok(n)
        };
        for &w in wanted {
            while at < w {
                let n = length(&mut values)?;
                let skipped = io::copy(&mut (&mut values).take(n), &mut io::sink())
                    .map_err(|e| format!("value {at}: {e}"))?;
                if skipped != n {
                    return Err(format!("value {at} cut short"));
                }
                at += 1;
            }
            let n = length(&mut values)?;
            let mut v = Vec::with_capacity(n as usize);
            (&mut values)
                .take(n)
                .read_to_end(&mut v)
                .map_err(|e| format!("value {at}: {e}"))?;
            if v.len() as u64 != n {
                return Err(format!("value {at} cut short"));
            }
            out.push(String::from_utf8(v).map_err(|_| format!("value {at} is not UTF-8"))?);
            at += 1;
        }
        Ok(Some(out))
    }
}

impl Default for RawReader {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for RawReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawReader")
    }
}

/// An error reading `path` at `at` (a row group, a page) for `why`.
fn bad(path: &Path, at: &str, why: &str) -> StoreError {
    StoreError::Parquet {
        path: path.to_path_buf(),
        source: ParquetError::General(format!("{at}: {why}")),
    }
}

/// What a data page header says that reading its values needs.
#[derive(Debug, Default, PartialEq)]
struct Head {
    /// Bytes of the header itself.
    len: usize,
    kind: i32,
    uncompressed: usize,
    compressed: usize,
    encoding: Option<i32>,
    /// Bytes of uncompressed repetition and definition levels before the values (v2).
    levels: usize,
    /// Whether the values are compressed (v2 may say they are not).
    values_compressed: bool,
}

impl Head {
    /// Reads a `PageHeader` from the start of `bytes`.
    fn parse(bytes: &[u8]) -> Option<Self> {
        let mut t = Thrift { buf: bytes, at: 0 };
        let mut h = Head {
            values_compressed: true,
            ..Head::default()
        };
        t.fields(0, &mut |t, id, ty| {
            match (id, ty) {
                (1, I32) => h.kind = t.i32()?,
                (2, I32) => h.uncompressed = usize::try_from(t.i32()?).ok()?,
                (3, I32) => h.compressed = usize::try_from(t.i32()?).ok()?,
                // DataPageHeader: encoding is field 2.
                (5, STRUCT) => t.fields(1, &mut |t, id, ty| {
                    match (id, ty) {
                        (2, I32) => h.encoding = Some(t.i32()?),
                        _ => t.skip(ty, 2)?,
                    }
                    Some(())
                })?,
                // DataPageHeaderV2: encoding 4, level lengths 5 and 6, is_compressed 7.
                (8, STRUCT) => t.fields(1, &mut |t, id, ty| {
                    match (id, ty) {
                        (4, I32) => h.encoding = Some(t.i32()?),
                        (5 | 6, I32) => h.levels += usize::try_from(t.i32()?).ok()?,
                        (7, TRUE) => h.values_compressed = true,
                        (7, FALSE) => h.values_compressed = false,
                        _ => t.skip(ty, 2)?,
                    }
                    Some(())
                })?,
                _ => t.skip(ty, 1)?,
            }
            Some(())
        })?;
        h.len = t.at;
        Some(h)
    }
}

/// Thrift compact-protocol type ids.
const TRUE: u8 = 1;
const FALSE: u8 = 2;
const I32: u8 = 5;
const STRUCT: u8 = 12;
/// Deepest nesting skipped (page headers nest three deep).
const MAX_DEPTH: u8 = 16;

/// A cursor over Thrift compact-protocol bytes. Every read returns `None` past the end
/// or on a malformed value.
struct Thrift<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Thrift<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn zigzag(&mut self) -> Option<i64> {
        let v = self.varint()?;
        Some((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn i32(&mut self) -> Option<i32> {
        i32::try_from(self.zigzag()?).ok()
    }

    fn advance(&mut self, n: u64) -> Option<()> {
        let end = self.at.checked_add(usize::try_from(n).ok()?)?;
        (end <= self.buf.len()).then(|| self.at = end)
    }

    /// The fields of a struct up to its stop byte: `each(self, field id, type)` must
    /// consume the field's value.
    fn fields(
        &mut self,
        depth: u8,
        each: &mut dyn FnMut(&mut Self, i16, u8) -> Option<()>,
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut last: i16 = 0;
        loop {
            let b = self.byte()?;
            if b == 0 {
                return Some(());
            }
            let (delta, ty) = (b >> 4, b & 0x0f);
            let id = if delta == 0 {
                i16::try_from(self.zigzag()?).ok()?
            } else {
                last.checked_add(i16::from(delta))?
            };
            last = id;
            each(self, id, ty)?;
        }
    }

    /// Skips a struct field's value of type `ty` (booleans carry theirs in the type).
    fn skip(&mut self, ty: u8, depth: u8) -> Option<()> {
        match ty {
            TRUE | FALSE => Some(()),
            _ => self.skip_value(ty, depth),
        }
    }

    /// Skips one value of type `ty` where booleans take a byte (list, set and map
    /// elements).
    fn skip_value(&mut self, ty: u8, depth: u8) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match ty {
            TRUE | FALSE | 3 => self.advance(1),
            4..=6 => self.varint().map(drop),
            7 => self.advance(8),
            8 => {
                let n = self.varint()?;
                self.advance(n)
            }
            9 | 10 => {
                let b = self.byte()?;
                let n = match b >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                for _ in 0..n {
                    self.skip_value(b & 0x0f, depth + 1)?;
                }
                Some(())
            }
            11 => {
                let n = self.varint()?;
                if n > 0 {
                    let kv = self.byte()?;
                    for _ in 0..n {
                        self.skip_value(kv >> 4, depth + 1)?;
                        self.skip_value(kv & 0x0f, depth + 1)?;
                    }
                }
                Some(())
            }
            STRUCT => self.fields(depth + 1, &mut |t, _, ty| t.skip(ty, depth + 1)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use datafusion::arrow::array::{AsArray, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::arrow::arrow_reader::{
        ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
    };
    use datafusion::parquet::basic::{Encoding, ZstdLevel};
    use datafusion::parquet::file::metadata::PageIndexPolicy;
    use datafusion::parquet::file::properties::{WriterProperties, WriterVersion};

    /// Values of many lengths (some empty, some longer than a small page), so pages
    /// hold few or many of them.
    fn values(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                let len = (i * 7919) % 3000;
                format!("{i}:{}", "x{\"a\":1}".repeat(len / 8))
            })
            .collect()
    }

    fn write(path: &Path, values: &[String], props: WriterProperties) {
        let schema = Arc::new(Schema::new(vec![Field::new("raw", DataType::Utf8, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(values.to_vec()))],
        )
        .unwrap();
        let mut w = ArrowWriter::try_new(File::create(path).unwrap(), schema, Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    fn meta(file: &File) -> ArrowReaderMetadata {
        let options = ArrowReaderOptions::new().with_offset_index_policy(PageIndexPolicy::Required);
        ArrowReaderMetadata::load(file, options).unwrap()
    }

    fn props(version: WriterVersion, compression: Compression) -> WriterProperties {
        WriterProperties::builder()
            .set_writer_version(version)
            .set_compression(compression)
            .set_dictionary_enabled(false)
            // Version 2 would pick DELTA_BYTE_ARRAY; the segment writer writes PLAIN.
            .set_encoding(Encoding::PLAIN)
            .set_data_page_size_limit(16 * 1024)
            .set_write_batch_size(8)
            .set_max_row_group_row_count(Some(700))
            .build()
    }

    #[test]
    fn every_row_reads_as_the_parquet_reader_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let all = values(2000);
        for (version, compression) in [
            (
                WriterVersion::PARQUET_1_0,
                Compression::ZSTD(ZstdLevel::try_new(3).unwrap()),
            ),
            (
                WriterVersion::PARQUET_2_0,
                Compression::ZSTD(ZstdLevel::try_new(3).unwrap()),
            ),
            (WriterVersion::PARQUET_1_0, Compression::UNCOMPRESSED),
        ] {
            let path = dir
                .path()
                .join(format!("{version:?}-{compression:?}.parquet"));
            write(&path, &all, props(version, compression));
            let file = File::open(&path).unwrap();
            let m = meta(&file);
            let pages = m.metadata().offset_index().unwrap()[0][0]
                .page_locations()
                .len();
            assert!(pages > 10, "{pages} pages: the test wants many");
            let mut reader = RawReader::new();
            let mut start = 0;
            for rg in 0..m.metadata().num_row_groups() {
                let n = m.metadata().row_group(rg).num_rows() as usize;
                // Every row, then every third, then the last alone.
                let every: Vec<usize> = (0..n).collect();
                let third: Vec<usize> = (0..n).step_by(3).collect();
                for rows in [every, third, vec![n - 1]] {
                    let got = reader
                        .read(&file, &path, m.metadata(), rg, 0, &rows)
                        .unwrap()
                        .expect("the writer's layout");
                    let want: Vec<&String> = rows.iter().map(|r| &all[start + r]).collect();
                    assert_eq!(
                        got.iter().collect::<Vec<_>>(),
                        want,
                        "{version:?} {compression:?} rg {rg}"
                    );
                }
                start += n;
            }
            // And the Parquet reader agrees on the file.
            let b = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
                .unwrap()
                .with_batch_size(5000)
                .build()
                .unwrap()
                .next()
                .unwrap()
                .unwrap();
            assert_eq!(b.column(0).as_string::<i32>().value(1999), all[1999]);
        }
    }

    #[test]
    fn segments_as_the_writer_writes_them_are_read_here() {
        let dir = tempfile::tempdir().unwrap();
        let raws: Vec<String> = (0..3000)
            .map(|i| {
                format!(
                    r#"{{"eventVersion":"1.08","eventTime":"2024-05-01T00:{:02}:{:02}Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","eventID":"id-{i}","recipientAccountId":"111122223333","requestParameters":{{"key":"{}"}}}}"#,
                    i / 60 % 60,
                    i % 60,
                    "k".repeat(i % 700)
                )
            })
            .collect();
        let rows: Vec<crate::write::convert::EventRow<'_>> = raws
            .iter()
            .map(|r| crate::write::convert::EventRow {
                record: auditwatch_event::Record::parse(r).unwrap(),
                account_from_key: None,
                source: "test",
            })
            .collect();
        let refs: Vec<&crate::write::convert::EventRow<'_>> = rows.iter().collect();
        let batch = crate::write::convert::to_batch(&refs);
        let day = 19844; // 2024-05-01
        let seg = crate::write::segment::write(dir.path(), day, &batch).unwrap();
        let path = dir.path().join(&seg.path);
        let file = File::open(&path).unwrap();
        let m = meta(&file);
        let leaf = m
            .metadata()
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.path().string() == "raw")
            .unwrap();
        let wanted: Vec<usize> = (0..3000).step_by(37).collect();
        let got = RawReader::new()
            .read(&file, &path, m.metadata(), 0, leaf, &wanted)
            .unwrap()
            .expect("segments are read without the Parquet reader");
        let stored = batch.column_by_name("raw").unwrap().as_string::<i32>();
        for (g, w) in got.iter().zip(&wanted) {
            assert_eq!(g, stored.value(*w));
        }
    }

    #[test]
    fn other_layouts_are_left_to_the_parquet_reader() {
        let dir = tempfile::tempdir().unwrap();
        let repeated: Vec<String> = (0..500).map(|i| format!("v{}", i % 4)).collect();
        for (name, compression, why) in [
            ("snappy", Compression::SNAPPY, "snappy is not read here"),
            (
                "zstd",
                Compression::ZSTD(ZstdLevel::default()),
                "dictionary-encoded pages are not read here",
            ),
        ] {
            let path = dir.path().join(format!("dict-{name}.parquet"));
            let p = WriterProperties::builder()
                .set_dictionary_enabled(true)
                .set_compression(compression)
                .build();
            write(&path, &repeated, p);
            let file = File::open(&path).unwrap();
            let m = meta(&file);
            let got = RawReader::new()
                .read(&file, &path, m.metadata(), 0, 0, &[3])
                .unwrap();
            assert!(got.is_none(), "{why}");
        }
    }

    #[test]
    fn a_damaged_page_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.parquet");
        let all = values(300);
        write(
            &path,
            &all,
            props(
                WriterVersion::PARQUET_1_0,
                Compression::ZSTD(ZstdLevel::default()),
            ),
        );
        let file = File::open(&path).unwrap();
        let m = meta(&file);
        let loc = m.metadata().offset_index().unwrap()[0][0].page_locations()[1].clone();
        // Overwrite the middle of the page's compressed bytes.
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let mid = loc.offset as u64 + loc.compressed_page_size as u64 / 2;
        f.write_all_at(&[0xff; 64], mid).unwrap();
        let first = loc.first_row_index as usize;
        let err = RawReader::new()
            .read(&file, &path, m.metadata(), 0, 0, &[first + 1])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("d.parquet") && err.contains("raw page"),
            "{err}"
        );
    }

    #[test]
    fn headers_parse_and_bad_ones_do_not() {
        // type 0, sizes 10 and 7, DataPageHeader{num_values 2, encoding PLAIN(0),
        // def RLE(3), rep RLE(3), statistics{max binary "ab"}}.
        let mut b = vec![0x15, 0x00, 0x15, 20, 0x15, 14, 0x2c];
        b.extend([
            0x15, 4, 0x15, 0, 0x15, 6, 0x15, 6, 0x1c, 0x18, 2, b'a', b'b', 0, 0, 0,
        ]);
        let h = Head::parse(&b).unwrap();
        assert_eq!(
            h,
            Head {
                len: b.len(),
                kind: 0,
                uncompressed: 10,
                compressed: 7,
                encoding: Some(0),
                levels: 0,
                values_compressed: true,
            }
        );
        for cut in 0..b.len() {
            assert!(Head::parse(&b[..cut]).is_none(), "cut at {cut}");
        }
        // Nesting past the limit.
        let deep: Vec<u8> = std::iter::repeat_n(0x1c, 40).collect();
        assert!(Head::parse(&deep).is_none());
    }
}

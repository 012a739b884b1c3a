//! The token index each segment file carries: where in the segment the tokens people
//! paste into a free-text search occur — IPv4 addresses and AWS access-key or
//! principal ids — so that such a search reads only the rows holding them instead of
//! decompressing every record's text (docs/PERFORMANCE.md, "Free text").
//!
//! # Exact by construction
//!
//! A free-text search is a substring search over each record's text (`raw`). An index
//! of whole tokens could only answer "this token", which is another answer (a search
//! for `10.0.0.1` also finds `10.0.0.15`). So the index keeps *every* maximal run of a
//! class of bytes, and answers only searches made of that class's bytes:
//!
//! - **dotted**: runs of `[0-9.]`, at least 7 bytes, holding a digit and a dot;
//! - **upper**: runs of `[A-Z0-9]`, at least 20 bytes.
//!
//! An occurrence of a text made only of a class's bytes lies inside one maximal run of
//! that class, at least as long as the text and holding what it holds. When the text
//! meets the class's condition ([`searchable`]), that run meets it too and was
//! indexed; and every indexed run containing the text is an occurrence of it. The rows
//! holding the text are therefore exactly the rows of the indexed runs that contain it
//! ([`TokenIndex::rows_containing`]). A search of any other shape reads the text.
//!
//! # In the file
//!
//! The index is written after the last row group, before the Parquet footer, whose
//! key-value metadata points at it ([`KEY`] = `offset:length:size`). Other Parquet
//! readers (DuckDB, Spark) skip bytes no footer entry names. Segments written before
//! the index existed have none and are searched by their text.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use datafusion::parquet::file::metadata::{FileMetaData, KeyValue};

use crate::storage::sized_lru::SizedLru;

/// The footer key naming where the index is: `offset:length:size` (bytes in the file,
/// compressed, and uncompressed).
pub const KEY: &str = "auditwatch.tokens";

/// The first bytes of an index, with its format version.
const MAGIC: &[u8; 5] = b"AWTK1";

/// Largest uncompressed index read back (a segment of 400 k events needs ~10 MB).
const MAX_SIZE: u64 = 1 << 30;

/// A class of tokens the index keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Runs of `[0-9.]` holding a digit and a dot, at least 7 bytes (IPv4 addresses).
    Dotted,
    /// Runs of `[A-Z0-9]`, at least 20 bytes (access-key and principal ids).
    Upper,
}

impl Class {
    const ALL: [Class; 2] = [Class::Dotted, Class::Upper];

    fn min_len(self) -> usize {
        match self {
            Class::Dotted => 7,
            Class::Upper => 20,
        }
    }

    fn has(self, b: u8) -> bool {
        BYTES[b as usize] & self.bit() != 0
    }

    fn bit(self) -> u8 {
        match self {
            Class::Dotted => 1,
            Class::Upper => 2,
        }
    }

    /// Whether a run of this class's bytes is indexed.
    fn accepts(self, run: &[u8]) -> bool {
        run.len() >= self.min_len()
            && match self {
                Class::Dotted => run.contains(&b'.') && run.iter().any(u8::is_ascii_digit),
                Class::Upper => true,
            }
    }

    fn slot(self) -> usize {
        match self {
            Class::Dotted => 0,
            Class::Upper => 1,
        }
    }
}

/// Which classes each byte belongs to (bit 1: dotted, bit 2: upper).
const BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_digit() || c == b'.' {
            t[b] |= 1;
        }
        if c.is_ascii_uppercase() || c.is_ascii_digit() {
            t[b] |= 2;
        }
        b += 1;
    }
    t
};

/// The class whose index answers a search for `text` exactly, if any.
pub fn searchable(text: &str) -> Option<Class> {
    let b = text.as_bytes();
    Class::ALL
        .into_iter()
        .find(|c| b.iter().all(|&x| c.has(x)) && c.accepts(b))
}

/// Calls `found` with every indexed run of `class` in `text`.
///
/// Not every byte is looked at: a dotted run holds a `.`, so the dots are found first
/// (SIMD `memchr`) and the run read around each; an upper run of at least `min_len`
/// bytes covers every `min_len`-th byte, so only those are tested first and the run
/// read around one of the class.
fn runs(class: Class, text: &[u8], mut found: impl FnMut(&[u8])) {
    // The run of `class` around `at` (a byte of the class): (start, end).
    let around = |at: usize| {
        let mut start = at;
        while start > 0 && class.has(text[start - 1]) {
            start -= 1;
        }
        let mut end = at + 1;
        while end < text.len() && class.has(text[end]) {
            end += 1;
        }
        (start, end)
    };
    match class {
        Class::Dotted => {
            let mut done = 0;
            for dot in memchr::memchr_iter(b'.', text) {
                if dot < done {
                    continue; // inside the run just read
                }
                let (start, end) = around(dot);
                if class.accepts(&text[start..end]) {
                    found(&text[start..end]);
                }
                done = end;
            }
        }
        Class::Upper => {
            let m = class.min_len();
            let mut i = m - 1;
            while i < text.len() {
                if !class.has(text[i]) {
                    i += m;
                    continue;
                }
                let (start, end) = around(i);
                if class.accepts(&text[start..end]) {
                    found(&text[start..end]);
                }
                // The first probe past the run's end (which is not of the class).
                i = (end + 1) / m * m + (m - 1);
            }
        }
    }
}

/// Builds the index of one segment, a record at a time in row order.
#[derive(Debug, Default)]
pub struct Builder {
    rows: u32,
    tokens: [HashMap<Box<[u8]>, Vec<u32>>; 2],
}

impl Builder {
    /// Indexes the text of the next row.
    pub fn add(&mut self, text: &str) {
        let row = self.rows;
        for class in Class::ALL {
            let map = &mut self.tokens[class.slot()];
            runs(class, text.as_bytes(), |run| match map.get_mut(run) {
                Some(rows) => {
                    if rows.last() != Some(&row) {
                        rows.push(row);
                    }
                }
                None => {
                    map.insert(run.into(), vec![row]);
                }
            });
        }
        self.rows += 1;
    }

    /// The index, compressed, ready to be written into the file, and its size
    /// uncompressed.
    pub fn finish(self) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.rows.to_le_bytes());
        for map in self.tokens {
            let mut tokens: Vec<(Box<[u8]>, Vec<u32>)> = map.into_iter().collect();
            tokens.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            out.extend_from_slice(&(tokens.len() as u32).to_le_bytes());
            for (token, _) in &tokens {
                put_varint(&mut out, token.len() as u64);
                out.extend_from_slice(token);
            }
            for (_, rows) in &tokens {
                put_varint(&mut out, rows.len() as u64);
                let mut last = 0;
                for &r in rows {
                    put_varint(&mut out, u64::from(r - last));
                    last = r;
                }
            }
        }
        let compressed = zstd::bulk::compress(&out, 3).expect("compressing into memory");
        (compressed, out.len())
    }
}

/// The footer entry pointing at an index of `compressed` bytes at `offset`.
pub fn footer_entry(offset: usize, compressed: usize, size: usize) -> KeyValue {
    KeyValue::new(KEY.to_string(), format!("{offset}:{compressed}:{size}"))
}

/// Where a file's index is (offset, compressed length, uncompressed size), if it has
/// one. An entry that does not parse is an error.
pub fn locate(meta: &FileMetaData) -> Result<Option<(u64, usize, usize)>, String> {
    let Some(value) = meta
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|e| e.key == KEY))
        .and_then(|e| e.value.as_deref())
    else {
        return Ok(None);
    };
    let bad = || format!("footer entry {KEY} = {value:?} is not offset:length:size");
    let mut parts = value.split(':').map(str::parse::<u64>);
    let (Some(Ok(offset)), Some(Ok(len)), Some(Ok(size)), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if size > MAX_SIZE || len > MAX_SIZE {
        return Err(format!(
            "token index of {size} bytes is over the {MAX_SIZE} cap"
        ));
    }
    Ok(Some((offset, len as usize, size as usize)))
}

/// Reads the index of the Parquet file `file` whose footer is `meta`, if it has one.
pub fn read(file: &File, meta: &FileMetaData) -> Result<Option<TokenIndex>, String> {
    let Some((offset, len, size)) = locate(meta)? else {
        return Ok(None);
    };
    let mut bytes = vec![0; len];
    file.read_exact_at(&mut bytes, offset)
        .map_err(|e| format!("reading the token index: {e}"))?;
    parse_for(meta, &bytes, size).map(Some)
}

/// The index in `compressed` (as [`locate`] found it), checked to cover every row of
/// the file whose footer is `meta`.
pub fn parse_for(
    meta: &FileMetaData,
    compressed: &[u8],
    size: usize,
) -> Result<TokenIndex, String> {
    let index = TokenIndex::parse(compressed, size)?;
    if i64::from(index.rows) != meta.num_rows() {
        return Err(format!(
            "token index covers {} rows of {}",
            index.rows,
            meta.num_rows()
        ));
    }
    Ok(index)
}

/// Token indexes of segment files by their path in the lake, kept between searches
/// (files never change once written); past the byte limit the least recently used
/// are dropped. A file without an index is remembered as such.
#[derive(Debug)]
pub struct TokenCache {
    by_path: SizedLru<String, Option<Arc<TokenIndex>>>,
}

/// Default bound of [`TokenCache`]: 256 MiB, the indexes of ~50 M events.
pub const DEFAULT_TOKEN_CACHE_BYTES: usize = 256 << 20;

impl Default for TokenCache {
    fn default() -> Self {
        Self::with_limit(DEFAULT_TOKEN_CACHE_BYTES)
    }
}

impl TokenCache {
    /// An empty cache keeping at most `limit` bytes (always the newest entry).
    pub fn with_limit(limit: usize) -> Self {
        Self {
            by_path: SizedLru::new(limit),
        }
    }

    /// The cached index of the segment at `path`: `None` when not cached, `Some(None)`
    /// when the file has none.
    pub fn get(&self, path: &str) -> Option<Option<Arc<TokenIndex>>> {
        self.by_path.get(path)
    }

    /// Caches what the segment at `path` holds, then drops the least recently used
    /// entries while over the limit.
    pub fn insert(&self, path: &str, index: Option<Arc<TokenIndex>>) {
        let bytes = index.as_ref().map_or(0, |i| i.memory_size()) + path.len() + 64;
        self.by_path.insert(path.to_string(), index, bytes);
    }

    /// Forgets the indexes of segments whose path fails `live` (compacted away).
    pub fn retain(&self, live: impl Fn(&str) -> bool) {
        self.by_path.retain(|p| live(p));
    }

    /// Indexes cached, and their bytes in memory.
    pub fn cached(&self) -> (usize, usize) {
        self.by_path.cached()
    }
}

/// The token index of one segment, as read back.
#[derive(Debug)]
pub struct TokenIndex {
    rows: u32,
    classes: [ClassIndex; 2],
}

/// One class's tokens, joined by `\n` so a search runs over them in one pass, and their
/// rows.
#[derive(Debug, Default)]
struct ClassIndex {
    text: Vec<u8>,
    /// Where each token starts in `text`.
    starts: Vec<u32>,
    /// Each token's rows, delta-encoded varints.
    postings: Vec<u8>,
    /// Where each token's rows start in `postings` (one more entry: the end).
    posting_starts: Vec<u32>,
}

impl TokenIndex {
    /// Reads an index from the compressed bytes the file holds.
    pub fn parse(compressed: &[u8], size: usize) -> Result<Self, String> {
        let bytes = zstd::bulk::decompress(compressed, size)
            .map_err(|e| format!("token index does not decompress: {e}"))?;
        let mut r = Reader {
            bytes: &bytes,
            at: 0,
        };
        if r.take(MAGIC.len())? != MAGIC {
            return Err("token index has an unknown format".into());
        }
        let rows = r.u32()?;
        let mut classes: [ClassIndex; 2] = Default::default();
        for class in &mut classes {
            let count = r.u32()? as usize;
            // Each token takes at least two bytes: a guard against a huge count.
            if count > bytes.len() / 2 {
                return Err(format!("token index claims {count} tokens"));
            }
            class.starts.reserve(count);
            for _ in 0..count {
                let len = r.varint()? as usize;
                class.starts.push(class.text.len() as u32);
                class.text.extend_from_slice(r.take(len)?);
                class.text.push(b'\n');
            }
            class.posting_starts.reserve(count + 1);
            for _ in 0..count {
                class.posting_starts.push(class.postings.len() as u32);
                let start = r.at;
                let n = r.varint()?;
                let mut row = 0u64;
                for i in 0..n {
                    let d = r.varint()?;
                    if i > 0 && d == 0 {
                        return Err("token index lists a row twice".into());
                    }
                    row += d;
                    if row >= u64::from(rows) {
                        return Err(format!("token index names row {row} of {rows}"));
                    }
                }
                class.postings.extend_from_slice(&bytes[start..r.at]);
            }
            class.posting_starts.push(class.postings.len() as u32);
        }
        if r.at != bytes.len() {
            return Err("token index has trailing bytes".into());
        }
        Ok(Self { rows, classes })
    }

    /// Rows in the segment.
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// Memory held.
    pub fn memory_size(&self) -> usize {
        self.classes
            .iter()
            .map(|c| {
                c.text.len() + c.postings.len() + 4 * (c.starts.len() + c.posting_starts.len())
            })
            .sum::<usize>()
            + std::mem::size_of::<Self>()
    }

    /// The rows (sorted, distinct) whose text contains `text`, or `None` when this index
    /// cannot tell ([`searchable`]).
    pub fn rows_containing(&self, text: &str) -> Option<Vec<u32>> {
        let class = &self.classes[searchable(text)?.slot()];
        let mut rows = Vec::new();
        let mut last_token = None;
        for at in memchr::memmem::find_iter(&class.text, text.as_bytes()) {
            // `text` holds no `\n`, so the match lies inside one token.
            let token = class.starts.partition_point(|&s| s as usize <= at) - 1;
            if last_token == Some(token) {
                continue;
            }
            last_token = Some(token);
            let postings = &class.postings
                [class.posting_starts[token] as usize..class.posting_starts[token + 1] as usize];
            let mut r = Reader {
                bytes: postings,
                at: 0,
            };
            let n = r.varint().expect("checked when parsed");
            let mut row = 0u32;
            for _ in 0..n {
                row += r.varint().expect("checked when parsed") as u32;
                rows.push(row);
            }
        }
        rows.sort_unstable();
        rows.dedup();
        Some(rows)
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or("token index ends early")?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("token index holds a varint over 64 bits".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_runs(class: Class, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        runs(class, text.as_bytes(), |r| {
            out.push(String::from_utf8(r.to_vec()).unwrap())
        });
        out
    }

    /// Every maximal run, found by looking at every byte.
    fn slow_runs(class: Class, text: &str) -> Vec<String> {
        let b = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if class.has(b[i]) {
                let s = i;
                while i < b.len() && class.has(b[i]) {
                    i += 1;
                }
                if class.accepts(&b[s..i]) {
                    out.push(text[s..i].to_string());
                }
            } else {
                i += 1;
            }
        }
        out
    }

    #[test]
    fn runs_are_found_whatever_their_place() {
        let ip = "203.0.113.66";
        let key = "AKIAIOSFODNN7EXAMPLE";
        for pad in 0..45 {
            for tail in ["", "x", "\"}", "1.2"] {
                let text = format!(
                    "{}{{\"sourceIPAddress\":\"{ip}\",\"accessKeyId\":\"{key}\"{tail}",
                    "a".repeat(pad)
                );
                for class in Class::ALL {
                    assert_eq!(all_runs(class, &text), slow_runs(class, &text), "{text}");
                }
                assert!(all_runs(Class::Dotted, &text).contains(&ip.to_string()));
                assert!(all_runs(Class::Upper, &text).contains(&key.to_string()));
            }
        }
        // At the very start and end of the text.
        assert_eq!(all_runs(Class::Dotted, ip), vec![ip]);
        assert_eq!(all_runs(Class::Upper, key), vec![key]);
        // Too short, or without a dot: not indexed.
        assert!(all_runs(Class::Dotted, "v1.2.3 and 20260111").is_empty());
        assert!(all_runs(Class::Upper, "AKIAIOSFODNN7EXAMPL").is_empty());
    }

    #[test]
    fn which_searches_the_index_answers() {
        assert_eq!(searchable("203.0.113.66"), Some(Class::Dotted));
        assert_eq!(searchable("10.0.0.1"), Some(Class::Dotted));
        assert_eq!(searchable("3.105.12"), Some(Class::Dotted));
        assert_eq!(searchable("AKIAIOSFODNN7EXAMPLE"), Some(Class::Upper));
        assert_eq!(searchable("AIDAJQABLZS4A3QDU576Q"), Some(Class::Upper));
        // Too short, other bytes, or no dot: the text is read.
        for no in [
            "1.2.3",
            "123456789012",
            "AKIAIOSFODNN7EXAMP",
            "akiaiosfodnn7example",
            "10.0.0.1 ",
            "alice",
            ".......",
            "",
        ] {
            assert_eq!(searchable(no), None, "{no:?}");
        }
    }

    /// The rows the index gives equal the rows whose text contains the search, for
    /// every search it answers, over records built to hold near misses.
    #[test]
    fn the_index_gives_exactly_the_rows_that_contain_the_text() {
        let mut texts = Vec::new();
        for i in 0..600u32 {
            let ip = format!("10.{}.{}.{}", i % 3, i % 7, i % 11);
            let other = format!("{}{}.5.6", i % 4, i % 9);
            let key = format!("AKIA{:016}", (i % 13) * 7919);
            let long = format!("ASIA{:020}X", i % 5);
            texts.push(format!(
                r#"{{"sourceIPAddress":"{ip}","userAgent":"aws-cli/2.13.{i} Python/3.{i}","a":"{other}","k":"{key}","p":"{long}","t":"2026-01-0{}T10:00:00Z"}}"#,
                i % 9
            ));
        }
        let mut b = Builder::default();
        for t in &texts {
            b.add(t);
        }
        let (blob, size) = b.finish();
        let index = TokenIndex::parse(&blob, size).unwrap();
        assert_eq!(index.rows(), 600);
        let mut searches: Vec<String> = vec![
            "10.0.0.0".into(),
            "10.1.1.1".into(),
            ".5.6\"".into(),
            "0.0.0.1".into(),
            "3.105.126.98".into(),
            "AKIA0000000000000000".into(),
            "ASIA00000000000000000000".into(),
            "00000000000000000000".into(),
        ];
        for i in 0..40 {
            searches.push(format!("10.{}.{}.{}", i % 3, i % 7, i % 11));
            searches.push(format!("0.{}.{}", i % 7, i % 11));
            searches.push(format!("{}.5.6", i % 9));
            searches.push(format!("AKIA{:016}", (i % 13) * 7919));
            searches.push(format!("{:020}", (i % 13) * 7919));
        }
        let mut answered = 0;
        for s in &searches {
            let want: Vec<u32> = (0..texts.len() as u32)
                .filter(|&r| texts[r as usize].contains(s.as_str()))
                .collect();
            match index.rows_containing(s) {
                Some(got) => {
                    answered += 1;
                    assert_eq!(got, want, "search {s:?}");
                }
                None => assert!(searchable(s).is_none(), "{s:?}"),
            }
        }
        assert!(answered > 100, "{answered} searches answered");
    }

    #[test]
    fn damaged_indexes_are_errors() {
        let mut b = Builder::default();
        b.add(r#"{"sourceIPAddress":"192.0.2.1"}"#);
        let (blob, size) = b.finish();
        let raw = zstd::bulk::decompress(&blob, size).unwrap();
        for cut in 0..raw.len() {
            let blob = zstd::bulk::compress(&raw[..cut], 1).unwrap();
            assert!(TokenIndex::parse(&blob, raw.len()).is_err(), "cut at {cut}");
        }
        let mut wrong = raw.clone();
        wrong[0] = b'X';
        let blob = zstd::bulk::compress(&wrong, 1).unwrap();
        assert!(TokenIndex::parse(&blob, raw.len()).is_err());
        // A row past the segment's end.
        let mut past = raw.clone();
        past[MAGIC.len()] = 0;
        let blob = zstd::bulk::compress(&past, 1).unwrap();
        let err = TokenIndex::parse(&blob, raw.len()).unwrap_err();
        assert!(err.contains("row 0 of 0"), "{err}");
    }
}

//! Zip archives of CloudTrail files, read entry by entry under limits.
//!
//! Refused: entry names that climb out (`..`) or are absolute, symbolic links, nested
//! archives, more entries than the cap and more expanded bytes than the cap. Each
//! entry is handed to the caller as soon as it is decoded, so memory holds one entry.

use std::io::{Read, Seek};

use crate::Limits;
use crate::decode::{decode_reader, is_zip};
use crate::error::FileError;

/// Calls `each(entry_name, decoded_bytes)` for every file entry of the archive.
/// Problems with single entries go to `each` as errors; problems with the archive as
/// a whole (unreadable, too many entries, too large in total) end it with an error.
pub fn for_each_entry<R: Read + Seek>(
    reader: R,
    limits: &Limits,
    mut each: impl FnMut(&str, Result<Vec<u8>, FileError>),
) -> Result<(), FileError> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| FileError::Zip(e.to_string()))?;
    if zip.len() > limits.max_archive_entries {
        return Err(FileError::Zip(format!(
            "{} entries, more than the cap of {}",
            zip.len(),
            limits.max_archive_entries
        )));
    }
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| FileError::Zip(e.to_string()))?;
        let name = entry
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| format!("entry {i}"));
        if entry.is_dir() || is_clutter(&name) {
            continue;
        }
        if entry.is_symlink() {
            each(
                &name,
                Err(FileError::Zip("entry is a symbolic link; refused".into())),
            );
            continue;
        }
        if entry.enclosed_name().is_none() || name.starts_with('/') || name.contains('\\') {
            each(
                &name,
                Err(FileError::Zip(
                    "entry path is absolute or climbs out with '..'; refused".into(),
                )),
            );
            continue;
        }
        let remaining = limits.max_archive_bytes.saturating_sub(total);
        let cap = limits.max_decompressed.min(remaining);
        let decoded = decode_reader(&mut entry, cap).map_err(|e| match e {
            FileError::TooLarge { .. } if cap < limits.max_decompressed => FileError::Zip(format!(
                "archive expands to more than {} bytes in total (the cap); refused",
                limits.max_archive_bytes
            )),
            other => other,
        });
        if let Ok(bytes) = &decoded {
            total += bytes.len() as u64;
            if is_zip(bytes) {
                each(
                    &name,
                    Err(FileError::Zip("nested archive; unzip it first".into())),
                );
                continue;
            }
        }
        let fatal = matches!(&decoded, Err(FileError::Zip(m)) if m.contains("in total"));
        each(&name, decoded);
        if fatal {
            return Err(FileError::Zip(format!(
                "archive expands to more than {} bytes in total (the cap); stopped",
                limits.max_archive_bytes
            )));
        }
    }
    Ok(())
}

fn is_clutter(name: &str) -> bool {
    name.starts_with("__MACOSX/") || name.rsplit('/').next().is_some_and(|f| f.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    type Seen = Vec<(String, Result<usize, String>)>;

    fn collect(bytes: Vec<u8>, limits: &Limits) -> (Seen, Result<(), FileError>) {
        let mut seen = Vec::new();
        let r = for_each_entry(Cursor::new(bytes), limits, |n, d| {
            seen.push((n.to_string(), d.map(|b| b.len()).map_err(|e| e.to_string())))
        });
        (seen, r)
    }

    #[test]
    fn entries_stream_and_traversal_is_refused() {
        let z = archive(&[
            ("a/b.json", b"{}"),
            ("../evil.json", b"{}"),
            ("__MACOSX/x", b""),
        ]);
        let (seen, r) = collect(z, &Limits::default());
        assert!(r.is_ok());
        assert_eq!(seen[0], ("a/b.json".into(), Ok(2)));
        assert!(seen[1].1.as_ref().unwrap_err().contains("climbs out"));
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn caps_on_entries_and_total_size() {
        let z = archive(&[("a.json", b"{}"), ("b.json", b"{}")]);
        let limits = Limits {
            max_archive_entries: 1,
            ..Limits::default()
        };
        assert!(collect(z, &limits).1.is_err());
        let big = vec![b' '; 1000];
        let z = archive(&[("a.json", &big), ("b.json", &big)]);
        let limits = Limits {
            max_archive_bytes: 1500,
            ..Limits::default()
        };
        let (seen, r) = collect(z, &limits);
        assert!(r.is_err());
        assert_eq!(seen[0].1, Ok(1000));
    }

    #[test]
    fn nested_archive_is_refused() {
        let inner = archive(&[("a.json", b"{}")]);
        let z = archive(&[("inner.zip", &inner)]);
        let (seen, _) = collect(z, &Limits::default());
        assert!(seen[0].1.as_ref().unwrap_err().contains("nested"));
    }
}

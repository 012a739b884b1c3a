//! Segment files handed to the Parquet reader read by position (`pread`).
//!
//! Parquet's own `ChunkReader` for `File` seeks a clone of the file and reads from it,
//! and clones of a `File` share one offset: two threads reading one segment that way
//! can read each other's bytes. Reading at an offset has no shared state, so the
//! direct lookups fetch a page's records on several threads whatever segments they
//! lie in (`direct::lookups`).

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::parquet::errors::Result;
use datafusion::parquet::file::reader::{ChunkReader, Length};

/// A file read only at explicit offsets.
#[derive(Debug, Clone)]
pub(crate) struct PositionedFile(pub(crate) Arc<File>);

impl Length for PositionedFile {
    fn len(&self) -> u64 {
        self.0.len()
    }
}

impl ChunkReader for PositionedFile {
    type T = BufReader<ReadAt>;

    fn get_read(&self, start: u64) -> Result<Self::T> {
        Ok(BufReader::new(ReadAt {
            file: self.0.clone(),
            at: start,
        }))
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes> {
        let mut buffer = vec![0; length];
        self.0.read_exact_at(&mut buffer, start)?;
        Ok(buffer.into())
    }
}

/// Reads a file onwards from an offset of its own.
pub(crate) struct ReadAt {
    file: Arc<File>,
    at: u64,
}

impl Read for ReadAt {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn readers_at_different_offsets_do_not_disturb_each_other() {
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(b"0123456789").unwrap();
        let f = PositionedFile(Arc::new(tmp));
        let (mut a, mut b) = (f.get_read(2).unwrap(), f.get_read(7).unwrap());
        let mut two = [0; 2];
        a.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"23");
        b.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"78");
        assert_eq!(&f.get_bytes(4, 3).unwrap()[..], b"456");
        a.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"45");
        assert!(f.get_bytes(8, 5).is_err(), "past the end");
        assert_eq!(f.len(), 10);
    }
}

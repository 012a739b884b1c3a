//! Strict gzip: exactly one member and nothing after it, inflated under a size cap.
//!
//! CloudTrail writes each digest and log file as a single gzip member. A second
//! member or trailing bytes would be ignored by most readers (and by the hash of the
//! first member), so bytes could be appended to a file without changing its hash; here
//! they make the file invalid.

use std::io::Read;

use flate2::bufread::GzDecoder;

/// Why bytes are not one valid gzip member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GzipError {
    /// Not gzip, or a damaged stream.
    #[error("not a valid gzip stream: {0}")]
    Corrupt(String),
    /// Bytes after the first member.
    #[error("{0} bytes after the end of the gzip stream")]
    Trailing(usize),
    /// More than the cap once inflated.
    #[error("larger than {0} bytes once decompressed")]
    TooLarge(u64),
}

/// Inflates `bytes`, which must be exactly one gzip member of at most `cap` bytes
/// inflated.
pub fn inflate(bytes: &[u8], cap: u64) -> Result<Vec<u8>, GzipError> {
    let mut decoder = GzDecoder::new(bytes);
    let mut out = Vec::new();
    (&mut decoder)
        .take(cap + 1)
        .read_to_end(&mut out)
        .map_err(|e| GzipError::Corrupt(e.to_string()))?;
    if out.len() as u64 > cap {
        return Err(GzipError::TooLarge(cap));
    }
    let rest = decoder.into_inner();
    if !rest.is_empty() {
        return Err(GzipError::Trailing(rest.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn one_member_only_and_nothing_after_it() {
        assert_eq!(inflate(&gz(b"hello"), 100).unwrap(), b"hello");
        let mut two = gz(b"hello");
        two.extend(gz(b"world"));
        assert!(matches!(inflate(&two, 100), Err(GzipError::Trailing(_))));
        let mut junk = gz(b"hello");
        junk.extend(b"\n");
        assert_eq!(inflate(&junk, 100), Err(GzipError::Trailing(1)));
        assert!(matches!(inflate(b"plain", 100), Err(GzipError::Corrupt(_))));
        let whole = gz(b"hello world");
        assert!(matches!(
            inflate(&whole[..whole.len() - 4], 100),
            Err(GzipError::Corrupt(_))
        ));
        assert_eq!(inflate(&gz(&[0; 200]), 100), Err(GzipError::TooLarge(100)));
    }
}

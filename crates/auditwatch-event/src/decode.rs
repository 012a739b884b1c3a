//! Turns stored bytes into a JSON document: gzip (single or multi-member) or plain,
//! always under a decompressed-size cap so that a gzip bomb is refused early.

use std::io::Read;

use flate2::read::MultiGzDecoder;

use crate::error::FileError;

/// Default cap on one decompressed file: CloudTrail log files are at most tens of MB.
pub const DEFAULT_MAX_DECOMPRESSED: u64 = 1 << 30;

/// Whether the bytes start like a gzip stream.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Whether the bytes start like a zip archive.
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// Decompresses `bytes` if they are gzip, else copies them, refusing more than `limit`
/// bytes of output.
pub fn decode(bytes: &[u8], limit: u64) -> Result<Vec<u8>, FileError> {
    if is_gzip(bytes) {
        read_capped(MultiGzDecoder::new(bytes), limit, bytes.len() * 8)
    } else if bytes.len() as u64 > limit {
        Err(FileError::TooLarge { limit })
    } else {
        Ok(bytes.to_vec())
    }
}

/// Reads `reader` to the end, gunzipping if its first bytes say gzip, under `limit`.
pub fn decode_reader(mut reader: impl Read, limit: u64) -> Result<Vec<u8>, FileError> {
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        let n = reader.read(&mut head[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let chained = (&head[..got]).chain(reader);
    if got == 2 && is_gzip(&head) {
        read_capped(MultiGzDecoder::new(chained), limit, 1 << 20)
    } else {
        read_capped(chained, limit, 1 << 20)
    }
}

fn read_capped(reader: impl Read, limit: u64, hint: usize) -> Result<Vec<u8>, FileError> {
    let mut out = Vec::with_capacity(hint.min(limit as usize).min(256 << 20));
    let n = reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput
            | std::io::ErrorKind::InvalidData
            | std::io::ErrorKind::UnexpectedEof => FileError::Gzip(e.to_string()),
            _ => FileError::Io(e),
        })?;
    if n as u64 > limit {
        return Err(FileError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn plain_and_multi_member_gzip() {
        assert_eq!(decode(b"{}", 10).unwrap(), b"{}");
        let mut two = gz(b"ab");
        two.extend(gz(b"cd"));
        assert_eq!(decode(&two, 10).unwrap(), b"abcd");
        assert_eq!(decode_reader(&two[..], 10).unwrap(), b"abcd");
    }

    #[test]
    fn bomb_is_refused_at_the_cap() {
        let bomb = gz(&vec![b' '; 10 << 20]);
        assert!(bomb.len() < (10 << 20) / 50, "{}", bomb.len());
        assert!(matches!(
            decode(&bomb, 1 << 20),
            Err(FileError::TooLarge { .. })
        ));
    }

    #[test]
    fn corrupt_gzip_is_named() {
        let mut data = gz(&vec![b'x'; 10_000]);
        let n = data.len();
        data.truncate(n / 2);
        assert!(matches!(decode(&data, 1 << 20), Err(FileError::Gzip(_))));
    }
}

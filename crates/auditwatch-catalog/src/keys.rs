//! How a segment's event keys are kept in the catalog: its 128-bit eventID keys,
//! sorted, as one blob of 16-byte little-endian values.

/// Encodes sorted keys for the catalog.
pub fn to_blob(sorted: &[u128]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sorted.len() * 16);
    for k in sorted {
        out.extend_from_slice(&k.to_le_bytes());
    }
    out
}

/// Decodes a catalog key blob.
pub fn from_blob(blob: &[u8]) -> Vec<u128> {
    blob.chunks_exact(16)
        .map(|c| u128::from_le_bytes(c.try_into().expect("16-byte chunk")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_a_blob() {
        assert_eq!(from_blob(&to_blob(&[5, u128::MAX])), [5, u128::MAX]);
        assert_eq!(to_blob(&[1]).len(), 16);
        assert!(from_blob(&[]).is_empty());
    }
}

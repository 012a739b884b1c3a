//! Random secrets. `rand::rng()` is a ChaCha12 CSPRNG seeded and periodically
//! reseeded from the operating system.

use base64::Engine;
use rand::RngCore;

/// `n` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rng().fill_bytes(&mut b);
    b
}

/// 32 random bytes as URL-safe base64 (43 characters, 256 bits).
pub fn token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes::<32>())
}

/// `len` characters drawn uniformly from `alphabet`.
pub fn from_alphabet(alphabet: &[u8], len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// SHA-256 of `s`.
pub fn digest(s: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes()).to_vec()
}

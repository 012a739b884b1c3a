//! Sealing secrets that must be recoverable (the secret half of an AWS-style key,
//! TOTP seeds): ChaCha20-Poly1305 with a 256-bit key kept in `<data-dir>/auth.key`
//! (mode 0600, created on first use). A copy of the catalog alone does not reveal
//! them.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::error::{AuthError, Result};

/// The sealing key.
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// Loads the key file, creating it with a fresh random key if absent.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        let err = |source| AuthError::KeyFile {
            path: PathBuf::from(path),
            source,
        };
        let key = match std::fs::read(path) {
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let k = crate::random::bytes::<32>().to_vec();
                write_private(path, &k).map_err(err)?;
                k
            }
            Err(e) => return Err(err(e)),
        };
        if key.len() != 32 {
            return Err(err(std::io::Error::other(format!(
                "expected 32 bytes, found {}",
                key.len()
            ))));
        }
        Ok(Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        })
    }

    /// Nonce ‖ ciphertext of `plain`.
    pub fn seal(&self, plain: &[u8]) -> Result<Vec<u8>> {
        let nonce = crate::random::bytes::<12>();
        let mut out = nonce.to_vec();
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain)
            .map_err(|e| AuthError::Sealed(e.to_string()))?;
        out.extend(ct);
        Ok(out)
    }

    /// The plaintext of [`Sealer::seal`]'s output.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < 12 {
            return Err(AuthError::Sealed("too short".into()));
        }
        let (nonce, ct) = sealed.split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| AuthError::Sealed("authentication failed".into()))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.key");
        let s = Sealer::load_or_create(&p).unwrap();
        let sealed = s.seal(b"secret").unwrap();
        assert_eq!(s.open(&sealed).unwrap(), b"secret");
        let again = Sealer::load_or_create(&p).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), b"secret", "same key file");
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(s.open(&bad).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

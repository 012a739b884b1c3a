//! Password hashing: argon2id with m = 19 MiB, t = 2, p = 1 (OWASP's baseline),
//! stored as PHC strings so the parameters travel with each hash.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{AuthError, Result};

/// Memory cost in KiB.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Iterations.
pub const ITERATIONS: u32 = 2;
/// Lanes.
pub const LANES: u32 = 1;
/// Shortest password accepted.
pub const MIN_LEN: usize = 10;
/// Longest password accepted (argon2 takes any length; this bounds the work).
pub const MAX_LEN: usize = 1024;

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None).expect("valid argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a new password against the length rules.
pub fn check_new(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(AuthError::Invalid(format!(
            "password: {n} characters is too short (at least {MIN_LEN})"
        )));
    }
    if password.len() > MAX_LEN {
        return Err(AuthError::Invalid(format!(
            "password: longer than {MAX_LEN} bytes"
        )));
    }
    Ok(())
}

/// Hashes `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&crate::random::bytes::<16>())
        .map_err(|e| AuthError::Invalid(format!("salt: {e}")))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Invalid(format!("password hashing: {e}")))
}

/// Whether `password` matches the PHC string `stored`. A malformed stored hash never
/// matches.
pub fn verify(password: &str, stored: &str) -> bool {
    if password.len() > MAX_LEN {
        return false;
    }
    PasswordHash::new(stored)
        .is_ok_and(|h| hasher().verify_password(password.as_bytes(), &h).is_ok())
}

/// A well-formed argon2id hash with this module's cost that no password matches
/// (its output is all zeros): verifying against it costs what a real check costs.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// Spends the same time as [`verify`] against a real hash, for unknown users, so a
/// sign-in does not reveal whether a name exists.
pub fn verify_dummy(password: &str) {
    let _ = verify(password, DUMMY_HASH);
}

/// A random password of 20 characters from an unambiguous alphabet (~115 bits).
pub fn generate() -> String {
    crate::random::from_alphabet(
        b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789",
        20,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_the_required_cost_and_verify() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterz", &h));
        assert!(!verify("x", "not a hash"));
        assert_ne!(h, hash("correct horse battery").unwrap(), "salted");
    }

    #[test]
    fn the_dummy_hash_costs_a_real_verification() {
        // A malformed constant would return at once and reveal unknown names by timing.
        let h = PasswordHash::new(DUMMY_HASH).expect("the dummy hash parses");
        assert_eq!(h.params.get_decimal("m"), Some(MEMORY_KIB));
        assert_eq!(h.params.get_decimal("t"), Some(ITERATIONS));
        assert!(!verify("anything", DUMMY_HASH));
    }

    #[test]
    fn length_rules() {
        assert!(check_new("short").is_err());
        assert!(check_new(&"x".repeat(2000)).is_err());
        assert!(check_new(&generate()).is_ok());
    }
}

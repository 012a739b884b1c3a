//! The string CloudTrail signs for a digest, and the SHA256withRSA (PKCS#1 v1.5) check
//! (ring).

use crate::digest::Digest;
use crate::keys::PublicKey;

/// `digestEndTime \n bucket/key \n hex SHA-256 of the inflated digest \n previous
/// signature (or the word null)`.
pub fn string_to_sign(digest: &Digest, bucket: &str, key: &str, inflated_sha256: &str) -> String {
    format!(
        "{}\n{bucket}/{key}\n{inflated_sha256}\n{}",
        digest.digest_end_time,
        digest
            .previous_digest_signature
            .as_deref()
            .unwrap_or("null")
    )
}

/// Checks a hex signature of `message` under `key`.
pub fn verify(key: &PublicKey, message: &[u8], signature_hex: &str) -> Result<(), String> {
    let signature =
        hex::decode(signature_hex.trim()).map_err(|_| "the signature is not hex".to_string())?;
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        &key.pkcs1_der,
    )
    .verify(message, &signature)
    .map_err(|_| "the signature does not match".to_string())
}

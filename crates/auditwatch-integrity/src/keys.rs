//! CloudTrail's public keys, as `aws cloudtrail list-public-keys` prints them
//! (`{"PublicKeyList": [{"Value", "Fingerprint", "ValidityStartTime",
//! "ValidityEndTime"}]}`), found by fingerprint.
//!
//! A key is chosen by the fingerprint the digest names, never by its validity window:
//! windows overlap at rotations, and choosing by time misses digests signed near a
//! rotation (aws-cli#10073). The signature check is what proves a digest; a wrong
//! label can only make a check fail.

use base64::Engine;
use md5::{Digest as _, Md5};
use serde::Deserialize;

/// One public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// Lower-case hex MD5 of the DER value (or as given by AWS).
    pub fingerprint: String,
    /// The key as an ASN.1 `RSAPublicKey` (PKCS#1) DER.
    pub pkcs1_der: Vec<u8>,
    /// The DER value as AWS gave it (PKCS#1 or SubjectPublicKeyInfo).
    pub value: Vec<u8>,
    /// Validity start (seconds since the epoch), when known.
    pub valid_from: Option<i64>,
    /// Validity end, when known.
    pub valid_to: Option<i64>,
}

impl PublicKey {
    /// A key from its DER value (PKCS#1 `RSAPublicKey` or `SubjectPublicKeyInfo`);
    /// the fingerprint is the MD5 of that value.
    pub fn from_der(value: Vec<u8>) -> Result<Self, String> {
        let pkcs1_der = to_pkcs1(&value)?;
        Ok(Self {
            fingerprint: hex::encode(Md5::digest(&value)),
            pkcs1_der,
            value,
            valid_from: None,
            valid_to: None,
        })
    }
}

/// The keys a verification may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRing(pub Vec<PublicKey>);

#[derive(Deserialize)]
struct ListFile {
    #[serde(alias = "publicKeyList")]
    #[serde(rename = "PublicKeyList")]
    list: Vec<ListedKey>,
}

#[derive(Deserialize)]
struct ListedKey {
    #[serde(rename = "Value")]
    value: String,
    #[serde(rename = "Fingerprint", default)]
    fingerprint: Option<String>,
    #[serde(rename = "ValidityStartTime", default)]
    start: Option<serde_json::Value>,
    #[serde(rename = "ValidityEndTime", default)]
    end: Option<serde_json::Value>,
}

/// A time as the CLI or API prints it: epoch seconds (number or text) or RFC 3339.
fn time_of(v: &Option<serde_json::Value>) -> Option<i64> {
    match v.as_ref()? {
        serde_json::Value::Number(n) => n.as_f64().map(|f| f as i64),
        serde_json::Value::String(s) => s
            .parse::<f64>()
            .ok()
            .map(|f| f as i64)
            .or_else(|| crate::digest::parse_time(s)),
        _ => None,
    }
}

impl KeyRing {
    /// Parses the JSON `aws cloudtrail list-public-keys` prints (or the API returns).
    pub fn from_json(text: &[u8]) -> Result<Self, String> {
        let file: ListFile = serde_json::from_slice(text)
            .map_err(|e| format!("not a list-public-keys document: {e}"))?;
        let mut keys = Vec::new();
        for (i, k) in file.list.into_iter().enumerate() {
            let der = base64::engine::general_purpose::STANDARD
                .decode(k.value.trim())
                .map_err(|e| format!("key {}: Value is not base64: {e}", i + 1))?;
            let mut key = PublicKey::from_der(der).map_err(|e| format!("key {}: {e}", i + 1))?;
            if let Some(f) = k.fingerprint {
                key.fingerprint = f.to_ascii_lowercase();
            }
            key.valid_from = time_of(&k.start);
            key.valid_to = time_of(&k.end);
            keys.push(key);
        }
        Ok(KeyRing(keys))
    }

    /// The key with this fingerprint.
    pub fn find(&self, fingerprint: &str) -> Option<&PublicKey> {
        self.0
            .iter()
            .find(|k| k.fingerprint.eq_ignore_ascii_case(fingerprint))
    }

    /// The keys as `list-public-keys` prints them (what the AWS-compatible endpoint
    /// answers).
    pub fn to_json(&self) -> serde_json::Value {
        let b64 = base64::engine::general_purpose::STANDARD;
        serde_json::json!({
            "PublicKeyList": self.0.iter().map(|k| serde_json::json!({
                "Value": b64.encode(&k.value),
                "Fingerprint": k.fingerprint,
                "ValidityStartTime": k.valid_from,
                "ValidityEndTime": k.valid_to,
            })).collect::<Vec<_>>()
        })
    }
}

/// Reads one DER tag-length header: (tag, content start, content end).
fn header(der: &[u8], at: usize) -> Result<(u8, usize, usize), String> {
    let short = || "truncated DER".to_string();
    let tag = *der.get(at).ok_or_else(short)?;
    let first = *der.get(at + 1).ok_or_else(short)?;
    let (len, start) = if first < 0x80 {
        (first as usize, at + 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return Err("unsupported DER length".into());
        }
        let bytes = der.get(at + 2..at + 2 + n).ok_or_else(short)?;
        (
            bytes.iter().fold(0usize, |a, b| (a << 8) | *b as usize),
            at + 2 + n,
        )
    };
    let end = start
        .checked_add(len)
        .filter(|e| *e <= der.len())
        .ok_or_else(short)?;
    Ok((tag, start, end))
}

/// The `RSAPublicKey` inside a `SubjectPublicKeyInfo`, or the value itself when it
/// already is one.
fn to_pkcs1(der: &[u8]) -> Result<Vec<u8>, String> {
    const RSA_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let (tag, start, end) = header(der, 0)?;
    if tag != 0x30 || end != der.len() {
        return Err("not a DER public key".into());
    }
    let (first, fstart, fend) = header(der, start)?;
    match first {
        // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
        0x02 => Ok(der.to_vec()),
        // SubjectPublicKeyInfo ::= SEQUENCE { AlgorithmIdentifier, BIT STRING }
        0x30 => {
            let (oid_tag, ostart, oend) = header(der, fstart)?;
            if oid_tag != 0x06 || &der[ostart..oend] != RSA_OID {
                return Err("not an RSA public key".into());
            }
            let (bits, bstart, bend) = header(der, fend)?;
            if bits != 0x03 || bstart >= bend || der[bstart] != 0 {
                return Err("malformed SubjectPublicKeyInfo".into());
            }
            Ok(der[bstart + 1..bend].to_vec())
        }
        _ => Err("not a DER public key".into()),
    }
}

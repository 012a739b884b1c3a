//! Test support (feature `testing`): CloudTrail-shaped digest chains signed with a
//! caller's RSA key, for this crate's tamper matrix and the command-line tests. Not
//! part of the product: the binary never signs anything.

use std::collections::HashMap;
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};

use crate::chain::{Objects, StoredSignature};
use crate::digest::{Digest, sha256_hex};
use crate::keys::PublicKey;
use crate::sign;

/// Gzip (one member).
pub fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).expect("write to memory");
    e.finish().expect("finish in memory")
}

fn stamp(t: i64, fmt: &str) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format(fmt)
        .to_string()
}

/// A signer: an RSA key pair (PKCS#1 or PKCS#8 DER).
pub struct Signer(RsaKeyPair);

impl Signer {
    /// From a DER private key.
    pub fn from_der(der: &[u8]) -> Self {
        Signer(
            RsaKeyPair::from_der(der)
                .or_else(|_| RsaKeyPair::from_pkcs8(der))
                .expect("an RSA private key"),
        )
    }

    /// Its public key.
    pub fn public(&self) -> PublicKey {
        PublicKey::from_der(self.0.public().as_ref().to_vec()).expect("RSAPublicKey DER")
    }

    /// A hex SHA256withRSA signature.
    pub fn sign(&self, message: &str) -> String {
        let mut sig = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                message.as_bytes(),
                &mut sig,
            )
            .expect("signing");
        hex::encode(sig)
    }
}

/// A bucket in memory, with the signatures S3 keeps in object metadata.
#[derive(Clone, Default)]
pub struct Bucket {
    /// Its name.
    pub name: String,
    /// Objects by key.
    pub objects: HashMap<String, Vec<u8>>,
    /// `signature` metadata by key.
    pub signatures: HashMap<String, String>,
    /// Act as a local copy: signatures unknown.
    pub local: bool,
    /// Digest keys, as a listing would return them.
    pub digests: Vec<String>,
}

impl Objects for Bucket {
    fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        if bucket != self.name {
            return Ok(None);
        }
        Ok(self.objects.get(key).cloned())
    }
    fn signature(&self, _: &str, key: &str) -> Result<StoredSignature, String> {
        Ok(match (self.local, self.signatures.get(key)) {
            (true, _) => StoredSignature::Unknown,
            (false, Some(s)) => StoredSignature::Found(s.clone()),
            (false, None) => StoredSignature::Missing,
        })
    }
}

/// Where a chain's files go.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The bucket.
    pub bucket: String,
    /// Key prefix before `AWSLogs/` (empty or ending in `/`).
    pub prefix: String,
    /// `o-…/` for an organisation trail, or empty.
    pub org: String,
    /// The account.
    pub account: String,
    /// The delivering region.
    pub region: String,
    /// The trail's name.
    pub trail: String,
    /// Its home region.
    pub home_region: String,
}

impl Layout {
    /// The key of the digest ending at `end` (`suffix`: "" or "_backfill").
    pub fn digest_key(&self, end: i64, suffix: &str) -> String {
        format!(
            "{}AWSLogs/{}{acct}/CloudTrail-Digest/{region}/{}/{acct}_CloudTrail-Digest_{region}_{}_{}_{}{suffix}.json.gz",
            self.prefix,
            self.org,
            stamp(end, "%Y/%m/%d"),
            self.trail,
            self.home_region,
            stamp(end, "%Y%m%dT%H%M%SZ"),
            acct = self.account,
            region = self.region,
        )
    }

    fn log_key(&self, end: i64, tag: &str) -> String {
        format!(
            "{}AWSLogs/{}{acct}/CloudTrail/{region}/{}/{acct}_CloudTrail_{region}_{}_{tag}.json.gz",
            self.prefix,
            self.org,
            stamp(end, "%Y/%m/%d"),
            stamp(end - 600, "%Y%m%dT%H%MZ"),
            acct = self.account,
            region = self.region,
        )
    }
}

impl Bucket {
    /// Signs and stores `digest` at `key` (its location fields are filled in unless
    /// already set), returning (inflated hash, signature).
    pub fn put_digest(
        &mut self,
        key: &str,
        digest: &mut Value,
        signer: &Signer,
    ) -> (String, String) {
        if digest["digestS3Object"].is_null() {
            digest["digestS3Bucket"] = json!(self.name);
            digest["digestS3Object"] = json!(key);
        }
        digest["digestPublicKeyFingerprint"] = json!(signer.public().fingerprint);
        let inflated = serde_json::to_vec(digest).expect("JSON");
        let hash = sha256_hex(&inflated);
        let parsed = Digest::parse(&inflated).expect("a digest");
        let signature = signer.sign(&sign::string_to_sign(&parsed, &self.name, key, &hash));
        self.objects.insert(key.to_string(), gz(&inflated));
        self.signatures.insert(key.to_string(), signature.clone());
        self.digests.push(key.to_string());
        (hash, signature)
    }

    /// A chain of `hours` hourly digests whose first window starts at `t0`, each
    /// listing `logs` log files (hours in `empty` list none).
    pub fn chain(
        layout: &Layout,
        signer: &Signer,
        t0: i64,
        hours: i64,
        logs: usize,
        empty: &[i64],
    ) -> Self {
        let mut b = Bucket {
            name: layout.bucket.clone(),
            ..Default::default()
        };
        let mut previous: Option<(String, String, String)> = None;
        for h in 0..hours {
            let end = t0 + (h + 1) * 3600;
            let mut files = Vec::new();
            if !empty.contains(&h) {
                for i in 0..logs {
                    let key = layout.log_key(end, &format!("{h}x{i}"));
                    let body = json!({"Records": [{
                        "eventVersion": "1.08", "eventID": format!("digest-test-{h}-{i}"),
                        "eventTime": stamp(end - 900, "%Y-%m-%dT%H:%M:%SZ"),
                        "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
                        "awsRegion": layout.region, "recipientAccountId": layout.account}]});
                    let raw = serde_json::to_vec(&body).expect("JSON");
                    b.objects.insert(key.clone(), gz(&raw));
                    files.push(json!({"s3Bucket": layout.bucket, "s3Object": key,
                        "hashValue": sha256_hex(&raw), "hashAlgorithm": "SHA-256"}));
                }
            }
            let mut digest = json!({
                "awsAccountId": layout.account,
                "digestStartTime": stamp(end - 3600, "%Y-%m-%dT%H:%M:%SZ"),
                "digestEndTime": stamp(end, "%Y-%m-%dT%H:%M:%SZ"),
                "digestSignatureAlgorithm": "SHA256withRSA",
                "previousDigestS3Bucket": previous.as_ref().map(|_| layout.bucket.clone()),
                "previousDigestS3Object": previous.as_ref().map(|p| p.0.clone()),
                "previousDigestHashValue": previous.as_ref().map(|p| p.1.clone()),
                "previousDigestHashAlgorithm": previous.as_ref().map(|_| "SHA-256"),
                "previousDigestSignature": previous.as_ref().map(|p| p.2.clone()),
                "logFiles": files,
            });
            let key = layout.digest_key(end, "");
            let (hash, sig) = b.put_digest(&key, &mut digest, signer);
            previous = Some((key, hash, sig));
        }
        b
    }

    /// The digest at `key`, parsed as JSON.
    pub fn digest_json(&self, key: &str) -> Value {
        let bytes = crate::gzip::inflate(&self.objects[key], 1 << 30).expect("a digest");
        serde_json::from_slice(&bytes).expect("JSON")
    }
}

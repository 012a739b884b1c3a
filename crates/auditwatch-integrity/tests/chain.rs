//! The tamper matrix: chains signed here with test keys (generated for these tests
//! with openssl; never used anywhere else), then altered one way at a time.

use auditwatch_integrity::chain::{FileKind, Request};
use auditwatch_integrity::digest::sha256_hex;
use auditwatch_integrity::digest_keys::TrailArn;
use auditwatch_integrity::testing::{Bucket, Layout, Signer, gz};
use auditwatch_integrity::{KeyRing, PublicKey, Report, Verdict, sign, verify};
use serde_json::{Value, json};

const BUCKET: &str = "trail-bucket";
const TRAIL: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/org-trail";
/// 2024-03-01T00:00:00Z
const T0: i64 = 1_709_251_200;

fn signer(n: u8) -> Signer {
    Signer::from_der(match n {
        1 => include_bytes!("data/test-key-1.der"),
        _ => include_bytes!("data/test-key-2.der"),
    })
}

fn public(n: u8) -> PublicKey {
    signer(n).public()
}

fn sign_with(n: u8, message: &str) -> String {
    signer(n).sign(message)
}

fn layout() -> Layout {
    Layout {
        bucket: BUCKET.into(),
        prefix: String::new(),
        org: "o-abc123/".into(),
        account: "111122223333".into(),
        region: "eu-west-1".into(),
        trail: "org-trail".into(),
        home_region: "us-east-1".into(),
    }
}

fn digest_key(end: i64, suffix: &str) -> String {
    layout().digest_key(end, suffix)
}

trait Tamper {
    fn build(hours: i64, logs: usize, empty: &[i64]) -> Self;
    fn check(&self) -> Report;
    fn delete_digest(&mut self, hour: i64);
    fn digest_at(&self, hour: i64) -> String;
    fn logs_of(&self, hour: i64) -> Vec<String>;
    fn digest_of(&self, hour: i64) -> Value;
    fn resign(&mut self, key: &str, digest: &mut Value, n: u8) -> (String, String);
}

impl Tamper for Bucket {
    fn build(hours: i64, logs: usize, empty: &[i64]) -> Self {
        Bucket::chain(&layout(), &signer(1), T0, hours, logs, empty)
    }

    fn check(&self) -> Report {
        let trail: TrailArn = TRAIL.parse().unwrap();
        let keys = KeyRing(vec![public(1)]);
        verify(
            self,
            &Request {
                bucket: BUCKET,
                digest_keys: self.digests.clone(),
                trail: &trail,
                start: T0,
                end: T0 + 400 * 24 * 3600,
                keys: &keys,
                max_inflated: 64 << 20,
            },
        )
    }

    /// Deletes a digest (it is no longer listed either).
    fn delete_digest(&mut self, hour: i64) {
        let key = self.digest_at(hour);
        self.objects.remove(&key);
        self.digests.retain(|k| *k != key);
    }

    fn digest_at(&self, hour: i64) -> String {
        digest_key(T0 + (hour + 1) * 3600, "")
    }

    fn logs_of(&self, hour: i64) -> Vec<String> {
        self.digest_of(hour)["logFiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["s3Object"].as_str().unwrap().to_string())
            .collect()
    }

    fn digest_of(&self, hour: i64) -> Value {
        self.digest_json(&self.digest_at(hour))
    }

    /// Signs `digest` again at `key` with test key `n` (not listed again).
    fn resign(&mut self, key: &str, digest: &mut Value, n: u8) -> (String, String) {
        let out = self.put_digest(key, digest, &signer(n));
        self.digests.pop();
        out
    }
}

fn failures(r: &Report) -> Vec<(String, Verdict)> {
    r.findings
        .iter()
        .filter(|f| f.verdict.is_failure())
        .map(|f| {
            (
                f.location.rsplit('/').next().unwrap().to_string(),
                f.verdict.clone(),
            )
        })
        .collect()
}

fn verdict_of(r: &Report, key: &str) -> Verdict {
    let loc = format!("s3://{BUCKET}/{key}");
    r.findings
        .iter()
        .find(|f| f.location == loc)
        .unwrap_or_else(|| panic!("no finding for {key}"))
        .verdict
        .clone()
}

fn reason(v: &Verdict) -> &str {
    match v {
        Verdict::Invalid(r) | Verdict::NotFound(r) | Verdict::Unverifiable(r) => r,
        Verdict::Valid => "valid",
    }
}

#[test]
fn thirty_days_of_hourly_digests_are_all_valid() {
    let b = Bucket::build(720, 1, &[5, 6, 300]);
    let r = b.check();
    assert_eq!(r.counts(FileKind::Digest), (720, 0, 0));
    assert_eq!(r.counts(FileKind::Log), (717, 0, 0));
    // The first digest starts the chain at T0, the start of the window: no gap.
    assert!(r.gaps.is_empty(), "{:?}", r.gaps);
}

#[test]
fn each_tamper_class_is_found_and_named() {
    let clean = Bucket::build(48, 2, &[10]);
    assert_eq!(clean.check().failures(), 0);

    // A modified log file.
    let mut b = clean.clone();
    let log = b.logs_of(20)[0].clone();
    b.objects.insert(log.clone(), gz(b"{\"Records\":[]}"));
    let r = b.check();
    assert_eq!(failures(&r).len(), 1, "{:?}", failures(&r));
    assert!(reason(&verdict_of(&r, &log)).contains("modified"));

    // A deleted log file.
    let mut b = clean.clone();
    let log = b.logs_of(21)[1].clone();
    b.objects.remove(&log);
    let r = b.check();
    assert_eq!(failures(&r).len(), 1);
    assert!(matches!(verdict_of(&r, &log), Verdict::NotFound(_)));

    // Trailing bytes after a log file's gzip stream (its first member still hashes right).
    let mut b = clean.clone();
    let log = b.logs_of(22)[0].clone();
    b.objects
        .get_mut(&log)
        .unwrap()
        .extend(gz(b"{\"Records\":[{\"eventID\":\"forged\"}]}"));
    let r = b.check();
    assert!(
        reason(&verdict_of(&r, &log)).contains("after the end of the gzip stream"),
        "{r:?}"
    );

    // A modified digest (its signature kept): invalid, its logs unchecked, the
    // chain continues below it.
    let mut b = clean.clone();
    let key = b.digest_at(30);
    let mut d = b.digest_of(30);
    d["logFiles"].as_array_mut().unwrap().pop();
    b.objects
        .insert(key.clone(), gz(&serde_json::to_vec(&d).unwrap()));
    let r = b.check();
    assert_eq!(failures(&r).len(), 1, "{:?}", failures(&r));
    assert!(
        reason(&verdict_of(&r, &key)).contains("modified"),
        "{:?}",
        verdict_of(&r, &key)
    );
    assert_eq!(r.counts(FileKind::Digest).0, 47);

    // A deleted digest: named by its successor, reported as deleted, with a gap.
    let mut b = clean.clone();
    let key = b.digest_at(25);
    b.delete_digest(25);
    let r = b.check();
    assert_eq!(failures(&r).len(), 1);
    assert!(reason(&verdict_of(&r, &key)).contains("deleted"));
    assert_eq!(r.gaps.len(), 1, "{:?}", r.gaps);
    assert_eq!(r.counts(FileKind::Digest).0, 47);

    // Two consecutive deleted digests: the first is named, the gap says two.
    let mut b = clean.clone();
    b.delete_digest(25);
    b.delete_digest(24);
    let r = b.check();
    assert_eq!(failures(&r).len(), 1, "{:?}", failures(&r));
    assert!(
        r.gaps[0]
            .reason
            .contains("about 2 consecutive digests are missing"),
        "{:?}",
        r.gaps
    );
    assert_eq!(r.gaps[0].from, Some(T0 + 24 * 3600));

    // A digest moved to another key (and listed there).
    let mut b = clean.clone();
    let key = b.digest_at(12);
    let bytes = b.objects[&key].clone();
    b.delete_digest(12);
    let moved = digest_key(T0 + 13 * 3600 + 60, "");
    b.objects.insert(moved.clone(), bytes);
    b.signatures
        .insert(moved.clone(), b.signatures[&key].clone());
    b.digests.push(moved.clone());
    let r = b.check();
    assert!(matches!(verdict_of(&r, &key), Verdict::NotFound(_)));
    assert!(
        reason(&verdict_of(&r, &moved)).contains("moved: it names itself"),
        "{r:?}"
    );

    // Re-signed with another key: unknown fingerprint, or a known fingerprint whose
    // signature does not match.
    let mut b = clean.clone();
    let key = b.digest_at(47);
    let mut d = b.digest_of(47);
    b.resign(&key, &mut d, 2);
    let r = b.check();
    assert!(
        reason(&verdict_of(&r, &key)).contains("unknown key"),
        "{r:?}"
    );
    let mut d = b.digest_of(47);
    d["digestPublicKeyFingerprint"] = json!(public(1).fingerprint);
    let inflated = serde_json::to_vec(&d).unwrap();
    let parsed = auditwatch_integrity::Digest::parse(&inflated).unwrap();
    let message = sign::string_to_sign(&parsed, BUCKET, &key, &sha256_hex(&inflated));
    b.objects.insert(key.clone(), gz(&inflated));
    b.signatures.insert(key.clone(), sign_with(2, &message));
    let r = b.check();
    assert!(
        reason(&verdict_of(&r, &key)).contains("signature does not match"),
        "{r:?}"
    );

    // No signature in the newest digest's metadata (older ones are vouched for by
    // their successors, whose recorded signature must match their metadata).
    let mut b = clean.clone();
    b.signatures.remove(&b.digest_at(47));
    let r = b.check();
    assert!(reason(&verdict_of(&r, &b.digest_at(47))).contains("no signature"));
    let mut b = clean.clone();
    let other = b.signatures[&b.digest_at(3)].clone();
    b.signatures.insert(b.digest_at(9), other);
    let r = b.check();
    assert!(
        reason(&verdict_of(&r, &b.digest_at(9))).contains("differs from the one"),
        "{r:?}"
    );

    // Trailing data after a digest's gzip stream.
    let mut b = clean.clone();
    let key = b.digest_at(40);
    b.objects.get_mut(&key).unwrap().extend(b"junk");
    let r = b.check();
    assert!(reason(&verdict_of(&r, &key)).contains("after the end of the gzip stream"));
}

#[test]
fn a_key_rotation_inside_the_window_is_followed_by_fingerprint() {
    // Digests from hour 10 on are signed with the second key; the two keys' validity
    // windows overlap, as CloudTrail's do at a rotation.
    let mut b = Bucket::build(24, 1, &[]);
    let mut prev = b.digest_at(9);
    for h in 10..24 {
        let k = b.digest_at(h);
        let mut d = b.digest_of(h);
        let p = auditwatch_integrity::gzip::inflate(&b.objects[&prev], 1 << 30).unwrap();
        d["previousDigestHashValue"] = json!(sha256_hex(&p));
        d["previousDigestSignature"] = json!(b.signatures[&prev]);
        b.resign(&k, &mut d, 2);
        prev = k;
    }
    let trail: TrailArn = TRAIL.parse().unwrap();
    let mut old = public(1);
    (old.valid_from, old.valid_to) = (Some(T0 - 86_400), Some(T0 + 11 * 3600));
    let mut new = public(2);
    new.valid_from = Some(T0 + 9 * 3600);
    let keys = KeyRing(vec![old, new]);
    let report = verify(
        &b,
        &Request {
            bucket: BUCKET,
            digest_keys: b.digests.clone(),
            trail: &trail,
            start: T0,
            end: T0 + 48 * 3600,
            keys: &keys,
            max_inflated: 64 << 20,
        },
    );
    assert_eq!(report.failures(), 0, "{:?}", failures(&report));
    assert_eq!(report.counts(FileKind::Digest), (24, 0, 0));
    // With only the old key, the rotated part is refused by name.
    assert!(b.check().failures() >= 14);
}

#[test]
fn restarts_backfill_and_local_copies() {
    // Validation restarted at hour 20: a starting digest is a gap, not tampering.
    let mut b = Bucket::build(30, 1, &[]);
    let key = b.digest_at(20);
    let mut d = b.digest_of(20);
    for f in [
        "previousDigestS3Bucket",
        "previousDigestS3Object",
        "previousDigestHashValue",
        "previousDigestHashAlgorithm",
        "previousDigestSignature",
    ] {
        d[f] = Value::Null;
    }
    let (hash, sig) = b.resign(&key, &mut d, 1);
    // Its successor must record the new digest's hash and signature.
    let next = b.digest_at(21);
    let mut n = b.digest_of(21);
    n["previousDigestHashValue"] = json!(hash);
    n["previousDigestSignature"] = json!(sig);
    b.resign(&next, &mut n, 1);
    // … and so on up the chain: re-sign every later digest.
    let mut prev = next;
    for h in 22..30 {
        let k = b.digest_at(h);
        let mut d = b.digest_of(h);
        let p = auditwatch_integrity::gzip::inflate(&b.objects[&prev], 1 << 30).unwrap();
        d["previousDigestHashValue"] = json!(sha256_hex(&p));
        d["previousDigestSignature"] = json!(b.signatures[&prev]);
        b.resign(&k, &mut d, 1);
        prev = k;
    }
    let r = b.check();
    assert_eq!(r.failures(), 0, "{:?}", failures(&r));
    assert_eq!(r.gaps.len(), 1);
    assert!(r.gaps[0].reason.contains("starting digest"), "{:?}", r.gaps);

    // A backfill digest is checked on its own signature.
    let mut b = Bucket::build(5, 1, &[]);
    let end = T0 + 2 * 3600;
    let key = digest_key(end, "_backfill");
    let mut d = b.digest_of(1);
    d["digestS3Object"] = Value::Null;
    b.put_digest(&key, &mut d, &signer(1));
    let r = b.check();
    assert_eq!(verdict_of(&r, &key), Verdict::Valid);
    b.objects.insert(key.clone(), gz(b"{}"));
    let r = b.check();
    assert!(verdict_of(&r, &key).is_failure());

    // A local copy without signatures: only the newest digest cannot be verified.
    let mut b = Bucket::build(10, 1, &[]);
    b.local = true;
    let r = b.check();
    assert_eq!(r.counts(FileKind::Digest), (9, 0, 1));
    assert!(reason(&verdict_of(&r, &b.digest_at(9))).contains("--export-signatures"));
}

#[test]
fn keys_from_list_public_keys_output() {
    let p = public(1);
    let text = json!({"PublicKeyList": [{
        "Value": base64_encode(&p.value), "Fingerprint": p.fingerprint,
        "ValidityStartTime": "2024-01-01T00:00:00+00:00", "ValidityEndTime": 1_735_689_600.0
    }]});
    let ring = KeyRing::from_json(text.to_string().as_bytes()).unwrap();
    assert_eq!(ring.find(&p.fingerprint).unwrap().pkcs1_der, p.pkcs1_der);
    assert_eq!(ring.0[0].valid_to, Some(1_735_689_600));
    // AWS's documentation sample (in the shared corpus, when present) mixes PKCS#1 and
    // SubjectPublicKeyInfo values.
    let doc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../../shared/corpus/awsdocs-cloudtrail-user-guide/docs/cloudtrail-log-file-custom-validation.md",
    );
    if let Ok(text) = std::fs::read_to_string(&doc) {
        let start = text
            .find("{\n    \"publicKeyList\"")
            .expect("the sample response");
        let end = start + text[start..].find("\n```").expect("its end");
        let ring = KeyRing::from_json(&text.as_bytes()[start..end]).unwrap();
        assert_eq!(ring.0.len(), 3);
        let spki = ring.find("31e8b5433410dfb61a9dc45cc65b22ff").unwrap();
        assert!(spki.pkcs1_der.len() < spki.value.len());
        let pkcs1 = ring.find("8eba5db5bea9b640d1c96a77256fe7f2").unwrap();
        assert_eq!(pkcs1.pkcs1_der, pkcs1.value);
        assert_eq!(pkcs1.valid_from, Some(1_436_317_441));
    }
    assert!(
        KeyRing::from_json(b"{\"PublicKeyList\": [{\"Value\": \"!!\"}]}")
            .unwrap_err()
            .contains("key 1")
    );
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

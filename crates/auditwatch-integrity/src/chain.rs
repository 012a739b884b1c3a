//! Walking digest chains: newest to oldest per account and region, each digest's
//! signature and location, the hash and signature its successor recorded for it, and
//! the log files it lists.
//!
//! Verdicts are stricter than aws-cli's where aws-cli is known to be lenient: a
//! digest named by its successor but missing is reported even when several are
//! missing in a row (aws-cli#7054), gzip with trailing data is invalid, keys are
//! chosen by fingerprint (aws-cli#10073). A starting digest (no previous one) is not
//! tampering: it marks where validation started or was restarted, and the time before
//! it is reported as a gap that cannot be verified.

use std::collections::{BTreeMap, HashSet};

use crate::digest::{Digest, sha256_hex};
use crate::digest_keys::{DigestKey, TrailArn, parse_digest_key};
use crate::gzip;
use crate::keys::KeyRing;
use crate::sign;

/// The signature stored with a digest object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredSignature {
    /// `x-amz-meta-signature` (or the sidecar file of a local copy).
    Found(String),
    /// The object has metadata and no signature in it: invalid.
    Missing,
    /// Not known here (a local copy without its signatures); only digests whose
    /// successor records their signature can be verified.
    Unknown,
}

/// Where digests and logs are read from (a local folder, S3).
pub trait Objects {
    /// The object's bytes; `None` when it does not exist.
    fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, String>;
    /// The signature stored with a digest object.
    fn signature(&self, bucket: &str, key: &str) -> Result<StoredSignature, String>;
}

/// What was found about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Intact.
    Valid,
    /// Altered, replaced, moved or signed by a key that is not CloudTrail's.
    Invalid(String),
    /// Deleted: something that must exist does not.
    NotFound(String),
    /// Could not be checked (the reason says why); not evidence of tampering.
    Unverifiable(String),
}

impl Verdict {
    /// Whether this counts against the logs' integrity.
    pub fn is_failure(&self) -> bool {
        matches!(self, Verdict::Invalid(_) | Verdict::NotFound(_))
    }
}

/// A digest or a log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A digest file.
    Digest,
    /// A log file.
    Log,
}

/// One file's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Digest or log.
    pub kind: FileKind,
    /// `s3://bucket/key`.
    pub location: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The digest's end time, or the digest's for its logs (seconds).
    pub time: Option<i64>,
    /// The chain it belongs to: `account region`.
    pub chain: String,
}

/// A stretch of time no verified digest covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The account and region of the chain.
    pub chain: String,
    /// From (seconds), when known.
    pub from: Option<i64>,
    /// To (seconds).
    pub to: i64,
    /// Why.
    pub reason: String,
}

/// Everything one verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Per file, newest first within each chain.
    pub findings: Vec<Finding>,
    /// Stretches not covered by a verified chain.
    pub gaps: Vec<Gap>,
}

impl Report {
    /// Files that failed (invalid or deleted).
    pub fn failures(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.verdict.is_failure())
            .count()
    }

    /// (valid, failed, unverifiable) for one kind.
    pub fn counts(&self, kind: FileKind) -> (usize, usize, usize) {
        let of = self.findings.iter().filter(|f| f.kind == kind);
        let valid = of.clone().filter(|f| f.verdict == Verdict::Valid).count();
        let failed = of.clone().filter(|f| f.verdict.is_failure()).count();
        let unverifiable = of
            .filter(|f| matches!(f.verdict, Verdict::Unverifiable(_)))
            .count();
        (valid, failed, unverifiable)
    }
}

/// What to verify.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The bucket the digests are in.
    pub bucket: &'a str,
    /// Every digest key listed for the trail (any order; others are ignored).
    pub digest_keys: Vec<String>,
    /// The trail.
    pub trail: &'a TrailArn,
    /// Digests whose window ends in `[start, end]` (seconds) are checked.
    pub start: i64,
    /// See `start`.
    pub end: i64,
    /// CloudTrail's public keys.
    pub keys: &'a KeyRing,
    /// Largest inflated digest or log file.
    pub max_inflated: u64,
}

/// Most minutes between consecutive digests before the gap counts as more than one
/// missing digest (hourly digests, delivered late by up to a quarter hour).
const DIGEST_PERIOD_SLACK: i64 = 75 * 60;

/// What a verified digest says about its predecessor.
struct Link {
    bucket: String,
    key: String,
    hash: Option<String>,
    signature: Option<String>,
    named_by: String,
}

/// Verifies every chain of the trail in the window.
pub fn verify(objects: &dyn Objects, req: &Request<'_>) -> Report {
    let mut report = Report::default();
    let mut chains: BTreeMap<(String, String), Vec<(DigestKey, String)>> = BTreeMap::new();
    for key in &req.digest_keys {
        let Some(k) = parse_digest_key(key) else {
            continue;
        };
        if k.trail != req.trail.name
            || k.home_region != req.trail.home_region
            || k.end < req.start
            || k.end > req.end
        {
            continue;
        }
        chains
            .entry((k.account.clone(), k.region.clone()))
            .or_default()
            .push((k, key.clone()));
    }
    for ((account, region), mut digests) in chains {
        digests.sort_by(|a, b| b.0.end.cmp(&a.0.end).then(b.1.cmp(&a.1)));
        let chain = format!("{account} {region}");
        let (backfill, regular): (Vec<_>, Vec<_>) = digests.into_iter().partition(|d| d.0.backfill);
        Walker {
            objects,
            req,
            report: &mut report,
            chain,
        }
        .walk(&regular, &backfill);
    }
    report
}

struct Walker<'a, 'r> {
    objects: &'a dyn Objects,
    req: &'a Request<'r>,
    report: &'a mut Report,
    chain: String,
}

impl Walker<'_, '_> {
    fn location(&self, bucket: &str, key: &str) -> String {
        format!("s3://{bucket}/{key}")
    }

    fn push(&mut self, kind: FileKind, location: String, verdict: Verdict, time: Option<i64>) {
        self.report.findings.push(Finding {
            kind,
            location,
            verdict,
            time,
            chain: self.chain.clone(),
        });
    }

    fn gap(&mut self, from: Option<i64>, to: i64, reason: String) {
        self.report.gaps.push(Gap {
            chain: self.chain.clone(),
            from,
            to,
            reason,
        });
    }

    fn walk(&mut self, regular: &[(DigestKey, String)], backfill: &[(DigestKey, String)]) {
        let bucket = self.req.bucket.to_string();
        let mut visited: HashSet<String> = HashSet::new();
        let mut next_listed = 0;
        let mut link: Option<Link> = None;
        // The start of the window of the last digest checked (what its predecessor
        // must cover up to).
        let mut covered_from: Option<i64> = None;
        loop {
            let (dbucket, key, from_link) = match link.take() {
                Some(l) => {
                    let end = parse_digest_key(&l.key).map(|k| k.end);
                    if end.is_some_and(|e| e < self.req.start) {
                        break;
                    }
                    (l.bucket.clone(), l.key.clone(), Some(l))
                }
                None => {
                    while next_listed < regular.len() && visited.contains(&regular[next_listed].1) {
                        next_listed += 1;
                    }
                    let Some((_, key)) = regular.get(next_listed) else {
                        break;
                    };
                    (bucket.clone(), key.clone(), None)
                }
            };
            let location = self.location(&dbucket, &key);
            if !visited.insert(key.clone()) {
                self.push(
                    FileKind::Digest,
                    location,
                    Verdict::Invalid("the chain loops back to this digest".into()),
                    None,
                );
                continue;
            }
            let key_end = parse_digest_key(&key).map(|k| k.end);
            let bytes = match self.objects.get(&dbucket, &key) {
                Ok(b) => b,
                Err(e) => {
                    self.push(
                        FileKind::Digest,
                        location,
                        Verdict::Unverifiable(e),
                        key_end,
                    );
                    continue;
                }
            };
            let Some(bytes) = bytes else {
                let reason = match &from_link {
                    Some(l) => format!("deleted: {} names it as the previous digest", l.named_by),
                    None => "listed, but gone when read".to_string(),
                };
                self.push(
                    FileKind::Digest,
                    location,
                    Verdict::NotFound(reason),
                    key_end,
                );
                self.report_missing_run(regular, &visited, next_listed, key_end, covered_from);
                covered_from = None;
                continue;
            };
            let checked = self.check_digest(&dbucket, &key, &bytes, from_link.as_ref());
            let Some(digest) = checked else {
                covered_from = None;
                continue;
            };
            covered_from = digest.start_unix();
            match digest.previous() {
                Some((pb, pk)) => {
                    link = Some(Link {
                        bucket: pb.to_string(),
                        key: pk.to_string(),
                        hash: digest.previous_digest_hash_value.clone(),
                        signature: digest.previous_digest_signature.clone(),
                        named_by: self.location(&dbucket, &key),
                    });
                }
                None => {
                    if digest.start_unix().is_some_and(|s| s > self.req.start) {
                        self.gap(
                            None,
                            digest.start_unix().unwrap_or_default(),
                            format!(
                                "{} is a starting digest: log file validation was started or restarted then (or logging stopped before it); earlier logs are not covered by this chain",
                                self.location(&dbucket, &key)
                            ),
                        );
                    }
                }
            }
        }
        for (k, key) in backfill {
            let bytes = match self.objects.get(&bucket, key) {
                Ok(Some(b)) => b,
                Ok(None) => continue,
                Err(e) => {
                    let location = self.location(&bucket, key);
                    self.push(
                        FileKind::Digest,
                        location,
                        Verdict::Unverifiable(e),
                        Some(k.end),
                    );
                    continue;
                }
            };
            self.check_digest(&bucket, key, &bytes, None);
        }
    }

    /// Reports how much is missing after a deleted digest, judging by the next older
    /// digest still present.
    fn report_missing_run(
        &mut self,
        regular: &[(DigestKey, String)],
        visited: &HashSet<String>,
        next_listed: usize,
        missing_end: Option<i64>,
        covered_from: Option<i64>,
    ) {
        let older = regular[next_listed..]
            .iter()
            .find(|(k, key)| !visited.contains(key) && missing_end.is_none_or(|m| k.end < m));
        let to = covered_from.or(missing_end).unwrap_or_default();
        match (older, missing_end) {
            (Some((k, _)), Some(m)) if m - k.end > DIGEST_PERIOD_SLACK => {
                let hours = (m - k.end + 1800) / 3600;
                self.gap(
                    Some(k.end),
                    to,
                    format!("about {hours} consecutive digests are missing: logs delivered in this window cannot be verified"),
                );
            }
            (Some((k, _)), _) => self.gap(
                Some(k.end),
                to,
                "a digest is missing: logs delivered in this window cannot be verified".into(),
            ),
            (None, _) => self.gap(
                None,
                to,
                "a digest is missing and no older digest remains in the window".into(),
            ),
        }
    }

    /// Checks one digest and, when it is valid, its log files. Returns the digest
    /// when its link to the previous one may be followed (valid, or intact but with
    /// its own signature unknown).
    fn check_digest(
        &mut self,
        bucket: &str,
        key: &str,
        bytes: &[u8],
        from_link: Option<&Link>,
    ) -> Option<Digest> {
        let location = self.location(bucket, key);
        let key_end = parse_digest_key(key).map(|k| k.end);
        let fail = |this: &mut Self, reason: String| {
            this.push(
                FileKind::Digest,
                location.clone(),
                Verdict::Invalid(reason),
                key_end,
            );
            None
        };
        let inflated = match gzip::inflate(bytes, self.req.max_inflated) {
            Ok(b) => b,
            Err(e) => return fail(self, e.to_string()),
        };
        let hash = sha256_hex(&inflated);
        let digest = match Digest::parse(&inflated) {
            Ok(d) => d,
            Err(e) => return fail(self, e),
        };
        if digest.digest_s3_bucket != bucket || digest.digest_s3_object != key {
            return fail(
                self,
                format!(
                    "moved: it names itself s3://{}/{}",
                    digest.digest_s3_bucket, digest.digest_s3_object
                ),
            );
        }
        if let Some(l) = from_link
            && l.hash
                .as_deref()
                .is_some_and(|h| !h.eq_ignore_ascii_case(&hash))
        {
            return fail(
                self,
                format!(
                    "modified: its hash differs from the one {} recorded",
                    l.named_by
                ),
            );
        }
        if digest.digest_signature_algorithm != "SHA256withRSA" {
            return fail(
                self,
                format!(
                    "unknown signature algorithm `{}`",
                    digest.digest_signature_algorithm
                ),
            );
        }
        let stored = match self.objects.signature(bucket, key) {
            Ok(s) => s,
            Err(e) => {
                self.push(
                    FileKind::Digest,
                    location,
                    Verdict::Unverifiable(e),
                    key_end,
                );
                return None;
            }
        };
        let recorded = from_link.and_then(|l| l.signature.clone());
        let signature = match (&stored, recorded) {
            (StoredSignature::Found(s), Some(r)) if !s.eq_ignore_ascii_case(&r) => {
                let by = from_link.map_or("", |l| l.named_by.as_str()).to_string();
                return fail(
                    self,
                    format!("its signature differs from the one {by} recorded"),
                );
            }
            (StoredSignature::Found(s), _) => s.clone(),
            (_, Some(r)) => r,
            (StoredSignature::Missing, None) => {
                return fail(self, "no signature in the object's metadata".into());
            }
            (StoredSignature::Unknown, None) => {
                self.push(
                    FileKind::Digest,
                    location,
                    Verdict::Unverifiable(
                        "its signature is not known here (a local copy: save signatures with `verify --export-signatures`)".into(),
                    ),
                    key_end,
                );
                // Its link may still be followed: the previous digest's signature is
                // checked against CloudTrail's key, whoever recorded it.
                return Some(digest);
            }
        };
        let Some(public) = self.req.keys.find(&digest.digest_public_key_fingerprint) else {
            return fail(
                self,
                format!(
                    "signed by an unknown key (fingerprint {}): not one of the public keys given",
                    digest.digest_public_key_fingerprint
                ),
            );
        };
        let message = sign::string_to_sign(&digest, bucket, key, &hash);
        if let Err(e) = sign::verify(public, message.as_bytes(), &signature) {
            return fail(
                self,
                format!("{e}: the digest was modified or not signed by CloudTrail"),
            );
        }
        self.push(FileKind::Digest, location, Verdict::Valid, key_end);
        self.check_logs(&digest, key_end);
        Some(digest)
    }

    fn check_logs(&mut self, digest: &Digest, time: Option<i64>) {
        for log in &digest.log_files {
            let location = self.location(&log.s3_bucket, &log.s3_object);
            let verdict = match self.objects.get(&log.s3_bucket, &log.s3_object) {
                Err(e) => Verdict::Unverifiable(e),
                Ok(None) => Verdict::NotFound("deleted: its digest lists it".into()),
                Ok(Some(bytes)) => match gzip::inflate(&bytes, self.req.max_inflated) {
                    Err(e) => Verdict::Invalid(e.to_string()),
                    Ok(inflated) => {
                        if log.hash_algorithm != "SHA-256" {
                            Verdict::Invalid(format!(
                                "unknown hash algorithm `{}`",
                                log.hash_algorithm
                            ))
                        } else if sha256_hex(&inflated).eq_ignore_ascii_case(&log.hash_value) {
                            Verdict::Valid
                        } else {
                            Verdict::Invalid("modified: its hash differs from its digest's".into())
                        }
                    }
                },
            };
            self.push(FileKind::Log, location, verdict, time);
        }
    }
}

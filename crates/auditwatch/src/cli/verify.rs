//! `auditwatch verify`: CloudTrail log-file integrity over a window, from S3 or from a
//! local copy of the bucket — every digest's signature, the chain between digests,
//! and the hash of every log file listed. Exit status 1 when anything is invalid or
//! deleted.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use auditwatch_aws::AwsSettings;
use auditwatch_integrity::chain::{FileKind, Objects, Request, StoredSignature};
use auditwatch_integrity::digest_keys::{TrailArn, parse_digest_key};
use auditwatch_integrity::{KeyRing, Report, Verdict};
use auditwatch_sources::digests::{
    S3Objects, digest_days, digest_keys, public_keys, records, regions_of,
};
use auditwatch_sources::s3::S3Url;
use serde_json::json;

use super::{Outcome, open_existing_store, runtime};
use crate::config::Config;

/// Largest digest or log file once inflated.
const MAX_INFLATED: u64 = 1 << 30;
/// The signatures file a local check reads by default.
pub const SIGNATURES_FILE: &str = "auditwatch-signatures.json";

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// `s3://bucket[/prefix]`, or a folder holding a copy of the bucket (`aws s3 sync`).
    location: String,
    /// The trail: arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME.
    #[arg(long)]
    trail_arn: String,
    /// Check digests that end from this time (RFC 3339, YYYY-MM-DD or relative, e.g. 30d).
    #[arg(long, default_value = "30d")]
    start: String,
    /// … up to this time (default: now).
    #[arg(long)]
    end: Option<String>,
    /// The JSON `aws cloudtrail list-public-keys` prints; without it, the keys are
    /// asked from CloudTrail's ListPublicKeys in each region (standard AWS
    /// configuration; AWS_ENDPOINT_URL_CLOUDTRAIL for another endpoint).
    #[arg(long)]
    public_keys: Option<PathBuf>,
    /// With s3://: also save the digests' signatures (kept in S3 object metadata,
    /// which `aws s3 sync` does not copy) to FILE, for checking a local copy later.
    #[arg(long)]
    export_signatures: Option<PathBuf>,
    /// With a folder: the signatures saved by --export-signatures (default:
    /// FOLDER/auditwatch-signatures.json when it exists).
    #[arg(long)]
    signatures: Option<PathBuf>,
    /// List valid files too.
    #[arg(long)]
    verbose: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Signatures saved from S3 for a local copy.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SignatureFile {
    bucket: String,
    signatures: HashMap<String, String>,
}

pub fn run(args: VerifyArgs, config: &Config) -> Result<Outcome> {
    let trail: TrailArn = args
        .trail_arn
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let now = chrono::Utc::now();
    let time = |s: &str, end: bool, what: &str| {
        auditwatch_event::timearg::parse(s, now, end)
            .map(|us| us.div_euclid(1_000_000))
            .map_err(|e| anyhow::anyhow!("--{what}: {e}"))
    };
    let start = time(&args.start, false, "start")?;
    let end = match &args.end {
        Some(e) => time(e, true, "end")?,
        None => now.timestamp(),
    };
    if end < start {
        bail!("--end is before --start");
    }
    let file_keys = match &args.public_keys {
        Some(p) => {
            let text = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            Some(KeyRing::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?)
        }
        None => None,
    };
    let rt = runtime()?;
    let report = if args.location.starts_with("s3://") {
        if args.signatures.is_some() {
            bail!("--signatures is for a local copy; S3 keeps the signatures itself");
        }
        let url: S3Url = args
            .location
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?;
        rt.block_on(verify_s3(
            &url,
            &trail,
            start,
            end,
            file_keys,
            args.export_signatures.as_deref(),
        ))?
    } else {
        if args.export_signatures.is_some() {
            bail!("--export-signatures reads them from S3: give an s3:// location");
        }
        let dir = PathBuf::from(&args.location);
        if !dir.is_dir() {
            bail!(
                "{}: not a folder (or use s3://bucket/prefix)",
                dir.display()
            );
        }
        let signatures = args.signatures.clone().or_else(|| {
            let p = dir.join(SIGNATURES_FILE);
            p.is_file().then_some(p)
        });
        verify_local(
            &rt,
            &dir,
            signatures.as_deref(),
            &trail,
            start,
            end,
            file_keys,
        )?
    };
    print(&report, &args, start, end);
    if config.data_dir.join("catalog.db").is_file() {
        store(&report, &args.trail_arn, start, end, config)?;
        eprintln!(
            "results stored in {} (the Integrity page shows them)",
            config.data_dir.display()
        );
    }
    let failures = report.failures();
    if failures > 0 {
        bail!("{failures} file(s) invalid or deleted");
    }
    Ok(Outcome::Success)
}

async fn verify_s3(
    url: &S3Url,
    trail: &TrailArn,
    start: i64,
    end: i64,
    file_keys: Option<KeyRing>,
    export: Option<&Path>,
) -> Result<Report> {
    let client = AwsSettings::default().s3().await;
    let (first, last) = digest_days(start, end);
    let keys = digest_keys(&client, &url.bucket, &url.prefix, first, last).await?;
    let ring = match file_keys {
        Some(k) => k,
        None => public_keys(&AwsSettings::default(), &regions_of(&keys), start, end)
            .await
            .context("asking CloudTrail for its public keys (or pass --public-keys FILE)")?,
    };
    let objects = S3Objects::new(client, tokio::runtime::Handle::current());
    let bucket = url.bucket.clone();
    let trail = trail.clone();
    let (report, objects) = tokio::task::spawn_blocking(move || {
        let req = Request {
            bucket: &bucket,
            digest_keys: keys,
            trail: &trail,
            start,
            end,
            keys: &ring,
            max_inflated: MAX_INFLATED,
        };
        (auditwatch_integrity::verify(&objects, &req), objects)
    })
    .await?;
    if let Some(path) = export {
        let file = SignatureFile {
            bucket: url.bucket.clone(),
            signatures: objects.seen.lock().expect("signature lock").clone(),
        };
        std::fs::write(path, serde_json::to_vec_pretty(&file)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "saved {} signatures to {}",
            file.signatures.len(),
            path.display()
        );
    }
    Ok(report)
}

/// A local copy: keys map to files by the part from `AWSLogs/` on.
struct LocalObjects {
    roots: Vec<PathBuf>,
    signatures: Option<HashMap<String, String>>,
}

impl Objects for LocalObjects {
    fn get(&self, _bucket: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        let Some(rel) = auditwatch_catalog::integrity::key_of(key) else {
            return Ok(None);
        };
        for root in &self.roots {
            let path = root.join(rel);
            if path.is_file() {
                return std::fs::read(&path)
                    .map(Some)
                    .map_err(|e| format!("reading {}: {e}", path.display()));
            }
        }
        Ok(None)
    }

    fn signature(&self, _bucket: &str, key: &str) -> Result<StoredSignature, String> {
        // A digest the signatures file does not list (saved before it arrived) is as
        // unknown as one without the file: its successor may still vouch for it.
        Ok(self
            .signatures
            .as_ref()
            .and_then(|s| s.get(key))
            .map_or(StoredSignature::Unknown, |sig| {
                StoredSignature::Found(sig.clone())
            }))
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            walk(&e.path(), out)?;
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

fn verify_local(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    signatures: Option<&Path>,
    trail: &TrailArn,
    start: i64,
    end: i64,
    file_keys: Option<KeyRing>,
) -> Result<Report> {
    let mut files = Vec::new();
    walk(dir, &mut files).with_context(|| format!("reading {}", dir.display()))?;
    let sidecar: Option<SignatureFile> = match signatures {
        Some(p) => {
            let text = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            Some(serde_json::from_slice(&text).with_context(|| {
                format!(
                    "{}: not a signatures file from --export-signatures",
                    p.display()
                )
            })?)
        }
        None => None,
    };
    // The bucket and prefix the copy came from, as its digests name them.
    let mut roots = BTreeSet::new();
    let mut origin: Option<(String, String)> = None;
    let mut rels = Vec::new();
    for f in &files {
        let text = f.to_string_lossy();
        let Some(i) = text.find("AWSLogs/") else {
            continue;
        };
        let rel = text[i..].to_string();
        if parse_digest_key(&rel).is_none() {
            continue;
        }
        roots.insert(PathBuf::from(&text[..i]));
        if origin.is_none()
            && let Ok(bytes) = std::fs::read(f)
            && let Ok(inflated) = auditwatch_integrity::gzip::inflate(&bytes, MAX_INFLATED)
            && let Ok(d) = auditwatch_integrity::Digest::parse(&inflated)
            && let Some(j) = d.digest_s3_object.find("AWSLogs/")
        {
            origin = Some((
                d.digest_s3_bucket.clone(),
                d.digest_s3_object[..j].to_string(),
            ));
        }
        rels.push(rel);
    }
    let Some((bucket, prefix)) = origin else {
        bail!(
            "{}: no readable CloudTrail digest files found",
            dir.display()
        );
    };
    if let Some(s) = &sidecar
        && s.bucket != bucket
    {
        bail!(
            "the signatures file is for bucket {}, the digests name {bucket}",
            s.bucket
        );
    }
    let keys: Vec<String> = rels.iter().map(|r| format!("{prefix}{r}")).collect();
    let ring = match file_keys {
        Some(k) => k,
        None => rt
            .block_on(public_keys(
                &AwsSettings::default(),
                &regions_of(&keys),
                start,
                end,
            ))
            .context("asking CloudTrail for its public keys (or pass --public-keys FILE)")?,
    };
    let objects = LocalObjects {
        roots: roots.into_iter().collect(),
        signatures: sidecar.map(|s| s.signatures),
    };
    let req = Request {
        bucket: &bucket,
        digest_keys: keys,
        trail,
        start,
        end,
        keys: &ring,
        max_inflated: MAX_INFLATED,
    };
    Ok(auditwatch_integrity::verify(&objects, &req))
}

/// Keeps the verdicts in the data directory's catalog, where the UI and the events
/// read them.
fn store(report: &Report, trail: &str, start: i64, end: i64, config: &Config) -> Result<()> {
    let (files, gaps) = records(report, trail, chrono::Utc::now().timestamp());
    let store = open_existing_store(config)?;
    store
        .catalog()?
        .record_integrity(trail, start, end, &files, &gaps)
        .context("storing the results")?;
    Ok(())
}

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn verdict_text(v: &Verdict) -> (&'static str, Option<&str>) {
    match v {
        Verdict::Valid => ("valid", None),
        Verdict::Invalid(r) => ("INVALID", Some(r)),
        Verdict::NotFound(r) => ("not found", Some(r)),
        Verdict::Unverifiable(r) => ("not verified", Some(r)),
    }
}

fn print(report: &Report, args: &VerifyArgs, start: i64, end: i64) {
    if args.json {
        let findings: Vec<_> = report
            .findings
            .iter()
            .map(|f| {
                let (verdict, reason) = verdict_text(&f.verdict);
                json!({
                    "kind": match f.kind { FileKind::Digest => "digest", FileKind::Log => "log" },
                    "location": f.location,
                    "verdict": verdict,
                    "reason": reason,
                    "time": f.time.map(iso),
                })
            })
            .collect();
        let gaps: Vec<_> = report
            .gaps
            .iter()
            .map(|g| json!({"chain": g.chain, "from": g.from.map(iso), "to": iso(g.to), "reason": g.reason}))
            .collect();
        let count = |k| {
            let (valid, failed, unverified) = report.counts(k);
            json!({"valid": valid, "failed": failed, "unverified": unverified})
        };
        let doc = json!({
            "trail": args.trail_arn, "start": iso(start), "end": iso(end),
            "digests": count(FileKind::Digest), "logs": count(FileKind::Log),
            "findings": findings, "gaps": gaps,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return;
    }
    for f in &report.findings {
        if f.verdict == Verdict::Valid && !args.verbose {
            continue;
        }
        let kind = match f.kind {
            FileKind::Digest => "Digest file",
            FileKind::Log => "Log file",
        };
        match verdict_text(&f.verdict) {
            (v, Some(r)) => println!("{kind}\t{}\t{v}: {r}", f.location),
            (v, None) => println!("{kind}\t{}\t{v}", f.location),
        }
    }
    println!();
    println!("Results requested for {} to {}", iso(start), iso(end));
    for (kind, name) in [
        (FileKind::Digest, "digest files"),
        (FileKind::Log, "log files"),
    ] {
        let (valid, failed, unverified) = report.counts(kind);
        let mut line = format!("{valid}/{} {name} valid", valid + failed + unverified);
        if failed > 0 {
            line.push_str(&format!(
                ", {failed}/{} {name} INVALID",
                valid + failed + unverified
            ));
        }
        if unverified > 0 {
            line.push_str(&format!(", {unverified} not verified"));
        }
        println!("{line}");
    }
    for g in &report.gaps {
        println!(
            "Gap in {}: {} to {}: {}",
            g.chain,
            g.from.map_or_else(|| "(before)".to_string(), iso),
            iso(g.to),
            g.reason
        );
    }
}

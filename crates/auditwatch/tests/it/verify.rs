//! `auditwatch verify` over a local copy of a trail bucket: signed with the
//! integrity crate's test key, checked with and without the signatures file, then
//! tampered with.

use std::path::Path;

use auditwatch_integrity::KeyRing;
use auditwatch_integrity::testing::{Bucket, Layout, Signer};

use crate::support::run_text;

const TRAIL: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/org-trail";
/// 2024-03-01T00:00:00Z
const T0: i64 = 1_709_251_200;

fn signer() -> Signer {
    Signer::from_der(include_bytes!(
        "../../../auditwatch-integrity/tests/data/test-key-1.der"
    ))
}

fn layout() -> Layout {
    Layout {
        bucket: "trail-bucket".into(),
        prefix: "logs/".into(),
        org: "o-abc123/".into(),
        account: "111122223333".into(),
        region: "eu-west-1".into(),
        trail: "org-trail".into(),
        home_region: "us-east-1".into(),
    }
}

/// Writes the bucket as `aws s3 sync s3://trail-bucket/logs/ DIR` would.
fn write_copy(b: &Bucket, dir: &Path) {
    for (key, bytes) in &b.objects {
        let path = dir.join(key.strip_prefix("logs/").unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

fn verify(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let keys = dir.parent().unwrap().join("keys.json");
    let (d, k) = (dir.display().to_string(), keys.display().to_string());
    let mut args = vec![
        "verify",
        &d,
        "--trail-arn",
        TRAIL,
        "--start",
        "2024-03-01",
        "--end",
        "2024-03-02",
        "--public-keys",
        &k,
    ];
    args.extend_from_slice(extra);
    run_text(&dir.parent().unwrap().join("data"), &args)
}

#[test]
fn a_local_copy_verifies_and_every_change_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("copy");
    let b = Bucket::chain(&layout(), &signer(), T0, 24, 2, &[7]);
    write_copy(&b, &copy);
    std::fs::write(
        tmp.path().join("keys.json"),
        KeyRing(vec![signer().public()]).to_json().to_string(),
    )
    .unwrap();

    // Without the signatures S3 kept, the newest digest cannot be checked; the rest
    // are vouched for by their successors.
    let (code, out, err) = verify(&copy, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("23/24 digest files valid, 1 not verified"),
        "{out}"
    );
    assert!(out.contains("44/44 log files valid"), "{out}");
    assert!(out.contains("--export-signatures"), "{out}");

    // With them (the file --export-signatures writes), everything is proven.
    let sidecar = serde_json::json!({"bucket": "trail-bucket", "signatures": b.signatures});
    std::fs::write(copy.join("auditwatch-signatures.json"), sidecar.to_string()).unwrap();
    let (code, out, _) = verify(&copy, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("24/24 digest files valid\n46/46 log files valid"),
        "{out}"
    );
    let (code, json, _) = verify(&copy, &["--json"]);
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["digests"]["valid"], 24);
    assert_eq!(report["logs"]["valid"], 46);

    // A changed log file: exit 1, named with the reason.
    let log = b.digest_json(&layout().digest_key(T0 + 5 * 3600, ""))["logFiles"][0]["s3Object"]
        .as_str()
        .unwrap()
        .to_string();
    let path = copy.join(log.strip_prefix("logs/").unwrap());
    std::fs::write(
        &path,
        auditwatch_integrity::testing::gz(b"{\"Records\":[]}"),
    )
    .unwrap();
    let (code, out, err) = verify(&copy, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "Log file\ts3://trail-bucket/{log}\tINVALID: modified"
        )),
        "{out}"
    );
    assert!(err.contains("1 file(s) invalid or deleted"), "{err}");

    // A deleted digest: named by its successor, with the window it leaves unproven.
    std::fs::write(&path, &b.objects[&log]).unwrap();
    let digest = layout().digest_key(T0 + 12 * 3600, "");
    std::fs::remove_file(copy.join(digest.strip_prefix("logs/").unwrap())).unwrap();
    let (code, out, _) = verify(&copy, &[]);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!(
            "Digest file\ts3://trail-bucket/{digest}\tnot found: deleted"
        )),
        "{out}"
    );
    assert!(out.contains("Gap in 111122223333 eu-west-1"), "{out}");

    // Bad arguments are named.
    let (code, _, err) = verify(&copy, &["--export-signatures", "x.json"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--export-signatures reads them from S3"),
        "{err}"
    );
    let (code, _, err) = run_text(
        tmp.path(),
        &["verify", "s3://b", "--trail-arn", "arn:aws:s3:::b"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("is not a trail ARN"), "{err}");
}

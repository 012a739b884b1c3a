//! The CloudTrail S3 layout: what an object key (or a local path copied from S3) says
//! about the object.
//!
//! `[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz`,
//! `CloudTrail-Digest/` for digest files, `CloudTrail-Insight/` for Insights events, and
//! other services' folders (Config, ELB …) that share the bucket.

/// What kind of object a key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectKind {
    /// A CloudTrail log file (management, data, network-activity events).
    Events,
    /// A CloudTrail Insights log file.
    Insights,
    /// A digest file (`CloudTrail-Digest/`), used for integrity checks.
    Digest,
    /// Another service's folder in the same bucket (named).
    OtherService(String),
}

/// What the key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The kind of object.
    pub kind: ObjectKind,
    /// The organisation id for organisation trails (`o-…`).
    pub org_id: Option<String>,
    /// The 12-digit account the object belongs to.
    pub account: String,
    /// The region folder, when present.
    pub region: Option<String>,
    /// The date folders `YYYY/MM/DD`, when present.
    pub date: Option<(i32, u32, u32)>,
}

/// Reads a key or path in the CloudTrail layout; `None` when it does not follow it.
pub fn parse_key(key: &str) -> Option<KeyInfo> {
    let parts: Vec<&str> = key.split(['/', '\\']).collect();
    let at = parts.iter().rposition(|p| *p == "AWSLogs")?;
    let mut rest = &parts[at + 1..];
    let mut org_id = None;
    if rest.first().is_some_and(|p| p.starts_with("o-")) {
        org_id = Some(rest[0].to_string());
        rest = &rest[1..];
    }
    let account = *rest.first()?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let service = *rest.get(1)?;
    let kind = match service {
        "CloudTrail" => ObjectKind::Events,
        "CloudTrail-Insight" => ObjectKind::Insights,
        "CloudTrail-Digest" => ObjectKind::Digest,
        other => ObjectKind::OtherService(other.to_string()),
    };
    let region = rest
        .get(2)
        .filter(|r| rest.len() > 3 && !r.is_empty())
        .map(|r| r.to_string());
    let date = match rest.get(3..6) {
        Some([y, m, d]) => match (y.parse(), m.parse(), d.parse()) {
            (Ok(y), Ok(m), Ok(d)) if y > 1999 && (1..=12).contains(&m) && (1..=31).contains(&d) => {
                Some((y, m, d))
            }
            _ => None,
        },
        _ => None,
    };
    Some(KeyInfo {
        kind,
        org_id,
        account: account.to_string(),
        region,
        date,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let k = parse_key(
            "logs/AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2024/05/06/x.json.gz",
        )
        .unwrap();
        assert_eq!(k.kind, ObjectKind::Events);
        assert_eq!(k.org_id.as_deref(), Some("o-abc123"));
        assert_eq!(k.account, "111122223333");
        assert_eq!(k.region.as_deref(), Some("us-east-1"));
        assert_eq!(k.date, Some((2024, 5, 6)));
        let d = parse_key("AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2024/05/06/d.json.gz")
            .unwrap();
        assert_eq!(d.kind, ObjectKind::Digest);
        let c = parse_key("AWSLogs/111122223333/Config/eu-west-1/2024/5/6/ConfigHistory/x.json.gz")
            .unwrap();
        assert_eq!(c.kind, ObjectKind::OtherService("Config".into()));
        assert!(parse_key("random/file.json").is_none());
        assert!(parse_key("AWSLogs/abc/CloudTrail/x").is_none());
    }
}

//! Digest object keys: `…/AWSLogs/[o-org/]<account>/CloudTrail-Digest/<region>/<y>/<m>/<d>/
//! <account>_CloudTrail-Digest_<region>_<trail>_<home-region>_<YYYYMMDDTHHMMSSZ>.json.gz`
//! (backfill digests end `_backfill.json.gz`).

/// What a digest key says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestKey {
    /// The account in the file name.
    pub account: String,
    /// The region that delivered it.
    pub region: String,
    /// The trail's name.
    pub trail: String,
    /// The trail's home region.
    pub home_region: String,
    /// The end of its window (seconds since the epoch).
    pub end: i64,
    /// A backfill digest (delivered later for a window whose digest was missing).
    pub backfill: bool,
}

/// Parses a digest key (`None`: not a digest key).
pub fn parse_digest_key(key: &str) -> Option<DigestKey> {
    let name = key.rsplit('/').next()?;
    let (stem, backfill) = match name.strip_suffix("_backfill.json.gz") {
        Some(s) => (s, true),
        None => (name.strip_suffix(".json.gz")?, false),
    };
    let (account, rest) = stem.split_once("_CloudTrail-Digest_")?;
    let (region, rest) = rest.split_once('_')?;
    let (rest, stamp) = rest.rsplit_once('_')?;
    let (trail, home_region) = rest.rsplit_once('_')?;
    let end = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ")
        .ok()?
        .and_utc()
        .timestamp();
    Some(DigestKey {
        account: account.to_string(),
        region: region.to_string(),
        trail: trail.to_string(),
        home_region: home_region.to_string(),
        end,
        backfill,
    })
}

/// A trail ARN: `arn:aws:cloudtrail:<home-region>:<account>:trail/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailArn {
    /// Home region.
    pub home_region: String,
    /// The account that owns the trail.
    pub account: String,
    /// The trail's name.
    pub name: String,
}

impl std::str::FromStr for TrailArn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("`{s}` is not a trail ARN (arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME)");
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" || parts[2] != "cloudtrail" {
            return Err(bad());
        }
        let name = parts[5].strip_prefix("trail/").ok_or_else(bad)?;
        if parts[3].is_empty() || parts[4].len() != 12 || name.is_empty() {
            return Err(bad());
        }
        Ok(TrailArn {
            home_region: parts[3].to_string(),
            account: parts[4].to_string(),
            name: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_keys_and_trail_arns() {
        let k = parse_digest_key("p/AWSLogs/o-abc/111122223333/CloudTrail-Digest/eu-west-1/2015/08/17/111122223333_CloudTrail-Digest_eu-west-1_my_trail_us-east-2_20150817T150131Z.json.gz").unwrap();
        assert_eq!(
            (
                k.account.as_str(),
                k.region.as_str(),
                k.trail.as_str(),
                k.home_region.as_str()
            ),
            ("111122223333", "eu-west-1", "my_trail", "us-east-2")
        );
        assert_eq!(k.end, 1_439_823_691);
        assert!(!k.backfill);
        let b = parse_digest_key("111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20150817T150131Z_backfill.json.gz").unwrap();
        assert!(b.backfill);
        assert!(
            parse_digest_key("111122223333_CloudTrail_us-east-1_20150817T1500Z_x.json.gz")
                .is_none()
        );
        let a: TrailArn = "arn:aws:cloudtrail:us-east-2:111122223333:trail/my_trail"
            .parse()
            .unwrap();
        assert_eq!(
            (a.account.as_str(), a.name.as_str()),
            ("111122223333", "my_trail")
        );
        assert!("arn:aws:s3:::bucket".parse::<TrailArn>().is_err());
    }
}

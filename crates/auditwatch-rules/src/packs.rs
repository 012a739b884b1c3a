//! Built-in rule packs, named `builtin:<name>`:
//!
//! - `cis`: the CIS AWS Foundations Benchmark v3.0.0 monitoring controls 4.1–4.15, with
//!   the benchmark's filter patterns as published — quirks included: 4.1 ORs two `!=`
//!   terms, so it matches nearly every record; 4.13's `eventSource` term binds only to
//!   `CreateRoute` (`&&` binds tighter than `||`). docs/DETECTION.md has the details.
//! - `securityhub`: AWS Security Hub's CloudWatch.1–14 variants of the same controls
//!   (4.1 without the `!=` terms, 4.2 only for successful IAM-user sign-ins, 4.13
//!   without `eventSource`). 4.15 has no Security Hub variant.
//!
//! Both come with the alarm the benchmark prescribes for each control: the count of
//! matches (`Sum` of `1`) `>= 1` in a 300 s period, 1 of 1, missing data not breaching.

use crate::alarm::{AlarmSpec, Comparison, Statistic, TreatMissing};
use crate::rulefile::{self, Rule};

/// The packs: name and rules file.
const PACKS: &[(&str, &str)] = &[
    ("cis", include_str!("../packs/cis-3.0.json")),
    ("securityhub", include_str!("../packs/securityhub.json")),
];

/// The names of the built-in packs.
pub fn names() -> impl Iterator<Item = &'static str> {
    PACKS.iter().map(|(n, _)| *n)
}

/// The rules of a built-in pack (`cis`, `securityhub`), or `None` for another name.
pub fn pack(name: &str) -> Option<Vec<Rule>> {
    let (_, text) = PACKS.iter().find(|(n, _)| *n == name)?;
    let (rules, errors) = rulefile::load(text, &format!("builtin:{name}"));
    assert!(errors.is_empty(), "built-in pack {name}: {errors:?}");
    Some(rules)
}

/// The alarm the CIS benchmark prescribes for each of its metric filters.
pub fn cis_alarm() -> AlarmSpec {
    AlarmSpec {
        period_secs: 300,
        statistic: Statistic::Sum,
        comparison: Comparison::GreaterOrEqual,
        threshold: 1.0,
        evaluation_periods: 1,
        datapoints_to_alarm: 1,
        treat_missing: TreatMissing::NotBreaching,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_load_whole() {
        let cis = pack("cis").unwrap();
        assert_eq!(cis.len(), 15);
        assert_eq!(cis[0].id, "CIS.4.1");
        assert_eq!(cis[14].id, "CIS.4.15");
        assert_eq!(pack("securityhub").unwrap().len(), 14);
        assert!(pack("nist").is_none());
        assert!(cis_alarm().check().is_ok());
    }

    #[test]
    fn cis_quirks_behave_as_published() {
        let cis = pack("cis").unwrap();
        let rule = |id: &str| cis.iter().find(|r| r.id == id).unwrap();
        let ev = serde_json::json!({"eventName": "DescribeInstances", "eventSource": "ec2.amazonaws.com",
            "sourceIPAddress": "10.0.0.1"});
        // 4.1: `|| $.sourceIPAddress != …` matches any ordinary call.
        assert!(rule("CIS.4.1").pattern.matches(&ev));
        // 4.13: a route-table deletion from any source matches; CreateRoute needs ec2.
        let del = serde_json::json!({"eventName": "DeleteRouteTable", "eventSource": "x"});
        let create = serde_json::json!({"eventName": "CreateRoute", "eventSource": "x"});
        assert!(rule("CIS.4.13").pattern.matches(&del));
        assert!(!rule("CIS.4.13").pattern.matches(&create));
    }
}

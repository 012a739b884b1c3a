//! Histogram intervals: parsed from `5m`-style text, chosen for a span, and labelled.

use auditwatch_event::timearg;

use crate::ApiError;

/// A histogram interval parsed from `30s`, `5m`, `1h`, `1d`, `1w` (µs).
pub fn parse_interval(s: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::invalid(format!(
            "interval {s:?} must be a number and a unit: 30s, 5m, 1h, 1d, 1w"
        ))
    };
    // Split off the last character (not byte: the input may be any UTF-8).
    let unit = s.chars().last().ok_or_else(bad)?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    let unit_us = timearg::unit_micros(unit).ok_or_else(bad)?;
    if !(1..=10_000).contains(&n) {
        return Err(bad());
    }
    Ok(n * unit_us)
}

/// A round interval giving about 60–150 buckets over `span_us`.
pub fn auto_interval(span_us: i64) -> i64 {
    const STEPS: [i64; 12] = [
        60_000_000,
        300_000_000,
        900_000_000,
        1_800_000_000,
        3_600_000_000,
        3 * 3_600_000_000,
        6 * 3_600_000_000,
        12 * 3_600_000_000,
        86_400_000_000,
        2 * 86_400_000_000,
        7 * 86_400_000_000,
        30 * 86_400_000_000,
    ];
    STEPS
        .into_iter()
        .find(|s| span_us / s <= 150)
        .unwrap_or(STEPS[STEPS.len() - 1])
}

/// A short label for an interval in µs (`5m`, `1h`, `1d`).
pub fn interval_label(us: i64) -> String {
    for (unit, size) in [
        ("w", 7 * 86_400_000_000),
        ("d", 86_400_000_000),
        ("h", 3_600_000_000),
        ("m", 60_000_000),
    ] {
        if us % size == 0 {
            return format!("{}{unit}", us / size);
        }
    }
    format!("{}s", us / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("5m").unwrap(), 300_000_000);
        assert_eq!(parse_interval("1d").unwrap(), 86_400_000_000);
        assert!(parse_interval("0h").is_err());
        assert!(parse_interval("h").is_err());
        assert!(parse_interval("5y").is_err());
        // Any UTF-8, cut anywhere, is an error, never a panic (found by schemathesis).
        for odd in ["", "\u{80}", "5\u{e9}", "\u{1F600}m"] {
            assert!(parse_interval(odd).is_err(), "{odd:?}");
        }
        assert_eq!(interval_label(3_600_000_000), "1h");
        assert_eq!(interval_label(86_400_000_000 * 7), "1w");
        assert_eq!(auto_interval(7 * 86_400_000_000), 3 * 3_600_000_000);
        assert_eq!(auto_interval(3_600_000_000), 60_000_000);
    }
}

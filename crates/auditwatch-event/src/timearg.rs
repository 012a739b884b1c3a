//! Time arguments as people type them on the command line, in the UI and in API
//! queries: RFC 3339, `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]` (UTC, as the
//! CloudTrail-Tracker API takes them), or relative to now (`90m`, `24h`, `7d`, `2w`).
//!
//! Every time must fall in [`EARLIEST`, `LATEST`] (the years 1970 to 9999, UTC):
//! anything else, however it is written (`999999999999d`, `+200000-01-01`,
//! `0001-01-01`), is a [`TimeError::OutOfRange`], never an overflow. Callers put the
//! argument's name in front (`start: …`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// The earliest time accepted: 1970-01-01T00:00:00Z (µs since the epoch).
pub const EARLIEST: i64 = 0;
/// The latest time accepted: 9999-12-31T23:59:59.999999Z (µs since the epoch).
pub const LATEST: i64 = 253_402_300_799_999_999;

/// Why a time argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// None of the accepted forms.
    #[error(
        "{0:?} is not a time: use RFC 3339 (2024-05-01T12:00:00Z), a date (2024-05-01), a UTC date and time (2024-05-01T12:00:00) or a relative time (30m, 24h, 7d, 2w)"
    )]
    NotATime(String),
    /// A well-formed time outside the years 1970 to 9999.
    #[error("{0:?} is out of range: times must fall in the years 1970 to 9999 (UTC)")]
    OutOfRange(String),
}

/// The µs in one of a relative time's units: `s`, `m`, `h`, `d`, `w`.
pub fn unit_micros(unit: char) -> Option<i64> {
    Some(match unit {
        's' => 1_000_000,
        'm' => 60_000_000,
        'h' => 3_600_000_000,
        'd' => 86_400_000_000,
        'w' => 7 * 86_400_000_000,
        _ => return None,
    })
}

/// Parses a time argument to µs since the epoch. A bare date is its midnight (UTC);
/// `end_of_day` makes it the last µs of that day instead (for `--end`).
pub fn parse(s: &str, now: DateTime<Utc>, end_of_day: bool) -> Result<i64, TimeError> {
    let s = s.trim();
    let in_range = |us: Option<i64>| {
        us.filter(|us| (EARLIEST..=LATEST).contains(us))
            .ok_or_else(|| TimeError::OutOfRange(s.to_string()))
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return in_range(Some(t.with_timezone(&Utc).timestamp_micros()));
    }
    for form in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, form) {
            return in_range(Some(t.and_utc().timestamp_micros()));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let start = d
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_micros();
        let us = if end_of_day {
            start.checked_add(86_400_000_000 - 1)
        } else {
            Some(start)
        };
        return in_range(us);
    }
    if let Some(unit) = s.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        let unit_us = unit_micros(unit).ok_or_else(|| TimeError::NotATime(s.to_string()))?;
        let digits = &s[..s.len() - 1];
        let number = digits.strip_prefix(['-', '+']).unwrap_or(digits);
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TimeError::NotATime(s.to_string()));
        }
        // All digits: a number too large for i64 is out of range, not "not a time".
        let us = digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(unit_us))
            .and_then(|d| now.timestamp_micros().checked_sub(d));
        return in_range(us);
    }
    Err(TimeError::NotATime(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let now = DateTime::parse_from_rfc3339("2024-05-10T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let day = |s| DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros();
        assert_eq!(
            parse("2024-05-01", now, false),
            Ok(day("2024-05-01T00:00:00Z"))
        );
        assert_eq!(
            parse("2024-05-01", now, true),
            Ok(day("2024-05-02T00:00:00Z") - 1)
        );
        assert_eq!(parse("7d", now, false), Ok(day("2024-05-03T00:00:00Z")));
        assert_eq!(
            parse("2024-05-01T01:00:00+01:00", now, false),
            Ok(day("2024-05-01T00:00:00Z"))
        );
        assert!(
            parse("yesterday", now, false)
                .unwrap_err()
                .to_string()
                .contains("not a time")
        );
        assert!(parse("5y", now, false).is_err());
        assert_eq!(
            parse("2024-05-01T09:30:00", now, true),
            Ok(day("2024-05-01T09:30:00Z"))
        );
        assert_eq!(
            parse("2024-05-01T09:30", now, false),
            Ok(day("2024-05-01T09:30:00Z"))
        );
        assert_eq!(parse("-1d", now, false), Ok(day("2024-05-11T00:00:00Z")));
        assert_eq!(parse("1970-01-01", now, false), Ok(EARLIEST));
        assert_eq!(parse("9999-12-31", now, true), Ok(LATEST));
    }

    #[test]
    fn out_of_range_is_an_error_never_a_panic() {
        let now = Utc::now();
        for s in [
            "999999999999d",
            "99999999999999999999999d",
            "-999999999999w",
            "9223372036854775807s",
            "-9223372036854775808s",
            "153722867280912930m",
            "30000d",
            "-3000000d",
            "0001-01-01",
            "1969-12-31T23:59:59Z",
            "+200000-12-31",
            "-200000-01-01",
            "+200000-01-01T00:00:00",
        ] {
            let e = parse(s, now, false).unwrap_err();
            assert!(matches!(&e, TimeError::OutOfRange(x) if x == s), "{s}: {e}");
            assert!(e.to_string().contains("out of range"), "{s}: {e}");
            assert!(parse(s, now, true).is_err(), "{s}");
        }
        for s in ["d", "-d", "1.5d", "1 d", "+-1d", "١d", "10000-01-01"] {
            assert!(
                matches!(parse(s, now, false), Err(TimeError::NotATime(_))),
                "{s}"
            );
        }
    }
}

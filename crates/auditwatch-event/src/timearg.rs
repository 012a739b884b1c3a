//! Time arguments as people type them on the command line, in the UI and in API
//! queries: RFC 3339, `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]` (UTC, as the
//! CloudTrail-Tracker API takes them), or relative to now (`90m`, `24h`, `7d`, `2w`).

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};

/// Parses a time argument to µs since the epoch. A bare date is its midnight (UTC);
/// `end_of_day` makes it the last µs of that day instead (for `--end`).
pub fn parse(s: &str, now: DateTime<Utc>, end_of_day: bool) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc).timestamp_micros());
    }
    for form in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, form) {
            return Ok(t.and_utc().timestamp_micros());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let start = d
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_micros();
        return Ok(if end_of_day {
            start + 86_400_000_000 - 1
        } else {
            start
        });
    }
    if let Some(unit) = s.chars().last().filter(|c| c.is_ascii_alphabetic())
        && let Ok(n) = s[..s.len() - 1].parse::<i64>()
    {
        let d = match unit {
            's' => Duration::seconds(n),
            'm' => Duration::minutes(n),
            'h' => Duration::hours(n),
            'd' => Duration::days(n),
            'w' => Duration::weeks(n),
            _ => return Err(bad(s)),
        };
        return Ok((now - d).timestamp_micros());
    }
    Err(bad(s))
}

fn bad(s: &str) -> String {
    format!(
        "{s:?} is not a time: use RFC 3339 (2024-05-01T12:00:00Z), a date (2024-05-01), a UTC date and time (2024-05-01T12:00:00) or a relative time (30m, 24h, 7d, 2w)"
    )
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
    }
}

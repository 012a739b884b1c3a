//! CloudWatch metric filters and metric alarms, with CloudWatch's semantics and none
//! of its plumbing.
//!
//! - A [`MetricFilter`] turns a matching record into a datapoint: `1` (or another
//!   constant), or a number read from the record (`$.requestParameters.size`); a
//!   record whose field is not a number publishes nothing. Its default value is
//!   published for a period in which records arrived but none matched.
//! - [`Stats`] aggregates datapoints (count, sum, minimum, maximum), which is enough
//!   for the five statistics and merges exactly, so points can be kept per minute
//!   and rolled up to any period.
//! - [`evaluate`] decides a state from the last `evaluation_periods` values (oldest
//!   first) for an [`AlarmSpec`]: ALARM when at least `datapoints_to_alarm` breach.
//!   Missing periods follow `treat_missing_data`: `breaching` / `notBreaching` count
//!   them as such; `missing` uses the periods present and goes to INSUFFICIENT_DATA
//!   when none is; `ignore` uses the periods present and keeps the current state
//!   when none is.
//!
//! Times are event times, chosen by the caller: a late file adds to the period its
//! events happened in.

use std::fmt;

use serde_json::Value;

use crate::pattern::{Pattern, PatternError, Selector};

/// What a matching record publishes.
#[derive(Debug, Clone)]
pub enum MetricValue {
    /// A constant (CloudWatch's usual `1`).
    Constant(f64),
    /// The number at a selector of the record.
    Field(Selector),
}

impl MetricValue {
    /// `"1"`, `"2.5"` or `"$.requestParameters.size"`.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let t = text.trim();
        if t.starts_with('$') {
            return Selector::parse(t).map(Self::Field);
        }
        t.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Self::Constant)
            .ok_or_else(|| PatternError {
                column: 1,
                message: format!("metric value `{t}`: a number or a selector (`$.field`)"),
            })
    }
}

impl fmt::Display for MetricValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Constant(v) => write!(f, "{v}"),
            Self::Field(s) => write!(f, "{s}"),
        }
    }
}

/// A metric filter: a pattern and what a match publishes.
#[derive(Debug, Clone)]
pub struct MetricFilter {
    /// Which records count.
    pub pattern: Pattern,
    /// What each publishes.
    pub value: MetricValue,
    /// Published for a period with records but no match (`None`: nothing).
    pub default_value: Option<f64>,
}

impl MetricFilter {
    /// The datapoint `event` publishes, if it matches.
    pub fn value_of(&self, event: &Value) -> Option<f64> {
        if !self.pattern.matches(event) {
            return None;
        }
        match &self.value {
            MetricValue::Constant(v) => Some(*v),
            MetricValue::Field(s) => s.number(event),
        }
    }
}

/// Datapoints aggregated: enough for every statistic, and mergeable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// How many datapoints.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

impl Stats {
    /// One datapoint.
    pub fn of(v: f64) -> Self {
        Self {
            count: 1,
            sum: v,
            min: v,
            max: v,
        }
    }

    /// Both together.
    pub fn merge(self, o: Self) -> Self {
        Self {
            count: self.count + o.count,
            sum: self.sum + o.sum,
            min: self.min.min(o.min),
            max: self.max.max(o.max),
        }
    }

    /// The value of a statistic.
    pub fn get(&self, s: Statistic) -> f64 {
        match s {
            Statistic::Sum => self.sum,
            Statistic::SampleCount => self.count as f64,
            Statistic::Average => self.sum / self.count.max(1) as f64,
            Statistic::Minimum => self.min,
            Statistic::Maximum => self.max,
        }
    }
}

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $v:ident = $s:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vdoc])* $v),+ }
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &[Self] = &[$(Self::$v),+];
            /// CloudWatch's name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
            /// From CloudWatch's name (or a short alias).
            pub fn parse(text: &str) -> Result<Self, String> {
                match text.trim() {
                    $($s $(| $alias)* => Ok(Self::$v),)+
                    other => Err(format!(
                        "`{other}`: one of {}",
                        Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                    )),
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// How a period's datapoints become one value.
    Statistic {
        /// Total of the values (counts matches when each is 1).
        Sum = "Sum",
        /// Mean value.
        Average = "Average",
        /// Number of datapoints.
        SampleCount = "SampleCount",
        /// Smallest value.
        Minimum = "Minimum",
        /// Largest value.
        Maximum = "Maximum",
    }
);

named_enum!(
    /// How a value is compared with the threshold.
    Comparison {
        /// `>=`.
        GreaterOrEqual = "GreaterThanOrEqualToThreshold" | ">=",
        /// `>`.
        Greater = "GreaterThanThreshold" | ">",
        /// `<`.
        Less = "LessThanThreshold" | "<",
        /// `<=`.
        LessOrEqual = "LessThanOrEqualToThreshold" | "<=",
    }
);

named_enum!(
    /// What a period without data counts as.
    TreatMissing {
        /// Not used; INSUFFICIENT_DATA when no period has data (the default).
        Missing = "missing",
        /// Within the threshold.
        NotBreaching = "notBreaching",
        /// Beyond the threshold.
        Breaching = "breaching",
        /// Not used; the state stays when no period has data.
        Ignore = "ignore",
    }
);

named_enum!(
    /// An alarm's state.
    State {
        /// Within the threshold.
        Ok = "OK",
        /// Beyond the threshold.
        Alarm = "ALARM",
        /// Not enough data to decide.
        InsufficientData = "INSUFFICIENT_DATA",
    }
);

impl Comparison {
    fn symbol(self) -> &'static str {
        match self {
            Self::GreaterOrEqual => ">=",
            Self::Greater => ">",
            Self::Less => "<",
            Self::LessOrEqual => "<=",
        }
    }

    /// Whether `value` is beyond `threshold`.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::GreaterOrEqual => value >= threshold,
            Self::Greater => value > threshold,
            Self::Less => value < threshold,
            Self::LessOrEqual => value <= threshold,
        }
    }
}

/// Longest evaluation range, in periods.
pub const MAX_EVALUATION_PERIODS: u32 = 1440;

/// How an alarm judges its metric.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSpec {
    /// Seconds per period: a multiple of 60.
    pub period_secs: u32,
    /// How a period's datapoints become one value.
    pub statistic: Statistic,
    /// How the value is compared with the threshold.
    pub comparison: Comparison,
    /// The threshold.
    pub threshold: f64,
    /// How many recent periods are looked at (N).
    pub evaluation_periods: u32,
    /// How many of them must breach for ALARM (M).
    pub datapoints_to_alarm: u32,
    /// What a period without data counts as.
    pub treat_missing: TreatMissing,
}

impl AlarmSpec {
    /// The problem with these settings, naming the setting.
    pub fn check(&self) -> Result<(), String> {
        if self.period_secs < 60 || !self.period_secs.is_multiple_of(60) {
            return Err(format!(
                "period {}: a multiple of 60 seconds",
                self.period_secs
            ));
        }
        if !(1..=MAX_EVALUATION_PERIODS).contains(&self.evaluation_periods) {
            return Err(format!(
                "evaluation_periods {}: 1 to {MAX_EVALUATION_PERIODS}",
                self.evaluation_periods
            ));
        }
        if !(1..=self.evaluation_periods).contains(&self.datapoints_to_alarm) {
            return Err(format!(
                "datapoints_to_alarm {}: 1 to evaluation_periods ({})",
                self.datapoints_to_alarm, self.evaluation_periods
            ));
        }
        if !self.threshold.is_finite() {
            return Err("threshold: a finite number".into());
        }
        Ok(())
    }

    /// Warnings about settings that make an alarm silent or always firing — the kind
    /// of mistake that hides a secret read (Average of a count is always 1).
    pub fn lint(&self, value: &MetricValue) -> Vec<String> {
        let mut out = Vec::new();
        if let MetricValue::Constant(c) = value
            && matches!(
                self.statistic,
                Statistic::Average | Statistic::Minimum | Statistic::Maximum
            )
        {
            out.push(format!(
                "{} of a metric whose every datapoint is {c} is {c} whenever there is data; \
                 to count matches use Sum (or SampleCount)",
                self.statistic
            ));
        }
        out
    }

    /// The condition, e.g. `Sum >= 1 for 1 of 1 periods of 300 s`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} {} for {} of {} periods of {} s (missing data: {})",
            self.statistic,
            self.comparison.symbol(),
            self.threshold,
            self.datapoints_to_alarm,
            self.evaluation_periods,
            self.period_secs,
            self.treat_missing
        )
    }
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The state decided.
    pub state: State,
    /// Why, in words (values and periods).
    pub reason: String,
}

/// Decides the state from the last `evaluation_periods` periods, oldest first: each
/// a period start (seconds) and its statistic's value, if the period had data.
pub fn evaluate(spec: &AlarmSpec, window: &[(i64, Option<f64>)], current: State) -> Evaluation {
    let m = spec.datapoints_to_alarm as usize;
    let present: Vec<(i64, f64)> = window
        .iter()
        .filter_map(|(t, v)| v.map(|v| (*t, v)))
        .collect();
    let missing = window.len() - present.len();
    let breaching_present = present
        .iter()
        .filter(|(_, v)| spec.comparison.breaches(*v, spec.threshold))
        .count();
    let breaching = breaching_present
        + match spec.treat_missing {
            TreatMissing::Breaching => missing,
            _ => 0,
        };
    let shown = present
        .iter()
        .rev()
        .take(5)
        .map(|(t, v)| format!("{v} at {}", clock(*t)))
        .collect::<Vec<_>>()
        .join(", ");
    let condition = format!("{} {}", spec.comparison.symbol(), spec.threshold);
    if present.is_empty() {
        match spec.treat_missing {
            TreatMissing::Missing => {
                return Evaluation {
                    state: State::InsufficientData,
                    reason: format!("no data in the last {} periods", window.len()),
                };
            }
            TreatMissing::Ignore => {
                return Evaluation {
                    state: current,
                    reason: format!(
                        "no data in the last {} periods; state kept (ignore)",
                        window.len()
                    ),
                };
            }
            _ => {}
        }
    }
    let state = if breaching >= m {
        State::Alarm
    } else {
        State::Ok
    };
    let missing_note = if missing > 0 {
        format!(
            "; {missing} period{} without data ({})",
            if missing == 1 { "" } else { "s" },
            spec.treat_missing
        )
    } else {
        String::new()
    };
    Evaluation {
        state,
        reason: format!(
            "{breaching} of the last {} periods {} {condition} (ALARM needs {m}){missing_note}; \
             recent values: [{}]",
            window.len(),
            if breaching == 1 { "was" } else { "were" },
            shown
        ),
    }
}

fn clock(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(m: u32, n: u32, treat: TreatMissing) -> AlarmSpec {
        AlarmSpec {
            period_secs: 300,
            statistic: Statistic::Sum,
            comparison: Comparison::GreaterOrEqual,
            threshold: 1.0,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            treat_missing: treat,
        }
    }

    /// `X` breaching, `0` within the threshold, `-` missing.
    fn window(s: &str) -> Vec<(i64, Option<f64>)> {
        s.chars()
            .enumerate()
            .map(|(i, c)| {
                let v = match c {
                    'X' => Some(3.0),
                    '0' => Some(0.0),
                    _ => None,
                };
                (i as i64 * 300, v)
            })
            .collect()
    }

    #[test]
    fn missing_data_treatments() {
        use State::*;
        use TreatMissing::*;
        // (window, M of N, [missing, ignore, breaching, notBreaching]) from OK.
        let cases = [
            ("---", 3, [InsufficientData, Ok, Alarm, Ok]),
            ("0-X", 2, [Ok, Ok, Alarm, Ok]),
            ("X-X", 2, [Alarm, Alarm, Alarm, Alarm]),
            ("--0", 1, [Ok, Ok, Alarm, Ok]),
            ("-X-", 1, [Alarm, Alarm, Alarm, Alarm]),
            ("00X", 2, [Ok, Ok, Ok, Ok]),
            ("XX0", 2, [Alarm, Alarm, Alarm, Alarm]),
        ];
        for (w, m, expected) in cases {
            for (treat, want) in [Missing, Ignore, Breaching, NotBreaching]
                .into_iter()
                .zip(expected)
            {
                let got = evaluate(&spec(m, 3, treat), &window(w), Ok);
                assert_eq!(got.state, want, "{w} {m} of 3, {treat}: {}", got.reason);
            }
        }
        // `ignore` keeps whatever the state was.
        let kept = evaluate(&spec(1, 3, Ignore), &window("---"), Alarm);
        assert_eq!(kept.state, Alarm);
    }

    #[test]
    fn statistics_and_comparisons() {
        let s = [1.0, 4.0, 2.0]
            .map(Stats::of)
            .into_iter()
            .reduce(Stats::merge)
            .unwrap();
        assert_eq!(s.get(Statistic::Sum), 7.0);
        assert_eq!(s.get(Statistic::SampleCount), 3.0);
        assert!((s.get(Statistic::Average) - 7.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            (s.get(Statistic::Minimum), s.get(Statistic::Maximum)),
            (1.0, 4.0)
        );
        assert!(Comparison::GreaterOrEqual.breaches(1.0, 1.0));
        assert!(!Comparison::Greater.breaches(1.0, 1.0));
        assert!(Comparison::Less.breaches(0.5, 1.0));
        assert!(Comparison::LessOrEqual.breaches(1.0, 1.0));
        assert_eq!(
            Comparison::parse(">="),
            Ok(Comparison::GreaterOrEqual),
            "short alias"
        );
        assert!(Statistic::parse("Avg").unwrap_err().contains("Average"));
    }

    #[test]
    fn metric_values_and_the_average_trap() {
        let f = MetricFilter {
            pattern: Pattern::parse(r#"{ $.eventName = "PutObject" }"#).unwrap(),
            value: MetricValue::parse("$.additionalEventData.bytesTransferredIn").unwrap(),
            default_value: Some(0.0),
        };
        let ev = |name: &str, bytes: Value| serde_json::json!({"eventName": name, "additionalEventData": {"bytesTransferredIn": bytes}});
        assert_eq!(f.value_of(&ev("PutObject", 42.into())), Some(42.0));
        assert_eq!(f.value_of(&ev("PutObject", "7".into())), Some(7.0));
        assert_eq!(f.value_of(&ev("PutObject", "many".into())), None);
        assert_eq!(f.value_of(&ev("GetObject", 42.into())), None);
        assert!(MetricValue::parse("one").is_err());

        let mut s = spec(1, 1, TreatMissing::NotBreaching);
        assert!(s.lint(&MetricValue::Constant(1.0)).is_empty());
        s.statistic = Statistic::Average;
        assert!(s.lint(&MetricValue::Constant(1.0))[0].contains("use Sum"));
        s.datapoints_to_alarm = 2;
        assert!(s.check().unwrap_err().starts_with("datapoints_to_alarm 2"));
        s.datapoints_to_alarm = 1;
        s.period_secs = 90;
        assert!(s.check().unwrap_err().starts_with("period 90"));
    }

    #[test]
    fn reasons_name_values_and_times() {
        let e = evaluate(
            &spec(1, 1, TreatMissing::NotBreaching),
            &[(1_700_000_100, Some(2.0))],
            State::Ok,
        );
        assert_eq!(e.state, State::Alarm);
        assert!(
            e.reason.contains("2 at 2023-11-14T22:15:00Z"),
            "{}",
            e.reason
        );
    }
}
